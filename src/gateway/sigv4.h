/* AWS Signature Version 4 as S3 checks it: the Authorization header form, the presigned
 * URL form (X-Amz-* query parameters), and the per-chunk signatures of aws-chunked
 * uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). Pure functions over a request
 * description (no I/O, no clock: the caller passes now): unit tested against AWS's
 * published examples in tests/unit/test_sigv4.c.
 *
 * Invariants: (1) nothing here trusts a field before the signature over it is checked:
 * sigv4_parse only finds the access key id (to look up its secret) and the claimed
 * scope; (2) signatures are compared in constant time; (3) every string is bounded
 * (SIGV4_* limits): a longer one is a refusal, never a truncation. */
#ifndef DFS_GATEWAY_SIGV4_H
#define DFS_GATEWAY_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#define SIGV4_KEY_ID_MAX 64
#define SIGV4_SCOPE_PART_MAX 64
#define SIGV4_SIGNED_HEADERS_MAX 1024
#define SIGV4_MAX_SKEW_S (15 * 60)         /* header form: X-Amz-Date within 15 min */
#define SIGV4_MAX_PRESIGN_S (7 * 24 * 3600) /* presigned URLs: X-Amz-Expires <= 7 days */

/* One name/value pair: a query parameter (decoded) or a header (name in any case). */
typedef struct {
  const char *name;
  const char *value;
} sigv4_kv;

/* The request as received. path: decoded (the object key's bytes), starting with '/';
 * it is URI-encoded here by S3's rules (every byte but A-Za-z0-9-._~ and '/'). */
typedef struct {
  const char *method;
  const char *path;
  const sigv4_kv *query;
  size_t nquery;
  const sigv4_kv *headers;
  size_t nheaders;
} sigv4_request;

/* What the request claims, found by sigv4_parse. */
typedef struct {
  int presigned;                              /* X-Amz-Signature in the query */
  char key_id[SIGV4_KEY_ID_MAX + 1];
  char date[9];                               /* YYYYMMDD of the scope */
  char region[SIGV4_SCOPE_PART_MAX + 1];
  char service[SIGV4_SCOPE_PART_MAX + 1];     /* "s3" */
  char amz_date[17];                          /* YYYYMMDDTHHMMSSZ */
  char signed_headers[SIGV4_SIGNED_HEADERS_MAX + 1]; /* "host;x-amz-date" */
  char signature[65];                         /* lowercase hex */
  int64_t expires_s;                          /* presigned: X-Amz-Expires */
  char payload_hash[65];                      /* x-amz-content-sha256 ("" if absent) */
} sigv4_auth;

/* How the body is covered. */
typedef enum {
  SIGV4_PAYLOAD_UNSIGNED,  /* UNSIGNED-PAYLOAD (also every presigned request) */
  SIGV4_PAYLOAD_SHA256,    /* a hex SHA-256 the body must match (the caller checks) */
  SIGV4_PAYLOAD_STREAMING, /* aws-chunked, each chunk signed (sigv4_chunk_signature) */
} sigv4_payload;

/* Finds the Authorization header or the presigned query parameters. 0 and *a filled;
 * DFS_ENOENT if the request carries no signature at all (anonymous); DFS_EINVAL with a
 * reason in err (malformed, unsupported algorithm, a bound exceeded). */
int sigv4_parse(const sigv4_request *r, sigv4_auth *a, char *err, size_t errsz);

/* Checks the signature of r against secret at time now_s (Unix seconds): the scope
 * date matches X-Amz-Date, the time is within SIGV4_MAX_SKEW_S (header form) or before
 * X-Amz-Date + X-Amz-Expires (presigned), every signed header is present (host among
 * them), the signature matches. On success fills signing_key (for chunk signatures)
 * and *payload, returns 0. DFS_EAUTH with a reason in err (the S3 error code is then
 * "SignatureDoesNotMatch", or "RequestTimeTooSkewed" / "AccessDenied" (expired) as
 * *s3_code says); DFS_EINVAL for a malformed payload hash. */
int sigv4_verify(const sigv4_request *r, const sigv4_auth *a, const char *secret,
                 int64_t now_s, uint8_t signing_key[32], sigv4_payload *payload,
                 const char **s3_code, char *err, size_t errsz);

/* The expected signature of one aws-chunked chunk whose SHA-256 is chunk_sha, chained
 * from prev_signature (the request's signature for the first chunk). out: 64 hex + NUL. */
void sigv4_chunk_signature(const uint8_t signing_key[32], const sigv4_auth *a,
                           const char *prev_signature, const uint8_t chunk_sha[32],
                           char out[65]);

/* 1 if two hex signatures are equal (constant time over 64 characters). */
int sigv4_signature_equal(const char *a, const char *b);

/* Building blocks, exposed for the unit test and the gateway's presigned links. */
/* The canonical request (the text that is hashed); malloc'ed, NULL on OOM/bounds. */
char *sigv4_canonical_request(const sigv4_request *r, const sigv4_auth *a);
/* The signing key for (secret, date, region, service). */
void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t out[32]);
/* Hex of HMAC-SHA256(key, string-to-sign of canonical) for a: the signature. */
void sigv4_sign(const uint8_t signing_key[32], const sigv4_auth *a, const char *canonical,
                char out[65]);
/* Appends s URI-encoded by AWS's rules to out (outsz); keep_slash for paths. Returns
 * the length written, or -1 if it does not fit. */
int sigv4_uri_encode(const char *s, size_t len, int keep_slash, char *out, size_t outsz);

#endif
