/* Unit tests of src/metad/limits.c (allocations in flight): the per-user cap, one Alloc
 * always passing with nothing in flight, release by a write report/commit and expiry,
 * users kept apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/errors.h"
#include "metad/limits.h"

static void note(limits *l, const char *user, uint64_t first, uint64_t n, uint64_t exp) {
  for (uint64_t c = first; c < first + n; c++) limits_alloc_note(l, user, c, exp);
}

static void test_cap_and_release(void **state) {
  (void)state;
  limits *l = limits_new();
  assert_int_equal(limits_alloc_check(l, "bob", 64, 100, 0), 0);
  note(l, "bob", 1, 64, 60000);
  assert_int_equal(limits_alloc_inflight(l, "bob"), 64);
  assert_int_equal(limits_alloc_check(l, "bob", 64, 100, 0), DFS_EBUSY); /* 128 > 100 */
  assert_int_equal(limits_alloc_check(l, "bob", 36, 100, 0), 0);        /* exactly 100 */
  /* others are not affected */
  assert_int_equal(limits_alloc_check(l, "alice", 100, 100, 0), 0);
  /* written chunks (a chunkserver's report) leave the count; unknown ids are no-ops */
  for (uint64_t c = 1; c <= 40; c++) limits_alloc_done(l, c);
  limits_alloc_done(l, 999);
  limits_alloc_done(l, 1); /* twice */
  assert_int_equal(limits_alloc_inflight(l, "bob"), 24);
  assert_int_equal(limits_alloc_check(l, "bob", 64, 100, 0), 0);
  limits_free(l);
}

static void test_one_alloc_passes_when_idle(void **state) {
  (void)state;
  limits *l = limits_new();
  /* a limit below the client's batch: the first batch goes, the next waits */
  assert_int_equal(limits_alloc_check(l, "bob", 64, 32, 0), 0);
  note(l, "bob", 1, 64, 60000);
  assert_int_equal(limits_alloc_check(l, "bob", 64, 32, 0), DFS_EBUSY);
  assert_int_equal(limits_alloc_check(l, "bob", 1, 32, 0), DFS_EBUSY);
  for (uint64_t c = 1; c <= 64; c++) limits_alloc_done(l, c);
  assert_int_equal(limits_alloc_check(l, "bob", 64, 32, 0), 0);
  limits_free(l);
}

static void test_expiry(void **state) {
  (void)state;
  limits *l = limits_new();
  note(l, "bob", 1, 10, 5000);
  note(l, "bob", 11, 10, 9000);
  assert_int_equal(limits_expire(l, 4000), 0);
  assert_int_equal(limits_expire(l, 7000), 10);
  assert_int_equal(limits_alloc_inflight(l, "bob"), 10);
  /* limits_alloc_check expires too (at most every LIMITS_EXPIRE_EVERY_MS) */
  assert_int_equal(limits_alloc_check(l, "bob", 10, 10, 20000), 0);
  assert_int_equal(limits_alloc_inflight(l, "bob"), 0);
  limits_reset(l);
  assert_int_equal(limits_alloc_inflight(l, "bob"), 0);
  limits_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cap_and_release),
      cmocka_unit_test(test_one_alloc_passes_when_idle),
      cmocka_unit_test(test_expiry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
