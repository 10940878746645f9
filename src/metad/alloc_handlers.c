/* alloc_handlers: writing a file. Alloc hands out chunk ids with their placement
 * (a chain of chunkservers), write capabilities and commit grants; Commit turns the
 * written chunks into a file through the log. Owns the leader's chunk-id pool: ids are
 * handed out only from ranges whose OP_RESERVE_IDS entry has been applied, so a restart
 * never repeats one; Allocs wait in md->allocs_waiting (FIFO) while the pool refills.
 * The pool and the waiting Allocs are leader soft state (alloc_leader_changed). */
#include "metad/alloc_handlers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/replies.h"
#include "metad/handlers.h"
#include "metad/limits.h"
#include "metad/mutations.h"
#include "metad/perm.h"
#include "metad/placement.h"
#include "metad/promises.h"
#include "metad/raft_glue.h"
#include "metad/u64map.h"
#include "metad/uploads.h"

#define ALLOC_MAX_COUNT 256
#define RESERVE_BATCH 65536
#define RESERVE_LOW 16384
/* The most chunks one CommitReq may carry (256 GiB; with grant and receipt a chunk takes
 * about 100 bytes of the 32 MiB payload, so ~300k is the wire's own bound) */
#define COMMIT_MAX_CHUNKS 262144
#define MSGSZ MUTATION_MSGSZ

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

 * locations once the commit is applied. */
typedef struct {
  size_t n;
  struct commit_loc { uint64_t chunk, server; } v[];
} commit_locs;


/* Everything about a commit that can be known before it enters the log (apply checks
 * again against the state of its time): sizes, ids, versions, duplicates, the commit
 * grant of every new chunk (allocated to this user), the chunkservers' receipt of every
 * new chunk (their signed word that it is stored, on which servers), retired ids, the
 * path and the permissions. Fills *locs with the receipts' (chunk, server) pairs (owned
 * by the caller). 0, or an error with one line in msg. */
static int commit_validate(metad *md, const md_user *u, const Dfs__CommitReq *rq,
                           commit_locs **locs, char *msg) {
  int rc = ns_check_path(rq->path, msg, MSGSZ);
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

/* Commit's reply once applied: the chunkservers' receipts (checked in h_commit) become
 * soft locations, and the chunks are no longer in flight for the user (no locs: a
 * retry answered from the result table). */
static void commit_reply(metad *md, md_waiter *w, const fsm_result *r) {
  const commit_locs *cl = w->ud;
  for (size_t i = 0; cl && i < cl->n; i++) {
    if (servers_get(&md->fsm->servers, cl->v[i].server))
      chunks_add_loc(&md->fsm->chunks, cl->v[i].chunk, cl->v[i].server);
    limits_alloc_done(md->limits, cl->v[i].chunk);
  }
  md_reply_status(w->conn, &w->hdr, r->err, r->msg);
}

void h_commit(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
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
  Dfs__CommitReq *rq = md_decode(c, m, &dfs__commit_req__descriptor);
  if (!rq) return;
  if (rq->attrs.len > DFS_ATTRS_MAX) { /* first: such a body never reaches the log */
    snprintf(msg, sizeof msg,
             "the file's client attributes are %zu bytes: at most %u are allowed",
             rq->attrs.len, DFS_ATTRS_MAX);
    md_reply_status(c, &m->hdr, DFS_EINVAL, msg);
    dfs__commit_req__free_unpacked(rq, NULL);
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
  /* COMMIT2 unless there are attrs: a cluster that never sets them keeps writing entries
   * that metads from before attrs can apply (a rolling upgrade) */
  op.type = rq->attrs.len ? OP_COMMIT3 : OP_COMMIT2;
  op.attrs = rq->attrs.data;
  op.attrs_len = (uint32_t)rq->attrs.len;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.str = u->name;
  op.mtime_ns = dfs_wall_ns();
  op.mode = rq->mode ? (rq->mode & 0777) : 0644;
  op.flag = (uint8_t)((rq->overwrite ? OPF_MAIN : 0) | mutation_user_flag(u));
  op.size = rq->size;
  op.replicas = rq->replicas ? rq->replicas : DEFAULT_REPLICAS;
  op.nchunks = (uint32_t)rq->n_chunks;
  mutation_submit(md, c, &m->hdr, &op, chunks, locs, free, commit_reply);
  free(chunks);
  dfs__commit_req__free_unpacked(rq, NULL);
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
    /* a server whose connection closed counts as dead for writes (servers.h) */
    dead += e->registered && (!e->alive || e->disconnected);
    if (!e->alive || e->disconnected) continue;
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
      md_fill_server_addr(&ad[ai], servers_get(sv, chain[j]));
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
      if (dfs_cap_sign_write(md->cap_key, ca[i].chunk_id, ca[i].version, cs, n, md_cap_expiry(md),
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

void h_alloc(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__AllocReq *rq = md_decode(c, m, &dfs__alloc_req__descriptor);
  if (!rq) return;
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

void alloc_leader_changed(metad *md, int ready) {
  md->pool_next = md->pool_end = 0;
  if (ready) {
    md->reserve_inflight = 0;
    reserve_ids(md);
    return;
  }
  alloc_shutdown(md);
}

void alloc_shutdown(metad *md) {
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
