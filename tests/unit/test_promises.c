/* Unit tests of src/metad/promises.c: a share per chain server, ended by the server's
 * report, by its death (epoch) or by expiry; promised space ranks but never fills. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/frame.h"
#include "metad/promises.h"
#include "metad/servers.h"

#define MiB (1024ull * 1024)

static void three_servers(servers_t *sv) {
  servers_init(sv);
  assert_int_equal(servers_map(sv, "a"), 1);
  assert_int_equal(servers_map(sv, "b"), 2);
  assert_int_equal(servers_map(sv, "c"), 3);
  for (uint64_t id = 1; id <= 3; id++) {
    server_ent *e = servers_get(sv, id);
    e->alive = e->registered = 1;
    e->free_bytes = 10 * MiB;
  }
}

static void test_share_per_chain_server(void **state) {
  (void)state;
  servers_t sv;
  three_servers(&sv);
  promises *p = promises_new();
  uint64_t chain[2] = {1, 2};
  assert_int_equal(promises_add(p, &sv, 100, chain, 2, 1000), 0);
  assert_int_equal(promises_add(p, &sv, 101, chain, 1, 1000), 0);
  assert_int_equal(servers_get(&sv, 1)->promised_chunks, 2);
  assert_int_equal(servers_get(&sv, 2)->promised_chunks, 1);
  assert_int_equal(servers_get(&sv, 3)->promised_chunks, 0);
  assert_int_equal(servers_get(&sv, 1)->promised_bytes, 2 * DFS_CHUNK_SIZE);
  assert_int_equal(servers_effective_free(servers_get(&sv, 1)), 10 * MiB - 2 * DFS_CHUNK_SIZE);
  assert_int_equal(promises_count(p), 2);
  /* server 2 reports chunk 100: only its share ends */
  promises_reported(p, &sv, 100, 2);
  assert_int_equal(servers_get(&sv, 2)->promised_bytes, 0);
  assert_int_equal(servers_get(&sv, 1)->promised_chunks, 2);
  /* a report by a server without a share, or of an unknown chunk, changes nothing */
  promises_reported(p, &sv, 100, 3);
  promises_reported(p, &sv, 999, 1);
  promises_reported(p, &sv, 100, 2); /* twice */
  assert_int_equal(servers_get(&sv, 1)->promised_chunks, 2);
  assert_int_equal(servers_get(&sv, 2)->promised_chunks, 0);
  promises_reported(p, &sv, 100, 1);
  promises_reported(p, &sv, 101, 1);
  assert_int_equal(servers_get(&sv, 1)->promised_bytes, 0);
  assert_int_equal(promises_count(p), 0);
  assert_int_equal(promises_expire(p, &sv, 5000), 0); /* nothing left to end */
  promises_free(p);
  servers_free(&sv);
}

static void test_expiry_releases_dead_uploads(void **state) {
  (void)state;
  servers_t sv;
  three_servers(&sv);
  promises *p = promises_new();
  uint64_t chain[3] = {1, 2, 3};
  /* an upload that died: 200 chunks promised, never written */
  for (uint64_t c = 1; c <= 200; c++)
    assert_int_equal(promises_add(p, &sv, c, chain, 3, 1000 + c), 0);
  assert_int_equal(servers_get(&sv, 3)->promised_bytes, 200ull * DFS_CHUNK_SIZE);
  assert_int_equal(servers_effective_free(servers_get(&sv, 3)), 0);
  /* promised space only ranks: the server is not full by it */
  assert_false(servers_is_full(servers_get(&sv, 3)));
  assert_true(servers_placeable(servers_get(&sv, 3)));
  assert_int_equal(promises_expire(p, &sv, 1000), 0); /* none due yet */
  assert_int_equal(promises_expire(p, &sv, 1100), 100);
  assert_int_equal(servers_get(&sv, 1)->promised_chunks, 100);
  assert_int_equal(promises_expire(p, &sv, 1200), 100);
  for (uint64_t id = 1; id <= 3; id++) {
    assert_int_equal(servers_get(&sv, id)->promised_bytes, 0);
    assert_int_equal(servers_get(&sv, id)->promised_chunks, 0);
  }
  assert_int_equal(promises_count(p), 0);
  promises_free(p);
  servers_free(&sv);
}

static void test_death_forgets_and_old_shares_do_not_count(void **state) {
  (void)state;
  servers_t sv;
  three_servers(&sv);
  promises *p = promises_new();
  uint64_t chain[2] = {1, 2};
  assert_int_equal(promises_add(p, &sv, 7, chain, 2, 100), 0);
  servers_forget_promises(servers_get(&sv, 1)); /* died, or registered again */
  assert_int_equal(servers_get(&sv, 1)->promised_bytes, 0);
  /* a new promise after it came back */
  assert_int_equal(promises_add(p, &sv, 8, chain, 1, 200), 0);
  assert_int_equal(servers_get(&sv, 1)->promised_chunks, 1);
  /* the old share ends (report, then expiry): server 1's count stays the new one's */
  promises_reported(p, &sv, 7, 1);
  assert_int_equal(servers_get(&sv, 1)->promised_chunks, 1);
  assert_int_equal(promises_expire(p, &sv, 150), 1);
  assert_int_equal(servers_get(&sv, 1)->promised_chunks, 1);
  assert_int_equal(servers_get(&sv, 2)->promised_chunks, 0);
  assert_int_equal(promises_expire(p, &sv, 200), 1);
  assert_int_equal(servers_get(&sv, 1)->promised_chunks, 0);
  /* a new leader starts with nothing promised */
  assert_int_equal(promises_add(p, &sv, 9, chain, 2, 300), 0);
  promises_reset(p, &sv);
  assert_int_equal(servers_get(&sv, 1)->promised_bytes, 0);
  assert_int_equal(servers_get(&sv, 2)->promised_bytes, 0);
  assert_int_equal(promises_count(p), 0);
  assert_int_equal(promises_expire(p, &sv, 1000), 0);
  promises_free(p);
  servers_free(&sv);
}

static void test_ring_grows_and_wraps(void **state) {
  (void)state;
  servers_t sv;
  three_servers(&sv);
  promises *p = promises_new();
  uint64_t chain[1] = {2}, now = 0, next = 1;
  /* rolling window: add 50, expire 40, many times, so head wraps around the ring */
  for (int round = 0; round < 100; round++) {
    for (int i = 0; i < 50; i++, next++)
      assert_int_equal(promises_add(p, &sv, next, chain, 1, next), 0);
    now += 40;
    promises_expire(p, &sv, now);
    assert_int_equal(servers_get(&sv, 2)->promised_chunks, (uint32_t)(next - 1 - now));
    assert_int_equal(promises_count(p), next - 1 - now);
  }
  /* reports of the oldest ones still there */
  promises_reported(p, &sv, now + 1, 2);
  assert_int_equal(servers_get(&sv, 2)->promised_chunks, (uint32_t)(next - 2 - now));
  promises_expire(p, &sv, UINT64_MAX);
  assert_int_equal(servers_get(&sv, 2)->promised_chunks, 0);
  promises_free(p);
  servers_free(&sv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_share_per_chain_server),
      cmocka_unit_test(test_expiry_releases_dead_uploads),
      cmocka_unit_test(test_death_forgets_and_old_shares_do_not_count),
      cmocka_unit_test(test_ring_grows_and_wraps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
