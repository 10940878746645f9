/* CRC32C (Castagnoli) via ISA-L, and the per-64 KiB-block checksums of a chunk. */
#ifndef DFS_CRC_H
#define DFS_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Standard CRC32C (as iSCSI / ext4): crc = dfs_crc32c(0, buf, len), chainable by
 * passing the previous result as `crc`. */
uint32_t dfs_crc32c(uint32_t crc, const void *buf, size_t len);
/* Fills out[i] with the CRC32C of block i of data (DFS_BLOCK_SIZE blocks, last may be
 * short); returns the number of blocks, ceil(len / DFS_BLOCK_SIZE). out must hold that many. */
unsigned dfs_block_crcs(const void *data, size_t len, uint32_t *out);

/* CRC32C arithmetic on checksums alone, so that a chunk's whole CRC comes from its 64 KiB
 * block CRCs instead of a second pass over the data. Pure functions, any thread.
 * The dfs_crc32c of A||B, given crc1 = dfs_crc32c(0, A) and crc2 = dfs_crc32c(0, B)
 * with len2 = |B|. */
uint32_t dfs_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);
/* The dfs_crc32c of `length` bytes whose 64 KiB blocks (DFS_BLOCK_SIZE, the last may be
 * short) have the CRCs blocks[0 .. ceil(length / DFS_BLOCK_SIZE)). 0 for length 0. */
uint32_t dfs_crc32c_from_blocks(const uint32_t *blocks, uint32_t length);
/* One pass over a chunk: its block CRCs into blocks (ceil(len / DFS_BLOCK_SIZE)
 * entries) and, returned, its whole CRC32C. */
uint32_t dfs_chunk_crcs(const void *data, size_t len, uint32_t *blocks);

#endif
