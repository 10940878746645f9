/* The scrubber: re-reads every chunk in the background at a bounded rate and checks its
 * CRCs, so that rot is found before a client needs the replica. A corrupt chunk is
 * quarantined by the store and reported through st->corrupt_found (which makes the
 * meta link send a full inventory, so metad re-replicates it). Its work items also
 * compact mostly-deleted volume files (chunk_store_compact), within the same byte
 * budget (64 MiB/s when scrub.bytes_per_s is 0: then the work items only compact).
 * Loop thread only. */
#ifndef DFS_SCRUBBER_H
#define DFS_SCRUBBER_H

#include <stdint.h>

#include "chunkd/chunkd_state.h"

typedef struct scrubber scrubber;

/* Starts scrubbing at about bytes_per_s (0: no verification, compaction alone), one pass
 * over all chunks at most every interval_ms. st must outlive it. 0 and *out, or DFS_ENOMEM. */
int scrubber_start(chunkd_state *st, uint64_t bytes_per_s, uint64_t interval_ms, scrubber **out);
/* Stops: no new work is queued; a work item in flight finishes harmlessly. */
void scrubber_stop(scrubber *sc);
/* Frees sc; only after the loop has stopped running. */
void scrubber_free(scrubber *sc);

#endif
