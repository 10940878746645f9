/* bcrypt hashing via libxcrypt's crypt_gensalt_rn/crypt_r (see password.h). */
#include "authd/password.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/util.h"

int pw_hash(const char *password, int cost, char out[PW_HASH_MAX]) {
  char rnd[16], salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (dfs_random_bytes(rnd, sizeof rnd)) return DFS_EINTERNAL;
  if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, rnd, sizeof rnd, salt, sizeof salt))
    return DFS_EINTERNAL;
  struct crypt_data *cd = calloc(1, sizeof *cd);
  if (!cd) return DFS_ENOMEM;
  const char *h = crypt_r(password, salt, cd);
  int rc = DFS_EINTERNAL;
  if (h && h[0] == '$' && strlen(h) < PW_HASH_MAX) {
    strcpy(out, h);
    rc = 0;
  }
  OPENSSL_cleanse(cd, sizeof *cd);
  free(cd);
  return rc;
}

int pw_verify(const char *password, const char *hash) {
  struct crypt_data *cd = calloc(1, sizeof *cd);
  if (!cd) return 0;
  const char *h = crypt_r(password, hash, cd);
  size_t n = strlen(hash);
  int ok = h && h[0] == '$' && strlen(h) == n && CRYPTO_memcmp(h, hash, n) == 0;
  OPENSSL_cleanse(cd, sizeof *cd);
  free(cd);
  return ok;
}

int pw_check_policy(const char *password, const char **why) {
  size_t n = strlen(password);
  if (n < PW_MIN_LEN) { *why = "password too short (at least 8 characters)"; return DFS_EINVAL; }
  if (n > PW_MAX_LEN) { *why = "password too long (at most 72 bytes)"; return DFS_EINVAL; }
  return 0;
}
