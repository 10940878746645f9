/* Growable arrays: the one way dfs grows a heap array (doubling, so appends cost O(1)
 * amortised). Usage, for T *v with n used and cap allocated:
 *     T *nv = dfs_grow(v, &cap, n + 1, sizeof *v, 64);
 *     if (!nv) return DFS_ENOMEM;   // v is still valid and unchanged
 *     v = nv;
 *     v[n++] = x;
 * Not thread-safe by itself: the caller owns the array. */
#ifndef DFS_ARRAY_H
#define DFS_ARRAY_H

#include <stddef.h>

/* Returns a pointer to at least `need` elements of elem bytes: p itself when *cap is
 * enough, else p realloc'ed to double its capacity (first: the capacity of an empty
 * array) until need fits, with *cap updated. NULL on OOM or overflow (p untouched).
 * New elements are uninitialised. */
void *dfs_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first);

#endif
