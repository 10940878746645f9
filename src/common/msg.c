/* Packing of outgoing frames. */
#include "common/msg.h"

#include <stdlib.h>
#include <string.h>

void dfs_msg_free(dfs_msg *m) {
  free(m->buf);
  memset(m, 0, sizeof *m);
}

uint8_t *dfs_msg_pack(uint16_t type, uint16_t flags, uint64_t req_id,
                      const ProtobufCMessage *payload, uint32_t bulk_len, size_t *len) {
  size_t plen = payload ? protobuf_c_message_get_packed_size(payload) : 0;
  uint8_t *b = malloc(DFS_FRAME_HDR_LEN + plen);
  if (!b) return NULL;
  dfs_frame_hdr h = {type, flags, req_id, (uint32_t)plen, bulk_len};
  dfs_frame_encode_hdr(&h, b);
  if (payload) protobuf_c_message_pack(payload, b + DFS_FRAME_HDR_LEN);
  *len = DFS_FRAME_HDR_LEN + plen;
  return b;
}
