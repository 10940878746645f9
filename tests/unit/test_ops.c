/* Unit tests of src/metad/ops.c, the log entry codec: commits of every version (COMMIT,
 * COMMIT2, COMMIT3 with client attributes) encode and decode to the same fields, entries
 * written before attrs existed still decode, a COMMIT3 with an empty, oversized or
 * truncated attrs field is refused, and attrs are part of a request's digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/frame.h"
#include "metad/ops.h"

static const ops_chunk CH[2] = {{7, 1, 1u << 20, 0x11, 0x1234, 0}, {8, 2, 5, 0x22, 0x5678, 1}};

static ops_op commit_op(uint8_t type, const void *attrs, uint32_t alen) {
  ops_op o = {0};
  o.type = type;
  o.rid = 42;
  o.path = "/d/f";
  o.str = "alice";
  o.mtime_ns = 99;
  o.mode = 0640;
  o.flag = OPF_MAIN;
  o.size = (1u << 20) + 5;
  o.replicas = 3;
  o.nchunks = 2;
  o.attrs = attrs;
  o.attrs_len = alen;
  return o;
}

/* Encodes op as a one-op entry into w. */
static void encode(ops_wbuf *w, const ops_op *op) {
  ops_entry_begin(w);
  ops_append(w, op, CH);
  assert_int_equal(ops_entry_end(w), 0);
  assert_int_equal(w->len % 8, 0);
}

/* Decodes the one op of w into *out; returns ops_next's code. */
static int decode(const ops_wbuf *w, ops_op *out) {
  ops_iter it;
  assert_int_equal(ops_iter_init(&it, w->p, w->len), 0);
  return ops_next(&it, out);
}

static void check_common(const ops_op *d, uint8_t type) {
  assert_int_equal(d->type, type);
  assert_int_equal(d->rid, 42);
  assert_string_equal(d->path, "/d/f");
  assert_string_equal(d->str, "alice");
  assert_int_equal(d->mtime_ns, 99);
  assert_int_equal(d->mode, 0640);
  assert_int_equal(d->flag, OPF_MAIN);
  assert_int_equal(d->size, (1u << 20) + 5);
  assert_int_equal(d->replicas, 3);
  assert_int_equal(d->nchunks, 2);
  ops_chunk c = ops_chunk_at(d, 1);
  assert_int_equal(c.id, 8);
  assert_int_equal(c.version, 2);
  assert_int_equal(c.length, 5);
  assert_int_equal(c.crc32c, 0x22);
  if (type == OP_COMMIT) {
    assert_int_equal(c.crc64, 0);
    assert_int_equal(c.reuse, 0);
  } else {
    assert_int_equal(c.crc64, 0x5678);
    assert_int_equal(c.reuse, 1);
  }
}

static void test_commit3_roundtrip(void **state) {
  (void)state;
  uint8_t attrs[DFS_ATTRS_MAX];
  for (size_t i = 0; i < sizeof attrs; i++) attrs[i] = (uint8_t)(i * 7); /* NULs too */
  uint32_t lens[] = {1, 3, 100, DFS_ATTRS_MAX};
  for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
    ops_wbuf w;
    ops_op o = commit_op(OP_COMMIT3, attrs, lens[k]), d;
    encode(&w, &o);
    assert_int_equal(decode(&w, &d), 1);
    check_common(&d, OP_COMMIT3);
    assert_int_equal(d.attrs_len, lens[k]);
    assert_memory_equal(d.attrs, attrs, lens[k]);
    /* what a handler computes before the log equals the applied op's digest */
    assert_int_equal(ops_digest_encoded(&o, CH), ops_digest(&d));
    wb_free(&w);
  }
}

/* Entries without attrs: COMMIT (the first version) and COMMIT2 (what every commit was
 * written as before attrs, and still is without attrs) decode as before, with none. */
static void test_old_commits_decode(void **state) {
  (void)state;
  uint8_t types[] = {OP_COMMIT, OP_COMMIT2};
  for (size_t k = 0; k < 2; k++) {
    ops_wbuf w;
    ops_op o = commit_op(types[k], NULL, 0), d;
    encode(&w, &o);
    assert_int_equal(decode(&w, &d), 1);
    check_common(&d, types[k]);
    assert_int_equal(d.attrs_len, 0);
    assert_null(d.attrs);
    wb_free(&w);
  }
  /* a COMMIT2's bytes are exactly what the code before attrs wrote: header, 9 fixed
   * fields, 2 chunks of 33 bytes, padding */
  ops_wbuf w;
  ops_op o = commit_op(OP_COMMIT2, NULL, 0);
  encode(&w, &o);
  size_t raw = 8 + 1 + 8 + (4 + 4 + 1) + (4 + 5 + 1) + 8 + 4 + 1 + 8 + 4 + 4 + 2 * OPS_CHUNK2_WIRE;
  assert_int_equal(w.len, (raw + 7) / 8 * 8);
  wb_free(&w);
}

/* A COMMIT3 whose attrs length is 0, above DFS_ATTRS_MAX or past the entry's end is
 * malformed (DFS_EPROTO), never a crash. */
static void test_commit3_refused(void **state) {
  (void)state;
  uint8_t attrs[DFS_ATTRS_MAX + 1];
  memset(attrs, 'x', sizeof attrs);
  ops_op d;
  for (int k = 0; k < 2; k++) {
    ops_wbuf w;
    ops_op o = commit_op(OP_COMMIT3, attrs, k ? DFS_ATTRS_MAX + 1 : 0);
    encode(&w, &o); /* the encoder writes what it is given: decoding is the gate */
    assert_int_equal(decode(&w, &d), DFS_EPROTO);
    wb_free(&w);
  }
  ops_wbuf w;
  ops_op o = commit_op(OP_COMMIT3, attrs, 100);
  encode(&w, &o);
  size_t whole = w.len;
  while (whole > 0 && w.p[whole - 1] == 0) whole--; /* drop the padding */
  for (size_t cut = 8; cut < whole; cut++) {
    ops_iter it;
    assert_int_equal(ops_iter_init(&it, w.p, cut), 0);
    assert_int_equal(ops_next(&it, &d), DFS_EPROTO);
  }
  wb_free(&w);
}

/* The same request id with other attrs is another request, not a retry. */
static void test_digest_covers_attrs(void **state) {
  (void)state;
  ops_op a = commit_op(OP_COMMIT3, "etag-1", 6), b = commit_op(OP_COMMIT3, "etag-2", 6);
  ops_op none = commit_op(OP_COMMIT2, NULL, 0);
  uint64_t da = ops_digest_encoded(&a, CH), db = ops_digest_encoded(&b, CH);
  uint64_t dn = ops_digest_encoded(&none, CH);
  assert_int_not_equal(da, 0);
  assert_int_not_equal(da, db);
  assert_int_not_equal(da, dn);
  assert_int_equal(ops_digest_encoded(&a, CH), da);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_commit3_roundtrip),
      cmocka_unit_test(test_old_commits_decode),
      cmocka_unit_test(test_commit3_refused),
      cmocka_unit_test(test_digest_covers_attrs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
