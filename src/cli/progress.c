/* Progress bar for transfers (see progress.h). */
#include "cli/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "cli/output.h"
#include "common/util.h"

void cli_progress_init(cli_progress *p, const char *label, uint64_t total, int quiet) {
  p->enabled = !quiet && total > CLI_PROGRESS_MIN_BYTES && isatty(STDERR_FILENO);
  p->label = label;
  p->total = total;
  atomic_init(&p->done, 0);
  p->start_ms = dfs_now_ms();
  atomic_init(&p->last_draw_ms, 0);
  pthread_mutex_init(&p->draw_lock, NULL);
}

static void draw(cli_progress *p, uint64_t now) {
  uint64_t done = atomic_load(&p->done);
  double secs = (double)(now - p->start_ms) / 1000.0;
  double rate = secs > 0 ? (double)done / secs : 0;
  char d[32], t[32], r[32], eta[32] = "--:--";
  if (rate > 0 && p->total > done) {
    uint64_t s = (uint64_t)((double)(p->total - done) / rate);
    snprintf(eta, sizeof eta, "%02llu:%02llu", (unsigned long long)(s / 60),
             (unsigned long long)(s % 60));
  }
  int pct = p->total ? (int)(done * 100 / p->total) : 100;
  char bar[31];
  int fill = pct * 30 / 100;
  for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
  bar[30] = '\0';
  fprintf(stderr, "\r%s [%s] %3d%% %s / %s  %s  ETA %s \x1b[K", p->label, bar, pct,
          dfs_human_size(done, d, sizeof d), dfs_human_size(p->total, t, sizeof t),
          cli_rate_string(done, secs, r, sizeof r), eta);
  fflush(stderr);
}

void cli_progress_add(cli_progress *p, uint64_t n) {
  atomic_fetch_add(&p->done, n);
  if (!p->enabled) return;
  uint64_t now = dfs_now_ms(), last = atomic_load(&p->last_draw_ms);
  if (now - last < 200) return;
  if (pthread_mutex_trylock(&p->draw_lock) != 0) return;
  atomic_store(&p->last_draw_ms, now);
  draw(p, now);
  pthread_mutex_unlock(&p->draw_lock);
}

void cli_progress_finish(cli_progress *p) {
  if (p->enabled && atomic_load(&p->last_draw_ms) != 0) {
    pthread_mutex_lock(&p->draw_lock);
    fprintf(stderr, "\r\x1b[K");
    fflush(stderr);
    pthread_mutex_unlock(&p->draw_lock);
  }
  pthread_mutex_destroy(&p->draw_lock);
}
