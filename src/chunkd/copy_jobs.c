/* Copy-job executor (see copy_jobs.h, docs/internals.md "Copy jobs").
 *
 * One job: WAIT (timer: the token bucket's start time) -> FETCH (ReadChunk to
 * sources[cur] on a connection of its own) -> STORE (thread pool: block CRCs, whole-CRC
 * check, chunk_store_write) -> result. A fetch error, a short reply or a CRC mismatch
 * moves on to the next source (through WAIT again, since the bytes were spent); a store
 * error or the last source failing ends the job with that error.
 * Token bucket: a job of L bytes may start at next_ms, and moves next_ms on by
 * L / rate; so over any interval the copies read at most rate bytes/s plus one chunk.
 * Invariants: (1) every job is on cj->jobs from add until copy_jobs_free or its end;
 * (2) `running` = jobs on the list that have not ended; (3) a job holds one reference
 * on its conn while a call is outstanding. */
#include "chunkd/copy_jobs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_chunk.pb-c.h"
#include "common.pb-c.h"
#include "common/array.h"
#include "common/cap.h"
#include "common/conn.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"

struct job {
  struct job *next;
  copy_jobs *cj;
  uint64_t job_id, chunk_id, version;
  uint32_t length, crc;
  size_t nsrc, cur;
  char (*hosts)[256];
  int *ports;
  uint8_t (*caps)[DFS_CAP_READ_LEN]; /* per source: a read capability bound to it */
  uint8_t *caplen;                   /* per source: DFS_CAP_READ_LEN or 0 (none) */
  uv_timer_t timer;
  int timer_closed, ended, in_work;
  dfs_conn *conn;
  dfs_msg reply; /* the fetched bytes (reply.bulk), kept until stored */
  uv_work_t work;
  int rc;
  char why[200];
  uint64_t start_ms;
};

struct copy_jobs {
  chunkd_state *st;
  unsigned max;
  uint64_t rate;
  void (*ended)(void *ud);
  void *ud;
  unsigned running;
  int stopping;
  uint64_t next_ms; /* token bucket: when the next job may start reading */
  uint64_t bytes;
  struct job *jobs;
  copy_result *res;
  size_t nres, capres;
};

static void job_fetch(struct job *j);
static void job_close_timer(struct job *j);
static void on_wait(uv_timer_t *t) { job_fetch(t->data); }

static void push_result(copy_jobs *cj, uint64_t job_id, uint64_t chunk_id, int err, uint64_t bytes,
                        const char *msg) {
  copy_result *n = dfs_grow(cj->res, &cj->capres, cj->nres + 1, sizeof *n, 8);
  if (!n) {
    LOG_WARN("out of memory for the result of copy job %" PRIu64 " (metad times it out)",
             job_id);
    return;
  }
  cj->res = n;
  copy_result *r = &cj->res[cj->nres++];
  r->job_id = job_id;
  r->chunk_id = chunk_id;
  r->error = err;
  r->bytes = bytes;
  snprintf(r->message, sizeof r->message, "%s", msg ? msg : "");
}

static void job_timer_closed(uv_handle_t *h) {
  struct job *j = h->data;
  j->timer_closed = 1;
}

/* Lets go of the current source: its reply buffer and its connection. */
static void job_drop_source(struct job *j) {
  dfs_msg_free(&j->reply);
  if (j->conn) {
    dfs_conn *c = j->conn;
    j->conn = NULL;
    dfs_conn_close(c);
    dfs_conn_unref(c);
  }
}

/* Ends job j: result (unless stopping), log, free its buffers, tell the meta link. The
 * job struct stays on the list until copy_jobs_free or the timer close is done. */
static void job_end(struct job *j, int err, const char *why) {
  copy_jobs *cj = j->cj;
  if (j->ended) return;
  j->ended = 1;
  cj->running--;
  job_drop_source(j);
  job_close_timer(j);
  if (cj->stopping) return;
  uint64_t ms = dfs_now_ms() - j->start_ms;
  if (err == 0) {
    uint64_t bytes = j->rc == 1 ? 0 : j->length;
    cj->bytes += bytes;
    if (bytes)
      LOG_INFO("copy job %" PRIu64 ": chunk %016" PRIx64 ".%" PRIu64 " (%u bytes) copied from "
               "%s:%d in %" PRIu64 " ms",
               j->job_id, j->chunk_id, j->version, j->length, j->hosts[j->cur], j->ports[j->cur],
               ms);
    else
      LOG_INFO("copy job %" PRIu64 ": chunk %016" PRIx64 ".%" PRIu64 " already stored here",
               j->job_id, j->chunk_id, j->version);
    push_result(cj, j->job_id, j->chunk_id, 0, bytes, NULL);
  } else {
    LOG_WARN("copy job %" PRIu64 " for chunk %016" PRIx64 ".%" PRIu64 " failed: %s", j->job_id,
             j->chunk_id, j->version, why);
    push_result(cj, j->job_id, j->chunk_id, err, 0, why);
  }
  if (cj->ended) cj->ended(cj->ud);
}

/* Waits for the token bucket, then fetches from sources[cur]. */
static void job_wait(struct job *j) {
  copy_jobs *cj = j->cj;
  uv_update_time(cj->st->loop); /* timers count from the loop's clock */
  uint64_t now = uv_now(cj->st->loop), at = now;
  if (cj->rate) {
    if (cj->next_ms > at) at = cj->next_ms;
    cj->next_ms = at + (uint64_t)j->length * 1000 / cj->rate;
  }
  uv_timer_start(&j->timer, on_wait, at - now, 0);
}

/* A source failed: try the next one, or end with the last error. */
static void job_source_failed(struct job *j, int err, const char *why) {
  LOG_INFO("copy job %" PRIu64 ": source %s:%d failed: %s", j->job_id, j->hosts[j->cur],
           j->ports[j->cur], why);
  job_drop_source(j);
  if (++j->cur < j->nsrc && !j->cj->stopping) {
    job_wait(j);
    return;
  }
  char msg[200];
  snprintf(msg, sizeof msg, "no source could supply the chunk (last: %s)", why);
  j->cur = j->nsrc - 1;
  job_end(j, err, msg);
}

static void store_run(uv_work_t *w) {
  struct job *j = w->data;
  uint32_t blocks[DFS_BLOCKS_PER_CHUNK];
  const uint8_t *p = j->reply.bulk;
  for (uint32_t off = 0, b = 0; off < j->length; off += DFS_BLOCK_SIZE, b++) {
    uint32_t n = j->length - off < DFS_BLOCK_SIZE ? j->length - off : DFS_BLOCK_SIZE;
    blocks[b] = dfs_crc32c(0, p + off, n);
  }
  uint32_t crc = dfs_crc32c_from_blocks(blocks, j->length);
  if (crc != j->crc) {
    j->rc = DFS_ECHECKSUM;
    snprintf(j->why, sizeof j->why, "source sent bytes with CRC32C %08x, the chunk has %08x", crc,
             j->crc);
    return;
  }
  j->rc = chunk_store_write(j->cj->st->store, j->chunk_id, j->version, p, j->length, crc, blocks);
  if (j->rc)
    snprintf(j->why, sizeof j->why, "cannot store the copy here: %s",
             j->rc == DFS_ENOSPACE ? "this chunkserver is full"
             : j->rc == DFS_EBUSY  ? "a delete of this chunk metad ordered is in progress"
                                   : dfs_strerror(j->rc));
}

static void store_done(uv_work_t *w, int status) {
  struct job *j = w->data;
  copy_jobs *cj = j->cj;
  chunkd_work_done(cj->st);
  j->in_work = 0;
  dfs_msg_free(&j->reply);
  if (status < 0 && !j->rc) j->rc = DFS_EINTERNAL;
  if (cj->stopping) {
    job_end(j, DFS_EUNAVAIL, "stopping");
    return;
  }
  if (j->rc == DFS_ECHECKSUM)
    job_source_failed(j, j->rc, j->why);
  else
    job_end(j, j->rc, j->why);
}

static void fetch_reply(dfs_conn *c, int status, dfs_msg *m, void *ud) {
  struct job *j = ud;
  char why[200] = "";
  int rc = status;
  Dfs__ReadChunkRep *r = NULL;
  if (c != j->conn || j->ended) goto out; /* stale */
  if (j->cj->stopping) {
    job_end(j, DFS_EUNAVAIL, "stopping");
    goto out;
  }
  if (rc) {
    snprintf(why, sizeof why, "%s", dfs_strerror(rc == DFS_ECLOSED ? DFS_ECONN : rc));
  } else if (m->hdr.type == DFS__MSG_TYPE__MSG_ERROR) {
    Dfs__ErrorReply *e = dfs__error_reply__unpack(NULL, m->hdr.payload_len, m->payload);
    rc = e && e->status && e->status->error < 0 ? e->status->error : DFS_EPROTO;
    snprintf(why, sizeof why, "%s", e && e->status && e->status->message ? e->status->message
                                                                         : dfs_strerror(rc));
    if (e) dfs__error_reply__free_unpacked(e, NULL);
  } else if (m->hdr.type != DFS__MSG_TYPE__MSG_CHUNK_TO_CLIENT_READ ||
             !(r = dfs__read_chunk_rep__unpack(NULL, m->hdr.payload_len, m->payload))) {
    rc = DFS_EPROTO;
    snprintf(why, sizeof why, "bad reply (type %u)", m->hdr.type);
  } else if (r->status && r->status->error) {
    rc = r->status->error < 0 ? r->status->error : DFS_EPROTO;
    snprintf(why, sizeof why, "%s",
             r->status->message && r->status->message[0] ? r->status->message : dfs_strerror(rc));
  } else if (r->length != j->length || m->hdr.bulk_len != j->length) {
    rc = DFS_ECHECKSUM;
    snprintf(why, sizeof why, "sent %u bytes (%u announced), the chunk has %u", m->hdr.bulk_len,
             r->length, j->length);
  }
  if (rc) {
    job_source_failed(j, rc, why);
    goto out;
  }
  /* the bytes stay in the message until stored */
  j->reply = *m;
  m->buf = NULL;
  dfs_conn *cc = j->conn;
  j->conn = NULL;
  dfs_conn_close(cc);
  dfs_conn_unref(cc);
  j->rc = 0;
  j->work.data = j;
  j->in_work = 1;
  if (chunkd_queue_work(j->cj->st, &j->work, store_run, store_done) < 0) {
    j->in_work = 0;
    job_end(j, DFS_EINTERNAL, "cannot queue the disk write");
  }
out:
  if (r) dfs__read_chunk_rep__free_unpacked(r, NULL);
  if (m) dfs_msg_free(m);
}

static void job_fetch(struct job *j) {
  copy_jobs *cj = j->cj;
  if (cj->stopping) {
    job_end(j, DFS_EUNAVAIL, "stopping");
    return;
  }
  dfs_conn_opts o = {.limits = {DFS_MAX_PAYLOAD, DFS_MAX_BULK}, .tls = cj->st->tls_client};
  j->conn = dfs_conn_connect(cj->st->loop, j->hosts[j->cur], j->ports[j->cur], &o, NULL, NULL);
  if (!j->conn) {
    job_source_failed(j, DFS_ENOMEM, "out of memory");
    return;
  }
  dfs_conn_ref(j->conn);
  Dfs__ReadChunkReq req = DFS__READ_CHUNK_REQ__INIT;
  req.capability.data = j->caps[j->cur];
  req.capability.len = j->caplen[j->cur];
  req.chunk_id = j->chunk_id;
  req.version = j->version;
  int rc = dfs_conn_call(j->conn, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, &req.base, NULL, 0,
                         NULL, NULL, cj->st->chain_timeout_ms, fetch_reply, j);
  if (rc) job_source_failed(j, rc == DFS_ECLOSED ? DFS_ECONN : rc, dfs_strerror(rc));
}

/* ---- public --------------------------------------------------------------------- */

int copy_jobs_start(chunkd_state *st, unsigned max_concurrent, uint64_t max_bytes_per_s,
                    void (*ended)(void *ud), void *ud, copy_jobs **out) {
  copy_jobs *cj = calloc(1, sizeof *cj);
  if (!cj) return DFS_ENOMEM;
  cj->st = st;
  cj->max = max_concurrent ? max_concurrent : 1;
  cj->rate = max_bytes_per_s;
  cj->ended = ended;
  cj->ud = ud;
  *out = cj;
  return 0;
}

unsigned copy_jobs_running(const copy_jobs *cj) { return cj->running; }
unsigned copy_jobs_slots_free(const copy_jobs *cj) {
  return cj->stopping || cj->running >= cj->max ? 0 : cj->max - cj->running;
}
uint64_t copy_jobs_bytes_copied(const copy_jobs *cj) { return cj->bytes; }

/* Frees jobs that have ended and whose timer is closed. */
static void reap(copy_jobs *cj) {
  for (struct job **pp = &cj->jobs; *pp;) {
    struct job *j = *pp;
    if (j->ended && j->timer_closed) {
      *pp = j->next;
      free(j->hosts);
      free(j->ports);
      free(j->caps);
      free(j->caplen);
      free(j);
    } else {
      pp = &j->next;
    }
  }
}

static void job_close_timer(struct job *j) {
  if (!uv_is_closing((uv_handle_t *)&j->timer)) uv_close((uv_handle_t *)&j->timer, job_timer_closed);
}

void copy_jobs_add(copy_jobs *cj, const Dfs__CopyJob *job) {
  reap(cj);
  const char *bad = NULL;
  if (cj->stopping) bad = "chunkd is stopping";
  else if (cj->running >= cj->max) bad = "no free copy slot on this chunkserver";
  else if (job->version == 0 || job->length > DFS_CHUNK_SIZE || job->n_sources == 0)
    bad = "bad copy job (version 0, length over a chunk or no source)";
  if (bad) {
    LOG_WARN("copy job %" PRIu64 " refused: %s", job->job_id, bad);
    push_result(cj, job->job_id, job->chunk_id, cj->running >= cj->max ? DFS_EBUSY : DFS_EINVAL, 0,
                bad);
    if (cj->ended) cj->ended(cj->ud);
    return;
  }
  struct job *j = calloc(1, sizeof *j);
  if (j) {
    j->hosts = calloc(job->n_sources, sizeof *j->hosts);
    j->ports = calloc(job->n_sources, sizeof *j->ports);
    j->caps = calloc(job->n_sources, sizeof *j->caps);
    j->caplen = calloc(job->n_sources, sizeof *j->caplen);
  }
  if (!j || !j->hosts || !j->ports || !j->caps || !j->caplen) {
    if (j) {
      free(j->hosts);
      free(j->ports);
      free(j->caps);
      free(j->caplen);
      free(j);
    }
    push_result(cj, job->job_id, job->chunk_id, DFS_ENOMEM, 0, "out of memory");
    if (cj->ended) cj->ended(cj->ud);
    return;
  }
  j->cj = cj;
  j->job_id = job->job_id;
  j->chunk_id = job->chunk_id;
  j->version = job->version;
  j->length = job->length;
  j->crc = job->crc32c;
  j->nsrc = job->n_sources;
  for (size_t i = 0; i < j->nsrc; i++) {
    snprintf(j->hosts[i], sizeof j->hosts[i], "%s",
             job->sources[i]->host ? job->sources[i]->host : "");
    j->ports[i] = (int)job->sources[i]->port;
    /* each source has its own capability (a read capability names one server); one of
     * another size is not metad's: sent as none, and that source refuses clearly */
    const ProtobufCBinaryData *cap = &job->sources[i]->capability;
    if (cap->len == DFS_CAP_READ_LEN) {
      memcpy(j->caps[i], cap->data, DFS_CAP_READ_LEN);
      j->caplen[i] = DFS_CAP_READ_LEN;
    }
  }
  j->start_ms = dfs_now_ms();
  uv_timer_init(cj->st->loop, &j->timer);
  j->timer.data = j;
  j->next = cj->jobs;
  cj->jobs = j;
  cj->running++;
  /* idempotent: the same id+version+crc already here counts as success, unless metad
   * ordered this replica deleted and the delete has not run yet (it is on its way out) */
  chunk_info ci;
  int have = chunk_store_lookup_kept(cj->st->store, j->chunk_id, &ci);
  if (have == DFS_EBUSY && ci.version == j->version) {
    job_end(j, DFS_EBUSY, "a delete of this chunk metad ordered is still in progress here; "
                          "copy it to another server");
    return;
  }
  if (have == 0 && ci.version == j->version && ci.crc == j->crc && ci.length == j->length) {
    chunk_store_mark_fresh(cj->st->store, j->chunk_id);
    j->rc = 1;
    job_end(j, 0, NULL);
    return;
  }
  job_wait(j);
}

void copy_jobs_take_results(copy_jobs *cj, copy_result **out, size_t *n) {
  reap(cj);
  *out = cj->res;
  *n = cj->nres;
  cj->res = NULL;
  cj->nres = cj->capres = 0;
}

void copy_jobs_stop(copy_jobs *cj) {
  if (cj->stopping) return;
  cj->stopping = 1;
  for (struct job *j = cj->jobs; j; j = j->next) {
    if (!j->ended && !j->in_work) job_end(j, DFS_EUNAVAIL, "stopping");
  }
}

void copy_jobs_free(copy_jobs *cj) {
  if (!cj) return;
  for (struct job *j = cj->jobs, *n; j; j = n) {
    n = j->next;
    dfs_msg_free(&j->reply);
    free(j->hosts);
    free(j->ports);
    free(j->caps);
    free(j->caplen);
    free(j);
  }
  free(cj->res);
  free(cj);
}
