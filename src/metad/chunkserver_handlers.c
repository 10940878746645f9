/* chunkserver_handlers: chunkd <-> metad (chunk_meta.proto): Register (uuid -> stable
 * server id, through the log the first time), Inventory (reconcile a server's chunks
 * against the chunk table: add locations, order deletes of stale and orphaned chunks)
 * and Heartbeat (stats, liveness, new chunks, copy results, pending deletes, new copy
 * jobs). A chunkserver proves itself with the cluster secret in Register; only then is
 * its connection authenticated (the front door refuses anything else before it).
 * Everything a server reports is leader soft state (servers.h, chunk locations): a new
 * leader rebuilds it from registrations and inventories. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_meta.pb-c.h"
#include "common/array.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/auth.h"
#include "metad/replies.h"
#include "metad/handlers.h"
#include "metad/limits.h"
#include "metad/promises.h"
#include "metad/uploads.h"
#include "metad/raft_glue.h"
#include "metad/repl_sched.h"
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
  uint64_t *nv = dfs_grow(d->v, &d->cap, d->n + 1, sizeof *nv, 64);
  if (!nv) return; /* a delete that is not sent now is found again next inventory */
  d->v = nv;
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
  else /* look again when it is old enough (gc.c) */
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
  e->disconnected = 0;
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

void h_register(metad *md, dfs_conn *c, dfs_msg *m) {
  char msg[MSGSZ];
  Dfs__RegisterReq *rq = md_decode(c, m, &dfs__register_req__descriptor);
  if (!rq) return;
  if (!auth_secret_ok(md, rq->cluster_secret)) {
    LOG_WARN("%s tried to register as a chunkserver with a %s cluster secret; refused",
             dfs_conn_peer(c), *rq->cluster_secret ? "wrong" : "missing");
    md_reply_status(c, &m->hdr, DFS_EAUTH,
                    "wrong or missing cluster secret (set cluster.secret to metad's)");
    dfs__register_req__free_unpacked(rq, NULL);
    md_close_soon(md, c);
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

void h_inventory(metad *md, dfs_conn *c, dfs_msg *m) {
  char msg[MSGSZ];
  Dfs__InventoryReq *rq = md_decode(c, m, &dfs__inventory_req__descriptor);
  if (!rq) return;
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

/* Buffers of a heartbeat reply's copy jobs (the reply points into them), freed with
 * the reply by hb_rep_free. */
typedef struct {
  Dfs__ServerAddr *addrs, **addr_ptrs;
  uint8_t (*caps)[DFS_CAP_READ_LEN];
} hb_bufs;

/* Replication part of a heartbeat (replication.h): disk state, copy results, bad
 * replicas, then the reply's send_inventory, delete_versions and new copy jobs. The
 * reply's arrays are allocated here (the copy jobs' into *keep) and freed by
 * hb_rep_free. */
static void hb_replication(metad *md, server_ent *e, const Dfs__HeartbeatReq *rq,
                           Dfs__HeartbeatRep *rep, hb_bufs *keep) {
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
  if (r->scan_wanted && !repl_jobs_queued(r, 0) &&
      now - md->repl_last_scan_ms >= repl_sched_gap(md, 50))
    repl_sched_scan(md, now);
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
  keep->addrs = ad;
  keep->addr_ptrs = ap;
  keep->caps = caps;
}

static void hb_rep_free(Dfs__HeartbeatRep *rep, hb_bufs *keep) {
  if (rep->n_delete_versions) {
    free(rep->delete_versions[0]);
    free(rep->delete_versions);
  }
  if (rep->n_copy_jobs) {
    free(rep->copy_jobs[0]);
    free(rep->copy_jobs);
  }
  free(keep->addrs);
  free(keep->addr_ptrs);
  free(keep->caps);
}

void h_heartbeat(metad *md, dfs_conn *c, dfs_msg *m) {
  char msg[MSGSZ];
  Dfs__HeartbeatReq *rq = md_decode(c, m, &dfs__heartbeat_req__descriptor);
  if (!rq) return;
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__HeartbeatRep rep = DFS__HEARTBEAT_REP__INIT;
  rep.status = &st;
  idvec dels = {0};
  hb_bufs keep = {0};
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
    hb_replication(md, e, rq, &rep, &keep);
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
  hb_rep_free(&rep, &keep);
  free(dels.v);
  dfs__heartbeat_req__free_unpacked(rq, NULL);
}

/* ---- connections ---- */

void chunkserver_conn_closed(metad *md, dfs_conn *c) {
  servers_t *sv = &md->fsm->servers;
  for (size_t i = 0; i < sv->n; i++)
    if (sv->v[i].conn == c) {
      sv->v[i].conn = NULL; /* stays alive until dead_timeout without heartbeats */
      /* ...but a writer must not be sent to a server that just died (kill -9 closes
       * its connection at once): new chunks go elsewhere until it registers again */
      sv->v[i].disconnected = 1;
      LOG_INFO("chunkserver %llu disconnected", (unsigned long long)sv->v[i].id);
    }
}
