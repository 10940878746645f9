/* Fuzz target: dfsgw's Signature V4 parser and checker (src/gateway/sigv4.c) and the XML
 * field finder of request bodies (s3_xml_find), on hostile requests. The input is a
 * request in lines: METHOD, PATH, then "q NAME=VALUE" query parameters and "h NAME:
 * VALUE" headers, each line at most what the gateway would accept; the rest of the
 * input after a blank line is an XML body. Invariants: no crash or sanitizer report,
 * parse either fills a bounded sigv4_auth or refuses, and a signature is never accepted
 * unless it really is the one computed for the request (checked by re-signing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gateway/s3_xml.h"
#include "gateway/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define NOW 1369353600

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 64 * 1024) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  sigv4_kv q[32], h[64];
  size_t nq = 0, nh = 0;
  const char *method = "GET", *path = "/";
  char *body = strstr(text, "\n\n");
  size_t body_len = 0;
  if (body) {
    *body = '\0';
    body += 2;
    body_len = strlen(body);
  }
  int line = 0;
  for (char *s = text, *e; s && *s; s = e ? e + 1 : NULL, line++) {
    e = strchr(s, '\n');
    if (e) *e = '\0';
    if (line == 0) method = s;
    else if (line == 1) path = s;
    else if (s[0] == 'q' && s[1] == ' ' && nq < 32) {
      char *eq = strchr(s + 2, '=');
      if (eq) *eq = '\0';
      q[nq].name = s + 2;
      q[nq++].value = eq ? eq + 1 : "";
    } else if (s[0] == 'h' && s[1] == ' ' && nh < 64) {
      char *colon = strchr(s + 2, ':');
      if (!colon) continue;
      *colon = '\0';
      h[nh].name = s + 2;
      h[nh++].value = colon[1] == ' ' ? colon + 2 : colon + 1;
    }
  }
  sigv4_request r = {method, path, q, nq, h, nh};
  sigv4_auth a;
  char err[256];
  int rc = sigv4_parse(&r, &a, err, sizeof err);
  if (rc == 0) {
    if (strlen(a.key_id) > SIGV4_KEY_ID_MAX || strlen(a.signature) != 64) abort();
    uint8_t key[32];
    sigv4_payload pl;
    const char *code;
    rc = sigv4_verify(&r, &a, SECRET, NOW, key, &pl, &code, err, sizeof err);
    if (rc == 0) { /* accepted: it must be the true signature */
      char *canon = sigv4_canonical_request(&r, &a), want[65];
      uint8_t k2[32];
      if (!canon) abort();
      sigv4_signing_key(SECRET, a.date, a.region, a.service, k2);
      sigv4_sign(k2, &a, canon, want);
      free(canon);
      if (!sigv4_signature_equal(want, a.signature)) abort();
    }
  } else if (rc != DFS_ENOENT && rc != DFS_EINVAL) {
    abort();
  }
  if (body) {
    char out[1024];
    size_t pos = 0;
    int n = 0;
    while (n++ < 2000 && s3_xml_find(body, body_len, &pos, "Key", out, sizeof out))
      if (pos > body_len || strlen(out) >= sizeof out) abort();
  }
  free(text);
  return 0;
}
