/* Password hashing with bcrypt ($2b$) through libxcrypt. Both calls take tens of
 * milliseconds by design: call them on the thread pool, never on the loop thread.
 * Thread-safe (crypt_r with per-call state). */
#ifndef DFS_PASSWORD_H
#define DFS_PASSWORD_H

#include <stddef.h>

#define PW_HASH_MAX 128
#define PW_MIN_LEN 8
#define PW_MAX_LEN 72 /* bcrypt ignores bytes beyond 72: refuse them rather than lie */

/* Hashes password with a fresh random salt at the given cost (4..31). Writes the
 * NUL-terminated "$2b$..." string to out (PW_HASH_MAX bytes). 0 or DFS_EINTERNAL. */
int pw_hash(const char *password, int cost, char out[PW_HASH_MAX]);
/* 1 if password matches hash, 0 if not (or if hash is malformed). Constant-time compare. */
int pw_verify(const char *password, const char *hash);
/* 0 if the password is acceptable, else DFS_EINVAL with a static reason in *why. */
int pw_check_policy(const char *password, const char **why);

#endif
