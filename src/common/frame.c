/* Frame header encode/decode with limit checks (see frame.h for the layout). */
#include "common/frame.h"

#include "common/errors.h"

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v >> 32); put32(p + 4, v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

void dfs_frame_encode_hdr(const dfs_frame_hdr *h, uint8_t out[DFS_FRAME_HDR_LEN]) {
  put32(out, DFS_FRAME_MAGIC);
  put16(out + 4, h->type);
  put16(out + 6, h->flags);
  put64(out + 8, h->req_id);
  put32(out + 16, h->payload_len);
  put32(out + 20, h->bulk_len);
}

int dfs_frame_decode_hdr(const uint8_t in[DFS_FRAME_HDR_LEN], const dfs_frame_limits *lim,
                         dfs_frame_hdr *h) {
  if (get32(in) != DFS_FRAME_MAGIC) return DFS_EPROTO;
  h->type = get16(in + 4);
  h->flags = get16(in + 6);
  h->req_id = get64(in + 8);
  h->payload_len = get32(in + 16);
  h->bulk_len = get32(in + 20);
  if (h->flags & ~DFS_FRAME_REPLY) return DFS_EPROTO;
  if (h->payload_len > lim->max_payload || h->bulk_len > lim->max_bulk) return DFS_ETOOBIG;
  return 0;
}
