/* The authd server: its settings and state, shared by main.c and the handlers. */
#ifndef DFS_AUTHD_H
#define DFS_AUTHD_H

#include <stdint.h>
#include <uv.h>

#include "authd/pwqueue.h"
#include "authd/ratelimit.h"
#include "authd/user_store.h"
#include "common/conn.h"

/* Zero-initialised fields mean "no limit" (and pwq NULL: one with the PWQ_DEF_*
 * defaults is made on first use), so a bare authd (the fuzz target) still works. */
typedef struct {
  uv_loop_t *loop;
  user_store *store;
  ratelimit *rl;     /* login attempts, keys "u:NAME" and "a:IP" (owned) */
  ratelimit *reg_rl; /* registrations, keys "a:IP" (owned; NULL = no limit) */
  pwq *pwq;          /* bcrypt jobs (owned) */
  uint32_t max_fail_user, max_fail_addr; /* failed logins per login.window */
  uint32_t reg_per_addr;                 /* registrations per registration.window */
  int registration_off;
  /* connection limits (dfs_conn_opts) */
  uint32_t max_conns, max_conns_per_addr, max_requests;
  uint64_t idle_timeout_ms, frame_timeout_ms;
  size_t max_write_queue;
  /* counters (logs, tests) and the throttle of refusal log lines */
  uint64_t bcrypt_runs, refusals;
  uint64_t refusal_log_ms;
  struct areq *delayed; /* requests in their slow-down (auth_handlers.c) */
  int stopping;
  int bcrypt_cost;
  int64_t session_ttl_ms;
  char service_secret[256]; /* shared with metad; empty = validation refused */
  char dummy_hash[PW_HASH_MAX]; /* verified against for unknown users: equal timing */
} authd;

/* Connection options for authd's listener: small frames, no bulk, the connection
 * limits above and the request dispatcher. conn data = the authd. */
dfs_conn_opts authd_conn_opts(authd *ad);
/* Creates the admin account if no user exists yet. Blocking (bcrypt): start-up only. */
int authd_ensure_admin(authd *ad, const char *name, const char *password);
/* Shutdown: waiting bcrypt jobs are answered "shutting down" and freed now. */
void authd_stop(authd *ad);

#endif
