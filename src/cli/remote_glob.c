/* Remote glob expansion (see remote_glob.h). The resolved pattern is walked one component
 * at a time over a set of candidate paths: a literal component is appended to each
 * candidate without asking metad; a component with magic lists each candidate (a
 * directory) and keeps the names fnmatch accepts. A literal component after the last
 * magic one is checked with one stat per candidate at the end. Listings and stats are
 * counted against one budget per command, matches against another, so a pattern like
 * '/ * / * / *' over a huge tree stops with an error instead of walking it. */
#include "cli/remote_glob.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/batch.h"
#include "cli/output.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/array.h"
#include "common/errors.h"
#include "common/path.h"

void cli_glob_init(cli_glob_list *g) { memset(g, 0, sizeof *g); }

void cli_glob_free(cli_glob_list *g) {
  for (size_t i = 0; i < g->n; i++) free(g->paths[i]);
  free(g->paths);
  memset(g, 0, sizeof *g);
}

/* Copies s onto the end of the vector (v, n, cap). 0 or DFS_ENOMEM. */
static int push(char ***v, size_t *n, size_t *cap, const char *s) {
  char **nv = dfs_grow(*v, cap, *n + 1, sizeof **v, 16);
  if (!nv) return DFS_ENOMEM;
  *v = nv;
  if (!(nv[*n] = strdup(s))) return DFS_ENOMEM;
  ++*n;
  return 0;
}

static void free_vec(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

int cli_glob_has_magic(const char *s) {
  for (const char *p = s; *p; p++) {
    if (*p == '\\') {
      if (!p[1]) break;
      p++;
    } else if (*p == '*' || *p == '?') {
      return 1;
    } else if (*p == '[' && p[1] && strchr(p + 2, ']')) {
      return 1; /* a '[' without a closing ']' is literal, for fnmatch too */
    }
  }
  return 0;
}

void cli_glob_unescape(char *s) {
  char *w = s;
  for (const char *r = s; *r; r++) {
    if (*r == '\\' && r[1] && strchr("*?[]\\", r[1])) r++;
    *w++ = *r;
  }
  *w = '\0';
}

static int by_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Errors that say metad could not be asked at all: the expansion stops. Others (a
 * directory we may not read, a candidate that is a file) only drop that candidate. */
static int fatal_rc(int rc) {
  return rc == DFS_ECONN || rc == DFS_ETIMEDOUT || rc == DFS_EAUTH || rc == DFS_ECLOSED ||
         rc == DFS_EPROTO || rc == DFS_ECONFIG || rc == DFS_ENOMEM;
}

typedef struct {
  cli_ctx *ctx;
  const char *cmd, *arg;
  cli_glob_list *g;
  char why[600]; /* the first listing that failed, for a no-match message */
} glob_walk;

/* One metad read (a listing or a stat) against the budget. 0, or CLI_FAIL (printed). */
static int spend_read(glob_walk *w) {
  if (++w->g->reads <= CLI_GLOB_MAX_READS) return 0;
  cli_err(w->cmd, "'%s' needs more than %d directory reads: narrow the pattern (nothing "
          "was done)", w->arg, CLI_GLOB_MAX_READS);
  return CLI_FAIL;
}

/* A candidate dropped by metad's answer rc (err): remembered when it is worth telling. */
static void note_skip(glob_walk *w, const char *path, int rc, const char *err) {
  if (rc == DFS_ENOENT || rc == DFS_ENOTDIR || w->why[0]) return;
  snprintf(w->why, sizeof w->why, "%s%s%s", strstr(err, path) ? "" : path,
           strstr(err, path) ? "" : ": ", err);
}

/* Lists dir and appends to next each entry matching pat (only directories unless last).
 * 0, or CLI_FAIL (printed). */
static int match_dir(glob_walk *w, const char *dir, const char *pat, int last, char ***next,
                     size_t *nn, size_t *ncap) {
  if (spend_read(w)) return CLI_FAIL;
  Dfs__ListReq req = DFS__LIST_REQ__INIT;
  req.path = (char *)dir;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(w->ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base,
                     &dfs__list_rep__descriptor, &m, err, sizeof err);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (fatal_rc(rc)) { meta_report_path(w->ctx->mc, w->cmd, dir, rc, err); return CLI_FAIL; }
    note_skip(w, dir, rc, err);
    return 0;
  }
  Dfs__ListRep *rep = (Dfs__ListRep *)m;
  int ret = 0;
  char path[DFS_PATH_MAX + 1];
  for (size_t i = 0; i < rep->n_entries && ret == 0; i++) {
    const Dfs__Entry *e = rep->entries[i];
    if (!e || !e->name || !*e->name || strchr(e->name, '/')) continue;
    if (!last && e->type != DFS__ENTRY_TYPE__ENTRY_DIR) continue; /* has no children */
    if (fnmatch(pat, e->name, FNM_PATHNAME | FNM_PERIOD) != 0) continue;
    if (cli_join(dir, e->name, path, sizeof path)) continue; /* cannot exist */
    if (w->g->n + *nn >= CLI_GLOB_MAX_MATCHES) {
      cli_err(w->cmd, "'%s' matches more than %d paths: narrow the pattern (nothing was done)",
              w->arg, CLI_GLOB_MAX_MATCHES);
      ret = CLI_FAIL;
    } else if (push(next, nn, ncap, path)) {
      cli_err(w->cmd, "out of memory expanding '%s'", w->arg);
      ret = CLI_FAIL;
    }
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return ret;
}

/* 1 if path exists, 0 if not, -1 after printing (metad unreachable, budget spent). */
static int exists(glob_walk *w, const char *path) {
  if (spend_read(w)) return -1;
  Dfs__StatReq req = DFS__STAT_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(w->ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &req.base,
                     &dfs__stat_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == 0) return 1;
  if (fatal_rc(rc)) {
    meta_report_path(w->ctx->mc, w->cmd, path, rc, err);
    return -1;
  }
  note_skip(w, path, rc, err);
  return 0;
}

/* Walks the resolved pattern (absolute, normalised, with magic) into w->g. */
static int walk(glob_walk *w, char *pattern) {
  char **cur = NULL, **next = NULL;
  size_t nc = 0, ccap = 0, nn = 0, ncap = 0;
  int ret = CLI_FAIL, check_last = 0;
  if (push(&cur, &nc, &ccap, "/")) goto oom;
  char *save = NULL, path[DFS_PATH_MAX + 1];
  char *comp = strtok_r(pattern + 1, "/", &save);
  while (comp) {
    char *following = strtok_r(NULL, "/", &save);
    if (!cli_glob_has_magic(comp)) {
      cli_glob_unescape(comp);
      for (size_t i = 0; i < nc; i++) {
        if (!cur[i][0]) continue; /* dropped */
        if (cli_join(cur[i], comp, path, sizeof path)) path[0] = '\0'; /* cannot exist */
        char *np = strdup(path);
        if (!np) goto oom;
        free(cur[i]);
        cur[i] = np;
      }
      check_last = 1; /* nobody listed it: its existence is checked at the end */
    } else {
      for (size_t i = 0; i < nc; i++)
        if (cur[i][0] && match_dir(w, cur[i], comp, following == NULL, &next, &nn, &ncap))
          goto out;
      free_vec(cur, nc);
      cur = next;
      nc = nn;
      ccap = ncap;
      next = NULL;
      nn = ncap = 0;
      check_last = 0;
    }
    comp = following;
  }
  for (size_t i = 0; i < nc; i++) {
    int ok = cur[i][0] != '\0';
    if (ok && check_last) {
      ok = exists(w, cur[i]);
      if (ok < 0) goto out;
    }
    if (!ok) continue;
    if (w->g->n >= CLI_GLOB_MAX_MATCHES) {
      cli_err(w->cmd, "'%s' matches more than %d paths: narrow the pattern (nothing was done)",
              w->arg, CLI_GLOB_MAX_MATCHES);
      goto out;
    }
    /* hand the string over */
    char **ng = dfs_grow(w->g->paths, &w->g->cap, w->g->n + 1, sizeof *ng, 16);
    if (!ng) goto oom;
    w->g->paths = ng;
    ng[w->g->n++] = cur[i];
    cur[i] = NULL;
  }
  ret = 0;
  goto out;
oom:
  cli_err(w->cmd, "out of memory expanding '%s'", w->arg);
out:
  free_vec(cur, nc);
  free_vec(next, nn);
  return ret;
}

int cli_remote_glob(cli_ctx *ctx, const char *cmd, const char *arg, cli_glob_list *g) {
  char resolved[DFS_PATH_MAX + 1];
  if (cli_remote_arg(ctx, cmd, arg, resolved)) return CLI_FAIL;
  if (!cli_glob_has_magic(resolved)) {
    cli_glob_unescape(resolved);
    if (g->n >= CLI_GLOB_MAX_MATCHES) {
      cli_err(cmd, "more than %d paths given: nothing was done", CLI_GLOB_MAX_MATCHES);
      return CLI_FAIL;
    }
    if (push(&g->paths, &g->n, &g->cap, resolved)) {
      cli_err(cmd, "out of memory");
      return CLI_FAIL;
    }
    return 0;
  }
  glob_walk w = {.ctx = ctx, .cmd = cmd, .arg = arg, .g = g};
  size_t first = g->n;
  if (walk(&w, resolved)) return CLI_FAIL;
  if (g->n == first) {
    if (w.why[0])
      cli_err(cmd, "no match for '%s' (%s); nothing was done", arg, w.why);
    else
      cli_err(cmd, "no match for '%s': nothing was done (see what is there with 'dfs ls'; "
              "a backslash makes * ? [ literal)", arg);
    return CLI_FAIL;
  }
  qsort(g->paths + first, g->n - first, sizeof *g->paths, by_str);
  return 0;
}

int cli_remote_glob_all(cli_ctx *ctx, const char *cmd, const char *const *args, size_t n,
                        cli_glob_list *g) {
  for (size_t i = 0; i < n; i++)
    if (cli_remote_glob(ctx, cmd, args[i], g)) return CLI_FAIL;
  return 0;
}
