/* Unit tests of metad's symbolic links and explicit touch mtimes (ops.c OP_SYMLINK and
 * OP_TOUCH2, fsm.c apply, ns.c links, snapshot v5): codec round trips and refusals, an
 * old TOUCH entry still applying, permissions at apply time, what every namespace op does
 * with a link (rename, copy, trash and restore, delete, overwrite by a commit, compose,
 * setrep), quota entries, a v5 snapshot round trip and a v4 one refusing a link node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "metad/fsm.h"
#include "metad/ns.h"
#include "metad/ops.h"

static uint64_t next_rid = 1000;

static ops_wbuf entry1(const ops_op *op) {
  ops_wbuf w;
  ops_entry_begin(&w);
  ops_append(&w, op, NULL);
  assert_int_equal(ops_entry_end(&w), 0);
  return w;
}

/* Applies op (a fresh request id) and returns its recorded error. */
static int apply(fsm_t *f, ops_op op) {
  op.rid = ++next_rid;
  ops_wbuf w = entry1(&op);
  assert_int_equal(fsm_apply_entry(f, w.p, w.len), 0);
  wb_free(&w);
  const fsm_result *r = fsm_result_get(f, op.rid);
  assert_non_null(r);
  return r->err;
}

static ops_op op_of(uint8_t type, const char *path, const char *user) {
  ops_op o = {0};
  o.type = type;
  o.path = path;
  o.path2 = "";
  o.str = user;
  o.mtime_ns = 1000 + (int64_t)next_rid;
  o.mode = 0755;
  return o;
}

static int mkdir_as(fsm_t *f, const char *path, const char *user, uint32_t mode) {
  ops_op o = op_of(OP_MKDIR, path, user);
  o.mode = mode;
  o.flag = OPF_MAIN;
  return apply(f, o);
}

static int symlink_as(fsm_t *f, const char *path, const char *target, const char *user) {
  ops_op o = op_of(OP_SYMLINK, path, user);
  o.path2 = target;
  o.mode = 0777;
  return apply(f, o);
}

static int touch2_as(fsm_t *f, const char *path, int64_t mtime, const char *user) {
  ops_op o = op_of(mtime ? OP_TOUCH2 : OP_TOUCH, path, user);
  o.mode = 0644;
  o.a = 2;
  o.set_mtime_ns = mtime;
  return apply(f, o);
}

static ns_inode *look(fsm_t *f, const char *path) {
  ns_inode *n = NULL;
  char msg[256];
  return ns_lookup(f->ns, path, &n, msg, sizeof msg) ? NULL : n;
}

/* ---- codec ---- */

static void test_codec(void **state) {
  (void)state;
  ops_op o = op_of(OP_TOUCH2, "/a/f", "ann");
  o.rid = 7;
  o.set_mtime_ns = 123456789;
  o.a = 3;
  ops_wbuf w = entry1(&o);
  ops_iter it;
  ops_op d;
  assert_int_equal(ops_iter_init(&it, w.p, w.len), 0);
  assert_int_equal(ops_next(&it, &d), 1);
  assert_int_equal(d.type, OP_TOUCH2);
  assert_int_equal(d.set_mtime_ns, 123456789);
  assert_int_equal(d.a, 3);
  assert_string_equal(d.path, "/a/f");
  assert_string_equal(d.str, "ann");
  uint64_t dig = ops_digest(&d);
  assert_int_equal(ops_next(&it, &d), 0);
  /* another mtime is another request */
  o.set_mtime_ns = 123456790;
  assert_int_not_equal(ops_digest_encoded(&o, NULL), dig);
  /* truncated: the explicit mtime missing */
  size_t full = w.len;
  while (full > 8 && !w.p[full - 1]) full--; /* the padding */
  for (size_t cut = 8; cut < full; cut++) {
    assert_int_equal(ops_iter_init(&it, w.p, cut), 0);
    assert_int_equal(ops_next(&it, &d), DFS_EPROTO);
  }
  wb_free(&w);
  /* zero or negative: refused by the decoder (a touch to now is a TOUCH) */
  o.set_mtime_ns = -1;
  w = entry1(&o);
  assert_int_equal(ops_iter_init(&it, w.p, w.len), 0);
  assert_int_equal(ops_next(&it, &d), DFS_EPROTO);
  wb_free(&w);
  /* an old TOUCH decodes unchanged, without an explicit mtime, and its digest does not
   * depend on set_mtime_ns */
  ops_op t = op_of(OP_TOUCH, "/a/f", "ann");
  t.rid = 8;
  uint64_t d1 = ops_digest_encoded(&t, NULL);
  t.set_mtime_ns = 99; /* not encoded in a TOUCH */
  assert_int_equal(ops_digest_encoded(&t, NULL), d1);
  w = entry1(&t);
  assert_int_equal(ops_iter_init(&it, w.p, w.len), 0);
  assert_int_equal(ops_next(&it, &d), 1);
  assert_int_equal(d.type, OP_TOUCH);
  assert_int_equal(d.set_mtime_ns, 0);
  wb_free(&w);
  /* SYMLINK: path, user, target */
  ops_op s = op_of(OP_SYMLINK, "/a/l", "bob");
  s.rid = 9;
  s.path2 = "../t a r/g\xc3\xa9t";
  w = entry1(&s);
  assert_int_equal(ops_iter_init(&it, w.p, w.len), 0);
  assert_int_equal(ops_next(&it, &d), 1);
  assert_int_equal(d.type, OP_SYMLINK);
  assert_string_equal(d.path2, "../t a r/g\xc3\xa9t");
  assert_string_equal(d.str, "bob");
  wb_free(&w);
}

/* ---- apply ---- */

static void test_symlink_apply(void **state) {
  (void)state;
  fsm_t *f = fsm_new(64);
  assert_int_equal(mkdir_as(f, "/d", "", 0755), 0);
  assert_int_equal(symlink_as(f, "/d/l", "target/x", ""), 0);
  ns_inode *l = look(f, "/d/l");
  assert_non_null(l);
  assert_true(l->is_link);
  assert_false(l->is_dir);
  assert_string_equal(ns_link_target(l), "target/x");
  assert_int_equal(l->mode, 0777);
  assert_int_equal(f->ns->files, 1);
  /* refusals: existing path, empty or too long target, missing parent, through a link */
  assert_int_equal(symlink_as(f, "/d/l", "y", ""), DFS_EEXIST);
  assert_int_equal(symlink_as(f, "/d", "y", ""), DFS_EEXIST);
  assert_int_equal(symlink_as(f, "/", "y", ""), DFS_EEXIST);
  assert_int_equal(symlink_as(f, "/d/e", "", ""), DFS_EINVAL);
  char *big = malloc(NS_LINK_MAX + 2);
  memset(big, 'x', NS_LINK_MAX + 1);
  big[NS_LINK_MAX + 1] = 0;
  assert_int_equal(symlink_as(f, "/d/e", big, ""), DFS_EINVAL);
  big[NS_LINK_MAX] = 0;
  assert_int_equal(symlink_as(f, "/d/e", big, ""), 0); /* the longest allowed */
  free(big);
  assert_int_equal(symlink_as(f, "/nope/e", "t", ""), DFS_ENOENT);
  assert_int_equal(symlink_as(f, "/d/l/x", "t", ""), DFS_ENOTDIR);
  assert_int_equal(symlink_as(f, "/d/../x", "t", ""), DFS_EBADPATH);
  /* rename, copy (the link, not what it names), chmod, touch */
  ops_op o = op_of(OP_RENAME, "/d/l", "");
  o.path2 = "/d/m";
  assert_int_equal(apply(f, o), 0);
  assert_null(look(f, "/d/l"));
  assert_string_equal(ns_link_target(look(f, "/d/m")), "target/x");
  o = op_of(OP_COPY, "/d/m", "");
  o.path2 = "/d/c";
  assert_int_equal(apply(f, o), 0);
  assert_true(look(f, "/d/c")->is_link);
  assert_string_equal(ns_link_target(look(f, "/d/c")), "target/x");
  assert_ptr_not_equal(ns_link_target(look(f, "/d/c")), ns_link_target(look(f, "/d/m")));
  o = op_of(OP_CHMOD, "/d/c", "");
  o.mode = 0700;
  assert_int_equal(apply(f, o), 0);
  assert_int_equal(look(f, "/d/c")->mode, 0700);
  assert_int_equal(touch2_as(f, "/d/c", 42, ""), 0);
  assert_int_equal(look(f, "/d/c")->mtime_ns, 42);
  /* setrep: a link has no chunks, nothing counted */
  o = op_of(OP_SETREP, "/d/c", "");
  o.a = 2;
  assert_int_equal(apply(f, o), 0);
  /* trash and restore keep it */
  o = op_of(OP_TRASH, "/d/c", "");
  o.a = 1ull << 62;
  assert_int_equal(apply(f, o), 0);
  assert_null(look(f, "/d/c"));
  assert_int_equal(f->trash.n, 1);
  o = op_of(OP_TRASH_RESTORE, "", "");
  o.a = f->trash.items[0].id;
  assert_int_equal(apply(f, o), 0);
  assert_string_equal(ns_link_target(look(f, "/d/c")), "target/x");
  /* a commit over it: EEXIST without overwrite, replaced with */
  ops_op cm = op_of(OP_COMMIT2, "/d/c", "");
  cm.mode = 0644;
  cm.replicas = 2;
  assert_int_equal(apply(f, cm), DFS_EEXIST);
  cm.flag = OPF_MAIN;
  assert_int_equal(apply(f, cm), 0);
  assert_false(look(f, "/d/c")->is_link);
  /* compose refuses a link source */
  ops_op cp = op_of(OP_COMPOSE, "/d/k", "");
  const char *srcs[] = {"/d/m"};
  cp.nsrcs = 1;
  cp.src_list = srcs;
  assert_int_equal(apply(f, cp), DFS_EINVAL);
  /* delete, recursive delete */
  o = op_of(OP_DELETE, "/d/m", "");
  assert_int_equal(apply(f, o), 0);
  assert_null(look(f, "/d/m"));
  o = op_of(OP_DELETE, "/d", "");
  o.flag = OPF_MAIN;
  assert_int_equal(apply(f, o), 0);
  assert_int_equal(f->ns->files, 0);
  fsm_free(f);
}

static void test_permissions_and_quota(void **state) {
  (void)state;
  fsm_t *f = fsm_new(64);
  assert_int_equal(mkdir_as(f, "/home/bob", "", 0755), 0);
  ns_inode *home = look(f, "/home/bob");
  assert_int_equal(ns_set_owner(f->ns, home, "bob"), 0);
  home->mode = 0755;
  assert_int_equal(symlink_as(f, "/home/bob/l", "t", "bob"), 0);
  assert_string_equal(look(f, "/home/bob/l")->owner, "bob");
  assert_int_equal(symlink_as(f, "/home/bob/evil", "t", "ann"), DFS_EPERM);
  assert_null(look(f, "/home/bob/evil"));
  /* explicit mtimes: the owner (or an admin) only */
  assert_int_equal(touch2_as(f, "/home/bob/f", 5000, "bob"), 0); /* a new file gets it */
  assert_int_equal(look(f, "/home/bob/f")->mtime_ns, 5000);
  look(f, "/home/bob/f")->mode = 0666;
  assert_int_equal(touch2_as(f, "/home/bob/f", 7, "ann"), DFS_EPERM);
  assert_int_equal(look(f, "/home/bob/f")->mtime_ns, 5000);
  assert_int_equal(touch2_as(f, "/home/bob/l", 7, "ann"), DFS_EPERM);
  assert_int_equal(touch2_as(f, "/home/bob", 7, "ann"), DFS_EPERM);
  assert_int_equal(touch2_as(f, "/home/bob/new", 7, "ann"), DFS_EPERM); /* no w on dir */
  ops_op o = op_of(OP_TOUCH2, "/home/bob/f", "ann");
  o.set_mtime_ns = 8;
  o.flag = OPF_ADMIN;
  assert_int_equal(apply(f, o), 0);
  assert_int_equal(look(f, "/home/bob/f")->mtime_ns, 8);
  assert_int_equal(touch2_as(f, "/home/bob", 9, "bob"), 0);
  assert_int_equal(look(f, "/home/bob")->mtime_ns, 9);
  /* quota: a link is one entry and no bytes */
  uint64_t e, b;
  ns_usage_of(f->ns, "bob", &e, &b);
  assert_int_equal(b, 0);
  uint64_t before = e;
  assert_int_equal(symlink_as(f, "/home/bob/l2", "0123456789", "bob"), 0);
  ns_usage_of(f->ns, "bob", &e, &b);
  assert_int_equal(e, before + 1);
  assert_int_equal(b, 0);
  o = op_of(OP_SET_QUOTA, "", "");
  o.flag = OPF_ADMIN;
  o.path2 = "bob";
  o.b = e; /* entries: exactly what bob has */
  assert_int_equal(apply(f, o), 0);
  assert_int_equal(symlink_as(f, "/home/bob/l3", "t", "bob"), DFS_EQUOTA);
  fsm_free(f);
}

/* ---- snapshot ---- */

static void test_snapshot(void **state) {
  (void)state;
  fsm_t *f = fsm_new(64);
  assert_int_equal(mkdir_as(f, "/d", "", 0755), 0);
  assert_int_equal(symlink_as(f, "/d/l", "../x", ""), 0);
  assert_int_equal(symlink_as(f, "/d/t", "in the trash", ""), 0);
  ops_op o = op_of(OP_TRASH, "/d/t", "");
  o.a = 1ull << 62;
  assert_int_equal(apply(f, o), 0);
  ops_wbuf w;
  wb_init(&w);
  assert_int_equal(fsm_snapshot(f, &w), 0);
  assert_int_equal(w.p[4], 5);
  fsm_t *g = fsm_new(64);
  assert_int_equal(fsm_restore(g, w.p, w.len), 0);
  ns_inode *l = look(g, "/d/l");
  assert_non_null(l);
  assert_true(l->is_link);
  assert_string_equal(ns_link_target(l), "../x");
  assert_int_equal(l->mode, 0777);
  assert_int_equal(g->ns->files, 2);
  assert_int_equal(g->trash.n, 1);
  assert_string_equal(ns_link_target(g->trash.items[0].node), "in the trash");
  /* the same state snapshots to the same bytes */
  ops_wbuf w2;
  wb_init(&w2);
  assert_int_equal(fsm_snapshot(g, &w2), 0);
  assert_int_equal(w2.len, w.len);
  assert_memory_equal(w2.p, w.p, w.len);
  /* claiming v4, a link node is malformed (v4 had none) */
  wb_put_u32_at(&w2, 4, 4);
  fsm_t *h = fsm_new(64);
  assert_int_not_equal(fsm_restore(h, w2.p, w2.len), 0);
  /* every truncation is refused, never a crash (short of the final quota count and the
   * padding, which a shorter buffer may still hold whole) */
  for (size_t cut = 0; cut + 16 <= w.len; cut += 3)
    assert_int_not_equal(fsm_restore(h, w.p, cut), 0);
  wb_free(&w);
  wb_free(&w2);
  fsm_free(f);
  fsm_free(g);
  fsm_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec),
      cmocka_unit_test(test_symlink_apply),
      cmocka_unit_test(test_permissions_and_quota),
      cmocka_unit_test(test_snapshot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
