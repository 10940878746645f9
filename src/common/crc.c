/* ISA-L backend for CRC32C: crc32_iscsi is the reflected Castagnoli CRC without the
 * final inversion, so we apply the standard pre/post inversion here. */
#include "common/crc.h"

#include <pthread.h>

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

/* ---- combination: the CRC of a concatenation from the CRCs of its parts (as zlib's
 * crc32_combine, for the Castagnoli polynomial). Polynomials are in the reflected bit
 * order of the CRC itself: bit 31 is x^0. x2n[k] = x^(2^k) mod P, built once. */

#define POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t x2n[32];
static pthread_once_t x2n_once = PTHREAD_ONCE_INIT;

/* a * b mod P. */
static uint32_t multmodp(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
  }
  return p;
}

static void x2n_init(void) {
  uint32_t p = 1u << 30; /* x^1 */
  x2n[0] = p;
  for (int k = 1; k < 32; k++) x2n[k] = p = multmodp(p, p);
}

/* x^(n * 2^k) mod P. */
static uint32_t x2nmodp(uint64_t n, unsigned k) {
  uint32_t p = 1u << 31; /* x^0 */
  while (n) {
    if (n & 1) p = multmodp(x2n[k & 31], p);
    n >>= 1;
    k++;
  }
  return p;
}

uint32_t dfs_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2) {
  pthread_once(&x2n_once, x2n_init);
  return multmodp(x2nmodp(len2, 3), crc1) ^ crc2;
}

uint32_t dfs_crc32c_from_blocks(const uint32_t *blocks, uint32_t length) {
  if (length == 0) return 0;
  pthread_once(&x2n_once, x2n_init);
  uint32_t nb = (length + DFS_BLOCK_SIZE - 1) / DFS_BLOCK_SIZE;
  uint32_t shift_full = x2nmodp(DFS_BLOCK_SIZE, 3); /* x^(8 * block size) */
  uint32_t crc = blocks[0];
  for (uint32_t i = 1; i < nb; i++) {
    uint32_t len = i + 1 < nb ? DFS_BLOCK_SIZE : length - i * DFS_BLOCK_SIZE;
    uint32_t shift = len == DFS_BLOCK_SIZE ? shift_full : x2nmodp(len, 3);
    crc = multmodp(shift, crc) ^ blocks[i];
  }
  return crc;
}

uint32_t dfs_chunk_crcs(const void *data, size_t len, uint32_t *blocks) {
  dfs_block_crcs(data, len, blocks);
  return dfs_crc32c_from_blocks(blocks, (uint32_t)len);
}
