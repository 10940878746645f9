/* Unit tests of the issue-4 ops in src/metad/fsm.c and trash.c: delete into the trash,
 * per-user visibility, restore (original path, other path, EEXIST), empty, expiry by
 * the leader's clock, chunks kept until the trash lets go, copy sharing chunks, rename
 * edge cases, setrep goals, update with reuse, permission checks for other users, and a
 * snapshot round trip keeping trash, goals and crc64. */
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

#define MIB (1u << 20)

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

static int op2(fsm_t *f, uint8_t type, const char *user, const char *p, const char *p2,
               uint8_t flag, uint64_t a, int64_t t) {
  ops_op o = {0};
  o.type = type;
  o.str = user;
  o.path = p;
  o.path2 = p2;
  o.flag = flag;
  o.a = a;
  o.mtime_ns = t;
  o.mode = 0755;
  return apply(f, &o, NULL);
}

static int mkdirp(fsm_t *f, const char *user, const char *p, uint32_t mode) {
  ops_op o = {0};
  o.type = OP_MKDIR;
  o.str = user;
  o.path = p;
  o.flag = OPF_MAIN;
  o.mode = mode;
  o.mtime_ns = 1;
  return apply(f, &o, NULL);
}

static int commit(fsm_t *f, const char *user, const char *p, const ops_chunk *ch, uint32_t n,
                  int overwrite) {
  ops_op o = {0};
  o.type = OP_COMMIT2;
  o.str = user;
  o.path = p;
  o.mode = 0644;
  o.flag = overwrite ? OPF_MAIN : 0;
  o.replicas = 2;
  o.nchunks = n;
  for (uint32_t i = 0; i < n; i++) o.size += ch[i].length;
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
  return f;
}

static uint32_t refs(fsm_t *f, uint64_t id) {
  chunk_ent *ce = chunks_get(&f->chunks, id);
  return ce ? ce->refs : 0;
}

static void test_trash_cycle(void **state) {
  (void)state;
  fsm_t *f = setup();
  ops_chunk ch[2] = {{1, 1, MIB, 7, 71, 0}, {2, 1, 9, 8, 81, 0}};
  assert_int_equal(mkdirp(f, "", "/d/e", 0755), 0);
  assert_int_equal(commit(f, "", "/d/e/f", ch, 2, 0), 0);
  /* non-empty dir needs recursive */
  assert_int_equal(op2(f, OP_TRASH, "", "/d", "", 0, 100, 10), DFS_ENOTEMPTY);
  assert_int_equal(op2(f, OP_TRASH, "", "/d", "", OPF_MAIN, 100, 10), 0);
  assert_int_equal(f->trash.n, 1);
  ns_inode *n;
  char msg[256];
  assert_int_equal(ns_lookup(f->ns, "/d", &n, msg, sizeof msg), DFS_ENOENT);
  assert_int_equal(refs(f, 1), 1); /* space kept while in the trash */
  uint64_t id = f->trash.items[0].id;
  /* restore to the original path */
  assert_int_equal(op2(f, OP_TRASH_RESTORE, "", "", "", 0, id, 11), 0);
  assert_int_equal(ns_lookup(f->ns, "/d/e/f", &n, msg, sizeof msg), 0);
  assert_int_equal(f->trash.n, 0);
  /* restore onto an existing name: EEXIST; elsewhere: fine */
  assert_int_equal(op2(f, OP_TRASH, "", "/d/e/f", "", 0, 100, 12), 0);
  id = f->trash.items[0].id;
  assert_int_equal(commit(f, "", "/d/e/f", NULL, 0, 0), 0);
  assert_int_equal(op2(f, OP_TRASH_RESTORE, "", "", "", 0, id, 13), DFS_EEXIST);
  assert_int_equal(op2(f, OP_TRASH_RESTORE, "", "", "/d/g", 0, id, 13), 0);
  assert_int_equal(ns_lookup(f->ns, "/d/g", &n, msg, sizeof msg), 0);
  assert_int_equal(n->u.file.nchunks, 2);
  /* expiry by the clock carried in the op */
  assert_int_equal(op2(f, OP_TRASH, "", "/d/g", "", 0, 100, 14), 0);
  assert_int_equal(op2(f, OP_TRASH_EXPIRE, "", "", "", 0, 0, 99), 0);
  assert_int_equal(f->trash.n, 1);
  assert_int_equal(refs(f, 1), 1);
  assert_int_equal(op2(f, OP_TRASH_EXPIRE, "", "", "", 0, 0, 100), 0);
  assert_int_equal(f->trash.n, 0);
  assert_int_equal(refs(f, 1), 0); /* released */
  assert_int_equal(op2(f, OP_TRASH_EMPTY, "", "", "", 0, 12345, 101), DFS_ENOENT);
  fsm_free(f);
}

static void test_trash_per_user(void **state) {
  (void)state;
  fsm_t *f = setup();
  ops_op h = {0};
  h.type = OP_MKHOME;
  h.str = "ann";
  h.mtime_ns = 1;
  assert_int_equal(apply(f, &h, NULL), 0);
  h.str = "bob";
  assert_int_equal(apply(f, &h, NULL), 0);
  assert_int_equal(mkdirp(f, "ann", "/home/ann/x", 0755), 0);
  assert_int_equal(mkdirp(f, "bob", "/home/bob/y", 0755), 0);
  /* bob may not delete in ann's home */
  assert_int_equal(op2(f, OP_TRASH, "bob", "/home/ann/x", "", 0, 100, 2), DFS_EPERM);
  assert_int_equal(op2(f, OP_TRASH, "ann", "/home/ann/x", "", 0, 100, 2), 0);
  assert_int_equal(op2(f, OP_TRASH, "bob", "/home/bob/y", "", 0, 100, 2), 0);
  uint64_t ann_item = f->trash.items[0].id;
  /* bob cannot see, restore or empty ann's item */
  assert_int_equal(op2(f, OP_TRASH_RESTORE, "bob", "", "/home/bob/z", 0, ann_item, 3),
                   DFS_ENOENT);
  assert_int_equal(op2(f, OP_TRASH_EMPTY, "bob", "", "", 0, ann_item, 3), DFS_ENOENT);
  /* empty-all only takes bob's own items */
  assert_int_equal(op2(f, OP_TRASH_EMPTY, "bob", "", "", 0, 0, 3), 0);
  assert_int_equal(f->trash.n, 1);
  assert_string_equal(f->trash.items[0].user, "ann");
  /* an admin may act on it */
  assert_int_equal(op2(f, OP_TRASH_EMPTY, "root", "", "", OPF_ADMIN, ann_item, 4), 0);
  assert_int_equal(f->trash.n, 0);
  fsm_free(f);
}

static void test_rename_copy_edges(void **state) {
  (void)state;
  fsm_t *f = setup();
  ops_chunk ch[1] = {{5, 1, 100, 7, 55, 0}};
  char msg[256];
  ns_inode *n;
  assert_int_equal(mkdirp(f, "", "/a/b/c", 0755), 0);
  assert_int_equal(commit(f, "", "/a/file", ch, 1, 0), 0);
  assert_int_equal(op2(f, OP_RENAME, "", "/a", "/a/b/c/a", 0, 0, 2), DFS_EINVAL);
  assert_int_equal(op2(f, OP_RENAME, "", "/a", "/a", 0, 0, 2), 0);
  assert_int_equal(op2(f, OP_RENAME, "", "/", "/x", 0, 0, 2), DFS_EINVAL);
  assert_int_equal(op2(f, OP_RENAME, "", "/a/file", "/a/b", OPF_MAIN, 0, 2), DFS_EISDIR);
  assert_int_equal(op2(f, OP_RENAME, "", "/a/b", "/a/file", OPF_MAIN, 0, 2), DFS_ENOTDIR);
  assert_int_equal(op2(f, OP_RENAME, "", "/a/b/c", "/a/b", OPF_MAIN, 0, 2), DFS_ENOTEMPTY);
  assert_int_equal(op2(f, OP_RENAME, "", "/a/file", "/nodir/x", 0, 0, 2), DFS_ENOENT);
  /* move a dir across: the subtree follows */
  assert_int_equal(op2(f, OP_RENAME, "", "/a/b", "/b2", 0, 0, 3), 0);
  assert_int_equal(ns_lookup(f->ns, "/b2/c", &n, msg, sizeof msg), 0);
  /* empty dir replaced by a dir with overwrite */
  assert_int_equal(mkdirp(f, "", "/empty", 0755), 0);
  assert_int_equal(op2(f, OP_RENAME, "", "/b2", "/empty", OPF_MAIN, 0, 4), 0);
  assert_int_equal(ns_lookup(f->ns, "/empty/c", &n, msg, sizeof msg), 0);
  /* copy shares the chunk; deleting the source keeps it */
  assert_int_equal(op2(f, OP_COPY, "", "/a/file", "/a/copy", 0, 0, 5), 0);
  assert_int_equal(refs(f, 5), 2);
  assert_int_equal(fsm_result_get(f, rid_next - 1)->val, 1);
  assert_int_equal(fsm_result_get(f, rid_next - 1)->val2, 100);
  assert_int_equal(op2(f, OP_COPY, "", "/a/file", "/a/copy", 0, 0, 5), DFS_EEXIST);
  assert_int_equal(op2(f, OP_COPY, "", "/a/file", "/a/copy", OPF_MAIN, 0, 5), 0);
  assert_int_equal(refs(f, 5), 2);
  assert_int_equal(op2(f, OP_DELETE, "", "/a/file", "", 0, 0, 6), 0);
  assert_int_equal(refs(f, 5), 1);
  /* rename onto a file replaces it and releases its chunks */
  assert_int_equal(commit(f, "", "/a/new", NULL, 0, 0), 0);
  assert_int_equal(op2(f, OP_RENAME, "", "/a/new", "/a/copy", OPF_MAIN, 0, 7), 0);
  assert_int_equal(refs(f, 5), 0);
  /* copies belong to the caller; reading needs r */
  ops_op h = {0};
  h.type = OP_MKHOME;
  h.str = "ann";
  h.mtime_ns = 1;
  assert_int_equal(apply(f, &h, NULL), 0);
  assert_int_equal(mkdirp(f, "", "/pub", 0777), 0);
  assert_int_equal(commit(f, "", "/pub/secret", NULL, 0, 0), 0);
  ops_op ch_o = {0};
  ch_o.type = OP_CHMOD;
  ch_o.path = "/pub/secret";
  ch_o.mode = 0600;
  assert_int_equal(apply(f, &ch_o, NULL), 0);
  assert_int_equal(op2(f, OP_COPY, "ann", "/pub/secret", "/home/ann/s", 0, 0, 8), DFS_EPERM);
  assert_int_equal(op2(f, OP_COPY, "ann", "/a", "/home/ann/a", OPF_RECURSIVE, 0, 8), 0);
  assert_int_equal(ns_lookup(f->ns, "/home/ann/a", &n, msg, sizeof msg), 0);
  assert_string_equal(n->owner, "ann");
  /* setrep: only the owner */
  assert_int_equal(op2(f, OP_SETREP, "ann", "/pub/secret", "", 0, 2, 9), DFS_EPERM);
  fsm_free(f);
}

static void test_reuse_setrep_snapshot(void **state) {
  (void)state;
  fsm_t *f = setup();
  ops_chunk v1[2] = {{1, 1, MIB, 7, 71, 0}, {2, 1, 9, 8, 81, 0}};
  assert_int_equal(commit(f, "", "/f", v1, 2, 0), 0);
  /* reuse with a wrong crc64, or without overwrite, or of another file's chunk: refused */
  ops_chunk bad[2] = {{1, 1, MIB, 7, 72, 1}, {3, 1, 9, 9, 91, 0}};
  assert_int_equal(commit(f, "", "/f", bad, 2, 1), DFS_EINVAL);
  ops_chunk v2[2] = {{1, 1, MIB, 7, 71, 1}, {3, 1, 9, 9, 91, 0}};
  assert_int_equal(commit(f, "", "/f", v2, 2, 0), DFS_EEXIST);
  assert_int_equal(commit(f, "", "/g", v2, 2, 0), DFS_EINVAL);
  assert_int_equal(commit(f, "", "/f", v2, 2, 1), 0);
  assert_int_equal(refs(f, 1), 1); /* shared by the update, never collected */
  assert_int_equal(refs(f, 2), 0);
  assert_int_equal(chunks_get(&f->chunks, 3)->crc64, 91);
  /* setrep: goal of file and chunks */
  assert_int_equal(op2(f, OP_SETREP, "", "/f", "", 0, 5, 6), 0);
  assert_int_equal(chunks_get(&f->chunks, 1)->goal, 5);
  assert_int_equal(op2(f, OP_SETREP, "", "/f", "", 0, 17, 6), DFS_EINVAL);
  /* a trash item, then a snapshot round trip */
  assert_int_equal(mkdirp(f, "", "/t/u", 0755), 0);
  assert_int_equal(op2(f, OP_TRASH, "", "/t", "", OPF_MAIN, 777, 7), 0);
  assert_int_equal(op2(f, OP_COPY, "", "/f", "/f2", 0, 0, 8), 0);
  ops_wbuf w;
  wb_init(&w);
  assert_int_equal(fsm_snapshot(f, &w), 0);
  fsm_t *g = fsm_new(1024);
  assert_int_equal(fsm_restore(g, w.p, w.len), 0);
  assert_int_equal(g->trash.n, 1);
  assert_string_equal(g->trash.items[0].path, "/t");
  assert_int_equal(g->trash.items[0].expires_ns, 777);
  assert_int_equal(chunks_get(&g->chunks, 1)->goal, 5);
  assert_int_equal(chunks_get(&g->chunks, 1)->crc64, 71);
  assert_int_equal(chunks_get(&g->chunks, 3)->crc64, 91);
  assert_int_equal(fsm_result_get(g, rid_next - 1)->val2, MIB + 9);
  /* the restored state keeps working: restore the trash item, search finds it */
  uint64_t id = g->trash.items[0].id;
  assert_int_equal(op2(g, OP_TRASH_RESTORE, "", "", "", 0, id, 9), 0);
  ns_inode *n;
  char msg[256];
  assert_int_equal(ns_lookup(g->ns, "/t/u", &n, msg, sizeof msg), 0);
  assert_int_equal(n->sidx != SEARCH_NONE, 1);
  /* a truncated snapshot is refused */
  for (size_t cut = 8; cut + 8 < w.len; cut += 7)
    assert_int_not_equal(fsm_restore(g, w.p, cut), 0);
  wb_free(&w);
  fsm_free(g);
  fsm_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trash_cycle),
      cmocka_unit_test(test_trash_per_user),
      cmocka_unit_test(test_rename_copy_edges),
      cmocka_unit_test(test_reuse_setrep_snapshot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
