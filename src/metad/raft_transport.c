/* raft_transport: authenticated TCP transport for libraft (see raft_transport.h for
 * the handshake's wire format and what this file owns).
 *
 * A connection (rt_conn) lives on the transport's list from accept/connect until it is
 * handed to libraft or fails. Failing closes its TCP handle; the rt_conn is freed once
 * the handle's close callback ran and no getaddrinfo request is in flight (write and
 * connect callbacks always run before the close callback). Reads are sized to the exact
 * bytes of the handshake message expected next, so nothing past PROOF is ever read:
 * libraft's first RPC bytes stay in the socket for libraft. One repeating timer enforces
 * the handshake deadline of every pending connection. */
#include "metad/raft_transport.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cap.h"
#include "common/errors.h"
#include "common/log.h"
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

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

size_t rt_hello_encode(const rt_hello *h, uint8_t *out) {
  size_t alen = strlen(h->address);
  if (alen == 0 || alen > RT_ADDR_MAX) return 0;
  memcpy(out, magic, sizeof magic);
  out[6] = RT_VERSION;
  out[7] = h->flags;
  memcpy(out + 8, h->nonce, RT_NONCE_LEN);
  put64(out + 8 + RT_NONCE_LEN, h->id);
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
  h->id = get64(p + 8 + RT_NONCE_LEN);
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
  uv_tcp_t listener;
  uv_timer_t timer;
  int listening, timer_on;
  raft_uv_accept_cb accept_cb;
  rt_conn *conns; /* in their handshake */
  int closing, close_fired;
  unsigned handles_open;
  raft_uv_transport_close_cb close_cb;
  uint64_t accepted, refused;
  uint64_t log_window; /* start of the current log window (ms) */
  unsigned log_lines, log_suppressed;
} rt_impl;

enum step {
  ST_RESOLVE, ST_CONNECT, ST_HELLO_PREFIX, ST_HELLO_HEAD, ST_HELLO_ADDR, ST_PROOF, ST_DONE
};

struct rt_conn {
  rt_impl *rt;
  rt_conn *prev, *next;
  uv_tcp_t *tcp; /* raft_malloc'd: libraft raft_free()s it after the hand-over */
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
  if (!rt->closing || rt->close_fired || rt->handles_open || rt->conns) return;
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
  if (c->tcp || c->resolving) return;
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
  raft_free(c->tcp);
  c->tcp = NULL;
  conn_maybe_free(c);
}

/* Ends a connection that has not been handed over: closes it and (outbound) reports
 * status to libraft once everything is released. */
static void conn_fail(rt_conn *c, int status) {
  if (c->failed) return;
  c->failed = 1;
  c->status = status;
  list_remove(c);
  if (c->resolving) uv_cancel((uv_req_t *)&c->gai);
  if (c->tcp) uv_close((uv_handle_t *)c->tcp, on_conn_closed);
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

static void handover(rt_conn *c) {
  rt_impl *rt = c->rt;
  uv_tcp_t *tcp = c->tcp;
  list_remove(c);
  c->tcp = NULL;
  tcp->data = NULL;
  if (c->inbound) {
    rt->accepted++;
    LOG_DEBUG("raft: authenticated raft node %llu at %s (from %s)",
              (unsigned long long)c->peer.id, c->peer.address, c->who);
    rt->accept_cb(rt->t, c->peer.id, c->peer.address, (uv_stream_t *)tcp);
    free(c);
  } else {
    struct raft_uv_connect *req = c->req;
    raft_uv_connect_cb cb = c->cb;
    free(c);
    cb(req, (uv_stream_t *)tcp, 0);
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
  int rv = uv_write(&c->w[idx], (uv_stream_t *)c->tcp, &b, 1, on_write);
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
      uv_read_stop((uv_stream_t *)c->tcp);
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
      uv_read_stop((uv_stream_t *)c->tcp);
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
  if (uv_read_start((uv_stream_t *)tcp, on_alloc, on_read)) conn_fail(c, RAFT_NOCONNECTION);
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
  if (new_hello(c) || send_msg(c, 0, c->mine, c->mine_len) ||
      uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read))
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
