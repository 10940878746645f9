/* Reading and storing single chunks, and the worker threads (chunk_io.h). */
#include "mount/chunk_io.h"

#include <isa-l/crc64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/util.h"

#define ALLOC_BUSY_WAIT_MS 30000 /* metad's per-user in-flight bound: wait, do not fail */
#define ALLOC_SERVERS_WAIT_MS 10000 /* no live chunkserver: they may be registering again */
#define ALLOC_SPACE_WAIT_MS 3000    /* none placeable: one may just have registered */
#define PREFETCH_MAX_REPLICAS 8

/* ---- per-thread chunkserver sockets ---- */
static pthread_key_t conns_key;
static pthread_once_t conns_once = PTHREAD_ONCE_INIT;

static void conns_destroy(void *p) {
  chunk_conns_close(p);
  free(p);
}
static void conns_key_make(void) { pthread_key_create(&conns_key, conns_destroy); }

static chunk_conns *thread_conns(void) {
  pthread_once(&conns_once, conns_key_make);
  chunk_conns *cc = pthread_getspecific(conns_key);
  if (!cc && (cc = malloc(sizeof *cc))) {
    chunk_conns_init(cc);
    pthread_setspecific(conns_key, cc);
  }
  return cc;
}

/* ---- reads ---- */
static int read_replicas(const Dfs__ChunkLocation *loc, uint8_t *buf, char *err, size_t errsz) {
  chunk_conns *cc = thread_conns();
  if (!cc) return DFS_ENOMEM;
  if (loc->n_replicas == 0) {
    snprintf(err, errsz, "chunk %llu has no live replica (chunkservers down?)",
             (unsigned long long)loc->index);
    return DFS_EUNAVAIL;
  }
  int rc = DFS_EUNAVAIL, refused = 0, tried = 0;
  char last[300] = "";
  for (size_t k = 0; k < loc->n_replicas && k < CLIENT_MAX_CHAIN; k++) {
    const Dfs__ServerAddr *s = loc->replicas[k];
    if (!s || !s->host || strlen(s->host) >= sizeof ((chunkd_addr *)0)->host) continue;
    chunkd_addr srv = {.server_id = s->server_id, .port = (int)s->port};
    snprintf(srv.host, sizeof srv.host, "%s", s->host);
    tried++;
    rc = chunk_read(cc, &srv, loc->chunk_id, loc->version, s->capability.data,
                    s->capability.len, loc->length, loc->crc32c, buf, last, sizeof last);
    if (rc == 0) return 0;
    refused += rc == DFS_EPERM;
  }
  if (tried && refused == tried) {
    snprintf(err, errsz, "every replica refused the read capability (expired)");
    return DFS_EPERM;
  }
  snprintf(err, errsz, "chunk %llu: every replica failed (last: %s)",
           (unsigned long long)loc->index, last);
  return rc ? rc : DFS_EUNAVAIL;
}

int chunk_io_fetch(mount_ctx *m, const Dfs__ChunkLocation *loc, uint32_t off, uint32_t len,
                   uint8_t *out, char *err, size_t errsz) {
  if ((uint64_t)off + len > loc->length || loc->length > DFS_CHUNK_SIZE) {
    snprintf(err, errsz, "read beyond chunk %llu's %u bytes", (unsigned long long)loc->index,
             loc->length);
    return DFS_EPROTO;
  }
  for (;;) {
    if (chunk_cache_get(&m->cache, loc->chunk_id, loc->version, off, len, out, 1)) return 0;
    /* we own the pending entry now (or the cache had no memory: fill/abandon are no-ops) */
    uint8_t *buf = malloc(DFS_CHUNK_SIZE);
    if (!buf) {
      chunk_cache_abandon(&m->cache, loc->chunk_id, loc->version);
      return DFS_ENOMEM;
    }
    int rc = read_replicas(loc, buf, err, errsz);
    if (rc) {
      free(buf);
      chunk_cache_abandon(&m->cache, loc->chunk_id, loc->version);
      return rc;
    }
    memcpy(out, buf + off, len);
    chunk_cache_fill(&m->cache, loc->chunk_id, loc->version, buf, loc->length);
    return 0;
  }
}

static void queue_push(job_queue *q, chunk_job *job);

/* ---- read-ahead: a private copy of the location, fetched on a worker ---- */
typedef struct {
  chunk_job job;
  Dfs__ChunkLocation loc;
  Dfs__ServerAddr addrs[PREFETCH_MAX_REPLICAS];
  Dfs__ServerAddr *ptrs[PREFETCH_MAX_REPLICAS];
  char hosts[PREFETCH_MAX_REPLICAS][256];
  uint8_t caps[PREFETCH_MAX_REPLICAS][DFS_CAP_READ_LEN];
} prefetch_job;

static void prefetch_run(mount_ctx *m, chunk_job *j) {
  prefetch_job *p = (prefetch_job *)j;
  uint8_t *buf = malloc(DFS_CHUNK_SIZE);
  char err[300];
  if (buf && read_replicas(&p->loc, buf, err, sizeof err) == 0) {
    chunk_cache_fill(&m->cache, p->loc.chunk_id, p->loc.version, buf, p->loc.length);
  } else {
    free(buf);
    chunk_cache_abandon(&m->cache, p->loc.chunk_id, p->loc.version);
  }
  free(p);
}

void chunk_io_prefetch(mount_ctx *m, const Dfs__ChunkLocation *loc) {
  if (m->cache.limit < DFS_CHUNK_SIZE || loc->n_replicas == 0) return;
  if (!chunk_cache_claim_only(&m->cache, loc->chunk_id, loc->version)) return;
  prefetch_job *p = calloc(1, sizeof *p);
  if (!p) {
    chunk_cache_abandon(&m->cache, loc->chunk_id, loc->version);
    return;
  }
  p->job.run = prefetch_run;
  dfs__chunk_location__init(&p->loc);
  p->loc.index = loc->index;
  p->loc.chunk_id = loc->chunk_id;
  p->loc.version = loc->version;
  p->loc.length = loc->length;
  p->loc.crc32c = loc->crc32c;
  size_t n = 0;
  for (size_t k = 0; k < loc->n_replicas && n < PREFETCH_MAX_REPLICAS; k++) {
    const Dfs__ServerAddr *s = loc->replicas[k];
    if (!s || !s->host || strlen(s->host) >= sizeof p->hosts[n] ||
        s->capability.len > sizeof p->caps[n])
      continue;
    dfs__server_addr__init(&p->addrs[n]);
    p->addrs[n].server_id = s->server_id;
    p->addrs[n].port = s->port;
    snprintf(p->hosts[n], sizeof p->hosts[n], "%s", s->host);
    p->addrs[n].host = p->hosts[n];
    memcpy(p->caps[n], s->capability.data, s->capability.len);
    p->addrs[n].capability.data = p->caps[n];
    p->addrs[n].capability.len = s->capability.len;
    p->ptrs[n] = &p->addrs[n];
    n++;
  }
  p->loc.replicas = p->ptrs;
  p->loc.n_replicas = n;
  queue_push(&m->prefetches, &p->job);
}

/* ---- stores ---- */

/* Allocations fetched ahead (ALLOC_BATCH at a time) for first attempts, so that a file
 * of one chunk costs no Alloc of its own most of the time; kept ALLOC_KEEP_MS at most
 * (capabilities and grants expire). Under m->alloc_lock. */
#define ALLOC_BATCH 8
#define ALLOC_KEEP_MS 30000 /* metad's write capabilities live 120 s by default */
struct alloc_pool {
  chunk_alloc a[ALLOC_BATCH];
  size_t n;
  uint32_t replicas;
  uint64_t fetched_ms;
};

static int alloc_fetch(mount_ctx *m, uint32_t replicas, uint64_t upload_id,
                       const uint64_t *exclude, size_t n_exclude, int batch, chunk_alloc *a,
                       char *err, size_t errsz);

static int alloc_from_pool(mount_ctx *m, uint32_t replicas, chunk_alloc *out) {
  int ok = 0;
  pthread_mutex_lock(&m->alloc_lock);
  struct alloc_pool *p = m->allocs;
  if (p && p->n > 0 && p->replicas == replicas && dfs_now_ms() - p->fetched_ms < ALLOC_KEEP_MS) {
    *out = p->a[--p->n];
    ok = 1;
  }
  pthread_mutex_unlock(&m->alloc_lock);
  return ok;
}

static int alloc_one(mount_ctx *m, uint32_t replicas, uint64_t upload_id,
                     const uint64_t *exclude, size_t n_exclude, chunk_alloc *a, char *err,
                     size_t errsz) {
  int batch = n_exclude == 0;
  if (batch && alloc_from_pool(m, replicas, a)) return 0;
  /* one batch fetch at a time: a thread that waited takes from the batch just fetched
   * (two at once would leave one batch unused, counted against the user's in-flight
   * bound until the capabilities expire) */
  if (batch) {
    pthread_mutex_lock(&m->alloc_fetch_lock);
    if (alloc_from_pool(m, replicas, a)) {
      pthread_mutex_unlock(&m->alloc_fetch_lock);
      return 0;
    }
  }
  int rc = alloc_fetch(m, replicas, upload_id, exclude, n_exclude, batch, a, err, errsz);
  if (batch) pthread_mutex_unlock(&m->alloc_fetch_lock);
  return rc;
}

static int alloc_fetch(mount_ctx *m, uint32_t replicas, uint64_t upload_id,
                       const uint64_t *exclude, size_t n_exclude, int batch, chunk_alloc *a,
                       char *err, size_t errsz) {
  Dfs__AllocReq req = DFS__ALLOC_REQ__INIT;
  req.count = batch ? ALLOC_BATCH : 1;
  if (batch) upload_id = m->upload_id; /* the pool's chunks may go to any file */
  req.replicas = replicas;
  req.upload_id = upload_id;
  req.exclude_servers = (uint64_t *)exclude;
  req.n_exclude_servers = n_exclude;
  ProtobufCMessage *rm = NULL;
  int rc;
  /* waits out the user's in-flight bound (EBUSY), and chunkservers that are coming back
   * (ENOSERVERS, briefly ENOSPACE: a metad that just restarted or resumed counts them
   * again; a full cluster answers ENOSPC 3 s later than it could) */
  for (unsigned waited = 0, nap = 50;; waited += nap, nap = nap < 800 ? nap * 2 : 800) {
    rc = meta_pool_call(&m->meta, DFS__MSG_TYPE__MSG_CLIENT_TO_META_ALLOC, &req.base,
                        &dfs__alloc_rep__descriptor, &rm, err, errsz);
    if (!((rc == DFS_EBUSY && waited < ALLOC_BUSY_WAIT_MS) ||
          (rc == DFS_ENOSERVERS && waited < ALLOC_SERVERS_WAIT_MS) ||
          (rc == DFS_ENOSPACE && waited < ALLOC_SPACE_WAIT_MS)))
      break;
    if (rm) protobuf_c_message_free_unpacked(rm, NULL);
    rm = NULL;
    dfs_sleep_ms(nap);
  }
  const Dfs__AllocRep *rep = (const Dfs__AllocRep *)rm;
  if (rc == 0) __atomic_add_fetch(&m->allocs_fetched, rep->n_chunks, __ATOMIC_RELAXED);
  struct alloc_pool *pool = NULL;
  if (rc == 0 && batch && rep->n_chunks == req.count && (pool = calloc(1, sizeof *pool))) {
    pool->replicas = replicas;
    pool->fetched_ms = dfs_now_ms();
    for (size_t i = 1; i < rep->n_chunks; i++)
      if (chunk_alloc_copy(&pool->a[pool->n], rep->chunks[i]) == 0) pool->n++;
  }
  if (rc == 0 && rep->n_chunks == req.count) {
    rc = chunk_alloc_copy(a, rep->chunks[0]);
    if (rc) snprintf(err, errsz, "metad returned an invalid chunk allocation");
  } else if (rc == 0) {
    rc = DFS_EPROTO;
    snprintf(err, errsz, "metad returned %zu allocations for %u", rep->n_chunks, req.count);
  }
  if (pool) { /* the old pool is empty, expired, or for another goal */
    pthread_mutex_lock(&m->alloc_lock);
    free(m->allocs);
    m->allocs = pool;
    pthread_mutex_unlock(&m->alloc_lock);
  }
  if (rm) protobuf_c_message_free_unpacked(rm, NULL);
  return rc;
}


int chunk_io_store(mount_ctx *m, uint32_t replicas, uint64_t upload_id, const uint8_t *data,
                   uint32_t len, written_chunk *out, char *err, size_t errsz) {
  chunk_conns *cc = thread_conns();
  if (!cc) return DFS_ENOMEM;
  uint32_t crc = dfs_crc32c(0, data, len);
  uint64_t crc64 = crc64_ecma_refl(0, data, len);
  uint64_t exclude[CHUNK_STORE_ATTEMPTS];
  size_t n_exclude = 0;
  char last[400] = "";
  int rc = DFS_EIO;
  for (int attempt = 0; attempt < CHUNK_STORE_ATTEMPTS; attempt++) {
    chunk_alloc a;
    if ((rc = alloc_one(m, replicas, upload_id, exclude, n_exclude, &a, err, errsz))) return rc;
    uint64_t failed = 0;
    __atomic_add_fetch(&m->allocs_used, 1, __ATOMIC_RELAXED);
    rc = chunk_write_alloc(cc, &a, data, len, crc, crc64, NULL, out, &failed, last, sizeof last);
    if (rc == 0) {
      __atomic_add_fetch(&m->stored, 1, __ATOMIC_RELAXED);
      return 0;
    }
    if (failed && rc != DFS_EPERM) exclude[n_exclude++] = failed;
    else if (n_exclude == 0) exclude[n_exclude++] = 0; /* next attempt: a fresh allocation */
  }
  snprintf(err, errsz, "a chunk could not be stored after %d attempts (last: %s)",
           CHUNK_STORE_ATTEMPTS, last);
  return rc;
}

/* ---- workers ---- */
static void *worker_main(void *arg) {
  job_queue *q = arg;
  pthread_mutex_lock(&q->lock);
  for (;;) {
    chunk_job *j = q->head;
    if (!j) {
      if (q->stopping) break;
      pthread_cond_wait(&q->cv, &q->lock);
      continue;
    }
    q->head = j->next;
    if (!q->head) q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    j->run(q->m, j);
    pthread_mutex_lock(&q->lock);
  }
  pthread_mutex_unlock(&q->lock);
  return NULL;
}

static int queue_start(job_queue *q, mount_ctx *m, unsigned n) {
  memset(q, 0, sizeof *q);
  q->m = m;
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->cv, NULL);
  if (!(q->threads = calloc(n, sizeof *q->threads))) return DFS_ENOMEM;
  for (unsigned i = 0; i < n; i++) {
    if (pthread_create(&q->threads[i], NULL, worker_main, q) != 0) break;
    q->n++;
  }
  return q->n ? 0 : DFS_ENOMEM;
}

static void queue_stop(job_queue *q) {
  pthread_mutex_lock(&q->lock);
  q->stopping = 1;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->lock);
  for (unsigned i = 0; i < q->n; i++) pthread_join(q->threads[i], NULL);
  free(q->threads);
  q->threads = NULL;
  q->n = 0;
}

static void queue_push(job_queue *q, chunk_job *job) {
  job->next = NULL;
  pthread_mutex_lock(&q->lock);
  if (q->tail) q->tail->next = job; else q->head = job;
  q->tail = job;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->lock);
}

int chunk_io_start_workers(mount_ctx *m) {
  pthread_mutex_init(&m->alloc_lock, NULL);
  pthread_mutex_init(&m->alloc_fetch_lock, NULL);
  m->upload_id = dfs_random_u64();
  int rc = queue_start(&m->stores, m, m->opt.workers);
  if (rc == 0) rc = queue_start(&m->prefetches, m, 2);
  return rc;
}

void chunk_io_stop_workers(mount_ctx *m) {
  queue_stop(&m->prefetches);
  queue_stop(&m->stores);
  free(m->allocs);
  m->allocs = NULL;
}

void chunk_io_submit(mount_ctx *m, chunk_job *job) { queue_push(&m->stores, job); }
