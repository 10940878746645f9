/* Blocking framed client sockets (see sock.h). */
#include "common/sock.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <fcntl.h>

#include "common.pb-c.h"
#include "common/errors.h"
#include "common/fileio.h"

static dfs_tls_ctx *sock_tls;

void dfs_sock_set_tls(dfs_tls_ctx *ctx) { sock_tls = ctx; }

void dfs_sock_close(int fd) {
  if (fd < 0) return;
  dfs_tls_fd_release(fd);
  close(fd);
}

int dfs_sock_connect(const char *host, int port, int timeout_ms) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) return DFS_ECONN;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { freeaddrinfo(res); return DFS_ECONN; }
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc < 0 && errno == EINPROGRESS) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    rc = poll(&p, 1, timeout_ms);
    if (rc == 0) { close(fd); return DFS_ETIMEDOUT; }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    rc = soerr ? -1 : 0;
  }
  if (rc < 0) { close(fd); return DFS_ECONN; }
  fcntl(fd, F_SETFL, fl);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (sock_tls) {
    char err[256];
    if (dfs_tls_fd_connect(sock_tls, fd, host, err, sizeof err)) {
      close(fd);
      return DFS_EPROTO;
    }
  }
  return fd;
}

static int io_err(void) {
  return (errno == EAGAIN || errno == EWOULDBLOCK) ? DFS_ETIMEDOUT : DFS_ECLOSED;
}

static int writev_all(int fd, struct iovec *iov, int n) {
  if (dfs_tls_fd_active(fd)) {
    for (int i = 0; i < n; i++) {
      const uint8_t *p = iov[i].iov_base;
      size_t len = iov[i].iov_len;
      while (len) {
        long w = dfs_tls_fd_write(fd, p, len);
        if (w <= 0) return io_err();
        p += w;
        len -= (size_t)w;
      }
    }
    return 0;
  }
  return dfs_writev_all(fd, iov, n) ? io_err() : 0; /* io_err reads errno */
}

static int read_all(int fd, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len) {
    ssize_t r = dfs_tls_fd_active(fd) ? dfs_tls_fd_read(fd, p, len) : read(fd, p, len);
    if (r < 0) {
      if (errno == EINTR) continue;
      return io_err();
    }
    if (r == 0) return DFS_ECLOSED;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

int dfs_sock_send(int fd, uint16_t type, uint16_t flags, uint64_t req_id,
                  const ProtobufCMessage *payload, const void *bulk, uint32_t bulk_len) {
  size_t hlen;
  uint8_t *head = dfs_msg_pack(type, flags, req_id, payload, bulk_len, &hlen);
  if (!head) return DFS_ENOMEM;
  struct iovec iov[2] = {{head, hlen}, {(void *)bulk, bulk_len}};
  int rc = writev_all(fd, iov, bulk_len ? 2 : 1);
  free(head);
  return rc;
}

/* dfs_sock_recv, with the bulk read straight into bulk_dst when it fits in bulk_cap
 * bytes (then out->bulk = bulk_dst and out->buf holds only the payload). */
static int recv_into(int fd, const dfs_frame_limits *lim, dfs_msg *out, uint8_t *bulk_dst,
                     uint32_t bulk_cap) {
  static const dfs_frame_limits def = {DFS_MAX_PAYLOAD, DFS_MAX_BULK};
  uint8_t h[DFS_FRAME_HDR_LEN];
  memset(out, 0, sizeof *out);
  int rc = read_all(fd, h, sizeof h);
  if (rc) return rc;
  rc = dfs_frame_decode_hdr(h, lim ? lim : &def, &out->hdr);
  if (rc) return rc;
  int direct = bulk_dst && out->hdr.bulk_len && out->hdr.bulk_len <= bulk_cap;
  size_t n = (size_t)out->hdr.payload_len + (direct ? 0 : out->hdr.bulk_len);
  out->buf = malloc(n ? n : 1);
  if (!out->buf) return DFS_ENOMEM;
  rc = read_all(fd, out->buf, n);
  if (!rc && direct) rc = read_all(fd, bulk_dst, out->hdr.bulk_len);
  if (rc) { dfs_msg_free(out); return rc; }
  out->payload = out->buf;
  out->bulk = !out->hdr.bulk_len ? NULL : direct ? bulk_dst : out->buf + out->hdr.payload_len;
  return 0;
}

int dfs_sock_recv(int fd, const dfs_frame_limits *lim, dfs_msg *out) {
  return recv_into(fd, lim, out, NULL, 0);
}

int dfs_sock_call(int fd, uint16_t type, const ProtobufCMessage *payload, const void *bulk,
                  uint32_t bulk_len, dfs_msg *reply, char *err, size_t errsz) {
  return dfs_sock_call_into(fd, type, payload, bulk, bulk_len, reply, NULL, 0, err, errsz);
}

int dfs_sock_call_into(int fd, uint16_t type, const ProtobufCMessage *payload, const void *bulk,
                       uint32_t bulk_len, dfs_msg *reply, uint8_t *bulk_dst, uint32_t bulk_cap,
                       char *err, size_t errsz) {
  static __thread uint64_t next_id;
  uint64_t id = ++next_id;
  int rc = dfs_sock_send(fd, type, 0, id, payload, bulk, bulk_len);
  if (rc) return rc;
  rc = recv_into(fd, NULL, reply, bulk_dst, bulk_cap);
  if (rc) return rc;
  /* an error frame with request id 0 is the server refusing the connection itself (over
   * a connection cap, src/common/conn.h): report its message like any error reply */
  int refusal = reply->hdr.type == DFS__MSG_TYPE__MSG_ERROR && reply->hdr.req_id == 0;
  if (!(reply->hdr.flags & DFS_FRAME_REPLY) || (reply->hdr.req_id != id && !refusal)) {
    dfs_msg_free(reply);
    return DFS_EPROTO;
  }
  if (reply->hdr.type == DFS__MSG_TYPE__MSG_ERROR) {
    Dfs__ErrorReply *e = dfs__error_reply__unpack(NULL, reply->hdr.payload_len, reply->payload);
    rc = DFS_EPROTO;
    if (e && e->status) {
      rc = e->status->error < 0 ? e->status->error : DFS_EPROTO;
      if (err) snprintf(err, errsz, "%s", e->status->message);
    }
    dfs__error_reply__free_unpacked(e, NULL);
    dfs_msg_free(reply);
    return rc;
  }
  if (reply->hdr.type != type + 1) {
    dfs_msg_free(reply);
    return DFS_EPROTO;
  }
  return 0;
}
