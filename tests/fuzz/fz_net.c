/* Loopback client and record format for the in-process daemon fuzz targets (fz_net.h). */
#include "fz_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "common/frame.h"

#define FZ_DEADLINE_MS 10000

static void die(const char *what) {
  fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
  abort();
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

size_t fz_records(const uint8_t *data, size_t size, fz_record out[FZ_MAX_RECORDS]) {
  size_t n = 0, pos = 0;
  while (pos < size && n < FZ_MAX_RECORDS) {
    fz_record *r = &out[n++];
    memset(r, 0, sizeof *r);
    r->sel = data[pos++];
    size_t pl = 0, bl = 0;
    if (size - pos >= 2) { pl = (size_t)data[pos] << 8 | data[pos + 1]; pos += 2; }
    if (size - pos >= 2) { bl = (size_t)data[pos] << 8 | data[pos + 1]; pos += 2; }
    if (pl > size - pos) pl = size - pos;
    r->payload = data + pos;
    r->payload_len = (uint16_t)pl;
    pos += pl;
    if (bl > size - pos) bl = size - pos;
    r->bulk = data + pos;
    r->bulk_len = (uint16_t)bl;
    pos += bl;
  }
  return n;
}

int fz_record_put(uint8_t *buf, size_t cap, size_t *len, uint8_t sel, const void *payload,
                  uint16_t payload_len, const void *bulk, uint16_t bulk_len) {
  if (cap - *len < 5u + payload_len + bulk_len) return -1;
  uint8_t *p = buf + *len;
  p[0] = sel;
  p[1] = (uint8_t)(payload_len >> 8);
  p[2] = (uint8_t)payload_len;
  p[3] = (uint8_t)(bulk_len >> 8);
  p[4] = (uint8_t)bulk_len;
  if (payload_len) memcpy(p + 5, payload, payload_len);
  if (bulk_len) memcpy(p + 5 + payload_len, bulk, bulk_len);
  *len += 5u + payload_len + bulk_len;
  return 0;
}

/* Waits for the client socket or the loop's backend, then runs what is ready. */
static void pump_once(uv_loop_t *loop, int fd, int want_write) {
  uv_run(loop, UV_RUN_NOWAIT);
  struct pollfd p[2] = {{.fd = uv_backend_fd(loop), .events = POLLIN},
                        {.fd = fd, .events = (short)(want_write ? POLLOUT : POLLIN)}};
  int t = uv_backend_timeout(loop);
  if (t < 0 || t > 50) t = 50;
  poll(p, fd >= 0 ? 2 : 1, t);
  uv_run(loop, UV_RUN_NOWAIT);
}

void fz_connect(fz_client *cl, uv_loop_t *loop, int port) {
  memset(cl, 0, sizeof *cl);
  cl->loop = loop;
  cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (cl->fd < 0) die("socket");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(cl->fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS) die("connect");
}

void fz_write(fz_client *cl, const void *buf, size_t n) {
  const uint8_t *p = buf;
  uint64_t deadline = mono_ms() + FZ_DEADLINE_MS;
  while (n > 0 && !cl->eof) {
    ssize_t w = send(cl->fd, p, n, MSG_NOSIGNAL);
    if (w > 0) { p += w; n -= (size_t)w; continue; }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) {
      cl->eof = 1; /* the server closed on us (e.g. a frame over its limits) */
      return;
    }
    if (mono_ms() > deadline) { errno = ETIMEDOUT; die("server stopped reading"); }
    pump_once(cl->loop, cl->fd, 1);
  }
}

/* Reads what is there; returns 1 once a whole frame is in cl->reply. */
static int read_some(fz_client *cl) {
  for (;;) {
    size_t need = DFS_FRAME_HDR_LEN;
    if (cl->got >= DFS_FRAME_HDR_LEN) {
      const uint8_t *h = cl->reply;
      uint32_t pl = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
      uint32_t bl = (uint32_t)h[20] << 24 | (uint32_t)h[21] << 16 | (uint32_t)h[22] << 8 | h[23];
      need += (size_t)pl + bl;
    }
    if (cl->got >= need && cl->got >= DFS_FRAME_HDR_LEN) {
      cl->reply_len = need;
      return 1;
    }
    if (need > cl->reply_cap) {
      uint8_t *nb = realloc(cl->reply, need);
      if (!nb) die("realloc");
      cl->reply = nb;
      cl->reply_cap = need;
    }
    ssize_t r = recv(cl->fd, cl->reply + cl->got, need - cl->got, 0);
    if (r > 0) { cl->got += (size_t)r; continue; }
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)) cl->eof = 1;
    return 0;
  }
}

int fz_read_reply(fz_client *cl) {
  /* drop the previous reply */
  if (cl->reply_len) {
    memmove(cl->reply, cl->reply + cl->reply_len, cl->got - cl->reply_len);
    cl->got -= cl->reply_len;
    cl->reply_len = 0;
  }
  uint64_t deadline = mono_ms() + FZ_DEADLINE_MS;
  while (!cl->eof) {
    if (read_some(cl)) return 1;
    if (cl->eof) break;
    if (mono_ms() > deadline) { errno = ETIMEDOUT; die("no reply to a request within 10 s"); }
    pump_once(cl->loop, cl->fd, 0);
  }
  return 0;
}

void fz_finish(fz_client *cl) {
  shutdown(cl->fd, SHUT_WR);
  uint64_t deadline = mono_ms() + FZ_DEADLINE_MS;
  while (!cl->eof) {
    cl->reply_len = 0;
    cl->got = 0;
    read_some(cl);
    if (cl->eof) break;
    if (mono_ms() > deadline) { errno = ETIMEDOUT; die("server did not close after EOF"); }
    pump_once(cl->loop, cl->fd, 0);
  }
  close(cl->fd);
  free(cl->reply);
  /* let the server side finish closing (frees its dfs_conn) */
  for (int i = 0; i < 4; i++) uv_run(cl->loop, UV_RUN_NOWAIT);
  memset(cl, 0, sizeof *cl);
  cl->fd = -1;
}

void fz_pump_until(uv_loop_t *loop, int (*idle)(void *ud), void *ud) {
  uint64_t deadline = mono_ms() + FZ_DEADLINE_MS;
  while (!idle(ud)) {
    if (mono_ms() > deadline) { errno = ETIMEDOUT; die("work did not finish within 10 s"); }
    pump_once(loop, -1, 0);
  }
}

static char temp_path[256];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(p);
}
static void rm_tempdir(void) { nftw(temp_path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

char *fz_tempdir(const char *tag) {
  if (temp_path[0]) { errno = EEXIST; die("one temporary directory per process"); }
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(temp_path, sizeof temp_path, "%s/dfs-fuzz-%s-XXXXXX", base, tag);
  if (!mkdtemp(temp_path)) die("mkdtemp");
  atexit(rm_tempdir);
  return temp_path;
}

static int bound_port(int do_close) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || getsockname(fd, (struct sockaddr *)&sa, &sl))
    die("bind");
  if (do_close) close(fd); /* else kept bound (and not listening) for the process's life */
  return ntohs(sa.sin_port);
}

int fz_refusing_port(void) { return bound_port(0); }
int fz_free_port(void) { return bound_port(1); }

void fz_trace(size_t i, uint16_t type, const fz_client *cl) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("DFS_FUZZ_VERBOSE") != NULL;
  if (!verbose) return;
  if (!cl->reply_len) {
    fprintf(stderr, "  #%zu type %u: connection closed\n", i + 1, type);
    return;
  }
  const uint8_t *h = cl->reply;
  uint32_t pl = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
  Dfs__ErrorReply *r = dfs__error_reply__unpack(NULL, pl, h + DFS_FRAME_HDR_LEN);
  fprintf(stderr, "  #%zu type %u -> reply type %u: error %d %s\n", i + 1, type,
          (unsigned)(h[4] << 8 | h[5]), r && r->status ? r->status->error : 0,
          r && r->status ? r->status->message : "");
  if (r) dfs__error_reply__free_unpacked(r, NULL);
}
