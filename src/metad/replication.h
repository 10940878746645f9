/* replication: metad's re-replication, trimming and rebalancing logic (soft state
 * only). A scan walks the chunk table against the server registry, counts health
 * (under-replicated, endangered, missing, corrupt, over-replicated), queues copy jobs
 * (fewest live replicas first) on destinations chosen emptiest-first, trims extra
 * replicas (fullest first, never below the goal) and adds low-priority rebalancing
 * moves. Servers take jobs from their own queue, then steal from busy servers' queues.
 * Pure data in, data out: no sockets, so it is unit-testable (tests/unit/test_replication.c). */
#ifndef METAD_REPLICATION_H
#define METAD_REPLICATION_H

#include <stddef.h>
#include <stdint.h>

#include "metad/chunks.h"
#include "metad/servers.h"
#include "metad/u64map.h"

typedef struct {
  uint64_t job_id, chunk, version, dst;
  uint32_t length, crc32c;
  uint32_t prio;        /* replicas the chunk has (live + earlier jobs) before this copy:
                         * 0 = most urgent; 100 = rebalance */
  int running;          /* handed to dst in a heartbeat reply */
  uint64_t deadline_ms; /* running: requeue after this */
  uint64_t sent_ms;     /* running: when it was handed out */
  uint64_t from;        /* rebalance: the server whose replica the move replaces */
} repl_job;

/* A replica reported bad that is still on disk: deleted once the chunk meets its goal. */
typedef struct {
  uint64_t chunk, version, server;
} repl_bad;

typedef struct {
  /* settings */
  uint32_t max_jobs_per_server; /* running copies per destination (also capped by its slots) */
  uint32_t max_queue_per_server;
  uint64_t job_timeout_ms;
  double rebalance_threshold;   /* fraction of capacity, e.g. 0.05 */
  uint32_t rebalance_max_jobs;
  uint64_t tomb_copy_ms;        /* no copy to a server told to delete that replica lately */
  /* state */
  repl_job *jobs;               /* owned */
  size_t njobs, capjobs;
  uint64_t next_job_id;
  u64map corrupt;               /* chunk id -> 1: a replica was bad, not yet at goal again */
  u64map fails;                 /* chunk id -> consecutive failed copies of it */
  u64map retry_at;              /* chunk id -> no new copy job before this (ms): backoff
                                 * after repeated failures (e.g. its only source's disk
                                 * fails every read), instead of a failing job per scan */
  repl_bad *bad;                /* owned */
  size_t nbad, capbad;
  int scan_wanted;
  u64map pend;                  /* during a scan: chunk id -> jobs for it */
  int pend_valid;
  /* counters (since this metad became leader) and the last scan's health */
  uint64_t copies_done, copies_stolen, copies_failed, trims;
  uint64_t under, endangered, missing, corrupt_n, over;
  uint64_t repairable;          /* under its goal with a possible destination: blocks moves */
  size_t rebalance_cursor;      /* where the next rebalancing pass starts in the table */
  uint64_t moves;               /* rebalancing moves queued */
  int rebalancing;              /* moving until within half the threshold */
  uint64_t *held;               /* owned: bytes of replicas per server (id - 1) by the
                                 * chunk table, counted by the last scan, less its trims */
  size_t nheld;
  uint64_t scan_us;             /* how long the last scan took (set by the caller) */
} repl_t;

void repl_init(repl_t *r);
void repl_free(repl_t *r);
/* Forgets every job and counter (leadership lost or gained). */
void repl_reset(repl_t *r);

/* Replicas of ce that count toward its goal: on live, non-draining servers. */
unsigned repl_live_replicas(const chunk_ent *ce, servers_t *sv);
/* Replicas that can serve as copy sources: on live servers (draining ones too). */
unsigned repl_readable_replicas(const chunk_ent *ce, servers_t *sv);
/* The goal of ce (at least 1). */
unsigned repl_goal(const chunk_ent *ce);

/* One pass: drops jobs whose destination died or that timed out (counted as failed),
 * recounts health, queues copies for chunks below goal (most endangered first), trims
 * replicas beyond the goal and of draining servers (queued on the servers as
 * delete_versions), deletes replaced bad replicas, and when no chunk that can be
 * repaired is under its goal (missing chunks, and chunks no placeable server could take,
 * do not count) adds up to rebalance_max_jobs moves from the fullest server to the emptiest
 * once one is more than the threshold from the mean, until all are within half of it
 * (use counted from the chunk table, so moves in flight and trims count at once). One pass over the chunk table (docs/internals.md
 * "Replication follow-ups": its cost at 1M chunks). */
void repl_scan(repl_t *r, chunks_t *t, servers_t *sv, uint64_t now_ms);

/* Up to max jobs for server, most urgent first: its own queue, or a strictly more urgent
 * job stolen from any server's queue; when its own queue is empty, a job stolen from a
 * busy server's queue (no free slot). Marked running. Copies pointers into out; valid until the next call
 * into repl_*. Returns the count. */
size_t repl_take_jobs(repl_t *r, chunks_t *t, servers_t *sv, uint64_t server, uint32_t slots,
                      uint64_t now_ms, repl_job **out, size_t max);

/* Ordered live source server ids of chunk for a job to dst (non-draining, least
 * loaded first). Returns the count written (<= max). */
size_t repl_sources(const chunk_ent *ce, servers_t *sv, uint64_t dst, uint64_t *out,
                    size_t max);

/* Outcome of job_id reported by server. ok: dst holds the chunk (location added), unless
 * dst was ordered to delete that replica since the job was handed out (the "already
 * stored here" answer may predate the delete): then it counts as failed. Otherwise the
 * job is dropped and the chunk is queued again by the next scan. */
void repl_job_result(repl_t *r, chunks_t *t, servers_t *sv, uint64_t server, uint64_t job_id,
                     int ok, uint64_t now_ms);

/* A replica of chunk on server is bad (client report or chunkd's bad_chunks): the
 * location goes, the chunk is marked corrupt until it meets its goal again, and the bad
 * copy is deleted then (delete_copy) or at once when chunkd already quarantined it. */
void repl_bad_replica(repl_t *r, chunks_t *t, uint64_t chunk, uint64_t server, int delete_copy);

/* Counts for the operator view. */
uint32_t repl_jobs_running(const repl_t *r, uint64_t server); /* server 0: all */
uint32_t repl_jobs_queued(const repl_t *r, uint64_t server);

#endif
