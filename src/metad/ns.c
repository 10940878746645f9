/* ns: namespace tree, path resolution and mutations (ns.h).
 * Invariants: (1) every inode except the root is in exactly one parent's child table
 * under its own name; (2) a child table's load is <= 1/2, linear probing with
 * backward-shift deletion keyed by FNV-1a of the name; (3) files/dirs counters equal
 * the number of file (symbolic links included)/directory inodes; (4) ns->attrs holds exactly the live file inodes
 * (in the tree or the trash) that have attrs, each 1..DFS_ATTRS_MAX bytes; (5) a
 * symbolic link has is_dir 0, nchunks 0, size 0, no attrs and an owned target of
 * 1..NS_LINK_MAX bytes in u.file.ids.target. */
#include "metad/ns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/path.h"

/* An inode of 72 bytes fits glibc's 80-byte malloc chunk (80 bytes took 96): keep it. */
_Static_assert(sizeof(ns_inode) <= 72, "ns_inode grew past 72 bytes");

static uint64_t name_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static char *dupn(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

/* Owner names are interned: one copy per distinct user for the whole process (users
 * are few, files many), never freed. 0 and *out (NULL for ""), or DFS_ENOMEM. */
static char **owner_tab;
static size_t owner_n, owner_cap, owner_last;

static int owner_intern(const char *s, char **out) {
  *out = NULL;
  if (!s || !*s) return 0;
  if (owner_last < owner_n && !strcmp(owner_tab[owner_last], s)) {
    *out = owner_tab[owner_last];
    return 0;
  }
  for (size_t i = 0; i < owner_n; i++)
    if (!strcmp(owner_tab[i], s)) {
      owner_last = i;
      *out = owner_tab[i];
      return 0;
    }
  char **nt = dfs_grow(owner_tab, &owner_cap, owner_n + 1, sizeof *nt, 16);
  if (!nt) return DFS_ENOMEM;
  owner_tab = nt;
  if (!(owner_tab[owner_n] = strdup(s))) return DFS_ENOMEM;
  owner_last = owner_n;
  *out = owner_tab[owner_n++];
  return 0;
}

/* The interned copy of s, or NULL if no inode ever had that owner. */
static const char *owner_find(const char *s) {
  for (size_t i = 0; s && *s && i < owner_n; i++)
    if (!strcmp(owner_tab[i], s)) return owner_tab[i];
  return NULL;
}

/* Adds de entries and db bytes to owner's usage (owner interned; NULL = nobody's). Out
 * of memory aborts: only the fsm changes the namespace, and it must not diverge. */
static void usage_add(ns_t *ns, const char *owner, int64_t de, int64_t db) {
  if (!owner) return;
  uint64_t i;
  if (!u64map_get(&ns->usage_idx, (uint64_t)(uintptr_t)owner, &i)) {
    ns_usage *nu = dfs_grow(ns->usage, &ns->capusage, ns->nusage + 1, sizeof *nu, 16);
    if (!nu) abort();
    ns->usage = nu;
    i = ns->nusage++;
    ns->usage[i] = (ns_usage){owner, 0, 0};
    if (u64map_put(&ns->usage_idx, (uint64_t)(uintptr_t)owner, i)) abort();
  }
  ns->usage[i].entries += (uint64_t)de;
  ns->usage[i].bytes += (uint64_t)db;
}

void ns_usage_of(const ns_t *ns, const char *owner, uint64_t *entries, uint64_t *bytes) {
  const char *o = owner_find(owner);
  uint64_t i;
  *entries = *bytes = 0;
  if (o && u64map_get(&ns->usage_idx, (uint64_t)(uintptr_t)o, &i)) {
    *entries = ns->usage[i].entries;
    *bytes = ns->usage[i].bytes;
  }
}

void ns_subtree_usage(const ns_inode *n, uint64_t *entries, uint64_t *bytes) {
  *entries = *bytes = 0;
  if (!n->is_dir) {
    *entries = 1;
    *bytes = n->u.file.size;
    return;
  }
  uint64_t e = 1, b = 0;
  uint32_t pos = 0;
  for (ns_inode *c; (c = ns_dir_next(n, &pos));) { /* recursion bounded by the depth */
    uint64_t ce, cb;
    ns_subtree_usage(c, &ce, &cb);
    e += ce;
    b += cb;
  }
  *entries = e;
  *bytes = b;
}

/* ---- client attributes (beside the inodes, see ns.h) ---- */

const ns_attrs *ns_file_attrs(const ns_t *ns, const ns_inode *f) {
  uint64_t v;
  if (!ns->attrs.count || !u64map_get(&ns->attrs, (uint64_t)(uintptr_t)f, &v)) return NULL;
  return (const ns_attrs *)(uintptr_t)v;
}

int ns_set_attrs(ns_t *ns, ns_inode *f, const void *p, uint32_t len) {
  uint64_t key = (uint64_t)(uintptr_t)f, old = 0;
  int had = ns->attrs.count && u64map_get(&ns->attrs, key, &old);
  if (!len) {
    if (had) u64map_del(&ns->attrs, key);
  } else {
    ns_attrs *a = malloc(sizeof *a + len);
    if (!a) return DFS_ENOMEM;
    a->len = len;
    memcpy(a->b, p, len);
    if (u64map_put(&ns->attrs, key, (uint64_t)(uintptr_t)a)) {
      free(a);
      return DFS_ENOMEM;
    }
  }
  if (had) free((void *)(uintptr_t)old);
  return 0;
}

static ns_inode *inode_new(ns_t *ns, const char *name, size_t nlen, int is_dir,
                           uint32_t mode, const char *owner, int64_t mtime) {
  ns_inode *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->name = dupn(name, nlen);
  if (!n->name || owner_intern(owner, &n->owner)) {
    free(n->name);
    free(n);
    return NULL;
  }
  n->ino = ns->next_ino++;
  n->is_dir = (uint8_t)is_dir;
  n->mode = (uint16_t)(mode & 07777);
  n->mtime_ns = mtime;
  if (search_add(&ns->idx, n)) {
    free(n->name);
    free(n);
    return NULL;
  }
  usage_add(ns, n->owner, 1, 0); /* a file's bytes are added where its size is set */
  return n;
}

/* ---- child tables ---- */

static ns_inode *dir_find(const ns_inode *d, const char *name, size_t n) {
  if (!d->u.dir.cap) return NULL;
  uint32_t mask = d->u.dir.cap - 1, j = (uint32_t)name_hash(name, n) & mask;
  for (ns_inode *c; (c = d->u.dir.slots[j]); j = (j + 1) & mask)
    if (strlen(c->name) == n && !memcmp(c->name, name, n)) return c;
  return NULL;
}

static void slot_insert(ns_inode **slots, uint32_t cap, ns_inode *c) {
  uint32_t mask = cap - 1, j = (uint32_t)name_hash(c->name, strlen(c->name)) & mask;
  while (slots[j]) j = (j + 1) & mask;
  slots[j] = c;
}

static int dir_add(ns_inode *d, ns_inode *c) {
  if ((d->u.dir.count + 1) * 2 > d->u.dir.cap) {
    uint32_t ncap = d->u.dir.cap ? d->u.dir.cap * 2 : 4;
    ns_inode **ns = calloc(ncap, sizeof *ns);
    if (!ns) return DFS_ENOMEM;
    for (uint32_t i = 0; i < d->u.dir.cap; i++)
      if (d->u.dir.slots[i]) slot_insert(ns, ncap, d->u.dir.slots[i]);
    free(d->u.dir.slots);
    d->u.dir.slots = ns;
    d->u.dir.cap = ncap;
  }
  slot_insert(d->u.dir.slots, d->u.dir.cap, c);
  d->u.dir.count++;
  c->parent = d;
  return 0;
}

static void dir_remove(ns_inode *d, ns_inode *c) {
  uint32_t mask = d->u.dir.cap - 1;
  uint32_t j = (uint32_t)name_hash(c->name, strlen(c->name)) & mask;
  while (d->u.dir.slots[j] != c) j = (j + 1) & mask;
  uint32_t hole = j;
  for (uint32_t k = (j + 1) & mask; d->u.dir.slots[k]; k = (k + 1) & mask) {
    ns_inode *e = d->u.dir.slots[k];
    uint32_t home = (uint32_t)name_hash(e->name, strlen(e->name)) & mask;
    int in_range = hole <= k ? (home > hole && home <= k) : (home > hole || home <= k);
    if (!in_range) {
      d->u.dir.slots[hole] = e;
      hole = k;
    }
  }
  d->u.dir.slots[hole] = NULL;
  d->u.dir.count--;
  c->parent = NULL;
}

ns_inode *ns_child(const ns_inode *dir, const char *name, size_t len) {
  return dir->is_dir ? dir_find(dir, name, len) : NULL;
}

int ns_set_owner(ns_t *ns, ns_inode *n, const char *owner) {
  char *o;
  if (owner_intern(owner, &o)) return DFS_ENOMEM;
  int64_t b = n->is_dir ? 0 : (int64_t)n->u.file.size;
  usage_add(ns, n->owner, -1, -b);
  usage_add(ns, o, 1, b);
  n->owner = o;
  return 0;
}

ns_inode *ns_dir_next(const ns_inode *dir, uint32_t *pos) {
  if (!dir->is_dir) return NULL;
  while (*pos < dir->u.dir.cap) {
    ns_inode *c = dir->u.dir.slots[(*pos)++];
    if (c) return c;
  }
  return NULL;
}

static int cmp_child(const void *a, const void *b) {
  return strcmp((*(ns_inode *const *)a)->name, (*(ns_inode *const *)b)->name);
}

int ns_dir_sorted(const ns_inode *dir, ns_inode ***out) {
  *out = NULL;
  if (!dir->is_dir || !dir->u.dir.count) return 0;
  ns_inode **v = malloc((size_t)dir->u.dir.count * sizeof *v);
  if (!v) return DFS_ENOMEM;
  uint32_t pos = 0, n = 0;
  for (ns_inode *c; (c = ns_dir_next(dir, &pos)) && n < dir->u.dir.count;) v[n++] = c;
  qsort(v, n, sizeof *v, cmp_child); /* names are unique in a directory: a total order */
  *out = v;
  return 0;
}

/* Frees n and its subtree, calling on_chunk for file chunks; updates counters. */
static void inode_free_tree(ns_t *ns, ns_inode *n, void (*on_chunk)(void *, uint64_t),
                            void *ud) {
  if (ns) search_del(&ns->idx, n);
  if (ns) usage_add(ns, n->owner, -1, n->is_dir ? 0 : -(int64_t)n->u.file.size);
  if (n->is_dir) {
    for (uint32_t i = 0; i < n->u.dir.cap; i++)
      if (n->u.dir.slots[i]) inode_free_tree(ns, n->u.dir.slots[i], on_chunk, ud);
    free(n->u.dir.slots);
    if (ns) ns->dirs--;
  } else {
    if (on_chunk)
      for (uint32_t i = 0; i < n->u.file.nchunks; i++) on_chunk(ud, ns_file_chunks(n)[i]);
    if (n->is_link) free(n->u.file.ids.target);
    else if (n->u.file.nchunks != 1) free(n->u.file.ids.many);
    if (ns) ns->files--;
    if (ns) ns_set_attrs(ns, n, NULL, 0); /* without ns: ns_free frees them all */
  }
  free(n->name);
  free(n);
}

ns_t *ns_new(void) {
  ns_t *ns = calloc(1, sizeof *ns);
  if (!ns) return NULL;
  ns->next_ino = 1;
  search_init(&ns->idx);
  ns->root = inode_new(ns, "", 0, 1, 0755, NULL, 0);
  if (!ns->root) {
    search_free(&ns->idx);
    free(ns);
    return NULL;
  }
  search_del(&ns->idx, ns->root); /* the root has no name to find */
  ns->dirs = 1;
  return ns;
}

void ns_free(ns_t *ns) {
  if (!ns) return;
  if (ns->root) inode_free_tree(NULL, ns->root, NULL, NULL);
  for (size_t i = 0; i < ns->attrs.cap; i++) /* the tree's and the trash's */
    if (ns->attrs.keys[i]) free((void *)(uintptr_t)ns->attrs.vals[i]);
  u64map_free(&ns->attrs);
  search_free(&ns->idx);
  free(ns->usage);
  u64map_free(&ns->usage_idx);
  free(ns);
}

/* Gives file f the chunk array ids (malloc'd, ownership taken); one id is kept inline. */
static void set_chunks(ns_inode *f, uint64_t *ids, uint32_t n) {
  f->u.file.nchunks = n;
  if (n == 1) {
    f->u.file.ids.one = ids[0];
    free(ids);
  } else {
    f->u.file.ids.many = ids;
  }
}

/* ---- path walking ---- */

int ns_walk(ns_t *ns, const char *path, int to_parent, ns_enter_fn enter, void *ud,
            ns_inode **out, const char **last, size_t *lastlen, char *msg, size_t msgsz) {
  ns_inode *cur = ns->root;
  const char *p = path;
  while (*p == '/') p++;
  if (!*p) {
    if (to_parent) {
      snprintf(msg, msgsz, "/ has no parent");
      return DFS_EINVAL;
    }
    *out = cur;
    return 0;
  }
  for (;;) {
    int rc;
    if (enter && (rc = enter(ud, cur, path, cur == ns->root ? 0 : (size_t)(p - 1 - path), msg,
                             msgsz)))
      return rc;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    int is_last = !e || !e[1];
    if (is_last && to_parent) {
      *out = cur;
      *last = p;
      *lastlen = n;
      return 0;
    }
    ns_inode *c = dir_find(cur, p, n);
    int plen = (int)(p + n - path);
    if (!c) {
      if (is_last) {
        snprintf(msg, msgsz, "%s does not exist", path);
      } else { /* the fix creates every missing directory above the target at once */
        size_t tlen = strlen(path);
        while (tlen > 1 && path[tlen - 1] == '/') tlen--;
        int parent_len = (int)tlen;
        while (parent_len > 0 && path[parent_len - 1] != '/') parent_len--;
        if (parent_len > 1) parent_len--; /* drop the slash before the last name */
        if (parent_len < plen) parent_len = plen;
        snprintf(msg, msgsz,
                 "parent directory %.*s does not exist (create it with 'dfs mkdir -p %.*s')",
                 plen, path, parent_len, path);
      }
      return DFS_ENOENT;
    }
    if (is_last) {
      *out = c;
      return 0;
    }
    if (!c->is_dir) {
      snprintf(msg, msgsz, "%.*s is a %s, not a directory", plen, path,
               c->is_link ? "symbolic link (metad does not follow links)" : "file");
      return DFS_ENOTDIR;
    }
    cur = c;
    p = e + 1;
  }
}

/* The unchecked walk (metad's own lookups). */
static int walk(ns_t *ns, const char *path, int to_parent, ns_inode **out,
                const char **last, size_t *lastlen, char *msg, size_t msgsz) {
  return ns_walk(ns, path, to_parent, NULL, NULL, out, last, lastlen, msg, msgsz);
}

int ns_lookup(ns_t *ns, const char *path, ns_inode **out, char *msg, size_t msgsz) {
  return walk(ns, path, 0, out, NULL, NULL, msg, msgsz);
}

int ns_mkdir(ns_t *ns, const char *path, int parents, uint32_t mode, const char *owner,
             int64_t mtime_ns, char *msg, size_t msgsz) {
  if (!parents) {
    ns_inode *dir;
    const char *name;
    size_t nlen;
    int rc = walk(ns, path, 1, &dir, &name, &nlen, msg, msgsz);
    if (rc) {
      if (rc == DFS_EINVAL) {
        snprintf(msg, msgsz, "/ already exists");
        return DFS_EEXIST;
      }
      return rc;
    }
    if (dir_find(dir, name, nlen)) {
      snprintf(msg, msgsz, "%s already exists", path);
      return DFS_EEXIST;
    }
    ns_inode *d = inode_new(ns, name, nlen, 1, mode, owner, mtime_ns);
    if (!d || dir_add(dir, d)) {
      if (d) search_del(&ns->idx, d), inode_free_tree(NULL, d, NULL, NULL);
      snprintf(msg, msgsz, "out of memory");
      return DFS_ENOMEM;
    }
    ns->dirs++;
    dir->mtime_ns = mtime_ns;
    return 0;
  }
  /* mkdir -p: create every missing component */
  ns_inode *cur = ns->root;
  const char *p = path;
  while (*p == '/') p++;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    ns_inode *c = dir_find(cur, p, n);
    if (c && !c->is_dir) {
      snprintf(msg, msgsz, "%.*s is a file, not a directory", (int)(p + n - path), path);
      return DFS_ENOTDIR;
    }
    if (!c) {
      c = inode_new(ns, p, n, 1, mode, owner, mtime_ns);
      if (!c || dir_add(cur, c)) {
        if (c) search_del(&ns->idx, c), inode_free_tree(NULL, c, NULL, NULL);
        snprintf(msg, msgsz, "out of memory");
        return DFS_ENOMEM;
      }
      ns->dirs++;
      cur->mtime_ns = mtime_ns;
    }
    cur = c;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

int ns_put_check(ns_t *ns, const char *path, int overwrite, ns_inode **old, char *msg,
                 size_t msgsz) {
  ns_inode *dir;
  const char *name;
  size_t nlen;
  *old = NULL;
  int rc = walk(ns, path, 1, &dir, &name, &nlen, msg, msgsz);
  if (rc == DFS_EINVAL) {
    snprintf(msg, msgsz, "/ is a directory");
    return DFS_EISDIR;
  }
  if (rc) return rc;
  ns_inode *c = dir_find(dir, name, nlen);
  if (c && c->is_dir) {
    snprintf(msg, msgsz, "%s is a directory", path);
    return DFS_EISDIR;
  }
  if (c && !overwrite) {
    snprintf(msg, msgsz, "%s already exists (use overwrite to replace it)", path);
    return DFS_EEXIST;
  }
  *old = c;
  return 0;
}

int ns_put_file(ns_t *ns, const char *path, int overwrite, uint32_t mode, const char *owner,
                int64_t mtime_ns, uint64_t size, uint32_t replicas, uint64_t *chunks,
                uint32_t nchunks, void (*on_old_chunk)(void *ud, uint64_t id), void *ud,
                char *msg, size_t msgsz) {
  ns_inode *old;
  int rc = ns_put_check(ns, path, overwrite, &old, msg, msgsz);
  if (rc) return rc;
  ns_inode *dir;
  const char *name;
  size_t nlen;
  walk(ns, path, 1, &dir, &name, &nlen, msg, msgsz);
  ns_inode *f = inode_new(ns, name, nlen, 0, mode, owner, mtime_ns);
  if (!f) goto oom;
  f->replicas = (uint8_t)replicas;
  f->u.file.size = size;
  usage_add(ns, f->owner, 0, (int64_t)size);
  if (old) {
    dir_remove(dir, old);
    inode_free_tree(ns, old, on_old_chunk, ud);
  }
  if (dir_add(dir, f)) goto oom;
  set_chunks(f, chunks, nchunks);
  ns->files++;
  dir->mtime_ns = mtime_ns;
  return 0;
oom:
  if (f) inode_free_tree(ns, f, NULL, NULL);
  snprintf(msg, msgsz, "out of memory");
  return DFS_ENOMEM;
}

int ns_symlink(ns_t *ns, const char *path, const char *target, const char *owner,
               int64_t mtime_ns, char *msg, size_t msgsz) {
  ns_inode *dir;
  const char *name;
  size_t nlen;
  int rc = ns_lookup_parent(ns, path, &dir, &name, &nlen, msg, msgsz);
  if (rc == DFS_EINVAL) {
    snprintf(msg, msgsz, "/ already exists");
    return DFS_EEXIST;
  }
  if (rc) return rc;
  if (dir_find(dir, name, nlen)) {
    snprintf(msg, msgsz, "%s already exists", path);
    return DFS_EEXIST;
  }
  char *t = strdup(target);
  ns_inode *l = t ? inode_new(ns, name, nlen, 0, 0777, owner, mtime_ns) : NULL;
  if (!l) {
    free(t);
    snprintf(msg, msgsz, "out of memory");
    return DFS_ENOMEM;
  }
  l->is_link = 1;
  l->u.file.ids.target = t;
  if (dir_add(dir, l)) {
    inode_free_tree(ns, l, NULL, NULL); /* counted below only once attached */
    ns->files++;
    snprintf(msg, msgsz, "out of memory");
    return DFS_ENOMEM;
  }
  ns->files++;
  dir->mtime_ns = mtime_ns;
  return 0;
}

int ns_delete(ns_t *ns, const char *path, int recursive, int64_t mtime_ns,
              void (*on_chunk)(void *ud, uint64_t id), void *ud, char *msg, size_t msgsz) {
  ns_inode *n;
  int rc = walk(ns, path, 0, &n, NULL, NULL, msg, msgsz);
  if (rc) return rc;
  if (n == ns->root) {
    snprintf(msg, msgsz, "/ cannot be deleted");
    return DFS_EINVAL;
  }
  if (n->is_dir && n->u.dir.count && !recursive) {
    snprintf(msg, msgsz, "directory %s is not empty (delete it recursively: dfs rm -r %s)",
             path, path);
    return DFS_ENOTEMPTY;
  }
  ns_inode *dir = n->parent;
  dir_remove(dir, n);
  dir->mtime_ns = mtime_ns;
  inode_free_tree(ns, n, on_chunk, ud);
  return 0;
}

/* ---- subtree moves (rename, trash, copy) ---- */

/* Adds n (if self) and its descendants to the search index. */
static int index_tree(ns_t *ns, ns_inode *n, int self) {
  if (self && search_add(&ns->idx, n)) return DFS_ENOMEM;
  if (n->is_dir)
    for (uint32_t i = 0; i < n->u.dir.cap; i++)
      if (n->u.dir.slots[i] && index_tree(ns, n->u.dir.slots[i], 1)) return DFS_ENOMEM;
  return 0;
}

static void unindex_tree(ns_t *ns, ns_inode *n) {
  search_del(&ns->idx, n);
  if (n->is_dir)
    for (uint32_t i = 0; i < n->u.dir.cap; i++)
      if (n->u.dir.slots[i]) unindex_tree(ns, n->u.dir.slots[i]);
}

int ns_path(const ns_inode *n, const ns_t *ns, char *buf, size_t bufsz) {
  size_t pos = bufsz;
  if (bufsz < 2) return DFS_ETOOBIG;
  buf[--pos] = 0;
  const ns_inode *c = n;
  for (; c->parent; c = c->parent) {
    size_t l = strlen(c->name);
    if (pos < l + 1) return DFS_ETOOBIG;
    pos -= l;
    memcpy(buf + pos, c->name, l);
    buf[--pos] = '/';
  }
  if (ns ? c != ns->root : c->name[0] != 0) return DFS_ENOENT;
  if (pos == bufsz - 1) buf[--pos] = '/';
  memmove(buf, buf + pos, bufsz - pos);
  return 0;
}

int ns_is_ancestor(const ns_inode *a, const ns_inode *n) {
  for (; n; n = n->parent)
    if (n == a) return 1;
  return 0;
}

void ns_detach(ns_t *ns, ns_inode *n, int64_t mtime_ns) {
  ns_inode *dir = n->parent;
  dir_remove(dir, n);
  dir->mtime_ns = mtime_ns;
  unindex_tree(ns, n);
}

int ns_attach(ns_t *ns, ns_inode *dir, ns_inode *n, const char *name, size_t nlen,
              int64_t mtime_ns) {
  if (strlen(n->name) != nlen || memcmp(n->name, name, nlen)) {
    char *nm = dupn(name, nlen);
    if (!nm) return DFS_ENOMEM;
    free(n->name);
    n->name = nm;
  }
  if (dir_add(dir, n)) return DFS_ENOMEM;
  dir->mtime_ns = mtime_ns;
  if (index_tree(ns, n, 1)) return DFS_ENOMEM;
  return 0;
}

void ns_free_detached(ns_t *ns, ns_inode *n, void (*on_chunk)(void *ud, uint64_t id),
                      void *ud) {
  inode_free_tree(ns, n, on_chunk, ud);
}

ns_inode *ns_copy_tree(ns_t *ns, const ns_inode *src, const char *owner, int64_t mtime_ns,
                       void (*on_ref)(void *ud, uint64_t id), void *ud, uint64_t *files,
                       uint64_t *bytes) {
  ns_inode *n = inode_new(ns, src->name, strlen(src->name), src->is_dir, src->mode, owner,
                          mtime_ns);
  if (!n) return NULL;
  search_del(&ns->idx, n); /* detached until attached */
  if (src->is_dir) {
    ns->dirs++;
    /* by name: the copies' inode numbers must not depend on the table's history */
    ns_inode **kids;
    if (ns_dir_sorted(src, &kids)) goto err;
    for (uint32_t i = 0; i < src->u.dir.count; i++) {
      ns_inode *c = ns_copy_tree(ns, kids[i], owner, mtime_ns, on_ref, ud, files, bytes);
      if (!c || dir_add(n, c)) {
        if (c) inode_free_tree(ns, c, NULL, NULL);
        free(kids);
        goto err;
      }
    }
    free(kids);
  } else if (src->is_link) {
    ns->files++;
    n->is_link = 1;
    if (!(n->u.file.ids.target = strdup(src->u.file.ids.target))) goto err;
    (*files)++;
  } else {
    ns->files++;
    n->replicas = src->replicas;
    n->u.file.size = src->u.file.size;
    usage_add(ns, n->owner, 0, (int64_t)n->u.file.size);
    if (src->u.file.nchunks) {
      uint64_t *ids = malloc((size_t)src->u.file.nchunks * sizeof(uint64_t));
      if (!ids) goto err;
      memcpy(ids, ns_file_chunks(src), (size_t)src->u.file.nchunks * sizeof(uint64_t));
      set_chunks(n, ids, src->u.file.nchunks);
      for (uint32_t i = 0; i < n->u.file.nchunks; i++) on_ref(ud, ns_file_chunks(n)[i]);
    }
    const ns_attrs *a = ns_file_attrs(ns, src); /* a copy is the same content */
    if (a && ns_set_attrs(ns, n, a->b, a->len)) goto err;
    (*files)++;
    *bytes += src->u.file.size;
  }
  return n;
err:
  inode_free_tree(ns, n, NULL, NULL); /* only reached on OOM (the caller aborts) */
  return NULL;
}

int ns_lookup_parent(ns_t *ns, const char *path, ns_inode **dir, const char **name,
                     size_t *nlen, char *msg, size_t msgsz) {
  int rc = walk(ns, path, 1, dir, name, nlen, msg, msgsz);
  if (!rc && !(*dir)->is_dir) {
    snprintf(msg, msgsz, "the parent of %s is a file, not a directory", path);
    return DFS_ENOTDIR;
  }
  return rc;
}

/* ---- snapshot ---- */

static void enc_node(const ns_t *ns, const ns_inode *n, ops_wbuf *w) {
  wb_u8(w, n->is_link ? 2 : n->is_dir); /* 2: NS_DEC_LINKS */
  wb_str(w, n->name);
  wb_str(w, n->owner);
  wb_u64(w, n->ino);
  wb_u64(w, (uint64_t)n->mtime_ns);
  wb_u32(w, n->mode);
  if (n->is_link) {
    wb_str(w, n->u.file.ids.target);
  } else if (n->is_dir) {
    wb_u32(w, n->u.dir.count);
    ns_inode **kids; /* by name: the same state always gives the same bytes */
    if (ns_dir_sorted(n, &kids)) {
      w->oom = 1;
      return;
    }
    for (uint32_t i = 0; i < n->u.dir.count; i++) enc_node(ns, kids[i], w);
    free(kids);
  } else {
    wb_u8(w, n->replicas);
    wb_u64(w, n->u.file.size);
    wb_u32(w, n->u.file.nchunks);
    for (uint32_t i = 0; i < n->u.file.nchunks; i++) wb_u64(w, ns_file_chunks(n)[i]);
    const ns_attrs *a = ns_file_attrs(ns, n); /* NS_DEC_ATTRS */
    wb_u32(w, a ? a->len : 0);
    if (a) wb_bytes(w, a->b, a->len);
  }
}

void ns_encode(const ns_t *ns, ops_wbuf *w) {
  wb_u64(w, ns->next_ino);
  enc_node(ns, ns->root, w);
}

/* Decodes one node (and subtree) into parent (NULL = root). depth bounds recursion. */
static ns_inode *dec_node(ns_t *ns, ops_rbuf *r, int depth, unsigned flags) {
  if (depth > DFS_PATH_MAX / 2 + 1) return NULL;
  uint8_t kind = rb_u8(r), is_dir = kind == 1; /* 0 file, 1 dir, 2 link (NS_DEC_LINKS) */
  const char *name = rb_str(r), *owner = rb_str(r);
  uint64_t ino = rb_u64(r);
  int64_t mtime = (int64_t)rb_u64(r);
  uint32_t mode = rb_u32(r);
  if (r->err || kind > ((flags & NS_DEC_LINKS) ? 2 : 1) || (kind == 2 && depth == 0))
    return NULL;
  size_t nlen = strlen(name);
  if (depth > 0 ? dfs_name_check(name, nlen, NULL) != 0 : nlen != 0) return NULL;
  ns_inode *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->name = strdup(name);
  int own_rc = owner_intern(owner, &n->owner);
  n->ino = ino;
  n->mtime_ns = mtime;
  n->mode = (uint16_t)(mode & 07777);
  n->is_dir = is_dir;
  n->sidx = SEARCH_NONE;
  if (!n->name || own_rc) goto err;
  usage_add(ns, n->owner, 1, 0);
  if (kind == 2) {
    ns->files++;
    const char *t = rb_str(r);
    size_t tl = strlen(t);
    if (r->err || tl == 0 || tl > NS_LINK_MAX) goto err;
    n->is_link = 1;
    if (!(n->u.file.ids.target = strdup(t))) goto err;
  } else if (is_dir) {
    ns->dirs++;
    uint32_t cnt = rb_u32(r);
    if (r->err || !rb_has(r, (size_t)cnt * 30)) goto err; /* each node >= 30 bytes */
    for (uint32_t i = 0; i < cnt; i++) {
      ns_inode *c = dec_node(ns, r, depth + 1, flags);
      if (!c) goto err;
      if (dir_find(n, c->name, strlen(c->name)) || dir_add(n, c)) {
        inode_free_tree(ns, c, NULL, NULL);
        goto err;
      }
    }
  } else {
    ns->files++;
    n->replicas = rb_u8(r);
    n->u.file.size = rb_u64(r);
    usage_add(ns, n->owner, 0, (int64_t)n->u.file.size);
    uint32_t nc = rb_u32(r);
    if (r->err || !rb_has(r, (size_t)nc * 8)) goto err;
    if (nc) {
      uint64_t *ids = malloc((size_t)nc * 8);
      if (!ids) goto err;
      for (uint32_t i = 0; i < nc; i++) ids[i] = rb_u64(r);
      set_chunks(n, ids, nc);
    }
    if (flags & NS_DEC_ATTRS) {
      uint32_t al = rb_u32(r);
      const uint8_t *ab = al ? rb_bytes(r, al) : NULL;
      if (r->err || al > DFS_ATTRS_MAX || (al && ns_set_attrs(ns, n, ab, al))) goto err;
    }
  }
  return n;
err:
  inode_free_tree(ns, n, NULL, NULL);
  return NULL;
}

ns_t *ns_decode(ops_rbuf *r, unsigned flags) {
  ns_t *ns = calloc(1, sizeof *ns);
  if (!ns) return NULL;
  search_init(&ns->idx);
  ns->next_ino = rb_u64(r);
  ns->root = dec_node(ns, r, 0, flags);
  if (!ns->root || !ns->root->is_dir || index_tree(ns, ns->root, 0)) {
    ns_free(ns);
    return NULL;
  }
  return ns;
}

void ns_encode_tree(const ns_t *ns, const ns_inode *n, ops_wbuf *w) { enc_node(ns, n, w); }

ns_inode *ns_decode_tree(ns_t *ns, ops_rbuf *r, unsigned flags) {
  return dec_node(ns, r, 1, flags);
}

/* ---- depth limits ---- */

size_t ns_path_depth(const char *path) {
  size_t d = 0;
  for (const char *p = path; *p; p++)
    if (*p == '/' && p[1] && p[1] != '/') d++;
  return d;
}

int ns_check_path(const char *path, char *msg, size_t msgsz) {
  const char *why = NULL;
  if (dfs_path_check(path, &why)) {
    snprintf(msg, msgsz, "invalid path '%.200s': %s", path, why ? why : "bad path");
    return DFS_EBADPATH;
  }
  size_t d = ns_path_depth(path);
  if (d > NS_MAX_DEPTH) {
    snprintf(msg, msgsz, "path '%.100s...' is %zu levels deep: at most %d are allowed", path, d,
             NS_MAX_DEPTH);
    return DFS_EBADPATH;
  }
  return 0;
}

/* Depth-first with an explicit stack of (directory, position in it) instead of
 * recursion, so a deep tree costs heap, not stack. */
size_t ns_height(const ns_inode *n) {
  if (!n->is_dir) return 1;
  size_t cap = 64, depth = 1, best = 1;
  uint32_t *pos = malloc(cap * sizeof *pos);
  const ns_inode **dirs = malloc(cap * sizeof *dirs);
  if (!pos || !dirs) { /* cannot measure: say "too deep" rather than risk it */
    free(pos);
    free(dirs);
    return (size_t)-1;
  }
  dirs[0] = n;
  pos[0] = 0;
  while (depth) {
    const ns_inode *d = dirs[depth - 1];
    ns_inode *c = ns_dir_next(d, &pos[depth - 1]);
    if (!c) {
      depth--;
      continue;
    }
    if (depth + 1 > best) best = depth + 1;
    if (!c->is_dir || !c->u.dir.count) continue;
    if (depth == cap) {
      size_t nc = cap * 2;
      uint32_t *np = realloc(pos, nc * sizeof *np);
      if (np) pos = np;
      const ns_inode **nd = np ? realloc(dirs, nc * sizeof *nd) : NULL;
      if (!np || !nd) {
        free(pos);
        free(dirs);
        return (size_t)-1;
      }
      dirs = nd;
      cap = nc;
    }
    dirs[depth] = c;
    pos[depth] = 0;
    depth++;
  }
  free(pos);
  free(dirs);
  return best;
}

int ns_check_fits(const char *dst, const ns_inode *n, char *msg, size_t msgsz) {
  size_t d = ns_path_depth(dst), h = ns_height(n);
  if (h == (size_t)-1 || d + h - 1 > NS_MAX_DEPTH) {
    snprintf(msg, msgsz, "%.200s would be %zu levels deep below it: at most %d are allowed",
             dst, h == (size_t)-1 ? (size_t)0 : d + h - 1, NS_MAX_DEPTH);
    return DFS_EINVAL;
  }
  return 0;
}
