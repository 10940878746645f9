/* A request to dfsgw and how it is answered: a gw_req per request holds what arrived
 * (method, decoded path, headers, query) and what the operation needs while the body
 * streams in; the operation answers with one of the gw_respond_* calls (or
 * gw_s3_error). A gw_conn per connection keeps the dfs client connections (metad,
 * authd, chunkservers) across keep-alive requests. The server that makes and routes
 * requests is http.c; everything that handles one includes only this.
 *
 * Life of a request: headers complete -> gw_req_new -> route (s3_router.c or the
 * console) either answers at once or sets on_body/on_end -> each body piece goes to
 * on_body (bounded: libmicrohttpd hands us at most its buffer at a time) -> on_end
 * answers -> gw_req_free (also when the client went away mid-way: op_free cleans up). */
#ifndef DFS_GATEWAY_REQUEST_H
#define DFS_GATEWAY_REQUEST_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "client/chunk_client.h"
#include "client/meta_client.h"
#include "gateway/gateway.h"
#include "gateway/sigv4.h"

#define GW_MAX_HEADERS 128 /* more is a 400 */
#define GW_MAX_QUERY 64

/* One connection's dfs clients (owned by the connection's thread). */
typedef struct {
  meta_client mc; /* metad, the request's user token set per request */
  meta_client ac; /* authd (access key lookups) */
  chunk_conns cc;
} gw_conn;

typedef struct gw_req gw_req;
typedef int (*gw_body_fn)(gw_req *r, const char *data, size_t len);
typedef void (*gw_end_fn)(gw_req *r);

struct gw_req {
  gateway *gw;
  gw_conn *conn;
  struct MHD_Connection *mhd;
  char method[16];
  char *path;            /* decoded, owned */
  sigv4_kv headers[GW_MAX_HEADERS];
  size_t nheaders;       /* names and values point into libmicrohttpd's buffers */
  sigv4_kv query[GW_MAX_QUERY];
  size_t nquery;
  int too_many;          /* headers or query over the bounds above */
  /* who, once authenticated (s3_auth.c) */
  char user[64];
  int is_admin;
  char token[128];
  sigv4_auth auth;          /* the verified signature (aws-chunked bodies chain from it) */
  uint8_t signing_key[32];
  sigv4_payload payload;    /* how the body is covered */
  /* the operation while a body streams in */
  gw_body_fn on_body;    /* 0, or non-zero after answering (the rest is discarded) */
  gw_end_fn on_end;      /* the body is complete: answer */
  void *op;
  void (*op_free)(void *op);
  int routed;            /* s3_route (or the console) has seen it */
  int answered;
  unsigned status;
  uint64_t t0_us, body_bytes;
  char request_id[17];
};

/* Finds a header (any case) or a query parameter; NULL if absent. */
const char *gw_header(const gw_req *r, const char *name);
const char *gw_query(const gw_req *r, const char *name);
int gw_has_query(const gw_req *r, const char *name);

/* Answers with a copy of body[0..len) (NULL/0: empty). content_type may be NULL.
 * extra: NULL-terminated name, value, name, value... headers (may be NULL). */
void gw_respond(gw_req *r, unsigned status, const char *content_type, const void *body,
                size_t len, const char *const *extra);
/* Answers with an S3 error document: <Error><Code>code</Code><Message>... */
void gw_s3_error(gw_req *r, unsigned status, const char *code, const char *message);
/* Answers with a streamed body of size bytes (MHD_SIZE_UNKNOWN allowed): reader fills
 * buf at pos (see MHD_ContentReaderCallback); cls is freed with free_cls. */
void gw_respond_stream(gw_req *r, unsigned status, const char *content_type, uint64_t size,
                       MHD_ContentReaderCallback reader, void *cls,
                       MHD_ContentReaderFreeCallback free_cls, const char *const *extra);

#endif
