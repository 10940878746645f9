/* The pack syncer (see pack_sync.h).
 *
 * The loop thread queues waiters in generation order and raises `wanted`; the thread
 * sleeps until wanted > durable, runs one chunk_store_pack_sync (which covers every
 * record appended before it started) and posts the result with uv_async_send; the loop
 * then completes every waiter whose generation is durable (all of them, with the error,
 * if the flush failed: volume flush errors are sticky).
 * Invariants: (1) waiters are only touched on the loop thread; (2) wanted, durable,
 * last_rc and stopping are only touched under mu; (3) wanted >= every queued gen. */
#include "chunkd/pack_sync.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/errors.h"
#include "common/log.h"

struct pack_syncer {
  chunkd_state *st;
  pthread_t thread;
  int thread_started;
  uv_async_t done; /* the thread -> the loop: flushes finished */
  pack_waiter *head, **tail; /* loop thread only */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t wanted;  /* the highest generation a waiter needs */
  uint64_t durable; /* the highest generation a flush made durable */
  int last_rc;      /* the last flush's result (sticky in the store once failed) */
  int stopping;
};

static void *sync_main(void *arg) {
  pack_syncer *ps = arg;
  pthread_mutex_lock(&ps->mu);
  for (;;) {
    while (ps->wanted <= ps->durable && !ps->last_rc && !ps->stopping)
      pthread_cond_wait(&ps->cv, &ps->mu);
    if (ps->wanted <= ps->durable || ps->last_rc) break; /* stopping with nothing left */
    pthread_mutex_unlock(&ps->mu);
    uint64_t durable = 0;
    int rc = chunk_store_pack_sync(ps->st->store, &durable);
    pthread_mutex_lock(&ps->mu);
    if (durable > ps->durable) ps->durable = durable;
    if (rc) ps->last_rc = rc;
    uv_async_send(&ps->done);
  }
  pthread_mutex_unlock(&ps->mu);
  return NULL;
}

/* Loop thread: completes the waiters the flushes have covered. */
static void on_done(uv_async_t *a) {
  pack_syncer *ps = a->data;
  pthread_mutex_lock(&ps->mu);
  uint64_t durable = ps->durable;
  int rc = ps->last_rc;
  pthread_mutex_unlock(&ps->mu);
  while (ps->head && (ps->head->gen <= durable || rc)) {
    pack_waiter *w = ps->head;
    ps->head = w->next;
    if (!ps->head) ps->tail = &ps->head;
    w->next = NULL;
    w->cb(w, w->gen <= durable ? 0 : rc);
  }
}

int pack_syncer_start(chunkd_state *st, pack_syncer **out) {
  pack_syncer *ps = calloc(1, sizeof *ps);
  if (!ps) return DFS_ENOMEM;
  ps->st = st;
  ps->tail = &ps->head;
  pthread_mutex_init(&ps->mu, NULL);
  pthread_cond_init(&ps->cv, NULL);
  if (uv_async_init(st->loop, &ps->done, on_done)) {
    free(ps);
    return DFS_EINTERNAL;
  }
  ps->done.data = ps;
  if (pthread_create(&ps->thread, NULL, sync_main, ps)) {
    uv_close((uv_handle_t *)&ps->done, NULL);
    ps->stopping = 1; /* freed by pack_syncer_free after the close */
    *out = ps;
    return DFS_EINTERNAL;
  }
  ps->thread_started = 1;
  *out = ps;
  return 0;
}

void pack_syncer_wait(pack_syncer *ps, pack_waiter *w) {
  w->next = NULL;
  *ps->tail = w;
  ps->tail = &w->next;
  pthread_mutex_lock(&ps->mu);
  int rc = ps->last_rc;
  if (w->gen > ps->wanted) ps->wanted = w->gen;
  pthread_cond_signal(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
  if (rc) uv_async_send(&ps->done); /* the flushes already fail: answer it now */
}

void pack_syncer_stop(pack_syncer *ps) {
  if (!ps || !ps->thread_started) return;
  pthread_mutex_lock(&ps->mu);
  ps->stopping = 1;
  pthread_cond_signal(&ps->cv);
  pthread_mutex_unlock(&ps->mu);
  pthread_join(ps->thread, NULL);
  ps->thread_started = 0;
  on_done(&ps->done); /* what the last flushes covered */
  if (ps->head) LOG_WARN("pack syncer stopped with writes not flushed");
  while (ps->head) { /* only if the last flush failed */
    pack_waiter *w = ps->head;
    ps->head = w->next;
    w->cb(w, DFS_EUNAVAIL);
  }
  ps->tail = &ps->head;
  uv_close((uv_handle_t *)&ps->done, NULL);
}

void pack_syncer_free(pack_syncer *ps) {
  if (!ps) return;
  pthread_mutex_destroy(&ps->mu);
  pthread_cond_destroy(&ps->cv);
  free(ps);
}
