/* search_handlers: Search, a walk of the name index (search.c) on the loop thread,
 * bounded per user by limits.scan_rate; a hit is shown only to a user who may read
 * every directory above it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "common/path.h"
#include "metad/replies.h"
#include "metad/handlers.h"
#include "metad/limits.h"
#include "metad/perm.h"
#include "metad/read_handlers.h"

#define SEARCH_LIMIT_DEFAULT 1000
#define SEARCH_LIMIT_MAX 100000
#define MSGSZ 512

typedef struct {
  metad *md;
  const md_user *u;
  const Dfs__SearchReq *rq;
  const ns_inode *base;
  size_t limit;
  ns_inode **hits;
  size_t n;
  int truncated;
  uint64_t visible; /* candidates the caller may see (the reply's scanned count) */
} search_ctx;

/* 1 if the user has r+x on every directory from the root down to n's parent (and n's
 * chain ends at the base directory of the search, i.e. below it, not in the trash). */
static int search_visible(search_ctx *s, const ns_inode *n) {
  int below = 0;
  for (const ns_inode *d = n->parent; d; d = d->parent) {
    if (d == s->base) below = 1;
    if (perm_check(s->u->name, s->u->is_admin, d, PERM_R | PERM_X)) return 0;
    if (!d->parent && d != s->md->fsm->ns->root) return 0;
  }
  return below;
}

static int search_hit(void *ud, ns_inode *n) {
  search_ctx *s = ud;
  const Dfs__SearchReq *rq = s->rq;
  if (rq->type == DFS__SEARCH_TYPE__SEARCH_FILES && n->is_dir) return 0;
  if (rq->type == DFS__SEARCH_TYPE__SEARCH_DIRS && !n->is_dir) return 0;
  if (*rq->owner && strcmp(rq->owner, n->owner ? n->owner : "")) return 0;
  if (rq->min_size || rq->max_size) {
    if (n->is_dir) return 0;
    if (n->u.file.size < rq->min_size) return 0;
    if (rq->max_size && n->u.file.size > rq->max_size) return 0;
  }
  if (rq->mtime_after_ns && n->mtime_ns < rq->mtime_after_ns) return 0;
  if (rq->mtime_before_ns && n->mtime_ns > rq->mtime_before_ns) return 0;
  if (!search_visible(s, n)) return 0;
  s->visible++;
  if (s->n == s->limit) {
    s->truncated = 1;
    return 1;
  }
  s->hits[s->n++] = n;
  return 0;
}

static int cmp_hit_path(const void *a, const void *b) {
  const Dfs__SearchHit *x = *(Dfs__SearchHit *const *)a, *y = *(Dfs__SearchHit *const *)b;
  return strcmp(x->path, y->path);
}

void h_search(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__SearchReq *rq = md_decode(c, m, &dfs__search_req__descriptor);
  if (!rq) return;
  search_ctx s = {0};
  Dfs__SearchHit *hits = NULL, **hp = NULL;
  Dfs__Entry *ents = NULL;
  char **paths = NULL;
  ns_inode *base;
  const char *path = *rq->path ? rq->path : "/";
  int rc = read_lookup(md, u, path, &base, msg, sizeof msg);
  if (!rc && !base->is_dir) {
    rc = DFS_ENOTDIR;
    snprintf(msg, sizeof msg, "%s is a file, not a directory to search in", path);
  }
  if (!rc && strlen(rq->pattern) > 255) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "the search pattern is longer than 255 bytes");
  }
  /* a search reads the whole name index on the loop thread: each user has a budget of
   * names scanned per second (limits.scan_rate, a burst of 5 s of it) */
  if (!rc)
    rc = limits_take_scan(md->limits, u->name, md->fsm->ns->files + md->fsm->ns->dirs,
                          (double)md->scan_nodes_per_s, "searches", msg, sizeof msg);
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    goto out;
  }
  s.md = md;
  s.u = u;
  s.rq = rq;
  s.base = base;
  s.limit = rq->limit ? rq->limit : SEARCH_LIMIT_DEFAULT;
  if (s.limit > SEARCH_LIMIT_MAX) s.limit = SEARCH_LIMIT_MAX;
  s.hits = malloc(s.limit * sizeof *s.hits);
  if (!s.hits) goto oom;
  uint64_t scanned = 0;
  search_run(&md->fsm->ns->idx, rq->pattern, rq->glob, search_hit, &s, &scanned);
  hits = calloc(s.n ? s.n : 1, sizeof *hits);
  hp = calloc(s.n ? s.n : 1, sizeof *hp);
  ents = calloc(s.n ? s.n : 1, sizeof *ents);
  paths = calloc(s.n ? s.n : 1, sizeof *paths);
  if (!hits || !hp || !ents || !paths) goto oom;
  size_t k = 0;
  for (size_t i = 0; i < s.n; i++) {
    char p[DFS_PATH_MAX + 1];
    if (ns_path(s.hits[i], md->fsm->ns, p, sizeof p)) continue;
    if (!(paths[k] = strdup(p))) goto oom;
    dfs__search_hit__init(&hits[k]);
    dfs__entry__init(&ents[k]);
    read_fill_entry(&ents[k], md->fsm->ns, s.hits[i]);
    hits[k].path = paths[k];
    hits[k].entry = &ents[k];
    hp[k] = &hits[k];
    k++;
  }
  qsort(hp, k, sizeof *hp, cmp_hit_path);
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__SearchRep rep = DFS__SEARCH_REP__INIT;
  rep.status = &st;
  rep.hits = hp;
  rep.n_hits = k;
  rep.truncated = s.truncated;
  (void)scanned; /* the whole index's count would reveal names the caller cannot see */
  rep.scanned = s.visible;
  while (rep.n_hits && protobuf_c_message_get_packed_size(&rep.base) > DFS_MAX_PAYLOAD - 1024) {
    rep.n_hits /= 2;
    rep.truncated = 1;
  }
  dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  goto out;
oom:
  md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
out:
  for (size_t i = 0; paths && i < s.n; i++) free(paths[i]);
  free(paths);
  free(hits);
  free(hp);
  free(ents);
  free(s.hits);
  dfs__search_req__free_unpacked(rq, NULL);
}
