/* u64map: open addressing, linear probing, backward-shift deletion (see u64map.h).
 * Invariant: every key sits between its home slot and the first empty slot after it;
 * load factor stays <= 1/2. */
#include "metad/u64map.h"

#include <stdlib.h>

#include "common/errors.h"

static inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

void u64map_init(u64map *m) {
  m->keys = NULL;
  m->vals = NULL;
  m->cap = 0;
  m->count = 0;
}

void u64map_free(u64map *m) {
  free(m->keys);
  free(m->vals);
  u64map_init(m);
}

static int grow(u64map *m) {
  size_t ncap = m->cap ? m->cap * 2 : 64;
  uint64_t *nk = calloc(ncap, sizeof *nk), *nv = malloc(ncap * sizeof *nv);
  if (!nk || !nv) {
    free(nk);
    free(nv);
    return DFS_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t j = mix(m->keys[i]) & (ncap - 1);
    while (nk[j]) j = (j + 1) & (ncap - 1);
    nk[j] = m->keys[i];
    nv[j] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = nk;
  m->vals = nv;
  m->cap = ncap;
  return 0;
}

int u64map_put(u64map *m, uint64_t key, uint64_t val) {
  if ((m->count + 1) * 2 > m->cap) {
    int rc = grow(m);
    if (rc) return rc;
  }
  size_t j = mix(key) & (m->cap - 1);
  while (m->keys[j] && m->keys[j] != key) j = (j + 1) & (m->cap - 1);
  if (!m->keys[j]) {
    m->keys[j] = key;
    m->count++;
  }
  m->vals[j] = val;
  return 0;
}

int u64map_get(const u64map *m, uint64_t key, uint64_t *val) {
  if (!m->cap || !key) return 0;
  size_t j = mix(key) & (m->cap - 1);
  while (m->keys[j]) {
    if (m->keys[j] == key) {
      if (val) *val = m->vals[j];
      return 1;
    }
    j = (j + 1) & (m->cap - 1);
  }
  return 0;
}

int u64map_del(u64map *m, uint64_t key) {
  if (!m->cap || !key) return 0;
  size_t mask = m->cap - 1, j = mix(key) & mask;
  while (m->keys[j] && m->keys[j] != key) j = (j + 1) & mask;
  if (!m->keys[j]) return 0;
  /* backward shift: move later entries of the cluster into the hole when allowed */
  size_t hole = j;
  for (size_t k = (j + 1) & mask; m->keys[k]; k = (k + 1) & mask) {
    size_t home = mix(m->keys[k]) & mask;
    /* entry at k may move to hole iff home is not cyclically in (hole, k] */
    int in_range = hole <= k ? (home > hole && home <= k) : (home > hole || home <= k);
    if (!in_range) {
      m->keys[hole] = m->keys[k];
      m->vals[hole] = m->vals[k];
      hole = k;
    }
  }
  m->keys[hole] = 0;
  m->count--;
  return 1;
}
