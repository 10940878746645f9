/* Slows down password guessing: counts recent failed logins per key (a user name or a
 * source address) in a fixed-size table (bounded memory whatever an attacker sends)
 * and says how long the next attempt for that key must wait. Loop thread only. */
#ifndef DFS_RATELIMIT_H
#define DFS_RATELIMIT_H

#include <stdint.h>

typedef struct ratelimit ratelimit;

/* free_after_ms: a key with no failure for this long starts afresh. NULL on OOM. */
ratelimit *rl_new(uint64_t free_after_ms);
void rl_free(ratelimit *rl);
/* Milliseconds the next attempt for key must be delayed (0 = none): nothing for the
 * first 3 failures, then 250 ms doubling per failure, at most 8 s. */
uint64_t rl_delay_ms(ratelimit *rl, const char *key, uint64_t now_ms);
void rl_failed(ratelimit *rl, const char *key, uint64_t now_ms);
void rl_succeeded(ratelimit *rl, const char *key);

#endif
