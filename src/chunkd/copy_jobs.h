/* Copy jobs (re-replication, see docs/internals.md "Copy jobs"): metad hands this
 * chunkserver CopyJobs in heartbeat replies; each job reads the chunk from a source
 * chunkserver (ReadChunk, falling back to the next source), checks length and CRC and
 * stores it through the chunk store like a client write. At most max_concurrent jobs
 * run at once; a token bucket bounds the bytes per second over all jobs. Finished jobs
 * leave a result for the next heartbeat and call `ended` so it is sent early.
 * Loop thread only (the store work runs on the thread pool). */
#ifndef DFS_COPY_JOBS_H
#define DFS_COPY_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "chunk_meta.pb-c.h"
#include "chunkd/chunkd_state.h"

typedef struct copy_jobs copy_jobs;

/* The outcome of one job, for HeartbeatReq.copy_results. */
typedef struct {
  uint64_t job_id, chunk_id;
  int error;         /* 0 = stored and durable (or already stored) */
  uint64_t bytes;    /* bytes copied (0 when it was already stored) */
  char message[200]; /* one line when error != 0 */
} copy_result;

/* Starts the executor. max_concurrent >= 1; max_bytes_per_s 0 = unlimited. `ended`
 * (may be NULL) is called on the loop thread whenever a job has finished. st must
 * outlive it. 0 and *out, or DFS_ENOMEM. */
int copy_jobs_start(chunkd_state *st, unsigned max_concurrent, uint64_t max_bytes_per_s,
                    void (*ended)(void *ud), void *ud, copy_jobs **out);
/* Takes one job (everything copied out of `job`, which stays the caller's). A job that
 * cannot start (no free slot, bad fields, stopping) ends at once with an error result. */
void copy_jobs_add(copy_jobs *cj, const Dfs__CopyJob *job);
unsigned copy_jobs_running(const copy_jobs *cj);
unsigned copy_jobs_slots_free(const copy_jobs *cj);
/* Bytes copied by successful jobs since start (for logs and tests). */
uint64_t copy_jobs_bytes_copied(const copy_jobs *cj);
/* Moves the results collected so far into *out (caller frees; NULL if *n == 0). */
void copy_jobs_take_results(copy_jobs *cj, copy_result **out, size_t *n);
/* Stops: no new jobs; jobs in flight end without a result. */
void copy_jobs_stop(copy_jobs *cj);
/* Frees cj and every job; only after the loop has stopped running. */
void copy_jobs_free(copy_jobs *cj);

#endif
