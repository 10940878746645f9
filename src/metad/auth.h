/* auth: who a client request runs as. With auth.address set, every client request's
 * token is validated with authd (AuthValidateReq + the cluster secret) through a small
 * cache: token -> user for auth.cache_ttl; requests with the same token wait for one
 * validation; the request is parked (its frame kept) until the answer and then run as
 * that user. Without auth.address every request runs as the anonymous superuser "".
 * Also the constant-time check of a chunkserver's cluster secret.
 *
 * Cache entry states:  (new) --call authd--> PENDING --valid--> VALID --ttl--> (gone)
 *                                              |--refused--> INVALID --ttl--> (gone)
 *                                              `--authd unreachable--> (gone, waiters fail)
 * Invariants: (1) a PENDING entry has exactly one authd call outstanding and is never
 * evicted; (2) waiters exist only on PENDING entries; (3) count <= AUTH_CACHE_MAX. */
#ifndef METAD_AUTH_H
#define METAD_AUTH_H

#include "common/conn.h"
#include "metad/metad.h"

/* Runs a client request as user u (borrowed for the call). Takes nothing: the caller
 * frees m afterwards. */
typedef void (*auth_run_cb)(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);

/* Creates md->auth when md->auth_address is set. 0 or DFS_ENOMEM. */
int auth_init(metad *md);
/* Fails parked requests (DFS_EUNAVAIL), closes the authd link, frees the cache. */
void auth_shutdown(metad *md);
/* After the loop has stopped: frees the cache. */
void auth_free(metad *md);
/* Periodic: drops expired cache entries. */
void auth_poll(metad *md);

/* Takes *m (m is cleared): validates the token of client request m on c, then calls
 * run(md, c, m, user) (at once or later) and frees the message; or replies DFS_EAUTH /
 * DFS_EUNAVAIL / DFS_EBUSY itself. Marks c authenticated after a valid token. */
void auth_client_request(metad *md, dfs_conn *c, dfs_msg *m, auth_run_cb run);

/* Drops the settled cache entries of user's tokens (its pending validations finish as
 * authd answers them); returns how many. */
size_t auth_forget_user(metad *md, const char *user);

/* Finds field 1 (string token) of a client request payload without decoding the rest.
 * 0 with *tok and *toklen (pointing into payload; absent: "" and 0), or DFS_EPROTO. */
int auth_token_of(const uint8_t *payload, size_t len, const uint8_t **tok, size_t *toklen);

/* 1 if given equals md->cluster_secret (constant time; 1 when no secret is set). */
int auth_secret_ok(const metad *md, const char *given);

#endif
