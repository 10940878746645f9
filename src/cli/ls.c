/* Namespace commands: `dfs ls` (-R walks the tree client side), `dfs stat`, `dfs mkdir`,
 * `dfs rm`, `dfs chmod`. Each is one or a few metad calls and prints the result; errors
 * use the server's Status message. Paths go through cli_remote_arg (~, home). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/mode.h"
#include "cli/ns_cmds.h"
#include "cli/shell_util.h"
#include "cli/output.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/util.h"

/* Parses the command's arguments with specs and exactly one optional/required PATH
 * (resolved into path, DFS_PATH_MAX + 1 bytes; def: used when none is given). Returns
 * CLI_CONTINUE, or an exit code to return. */
static int parse_one_path(cli_ctx *ctx, const char *cmd, int argc, char **argv,
                          const cli_opt_spec *specs, size_t nspecs, cli_opt_val *v,
                          int required, const char *def, char *path) {
  const char *pos[1];
  size_t npos;
  int rc = cli_command_args(cmd, argc, argv, specs, nspecs, v, pos, 1, &npos,
                            required ? 1 : 0, "PATH");
  if (rc != CLI_CONTINUE) return rc;
  if (cli_remote_arg(ctx, cmd, npos ? pos[0] : def, path)) return CLI_FAIL;
  return CLI_CONTINUE;
}

/* Column widths for `ls -l` so that the columns line up. */
typedef struct {
  int owner, size, reps;
} ls_widths;

static void long_fields(const Dfs__Entry *e, int human, char *size, size_t sizesz, char *reps,
                        size_t repsz) {
  if (human) dfs_human_size(e->size, size, sizesz);
  else snprintf(size, sizesz, "%llu", (unsigned long long)e->size);
  if (e->type == DFS__ENTRY_TYPE__ENTRY_DIR) snprintf(reps, repsz, "-");
  else snprintf(reps, repsz, "%u", e->replicas);
}

/* The owner as printed (escaped, see cli_esc) in buf (>= 1024 bytes). */
static const char *owner_of(const Dfs__Entry *e, char *buf) {
  return e->owner && *e->owner ? cli_esc(e->owner, buf, 1024) : "-";
}

static void widen(ls_widths *w, const Dfs__Entry *e, int human) {
  char size[32], reps[16], ob[1024];
  long_fields(e, human, size, sizeof size, reps, sizeof reps);
  int n = (int)strlen(owner_of(e, ob));
  if (n > w->owner) w->owner = n;
  if ((int)strlen(size) > w->size) w->size = (int)strlen(size);
  if ((int)strlen(reps) > w->reps) w->reps = (int)strlen(reps);
}

/* mode  owner  size  replicas  date time  name (size in exact bytes unless human). */
static void print_long(const Dfs__Entry *e, const char *name, int human, const ls_widths *w) {
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  char mode[11], tm[32], size[32], reps[16], ob[1024], nb[CLI_ESC_BUF];
  cli_mode_string(dir, e->mode, mode);
  long_fields(e, human, size, sizeof size, reps, sizeof reps);
  printf("%s  %-*s  %*s  %*s  %s  %s%s\n", mode, w->owner, owner_of(e, ob), w->size, size, w->reps,
         reps, cli_time_string(e->mtime_ns, tm, sizeof tm), cli_esc(name, nb, sizeof nb),
         dir ? "/" : "");
}

/* Lists the directory `path` (ls -R: every directory below too, each under a header).
 * Returns 0 if everything could be listed, else CLI_FAIL (errors printed, and the walk
 * goes on with the next directory). */
static int list_dir(cli_ctx *ctx, const char *path, int lng, int human, int recursive,
                    int header) {
  if (header) {
    cli_put_esc(stdout, path);
    printf(":\n");
  }
  fflush(stdout); /* an error line goes after what was listed so far */
  Dfs__ListRep *rep = NULL;
  if (cli_list(ctx, "ls", path, 0, &rep)) return CLI_FAIL; /* sorted by name */
  ls_widths w = {0, 0, 0};
  for (size_t i = 0; i < rep->n_entries; i++) widen(&w, rep->entries[i], human);
  for (size_t i = 0; i < rep->n_entries; i++) {
    const Dfs__Entry *e = rep->entries[i];
    const char *name = e->name ? e->name : "";
    if (lng) print_long(e, name, human, &w);
    else {
      cli_put_esc(stdout, name);
      printf("%s\n", e->type == DFS__ENTRY_TYPE__ENTRY_DIR ? "/" : "");
    }
  }
  int ret = 0;
  /* On the heap: a deep tree recurses once per level. */
  char *child = recursive ? malloc(2 * (DFS_PATH_MAX + DFS_NAME_MAX + 2)) : NULL;
  if (recursive && !child) { cli_err("ls", "out of memory"); ret = CLI_FAIL; }
  for (size_t i = 0; child && i < rep->n_entries; i++) {
    const Dfs__Entry *e = rep->entries[i];
    if (e->type != DFS__ENTRY_TYPE__ENTRY_DIR || !e->name || !*e->name) continue;
    char *norm = child + DFS_PATH_MAX + DFS_NAME_MAX + 2;
    snprintf(child, DFS_PATH_MAX + DFS_NAME_MAX + 2, "%s/%s", strcmp(path, "/") ? path : "", e->name);
    if (dfs_path_normalize(NULL, child, norm, DFS_PATH_MAX + 1) != 0) {
      fflush(stdout);
      cli_err("ls", "%s: invalid or too long path, not listed", child);
      ret = CLI_FAIL;
      continue;
    }
    printf("\n");
    if (list_dir(ctx, norm, lng, human, recursive, 1)) ret = CLI_FAIL;
  }
  free(child);
  dfs__list_rep__free_unpacked(rep, NULL);
  return ret;
}

/* ls --json: {"path":P,"entries":[...]} for one directory; -R: every directory below,
 * each one such object in the "dirs" array. Returns 0 or CLI_FAIL (errors printed). */
static int list_json(cli_ctx *ctx, const char *path, int recursive, int *first) {
  Dfs__ListRep *rep = NULL;
  if (cli_list(ctx, "ls", path, 0, &rep)) return CLI_FAIL;
  printf("%s{\"path\":", *first ? "" : ",");
  *first = 0;
  cli_json_str(stdout, path);
  printf(",\"entries\":[");
  for (size_t i = 0; i < rep->n_entries; i++) {
    if (i) putchar(',');
    cli_entry_json(stdout, NULL, rep->entries[i]);
  }
  printf("]}");
  int ret = 0;
  for (size_t i = 0; recursive && i < rep->n_entries; i++) {
    const Dfs__Entry *e = rep->entries[i];
    if (e->type != DFS__ENTRY_TYPE__ENTRY_DIR || !e->name || !*e->name) continue;
    char *child = malloc(DFS_PATH_MAX + 1);
    if (!child || cli_child_path(path, e->name, child)) { free(child); ret = CLI_FAIL; continue; }
    if (list_json(ctx, child, recursive, first)) ret = CLI_FAIL;
    free(child);
  }
  dfs__list_rep__free_unpacked(rep, NULL);
  return ret;
}

int cli_cmd_ls(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {
      {"long", 'l', 0}, {"human", 'h', 0}, {"recursive", 'R', 0}, {"json", 0, 0}};
  cli_opt_val v[4];
  char path[DFS_PATH_MAX + 1];
  int rc = parse_one_path(ctx, "ls", argc, argv, specs, 4, v, 0,
                          ctx->cwd ? "." : cli_user(ctx) ? "~" : "/", path);
  if (rc != CLI_CONTINUE) return rc;
  int lng = v[0].present, human = v[1].present || isatty(STDOUT_FILENO), rec = v[2].present;

  Dfs__StatRep *st = NULL;
  if (cli_stat(ctx, "ls", path, 0, &st)) return CLI_FAIL;
  if (v[3].present) {
    int first = 1, ret = 0;
    if (st->entry->type != DFS__ENTRY_TYPE__ENTRY_DIR) {
      printf("{\"path\":");
      cli_json_str(stdout, path);
      printf(",\"entries\":[");
      cli_entry_json(stdout, NULL, st->entry);
      printf("]}\n");
    } else {
      if (rec) printf("{\"dirs\":[");
      ret = list_json(ctx, path, rec, &first);
      printf("%s\n", rec ? "]}" : "");
    }
    dfs__stat_rep__free_unpacked(st, NULL);
    return ret ? CLI_FAIL : CLI_OK;
  }
  if (st->entry->type != DFS__ENTRY_TYPE__ENTRY_DIR) {
    ls_widths w = {0, 0, 0};
    widen(&w, st->entry, human);
    if (lng) print_long(st->entry, path, human, &w);
    else {
      cli_put_esc(stdout, path);
      putchar('\n');
    }
    dfs__stat_rep__free_unpacked(st, NULL);
    return CLI_OK;
  }
  dfs__stat_rep__free_unpacked(st, NULL);
  return list_dir(ctx, path, lng, human, rec, rec) ? CLI_FAIL : CLI_OK;
}

int cli_cmd_stat(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"json", 0, 0}};
  cli_opt_val v[1];
  char path[DFS_PATH_MAX + 1];
  int rc = parse_one_path(ctx, "stat", argc, argv, specs, 1, v, 1, NULL, path);
  if (rc != CLI_CONTINUE) return rc;
  Dfs__StatRep *st = NULL;
  if (cli_stat(ctx, "stat", path, 0, &st)) return CLI_FAIL;
  const Dfs__Entry *e = st->entry;
  if (v[0].present) {
    cli_entry_json(stdout, path, e);
    putchar('\n');
    dfs__stat_rep__free_unpacked(st, NULL);
    return CLI_OK;
  }
  cli_print_entry_text(path, e, 0);
  dfs__stat_rep__free_unpacked(st, NULL);
  return CLI_OK;
}

int cli_cmd_mkdir(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"parents", 'p', 0}, {"mode", 'm', 1}};
  cli_opt_val v[2];
  char path[DFS_PATH_MAX + 1];
  int rc = parse_one_path(ctx, "mkdir", argc, argv, specs, 2, v, 1, NULL, path);
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
  for (size_t i = 0; i < npos; i++) {
    char path[DFS_PATH_MAX + 1];
    if (cli_remote_arg(ctx, "rm", pos[i], path)) { ret = CLI_FAIL; continue; }
    if (strcmp(path, "/") == 0) { cli_err("rm", "/ cannot be removed"); ret = CLI_FAIL; continue; }
    Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
    req.path = path;
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
