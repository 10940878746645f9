/* dfs: the command-line client. Parses the global options (--meta, -q, --help),
 * resolves the metad address (cli_config), and dispatches to the command table in
 * commands.c. Exit codes: 0 success, 1 failure (one line on stderr), 2 bad usage. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_config.h"
#include "cli/commands.h"
#include "cli/meta_client.h"
#include "cli/output.h"

int main(int argc, char **argv) {
  const char *meta_flag = NULL;
  int i = 1;
  signal(SIGPIPE, SIG_IGN); /* a closed socket is an error return, not a death */
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--meta") == 0) {
      if (i + 1 >= argc) return cli_usage_error(NULL, "--meta needs HOST:PORT");
      meta_flag = argv[++i];
    } else if (strncmp(a, "--meta=", 7) == 0) {
      meta_flag = a + 7;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      cli_quiet = 1;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      cli_print_global_usage(stdout);
      return CLI_OK;
    } else {
      return cli_usage_error(NULL, "unknown option '%s'", a);
    }
  }
  if (i >= argc) return cli_usage_error(NULL, "missing command");
  const cli_command *cmd = cli_find_command(argv[i]);
  if (!cmd) return cli_usage_error(NULL, "unknown command '%s'", argv[i]);

  char cfg_path[4096], addr[300], err[512];
  const char *cfg = NULL;
  if (cli_config_path(getenv("XDG_CONFIG_HOME"), getenv("HOME"), cfg_path, sizeof cfg_path) == 0)
    cfg = cfg_path;
  if (cli_resolve_meta(meta_flag, getenv("DFS_META"), cfg, addr, sizeof addr, NULL, err,
                       sizeof err) != 0) {
    cli_err(cmd->name, "%s", err);
    return meta_flag ? CLI_USAGE : CLI_FAIL;
  }
  meta_client mc;
  if (meta_client_init(&mc, addr) != 0) {
    cli_err(cmd->name, "invalid metad address '%s'", addr);
    return CLI_FAIL;
  }
  cli_ctx ctx = {.mc = &mc, .quiet = cli_quiet};
  int rc = cmd->run(&ctx, argc - i, argv + i);
  meta_client_close(&mc);
  if (fflush(stdout) != 0 && rc == CLI_OK) {
    cli_err(cmd->name, "cannot write to stdout");
    rc = CLI_FAIL;
  }
  return rc;
}
