/* Path validation (server side) and normalisation (client side). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "common/errors.h"
#include "common/path.h"

static void test_check(void **state) {
  assert_int_equal(dfs_path_check("/", NULL), 0);
  assert_int_equal(dfs_path_check("/a/b c/d", NULL), 0);
  assert_int_equal(dfs_path_check("/h\xc3\xa9llo/\xe6\x97\xa5\xe6\x9c\xac", NULL), 0);
  const char *bad[] = {"", "a", "/a/", "//a", "/a//b", "/.", "/a/..", "/a/./b", "/a\nb",
                       "/\x7f", "/\xc3", "/\xc0\xaf", "/\xed\xa0\x80", "/a\tb"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    const char *why = NULL;
    assert_int_equal(dfs_path_check(bad[i], &why), DFS_EBADPATH);
    assert_non_null(why);
  }
  char longname[300];
  memset(longname, 'x', sizeof longname);
  longname[0] = '/';
  longname[299] = '\0';
  assert_int_equal(dfs_path_check(longname, NULL), DFS_EBADPATH);
  longname[256] = '\0';
  assert_int_equal(dfs_path_check(longname, NULL), 0);
}

static void expect_norm(const char *cwd, const char *in, const char *want) {
  char out[DFS_PATH_MAX + 1];
  assert_int_equal(dfs_path_normalize(cwd, in, out, sizeof out), 0);
  assert_string_equal(out, want);
}

static void test_normalize(void **state) {
  expect_norm(NULL, "/", "/");
  expect_norm(NULL, "a/b", "/a/b");
  expect_norm("/home/u", "x", "/home/u/x");
  expect_norm("/home/u", "../v/./y/", "/home/v/y");
  expect_norm("/", "../../..", "/");
  expect_norm("/a", "/b//c/", "/b/c");
  char out[DFS_PATH_MAX + 1];
  assert_int_equal(dfs_path_normalize(NULL, "/a\x01", out, sizeof out), DFS_EBADPATH);
  char small[4];
  assert_int_equal(dfs_path_normalize(NULL, "/abcdef", small, sizeof small), DFS_ETOOBIG);
}

static void test_split(void **state) {
  char parent[DFS_PATH_MAX + 1];
  assert_string_equal(dfs_path_split("/a/b/c", parent), "c");
  assert_string_equal(parent, "/a/b");
  assert_string_equal(dfs_path_split("/a", parent), "a");
  assert_string_equal(parent, "/");
  assert_null(dfs_path_split("/", parent));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_normalize),
      cmocka_unit_test(test_split),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
