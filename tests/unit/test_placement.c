/* Unit tests of src/metad/placement.c: distinct servers, min(replicas, candidates),
 * preference for free space and low load, exclusion, spreading with randomness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "metad/placement.h"

static void test_distinct_and_count(void **state) {
  (void)state;
  placement_cand c[5];
  for (int i = 0; i < 5; i++) c[i] = (placement_cand){(uint64_t)i + 1, 100u << 20, 0};
  uint64_t rng = 42, out[16];
  size_t n = placement_choose(c, 5, 3, NULL, 0, &rng, out);
  assert_int_equal(n, 3);
  assert_true(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
  n = placement_choose(c, 5, 16, NULL, 0, &rng, out);
  assert_int_equal(n, 5); /* min(replicas, live) */
  assert_int_equal(placement_choose(c, 0, 3, NULL, 0, &rng, out), 0);
}

static void test_prefers_free_and_idle(void **state) {
  (void)state;
  placement_cand c[3] = {{1, 10u << 20, 0}, {2, 1000u << 20, 0}, {3, 1000u << 20, 50}};
  uint64_t rng = 7, out[3];
  for (int t = 0; t < 100; t++) {
    size_t n = placement_choose(c, 3, 3, NULL, 0, &rng, out);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 2); /* most free, idle */
    assert_int_equal(out[2], 1); /* 10 MiB free loses to 1000 MiB / 51 */
  }
}

static void test_exclude(void **state) {
  (void)state;
  placement_cand c[3] = {{1, 1000u << 20, 0}, {2, 10u << 20, 0}, {3, 10u << 20, 0}};
  uint64_t rng = 9, out[3], ex[1] = {1};
  size_t n = placement_choose(c, 3, 2, ex, 1, &rng, out);
  assert_int_equal(n, 2);
  assert_true(out[0] != 1 && out[1] != 1);
  /* not enough others: a shorter chain, never the server the writer saw fail */
  n = placement_choose(c, 3, 3, ex, 1, &rng, out);
  assert_int_equal(n, 2);
  assert_true(out[0] != 1 && out[1] != 1);
  /* everybody failed once: they are tried again rather than nothing */
  uint64_t all[3] = {1, 2, 3};
  n = placement_choose(c, 3, 2, all, 3, &rng, out);
  assert_int_equal(n, 2);
}

static void test_randomness_spreads(void **state) {
  (void)state;
  placement_cand c[4];
  for (int i = 0; i < 4; i++) c[i] = (placement_cand){(uint64_t)i + 1, 500u << 20, 0};
  uint64_t rng = 12345, out[1];
  int first[5] = {0};
  for (int t = 0; t < 400; t++) {
    placement_choose(c, 4, 1, NULL, 0, &rng, out);
    first[out[0]]++;
  }
  for (int i = 1; i <= 4; i++) assert_true(first[i] > 40);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_distinct_and_count),
      cmocka_unit_test(test_prefers_free_and_idle),
      cmocka_unit_test(test_exclude),
      cmocka_unit_test(test_randomness_spreads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
