/* Attempt counters per key (a user name "u:NAME" or a client address "a:IP") that hold
 * across parallel connections: an attempt is counted from the moment it starts (in
 * progress), not only once its slow bcrypt check has finished, so N connections
 * guessing at once get no more tries than one connection guessing in a row.
 *
 * Policy: failures are counted in a fixed window that starts at a key's first failure;
 * once failures + attempts in progress reach the caller's maximum, further attempts are
 * refused until the window ends. Memory is a fixed table (bounded whatever an attacker
 * sends), indexed by a hash keyed with a random seed so that nobody can aim collisions
 * at a victim's counter; when a bucket is full the least valuable entry (idle, fewest
 * failures) is forgotten, never one with an attempt in progress. Loop thread only. */
#ifndef DFS_RATELIMIT_H
#define DFS_RATELIMIT_H

#include <stdint.h>

typedef struct ratelimit ratelimit;

/* window_ms: how long failures count (a key's window starts at its first failure).
 * Caller owns the result (rl_free). NULL on OOM or if no randomness for the seed. */
ratelimit *rl_new(uint64_t window_ms);
void rl_free(ratelimit *rl);
/* Starts an attempt for key. max = failures + attempts in progress allowed per window
 * (0 = no limit, the attempt is still tracked). Returns 0 if it may go ahead (the caller
 * must then call rl_end exactly once), else DFS_EBUSY with *retry_ms = how long until
 * the key may try again (at least 1000; a full table also gives DFS_EBUSY). */
int rl_begin(ratelimit *rl, const char *key, uint32_t max, uint64_t now_ms,
             uint64_t *retry_ms);
/* Ends an attempt begun with rl_begin: failed = 1 counts a failure in key's window. */
void rl_end(ratelimit *rl, const char *key, int failed, uint64_t now_ms);
/* Forgets key's failures (a successful login of that user). */
void rl_reset(ratelimit *rl, const char *key);
/* Failures counted for key now (tests, logs). */
uint32_t rl_failures(ratelimit *rl, const char *key, uint64_t now_ms);

#endif
