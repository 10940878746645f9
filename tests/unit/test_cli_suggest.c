/* Suggestions for mistyped commands and hdfs habits (src/cli/suggest.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/commands.h"
#include "cli/suggest.h"

static void test_edit_distance(void **state) {
  (void)state;
  assert_int_equal(cli_edit_distance("ls", "ls", 2), 0);
  assert_int_equal(cli_edit_distance("lss", "ls", 2), 1);
  assert_int_equal(cli_edit_distance("sl", "ls", 2), 1); /* a transposition is one edit */
  assert_int_equal(cli_edit_distance("", "put", 5), 3);
  assert_int_equal(cli_edit_distance("abcdef", "uvwxyz", 2), 3); /* capped at cap + 1 */
  char longer[64];
  memset(longer, 'a', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  assert_int_equal(cli_edit_distance(longer, "ls", 2), 3); /* too long to be a typo */
}

static void test_suggest_command(void **state) {
  (void)state;
  assert_string_equal(cli_suggest_command("lss"), "ls");
  assert_string_equal(cli_suggest_command("sl"), "ls");
  assert_string_equal(cli_suggest_command("tuch"), "touch");
  assert_string_equal(cli_suggest_command("serach"), "search");
  assert_string_equal(cli_suggest_command("shel"), "shell");
  assert_string_equal(cli_suggest_command("logi"), "login");
  assert_null(cli_suggest_command("frobnicate"));
  assert_null(cli_suggest_command(""));
  assert_null(cli_suggest_command("x"));
}

static void test_hdfs_habits(void **state) {
  (void)state;
  assert_string_equal(cli_hdfs_command("-ls"), "ls");
  assert_string_equal(cli_hdfs_command("-put"), "put");
  assert_string_equal(cli_hdfs_command("-copyFromLocal"), "put");
  assert_string_equal(cli_hdfs_command("-copyToLocal"), "get");
  assert_string_equal(cli_hdfs_command("-touchz"), "touch");
  assert_null(cli_hdfs_command("--ls")); /* a long option is not the habit */
  assert_null(cli_hdfs_command("-"));
  assert_null(cli_hdfs_command("ls"));
  assert_null(cli_hdfs_command("-nosuch"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_edit_distance),
      cmocka_unit_test(test_suggest_command),
      cmocka_unit_test(test_hdfs_habits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
