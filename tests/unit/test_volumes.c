/* Small chunks packed into volume files (chunk_store with pack_max, volumes.c): round
 * trips of 0..64 KiB and the 64 KiB + 1 boundary (a file of its own), ranged reads,
 * replacement by a newer version, deletes that survive a restart (delete records),
 * concurrent writers sharing fdatasyncs, a torn tail and garbage inside a volume skipped
 * by the scan, a flipped data byte found by the read (quarantined and reported), and
 * compaction: a mostly-deleted volume is copied out and its file deleted, the survivors
 * read back byte-exact before and after a restart, and a corrupt record met by the
 * compaction is quarantined instead of copied; a chunk file of the same version as a
 * deleted packed record (packing turned off in between) survives the scan.
 * Data lives in a fresh mkdtemp directory per test, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunkd/chunk_store.h"
#include "chunkd/volumes.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/log.h"
#include "chunk_data.h"

typedef struct {
  char dir[64];
  chunk_store *s;
} fixture;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static void open_store(fixture *f) {
  char err[256];
  assert_int_equal(chunk_store_open(f->dir, 0, &f->s, err, sizeof err), 0);
  chunk_store_set_pack_max(f->s, 64 << 10);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/chunkd-vol-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  open_store(f);
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
  chunk_store_close(f->s);
  f->s = NULL;
  open_store(f);
}

/* Reads the whole chunk and compares it with pattern(len, seed). */
static void expect(chunk_store *s, uint64_t id, uint64_t ver, uint32_t len, unsigned seed) {
  chunk_buf b;
  const uint8_t *p;
  uint32_t n, crc;
  uint8_t *want = pattern(len, seed);
  assert_int_equal(chunk_store_read(s, id, ver, 0, 0, &b, &p, &n, &crc), 0);
  assert_int_equal(n, len);
  assert_memory_equal(p, want, len);
  assert_int_equal(crc, dfs_crc32c(0, want, len));
  chunk_buf_release(&b);
  free(want);
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static int chunk_files(fixture *f) { /* files in chunks/XX over all XX */
  char p[256];
  int n = 0;
  for (unsigned xx = 0; xx < 256; xx++) {
    snprintf(p, sizeof p, "%s/chunks/%02x", f->dir, xx);
    n += count_files(p);
  }
  return n;
}

static void test_round_trips_and_boundary(void **state) {
  fixture *f = *state;
  static const uint32_t sizes[] = {0, 1, 100, 4096, 65535, 65536, 65537, 200000};
  for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    uint8_t *d = pattern(sizes[i], i);
    assert_int_equal(put(f->s, 100 + i, 1, d, sizes[i]), 0);
    free(d);
  }
  for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) expect(f->s, 100 + i, 1, sizes[i], i);
  assert_int_equal(chunk_files(f), 2); /* only 65537 and 200000 bytes got files */
  char vol[256];
  snprintf(vol, sizeof vol, "%s/vol", f->dir);
  assert_int_equal(count_files(vol), 1);
  /* a ranged read inside a packed chunk, and its CRC */
  chunk_buf b;
  const uint8_t *p;
  uint32_t n, crc;
  uint8_t *want = pattern(4096, 3);
  assert_int_equal(chunk_store_read(f->s, 103, 1, 1000, 10, &b, &p, &n, &crc), 0);
  assert_int_equal(n, 10);
  assert_memory_equal(p, want + 1000, 10);
  assert_int_equal(crc, dfs_crc32c(0, want + 1000, 10));
  chunk_buf_release(&b);
  free(want);
  assert_int_equal(chunk_store_read(f->s, 103, 1, 4000, 200, &b, &p, &n, &crc), DFS_EINVAL);
  assert_int_equal(chunk_store_read(f->s, 103, 2, 0, 0, &b, &p, &n, &crc), DFS_ESTALE);
  /* idempotent rewrite; a different CRC for the same version is refused */
  uint8_t *d = pattern(4096, 3);
  assert_int_equal(put(f->s, 103, 1, d, 4096), 0);
  d[0] ^= 1;
  assert_int_equal(put(f->s, 103, 1, d, 4096), DFS_EEXIST);
  free(d);
  /* everything is still there after a restart */
  reopen(f);
  for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) expect(f->s, 100 + i, 1, sizes[i], i);
  chunk_store_stats st;
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.chunk_count, sizeof sizes / sizeof *sizes);
}

static void test_versions_and_deletes_survive_restart(void **state) {
  fixture *f = *state;
  for (unsigned i = 0; i < 20; i++) {
    uint8_t *d = pattern(3000 + i, i);
    assert_int_equal(put(f->s, i + 1, 1, d, 3000 + i), 0);
    free(d);
  }
  /* a newer version (packed) replaces; one grows into a file of its own */
  uint8_t *d = pattern(5000, 77);
  assert_int_equal(put(f->s, 1, 2, d, 5000), 0);
  free(d);
  d = pattern(100000, 78);
  assert_int_equal(put(f->s, 2, 2, d, 100000), 0);
  free(d);
  d = pattern(10, 79); /* an older version than stored */
  assert_int_equal(put(f->s, 1, 1, d, 10), DFS_ESTALE);
  free(d);
  assert_int_equal(chunk_store_delete(f->s, 3), 0);
  assert_int_equal(chunk_store_delete_version(f->s, 4, 1), 0);
  assert_int_equal(chunk_store_delete_version(f->s, 5, 9), DFS_ENOCHUNK);
  assert_int_equal(chunk_store_quarantine(f->s, 6, 1), 0);
  chunk_ref *bad;
  size_t nbad;
  assert_int_equal(chunk_store_take_bad(f->s, &bad, &nbad), 0);
  assert_int_equal(nbad, 1);
  assert_int_equal(bad[0].id, 6);
  free(bad);
  for (int round = 0; round < 2; round++) {
    chunk_info ci;
    assert_int_equal(chunk_store_lookup(f->s, 3, &ci), DFS_ENOCHUNK);
    assert_int_equal(chunk_store_lookup(f->s, 4, &ci), DFS_ENOCHUNK);
    assert_int_equal(chunk_store_lookup(f->s, 6, &ci), DFS_ENOCHUNK);
    assert_int_equal(chunk_store_lookup(f->s, 1, &ci), 0);
    assert_int_equal(ci.version, 2);
    expect(f->s, 1, 2, 5000, 77);
    expect(f->s, 2, 2, 100000, 78);
    expect(f->s, 5, 1, 3004, 4);
    expect(f->s, 20, 1, 3019, 19);
    chunk_store_stats st;
    assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
    assert_int_equal(st.chunk_count, 17);
    reopen(f); /* the delete records and versions hold after a restart */
  }
}

struct writer {
  chunk_store *s;
  unsigned base;
};

static void *write_many(void *arg) {
  struct writer *w = arg;
  for (unsigned i = 0; i < 200; i++) {
    uint8_t *d = pattern(4096, w->base + i);
    int rc = put(w->s, w->base + i, 1, d, 4096);
    free(d);
    if (rc) return (void *)1;
  }
  return NULL;
}

static void test_concurrent_writers(void **state) {
  fixture *f = *state;
  pthread_t t[8];
  struct writer w[8];
  for (unsigned i = 0; i < 8; i++) {
    w[i] = (struct writer){f->s, 1000 * (i + 1)};
    pthread_create(&t[i], NULL, write_many, &w[i]);
  }
  for (unsigned i = 0; i < 8; i++) {
    void *r;
    pthread_join(t[i], &r);
    assert_null(r);
  }
  reopen(f);
  for (unsigned i = 0; i < 8; i++)
    for (unsigned k = 0; k < 200; k += 17) expect(f->s, 1000 * (i + 1) + k, 1, 4096, 1000 * (i + 1) + k);
  chunk_store_stats st;
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.chunk_count, 1600);
}

static void volume_path(fixture *f, char *p, size_t n) {
  snprintf(p, n, "%s/vol/00000001.vol", f->dir);
}

static void test_torn_tail_and_garbage_skipped(void **state) {
  fixture *f = *state;
  for (unsigned i = 0; i < 3; i++) {
    uint8_t *d = pattern(1000, i);
    assert_int_equal(put(f->s, i + 1, 1, d, 1000), 0);
    free(d);
  }
  chunk_store_close(f->s);
  f->s = NULL;
  char p[256];
  volume_path(f, p, sizeof p);
  uint64_t rec = vol_rec_size(1000);
  int fd = open(p, O_RDWR);
  assert_true(fd >= 0);
  /* garbage over the first record's header: the scan steps over it to the second */
  static const uint8_t junk[64] = {0xde, 0xad};
  assert_int_equal(pwrite(fd, junk, sizeof junk, 0), 64);
  /* a torn append: a copy of record 2 at the end whose data was cut short */
  uint8_t *whole = malloc(rec);
  assert_int_equal(pread(fd, whole, rec, (off_t)rec), (ssize_t)rec);
  assert_int_equal(pwrite(fd, whole, rec / 2, (off_t)(3 * rec)), (ssize_t)(rec / 2));
  free(whole);
  close(fd);
  open_store(f);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->s, 1, &ci), DFS_ENOCHUNK); /* its header is gone */
  expect(f->s, 2, 1, 1000, 1);
  expect(f->s, 3, 1, 1000, 2);
  chunk_store_stats st;
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.chunk_count, 2);
  /* new writes go to a new volume, never after the torn tail */
  uint8_t *d = pattern(1000, 9);
  assert_int_equal(put(f->s, 9, 1, d, 1000), 0);
  free(d);
  char vol[256];
  snprintf(vol, sizeof vol, "%s/vol", f->dir);
  assert_int_equal(count_files(vol), 2);
  reopen(f);
  expect(f->s, 9, 1, 1000, 9);
}

static void test_flipped_byte_found_and_reported(void **state) {
  fixture *f = *state;
  for (unsigned i = 0; i < 3; i++) {
    uint8_t *d = pattern(4096, i);
    assert_int_equal(put(f->s, i + 1, 1, d, 4096), 0);
    free(d);
  }
  char p[256];
  volume_path(f, p, sizeof p);
  int fd = open(p, O_RDWR);
  uint8_t b;
  off_t at = (off_t)vol_rec_size(4096) + VOL_REC_HDR + 100; /* record 2's data */
  assert_int_equal(pread(fd, &b, 1, at), 1);
  b ^= 0x40;
  assert_int_equal(pwrite(fd, &b, 1, at), 1);
  close(fd);
  chunk_buf buf;
  const uint8_t *data;
  uint32_t n, crc;
  assert_int_equal(chunk_store_read(f->s, 2, 1, 0, 0, &buf, &data, &n, &crc), DFS_ECHECKSUM);
  chunk_ref *bad;
  size_t nbad;
  assert_int_equal(chunk_store_take_bad(f->s, &bad, &nbad), 0);
  assert_int_equal(nbad, 1);
  assert_int_equal(bad[0].id, 2);
  free(bad);
  chunk_info ci;
  assert_int_equal(chunk_store_lookup(f->s, 2, &ci), DFS_ENOCHUNK);
  /* the scrubber's check finds it the same way */
  at = VOL_REC_HDR + 5; /* record 1's data */
  fd = open(p, O_RDWR);
  assert_int_equal(pread(fd, &b, 1, at), 1);
  b ^= 1;
  assert_int_equal(pwrite(fd, &b, 1, at), 1);
  close(fd);
  uint64_t bytes = 0;
  assert_int_equal(chunk_store_verify(f->s, 1, &bytes), DFS_ECHECKSUM);
  expect(f->s, 3, 1, 4096, 2);
  /* a repair (a copy from another replica) stores it again */
  uint8_t *d = pattern(4096, 1);
  assert_int_equal(put(f->s, 2, 1, d, 4096), 0);
  free(d);
  reopen(f); /* the quarantined copy does not come back, the repaired one does */
  expect(f->s, 2, 1, 4096, 1);
  assert_int_equal(chunk_store_lookup(f->s, 1, &ci), DFS_ENOCHUNK);
}

static void test_compaction(void **state) {
  fixture *f = *state;
  for (unsigned i = 1; i <= 300; i++) {
    uint8_t *d = pattern(2000 + i, i);
    assert_int_equal(put(f->s, i, 1, d, 2000 + i), 0);
    free(d);
  }
  uint64_t moved = 0;
  assert_int_equal(chunk_store_compact(f->s, &moved), 0); /* the active one never is */
  reopen(f); /* volume 1 is now sealed */
  for (unsigned i = 1; i <= 300; i++)
    if (i % 4) assert_int_equal(chunk_store_delete(f->s, i), 0);
  /* one survivor is corrupt on disk: the compaction must not copy it */
  char p[256];
  volume_path(f, p, sizeof p);
  uint64_t off = 0;
  for (unsigned i = 1; i < 8; i++) off += vol_rec_size(2000 + i);
  int fd = open(p, O_RDWR); /* record of id 8, a survivor */
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, (off_t)(off + VOL_REC_HDR + 7)), 1);
  b ^= 2;
  assert_int_equal(pwrite(fd, &b, 1, (off_t)(off + VOL_REC_HDR + 7)), 1);
  close(fd);
  assert_int_equal(chunk_store_compact(f->s, &moved), 1);
  assert_true(moved > 70 * 2000 && moved < 76 * 2200);
  assert_int_equal(access(p, F_OK), -1); /* the compacted file is gone */
  assert_int_equal(chunk_store_compact(f->s, &moved), 0);
  chunk_ref *bad;
  size_t nbad;
  assert_int_equal(chunk_store_take_bad(f->s, &bad, &nbad), 0);
  assert_int_equal(nbad, 1);
  assert_int_equal(bad[0].id, 8);
  free(bad);
  for (int round = 0; round < 2; round++) {
    for (unsigned i = 1; i <= 300; i++) {
      chunk_info ci;
      if (i % 4 || i == 8)
        assert_int_equal(chunk_store_lookup(f->s, i, &ci), DFS_ENOCHUNK);
      else
        expect(f->s, i, 1, 2000 + i, i);
    }
    reopen(f);
  }
  chunk_store_stats st;
  assert_int_equal(chunk_store_stats_get(f->s, &st), 0);
  assert_int_equal(st.chunk_count, 74);
}

/* pack_max turned off between restarts: a chunk deleted as a packed record and stored
 * again (same version) as a file must survive the next scan, which sees the old put
 * record and its delete record after the file. */
static void test_file_after_packed_same_version(void **state) {
  fixture *f = *state;
  uint8_t *d = pattern(3000, 5);
  assert_int_equal(put(f->s, 42, 1, d, 3000), 0);
  assert_int_equal(chunk_store_delete(f->s, 42), 0);
  chunk_store_set_pack_max(f->s, 0);
  assert_int_equal(put(f->s, 42, 1, d, 3000), 0); /* a copy job brings it back */
  free(d);
  assert_int_equal(chunk_files(f), 1);
  for (int round = 0; round < 2; round++) {
    reopen(f); /* packing is on again after a restart here */
    expect(f->s, 42, 1, 3000, 5);
    assert_int_equal(chunk_files(f), 1);
  }
}

int main(void) {
  dfs_log_init("test_volumes", DFS_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trips_and_boundary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_versions_and_deletes_survive_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_tail_and_garbage_skipped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flipped_byte_found_and_reported, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_after_packed_same_version, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
