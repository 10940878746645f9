/* The pack syncer: the one thread that flushes volume files (chunk_store_pack_sync) for
 * packed writes started on the loop thread (chunk_store_pack_append), and hands each
 * write back to the loop once a flush covers it.
 *
 * Why a thread of its own: a small write on the thread pool cost a queue hop, a wake-up
 * per write for the group commit and a hop back (about 9 context switches per chunk,
 * half of chunkd's CPU for 4 KiB files). Here the loop appends (a write into the page
 * cache), and while this thread is in one fdatasync, every write appended meanwhile
 * waits for the next: one wake-up each way per flush, however many writes it covers.
 *
 * Owned by main.c; st->pack_sync. pack_syncer_wait is for the loop thread only. */
#ifndef DFS_PACK_SYNC_H
#define DFS_PACK_SYNC_H

#include <stdint.h>

#include "chunkd/chunkd_state.h"

typedef struct pack_syncer pack_syncer;

/* A waiting write: embedded in the caller's request (no allocation); untouched by the
 * caller until cb runs. cb runs on the loop thread with 0 once generation `gen` is
 * durable, or with the failed flush's DFS_E*. */
typedef struct pack_waiter {
  struct pack_waiter *next;
  uint64_t gen;
  void (*cb)(struct pack_waiter *w, int rc);
} pack_waiter;

/* Starts the thread. 0 and *out, or DFS_ENOMEM / DFS_EINTERNAL. */
int pack_syncer_start(chunkd_state *st, pack_syncer **out);
/* Queues w (w->gen, w->cb set by the caller): cb runs once w->gen is durable. Generations
 * must be queued in increasing order (appends on the loop thread are). */
void pack_syncer_wait(pack_syncer *ps, pack_waiter *w);
/* After the loop stopped taking writes: flushes what is left, completes every waiter,
 * joins the thread and closes its loop handle (the loop must run once more to finish
 * the close). */
void pack_syncer_stop(pack_syncer *ps);
/* Frees it once the handle is closed. */
void pack_syncer_free(pack_syncer *ps);

#endif
