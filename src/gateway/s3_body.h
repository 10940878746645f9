/* The body of a request that uploads bytes (PutObject, UploadPart): its declared length
 * (Content-Length, or x-amz-decoded-content-length for aws-chunked), the aws-chunked
 * framing with its chained chunk signatures, and at the end the checks against
 * x-amz-content-sha256 and Content-MD5. The bytes themselves go to a gw_upload
 * (object_io.h), never held here beyond one aws-chunked chunk header.
 *
 * Use: s3_body_length (before anything is done for the request) -> s3_body_start ->
 * s3_body_write per body piece -> s3_body_finish once the body is complete (the upload
 * is then finished but not committed: the caller commits with its own attrs) ->
 * s3_body_free. Every function that fails has answered the request already. */
#ifndef DFS_GATEWAY_S3_BODY_H
#define DFS_GATEWAY_S3_BODY_H

#include <stdint.h>

#include <openssl/evp.h>

#include "gateway/object_io.h"
#include "gateway/s3_router.h"

#define S3_CHUNK_HEADER_MAX 256 /* "hex-size;chunk-signature=<64 hex>\r\n" */

typedef struct {
  gw_upload *up;          /* borrowed: where the bytes go */
  const s3_target *t;     /* borrowed: for the error of a failed upload */
  int streaming;          /* aws-chunked framing */
  uint64_t declared;      /* Content-Length, or x-amz-decoded-content-length */
  /* aws-chunked parser */
  char hdr[S3_CHUNK_HEADER_MAX + 1];
  size_t hdr_len;
  uint64_t chunk_left;    /* data bytes of the current chunk still to come */
  int state;              /* 0 header, 1 data, 2 CRLF after data, 3 done */
  int crlf_seen;
  char prev_sig[65], chunk_sig[65];
  EVP_MD_CTX *chunk_sha;  /* owned */
} s3_body;

/* The declared length of r's body and whether it is aws-chunked. 0, or answers r
 * (411 MissingContentLength, 400 InvalidArgument). what: "PutObject", "UploadPart". */
int s3_body_length(gw_req *r, const char *what, uint64_t *declared, int *streaming);
/* Prepares b (zeroed by the caller) for r's body into up. 0, or answers r (503). */
int s3_body_start(gw_req *r, s3_body *b, gw_upload *up, const s3_target *t, uint64_t declared,
                  int streaming);
/* One piece of the body. 0, or answers r and returns 1. */
int s3_body_write(gw_req *r, s3_body *b, const char *data, size_t len);
/* The body is complete: checks its framing and length, finishes the upload (everything
 * written, not committed) and checks x-amz-content-sha256 and Content-MD5. 0 and the
 * MD5 of the bytes in md5, or answers r and returns 1. */
int s3_body_finish(gw_req *r, s3_body *b, uint8_t md5[16]);
void s3_body_free(s3_body *b);

/* A small XML request document (DeleteObjects, CompleteMultipartUpload) gathered whole,
 * up to a bound, NUL-terminated: p[0..len). */
typedef struct {
  char *p;    /* owned; NULL until the first piece */
  size_t len, cap;
} s3_doc;

/* Appends a piece of r's body to d. 0, or answers r (400 MalformedXML "what exceeds
 * max bytes", 503 when out of memory) and returns 1. */
int s3_doc_append(gw_req *r, s3_doc *d, const char *data, size_t len, size_t max,
                  const char *what);
void s3_doc_free(s3_doc *d);

/* Lower-case hex of in[0..n) into out (2n + 1 bytes). */
void s3_hex(const uint8_t *in, size_t n, char *out);

#endif
