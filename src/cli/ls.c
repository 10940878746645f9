/* Namespace commands: `dfs ls`, `dfs stat`, `dfs mkdir`, `dfs rm`. Each is one or two
 * metad calls and prints the result; errors use the server's Status message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/util.h"

/* Parses the command's arguments with specs and exactly one optional/required PATH
 * (normalised into path). Returns -1 to continue, or an exit code to return. */
static int parse_one_path(const char *cmd, int argc, char **argv, const cli_opt_spec *specs,
                          size_t nspecs, cli_opt_val *v, int required, const char *def,
                          char *path, size_t pathsz) {
  const char *pos[1];
  size_t npos;
  char err[512];
  int rc = cli_parse_args(argc - 1, argv + 1, specs, nspecs, v, pos, 1, &npos, err, sizeof err);
  if (rc == CLI_ARGS_HELP) { cli_print_command_help(stdout, cli_find_command(cmd)); return CLI_OK; }
  if (rc) return cli_usage_error(cmd, "%s", err);
  if (npos == 0 && required) return cli_usage_error(cmd, "missing PATH");
  const char *in = npos ? pos[0] : def;
  rc = dfs_path_normalize(NULL, in, path, pathsz);
  if (rc) { cli_err(cmd, "%s: invalid path (%s)", in, dfs_strerror(rc)); return CLI_FAIL; }
  return -1;
}

static int stat_path(cli_ctx *ctx, const char *cmd, const char *path, Dfs__StatRep **out) {
  Dfs__StatReq req = DFS__STAT_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &req.base,
                     &dfs__stat_rep__descriptor, &m, err, sizeof err);
  if (rc == 0 && !((Dfs__StatRep *)m)->entry) { rc = DFS_EPROTO; snprintf(err, sizeof err, "metad sent no entry"); }
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    meta_report_path(ctx->mc, cmd, path, rc, err);
    return rc;
  }
  *out = (Dfs__StatRep *)m;
  return 0;
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

static const char *owner_of(const Dfs__Entry *e) { return e->owner && *e->owner ? e->owner : "-"; }

static void widen(ls_widths *w, const Dfs__Entry *e, int human) {
  char size[32], reps[16];
  long_fields(e, human, size, sizeof size, reps, sizeof reps);
  int n = (int)strlen(owner_of(e));
  if (n > w->owner) w->owner = n;
  if ((int)strlen(size) > w->size) w->size = (int)strlen(size);
  if ((int)strlen(reps) > w->reps) w->reps = (int)strlen(reps);
}

/* mode  owner  size  replicas  date time  name (size in exact bytes unless human). */
static void print_long(const Dfs__Entry *e, const char *name, int human, const ls_widths *w) {
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  char mode[11], tm[32], size[32], reps[16];
  cli_mode_string(dir, e->mode, mode);
  long_fields(e, human, size, sizeof size, reps, sizeof reps);
  printf("%s  %-*s  %*s  %*s  %s  %s%s\n", mode, w->owner, owner_of(e), w->size, size, w->reps,
         reps, cli_time_string(e->mtime_ns, tm, sizeof tm), name, dir ? "/" : "");
}

static int by_name(const void *a, const void *b) {
  const Dfs__Entry *x = *(Dfs__Entry *const *)a, *y = *(Dfs__Entry *const *)b;
  return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

int cli_cmd_ls(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"long", 'l', 0}, {"human", 'h', 0}};
  cli_opt_val v[2];
  char path[DFS_PATH_MAX + 1];
  int rc = parse_one_path("ls", argc, argv, specs, 2, v, 0, "/", path, sizeof path);
  if (rc >= 0) return rc;
  int lng = v[0].present, human = v[1].present;

  Dfs__StatRep *st = NULL;
  if (stat_path(ctx, "ls", path, &st)) return CLI_FAIL;
  if (st->entry->type != DFS__ENTRY_TYPE__ENTRY_DIR) {
    ls_widths w = {0, 0, 0};
    if (lng) print_long(st->entry, path, human, &w);
    else printf("%s\n", path);
    dfs__stat_rep__free_unpacked(st, NULL);
    return CLI_OK;
  }
  dfs__stat_rep__free_unpacked(st, NULL);

  Dfs__ListReq req = DFS__LIST_REQ__INIT;
  req.path = path;
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base,
                 &dfs__list_rep__descriptor, &m, err, sizeof err);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    meta_report_path(ctx->mc, "ls", path, rc, err);
    return CLI_FAIL;
  }
  Dfs__ListRep *rep = (Dfs__ListRep *)m;
  qsort(rep->entries, rep->n_entries, sizeof *rep->entries, by_name);
  ls_widths w = {0, 0, 0};
  for (size_t i = 0; i < rep->n_entries; i++) widen(&w, rep->entries[i], human);
  for (size_t i = 0; i < rep->n_entries; i++) {
    const Dfs__Entry *e = rep->entries[i];
    const char *name = e->name ? e->name : "";
    if (lng) print_long(e, name, human, &w);
    else printf("%s%s\n", name, e->type == DFS__ENTRY_TYPE__ENTRY_DIR ? "/" : "");
  }
  dfs__list_rep__free_unpacked(rep, NULL);
  return CLI_OK;
}

int cli_cmd_stat(cli_ctx *ctx, int argc, char **argv) {
  cli_opt_val v[1];
  char path[DFS_PATH_MAX + 1];
  int rc = parse_one_path("stat", argc, argv, NULL, 0, v, 1, NULL, path, sizeof path);
  if (rc >= 0) return rc;
  Dfs__StatRep *st = NULL;
  if (stat_path(ctx, "stat", path, &st)) return CLI_FAIL;
  const Dfs__Entry *e = st->entry;
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  char mode[11], tm[32], hs[32];
  printf("path:     %s\n", path);
  printf("type:     %s\n", dir ? "directory" : "file");
  if (dir) printf("entries:  %llu\n", (unsigned long long)e->size);
  else printf("size:     %llu (%s)\n", (unsigned long long)e->size, dfs_human_size(e->size, hs, sizeof hs));
  printf("mode:     %s (%04o)\n", cli_mode_string(dir, e->mode, mode), e->mode & 07777);
  printf("owner:    %s\n", e->owner && *e->owner ? e->owner : "-");
  printf("mtime:    %s\n", cli_time_string(e->mtime_ns, tm, sizeof tm));
  if (!dir) {
    printf("replicas: %u\n", e->replicas);
    printf("chunks:   %llu\n", (unsigned long long)e->chunks);
  }
  printf("inode:    %llu\n", (unsigned long long)e->inode);
  dfs__stat_rep__free_unpacked(st, NULL);
  return CLI_OK;
}

int cli_cmd_mkdir(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"parents", 'p', 0}};
  cli_opt_val v[1];
  char path[DFS_PATH_MAX + 1];
  int rc = parse_one_path("mkdir", argc, argv, specs, 1, v, 1, NULL, path, sizeof path);
  if (rc >= 0) return rc;
  Dfs__MkdirReq req = DFS__MKDIR_REQ__INIT;
  req.path = path;
  req.parents = v[0].present;
  req.mode = 0755;
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
  static const cli_opt_spec specs[] = {{"recursive", 'r', 0}};
  cli_opt_val v[1];
  char path[DFS_PATH_MAX + 1];
  int rc = parse_one_path("rm", argc, argv, specs, 1, v, 1, NULL, path, sizeof path);
  if (rc >= 0) return rc;
  if (strcmp(path, "/") == 0) { cli_err("rm", "/ cannot be removed"); return CLI_FAIL; }
  Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
  req.path = path;
  req.recursive = v[0].present;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base,
                 &dfs__delete_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_ENOTEMPTY && !req.recursive) {
    cli_err("rm", "%s: directory not empty (use rm -r to remove it and its contents)", path);
    return CLI_FAIL;
  }
  if (rc) { meta_report_path(ctx->mc, "rm", path, rc, err); return CLI_FAIL; }
  return CLI_OK;
}
