/* libuv framed connections (see conn.h).
 *
 * Reading: small frames are parsed out of a 64 KiB staging buffer; once a header says a
 * large body follows, libuv reads straight into the body buffer, so chunk data is not
 * copied on the way in. Writing: header+payload in one buffer, bulk as a second uv_buf.
 *
 * States: CONNECTING -> OPEN -> CLOSING -> CLOSED (close_cb ran; memory freed at refs 0).
 * Invariants: (1) body != NULL iff a header has been parsed and its body is incomplete
 * (with opts.on_payload, a request's body first holds only its payload: bulk_deferred);
 * (2) every pending call is in `calls` until its callback has run, exactly once;
 * (3) an accepted connection is in its server's list (counted for the connection caps
 * and swept for timeouts) from accept until dfs_conn_close, or until the server closes. */
#include "common/conn.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "common/errors.h"
#include "common/fault.h"
#include "common/log.h"

#define STAGING 65536
#define DIRECT_READ_MIN 16384

enum conn_state { CONN_CONNECTING, CONN_OPEN, CONN_CLOSING, CONN_CLOSED };

struct call {
  struct call *next;
  dfs_conn *conn;
  uint64_t req_id;
  dfs_reply_cb cb;
  void *ud;
  uv_timer_t timer;
  int has_timer;
};

struct dfs_conn {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  enum conn_state state;
  int refs;
  dfs_conn_opts opts;
  void *data;
  char peer[64];
  dfs_connect_cb connect_cb;
  void *connect_ud;
  /* resolving the peer's name: libuv cannot queue writes on a socket it has not started
   * to connect, so sends wait here (each holding a reference) until it has */
  int resolving;
  struct write_req *pending, **pending_tail;
  /* read side */
  uint8_t staging[STAGING];
  size_t staged;
  dfs_frame_hdr hdr;
  uint8_t *body;
  size_t body_len, body_got;
  int bulk_deferred; /* body is the payload only; the bulk follows if on_payload accepts */
  uint32_t skip;     /* bulk bytes of a frame on_payload refused, still to discard */
  /* TLS (NULL = plaintext): ciphertext is read into cipher, plaintext lands in staging
   * or body exactly as on a plaintext link. */
  dfs_tls *tls;
  uint8_t *cipher;
  /* authentication: limits in force now; timer closing an unauthenticated peer */
  dfs_frame_limits limits;
  int authenticated;
  uv_timer_t *auth_timer;
  int set_authenticated; /* dfs_conn_set_authenticated was called (idle-exempt) */
  /* calls */
  struct call *calls;
  uint64_t next_req_id;
  /* accepted connections: resource limits (conn.h) */
  struct dfs_server *server; /* NULL for outgoing ones and once the server closed */
  dfs_conn *snext, *sprev;
  uint32_t peer_ip;
  uint64_t last_frame_ms;  /* last complete frame received or sent (idle timeout) */
  uint64_t frame_start_ms; /* a frame is incomplete since (0 = none) */
  int got_frame;           /* until the first frame, frame_start_ms is the accept time */
  uint32_t inflight;       /* requests delivered, not yet replied to */
};

struct dfs_server {
  uv_tcp_t tcp;
  dfs_conn_opts opts;
  int port;
  dfs_conn *conns; /* accepted, not closing */
  unsigned nconns;
  uv_timer_t sweep; /* timeouts; running iff a timeout is set */
  int handles;      /* open handles (tcp, sweep): freed when the last one closed */
  uint64_t refuse_log_ms;
  unsigned refused_quiet; /* refusals not logged since refuse_log_ms */
};

struct write_req {
  uv_write_t req;
  uint8_t *head;
  void *bulk;
  dfs_bulk_free_cb bulk_free;
  void *bulk_ud;
  dfs_conn *conn;
  size_t hlen;
  uint32_t bulk_len;
  struct write_req *next; /* queued while the peer's name resolves */
};

static void conn_fail_calls(dfs_conn *c, int status);

void dfs_bulk_free_malloced(void *bulk, void *ud) { free(bulk); }

void dfs_conn_ref(dfs_conn *c) { c->refs++; }

void dfs_conn_unref(dfs_conn *c) {
  if (--c->refs == 0) {
    free(c->body);
    dfs_tls_free(c->tls);
    free(c->cipher);
    free(c);
  }
}

int dfs_conn_is_open(const dfs_conn *c) {
  return c->state == CONN_OPEN || c->state == CONN_CONNECTING;
}
void *dfs_conn_data(const dfs_conn *c) { return c->data; }
void dfs_conn_set_data(dfs_conn *c, void *data) { c->data = data; }
const char *dfs_conn_peer(const dfs_conn *c) { return c->peer; }
uv_loop_t *dfs_conn_loop(const dfs_conn *c) { return c->tcp.loop; }
size_t dfs_conn_write_queue(const dfs_conn *c) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

static void stop_auth_timer(dfs_conn *c) {
  if (!c->auth_timer) return;
  uv_timer_stop(c->auth_timer);
  uv_close((uv_handle_t *)c->auth_timer, (uv_close_cb)free);
  c->auth_timer = NULL;
}

static void on_auth_timeout(uv_timer_t *t) {
  dfs_conn *c = t->data;
  LOG_WARN("%s: did not authenticate in time, closing", c->peer);
  stop_auth_timer(c);
  dfs_conn_close(c);
}

void dfs_conn_set_authenticated(dfs_conn *c) {
  c->authenticated = 1;
  c->set_authenticated = 1;
  c->limits = c->opts.limits;
  stop_auth_timer(c);
}

int dfs_conn_is_authenticated(const dfs_conn *c) { return c->authenticated; }

static void server_unlink(dfs_conn *c);

static void on_conn_closed(uv_handle_t *h) {
  dfs_conn *c = h->data;
  c->state = CONN_CLOSED;
  server_unlink(c); /* closed without dfs_conn_close (a uv_walk at exit) */
  if (c->opts.on_close) c->opts.on_close(c);
  conn_fail_calls(c, DFS_ECLOSED);
  dfs_conn_unref(c); /* the loop's reference */
}

/* Takes c out of its server's list (it no longer counts against the caps). */
static void server_unlink(dfs_conn *c) {
  dfs_server *s = c->server;
  if (!s) return;
  if (c->sprev) c->sprev->snext = c->snext; else s->conns = c->snext;
  if (c->snext) c->snext->sprev = c->sprev;
  c->snext = c->sprev = NULL;
  c->server = NULL;
  s->nconns--;
}

void dfs_conn_close(dfs_conn *c) {
  if (c->state == CONN_CLOSING || c->state == CONN_CLOSED) return;
  c->state = CONN_CLOSING;
  server_unlink(c);
  stop_auth_timer(c);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- calls ---------------------------------------------------------------------- */

static void call_free_cb(uv_handle_t *h) {
  struct call *k = h->data;
  dfs_conn_unref(k->conn);
  free(k);
}

/* Unlinks k and releases it (asynchronously if it has a timer). */
static void call_release(struct call *k) {
  dfs_conn *c = k->conn;
  for (struct call **pp = &c->calls; *pp; pp = &(*pp)->next)
    if (*pp == k) { *pp = k->next; break; }
  if (k->has_timer) {
    uv_timer_stop(&k->timer);
    uv_close((uv_handle_t *)&k->timer, call_free_cb);
  } else {
    dfs_conn_unref(c);
    free(k);
  }
}

static void conn_fail_calls(dfs_conn *c, int status) {
  while (c->calls) {
    struct call *k = c->calls;
    dfs_reply_cb cb = k->cb;
    void *ud = k->ud;
    dfs_conn_ref(c);
    call_release(k);
    cb(c, status, NULL, ud);
    dfs_conn_unref(c);
  }
}

static void on_call_timeout(uv_timer_t *t) {
  struct call *k = t->data;
  dfs_conn *c = k->conn;
  dfs_reply_cb cb = k->cb;
  void *ud = k->ud;
  dfs_conn_ref(c);
  call_release(k);
  cb(c, DFS_ETIMEDOUT, NULL, ud);
  dfs_conn_unref(c);
}

/* ---- reading -------------------------------------------------------------------- */

#ifdef DFS_FAULT_HOOKS
/* Fault hooks (common/fault.h): drop an incoming frame of the chosen type, or hold it
 * back for a while and then deliver it (if the connection is still open). */
static void deliver(dfs_conn *c, dfs_msg *m);
static int fault_bypass; /* set while a held frame is delivered */
struct fault_held {
  uv_timer_t timer;
  dfs_conn *conn; /* one reference */
  dfs_msg msg;
};
static void fault_held_free(uv_handle_t *h) {
  struct fault_held *f = h->data;
  dfs_conn_unref(f->conn);
  free(f);
}
static void fault_held_fire(uv_timer_t *t) {
  struct fault_held *f = t->data;
  if (dfs_conn_is_open(f->conn)) {
    fault_bypass = 1;
    deliver(f->conn, &f->msg);
    fault_bypass = 0;
  } else {
    dfs_msg_free(&f->msg);
  }
  uv_close((uv_handle_t *)&f->timer, fault_held_free);
}
/* 1 if the hook took the frame (dropped or held). */
static int fault_intercept(dfs_conn *c, dfs_msg *m) {
  if (fault_bypass) return 0;
  if (DFS_FAULT_DROP_MSG(m->hdr.type)) {
    LOG_DEBUG("%s: fault hook: dropping a frame of type %u", dfs_conn_peer(c), m->hdr.type);
    dfs_msg_free(m);
    return 1;
  }
  uint64_t ms = DFS_FAULT_DELAY_MS(m->hdr.type);
  if (!ms) return 0;
  struct fault_held *f = malloc(sizeof *f);
  if (!f) return 0;
  f->msg = *m;
  f->conn = c;
  dfs_conn_ref(c);
  uv_timer_init(dfs_conn_loop(c), &f->timer);
  f->timer.data = f;
  uv_timer_start(&f->timer, fault_held_fire, ms, 0);
  return 1;
}
#endif

static void deliver(dfs_conn *c, dfs_msg *m) {
#ifdef DFS_FAULT_HOOKS
  if (fault_intercept(c, m)) return;
#endif
  if (m->hdr.flags & DFS_FRAME_REPLY) {
    for (struct call *k = c->calls; k; k = k->next) {
      if (k->req_id != m->hdr.req_id) continue;
      dfs_reply_cb cb = k->cb;
      void *ud = k->ud;
      call_release(k);
      cb(c, 0, m, ud);
      return;
    }
    dfs_msg_free(m); /* late reply to a call that timed out */
    return;
  }
  if (!c->opts.on_request) {
    LOG_WARN("%s: unexpected request type %u, closing", c->peer, m->hdr.type);
    dfs_msg_free(m);
    dfs_conn_close(c);
    return;
  }
  if (c->server) {
    c->last_frame_ms = uv_now(c->tcp.loop);
    c->got_frame = 1;
    if (c->opts.max_write_queue && dfs_conn_write_queue(c) > c->opts.max_write_queue) {
      LOG_WARN("%s: more than %zu bytes of replies not read, closing", c->peer,
               c->opts.max_write_queue);
      dfs_msg_free(m);
      dfs_conn_close(c);
      return;
    }
    if (c->opts.max_inflight && c->inflight >= c->opts.max_inflight) {
      char why[128];
      snprintf(why, sizeof why, "too many requests in progress on this connection (limit %u); "
               "wait for the replies and retry", c->opts.max_inflight);
      c->inflight++; /* the reply below counts it down again */
      dfs_conn_reply_error(c, &m->hdr, DFS_EBUSY, why);
      dfs_msg_free(m);
      return;
    }
  }
  c->inflight++;
  c->opts.on_request(c, m);
}

/* The payload of a request with bulk is here: asks opts.on_payload whether to take the
 * bulk. Accepted: the body grows to payload + bulk and reading goes on. Refused (the
 * callee replied): the payload is dropped and the bulk will be skipped. */
static void check_payload(dfs_conn *c) {
  c->bulk_deferred = 0;
  c->inflight++; /* the refusal's reply counts it down */
  if (c->opts.on_payload(c, &c->hdr, c->body) == 0) {
    c->inflight--;
    size_t full = (size_t)c->hdr.payload_len + c->hdr.bulk_len;
    uint8_t *nb = realloc(c->body, full);
    if (!nb) {
      LOG_ERROR("%s: out of memory for a %zu-byte frame, closing", c->peer, full);
      dfs_conn_close(c);
      return;
    }
    c->body = nb;
    c->body_len = full;
    return;
  }
  free(c->body);
  c->body = NULL;
  c->body_len = c->body_got = 0;
  c->skip = c->hdr.bulk_len;
  if (c->server) {
    c->got_frame = 1;
    c->last_frame_ms = uv_now(c->tcp.loop);
  }
  if (c->opts.max_write_queue && dfs_conn_write_queue(c) > c->opts.max_write_queue) {
    LOG_WARN("%s: more than %zu bytes of replies not read, closing", c->peer,
             c->opts.max_write_queue);
    dfs_conn_close(c);
  }
}

/* Completes the current body and hands it on. */
static void finish_body(dfs_conn *c) {
  if (c->bulk_deferred) { /* only the payload so far */
    check_payload(c);
    return;
  }
  dfs_msg m = {.hdr = c->hdr, .buf = c->body};
  m.payload = c->body;
  m.bulk = c->hdr.bulk_len ? c->body + c->hdr.payload_len : NULL;
  c->body = NULL;
  c->body_len = c->body_got = 0;
  deliver(c, &m);
}

/* Parses as many frames as the staging buffer holds. Returns -1 if the conn closed. */
static int parse_staged(dfs_conn *c) {
  size_t off = 0;
  while (c->state == CONN_OPEN) {
    if (c->skip) { /* the bulk of a refused frame */
      size_t have = c->staged - off, n = c->skip < have ? c->skip : have;
      off += n;
      c->skip -= (uint32_t)n;
      if (c->skip) break;
      continue;
    }
    if (c->body) {
      size_t want = c->body_len - c->body_got, have = c->staged - off;
      size_t n = want < have ? want : have;
      memcpy(c->body + c->body_got, c->staging + off, n);
      c->body_got += n;
      off += n;
      if (c->body_got < c->body_len) break;
      dfs_conn_ref(c);
      finish_body(c);
      int closed = c->state != CONN_OPEN;
      dfs_conn_unref(c);
      if (closed) return -1;
      continue;
    }
    if (c->staged - off < DFS_FRAME_HDR_LEN) break;
    int rc = dfs_frame_decode_hdr(c->staging + off, &c->limits, &c->hdr);
    if (rc) {
      LOG_WARN("%s: bad frame (%s), closing connection", c->peer, dfs_strerror(rc));
      dfs_conn_close(c);
      return -1;
    }
    off += DFS_FRAME_HDR_LEN;
    c->body_len = (size_t)c->hdr.payload_len + c->hdr.bulk_len;
    c->body_got = 0;
    c->bulk_deferred = c->opts.on_payload && c->hdr.bulk_len && !(c->hdr.flags & DFS_FRAME_REPLY);
    if (c->bulk_deferred) c->body_len = c->hdr.payload_len;
    c->body = malloc(c->body_len ? c->body_len : 1);
    if (!c->body) {
      LOG_ERROR("%s: out of memory for a %zu-byte frame, closing", c->peer, c->body_len);
      dfs_conn_close(c);
      return -1;
    }
  }
  if (c->state != CONN_OPEN) return -1;
  memmove(c->staging, c->staging + off, c->staged - off);
  c->staged -= off;
  return 0;
}

static int tls_flush(dfs_conn *c);

/* Feeds ciphertext to the TLS engine and parses the plaintext it yields. */
static void tls_on_cipher(dfs_conn *c, size_t n) {
  if (dfs_tls_feed(c->tls, c->cipher, n)) { dfs_conn_close(c); return; }
  dfs_conn_ref(c);
  while (c->state == CONN_OPEN) {
    int r;
    if (c->body && c->staged == 0) {
      r = dfs_tls_read(c->tls, c->body + c->body_got, c->body_len - c->body_got);
      if (r > 0) {
        c->body_got += (size_t)r;
        if (c->body_got == c->body_len) finish_body(c);
        continue;
      }
    } else {
      r = dfs_tls_read(c->tls, c->staging + c->staged, STAGING - c->staged);
      if (r > 0) {
        c->staged += (size_t)r;
        parse_staged(c);
        continue;
      }
    }
    if (r < 0) {
      if (r != DFS_ECLOSED) LOG_WARN("%s: TLS error: %s", c->peer, dfs_tls_last_error());
      dfs_conn_close(c);
    }
    break;
  }
  if (c->state == CONN_OPEN && tls_flush(c)) dfs_conn_close(c);
  dfs_conn_unref(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  dfs_conn *c = h->data;
  if (c->tls) {
    *buf = uv_buf_init((char *)c->cipher, STAGING);
    return;
  }
  if (c->body && c->staged == 0 && c->body_len - c->body_got >= DIRECT_READ_MIN) {
    *buf = uv_buf_init((char *)c->body + c->body_got, (unsigned)(c->body_len - c->body_got));
  } else {
    *buf = uv_buf_init((char *)c->staging + c->staged, (unsigned)(STAGING - c->staged));
  }
}

/* Notes whether a frame is incomplete now (frame timeout of accepted connections). */
static void track_frame(dfs_conn *c) {
  if (!c->server || !c->opts.frame_timeout_ms) return;
  if (c->body || c->staged || c->skip || !c->got_frame) {
    if (!c->frame_start_ms) c->frame_start_ms = uv_now(c->tcp.loop);
  } else {
    c->frame_start_ms = 0;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  dfs_conn *c = s->data;
  if (nread < 0) {
    if (nread != UV_EOF) LOG_DEBUG("%s: read error: %s", c->peer, uv_strerror((int)nread));
    dfs_conn_close(c);
    return;
  }
  if (nread == 0 || c->state != CONN_OPEN) return;
  dfs_conn_ref(c);
  if (c->tls) {
    tls_on_cipher(c, (size_t)nread);
  } else if ((uint8_t *)buf->base == c->staging + c->staged) {
    c->staged += (size_t)nread;
    parse_staged(c);
  } else {
    c->body_got += (size_t)nread;
    if (c->body_got == c->body_len) finish_body(c);
  }
  track_frame(c);
  dfs_conn_unref(c);
}

/* ---- writing -------------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status) {
  struct write_req *wr = (struct write_req *)w;
  free(wr->head);
  if (wr->bulk_free) wr->bulk_free(wr->bulk, wr->bulk_ud);
  if (status < 0 && status != UV_ECANCELED) {
    LOG_DEBUG("%s: write error: %s", wr->conn->peer, uv_strerror(status));
    dfs_conn_close(wr->conn);
  }
  dfs_conn_unref(wr->conn);
  free(wr);
}

/* Starts writing wr (header, then its bulk); on success wr holds a reference to its
 * conn until on_write. A libuv error code when the write cannot start. */
static int write_out(struct write_req *wr) {
  uv_buf_t bufs[2] = {uv_buf_init((char *)wr->head, (unsigned)wr->hlen),
                      uv_buf_init((char *)wr->bulk, wr->bulk_len)};
  int rc = uv_write(&wr->req, (uv_stream_t *)&wr->conn->tcp, bufs, wr->bulk_len ? 2 : 1,
                    on_write);
  if (rc == 0) dfs_conn_ref(wr->conn);
  return rc;
}

/* Starts (connected = 1) or drops the sends queued while the name resolved. */
static void flush_pending(dfs_conn *c, int connected) {
  struct write_req *wr = c->pending;
  c->pending = NULL;
  c->pending_tail = &c->pending;
  while (wr) {
    struct write_req *next = wr->next;
    int rc = connected ? write_out(wr) : UV_ECANCELED;
    if (rc < 0) {
      dfs_conn_ref(c);
      on_write(&wr->req, rc); /* frees it, closes c on a real error, drops that ref */
    }
    dfs_conn_unref(c); /* the queue's reference */
    wr = next;
  }
}

/* Writes out whatever ciphertext the TLS engine has produced. 0 or an error. */
static int tls_flush(dfs_conn *c) {
  size_t n;
  uint8_t *out;
  while ((out = dfs_tls_take_output(c->tls, &n)) != NULL) {
    struct write_req *wr = calloc(1, sizeof *wr);
    if (!wr) { free(out); return DFS_ENOMEM; }
    wr->head = out;
    wr->conn = c;
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)n);
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
      free(out);
      free(wr);
      return DFS_ECLOSED;
    }
    dfs_conn_ref(c);
  }
  return 0;
}

/* TLS send: encrypts header+payload and bulk (copies; the bulk is released at once). */
static int tls_send(dfs_conn *c, uint16_t type, uint16_t flags, uint64_t req_id,
                    const ProtobufCMessage *payload, const void *bulk, uint32_t bulk_len,
                    dfs_bulk_free_cb bulk_free, void *bulk_ud) {
  size_t hlen;
  uint8_t *head = dfs_msg_pack(type, flags, req_id, payload, bulk_len, &hlen);
  int rc = head ? dfs_tls_write(c->tls, head, hlen) : DFS_ENOMEM;
  if (!rc && bulk_len) rc = dfs_tls_write(c->tls, bulk, bulk_len);
  free(head);
  if (bulk_free) bulk_free((void *)bulk, bulk_ud);
  if (!rc && c->state == CONN_OPEN) rc = tls_flush(c);
  if (rc) dfs_conn_close(c);
  return rc;
}

int dfs_conn_send(dfs_conn *c, uint16_t type, uint16_t flags, uint64_t req_id,
                  const ProtobufCMessage *payload, const void *bulk, uint32_t bulk_len,
                  dfs_bulk_free_cb bulk_free, void *bulk_ud) {
  if (c->server) c->last_frame_ms = uv_now(c->tcp.loop);
  if (c->tls && dfs_conn_is_open(c))
    return tls_send(c, type, flags, req_id, payload, bulk, bulk_len, bulk_free, bulk_ud);
  int rc = DFS_ECLOSED;
  struct write_req *wr = NULL;
  if (!dfs_conn_is_open(c)) goto err;
  rc = DFS_ENOMEM;
  wr = calloc(1, sizeof *wr);
  if (!wr) goto err;
  size_t hlen;
  wr->head = dfs_msg_pack(type, flags, req_id, payload, bulk_len, &hlen);
  if (!wr->head) goto err;
  wr->bulk = (void *)bulk;
  wr->bulk_free = bulk_free;
  wr->bulk_ud = bulk_ud;
  wr->conn = c;
  wr->hlen = hlen;
  wr->bulk_len = bulk_len;
  if (c->resolving) {
    if (!c->pending_tail) c->pending_tail = &c->pending;
    *c->pending_tail = wr;
    c->pending_tail = &wr->next;
    dfs_conn_ref(c);
    return 0;
  }
  if (write_out(wr) < 0) {
    rc = DFS_ECLOSED;
    goto err;
  }
  return 0;
err:
  if (wr) free(wr->head);
  free(wr);
  if (bulk_free) bulk_free((void *)bulk, bulk_ud);
  return rc;
}

int dfs_conn_reply(dfs_conn *c, const dfs_frame_hdr *req, const ProtobufCMessage *payload,
                   const void *bulk, uint32_t bulk_len, dfs_bulk_free_cb bulk_free,
                   void *bulk_ud) {
  if (c->inflight) c->inflight--;
  return dfs_conn_send(c, (uint16_t)(req->type + 1), DFS_FRAME_REPLY, req->req_id, payload,
                       bulk, bulk_len, bulk_free, bulk_ud);
}

int dfs_conn_reply_error(dfs_conn *c, const dfs_frame_hdr *req, int err, const char *why) {
  if (c->inflight) c->inflight--;
  Dfs__Status st = DFS__STATUS__INIT;
  st.error = err;
  st.message = (char *)(why ? why : dfs_strerror(err));
  Dfs__ErrorReply rep = DFS__ERROR_REPLY__INIT;
  rep.status = &st;
  return dfs_conn_send(c, DFS__MSG_TYPE__MSG_ERROR, DFS_FRAME_REPLY, req->req_id,
                       &rep.base, NULL, 0, NULL, NULL);
}

int dfs_conn_call(dfs_conn *c, uint16_t type, const ProtobufCMessage *payload,
                  const void *bulk, uint32_t bulk_len, dfs_bulk_free_cb bulk_free,
                  void *bulk_ud, uint64_t timeout_ms, dfs_reply_cb cb, void *ud) {
  if (!dfs_conn_is_open(c)) {
    if (bulk_free) bulk_free((void *)bulk, bulk_ud);
    return DFS_ECLOSED;
  }
  struct call *k = calloc(1, sizeof *k);
  if (!k) {
    if (bulk_free) bulk_free((void *)bulk, bulk_ud);
    return DFS_ENOMEM;
  }
  k->conn = c;
  k->req_id = ++c->next_req_id;
  k->cb = cb;
  k->ud = ud;
  int rc = dfs_conn_send(c, type, 0, k->req_id, payload, bulk, bulk_len, bulk_free, bulk_ud);
  if (rc) {
    free(k);
    return rc;
  }
  dfs_conn_ref(c);
  k->next = c->calls;
  c->calls = k;
  if (timeout_ms) {
    uv_timer_init(c->tcp.loop, &k->timer);
    k->timer.data = k;
    k->has_timer = 1;
    uv_timer_start(&k->timer, on_call_timeout, timeout_ms, 0);
  }
  return 0;
}

/* ---- setup ---------------------------------------------------------------------- */

static dfs_conn *conn_new(uv_loop_t *loop, const dfs_conn_opts *opts, int is_server,
                          const char *host) {
  dfs_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (opts->tls) {
    c->tls = dfs_tls_new(opts->tls, is_server, host);
    c->cipher = malloc(STAGING);
    if (!c->tls || !c->cipher) {
      dfs_tls_free(c->tls);
      free(c->cipher);
      free(c);
      return NULL;
    }
  }
  c->opts = *opts;
  c->data = opts->data;
  c->limits = opts->pre_auth.max_payload ? opts->pre_auth : opts->limits;
  c->authenticated = !opts->pre_auth.max_payload;
  c->refs = 1; /* the loop's, dropped in on_conn_closed */
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  return c;
}

static void set_peer_name(dfs_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char ip[48] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0 &&
      ss.ss_family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    uv_ip4_name(sin, ip, sizeof ip);
    port = ntohs(sin->sin_port);
    c->peer_ip = sin->sin_addr.s_addr;
  }
  snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

/* Refuses a connection over a cap: one MSG_ERROR frame (request id 0) if plaintext,
 * then close. Logged at most once a second (a flood must not flood the log too). */
static void refuse_conn(dfs_server *s, dfs_conn *c, const char *why) {
  if (!c->tls) {
    Dfs__Status st = DFS__STATUS__INIT;
    st.error = DFS_EBUSY;
    st.message = (char *)why;
    Dfs__ErrorReply rep = DFS__ERROR_REPLY__INIT;
    rep.status = &st;
    size_t hlen;
    uint8_t *head = dfs_msg_pack(DFS__MSG_TYPE__MSG_ERROR, DFS_FRAME_REPLY, 0, &rep.base, 0, &hlen);
    if (head) {
      uv_buf_t b = uv_buf_init((char *)head, (unsigned)hlen);
      (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* best effort: a fresh socket */
      free(head);
    }
  }
  uint64_t now = uv_now(s->tcp.loop);
  if (now - s->refuse_log_ms >= 1000 || !s->refuse_log_ms) {
    LOG_WARN("%s: connection refused: %s (%u more refused in the last second)", c->peer, why,
             s->refused_quiet);
    s->refuse_log_ms = now;
    s->refused_quiet = 0;
  } else {
    s->refused_quiet++;
  }
  dfs_conn_close(c);
}

/* NULL if c may join s, else why not (in buf). */
static const char *over_cap(dfs_server *s, dfs_conn *c, char *buf, size_t bufsz) {
  const dfs_conn_opts *o = &s->opts;
  if (o->max_conns && s->nconns >= o->max_conns) {
    snprintf(buf, bufsz, "too many connections to this server (limit %u); retry later",
             o->max_conns);
    return buf;
  }
  if (o->max_conns_per_addr) {
    unsigned same = 0;
    for (dfs_conn *x = s->conns; x; x = x->snext) same += x->peer_ip == c->peer_ip;
    if (same >= o->max_conns_per_addr) {
      char ip[48] = "?";
      struct in_addr a = {c->peer_ip};
      uv_inet_ntop(AF_INET, &a, ip, sizeof ip);
      snprintf(buf, bufsz, "too many connections from %s (limit %u); close some and retry",
               ip, o->max_conns_per_addr);
      return buf;
    }
  }
  return NULL;
}

static void on_connection(uv_stream_t *ls, int status) {
  dfs_server *s = ls->data;
  if (status < 0) {
    LOG_WARN("accept error: %s", uv_strerror(status));
    return;
  }
  dfs_conn *c = conn_new(ls->loop, &s->opts, 1, NULL);
  if (!c) return;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
    dfs_conn_close(c);
    return;
  }
  c->state = CONN_OPEN;
  uv_tcp_nodelay(&c->tcp, 1);
  set_peer_name(c);
  char why[160];
  const char *refusal = over_cap(s, c, why, sizeof why);
  if (refusal) {
    refuse_conn(s, c, refusal);
    return;
  }
  c->server = s;
  c->snext = s->conns;
  if (s->conns) s->conns->sprev = c;
  s->conns = c;
  s->nconns++;
  c->last_frame_ms = uv_now(ls->loop);
  track_frame(c); /* the first frame's clock starts now */
  if (!c->authenticated && s->opts.auth_timeout_ms && (c->auth_timer = malloc(sizeof(uv_timer_t)))) {
    uv_timer_init(ls->loop, c->auth_timer);
    c->auth_timer->data = c;
    uv_timer_start(c->auth_timer, on_auth_timeout, s->opts.auth_timeout_ms, 0);
  }
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static int resolve4(const char *host, int port, struct sockaddr_in *sa) {
  if (uv_ip4_addr(host, port, sa) == 0) return 0;
  /* A hostname: resolved synchronously (rare; config-time names such as "localhost"). */
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return DFS_ECONN;
  *sa = *(struct sockaddr_in *)res->ai_addr;
  sa->sin_port = htons((uint16_t)port);
  freeaddrinfo(res);
  return 0;
}

/* Closes accepted connections past their frame or idle timeout. */
static void on_sweep(uv_timer_t *t) {
  dfs_server *s = t->data;
  uint64_t now = uv_now(t->loop);
  const dfs_conn_opts *o = &s->opts;
  for (dfs_conn *c = s->conns, *next; c; c = next) {
    next = c->snext; /* closing unlinks c */
    if (o->frame_timeout_ms && c->frame_start_ms && now - c->frame_start_ms >= o->frame_timeout_ms) {
      LOG_INFO("%s: no complete %s within %llu ms, closing", c->peer,
               c->got_frame ? "frame" : "first frame", (unsigned long long)o->frame_timeout_ms);
      dfs_conn_close(c);
    } else if (o->idle_timeout_ms && !c->set_authenticated && !c->inflight &&
               now - c->last_frame_ms >= o->idle_timeout_ms) {
      LOG_INFO("%s: idle for %llu ms, closing", c->peer, (unsigned long long)o->idle_timeout_ms);
      dfs_conn_close(c);
    }
  }
}

static void server_handle_closed(uv_handle_t *h) {
  dfs_server *s = h->data;
  if (--s->handles == 0) free(s);
}

int dfs_server_listen(uv_loop_t *loop, const char *host, int port, const dfs_conn_opts *opts,
                      dfs_server **out) {
  struct sockaddr_in sa;
  if (resolve4(host, port, &sa)) return DFS_EINVAL;
  dfs_server *s = calloc(1, sizeof *s);
  if (!s) return DFS_ENOMEM;
  s->opts = *opts;
  uv_tcp_init(loop, &s->tcp);
  s->tcp.data = s;
  uv_timer_init(loop, &s->sweep);
  s->sweep.data = s;
  s->handles = 2;
  int rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&sa, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->tcp, 512, on_connection);
  if (rc < 0) {
    LOG_ERROR("cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
    uv_close((uv_handle_t *)&s->tcp, server_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, server_handle_closed);
    return rc == UV_EADDRINUSE ? DFS_EADDRINUSE : DFS_EIO;
  }
  uint64_t tick = 0;
  if (opts->frame_timeout_ms) tick = opts->frame_timeout_ms;
  if (opts->idle_timeout_ms && (!tick || opts->idle_timeout_ms < tick)) tick = opts->idle_timeout_ms;
  if (tick) {
    tick /= 4;
    if (tick < 20) tick = 20;
    if (tick > 1000) tick = 1000;
    uv_timer_start(&s->sweep, on_sweep, tick, tick);
    uv_unref((uv_handle_t *)&s->sweep); /* never keeps the loop alive by itself */
  }
  struct sockaddr_in bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&bound, &len);
  s->port = ntohs(bound.sin_port);
  *out = s;
  return 0;
}

int dfs_server_port(const dfs_server *s) { return s->port; }

unsigned dfs_server_conns(const dfs_server *s) { return s->nconns; }

void dfs_server_close(dfs_server *s) {
  while (s->conns) server_unlink(s->conns); /* they live on, unlimited, until closed */
  uv_close((uv_handle_t *)&s->tcp, server_handle_closed);
  uv_close((uv_handle_t *)&s->sweep, server_handle_closed);
}

static void on_connected(uv_connect_t *req, int status) {
  dfs_conn *c = req->data;
  dfs_connect_cb cb = c->connect_cb;
  if (c->state == CONN_CONNECTING) {
    if (status < 0) {
      LOG_DEBUG("connect to %s failed: %s", c->peer, uv_strerror(status));
      conn_fail_calls(c, DFS_ECONN); /* queued calls learn it was the connect */
      dfs_conn_close(c);
    } else {
      c->state = CONN_OPEN;
      uv_tcp_nodelay(&c->tcp, 1);
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
      if (c->tls && tls_flush(c)) dfs_conn_close(c); /* the ClientHello */
    }
  }
  if (cb) cb(c, status < 0 ? DFS_ECONN : 0, c->connect_ud);
  dfs_conn_unref(c); /* the connect request's reference */
}

/* The connect failed before libuv took it (a name that does not resolve, or
 * uv_tcp_connect refused): what on_connected does for a failed connect, then drops the
 * connect's reference. */
static void connect_failed(dfs_conn *c) {
  dfs_connect_cb cb = c->connect_cb;
  flush_pending(c, 0);
  if (c->state == CONN_CONNECTING) {
    conn_fail_calls(c, DFS_ECONN);
    dfs_conn_close(c);
  }
  if (cb) cb(c, DFS_ECONN, c->connect_ud);
  dfs_conn_unref(c);
}

static void start_connect(dfs_conn *c, const struct sockaddr_in *sa) {
  if (uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)sa, on_connected) < 0)
    connect_failed(c);
  else
    flush_pending(c, 1); /* libuv queues them until connected */
}

typedef struct {
  uv_getaddrinfo_t req;
  dfs_conn *c; /* holds the connect's reference */
  int port;
} resolve_req;

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  resolve_req *r = req->data;
  dfs_conn *c = r->c;
  c->resolving = 0;
  if (status == 0 && res && c->state == CONN_CONNECTING) {
    struct sockaddr_in sa = *(struct sockaddr_in *)res->ai_addr;
    sa.sin_port = htons((uint16_t)r->port);
    start_connect(c, &sa);
  } else {
    if (status < 0) LOG_DEBUG("cannot resolve %s: %s", c->peer, uv_strerror(status));
    connect_failed(c);
  }
  uv_freeaddrinfo(res);
  free(r);
}

dfs_conn *dfs_conn_connect(uv_loop_t *loop, const char *host, int port,
                           const dfs_conn_opts *opts, dfs_connect_cb cb, void *ud) {
  dfs_conn *c = conn_new(loop, opts, 0, host);
  if (!c) return NULL;
  snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
  c->connect_cb = cb;
  c->connect_ud = ud;
  c->connect_req.data = c;
  dfs_conn_ref(c); /* for on_connected (or on_resolved, or connect_failed) */
  struct sockaddr_in sa;
  if (uv_ip4_addr(host, port, &sa) == 0) {
    start_connect(c, &sa);
    return c;
  }
  /* a hostname: resolved on libuv's thread pool, so a slow DNS never stalls the loop */
  resolve_req *r = malloc(sizeof *r);
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  if (r) {
    r->c = c;
    r->port = port;
    r->req.data = r;
  }
  c->resolving = 1;
  if (!r || uv_getaddrinfo(loop, &r->req, on_resolved, host, NULL, &hints) < 0) {
    free(r);
    c->resolving = 0;
    connect_failed(c);
  }
  return c;
}
