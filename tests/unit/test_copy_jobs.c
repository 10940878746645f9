/* copy_jobs: a destination store copies chunks from a source chunkd (a real
 * data_server on the same loop, over loopback): the copy, an idempotent repeat, the
 * fall-back past a dead source, a CRC mismatch refused, no free slot refused at once,
 * and the token bucket holding copies to copy.max_bytes_per_s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chunkd/chunk_store.h"
#include "chunkd/copy_jobs.h"
#include "chunkd/data_server.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/util.h"

typedef struct {
  char dir[2][64];
  chunkd_state src, dst;
  data_server *ds;
  int port;
  copy_jobs *cj;
  int ended;
} fixture;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(p);
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static void on_ended(void *ud) { ((fixture *)ud)->ended++; }

static fixture *make(unsigned max, uint64_t rate) {
  fixture *f = calloc(1, sizeof *f);
  char err[256];
  chunkd_state *st[2] = {&f->src, &f->dst};
  for (int i = 0; i < 2; i++) {
    snprintf(f->dir[i], sizeof f->dir[i], "/tmp/copyjobs-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir[i]));
    st[i]->loop = uv_default_loop();
    st[i]->chain_timeout_ms = 5000;
    st[i]->max_inflight = 64;
    assert_int_equal(chunk_store_open(f->dir[i], 0, &st[i]->store, err, sizeof err), 0);
  }
  f->port = free_port();
  assert_int_equal(data_server_start(&f->src, "127.0.0.1", f->port, &f->ds), 0);
  assert_int_equal(copy_jobs_start(&f->dst, max, rate, on_ended, f, &f->cj), 0);
  return f;
}

static void destroy(fixture *f) {
  copy_jobs_stop(f->cj);
  data_server_stop(f->ds, NULL, NULL);
  for (int i = 0; i < 50; i++) uv_run(uv_default_loop(), UV_RUN_NOWAIT);
  while (f->src.work_inflight || f->dst.work_inflight) uv_run(uv_default_loop(), UV_RUN_ONCE);
  copy_jobs_free(f->cj);
  data_server_free(f->ds);
  for (int i = 0; i < 2; i++) {
    chunk_store_close(i ? f->dst.store : f->src.store);
    nftw(f->dir[i], rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  }
  free(f);
}

static uint8_t *pattern(uint32_t len, unsigned seed) {
  uint8_t *d = malloc(len);
  uint32_t x = seed * 2654435761u + 1;
  for (uint32_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    d[i] = (uint8_t)(x >> 16);
  }
  return d;
}

static void put(chunk_store *s, uint64_t id, const uint8_t *d, uint32_t len) {
  uint32_t crcs[DFS_BLOCKS_PER_CHUNK];
  dfs_block_crcs(d, len, crcs);
  assert_int_equal(chunk_store_write(s, id, 1, d, len, dfs_crc32c(0, d, len), crcs), 0);
}

/* Adds a job for chunk id (version 1) with the given sources (ports on 127.0.0.1). */
static void add(fixture *f, uint64_t job, uint64_t id, uint32_t len, uint32_t crc,
                const int *ports, size_t nports) {
  Dfs__ServerAddr addrs[4], *ap[4];
  for (size_t i = 0; i < nports; i++) {
    dfs__server_addr__init(&addrs[i]);
    addrs[i].host = "127.0.0.1";
    addrs[i].port = (uint32_t)ports[i];
    ap[i] = &addrs[i];
  }
  Dfs__CopyJob j = DFS__COPY_JOB__INIT;
  j.job_id = job;
  j.chunk_id = id;
  j.version = 1;
  j.length = len;
  j.crc32c = crc;
  j.sources = ap;
  j.n_sources = nports;
  copy_jobs_add(f->cj, &j);
}

/* Runs the loop until `n` jobs have ended in total; returns the results taken. */
static copy_result *wait_ended(fixture *f, int n, size_t *nres) {
  uint64_t t0 = dfs_now_ms();
  while (f->ended < n) {
    uv_run(uv_default_loop(), UV_RUN_ONCE);
    assert_true(dfs_now_ms() - t0 < 20000);
  }
  copy_result *r;
  copy_jobs_take_results(f->cj, &r, nres);
  return r;
}

static void test_copy_paths(void **state) {
  fixture *f = make(2, 0);
  uint8_t *a = pattern(300000, 1), *b = pattern(DFS_CHUNK_SIZE, 2);
  put(f->src.store, 10, a, 300000);
  put(f->src.store, 11, b, DFS_CHUNK_SIZE);
  uint32_t ca = dfs_crc32c(0, a, 300000), cb = dfs_crc32c(0, b, DFS_CHUNK_SIZE);
  int src[] = {f->port}, dead_first[] = {free_port(), f->port};
  size_t n;

  add(f, 1, 10, 300000, ca, src, 1);
  copy_result *r = wait_ended(f, 1, &n);
  assert_int_equal(n, 1);
  assert_int_equal(r[0].job_id, 1);
  assert_int_equal(r[0].error, 0);
  assert_int_equal(r[0].bytes, 300000);
  free(r);
  chunk_buf buf;
  const uint8_t *p;
  uint32_t len;
  assert_int_equal(chunk_store_read(f->dst.store, 10, 1, 0, 0, &buf, &p, &len, NULL), 0);
  assert_int_equal(len, 300000);
  assert_memory_equal(p, a, 300000);
  chunk_buf_release(&buf);
  assert_int_equal(copy_jobs_bytes_copied(f->cj), 300000);

  add(f, 2, 10, 300000, ca, src, 1); /* already there: success, nothing copied */
  r = wait_ended(f, 2, &n);
  assert_int_equal(n, 1);
  assert_int_equal(r[0].error, 0);
  assert_int_equal(r[0].bytes, 0);
  free(r);

  add(f, 3, 11, DFS_CHUNK_SIZE, cb, dead_first, 2); /* falls back to the live source */
  r = wait_ended(f, 3, &n);
  assert_int_equal(r[0].error, 0);
  assert_int_equal(r[0].bytes, DFS_CHUNK_SIZE);
  free(r);

  /* the job says another CRC than the source's bytes have: refused, nothing stored */
  chunk_store_delete(f->dst.store, 11);
  add(f, 4, 11, DFS_CHUNK_SIZE, cb ^ 1, src, 1);
  r = wait_ended(f, 4, &n);
  assert_int_equal(r[0].error, DFS_ECHECKSUM);
  assert_non_null(strstr(r[0].message, "CRC"));
  free(r);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->dst.store, 11, &ci), DFS_ENOCHUNK);
  assert_int_equal(copy_jobs_running(f->cj), 0);
  assert_int_equal(copy_jobs_slots_free(f->cj), 2);
  free(a);
  free(b);
  destroy(f);
}

static void test_no_slot(void **state) {
  fixture *f = make(1, 0);
  uint8_t *a = pattern(1000, 3);
  put(f->src.store, 20, a, 1000);
  int src[] = {f->port};
  add(f, 1, 20, 1000, dfs_crc32c(0, a, 1000), src, 1);
  assert_int_equal(copy_jobs_slots_free(f->cj), 0);
  add(f, 2, 20, 1000, dfs_crc32c(0, a, 1000), src, 1);
  assert_int_equal(f->ended, 1); /* refused at once */
  size_t n;
  copy_result *r = wait_ended(f, 2, &n);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(r[i].error, r[i].job_id == 2 ? DFS_EBUSY : 0);
  free(r);
  free(a);
  destroy(f);
}

static void test_throttle(void **state) {
  const uint32_t len = 256 << 10;
  const uint64_t rate = 2u << 20; /* 2 MiB/s: 4 chunks need >= 3 * 125 ms */
  fixture *f = make(4, rate);
  uint8_t *a = pattern(len, 4);
  int src[] = {f->port};
  for (uint64_t id = 30; id < 34; id++) put(f->src.store, id, a, len);
  uint64_t t0 = dfs_now_ms();
  for (uint64_t id = 30; id < 34; id++) add(f, id, id, len, dfs_crc32c(0, a, len), src, 1);
  size_t n;
  copy_result *r = wait_ended(f, 4, &n);
  uint64_t ms = dfs_now_ms() - t0;
  assert_int_equal(n, 4);
  for (size_t i = 0; i < n; i++) assert_int_equal(r[i].error, 0);
  free(r);
  printf("4 x 256 KiB at 2 MiB/s took %llu ms (>= 375 expected)\n", (unsigned long long)ms);
  assert_true(ms >= 370);
  free(a);
  destroy(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_paths),
      cmocka_unit_test(test_no_slot),
      cmocka_unit_test(test_throttle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
