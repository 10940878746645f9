/* Bounded, fair queue for bcrypt work (password hashes take tens of ms each by design).
 * At most max_running jobs are on libuv's thread pool at once (the pool is shared with
 * the journal's fsync: a flood of hashes must not delay every commit), at most max_jobs
 * are waiting or running in total and at most max_per_addr from one client address.
 * Waiting jobs are started round-robin over addresses, so one address flooding the
 * queue delays another address's login by about one hash per flooding address, not by
 * the whole backlog. When the queue is full, a newcomer displaces the newest waiting job
 * of the address holding the most (that job is answered "busy"), so many flooding
 * addresses together cannot keep a new address out either. Loop thread only. */
#ifndef DFS_PWQUEUE_H
#define DFS_PWQUEUE_H

#include <stdint.h>
#include <uv.h>

#define PWQ_DEF_RUNNING 2
#define PWQ_DEF_JOBS 64
#define PWQ_DEF_PER_ADDR 8

typedef struct pwq pwq;
typedef struct pwq_job pwq_job;

/* Owned by the submitter (embedded in its request); the queue only links it. run is
 * called on a pool thread; done on the loop thread, exactly once per accepted submit,
 * with status 0 after run, UV_ECANCELED when the job never ran (the queue was stopped,
 * or cancelled() said the requester is gone), or UV_EBUSY when it was displaced by a
 * job of a less busy address (tell the client to retry). */
struct pwq_job {
  void (*run)(pwq_job *j);
  void (*done)(pwq_job *j, int status);
  int (*cancelled)(pwq_job *j); /* may be NULL; asked just before the job would start */
  /* the queue's */
  uv_work_t work;
  pwq_job *next;
  struct pwq_addr *addr;
  pwq *q;
};

/* 0 for a limit = its PWQ_DEF_* default. Caller owns the result (pwq_free). */
pwq *pwq_new(uv_loop_t *loop, unsigned max_running, unsigned max_jobs, unsigned max_per_addr);
/* Queues j for addr (a client address; copied). 0, or DFS_EBUSY when the whole queue is
 * full (*per_addr = 0) or addr's share is (*per_addr = 1): j's callbacks are then never
 * called. */
int pwq_submit(pwq *q, pwq_job *j, const char *addr, int *per_addr);
/* Jobs waiting or running now. */
unsigned pwq_jobs(const pwq *q);
/* Shutdown: every waiting job gets done(j, UV_ECANCELED) now; running ones finish
 * normally; nothing new starts, later submits fail with DFS_EBUSY. */
void pwq_stop(pwq *q);
/* Frees q: after pwq_stop and after the loop has finished the running jobs. */
void pwq_free(pwq *q);

#endif
