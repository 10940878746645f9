/* `dfs put`: streams a local file to the cluster. K worker threads pull chunk indices,
 * pread their 1 MiB, and write them to the head of a replica chain; chunk allocations
 * come from metad in batches through one mutex-protected allocator (which also owns the
 * metad connection while workers run). A failed chunk is retried on a fresh chain that
 * avoids the servers that failed. Finally one idempotent Commit makes the file visible.
 * Update: onto an existing file, the old chunk list is fetched first (GetFile) and each
 * local chunk whose length, CRC32C and CRC-64 (ISA-L crc64_ecma_refl) equal the old
 * chunk's at that index (or anywhere in the old file) is committed with reuse=true
 * instead of being sent; the summary says how many bytes were sent.
 * The command itself (options, where the file goes) is put_cmd.c; several files or -r
 * go through batch_put.c, which uploads each file with put_upload. */
#include <errno.h>
#include <stddef.h>
#include <isa-l/crc64.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "client/chunk_alloc.h"
#include "client/chunk_client.h"
#include "cli/commands.h"
#include "cli/mode.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/progress.h"
#include "cli/put_file.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/array.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/fileio.h"
#include "common/frame.h"
#include "common/path.h"
#include "common/util.h"

#define PUT_ATTEMPTS 5
#define ALLOC_BUSY_WAIT_MS 30000 /* how long an Alloc refused with DFS_EBUSY is retried */
#define PUT_STREAM_BATCH 16 /* allocations per AllocReq for standard input (the rest of
                               the last batch is never used: it expires) */


typedef struct {
  written_chunk w;           /* what the commit names (for a reused chunk: id, version,
                                length and CRCs only) */
  int reuse;                 /* 1: an unchanged chunk of the replaced file, not sent */
} put_chunk;


typedef struct {
  const char *local;
  int fd;
  put_pool *spool;           /* multi-file put: first attempts allocate from here */
  uint64_t size, nchunks;
  uint32_t replicas;
  uint32_t mode;             /* permission bits of the new file */
  uint64_t upload_id;        /* random, in every AllocReq: metad keeps our uncommitted
                                chunks while we write (AllocReq.upload_id) */
  int stream;                /* standard input: nchunks grows as it is read (put_stream) */
  cli_progress own_prog;     /* single-file put */
  cli_progress *prog;        /* own_prog, or a multi-file put's shared bar (borrowed) */
  put_chunk *chunks;         /* nchunks entries, each written by one worker */

  pthread_mutex_t lock;      /* guards everything below, and mc */
  meta_client *mc;
  uint64_t next_index;
  size_t pool_n, pool_pos;   /* pool[pool_pos..pool_n) holds allocations not yet used */
  uint64_t batched;          /* allocations obtained through batches so far */
  uint64_t exclude[256];
  size_t n_exclude;
  int failed;                /* first failure wins; workers stop */
  int fail_rc;               /* DFS_E* of the failure */
  int fail_meta;             /* 1: the failure is a metad call (report with meta_report) */
  char fail_msg[768];
  chunk_alloc *pool;         /* PUT_BATCH entries once the first batch is asked for
                                (owned; never cleared: only pool[pool_pos..pool_n) is read) */
} put_job;

static void put_job_init(put_job *j) { memset(j, 0, sizeof *j); }

static void fail_locked(put_job *j, int rc, int meta, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail_locked(put_job *j, int rc, int meta, const char *fmt, ...) {
  if (j->failed) return;
  j->failed = 1;
  j->fail_rc = rc;
  j->fail_meta = meta;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->fail_msg, sizeof j->fail_msg, fmt, ap);
  va_end(ap);
}

void put_pool_release(put_pool *p) {
  free(p->a);
  p->a = NULL;
  p->cap = 0;
  p->n = p->pos = 0;
}

/* Asks metad for `count` chunks (lock held). Fills out[0..count). 0 or an error (the
 * job is marked failed). */
static int alloc_locked(put_job *j, uint32_t count, chunk_alloc *out, const char *last_err) {
  Dfs__AllocReq req = DFS__ALLOC_REQ__INIT;
  req.count = count;
  req.replicas = j->replicas;
  req.upload_id = j->upload_id;
  req.n_exclude_servers = j->n_exclude;
  req.exclude_servers = j->exclude;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc;
  /* DFS_EBUSY: this user has limits.allocs_in_flight chunks allocated and not yet
   * written; ours land within a heartbeat or so, so wait for them rather than fail */
  for (unsigned waited_ms = 0, nap = 50;; waited_ms += nap, nap = nap < 800 ? nap * 2 : 800) {
    rc = meta_call(j->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_ALLOC, &req.base,
                   &dfs__alloc_rep__descriptor, &m, err, sizeof err);
    if (rc != DFS_EBUSY || waited_ms >= ALLOC_BUSY_WAIT_MS) break;
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    dfs_sleep_ms(nap);
  }
  Dfs__AllocRep *rep = (Dfs__AllocRep *)m;
  if (rc) {
    if (last_err && *last_err && rc != DFS_ECONN && rc != DFS_EAUTH)
      fail_locked(j, rc, 0, "no chunkserver left to retry on (%s; last write error: %s)", err,
                  last_err);
    else
      fail_locked(j, rc, 1, "%s", err);
    goto out;
  }
  if (rep->n_chunks != count) {
    rc = DFS_EPROTO;
    fail_locked(j, rc, 0, "metad returned %zu chunk allocations for %u requested",
                rep->n_chunks, count);
    goto out;
  }
  for (uint32_t i = 0; i < count; i++) {
    rc = chunk_alloc_copy(&out[i], rep->chunks[i]);
    if (rc) {
      if (last_err && *last_err && rep->chunks[i]->n_chain == 0)
        fail_locked(j, rc, 0, "no chunkserver left to retry on (last write error: %s)", last_err);
      else
        fail_locked(j, rc, 0, "metad returned an invalid chunk allocation");
      goto out;
    }
  }
out:
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* Next allocation for a chunk (first attempt: from the batch pool; retries: a fresh one
 * that avoids excluded servers). The caller owns *a afterwards. */
static int take_alloc(put_job *j, int retry, chunk_alloc *a, const char *last_err) {
  int rc = 0;
  pthread_mutex_lock(&j->lock);
  if (j->failed) { rc = DFS_EINTERNAL; goto out; }
  if (retry) {
    rc = alloc_locked(j, 1, a, last_err);
    goto out;
  }
  if (j->spool) {
    put_pool *p = j->spool;
    pthread_mutex_lock(&p->lock);
    if (p->pos == p->n) {
      uint64_t want = p->left > p->cap ? p->cap : p->left;
      if (want == 0) want = 1; /* files grew since they were listed */
      rc = alloc_locked(j, (uint32_t)want, p->a, NULL);
      if (rc == 0) {
        p->n = (size_t)want;
        p->pos = 0;
        p->left -= want < p->left ? want : p->left;
      }
    }
    if (rc == 0) {
      *a = p->a[p->pos++];
    }
    pthread_mutex_unlock(&p->lock);
    goto out;
  }
  if (j->pool_pos == j->pool_n) {
    uint64_t want = j->nchunks - j->batched;
    if (j->stream) want = PUT_STREAM_BATCH; /* more is probably coming */
    if (want > PUT_BATCH) want = PUT_BATCH;
    if (want == 0) want = 1; /* cannot happen: one batched allocation per index */
    if (!j->pool && !(j->pool = malloc(PUT_BATCH * sizeof *j->pool))) {
      rc = DFS_ENOMEM;
      fail_locked(j, rc, 0, "out of memory");
      goto out;
    }
    rc = alloc_locked(j, (uint32_t)want, j->pool, NULL);
    if (rc) goto out;
    j->pool_n = (size_t)want;
    j->pool_pos = 0;
    j->batched += want;
  }
  *a = j->pool[j->pool_pos++];
out:
  pthread_mutex_unlock(&j->lock);
  return rc;
}

static void exclude_server(put_job *j, uint64_t id) {
  pthread_mutex_lock(&j->lock);
  int dup = 0;
  for (size_t i = 0; i < j->n_exclude; i++) dup |= j->exclude[i] == id;
  if (!dup && j->n_exclude < sizeof j->exclude / sizeof j->exclude[0])
    j->exclude[j->n_exclude++] = id;
  pthread_mutex_unlock(&j->lock);
}

/* Stores buf[0..len) as chunk idx (allocation, write down the chain, retries on other
 * servers); returns 0 or marks the job failed. */
static int put_store(put_job *j, chunk_conns *cc, const uint8_t *buf, uint32_t len,
                     uint64_t idx) {
  int rc;
  uint32_t blocks[DFS_BLOCKS_PER_CHUNK];
  uint32_t crc = dfs_chunk_crcs(buf, len, blocks); /* one pass: block CRCs and whole CRC */
  uint64_t crc64 = crc64_ecma_refl(0, buf, len);
  char err[512] = "";
  for (int attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
    chunk_alloc a;
    rc = take_alloc(j, attempt > 0, &a, err);
    if (rc) return rc;
    uint64_t failed = 0;
    rc = chunk_write_alloc(cc, &a, buf, len, crc, crc64, blocks, &j->chunks[idx].w, &failed, err,
                           sizeof err);
    if (rc == 0) {
      cli_progress_add(j->prog, len);
      return 0;
    }
    exclude_server(j, failed);
  }
  pthread_mutex_lock(&j->lock);
  if (rc == DFS_ENOSPACE)
    fail_locked(j, rc, 0, "chunk %llu could not be stored: no space left on the chunkservers "
                "tried (last: %s); free space (dfs rm, dfs trash empty) or add chunkservers",
                (unsigned long long)idx, err);
  else
    fail_locked(j, rc, 0, "chunk %llu could not be stored after %d attempts (last: %s)",
                (unsigned long long)idx, PUT_ATTEMPTS, err);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

/* Reads chunk idx of the local file and stores it; returns 0 or marks the job failed. */
static int put_one(put_job *j, chunk_conns *cc, uint8_t *buf, uint64_t idx) {
  uint64_t off = idx * DFS_CHUNK_SIZE;
  uint32_t len = (uint32_t)(j->size - off < DFS_CHUNK_SIZE ? j->size - off : DFS_CHUNK_SIZE);
  int rc = dfs_pread_all(j->fd, buf, len, off); /* -ENODATA: the file shrank meanwhile */
  if (rc) {
    pthread_mutex_lock(&j->lock);
    fail_locked(j, DFS_EIO, 0, "%s: read failed at byte %llu: %s", j->local,
                (unsigned long long)off, rc == -ENODATA ? "file shrank during upload"
                                                        : strerror(-rc));
    pthread_mutex_unlock(&j->lock);
    return DFS_EIO;
  }
  return put_store(j, cc, buf, len, idx);
}

/* Pulls chunk indices until none is left or the job failed. */
static void put_loop(put_job *j, chunk_conns *cc, uint8_t *buf) {
  for (;;) {
    pthread_mutex_lock(&j->lock);
    if (j->failed || j->next_index >= j->nchunks) {
      pthread_mutex_unlock(&j->lock);
      break;
    }
    uint64_t idx = j->next_index++;
    pthread_mutex_unlock(&j->lock);
    if (j->chunks[idx].reuse) continue; /* unchanged: committed by reference */
    if (put_one(j, cc, buf, idx)) break;
  }
}

static void *put_worker(void *arg) {
  put_job *j = arg;
  chunk_conns cc;
  chunk_conns_init(&cc);
  uint8_t *buf = malloc(DFS_CHUNK_SIZE);
  if (!buf) {
    pthread_mutex_lock(&j->lock);
    fail_locked(j, DFS_ENOMEM, 0, "out of memory");
    pthread_mutex_unlock(&j->lock);
    return NULL;
  }
  put_loop(j, &cc, buf);
  free(buf);
  chunk_conns_close(&cc);
  return NULL;
}

/* Runs the chunk uploads of j: inline on the caller's connections and buffer when
 * parallel is 1 and cc is given (multi-file put), else on `parallel` threads. */
static void put_run(put_job *j, uint64_t parallel, chunk_conns *cc, uint8_t *buf) {
  if (!j->nchunks) return;
  if (parallel > j->nchunks) parallel = j->nchunks;
  if (parallel <= 1 && cc && buf) {
    put_loop(j, cc, buf);
    return;
  }
  pthread_t th[PUT_MAX_PARALLEL];
  size_t nth = 0;
  for (; nth < parallel && nth < PUT_MAX_PARALLEL; nth++) {
    if (pthread_create(&th[nth], NULL, put_worker, j) != 0) {
      pthread_mutex_lock(&j->lock);
      fail_locked(j, DFS_ENOMEM, 0, "cannot start worker threads");
      pthread_mutex_unlock(&j->lock);
      break;
    }
  }
  for (size_t i = 0; i < nth; i++) pthread_join(th[i], NULL);
}

static int commit(put_job *j, const char *remote, int overwrite, char *err, size_t errsz) {
  int rc = DFS_ENOMEM;
  Dfs__ChunkInfo *infos = calloc(j->nchunks ? j->nchunks : 1, sizeof *infos);
  Dfs__ChunkInfo **ptrs = calloc(j->nchunks ? j->nchunks : 1, sizeof *ptrs);
  if (!infos || !ptrs) { snprintf(err, errsz, "out of memory"); goto out; }
  for (uint64_t i = 0; i < j->nchunks; i++) {
    written_chunk_info(&j->chunks[i].w, &infos[i]);
    infos[i].reuse = j->chunks[i].reuse;
    ptrs[i] = &infos[i];
  }
  Dfs__CommitReq req = DFS__COMMIT_REQ__INIT;
  req.path = (char *)remote;
  req.size = j->size;
  req.replicas = j->replicas;
  req.mode = j->mode;
  req.overwrite = overwrite;
  req.request_id = dfs_random_u64();  /* the same id on the retry inside meta_call */
  req.n_chunks = j->nchunks;
  req.chunks = ptrs;
  ProtobufCMessage *m = NULL;
  rc = meta_call(j->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMMIT, &req.base,
                 &dfs__commit_rep__descriptor, &m, err, errsz);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
out:
  free(infos);
  free(ptrs);
  return rc;
}

/* An unchanged-chunk candidate of the file being replaced. */
typedef struct {
  uint64_t id, version, crc64;
  uint32_t len, crc;
} old_chunk;

static int old_by_crc64(const void *a, const void *b) {
  const old_chunk *x = a, *y = b;
  return x->crc64 < y->crc64 ? -1 : x->crc64 > y->crc64;
}

/* Fetches the chunk list of the file at remote (GetFile, in pages) into *out (caller
 * frees). 0 (n may be 0), or a negative DFS_E* (err filled). */
static int fetch_old_chunks(meta_client *mc, const char *remote, old_chunk **out, size_t *n,
                            char *err, size_t errsz) {
  old_chunk *v = NULL;
  size_t cnt = 0, cap = 0;
  uint64_t first = 0;
  for (;;) {
    Dfs__GetFileReq req = DFS__GET_FILE_REQ__INIT;
    req.path = (char *)remote;
    req.first_chunk = first;
    req.max_chunks = 4096;
    ProtobufCMessage *m = NULL;
    int rc = meta_call(mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &req.base,
                       &dfs__get_file_rep__descriptor, &m, err, errsz);
    if (rc) {
      if (m) protobuf_c_message_free_unpacked(m, NULL);
      free(v);
      return rc;
    }
    Dfs__GetFileRep *rep = (Dfs__GetFileRep *)m;
    uint64_t total = rep->entry ? rep->entry->chunks : 0;
    for (size_t i = 0; i < rep->n_chunks; i++) {
      {
        old_chunk *nv = dfs_grow(v, &cap, cnt + 1, sizeof *v, 64);
        if (!nv) {
          dfs__get_file_rep__free_unpacked(rep, NULL);
          free(v);
          snprintf(err, errsz, "out of memory");
          return DFS_ENOMEM;
        }
        v = nv;
      }
      const Dfs__ChunkLocation *c = rep->chunks[i];
      v[cnt++] = (old_chunk){c->chunk_id, c->version, c->crc64, c->length, c->crc32c};
    }
    size_t got = rep->n_chunks;
    dfs__get_file_rep__free_unpacked(rep, NULL);
    first += got;
    if (got == 0 || first >= total) break;
  }
  *out = v;
  *n = cnt;
  return 0;
}

/* Reads the local file once, computing each chunk's checksums, and marks as reuse the
 * chunks equal (length, CRC32C, CRC-64) to an old chunk: the one at the same index
 * first, else any (sorted by CRC-64, binary search). Returns the number of bytes left
 * to send, or UINT64_MAX after a read error (printed). */
static uint64_t plan_reuse(put_job *j, old_chunk *old, size_t nold, uint64_t *nreused) {
  uint8_t *buf = malloc(DFS_CHUNK_SIZE);
  old_chunk *sorted = malloc((nold ? nold : 1) * sizeof *sorted);
  uint64_t send = 0;
  *nreused = 0;
  if (!buf || !sorted) { cli_err("put", "out of memory"); send = UINT64_MAX; goto out; }
  if (nold) {
    memcpy(sorted, old, nold * sizeof *old);
    qsort(sorted, nold, sizeof *sorted, old_by_crc64);
  }
  for (uint64_t i = 0; i < j->nchunks; i++) {
    uint64_t off = i * DFS_CHUNK_SIZE;
    uint32_t len = (uint32_t)(j->size - off < DFS_CHUNK_SIZE ? j->size - off : DFS_CHUNK_SIZE);
    int rc = dfs_pread_all(j->fd, buf, len, off); /* -ENODATA: the file shrank meanwhile */
    if (rc) {
      cli_err("put", "%s: read failed at byte %llu: %s", j->local, (unsigned long long)off,
              rc == -ENODATA ? "file shrank during upload" : strerror(-rc));
      send = UINT64_MAX;
      goto out;
    }
    uint32_t crc = dfs_crc32c(0, buf, len);
    uint64_t c64 = crc64_ecma_refl(0, buf, len);
    const old_chunk *hit = NULL;
    if (i < nold && old[i].crc64 == c64 && old[i].len == len && old[i].crc == crc) hit = &old[i];
    if (!hit && c64) {
      old_chunk key = {0, 0, c64, 0, 0};
      const old_chunk *f = bsearch(&key, sorted, nold, sizeof *sorted, old_by_crc64);
      while (f && f > sorted && f[-1].crc64 == c64) f--;
      for (; f && f < sorted + nold && f->crc64 == c64; f++)
        if (f->len == len && f->crc == crc) { hit = f; break; }
    }
    put_chunk *pc = &j->chunks[i];
    if (hit && c64) {
      pc->w.id = hit->id;
      pc->w.version = hit->version;
      pc->w.len = len;
      pc->w.crc32c = crc;
      pc->w.crc64 = c64;
      pc->reuse = 1;
      ++*nreused;
    } else {
      send += len;
    }
  }
out:
  free(buf);
  free(sorted);
  return send;
}

/* What is at remote now: --no-clobber refuses before uploading (the commit refuses too,
 * atomically); a replaced file keeps its permission bits unless --mode is given
 * (*existing_mode: its bits, left alone if there is no file). Returns 0, or CLI_FAIL
 * after printing why. */
int put_remote_existing(meta_client *mc, const char *remote, int no_clobber,
                           uint32_t *existing_mode) {
  char err[768];
  Dfs__StatReq sreq = DFS__STAT_REQ__INIT;
  sreq.path = (char *)remote;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &sreq.base,
                     &dfs__stat_rep__descriptor, &m, err, sizeof err);
  const Dfs__Entry *e = rc == 0 ? ((Dfs__StatRep *)m)->entry : NULL;
  if (e && e->type != DFS__ENTRY_TYPE__ENTRY_DIR) *existing_mode = e->mode & 0777;
  int is_dir = e && e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == 0 && no_clobber) {
    cli_err("put", "%s: already exists (--no-clobber given; drop it to replace the file)", remote);
    return CLI_FAIL;
  }
  if (is_dir) {
    cli_err("put", "%s: is a directory on the cluster (give a file name, or remove it)", remote);
    return CLI_FAIL;
  }
  /* Without --no-clobber only a failure to talk to metad at all stops us here. */
  if (rc && rc != DFS_ENOENT &&
      (no_clobber || rc == DFS_ECONN || rc == DFS_EAUTH || rc == DFS_ETIMEDOUT)) {
    meta_report_path(mc, "put", remote, rc, err);
    return CLI_FAIL;
  }
  return 0;
}

/* Uploads the open local file fd (size bytes) to the resolved path remote and commits
 * it (update with chunk reuse when a file is there: existing_mode != UINT32_MAX).
 * parallel: chunk workers; with parallel 1 and cc/buf given, the caller's thread,
 * connections and 1 MiB buffer do the work. shared: a multi-file put's progress bar
 * (NULL: own bar and a summary line); spool: its shared allocations (or NULL). *sent:
 * bytes actually sent. Returns CLI_OK, or
 * CLI_FAIL after printing one line naming the file. */
/* One warning per process when chunks were stored on fewer servers than the goal (a
 * goal above the number of live chunkservers): the put succeeded, the file is
 * under-replicated until more chunkservers join. */
static void warn_short_chain(const put_job *j, const char *remote, int quiet) {
  static int warned; /* a multi-file put warns once */
  size_t fewest = SIZE_MAX;
  for (uint64_t i = 0; i < j->nchunks; i++)
    if (!j->chunks[i].reuse && j->chunks[i].w.n_servers < fewest) fewest = j->chunks[i].w.n_servers;
  if (quiet || fewest == SIZE_MAX || fewest >= j->replicas ||
      __atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
    return;
  cli_err("put", "warning: %s has %zu of its %u replicas: fewer chunkservers could take it; "
          "metad adds copies when more join (see 'dfs info %s')", remote, fewest, j->replicas,
          remote);
}

int put_upload(meta_client *mc, const put_opts *o, const char *local, int fd,
                      uint64_t size, const char *remote, uint32_t existing_mode,
                      uint64_t parallel, chunk_conns *cc, uint8_t *buf, cli_progress *shared,
                      put_pool *spool, uint64_t *sent) {
  char err[768];
  int rc;
  put_job j;
  put_job_init(&j);
  j.fd = fd;
  j.local = local;
  j.mc = mc;
  j.replicas = o->replicas;
  j.upload_id = dfs_random_u64() | 1;
  j.mode = o->mode;
  j.size = size;
  j.nchunks = (size + DFS_CHUNK_SIZE - 1) / DFS_CHUNK_SIZE;
  j.prog = shared ? shared : &j.own_prog;
  j.spool = spool;
  pthread_mutex_init(&j.lock, NULL);
  int ret = CLI_FAIL, prog_on = 0;
  if (!o->mode_given && existing_mode != UINT32_MAX) j.mode = existing_mode;

  j.chunks = calloc(j.nchunks ? j.nchunks : 1, sizeof *j.chunks);
  if (!j.chunks) { cli_err("put", "out of memory for %llu chunks", (unsigned long long)j.nchunks); goto out; }
  /* Update: reuse the unchanged chunks of the file being replaced. */
  uint64_t t0 = dfs_now_ms(); /* the summary's time includes checksumming for reuse */
  uint64_t to_send = j.size, nreused = 0;
  int replacing = existing_mode != UINT32_MAX;
  if (replacing && j.nchunks) {
    old_chunk *old = NULL;
    size_t nold = 0;
    rc = fetch_old_chunks(mc, remote, &old, &nold, err, sizeof err);
    if (rc == 0) {
      to_send = plan_reuse(&j, old, nold, &nreused);
      free(old);
      if (to_send == UINT64_MAX) goto out;
      if (shared) cli_progress_add(shared, j.size - to_send);
    } else if (rc == DFS_ECONN || rc == DFS_EAUTH) {
      meta_report_path(mc, "put", remote, rc, err);
      goto out;
    } /* else (gone, a permission problem): upload everything; the commit decides */
  }
  if (!shared) {
    cli_progress_init(&j.own_prog, local, to_send, o->quiet);
    prog_on = 1;
  }
  put_run(&j, parallel, cc, buf);
  if (prog_on) cli_progress_finish(&j.own_prog);
  prog_on = 0;
  if (j.failed) {
    if (j.fail_meta) meta_report_path(mc, "put", remote, j.fail_rc, j.fail_msg);
    else cli_err("put", "%s -> %s: %s", local, remote, j.fail_msg);
    goto out;
  }
  rc = commit(&j, remote, !o->no_clobber, err, sizeof err);
  if (rc && nreused && strstr(err, "cannot be reused")) {
    /* The old file changed under us: send everything and commit again. */
    for (uint64_t i = 0; i < j.nchunks; i++) j.chunks[i].reuse = 0;
    j.next_index = 0;
    nreused = 0;
    to_send = j.size;
    put_run(&j, parallel, cc, buf);
    if (j.failed) {
      cli_err("put", "%s -> %s: %s", local, remote, j.fail_msg);
      goto out;
    }
    rc = commit(&j, remote, !o->no_clobber, err, sizeof err);
  }
  if (rc == DFS_EEXIST && o->no_clobber) {
    cli_err("put", "%s: already exists (--no-clobber given; drop it to replace the file)", remote);
    goto out;
  }
  if (rc) {
    if (rc == DFS_EAUTH)
      meta_report(mc, "put", rc, err);
    else if (rc == DFS_ECONN || rc == DFS_ETIMEDOUT || rc == DFS_EUNAVAIL)
      cli_err("put", "%s: metad %s did not confirm the commit (%s); the file may or may not "
              "be there: check with 'dfs stat %s'", remote, mc->addr, err, remote);
    else if (strstr(err, remote)) cli_err("put", "%s", err);
    else cli_err("put", "%s: %s", remote, err);
    goto out;
  }
  /* metad keeps a replaced file's mode: an explicit --mode is applied afterwards. */
  if (o->mode_given && existing_mode != UINT32_MAX && existing_mode != j.mode) {
    Dfs__ChmodReq creq = DFS__CHMOD_REQ__INIT;
    creq.path = (char *)remote;
    creq.mode = j.mode;
    creq.request_id = dfs_random_u64();
    ProtobufCMessage *m = NULL;
    rc = meta_call(mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD, &creq.base,
                   &dfs__chmod_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc) {
      cli_err("put", "%s: uploaded, but --mode could not be applied: %s", remote, err);
      goto out;
    }
  }
  *sent = to_send;
  warn_short_chain(&j, remote, o->quiet);
  if (!shared) {
    /* The rate is of the bytes actually sent (all of them for a new file). */
    cli_summary("put", local, remote, to_send, (double)(dfs_now_ms() - t0) / 1000.0);
    if (replacing && !o->quiet) {
      char a[32], b[32];
      printf("replaced %s: sent %s of %s (%llu chunk%s unchanged)\n", remote,
             dfs_human_size(to_send, a, sizeof a), dfs_human_size(j.size, b, sizeof b),
             (unsigned long long)nreused, nreused == 1 ? "" : "s");
    }
  }
  ret = CLI_OK;
out:
  if (prog_on) cli_progress_finish(&j.own_prog);
  free(j.pool);
  free(j.chunks);
  pthread_mutex_destroy(&j.lock);
  return ret;
}

/* Reads up to len bytes from a pipe or terminal, stopping early only at end of input.
 * Returns the count, or -errno. */
static ssize_t read_stream(int fd, uint8_t *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* `dfs put - REMOTE`: uploads standard input, whose size is not known before its end.
 * Each 1 MiB read is stored at once (the upload id keeps the stored chunks from the
 * garbage collector however long the input takes), and the file is committed when the
 * input ends: nothing is visible before, and a failure leaves nothing. */
int put_stream(meta_client *mc, const put_opts *o, int fd, const char *remote,
               uint32_t existing_mode) {
  char err[768];
  put_job j;
  put_job_init(&j);
  j.fd = fd;
  j.local = "standard input";
  j.mc = mc;
  j.replicas = o->replicas;
  j.upload_id = dfs_random_u64() | 1;
  j.stream = 1;
  j.mode = o->mode_given || existing_mode == UINT32_MAX ? o->mode : existing_mode;
  j.prog = &j.own_prog;
  pthread_mutex_init(&j.lock, NULL);
  cli_progress_init(&j.own_prog, "standard input", 0, 1); /* unknown total: no bar */
  chunk_conns cc;
  chunk_conns_init(&cc);
  uint8_t *buf = malloc(DFS_CHUNK_SIZE);
  uint64_t cap = 0, t0 = dfs_now_ms();
  int ret = CLI_FAIL;
  if (!buf) { cli_err("put", "out of memory"); goto out; }
  for (;;) {
    ssize_t got = read_stream(fd, buf, DFS_CHUNK_SIZE);
    if (got < 0) {
      cli_err("put", "reading standard input after %llu bytes: %s (nothing was stored at %s)",
              (unsigned long long)j.size, strerror((int)-got), remote);
      goto out;
    }
    if (got == 0) break;
    if (j.nchunks == cap) {
      size_t old = cap;
      put_chunk *n = dfs_grow(j.chunks, &cap, j.nchunks + 1, sizeof *n, 64);
      if (!n) { cli_err("put", "out of memory after %llu chunks", (unsigned long long)old); goto out; }
      memset(n + old, 0, (cap - old) * sizeof *n);
      j.chunks = n;
    }
    uint64_t idx = j.nchunks++;
    j.size += (uint64_t)got;
    if (put_store(&j, &cc, buf, (uint32_t)got, idx)) break;
    if (got < DFS_CHUNK_SIZE) break; /* end of input inside this chunk */
  }
  if (j.failed) {
    if (j.fail_meta) meta_report_path(mc, "put", remote, j.fail_rc, j.fail_msg);
    else cli_err("put", "standard input -> %s: %s", remote, j.fail_msg);
    goto out;
  }
  int rc = commit(&j, remote, !o->no_clobber, err, sizeof err);
  if (rc == DFS_EEXIST && o->no_clobber) {
    cli_err("put", "%s: already exists (--no-clobber given; drop it to replace the file)", remote);
    goto out;
  }
  if (rc) {
    if (rc == DFS_ECONN || rc == DFS_ETIMEDOUT || rc == DFS_EUNAVAIL)
      cli_err("put", "%s: metad %s did not confirm the commit (%s); the file may or may not "
              "be there: check with 'dfs stat %s'", remote, mc->addr, err, remote);
    else meta_report_path(mc, "put", remote, rc, err);
    goto out;
  }
  warn_short_chain(&j, remote, o->quiet);
  cli_summary("put", "standard input", remote, j.size, (double)(dfs_now_ms() - t0) / 1000.0);
  ret = CLI_OK;
out:
  free(j.pool);
  free(buf);
  chunk_conns_close(&cc);
  free(j.chunks);
  pthread_mutex_destroy(&j.lock);
  return ret;
}

/* Opens local for reading; checks it is a regular file. fd >= 0 and *size, or -1 after
 * printing why. */
int put_open_local(const char *local, uint64_t *size) {
  int fd = open(local, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    cli_err("put", "%s: %s", local, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  if (S_ISDIR(st.st_mode)) { /* the same words as get's and cp's */
    cli_err("put", "%s is a directory: use -r to copy it recursively", local);
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    cli_err("put", "%s: not a regular file", local);
    close(fd);
    return -1;
  }
  *size = (uint64_t)st.st_size;
  return fd;
}
