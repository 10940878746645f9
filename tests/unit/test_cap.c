/* Chunk capabilities: a valid one passes; any other chunk, version, op, key, expiry,
 * length or flipped bit is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "common/cap.h"
#include "common/errors.h"

static void test_cap(void **state) {
  uint8_t key[DFS_CAP_KEY_LEN], other[DFS_CAP_KEY_LEN], cap[DFS_CAP_LEN];
  assert_int_equal(dfs_cap_key("cluster secret", key), 0);
  assert_int_equal(dfs_cap_key("another secret", other), 0);
  dfs_cap_sign(key, 42, 1, DFS_CAP_READ, 10000, cap);
  const char *why = NULL;
  assert_int_equal(dfs_cap_check(key, cap, sizeof cap, 42, 1, DFS_CAP_READ, 9999, &why), 0);
  assert_int_equal(dfs_cap_check(key, cap, sizeof cap, 43, 1, DFS_CAP_READ, 0, &why), DFS_EPERM);
  assert_int_equal(dfs_cap_check(key, cap, sizeof cap, 42, 2, DFS_CAP_READ, 0, &why), DFS_EPERM);
  assert_int_equal(dfs_cap_check(key, cap, sizeof cap, 42, 1, DFS_CAP_WRITE, 0, &why), DFS_EPERM);
  assert_int_equal(dfs_cap_check(other, cap, sizeof cap, 42, 1, DFS_CAP_READ, 0, &why), DFS_EPERM);
  assert_int_equal(dfs_cap_check(key, cap, sizeof cap, 42, 1, DFS_CAP_READ, 10001, &why), DFS_EPERM);
  assert_non_null(strstr(why, "expired"));
  assert_int_equal(dfs_cap_check(key, cap, sizeof cap - 1, 42, 1, DFS_CAP_READ, 0, &why), DFS_EPERM);
  assert_int_equal(dfs_cap_check(key, NULL, 0, 42, 1, DFS_CAP_READ, 0, &why), DFS_EPERM);
  for (size_t i = 0; i < DFS_CAP_LEN * 8; i++) {
    uint8_t bad[DFS_CAP_LEN];
    memcpy(bad, cap, sizeof bad);
    bad[i / 8] ^= (uint8_t)(1u << (i % 8));
    /* Flipping expiry bits may extend it, but then the MAC no longer matches. */
    assert_int_equal(dfs_cap_check(key, bad, sizeof bad, 42, 1, DFS_CAP_READ, 0, &why), DFS_EPERM);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cap)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
