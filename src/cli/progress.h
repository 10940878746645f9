/* Transfer progress on stderr for put/get, shown only when stderr is a terminal, not -q,
 * and the transfer is larger than 8 MiB. One line that fits the terminal's width
 * (TIOCGWINSZ on stderr, else $COLUMNS, else 80; never wider than width - 1 so that it
 * cannot wrap): name, percentage, bytes done/total, rate and ETA, all in binary units
 * (KiB/MiB/GiB, MiB/s), redrawn in place with \r at most 5 times a second. One file:
 * the line is left at 100% when done. Several files: one line per file as each
 * finishes, and the running total as the bottom line. Error lines (cli_err) clear the
 * line first. Thread safe: workers add bytes concurrently. */
#ifndef DFS_CLI_PROGRESS_H
#define DFS_CLI_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_PROGRESS_MIN_BYTES (8u << 20)
#define CLI_PROGRESS_NAME_MAX 512

typedef struct {
  int enabled;
  int multi;                 /* several files: the bottom line counts files */
  char name[CLI_PROGRESS_NAME_MAX]; /* escaped copy: the file, or "put"/"get" (multi) */
  uint64_t total;
  _Atomic uint64_t done;
  uint64_t files_total;      /* multi only */
  uint64_t files_done;       /* multi only; under draw_lock */
  uint64_t start_ms;
  _Atomic uint64_t last_draw_ms;
  int drawn;                 /* a partial line is on screen; under draw_lock */
  pthread_mutex_t draw_lock;
} cli_progress;

/* One file: decides whether to show anything (isatty(2), total > 8 MiB, not quiet).
 * name (copied, escaped) is what the line shows. */
void cli_progress_init(cli_progress *p, const char *name, uint64_t total, int quiet);
/* Several files (nfiles, total bytes): the bottom line is "verb k/n files ...". */
void cli_progress_init_multi(cli_progress *p, const char *verb, uint64_t nfiles,
                             uint64_t total, int quiet);
/* Adds n bytes and redraws if due. */
void cli_progress_add(cli_progress *p, uint64_t n);
/* Several files: name (borrowed, escaped here) of size bytes is complete: its line goes
 * above the total line. Failed files print their own error line instead. */
void cli_progress_file_done(cli_progress *p, const char *name, uint64_t size);
/* Ends the line: when everything arrived it is drawn one last time at 100% and kept
 * (followed by a newline), else cleared. Releases the lock. */
void cli_progress_finish(cli_progress *p);

/* For cli_err: clears the line of the progress being drawn (if any) and holds its lock
 * until cli_progress_release(the returned pointer; NULL: nothing held), so that an
 * error line does not land in the middle of it. Not while holding the draw lock. */
cli_progress *cli_progress_hold(void);
void cli_progress_release(cli_progress *held);

/* The width a line on stderr may use: the terminal's columns - 1 (TIOCGWINSZ), else
 * $COLUMNS - 1, else 79; at least 20. */
int cli_progress_width(void);

/* Pure, for tests: the line for name with done of total bytes after secs seconds, at
 * most width display columns (code points), into out. files_done/files_total: multi
 * (files_total 0: one file). final: "in M:SS" instead of the ETA. Returns out. */
char *cli_progress_format(char *out, size_t outsz, int width, const char *name,
                          uint64_t done, uint64_t total, double secs, uint64_t files_done,
                          uint64_t files_total, int final);
/* Pure: s cut in the middle with "..." to at most width code points into out. Returns
 * the number of code points written. */
size_t cli_fit_middle(const char *s, size_t width, char *out, size_t outsz);

#endif
