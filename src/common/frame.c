/* Frame header encode/decode with limit checks (see frame.h for the layout). */
#include "common/frame.h"

#include "common/bytes.h"
#include "common/errors.h"

void dfs_frame_encode_hdr(const dfs_frame_hdr *h, uint8_t out[DFS_FRAME_HDR_LEN]) {
  dfs_put_be32(out, DFS_FRAME_MAGIC);
  dfs_put_be16(out + 4, h->type);
  dfs_put_be16(out + 6, h->flags);
  dfs_put_be64(out + 8, h->req_id);
  dfs_put_be32(out + 16, h->payload_len);
  dfs_put_be32(out + 20, h->bulk_len);
}

int dfs_frame_decode_hdr(const uint8_t in[DFS_FRAME_HDR_LEN], const dfs_frame_limits *lim,
                         dfs_frame_hdr *h) {
  if (dfs_get_be32(in) != DFS_FRAME_MAGIC) return DFS_EPROTO;
  h->type = dfs_get_be16(in + 4);
  h->flags = dfs_get_be16(in + 6);
  h->req_id = dfs_get_be64(in + 8);
  h->payload_len = dfs_get_be32(in + 16);
  h->bulk_len = dfs_get_be32(in + 20);
  if (h->flags & ~DFS_FRAME_REPLY) return DFS_EPROTO;
  if (h->payload_len > lim->max_payload || h->bulk_len > lim->max_bulk) return DFS_ETOOBIG;
  return 0;
}
