/* ops: encoding/decoding of metad's log entries and the shared byte codec (ops.h).
 * Everything is little-endian and bounds-checked; a malformed entry never crashes the
 * reader, it yields DFS_EPROTO. */
#include "metad/ops.h"

#include <raft.h>
#include <string.h>

#include "common/errors.h"
#include "common/frame.h"

#define OPS_MAGIC 0x31504f4du /* "MOP1" */

void wb_init(ops_wbuf *w) { memset(w, 0, sizeof *w); }
void wb_free(ops_wbuf *w) {
  raft_free(w->p);
  memset(w, 0, sizeof *w);
}

static int wb_reserve(ops_wbuf *w, size_t n) {
  if (w->oom) return -1;
  if (w->len + n <= w->cap) return 0;
  size_t ncap = w->cap ? w->cap : 256;
  while (ncap < w->len + n) ncap *= 2;
  uint8_t *np = raft_realloc(w->p, ncap);
  if (!np) {
    w->oom = 1;
    return -1;
  }
  w->p = np;
  w->cap = ncap;
  return 0;
}

static void wb_raw(ops_wbuf *w, const void *p, size_t n) {
  if (wb_reserve(w, n)) return;
  if (n) memcpy(w->p + w->len, p, n);
  w->len += n;
}

void wb_bytes(ops_wbuf *w, const void *p, size_t n) { wb_raw(w, p, n); }
void wb_u8(ops_wbuf *w, uint8_t v) { wb_raw(w, &v, 1); }
void wb_u32(ops_wbuf *w, uint32_t v) {
  uint8_t b[4];
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
  wb_raw(w, b, 4);
}
void wb_u64(ops_wbuf *w, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  wb_raw(w, b, 8);
}
void wb_str(ops_wbuf *w, const char *s) {
  if (!s) s = "";
  size_t n = strlen(s);
  wb_u32(w, (uint32_t)n);
  wb_raw(w, s, n + 1);
}
void wb_pad8(ops_wbuf *w) {
  static const uint8_t z[8];
  if (w->len % 8) wb_raw(w, z, 8 - w->len % 8);
}
void wb_put_u32_at(ops_wbuf *w, size_t off, uint32_t v) {
  if (w->oom || off + 4 > w->len) return;
  for (int i = 0; i < 4; i++) w->p[off + i] = (uint8_t)(v >> (8 * i));
}

void rb_init(ops_rbuf *r, const void *p, size_t len) {
  r->p = p;
  r->len = len;
  r->pos = 0;
  r->err = 0;
}
int rb_has(const ops_rbuf *r, size_t n) { return !r->err && r->len - r->pos >= n; }
static const uint8_t *rb_take(ops_rbuf *r, size_t n) {
  if (!rb_has(r, n)) {
    r->err = 1;
    return NULL;
  }
  const uint8_t *p = r->p + r->pos;
  r->pos += n;
  return p;
}
const uint8_t *rb_bytes(ops_rbuf *r, size_t n) { return rb_take(r, n); }
uint8_t rb_u8(ops_rbuf *r) {
  const uint8_t *p = rb_take(r, 1);
  return p ? p[0] : 0;
}
uint32_t rb_u32(ops_rbuf *r) {
  const uint8_t *p = rb_take(r, 4);
  uint32_t v = 0;
  if (p)
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
uint64_t rb_u64(ops_rbuf *r) {
  const uint8_t *p = rb_take(r, 8);
  uint64_t v = 0;
  if (p)
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}
const char *rb_str(ops_rbuf *r) {
  uint32_t n = rb_u32(r);
  if (r->err || n == UINT32_MAX) goto bad;
  const uint8_t *p = rb_take(r, (size_t)n + 1);
  if (!p || p[n] != 0 || memchr(p, 0, n)) goto bad;
  return (const char *)p;
bad:
  r->err = 1;
  return "";
}

void ops_entry_begin(ops_wbuf *w) {
  wb_init(w);
  wb_u32(w, OPS_MAGIC);
  wb_u32(w, 0);
}

uint32_t ops_entry_count(const ops_wbuf *w) {
  if (w->len < 8 || w->oom) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)w->p[4 + i] << (8 * i);
  return v;
}

/* Ops that carry a chunk list after the COMMIT header. */
static int has_chunks(uint8_t type) {
  return type == OP_COMMIT || type == OP_COMMIT2 || type == OP_COMMIT3 ||
         type == OP_RETIRE_ORPHANS;
}

/* Bytes of one encoded chunk of an op of this type. */
static size_t chunk_wire(uint8_t type) {
  return type == OP_COMMIT2 || type == OP_COMMIT3 ? OPS_CHUNK2_WIRE : OPS_CHUNK_WIRE;
}

void ops_append(ops_wbuf *w, const ops_op *op, const ops_chunk *chunks) {
  wb_u8(w, op->type);
  wb_u64(w, op->rid);
  switch (op->type) {
  case OP_MKDIR:
  case OP_DELETE:
  case OP_COMMIT:
  case OP_COMMIT2:
  case OP_COMMIT3:
  case OP_RETIRE_ORPHANS:
  case OP_CHMOD:
  case OP_MKHOME:
    wb_str(w, op->path);
    wb_str(w, op->str);
    wb_u64(w, (uint64_t)op->mtime_ns);
    wb_u32(w, op->mode);
    wb_u8(w, op->flag);
    if (has_chunks(op->type)) {
      wb_u64(w, op->size);
      wb_u32(w, op->replicas);
      wb_u32(w, op->nchunks);
      for (uint32_t i = 0; i < op->nchunks; i++) {
        wb_u64(w, chunks[i].id);
        wb_u64(w, chunks[i].version);
        wb_u32(w, chunks[i].length);
        wb_u32(w, chunks[i].crc32c);
        if (chunk_wire(op->type) == OPS_CHUNK2_WIRE) {
          wb_u64(w, chunks[i].crc64);
          wb_u8(w, chunks[i].reuse ? 1 : 0);
        }
      }
    }
    if (op->type == OP_COMMIT3) {
      wb_u32(w, op->attrs_len);
      wb_raw(w, op->attrs, op->attrs_len);
    }
    break;
  case OP_RENAME:
  case OP_COPY:
  case OP_SETREP:
  case OP_TOUCH:
  case OP_TOUCH2:
  case OP_SYMLINK:
  case OP_TRASH:
  case OP_TRASH_RESTORE:
  case OP_TRASH_EMPTY:
  case OP_TRASH_EXPIRE:
  case OP_SET_QUOTA:
    wb_str(w, op->path);
    wb_str(w, op->str);
    wb_u64(w, (uint64_t)op->mtime_ns);
    wb_u32(w, op->mode);
    wb_u8(w, op->flag);
    wb_str(w, op->path2);
    wb_u64(w, op->a);
    wb_u64(w, op->b);
    if (op->type == OP_TOUCH2) wb_u64(w, (uint64_t)op->set_mtime_ns);
    break;
  case OP_COMPOSE:
    wb_str(w, op->path);
    wb_str(w, op->str);
    wb_u64(w, (uint64_t)op->mtime_ns);
    wb_u32(w, op->mode);
    wb_u8(w, op->flag);
    wb_u32(w, op->nsrcs);
    if (op->src_list)
      for (uint32_t i = 0; i < op->nsrcs; i++) wb_str(w, op->src_list[i]);
    else /* a decoded op encoded again */
      wb_raw(w, op->srcs, op->srcs_len);
    wb_u32(w, op->attrs_len);
    wb_raw(w, op->attrs, op->attrs_len);
    break;
  case OP_RESERVE_IDS:
  case OP_MAP_SERVER:
  case OP_META_ADDR:
    wb_u64(w, op->a);
    wb_u64(w, op->b);
    wb_str(w, op->str);
    break;
  default:
    break;
  }
  wb_put_u32_at(w, 4, ops_entry_count(w) + 1);
}

int ops_entry_end(ops_wbuf *w) {
  wb_pad8(w);
  return w->oom ? DFS_ENOMEM : 0;
}

int ops_iter_init(ops_iter *it, const void *buf, size_t len) {
  rb_init(&it->r, buf, len);
  uint32_t magic = rb_u32(&it->r);
  it->left = rb_u32(&it->r);
  if (it->r.err || magic != OPS_MAGIC) return DFS_EPROTO;
  return 0;
}

int ops_next(ops_iter *it, ops_op *op) {
  if (it->left == 0) return 0;
  ops_rbuf *r = &it->r;
  memset(op, 0, sizeof *op);
  op->type = rb_u8(r);
  op->rid = rb_u64(r);
  switch (op->type) {
  case OP_MKDIR:
  case OP_DELETE:
  case OP_COMMIT:
  case OP_COMMIT2:
  case OP_COMMIT3:
  case OP_RETIRE_ORPHANS:
  case OP_CHMOD:
  case OP_MKHOME:
    op->path = rb_str(r);
    op->str = rb_str(r);
    op->mtime_ns = (int64_t)rb_u64(r);
    op->mode = rb_u32(r);
    op->flag = rb_u8(r);
    if (has_chunks(op->type)) {
      size_t cw = chunk_wire(op->type);
      op->size = rb_u64(r);
      op->replicas = rb_u32(r);
      op->nchunks = rb_u32(r);
      if (!rb_has(r, (size_t)op->nchunks * cw)) return DFS_EPROTO;
      op->chunks = r->p + r->pos;
      r->pos += (size_t)op->nchunks * cw;
    }
    if (op->type == OP_COMMIT3) { /* never empty: a commit without attrs is a COMMIT2 */
      op->attrs_len = rb_u32(r);
      if (op->attrs_len == 0 || op->attrs_len > DFS_ATTRS_MAX) return DFS_EPROTO;
      op->attrs = rb_take(r, op->attrs_len);
      if (!op->attrs) return DFS_EPROTO;
    }
    break;
  case OP_RENAME:
  case OP_COPY:
  case OP_SETREP:
  case OP_TOUCH:
  case OP_TOUCH2:
  case OP_SYMLINK:
  case OP_TRASH:
  case OP_TRASH_RESTORE:
  case OP_TRASH_EMPTY:
  case OP_TRASH_EXPIRE:
  case OP_SET_QUOTA:
    op->path = rb_str(r);
    op->str = rb_str(r);
    op->mtime_ns = (int64_t)rb_u64(r);
    op->mode = rb_u32(r);
    op->flag = rb_u8(r);
    op->path2 = rb_str(r);
    op->a = rb_u64(r);
    op->b = rb_u64(r);
    if (op->type == OP_TOUCH2) { /* never 0 or negative: a touch to now is a TOUCH */
      op->set_mtime_ns = (int64_t)rb_u64(r);
      if (r->err || op->set_mtime_ns <= 0) return DFS_EPROTO;
    }
    break;
  case OP_COMPOSE: {
    op->path = rb_str(r);
    op->str = rb_str(r);
    op->mtime_ns = (int64_t)rb_u64(r);
    op->mode = rb_u32(r);
    op->flag = rb_u8(r);
    op->nsrcs = rb_u32(r);
    if (r->err || op->nsrcs == 0 || op->nsrcs > OPS_COMPOSE_MAX_SRCS) return DFS_EPROTO;
    size_t start = r->pos;
    for (uint32_t i = 0; i < op->nsrcs && !r->err; i++) rb_str(r);
    if (r->err) return DFS_EPROTO;
    op->srcs = r->p + start;
    op->srcs_len = r->pos - start;
    op->attrs_len = rb_u32(r);
    if (r->err || op->attrs_len > DFS_ATTRS_MAX) return DFS_EPROTO;
    if (op->attrs_len && !(op->attrs = rb_take(r, op->attrs_len))) return DFS_EPROTO;
    break;
  }
  case OP_RESERVE_IDS:
  case OP_MAP_SERVER:
  case OP_META_ADDR:
    op->a = rb_u64(r);
    op->b = rb_u64(r);
    op->str = rb_str(r);
    break;
  default:
    return DFS_EPROTO;
  }
  if (r->err || op->rid == 0) return DFS_EPROTO;
  it->left--;
  return 1;
}

ops_chunk ops_chunk_at(const ops_op *op, uint32_t i) {
  ops_rbuf r;
  size_t cw = chunk_wire(op->type);
  rb_init(&r, op->chunks + (size_t)i * cw, cw);
  ops_chunk c;
  c.id = rb_u64(&r);
  c.version = rb_u64(&r);
  c.length = rb_u32(&r);
  c.crc32c = rb_u32(&r);
  c.crc64 = cw == OPS_CHUNK2_WIRE ? rb_u64(&r) : 0;
  c.reuse = cw == OPS_CHUNK2_WIRE ? rb_u8(&r) : 0;
  return c;
}

const char *ops_src_next(const ops_op *op, size_t *off) {
  if (!op->srcs || *off >= op->srcs_len) return NULL;
  ops_rbuf r;
  rb_init(&r, op->srcs, op->srcs_len);
  r.pos = *off;
  const char *s = rb_str(&r);
  if (r.err) return NULL; /* cannot happen: ops_next checked every string */
  *off = r.pos;
  return s;
}

/* FNV-1a over the fields, each preceded by its length so that fields cannot run into
 * each other. Not a MAC: it only tells a retry from another request, within one user. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v) { return fnv(h, &v, sizeof v); }

static uint64_t fnv_str(uint64_t h, const char *s) {
  size_t n = s ? strlen(s) : 0;
  return fnv(fnv_u64(h, n), s ? s : "", n);
}

uint64_t ops_digest(const ops_op *op) {
  uint64_t h = 1469598103934665603ULL;
  h = fnv_u64(h, op->type);
  h = fnv_str(h, op->str);
  h = fnv_str(h, op->path);
  h = fnv_str(h, op->path2);
  h = fnv_u64(h, op->mode);
  h = fnv_u64(h, op->flag);
  h = fnv_u64(h, op->size);
  h = fnv_u64(h, op->replicas);
  h = fnv_u64(h, op->nchunks);
  if (has_chunks(op->type)) h = fnv(h, op->chunks, (size_t)op->nchunks * chunk_wire(op->type));
  if (op->attrs_len) /* COMMIT3 only: earlier ops' digests stay what they were */
    h = fnv(fnv_u64(h, op->attrs_len), op->attrs, op->attrs_len);
  if (op->type == OP_TOUCH2) /* the client's mtime (TOUCH2 only: TOUCH digests unchanged) */
    h = fnv_u64(h, (uint64_t)op->set_mtime_ns);
  if (op->type == OP_COMPOSE) /* the encoded sources (decoded ops only, like chunks) */
    h = fnv(fnv_u64(h, op->srcs_len), op->srcs, op->srcs_len);
  if (op->type != OP_TRASH) { /* TRASH's a is the leader's clock + retention */
    h = fnv_u64(h, op->a);
    h = fnv_u64(h, op->b);
  }
  return h ? h : 1;
}

uint64_t ops_digest_encoded(const ops_op *op, const ops_chunk *chunks) {
  ops_wbuf w;
  ops_iter it;
  ops_op dec;
  uint64_t d = 0;
  wb_init(&w);
  ops_entry_begin(&w);
  ops_append(&w, op, chunks);
  if (!ops_entry_end(&w) && !ops_iter_init(&it, w.p, w.len) && ops_next(&it, &dec) == 1)
    d = ops_digest(&dec);
  wb_free(&w);
  return d;
}
