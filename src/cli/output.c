/* CLI output helpers (see output.h): error lines, terminal-safe names, mode strings,
 * times, rates. */
#include "cli/output.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"
#include "common/util.h"

int cli_quiet;
int cli_err_line;
int cli_colour_mode = CLI_COLOUR_AUTO;

int cli_colour_parse(const char *v) {
  if (!strcmp(v, "auto") || !strcmp(v, "tty") || !strcmp(v, "if-tty")) cli_colour_mode = CLI_COLOUR_AUTO;
  else if (!strcmp(v, "never") || !strcmp(v, "no") || !strcmp(v, "none")) cli_colour_mode = CLI_COLOUR_NEVER;
  else if (!strcmp(v, "always") || !strcmp(v, "yes") || !strcmp(v, "force")) cli_colour_mode = CLI_COLOUR_ALWAYS;
  else return -1;
  return 0;
}

int cli_colour_on(FILE *f) {
  if (cli_colour_mode != CLI_COLOUR_AUTO) return cli_colour_mode == CLI_COLOUR_ALWAYS;
  /* https://no-color.org: the user's wish beats the terminal's ability */
  if (getenv("NO_COLOR")) return 0;
  const char *term = getenv("TERM");
  if (term && !strcmp(term, "dumb")) return 0;
  return isatty(fileno(f));
}

void cli_err(const char *cmd, const char *fmt, ...) {
  char msg[1024], safe[4 * sizeof msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *m = cli_esc(msg, safe, sizeof safe);
  char where[32] = "";
  if (cli_err_line > 0) snprintf(where, sizeof where, "line %d: ", cli_err_line);
  cli_progress *held = cli_progress_hold(); /* not in the middle of a progress line */
  if (cmd) fprintf(stderr, "dfs: %s%s: %s\n", where, cmd, m);
  else fprintf(stderr, "dfs: %s%s\n", where, m);
  cli_progress_release(held);
}

char *cli_mode_string(int is_dir, uint32_t mode, char *buf) {
  static const char rwx[] = "rwx";
  buf[0] = is_dir ? 'd' : '-';
  for (int i = 0; i < 9; i++) buf[1 + i] = (mode & (1u << (8 - i))) ? rwx[i % 3] : '-';
  buf[10] = '\0';
  return buf;
}

char *cli_time_string(int64_t mtime_ns, char *buf, size_t bufsz) {
  time_t t = (time_t)(mtime_ns / 1000000000);
  struct tm tm;
  if (!localtime_r(&t, &tm) || !strftime(buf, bufsz, "%Y-%m-%d %H:%M", &tm))
    snprintf(buf, bufsz, "?");
  return buf;
}

char *cli_rate_string(uint64_t bytes, double secs, char *buf, size_t bufsz) {
  if (secs < 1e-6) secs = 1e-6;
  double r = (double)bytes / secs;
  if (r >= 1e9) snprintf(buf, bufsz, "%.2f GB/s", r / 1e9);
  else if (r >= 1e6) snprintf(buf, bufsz, "%.1f MB/s", r / 1e6);
  else if (r >= 1e3) snprintf(buf, bufsz, "%.1f kB/s", r / 1e3);
  else snprintf(buf, bufsz, "%.0f B/s", r);
  return buf;
}

void cli_summary(const char *verb, const char *from, const char *to, uint64_t bytes,
                 double secs) {
  if (cli_quiet) return;
  char hs[32], rs[32];
  printf("%s %s -> %s: %s in %.2f s (%s)\n", verb, from, to,
         dfs_human_size(bytes, hs, sizeof hs), secs, cli_rate_string(bytes, secs, rs, sizeof rs));
  fflush(stdout);
}
