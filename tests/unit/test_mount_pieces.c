/* Unit tests of the pieces of dfs mount that need no kernel: the inode table
 * (src/mount/inodes.c: paths rebuilt from parents, renames moving whole subtrees,
 * detached names, lookup counts and freeing), the chunk cache (src/mount/chunk_cache.c:
 * its byte bound, least recently used out first, pending entries) and the -o parser
 * (src/mount/mount_main.c: every option, and refusals of bad values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/path.h"
#include "mount/chunk_cache.h"
#include "mount/inodes.h"
#include "mount/mount.h"

static void path_is(const mnode *n, const char *want) {
  char p[DFS_PATH_MAX + 1];
  assert_int_equal(inodes_path(n, p, sizeof p), 0);
  assert_string_equal(p, want);
}

static void test_paths_and_renames(void **state) {
  (void)state;
  inodes t;
  assert_int_equal(inodes_init(&t), 0);
  path_is(t.root, "/");
  mnode *home = inodes_lookup(&t, t.root, "home", S_IFDIR);
  mnode *a = inodes_lookup(&t, home, "alice", S_IFDIR);
  mnode *f = inodes_lookup(&t, a, "notes.txt", S_IFREG);
  path_is(f, "/home/alice/notes.txt");
  /* a second lookup of the same name: same node, one more reference */
  assert_ptr_equal(inodes_lookup(&t, a, "notes.txt", S_IFREG), f);
  assert_int_equal(f->nlookup, 2);
  assert_ptr_equal(inodes_get(&t, f->ino), f);
  assert_ptr_equal(inodes_find_path(&t, "/home/alice/notes.txt"), f);
  assert_null(inodes_find_path(&t, "/home/bob"));
  /* renaming a directory renames everything below it */
  mnode *b = inodes_lookup(&t, home, "bob", S_IFDIR);
  assert_int_equal(inodes_move(&t, a, b, "from-alice"), 0);
  path_is(f, "/home/bob/from-alice/notes.txt");
  assert_null(inodes_find_path(&t, "/home/alice/notes.txt"));
  /* a rename over an existing name detaches the node that had it */
  mnode *g = inodes_lookup(&t, b, "g", S_IFREG);
  mnode *h = inodes_lookup(&t, b, "h", S_IFREG);
  assert_int_equal(inodes_move(&t, h, b, "g"), 0);
  assert_ptr_equal(inodes_child(&t, b, "g"), h);
  assert_true(g->detached);
  char p[DFS_PATH_MAX + 1];
  assert_int_equal(inodes_path(g, p, sizeof p), DFS_ENOENT);
  /* under a detached directory nothing has a path any more */
  inodes_detach(&t, a);
  assert_int_equal(inodes_path(f, p, sizeof p), DFS_ENOENT);
  inodes_free(&t);
}

static void test_forget_frees_and_keeps_parents(void **state) {
  (void)state;
  inodes t;
  assert_int_equal(inodes_init(&t), 0);
  mnode *d = inodes_lookup(&t, t.root, "d", S_IFDIR);
  mnode *f = inodes_lookup(&t, d, "f", S_IFREG);
  uint64_t dino = d->ino, fino = f->ino;
  size_t before = t.count;
  /* the kernel forgets the directory first: its child keeps it */
  inodes_forget(&t, d, 1);
  assert_ptr_equal(inodes_get(&t, dino), d);
  path_is(f, "/d/f");
  /* forgetting the child frees both */
  inodes_forget(&t, f, 5); /* more than it has: clamps, no underflow */
  assert_null(inodes_get(&t, fino));
  assert_null(inodes_get(&t, dino));
  assert_int_equal(t.count, before - 2);
  /* the root is never freed */
  inodes_forget(&t, t.root, 100);
  assert_non_null(inodes_get(&t, 1));
  inodes_free(&t);
}

static void test_path_too_long(void **state) {
  (void)state;
  inodes t;
  assert_int_equal(inodes_init(&t), 0);
  char name[DFS_NAME_MAX + 1];
  memset(name, 'x', DFS_NAME_MAX);
  name[DFS_NAME_MAX] = '\0';
  mnode *n = t.root;
  for (int i = 0; i < 20; i++) n = inodes_lookup(&t, n, name, S_IFDIR); /* 20 * 256 > 4096 */
  char p[DFS_PATH_MAX + 1];
  assert_int_equal(inodes_path(n, p, sizeof p), DFS_EBADPATH);
  inodes_free(&t);
}

static uint8_t *chunk_of(uint8_t v, uint32_t len) {
  uint8_t *b = malloc(len);
  memset(b, v, len);
  return b;
}

static void test_cache_bound_and_lru(void **state) {
  (void)state;
  chunk_cache c;
  assert_int_equal(chunk_cache_init(&c, 3000), 0);
  uint8_t out[1000];
  chunk_cache_put(&c, 1, 1, chunk_of(1, 1000), 1000);
  chunk_cache_put(&c, 2, 1, chunk_of(2, 1000), 1000);
  chunk_cache_put(&c, 3, 1, chunk_of(3, 1000), 1000);
  assert_int_equal(c.bytes, 3000);
  /* use 1: then 2 is the least recently used and goes when 4 comes */
  assert_int_equal(chunk_cache_get(&c, 1, 1, 10, 20, out, 0), 1);
  assert_int_equal(out[0], 1);
  chunk_cache_put(&c, 4, 1, chunk_of(4, 1000), 1000);
  assert_true(c.bytes <= 3000);
  assert_int_equal(chunk_cache_get(&c, 2, 1, 0, 10, out, 0), 0);
  assert_int_equal(chunk_cache_get(&c, 1, 1, 0, 10, out, 0), 1);
  assert_int_equal(chunk_cache_get(&c, 4, 1, 990, 10, out, 0), 1);
  assert_int_equal(out[9], 4);
  /* another version of the same chunk id is another entry */
  assert_int_equal(chunk_cache_get(&c, 1, 2, 0, 10, out, 0), 0);
  /* a range beyond the chunk's bytes is a miss, never a read past them */
  assert_int_equal(chunk_cache_get(&c, 1, 1, 990, 20, out, 0), 0);
  /* a chunk bigger than the whole cache is not kept */
  chunk_cache_put(&c, 9, 1, chunk_of(9, 4000), 4000);
  assert_int_equal(chunk_cache_get(&c, 9, 1, 0, 10, out, 0), 0);
  assert_true(c.bytes <= 3000);
  chunk_cache_free(&c);
}

static void test_cache_pending(void **state) {
  (void)state;
  chunk_cache c;
  assert_int_equal(chunk_cache_init(&c, 1 << 20), 0);
  uint8_t out[16];
  /* a miss with claim: the caller owns a pending entry; a second claim is refused */
  assert_int_equal(chunk_cache_get(&c, 7, 1, 0, 16, out, 1), 0);
  assert_int_equal(chunk_cache_claim_only(&c, 7, 1), 0);
  chunk_cache_fill(&c, 7, 1, chunk_of(7, 100), 100);
  assert_int_equal(chunk_cache_get(&c, 7, 1, 0, 16, out, 1), 1);
  assert_int_equal(out[15], 7);
  /* an abandoned fetch leaves nothing behind: the next reader may claim again */
  assert_int_equal(chunk_cache_claim_only(&c, 8, 1), 1);
  chunk_cache_abandon(&c, 8, 1);
  assert_int_equal(chunk_cache_claim_only(&c, 8, 1), 1);
  chunk_cache_abandon(&c, 8, 1);
  /* fill/abandon of an entry nobody claimed are harmless */
  chunk_cache_abandon(&c, 99, 1);
  chunk_cache_fill(&c, 98, 1, chunk_of(1, 10), 10);
  assert_int_equal(chunk_cache_get(&c, 98, 1, 0, 10, out, 0), 0);
  chunk_cache_free(&c);
}

static void test_options(void **state) {
  (void)state;
  mount_options o;
  char err[256];
  mount_options_default(&o);
  assert_int_equal(o.replicas, 2);
  assert_int_equal(o.watch_ms, 500);
  assert_int_equal(mount_options_parse(&o, "attr_timeout=2.5,entry_timeout=0,cache_mb=64,"
                                          "writeback_mb=16,readahead=0,watch_ms=0,workers=2,"
                                          "replicas=3,allow_other,trash,negative_timeout=1,timeout=2.5",
                                       err, sizeof err), 0);
  assert_true(o.attr_timeout_s == 2.5);
  assert_true(o.entry_timeout_s == 0);
  assert_int_equal(o.cache_bytes, 64ull << 20);
  assert_int_equal(o.dirty_bytes, 16ull << 20);
  assert_int_equal(o.readahead_chunks, 0);
  assert_int_equal(o.watch_ms, 0);
  assert_int_equal(o.workers, 2);
  assert_int_equal(o.replicas, 3);
  assert_int_equal(o.meta_timeout_ms, 2500);
  assert_true(o.allow_other && o.trash);
  const char *bad[] = {"replicas=0", "replicas=17", "workers=0", "cache_mb=-1",
                       "attr_timeout=x", "attr_timeout", "writeback_mb=1", "bogus",
                       "allow_other=1", "watch_ms=1e9", "attr_timeout=nan", "timeout=0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(mount_options_parse(&o, bad[i], err, sizeof err), DFS_EINVAL);
    assert_true(strlen(err) > 10); /* says what is wrong */
  }
  char longlist[2000];
  memset(longlist, 'a', sizeof longlist - 1);
  longlist[sizeof longlist - 1] = '\0';
  assert_int_equal(mount_options_parse(&o, longlist, err, sizeof err), DFS_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_paths_and_renames),
      cmocka_unit_test(test_forget_frees_and_keeps_parents),
      cmocka_unit_test(test_path_too_long),
      cmocka_unit_test(test_cache_bound_and_lru),
      cmocka_unit_test(test_cache_pending),
      cmocka_unit_test(test_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
