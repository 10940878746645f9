/* changes: metad's change feed (WatchReq, client_meta.proto): an in-memory ring of the
 * last CHANGES_CAP namespace paths changed by applied log entries, each with a sequence
 * number. Filled by the fsm's apply (fsm.c, every node: the paths an op created, removed,
 * renamed from or to, wrote, chmod'ed or touched; a recursive delete or move of a
 * directory records just the directory), read by the Watch handler (read_handlers.c).
 * Soft state: not in the log or snapshots. epoch (random, nonzero) names one numbering:
 * it is new whenever the ring starts over (process start, snapshot restore), so a client
 * that sees another epoch knows it may have missed changes.
 * Owned by struct metad (md->changes); the fsm holds a borrowed pointer.
 * Memory bound: at most CHANGES_CAP paths, each at most DFS_PATH_MAX bytes (a longer
 * one is recorded as its nearest ancestor that fits), and at most CHANGES_MAX_BYTES of
 * path bytes (NULs included) in all: the oldest entries go first when either is reached.
 * So the ring holds at most CHANGES_MAX_BYTES (2 MiB) of strings, one malloc each, plus
 * the fixed pointer array (32 KiB) in the struct.
 * Invariants: (1) entries first..next-1 are kept, entry s at paths[s % CHANGES_CAP];
 * (2) next - first <= CHANGES_CAP and bytes = the sum of strlen + 1 of kept paths
 * <= CHANGES_MAX_BYTES; (3) first >= 1 (0 means "no position yet" to a client). */
#ifndef METAD_CHANGES_H
#define METAD_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#define CHANGES_CAP 4096               /* entries kept */
#define CHANGES_MAX_BYTES (2u << 20)   /* path bytes kept, NULs included */
#define CHANGES_REPLY_MAX 1024         /* paths in one WatchRep */

typedef struct {
  uint64_t epoch;              /* random, nonzero; new at init and reset */
  uint64_t first;              /* sequence number of the oldest kept entry */
  uint64_t next;               /* sequence number of the next change */
  size_t bytes;                /* kept path bytes (invariant 2) */
  char *paths[CHANGES_CAP];    /* owned strings, see invariant 1 */
} changes_t;

/* An empty ring with a fresh epoch (first = next = 1). */
void changes_init(changes_t *c);
/* Frees every kept path (c may be reused after changes_init). */
void changes_free(changes_t *c);
/* Forgets everything and starts a new numbering with a new epoch: after the state jumped
 * (a snapshot was restored), nothing said before holds. */
void changes_reset(changes_t *c);

/* Records that path (an absolute path; NULL or "" ignored) changed. Out of memory:
 * the ring is emptied and its numbering skips one, so every reader since before this
 * change is told overflow (never a silent gap). */
void changes_add(changes_t *c, const char *path);

/* 1 if the caller may see path (the Watch handler's permission filter). */
typedef int changes_visible_fn(void *ud, const char *path);

/* The changes from sequence number since on: up to max paths (borrowed: valid until the
 * next changes_add/reset) that vis accepts (NULL = all) into out, their count in *n,
 * *next = where the next read starts (entries skipped by vis are consumed too).
 * since = 0: nothing, *next = the ring's next. since older than the oldest kept entry or
 * beyond next: *overflow = 1, nothing, *next = the ring's next. */
void changes_since(const changes_t *c, uint64_t since, size_t max, changes_visible_fn *vis,
                   void *ud, const char **out, size_t *n, uint64_t *next, int *overflow);

#endif
