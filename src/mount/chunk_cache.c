/* The mount's chunk cache (chunk_cache.h).
 * Invariants: an entry is in its bucket chain from claim to drop; a filled entry (buf
 * set) is on the LRU list and counted in bytes; a pending one (buf NULL) is on neither
 * and is owned by the thread that claimed it. */
#include "mount/chunk_cache.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

struct cache_ent {
  uint64_t id, version;
  uint8_t *buf; /* NULL while pending */
  uint32_t len;
  cache_ent *hnext, *prev, *next;
};

#define CACHE_BUCKETS 4096

int chunk_cache_init(chunk_cache *c, uint64_t limit) {
  memset(c, 0, sizeof *c);
  c->nbuckets = CACHE_BUCKETS;
  c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
  if (!c->buckets) return DFS_ENOMEM;
  c->limit = limit;
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->filled, NULL);
  return 0;
}

void chunk_cache_free(chunk_cache *c) {
  for (size_t i = 0; c->buckets && i < c->nbuckets; i++) {
    for (cache_ent *e = c->buckets[i], *n; e; e = n) {
      n = e->hnext;
      free(e->buf);
      free(e);
    }
  }
  free(c->buckets);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->filled);
  memset(c, 0, sizeof *c);
}

static cache_ent **slot_of(chunk_cache *c, uint64_t id, uint64_t version) {
  uint64_t h = (id * 0x9E3779B97F4A7C15ull) ^ version;
  cache_ent **p = &c->buckets[(h >> 20) % c->nbuckets];
  while (*p && ((*p)->id != id || (*p)->version != version)) p = &(*p)->hnext;
  return p;
}

static void lru_unlink(chunk_cache *c, cache_ent *e) {
  if (e->prev) e->prev->next = e->next; else c->lru_head = e->next;
  if (e->next) e->next->prev = e->prev; else c->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push(chunk_cache *c, cache_ent *e) {
  e->prev = NULL;
  e->next = c->lru_head;
  if (c->lru_head) c->lru_head->prev = e; else c->lru_tail = e;
  c->lru_head = e;
}

static void drop(chunk_cache *c, cache_ent *e) {
  cache_ent **p = slot_of(c, e->id, e->version);
  if (*p == e) *p = e->hnext;
  if (e->buf) {
    lru_unlink(c, e);
    c->bytes -= e->len;
    free(e->buf);
  }
  free(e);
}

static void evict(chunk_cache *c) {
  while (c->bytes > c->limit && c->lru_tail) drop(c, c->lru_tail);
}

static cache_ent *claim_locked(chunk_cache *c, uint64_t id, uint64_t version) {
  cache_ent *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->id = id;
  e->version = version;
  cache_ent **p = slot_of(c, id, version);
  e->hnext = *p;
  *p = e;
  return e;
}

int chunk_cache_get(chunk_cache *c, uint64_t id, uint64_t version, uint32_t off,
                    uint32_t len, uint8_t *out, int claim) {
  pthread_mutex_lock(&c->lock);
  for (;;) {
    cache_ent *e = *slot_of(c, id, version);
    if (e && e->buf) {
      int ok = (uint64_t)off + len <= e->len;
      if (ok) {
        memcpy(out, e->buf + off, len);
        lru_unlink(c, e);
        lru_push(c, e);
        c->hits++;
      }
      pthread_mutex_unlock(&c->lock);
      return ok;
    }
    if (e) { /* pending: wait for its fetch */
      pthread_cond_wait(&c->filled, &c->lock);
      continue;
    }
    c->misses++;
    if (claim && !claim_locked(c, id, version)) claim = 0; /* out of memory: uncached read */
    pthread_mutex_unlock(&c->lock);
    return 0;
  }
}

int chunk_cache_claim_only(chunk_cache *c, uint64_t id, uint64_t version) {
  pthread_mutex_lock(&c->lock);
  int ok = *slot_of(c, id, version) == NULL && claim_locked(c, id, version) != NULL;
  pthread_mutex_unlock(&c->lock);
  return ok;
}

void chunk_cache_fill(chunk_cache *c, uint64_t id, uint64_t version, uint8_t *buf,
                      uint32_t len) {
  pthread_mutex_lock(&c->lock);
  cache_ent *e = *slot_of(c, id, version);
  if (e && !e->buf && len <= c->limit) {
    e->buf = buf;
    e->len = len;
    c->bytes += len;
    lru_push(c, e);
    evict(c);
  } else {
    if (e && !e->buf) drop(c, e);
    free(buf);
  }
  pthread_cond_broadcast(&c->filled);
  pthread_mutex_unlock(&c->lock);
}

void chunk_cache_abandon(chunk_cache *c, uint64_t id, uint64_t version) {
  pthread_mutex_lock(&c->lock);
  cache_ent *e = *slot_of(c, id, version);
  if (e && !e->buf) drop(c, e);
  pthread_cond_broadcast(&c->filled);
  pthread_mutex_unlock(&c->lock);
}

void chunk_cache_put(chunk_cache *c, uint64_t id, uint64_t version, uint8_t *buf,
                     uint32_t len) {
  pthread_mutex_lock(&c->lock);
  cache_ent *e = *slot_of(c, id, version);
  pthread_mutex_unlock(&c->lock);
  if (e) {
    free(buf);
    return;
  }
  if (chunk_cache_claim_only(c, id, version)) chunk_cache_fill(c, id, version, buf, len);
  else free(buf);
}
