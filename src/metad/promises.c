/* promises: space promised to uploads, per chunkserver (promises.h). */
#include "metad/promises.h"

#include <stdlib.h>

#include "common/errors.h"
#include "common/frame.h"
#include "metad/u64map.h"

typedef struct {
  uint64_t server; /* 0: this share ended */
  uint32_t epoch;  /* the server's promise_epoch when promised */
} share;

typedef struct {
  uint64_t chunk, expiry_ms;
  uint32_t nshares, left; /* left: shares not ended yet */
  share s[];
} promise;

struct promises {
  promise **ring; /* owned entries, FIFO from head, in expiry order */
  size_t cap, head, n;
  u64map by_chunk; /* chunk id -> (uintptr_t)promise, while it has a share left */
  size_t live;     /* promises with a share left */
};

promises *promises_new(void) {
  promises *p = calloc(1, sizeof *p);
  if (p) u64map_init(&p->by_chunk);
  return p;
}

static promise *at(const promises *p, size_t i) { return p->ring[(p->head + i) % p->cap]; }

void promises_reset(promises *p, servers_t *sv) {
  for (size_t i = 0; i < p->n; i++) free(at(p, i));
  free(p->ring);
  u64map_free(&p->by_chunk);
  u64map_init(&p->by_chunk);
  p->ring = NULL;
  p->cap = p->head = p->n = p->live = 0;
  for (size_t i = 0; i < sv->n; i++) servers_forget_promises(&sv->v[i]);
}

void promises_free(promises *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++) free(at(p, i));
  free(p->ring);
  u64map_free(&p->by_chunk);
  free(p);
}

/* Ends share k of pr: the server's counters drop if the share is of its current epoch
 * (an older one was already dropped by servers_forget_promises). */
static void end_share(promises *p, servers_t *sv, promise *pr, uint32_t k) {
  share *s = &pr->s[k];
  if (!s->server) return;
  server_ent *e = servers_get(sv, s->server);
  if (e && e->promise_epoch == s->epoch && e->promised_chunks) {
    e->promised_chunks--;
    e->promised_bytes -= DFS_CHUNK_SIZE;
  }
  s->server = 0;
  if (--pr->left == 0) {
    uint64_t v;
    if (u64map_get(&p->by_chunk, pr->chunk, &v) && v == (uint64_t)(uintptr_t)pr)
      u64map_del(&p->by_chunk, pr->chunk);
    p->live--;
  }
}

int promises_add(promises *p, servers_t *sv, uint64_t chunk, const uint64_t *servers,
                 size_t n, uint64_t expiry_ms) {
  if (!n || !chunk) return 0;
  if (p->n == p->cap) {
    size_t nc = p->cap ? p->cap * 2 : 64;
    promise **r = malloc(nc * sizeof *r);
    if (!r) return DFS_ENOMEM;
    for (size_t i = 0; i < p->n; i++) r[i] = at(p, i);
    free(p->ring);
    p->ring = r;
    p->cap = nc;
    p->head = 0;
  }
  promise *pr = malloc(sizeof *pr + n * sizeof pr->s[0]);
  if (!pr) return DFS_ENOMEM;
  if (u64map_put(&p->by_chunk, chunk, (uint64_t)(uintptr_t)pr)) {
    free(pr);
    return DFS_ENOMEM;
  }
  pr->chunk = chunk;
  pr->expiry_ms = expiry_ms;
  pr->nshares = pr->left = 0;
  for (size_t i = 0; i < n; i++) {
    server_ent *e = servers_get(sv, servers[i]);
    if (!e) continue;
    pr->s[pr->nshares++] = (share){e->id, e->promise_epoch};
    e->promised_chunks++;
    e->promised_bytes += DFS_CHUNK_SIZE;
  }
  pr->left = pr->nshares;
  p->ring[(p->head + p->n) % p->cap] = pr;
  p->n++;
  if (pr->left) p->live++;
  else u64map_del(&p->by_chunk, chunk);
  return 0;
}

void promises_reported(promises *p, servers_t *sv, uint64_t chunk, uint64_t server) {
  uint64_t v;
  if (!server || !u64map_get(&p->by_chunk, chunk, &v)) return;
  promise *pr = (promise *)(uintptr_t)v;
  for (uint32_t k = 0; k < pr->nshares; k++)
    if (pr->s[k].server == server) {
      end_share(p, sv, pr, k);
      return;
    }
}

size_t promises_expire(promises *p, servers_t *sv, uint64_t now_ms) {
  size_t ended = 0;
  while (p->n && at(p, 0)->expiry_ms <= now_ms) {
    promise *pr = at(p, 0);
    ended += pr->left != 0;
    for (uint32_t k = 0; k < pr->nshares; k++) end_share(p, sv, pr, k);
    free(pr);
    p->head = (p->head + 1) % p->cap;
    p->n--;
  }
  return ended;
}

size_t promises_count(const promises *p) { return p->live; }
