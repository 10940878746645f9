/* A received frame: header plus one heap buffer holding payload then bulk. Whoever
 * receives a dfs_msg owns msg->buf and must release it with dfs_msg_free (or keep it,
 * e.g. to hand the bulk to a disk write, and free it later). */
#ifndef DFS_MSG_H
#define DFS_MSG_H

#include <protobuf-c/protobuf-c.h>

#include "common/frame.h"

typedef struct {
  dfs_frame_hdr hdr;
  uint8_t *buf;      /* owned; payload_len + bulk_len bytes (NULL if both are 0) */
  uint8_t *payload;  /* = buf */
  uint8_t *bulk;     /* = buf + payload_len, or NULL if bulk_len == 0 */
} dfs_msg;

void dfs_msg_free(dfs_msg *m); /* frees m->buf and clears m; m itself is not freed */

/* Encodes header + packed protobuf into one new buffer of *len bytes (caller frees
 * with free()). bulk_len is only recorded in the header. NULL on OOM. */
uint8_t *dfs_msg_pack(uint16_t type, uint16_t flags, uint64_t req_id,
                      const ProtobufCMessage *payload, uint32_t bulk_len, size_t *len);

/* Builds the Status of a reply (message copied by pointer: must outlive the packing). */
#define DFS_STATUS_INIT_ERR(st, err, msg) \
  do { (st).error = (err); (st).message = (char *)(msg); } while (0)

#endif
