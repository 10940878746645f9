/* raft_glue: metad's use of libraft 0.22: the uv I/O over raft_transport.c (voters
 * authenticated with the cluster secret), bootstrap of
 * the first configuration, the raft_fsm adapter over fsm.c, group commit (ops arriving
 * during one loop iteration are batched into ONE entry submitted from a uv_check
 * handle), leadership polling (reported through a callback) and the "am I the leader"
 * answer for requests. */
#ifndef METAD_RAFT_GLUE_H
#define METAD_RAFT_GLUE_H

#include <stddef.h>

#include "metad/metad.h"

/* Sets up raft in md->data_dir and starts it. on_leadership(md, ready) is told when this
 * node becomes the ready leader (1: its first entry of the term is applied) or stops
 * being the leader (0). 0, or DFS_E* with one line in err. */
int rg_init(metad *md, void (*on_leadership)(metad *md, int ready), char *err,
            size_t errsz);
/* Polls raft for leadership changes (libraft has no callback for them) and, as a new
 * leader, submits the entry after which it is ready. From the clock (cron.c). */
void rg_poll_leadership(metad *md);
/* Stops raft; cb runs once everything raft owned is closed. Pending waiters get
 * DFS_EUNAVAIL. */
void rg_close(metad *md, void (*cb)(metad *md));

/* Adds op to the batch of this loop iteration; w->done runs after it was applied (or
 * failed). On success the batch owns w. Returns 0, DFS_ENOTLEADER or DFS_ENOMEM (w not
 * taken). Chunks: for OP_COMMIT only. */
int rg_submit(metad *md, const ops_op *op, const ops_chunk *chunks, md_waiter *w);

/* 0 if this node is the leader and ready to serve; else DFS_ENOTLEADER (msg names the
 * leader's client address when known, as the first host:port in the message) or
 * DFS_EUNAVAIL (no leader yet / just elected). */
int rg_check_leader(metad *md, char *msg, size_t msgsz);
/* 1 just after this metad became the leader (for up to chunkservers.dead_timeout) while
 * fewer chunkservers have registered with it and sent their whole inventory than it
 * knows: they heartbeat to the leader
 * only and find a new one within a heartbeat or two. Meanwhile "no live replica" and "no
 * live chunkserver" mean "not yet" (clients get DFS_EUNAVAIL, which they retry, with the
 * reason in msg; msg may be NULL) and re-replication waits, so that a failover does not
 * copy every chunk whose other holders have not re-registered yet. */
int rg_reregistering(metad *md, char *msg, size_t msgsz);
/* Client address of the current leader (NULL if unknown). */
const char *rg_leader_addr(metad *md);
/* A fresh random non-zero request id for internal operations. */
uint64_t rg_new_rid(void);

#endif
