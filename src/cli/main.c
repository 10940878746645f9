/* dfs: the command-line client. Parses the global options (--meta, --auth, --tls-ca,
 * -q, --color, --help, --version), resolves the metad and authd addresses and TLS
 * (cli_config), loads the login session (session.h), and dispatches to the command
 * table in commands.c.
 * Exit codes: 0 success, 1 failure (one line on stderr), 2 bad usage. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_config.h"
#include "cli/commands.h"
#include "client/meta_client.h"
#include "cli/output.h"
#include "cli/session.h"
#include "cli/suggest.h"
#include "common/sock.h"
#include "common/tls.h"

/* Matches "--NAME VALUE" / "--NAME=VALUE" at argv[*i]; 1 and *val set, 0 if not this
 * option, -1 if the value is missing. */
static int global_opt(int argc, char **argv, int *i, const char *name, const char **val) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') { *val = a + n + 1; return 1; }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) return -1;
  *val = argv[++*i];
  return 1;
}

int main(int argc, char **argv) {
  const char *meta_flag = NULL, *auth_flag = NULL, *ca_flag = NULL;
  int i = 1, r;
  signal(SIGPIPE, SIG_IGN); /* a closed socket is an error return, not a death */
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if ((r = global_opt(argc, argv, &i, "--meta", &meta_flag)) != 0) {
      if (r < 0) return cli_usage_error(NULL, "--meta needs HOST:PORT");
    } else if ((r = global_opt(argc, argv, &i, "--auth", &auth_flag)) != 0) {
      if (r < 0) return cli_usage_error(NULL, "--auth needs HOST:PORT");
    } else if ((r = global_opt(argc, argv, &i, "--tls-ca", &ca_flag)) != 0) {
      if (r < 0) return cli_usage_error(NULL, "--tls-ca needs a CA certificate file");
    } else if (strcmp(a, "--color") == 0 || strcmp(a, "--colour") == 0) {
      cli_colour_mode = CLI_COLOUR_ALWAYS; /* bare, as GNU ls */
    } else if (strncmp(a, "--color=", 8) == 0 || strncmp(a, "--colour=", 9) == 0) {
      if (cli_colour_parse(strchr(a, '=') + 1))
        return cli_usage_error(NULL, "--color takes auto, never or always");
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      cli_quiet = 1;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      cli_print_global_usage(stdout);
      return CLI_OK;
    } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
      printf("dfs %s\n", DFS_VERSION);
      return CLI_OK;
    } else if (cli_hdfs_command(a)) { /* the `hdfs dfs -ls` habit: one line, the fix */
      return cli_mistake("unknown option '%s': did you mean 'dfs %s'? (dfs commands take "
                         "no dash)", a, cli_hdfs_command(a));
    } else {
      return cli_mistake("unknown option '%s' (global options: --meta, --auth, --tls-ca, -q, "
                         "--color, --version; see `dfs help`)", a);
    }
  }
  if (i >= argc) return cli_usage_error(NULL, "missing command");
  const cli_command *cmd = cli_find_command(argv[i]);
  if (!cmd) {
    const char *near = cli_suggest_command(argv[i]);
    if (near) return cli_mistake("unknown command '%s': did you mean 'dfs %s'?", argv[i], near);
    return cli_mistake("unknown command '%s' (`dfs help` lists the commands)", argv[i]);
  }

  char cfg_path[4096], sess_path[4096], maddr[300], aaddr[300], err[512];
  const char *cfg = NULL, *spath = NULL;
  const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
  if (cli_config_path(xdg, home, cfg_path, sizeof cfg_path) == 0) cfg = cfg_path;
  if (cli_session_path(xdg, home, sess_path, sizeof sess_path) == 0) spath = sess_path;
  if (cli_resolve_meta(meta_flag, getenv("DFS_META"), cfg, maddr, sizeof maddr, NULL, err,
                       sizeof err) != 0) {
    cli_err(cmd->name, "%s", err);
    return meta_flag ? CLI_USAGE : CLI_FAIL;
  }
  if (cli_resolve_auth(auth_flag, getenv("DFS_AUTH"), cfg, aaddr, sizeof aaddr, NULL, err,
                       sizeof err) != 0) {
    cli_err(cmd->name, "%s", err);
    return auth_flag ? CLI_USAGE : CLI_FAIL;
  }
  dfs_tls_ctx *tls = NULL;
  if (cli_tls_setup(ca_flag, getenv("DFS_TLS_CA"), cfg, &tls, err, sizeof err) != 0) {
    cli_err(cmd->name, "TLS: %s", err);
    return CLI_FAIL;
  }
  dfs_sock_set_tls(tls);

  cli_session sess;
  if (cli_session_load(getenv("DFS_TOKEN"), getenv("DFS_USER"), spath, &sess, err,
                       sizeof err) != 0) {
    /* A broken session file is not fatal: the user can still log in again. */
    cli_err(cmd->name, "ignoring the session: %s (run 'dfs login')", err);
    memset(&sess, 0, sizeof sess);
  }

  meta_client mc, ac;
  if (meta_client_init(&mc, maddr) != 0 || meta_client_init(&ac, aaddr) != 0) {
    cli_err(cmd->name, "invalid server address");
    dfs_tls_ctx_free(tls);
    return CLI_FAIL;
  }
  ac.service = "authd";
  mc.tls = ac.tls = tls != NULL;
  mc.token = ac.token = sess.token; /* login/passwd update sess in place */
  int cmd_argc = argc - i;
  if (cli_take_quiet(&cmd_argc, argv + i)) cli_quiet = 1;
  cli_ctx ctx = {.mc = &mc, .ac = &ac, .sess = &sess, .session_path = spath, .quiet = cli_quiet};
  int rc = cmd->run(&ctx, cmd_argc, argv + i);
  meta_client_close(&mc);
  meta_client_close(&ac);
  dfs_sock_set_tls(NULL);
  dfs_tls_ctx_free(tls);
  memset(&sess, 0, sizeof sess);
  if (fflush(stdout) != 0 && rc == CLI_OK && errno != EPIPE) {
    /* a reader that stopped early (`dfs ls | head`) is not an error; a full disk is */
    cli_err(cmd->name, "cannot write to stdout: %s", strerror(errno));
    rc = CLI_FAIL;
  }
  return rc;
}
