/* chunks: chunk table (chunks.h). Invariants: (1) idx maps exactly the ids in
 * ents[0..n) to their index; (2) every entry has refs >= 1; (3) locs holds distinct ids. */
#include "metad/chunks.h"

#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/errors.h"

/* Memory per chunk (issue 4's aim: <= 200 bytes): the entry plus its id-map slots. */
_Static_assert(sizeof(chunk_ent) <= 56, "chunk_ent grew past 56 bytes");

void chunks_init(chunks_t *t) {
  memset(t, 0, sizeof *t);
  u64map_init(&t->idx);
}

void chunks_free(chunks_t *t) {
  for (size_t i = 0; i < t->n; i++)
    if (t->ents[i].caplocs) free(t->ents[i].locs.heap);
  free(t->ents);
  u64map_free(&t->idx);
  memset(t, 0, sizeof *t);
}

chunk_ent *chunks_get(chunks_t *t, uint64_t id) {
  uint64_t i;
  if (!u64map_get(&t->idx, id, &i)) return NULL;
  return &t->ents[i];
}

int chunks_add(chunks_t *t, uint64_t id, uint64_t version, uint32_t length, uint32_t crc) {
  if (!id) return DFS_EINVAL;
  if (u64map_get(&t->idx, id, NULL)) return DFS_EEXIST;
  chunk_ent *ne = dfs_grow(t->ents, &t->cap, t->n + 1, sizeof *ne, 256);
  if (!ne) return DFS_ENOMEM;
  t->ents = ne;
  if (u64map_put(&t->idx, id, t->n)) return DFS_ENOMEM;
  chunk_ent *e = &t->ents[t->n++];
  memset(e, 0, sizeof *e);
  e->id = id;
  e->version = version;
  e->length = length;
  e->crc32c = crc;
  e->refs = 1;
  return 0;
}

static void remove_at(chunks_t *t, size_t i) {
  u64map_del(&t->idx, t->ents[i].id);
  if (t->ents[i].caplocs) free(t->ents[i].locs.heap);
  if (i != t->n - 1) {
    t->ents[i] = t->ents[t->n - 1];
    u64map_put(&t->idx, t->ents[i].id, i); /* overwrite: cannot fail */
  }
  t->n--;
}

void chunks_decref(chunks_t *t, uint64_t id,
                   void (*on_garbage)(void *ud, uint64_t id, uint64_t server), void *ud) {
  uint64_t i;
  if (!u64map_get(&t->idx, id, &i)) return;
  chunk_ent *e = &t->ents[i];
  if (--e->refs > 0) return;
  if (on_garbage)
    for (uint8_t k = 0; k < e->nlocs; k++) on_garbage(ud, id, chunk_locs(e)[k]);
  remove_at(t, (size_t)i);
}

int chunks_add_loc(chunks_t *t, uint64_t id, uint64_t server) {
  chunk_ent *e = chunks_get(t, id);
  if (!e) return DFS_ENOENT;
  if (!server || server > UINT32_MAX) return DFS_EINVAL;
  const uint32_t *cur = chunk_locs(e);
  for (uint8_t k = 0; k < e->nlocs; k++)
    if (cur[k] == server) return 0;
  if (e->nlocs == 255) return DFS_ENOMEM;
  if (!e->caplocs && e->nlocs == CHUNK_INLINE_LOCS) { /* inline is full: move to the heap */
    uint32_t *h = malloc(2 * CHUNK_INLINE_LOCS * sizeof *h);
    if (!h) return DFS_ENOMEM;
    memcpy(h, e->locs.in, sizeof e->locs.in);
    e->locs.heap = h;
    e->caplocs = 2 * CHUNK_INLINE_LOCS;
  } else if (e->caplocs && e->nlocs == e->caplocs) {
    uint8_t ncap = (uint8_t)(e->caplocs * 2 > 255 ? 255 : e->caplocs * 2);
    uint32_t *h = realloc(e->locs.heap, ncap * sizeof *h);
    if (!h) return DFS_ENOMEM;
    e->locs.heap = h;
    e->caplocs = ncap;
  }
  (e->caplocs ? e->locs.heap : e->locs.in)[e->nlocs++] = (uint32_t)server;
  return 0;
}

void chunk_ent_del_loc(chunk_ent *e, uint64_t server) {
  uint32_t *l = e->caplocs ? e->locs.heap : e->locs.in;
  for (uint8_t k = 0; k < e->nlocs; k++)
    if (l[k] == server) {
      l[k] = l[--e->nlocs];
      return; /* a heap array stays (it is freed with the entry) */
    }
}

void chunks_del_loc(chunks_t *t, uint64_t id, uint64_t server) {
  chunk_ent *e = chunks_get(t, id);
  if (e) chunk_ent_del_loc(e, server);
}

void chunks_encode(const chunks_t *t, ops_wbuf *w) {
  wb_u64(w, t->n);
  for (size_t i = 0; i < t->n; i++) {
    const chunk_ent *e = &t->ents[i];
    wb_u64(w, e->id);
    wb_u64(w, e->version);
    wb_u32(w, e->length);
    wb_u32(w, e->crc32c);
    wb_u32(w, e->refs);
    wb_u8(w, e->goal);
  }
}

int chunks_decode(chunks_t *t, ops_rbuf *r) {
  chunks_init(t);
  uint64_t n = rb_u64(r);
  if (r->err || n > r->len / 29 || !rb_has(r, n * 29)) return DFS_EPROTO;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t id = rb_u64(r), ver = rb_u64(r);
    uint32_t len = rb_u32(r), crc = rb_u32(r), refs = rb_u32(r);
    uint8_t goal = rb_u8(r);
    int rc = refs == 0 ? DFS_EPROTO : chunks_add(t, id, ver, len, crc);
    if (rc) {
      chunks_free(t);
      return rc == DFS_ENOMEM ? DFS_ENOMEM : DFS_EPROTO;
    }
    t->ents[t->n - 1].refs = refs;
    t->ents[t->n - 1].goal = goal;
  }
  return 0;
}
