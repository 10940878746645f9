/* Growable arrays (see array.h). */
#include "common/array.h"

#include <stdint.h>
#include <stdlib.h>

void *dfs_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first) {
  if (need <= *cap) return p;
  size_t nc = *cap ? *cap : (first ? first : 1);
  while (nc < need) {
    if (nc > SIZE_MAX / 2) return NULL;
    nc *= 2;
  }
  if (elem && nc > SIZE_MAX / elem) return NULL;
  void *np = realloc(p, nc * elem);
  if (!np) return NULL;
  *cap = nc;
  return np;
}
