/* search: metad's name index for SearchReq. Every inode of the visible tree (not the
 * root, not trash) has one entry: its name packed NUL-terminated into one contiguous
 * arena, with parallel arrays of arena offsets and inode pointers. A substring search is
 * memmem over the arena; a glob is fnmatch on the names holding its longest literal run.
 * Removal leaves a tombstone (inode pointer NULL); the arena is compacted when half of it
 * is dead. Soft state: rebuilt from the tree after a snapshot restore. */
#ifndef METAD_SEARCH_H
#define METAD_SEARCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct ns_inode ns_inode;

#define SEARCH_NONE UINT32_MAX /* ns_inode.sidx of an inode not in the index */

typedef struct search_idx {
  char *arena;        /* owned: names, each NUL-terminated */
  size_t alen, acap;
  uint32_t *off;      /* owned: arena offset of entry i (increasing) */
  ns_inode **ino;     /* owned: inode of entry i, NULL = tombstone */
  uint32_t n, cap;    /* entries (live + dead) */
  uint32_t dead;      /* tombstones */
  size_t dead_bytes;  /* arena bytes of tombstones */
} search_idx;

void search_init(search_idx *s);
void search_free(search_idx *s);
/* Adds n (its current name) and sets n->sidx. 0 or DFS_ENOMEM (n->sidx = SEARCH_NONE). */
int search_add(search_idx *s, ns_inode *n);
/* Removes n if indexed (tombstone; may compact). */
void search_del(search_idx *s, ns_inode *n);

/* Calls hit(ud, inode) for each live entry whose name matches, in index order, until
 * hit returns nonzero. pattern "" matches all. glob: fnmatch(3) semantics, else
 * substring. *scanned = entries examined. */
void search_run(const search_idx *s, const char *pattern, int glob,
                int (*hit)(void *ud, ns_inode *n), void *ud, uint64_t *scanned);

/* Bytes of memory held by the index (arena and arrays, capacity). */
size_t search_mem(const search_idx *s);

#endif
