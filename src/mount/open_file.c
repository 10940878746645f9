/* An open file's bytes (open_file.h).
 * Invariants (under of->lock): ch[0..nch) covers size (nch = ceil(size / 1 MiB)); a
 * DIRTY chunk's buffer holds zeros beyond the end of the file; a STORING chunk's buffer
 * belongs to its job until the job ends (storing counts them); dirty_bytes counts the
 * DIRTY and STORING buffers (also in m->dirty_now); the chunk list changes shape
 * (truncate, commit, reload) only when storing is 0. */
#include "mount/open_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.pb-c.h"
#include "common/array.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/path.h"
#include "common/util.h"
#include "mount/chunk_io.h"

#define CH DFS_CHUNK_SIZE
#define PAGE_CHUNKS 256           /* GetFile page */
#define MAX_CHUNKS (1u << 20)     /* 1 TiB: the largest file the mount writes */

enum { FC_HOLE = 0, FC_REMOTE, FC_DIRTY, FC_STORING, FC_WRITTEN };

typedef struct {
  uint8_t kind;
  uint32_t len, crc32c;         /* REMOTE, WRITTEN: the stored chunk */
  uint64_t id, version, crc64;
  uint8_t *buf;                 /* DIRTY (owned), STORING (the job's) */
  uint32_t seq;                 /* DIRTY: bytes [0, seq) written in order since it became
                                 * dirty (a sequential writer: stored once full) */
  written_chunk *written;        /* WRITTEN: owned */
} fchunk;

struct open_file {
  pthread_mutex_t lock;
  pthread_cond_t cv;            /* a store ended */
  mnode *node;
  int opens;                    /* under the inode table's lock */
  uint64_t size;
  int64_t mtime_ns;
  uint32_t mode, replicas, want_mode;
  char owner[256];
  fchunk *ch;
  size_t nch, cap;
  Dfs__GetFileRep **pages;      /* GetFile replies by page (locations), owned */
  size_t npages;
  int dirty;                    /* changed since the last commit */
  int storing;                  /* jobs running */
  int committing;               /* a commit waits for its stores: writers wait for it */
  uint64_t dirty_bytes;
  uint64_t upload_id;
  uint64_t last_read;           /* chunk index of the last read (read-ahead) */
  char hidden[DFS_PATH_MAX + 1]; /* "" unless unlinked while open */
};

static const uint8_t zero_chunk[CH];

static uint32_t expected_len(const open_file *of, size_t i) {
  uint64_t start = (uint64_t)i * CH;
  return of->size - start >= CH ? CH : (uint32_t)(of->size - start);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The path the file has now. */
static int file_path(mount_ctx *m, open_file *of, char *out) {
  if (of->hidden[0]) {
    snprintf(out, DFS_PATH_MAX + 1, "%s", of->hidden);
    return 0;
  }
  pthread_mutex_lock(&m->nodes.lock);
  int rc = inodes_path(of->node, out, DFS_PATH_MAX + 1);
  pthread_mutex_unlock(&m->nodes.lock);
  return rc;
}

static void drop_pages(open_file *of) {
  for (size_t i = 0; i < of->npages; i++)
    if (of->pages[i]) dfs__get_file_rep__free_unpacked(of->pages[i], NULL);
  free(of->pages);
  of->pages = NULL;
  of->npages = 0;
}

static void release_chunk(mount_ctx *m, open_file *of, fchunk *c) {
  if (c->kind == FC_DIRTY) {
    free(c->buf);
    of->dirty_bytes -= CH;
    __atomic_sub_fetch(&m->dirty_now, CH, __ATOMIC_RELAXED);
  }
  free(c->written);
  memset(c, 0, sizeof *c);
}

static int resize_chunks(open_file *of, size_t n) {
  if (n > MAX_CHUNKS) return -EFBIG;
  if (n > of->cap) {
    fchunk *nv = dfs_grow(of->ch, &of->cap, n, sizeof *nv, 16);
    if (!nv) return -ENOMEM;
    of->ch = nv;
  }
  if (n > of->nch) memset(of->ch + of->nch, 0, (n - of->nch) * sizeof *of->ch);
  of->nch = n;
  return 0;
}

/* GetFile page holding chunk idx, as of->pages[idx / PAGE_CHUNKS]. */
static int fetch_page(mount_ctx *m, open_file *of, const char *path, uint64_t idx,
                      Dfs__GetFileRep **out) {
  Dfs__GetFileReq req = DFS__GET_FILE_REQ__INIT;
  req.path = (char *)path;
  req.first_chunk = idx / PAGE_CHUNKS * PAGE_CHUNKS;
  req.max_chunks = PAGE_CHUNKS;
  ProtobufCMessage *rm = NULL;
  char err[512];
  int rc = meta_pool_call(&m->meta, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &req.base,
                          &dfs__get_file_rep__descriptor, &rm, err, sizeof err);
  if (rc) {
    if (rm) protobuf_c_message_free_unpacked(rm, NULL);
    if (rc != DFS_ENOENT) mount_log("%s: %s", path, err);
    return -mount_errno(rc);
  }
  Dfs__GetFileRep *rep = (Dfs__GetFileRep *)rm;
  if (!rep->entry || rep->n_chunks > PAGE_CHUNKS) {
    dfs__get_file_rep__free_unpacked(rep, NULL);
    mount_log("%s: metad's chunk list is malformed", path);
    return -EIO;
  }
  for (size_t i = 0; i < rep->n_chunks; i++) {
    const Dfs__ChunkLocation *c = rep->chunks[i];
    if (c->index != req.first_chunk + i || c->length == 0 || c->length > CH) {
      dfs__get_file_rep__free_unpacked(rep, NULL);
      mount_log("%s: metad's chunk list does not fit the file", path);
      return -EIO;
    }
  }
  *out = rep;
  (void)of;
  return 0;
}

/* Loads the whole chunk list from metad (no unflushed writes). */
static int load_locked(mount_ctx *m, open_file *of, const char *path) {
  Dfs__GetFileRep *first = NULL;
  int rc = fetch_page(m, of, path, 0, &first);
  if (rc) return rc;
  const Dfs__Entry *e = first->entry;
  if (e->type != DFS__ENTRY_TYPE__ENTRY_FILE) {
    dfs__get_file_rep__free_unpacked(first, NULL);
    return e->type == DFS__ENTRY_TYPE__ENTRY_DIR ? -EISDIR : -EINVAL;
  }
  uint64_t n = (e->size + CH - 1) / CH;
  for (size_t i = 0; i < of->nch; i++) release_chunk(m, of, &of->ch[i]);
  of->nch = 0;
  drop_pages(of);
  if ((rc = resize_chunks(of, n))) {
    dfs__get_file_rep__free_unpacked(first, NULL);
    return rc;
  }
  of->npages = (n + PAGE_CHUNKS - 1) / PAGE_CHUNKS;
  of->pages = calloc(of->npages ? of->npages : 1, sizeof *of->pages);
  if (!of->pages) {
    dfs__get_file_rep__free_unpacked(first, NULL);
    return -ENOMEM;
  }
  of->size = e->size;
  of->mtime_ns = e->mtime_ns;
  of->mode = e->mode & 07777;
  of->replicas = e->replicas ? e->replicas : m->opt.replicas;
  snprintf(of->owner, sizeof of->owner, "%s", e->owner ? e->owner : "");
  int64_t mtime = e->mtime_ns;
  uint64_t size = e->size;
  for (size_t p = 0; p < of->npages; p++) {
    Dfs__GetFileRep *rep = first;
    if (p > 0 && (rc = fetch_page(m, of, path, p * PAGE_CHUNKS, &rep))) return rc;
    if (p > 0 && (rep->entry->mtime_ns != mtime || rep->entry->size != size)) {
      dfs__get_file_rep__free_unpacked(rep, NULL);
      return -EAGAIN; /* changed while we read its list: the caller retries */
    }
    of->pages[p] = rep;
    first = NULL;
    for (size_t i = 0; i < rep->n_chunks; i++) {
      const Dfs__ChunkLocation *c = rep->chunks[i];
      if (c->index >= n) {
        mount_log("%s: metad listed chunk %llu beyond the size", path, (unsigned long long)c->index);
        return -EIO;
      }
      fchunk *f = &of->ch[c->index];
      f->kind = FC_REMOTE;
      f->id = c->chunk_id;
      f->version = c->version;
      f->len = c->length;
      f->crc32c = c->crc32c;
      f->crc64 = c->crc64;
    }
  }
  if (first) dfs__get_file_rep__free_unpacked(first, NULL);
  for (size_t i = 0; i < n; i++) {
    if (of->ch[i].kind != FC_REMOTE || of->ch[i].len != expected_len(of, i)) {
      mount_log("%s: metad listed chunk %zu %s (size %llu)", path, i,
                of->ch[i].kind != FC_REMOTE ? "not at all" : "with another length",
                (unsigned long long)of->size);
      return -EIO;
    }
  }
  of->dirty = 0;
  return 0;
}

static int reload_locked(mount_ctx *m, open_file *of) {
  char path[DFS_PATH_MAX + 1];
  int rc = file_path(m, of, path);
  if (rc) return -mount_errno(rc);
  for (int tries = 0; tries < 5; tries++)
    if ((rc = load_locked(m, of, path)) != -EAGAIN) break;
  return rc;
}

/* The location of REMOTE chunk idx (from its page, fetched if needed or if fresh). */
static int location(mount_ctx *m, open_file *of, size_t idx, int fresh,
                    const Dfs__ChunkLocation **out) {
  size_t p = idx / PAGE_CHUNKS;
  if (p >= of->npages) {
    Dfs__GetFileRep **nv = realloc(of->pages, (p + 1) * sizeof *nv);
    if (!nv) return -ENOMEM;
    memset(nv + of->npages, 0, (p + 1 - of->npages) * sizeof *nv);
    of->pages = nv;
    of->npages = p + 1;
  }
  Dfs__GetFileRep *rep = of->pages[p];
  if (!rep || fresh) {
    char path[DFS_PATH_MAX + 1];
    int rc = file_path(m, of, path);
    if (rc) return -mount_errno(rc);
    if ((rc = fetch_page(m, of, path, idx, &rep))) return rc;
    if (of->pages[p]) dfs__get_file_rep__free_unpacked(of->pages[p], NULL);
    of->pages[p] = rep;
  }
  size_t k = idx - p * PAGE_CHUNKS;
  const fchunk *f = &of->ch[idx];
  if (k >= rep->n_chunks || rep->chunks[k]->chunk_id != f->id ||
      rep->chunks[k]->version != f->version) {
    mount_log("chunk %zu of an open file was replaced by another client", idx);
    return -ESTALE;
  }
  *out = rep->chunks[k];
  return 0;
}

/* Bytes [off, off+len) of REMOTE chunk idx (the cache, else a replica; a capability that
 * expired is renewed once). */
static int read_remote(mount_ctx *m, open_file *of, size_t idx, uint32_t off, uint32_t len,
                       uint8_t *out) {
  const fchunk *f = &of->ch[idx];
  if (off >= f->len) {
    memset(out, 0, len);
    return 0;
  }
  uint32_t have = f->len - off < len ? f->len - off : len;
  if (have < len) memset(out + have, 0, len - have);
  if (chunk_cache_get(&m->cache, f->id, f->version, off, have, out, 0)) return 0;
  char err[512];
  int rc = 0;
  for (int fresh = 0; fresh < 2; fresh++) {
    const Dfs__ChunkLocation *loc;
    if ((rc = location(m, of, idx, fresh, &loc))) return rc;
    rc = chunk_io_fetch(m, loc, off, have, out, err, sizeof err);
    if (rc != DFS_EPERM) break;
  }
  if (rc) mount_log("read of chunk %zu: %s", idx, err);
  return rc ? -mount_errno(rc) : 0;
}

static int commit_locked(mount_ctx *m, open_file *of);

/* Makes chunk idx DIRTY (a buffer with its current content, zeros beyond). whole: the
 * caller overwrites all of it (nothing to load). */
static int make_dirty(mount_ctx *m, open_file *of, size_t idx, int whole) {
  fchunk *f = &of->ch[idx];
  if (f->kind == FC_DIRTY) return 0;
  uint8_t *buf = malloc(CH);
  if (!buf) return -ENOMEM;
  int rc = 0;
  if (whole || f->kind == FC_HOLE) {
    memset(buf, 0, CH);
  } else if (f->kind == FC_WRITTEN) {
    if (chunk_cache_get(&m->cache, f->id, f->version, 0, f->len, buf, 0)) {
      memset(buf + f->len, 0, CH - f->len);
    } else { /* evicted before its commit: commit, then it is REMOTE */
      if ((rc = commit_locked(m, of)) == 0) {
        free(buf);
        return make_dirty(m, of, idx, whole);
      }
    }
  } else if (f->kind == FC_REMOTE) {
    rc = read_remote(m, of, idx, 0, CH, buf);
  }
  if (rc) {
    free(buf);
    return rc;
  }
  f = &of->ch[idx];
  free(f->written);
  f->written = NULL;
  f->kind = FC_DIRTY;
  f->buf = buf;
  f->seq = 0;
  of->dirty_bytes += CH;
  __atomic_add_fetch(&m->dirty_now, CH, __ATOMIC_RELAXED);
  return 0;
}

/* ---- storing on workers ---- */
typedef struct {
  chunk_job job;
  mount_ctx *m;
  open_file *of;
  size_t idx;
  uint8_t *buf;
  uint32_t len;
} store_job;

static void store_run(mount_ctx *m, chunk_job *j) {
  store_job *s = (store_job *)j;
  open_file *of = s->of;
  written_chunk *sc = malloc(sizeof *sc);
  char err[512] = "out of memory";
  int rc = sc ? chunk_io_store(m, of->replicas, of->upload_id, s->buf, s->len, sc, err,
                               sizeof err)
              : DFS_ENOMEM;
  if (rc) mount_log("storing chunk %zu: %s", s->idx, err);
  pthread_mutex_lock(&of->lock);
  fchunk *f = &of->ch[s->idx];
  if (rc == 0) {
    f->kind = FC_WRITTEN;
    f->written = sc;
    f->id = sc->id;
    f->version = sc->version;
    f->len = sc->len;
    f->crc32c = sc->crc32c;
    f->crc64 = sc->crc64;
    f->buf = NULL;
    of->dirty_bytes -= CH;
    __atomic_sub_fetch(&m->dirty_now, CH, __ATOMIC_RELAXED);
    chunk_cache_put(&m->cache, sc->id, sc->version, s->buf, sc->len);
  } else {
    free(sc);
    f->kind = FC_DIRTY; /* the commit tries again, and reports */
  }
  of->storing--;
  pthread_cond_broadcast(&of->cv);
  pthread_mutex_unlock(&of->lock);
  free(s);
}

/* Hands DIRTY chunk idx (len bytes) to a worker. */
static int hand_off(mount_ctx *m, open_file *of, size_t idx, uint32_t len) {
  store_job *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  fchunk *f = &of->ch[idx];
  s->job.run = store_run;
  s->m = m;
  s->of = of;
  s->idx = idx;
  s->buf = f->buf;
  s->len = len;
  f->kind = FC_STORING;
  of->storing++;
  chunk_io_submit(m, &s->job);
  return 0;
}

static void wait_stores(open_file *of) {
  while (of->storing > 0) pthread_cond_wait(&of->cv, &of->lock);
}

/* Stores every DIRTY chunk (the write-back bound was reached). */
static int store_dirty(mount_ctx *m, open_file *of) {
  for (size_t i = 0; i < of->nch; i++) {
    if (of->ch[i].kind != FC_DIRTY) continue;
    int rc = hand_off(m, of, i, expected_len(of, i));
    if (rc) return rc;
  }
  wait_stores(of);
  return 0;
}

static int commit_chunks(mount_ctx *m, open_file *of);

/* Writers and truncates wait while a commit (which drops the lock while its stores run)
 * is under way, so that the list it sends is the one it stored. */
static void wait_commit(open_file *of) {
  while (of->committing) pthread_cond_wait(&of->cv, &of->lock);
}

static int commit_locked(mount_ctx *m, open_file *of) {
  wait_stores(of);
  if (!of->dirty) return 0;
  if (of->committing) { /* another thread's commit (we were waiting in it): wait for it */
    wait_commit(of);
    return of->dirty ? commit_locked(m, of) : 0;
  }
  of->committing = 1;
  int rc = commit_chunks(m, of);
  of->committing = 0;
  pthread_cond_broadcast(&of->cv);
  return rc;
}

static int commit_chunks(mount_ctx *m, open_file *of) {
  char path[DFS_PATH_MAX + 1];
  int rc = file_path(m, of, path);
  if (rc) return -mount_errno(rc);
  /* every chunk to its final length, stored */
  for (size_t i = 0; i < of->nch; i++) {
    fchunk *f = &of->ch[i];
    uint32_t want = expected_len(of, i);
    if (f->kind == FC_REMOTE && (f->len != want || f->crc64 == 0)) {
      if ((rc = make_dirty(m, of, i, 0))) return rc;
    } else if (f->kind == FC_WRITTEN && f->len != want) {
      mount_log("%s: chunk %zu was stored with %u bytes, the file needs %u", path, i, f->len, want);
      return -EIO;
    }
    if (f->kind == FC_HOLE) {
      written_chunk *sc = malloc(sizeof *sc);
      char err[512] = "out of memory";
      rc = sc ? chunk_io_store(m, of->replicas, of->upload_id, zero_chunk, want, sc, err,
                               sizeof err)
              : DFS_ENOMEM;
      if (rc) {
        free(sc);
        mount_log("%s: storing zeros for chunk %zu: %s", path, i, err);
        return -mount_errno(rc);
      }
      f->kind = FC_WRITTEN;
      f->written = sc;
    } else if (f->kind == FC_DIRTY && (rc = hand_off(m, of, i, want))) {
      return rc;
    }
  }
  wait_stores(of);
  Dfs__ChunkInfo *infos = calloc(of->nch ? of->nch : 1, sizeof *infos);
  Dfs__ChunkInfo **ptrs = calloc(of->nch ? of->nch : 1, sizeof *ptrs);
  if (!infos || !ptrs) {
    free(infos);
    free(ptrs);
    return -ENOMEM;
  }
  for (size_t i = 0; i < of->nch && rc == 0; i++) {
    fchunk *f = &of->ch[i];
    Dfs__ChunkInfo *c = &infos[i];
    dfs__chunk_info__init(c);
    ptrs[i] = c;
    if (f->kind == FC_REMOTE) {
      c->chunk_id = f->id;
      c->version = f->version;
      c->length = f->len;
      c->crc32c = f->crc32c;
      c->crc64 = f->crc64;
      c->reuse = 1;
    } else if (f->kind == FC_WRITTEN) {
      written_chunk_info(f->written, c);
    } else {
      mount_log("%s: chunk %zu could not be stored", path, i);
      rc = -EIO;
    }
  }
  if (rc == 0) {
    Dfs__CommitReq req = DFS__COMMIT_REQ__INIT;
    req.path = path;
    req.size = of->size;
    req.replicas = of->replicas;
    req.mode = of->mode;
    req.overwrite = 1;
    req.request_id = dfs_random_u64();
    req.n_chunks = of->nch;
    req.chunks = ptrs;
    ProtobufCMessage *rm = NULL;
    char err[512];
    int r = meta_pool_call(&m->meta, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMMIT, &req.base,
                           &dfs__commit_rep__descriptor, &rm, err, sizeof err);
    if (rm) protobuf_c_message_free_unpacked(rm, NULL);
    if (r) {
      mount_log("%s: commit: %s", path, err);
      rc = -mount_errno(r);
    }
  }
  free(infos);
  free(ptrs);
  if (rc) return rc;
  /* metad now has exactly our list: everything is REMOTE (locations asked for when read) */
  for (size_t i = 0; i < of->nch; i++) {
    fchunk *f = &of->ch[i];
    free(f->written);
    f->written = NULL;
    f->kind = FC_REMOTE;
  }
  drop_pages(of);
  of->dirty = 0;
  return 0;
}

/* ---- the interface ---- */
int open_file_open(mount_ctx *m, mnode *n, const char *path, uint32_t created_mode,
                   uint32_t want_mode, open_file **out, int *unchanged) {
  int created = created_mode != 0;
  *unchanged = 0;
  pthread_mutex_lock(&m->nodes.lock);
  open_file *of = n->of;
  if (of) of->opens++;
  pthread_mutex_unlock(&m->nodes.lock);
  if (of) {
    pthread_mutex_lock(&of->lock);
    int rc = 0;
    if (!of->dirty && !created) { /* close-to-open: what metad has now */
      wait_stores(of);
      rc = reload_locked(m, of);
    }
    if (want_mode) of->want_mode = want_mode;
    *unchanged = rc == 0 && of->mtime_ns == n->seen_mtime_ns && of->size == n->seen_size;
    n->seen_mtime_ns = of->mtime_ns;
    n->seen_size = of->size;
    pthread_mutex_unlock(&of->lock);
    if (rc) {
      open_file_release(m, of);
      return rc;
    }
    *out = of;
    return 0;
  }
  of = calloc(1, sizeof *of);
  if (!of) return -ENOMEM;
  pthread_mutex_init(&of->lock, NULL);
  pthread_cond_init(&of->cv, NULL);
  of->node = n;
  of->opens = 1;
  of->upload_id = dfs_random_u64();
  of->last_read = UINT64_MAX;
  of->want_mode = want_mode;
  int rc = 0;
  if (created) { /* just made empty by us: nothing to ask metad */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    of->mtime_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    of->mode = created_mode & 07777;
    of->replicas = m->opt.replicas;
    snprintf(of->owner, sizeof of->owner, "%s", m->user);
  } else {
    for (int tries = 0; tries < 5; tries++)
      if ((rc = load_locked(m, of, path)) != -EAGAIN) break;
  }
  if (rc) {
    drop_pages(of);
    free(of->ch);
    free(of);
    return rc;
  }
  pthread_mutex_lock(&m->nodes.lock);
  if (n->of) { /* another thread opened it meanwhile: use that one */
    open_file *other = n->of;
    other->opens++;
    pthread_mutex_unlock(&m->nodes.lock);
    drop_pages(of);
    free(of->ch);
    free(of);
    *out = other;
    return 0;
  }
  n->of = of;
  *unchanged = of->mtime_ns == n->seen_mtime_ns && of->size == n->seen_size;
  n->seen_mtime_ns = of->mtime_ns;
  n->seen_size = of->size;
  pthread_mutex_unlock(&m->nodes.lock);
  *out = of;
  return 0;
}

open_file *open_file_pin(mount_ctx *m, mnode *n) {
  pthread_mutex_lock(&m->nodes.lock);
  open_file *of = n->of;
  if (of) of->opens++;
  pthread_mutex_unlock(&m->nodes.lock);
  return of;
}

static int meta_simple(mount_ctx *m, uint16_t type, ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *d, const char *what, const char *path) {
  ProtobufCMessage *rm = NULL;
  char err[512];
  int rc = meta_pool_call(&m->meta, type, req, d, &rm, err, sizeof err);
  if (rm) protobuf_c_message_free_unpacked(rm, NULL);
  if (rc) mount_log("%s %s: %s", what, path, err);
  return rc;
}

void open_file_release(mount_ctx *m, open_file *of) {
  pthread_mutex_lock(&m->nodes.lock);
  int last = --of->opens == 0;
  if (last) of->node->of = NULL;
  pthread_mutex_unlock(&m->nodes.lock);
  if (!last) return;
  pthread_mutex_lock(&of->lock);
  char path[DFS_PATH_MAX + 1];
  if (of->dirty) commit_locked(m, of);
  wait_stores(of);
  if (file_path(m, of, path) == 0) {
    if (of->hidden[0]) {
      Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
      req.path = path;
      req.request_id = dfs_random_u64();
      meta_simple(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base,
                  &dfs__delete_rep__descriptor, "removing the hidden copy", path);
    } else if (of->want_mode && of->want_mode != of->mode) {
      Dfs__ChmodReq req = DFS__CHMOD_REQ__INIT;
      req.path = path;
      req.mode = of->want_mode;
      req.request_id = dfs_random_u64();
      meta_simple(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD, &req.base,
                  &dfs__chmod_rep__descriptor, "chmod", path);
    }
  }
  for (size_t i = 0; i < of->nch; i++) release_chunk(m, of, &of->ch[i]);
  drop_pages(of);
  free(of->ch);
  pthread_mutex_unlock(&of->lock);
  pthread_mutex_destroy(&of->lock);
  pthread_cond_destroy(&of->cv);
  pthread_mutex_lock(&m->nodes.lock);
  mnode *n = of->node;
  free(of);
  inodes_maybe_free(&m->nodes, n);
  pthread_mutex_unlock(&m->nodes.lock);
}

int open_file_read(mount_ctx *m, open_file *of, uint64_t off, size_t len, uint8_t *out,
                   size_t *got) {
  *got = 0;
  pthread_mutex_lock(&of->lock);
  int rc = 0;
  if (off >= of->size) goto out;
  if (len > of->size - off) len = (size_t)(of->size - off);
  size_t done = 0;
  while (done < len && rc == 0) {
    uint64_t pos = off + done;
    size_t idx = (size_t)(pos / CH);
    uint32_t coff = (uint32_t)(pos % CH);
    uint32_t n = CH - coff < len - done ? CH - coff : (uint32_t)(len - done);
    fchunk *f = &of->ch[idx];
    switch (f->kind) {
      case FC_HOLE: memset(out + done, 0, n); break;
      case FC_DIRTY:
      case FC_STORING: memcpy(out + done, f->buf + coff, n); break;
      case FC_WRITTEN:
        if (coff >= f->len) {
          memset(out + done, 0, n);
        } else if (!chunk_cache_get(&m->cache, f->id, f->version, coff,
                                    f->len - coff < n ? f->len - coff : n, out + done, 0)) {
          if ((rc = commit_locked(m, of))) break; /* evicted: commit, read it back */
          continue;
        } else if (f->len - coff < n) {
          memset(out + done + (f->len - coff), 0, n - (f->len - coff));
        }
        break;
      default: /* FC_REMOTE */
        rc = read_remote(m, of, idx, coff, n, out + done);
        if (rc == 0 && (of->last_read == idx || of->last_read + 1 == idx)) {
          for (size_t k = idx + 1; k <= idx + m->opt.readahead_chunks && k < of->nch; k++) {
            const Dfs__ChunkLocation *loc;
            if (of->ch[k].kind == FC_REMOTE && location(m, of, k, 0, &loc) == 0)
              chunk_io_prefetch(m, loc);
          }
        }
        of->last_read = idx;
        break;
    }
    if (rc == 0) done += n;
  }
  *got = done;
  if (done > 0) rc = 0; /* a short read, the error comes with the next */
out:
  pthread_mutex_unlock(&of->lock);
  return rc;
}

int open_file_write(mount_ctx *m, open_file *of, uint64_t off, const uint8_t *data,
                    size_t len, int append) {
  pthread_mutex_lock(&of->lock);
  wait_commit(of);
  if (append) off = of->size;
  int rc = 0;
  uint64_t end = off + len;
  if (end < off || end > (uint64_t)MAX_CHUNKS * CH) {
    rc = -EFBIG;
    goto out;
  }
  size_t need = (size_t)((end + CH - 1) / CH);
  if (need > of->nch && (rc = resize_chunks(of, need))) goto out;
  size_t done = 0;
  while (done < len && rc == 0) {
    uint64_t pos = off + done;
    size_t idx = (size_t)(pos / CH);
    uint32_t coff = (uint32_t)(pos % CH);
    uint32_t n = CH - coff < len - done ? CH - coff : (uint32_t)(len - done);
    if (of->ch[idx].kind == FC_STORING) {
      pthread_cond_wait(&of->cv, &of->lock);
      wait_commit(of);
      if (idx >= of->nch) { /* truncated meanwhile: the chunks are gone */
        if ((rc = resize_chunks(of, need))) break;
      }
      continue;
    }
    if (of->ch[idx].kind != FC_DIRTY) {
      if (__atomic_load_n(&m->dirty_now, __ATOMIC_RELAXED) + CH > m->opt.dirty_bytes &&
          of->dirty_bytes > 0 && (rc = store_dirty(m, of)))
        break;
      if ((rc = make_dirty(m, of, idx, coff == 0 && n == CH))) break;
    }
    fchunk *f = &of->ch[idx];
    memcpy(f->buf + coff, data + done, n);
    done += n;
    if (pos + n > of->size) of->size = pos + n;
    of->dirty = 1;
    if (coff == f->seq) f->seq = coff + n;
    /* written in order to its end: store it now, while the program goes on writing.
     * A chunk written here and there waits for the commit (storing it at every pass
     * over its end would store it many times). */
    if (f->seq == CH) rc = hand_off(m, of, idx, CH);
  }
  of->mtime_ns = now_ns();
out:
  pthread_mutex_unlock(&of->lock);
  return rc;
}

int open_file_truncate(mount_ctx *m, open_file *of, uint64_t size) {
  pthread_mutex_lock(&of->lock);
  int rc = 0;
  wait_commit(of);
  wait_stores(of);
  if (size > (uint64_t)MAX_CHUNKS * CH) {
    rc = -EFBIG;
    goto out;
  }
  size_t n = (size_t)((size + CH - 1) / CH);
  if (size < of->size) {
    uint32_t tail = (uint32_t)(size % CH);
    if (tail && (rc = make_dirty(m, of, n - 1, 0))) goto out; /* the new last chunk */
    wait_stores(of);
    for (size_t i = n; i < of->nch; i++) release_chunk(m, of, &of->ch[i]);
    of->nch = n;
    if (tail) memset(of->ch[n - 1].buf + tail, 0, CH - tail);
  } else if (size > of->size && (rc = resize_chunks(of, n))) {
    goto out;
  }
  if (size != of->size || !of->dirty) of->dirty = 1;
  of->size = size;
  of->mtime_ns = now_ns();
out:
  pthread_mutex_unlock(&of->lock);
  return rc;
}

int open_file_commit(mount_ctx *m, open_file *of) {
  pthread_mutex_lock(&of->lock);
  int rc = commit_locked(m, of);
  pthread_mutex_unlock(&of->lock);
  return rc;
}

void open_file_hide(open_file *of, const char *hidden_path) {
  pthread_mutex_lock(&of->lock);
  snprintf(of->hidden, sizeof of->hidden, "%s", hidden_path);
  drop_pages(of); /* locations are asked for again under the new name */
  pthread_mutex_unlock(&of->lock);
}

void open_file_stat(open_file *of, struct stat *st) {
  pthread_mutex_lock(&of->lock);
  st->st_size = (off_t)of->size;
  st->st_blocks = (st->st_size + 511) / 512;
  st->st_mtim.tv_sec = of->mtime_ns / 1000000000;
  st->st_mtim.tv_nsec = of->mtime_ns % 1000000000;
  st->st_ctim = st->st_mtim;
  st->st_mode = (st->st_mode & ~07777u) | (of->want_mode ? of->want_mode : of->mode);
  pthread_mutex_unlock(&of->lock);
}

void open_file_full_stat(mount_ctx *m, open_file *of, uint64_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = S_IFREG;
  st->st_nlink = of->hidden[0] ? 0 : 1;
  st->st_blksize = 1 << 20;
  pthread_mutex_lock(&of->lock);
  st->st_uid = mount_owner_uid(m, of->owner);
  pthread_mutex_unlock(&of->lock);
  st->st_gid = st->st_uid == m->uid ? m->gid : st->st_uid;
  open_file_stat(of, st);
  st->st_atim = st->st_mtim;
}

void open_file_discard_all(mount_ctx *m) {
  pthread_mutex_lock(&m->nodes.lock);
  for (size_t b = 0; b < m->nodes.nbuckets; b++) {
    for (mnode *n = m->nodes.by_ino[b]; n; n = n->next_ino) {
      open_file *of = n->of;
      if (!of) continue;
      if (of->dirty) mount_log("a file still open at the end lost its unflushed writes");
      for (size_t i = 0; i < of->nch; i++) release_chunk(m, of, &of->ch[i]);
      drop_pages(of);
      free(of->ch);
      pthread_mutex_destroy(&of->lock);
      pthread_cond_destroy(&of->cv);
      free(of);
      n->of = NULL;
    }
  }
  pthread_mutex_unlock(&m->nodes.lock);
}
