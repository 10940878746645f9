/* Fault hooks for tests (see fault.h). Each disk hook is a mode (off, from the Nth on,
 * every Nth, only the Nth) plus an event counter reset whenever it is set; counters are
 * C11 atomics so thread-pool I/O can count without a lock. Without DFS_FAULT_HOOKS only
 * the configuration entry points exist, and they refuse every fault key. */
#include "common/fault.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/errors.h"

static const char *const point_names[DFS_FAULT_NPOINTS] = {
    "disk_read_eio", "disk_write_eio", "disk_write_enospc", "corrupt_read"};

#ifdef DFS_FAULT_HOOKS
enum mode { M_OFF, M_FROM, M_EVERY, M_ONCE };

static struct {
  _Atomic int mode;
  _Atomic uint64_t n;
  _Atomic uint64_t count;
} points[DFS_FAULT_NPOINTS];
static _Atomic uint32_t drop_type;  /* 0 = off */
static _Atomic uint32_t delay_type; /* 0 = off */
static _Atomic uint64_t delay_ms;
static int64_t file_mtime_ns = -1; /* -1: never read; -2: missing */
static uint64_t file_ino, file_size; /* with the mtime: a rewrite within one clock tick or a
                                        rename of a new file still counts as a change */

int dfs_fault_compiled(void) { return 1; }

int dfs_fault_hit_(enum dfs_fault_point p) {
  int m = atomic_load(&points[p].mode);
  if (m == M_OFF) return 0;
  uint64_t k = atomic_fetch_add(&points[p].count, 1) + 1, n = atomic_load(&points[p].n);
  switch (m) {
  case M_FROM: return k >= n;
  case M_EVERY: return k % n == 0;
  case M_ONCE: return k == n;
  default: return 0;
  }
}

int dfs_fault_drop_msg_(uint16_t type) {
  uint32_t t = atomic_load(&drop_type);
  return t && t == type;
}

uint64_t dfs_fault_delay_ms_(uint16_t type) {
  uint32_t t = atomic_load(&delay_type);
  return t && t == type ? atomic_load(&delay_ms) : 0;
}

void dfs_fault_reset(void) {
  for (int i = 0; i < DFS_FAULT_NPOINTS; i++) {
    atomic_store(&points[i].mode, M_OFF);
    atomic_store(&points[i].count, 0);
  }
  atomic_store(&drop_type, 0);
  atomic_store(&delay_type, 0);
  atomic_store(&delay_ms, 0);
}

/* Parses a decimal number > 0 (up to `end`, NUL if end is NULL). 0 on success. */
static int parse_num(const char *s, uint64_t *out) {
  char *e;
  if (!*s || *s == '-') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &e, 10);
  if (errno || *e || v == 0) return -1;
  *out = v;
  return 0;
}

int dfs_fault_set(const char *key, const char *value, char *err, size_t errsz) {
  if (strncmp(key, "fault.", 6) == 0) key += 6;
  for (int i = 0; i < DFS_FAULT_NPOINTS; i++) {
    if (strcmp(key, point_names[i]) != 0) continue;
    int m = M_FROM;
    uint64_t n = 0;
    const char *v = value;
    if (strcmp(v, "0") == 0 || strcmp(v, "off") == 0) {
      m = M_OFF;
    } else {
      if (strncmp(v, "every:", 6) == 0) m = M_EVERY, v += 6;
      else if (strncmp(v, "once:", 5) == 0) m = M_ONCE, v += 5;
      if (parse_num(v, &n)) goto bad;
    }
    atomic_store(&points[i].mode, M_OFF);
    atomic_store(&points[i].count, 0);
    atomic_store(&points[i].n, n);
    atomic_store(&points[i].mode, m);
    return 0;
  }
  if (strcmp(key, "drop_msg") == 0) {
    uint64_t t = 0;
    if (strcmp(value, "0") != 0 && (parse_num(value, &t) || t > 65535)) goto bad;
    atomic_store(&drop_type, (uint32_t)t);
    return 0;
  }
  if (strcmp(key, "delay_msg") == 0) {
    uint64_t t = 0, ms = 0;
    if (strcmp(value, "0") != 0) {
      char tbuf[16];
      const char *colon = strchr(value, ':');
      size_t tl = colon ? (size_t)(colon - value) : 0;
      if (!colon || tl == 0 || tl >= sizeof tbuf) goto bad;
      memcpy(tbuf, value, tl);
      tbuf[tl] = '\0';
      if (parse_num(tbuf, &t) || t > 65535 || parse_num(colon + 1, &ms)) goto bad;
    }
    atomic_store(&delay_ms, ms);
    atomic_store(&delay_type, (uint32_t)t);
    return 0;
  }
  snprintf(err, errsz,
           "unknown fault hook '%s' (known: disk_read_eio, disk_write_eio, "
           "disk_write_enospc, corrupt_read, drop_msg, delay_msg)",
           key);
  return DFS_EINVAL;
bad:
  snprintf(err, errsz, "fault.%s: bad value '%s' (see docs/internals.md \"Fault hooks\")", key,
           value);
  return DFS_EINVAL;
}

int dfs_fault_load_file(const char *path, char *err, size_t errsz) {
  struct stat st;
  if (stat(path, &st) < 0) {
    if (file_mtime_ns == -2) return 0;
    int was_read = file_mtime_ns != -1;
    file_mtime_ns = -2;
    if (was_read) dfs_fault_reset();
    return was_read;
  }
  int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  if (m == file_mtime_ns && (uint64_t)st.st_ino == file_ino && (uint64_t)st.st_size == file_size)
    return 0;
  FILE *f = fopen(path, "r");
  if (!f) return 0; /* try again next time */
  file_mtime_ns = m;
  file_ino = (uint64_t)st.st_ino;
  file_size = (uint64_t)st.st_size;
  dfs_fault_reset();
  char line[256];
  int rc = 1;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n#")] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) continue;
    char *eq = strchr(p, '=');
    if (!eq) {
      snprintf(err, errsz, "%s: line '%s' is not key=value", path, p);
      rc = DFS_EINVAL;
      break;
    }
    *eq = '\0';
    char *end = eq;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
    char *v = eq + 1;
    while (*v == ' ' || *v == '\t') v++;
    for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t');) *--end = '\0';
    if ((rc = dfs_fault_set(p, v, err, errsz)) < 0) break;
    rc = 1;
  }
  fclose(f);
  return rc;
}

#else /* !DFS_FAULT_HOOKS */

int dfs_fault_compiled(void) { return 0; }
int dfs_fault_hit_(enum dfs_fault_point p) { return 0; }
int dfs_fault_drop_msg_(uint16_t type) { return 0; }
uint64_t dfs_fault_delay_ms_(uint16_t type) { return 0; }
void dfs_fault_reset(void) {}
int dfs_fault_set(const char *key, const char *value, char *err, size_t errsz) {
  snprintf(err, errsz,
           "%s: fault hooks are not compiled in (configure with -DDFS_FAULT_HOOKS=ON)", key);
  return DFS_ECONFIG;
}
int dfs_fault_load_file(const char *path, char *err, size_t errsz) { return 0; }

#endif

int dfs_fault_configure(const dfs_config *cfg, char *err, size_t errsz) {
  static const char *const msg_keys[] = {"drop_msg", "delay_msg"};
  char key[64];
  for (int i = 0; i < DFS_FAULT_NPOINTS + 2; i++) {
    const char *name = i < DFS_FAULT_NPOINTS ? point_names[i] : msg_keys[i - DFS_FAULT_NPOINTS];
    snprintf(key, sizeof key, "fault.%s", name);
    const char *v = dfs_config_str(cfg, key, NULL);
    if (!v) continue;
    int rc = dfs_fault_set(key, v, err, errsz);
    if (rc) return rc;
  }
  return 0;
}
