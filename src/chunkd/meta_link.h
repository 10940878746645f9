/* chunkd's link to metad: register (stable uuid from the data directory), report the
 * whole inventory in batches, heartbeat with stats and new chunks, delete what metad
 * says, and reconnect with backoff after any error. Data service goes on while metad
 * is unreachable. Loop thread only. */
#ifndef DFS_META_LINK_H
#define DFS_META_LINK_H

#include "chunkd/chunkd_state.h"

typedef struct meta_link meta_link;

#define META_INVENTORY_BATCH 4096
#define META_MAX_ADDRS 8

/* The metad addresses to try, in order; after a failure the link moves on to the next
 * one (several metad voters: whichever is reachable, the leader once it answers). */
typedef struct {
  char host[META_MAX_ADDRS][256];
  int port[META_MAX_ADDRS];
  int n;
} meta_addrs;

/* Adds "HOST:PORT[,HOST:PORT...]" to a. 0, or DFS_EINVAL (bad address, too many). */
int meta_addrs_add(meta_addrs *a, const char *list);

/* Starts connecting to metad (addrs copied), announcing adv_host:adv_port (copied) as
 * where clients reach us. st must outlive the link; the link sets st->server_id once
 * registered. Heartbeats carry st->copies' state and results (if set) and hand it the
 * CopyJobs of the replies. 0 and *out, or DFS_ENOMEM / DFS_EINVAL (no address). */
int meta_link_start(chunkd_state *st, const meta_addrs *addrs, const char *adv_host, int adv_port,
                    meta_link **out);
/* Asks for a full inventory report soon (after the next successful heartbeat, by
 * registering again), e.g. because a chunk disappeared. ud: the meta_link. */
void meta_link_request_report(void *ud);
/* Something to report (a copy job ended, a replica was quarantined): sends the next
 * heartbeat early, at once but at most every 50 ms. ud: the meta_link. */
void meta_link_kick(void *ud);
/* A client's chunk was stored: the next heartbeat (which lists it in new_chunks) goes
 * within 500 ms of the last one instead of the full interval. ud: the meta_link. */
void meta_link_chunk_stored(void *ud);
/* Stops: closes the connection and the timer; work in flight finishes harmlessly. */
void meta_link_stop(meta_link *ml);
/* Frees ml; only after the loop has stopped running. */
void meta_link_free(meta_link *ml);

#endif
