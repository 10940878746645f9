/* servers: chunkserver registry (servers.h). Invariant: v[i].id == i+1 and uuids are
 * distinct; soft fields start zeroed (not registered, dead) after a restore. */
#include "metad/servers.h"

#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"

void servers_init(servers_t *s) { memset(s, 0, sizeof *s); }

void servers_free(servers_t *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i].uuid);
    free(s->v[i].pending_del);
    free(s->v[i].watch);
    free(s->v[i].pending_dv);
    u64map_free(&s->v[i].tomb_ver);
    u64map_free(&s->v[i].tomb_at);
  }
  free(s->v);
  memset(s, 0, sizeof *s);
}

uint64_t servers_find_uuid(const servers_t *s, const char *uuid) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->v[i].uuid, uuid)) return s->v[i].id;
  return 0;
}

uint64_t servers_map(servers_t *s, const char *uuid) {
  uint64_t id = servers_find_uuid(s, uuid);
  if (id) return id;
  server_ent *nv = dfs_grow(s->v, &s->cap, s->n + 1, sizeof *nv, 16);
  if (!nv) return 0;
  s->v = nv;
  server_ent *e = &s->v[s->n];
  memset(e, 0, sizeof *e);
  e->uuid = strdup(uuid);
  if (!e->uuid) return 0;
  e->id = ++s->n;
  return e->id;
}

server_ent *servers_get(servers_t *s, uint64_t id) {
  if (id == 0 || id > s->n) return NULL;
  return &s->v[id - 1];
}

void servers_queue_delete(servers_t *s, uint64_t server, uint64_t chunk) {
  server_ent *e = servers_get(s, server);
  if (!e || e->ndel >= SERVERS_MAX_PENDING_DELETES) return;
  uint64_t *nd = dfs_grow(e->pending_del, &e->capdel, e->ndel + 1, sizeof *nd, 64);
  if (!nd) return;
  e->pending_del = nd;
  e->pending_del[e->ndel++] = chunk;
}

size_t servers_take_deletes(servers_t *s, uint64_t server, uint64_t *out, size_t max) {
  server_ent *e = servers_get(s, server);
  if (!e) return 0;
  size_t n = e->ndel < max ? e->ndel : max;
  if (!n) return 0;
  /* take from the end: order does not matter for deletes */
  memcpy(out, e->pending_del + (e->ndel - n), n * sizeof *out);
  e->ndel -= n;
  return n;
}

void servers_watch_chunk(servers_t *s, uint64_t server, uint64_t chunk, uint64_t due_ms) {
  server_ent *e = servers_get(s, server);
  if (!e || e->nwatch >= SERVERS_MAX_WATCHED) return; /* duplicates are harmless */
  server_watch *nw = dfs_grow(e->watch, &e->capwatch, e->nwatch + 1, sizeof *nw, 64);
  if (!nw) return;
  e->watch = nw;
  e->watch[e->nwatch].chunk = chunk;
  e->watch[e->nwatch].due_ms = due_ms;
  e->nwatch++;
}

size_t servers_take_orphans(servers_t *s, uint64_t now_ms,
                            uint64_t (*verdict)(void *ud, uint64_t chunk), void *ud,
                            servers_orphan *out, size_t max) {
  size_t taken = 0;
  for (size_t i = 0; i < s->n; i++) {
    server_ent *e = &s->v[i];
    size_t k = 0;
    for (size_t j = 0; j < e->nwatch; j++) {
      server_watch w = e->watch[j];
      if (now_ms < w.due_ms || taken == max) {
        e->watch[k++] = w;
        continue;
      }
      uint64_t again = verdict(ud, w.chunk);
      if (again == 0) {
        out[taken++] = (servers_orphan){e->id, w.chunk};
      } else if (again != SERVERS_WATCH_FORGET) {
        w.due_ms = again;
        e->watch[k++] = w;
      }
    }
    e->nwatch = k;
  }
  return taken;
}

int servers_check_dead(servers_t *s, uint64_t now_ms, uint64_t timeout_ms) {
  int changed = 0;
  for (size_t i = 0; i < s->n; i++) {
    server_ent *e = &s->v[i];
    if (e->alive && now_ms - e->last_hb_ms > timeout_ms) {
      e->alive = 0;
      servers_forget_promises(e);
      changed++;
      LOG_WARN("chunkserver %llu (%s:%u) is dead: no heartbeat for %llu ms",
               (unsigned long long)e->id, e->host, e->port,
               (unsigned long long)(now_ms - e->last_hb_ms));
    }
  }
  return changed;
}

size_t servers_live_count(const servers_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->n; i++) n += s->v[i].alive != 0;
  return n;
}

void servers_encode(const servers_t *s, ops_wbuf *w) {
  wb_u64(w, s->n);
  for (size_t i = 0; i < s->n; i++) wb_str(w, s->v[i].uuid);
}

int servers_decode(servers_t *s, ops_rbuf *r) {
  servers_init(s);
  uint64_t n = rb_u64(r);
  if (r->err || n > r->len / 5) return DFS_EPROTO;
  for (uint64_t i = 0; i < n; i++) {
    const char *u = rb_str(r);
    if (r->err || !*u || strlen(u) > SERVERS_UUID_MAX || servers_find_uuid(s, u)) {
      servers_free(s);
      return DFS_EPROTO;
    }
    if (!servers_map(s, u)) {
      servers_free(s);
      return DFS_ENOMEM;
    }
  }
  return 0;
}

uint64_t servers_effective_free(const server_ent *e) {
  return e->free_bytes > e->promised_bytes ? e->free_bytes - e->promised_bytes : 0;
}

void servers_forget_promises(server_ent *e) {
  e->promised_bytes = 0;
  e->promised_chunks = 0;
  e->promise_epoch++;
}

int servers_is_full(const server_ent *e) {
  if (e->nospace_until_ms && dfs_now_ms() < e->nospace_until_ms) return 1;
  return e->free_bytes < e->reserve_bytes + (uint64_t)DFS_CHUNK_SIZE;
}

int servers_placeable(const server_ent *e) {
  return e->alive && !e->disconnected && !e->draining && !servers_is_full(e);
}

const char *servers_state(const server_ent *e) {
  if (!e->alive) return "dead";
  if (e->disconnected) return "disconnected";
  if (e->draining) return "draining";
  if (servers_is_full(e)) return "full";
  return "alive";
}

#define TOMB_PENDING UINT64_MAX /* tomb_at of a delete queued but not sent yet */

/* Drops tombs older than SERVERS_TOMB_MS, at most every half of that (amortised O(1)). */
static void tombs_sweep(server_ent *e, uint64_t now) {
  if (now - e->tomb_swept_ms < SERVERS_TOMB_MS / 2 || !e->tomb_at.count) return;
  e->tomb_swept_ms = now;
  uint64_t *old = malloc(e->tomb_at.count * sizeof *old);
  if (!old) return;
  size_t n = 0;
  for (size_t i = 0; i < e->tomb_at.cap; i++) {
    uint64_t at = e->tomb_at.vals[i];
    if (e->tomb_at.keys[i] && at != TOMB_PENDING && now - at >= SERVERS_TOMB_MS)
      old[n++] = e->tomb_at.keys[i];
  }
  for (size_t i = 0; i < n; i++) { /* deleting while walking would shift the slots */
    u64map_del(&e->tomb_at, old[i]);
    u64map_del(&e->tomb_ver, old[i]);
  }
  free(old);
}

int servers_queue_delete_version(servers_t *s, uint64_t server, uint64_t chunk,
                                 uint64_t version) {
  server_ent *e = servers_get(s, server);
  if (!e || e->ndv >= SERVERS_MAX_PENDING_DELETES) return DFS_EBUSY;
  uint64_t v, at;
  if (u64map_get(&e->tomb_ver, chunk, &v) && v == version &&
      u64map_get(&e->tomb_at, chunk, &at) && at == TOMB_PENDING)
    return 0; /* already queued */
  uint64_t *nd = dfs_grow(e->pending_dv, &e->capdv, e->ndv + 1, 2 * sizeof *nd, 32);
  if (!nd) return DFS_ENOMEM;
  e->pending_dv = nd;
  /* remember it: reports taken before the delete runs must not count it again (one
   * version per chunk: the latest order wins) */
  tombs_sweep(e, dfs_now_ms());
  if (e->tomb_at.count < SERVERS_MAX_WATCHED && u64map_put(&e->tomb_ver, chunk, version) == 0 &&
      u64map_put(&e->tomb_at, chunk, TOMB_PENDING) != 0)
    u64map_del(&e->tomb_ver, chunk);
  e->pending_dv[2 * e->ndv] = chunk;
  e->pending_dv[2 * e->ndv + 1] = version;
  e->ndv++;
  return 0;
}

size_t servers_take_delete_versions(servers_t *s, uint64_t server, uint64_t *out, size_t max) {
  server_ent *e = servers_get(s, server);
  if (!e) return 0;
  size_t n = e->ndv < max ? e->ndv : max;
  if (!n) return 0;
  memcpy(out, e->pending_dv + 2 * (e->ndv - n), 2 * n * sizeof *out);
  e->ndv -= n;
  /* the delete runs on the chunkserver only from now on: date the tombs from the send,
   * so "recently deleted" covers the time the delete may still be in progress there */
  uint64_t now = dfs_now_ms(), v;
  for (size_t i = 0; i < n; i++)
    if (u64map_get(&e->tomb_ver, out[2 * i], &v) && v == out[2 * i + 1])
      u64map_put(&e->tomb_at, out[2 * i], now); /* present: overwriting never allocates */
  return n;
}

int servers_recently_deleted(servers_t *s, uint64_t server, uint64_t chunk, uint64_t version,
                             uint64_t now_ms, uint64_t max_age_ms) {
  server_ent *e = servers_get(s, server);
  uint64_t v, at;
  if (!e || !u64map_get(&e->tomb_ver, chunk, &v) || v != version ||
      !u64map_get(&e->tomb_at, chunk, &at))
    return 0;
  /* not even sent yet (the server's heartbeats are late), or sent lately */
  return at == TOMB_PENDING || now_ms - at < max_age_ms;
}

void servers_queue_verify(server_ent *e, uint64_t chunk) {
  for (uint32_t i = 0; i < e->nverify; i++)
    if (e->verify_q[i] == chunk) return;
  if (e->nverify < SERVERS_VERIFY_MAX) e->verify_q[e->nverify++] = chunk;
}
