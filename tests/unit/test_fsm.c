/* Unit tests of src/metad/fsm.c (with ops.c, chunks.c, servers.c): applying batches,
 * per-op results, validation of commits, idempotent replay by request id, chunk
 * reference counting and garbage, id reservation, snapshot/restore round trip, and
 * robustness against truncated entries and snapshots, and permission checks at apply
 * time (users carried in the ops, home directories, chmod, admin bypass). */
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
#include "common/log.h"
#include "metad/fsm.h"

#define MIB (1u << 20)

/* Builds a one-op entry in w. */
static void entry1(ops_wbuf *w, const ops_op *op, const ops_chunk *chunks) {
  ops_entry_begin(w);
  ops_append(w, op, chunks);
  assert_int_equal(ops_entry_end(w), 0);
  assert_int_equal(w->len % 8, 0);
}

static int apply1(fsm_t *f, const ops_op *op, const ops_chunk *chunks) {
  ops_wbuf w;
  entry1(&w, op, chunks);
  int rc = fsm_apply_entry(f, w.p, w.len);
  wb_free(&w);
  return rc;
}

static int res(fsm_t *f, uint64_t rid) {
  const fsm_result *r = fsm_result_get(f, rid);
  assert_non_null(r);
  return r->err;
}

static ops_op mkdir_op(uint64_t rid, const char *path, int parents) {
  ops_op o = {0};
  o.type = OP_MKDIR;
  o.rid = rid;
  o.path = path;
  o.str = "";
  o.mode = 0755;
  o.flag = (uint8_t)parents;
  o.mtime_ns = 1000;
  return o;
}

static ops_op reserve_op(uint64_t rid, uint64_t a, uint64_t b) {
  ops_op o = {0};
  o.type = OP_RESERVE_IDS;
  o.rid = rid;
  o.a = a;
  o.b = b;
  return o;
}

static ops_op commit_op(uint64_t rid, const char *path, uint64_t size, uint32_t n, int ow) {
  ops_op o = {0};
  o.type = OP_COMMIT;
  o.rid = rid;
  o.path = path;
  o.str = "";
  o.mode = 0644;
  o.flag = (uint8_t)ow;
  o.size = size;
  o.replicas = 3;
  o.nchunks = n;
  o.mtime_ns = 2000;
  return o;
}

static void test_batch_and_results(void **state) {
  (void)state;
  fsm_t *f = fsm_new(64);
  ops_wbuf w;
  ops_entry_begin(&w);
  ops_op a = mkdir_op(1, "/a", 0), b = mkdir_op(2, "/a", 0), c = mkdir_op(3, "/x/y", 0),
         d = mkdir_op(4, "/x/y", 1);
  ops_append(&w, &a, NULL);
  ops_append(&w, &b, NULL);
  ops_append(&w, &c, NULL);
  ops_append(&w, &d, NULL);
  assert_int_equal(ops_entry_end(&w), 0);
  assert_int_equal(fsm_apply_entry(f, w.p, w.len), 0);
  assert_int_equal(res(f, 1), 0);
  assert_int_equal(res(f, 2), DFS_EEXIST);
  assert_int_equal(res(f, 3), DFS_ENOENT);
  assert_non_null(strstr(fsm_result_get(f, 3)->msg, "mkdir -p /x"));
  assert_int_equal(res(f, 4), 0);
  assert_int_equal(f->ns->dirs, 4);
  /* replaying the same entry changes nothing and keeps the results */
  assert_int_equal(fsm_apply_entry(f, w.p, w.len), 0);
  assert_int_equal(f->ns->dirs, 4);
  assert_int_equal(res(f, 2), DFS_EEXIST);
  /* bad paths are refused at apply time too */
  ops_op bad = mkdir_op(5, "/a/../b", 1);
  assert_int_equal(apply1(f, &bad, NULL), 0);
  assert_int_equal(res(f, 5), DFS_EBADPATH);
  wb_free(&w);
  fsm_free(f);
}

static void test_reserve(void **state) {
  (void)state;
  fsm_t *f = fsm_new(64);
  ops_op r1 = reserve_op(10, 1, 100), r2 = reserve_op(11, 1, 200), r3 = reserve_op(12, 101, 50),
         r4 = reserve_op(13, 101, 300);
  apply1(f, &r1, NULL);
  apply1(f, &r2, NULL); /* does not follow: refused */
  apply1(f, &r3, NULL); /* empty range: refused */
  apply1(f, &r4, NULL);
  assert_int_equal(res(f, 10), 0);
  assert_int_equal(res(f, 11), DFS_EBUSY);
  assert_int_equal(res(f, 12), DFS_EBUSY);
  assert_int_equal(res(f, 13), 0);
  assert_int_equal(f->ids_reserved, 300);
  assert_int_equal(fsm_result_get(f, 13)->val, 300);
  fsm_free(f);
}

static void test_commit_rules(void **state) {
  (void)state;
  fsm_t *f = fsm_new(64);
  ops_op r = reserve_op(1, 1, 1000), m = mkdir_op(2, "/d", 0);
  apply1(f, &r, NULL);
  apply1(f, &m, NULL);
  ops_chunk ch[3] = {{1, 1, MIB, 11, 0, 0}, {2, 1, MIB, 22, 0, 0}, {3, 1, 5, 33, 0, 0}};
  ops_op c = commit_op(3, "/d/f", 2 * MIB + 5, 3, 0);
  apply1(f, &c, ch);
  assert_int_equal(res(f, 3), 0);
  assert_int_equal(f->ns->files, 1);
  assert_int_equal(f->chunks.n, 3);
  assert_int_equal(chunks_get(&f->chunks, 3)->crc32c, 33);
  /* wrong total size */
  ops_chunk ch2[1] = {{4, 1, 7, 0, 0, 0}};
  ops_op c2 = commit_op(4, "/d/g", 8, 1, 0);
  apply1(f, &c2, ch2);
  assert_int_equal(res(f, 4), DFS_EINVAL);
  /* a short chunk that is not the last */
  ops_chunk ch3[2] = {{5, 1, 7, 0, 0, 0}, {6, 1, 7, 0, 0, 0}};
  ops_op c3 = commit_op(5, "/d/g", 14, 2, 0);
  apply1(f, &c3, ch3);
  assert_int_equal(res(f, 5), DFS_EINVAL);
  /* never allocated id */
  ops_chunk ch4[1] = {{5000, 1, 7, 0, 0, 0}};
  ops_op c4 = commit_op(6, "/d/g", 7, 1, 0);
  apply1(f, &c4, ch4);
  assert_int_equal(res(f, 6), DFS_EINVAL);
  /* chunk already in a file */
  ops_chunk ch5[1] = {{3, 1, 5, 33, 0, 0}};
  ops_op c5 = commit_op(7, "/d/g", 5, 1, 0);
  apply1(f, &c5, ch5);
  assert_int_equal(res(f, 7), DFS_EEXIST);
  /* parent missing, existing dir, existing file without overwrite */
  ops_chunk ch6[1] = {{8, 1, 5, 0, 0, 0}};
  ops_op c6 = commit_op(8, "/nope/g", 5, 1, 0), c7 = commit_op(9, "/d", 5, 1, 1),
         c8 = commit_op(10, "/d/f", 5, 1, 0);
  apply1(f, &c6, ch6);
  apply1(f, &c7, ch6);
  apply1(f, &c8, ch6);
  assert_int_equal(res(f, 8), DFS_ENOENT);
  assert_int_equal(res(f, 9), DFS_EISDIR);
  assert_int_equal(res(f, 10), DFS_EEXIST);
  assert_int_equal(f->chunks.n, 3); /* nothing leaked into the table */
  /* empty file */
  ops_op c9 = commit_op(11, "/d/empty", 0, 0, 0);
  apply1(f, &c9, NULL);
  assert_int_equal(res(f, 11), 0);
  fsm_free(f);
}

static void test_garbage_on_replace_and_delete(void **state) {
  (void)state;
  fsm_t *f = fsm_new(64);
  ops_op r = reserve_op(1, 1, 1000);
  apply1(f, &r, NULL);
  ops_op ms = {0};
  ms.type = OP_MAP_SERVER;
  ms.rid = 2;
  ms.str = "uuid-a";
  apply1(f, &ms, NULL);
  assert_int_equal(fsm_result_get(f, 2)->val, 1);
  ms.rid = 3;
  apply1(f, &ms, NULL); /* same uuid -> same id */
  assert_int_equal(fsm_result_get(f, 3)->val, 1);
  ops_chunk ch[2] = {{1, 1, MIB, 0, 0, 0}, {2, 1, 9, 0, 0, 0}};
  ops_op c = commit_op(4, "/f", MIB + 9, 2, 0);
  apply1(f, &c, ch);
  assert_int_equal(res(f, 4), 0);
  chunks_add_loc(&f->chunks, 1, 1);
  chunks_add_loc(&f->chunks, 2, 1);
  /* overwrite: the old chunks become garbage on server 1 */
  ops_chunk ch2[1] = {{3, 1, 4, 0, 0, 0}};
  ops_op c2 = commit_op(5, "/f", 4, 1, 1);
  apply1(f, &c2, ch2);
  assert_int_equal(res(f, 5), 0);
  assert_null(chunks_get(&f->chunks, 1));
  assert_null(chunks_get(&f->chunks, 2));
  server_ent *s = servers_get(&f->servers, 1);
  assert_int_equal(s->ndel, 2);
  chunks_add_loc(&f->chunks, 3, 1);
  ops_op d = {0};
  d.type = OP_DELETE;
  d.rid = 6;
  d.path = "/f";
  d.str = "";
  apply1(f, &d, NULL);
  assert_int_equal(res(f, 6), 0);
  assert_int_equal(f->chunks.n, 0);
  assert_int_equal(servers_get(&f->servers, 1)->ndel, 3);
  uint64_t out[8];
  assert_int_equal(servers_take_deletes(&f->servers, 1, out, 8), 3);
  fsm_free(f);
}

/* OP_RETIRE_ORPHANS retires only ids no file references; a commit after it is refused,
 * one before it keeps its chunks (the log orders them). */
static void test_retire_orphans(void **state) {
  (void)state;
  fsm_t *f = fsm_new(64);
  ops_op r = reserve_op(1, 1, 100);
  apply1(f, &r, NULL);
  ops_chunk ch[1] = {{5, 1, 9, 0, 0, 0}};
  ops_op c = commit_op(2, "/kept", 9, 1, 0);
  apply1(f, &c, ch);
  assert_int_equal(res(f, 2), 0);
  ops_chunk ids[4] = {{5, 0, 0, 0, 0, 0}, {6, 0, 0, 0, 0, 0}, {7, 0, 0, 0, 0, 0},
                      {500, 0, 0, 0, 0, 0}}; /* 500: never allocated */
  ops_op ro = {0};
  ro.type = OP_RETIRE_ORPHANS;
  ro.rid = 3;
  ro.path = ro.str = "";
  ro.mtime_ns = 5000;
  ro.nchunks = 4;
  assert_int_equal(apply1(f, &ro, ids), 0);
  assert_int_equal(res(f, 3), 0);
  assert_int_equal(fsm_result_get(f, 3)->val, 2); /* 6 and 7 */
  assert_false(fsm_is_retired(f, 5)); /* a file's chunk */
  assert_true(fsm_is_retired(f, 6));
  assert_true(fsm_is_retired(f, 7));
  assert_false(fsm_is_retired(f, 500));
  assert_non_null(chunks_get(&f->chunks, 5));
  /* the upload that wrote 6 commits too late: refused, nothing acknowledged */
  ops_chunk late[1] = {{6, 1, 9, 0, 0, 0}};
  ops_op lc = commit_op(4, "/late", 9, 1, 0);
  apply1(f, &lc, late);
  assert_int_equal(res(f, 4), DFS_EEXIST);
  assert_non_null(strstr(fsm_result_get(f, 4)->msg, "collected as garbage"));
  fsm_free(f);
}

static void build_state(fsm_t *f) {
  ops_op r = reserve_op(100, 1, 65536);
  apply1(f, &r, NULL);
  char path[64];
  uint64_t rid = 1000, next = 1;
  for (int i = 0; i < 20; i++) {
    snprintf(path, sizeof path, "/dir%d/sub", i);
    ops_op m = mkdir_op(rid++, path, 1);
    apply1(f, &m, NULL);
    for (int j = 0; j < 5; j++) {
      snprintf(path, sizeof path, "/dir%d/sub/f%d", i, j);
      ops_chunk ch[2] = {{next, 1, MIB, (uint32_t)next, 0, 0}, {next + 1, 1, 100, 7, 0, 0}};
      next += 2;
      ops_op c = commit_op(rid++, path, MIB + 100, 2, 0);
      apply1(f, &c, ch);
    }
  }
  ops_op ms = {0};
  ms.type = OP_MAP_SERVER;
  ms.rid = rid++;
  ms.str = "srv-1";
  apply1(f, &ms, NULL);
  ops_op ma = {0};
  ma.type = OP_META_ADDR;
  ma.rid = rid++;
  ma.a = 1;
  ma.str = "127.0.0.1:9400";
  apply1(f, &ma, NULL);
  ops_op bad = mkdir_op(rid++, "/dir0", 0); /* a failed op with a message */
  apply1(f, &bad, NULL);
}

static void test_snapshot_roundtrip(void **state) {
  (void)state;
  fsm_t *f = fsm_new(1024);
  build_state(f);
  assert_int_equal(f->ns->files, 100);
  ops_wbuf w;
  wb_init(&w);
  assert_int_equal(fsm_snapshot(f, &w), 0);
  assert_int_equal(w.len % 8, 0);
  fsm_t *g = fsm_new(1024);
  assert_int_equal(fsm_restore(g, w.p, w.len), 0);
  assert_int_equal(g->ns->files, 100);
  assert_int_equal(g->ns->dirs, f->ns->dirs);
  assert_int_equal(g->chunks.n, 200);
  assert_int_equal(g->ids_reserved, 65536);
  assert_int_equal(servers_find_uuid(&g->servers, "srv-1"), 1);
  assert_string_equal(fsm_meta_addr(g, 1), "127.0.0.1:9400");
  assert_int_equal(res(g, 1001), 0);
  assert_non_null(fsm_result_get(g, 1000 + 20 * 6 + 2)->msg);
  /* the restored state snapshots to the same bytes */
  ops_wbuf w2;
  wb_init(&w2);
  assert_int_equal(fsm_snapshot(g, &w2), 0);
  assert_int_equal(w2.len, w.len);
  assert_memory_equal(w2.p, w.p, w.len);
  /* replaying an already-applied commit after restore does nothing (idempotency) */
  ops_chunk ch[2] = {{1, 1, MIB, 1, 0, 0}, {2, 1, 100, 7, 0, 0}};
  ops_op again = commit_op(1001, "/dir0/sub/f0", MIB + 100, 2, 1);
  apply1(g, &again, ch);
  assert_int_equal(g->chunks.n, 200);
  assert_int_equal(chunks_get(&g->chunks, 1)->refs, 1);
  /* truncated or corrupted snapshots are refused and leave the state alone */
  for (size_t cut = 0; cut < w.len; cut += 97) {
    assert_int_not_equal(fsm_restore(g, w.p, cut), 0);
    assert_int_equal(g->ns->files, 100);
  }
  w.p[0] ^= 0xff;
  assert_int_not_equal(fsm_restore(g, w.p, w.len), 0);
  wb_free(&w);
  wb_free(&w2);
  fsm_free(f);
  fsm_free(g);
}

static void test_malformed_entries(void **state) {
  (void)state;
  /* every entry below is refused with an ERROR line; keep the test output readable */
  dfs_log_init("test_fsm", (enum dfs_log_level)(DFS_LOG_ERROR + 1));
  fsm_t *f = fsm_new(64);
  ops_op r = reserve_op(1, 1, 100);
  apply1(f, &r, NULL);
  ops_wbuf w;
  ops_chunk ch[1] = {{1, 1, 5, 0, 0, 0}};
  ops_op c = commit_op(9, "/f", 5, 1, 0);
  entry1(&w, &c, ch);
  /* every cut into the op itself is refused and applies nothing; only cutting the
   * padding (at most 7 bytes) leaves a whole op */
  size_t whole = 0;
  for (size_t cut = 0; cut < w.len; cut++) {
    int rc = fsm_apply_entry(f, w.p, cut);
    if (rc == 0) {
      assert_true(cut + 8 > w.len);
      if (!whole) whole = cut;
    } else {
      assert_int_equal(rc, DFS_EPROTO);
      if (!whole) assert_null(fsm_result_get(f, 9));
    }
  }
  assert_true(whole > 0); /* the whole op did apply once its bytes were all there */
  assert_int_equal(res(f, 9), 0);
  assert_int_equal(f->ns->files, 1);
  /* random bytes: refused (a few may decode as some op by chance), never a crash, and
   * no file appears */
  uint8_t junk[256];
  srand(1234);
  int refused = 0;
  for (int t = 0; t < 1000; t++) {
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rand();
    if (t % 2) memcpy(junk, w.p, 8); /* valid magic and count */
    refused += fsm_apply_entry(f, junk, sizeof junk) == DFS_EPROTO;
  }
  assert_true(refused >= 990);
  assert_int_equal(f->ns->files, 1);
  dfs_log_init("test_fsm", DFS_LOG_INFO);
  wb_free(&w);
  fsm_free(f);
}

static void test_result_ring_eviction(void **state) {
  (void)state;
  fsm_t *f = fsm_new(8);
  for (uint64_t i = 1; i <= 20; i++) {
    char p[32];
    snprintf(p, sizeof p, "/d%llu", (unsigned long long)i);
    ops_op m = mkdir_op(i, p, 0);
    apply1(f, &m, NULL);
  }
  assert_null(fsm_result_get(f, 12));
  assert_non_null(fsm_result_get(f, 13));
  assert_non_null(fsm_result_get(f, 20));
  assert_int_equal(f->res_count, 8);
  fsm_free(f);
}

/* u64map (the index under the chunk table and the result ring) against a plain array. */
static void test_u64map_random(void **state) {
  (void)state;
  enum { KEYS = 5000 };
  static uint64_t ref[KEYS]; /* 0 = absent */
  memset(ref, 0, sizeof ref);
  u64map m;
  u64map_init(&m);
  srand(99); /* fixed seed: reproducible */
  for (int t = 0; t < 200000; t++) {
    uint64_t k = (uint64_t)(rand() % KEYS) + 1;
    if (rand() % 3) {
      uint64_t v = (uint64_t)rand() + 1;
      assert_int_equal(u64map_put(&m, k, v), 0);
      ref[k - 1] = v;
    } else {
      assert_int_equal(u64map_del(&m, k), ref[k - 1] != 0);
      ref[k - 1] = 0;
    }
    if (t % 1000 == 0) {
      size_t n = 0;
      for (uint64_t i = 1; i <= KEYS; i++) {
        uint64_t v = 0;
        int has = u64map_get(&m, i, &v);
        assert_int_equal(has, ref[i - 1] != 0);
        if (has) assert_int_equal(v, ref[i - 1]);
        n += has;
      }
      assert_int_equal(n, m.count);
    }
  }
  u64map_free(&m);
}

/* odd ids: part of a file; 6: an upload still alive, look again at 9000; else garbage */
static uint64_t odd_is_referenced(void *ud, uint64_t chunk) {
  (void)ud;
  return chunk % 2 ? SERVERS_WATCH_FORGET : chunk == 6 ? 9000 : 0;
}

/* Young unreferenced chunks are watched and deleted once due, unless committed by then. */
static void test_servers_watch(void **state) {
  (void)state;
  servers_t s;
  servers_init(&s);
  assert_int_equal(servers_map(&s, "a"), 1);
  assert_int_equal(servers_map(&s, "b"), 2);
  assert_int_equal(servers_map(&s, "a"), 1);
  for (uint64_t c = 1; c <= 10; c++) servers_watch_chunk(&s, 1, c, 100 * c);
  servers_watch_chunk(&s, 99, 1, 0); /* unknown server: ignored */
  servers_orphan orph[16];
  assert_int_equal(servers_take_orphans(&s, 500, odd_is_referenced, NULL, orph, 16), 2);
  assert_true(orph[0].server == 1 && orph[0].chunk == 2 && orph[1].chunk == 4);
  assert_int_equal(servers_get(&s, 1)->nwatch, 5); /* 6..10 are not due */
  /* at most max at a time: the rest stays watched */
  assert_int_equal(servers_take_orphans(&s, 5000, odd_is_referenced, NULL, orph, 1), 1);
  assert_int_equal(orph[0].chunk, 8); /* 6 looks again at 9000, 7 is a file's */
  assert_int_equal(servers_get(&s, 1)->nwatch, 3); /* 6 (again at 9000), 9 and 10 */
  assert_int_equal(servers_take_orphans(&s, 5000, odd_is_referenced, NULL, orph, 16), 1);
  assert_int_equal(orph[0].chunk, 10);
  assert_int_equal(servers_get(&s, 1)->nwatch, 1);
  assert_int_equal(servers_take_orphans(&s, 8999, odd_is_referenced, NULL, orph, 16), 0);
  assert_int_equal(servers_get(&s, 1)->nwatch, 1);
  /* liveness */
  server_ent *e = servers_get(&s, 2);
  e->alive = 1;
  e->last_hb_ms = 1000;
  assert_int_equal(servers_check_dead(&s, 1500, 1000), 0);
  assert_int_equal(servers_live_count(&s), 1);
  assert_int_equal(servers_check_dead(&s, 2001, 1000), 1);
  assert_int_equal(servers_live_count(&s), 0);
  servers_free(&s);
}

static ops_op as_user(ops_op o, const char *user, int admin) {
  o.str = user;
  if (admin) o.flag |= OPF_ADMIN;
  return o;
}

static ops_op mkhome_op(uint64_t rid, const char *user) {
  ops_op o = {0};
  o.type = OP_MKHOME;
  o.rid = rid;
  o.path = "";
  o.str = user;
  o.mtime_ns = 500;
  return o;
}

static ops_op chmod_op(uint64_t rid, const char *path, uint32_t mode, const char *user,
                       int admin) {
  ops_op o = {0};
  o.type = OP_CHMOD;
  o.rid = rid;
  o.path = path;
  o.str = user;
  o.mode = mode;
  o.flag = admin ? OPF_ADMIN : 0;
  o.mtime_ns = 600;
  return o;
}

static const ns_inode *at(fsm_t *f, const char *path) {
  ns_inode *n = NULL;
  char m[256];
  if (ns_lookup(f->ns, path, &n, m, sizeof m)) return NULL;
  return n;
}

/* Namespace ops are permission-checked at apply time against the user in the op. */
static void test_permissions(void **state) {
  (void)state;
  fsm_t *f = fsm_new(256);
  uint64_t rid = 1;
  ops_op o = reserve_op(rid++, 1, 1000);
  apply1(f, &o, NULL);
  /* homes: /home (admin 0755) and /home/<user> (user 0700); idempotent */
  o = mkhome_op(100, "alice");
  apply1(f, &o, NULL);
  o = mkhome_op(101, "bob");
  apply1(f, &o, NULL);
  o = mkhome_op(102, "alice");
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 100), 0);
  assert_int_equal(res(f, 101), 0);
  assert_int_equal(res(f, 102), 0);
  o = mkhome_op(103, "../x");
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 103), DFS_EINVAL);
  assert_string_equal(at(f, "/")->owner, "admin");
  assert_string_equal(at(f, "/home")->owner, "admin");
  assert_int_equal(at(f, "/home")->mode, 0755);
  assert_string_equal(at(f, "/home/alice")->owner, "alice");
  assert_int_equal(at(f, "/home/alice")->mode, 0700);
  /* alice works in her home; new inodes are hers */
  o = as_user(mkdir_op(200, "/home/alice/docs", 0), "alice", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 200), 0);
  assert_string_equal(at(f, "/home/alice/docs")->owner, "alice");
  ops_chunk ch[1] = {{1, 1, 5, 7, 0, 0}};
  o = as_user(commit_op(201, "/home/alice/docs/a", 5, 1, 0), "alice", 0);
  apply1(f, &o, ch);
  assert_int_equal(res(f, 201), 0);
  assert_string_equal(at(f, "/home/alice/docs/a")->owner, "alice");
  /* bob can do nothing there: mkdir, mkdir -p, commit, delete, chmod */
  o = as_user(mkdir_op(300, "/home/alice/x", 0), "bob", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 300), DFS_EPERM);
  assert_string_equal(fsm_result_get(f, 300)->msg,
                      "permission denied: /home/alice (owner alice, mode 0700)");
  o = as_user(mkdir_op(301, "/home/alice/x/y", 1), "bob", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 301), DFS_EPERM);
  ops_chunk ch2[1] = {{2, 1, 5, 7, 0, 0}};
  o = as_user(commit_op(302, "/home/alice/docs/a", 5, 1, 1), "bob", 0);
  apply1(f, &o, ch2);
  assert_int_equal(res(f, 302), DFS_EPERM);
  assert_null(chunks_get(&f->chunks, 2)); /* nothing changed */
  o = as_user(commit_op(303, "/home/alice/b", 5, 1, 0), "bob", 0);
  apply1(f, &o, ch2);
  assert_int_equal(res(f, 303), DFS_EPERM);
  o = mkdir_op(304, "/home/alice/docs", 0);
  o.type = OP_DELETE;
  o.flag = OPF_MAIN;
  o = as_user(o, "bob", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 304), DFS_EPERM);
  o = chmod_op(305, "/home/alice", 0777, "bob", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 305), DFS_EPERM);
  assert_non_null(strstr(fsm_result_get(f, 305)->msg, "only the owner"));
  /* nor in / or /home, nor delete someone's home */
  o = as_user(mkdir_op(306, "/top", 0), "bob", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 306), DFS_EPERM);
  o = mkdir_op(307, "/home/alice", 0);
  o.type = OP_DELETE;
  o.flag = OPF_MAIN;
  o = as_user(o, "alice", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 307), DFS_EPERM); /* /home is the admin's */
  assert_non_null(at(f, "/home/alice/docs/a"));
  /* alice opens a directory for everyone; bob may then write there but not replace
   * alice's 0644 file; a replaced file keeps its owner and mode */
  o = chmod_op(400, "/home/alice", 0711, "alice", 0);
  apply1(f, &o, NULL);
  o = chmod_op(401, "/home/alice/docs", 0777, "alice", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 400), 0);
  assert_int_equal(res(f, 401), 0);
  assert_int_equal(at(f, "/home/alice")->mode, 0711);
  o = as_user(commit_op(402, "/home/alice/docs/a", 5, 1, 1), "bob", 0);
  apply1(f, &o, ch2);
  assert_int_equal(res(f, 402), DFS_EPERM);
  o = chmod_op(403, "/home/alice/docs/a", 0666, "alice", 0);
  apply1(f, &o, NULL);
  o = as_user(commit_op(404, "/home/alice/docs/a", 5, 1, 1), "bob", 0);
  apply1(f, &o, ch2);
  assert_int_equal(res(f, 404), 0);
  assert_string_equal(at(f, "/home/alice/docs/a")->owner, "alice");
  assert_int_equal(at(f, "/home/alice/docs/a")->mode, 0666);
  o = chmod_op(405, "/home/alice/docs/a", 01777, "alice", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 405), DFS_EINVAL);
  /* the admin may do anything; so may the anonymous user "" (auth off) */
  o = chmod_op(500, "/home/alice", 0700, "root", 1);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 500), 0);
  o = as_user(mkdir_op(501, "/home/alice/adm", 0), "root", 1);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 501), 0);
  assert_string_equal(at(f, "/home/alice/adm")->owner, "root");
  o = as_user(mkdir_op(502, "/anon", 0), "", 0);
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 502), 0);
  o = mkdir_op(503, "/home/alice", 0);
  o.type = OP_DELETE;
  o.flag = OPF_MAIN | OPF_ADMIN;
  o.str = "root";
  apply1(f, &o, NULL);
  assert_int_equal(res(f, 503), 0);
  assert_null(at(f, "/home/alice"));
  /* modes and owners survive a snapshot */
  ops_wbuf w;
  wb_init(&w);
  assert_int_equal(fsm_snapshot(f, &w), 0);
  fsm_t *g = fsm_new(256);
  assert_int_equal(fsm_restore(g, w.p, w.len), 0);
  assert_string_equal(at(g, "/home/bob")->owner, "bob");
  assert_int_equal(at(g, "/home/bob")->mode, 0700);
  assert_string_equal(at(g, "/")->owner, "admin");
  wb_free(&w);
  fsm_free(g);
  fsm_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batch_and_results),
      cmocka_unit_test(test_reserve),
      cmocka_unit_test(test_commit_rules),
      cmocka_unit_test(test_garbage_on_replace_and_delete),
      cmocka_unit_test(test_retire_orphans),
      cmocka_unit_test(test_snapshot_roundtrip),
      cmocka_unit_test(test_malformed_entries),
      cmocka_unit_test(test_result_ring_eviction),
      cmocka_unit_test(test_u64map_random),
      cmocka_unit_test(test_servers_watch),
      cmocka_unit_test(test_permissions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
