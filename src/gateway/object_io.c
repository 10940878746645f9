/* Streaming object bytes to and from dfs (object_io.h). */
#include "gateway/object_io.h"

#include <isa-l/crc64.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/array.h"
#include "common/cap.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/util.h"

#define WRITE_ATTEMPTS 5
#define ALLOC_BUSY_WAIT_MS 30000 /* metad's per-user in-flight bound: wait, do not fail */
#define PAGE_CHUNKS 256          /* GetFile page size for downloads */



typedef struct {
  chunk_alloc a[GW_ALLOC_BATCH];
  size_t n, pos;
  /* metad counts a chunk allocated and never written against the user's in-flight
   * bound until its capability expires, so an upload asks for what it will use: the
   * expected chunks when the length is known, else 1, 2, 4, 8... */
  uint64_t expect_chunks; /* 0: unknown */
  uint64_t allocated;     /* chunks asked for so far (first attempts) */
  uint64_t exclude[CLIENT_MAX_CHAIN * WRITE_ATTEMPTS];
  size_t n_exclude;
} alloc_pool;

/* The writer threads of one upload, and its hasher. Invariants: (1) a slot is FREE
 * (the filler may take it), FILLED (waiting for a writer), WRITING or WRITTEN; it is
 * FREE again once WRITTEN and hashed; the filler owns exactly one FREE slot at a time
 * (u->buf); (2) the hasher hashes slots strictly in index order (MD5 is a stream), on
 * its own thread so that hashing overlaps receiving; (3) `lock` guards the slots,
 * u->chunks/n/cap and u->rc/err; `meta_lock` guards the connection's metad client and
 * the allocation pool (a network call is never made under `lock`); (4) chunk i lands in
 * u->chunks[i], whatever order the writers finish in. */
enum { SLOT_FREE, SLOT_FILLED, SLOT_WRITING, SLOT_WRITTEN };

typedef struct {
  uint8_t *buf;
  uint32_t len;
  uint64_t index;
  int state;
  int hashed;
} up_slot;

struct gw_pipeline {
  pthread_mutex_t lock, meta_lock;
  pthread_cond_t cv; /* any slot changed state, or stop */
  up_slot slots[GW_UPLOAD_WRITERS + 1];
  size_t cur;        /* the slot being filled */
  pthread_t th[GW_UPLOAD_WRITERS];
  size_t nth;
  pthread_t hasher;
  int has_hasher;
  uint64_t next_hash; /* the index the hasher waits for */
  int stop;
  uint64_t next_index;
  gw_upload *u;
};

/* Records the first failure (lock held). */
static int fail_locked(gw_upload *u, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_locked(gw_upload *u, int rc, const char *fmt, ...) {
  if (u->rc) return u->rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(u->err, sizeof u->err, fmt, ap);
  va_end(ap);
  u->rc = rc;
  return rc;
}

int gw_upload_begin(gw_upload *u, meta_client *mc, chunk_conns *cc, const char *path,
                    uint32_t replicas) {
  memset(u, 0, sizeof *u);
  u->mc = mc;
  u->cc = cc;
  snprintf(u->path, sizeof u->path, "%s", path);
  u->replicas = replicas;
  u->upload_id = dfs_random_u64();
  u->allocs = calloc(1, sizeof(alloc_pool));
  u->pipe = calloc(1, sizeof *u->pipe);
  u->md5 = EVP_MD_CTX_new();
  u->sha256 = EVP_MD_CTX_new();
  if (!u->allocs || !u->pipe || !u->md5 || !u->sha256 ||
      !EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) ||
      !EVP_DigestInit_ex(u->sha256, EVP_sha256(), NULL))
    goto oom;
  gw_pipeline *p = u->pipe;
  p->u = u;
  pthread_mutex_init(&p->lock, NULL);
  pthread_mutex_init(&p->meta_lock, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->slots[0].buf = malloc(DFS_CHUNK_SIZE); /* the others when a second chunk comes */
  if (!p->slots[0].buf) goto oom;
  u->buf = p->slots[0].buf;
  return 0;
oom:
  gw_upload_free(u);
  return DFS_ENOMEM;
}

/* The next allocation (meta_lock held): from the batch (first attempts) or a fresh
 * one avoiding the servers that failed (retries). err: why not. */
static int take_alloc(gw_upload *u, int retry, chunk_alloc *out, char *err, size_t errsz) {
  alloc_pool *p = u->allocs;
  if (!retry && p->pos < p->n) {
    *out = p->a[p->pos++];
    return 0;
  }
  Dfs__AllocReq req = DFS__ALLOC_REQ__INIT;
  uint64_t want = GW_ALLOC_BATCH;
  if (p->expect_chunks) {
    want = p->expect_chunks > p->allocated ? p->expect_chunks - p->allocated : 1;
  } else {
    want = 1;
    while (want < GW_ALLOC_BATCH && want <= p->allocated) want *= 2;
  }
  if (want > GW_ALLOC_BATCH) want = GW_ALLOC_BATCH;
  req.count = retry ? 1 : (uint32_t)want;
  req.replicas = u->replicas;
  req.upload_id = u->upload_id;
  req.n_exclude_servers = p->n_exclude;
  req.exclude_servers = p->exclude;
  ProtobufCMessage *m = NULL;
  int rc;
  for (unsigned waited = 0, nap = 50;; waited += nap, nap = nap < 800 ? nap * 2 : 800) {
    rc = meta_call(u->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_ALLOC, &req.base,
                   &dfs__alloc_rep__descriptor, &m, err, errsz);
    if (rc != DFS_EBUSY || waited >= ALLOC_BUSY_WAIT_MS) break;
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    dfs_sleep_ms(nap);
  }
  const Dfs__AllocRep *rep = (const Dfs__AllocRep *)m;
  if (rc == 0 && rep->n_chunks != req.count) {
    rc = DFS_EPROTO;
    snprintf(err, errsz, "metad returned %zu chunk allocations for %u", rep->n_chunks,
             req.count);
  }
  if (rc == 0) {
    chunk_alloc *dst = retry ? out : p->a;
    for (size_t i = 0; i < req.count && rc == 0; i++) rc = chunk_alloc_copy(&dst[i], rep->chunks[i]);
    if (rc) snprintf(err, errsz, "metad returned an invalid chunk allocation");
    if (rc == 0 && !retry) {
      p->n = req.count;
      p->pos = 0;
      p->allocated += req.count;
      *out = p->a[p->pos++];
    }
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* Writes buf[0..len) as chunk `index` of the object with connections cc (any thread). */
static int store_chunk(gw_upload *u, chunk_conns *cc, const uint8_t *buf, uint32_t len,
                       uint64_t index) {
  gw_pipeline *pl = u->pipe;
  alloc_pool *p = u->allocs;
  written_chunk w;
  uint32_t crc = dfs_crc32c(0, buf, len);
  uint64_t crc64 = crc64_ecma_refl(0, buf, len);
  int rc = 0;
  char err[512] = "";
  for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    chunk_alloc a;
    pthread_mutex_lock(&pl->meta_lock);
    rc = take_alloc(u, attempt > 0, &a, err, sizeof err);
    pthread_mutex_unlock(&pl->meta_lock);
    if (rc) break;
    uint64_t failed = 0;
    rc = chunk_write_alloc(cc, &a, buf, len, crc, crc64, NULL, &w, &failed, err, sizeof err);
    if (rc == 0) {
      pthread_mutex_lock(&pl->lock);
      written_chunk *nv = index < u->cap ? u->chunks
                                      : dfs_grow(u->chunks, &u->cap, index + 1, sizeof *u->chunks, 64);
      if (nv) {
        u->chunks = nv;
        u->chunks[index] = w;
        if (index + 1 > u->n) u->n = index + 1;
      } else {
        fail_locked(u, DFS_ENOMEM, "out of memory");
      }
      pthread_mutex_unlock(&pl->lock);
      return nv ? 0 : DFS_ENOMEM;
    }
    pthread_mutex_lock(&pl->meta_lock);
    if (p->n_exclude < sizeof p->exclude / sizeof p->exclude[0]) p->exclude[p->n_exclude++] = failed;
    pthread_mutex_unlock(&pl->meta_lock);
  }
  pthread_mutex_lock(&pl->lock);
  if (rc == DFS_ENOSPACE)
    fail_locked(u, rc, "no space left on the chunkservers tried (last: %s)", err);
  else if (rc && !err[0])
    fail_locked(u, rc, "a chunk could not be stored");
  else
    fail_locked(u, rc, "a chunk could not be stored after %d attempts (last: %s)",
                WRITE_ATTEMPTS, err);
  pthread_mutex_unlock(&pl->lock);
  return rc;
}

static void *writer_main(void *arg) {
  gw_pipeline *p = arg;
  gw_upload *u = p->u;
  chunk_conns cc;
  chunk_conns_init(&cc);
  pthread_mutex_lock(&p->lock);
  for (;;) {
    up_slot *s = NULL;
    for (size_t i = 0; i <= GW_UPLOAD_WRITERS && !s; i++)
      if (p->slots[i].state == SLOT_FILLED) s = &p->slots[i];
    if (!s) {
      if (p->stop) break;
      pthread_cond_wait(&p->cv, &p->lock);
      continue;
    }
    s->state = SLOT_WRITING;
    int failed = u->rc != 0;
    pthread_mutex_unlock(&p->lock);
    if (!failed) store_chunk(u, &cc, s->buf, s->len, s->index); /* after a failure: drain */
    pthread_mutex_lock(&p->lock);
    s->state = s->hashed ? SLOT_FREE : SLOT_WRITTEN;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->lock);
  chunk_conns_close(&cc);
  return NULL;
}

static void hash_bytes(gw_upload *u, const uint8_t *b, size_t n) {
  EVP_DigestUpdate(u->md5, b, n);
  if (u->sha256) EVP_DigestUpdate(u->sha256, b, n);
}

static void *hasher_main(void *arg) {
  gw_pipeline *p = arg;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    up_slot *s = NULL;
    for (size_t i = 0; i <= GW_UPLOAD_WRITERS && !s; i++)
      if (p->slots[i].state != SLOT_FREE && !p->slots[i].hashed &&
          p->slots[i].index == p->next_hash && i != p->cur)
        s = &p->slots[i];
    if (!s) {
      if (p->stop) break;
      pthread_cond_wait(&p->cv, &p->lock);
      continue;
    }
    pthread_mutex_unlock(&p->lock);
    hash_bytes(p->u, s->buf, s->len); /* the slot cannot be reused until hashed */
    pthread_mutex_lock(&p->lock);
    s->hashed = 1;
    p->next_hash++;
    if (s->state == SLOT_WRITTEN) s->state = SLOT_FREE;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* Hands the full slot to the writers and takes a free one to fill (waits for one). */
static int hand_off(gw_upload *u) {
  gw_pipeline *p = u->pipe;
  pthread_mutex_lock(&p->lock);
  if (p->nth == 0) { /* the second chunk: the object is big enough for writers */
    for (size_t i = 1; i <= GW_UPLOAD_WRITERS; i++)
      if (!p->slots[i].buf && !(p->slots[i].buf = malloc(DFS_CHUNK_SIZE))) break;
    for (size_t i = 0; i < GW_UPLOAD_WRITERS; i++)
      if (pthread_create(&p->th[i], NULL, writer_main, p) == 0) p->nth++;
    p->has_hasher = pthread_create(&p->hasher, NULL, hasher_main, p) == 0;
    if (p->nth == 0 || !p->has_hasher)
      fail_locked(u, DFS_ENOMEM, "cannot start the writer threads");
  }
  up_slot *s = &p->slots[p->cur];
  s->len = u->fill;
  s->index = p->next_index++;
  s->hashed = 0;
  s->state = SLOT_FILLED;
  pthread_cond_broadcast(&p->cv);
  for (;;) {
    size_t i;
    for (i = 0; i <= GW_UPLOAD_WRITERS; i++)
      if (p->slots[i].state == SLOT_FREE && p->slots[i].buf) break;
    if (i <= GW_UPLOAD_WRITERS) {
      p->cur = i;
      p->slots[i].hashed = 0;
      u->buf = p->slots[i].buf;
      break;
    }
    if (u->rc) break;
    pthread_cond_wait(&p->cv, &p->lock);
  }
  int rc = u->rc;
  pthread_mutex_unlock(&p->lock);
  u->fill = 0;
  return rc;
}

/* Waits until every handed-off chunk is written, then stops the writers. */
static void drain(gw_upload *u) {
  gw_pipeline *p = u->pipe;
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    int busy = 0;
    for (size_t i = 0; i <= GW_UPLOAD_WRITERS; i++)
      busy |= p->slots[i].state != SLOT_FREE && i != p->cur;
    if (!busy || !p->nth || !p->has_hasher) break;
    pthread_cond_wait(&p->cv, &p->lock);
  }
  p->stop = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->lock);
  for (size_t i = 0; i < p->nth; i++) pthread_join(p->th[i], NULL);
  p->nth = 0;
  if (p->has_hasher) pthread_join(p->hasher, NULL);
  p->has_hasher = 0;
}

void gw_upload_expect(gw_upload *u, uint64_t bytes) {
  alloc_pool *p = u->allocs;
  p->expect_chunks = bytes ? (bytes + DFS_CHUNK_SIZE - 1) / DFS_CHUNK_SIZE : 0;
}

void gw_upload_no_sha256(gw_upload *u) {
  if (u->sha256) EVP_MD_CTX_free(u->sha256);
  u->sha256 = NULL;
}

int gw_upload_write(gw_upload *u, const void *data, size_t len) {
  const uint8_t *p = data;
  if (u->rc) return u->rc;
  u->size += len; /* hashed by the hasher, slot by slot, or at finish */
  while (len) {
    size_t k = DFS_CHUNK_SIZE - u->fill;
    if (k > len) k = len;
    memcpy(u->buf + u->fill, p, k);
    u->fill += (uint32_t)k;
    p += k;
    len -= k;
    if (u->fill == DFS_CHUNK_SIZE) {
      int rc = hand_off(u);
      if (rc) return rc;
    }
  }
  return 0;
}

int gw_upload_finish(gw_upload *u, uint8_t md5[16], uint8_t sha256[32]) {
  if (u->rc) return u->rc;
  drain(u);
  if (u->rc) return u->rc;
  if (u->fill) { /* the last, short chunk: on this thread, after every earlier one */
    hash_bytes(u, u->buf, u->fill);
    if (store_chunk(u, u->cc, u->buf, u->fill, u->pipe->next_index++)) return u->rc;
    u->fill = 0;
  }
  if (u->n != u->pipe->next_index)
    return fail_locked(u, DFS_EINTERNAL, "%zu of %llu chunks recorded", u->n,
                       (unsigned long long)u->pipe->next_index);
  unsigned n;
  EVP_DigestFinal_ex(u->md5, md5, &n);
  if (u->sha256) EVP_DigestFinal_ex(u->sha256, sha256, &n);
  else memset(sha256, 0, 32);
  return 0;
}

int gw_upload_commit(gw_upload *u, const uint8_t *attrs, size_t attrs_len) {
  if (u->rc) return u->rc;
  Dfs__ChunkInfo *infos = calloc(u->n ? u->n : 1, sizeof *infos);
  Dfs__ChunkInfo **ptrs = calloc(u->n ? u->n : 1, sizeof *ptrs);
  if (!infos || !ptrs) {
    free(infos);
    free(ptrs);
    return fail_locked(u, DFS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < u->n; i++) {
    written_chunk_info(&u->chunks[i], &infos[i]);
    ptrs[i] = &infos[i];
  }
  Dfs__CommitReq req = DFS__COMMIT_REQ__INIT;
  req.path = u->path;
  req.size = u->size;
  req.replicas = u->replicas;
  req.mode = 0644;
  req.overwrite = 1;
  req.request_id = dfs_random_u64();
  req.n_chunks = u->n;
  req.chunks = ptrs;
  req.attrs.data = (uint8_t *)attrs;
  req.attrs.len = attrs ? attrs_len : 0;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(u->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMMIT, &req.base,
                     &dfs__commit_rep__descriptor, &m, u->err, sizeof u->err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  free(infos);
  free(ptrs);
  if (rc) u->rc = rc;
  return rc;
}

void gw_upload_free(gw_upload *u) {
  gw_pipeline *p = u->pipe;
  if (p) {
    if (p->u) { /* initialised: writers stopped (a failed or abandoned upload too) */
      drain(u);
      pthread_mutex_destroy(&p->lock);
      pthread_mutex_destroy(&p->meta_lock);
      pthread_cond_destroy(&p->cv);
    }
    for (size_t i = 0; i <= GW_UPLOAD_WRITERS; i++) free(p->slots[i].buf);
    free(p);
  }
  free(u->chunks);
  free(u->allocs);
  if (u->md5) EVP_MD_CTX_free(u->md5);
  if (u->sha256) EVP_MD_CTX_free(u->sha256);
  memset(u, 0, sizeof *u);
}

/* ---- downloads ---- */

typedef struct {
  Dfs__GetFileRep *rep; /* owned */
  uint64_t first;       /* chunk index of rep->chunks[0] */
} dl_page;

/* Loads the page of chunk locations holding chunk idx. */
static int load_page(gw_download *d, uint64_t idx) {
  dl_page *p = d->page;
  if (p->rep) dfs__get_file_rep__free_unpacked(p->rep, NULL);
  p->rep = NULL;
  Dfs__GetFileReq req = DFS__GET_FILE_REQ__INIT;
  req.path = d->path;
  req.first_chunk = idx;
  req.max_chunks = PAGE_CHUNKS;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(d->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &req.base,
                     &dfs__get_file_rep__descriptor, &m, d->err, sizeof d->err);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    return rc;
  }
  p->rep = (Dfs__GetFileRep *)m;
  p->first = idx;
  const Dfs__Entry *e = p->rep->entry;
  if (!e) {
    snprintf(d->err, sizeof d->err, "metad's answer has no entry");
    return DFS_EPROTO;
  }
  /* every location is the chunk it should be, of the length the size implies (as dfs
   * get checks): a length is what chunk_read copies into our 1 MiB buffer */
  uint64_t nchunks = (e->size + DFS_CHUNK_SIZE - 1) / DFS_CHUNK_SIZE;
  if (p->rep->n_chunks > PAGE_CHUNKS) {
    snprintf(d->err, sizeof d->err, "metad sent %zu chunk locations for %d asked",
             p->rep->n_chunks, PAGE_CHUNKS);
    return DFS_EPROTO;
  }
  for (size_t i = 0; i < p->rep->n_chunks; i++) {
    const Dfs__ChunkLocation *c = p->rep->chunks[i];
    uint64_t at = idx + i;
    uint64_t want = at + 1 < nchunks ? DFS_CHUNK_SIZE : e->size - at * DFS_CHUNK_SIZE;
    if (at >= nchunks || c->index != at || c->length != want) {
      snprintf(d->err, sizeof d->err, "metad's location of chunk %llu does not fit the file "
               "(index %llu, %u bytes)", (unsigned long long)at,
               (unsigned long long)c->index, c->length);
      return DFS_EPROTO;
    }
  }
  return 0;
}

int gw_download_open(gw_download *d, meta_client *mc, chunk_conns *cc, const char *path) {
  memset(d, 0, sizeof *d);
  d->mc = mc;
  d->cc = cc;
  d->buf_index = UINT64_MAX;
  snprintf(d->path, sizeof d->path, "%s", path);
  d->page = calloc(1, sizeof(dl_page));
  if (!d->page) return DFS_ENOMEM;
  int rc = load_page(d, 0);
  if (rc) return rc;
  const Dfs__Entry *e = ((dl_page *)d->page)->rep->entry;
  if (e->type == DFS__ENTRY_TYPE__ENTRY_DIR) {
    snprintf(d->err, sizeof d->err, "%s is a directory", path);
    return DFS_EISDIR;
  }
  d->size = e->size;
  d->end = e->size;
  d->mtime_ns = (uint64_t)e->mtime_ns;
  d->inode = e->inode;
  return 0;
}

/* Reads chunk idx into d->buf: replicas in metad's order, the page reloaded once when a
 * capability has expired (or the file changed under us: then it fails). */
static int load_chunk(gw_download *d, uint64_t idx) {
  dl_page *p = d->page;
  if (!d->buf && !(d->buf = malloc(DFS_CHUNK_SIZE))) return DFS_ENOMEM;
  int rc;
  for (int reload = 0; reload < 2; reload++) {
    if (!p->rep || idx < p->first || idx >= p->first + p->rep->n_chunks || reload) {
      uint64_t inode = d->inode;
      if ((rc = load_page(d, idx))) return rc;
      if (p->rep->entry->inode != inode || (uint64_t)p->rep->entry->mtime_ns != d->mtime_ns) {
        snprintf(d->err, sizeof d->err, "the object changed while it was being read");
        return DFS_ESTALE;
      }
      if (idx >= p->first + p->rep->n_chunks) {
        snprintf(d->err, sizeof d->err, "metad lists fewer chunks than the size says");
        return DFS_EPROTO;
      }
    }
    const Dfs__ChunkLocation *c = p->rep->chunks[idx - p->first];
    if (c->n_replicas == 0) {
      snprintf(d->err, sizeof d->err, "chunk %llu has no live replica (chunkservers down?)",
               (unsigned long long)idx);
      return DFS_EUNAVAIL;
    }
    int expired = 0;
    char err[300] = "";
    rc = DFS_EUNAVAIL;
    for (size_t k = 0; k < c->n_replicas && k < CLIENT_MAX_CHAIN; k++) {
      const Dfs__ServerAddr *s = c->replicas[k];
      if (!s->host || strlen(s->host) >= sizeof ((chunkd_addr *)0)->host) continue;
      chunkd_addr srv;
      srv.server_id = s->server_id;
      snprintf(srv.host, sizeof srv.host, "%s", s->host);
      srv.port = (int)s->port;
      rc = chunk_read(d->cc, &srv, c->chunk_id, c->version, s->capability.data,
                      s->capability.len, c->length, c->crc32c, d->buf, err, sizeof err);
      if (rc == 0) {
        d->buf_index = idx;
        return 0;
      }
      expired |= rc == DFS_EPERM;
    }
    if (!expired) {
      snprintf(d->err, sizeof d->err, "chunk %llu: every replica failed (last: %s)",
               (unsigned long long)idx, err);
      return rc ? rc : DFS_EUNAVAIL;
    }
  }
  snprintf(d->err, sizeof d->err, "chunk %llu: access refused by every replica",
           (unsigned long long)idx);
  return DFS_EPERM;
}

long gw_download_read(gw_download *d, uint8_t *out, size_t max) {
  size_t done = 0;
  while (done < max && d->pos < d->end) {
    uint64_t idx = d->pos / DFS_CHUNK_SIZE, off = d->pos % DFS_CHUNK_SIZE;
    if (d->buf_index != idx) {
      int rc = load_chunk(d, idx);
      if (rc) return done ? (long)done : rc;
    }
    const Dfs__ChunkLocation *c = ((dl_page *)d->page)->rep->chunks[idx - ((dl_page *)d->page)->first];
    uint64_t avail = c->length > off ? c->length - off : 0;
    if (avail == 0) {
      snprintf(d->err, sizeof d->err, "chunk %llu is shorter than the size says",
               (unsigned long long)idx);
      return done ? (long)done : DFS_EPROTO;
    }
    uint64_t k = max - done;
    if (k > avail) k = avail;
    if (k > d->end - d->pos) k = d->end - d->pos;
    memcpy(out + done, d->buf + off, k);
    done += k;
    d->pos += k;
  }
  return (long)done;
}

const Dfs__Entry *gw_download_entry(const gw_download *d) {
  const dl_page *p = d->page;
  return p && p->rep ? p->rep->entry : NULL;
}

void gw_download_close(gw_download *d) {
  dl_page *p = d->page;
  if (p && p->rep) dfs__get_file_rep__free_unpacked(p->rep, NULL);
  free(p);
  free(d->buf);
  memset(d, 0, sizeof *d);
}
