/* placement: scoring and ordering of candidate chunkservers (placement.h). */
#include "metad/placement.h"

#include <stdlib.h>

typedef struct {
  uint64_t id;
  double score;
  int excluded;
} scored;

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

static int cmp_scored(const void *a, const void *b) {
  const scored *x = a, *y = b;
  if (x->excluded != y->excluded) return x->excluded - y->excluded;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

size_t placement_choose(const placement_cand *cands, size_t n, size_t want,
                        const uint64_t *exclude, size_t nexclude, uint64_t *rng,
                        uint64_t *out) {
  if (!n || !want) return 0;
  scored *s = malloc(n * sizeof *s);
  if (!s) return 0;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int dup = 0;
    for (size_t k = 0; k < m; k++) dup |= s[k].id == cands[i].id;
    if (dup) continue;
    double jitter = 1.0 + (double)(xorshift(rng) % 1000) / 4000.0; /* 1.0 .. 1.25 */
    s[m].id = cands[i].id;
    s[m].score = (double)cands[i].free_bytes / (1.0 + cands[i].load) * jitter;
    s[m].excluded = 0;
    for (size_t k = 0; k < nexclude; k++)
      if (exclude[k] == cands[i].id) s[m].excluded = 1;
    m++;
  }
  qsort(s, m, sizeof *s, cmp_scored); /* excluded ones last */
  size_t usable = 0;
  while (usable < m && !s[usable].excluded) usable++;
  if (usable == 0) usable = m; /* all failed once: maybe a passing fault, try them again */
  size_t k = want < usable ? want : usable;
  for (size_t i = 0; i < k; i++) out[i] = s[i].id;
  free(s);
  return k;
}
