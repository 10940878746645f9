/* An uploaded body: length, aws-chunked framing, digests (s3_body.h). */
#include "gateway/s3_body.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/array.h"
#include "gateway/sigv4.h"

void s3_hex(const uint8_t *in, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[in[i] >> 4];
    out[2 * i + 1] = d[in[i] & 15];
  }
  out[2 * n] = '\0';
}

int s3_body_length(gw_req *r, const char *what, uint64_t *declared, int *streaming) {
  const char *cl = gw_header(r, "Content-Length");
  const char *te = gw_header(r, "Transfer-Encoding");
  *streaming = r->payload == SIGV4_PAYLOAD_STREAMING;
  const char *decoded = gw_header(r, "x-amz-decoded-content-length");
  const char *len_s = *streaming ? decoded : cl;
  if (!len_s || (te && !*streaming)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s needs Content-Length", what);
    gw_s3_error(r, 411, "MissingContentLength",
                *streaming ? "aws-chunked uploads need x-amz-decoded-content-length" : msg);
    return 1;
  }
  char *end;
  unsigned long long v = strtoull(len_s, &end, 10);
  if (!*len_s || *end || !isdigit((unsigned char)*len_s)) {
    gw_s3_error(r, 400, "InvalidArgument", "the content length is not a number");
    return 1;
  }
  *declared = v;
  return 0;
}

int s3_body_start(gw_req *r, s3_body *b, gw_upload *up, const s3_target *t, uint64_t declared,
                  int streaming) {
  b->up = up;
  b->t = t;
  b->declared = declared;
  b->streaming = streaming;
  memcpy(b->prev_sig, r->auth.signature, sizeof b->prev_sig);
  if (!streaming) return 0;
  if (!(b->chunk_sha = EVP_MD_CTX_new()) ||
      !EVP_DigestInit_ex(b->chunk_sha, EVP_sha256(), NULL)) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return 1;
  }
  return 0;
}

void s3_body_free(s3_body *b) {
  if (b->chunk_sha) EVP_MD_CTX_free(b->chunk_sha);
  b->chunk_sha = NULL;
}

static int upload_fail(gw_req *r, s3_body *b) {
  s3_error_from_dfs(r, b->up->rc, b->up->err, b->t, 1);
  return 1;
}

/* One aws-chunked chunk is complete: its signature must chain. */
static int chunk_done(gw_req *r, s3_body *b) {
  uint8_t sha[32];
  unsigned n;
  EVP_DigestFinal_ex(b->chunk_sha, sha, &n);
  char want[65];
  sigv4_chunk_signature(r->signing_key, &r->auth, b->prev_sig, sha, want);
  if (!sigv4_signature_equal(want, b->chunk_sig)) {
    gw_s3_error(r, 403, "SignatureDoesNotMatch", "an aws-chunked chunk signature does not match");
    return 1;
  }
  memcpy(b->prev_sig, b->chunk_sig, sizeof b->prev_sig);
  EVP_DigestInit_ex(b->chunk_sha, EVP_sha256(), NULL);
  return 0;
}

/* Parses "hex-size;chunk-signature=sig" (b->hdr). */
static int chunk_header(gw_req *r, s3_body *b) {
  char *semi = strchr(b->hdr, ';');
  const char *sig = semi ? strstr(semi, "chunk-signature=") : NULL;
  if (!semi || !sig) {
    gw_s3_error(r, 400, "InvalidRequest", "a malformed aws-chunked chunk header");
    return 1;
  }
  *semi = '\0';
  char *end;
  unsigned long long size = strtoull(b->hdr, &end, 16);
  sig += strlen("chunk-signature=");
  if (!*b->hdr || *end || strlen(sig) != 64 || size > (16u << 20)) {
    gw_s3_error(r, 400, "InvalidRequest", "a malformed aws-chunked chunk header");
    return 1;
  }
  memcpy(b->chunk_sig, sig, 65);
  b->chunk_left = size;
  if (size == 0) { /* the final chunk */
    if (chunk_done(r, b)) return 1;
    b->state = 3;
  } else {
    b->state = 1;
  }
  return 0;
}

static int stream_body(gw_req *r, s3_body *b, const char *data, size_t len) {
  while (len) {
    if (b->state == 3) { /* trailing bytes after the final chunk (its CRLF) are fine */
      return 0;
    } else if (b->state == 0) {
      char c = *data++;
      len--;
      if (c == '\n' && b->hdr_len && b->hdr[b->hdr_len - 1] == '\r') {
        b->hdr[b->hdr_len - 1] = '\0';
        b->hdr_len = 0;
        if (chunk_header(r, b)) return 1;
        continue;
      }
      if (b->hdr_len == S3_CHUNK_HEADER_MAX) {
        gw_s3_error(r, 400, "InvalidRequest", "an aws-chunked chunk header is too long");
        return 1;
      }
      b->hdr[b->hdr_len++] = c;
      b->hdr[b->hdr_len] = '\0';
    } else if (b->state == 1) {
      size_t k = len < b->chunk_left ? len : (size_t)b->chunk_left;
      EVP_DigestUpdate(b->chunk_sha, data, k);
      if (gw_upload_write(b->up, data, k)) return upload_fail(r, b);
      data += k;
      len -= k;
      b->chunk_left -= k;
      if (b->chunk_left == 0) {
        if (chunk_done(r, b)) return 1;
        b->state = 2;
        b->crlf_seen = 0;
      }
    } else { /* state 2: "\r\n" after the data */
      char c = *data++;
      len--;
      if ((b->crlf_seen == 0 && c != '\r') || (b->crlf_seen == 1 && c != '\n')) {
        gw_s3_error(r, 400, "InvalidRequest", "aws-chunked data is not followed by CRLF");
        return 1;
      }
      if (++b->crlf_seen == 2) b->state = 0;
    }
  }
  return 0;
}

int s3_body_write(gw_req *r, s3_body *b, const char *data, size_t len) {
  if (b->streaming) return stream_body(r, b, data, len);
  if (gw_upload_write(b->up, data, len)) return upload_fail(r, b);
  return 0;
}

/* Content-MD5 (base64 of the 16 bytes) against md5; 1 if absent or equal. */
static int content_md5_ok(const char *b64, const uint8_t md5[16]) {
  if (!b64) return 1;
  uint8_t raw[64];
  if (strlen(b64) > 60) return 0;
  int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
  if (n < 16) return 0;
  return memcmp(raw, md5, 16) == 0;
}

int s3_body_finish(gw_req *r, s3_body *b, uint8_t md5[16]) {
  if (b->streaming && b->state != 3) {
    gw_s3_error(r, 400, "IncompleteBody", "the aws-chunked body ended before its final chunk");
    return 1;
  }
  if (b->up->size != b->declared) {
    gw_s3_error(r, 400, "IncompleteBody", "the body is shorter than its declared length");
    return 1;
  }
  uint8_t sha[32];
  if (gw_upload_finish(b->up, md5, sha)) return upload_fail(r, b);
  if (r->payload == SIGV4_PAYLOAD_SHA256) {
    char got[65];
    s3_hex(sha, 32, got);
    if (strcasecmp(got, r->auth.payload_hash) != 0) {
      gw_s3_error(r, 400, "XAmzContentSHA256Mismatch",
                  "the body's SHA-256 differs from x-amz-content-sha256; nothing was stored");
      return 1;
    }
  }
  if (!content_md5_ok(gw_header(r, "Content-MD5"), md5)) {
    gw_s3_error(r, 400, "BadDigest", "the body's MD5 differs from Content-MD5; nothing was stored");
    return 1;
  }
  return 0;
}

int s3_doc_append(gw_req *r, s3_doc *d, const char *data, size_t len, size_t max,
                  const char *what) {
  if (d->len + len > max) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s exceeds %zu bytes", what, max);
    gw_s3_error(r, 400, "MalformedXML", msg);
    return 1;
  }
  char *nv = dfs_grow(d->p, &d->cap, d->len + len + 1, 1, 4096);
  if (!nv) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return 1;
  }
  d->p = nv;
  memcpy(d->p + d->len, data, len);
  d->len += len;
  d->p[d->len] = '\0';
  return 0;
}

void s3_doc_free(s3_doc *d) {
  free(d->p);
  memset(d, 0, sizeof *d);
}
