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

#include <cmocka.h>

#include "common/frame.h"
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
    for (uint8_t k = 0; k < ce->nlocs; k++) assert_true(ce->locs[k] != w.r.jobs[i].dst);
  }
  /* a second scan adds nothing: jobs in flight count */
  repl_scan(&w.r, &w.t, &w.sv, 10);
  assert_int_equal(repl_jobs_queued(&w.r, 0), 3);
  /* server 3 (it holds nothing of chunks 1/2) takes the endangered chunk first */
  repl_job *out[64];
  size_t n = take(&w, 3, 1, out);
  assert_int_equal(n, 1);
  assert_int_equal(out[0]->chunk, 2);
  assert_int_equal(out[0]->prio, 1);
  assert_int_equal(repl_jobs_running(&w.r, 3), 1);
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
  repl_scan(&w.r, &w.t, &w.sv, 1000 + 60001); /* timed out: dropped and requeued */
  assert_int_equal(w.r.copies_failed, 2);
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
  for (uint8_t k = 0; k < ce->nlocs; k++) assert_true(ce->locs[k] == 1 || ce->locs[k] == 2);
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
