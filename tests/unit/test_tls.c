/* TLS on both connection kinds: a libuv server with a memory-BIO engine, talked to by a
 * blocking TLS socket and by an async TLS connection; wrong CA and plaintext peers are
 * refused. Certificates come from scripts/tls-certs (needs the openssl command). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_chunk.pb-c.h"
#include "common.pb-c.h"
#include "common/conn.h"
#include "common/errors.h"
#include "common/sock.h"
#include "common/tls.h"

static char certdir[64], otherdir[64];
static char ca[128], cert[128], key[128], other_ca[128];

static void on_request(dfs_conn *c, dfs_msg *m) {
  Dfs__ReadChunkReq *r = dfs__read_chunk_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (r) {
    /* Echo: bulk of `length` bytes, each byte = (offset + i) plus the request's bulk sum. */
    uint8_t *b = malloc(r->length + 1);
    for (uint32_t i = 0; i < r->length; i++) b[i] = (uint8_t)(i + r->offset);
    Dfs__ReadChunkRep rep = DFS__READ_CHUNK_REP__INIT;
    rep.length = m->hdr.bulk_len; /* tells the client how much bulk we received */
    dfs_conn_reply(c, &m->hdr, &rep.base, b, r->length, dfs_bulk_free_malloced, NULL);
    dfs__read_chunk_req__free_unpacked(r, NULL);
  }
  dfs_msg_free(m);
}

struct srv { uv_loop_t loop; dfs_server *s; uv_async_t stop; int port; pthread_t th; dfs_tls_ctx *tls; };

static void on_stop(uv_async_t *a) {
  struct srv *sv = a->data;
  dfs_server_close(sv->s);
  uv_close((uv_handle_t *)a, NULL);
}

static void *srv_main(void *arg) {
  struct srv *sv = arg;
  uv_run(&sv->loop, UV_RUN_DEFAULT); /* returns once the server and async are closed */
  return NULL;
}

static void srv_start(struct srv *sv) {
  char err[256];
  dfs_tls_config tc = {.ca_file = ca, .cert_file = cert, .key_file = key, .require_client_cert = 0};
  assert_int_equal(dfs_tls_ctx_new(&tc, 1, &sv->tls, err, sizeof err), 0);
  uv_loop_init(&sv->loop);
  dfs_conn_opts o = {.limits = {1 << 16, DFS_MAX_BULK}, .on_request = on_request, .tls = sv->tls};
  assert_int_equal(dfs_server_listen(&sv->loop, "127.0.0.1", 0, &o, &sv->s), 0);
  sv->port = dfs_server_port(sv->s);
  uv_async_init(&sv->loop, &sv->stop, on_stop);
  sv->stop.data = sv;
  pthread_create(&sv->th, NULL, srv_main, sv);
}

static void srv_stop(struct srv *sv) {
  uv_async_send(&sv->stop);
  pthread_join(sv->th, NULL);
  uv_loop_close(&sv->loop);
  dfs_tls_ctx_free(sv->tls);
}

static int setup(void **state) {
  snprintf(certdir, sizeof certdir, "/tmp/dfs-tls-test-%d", (int)getpid());
  snprintf(otherdir, sizeof otherdir, "/tmp/dfs-tls-test-%d-other", (int)getpid());
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s/scripts/tls-certs %s && %s/scripts/tls-certs %s",
           DFS_SOURCE_DIR, certdir, DFS_SOURCE_DIR, otherdir);
  if (system(cmd) != 0) return -1;
  snprintf(ca, sizeof ca, "%s/ca.pem", certdir);
  snprintf(cert, sizeof cert, "%s/node.pem", certdir);
  snprintf(key, sizeof key, "%s/node.key", certdir);
  snprintf(other_ca, sizeof other_ca, "%s/ca.pem", otherdir);
  return 0;
}

static int teardown(void **state) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", certdir, otherdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_blocking_client(void **state) {
  struct srv sv;
  srv_start(&sv);
  char err[256];
  dfs_tls_config cc = {.ca_file = ca, .cert_file = cert, .key_file = key, .verify_hostname = 1};
  dfs_tls_ctx *cctx;
  assert_int_equal(dfs_tls_ctx_new(&cc, 0, &cctx, err, sizeof err), 0);
  dfs_sock_set_tls(cctx);
  int fd = dfs_sock_connect("127.0.0.1", sv.port, 5000);
  assert_true(fd >= 0);
  uint8_t *bulk = malloc(DFS_CHUNK_SIZE);
  memset(bulk, 0x5a, DFS_CHUNK_SIZE);
  for (int i = 0; i < 3; i++) {
    Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
    r.length = DFS_CHUNK_SIZE;
    r.offset = 1;
    dfs_msg rep;
    assert_int_equal(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, bulk,
                                   DFS_CHUNK_SIZE, &rep, NULL, 0), 0);
    Dfs__ReadChunkRep *p = dfs__read_chunk_rep__unpack(NULL, rep.hdr.payload_len, rep.payload);
    assert_non_null(p);
    assert_int_equal(p->length, DFS_CHUNK_SIZE);
    dfs__read_chunk_rep__free_unpacked(p, NULL);
    assert_int_equal(rep.hdr.bulk_len, DFS_CHUNK_SIZE);
    assert_int_equal(rep.bulk[0], 1);
    assert_int_equal(rep.bulk[DFS_CHUNK_SIZE - 1], (uint8_t)DFS_CHUNK_SIZE);
    dfs_msg_free(&rep);
  }
  free(bulk);
  dfs_sock_close(fd);

  /* A client trusting another CA refuses the server. */
  dfs_tls_config oc = {.ca_file = other_ca};
  dfs_tls_ctx *octx;
  assert_int_equal(dfs_tls_ctx_new(&oc, 0, &octx, err, sizeof err), 0);
  dfs_sock_set_tls(octx);
  assert_int_equal(dfs_sock_connect("127.0.0.1", sv.port, 5000), DFS_EPROTO);
  /* A plaintext client gets nothing sensible back: the server closes on it. */
  dfs_sock_set_tls(NULL);
  fd = dfs_sock_connect("127.0.0.1", sv.port, 5000);
  assert_true(fd >= 0);
  Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
  dfs_msg rep;
  assert_true(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0, &rep,
                            NULL, 0) < 0);
  dfs_sock_close(fd);
  dfs_tls_ctx_free(octx);
  dfs_tls_ctx_free(cctx);
  srv_stop(&sv);
}

struct call_state { int done, status; uint32_t bulk_len; };

static void on_reply(dfs_conn *c, int status, dfs_msg *m, void *ud) {
  struct call_state *cs = ud;
  cs->done = 1;
  cs->status = status;
  if (m) { cs->bulk_len = m->hdr.bulk_len; dfs_msg_free(m); }
}

static void test_async_client(void **state) {
  struct srv sv;
  srv_start(&sv);
  char err[256];
  dfs_tls_config cc = {.ca_file = ca, .cert_file = cert, .key_file = key, .verify_hostname = 1};
  dfs_tls_ctx *cctx;
  assert_int_equal(dfs_tls_ctx_new(&cc, 0, &cctx, err, sizeof err), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  dfs_conn_opts o = {.limits = {1 << 20, DFS_MAX_BULK}, .tls = cctx};
  dfs_conn *c = dfs_conn_connect(&loop, "127.0.0.1", sv.port, &o, NULL, NULL);
  dfs_conn_ref(c);
  struct call_state cs[4] = {{0}};
  for (int i = 0; i < 4; i++) {
    Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
    r.length = (uint32_t)(1000 << (i * 3));
    assert_int_equal(dfs_conn_call(c, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0,
                                   NULL, NULL, 5000, on_reply, &cs[i]), 0);
  }
  while (!(cs[0].done && cs[1].done && cs[2].done && cs[3].done)) uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(cs[i].status, 0);
    assert_int_equal(cs[i].bulk_len, 1000u << (i * 3));
  }
  dfs_conn_close(c);
  dfs_conn_unref(c);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  dfs_tls_ctx_free(cctx);
  srv_stop(&sv);
}

static void test_bad_config(void **state) {
  char err[256] = "";
  dfs_tls_ctx *x;
  dfs_tls_config bad = {.ca_file = "/nonexistent/ca.pem"};
  assert_int_equal(dfs_tls_ctx_new(&bad, 0, &x, err, sizeof err), DFS_ECONFIG);
  assert_non_null(strstr(err, "/nonexistent/ca.pem"));
  dfs_tls_config nocert = {.ca_file = ca};
  assert_int_equal(dfs_tls_ctx_new(&nocert, 1, &x, err, sizeof err), DFS_ECONFIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blocking_client),
      cmocka_unit_test(test_async_client),
      cmocka_unit_test(test_bad_config),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
