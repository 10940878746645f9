/* The raft transport's handshake functions (src/metad/raft_transport.h): HELLO encode
 * and decode round-trip, every bad or short HELLO refused with a reason (a plain
 * libraft handshake named as such), the PROOF MACs equal to a vector computed outside
 * this code base (Python hmac, from the documented format), and a proof that does not
 * verify for another key, role (reflection), nonce (replay) or flipped bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "metad/raft_transport.h"

static rt_hello mk(uint64_t id, const char *addr, uint8_t nonce0) {
  rt_hello h;
  memset(&h, 0, sizeof h);
  h.flags = RT_FLAG_SECRET;
  for (int i = 0; i < RT_NONCE_LEN; i++) h.nonce[i] = (uint8_t)(nonce0 + i);
  h.id = id;
  strcpy(h.address, addr);
  return h;
}

static void test_hello_roundtrip(void **state) {
  (void)state;
  uint8_t buf[RT_HELLO_MAX];
  rt_hello h = mk(7, "metad3.example:9401", 0), back;
  size_t n = rt_hello_encode(&h, buf);
  assert_int_equal(n, RT_HELLO_HEAD + strlen("metad3.example:9401"));
  assert_memory_equal(buf, "DFSRFT\x01\x01", 8);
  const char *why = NULL;
  size_t alen = 0;
  assert_int_equal(rt_hello_prefix(buf, RT_HELLO_PREFIX, &why), 0);
  assert_int_equal(rt_hello_head(buf, RT_HELLO_HEAD, &alen, &why), 0);
  assert_int_equal(alen, strlen(h.address));
  assert_int_equal(rt_hello_decode(buf, n, &back, &why), 0);
  assert_int_equal(back.id, 7);
  assert_int_equal(back.flags, RT_FLAG_SECRET);
  assert_string_equal(back.address, "metad3.example:9401");
  assert_memory_equal(back.nonce, h.nonce, RT_NONCE_LEN);
  /* addresses that cannot be sent */
  rt_hello e = mk(1, "", 0);
  assert_int_equal(rt_hello_encode(&e, buf), 0);
}

static void test_hello_bad(void **state) {
  (void)state;
  uint8_t good[RT_HELLO_MAX], bad[RT_HELLO_MAX];
  rt_hello h = mk(2, "127.0.0.1:9403", 5), out;
  size_t n = rt_hello_encode(&h, good);
  const char *why;
  size_t alen;
  /* short at every length */
  for (size_t k = 0; k < n; k++) {
    why = NULL;
    assert_int_equal(rt_hello_decode(good, k, &out, &why), -1);
    assert_non_null(why);
  }
  why = NULL;
  assert_int_equal(rt_hello_prefix(good, 3, &why), -1);
  assert_string_equal(why, "short handshake message");
  /* libraft's own handshake: protocol 1 (little-endian u64), id, address length... */
  uint8_t plain[40] = {1, 0, 0, 0, 0, 0, 0, 0, 2};
  assert_int_equal(rt_hello_prefix(plain, sizeof plain, &why), -1);
  assert_non_null(strstr(why, "plain libraft handshake"));
  /* garbage */
  memcpy(bad, good, n);
  bad[0] = 'X';
  assert_int_equal(rt_hello_prefix(bad, n, &why), -1);
  assert_non_null(strstr(why, "bad magic"));
  /* version, flags */
  memcpy(bad, good, n);
  bad[6] = 2;
  assert_int_equal(rt_hello_prefix(bad, n, &why), -1);
  assert_non_null(strstr(why, "version"));
  memcpy(bad, good, n);
  bad[7] = 0x80;
  assert_int_equal(rt_hello_prefix(bad, n, &why), -1);
  assert_non_null(strstr(why, "flags"));
  /* address length 0, longer or shorter than the bytes, non-printable address */
  memcpy(bad, good, n);
  bad[RT_HELLO_HEAD - 1] = 0;
  assert_int_equal(rt_hello_head(bad, RT_HELLO_HEAD, &alen, &why), -1);
  memcpy(bad, good, n);
  bad[RT_HELLO_HEAD - 1]++;
  assert_int_equal(rt_hello_decode(bad, n, &out, &why), -1);
  assert_non_null(strstr(why, "length"));
  memcpy(bad, good, n);
  bad[n - 1] = '\n';
  assert_int_equal(rt_hello_decode(bad, n, &out, &why), -1);
  assert_non_null(strstr(why, "non-printable"));
  /* raft id 0 */
  rt_hello z = mk(0, "127.0.0.1:1", 0);
  size_t zn = rt_hello_encode(&z, bad);
  assert_int_equal(rt_hello_decode(bad, zn, &out, &why), -1);
  assert_non_null(strstr(why, "id 0"));
}

static void test_proof(void **state) {
  (void)state;
  /* HMAC-SHA256 over label | HELLO(C) | HELLO(S), computed with Python's hmac module */
  static const uint8_t want_c[32] = {
      0x8b, 0x7b, 0x3c, 0xc8, 0x62, 0xa1, 0x17, 0xeb, 0x45, 0x5f, 0x13, 0xc2, 0xdd, 0xd0, 0xc0, 0x11,
      0x1a, 0xed, 0xed, 0x83, 0xdd, 0xbd, 0xbd, 0x35, 0xf6, 0xab, 0x1c, 0x99, 0x4f, 0x3a, 0xb8, 0xae};
  static const uint8_t want_s[32] = {
      0x38, 0x0d, 0x2f, 0x5b, 0x39, 0x32, 0x68, 0x82, 0x2d, 0x6b, 0xde, 0x0b, 0xd3, 0xc8, 0xde, 0xa0,
      0x58, 0xe2, 0x43, 0x44, 0x8f, 0xad, 0x24, 0x36, 0xb6, 0xfc, 0x69, 0xcd, 0x16, 0xd9, 0x35, 0x34};
  uint8_t key[RT_KEY_LEN], other[RT_KEY_LEN], hc[RT_HELLO_MAX], hs[RT_HELLO_MAX], mac[32];
  assert_int_equal(rt_key("s3cret", key), 0);
  assert_int_equal(rt_key("s3cret ", other), 0);
  rt_hello c = mk(1, "127.0.0.1:9401", 0), s = mk(2, "127.0.0.1:9403", 32);
  size_t nc = rt_hello_encode(&c, hc), ns = rt_hello_encode(&s, hs);
  rt_proof(key, RT_CLIENT, hc, nc, hs, ns, mac);
  assert_memory_equal(mac, want_c, 32);
  assert_true(rt_proof_ok(key, RT_CLIENT, hc, nc, hs, ns, want_c));
  rt_proof(key, RT_SERVER, hc, nc, hs, ns, mac);
  assert_memory_equal(mac, want_s, 32);
  assert_true(rt_proof_ok(key, RT_SERVER, hc, nc, hs, ns, want_s));
  /* reflection: the server's proof is no client proof, and vice versa */
  assert_false(rt_proof_ok(key, RT_CLIENT, hc, nc, hs, ns, want_s));
  assert_false(rt_proof_ok(key, RT_SERVER, hc, nc, hs, ns, want_c));
  /* another secret */
  assert_false(rt_proof_ok(other, RT_CLIENT, hc, nc, hs, ns, want_c));
  /* replay: the same client HELLO and proof against a fresh server nonce */
  rt_hello s2 = mk(2, "127.0.0.1:9403", 33);
  uint8_t hs2[RT_HELLO_MAX];
  size_t ns2 = rt_hello_encode(&s2, hs2);
  assert_false(rt_proof_ok(key, RT_CLIENT, hc, nc, hs2, ns2, want_c));
  /* any flipped bit of the proof or of either HELLO */
  for (size_t i = 0; i < 32 * 8; i++) {
    uint8_t bad[32];
    memcpy(bad, want_c, 32);
    bad[i / 8] ^= (uint8_t)(1u << (i % 8));
    assert_false(rt_proof_ok(key, RT_CLIENT, hc, nc, hs, ns, bad));
  }
  for (size_t i = 0; i < nc * 8; i++) {
    hc[i / 8] ^= (uint8_t)(1u << (i % 8));
    assert_false(rt_proof_ok(key, RT_CLIENT, hc, nc, hs, ns, want_c));
    hc[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  /* no secret: a fixed, public key (the handshake then proves nothing) */
  uint8_t k0[RT_KEY_LEN], k1[RT_KEY_LEN];
  assert_int_equal(rt_key(NULL, k0), 0);
  assert_int_equal(rt_key("", k1), 0);
  assert_memory_equal(k0, k1, RT_KEY_LEN);
  assert_memory_not_equal(k0, key, RT_KEY_LEN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hello_roundtrip),
      cmocka_unit_test(test_hello_bad),
      cmocka_unit_test(test_proof),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
