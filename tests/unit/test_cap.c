/* Chunk capabilities (v2): a valid one passes; any other chunk, version, op, key,
 * expiry, length or flipped bit is refused; a read capability only on its server and
 * inside its byte range; a write capability only along the exact chain it signs, at the
 * position of the server checking it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <string.h>

#include "common/cap.h"
#include "common/errors.h"

/* dfs_hmac_sha256 keeps a keyed context per thread: it must give RFC 4231's answer, and
 * the one-shot HMAC()'s for keys that change between calls, in several threads. */
static void hmac_rounds(void) {
  static const uint8_t k1[20] = {0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                                 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b};
  static const uint8_t want1[32] = {0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf,
                                    0xce, 0xaf, 0x0b, 0xf1, 0x2b, 0x88, 0x1d, 0xc2, 0x00, 0xc9, 0x83,
                                    0x3d, 0xa7, 0x26, 0xe9, 0x37, 0x6c, 0x2e, 0x32, 0xcf, 0xf7};
  uint8_t out[32], ref[32], k2[32], k3[100];
  unsigned n;
  for (int i = 0; i < 32; i++) k2[i] = (uint8_t)(i * 7 + 1);
  for (int i = 0; i < 100; i++) k3[i] = (uint8_t)i; /* longer than the cache keeps */
  for (int round = 0; round < 50; round++) {
    dfs_hmac_sha256(k1, sizeof k1, (const uint8_t *)"Hi There", 8, out);
    assert_memory_equal(out, want1, 32);
    uint8_t msg[64];
    for (int i = 0; i < 64; i++) msg[i] = (uint8_t)(round + i);
    const uint8_t *keys[] = {k2, k3, k2, k1};
    const size_t lens[] = {sizeof k2, sizeof k3, sizeof k2, sizeof k1};
    for (int k = 0; k < 4; k++) {
      dfs_hmac_sha256(keys[k], lens[k], msg, (size_t)(round % 64), out);
      HMAC(EVP_sha256(), keys[k], (int)lens[k], msg, (size_t)(round % 64), ref, &n);
      assert_memory_equal(out, ref, 32);
    }
  }
}

static void *hmac_thread(void *arg) {
  (void)arg;
  hmac_rounds();
  return NULL;
}

static void test_hmac_cached_context(void **state) {
  (void)state;
  pthread_t t[4];
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, hmac_thread, NULL), 0);
  hmac_rounds();
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
}

static void test_read_cap(void **state) {
  uint8_t key[DFS_CAP_KEY_LEN], other[DFS_CAP_KEY_LEN], cap[DFS_CAP_READ_LEN];
  assert_int_equal(dfs_cap_key("cluster secret", key), 0);
  assert_int_equal(dfs_cap_key("another secret", other), 0);
  dfs_cap_sign_read(key, 42, 1, 7, 0, 1000, 10000, cap);
  const char *why = NULL;
  uint32_t end = 0;
#define CHK(k, c, l, id, v, srv, off, len, now) \
  dfs_cap_check_read(k, c, l, id, v, srv, off, len, now, &end, &why)
  assert_int_equal(CHK(key, cap, sizeof cap, 42, 1, 7, 0, 1000, 9999), 0);
  assert_int_equal(end, 1000);
  assert_int_equal(CHK(key, cap, sizeof cap, 42, 1, 7, 100, 900, 0), 0);
  assert_int_equal(CHK(key, cap, sizeof cap, 42, 1, 7, 0, 0, 0), 0);
  assert_int_equal(CHK(key, cap, sizeof cap, 43, 1, 7, 0, 1000, 0), DFS_EPERM);
  assert_int_equal(CHK(key, cap, sizeof cap, 42, 2, 7, 0, 1000, 0), DFS_EPERM);
  assert_int_equal(CHK(other, cap, sizeof cap, 42, 1, 7, 0, 1000, 0), DFS_EPERM);
  assert_int_equal(CHK(key, cap, sizeof cap, 42, 1, 8, 0, 1000, 0), DFS_EPERM);
  assert_non_null(strstr(why, "another chunkserver"));
  assert_int_equal(CHK(key, cap, sizeof cap, 42, 1, 7, 1, 1000, 0), DFS_EPERM);
  assert_non_null(strstr(why, "range"));
  assert_int_equal(CHK(key, cap, sizeof cap, 42, 1, 7, 1000, 1, 0), DFS_EPERM);
  assert_int_equal(CHK(key, cap, sizeof cap, 42, 1, 7, 0, 1000, 10001), DFS_EPERM);
  assert_non_null(strstr(why, "expired"));
  assert_int_equal(CHK(key, cap, sizeof cap - 1, 42, 1, 7, 0, 1000, 0), DFS_EPERM);
  assert_int_equal(CHK(key, NULL, 0, 42, 1, 7, 0, 1000, 0), DFS_EPERM);
  for (size_t i = 0; i < DFS_CAP_READ_LEN * 8; i++) {
    uint8_t bad[DFS_CAP_READ_LEN];
    memcpy(bad, cap, sizeof bad);
    bad[i / 8] ^= (uint8_t)(1u << (i % 8));
    /* Flipping expiry, server or range bits may widen it, but then the MAC fails. */
    assert_int_equal(CHK(key, bad, sizeof bad, 42, 1, 7, 0, 1000, 0), DFS_EPERM);
  }
  /* a write capability is no read capability */
  dfs_cap_server one = {7, "127.0.0.1", 9000};
  uint8_t w[DFS_CAP_WRITE_MAX];
  size_t wl = 0;
  assert_int_equal(dfs_cap_sign_write(key, 42, 1, &one, 1, 10000, w, sizeof w, &wl), 0);
  assert_int_equal(CHK(key, w, wl, 42, 1, 7, 0, 1000, 0), DFS_EPERM);
#undef CHK
}

static void test_write_cap(void **state) {
  uint8_t key[DFS_CAP_KEY_LEN], cap[DFS_CAP_WRITE_MAX];
  assert_int_equal(dfs_cap_key("cluster secret", key), 0);
  dfs_cap_server chain[3] = {{1, "10.0.0.1", 9001}, {2, "10.0.0.2", 9002}, {3, "cs3", 9003}};
  size_t len = 0;
  assert_int_equal(dfs_cap_sign_write(key, 5, 1, chain, 3, 10000, cap, sizeof cap, &len), 0);
  char why[256];
  uint8_t p12[DFS_FORWARD_PROOF_LEN], p23[DFS_FORWARD_PROOF_LEN], p13[DFS_FORWARD_PROOF_LEN];
  dfs_cap_forward_proof(key, cap, len, 1, 2, p12);
  dfs_cap_forward_proof(key, cap, len, 2, 3, p23);
  dfs_cap_forward_proof(key, cap, len, 1, 3, p13);
#define WP(self, down, n, proof) \
  dfs_cap_check_write(key, cap, len, 5, 1, self, down, n, proof, DFS_FORWARD_PROOF_LEN, 0, why, \
                      sizeof why)
#define W(self, down, n) \
  dfs_cap_check_write(key, cap, len, 5, 1, self, down, n, NULL, 0, 0, why, sizeof why)
  assert_int_equal(W(1, chain + 1, 2), 0);          /* the head, with the rest */
  assert_int_equal(WP(2, chain + 2, 1, p12), 0);    /* the middle, from the head */
  assert_int_equal(WP(3, NULL, 0, p23), 0);         /* the tail, from the middle */
  assert_int_equal(W(2, chain + 2, 1), DFS_EPERM);  /* the middle, straight from a client */
  assert_non_null(strstr(why, "not the head"));
  assert_int_equal(WP(3, NULL, 0, p13), DFS_EPERM); /* the tail, from the head (skipping 2) */
  assert_int_equal(WP(3, NULL, 0, p12), DFS_EPERM);
  assert_int_equal(W(2, chain + 1, 2), DFS_EPERM);  /* the head's cap replayed on 2 */
  assert_non_null(strstr(why, "not this one"));
  assert_int_equal(W(1, chain + 2, 1), DFS_EPERM); /* a server left out */
  assert_int_equal(W(1, chain, 3), DFS_EPERM);     /* longer than signed */
  dfs_cap_server moved[2] = {{2, "127.0.0.1", 1}, {3, "cs3", 9003}};
  assert_int_equal(W(1, moved, 2), DFS_EPERM);     /* another address for server 2 */
  assert_non_null(strstr(why, "entry 0"));
  dfs_cap_server renamed[2] = {{2, "10.0.0.2", 9002}, {3, "cs3x", 9003}};
  assert_int_equal(W(1, renamed, 2), DFS_EPERM);
  dfs_cap_server extra[3] = {{2, "10.0.0.2", 9002}, {3, "cs3", 9003}, {4, "10.0.0.4", 1}};
  assert_int_equal(W(1, extra, 3), DFS_EPERM);
  assert_int_equal(dfs_cap_check_write(key, cap, len, 5, 1, 1, chain + 1, 2, NULL, 0, 10001, why, sizeof why),
                   DFS_EPERM);
  assert_non_null(strstr(why, "expired"));
  assert_int_equal(dfs_cap_check_write(key, cap, len, 6, 1, 1, chain + 1, 2, NULL, 0, 0, why, sizeof why),
                   DFS_EPERM);
  for (size_t i = 0; i < len * 8; i++) {
    uint8_t bad[DFS_CAP_WRITE_MAX];
    memcpy(bad, cap, len);
    bad[i / 8] ^= (uint8_t)(1u << (i % 8));
    assert_int_equal(dfs_cap_check_write(key, bad, len, 5, 1, 1, chain + 1, 2, NULL, 0, 0, why, sizeof why),
                     DFS_EPERM);
  }
  /* metad never signs a chain with one server twice; a MAC-valid one is refused anyway */
  dfs_cap_server dup[2] = {{1, "10.0.0.1", 9001}, {1, "10.0.0.1", 9001}};
  assert_int_equal(dfs_cap_sign_write(key, 5, 1, dup, 2, 10000, cap, sizeof cap, &len), 0);
  assert_int_equal(W(1, dup + 1, 1), DFS_EPERM);
  assert_non_null(strstr(why, "twice"));
  /* unsignable chains */
  dfs_cap_server empty = {1, "", 1};
  assert_int_equal(dfs_cap_sign_write(key, 5, 1, &empty, 1, 10000, cap, sizeof cap, &len), DFS_EINVAL);
  assert_int_equal(dfs_cap_sign_write(key, 5, 1, chain, 0, 10000, cap, sizeof cap, &len), DFS_EINVAL);
  /* a long capability of zeros (MAC included) is not accepted */
  uint8_t zeros[DFS_CAP_WRITE_MAX + 64] = {2};
  zeros[9] = DFS_CAP_WRITE;
  assert_int_equal(dfs_cap_check_write(key, zeros, sizeof zeros, 5, 1, 1, NULL, 0, NULL, 0, 0, why, sizeof why),
                   DFS_EPERM);
#undef W
#undef WP
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_read_cap), cmocka_unit_test(test_write_cap),
                                     cmocka_unit_test(test_hmac_cached_context)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
