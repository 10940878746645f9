/* chunks: the chunk table of metad. Durable part (changed only by fsm apply, saved in
 * snapshots): chunk id -> version, length, CRC32C, reference count. Soft part (never in
 * the log or snapshot, rebuilt from chunkserver reports): the server ids holding a
 * replica. A chunk whose reference count drops to 0 leaves the table; its replicas
 * become garbage. Entries live in one vector; pointers are valid until the next
 * add/remove. */
#ifndef METAD_CHUNKS_H
#define METAD_CHUNKS_H

#include <stdint.h>

#include "metad/ops.h"
#include "metad/u64map.h"

#define CHUNK_INLINE_LOCS 4 /* locations kept in the entry itself (no allocation) */

typedef struct {
  uint64_t id, version;
  uint64_t crc64; /* durable (fsm snapshot section): CRC-64 of the chunk, 0 = unknown */
  uint32_t length, crc32c;
  uint32_t refs;
  uint8_t nlocs, caplocs; /* caplocs 0: the locations are inline */
  uint8_t goal;   /* durable: replication goal (highest asked by a file using it) */
  /* Soft locations (server ids, which are small: servers.c numbers them 1, 2, ...):
   * inline while there are at most CHUNK_INLINE_LOCS, else an owned array of caplocs.
   * Read them through chunk_locs(); change them only through chunks.c. */
  union {
    uint32_t in[CHUNK_INLINE_LOCS];
    uint32_t *heap;
  } locs;
} chunk_ent; /* 56 bytes: a 1M-chunk table is 56 MiB plus its id map */

/* The nlocs server ids holding a replica of e (owned by e; valid until e's locations or
 * the table change). */
static inline const uint32_t *chunk_locs(const chunk_ent *e) {
  return e->caplocs ? e->locs.heap : e->locs.in;
}

typedef struct {
  chunk_ent *ents; /* owned vector */
  size_t n, cap;
  u64map idx;      /* id -> index in ents */
} chunks_t;

void chunks_init(chunks_t *t);
void chunks_free(chunks_t *t);
/* NULL if unknown. Valid until the next chunks_add / chunks_decref. */
chunk_ent *chunks_get(chunks_t *t, uint64_t id);
/* Adds a new chunk with refs = 1 and goal 0 (callers set it). DFS_EEXIST if present, DFS_ENOMEM. */
int chunks_add(chunks_t *t, uint64_t id, uint64_t version, uint32_t length, uint32_t crc);
/* Drops one reference. When it reaches 0 the chunk is removed and on_garbage(ud, id,
 * server) is called for each soft location first. */
void chunks_decref(chunks_t *t, uint64_t id,
                   void (*on_garbage)(void *ud, uint64_t id, uint64_t server), void *ud);
/* Soft locations. add: no-op if present; 0 or DFS_ENOENT/DFS_ENOMEM. */
int chunks_add_loc(chunks_t *t, uint64_t id, uint64_t server);
void chunks_del_loc(chunks_t *t, uint64_t id, uint64_t server);
/* Drops server from e's locations (no-op if absent). */
void chunk_ent_del_loc(chunk_ent *e, uint64_t server);

/* Snapshot of the durable part. decode: 0 or DFS_EPROTO/DFS_ENOMEM (t left empty). */
void chunks_encode(const chunks_t *t, ops_wbuf *w);
int chunks_decode(chunks_t *t, ops_rbuf *r);

#endif
