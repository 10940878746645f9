/* trash: the trash item vector and its snapshot encoding (trash.h).
 * Invariant: ids are strictly increasing along the vector and < next_id. */
#include "metad/trash.h"

#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/errors.h"

void trash_init(trash_t *t) {
  memset(t, 0, sizeof *t);
  t->next_id = 1;
}

static void item_strings_free(trash_item *it) {
  free(it->user);
  free(it->path);
}

void trash_free(trash_t *t, ns_t *ns) {
  for (size_t i = 0; i < t->n; i++) {
    item_strings_free(&t->items[i]);
    if (t->items[i].node) ns_free_detached(ns, t->items[i].node, NULL, NULL);
  }
  free(t->items);
  trash_init(t);
}

uint64_t trash_add(trash_t *t, const char *user, const char *path, int64_t deleted_ns,
                   int64_t expires_ns, ns_inode *node) {
  trash_item *ni = dfs_grow(t->items, &t->cap, t->n + 1, sizeof *ni, 16);
  if (!ni) return 0;
  t->items = ni;
  trash_item *it = &t->items[t->n];
  it->user = strdup(user ? user : "");
  it->path = strdup(path);
  if (!it->user || !it->path) {
    item_strings_free(it);
    return 0;
  }
  it->id = t->next_id++;
  it->deleted_ns = deleted_ns;
  it->expires_ns = expires_ns;
  it->node = node;
  t->n++;
  return it->id;
}

long trash_find(const trash_t *t, uint64_t id) {
  size_t lo = 0, hi = t->n; /* ids increase: binary search */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->items[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < t->n && t->items[lo].id == id ? (long)lo : -1;
}

void trash_remove(trash_t *t, size_t i) {
  item_strings_free(&t->items[i]);
  memmove(&t->items[i], &t->items[i + 1], (t->n - i - 1) * sizeof *t->items);
  t->n--;
}

void trash_encode(const trash_t *t, const ns_t *ns, ops_wbuf *w) {
  wb_u64(w, t->next_id);
  wb_u64(w, t->n);
  for (size_t i = 0; i < t->n; i++) {
    const trash_item *it = &t->items[i];
    wb_u64(w, it->id);
    wb_str(w, it->user);
    wb_str(w, it->path);
    wb_u64(w, (uint64_t)it->deleted_ns);
    wb_u64(w, (uint64_t)it->expires_ns);
    ns_encode_tree(ns, it->node, w);
  }
}

int trash_decode(trash_t *t, ns_t *ns, ops_rbuf *r, unsigned flags) {
  trash_init(t);
  uint64_t next = rb_u64(r), n = rb_u64(r);
  if (r->err || n > r->len / 40) return DFS_EPROTO;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t id = rb_u64(r);
    const char *user = rb_str(r), *path = rb_str(r);
    int64_t del = (int64_t)rb_u64(r), exp = (int64_t)rb_u64(r);
    if (r->err || id >= next || (t->n && id <= t->items[t->n - 1].id)) goto bad;
    ns_inode *node = ns_decode_tree(ns, r, flags);
    if (!node) goto bad;
    uint64_t nid;
    t->next_id = id;
    if (!(nid = trash_add(t, user, path, del, exp, node))) {
      ns_free_detached(ns, node, NULL, NULL);
      trash_free(t, ns);
      return DFS_ENOMEM;
    }
  }
  t->next_id = next;
  return 0;
bad:
  trash_free(t, ns);
  return DFS_EPROTO;
}
