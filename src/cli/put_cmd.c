/* `dfs put`: the command. Its options, then where LOCAL goes (resolved and checked
 * before a byte is sent), then one file (put_upload), standard input (put_stream) or
 * several files and -r (put_batch_run, batch_put.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/meta_report.h"
#include "cli/mode.h"
#include "cli/ns_cmds.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/put_file.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"

#define PUT_DEFAULT_PARALLEL 16 /* chunk workers of one file */
#define PUT_BATCH_DEFAULT_PARALLEL 32 /* files in flight of a multi-file put: small files
                                         wait on fsyncs and metad, not on the CPU, so
                                         more in flight share more of each (measured:
                                         1000 x 4 KiB, 16 -> 7600/s, 32 -> 9100/s) */

/* Stat of a remote path for destination resolution: 1 dir, 0 file/missing, <0 error. */
typedef struct {
  meta_client *mc;
  int rc;
  char err[512];
} remote_isdir_ctx;

static int remote_isdir(const char *path, void *ud) {
  remote_isdir_ctx *x = ud;
  Dfs__StatReq req = DFS__STAT_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(x->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &req.base,
                     &dfs__stat_rep__descriptor, &m, x->err, sizeof x->err);
  int out = 0;
  if (rc == 0) {
    Dfs__StatRep *r = (Dfs__StatRep *)m;
    out = r->entry && r->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  } else if (rc != DFS_ENOENT && rc != DFS_ENOTDIR) {
    x->rc = rc;
    out = rc;
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  return out;
}

/* Resolves where LOCAL goes (see cli_put_dest) into remote (DFS_PATH_MAX + 1 bytes) and
 * checks, before anything is uploaded, that the parent is a directory and (with
 * --no-clobber) that nothing is there. *existing_mode: the permission bits of the file
 * being replaced (left alone if there is none). Returns 0, or CLI_FAIL after printing why. */
static int put_resolve(cli_ctx *ctx, const char *local, const char *remote_arg, int no_clobber,
                       char *remote, uint32_t *existing_mode) {
  int rc;
  remote_isdir_ctx ix = {.mc = ctx->mc};
  char base[DFS_NAME_MAX + 1];
  char unexp[DFS_PATH_MAX + 2];
  if (remote_arg && *remote_arg) {
    if (cli_remote_arg(ctx, "put", remote_arg, remote)) return CLI_FAIL; /* reports ~ errors */
    remote_arg = cli_remote_spelling(ctx, remote_arg, unexp, sizeof unexp);
  }
  rc = cli_put_dest(local, remote_arg, cli_user(ctx), remote_isdir, &ix, remote, DFS_PATH_MAX + 1);
  if (rc) {
    if (ix.rc) meta_report(ctx->mc, "put", ix.rc, ix.err);
    else if (rc == DFS_EINVAL && cli_basename(local, base, sizeof base))
      cli_err("put", "%s: cannot name a remote file after it (give REMOTE)", local);
    else cli_err("put", "%s: invalid remote path (%s)", remote_arg ? remote_arg : local, dfs_strerror(rc));
    return CLI_FAIL;
  }
  /* Check the parent now rather than after uploading everything (commit checks again). */
  {
    char parent[DFS_PATH_MAX + 1];
    if (dfs_path_split(remote, parent)) {
      Dfs__StatRep *st = NULL;
      rc = cli_stat(ctx, "put", parent, 1, &st); /* prints any error but ENOENT */
      if (rc == DFS_ENOENT) {
        cli_err("put", "%s: parent directory %s does not exist (create it with 'dfs mkdir -p %s')",
                remote, parent, parent);
        return CLI_FAIL;
      }
      if (rc) return CLI_FAIL;
      int is_dir = st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
      dfs__stat_rep__free_unpacked(st, NULL);
      if (!is_dir) { cli_err("put", "%s: %s is a file, not a directory", remote, parent); return CLI_FAIL; }
    }
  }
  return put_remote_existing(ctx->mc, remote, no_clobber, existing_mode);
}

int cli_cmd_put(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"replicas", 0, 1},  {"no-clobber", 'n', 0},
                                       {"parallel", 'P', 1}, {"mode", 'm', 1},
                                       {"recursive", 'r', 0}, {NULL, 'R', 0}};
  cli_opt_val v[6];
  const char **pos = calloc((size_t)argc + 1, sizeof *pos);
  if (!pos) { cli_err("put", "out of memory"); return CLI_FAIL; }
  size_t npos;
  int ret = CLI_FAIL, fd = -1;
  int rc = cli_command_args("put", argc, argv, specs, 6, v, pos, (size_t)argc, &npos, 1,
                            "LOCAL file");
  if (rc != CLI_CONTINUE) { ret = rc; goto out; }
  uint64_t replicas = CLI_DEFAULT_REPLICAS, parallel = PUT_DEFAULT_PARALLEL;
  if (v[0].present && cli_parse_u64(v[0].value, 1, CLIENT_MAX_CHAIN, &replicas)) {
    ret = cli_usage_error("put", "--replicas must be 1..%d", CLIENT_MAX_CHAIN);
    goto out;
  }
  if (v[2].present && cli_parse_u64(v[2].value, 1, PUT_MAX_PARALLEL, &parallel)) {
    ret = cli_usage_error("put", "--parallel must be 1..%d", PUT_MAX_PARALLEL);
    goto out;
  }
  put_opts o = {.replicas = (uint32_t)replicas, .mode = 0644, .mode_given = v[3].present,
                .no_clobber = v[1].present, .quiet = ctx->quiet};
  if (v[3].present && cli_parse_mode(v[3].value, 0644, 0, &o.mode)) {
    ret = cli_usage_error("put", "--mode needs permission bits like 640 or u+x (got '%s')",
                          v[3].value);
    goto out;
  }
  int recursive = v[4].present || v[5].present;
  if (recursive || npos > 2) {
    ret = put_batch_run(ctx, &o, recursive, pos, npos,
                        v[2].present ? parallel : PUT_BATCH_DEFAULT_PARALLEL);
    goto out;
  }

  const char *local = pos[0];
  uint64_t size = 0, sent = 0;
  if (strcmp(local, "-") == 0) { /* standard input (a pipe: the size is not known) */
    if (npos < 2) { ret = cli_usage_error("put", "'dfs put -' reads standard input: give the REMOTE file to write"); goto out; }
    char remote[DFS_PATH_MAX + 1];
    uint32_t existing_mode = UINT32_MAX;
    if (put_resolve(ctx, "stdin", pos[1], o.no_clobber, remote, &existing_mode)) goto out;
    ret = put_stream(ctx->mc, &o, STDIN_FILENO, remote, existing_mode);
    goto out;
  }
  fd = put_open_local(local, &size);
  if (fd < 0) goto out;
  char remote[DFS_PATH_MAX + 1];
  uint32_t existing_mode = UINT32_MAX;
  if (put_resolve(ctx, local, npos > 1 ? pos[1] : NULL, o.no_clobber, remote, &existing_mode))
    goto out;
  ret = put_upload(ctx->mc, &o, local, fd, size, remote, existing_mode, parallel, NULL, NULL,
                   NULL, NULL, &sent);
out:
  if (fd >= 0) close(fd);
  free(pos);
  return ret;
}
