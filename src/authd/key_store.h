/* S3 access keys (issue 16): the in-memory table, the generation of ids and secrets, and
 * the sealing of secrets. Durability is user_store's: it owns a key_table, journals the
 * 'K'/'R' records (user_store.c) and applies them here, so one journal holds users,
 * sessions and keys and a replay sees them in the order they happened.
 *
 * Invariants:
 *  - an id is "DK" + 18 of [A-Z0-9]; a secret is 40 of [A-Za-z0-9+/] (auth.proto);
 *  - a secret is never stored or logged in the clear: the table and the journal hold it
 *    sealed with AES-256-GCM under a key derived from the cluster secret
 *    (dfs_secret_key, label KEY_SEAL_LABEL), with the id and the user as associated
 *    data, so a stolen journal alone yields no secret and a sealed blob cannot be moved
 *    to another key or user;
 *  - at most KEY_MAX_PER_USER keys per user (the caller checks before adding).
 * Keys are an array scanned linearly: at most 16 per user, fine for thousands of users.
 * Loop thread only. */
#ifndef DFS_KEY_STORE_H
#define DFS_KEY_STORE_H

#include <stddef.h>
#include <stdint.h>

#define KEY_ID_LEN 20     /* "DK" + 18 */
#define KEY_SECRET_LEN 40
#define KEY_MAX_PER_USER 16
#define KEY_MAX_SESSIONS 8 /* live sessions per key (the gateway's tokens) */
#define KEY_NONCE_LEN 12
#define KEY_TAG_LEN 16
#define KEY_SEALED_LEN (KEY_NONCE_LEN + KEY_SECRET_LEN + KEY_TAG_LEN)
#define KEY_SEAL_LABEL "dfs access key seal v1:"
#define KEY_USER_MAX 32 /* = USER_NAME_MAX */

typedef struct {
  char id[KEY_ID_LEN + 1];
  char user[KEY_USER_MAX + 1];
  int64_t created_ms;
  uint8_t sealed[KEY_SEALED_LEN]; /* nonce | ciphertext | tag */
} access_key;

typedef struct {
  access_key *keys;
  size_t n, cap;
} key_table;

/* A fresh id and secret from RAND_bytes (NUL-terminated). 0 or DFS_EINTERNAL. */
int key_generate(char id[KEY_ID_LEN + 1], char secret[KEY_SECRET_LEN + 1]);
/* 1 if id has the form of an access key id. */
int key_id_valid(const char *id);
/* The sealing key for cluster_secret. 0, DFS_EINVAL (empty secret) or DFS_ENOMEM. */
int key_seal_key(const char *cluster_secret, uint8_t out[32]);
/* Seals secret into k->sealed (k->id and k->user must be set: they are bound to it).
 * 0 or DFS_EINTERNAL. */
int key_seal(const uint8_t seal_key[32], access_key *k, const char *secret);
/* Opens k->sealed into secret (NUL-terminated; the caller wipes it after use). 0, or
 * DFS_EAUTH if it does not open (another cluster secret, or tampered). */
int key_unseal(const uint8_t seal_key[32], const access_key *k, char secret[KEY_SECRET_LEN + 1]);

/* The table (memory only; user_store journals). Pointers stay valid until the next
 * change. */
const access_key *key_find(const key_table *t, const char *id);
size_t key_count(const key_table *t, const char *user);
/* 0, DFS_EEXIST (id taken) or DFS_ENOMEM. Copies k. */
int key_put(key_table *t, const access_key *k);
/* 0 or DFS_ENOENT. */
int key_remove(key_table *t, const char *id);
/* Removes every key of user; returns how many. */
size_t key_remove_user(key_table *t, const char *user);
void key_table_free(key_table *t);

#endif
