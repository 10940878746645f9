/* dfs CLI: the pure parts of remote glob expansion (remote_glob.c): which arguments are
 * patterns and how a literal loses its escapes. The expansion against metad is covered
 * by tests/integration/test_remote_glob.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "cli/remote_glob.h"

static void test_has_magic(void **state) {
  (void)state;
  assert_int_equal(cli_glob_has_magic("/photos/a.jpg"), 0);
  assert_int_equal(cli_glob_has_magic("/photos/*.jpg"), 1);
  assert_int_equal(cli_glob_has_magic("/logs/2026-0?"), 1);
  assert_int_equal(cli_glob_has_magic("/a/[ab].txt"), 1);
  assert_int_equal(cli_glob_has_magic("/a/[!a]*"), 1);
  assert_int_equal(cli_glob_has_magic("/a/*/x.txt"), 1);
  /* a '[' without a ']' is literal, as for fnmatch */
  assert_int_equal(cli_glob_has_magic("/a/[x"), 0);
  assert_int_equal(cli_glob_has_magic("/a/[]"), 0);
  /* escaped: literal */
  assert_int_equal(cli_glob_has_magic("/lit/\\*"), 0);
  assert_int_equal(cli_glob_has_magic("/lit/a\\?b\\[c]"), 0);
  assert_int_equal(cli_glob_has_magic("/lit/\\\\*"), 1); /* an escaped backslash, then * */
  assert_int_equal(cli_glob_has_magic("/lit/trailing\\"), 0);
  assert_int_equal(cli_glob_has_magic(""), 0);
}

static void test_unescape(void **state) {
  (void)state;
  char s[64];
  strcpy(s, "/lit/\\*");
  cli_glob_unescape(s);
  assert_string_equal(s, "/lit/*");
  strcpy(s, "/a\\?b\\[c\\]d\\\\e");
  cli_glob_unescape(s);
  assert_string_equal(s, "/a?b[c]d\\e");
  /* any other backslash stays: names with one keep working as typed */
  strcpy(s, "/dos\\path\\");
  cli_glob_unescape(s);
  assert_string_equal(s, "/dos\\path\\");
  strcpy(s, "/plain");
  cli_glob_unescape(s);
  assert_string_equal(s, "/plain");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_has_magic),
      cmocka_unit_test(test_unescape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
