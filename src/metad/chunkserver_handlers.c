/* chunkserver_handlers: chunkd <-> metad (chunk_meta.proto): Register (uuid -> stable
 * server id, through the log the first time), Inventory (reconcile a server's chunks
 * against the chunk table: add locations, order deletes of stale and orphaned chunks)
 * and Heartbeat (stats, liveness, new chunks, pending deletes). A chunkserver proves
 * itself with the cluster secret in Register; only then is its connection authenticated.
 * Also md_on_request, the one dispatch point of the listening socket: client requests
 * go through auth.c (token -> user) first. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunk_meta.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/auth.h"
#include "metad/handlers.h"
#include "metad/limits.h"
#include "metad/promises.h"
#include "metad/uploads.h"
#include "metad/raft_glue.h"
#include "metad/replication.h"

#define MAX_DELETES_PER_REPLY 4096
#define MAX_JOBS_PER_REPLY 64
#define MAX_SOURCES 8
#define MSGSZ 512

typedef struct {
  uint64_t *v;
  size_t n, cap;
} idvec;

static void idvec_push(idvec *d, uint64_t id) {
  if (d->n == d->cap) {
    size_t ncap = d->cap ? d->cap * 2 : 64;
    uint64_t *nv = realloc(d->v, ncap * sizeof *nv);
    if (!nv) return; /* a delete that is not sent now is found again next inventory */
    d->v = nv;
    d->cap = ncap;
  }
  d->v[d->n++] = id;
}

/* The server registered on c with this id, or NULL. */
static server_ent *server_on_conn(metad *md, dfs_conn *c, uint64_t id) {
  server_ent *e = servers_get(&md->fsm->servers, id);
  return e && e->registered && e->conn == c ? e : NULL;
}

/* Reconciles one reported chunk of server e; appends to dels what e must delete. */
static void reconcile(metad *md, server_ent *e, const Dfs__ChunkReport *r, idvec *dels) {
  if (!r) return;
  /* on its disk now, and in the free space it reports: no longer promised, and no
   * longer in flight for its uploader (a file of more than limits.allocs_in_flight
   * chunks is written before its one commit: counting until the commit refused it) */
  promises_reported(md->promises, &md->fsm->servers, r->chunk_id, e->id);
  limits_alloc_done(md->limits, r->chunk_id);
  chunk_ent *ce = chunks_get(&md->fsm->chunks, r->chunk_id);
  if (ce) {
    if (r->version == ce->version) {
      if (r->length == ce->length && r->crc32c == ce->crc32c) {
        /* not if we just told it to delete this replica (trim): the report may predate
         * it. A tomb from before the server's last full inventory was asked for does not
         * count: chunkd leaves replicas it was ordered to delete out of every report from
         * the moment the order arrives, so a report on a later connection (a restart) or
         * after send_inventory shows what is on its disk; ignoring it would leave a
         * replica that exists unlisted until the next inventory. */
        uint64_t now = dfs_now_ms();
        uint64_t age = now > e->inventory_ms ? now - e->inventory_ms : 0;
        if (age > SERVERS_TOMB_MS) age = SERVERS_TOMB_MS;
        if (!servers_recently_deleted(&md->fsm->servers, e->id, r->chunk_id, r->version, now,
                                      age))
          chunks_add_loc(&md->fsm->chunks, r->chunk_id, e->id);
      } else {
        LOG_WARN("server %llu has chunk %llu v%llu with length %u crc %08x, expected %u %08x; "
                 "not used", (unsigned long long)e->id, (unsigned long long)r->chunk_id,
                 (unsigned long long)r->version, r->length, r->crc32c, ce->length,
                 ce->crc32c);
      }
    } else if (r->version < ce->version) {
      /* stale replica: delete exactly that version (next heartbeat reply) */
      servers_queue_delete_version(&md->fsm->servers, e->id, r->chunk_id, r->version);
    } else {
      LOG_WARN("server %llu reports chunk %llu v%llu newer than metad's v%llu; left alone",
               (unsigned long long)e->id, (unsigned long long)r->chunk_id,
               (unsigned long long)r->version, (unsigned long long)ce->version);
    }
    return;
  }
  /* not part of any file: an upload in progress, or garbage once old enough */
  if ((int64_t)r->age_s * 1000 >= md->orphan_grace_ms || r->age_s > (1ull << 40))
    idvec_push(dels, r->chunk_id);
  else /* look again when it is old enough (handlers_poll) */
    servers_watch_chunk(&md->fsm->servers, e->id, r->chunk_id,
                        dfs_now_ms() + (uint64_t)md->orphan_grace_ms - r->age_s * 1000);
}

/* ---- Register ---- */

static int uuid_ok(const char *u) {
  size_t n = strlen(u);
  if (n == 0 || n > SERVERS_UUID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)u[i]) && u[i] != '-' && u[i] != '_') return 0;
  return 1;
}

static void finish_register(metad *md, dfs_conn *c, const dfs_frame_hdr *hdr,
                            const Dfs__RegisterReq *rq, uint64_t id) {
  server_ent *e = servers_get(&md->fsm->servers, id);
  if (!e) {
    md_reply_status(c, hdr, DFS_EINTERNAL, "server id was not recorded");
    return;
  }
  if (e->conn && e->conn != c && e->alive)
    LOG_WARN("chunkserver %llu (uuid %s) registered again from %s; the older connection is "
             "dropped (two chunkd on one data directory?)", (unsigned long long)id, e->uuid,
             dfs_conn_peer(c));
  snprintf(e->host, sizeof e->host, "%s", rq->host);
  e->port = rq->port;
  e->capacity = rq->capacity_bytes;
  e->free_bytes = rq->free_bytes;
  if (e->capacity && e->free_bytes > e->capacity) e->free_bytes = e->capacity;
  servers_forget_promises(e); /* what it reports now is the truth */
  e->chunk_count = rq->chunk_count;
  e->chunk_bytes = rq->chunk_bytes;
  e->load = 0;
  e->alive = 1;
  e->registered = 1;
  e->conn = c;
  e->last_hb_ms = dfs_now_ms();
  e->inventory_ms = e->last_hb_ms;
  e->inventory_pending = 1; /* chunkd sends its inventory right after registering */
  e->draining = 0; /* a new registration: its heartbeats say again whether its disk fails */
  /* the full inventory that follows rebuilds this server's locations */
  chunks_t *t = &md->fsm->chunks;
  for (size_t i = 0; i < t->n; i++)
    chunk_ent_del_loc(&t->ents[i], id);
  LOG_INFO("chunkserver %llu registered: %s:%u (uuid %s, %llu chunks, %llu of %llu bytes free)",
           (unsigned long long)id, e->host, e->port, e->uuid,
           (unsigned long long)rq->chunk_count, (unsigned long long)rq->free_bytes,
           (unsigned long long)rq->capacity_bytes);
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__RegisterRep rep = DFS__REGISTER_REP__INIT;
  rep.status = &st;
  rep.server_id = id;
  rep.heartbeat_ms = (uint32_t)md->heartbeat_ms;
  dfs_conn_reply(c, hdr, &rep.base, NULL, 0, NULL, NULL);
}

static void free_register_req(void *p) { dfs__register_req__free_unpacked(p, NULL); }

static void register_done(metad *md, md_waiter *w, int status) {
  char msg[MSGSZ];
  const fsm_result *r = status ? NULL : fsm_result_get(md->fsm, w->rid);
  if (status == DFS_ENOTLEADER) {
    rg_check_leader(md, msg, sizeof msg);
    md_reply_status(w->conn, &w->hdr, DFS_ENOTLEADER, msg);
  } else if (!r) {
    md_reply_status(w->conn, &w->hdr, DFS_EUNAVAIL, "registration outcome unknown; retry");
  } else if (r->err) {
    md_reply_status(w->conn, &w->hdr, r->err, r->msg);
  } else if (dfs_conn_is_open(w->conn)) {
    finish_register(md, w->conn, &w->hdr, w->ud, r->val);
  }
  md_waiter_free(w);
}

/* Closes c shortly after a refusal, so that the reply is written first. Pending ones
 * are listed so that shutdown can close them at once (before the loop walk). */
typedef struct delayed_close {
  struct delayed_close *next;
  uv_timer_t t;
  dfs_conn *c; /* reference held */
} delayed_close;
static delayed_close *dc_head;

static void dc_free(uv_handle_t *h) { free(h->data); }
static void dc_fire(uv_timer_t *t) {
  delayed_close *d = t->data;
  for (delayed_close **pp = &dc_head; *pp; pp = &(*pp)->next)
    if (*pp == d) {
      *pp = d->next;
      break;
    }
  uv_timer_stop(&d->t);
  dfs_conn_close(d->c);
  dfs_conn_unref(d->c);
  uv_close((uv_handle_t *)&d->t, dc_free);
}
static void close_soon(metad *md, dfs_conn *c) {
  delayed_close *d = md->shutting_down ? NULL : calloc(1, sizeof *d);
  if (!d) {
    dfs_conn_close(c);
    return;
  }
  d->c = c;
  dfs_conn_ref(c);
  uv_timer_init(md->loop, &d->t);
  d->t.data = d;
  uv_timer_start(&d->t, dc_fire, 200, 0);
  d->next = dc_head;
  dc_head = d;
}

void chunkserver_shutdown(metad *md) {
  (void)md;
  while (dc_head) dc_fire(&dc_head->t);
}

static void h_register(metad *md, dfs_conn *c, dfs_msg *m) {
  char msg[MSGSZ];
  Dfs__RegisterReq *rq = dfs__register_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode RegisterReq");
    return;
  }
  if (!auth_secret_ok(md, rq->cluster_secret)) {
    LOG_WARN("%s tried to register as a chunkserver with a %s cluster secret; refused",
             dfs_conn_peer(c), *rq->cluster_secret ? "wrong" : "missing");
    md_reply_status(c, &m->hdr, DFS_EAUTH,
                    "wrong or missing cluster secret (set cluster.secret to metad's)");
    dfs__register_req__free_unpacked(rq, NULL);
    close_soon(md, c);
    return;
  }
  dfs_conn_set_authenticated(c);
  int rc = 0;
  if (!uuid_ok(rq->server_uuid)) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "server_uuid must be 1..%d letters, digits, '-' or '_'",
             SERVERS_UUID_MAX);
  } else if (!*rq->host || strlen(rq->host) > SERVERS_HOST_MAX) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "host must be 1..%d characters", SERVERS_HOST_MAX);
  } else if (rq->port < 1 || rq->port > 65535) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "port %u is out of range", rq->port);
  }
  if (!rc) rc = rg_check_leader(md, msg, sizeof msg);
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    dfs__register_req__free_unpacked(rq, NULL);
    return;
  }
  uint64_t id = servers_find_uuid(&md->fsm->servers, rq->server_uuid);
  if (id) {
    finish_register(md, c, &m->hdr, rq, id);
    dfs__register_req__free_unpacked(rq, NULL);
    return;
  }
  ops_op op = {0};
  op.type = OP_MAP_SERVER;
  op.rid = rg_new_rid();
  op.str = rq->server_uuid;
  md_waiter *w = md_waiter_new(c, &m->hdr, op.rid, register_done);
  if (!w) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
    dfs__register_req__free_unpacked(rq, NULL);
    return;
  }
  w->ud = rq;
  w->ud_free = free_register_req;
  if ((rc = rg_submit(md, &op, NULL, w))) register_done(md, w, rc);
}

/* ---- Inventory / Heartbeat ---- */

static void h_inventory(metad *md, dfs_conn *c, dfs_msg *m) {
  char msg[MSGSZ];
  Dfs__InventoryReq *rq = dfs__inventory_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode InventoryReq");
    return;
  }
  int rc = rg_check_leader(md, msg, sizeof msg);
  server_ent *e = NULL;
  if (!rc && !(e = server_on_conn(md, c, rq->server_id))) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "server %llu is not registered on this connection; register first",
             (unsigned long long)rq->server_id);
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    dfs__inventory_req__free_unpacked(rq, NULL);
    return;
  }
  idvec dels = {0};
  for (size_t i = 0; i < rq->n_chunks; i++) reconcile(md, e, rq->chunks[i], &dels);
  if (rq->last) {
    e->inventory_pending = 0;
    LOG_INFO("chunkserver %llu inventory complete", (unsigned long long)e->id);
  }
  if (dels.n)
    LOG_INFO("chunkserver %llu: %zu stale or orphaned chunk(s) to delete",
             (unsigned long long)e->id, dels.n);
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__InventoryRep rep = DFS__INVENTORY_REP__INIT;
  rep.status = &st;
  rep.n_delete_chunks = dels.n;
  rep.delete_chunks = dels.v;
  dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  free(dels.v);
  dfs__inventory_req__free_unpacked(rq, NULL);
}

static void *hb_keep[3]; /* buffers of the reply being built (loop thread only) */

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One replication scan, timed (repl.scan_us); none while chunkservers are still
 * re-registering with a new leader (rg_reregistering). */
static void run_scan(metad *md, uint64_t now) {
  if (rg_reregistering(md, NULL, 0)) return;
  uint64_t t0 = now_us();
  repl_scan(&md->repl, &md->fsm->chunks, &md->fsm->servers, now);
  md->repl.scan_us = now_us() - t0;
  md->repl_last_scan_ms = now;
  if (md->repl.scan_us > 100000)
    LOG_DEBUG("replication scan of %zu chunks took %llu ms", md->fsm->chunks.n,
              (unsigned long long)(md->repl.scan_us / 1000));
}

/* Least time between scans started by events (copy results, reports): at least base_ms,
 * and ten times what the last scan took, so that scans of a big chunk table use at most
 * about a tenth of the loop while copies stream in. */
static uint64_t scan_gap(const metad *md, uint64_t base_ms) {
  uint64_t adaptive = md->repl.scan_us / 100; /* 10 x scan_us, in ms */
  return adaptive > base_ms ? adaptive : base_ms;
}

/* Replication part of a heartbeat (replication.h): disk state, copy results, bad
 * replicas, then the reply's send_inventory, delete_versions and new copy jobs. The
 * reply's arrays are allocated here and freed by hb_rep_free. */
static void hb_replication(metad *md, server_ent *e, const Dfs__HeartbeatReq *rq,
                           Dfs__HeartbeatRep *rep) {
  chunks_t *t = &md->fsm->chunks;
  servers_t *sv = &md->fsm->servers;
  repl_t *r = &md->repl;
  if (rq->disk_failing && !e->draining) {
    LOG_WARN("chunkserver %llu (%s:%u) reports a failing disk (%llu I/O errors): draining it",
             (unsigned long long)e->id, e->host, e->port, (unsigned long long)rq->disk_errors);
    r->scan_wanted = 1;
  }
  e->draining = rq->disk_failing;
  e->disk_errors = rq->disk_errors;
  e->reserve_bytes = rq->reserve_bytes;
  e->copy_slots_free = rq->copy_slots_free;
  e->copies_running = rq->copies_running;
  for (size_t i = 0; i < rq->n_copy_results; i++) {
    const Dfs__CopyResult *cr = rq->copy_results[i];
    int ok = !cr->status || cr->status->error == 0;
    /* its disk said no: place nothing there for a while, whatever free space it reports */
    if (!ok && cr->status->error == DFS_ENOSPACE) e->nospace_until_ms = dfs_now_ms() + 10000;
    if (!ok)
      LOG_WARN("copy job %llu (chunk %llu) failed on server %llu: %.200s; requeued",
               (unsigned long long)cr->job_id, (unsigned long long)cr->chunk_id,
               (unsigned long long)e->id, cr->status->message ? cr->status->message : "");
    repl_job_result(r, t, sv, e->id, cr->job_id, ok, dfs_now_ms());
  }
  for (size_t i = 0; i < rq->n_bad_chunks; i++) {
    const Dfs__ChunkRef *b = rq->bad_chunks[i];
    const chunk_ent *ce = chunks_get(t, b->chunk_id);
    if (!ce || ce->version != b->version) continue;
    LOG_WARN("chunkserver %llu reports its replica of chunk %llu v%llu bad; replacing it",
             (unsigned long long)e->id, (unsigned long long)b->chunk_id,
             (unsigned long long)b->version);
    repl_bad_replica(r, t, b->chunk_id, e->id, 0); /* chunkd quarantined it already */
  }
  if (e->nverify) { /* readers' reports: the server re-reads these (verify_sent lives in e
                       until the next heartbeat, after this reply is sent) */
    memcpy(e->verify_sent, e->verify_q, e->nverify * sizeof *e->verify_q);
    rep->verify_chunks = e->verify_sent;
    rep->n_verify_chunks = e->nverify;
    e->nverify = 0;
  }
  if (e->need_inventory) {
    e->need_inventory = 0;
    e->inventory_ms = dfs_now_ms();
    e->inventory_pending = 1;
    rep->send_inventory = 1;
    for (size_t i = 0; i < t->n; i++) chunks_del_loc(t, t->ents[i].id, e->id);
  }
  if (e->ndv) {
    uint64_t *pairs = malloc(2 * MAX_DELETES_PER_REPLY * sizeof *pairs);
    size_t k = pairs ? servers_take_delete_versions(sv, e->id, pairs, MAX_DELETES_PER_REPLY) : 0;
    Dfs__ChunkRef *refs = calloc(k ? k : 1, sizeof *refs);
    Dfs__ChunkRef **rp = calloc(k ? k : 1, sizeof *rp);
    if (refs && rp && k) {
      for (size_t i = 0; i < k; i++) {
        dfs__chunk_ref__init(&refs[i]);
        refs[i].chunk_id = pairs[2 * i];
        refs[i].version = pairs[2 * i + 1];
        rp[i] = &refs[i];
      }
      rep->n_delete_versions = k;
      rep->delete_versions = rp;
    } else {
      free(refs);
      free(rp);
    }
    free(pairs);
  }
  if (!md->leader_ready || !rq->copy_slots_free) return;
  /* an event since the last scan and nothing queued anywhere: scan now rather than at
   * the next poll, so that a server asking for work gets it in this reply */
  uint64_t now = dfs_now_ms();
  if (r->scan_wanted && !repl_jobs_queued(r, 0) && now - md->repl_last_scan_ms >= scan_gap(md, 50))
    run_scan(md, now);
  repl_job *jobs[MAX_JOBS_PER_REPLY];
  size_t nj = repl_take_jobs(r, t, sv, e->id, rq->copy_slots_free, dfs_now_ms(), jobs,
                             MAX_JOBS_PER_REPLY);
  if (!nj) return;
  Dfs__CopyJob *cj = calloc(nj, sizeof *cj);
  Dfs__CopyJob **cjp = calloc(nj, sizeof *cjp);
  Dfs__ServerAddr *ad = calloc(nj * MAX_SOURCES, sizeof *ad);
  Dfs__ServerAddr **ap = calloc(nj * MAX_SOURCES, sizeof *ap);
  uint8_t(*caps)[DFS_CAP_READ_LEN] = calloc(nj * MAX_SOURCES, sizeof *caps); /* per source */
  if (!cj || !cjp || !ad || !ap || !caps) {
    free(cj);
    free(cjp);
    free(ad);
    free(ap);
    free(caps);
    return; /* the jobs time out and are requeued */
  }
  int64_t ttl = md->caps_ttl_ms > md->repl_job_timeout_ms ? md->caps_ttl_ms
                                                         : md->repl_job_timeout_ms;
  size_t ai = 0, out = 0, ndrop = 0;
  uint64_t drop_ids[MAX_JOBS_PER_REPLY];
  for (size_t jn = 0; jn < nj; jn++) {
    const repl_job *j = jobs[jn];
    const chunk_ent *ce = chunks_get(t, j->chunk);
    uint64_t src[MAX_SOURCES];
    size_t ns = ce ? repl_sources(ce, sv, e->id, src, MAX_SOURCES) : 0;
    if (!ns) { /* no live source any more: drop it (a later scan decides again) */
      drop_ids[ndrop++] = j->job_id;
      continue;
    }
    size_t i = out++;
    dfs__copy_job__init(&cj[i]);
    cjp[i] = &cj[i];
    cj[i].job_id = j->job_id;
    cj[i].chunk_id = j->chunk;
    cj[i].version = j->version;
    cj[i].length = j->length;
    cj[i].crc32c = j->crc32c;
    cj[i].priority = j->prio;
    cj[i].sources = &ap[ai];
    for (size_t k = 0; k < ns; k++) {
      const server_ent *s = servers_get(sv, src[k]);
      dfs__server_addr__init(&ad[ai]);
      ad[ai].server_id = s->id;
      ad[ai].host = (char *)s->host;
      ad[ai].port = s->port;
      if (md->have_caps) { /* valid on this source only, for the whole chunk */
        dfs_cap_sign_read(md->cap_key, j->chunk, j->version, s->id, 0, j->length,
                          dfs_wall_ns() / 1000000 + ttl, caps[ai]);
        ad[ai].capability.data = caps[ai];
        ad[ai].capability.len = DFS_CAP_READ_LEN;
      }
      ap[ai] = &ad[ai];
      ai++;
    }
    cj[i].n_sources = ns;
  }
  /* jobs[] point into the job table: drop only after the last use */
  for (size_t k = 0; k < ndrop; k++)
    repl_job_result(r, t, sv, e->id, drop_ids[k], 0, dfs_now_ms());
  if (!out) {
    free(cj);
    free(cjp);
    free(ad);
    free(ap);
    free(caps);
    return;
  }
  rep->n_copy_jobs = out;
  rep->copy_jobs = cjp;
  /* kept alive until hb_rep_free: cjp[0] is cj, sources point into ad/ap, caps */
  hb_keep[0] = ad;
  hb_keep[1] = ap;
  hb_keep[2] = caps;
}

static void hb_rep_free(Dfs__HeartbeatRep *rep) {
  if (rep->n_delete_versions) {
    free(rep->delete_versions[0]);
    free(rep->delete_versions);
  }
  if (rep->n_copy_jobs) {
    free(rep->copy_jobs[0]);
    free(rep->copy_jobs);
  }
  for (int i = 0; i < 3; i++) {
    free(hb_keep[i]);
    hb_keep[i] = NULL;
  }
}

static void h_heartbeat(metad *md, dfs_conn *c, dfs_msg *m) {
  char msg[MSGSZ];
  Dfs__HeartbeatReq *rq = dfs__heartbeat_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "cannot decode HeartbeatReq");
    return;
  }
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__HeartbeatRep rep = DFS__HEARTBEAT_REP__INIT;
  rep.status = &st;
  idvec dels = {0};
  int rc = rg_check_leader(md, msg, sizeof msg);
  server_ent *e = NULL;
  if (!rc && !(e = server_on_conn(md, c, rq->server_id))) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "server %llu is not registered on this connection; register again",
             (unsigned long long)rq->server_id);
    rep.reregister = 1;
  }
  if (rc) {
    st.error = rc;
    st.message = msg;
  } else {
    if (!e->alive) {
      LOG_INFO("chunkserver %llu (%s:%u) is alive again; asking for its full inventory",
               (unsigned long long)e->id, e->host, e->port);
      e->need_inventory = 1; /* reconciled, not trusted blindly */
      md->repl.scan_wanted = 1;
    }
    e->alive = 1;
    e->last_hb_ms = dfs_now_ms();
    e->capacity = rq->capacity_bytes;
    e->free_bytes = e->capacity && rq->free_bytes > e->capacity ? e->capacity : rq->free_bytes;
    e->chunk_count = rq->chunk_count;
    e->chunk_bytes = rq->chunk_bytes;
    e->load = rq->load;
    for (size_t i = 0; i < rq->n_new_chunks; i++) {
      if (rq->new_chunks[i]) /* a chunk just written: its upload is alive */
        uploads_note_written(md->uploads, rq->new_chunks[i]->chunk_id, e->last_hb_ms);
      reconcile(md, e, rq->new_chunks[i], &dels);
    }
    hb_replication(md, e, rq, &rep);
    size_t room = dels.n < MAX_DELETES_PER_REPLY ? MAX_DELETES_PER_REPLY - dels.n : 0;
    if (room && e->ndel) {
      uint64_t *tmp = malloc(room * sizeof *tmp);
      if (tmp) {
        size_t k = servers_take_deletes(&md->fsm->servers, e->id, tmp, room);
        /* garbage when queued; a commit since then (a slow upload) makes it a file's
         * chunk again: then it must not go, or metad lists a replica that is deleted */
        for (size_t i = 0; i < k; i++)
          if (!chunks_get(&md->fsm->chunks, tmp[i])) idvec_push(&dels, tmp[i]);
        free(tmp);
      }
    }
    rep.n_delete_chunks = dels.n;
    rep.delete_chunks = dels.v;
  }
  dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  hb_rep_free(&rep);
  free(dels.v);
  dfs__heartbeat_req__free_unpacked(rq, NULL);
}

/* ---- dispatch ---- */

typedef void (*cs_fn)(metad *md, dfs_conn *c, dfs_msg *m);
static const struct {
  uint16_t type;
  cs_fn fn;
} cs_table[] = {
    {DFS__MSG_TYPE__MSG_CHUNK_TO_META_REGISTER, h_register},
    {DFS__MSG_TYPE__MSG_CHUNK_TO_META_INVENTORY, h_inventory},
    {DFS__MSG_TYPE__MSG_CHUNK_TO_META_HEARTBEAT, h_heartbeat},
};

int chunkserver_handles(uint16_t type) {
  for (size_t i = 0; i < sizeof cs_table / sizeof cs_table[0]; i++)
    if (cs_table[i].type == type) return 1;
  return 0;
}

void chunkserver_handle(metad *md, dfs_conn *c, dfs_msg *m) {
  for (size_t i = 0; i < sizeof cs_table / sizeof cs_table[0]; i++)
    if (cs_table[i].type == m->hdr.type) {
      cs_table[i].fn(md, c, m);
      return;
    }
}

void chunkserver_conn_closed(metad *md, dfs_conn *c) {
  servers_t *sv = &md->fsm->servers;
  for (size_t i = 0; i < sv->n; i++)
    if (sv->v[i].conn == c) {
      sv->v[i].conn = NULL; /* stays alive until dead_timeout without heartbeats */
      LOG_INFO("chunkserver %llu disconnected", (unsigned long long)sv->v[i].id);
    }
}

static void dispatch(metad *md, dfs_conn *c, dfs_msg *m) {
  if (client_handles(m->hdr.type)) {
    char msg[MSGSZ];
    if (m->hdr.type != DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER &&
        rg_check_leader(md, msg, sizeof msg) == DFS_ENOTLEADER) {
      /* a follower redirects without asking authd: the leader checks the token */
      md_reply_status(c, &m->hdr, DFS_ENOTLEADER, msg);
      dfs_msg_free(m);
      return;
    }
    auth_client_request(md, c, m, client_handle); /* takes m */
    return;
  }
  int is_register = m->hdr.type == DFS__MSG_TYPE__MSG_CHUNK_TO_META_REGISTER;
  if (chunkserver_handles(m->hdr.type) && !is_register && (md->auth || md->cluster_secret[0]) &&
      !dfs_conn_is_authenticated(c)) {
    /* only Register (with the secret) opens the chunkserver side of a connection */
    LOG_WARN("%s: chunkserver message %u before registering; closing", dfs_conn_peer(c),
             m->hdr.type);
    dfs_conn_reply_error(c, &m->hdr, DFS_EAUTH, "register with the cluster secret first");
    close_soon(md, c);
  } else if (chunkserver_handles(m->hdr.type)) {
    chunkserver_handle(md, c, m);
  } else {
    char why[96];
    snprintf(why, sizeof why, "metad does not serve message type %u", m->hdr.type);
    LOG_WARN("%s: %s", dfs_conn_peer(c), why);
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, why);
  }
  dfs_msg_free(m);
}

/* Requests that arrive while there is no leader yet, or this node was just elected and
 * is catching up, wait here (up to PARK_MS) instead of failing at once: a client that
 * connects right after start-up or during a failover then just sees a short delay. */
#define PARK_MS 5000
#define PARK_MAX 10000
#define PARK_MAX_BYTES (64u << 20)
typedef struct parked {
  struct parked *next;
  dfs_conn *conn; /* reference held */
  dfs_msg msg;
  uint64_t deadline_ms;
} parked;
static parked *parked_head, **parked_tail = &parked_head;
static size_t parked_count, parked_bytes;

/* ---- garbage: chunk files no file references ------------------------------------
 * A chunk a server reports that no file references is watched until gc.orphan_grace
 * after it was written. Then the leader first logs OP_RETIRE_ORPHANS with the ids (a
 * commit applied before that entry keeps its chunks; one applied after is refused) and
 * only once that entry is applied queues the deletes: a commit can never be
 * acknowledged for a chunk whose file is gone (an upload slower than the grace used to
 * lose its first chunks silently). One such entry in flight at a time. */
#define ORPHANS_PER_ENTRY 4096

typedef struct {
  size_t n;
  servers_orphan v[];
} orphan_batch;

/* Garbage unless a file holds it or its upload is still alive (then: look again when
 * that upload's lease may have run out). */
static uint64_t orphan_verdict(void *ud, uint64_t chunk) {
  metad *md = ud;
  if (chunks_get(&md->fsm->chunks, chunk)) return SERVERS_WATCH_FORGET;
  return uploads_alive_until(md->uploads, chunk, dfs_now_ms());
}

/* Not deleted this time (no longer the leader, out of memory): watched again. */
static void orphans_rewatch(metad *md, const orphan_batch *b) {
  uint64_t again = dfs_now_ms() + 1000;
  for (size_t i = 0; i < b->n; i++)
    servers_watch_chunk(&md->fsm->servers, b->v[i].server, b->v[i].chunk, again);
}

static void orphans_retired(metad *md, md_waiter *w, int status) {
  orphan_batch *b = w->ud;
  md->orphans_inflight = 0;
  if (status) {
    orphans_rewatch(md, b);
  } else {
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
      uint64_t id = b->v[i].chunk;
      if (!fsm_is_retired(md->fsm, id) || chunks_get(&md->fsm->chunks, id)) continue;
      servers_queue_delete(&md->fsm->servers, b->v[i].server, id);
      n++;
    }
    if (n) LOG_INFO("%zu chunk file(s) never committed within gc.orphan_grace: deleting", n);
  }
  md_waiter_free(w);
}

static void collect_orphans(metad *md, uint64_t now) {
  if (md->orphans_inflight) return;
  orphan_batch *b = malloc(sizeof *b + ORPHANS_PER_ENTRY * sizeof b->v[0]);
  if (!b) return;
  b->n = servers_take_orphans(&md->fsm->servers, now, orphan_verdict, md, b->v,
                              ORPHANS_PER_ENTRY);
  ops_chunk *ids = b->n ? calloc(b->n, sizeof *ids) : NULL;
  ops_op op = {0};
  op.type = OP_RETIRE_ORPHANS;
  op.rid = rg_new_rid();
  op.path = op.str = "";
  op.mtime_ns = dfs_wall_ns();
  op.nchunks = (uint32_t)b->n;
  md_waiter *w = ids ? md_waiter_new(NULL, NULL, op.rid, orphans_retired) : NULL;
  if (!w) {
    orphans_rewatch(md, b);
    free(b);
    free(ids);
    return;
  }
  for (size_t i = 0; i < b->n; i++) ids[i].id = b->v[i].chunk;
  w->ud = b;
  w->ud_free = free;
  if (rg_submit(md, &op, ids, w)) {
    orphans_rewatch(md, b);
    md_waiter_free(w);
  } else {
    md->orphans_inflight = 1;
  }
  free(ids);
}

/* Replication on the poll tick: a new leader asks every chunkserver for a full
 * inventory and starts with empty queues; scans run every replication.scan_interval,
 * sooner after an event (server death, copy result, bad replica). */
static void repl_poll(metad *md, uint64_t now) {
  static int was_ready;
  static size_t last_live;
  servers_t *sv = &md->fsm->servers;
  if (md->leader_ready != was_ready) {
    was_ready = md->leader_ready;
    repl_reset(&md->repl);
    if (was_ready)
      for (size_t i = 0; i < sv->n; i++) sv->v[i].need_inventory = sv->v[i].registered;
  }
  if (!md->leader_ready) return;
  size_t live = servers_live_count(sv);
  if (live != last_live) md->repl.scan_wanted = 1; /* a server died or came back */
  last_live = live;
  uint64_t soon = md->repl_scan_ms < 200 ? (uint64_t)md->repl_scan_ms : 200;
  if (now - md->repl_last_scan_ms >= (uint64_t)md->repl_scan_ms ||
      (md->repl.scan_wanted && now - md->repl_last_scan_ms >= scan_gap(md, soon)))
    run_scan(md, now);
}

void handlers_poll(metad *md) {
  char msg[MSGSZ];
  uint64_t now = dfs_now_ms();
  static uint64_t last_gc_ms;
  if (md->leader_ready && now - last_gc_ms >= 1000) {
    last_gc_ms = now;
    collect_orphans(md, now);
  }
  if (md->leader_ready) promises_expire(md->promises, &md->fsm->servers, now);
  repl_poll(md, now);
  auth_poll(md);
  int unavailable = rg_check_leader(md, msg, sizeof msg) == DFS_EUNAVAIL && !md->shutting_down;
  parked **pp = &parked_head;
  while (*pp) {
    parked *p = *pp;
    if (unavailable && now < p->deadline_ms && dfs_conn_is_open(p->conn)) {
      pp = &p->next;
      continue;
    }
    *pp = p->next;
    parked_count--;
    parked_bytes -= p->msg.hdr.payload_len;
    if (dfs_conn_is_open(p->conn)) dispatch(md, p->conn, &p->msg); /* frees the msg */
    else dfs_msg_free(&p->msg);
    dfs_conn_unref(p->conn);
    free(p);
  }
  parked_tail = pp; /* the NULL link ending the list */
}

void md_on_request(dfs_conn *c, dfs_msg *m) {
  metad *md = dfs_conn_data(c);
  char msg[MSGSZ];
  if (m->hdr.type != DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER && !md->shutting_down &&
      parked_count < PARK_MAX && parked_bytes + m->hdr.payload_len <= PARK_MAX_BYTES &&
      rg_check_leader(md, msg, sizeof msg) == DFS_EUNAVAIL &&
      (client_handles(m->hdr.type) || chunkserver_handles(m->hdr.type))) {
    parked *p = calloc(1, sizeof *p);
    if (p) {
      p->conn = c;
      dfs_conn_ref(c);
      p->msg = *m; /* takes the buffer */
      p->deadline_ms = dfs_now_ms() + PARK_MS;
      *parked_tail = p; /* FIFO: pipelined requests keep their order */
      parked_tail = &p->next;
      parked_count++;
      parked_bytes += m->hdr.payload_len;
      return;
    }
  }
  dispatch(md, c, m);
}

void md_on_close(dfs_conn *c) {
  metad *md = dfs_conn_data(c);
  if (md) chunkserver_conn_closed(md, c);
}
