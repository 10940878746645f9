/* trash: the per-user trash of metad's state machine. An item is a detached namespace
 * subtree (not in the tree, not in the search index) with its owner (the user who
 * deleted it), original path, deletion and expiry times. Its chunks stay referenced
 * until the item is emptied or expires (fsm.c). Items are kept in deletion order and
 * saved in snapshots with the namespace encoding (ns.h). */
#ifndef METAD_TRASH_H
#define METAD_TRASH_H

#include <stddef.h>
#include <stdint.h>

#include "metad/ns.h"
#include "metad/ops.h"

typedef struct {
  uint64_t id;
  char *user;          /* owned; who deleted it ("" = anonymous) */
  char *path;          /* owned; original path */
  int64_t deleted_ns, expires_ns;
  ns_inode *node;      /* owned detached subtree (freed by the fsm with ns_free_detached) */
} trash_item;

typedef struct {
  trash_item *items;   /* owned vector, deletion order */
  size_t n, cap;
  uint64_t next_id;    /* next item id (ids start at 1, never reused) */
} trash_t;

void trash_init(trash_t *t);
/* Frees the vector and strings; the subtrees through ns_free_detached(ns, ...) without
 * chunk callbacks (ns may be NULL: subtrees are then freed without counters). */
void trash_free(trash_t *t, ns_t *ns);
/* Appends an item taking ownership of node; copies user and path. The new id or 0 on
 * OOM (nothing changed). */
uint64_t trash_add(trash_t *t, const char *user, const char *path, int64_t deleted_ns,
                   int64_t expires_ns, ns_inode *node);
/* Index of item id, or -1. */
long trash_find(const trash_t *t, uint64_t id);
/* Removes item i from the vector (frees its strings, NOT its node). */
void trash_remove(trash_t *t, size_t i);

/* Snapshot section (the subtrees in ns's encoding, with their attrs from ns). decode:
 * flags as ns_decode's; 0, or DFS_EPROTO/DFS_ENOMEM (t left empty). */
void trash_encode(const trash_t *t, const ns_t *ns, ops_wbuf *w);
int trash_decode(trash_t *t, ns_t *ns, ops_rbuf *r, unsigned flags);

#endif
