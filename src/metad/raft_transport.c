/* raft_transport: authenticated (and with TLS encrypted) TCP transport for libraft
 * (see raft_transport.h for the handshake's wire format and what this file owns).
 *
 * A connection (rt_conn) lives on the transport's list from accept/connect until it is
 * handed to libraft or fails. Its stream is the TCP socket, or with TLS its end of a
 * tunnel's socketpair (the tunnel has the TCP socket). Failing closes its stream (and
 * tunnel); the rt_conn is freed once
 * the handle's close callback ran and no getaddrinfo request is in flight (write and
 * connect callbacks always run before the close callback). Reads are sized to the exact
 * bytes of the handshake message expected next, so nothing past PROOF is ever read:
 * libraft's first RPC bytes stay in the socket (or socketpair) for libraft. One repeating timer enforces
 * the handshake deadline of every pending connection. */
#include "metad/raft_transport.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/cap.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"

#define SWEEP_MS 200
#define LOG_WINDOW_MS 10000
#define LOG_MAX_PER_WINDOW 20 /* refusal lines per window; a flood of strangers is summed */

static const uint8_t magic[6] = {'D', 'F', 'S', 'R', 'F', 'T'};
#define RT_VERSION 1

/* ---- pure handshake functions ---- */

int rt_key(const char *secret, uint8_t key[RT_KEY_LEN]) {
  return dfs_secret_key("dfs raft transport v1:", secret ? secret : "", key);
}


size_t rt_hello_encode(const rt_hello *h, uint8_t *out) {
  size_t alen = strlen(h->address);
  if (alen == 0 || alen > RT_ADDR_MAX) return 0;
  memcpy(out, magic, sizeof magic);
  out[6] = RT_VERSION;
  out[7] = h->flags;
  memcpy(out + 8, h->nonce, RT_NONCE_LEN);
  dfs_put_be64(out + 8 + RT_NONCE_LEN, h->id);
  out[RT_HELLO_HEAD - 1] = (uint8_t)alen;
  memcpy(out + RT_HELLO_HEAD, h->address, alen);
  return RT_HELLO_HEAD + alen;
}

int rt_hello_prefix(const uint8_t *p, size_t n, const char **why) {
  const char *w = NULL;
  if (n < RT_HELLO_PREFIX) w = "short handshake message";
  else if (memcmp(p, magic, sizeof magic)) {
    /* raft_uv_tcp starts with protocol version 1 as a little-endian uint64 */
    static const uint8_t plain[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    w = memcmp(p, plain, 8) ? "not a dfs raft handshake (bad magic)"
                            : "plain libraft handshake (no raft authentication)";
  } else if (p[6] != RT_VERSION) w = "unsupported raft handshake version";
  else if (p[7] & ~RT_FLAG_SECRET) w = "unknown raft handshake flags";
  if (w && why) *why = w;
  return w ? -1 : 0;
}

int rt_hello_head(const uint8_t *p, size_t n, size_t *addr_len, const char **why) {
  if (rt_hello_prefix(p, n, why)) return -1;
  if (n < RT_HELLO_HEAD) {
    if (why) *why = "short handshake message";
    return -1;
  }
  if (p[RT_HELLO_HEAD - 1] == 0) {
    if (why) *why = "empty raft address in the handshake";
    return -1;
  }
  *addr_len = p[RT_HELLO_HEAD - 1];
  return 0;
}

int rt_hello_decode(const uint8_t *p, size_t n, rt_hello *h, const char **why) {
  size_t alen;
  if (rt_hello_head(p, n, &alen, why)) return -1;
  if (n != RT_HELLO_HEAD + alen) {
    if (why) *why = "handshake length does not match its address length";
    return -1;
  }
  for (size_t i = 0; i < alen; i++)
    if (p[RT_HELLO_HEAD + i] < 0x21 || p[RT_HELLO_HEAD + i] > 0x7e) {
      if (why) *why = "raft address in the handshake has non-printable bytes";
      return -1;
    }
  h->flags = p[7];
  memcpy(h->nonce, p + 8, RT_NONCE_LEN);
  h->id = dfs_get_be64(p + 8 + RT_NONCE_LEN);
  if (h->id == 0) {
    if (why) *why = "raft id 0 in the handshake";
    return -1;
  }
  memcpy(h->address, p + RT_HELLO_HEAD, alen);
  h->address[alen] = 0;
  return 0;
}

void rt_proof(const uint8_t key[RT_KEY_LEN], enum rt_role role, const uint8_t *hello_c,
              size_t hello_c_len, const uint8_t *hello_s, size_t hello_s_len,
              uint8_t out[RT_MAC_LEN]) {
  /* both labels have the same length; the HELLOs carry their own lengths */
  static const char *const label[2] = {"dfs raft v1 client", "dfs raft v1 server"};
  uint8_t msg[18 + 2 * RT_HELLO_MAX];
  size_t ll = strlen(label[role]);
  if (hello_c_len > RT_HELLO_MAX) hello_c_len = RT_HELLO_MAX;
  if (hello_s_len > RT_HELLO_MAX) hello_s_len = RT_HELLO_MAX;
  memcpy(msg, label[role], ll);
  memcpy(msg + ll, hello_c, hello_c_len);
  memcpy(msg + ll + hello_c_len, hello_s, hello_s_len);
  dfs_hmac_sha256(key, RT_KEY_LEN, msg, ll + hello_c_len + hello_s_len, out);
}

int rt_proof_ok(const uint8_t key[RT_KEY_LEN], enum rt_role role, const uint8_t *hello_c,
                size_t hello_c_len, const uint8_t *hello_s, size_t hello_s_len,
                const uint8_t mac[RT_MAC_LEN]) {
  uint8_t want[RT_MAC_LEN];
  rt_proof(key, role, hello_c, hello_c_len, hello_s, hello_s_len, want);
  return dfs_mac_equal(want, mac, RT_MAC_LEN);
}

/* ---- the transport ---- */

typedef struct rt_conn rt_conn;
typedef struct rt_tun rt_tun;

typedef struct {
  struct raft_uv_transport *t;
  uv_loop_t *loop;
  uint8_t key[RT_KEY_LEN];
  int have_secret;
  uint64_t timeout_ms;
  unsigned max_pending, n_inbound;
  rt_peer_check peer_check;
  void *ud;
  uint64_t id;
  char address[RT_ADDR_MAX + 1];
  dfs_tls_ctx *tls_server, *tls_client; /* both or neither: TLS on every raft link */
  uv_tcp_t listener;
  uv_timer_t timer;
  int listening, timer_on;
  raft_uv_accept_cb accept_cb;
  rt_conn *conns; /* in their handshake */
  rt_tun *tuns;   /* TLS tunnels, from TCP accept/connect until both handles closed */
  int closing, close_fired;
  unsigned handles_open;
  raft_uv_transport_close_cb close_cb;
  uint64_t accepted, refused;
  size_t queued_hwm; /* the most bytes any tunnel had queued on one side */
  uint64_t log_window; /* start of the current log window (ms) */
  unsigned log_lines, log_suppressed;
} rt_impl;

enum step {
  ST_RESOLVE, ST_CONNECT, ST_HELLO_PREFIX, ST_HELLO_HEAD, ST_HELLO_ADDR, ST_PROOF, ST_DONE
};

struct rt_conn {
  rt_impl *rt;
  rt_conn *prev, *next;
  /* The handle the handshake runs on and libraft gets (raft_malloc'd: libraft
   * raft_free()s it after the hand-over): the TCP socket itself without TLS, the
   * conn's end of the tunnel's socketpair (uv_pipe_t) with TLS. */
  uv_stream_t *stream;
  uv_tcp_t *tcp; /* the TCP socket while this conn owns it (== stream); NULL once a
                    tunnel took it */
  rt_tun *tun;   /* with TLS: the tunnel carrying stream's bytes (owned by rt->tuns) */
  int inbound, failed, resolving, status;
  enum step step;
  uint64_t deadline;
  char who[80]; /* the remote socket address, for log lines */
  /* outbound */
  struct raft_uv_connect *req;
  raft_uv_connect_cb cb;
  uint64_t want_id;
  char want_addr[RT_ADDR_MAX + 1];
  uv_getaddrinfo_t gai;
  uv_connect_t connreq;
  /* handshake */
  rt_hello peer; /* valid from ST_PROOF on */
  uint8_t mine[RT_HELLO_MAX], theirs[RT_HELLO_MAX];
  size_t mine_len, theirs_len;
  uint8_t proof[RT_MAC_LEN];
  uint8_t in[RT_HELLO_MAX];
  size_t in_len, in_want;
  uv_write_t w[2]; /* HELLO and PROOF: at most one of each in flight */
  unsigned writes;
};

static rt_impl *impl_of(const struct raft_uv_transport *t) { return t->impl; }

/* Refusal lines are rate-limited: a flood must not fill the disk with log. */
static void rt_warn(rt_impl *rt, const char *fmt, ...) {
  uint64_t now = dfs_now_ms();
  if (now - rt->log_window >= LOG_WINDOW_MS) {
    if (rt->log_suppressed)
      LOG_WARN("raft: %u more refused raft connections were not logged", rt->log_suppressed);
    rt->log_window = now;
    rt->log_lines = rt->log_suppressed = 0;
  }
  if (rt->log_lines >= LOG_MAX_PER_WINDOW) {
    rt->log_suppressed++;
    return;
  }
  rt->log_lines++;
  char buf[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  LOG_WARN("%s", buf);
}

static void maybe_closed(rt_impl *rt) {
  if (!rt->closing || rt->close_fired || rt->handles_open || rt->conns || rt->tuns) return;
  rt->close_fired = 1;
  if (rt->close_cb) rt->close_cb(rt->t);
}

static void list_remove(rt_conn *c) {
  rt_impl *rt = c->rt;
  if (c->prev) c->prev->next = c->next;
  else if (rt->conns == c) rt->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  if (c->inbound) rt->n_inbound--;
}

static void list_add(rt_conn *c) {
  rt_impl *rt = c->rt;
  c->prev = NULL;
  c->next = rt->conns;
  if (rt->conns) rt->conns->prev = c;
  rt->conns = c;
  if (c->inbound) rt->n_inbound++;
}

static void conn_maybe_free(rt_conn *c) {
  if (c->stream || c->resolving) return;
  rt_impl *rt = c->rt;
  struct raft_uv_connect *req = c->req; /* NULL: inbound, or no callback owed */
  raft_uv_connect_cb cb = c->cb;
  int status = c->status;
  free(c);
  if (req) cb(req, NULL, status);
  maybe_closed(rt);
}

static void on_conn_closed(uv_handle_t *h) {
  rt_conn *c = h->data;
  raft_free(c->stream);
  c->stream = NULL;
  conn_maybe_free(c);
}

static void tun_close(rt_tun *t);

/* Ends a connection that has not been handed over: closes it (and its tunnel) and
 * (outbound) reports status to libraft once everything is released. */
static void conn_fail(rt_conn *c, int status) {
  if (c->failed) return;
  c->failed = 1;
  c->status = status;
  list_remove(c);
  if (c->resolving) uv_cancel((uv_req_t *)&c->gai);
  if (c->tun) {
    rt_tun *t = c->tun;
    c->tun = NULL;
    tun_close(t);
  }
  if (c->stream) uv_close((uv_handle_t *)c->stream, on_conn_closed);
  else conn_maybe_free(c);
}

/* One line saying who and why, then the connection is closed. */
static void conn_refuse(rt_conn *c, const char *why) {
  rt_impl *rt = c->rt;
  if (c->inbound) {
    rt->refused++;
    if (c->step >= ST_PROOF)
      rt_warn(rt, "raft: refused a connection from %s claiming raft id %llu at %s: %s", c->who,
              (unsigned long long)c->peer.id, c->peer.address, why);
    else
      rt_warn(rt, "raft: refused a connection from %s: %s", c->who, why);
  } else {
    rt_warn(rt, "raft: cannot authenticate with raft node %llu at %s: %s",
            (unsigned long long)c->want_id, c->want_addr, why);
  }
  conn_fail(c, RAFT_NOCONNECTION);
}

/* ---- TLS tunnels ----
 * With TLS, TCP carries TLS records and the conn (then libraft) reads and writes
 * plaintext on one end of an AF_UNIX socketpair; the tunnel owns the TCP socket, the
 * other end of the pair (inner) and the TLS engine, and pumps on the loop thread:
 *   TCP -> dfs_tls_feed/dfs_tls_read -> inner       (decrypt: "down")
 *   inner -> dfs_tls_write/dfs_tls_take_output -> TCP (encrypt: "up")
 * Each direction stops reading its source while more than TUN_HIGH bytes it produced
 * wait in uv_write requests on its sink and resumes below TUN_LOW, so a slow peer or a
 * slow libraft costs at most about TUN_HIGH + one read per direction. inner is read
 * only once the TLS handshake is done: the conn's first HELLO waits in the socketpair
 * and never meets dfs_tls_write's pre-handshake queue.
 * Closing: EOF or an error on either side closes both of the tunnel's handles; libraft
 * (or the conn) then reads EOF on its end and uv_close()s it. Closing the conn's end
 * makes inner read EOF. Write callbacks run before close callbacks, so the tunnel is
 * freed in the last close callback and nothing touches it afterwards. */

#define TUN_READ 65536
#define TUN_HIGH (256 * 1024)
#define TUN_LOW (64 * 1024)

struct rt_tun {
  rt_impl *rt;
  rt_tun *prev, *next;
  rt_conn *conn; /* in its handshake: told of a failure (refused with a reason); NULL
                    after the hand-over */
  uv_tcp_t *tcp; /* raft_malloc'd (it came from the conn) */
  uv_pipe_t inner;
  dfs_tls *tls;
  int is_server, ready, closing, got_bytes;
  int tcp_reading, inner_reading;
  unsigned open_handles;
  size_t to_tcp, to_inner; /* bytes in uv_write requests not yet completed */
  char who[80];
  uint8_t tcp_buf[TUN_READ], inner_buf[TUN_READ];
};

typedef struct {
  uv_write_t req;
  rt_tun *t;
  uint8_t *buf; /* malloc'd */
  size_t len;
  int to_tcp;
} tun_wreq;

static void tun_list_remove(rt_tun *t) {
  rt_impl *rt = t->rt;
  if (t->prev) t->prev->next = t->next;
  else if (rt->tuns == t) rt->tuns = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

static void on_tun_handle_closed(uv_handle_t *h) {
  rt_tun *t = h->data;
  if (--t->open_handles) return;
  rt_impl *rt = t->rt;
  tun_list_remove(t);
  dfs_tls_free(t->tls);
  raft_free(t->tcp);
  free(t);
  maybe_closed(rt);
}

static void tun_close(rt_tun *t) {
  if (t->closing) return;
  t->closing = 1;
  if (t->conn) { /* the conn sees EOF on its end now, and must not close t again */
    t->conn->tun = NULL;
    t->conn = NULL;
  }
  t->open_handles = 2;
  uv_close((uv_handle_t *)t->tcp, on_tun_handle_closed);
  uv_close((uv_handle_t *)&t->inner, on_tun_handle_closed);
}

/* The tunnel cannot go on. In a handshake the conn is refused with the reason (one
 * log line, the tunnel closed with it) unless it is an EOF after the TLS handshake
 * (the conn then reads EOF and names its step); after the hand-over, a TLS error is logged (rate-limited)
 * while an EOF is routine (libraft reconnects) and only a debug line. */
static void tun_fail(rt_tun *t, const char *why, int routine) {
  if (t->closing) return;
  if (t->conn && routine && t->ready) {
    /* the peer closed after TLS: the conn reads EOF in its handshake and says what
     * that means at its step (e.g. our proof was refused) */
    tun_close(t);
    return;
  }
  if (t->conn) {
    char w[400];
    snprintf(w, sizeof w, "TLS: %s", why);
    conn_refuse(t->conn, w); /* closes the tunnel */
    return;
  }
  if (routine) LOG_DEBUG("raft: TLS link with %s ended: %s", t->who, why);
  else rt_warn(t->rt, "raft: TLS link with %s dropped: %s", t->who, why);
  tun_close(t);
}

static void tun_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rt_tun *t = h->data;
  (void)suggested;
  uint8_t *b = h == (uv_handle_t *)t->tcp ? t->tcp_buf : t->inner_buf;
  *buf = uv_buf_init((char *)b, TUN_READ);
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_inner_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Starts or stops each side's reads after its sink's queue changed (backpressure). */
static void tun_pump(rt_tun *t) {
  if (t->closing) return;
  int want_tcp = t->to_inner < (t->tcp_reading ? TUN_HIGH : TUN_LOW);
  int want_inner = t->ready && t->to_tcp < (t->inner_reading ? TUN_HIGH : TUN_LOW);
  if (want_tcp != t->tcp_reading) {
    int rv = want_tcp ? uv_read_start((uv_stream_t *)t->tcp, tun_alloc, on_tcp_read)
                      : uv_read_stop((uv_stream_t *)t->tcp);
    if (rv) {
      tun_fail(t, uv_strerror(rv), 0);
      return;
    }
    t->tcp_reading = want_tcp;
  }
  if (want_inner != t->inner_reading) {
    int rv = want_inner ? uv_read_start((uv_stream_t *)&t->inner, tun_alloc, on_inner_read)
                        : uv_read_stop((uv_stream_t *)&t->inner);
    if (rv) {
      tun_fail(t, uv_strerror(rv), 0);
      return;
    }
    t->inner_reading = want_inner;
  }
}

static void on_tun_write(uv_write_t *w, int status) {
  tun_wreq *r = w->data;
  rt_tun *t = r->t;
  if (r->to_tcp) t->to_tcp -= r->len;
  else t->to_inner -= r->len;
  int to_tcp = r->to_tcp;
  free(r->buf);
  free(r);
  if (t->closing) return; /* cancelled by the close; the close callback frees t */
  if (status < 0) {
    tun_fail(t, uv_strerror(status), to_tcp ? status == UV_EPIPE || status == UV_ECONNRESET
                                             : 1);
    return;
  }
  tun_pump(t);
}

/* Queues buf (malloc'd, taken in every case) on the TCP socket or on inner. */
static int tun_send(rt_tun *t, int to_tcp, uint8_t *buf, size_t len) {
  tun_wreq *r = malloc(sizeof *r);
  if (!r) {
    free(buf);
    tun_fail(t, "out of memory", 0);
    return -1;
  }
  r->t = t;
  r->buf = buf;
  r->len = len;
  r->to_tcp = to_tcp;
  r->req.data = r;
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
  uv_stream_t *s = to_tcp ? (uv_stream_t *)t->tcp : (uv_stream_t *)&t->inner;
  int rv = uv_write(&r->req, s, &b, 1, on_tun_write);
  if (rv) {
    free(buf);
    free(r);
    tun_fail(t, uv_strerror(rv), 0);
    return -1;
  }
  if (to_tcp) t->to_tcp += len;
  else t->to_inner += len;
  size_t q = to_tcp ? t->to_tcp : t->to_inner;
  if (q > t->rt->queued_hwm) t->rt->queued_hwm = q;
  return 0;
}

/* Sends the TLS records the engine produced (handshake, alerts, application data). */
static int tun_flush(rt_tun *t) {
  size_t len;
  uint8_t *out;
  while (!t->closing && (out = dfs_tls_take_output(t->tls, &len)))
    if (tun_send(t, 1, out, len)) return -1;
  return t->closing ? -1 : 0;
}

/* Why the TLS engine gave up, for the log: the certificate verdict if there is one. */
static const char *tls_failure(rt_tun *t) {
  const char *v = dfs_tls_verify_error(t->tls);
  static char w[320];
  if (v) {
    snprintf(w, sizeof w, "%s certificate refused: %s", t->is_server ? "client" : "server", v);
    dfs_tls_last_error(); /* clears the queue */
    return w;
  }
  return dfs_tls_last_error();
}

/* A TLS server's first bytes that are no TLS handshake record: say what they look
 * like (a dfs raft HELLO means the peer runs without TLS). */
static const char *not_tls(const uint8_t *p, size_t n) {
  const char *why = NULL;
  if (rt_hello_prefix(p, n, &why) == 0)
    return "plaintext dfs raft handshake on a TLS raft port (raft TLS off on that node?)";
  static char w[200];
  snprintf(w, sizeof w, "not a TLS connection (%s)", why ? why : "first byte is no handshake");
  return w;
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  rt_tun *t = s->data;
  (void)buf;
  if (t->closing || nread == 0) return;
  if (nread < 0) {
    if (t->conn && !t->ready)
      tun_fail(t, nread == UV_EOF ? "the peer closed the connection during the TLS handshake"
                                  : uv_strerror((int)nread), 0);
    else
      tun_fail(t, nread == UV_EOF ? "closed by the peer" : uv_strerror((int)nread), 1);
    return;
  }
  if (t->is_server && !t->got_bytes && t->tcp_buf[0] != 0x16) { /* 0x16: handshake record */
    tun_fail(t, not_tls(t->tcp_buf, (size_t)nread), 0);
    return;
  }
  t->got_bytes = 1;
  if (dfs_tls_feed(t->tls, t->tcp_buf, (size_t)nread)) {
    tun_fail(t, "out of memory", 0);
    return;
  }
  for (;;) {
    uint8_t *p = malloc(TUN_READ);
    if (!p) {
      tun_fail(t, "out of memory", 0);
      return;
    }
    int n = dfs_tls_read(t->tls, p, TUN_READ);
    if (n <= 0) {
      free(p);
      if (n == 0) break;
      if (n == DFS_ECLOSED) {
        tun_flush(t);
        tun_fail(t, "the peer closed the TLS session", 1);
      } else {
        const char *why = tls_failure(t);
        tun_flush(t); /* the alert telling the peer why */
        tun_fail(t, why, 0);
      }
      return;
    }
    if (tun_send(t, 0, p, (size_t)n)) return;
  }
  if (!t->ready && dfs_tls_ready(t->tls)) t->ready = 1; /* tun_pump starts reading inner */
  if (tun_flush(t)) return;
  tun_pump(t);
}

static void on_inner_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  rt_tun *t = s->data;
  (void)buf;
  if (t->closing || nread == 0) return;
  if (nread < 0) { /* libraft or the conn closed its end */
    tun_fail(t, nread == UV_EOF ? "closed by this node" : uv_strerror((int)nread), 1);
    return;
  }
  if (dfs_tls_write(t->tls, t->inner_buf, (size_t)nread)) {
    tun_fail(t, dfs_tls_last_error(), 0);
    return;
  }
  if (tun_flush(t)) return;
  tun_pump(t);
}

/* Puts c's TCP socket (connected) into a new tunnel and c->stream on the plaintext end
 * of its socketpair. The TCP handle passes to the tunnel even on failure (c->tun is
 * set whenever a tunnel exists, c->stream to the pipe if one was made); 0, or -1 and
 * the caller fails c. host: the server name to verify (outbound), NULL inbound. */
static int tun_start(rt_conn *c, const char *host) {
  rt_impl *rt = c->rt;
  rt_tun *t = calloc(1, sizeof *t);
  uv_pipe_t *outer = raft_malloc(sizeof *outer);
  dfs_tls *tls = dfs_tls_new(c->inbound ? rt->tls_server : rt->tls_client, c->inbound, host);
  int sv[2] = {-1, -1};
  if (!t || !outer || !tls || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
    if (!t || !outer || !tls) LOG_WARN("raft: out of memory for a TLS link with %s", c->who);
    else LOG_WARN("raft: socketpair for a TLS link with %s: %s", c->who, strerror(errno));
    free(t);
    raft_free(outer);
    dfs_tls_free(tls);
    return -1;
  }
  t->rt = rt;
  t->conn = c;
  t->tls = tls;
  t->is_server = c->inbound;
  snprintf(t->who, sizeof t->who, "%.79s", c->inbound ? c->who : c->want_addr);
  t->tcp = c->tcp;
  t->tcp->data = t;
  uv_pipe_init(rt->loop, &t->inner, 0);
  t->inner.data = t;
  uv_pipe_init(rt->loop, outer, 0);
  outer->data = c;
  c->tcp = NULL;
  c->stream = (uv_stream_t *)outer;
  c->tun = t;
  t->next = rt->tuns;
  if (rt->tuns) rt->tuns->prev = t;
  rt->tuns = t;
  int rv = uv_pipe_open(&t->inner, sv[1]);
  if (rv) close(sv[1]);
  int rv2 = uv_pipe_open(outer, sv[0]);
  if (rv2) close(sv[0]);
  if (rv || rv2) {
    LOG_WARN("raft: TLS link with %s: %s", c->who, uv_strerror(rv ? rv : rv2));
    return -1;
  }
  tun_pump(t); /* reads TCP */
  return t->closing || tun_flush(t) ? -1 : 0; /* outbound: the ClientHello */
}

static void handover(rt_conn *c) {
  rt_impl *rt = c->rt;
  uv_stream_t *stream = c->stream;
  list_remove(c);
  c->stream = NULL;
  stream->data = NULL;
  if (c->tun) c->tun->conn = NULL; /* libraft's from now on: failures close its end */
  if (c->inbound) {
    rt->accepted++;
    LOG_DEBUG("raft: authenticated raft node %llu at %s (from %s%s)",
              (unsigned long long)c->peer.id, c->peer.address, c->who, c->tun ? ", TLS" : "");
    rt->accept_cb(rt->t, c->peer.id, c->peer.address, stream);
    free(c);
  } else {
    struct raft_uv_connect *req = c->req;
    raft_uv_connect_cb cb = c->cb;
    free(c);
    cb(req, stream, 0);
  }
}

static void on_write(uv_write_t *w, int status) {
  rt_conn *c = w->data;
  c->writes--;
  if (c->failed) return; /* the close callback frees c */
  if (status < 0) {
    LOG_DEBUG("raft: handshake write to %s: %s", c->who, uv_strerror(status));
    conn_fail(c, RAFT_NOCONNECTION);
    return;
  }
  if (c->step == ST_DONE && c->writes == 0) handover(c);
}

static int send_msg(rt_conn *c, int idx, uint8_t *p, size_t len) {
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
  c->w[idx].data = c;
  int rv = uv_write(&c->w[idx], c->stream, &b, 1, on_write);
  if (rv == 0) c->writes++;
  return rv;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rt_conn *c = h->data;
  (void)suggested;
  /* exactly the rest of the message expected: never read past the handshake */
  *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_want - c->in_len));
}

static int new_hello(rt_conn *c) {
  rt_impl *rt = c->rt;
  rt_hello h = {0};
  h.flags = rt->have_secret ? RT_FLAG_SECRET : 0;
  if (dfs_random_bytes(h.nonce, sizeof h.nonce)) return -1;
  h.id = rt->id;
  snprintf(h.address, sizeof h.address, "%s", rt->address);
  c->mine_len = rt_hello_encode(&h, c->mine);
  return c->mine_len ? 0 : -1;
}

/* Why a proof did not check out, as far as the flags tell (they are not authenticated:
 * only a hint for the operator). */
static const char *proof_failure(rt_conn *c) {
  int theirs = c->peer.flags & RT_FLAG_SECRET;
  if (c->rt->have_secret && !theirs) return "the peer has no cluster.secret";
  if (!c->rt->have_secret && theirs)
    return "the peer has a cluster.secret and this node has none";
  return "wrong cluster secret (the handshake proof does not match)";
}

static void expect(rt_conn *c, enum step s, size_t n) {
  c->step = s;
  c->in_len = 0;
  c->in_want = n;
}

/* The message expected at c->step is complete in c->in. Returns 1 if c was handed to
 * libraft (and freed), else 0. */
static int got_message(rt_conn *c) {
  rt_impl *rt = c->rt;
  const char *why = NULL;
  size_t alen;
  switch (c->step) {
  case ST_HELLO_PREFIX: /* checked first: a stranger's bytes are refused at once */
    if (rt_hello_prefix(c->in, c->in_len, &why)) {
      conn_refuse(c, why);
      return 0;
    }
    c->step = ST_HELLO_HEAD;
    c->in_want = RT_HELLO_HEAD;
    return 0;
  case ST_HELLO_HEAD:
    if (rt_hello_head(c->in, c->in_len, &alen, &why)) {
      conn_refuse(c, why);
      return 0;
    }
    c->step = ST_HELLO_ADDR;
    c->in_want = RT_HELLO_HEAD + alen;
    return 0;
  case ST_HELLO_ADDR:
    if (rt_hello_decode(c->in, c->in_len, &c->peer, &why)) {
      c->step = ST_HELLO_HEAD; /* logs without a claimed id */
      conn_refuse(c, why);
      return 0;
    }
    memcpy(c->theirs, c->in, c->in_len);
    c->theirs_len = c->in_len;
    expect(c, ST_PROOF, RT_MAC_LEN);
    if (c->inbound) {
      if (c->peer.id == rt->id) why = "it claims this node's own raft id";
      else if (rt->peer_check) why = rt->peer_check(rt->ud, c->peer.id, c->peer.address);
      if (!why && rt->have_secret && !(c->peer.flags & RT_FLAG_SECRET))
        why = "the peer has no cluster.secret";
      if (!why && c->tun) {
        /* mutual TLS: the client certificate must name the host of the claimed address
         * (what binds TLS identities to raft ids when there is no cluster secret) */
        char host[256];
        int port;
        if (dfs_parse_hostport(c->peer.address, host, sizeof host, &port) ||
            !dfs_tls_peer_names(c->tun->tls, host))
          why = "its TLS certificate does not name the host of its raft address";
      }
      if (why) {
        conn_refuse(c, why);
        return 0;
      }
      if (new_hello(c) || send_msg(c, 0, c->mine, c->mine_len)) {
        conn_fail(c, RAFT_NOCONNECTION);
        return 0;
      }
    } else {
      if (c->peer.id != c->want_id || strcmp(c->peer.address, c->want_addr)) {
        char w[400];
        snprintf(w, sizeof w, "the node there says it is raft id %llu at %s",
                 (unsigned long long)c->peer.id, c->peer.address);
        conn_refuse(c, w);
        return 0;
      }
      rt_proof(rt->key, RT_CLIENT, c->mine, c->mine_len, c->theirs, c->theirs_len, c->proof);
      if (send_msg(c, 1, c->proof, RT_MAC_LEN)) {
        conn_fail(c, RAFT_NOCONNECTION);
        return 0;
      }
    }
    return 0;
  case ST_PROOF:
    if (c->inbound) {
      if (!rt_proof_ok(rt->key, RT_CLIENT, c->theirs, c->theirs_len, c->mine, c->mine_len,
                       c->in)) {
        conn_refuse(c, proof_failure(c));
        return 0;
      }
      uv_read_stop(c->stream);
      rt_proof(rt->key, RT_SERVER, c->theirs, c->theirs_len, c->mine, c->mine_len, c->proof);
      c->step = ST_DONE;
      if (send_msg(c, 1, c->proof, RT_MAC_LEN)) conn_fail(c, RAFT_NOCONNECTION);
      /* on_write hands over once both HELLO and PROOF are written */
    } else {
      if (!rt_proof_ok(rt->key, RT_SERVER, c->mine, c->mine_len, c->theirs, c->theirs_len,
                       c->in)) {
        conn_refuse(c, proof_failure(c));
        return 0;
      }
      uv_read_stop(c->stream);
      c->step = ST_DONE;
      if (c->writes == 0) {
        handover(c);
        return 1;
      }
    }
    return 0;
  default:
    return 0;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  rt_conn *c = s->data;
  (void)buf;
  if (c->failed || nread == 0) return;
  if (nread < 0) {
    const char *why = nread == UV_EOF ? "closed the connection during the handshake"
                                      : "connection error during the handshake";
    if (!c->inbound) {
      /* a node that refuses our proof just closes: say what that usually means */
      why = nread == UV_EOF && c->step == ST_PROOF
                ? "it closed the connection after our proof (different cluster.secret?)"
                : why;
    }
    conn_refuse(c, why);
    return;
  }
  c->in_len += (size_t)nread;
  while (!c->failed && c->in_len == c->in_want && c->step != ST_DONE)
    if (got_message(c)) return; /* c is libraft's now (and freed) */
}

static void set_who(rt_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char ip[64] = "?";
  int port = 0;
  if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET) {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
  }
  snprintf(c->who, sizeof c->who, "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *server, int status) {
  rt_impl *rt = server->data;
  if (status < 0) {
    LOG_WARN("raft: accept on %s: %s", rt->address, uv_strerror(status));
    return;
  }
  uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
  if (!tcp) return;
  uv_tcp_init(rt->loop, tcp);
  if (uv_accept(server, (uv_stream_t *)tcp)) {
    uv_close((uv_handle_t *)tcp, (uv_close_cb)raft_free);
    return;
  }
  rt_conn *c = calloc(1, sizeof *c);
  if (!c) {
    uv_close((uv_handle_t *)tcp, (uv_close_cb)raft_free);
    return;
  }
  c->rt = rt;
  c->tcp = tcp;
  c->stream = (uv_stream_t *)tcp;
  tcp->data = c;
  c->inbound = 1;
  set_who(c);
  c->deadline = dfs_now_ms() + rt->timeout_ms;
  expect(c, ST_HELLO_PREFIX, RT_HELLO_PREFIX);
  if (rt->n_inbound >= rt->max_pending) {
    /* bounded: strangers cannot pile up sockets and buffers */
    list_add(c);
    char w[120];
    snprintf(w, sizeof w, "%u raft connections are already in their handshake",
             rt->max_pending);
    conn_refuse(c, w);
    return;
  }
  list_add(c);
  uv_tcp_nodelay(tcp, 1); /* raft's small messages: no Nagle delay */
  if ((rt->tls_server && tun_start(c, NULL)) || uv_read_start(c->stream, on_alloc, on_read))
    conn_fail(c, RAFT_NOCONNECTION);
}

static void on_sweep(uv_timer_t *t) {
  rt_impl *rt = t->data;
  uint64_t now = dfs_now_ms();
  for (rt_conn *c = rt->conns, *next; c; c = next) {
    next = c->next;
    if (now < c->deadline) continue;
    if (c->step <= ST_CONNECT) { /* a peer that is down or unreachable: libraft retries */
      LOG_DEBUG("raft: connecting to %s timed out", c->want_addr);
      conn_fail(c, RAFT_NOCONNECTION);
      continue;
    }
    char w[120];
    snprintf(w, sizeof w, "no complete handshake within %llu ms",
             (unsigned long long)rt->timeout_ms);
    conn_refuse(c, w);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  rt_impl *rt = h->data;
  rt->handles_open--;
  maybe_closed(rt);
}

/* ---- raft_uv_transport methods ---- */

static int m_init(struct raft_uv_transport *t, raft_id id, const char *address) {
  rt_impl *rt = impl_of(t);
  if (strlen(address) > RT_ADDR_MAX) {
    snprintf(t->errmsg, sizeof t->errmsg, "raft address %.150s is too long", address);
    return RAFT_INVALID;
  }
  rt->id = id;
  snprintf(rt->address, sizeof rt->address, "%s", address);
  return 0;
}

static int m_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
  rt_impl *rt = impl_of(t);
  char host[256], port[16];
  int p;
  if (dfs_parse_hostport(rt->address, host, sizeof host, &p)) {
    snprintf(t->errmsg, sizeof t->errmsg, "raft address %.150s is not HOST:PORT", rt->address);
    return RAFT_INVALID;
  }
  snprintf(port, sizeof port, "%d", p);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_INET; /* as raft_uv_tcp */
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (getaddrinfo(host, port, &hints, &res) || !res) { /* once, at start-up */
    snprintf(t->errmsg, sizeof t->errmsg, "cannot resolve raft address %.150s", rt->address);
    return RAFT_IOERR;
  }
  uv_tcp_init(rt->loop, &rt->listener);
  rt->listener.data = rt;
  rt->listening = 1;
  int rv = uv_tcp_bind(&rt->listener, res->ai_addr, 0);
  freeaddrinfo(res);
  if (!rv) rv = uv_listen((uv_stream_t *)&rt->listener, 128, on_connection);
  if (rv) {
    snprintf(t->errmsg, sizeof t->errmsg, "listen on %.150s: %.80s", rt->address, uv_strerror(rv));
    return RAFT_IOERR; /* the listener is closed by m_close */
  }
  rt->accept_cb = cb;
  uv_timer_init(rt->loop, &rt->timer);
  rt->timer.data = rt;
  rt->timer_on = 1;
  uv_timer_start(&rt->timer, on_sweep, SWEEP_MS, SWEEP_MS);
  return 0;
}

static void on_connected(uv_connect_t *req, int status) {
  rt_conn *c = req->data;
  if (c->failed) return;
  if (status < 0) {
    LOG_DEBUG("raft: connect to %s: %s", c->want_addr, uv_strerror(status));
    conn_fail(c, RAFT_NOCONNECTION);
    return;
  }
  set_who(c);
  uv_tcp_nodelay(c->tcp, 1);
  expect(c, ST_HELLO_PREFIX, RT_HELLO_PREFIX);
  if (c->rt->tls_client) {
    /* the server's certificate must name the host libraft dials */
    char host[256];
    int port;
    if (dfs_parse_hostport(c->want_addr, host, sizeof host, &port) || tun_start(c, host)) {
      conn_fail(c, RAFT_NOCONNECTION);
      return;
    }
  }
  /* with TLS the HELLO waits in the socketpair until the TLS handshake is done */
  if (new_hello(c) || send_msg(c, 0, c->mine, c->mine_len) ||
      uv_read_start(c->stream, on_alloc, on_read))
    conn_fail(c, RAFT_NOCONNECTION);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  rt_conn *c = req->data;
  c->resolving = 0;
  if (c->failed) {
    uv_freeaddrinfo(res);
    conn_maybe_free(c);
    return;
  }
  if (status < 0 || !res) {
    LOG_DEBUG("raft: cannot resolve %s: %s", c->want_addr, uv_strerror(status));
    uv_freeaddrinfo(res);
    conn_fail(c, RAFT_NOCONNECTION);
    return;
  }
  c->step = ST_CONNECT;
  c->connreq.data = c;
  int rv = uv_tcp_connect(&c->connreq, c->tcp, res->ai_addr, on_connected);
  uv_freeaddrinfo(res);
  if (rv) {
    LOG_DEBUG("raft: connect to %s: %s", c->want_addr, uv_strerror(rv));
    conn_fail(c, RAFT_NOCONNECTION);
  }
}

static int m_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                     const char *address, raft_uv_connect_cb cb) {
  rt_impl *rt = impl_of(t);
  char host[256], port[16];
  int p;
  if (rt->closing) return RAFT_CANCELED;
  if (strlen(address) > RT_ADDR_MAX || dfs_parse_hostport(address, host, sizeof host, &p)) {
    snprintf(t->errmsg, sizeof t->errmsg, "raft address %.150s is not HOST:PORT", address);
    return RAFT_NOCONNECTION;
  }
  snprintf(port, sizeof port, "%d", p);
  rt_conn *c = calloc(1, sizeof *c);
  uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
  if (!c || !tcp) {
    free(c);
    raft_free(tcp);
    return RAFT_NOMEM;
  }
  c->rt = rt;
  c->req = req;
  c->cb = cb;
  req->cb = cb;
  c->want_id = id;
  snprintf(c->want_addr, sizeof c->want_addr, "%s", address);
  snprintf(c->who, sizeof c->who, "%s", address);
  uv_tcp_init(rt->loop, tcp);
  c->tcp = tcp;
  c->stream = (uv_stream_t *)tcp;
  tcp->data = c;
  c->step = ST_RESOLVE;
  c->deadline = dfs_now_ms() + rt->timeout_ms;
  c->gai.data = c;
  static const struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  int rv = uv_getaddrinfo(rt->loop, &c->gai, on_resolved, host, port, &hints);
  if (rv) {
    snprintf(t->errmsg, sizeof t->errmsg, "resolve %.150s: %.80s", address, uv_strerror(rv));
    c->req = NULL; /* failed synchronously: libraft gets the error, not a callback */
    c->failed = 1;
    uv_close((uv_handle_t *)tcp, on_conn_closed);
    return RAFT_NOCONNECTION;
  }
  c->resolving = 1;
  list_add(c);
  return 0;
}

static void m_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
  rt_impl *rt = impl_of(t);
  rt->closing = 1;
  rt->close_cb = cb;
  if (rt->listening) {
    rt->handles_open++;
    uv_close((uv_handle_t *)&rt->listener, on_handle_closed);
  }
  if (rt->timer_on) {
    rt->handles_open++;
    uv_close((uv_handle_t *)&rt->timer, on_handle_closed);
  }
  while (rt->conns) conn_fail(rt->conns, RAFT_CANCELED);
  /* libraft closed its ends already (uvClose closes sends and receives first) */
  for (rt_tun *tt = rt->tuns; tt; tt = tt->next) tun_close(tt);
  maybe_closed(rt);
}

int rt_init(struct raft_uv_transport *t, uv_loop_t *loop, const rt_options *o) {
  rt_impl *rt = calloc(1, sizeof *rt);
  if (!rt) return RAFT_NOMEM;
  if (rt_key(o->secret, rt->key)) {
    free(rt);
    return RAFT_NOMEM;
  }
  rt->t = t;
  rt->loop = loop;
  rt->have_secret = o->secret && *o->secret;
  rt->timeout_ms = o->handshake_timeout_ms ? o->handshake_timeout_ms : 3000;
  rt->max_pending = o->max_pending ? o->max_pending : 16;
  rt->peer_check = o->peer_check;
  rt->ud = o->ud;
  if (!o->tls_server != !o->tls_client) {
    free(rt);
    return RAFT_INVALID;
  }
  rt->tls_server = o->tls_server;
  rt->tls_client = o->tls_client;
  t->version = 1;
  t->impl = rt;
  t->errmsg[0] = 0;
  t->init = m_init;
  t->listen = m_listen;
  t->connect = m_connect;
  t->close = m_close;
  return 0;
}

void rt_free(struct raft_uv_transport *t) {
  free(t->impl);
  t->impl = NULL;
}

void rt_stats(const struct raft_uv_transport *t, uint64_t *accepted, uint64_t *refused) {
  const rt_impl *rt = impl_of(t);
  if (accepted) *accepted = rt->accepted;
  if (refused) *refused = rt->refused;
}

void rt_tls_stats(const struct raft_uv_transport *t, unsigned *tunnels, size_t *queued_hwm) {
  const rt_impl *rt = impl_of(t);
  unsigned n = 0;
  for (const rt_tun *tt = rt->tuns; tt; tt = tt->next) n++;
  if (tunnels) *tunnels = n;
  if (queued_hwm) *queued_hwm = rt->queued_hwm;
}
