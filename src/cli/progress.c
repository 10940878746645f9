/* Progress line for transfers (see progress.h). */
#include "cli/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/escape.h"
#include "common/util.h"

#define KiB 1024.0
#define MiB (1024.0 * 1024.0)
#define GiB (1024.0 * 1024.0 * 1024.0)

/* The progress being drawn, for cli_progress_hold (a process shows one at a time). */
static cli_progress *_Atomic g_active;

/* Code points in s (the names are escaped: printable ASCII or valid UTF-8). */
static size_t cps(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

/* Byte offset of code point k of s (or its length). */
static size_t cp_off(const char *s, size_t k) {
  size_t i = 0;
  for (; s[i]; i++)
    if (((unsigned char)s[i] & 0xc0) != 0x80 && k-- == 0) return i;
  return i;
}

size_t cli_fit_middle(const char *s, size_t width, char *out, size_t outsz) {
  size_t n = cps(s);
  if (!outsz) return 0;
  if (n <= width) {
    snprintf(out, outsz, "%s", s);
    return n;
  }
  if (width <= 3) {
    snprintf(out, outsz, "%.*s", (int)width, "...");
    return width;
  }
  /* the end (an extension, a number) tells files apart more often: it gets the extra */
  size_t head = (width - 3) / 2, tail = width - 3 - head;
  size_t hb = cp_off(s, head), tb = cp_off(s, n - tail);
  snprintf(out, outsz, "%.*s...%s", (int)hb, s, s + tb);
  return width;
}

static void fmt_dur(char *out, size_t outsz, uint64_t s) {
  if (s >= 3600)
    snprintf(out, outsz, "%llu:%02llu:%02llu", (unsigned long long)(s / 3600),
             (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
  else snprintf(out, outsz, "%llu:%02llu", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
}

/* "0.50/1.50 GiB": both in the unit of the total. */
static void fmt_sizes(char *out, size_t outsz, uint64_t done, uint64_t total) {
  double u = total >= GiB ? GiB : total >= MiB ? MiB : KiB;
  const char *un = total >= GiB ? "GiB" : total >= MiB ? "MiB" : "KiB";
  snprintf(out, outsz, u == GiB ? "%.2f/%.2f %s" : "%.1f/%.1f %s", (double)done / u,
           (double)total / u, un);
}

char *cli_progress_format(char *out, size_t outsz, int width, const char *name,
                          uint64_t done, uint64_t total, double secs, uint64_t files_done,
                          uint64_t files_total, int final) {
  char label[CLI_PROGRESS_NAME_MAX + 64], pct[8], sizes[64], rate[32], eta[32], d[24];
  if (files_total)
    snprintf(label, sizeof label, "%s %llu/%llu files", name, (unsigned long long)files_done,
             (unsigned long long)files_total);
  else snprintf(label, sizeof label, "%s", name);
  if (done > total) done = total;
  snprintf(pct, sizeof pct, "%3d%%", total ? (int)(done * 100 / total) : 100);
  fmt_sizes(sizes, sizeof sizes, done, total);
  double r = secs > 0.001 ? (double)done / secs : 0;
  snprintf(rate, sizeof rate, "%.1f MiB/s", r / MiB);
  if (final) {
    fmt_dur(d, sizeof d, (uint64_t)(secs + 0.5));
    snprintf(eta, sizeof eta, "in %s", d);
  } else if (r > 0 && total > done) {
    fmt_dur(d, sizeof d, (uint64_t)((double)(total - done) / r + 0.5));
    snprintf(eta, sizeof eta, "ETA %s", d);
  } else {
    snprintf(eta, sizeof eta, "ETA -:--");
  }
  /* What does not fit goes, least useful first: the ETA, the rate, the sizes. */
  const char *parts[4] = {pct, sizes, rate, eta};
  int nparts = 4;
  size_t tail = 0;
  for (;;) {
    tail = 0;
    for (int i = 0; i < nparts; i++) tail += 2 + strlen(parts[i]);
    size_t want = cps(label) < 20 ? cps(label) : 20; /* the name keeps this much */
    if (nparts == 1 || (size_t)width >= want + tail) break;
    nparts--;
  }
  size_t room = (size_t)width > tail ? (size_t)width - tail : 0;
  char nm[CLI_PROGRESS_NAME_MAX + 64];
  size_t nl = cli_fit_middle(label, room, nm, sizeof nm);
  size_t o = (size_t)snprintf(out, outsz, "%s", nm);
  /* A bar with what is left, when there is enough for one worth seeing. */
  size_t left = room - nl;
  if (left >= 3 + 10 && o < outsz) {
    size_t bw = left - 3 > 30 ? 30 : left - 3, fill = total ? (size_t)(done * bw / total) : bw;
    char bar[40];
    for (size_t i = 0; i < bw; i++) bar[i] = i < fill ? '#' : '.';
    bar[bw] = '\0';
    o += (size_t)snprintf(out + o, outsz - o, " [%s]", bar);
  }
  for (int i = 0; i < nparts && o < outsz; i++)
    o += (size_t)snprintf(out + o, outsz - o, "  %s", parts[i]);
  return out;
}

int cli_progress_width(void) {
  int w = 0;
  struct winsize ws;
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) w = ws.ws_col;
  else {
    const char *c = getenv("COLUMNS");
    w = c ? atoi(c) : 0;
    if (w <= 0) w = 80;
  }
  /* the last column: some terminals wrap as soon as it is written */
  w -= 1;
  return w < 20 ? 20 : w;
}

static void setup(cli_progress *p, const char *name, uint64_t total, int quiet) {
  p->enabled = !quiet && total > CLI_PROGRESS_MIN_BYTES && isatty(STDERR_FILENO);
  char esc[CLI_ESC_BUF];
  snprintf(p->name, sizeof p->name, "%s", cli_esc(name, esc, sizeof esc));
  p->total = total;
  atomic_init(&p->done, 0);
  p->files_done = p->files_total = 0;
  p->multi = 0;
  p->drawn = 0;
  p->start_ms = dfs_now_ms();
  atomic_init(&p->last_draw_ms, 0);
  pthread_mutex_init(&p->draw_lock, NULL);
  if (p->enabled) atomic_store(&g_active, p);
}

void cli_progress_init(cli_progress *p, const char *name, uint64_t total, int quiet) {
  setup(p, name, total, quiet);
}

void cli_progress_init_multi(cli_progress *p, const char *verb, uint64_t nfiles,
                             uint64_t total, int quiet) {
  setup(p, verb, total, quiet);
  p->multi = 1;
  p->files_total = nfiles;
}

/* Under draw_lock. */
static void draw(cli_progress *p, uint64_t now, int final) {
  char line[1024];
  int width = cli_progress_width();
  if (width > (int)sizeof line - 1) width = (int)sizeof line - 1;
  cli_progress_format(line, sizeof line, width, p->name, atomic_load(&p->done), p->total,
                      (double)(now - p->start_ms) / 1000.0, p->files_done,
                      p->multi ? p->files_total : 0, final);
  /* \r to the start, the line, then erase what a longer earlier line left */
  fprintf(stderr, "\r%s\x1b[K", line);
  fflush(stderr);
  p->drawn = 1;
}

void cli_progress_add(cli_progress *p, uint64_t n) {
  atomic_fetch_add(&p->done, n);
  if (!p->enabled) return;
  uint64_t now = dfs_now_ms(), last = atomic_load(&p->last_draw_ms);
  if (now - last < 200) return;
  if (pthread_mutex_trylock(&p->draw_lock) != 0) return;
  atomic_store(&p->last_draw_ms, now);
  draw(p, now, 0);
  pthread_mutex_unlock(&p->draw_lock);
}

void cli_progress_file_done(cli_progress *p, const char *name, uint64_t size) {
  if (!p->enabled) return;
  pthread_mutex_lock(&p->draw_lock);
  p->files_done++;
  char esc[CLI_ESC_BUF], nm[CLI_PROGRESS_NAME_MAX], sz[32];
  dfs_human_size(size, sz, sizeof sz);
  int width = cli_progress_width();
  size_t room = (size_t)width > strlen(sz) + 2 ? (size_t)width - strlen(sz) - 2 : 1;
  cli_fit_middle(cli_esc(name, esc, sizeof esc), room, nm, sizeof nm);
  fprintf(stderr, "\r%s  %s\x1b[K\n", nm, sz);
  p->drawn = 0;
  uint64_t now = dfs_now_ms();
  atomic_store(&p->last_draw_ms, now);
  draw(p, now, 0);
  pthread_mutex_unlock(&p->draw_lock);
}

void cli_progress_finish(cli_progress *p) {
  if (p->enabled) {
    pthread_mutex_lock(&p->draw_lock);
    if (atomic_load(&p->done) >= p->total) {
      draw(p, dfs_now_ms(), 1);
      fputc('\n', stderr);
    } else if (p->drawn) {
      fputs("\r\x1b[K", stderr);
    }
    fflush(stderr);
    p->drawn = 0;
    atomic_store(&g_active, NULL);
    pthread_mutex_unlock(&p->draw_lock);
  }
  pthread_mutex_destroy(&p->draw_lock);
}

cli_progress *cli_progress_hold(void) {
  cli_progress *p = atomic_load(&g_active);
  if (!p) return NULL;
  pthread_mutex_lock(&p->draw_lock);
  if (p->drawn) {
    fputs("\r\x1b[K", stderr);
    fflush(stderr);
    p->drawn = 0;
  }
  return p;
}

void cli_progress_release(cli_progress *held) {
  if (held) pthread_mutex_unlock(&held->draw_lock);
}
