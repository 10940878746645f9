/* Helpers shared by the namespace commands (read_cmds.c, mutate_cmds.c, shell.c): stat
 * and list with the standard error line, an entry as JSON or text, the one-PATH argument
 * form, one metad call with its error line. */
#include "cli/ns_cmds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/mode.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/shell_util.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/util.h"

int cli_stat(cli_ctx *ctx, const char *cmd, const char *path, int quiet_enoent,
             Dfs__StatRep **out) {
  Dfs__StatReq req = DFS__STAT_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &req.base,
                     &dfs__stat_rep__descriptor, &m, err, sizeof err);
  if (rc == 0 && !((Dfs__StatRep *)m)->entry) { rc = DFS_EPROTO; snprintf(err, sizeof err, "metad sent no entry"); }
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (!(quiet_enoent && rc == DFS_ENOENT)) meta_report_path(ctx->mc, cmd, path, rc, err);
    return rc;
  }
  *out = (Dfs__StatRep *)m;
  return 0;
}

int cli_stat_arg_is_dir(cli_ctx *ctx, const char *cmd, const char *arg, char *path, int *is_dir) {
  Dfs__StatRep *st = NULL;
  if (cli_remote_arg(ctx, cmd, arg, path) || cli_stat(ctx, cmd, path, 0, &st)) return CLI_FAIL;
  *is_dir = st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  dfs__stat_rep__free_unpacked(st, NULL);
  return 0;
}

static int entry_by_name(const void *a, const void *b) {
  const Dfs__Entry *x = *(Dfs__Entry *const *)a, *y = *(Dfs__Entry *const *)b;
  return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

int cli_list(cli_ctx *ctx, const char *cmd, const char *path, int silent, Dfs__ListRep **out) {
  Dfs__ListReq req = DFS__LIST_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base,
                     &dfs__list_rep__descriptor, &m, err, sizeof err);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (!silent) meta_report_path(ctx->mc, cmd, path, rc, err);
    return rc;
  }
  Dfs__ListRep *rep = (Dfs__ListRep *)m;
  if (rep->n_entries) qsort(rep->entries, rep->n_entries, sizeof *rep->entries, entry_by_name);
  *out = rep;
  return 0;
}

/* The fields of cli_entry_json without the braces. */
void cli_entry_json_fields(FILE *f, const char *path, const Dfs__Entry *e) {
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  if (path) { fputs("\"path\":", f); cli_json_str(f, path); fputc(',', f); }
  fputs("\"name\":", f);
  cli_json_str(f, e->name ? e->name : "");
  int link = e->type == DFS__ENTRY_TYPE__ENTRY_SYMLINK;
  fprintf(f, ",\"type\":\"%s\",\"%s\":%llu,\"mode\":\"%04o\",\"owner\":",
          dir ? "dir" : link ? "symlink" : "file",
          dir ? "entries" : "size", (unsigned long long)e->size, e->mode & 07777);
  cli_json_str(f, e->owner ? e->owner : "");
  fprintf(f, ",\"mtime_ns\":%lld", (long long)e->mtime_ns);
  if (link) {
    fputs(",\"target\":", f);
    cli_json_str(f, e->target ? e->target : "");
  } else if (!dir) {
    fprintf(f, ",\"replicas\":%u,\"chunks\":%llu", e->replicas, (unsigned long long)e->chunks);
  }
  fprintf(f, ",\"inode\":%llu", (unsigned long long)e->inode);
}

void cli_entry_json(FILE *f, const char *path, const Dfs__Entry *e) {
  fputc('{', f);
  cli_entry_json_fields(f, path, e);
  fputc('}', f);
}

int cli_child_path(const char *parent, const char *name, char *out) {
  char buf[DFS_PATH_MAX + DFS_NAME_MAX + 4];
  int n = snprintf(buf, sizeof buf, "%s/%s", strcmp(parent, "/") ? parent : "", name);
  if (n < 0 || (size_t)n >= sizeof buf) return DFS_ETOOBIG;
  return dfs_path_normalize(NULL, buf, out, DFS_PATH_MAX + 1) ? DFS_ETOOBIG : 0;
}

void cli_print_entry_text(const char *path, const Dfs__Entry *e, int goal_words) {
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  char mode[11], tm[32], hs[32], eb[CLI_ESC_BUF];
  printf("path:     %s\n", cli_esc(path, eb, sizeof eb));
  int link = e->type == DFS__ENTRY_TYPE__ENTRY_SYMLINK;
  printf("type:     %s\n", dir ? "directory" : link ? "symbolic link" : "file");
  if (link) printf("target:   %s\n", cli_esc(e->target ? e->target : "", eb, sizeof eb));
  if (dir) printf("entries:  %llu\n", (unsigned long long)e->size);
  else printf("size:     %llu (%s)\n", (unsigned long long)e->size, dfs_human_size(e->size, hs, sizeof hs));
  printf("mode:     %s (%04o)\n", cli_mode_string(dir, e->mode, mode), e->mode & 07777);
  printf("owner:    %s\n", e->owner && *e->owner ? cli_esc(e->owner, eb, sizeof eb) : "-");
  printf("mtime:    %s\n", cli_time_string(e->mtime_ns, tm, sizeof tm));
  if (!dir && !link && goal_words)
    printf("goal:     %u replicas\nchunks:   %llu\n", e->replicas, (unsigned long long)e->chunks);
  else if (!dir && !link)
    printf("replicas: %u\nchunks:   %llu\n", e->replicas, (unsigned long long)e->chunks);
  printf("inode:    %llu\n", (unsigned long long)e->inode);
}

/* Parses the command's arguments with specs and exactly one optional/required PATH
 * (resolved into path, DFS_PATH_MAX + 1 bytes; def: used when none is given). Returns
 * CLI_CONTINUE, or an exit code to return. */
int cli_one_path_args(cli_ctx *ctx, const char *cmd, int argc, char **argv,
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

/* One metad request whose reply only carries a Status (and maybe counters): calls and
 * prints the error line naming path. Returns 0 or the DFS_E* code; *rep kept if out. */
int cli_simple_call(cli_ctx *ctx, const char *cmd, const char *path, uint16_t type,
                    ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
                    ProtobufCMessage **out) {
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->mc, type, req, desc, &m, err, sizeof err);
  if (rc == 0 && out) { *out = m; return 0; }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc) meta_report_path(ctx->mc, cmd, path, rc, err);
  return rc;
}
