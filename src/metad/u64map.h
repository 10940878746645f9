/* u64map: an open-addressing hash map from a non-zero uint64 key to a uint64 value,
 * with linear probing and backward-shift deletion (no tombstones). Used for chunk ids
 * -> chunk table slot and request ids -> result slot. Not thread-safe; loop thread. */
#ifndef METAD_U64MAP_H
#define METAD_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t *keys; /* 0 = empty slot; owned */
  uint64_t *vals; /* owned */
  size_t cap;     /* power of two, or 0 */
  size_t count;
} u64map;

void u64map_init(u64map *m);           /* empty map, no allocation */
void u64map_free(u64map *m);           /* frees the arrays; m can be re-initialised */
/* Inserts or overwrites key (must be != 0). 0 or DFS_ENOMEM. */
int u64map_put(u64map *m, uint64_t key, uint64_t val);
/* 1 and *val if present, else 0. val may be NULL. */
int u64map_get(const u64map *m, uint64_t key, uint64_t *val);
/* Removes key; 1 if it was present. */
int u64map_del(u64map *m, uint64_t key);

#endif
