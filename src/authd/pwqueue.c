/* Fair bounded bcrypt queue (see pwqueue.h). Each address with jobs has a pwq_addr
 * holding its waiting jobs in FIFO order; addresses with waiting jobs form a ring that
 * pump() serves one job at a time. A pwq_addr is freed when it has no job left, so the
 * number of them is bounded by max_jobs. */
#include "authd/pwqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

struct pwq_addr {
  char addr[64];
  unsigned jobs;                /* waiting + running */
  pwq_job *head, *tail;         /* waiting */
  struct pwq_addr *next;        /* in q->addrs */
  struct pwq_addr *ring_next;   /* in the ring while it has waiting jobs */
  int in_ring;
};

struct pwq {
  uv_loop_t *loop;
  unsigned max_running, max_jobs, max_per_addr;
  unsigned running, jobs;
  int stopped;
  struct pwq_addr *addrs;
  struct pwq_addr *ring_head, *ring_tail;
};

pwq *pwq_new(uv_loop_t *loop, unsigned max_running, unsigned max_jobs, unsigned max_per_addr) {
  pwq *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->loop = loop;
  q->max_running = max_running ? max_running : PWQ_DEF_RUNNING;
  q->max_jobs = max_jobs ? max_jobs : PWQ_DEF_JOBS;
  q->max_per_addr = max_per_addr ? max_per_addr : PWQ_DEF_PER_ADDR;
  return q;
}

static void addr_release(pwq *q, struct pwq_addr *a) {
  if (--a->jobs || a->in_ring) return;
  for (struct pwq_addr **pp = &q->addrs; *pp; pp = &(*pp)->next)
    if (*pp == a) { *pp = a->next; break; }
  free(a);
}

static void ring_push(pwq *q, struct pwq_addr *a) {
  a->ring_next = NULL;
  a->in_ring = 1;
  if (q->ring_tail) q->ring_tail->ring_next = a;
  else q->ring_head = a;
  q->ring_tail = a;
}

/* Takes the next waiting job, round-robin over addresses; NULL if none. */
static pwq_job *take(pwq *q) {
  struct pwq_addr *a = q->ring_head;
  if (!a) return NULL;
  q->ring_head = a->ring_next;
  if (!q->ring_head) q->ring_tail = NULL;
  a->in_ring = 0;
  pwq_job *j = a->head;
  a->head = j->next;
  if (!a->head) a->tail = NULL;
  else ring_push(q, a); /* to the back: the other addresses go first */
  return j;
}

static void on_work(uv_work_t *w) {
  pwq_job *j = w->data;
  j->run(j);
}

static void pump(pwq *q);

static void finish(pwq_job *j, int status) {
  pwq *q = j->q;
  struct pwq_addr *a = j->addr;
  q->jobs--;
  j->done(j, status); /* may free j */
  addr_release(q, a);
}

static void on_after_work(uv_work_t *w, int status) {
  pwq_job *j = w->data;
  pwq *q = j->q;
  q->running--;
  finish(j, status);
  pump(q);
}

static void pump(pwq *q) {
  while (!q->stopped && q->running < q->max_running) {
    pwq_job *j = take(q);
    if (!j) return;
    if (j->cancelled && j->cancelled(j)) { finish(j, UV_ECANCELED); continue; }
    j->work.data = j;
    q->running++;
    if (uv_queue_work(q->loop, &j->work, on_work, on_after_work)) {
      q->running--;
      finish(j, UV_ECANCELED);
    }
  }
}

/* The queue is full: makes room for an address holding `mine` jobs by refusing the
 * newest waiting job of the address holding the most, if that is at least 2 more (a
 * flood from many addresses cannot keep a newcomer out). 1 if room was made. */
static int displace(pwq *q, unsigned mine) {
  struct pwq_addr *big = NULL;
  for (struct pwq_addr *a = q->addrs; a; a = a->next)
    if (a->head && (!big || a->jobs > big->jobs)) big = a;
  if (!big || big->jobs < mine + 2) return 0;
  pwq_job *last = big->head, *prev = NULL;
  while (last->next) { prev = last; last = last->next; }
  if (prev) prev->next = NULL; else big->head = NULL;
  big->tail = prev;
  if (!big->head && big->in_ring) { /* out of the ring: it has nothing waiting now */
    struct pwq_addr **pp = &q->ring_head, *before = NULL;
    while (*pp != big) { before = *pp; pp = &(*pp)->ring_next; }
    *pp = big->ring_next;
    if (q->ring_tail == big) q->ring_tail = before;
    big->in_ring = 0;
  }
  finish(last, UV_EBUSY);
  return 1;
}

int pwq_submit(pwq *q, pwq_job *j, const char *addr, int *per_addr) {
  *per_addr = 0;
  if (q->stopped) return DFS_EBUSY;
  struct pwq_addr *a = q->addrs;
  while (a && strcmp(a->addr, addr) != 0) a = a->next;
  if (a && a->jobs >= q->max_per_addr) { *per_addr = 1; return DFS_EBUSY; }
  if (q->jobs >= q->max_jobs && !displace(q, a ? a->jobs : 0)) return DFS_EBUSY;
  if (!a) {
    if (!(a = calloc(1, sizeof *a))) return DFS_EBUSY;
    snprintf(a->addr, sizeof a->addr, "%s", addr);
    a->next = q->addrs;
    q->addrs = a;
  }
  j->q = q;
  j->addr = a;
  j->next = NULL;
  if (a->tail) a->tail->next = j;
  else a->head = j;
  a->tail = j;
  a->jobs++;
  q->jobs++;
  if (!a->in_ring) ring_push(q, a);
  pump(q);
  return 0;
}

unsigned pwq_jobs(const pwq *q) { return q->jobs; }

void pwq_stop(pwq *q) {
  q->stopped = 1;
  pwq_job *j;
  while ((j = take(q)) != NULL) finish(j, UV_ECANCELED);
}

void pwq_free(pwq *q) {
  if (!q) return;
  while (q->addrs) { struct pwq_addr *a = q->addrs; q->addrs = a->next; free(a); }
  free(q);
}
