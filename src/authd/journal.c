/* Group-committed append-only journal (see journal.h).
 * States of a batch: FILLING (current, on the loop) -> FLUSHING (on the thread pool) ->
 * DONE (waiters called). Invariant: at most one batch is FLUSHING; appends made while it
 * flushes go to the next FILLING batch, so record order on disk = append order. */
#include "authd/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/array.h"
#include "common/bytes.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/fileio.h"
#include "common/log.h"

#define REC_HDR 8
#define REC_MAX (1u << 20)

struct waiter { journal_done_cb cb; void *ud; };

struct batch {
  uint8_t *buf;
  size_t len, cap;
  struct waiter *w;
  size_t nw, capw;
};

struct journal {
  uv_loop_t *loop;
  char *path;
  int fd;
  uint64_t size;
  int failed;
  struct batch filling, flushing;
  int busy;
  uv_work_t work;
  int work_rc;
  int compact_fd; /* only during journal_compact */
};

static int write_all_fd(int fd, const uint8_t *p, size_t n) {
  return dfs_write_all(fd, p, n) ? DFS_EIO : 0;
}

static int fsync_dir_of(const char *path) {
  char *dup = strdup(path);
  if (!dup) return DFS_ENOMEM;
  int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY);
  free(dup);
  if (dfd < 0) return DFS_EIO;
  int rc = fsync(dfd) ? DFS_EIO : 0;
  close(dfd);
  return rc;
}

/* NULL if a whole, intact record starts at off; else what is wrong with it. */
static const char *record_problem(const uint8_t *data, size_t n, size_t off) {
  if (n - off < REC_HDR) return "a torn record header";
  uint32_t len = dfs_get_le32(data + off), crc = dfs_get_le32(data + off + 4);
  if (len == 0 || len > REC_MAX) return "an impossible record length";
  if (len > n - off - REC_HDR) return "a record cut short";
  if (dfs_crc32c(0, data + off + REC_HDR, len) != crc) return "a checksum mismatch";
  return NULL;
}

/* The first offset >= from where an intact record starts, or n if none. */
static size_t next_valid(const uint8_t *data, size_t n, size_t from) {
  for (size_t p = from; p + REC_HDR < n; p++) {
    uint32_t len = dfs_get_le32(data + p);
    if (len == 0 || len > REC_MAX || len > n - p - REC_HDR) continue; /* cheap test first */
    if (!record_problem(data, n, p)) return p;
  }
  return n;
}

int journal_open(uv_loop_t *loop, const char *path, int repair, journal_replay_cb cb,
                 void *ud, journal **out) {
  journal *j = calloc(1, sizeof *j);
  uint8_t *data = NULL;
  int rc = DFS_ENOMEM;
  if (!j || !(j->path = strdup(path))) goto err;
  j->loop = loop;
  j->compact_fd = -1;
  rc = DFS_EIO;
  j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (j->fd < 0) { LOG_ERROR("cannot open %s: %s", path, strerror(errno)); goto err; }
  struct stat st;
  if (fstat(j->fd, &st)) goto err;
  size_t n = (size_t)st.st_size, off = 0;
  data = malloc(n ? n : 1);
  if (!data) { rc = DFS_ENOMEM; goto err; }
  if (pread(j->fd, data, n, 0) != (ssize_t)n) goto err;
  while (off < n) {
    const char *why = record_problem(data, n, off);
    if (!why) {
      uint32_t len = dfs_get_le32(data + off);
      if (cb(data + off + REC_HDR, len, ud) != 0) {
        LOG_ERROR("%s: the record at offset %zu has a valid checksum but cannot be read "
                  "(written by a newer authd?): refusing to start; run the authd that "
                  "wrote it, or restore the file from a backup", path, off);
        rc = DFS_ECHECKSUM;
        goto err;
      }
      off += REC_HDR + len;
      continue;
    }
    /* A bad record followed by a good one is corruption, not a crash mid-append: dropping
     * it (and so everything after it) would silently undo later logouts, password changes
     * and revocations. Only a bad last record is a torn, unacknowledged tail. */
    size_t next = next_valid(data, n, off + 1);
    if (next < n && !repair) {
      LOG_ERROR("%s: corrupt record at offset %zu of %zu bytes (%s) with valid records after "
                "it (at offset %zu): refusing to start; restore the file from a backup, or "
                "start once with --set journal.repair=true to keep only the records before "
                "offset %zu (later changes are lost)", path, off, n, why, next, off);
      rc = DFS_ECHECKSUM;
      goto err;
    }
    if (next < n)
      LOG_WARN("%s: journal.repair: dropping %zu bytes from the corrupt record at offset %zu "
               "(%s), including valid later records", path, n - off, off, why);
    else
      LOG_WARN("%s: dropping a torn last record at offset %zu (%zu bytes, %s): an append "
               "that a crash interrupted, never acknowledged", path, off, n - off, why);
    if (ftruncate(j->fd, (off_t)off) || fdatasync(j->fd)) { rc = DFS_EIO; goto err; }
    break;
  }
  lseek(j->fd, (off_t)off, SEEK_SET);
  j->size = off;
  free(data);
  *out = j;
  return 0;
err:
  free(data);
  if (j) { if (j->fd > 0) close(j->fd); free(j->path); free(j); }
  return rc;
}

void journal_emit(journal *j, const uint8_t *body, size_t len) {
  uint8_t h[REC_HDR];
  dfs_put_le32(h, (uint32_t)len);
  dfs_put_le32(h + 4, dfs_crc32c(0, body, len));
  if (j->compact_fd >= 0 &&
      (write_all_fd(j->compact_fd, h, REC_HDR) || write_all_fd(j->compact_fd, body, len))) {
    close(j->compact_fd);
    j->compact_fd = -2; /* failed */
  }
}

int journal_compact(journal *j, void (*write_all)(journal *j, void *ud), void *ud) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.compact", j->path);
  j->compact_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (j->compact_fd < 0) return DFS_EIO;
  write_all(j, ud);
  int fd = j->compact_fd;
  j->compact_fd = -1;
  if (fd < 0 || fdatasync(fd) || rename(tmp, j->path) || fsync_dir_of(j->path)) {
    if (fd >= 0) close(fd);
    unlink(tmp);
    return DFS_EIO;
  }
  close(j->fd);
  j->fd = fd;
  j->size = (uint64_t)lseek(fd, 0, SEEK_END);
  return 0;
}

int journal_append(journal *j, const uint8_t *body, size_t len) {
  if (j->failed) return DFS_EIO;
  if (len == 0 || len > REC_MAX) return DFS_EINVAL;
  struct batch *b = &j->filling;
  uint8_t *nb = dfs_grow(b->buf, &b->cap, b->len + REC_HDR + len, 1, 4096);
  if (!nb) return DFS_ENOMEM;
  b->buf = nb;
  dfs_put_le32(b->buf + b->len, (uint32_t)len);
  dfs_put_le32(b->buf + b->len + 4, dfs_crc32c(0, body, len));
  memcpy(b->buf + b->len + REC_HDR, body, len);
  b->len += REC_HDR + len;
  return 0;
}

static void flush_work(uv_work_t *w) {
  journal *j = w->data;
  if (j->failed) { j->work_rc = DFS_EIO; return; }
  j->work_rc = write_all_fd(j->fd, j->flushing.buf, j->flushing.len);
  if (!j->work_rc && fdatasync(j->fd)) j->work_rc = DFS_EIO;
}

static void start_flush(journal *j);

static void flush_done(uv_work_t *w, int status) {
  journal *j = w->data;
  int rc = status ? DFS_EIO : j->work_rc;
  if (rc) {
    LOG_ERROR("journal %s: write failed; refusing further changes", j->path);
    j->failed = 1;
  } else {
    j->size += j->flushing.len;
  }
  struct batch done = j->flushing;
  j->flushing = (struct batch){0};
  j->busy = 0;
  for (size_t i = 0; i < done.nw; i++) done.w[i].cb(rc, done.w[i].ud);
  free(done.buf);
  free(done.w);
  start_flush(j);
}

static void start_flush(journal *j) {
  if (j->busy || j->filling.nw == 0) return;
  j->flushing = j->filling;
  j->filling = (struct batch){0};
  j->busy = 1;
  j->work.data = j;
  uv_queue_work(j->loop, &j->work, flush_work, flush_done);
}

int journal_sync(journal *j, journal_done_cb cb, void *ud) {
  struct batch *b = &j->filling;
  struct waiter *nw = dfs_grow(b->w, &b->capw, b->nw + 1, sizeof *nw, 8);
  if (!nw) return DFS_ENOMEM;
  b->w = nw;
  b->w[b->nw++] = (struct waiter){cb, ud};
  start_flush(j);
  return 0;
}

uint64_t journal_size(const journal *j) { return j->size; }

void journal_close(journal *j) {
  if (!j) return;
  close(j->fd);
  free(j->filling.buf);
  free(j->filling.w);
  free(j->path);
  free(j);
}
