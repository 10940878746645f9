/* Unit tests of a file's client attributes in metad's state machine (fsm.c, ns.c,
 * trash.c): a COMMIT3 sets them, a commit replacing the file replaces them (none without
 * attrs), update with reuse is a commit too, copy (also recursive) copies them, rename,
 * trash and restore keep them, deletes free them; snapshot v4 keeps them (tree and
 * trash, same bytes after a round trip, truncations refused) and a hand-built v3
 * snapshot still loads, its files without attrs. */
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

static int op2(fsm_t *f, uint8_t type, const char *p, const char *p2, uint8_t flag,
               uint64_t a) {
  ops_op o = {0};
  o.type = type;
  o.path = p;
  o.path2 = p2;
  o.flag = flag;
  o.a = a;
  o.mtime_ns = 10;
  o.mode = 0755;
  return apply(f, &o, NULL);
}

/* A commit of path with chunks ch (n) and attrs (alen bytes; 0 = a COMMIT2 without). */
static int commit(fsm_t *f, const char *p, const ops_chunk *ch, uint32_t n, int overwrite,
                  const void *attrs, uint32_t alen) {
  ops_op o = {0};
  o.type = alen ? OP_COMMIT3 : OP_COMMIT2;
  o.path = p;
  o.mode = 0644;
  o.flag = overwrite ? OPF_MAIN : 0;
  o.replicas = 2;
  o.nchunks = n;
  for (uint32_t i = 0; i < n; i++) o.size += ch[i].length;
  o.attrs = attrs;
  o.attrs_len = alen;
  o.mtime_ns = 5;
  return apply(f, &o, ch);
}

static fsm_t *setup(void) {
  fsm_t *f = fsm_new(1024);
  ops_op r = {0};
  r.type = OP_RESERVE_IDS;
  r.a = 1;
  r.b = 1000;
  assert_int_equal(apply(f, &r, NULL), 0);
  ops_op m = {0};
  m.type = OP_MKDIR;
  m.path = "/d";
  m.mode = 0755;
  m.flag = OPF_MAIN;
  assert_int_equal(apply(f, &m, NULL), 0);
  return f;
}

static const ns_attrs *attrs_at(fsm_t *f, const char *path) {
  ns_inode *n;
  char msg[256];
  assert_int_equal(ns_lookup(f->ns, path, &n, msg, sizeof msg), 0);
  return ns_file_attrs(f->ns, n);
}

static void assert_attrs(fsm_t *f, const char *path, const void *want, uint32_t len) {
  const ns_attrs *a = attrs_at(f, path);
  if (!len) {
    assert_null(a);
    return;
  }
  assert_non_null(a);
  assert_int_equal(a->len, len);
  assert_memory_equal(a->b, want, len);
}

static uint8_t big[DFS_ATTRS_MAX]; /* with NULs */

static void test_commit_copy_rename(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i % 5);
  fsm_t *f = setup();
  assert_int_equal(commit(f, "/d/f", NULL, 0, 0, big, sizeof big), 0);
  assert_attrs(f, "/d/f", big, sizeof big);
  assert_int_equal(f->ns->attrs.count, 1);
  /* copy: same bytes, its own allocation */
  assert_int_equal(op2(f, OP_COPY, "/d/f", "/d/g", 0, 0), 0);
  assert_attrs(f, "/d/g", big, sizeof big);
  assert_ptr_not_equal(attrs_at(f, "/d/g"), attrs_at(f, "/d/f"));
  /* rename keeps them (same inode) */
  assert_int_equal(op2(f, OP_RENAME, "/d/g", "/d/h", 0, 0), 0);
  assert_attrs(f, "/d/h", big, sizeof big);
  /* a commit without attrs replaces the file: none; with: the new ones */
  assert_int_equal(commit(f, "/d/f", NULL, 0, 1, NULL, 0), 0);
  assert_attrs(f, "/d/f", NULL, 0);
  assert_int_equal(commit(f, "/d/f", NULL, 0, 1, "v2", 2), 0);
  assert_attrs(f, "/d/f", "v2", 2);
  /* a refused commit changes nothing */
  assert_int_equal(commit(f, "/d/f", NULL, 0, 0, "v3", 2), DFS_EEXIST);
  assert_attrs(f, "/d/f", "v2", 2);
  /* update with reuse is a commit: the reused file gets the new attrs */
  ops_chunk ch[1] = {{1, 1, 9, 8, 81, 0}};
  assert_int_equal(commit(f, "/d/r", ch, 1, 0, "one", 3), 0);
  ch[0].reuse = 1;
  assert_int_equal(commit(f, "/d/r", ch, 1, 1, "two", 3), 0);
  assert_attrs(f, "/d/r", "two", 3);
  assert_int_equal(chunks_get(&f->chunks, 1)->refs, 1);
  /* copy -r copies every file's attrs; deletes free them */
  assert_int_equal(op2(f, OP_COPY, "/d", "/e", OPF_RECURSIVE, 0), 0);
  assert_attrs(f, "/e/f", "v2", 2);
  assert_attrs(f, "/e/h", big, sizeof big);
  assert_attrs(f, "/e/r", "two", 3);
  assert_int_equal(f->ns->attrs.count, 6);
  assert_int_equal(op2(f, OP_DELETE, "/e", "", OPF_MAIN, 0), 0);
  assert_int_equal(f->ns->attrs.count, 3);
  fsm_free(f);
}

/* Snapshot bytes of f (owned by the caller: wb_free). */
static ops_wbuf snap(fsm_t *f) {
  ops_wbuf w;
  wb_init(&w);
  assert_int_equal(fsm_snapshot(f, &w), 0);
  return w;
}

static void test_trash_and_snapshot(void **state) {
  (void)state;
  fsm_t *f = setup();
  assert_int_equal(commit(f, "/d/keep", NULL, 0, 0, big, sizeof big), 0);
  assert_int_equal(commit(f, "/d/gone", NULL, 0, 0, "etag\0x", 6), 0);
  assert_int_equal(commit(f, "/d/plain", NULL, 0, 0, NULL, 0), 0);
  assert_int_equal(op2(f, OP_TRASH, "/d/gone", "", 0, 1000), 0);
  assert_int_equal(f->trash.n, 1);
  const ns_attrs *ta = ns_file_attrs(f->ns, f->trash.items[0].node);
  assert_non_null(ta);
  assert_int_equal(ta->len, 6);
  /* round trip: the same attrs in the tree and the trash, the same bytes again */
  ops_wbuf w = snap(f);
  fsm_t *g = fsm_new(1024);
  assert_int_equal(fsm_restore(g, w.p, w.len), 0);
  assert_attrs(g, "/d/keep", big, sizeof big);
  assert_attrs(g, "/d/plain", NULL, 0);
  assert_int_equal(g->ns->attrs.count, 2);
  ops_wbuf w2 = snap(g);
  assert_int_equal(w2.len, w.len);
  assert_memory_equal(w2.p, w.p, w.len);
  /* restore from the trash keeps them */
  assert_int_equal(op2(g, OP_TRASH_RESTORE, "", "", 0, g->trash.items[0].id), 0);
  assert_attrs(g, "/d/gone", "etag\0x", 6);
  /* truncated snapshots are refused, the state untouched (and nothing leaks: ASan) */
  for (size_t cut = 0; cut < w.len; cut += 61) {
    assert_int_not_equal(fsm_restore(g, w.p, cut), 0);
    assert_attrs(g, "/d/keep", big, sizeof big);
  }
  wb_free(&w);
  wb_free(&w2);
  fsm_free(f);
  fsm_free(g);
}

/* A file node as snapshot v1..3 wrote it (no attrs). */
static void old_file(ops_wbuf *w, const char *name, uint64_t ino) {
  wb_u8(w, 0);
  wb_str(w, name);
  wb_str(w, "ann");
  wb_u64(w, ino);
  wb_u64(w, 7);
  wb_u32(w, 0644);
  wb_u8(w, 2);  /* replicas */
  wb_u64(w, 0); /* size */
  wb_u32(w, 0); /* chunks */
}

/* A version-3 snapshot (the format before attrs), built field by field: / with one file,
 * one trash item holding a file. It loads, with no attrs anywhere, and the next snapshot
 * is a v4 that loads again. */
static void test_v3_snapshot_loads(void **state) {
  (void)state;
  fsm_t *empty = fsm_new(8);
  ops_wbuf w;
  wb_init(&w);
  wb_u32(&w, 0x314e534du); /* "MSN1" */
  wb_u32(&w, 3);
  wb_u64(&w, 0);           /* ids_reserved */
  wb_u64(&w, 0);           /* metas */
  wb_u64(&w, 0);           /* results */
  servers_encode(&empty->servers, &w);
  chunks_encode(&empty->chunks, &w);
  wb_u64(&w, 10);          /* next_ino */
  wb_u8(&w, 1);            /* root */
  wb_str(&w, "");
  wb_str(&w, "");
  wb_u64(&w, 1);
  wb_u64(&w, 7);
  wb_u32(&w, 0755);
  wb_u32(&w, 1);
  old_file(&w, "old", 2);
  wb_u64(&w, 0);           /* crc64s */
  wb_u64(&w, 2);           /* trash: next id, one item */
  wb_u64(&w, 1);
  wb_u64(&w, 1);
  wb_str(&w, "ann");
  wb_str(&w, "/binned");
  wb_u64(&w, 8);
  wb_u64(&w, 1000);
  old_file(&w, "binned", 3);
  wb_u64(&w, 9);           /* v3: clock, retired ids, quotas */
  wb_u64(&w, 0);
  wb_u64(&w, 0);
  wb_pad8(&w);
  assert_int_equal(w.oom, 0);
  fsm_t *g = fsm_new(64);
  assert_int_equal(fsm_restore(g, w.p, w.len), 0);
  assert_int_equal(g->ns->files, 2);
  assert_attrs(g, "/old", NULL, 0);
  assert_int_equal(g->trash.n, 1);
  assert_null(ns_file_attrs(g->ns, g->trash.items[0].node));
  assert_int_equal(g->ns->attrs.count, 0);
  /* the same bytes claiming v4 are malformed (the file nodes lack the attrs field) */
  ops_wbuf v4;
  wb_init(&v4);
  wb_bytes(&v4, w.p, w.len);
  wb_put_u32_at(&v4, 4, 4);
  assert_int_not_equal(fsm_restore(g, v4.p, v4.len), 0);
  /* what the upgraded metad writes next is the current version (v4 with attrs; v5 since
   * symbolic links) and loads */
  ops_wbuf s = snap(g);
  assert_int_equal(s.p[4], 5);
  fsm_t *h = fsm_new(64);
  assert_int_equal(fsm_restore(h, s.p, s.len), 0);
  assert_int_equal(h->ns->files, 2);
  wb_free(&w);
  wb_free(&v4);
  wb_free(&s);
  fsm_free(empty);
  fsm_free(g);
  fsm_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_commit_copy_rename),
      cmocka_unit_test(test_trash_and_snapshot),
      cmocka_unit_test(test_v3_snapshot_loads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
