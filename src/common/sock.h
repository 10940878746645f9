/* Blocking framed connections for clients (the dfs CLI and its worker threads): one
 * request at a time per socket, with a timeout on every send and receive. A socket is
 * used by one thread at a time. */
#ifndef DFS_SOCK_H
#define DFS_SOCK_H

#include "common/msg.h"
#include "common/tls.h"

/* Makes every later dfs_sock_connect use TLS with ctx (borrowed; NULL = plaintext).
 * Call once at start-up, before any thread connects. */
void dfs_sock_set_tls(dfs_tls_ctx *ctx);
/* Closes a socket from dfs_sock_connect (and its TLS state). */
void dfs_sock_close(int fd);
/* Connects to host:port (IPv4 or hostname). Returns an fd >= 0 or DFS_ECONN /
 * DFS_ETIMEDOUT. timeout_ms also becomes the socket's send/receive timeout. */
int dfs_sock_connect(const char *host, int port, int timeout_ms);
/* Sends a request frame and waits for the reply with the same id. On success returns 0
 * and *reply (caller owns reply->buf). A MSG_ERROR reply is decoded and its error
 * returned (message copied to err if err != NULL). Limits the reply to `lim` (NULL =
 * defaults). Other errors: DFS_ETIMEDOUT, DFS_ECLOSED, DFS_EPROTO, DFS_ETOOBIG. After
 * an error other than a decoded error reply, the socket must be closed. */
int dfs_sock_call(int fd, uint16_t type, const ProtobufCMessage *payload, const void *bulk,
                  uint32_t bulk_len, dfs_msg *reply, char *err, size_t errsz);
/* dfs_sock_call whose reply bulk, if it is at most bulk_cap bytes, is read straight into
 * bulk_dst (reply->bulk then points there, and the copy out of a message buffer is
 * saved); a larger one goes to reply->buf as usual. */
int dfs_sock_call_into(int fd, uint16_t type, const ProtobufCMessage *payload, const void *bulk,
                       uint32_t bulk_len, dfs_msg *reply, uint8_t *bulk_dst, uint32_t bulk_cap,
                       char *err, size_t errsz);
/* Lower level: send one frame / receive one frame. */
int dfs_sock_send(int fd, uint16_t type, uint16_t flags, uint64_t req_id,
                  const ProtobufCMessage *payload, const void *bulk, uint32_t bulk_len);
int dfs_sock_recv(int fd, const dfs_frame_limits *lim, dfs_msg *out);

#endif
