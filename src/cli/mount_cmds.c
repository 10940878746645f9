/* dfs mount / dfs umount: the CLI's side of the FUSE client (src/mount/mount.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "mount/mount.h"

int cli_cmd_mount(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {
      {"option", 'o', 1}, {"foreground", 'f', 0}, {"log", 0, 1}};
  cli_opt_val v[3];
  const char *pos[1];
  size_t npos = 0;
  int rc = cli_command_args("mount", argc, argv, specs, 3, v, pos, 1, &npos, 1,
                            "missing MOUNTPOINT");
  if (rc != CLI_CONTINUE) return rc;
  mount_options o;
  mount_options_default(&o);
  char err[512];
  if (v[0].present && mount_options_parse(&o, v[0].value, err, sizeof err) != 0)
    return cli_usage_error("mount", "%s", err);
  o.foreground = v[1].present;
  o.log_path = v[2].present ? v[2].value : NULL;
  struct stat st;
  if (stat(pos[0], &st) != 0 || !S_ISDIR(st.st_mode)) {
    cli_err("mount", "%s: not a directory (make it first: mkdir -p %s)", pos[0], pos[0]);
    return CLI_FAIL;
  }
  /* not logged in: fine on a cluster without authentication (metad refuses otherwise,
   * and mount_run says so before mounting) */
  const char *user = ctx->sess->token[0] ? cli_user(ctx) : "";
  if (!user) {
    cli_err("mount", "cannot tell who is logged in: run 'dfs login USER' again");
    return CLI_FAIL;
  }
  char meta[CLIENT_META_MAX_ADDRS * 301] = "";
  for (int i = 0; i < ctx->mc->naddrs; i++) {
    size_t l = strlen(meta);
    snprintf(meta + l, sizeof meta - l, "%s%s", i ? "," : "", ctx->mc->addrs[i]);
  }
  if (mount_run(pos[0], meta, ctx->mc->tls, ctx->sess->token, user, &o, err, sizeof err) != 0) {
    cli_err("mount", "%s", err);
    return CLI_FAIL;
  }
  return CLI_OK;
}

int cli_cmd_umount(cli_ctx *ctx, int argc, char **argv) {
  (void)ctx;
  const char *pos[1];
  size_t npos = 0;
  cli_opt_val none[1];
  int rc = cli_command_args("umount", argc, argv, NULL, 0, none, pos, 1, &npos, 1,
                            "missing MOUNTPOINT");
  if (rc != CLI_CONTINUE) return rc;
  if (geteuid() == 0) {
    if (umount2(pos[0], 0) == 0) return CLI_OK;
    if (errno == EBUSY && umount2(pos[0], MNT_DETACH) == 0) {
      if (!ctx->quiet)
        fprintf(stderr, "dfs: umount: %s is busy: detached; it goes away when its open "
                "files are closed\n", pos[0]);
      return CLI_OK;
    }
    cli_err("umount", "%s: %s", pos[0], strerror(errno));
    return CLI_FAIL;
  }
  /* an ordinary user unmounts through the setuid helper of the fuse3 package */
  for (int lazy = 0; lazy < 2; lazy++) {
    pid_t pid = fork();
    if (pid == 0) {
      if (!lazy) execlp("fusermount3", "fusermount3", "-u", "-q", pos[0], (char *)NULL);
      else execlp("fusermount3", "fusermount3", "-u", "-z", "-q", pos[0], (char *)NULL);
      _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) break;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return CLI_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
      cli_err("umount", "fusermount3 not found: install the fuse3 package");
      return CLI_FAIL;
    }
  }
  cli_err("umount", "%s: not a dfs mount, or it could not be unmounted", pos[0]);
  return CLI_FAIL;
}
