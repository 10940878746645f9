/* client_handlers: client <-> metad requests (client_meta.proto), one handler per
 * message type in `client_table`, each run as the user auth.c validated. Reads are
 * answered from the leader's applied state, permission-checked here; mutations become
 * ops in the raft log carrying the user, permission-checked by the fsm at apply time,
 * and are answered from the fsm's result table once applied. A user without a home
 * gets /home/<user> (OP_MKHOME) before the first request runs. Alloc and GetFile sign
 * chunk capabilities when cluster.secret is set. Also owns the leader's chunk-id pool:
 * ids are handed out only from ranges whose OP_RESERVE_IDS entry has been applied, so a
 * restart never repeats one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "metad/admin_handlers.h"
#include "metad/auth.h"
#include "metad/handlers.h"
#include "metad/limits.h"
#include "metad/perm.h"
#include "metad/placement.h"
#include "metad/promises.h"
#include "metad/uploads.h"
#include "metad/raft_glue.h"

#define ALLOC_MAX_COUNT 256
#define MAX_REPLICAS 16
#define DEFAULT_REPLICAS 3
#define RESERVE_BATCH 65536
#define RESERVE_LOW 16384
#define GETFILE_MAX_CHUNKS 65536
/* The most chunks one CommitReq may carry (256 GiB; with grant and receipt a chunk takes
 * about 100 bytes of the 32 MiB payload, so ~300k is the wire's own bound) */
#define COMMIT_MAX_CHUNKS 262144
#define MSGSZ 512

struct md_alloc {
  md_alloc *next;
  char user[MD_USER_MAX + 1]; /* who asked: grants are signed for this user */
  dfs_conn *conn; /* reference held */
  dfs_frame_hdr hdr;
  uint32_t count, replicas;
  uint64_t *exclude; /* owned */
  size_t nexclude;
  uint64_t upload_id; /* AllocReq.upload_id (uploads.h); 0 = none */
};

/* Every reply message starts with `Status status = 1`, so a MkdirRep holding only a
 * Status is byte-for-byte a valid reply of any type. */
void md_reply_status(dfs_conn *c, const dfs_frame_hdr *hdr, int err, const char *msg) {
  Dfs__Status st = DFS__STATUS__INIT;
  st.error = err;
  st.message = (char *)(msg && *msg ? msg : (err ? dfs_strerror(err) : ""));
  Dfs__MkdirRep rep = DFS__MKDIR_REP__INIT;
  rep.status = &st;
  dfs_conn_reply(c, hdr, &rep.base, NULL, 0, NULL, NULL);
}

static int check_path(const char *path, char *msg, size_t msgsz) {
  return ns_check_path(path, msg, msgsz);
}

/* OPF_ADMIN for administrators (the anonymous user "" needs no flag: "" is super). */
static uint8_t user_flag(const md_user *u) { return u->is_admin ? OPF_ADMIN : 0; }

/* ---- mutations ---- */

/* (chunk, server) pairs that chunkservers signed for in a commit's receipts: they become
 * locations once the commit is applied. */
typedef struct {
  size_t n;
  struct commit_loc { uint64_t chunk, server; } v[];
} commit_locs;

static void reply_rid_reused(dfs_conn *c, const dfs_frame_hdr *hdr, uint64_t rid) {
  char msg[MSGSZ];
  snprintf(msg, sizeof msg,
           "request id %llu was already used for a different request (a retry must repeat "
           "the same request as the same user); send it with a new request id",
           (unsigned long long)rid);
  md_reply_status(c, hdr, DFS_EINVAL, msg);
}

static void mutation_done(metad *md, md_waiter *w, int status) {
  char msg[MSGSZ];
  if (status == DFS_ENOTLEADER) {
    rg_check_leader(md, msg, sizeof msg);
    md_reply_status(w->conn, &w->hdr, DFS_ENOTLEADER, msg);
  } else if (status) {
    md_reply_status(w->conn, &w->hdr, DFS_EUNAVAIL,
                    "unknown outcome (metad leadership changed); retry with the same request");
  } else {
    const fsm_result *r = fsm_result_get(md->fsm, w->rid);
    if (!r) {
      md_reply_status(w->conn, &w->hdr, DFS_EINTERNAL, "the result of this request was forgotten");
    } else if (w->digest && !fsm_result_matches(r, w->digest)) {
      reply_rid_reused(w->conn, &w->hdr, w->rid);
    } else {
      if (r->err == 0 && w->hdr.type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMMIT && w->ud) {
        /* the chunkservers' receipts (checked in h_commit) become soft locations */
        const commit_locs *cl = w->ud;
        for (size_t i = 0; i < cl->n; i++) {
          if (servers_get(&md->fsm->servers, cl->v[i].server))
            chunks_add_loc(&md->fsm->chunks, cl->v[i].chunk, cl->v[i].server);
          limits_alloc_done(md->limits, cl->v[i].chunk);
        }
      }
      if (r->err == 0 && w->hdr.type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY) {
        Dfs__Status st = DFS__STATUS__INIT;
        st.message = "";
        Dfs__CopyRep rep = DFS__COPY_REP__INIT;
        rep.status = &st;
        rep.files = r->val;
        rep.bytes = r->val2;
        dfs_conn_reply(w->conn, &w->hdr, &rep.base, NULL, 0, NULL, NULL);
      } else if (r->err == 0 && w->hdr.type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_SETREP) {
        Dfs__Status st = DFS__STATUS__INIT;
        st.message = "";
        Dfs__SetrepRep rep = DFS__SETREP_REP__INIT;
        rep.status = &st;
        rep.files = r->val;
        dfs_conn_reply(w->conn, &w->hdr, &rep.base, NULL, 0, NULL, NULL);
      } else {
        md_reply_status(w->conn, &w->hdr, r->err, r->msg);
      }
    }
  }
  md_waiter_free(w);
}

/* Submits op for request hdr on c. ud (with ud_free) is handed to the waiter. */
static void submit_mutation(metad *md, dfs_conn *c, const dfs_frame_hdr *hdr, ops_op *op,
                            const ops_chunk *chunks, void *ud, void (*ud_free)(void *)) {
  if (!op->rid) op->rid = rg_new_rid(); /* no idempotency without a client request id */
  md_waiter *w = md_waiter_new(c, hdr, op->rid, mutation_done);
  if (!w || !(w->digest = ops_digest_encoded(op, chunks))) {
    if (ud_free) ud_free(ud);
    md_waiter_free(w);
    md_reply_status(c, hdr, DFS_ENOMEM, "metad is out of memory");
    return;
  }
  w->ud = ud;
  w->ud_free = ud_free;
  if (fsm_result_get(md->fsm, op->rid)) { /* a retry of an applied request, or a replay of
                                             its id with another body (mutation_done) */
    mutation_done(md, w, 0);
    return;
  }
  int rc = rg_submit(md, op, chunks, w);
  if (rc) mutation_done(md, w, rc == DFS_ENOTLEADER ? DFS_ENOTLEADER : DFS_EUNAVAIL);
}

/* The shared tail of the namespace mutations below. rc/msg: the handler's own checks of
 * the request (0 = fine), reported after a bad path, as before. Checks op->path (and
 * op->path2 when check_path2), then leadership; replies the first error, or stamps op with
 * the acting user, the clock (unless the caller set it) and the admin bit and submits it.
 * The caller fills type, rid, paths and the op's own fields; strings must stay valid
 * until this returns (submit_mutation encodes them). */
static void submit_ns_op(metad *md, dfs_conn *c, const dfs_frame_hdr *hdr, const md_user *u,
                         int rc, char *msg, ops_op *op, int check_path2) {
  int prc = check_path(op->path, msg, MSGSZ);
  if (!prc && check_path2) prc = check_path(op->path2, msg, MSGSZ);
  if (prc) rc = prc;
  if (!rc) rc = rg_check_leader(md, msg, MSGSZ);
  if (rc) {
    md_reply_status(c, hdr, rc, msg);
    return;
  }
  op->str = u->name;
  if (!op->mtime_ns) op->mtime_ns = dfs_wall_ns();
  op->flag = (uint8_t)(op->flag | user_flag(u));
  submit_mutation(md, c, hdr, op, NULL, NULL, NULL);
}

static void h_mkdir(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__MkdirReq *rq = dfs__mkdir_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode MkdirReq");
    return;
  }
  ops_op op = {0};
  op.type = OP_MKDIR;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.mode = rq->mode ? (rq->mode & 0777) : 0755;
  op.flag = rq->parents ? OPF_MAIN : 0;
  submit_ns_op(md, c, &m->hdr, u, 0, msg, &op, 0);
  dfs__mkdir_req__free_unpacked(rq, NULL);
}

static void h_delete(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__DeleteReq *rq = dfs__delete_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode DeleteReq");
    return;
  }
  int rc = 0;
  if (!strcmp(rq->path, "/")) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "/ cannot be deleted");
  }
  ops_op op = {0};
  op.type = rq->trash ? OP_TRASH : OP_DELETE;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.path2 = "";
  op.mtime_ns = dfs_wall_ns();
  op.a = (uint64_t)(op.mtime_ns + md->trash_retention_ms * 1000000);
  op.flag = rq->recursive ? OPF_MAIN : 0;
  submit_ns_op(md, c, &m->hdr, u, rc, msg, &op, 0);
  dfs__delete_req__free_unpacked(rq, NULL);
}

/* Everything about a commit that can be known before it enters the log (apply checks
 * again against the state of its time): sizes, ids, versions, duplicates, the commit
 * grant of every new chunk (allocated to this user), the chunkservers' receipt of every
 * new chunk (their signed word that it is stored, on which servers), retired ids, the
 * path and the permissions. Fills *locs with the receipts' (chunk, server) pairs (owned
 * by the caller). 0, or an error with one line in msg. */
static int commit_validate(metad *md, const md_user *u, const Dfs__CommitReq *rq,
                           commit_locs **locs, char *msg) {
  int rc = check_path(rq->path, msg, MSGSZ);
  if (rc) return rc;
  if (rq->replicas > MAX_REPLICAS) {
    snprintf(msg, MSGSZ, "replicas must be 1..%d, not %u", MAX_REPLICAS, rq->replicas);
    return DFS_EINVAL;
  }
  size_t nloc = 0;
  for (size_t i = 0; i < rq->n_chunks; i++) {
    if (!rq->chunks[i]) {
      snprintf(msg, MSGSZ, "chunk %zu is missing", i);
      return DFS_EPROTO;
    }
    if (rq->chunks[i]->n_servers > DFS_RECEIPT_MAX_SERVERS) {
      snprintf(msg, MSGSZ, "chunk %zu names %zu servers: at most %d", i,
               rq->chunks[i]->n_servers, DFS_RECEIPT_MAX_SERVERS);
      return DFS_EINVAL;
    }
    if (!rq->chunks[i]->reuse) nloc += rq->chunks[i]->n_servers;
  }
  commit_locs *cl = malloc(sizeof *cl + nloc * sizeof cl->v[0]);
  if (!cl) {
    snprintf(msg, MSGSZ, "metad is out of memory");
    return DFS_ENOMEM;
  }
  cl->n = 0;
  *locs = cl;
  u64map seen;
  u64map_init(&seen);
  uint64_t total = 0;
  int64_t now_ms = dfs_wall_ns() / 1000000;
  for (size_t i = 0; i < rq->n_chunks && !rc; i++) {
    const Dfs__ChunkInfo *ci = rq->chunks[i];
    int last = i + 1 == rq->n_chunks;
    const char *why = NULL;
    if (ci->length == 0 || ci->length > DFS_CHUNK_SIZE || (!last && ci->length != DFS_CHUNK_SIZE)) {
      snprintf(msg, MSGSZ, "chunk %zu has length %u: every chunk but the last must be %u bytes, the last 1..%u",
               i, ci->length, DFS_CHUNK_SIZE, DFS_CHUNK_SIZE);
      rc = DFS_EINVAL;
    } else if (ci->chunk_id == 0 || ci->chunk_id > md->fsm->ids_reserved) {
      snprintf(msg, MSGSZ, "chunk id %llu was never allocated", (unsigned long long)ci->chunk_id);
      rc = DFS_EINVAL;
    } else if (ci->version == 0) {
      snprintf(msg, MSGSZ, "chunk %llu has version 0", (unsigned long long)ci->chunk_id);
      rc = DFS_EINVAL;
    } else if (u64map_get(&seen, ci->chunk_id, NULL)) {
      snprintf(msg, MSGSZ, "chunk id %llu appears twice", (unsigned long long)ci->chunk_id);
      rc = DFS_EINVAL;
    } else if (u64map_put(&seen, ci->chunk_id, 1)) {
      snprintf(msg, MSGSZ, "metad is out of memory");
      rc = DFS_ENOMEM;
    } else if (ci->reuse) {
      /* a chunk of the file being replaced: apply checks it against that file */
    } else if (fsm_is_retired(md->fsm, ci->chunk_id)) {
      snprintf(msg, MSGSZ, "chunk id %llu belonged to a deleted file or was collected as "
               "garbage (an upload idle for longer than gc.orphan_grace) and cannot be used "
               "again: upload the file again", (unsigned long long)ci->chunk_id);
      rc = DFS_EEXIST;
    } else if (chunks_get(&md->fsm->chunks, ci->chunk_id)) {
      snprintf(msg, MSGSZ, "chunk id %llu is already part of a file",
               (unsigned long long)ci->chunk_id);
      rc = DFS_EEXIST;
    } else if (md->have_caps &&
               dfs_grant_check(md->cap_key, ci->grant.data, ci->grant.len, ci->chunk_id,
                               ci->version, u->name, now_ms, &why)) {
      snprintf(msg, MSGSZ, "chunk %llu: %s", (unsigned long long)ci->chunk_id, why);
      rc = DFS_EPERM;
    } else if (md->have_caps &&
               dfs_receipt_check(md->cap_key, ci->receipt.data, ci->receipt.len, ci->chunk_id,
                                 ci->version, ci->length, ci->crc32c, ci->servers,
                                 ci->n_servers)) {
      snprintf(msg, MSGSZ,
               "chunk %llu: no valid chunkserver receipt for it (write it to the chunkservers "
               "first and send their WriteChunk receipt with the same servers, length and crc)",
               (unsigned long long)ci->chunk_id);
      rc = DFS_EPERM;
    } else { /* with a secret: signed by chunkservers; without: insecure mode, as told */
      for (size_t k = 0; k < ci->n_servers; k++)
        cl->v[cl->n++] = (struct commit_loc){ci->chunk_id, ci->servers[k]};
    }
    total += ci->length;
  }
  u64map_free(&seen);
  if (!rc && total != rq->size) {
    snprintf(msg, MSGSZ, "size %llu does not match the chunks' total length %llu",
             (unsigned long long)rq->size, (unsigned long long)total);
    rc = DFS_EINVAL;
  }
  if (!rc) { /* permissions as the namespace stands now (apply checks them again) */
    ns_inode *dir, *old;
    rc = perm_lookup_parent(md->fsm->ns, rq->path, u->name, u->is_admin, PERM_W | PERM_X, &dir,
                            &old, msg, MSGSZ);
    if (rc == DFS_EINVAL) {
      snprintf(msg, MSGSZ, "/ is a directory");
      rc = DFS_EISDIR;
    } else if (!rc && old && !old->is_dir && rq->overwrite &&
               perm_check(u->name, u->is_admin, old, PERM_W)) {
      perm_denied_msg(msg, MSGSZ, rq->path, strlen(rq->path), old);
      rc = DFS_EPERM;
    } else if (!rc) { /* quota of the file's owner (a replaced file keeps its owner) */
      int replace = old && !old->is_dir;
      uint64_t old_size = replace ? old->u.file.size : 0;
      rc = fsm_quota_check(md->fsm, replace ? (old->owner ? old->owner : "") : u->name,
                           replace ? 0 : 1, rq->size > old_size ? rq->size - old_size : 0,
                           msg, MSGSZ);
    }
  }
  return rc;
}

/* How many times top-level field `field` occurs in protobuf bytes p (len), or SIZE_MAX if
 * they are malformed. A walk over the tags only: it bounds what decoding would cost
 * before protobuf-c allocates a message per entry. */
static size_t count_field(const uint8_t *p, size_t len, uint32_t field) {
  size_t n = 0, i = 0;
  while (i < len) {
    uint64_t key = 0, v = 0;
    for (int sh = 0;; sh += 7) {
      if (i >= len || sh > 63) return SIZE_MAX;
      key |= (uint64_t)(p[i] & 0x7f) << sh;
      if (!(p[i++] & 0x80)) break;
    }
    switch (key & 7) {
    case 0:
      while (i < len && (p[i] & 0x80)) i++;
      if (i++ >= len) return SIZE_MAX;
      break;
    case 1: i += 8; break;
    case 5: i += 4; break;
    case 2:
      for (int sh = 0;; sh += 7) {
        if (i >= len || sh > 63) return SIZE_MAX;
        v |= (uint64_t)(p[i] & 0x7f) << sh;
        if (!(p[i++] & 0x80)) break;
      }
      if (v > len - i) return SIZE_MAX;
      i += v;
      break;
    default: return SIZE_MAX;
    }
    if (i > len) return SIZE_MAX;
    if (key >> 3 == field) n++;
  }
  return n;
}

static void h_commit(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  size_t nchunks = count_field(m->payload, m->hdr.payload_len, 8);
  if (nchunks > COMMIT_MAX_CHUNKS) {
    if (nchunks == SIZE_MAX) {
      dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode CommitReq");
    } else {
      snprintf(msg, sizeof msg, "a commit may name at most %d chunks (%d GiB), not %zu",
               COMMIT_MAX_CHUNKS, COMMIT_MAX_CHUNKS / 1024, nchunks);
      md_reply_status(c, &m->hdr, DFS_EINVAL, msg);
    }
    return;
  }
  Dfs__CommitReq *rq = dfs__commit_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode CommitReq");
    return;
  }
  commit_locs *locs = NULL;
  ops_chunk *chunks = NULL;
  int rc = rg_check_leader(md, msg, sizeof msg);
  /* a request id with a recorded result is a retry (answered as before) or a replay
   * with another body (refused): submit_mutation tells which; nothing is validated again
   * against a state the first attempt already changed */
  int retry = rq->request_id && fsm_result_get(md->fsm, rq->request_id);
  if (!rc && !retry) rc = commit_validate(md, u, rq, &locs, msg);
  if (!rc && rq->n_chunks && !(chunks = malloc(rq->n_chunks * sizeof *chunks))) {
    rc = DFS_ENOMEM;
    snprintf(msg, sizeof msg, "metad is out of memory");
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    free(locs);
    dfs__commit_req__free_unpacked(rq, NULL);
    return;
  }
  for (size_t i = 0; i < rq->n_chunks; i++) {
    chunks[i].id = rq->chunks[i]->chunk_id;
    chunks[i].version = rq->chunks[i]->version;
    chunks[i].length = rq->chunks[i]->length;
    chunks[i].crc32c = rq->chunks[i]->crc32c;
    chunks[i].crc64 = rq->chunks[i]->crc64;
    chunks[i].reuse = rq->chunks[i]->reuse ? 1 : 0;
  }
  ops_op op = {0};
  op.type = OP_COMMIT2;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.str = u->name;
  op.mtime_ns = dfs_wall_ns();
  op.mode = rq->mode ? (rq->mode & 0777) : 0644;
  op.flag = (uint8_t)((rq->overwrite ? OPF_MAIN : 0) | user_flag(u));
  op.size = rq->size;
  op.replicas = rq->replicas ? rq->replicas : DEFAULT_REPLICAS;
  op.nchunks = (uint32_t)rq->n_chunks;
  submit_mutation(md, c, &m->hdr, &op, chunks, locs, free);
  free(chunks);
  dfs__commit_req__free_unpacked(rq, NULL);
}

static void h_chmod(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__ChmodReq *rq = dfs__chmod_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode ChmodReq");
    return;
  }
  int rc = 0;
  if (rq->mode > 0777) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "mode %o is out of range 0..0777", rq->mode);
  }
  ops_op op = {0};
  op.type = OP_CHMOD;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.mode = rq->mode;
  submit_ns_op(md, c, &m->hdr, u, rc, msg, &op, 0);
  dfs__chmod_req__free_unpacked(rq, NULL);
}

/* ---- reads ---- */

static void fill_entry(Dfs__Entry *e, const ns_inode *n) {
  e->name = n->parent ? n->name : "/";
  e->type = n->is_dir ? DFS__ENTRY_TYPE__ENTRY_DIR : DFS__ENTRY_TYPE__ENTRY_FILE;
  e->size = n->is_dir ? n->u.dir.count : n->u.file.size;
  e->mtime_ns = n->mtime_ns;
  e->mode = n->mode;
  e->owner = n->owner ? n->owner : "";
  e->replicas = n->is_dir ? 0 : n->replicas;
  e->chunks = n->is_dir ? 0 : n->u.file.nchunks;
  e->inode = n->ino;
}

/* Common start of a read: leader check and path lookup with x on every directory on
 * the way (what stat needs; list and getfile then also need r on the inode). */
static int read_lookup(metad *md, const md_user *u, const char *path, ns_inode **n,
                       char *msg, size_t msgsz) {
  int rc = check_path(path, msg, msgsz);
  if (!rc) rc = rg_check_leader(md, msg, msgsz);
  if (!rc) rc = perm_lookup(md->fsm->ns, path, u->name, u->is_admin, n, msg, msgsz);
  return rc;
}

static int cmp_entry_name(const void *a, const void *b) {
  const Dfs__Entry *x = *(Dfs__Entry *const *)a, *y = *(Dfs__Entry *const *)b;
  return strcmp(x->name, y->name);
}

static void h_list(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__ListReq *rq = dfs__list_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode ListReq");
    return;
  }
  ns_inode *n;
  int rc = read_lookup(md, u, rq->path, &n, msg, sizeof msg);
  if (!rc && n->is_dir && perm_check(u->name, u->is_admin, n, PERM_R)) {
    perm_denied_msg(msg, sizeof msg, rq->path, strlen(rq->path), n);
    rc = DFS_EPERM;
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    goto out;
  }
  size_t cnt = n->is_dir ? n->u.dir.count : 1;
  Dfs__Entry *ents = calloc(cnt ? cnt : 1, sizeof *ents);
  Dfs__Entry **ptrs = calloc(cnt ? cnt : 1, sizeof *ptrs);
  if (!ents || !ptrs) {
    free(ents);
    free(ptrs);
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
    goto out;
  }
  if (n->is_dir) {
    uint32_t pos = 0;
    size_t i = 0;
    for (ns_inode *ch; (ch = ns_dir_next(n, &pos)) && i < cnt; i++) {
      dfs__entry__init(&ents[i]);
      fill_entry(&ents[i], ch);
      ptrs[i] = &ents[i];
    }
    qsort(ptrs, cnt, sizeof *ptrs, cmp_entry_name);
  } else {
    dfs__entry__init(&ents[0]);
    fill_entry(&ents[0], n);
    ptrs[0] = &ents[0];
  }
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__ListRep rep = DFS__LIST_REP__INIT;
  rep.status = &st;
  rep.n_entries = cnt;
  rep.entries = ptrs;
  if (protobuf_c_message_get_packed_size(&rep.base) > DFS_MAX_PAYLOAD - 1024) {
    snprintf(msg, sizeof msg, "%s has %zu entries: too many to list in one reply", rq->path,
             cnt);
    md_reply_status(c, &m->hdr, DFS_ETOOBIG, msg);
  } else {
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  free(ents);
  free(ptrs);
out:
  dfs__list_req__free_unpacked(rq, NULL);
}

static void h_stat(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__StatReq *rq = dfs__stat_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode StatReq");
    return;
  }
  ns_inode *n;
  int rc = read_lookup(md, u, rq->path, &n, msg, sizeof msg);
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
  } else {
    Dfs__Entry e = DFS__ENTRY__INIT;
    fill_entry(&e, n);
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__StatRep rep = DFS__STAT_REP__INIT;
    rep.status = &st;
    rep.entry = &e;
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  dfs__stat_req__free_unpacked(rq, NULL);
}

/* Wall-clock expiry (ms) of a capability signed now. */
static int64_t cap_expiry(const metad *md) {
  return dfs_wall_ns() / 1000000 + md->caps_ttl_ms;
}

static void fill_addr(Dfs__ServerAddr *a, const server_ent *e) {
  dfs__server_addr__init(a);
  a->server_id = e->id;
  a->host = (char *)e->host;
  a->port = e->port;
}

/* Live locations of chunk ce, least loaded first. Writes up to max ids. */
static size_t live_locations(metad *md, const chunk_ent *ce, const server_ent **out,
                             size_t max) {
  size_t n = 0;
  for (uint8_t k = 0; k < ce->nlocs && n < max; k++) {
    const server_ent *s = servers_get(&md->fsm->servers, chunk_locs(ce)[k]);
    if (!s || !s->alive) continue;
    size_t j = n++;
    while (j > 0 && out[j - 1]->load > s->load) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = s;
  }
  return n;
}

static void h_getfile(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__GetFileReq *rq = dfs__get_file_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode GetFileReq");
    return;
  }
  ns_inode *n;
  Dfs__ChunkLocation *locs = NULL, **lptrs = NULL;
  Dfs__ServerAddr *addrs = NULL, **aptrs = NULL;
  uint8_t (*caps)[DFS_CAP_READ_LEN] = NULL;
  int rc = read_lookup(md, u, rq->path, &n, msg, sizeof msg);
  if (!rc && n->is_dir) {
    rc = DFS_EISDIR;
    snprintf(msg, sizeof msg, "%s is a directory", rq->path);
  }
  if (!rc && perm_check(u->name, u->is_admin, n, PERM_R)) {
    perm_denied_msg(msg, sizeof msg, rq->path, strlen(rq->path), n);
    rc = DFS_EPERM;
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    goto out;
  }
  uint64_t first = rq->first_chunk, total = n->u.file.nchunks;
  uint64_t cnt = first < total ? total - first : 0;
  uint64_t maxc = rq->max_chunks && rq->max_chunks < GETFILE_MAX_CHUNKS ? rq->max_chunks
                                                                      : GETFILE_MAX_CHUNKS;
  if (cnt > maxc) cnt = maxc;
  size_t naddr = 0;
  for (uint64_t i = 0; i < cnt; i++) {
    const chunk_ent *ce = chunks_get(&md->fsm->chunks, ns_file_chunks(n)[first + i]);
    if (ce) naddr += ce->nlocs;
  }
  locs = calloc(cnt ? cnt : 1, sizeof *locs);
  lptrs = calloc(cnt ? cnt : 1, sizeof *lptrs);
  addrs = calloc(naddr ? naddr : 1, sizeof *addrs);
  aptrs = calloc(naddr ? naddr : 1, sizeof *aptrs);
  if (md->have_caps) caps = calloc(naddr ? naddr : 1, sizeof *caps); /* one per replica */
  if (!locs || !lptrs || !addrs || !aptrs || (md->have_caps && !caps)) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
    goto out;
  }
  size_t ai = 0;
  for (uint64_t i = 0; i < cnt; i++) {
    Dfs__ChunkLocation *l = &locs[i];
    dfs__chunk_location__init(l);
    lptrs[i] = l;
    l->index = first + i;
    l->chunk_id = ns_file_chunks(n)[first + i];
    chunk_ent *ce = chunks_get(&md->fsm->chunks, l->chunk_id);
    if (!ce) continue; /* cannot happen (fsm invariant 1); reply it without replicas */
    l->version = ce->version;
    l->length = ce->length;
    l->crc32c = ce->crc32c;
    l->crc64 = ce->crc64;
    l->goal = ce->goal;
    l->all_replicas = ce->nlocs;
    const server_ent *live[255];
    size_t nl = live_locations(md, ce, live, 255);
    if (!nl && rg_reregistering(md, msg, sizeof msg)) { /* locations are soft state */
      md_reply_status(c, &m->hdr, DFS_EUNAVAIL, msg);
      goto out;
    }
    l->replicas = &aptrs[ai];
    for (size_t k = 0; k < nl && ai < naddr; k++) {
      fill_addr(&addrs[ai], live[k]);
      if (caps) { /* valid on this replica's server only, for the whole chunk */
        dfs_cap_sign_read(md->cap_key, l->chunk_id, l->version, live[k]->id, 0, l->length,
                          cap_expiry(md), caps[ai]);
        addrs[ai].capability.data = caps[ai];
        addrs[ai].capability.len = DFS_CAP_READ_LEN;
      }
      aptrs[ai] = &addrs[ai];
      ai++;
    }
    l->n_replicas = (size_t)(&aptrs[ai] - l->replicas);
  }
  Dfs__Entry e = DFS__ENTRY__INIT;
  fill_entry(&e, n);
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__GetFileRep rep = DFS__GET_FILE_REP__INIT;
  rep.status = &st;
  rep.entry = &e;
  rep.n_chunks = cnt;
  rep.chunks = lptrs;
  dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
out:
  free(caps);
  free(locs);
  free(lptrs);
  free(addrs);
  free(aptrs);
  dfs__get_file_req__free_unpacked(rq, NULL);
}

/* Copies src into out (outsz bytes) with every byte outside printable ASCII written as
 * \xHH, so a client's text cannot forge log lines or terminal escapes. */
static void log_safe(char *out, size_t outsz, const char *src) {
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)src; *p && o + 5 < outsz; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '\\') out[o++] = (char)*p;
    else o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", *p);
  }
  out[o] = 0;
}

/* A reader could not read a replica. Only a reader entitled to a file holding the chunk
 * may say so, at a bounded rate, and metad does not take its word: the chunkserver is
 * asked to verify its copy (a corrupt one is quarantined and reported by chunkd itself,
 * which is what drops the location). */
static void h_bad_replica(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__BadReplicaReq *rq = dfs__bad_replica_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode BadReplicaReq");
    return;
  }
  ns_inode *n = NULL;
  chunk_ent *ce = NULL;
  server_ent *se = NULL;
  double retry_s = 0;
  int rc = 0;
  if (!*rq->path) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "a bad replica report must name the file being read (path)");
  }
  if (!rc) rc = read_lookup(md, u, rq->path, &n, msg, sizeof msg);
  if (!rc && (n->is_dir || perm_check(u->name, u->is_admin, n, PERM_R))) {
    rc = n->is_dir ? DFS_EISDIR : DFS_EPERM;
    if (n->is_dir) snprintf(msg, sizeof msg, "%s is a directory", rq->path);
    else perm_denied_msg(msg, sizeof msg, rq->path, strlen(rq->path), n);
  }
  if (!rc) {
    int holds = 0;
    for (uint32_t i = 0; i < n->u.file.nchunks && !holds; i++)
      holds = ns_file_chunks(n)[i] == rq->chunk_id;
    ce = holds ? chunks_get(&md->fsm->chunks, rq->chunk_id) : NULL;
    if (!ce) {
      rc = DFS_ENOENT;
      snprintf(msg, sizeof msg, "chunk %llu is not part of %s", (unsigned long long)rq->chunk_id,
               rq->path);
    }
  }
  if (!rc) {
    int located = 0;
    for (uint8_t k = 0; k < ce->nlocs; k++) located |= chunk_locs(ce)[k] == rq->server_id;
    if (!located || !(se = servers_get(&md->fsm->servers, rq->server_id))) {
      rc = DFS_ENOENT;
      snprintf(msg, sizeof msg, "chunkserver %llu holds no replica of chunk %llu",
               (unsigned long long)rq->server_id, (unsigned long long)rq->chunk_id);
    }
  }
  if (!rc && !limits_take(md->limits, u->name, LIMITS_BAD_REPLICA, 1,
                          (double)md->bad_reports_per_min,
                          (double)md->bad_reports_per_min / 60.0, dfs_now_ms(), &retry_s)) {
    rc = DFS_EBUSY;
    snprintf(msg, sizeof msg, "too many bad replica reports (at most %lld a minute); retry in %.0f s",
             (long long)md->bad_reports_per_min, retry_s < 1 ? 1 : retry_s);
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
  } else {
    char reason[256];
    log_safe(reason, sizeof reason, rq->reason ? rq->reason : "");
    LOG_WARN("user %s (%s) could not read chunk %llu of %s on server %llu: %s; asking the "
             "server to verify it", *u->name ? u->name : "(anonymous)", dfs_conn_peer(c),
             (unsigned long long)rq->chunk_id, rq->path, (unsigned long long)rq->server_id,
             reason);
    servers_queue_verify(se, rq->chunk_id);
    md_reply_status(c, &m->hdr, 0, NULL);
  }
  dfs__bad_replica_req__free_unpacked(rq, NULL);
}

/* ---- Alloc and the chunk-id pool ---- */

static void reserve_ids(metad *md);

static void alloc_free(md_alloc *a) {
  dfs_conn_unref(a->conn);
  free(a->exclude);
  free(a);
}

/* Answers a (the pool holds at least a->count ids). */
static void alloc_answer(metad *md, md_alloc *a) {
  servers_t *sv = &md->fsm->servers;
  size_t live = 0, nc = 0;
  placement_cand *cands = calloc(sv->n ? sv->n : 1, sizeof *cands);
  Dfs__ChunkAlloc *ca = calloc(a->count, sizeof *ca);
  Dfs__ChunkAlloc **cp = calloc(a->count, sizeof *cp);
  Dfs__ServerAddr *ad = calloc((size_t)a->count * a->replicas, sizeof *ad);
  Dfs__ServerAddr **ap = calloc((size_t)a->count * a->replicas, sizeof *ap);
  uint64_t *chain = calloc(a->replicas, sizeof *chain);
  uint8_t (*caps)[DFS_CAP_WRITE_MAX] = md->have_caps ? calloc(a->count, sizeof *caps) : NULL;
  uint8_t (*grants)[DFS_GRANT_LEN] = md->have_caps ? calloc(a->count, sizeof *grants) : NULL;
  if (!cands || !ca || !cp || !ad || !ap || !chain || (md->have_caps && (!caps || !grants))) {
    md_reply_status(a->conn, &a->hdr, DFS_ENOMEM, "metad is out of memory");
    goto out;
  }
  size_t draining = 0, dead = 0;
  for (size_t i = 0; i < sv->n; i++) {
    const server_ent *e = &sv->v[i];
    dead += e->registered && !e->alive;
    if (!e->alive) continue;
    live++;
    draining += e->draining != 0;
    /* full by its own report, or draining; promised space only ranks (promises.h) */
    if (!servers_placeable(e)) continue;
    cands[nc].id = e->id;
    cands[nc].free_bytes = servers_effective_free(e);
    cands[nc].load = e->load;
    nc++;
  }
  if (!live) {
    char msg[MSGSZ];
    if (rg_reregistering(md, msg, sizeof msg))
      md_reply_status(a->conn, &a->hdr, DFS_EUNAVAIL, msg);
    else
      md_reply_status(a->conn, &a->hdr, DFS_ENOSERVERS,
                      "no live chunkservers (start chunkd, or wait for one to register)");
    goto out;
  }
  if (!nc) {
    char msg[MSGSZ];
    snprintf(msg, sizeof msg,
             "no space left in the cluster: %zu chunkserver(s) full, %zu draining (failing "
             "disk), %zu dead; free space (dfs rm, dfs trash empty) or add chunkservers "
             "(dfs admin status shows each)", live - draining, draining, dead);
    md_reply_status(a->conn, &a->hdr, DFS_ENOSPACE, msg);
    goto out;
  }
  size_t ai = 0;
  for (uint32_t i = 0; i < a->count; i++) {
    dfs__chunk_alloc__init(&ca[i]);
    cp[i] = &ca[i];
    ca[i].chunk_id = md->pool_next++;
    ca[i].version = 1;
    if (caps) {
      /* only this user may commit this id, and only within FSM_GRANT_TTL_MS */
      dfs_grant_sign(md->cap_key, ca[i].chunk_id, ca[i].version, a->user,
                     dfs_wall_ns() / 1000000 + FSM_GRANT_TTL_MS, grants[i]);
      ca[i].grant.data = grants[i];
      ca[i].grant.len = DFS_GRANT_LEN;
    }
    /* in flight for this user until committed or until its write capability expires */
    limits_alloc_note(md->limits, a->user, ca[i].chunk_id,
                      dfs_now_ms() + (uint64_t)md->caps_ttl_ms);
    size_t k = placement_choose(cands, nc, a->replicas, a->exclude, a->nexclude, &md->rng,
                                chain);
    ca[i].chain = &ap[ai];
    ca[i].n_chain = k;
    /* held on these servers until they report the chunk, at most placement.promise_ttl */
    promises_add(md->promises, sv, ca[i].chunk_id, chain, k,
                 dfs_now_ms() + (uint64_t)md->promise_ttl_ms);
    for (size_t j = 0; j < k; j++) {
      fill_addr(&ad[ai], servers_get(sv, chain[j]));
      ap[ai] = &ad[ai];
      ai++;
      /* spread the rest of this request: count the chunk as load on chosen servers */
      for (size_t q = 0; q < nc; q++)
        if (cands[q].id == chain[j] && cands[q].free_bytes >= DFS_CHUNK_SIZE)
          cands[q].free_bytes -= DFS_CHUNK_SIZE;
    }
    if (caps) { /* the write capability signs this chain: chunkd forwards only along it */
      dfs_cap_server cs[DFS_CAP_MAX_CHAIN];
      size_t n = k < DFS_CAP_MAX_CHAIN ? k : DFS_CAP_MAX_CHAIN;
      for (size_t j = 0; j < n; j++)
        cs[j] = (dfs_cap_server){ca[i].chain[j]->server_id, ca[i].chain[j]->host,
                                 ca[i].chain[j]->port};
      size_t len = 0;
      if (dfs_cap_sign_write(md->cap_key, ca[i].chunk_id, ca[i].version, cs, n, cap_expiry(md),
                             caps[i], sizeof caps[i], &len))
        LOG_WARN("cannot sign a write capability for chunk %llu (a chunkserver's address is "
                 "empty or over %d bytes): its writes will be refused",
                 (unsigned long long)ca[i].chunk_id, DFS_CAP_MAX_HOST);
      ca[i].capability.data = caps[i];
      ca[i].capability.len = len;
    }
  }
  /* the ids of one answer are consecutive: one range of the upload */
  uploads_note_alloc(md->uploads, a->upload_id, a->user, ca[0].chunk_id,
                     ca[a->count - 1].chunk_id, dfs_now_ms());
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__AllocRep rep = DFS__ALLOC_REP__INIT;
  rep.status = &st;
  rep.n_chunks = a->count;
  rep.chunks = cp;
  dfs_conn_reply(a->conn, &a->hdr, &rep.base, NULL, 0, NULL, NULL);
out:
  free(caps);
  free(grants);
  free(cands);
  free(ca);
  free(cp);
  free(ad);
  free(ap);
  free(chain);
}

static uint64_t pool_avail(const metad *md) {
  return md->pool_end >= md->pool_next && md->pool_next ? md->pool_end - md->pool_next + 1 : 0;
}

/* Answers waiting allocs in order while the pool has ids. */
static void allocs_drain(metad *md) {
  while (md->allocs_waiting && pool_avail(md) >= md->allocs_waiting->count) {
    md_alloc *a = md->allocs_waiting;
    md->allocs_waiting = a->next;
    alloc_answer(md, a);
    alloc_free(a);
  }
  if (pool_avail(md) < RESERVE_LOW) reserve_ids(md);
}

static void reserve_done(metad *md, md_waiter *w, int status) {
  uint64_t first = w->ud ? *(uint64_t *)w->ud : 0;
  md->reserve_inflight = 0;
  const fsm_result *r = status ? NULL : fsm_result_get(md->fsm, w->rid);
  int leader = raft_state(&md->raft) == RAFT_LEADER && md->leader_ready;
  if (r && r->err == 0 && leader) {
    if (pool_avail(md) && first == md->pool_end + 1) {
      md->pool_end = r->val;
    } else {
      md->pool_next = first;
      md->pool_end = r->val;
    }
    LOG_DEBUG("chunk ids %llu..%llu reserved", (unsigned long long)md->pool_next,
              (unsigned long long)md->pool_end);
  } else if (r && r->err) {
    LOG_DEBUG("chunk id reservation refused: %s", r->msg ? r->msg : "");
  }
  md_waiter_free(w);
  if (leader) allocs_drain(md);
}

static void reserve_ids(metad *md) {
  if (md->reserve_inflight || !md->leader_ready) return;
  ops_op op = {0};
  op.type = OP_RESERVE_IDS;
  op.rid = rg_new_rid();
  op.a = md->fsm->ids_reserved + 1;
  op.b = md->fsm->ids_reserved + RESERVE_BATCH;
  md_waiter *w = md_waiter_new(NULL, NULL, op.rid, reserve_done);
  uint64_t *first = malloc(sizeof *first);
  if (!w || !first) {
    free(first);
    md_waiter_free(w);
    return;
  }
  *first = op.a;
  w->ud = first;
  w->ud_free = free;
  if (rg_submit(md, &op, NULL, w)) {
    md_waiter_free(w);
    return;
  }
  md->reserve_inflight = 1;
}

static void h_alloc(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__AllocReq *rq = dfs__alloc_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode AllocReq");
    return;
  }
  int rc = 0;
  if (rq->count < 1 || rq->count > ALLOC_MAX_COUNT) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "count must be 1..%d, not %u", ALLOC_MAX_COUNT, rq->count);
  } else if (rq->replicas < 1 || rq->replicas > MAX_REPLICAS) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "replicas must be 1..%d, not %u", MAX_REPLICAS, rq->replicas);
  } else if (rq->n_exclude_servers > 4096) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "too many excluded servers");
  }
  if (!rc) rc = rg_check_leader(md, msg, sizeof msg);
  if (!rc && (rc = limits_alloc_check(md->limits, u->name, rq->count,
                                      (uint64_t)md->max_allocs_inflight, dfs_now_ms()))) {
    if (rc == DFS_EBUSY)
      snprintf(msg, sizeof msg,
               "you have %llu chunks allocated and not yet written; %u more would pass "
               "the limit of %lld: finish or stop other uploads, or wait for abandoned ones "
               "to expire (%lld s)",
               (unsigned long long)limits_alloc_inflight(md->limits, u->name), rq->count,
               (long long)md->max_allocs_inflight, (long long)(md->caps_ttl_ms / 1000));
    else
      snprintf(msg, sizeof msg, "metad is tracking too many users; retry");
  }
  if (!rc) { /* a user already at the byte quota stores nothing more (Commit decides per
                file; this only saves uploading what could never be committed) */
    const fsm_quota *q = fsm_quota_get(md->fsm, u->name);
    uint64_t e, b;
    ns_usage_of(md->fsm->ns, u->name, &e, &b);
    if (q && q->max_bytes && b >= q->max_bytes) {
      rc = DFS_EQUOTA;
      snprintf(msg, sizeof msg,
               "quota exceeded: %s uses %llu of %llu bytes (free space with dfs rm and dfs "
               "trash empty, or ask an administrator)", u->name, (unsigned long long)b,
               (unsigned long long)q->max_bytes);
    }
  }
  if (!rc && !servers_live_count(&md->fsm->servers)) {
    rc = DFS_EUNAVAIL;
    if (!rg_reregistering(md, msg, sizeof msg)) {
      rc = DFS_ENOSERVERS;
      snprintf(msg, sizeof msg, "no live chunkservers (start chunkd, or wait for one to register)");
    }
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    dfs__alloc_req__free_unpacked(rq, NULL);
    return;
  }
  md_alloc *a = calloc(1, sizeof *a);
  if (a && rq->n_exclude_servers &&
      !(a->exclude = malloc(rq->n_exclude_servers * sizeof *a->exclude))) {
    free(a);
    a = NULL;
  }
  if (!a) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
    dfs__alloc_req__free_unpacked(rq, NULL);
    return;
  }
  a->conn = c;
  dfs_conn_ref(c);
  snprintf(a->user, sizeof a->user, "%s", u->name);
  a->hdr = m->hdr;
  a->count = rq->count;
  a->replicas = rq->replicas;
  a->upload_id = rq->upload_id;
  a->nexclude = rq->n_exclude_servers;
  if (a->nexclude) memcpy(a->exclude, rq->exclude_servers, a->nexclude * sizeof *a->exclude);
  dfs__alloc_req__free_unpacked(rq, NULL);
  /* append to the waiting list (FIFO) and serve what the pool allows */
  md_alloc **pp = &md->allocs_waiting;
  while (*pp) pp = &(*pp)->next;
  *pp = a;
  allocs_drain(md);
}

void handlers_leader_changed(metad *md, int ready) {
  md->pool_next = md->pool_end = 0;
  limits_reset(md->limits); /* shares are the leader's soft state */
  promises_reset(md->promises, &md->fsm->servers);
  uploads_reset(md->uploads);
  if (ready) {
    md->reserve_inflight = 0;
    reserve_ids(md);
    return;
  }
  handlers_shutdown(md);
}

void handlers_shutdown(metad *md) {
  char msg[MSGSZ];
  int rc = rg_check_leader(md, msg, sizeof msg);
  if (!rc) {
    rc = DFS_EUNAVAIL;
    snprintf(msg, sizeof msg, "metad is not serving; retry");
  }
  while (md->allocs_waiting) {
    md_alloc *a = md->allocs_waiting;
    md->allocs_waiting = a->next;
    md_reply_status(a->conn, &a->hdr, rc, msg);
    alloc_free(a);
  }
}

/* ---- issue 4: rename, copy, setrep, touch, trash, search ---- */

#define SEARCH_LIMIT_DEFAULT 1000
#define SEARCH_LIMIT_MAX 100000
#define TRASH_CHECK_MS 1000

static void h_rename(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__RenameReq *rq = dfs__rename_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode RenameReq");
    return;
  }
  ops_op op = {0};
  op.type = OP_RENAME;
  op.rid = rq->request_id;
  op.path = rq->src;
  op.path2 = rq->dst;
  op.flag = rq->overwrite ? OPF_MAIN : 0;
  submit_ns_op(md, c, &m->hdr, u, 0, msg, &op, 1);
  dfs__rename_req__free_unpacked(rq, NULL);
}

static void h_copy(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__CopyReq *rq = dfs__copy_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode CopyReq");
    return;
  }
  ops_op op = {0};
  op.type = OP_COPY;
  op.rid = rq->request_id;
  op.path = rq->src;
  op.path2 = rq->dst;
  op.flag = (uint8_t)((rq->overwrite ? OPF_MAIN : 0) | (rq->recursive ? OPF_RECURSIVE : 0));
  submit_ns_op(md, c, &m->hdr, u, 0, msg, &op, 1);
  dfs__copy_req__free_unpacked(rq, NULL);
}

static void h_setrep(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__SetrepReq *rq = dfs__setrep_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode SetrepReq");
    return;
  }
  int rc = 0;
  if (rq->replicas < 1 || rq->replicas > MAX_REPLICAS) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "replicas must be 1..%d, not %u", MAX_REPLICAS, rq->replicas);
  }
  ops_op op = {0};
  op.type = OP_SETREP;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.a = rq->replicas;
  op.flag = rq->recursive ? OPF_RECURSIVE : 0;
  submit_ns_op(md, c, &m->hdr, u, rc, msg, &op, 0);
  dfs__setrep_req__free_unpacked(rq, NULL);
}

static void h_touch(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__TouchReq *rq = dfs__touch_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode TouchReq");
    return;
  }
  ops_op op = {0};
  op.type = OP_TOUCH;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.mode = rq->mode & 0777;
  op.a = DEFAULT_REPLICAS;
  submit_ns_op(md, c, &m->hdr, u, 0, msg, &op, 0);
  dfs__touch_req__free_unpacked(rq, NULL);
}

static void fill_trash_item(Dfs__TrashItem *ti, Dfs__Entry *e, const trash_item *it) {
  dfs__trash_item__init(ti);
  dfs__entry__init(e);
  fill_entry(e, it->node);
  e->name = it->node->name; /* detached: fill_entry would call it "/" */
  ti->id = it->id;
  ti->original_path = it->path;
  ti->deleted_ns = it->deleted_ns;
  ti->expires_ns = it->expires_ns;
  ti->entry = e;
}

/* Trash items the user sees: their own; an administrator sees everyone's. */
static int trash_visible(const trash_item *it, const md_user *u) {
  return perm_is_super(u->name, u->is_admin) || !strcmp(it->user, u->name);
}

static void h_trash(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__TrashReq *rq = dfs__trash_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode TrashReq");
    return;
  }
  int rc = rg_check_leader(md, msg, sizeof msg);
  if (!rc && rq->action == DFS__TRASH_ACTION__TRASH_RESTORE && *rq->path)
    rc = check_path(rq->path, msg, sizeof msg);
  if (!rc && rq->action == DFS__TRASH_ACTION__TRASH_RESTORE && !rq->id) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "restore needs a trash item id (see dfs trash ls)");
  }
  if (!rc && rq->action != DFS__TRASH_ACTION__TRASH_LIST &&
      rq->action != DFS__TRASH_ACTION__TRASH_RESTORE &&
      rq->action != DFS__TRASH_ACTION__TRASH_EMPTY) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "unknown trash action %d", (int)rq->action);
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    goto out;
  }
  if (rq->action != DFS__TRASH_ACTION__TRASH_LIST) {
    ops_op op = {0};
    op.type = rq->action == DFS__TRASH_ACTION__TRASH_RESTORE ? OP_TRASH_RESTORE : OP_TRASH_EMPTY;
    op.rid = rq->request_id;
    op.path = "";
    op.path2 = rq->path;
    op.str = u->name;
    op.mtime_ns = dfs_wall_ns();
    op.a = rq->id;
    op.flag = user_flag(u);
    submit_mutation(md, c, &m->hdr, &op, NULL, NULL, NULL);
    goto out;
  }
  const trash_t *t = &md->fsm->trash;
  size_t cnt = 0;
  for (size_t i = 0; i < t->n; i++) cnt += trash_visible(&t->items[i], u);
  Dfs__TrashItem *items = calloc(cnt ? cnt : 1, sizeof *items);
  Dfs__TrashItem **ptrs = calloc(cnt ? cnt : 1, sizeof *ptrs);
  Dfs__Entry *ents = calloc(cnt ? cnt : 1, sizeof *ents);
  if (!items || !ptrs || !ents) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
  } else {
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
      if (!trash_visible(&t->items[i], u)) continue;
      fill_trash_item(&items[k], &ents[k], &t->items[i]);
      ptrs[k] = &items[k];
      k++;
    }
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__TrashRep rep = DFS__TRASH_REP__INIT;
    rep.status = &st;
    rep.n_items = cnt;
    rep.items = ptrs;
    rep.count = cnt;
    while (rep.n_items && protobuf_c_message_get_packed_size(&rep.base) > DFS_MAX_PAYLOAD - 1024)
      rep.n_items /= 2; /* count still tells how many there are */
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  free(items);
  free(ptrs);
  free(ents);
out:
  dfs__trash_req__free_unpacked(rq, NULL);
}

/* ---- search ---- */

typedef struct {
  metad *md;
  const md_user *u;
  const Dfs__SearchReq *rq;
  const ns_inode *base;
  size_t limit;
  ns_inode **hits;
  size_t n;
  int truncated;
  uint64_t visible; /* candidates the caller may see (the reply's scanned count) */
} search_ctx;

/* 1 if the user has r+x on every directory from the root down to n's parent (and n's
 * chain ends at the base directory of the search, i.e. below it, not in the trash). */
static int search_visible(search_ctx *s, const ns_inode *n) {
  int below = 0;
  for (const ns_inode *d = n->parent; d; d = d->parent) {
    if (d == s->base) below = 1;
    if (perm_check(s->u->name, s->u->is_admin, d, PERM_R | PERM_X)) return 0;
    if (!d->parent && d != s->md->fsm->ns->root) return 0;
  }
  return below;
}

static int search_hit(void *ud, ns_inode *n) {
  search_ctx *s = ud;
  const Dfs__SearchReq *rq = s->rq;
  if (rq->type == DFS__SEARCH_TYPE__SEARCH_FILES && n->is_dir) return 0;
  if (rq->type == DFS__SEARCH_TYPE__SEARCH_DIRS && !n->is_dir) return 0;
  if (*rq->owner && strcmp(rq->owner, n->owner ? n->owner : "")) return 0;
  if (rq->min_size || rq->max_size) {
    if (n->is_dir) return 0;
    if (n->u.file.size < rq->min_size) return 0;
    if (rq->max_size && n->u.file.size > rq->max_size) return 0;
  }
  if (rq->mtime_after_ns && n->mtime_ns < rq->mtime_after_ns) return 0;
  if (rq->mtime_before_ns && n->mtime_ns > rq->mtime_before_ns) return 0;
  if (!search_visible(s, n)) return 0;
  s->visible++;
  if (s->n == s->limit) {
    s->truncated = 1;
    return 1;
  }
  s->hits[s->n++] = n;
  return 0;
}

static int cmp_hit_path(const void *a, const void *b) {
  const Dfs__SearchHit *x = *(Dfs__SearchHit *const *)a, *y = *(Dfs__SearchHit *const *)b;
  return strcmp(x->path, y->path);
}

static void h_search(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__SearchReq *rq = dfs__search_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode SearchReq");
    return;
  }
  search_ctx s = {0};
  Dfs__SearchHit *hits = NULL, **hp = NULL;
  Dfs__Entry *ents = NULL;
  char **paths = NULL;
  ns_inode *base;
  const char *path = *rq->path ? rq->path : "/";
  int rc = read_lookup(md, u, path, &base, msg, sizeof msg);
  if (!rc && !base->is_dir) {
    rc = DFS_ENOTDIR;
    snprintf(msg, sizeof msg, "%s is a file, not a directory to search in", path);
  }
  if (!rc && strlen(rq->pattern) > 255) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "the search pattern is longer than 255 bytes");
  }
  double retry_s = 0;
  /* a search reads the whole name index on the loop thread: each user has a budget of
   * names scanned per second (limits.scan_rate, a burst of 5 s of it) */
  if (!rc && !limits_take(md->limits, u->name, LIMITS_SCAN,
                          (double)(md->fsm->ns->files + md->fsm->ns->dirs),
                          (double)md->scan_nodes_per_s * 5, (double)md->scan_nodes_per_s,
                          dfs_now_ms(), &retry_s)) {
    rc = DFS_EBUSY;
    snprintf(msg, sizeof msg, "too many searches: your scan budget is used up; retry in %.0f s",
             retry_s < 1 ? 1 : retry_s);
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    goto out;
  }
  s.md = md;
  s.u = u;
  s.rq = rq;
  s.base = base;
  s.limit = rq->limit ? rq->limit : SEARCH_LIMIT_DEFAULT;
  if (s.limit > SEARCH_LIMIT_MAX) s.limit = SEARCH_LIMIT_MAX;
  s.hits = malloc(s.limit * sizeof *s.hits);
  if (!s.hits) goto oom;
  uint64_t scanned = 0;
  search_run(&md->fsm->ns->idx, rq->pattern, rq->glob, search_hit, &s, &scanned);
  hits = calloc(s.n ? s.n : 1, sizeof *hits);
  hp = calloc(s.n ? s.n : 1, sizeof *hp);
  ents = calloc(s.n ? s.n : 1, sizeof *ents);
  paths = calloc(s.n ? s.n : 1, sizeof *paths);
  if (!hits || !hp || !ents || !paths) goto oom;
  size_t k = 0;
  for (size_t i = 0; i < s.n; i++) {
    char p[DFS_PATH_MAX + 1];
    if (ns_path(s.hits[i], md->fsm->ns, p, sizeof p)) continue;
    if (!(paths[k] = strdup(p))) goto oom;
    dfs__search_hit__init(&hits[k]);
    dfs__entry__init(&ents[k]);
    fill_entry(&ents[k], s.hits[i]);
    hits[k].path = paths[k];
    hits[k].entry = &ents[k];
    hp[k] = &hits[k];
    k++;
  }
  qsort(hp, k, sizeof *hp, cmp_hit_path);
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__SearchRep rep = DFS__SEARCH_REP__INIT;
  rep.status = &st;
  rep.hits = hp;
  rep.n_hits = k;
  rep.truncated = s.truncated;
  (void)scanned; /* the whole index's count would reveal names the caller cannot see */
  rep.scanned = s.visible;
  while (rep.n_hits && protobuf_c_message_get_packed_size(&rep.base) > DFS_MAX_PAYLOAD - 1024) {
    rep.n_hits /= 2;
    rep.truncated = 1;
  }
  dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  goto out;
oom:
  md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
out:
  for (size_t i = 0; paths && i < s.n; i++) free(paths[i]);
  free(paths);
  free(hits);
  free(hp);
  free(ents);
  free(s.hits);
  dfs__search_req__free_unpacked(rq, NULL);
}

/* ---- trash expiry (leader) ---- */

static void expire_done(metad *md, md_waiter *w, int status) {
  const fsm_result *r = status ? NULL : fsm_result_get(md->fsm, w->rid);
  if (r && !r->err && r->val)
    LOG_INFO("trash: %llu expired item%s removed", (unsigned long long)r->val,
             r->val == 1 ? "" : "s");
  md_waiter_free(w);
}

/* At most every TRASH_CHECK_MS, the leader submits OP_TRASH_EXPIRE with its clock when
 * some trash item has expired (apply drops every item expired by that time). Called on
 * every client request and from the raft poll timer (so an idle cluster expires too). */
void handlers_trash_expire(metad *md) {
  int64_t now_ms = dfs_wall_ns() / 1000000;
  if (!md->leader_ready || now_ms - md->trash_checked_ms < TRASH_CHECK_MS) return;
  md->trash_checked_ms = now_ms;
  const trash_t *t = &md->fsm->trash;
  int64_t now = dfs_wall_ns();
  size_t i = 0;
  while (i < t->n && t->items[i].expires_ns > now) i++;
  if (i == t->n) return;
  ops_op op = {0};
  op.type = OP_TRASH_EXPIRE;
  op.rid = rg_new_rid();
  op.path = "";
  op.path2 = "";
  op.str = "";
  op.mtime_ns = now;
  md_waiter *w = md_waiter_new(NULL, NULL, op.rid, expire_done);
  if (w && rg_submit(md, &op, NULL, w)) md_waiter_free(w);
}

/* ---- dispatch ---- */

/* Quota of a user: read (own, or anyone's for an administrator) or set (administrators,
 * through the log as OP_SET_QUOTA). */
static void h_quota(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__QuotaReq *rq = dfs__quota_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode QuotaReq");
    return;
  }
  const char *user = *rq->user ? rq->user : u->name;
  int rc = rg_check_leader(md, msg, sizeof msg);
  if (!rc && (rq->set || strcmp(user, u->name)) && !perm_is_super(u->name, u->is_admin)) {
    rc = DFS_EPERM;
    snprintf(msg, sizeof msg, "only an administrator may %s",
             rq->set ? "set quotas" : "see another user's quota");
  }
  if (!rc && !*user) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "name a user (authentication is off: there are no users)");
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
  } else if (rq->set) {
    ops_op op = {0};
    op.type = OP_SET_QUOTA;
    op.rid = rq->request_id;
    op.path = "";
    op.path2 = user;
    op.str = u->name;
    op.mtime_ns = dfs_wall_ns();
    op.flag = user_flag(u);
    op.a = rq->max_bytes;
    op.b = rq->max_entries;
    submit_mutation(md, c, &m->hdr, &op, NULL, NULL, NULL);
  } else {
    const fsm_quota *q = fsm_quota_get(md->fsm, user);
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__QuotaRep rep = DFS__QUOTA_REP__INIT;
    rep.status = &st;
    rep.user = (char *)user;
    ns_usage_of(md->fsm->ns, user, &rep.used_entries, &rep.used_bytes);
    rep.max_bytes = q ? q->max_bytes : 0;
    rep.max_entries = q ? q->max_entries : 0;
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  dfs__quota_req__free_unpacked(rq, NULL);
}

typedef void (*client_fn)(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);
static const struct {
  uint16_t type;
  client_fn fn;
} client_table[] = {
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, h_mkdir},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, h_list},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, h_stat},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, h_delete},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_ALLOC, h_alloc},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMMIT, h_commit},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, h_getfile},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER, admin_h_cluster},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_FSCK, admin_h_fsck},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_BAD_REPLICA, h_bad_replica},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD, h_chmod},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_RENAME, h_rename},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY, h_copy},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_SETREP, h_setrep},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH, h_touch},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_SEARCH, h_search},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH, h_trash},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_QUOTA, h_quota},
};

int client_handles(uint16_t type) {
  for (size_t i = 0; i < sizeof client_table / sizeof client_table[0]; i++)
    if (client_table[i].type == type) return 1;
  return 0;
}

static void run_handler(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  for (size_t i = 0; i < sizeof client_table / sizeof client_table[0]; i++)
    if (client_table[i].type == m->hdr.type) {
      client_table[i].fn(md, c, m, u);
      return;
    }
}

/* Requests waiting for their user's home directory to be made: one OP_MKHOME per user
 * in flight (homes_inflight), the user's requests queue on it in arrival order. */
typedef struct home_req {
  struct home_req *next;
  dfs_conn *conn; /* reference held */
  dfs_msg msg;    /* owned */
  md_user user;
} home_req;

typedef struct home_wait {
  struct home_wait *next; /* homes_inflight list */
  char name[MD_USER_MAX + 1];
  home_req *reqs, **tail;
} home_wait;

static home_wait *homes_inflight;

static void home_unlink(home_wait *h) {
  for (home_wait **pp = &homes_inflight; *pp; pp = &(*pp)->next)
    if (*pp == h) {
      *pp = h->next;
      return;
    }
}

/* Runs (run != 0, md set) or drops every queued request of h. */
static void home_flush(metad *md, home_wait *h, int run) {
  home_req *r = h->reqs;
  h->reqs = NULL;
  h->tail = &h->reqs;
  while (r) {
    home_req *next = r->next;
    if (run && dfs_conn_is_open(r->conn)) run_handler(md, r->conn, &r->msg, &r->user);
    dfs_msg_free(&r->msg);
    dfs_conn_unref(r->conn);
    free(r);
    r = next;
  }
}

static void home_wait_free(void *p) {
  home_wait *h = p;
  home_unlink(h);
  home_flush(NULL, h, 0);
  free(h);
}

static void home_done(metad *md, md_waiter *w, int status) {
  home_wait *h = w->ud;
  const fsm_result *r = status ? NULL : fsm_result_get(md->fsm, w->rid);
  if (r && r->err)
    LOG_WARN("cannot create the home directory of %s: %s", h->name,
             r->msg ? r->msg : dfs_strerror(r->err));
  /* run the requests whatever happened: each reports its own errors (not leader, ...) */
  home_unlink(h);
  home_flush(md, h, 1);
  md_waiter_free(w);
}

/* 1 if u is a named user without /home/<u> and this node can make it now. */
static int needs_home(metad *md, const md_user *u) {
  char msg[MSGSZ];
  if (!u->name[0] || rg_check_leader(md, msg, sizeof msg)) return 0;
  ns_inode *home = ns_child(md->fsm->ns->root, "home", 4);
  return !home || !ns_child(home, u->name, strlen(u->name));
}

void client_handle(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  handlers_trash_expire(md);
  if (!needs_home(md, u)) {
    run_handler(md, c, m, u);
    return;
  }
  home_req *rq = calloc(1, sizeof *rq);
  if (!rq) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
    return;
  }
  rq->conn = c;
  dfs_conn_ref(c);
  rq->msg = *m; /* take the frame; the caller's free of m is then a no-op */
  memset(m, 0, sizeof *m);
  rq->user = *u;
  home_wait *h = homes_inflight;
  while (h && strcmp(h->name, u->name)) h = h->next;
  if (h) { /* the home is being made: wait for it */
    *h->tail = rq;
    h->tail = &rq->next;
    return;
  }
  ops_op op = {0};
  op.type = OP_MKHOME;
  op.rid = rg_new_rid();
  op.path = "";
  op.str = u->name;
  op.mtime_ns = dfs_wall_ns();
  h = calloc(1, sizeof *h);
  md_waiter *w = h ? md_waiter_new(NULL, NULL, op.rid, home_done) : NULL;
  if (!w) {
    free(h);
    md_reply_status(c, &rq->msg.hdr, DFS_ENOMEM, "metad is out of memory");
    dfs_msg_free(&rq->msg);
    dfs_conn_unref(c);
    free(rq);
    return;
  }
  snprintf(h->name, sizeof h->name, "%s", u->name);
  h->reqs = rq;
  h->tail = &rq->next;
  h->next = homes_inflight;
  homes_inflight = h;
  w->ud = h;
  w->ud_free = home_wait_free;
  LOG_INFO("creating /home/%s", u->name);
  if (rg_submit(md, &op, NULL, w)) home_done(md, w, DFS_EUNAVAIL);
}
