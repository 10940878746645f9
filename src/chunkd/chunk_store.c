/* Chunk files on disk and the in-memory index (see chunk_store.h).
 *
 * File layout: chunks/XX/<016x id>.<version>, XX = id & 0xff in hex; a 4096-byte header
 * then `length` data bytes. Header (little-endian): 0 magic "DFSCHNK1", 8 id, 16 version,
 * 24 length, 28 whole CRC32C, 32 16 block CRC32Cs, 96 CRC32C of bytes [0,96); the rest
 * is zero. A chunk file appears only by rename() of a complete, fdatasync'ed temp file
 * (then the directory is fsync'ed, batched per directory across concurrent writes).
 * Corrupt files go to corrupt/ (quarantine). Reads map the file and verify the block
 * CRCs in place; the reply is sent from the mapping.
 *
 * Small chunks (length <= pack_max) are records in volume files instead (volumes.h);
 * the index entry then holds their place (loc), and the scan reads the volumes after
 * the chunk files.
 *
 * Invariants: (1) an id is in the index iff chunks/XX/<id>.<index version> was renamed
 * into place (or found valid by the scan), or its put record was made durable in a
 * volume (or found by the scan and not followed by a newer version or a delete record),
 * and it has not been deleted or quarantined since; (2) used_bytes = sum over the index
 * of entry_bytes (file: CHUNK_HDR_SIZE + length; record: vol_rec_size); (3) index and
 * `fresh` are only touched under `mu`; (4) an entry that leaves the index hands its disk
 * side to drop_stored (unlink, or dead record + delete record). */
#include "chunkd/chunk_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "chunkd/volumes.h"
#include "common/array.h"
#include "common/bytes.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/fault.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

#define HDR_CRC_OFF 96
#define PATH_SZ 4096

struct entry {
  struct entry *next;
  chunk_info info;
  vol_loc loc;  /* loc.vol != 0: a record in a volume file (volumes.h), else its own file */
  int deleting; /* metad ordered it deleted; the delete is queued (chunk_store_delete_ordered) */
};

struct chunk_store {
  char *dir;
  uint64_t capacity; /* 0 = file system size */
  int lock_fd;
  volumes *vols;     /* dir/vol: chunks of at most pack_max bytes are packed there */
  uint32_t pack_max; /* 0 = no packing (chunk_store_set_pack_max) */
  char uuid[CHUNK_UUID_LEN + 1];
  pthread_mutex_t mu;
  /* index: chained hash table, power-of-two buckets */
  struct entry **buckets;
  size_t nbuckets, count;
  uint64_t used_bytes;
  /* chunks written since the last take/snapshot */
  chunk_info *fresh;
  size_t nfresh, capfresh;
  /* group commit of directory fsyncs (dir_sync), per directory, under sync_mu */
  pthread_mutex_t sync_mu;
  pthread_cond_t sync_cv;
  struct dir_gen {
    uint64_t req, done; /* generations asked for / made durable */
    int syncing;        /* a leader is fsyncing this directory right now */
  } sync_dir[256]; /* chunks/XX */
  int sync_err; /* sticky: a directory fsync failed */
  /* policy and health (under mu) */
  uint64_t reserve;       /* free bytes writes must leave */
  uint64_t max_io_errors; /* 0 = never failing */
  uint64_t io_errors;
  int failing;
  chunk_ref *bad; /* quarantined since the last take */
  size_t nbad, capbad;
  /* corrupt/ (under mu): bytes of the files in it, and the most it may hold */
  uint64_t quarantine_bytes, quarantine_max;
  int quarantine_trimming; /* a thread is trimming corrupt/ (one at a time) */
};

/* ---- little helpers ------------------------------------------------------------- */

static size_t nblocks(uint32_t length) { return (length + DFS_BLOCK_SIZE - 1) / DFS_BLOCK_SIZE; }

typedef struct {
  uint64_t id, version;
  uint32_t length, crc;
  uint32_t block_crcs[DFS_BLOCKS_PER_CHUNK];
} chunk_hdr;

static void hdr_encode(const chunk_hdr *h, uint8_t out[CHUNK_HDR_SIZE]) {
  memset(out, 0, CHUNK_HDR_SIZE);
  memcpy(out, CHUNK_MAGIC, 8);
  dfs_put_le64(out + 8, h->id);
  dfs_put_le64(out + 16, h->version);
  dfs_put_le32(out + 24, h->length);
  dfs_put_le32(out + 28, h->crc);
  for (unsigned i = 0; i < DFS_BLOCKS_PER_CHUNK; i++) dfs_put_le32(out + 32 + 4 * i, h->block_crcs[i]);
  dfs_put_le32(out + HDR_CRC_OFF, dfs_crc32c(0, out, HDR_CRC_OFF));
}

/* 0 or DFS_ECHECKSUM (with a static reason) if the header is not a valid one. */
static int hdr_decode(const uint8_t in[CHUNK_HDR_SIZE], chunk_hdr *h, const char **why) {
  if (memcmp(in, CHUNK_MAGIC, 8) != 0) {
    *why = "bad magic";
    return DFS_ECHECKSUM;
  }
  if (dfs_get_le32(in + HDR_CRC_OFF) != dfs_crc32c(0, in, HDR_CRC_OFF)) {
    *why = "header CRC mismatch";
    return DFS_ECHECKSUM;
  }
  h->id = dfs_get_le64(in + 8);
  h->version = dfs_get_le64(in + 16);
  h->length = dfs_get_le32(in + 24);
  h->crc = dfs_get_le32(in + 28);
  for (unsigned i = 0; i < DFS_BLOCKS_PER_CHUNK; i++) h->block_crcs[i] = dfs_get_le32(in + 32 + 4 * i);
  if (h->length > DFS_CHUNK_SIZE) {
    *why = "length out of range";
    return DFS_ECHECKSUM;
  }
  return 0;
}

/* Reads exactly len bytes at off: a short file is a truncated (corrupt) chunk. */
static int pread_all(int fd, void *buf, size_t len, off_t off) {
  int rc = dfs_pread_all(fd, buf, len, (uint64_t)off);
  return rc == -ENODATA ? DFS_ECHECKSUM : rc ? dfs_from_errno(-rc) : 0;
}

static int writev_all(int fd, struct iovec *iov, int n) {
  int rc = dfs_writev_all(fd, iov, n);
  return rc == -ENOSPC ? DFS_ENOSPACE : rc ? dfs_from_errno(-rc) : 0;
}

static int fsync_path(const char *path) {
  int rc = dfs_fsync_dir(path);
  return rc ? dfs_from_errno(-rc) : 0;
}

static int mkdir_p(const char *path) {
  int rc = dfs_mkdir_p(path, 0700);
  return rc == -ENAMETOOLONG ? DFS_ETOOBIG : rc ? dfs_from_errno(-rc) : 0;
}

/* ---- index (caller holds mu) ---------------------------------------------------- */

/* Disk bytes an indexed chunk takes: its file, or its record in a volume. */
static uint64_t entry_bytes(const chunk_info *ci, vol_loc loc) {
  return loc.vol ? vol_rec_size(ci->length) : CHUNK_HDR_SIZE + (uint64_t)ci->length;
}

static size_t bucket_of(const chunk_store *s, uint64_t id) {
  uint64_t h = id * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 32) & (s->nbuckets - 1);
}

static struct entry *idx_find(const chunk_store *s, uint64_t id) {
  for (struct entry *e = s->buckets[bucket_of(s, id)]; e; e = e->next)
    if (e->info.id == id) return e;
  return NULL;
}

static int idx_grow(chunk_store *s) {
  size_t nb = s->nbuckets * 2;
  struct entry **b = calloc(nb, sizeof *b);
  if (!b) return DFS_ENOMEM;
  struct entry **old = s->buckets;
  size_t onb = s->nbuckets;
  s->buckets = b;
  s->nbuckets = nb;
  for (size_t i = 0; i < onb; i++) {
    for (struct entry *e = old[i], *n; e; e = n) {
      n = e->next;
      size_t k = bucket_of(s, e->info.id);
      e->next = b[k];
      b[k] = e;
    }
  }
  free(old);
  return 0;
}

/* Inserts or replaces id (at loc). *old = the replaced entry (old->info.version 0 if
 * none). */
static int idx_put(chunk_store *s, const chunk_info *ci, vol_loc loc, struct entry *old) {
  memset(old, 0, sizeof *old);
  struct entry *e = idx_find(s, ci->id);
  if (e) {
    *old = *e;
    s->used_bytes -= entry_bytes(&e->info, e->loc);
    e->info = *ci;
    e->loc = loc;
    e->deleting = 0; /* a new version: an exact delete of the old one does not cover it */
    s->used_bytes += entry_bytes(ci, loc);
    return 0;
  }
  if (s->count + 1 > s->nbuckets && idx_grow(s)) return DFS_ENOMEM;
  e = malloc(sizeof *e);
  if (!e) return DFS_ENOMEM;
  e->info = *ci;
  e->loc = loc;
  e->deleting = 0;
  size_t k = bucket_of(s, ci->id);
  e->next = s->buckets[k];
  s->buckets[k] = e;
  s->count++;
  s->used_bytes += entry_bytes(ci, loc);
  return 0;
}

/* Removes id; *out (if not NULL) gets the removed entry. */
static int idx_remove(chunk_store *s, uint64_t id, struct entry *out) {
  for (struct entry **pp = &s->buckets[bucket_of(s, id)]; *pp; pp = &(*pp)->next) {
    if ((*pp)->info.id != id) continue;
    struct entry *e = *pp;
    *pp = e->next;
    if (out) *out = *e;
    s->count--;
    s->used_bytes -= entry_bytes(&e->info, e->loc);
    free(e);
    return 0;
  }
  return DFS_ENOCHUNK;
}

/* The disk side of an entry that left the index: its file is unlinked, or its record
 * counted dead and (with tombstone) a delete record appended so that a restart does not
 * bring it back. No lock held. */
static void drop_stored(chunk_store *s, const struct entry *e, int tombstone) {
  char path[PATH_SZ];
  if (e->loc.vol) {
    volumes_dead(s->vols, e->loc, e->info.length);
    if (tombstone) volumes_append_delete(s->vols, e->info.id, e->info.version, e->loc.vol);
    return;
  }
  if (chunk_store_path(s, e->info.id, e->info.version, path, sizeof path) == 0 &&
      unlink(path) < 0 && errno != ENOENT)
    LOG_WARN("cannot delete %s: %s", path, strerror(errno));
}

static void fresh_add(chunk_store *s, const chunk_info *ci) {
  chunk_info *n = dfs_grow(s->fresh, &s->capfresh, s->nfresh + 1, sizeof *n, 64);
  if (!n) return; /* reported at the next full inventory instead */
  s->fresh = n;
  s->fresh[s->nfresh++] = *ci;
}

/* Counts an EIO from the disk; after max_io_errors the disk is failing (logged once). */
static void io_error(chunk_store *s, const char *what) {
  pthread_mutex_lock(&s->mu);
  uint64_t n = ++s->io_errors;
  int now_failing = !s->failing && s->max_io_errors && n >= s->max_io_errors;
  if (now_failing) s->failing = 1;
  pthread_mutex_unlock(&s->mu);
  LOG_WARN("I/O error on the disk of %s during %s (%" PRIu64 " since start)", s->dir, what, n);
  if (now_failing)
    LOG_ERROR("disk of %s is FAILING: %" PRIu64 " I/O errors (data.max_io_errors %" PRIu64
              "); reporting disk_failing so metad drains this chunkserver - replace the disk",
              s->dir, n, s->max_io_errors);
}

static void bad_add(chunk_store *s, uint64_t id, uint64_t version) { /* caller holds mu */
  chunk_ref *n = dfs_grow(s->bad, &s->capbad, s->nbad + 1, sizeof *n, 16);
  if (!n) return; /* metad still learns it from the next full inventory */
  s->bad = n;
  s->bad[s->nbad++] = (chunk_ref){id, version};
}

/* ---- paths ---------------------------------------------------------------------- */

int chunk_store_path(const chunk_store *s, uint64_t id, uint64_t version, char *buf, size_t bufsz) {
  int n = snprintf(buf, bufsz, "%s/chunks/%02x/%016" PRIx64 ".%" PRIu64, s->dir,
                   (unsigned)(id & 0xff), id, version);
  return n < 0 || (size_t)n >= bufsz ? DFS_ETOOBIG : 0;
}

/* ---- write ---------------------------------------------------------------------- */

/* Makes renames into chunks/XX (xx = 0..255) durable.
 * Group commit per directory: the caller takes a generation of its directory; if no
 * fsync of that directory is running it becomes the leader, fsyncs it and publishes
 * the generation covered, else it waits for the running one and, if that started too
 * early to cover it, for the next. Writes to different directories sync in parallel
 * (their flushes overlap in the block layer); writes to the same one share fsyncs.
 * A failed directory fsync is sticky (after fsync errors the page cache cannot be
 * trusted): every later write fails with it until chunkd is restarted. */
static int dir_sync(chunk_store *s, unsigned xx) {
  char path[PATH_SZ];
  struct dir_gen *g = &s->sync_dir[xx];
  pthread_mutex_lock(&s->sync_mu);
  uint64_t my = ++g->req;
  while (g->done < my && !s->sync_err) {
    if (g->syncing) {
      pthread_cond_wait(&s->sync_cv, &s->sync_mu);
      continue;
    }
    g->syncing = 1;
    uint64_t target = g->req;
    pthread_mutex_unlock(&s->sync_mu);
    snprintf(path, sizeof path, "%s/chunks/%02x", s->dir, xx);
    int rc = fsync_path(path);
    pthread_mutex_lock(&s->sync_mu);
    g->syncing = 0;
    if (rc) {
      LOG_ERROR("fsync of %s failed (%s): refusing writes until restart", path,
                dfs_strerror(rc));
      s->sync_err = rc;
    } else {
      g->done = target;
    }
    pthread_cond_broadcast(&s->sync_cv);
  }
  int rc = g->done >= my ? 0 : s->sync_err;
  pthread_mutex_unlock(&s->sync_mu);
  return rc;
}

/* Writes header + data to fd and makes them durable (fdatasync). 0 or DFS_E*.
 * (Starting writeback early with sync_file_range in 256 KiB steps was measured: no
 * gain, since the fdatasync follows the copy at once.) */
static int write_durable(int fd, const uint8_t *hdr, const uint8_t *data, uint32_t length) {
  struct iovec iov[2] = {{(void *)hdr, CHUNK_HDR_SIZE}, {(void *)data, length}};
  int rc = writev_all(fd, iov, length ? 2 : 1);
  if (!rc && fdatasync(fd) < 0) rc = dfs_from_errno(errno);
  return rc;
}

/* The checks before a write: 1 if the same chunk is already stored (a retry), 0 to go
 * on, or DFS_EBUSY / DFS_EEXIST / DFS_ESTALE / DFS_ENOSPACE (logged). */
static int write_checks(chunk_store *s, uint64_t id, uint64_t version, uint32_t length,
                        uint32_t crc) {
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  int rc = 0;
  if (e && e->info.version == version && e->deleting)
    rc = DFS_EBUSY; /* not "already stored": the delete metad ordered is about to run */
  else if (e && e->info.version == version)
    rc = e->info.crc == crc ? 1 : DFS_EEXIST;
  else if (e && e->info.version > version)
    rc = DFS_ESTALE;
  else if (s->capacity && s->used_bytes + CHUNK_HDR_SIZE + length + s->reserve > s->capacity)
    rc = DFS_ENOSPACE;
  uint64_t used = s->used_bytes, reserve = s->reserve;
  pthread_mutex_unlock(&s->mu);
  if (rc) return rc;
  struct statvfs vfs;
  if (statvfs(s->dir, &vfs) == 0 &&
      (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)CHUNK_HDR_SIZE + length + reserve)
    rc = DFS_ENOSPACE;
  if (rc == DFS_ENOSPACE)
    LOG_WARN("refusing chunk %016" PRIx64 ".%" PRIu64 " (%u bytes): this chunkserver is full "
             "(%" PRIu64 " bytes used, data.reserve %" PRIu64 " bytes must stay free)",
             id, version, length, used, reserve);
  return rc;
}

int chunk_store_packs(const chunk_store *s, uint32_t length) { return length <= s->pack_max; }

/* Appends the record of a checked packed write (fault hooks apply); *t filled.
 * may_open: see volumes_append_nowait (VOL_NEED_OPEN is returned as is, not logged). */
static int append_packed(chunk_store *s, uint64_t id, uint64_t version, const uint8_t *data,
                         uint32_t length, uint32_t crc, int may_open, chunk_pack_ticket *t) {
  int rc;
  memset(t, 0, sizeof *t);
  t->id = id;
  t->version = version;
  t->length = length;
  t->crc = crc;
  t->mtime_s = (int64_t)time(NULL);
  vol_loc loc = {0, 0};
  if (DFS_FAULT_HIT(DFS_FAULT_DISK_WRITE_EIO))
    rc = DFS_EIO;
  else if (DFS_FAULT_HIT(DFS_FAULT_DISK_WRITE_ENOSPC))
    rc = DFS_ENOSPACE;
  else
    rc = volumes_append_nowait(s->vols, id, version, t->mtime_s, data, length, crc, may_open,
                               &loc, &t->gen);
  if (rc == VOL_NEED_OPEN) return rc;
  t->vol = loc.vol;
  t->off = loc.off;
  if (rc) {
    LOG_WARN("write of chunk %016" PRIx64 ".%" PRIu64 " to a volume of %s failed: %s", id,
             version, s->dir, dfs_strerror(rc));
    if (rc == DFS_EIO) io_error(s, "a chunk write");
  }
  return rc;
}

int chunk_store_pack_append(chunk_store *s, uint64_t id, uint64_t version, const uint8_t *data,
                            uint32_t length, uint32_t crc, chunk_pack_ticket *t) {
  memset(t, 0, sizeof *t);
  if (length > s->pack_max || version == 0) return DFS_EINVAL;
  int rc = write_checks(s, id, version, length, crc);
  if (rc == 1) {
    t->done = 1; /* a retry of a write already done */
    return 0;
  }
  if (rc) return rc;
  rc = append_packed(s, id, version, data, length, crc, 0, t);
  if (rc == VOL_NEED_OPEN) { /* opening a volume fsyncs a directory: not here */
    memset(t, 0, sizeof *t);
    t->blocking = 1;
    return 0;
  }
  return rc;
}

int chunk_store_pack_sync(chunk_store *s, uint64_t *durable) {
  return volumes_sync(s->vols, durable);
}

int chunk_store_pack_commit(chunk_store *s, const chunk_pack_ticket *t, int sync_rc) {
  if (t->done) return 0;
  vol_loc loc = {t->vol, t->off};
  uint64_t id = t->id, version = t->version;
  uint32_t length = t->length;
  int rc = sync_rc;
  if (rc) {
    volumes_dead(s->vols, loc, length); /* written, never durable */
    LOG_WARN("write of chunk %016" PRIx64 ".%" PRIu64 " to a volume of %s failed: %s", id,
             version, s->dir, dfs_strerror(rc));
    if (rc == DFS_EIO) io_error(s, "a chunk write");
    return rc;
  }
  chunk_info ci = {
      .id = id, .version = version, .length = length, .crc = t->crc, .mtime_s = t->mtime_s};
  struct entry old;
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  if (e && e->info.version > version) { /* a newer one came meanwhile: ours is garbage */
    pthread_mutex_unlock(&s->mu);
    volumes_dead(s->vols, loc, length);
    volumes_append_delete(s->vols, id, version, loc.vol);
    return DFS_ESTALE;
  }
  rc = idx_put(s, &ci, loc, &old);
  if (rc == 0) fresh_add(s, &ci);
  pthread_mutex_unlock(&s->mu);
  if (rc) {
    volumes_dead(s->vols, loc, length);
    volumes_append_delete(s->vols, id, version, loc.vol);
    return rc;
  }
  if (old.info.version) drop_stored(s, &old, 0); /* the version it replaces (or a twin) */
  return 0;
}

/* chunk_store_write for a chunk of at most pack_max bytes (checks done): one record
 * appended to the active volume, durable after a shared fdatasync, then indexed. */
static int write_packed(chunk_store *s, uint64_t id, uint64_t version, const uint8_t *data,
                        uint32_t length, uint32_t crc) {
  chunk_pack_ticket t;
  int rc = append_packed(s, id, version, data, length, crc, 1, &t);
  return rc ? rc : chunk_store_pack_commit(s, &t, volumes_wait(s->vols, t.gen));
}

int chunk_store_write(chunk_store *s, uint64_t id, uint64_t version, const uint8_t *data,
                      uint32_t length, uint32_t crc, const uint32_t *block_crcs) {
  char tmp[PATH_SZ], final[PATH_SZ];
  int fd = -1, rc, tmp_made = 0;
  if (length > DFS_CHUNK_SIZE || version == 0) return DFS_EINVAL;
  if ((rc = write_checks(s, id, version, length, crc))) return rc == 1 ? 0 : rc;
  if (length <= s->pack_max) return write_packed(s, id, version, data, length, crc);

  if ((rc = chunk_store_path(s, id, version, final, sizeof final))) return rc;
  if (snprintf(tmp, sizeof tmp, "%s/tmp/%016" PRIx64 ".%" PRIu64 ".%016" PRIx64, s->dir, id,
               version, dfs_random_u64()) >= (int)sizeof tmp)
    return DFS_ETOOBIG;

  chunk_hdr h = {.id = id, .version = version, .length = length, .crc = crc};
  memcpy(h.block_crcs, block_crcs, nblocks(length) * sizeof(uint32_t));
  uint8_t hdr[CHUNK_HDR_SIZE];
  hdr_encode(&h, hdr);

  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = dfs_from_errno(errno);
    goto err;
  }
  tmp_made = 1;
  if (DFS_FAULT_HIT(DFS_FAULT_DISK_WRITE_EIO))
    rc = DFS_EIO;
  else if (DFS_FAULT_HIT(DFS_FAULT_DISK_WRITE_ENOSPC))
    rc = DFS_ENOSPACE;
  else
    rc = write_durable(fd, hdr, data, length);
  if (rc) goto err;
  close(fd);
  fd = -1;
  if (rename(tmp, final) < 0) {
    rc = dfs_from_errno(errno);
    goto err;
  }
  tmp_made = 0;
  if ((rc = dir_sync(s, (unsigned)(id & 0xff)))) goto err;

  chunk_info ci = {
      .id = id, .version = version, .length = length, .crc = crc, .mtime_s = (int64_t)time(NULL)};
  struct entry old;
  pthread_mutex_lock(&s->mu);
  rc = idx_put(s, &ci, (vol_loc){0, 0}, &old);
  if (rc == 0) fresh_add(s, &ci);
  pthread_mutex_unlock(&s->mu);
  if (rc) goto err;
  if (old.info.version && (old.info.version != version || old.loc.vol))
    drop_stored(s, &old, 0); /* the replaced older version */
  return 0;
err:
  if (fd >= 0) close(fd);
  if (tmp_made) unlink(tmp);
  if (rc == DFS_ENOSPACE)
    LOG_WARN("write of chunk %016" PRIx64 ".%" PRIu64 " failed: the file system of %s is full "
             "(ENOSPC); temp file removed",
             id, version, s->dir);
  else
    LOG_WARN("write of chunk %016" PRIx64 ".%" PRIu64 " failed: %s", id, version,
             dfs_strerror(rc));
  if (rc == DFS_EIO) io_error(s, "a chunk write");
  return rc;
}

/* ---- read ----------------------------------------------------------------------- */

void chunk_buf_release(chunk_buf *buf) {
  if (!buf->mem) return;
  if (buf->map_len)
    munmap(buf->mem, buf->map_len);
  else
    free(buf->mem);
  buf->mem = NULL;
  buf->map_len = 0;
}

/* Makes bytes [off, off+len) of fd (off page-aligned, len > 0, inside the file)
 * available in *buf: mapped, or read into a heap block if mapping fails. 0 or DFS_E*. */
static int load_range(int fd, off_t off, size_t len, chunk_buf *buf) {
  void *m = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, off);
  if (m != MAP_FAILED) {
    buf->mem = m;
    buf->map_len = len;
    return 0;
  }
  uint8_t *h = malloc(len);
  if (!h) return DFS_ENOMEM;
  int rc = pread_all(fd, h, len, off);
  if (rc) {
    free(h);
    return rc;
  }
  buf->mem = h;
  buf->map_len = 0;
  return 0;
}

/* SIGBUS from a mapped chunk (a file truncated behind our back, or a disk read error
 * while the page is faulted in) must fail that read, not kill chunkd: the thread that
 * touches a mapping arms bus_jmp, and the handler jumps back to it. A SIGBUS anywhere
 * else gets the previous disposition (by default: the process dies, as before). */
static __thread sigjmp_buf *bus_jmp;
static struct sigaction bus_old;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)si, (void)uc;
  if (bus_jmp) siglongjmp(*bus_jmp, 1);
  sigaction(SIGBUS, &bus_old, NULL); /* the fault repeats with the old handler */
}

static void bus_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &bus_old);
}

/* Checks the CRC of every block in [start, end) of the chunk (p holds those bytes).
 * 0, DFS_ECHECKSUM, or DFS_EIO if p is a mapping and touching it faulted. */
static int check_blocks(const uint8_t *p, uint32_t start, uint32_t end, const uint32_t *crcs,
                        int mapped) {
  sigjmp_buf jb;
  if (mapped) {
    pthread_once(&bus_once, bus_install);
    if (sigsetjmp(jb, 1)) {
      bus_jmp = NULL;
      return DFS_EIO;
    }
    bus_jmp = &jb;
  }
  int rc = 0;
  for (uint32_t b = start; b < end && !rc; b += DFS_BLOCK_SIZE) {
    uint32_t n = end - b < DFS_BLOCK_SIZE ? end - b : DFS_BLOCK_SIZE;
    if (dfs_crc32c(0, p + (b - start), n) != crcs[b / DFS_BLOCK_SIZE]) rc = DFS_ECHECKSUM;
  }
  bus_jmp = NULL;
  return rc;
}

/* Fault hook: replaces buf (len bytes, mapped or not) by a heap copy with one bit
 * flipped, as if the disk returned a bad block. 0 or DFS_ENOMEM. */
static int fault_corrupt(chunk_buf *buf, size_t len) {
  uint8_t *h = malloc(len);
  if (!h) return DFS_ENOMEM;
  memcpy(h, buf->mem, len);
  chunk_buf_release(buf);
  h[len / 2] ^= 0x10;
  buf->mem = h;
  buf->map_len = 0;
  LOG_WARN("fault hook: flipped a bit in a block read from disk");
  return 0;
}

/* The index entry of id: 0 with *ci and *loc, or DFS_ENOCHUNK. */
static int lookup_loc(chunk_store *s, uint64_t id, chunk_info *ci, vol_loc *loc) {
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  if (e) {
    *ci = e->info;
    *loc = e->loc;
  }
  pthread_mutex_unlock(&s->mu);
  return e ? 0 : DFS_ENOCHUNK;
}

/* chunk_store_read of a packed chunk (ci, at loc; the range already checked): the whole
 * record is read into a heap block and its one block's CRC checked. */
static int read_packed(chunk_store *s, const chunk_info *ci, vol_loc loc, uint32_t offset,
                       uint32_t length, chunk_buf *buf, const uint8_t **data,
                       uint32_t *out_len, uint32_t *crc) {
  const char *why = NULL;
  uint8_t *rec = NULL;
  int rc;
  for (int tries = 0;; tries++) {
    if (DFS_FAULT_HIT(DFS_FAULT_DISK_READ_EIO)) {
      rc = DFS_EIO;
      break;
    }
    rc = volumes_read(s->vols, loc, ci->id, ci->version, ci->length, &rec, &why);
    if (rc != DFS_ENOCHUNK || tries) break;
    /* the volume was compacted away meanwhile: the index has the record's new place */
    chunk_info now;
    if (lookup_loc(s, ci->id, &now, &loc) || now.version != ci->version || !loc.vol) break;
  }
  if (rc == 0 && DFS_FAULT_HIT(DFS_FAULT_CORRUPT_READ) && ci->length) {
    rec[VOL_REC_HDR + ci->length / 2] ^= 0x10;
    LOG_WARN("fault hook: flipped a bit in a block read from disk");
  }
  if (rc == 0 && dfs_crc32c(0, rec + VOL_REC_HDR, ci->length) != ci->crc) {
    why = "block CRC mismatch";
    rc = DFS_ECHECKSUM;
  }
  if (rc) {
    free(rec);
    if (rc == DFS_ECHECKSUM) {
      LOG_ERROR("chunk %016" PRIx64 ".%" PRIu64 " (volume %08" PRIx32 " offset %" PRIu64
                ") is corrupt: %s",
                ci->id, ci->version, loc.vol, loc.off, why ? why : "?");
      chunk_store_quarantine(s, ci->id, ci->version);
    }
    if (rc == DFS_EIO) io_error(s, "a chunk read");
    return rc;
  }
  buf->mem = rec;
  buf->map_len = 0;
  *data = rec + VOL_REC_HDR + offset;
  *out_len = length;
  if (crc) *crc = offset == 0 && length == ci->length ? ci->crc : dfs_crc32c(0, *data, length);
  return 0;
}

int chunk_store_read(chunk_store *s, uint64_t id, uint64_t version, uint32_t offset,
                     uint32_t length, chunk_buf *buf, const uint8_t **data, uint32_t *out_len,
                     uint32_t *crc) {
  static const uint8_t empty[1];
  char path[PATH_SZ];
  uint8_t hdrbuf[CHUNK_HDR_SIZE];
  int fd = -1, rc;
  chunk_info ci;
  const char *why = NULL;
  struct stat st;

  vol_loc loc;
  buf->mem = NULL;
  buf->map_len = 0;
  if ((rc = lookup_loc(s, id, &ci, &loc))) return rc;
  if (ci.version < version) return DFS_ESTALE;
  if (ci.version != version) return DFS_ENOCHUNK;
  if (offset > ci.length) return DFS_EINVAL;
  if (length == 0) length = ci.length - offset;
  if (length > ci.length - offset) return DFS_EINVAL;
  if (loc.vol) return read_packed(s, &ci, loc, offset, length, buf, data, out_len, crc);

  if ((rc = chunk_store_path(s, id, version, path, sizeof path))) return rc;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = errno == ENOENT ? DFS_ENOCHUNK : dfs_from_errno(errno);
    if (rc == DFS_ENOCHUNK) { /* deleted meanwhile, or lost: then report it */
      pthread_mutex_lock(&s->mu);
      struct entry *e = idx_find(s, id);
      int lost = e && e->info.version == version && idx_remove(s, id, NULL) == 0;
      if (lost) bad_add(s, id, version);
      pthread_mutex_unlock(&s->mu);
      if (lost) LOG_ERROR("chunk file %s is missing: reporting the replica as lost", path);
    }
    goto err;
  }
  chunk_hdr h;
  if (DFS_FAULT_HIT(DFS_FAULT_DISK_READ_EIO)) {
    rc = DFS_EIO; /* as if the disk failed the header read */
    goto err;
  }
  if ((rc = pread_all(fd, hdrbuf, CHUNK_HDR_SIZE, 0))) {
    why = "short header";
    goto err;
  }
  if ((rc = hdr_decode(hdrbuf, &h, &why))) goto err;
  if (h.id != id || h.version != version || h.length != ci.length || h.crc != ci.crc) {
    why = "header does not match the index";
    rc = DFS_ECHECKSUM;
    goto err;
  }
  uint32_t first = offset / DFS_BLOCK_SIZE, start = first * DFS_BLOCK_SIZE, end = start;
  if (length) {
    uint32_t last = (offset + length - 1) / DFS_BLOCK_SIZE;
    end = (last + 1) * DFS_BLOCK_SIZE;
    if (end > ci.length) end = ci.length;
  }
  /* The size check also keeps the mapping below within the file. */
  if (fstat(fd, &st) < 0) {
    rc = dfs_from_errno(errno);
    goto err;
  }
  if ((uint64_t)st.st_size < CHUNK_HDR_SIZE + (uint64_t)end) {
    why = "file shorter than its header says";
    rc = DFS_ECHECKSUM;
    goto err;
  }
  const uint8_t *p = empty;
  if (end > start) { /* CHUNK_HDR_SIZE and start are multiples of the page size */
    if ((rc = load_range(fd, CHUNK_HDR_SIZE + (off_t)start, end - start, buf))) {
      if (rc == DFS_ECHECKSUM) why = "file shorter than its header says";
      goto err;
    }
    p = buf->mem;
    if (DFS_FAULT_HIT(DFS_FAULT_CORRUPT_READ) && (rc = fault_corrupt(buf, end - start))) goto err;
    p = buf->mem;
  }
  rc = check_blocks(p, start, end, h.block_crcs, buf->map_len != 0);
  if (rc == DFS_ECHECKSUM) {
    why = "block CRC mismatch";
    goto err;
  }
  if (rc) { /* the mapping faulted: truncated under us, or a read error */
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < CHUNK_HDR_SIZE + (uint64_t)end) {
      why = "file truncated while being read";
      rc = DFS_ECHECKSUM;
    }
    goto err;
  }
  close(fd);
  *data = length ? p + (offset - start) : p;
  *out_len = length;
  if (crc) {
    if (offset == start && offset + length == end) /* block-aligned: no second pass */
      *crc = dfs_crc32c_from_blocks(h.block_crcs + first, length);
    else
      *crc = dfs_crc32c(0, *data, length);
  }
  return 0;
err:
  if (fd >= 0) close(fd);
  chunk_buf_release(buf);
  if (rc == DFS_ECHECKSUM) {
    LOG_ERROR("chunk %s is corrupt: %s", path, why ? why : "?");
    chunk_store_quarantine(s, id, version);
  }
  if (rc == DFS_EIO) io_error(s, "a chunk read");
  return rc;
}

int chunk_store_verify(chunk_store *s, uint64_t id, uint64_t *bytes) {
  chunk_info ci;
  int rc = chunk_store_lookup(s, id, &ci);
  if (rc) return rc;
  chunk_buf buf;
  const uint8_t *data;
  uint32_t n, crc = 0;
  char path[PATH_SZ];
  struct stat st;
  vol_loc loc;
  if (lookup_loc(s, id, &ci, &loc) == 0 && !loc.vol &&
      chunk_store_path(s, id, ci.version, path, sizeof path) == 0 && stat(path, &st) == 0 &&
      (uint64_t)st.st_size != CHUNK_HDR_SIZE + (uint64_t)ci.length) {
    LOG_ERROR("chunk %s is corrupt: %lld bytes, expected %u", path, (long long)st.st_size,
              CHUNK_HDR_SIZE + ci.length);
    chunk_store_quarantine(s, id, ci.version);
    return DFS_ECHECKSUM;
  }
  /* Every block CRC is checked by the read; the whole CRC then follows from them. */
  rc = chunk_store_read(s, id, ci.version, 0, 0, &buf, &data, &n, &crc);
  *bytes += CHUNK_HDR_SIZE + (rc == 0 ? n : 0);
  if (rc == 0 && crc != ci.crc) {
    LOG_ERROR("chunk %016" PRIx64 ".%" PRIu64 " is corrupt: whole-chunk CRC mismatch", id,
              ci.version);
    chunk_store_quarantine(s, id, ci.version);
    rc = DFS_ECHECKSUM;
  }
  chunk_buf_release(&buf);
  return rc;
}

/* ---- quarantine: corrupt/ --------------------------------------------------------- */

typedef struct {
  char name[NAME_MAX + 1];
  int64_t when_ns; /* ctime: when it was moved in (rename updates it) */
  uint64_t bytes;
} qfile;

static int qfile_older(const void *a, const void *b) {
  const qfile *x = a, *y = b;
  return x->when_ns < y->when_ns ? -1 : x->when_ns > y->when_ns;
}

/* Lists corrupt/ into *out (caller frees); returns the count and *total bytes. */
static size_t quarantine_list(chunk_store *s, qfile **out, uint64_t *total) {
  char path[PATH_SZ];
  *out = NULL;
  *total = 0;
  snprintf(path, sizeof path, "%s/corrupt", s->dir);
  DIR *d = opendir(path);
  if (!d) return 0;
  qfile *v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    struct stat st;
    if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) || !S_ISREG(st.st_mode))
      continue;
    qfile *nv = dfs_grow(v, &cap, n + 1, sizeof *nv, 64);
    if (!nv) break;
    v = nv;
    snprintf(v[n].name, sizeof v[n].name, "%s", de->d_name);
    v[n].when_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    v[n].bytes = (uint64_t)st.st_size;
    *total += v[n].bytes;
    n++;
  }
  closedir(d);
  *out = v;
  return n;
}

/* A file of `bytes` went into corrupt/: over quarantine_max, the oldest files go (the
 * quarantine is for the operator's post-mortem; unbounded, a disk that keeps corrupting
 * would fill with it and its server would turn every chunk away). Thread pool. */
static void quarantine_added(chunk_store *s, uint64_t bytes) {
  pthread_mutex_lock(&s->mu);
  s->quarantine_bytes += bytes;
  int trim = s->quarantine_bytes > s->quarantine_max && !s->quarantine_trimming;
  if (trim) s->quarantine_trimming = 1;
  uint64_t max = s->quarantine_max;
  pthread_mutex_unlock(&s->mu);
  if (!trim) return;
  qfile *v;
  uint64_t total;
  size_t n = quarantine_list(s, &v, &total);
  qsort(v, n, sizeof *v, qfile_older);
  char path[PATH_SZ];
  size_t gone = 0;
  for (size_t i = 0; i < n && total > max; i++) {
    snprintf(path, sizeof path, "%s/corrupt/%s", s->dir, v[i].name);
    if (unlink(path) == 0) {
      total -= v[i].bytes;
      gone++;
    }
  }
  free(v);
  if (gone)
    LOG_INFO("deleted the %zu oldest file(s) of %s/corrupt: it may hold %" PRIu64
             " bytes (data.quarantine_max)", gone, s->dir, max);
  pthread_mutex_lock(&s->mu);
  s->quarantine_bytes = total;
  s->quarantine_trimming = 0;
  pthread_mutex_unlock(&s->mu);
}

void chunk_store_set_quarantine_max(chunk_store *s, uint64_t max_bytes) {
  pthread_mutex_lock(&s->mu);
  s->quarantine_max = max_bytes;
  pthread_mutex_unlock(&s->mu);
  quarantine_added(s, 0);
}

uint64_t chunk_store_quarantine_bytes(chunk_store *s) {
  pthread_mutex_lock(&s->mu);
  uint64_t b = s->quarantine_bytes;
  pthread_mutex_unlock(&s->mu);
  return b;
}

int chunk_store_quarantine(chunk_store *s, uint64_t id, uint64_t version) {
  char path[PATH_SZ], dst[PATH_SZ];
  struct entry gone;
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  int rc = e && e->info.version == version ? idx_remove(s, id, &gone) : DFS_ENOCHUNK;
  if (rc == 0) bad_add(s, id, version);
  pthread_mutex_unlock(&s->mu);
  if (rc) return rc;
  if (gone.loc.vol) { /* the record stays in its volume (dead) until compaction */
    drop_stored(s, &gone, 1);
    LOG_WARN("chunk %016" PRIx64 ".%" PRIu64 " quarantined (its record in volume %08" PRIx32
             " is dead from now on)",
             id, version, gone.loc.vol);
    return 0;
  }
  if (chunk_store_path(s, id, version, path, sizeof path)) return 0;
  snprintf(dst, sizeof dst, "%s/corrupt/%016" PRIx64 ".%" PRIu64 ".%lld", s->dir, id, version,
           (long long)time(NULL));
  struct stat st;
  if (rename(path, dst) == 0) {
    LOG_WARN("chunk %016" PRIx64 ".%" PRIu64 " quarantined in %s", id, version, dst);
    if (stat(dst, &st) == 0) quarantine_added(s, (uint64_t)st.st_size);
  } else if (unlink(path) == 0 || errno == ENOENT) {
    LOG_WARN("chunk %016" PRIx64 ".%" PRIu64 " deleted (corrupt)", id, version);
  }
  return 0;
}

/* ---- delete, lookup, lists ------------------------------------------------------ */

int chunk_store_delete(chunk_store *s, uint64_t id) {
  struct entry gone;
  pthread_mutex_lock(&s->mu);
  int rc = idx_remove(s, id, &gone);
  pthread_mutex_unlock(&s->mu);
  if (rc) return rc;
  drop_stored(s, &gone, 1);
  return 0;
}

int chunk_store_delete_version(chunk_store *s, uint64_t id, uint64_t version) {
  struct entry gone;
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  int rc = e && e->info.version == version ? idx_remove(s, id, &gone) : DFS_ENOCHUNK;
  pthread_mutex_unlock(&s->mu);
  if (rc) return rc;
  drop_stored(s, &gone, 1);
  return 0;
}

int chunk_store_mark_fresh(chunk_store *s, uint64_t id) {
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  if (e) fresh_add(s, &e->info);
  pthread_mutex_unlock(&s->mu);
  return e ? 0 : DFS_ENOCHUNK;
}

int chunk_store_take_bad(chunk_store *s, chunk_ref **out, size_t *n) {
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  *out = NULL;
  *n = 0;
  if (s->nbad) {
    chunk_ref *a = malloc(s->nbad * sizeof *a);
    if (!a) {
      rc = DFS_ENOMEM;
    } else {
      memcpy(a, s->bad, s->nbad * sizeof *a);
      *out = a;
      *n = s->nbad;
      s->nbad = 0;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

void chunk_store_set_limits(chunk_store *s, int64_t reserve, uint64_t max_io_errors) {
  uint64_t cap = s->capacity;
  struct statvfs v;
  if (!cap && statvfs(s->dir, &v) == 0) cap = (uint64_t)v.f_blocks * v.f_frsize;
  uint64_t r = (uint64_t)reserve;
  if (reserve < 0) {
    r = cap / 100;
    if (r < (64u << 20) && (uint64_t)(64u << 20) <= cap / 10) r = 64u << 20;
  }
  pthread_mutex_lock(&s->mu);
  s->reserve = r;
  s->max_io_errors = max_io_errors;
  pthread_mutex_unlock(&s->mu);
}

uint64_t chunk_store_reserve(const chunk_store *s) { return s->reserve; }

void chunk_store_set_pack_max(chunk_store *s, uint32_t max_bytes) {
  s->pack_max = max_bytes > DFS_BLOCK_SIZE ? DFS_BLOCK_SIZE : max_bytes;
}

/* ---- compaction of volumes ---------------------------------------------------------- */

/* volumes_compact's callbacks: a record is live if the index still points at it; once
 * its copy is durable the entry moves there, unless it was deleted or replaced
 * meanwhile (the copy is then dead, and a delete record keeps it from coming back). */
static int compact_is_live(void *arg, const vol_rec *r, vol_loc old, const uint8_t *data) {
  chunk_store *s = arg;
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, r->id);
  int live = e && e->info.version == r->version && e->loc.vol == old.vol && e->loc.off == old.off;
  pthread_mutex_unlock(&s->mu);
  if (live && dfs_crc32c(0, data, r->length) != r->crc) {
    LOG_ERROR("chunk %016" PRIx64 ".%" PRIu64 " (volume %08" PRIx32 " offset %" PRIu64
              ") is corrupt: block CRC mismatch found by compaction",
              r->id, r->version, old.vol, old.off);
    chunk_store_quarantine(s, r->id, r->version);
    return 0;
  }
  return live;
}

static void compact_moved(void *arg, const vol_rec *r, vol_loc old, vol_loc now) {
  chunk_store *s = arg;
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, r->id);
  int still = e && e->info.version == r->version && e->loc.vol == old.vol && e->loc.off == old.off;
  if (still) e->loc = now;
  pthread_mutex_unlock(&s->mu);
  if (still) /* the old record is dead now (matters if the compaction stops half way) */
    volumes_dead(s->vols, old, r->length);
  if (!still) {
    volumes_dead(s->vols, now, r->length);
    volumes_append_delete(s->vols, r->id, r->version, now.vol);
  }
}

/* After vol, which had unreadable stretches, was compacted and deleted: an entry still
 * pointing into it had a record the walk could not read (its header damaged, or a stretch of the file that is no record),
 * so it was never copied and is lost here. It leaves the index and is reported bad, so
 * that metad copies it from another replica (invariant 1: no entry without its record).
 * Returns how many. */
static size_t drop_lost_records(chunk_store *s, uint32_t vol) {
  size_t n = 0;
  pthread_mutex_lock(&s->mu);
  for (size_t b = 0; b < s->nbuckets; b++) {
    struct entry **pp = &s->buckets[b];
    while (*pp) {
      struct entry *e = *pp;
      if (e->loc.vol != vol) {
        pp = &e->next;
        continue;
      }
      LOG_ERROR("chunk %016" PRIx64 ".%" PRIu64 " (volume %08" PRIx32 " offset %" PRIu64
                ") is lost: its record could not be read when the volume was compacted; "
                "reporting the replica as lost",
                e->info.id, e->info.version, vol, e->loc.off);
      bad_add(s, e->info.id, e->info.version);
      *pp = e->next;
      s->count--;
      s->used_bytes -= entry_bytes(&e->info, e->loc);
      free(e);
      n++;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return n;
}

int chunk_store_compact(chunk_store *s, uint64_t *moved_bytes) {
  uint32_t vol;
  volumes_pick_compaction(s->vols, &vol);
  if (!vol) return 0;
  uint64_t before = *moved_bytes;
  uint64_t unreadable = 0;
  int rc = volumes_compact(s->vols, vol, compact_is_live, compact_moved, s, moved_bytes,
                           &unreadable);
  if (rc) {
    LOG_WARN("compaction of volume %08" PRIx32 " in %s stopped: %s", vol, s->dir,
             dfs_strerror(rc));
    return rc;
  }
  /* only a volume with damage can leave entries behind: the index walk (under mu, which
   * the loop thread needs) is not paid for a clean one */
  size_t lost = unreadable ? drop_lost_records(s, vol) : 0;
  LOG_INFO("compacted volume %08" PRIx32 " in %s: %" PRIu64 " live bytes copied, the file "
           "deleted%s",
           vol, s->dir, *moved_bytes - before, lost ? " (unreadable records reported lost)" : "");
  return 1;
}

int chunk_store_lookup(chunk_store *s, uint64_t id, chunk_info *out) {
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  if (e) *out = e->info;
  pthread_mutex_unlock(&s->mu);
  return e ? 0 : DFS_ENOCHUNK;
}

int chunk_store_lookup_kept(chunk_store *s, uint64_t id, chunk_info *out) {
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  int rc = !e ? DFS_ENOCHUNK : e->deleting ? DFS_EBUSY : 0;
  if (e) *out = e->info;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int chunk_store_delete_ordered(chunk_store *s, uint64_t id, uint64_t version, int on) {
  pthread_mutex_lock(&s->mu);
  struct entry *e = idx_find(s, id);
  int hit = e && (version == 0 || e->info.version == version);
  if (hit) e->deleting = on != 0;
  pthread_mutex_unlock(&s->mu);
  return hit;
}

int chunk_store_snapshot(chunk_store *s, chunk_info **out, size_t *n) {
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  *out = NULL;
  *n = 0;
  if (s->count) {
    chunk_info *a = malloc(s->count * sizeof *a);
    if (!a) {
      rc = DFS_ENOMEM;
      goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->nbuckets; i++)
      for (struct entry *e = s->buckets[i]; e; e = e->next)
        if (!e->deleting) a[k++] = e->info; /* on its way out: not reported */
    *out = a;
    *n = k;
  }
  s->nfresh = 0;
out:
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int chunk_store_list_ids(chunk_store *s, uint64_t **out, size_t *n) {
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  *out = NULL;
  *n = 0;
  if (s->count) {
    uint64_t *a = malloc(s->count * sizeof *a);
    if (!a) {
      rc = DFS_ENOMEM;
    } else {
      size_t k = 0;
      for (size_t i = 0; i < s->nbuckets; i++)
        for (struct entry *e = s->buckets[i]; e; e = e->next) a[k++] = e->info.id;
      *out = a;
      *n = k;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int chunk_store_take_new(chunk_store *s, chunk_info **out, size_t *n) {
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  *out = NULL;
  *n = 0;
  if (s->nfresh) {
    chunk_info *a = malloc(s->nfresh * sizeof *a);
    if (!a) {
      rc = DFS_ENOMEM;
      goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->nfresh; i++) {
      struct entry *e = idx_find(s, s->fresh[i].id); /* skip deleted or replaced ones */
      if (e && e->info.version == s->fresh[i].version && !e->deleting) a[k++] = s->fresh[i];
    }
    s->nfresh = 0;
    if (k == 0)
      free(a);
    else {
      *out = a;
      *n = k;
    }
  }
out:
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int chunk_store_stats_get(chunk_store *s, chunk_store_stats *out) {
  struct statvfs v;
  if (statvfs(s->dir, &v) < 0) return dfs_from_errno(errno);
  uint64_t fs_size = (uint64_t)v.f_blocks * v.f_frsize;
  uint64_t fs_free = (uint64_t)v.f_bavail * v.f_frsize;
  pthread_mutex_lock(&s->mu);
  out->used_bytes = s->used_bytes;
  out->chunk_count = s->count;
  out->reserve_bytes = s->reserve;
  out->io_errors = s->io_errors;
  out->disk_failing = s->failing;
  pthread_mutex_unlock(&s->mu);
  if (s->capacity) {
    out->capacity_bytes = s->capacity;
    uint64_t left = s->capacity > out->used_bytes ? s->capacity - out->used_bytes : 0;
    out->free_bytes = left < fs_free ? left : fs_free;
  } else {
    out->capacity_bytes = fs_size;
    out->free_bytes = fs_free;
  }
  return 0;
}

const char *chunk_store_uuid(const chunk_store *s) { return s->uuid; }

/* ---- open: lock, uuid, scan ----------------------------------------------------- */

static int valid_uuid(const char *u) {
  for (int i = 0; i < CHUNK_UUID_LEN; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !strchr("0123456789abcdef", u[i]) || !u[i]) return 0;
  }
  return u[CHUNK_UUID_LEN] == '\0';
}

static int load_uuid(chunk_store *s, char *err, size_t errsz) {
  char path[PATH_SZ], tmp[PATH_SZ], buf[64];
  snprintf(path, sizeof path, "%s/server.uuid", s->dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) n = 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!valid_uuid(buf)) {
      snprintf(err, errsz, "%s is not a valid server uuid file (fix or remove it)", path);
      return DFS_ECONFIG;
    }
    memcpy(s->uuid, buf, sizeof s->uuid);
    return 0;
  }
  if (errno != ENOENT) {
    snprintf(err, errsz, "cannot read %s: %s", path, strerror(errno));
    return DFS_EIO;
  }
  uint8_t r[16];
  if (dfs_random_bytes(r, sizeof r)) {
    snprintf(err, errsz, "no random bytes for the server uuid");
    return DFS_EIO;
  }
  r[6] = (r[6] & 0x0f) | 0x40; /* version 4 */
  r[8] = (r[8] & 0x3f) | 0x80; /* variant 1 */
  snprintf(s->uuid, sizeof s->uuid,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
           r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
  snprintf(tmp, sizeof tmp, "%s/server.uuid.tmp", s->dir);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int n = snprintf(buf, sizeof buf, "%s\n", s->uuid);
  if (fd < 0 || write(fd, buf, (size_t)n) != n || fsync(fd) < 0 || close(fd) < 0 ||
      (fd = -1, rename(tmp, path) < 0) || fsync_path(s->dir)) {
    snprintf(err, errsz, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return DFS_EIO;
  }
  LOG_INFO("new server uuid %s in %s", s->uuid, path);
  return 0;
}

/* Deletes every file in dir/tmp (partial writes of a previous run). */
static void clean_tmp(chunk_store *s) {
  char path[PATH_SZ];
  snprintf(path, sizeof path, "%s/tmp", s->dir);
  DIR *d = opendir(path);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (unlinkat(dirfd(d), de->d_name, 0) == 0)
      LOG_INFO("removed leftover temp file tmp/%s", de->d_name);
  }
  closedir(d);
}

/* Parses "<16 hex>.<decimal>"; 0 on success. */
static int parse_name(const char *name, uint64_t *id, uint64_t *version) {
  if (strlen(name) < 18 || name[16] != '.') return -1;
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    const char *p = strchr("0123456789abcdef", name[i]);
    if (!p || !name[i]) return -1;
    v = v << 4 | (uint64_t)(p - "0123456789abcdef");
  }
  *id = v;
  v = 0;
  const char *q = name + 17;
  if (!*q || strlen(q) > 19) return -1;
  for (; *q; q++) {
    if (*q < '0' || *q > '9') return -1;
    v = v * 10 + (uint64_t)(*q - '0');
  }
  if (v == 0) return -1;
  *version = v;
  return 0;
}

/* Validates one chunk file; 0 and *ci, or nonzero with a reason. */
static int scan_file(int dirfd_, const char *name, unsigned xx, chunk_info *ci, const char **why) {
  uint64_t id, version;
  if (parse_name(name, &id, &version) || (id & 0xff) != xx) {
    *why = "unexpected file name";
    return -1;
  }
  int fd = openat(dirfd_, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = "cannot open";
    return -1;
  }
  uint8_t buf[CHUNK_HDR_SIZE];
  chunk_hdr h;
  struct stat st;
  int rc = -1;
  if (fstat(fd, &st) < 0 || pread_all(fd, buf, sizeof buf, 0)) {
    *why = "short or unreadable header";
    goto out;
  }
  if (hdr_decode(buf, &h, why)) goto out;
  if (h.id != id || h.version != version) {
    *why = "header id/version differ from the file name";
    goto out;
  }
  if ((uint64_t)st.st_size != CHUNK_HDR_SIZE + (uint64_t)h.length) {
    *why = "file size differs from the header's length";
    goto out;
  }
  ci->id = id;
  ci->version = version;
  ci->length = h.length;
  ci->crc = h.crc;
  ci->mtime_s = (int64_t)st.st_mtime;
  rc = 0;
out:
  close(fd);
  return rc;
}

/* Moves a bad chunk file to corrupt/ for the operator (deletes it if that fails). */
static void discard_file(chunk_store *s, int dfd, const char *name) {
  char dst[PATH_SZ];
  snprintf(dst, sizeof dst, "%s/corrupt/%s.%lld", s->dir, name, (long long)time(NULL));
  if (renameat(dfd, name, AT_FDCWD, dst) < 0) unlinkat(dfd, name, 0);
}

/* volumes_scan's callback: a put record enters the index unless a newer version is
 * there (a newer one replaces it; an equal one, a copy made later by compaction or a
 * retry, moves the entry to the later place); a delete record removes that version. */
static int scan_record(void *arg, const vol_rec *r, vol_loc loc) {
  chunk_store *s = arg;
  char path[PATH_SZ];
  struct entry *e = idx_find(s, r->id);
  if (r->type == VOL_REC_DELETE) { /* only ever written for packed records */
    if (e && e->info.version == r->version && e->loc.vol) {
      struct entry gone;
      idx_remove(s, r->id, &gone);
      volumes_dead(s->vols, gone.loc, gone.info.length);
    }
    return 0;
  }
  /* A newer version wins; so does a chunk file of the same version (it can only have
   * been written after this record, with packing turned off meanwhile). */
  if (e && (e->info.version > r->version || (e->info.version == r->version && !e->loc.vol)))
    return 0; /* its bytes stay dead */
  chunk_info ci = {.id = r->id, .version = r->version, .length = r->length, .crc = r->crc,
                   .mtime_s = r->mtime_s};
  struct entry prev;
  if (idx_put(s, &ci, loc, &prev)) return DFS_ENOMEM;
  volumes_live(s->vols, loc, r->length);
  if (prev.info.version) {
    if (prev.loc.vol)
      volumes_dead(s->vols, prev.loc, prev.info.length);
    else if (chunk_store_path(s, r->id, prev.info.version, path, sizeof path) == 0) {
      LOG_INFO("discarding %s: a volume holds a newer copy", path);
      unlink(path);
    }
  }
  return 0;
}

static int scan(chunk_store *s) {
  char path[PATH_SZ], old[PATH_SZ];
  size_t bad = 0;
  for (unsigned xx = 0; xx < 256; xx++) {
    snprintf(path, sizeof path, "%s/chunks/%02x", s->dir, xx);
    DIR *d = opendir(path);
    if (!d) return dfs_from_errno(errno);
    struct dirent *de;
    while ((de = readdir(d))) {
      if (de->d_name[0] == '.') continue;
      chunk_info ci;
      const char *why = "?";
      if (scan_file(dirfd(d), de->d_name, xx, &ci, &why)) {
        if (strcmp(why, "unexpected file name") == 0) {
          LOG_WARN("ignoring chunks/%02x/%s: %s", xx, de->d_name, why);
        } else {
          LOG_WARN("discarding chunks/%02x/%s: %s", xx, de->d_name, why);
          discard_file(s, dirfd(d), de->d_name);
          bad++;
        }
        continue;
      }
      struct entry *e = idx_find(s, ci.id);
      if (e && e->info.version > ci.version) { /* keep the newer one already indexed */
        LOG_INFO("discarding chunks/%02x/%s: older version", xx, de->d_name);
        unlinkat(dirfd(d), de->d_name, 0);
        continue;
      }
      struct entry prev;
      if (idx_put(s, &ci, (vol_loc){0, 0}, &prev)) {
        closedir(d);
        return DFS_ENOMEM;
      }
      uint64_t oldv = prev.info.version;
      if (oldv && chunk_store_path(s, ci.id, oldv, old, sizeof old) == 0) {
        LOG_INFO("discarding %s: older version", old);
        unlink(old);
      }
    }
    closedir(d);
  }
  int rc = volumes_scan(s->vols, scan_record, s);
  if (rc) return rc;
  volumes_stats vs;
  volumes_stats_get(s->vols, &vs);
  LOG_INFO("scanned %s: %zu chunks, %" PRIu64 " bytes, %zu bad files discarded; %" PRIu32
           " volume file(s) of small chunks, %" PRIu64 " bytes (%" PRIu64 " dead)",
           s->dir, s->count, s->used_bytes, bad, vs.count, vs.bytes, vs.dead_bytes);
  return 0;
}

int chunk_store_open(const char *dir, uint64_t capacity, chunk_store **out, char *err,
                     size_t errsz) {
  char path[PATH_SZ];
  int rc;
  chunk_store *s = calloc(1, sizeof *s);
  if (!s) return DFS_ENOMEM;
  s->lock_fd = -1;
  s->capacity = capacity;
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->sync_mu, NULL);
  pthread_cond_init(&s->sync_cv, NULL);
  rc = DFS_ENOMEM;
  s->dir = strdup(dir);
  s->nbuckets = 1024;
  s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
  if (!s->dir || !s->buckets) goto err;
  if (strlen(dir) > PATH_SZ - 64) {
    rc = DFS_ETOOBIG;
    snprintf(err, errsz, "data directory path too long");
    goto err;
  }
  if ((rc = mkdir_p(dir))) {
    snprintf(err, errsz, "cannot create data directory %s: %s", dir, strerror(errno));
    goto err;
  }
  snprintf(path, sizeof path, "%s/lock", dir);
  s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
    rc = DFS_EBUSY;
    snprintf(err, errsz, "cannot lock %s: %s", path,
             errno == EWOULDBLOCK ? "another chunkd uses this data directory" : strerror(errno));
    goto err;
  }
  for (unsigned xx = 0; xx < 256; xx++) {
    snprintf(path, sizeof path, "%s/chunks/%02x", dir, xx);
    if ((rc = mkdir_p(path))) {
      snprintf(err, errsz, "cannot create %s: %s", path, strerror(errno));
      goto err;
    }
  }
  static const char *const subdirs[] = {"tmp", "corrupt"};
  for (unsigned i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]);
    if ((rc = mkdir_p(path))) {
      snprintf(err, errsz, "cannot create %s: %s", path, strerror(errno));
      goto err;
    }
  }
  clean_tmp(s);
  if ((rc = load_uuid(s, err, errsz))) goto err;
  if ((rc = volumes_open(dir, &s->vols, err, errsz))) goto err;
  if ((rc = scan(s))) {
    snprintf(err, errsz, "cannot scan %s: %s", dir, dfs_strerror(rc));
    goto err;
  }
  qfile *q;
  free((quarantine_list(s, &q, &s->quarantine_bytes), q));
  s->quarantine_max = UINT64_MAX; /* until chunk_store_set_quarantine_max */
  *out = s;
  return 0;
err:
  chunk_store_close(s);
  return rc;
}

void chunk_store_close(chunk_store *s) {
  if (!s) return;
  if (s->lock_fd >= 0) close(s->lock_fd);
  if (s->buckets) {
    for (size_t i = 0; i < s->nbuckets; i++) {
      for (struct entry *e = s->buckets[i], *n; e; e = n) {
        n = e->next;
        free(e);
      }
    }
  }
  free(s->buckets);
  volumes_close(s->vols);
  free(s->fresh);
  free(s->bad);
  free(s->dir);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->sync_mu);
  pthread_cond_destroy(&s->sync_cv);
  free(s);
}
