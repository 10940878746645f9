/* perm: permission checks on the namespace (perm.h). Path walking here mirrors ns.c's
 * walk (same messages for missing components) but checks x on each directory before
 * looking inside it, so a refused user cannot even learn whether a name exists. */
#include "metad/perm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/path.h"

int perm_is_super(const char *user, int is_admin) { return is_admin || !user || !*user; }

int perm_check(const char *user, int is_admin, const ns_inode *n, unsigned want) {
  if (perm_is_super(user, is_admin)) return 0;
  const char *owner = n->owner ? n->owner : "";
  unsigned bits = !strcmp(owner, user) ? (n->mode >> 6) & 7 : n->mode & 7;
  return (bits & want) == want ? 0 : DFS_EPERM;
}

void perm_denied_msg(char *msg, size_t msgsz, const char *path, size_t pathlen,
                     const ns_inode *n) {
  if (pathlen == 0) { /* the root */
    path = "/";
    pathlen = 1;
  }
  snprintf(msg, msgsz, "permission denied: %.*s (owner %s, mode %04o)",
           (int)(pathlen > 1024 ? 1024 : pathlen), path,
           n->owner && *n->owner ? n->owner : "(none)", n->mode & 07777);
}

typedef struct {
  const char *user;
  int is_admin;
} searcher;

/* ns_walk's enter: search (x) permission on every directory the walk looks into. */
static int need_x(void *ud, const ns_inode *dir, const char *path, size_t prefix_len,
                  char *msg, size_t msgsz) {
  const searcher *w = ud;
  if (!perm_check(w->user, w->is_admin, dir, PERM_X)) return 0;
  perm_denied_msg(msg, msgsz, path, prefix_len, dir);
  return DFS_EPERM;
}

static int walk(ns_t *ns, const char *path, int to_parent, const char *user, int is_admin,
                ns_inode **out, const char **last, size_t *lastlen, char *msg,
                size_t msgsz) {
  searcher w = {user, is_admin};
  return ns_walk(ns, path, to_parent, need_x, &w, out, last, lastlen, msg, msgsz);
}

int perm_lookup(ns_t *ns, const char *path, const char *user, int is_admin, ns_inode **out,
                char *msg, size_t msgsz) {
  return walk(ns, path, 0, user, is_admin, out, NULL, NULL, msg, msgsz);
}

int perm_lookup_parent(ns_t *ns, const char *path, const char *user, int is_admin,
                       unsigned want, ns_inode **parent, ns_inode **child, char *msg,
                       size_t msgsz) {
  const char *name;
  size_t nlen;
  ns_inode *dir;
  int rc = walk(ns, path, 1, user, is_admin, &dir, &name, &nlen, msg, msgsz);
  if (rc) return rc;
  if (want && perm_check(user, is_admin, dir, want)) {
    size_t plen = name > path + 1 ? (size_t)(name - 1 - path) : 0;
    perm_denied_msg(msg, msgsz, path, plen, dir);
    return DFS_EPERM;
  }
  *parent = dir;
  *child = ns_child(dir, name, nlen);
  return 0;
}

int perm_check_mkdir_p(ns_t *ns, const char *path, const char *user, int is_admin,
                       char *msg, size_t msgsz) {
  ns_inode *cur = ns->root;
  const char *p = path;
  while (*p == '/') p++;
  while (*p) {
    size_t plen = cur == ns->root ? 0 : (size_t)(p - 1 - path);
    if (perm_check(user, is_admin, cur, PERM_X)) {
      perm_denied_msg(msg, msgsz, path, plen, cur);
      return DFS_EPERM;
    }
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    ns_inode *c = ns_child(cur, p, n);
    if (!c) { /* the first missing component: created in cur; the rest in our own dirs */
      if (perm_check(user, is_admin, cur, PERM_W | PERM_X)) {
        perm_denied_msg(msg, msgsz, path, plen, cur);
        return DFS_EPERM;
      }
      return 0;
    }
    if (!c->is_dir) {
      snprintf(msg, msgsz, "%.*s is a file, not a directory", (int)(p + n - path), path);
      return DFS_ENOTDIR;
    }
    cur = c;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* buf holds the path of d (len bytes, room for DFS_PATH_MAX + 1). */
static int subtree(const ns_inode *d, char *buf, size_t len, const char *user, int is_admin,
                   char *msg, size_t msgsz) {
  if (!d->is_dir || d->u.dir.count == 0) return 0;
  if (perm_check(user, is_admin, d, PERM_R | PERM_W | PERM_X)) {
    perm_denied_msg(msg, msgsz, buf, len, d);
    return DFS_EPERM;
  }
  /* by name: the directory the message names (recorded by apply) must not depend on
   * the child table's history, which differs between replicas */
  ns_inode **kids;
  if (ns_dir_sorted(d, &kids)) {
    snprintf(msg, msgsz, "metad is out of memory");
    return DFS_ENOMEM;
  }
  int rc = 0;
  for (uint32_t i = 0; i < d->u.dir.count && !rc; i++) {
    const ns_inode *c = kids[i];
    if (!c->is_dir || c->u.dir.count == 0) continue;
    size_t nl = strlen(c->name);
    if (len + 1 + nl > DFS_PATH_MAX) continue; /* cannot happen for valid trees */
    buf[len] = '/';
    memcpy(buf + len + 1, c->name, nl + 1);
    rc = subtree(c, buf, len + 1 + nl, user, is_admin, msg, msgsz);
    buf[len] = 0;
  }
  free(kids);
  return rc;
}

int perm_check_subtree(const ns_inode *dir, const char *path, const char *user,
                       int is_admin, char *msg, size_t msgsz) {
  if (perm_is_super(user, is_admin)) return 0;
  char buf[DFS_PATH_MAX + 1];
  size_t len = strlen(path);
  if (len > DFS_PATH_MAX) return DFS_EBADPATH;
  memcpy(buf, path, len + 1);
  if (len == 1) len = 0; /* "/": children are appended as "/name" */
  return subtree(dir, buf, len, user, is_admin, msg, msgsz);
}

int perm_may_see(const ns_t *ns, const char *path, const char *user, int is_admin) {
  if (perm_is_super(user, is_admin)) return 1;
  const ns_inode *cur = ns->root;
  const char *p = path;
  while (*p == '/') p++;
  for (;;) { /* cur: an existing directory above path that the user may search into */
    const char *e = strchr(p, '/');
    if (!*p || !e) break; /* p is path's last component (or path is "/") */
    const ns_inode *c = ns_child(cur, p, (size_t)(e - p));
    if (!c || !c->is_dir) break;
    if (perm_check(user, is_admin, cur, PERM_X)) return 0;
    cur = c;
    p = e + 1;
  }
  return perm_check(user, is_admin, cur, PERM_R) == 0;
}
