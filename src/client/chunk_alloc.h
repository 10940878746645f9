/* What every uploading client (the CLI's put, dfsgw, dfs mount) does with metad's chunk
 * allocations: check and copy one (AllocRep's ChunkAlloc), write a chunk under it down
 * its chain, and describe the written chunk in the CommitReq. Owned by the client
 * library; each caller keeps its own pool and retry policy (they differ on purpose:
 * see put.c, object_io.c, chunk_io.c). Value types: copy them freely. */
#ifndef DFS_CLIENT_CHUNK_ALLOC_H
#define DFS_CLIENT_CHUNK_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "client/chunk_client.h"
#include "client_meta.pb-c.h"
#include "common/cap.h"

/* One allocation: where to write (the chain metad chose), the write capability that
 * signs exactly that chain, and the grant the commit must carry. */
typedef struct {
  uint64_t id, version;
  chunkd_addr chain[CLIENT_MAX_CHAIN];
  size_t n_chain;
  uint8_t cap[DFS_CAP_WRITE_MAX];
  size_t cap_len;
  uint8_t grant[DFS_GRANT_LEN]; /* grant_len bytes, 0 on a cluster without a secret */
  size_t grant_len;
} chunk_alloc;

/* A chunk written down its chain and not yet committed: what its CommitReq entry needs. */
typedef struct {
  uint64_t id, version, crc64;
  uint32_t len, crc32c;
  uint64_t servers[CLIENT_MAX_CHAIN]; /* the replicas that stored it */
  size_t n_servers;
  uint8_t grant[DFS_GRANT_LEN];
  size_t grant_len;
  uint8_t receipt[DFS_RECEIPT_LEN]; /* the chunkservers' signed word (0 bytes without a secret) */
  size_t receipt_len;
} written_chunk;

/* Copies c into *a after checking it (a chain of 1..CLIENT_MAX_CHAIN servers with a host
 * and a port, a chunk id, a grant and a capability that fit). 0 or DFS_EPROTO: metad's
 * reply is never trusted to fit our buffers. */
int chunk_alloc_copy(chunk_alloc *a, const Dfs__ChunkAlloc *c);

/* Writes data[0..len) (whole CRC32C crc, CRC-64 crc64; blocks: its 64 KiB block CRCs
 * or NULL) under allocation a. 0 and *w filled, or chunk_write's DFS_E*, err and
 * *failed_server (the server to avoid on the next attempt). */
int chunk_write_alloc(chunk_conns *cc, const chunk_alloc *a, const uint8_t *data, uint32_t len,
                      uint32_t crc, uint64_t crc64, const uint32_t *blocks, written_chunk *w,
                      uint64_t *failed_server, char *err, size_t errsz);

/* Initialises *info as w's CommitReq entry; it points into w (keep w until the commit). */
void written_chunk_info(const written_chunk *w, Dfs__ChunkInfo *info);

#endif
