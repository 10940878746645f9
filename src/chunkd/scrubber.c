/* Background CRC scrubbing (see scrubber.h).
 *
 * A pass takes the list of chunk ids; one thread-pool work item at a time verifies
 * chunks from the cursor until it has read a budget of one second at the rate. The next
 * item starts when the bytes read have "paid" for themselves at the rate (bytes/rate
 * after the item started: a token bucket), so the scrubber never reads faster than the
 * rate on average. A pass ends (and is logged with its throughput) when the wait after
 * its last item is over; a new one starts at most every interval_ms, checked each second.
 * Invariants: (1) at most one work item is in flight (`busy`); (2) ids/cursor are only
 * touched on the loop thread or by the one work item while busy; (3) the timer is
 * one-shot and armed whenever no work item is in flight (unless stopping). */
#include "chunkd/scrubber.h"

#include <inttypes.h>
#include <stdlib.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"

#define TICK_MS 1000
#define COMPACT_ONLY_RATE (64u << 20) /* bytes/s compaction may copy when scrubbing is off */

struct scrubber {
  chunkd_state *st;
  uint64_t rate;
  int verify;           /* 0: scrub.bytes_per_s is 0: work items only compact */
  uint64_t interval_ms; /* a new pass starts at most this often */
  uv_timer_t timer;
  uv_work_t work;
  int busy, stopping;
  /* the current pass */
  uint64_t *ids;
  size_t nids, cursor;
  uint64_t pass_bytes, pass_start_ms;
  size_t pass_bad;
  int pass_ending; /* the last item is done; the pass ends when its wait is over */
  /* the work item's results */
  uint64_t tick_bytes, tick_start_ms;
  size_t tick_bad;
};

static void on_tick(uv_timer_t *t);

static void scrub_run(uv_work_t *w) {
  scrubber *sc = w->data;
  sc->tick_bytes = 0;
  sc->tick_bad = 0;
  /* Compaction of mostly-deleted volume files rides on the same work item and budget:
   * the bytes it copies are paid for like bytes scrubbed. */
  chunk_store_compact(sc->st->store, &sc->tick_bytes);
  while (sc->cursor < sc->nids && sc->tick_bytes < sc->rate * TICK_MS / 1000) {
    int rc = chunk_store_verify(sc->st->store, sc->ids[sc->cursor++], &sc->tick_bytes);
    if (rc == DFS_ECHECKSUM) sc->tick_bad++;
  }
}

static void pass_log(scrubber *sc) {
  char hs[32];
  double secs = (double)(dfs_now_ms() - sc->pass_start_ms) / 1000.0;
  if (secs < 0.001) secs = 0.001;
  dfs_log(sc->pass_bad ? DFS_LOG_WARN : DFS_LOG_INFO,
          "scrub pass done: %zu chunks, %s, %zu corrupt, %.2f s: %.1f MiB/s, %.1f chunks/s "
          "(limit %" PRIu64 " bytes/s)",
          sc->nids, dfs_human_size(sc->pass_bytes, hs, sizeof hs), sc->pass_bad, secs,
          (double)sc->pass_bytes / secs / 1048576.0, (double)sc->nids / secs, sc->rate);
  free(sc->ids);
  sc->ids = NULL;
  sc->nids = sc->cursor = 0;
  sc->pass_ending = 0;
}

static void scrub_done(uv_work_t *w, int status) {
  scrubber *sc = w->data;
  chunkd_work_done(sc->st);
  sc->busy = 0;
  sc->pass_bytes += sc->tick_bytes;
  sc->pass_bad += sc->tick_bad;
  if (sc->tick_bad && !sc->stopping && sc->st->corrupt_found)
    sc->st->corrupt_found(sc->st->corrupt_ud);
  if (sc->stopping) return;
  if (sc->cursor >= sc->nids && sc->nids) sc->pass_ending = 1;
  /* token bucket: the next read may start once these bytes are paid for */
  uint64_t due = sc->tick_bytes * 1000 / sc->rate, spent = dfs_now_ms() - sc->tick_start_ms;
  if (!sc->nids && due < TICK_MS) due = TICK_MS; /* idle: compaction looks once a second */
  uv_timer_start(&sc->timer, on_tick, due > spent ? due - spent : 0, 0);
}

static void on_tick(uv_timer_t *t) {
  scrubber *sc = t->data;
  if (sc->busy || sc->stopping) return;
  if (sc->pass_ending) pass_log(sc);
  if (sc->cursor >= sc->nids) { /* start a new pass */
    int wait = sc->pass_start_ms && dfs_now_ms() - sc->pass_start_ms < sc->interval_ms;
    free(sc->ids);
    sc->ids = NULL;
    sc->nids = sc->cursor = 0;
    if (!sc->verify || wait || chunk_store_list_ids(sc->st->store, &sc->ids, &sc->nids) ||
        sc->nids == 0) {
      free(sc->ids); /* between passes: an item that only compacts (nids == 0) */
      sc->ids = NULL;
      sc->nids = sc->cursor = 0;
    } else {
      sc->pass_bytes = 0;
      sc->pass_bad = 0;
    }
  }
  if (sc->cursor == 0 && sc->nids) sc->pass_start_ms = dfs_now_ms();
  sc->busy = 1;
  sc->tick_start_ms = dfs_now_ms();
  if (chunkd_queue_work(sc->st, &sc->work, scrub_run, scrub_done) < 0) {
    sc->busy = 0;
    uv_timer_start(&sc->timer, on_tick, TICK_MS, 0);
  }
}

int scrubber_start(chunkd_state *st, uint64_t bytes_per_s, uint64_t interval_ms, scrubber **out) {
  scrubber *sc = calloc(1, sizeof *sc);
  if (!sc) return DFS_ENOMEM;
  sc->st = st;
  sc->verify = bytes_per_s > 0;
  sc->rate = bytes_per_s ? bytes_per_s : COMPACT_ONLY_RATE;
  sc->interval_ms = interval_ms;
  sc->work.data = sc;
  uv_timer_init(st->loop, &sc->timer);
  sc->timer.data = sc;
  uv_timer_start(&sc->timer, on_tick, TICK_MS, 0);
  *out = sc;
  return 0;
}

void scrubber_stop(scrubber *sc) {
  if (sc->stopping) return;
  sc->stopping = 1;
  uv_timer_stop(&sc->timer);
  uv_close((uv_handle_t *)&sc->timer, NULL);
}

void scrubber_free(scrubber *sc) {
  if (!sc) return;
  free(sc->ids);
  free(sc);
}
