/* Clocks, randomness and formatting helpers (see util.h). */
#include "common/util.h"

#include <openssl/rand.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"

uint64_t dfs_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void dfs_sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { /* a signal: sleep the rest */
  }
}

int64_t dfs_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int dfs_random_bytes(void *buf, size_t len) {
  return RAND_bytes(buf, (int)len) == 1 ? 0 : DFS_EIO;
}

uint64_t dfs_random_u64(void) {
  uint64_t v = 0;
  if (dfs_random_bytes(&v, sizeof v)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    v = (uint64_t)ts.tv_nsec * 6364136223846793005ULL ^ (uint64_t)ts.tv_sec;
  }
  return v;
}

char *dfs_human_size(uint64_t bytes, char *buf, size_t bufsz) {
  static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)bytes;
  int i = 0;
  while (v >= 1024 && i < 5) { v /= 1024; i++; }
  if (i == 0) snprintf(buf, bufsz, "%llu B", (unsigned long long)bytes);
  else snprintf(buf, bufsz, "%.1f %s", v, u[i]);
  return buf;
}

int dfs_parse_hostport(const char *s, char *host, size_t hostsz, int *port) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || (size_t)(colon - s) >= hostsz) return DFS_EINVAL;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || p <= 0 || p > 65535) return DFS_EINVAL;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  *port = (int)p;
  return 0;
}

int dfs_find_hostport(const char *msg, char *host, size_t hostsz, int *port) {
  const char *p = msg;
  while (*p) {
    while (*p && isspace((unsigned char)*p)) p++;
    const char *s = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    char tok[300];
    size_t n = (size_t)(p - s);
    while (n && strchr(".,;()'\"", s[n - 1])) n--;
    while (n && strchr("('\"", *s)) { s++; n--; }
    if (n == 0 || n >= sizeof tok) continue;
    memcpy(tok, s, n);
    tok[n] = '\0';
    if (strchr(tok, ':') && dfs_parse_hostport(tok, host, hostsz, port) == 0) return 0;
  }
  return DFS_EINVAL;
}
