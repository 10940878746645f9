/* chunkd -> metad link (see meta_link.h, docs/internals.md "chunkd <-> metad").
 *
 * States (one connection at a time):
 *   IDLE --timer--> STATS (statvfs on the thread pool) --> REGISTER (call in flight)
 *   REGISTER --ok--> INVENTORY (one batch call in flight at a time) --last ok--> RUNNING
 *   RUNNING --heartbeat timer--> HB_STATS --> HB_CALL --ok--> RUNNING
 *   HB_CALL --ok with send_inventory--> INVENTORY (same connection) --last ok--> RUNNING
 *   meta_link_kick (copy result, bad replica): the next heartbeat is due at once, but
 *   no sooner than KICK_GAP_MS after the last one; meta_link_chunk_stored (a client's
 *   write landed): due NEW_REPORT_GAP_MS after the last one
 * Heartbeats carry copy results and bad replicas; they are dropped only once a
 * heartbeat carrying them was answered (else resent after reconnecting).
 *   any error --> IDLE with the timer at the current backoff, next metad address
 *   reregister, or a full report wanted (quarantined chunk) --> IDLE, timer 0
 * Invariants: (1) conn != NULL iff state is REGISTER, INVENTORY, RUNNING, HB_STATS or
 * HB_CALL, and we hold one reference on it; (2) at most one call or stats work item is
 * outstanding; callbacks from an older connection (c != ml->conn) are ignored;
 * (3) backoff is 100 ms after a successful registration, doubling to 2 s per failure. */
#include "chunkd/meta_link.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunk_meta.pb-c.h"
#include "chunkd/copy_jobs.h"
#include "common.pb-c.h"
#include "common/conn.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define CALL_TIMEOUT_MS 10000
#define DEFAULT_HB_MS 10000
#define KICK_GAP_MS 50 /* early heartbeats at most this often */
/* New chunks are reported at most this long after they land (not only every heartbeat
 * interval, 10 s by default): metad releases the space it promised for them and the
 * uploader's in-flight count on that report, so a fast upload is not refused */
#define NEW_REPORT_GAP_MS 500

enum ml_state { ML_IDLE, ML_STATS, ML_REGISTER, ML_INVENTORY, ML_RUNNING, ML_HB_STATS, ML_HB_CALL };

struct meta_link {
  chunkd_state *st;
  meta_addrs addrs;
  int cur; /* index into addrs of the metad we talk to */
  char adv_host[256];
  int adv_port;
  enum ml_state state;
  dfs_conn *conn;
  uv_timer_t timer;
  uint64_t backoff_ms;
  uint32_t hb_ms;
  int stopping;
  unsigned failures; /* consecutive, for quieter logs while metad is down */
  int want_report;   /* meta_link_request_report: re-register after the next heartbeat */
  int kick;          /* something to report (copy result, bad chunk): heartbeat early */
  int new_stored;    /* a client's chunk landed since the last heartbeat: report it soon */
  uint64_t last_hb_ms;
  /* reported in the heartbeat in flight; kept for the next one if it fails */
  copy_result *res;
  size_t nres;
  chunk_ref *bad;
  size_t nbad;
  int reports_unsent; /* the heartbeat in flight could not carry them (out of memory) */
  /* inventory being sent */
  chunk_info *inv;
  size_t ninv, inv_off;
};

struct stats_work {
  uv_work_t work;
  meta_link *ml;
  dfs_conn *conn; /* the connection it was started for (NULL when registering) */
  int rc;
  chunk_store_stats stats;
};

struct delete_work {
  uv_work_t work;
  chunkd_state *st;
  size_t n, deleted;
  int exact;            /* ids[] are id,version pairs (delete_versions) */
  uint64_t ids[];
};

static void ml_arm(meta_link *ml, uint64_t ms);
static void ml_send_batch(meta_link *ml);

/* ---- helpers -------------------------------------------------------------------- */

/* Drops the connection and anything in progress; registers again after delay_ms. */
static void ml_reset(meta_link *ml, uint64_t delay_ms) {
  if (ml->conn) {
    dfs_conn *c = ml->conn;
    ml->conn = NULL;
    dfs_conn_close(c);
    dfs_conn_unref(c);
  }
  free(ml->inv);
  ml->inv = NULL;
  ml->ninv = ml->inv_off = 0;
  ml->state = ML_IDLE;
  ml_arm(ml, delay_ms);
}

static void ml_fail(meta_link *ml, const char *what, int err, const char *msg) {
  if (ml->stopping) return;
  ml->failures++;
  dfs_log(ml->failures == 1 || ml->failures % 30 == 0 ? DFS_LOG_WARN : DFS_LOG_DEBUG,
          "metad %s:%d: %s failed: %s%s%s; retrying in %" PRIu64 " ms (attempt %u)",
          ml->addrs.host[ml->cur], ml->addrs.port[ml->cur], what, dfs_strerror(err),
          msg && msg[0] ? " - " : "", msg ? msg : "", ml->backoff_ms, ml->failures);
  /* A metad that answers "not the leader" (naming it) or "no leader yet" is a cluster
   * in or just after an election: go to the leader named, else to the next address, soon
   * (without the doubling that spares a metad that is down). */
  int electing = err == DFS_ENOTLEADER || err == DFS_EUNAVAIL;
  int leader = -1;
  char host[256];
  int port;
  if (err == DFS_ENOTLEADER && msg && dfs_find_hostport(msg, host, sizeof host, &port) == 0)
    for (int i = 0; i < ml->addrs.n; i++)
      if (ml->addrs.port[i] == port && strcmp(ml->addrs.host[i], host) == 0) leader = i;
  ml_reset(ml, electing ? BACKOFF_MIN_MS : ml->backoff_ms);
  ml->cur = leader >= 0 ? leader : (ml->cur + 1) % ml->addrs.n; /* several metads */
  if (!electing)
    ml->backoff_ms = ml->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ml->backoff_ms * 2;
}

/* Checks a reply frame: MSG_ERROR or a wrong type -> error; otherwise 0. */
static int ml_reply_frame(const dfs_msg *m, uint16_t want, char *why, size_t whysz) {
  if (m->hdr.type == DFS__MSG_TYPE__MSG_ERROR) {
    Dfs__ErrorReply *e = dfs__error_reply__unpack(NULL, m->hdr.payload_len, m->payload);
    int rc = e && e->status && e->status->error < 0 ? e->status->error : DFS_EPROTO;
    snprintf(why, whysz, "%s", e && e->status ? e->status->message : "");
    if (e) dfs__error_reply__free_unpacked(e, NULL);
    return rc;
  }
  if (m->hdr.type != want) {
    snprintf(why, whysz, "unexpected reply type %u", m->hdr.type);
    return DFS_EPROTO;
  }
  return 0;
}

static int ml_status(const Dfs__Status *s, char *why, size_t whysz) {
  if (!s) return 0; /* proto3: an absent Status means success */
  if (s->error) snprintf(why, whysz, "%s", s->message ? s->message : "");
  return s->error < 0 ? s->error : s->error ? DFS_EPROTO : 0;
}

static void delete_work_run(uv_work_t *w) {
  struct delete_work *d = w->data;
  for (size_t i = 0; i < d->n; i++) {
    int rc = d->exact ? chunk_store_delete_version(d->st->store, d->ids[2 * i], d->ids[2 * i + 1])
                      : chunk_store_delete(d->st->store, d->ids[i]);
    if (rc == 0) d->deleted++;
  }
}

static void delete_work_done(uv_work_t *w, int status) {
  struct delete_work *d = w->data;
  chunkd_work_done(d->st);
  LOG_INFO("deleted %zu of %zu chunk%s metad asked to delete", d->deleted, d->n,
           d->exact ? " versions" : "s");
  free(d);
}

/* Marks (on = 1) the chunks of d as ordered deleted before d is queued, so that from this
 * moment on a copy job cannot count them as "already stored" nor a write as done, and no
 * report lists them (chunk_store_delete_ordered); on = 0 undoes it if d was not queued. */
static void delete_mark(struct delete_work *d, int on) {
  for (size_t i = 0; i < d->n; i++)
    if (d->exact)
      chunk_store_delete_ordered(d->st->store, d->ids[2 * i], d->ids[2 * i + 1], on);
    else
      chunk_store_delete_ordered(d->st->store, d->ids[i], 0, on);
}

/* Deletes chunks on the thread pool (metad's orders). */
/* Queues the deletes metad ordered: ids (any version) or, with refs, exact id+version
 * pairs. Marked before the work is queued (delete_mark); n of one kind. */
static void ml_delete_any(meta_link *ml, const uint64_t *ids, Dfs__ChunkRef **refs, size_t n) {
  if (n == 0) return;
  size_t words = refs ? 2 * n : n;
  struct delete_work *d = malloc(sizeof *d + words * sizeof(uint64_t));
  if (!d) {
    LOG_WARN("out of memory for %zu deletions (metad will ask again)", n);
    return;
  }
  d->work.data = d;
  d->st = ml->st;
  d->n = n;
  d->deleted = 0;
  d->exact = refs != NULL;
  for (size_t i = 0; i < n; i++) {
    if (refs) {
      d->ids[2 * i] = refs[i]->chunk_id;
      d->ids[2 * i + 1] = refs[i]->version;
    } else {
      d->ids[i] = ids[i];
    }
  }
  delete_mark(d, 1);
  if (chunkd_queue_work(ml->st, &d->work, delete_work_run, delete_work_done) < 0) {
    delete_mark(d, 0);
    free(d);
  }
}

/* metad's verify orders (a reader reported these replicas unreadable): each chunk is
 * re-read and its CRCs checked on the thread pool, as the scrubber does; a corrupt one is
 * quarantined by the store and reported through st->corrupt_found like the scrubber's. */
#define ML_VERIFY_MAX 64
struct verify_work {
  uv_work_t work;
  chunkd_state *st;
  size_t n, bad;
  uint64_t ids[];
};

static void verify_work_run(uv_work_t *w) {
  struct verify_work *v = w->data;
  for (size_t i = 0; i < v->n; i++) {
    uint64_t bytes = 0;
    if (chunk_store_verify(v->st->store, v->ids[i], &bytes) == DFS_ECHECKSUM) v->bad++;
  }
}

static void verify_work_done(uv_work_t *w, int status) {
  struct verify_work *v = w->data;
  chunkd_work_done(v->st);
  LOG_INFO("verified %zu chunk(s) metad asked about: %zu corrupt%s", v->n, v->bad,
           status < 0 ? " (cancelled)" : "");
  if (v->bad && v->st->corrupt_found) v->st->corrupt_found(v->st->corrupt_ud);
  free(v);
}

static void ml_verify(meta_link *ml, const uint64_t *ids, size_t n) {
  if (n == 0) return;
  if (n > ML_VERIFY_MAX) n = ML_VERIFY_MAX;
  struct verify_work *v = malloc(sizeof *v + n * sizeof(uint64_t));
  if (!v) return; /* best effort: a reader will report it again */
  v->work.data = v;
  v->st = ml->st;
  v->n = n;
  v->bad = 0;
  memcpy(v->ids, ids, n * sizeof(uint64_t));
  if (chunkd_queue_work(ml->st, &v->work, verify_work_run, verify_work_done) < 0) free(v);
}

static void ml_delete(meta_link *ml, const uint64_t *ids, size_t n) {
  ml_delete_any(ml, ids, NULL, n);
}

static void ml_delete_versions(meta_link *ml, Dfs__ChunkRef **refs, size_t n) {
  ml_delete_any(ml, NULL, refs, n);
}

static void chunk_report_fill(Dfs__ChunkReport *r, const chunk_info *ci, int64_t now) {
  dfs__chunk_report__init(r);
  r->chunk_id = ci->id;
  r->version = ci->version;
  r->length = ci->length;
  r->crc32c = ci->crc;
  r->age_s = now > ci->mtime_s ? (uint64_t)(now - ci->mtime_s) : 0;
}

/* ---- stats on the thread pool, then register or heartbeat ----------------------- */

static void stats_run(uv_work_t *w) {
  struct stats_work *sw = w->data;
  sw->rc = chunk_store_stats_get(sw->ml->st->store, &sw->stats);
}

static void register_reply(dfs_conn *c, int status, dfs_msg *m, void *ud);
static void heartbeat_reply(dfs_conn *c, int status, dfs_msg *m, void *ud);

static void ml_register(meta_link *ml, const chunk_store_stats *cs) {
  dfs_conn_opts o = {.limits = {DFS_MAX_PAYLOAD, 0}, .tls = ml->st->tls_client};
  ml->conn = dfs_conn_connect(ml->st->loop, ml->addrs.host[ml->cur], ml->addrs.port[ml->cur], &o,
                              NULL, NULL);
  if (!ml->conn) {
    ml_fail(ml, "connect", DFS_ENOMEM, NULL);
    return;
  }
  dfs_conn_ref(ml->conn);
  ml->state = ML_REGISTER;
  Dfs__RegisterReq req = DFS__REGISTER_REQ__INIT;
  req.server_uuid = (char *)chunk_store_uuid(ml->st->store);
  req.host = ml->adv_host;
  req.port = (uint32_t)ml->adv_port;
  req.capacity_bytes = cs->capacity_bytes;
  req.free_bytes = cs->free_bytes;
  req.chunk_count = cs->chunk_count;
  req.chunk_bytes = cs->used_bytes;
  req.cluster_secret = (char *)(ml->st->cluster_secret ? ml->st->cluster_secret : "");
  int rc = dfs_conn_call(ml->conn, DFS__MSG_TYPE__MSG_CHUNK_TO_META_REGISTER, &req.base, NULL, 0,
                         NULL, NULL, CALL_TIMEOUT_MS, register_reply, ml);
  if (rc) ml_fail(ml, "register", rc == DFS_ECLOSED ? DFS_ECONN : rc, NULL);
}

static void ml_heartbeat(meta_link *ml, const chunk_store_stats *cs) {
  chunk_info *fresh = NULL;
  size_t n = 0;
  Dfs__ChunkReport *reps = NULL, **ptrs = NULL;
  if (chunk_store_take_new(ml->st->store, &fresh, &n) == 0 && n) {
    reps = malloc(n * sizeof *reps);
    ptrs = malloc(n * sizeof *ptrs);
    if (!reps || !ptrs) {
      n = 0; /* lost for this heartbeat; the next full inventory reports them */
      LOG_WARN("out of memory for the new-chunk report");
    }
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
      chunk_report_fill(&reps[i], &fresh[i], now);
      ptrs[i] = &reps[i];
    }
  }
  Dfs__HeartbeatReq req = DFS__HEARTBEAT_REQ__INIT;
  req.server_id = ml->st->server_id;
  req.capacity_bytes = cs->capacity_bytes;
  req.free_bytes = cs->free_bytes;
  req.chunk_count = cs->chunk_count;
  req.chunk_bytes = cs->used_bytes;
  req.load = ml->st->load;
  req.n_new_chunks = n;
  req.new_chunks = ptrs;
  req.disk_errors = cs->io_errors;
  req.disk_failing = cs->disk_failing != 0;
  req.reserve_bytes = cs->reserve_bytes;
  ml->kick = 0;
  ml->new_stored = 0;
  ml->last_hb_ms = dfs_now_ms();
  /* copy results and bad replicas: add the new ones to those not yet acknowledged */
  copy_jobs *cj = ml->st->copies;
  if (cj) {
    req.copy_slots_free = copy_jobs_slots_free(cj);
    req.copies_running = copy_jobs_running(cj);
    copy_result *nr = NULL;
    size_t nn = 0;
    copy_jobs_take_results(cj, &nr, &nn);
    if (nn) {
      copy_result *all = realloc(ml->res, (ml->nres + nn) * sizeof *all);
      if (all) {
        memcpy(all + ml->nres, nr, nn * sizeof *all);
        ml->res = all;
        ml->nres += nn;
      } else {
        LOG_WARN("out of memory for %zu copy results (metad times the jobs out)", nn);
      }
      free(nr);
    }
  }
  chunk_ref *nb = NULL;
  size_t nnb = 0;
  if (chunk_store_take_bad(ml->st->store, &nb, &nnb) == 0 && nnb) {
    chunk_ref *all = realloc(ml->bad, (ml->nbad + nnb) * sizeof *all);
    if (all) {
      memcpy(all + ml->nbad, nb, nnb * sizeof *all);
      ml->bad = all;
      ml->nbad += nnb;
    } else {
      LOG_WARN("out of memory for %zu bad-chunk reports", nnb);
    }
    free(nb);
  }
  Dfs__CopyResult *crs = ml->nres ? calloc(ml->nres, sizeof *crs) : NULL;
  Dfs__CopyResult **crp = ml->nres ? calloc(ml->nres, sizeof *crp) : NULL;
  Dfs__Status *sts = ml->nres ? calloc(ml->nres, sizeof *sts) : NULL;
  Dfs__ChunkRef *brs = ml->nbad ? calloc(ml->nbad, sizeof *brs) : NULL;
  Dfs__ChunkRef **brp = ml->nbad ? calloc(ml->nbad, sizeof *brp) : NULL;
  if ((ml->nres && (!crs || !crp || !sts)) || (ml->nbad && (!brs || !brp))) {
    LOG_WARN("out of memory for the heartbeat's reports; sending them next time");
    ml->kick = 1;
    ml->reports_unsent = 1;
  } else {
    ml->reports_unsent = 0;
    for (size_t i = 0; i < ml->nres; i++) {
      dfs__copy_result__init(&crs[i]);
      dfs__status__init(&sts[i]);
      crs[i].job_id = ml->res[i].job_id;
      crs[i].chunk_id = ml->res[i].chunk_id;
      crs[i].bytes = ml->res[i].bytes;
      DFS_STATUS_INIT_ERR(sts[i], ml->res[i].error, ml->res[i].message);
      crs[i].status = &sts[i];
      crp[i] = &crs[i];
    }
    req.copy_results = crp;
    req.n_copy_results = ml->nres;
    for (size_t i = 0; i < ml->nbad; i++) {
      dfs__chunk_ref__init(&brs[i]);
      brs[i].chunk_id = ml->bad[i].id;
      brs[i].version = ml->bad[i].version;
      brp[i] = &brs[i];
    }
    req.bad_chunks = brp;
    req.n_bad_chunks = ml->nbad;
  }
  ml->state = ML_HB_CALL;
  int rc = dfs_conn_call(ml->conn, DFS__MSG_TYPE__MSG_CHUNK_TO_META_HEARTBEAT, &req.base, NULL, 0,
                         NULL, NULL, CALL_TIMEOUT_MS, heartbeat_reply, ml);
  free(fresh);
  free(reps);
  free(ptrs);
  free(crs);
  free(crp);
  free(sts);
  free(brs);
  free(brp);
  if (rc) ml_fail(ml, "heartbeat", rc, NULL);
}

static void stats_done(uv_work_t *w, int status) {
  struct stats_work *sw = w->data;
  meta_link *ml = sw->ml;
  chunkd_work_done(ml->st);
  int rc = status < 0 ? DFS_EINTERNAL : sw->rc;
  if (ml->stopping) goto out;
  if (rc) LOG_WARN("cannot get disk statistics: %s", dfs_strerror(rc));
  if (ml->state == ML_STATS) {
    ml_register(ml, &sw->stats);
  } else if (ml->state == ML_HB_STATS && sw->conn == ml->conn) {
    ml_heartbeat(ml, &sw->stats);
  }
out:
  free(sw);
}

static void ml_start_stats(meta_link *ml, enum ml_state next) {
  struct stats_work *sw = calloc(1, sizeof *sw);
  if (!sw) {
    ml_fail(ml, "statistics", DFS_ENOMEM, NULL);
    return;
  }
  sw->ml = ml;
  sw->conn = ml->conn;
  sw->work.data = sw;
  ml->state = next;
  if (chunkd_queue_work(ml->st, &sw->work, stats_run, stats_done) < 0) {
    free(sw);
    ml_fail(ml, "statistics", DFS_EINTERNAL, NULL);
  }
}

/* The heartbeat carrying ml->res and ml->bad was answered: they are delivered. */
static void ml_acked(meta_link *ml) {
  free(ml->res);
  ml->res = NULL;
  ml->nres = 0;
  free(ml->bad);
  ml->bad = NULL;
  ml->nbad = 0;
}

/* RUNNING: schedules the next heartbeat, early (KICK_GAP_MS after the last one) when
 * there is something to report. */
static void ml_arm_next(meta_link *ml) {
  uint64_t ms = ml->hb_ms;
  if (ml->kick || ml->new_stored) {
    uint64_t now = dfs_now_ms();
    uint64_t due = ml->last_hb_ms + (ml->kick ? KICK_GAP_MS : NEW_REPORT_GAP_MS);
    uint64_t early = due > now ? due - now : 0;
    if (early < ms) ms = early;
  }
  ml_arm(ml, ms);
}

static void on_timer(uv_timer_t *t) {
  meta_link *ml = t->data;
  if (ml->stopping) return;
  if (ml->state == ML_IDLE)
    ml_start_stats(ml, ML_STATS);
  else if (ml->state == ML_RUNNING)
    ml_start_stats(ml, ML_HB_STATS);
}

static void ml_arm(meta_link *ml, uint64_t ms) { uv_timer_start(&ml->timer, on_timer, ms, 0); }

/* ---- replies -------------------------------------------------------------------- */

static void register_reply(dfs_conn *c, int status, dfs_msg *m, void *ud) {
  meta_link *ml = ud;
  char why[256] = "";
  int rc = status;
  Dfs__RegisterRep *r = NULL;
  if (c != ml->conn || ml->stopping) goto out;
  if (rc == DFS_ECLOSED) rc = DFS_ECONN;
  if (!rc) rc = ml_reply_frame(m, DFS__MSG_TYPE__MSG_META_TO_CHUNK_REGISTER, why, sizeof why);
  if (!rc) {
    r = dfs__register_rep__unpack(NULL, m->hdr.payload_len, m->payload);
    rc = r ? ml_status(r->status, why, sizeof why) : DFS_EPROTO;
  }
  if (!rc && r->server_id == 0) {
    rc = DFS_EPROTO;
    snprintf(why, sizeof why, "server id 0");
  }
  if (rc) {
    ml_fail(ml, "register", rc, why);
    goto out;
  }
  if (ml->st->server_id && ml->st->server_id != r->server_id)
    LOG_WARN("metad changed our server id from %" PRIu64 " to %" PRIu64, ml->st->server_id,
             r->server_id);
  ml->st->server_id = r->server_id;
  ml->hb_ms = r->heartbeat_ms ? r->heartbeat_ms : DEFAULT_HB_MS;
  if (ml->hb_ms < 10) ml->hb_ms = 10;
  if (ml->hb_ms > 600000) ml->hb_ms = 600000;
  ml->backoff_ms = BACKOFF_MIN_MS;
  ml->failures = 0;
  LOG_INFO("registered with metad %s:%d as server %" PRIu64 " (uuid %s), heartbeat %u ms",
           ml->addrs.host[ml->cur], ml->addrs.port[ml->cur], r->server_id,
           chunk_store_uuid(ml->st->store), ml->hb_ms);
  rc = chunk_store_snapshot(ml->st->store, &ml->inv, &ml->ninv);
  if (rc) {
    ml_fail(ml, "inventory", rc, NULL);
    goto out;
  }
  ml->inv_off = 0;
  ml->state = ML_INVENTORY;
  ml_send_batch(ml);
out:
  if (r) dfs__register_rep__free_unpacked(r, NULL);
  if (m) dfs_msg_free(m);
}

static void inventory_reply(dfs_conn *c, int status, dfs_msg *m, void *ud) {
  meta_link *ml = ud;
  char why[256] = "";
  int rc = status;
  Dfs__InventoryRep *r = NULL;
  if (c != ml->conn || ml->stopping) goto out;
  if (!rc) rc = ml_reply_frame(m, DFS__MSG_TYPE__MSG_META_TO_CHUNK_INVENTORY, why, sizeof why);
  if (!rc) {
    r = dfs__inventory_rep__unpack(NULL, m->hdr.payload_len, m->payload);
    rc = r ? ml_status(r->status, why, sizeof why) : DFS_EPROTO;
  }
  if (rc) {
    ml_fail(ml, "inventory", rc, why);
    goto out;
  }
  ml_delete(ml, r->delete_chunks, r->n_delete_chunks);
  if (ml->inv_off < ml->ninv) {
    ml_send_batch(ml);
    goto out;
  }
  LOG_INFO("inventory of %zu chunks reported to metad", ml->ninv);
  free(ml->inv);
  ml->inv = NULL;
  ml->ninv = ml->inv_off = 0;
  ml->state = ML_RUNNING;
  ml_arm_next(ml);
out:
  if (r) dfs__inventory_rep__free_unpacked(r, NULL);
  if (m) dfs_msg_free(m);
}

static void ml_send_batch(meta_link *ml) {
  size_t n = ml->ninv - ml->inv_off;
  if (n > META_INVENTORY_BATCH) n = META_INVENTORY_BATCH;
  Dfs__ChunkReport *reps = n ? malloc(n * sizeof *reps) : NULL;
  Dfs__ChunkReport **ptrs = n ? malloc(n * sizeof *ptrs) : NULL;
  if (n && (!reps || !ptrs)) {
    free(reps);
    free(ptrs);
    ml_fail(ml, "inventory", DFS_ENOMEM, NULL);
    return;
  }
  int64_t now = (int64_t)time(NULL);
  for (size_t i = 0; i < n; i++) {
    chunk_report_fill(&reps[i], &ml->inv[ml->inv_off + i], now);
    ptrs[i] = &reps[i];
  }
  ml->inv_off += n;
  Dfs__InventoryReq req = DFS__INVENTORY_REQ__INIT;
  req.server_id = ml->st->server_id;
  req.chunks = ptrs;
  req.n_chunks = n;
  req.last = ml->inv_off == ml->ninv;
  int rc = dfs_conn_call(ml->conn, DFS__MSG_TYPE__MSG_CHUNK_TO_META_INVENTORY, &req.base, NULL, 0,
                         NULL, NULL, CALL_TIMEOUT_MS, inventory_reply, ml);
  free(reps);
  free(ptrs);
  if (rc) ml_fail(ml, "inventory", rc, NULL);
}

static void heartbeat_reply(dfs_conn *c, int status, dfs_msg *m, void *ud) {
  meta_link *ml = ud;
  char why[256] = "";
  int rc = status;
  Dfs__HeartbeatRep *r = NULL;
  if (c != ml->conn || ml->stopping) goto out;
  if (!rc) rc = ml_reply_frame(m, DFS__MSG_TYPE__MSG_META_TO_CHUNK_HEARTBEAT, why, sizeof why);
  if (!rc) {
    r = dfs__heartbeat_rep__unpack(NULL, m->hdr.payload_len, m->payload);
    rc = r ? ml_status(r->status, why, sizeof why) : DFS_EPROTO;
  }
  if (rc) {
    ml_fail(ml, "heartbeat", rc, why);
    goto out;
  }
  /* metad has the reports now */
  if (!ml->reports_unsent) ml_acked(ml);
  ml_delete(ml, r->delete_chunks, r->n_delete_chunks);
  ml_delete_versions(ml, r->delete_versions, r->n_delete_versions);
  ml_verify(ml, r->verify_chunks, r->n_verify_chunks);
  if (ml->st->copies)
    for (size_t i = 0; i < r->n_copy_jobs; i++) copy_jobs_add(ml->st->copies, r->copy_jobs[i]);
  if (r->reregister) {
    LOG_INFO("metad asks us to register again");
    ml->backoff_ms = BACKOFF_MIN_MS;
    ml_fail(ml, "heartbeat", DFS_ESTALE, "metad does not know this server");
    goto out;
  }
  if (ml->want_report) {
    ml->want_report = 0;
    LOG_INFO("registering again to send metad a full inventory (a chunk was quarantined)");
    ml_reset(ml, 0);
    goto out;
  }
  if (r->send_inventory) {
    LOG_INFO("metad asks for a full inventory");
    int irc = chunk_store_snapshot(ml->st->store, &ml->inv, &ml->ninv);
    if (irc) {
      ml_fail(ml, "inventory", irc, NULL);
      goto out;
    }
    ml->inv_off = 0;
    ml->state = ML_INVENTORY;
    ml_send_batch(ml);
    goto out;
  }
  ml->state = ML_RUNNING;
  ml_arm_next(ml);
out:
  if (r) dfs__heartbeat_rep__free_unpacked(r, NULL);
  if (m) dfs_msg_free(m);
}

/* ---- lifecycle ------------------------------------------------------------------ */

int meta_addrs_add(meta_addrs *a, const char *list) {
  const char *p = list;
  for (;;) {
    size_t n = strcspn(p, ",");
    char one[300];
    if (n == 0 || n >= sizeof one || a->n >= META_MAX_ADDRS) return DFS_EINVAL;
    memcpy(one, p, n);
    one[n] = '\0';
    if (dfs_parse_hostport(one, a->host[a->n], sizeof a->host[0], &a->port[a->n]))
      return DFS_EINVAL;
    a->n++;
    if (!p[n]) return 0;
    p += n + 1;
  }
}

int meta_link_start(chunkd_state *st, const meta_addrs *addrs, const char *adv_host, int adv_port,
                    meta_link **out) {
  if (addrs->n < 1) return DFS_EINVAL;
  meta_link *ml = calloc(1, sizeof *ml);
  if (!ml) return DFS_ENOMEM;
  ml->st = st;
  ml->addrs = *addrs;
  snprintf(ml->adv_host, sizeof ml->adv_host, "%s", adv_host);
  ml->adv_port = adv_port;
  ml->backoff_ms = BACKOFF_MIN_MS;
  ml->state = ML_IDLE;
  uv_timer_init(st->loop, &ml->timer);
  ml->timer.data = ml;
  ml_arm(ml, 0);
  *out = ml;
  return 0;
}

void meta_link_request_report(void *ud) {
  meta_link *ml = ud;
  if (!ml->stopping) ml->want_report = 1;
}

void meta_link_kick(void *ud) {
  meta_link *ml = ud;
  if (ml->stopping) return;
  ml->kick = 1;
  if (ml->state == ML_RUNNING) ml_arm_next(ml); /* else armed when the call in flight ends */
}

void meta_link_chunk_stored(void *ud) {
  meta_link *ml = ud;
  if (ml->stopping || ml->new_stored) return; /* already due soon */
  ml->new_stored = 1;
  if (ml->state == ML_RUNNING) ml_arm_next(ml); /* else armed when the call in flight ends */
}

void meta_link_stop(meta_link *ml) {
  if (ml->stopping) return;
  ml->stopping = 1;
  uv_timer_stop(&ml->timer);
  uv_close((uv_handle_t *)&ml->timer, NULL);
  if (ml->conn) {
    dfs_conn *c = ml->conn;
    ml->conn = NULL;
    dfs_conn_close(c);
    dfs_conn_unref(c);
  }
}

void meta_link_free(meta_link *ml) {
  if (!ml) return;
  free(ml->inv);
  free(ml->res);
  free(ml->bad);
  free(ml);
}
