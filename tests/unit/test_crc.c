/* CRC32C against known vectors, chaining, and per-block checksums. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc.h"
#include "common/frame.h"

static void test_known_vectors(void **state) {
  assert_int_equal(dfs_crc32c(0, "123456789", 9), 0xE3069283u);
  assert_int_equal(dfs_crc32c(0, "", 0), 0);
  uint8_t zeros[32] = {0};
  assert_int_equal(dfs_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
}

static void test_chaining(void **state) {
  const char *s = "The quick brown fox jumps over the lazy dog";
  size_t n = strlen(s);
  uint32_t whole = dfs_crc32c(0, s, n);
  uint32_t part = dfs_crc32c(dfs_crc32c(0, s, 10), s + 10, n - 10);
  assert_int_equal(whole, part);
}

static void test_block_crcs(void **state) {
  size_t len = DFS_CHUNK_SIZE - 1;
  uint8_t *d = malloc(len);
  for (size_t i = 0; i < len; i++) d[i] = (uint8_t)(i * 7);
  uint32_t crcs[DFS_BLOCKS_PER_CHUNK];
  assert_int_equal(dfs_block_crcs(d, len, crcs), DFS_BLOCKS_PER_CHUNK);
  assert_int_equal(crcs[0], dfs_crc32c(0, d, DFS_BLOCK_SIZE));
  assert_int_equal(crcs[15], dfs_crc32c(0, d + 15 * DFS_BLOCK_SIZE, DFS_BLOCK_SIZE - 1));
  assert_int_equal(dfs_block_crcs(d, 1, crcs), 1);
  assert_int_equal(dfs_block_crcs(d, 0, crcs), 0);
  assert_int_equal(dfs_block_crcs(d, DFS_BLOCK_SIZE + 1, crcs), 2);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_vectors),
      cmocka_unit_test(test_chaining),
      cmocka_unit_test(test_block_crcs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
