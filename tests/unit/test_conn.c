/* conn (libuv) and sock (blocking) framing end to end on loopback: request/reply with
 * bulk, calls with timeouts, oversized frames closing the connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "client_chunk.pb-c.h"
#include "common/conn.h"
#include "common/errors.h"
#include "common/sock.h"

/* Test server: a ReadChunkReq gets `length` pattern bytes as bulk; a WriteChunkReq is
 * never answered (to exercise call timeouts). */
static void on_request(dfs_conn *c, dfs_msg *m) {
  if (m->hdr.type == DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ) {
    Dfs__ReadChunkReq *r = dfs__read_chunk_req__unpack(NULL, m->hdr.payload_len, m->payload);
    if (!r) {
      dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "bad payload");
    } else {
      if (r->offset == 777) dfs_conn_set_authenticated(c); /* "log in" */
      uint8_t *b = malloc(r->length + 1);
      for (uint32_t i = 0; i < r->length; i++) b[i] = (uint8_t)(i + r->offset);
      Dfs__ReadChunkRep rep = DFS__READ_CHUNK_REP__INIT;
      rep.length = r->length;
      dfs_conn_reply(c, &m->hdr, &rep.base, b, r->length, dfs_bulk_free_malloced, NULL);
      dfs__read_chunk_req__free_unpacked(r, NULL);
    }
  }
  dfs_msg_free(m);
}

struct srv { uv_loop_t loop; dfs_server *s; uv_async_t stop; int port; pthread_t th; };

static void on_stop(uv_async_t *a) {
  struct srv *sv = a->data;
  dfs_server_close(sv->s);
  uv_stop(&sv->loop);
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void *srv_main(void *arg) {
  struct srv *sv = arg;
  uv_run(&sv->loop, UV_RUN_DEFAULT);
  uv_walk(&sv->loop, close_walk, NULL);
  uv_run(&sv->loop, UV_RUN_DEFAULT);
  return NULL;
}

static void srv_start_opts(struct srv *sv, const dfs_conn_opts *o);
static void srv_start(struct srv *sv) {
  dfs_conn_opts o = {.limits = {1 << 16, DFS_MAX_BULK}, .on_request = on_request};
  srv_start_opts(sv, &o);
}

static void srv_start_opts(struct srv *sv, const dfs_conn_opts *opts) {
  dfs_conn_opts o = *opts;
  uv_loop_init(&sv->loop);
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
}

static void test_sock_roundtrip_bulk(void **state) {
  struct srv sv;
  srv_start(&sv);
  int fd = dfs_sock_connect("127.0.0.1", sv.port, 5000);
  assert_true(fd >= 0);
  for (uint32_t len = 0; len <= DFS_CHUNK_SIZE; len = len ? len * 4 : 1) {
    Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
    r.length = len;
    r.offset = 3;
    dfs_msg rep;
    assert_int_equal(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0,
                                   &rep, NULL, 0), 0);
    assert_int_equal(rep.hdr.bulk_len, len);
    for (uint32_t i = 0; i < len; i++) assert_int_equal(rep.bulk[i], (uint8_t)(i + 3));
    dfs_msg_free(&rep);
  }
  /* Garbage payload: an error reply, and the connection stays usable. */
  uint8_t frame[DFS_FRAME_HDR_LEN + 5];
  dfs_frame_hdr gh = {DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, 0, 99, 5, 0};
  dfs_frame_encode_hdr(&gh, frame);
  memset(frame + DFS_FRAME_HDR_LEN, 0xff, 5);
  assert_int_equal(write(fd, frame, sizeof frame), (ssize_t)sizeof frame);
  dfs_msg rep;
  assert_int_equal(dfs_sock_recv(fd, NULL, &rep), 0);
  assert_int_equal(rep.hdr.type, DFS__MSG_TYPE__MSG_ERROR);
  assert_true(rep.hdr.req_id == 99);
  dfs_msg_free(&rep);
  Dfs__ReadChunkReq again = DFS__READ_CHUNK_REQ__INIT;
  again.length = 7;
  assert_int_equal(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &again.base, NULL,
                                 0, &rep, NULL, 0), 0);
  assert_int_equal(rep.hdr.bulk_len, 7);
  dfs_msg_free(&rep);
  close(fd);
  srv_stop(&sv);
}

static void test_oversized_frame_closes(void **state) {
  struct srv sv;
  srv_start(&sv);
  int fd = dfs_sock_connect("127.0.0.1", sv.port, 5000);
  assert_true(fd >= 0);
  uint8_t h[DFS_FRAME_HDR_LEN];
  dfs_frame_hdr hdr = {DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, 0, 1, 1u << 30, 0};
  dfs_frame_encode_hdr(&hdr, h);
  assert_int_equal(write(fd, h, sizeof h), (ssize_t)sizeof h);
  dfs_msg rep;
  assert_int_equal(dfs_sock_recv(fd, NULL, &rep), DFS_ECLOSED);
  close(fd);
  /* The server still serves new connections. */
  fd = dfs_sock_connect("127.0.0.1", sv.port, 5000);
  Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
  r.length = 10;
  assert_int_equal(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0,
                                 &rep, NULL, 0), 0);
  dfs_msg_free(&rep);
  close(fd);
  srv_stop(&sv);
}

/* Async calls from a second loop: one answered, one timing out. */
struct call_state { int done, status; uint32_t bulk_len; };

static void on_reply(dfs_conn *c, int status, dfs_msg *m, void *ud) {
  struct call_state *cs = ud;
  cs->done = 1;
  cs->status = status;
  if (m) { cs->bulk_len = m->hdr.bulk_len; dfs_msg_free(m); }
}

static void test_async_calls(void **state) {
  struct srv sv;
  srv_start(&sv);
  uv_loop_t loop;
  uv_loop_init(&loop);
  dfs_conn_opts o = {.limits = {1 << 20, DFS_MAX_BULK}};
  dfs_conn *c = dfs_conn_connect(&loop, "127.0.0.1", sv.port, &o, NULL, NULL);
  assert_non_null(c);
  dfs_conn_ref(c);
  Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
  r.length = 1000;
  struct call_state ok = {0}, slow = {0};
  assert_int_equal(dfs_conn_call(c, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0,
                                 NULL, NULL, 5000, on_reply, &ok), 0);
  Dfs__WriteChunkReq w = DFS__WRITE_CHUNK_REQ__INIT;
  assert_int_equal(dfs_conn_call(c, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_WRITE, &w.base, NULL, 0,
                                 NULL, NULL, 200, on_reply, &slow), 0);
  while (!(ok.done && slow.done)) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(ok.status, 0);
  assert_int_equal(ok.bulk_len, 1000);
  assert_int_equal(slow.status, DFS_ETIMEDOUT);
  dfs_conn_close(c);
  dfs_conn_unref(c);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  srv_stop(&sv);
}

struct connect_state { int done, status; };
static void on_connect(dfs_conn *c, int status, void *ud) {
  (void)c;
  struct connect_state *cs = ud;
  cs->done = 1;
  cs->status = status;
}

/* A host name is resolved off the loop (uv_getaddrinfo) and then connected; calls queued
 * meanwhile go out once connected. "localhost" comes from /etc/hosts: no network. */
static void test_hostname_connect(void **state) {
  struct srv sv;
  srv_start(&sv);
  uv_loop_t loop;
  uv_loop_init(&loop);
  dfs_conn_opts o = {.limits = {1 << 20, DFS_MAX_BULK}};
  struct connect_state cs = {0};
  dfs_conn *c = dfs_conn_connect(&loop, "localhost", sv.port, &o, on_connect, &cs);
  assert_non_null(c);
  dfs_conn_ref(c);
  assert_int_equal(cs.done, 0); /* not from inside dfs_conn_connect: resolving first */
  Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
  r.length = 10;
  struct call_state ok = {0};
  assert_int_equal(dfs_conn_call(c, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0,
                                 NULL, NULL, 5000, on_reply, &ok), 0);
  while (!ok.done) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(cs.done, 1);
  assert_int_equal(cs.status, 0);
  assert_int_equal(ok.status, 0);
  assert_int_equal(ok.bulk_len, 10);
  dfs_conn_close(c);
  dfs_conn_unref(c);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  srv_stop(&sv);
}

static void test_connect_refused(void **state) {
  assert_int_equal(dfs_sock_connect("127.0.0.1", 1, 1000), DFS_ECONN);
}

/* Before authentication only small frames pass and an idle peer is dropped. */
static void test_pre_auth(void **state) {
  struct srv sv;
  dfs_conn_opts o = {.limits = {1 << 16, DFS_MAX_BULK}, .on_request = on_request,
                     .pre_auth = {64, 0}, .auth_timeout_ms = 300};
  srv_start_opts(&sv, &o);
  uint8_t big[200];
  memset(big, 0, sizeof big);
  Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
  r.capability.data = big;
  r.capability.len = sizeof big; /* payload > 64 bytes */
  dfs_msg rep;
  int fd = dfs_sock_connect("127.0.0.1", sv.port, 5000);
  assert_true(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0, &rep,
                            NULL, 0) < 0);
  dfs_sock_close(fd);
  /* Small frame passes; "login" lifts the limit. */
  fd = dfs_sock_connect("127.0.0.1", sv.port, 5000);
  Dfs__ReadChunkReq login = DFS__READ_CHUNK_REQ__INIT;
  login.offset = 777;
  assert_int_equal(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &login.base, NULL,
                                 0, &rep, NULL, 0), 0);
  dfs_msg_free(&rep);
  assert_int_equal(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0,
                                 &rep, NULL, 0), 0);
  dfs_msg_free(&rep);
  usleep(500 * 1000); /* past the auth timeout: authenticated peers stay */
  assert_int_equal(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &r.base, NULL, 0,
                                 &rep, NULL, 0), 0);
  dfs_msg_free(&rep);
  dfs_sock_close(fd);
  /* An idle unauthenticated peer is closed after the timeout. */
  fd = dfs_sock_connect("127.0.0.1", sv.port, 5000);
  usleep(500 * 1000);
  Dfs__ReadChunkReq small = DFS__READ_CHUNK_REQ__INIT;
  assert_true(dfs_sock_call(fd, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &small.base, NULL, 0,
                            &rep, NULL, 0) < 0);
  dfs_sock_close(fd);
  srv_stop(&sv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sock_roundtrip_bulk),
      cmocka_unit_test(test_oversized_frame_closes),
      cmocka_unit_test(test_async_calls),
      cmocka_unit_test(test_hostname_connect),
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test(test_pre_auth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
