/* The namespace commands that are pure metadata requests to metad: rmdir, touch, cat
 * (get to stdout), mv, cp (metadata copy sharing chunks), setrep, tree, info (per-chunk
 * detail), search (metad's name index) and trash (ls/restore/empty). Paths go through
 * cli_remote_arg (~, home, the shell's cwd). Errors: one line, exit 1; usage: exit 2. */
#include "cli/ns_cmds.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/shell_util.h"
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
static void entry_json_fields(FILE *f, const char *path, const Dfs__Entry *e) {
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  if (path) { fputs("\"path\":", f); cli_json_str(f, path); fputc(',', f); }
  fputs("\"name\":", f);
  cli_json_str(f, e->name ? e->name : "");
  fprintf(f, ",\"type\":\"%s\",\"%s\":%llu,\"mode\":\"%04o\",\"owner\":", dir ? "dir" : "file",
          dir ? "entries" : "size", (unsigned long long)e->size, e->mode & 07777);
  cli_json_str(f, e->owner ? e->owner : "");
  fprintf(f, ",\"mtime_ns\":%lld", (long long)e->mtime_ns);
  if (!dir) fprintf(f, ",\"replicas\":%u,\"chunks\":%llu", e->replicas, (unsigned long long)e->chunks);
  fprintf(f, ",\"inode\":%llu", (unsigned long long)e->inode);
}

void cli_entry_json(FILE *f, const char *path, const Dfs__Entry *e) {
  fputc('{', f);
  entry_json_fields(f, path, e);
  fputc('}', f);
}

int cli_child_path(const char *parent, const char *name, char *out) {
  char buf[DFS_PATH_MAX + DFS_NAME_MAX + 4];
  int n = snprintf(buf, sizeof buf, "%s/%s", strcmp(parent, "/") ? parent : "", name);
  if (n < 0 || (size_t)n >= sizeof buf) return DFS_ETOOBIG;
  return dfs_path_normalize(NULL, buf, out, DFS_PATH_MAX + 1) ? DFS_ETOOBIG : 0;
}


/* One metad request whose reply only carries a Status (and maybe counters): calls and
 * prints the error line naming path. Returns 0 or the DFS_E* code; *rep kept if out. */
static int simple_call(cli_ctx *ctx, const char *cmd, const char *path, uint16_t type,
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

/* ---------------------------------------------------------------- rmdir, touch, cat */

int cli_cmd_rmdir(cli_ctx *ctx, int argc, char **argv) {
  cli_opt_val v[1];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("rmdir", argc, argv, NULL, 0, v, pos, 256, &npos, 1, NULL);
  if (rc != CLI_CONTINUE) return rc;
  int ret = CLI_OK;
  for (size_t i = 0; i < npos; i++) {
    char path[DFS_PATH_MAX + 1];
    Dfs__StatRep *st = NULL;
    if (cli_remote_arg(ctx, "rmdir", pos[i], path) || cli_stat(ctx, "rmdir", path, 0, &st)) {
      ret = CLI_FAIL;
      continue;
    }
    int dir = st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    dfs__stat_rep__free_unpacked(st, NULL);
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
  cli_opt_val v[1];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("touch", argc, argv, NULL, 0, v, pos, 256, &npos, 1, NULL);
  if (rc != CLI_CONTINUE) return rc;
  int ret = CLI_OK;
  for (size_t i = 0; i < npos; i++) {
    char path[DFS_PATH_MAX + 1];
    if (cli_remote_arg(ctx, "touch", pos[i], path)) { ret = CLI_FAIL; continue; }
    Dfs__TouchReq req = DFS__TOUCH_REQ__INIT;
    req.path = path;
    req.mode = 0644;
    req.request_id = dfs_random_u64();
    if (simple_call(ctx, "touch", path, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH, &req.base,
                    &dfs__touch_rep__descriptor, NULL))
      ret = CLI_FAIL;
  }
  return ret;
}

int cli_cmd_cat(cli_ctx *ctx, int argc, char **argv) {
  cli_opt_val v[1];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("cat", argc, argv, NULL, 0, v, pos, 256, &npos, 1, NULL);
  if (rc != CLI_CONTINUE) return rc;
  int ret = CLI_OK;
  for (size_t i = 0; i < npos; i++) {
    char path[DFS_PATH_MAX + 1];
    Dfs__StatRep *st = NULL;
    if (cli_remote_arg(ctx, "cat", pos[i], path) || cli_stat(ctx, "cat", path, 0, &st)) {
      ret = CLI_FAIL;
      continue;
    }
    int dir = st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    dfs__stat_rep__free_unpacked(st, NULL);
    if (dir) { cli_err("cat", "%s: is a directory (list it with 'dfs ls %s')", path, path); ret = CLI_FAIL; continue; }
    fflush(stdout);
    char *gargv[4] = {"get", path, "-", NULL};
    if (cli_cmd_get(ctx, 3, gargv) != CLI_OK) ret = CLI_FAIL;
  }
  return ret;
}

/* ---------------------------------------------------------------- mv, cp */

/* Resolves SRC and DST of mv/cp; DST an existing directory (or ending in '/') receives
 * DST/basename(SRC). Returns CLI_CONTINUE, or an exit code. */
static int two_paths(cli_ctx *ctx, const char *cmd, const char *s, const char *d, char *src,
                     char *dst) {
  if (cli_remote_arg(ctx, cmd, s, src) || cli_remote_arg(ctx, cmd, d, dst)) return CLI_FAIL;
  size_t dl = strlen(d);
  int into = dl > 0 && d[dl - 1] == '/';
  Dfs__StatRep *st = NULL;
  int rc = cli_stat(ctx, cmd, dst, 1, &st);
  if (rc == 0) {
    into = into || st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    dfs__stat_rep__free_unpacked(st, NULL);
  } else if (rc != DFS_ENOENT) {
    return CLI_FAIL;
  }
  if (into && strcmp(src, dst) != 0) {
    char base[DFS_NAME_MAX + 1], tmp[DFS_PATH_MAX + 1];
    if (cli_basename(src, base, sizeof base)) { cli_err(cmd, "%s: cannot %s the root", src, cmd); return CLI_FAIL; }
    if (cli_child_path(dst, base, tmp)) { cli_err(cmd, "%s/%s: path too long", dst, base); return CLI_FAIL; }
    strcpy(dst, tmp);
  }
  return CLI_CONTINUE;
}

int cli_cmd_mv(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"no-clobber", 'n', 0}};
  cli_opt_val v[1];
  const char *pos[2];
  size_t npos;
  int rc = cli_command_args("mv", argc, argv, specs, 1, v, pos, 2, &npos, 2, NULL);
  if (rc != CLI_CONTINUE) return rc;
  char src[DFS_PATH_MAX + 1], dst[DFS_PATH_MAX + 1];
  if ((rc = two_paths(ctx, "mv", pos[0], pos[1], src, dst)) != CLI_CONTINUE) return rc;
  Dfs__RenameReq req = DFS__RENAME_REQ__INIT;
  req.src = src;
  req.dst = dst;
  req.overwrite = !v[0].present;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_RENAME, &req.base,
                 &dfs__rename_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_EEXIST && v[0].present) {
    cli_err("mv", "%s: already exists (-n/--no-clobber given; drop it to replace)", dst);
    return CLI_FAIL;
  }
  if (rc) { meta_report_path(ctx->mc, "mv", src, rc, err); return CLI_FAIL; }
  return CLI_OK;
}

int cli_cmd_cp(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"recursive", 'r', 0}, {"no-clobber", 'n', 0}};
  cli_opt_val v[2];
  const char *pos[2];
  size_t npos;
  int rc = cli_command_args("cp", argc, argv, specs, 2, v, pos, 2, &npos, 2, NULL);
  if (rc != CLI_CONTINUE) return rc;
  char src[DFS_PATH_MAX + 1], dst[DFS_PATH_MAX + 1];
  if ((rc = two_paths(ctx, "cp", pos[0], pos[1], src, dst)) != CLI_CONTINUE) return rc;
  Dfs__CopyReq req = DFS__COPY_REQ__INIT;
  req.src = src;
  req.dst = dst;
  req.recursive = v[0].present;
  req.overwrite = !v[1].present;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY, &req.base,
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
    cli_err("cp", "%s: is a directory (use cp -r to copy it and its contents)", src);
    return CLI_FAIL;
  }
  if (rc) { meta_report_path(ctx->mc, "cp", src, rc, err); return CLI_FAIL; }
  return CLI_OK;
}

/* ---------------------------------------------------------------- setrep */

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
  if (simple_call(ctx, "setrep", path, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SETREP, &req.base,
                  &dfs__setrep_rep__descriptor, &m))
    return CLI_FAIL;
  Dfs__SetrepRep *rep = (Dfs__SetrepRep *)m;
  if (!ctx->quiet)
    printf("setrep %s: goal %u on %llu file%s (the cluster converges in the background)\n",
           path, req.replicas, (unsigned long long)rep->files, rep->files == 1 ? "" : "s");
  dfs__setrep_rep__free_unpacked(rep, NULL);
  return CLI_OK;
}

/* ---------------------------------------------------------------- tree */

typedef struct {
  uint64_t dirs, files;
  int failed;
} tree_count;

static void tree_walk(cli_ctx *ctx, const char *path, char *prefix, size_t plen,
                      tree_count *tc) {
  Dfs__ListRep *rep = NULL;
  if (cli_list(ctx, "tree", path, 0, &rep)) { tc->failed = 1; return; }
  for (size_t i = 0; i < rep->n_entries; i++) {
    const Dfs__Entry *e = rep->entries[i];
    int last = i + 1 == rep->n_entries;
    int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    printf("%s%s", prefix, last ? "└── " : "├── ");
    cli_put_esc(stdout, e->name);
    printf("%s\n", dir ? "/" : "");
    if (!dir) { tc->files++; continue; }
    tc->dirs++;
    char child[DFS_PATH_MAX + 1];
    const char *add = last ? "    " : "│   ";
    if (cli_child_path(path, e->name ? e->name : "", child) || plen + strlen(add) + 1 > 4096) {
      tc->failed = 1;
      continue;
    }
    strcpy(prefix + plen, add);
    tree_walk(ctx, child, prefix, plen + strlen(add), tc);
    prefix[plen] = '\0';
  }
  dfs__list_rep__free_unpacked(rep, NULL);
}

int cli_cmd_tree(cli_ctx *ctx, int argc, char **argv) {
  cli_opt_val v[1];
  const char *pos[1];
  size_t npos;
  int rc = cli_command_args("tree", argc, argv, NULL, 0, v, pos, 1, &npos, 0, NULL);
  if (rc != CLI_CONTINUE) return rc;
  char path[DFS_PATH_MAX + 1];
  const char *arg = npos ? pos[0] : ctx->cwd ? "." : cli_user(ctx) ? "~" : "/";
  if (cli_remote_arg(ctx, "tree", arg, path)) return CLI_FAIL;
  Dfs__StatRep *st = NULL;
  if (cli_stat(ctx, "tree", path, 0, &st)) return CLI_FAIL;
  int dir = st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  dfs__stat_rep__free_unpacked(st, NULL);
  if (!dir) { cli_err("tree", "%s: not a directory (use 'dfs info' for a file)", path); return CLI_FAIL; }
  char *prefix = calloc(1, 4096 + 8);
  if (!prefix) { cli_err("tree", "out of memory"); return CLI_FAIL; }
  cli_put_esc(stdout, path);
  putchar('\n');
  tree_count tc = {0, 0, 0};
  tree_walk(ctx, path, prefix, 0, &tc);
  free(prefix);
  printf("\n%llu director%s, %llu file%s\n", (unsigned long long)tc.dirs,
         tc.dirs == 1 ? "y" : "ies", (unsigned long long)tc.files, tc.files == 1 ? "" : "s");
  return tc.failed ? CLI_FAIL : CLI_OK;
}

/* ---------------------------------------------------------------- info */

#define INFO_PAGE 1024

static void servers_str(const Dfs__ChunkLocation *c, char *out, size_t outsz) {
  size_t n = 0;
  out[0] = '\0';
  for (size_t i = 0; i < c->n_replicas && n < outsz; i++) {
    const Dfs__ServerAddr *a = c->replicas[i];
    n += (size_t)snprintf(out + n, outsz - n, "%s%s:%u", i ? "," : "", a->host ? a->host : "?", a->port);
  }
  if (!c->n_replicas) snprintf(out, outsz, "(none live)");
}

void cli_print_entry_text(const char *path, const Dfs__Entry *e, int goal_words) {
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  char mode[11], tm[32], hs[32], eb[CLI_ESC_BUF];
  printf("path:     %s\n", cli_esc(path, eb, sizeof eb));
  printf("type:     %s\n", dir ? "directory" : "file");
  if (dir) printf("entries:  %llu\n", (unsigned long long)e->size);
  else printf("size:     %llu (%s)\n", (unsigned long long)e->size, dfs_human_size(e->size, hs, sizeof hs));
  printf("mode:     %s (%04o)\n", cli_mode_string(dir, e->mode, mode), e->mode & 07777);
  printf("owner:    %s\n", e->owner && *e->owner ? cli_esc(e->owner, eb, sizeof eb) : "-");
  printf("mtime:    %s\n", cli_time_string(e->mtime_ns, tm, sizeof tm));
  if (!dir && goal_words)
    printf("goal:     %u replicas\nchunks:   %llu\n", e->replicas, (unsigned long long)e->chunks);
  else if (!dir)
    printf("replicas: %u\nchunks:   %llu\n", e->replicas, (unsigned long long)e->chunks);
  printf("inode:    %llu\n", (unsigned long long)e->inode);
}

int cli_cmd_info(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"json", 0, 0}};
  cli_opt_val v[1];
  const char *pos[1];
  size_t npos;
  int rc = cli_command_args(argv[0], argc, argv, specs, 1, v, pos, 1, &npos, 1, NULL);
  if (rc != CLI_CONTINUE) return rc;
  const char *cmd = argv[0];
  int json = v[0].present;
  char path[DFS_PATH_MAX + 1];
  if (cli_remote_arg(ctx, cmd, pos[0], path)) return CLI_FAIL;
  Dfs__StatRep *st = NULL;
  if (cli_stat(ctx, cmd, path, 0, &st)) return CLI_FAIL;
  const Dfs__Entry *e = st->entry;
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  if (json) {
    putchar('{');
    entry_json_fields(stdout, path, e);
  } else {
    cli_print_entry_text(path, e, 1);
  }
  int ret = CLI_OK;
  if (!dir && e->chunks) {
    if (json) printf(",\"chunks_detail\":[");
    else printf("%-6s %-20s %-8s %-8s %-8s %-4s %s\n", "index", "chunk", "version", "size", "crc32c", "live", "servers");
    uint64_t first = 0, total = e->chunks;
    while (first < total) {
      Dfs__GetFileReq req = DFS__GET_FILE_REQ__INIT;
      req.path = path;
      req.first_chunk = first;
      req.max_chunks = INFO_PAGE;
      ProtobufCMessage *m = NULL;
      char err[512];
      rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &req.base,
                     &dfs__get_file_rep__descriptor, &m, err, sizeof err);
      if (rc) {
        if (m) protobuf_c_message_free_unpacked(m, NULL);
        fflush(stdout);
        meta_report_path(ctx->mc, cmd, path, rc, err);
        ret = CLI_FAIL;
        break;
      }
      Dfs__GetFileRep *rep = (Dfs__GetFileRep *)m;
      for (size_t i = 0; i < rep->n_chunks; i++) {
        const Dfs__ChunkLocation *c = rep->chunks[i];
        char srv[1024];
        if (json) {
          printf("%s{\"index\":%llu,\"chunk_id\":%llu,\"version\":%llu,\"size\":%u,"
                 "\"crc32c\":\"%08x\",\"goal\":%u,\"known_replicas\":%u,\"servers\":[",
                 c->index ? "," : "", (unsigned long long)c->index, (unsigned long long)c->chunk_id,
                 (unsigned long long)c->version, c->length, c->crc32c, c->goal, c->all_replicas);
          for (size_t k = 0; k < c->n_replicas; k++) {
            snprintf(srv, sizeof srv, "%s:%u", c->replicas[k]->host ? c->replicas[k]->host : "",
                     c->replicas[k]->port);
            if (k) putchar(',');
            cli_json_str(stdout, srv);
          }
          printf("]}");
        } else {
          servers_str(c, srv, sizeof srv);
          printf("%-6llu %-20llu %-8llu %-8u %08x %zu/%-2u ", (unsigned long long)c->index,
                 (unsigned long long)c->chunk_id, (unsigned long long)c->version, c->length,
                 c->crc32c, c->n_replicas, c->goal ? c->goal : e->replicas);
          cli_put_esc(stdout, srv); /* hosts come from chunkserver registrations */
          putchar('\n');
        }
      }
      uint64_t got = rep->n_chunks;
      dfs__get_file_rep__free_unpacked(rep, NULL);
      if (!got) break;
      first += got;
    }
    if (json) printf("]");
  }
  if (json) printf("}\n");
  dfs__stat_rep__free_unpacked(st, NULL);
  return ret;
}

/* ---------------------------------------------------------------- search */

int cli_cmd_search(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"glob", 'g', 0},    {"owner", 'u', 1},
                                       {"min-size", 0, 1},  {"max-size", 0, 1},
                                       {"newer", 0, 1},     {"older", 0, 1},
                                       {"type", 't', 1},    {"limit", 'n', 1},
                                       {"json", 0, 0},      {"long", 'l', 0}};
  cli_opt_val v[10];
  const char *pos[2];
  size_t npos;
  int rc = cli_command_args("search", argc, argv, specs, 10, v, pos, 2, &npos, 1, NULL);
  if (rc != CLI_CONTINUE) return rc;
  Dfs__SearchReq req = DFS__SEARCH_REQ__INIT;
  req.pattern = (char *)pos[0];
  req.glob = v[0].present;
  req.owner = v[1].present ? (char *)v[1].value : "";
  if (v[2].present && cli_parse_size(v[2].value, &req.min_size))
    return cli_usage_error("search", "--min-size needs a size like 4096, 10K, 1.5M or 2GiB");
  if (v[3].present && cli_parse_size(v[3].value, &req.max_size))
    return cli_usage_error("search", "--max-size needs a size like 4096, 10K, 1.5M or 2GiB");
  if (v[4].present && cli_parse_time(v[4].value, &req.mtime_after_ns))
    return cli_usage_error("search", "--newer needs a time: 30m, 2h, 7d (ago), 2026-11-22[T10:00], or @EPOCH");
  if (v[5].present && cli_parse_time(v[5].value, &req.mtime_before_ns))
    return cli_usage_error("search", "--older needs a time: 30m, 2h, 7d (ago), 2026-11-22[T10:00], or @EPOCH");
  if (v[6].present) {
    if (strcmp(v[6].value, "f") == 0 || strcmp(v[6].value, "file") == 0) req.type = DFS__SEARCH_TYPE__SEARCH_FILES;
    else if (strcmp(v[6].value, "d") == 0 || strcmp(v[6].value, "dir") == 0) req.type = DFS__SEARCH_TYPE__SEARCH_DIRS;
    else return cli_usage_error("search", "--type must be f (files) or d (directories)");
  }
  uint64_t limit = 100;
  if (v[7].present && cli_parse_u64(v[7].value, 1, 100000, &limit))
    return cli_usage_error("search", "--limit must be 1..100000");
  req.limit = (uint32_t)limit;
  char path[DFS_PATH_MAX + 1];
  if (cli_remote_arg(ctx, "search", npos > 1 ? pos[1] : ctx->cwd ? "." : "/", path)) return CLI_FAIL;
  req.path = path;
  ProtobufCMessage *m = NULL;
  if (simple_call(ctx, "search", path, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SEARCH, &req.base,
                  &dfs__search_rep__descriptor, &m))
    return CLI_FAIL;
  Dfs__SearchRep *rep = (Dfs__SearchRep *)m;
  if (v[8].present) {
    printf("{\"hits\":[");
    for (size_t i = 0; i < rep->n_hits; i++) {
      if (i) putchar(',');
      if (rep->hits[i]->entry) cli_entry_json(stdout, rep->hits[i]->path, rep->hits[i]->entry);
      else { printf("{\"path\":"); cli_json_str(stdout, rep->hits[i]->path); printf("}"); }
    }
    printf("],\"truncated\":%s,\"scanned\":%llu}\n", rep->truncated ? "true" : "false",
           (unsigned long long)rep->scanned);
  } else {
    for (size_t i = 0; i < rep->n_hits; i++) {
      const Dfs__SearchHit *h = rep->hits[i];
      int dir = h->entry && h->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
      if (v[9].present && h->entry) {
        char mode[11], tm[32], hs[32], ob[1024];
        printf("%s  %-10s %9s  %s  ", cli_mode_string(dir, h->entry->mode, mode),
               h->entry->owner ? cli_esc(h->entry->owner, ob, sizeof ob) : "-",
               dir ? "-" : dfs_human_size(h->entry->size, hs, sizeof hs),
               cli_time_string(h->entry->mtime_ns, tm, sizeof tm));
      }
      cli_put_esc(stdout, h->path);
      printf("%s\n", dir ? "/" : "");
    }
    if (rep->truncated)
      cli_err("search", "more than %u results; showing the first %u (raise --limit or narrow the pattern)",
              req.limit, req.limit);
  }
  dfs__search_rep__free_unpacked(rep, NULL);
  return CLI_OK;
}

/* ---------------------------------------------------------------- trash */

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
    if (!ctx->quiet) printf("restored trash item %llu%s%s\n", (unsigned long long)req.id,
                            req.path ? " to " : "", req.path ? req.path : "");
  } else if (!ctx->quiet) {
    printf("removed %llu item%s from the trash\n", (unsigned long long)rep->count,
           rep->count == 1 ? "" : "s");
  }
  dfs__trash_rep__free_unpacked(rep, NULL);
  return CLI_OK;
}
