/* Chunk allocations and written chunks shared by the uploading clients (see chunk_alloc.h). */
#include "client/chunk_alloc.h"

#include <stdio.h>
#include <string.h>

#include "common/errors.h"

int chunk_alloc_copy(chunk_alloc *a, const Dfs__ChunkAlloc *c) {
  if (!c || c->n_chain == 0 || c->n_chain > CLIENT_MAX_CHAIN || c->chunk_id == 0 ||
      c->grant.len > sizeof a->grant || c->capability.len > sizeof a->cap)
    return DFS_EPROTO;
  for (size_t i = 0; i < c->n_chain; i++) {
    const Dfs__ServerAddr *s = c->chain[i];
    if (!s || !s->host || !*s->host || s->port == 0 || s->port > 65535 ||
        strlen(s->host) >= sizeof a->chain[i].host)
      return DFS_EPROTO;
    a->chain[i].server_id = s->server_id;
    snprintf(a->chain[i].host, sizeof a->chain[i].host, "%s", s->host);
    a->chain[i].port = (int)s->port;
  }
  a->n_chain = c->n_chain;
  a->id = c->chunk_id;
  a->version = c->version;
  if (c->grant.len) memcpy(a->grant, c->grant.data, c->grant.len);
  a->grant_len = c->grant.len;
  if (c->capability.len) memcpy(a->cap, c->capability.data, c->capability.len);
  a->cap_len = c->capability.len;
  return 0;
}

int chunk_write_alloc(chunk_conns *cc, const chunk_alloc *a, const uint8_t *data, uint32_t len,
                      uint32_t crc, uint64_t crc64, const uint32_t *blocks, written_chunk *w,
                      uint64_t *failed_server, char *err, size_t errsz) {
  int rc = chunk_write(cc, a->chain, a->n_chain, a->id, a->version, a->cap, a->cap_len, data,
                       len, crc, blocks, w->servers, &w->n_servers, w->receipt, &w->receipt_len,
                       failed_server, err, errsz);
  if (rc) return rc;
  w->id = a->id;
  w->version = a->version;
  w->len = len;
  w->crc32c = crc;
  w->crc64 = crc64;
  memcpy(w->grant, a->grant, a->grant_len);
  w->grant_len = a->grant_len;
  return 0;
}

void written_chunk_info(const written_chunk *w, Dfs__ChunkInfo *info) {
  dfs__chunk_info__init(info);
  info->chunk_id = w->id;
  info->version = w->version;
  info->length = w->len;
  info->crc32c = w->crc32c;
  info->crc64 = w->crc64;
  info->n_servers = w->n_servers;
  info->servers = (uint64_t *)w->servers;
  info->grant.data = (uint8_t *)w->grant;
  info->grant.len = w->grant_len;
  info->receipt.data = (uint8_t *)w->receipt;
  info->receipt.len = w->receipt_len;
}
