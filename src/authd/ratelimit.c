/* Attempt counters in a fixed set-associative table (see ratelimit.h). A slot is free
 * when its key is empty; stale (reusable) when it has nothing in progress and its
 * window has ended. */
#include "authd/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/util.h"

#define RL_WAYS 8
#define RL_BUCKETS 2048 /* 16384 slots, ~1.3 MiB */
#define RL_KEY 48       /* "u:" + 32-byte name, or "a:" + an IPv4 address */

struct slot {
  char key[RL_KEY];
  uint32_t fails, inprog;
  uint64_t win_start_ms; /* when the first failure of the current window happened */
};
struct ratelimit {
  struct slot s[RL_BUCKETS][RL_WAYS];
  uint64_t window_ms;
  uint64_t seed[2];
};

ratelimit *rl_new(uint64_t window_ms) {
  ratelimit *rl = calloc(1, sizeof *rl);
  if (!rl) return NULL;
  rl->window_ms = window_ms;
  if (dfs_random_bytes(rl->seed, sizeof rl->seed)) { free(rl); return NULL; }
  return rl;
}

void rl_free(ratelimit *rl) { free(rl); }

/* Keyed 64-bit hash (FNV-1a over seed and key, then a murmur finaliser): without the
 * seed an attacker cannot pick names that share a victim's bucket. */
static uint64_t key_hash(const ratelimit *rl, const char *key) {
  uint64_t h = 1469598103934665603ull ^ rl->seed[0];
  for (const char *p = key; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
  h ^= rl->seed[1];
  h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ull; h ^= h >> 33;
  return h;
}

static int expired(const ratelimit *rl, const struct slot *sl, uint64_t now_ms) {
  return sl->fails && now_ms - sl->win_start_ms >= rl->window_ms;
}

/* The slot of key, or (create) a new one; NULL if absent / the bucket is all busy. */
static struct slot *slot_for(ratelimit *rl, const char *key, int create, uint64_t now_ms) {
  if (strlen(key) >= RL_KEY) return NULL; /* callers build keys that always fit */
  struct slot *b = rl->s[key_hash(rl, key) % RL_BUCKETS];
  for (int i = 0; i < RL_WAYS; i++)
    if (b[i].key[0] && strcmp(b[i].key, key) == 0) {
      if (expired(rl, &b[i], now_ms)) b[i].fails = 0;
      return &b[i];
    }
  if (!create) return NULL;
  struct slot *victim = NULL;
  for (int i = 0; i < RL_WAYS; i++) {
    struct slot *sl = &b[i];
    if (!sl->key[0] || (sl->inprog == 0 && (sl->fails == 0 || expired(rl, sl, now_ms)))) {
      victim = sl;
      break;
    }
    if (sl->inprog == 0 && (!victim || sl->fails < victim->fails)) victim = sl;
  }
  if (!victim) return NULL;
  memset(victim, 0, sizeof *victim);
  strcpy(victim->key, key);
  return victim;
}

int rl_begin(ratelimit *rl, const char *key, uint32_t max, uint64_t now_ms,
             uint64_t *retry_ms) {
  struct slot *sl = slot_for(rl, key, 1, now_ms);
  *retry_ms = 1000;
  if (!sl) return DFS_EBUSY;
  if (max && sl->fails + sl->inprog >= max) {
    /* refused until the window ends; if only attempts in progress fill it, soon */
    if (sl->fails >= max) {
      uint64_t end = sl->win_start_ms + rl->window_ms;
      if (end > now_ms + 1000) *retry_ms = end - now_ms;
    }
    return DFS_EBUSY;
  }
  sl->inprog++;
  return 0;
}

void rl_end(ratelimit *rl, const char *key, int failed, uint64_t now_ms) {
  struct slot *sl = slot_for(rl, key, 0, now_ms);
  if (!sl) return; /* cannot happen: a slot with an attempt in progress is never evicted */
  if (sl->inprog) sl->inprog--;
  if (!failed) return;
  if (sl->fails == 0) sl->win_start_ms = now_ms;
  sl->fails++;
}

void rl_reset(ratelimit *rl, const char *key) {
  struct slot *sl = slot_for(rl, key, 0, 0);
  if (sl) sl->fails = 0;
}

uint32_t rl_failures(ratelimit *rl, const char *key, uint64_t now_ms) {
  struct slot *sl = slot_for(rl, key, 0, now_ms);
  return sl ? sl->fails : 0;
}
