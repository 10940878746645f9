/* S3 access keys: generation, sealing, the table (see key_store.h). */
#include "authd/key_store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/cap.h"
#include "common/errors.h"

static const char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static const char secret_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* n characters of alphabet (size m <= 256) into out, without modulo bias: bytes at or
 * above the largest multiple of m are drawn again. */
static int random_chars(char *out, size_t n, const char *alphabet, unsigned m) {
  unsigned limit = 256 - 256 % m;
  uint8_t buf[64];
  size_t have = 0, used = sizeof buf;
  while (have < n) {
    if (used == sizeof buf) {
      if (RAND_bytes(buf, sizeof buf) != 1) return DFS_EINTERNAL;
      used = 0;
    }
    uint8_t b = buf[used++];
    if (b < limit) out[have++] = alphabet[b % m];
  }
  OPENSSL_cleanse(buf, sizeof buf);
  out[n] = '\0';
  return 0;
}

int key_generate(char id[KEY_ID_LEN + 1], char secret[KEY_SECRET_LEN + 1]) {
  id[0] = 'D';
  id[1] = 'K';
  if (random_chars(id + 2, KEY_ID_LEN - 2, id_chars, sizeof id_chars - 1)) return DFS_EINTERNAL;
  return random_chars(secret, KEY_SECRET_LEN, secret_chars, sizeof secret_chars - 1);
}

int key_id_valid(const char *id) {
  if (strlen(id) != KEY_ID_LEN || id[0] != 'D' || id[1] != 'K') return 0;
  for (size_t i = 2; i < KEY_ID_LEN; i++)
    if (!strchr(id_chars, id[i])) return 0;
  return 1;
}

int key_seal_key(const char *cluster_secret, uint8_t out[32]) {
  if (!cluster_secret || !*cluster_secret) return DFS_EINVAL;
  return dfs_secret_key(KEY_SEAL_LABEL, cluster_secret, out);
}

/* Associated data: the id and the user, each with its length. */
static size_t aad_of(const access_key *k, uint8_t out[2 + KEY_ID_LEN + KEY_USER_MAX]) {
  size_t a = strlen(k->id), b = strlen(k->user);
  out[0] = (uint8_t)a;
  memcpy(out + 1, k->id, a);
  out[1 + a] = (uint8_t)b;
  memcpy(out + 2 + a, k->user, b);
  return 2 + a + b;
}

/* AES-256-GCM over 40 bytes: enc = 1 seals in into out (+ tag), 0 opens (checks tag). */
static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[KEY_NONCE_LEN],
               const uint8_t *aad, size_t aadlen, const uint8_t *in, uint8_t *out,
               uint8_t tag[KEY_TAG_LEN]) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int n = 0, ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) &&
                  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, KEY_NONCE_LEN, NULL) &&
                  EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) &&
                  EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) &&
                  EVP_CipherUpdate(c, out, &n, in, KEY_SECRET_LEN) && n == KEY_SECRET_LEN;
  if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KEY_TAG_LEN, tag);
  if (ok) ok = EVP_CipherFinal_ex(c, out + n, &n);
  if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KEY_TAG_LEN, tag);
  EVP_CIPHER_CTX_free(c);
  return ok ? 0 : -1;
}

int key_seal(const uint8_t seal_key[32], access_key *k, const char *secret) {
  uint8_t aad[2 + KEY_ID_LEN + KEY_USER_MAX];
  size_t al = aad_of(k, aad);
  if (strlen(secret) != KEY_SECRET_LEN) return DFS_EINTERNAL;
  /* a random 96-bit nonce per key: few keys per cluster secret, no reuse to fear */
  if (RAND_bytes(k->sealed, KEY_NONCE_LEN) != 1) return DFS_EINTERNAL;
  if (gcm(1, seal_key, k->sealed, aad, al, (const uint8_t *)secret, k->sealed + KEY_NONCE_LEN,
          k->sealed + KEY_NONCE_LEN + KEY_SECRET_LEN))
    return DFS_EINTERNAL;
  return 0;
}

int key_unseal(const uint8_t seal_key[32], const access_key *k, char secret[KEY_SECRET_LEN + 1]) {
  uint8_t aad[2 + KEY_ID_LEN + KEY_USER_MAX], tag[KEY_TAG_LEN];
  size_t al = aad_of(k, aad);
  memcpy(tag, k->sealed + KEY_NONCE_LEN + KEY_SECRET_LEN, KEY_TAG_LEN);
  if (gcm(0, seal_key, k->sealed, aad, al, k->sealed + KEY_NONCE_LEN, (uint8_t *)secret, tag)) {
    OPENSSL_cleanse(secret, KEY_SECRET_LEN + 1);
    return DFS_EAUTH;
  }
  secret[KEY_SECRET_LEN] = '\0';
  return 0;
}

/* ---- the table ---------------------------------------------------------------------- */

const access_key *key_find(const key_table *t, const char *id) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->keys[i].id, id) == 0) return &t->keys[i];
  return NULL;
}

size_t key_count(const key_table *t, const char *user) {
  size_t n = 0;
  for (size_t i = 0; i < t->n; i++) n += strcmp(t->keys[i].user, user) == 0;
  return n;
}

int key_put(key_table *t, const access_key *k) {
  if (key_find(t, k->id)) return DFS_EEXIST;
  access_key *nk = dfs_grow(t->keys, &t->cap, t->n + 1, sizeof *nk, 16);
  if (!nk) return DFS_ENOMEM;
  t->keys = nk;
  t->keys[t->n++] = *k;
  return 0;
}

/* Keeps creation order (ls lists oldest first). */
static void remove_at(key_table *t, size_t i) {
  memmove(&t->keys[i], &t->keys[i + 1], (t->n - i - 1) * sizeof *t->keys);
  t->n--;
}

int key_remove(key_table *t, const char *id) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->keys[i].id, id) == 0) { remove_at(t, i); return 0; }
  return DFS_ENOENT;
}

size_t key_remove_user(key_table *t, const char *user) {
  size_t n = 0;
  for (size_t i = t->n; i-- > 0;)
    if (strcmp(t->keys[i].user, user) == 0) { remove_at(t, i); n++; }
  return n;
}

void key_table_free(key_table *t) {
  free(t->keys);
  memset(t, 0, sizeof *t);
}
