/* Per-thread blocking connections to chunkservers: a small cache of sockets keyed by
 * address (one per chunkserver, reused across chunks), and the two chunk calls a client
 * (the CLI, dfsgw) makes: write a whole chunk to the head of a replica chain, read a
 * whole chunk. A chunk_conns belongs to one thread. */
#ifndef DFS_CLIENT_CHUNK_CLIENT_H
#define DFS_CLIENT_CHUNK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/cap.h"

#define CLIENT_MAX_CHAIN 16

typedef struct {
  uint64_t server_id;
  char host[256];
  int port;
} chunkd_addr;

typedef struct {
  chunkd_addr srv;
  int fd;
  unsigned timeout_ms; /* the send/receive timeout set on fd */
} chunk_conn_slot;

typedef struct {
  chunk_conn_slot *slots;  /* owned */
  size_t n, cap;
} chunk_conns;

void chunk_conns_init(chunk_conns *cc);
void chunk_conns_close(chunk_conns *cc);  /* closes every socket, frees slots */

/* Writes `len` bytes of chunk (id, version, whole CRC32C crc) to chain[0], which forwards to chain[1..].
 * blocks: the data's 64 KiB block CRCs if the caller has them (dfs_chunk_crcs gives both
 * in one pass), else NULL and they are computed here.
 * cap/cap_len: the write capability from metad (it signs exactly this chain: chunkd refuses
 * any other). On success returns 0 and fills
 * stored_on[0..*n_stored) (at most CLIENT_MAX_CHAIN) and receipt[0..*receipt_len) (the
 * chunkservers' signed word for CommitReq, 0 bytes on a cluster without a secret). On failure returns a DFS_E* code, a
 * line in err, and *failed_server = the server id to avoid (chain[0] if the failure is
 * not attributed to a downstream server). */
int chunk_write(chunk_conns *cc, const chunkd_addr *chain, size_t n_chain, uint64_t id,
                uint64_t version, const uint8_t *cap, size_t cap_len, const uint8_t *data,
                uint32_t len, uint32_t crc, const uint32_t *blocks, uint64_t *stored_on,
                size_t *n_stored, uint8_t receipt[DFS_RECEIPT_LEN], size_t *receipt_len,
                uint64_t *failed_server, char *err, size_t errsz);

/* Reads the whole chunk (id, version) of `len` bytes from srv into buf (len bytes) and
 * verifies its length and CRC32C against `crc`. cap/cap_len: the read capability metad
 * gave for this replica (it names srv's server and the byte range). 0, or a DFS_E* code with a line in err
 * (DFS_ECHECKSUM if the bytes do not match). */
int chunk_read(chunk_conns *cc, const chunkd_addr *srv, uint64_t id, uint64_t version,
               const uint8_t *cap, size_t cap_len, uint32_t len, uint32_t crc, uint8_t *buf,
               char *err, size_t errsz);

#endif
