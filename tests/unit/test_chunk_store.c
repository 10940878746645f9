/* chunk_store: write/read round trips for 0..1 MiB, ranged reads (and the CRC a read
 * returns), CRC32C combination, CRC corruption and truncated files found
 * on read, bad headers and temp files discarded by the scan, delete, idempotent
 * rewrites, the "new chunks" list, the data-directory lock and the server uuid; the
 * reserve, exact-version deletes, and (in DFS_FAULT_HOOKS builds) EIO counting up to a
 * failing disk, ENOSPC/EIO writes leaving no temp file and corrupt reads reported.
 * Data lives in a fresh mkdtemp directory per test, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunkd/chunk_store.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/fault.h"
#include "common/log.h"
#include "chunk_data.h"

typedef struct {
  char dir[64];
  chunk_store *s;
} fixture;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(p);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/chunkd-test-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  char err[256];
  assert_int_equal(chunk_store_open(f->dir, 0, &f->s, err, sizeof err), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  chunk_store_close(f->s);
  nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

static void reopen(fixture *f) {
  char err[256];
  chunk_store_close(f->s);
  f->s = NULL;
  assert_int_equal(chunk_store_open(f->dir, 0, &f->s, err, sizeof err), 0);
}

static void test_round_trip_sizes(void **state) {
  fixture *f = *state;
  const uint32_t sizes[] = {0,
                            1,
                            4095,
                            4096,
                            DFS_BLOCK_SIZE - 1,
                            DFS_BLOCK_SIZE,
                            DFS_BLOCK_SIZE + 1,
                            300000,
                            DFS_CHUNK_SIZE - 1,
                            DFS_CHUNK_SIZE};
  for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint32_t len = sizes[i];
    uint8_t *d = pattern(len, i);
    uint64_t id = 0x1000 + i;
    assert_int_equal(put(f->s, id, 1, d, len), 0);
    chunk_buf base;
    const uint8_t *data;
    uint32_t n;
    uint32_t crc = 1;
    assert_int_equal(chunk_store_read(f->s, id, 1, 0, 0, &base, &data, &n, &crc), 0);
    assert_int_equal(n, len);
    assert_memory_equal(data, d, len);
    assert_int_equal(crc, dfs_crc32c(0, d, len));
    chunk_buf_release(&base);
    chunk_info ci;
    assert_int_equal(chunk_store_lookup(f->s, id, &ci), 0);
    assert_int_equal(ci.length, len);
    assert_int_equal(ci.crc, dfs_crc32c(0, d, len));
    free(d);
  }
  chunk_store_stats st;
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.chunk_count, 10);
  assert_true(st.capacity_bytes > 0);
}

static void test_ranged_read(void **state) {
  fixture *f = *state;
  uint32_t len = DFS_CHUNK_SIZE - 1000;
  uint8_t *d = pattern(len, 7);
  assert_int_equal(put(f->s, 42, 3, d, len), 0);
  const struct {
    uint32_t off, len;
  } r[] = {{0, 1},
           {1, 10},
           {DFS_BLOCK_SIZE - 5, 10},
           {DFS_BLOCK_SIZE, DFS_BLOCK_SIZE},
           {123457, 400000},
           {len - 1, 1},
           {len - 1, 0},
           {len, 0},
           {500000, 0},
           {2 * DFS_BLOCK_SIZE, 3 * DFS_BLOCK_SIZE},
           {15 * DFS_BLOCK_SIZE, 0}};
  for (unsigned i = 0; i < sizeof r / sizeof r[0]; i++) {
    chunk_buf base;
    const uint8_t *data;
    uint32_t n;
    uint32_t crc = 1;
    assert_int_equal(chunk_store_read(f->s, 42, 3, r[i].off, r[i].len, &base, &data, &n, &crc),
                     0);
    uint32_t want = r[i].len ? r[i].len : len - r[i].off;
    assert_int_equal(n, want);
    assert_memory_equal(data, d + r[i].off, want);
    assert_int_equal(crc, dfs_crc32c(0, d + r[i].off, want));
    chunk_buf_release(&base);
  }
  chunk_buf base;
  const uint8_t *data;
  uint32_t n;
  assert_int_equal(chunk_store_read(f->s, 42, 3, len + 1, 0, &base, &data, &n, NULL), DFS_EINVAL);
  assert_int_equal(chunk_store_read(f->s, 42, 3, len - 1, 2, &base, &data, &n, NULL), DFS_EINVAL);
  assert_int_equal(chunk_store_read(f->s, 42, 3, 0, 0xffffffffu, &base, &data, &n, NULL),
                   DFS_EINVAL);
  assert_int_equal(chunk_store_read(f->s, 42, 4, 0, 0, &base, &data, &n, NULL), DFS_ESTALE);
  assert_int_equal(chunk_store_read(f->s, 42, 2, 0, 0, &base, &data, &n, NULL), DFS_ENOCHUNK);
  assert_int_equal(chunk_store_read(f->s, 43, 3, 0, 0, &base, &data, &n, NULL), DFS_ENOCHUNK);
  free(d);
}

static void flip_byte(const char *path, off_t off) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, off), 1);
  b ^= 0x40;
  assert_int_equal(pwrite(fd, &b, 1, off), 1);
  close(fd);
}

static void test_corruption_detected(void **state) {
  fixture *f = *state;
  uint32_t len = 3 * DFS_BLOCK_SIZE + 17;
  uint8_t *d = pattern(len, 3);
  assert_int_equal(put(f->s, 0xabcdef, 1, d, len), 0);
  assert_int_equal(put(f->s, 0xabcdf0, 1, d, len), 0);
  char path[4096], path2[4096];
  assert_int_equal(chunk_store_path(f->s, 0xabcdef, 1, path, sizeof path), 0);
  assert_int_equal(chunk_store_path(f->s, 0xabcdf0, 1, path2, sizeof path2), 0);
  flip_byte(path, CHUNK_HDR_SIZE + 2 * DFS_BLOCK_SIZE + 100); /* in block 2 */
  chunk_buf base;
  const uint8_t *data;
  uint32_t n;
  /* blocks 0-1 are intact and still readable, anything touching block 2 is not */
  assert_int_equal(
      chunk_store_read(f->s, 0xabcdef, 1, 0, 2 * DFS_BLOCK_SIZE, &base, &data, &n, NULL), 0);
  assert_memory_equal(data, d, n);
  chunk_buf_release(&base);
  assert_int_equal(
      chunk_store_read(f->s, 0xabcdef, 1, 2 * DFS_BLOCK_SIZE + 101, 1, &base, &data, &n, NULL),
      DFS_ECHECKSUM);
  /* the corrupt chunk is out of service: gone from the index, its file in corrupt/ */
  assert_int_equal(chunk_store_read(f->s, 0xabcdef, 1, 0, 0, &base, &data, &n, NULL), DFS_ENOCHUNK);
  assert_int_equal(access(path, F_OK), -1);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls %s/corrupt | grep -q '^0000000000abcdef\\.1\\.'", f->dir);
  assert_int_equal(system(cmd), 0);
  /* a corrupt header is caught too, and so is corruption found by the scrubber */
  flip_byte(path2, 30);
  assert_int_equal(chunk_store_read(f->s, 0xabcdf0, 1, 0, 1, &base, &data, &n, NULL),
                   DFS_ECHECKSUM);
  assert_int_equal(put(f->s, 0xabcdf1, 1, d, len), 0);
  assert_int_equal(put(f->s, 0xabcdf2, 1, d, len), 0);
  assert_int_equal(chunk_store_path(f->s, 0xabcdf1, 1, path, sizeof path), 0);
  flip_byte(path, CHUNK_HDR_SIZE + len - 1); /* last byte of the short last block */
  uint64_t bytes = 0;
  assert_int_equal(chunk_store_verify(f->s, 0xabcdf2, &bytes), 0);
  assert_int_equal(bytes, CHUNK_HDR_SIZE + len);
  assert_int_equal(chunk_store_verify(f->s, 0xabcdf1, &bytes), DFS_ECHECKSUM);
  assert_int_equal(chunk_store_verify(f->s, 0xabcdf1, &bytes), DFS_ENOCHUNK);
  uint64_t *ids;
  size_t nids;
  assert_int_equal(chunk_store_list_ids(f->s, &ids, &nids), 0);
  assert_int_equal(nids, 1);
  assert_int_equal(ids[0], 0xabcdf2);
  free(ids);
  free(d);
}

/* The whole CRC computed from block CRCs equals a pass over the data. */
/* corrupt/ is bounded by data.quarantine_max: the files moved in longest ago go first,
 * also those found there when the store opens. */
static void test_quarantine_bounded(void **state) {
  fixture *f = *state;
  uint32_t len = 100000; /* + the 4 KiB header per file */
  uint64_t file = CHUNK_HDR_SIZE + len;
  uint8_t *d = pattern(len, 9);
  for (uint64_t id = 1; id <= 4; id++) assert_int_equal(put(f->s, id, 1, d, len), 0);
  assert_int_equal(chunk_store_quarantine_bytes(f->s), 0);
  chunk_store_set_quarantine_max(f->s, 2 * file + 10); /* room for two */
  for (uint64_t id = 1; id <= 3; id++) {
    assert_int_equal(chunk_store_quarantine(f->s, id, 1), 0);
    usleep(50000); /* distinct ctimes (kernel timestamps are coarse): "oldest" is defined */
  }
  assert_int_equal(chunk_store_quarantine_bytes(f->s), 2 * file);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "test $(ls %s/corrupt | wc -l) -eq 2", f->dir);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "ls %s/corrupt | grep -q '^0000000000000001\\.'", f->dir);
  assert_int_not_equal(system(cmd), 0); /* the oldest went */
  snprintf(cmd, sizeof cmd, "ls %s/corrupt | grep -q '^0000000000000003\\.'", f->dir);
  assert_int_equal(system(cmd), 0);
  /* counted again at open; 0 keeps none */
  reopen(f);
  assert_int_equal(chunk_store_quarantine_bytes(f->s), 2 * file);
  chunk_store_set_quarantine_max(f->s, 0);
  assert_int_equal(chunk_store_quarantine_bytes(f->s), 0);
  assert_int_equal(chunk_store_quarantine(f->s, 4, 1), 0);
  assert_int_equal(chunk_store_quarantine_bytes(f->s), 0);
  snprintf(cmd, sizeof cmd, "test -z \"$(ls %s/corrupt)\"", f->dir);
  assert_int_equal(system(cmd), 0);
  free(d);
}

static void test_crc_from_blocks(void **state) {
  (void)state;
  const uint32_t sizes[] = {1, 100, DFS_BLOCK_SIZE, DFS_BLOCK_SIZE + 1, 3 * DFS_BLOCK_SIZE - 7,
                            DFS_CHUNK_SIZE - 1, DFS_CHUNK_SIZE};
  for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint8_t *d = pattern(sizes[i], 100 + i);
    uint32_t crcs[DFS_BLOCKS_PER_CHUNK];
    dfs_block_crcs(d, sizes[i], crcs);
    assert_int_equal(dfs_crc32c_from_blocks(crcs, sizes[i]), dfs_crc32c(0, d, sizes[i]));
    uint32_t cut = sizes[i] / 3;
    uint32_t head = dfs_crc32c(0, d, cut), tail = dfs_crc32c(0, d + cut, sizes[i] - cut);
    assert_int_equal(dfs_crc32c_combine(head, tail, sizes[i] - cut), dfs_crc32c(0, d, sizes[i]));
    free(d);
  }
  assert_int_equal(dfs_crc32c_from_blocks(NULL, 0), 0);
}

/* A chunk file cut short on disk is corrupt (not a crash through the mapping). */
static void test_truncated_file(void **state) {
  fixture *f = *state;
  uint32_t len = 5 * DFS_BLOCK_SIZE;
  uint8_t *d = pattern(len, 9);
  assert_int_equal(put(f->s, 77, 1, d, len), 0);
  char path[4096];
  assert_int_equal(chunk_store_path(f->s, 77, 1, path, sizeof path), 0);
  assert_int_equal(truncate(path, CHUNK_HDR_SIZE + 2 * DFS_BLOCK_SIZE), 0);
  chunk_buf base;
  const uint8_t *data;
  uint32_t n;
  /* the intact part is still readable */
  assert_int_equal(chunk_store_read(f->s, 77, 1, 0, DFS_BLOCK_SIZE, &base, &data, &n, NULL), 0);
  assert_memory_equal(data, d, n);
  chunk_buf_release(&base);
  chunk_buf_release(&base); /* idempotent */
  assert_int_equal(chunk_store_read(f->s, 77, 1, 0, 0, &base, &data, &n, NULL), DFS_ECHECKSUM);
  assert_null(base.mem);
  assert_int_equal(chunk_store_lookup(f->s, 77, &(chunk_info){0}), DFS_ENOCHUNK);
  free(d);
}

static void test_scan_rebuilds_and_discards(void **state) {
  fixture *f = *state;
  uint8_t *d = pattern(200000, 9);
  for (uint64_t id = 1; id <= 300; id++) assert_int_equal(put(f->s, id, 1, d, 200000), 0);
  assert_int_equal(put(f->s, 1000, 1, d, 5000), 0);
  assert_int_equal(put(f->s, 1000, 2, d + 1, 5000), 0); /* replaces version 1 */
  char p_bad[4096], p_short[4096], p_tmp[4096], p_name[4096], p_v1[4096];
  assert_int_equal(chunk_store_path(f->s, 7, 1, p_bad, sizeof p_bad), 0);
  assert_int_equal(chunk_store_path(f->s, 8, 1, p_short, sizeof p_short), 0);
  assert_int_equal(chunk_store_path(f->s, 1000, 1, p_v1, sizeof p_v1), 0);
  assert_int_not_equal(access(p_v1, F_OK), 0);
  flip_byte(p_bad, 3);                                          /* magic */
  assert_int_equal(truncate(p_short, CHUNK_HDR_SIZE + 100), 0); /* size != length */
  snprintf(p_tmp, sizeof p_tmp, "%s/tmp/0000000000000009.1.123", f->dir);
  snprintf(p_name, sizeof p_name, "%s/chunks/00/README", f->dir);
  FILE *fp = fopen(p_tmp, "w");
  fputs("partial", fp);
  fclose(fp);
  fp = fopen(p_name, "w");
  fputs("not a chunk", fp);
  fclose(fp);
  char uuid[CHUNK_UUID_LEN + 1];
  strcpy(uuid, chunk_store_uuid(f->s));

  reopen(f);
  chunk_store_stats st;
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.chunk_count, 299);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->s, 7, &ci), DFS_ENOCHUNK);
  assert_int_equal(chunk_store_lookup(f->s, 8, &ci), DFS_ENOCHUNK);
  assert_int_equal(access(p_bad, F_OK), -1);
  assert_int_equal(access(p_tmp, F_OK), -1);
  assert_int_equal(access(p_name, F_OK), 0); /* unknown names are left alone */
  assert_int_equal(chunk_store_lookup(f->s, 300, &ci), 0);
  assert_int_equal(ci.length, 200000);
  assert_int_equal(ci.crc, dfs_crc32c(0, d, 200000));
  assert_int_equal(chunk_store_lookup(f->s, 1000, &ci), 0);
  assert_int_equal(ci.version, 2);
  assert_string_equal(chunk_store_uuid(f->s), uuid);
  /* the full snapshot lists exactly the index */
  chunk_info *all;
  size_t n;
  assert_int_equal(chunk_store_snapshot(f->s, &all, &n), 0);
  assert_int_equal(n, 299);
  free(all);
  chunk_buf base;
  const uint8_t *data;
  uint32_t len;
  assert_int_equal(chunk_store_read(f->s, 123, 1, 0, 0, &base, &data, &len, NULL), 0);
  assert_memory_equal(data, d, 200000);
  chunk_buf_release(&base);
  free(d);
}

static void test_delete_and_idempotent_write(void **state) {
  fixture *f = *state;
  uint8_t *d = pattern(1000, 1);
  assert_int_equal(put(f->s, 5, 1, d, 1000), 0);
  assert_int_equal(put(f->s, 5, 1, d, 1000), 0); /* retry: success, nothing new */
  uint8_t *e = pattern(1000, 2);
  assert_int_equal(put(f->s, 5, 1, e, 1000), DFS_EEXIST);
  chunk_info *fresh;
  size_t n;
  assert_int_equal(chunk_store_take_new(f->s, &fresh, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(fresh[0].id, 5);
  free(fresh);
  assert_int_equal(chunk_store_take_new(f->s, &fresh, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(put(f->s, 6, 1, d, 1000), 0);
  assert_int_equal(chunk_store_delete(f->s, 6), 0); /* deleted before the heartbeat */
  assert_int_equal(chunk_store_take_new(f->s, &fresh, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(put(f->s, 5, 2, e, 1000), 0);
  assert_int_equal(put(f->s, 5, 1, d, 1000), DFS_ESTALE);
  char path[4096];
  assert_int_equal(chunk_store_path(f->s, 5, 2, path, sizeof path), 0);
  assert_int_equal(access(path, F_OK), 0);
  assert_int_equal(chunk_store_delete(f->s, 5), 0);
  assert_int_equal(access(path, F_OK), -1);
  assert_int_equal(chunk_store_delete(f->s, 5), DFS_ENOCHUNK);
  chunk_buf base;
  const uint8_t *data;
  uint32_t len;
  assert_int_equal(chunk_store_read(f->s, 5, 2, 0, 0, &base, &data, &len, NULL), DFS_ENOCHUNK);
  reopen(f);
  assert_int_equal(chunk_store_lookup(f->s, 5, &(chunk_info){0}), DFS_ENOCHUNK);
  free(d);
  free(e);
}

static void test_lock_and_capacity(void **state) {
  fixture *f = *state;
  chunk_store *other;
  char err[256];
  assert_int_equal(chunk_store_open(f->dir, 0, &other, err, sizeof err), DFS_EBUSY);
  assert_non_null(strstr(err, "another chunkd"));
  chunk_store_close(f->s);
  assert_int_equal(chunk_store_open(f->dir, 3 * (CHUNK_HDR_SIZE + 1000), &f->s, err, sizeof err),
                   0);
  uint8_t *d = pattern(1000, 4);
  assert_int_equal(put(f->s, 1, 1, d, 1000), 0);
  assert_int_equal(put(f->s, 2, 1, d, 1000), 0);
  assert_int_equal(put(f->s, 3, 1, d, 1000), 0);
  assert_int_equal(put(f->s, 4, 1, d, 1000), DFS_ENOSPACE);
  chunk_store_stats st;
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.capacity_bytes, 3 * (CHUNK_HDR_SIZE + 1000));
  assert_int_equal(st.free_bytes, 0);
  free(d);
}

struct writer {
  chunk_store *s;
  unsigned t;
  int failures;
};

static void *writer_main(void *arg) {
  struct writer *w = arg;
  for (unsigned i = 0; i < 16; i++) {
    uint64_t id = (uint64_t)w->t << 32 | i;
    uint32_t len = 1000 + 4099 * i;
    uint8_t *d = pattern(len, (unsigned)id);
    if (put(w->s, id, 1, d, len)) w->failures++;
    free(d);
  }
  return NULL;
}

/* Concurrent writers share directory fsyncs (group commit); all chunks land intact. */
static void test_concurrent_writes(void **state) {
  fixture *f = *state;
  enum { NT = 8 };
  pthread_t th[NT];
  struct writer w[NT];
  for (unsigned t = 0; t < NT; t++) {
    w[t] = (struct writer){f->s, t, 0};
    assert_int_equal(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
  }
  for (unsigned t = 0; t < NT; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(w[t].failures, 0);
  }
  reopen(f);
  for (unsigned t = 0; t < NT; t++) {
    for (unsigned i = 0; i < 16; i++) {
      uint64_t id = (uint64_t)t << 32 | i;
      uint32_t len = 1000 + 4099 * i;
      uint8_t *d = pattern(len, (unsigned)id);
      chunk_buf base;
      const uint8_t *data;
      uint32_t n;
      assert_int_equal(chunk_store_read(f->s, id, 1, 0, 0, &base, &data, &n, NULL), 0);
      assert_int_equal(n, len);
      assert_memory_equal(data, d, len);
      chunk_buf_release(&base);
      free(d);
    }
  }
}

static void test_bad_uuid_file(void **state) {
  fixture *f = *state;
  char path[256], err[256];
  chunk_store_close(f->s);
  f->s = NULL;
  snprintf(path, sizeof path, "%s/server.uuid", f->dir);
  FILE *fp = fopen(path, "w");
  fputs("garbage\n", fp);
  fclose(fp);
  assert_int_equal(chunk_store_open(f->dir, 0, &f->s, err, sizeof err), DFS_ECONFIG);
  assert_null(f->s);
  unlink(path);
  assert_int_equal(chunk_store_open(f->dir, 0, &f->s, err, sizeof err), 0);
}

static void test_reserve(void **state) {
  fixture *f = *state;
  char err[256];
  chunk_store_close(f->s);
  assert_int_equal(chunk_store_open(f->dir, 4u << 20, &f->s, err, sizeof err), 0);
  chunk_store_set_limits(f->s, 2 << 20, 5);
  assert_int_equal(chunk_store_reserve(f->s), 2u << 20);
  uint8_t *d = pattern(512 << 10, 7);
  for (uint64_t id = 1; id <= 3; id++) assert_int_equal(put(f->s, id, 1, d, 512 << 10), 0);
  assert_int_equal(put(f->s, 4, 1, d, 512 << 10), DFS_ENOSPACE);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->s, 4, &ci), DFS_ENOCHUNK);
  chunk_store_stats st;
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.reserve_bytes, 2u << 20);
  assert_int_equal(st.io_errors, 0);
  assert_int_equal(st.disk_failing, 0);
  /* defaults: 1% of the capacity, at least 64 MiB unless that is over a tenth of it */
  const struct {
    uint64_t cap, want;
  } defs[] = {{10ull << 30, (10ull << 30) / 100}, {1ull << 30, 64u << 20}, {100u << 20, (100u << 20) / 100}};
  for (size_t i = 0; i < 3; i++) {
    chunk_store_close(f->s);
    assert_int_equal(chunk_store_open(f->dir, defs[i].cap, &f->s, err, sizeof err), 0);
    chunk_store_set_limits(f->s, -1, 5);
    assert_int_equal(chunk_store_reserve(f->s), defs[i].want);
  }
  free(d);
}

static void test_delete_version_and_mark_fresh(void **state) {
  fixture *f = *state;
  uint8_t *d = pattern(1000, 3);
  chunk_info *fresh;
  size_t n;
  assert_int_equal(put(f->s, 9, 2, d, 1000), 0);
  assert_int_equal(chunk_store_take_new(f->s, &fresh, &n), 0);
  free(fresh);
  assert_int_equal(chunk_store_delete_version(f->s, 9, 1), DFS_ENOCHUNK);
  assert_int_equal(chunk_store_mark_fresh(f->s, 9), 0);
  assert_int_equal(chunk_store_take_new(f->s, &fresh, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(fresh[0].id, 9);
  free(fresh);
  assert_int_equal(chunk_store_delete_version(f->s, 9, 2), 0);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->s, 9, &ci), DFS_ENOCHUNK);
  assert_int_equal(chunk_store_mark_fresh(f->s, 9), DFS_ENOCHUNK);
  char path[512];
  assert_int_equal(chunk_store_path(f->s, 9, 2, path, sizeof path), 0);
  assert_int_equal(access(path, F_OK), -1);
  free(d);
}

#ifdef DFS_FAULT_HOOKS
static int tmp_files(const fixture *f) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls -A %s/tmp | wc -l", f->dir);
  FILE *p = popen(cmd, "r");
  int n = -1;
  if (p) {
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
  }
  return n;
}

static void test_fault_eio_until_failing(void **state) {
  fixture *f = *state;
  char err[256];
  chunk_store_set_limits(f->s, 0, 3);
  uint8_t *d = pattern(70000, 5);
  assert_int_equal(put(f->s, 1, 1, d, 70000), 0);
  assert_int_equal(dfs_fault_set("disk_read_eio", "1", err, sizeof err), 0);
  chunk_buf b;
  const uint8_t *p;
  uint32_t n;
  chunk_store_stats st;
  for (int i = 1; i <= 3; i++) {
    assert_int_equal(chunk_store_read(f->s, 1, 1, 0, 0, &b, &p, &n, NULL), DFS_EIO);
    assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
    assert_int_equal(st.io_errors, (uint64_t)i);
    assert_int_equal(st.disk_failing, i >= 3);
  }
  dfs_fault_reset();
  assert_int_equal(chunk_store_read(f->s, 1, 1, 0, 0, &b, &p, &n, NULL), 0);
  assert_memory_equal(p, d, 70000);
  chunk_buf_release(&b);
  /* write EIO: counted too, no temp file, nothing indexed */
  assert_int_equal(dfs_fault_set("disk_write_eio", "once:1", err, sizeof err), 0);
  assert_int_equal(put(f->s, 2, 1, d, 70000), DFS_EIO);
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.io_errors, 4);
  assert_int_equal(tmp_files(f), 0);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->s, 2, &ci), DFS_ENOCHUNK);
  dfs_fault_reset();
  free(d);
}

static void test_fault_enospc_write(void **state) {
  fixture *f = *state;
  char err[256];
  uint8_t *d = pattern(200000, 6);
  assert_int_equal(dfs_fault_set("disk_write_enospc", "once:1", err, sizeof err), 0);
  assert_int_equal(put(f->s, 3, 1, d, 200000), DFS_ENOSPACE);
  assert_int_equal(tmp_files(f), 0);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->s, 3, &ci), DFS_ENOCHUNK);
  assert_int_equal(put(f->s, 3, 1, d, 200000), 0); /* once: the retry works */
  assert_int_equal(chunk_store_lookup(f->s, 3, &ci), 0);
  dfs_fault_reset();
  free(d);
}

static void test_fault_corrupt_read(void **state) {
  fixture *f = *state;
  char err[256];
  uint8_t *d = pattern(300000, 8);
  assert_int_equal(put(f->s, 4, 3, d, 300000), 0);
  assert_int_equal(put(f->s, 5, 1, d, 300000), 0);
  assert_int_equal(dfs_fault_set("corrupt_read", "once:1", err, sizeof err), 0);
  chunk_buf b;
  const uint8_t *p;
  uint32_t n;
  assert_int_equal(chunk_store_read(f->s, 4, 3, 65536, 1000, &b, &p, &n, NULL), DFS_ECHECKSUM);
  assert_int_equal(chunk_store_read(f->s, 5, 1, 0, 0, &b, &p, &n, NULL), 0);
  chunk_buf_release(&b);
  chunk_ref *bad;
  size_t nbad;
  assert_int_equal(chunk_store_take_bad(f->s, &bad, &nbad), 0);
  assert_int_equal(nbad, 1);
  assert_int_equal(bad[0].id, 4);
  assert_int_equal(bad[0].version, 3);
  free(bad);
  assert_int_equal(chunk_store_take_bad(f->s, &bad, &nbad), 0);
  assert_int_equal(nbad, 0);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->s, 4, &ci), DFS_ENOCHUNK);
  dfs_fault_reset();
  free(d);
}
#endif

int main(void) {
  dfs_log_init("test", DFS_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_sizes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ranged_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corruption_detected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quarantine_bounded, setup, teardown),
      cmocka_unit_test(test_crc_from_blocks),
      cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scan_rebuilds_and_discards, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_and_idempotent_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lock_and_capacity, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_uuid_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_writes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_version_and_mark_fresh, setup, teardown),
#ifdef DFS_FAULT_HOOKS
      cmocka_unit_test_setup_teardown(test_fault_eio_until_failing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fault_enospc_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fault_corrupt_read, setup, teardown),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
