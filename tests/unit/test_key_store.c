/* S3 access keys in authd (key_store.h, user_store.h): generation, sealing, the per-user
 * bound, and the journal (keys survive a reopen and its compaction; deleting a key ends
 * its sessions; deleting a user deletes her keys for good; no secret in the clear). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd/key_store.h"
#include "authd/user_store.h"
#include "common/errors.h"

static void test_generate(void **state) {
  char id[KEY_ID_LEN + 1], secret[KEY_SECRET_LEN + 1], id2[KEY_ID_LEN + 1];
  assert_int_equal(key_generate(id, secret), 0);
  assert_int_equal(strlen(id), 20);
  assert_int_equal(strlen(secret), 40);
  assert_true(key_id_valid(id));
  assert_int_equal(strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), 40);
  assert_int_equal(key_generate(id2, secret), 0);
  assert_string_not_equal(id, id2);
  assert_false(key_id_valid("DKabc"));
  assert_false(key_id_valid("AKAAAAAAAAAAAAAAAAAA"));
  assert_false(key_id_valid("DKAAAAAAAAAAAAAAAAAa"));
  assert_true(key_id_valid("DKAAAAAAAAAAAAAAAAA9"));
}

static void test_seal(void **state) {
  uint8_t k1[32], k2[32];
  assert_int_equal(key_seal_key("", k1), DFS_EINVAL);
  assert_int_equal(key_seal_key("cluster-one", k1), 0);
  assert_int_equal(key_seal_key("cluster-two", k2), 0);
  access_key k = {.id = "DKAAAAAAAAAAAAAAAAAA", .user = "alice", .created_ms = 1};
  const char *secret = "abcdefghijABCDEFGHIJ0123456789+/abcdefgh";
  assert_int_equal(key_seal(k1, &k, secret), 0);
  assert_null(memmem(k.sealed, sizeof k.sealed, "abcdefghij", 10));
  char out[KEY_SECRET_LEN + 1];
  assert_int_equal(key_unseal(k1, &k, out), 0);
  assert_string_equal(out, secret);
  assert_int_equal(key_unseal(k2, &k, out), DFS_EAUTH); /* another cluster secret */
  access_key moved = k;
  snprintf(moved.user, sizeof moved.user, "mallory"); /* bound to its user */
  assert_int_equal(key_unseal(k1, &moved, out), DFS_EAUTH);
  access_key flipped = k;
  flipped.sealed[KEY_NONCE_LEN] ^= 1;
  assert_int_equal(key_unseal(k1, &flipped, out), DFS_EAUTH);
}

static int synced;
static void on_sync(int status, void *ud) { assert_int_equal(status, 0); synced++; }
static void sync_now(uv_loop_t *loop, user_store *s) {
  synced = 0;
  assert_int_equal(user_store_sync(s, on_sync, NULL), 0);
  while (!synced) uv_run(loop, UV_RUN_ONCE);
}

static access_key new_key(const uint8_t seal[32], const char *user, char secret[KEY_SECRET_LEN + 1]) {
  access_key k = {.created_ms = 7};
  snprintf(k.user, sizeof k.user, "%s", user);
  assert_int_equal(key_generate(k.id, secret), 0);
  assert_int_equal(key_seal(seal, &k, secret), 0);
  return k;
}

static auth_session key_session(const char *user, const char *id, const char *token) {
  auth_session ss = {.expires_ms = INT64_MAX / 2};
  snprintf(ss.user, sizeof ss.user, "%s", user);
  snprintf(ss.key_id, sizeof ss.key_id, "%s", id);
  user_store_token_hash(token, ss.token_hash);
  return ss;
}

static void test_store_keys(void **state) {
  char dir[] = "/tmp/dfs-key-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  uv_loop_t loop;
  uv_loop_init(&loop);
  uint8_t seal[32];
  assert_int_equal(key_seal_key("secret", seal), 0);
  user_store *s;
  assert_int_equal(user_store_open(&loop, dir, &s), 0);
  user_store_set_session_limit(s, 2);
  auth_user a = {.name = "alice", .hash = "$2b$04$x"}, b = {.name = "bob", .hash = "$2b$04$y"};
  assert_int_equal(user_store_add(s, &a), 0);
  assert_int_equal(user_store_add(s, &b), 0);
  char secret[KEY_SECRET_LEN + 1], first_secret[KEY_SECRET_LEN + 1];
  access_key ka = new_key(seal, "alice", first_secret);
  assert_int_equal(user_store_add_key(s, &ka), 0);
  assert_int_equal(user_store_add_key(s, &ka), DFS_EEXIST);
  for (int i = 1; i < KEY_MAX_PER_USER; i++) {
    access_key k = new_key(seal, "alice", secret);
    assert_int_equal(user_store_add_key(s, &k), 0);
  }
  access_key k17 = new_key(seal, "alice", secret);
  assert_int_equal(user_store_add_key(s, &k17), DFS_EQUOTA);
  access_key nobody = new_key(seal, "carol", secret);
  assert_int_equal(user_store_add_key(s, &nobody), DFS_ENOENT);
  access_key kb = new_key(seal, "bob", secret);
  assert_int_equal(user_store_add_key(s, &kb), 0);

  /* sessions of a key: at most KEY_MAX_SESSIONS, oldest dropped; the user's password
   * sessions are bounded apart (2 here) and are not pushed out by them */
  auth_session login = {.user = "alice", .expires_ms = INT64_MAX / 2};
  user_store_token_hash("login-1", login.token_hash);
  assert_int_equal(user_store_add_session(s, &login), 0);
  char tok[32];
  for (int i = 0; i < KEY_MAX_SESSIONS + 2; i++) {
    snprintf(tok, sizeof tok, "key-%d", i);
    auth_session ks = key_session("alice", ka.id, tok);
    assert_int_equal(user_store_add_session(s, &ks), 0);
  }
  assert_int_equal(user_store_key_session_count(s, "alice", ka.id), KEY_MAX_SESSIONS);
  assert_null(user_store_session(s, "key-0", 1));
  assert_null(user_store_session(s, "key-1", 1));
  assert_non_null(user_store_session(s, "key-2", 1));
  assert_non_null(user_store_session(s, "login-1", 1));
  auth_session kbs = key_session("bob", kb.id, "bob-key");
  assert_int_equal(user_store_add_session(s, &kbs), 0);
  sync_now(&loop, s);
  user_store_close(s);

  /* reopen (replay + compaction), then again (the compacted file) */
  for (int round = 0; round < 2; round++) {
    assert_int_equal(user_store_open(&loop, dir, &s), 0);
    const access_key *all;
    assert_int_equal(user_store_keys(s, &all), KEY_MAX_PER_USER + 1);
    const access_key *k = user_store_key(s, ka.id);
    assert_non_null(k);
    assert_string_equal(k->user, "alice");
    char out[KEY_SECRET_LEN + 1];
    assert_int_equal(key_unseal(seal, k, out), 0);
    assert_string_equal(out, first_secret);
    assert_non_null(user_store_session(s, "key-9", 1));
    assert_string_equal(user_store_session(s, "key-9", 1)->key_id, ka.id);
    user_store_close(s);
  }
  assert_int_equal(user_store_open(&loop, dir, &s), 0);
  /* deleting a key ends its sessions, not the user's others */
  assert_int_equal(user_store_delete_key(s, ka.id), 0);
  assert_int_equal(user_store_delete_key(s, ka.id), DFS_ENOENT);
  assert_null(user_store_session(s, "key-9", 1));
  assert_non_null(user_store_session(s, "login-1", 1));
  /* deleting a user deletes her keys and their sessions */
  assert_int_equal(user_store_delete(s, "bob"), 0);
  assert_null(user_store_key(s, kb.id));
  assert_null(user_store_session(s, "bob-key", 1));
  /* a password change (every session of the user dropped) ends key sessions too */
  const access_key *all;
  size_t n = user_store_keys(s, &all);
  auth_session other = key_session("alice", all[0].id, "other-key");
  assert_int_equal(user_store_add_session(s, &other), 0);
  assert_int_equal(user_store_drop_user_sessions(s, "alice"), 0);
  assert_null(user_store_session(s, "other-key", 1));
  sync_now(&loop, s);
  user_store_close(s);

  assert_int_equal(user_store_open(&loop, dir, &s), 0);
  assert_null(user_store_key(s, ka.id));
  assert_null(user_store_key(s, kb.id));
  assert_int_equal(user_store_keys(s, &all), n);
  assert_int_equal(n, KEY_MAX_PER_USER - 1);
  user_store_close(s);

  /* the journal holds no secret in the clear */
  char path[256];
  snprintf(path, sizeof path, "%s/auth.journal", dir);
  FILE *f = fopen(path, "rb");
  static char buf[1 << 16];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  assert_null(memmem(buf, len, first_secret, KEY_SECRET_LEN));
  assert_null(memmem(buf, len, secret, KEY_SECRET_LEN));
  uv_loop_close(&loop);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generate),
      cmocka_unit_test(test_seal),
      cmocka_unit_test(test_store_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
