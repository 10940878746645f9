/* promises: space that Alloc promised to uploads, per chunkserver. Soft state of the
 * leader, rebuilt empty when a metad becomes the leader. Loop thread only.
 *
 * Alloc places a chunk on a chain of servers before any byte is written; until the
 * chunk lands, the servers' reported free space does not show it, so placement would
 * keep choosing the same emptiest server. Each chain server therefore gets a *share*
 * of DFS_CHUNK_SIZE bytes, subtracted from its free space when ranking servers
 * (servers_effective_free). A share ends at the first of:
 *   - the server reports the chunk (a heartbeat's new chunks, or an inventory): its
 *     free space now counts the bytes;
 *   - the server dies or registers again (servers_forget_promises): its next report of
 *     free space is the truth;
 *   - the promise's expiry, placement.promise_ttl after the Alloc: an upload that died,
 *     or a write refused, releases its shares on that bound.
 * Promises only rank servers; they never make a server "full" (servers_is_full uses
 * the reported free space), so space held for uploads that died can never make metad
 * answer "no space".
 *
 * Invariants: (1) for every server s, s->promised_chunks == the shares naming s with
 * s's current promise_epoch, and s->promised_bytes == DFS_CHUNK_SIZE * that number;
 * (2) the FIFO holds every promise in expiry order (one ttl for all, so Alloc order);
 * (3) the id map points at the newest promise of a chunk id that still has a share. */
#ifndef METAD_PROMISES_H
#define METAD_PROMISES_H

#include <stddef.h>
#include <stdint.h>

#include "metad/servers.h"

typedef struct promises promises;

/* NULL on OOM. Freed with promises_free (NULL is fine). */
promises *promises_new(void);
void promises_free(promises *p);
/* Forgets every promise and zeroes every server's promised bytes (a new leader). */
void promises_reset(promises *p, servers_t *sv);
/* Alloc placed chunk on servers[0..n): a share on each until expiry_ms (dfs_now_ms
 * clock; later than every earlier call's). 0 or DFS_ENOMEM (nothing promised then:
 * placement is only less even). */
int promises_add(promises *p, servers_t *sv, uint64_t chunk, const uint64_t *servers,
                 size_t n, uint64_t expiry_ms);
/* server reported chunk: its share ends. No-op if it has none. */
void promises_reported(promises *p, servers_t *sv, uint64_t chunk, uint64_t server);
/* Ends the shares whose expiry is at or before now_ms; returns how many promises
 * ended. Cheap when nothing is due (a look at the oldest). */
size_t promises_expire(promises *p, servers_t *sv, uint64_t now_ms);
/* Promises with at least one share left (for tests and status). */
size_t promises_count(const promises *p);

#endif
