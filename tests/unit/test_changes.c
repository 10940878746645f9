/* Unit tests of metad's change feed: the ring (src/metad/changes.c: numbering, since = 0,
 * overflow from the past and the future, the entry and byte bounds, pages, epochs, the
 * out-of-memory gap), the permission filter (perm_may_see) and the paths fsm.c's apply
 * records for each namespace op. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/path.h"
#include "metad/changes.h"
#include "metad/fsm.h"
#include "metad/perm.h"

static const char *out[CHANGES_CAP];

static void test_ring_basics(void **state) {
  (void)state;
  changes_t *c = malloc(sizeof *c);
  changes_init(c);
  assert_int_not_equal(c->epoch, 0);
  size_t n;
  uint64_t next;
  int over;
  changes_since(c, 0, 16, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(n, 0);
  assert_int_equal(over, 0);
  assert_int_equal(next, 1);
  changes_add(c, "/a");
  changes_add(c, "/b/c");
  changes_add(c, NULL); /* ignored */
  changes_add(c, "");
  changes_since(c, 0, 16, NULL, NULL, out, &n, &next, &over); /* since 0: nothing */
  assert_int_equal(n, 0);
  assert_int_equal(next, 3);
  changes_since(c, 1, 16, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(n, 2);
  assert_string_equal(out[0], "/a");
  assert_string_equal(out[1], "/b/c");
  assert_int_equal(next, 3);
  assert_int_equal(over, 0);
  changes_since(c, 2, 16, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(n, 1);
  assert_string_equal(out[0], "/b/c");
  changes_since(c, 3, 16, NULL, NULL, out, &n, &next, &over); /* up to date */
  assert_int_equal(n, 0);
  assert_int_equal(over, 0);
  assert_int_equal(next, 3);
  changes_since(c, 4, 16, NULL, NULL, out, &n, &next, &over); /* from the future */
  assert_int_equal(over, 1);
  assert_int_equal(n, 0);
  assert_int_equal(next, 3);
  changes_since(c, UINT64_MAX, 16, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(over, 1);
  /* a page: max entries, next right after the last one returned */
  changes_since(c, 1, 1, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(n, 1);
  assert_int_equal(next, 2);
  /* reset: a new epoch, a new numbering */
  uint64_t e = c->epoch;
  changes_reset(c);
  assert_int_not_equal(c->epoch, e);
  assert_int_not_equal(c->epoch, 0);
  assert_int_equal(c->next, 1);
  assert_int_equal(c->bytes, 0);
  changes_free(c);
  free(c);
}

static void test_ring_bounds(void **state) {
  (void)state;
  changes_t *c = malloc(sizeof *c);
  changes_init(c);
  char p[64];
  for (int i = 0; i < CHANGES_CAP + 10; i++) {
    snprintf(p, sizeof p, "/f%05d", i);
    changes_add(c, p);
  }
  assert_int_equal(c->next - c->first, CHANGES_CAP);
  size_t n;
  uint64_t next;
  int over;
  changes_since(c, 5, CHANGES_CAP, NULL, NULL, out, &n, &next, &over); /* evicted */
  assert_int_equal(over, 1);
  assert_int_equal(n, 0);
  changes_since(c, c->first, CHANGES_CAP, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(over, 0);
  assert_int_equal(n, CHANGES_CAP);
  assert_string_equal(out[0], "/f00010");
  assert_string_equal(out[CHANGES_CAP - 1], "/f04105");
  /* long paths: the byte bound holds before the entry bound */
  char *big = malloc(DFS_PATH_MAX + 100);
  memset(big, 'x', DFS_PATH_MAX + 99);
  big[0] = '/';
  big[DFS_PATH_MAX + 99] = 0;
  for (int i = 0; i < 2000; i++) {
    big[1] = (char)('a' + i % 26);
    big[DFS_PATH_MAX - 10] = '/'; /* what an over-long path is cut back to */
    changes_add(c, big);
    assert_true(c->bytes <= CHANGES_MAX_BYTES);
    assert_true(c->next - c->first <= CHANGES_CAP);
  }
  assert_true(c->next - c->first < 2000);
  changes_since(c, c->next - 1, 4, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(n, 1);
  assert_int_equal(strlen(out[0]), DFS_PATH_MAX - 10); /* cut at its last '/' that fits */
  free(big);
  changes_free(c);
  assert_int_equal(c->bytes, 0);
  free(c);
}

static int only_even(void *ud, const char *path) {
  (void)ud;
  return (path[strlen(path) - 1] - '0') % 2 == 0;
}

static void test_filter_pages(void **state) {
  (void)state;
  changes_t *c = malloc(sizeof *c);
  changes_init(c);
  for (int i = 0; i < 3000; i++) {
    char p[32];
    snprintf(p, sizeof p, "/p%d", i);
    changes_add(c, p);
  }
  size_t n, total = 0;
  uint64_t next, since = 1;
  int over, pages = 0;
  do { /* every visible path once, at most CHANGES_REPLY_MAX a page */
    changes_since(c, since, CHANGES_REPLY_MAX, only_even, NULL, out, &n, &next, &over);
    assert_int_equal(over, 0);
    assert_true(n <= CHANGES_REPLY_MAX);
    for (size_t i = 0; i < n; i++) assert_true(only_even(NULL, out[i]));
    total += n;
    pages++;
    assert_true(next > since || n == 0);
    if (next == since) break;
    since = next;
  } while (since < c->next);
  assert_int_equal(total, 1500);
  assert_int_equal(pages, 2);
  changes_free(c);
  free(c);
}

/* ---- the filter ---- */

static void test_may_see(void **state) {
  (void)state;
  ns_t *ns = ns_new();
  char msg[256];
  assert_int_equal(ns_mkdir(ns, "/home/bob/priv/deep", 1, 0755, "bob", 1, msg, sizeof msg), 0);
  assert_int_equal(ns_mkdir(ns, "/home/bob/pub", 1, 0755, "bob", 1, msg, sizeof msg), 0);
  ns_inode *n;
  assert_int_equal(ns_lookup(ns, "/home/bob", &n, msg, sizeof msg), 0);
  n->mode = 0711; /* others may pass, not list */
  assert_int_equal(ns_lookup(ns, "/home/bob/priv", &n, msg, sizeof msg), 0);
  n->mode = 0700;
  /* bob sees everything of his */
  assert_true(perm_may_see(ns, "/home/bob/priv/deep/x", "bob", 0));
  /* ann: not below priv, not the names in bob's home, yes in pub and above */
  assert_false(perm_may_see(ns, "/home/bob/priv/deep/x", "ann", 0));
  assert_false(perm_may_see(ns, "/home/bob/priv/deep", "ann", 0));
  assert_false(perm_may_see(ns, "/home/bob/priv", "ann", 0));
  assert_false(perm_may_see(ns, "/home/bob/gone/below", "ann", 0)); /* nearest: bob's home */
  assert_true(perm_may_see(ns, "/home/bob/pub/f", "ann", 0));
  assert_true(perm_may_see(ns, "/home/bob", "ann", 0));
  assert_true(perm_may_see(ns, "/", "ann", 0));
  assert_true(perm_may_see(ns, "/home/bob/priv/deep/x", "ann", 1)); /* admin */
  assert_true(perm_may_see(ns, "/home/bob/priv/deep/x", "", 0));    /* no auth */
  /* a file on the way is not a directory: the nearest directory is its parent */
  assert_int_equal(ns_put_file(ns, "/home/bob/pub/file", 0, 0644, "bob", 1, 0, 1, NULL, 0,
                               NULL, NULL, msg, sizeof msg), 0);
  assert_true(perm_may_see(ns, "/home/bob/pub/file/x", "ann", 0));
  ns_free(ns);
}

/* ---- what apply records ---- */

static uint64_t rid = 5000;

static void apply(fsm_t *f, ops_op o) {
  o.rid = ++rid;
  if (!o.str) o.str = "";
  if (!o.path2) o.path2 = "";
  o.mtime_ns = (int64_t)rid;
  ops_wbuf w;
  ops_entry_begin(&w);
  ops_append(&w, &o, NULL);
  assert_int_equal(ops_entry_end(&w), 0);
  assert_int_equal(fsm_apply_entry(f, w.p, w.len), 0);
  wb_free(&w);
  assert_int_equal(fsm_result_get(f, o.rid)->err, 0);
}

/* The paths recorded since *since (which moves on), joined with ' '. */
static const char *recorded(changes_t *c, uint64_t *since) {
  static char buf[4096];
  size_t n, used = 0;
  uint64_t next;
  int over;
  changes_since(c, *since, CHANGES_CAP, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(over, 0);
  buf[0] = 0;
  for (size_t i = 0; i < n; i++)
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? " " : "", out[i]);
  *since = next;
  return buf;
}

static void test_fsm_records(void **state) {
  (void)state;
  changes_t *c = malloc(sizeof *c);
  changes_init(c);
  fsm_t *f = fsm_new(64);
  f->changes = c;
  uint64_t s = 1;
  apply(f, (ops_op){.type = OP_MKDIR, .path = "/a/b/c", .mode = 0755, .flag = OPF_MAIN});
  assert_string_equal(recorded(c, &s), "/a"); /* the top of what mkdir -p made */
  apply(f, (ops_op){.type = OP_MKDIR, .path = "/a/b/c", .mode = 0755, .flag = OPF_MAIN});
  assert_string_equal(recorded(c, &s), ""); /* nothing new */
  apply(f, (ops_op){.type = OP_MKDIR, .path = "/a/b/d", .mode = 0755});
  assert_string_equal(recorded(c, &s), "/a/b/d");
  apply(f, (ops_op){.type = OP_TOUCH, .path = "/a/f", .mode = 0644, .a = 1});
  apply(f, (ops_op){.type = OP_TOUCH2, .path = "/a/f", .set_mtime_ns = 5});
  apply(f, (ops_op){.type = OP_SYMLINK, .path = "/a/l", .path2 = "t"});
  apply(f, (ops_op){.type = OP_CHMOD, .path = "/a/l", .mode = 0700});
  assert_string_equal(recorded(c, &s), "/a/f /a/f /a/l /a/l");
  apply(f, (ops_op){.type = OP_RENAME, .path = "/a/b", .path2 = "/z"});
  apply(f, (ops_op){.type = OP_COPY, .path = "/z", .path2 = "/y", .flag = OPF_RECURSIVE});
  apply(f, (ops_op){.type = OP_SETREP, .path = "/y", .a = 2, .flag = OPF_RECURSIVE});
  assert_string_equal(recorded(c, &s), "/a/b /z /y /y");
  apply(f, (ops_op){.type = OP_COMMIT2, .path = "/a/g", .mode = 0644, .replicas = 1});
  apply(f, (ops_op){.type = OP_COMMIT2, .path = "/a/h", .mode = 0644, .replicas = 1});
  const char *srcs[] = {"/a/g", "/a/h"};
  apply(f, (ops_op){.type = OP_COMPOSE, .path = "/a/k", .nsrcs = 2, .src_list = srcs,
                    .flag = OPF_DELETE_SRCS});
  assert_string_equal(recorded(c, &s), "/a/g /a/h /a/g /a/h /a/k");
  apply(f, (ops_op){.type = OP_TRASH, .path = "/y", .flag = OPF_MAIN, .a = 1ull << 62});
  uint64_t item = f->trash.items[0].id;
  apply(f, (ops_op){.type = OP_TRASH_RESTORE, .a = item, .path2 = "/y2"});
  apply(f, (ops_op){.type = OP_TRASH, .path = "/y2", .flag = OPF_MAIN, .a = 1ull << 62});
  apply(f, (ops_op){.type = OP_TRASH_EMPTY});
  apply(f, (ops_op){.type = OP_DELETE, .path = "/z", .flag = OPF_MAIN});
  assert_string_equal(recorded(c, &s), "/y /y2 /y2 /z"); /* empty: nothing visible */
  apply(f, (ops_op){.type = OP_MKHOME, .str = "ann"});
  assert_string_equal(recorded(c, &s), "/home /home/ann");
  /* a refused op records nothing */
  ops_op bad = {.type = OP_MKDIR, .path = "/a/f/x", .mode = 0755, .str = "", .path2 = ""};
  bad.rid = ++rid;
  ops_wbuf w;
  ops_entry_begin(&w);
  ops_append(&w, &bad, NULL);
  assert_int_equal(ops_entry_end(&w), 0);
  assert_int_equal(fsm_apply_entry(f, w.p, w.len), 0);
  assert_int_not_equal(fsm_result_get(f, bad.rid)->err, 0);
  assert_string_equal(recorded(c, &s), "");
  /* a restored snapshot starts the feed over (a new epoch) */
  uint64_t e = c->epoch;
  ops_wbuf snap;
  wb_init(&snap);
  assert_int_equal(fsm_snapshot(f, &snap), 0);
  assert_int_equal(fsm_restore(f, snap.p, snap.len), 0);
  assert_ptr_equal(f->changes, c);
  assert_int_not_equal(c->epoch, e);
  size_t n;
  uint64_t next;
  int over;
  changes_since(c, s, 16, NULL, NULL, out, &n, &next, &over);
  assert_int_equal(over, 1); /* the old position is meaningless now */
  wb_free(&w);
  wb_free(&snap);
  fsm_free(f);
  changes_free(c);
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ring_basics),
      cmocka_unit_test(test_ring_bounds),
      cmocka_unit_test(test_filter_pages),
      cmocka_unit_test(test_may_see),
      cmocka_unit_test(test_fsm_records),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
