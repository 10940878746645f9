/* replication: scan, job queues with work stealing, trimming and rebalancing
 * (replication.h). Invariants: (1) at most one job per (chunk, destination); (2) a trim
 * or a bad-copy delete is queued only while the chunk keeps at least its goal in live
 * replicas elsewhere, so the last good replica is never deleted. */
#include "metad/replication.h"

#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/log.h"

#define REBALANCE_PRIO 100
#define SCAN_MAX_NEW_JOBS 65536

void repl_init(repl_t *r) {
  memset(r, 0, sizeof *r);
  r->max_jobs_per_server = 4;
  r->max_queue_per_server = 64;
  r->job_timeout_ms = 60000;
  r->rebalance_threshold = 0.05;
  r->rebalance_max_jobs = 4;
  r->tomb_copy_ms = 1000;
  r->next_job_id = 1;
  u64map_init(&r->corrupt);
  u64map_init(&r->pend);
  u64map_init(&r->fails);
  u64map_init(&r->retry_at);
}

void repl_free(repl_t *r) {
  free(r->jobs);
  free(r->bad);
  free(r->held);
  r->held = NULL;
  r->nheld = 0;
  u64map_free(&r->corrupt);
  u64map_free(&r->pend);
  u64map_free(&r->fails);
  u64map_free(&r->retry_at);
  r->pend_valid = 0;
  r->jobs = NULL;
  r->bad = NULL;
  r->njobs = r->capjobs = r->nbad = r->capbad = 0;
}

void repl_reset(repl_t *r) {
  repl_t keep = *r;
  repl_free(r);
  repl_init(r);
  r->max_jobs_per_server = keep.max_jobs_per_server;
  r->max_queue_per_server = keep.max_queue_per_server;
  r->job_timeout_ms = keep.job_timeout_ms;
  r->rebalance_threshold = keep.rebalance_threshold;
  r->rebalance_max_jobs = keep.rebalance_max_jobs;
  r->tomb_copy_ms = keep.tomb_copy_ms;
  r->next_job_id = keep.next_job_id;
}

unsigned repl_goal(const chunk_ent *ce) { return ce->goal ? ce->goal : 1; }

unsigned repl_live_replicas(const chunk_ent *ce, servers_t *sv) {
  unsigned n = 0;
  for (uint8_t k = 0; k < ce->nlocs; k++) {
    const server_ent *s = servers_get(sv, chunk_locs(ce)[k]);
    n += s && s->alive && !s->draining;
  }
  return n;
}

unsigned repl_readable_replicas(const chunk_ent *ce, servers_t *sv) {
  unsigned n = 0;
  for (uint8_t k = 0; k < ce->nlocs; k++) {
    const server_ent *s = servers_get(sv, chunk_locs(ce)[k]);
    n += s && s->alive;
  }
  return n;
}

static int has_loc(const chunk_ent *ce, uint64_t server) {
  for (uint8_t k = 0; k < ce->nlocs; k++)
    if (chunk_locs(ce)[k] == server) return 1;
  return 0;
}

static void job_remove(repl_t *r, size_t i) { r->jobs[i] = r->jobs[--r->njobs]; }

#define BACKOFF_AFTER 2          /* failures in a row before a chunk waits */
#define BACKOFF_MAX_MS 10000u

/* A copy of chunk failed (or timed out): after BACKOFF_AFTER in a row, no new job for it
 * for 1 s, doubling up to 10 s. */
static void copy_failed(repl_t *r, uint64_t chunk, uint64_t now_ms) {
  uint64_t n = 0;
  u64map_get(&r->fails, chunk, &n);
  if (u64map_put(&r->fails, chunk, ++n)) return;
  if (n < BACKOFF_AFTER) return;
  uint64_t shift = n - BACKOFF_AFTER, wait = shift >= 5 ? BACKOFF_MAX_MS : 1000u << shift;
  if (wait > BACKOFF_MAX_MS) wait = BACKOFF_MAX_MS;
  u64map_put(&r->retry_at, chunk, now_ms + wait);
}

static void copy_succeeded(repl_t *r, uint64_t chunk) {
  if (!r->fails.count) return;
  u64map_del(&r->fails, chunk);
  u64map_del(&r->retry_at, chunk);
}

/* 1 while chunk waits out a backoff. */
static int backing_off(const repl_t *r, uint64_t chunk, uint64_t now_ms) {
  uint64_t at;
  return r->retry_at.count && u64map_get(&r->retry_at, chunk, &at) && now_ms < at;
}

static repl_job *job_add(repl_t *r, const chunk_ent *ce, uint64_t dst, uint32_t prio) {
  repl_job *nj = dfs_grow(r->jobs, &r->capjobs, r->njobs + 1, sizeof *nj, 64);
  if (!nj) return NULL;
  r->jobs = nj;
  repl_job *j = &r->jobs[r->njobs++];
  memset(j, 0, sizeof *j);
  j->job_id = r->next_job_id++;
  j->chunk = ce->id;
  j->version = ce->version;
  j->length = ce->length;
  j->crc32c = ce->crc32c;
  j->dst = dst;
  j->prio = prio;
  return j;
}

static size_t jobs_for_chunk(const repl_t *r, uint64_t chunk) {
  uint64_t v;
  if (r->pend_valid) return u64map_get(&r->pend, chunk, &v) ? (size_t)v : 0;
  size_t n = 0;
  for (size_t i = 0; i < r->njobs; i++) n += r->jobs[i].chunk == chunk;
  return n;
}

/* Per-chunk job counts for one scan (pend_valid while it is in step with jobs). */
static void pend_build(repl_t *r) {
  u64map_free(&r->pend);
  u64map_init(&r->pend);
  r->pend_valid = 1;
  for (size_t i = 0; i < r->njobs; i++) {
    uint64_t v = 0;
    u64map_get(&r->pend, r->jobs[i].chunk, &v);
    if (u64map_put(&r->pend, r->jobs[i].chunk, v + 1)) {
      r->pend_valid = 0; /* out of memory: count by walking the jobs */
      return;
    }
  }
}

static void pend_add(repl_t *r, uint64_t chunk) {
  if (!r->pend_valid) return;
  uint64_t v = 0;
  u64map_get(&r->pend, chunk, &v);
  if (u64map_put(&r->pend, chunk, v + 1)) r->pend_valid = 0;
}

static int job_exists(const repl_t *r, uint64_t chunk, uint64_t dst) {
  for (size_t i = 0; i < r->njobs; i++)
    if (r->jobs[i].chunk == chunk && r->jobs[i].dst == dst) return 1;
  return 0;
}

uint32_t repl_jobs_running(const repl_t *r, uint64_t server) {
  uint32_t n = 0;
  for (size_t i = 0; i < r->njobs; i++)
    n += r->jobs[i].running && (!server || r->jobs[i].dst == server);
  return n;
}

uint32_t repl_jobs_queued(const repl_t *r, uint64_t server) {
  uint32_t n = 0;
  for (size_t i = 0; i < r->njobs; i++)
    n += !r->jobs[i].running && (!server || r->jobs[i].dst == server);
  return n;
}

/* Drops jobs that can no longer finish. */
static void expire_jobs(repl_t *r, chunks_t *t, servers_t *sv, uint64_t now_ms) {
  for (size_t i = 0; i < r->njobs;) {
    repl_job *j = &r->jobs[i];
    const server_ent *d = servers_get(sv, j->dst);
    const chunk_ent *ce = chunks_get(t, j->chunk);
    int drop = !ce || ce->version != j->version || !d || !d->alive || d->draining;
    if (!drop && has_loc(ce, j->dst)) { /* new_chunks came before the CopyResult */
      if (j->running) r->copies_done++;
      copy_succeeded(r, j->chunk);
      drop = 1;
    }
    if (!drop && j->running && now_ms > j->deadline_ms) {
      LOG_WARN("copy job %llu (chunk %llu to server %llu) timed out; requeued",
               (unsigned long long)j->job_id, (unsigned long long)j->chunk,
               (unsigned long long)j->dst);
      r->copies_failed++;
      copy_failed(r, j->chunk, now_ms);
      drop = 1;
    }
    if (!drop && !j->running && servers_is_full(d)) drop = 1;
    if (drop) job_remove(r, i);
    else i++;
  }
}

/* Projected free bytes of s: what it reported minus the jobs already aimed at it. */
static uint64_t projected_free(const repl_t *r, const server_ent *s) {
  uint64_t pend = 0;
  for (size_t i = 0; i < r->njobs; i++)
    if (r->jobs[i].dst == s->id) pend += r->jobs[i].length;
  return s->free_bytes > pend ? s->free_bytes - pend : 0;
}

static int is_bad(const repl_t *r, uint64_t chunk, uint64_t server) {
  for (size_t i = 0; i < r->nbad; i++)
    if (r->bad[i].chunk == chunk && r->bad[i].server == server) return 1;
  return 0;
}

/* Per-server state of one scan's queueing step, indexed by server id - 1: jobs aimed at
 * it (queued + running) and their bytes. Kept in step with job_add so that choosing a
 * destination costs O(servers), not O(servers * jobs). */
typedef struct {
  uint32_t *used;
  uint64_t *bytes;
  size_t n;
  unsigned open; /* placeable servers with room left in their queue */
} dst_ctx;

static int dst_ctx_init(dst_ctx *d, const repl_t *r, servers_t *sv) {
  d->n = sv->n;
  d->used = calloc(sv->n ? sv->n : 1, sizeof *d->used);
  d->bytes = calloc(sv->n ? sv->n : 1, sizeof *d->bytes);
  d->open = 0;
  if (!d->used || !d->bytes) return DFS_ENOMEM;
  for (size_t i = 0; i < r->njobs; i++) {
    uint64_t id = r->jobs[i].dst;
    if (id && id <= sv->n) {
      d->used[id - 1]++;
      d->bytes[id - 1] += r->jobs[i].length;
    }
  }
  for (size_t k = 0; k < sv->n; k++)
    d->open += servers_placeable(&sv->v[k]) && d->used[k] < r->max_queue_per_server;
  return 0;
}

static void dst_ctx_free(dst_ctx *d) {
  free(d->used);
  free(d->bytes);
}

/* Best destination for a copy of ce: placeable, not holding it, not already targeted
 * for it, with room in its queue; emptiest (projected) first. 0 if none. */
static uint64_t choose_dst(const repl_t *r, const chunk_ent *ce, servers_t *sv, const dst_ctx *d,
                           uint64_t now_ms) {
  uint64_t best = 0, best_free = 0;
  int has_jobs = jobs_for_chunk(r, ce->id) > 0;
  for (size_t i = 0; i < sv->n; i++) {
    const server_ent *s = &sv->v[i];
    if (d->used[i] >= r->max_queue_per_server || !servers_placeable(s) || has_loc(ce, s->id))
      continue;
    uint64_t f = s->free_bytes > d->bytes[i] ? s->free_bytes - d->bytes[i] : 0;
    if (f < s->reserve_bytes + ce->length || (best && f <= best_free)) continue;
    if (has_jobs && job_exists(r, ce->id, s->id)) continue;
    if (is_bad(r, ce->id, s->id)) continue; /* its bad copy is still there */
    /* told to delete this replica lately: a copy could race with that delete */
    if (servers_recently_deleted(sv, s->id, ce->id, ce->version, now_ms, r->tomb_copy_ms)) continue;
    best = s->id;
    best_free = f;
  }
  return best;
}

/* Bytes in use on s that are not our chunk files (other data on its file system), by
 * its last report. */
static uint64_t foreign_bytes(const server_ent *s) {
  uint64_t used = s->capacity > s->free_bytes ? s->capacity - s->free_bytes : 0;
  return used > s->chunk_bytes ? used - s->chunk_bytes : 0;
}

static uint64_t replica_bytes(const chunk_ent *ce) {
  return (uint64_t)DFS_CHUNK_FILE_HDR + ce->length;
}

/* Fraction of s's capacity in use if it held `held` bytes of replicas (1.0 when it
 * reports no capacity). */
static double use_with(const server_ent *s, uint64_t held) {
  if (!s->capacity) return 1.0;
  return (double)(foreign_bytes(s) + held) / (double)s->capacity;
}

/* s's use as the chunk table stands now: the replicas metad placed there (counted by the
 * last scan, minus what it trimmed since) plus foreign data. Counting from the table
 * rather than from the free space of the last heartbeat makes a move or a trim visible
 * to the next decision at once; with heartbeat numbers, moves overshot and trims
 * undid them. A server the last scan did not count falls back to its report. */
static double use_of(const repl_t *r, const server_ent *s) {
  if (r->held && s->id && s->id <= r->nheld) return use_with(s, r->held[s->id - 1]);
  if (!s->capacity) return 1.0;
  uint64_t f = s->free_bytes > s->capacity ? s->capacity : s->free_bytes;
  return 1.0 - (double)f / (double)s->capacity;
}

static void held_sub(repl_t *r, uint64_t server, uint64_t bytes) {
  if (!r->held || !server || server > r->nheld) return;
  uint64_t *h = &r->held[server - 1];
  *h = *h > bytes ? *h - bytes : 0;
}

static void bad_remove(repl_t *r, size_t i) { r->bad[i] = r->bad[--r->nbad]; }

/* Deletes the bad copies of ce still on disk (delete_versions) and forgets them. Called
 * once the chunk is at its goal again, or sooner when a bad copy blocks its repair. */
static void drop_bad_copies(repl_t *r, servers_t *sv, const chunk_ent *ce) {
  for (size_t i = 0; i < r->nbad;) {
    if (r->bad[i].chunk == ce->id) {
      if (r->bad[i].version <= ce->version && !has_loc(ce, r->bad[i].server))
        servers_queue_delete_version(sv, r->bad[i].server, ce->id, r->bad[i].version);
      bad_remove(r, i);
    } else {
      i++;
    }
  }
}

/* Trims ce down to its goal (fullest servers first), removes draining replicas and
 * bad copies once the goal is met by live, non-draining replicas. */
static void trim_chunk(repl_t *r, chunks_t *t, servers_t *sv, chunk_ent *ce, unsigned live,
                       unsigned goal) {
  uint64_t id = ce->id, version = ce->version;
  if (live < goal || live == 0) return;
  drop_bad_copies(r, sv, ce);
  u64map_del(&r->corrupt, id);
  /* draining replicas: not counted, no longer needed */
  uint64_t drop[255];
  size_t nd = 0;
  for (uint8_t k = 0; k < ce->nlocs; k++) {
    const server_ent *s = servers_get(sv, chunk_locs(ce)[k]);
    if (s && s->alive && s->draining) drop[nd++] = s->id;
  }
  /* extra live replicas: fullest first, only while no copy of it is in flight */
  unsigned extra = live - goal;
  if (extra && !jobs_for_chunk(r, id)) {
    while (extra--) {
      const server_ent *fullest = NULL;
      for (uint8_t k = 0; k < ce->nlocs; k++) {
        const server_ent *s = servers_get(sv, chunk_locs(ce)[k]);
        if (!s || !s->alive || s->draining) continue;
        int taken = 0;
        for (size_t q = 0; q < nd; q++) taken |= drop[q] == s->id;
        if (taken) continue;
        if (!fullest || use_of(r, s) > use_of(r, fullest) ||
            (use_of(r, s) == use_of(r, fullest) && s->id > fullest->id))
          fullest = s;
      }
      if (!fullest) break;
      drop[nd++] = fullest->id;
    }
  }
  for (size_t q = 0; q < nd; q++) {
    if (servers_queue_delete_version(sv, drop[q], id, version)) continue; /* next scan */
    chunks_del_loc(t, id, drop[q]); /* ce stays valid: only locs change */
    held_sub(r, drop[q], replica_bytes(ce));
    r->trims++;
  }
}

typedef struct {
  size_t idx;
  unsigned live;
} cand;

/* Orders candidates by live replicas, then table order: a stable counting sort (live is
 * below 256), O(n) where qsort of a large backlog cost more than the rest of the scan. */
static void sort_cands(cand *cs, size_t nc) {
  size_t cnt[257] = {0};
  for (size_t i = 0; i < nc; i++) cnt[(cs[i].live > 255 ? 255 : cs[i].live) + 1]++;
  for (size_t v = 1; v < 257; v++) cnt[v] += cnt[v - 1];
  cand *tmp = malloc(nc * sizeof *tmp);
  if (!tmp) return; /* out of memory: table order (still correct, less urgent first) */
  for (size_t i = 0; i < nc; i++) tmp[cnt[cs[i].live > 255 ? 255 : cs[i].live]++] = cs[i];
  memcpy(cs, tmp, nc * sizeof *cs);
  free(tmp);
}

/* Next chunk to move from src to dst, searching the table from the rebalance cursor
 * (one lap at most): held by src, not by dst, at its goal, no job for it, not deleted
 * from dst lately, small enough for dst. NULL if none. */
static chunk_ent *move_candidate(repl_t *r, chunks_t *t, servers_t *sv, const server_ent *src,
                                 const server_ent *dst, uint64_t now_ms) {
  if (r->rebalance_cursor >= t->n) r->rebalance_cursor = 0;
  for (size_t step = 0; step < t->n; step++) {
    size_t i = (r->rebalance_cursor + step) % t->n;
    chunk_ent *ce = &t->ents[i];
    if (!has_loc(ce, src->id) || has_loc(ce, dst->id) || jobs_for_chunk(r, ce->id)) continue;
    if (repl_live_replicas(ce, sv) < repl_goal(ce) || is_bad(r, ce->id, dst->id) ||
        backing_off(r, ce->id, now_ms))
      continue;
    if (servers_recently_deleted(sv, dst->id, ce->id, ce->version, now_ms, r->tomb_copy_ms))
      continue;
    if (projected_free(r, dst) < dst->reserve_bytes + ce->length) return NULL;
    r->rebalance_cursor = i + 1;
    return ce;
  }
  return NULL;
}

/* Up to rebalance_max_jobs moves in flight, once some server's use is more than the
 * threshold from the mean, until every server is within half of it. Each move is chosen on projected use: the
 * table's bytes per server, plus jobs in flight to it, minus the replicas earlier moves
 * will trim from the server they relieve; a move is made only while the destination
 * stays below the source afterwards, so moves never overshoot or ping-pong. */
static void rebalance(repl_t *r, chunks_t *t, servers_t *sv, uint64_t now_ms) {
  if (!r->held || r->nheld != sv->n || sv->n < 2) return;
  uint64_t *proj = malloc(sv->n * sizeof *proj);
  if (!proj) return;
  memcpy(proj, r->held, sv->n * sizeof *proj);
  uint32_t inflight = 0;
  for (size_t i = 0; i < r->njobs; i++) {
    const repl_job *j = &r->jobs[i];
    uint64_t b = (uint64_t)DFS_CHUNK_FILE_HDR + j->length;
    if (j->dst && j->dst <= sv->n) proj[j->dst - 1] += b;
    if (j->prio != REBALANCE_PRIO) continue;
    inflight++;
    if (j->from && j->from <= sv->n) proj[j->from - 1] -= proj[j->from - 1] > b ? b : proj[j->from - 1];
  }
  while (inflight < r->rebalance_max_jobs) {
    /* hysteresis: start beyond the threshold, then go on until within half of it */
    double thr = r->rebalancing ? r->rebalance_threshold / 2 : r->rebalance_threshold;
    double sum = 0;
    size_t n = 0;
    const server_ent *dst = NULL, *src = NULL, *low = NULL;
    double udst = 0, usrc = 0, ulow = 0;
    for (size_t i = 0; i < sv->n; i++) {
      const server_ent *s = &sv->v[i];
      if (!s->alive || s->draining || !s->capacity) continue;
      sum += use_with(s, proj[i]);
      n++;
    }
    if (n < 2) break;
    double mean = sum / (double)n;
    for (size_t i = 0; i < sv->n; i++) {
      const server_ent *s = &sv->v[i];
      if (!s->alive || s->draining || !s->capacity) continue;
      double u = use_with(s, proj[i]);
      if (servers_placeable(s) && u < mean && (!low || u < ulow)) low = s, ulow = u;
      if (servers_placeable(s) && u < mean - thr && (!dst || u < udst))
        dst = s, udst = u;
      if (u > mean && (!src || u > usrc)) src = s, usrc = u;
    }
    /* nobody far below the mean, but somebody far above it: move to the emptiest one */
    if (!dst && src && usrc > mean + thr) dst = low, udst = ulow;
    if (!dst || !src || dst == src) {
      r->rebalancing = 0; /* balanced */
      break;
    }
    chunk_ent *ce = move_candidate(r, t, sv, src, dst, now_ms);
    uint64_t b = ce ? replica_bytes(ce) : 0;
    /* nothing to move, or the move would only swap which of them is fuller: stop (and
     * say so in admin status; the next scan looks again) */
    if (!ce || use_with(dst, proj[dst->id - 1] + b) >=
                   use_with(src, proj[src->id - 1] - (proj[src->id - 1] > b ? b : proj[src->id - 1]))) {
      if (!inflight) r->rebalancing = 0;
      break;
    }
    repl_job *j = job_add(r, ce, dst->id, REBALANCE_PRIO);
    if (!j) break;
    j->from = src->id;
    r->rebalancing = 1;
    pend_add(r, ce->id);
    proj[dst->id - 1] += b;
    proj[src->id - 1] -= proj[src->id - 1] > b ? b : proj[src->id - 1];
    r->moves++;
    inflight++;
  }
  free(proj);
}

/* Appends c to the candidate vector (grown by doubling). 0 or DFS_ENOMEM. */
static int cand_push(cand **v, size_t *n, size_t *cap, cand c) {
  cand *nv = dfs_grow(*v, cap, *n + 1, sizeof *nv, 256);
  if (!nv) return DFS_ENOMEM;
  *v = nv;
  (*v)[(*n)++] = c;
  return 0;
}

/* Per-server flags for one scan, indexed by id - 1 (one pass over the servers instead of
 * one per replica). */
#define SV_ALIVE 1u
#define SV_COUNTS 2u    /* alive and not draining: counts toward the goal */
#define SV_PLACEABLE 4u /* servers_placeable */

/* Forgets the failure counts of chunks that no longer exist. */
static void fails_prune(repl_t *r, chunks_t *t) {
  if (!r->fails.count) return;
  uint64_t *gone = malloc(r->fails.count * sizeof *gone);
  size_t n = 0;
  for (size_t i = 0; gone && i < r->fails.cap; i++)
    if (r->fails.keys[i] && !chunks_get(t, r->fails.keys[i])) gone[n++] = r->fails.keys[i];
  for (size_t i = 0; i < n; i++) copy_succeeded(r, gone[i]);
  free(gone);
}

void repl_scan(repl_t *r, chunks_t *t, servers_t *sv, uint64_t now_ms) {
  r->scan_wanted = 0;
  expire_jobs(r, t, sv, now_ms);
  fails_prune(r, t);
  pend_build(r);
  r->under = r->endangered = r->missing = r->corrupt_n = r->over = r->repairable = 0;
  uint8_t *fl = calloc(sv->n ? sv->n : 1, 1);
  unsigned nplaceable = 0;
  for (size_t k = 0; fl && k < sv->n; k++) {
    const server_ent *s = &sv->v[k];
    fl[k] = (uint8_t)((s->alive ? SV_ALIVE : 0) | (s->alive && !s->draining ? SV_COUNTS : 0) |
                      (servers_placeable(s) ? SV_PLACEABLE : 0));
    nplaceable += (fl[k] & SV_PLACEABLE) != 0;
  }
  cand *cs = NULL, *over = NULL;
  size_t nc = 0, capc = 0, nover = 0, capover = 0;
  int cs_ok = fl != NULL, over_ok = 1;
  /* bytes of replicas per server (id - 1) by the table: trims and moves decide on these */
  uint64_t *held = calloc(sv->n ? sv->n : 1, sizeof *held);
  int any_corrupt = r->corrupt.count > 0;
  for (size_t i = 0; fl && i < t->n; i++) {
    chunk_ent *ce = &t->ents[i];
    unsigned live = 0, readable = 0, draining = 0, placed = 0, goal = repl_goal(ce);
    for (uint8_t k = 0; k < ce->nlocs; k++) {
      uint64_t id = chunk_locs(ce)[k];
      uint8_t f = id && id <= sv->n ? fl[id - 1] : 0;
      readable += (f & SV_ALIVE) != 0;
      live += (f & SV_COUNTS) != 0;
      draining += (f & SV_ALIVE) && !(f & SV_COUNTS);
      placed += (f & SV_PLACEABLE) != 0;
      if (held && id && id <= sv->n) held[id - 1] += replica_bytes(ce);
    }
    if (any_corrupt && u64map_get(&r->corrupt, ce->id, NULL)) r->corrupt_n++;
    if (!readable) {
      r->missing++; /* nothing can copy it: it waits for a server holding it to return */
      continue;
    }
    if (live < goal) {
      r->under++;
      if (live <= 1 && goal > 1) r->endangered++;
      /* a copy can go somewhere: some placeable server does not hold it yet */
      if (placed < nplaceable) r->repairable++;
      size_t pending = r->njobs ? jobs_for_chunk(r, ce->id) : 0;
      if (live + pending < goal && cs_ok && !backing_off(r, ce->id, now_ms) && cand_push(&cs, &nc, &capc, (cand){i, live}))
        cs_ok = 0; /* out of memory: queue what fits, the next scan finds the rest */
    } else {
      if (r->fails.count) copy_succeeded(r, ce->id); /* at its goal: forget old failures */
      /* extra replicas: trimmed after the loop, when every server's bytes are counted
       * (fullest first); draining replicas, bad copies, a corrupt mark: now */
      if (live > goal) {
        r->over++;
        if (over_ok && cand_push(&over, &nover, &capover, (cand){i, live})) over_ok = 0;
      } else if (draining || r->nbad || any_corrupt) {
        trim_chunk(r, t, sv, ce, live, goal);
      }
    }
  }
  free(fl);
  free(r->held);
  r->held = held;
  r->nheld = held ? sv->n : 0;
  for (size_t i = 0; i < nover; i++) {
    chunk_ent *ce = &t->ents[over[i].idx];
    trim_chunk(r, t, sv, ce, over[i].live, repl_goal(ce));
  }
  free(over);
  dst_ctx d;
  if (cs && dst_ctx_init(&d, r, sv) == 0) {
    sort_cands(cs, nc);
    size_t added = 0;
    /* most endangered first, until every destination's queue is full */
    for (size_t i = 0; i < nc && added < SCAN_MAX_NEW_JOBS && d.open; i++) {
      chunk_ent *ce = &t->ents[cs[i].idx];
      unsigned goal = repl_goal(ce);
      size_t have = cs[i].live + jobs_for_chunk(r, ce->id);
      while (have < goal) {
        uint64_t dst = choose_dst(r, ce, sv, &d, now_ms);
        /* no destination because the only servers that could take it still hold a bad
         * copy of it (a small cluster): delete those now (a good replica is live), so
         * that a later scan can copy there instead of waiting forever */
        if (!dst && r->nbad && cs[i].live > 0) drop_bad_copies(r, sv, ce);
        /* priority: the replicas it will have before this copy, so that a chunk down to
         * one copy gets its second before any chunk gets its third */
        if (!dst || !job_add(r, ce, dst, (uint32_t)have)) break;
        pend_add(r, ce->id);
        d.bytes[dst - 1] += ce->length;
        if (++d.used[dst - 1] == r->max_queue_per_server) d.open--;
        have++;
        added++;
      }
    }
  }
  if (cs) dst_ctx_free(&d);
  free(cs);
  /* moves only once no chunk that can be repaired is under its goal (missing chunks and
   * chunks with no possible destination do not hold rebalancing up) */
  if (!r->repairable) rebalance(r, t, sv, now_ms);
  r->pend_valid = 0; /* jobs change outside scans */
}

/* 1 if server may run job j (instead of its own destination). */
static int can_steal(const repl_t *r, chunks_t *t, servers_t *sv, const repl_job *j,
                     const server_ent *thief, uint64_t now_ms) {
  const chunk_ent *ce = chunks_get(t, j->chunk);
  if (!ce || has_loc(ce, thief->id) || job_exists(r, j->chunk, thief->id) ||
      is_bad(r, j->chunk, thief->id))
    return 0;
  if (j->prio == REBALANCE_PRIO) return 0; /* moves are aimed at one particular server */
  if (servers_recently_deleted(sv, thief->id, j->chunk, j->version, now_ms, r->tomb_copy_ms)) return 0;
  return projected_free(r, thief) >= thief->reserve_bytes + ce->length;
}

static repl_job *best_queued(repl_t *r, uint64_t dst) {
  repl_job *best = NULL;
  for (size_t i = 0; i < r->njobs; i++) {
    repl_job *j = &r->jobs[i];
    if (j->running || j->dst != dst) continue;
    if (!best || j->prio < best->prio || (j->prio == best->prio && j->job_id < best->job_id))
      best = j;
  }
  return best;
}

size_t repl_take_jobs(repl_t *r, chunks_t *t, servers_t *sv, uint64_t server, uint32_t slots,
                      uint64_t now_ms, repl_job **out, size_t max) {
  server_ent *me = servers_get(sv, server);
  if (!me || !servers_placeable(me)) return 0;
  uint32_t running = repl_jobs_running(r, server);
  if (running >= r->max_jobs_per_server) return 0;
  size_t room = r->max_jobs_per_server - running;
  if (slots < room) room = slots;
  if (max < room) room = max;
  size_t n = 0;
  while (n < room) {
    repl_job *own = best_queued(r, server);
    /* work stealing: with an empty own queue, the most urgent job queued for a busy
     * server; with only less urgent jobs queued here, a more urgent job queued for any
     * server (endangered chunks first across the whole cluster, not per destination) */
    repl_job *best = NULL;
    for (size_t i = 0; (!own || own->prio > 0) && i < r->njobs; i++) {
      repl_job *j = &r->jobs[i];
      if (j->running || j->dst == server || (own && j->prio >= own->prio)) continue;
      const server_ent *owner = servers_get(sv, j->dst);
      /* with nothing queued here, only from a busy owner (no free slot right now); a
       * strictly more urgent job than this server's own is taken from any owner */
      if (!own && owner && owner->copy_slots_free > 0 &&
          repl_jobs_running(r, owner->id) < r->max_jobs_per_server)
        continue;
      if (!can_steal(r, t, sv, j, me, now_ms)) continue;
      if (!best || j->prio < best->prio || (j->prio == best->prio && j->job_id < best->job_id))
        best = j;
    }
    repl_job *j = best ? best : own;
    if (!j) break;
    if (best) {
      best->dst = server;
      r->copies_stolen++;
    }
    j->running = 1;
    j->sent_ms = now_ms;
    j->deadline_ms = now_ms + r->job_timeout_ms;
    out[n++] = j;
  }
  return n;
}

size_t repl_sources(const chunk_ent *ce, servers_t *sv, uint64_t dst, uint64_t *out,
                    size_t max) {
  size_t n = 0;
  for (int pass = 0; pass < 2; pass++) /* non-draining first, then draining */
    for (uint8_t k = 0; k < ce->nlocs && n < max; k++) {
      const server_ent *s = servers_get(sv, chunk_locs(ce)[k]);
      if (!s || !s->alive || s->id == dst || (s->draining != 0) != (pass == 1)) continue;
      size_t j = n++;
      while (j > 0 && pass == 0 && servers_get(sv, out[j - 1])->load > s->load) {
        out[j] = out[j - 1];
        j--;
      }
      out[j] = s->id;
    }
  return n;
}

void repl_job_result(repl_t *r, chunks_t *t, servers_t *sv, uint64_t server, uint64_t job_id,
                     int ok, uint64_t now_ms) {
  for (size_t i = 0; i < r->njobs; i++) {
    repl_job *j = &r->jobs[i];
    if (j->job_id != job_id || j->dst != server) continue;
    const chunk_ent *ce = chunks_get(t, j->chunk);
    if (ok && now_ms >= j->sent_ms &&
        servers_recently_deleted(sv, server, j->chunk, j->version, now_ms,
                                 now_ms - j->sent_ms + 1)) {
      LOG_WARN("copy job %llu: server %llu was told to delete chunk %llu meanwhile; not "
               "counting its copy", (unsigned long long)job_id, (unsigned long long)server,
               (unsigned long long)j->chunk);
      ok = 0;
    }
    if (ok && ce && ce->version == j->version) {
      chunks_add_loc(t, j->chunk, server);
      r->copies_done++;
      copy_succeeded(r, j->chunk);
    } else if (!ok) {
      r->copies_failed++;
      copy_failed(r, j->chunk, now_ms);
    }
    job_remove(r, i);
    r->scan_wanted = 1;
    return;
  }
}

void repl_bad_replica(repl_t *r, chunks_t *t, uint64_t chunk, uint64_t server, int delete_copy) {
  chunk_ent *ce = chunks_get(t, chunk);
  if (!ce) return;
  chunks_del_loc(t, chunk, server);
  u64map_put(&r->corrupt, chunk, 1);
  r->scan_wanted = 1;
  if (!delete_copy) return;
  for (size_t i = 0; i < r->nbad; i++)
    if (r->bad[i].chunk == chunk && r->bad[i].server == server) return;
  repl_bad *nb = dfs_grow(r->bad, &r->capbad, r->nbad + 1, sizeof *nb, 16);
  if (!nb) return;
  r->bad = nb;
  r->bad[r->nbad++] = (repl_bad){chunk, ce->version, server};
}
