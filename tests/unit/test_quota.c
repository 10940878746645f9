/* Usage accounting and quotas in the state machine: every way an entry comes and goes
 * (mkdir -p, commit, replace, copy, trash, trash empty, delete) keeps ns_usage exact,
 * a snapshot restore rebuilds the same usage and keeps the quotas, and quota_check
 * refuses exactly past the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "metad/fsm.h"
#include "metad/ops.h"

static uint64_t rid = 1;

static int apply(fsm_t *f, ops_op op, const ops_chunk *chunks) {
  ops_wbuf w;
  wb_init(&w);
  op.rid = rid++;
  if (!op.str) op.str = "alice";
  if (!op.path2) op.path2 = "";
  if (!op.path) op.path = "";
  op.mtime_ns = (int64_t)op.rid * 1000;
  ops_entry_begin(&w);
  ops_append(&w, &op, chunks);
  assert_int_equal(ops_entry_end(&w), 0);
  assert_int_equal(fsm_apply_entry(f, w.p, w.len), 0);
  wb_free(&w);
  return fsm_result_get(f, op.rid)->err;
}

static void use(const fsm_t *f, const char *who, uint64_t e, uint64_t b) {
  uint64_t ue, ub;
  ns_usage_of(f->ns, who, &ue, &ub);
  assert_int_equal(ue, e);
  assert_int_equal(ub, b);
}

/* A one-chunk file of len bytes at path (chunk id: from a reserved range). */
static int put(fsm_t *f, const char *path, uint32_t len, int overwrite) {
  static uint64_t next = 1;
  ops_chunk c = {.id = next++, .version = 1, .length = len, .crc32c = 7};
  return apply(f, (ops_op){.type = OP_COMMIT2, .path = path, .mode = 0644, .size = len,
                           .replicas = 2, .nchunks = 1, .flag = overwrite ? OPF_MAIN : 0},
               &c);
}

static void test_usage_and_quota(void **state) {
  (void)state;
  fsm_t *f = fsm_new(1024);
  assert_non_null(f);
  assert_int_equal(apply(f, (ops_op){.type = OP_RESERVE_IDS, .a = 1, .b = 1000}, NULL), 0);
  assert_int_equal(apply(f, (ops_op){.type = OP_MKHOME}, NULL), 0);
  use(f, "alice", 1, 0); /* her home */
  assert_int_equal(apply(f, (ops_op){.type = OP_MKDIR, .path = "/home/alice/a/b", .mode = 0755,
                                     .flag = OPF_MAIN}, NULL), 0);
  use(f, "alice", 3, 0);
  assert_int_equal(put(f, "/home/alice/a/f", 1000, 0), 0);
  assert_int_equal(put(f, "/home/alice/a/f", 300, 1), 0); /* replaced: one entry */
  use(f, "alice", 4, 300);
  assert_int_equal(apply(f, (ops_op){.type = OP_COPY, .path = "/home/alice/a",
                                     .path2 = "/home/alice/c", .flag = OPF_RECURSIVE}, NULL), 0);
  use(f, "alice", 7, 600);
  /* trash keeps counting until emptied */
  assert_int_equal(apply(f, (ops_op){.type = OP_TRASH, .path = "/home/alice/c", .flag = OPF_MAIN,
                                     .a = UINT64_MAX / 2}, NULL), 0);
  use(f, "alice", 7, 600);
  /* a snapshot restore rebuilds the same usage (derived state) and keeps quotas */
  assert_int_equal(apply(f, (ops_op){.type = OP_SET_QUOTA, .str = "admin", .flag = OPF_ADMIN,
                                     .path2 = "alice", .a = 1000, .b = 9}, NULL), 0);
  ops_wbuf w;
  wb_init(&w);
  assert_int_equal(fsm_snapshot(f, &w), 0);
  fsm_t *g = fsm_new(1024);
  assert_int_equal(fsm_restore(g, w.p, w.len), 0);
  wb_free(&w);
  use(g, "alice", 7, 600);
  assert_non_null(fsm_quota_get(g, "alice"));
  assert_int_equal(fsm_quota_get(g, "alice")->max_bytes, 1000);
  /* limits: 400 more bytes fit, 401 do not; 2 more entries fit, 3 do not */
  char msg[256];
  assert_int_equal(fsm_quota_check(f, "alice", 0, 400, msg, sizeof msg), 0);
  assert_int_equal(fsm_quota_check(f, "alice", 0, 401, msg, sizeof msg), DFS_EQUOTA);
  assert_non_null(strstr(msg, "quota exceeded"));
  assert_int_equal(fsm_quota_check(f, "alice", 2, 0, msg, sizeof msg), 0);
  assert_int_equal(fsm_quota_check(f, "alice", 3, 0, msg, sizeof msg), DFS_EQUOTA);
  assert_int_equal(put(f, "/home/alice/big", 401, 0), DFS_EQUOTA);
  assert_int_equal(apply(f, (ops_op){.type = OP_MKDIR, .path = "/home/alice/p/q/r", .mode = 0755,
                                     .flag = OPF_MAIN}, NULL), DFS_EQUOTA);
  use(f, "alice", 7, 600); /* refused ops changed nothing */
  /* only administrators set quotas */
  assert_int_equal(apply(f, (ops_op){.type = OP_SET_QUOTA, .path2 = "alice", .a = 1 << 30},
                         NULL), DFS_EPERM);
  /* emptying the trash and deleting give it back */
  assert_int_equal(apply(f, (ops_op){.type = OP_TRASH_EMPTY}, NULL), 0);
  use(f, "alice", 4, 300);
  assert_int_equal(apply(f, (ops_op){.type = OP_DELETE, .path = "/home/alice/a", .flag = OPF_MAIN},
                         NULL), 0);
  use(f, "alice", 1, 0);
  use(f, "nobody", 0, 0);
  fsm_free(f);
  fsm_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_usage_and_quota)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
