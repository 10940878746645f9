/* dfs CLI: argument parsing (args.c), put/get destination resolution (paths.c), output
 * helpers (output.c: mode strings, rates), the NOTLEADER redirect parser and the
 * command table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "client/meta_client.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "common/errors.h"

static const cli_opt_spec put_specs[] = {
    {"replicas", 'r', 1}, {"no-clobber", 'n', 0}, {"parallel", 'P', 1}};

static int parse(int argc, char **argv, cli_opt_val *v, const char **pos, size_t *npos) {
  char err[256];
  return cli_parse_args(argc, argv, put_specs, 3, v, pos, 2, npos, err, sizeof err);
}

static void test_args_mixed(void **state) {
  char *argv[] = {"a.txt", "--replicas", "3", "/dst/", "--no-clobber", "--parallel=8"};
  cli_opt_val v[3];
  const char *pos[2];
  size_t npos;
  assert_int_equal(parse(6, argv, v, pos, &npos), 0);
  assert_int_equal(npos, 2);
  assert_string_equal(pos[0], "a.txt");
  assert_string_equal(pos[1], "/dst/");
  assert_true(v[0].present);
  assert_string_equal(v[0].value, "3");
  assert_true(v[1].present);
  assert_null(v[1].value);
  assert_string_equal(v[2].value, "8");
}

static void test_args_short_and_dash(void **state) {
  char *argv[] = {"-nr2", "-", "--", "-weird"};
  cli_opt_val v[3];
  const char *pos[2];
  size_t npos;
  assert_int_equal(parse(4, argv, v, pos, &npos), 0);
  assert_true(v[1].present);
  assert_string_equal(v[0].value, "2");
  assert_int_equal(npos, 2);
  assert_string_equal(pos[0], "-");
  assert_string_equal(pos[1], "-weird");
}

static void test_args_errors(void **state) {
  cli_opt_val v[3];
  const char *pos[2];
  size_t npos;
  char *a1[] = {"--bogus"};
  assert_int_equal(parse(1, a1, v, pos, &npos), DFS_EINVAL);
  char *a2[] = {"--replicas"};
  assert_int_equal(parse(1, a2, v, pos, &npos), DFS_EINVAL);
  char *a3[] = {"x", "y", "z"};
  assert_int_equal(parse(3, a3, v, pos, &npos), DFS_EINVAL);
  char *a4[] = {"--no-clobber=1"};
  assert_int_equal(parse(1, a4, v, pos, &npos), DFS_EINVAL);
  char *a5[] = {"-x"};
  assert_int_equal(parse(1, a5, v, pos, &npos), DFS_EINVAL);
  char *a6[] = {"x", "--help"};
  assert_int_equal(parse(2, a6, v, pos, &npos), CLI_ARGS_HELP);
}

static void test_parse_u64(void **state) {
  uint64_t x;
  assert_int_equal(cli_parse_u64("4", 1, 64, &x), 0);
  assert_int_equal(x, 4);
  assert_int_equal(cli_parse_u64("0", 1, 64, &x), DFS_EINVAL);
  assert_int_equal(cli_parse_u64("65", 1, 64, &x), DFS_EINVAL);
  assert_int_equal(cli_parse_u64("-1", 0, 64, &x), DFS_EINVAL);
  assert_int_equal(cli_parse_u64("3x", 0, 64, &x), DFS_EINVAL);
  assert_int_equal(cli_parse_u64("", 0, 64, &x), DFS_EINVAL);
}

/* Fake "is a directory" oracle: the paths in ud (NULL-terminated list) are directories. */
static int fake_isdir(const char *path, void *ud) {
  for (const char **p = ud; *p; p++)
    if (strcmp(*p, path) == 0) return 1;
  return 0;
}

static int fail_isdir(const char *path, void *ud) { return DFS_ECONN; }

static void expect_put_as(const char *user, const char *local, const char *remote,
                          const char *want) {
  static const char *dirs[] = {"/home/ann", "/d", "/home/ann/d", NULL};
  char out[4200];
  assert_int_equal(cli_put_dest(local, remote, user, fake_isdir, dirs, out, sizeof out), 0);
  assert_string_equal(out, want);
}

static void expect_put(const char *local, const char *remote, const char *want) {
  expect_put_as(NULL, local, remote, want);
}

static void test_put_dest(void **state) {
  expect_put("./x", NULL, "/x");
  expect_put("/tmp/a/photo.jpg", NULL, "/photo.jpg");
  expect_put("photo.jpg", "/home/ann", "/home/ann/photo.jpg");  /* existing dir */
  expect_put("photo.jpg", "/new/", "/new/photo.jpg");           /* trailing slash */
  expect_put("photo.jpg", "/new", "/new");                      /* a file name */
  expect_put("photo.jpg", "d", "/d/photo.jpg");                 /* relative to / */
  expect_put("photo.jpg", "a//b/./c", "/a/b/c");
  expect_put("dir/sub/", "/", "/sub");
  expect_put("x", "/", "/x");
  char out[64];
  assert_int_equal(cli_put_dest("/", NULL, NULL, fake_isdir, (void *)(const char *[]){NULL}, out, sizeof out), DFS_EINVAL);
  assert_int_equal(cli_put_dest("..", NULL, NULL, NULL, NULL, out, sizeof out), DFS_EINVAL);
  assert_int_equal(cli_put_dest("x", "/a", NULL, fail_isdir, NULL, out, sizeof out), DFS_ECONN);
  /* Logged in as ann: the default and relative destinations are under /home/ann. */
  expect_put_as("ann", "./x", NULL, "/home/ann/x");
  expect_put_as("ann", "x", "d", "/home/ann/d/x");          /* existing ~/d */
  expect_put_as("ann", "x", "y", "/home/ann/y");
  expect_put_as("ann", "x", "/d", "/d/x");                  /* absolute stays */
  expect_put_as("ann", "x", "~/", "/home/ann/x");
  expect_put_as("ann", "x", "~bob/in/", "/home/bob/in/x");
  expect_put_as(NULL, "x", "~bob/f", "/home/bob/f");
  assert_int_equal(cli_put_dest("x", "~/f", NULL, NULL, NULL, out, sizeof out), DFS_EAUTH);
}

static void expect_get(const char *remote, const char *local, const char *want) {
  static const char *dirs[] = {"/tmp", "out", NULL};
  char out[4200];
  assert_int_equal(cli_get_dest(remote, local, fake_isdir, dirs, out, sizeof out), 0);
  assert_string_equal(out, want);
}

static void test_get_dest(void **state) {
  expect_get("/a/b.txt", NULL, "./b.txt");
  expect_get("/a/b.txt", "/tmp", "/tmp/b.txt");
  expect_get("/a/b.txt", "/tmp/", "/tmp/b.txt");
  expect_get("/a/b.txt", "out", "out/b.txt");
  expect_get("/a/b.txt", "c.txt", "c.txt");
  expect_get("/a/b.txt", ".", "./b.txt");
  char out[64];
  assert_int_equal(cli_get_dest("/", NULL, NULL, NULL, out, sizeof out), DFS_EINVAL);
}

static void test_basename(void **state) {
  char b[300];
  assert_int_equal(cli_basename("a/b/c", b, sizeof b), 0);
  assert_string_equal(b, "c");
  assert_int_equal(cli_basename("c//", b, sizeof b), 0);
  assert_string_equal(b, "c");
  assert_int_equal(cli_basename("/", b, sizeof b), DFS_EINVAL);
  assert_int_equal(cli_basename("", b, sizeof b), DFS_EINVAL);
  assert_int_equal(cli_basename("a/.", b, sizeof b), DFS_EINVAL);
}

static void test_mode_string(void **state) {
  char m[11];
  assert_string_equal(cli_mode_string(1, 0755, m), "drwxr-xr-x");
  assert_string_equal(cli_mode_string(0, 0644, m), "-rw-r--r--");
  assert_string_equal(cli_mode_string(0, 0, m), "----------");
  assert_string_equal(cli_mode_string(0, 0777, m), "-rwxrwxrwx");
  assert_string_equal(cli_mode_string(1, 0700, m), "drwx------");
}

static void test_rate(void **state) {
  char r[32];
  assert_string_equal(cli_rate_string(334500000, 1.0, r, sizeof r), "334.5 MB/s");
  assert_string_equal(cli_rate_string(2500000000ull, 1.0, r, sizeof r), "2.50 GB/s");
  assert_string_equal(cli_rate_string(10, 1.0, r, sizeof r), "10 B/s");
  cli_rate_string(0, 0, r, sizeof r); /* no division by zero */
}

static void test_leader_addr(void **state) {
  char host[64];
  int port = 0;
  assert_int_equal(meta_parse_leader("this metad is not the leader; the leader is 127.0.0.1:9400",
                                     host, sizeof host, &port), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 9400);
  assert_int_equal(meta_parse_leader("leader is (10.0.0.2:19500).", host, sizeof host, &port), 0);
  assert_string_equal(host, "10.0.0.2");
  assert_int_equal(port, 19500);
  assert_int_equal(meta_parse_leader("the leader is raft node 2 whose client address is not "
                                     "known yet; retry", host, sizeof host, &port), DFS_EINVAL);
  assert_int_equal(meta_parse_leader("", host, sizeof host, &port), DFS_EINVAL);
  assert_int_equal(meta_parse_leader("at host:notaport", host, sizeof host, &port), DFS_EINVAL);
}

/* --meta A,B,C: every metad voter, the first one used first; malformed lists refused. */
static void test_meta_addrs(void **state) {
  meta_client mc;
  assert_int_equal(meta_client_init(&mc, "127.0.0.1:9400"), 0);
  assert_int_equal(mc.naddrs, 1);
  assert_int_equal(meta_client_init(&mc, "127.0.0.1:9400,metad2:9400,10.0.0.3:19400"), 0);
  assert_int_equal(mc.naddrs, 3);
  assert_string_equal(mc.host, "127.0.0.1");
  assert_int_equal(mc.port, 9400);
  assert_string_equal(mc.addrs[1], "metad2:9400");
  assert_string_equal(mc.addrs[2], "10.0.0.3:19400");
  assert_int_equal(meta_client_init(&mc, "a:1,,b:2"), DFS_EINVAL);
  assert_int_equal(meta_client_init(&mc, "a:1,"), DFS_EINVAL);
  assert_int_equal(meta_client_init(&mc, "a:1,b"), DFS_EINVAL);
  assert_int_equal(meta_client_init(&mc, "a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8"), DFS_EINVAL);
}

/* Every command has a usage line starting with its name, a help text with an example,
 * and a handler; names are unique. */
static void test_command_table(void **state) {
  size_t n;
  const cli_command *t = cli_commands(&n);
  assert_true(n >= 8);
  for (size_t i = 0; i < n; i++) {
    assert_non_null(t[i].run);
    assert_int_equal(strncmp(t[i].usage, t[i].name, strlen(t[i].name)), 0);
    assert_non_null(strstr(t[i].help, "example: dfs "));
    assert_ptr_equal(cli_find_command(t[i].name), &t[i]);
  }
  assert_null(cli_find_command("nope"));
  assert_non_null(cli_find_command("put"));
  assert_non_null(cli_find_command("admin"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_args_mixed),  cmocka_unit_test(test_args_short_and_dash),
      cmocka_unit_test(test_args_errors), cmocka_unit_test(test_parse_u64),
      cmocka_unit_test(test_put_dest),    cmocka_unit_test(test_get_dest),
      cmocka_unit_test(test_basename),    cmocka_unit_test(test_mode_string),
      cmocka_unit_test(test_rate),        cmocka_unit_test(test_leader_addr),
      cmocka_unit_test(test_meta_addrs),
      cmocka_unit_test(test_command_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
