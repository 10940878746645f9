/* Signature V4 (src/gateway/sigv4.c) against the examples in Amazon S3's documentation
 * ("Signature Calculations for the Authorization Header", "Query String Authentication",
 * "Signature Calculation: Transfer Payload in Multiple Chunks"), with their published
 * signatures, plus the refusals: a changed byte, a wrong secret, skew, expiry, an
 * unsigned Host, malformed headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "common/errors.h"
#include "gateway/sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define T_20130524 1369353600 /* 2013-05-24T00:00:00Z */

static int verify(const sigv4_request *r, const char *secret, int64_t now, const char **code,
                  sigv4_payload *pl) {
  sigv4_auth a;
  char err[256];
  uint8_t key[32];
  int rc = sigv4_parse(r, &a, err, sizeof err);
  if (rc) return rc;
  return sigv4_verify(r, &a, secret, now, key, pl, code, err, sizeof err);
}

/* GET /test.txt with a Range header (the S3 docs' first example). */
static void test_get_object_header(void **state) {
  (void)state;
  sigv4_kv h[] = {
      {"Host", "examplebucket.s3.amazonaws.com"},
      {"Range", "bytes=0-9"},
      {"x-amz-content-sha256", EMPTY_SHA},
      {"x-amz-date", "20130524T000000Z"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
       "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
       "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
  };
  sigv4_request r = {"GET", "/test.txt", NULL, 0, h, 5};
  sigv4_auth a;
  char err[256];
  assert_int_equal(sigv4_parse(&r, &a, err, sizeof err), 0);
  assert_string_equal(a.key_id, "AKIAIOSFODNN7EXAMPLE");
  assert_string_equal(a.region, "us-east-1");
  const char *code;
  sigv4_payload pl;
  assert_int_equal(verify(&r, SECRET, T_20130524 + 60, &code, &pl), 0);
  assert_int_equal(pl, SIGV4_PAYLOAD_SHA256);
  /* a wrong secret, a changed header, a changed path: refused */
  assert_int_equal(verify(&r, "not-the-secret", T_20130524, &code, &pl), DFS_EAUTH);
  assert_string_equal(code, "SignatureDoesNotMatch");
  h[1].value = "bytes=0-10";
  assert_int_equal(verify(&r, SECRET, T_20130524, &code, &pl), DFS_EAUTH);
  h[1].value = "bytes=0-9";
  r.path = "/test.txT";
  assert_int_equal(verify(&r, SECRET, T_20130524, &code, &pl), DFS_EAUTH);
  r.path = "/test.txt";
  /* 16 minutes off: RequestTimeTooSkewed */
  assert_int_equal(verify(&r, SECRET, T_20130524 + 16 * 60, &code, &pl), DFS_EAUTH);
  assert_string_equal(code, "RequestTimeTooSkewed");
  /* a signed header that is not there */
  sigv4_request r4 = {"GET", "/test.txt", NULL, 0, h + 1, 4}; /* no Host */
  assert_int_equal(verify(&r4, SECRET, T_20130524, &code, &pl), DFS_EAUTH);
}

/* PUT /test$file.text with a body (the docs' second example). */
static void test_put_object_header(void **state) {
  (void)state;
  sigv4_kv h[] = {
      {"Host", "examplebucket.s3.amazonaws.com"},
      {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
      {"x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
       "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
       "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
  };
  sigv4_request r = {"PUT", "/test$file.text", NULL, 0, h, 6};
  const char *code;
  sigv4_payload pl;
  assert_int_equal(verify(&r, SECRET, T_20130524, &code, &pl), 0);
}

/* GET ?lifecycle and GET ?max-keys=2&prefix=J (query strings in the canonical form). */
static void test_query_strings(void **state) {
  (void)state;
  sigv4_kv h[] = {
      {"Host", "examplebucket.s3.amazonaws.com"},
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-content-sha256", EMPTY_SHA},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
       "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
       "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
  };
  sigv4_kv q1[] = {{"lifecycle", ""}};
  sigv4_request r = {"GET", "/", q1, 1, h, 4};
  const char *code;
  sigv4_payload pl;
  assert_int_equal(verify(&r, SECRET, T_20130524, &code, &pl), 0);
  h[3].value =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
      "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
      "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
  sigv4_kv q2[] = {{"prefix", "J"}, {"max-keys", "2"}}; /* any order: sorted when signed */
  sigv4_request r2 = {"GET", "/", q2, 2, h, 4};
  assert_int_equal(verify(&r2, SECRET, T_20130524, &code, &pl), 0);
}

/* A presigned GET (the docs' query-string example), valid for 86400 s. */
static void test_presigned(void **state) {
  (void)state;
  sigv4_kv h[] = {{"Host", "examplebucket.s3.amazonaws.com"}};
  sigv4_kv q[] = {
      {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
      {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
      {"X-Amz-Date", "20130524T000000Z"},
      {"X-Amz-Expires", "86400"},
      {"X-Amz-SignedHeaders", "host"},
      {"X-Amz-Signature", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"},
  };
  sigv4_request r = {"GET", "/test.txt", q, 6, h, 1};
  const char *code;
  sigv4_payload pl;
  assert_int_equal(verify(&r, SECRET, T_20130524 + 3600, &code, &pl), 0);
  assert_int_equal(pl, SIGV4_PAYLOAD_UNSIGNED);
  /* one second after it expires */
  assert_int_equal(verify(&r, SECRET, T_20130524 + 86401, &code, &pl), DFS_EAUTH);
  assert_string_equal(code, "AccessDenied");
  /* more than 7 days is malformed */
  q[3].value = "604801";
  sigv4_auth a;
  char err[256];
  assert_int_equal(sigv4_parse(&r, &a, err, sizeof err), DFS_EINVAL);
}

/* The aws-chunked example: seed signature, then 64 KiB, 1 KiB and the final empty chunk. */
static void test_streaming_chunks(void **state) {
  (void)state;
  sigv4_kv h[] = {
      {"Host", "s3.amazonaws.com"},
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
      {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
      {"Content-Encoding", "aws-chunked"},
      {"x-amz-decoded-content-length", "66560"},
      {"Content-Length", "66824"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
       "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
       "x-amz-decoded-content-length;x-amz-storage-class,"
       "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"},
  };
  sigv4_request r = {"PUT", "/examplebucket/chunkObject.txt", NULL, 0, h, 8};
  sigv4_auth a;
  char err[256], sig[65];
  uint8_t key[32], sha[32];
  const char *code;
  sigv4_payload pl;
  assert_int_equal(sigv4_parse(&r, &a, err, sizeof err), 0);
  assert_int_equal(sigv4_verify(&r, &a, SECRET, T_20130524, key, &pl, &code, err, sizeof err), 0);
  assert_int_equal(pl, SIGV4_PAYLOAD_STREAMING);
  uint8_t *data = malloc(65536);
  assert_non_null(data);
  memset(data, 'a', 65536);
  SHA256(data, 65536, sha);
  sigv4_chunk_signature(key, &a, a.signature, sha, sig);
  assert_string_equal(sig, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
  char prev[65];
  memcpy(prev, sig, sizeof prev);
  SHA256(data, 1024, sha);
  sigv4_chunk_signature(key, &a, prev, sha, sig);
  assert_string_equal(sig, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
  memcpy(prev, sig, sizeof prev);
  SHA256(data, 0, sha);
  sigv4_chunk_signature(key, &a, prev, sha, sig);
  assert_string_equal(sig, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
  free(data);
}

static void test_malformed(void **state) {
  (void)state;
  sigv4_auth a;
  char err[256];
  sigv4_kv none[] = {{"Host", "h"}};
  sigv4_request r = {"GET", "/", NULL, 0, none, 1};
  assert_int_equal(sigv4_parse(&r, &a, err, sizeof err), DFS_ENOENT); /* anonymous */
  const char *bad[] = {
      "AWS4-HMAC-SHA1 Credential=K/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,"
      "Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
      "AWS4-HMAC-SHA256 Credential=K/2013/us-east-1/s3/aws4_request,SignedHeaders=host,"
      "Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
      "AWS4-HMAC-SHA256 Credential=K/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,"
      "Signature=zz",
      "AWS4-HMAC-SHA256 Credential=K/20130524/us-east-1/s3/aws4_request",
      "AWS4-HMAC-SHA256 ",
      "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sigv4_kv h[] = {{"Host", "h"}, {"x-amz-date", "20130524T000000Z"},
                    {"x-amz-content-sha256", EMPTY_SHA}, {"Authorization", bad[i]}};
    sigv4_request rb = {"GET", "/", NULL, 0, h, 4};
    assert_int_equal(sigv4_parse(&rb, &a, err, sizeof err), DFS_EINVAL);
  }
  /* a credential longer than the bound is refused, not truncated */
  char longcred[600];
  memset(longcred, 'K', sizeof longcred);
  memcpy(longcred, "AWS4-HMAC-SHA256 Credential=", 28);
  longcred[sizeof longcred - 1] = '\0';
  sigv4_kv h2[] = {{"Host", "h"}, {"x-amz-date", "20130524T000000Z"},
                   {"x-amz-content-sha256", EMPTY_SHA}, {"Authorization", longcred}};
  sigv4_request r2 = {"GET", "/", NULL, 0, h2, 4};
  assert_int_equal(sigv4_parse(&r2, &a, err, sizeof err), DFS_EINVAL);
}

static void test_uri_encode(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(sigv4_uri_encode("a b/c~d*", 8, 1, out, sizeof out), 12);
  assert_string_equal(out, "a%20b/c~d%2A");
  sigv4_uri_encode("a/b=c", 5, 0, out, sizeof out);
  assert_string_equal(out, "a%2Fb%3Dc");
  assert_int_equal(sigv4_uri_encode("////", 4, 0, out, 8), -1); /* does not fit */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_object_header), cmocka_unit_test(test_put_object_header),
      cmocka_unit_test(test_query_strings),     cmocka_unit_test(test_presigned),
      cmocka_unit_test(test_streaming_chunks),  cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_uri_encode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
