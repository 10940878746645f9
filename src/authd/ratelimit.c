/* Failed-login counters in an open hash table of fixed size; a full slot is taken over
 * by a new key (the attacker can only make us forget, never grow memory). */
#include "authd/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define RL_SLOTS 4096
#define RL_KEY 64

struct slot { char key[RL_KEY]; uint32_t fails; uint64_t last_ms; };
struct ratelimit { struct slot s[RL_SLOTS]; uint64_t free_after_ms; };

ratelimit *rl_new(uint64_t free_after_ms) {
  ratelimit *rl = calloc(1, sizeof *rl);
  if (rl) rl->free_after_ms = free_after_ms;
  return rl;
}

void rl_free(ratelimit *rl) { free(rl); }

static struct slot *slot_for(ratelimit *rl, const char *key, int create) {
  uint32_t h = 2166136261u;
  for (const char *p = key; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  struct slot *sl = &rl->s[h % RL_SLOTS];
  if (strncmp(sl->key, key, RL_KEY - 1) == 0) return sl;
  if (!create) return NULL;
  memset(sl, 0, sizeof *sl);
  strncpy(sl->key, key, RL_KEY - 1);
  return sl;
}

uint64_t rl_delay_ms(ratelimit *rl, const char *key, uint64_t now_ms) {
  struct slot *sl = slot_for(rl, key, 0);
  if (!sl) return 0;
  if (now_ms - sl->last_ms > rl->free_after_ms) { sl->fails = 0; return 0; }
  if (sl->fails <= 3) return 0;
  uint32_t shift = sl->fails - 4;
  uint64_t d = shift >= 5 ? 8000 : 250ull << shift;
  return d > 8000 ? 8000 : d;
}

void rl_failed(ratelimit *rl, const char *key, uint64_t now_ms) {
  struct slot *sl = slot_for(rl, key, 1);
  if (now_ms - sl->last_ms > rl->free_after_ms) sl->fails = 0;
  sl->fails++;
  sl->last_ms = now_ms;
}

void rl_succeeded(ratelimit *rl, const char *key) {
  struct slot *sl = slot_for(rl, key, 0);
  if (sl) sl->fails = 0;
}
