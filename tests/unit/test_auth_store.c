/* authd pieces: bcrypt hashing, the failed-login limiter, and the journaled user store
 * (durability across reopen, torn tails, token hashing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd/password.h"
#include "authd/ratelimit.h"
#include "authd/user_store.h"
#include "common/errors.h"

static void test_password(void **state) {
  char h[PW_HASH_MAX];
  assert_int_equal(pw_hash("correct horse", 4, h), 0);
  assert_memory_equal(h, "$2b$04$", 7);
  assert_true(pw_verify("correct horse", h));
  assert_false(pw_verify("correct horsf", h));
  assert_false(pw_verify("correct horse", "garbage"));
  char h2[PW_HASH_MAX];
  assert_int_equal(pw_hash("correct horse", 4, h2), 0);
  assert_string_not_equal(h, h2); /* fresh salt each time */
  const char *why;
  assert_int_equal(pw_check_policy("short", &why), DFS_EINVAL);
  char big[100];
  memset(big, 'a', 99);
  big[99] = 0;
  assert_int_equal(pw_check_policy(big, &why), DFS_EINVAL);
  assert_int_equal(pw_check_policy("longenough", &why), 0);
}

static void test_ratelimit(void **state) {
  ratelimit *rl = rl_new(60000);
  for (int i = 0; i < 3; i++) rl_failed(rl, "u:bob", 1000);
  assert_int_equal(rl_delay_ms(rl, "u:bob", 1000), 0);
  rl_failed(rl, "u:bob", 1000);
  assert_int_equal(rl_delay_ms(rl, "u:bob", 1000), 250);
  rl_failed(rl, "u:bob", 1000);
  assert_int_equal(rl_delay_ms(rl, "u:bob", 1000), 500);
  for (int i = 0; i < 20; i++) rl_failed(rl, "u:bob", 1000);
  assert_int_equal(rl_delay_ms(rl, "u:bob", 1000), 8000);
  assert_int_equal(rl_delay_ms(rl, "u:alice", 1000), 0);
  assert_int_equal(rl_delay_ms(rl, "u:bob", 1000 + 60001), 0); /* forgotten */
  rl_failed(rl, "u:carol", 0);
  rl_succeeded(rl, "u:carol");
  assert_int_equal(rl_delay_ms(rl, "u:carol", 1), 0);
  rl_free(rl);
}

static int synced;
static void on_sync(int status, void *ud) { assert_int_equal(status, 0); synced++; }

static void test_store_durable(void **state) {
  char dir[] = "/tmp/dfs-auth-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  uv_loop_t loop;
  uv_loop_init(&loop);
  user_store *s;
  assert_int_equal(user_store_open(&loop, dir, &s), 0);
  auth_user u = {.name = "alice", .hash = "$2b$04$x", .is_admin = 1, .created_ms = 5};
  assert_int_equal(user_store_add(s, &u), 0);
  assert_int_equal(user_store_add(s, &u), DFS_EEXIST);
  auth_user b = {.name = "bob", .hash = "$2b$04$y"};
  assert_int_equal(user_store_add(s, &b), 0);
  auth_session ss = {.user = "alice", .expires_ms = INT64_MAX / 2};
  user_store_token_hash("tok-1", ss.token_hash);
  assert_int_equal(user_store_add_session(s, &ss), 0);
  auth_session s2 = {.user = "bob", .expires_ms = INT64_MAX / 2};
  user_store_token_hash("tok-2", s2.token_hash);
  assert_int_equal(user_store_add_session(s, &s2), 0);
  auth_session old = {.user = "bob", .expires_ms = 1};
  user_store_token_hash("tok-old", old.token_hash);
  assert_int_equal(user_store_add_session(s, &old), 0);
  assert_int_equal(user_store_delete(s, "bob"), 0); /* drops tok-2 too */
  synced = 0;
  assert_int_equal(user_store_sync(s, on_sync, NULL), 0);
  while (!synced) uv_run(&loop, UV_RUN_ONCE);
  user_store_close(s);

  /* A torn record at the end (a crash mid-write) is ignored. */
  char path[256];
  snprintf(path, sizeof path, "%s/auth.journal", dir);
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(write(fd, "\x40\x00\x00\x00garbage", 11) == 11);
  close(fd);

  assert_int_equal(user_store_open(&loop, dir, &s), 0);
  const auth_user *a = user_store_get(s, "alice");
  assert_non_null(a);
  assert_true(a->is_admin);
  assert_string_equal(a->hash, "$2b$04$x");
  assert_null(user_store_get(s, "bob"));
  assert_non_null(user_store_session(s, "tok-1", 1000));
  assert_null(user_store_session(s, "tok-2", 1000));
  assert_null(user_store_session(s, "tok-old", 1000));
  assert_null(user_store_session(s, "tok-nope", 1000));
  /* The journal holds token hashes, never tokens. */
  FILE *f = fopen(path, "rb");
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  assert_null(memmem(buf, n, "tok-1", 5));
  user_store_close(s);
  uv_loop_close(&loop);
  unlink(path);
  rmdir(dir);
}

static void test_user_names(void **state) {
  assert_int_equal(user_name_check("alice"), 0);
  assert_int_equal(user_name_check("a_b-9"), 0);
  assert_int_equal(user_name_check(""), DFS_EINVAL);
  assert_int_equal(user_name_check("9lives"), DFS_EINVAL);
  assert_int_equal(user_name_check("Alice"), DFS_EINVAL);
  assert_int_equal(user_name_check("a/b"), DFS_EINVAL);
  assert_int_equal(user_name_check("../etc"), DFS_EINVAL);
  assert_int_equal(user_name_check("abcdefghijabcdefghijabcdefghijabc"), DFS_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_password),
      cmocka_unit_test(test_ratelimit),
      cmocka_unit_test(test_store_durable),
      cmocka_unit_test(test_user_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
