/* Unit tests of src/metad/perm.c: the owner/other mode bits, administrators and the
 * anonymous superuser, traversal (x on every directory, without revealing names under
 * a closed directory), parent checks, mkdir -p and recursive-delete subtree checks,
 * and the wording of the refusal. Also auth.c's pure helpers: finding the token in a
 * request without decoding it, and the cluster-secret comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "metad/ns.h"
#include "client_meta.pb-c.h"
#include "metad/auth.h"
#include "metad/perm.h"

static char msg[512];

/* / (admin 0755), /home (admin 0755), /home/alice (alice 0700) with a file f (0644)
 * and a dir d (0755) holding g, /home/bob (bob 0755), /pub (admin 0777). */
static ns_t *tree(void) {
  ns_t *ns = ns_new();
  assert_non_null(ns);
  assert_int_equal(ns_set_owner(ns, ns->root, "admin"), 0);
  assert_int_equal(ns_mkdir(ns, "/home", 0, 0755, "admin", 1, msg, sizeof msg), 0);
  assert_int_equal(ns_mkdir(ns, "/home/alice", 0, 0700, "alice", 1, msg, sizeof msg), 0);
  assert_int_equal(ns_mkdir(ns, "/home/bob", 0, 0755, "bob", 1, msg, sizeof msg), 0);
  assert_int_equal(ns_mkdir(ns, "/home/alice/d", 0, 0755, "alice", 1, msg, sizeof msg), 0);
  assert_int_equal(ns_mkdir(ns, "/pub", 0, 0777, "admin", 1, msg, sizeof msg), 0);
  assert_int_equal(ns_put_file(ns, "/home/alice/f", 0, 0644, "alice", 1, 0, 1, NULL, 0, NULL,
                               NULL, msg, sizeof msg),
                   0);
  assert_int_equal(ns_put_file(ns, "/home/alice/d/g", 0, 0644, "alice", 1, 0, 1, NULL, 0,
                               NULL, NULL, msg, sizeof msg),
                   0);
  return ns;
}

static void test_check_bits(void **state) {
  (void)state;
  ns_inode n = {0};
  n.owner = "alice";
  n.mode = 0640;
  assert_int_equal(perm_check("alice", 0, &n, PERM_R | PERM_W), 0);
  assert_int_equal(perm_check("alice", 0, &n, PERM_X), DFS_EPERM);
  assert_int_equal(perm_check("bob", 0, &n, PERM_R), DFS_EPERM); /* no groups: other = 0 */
  n.mode = 0604;
  assert_int_equal(perm_check("bob", 0, &n, PERM_R), 0);
  assert_int_equal(perm_check("bob", 0, &n, PERM_W), DFS_EPERM);
  /* owner bits apply to the owner even when "other" would allow more (like Unix) */
  n.mode = 0007;
  assert_int_equal(perm_check("alice", 0, &n, PERM_R), DFS_EPERM);
  assert_int_equal(perm_check("bob", 0, &n, PERM_R | PERM_W | PERM_X), 0);
  /* administrators and the anonymous superuser may do anything */
  n.mode = 0;
  assert_int_equal(perm_check("bob", 1, &n, PERM_R | PERM_W | PERM_X), 0);
  assert_int_equal(perm_check("", 0, &n, PERM_W), 0);
  assert_int_equal(perm_check(NULL, 0, &n, PERM_W), 0);
  /* an inode without owner belongs to nobody: others' bits for everyone */
  n.owner = NULL;
  n.mode = 0755;
  assert_int_equal(perm_check("bob", 0, &n, PERM_R | PERM_X), 0);
  assert_int_equal(perm_check("bob", 0, &n, PERM_W), DFS_EPERM);
  assert_int_equal(perm_check("x", 0, &n, 0), 0); /* want nothing: always fine */
}

static void test_lookup(void **state) {
  (void)state;
  ns_t *ns = tree();
  ns_inode *n;
  assert_int_equal(perm_lookup(ns, "/home/alice/f", "alice", 0, &n, msg, sizeof msg), 0);
  assert_string_equal(n->name, "f");
  /* bob cannot pass /home/alice (0700) ... */
  assert_int_equal(perm_lookup(ns, "/home/alice/f", "bob", 0, &n, msg, sizeof msg), DFS_EPERM);
  assert_string_equal(msg, "permission denied: /home/alice (owner alice, mode 0700)");
  /* ... nor learn whether a name exists there */
  assert_int_equal(perm_lookup(ns, "/home/alice/nope", "bob", 0, &n, msg, sizeof msg),
                   DFS_EPERM);
  /* but may stat the directory itself (only its ancestors need x) */
  assert_int_equal(perm_lookup(ns, "/home/alice", "bob", 0, &n, msg, sizeof msg), 0);
  assert_int_equal(perm_lookup(ns, "/home/alice/d/g", "bob", 1, &n, msg, sizeof msg), 0);
  assert_int_equal(perm_lookup(ns, "/home/alice/d/g", "", 0, &n, msg, sizeof msg), 0);
  assert_int_equal(perm_lookup(ns, "/", "bob", 0, &n, msg, sizeof msg), 0);
  assert_ptr_equal(n, ns->root);
  assert_int_equal(perm_lookup(ns, "/nope/x", "bob", 0, &n, msg, sizeof msg), DFS_ENOENT);
  assert_non_null(strstr(msg, "mkdir -p /nope"));
  assert_int_equal(perm_lookup(ns, "/home/alice/f/x", "alice", 0, &n, msg, sizeof msg),
                   DFS_ENOTDIR);
  /* a closed root refuses everyone but the admin, and names "/" */
  ns->root->mode = 0700;
  assert_int_equal(perm_lookup(ns, "/pub", "bob", 0, &n, msg, sizeof msg), DFS_EPERM);
  assert_string_equal(msg, "permission denied: / (owner admin, mode 0700)");
  ns_free(ns);
}

static void test_lookup_parent(void **state) {
  (void)state;
  ns_t *ns = tree();
  ns_inode *dir, *child;
  assert_int_equal(perm_lookup_parent(ns, "/home/alice/new", "alice", 0, PERM_W | PERM_X, &dir,
                                      &child, msg, sizeof msg),
                   0);
  assert_string_equal(dir->name, "alice");
  assert_null(child);
  assert_int_equal(perm_lookup_parent(ns, "/home/alice/f", "alice", 0, PERM_W | PERM_X, &dir,
                                      &child, msg, sizeof msg),
                   0);
  assert_non_null(child);
  assert_int_equal(perm_lookup_parent(ns, "/home/alice/new", "bob", 0, PERM_W | PERM_X, &dir,
                                      &child, msg, sizeof msg),
                   DFS_EPERM);
  /* bob may read /home/bob's parent but not write into /home */
  assert_int_equal(perm_lookup_parent(ns, "/home/carol", "bob", 0, PERM_W | PERM_X, &dir,
                                      &child, msg, sizeof msg),
                   DFS_EPERM);
  assert_string_equal(msg, "permission denied: /home (owner admin, mode 0755)");
  assert_int_equal(perm_lookup_parent(ns, "/newtop", "bob", 0, PERM_W | PERM_X, &dir, &child,
                                      msg, sizeof msg),
                   DFS_EPERM);
  assert_string_equal(msg, "permission denied: / (owner admin, mode 0755)");
  assert_int_equal(perm_lookup_parent(ns, "/pub/x", "bob", 0, PERM_W | PERM_X, &dir, &child,
                                      msg, sizeof msg),
                   0);
  assert_int_equal(perm_lookup_parent(ns, "/", "bob", 0, PERM_W, &dir, &child, msg, sizeof msg),
                   DFS_EINVAL);
  assert_int_equal(perm_lookup_parent(ns, "/x/y", "bob", 0, PERM_W, &dir, &child, msg,
                                      sizeof msg),
                   DFS_ENOENT);
  ns_free(ns);
}

static void test_mkdir_p(void **state) {
  (void)state;
  ns_t *ns = tree();
  assert_int_equal(perm_check_mkdir_p(ns, "/home/alice/a/b/c", "alice", 0, msg, sizeof msg), 0);
  assert_int_equal(perm_check_mkdir_p(ns, "/home/alice/a/b/c", "bob", 0, msg, sizeof msg),
                   DFS_EPERM);
  assert_int_equal(perm_check_mkdir_p(ns, "/home/bob/x", "alice", 0, msg, sizeof msg),
                   DFS_EPERM);
  assert_string_equal(msg, "permission denied: /home/bob (owner bob, mode 0755)");
  /* everything exists: only traversal is needed */
  assert_int_equal(perm_check_mkdir_p(ns, "/home/bob", "alice", 0, msg, sizeof msg), 0);
  assert_int_equal(perm_check_mkdir_p(ns, "/home/alice/f/x", "alice", 0, msg, sizeof msg),
                   DFS_ENOTDIR);
  assert_int_equal(perm_check_mkdir_p(ns, "/top/x", "bob", 0, msg, sizeof msg), DFS_EPERM);
  assert_int_equal(perm_check_mkdir_p(ns, "/top/x", "bob", 1, msg, sizeof msg), 0);
  ns_free(ns);
}

static void test_subtree(void **state) {
  (void)state;
  ns_t *ns = tree();
  ns_inode *n;
  assert_int_equal(ns_lookup(ns, "/home/alice", &n, msg, sizeof msg), 0);
  assert_int_equal(perm_check_subtree(n, "/home/alice", "alice", 0, msg, sizeof msg), 0);
  assert_int_equal(perm_check_subtree(n, "/home/alice", "bob", 0, msg, sizeof msg), DFS_EPERM);
  assert_string_equal(msg, "permission denied: /home/alice (owner alice, mode 0700)");
  /* a non-empty subdirectory alice cannot write blocks her recursive delete */
  ns_inode *d;
  assert_int_equal(ns_lookup(ns, "/home/alice/d", &d, msg, sizeof msg), 0);
  d->mode = 0555;
  assert_int_equal(perm_check_subtree(n, "/home/alice", "alice", 0, msg, sizeof msg), DFS_EPERM);
  assert_string_equal(msg, "permission denied: /home/alice/d (owner alice, mode 0555)");
  assert_int_equal(perm_check_subtree(n, "/home/alice", "root", 1, msg, sizeof msg), 0);
  /* empty directories and files need nothing */
  assert_int_equal(ns_lookup(ns, "/home/bob", &d, msg, sizeof msg), 0);
  assert_int_equal(perm_check_subtree(d, "/home/bob", "alice", 0, msg, sizeof msg), 0);
  ns_free(ns);
}

static void test_token_scan(void **state) {
  (void)state;
  uint8_t buf[256];
  const uint8_t *tok;
  size_t n;
  Dfs__CommitReq rq = DFS__COMMIT_REQ__INIT;
  rq.token = "tok123";
  rq.path = "/a/b";
  rq.size = 77;
  rq.overwrite = 1;
  size_t len = dfs__commit_req__pack(&rq, buf);
  assert_int_equal(auth_token_of(buf, len, &tok, &n), 0);
  assert_int_equal(n, 6);
  assert_memory_equal(tok, "tok123", 6);
  /* absent token */
  rq.token = "";
  len = dfs__commit_req__pack(&rq, buf);
  assert_int_equal(auth_token_of(buf, len, &tok, &n), 0);
  assert_int_equal(n, 0);
  /* any field order; the last occurrence wins */
  const uint8_t odd[] = {0x12, 2, '/', 'x', 0x0a, 1, 'a', 0x18, 0x05, 0x0a, 2, 'b', 'c'};
  assert_int_equal(auth_token_of(odd, sizeof odd, &tok, &n), 0);
  assert_int_equal(n, 2);
  assert_memory_equal(tok, "bc", 2);
  /* malformed: a length past the end, a truncated varint, a bad wire type */
  const uint8_t bad1[] = {0x0a, 9, 'a'}, bad2[] = {0x18, 0x80}, bad3[] = {0x0b, 0};
  assert_int_equal(auth_token_of(bad1, sizeof bad1, &tok, &n), DFS_EPROTO);
  assert_int_equal(auth_token_of(bad2, sizeof bad2, &tok, &n), DFS_EPROTO);
  assert_int_equal(auth_token_of(bad3, sizeof bad3, &tok, &n), DFS_EPROTO);
  assert_int_equal(auth_token_of(NULL, 0, &tok, &n), 0);
}

static metad g_md;

static void test_secret(void **state) {
  (void)state;
  assert_int_equal(auth_secret_ok(&g_md, "anything"), 1); /* no secret configured */
  snprintf(g_md.cluster_secret, sizeof g_md.cluster_secret, "s3cret");
  assert_int_equal(auth_secret_ok(&g_md, "s3cret"), 1);
  assert_int_equal(auth_secret_ok(&g_md, "s3cre"), 0);
  assert_int_equal(auth_secret_ok(&g_md, "s3cret!"), 0);
  assert_int_equal(auth_secret_ok(&g_md, "S3cret"), 0);
  assert_int_equal(auth_secret_ok(&g_md, ""), 0);
  assert_int_equal(auth_secret_ok(&g_md, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_bits),
      cmocka_unit_test(test_lookup),
      cmocka_unit_test(test_lookup_parent),
      cmocka_unit_test(test_mkdir_p),
      cmocka_unit_test(test_subtree),
      cmocka_unit_test(test_token_scan),
      cmocka_unit_test(test_secret),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
