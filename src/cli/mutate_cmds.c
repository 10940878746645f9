/* The commands that change the namespace: `dfs mkdir`, `rm`, `rmdir`, `touch`, `ln -s`, `chmod`,
 * `mv`, `cp` (a metadata copy sharing chunks), `setrep` and `trash` (ls/restore/empty).
 * Each is one or a few metad calls; errors use the server's Status message. Paths go
 * through cli_remote_arg (~, home, the shell's cwd); the paths of rm and the sources of
 * mv/cp through cli_remote_glob (patterns, expanded before anything changes). Errors:
 * one line, exit 1; usage: exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ns_cmds.h"
#include "cli/args.h"
#include "cli/batch.h"
#include "cli/commands.h"
#include "cli/mode.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/remote_glob.h"
#include "cli/shell_util.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/array.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/util.h"

int cli_cmd_mkdir(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"parents", 'p', 0}, {"mode", 'm', 1}};
  cli_opt_val v[2];
  char path[DFS_PATH_MAX + 1];
  int rc = cli_one_path_args(ctx, "mkdir", argc, argv, specs, 2, v, 1, NULL, path);
  if (rc != CLI_CONTINUE) return rc;
  uint32_t mode = 0755;
  if (v[1].present && cli_parse_mode(v[1].value, 0755, 1, &mode))
    return cli_usage_error("mkdir", "--mode needs permission bits like 750 or go-rx (got '%s')",
                           v[1].value);
  Dfs__MkdirReq req = DFS__MKDIR_REQ__INIT;
  req.path = path;
  req.parents = v[0].present;
  req.mode = mode;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, &req.base,
                 &dfs__mkdir_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_ENOENT && !req.parents) { /* metad names the missing one; say the fix */
    cli_err("mkdir", "%s: a parent directory does not exist ('dfs mkdir -p %s' creates it with "
            "its missing parents)", path, path);
    return CLI_FAIL;
  }
  if (rc) { meta_report_path(ctx->mc, "mkdir", path, rc, err); return CLI_FAIL; }
  return CLI_OK;
}

int cli_cmd_rm(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"recursive", 'r', 0}, {"skip-trash", 0, 0}, {NULL, 'R', 0}};
  cli_opt_val v[3];
  const char *pos[256];
  size_t npos;
  char err[512];
  int rc = cli_command_args("rm", argc, argv, specs, 3, v, pos, 256, &npos, 1, "PATH");
  if (rc != CLI_CONTINUE) return rc;
  int recursive = v[0].present || v[2].present, ret = CLI_OK;
  /* Every pattern is expanded before anything is removed: one that matches nothing
   * stops the command with nothing done. */
  cli_glob_list g;
  cli_glob_init(&g);
  if (cli_remote_glob_all(ctx, "rm", pos, npos, &g)) { cli_glob_free(&g); return CLI_FAIL; }
  for (size_t i = 0; i < g.n; i++) {
    const char *path = g.paths[i];
    if (strcmp(path, "/") == 0) { cli_err("rm", "/ cannot be removed"); ret = CLI_FAIL; continue; }
    Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
    req.path = (char *)path;
    req.recursive = recursive;
    req.trash = !v[1].present;
    req.request_id = dfs_random_u64();
    ProtobufCMessage *m = NULL;
    rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base,
                   &dfs__delete_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc == DFS_ENOTEMPTY && !recursive)
      cli_err("rm", "%s: directory not empty (use rm -r to remove it and its contents)", path);
    else if (rc) meta_report_path(ctx->mc, "rm", path, rc, err);
    if (rc) ret = CLI_FAIL;
  }
  cli_glob_free(&g);
  return ret;
}

/* chmod of one resolved path; 0 or CLI_FAIL (error printed). */
static int chmod_one(cli_ctx *ctx, const char *mode_arg, const char *path) {
  uint32_t mode = 0;
  if (!cli_mode_is_octal(mode_arg)) {
    /* Symbolic modes change the current bits: ask for them first. */
    Dfs__StatRep *st = NULL;
    if (cli_stat(ctx, "chmod", path, 0, &st)) return CLI_FAIL;
    int rc = cli_parse_mode(mode_arg, st->entry->mode & 0777,
                            st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR, &mode);
    dfs__stat_rep__free_unpacked(st, NULL);
    if (rc) return cli_usage_error("chmod", "invalid mode '%s'", mode_arg);
  } else if (cli_parse_mode(mode_arg, 0, 0, &mode)) {
    return cli_usage_error("chmod", "invalid mode '%s'", mode_arg);
  }
  Dfs__ChmodReq req = DFS__CHMOD_REQ__INIT;
  req.path = (char *)path;
  req.mode = mode;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD, &req.base,
                     &dfs__chmod_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc) { meta_report_path(ctx->mc, "chmod", path, rc, err); return CLI_FAIL; }
  return 0;
}

int cli_cmd_chmod(cli_ctx *ctx, int argc, char **argv) {
  cli_opt_val v[1];
  const char *pos[256];
  size_t npos;
  char err[512];
  /* not cli_command_args: a parse error here is most likely a symbolic mode like -w
   * taken for an option, and the usage error says so */
  int rc = cli_parse_args(argc - 1, argv + 1, NULL, 0, v, pos, 256, &npos, err, sizeof err);
  if (rc == CLI_ARGS_HELP) { cli_print_command_help(stdout, cli_find_command("chmod")); return CLI_OK; }
  if (rc) return cli_usage_error("chmod", "%s (a mode starting with '-' goes after '--')", err);
  if (npos < 2) return cli_usage_error("chmod", "need MODE and at least one PATH");
  uint32_t probe;
  if (cli_mode_is_octal(pos[0]) ? cli_parse_mode(pos[0], 0, 0, &probe)
                                : cli_parse_mode(pos[0], 0, 1, &probe))
    return cli_usage_error("chmod", "invalid mode '%s' (octal like 750, or like u+x,go-w)", pos[0]);
  int ret = CLI_OK;
  for (size_t i = 1; i < npos; i++) {
    char path[DFS_PATH_MAX + 1];
    if (cli_remote_arg(ctx, "chmod", pos[i], path)) { ret = CLI_FAIL; continue; }
    if (chmod_one(ctx, pos[0], path)) ret = CLI_FAIL;
  }
  return ret;
}

int cli_cmd_rmdir(cli_ctx *ctx, int argc, char **argv) {
  cli_opt_val v[1];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("rmdir", argc, argv, NULL, 0, v, pos, 256, &npos, 1, NULL);
  if (rc != CLI_CONTINUE) return rc;
  int ret = CLI_OK;
  for (size_t i = 0; i < npos; i++) {
    char path[DFS_PATH_MAX + 1];
    int dir;
    if (cli_stat_arg_is_dir(ctx, "rmdir", pos[i], path, &dir)) {
      ret = CLI_FAIL;
      continue;
    }
    if (!dir) {
      cli_err("rmdir", "%s: not a directory (use 'dfs rm' for files)", path);
      ret = CLI_FAIL;
      continue;
    }
    if (strcmp(path, "/") == 0) { cli_err("rmdir", "/ cannot be removed"); ret = CLI_FAIL; continue; }
    Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
    req.path = path;
    req.request_id = dfs_random_u64();
    ProtobufCMessage *m = NULL;
    char err[512];
    rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base,
                   &dfs__delete_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc == DFS_ENOTEMPTY)
      cli_err("rmdir", "%s: directory not empty (remove its entries first, or use 'dfs rm -r')", path);
    else if (rc) meta_report_path(ctx->mc, "rmdir", path, rc, err);
    if (rc) ret = CLI_FAIL;
  }
  return ret;
}

int cli_cmd_touch(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"replicas", 0, 1}};
  cli_opt_val v[1];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("touch", argc, argv, specs, 1, v, pos, 256, &npos, 1, NULL);
  if (rc != CLI_CONTINUE) return rc;
  uint64_t replicas = CLI_DEFAULT_REPLICAS;
  if (v[0].present && cli_parse_u64(v[0].value, 1, 16, &replicas))
    return cli_usage_error("touch", "--replicas must be 1..16 (got '%s')", v[0].value);
  int ret = CLI_OK;
  for (size_t i = 0; i < npos; i++) {
    char path[DFS_PATH_MAX + 1];
    if (cli_remote_arg(ctx, "touch", pos[i], path)) { ret = CLI_FAIL; continue; }
    Dfs__TouchReq req = DFS__TOUCH_REQ__INIT;
    req.path = path;
    req.mode = 0644;
    req.replicas = (uint32_t)replicas;
    req.request_id = dfs_random_u64();
    if (cli_simple_call(ctx, "touch", path, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH, &req.base,
                    &dfs__touch_rep__descriptor, NULL))
      ret = CLI_FAIL;
  }
  return ret;
}

/* `dfs ln -s TARGET PATH`: a symbolic link at PATH holding TARGET as typed (metad never
 * follows it: it is for dfs mount's clients). Only -s: dfs has no hard links. */
int cli_cmd_ln(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"symbolic", 's', 0}};
  cli_opt_val v[1];
  const char *pos[2];
  size_t npos;
  int rc = cli_command_args("ln", argc, argv, specs, 1, v, pos, 2, &npos, 2,
                            "need TARGET and PATH");
  if (rc != CLI_CONTINUE) return rc;
  if (!v[0].present)
    return cli_usage_error("ln", "dfs has only symbolic links: use 'dfs ln -s TARGET PATH'");
  size_t tl = strlen(pos[0]);
  if (tl == 0 || tl > 4095)
    return cli_usage_error("ln", "TARGET must be 1..4095 bytes (got %zu)", tl);
  char path[DFS_PATH_MAX + 1];
  if (cli_remote_arg(ctx, "ln", pos[1], path)) return CLI_FAIL;
  Dfs__SymlinkReq req = DFS__SYMLINK_REQ__INIT;
  req.path = path;
  req.target = (char *)pos[0];
  req.request_id = dfs_random_u64();
  if (cli_simple_call(ctx, "ln", path, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SYMLINK, &req.base,
                      &dfs__symlink_rep__descriptor, NULL))
    return CLI_FAIL;
  return CLI_OK;
}

/* One mv or cp of a resolved source to its final destination: 0 or CLI_FAIL (printed). */
typedef int (*pair_fn)(cli_ctx *ctx, const char *src, const char *dst, const cli_opt_val *v);

/* `mv|cp SRC... DST`: the sources are expanded (remote globs, cli_remote_glob) before
 * anything changes; DST is taken literally. An existing directory DST (or DST ending in
 * '/') receives DST/NAME; several sources need one. A source that is its own destination
 * is refused in GNU's words, naming both as typed. Each pair goes to fn; a failing pair
 * is named and the others still go. Returns an exit code. */
static int src_dst_run(cli_ctx *ctx, const char *cmd, const char **pos, size_t npos,
                       pair_fn fn, const cli_opt_val *v) {
  const char *darg = pos[npos - 1];
  char dest[DFS_PATH_MAX + 1];
  cli_glob_list g;
  cli_glob_init(&g);
  int ret = CLI_FAIL;
  size_t *arg_of = NULL; /* g.paths[k] came from pos[arg_of[k]] */
  size_t arg_cap = 0;
  for (size_t i = 0; i + 1 < npos; i++) {
    size_t first = g.n;
    if (cli_remote_glob(ctx, cmd, pos[i], &g)) goto out;
    size_t *na = dfs_grow(arg_of, &arg_cap, g.n ? g.n : 1, sizeof *na, 16);
    if (!na) { cli_err(cmd, "out of memory"); goto out; }
    arg_of = na;
    for (size_t k = first; k < g.n; k++) arg_of[k] = i;
  }
  if (cli_remote_arg(ctx, cmd, darg, dest)) goto out;
  size_t dl = strlen(darg);
  int into = dl > 0 && darg[dl - 1] == '/', exists = 0;
  Dfs__StatRep *st = NULL;
  int rc = cli_stat(ctx, cmd, dest, 1, &st);
  if (rc == 0) {
    exists = 1;
    into = into || st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    dfs__stat_rep__free_unpacked(st, NULL);
  } else if (rc != DFS_ENOENT) {
    goto out;
  }
  if (g.n > 1 && !(into && exists)) {
    if (exists)
      cli_err(cmd, "target '%s' is not a directory (several sources go into an existing "
              "directory)", darg);
    else
      cli_err(cmd, "target '%s' does not exist (several sources go into an existing "
              "directory: create it with 'dfs mkdir -p %s')", darg, darg);
    goto out;
  }
  ret = CLI_OK;
  for (size_t k = 0; k < g.n; k++) {
    const char *src = g.paths[k], *sarg = pos[arg_of[k]];
    /* as typed, unless it was a pattern: then the path it matched */
    const char *sname = cli_glob_has_magic(sarg) ? src : sarg;
    char dst[DFS_PATH_MAX + 1], dname[DFS_PATH_MAX + DFS_NAME_MAX + 2];
    snprintf(dst, sizeof dst, "%s", dest);
    snprintf(dname, sizeof dname, "%s", darg);
    if (into && strcmp(src, dest) != 0) {
      char base[DFS_NAME_MAX + 1];
      if (cli_basename(src, base, sizeof base)) {
        cli_err(cmd, "%s: cannot %s the root", src, cmd);
        ret = CLI_FAIL;
        continue;
      }
      if (cli_child_path(dest, base, dst) || cli_join(darg, base, dname, sizeof dname)) {
        cli_err(cmd, "%s/%s: path too long", dest, base);
        ret = CLI_FAIL;
        continue;
      }
    }
    if (strcmp(src, dst) == 0) {
      cli_err(cmd, "'%s' and '%s' are the same file", sname, dname);
      ret = CLI_FAIL;
      continue;
    }
    if (fn(ctx, src, dst, v)) ret = CLI_FAIL;
  }
out:
  free(arg_of);
  cli_glob_free(&g);
  return ret;
}

static int mv_one(cli_ctx *ctx, const char *src, const char *dst, const cli_opt_val *v) {
  Dfs__RenameReq req = DFS__RENAME_REQ__INIT;
  req.src = (char *)src;
  req.dst = (char *)dst;
  req.overwrite = !v[0].present;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_RENAME, &req.base,
                     &dfs__rename_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_EEXIST && v[0].present) {
    cli_err("mv", "%s: already exists (-n/--no-clobber given; drop it to replace)", dst);
    return CLI_FAIL;
  }
  if (rc) { meta_report_path(ctx->mc, "mv", src, rc, err); return CLI_FAIL; }
  return 0;
}

int cli_cmd_mv(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"no-clobber", 'n', 0}};
  cli_opt_val v[1];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("mv", argc, argv, specs, 1, v, pos, 256, &npos, 2, NULL);
  if (rc != CLI_CONTINUE) return rc;
  return src_dst_run(ctx, "mv", pos, npos, mv_one, v);
}

static int cp_one(cli_ctx *ctx, const char *src, const char *dst, const cli_opt_val *v) {
  Dfs__CopyReq req = DFS__COPY_REQ__INIT;
  req.src = (char *)src;
  req.dst = (char *)dst;
  req.recursive = v[0].present;
  req.overwrite = !v[1].present;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY, &req.base,
                     &dfs__copy_rep__descriptor, &m, err, sizeof err);
  if (rc == 0) {
    Dfs__CopyRep *rep = (Dfs__CopyRep *)m;
    char hs[32];
    if (!ctx->quiet)
      printf("cp %s -> %s: %llu file%s, %s (metadata copy; chunks are shared)\n", src, dst,
             (unsigned long long)rep->files, rep->files == 1 ? "" : "s",
             dfs_human_size(rep->bytes, hs, sizeof hs));
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_EEXIST && v[1].present) {
    cli_err("cp", "%s: already exists (-n/--no-clobber given; drop it to replace)", dst);
    return CLI_FAIL;
  }
  if (rc == DFS_EISDIR || (rc == DFS_EINVAL && !v[0].present && strstr(err, "director"))) {
    cli_err("cp", "%s is a directory: use -r to copy it recursively", src);
    return CLI_FAIL;
  }
  if (rc) { meta_report_path(ctx->mc, "cp", src, rc, err); return CLI_FAIL; }
  return 0;
}

int cli_cmd_cp(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"recursive", 'r', 0}, {"no-clobber", 'n', 0}};
  cli_opt_val v[2];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("cp", argc, argv, specs, 2, v, pos, 256, &npos, 2, NULL);
  if (rc != CLI_CONTINUE) return rc;
  return src_dst_run(ctx, "cp", pos, npos, cp_one, v);
}

int cli_cmd_setrep(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"recursive", 'R', 0}};
  cli_opt_val v[1];
  const char *pos[2];
  size_t npos;
  int rc = cli_command_args("setrep", argc, argv, specs, 1, v, pos, 2, &npos, 2, NULL);
  if (rc != CLI_CONTINUE) return rc;
  uint64_t n;
  if (cli_parse_u64(pos[1], 1, 16, &n))
    return cli_usage_error("setrep", "N must be a number of replicas, 1..16 (got '%s')", pos[1]);
  char path[DFS_PATH_MAX + 1];
  if (cli_remote_arg(ctx, "setrep", pos[0], path)) return CLI_FAIL;
  Dfs__SetrepReq req = DFS__SETREP_REQ__INIT;
  req.path = path;
  req.replicas = (uint32_t)n;
  req.recursive = v[0].present;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  if (cli_simple_call(ctx, "setrep", path, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SETREP, &req.base,
                  &dfs__setrep_rep__descriptor, &m))
    return CLI_FAIL;
  Dfs__SetrepRep *rep = (Dfs__SetrepRep *)m;
  if (!ctx->quiet)
    printf("setrep %s: goal %u on %llu file%s (the cluster converges in the background)\n",
           path, req.replicas, (unsigned long long)rep->files, rep->files == 1 ? "" : "s");
  if (rep->files && req.replicas > rep->placeable_servers) /* even with -q: it stays unmet */
    cli_err("setrep", "warning: goal %u but only %u chunkserver%s can take copies: the file%s "
            "stay%s under-replicated until more join (dfs admin status)", req.replicas,
            rep->placeable_servers, rep->placeable_servers == 1 ? "" : "s",
            rep->files == 1 ? "" : "s", rep->files == 1 ? "s" : "");
  dfs__setrep_rep__free_unpacked(rep, NULL);
  return CLI_OK;
}

/* The original path of trash item id into out (empty if it cannot be listed): what a
 * restore without NEWPATH brings back, for its report. */
static void trash_original_path(cli_ctx *ctx, uint64_t id, char *out, size_t outsz) {
  Dfs__TrashReq req = DFS__TRASH_REQ__INIT;
  req.action = DFS__TRASH_ACTION__TRASH_LIST;
  ProtobufCMessage *m = NULL;
  char err[512];
  out[0] = '\0';
  if (meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH, &req.base,
                &dfs__trash_rep__descriptor, &m, err, sizeof err) == 0) {
    const Dfs__TrashRep *rep = (const Dfs__TrashRep *)m;
    for (size_t i = 0; i < rep->n_items; i++)
      if (rep->items[i]->id == id && rep->items[i]->original_path)
        snprintf(out, outsz, "%s", rep->items[i]->original_path);
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
}

int cli_cmd_trash(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"json", 0, 0}};
  cli_opt_val v[1];
  const char *pos[3];
  size_t npos;
  int rc = cli_command_args("trash", argc, argv, specs, 1, v, pos, 3, &npos, 0, NULL);
  if (rc != CLI_CONTINUE) return rc;
  const char *sub = npos ? pos[0] : "ls";
  Dfs__TrashReq req = DFS__TRASH_REQ__INIT;
  char path[DFS_PATH_MAX + 1];
  req.request_id = dfs_random_u64();
  if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0) {
    if (npos > 1) return cli_usage_error("trash", "trash ls takes no argument");
    req.action = DFS__TRASH_ACTION__TRASH_LIST;
  } else if (strcmp(sub, "restore") == 0 || strcmp(sub, "empty") == 0) {
    int restore = sub[0] == 'r';
    req.action = restore ? DFS__TRASH_ACTION__TRASH_RESTORE : DFS__TRASH_ACTION__TRASH_EMPTY;
    if (restore && npos < 2) return cli_usage_error("trash", "restore needs the ID shown by 'dfs trash ls'");
    if (npos >= 2 && cli_parse_u64(pos[1], 1, UINT64_MAX, &req.id))
      return cli_usage_error("trash", "ID must be a number from 'dfs trash ls' (got '%s')", pos[1]);
    if (npos == 3) {
      if (!restore) return cli_usage_error("trash", "trash empty takes at most an ID");
      if (cli_remote_arg(ctx, "trash", pos[2], path)) return CLI_FAIL;
      req.path = path;
    }
  } else {
    return cli_usage_error("trash", "unknown subcommand '%s' (ls, restore or empty)", sub);
  }
  char restored_to[DFS_PATH_MAX + 1] = "";
  if (req.action == DFS__TRASH_ACTION__TRASH_RESTORE && !ctx->quiet)
    trash_original_path(ctx, req.id, restored_to, sizeof restored_to);
  if (req.path && req.path[0]) snprintf(restored_to, sizeof restored_to, "%s", req.path);
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH, &req.base,
                 &dfs__trash_rep__descriptor, &m, err, sizeof err);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc == DFS_ENOENT && req.id && !strstr(err, "trash"))
      cli_err("trash", "no trash item %llu (see 'dfs trash ls')", (unsigned long long)req.id);
    else if (rc == DFS_EEXIST)
      cli_err("trash", "%s (restore to another path: dfs trash restore %llu NEWPATH)", err,
              (unsigned long long)req.id);
    else meta_report(ctx->mc, "trash", rc, err);
    return CLI_FAIL;
  }
  Dfs__TrashRep *rep = (Dfs__TrashRep *)m;
  if (req.action == DFS__TRASH_ACTION__TRASH_LIST) {
    if (v[0].present) {
      printf("{\"items\":[");
      for (size_t i = 0; i < rep->n_items; i++) {
        const Dfs__TrashItem *t = rep->items[i];
        printf("%s{\"id\":%llu,\"original_path\":", i ? "," : "", (unsigned long long)t->id);
        cli_json_str(stdout, t->original_path);
        printf(",\"deleted_ns\":%lld,\"expires_ns\":%lld", (long long)t->deleted_ns, (long long)t->expires_ns);
        if (t->entry) { printf(",\"entry\":"); cli_entry_json(stdout, NULL, t->entry); }
        printf("}");
      }
      printf("]}\n");
    } else if (rep->n_items == 0) {
      if (!ctx->quiet) printf("the trash is empty\n");
    } else {
      printf("%-6s  %-16s  %-16s  %9s  %s\n", "ID", "DELETED", "EXPIRES", "SIZE", "PATH");
      for (size_t i = 0; i < rep->n_items; i++) {
        const Dfs__TrashItem *t = rep->items[i];
        char d[32], x[32], hs[32];
        int dir = t->entry && t->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
        printf("%-6llu  %-16s  %-16s  %9s  ", (unsigned long long)t->id,
               cli_time_string(t->deleted_ns, d, sizeof d), cli_time_string(t->expires_ns, x, sizeof x),
               dir || !t->entry ? "-" : dfs_human_size(t->entry->size, hs, sizeof hs));
        cli_put_esc(stdout, t->original_path);
        printf("%s\n", dir ? "/" : "");
      }
    }
  } else if (req.action == DFS__TRASH_ACTION__TRASH_RESTORE) {
    if (!ctx->quiet) {
      printf("restored trash item %llu", (unsigned long long)req.id);
      if (restored_to[0]) {
        printf(" to ");
        cli_put_esc(stdout, restored_to);
      }
      printf("\n");
    }
  } else if (!ctx->quiet) {
    printf("removed %llu item%s from the trash\n", (unsigned long long)rep->count,
           rep->count == 1 ? "" : "s");
  }
  dfs__trash_rep__free_unpacked(rep, NULL);
  return CLI_OK;
}
