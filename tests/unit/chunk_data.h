/* Helpers shared by the chunk-store unit tests: seeded chunk bytes and a write with the
 * CRCs a client would send. Header-only (static), for tests/unit only. */
#ifndef DFS_TEST_CHUNK_DATA_H
#define DFS_TEST_CHUNK_DATA_H

#include <stdint.h>
#include <stdlib.h>

#include "chunkd/chunk_store.h"
#include "common/crc.h"

/* len bytes of a pattern fixed by seed (malloc'ed; the caller frees). */
static inline uint8_t *pattern(uint32_t len, unsigned seed) {
  uint8_t *d = malloc(len ? len : 1);
  uint32_t x = seed * 2654435761u + 1;
  for (uint32_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    d[i] = (uint8_t)(x >> 16);
  }
  return d;
}

/* chunk_store_write of d with its block CRCs and whole CRC. */
static inline int put(chunk_store *s, uint64_t id, uint64_t ver, const uint8_t *d, uint32_t len) {
  uint32_t crcs[DFS_BLOCKS_PER_CHUNK];
  dfs_block_crcs(d, len, crcs);
  return chunk_store_write(s, id, ver, d, len, dfs_crc32c(0, d, len), crcs);
}

#endif
