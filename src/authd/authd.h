/* The authd server: its settings and state, shared by main.c and the handlers. */
#ifndef DFS_AUTHD_H
#define DFS_AUTHD_H

#include <stdint.h>
#include <uv.h>

#include "authd/ratelimit.h"
#include "authd/user_store.h"
#include "common/conn.h"

typedef struct {
  uv_loop_t *loop;
  user_store *store;
  ratelimit *rl;
  int bcrypt_cost;
  int64_t session_ttl_ms;
  char service_secret[256]; /* shared with metad; empty = validation refused */
  char dummy_hash[PW_HASH_MAX]; /* verified against for unknown users: equal timing */
} authd;

/* Connection options for authd's listener: pre-authentication limits (small frames, no
 * bulk) and the request dispatcher. conn data = the authd. */
dfs_conn_opts authd_conn_opts(authd *ad);
/* Creates the admin account if no user exists yet. Blocking (bcrypt): start-up only. */
int authd_ensure_admin(authd *ad, const char *name, const char *password);

#endif
