/* Per-user fair shares (see limits.h).
 * Invariants: (1) users[i].inflight == the number of entries of `chunks` whose value
 * names user i; (2) name_idx maps the FNV-1a hash of each tracked name to its index
 * (a hash collision falls back to a linear search, see find_user). */
#include "metad/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/errors.h"
#include "common/util.h"
#include "metad/u64map.h"

#define NAME_MAX_LEN 64

typedef struct {
  char name[NAME_MAX_LEN + 1];
  uint64_t inflight;
  double tokens[LIMITS_NBUCKETS];
  uint64_t refill_ms[LIMITS_NBUCKETS]; /* 0 = bucket never used (full) */
} lim_user;

struct limits {
  lim_user *users; /* owned */
  size_t n, cap;
  u64map name_idx; /* name hash -> index */
  u64map chunks;   /* chunk id -> (user index << 40) | (expiry_ms / 1000 + 1) */
  uint64_t expired_ms; /* last limits_expire run by limits_alloc_check */
};

static uint64_t name_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h ? h : 1;
}

limits *limits_new(void) {
  limits *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  u64map_init(&l->name_idx);
  u64map_init(&l->chunks);
  return l;
}

void limits_reset(limits *l) {
  free(l->users);
  l->users = NULL;
  l->n = l->cap = 0;
  u64map_free(&l->name_idx);
  u64map_free(&l->chunks);
  u64map_init(&l->name_idx);
  u64map_init(&l->chunks);
}

void limits_free(limits *l) {
  if (!l) return;
  limits_reset(l);
  free(l);
}

static long find_user(const limits *l, const char *name) {
  uint64_t idx;
  if (u64map_get(&l->name_idx, name_hash(name), &idx) && !strcmp(l->users[idx].name, name))
    return (long)idx;
  for (size_t i = 0; i < l->n; i++) /* only reached on a hash collision or a miss */
    if (!strcmp(l->users[i].name, name)) return (long)i;
  return -1;
}

/* An entry is idle when nothing is in flight and its buckets are full again. */
static int idle(const lim_user *u) {
  if (u->inflight) return 0;
  for (int k = 0; k < LIMITS_NBUCKETS; k++)
    if (u->refill_ms[k]) return 0;
  return 1;
}

/* The index of user name, tracked from now on; -1 on OOM or with every slot busy. */
static long get_user(limits *l, const char *name) {
  long i = find_user(l, name);
  if (i >= 0) return i;
  if (strlen(name) > NAME_MAX_LEN) return -1;
  size_t slot = l->n;
  if (l->n == l->cap) {
    if (l->cap >= LIMITS_MAX_USERS) { /* reuse an idle entry */
      for (slot = 0; slot < l->n && !idle(&l->users[slot]); slot++) {}
      if (slot == l->n) return -1;
      u64map_del(&l->name_idx, name_hash(l->users[slot].name));
    } else {
      lim_user *nu = dfs_grow(l->users, &l->cap, l->n + 1, sizeof *nu, 16);
      if (!nu) return -1;
      l->users = nu;
    }
  }
  if (u64map_put(&l->name_idx, name_hash(name), slot)) return -1;
  memset(&l->users[slot], 0, sizeof l->users[slot]);
  strcpy(l->users[slot].name, name);
  if (slot == l->n) l->n++;
  return (long)slot;
}

int limits_alloc_check(limits *l, const char *user, uint64_t n, uint64_t max, uint64_t now_ms) {
  if (now_ms - l->expired_ms >= LIMITS_EXPIRE_EVERY_MS) {
    limits_expire(l, now_ms);
    l->expired_ms = now_ms;
  }
  long i = get_user(l, user);
  if (i < 0) return DFS_ENOMEM;
  /* one Alloc always goes through when nothing is in flight, so a limit below a
   * client's batch paces uploads instead of refusing them forever */
  uint64_t have = l->users[i].inflight;
  return have && have + n > max ? DFS_EBUSY : 0;
}

void limits_alloc_note(limits *l, const char *user, uint64_t chunk, uint64_t expiry_ms) {
  long i = get_user(l, user);
  if (i < 0 || !chunk || u64map_get(&l->chunks, chunk, NULL)) return;
  if (u64map_put(&l->chunks, chunk, (uint64_t)i << 40 | (expiry_ms / 1000 + 1))) return;
  l->users[i].inflight++;
}

void limits_alloc_done(limits *l, uint64_t chunk) {
  uint64_t v;
  if (!u64map_get(&l->chunks, chunk, &v)) return;
  u64map_del(&l->chunks, chunk);
  size_t i = (size_t)(v >> 40);
  if (i < l->n && l->users[i].inflight) l->users[i].inflight--;
}

uint64_t limits_alloc_inflight(const limits *l, const char *user) {
  long i = find_user(l, user);
  return i < 0 ? 0 : l->users[i].inflight;
}

uint64_t limits_expire(limits *l, uint64_t now_ms) {
  uint64_t n = 0, now_s = now_ms / 1000;
  for (size_t s = 0; s < l->chunks.cap;) {
    uint64_t k = l->chunks.keys[s], v = l->chunks.vals[s];
    if (k && (v & ((1ULL << 40) - 1)) < now_s) {
      limits_alloc_done(l, k); /* backward-shift deletion: look at slot s again */
      n++;
      continue;
    }
    s++;
  }
  return n;
}

int limits_take(limits *l, const char *user, enum limits_bucket k, double cost, double burst,
                double per_s, uint64_t now_ms, double *retry_s) {
  long i = get_user(l, user);
  if (i < 0) { /* cannot track: refuse rather than run unbounded */
    if (retry_s) *retry_s = 1;
    return 0;
  }
  lim_user *u = &l->users[i];
  if (!u->refill_ms[k]) {
    u->tokens[k] = burst;
  } else if (now_ms > u->refill_ms[k]) {
    u->tokens[k] += (double)(now_ms - u->refill_ms[k]) / 1000.0 * per_s;
    if (u->tokens[k] > burst) u->tokens[k] = burst;
  }
  u->refill_ms[k] = now_ms;
  if (u->tokens[k] >= cost || (cost > burst && u->tokens[k] >= burst)) {
    u->tokens[k] -= cost;
    if (u->tokens[k] >= burst) u->refill_ms[k] = 0; /* full again: idle */
    return 1;
  }
  if (retry_s) *retry_s = per_s > 0 ? (cost - u->tokens[k]) / per_s : 60;
  return 0;
}

int limits_take_scan(limits *l, const char *user, uint64_t nodes, double per_s, const char *what,
                     char *msg, size_t msgsz) {
  double retry_s = 0;
  if (limits_take(l, user, LIMITS_SCAN, (double)nodes, per_s * 5, per_s, dfs_now_ms(), &retry_s))
    return 0;
  snprintf(msg, msgsz, "too many %s: your scan budget is used up; retry in %.0f s", what,
           retry_s < 1 ? 1 : retry_s);
  return DFS_EBUSY;
}
