/* Frame header: round trip, magic, flags and size limits checked before allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/frame.h"

static const dfs_frame_limits lim = {1000, 2000};

static void test_roundtrip(void **state) {
  dfs_frame_hdr h = {300, DFS_FRAME_REPLY, 0x0102030405060708ULL, 999, 2000}, g;
  uint8_t b[DFS_FRAME_HDR_LEN];
  dfs_frame_encode_hdr(&h, b);
  assert_int_equal(b[0], 'D');
  assert_int_equal(dfs_frame_decode_hdr(b, &lim, &g), 0);
  assert_int_equal(g.type, 300);
  assert_int_equal(g.flags, DFS_FRAME_REPLY);
  assert_true(g.req_id == 0x0102030405060708ULL);
  assert_int_equal(g.payload_len, 999);
  assert_int_equal(g.bulk_len, 2000);
}

static void test_limits(void **state) {
  dfs_frame_hdr h = {1, 0, 1, 1001, 0}, g;
  uint8_t b[DFS_FRAME_HDR_LEN];
  dfs_frame_encode_hdr(&h, b);
  assert_int_equal(dfs_frame_decode_hdr(b, &lim, &g), DFS_ETOOBIG);
  h.payload_len = 0;
  h.bulk_len = 0xffffffffu;
  dfs_frame_encode_hdr(&h, b);
  assert_int_equal(dfs_frame_decode_hdr(b, &lim, &g), DFS_ETOOBIG);
}

static void test_bad_magic_and_flags(void **state) {
  dfs_frame_hdr h = {1, 0, 1, 0, 0}, g;
  uint8_t b[DFS_FRAME_HDR_LEN];
  dfs_frame_encode_hdr(&h, b);
  b[0] ^= 0xff;
  assert_int_equal(dfs_frame_decode_hdr(b, &lim, &g), DFS_EPROTO);
  h.flags = 0x8000;
  dfs_frame_encode_hdr(&h, b);
  assert_int_equal(dfs_frame_decode_hdr(b, &lim, &g), DFS_EPROTO);
}

static void test_random_headers_never_pass_limits(void **state) {
  /* Any header that decodes must respect the limits. */
  unsigned seed = 12345;
  uint8_t b[DFS_FRAME_HDR_LEN];
  for (int i = 0; i < 100000; i++) {
    for (int j = 0; j < DFS_FRAME_HDR_LEN; j++) b[j] = (uint8_t)(rand_r(&seed) >> 3);
    if (i & 1) { b[0] = 'D'; b[1] = 'F'; b[2] = 'S'; b[3] = '1'; }
    dfs_frame_hdr g;
    if (dfs_frame_decode_hdr(b, &lim, &g) == 0) {
      assert_true(g.payload_len <= lim.max_payload);
      assert_true(g.bulk_len <= lim.max_bulk);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_bad_magic_and_flags),
      cmocka_unit_test(test_random_headers_never_pass_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
