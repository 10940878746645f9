/* Wire framing: every message is a fixed 24-byte header, a protobuf payload, then
 * optional raw bulk bytes (chunk data).
 *
 *   0      4      6      8             16          20          24
 *   | magic | type | flags | request id | payload len | bulk len | payload.. | bulk.. |
 *
 * All integers big-endian. Limits are checked on the header alone, before anything is
 * allocated for the body. Replies carry DFS_FRAME_REPLY and the request's id. */
#ifndef DFS_FRAME_H
#define DFS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define DFS_FRAME_MAGIC 0x44465331u /* "DFS1" */
#define DFS_FRAME_HDR_LEN 24
#define DFS_FRAME_REPLY 0x0001u

#define DFS_CHUNK_SIZE (1u << 20)       /* 1 MiB chunks */
#define DFS_BLOCK_SIZE (64u << 10)      /* CRC32C per 64 KiB block */
#define DFS_BLOCKS_PER_CHUNK (DFS_CHUNK_SIZE / DFS_BLOCK_SIZE)
/* chunkd's header per chunk file: a replica uses this plus its length on disk (metad
 * counts it when it estimates a server's use) */
#define DFS_CHUNK_FILE_HDR 4096u

/* Default limits: metadata payloads (a commit of a 100 GiB file lists 100k chunks). */
#define DFS_MAX_PAYLOAD (32u << 20)
#define DFS_MAX_BULK (DFS_CHUNK_SIZE + 4096u)
/* A file's client attributes (CommitReq.attrs, Entry.attrs): opaque bytes metad keeps
 * with the file, at most this many (client_meta.proto). */
#define DFS_ATTRS_MAX 2048u

typedef struct {
  uint16_t type;     /* dfs MsgType */
  uint16_t flags;    /* DFS_FRAME_REPLY, ... */
  uint64_t req_id;
  uint32_t payload_len;
  uint32_t bulk_len;
} dfs_frame_hdr;

typedef struct {
  uint32_t max_payload;
  uint32_t max_bulk;
} dfs_frame_limits;

/* Writes exactly DFS_FRAME_HDR_LEN bytes to out. */
void dfs_frame_encode_hdr(const dfs_frame_hdr *h, uint8_t out[DFS_FRAME_HDR_LEN]);
/* Parses and validates a header: DFS_EPROTO on bad magic/unknown flags, DFS_ETOOBIG if
 * a length exceeds the limits. Returns 0 and fills *h on success. */
int dfs_frame_decode_hdr(const uint8_t in[DFS_FRAME_HDR_LEN], const dfs_frame_limits *lim,
                         dfs_frame_hdr *h);

#endif
