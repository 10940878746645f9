/* The commands that read the namespace: `dfs ls` (-R walks the tree client side), `dfs
 * stat`, `dfs cat` (a get to stdout), `dfs tree`, `dfs info` (per-chunk detail) and `dfs
 * search` (metad's name index). Paths go through cli_remote_arg (~, home, the shell's
 * cwd); ls's through cli_remote_glob (patterns). Errors: one line, exit 1; usage: exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ns_cmds.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/mode.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/remote_glob.h"
#include "cli/shell_util.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/util.h"

/* Column widths for `ls -l` so that the columns line up. */
typedef struct {
  int owner, size, reps;
} ls_widths;

static void long_fields(const Dfs__Entry *e, int human, char *size, size_t sizesz, char *reps,
                        size_t repsz) {
  /* A directory's size is its entry count: shown as bytes it reads as a tiny file. */
  if (e->type == DFS__ENTRY_TYPE__ENTRY_DIR) snprintf(size, sizesz, "-");
  else if (human) dfs_human_size(e->size, size, sizesz);
  else snprintf(size, sizesz, "%llu", (unsigned long long)e->size);
  if (e->type != DFS__ENTRY_TYPE__ENTRY_FILE) snprintf(reps, repsz, "-");
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

/* A name as ls prints it: escaped, a directory blue-bold (colour on) and with a '/'. */
static void put_name(const char *name, int dir, int colour) {
  if (dir && colour) fputs(CLI_SGR_DIR, stdout);
  cli_put_esc(stdout, name);
  if (dir && colour) fputs(CLI_SGR_RESET, stdout);
  if (dir) putchar('/');
}

/* mode  owner  size  replicas  date time  name (size in exact bytes unless human; "-"
 * for a directory). */
static void print_long(const Dfs__Entry *e, const char *name, int human, const ls_widths *w,
                       int colour) {
  int dir = e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  char mode[11], tm[32], size[32], reps[16], ob[1024];
  cli_mode_string(dir, e->mode, mode);
  int link = e->type == DFS__ENTRY_TYPE__ENTRY_SYMLINK;
  if (link) mode[0] = 'l';
  long_fields(e, human, size, sizeof size, reps, sizeof reps);
  printf("%s  %-*s  %*s  %*s  %s  ", mode, w->owner, owner_of(e, ob), w->size, size, w->reps,
         reps, cli_time_string(e->mtime_ns, tm, sizeof tm));
  put_name(name, dir, colour);
  if (link) {
    fputs(" -> ", stdout);
    cli_put_esc(stdout, e->target ? e->target : "");
  }
  putchar('\n');
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
  int colour = cli_colour_on(stdout);
  for (size_t i = 0; i < rep->n_entries; i++) {
    const Dfs__Entry *e = rep->entries[i];
    const char *name = e->name ? e->name : "";
    if (lng) print_long(e, name, human, &w, colour);
    else {
      put_name(name, e->type == DFS__ENTRY_TYPE__ENTRY_DIR, colour);
      putchar('\n');
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

/* ls of several operands (several PATHs, or a pattern with several matches), like ls(1):
 * the files first, then each directory under a "PATH:" header; --json: one document
 * {"dirs": [...]} where a file is an object of its own with one entry. */
static int ls_many(cli_ctx *ctx, const cli_glob_list *g, int lng, int human, int rec,
                   int json) {
  int ret = CLI_OK, first = 1, printed = 0;
  Dfs__StatRep **st = calloc(g->n, sizeof *st);
  if (!st) { cli_err("ls", "out of memory"); return CLI_FAIL; }
  ls_widths w = {0, 0, 0};
  for (size_t i = 0; i < g->n; i++) {
    if (cli_stat(ctx, "ls", g->paths[i], 0, &st[i])) { st[i] = NULL; ret = CLI_FAIL; continue; }
    if (st[i]->entry->type != DFS__ENTRY_TYPE__ENTRY_DIR) widen(&w, st[i]->entry, human);
  }
  if (json) printf("{\"dirs\":[");
  for (size_t i = 0; i < g->n; i++) { /* files */
    if (!st[i] || st[i]->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR) continue;
    if (json) {
      printf("%s{\"path\":", first ? "" : ",");
      cli_json_str(stdout, g->paths[i]);
      printf(",\"entries\":[");
      cli_entry_json(stdout, NULL, st[i]->entry);
      printf("]}");
      first = 0;
    } else if (lng) {
      print_long(st[i]->entry, g->paths[i], human, &w, cli_colour_on(stdout));
    } else {
      cli_put_esc(stdout, g->paths[i]);
      putchar('\n');
    }
    printed = 1;
  }
  for (size_t i = 0; i < g->n; i++) { /* directories */
    if (!st[i] || st[i]->entry->type != DFS__ENTRY_TYPE__ENTRY_DIR) continue;
    if (json) {
      if (list_json(ctx, g->paths[i], rec, &first)) ret = CLI_FAIL;
      continue;
    }
    if (printed) printf("\n");
    printed = 1;
    if (list_dir(ctx, g->paths[i], lng, human, rec, 1)) ret = CLI_FAIL;
  }
  if (json) printf("]}\n");
  for (size_t i = 0; i < g->n; i++)
    if (st[i]) dfs__stat_rep__free_unpacked(st[i], NULL);
  free(st);
  return ret;
}

int cli_cmd_ls(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {
      {"long", 'l', 0}, {"human", 'h', 0}, {"recursive", 'R', 0}, {"json", 0, 0}};
  cli_opt_val v[4];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("ls", argc, argv, specs, 4, v, pos, 256, &npos, 0, "PATH");
  if (rc != CLI_CONTINUE) return rc;
  if (npos == 0) pos[npos++] = ctx->cwd ? "." : cli_user(ctx) ? "~" : "/";
  int lng = v[0].present, human = v[1].present || isatty(STDOUT_FILENO), rec = v[2].present;
  /* PATHs may be remote globs; every one is expanded before anything is listed */
  cli_glob_list g;
  cli_glob_init(&g);
  if (cli_remote_glob_all(ctx, "ls", pos, npos, &g)) { cli_glob_free(&g); return CLI_FAIL; }
  if (g.n > 1) {
    rc = ls_many(ctx, &g, lng, human, rec, v[3].present);
    cli_glob_free(&g);
    return rc;
  }
  char path[DFS_PATH_MAX + 1];
  snprintf(path, sizeof path, "%s", g.paths[0]);
  cli_glob_free(&g);

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
    if (lng) print_long(st->entry, path, human, &w, cli_colour_on(stdout));
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
  int rc = cli_one_path_args(ctx, "stat", argc, argv, specs, 1, v, 1, NULL, path);
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

int cli_cmd_cat(cli_ctx *ctx, int argc, char **argv) {
  cli_opt_val v[1];
  const char *pos[256];
  size_t npos;
  int rc = cli_command_args("cat", argc, argv, NULL, 0, v, pos, 256, &npos, 1, NULL);
  if (rc != CLI_CONTINUE) return rc;
  int ret = CLI_OK;
  for (size_t i = 0; i < npos; i++) {
    char path[DFS_PATH_MAX + 1];
    int dir;
    if (cli_stat_arg_is_dir(ctx, "cat", pos[i], path, &dir)) {
      ret = CLI_FAIL;
      continue;
    }
    if (dir) { cli_err("cat", "%s: is a directory (list it with 'dfs ls %s')", path, path); ret = CLI_FAIL; continue; }
    fflush(stdout);
    char *gargv[4] = {"get", path, "-", NULL};
    if (cli_cmd_get(ctx, 3, gargv) != CLI_OK) ret = CLI_FAIL;
  }
  return ret;
}

typedef struct {
  uint64_t dirs, files;
  int failed, colour;
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
    put_name(e->name, dir, tc->colour);
    putchar('\n');
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
  int dir;
  if (cli_stat_arg_is_dir(ctx, "tree", arg, path, &dir)) return CLI_FAIL;
  if (!dir) { cli_err("tree", "%s: not a directory (use 'dfs info' for a file)", path); return CLI_FAIL; }
  char *prefix = calloc(1, 4096 + 8);
  if (!prefix) { cli_err("tree", "out of memory"); return CLI_FAIL; }
  tree_count tc = {0, 0, 0, cli_colour_on(stdout)};
  if (tc.colour) fputs(CLI_SGR_DIR, stdout);
  cli_put_esc(stdout, path);
  if (tc.colour) fputs(CLI_SGR_RESET, stdout);
  putchar('\n');
  tree_walk(ctx, path, prefix, 0, &tc);
  free(prefix);
  printf("\n%llu director%s, %llu file%s\n", (unsigned long long)tc.dirs,
         tc.dirs == 1 ? "y" : "ies", (unsigned long long)tc.files, tc.files == 1 ? "" : "s");
  return tc.failed ? CLI_FAIL : CLI_OK;
}

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
    cli_entry_json_fields(stdout, path, e);
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
  if (cli_simple_call(ctx, "search", path, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SEARCH, &req.base,
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
