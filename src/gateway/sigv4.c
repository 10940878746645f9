/* AWS Signature Version 4 (sigv4.h). */
#include "gateway/sigv4.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/array.h"
#include "common/errors.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_CANONICAL (256 * 1024) /* a request's canonical form: bounds every part */

static void hex(const uint8_t *in, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[in[i] >> 4];
    out[2 * i + 1] = d[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static void hmac(const uint8_t *key, size_t klen, const char *msg, size_t mlen,
                 uint8_t out[32]) {
  unsigned int n = 32;
  HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &n);
}

int sigv4_signature_equal(const char *a, const char *b) {
  if (strlen(a) != 64 || strlen(b) != 64) return 0;
  return CRYPTO_memcmp(a, b, 64) == 0;
}

/* ---- small string builder with a hard bound ---- */

typedef struct {
  char *p;
  size_t len, cap;
  int over; /* a bound was hit or malloc failed: the result is unusable */
} sb;

static void sb_add(sb *b, const char *s, size_t n) {
  if (b->over) return;
  if (b->len + n + 1 > MAX_CANONICAL) { b->over = 1; return; }
  char *q = dfs_grow(b->p, &b->cap, b->len + n + 1, 1, 1024);
  if (!q) { b->over = 1; return; }
  b->p = q;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sb *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_enc(sb *b, const char *s, int keep_slash) {
  char tmp[3 * 256 + 1];
  size_t n = strlen(s);
  for (size_t off = 0; off < n; off += 256) { /* in pieces: no bound on s itself */
    size_t k = n - off < 256 ? n - off : 256;
    int w = sigv4_uri_encode(s + off, k, keep_slash, tmp, sizeof tmp);
    if (w < 0) { b->over = 1; return; }
    sb_add(b, tmp, (size_t)w);
  }
}

int sigv4_uri_encode(const char *s, size_t len, int keep_slash, char *out, size_t outsz) {
  static const char d[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      if (o + 1 >= outsz) return -1;
      out[o++] = (char)c;
    } else {
      if (o + 3 >= outsz) return -1;
      out[o++] = '%';
      out[o++] = d[c >> 4];
      out[o++] = d[c & 15];
    }
  }
  if (o >= outsz) return -1;
  out[o] = '\0';
  return (int)o;
}

/* ---- finding things in the request ---- */

static const char *query_get(const sigv4_request *r, const char *name) {
  for (size_t i = 0; i < r->nquery; i++)
    if (strcmp(r->query[i].name, name) == 0) return r->query[i].value ? r->query[i].value : "";
  return NULL;
}

static const char *header_get(const sigv4_request *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

/* Copies at most max bytes of [s, s+n) into out (max + 1); -1 if longer or empty. */
static int copy_part(const char *s, size_t n, char *out, size_t max) {
  if (n == 0 || n > max) return -1;
  memcpy(out, s, n);
  out[n] = '\0';
  return 0;
}

/* "KEY/DATE/REGION/SERVICE/aws4_request" */
static int parse_credential(const char *cred, sigv4_auth *a, char *err, size_t errsz) {
  const char *p[5];
  size_t n[5];
  const char *s = cred;
  for (int i = 0; i < 5; i++) {
    const char *e = i < 4 ? strchr(s, '/') : s + strlen(s);
    if (!e) { snprintf(err, errsz, "the credential is not KEY/DATE/REGION/SERVICE/aws4_request"); return DFS_EINVAL; }
    p[i] = s;
    n[i] = (size_t)(e - s);
    s = *e ? e + 1 : e;
  }
  if (copy_part(p[0], n[0], a->key_id, SIGV4_KEY_ID_MAX) ||
      copy_part(p[1], n[1], a->date, 8) || strlen(a->date) != 8 ||
      copy_part(p[2], n[2], a->region, SIGV4_SCOPE_PART_MAX) ||
      copy_part(p[3], n[3], a->service, SIGV4_SCOPE_PART_MAX) ||
      n[4] != strlen("aws4_request") || memcmp(p[4], "aws4_request", n[4]) != 0) {
    snprintf(err, errsz, "the credential is not KEY/DATE/REGION/SERVICE/aws4_request");
    return DFS_EINVAL;
  }
  return 0;
}

static int is_hex64(const char *s) {
  if (strlen(s) != 64) return 0;
  for (int i = 0; i < 64; i++)
    if (!isxdigit((unsigned char)s[i])) return 0;
  return 1;
}

/* The value of "Name=" within an Authorization header's comma-separated list. */
static int auth_field(const char *h, const char *name, char *out, size_t max) {
  size_t nl = strlen(name);
  const char *s = h;
  while (*s) {
    while (*s == ' ' || *s == ',') s++;
    const char *e = strchr(s, ',');
    if (!e) e = s + strlen(s);
    if ((size_t)(e - s) > nl && strncmp(s, name, nl) == 0 && s[nl] == '=') {
      const char *v = s + nl + 1, *ve = e;
      while (ve > v && ve[-1] == ' ') ve--;
      return copy_part(v, (size_t)(ve - v), out, max);
    }
    s = e;
  }
  return -1;
}

int sigv4_parse(const sigv4_request *r, sigv4_auth *a, char *err, size_t errsz) {
  memset(a, 0, sizeof *a);
  const char *qsig = query_get(r, "X-Amz-Signature");
  const char *auth = header_get(r, "Authorization");
  if (qsig && auth) {
    snprintf(err, errsz, "both an Authorization header and a presigned signature");
    return DFS_EINVAL;
  }
  if (qsig) {
    a->presigned = 1;
    const char *alg = query_get(r, "X-Amz-Algorithm");
    const char *cred = query_get(r, "X-Amz-Credential");
    const char *date = query_get(r, "X-Amz-Date");
    const char *exp = query_get(r, "X-Amz-Expires");
    const char *sh = query_get(r, "X-Amz-SignedHeaders");
    if (!alg || strcmp(alg, ALGORITHM) != 0) {
      snprintf(err, errsz, "X-Amz-Algorithm must be " ALGORITHM);
      return DFS_EINVAL;
    }
    if (!cred || !date || !exp || !sh) {
      snprintf(err, errsz, "a presigned URL needs X-Amz-Credential, X-Amz-Date, "
                           "X-Amz-Expires and X-Amz-SignedHeaders");
      return DFS_EINVAL;
    }
    int rc = parse_credential(cred, a, err, errsz);
    if (rc) return rc;
    char *end;
    long long e = strtoll(exp, &end, 10);
    if (!*exp || *end || e < 1 || e > SIGV4_MAX_PRESIGN_S) {
      snprintf(err, errsz, "X-Amz-Expires must be 1..%d seconds", SIGV4_MAX_PRESIGN_S);
      return DFS_EINVAL;
    }
    a->expires_s = e;
    if (copy_part(date, strlen(date), a->amz_date, 16) ||
        copy_part(sh, strlen(sh), a->signed_headers, SIGV4_SIGNED_HEADERS_MAX) ||
        copy_part(qsig, strlen(qsig), a->signature, 64) || !is_hex64(a->signature)) {
      snprintf(err, errsz, "a malformed X-Amz-Date, X-Amz-SignedHeaders or X-Amz-Signature");
      return DFS_EINVAL;
    }
    snprintf(a->payload_hash, sizeof a->payload_hash, "UNSIGNED-PAYLOAD");
  } else if (auth) {
    if (strncmp(auth, ALGORITHM " ", strlen(ALGORITHM) + 1) != 0) {
      snprintf(err, errsz, "only " ALGORITHM " signatures are supported (Signature V4)");
      return DFS_EINVAL;
    }
    const char *rest = auth + strlen(ALGORITHM) + 1;
    char cred[SIGV4_KEY_ID_MAX + 3 * SIGV4_SCOPE_PART_MAX + 32];
    if (auth_field(rest, "Credential", cred, sizeof cred - 1) ||
        auth_field(rest, "SignedHeaders", a->signed_headers, SIGV4_SIGNED_HEADERS_MAX) ||
        auth_field(rest, "Signature", a->signature, 64) || !is_hex64(a->signature)) {
      snprintf(err, errsz, "the Authorization header needs Credential, SignedHeaders and a "
                           "64-digit Signature");
      return DFS_EINVAL;
    }
    int rc = parse_credential(cred, a, err, errsz);
    if (rc) return rc;
    const char *date = header_get(r, "x-amz-date");
    if (!date || copy_part(date, strlen(date), a->amz_date, 16)) {
      snprintf(err, errsz, "a signed request needs an x-amz-date header (YYYYMMDDTHHMMSSZ)");
      return DFS_EINVAL;
    }
    const char *ph = header_get(r, "x-amz-content-sha256");
    if (!ph || copy_part(ph, strlen(ph), a->payload_hash, 64)) {
      snprintf(err, errsz, "a signed request needs an x-amz-content-sha256 header");
      return DFS_EINVAL;
    }
  } else {
    snprintf(err, errsz, "the request is not signed");
    return DFS_ENOENT;
  }
  for (char *c = a->signature; *c; c++) *c = (char)tolower((unsigned char)*c);
  return 0;
}

/* "YYYYMMDDTHHMMSSZ" -> Unix seconds, or -1. */
static int64_t parse_amz_date(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
  for (int i = 0; i < 15; i++)
    if (i != 8 && !isdigit((unsigned char)s[i])) return -1;
  tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
  tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
  tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
  tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
  tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
  tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return -1;
  return (int64_t)timegm(&tm);
}

/* Header value trimmed, inner runs of spaces collapsed (AWS's canonical form). */
static void sb_header_value(sb *b, const char *v) {
  while (*v == ' ' || *v == '\t') v++;
  size_t n = strlen(v);
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  int space = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] == ' ' || v[i] == '\t') {
      space = 1;
      continue;
    }
    if (space) sb_add(b, " ", 1);
    space = 0;
    sb_add(b, &v[i], 1);
  }
}

typedef struct {
  char *name, *value; /* encoded */
} enc_kv;

static int cmp_enc(const void *x, const void *y) {
  const enc_kv *a = x, *b = y;
  int c = strcmp(a->name, b->name);
  return c ? c : strcmp(a->value, b->value);
}

static char *encoded(const char *s, int keep_slash) {
  sb b = {0};
  sb_str(&b, ""); /* never NULL for an empty string */
  sb_enc(&b, s ? s : "", keep_slash);
  if (b.over) { free(b.p); return NULL; }
  return b.p;
}

char *sigv4_canonical_request(const sigv4_request *r, const sigv4_auth *a) {
  sb b = {0};
  sb_str(&b, r->method);
  sb_str(&b, "\n");
  sb_enc(&b, r->path && *r->path ? r->path : "/", 1);
  sb_str(&b, "\n");
  /* the query, sorted by encoded name (the signature itself left out) */
  enc_kv *q = r->nquery ? calloc(r->nquery, sizeof *q) : NULL;
  size_t nq = 0;
  if (r->nquery && !q) b.over = 1;
  for (size_t i = 0; i < r->nquery && !b.over; i++) {
    if (a->presigned && strcmp(r->query[i].name, "X-Amz-Signature") == 0) continue;
    q[nq].name = encoded(r->query[i].name, 0);
    q[nq].value = encoded(r->query[i].value, 0);
    if (!q[nq].name || !q[nq].value) b.over = 1;
    nq++;
  }
  if (!b.over && nq) qsort(q, nq, sizeof *q, cmp_enc);
  for (size_t i = 0; i < nq && !b.over; i++) {
    if (i) sb_str(&b, "&");
    sb_str(&b, q[i].name);
    sb_str(&b, "=");
    sb_str(&b, q[i].value);
  }
  for (size_t i = 0; i < nq; i++) {
    free(q[i].name);
    free(q[i].value);
  }
  free(q);
  sb_str(&b, "\n");
  /* the signed headers, in the order the client listed them (sorted by AWS's rules) */
  const char *s = a->signed_headers;
  while (*s && !b.over) {
    const char *e = strchr(s, ';');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char name[256];
    if (n == 0 || n >= sizeof name) { b.over = 1; break; }
    memcpy(name, s, n);
    name[n] = '\0';
    sb_str(&b, name);
    sb_str(&b, ":");
    int first = 1;
    for (size_t i = 0; i < r->nheaders; i++) /* repeated headers: values joined by ',' */
      if (strcasecmp(r->headers[i].name, name) == 0) {
        if (!first) sb_str(&b, ",");
        sb_header_value(&b, r->headers[i].value);
        first = 0;
      }
    sb_str(&b, "\n");
    s = e ? e + 1 : s + n;
  }
  sb_str(&b, "\n");
  sb_str(&b, a->signed_headers);
  sb_str(&b, "\n");
  sb_str(&b, a->presigned ? "UNSIGNED-PAYLOAD" : a->payload_hash);
  if (b.over) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t out[32]) {
  char k[256];
  int n = snprintf(k, sizeof k, "AWS4%s", secret);
  if (n < 0 || (size_t)n >= sizeof k) n = (int)sizeof k - 1;
  uint8_t a[32], b[32], c[32];
  hmac((const uint8_t *)k, (size_t)n, date, strlen(date), a);
  hmac(a, 32, region, strlen(region), b);
  hmac(b, 32, service, strlen(service), c);
  hmac(c, 32, "aws4_request", strlen("aws4_request"), out);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(a, sizeof a);
  OPENSSL_cleanse(b, sizeof b);
  OPENSSL_cleanse(c, sizeof c);
}

static void sign_string(const uint8_t key[32], const char *sts, char out[65]) {
  uint8_t mac[32];
  hmac(key, 32, sts, strlen(sts), mac);
  hex(mac, 32, out);
}

void sigv4_sign(const uint8_t signing_key[32], const sigv4_auth *a, const char *canonical,
                char out[65]) {
  uint8_t h[32];
  char hh[65], sts[512];
  SHA256((const unsigned char *)canonical, strlen(canonical), h);
  hex(h, 32, hh);
  snprintf(sts, sizeof sts, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", a->amz_date, a->date,
           a->region, a->service, hh);
  sign_string(signing_key, sts, out);
}

void sigv4_chunk_signature(const uint8_t signing_key[32], const sigv4_auth *a,
                           const char *prev_signature, const uint8_t chunk_sha[32],
                           char out[65]) {
  static const char empty_sha[] =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  char ch[65], sts[640];
  hex(chunk_sha, 32, ch);
  snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s/%s/%s/aws4_request\n%s\n%s\n%s",
           a->amz_date, a->date, a->region, a->service, prev_signature, empty_sha, ch);
  sign_string(signing_key, sts, out);
}

/* 1 if the ';'-separated list holds name. */
static int list_has(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *s = list; *s;) {
    const char *e = strchr(s, ';');
    size_t k = e ? (size_t)(e - s) : strlen(s);
    if (k == n && strncmp(s, name, n) == 0) return 1;
    s = e ? e + 1 : s + k;
  }
  return 0;
}

int sigv4_verify(const sigv4_request *r, const sigv4_auth *a, const char *secret,
                 int64_t now_s, uint8_t signing_key[32], sigv4_payload *payload,
                 const char **s3_code, char *err, size_t errsz) {
  *s3_code = "SignatureDoesNotMatch";
  int64_t t = parse_amz_date(a->amz_date);
  if (t < 0 || strncmp(a->amz_date, a->date, 8) != 0) {
    *s3_code = "AccessDenied";
    snprintf(err, errsz, "X-Amz-Date '%s' is not YYYYMMDDTHHMMSSZ of the credential's date",
             a->amz_date);
    return DFS_EAUTH;
  }
  if (strcmp(a->service, "s3") != 0) {
    snprintf(err, errsz, "the credential's service must be s3, not '%s'", a->service);
    return DFS_EAUTH;
  }
  if (!list_has(a->signed_headers, "host")) {
    *s3_code = "AccessDenied";
    snprintf(err, errsz, "the Host header must be signed");
    return DFS_EAUTH;
  }
  for (const char *s = a->signed_headers; *s;) { /* every signed header is present */
    const char *e = strchr(s, ';');
    size_t k = e ? (size_t)(e - s) : strlen(s);
    char name[256];
    if (k == 0 || k >= sizeof name) {
      snprintf(err, errsz, "a malformed SignedHeaders list");
      return DFS_EAUTH;
    }
    memcpy(name, s, k);
    name[k] = '\0';
    if (!header_get(r, name)) {
      *s3_code = "AccessDenied";
      snprintf(err, errsz, "signed header '%s' is missing", name);
      return DFS_EAUTH;
    }
    s = e ? e + 1 : s + k;
  }
  if (a->presigned) {
    if (now_s < t - SIGV4_MAX_SKEW_S || now_s > t + a->expires_s) {
      *s3_code = "AccessDenied";
      snprintf(err, errsz, "the presigned URL has expired (or is not valid yet)");
      return DFS_EAUTH;
    }
    *payload = SIGV4_PAYLOAD_UNSIGNED;
  } else {
    if (now_s < t - SIGV4_MAX_SKEW_S || now_s > t + SIGV4_MAX_SKEW_S) {
      *s3_code = "RequestTimeTooSkewed";
      snprintf(err, errsz, "the request time %s is more than 15 minutes from the gateway's "
                           "clock", a->amz_date);
      return DFS_EAUTH;
    }
    if (strcmp(a->payload_hash, "UNSIGNED-PAYLOAD") == 0) {
      *payload = SIGV4_PAYLOAD_UNSIGNED;
    } else if (strcmp(a->payload_hash, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0) {
      *payload = SIGV4_PAYLOAD_STREAMING;
    } else if (is_hex64(a->payload_hash)) {
      *payload = SIGV4_PAYLOAD_SHA256;
    } else {
      *s3_code = "InvalidArgument";
      snprintf(err, errsz, "x-amz-content-sha256 must be a SHA-256, UNSIGNED-PAYLOAD or "
                           "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
      return DFS_EINVAL;
    }
  }
  char *canonical = sigv4_canonical_request(r, a);
  if (!canonical) {
    *s3_code = "InvalidRequest";
    snprintf(err, errsz, "the request is too large to sign (over %d bytes canonical)",
             MAX_CANONICAL);
    return DFS_EINVAL;
  }
  char want[65];
  sigv4_signing_key(secret, a->date, a->region, a->service, signing_key);
  sigv4_sign(signing_key, a, canonical, want);
  free(canonical);
  if (!sigv4_signature_equal(want, a->signature)) {
    OPENSSL_cleanse(signing_key, 32);
    snprintf(err, errsz, "the request signature we calculated does not match the signature "
                         "you provided; check your key and signing method");
    return DFS_EAUTH;
  }
  return 0;
}
