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

/* Length of the valid UTF-8 sequence at p that is not a C1 control, or 0. */
static size_t utf8_ok(const unsigned char *p) {
  size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
           : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) return 0;      /* U+0080-U+009F */
  if (n == 3 && p[0] == 0xe0 && p[1] < 0xa0) return 0;      /* overlong */
  if (n == 3 && p[0] == 0xed && p[1] > 0x9f) return 0;      /* surrogates */
  if (n == 4 && p[0] == 0xf0 && p[1] < 0x90) return 0;      /* overlong */
  if (n == 4 && p[0] == 0xf4 && p[1] > 0x8f) return 0;      /* > U+10FFFF */
  return n;
}

const char *cli_esc(const char *s, char *buf, size_t bufsz) {
  static const char hex[] = "0123456789abcdef";
  if (!s) return "";
  const unsigned char *p = (const unsigned char *)s;
  size_t clean = 0;
  for (;;) {
    if (!p[clean]) return s; /* nothing to escape */
    if (p[clean] >= 0x20 && p[clean] < 0x7f) { clean++; continue; }
    size_t n = p[clean] >= 0x80 ? utf8_ok(p + clean) : 0;
    if (!n) break;
    clean += n;
  }
  if (!bufsz) return "";
  size_t o = 0, i = 0;
  while (p[i]) {
    size_t n = p[i] >= 0x20 && p[i] < 0x7f ? 1 : p[i] >= 0x80 ? utf8_ok(p + i) : 0;
    size_t need = n ? n : 4;
    if (o + need + 4 > bufsz) { /* room for "..." and the NUL */
      if (bufsz - o >= 4) memcpy(buf + o, "...", 4); /* else o == 0 and bufsz < 4 */
      else buf[0] = '\0';
      return buf;
    }
    if (n) {
      memcpy(buf + o, p + i, n);
      o += n;
      i += n;
    } else {
      buf[o++] = '\\';
      buf[o++] = 'x';
      buf[o++] = hex[p[i] >> 4];
      buf[o++] = hex[p[i] & 15];
      i++;
    }
  }
  buf[o] = '\0';
  return buf;
}

void cli_put_esc(FILE *f, const char *s) {
  char buf[CLI_ESC_BUF];
  fputs(cli_esc(s, buf, sizeof buf), f);
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
