/* Deep trees (issue 12, finding 3): the deepest namespace allowed (NS_MAX_DEPTH levels)
 * made, copied, moved, re-replicated, deleted and snapshotted through the state machine
 * as an ordinary user (so every permission walk runs), in a child process on a thread
 * with an 8 MiB stack: a recursion that grows with depth would crash the child (SIGSEGV)
 * and fail the test. Also: one level more is refused by every operation that could
 * build it. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/errors.h"
#include "metad/fsm.h"
#include "metad/ops.h"
#include "metad/ns.h"

static uint64_t next_rid = 1;

/* Applies one op as alice; returns its recorded error (or 99 if the entry was bad). */
static int apply(fsm_t *f, ops_op op) {
  ops_wbuf w;
  wb_init(&w);
  op.rid = next_rid++;
  if (!op.str) op.str = "alice";
  if (!op.path2) op.path2 = "";
  op.mtime_ns = (int64_t)op.rid * 1000;
  ops_entry_begin(&w);
  ops_append(&w, &op, NULL);
  int rc = ops_entry_end(&w) || fsm_apply_entry(f, w.p, w.len) ? 99 : 0;
  wb_free(&w);
  const fsm_result *r = fsm_result_get(f, op.rid);
  return rc ? rc : (r ? r->err : 98);
}

/* "/home/alice/NAME" followed by `levels` x "/d". */
static char *deep(const char *name, int levels) {
  char *p = malloc(strlen(name) + 12 + 2 * (size_t)levels + 1);
  int n = sprintf(p, "/home/alice/%s", name);
  for (int i = 0; i < levels; i++) n += sprintf(p + n, "/d");
  return p;
}

#define EXPECT(cond)                                                            \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "deep tree: %s failed (line %d)\n", #cond, __LINE__);     \
      return (void *)1;                                                         \
    }                                                                           \
  } while (0)

static void *deep_ops(void *arg) {
  (void)arg;
  fsm_t *f = fsm_new(1024);
  EXPECT(f);
  EXPECT(apply(f, (ops_op){.type = OP_MKHOME}) == 0);
  /* /home/alice/t is depth 3: 997 more levels make the deepest path allowed */
  char *max = deep("t", NS_MAX_DEPTH - 3), *over = deep("t", NS_MAX_DEPTH - 2);
  EXPECT(ns_path_depth(max) == NS_MAX_DEPTH);
  EXPECT(apply(f, (ops_op){.type = OP_MKDIR, .path = max, .mode = 0755, .flag = OPF_MAIN}) == 0);
  EXPECT(apply(f, (ops_op){.type = OP_MKDIR, .path = over, .mode = 0755, .flag = OPF_MAIN}) ==
         DFS_EBADPATH);
  EXPECT(apply(f, (ops_op){.type = OP_MKDIR, .path = "/home/alice/x", .mode = 0755}) == 0);
  /* copy beside itself fits; one level lower does not; nor does a move there */
  EXPECT(apply(f, (ops_op){.type = OP_COPY, .path = "/home/alice/t", .path2 = "/home/alice/u",
                           .flag = OPF_RECURSIVE}) == 0);
  EXPECT(apply(f, (ops_op){.type = OP_COPY, .path = "/home/alice/t",
                           .path2 = "/home/alice/x/t", .flag = OPF_RECURSIVE}) == DFS_EINVAL);
  EXPECT(apply(f, (ops_op){.type = OP_RENAME, .path = "/home/alice/u",
                           .path2 = "/home/alice/x/u"}) == DFS_EINVAL);
  EXPECT(apply(f, (ops_op){.type = OP_SETREP, .path = "/home/alice/u", .a = 3,
                           .flag = OPF_RECURSIVE}) == 0);
  /* the whole state survives a snapshot and a restore */
  ops_wbuf w;
  wb_init(&w);
  EXPECT(fsm_snapshot(f, &w) == 0);
  fsm_t *g = fsm_new(1024);
  EXPECT(g && fsm_restore(g, w.p, w.len) == 0);
  wb_free(&w);
  ns_inode *n;
  char msg[256];
  EXPECT(ns_lookup(g->ns, max, &n, msg, sizeof msg) == 0);
  EXPECT(ns_height(g->ns->root) == NS_MAX_DEPTH + 1);
  /* recursive delete (a permission walk of every level), into the trash and for good */
  EXPECT(apply(f, (ops_op){.type = OP_TRASH, .path = "/home/alice/u", .flag = OPF_MAIN,
                           .a = UINT64_MAX / 2}) == 0);
  EXPECT(apply(f, (ops_op){.type = OP_DELETE, .path = "/home/alice/t", .flag = OPF_MAIN}) == 0);
  free(max);
  free(over);
  fsm_free(f);
  fsm_free(g);
  return NULL;
}

static void test_deep_tree_on_8mib_stack(void **state) {
  (void)state;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    pthread_attr_t a;
    pthread_t t;
    void *ret = (void *)1;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 8u << 20);
    if (pthread_create(&t, &a, deep_ops, NULL) == 0) pthread_join(t, &ret);
    _exit(ret ? 1 : 0);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (WIFSIGNALED(st)) fprintf(stderr, "deep tree child died of signal %d\n", WTERMSIG(st));
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deep_tree_on_8mib_stack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
