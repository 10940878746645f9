/* uploads: chunk ids of uploads still alive (uploads.h). */
#include "metad/uploads.h"

#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "metad/u64map.h"

typedef struct {
  uint64_t id;
  char *user; /* owned */
  uint64_t last_ms; /* last Alloc or written chunk */
} upload;

typedef struct {
  uint64_t first, last; /* inclusive */
  uint32_t slot;        /* index into ups */
} urange;

struct uploads {
  uint64_t lease_ms;
  upload *ups; /* owned; slots are not reused until compaction */
  size_t nups, capups;
  u64map by_id; /* upload id -> slot + 1 */
  u64map per_user; /* user name hash -> uploads of that user in ups (live or not yet
                      compacted) */
  urange *r;    /* owned, sorted by first */
  size_t nr, capr;
  uint64_t compacted_ms;
};

uploads *uploads_new(uint64_t lease_ms) {
  uploads *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->lease_ms = lease_ms;
  u64map_init(&u->by_id);
  u64map_init(&u->per_user);
  return u;
}

void uploads_reset(uploads *u) {
  for (size_t i = 0; i < u->nups; i++) free(u->ups[i].user);
  free(u->ups);
  free(u->r);
  u64map_free(&u->by_id);
  u64map_init(&u->by_id);
  u64map_free(&u->per_user);
  u64map_init(&u->per_user);
  u->ups = NULL;
  u->r = NULL;
  u->nups = u->capups = u->nr = u->capr = 0;
}

void uploads_free(uploads *u) {
  if (!u) return;
  uploads_reset(u);
  free(u);
}

/* FNV-1a of a user name, never 0 (u64map keys). */
static uint64_t user_key(const char *user) {
  uint64_t h = 1469598103934665603ULL;
  for (; *user; user++) h = (h ^ (uint8_t)*user) * 1099511628211ULL;
  return h ? h : 1;
}

/* Adds delta to user's count of uploads (dropped from the map at 0). */
static void user_count(uploads *u, const char *user, int delta) {
  uint64_t k = user_key(user), n = 0;
  u64map_get(&u->per_user, k, &n);
  n = delta < 0 ? (n ? n - 1 : 0) : n + 1;
  if (n) u64map_put(&u->per_user, k, n); /* OOM: the count is only a bound */
  else u64map_del(&u->per_user, k);
}

static int alive(const uploads *u, size_t slot, uint64_t now_ms) {
  return u->ups[slot].last_ms + u->lease_ms > now_ms;
}

/* Drops the uploads whose lease is over and their ranges (slots are renumbered). */
static void compact(uploads *u, uint64_t now_ms) {
  u->compacted_ms = now_ms;
  uint32_t *map = malloc((u->nups ? u->nups : 1) * sizeof *map);
  if (!map) return;
  size_t k = 0;
  u64map_free(&u->by_id);
  u64map_init(&u->by_id);
  for (size_t i = 0; i < u->nups; i++) {
    if (!alive(u, i, now_ms)) {
      user_count(u, u->ups[i].user, -1);
      free(u->ups[i].user);
      map[i] = UINT32_MAX;
      continue;
    }
    map[i] = (uint32_t)k;
    u->ups[k] = u->ups[i];
    u64map_put(&u->by_id, u->ups[k].id, k + 1); /* OOM: found by its ranges, not its id */
    k++;
  }
  u->nups = k;
  size_t n = 0;
  for (size_t i = 0; i < u->nr; i++)
    if (map[u->r[i].slot] != UINT32_MAX) {
      u->r[n] = u->r[i];
      u->r[n++].slot = map[u->r[i].slot];
    }
  u->nr = n;
  free(map);
}

/* The slot of upload_id for user, created if needed; -1 if it cannot be tracked. */
static long slot_of(uploads *u, uint64_t upload_id, const char *user, uint64_t now_ms) {
  uint64_t v;
  if (u64map_get(&u->by_id, upload_id, &v)) {
    size_t s = (size_t)v - 1;
    return strcmp(u->ups[s].user, user) == 0 ? (long)s : -1; /* another user's id */
  }
  uint64_t mine = 0;
  u64map_get(&u->per_user, user_key(user), &mine);
  if (u->nups >= UPLOADS_MAX || mine >= UPLOADS_PER_USER) {
    compact(u, now_ms);
    mine = 0;
    u64map_get(&u->per_user, user_key(user), &mine);
  }
  if (u->nups >= UPLOADS_MAX || mine >= UPLOADS_PER_USER) return -1;
  upload *nu = dfs_grow(u->ups, &u->capups, u->nups + 1, sizeof *nu, 16);
  if (!nu) return -1;
  u->ups = nu;
  char *name = strdup(user);
  if (!name || u64map_put(&u->by_id, upload_id, u->nups + 1)) {
    free(name);
    return -1;
  }
  u->ups[u->nups] = (upload){upload_id, name, now_ms};
  user_count(u, user, +1);
  return (long)u->nups++;
}

void uploads_note_alloc(uploads *u, uint64_t upload_id, const char *user, uint64_t first,
                        uint64_t last, uint64_t now_ms) {
  if (!upload_id || !first || last < first) return;
  if (now_ms - u->compacted_ms >= u->lease_ms) compact(u, now_ms);
  long s = slot_of(u, upload_id, user, now_ms);
  if (s < 0) return;
  u->ups[s].last_ms = now_ms;
  urange *tail = u->nr ? &u->r[u->nr - 1] : NULL;
  if (tail && first <= tail->last) return; /* ids only grow; keep invariant (1) */
  if (tail && tail->slot == (uint32_t)s && tail->last + 1 == first) {
    tail->last = last;
    return;
  }
  if (u->nr >= UPLOADS_MAX_RANGES) compact(u, now_ms);
  if (u->nr >= UPLOADS_MAX_RANGES) return;
  urange *nr = dfs_grow(u->r, &u->capr, u->nr + 1, sizeof *nr, 64);
  if (!nr) return;
  u->r = nr;
  u->r[u->nr++] = (urange){first, last, (uint32_t)s};
}

/* The range holding chunk, or NULL. */
static const urange *find(const uploads *u, uint64_t chunk) {
  size_t lo = 0, hi = u->nr;
  while (lo < hi) { /* first range with first > chunk */
    size_t mid = lo + (hi - lo) / 2;
    if (u->r[mid].first <= chunk) lo = mid + 1;
    else hi = mid;
  }
  if (!lo || u->r[lo - 1].last < chunk) return NULL;
  return &u->r[lo - 1];
}

void uploads_note_written(uploads *u, uint64_t chunk, uint64_t now_ms) {
  const urange *r = find(u, chunk);
  if (r) u->ups[r->slot].last_ms = now_ms; /* writing: alive (again) */
}

uint64_t uploads_alive_until(const uploads *u, uint64_t chunk, uint64_t now_ms) {
  const urange *r = find(u, chunk);
  if (!r || !alive(u, r->slot, now_ms)) return 0;
  return u->ups[r->slot].last_ms + u->lease_ms;
}

size_t uploads_live(const uploads *u, uint64_t now_ms) {
  size_t n = 0;
  for (size_t i = 0; i < u->nups; i++) n += alive(u, i, now_ms);
  return n;
}
