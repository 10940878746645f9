/* dfs CLI pure helpers of issue 4 (shell_util.c): joining a path with the shell's cwd,
 * splitting a shell line into words, completion matching and common prefixes, splitting
 * a partly typed path, JSON escaping, search size/time parsing, human sizes, and the
 * command table (every command has usage, help with an example, and a handler). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/paths.h"
#include "cli/shell_util.h"
#include "common/errors.h"
#include "common/util.h"

static void test_join_cwd(void **state) {
  (void)state;
  char out[64], norm[64];
  assert_int_equal(cli_join_cwd("/a/b", "c", out, sizeof out), 0);
  assert_string_equal(out, "/a/b/c");
  assert_int_equal(cli_join_cwd("/", "c", out, sizeof out), 0);
  assert_string_equal(out, "/c");
  assert_int_equal(cli_join_cwd("/a/b", "/x", out, sizeof out), 0);
  assert_string_equal(out, "/x");
  assert_int_equal(cli_join_cwd("/a/b", "~/x", out, sizeof out), 0);
  assert_string_equal(out, "~/x");
  assert_int_equal(cli_join_cwd("/a/b", "../c/./d", out, sizeof out), 0);
  assert_int_equal(cli_remote_path(NULL, out, norm, sizeof norm), 0);
  assert_string_equal(norm, "/a/c/d");
  assert_int_equal(cli_join_cwd("/a/b", "..", out, sizeof out), 0);
  assert_int_equal(cli_remote_path("bob", out, norm, sizeof norm), 0);
  assert_string_equal(norm, "/a");
  assert_int_equal(cli_join_cwd("/aaaaaaaa", "bbbbbbbb", out, 10), DFS_ETOOBIG);
}

static void test_split_words(void **state) {
  (void)state;
  char line[] = "  put 'my file.txt'  \"a \\\"b\\\"\" x\\ y --mode=600\n";
  char *w[8];
  int n = cli_split_words(line, w, 8);
  assert_int_equal(n, 5);
  assert_string_equal(w[0], "put");
  assert_string_equal(w[1], "my file.txt");
  assert_string_equal(w[2], "a \"b\"");
  assert_string_equal(w[3], "x y");
  assert_string_equal(w[4], "--mode=600");
  char empty[] = "   \t\n";
  assert_int_equal(cli_split_words(empty, w, 8), 0);
  char bad[] = "ls 'unterminated";
  assert_int_equal(cli_split_words(bad, w, 8), DFS_EINVAL);
  char many[] = "a b c";
  assert_int_equal(cli_split_words(many, w, 2), DFS_EINVAL);
  char adj[] = "a''b \"\"";
  assert_int_equal(cli_split_words(adj, w, 8), 2);
  assert_string_equal(w[0], "ab");
  assert_string_equal(w[1], "");
}

/* Which argument of put/get Tab completes from the local disk. */
static void test_completion_local(void **state) {
  char *put0[] = {"put"}, *put1[] = {"put", "a.txt"}, *putopt[] = {"put", "--replicas", "2"},
       *putr[] = {"put", "-r"}, *putdd[] = {"put", "--", "-x"}, *get0[] = {"get"},
       *get1[] = {"get", "/r.txt"}, *getp[] = {"get", "-P", "4", "/r.txt"},
       *get2[] = {"get", "/r", "l"}, *ls[] = {"ls"};
  assert_int_equal(cli_completion_is_local(put0, 1), 1);
  assert_int_equal(cli_completion_is_local(put1, 2), 0);
  assert_int_equal(cli_completion_is_local(putopt, 3), 1);
  assert_int_equal(cli_completion_is_local(putr, 2), 1);
  assert_int_equal(cli_completion_is_local(putdd, 3), 0);
  assert_int_equal(cli_completion_is_local(get0, 1), 0);
  assert_int_equal(cli_completion_is_local(get1, 2), 1);
  assert_int_equal(cli_completion_is_local(getp, 4), 1);
  assert_int_equal(cli_completion_is_local(get2, 3), 0);
  assert_int_equal(cli_completion_is_local(ls, 1), 0);
  assert_int_equal(cli_completion_is_local(ls, 0), 0);
}

static void test_completion(void **state) {
  (void)state;
  assert_true(cli_completion_match("mkdir", "mk"));
  assert_true(cli_completion_match("mkdir", ""));
  assert_false(cli_completion_match("mv", "mk"));
  assert_false(cli_completion_match("m", "mk"));
  const char *c[] = {"report-2026/", "report-old.txt", "reports/"};
  char out[32];
  assert_int_equal(cli_common_prefix(c, 3, out, sizeof out), 6);
  assert_string_equal(out, "report");
  assert_int_equal(cli_common_prefix(c, 1, out, sizeof out), strlen("report-2026/"));
  assert_int_equal(cli_common_prefix(c, 0, out, sizeof out), 0);
  assert_int_equal(cli_common_prefix(c, 3, out, 4), 3);
  assert_string_equal(out, "rep");
  char dir[32], base[32];
  assert_int_equal(cli_split_partial("a/b/fo", dir, sizeof dir, base, sizeof base), 0);
  assert_string_equal(dir, "a/b/");
  assert_string_equal(base, "fo");
  assert_int_equal(cli_split_partial("fo", dir, sizeof dir, base, sizeof base), 0);
  assert_string_equal(dir, "");
  assert_string_equal(base, "fo");
  assert_int_equal(cli_split_partial("/x", dir, sizeof dir, base, sizeof base), 0);
  assert_string_equal(dir, "/");
  assert_string_equal(base, "x");
  assert_int_equal(cli_split_partial("~bob/", dir, sizeof dir, base, sizeof base), 0);
  assert_string_equal(dir, "~bob/");
  assert_string_equal(base, "");
  assert_int_equal(cli_split_partial("abcdef/x", dir, 4, base, sizeof base), DFS_ETOOBIG);
}

static void test_json_escape(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(cli_json_escape("plain", out, sizeof out), 7);
  assert_string_equal(out, "\"plain\"");
  cli_json_escape("a\"b\\c\nd\te\x01", out, sizeof out);
  assert_string_equal(out, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  cli_json_escape("h\xc3\xa9", out, sizeof out); /* UTF-8 passes through */
  assert_string_equal(out, "\"h\xc3\xa9\"");
  /* DEL and C1 controls (U+0085, U+009B CSI) escaped; U+00A0 (0xc2 0xa0) kept */
  cli_json_escape("a\x7f" "b\xc2\x85" "c\xc2\x9b" "d\xc2\xa0", out, sizeof out);
  assert_string_equal(out, "\"a\\u007fb\\u0085c\\u009bd\xc2\xa0\"");
  cli_json_escape(NULL, out, sizeof out);
  assert_string_equal(out, "\"\"");
  /* truncation like snprintf: returns the full length */
  assert_int_equal(cli_json_escape("abcdef", out, 4), 8);
  assert_string_equal(out, "\"ab");
}

static void test_sizes(void **state) {
  (void)state;
  uint64_t v;
  assert_int_equal(cli_parse_size("4096", &v), 0);
  assert_int_equal(v, 4096);
  assert_int_equal(cli_parse_size("10K", &v), 0);
  assert_int_equal(v, 10240);
  assert_int_equal(cli_parse_size("1.5M", &v), 0);
  assert_int_equal(v, 3 << 19);
  assert_int_equal(cli_parse_size("2GiB", &v), 0);
  assert_int_equal(v, 2ull << 30);
  assert_int_equal(cli_parse_size("3mb", &v), 0);
  assert_int_equal(v, 3 << 20);
  assert_int_equal(cli_parse_size("lots", &v), DFS_EINVAL);
  assert_int_equal(cli_parse_size("5X", &v), DFS_EINVAL);
  assert_int_equal(cli_parse_size("-1", &v), DFS_EINVAL);
  char hs[32];
  assert_string_equal(dfs_human_size(0, hs, sizeof hs), "0 B");
  assert_string_equal(dfs_human_size(1 << 20, hs, sizeof hs), "1.0 MiB");
  assert_string_equal(dfs_human_size(50ull << 20, hs, sizeof hs), "50.0 MiB");
}

static void test_times(void **state) {
  (void)state;
  int64_t t, now = dfs_wall_ns();
  assert_int_equal(cli_parse_time("@1700000000", &t), 0);
  assert_true(t == 1700000000LL * 1000000000LL);
  assert_int_equal(cli_parse_time("2h", &t), 0);
  assert_true(now - t >= 7199LL * 1000000000LL && now - t <= 7300LL * 1000000000LL);
  assert_int_equal(cli_parse_time("7d", &t), 0);
  assert_true(now - t >= 7LL * 86400 * 1000000000LL - 1000000000LL);
  assert_int_equal(cli_parse_time("2026-11-22", &t), 0);
  struct tm tm = {.tm_year = 126, .tm_mon = 10, .tm_mday = 22, .tm_isdst = -1};
  assert_true(t == (int64_t)mktime(&tm) * 1000000000LL);
  assert_int_equal(cli_parse_time("2026-11-22T10:30", &t), 0);
  tm = (struct tm){.tm_year = 126, .tm_mon = 10, .tm_mday = 22, .tm_hour = 10, .tm_min = 30, .tm_isdst = -1};
  assert_true(t == (int64_t)mktime(&tm) * 1000000000LL);
  assert_int_equal(cli_parse_time("yesterday", &t), DFS_EINVAL);
  assert_int_equal(cli_parse_time("2026-13-45", &t), DFS_EINVAL);
  assert_int_equal(cli_parse_time("@x", &t), DFS_EINVAL);
}

static void test_command_table(void **state) {
  (void)state;
  size_t n;
  const cli_command *t = cli_commands(&n);
  const char *need[] = {"mkdir", "rmdir", "rm",    "ls",     "tree",   "touch", "cat",
                        "stat",  "info",  "mv",    "cp",     "chmod",  "setrep", "search",
                        "trash", "shell", "put",   "get",    "help"};
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    const cli_command *c = cli_find_command(need[i]);
    assert_non_null(c);
    assert_non_null(c->run);
    assert_int_equal(strncmp(c->usage, need[i], strlen(need[i])), 0);
    assert_non_null(strstr(c->help, "example: "));
  }
  for (size_t i = 0; i < n; i++)
    for (size_t k = i + 1; k < n; k++) assert_string_not_equal(t[i].name, t[k].name);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_join_cwd),    cmocka_unit_test(test_split_words),
      cmocka_unit_test(test_completion),  cmocka_unit_test(test_json_escape),
      cmocka_unit_test(test_completion_local),
      cmocka_unit_test(test_sizes),       cmocka_unit_test(test_times),
      cmocka_unit_test(test_command_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
