/* authd's state: users, live sessions and S3 access keys (key_store.h), in memory,
 * journaled durably (journal.h).
 * Every mutation updates memory at once (so later requests see it) and appends a
 * record; the caller replies only after user_store_sync() reports it durable.
 * Sessions are stored by SHA-256 of the token: a stolen store reveals no live token.
 * Sessions live in a hash table by token hash and in a per-user list (oldest first), so
 * a lookup is O(1) and a user's session count is bounded (oldest dropped first). Users
 * are an array scanned linearly: fine for thousands of users.
 * Access keys live in the same journal (so a replay sees keys, users and sessions in the
 * order they happened): a key belongs to an existing user; deleting the user deletes
 * her keys, and a retired name's keys never come back. A session may belong to a key
 * (key_id set: the gateway's token): deleting the key ends it, and like every session of
 * the user it ends when she is disabled, deleted or changes her password. Key sessions
 * are bounded per key (KEY_MAX_SESSIONS), the others per user (set_session_limit).
 * Loop thread only. */
#ifndef DFS_USER_STORE_H
#define DFS_USER_STORE_H

#include <stdint.h>
#include <uv.h>

#include "authd/journal.h"
#include "authd/key_store.h"
#include "authd/password.h"

#define USER_NAME_MAX 32

typedef struct {
  char name[USER_NAME_MAX + 1];
  char hash[PW_HASH_MAX];
  int is_admin;
  int disabled;
  int64_t created_ms;
} auth_user;

typedef struct {
  uint8_t token_hash[32];
  char user[USER_NAME_MAX + 1];
  int64_t expires_ms;
  char key_id[KEY_ID_LEN + 1]; /* "" = a password login; else the access key's session */
} auth_session;

typedef struct user_store user_store;

/* Opens dir/auth.journal (blocking, start-up only), replays and compacts it. 0, or
 * DFS_ECHECKSUM after one error line (corrupt journal, see journal_open), or DFS_EIO /
 * DFS_ENOMEM. *out (caller owns) is freed with user_store_close. */
int user_store_open(uv_loop_t *loop, const char *dir, user_store **out);
/* The same; repair = 1 cuts a corrupt journal before its first bad record. */
int user_store_open_ex(uv_loop_t *loop, const char *dir, int repair, user_store **out);
void user_store_close(user_store *s);

/* 0 if name is a valid user name (1..32 of [a-z0-9_-], first a letter), else DFS_EINVAL. */
int user_name_check(const char *name);

/* 1 if name belonged to a user that was deleted: such a name is never given out again
 * (files and trash items carry owner names, so a new user of that name would inherit
 * them). */
int user_store_name_retired(const user_store *s, const char *name);

/* Pointers stay valid until the next mutation. NULL if absent. */
const auth_user *user_store_get(const user_store *s, const char *name);
/* Number of users; *out = array of them (valid until the next mutation). */
size_t user_store_list(const user_store *s, const auth_user **out);
/* The live (unexpired at now_ms) session for a token, or NULL. */
const auth_session *user_store_session(const user_store *s, const char *token, int64_t now_ms);
void user_store_token_hash(const char *token, uint8_t out[32]);

/* Mutations (memory now, disk at the next sync): 0, DFS_EEXIST, DFS_ENOENT, DFS_ENOMEM, DFS_EIO. */
int user_store_add(user_store *s, const auth_user *u);        /* new user only */
int user_store_update(user_store *s, const auth_user *u);     /* existing user */
int user_store_delete(user_store *s, const char *name);       /* also its sessions */
/* At the bound (the user's password sessions, or KEY_MAX_SESSIONS of ss->key_id),
 * first drops (journaled) the oldest session under that bound. */
int user_store_add_session(user_store *s, const auth_session *ss);
int user_store_drop_session(user_store *s, const uint8_t token_hash[32]);
int user_store_drop_user_sessions(user_store *s, const char *name);
/* Forgets expired sessions (memory only; the compaction at start drops them on disk).
 * Returns how many. O(sessions): call from a timer, not per request. */
size_t user_store_prune(user_store *s, int64_t now_ms);
/* Password sessions per user (0 = no bound; the default): see user_store_add_session. */
void user_store_set_session_limit(user_store *s, size_t max_per_user);
/* Live sessions (in memory) of name, or of everyone if name is NULL. */
size_t user_store_session_count(const user_store *s, const char *name);
/* Access keys. Pointers stay valid until the next mutation; NULL if absent. */
const access_key *user_store_key(const user_store *s, const char *id);
/* Number of keys (all users, oldest first); *out = the array. */
size_t user_store_keys(const user_store *s, const access_key **out);
/* Keys of user. */
size_t user_store_key_count(const user_store *s, const char *user);
/* A new key (k->secret already sealed): 0, DFS_ENOENT (no such user), DFS_EQUOTA (the
 * user has KEY_MAX_PER_USER), DFS_EEXIST (id taken), DFS_ENOMEM, DFS_EIO. */
int user_store_add_key(user_store *s, const access_key *k);
/* Deletes a key and ends its sessions: 0, DFS_ENOENT, DFS_ENOMEM, DFS_EIO. */
int user_store_delete_key(user_store *s, const char *id);
/* Live sessions (in memory) of key id. */
size_t user_store_key_session_count(const user_store *s, const char *user, const char *id);
/* cb(status, ud) once every mutation so far is durable. */
int user_store_sync(user_store *s, journal_done_cb cb, void *ud);

#endif
