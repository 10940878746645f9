/* common/fault: value parsing (N, every:N, once:N, off), the counting of each mode,
 * drop_msg/delay_msg, the fault file (reset on change, comments, bad lines) and the
 * refusal of fault keys in builds without DFS_FAULT_HOOKS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/fault.h"

#ifdef DFS_FAULT_HOOKS
static char err[256];

static void hits(enum dfs_fault_point p, int n, char *out) {
  for (int i = 0; i < n; i++) out[i] = DFS_FAULT_HIT(p) ? 'x' : '.';
  out[n] = '\0';
}

static void test_modes(void **state) {
  char got[16];
  dfs_fault_reset();
  hits(DFS_FAULT_DISK_READ_EIO, 6, got);
  assert_string_equal(got, "......");
  assert_int_equal(dfs_fault_set("fault.disk_read_eio", "3", err, sizeof err), 0);
  hits(DFS_FAULT_DISK_READ_EIO, 6, got);
  assert_string_equal(got, "..xxxx");
  assert_int_equal(dfs_fault_set("disk_write_eio", "every:2", err, sizeof err), 0);
  hits(DFS_FAULT_DISK_WRITE_EIO, 6, got);
  assert_string_equal(got, ".x.x.x");
  assert_int_equal(dfs_fault_set("corrupt_read", "once:2", err, sizeof err), 0);
  hits(DFS_FAULT_CORRUPT_READ, 6, got);
  assert_string_equal(got, ".x....");
  /* setting again restarts the count */
  assert_int_equal(dfs_fault_set("corrupt_read", "once:1", err, sizeof err), 0);
  hits(DFS_FAULT_CORRUPT_READ, 3, got);
  assert_string_equal(got, "x..");
  assert_int_equal(dfs_fault_set("disk_read_eio", "off", err, sizeof err), 0);
  hits(DFS_FAULT_DISK_READ_EIO, 3, got);
  assert_string_equal(got, "...");
  hits(DFS_FAULT_DISK_WRITE_ENOSPC, 3, got);
  assert_string_equal(got, "...");
  dfs_fault_reset();
  hits(DFS_FAULT_DISK_WRITE_EIO, 4, got);
  assert_string_equal(got, "....");
}

static void test_bad_values(void **state) {
  const char *bad[][2] = {{"disk_read_eio", "-1"}, {"disk_read_eio", "x"},
                          {"disk_read_eio", "every:0"}, {"disk_read_eio", "once:"},
                          {"drop_msg", "70000"}, {"delay_msg", "204"},
                          {"delay_msg", ":5"}, {"delay_msg", "204:x"}, {"nosuch", "1"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(dfs_fault_set(bad[i][0], bad[i][1], err, sizeof err), DFS_EINVAL);
    assert_true(strlen(err) > 0);
  }
}

static void test_msg_hooks(void **state) {
  dfs_fault_reset();
  assert_int_equal(DFS_FAULT_DROP_MSG(204), 0);
  assert_int_equal(dfs_fault_set("drop_msg", "204", err, sizeof err), 0);
  assert_int_equal(DFS_FAULT_DROP_MSG(204), 1);
  assert_int_equal(DFS_FAULT_DROP_MSG(205), 0);
  assert_int_equal(dfs_fault_set("delay_msg", "302:250", err, sizeof err), 0);
  assert_int_equal(DFS_FAULT_DELAY_MS(302), 250);
  assert_int_equal(DFS_FAULT_DELAY_MS(204), 0);
  assert_int_equal(dfs_fault_set("delay_msg", "0", err, sizeof err), 0);
  assert_int_equal(DFS_FAULT_DELAY_MS(302), 0);
  dfs_fault_reset();
  assert_int_equal(DFS_FAULT_DROP_MSG(204), 0);
}

static void test_config_and_file(void **state) {
  dfs_config *c = dfs_config_new();
  assert_int_equal(dfs_config_set(c, "fault.disk_write_enospc", "1"), 0);
  assert_int_equal(dfs_fault_configure(c, err, sizeof err), 0);
  assert_int_equal(DFS_FAULT_HIT(DFS_FAULT_DISK_WRITE_ENOSPC), 1);
  assert_int_equal(dfs_config_set(c, "fault.drop_msg", "abc"), 0);
  assert_int_equal(dfs_fault_configure(c, err, sizeof err), DFS_EINVAL);
  dfs_config_free(c);

  char path[] = "/tmp/fault-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *text = "# test\n\n disk_read_eio = 2  \nfault.drop_msg=204 # inline\n";
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  assert_int_equal(dfs_fault_load_file(path, err, sizeof err), 1);
  assert_int_equal(DFS_FAULT_HIT(DFS_FAULT_DISK_WRITE_ENOSPC), 0); /* reset first */
  assert_int_equal(DFS_FAULT_HIT(DFS_FAULT_DISK_READ_EIO), 0);
  assert_int_equal(DFS_FAULT_HIT(DFS_FAULT_DISK_READ_EIO), 1);
  assert_int_equal(DFS_FAULT_DROP_MSG(204), 1);
  assert_int_equal(dfs_fault_load_file(path, err, sizeof err), 0); /* unchanged */
  FILE *f = fopen(path, "w");
  fputs("disk_read_eio=1\nbogus line\n", f);
  fclose(f);
  struct timespec ts[2] = {{0, UTIME_NOW}, {12345, 0}}; /* a different mtime for sure */
  utimensat(AT_FDCWD, path, ts, 0);
  assert_int_equal(dfs_fault_load_file(path, err, sizeof err), DFS_EINVAL);
  assert_non_null(strstr(err, "bogus"));
  assert_int_equal(DFS_FAULT_DROP_MSG(204), 0);
  assert_int_equal(DFS_FAULT_HIT(DFS_FAULT_DISK_READ_EIO), 1);
  unlink(path);
  assert_int_equal(dfs_fault_load_file(path, err, sizeof err), 1); /* gone: all off */
  assert_int_equal(DFS_FAULT_HIT(DFS_FAULT_DISK_READ_EIO), 0);
  assert_int_equal(dfs_fault_load_file(path, err, sizeof err), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_modes),
      cmocka_unit_test(test_bad_values),
      cmocka_unit_test(test_msg_hooks),
      cmocka_unit_test(test_config_and_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else /* built without the hooks: they are constant 0 and fault keys are refused */

static void test_compiled_out(void **state) {
  char err[256] = "";
  assert_int_equal(dfs_fault_compiled(), 0);
  assert_int_equal(DFS_FAULT_HIT(DFS_FAULT_DISK_READ_EIO), 0);
  assert_int_equal(dfs_fault_set("fault.disk_read_eio", "1", err, sizeof err), DFS_ECONFIG);
  assert_non_null(strstr(err, "not compiled in"));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_compiled_out)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
