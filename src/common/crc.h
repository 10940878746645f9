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

#endif
