/* Unit tests of src/metad/search.c through the namespace (ns.c keeps the index): names
 * found by substring and glob, removal by delete, rename and trash detach (tombstones),
 * compaction keeping every live entry findable, and rebuild after a snapshot decode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metad/ns.h"

typedef struct {
  char paths[64][256];
  int n;
  const ns_t *ns;
} hits_t;

static int collect(void *ud, ns_inode *n) {
  hits_t *h = ud;
  if (h->n < 64 && !ns_path(n, h->ns, h->paths[h->n], sizeof h->paths[0])) h->n++;
  return 0;
}

static int count(ns_t *ns, const char *pat, int glob) {
  hits_t h = {.n = 0, .ns = ns};
  uint64_t scanned;
  search_run(&ns->idx, pat, glob, collect, &h, &scanned);
  return h.n;
}

static int found(ns_t *ns, const char *pat, int glob, const char *path) {
  hits_t h = {.n = 0, .ns = ns};
  uint64_t scanned;
  search_run(&ns->idx, pat, glob, collect, &h, &scanned);
  for (int i = 0; i < h.n; i++)
    if (!strcmp(h.paths[i], path)) return 1;
  return 0;
}

static void mk(ns_t *ns, const char *p) {
  char msg[256];
  assert_int_equal(ns_mkdir(ns, p, 1, 0755, "u", 1, msg, sizeof msg), 0);
}

static void put(ns_t *ns, const char *p) {
  char msg[256];
  assert_int_equal(ns_put_file(ns, p, 0, 0644, "u", 1, 0, 3, NULL, 0, NULL, NULL, msg, sizeof msg),
                   0);
}

static void test_substring_glob(void **state) {
  (void)state;
  ns_t *ns = ns_new();
  mk(ns, "/alpha/beta");
  put(ns, "/alpha/beta/report.txt");
  put(ns, "/alpha/notes.md");
  put(ns, "/alpha/report.csv");
  assert_int_equal(count(ns, "report", 0), 2);
  assert_true(found(ns, "port.t", 0, "/alpha/beta/report.txt"));
  assert_int_equal(count(ns, "*.txt", 1), 1);
  assert_int_equal(count(ns, "*", 1), 5); /* alpha, beta, three files (not the root) */
  assert_int_equal(count(ns, "", 0), 5);
  assert_int_equal(count(ns, "r?port.*", 1), 2);
  assert_int_equal(count(ns, "[nr]*", 1), 3);
  assert_int_equal(count(ns, "zzz", 0), 0);
  /* a match never spans two names */
  assert_int_equal(count(ns, "txtnotes", 0), 0);
  ns_free(ns);
}

static void test_delete_rename_detach(void **state) {
  (void)state;
  char msg[256];
  ns_t *ns = ns_new();
  mk(ns, "/a/b");
  put(ns, "/a/b/file1");
  put(ns, "/a/file2");
  assert_int_equal(ns_delete(ns, "/a/file2", 0, 2, NULL, NULL, msg, sizeof msg), 0);
  assert_int_equal(count(ns, "file", 0), 1);
  ns_inode *b, *a;
  assert_int_equal(ns_lookup(ns, "/a/b", &b, msg, sizeof msg), 0);
  assert_int_equal(ns_lookup(ns, "/a", &a, msg, sizeof msg), 0);
  /* rename b to /c: path changes, name index follows the new name */
  ns_detach(ns, b, 3);
  assert_int_equal(count(ns, "file1", 0), 0); /* detached: not searchable */
  assert_int_equal(ns_attach(ns, ns->root, b, "c", 1, 3), 0);
  assert_true(found(ns, "file1", 0, "/c/file1"));
  assert_true(found(ns, "c", 0, "/c"));
  assert_int_equal(count(ns, "b", 0), 0);
  assert_int_equal(ns_is_ancestor(b, b), 1);
  assert_int_equal(ns_is_ancestor(ns->root, b), 1);
  assert_int_equal(ns_is_ancestor(a, b), 0);
  ns_free(ns);
}

static void test_compaction(void **state) {
  (void)state;
  char msg[256], p[64];
  ns_t *ns = ns_new();
  mk(ns, "/d");
  for (int i = 0; i < 20000; i++) {
    snprintf(p, sizeof p, "/d/f%05d", i);
    put(ns, p);
  }
  for (int i = 0; i < 20000; i++) {
    if (i % 3 == 0) continue;
    snprintf(p, sizeof p, "/d/f%05d", i);
    assert_int_equal(ns_delete(ns, p, 0, 2, NULL, NULL, msg, sizeof msg), 0);
  }
  /* compaction happened (more than half dead) and every survivor is findable */
  assert_true(ns->idx.n < 20000);
  assert_int_equal(count(ns, "f1999", 0), 3); /* f19992, f19995, f19998 survive */
  assert_true(found(ns, "f19998", 0, "/d/f19998"));
  assert_true(found(ns, "f00000", 0, "/d/f00000"));
  assert_false(found(ns, "f00001", 0, "/d/f00001"));
  for (uint32_t i = 0; i < ns->idx.n; i++)
    if (ns->idx.ino[i]) assert_int_equal(ns->idx.ino[i]->sidx, i);
  ns_free(ns);
}

static void test_rebuilt_after_decode(void **state) {
  (void)state;
  ns_t *ns = ns_new();
  mk(ns, "/x/y");
  put(ns, "/x/y/needle");
  ops_wbuf w;
  wb_init(&w);
  ns_encode(ns, &w);
  ops_rbuf r;
  rb_init(&r, w.p, w.len);
  ns_t *ns2 = ns_decode(&r, NS_DEC_ATTRS);
  assert_non_null(ns2);
  assert_true(found(ns2, "needle", 0, "/x/y/needle"));
  assert_int_equal(count(ns2, "", 0), 3);
  wb_free(&w);
  ns_free(ns);
  ns_free(ns2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_substring_glob),
      cmocka_unit_test(test_delete_rename_detach),
      cmocka_unit_test(test_compaction),
      cmocka_unit_test(test_rebuilt_after_decode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
