/* The mount's inode table (inodes.h).
 * Invariants: every node is in by_ino; a node with a parent is in by_name under
 * (parent, name) and no other node has that key; a node stays allocated while
 * nlookup > 0, it is open here (of), or a child names it as parent (children hold no
 * count on their parent, so a parent is kept while it has children in the table). */
#include "mount/inodes.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/errors.h"

#define INODE_BUCKETS 65536

static size_t hash_ino(const inodes *t, uint64_t ino) {
  return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 16) % t->nbuckets;
}

static size_t hash_name(const inodes *t, const mnode *parent, const char *name) {
  uint64_t h = 1469598103934665603ull ^ parent->ino;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return (size_t)(h % t->nbuckets);
}

static mnode *node_new(inodes *t, mnode *parent, const char *name, uint32_t type) {
  mnode *n = calloc(1, sizeof *n);
  if (!n || !(n->name = strdup(name))) {
    free(n);
    return NULL;
  }
  n->ino = t->next_ino++;
  n->parent = parent;
  n->type = type;
  size_t b = hash_ino(t, n->ino);
  n->next_ino = t->by_ino[b];
  t->by_ino[b] = n;
  if (parent) {
    b = hash_name(t, parent, name);
    n->next_name = t->by_name[b];
    t->by_name[b] = n;
    parent->nchildren++;
  }
  t->count++;
  return n;
}

int inodes_init(inodes *t) {
  memset(t, 0, sizeof *t);
  t->nbuckets = INODE_BUCKETS;
  t->by_ino = calloc(t->nbuckets, sizeof *t->by_ino);
  t->by_name = calloc(t->nbuckets, sizeof *t->by_name);
  pthread_mutex_init(&t->lock, NULL);
  t->next_ino = 1; /* FUSE_ROOT_ID */
  if (!t->by_ino || !t->by_name || !(t->root = node_new(t, NULL, "", S_IFDIR))) {
    inodes_free(t);
    return DFS_ENOMEM;
  }
  t->root->nlookup = 1; /* never forgotten */
  return 0;
}

void inodes_free(inodes *t) {
  for (size_t i = 0; t->by_ino && i < t->nbuckets; i++) {
    for (mnode *n = t->by_ino[i], *nx; n; n = nx) {
      nx = n->next_ino;
      free(n->name);
      free(n);
    }
  }
  free(t->by_ino);
  free(t->by_name);
  pthread_mutex_destroy(&t->lock);
  memset(t, 0, sizeof *t);
}

mnode *inodes_get(inodes *t, uint64_t ino) {
  for (mnode *n = t->by_ino[hash_ino(t, ino)]; n; n = n->next_ino)
    if (n->ino == ino) return n;
  return NULL;
}

mnode *inodes_child(inodes *t, mnode *parent, const char *name) {
  for (mnode *n = t->by_name[hash_name(t, parent, name)]; n; n = n->next_name)
    if (n->parent == parent && strcmp(n->name, name) == 0) return n;
  return NULL;
}

mnode *inodes_lookup(inodes *t, mnode *parent, const char *name, uint32_t type) {
  mnode *n = inodes_child(t, parent, name);
  if (!n && !(n = node_new(t, parent, name, type))) return NULL;
  n->type = type;
  n->nlookup++;
  return n;
}

int inodes_path(const mnode *n, char *out, size_t outsz) {
  /* the components from n up to the root, written from the end of out backwards */
  size_t pos = outsz - 1;
  out[pos] = '\0';
  for (const mnode *p = n; p->ino != 1; p = p->parent) {
    if (!p->parent) return DFS_ENOENT; /* it, or a directory above it, is detached */
    size_t l = strlen(p->name);
    if (l + 1 > pos) return DFS_EBADPATH;
    pos -= l;
    memcpy(out + pos, p->name, l);
    out[--pos] = '/';
  }
  if (pos == outsz - 1) out[--pos] = '/';
  memmove(out, out + pos, outsz - pos);
  return 0;
}

mnode *inodes_find_path(inodes *t, const char *path) {
  mnode *n = t->root;
  char comp[256];
  for (const char *p = path; n && *p;) {
    while (*p == '/') p++;
    if (!*p) break;
    size_t l = strcspn(p, "/");
    if (l >= sizeof comp) return NULL;
    memcpy(comp, p, l);
    comp[l] = '\0';
    n = inodes_child(t, n, comp);
    p += l;
  }
  return n;
}

static void unhash_name(inodes *t, mnode *n) {
  if (!n->parent) return;
  mnode **p = &t->by_name[hash_name(t, n->parent, n->name)];
  while (*p && *p != n) p = &(*p)->next_name;
  if (*p) *p = n->next_name;
  n->next_name = NULL;
  n->parent->nchildren--;
}

static void free_node(inodes *t, mnode *n) {
  mnode *parent = n->parent;
  unhash_name(t, n);
  mnode **p = &t->by_ino[hash_ino(t, n->ino)];
  while (*p && *p != n) p = &(*p)->next_ino;
  if (*p) *p = n->next_ino;
  free(n->name);
  free(n);
  t->count--;
  if (parent) inodes_maybe_free(t, parent);
}

void inodes_maybe_free(inodes *t, mnode *n) {
  if (n == t->root || n->nlookup > 0 || n->of) return;
  if (n->nchildren > 0) return;
  free_node(t, n);
}

void inodes_detach(inodes *t, mnode *n) {
  if (n == t->root || n->detached) return;
  unhash_name(t, n);
  mnode *parent = n->parent;
  n->parent = NULL;
  n->detached = 1;
  if (parent) inodes_maybe_free(t, parent);
}

int inodes_move(inodes *t, mnode *n, mnode *newparent, const char *newname) {
  char *nm = strdup(newname);
  if (!nm) return DFS_ENOMEM;
  mnode *old = inodes_child(t, newparent, newname);
  if (old && old != n) inodes_detach(t, old);
  mnode *was = n->parent;
  unhash_name(t, n);
  free(n->name);
  n->name = nm;
  n->parent = newparent;
  n->detached = 0;
  size_t b = hash_name(t, newparent, nm);
  n->next_name = t->by_name[b];
  t->by_name[b] = n;
  newparent->nchildren++;
  if (was && was != newparent) inodes_maybe_free(t, was);
  return 0;
}

void inodes_forget(inodes *t, mnode *n, uint64_t k) {
  n->nlookup = k > n->nlookup ? 0 : n->nlookup - k;
  inodes_maybe_free(t, n);
}
