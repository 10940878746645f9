/* dfs CLI: metad address resolution order (--meta, $DFS_META, config file, default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_config.h"
#include "common/errors.h"

static char dir[64];
static char cfg[128];

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/cli-cfgtest-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(cfg, sizeof cfg, "%s/dfs.yaml", dir);
  return 0;
}

static int teardown(void **state) {
  unlink(cfg);
  rmdir(dir);
  return 0;
}

static void write_cfg(const char *text) {
  FILE *f = fopen(cfg, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_order(void **state) {
  char out[300], err[256];
  const char *src;
  write_cfg("meta: 10.0.0.1:7000\n");
  assert_int_equal(cli_resolve_meta("h:1", "e:2", cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "h:1");
  assert_string_equal(src, "--meta");
  assert_int_equal(cli_resolve_meta(NULL, "e:2", cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "e:2");
  assert_int_equal(cli_resolve_meta(NULL, "", cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "10.0.0.1:7000");
  assert_int_equal(cli_resolve_meta(NULL, NULL, cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "10.0.0.1:7000");
  assert_int_equal(cli_resolve_meta(NULL, NULL, "/nonexistent/dfs.yaml", out, sizeof out, &src,
                                    err, sizeof err), 0);
  assert_string_equal(out, CLI_DEFAULT_META);
  assert_int_equal(cli_resolve_meta(NULL, NULL, NULL, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "127.0.0.1:9400");
}

static void test_file_without_meta(void **state) {
  char out[300], err[256];
  write_cfg("# nothing here\nother: 1\n");
  assert_int_equal(cli_resolve_meta(NULL, NULL, cfg, out, sizeof out, NULL, err, sizeof err), 0);
  assert_string_equal(out, CLI_DEFAULT_META);
}

static void test_bad_values(void **state) {
  char out[300], err[256];
  assert_int_equal(cli_resolve_meta("nocolon", NULL, NULL, out, sizeof out, NULL, err, sizeof err),
                   DFS_EINVAL);
  assert_non_null(strstr(err, "--meta"));
  assert_int_equal(cli_resolve_meta(NULL, "h:0", NULL, out, sizeof out, NULL, err, sizeof err),
                   DFS_EINVAL);
  assert_non_null(strstr(err, "DFS_META"));
  write_cfg("meta: [unclosed\n");
  assert_int_equal(cli_resolve_meta(NULL, NULL, cfg, out, sizeof out, NULL, err, sizeof err),
                   DFS_ECONFIG);
  write_cfg("meta: host:99999\n");
  assert_int_equal(cli_resolve_meta(NULL, NULL, cfg, out, sizeof out, NULL, err, sizeof err),
                   DFS_EINVAL);
}

static void test_config_path(void **state) {
  char p[256];
  assert_int_equal(cli_config_path("/x", "/home/u", p, sizeof p), 0);
  assert_string_equal(p, "/x/dfs/dfs.yaml");
  assert_int_equal(cli_config_path("", "/home/u", p, sizeof p), 0);
  assert_string_equal(p, "/home/u/.config/dfs/dfs.yaml");
  assert_int_equal(cli_config_path(NULL, "/home/u", p, sizeof p), 0);
  assert_string_equal(p, "/home/u/.config/dfs/dfs.yaml");
  assert_int_equal(cli_config_path(NULL, NULL, p, sizeof p), DFS_ENOENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order),
      cmocka_unit_test(test_file_without_meta),
      cmocka_unit_test(test_bad_values),
      cmocka_unit_test(test_config_path),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
