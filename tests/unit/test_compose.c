/* Unit tests of OP_COMPOSE (ops.c, fsm.c): the op round-trips through the log codec (and
 * its digest covers the sources), a truncated or oversized entry is refused; applying it
 * concatenates the sources' chunks by reference (refcounts: deleting the sources frees
 * nothing the composed file uses, deleting the composed file later frees them), sets
 * attrs, deletes the sources with OPF_DELETE_SRCS, and refuses (changing nothing) a part
 * that is not whole MiB, a missing or unreadable source, a source named twice or equal
 * to dst, and an existing dst without overwrite. A snapshot keeps the shared refcounts.
 * Quota: the sources deleted by the op are counted back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/frame.h"
#include "metad/fsm.h"

static uint64_t rid_next = 100;

static int apply(fsm_t *f, ops_op *o, const ops_chunk *ch) {
  ops_wbuf w;
  o->rid = rid_next++;
  if (!o->str) o->str = "";
  if (!o->path) o->path = "";
  if (!o->path2) o->path2 = "";
  ops_entry_begin(&w);
  ops_append(&w, o, ch);
  assert_int_equal(ops_entry_end(&w), 0);
  assert_int_equal(fsm_apply_entry(f, w.p, w.len), 0);
  wb_free(&w);
  const fsm_result *r = fsm_result_get(f, o->rid);
  assert_non_null(r);
  return r->err;
}

/* A file at p of n chunks with ids first.. (every chunk 1 MiB but the last, last_len). */
static int put(fsm_t *f, const char *user, const char *p, uint64_t first, uint32_t n,
               uint32_t last_len) {
  ops_chunk ch[16];
  ops_op o = {0};
  o.type = OP_COMMIT2;
  o.path = p;
  o.str = user;
  o.mode = 0644;
  o.replicas = 2;
  o.nchunks = n;
  o.mtime_ns = 5;
  for (uint32_t i = 0; i < n; i++) {
    ch[i] = (ops_chunk){.id = first + i, .version = 1,
                        .length = i + 1 == n ? last_len : DFS_CHUNK_SIZE, .crc32c = 7,
                        .crc64 = 9};
    o.size += ch[i].length;
  }
  return apply(f, &o, ch);
}

static int compose(fsm_t *f, const char *user, const char *dst, const char *const *srcs,
                   uint32_t n, uint8_t flag, const void *attrs, uint32_t alen) {
  ops_op o = {0};
  o.type = OP_COMPOSE;
  o.path = dst;
  o.str = user;
  o.mtime_ns = 20;
  o.flag = flag;
  o.nsrcs = n;
  o.src_list = srcs;
  o.attrs = (const uint8_t *)attrs;
  o.attrs_len = alen;
  return apply(f, &o, NULL);
}

static fsm_t *setup(void) {
  fsm_t *f = fsm_new(1024);
  ops_op r = {.type = OP_RESERVE_IDS, .a = 1, .b = 1000};
  assert_int_equal(apply(f, &r, NULL), 0);
  ops_op m = {.type = OP_MKDIR, .path = "/d", .mode = 0777, .flag = OPF_MAIN, .mtime_ns = 1};
  assert_int_equal(apply(f, &m, NULL), 0);
  return f;
}

static uint32_t refs(fsm_t *f, uint64_t id) {
  const chunk_ent *ce = chunks_get(&f->chunks, id);
  return ce ? ce->refs : 0;
}

static ns_inode *at(fsm_t *f, const char *p) {
  ns_inode *n = NULL;
  char msg[256];
  if (ns_lookup(f->ns, p, &n, msg, sizeof msg)) return NULL;
  return n;
}

static void test_codec(void **state) {
  (void)state;
  const char *srcs[] = {"/d/a", "/d/bb", "/d/ccc"};
  ops_op o = {0}, d;
  o.type = OP_COMPOSE;
  o.rid = 42;
  o.path = "/d/out";
  o.str = "alice";
  o.mtime_ns = 77;
  o.flag = OPF_MAIN | OPF_DELETE_SRCS;
  o.nsrcs = 3;
  o.src_list = srcs;
  o.attrs = (const uint8_t *)"\0etag";
  o.attrs_len = 5;
  ops_wbuf w;
  ops_entry_begin(&w);
  ops_append(&w, &o, NULL);
  assert_int_equal(ops_entry_end(&w), 0);
  ops_iter it;
  assert_int_equal(ops_iter_init(&it, w.p, w.len), 0);
  assert_int_equal(ops_next(&it, &d), 1);
  assert_int_equal(d.type, OP_COMPOSE);
  assert_string_equal(d.path, "/d/out");
  assert_string_equal(d.str, "alice");
  assert_int_equal(d.flag, OPF_MAIN | OPF_DELETE_SRCS);
  assert_int_equal(d.nsrcs, 3);
  assert_int_equal(d.attrs_len, 5);
  assert_memory_equal(d.attrs, "\0etag", 5);
  size_t off = 0;
  for (int i = 0; i < 3; i++) assert_string_equal(ops_src_next(&d, &off), srcs[i]);
  assert_null(ops_src_next(&d, &off));
  assert_int_equal(ops_next(&it, &d), 0);
  uint64_t dg = ops_digest_encoded(&o, NULL);
  const char *other[] = {"/d/a", "/d/bb", "/d/cccc"};
  o.src_list = other;
  assert_true(dg != ops_digest_encoded(&o, NULL));
  /* every truncation is refused */
  size_t full = w.len;
  while (full > 8 && w.p[full - 1] == 0) full--; /* the padding */
  for (size_t len = 8; len < full; len++) {
    assert_int_equal(ops_iter_init(&it, w.p, len), 0);
    assert_true(ops_next(&it, &d) != 1);
  }
  wb_free(&w);
  /* 0 and too many sources do not decode */
  o.src_list = srcs;
  o.nsrcs = 0;
  ops_entry_begin(&w);
  ops_append(&w, &o, NULL);
  assert_int_equal(ops_entry_end(&w), 0);
  assert_int_equal(ops_iter_init(&it, w.p, w.len), 0);
  assert_int_equal(ops_next(&it, &d), DFS_EPROTO);
  wb_free(&w);
}

static void test_apply_refcounts(void **state) {
  (void)state;
  fsm_t *f = setup();
  assert_int_equal(put(f, "", "/d/p1", 1, 2, DFS_CHUNK_SIZE), 0);  /* 2 MiB */
  assert_int_equal(put(f, "", "/d/p2", 3, 1, DFS_CHUNK_SIZE), 0);  /* 1 MiB */
  assert_int_equal(put(f, "", "/d/p3", 4, 2, 1000), 0);            /* 1 MiB + 1000 */
  const char *srcs[] = {"/d/p1", "/d/p2", "/d/p3"};
  assert_int_equal(compose(f, "", "/d/obj", srcs, 3, OPF_DELETE_SRCS, "tag", 3), 0);
  const fsm_result *r = fsm_result_get(f, rid_next - 1);
  assert_int_equal(r->val, 4 * (uint64_t)DFS_CHUNK_SIZE + 1000);
  assert_int_equal(r->val2, 5);
  ns_inode *n = at(f, "/d/obj");
  assert_non_null(n);
  assert_int_equal(n->u.file.nchunks, 5);
  for (uint32_t i = 0; i < 5; i++) {
    assert_int_equal(ns_file_chunks(n)[i], i + 1);
    assert_int_equal(refs(f, i + 1), 1); /* the parts are gone, their chunks are not */
  }
  const ns_attrs *a = ns_file_attrs(f->ns, n);
  assert_non_null(a);
  assert_memory_equal(a->b, "tag", 3);
  assert_null(at(f, "/d/p1"));
  assert_null(at(f, "/d/p3"));
  /* a snapshot keeps the refcounts */
  ops_wbuf w;
  wb_init(&w);
  assert_int_equal(fsm_snapshot(f, &w), 0);
  fsm_t *g = fsm_new(1024);
  assert_int_equal(fsm_restore(g, w.p, w.len), 0);
  wb_free(&w);
  for (uint32_t i = 0; i < 5; i++) assert_int_equal(refs(g, i + 1), 1);
  fsm_free(g);
  /* deleting the composed file frees them */
  ops_op del = {.type = OP_DELETE, .path = "/d/obj", .mtime_ns = 30};
  assert_int_equal(apply(f, &del, NULL), 0);
  for (uint32_t i = 0; i < 5; i++) assert_null(chunks_get(&f->chunks, i + 1));
  fsm_free(f);
}

static void test_keep_sources(void **state) {
  (void)state;
  fsm_t *f = setup();
  assert_int_equal(put(f, "", "/d/p1", 1, 1, DFS_CHUNK_SIZE), 0);
  assert_int_equal(put(f, "", "/d/p2", 2, 1, 10), 0);
  const char *srcs[] = {"/d/p1", "/d/p2"};
  assert_int_equal(compose(f, "", "/d/obj", srcs, 2, 0, NULL, 0), 0);
  assert_int_equal(refs(f, 1), 2);
  assert_int_equal(refs(f, 2), 2);
  assert_null(ns_file_attrs(f->ns, at(f, "/d/obj")));
  /* deleting the sources keeps the composed file's chunks; then it goes too */
  ops_op del = {.type = OP_DELETE, .path = "/d/p1", .mtime_ns = 30};
  assert_int_equal(apply(f, &del, NULL), 0);
  assert_int_equal(refs(f, 1), 1);
  /* exists without overwrite; with overwrite it replaces (refs stay balanced) */
  const char *s2[] = {"/d/p2"};
  assert_int_equal(compose(f, "", "/d/obj", s2, 1, 0, NULL, 0), DFS_EEXIST);
  assert_int_equal(compose(f, "", "/d/obj", s2, 1, OPF_MAIN, NULL, 0), 0);
  assert_int_equal(refs(f, 1), 0);
  assert_null(chunks_get(&f->chunks, 1));
  assert_int_equal(refs(f, 2), 2);
  fsm_free(f);
}

static void test_refusals(void **state) {
  (void)state;
  fsm_t *f = setup();
  assert_int_equal(put(f, "", "/d/p1", 1, 1, DFS_CHUNK_SIZE), 0);
  assert_int_equal(put(f, "", "/d/half", 2, 1, 500), 0);
  assert_int_equal(put(f, "", "/d/p3", 3, 1, 7), 0);
  ops_op ch = {.type = OP_CHMOD, .path = "/d/p3", .mode = 0600, .mtime_ns = 2};
  assert_int_equal(apply(f, &ch, NULL), 0);
  ops_op home = {.type = OP_MKHOME, .str = "bob", .mtime_ns = 2};
  assert_int_equal(apply(f, &home, NULL), 0);
  const char *bad_part[] = {"/d/p1", "/d/half", "/d/p3"};
  assert_int_equal(compose(f, "", "/d/o", bad_part, 3, OPF_DELETE_SRCS, NULL, 0), DFS_EINVAL);
  const fsm_result *r = fsm_result_get(f, rid_next - 1);
  assert_non_null(strstr(r->msg, "part 2 is not a whole number of MiB"));
  const char *missing[] = {"/d/p1", "/d/nope"};
  assert_int_equal(compose(f, "", "/d/o", missing, 2, 0, NULL, 0), DFS_ENOENT);
  const char *twice[] = {"/d/p1", "/d/p1"};
  assert_int_equal(compose(f, "", "/d/o", twice, 2, 0, NULL, 0), DFS_EINVAL);
  const char *self[] = {"/d/p1", "/d/p3"};
  assert_int_equal(compose(f, "", "/d/p3", self, 2, OPF_MAIN, NULL, 0), DFS_EINVAL);
  const char *dir[] = {"/d"};
  assert_int_equal(compose(f, "", "/d/o", dir, 1, 0, NULL, 0), DFS_EISDIR);
  /* bob may not read p3 (0600, the superuser's) nor write /d/o's... he writes his home */
  const char *unreadable[] = {"/d/p1", "/d/p3"};
  assert_int_equal(compose(f, "bob", "/home/bob/o", unreadable, 2, 0, NULL, 0), DFS_EPERM);
  const char *readable[] = {"/d/p1"};
  assert_int_equal(compose(f, "bob", "/home/bob/o", readable, 1, 0, NULL, 0), 0);
  assert_int_equal(compose(f, "bob", "/home/bob/o2", readable, 1, OPF_DELETE_SRCS, NULL, 0),
                   0); /* /d is 0777 */
  assert_null(at(f, "/d/p1"));
  assert_int_equal(refs(f, 1), 2);
  /* nothing changed by the refusals */
  assert_null(at(f, "/d/o"));
  assert_non_null(at(f, "/d/half"));
  assert_non_null(at(f, "/d/p3"));
  assert_int_equal(refs(f, 2), 1);
  assert_int_equal(refs(f, 3), 1);
  fsm_free(f);
}

/* Quota: composing grows the owner like a commit; deleting the sources gives it back in
 * the same op, so an upload at its limit can still complete. */
static void test_quota(void **state) {
  (void)state;
  fsm_t *f = setup();
  ops_op home = {.type = OP_MKHOME, .str = "bob", .mtime_ns = 2};
  assert_int_equal(apply(f, &home, NULL), 0);
  assert_int_equal(put(f, "bob", "/home/bob/p1", 1, 1, DFS_CHUNK_SIZE), 0);
  assert_int_equal(put(f, "bob", "/home/bob/p2", 2, 1, 10), 0);
  ops_op q = {.type = OP_SET_QUOTA, .str = "admin", .flag = OPF_ADMIN, .path2 = "bob",
              .a = DFS_CHUNK_SIZE + 10 + 5, .b = 100};
  assert_int_equal(apply(f, &q, NULL), 0);
  const char *srcs[] = {"/home/bob/p1", "/home/bob/p2"};
  assert_int_equal(compose(f, "bob", "/home/bob/o", srcs, 2, 0, NULL, 0), DFS_EQUOTA);
  assert_null(at(f, "/home/bob/o"));
  assert_int_equal(compose(f, "bob", "/home/bob/o", srcs, 2, OPF_DELETE_SRCS, NULL, 0), 0);
  assert_non_null(at(f, "/home/bob/o"));
  assert_null(at(f, "/home/bob/p1"));
  fsm_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec),
      cmocka_unit_test(test_apply_refcounts),
      cmocka_unit_test(test_keep_sources),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_quota),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
