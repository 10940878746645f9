/* WriteChunk / ReadChunk service of chunkd (see data_server.h and docs/internals.md).
 *
 * A write, once validated, runs two legs at the same time on the received buffer (no
 * copy): the disk leg (chunk_store_write on the thread pool; a chunk small enough to be
 * packed is appended on the loop thread and waits for the pack syncer's flush,
 * pack_sync.h) and, if the chain is not
 * empty, the forward leg (dfs_conn_call to chain[0] with chain[1..]; the bulk is the
 * same buffer). The op counts its outstanding legs in `pending`:
 *   1 (setup) + 1 (disk) [+ 1 (forward reply) + 1 (forward bulk released)]
 * and replies and frees everything when it drops to 0.
 * With a cluster secret, a write is forwarded only along the chain its capability signs
 * (metad's choice of registered chunkservers): checked in on_payload before the chunk's
 * bytes are read, and again in handle_write; nothing a client typed is ever dialled.
 * Invariants: (1) a write op owns its dfs_msg until pending == 0; (2) st->load equals the
 * number of live ops (reads + writes); (3) cached downstream conns hold one reference
 * each, dropped when they are evicted or the server stops. */
#include "chunkd/data_server.h"

#include "chunkd/pack_sync.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_chunk.pb-c.h"
#include "common.pb-c.h"
#include "common/conn.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_CHAIN 16
#define MAX_DOWNSTREAM 64           /* cached downstream connections */
#define MAX_REQ_PAYLOAD (64u << 10) /* a WriteChunkReq with 16 chain entries is < 2 KiB */
#define MAX_HOST 256

struct downstream {
  struct downstream *next;
  char host[MAX_HOST];
  int port;
  dfs_conn *conn; /* our reference */
};

struct data_server {
  chunkd_state *st;
  dfs_server *srv;
  struct downstream *down; /* most recently used first */
  unsigned inflight;
  int stopping;
  void (*drained)(void *ud);
  void *drained_ud;
};

typedef void (*req_handler)(data_server *ds, dfs_conn *c, dfs_msg *m);
static void handle_write(data_server *ds, dfs_conn *c, dfs_msg *m);
static void handle_read(data_server *ds, dfs_conn *c, dfs_msg *m);

/* What a client or upstream chunkserver may send on this link. Everything else is
 * answered with MSG_ERROR (DFS_EPROTO) and the connection stays up. */
static const struct {
  uint16_t type;
  req_handler fn;
} client_link_table[] = {
    {DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_WRITE, handle_write},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ, handle_read},
};

/* ---- op accounting -------------------------------------------------------------- */

static void op_begin(data_server *ds) {
  ds->inflight++;
  ds->st->load++;
}

static void op_end(data_server *ds) {
  ds->inflight--;
  ds->st->load--;
  if (ds->stopping && ds->inflight == 0 && ds->drained) {
    void (*cb)(void *) = ds->drained;
    ds->drained = NULL;
    cb(ds->drained_ud);
  }
}

unsigned data_server_inflight(const data_server *ds) { return ds->inflight; }

/* Replies with a WriteChunkRep carrying only an error status. */
static void reply_write_err(dfs_conn *c, const dfs_frame_hdr *h, int err, const char *why,
                            uint64_t failed) {
  Dfs__Status s = DFS__STATUS__INIT;
  DFS_STATUS_INIT_ERR(s, err, why);
  Dfs__WriteChunkRep rep = DFS__WRITE_CHUNK_REP__INIT;
  rep.status = &s;
  rep.failed_server = failed;
  dfs_conn_reply(c, h, &rep.base, NULL, 0, NULL, NULL);
}

static void reply_read_err(dfs_conn *c, const dfs_frame_hdr *h, int err, const char *why) {
  Dfs__Status s = DFS__STATUS__INIT;
  DFS_STATUS_INIT_ERR(s, err, why);
  Dfs__ReadChunkRep rep = DFS__READ_CHUNK_REP__INIT;
  rep.status = &s;
  dfs_conn_reply(c, h, &rep.base, NULL, 0, NULL, NULL);
}

/* 0 if r may be stored here and forwarded along its chain; else DFS_EINVAL/DFS_EPERM and
 * why. Always: at most MAX_CHAIN well-formed entries, never this server, never one
 * server twice. With a cluster secret: the write capability signs exactly this chain
 * with this server just before it (cap.h), so chunkd dials only addresses metad chose. */
static int write_chain_ok(const data_server *ds, const Dfs__WriteChunkReq *r, char *why,
                          size_t whysz) {
  uint64_t self = ds->st->server_id;
  if (r->n_chain > MAX_CHAIN) {
    snprintf(why, whysz, "chain of %zu servers (at most %d)", r->n_chain, MAX_CHAIN);
    return DFS_EINVAL;
  }
  dfs_cap_server down[MAX_CHAIN];
  for (size_t i = 0; i < r->n_chain; i++) {
    const Dfs__ServerAddr *a = r->chain[i];
    if (!a->host || !a->host[0] || strlen(a->host) >= MAX_HOST || a->port < 1 || a->port > 65535) {
      snprintf(why, whysz, "chain entry %zu has a bad address", i);
      return DFS_EINVAL;
    }
    if (a->server_id == self) {
      snprintf(why, whysz, "the write chain names this chunkserver (%" PRIu64 ") itself: "
               "write along the chain Alloc returned", self);
      return DFS_EINVAL;
    }
    for (size_t k = 0; k < i; k++)
      if (r->chain[k]->server_id == a->server_id) {
        snprintf(why, whysz, "the write chain names server %" PRIu64 " twice: write along the "
                 "chain Alloc returned", a->server_id);
        return DFS_EINVAL;
      }
    down[i] = (dfs_cap_server){a->server_id, a->host, a->port};
  }
  if (!ds->st->cluster_secret) return 0;
  char cw[200];
  if (dfs_cap_check_write(ds->st->cap_key, r->capability.data, r->capability.len, r->chunk_id,
                          r->version, self, down, r->n_chain, r->upstream_proof.data,
                          r->upstream_proof.len, dfs_wall_ns() / 1000000, cw, sizeof cw)) {
    snprintf(why, whysz, "write capability refused: %s", cw);
    return DFS_EPERM;
  }
  return 0;
}

/* ---- downstream connections ----------------------------------------------------- */

static void downstream_drop(struct downstream *d) {
  dfs_conn_close(d->conn);
  dfs_conn_unref(d->conn);
  free(d);
}

/* An open connection to host:port, from the cache or new. NULL on OOM. The pointer is
 * borrowed: valid while the caller does not return to the loop (take a ref to keep). */
static dfs_conn *downstream_get(data_server *ds, const char *host, int port) {
  struct downstream **pp = &ds->down, *hit = NULL;
  unsigned n = 0;
  while (*pp) {
    struct downstream *d = *pp;
    if (!dfs_conn_is_open(d->conn)) { /* closed by the peer or an error: forget it */
      *pp = d->next;
      downstream_drop(d);
      continue;
    }
    if (!hit && d->port == port && strcmp(d->host, host) == 0) {
      *pp = d->next; /* unlink; re-inserted at the front below */
      hit = d;
      continue;
    }
    n++;
    if (n >= MAX_DOWNSTREAM) { /* too many: drop the least recently used */
      *pp = d->next;
      downstream_drop(d);
      continue;
    }
    pp = &d->next;
  }
  if (!hit) {
    hit = calloc(1, sizeof *hit);
    if (!hit) return NULL;
    snprintf(hit->host, sizeof hit->host, "%s", host);
    hit->port = port;
    dfs_conn_opts o = {.limits = {MAX_REQ_PAYLOAD, 0}, .tls = ds->st->tls_client};
    hit->conn = dfs_conn_connect(ds->st->loop, host, port, &o, NULL, NULL);
    if (!hit->conn) {
      free(hit);
      return NULL;
    }
    dfs_conn_ref(hit->conn);
  }
  hit->next = ds->down;
  ds->down = hit;
  return hit->conn;
}

/* ---- WriteChunk ----------------------------------------------------------------- */

struct write_op {
  data_server *ds;
  dfs_conn *c; /* referenced */
  dfs_frame_hdr hdr;
  dfs_msg msg; /* owned: payload + the chunk bytes */
  Dfs__WriteChunkReq *req;
  uv_work_t work;
  chunk_pack_ticket pack;  /* a packed chunk: its record, waiting for a flush */
  pack_waiter pack_wait;
  int pending;
  int disk_rc;
  int down_rc;
  uint64_t down_failed;
  char down_msg[200];
  int down_msg_remote; /* down_msg is the downstream's own reply message */
  uint64_t *down_stored;
  size_t n_down_stored;
  uint64_t t0;
};

/* Our receipt over stored[0..n) for the chunk of r (with a cluster secret; else none). */
static void sign_receipt(const chunkd_state *st, const Dfs__WriteChunkReq *r,
                         const uint64_t *stored, size_t n, uint8_t out[DFS_RECEIPT_LEN]) {
  dfs_receipt_sign(st->cap_key, r->chunk_id, r->version, r->length, r->crc32c, stored, n, out);
}

static void write_op_finish(struct write_op *op) {
  data_server *ds = op->ds;
  uint64_t self = ds->st->server_id;
  char why[256];
  if (op->disk_rc) {
    snprintf(why, sizeof why, "chunkd %" PRIu64 ": cannot store chunk %" PRIu64 ": %s", self,
             op->req->chunk_id,
             op->disk_rc == DFS_ENOSPACE ? "this chunkserver is full"
                                         : dfs_strerror(op->disk_rc));
    reply_write_err(op->c, &op->hdr, op->disk_rc, why, self);
  } else if (op->down_rc) {
    if (op->down_msg_remote)
      snprintf(why, sizeof why, "%s", op->down_msg);
    else
      snprintf(why, sizeof why, "downstream server %" PRIu64 " (%s:%u) failed: %s", op->down_failed,
               op->req->chain[0]->host, op->req->chain[0]->port, op->down_msg);
    reply_write_err(op->c, &op->hdr, op->down_rc, why, op->down_failed);
  } else {
    uint64_t stored[1 + MAX_CHAIN];
    size_t n = 0;
    stored[n++] = self;
    for (size_t i = 0; i < op->n_down_stored && n < 1 + MAX_CHAIN; i++)
      stored[n++] = op->down_stored[i];
    Dfs__Status s = DFS__STATUS__INIT;
    Dfs__WriteChunkRep rep = DFS__WRITE_CHUNK_REP__INIT;
    uint8_t receipt[DFS_RECEIPT_LEN];
    rep.status = &s;
    rep.stored_on = stored;
    rep.n_stored_on = n;
    if (ds->st->cluster_secret) {
      sign_receipt(ds->st, op->req, stored, n, receipt);
      rep.receipt.data = receipt;
      rep.receipt.len = sizeof receipt;
    }
    dfs_conn_reply(op->c, &op->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  LOG_DEBUG("write %016" PRIx64 ".%" PRIu64 " len %u chain %zu: %s in %" PRIu64 " ms",
            op->req->chunk_id, op->req->version, op->req->length, op->req->n_chain,
            dfs_errname(op->disk_rc ? op->disk_rc : op->down_rc), dfs_now_ms() - op->t0);
  dfs__write_chunk_req__free_unpacked(op->req, NULL);
  dfs_msg_free(&op->msg);
  dfs_conn_unref(op->c);
  free(op->down_stored);
  free(op);
  op_end(ds);
}

static void write_op_put(struct write_op *op) {
  if (--op->pending == 0) write_op_finish(op);
}

static void write_work(uv_work_t *w) {
  struct write_op *op = w->data;
  Dfs__WriteChunkReq *r = op->req;
  op->disk_rc = chunk_store_write(op->ds->st->store, r->chunk_id, r->version, op->msg.bulk,
                                  r->length, r->crc32c, r->block_crc32c);
}

static void write_work_done(uv_work_t *w, int status) {
  struct write_op *op = w->data;
  chunkd_work_done(op->ds->st);
  if (status < 0 && !op->disk_rc) op->disk_rc = DFS_EINTERNAL;
  if (!op->disk_rc && op->ds->st->chunk_stored) op->ds->st->chunk_stored(op->ds->st->corrupt_ud);
  write_op_put(op);
}

/* A packed chunk's flush is done (loop thread): index it, the disk leg ends. */
static void write_packed_flushed(pack_waiter *w, int rc) {
  struct write_op *op = (struct write_op *)((char *)w - offsetof(struct write_op, pack_wait));
  op->disk_rc = chunk_store_pack_commit(op->ds->st->store, &op->pack, rc);
  if (!op->disk_rc && op->ds->st->chunk_stored) op->ds->st->chunk_stored(op->ds->st->corrupt_ud);
  write_op_put(op);
}

/* The disk leg of a write: a small chunk is appended right here (a write into the page
 * cache) and waits for the pack syncer's next flush; any other goes to the thread pool
 * (chunk_store_write: its own file and fdatasync). */
static void write_disk_start(struct write_op *op) {
  data_server *ds = op->ds;
  Dfs__WriteChunkReq *r = op->req;
  if (ds->st->pack_sync && chunk_store_packs(ds->st->store, r->length)) {
    op->disk_rc = chunk_store_pack_append(ds->st->store, r->chunk_id, r->version, op->msg.bulk,
                                          r->length, r->crc32c, &op->pack);
    if (op->disk_rc || op->pack.done) {
      op->pending--;
      return;
    }
    if (!op->pack.blocking) {
      op->pack_wait.gen = op->pack.gen;
      op->pack_wait.cb = write_packed_flushed;
      pack_syncer_wait(ds->st->pack_sync, &op->pack_wait);
      return;
    } /* else the first write of a new volume: the thread pool opens it */
  }
  op->work.data = op;
  if (chunkd_queue_work(ds->st, &op->work, write_work, write_work_done) < 0) {
    op->disk_rc = DFS_EINTERNAL;
    op->pending--;
  }
}

static void forward_bulk_released(void *bulk, void *ud) { write_op_put(ud); }

static void forward_failed(struct write_op *op, int rc, uint64_t failed, const char *msg) {
  op->down_rc = rc < 0 ? rc : DFS_EPROTO;
  op->down_failed = failed;
  snprintf(op->down_msg, sizeof op->down_msg, "%s", msg ? msg : dfs_strerror(op->down_rc));
}

/* The downstream answered with an error of its own: pass its message on unchanged. */
static void forward_failed_remote(struct write_op *op, int rc, uint64_t failed, const char *msg) {
  forward_failed(op, rc, failed, msg && msg[0] ? msg : NULL);
  op->down_msg_remote = msg && msg[0];
}

static void forward_reply(dfs_conn *c, int status, dfs_msg *m, void *ud) {
  struct write_op *op = ud;
  uint64_t next_id = op->req->chain[0]->server_id;
  if (status < 0) {
    forward_failed(op, status, next_id, NULL);
  } else if (m->hdr.type == DFS__MSG_TYPE__MSG_ERROR) {
    Dfs__ErrorReply *e = dfs__error_reply__unpack(NULL, m->hdr.payload_len, m->payload);
    forward_failed(op, e && e->status ? e->status->error : DFS_EPROTO, next_id,
                   e && e->status ? e->status->message : "undecodable error reply");
    if (e) dfs__error_reply__free_unpacked(e, NULL);
  } else if (m->hdr.type != DFS__MSG_TYPE__MSG_CHUNK_TO_CLIENT_WRITE) {
    forward_failed(op, DFS_EPROTO, next_id, "unexpected reply type");
  } else {
    Dfs__WriteChunkRep *r = dfs__write_chunk_rep__unpack(NULL, m->hdr.payload_len, m->payload);
    if (!r) {
      forward_failed(op, DFS_EPROTO, next_id, "undecodable WriteChunk reply");
    } else if (r->status && r->status->error) { /* proto3: no Status = success */
      forward_failed_remote(op, r->status->error, r->failed_server ? r->failed_server : next_id,
                            r->status->message);
    } else if (r->n_stored_on > MAX_CHAIN) {
      forward_failed(op, DFS_EPROTO, next_id, "too many servers in stored_on");
    } else if (op->ds->st->cluster_secret &&
               (r->n_stored_on == 0 || r->stored_on[0] != next_id ||
                dfs_receipt_check(op->ds->st->cap_key, r->receipt.data, r->receipt.len,
                                  op->req->chunk_id, op->req->version, op->req->length,
                                  op->req->crc32c, r->stored_on, r->n_stored_on))) {
      /* only a chunkserver holding the cluster secret can sign for what it stored */
      forward_failed(op, DFS_EPROTO, next_id,
                     "the downstream's write receipt is missing or forged (is it a dfs "
                     "chunkserver of this cluster?)");
    } else if (r->n_stored_on) {
      op->down_stored = malloc(r->n_stored_on * sizeof *op->down_stored);
      if (!op->down_stored) {
        forward_failed(op, DFS_ENOMEM, op->ds->st->server_id, NULL);
      } else {
        memcpy(op->down_stored, r->stored_on, r->n_stored_on * sizeof *op->down_stored);
        op->n_down_stored = r->n_stored_on;
      }
    }
    if (r) dfs__write_chunk_rep__free_unpacked(r, NULL);
  }
  if (m) dfs_msg_free(m);
  write_op_put(op);
}

/* Starts the forward leg; on a synchronous failure records it (the leg is then done). */
static void forward_start(struct write_op *op) {
  Dfs__WriteChunkReq *r = op->req;
  Dfs__ServerAddr *next = r->chain[0];
  dfs_conn *dc = downstream_get(op->ds, next->host, (int)next->port);
  if (!dc) {
    forward_failed(op, DFS_ENOMEM, op->ds->st->server_id, NULL);
    return;
  }
  Dfs__WriteChunkReq fwd = *r; /* shallow: same fields, chain without its head */
  fwd.chain = r->chain + 1;
  fwd.n_chain = r->n_chain - 1;
  uint8_t proof[DFS_FORWARD_PROOF_LEN];
  fwd.upstream_proof.len = 0;
  if (op->ds->st->cluster_secret) { /* "server self hands this write to next" */
    dfs_cap_forward_proof(op->ds->st->cap_key, r->capability.data, r->capability.len,
                          op->ds->st->server_id, next->server_id, proof);
    fwd.upstream_proof.data = proof;
    fwd.upstream_proof.len = sizeof proof;
  }
  op->pending += 2; /* reply + bulk release */
  int rc = dfs_conn_call(dc, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_WRITE, &fwd.base, op->msg.bulk,
                         r->length, forward_bulk_released, op, op->ds->st->chain_timeout_ms,
                         forward_reply, op);
  if (rc) { /* bulk_free already ran (pending -1); the reply will not come */
    op->pending--;
    forward_failed(op, rc == DFS_ECLOSED ? DFS_ECONN : rc, next->server_id, NULL);
  }
}

/* Checks everything about a decoded request against its bulk; 0 or an error + reason. */
static int write_validate(const Dfs__WriteChunkReq *r, const dfs_msg *m, char *why, size_t whysz) {
  if (r->length < 1 || r->length > DFS_CHUNK_SIZE) {
    snprintf(why, whysz, "chunk length %u is not in 1..%u", r->length, DFS_CHUNK_SIZE);
    return DFS_EINVAL;
  }
  if (r->length != m->hdr.bulk_len) {
    snprintf(why, whysz, "chunk length %u but %u bulk bytes", r->length, m->hdr.bulk_len);
    return DFS_EINVAL;
  }
  if (r->version == 0) {
    snprintf(why, whysz, "chunk version 0 is invalid");
    return DFS_EINVAL;
  }
  size_t nb = (r->length + DFS_BLOCK_SIZE - 1) / DFS_BLOCK_SIZE;
  if (r->n_block_crc32c != nb) {
    snprintf(why, whysz, "%zu block CRCs for %zu blocks", r->n_block_crc32c, nb);
    return DFS_EINVAL;
  }
  uint32_t crcs[DFS_BLOCKS_PER_CHUNK];
  dfs_block_crcs(m->bulk, r->length, crcs);
  for (size_t i = 0; i < nb; i++) {
    if (crcs[i] != r->block_crc32c[i]) {
      snprintf(why, whysz, "block %zu CRC mismatch (data damaged in transit?)", i);
      return DFS_ECHECKSUM;
    }
  }
  /* The blocks match the data, so the whole CRC follows from them: no second pass. */
  if (dfs_crc32c_from_blocks(crcs, r->length) != r->crc32c) {
    snprintf(why, whysz, "whole-chunk CRC mismatch");
    return DFS_ECHECKSUM;
  }
  return 0;
}

static void handle_write(data_server *ds, dfs_conn *c, dfs_msg *m) {
  char why[320];
  Dfs__WriteChunkReq *r = dfs__write_chunk_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!r) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "undecodable WriteChunk request");
    dfs_msg_free(m);
    return;
  }
  /* on_payload checked this before the bulk was read; checked again for callers that
   * hand frames in whole (the fuzz harness) */
  int rc = write_chain_ok(ds, r, why, sizeof why);
  if (!rc) rc = write_validate(r, m, why, sizeof why);
  if (!rc && ds->inflight >= ds->st->max_inflight) {
    rc = DFS_EBUSY;
    snprintf(why, sizeof why, "chunkd busy (%u requests in progress)", ds->inflight);
  }
  if (rc) goto err;
  struct write_op *op = calloc(1, sizeof *op);
  if (!op) {
    rc = DFS_ENOMEM;
    snprintf(why, sizeof why, "%s", dfs_strerror(rc));
    goto err;
  }
  op_begin(ds);
  op->ds = ds;
  op->c = c;
  dfs_conn_ref(c);
  op->hdr = m->hdr;
  op->msg = *m; /* take the buffer */
  memset(m, 0, sizeof *m);
  op->req = r;
  op->t0 = dfs_now_ms();
  op->pending = 2; /* setup + disk */
  write_disk_start(op);
  if (r->n_chain) forward_start(op);
  write_op_put(op); /* setup done */
  return;
err:
  LOG_WARN("%s: WriteChunk %" PRIu64 " refused: %s", dfs_conn_peer(c), r->chunk_id, why);
  /* failed_server names us only when the fault is ours, not the request's */
  int ours = rc != DFS_EINVAL && rc != DFS_EPERM;
  reply_write_err(c, &m->hdr, rc, why, ours ? ds->st->server_id : 0);
  dfs__write_chunk_req__free_unpacked(r, NULL);
  dfs_msg_free(m);
}

/* ---- ReadChunk ------------------------------------------------------------------ */

struct read_op {
  data_server *ds;
  dfs_conn *c;
  dfs_frame_hdr hdr;
  uint64_t id, version;
  uint32_t offset, length;
  uv_work_t work;
  int rc;
  chunk_buf buf; /* the bytes read; released with the op, after the reply is sent */
  const uint8_t *data;
  uint32_t n, crc;
};

static void read_work(uv_work_t *w) {
  struct read_op *op = w->data;
  op->rc = chunk_store_read(op->ds->st->store, op->id, op->version, op->offset, op->length,
                            &op->buf, &op->data, &op->n, &op->crc);
}

/* The reply's bulk (the op's buffer) has been written or dropped: free the op. */
static void read_op_free(void *bulk, void *ud) {
  struct read_op *op = ud;
  chunk_buf_release(&op->buf);
  free(op);
}

/* Replies to a read; the op is freed now, or with the reply's bulk (loop thread). */
static void read_finish(struct read_op *op) {
  data_server *ds = op->ds;
  dfs_conn *c = op->c;
  if (op->rc) {
    char why[160];
    snprintf(why, sizeof why, "chunk %" PRIu64 " version %" PRIu64 ": %s", op->id, op->version,
             dfs_strerror(op->rc));
    reply_read_err(c, &op->hdr, op->rc, why);
    read_op_free(NULL, op);
  } else {
    Dfs__Status s = DFS__STATUS__INIT;
    Dfs__ReadChunkRep rep = DFS__READ_CHUNK_REP__INIT;
    rep.status = &s;
    rep.length = op->n;
    rep.crc32c = op->crc;
    /* the bytes go out straight from the chunk file's page cache mapping */
    dfs_conn_reply(c, &op->hdr, &rep.base, op->data, op->n, read_op_free, op);
  }
  dfs_conn_unref(c);
  op_end(ds);
}

static void read_work_done(uv_work_t *w, int status) {
  struct read_op *op = w->data;
  chunkd_work_done(op->ds->st);
  if (status < 0 && op->rc == 0) {
    chunk_buf_release(&op->buf);
    op->rc = DFS_EINTERNAL;
  }
  if (op->rc == DFS_ECHECKSUM && op->ds->st->corrupt_found)
    op->ds->st->corrupt_found(op->ds->st->corrupt_ud);
  read_finish(op);
}

static void handle_read(data_server *ds, dfs_conn *c, dfs_msg *m) {
  Dfs__ReadChunkReq *r = dfs__read_chunk_req__unpack(NULL, m->hdr.payload_len, m->payload);
  if (!r) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "undecodable ReadChunk request");
    dfs_msg_free(m);
    return;
  }
  const char *why = NULL;
  uint32_t length = r->length, cap_end = 0;
  int rc = 0;
  if (ds->st->cluster_secret) {
    rc = dfs_cap_check_read(ds->st->cap_key, r->capability.data, r->capability.len, r->chunk_id,
                            r->version, ds->st->server_id, r->offset, r->length,
                            dfs_wall_ns() / 1000000, &cap_end, &why);
    /* length 0 ("to the end") reads to the end of the granted range, never beyond */
    if (!rc && length == 0) {
      if (r->offset >= cap_end) {
        rc = DFS_EPERM;
        why = "read outside the byte range the capability grants";
      }
      length = cap_end - r->offset;
    }
  }
  if (rc) {
    LOG_WARN("%s: ReadChunk %" PRIu64 " refused: capability %s", dfs_conn_peer(c), r->chunk_id,
             why ? why : "?");
  } else if (m->hdr.bulk_len) {
    rc = DFS_EINVAL;
    why = "ReadChunk carries no bulk";
  } else if (r->offset > DFS_CHUNK_SIZE || r->length > DFS_CHUNK_SIZE) {
    rc = DFS_EINVAL;
    why = "offset/length beyond the chunk size";
  } else if (ds->inflight >= ds->st->max_inflight) {
    rc = DFS_EBUSY;
    why = "chunkd busy";
  }
  struct read_op *op = rc ? NULL : calloc(1, sizeof *op);
  if (!rc && !op) rc = DFS_ENOMEM;
  if (rc) {
    reply_read_err(c, &m->hdr, rc, why ? why : dfs_strerror(rc));
    goto out;
  }
  op_begin(ds);
  op->ds = ds;
  op->c = c;
  dfs_conn_ref(c);
  op->hdr = m->hdr;
  op->id = r->chunk_id;
  op->version = r->version;
  op->offset = r->offset;
  op->length = length;
  op->work.data = op;
  if (chunkd_queue_work(ds->st, &op->work, read_work, read_work_done) < 0) {
    op->rc = DFS_EINTERNAL;
    read_finish(op);
  }
out:
  dfs__read_chunk_req__free_unpacked(r, NULL);
  dfs_msg_free(m);
}

/* ---- dispatch and lifecycle ----------------------------------------------------- */

/* conn's on_payload: a WriteChunk's capability and chain are checked before its chunk
 * bytes (up to 1 MiB) are read, so a stranger cannot make chunkd buffer them. */
static int on_payload(dfs_conn *c, const dfs_frame_hdr *h, const uint8_t *payload) {
  if (h->type != DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_WRITE) return 0;
  data_server *ds = dfs_conn_data(c);
  Dfs__WriteChunkReq *r = dfs__write_chunk_req__unpack(NULL, h->payload_len, payload);
  if (!r) {
    dfs_conn_reply_error(c, h, DFS_EPROTO, "undecodable WriteChunk request");
    return 1;
  }
  char why[320];
  int rc = write_chain_ok(ds, r, why, sizeof why);
  if (!rc && r->length != h->bulk_len) {
    rc = DFS_EINVAL;
    snprintf(why, sizeof why, "chunk length %u but %u bulk bytes", r->length, h->bulk_len);
  }
  if (rc) {
    LOG_WARN("%s: WriteChunk %" PRIu64 " refused before its bytes: %s", dfs_conn_peer(c),
             r->chunk_id, why);
    reply_write_err(c, h, rc, why, 0);
  }
  dfs__write_chunk_req__free_unpacked(r, NULL);
  return rc != 0;
}

static void on_request(dfs_conn *c, dfs_msg *m) {
  data_server *ds = dfs_conn_data(c);
  if (ds->stopping) {
    dfs_conn_reply_error(c, &m->hdr, DFS_EUNAVAIL, "chunkd is shutting down");
    dfs_msg_free(m);
    return;
  }
  for (size_t i = 0; i < sizeof client_link_table / sizeof client_link_table[0]; i++) {
    if (client_link_table[i].type == m->hdr.type) {
      client_link_table[i].fn(ds, c, m);
      return;
    }
  }
  char why[96];
  snprintf(why, sizeof why, "message type %u is not accepted by chunkd", m->hdr.type);
  LOG_WARN("%s: %s", dfs_conn_peer(c), why);
  dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, why);
  dfs_msg_free(m);
}

int data_server_start(chunkd_state *st, const char *host, int port, data_server **out) {
  data_server *ds = calloc(1, sizeof *ds);
  if (!ds) return DFS_ENOMEM;
  ds->st = st;
  /* bounds for hostile clients (issue 12): connections per address and in all, a frame
   * (a 1 MiB chunk included) must arrive within 60 s once begun, a connection silent
   * for connections.idle_timeout (5 minutes) is closed (clients and upstream chunkservers reconnect: the CLI retries
   * a pooled connection closed while idle once, data_server forgets closed downstream
   * links), a peer that does not read its replies is dropped. */
  dfs_conn_opts o = {.limits = {MAX_REQ_PAYLOAD, DFS_MAX_BULK},
                     .on_request = on_request,
                     .data = ds,
                     .tls = st->tls_server,
                     .max_conns = 8192,
                     .max_conns_per_addr = 2048,
                     .frame_timeout_ms = 60000,
                     .idle_timeout_ms = st->idle_timeout_ms,
                     .max_inflight = 256,
                     .max_write_queue = 64u << 20,
                     .on_payload = on_payload};
  int rc = dfs_server_listen(st->loop, host, port, &o, &ds->srv);
  if (rc) {
    free(ds);
    return rc;
  }
  *out = ds;
  return 0;
}

void data_server_stop(data_server *ds, void (*drained)(void *ud), void *ud) {
  dfs_server_close(ds->srv);
  ds->srv = NULL;
  while (ds->down) {
    struct downstream *d = ds->down;
    ds->down = d->next;
    downstream_drop(d);
  }
  ds->stopping = 1;
  ds->drained = ds->inflight ? drained : NULL;
  ds->drained_ud = ud;
  if (ds->inflight == 0 && drained) drained(ud);
}

void data_server_free(data_server *ds) { free(ds); }
