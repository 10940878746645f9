/* dfs CLI, users and security: permission mode parsing, ~ and home-relative remote
 * paths, the session file (format, 0600/0700 permissions, atomic rewrite, $DFS_TOKEN
 * override), and the authd address resolution order (--auth, $DFS_AUTH, `auth:`, default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_config.h"
#include "cli/mode.h"
#include "cli/password.h"
#include "cli/paths.h"
#include "cli/session.h"
#include "common/errors.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/cli2-test-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static uint32_t mode_of(const char *s, uint32_t cur, int is_dir) {
  uint32_t m = 0xdead;
  assert_int_equal(cli_parse_mode(s, cur, is_dir, &m), 0);
  return m;
}

static void test_mode_octal(void **state) {
  (void)state;
  assert_int_equal(mode_of("750", 0, 0), 0750);
  assert_int_equal(mode_of("0640", 0777, 0), 0640);
  assert_int_equal(mode_of("0", 0777, 0), 0);
  assert_int_equal(mode_of("7", 0, 0), 07);
  assert_int_equal(mode_of("0777", 0, 0), 0777);
  uint32_t m;
  assert_int_equal(cli_parse_mode("1777", 0, 0, &m), DFS_EINVAL); /* sticky etc.: no */
  assert_int_equal(cli_parse_mode("00644", 0, 0, &m), DFS_EINVAL); /* > 4 digits */
  assert_int_equal(cli_parse_mode("8", 0, 0, &m), DFS_EINVAL);
  assert_int_equal(cli_parse_mode("", 0, 0, &m), DFS_EINVAL);
  assert_int_equal(cli_parse_mode(NULL, 0, 0, &m), DFS_EINVAL);
  assert_true(cli_mode_is_octal("0755"));
  assert_false(cli_mode_is_octal("u+x"));
  assert_false(cli_mode_is_octal(""));
}

static void test_mode_symbolic(void **state) {
  (void)state;
  assert_int_equal(mode_of("u+x", 0644, 0), 0744);
  assert_int_equal(mode_of("go-w", 0666, 0), 0644);
  assert_int_equal(mode_of("a=r", 0777, 0), 0444);
  assert_int_equal(mode_of("=r", 0777, 0), 0444);
  assert_int_equal(mode_of("+x", 0600, 0), 0711);
  assert_int_equal(mode_of("u=rwx,g=rx,o=", 0, 0), 0750);
  assert_int_equal(mode_of("o-rwx", 0755, 1), 0750);
  assert_int_equal(mode_of("u+x-w", 0644, 0), 0544);
  assert_int_equal(mode_of("ug+rw", 0400, 0), 0660);
  /* X: execute only for directories or what is already executable by someone */
  assert_int_equal(mode_of("a+X", 0644, 0), 0644);
  assert_int_equal(mode_of("a+X", 0644, 1), 0755);
  assert_int_equal(mode_of("a+X", 0744, 0), 0755);
  uint32_t m;
  const char *bad[] = {"u", "u+q", "x+r", "u+x,", ",u+x", "rwx", "u+x,,g+r", NULL};
  for (const char **b = bad; *b; b++) assert_int_equal(cli_parse_mode(*b, 0644, 0, &m), DFS_EINVAL);
  /* An operator without bits is a no-op, as in chmod(1). */
  assert_int_equal(mode_of("u-", 0644, 0), 0644);
}

static void expect_remote(const char *user, const char *in, const char *want) {
  char out[4200];
  assert_int_equal(cli_remote_path(user, in, out, sizeof out), 0);
  assert_string_equal(out, want);
}

static void test_remote_paths(void **state) {
  (void)state;
  expect_remote("alice", "~", "/home/alice");
  expect_remote("alice", "~/", "/home/alice");
  expect_remote("alice", "~/x/y", "/home/alice/x/y");
  expect_remote("alice", "~bob", "/home/bob");
  expect_remote("alice", "~bob/x", "/home/bob/x");
  expect_remote(NULL, "~bob/x", "/home/bob/x");
  expect_remote("alice", "docs/a.txt", "/home/alice/docs/a.txt");
  expect_remote("alice", ".", "/home/alice");
  expect_remote("alice", "..", "/home");
  expect_remote("alice", "/abs/./p", "/abs/p");
  expect_remote(NULL, "docs/a.txt", "/docs/a.txt");
  expect_remote(NULL, "/", "/");
  expect_remote("alice", "x/~", "/home/alice/x/~");  /* only a leading ~ expands */
  char out[64];
  assert_int_equal(cli_remote_path(NULL, "~", out, sizeof out), DFS_EAUTH);
  assert_int_equal(cli_remote_path("", "~/x", out, sizeof out), DFS_EAUTH);
  assert_int_equal(cli_remote_path("alice", "~Bob/x", out, sizeof out), DFS_EINVAL);
  assert_int_equal(cli_remote_path("alice", "~1x", out, sizeof out), DFS_EINVAL);
  assert_int_equal(cli_home_dir("alice", out, sizeof out), 0);
  assert_string_equal(out, "/home/alice");
  assert_int_equal(cli_home_dir("../x", out, sizeof out), DFS_EINVAL);
}

static void test_unexpand_home(void **state) {
  (void)state;
  char out[256];
  assert_int_equal(cli_unexpand_home("/home/ann", "/home/ann", out, sizeof out), 1);
  assert_string_equal(out, "~");
  assert_int_equal(cli_unexpand_home("/home/ann/x/y", "/home/ann/", out, sizeof out), 1);
  assert_string_equal(out, "~/x/y");
  assert_int_equal(cli_unexpand_home("/root/", "/root", out, sizeof out), 1);
  assert_string_equal(out, "~/");
  assert_int_equal(cli_unexpand_home("/home/annex", "/home/ann", out, sizeof out), 0);
  assert_int_equal(cli_unexpand_home("/home", "/home/ann", out, sizeof out), 0);
  assert_int_equal(cli_unexpand_home("/x", "/", out, sizeof out), 0);
  assert_int_equal(cli_unexpand_home("/x", "", out, sizeof out), 0);
  assert_int_equal(cli_unexpand_home("/x", NULL, out, sizeof out), 0);
  assert_int_equal(cli_unexpand_home("rel", "rel", out, sizeof out), 0);
  assert_int_equal(cli_unexpand_home("/h/ann/long", "/h/ann", out, 4), DFS_ETOOBIG);
}

static void test_user_names(void **state) {
  (void)state;
  const char *good[] = {"a", "alice", "bob_2", "x-y", "abcdefghijklmnopqrstuvwxyz012345", NULL};
  const char *bad[] = {"", "Alice", "1bob", "_x", "a b", "a.b", "abcdefghijklmnopqrstuvwxyz0123456", NULL};
  for (const char **g = good; *g; g++) assert_true(cli_user_name_valid(*g, strlen(*g)));
  for (const char **b = bad; *b; b++) assert_false(cli_user_name_valid(*b, strlen(*b)));
}

static void test_session_roundtrip(void **state) {
  (void)state;
  char path[256], err[256];
  snprintf(path, sizeof path, "%s/cfg/dfs/session", dir);
  cli_session s = {.expires_ms = 1795000000123};
  strcpy(s.user, "alice");
  strcpy(s.token, "0123456789abcdef");
  assert_int_equal(cli_session_write(path, &s, err, sizeof err), 0);

  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char d[256];
  snprintf(d, sizeof d, "%s/cfg/dfs", dir);
  assert_int_equal(stat(d, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);

  cli_session r;
  assert_int_equal(cli_session_read(path, &r, err, sizeof err), 0);
  assert_string_equal(r.user, "alice");
  assert_string_equal(r.token, "0123456789abcdef");
  assert_int_equal(r.expires_ms, 1795000000123);
  assert_int_equal(r.from_env, 0);

  /* A rewrite replaces the file (rename), leaves no temp files, keeps 0600. */
  strcpy(s.user, "bob");
  strcpy(s.token, "fedcba");
  assert_int_equal(cli_session_write(path, &s, err, sizeof err), 0);
  assert_int_equal(cli_session_read(path, &r, err, sizeof err), 0);
  assert_string_equal(r.user, "bob");
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  FILE *ls;
  char cmd[300], line[256];
  snprintf(cmd, sizeof cmd, "ls -A '%s'", d);
  ls = popen(cmd, "r");
  assert_non_null(ls);
  int n = 0;
  while (fgets(line, sizeof line, ls)) n++;
  pclose(ls);
  assert_int_equal(n, 1);

  /* Invalid sessions are not written. */
  strcpy(s.user, "Bad");
  assert_int_equal(cli_session_write(path, &s, err, sizeof err), DFS_EINVAL);
  strcpy(s.user, "bob");
  strcpy(s.token, "has space");
  assert_int_equal(cli_session_write(path, &s, err, sizeof err), DFS_EINVAL);

  assert_int_equal(cli_session_remove(path), 0);
  assert_int_equal(cli_session_remove(path), 0);
  assert_int_equal(cli_session_read(path, &r, err, sizeof err), DFS_ENOENT);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_session_malformed(void **state) {
  (void)state;
  char path[256], err[256];
  cli_session r;
  snprintf(path, sizeof path, "%s/session", dir);
  const char *bad[] = {"user alice\n",                         /* no token */
                       "token abc\n",                          /* no user */
                       "user alice\ntoken abc\nexpires_ms x\n", /* bad number */
                       "user Alice\ntoken abc\n",              /* bad name */
                       "user alice\ntoken abc\ncolour red\n",  /* unknown key */
                       NULL};
  for (const char **b = bad; *b; b++) {
    write_file(path, *b);
    assert_int_equal(cli_session_read(path, &r, err, sizeof err), DFS_ECONFIG);
    assert_string_equal(r.token, "");
  }
  write_file(path, "user alice\r\ntoken abc\r\n\n");
  assert_int_equal(cli_session_read(path, &r, err, sizeof err), 0);
  assert_string_equal(r.token, "abc");
  assert_int_equal(r.expires_ms, 0);
}

static void test_session_load_env(void **state) {
  (void)state;
  char path[256], err[256];
  cli_session s = {0}, r;
  snprintf(path, sizeof path, "%s/s2", dir);
  strcpy(s.user, "alice");
  strcpy(s.token, "filetoken");
  assert_int_equal(cli_session_write(path, &s, err, sizeof err), 0);
  assert_int_equal(cli_session_load(NULL, NULL, path, &r, err, sizeof err), 0);
  assert_string_equal(r.token, "filetoken");
  assert_int_equal(cli_session_load("", "bob", path, &r, err, sizeof err), 0);
  assert_string_equal(r.token, "filetoken"); /* empty $DFS_TOKEN = unset */
  assert_string_equal(r.user, "alice");
  assert_int_equal(cli_session_load("envtoken", "bob", path, &r, err, sizeof err), 0);
  assert_string_equal(r.token, "envtoken");
  assert_string_equal(r.user, "bob");
  assert_int_equal(r.from_env, 1);
  assert_int_equal(cli_session_load("envtoken", NULL, path, &r, err, sizeof err), 0);
  assert_string_equal(r.user, "");
  assert_int_equal(cli_session_load("env token", NULL, path, &r, err, sizeof err), DFS_ECONFIG);
  assert_int_equal(cli_session_load("t", "Bad!", path, &r, err, sizeof err), DFS_ECONFIG);
  /* no file: not logged in, not an error */
  snprintf(path, sizeof path, "%s/none", dir);
  assert_int_equal(cli_session_load(NULL, NULL, path, &r, err, sizeof err), 0);
  assert_string_equal(r.token, "");
  assert_int_equal(cli_session_load(NULL, NULL, NULL, &r, err, sizeof err), 0);
}

static void test_session_path(void **state) {
  (void)state;
  char out[256];
  assert_int_equal(cli_session_path("/x/cfg", "/home/a", out, sizeof out), 0);
  assert_string_equal(out, "/x/cfg/dfs/session");
  assert_int_equal(cli_session_path("", "/home/a", out, sizeof out), 0);
  assert_string_equal(out, "/home/a/.config/dfs/session");
  assert_int_equal(cli_session_path(NULL, NULL, out, sizeof out), DFS_ENOENT);
}

static void test_auth_resolution(void **state) {
  (void)state;
  char cfg[256], out[300], err[256];
  const char *src;
  snprintf(cfg, sizeof cfg, "%s/dfs.yaml", dir);
  write_file(cfg, "meta: 10.0.0.1:7000\nauth: 10.0.0.2:7500\n");
  assert_int_equal(cli_resolve_auth("h:1", "e:2", cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "h:1");
  assert_string_equal(src, "--auth");
  assert_int_equal(cli_resolve_auth(NULL, "e:2", cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "e:2");
  assert_string_equal(src, "$DFS_AUTH");
  assert_int_equal(cli_resolve_auth(NULL, "", cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "10.0.0.2:7500");
  assert_int_equal(cli_resolve_meta(NULL, NULL, cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "10.0.0.1:7000");
  write_file(cfg, "meta: 10.0.0.1:7000\n");
  assert_int_equal(cli_resolve_auth(NULL, NULL, cfg, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, "127.0.0.1:9500");
  assert_string_equal(src, "the default");
  assert_int_equal(cli_resolve_auth(NULL, NULL, NULL, out, sizeof out, &src, err, sizeof err), 0);
  assert_string_equal(out, CLI_DEFAULT_AUTH);
  assert_int_equal(cli_resolve_auth("bad", NULL, NULL, out, sizeof out, NULL, err, sizeof err),
                   DFS_EINVAL);
  assert_non_null(strstr(err, "--auth"));
  assert_non_null(strstr(err, "authd"));
  write_file(cfg, "auth: [x\n");
  assert_int_equal(cli_resolve_auth(NULL, NULL, cfg, out, sizeof out, NULL, err, sizeof err),
                   DFS_ECONFIG);
}

static void test_tls_setup(void **state) {
  (void)state;
  char cfg[256], err[256];
  dfs_tls_ctx *t = (dfs_tls_ctx *)1;
  snprintf(cfg, sizeof cfg, "%s/dfs.yaml", dir);
  write_file(cfg, "meta: 127.0.0.1:1\n");
  assert_int_equal(cli_tls_setup(NULL, NULL, cfg, &t, err, sizeof err), 0);
  assert_null(t); /* off by default */
  assert_int_equal(cli_tls_setup(NULL, "", NULL, &t, err, sizeof err), 0);
  assert_null(t);
  /* --tls-ca turns TLS on: a missing CA file is a configuration error. */
  assert_int_equal(cli_tls_setup("/nonexistent/ca.pem", NULL, cfg, &t, err, sizeof err),
                   DFS_ECONFIG);
  assert_int_equal(cli_tls_setup(NULL, "/nonexistent/ca.pem", NULL, &t, err, sizeof err),
                   DFS_ECONFIG);
  write_file(cfg, "tls:\n  enabled: true\n  ca: /nonexistent/ca.pem\n");
  assert_int_equal(cli_tls_setup(NULL, NULL, cfg, &t, err, sizeof err), DFS_ECONFIG);
}

static void test_read_line(void **state) {
  (void)state;
  char path[256], buf[CLI_PASSWORD_MAX + 2];
  snprintf(path, sizeof path, "%s/pw", dir);
  write_file(path, "secret one\r\nsecond\nlast-no-newline");
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_int_equal(cli_read_line(f, buf, sizeof buf), 0);
  assert_string_equal(buf, "secret one");
  assert_int_equal(cli_read_line(f, buf, sizeof buf), 0);
  assert_string_equal(buf, "second");
  assert_int_equal(cli_read_line(f, buf, sizeof buf), 0);
  assert_string_equal(buf, "last-no-newline");
  assert_int_equal(cli_read_line(f, buf, sizeof buf), DFS_ENOENT);
  fclose(f);
  char err[128];
  assert_int_equal(cli_password_check("short", err, sizeof err), DFS_EINVAL);
  assert_int_equal(cli_password_check("12345678", err, sizeof err), 0);
  char big[100];
  memset(big, 'x', 73);
  big[73] = '\0';
  assert_int_equal(cli_password_check(big, err, sizeof err), DFS_EINVAL);
  write_file(path, big);
  f = fopen(path, "r");
  assert_int_equal(cli_read_line(f, buf, sizeof buf), 0); /* 73 fits in 74 */
  fclose(f);
  char small[8];
  f = fopen(path, "r");
  assert_int_equal(cli_read_line(f, small, sizeof small), DFS_ETOOBIG);
  fclose(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mode_octal),        cmocka_unit_test(test_mode_symbolic),
      cmocka_unit_test(test_remote_paths),      cmocka_unit_test(test_user_names),
      cmocka_unit_test(test_unexpand_home),
      cmocka_unit_test(test_session_roundtrip), cmocka_unit_test(test_session_malformed),
      cmocka_unit_test(test_session_load_env),  cmocka_unit_test(test_session_path),
      cmocka_unit_test(test_auth_resolution),   cmocka_unit_test(test_tls_setup),
      cmocka_unit_test(test_read_line),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
