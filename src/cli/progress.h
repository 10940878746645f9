/* Transfer progress bar on stderr for put/get: shown only when stderr is a terminal and
 * the transfer is larger than 8 MiB; bytes done/total, rate and ETA, redrawn at most 5
 * times a second, cleared at the end. Thread safe: workers add bytes concurrently. */
#ifndef DFS_CLI_PROGRESS_H
#define DFS_CLI_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define CLI_PROGRESS_MIN_BYTES (8u << 20)

typedef struct {
  int enabled;
  const char *label;         /* kept by pointer */
  uint64_t total;
  _Atomic uint64_t done;
  uint64_t start_ms;
  _Atomic uint64_t last_draw_ms;
  pthread_mutex_t draw_lock;
} cli_progress;

/* Decides whether to show anything (isatty(2), total > 8 MiB, not quiet). */
void cli_progress_init(cli_progress *p, const char *label, uint64_t total, int quiet);
/* Adds n bytes and redraws if due. */
void cli_progress_add(cli_progress *p, uint64_t n);
/* Clears the line (if anything was drawn) and releases the lock. */
void cli_progress_finish(cli_progress *p);

#endif
