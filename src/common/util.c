/* Clocks, randomness and formatting helpers (see util.h). */
#include "common/util.h"

#include <openssl/rand.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
  /* Drawn from OpenSSL's generator 64 values at a time (per thread): a request id per
   * small file made RAND_bytes' per-call locking a visible share of a batch put. A
   * forked child (the shell runs each command in one) must not repeat its parent's
   * values, request ids above all: the pool belongs to the process that filled it. */
  static __thread uint64_t pool[64];
  static __thread unsigned left;
  static __thread pid_t owner;
  pid_t me = getpid();
  if (owner != me) left = 0;
  if (left == 0 && dfs_random_bytes(pool, sizeof pool) == 0) {
    left = 64;
    owner = me;
  }
  if (left) {
    uint64_t v = pool[--left];
    pool[left] = 0; /* a value handed out is not kept around */
    return v;
  }
  uint64_t v = 0;
  {
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
