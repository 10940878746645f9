/* Unit tests of the shared primitives in src/common: dfs_grow (array.h), the
 * little-endian helpers (bytes.h) and the blocking fd helpers (fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/array.h"
#include "common/bytes.h"
#include "common/fileio.h"

static void test_grow(void **state) {
  (void)state;
  int *v = NULL;
  size_t cap = 0;
  for (size_t n = 0; n < 1000; n++) {
    int *nv = dfs_grow(v, &cap, n + 1, sizeof *v, 16);
    assert_non_null(nv);
    v = nv;
    v[n] = (int)n;
    assert_true(cap >= n + 1);
  }
  assert_int_equal(cap, 1024); /* 16 doubled */
  for (size_t n = 0; n < 1000; n++) assert_int_equal(v[n], (int)n);
  assert_ptr_equal(dfs_grow(v, &cap, 10, sizeof *v, 16), v); /* enough: unchanged */
  /* impossible sizes fail and leave the array alone */
  assert_null(dfs_grow(v, &cap, SIZE_MAX / 2, sizeof *v, 16));
  assert_int_equal(cap, 1024);
  assert_int_equal(v[999], 999);
  free(v);
}

static void test_le(void **state) {
  (void)state;
  uint8_t b[8];
  dfs_put_le32(b, 0x11223344u);
  assert_int_equal(b[0], 0x44);
  assert_int_equal(b[3], 0x11);
  assert_int_equal(dfs_get_le32(b), 0x11223344u);
  dfs_put_le64(b, 0x0102030405060708ull);
  assert_int_equal(b[0], 0x08);
  assert_int_equal(b[7], 0x01);
  assert_true(dfs_get_le64(b) == 0x0102030405060708ull);
}

static void test_fileio(void **state) {
  (void)state;
  char dir[] = "/tmp/dfs-prim-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], nested[256];
  snprintf(path, sizeof path, "%s/f", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  char big[100000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 7);
  assert_int_equal(dfs_write_all(fd, big, sizeof big), 0);
  struct iovec iov[2] = {{big, 10}, {big + 10, 20}};
  assert_int_equal(dfs_writev_all(fd, iov, 2), 0);
  char back[30];
  assert_int_equal(dfs_pread_all(fd, back, 30, sizeof big), 0);
  assert_memory_equal(back, big, 30);
  assert_int_equal(dfs_pread_all(fd, back, 30, sizeof big + 10), -ENODATA); /* past the end */
  close(fd);
  snprintf(nested, sizeof nested, "%s/a/b/c", dir);
  assert_int_equal(dfs_mkdir_p(nested, 0700), 0);
  assert_int_equal(dfs_mkdir_p(nested, 0700), 0); /* already there */
  struct stat st;
  assert_int_equal(stat(nested, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  snprintf(nested, sizeof nested, "%s/f/x", dir); /* under a file */
  assert_int_equal(dfs_mkdir_p(nested, 0700), -ENOTDIR);
  assert_int_equal(dfs_mkdir_p(path, 0700), -ENOTDIR);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grow),
      cmocka_unit_test(test_le),
      cmocka_unit_test(test_fileio),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
