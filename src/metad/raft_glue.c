/* raft_glue: libraft setup, FSM adapter, group commit and leadership (raft_glue.h).
 *
 * Group commit: rg_submit appends to md->pending (one md_batch: an ops entry being built
 * plus the waiters of its ops) and starts flush_check; at the end of the loop iteration
 * the batch becomes one raft_apply with one buffer (n > 1 is broken in 0.22.1). The
 * apply callback completes every waiter of the batch; each reads its own result from the
 * fsm's result table (results are keyed by request id, so a batch never needs the
 * `result` pointer, which libraft may deliver late).
 *
 * Leadership: libraft has no state callback, so the daemon's clock (cron.c) calls
 * rg_poll_leadership, which polls raft_state() and reports every change through
 * md->on_leadership; nothing here calls into the handlers. A new leader first commits
 * an OP_META_ADDR (its client address) and serves requests only once that entry is
 * applied: then its state includes every earlier committed entry.
 *
 *   not leader --(raft_state()==LEADER)--> leader, not ready --(own META_ADDR applied)-->
 *   leader, ready --(raft_state()!=LEADER)--> not leader (pool reset, Allocs failed)
 *
 * Invariants: (1) while md->pending is non-NULL, flush_check is active; (2) every
 * waiter is completed exactly once (by apply_cb, or by batch_complete on failure);
 * (3) leader_ready implies was_leader. */
#include "metad/raft_glue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/raft_transport.h"

#define BATCH_MAX_BYTES (16u << 20) /* submit early when a batch grows past this */

struct md_batch {
  struct raft_apply req;
  metad *md;
  ops_wbuf buf;
  md_waiter *head, **tail;
};

uint64_t rg_new_rid(void) {
  uint64_t r;
  do r = dfs_random_u64();
  while (r == 0);
  return r;
}

md_waiter *md_waiter_new(dfs_conn *conn, const dfs_frame_hdr *hdr, uint64_t rid,
                         md_done_cb done) {
  md_waiter *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->conn = conn;
  if (conn) dfs_conn_ref(conn);
  if (hdr) w->hdr = *hdr;
  w->rid = rid;
  w->done = done;
  return w;
}

void md_waiter_free(md_waiter *w) {
  if (!w) return;
  if (w->conn) dfs_conn_unref(w->conn);
  if (w->ud_free) w->ud_free(w->ud);
  free(w);
}

/* ---- FSM adapter ---- */

static int fsm_apply_cb(struct raft_fsm *rf, const struct raft_buffer *buf, void **result) {
  metad *md = rf->data;
  *result = NULL;
  fsm_apply_entry(md->fsm, buf->base, buf->len);
  return 0;
}

static int fsm_snapshot_cb(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n) {
  metad *md = rf->data;
  ops_wbuf w;
  wb_init(&w);
  if (fsm_snapshot(md->fsm, &w)) {
    wb_free(&w);
    return RAFT_NOMEM;
  }
  *bufs = raft_malloc(sizeof **bufs);
  if (!*bufs) {
    wb_free(&w);
    return RAFT_NOMEM;
  }
  (*bufs)[0].base = w.p;
  (*bufs)[0].len = w.len;
  *n = 1;
  LOG_INFO("snapshot taken: %zu bytes, %llu files, %llu dirs, %zu chunks", w.len,
           (unsigned long long)md->fsm->ns->files, (unsigned long long)md->fsm->ns->dirs,
           md->fsm->chunks.n);
  return 0;
}

static int fsm_restore_cb(struct raft_fsm *rf, struct raft_buffer *buf) {
  metad *md = rf->data;
  int rc = fsm_restore(md->fsm, buf->base, buf->len);
  if (rc) {
    LOG_ERROR("cannot restore snapshot (%zu bytes): %s", buf->len, dfs_strerror(rc));
    return rc == DFS_ENOMEM ? RAFT_NOMEM : RAFT_MALFORMED;
  }
  LOG_INFO("snapshot restored: %llu files, %llu dirs, %zu chunks",
           (unsigned long long)md->fsm->ns->files, (unsigned long long)md->fsm->ns->dirs,
           md->fsm->chunks.n);
  raft_free(buf->base); /* ours on success */
  return 0;
}

/* ---- batches ---- */

static void batch_complete(md_batch *b, int status) {
  md_waiter *w = b->head;
  while (w) {
    md_waiter *next = w->next;
    w->next = NULL;
    w->done(b->md, w, status);
    w = next;
  }
  wb_free(&b->buf);
  free(b);
}

static void apply_cb(struct raft_apply *req, int status, void *result) {
  md_batch *b = req->data;
  (void)result;
  int st = 0;
  if (status == RAFT_NOTLEADER) st = DFS_ENOTLEADER;
  else if (status) st = DFS_EUNAVAIL; /* LEADERSHIPLOST, SHUTDOWN...: outcome unknown */
  if (status) LOG_DEBUG("log entry not applied here: %s", raft_strerror(status));
  batch_complete(b, st);
}

static void flush(metad *md) {
  md_batch *b = md->pending;
  if (!b) return;
  md->pending = NULL;
  if (ops_entry_end(&b->buf)) {
    LOG_ERROR("out of memory building a log entry");
    batch_complete(b, DFS_EUNAVAIL);
    return;
  }
  struct raft_buffer rb = {b->buf.p, b->buf.len};
  b->req.data = b;
  int rv = raft_apply(&md->raft, &b->req, &rb, 1, apply_cb);
  if (rv) {
    LOG_WARN("raft_apply: %s", raft_strerror(rv));
    batch_complete(b, rv == RAFT_NOTLEADER ? DFS_ENOTLEADER : DFS_EUNAVAIL);
    return;
  }
  b->buf.p = NULL; /* raft owns the entry now */
  b->buf.len = b->buf.cap = 0;
}

static void on_flush_check(uv_check_t *h) {
  metad *md = h->data;
  uv_check_stop(h);
  flush(md);
}

int rg_submit(metad *md, const ops_op *op, const ops_chunk *chunks, md_waiter *w) {
  if (md->shutting_down || raft_state(&md->raft) != RAFT_LEADER) return DFS_ENOTLEADER;
  if (!md->pending) {
    md_batch *b = calloc(1, sizeof *b);
    if (!b) return DFS_ENOMEM;
    b->md = md;
    b->tail = &b->head;
    ops_entry_begin(&b->buf);
    if (b->buf.oom) {
      free(b);
      return DFS_ENOMEM;
    }
    md->pending = b;
    uv_check_start(&md->flush_check, on_flush_check);
  }
  md_batch *b = md->pending;
  ops_append(&b->buf, op, chunks);
  if (b->buf.oom) {
    /* cannot undo a partial append; fail the whole batch */
    md->pending = NULL;
    uv_check_stop(&md->flush_check);
    batch_complete(b, DFS_EUNAVAIL);
    return DFS_ENOMEM;
  }
  *b->tail = w;
  b->tail = &w->next;
  if (b->buf.len >= BATCH_MAX_BYTES) flush(md);
  return 0;
}

/* ---- leadership ---- */

const char *rg_leader_addr(metad *md) {
  raft_id id = 0;
  const char *addr = NULL;
  if (!md->raft_started) return NULL;
  raft_leader(&md->raft, &id, &addr);
  if (!id) return NULL;
  if (id == md->raft_id) return md->listen_addr;
  return fsm_meta_addr(md->fsm, id);
}

int rg_reregistering(metad *md, char *msg, size_t msgsz) {
  const servers_t *sv = &md->fsm->servers;
  uint64_t since = dfs_now_ms() - md->leader_ready_ms;
  if (!md->leader_ready || since >= (uint64_t)md->dead_timeout_ms) return 0;
  size_t listed = 0; /* registered, with its whole inventory in */
  for (size_t i = 0; i < sv->n; i++)
    listed += sv->v[i].alive && !sv->v[i].inventory_pending && !sv->v[i].need_inventory;
  if (listed >= sv->n) return 0;
  if (msg)
    snprintf(msg, msgsz, "this metad became the leader %.1f s ago and the chunkservers are "
             "still re-registering with it; retry", (double)since / 1000.0);
  return 1;
}

int rg_check_leader(metad *md, char *msg, size_t msgsz) {
  if (md->shutting_down) {
    snprintf(msg, msgsz, "metad is shutting down; retry");
    return DFS_EUNAVAIL;
  }
  if (raft_state(&md->raft) == RAFT_LEADER) {
    if (md->leader_ready) return 0;
    snprintf(msg, msgsz, "this metad was just elected leader and is catching up; retry");
    return DFS_EUNAVAIL;
  }
  raft_id id = 0;
  const char *raddr = NULL;
  raft_leader(&md->raft, &id, &raddr);
  if (!id) {
    snprintf(msg, msgsz, "no metad leader is elected (a majority of the metad voters must be "
             "up and reach each other); retry in a moment");
    return DFS_EUNAVAIL;
  }
  const char *caddr = fsm_meta_addr(md->fsm, id);
  if (caddr)
    snprintf(msg, msgsz, "this metad is not the leader; the leader is %s", caddr);
  else
    snprintf(msg, msgsz, "this metad is not the leader; the leader is raft node %llu "
             "whose client address is not known yet; retry", (unsigned long long)id);
  return DFS_ENOTLEADER;
}

static void ready_done(metad *md, md_waiter *w, int status) {
  md->ready_inflight = 0;
  if (status == 0 && w->rid == md->ready_rid && raft_state(&md->raft) == RAFT_LEADER &&
      md->was_leader) {
    md->leader_ready = 1;
    md->leader_ready_ms = dfs_now_ms();
    LOG_INFO("leader ready: %llu files, %llu dirs, %zu chunks, chunk ids reserved up to %llu",
             (unsigned long long)md->fsm->ns->files, (unsigned long long)md->fsm->ns->dirs,
             md->fsm->chunks.n, (unsigned long long)md->fsm->ids_reserved);
    md->on_leadership(md, 1);
  }
  md_waiter_free(w);
}

static void submit_ready(metad *md) {
  ops_op op = {0};
  op.type = OP_META_ADDR;
  op.rid = md->ready_rid = rg_new_rid();
  op.a = md->raft_id;
  op.str = md->listen_addr;
  md_waiter *w = md_waiter_new(NULL, NULL, op.rid, ready_done);
  if (!w) return;
  if (rg_submit(md, &op, NULL, w)) {
    md_waiter_free(w);
    return;
  }
  md->ready_inflight = 1;
}

void rg_poll_leadership(metad *md) {
  int leader = raft_state(&md->raft) == RAFT_LEADER;
  if (leader && md->was_leader && md->raft.current_term != md->leader_term) {
    /* lost and regained leadership between two polls: start over as a new leader */
    LOG_INFO("leadership changed terms (%llu -> %llu)", (unsigned long long)md->leader_term,
             (unsigned long long)md->raft.current_term);
    md->was_leader = 0;
    md->leader_ready = 0;
    md->on_leadership(md, 0);
  }
  if (leader && !md->was_leader) {
    md->leader_term = md->raft.current_term;
    LOG_INFO("became the leader (raft id %llu)", (unsigned long long)md->raft_id);
    md->was_leader = 1;
    md->leader_ready = 0;
  } else if (!leader && md->was_leader) {
    LOG_INFO("lost leadership");
    md->was_leader = 0;
    md->leader_ready = 0;
    md->on_leadership(md, 0);
  }
  if (leader && !md->leader_ready && !md->ready_inflight) submit_ready(md);
}

/* ---- setup and teardown ---- */

/* Adds "id@host:port" peers from raft.peers.N (and this node) to conf. */
static int build_conf(metad *md, struct raft_configuration *conf, char *err, size_t errsz) {
  int have_self = 0;
  for (int i = 0;; i++) {
    char key[64];
    snprintf(key, sizeof key, "raft.peers.%d", i);
    const char *p = dfs_config_str(md->cfg, key, NULL);
    if (!p) break;
    char *end;
    unsigned long long id = strtoull(p, &end, 10);
    char host[256];
    int port;
    if (id == 0 || *end != '@' || dfs_parse_hostport(end + 1, host, sizeof host, &port)) {
      snprintf(err, errsz, "raft.peers: '%s' is not id@host:port", p);
      return DFS_ECONFIG;
    }
    if (id == md->raft_id) {
      have_self = 1;
      if (strcmp(end + 1, md->raft_address)) {
        snprintf(err, errsz, "raft.peers: node %llu is %s but raft.address is %s", id,
                 end + 1, md->raft_address);
        return DFS_ECONFIG;
      }
    }
    if (raft_configuration_add(conf, id, end + 1, RAFT_VOTER)) {
      snprintf(err, errsz, "raft.peers: duplicate id or address in '%s'", p);
      return DFS_ECONFIG;
    }
  }
  if (!have_self && raft_configuration_add(conf, md->raft_id, md->raft_address, RAFT_VOTER)) {
    snprintf(err, errsz, "raft.peers: this node's address %s is used by another id",
             md->raft_address);
    return DFS_ECONFIG;
  }
  return 0;
}

/* The transport's peer check: a connecting node must be a voter of the current raft
 * configuration (the persisted one, so a restart without raft.peers still works) with
 * the address that configuration gives it. */
static const char *peer_check(void *ud, uint64_t id, const char *address) {
  metad *md = ud;
  const struct raft_configuration *c = &md->raft.configuration;
  for (unsigned i = 0; i < c->n; i++) {
    if (c->servers[i].id != id) continue;
    return strcmp(c->servers[i].address, address)
               ? "that id has another address in the raft configuration"
               : NULL;
  }
  return "that raft id is not a voter of this cluster";
}

int rg_init(metad *md, void (*on_leadership)(metad *md, int ready), char *err,
            size_t errsz) {
  int rv;
  md->on_leadership = on_leadership;
  rt_options to = {0};
  to.secret = md->cluster_secret;
  to.handshake_timeout_ms = (uint64_t)md->raft_handshake_ms;
  to.max_pending = (unsigned)md->raft_max_pending;
  to.peer_check = peer_check;
  to.ud = md;
  to.tls_server = md->raft_tls_server;
  to.tls_client = md->raft_tls_client;
  md->transport.data = NULL;
  if ((rv = rt_init(&md->transport, md->loop, &to))) {
    snprintf(err, errsz, "raft transport: %s", raft_strerror(rv));
    return DFS_EINTERNAL;
  }
  if (!*md->cluster_secret && !md->raft_tls_server)
    LOG_WARN("RAFT IS UNAUTHENTICATED (cluster.secret is not set): anyone who reaches "
             "raft.address %s can take part in the metad cluster's consensus",
             md->raft_address);
  else if (!*md->cluster_secret)
    LOG_WARN("raft peers are authenticated by their TLS certificates only (cluster.secret "
             "is not set): any holder of a certificate from tls.ca that names its raft "
             "address's host can take part in consensus");
  if (md->raft_tls_server)
    LOG_INFO("raft: TLS between voters (certificates from %s)",
             dfs_config_str(md->cfg, "tls.ca", "?"));
  else if (md->tls_server)
    LOG_WARN("raft: raft.tls is false: raft traffic between voters is not encrypted");
  if ((rv = raft_uv_init(&md->io, md->loop, md->data_dir, &md->transport))) {
    snprintf(err, errsz, "raft storage in %s: %s", md->data_dir, raft_strerror(rv));
    rt_free(&md->transport);
    return DFS_EIO;
  }
  md->raft_fsm.version = 1;
  md->raft_fsm.data = md;
  md->raft_fsm.apply = fsm_apply_cb;
  md->raft_fsm.snapshot = fsm_snapshot_cb;
  md->raft_fsm.restore = fsm_restore_cb;
  if ((rv = raft_init(&md->raft, &md->io, &md->raft_fsm, md->raft_id, md->raft_address))) {
    snprintf(err, errsz, "cannot start raft on the data directory %s: %s", md->data_dir,
             raft_strerror(rv));
    raft_uv_close(&md->io);
    rt_free(&md->transport);
    return DFS_EINTERNAL;
  }
  md->raft.data = md;
  raft_set_pre_vote(&md->raft, true);
  raft_set_election_timeout(&md->raft, (unsigned)md->election_ms);
  raft_set_heartbeat_timeout(&md->raft, (unsigned)md->raft_heartbeat_ms);
  raft_set_snapshot_threshold(&md->raft, (unsigned)md->snapshot_threshold);
  raft_set_snapshot_trailing(&md->raft, (unsigned)md->snapshot_trailing);
  raft_set_max_inflight_entries(&md->raft, (unsigned)md->max_inflight);
  raft_seed(&md->raft, (unsigned)dfs_random_u64());

  struct raft_configuration conf;
  raft_configuration_init(&conf);
  int rc = build_conf(md, &conf, err, errsz);
  if (!rc) {
    rv = raft_bootstrap(&md->raft, &conf);
    if (rv == 0) LOG_INFO("bootstrapped a new cluster of %u voter(s)", conf.n);
    else if (rv != RAFT_CANTBOOTSTRAP) {
      snprintf(err, errsz, "raft_bootstrap: %s", raft_strerror(rv));
      rc = DFS_EIO;
    }
  }
  raft_configuration_close(&conf);
  if (!rc && (rv = raft_start(&md->raft))) {
    snprintf(err, errsz, "cannot start raft (%s%s%s): is raft.address %s free, and %s this "
             "node's own data directory?", raft_strerror(rv), *raft_errmsg(&md->raft) ? ": " : "",
             raft_errmsg(&md->raft), md->raft_address, md->data_dir);
    rc = DFS_EIO;
  }
  if (rc) {
    /* raft_init succeeded: it must be closed through raft_close; the caller exits */
    return rc;
  }
  md->raft_started = 1;
  uv_check_init(md->loop, &md->flush_check);
  md->flush_check.data = md;
  return 0;
}

static void on_raft_closed(struct raft *r) {
  metad *md = r->data;
  raft_uv_close(&md->io);
  rt_free(&md->transport);
  if (md->rg_closed) md->rg_closed(md);
}

void rg_close(metad *md, void (*cb)(metad *md)) {
  md->rg_closed = cb;
  md->shutting_down = 1;
  if (md->raft_started) {
    uv_check_stop(&md->flush_check);
    uv_close((uv_handle_t *)&md->flush_check, NULL);
  }
  if (md->pending) {
    md_batch *b = md->pending;
    md->pending = NULL;
    batch_complete(b, DFS_EUNAVAIL);
  }
  raft_close(&md->raft, on_raft_closed);
}
