/* CRC32C arithmetic on checksums alone: the CRC of a concatenation from the CRCs of
 * its parts (as zlib's crc32_combine, for the Castagnoli polynomial). chunkd uses it to
 * get a chunk's whole CRC from its verified 64 KiB block CRCs instead of a second pass
 * over the data. Pure functions, any thread. */
#ifndef DFS_CHUNK_CRC_H
#define DFS_CHUNK_CRC_H

#include <stddef.h>
#include <stdint.h>

/* The dfs_crc32c of A||B, given crc1 = dfs_crc32c(0, A) and crc2 = dfs_crc32c(0, B)
 * with len2 = |B|. */
uint32_t chunk_crc_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

/* The dfs_crc32c of `length` bytes whose 64 KiB blocks (DFS_BLOCK_SIZE, the last may be
 * short) have the CRCs blocks[0 .. ceil(length / DFS_BLOCK_SIZE)). 0 for length 0. */
uint32_t chunk_crc_from_blocks(const uint32_t *blocks, uint32_t length);

#endif
