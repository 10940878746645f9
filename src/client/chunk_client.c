/* Chunkserver connections and chunk read/write calls for the CLI (see chunk_client.h). */
#include "client/chunk_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/meta_client.h"
#include "client_chunk.pb-c.h"
#include "common.pb-c.h"
#include "common/array.h"
#include "common/crc.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/sock.h"

void chunk_conns_init(chunk_conns *cc) { memset(cc, 0, sizeof *cc); }

void chunk_conns_close(chunk_conns *cc) {
  for (size_t i = 0; i < cc->n; i++)
    dfs_sock_close(cc->slots[i].fd);
  free(cc->slots);
  memset(cc, 0, sizeof *cc);
}

/* The slot for srv (by host:port), created if needed; NULL on OOM. */
static chunk_conn_slot *slot_for(chunk_conns *cc, const chunkd_addr *srv) {
  for (size_t i = 0; i < cc->n; i++)
    if (cc->slots[i].srv.port == srv->port && strcmp(cc->slots[i].srv.host, srv->host) == 0)
      return &cc->slots[i];
  chunk_conn_slot *grown = dfs_grow(cc->slots, &cc->cap, cc->n + 1, sizeof *grown, 8);
  if (!grown) return NULL;
  cc->slots = grown;
  chunk_conn_slot *s = &cc->slots[cc->n++];
  s->srv = *srv;
  s->fd = -1;
  return s;
}

/* Send and receive timeouts of s's socket: ms of silence before a call fails. */
static void set_timeout(chunk_conn_slot *s, unsigned ms) {
  if (s->timeout_ms == ms) return;
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  s->timeout_ms = ms;
}

/* A connected socket for srv in *fd (timeouts of timeout_ms), or a DFS_E* code with err
 * set. */
static int get_fd(chunk_conns *cc, const chunkd_addr *srv, unsigned timeout_ms,
                  chunk_conn_slot **out, char *err, size_t errsz) {
  chunk_conn_slot *s = slot_for(cc, srv);
  if (!s) { snprintf(err, errsz, "out of memory"); return DFS_ENOMEM; }
  if (s->fd < 0) {
    int fd = dfs_sock_connect(srv->host, srv->port, CLIENT_CONNECT_TIMEOUT_MS);
    if (fd < 0) {
      snprintf(err, errsz, "chunkserver %llu at %s:%d: %s",
               (unsigned long long)srv->server_id, srv->host, srv->port,
               fd == DFS_ETIMEDOUT ? "connect timed out" : "cannot connect");
      return fd;
    }
    s->fd = fd;
    s->timeout_ms = 0;
  }
  set_timeout(s, timeout_ms);
  *out = s;
  return 0;
}

static void drop(chunk_conn_slot *s) {
  dfs_sock_close(s->fd);
  s->fd = -1;
}

/* One request on srv's pooled connection (*out: its slot). A pooled connection the
 * chunkserver closed while it sat idle (chunkd's idle timeout) fails with DFS_ECLOSED
 * before any reply: then one fresh connection is tried, so an idle close never counts
 * against a healthy server. Returns dfs_sock_call's result (err filled on failure). */
static int slot_call(chunk_conns *cc, const chunkd_addr *srv, unsigned timeout_ms, uint16_t type,
                     const ProtobufCMessage *req, const void *bulk, uint32_t bulk_len,
                     dfs_msg *m, uint8_t *bulk_dst, uint32_t bulk_cap, chunk_conn_slot **out,
                     char *err, size_t errsz) {
  for (int attempt = 0;; attempt++) {
    *out = NULL;
    chunk_conn_slot *s = slot_for(cc, srv);
    int reused = s && s->fd >= 0;
    int rc = get_fd(cc, srv, timeout_ms, &s, err, errsz);
    if (rc) return rc;
    *out = s;
    err[0] = '\0';
    rc = dfs_sock_call_into(s->fd, type, req, bulk, bulk_len, m, bulk_dst, bulk_cap, err, errsz);
    if (rc == DFS_ECLOSED && reused && attempt == 0) {
      drop(s);
      continue;
    }
    return rc;
  }
}

static void fill_addr(Dfs__ServerAddr *a, const chunkd_addr *s) {
  dfs__server_addr__init(a);
  a->server_id = s->server_id;
  a->host = (char *)s->host;
  a->port = (uint32_t)s->port;
}

int chunk_write(chunk_conns *cc, const chunkd_addr *chain, size_t n_chain, uint64_t id,
                uint64_t version, const uint8_t *cap, size_t cap_len, const uint8_t *data,
                uint32_t len, uint32_t crc, const uint32_t *given_blocks, uint64_t *stored_on,
                size_t *n_stored, uint8_t receipt[DFS_RECEIPT_LEN], size_t *receipt_len,
                uint64_t *failed_server, char *err, size_t errsz) {
  uint32_t blocks[DFS_BLOCKS_PER_CHUNK];
  Dfs__ServerAddr addrs[CLIENT_MAX_CHAIN];
  Dfs__ServerAddr *addrp[CLIENT_MAX_CHAIN];
  Dfs__WriteChunkRep *rep = NULL;
  chunk_conn_slot *s = NULL;
  dfs_msg m;
  int rc;

  *n_stored = 0;
  *receipt_len = 0;
  *failed_server = n_chain ? chain[0].server_id : 0;
  if (n_chain == 0 || n_chain > CLIENT_MAX_CHAIN || len == 0 || len > DFS_CHUNK_SIZE) {
    snprintf(err, errsz, "invalid chunk write (chain of %zu, %u bytes)", n_chain, len);
    return DFS_EINVAL;
  }
  Dfs__WriteChunkReq req = DFS__WRITE_CHUNK_REQ__INIT;
  req.capability.data = (uint8_t *)cap;
  req.capability.len = cap_len;
  req.chunk_id = id;
  req.version = version;
  req.length = len;
  req.crc32c = crc;
  req.n_block_crc32c = (len + DFS_BLOCK_SIZE - 1) / DFS_BLOCK_SIZE;
  if (!given_blocks) dfs_block_crcs(data, len, blocks);
  req.block_crc32c = given_blocks ? (uint32_t *)given_blocks : blocks;
  for (size_t i = 1; i < n_chain; i++) {
    fill_addr(&addrs[i - 1], &chain[i]);
    addrp[i - 1] = &addrs[i - 1];
  }
  req.n_chain = n_chain - 1;
  req.chain = addrp;

  rc = slot_call(cc, &chain[0], CLIENT_CHUNK_TIMEOUT_MS, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_WRITE,
                 &req.base, data, len, &m, NULL, 0, &s, err, errsz);
  if (rc && !s) goto err;
  if (rc) {
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", err[0] ? err : dfs_strerror(rc));
    snprintf(err, errsz, "chunkserver %llu at %s:%d: %s", (unsigned long long)chain[0].server_id,
             chain[0].host, chain[0].port, tmp);
    drop(s);
    goto err;
  }
  rep = dfs__write_chunk_rep__unpack(NULL, m.hdr.payload_len, m.payload);
  dfs_msg_free(&m);
  if (!rep || !rep->status) {
    snprintf(err, errsz, "chunkserver %s:%d sent an undecodable write reply", chain[0].host,
             chain[0].port);
    drop(s);
    rc = DFS_EPROTO;
    goto err;
  }
  if (rep->status->error < 0) {
    rc = rep->status->error;
    if (rep->failed_server) *failed_server = rep->failed_server;
    snprintf(err, errsz, "chunkserver %llu at %s:%d: %s", (unsigned long long)chain[0].server_id,
             chain[0].host, chain[0].port,
             rep->status->message && *rep->status->message ? rep->status->message
                                                           : dfs_strerror(rc));
    goto err;
  }
  if (rep->n_stored_on == 0 || rep->n_stored_on > CLIENT_MAX_CHAIN) {
    snprintf(err, errsz, "chunkserver %s:%d acknowledged a write on %zu servers", chain[0].host,
             chain[0].port, rep->n_stored_on);
    rc = DFS_EPROTO;
    goto err;
  }
  if (rep->receipt.len > DFS_RECEIPT_LEN) {
    snprintf(err, errsz, "chunkserver %s:%d sent a malformed write receipt", chain[0].host,
             chain[0].port);
    rc = DFS_EPROTO;
    goto err;
  }
  for (size_t i = 0; i < rep->n_stored_on; i++) stored_on[i] = rep->stored_on[i];
  *n_stored = rep->n_stored_on;
  if (rep->receipt.len) memcpy(receipt, rep->receipt.data, rep->receipt.len);
  *receipt_len = rep->receipt.len;
  dfs__write_chunk_rep__free_unpacked(rep, NULL);
  return 0;
err:
  if (rep) dfs__write_chunk_rep__free_unpacked(rep, NULL);
  return rc;
}

int chunk_read(chunk_conns *cc, const chunkd_addr *srv, uint64_t id, uint64_t version,
               const uint8_t *cap, size_t cap_len, uint32_t len, uint32_t crc, uint8_t *buf,
               char *err, size_t errsz) {
  Dfs__ReadChunkRep *rep = NULL;
  chunk_conn_slot *s = NULL;
  dfs_msg m = {0};
  int rc;
  Dfs__ReadChunkReq req = DFS__READ_CHUNK_REQ__INIT;
  req.capability.data = (uint8_t *)cap;
  req.capability.len = cap_len;
  req.chunk_id = id;
  req.version = version;
  req.offset = 0;
  req.length = len;

  rc = slot_call(cc, srv, CLIENT_READ_TIMEOUT_MS, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ,
                 &req.base, NULL, 0, &m, buf, len, &s, err, errsz);
  if (rc && !s) return rc;
  if (rc) {
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", err[0] ? err : dfs_strerror(rc));
    snprintf(err, errsz, "chunkserver %llu at %s:%d: %s", (unsigned long long)srv->server_id,
             srv->host, srv->port, tmp);
    drop(s);
    return rc;
  }
  rep = dfs__read_chunk_rep__unpack(NULL, m.hdr.payload_len, m.payload);
  if (!rep || !rep->status) {
    snprintf(err, errsz, "chunkserver %llu at %s:%d: undecodable read reply",
             (unsigned long long)srv->server_id, srv->host, srv->port);
    drop(s);
    rc = DFS_EPROTO;
    goto out;
  }
  if (rep->status->error < 0) {
    rc = rep->status->error;
    snprintf(err, errsz, "chunkserver %llu at %s:%d: %s", (unsigned long long)srv->server_id,
             srv->host, srv->port, rep->status->message && *rep->status->message ? rep->status->message
                                                           : dfs_strerror(rc));
    goto out;
  }
  if (m.hdr.bulk_len != len) {
    snprintf(err, errsz, "chunkserver %llu at %s:%d: returned %u bytes, expected %u",
             (unsigned long long)srv->server_id, srv->host, srv->port,
             m.hdr.bulk_len, len);
    rc = DFS_EPROTO;
    goto out;
  }
  if (dfs_crc32c(0, m.bulk, len) != crc) { /* m.bulk is buf: the reply was read into it */
    snprintf(err, errsz, "chunkserver %llu at %s:%d: checksum mismatch",
             (unsigned long long)srv->server_id, srv->host, srv->port);
    rc = DFS_ECHECKSUM;
    goto out;
  }
  if (m.bulk != buf) memcpy(buf, m.bulk, len);
  rc = 0;
out:
  if (rep) dfs__read_chunk_rep__free_unpacked(rep, NULL);
  dfs_msg_free(&m);
  return rc;
}
