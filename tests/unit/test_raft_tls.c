/* The raft transport with TLS (src/metad/raft_transport.c, its tunnels), end to end on
 * one libuv loop: two transports with certificates from scripts/tls-certs connect and
 * authenticate (TLS, then the HMAC handshake inside it); 24 MiB written on the client's
 * stream while the server's stream is not read for 300 ms arrive in order, and no
 * tunnel ever queues more than RT_TLS_QUEUE_BOUND (backpressure); closing the server's
 * stream gives the client's stream EOF (and the other way round), every tunnel is freed
 * and the loop ends with no handle left (ASan/LSan find what a callback touched after a
 * free). A client whose secret differs is refused inside TLS, and one trusting another
 * CA never gets a stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tls.h"
#include "metad/raft_transport.h"

#define TOTAL (24u << 20)
#define PIECE (1u << 20)

static char certs[256], other[256];

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static void make_certs(char *dir, size_t n, const char *tag) {
  snprintf(dir, n, "/tmp/dfs-rt-tls-%d-%s", (int)getpid(), tag);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "'%s/scripts/tls-certs' '%s' >/dev/null", DFS_SOURCE_DIR, dir);
  assert_int_equal(system(cmd), 0);
}

static dfs_tls_ctx *ctx(const char *dir, int server) {
  char ca[300], cert[300], key[300], err[300];
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(cert, sizeof cert, "%s/node.pem", dir);
  snprintf(key, sizeof key, "%s/node.key", dir);
  dfs_tls_config c = {.ca_file = ca, .cert_file = cert, .key_file = key,
                      .require_client_cert = 1, .verify_hostname = 1};
  dfs_tls_ctx *x = NULL;
  if (dfs_tls_ctx_new(&c, server, &x, err, sizeof err)) fail_msg("%s", err);
  return x;
}

/* One node: a transport, its TLS contexts, the streams it got. */
typedef struct {
  struct raft_uv_transport t;
  dfs_tls_ctx *srv, *cli;
  char addr[64];
  uv_stream_t *accepted; /* from accept_cb */
  int closed;
} node;

typedef struct {
  uv_loop_t loop;
  node a, b;                 /* a dials b */
  struct raft_uv_connect req;
  uv_stream_t *dialled;      /* a's stream to b */
  int connect_status, connect_done;
  size_t sent, received;
  int a_eof, b_eof;
  uint8_t *pattern;
  uv_timer_t timer;
  int phase;
} world;

static world *W;

static void on_accept(struct raft_uv_transport *t, raft_id id, const char *address,
                      uv_stream_t *s) {
  node *n = (node *)t; /* t is the first member */
  assert_int_equal(id, 1);
  assert_string_equal(address, W->a.addr);
  n->accepted = s;
}

static void on_connect(struct raft_uv_connect *req, uv_stream_t *s, int status) {
  (void)req;
  W->dialled = s;
  W->connect_status = status;
  W->connect_done = 1;
}

static void node_init(world *w, node *n, raft_id id, const char *secret, const char *dir) {
  (void)w;
  snprintf(n->addr, sizeof n->addr, "127.0.0.1:%d", free_port());
  n->srv = ctx(dir, 1);
  n->cli = ctx(dir, 0);
  rt_options o = {.secret = secret, .handshake_timeout_ms = 3000, .max_pending = 4,
                  .tls_server = n->srv, .tls_client = n->cli};
  assert_int_equal(rt_init(&n->t, &W->loop, &o), 0);
  assert_int_equal(n->t.init(&n->t, id, n->addr), 0);
  assert_int_equal(n->t.listen(&n->t, on_accept), 0);
}

static void on_node_closed(struct raft_uv_transport *t) { ((node *)t)->closed = 1; }

static void node_close(node *n) { n->t.close(&n->t, on_node_closed); }

static void node_free(node *n) {
  assert_true(n->closed);
  rt_free(&n->t);
  dfs_tls_ctx_free(n->srv);
  dfs_tls_ctx_free(n->cli);
}

/* Runs the loop until *flag or the deadline (ms). */
static void run_until(volatile int *flag, int ms) {
  uint64_t end = uv_now(&W->loop) + (uint64_t)ms;
  while (!*flag && uv_now(&W->loop) < end) uv_run(&W->loop, UV_RUN_ONCE);
}

static int both(void) { return W->connect_done && W->b.accepted; }

static void connect_ab(void) {
  W->connect_done = 0;
  W->b.accepted = NULL;
  W->dialled = NULL;
  assert_int_equal(W->a.t.connect(&W->a.t, &W->req, 2, W->b.addr, on_connect), 0);
  uint64_t end = uv_now(&W->loop) + 5000;
  while (!both() && uv_now(&W->loop) < end) {
    uv_run(&W->loop, UV_RUN_ONCE);
    if (W->connect_done && W->connect_status) break;
  }
}

/* ---- the transfer ---- */

static void on_write(uv_write_t *w, int status) {
  assert_int_equal(status, 0);
  free(w);
}

static void b_alloc(uv_handle_t *h, size_t s, uv_buf_t *buf) {
  (void)h;
  static char rb[70000];
  (void)s;
  *buf = uv_buf_init(rb, sizeof rb);
}

static void b_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)s;
  if (n == UV_EOF) {
    W->b_eof = 1;
    return;
  }
  if (n <= 0) return;
  assert_true(W->received + (size_t)n <= TOTAL);
  assert_memory_equal(buf->base, W->pattern + W->received, (size_t)n);
  W->received += (size_t)n;
}

static void a_alloc(uv_handle_t *h, size_t s, uv_buf_t *buf) {
  (void)h;
  (void)s;
  static char rb[64];
  *buf = uv_buf_init(rb, sizeof rb);
}

static void a_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)s;
  (void)buf;
  if (n < 0) W->a_eof = 1;
  else assert_int_equal(n, 0); /* nothing but EOF ever comes back on a dialled stream */
}

static void on_timer(uv_timer_t *t) {
  (void)t;
  assert_int_equal(uv_read_start(W->b.accepted, b_alloc, b_read), 0);
}

static void closed_free(uv_handle_t *h) { raft_free(h); }

static void setup_world(const char *secret_b, const char *dir_a) {
  W = calloc(1, sizeof *W);
  assert_int_equal(uv_loop_init(&W->loop), 0);
  node_init(W, &W->a, 1, "s3cret", dir_a);
  node_init(W, &W->b, 2, secret_b, certs);
}

static void teardown_world(void) {
  node_close(&W->a);
  node_close(&W->b);
  run_until(&W->a.closed, 5000);
  run_until(&W->b.closed, 5000);
  unsigned na, nb;
  rt_tls_stats(&W->a.t, &na, NULL);
  rt_tls_stats(&W->b.t, &nb, NULL);
  assert_int_equal(na + nb, 0); /* every tunnel freed before the close callback */
  node_free(&W->a);
  node_free(&W->b);
  uv_run(&W->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&W->loop), 0); /* no handle left behind */
  free(W->pattern);
  free(W);
}

static void test_transfer_backpressure_close(void **state) {
  (void)state;
  setup_world("s3cret", certs);
  connect_ab();
  assert_int_equal(W->connect_status, 0);
  assert_non_null(W->dialled);
  assert_non_null(W->b.accepted);
  unsigned tun;
  rt_tls_stats(&W->a.t, &tun, NULL);
  assert_int_equal(tun, 1);
  uint64_t acc;
  rt_stats(&W->b.t, &acc, NULL);
  assert_int_equal(acc, 1);
  /* as libraft does: the dialled stream reads only to notice a close */
  assert_int_equal(uv_read_start(W->dialled, a_alloc, a_read), 0);
  W->pattern = malloc(TOTAL);
  for (size_t i = 0; i < TOTAL; i++) W->pattern[i] = (uint8_t)(i * 2654435761u >> 13);
  for (size_t off = 0; off < TOTAL; off += PIECE) {
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t b = uv_buf_init((char *)W->pattern + off, PIECE);
    assert_int_equal(uv_write(w, W->dialled, &b, 1, on_write), 0);
  }
  /* b's side is not read for a while: the tunnels must stop reading, not buffer */
  uv_timer_init(&W->loop, &W->timer);
  uv_timer_start(&W->timer, on_timer, 300, 0);
  uint64_t end = uv_now(&W->loop) + 60000;
  while (W->received < TOTAL && uv_now(&W->loop) < end) uv_run(&W->loop, UV_RUN_ONCE);
  assert_int_equal(W->received, TOTAL);
  size_t qa, qb;
  rt_tls_stats(&W->a.t, NULL, &qa);
  rt_tls_stats(&W->b.t, NULL, &qb);
  print_message("    24 MiB through TLS raft tunnels; most queued: %zu (dialling side), %zu "
                "(accepting side), bound %d\n", qa, qb, RT_TLS_QUEUE_BOUND);
  assert_true(qa <= RT_TLS_QUEUE_BOUND);
  assert_true(qb <= RT_TLS_QUEUE_BOUND);
  assert_true(qa > 0 && qb > 0);
  /* libraft on b closes its stream: a's stream reads EOF */
  uv_close((uv_handle_t *)W->b.accepted, closed_free);
  run_until(&W->a_eof, 5000);
  assert_true(W->a_eof);
  uv_close((uv_handle_t *)W->dialled, closed_free);
  uv_close((uv_handle_t *)&W->timer, NULL);
  /* and the other way round: a closes, b reads EOF */
  connect_ab();
  assert_int_equal(W->connect_status, 0);
  assert_non_null(W->b.accepted);
  W->b_eof = 0;
  W->received = 0;
  assert_int_equal(uv_read_start(W->b.accepted, b_alloc, b_read), 0);
  uv_close((uv_handle_t *)W->dialled, closed_free);
  run_until(&W->b_eof, 5000);
  assert_true(W->b_eof);
  uv_close((uv_handle_t *)W->b.accepted, closed_free);
  /* a third connection left open: the transports' close frees its tunnels */
  connect_ab();
  assert_int_equal(W->connect_status, 0);
  uv_close((uv_handle_t *)W->dialled, closed_free);
  uv_close((uv_handle_t *)W->b.accepted, closed_free);
  teardown_world();
}

static void test_refused(void **state) {
  (void)state;
  /* the wrong secret: TLS succeeds, the HMAC proof inside it does not */
  setup_world("another secret", certs);
  connect_ab();
  assert_true(W->connect_done);
  assert_int_not_equal(W->connect_status, 0);
  assert_null(W->b.accepted);
  uint64_t refused;
  rt_stats(&W->b.t, NULL, &refused);
  assert_int_equal(refused, 1);
  teardown_world();
  /* a dialling node with another CA: neither side accepts the other's certificate */
  setup_world("s3cret", other);
  connect_ab();
  assert_true(W->connect_done);
  assert_int_not_equal(W->connect_status, 0);
  uint64_t end = uv_now(&W->loop) + 300;
  while (uv_now(&W->loop) < end) uv_run(&W->loop, UV_RUN_NOWAIT);
  assert_null(W->b.accepted);
  teardown_world();
}

int main(void) {
  make_certs(certs, sizeof certs, "a");
  make_certs(other, sizeof other, "b");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transfer_backpressure_close),
      cmocka_unit_test(test_refused),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", certs, other);
  if (system(cmd)) fprintf(stderr, "test_raft_tls: could not remove %s\n", certs);
  return rc;
}
