/* read_handlers: requests answered at once from the leader's applied state (stat,
 * list, getfile, the change feed) and a reader's report of a bad replica. Permissions are checked here
 * against that state; GetFile signs a read capability per replica when cluster.secret
 * is set. Nothing here enters the log. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "common/path.h"
#include "metad/replies.h"
#include "metad/handlers.h"
#include "metad/limits.h"
#include "metad/perm.h"
#include "metad/raft_glue.h"
#include "metad/read_handlers.h"

#define GETFILE_MAX_CHUNKS 65536
#define MSGSZ 512

void read_fill_entry(Dfs__Entry *e, const ns_t *ns, const ns_inode *n) {
  e->name = n->parent ? n->name : "/";
  e->type = n->is_dir    ? DFS__ENTRY_TYPE__ENTRY_DIR
            : n->is_link ? DFS__ENTRY_TYPE__ENTRY_SYMLINK
                         : DFS__ENTRY_TYPE__ENTRY_FILE;
  e->size = n->is_dir ? n->u.dir.count : n->is_link ? strlen(n->u.file.ids.target) : n->u.file.size;
  if (n->is_link) e->target = n->u.file.ids.target; /* borrowed, like attrs */
  e->mtime_ns = n->mtime_ns;
  e->mode = n->mode;
  e->owner = n->owner ? n->owner : "";
  e->replicas = n->is_dir ? 0 : n->replicas;
  e->chunks = n->is_dir ? 0 : n->u.file.nchunks;
  e->inode = n->ino;
  const ns_attrs *a = n->is_dir ? NULL : ns_file_attrs(ns, n);
  if (a) {
    e->attrs.data = (uint8_t *)a->b; /* borrowed: the reply is packed before the next apply */
    e->attrs.len = a->len;
  }
}

int read_lookup(metad *md, const md_user *u, const char *path, ns_inode **n,
                       char *msg, size_t msgsz) {
  int rc = ns_check_path(path, msg, msgsz);
  if (!rc) rc = rg_check_leader(md, msg, msgsz);
  if (!rc) rc = perm_lookup(md->fsm->ns, path, u->name, u->is_admin, n, msg, msgsz);
  return rc;
}

static int cmp_entry_name(const void *a, const void *b) {
  const Dfs__Entry *x = *(Dfs__Entry *const *)a, *y = *(Dfs__Entry *const *)b;
  return strcmp(x->name, y->name);
}

void h_list(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__ListReq *rq = md_decode(c, m, &dfs__list_req__descriptor);
  if (!rq) return;
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
      read_fill_entry(&ents[i], md->fsm->ns, ch);
      ptrs[i] = &ents[i];
    }
    qsort(ptrs, cnt, sizeof *ptrs, cmp_entry_name);
  } else {
    dfs__entry__init(&ents[0]);
    read_fill_entry(&ents[0], md->fsm->ns, n);
    ptrs[0] = &ents[0];
  }
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__ListRep rep = DFS__LIST_REP__INIT;
  rep.status = &st;
  rep.n_entries = cnt;
  rep.entries = ptrs;
  /* The budget is the packed reply, client attributes included (up to DFS_ATTRS_MAX
   * per file): a listing never exceeds the payload limit; a directory whose entries do
   * not fit is refused whole rather than listed without some entries' attrs (a client
   * could not tell "omitted" from "none"). */
  size_t packed = protobuf_c_message_get_packed_size(&rep.base);
  if (packed > DFS_MAX_PAYLOAD - 1024) {
    size_t abytes = 0;
    for (size_t i = 0; i < cnt; i++) abytes += ents[i].attrs.len;
    snprintf(msg, sizeof msg,
             "%s has %zu entries: too many to list in one reply (%zu bytes, %zu of them "
             "client attributes; at most %u)",
             rq->path, cnt, packed, abytes, DFS_MAX_PAYLOAD - 1024);
    md_reply_status(c, &m->hdr, DFS_ETOOBIG, msg);
  } else {
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  free(ents);
  free(ptrs);
out:
  dfs__list_req__free_unpacked(rq, NULL);
}

void h_stat(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__StatReq *rq = md_decode(c, m, &dfs__stat_req__descriptor);
  if (!rq) return;
  ns_inode *n;
  int rc = read_lookup(md, u, rq->path, &n, msg, sizeof msg);
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
  } else {
    Dfs__Entry e = DFS__ENTRY__INIT;
    read_fill_entry(&e, md->fsm->ns, n);
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__StatRep rep = DFS__STAT_REP__INIT;
    rep.status = &st;
    rep.entry = &e;
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  dfs__stat_req__free_unpacked(rq, NULL);
}

/* Live locations of chunk ce, connected ones first, then least loaded (a server whose
 * connection closed is most likely dead: readers try it last). Writes up to max ids. */
static size_t live_locations(metad *md, const chunk_ent *ce, const server_ent **out,
                             size_t max) {
  size_t n = 0;
  for (uint8_t k = 0; k < ce->nlocs && n < max; k++) {
    const server_ent *s = servers_get(&md->fsm->servers, chunk_locs(ce)[k]);
    if (!s || !s->alive) continue;
    size_t j = n++;
    while (j > 0 && (out[j - 1]->disconnected > s->disconnected ||
                     (out[j - 1]->disconnected == s->disconnected && out[j - 1]->load > s->load))) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = s;
  }
  return n;
}

void h_getfile(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__GetFileReq *rq = md_decode(c, m, &dfs__get_file_req__descriptor);
  if (!rq) return;
  ns_inode *n;
  Dfs__ChunkLocation *locs = NULL, **lptrs = NULL;
  Dfs__ServerAddr *addrs = NULL, **aptrs = NULL;
  uint8_t (*caps)[DFS_CAP_READ_LEN] = NULL;
  int rc = read_lookup(md, u, rq->path, &n, msg, sizeof msg);
  if (!rc && n->is_dir) {
    rc = DFS_EISDIR;
    snprintf(msg, sizeof msg, "%s is a directory", rq->path);
  }
  if (!rc && n->is_link) { /* no content: a client reads the target (Stat) and follows it */
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "%s is a symbolic link (to %.300s): metad does not follow links",
             rq->path, n->u.file.ids.target);
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
      md_fill_server_addr(&addrs[ai], live[k]);
      if (caps) { /* valid on this replica's server only, for the whole chunk */
        dfs_cap_sign_read(md->cap_key, l->chunk_id, l->version, live[k]->id, 0, l->length,
                          md_cap_expiry(md), caps[ai]);
        addrs[ai].capability.data = caps[ai];
        addrs[ai].capability.len = DFS_CAP_READ_LEN;
      }
      aptrs[ai] = &addrs[ai];
      ai++;
    }
    l->n_replicas = (size_t)(&aptrs[ai] - l->replicas);
  }
  Dfs__Entry e = DFS__ENTRY__INIT;
  read_fill_entry(&e, md->fsm->ns, n);
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
void h_bad_replica(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__BadReplicaReq *rq = md_decode(c, m, &dfs__bad_replica_req__descriptor);
  if (!rq) return;
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

typedef struct {
  const ns_t *ns;
  const md_user *u;
} watch_filter;

/* changes_since's filter: the caller learns only paths whose nearest existing directory
 * it may read (perm.h): others' private names are not revealed. */
static int watch_visible(void *ud, const char *path) {
  const watch_filter *wf = ud;
  return perm_may_see(wf->ns, path, wf->u->name, wf->u->is_admin);
}

/* Watch: the paths changed from rq->since on, from this node's ring (changes.h). A read:
 * nothing enters the log; only the leader answers (its ring holds what it applied). */
void h_watch(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__WatchReq *rq = md_decode(c, m, &dfs__watch_req__descriptor);
  if (!rq) return;
  int rc = rg_check_leader(md, msg, sizeof msg);
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    dfs__watch_req__free_unpacked(rq, NULL);
    return;
  }
  const char **paths = malloc(CHANGES_REPLY_MAX * sizeof *paths);
  if (!paths) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
    dfs__watch_req__free_unpacked(rq, NULL);
    return;
  }
  watch_filter wf = {md->fsm->ns, u};
  size_t n;
  uint64_t next;
  int overflow;
  changes_since(&md->changes, rq->since, CHANGES_REPLY_MAX, watch_visible, &wf, paths, &n,
                &next, &overflow);
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__WatchRep rep = DFS__WATCH_REP__INIT;
  rep.status = &st;
  rep.epoch = md->changes.epoch;
  rep.next = next;
  rep.overflow = overflow;
  rep.n_paths = n;
  rep.paths = (char **)paths; /* borrowed: packed before the next apply */
  dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  free(paths);
  dfs__watch_req__free_unpacked(rq, NULL);
}
