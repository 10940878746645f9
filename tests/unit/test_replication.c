/* Unit tests of src/metad/replication.c on plain tables (no sockets): queue order (one
 * live replica first), per-server limits, work stealing, trimming of extra replicas
 * (fullest first, never the last good one), draining servers, full servers, bad replicas,
 * timeouts and rebalancing toward an empty server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/frame.h"
#include "common/util.h"
#include "metad/replication.h"

#define GiB (1ull << 30)

typedef struct {
  chunks_t t;
  servers_t sv;
  repl_t r;
} world;

/* n live servers with 10 GiB free of 20 GiB, 2 copy slots each. */
static void world_init(world *w, int n) {
  chunks_init(&w->t);
  servers_init(&w->sv);
  repl_init(&w->r);
  w->r.max_jobs_per_server = 2;
  for (int i = 0; i < n; i++) {
    char uuid[16];
    snprintf(uuid, sizeof uuid, "s%d", i + 1);
    uint64_t id = servers_map(&w->sv, uuid);
    server_ent *e = servers_get(&w->sv, id);
    e->alive = e->registered = 1;
    e->capacity = 20 * GiB;
    e->free_bytes = 10 * GiB;
    e->copy_slots_free = 2;
    snprintf(e->host, sizeof e->host, "127.0.0.1");
    e->port = (uint32_t)(9000 + i);
  }
}

static void world_free(world *w) {
  repl_free(&w->r);
  servers_free(&w->sv);
  chunks_free(&w->t);
}

/* chunk id with goal and replicas on the given servers (0-terminated list). */
static void add_chunk(world *w, uint64_t id, unsigned goal, const uint64_t *locs) {
  assert_int_equal(chunks_add(&w->t, id, 1, DFS_CHUNK_SIZE, 0x1234), 0);
  chunks_get(&w->t, id)->goal = (uint8_t)goal;
  for (; *locs; locs++) assert_int_equal(chunks_add_loc(&w->t, id, *locs), 0);
}

static size_t take(world *w, uint64_t server, uint32_t slots, repl_job **out) {
  return repl_take_jobs(&w->r, &w->t, &w->sv, server, slots, 1000, out, 64);
}

static void test_queue_order_and_missing(void **state) {
  (void)state;
  world w;
  world_init(&w, 4);
  add_chunk(&w, 1, 3, (uint64_t[]){1, 2, 0});    /* 2 live: under */
  add_chunk(&w, 2, 3, (uint64_t[]){1, 0});       /* 1 live: endangered, jumps the queue */
  add_chunk(&w, 3, 2, (uint64_t[]){0});          /* no replica: missing, not queued */
  add_chunk(&w, 4, 2, (uint64_t[]){3, 4, 0});    /* healthy */
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.under, 2);
  assert_int_equal(w.r.endangered, 1);
  assert_int_equal(w.r.missing, 1);
  assert_int_equal(w.r.over, 0);
  /* chunk 2 needs 2 copies, chunk 1 one; none for 3 or 4 */
  assert_int_equal(repl_jobs_queued(&w.r, 0), 3);
  for (size_t i = 0; i < w.r.njobs; i++) {
    assert_true(w.r.jobs[i].chunk == 1 || w.r.jobs[i].chunk == 2);
    /* never to a server that already holds it */
    const chunk_ent *ce = chunks_get(&w.t, w.r.jobs[i].chunk);
    for (uint8_t k = 0; k < ce->nlocs; k++) assert_true(chunk_locs(ce)[k] != w.r.jobs[i].dst);
  }
  /* a second scan adds nothing: jobs in flight count */
  repl_scan(&w.r, &w.t, &w.sv, 10);
  assert_int_equal(repl_jobs_queued(&w.r, 0), 3);
  /* priority = replicas before the copy: chunk 2's second replica (prio 1) comes before
   * anything's third (prio 2: chunk 2's other copy and chunk 1's) */
  uint32_t p1 = 0, p2 = 0;
  for (size_t i = 0; i < w.r.njobs; i++) {
    if (w.r.jobs[i].prio == 1) {
      assert_int_equal(w.r.jobs[i].chunk, 2);
      p1++;
    }
    if (w.r.jobs[i].prio == 2) p2++;
  }
  assert_int_equal(p1, 1);
  assert_int_equal(p2, 2);
  /* the server the prio-1 copy is queued for takes it first */
  repl_job *out[64];
  uint64_t first = 0;
  for (size_t i = 0; i < w.r.njobs; i++)
    if (w.r.jobs[i].prio == 1) first = w.r.jobs[i].dst;
  size_t n = take(&w, first, 1, out);
  assert_int_equal(n, 1);
  assert_int_equal(out[0]->chunk, 2);
  assert_int_equal(out[0]->prio, 1);
  assert_int_equal(repl_jobs_running(&w.r, first), 1);
  world_free(&w);
}

static void test_result_and_timeout(void **state) {
  (void)state;
  world w;
  world_init(&w, 3);
  add_chunk(&w, 7, 2, (uint64_t[]){1, 0});
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.njobs, 1);
  uint64_t dst = w.r.jobs[0].dst;
  repl_job *out[64];
  assert_int_equal(take(&w, dst, 2, out), 1);
  uint64_t job = out[0]->job_id;
  /* a failure drops the job; the next scan queues the chunk again */
  repl_job_result(&w.r, &w.t, &w.sv, dst, job, 0, 1000000);
  assert_int_equal(w.r.njobs, 0);
  assert_int_equal(w.r.copies_failed, 1);
  repl_scan(&w.r, &w.t, &w.sv, 100);
  assert_int_equal(w.r.njobs, 1);
  dst = w.r.jobs[0].dst;
  assert_int_equal(take(&w, dst, 2, out), 1); /* running from t=1000, deadline +60 s */
  repl_scan(&w.r, &w.t, &w.sv, 1000 + 60001); /* timed out: dropped */
  assert_int_equal(w.r.copies_failed, 2);
  /* two failures in a row: the chunk waits 1 s before it is queued again */
  assert_int_equal(w.r.njobs, 0);
  repl_scan(&w.r, &w.t, &w.sv, 1000 + 60001 + 999);
  assert_int_equal(w.r.njobs, 0);
  repl_scan(&w.r, &w.t, &w.sv, 1000 + 60001 + 1000);
  assert_int_equal(w.r.njobs, 1);
  assert_int_equal(w.r.jobs[0].running, 0);
  dst = w.r.jobs[0].dst;
  assert_int_equal(take(&w, dst, 2, out), 1);
  /* success: the location is added, the chunk is healthy */
  repl_job_result(&w.r, &w.t, &w.sv, dst, out[0]->job_id, 1, 1000000);
  assert_int_equal(w.r.copies_done, 1);
  assert_int_equal(repl_live_replicas(chunks_get(&w.t, 7), &w.sv), 2);
  repl_scan(&w.r, &w.t, &w.sv, 70000);
  assert_int_equal(w.r.under, 0);
  assert_int_equal(w.r.njobs, 0);
  world_free(&w);
}

static void test_slots_limits_and_stealing(void **state) {
  (void)state;
  world w;
  world_init(&w, 3);
  /* server 1 is much emptier: every copy is queued for it */
  servers_get(&w.sv, 1)->free_bytes = 19 * GiB;
  for (uint64_t id = 1; id <= 6; id++) add_chunk(&w, id, 2, (uint64_t[]){2, 0});
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(repl_jobs_queued(&w.r, 1), 6);
  repl_job *out[64];
  /* server 1 takes at most min(its slots, max_jobs_per_server) */
  assert_int_equal(take(&w, 1, 1, out), 1);
  assert_int_equal(take(&w, 1, 5, out), 1); /* max_jobs_per_server = 2 */
  assert_int_equal(take(&w, 1, 5, out), 0);
  assert_int_equal(w.r.copies_stolen, 0);
  /* server 1 is now busy (no free slot): idle server 3 steals from its queue */
  servers_get(&w.sv, 1)->copy_slots_free = 0;
  size_t n = take(&w, 3, 2, out);
  assert_int_equal(n, 2);
  assert_int_equal(w.r.copies_stolen, 2);
  for (size_t i = 0; i < n; i++) assert_int_equal(out[i]->dst, 3);
  /* server 2 holds every chunk: it can never be a destination, so it steals nothing */
  assert_int_equal(take(&w, 2, 2, out), 0);
  assert_int_equal(repl_jobs_queued(&w.r, 1), 2);
  /* an idle owner keeps its queue: nobody steals from a server with free slots */
  servers_get(&w.sv, 1)->copy_slots_free = 2;
  world_free(&w);
  world_init(&w, 3);
  servers_get(&w.sv, 1)->free_bytes = 19 * GiB;
  add_chunk(&w, 1, 2, (uint64_t[]){2, 0});
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(take(&w, 3, 2, out), 0);
  assert_int_equal(w.r.copies_stolen, 0);
  world_free(&w);
}

static void test_trim_fullest_never_last(void **state) {
  (void)state;
  world w;
  world_init(&w, 4);
  servers_get(&w.sv, 3)->free_bytes = 1 * GiB; /* fullest */
  servers_get(&w.sv, 4)->free_bytes = 2 * GiB;
  add_chunk(&w, 1, 2, (uint64_t[]){1, 2, 3, 4, 0});
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.over, 1);
  const chunk_ent *ce = chunks_get(&w.t, 1);
  assert_int_equal(ce->nlocs, 2);
  for (uint8_t k = 0; k < ce->nlocs; k++) assert_true(chunk_locs(ce)[k] == 1 || chunk_locs(ce)[k] == 2);
  assert_int_equal(servers_get(&w.sv, 3)->ndv, 1);
  assert_int_equal(servers_get(&w.sv, 4)->ndv, 1);
  uint64_t pair[2];
  assert_int_equal(servers_take_delete_versions(&w.sv, 3, pair, 1), 1);
  assert_int_equal(pair[0], 1);
  assert_int_equal(pair[1], 1);
  /* goal 1, one live replica and a dead one: nothing is trimmed */
  add_chunk(&w, 2, 1, (uint64_t[]){1, 2, 0});
  servers_get(&w.sv, 2)->alive = 0;
  repl_scan(&w.r, &w.t, &w.sv, 10);
  assert_int_equal(chunks_get(&w.t, 2)->nlocs, 2);
  assert_int_equal(servers_get(&w.sv, 1)->ndv, 0);
  world_free(&w);
}

static void test_draining(void **state) {
  (void)state;
  world w;
  world_init(&w, 4);
  add_chunk(&w, 1, 2, (uint64_t[]){1, 2, 0});
  servers_get(&w.sv, 1)->draining = 1;
  assert_false(servers_placeable(servers_get(&w.sv, 1)));
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.under, 1);
  assert_int_equal(w.r.endangered, 1);
  assert_int_equal(w.r.njobs, 1);
  uint64_t dst = w.r.jobs[0].dst;
  assert_true(dst == 3 || dst == 4);
  /* the draining server is still a source, after the healthy one */
  uint64_t src[8];
  size_t ns = repl_sources(chunks_get(&w.t, 1), &w.sv, dst, src, 8);
  assert_int_equal(ns, 2);
  assert_int_equal(src[0], 2);
  assert_int_equal(src[1], 1);
  /* a draining server takes no jobs */
  repl_job *out[64];
  assert_int_equal(take(&w, 1, 2, out), 0);
  /* not trimmed while the goal is not met elsewhere: it may be the last good copy */
  repl_scan(&w.r, &w.t, &w.sv, 5);
  assert_int_equal(servers_get(&w.sv, 1)->ndv, 0);
  assert_int_equal(take(&w, dst, 2, out), 1);
  repl_job_result(&w.r, &w.t, &w.sv, dst, out[0]->job_id, 1, 1000000);
  /* goal met without it: its replica is trimmed */
  repl_scan(&w.r, &w.t, &w.sv, 10);
  assert_int_equal(servers_get(&w.sv, 1)->ndv, 1);
  assert_int_equal(chunks_get(&w.t, 1)->nlocs, 2);
  assert_int_equal(w.r.under, 0);
  world_free(&w);
}

static void test_full_servers(void **state) {
  (void)state;
  world w;
  world_init(&w, 3);
  server_ent *s3 = servers_get(&w.sv, 3);
  s3->reserve_bytes = 64ull << 20;
  s3->free_bytes = (64ull << 20) + DFS_CHUNK_SIZE - 1; /* less than a chunk above reserve */
  assert_true(servers_is_full(s3));
  assert_string_equal(servers_state(s3), "full");
  add_chunk(&w, 1, 3, (uint64_t[]){1, 0});
  repl_scan(&w.r, &w.t, &w.sv, 0);
  /* only server 2 can take a copy; the chunk stays under-replicated */
  assert_int_equal(w.r.njobs, 1);
  assert_int_equal(w.r.jobs[0].dst, 2);
  repl_job *out[64];
  assert_int_equal(take(&w, 3, 2, out), 0);
  servers_get(&w.sv, 2)->alive = 0;
  assert_string_equal(servers_state(servers_get(&w.sv, 2)), "dead");
  repl_scan(&w.r, &w.t, &w.sv, 10); /* destination died: job dropped, nowhere to go */
  assert_int_equal(w.r.njobs, 0);
  world_free(&w);
}

static void test_bad_replica(void **state) {
  (void)state;
  world w;
  world_init(&w, 3);
  add_chunk(&w, 1, 2, (uint64_t[]){1, 2, 0});
  repl_bad_replica(&w.r, &w.t, 1, 2, 1);
  assert_int_equal(chunks_get(&w.t, 1)->nlocs, 1);
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.corrupt_n, 1);
  assert_int_equal(w.r.njobs, 1);
  assert_int_equal(w.r.jobs[0].dst, 3); /* never onto the server with the bad copy */
  assert_int_equal(servers_get(&w.sv, 2)->ndv, 0); /* not deleted before a good copy exists */
  repl_job *out[64];
  assert_int_equal(take(&w, 3, 2, out), 1);
  repl_job_result(&w.r, &w.t, &w.sv, 3, out[0]->job_id, 1, 1000000);
  repl_scan(&w.r, &w.t, &w.sv, 10);
  assert_int_equal(servers_get(&w.sv, 2)->ndv, 1); /* now the bad copy goes */
  repl_scan(&w.r, &w.t, &w.sv, 20);
  assert_int_equal(w.r.corrupt_n, 0);
  world_free(&w);
}

static void test_rebalance(void **state) {
  (void)state;
  world w;
  world_init(&w, 3);
  w.r.rebalance_max_jobs = 3;
  servers_get(&w.sv, 1)->free_bytes = 4 * GiB;  /* 80% used */
  servers_get(&w.sv, 2)->free_bytes = 5 * GiB;  /* 75% */
  servers_get(&w.sv, 3)->free_bytes = 20 * GiB; /* new and empty */
  for (uint64_t id = 1; id <= 10; id++) add_chunk(&w, id, 2, (uint64_t[]){1, 2, 0});
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.njobs, 3); /* throttled by rebalance.max_jobs */
  for (size_t i = 0; i < w.r.njobs; i++) {
    assert_int_equal(w.r.jobs[i].dst, 3);
    assert_int_equal(w.r.jobs[i].prio, 100);
  }
  repl_job *out[64];
  assert_int_equal(take(&w, 3, 2, out), 2);
  repl_job_result(&w.r, &w.t, &w.sv, 3, out[0]->job_id, 1, 1000000);
  repl_scan(&w.r, &w.t, &w.sv, 10);
  /* the moved chunk is trimmed from the fullest server (1) */
  assert_int_equal(servers_get(&w.sv, 1)->ndv, 1);
  /* balanced servers: no moves */
  world_free(&w);
  world_init(&w, 3);
  for (uint64_t id = 1; id <= 10; id++) add_chunk(&w, id, 2, (uint64_t[]){1, 2, 0});
  servers_get(&w.sv, 3)->free_bytes = 10 * GiB - (1ull << 20);
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.njobs, 0);
  world_free(&w);
}

/* Reports that lag behind (free space never updated here, as between heartbeats) do
 * not make rebalancing overshoot: moves are counted from the chunk table, so the new
 * server ends near the mean, no replica moved to it is trimmed back, and moving stops. */
static void test_rebalance_no_overshoot(void **state) {
  (void)state;
  world w;
  world_init(&w, 4);
  w.r.rebalance_max_jobs = 64;
  const uint64_t cap = 64ull << 20, per = DFS_CHUNK_FILE_HDR + DFS_CHUNK_SIZE;
  for (uint64_t id = 1; id <= 30; id++) /* 20 replicas on each of servers 1-3 */
    add_chunk(&w, id, 2, (uint64_t[]){1 + (id - 1) % 3, 1 + id % 3, 0});
  for (uint64_t s = 1; s <= 4; s++) {
    server_ent *e = servers_get(&w.sv, s);
    e->capacity = cap;
    e->chunk_bytes = s < 4 ? 20 * per : 0;
    e->free_bytes = cap - e->chunk_bytes;
    e->copy_slots_free = 64;
  }
  repl_job *out[64];
  uint64_t now = 0;
  for (int round = 0; round < 100; round++) {
    repl_scan(&w.r, &w.t, &w.sv, now += 10);
    if (!w.r.njobs) break;
    size_t n = take(&w, 4, 64, out);
    uint64_t ids[64];
    for (size_t i = 0; i < n; i++) ids[i] = out[i]->job_id;
    for (size_t i = 0; i < n; i++) repl_job_result(&w.r, &w.t, &w.sv, 4, ids[i], 1, now += 2000);
  }
  assert_int_equal(w.r.njobs, 0);
  unsigned held[5] = {0};
  for (size_t i = 0; i < w.t.n; i++)
    for (uint8_t k = 0; k < w.t.ents[i].nlocs; k++) held[chunk_locs(&w.t.ents[i])[k]]++;
  /* 60 replicas: mean 15; within 5% of 64 MiB (3 chunks) */
  for (int s = 1; s <= 4; s++) assert_in_range(held[s], 12, 18);
  assert_int_equal(w.r.moves, held[4]); /* every move stayed */
  world_free(&w);
}

static double secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Delete orders and their tombs: a queued order counts as a recent delete, a sent one
 * for max_age from the send, other versions never; and a trim of 200k replicas on one
 * server is linear (it was quadratic: tens of seconds of a frozen metad). */
static void test_delete_tombs(void **state) {
  (void)state;
  world w;
  world_init(&w, 2);
  const uint64_t n = 200000;
  double t0 = secs();
  for (uint64_t c = 1; c <= n; c++)
    assert_int_equal(servers_queue_delete_version(&w.sv, 1, c, 7), 0);
  assert_int_equal(servers_queue_delete_version(&w.sv, 1, 5, 7), 0); /* a duplicate */
  assert_int_equal(servers_get(&w.sv, 1)->ndv, n);
  double t1 = secs();
  uint64_t now = dfs_now_ms();
  assert_true(servers_recently_deleted(&w.sv, 1, 5, 7, now + 3600000, 1)); /* pending */
  assert_false(servers_recently_deleted(&w.sv, 1, 5, 6, now, 1000));      /* other version */
  assert_false(servers_recently_deleted(&w.sv, 2, 5, 7, now, 1000));      /* other server */
  static uint64_t pairs[2 * 4096];
  size_t got = 0, k;
  while ((k = servers_take_delete_versions(&w.sv, 1, pairs, 4096)) > 0) got += k;
  assert_int_equal(got, n);
  double t2 = secs();
  now = dfs_now_ms();
  size_t recent = 0;
  for (uint64_t c = 1; c <= n; c++) recent += servers_recently_deleted(&w.sv, 1, c, 7, now, 60000);
  assert_int_equal(recent, n);
  assert_false(servers_recently_deleted(&w.sv, 1, 5, 7, now + 60000, 1000)); /* aged out */
  double t3 = secs();
  print_message("%llu delete orders: queued in %.1f ms, sent in %.1f ms, looked up in %.1f ms\n",
                (unsigned long long)n, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3);
  world_free(&w);
}

/* A chunk whose copies keep failing (its only source's disk fails every read) waits
 * 1, 2, 4 ... s (at most 10 s) between attempts instead of a failing job per scan; a
 * success forgets the failures. */
static void test_copy_failure_backoff(void **state) {
  (void)state;
  world w;
  world_init(&w, 3);
  add_chunk(&w, 9, 2, (uint64_t[]){1, 0});
  uint64_t now = 1000000, attempts = 0;
  repl_job *out[64];
  for (uint64_t t = now; t < now + 40000; t += 100) { /* 40 s of scans every 100 ms */
    repl_scan(&w.r, &w.t, &w.sv, t);
    if (!w.r.njobs) continue;
    uint64_t dst = w.r.jobs[0].dst;
    assert_int_equal(take(&w, dst, 1, out), 1);
    repl_job_result(&w.r, &w.t, &w.sv, dst, out[0]->job_id, 0, t);
    attempts++;
  }
  /* t=0, 0.1 (2nd failure: wait 1 s), 1.1 (2 s), 3.1 (4 s), 7.1 (8 s), 15.1 (10 s: the
   * cap), 25.1, 35.1 */
  assert_int_equal(attempts, 8);
  now += 40000;
  uint64_t dst = 0;
  for (uint64_t t = now; !dst && t < now + 40000; t += 100) {
    repl_scan(&w.r, &w.t, &w.sv, t);
    if (w.r.njobs) dst = w.r.jobs[0].dst, now = t;
  }
  assert_int_not_equal(dst, 0);
  assert_int_equal(take(&w, dst, 1, out), 1);
  repl_job_result(&w.r, &w.t, &w.sv, dst, out[0]->job_id, 1, now);
  assert_int_equal(w.r.fails.count, 0);
  assert_int_equal(w.r.retry_at.count, 0);
  world_free(&w);
}

/* A client reports server 1's copy bad in a 2-server cluster: the only destination
 * holds that bad copy. It is deleted at once (the good replica is live) and the chunk is
 * copied there after the tomb period, instead of staying under its goal forever. */
static void test_bad_copy_on_only_destination(void **state) {
  (void)state;
  world w;
  world_init(&w, 2);
  add_chunk(&w, 5, 2, (uint64_t[]){1, 2, 0});
  repl_bad_replica(&w.r, &w.t, 5, 1, 1);
  uint64_t now = dfs_now_ms();
  repl_scan(&w.r, &w.t, &w.sv, now);
  assert_int_equal(w.r.under, 1);
  assert_int_equal(w.r.nbad, 0);                        /* forgotten: delete queued */
  assert_int_equal(servers_get(&w.sv, 1)->ndv, 1);
  uint64_t pairs[2];
  assert_int_equal(servers_take_delete_versions(&w.sv, 1, pairs, 1), 1);
  repl_scan(&w.r, &w.t, &w.sv, dfs_now_ms() + 5000);   /* after the tomb period */
  assert_int_equal(w.r.njobs, 1);
  assert_int_equal(w.r.jobs[0].dst, 1);
  world_free(&w);
}

/* Endangered first across servers: a server whose own queue holds only a less urgent
 * copy steals a more urgent one queued for a busy server first. */
static void test_steal_more_urgent_first(void **state) {
  (void)state;
  world w;
  world_init(&w, 4);
  servers_get(&w.sv, 1)->free_bytes = 19 * GiB; /* the emptiest: gets the endangered copy */
  servers_get(&w.sv, 3)->free_bytes = 15 * GiB;
  add_chunk(&w, 1, 2, (uint64_t[]){2, 0});       /* one copy left: prio 1 */
  add_chunk(&w, 2, 3, (uint64_t[]){1, 2, 0});    /* two of three: prio 2 */
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(repl_jobs_queued(&w.r, 1), 1); /* chunk 1 -> server 1 */
  assert_int_equal(repl_jobs_queued(&w.r, 3), 1); /* chunk 2 -> server 3 */
  servers_get(&w.sv, 1)->copy_slots_free = 0;    /* server 1 is busy */
  repl_job *out[64];
  assert_int_equal(take(&w, 3, 1, out), 1);
  assert_int_equal(out[0]->chunk, 1); /* the endangered one, stolen */
  assert_int_equal(out[0]->dst, 3);
  assert_int_equal(w.r.copies_stolen, 1);
  assert_int_equal(take(&w, 3, 1, out), 1);
  assert_int_equal(out[0]->chunk, 2); /* then its own */
  world_free(&w);
}

/* Rebalancing waits only for chunks that can be repaired: a missing chunk (no readable
 * replica) and a chunk whose goal no placeable server can raise do not hold it up; a
 * repairable under-replicated chunk does. */
static void test_rebalance_not_blocked_by_unrepairable(void **state) {
  (void)state;
  world w;
  world_init(&w, 3);
  servers_get(&w.sv, 1)->free_bytes = 4 * GiB;
  servers_get(&w.sv, 2)->free_bytes = 5 * GiB;
  servers_get(&w.sv, 3)->free_bytes = 20 * GiB; /* new and empty */
  for (uint64_t id = 1; id <= 6; id++) add_chunk(&w, id, 2, (uint64_t[]){1, 2, 0});
  add_chunk(&w, 50, 2, (uint64_t[]){0});          /* missing: nothing can copy it */
  add_chunk(&w, 51, 4, (uint64_t[]){1, 2, 3, 0}); /* goal 4 on 3 servers: no destination */
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.under, 1);
  assert_int_equal(w.r.missing, 1);
  assert_int_equal(w.r.repairable, 0);
  assert_true(w.r.njobs > 0);
  for (size_t i = 0; i < w.r.njobs; i++) {
    assert_int_equal(w.r.jobs[i].prio, 100);
    assert_int_equal(w.r.jobs[i].dst, 3);
  }
  world_free(&w);
  /* a chunk that can be repaired (one copy, a server without it) blocks the moves */
  world_init(&w, 3);
  servers_get(&w.sv, 1)->free_bytes = 4 * GiB;
  servers_get(&w.sv, 2)->free_bytes = 5 * GiB;
  servers_get(&w.sv, 3)->free_bytes = 20 * GiB;
  for (uint64_t id = 1; id <= 6; id++) add_chunk(&w, id, 2, (uint64_t[]){1, 2, 0});
  add_chunk(&w, 60, 2, (uint64_t[]){1, 0});
  repl_scan(&w.r, &w.t, &w.sv, 0);
  assert_int_equal(w.r.repairable, 1);
  assert_int_equal(w.r.njobs, 1);
  assert_int_equal(w.r.jobs[0].chunk, 60);
  assert_true(w.r.jobs[0].prio < 100);
  world_free(&w);
}

/* The scan at scale (docs/internals.md "Replication scan"): 1M chunks (100k under the
 * sanitizers) on 5 servers, a fifth of them down to one replica. Every scan queues the
 * most endangered chunks first, fills every queue that can take copies, and its CPU time
 * is printed; outside the sanitizers it must stay well below the 50 ms budget per scan
 * times four (a regression to O(chunks x jobs) took > 300 ms). */
#if defined(__SANITIZE_ADDRESS__)
#define SCAN_BENCH_CHUNKS 100000u
#define SCAN_BENCH_LIMIT_MS 0 /* not timed */
#else
#define SCAN_BENCH_CHUNKS 1000000u
#define SCAN_BENCH_LIMIT_MS 200.0
#endif

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_scan_bench(void **state) {
  (void)state;
  world w;
  world_init(&w, 5);
  w.r.max_queue_per_server = 64;
  for (uint64_t id = 1; id <= SCAN_BENCH_CHUNKS; id++) {
    uint64_t a = 1 + id % 5, b = 1 + (id + 1) % 5;
    assert_int_equal(chunks_add(&w.t, id, 1, DFS_CHUNK_SIZE, 7), 0);
    chunks_get(&w.t, id)->goal = 2;
    if (id % 5 == 0) { /* its one copy is on the draining server 5: no live copy left */
      assert_int_equal(chunks_add_loc(&w.t, id, 5), 0);
      continue;
    }
    assert_int_equal(chunks_add_loc(&w.t, id, a), 0);
    assert_int_equal(chunks_add_loc(&w.t, id, b), 0);
  }
  servers_get(&w.sv, 5)->draining = 1; /* its chunks with a second copy are down to one */
  double worst = 0, healthy = 0;
  for (int pass = 0; pass < 3; pass++) {
    double t0 = cpu_ms();
    repl_scan(&w.r, &w.t, &w.sv, 1000 + (uint64_t)pass);
    double ms = cpu_ms() - t0;
    if (ms > worst) worst = ms;
  }
  /* under: chunks with one copy; every placeable server's queue is full */
  assert_true(w.r.under >= SCAN_BENCH_CHUNKS / 5);
  for (uint64_t s = 1; s <= 4; s++)
    assert_true(repl_jobs_queued(&w.r, s) + repl_jobs_running(&w.r, s) <= 64);
  /* most endangered first: 200k chunks have no live copy, more than the queues hold,
   * so every queued job must be for one of them (ids that are multiples of 5) */
  assert_true(w.r.njobs > 0);
  for (size_t i = 0; i < w.r.njobs; i++) {
    assert_int_equal(w.r.jobs[i].chunk % 5, 0);
    assert_true(w.r.jobs[i].prio <= 1);
  }
  /* and the same table with nothing to do */
  world_free(&w);
  world_init(&w, 5);
  for (uint64_t id = 1; id <= SCAN_BENCH_CHUNKS; id++) {
    assert_int_equal(chunks_add(&w.t, id, 1, DFS_CHUNK_SIZE, 7), 0);
    chunks_get(&w.t, id)->goal = 2;
    assert_int_equal(chunks_add_loc(&w.t, id, 1 + id % 5), 0);
    assert_int_equal(chunks_add_loc(&w.t, id, 1 + (id + 1) % 5), 0);
  }
  double t0 = cpu_ms();
  repl_scan(&w.r, &w.t, &w.sv, 1000);
  healthy = cpu_ms() - t0;
  assert_int_equal(w.r.under, 0);
  printf("replication scan of %u chunks: %.1f ms (a fifth under-replicated, worst of 3), "
         "%.1f ms (all healthy)\n", SCAN_BENCH_CHUNKS, worst, healthy);
  if (SCAN_BENCH_LIMIT_MS > 0) {
    assert_true(worst < SCAN_BENCH_LIMIT_MS);
    assert_true(healthy < SCAN_BENCH_LIMIT_MS);
  }
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_queue_order_and_missing),
      cmocka_unit_test(test_result_and_timeout),
      cmocka_unit_test(test_slots_limits_and_stealing),
      cmocka_unit_test(test_trim_fullest_never_last),
      cmocka_unit_test(test_draining),
      cmocka_unit_test(test_full_servers),
      cmocka_unit_test(test_bad_replica),
      cmocka_unit_test(test_rebalance),
      cmocka_unit_test(test_rebalance_no_overshoot),
      cmocka_unit_test(test_delete_tombs),
      cmocka_unit_test(test_copy_failure_backoff),
      cmocka_unit_test(test_bad_copy_on_only_destination),
      cmocka_unit_test(test_steal_more_urgent_first),
      cmocka_unit_test(test_rebalance_not_blocked_by_unrepairable),
      cmocka_unit_test(test_scan_bench),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
