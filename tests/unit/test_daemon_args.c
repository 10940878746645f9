/* The daemons' shared command line (src/common/daemon.c): file first, then --set,
 * --log-level and shortcuts in command-line order; exit codes 0 (help) and 2 (one line
 * for every usage or config error); log.level; SIGTERM/SIGINT watchers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/daemon.h"

static const dfs_daemon_shortcut shortcuts[] = {{"--listen", "listen"}, {"--dir", "data.dir"}};
static const dfs_daemon_spec spec = {"testd", "usage: testd [--config FILE]\n", shortcuts, 2};

/* A temp YAML file with `text`; path in buf (caller unlinks). */
static void write_yaml(char *buf, size_t bufsz, const char *text) {
  snprintf(buf, bufsz, "/tmp/dfs-test-daemon-XXXXXX");
  int fd = mkstemp(buf);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

static int run(dfs_config *c, int argc, const char *const *argv) {
  return dfs_daemon_args(&spec, argc, (char *const *)argv, c);
}

static void test_file_then_command_line(void **state) {
  char path[64];
  write_yaml(path, sizeof path, "listen: 1.2.3.4:1\ndata:\n  dir: /from/file\nlog:\n  level: warn\n"
                                "keep: me\n");
  dfs_config *c = dfs_config_new();
  /* --log-level and --set come before --config on the line: they still win over it */
  const char *argv[] = {"testd",  "--log-level", "debug", "--set", "listen=5.6.7.8:2",
                        "--config", path, "--listen", "9.9.9.9:3", "--set", "a.b=c=d"};
  assert_int_equal(run(c, 11, argv), -1);
  assert_string_equal(dfs_config_str(c, "listen", NULL), "9.9.9.9:3"); /* last one wins */
  assert_string_equal(dfs_config_str(c, "data.dir", NULL), "/from/file");
  assert_string_equal(dfs_config_str(c, "log.level", NULL), "debug");
  assert_string_equal(dfs_config_str(c, "keep", NULL), "me");
  assert_string_equal(dfs_config_str(c, "a.b", NULL), "c=d");
  dfs_config_free(c);
  /* two files: both loaded, in order */
  char path2[64];
  write_yaml(path2, sizeof path2, "keep: second\nother: 1\n");
  c = dfs_config_new();
  const char *argv2[] = {"testd", "--config", path, "--dir", "/d", "--config", path2};
  assert_int_equal(run(c, 7, argv2), -1);
  assert_string_equal(dfs_config_str(c, "keep", NULL), "second");
  assert_string_equal(dfs_config_str(c, "other", NULL), "1");
  assert_string_equal(dfs_config_str(c, "data.dir", NULL), "/d");
  dfs_config_free(c);
  unlink(path);
  unlink(path2);
}

static void test_help_and_errors(void **state) {
  static const struct {
    int argc;
    const char *argv[5];
    int want;
  } cases[] = {
      {1, {"testd"}, -1},
      {2, {"testd", "--help"}, 0},
      {3, {"testd", "--dir", "-h"}, -1},                   /* a value, not the help flag */
      {4, {"testd", "--dir", "/x", "-h"}, 0},
      {2, {"testd", "--bogus"}, 2},                         /* unknown flag */
      {3, {"testd", "--raft-id", "1"}, 2},                  /* another daemon's shortcut */
      {2, {"testd", "--listen"}, 2},                        /* missing value */
      {4, {"testd", "--dir", "/x", "--set"}, 2},
      {3, {"testd", "--set", "novalue"}, 2},                /* no '=' */
      {3, {"testd", "--config", "/nonexistent/dfs.yaml"}, 2},
      {3, {"testd", "positional", "x"}, 2},
      {5, {"testd", "--bogus", "x", "--help", "y"}, 2},    /* errors are found in order */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dfs_config *c = dfs_config_new();
    int got = run(c, cases[i].argc, cases[i].argv);
    if (got != cases[i].want) fail_msg("case %zu (%s): got %d, want %d", i, cases[i].argv[1], got,
                                       cases[i].want);
    dfs_config_free(c);
  }
  /* a config file that is not YAML */
  char path[64];
  write_yaml(path, sizeof path, "a: [1, 2\n");
  dfs_config *c = dfs_config_new();
  const char *argv[] = {"testd", "--config", path};
  assert_int_equal(run(c, 3, argv), 2);
  dfs_config_free(c);
  unlink(path);
}

static void test_log_level(void **state) {
  dfs_config *c = dfs_config_new();
  assert_int_equal(dfs_daemon_log_init("testd", c), 0); /* default info */
  dfs_config_set(c, "log.level", "error");
  assert_int_equal(dfs_daemon_log_init("testd", c), 0);
  dfs_config_set(c, "log.level", "loud");
  assert_int_equal(dfs_daemon_log_init("testd", c), 2);
  dfs_config_free(c);
}

static int stops, stop_signum;
static void on_stop(void *ud, int signum) {
  stops++;
  stop_signum = signum;
  *(int *)ud = 1;
}

static void test_signals(void **state) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  dfs_daemon_signals s;
  int flag = 0;
  memset(&s, 0, sizeof s);
  dfs_daemon_signals_close(&s); /* never started: a no-op */
  dfs_daemon_signals_start(&s, &loop, on_stop, &flag);
  assert_true(signal(SIGPIPE, SIG_IGN) == SIG_IGN); /* start ignored SIGPIPE */
  assert_int_equal(uv_kill(getpid(), SIGTERM), 0);
  /* the callback closes both watchers, so the loop ends by itself */
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(stops, 1);
  assert_int_equal(stop_signum, SIGTERM);
  assert_int_equal(flag, 1);
  dfs_daemon_signals_close(&s); /* idempotent */
  /* closed without a signal: the loop ends, the callback is not called */
  dfs_daemon_signals_start(&s, &loop, on_stop, &flag);
  dfs_daemon_signals_close(&s);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(stops, 1);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_file_then_command_line),
      cmocka_unit_test(test_help_and_errors),
      cmocka_unit_test(test_log_level),
      cmocka_unit_test(test_signals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
