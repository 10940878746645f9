/* placement: choosing the chain of chunkservers for a new chunk. Pure function of the
 * candidates given (the caller passes live servers with room for a chunk) and a random
 * state, so it is unit-testable and reproducible from a seed. */
#ifndef METAD_PLACEMENT_H
#define METAD_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t id;
  uint64_t free_bytes;
  uint32_t load;
} placement_cand;

/* Picks min(want, n) distinct candidates, best first: most free space and least load
 * (score = free / (1 + load)) with up to 25% random jitter. Servers in exclude (a writer
 * saw them fail) are left out, so the chain may be shorter than want (the replication
 * planner adds the missing copies later); they are used only when nobody else is left. Writes ids to out (room for
 * want) and returns the count. *rng is a non-zero xorshift64 state, updated. */
size_t placement_choose(const placement_cand *cands, size_t n, size_t want,
                        const uint64_t *exclude, size_t nexclude, uint64_t *rng,
                        uint64_t *out);

#endif
