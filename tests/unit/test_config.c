/* YAML config flattening, overrides and typed getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"

static void test_flatten(void **state) {
  dfs_config *c = dfs_config_new();
  char err[256];
  assert_int_equal(dfs_config_load_string(c,
      "listen:\n  host: 127.0.0.1\n  port: 9400\n"
      "peers:\n  - a:1\n  - b:2\n"
      "heartbeat: 250ms\ncapacity: 2G\nverbose: yes\n", err, sizeof err), 0);
  assert_string_equal(dfs_config_str(c, "listen.host", NULL), "127.0.0.1");
  assert_string_equal(dfs_config_str(c, "peers.1", NULL), "b:2");
  assert_null(dfs_config_str(c, "listen", NULL));
  int64_t v;
  assert_int_equal(dfs_config_int(c, "listen.port", 0, &v, err, sizeof err), 0);
  assert_int_equal(v, 9400);
  assert_int_equal(dfs_config_int(c, "capacity", 0, &v, err, sizeof err), 0);
  assert_true(v == 2LL * 1024 * 1024 * 1024);
  assert_int_equal(dfs_config_ms(c, "heartbeat", 0, &v, err, sizeof err), 0);
  assert_int_equal(v, 250);
  assert_int_equal(dfs_config_ms(c, "missing", 77, &v, err, sizeof err), 0);
  assert_int_equal(v, 77);
  int b;
  assert_int_equal(dfs_config_bool(c, "verbose", 0, &b, err, sizeof err), 0);
  assert_int_equal(b, 1);
  assert_int_equal(dfs_config_set_kv(c, "listen.port=9500"), 0);
  assert_int_equal(dfs_config_int(c, "listen.port", 0, &v, err, sizeof err), 0);
  assert_int_equal(v, 9500);
  dfs_config_free(c);
}

static void test_errors(void **state) {
  dfs_config *c = dfs_config_new();
  char err[256] = "";
  assert_int_equal(dfs_config_load_string(c, "a: [1, 2\n", err, sizeof err), DFS_ECONFIG);
  assert_true(strlen(err) > 0);
  assert_int_equal(dfs_config_load_string(c, "port: 12x\nd: 5 parsecs\n", err, sizeof err), 0);
  int64_t v;
  assert_int_equal(dfs_config_int(c, "port", 0, &v, err, sizeof err), DFS_ECONFIG);
  assert_non_null(strstr(err, "port"));
  assert_int_equal(dfs_config_ms(c, "d", 0, &v, err, sizeof err), DFS_ECONFIG);
  assert_int_equal(dfs_config_set_kv(c, "novalue"), DFS_EINVAL);
  assert_int_equal(dfs_config_load_file(c, "/nonexistent/x.yaml", err, sizeof err), DFS_ECONFIG);
  assert_non_null(strstr(err, "/nonexistent/x.yaml"));
  dfs_config_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flatten),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
