/* The mount's in-memory cache of chunk contents, keyed by (chunk id, version): chunks
 * are immutable, so an entry never goes stale; it only ages out (least recently used
 * first) when the cache holds more than its byte limit. A chunk being fetched is a
 * pending entry: other readers of it wait for that fetch instead of starting their own
 * (read-ahead and a reader meeting on the same chunk cost one network read).
 * Thread safe (one lock). */
#ifndef DFS_MOUNT_CHUNK_CACHE_H
#define DFS_MOUNT_CHUNK_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cache_ent cache_ent;

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t filled;   /* a pending entry was filled or dropped */
  cache_ent **buckets;     /* owned */
  size_t nbuckets;
  cache_ent *lru_head, *lru_tail; /* head = most recently used (filled entries only) */
  uint64_t bytes, limit;   /* bytes of filled entries; the bound */
  uint64_t hits, misses;
} chunk_cache;

/* limit: bytes of chunk data kept at most (0: nothing is kept, pending entries still
 * join concurrent readers). 0 or DFS_ENOMEM. */
int chunk_cache_init(chunk_cache *c, uint64_t limit);
void chunk_cache_free(chunk_cache *c);

/* Copies [off, off+len) of chunk (id, version) into out and returns 1 when cached. When
 * another thread is fetching it, waits for that fetch first. Returns 0 when it is not
 * cached: with claim set the caller now owns a pending entry and must end it with
 * chunk_cache_fill or chunk_cache_abandon; without claim nothing is reserved (a
 * read-ahead that finds the chunk absent or pending returns at once: see claim_only). */
int chunk_cache_get(chunk_cache *c, uint64_t id, uint64_t version, uint32_t off,
                    uint32_t len, uint8_t *out, int claim);
/* For read-ahead: 1 if the caller now owns a pending entry for (id, version), 0 if it is
 * cached or already being fetched. */
int chunk_cache_claim_only(chunk_cache *c, uint64_t id, uint64_t version);
/* Ends the caller's pending entry with the chunk's bytes: buf (malloc'd, len bytes) is
 * taken over (kept or freed). Wakes the waiters. */
void chunk_cache_fill(chunk_cache *c, uint64_t id, uint64_t version, uint8_t *buf,
                      uint32_t len);
/* Ends the caller's pending entry without bytes (the fetch failed): waiters retry. */
void chunk_cache_abandon(chunk_cache *c, uint64_t id, uint64_t version);
/* Adds a chunk the mount has just written (buf taken over, as fill) when not present. */
void chunk_cache_put(chunk_cache *c, uint64_t id, uint64_t version, uint8_t *buf,
                     uint32_t len);

#endif
