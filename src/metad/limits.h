/* limits: per-user fair shares enforced by the leader, so that one user (or one stolen
 * session) cannot use up what everybody shares. Soft state of the leader, rebuilt empty
 * when a metad becomes the leader:
 *   - chunks allocated and not yet written ("in flight"), at most a configured number
 *     per user; each expires with its write capability (an upload that died releases
 *     its share on that bound), a chunkserver's report of it or a commit releases it
 *     at once (a file bigger than the limit is written before its one commit);
 *   - bad-replica reports: a token bucket per user (each report makes a chunkserver
 *     re-read a chunk);
 *   - search and fsck: a token bucket of nodes scanned per user.
 * Users are keyed by name; at most LIMITS_MAX_USERS are tracked at once (an idle entry
 * is reused). Loop thread only. */
#ifndef METAD_LIMITS_H
#define METAD_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#define LIMITS_MAX_USERS 65536

typedef struct limits limits;

/* NULL on OOM. Freed with limits_free (NULL is fine). */
limits *limits_new(void);
void limits_free(limits *l);
/* Forgets everything (a new leader). */
void limits_reset(limits *l);

/* Alloc of n chunks by user at now_ms: 0, or DFS_EBUSY if the user would have more than
 * max chunks in flight (DFS_ENOMEM: too many users tracked). With none in flight any n
 * passes (so a user holds at most max(max, one Alloc's count)). Expired chunks are
 * released first (at most every LIMITS_EXPIRE_EVERY_MS). */
#define LIMITS_EXPIRE_EVERY_MS 1000
int limits_alloc_check(limits *l, const char *user, uint64_t n, uint64_t max, uint64_t now_ms);
/* Records chunk as in flight for user until expiry_ms (dfs_now_ms clock). */
void limits_alloc_note(limits *l, const char *user, uint64_t chunk, uint64_t expiry_ms);
/* chunk was written (a chunkserver reported it) or committed: no longer in flight.
 * No-op if unknown. */
void limits_alloc_done(limits *l, uint64_t chunk);
/* Chunks in flight for user (0 if unknown). */
uint64_t limits_alloc_inflight(const limits *l, const char *user);
/* Releases every chunk whose expiry is before now_ms. Returns how many. */
uint64_t limits_expire(limits *l, uint64_t now_ms);

/* Token buckets. Each takes `cost` tokens from user's bucket of kind k (capacity burst,
 * refilled at per_s tokens a second); 1 if they were there, else 0 and nothing taken
 * (*retry_s: seconds until enough are back, if not NULL). */
enum limits_bucket { LIMITS_BAD_REPLICA = 0, LIMITS_SCAN = 1, LIMITS_NBUCKETS };
int limits_take(limits *l, const char *user, enum limits_bucket k, double cost, double burst,
                double per_s, uint64_t now_ms, double *retry_s);
/* A walk of the whole namespace (search, fsck) on the loop thread costs `nodes` (every
 * file and directory) from user's scan bucket: per_s names a second, a burst of 5 s of
 * it. 0, or DFS_EBUSY with "too many <what>: ... retry in N s" in msg. */
int limits_take_scan(limits *l, const char *user, uint64_t nodes, double per_s, const char *what,
                     char *msg, size_t msgsz);

#endif
