/* Volume files of packed small chunks (see volumes.h for the format and invariants). */
#include "chunkd/volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/array.h"
#include "common/bytes.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/fileio.h"
#include "common/log.h"

/* A volume is sealed (no more appends) once it passes this size: small enough that
 * compacting one is a short job, large enough that a disk holds few descriptors. */
#define VOL_MAX_BYTES (64ull << 20)
#define HDR_CRC_OFF 60
#define PATH_SZ 4096

struct vol {
  uint32_t seq;
  int fd;
  uint64_t size; /* bytes appended (the file's size, once the appends finished) */
  uint64_t live; /* bytes of live put records (vol_rec_size each) */
  int refs;      /* calls using fd right now */
  int dirty;     /* appended to since its last fdatasync (then it is on `dirtyv`) */
  int doomed;    /* out of the table (compacted): closed and freed when refs drop to 0 */
};

struct volumes {
  char *dir; /* .../vol */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct vol **vols; /* by ascending seq */
  size_t n, cap;
  struct vol *active; /* the one appended to; NULL until the first append */
  uint32_t next_seq;
  /* group commit (under mu): generations of finished writes asked for / made durable */
  uint64_t req, done;
  int syncing;
  int sync_err; /* sticky: after a failed fdatasync the page cache cannot be trusted */
  struct vol **dirtyv; /* volumes with writes not yet fdatasync'ed */
  size_t ndirty, capdirty;
};

uint64_t vol_rec_size(uint32_t length) {
  return (VOL_REC_HDR + (uint64_t)length + VOL_ALIGN - 1) / VOL_ALIGN * VOL_ALIGN;
}

static void rec_encode(const vol_rec *r, uint8_t out[VOL_REC_HDR]) {
  memset(out, 0, VOL_REC_HDR);
  memcpy(out, VOL_MAGIC, 8);
  dfs_put_le64(out + 8, r->id);
  dfs_put_le64(out + 16, r->version);
  dfs_put_le64(out + 24, (uint64_t)r->mtime_s);
  dfs_put_le32(out + 32, (uint32_t)r->type);
  dfs_put_le32(out + 36, r->length);
  dfs_put_le32(out + 40, r->crc);
  dfs_put_le32(out + 44, r->aux);
  dfs_put_le32(out + HDR_CRC_OFF, dfs_crc32c(0, out, HDR_CRC_OFF));
}

/* 0 if in holds a valid record header, else -1. */
static int rec_decode(const uint8_t in[VOL_REC_HDR], vol_rec *r) {
  if (memcmp(in, VOL_MAGIC, 8) != 0) return -1;
  if (dfs_get_le32(in + HDR_CRC_OFF) != dfs_crc32c(0, in, HDR_CRC_OFF)) return -1;
  r->id = dfs_get_le64(in + 8);
  r->version = dfs_get_le64(in + 16);
  r->mtime_s = (int64_t)dfs_get_le64(in + 24);
  r->type = (int)dfs_get_le32(in + 32);
  r->length = dfs_get_le32(in + 36);
  r->crc = dfs_get_le32(in + 40);
  r->aux = dfs_get_le32(in + 44);
  if (r->type != VOL_REC_PUT && r->type != VOL_REC_DELETE) return -1;
  if (r->type == VOL_REC_PUT && r->length > 65536) return -1;
  if (r->type == VOL_REC_DELETE && r->length != 0) return -1;
  return 0;
}

int volumes_path(const volumes *v, uint32_t vol, char *buf, size_t bufsz) {
  int n = snprintf(buf, bufsz, "%s/%08" PRIx32 ".vol", v->dir, vol);
  return n < 0 || (size_t)n >= bufsz ? DFS_ETOOBIG : 0;
}

static int fsync_dir(const char *path) {
  int rc = dfs_fsync_dir(path);
  return rc ? dfs_from_errno(-rc) : 0;
}

/* ---- the table (caller holds mu) --------------------------------------------------- */

static struct vol *find(const volumes *v, uint32_t seq) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v->vols[mid]->seq < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < v->n && v->vols[lo]->seq == seq ? v->vols[lo] : NULL;
}

static int table_add(volumes *v, struct vol *x) { /* x->seq is above every seq in it */
  struct vol **nv = dfs_grow(v->vols, &v->cap, v->n + 1, sizeof *nv, 16);
  if (!nv) return DFS_ENOMEM;
  v->vols = nv;
  v->vols[v->n++] = x;
  return 0;
}

static void vol_unref(struct vol *x) {
  if (--x->refs == 0 && x->doomed) {
    close(x->fd);
    free(x);
  }
}

/* Makes a new empty active volume (its name durable). Caller holds mu. */
static int rotate(volumes *v) {
  char path[PATH_SZ];
  struct vol *x = calloc(1, sizeof *x);
  if (!x) return DFS_ENOMEM;
  x->seq = v->next_seq;
  int rc = volumes_path(v, x->seq, path, sizeof path);
  if (rc) {
    free(x);
    return rc;
  }
  x->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (x->fd < 0) {
    rc = errno == ENOSPC ? DFS_ENOSPACE : dfs_from_errno(errno);
    free(x);
    return rc;
  }
  if ((rc = fsync_dir(v->dir)) || (rc = table_add(v, x))) {
    close(x->fd);
    unlink(path);
    free(x);
    return rc;
  }
  v->next_seq++;
  v->active = x;
  return 0;
}

/* ---- group commit ------------------------------------------------------------------ */

/* Waits until generation `my` (and every earlier one) is durable: becomes the leader
 * (fdatasync of every dirty volume) if no sync is running, else waits for the running
 * one and, if it started too early, the next. Caller holds mu. */
static int wait_durable(volumes *v, uint64_t my) {
  while (v->done < my && !v->sync_err) {
    if (v->syncing) {
      pthread_cond_wait(&v->cv, &v->mu);
      continue;
    }
    v->syncing = 1;
    uint64_t target = v->req;
    struct vol **list = v->dirtyv;
    size_t n = v->ndirty;
    v->dirtyv = NULL;
    v->ndirty = v->capdirty = 0;
    for (size_t i = 0; i < n; i++) {
      list[i]->dirty = 0;
      list[i]->refs++;
    }
    pthread_mutex_unlock(&v->mu);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
      if (fdatasync(list[i]->fd) < 0 && !rc) rc = dfs_from_errno(errno);
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < n; i++) vol_unref(list[i]);
    free(list);
    v->syncing = 0;
    if (rc) {
      LOG_ERROR("fdatasync of a volume in %s failed (%s): refusing small-chunk writes until "
                "restart",
                v->dir, dfs_strerror(rc));
      v->sync_err = rc;
    } else {
      v->done = target;
    }
    pthread_cond_broadcast(&v->cv);
  }
  return v->done >= my ? 0 : v->sync_err;
}

/* Waits until every write that finished before this call is durable. Caller holds mu. */
static int sync_writes(volumes *v) { return wait_durable(v, ++v->req); }

static void mark_dirty(volumes *v, struct vol *x) { /* caller holds mu */
  if (x->dirty) return;
  struct vol **nv = dfs_grow(v->dirtyv, &v->capdirty, v->ndirty + 1, sizeof *nv, 4);
  if (!nv) { /* cannot track it: sync it now, under the lock (rare) */
    if (fdatasync(x->fd) < 0 && !v->sync_err) v->sync_err = dfs_from_errno(errno);
    return;
  }
  v->dirtyv = nv;
  v->dirtyv[v->ndirty++] = x;
  x->dirty = 1;
}

/* Appends one record (header + data + padding) to the active volume. *loc set; the
 * record is written but not yet durable. A put that needs a new volume opens one (a
 * directory fsync) unless may_open is 0: then VOL_NEED_OPEN and nothing is written. A
 * delete record (64 bytes) goes into the active volume even past its size, so that no
 * delete opens a volume while one exists. */
static int append_record(volumes *v, const vol_rec *r, const uint8_t *data, vol_loc *loc,
                         int may_open) {
  static const uint8_t zeros[VOL_ALIGN];
  uint8_t hdr[VOL_REC_HDR];
  uint64_t size = r->type == VOL_REC_PUT ? vol_rec_size(r->length) : vol_rec_size(0);
  rec_encode(r, hdr);
  pthread_mutex_lock(&v->mu);
  int rc = v->sync_err;
  int full = !v->active ||
             (r->type == VOL_REC_PUT && v->active->size + size > VOL_MAX_BYTES);
  if (!rc && full) rc = may_open ? rotate(v) : VOL_NEED_OPEN;
  if (rc) {
    pthread_mutex_unlock(&v->mu);
    return rc;
  }
  struct vol *x = v->active;
  uint64_t off = x->size;
  x->size += size;
  x->refs++;
  pthread_mutex_unlock(&v->mu);

  uint32_t dlen = r->type == VOL_REC_PUT ? r->length : 0;
  struct iovec iov[3] = {{hdr, VOL_REC_HDR}, {(void *)data, dlen},
                         {(void *)zeros, size - VOL_REC_HDR - dlen}};
  int niov = 0;
  struct iovec use[3];
  for (int i = 0; i < 3; i++)
    if (iov[i].iov_len) use[niov++] = iov[i];
  uint64_t at = off;
  for (int i = 0; i < niov && !rc; i++) { /* pwritev may write short: go on from there */
    while (use[i].iov_len && !rc) {
      ssize_t k = pwritev(x->fd, &use[i], niov - i, (off_t)at);
      if (k < 0) {
        if (errno != EINTR) rc = errno == ENOSPC ? DFS_ENOSPACE : dfs_from_errno(errno);
        continue;
      }
      at += (uint64_t)k;
      for (int j = i; j < niov && k > 0; j++) {
        size_t t = (size_t)k < use[j].iov_len ? (size_t)k : use[j].iov_len;
        use[j].iov_base = (uint8_t *)use[j].iov_base + t;
        use[j].iov_len -= t;
        k -= (ssize_t)t;
      }
    }
  }
  pthread_mutex_lock(&v->mu);
  vol_unref(x);
  if (!rc) mark_dirty(v, x);
  pthread_mutex_unlock(&v->mu);
  loc->vol = x->seq;
  loc->off = off;
  return rc; /* a failed write leaves a gap that the scan skips over */
}

int volumes_append_nowait(volumes *v, uint64_t id, uint64_t version, int64_t mtime_s,
                          const uint8_t *data, uint32_t length, uint32_t crc, int may_open,
                          vol_loc *loc, uint64_t *gen) {
  if (length > 65536) return DFS_EINVAL;
  vol_rec r = {.type = VOL_REC_PUT, .id = id, .version = version, .mtime_s = mtime_s,
               .length = length, .crc = crc};
  int rc = append_record(v, &r, data, loc, may_open);
  if (rc) return rc;
  pthread_mutex_lock(&v->mu);
  *gen = ++v->req; /* after the write: a sync that covers gen covers these bytes */
  struct vol *x = find(v, loc->vol);
  if (x) x->live += vol_rec_size(length);
  pthread_mutex_unlock(&v->mu);
  return 0;
}

int volumes_wait(volumes *v, uint64_t gen) {
  pthread_mutex_lock(&v->mu);
  int rc = wait_durable(v, gen);
  pthread_mutex_unlock(&v->mu);
  return rc;
}

int volumes_sync(volumes *v, uint64_t *durable) {
  pthread_mutex_lock(&v->mu);
  int rc = wait_durable(v, v->req);
  *durable = v->done;
  pthread_mutex_unlock(&v->mu);
  return rc;
}

int volumes_append(volumes *v, uint64_t id, uint64_t version, int64_t mtime_s,
                   const uint8_t *data, uint32_t length, uint32_t crc, vol_loc *loc) {
  uint64_t gen;
  int rc = volumes_append_nowait(v, id, version, mtime_s, data, length, crc, 1, loc, &gen);
  if (rc) return rc;
  rc = volumes_wait(v, gen);
  if (rc) volumes_dead(v, *loc, length); /* written, never durable: not live */
  return rc;
}

int volumes_append_delete(volumes *v, uint64_t id, uint64_t version, uint32_t target) {
  vol_rec r = {.type = VOL_REC_DELETE, .id = id, .version = version, .aux = target};
  vol_loc loc;
  return append_record(v, &r, NULL, &loc, 1);
}

/* ---- reads ------------------------------------------------------------------------- */

int volumes_read(volumes *v, vol_loc loc, uint64_t id, uint64_t version, uint32_t length,
                 uint8_t **rec, const char **why) {
  *rec = NULL;
  pthread_mutex_lock(&v->mu);
  struct vol *x = find(v, loc.vol);
  if (x) x->refs++;
  pthread_mutex_unlock(&v->mu);
  if (!x) return DFS_ENOCHUNK;
  uint8_t *buf = malloc(VOL_REC_HDR + (size_t)length);
  int rc = buf ? 0 : DFS_ENOMEM;
  if (!rc) {
    int e = dfs_pread_all(x->fd, buf, VOL_REC_HDR + (size_t)length, loc.off);
    if (e == -ENODATA) {
      *why = "record runs past the end of its volume";
      rc = DFS_ECHECKSUM;
    } else if (e) {
      rc = dfs_from_errno(-e);
    }
  }
  pthread_mutex_lock(&v->mu);
  vol_unref(x);
  pthread_mutex_unlock(&v->mu);
  vol_rec r;
  if (!rc && rec_decode(buf, &r)) {
    *why = "bad record header";
    rc = DFS_ECHECKSUM;
  }
  if (!rc && (r.type != VOL_REC_PUT || r.id != id || r.version != version ||
              r.length != length)) {
    *why = "record header does not match the index";
    rc = DFS_ECHECKSUM;
  }
  if (rc) {
    free(buf);
    return rc;
  }
  *rec = buf;
  return 0;
}

/* ---- accounting -------------------------------------------------------------------- */

void volumes_dead(volumes *v, vol_loc loc, uint32_t length) {
  pthread_mutex_lock(&v->mu);
  struct vol *x = find(v, loc.vol);
  uint64_t sz = vol_rec_size(length);
  if (x) x->live = x->live > sz ? x->live - sz : 0;
  pthread_mutex_unlock(&v->mu);
}

void volumes_live(volumes *v, vol_loc loc, uint32_t length) {
  pthread_mutex_lock(&v->mu);
  struct vol *x = find(v, loc.vol);
  if (x) x->live += vol_rec_size(length);
  pthread_mutex_unlock(&v->mu);
}

void volumes_stats_get(volumes *v, volumes_stats *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&v->mu);
  for (size_t i = 0; i < v->n; i++) {
    out->count++;
    out->bytes += v->vols[i]->size;
    out->dead_bytes += v->vols[i]->size - (v->vols[i]->live < v->vols[i]->size
                                               ? v->vols[i]->live
                                               : v->vols[i]->size);
  }
  pthread_mutex_unlock(&v->mu);
}

/* ---- scan and compaction ----------------------------------------------------------- */

/* Walks the records of x (its fd, bounded by size), calling fn for each valid one; with
 * want_data the put's data is read too (into *data, valid during the call). *skipped_out
 * (if not NULL): bytes stepped over that were no record (damage). */
typedef int (*walk_fn)(void *arg, const vol_rec *r, vol_loc loc, const uint8_t *data);

static int walk(volumes *v, struct vol *x, uint64_t size, int want_data, walk_fn fn,
                void *arg, uint64_t *skipped_out) {
  uint8_t hdr[VOL_REC_HDR];
  uint8_t *data = want_data ? malloc(65536) : NULL;
  if (want_data && !data) return DFS_ENOMEM;
  uint64_t off = 0, skipped = 0;
  int rc = 0;
  while (off + VOL_REC_HDR <= size && !rc) {
    int e = dfs_pread_all(x->fd, hdr, VOL_REC_HDR, off);
    if (e) {
      rc = e == -ENODATA ? 0 : dfs_from_errno(-e);
      break;
    }
    vol_rec r;
    if (rec_decode(hdr, &r)) { /* not a header: look for the next one */
      off += VOL_ALIGN;
      skipped += VOL_ALIGN;
      continue;
    }
    uint64_t end = off + (r.type == VOL_REC_PUT ? vol_rec_size(r.length) : vol_rec_size(0));
    if (end > size) break; /* a torn append: never acknowledged */
    if (want_data && r.type == VOL_REC_PUT && r.length) {
      e = dfs_pread_all(x->fd, data, r.length, off + VOL_REC_HDR);
      if (e) {
        rc = e == -ENODATA ? 0 : dfs_from_errno(-e);
        break;
      }
    }
    rc = fn(arg, &r, (vol_loc){x->seq, off}, data);
    off = end;
  }
  if (skipped)
    LOG_WARN("volume %s/%08" PRIx32 ".vol: skipped %" PRIu64 " bytes that are not records "
             "(damaged)",
             v->dir, x->seq, skipped);
  if (skipped_out) *skipped_out = skipped;
  free(data);
  return rc;
}

struct scan_ctx {
  vol_scan_fn fn;
  void *arg;
};

static int scan_one(void *arg, const vol_rec *r, vol_loc loc, const uint8_t *data) {
  (void)data;
  struct scan_ctx *c = arg;
  return c->fn(c->arg, r, loc);
}

int volumes_scan(volumes *v, vol_scan_fn fn, void *arg) {
  struct scan_ctx c = {fn, arg};
  for (size_t i = 0; i < v->n; i++) {
    int rc = walk(v, v->vols[i], v->vols[i]->size, 0, scan_one, &c, NULL);
    if (rc) return rc;
  }
  return 0;
}

void volumes_pick_compaction(volumes *v, uint32_t *vol) {
  *vol = 0;
  double best = 0.5;
  pthread_mutex_lock(&v->mu);
  for (size_t i = 0; i < v->n; i++) {
    struct vol *x = v->vols[i];
    if (x == v->active || x->size == 0) continue;
    double dead = (double)(x->size - (x->live < x->size ? x->live : x->size)) / (double)x->size;
    if (dead >= best) {
      best = dead;
      *vol = x->seq;
    }
  }
  pthread_mutex_unlock(&v->mu);
}

struct compact_ctx {
  volumes *v;
  uint32_t seq;
  vol_live_fn relocate;
  vol_moved_fn moved;
  void *arg;
  uint64_t moved_bytes;
};

static int compact_one(void *arg, const vol_rec *r, vol_loc old, const uint8_t *data) {
  struct compact_ctx *c = arg;
  if (r->type == VOL_REC_DELETE) {
    pthread_mutex_lock(&c->v->mu);
    int keep = r->aux != c->seq && find(c->v, r->aux) != NULL;
    pthread_mutex_unlock(&c->v->mu);
    return keep ? volumes_append_delete(c->v, r->id, r->version, r->aux) : 0;
  }
  if (!c->relocate(c->arg, r, old, data)) return 0;
  vol_loc now;
  int rc = volumes_append(c->v, r->id, r->version, r->mtime_s, data, r->length, r->crc, &now);
  if (rc) return rc;
  c->moved_bytes += vol_rec_size(r->length);
  c->moved(c->arg, r, old, now);
  return 0;
}

int volumes_compact(volumes *v, uint32_t seq, vol_live_fn relocate, vol_moved_fn moved,
                    void *arg, uint64_t *moved_bytes, uint64_t *unreadable) {
  char path[PATH_SZ];
  pthread_mutex_lock(&v->mu);
  struct vol *x = find(v, seq);
  if (!x || x == v->active) {
    pthread_mutex_unlock(&v->mu);
    return DFS_EINVAL;
  }
  x->refs++;
  uint64_t size = x->size;
  pthread_mutex_unlock(&v->mu);

  struct compact_ctx c = {v, seq, relocate, moved, arg, 0};
  int rc = walk(v, x, size, 1, compact_one, &c, unreadable);
  pthread_mutex_lock(&v->mu);
  if (!rc) rc = sync_writes(v); /* the delete records copied over */
  if (!rc) { /* out of the table: new reads of it fail and find the new place */
    size_t i = 0;
    while (i < v->n && v->vols[i] != x) i++;
    memmove(v->vols + i, v->vols + i + 1, (v->n - i - 1) * sizeof *v->vols);
    v->n--;
    x->doomed = 1;
  }
  vol_unref(x);
  pthread_mutex_unlock(&v->mu);
  *moved_bytes += c.moved_bytes;
  if (rc) return rc;
  if (volumes_path(v, seq, path, sizeof path) == 0 && unlink(path) < 0)
    LOG_WARN("cannot delete compacted volume %s: %s", path, strerror(errno));
  fsync_dir(v->dir);
  return 0;
}

/* ---- open, close ------------------------------------------------------------------- */

static int seq_cmp(const void *a, const void *b) {
  uint32_t x = (*(struct vol *const *)a)->seq, y = (*(struct vol *const *)b)->seq;
  return x < y ? -1 : x > y;
}

int volumes_open(const char *dir, volumes **out, char *err, size_t errsz) {
  volumes *v = calloc(1, sizeof *v);
  if (!v) return DFS_ENOMEM;
  pthread_mutex_init(&v->mu, NULL);
  pthread_cond_init(&v->cv, NULL);
  v->next_seq = 1;
  size_t len = strlen(dir) + 5;
  int rc = DFS_ENOMEM;
  if (!(v->dir = malloc(len))) goto err;
  snprintf(v->dir, len, "%s/vol", dir);
  int e = dfs_mkdir_p(v->dir, 0700);
  if (e) {
    rc = dfs_from_errno(-e);
    snprintf(err, errsz, "cannot create %s: %s", v->dir, strerror(-e));
    goto err;
  }
  DIR *d = opendir(v->dir);
  if (!d) {
    rc = dfs_from_errno(errno);
    snprintf(err, errsz, "cannot list %s: %s", v->dir, strerror(errno));
    goto err;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    unsigned seq;
    char tail[8];
    if (strlen(de->d_name) != 12 || sscanf(de->d_name, "%8x%7s", &seq, tail) != 2 ||
        strcmp(tail, ".vol") != 0 || seq == 0)
      continue;
    int fd = openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
      rc = dfs_from_errno(errno);
      snprintf(err, errsz, "cannot open %s/%s: %s", v->dir, de->d_name, strerror(errno));
      if (fd >= 0) close(fd);
      closedir(d);
      goto err;
    }
    if (st.st_size == 0) { /* an active volume that never got a record */
      close(fd);
      unlinkat(dirfd(d), de->d_name, 0);
      continue;
    }
    struct vol *x = calloc(1, sizeof *x);
    if (!x || table_add(v, x)) {
      free(x);
      close(fd);
      closedir(d);
      goto err;
    }
    x->seq = seq;
    x->fd = fd;
    x->size = (uint64_t)st.st_size;
    if (seq >= v->next_seq) v->next_seq = seq + 1;
  }
  closedir(d);
  if (v->n) qsort(v->vols, v->n, sizeof *v->vols, seq_cmp);
  *out = v;
  return 0;
err:
  volumes_close(v);
  return rc;
}

void volumes_close(volumes *v) {
  if (!v) return;
  for (size_t i = 0; i < v->n; i++) {
    close(v->vols[i]->fd);
    free(v->vols[i]);
  }
  free(v->vols);
  free(v->dirtyv);
  free(v->dir);
  pthread_mutex_destroy(&v->mu);
  pthread_cond_destroy(&v->cv);
  free(v);
}
