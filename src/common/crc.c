/* ISA-L backend for CRC32C: crc32_iscsi is the reflected Castagnoli CRC without the
 * final inversion, so we apply the standard pre/post inversion here. */
#include "common/crc.h"

#include <isa-l/crc.h>

#include "common/frame.h"

uint32_t dfs_crc32c(uint32_t crc, const void *buf, size_t len) {
  return ~crc32_iscsi((unsigned char *)buf, (int)len, ~crc);
}

unsigned dfs_block_crcs(const void *data, size_t len, uint32_t *out) {
  const unsigned char *p = data;
  unsigned n = 0;
  for (size_t off = 0; off < len; off += DFS_BLOCK_SIZE) {
    size_t b = len - off < DFS_BLOCK_SIZE ? len - off : DFS_BLOCK_SIZE;
    out[n++] = dfs_crc32c(0, p + off, b);
  }
  return n;
}
