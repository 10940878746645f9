/* Framed, asynchronous TCP connections on a libuv loop, for every daemon: a listening
 * server, outgoing connections, sending frames (payload + optional bulk without copying
 * it) and request/reply calls matched by request id, with timeouts.
 *
 * Lifetime: a dfs_conn is reference counted. The loop holds one reference from
 * open/accept until the close callback; code that finishes work later (a disk write on
 * the thread pool, a downstream call) takes its own with dfs_conn_ref and drops it with
 * dfs_conn_unref. After close, sends fail with DFS_ECLOSED and pending calls get
 * DFS_ECLOSED; the memory goes when the last reference does.
 *
 * Everything here runs on the loop thread only. */
#ifndef DFS_CONN_H
#define DFS_CONN_H

#include <uv.h>

#include "common/msg.h"
#include "common/tls.h"

typedef struct dfs_conn dfs_conn;

/* An incoming request (a frame without DFS_FRAME_REPLY). The callee owns msg->buf. */
typedef void (*dfs_request_cb)(dfs_conn *c, dfs_msg *msg);
/* The reply to dfs_conn_call: status 0 and *msg (callee owns msg->buf), or status < 0
 * (DFS_ETIMEDOUT, DFS_ECLOSED, DFS_ECONN) and msg == NULL. */
typedef void (*dfs_reply_cb)(dfs_conn *c, int status, dfs_msg *msg, void *ud);
/* Called once when the connection is closed (by either side), before pending calls are
 * failed. May be NULL. */
typedef void (*dfs_close_cb)(dfs_conn *c);
/* Frees a bulk buffer after it has been written (or the send failed). */
typedef void (*dfs_bulk_free_cb)(void *bulk, void *ud);
/* A dfs_bulk_free_cb for bulk from malloc: free(bulk). */
void dfs_bulk_free_malloced(void *bulk, void *ud);

typedef struct {
  dfs_frame_limits limits;     /* what we accept from the peer */
  dfs_request_cb on_request;   /* may be NULL: requests are then refused */
  dfs_close_cb on_close;
  void *data;                  /* copied to every conn's user data */
  dfs_tls_ctx *tls;            /* NULL = plaintext; else TLS with this context (borrowed:
                                  must outlive every connection made with these opts) */
  /* Pre-authentication: when pre_auth.max_payload != 0, a new connection accepts only
   * frames within pre_auth (much smaller) until dfs_conn_set_authenticated(), and is
   * closed if that has not happened within auth_timeout_ms (0 = no timeout). */
  dfs_frame_limits pre_auth;
  uint64_t auth_timeout_ms;
  /* Server-side resource limits for accepted connections (0 = none; ignored for
   * outgoing ones). A connection over max_conns or max_conns_per_addr (same IPv4
   * source) is told so in one MSG_ERROR frame (request id 0, DFS_EBUSY; plaintext only)
   * and closed at once. idle_timeout_ms: closed when nothing was received or sent for
   * that long (a peer that did dfs_conn_set_authenticated is exempt: daemon links stay
   * up). frame_timeout_ms: the first frame after accept (TLS handshake included) and
   * every frame once its first byte arrived must be complete within that long (a
   * half-sent frame cannot hold a connection). max_inflight: requests handed to
   * on_request and not yet replied to; beyond it a request is refused with DFS_EBUSY
   * without reaching on_request. max_write_queue: a peer that lets more reply bytes
   * than this pile up (it does not read) is closed at its next request. Timeouts are
   * checked by one timer per server, every quarter of the shortest (at least 20 ms). */
  uint32_t max_conns, max_conns_per_addr;
  uint64_t idle_timeout_ms, frame_timeout_ms;
  uint32_t max_inflight;
  size_t max_write_queue;
  /* Optional check of a request before its bulk is accepted (server side): called once
   * the payload of a request frame with bulk_len > 0 has arrived, before any bulk byte
   * is read or a buffer for it allocated. Return 0 to read the bulk and hand the whole
   * frame to on_request as usual. Non-zero refuses the frame: the callee has already
   * replied to hdr (dfs_conn_reply or dfs_conn_reply_error); the bulk is then read and
   * discarded as it arrives, never buffered, and the connection goes on with the next
   * frame (a client that sent the whole frame still reads the refusal). payload is
   * borrowed for the call. NULL = every frame is read whole. */
  int (*on_payload)(dfs_conn *c, const dfs_frame_hdr *hdr, const uint8_t *payload);
} dfs_conn_opts;

/* Accepted connections get opts (copied). Returns 0 or a DFS_E* code; *out lives until
 * dfs_server_close. host is an IPv4 address. port 0 picks a free one (see
 * dfs_server_port). */
typedef struct dfs_server dfs_server;
int dfs_server_listen(uv_loop_t *loop, const char *host, int port, const dfs_conn_opts *opts,
                      dfs_server **out);
int dfs_server_port(const dfs_server *s);
/* Accepted connections open now (0 after close). */
unsigned dfs_server_conns(const dfs_server *s);
void dfs_server_close(dfs_server *s); /* stops listening; frees s asynchronously */

/* Starts an outgoing connection; connect_cb gets status 0 or DFS_ECONN. The returned
 * conn can be used at once: sends and calls queue until connected (and fail with
 * DFS_ECONN if the connection fails). NULL on OOM. host: IPv4 or a hostname (resolved
 * asynchronously on libuv's thread pool). connect_cb runs once, from the loop (or at
 * once, inside this call, if the connect cannot even start). */
typedef void (*dfs_connect_cb)(dfs_conn *c, int status, void *ud);
dfs_conn *dfs_conn_connect(uv_loop_t *loop, const char *host, int port,
                           const dfs_conn_opts *opts, dfs_connect_cb cb, void *ud);

/* The peer proved who it is: full limits from now on, the auth timeout is cancelled.
 * Idempotent. */
void dfs_conn_set_authenticated(dfs_conn *c);
int dfs_conn_is_authenticated(const dfs_conn *c);

void dfs_conn_ref(dfs_conn *c);
void dfs_conn_unref(dfs_conn *c);
void dfs_conn_close(dfs_conn *c);          /* idempotent */
int dfs_conn_is_open(const dfs_conn *c);
void *dfs_conn_data(const dfs_conn *c);
void dfs_conn_set_data(dfs_conn *c, void *data);
const char *dfs_conn_peer(const dfs_conn *c); /* "1.2.3.4:5678", valid for c's life */
uv_loop_t *dfs_conn_loop(const dfs_conn *c);
/* Bytes queued for writing (for back-pressure decisions). */
size_t dfs_conn_write_queue(const dfs_conn *c);

/* Sends a frame. payload may be NULL. bulk (bulk_len bytes) is written as is, not
 * copied: it must stay valid until bulk_free(bulk, bulk_ud) is called (always called,
 * also on failure; may be NULL for static data). Returns 0 or DFS_ECLOSED/DFS_ENOMEM. */
int dfs_conn_send(dfs_conn *c, uint16_t type, uint16_t flags, uint64_t req_id,
                  const ProtobufCMessage *payload, const void *bulk, uint32_t bulk_len,
                  dfs_bulk_free_cb bulk_free, void *bulk_ud);
/* Replies to request `req` (type req->type + 1, same id, DFS_FRAME_REPLY). */
int dfs_conn_reply(dfs_conn *c, const dfs_frame_hdr *req, const ProtobufCMessage *payload,
                   const void *bulk, uint32_t bulk_len, dfs_bulk_free_cb bulk_free,
                   void *bulk_ud);
/* Replies MSG_ERROR with an ErrorReply (for requests that could not be decoded). */
int dfs_conn_reply_error(dfs_conn *c, const dfs_frame_hdr *req, int err, const char *why);
/* Sends a request and calls cb exactly once with the reply, a timeout or a close.
 * timeout_ms 0 = no timeout. Returns 0 (cb will be called) or an error (cb will not). */
int dfs_conn_call(dfs_conn *c, uint16_t type, const ProtobufCMessage *payload,
                  const void *bulk, uint32_t bulk_len, dfs_bulk_free_cb bulk_free,
                  void *bulk_ud, uint64_t timeout_ms, dfs_reply_cb cb, void *ud);

#endif
