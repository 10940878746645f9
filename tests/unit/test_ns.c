/* Unit tests of src/metad/ns.c: mkdir (-p), files, replace, delete (recursive),
 * listing, counters, error messages, and the snapshot encoding round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>

#include "common/errors.h"
#include "common/path.h"
#include "metad/ns.h"

static char msg[512];

static uint64_t *ids(uint32_t n, uint64_t base) {
  uint64_t *v = malloc(n * sizeof *v);
  for (uint32_t i = 0; i < n; i++) v[i] = base + i;
  return v;
}

static uint64_t freed_sum;
static int freed_count;
static void on_chunk(void *ud, uint64_t id) {
  (void)ud;
  freed_sum += id;
  freed_count++;
}

static void test_mkdir(void **state) {
  (void)state;
  ns_t *ns = ns_new();
  assert_non_null(ns);
  assert_int_equal(ns_mkdir(ns, "/a", 0, 0755, "", 1, msg, sizeof msg), 0);
  assert_int_equal(ns_mkdir(ns, "/a", 0, 0755, "", 1, msg, sizeof msg), DFS_EEXIST);
  assert_int_equal(ns_mkdir(ns, "/x/y", 0, 0755, "", 1, msg, sizeof msg), DFS_ENOENT);
  assert_non_null(strstr(msg, "parent directory /x does not exist"));
  assert_int_equal(ns_mkdir(ns, "/a/b/c/d", 1, 0700, "bob", 2, msg, sizeof msg), 0);
  assert_int_equal(ns_mkdir(ns, "/a/b/c", 1, 0700, "", 3, msg, sizeof msg), 0); /* -p ok */
  assert_int_equal(ns_mkdir(ns, "/", 0, 0755, "", 1, msg, sizeof msg), DFS_EEXIST);
  assert_int_equal(ns->dirs, 5);
  ns_inode *n;
  assert_int_equal(ns_lookup(ns, "/a/b/c/d", &n, msg, sizeof msg), 0);
  assert_true(n->is_dir);
  assert_string_equal(n->owner, "bob");
  assert_int_equal(n->mode, 0700);
  assert_int_equal(ns_lookup(ns, "/a/zz", &n, msg, sizeof msg), DFS_ENOENT);
  ns_free(ns);
}

static void test_files(void **state) {
  (void)state;
  ns_t *ns = ns_new();
  assert_int_equal(ns_mkdir(ns, "/d", 0, 0755, "", 1, msg, sizeof msg), 0);
  assert_int_equal(ns_put_file(ns, "/d/f", 0, 0644, "", 5, 3 << 20, 3, ids(3, 10), 3, on_chunk,
                               NULL, msg, sizeof msg), 0);
  assert_int_equal(ns->files, 1);
  ns_inode *n;
  assert_int_equal(ns_lookup(ns, "/d/f", &n, msg, sizeof msg), 0);
  assert_false(n->is_dir);
  assert_int_equal(n->u.file.nchunks, 3);
  assert_int_equal(ns_file_chunks(n)[2], 12);
  /* a file is not a directory */
  assert_int_equal(ns_mkdir(ns, "/d/f/g", 1, 0755, "", 1, msg, sizeof msg), DFS_ENOTDIR);
  assert_int_equal(ns_lookup(ns, "/d/f/g", &n, msg, sizeof msg), DFS_ENOTDIR);
  /* exists without overwrite */
  uint64_t *v = ids(1, 20);
  assert_int_equal(ns_put_file(ns, "/d/f", 0, 0644, "", 6, 1, 3, v, 1, on_chunk, NULL, msg,
                               sizeof msg), DFS_EEXIST);
  /* replace: old chunks reported */
  freed_sum = 0;
  freed_count = 0;
  assert_int_equal(ns_put_file(ns, "/d/f", 1, 0644, "", 6, 1, 3, v, 1, on_chunk, NULL, msg,
                               sizeof msg), 0);
  assert_int_equal(freed_count, 3);
  assert_int_equal(freed_sum, 10 + 11 + 12);
  assert_int_equal(ns->files, 1);
  /* directory in the way */
  v = ids(1, 30);
  assert_int_equal(ns_put_file(ns, "/d", 1, 0644, "", 6, 1, 3, v, 1, on_chunk, NULL, msg,
                               sizeof msg), DFS_EISDIR);
  assert_int_equal(ns_put_file(ns, "/nope/f", 1, 0644, "", 6, 1, 3, v, 1, on_chunk, NULL, msg,
                               sizeof msg), DFS_ENOENT);
  free(v);
  ns_free(ns);
}

static void test_delete_and_list(void **state) {
  (void)state;
  ns_t *ns = ns_new();
  assert_int_equal(ns_mkdir(ns, "/a/b", 1, 0755, "", 1, msg, sizeof msg), 0);
  char path[64];
  for (int i = 0; i < 100; i++) {
    snprintf(path, sizeof path, "/a/b/f%d", i);
    assert_int_equal(ns_put_file(ns, path, 0, 0644, "", 1, 1, 1, ids(1, 1000 + i), 1, NULL,
                                 NULL, msg, sizeof msg), 0);
  }
  ns_inode *d;
  assert_int_equal(ns_lookup(ns, "/a/b", &d, msg, sizeof msg), 0);
  assert_int_equal(d->u.dir.count, 100);
  uint32_t pos = 0;
  int seen = 0;
  while (ns_dir_next(d, &pos)) seen++;
  assert_int_equal(seen, 100);
  /* delete half of them one by one: the hash table must still find the rest */
  for (int i = 0; i < 100; i += 2) {
    snprintf(path, sizeof path, "/a/b/f%d", i);
    assert_int_equal(ns_delete(ns, path, 0, 2, on_chunk, NULL, msg, sizeof msg), 0);
  }
  for (int i = 0; i < 100; i++) {
    ns_inode *n;
    snprintf(path, sizeof path, "/a/b/f%d", i);
    assert_int_equal(ns_lookup(ns, path, &n, msg, sizeof msg), i % 2 ? 0 : DFS_ENOENT);
  }
  assert_int_equal(ns_delete(ns, "/a", 0, 3, on_chunk, NULL, msg, sizeof msg), DFS_ENOTEMPTY);
  assert_int_equal(ns_delete(ns, "/", 1, 3, on_chunk, NULL, msg, sizeof msg), DFS_EINVAL);
  freed_count = 0;
  assert_int_equal(ns_delete(ns, "/a", 1, 3, on_chunk, NULL, msg, sizeof msg), 0);
  assert_int_equal(freed_count, 50);
  assert_int_equal(ns->files, 0);
  assert_int_equal(ns->dirs, 1);
  ns_free(ns);
}

static void test_encode_roundtrip(void **state) {
  (void)state;
  ns_t *ns = ns_new();
  assert_int_equal(ns_mkdir(ns, "/p/q/r", 1, 0750, "alice", 7, msg, sizeof msg), 0);
  assert_int_equal(ns_put_file(ns, "/p/q/file", 0, 0600, "carol", 9, (1 << 20) + 5, 2,
                               ids(2, 77), 2, NULL, NULL, msg, sizeof msg), 0);
  assert_int_equal(ns_put_file(ns, "/empty", 0, 0644, "", 9, 0, 1, NULL, 0, NULL, NULL, msg,
                               sizeof msg), 0);
  ops_wbuf w;
  wb_init(&w);
  ns_encode(ns, &w);
  assert_false(w.oom);
  ops_rbuf r;
  rb_init(&r, w.p, w.len);
  ns_t *ns2 = ns_decode(&r, NS_DEC_ATTRS);
  assert_non_null(ns2);
  assert_int_equal(ns2->files, 2);
  assert_int_equal(ns2->dirs, 4);
  assert_int_equal(ns2->next_ino, ns->next_ino);
  ns_inode *n;
  assert_int_equal(ns_lookup(ns2, "/p/q/file", &n, msg, sizeof msg), 0);
  assert_int_equal(n->u.file.size, (1 << 20) + 5);
  assert_int_equal(ns_file_chunks(n)[1], 78);
  assert_string_equal(n->owner, "carol");
  assert_int_equal(n->mode, 0600);
  assert_int_equal(n->replicas, 2);
  /* every truncation of the encoding is rejected, never crashes */
  for (size_t cut = 0; cut < w.len; cut += 3) {
    rb_init(&r, w.p, cut);
    ns_t *bad = ns_decode(&r, NS_DEC_ATTRS);
    if (bad) assert_true(r.err == 0);
    ns_free(bad);
  }
  ns_free(ns2);
  ns_free(ns);
  wb_free(&w);
}

static void test_child_and_owner(void **state) {
  (void)state;
  ns_t *ns = ns_new();
  assert_int_equal(ns_mkdir(ns, "/ab", 0, 0755, "bob", 1, msg, sizeof msg), 0);
  assert_null(ns_child(ns->root, "a", 1));
  ns_inode *d = ns_child(ns->root, "abc", 2); /* length-bounded, not NUL-terminated */
  assert_non_null(d);
  assert_string_equal(d->name, "ab");
  assert_int_equal(ns_set_owner(ns, d, "carol"), 0);
  assert_string_equal(d->owner, "carol");
  assert_int_equal(ns_set_owner(ns, d, ""), 0);
  assert_null(d->owner);
  assert_int_equal(ns_set_owner(ns, ns->root, "admin"), 0);
  assert_string_equal(ns->root->owner, "admin");
  ns_free(ns);
}

static void count_chunk(void *ud, uint64_t id) { *(uint64_t *)ud += id; }

/* Issue 4: paths, copies (chunk ids shared, owner set), detach/attach, one-chunk files
 * without a chunk array, interned owners, and a copy's encode round trip. */
static void test_copy_path_inline(void **state) {
  (void)state;
  char p[DFS_PATH_MAX + 1];
  ns_t *ns = ns_new();
  assert_int_equal(ns_mkdir(ns, "/a/b", 1, 0755, "ann", 1, msg, sizeof msg), 0);
  uint64_t *one = malloc(8), *two = malloc(16);
  one[0] = 7;
  two[0] = 8;
  two[1] = 9;
  assert_int_equal(ns_put_file(ns, "/a/b/one", 0, 0644, "ann", 2, 10, 3, one, 1, NULL, NULL,
                               msg, sizeof msg), 0);
  assert_int_equal(ns_put_file(ns, "/a/two", 0, 0644, "bob", 2, 20, 3, two, 2, NULL, NULL,
                               msg, sizeof msg), 0);
  ns_inode *f1, *a, *f2;
  assert_int_equal(ns_lookup(ns, "/a/b/one", &f1, msg, sizeof msg), 0);
  assert_int_equal(ns_lookup(ns, "/a/two", &f2, msg, sizeof msg), 0);
  assert_ptr_equal(ns_file_chunks(f1), &f1->u.file.ids.one); /* inline, no allocation */
  assert_int_equal(ns_file_chunks(f1)[0], 7);
  assert_int_equal(ns_lookup(ns, "/a", &a, msg, sizeof msg), 0);
  assert_ptr_equal(a->owner, f1->owner); /* interned */
  assert_int_equal(ns_path(f1, ns, p, sizeof p), 0);
  assert_string_equal(p, "/a/b/one");
  assert_int_equal(ns_path(ns->root, ns, p, sizeof p), 0);
  assert_string_equal(p, "/");
  assert_int_equal(ns_path(f1, ns, p, 5), DFS_ETOOBIG);
  uint64_t refs = 0, files = 0, bytes = 0;
  ns_inode *cp = ns_copy_tree(ns, a, "carl", 3, count_chunk, &refs, &files, &bytes);
  assert_non_null(cp);
  assert_int_equal(refs, 7 + 8 + 9);
  assert_int_equal(files, 2);
  assert_int_equal(bytes, 30);
  assert_int_equal(ns_path(cp, ns, p, sizeof p), DFS_ENOENT); /* detached */
  assert_int_equal(ns_attach(ns, ns->root, cp, "c", 1, 4), 0);
  ns_inode *c1;
  assert_int_equal(ns_lookup(ns, "/c/b/one", &c1, msg, sizeof msg), 0);
  assert_string_equal(c1->owner, "carl");
  assert_int_equal(ns_file_chunks(c1)[0], 7);
  assert_int_equal(ns->files, 4);
  /* detach and free: the chunk callback sees every id once */
  ns_detach(ns, cp, 5);
  refs = 0;
  ns_free_detached(ns, cp, count_chunk, &refs);
  assert_int_equal(refs, 24);
  assert_int_equal(ns->files, 2);
  /* encode/decode keeps the inline chunk */
  ops_wbuf w;
  wb_init(&w);
  ns_encode(ns, &w);
  ops_rbuf r;
  rb_init(&r, w.p, w.len);
  ns_t *ns2 = ns_decode(&r, NS_DEC_ATTRS);
  assert_non_null(ns2);
  assert_int_equal(ns_lookup(ns2, "/a/b/one", &f1, msg, sizeof msg), 0);
  assert_ptr_equal(ns_file_chunks(f1), &f1->u.file.ids.one);
  assert_int_equal(ns_file_chunks(f1)[0], 7);
  assert_string_equal(f1->owner, "ann");
  wb_free(&w);
  ns_free(ns2);
  ns_free(ns);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mkdir),
      cmocka_unit_test(test_files),
      cmocka_unit_test(test_delete_and_list),
      cmocka_unit_test(test_encode_roundtrip),
      cmocka_unit_test(test_child_and_owner),
      cmocka_unit_test(test_copy_path_inline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
