/* authd: users and sessions for dfs. Parses the command line and config, opens the
 * user store, creates the first administrator if asked to, and serves until SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/authd.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/errors.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"

static const char usage[] =
    "usage: authd [--config FILE] [--set KEY=VALUE]... [--log-level LEVEL]\n"
    "             [--listen HOST:PORT] [--dir DIR]\n"
    "Keys (see config/authd.yaml): listen, data.dir, bcrypt.cost, bcrypt.threads,\n"
    "bcrypt.max_queued, bcrypt.max_per_address, sessions.ttl, sessions.max_per_user,\n"
    "sessions.prune_interval, login.window, login.max_failures_per_user,\n"
    "login.max_failures_per_address, registration.enabled, registration.per_address,\n"
    "registration.window, connections.max, connections.max_per_address,\n"
    "connections.idle_timeout, connections.frame_timeout, connections.max_requests,\n"
    "connections.max_write_queue, journal.repair, admin.name, admin.password (or\n"
    "$DFS_ADMIN_PASSWORD), service.secret (or $DFS_SERVICE_SECRET), tls.enabled, tls.ca,\n"
    "tls.cert, tls.key, tls.require_client_cert\n";

static const dfs_daemon_shortcut shortcuts[] = {{"--listen", "listen"}, {"--dir", "data.dir"}};
static const dfs_daemon_spec spec = {"authd", usage, shortcuts,
                                     sizeof shortcuts / sizeof shortcuts[0]};

static int fail(const char *msg) {
  fprintf(stderr, "authd: %s\n", msg);
  return 2;
}

static dfs_daemon_signals sigs;
static dfs_server *server;
static authd *the_authd;
static uv_timer_t prune_timer;

static void on_stop(void *ud, int signum) {
  (void)signum;
  dfs_server_close(server);
  authd_stop(the_authd); /* waiting bcrypt jobs answered now, not after the loop */
  uv_stop(ud);
}

/* Expired sessions leave memory while authd runs, not only at the next start. */
static void on_prune(uv_timer_t *t) {
  authd *ad = t->data;
  size_t n = user_store_prune(ad->store, dfs_wall_ns() / 1000000);
  if (n) LOG_DEBUG("pruned %zu expired sessions, %zu live", n, user_store_session_count(ad->store, NULL));
}

/* The hardening keys (docs/internals.md, authd): limits into ad, windows into *_ms. */
static int limit_keys(const dfs_config *cfg, authd *ad, int64_t *login_win, int64_t *reg_win,
                      int64_t *prune_ms, int64_t *per_user, int *repair) {
  char err[512];
  int64_t v, threads, queued, per_addr, def_pool = 4, pool = def_pool;
  const char *env = getenv("UV_THREADPOOL_SIZE");
  if (env && atoi(env) > 0) pool = atoi(env);
  /* bcrypt must leave a pool thread free for the journal's fsync */
  if (dfs_config_int_within(cfg, "bcrypt.threads", pool > 2 ? pool / 2 : 1, 1,
                            pool > 1 ? pool - 1 : 1, &threads, err, sizeof err) ||
      dfs_config_int_within(cfg, "bcrypt.max_queued", 64, 1, 100000, &queued, err, sizeof err) ||
      dfs_config_int_within(cfg, "bcrypt.max_per_address", 8, 1, 100000, &per_addr, err,
                            sizeof err) ||
      dfs_config_ms_within(cfg, "login.window", 15 * 60 * 1000, 1000, 7LL * 24 * 3600 * 1000,
                           login_win, err, sizeof err) ||
      dfs_config_int_within(cfg, "login.max_failures_per_user", 10, 0, 1000000, &v, err,
                            sizeof err))
    return fail(err);
  ad->max_fail_user = (uint32_t)v;
  if (dfs_config_int_within(cfg, "login.max_failures_per_address", 50, 0, 1000000, &v, err,
                            sizeof err))
    return fail(err);
  ad->max_fail_addr = (uint32_t)v;
  int on;
  if (dfs_config_bool(cfg, "registration.enabled", 1, &on, err, sizeof err)) return fail(err);
  ad->registration_off = !on;
  if (dfs_config_int_within(cfg, "registration.per_address", 20, 0, 1000000, &v, err, sizeof err) ||
      dfs_config_ms_within(cfg, "registration.window", 3600 * 1000, 1000, 7LL * 24 * 3600 * 1000,
                           reg_win, err, sizeof err))
    return fail(err);
  ad->reg_per_addr = (uint32_t)v;
  if (dfs_config_int_within(cfg, "sessions.max_per_user", 32, 0, 1000000, per_user, err,
                            sizeof err) ||
      dfs_config_ms_within(cfg, "sessions.prune_interval", 60 * 1000, 10, 24 * 3600 * 1000,
                           prune_ms, err, sizeof err) ||
      dfs_config_int_within(cfg, "connections.max", 1024, 0, 1000000, &v, err, sizeof err))
    return fail(err);
  ad->max_conns = (uint32_t)v;
  if (dfs_config_int_within(cfg, "connections.max_per_address", 64, 0, 1000000, &v, err,
                            sizeof err))
    return fail(err);
  ad->max_conns_per_addr = (uint32_t)v;
  if (dfs_config_int_within(cfg, "connections.max_requests", 16, 0, 1000000, &v, err, sizeof err))
    return fail(err);
  ad->max_requests = (uint32_t)v;
  if (dfs_config_int_within(cfg, "connections.max_write_queue", 1 << 20, 0, 1LL << 32, &v, err,
                            sizeof err))
    return fail(err);
  ad->max_write_queue = (size_t)v;
  if (dfs_config_ms_within(cfg, "connections.idle_timeout", 120 * 1000, 0, 24 * 3600 * 1000, &v,
                           err, sizeof err))
    return fail(err);
  ad->idle_timeout_ms = (uint64_t)v;
  if (dfs_config_ms_within(cfg, "connections.frame_timeout", 10 * 1000, 0, 24 * 3600 * 1000, &v,
                           err, sizeof err))
    return fail(err);
  ad->frame_timeout_ms = (uint64_t)v;
  if (dfs_config_bool(cfg, "journal.repair", 0, repair, err, sizeof err)) return fail(err);
  if (!(ad->pwq = pwq_new(ad->loop, (unsigned)threads, (unsigned)queued, (unsigned)per_addr)))
    return fail("out of memory");
  return 0;
}

static void on_admin_durable(int status, void *ud) {
  if (status) LOG_ERROR("could not store the administrator account durably");
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}


/* Validates the settings, opens the store, serves until SIGTERM. The exit code. */
static int serve(const dfs_config *cfg) {
  char err[512];
  if (dfs_daemon_log_init("authd", cfg)) return 2;
  /* fault.drop_msg / fault.delay_msg etc. (test builds; else an error if any is set) */
  if (dfs_fault_configure(cfg, err, sizeof err)) return fail(err);

  authd ad = {0};
  int64_t cost, ttl;
  if (dfs_config_int(cfg, "bcrypt.cost", 10, &cost, err, sizeof err)) return fail(err);
  if (cost < 4 || cost > 31) return fail("bcrypt.cost must be between 4 and 31");
  if (dfs_config_ms(cfg, "sessions.ttl", 24 * 3600 * 1000LL, &ttl, err, sizeof err)) return fail(err);
  if (ttl < 1000) return fail("sessions.ttl must be at least 1s");
  ad.bcrypt_cost = (int)cost;
  ad.session_ttl_ms = ttl;
  const char *secret = getenv("DFS_SERVICE_SECRET");
  secret = dfs_config_str(cfg, "service.secret", secret ? secret : "");
  if (strlen(secret) >= sizeof ad.service_secret) return fail("service.secret is too long");
  strcpy(ad.service_secret, secret);
  /* wrong service secrets are refused cheaply but not locked out (auth_handlers.c's
   * service_check): its strength is what stops guessing */
  if (*secret && strlen(secret) < 16)
    LOG_WARN("service.secret is only %zu bytes: it guards every token validation and every "
             "S3 secret; use at least 16 random bytes (scripts/cluster makes 32)", strlen(secret));

  char host[256];
  int port;
  if (dfs_parse_hostport(dfs_config_str(cfg, "listen", "127.0.0.1:9500"), host, sizeof host, &port))
    return fail("listen must be HOST:PORT");

  /* TLS with the same tls.* keys as metad (src/common/tls.h); NULL = plaintext. */
  dfs_tls_ctx *tls = NULL;
  if (dfs_tls_from_config(cfg, 1, &tls, err, sizeof err)) return fail(err);
  { /* safe defaults: off loopback, passwords only over TLS, tokens checked with a secret */
    char missing[200] = "";
    dfs_daemon_missing(missing, sizeof missing, !tls, "TLS (tls.enabled)");
    dfs_daemon_missing(missing, sizeof missing, !ad.service_secret[0],
                       "a service secret (service.secret)");
    int xrc = dfs_daemon_check_exposure("authd", cfg, host, *missing ? missing : NULL);
    if (xrc) {
      dfs_tls_ctx_free(tls);
      return xrc;
    }
  }

  int rc = 1;
  uv_loop_t *loop = uv_default_loop();
  ad.loop = loop;
  the_authd = &ad;
  int64_t login_win, reg_win, prune_ms, per_user;
  int repair;
  if ((rc = limit_keys(cfg, &ad, &login_win, &reg_win, &prune_ms, &per_user, &repair)) != 0)
    goto out;
  rc = 1;
  ad.rl = rl_new((uint64_t)login_win);
  ad.reg_rl = rl_new((uint64_t)reg_win);
  if (!ad.rl || !ad.reg_rl) goto out;
  const char *dir = dfs_config_str(cfg, "data.dir", "./authd-data");
  int src = user_store_open_ex(loop, dir, repair, &ad.store);
  if (src) {
    /* a corrupt journal has said what and where in its one line */
    if (src != DFS_ECHECKSUM)
      fprintf(stderr, "authd: cannot open the user store in %s (check the directory and its permissions)\n", dir);
    ad.store = NULL;
    goto out;
  }
  user_store_set_session_limit(ad.store, (size_t)per_user);
  uv_timer_init(loop, &prune_timer);
  prune_timer.data = &ad;
  uv_timer_start(&prune_timer, on_prune, (uint64_t)prune_ms, (uint64_t)prune_ms);
  uv_unref((uv_handle_t *)&prune_timer);
  /* A hash to verify against for unknown users, so their logins take as long. */
  if (pw_hash("not-a-real-password", ad.bcrypt_cost, ad.dummy_hash)) goto out;

  const char *admin_pw = getenv("DFS_ADMIN_PASSWORD");
  admin_pw = dfs_config_str(cfg, "admin.password", admin_pw);
  if (admin_pw && *admin_pw) {
    if (authd_ensure_admin(&ad, dfs_config_str(cfg, "admin.name", "admin"), admin_pw)) {
      rc = fail("cannot create the administrator account (see the log line above)");
      goto out;
    }
    user_store_sync(ad.store, on_admin_durable, NULL);
  } else {
    const auth_user *all;
    if (user_store_list(ad.store, &all) == 0)
      LOG_WARN("no users yet and no admin.password set: no administrator exists "
               "(restart with DFS_ADMIN_PASSWORD=... to create one)");
  }

  dfs_conn_opts opts = authd_conn_opts(&ad);
  opts.tls = tls;
  /* before the listener: a SIGTERM right after the port opens is a clean stop */
  dfs_daemon_raise_fd_limit();
  dfs_daemon_signals_start(&sigs, loop, on_stop, loop);
  if (dfs_server_listen(loop, host, port, &opts, &server)) {
    fprintf(stderr, "authd: cannot listen on %s:%d (is another authd running?)\n", host, port);
    goto out;
  }
  LOG_INFO("listening on %s:%d%s, data in %s, bcrypt cost %d", host, dfs_server_port(server),
           tls ? " with TLS" : "", dir, ad.bcrypt_cost);
  LOG_INFO("limits: %u failed logins per user, %u per address per %lld s; registration %s "
           "(%u per address per %lld s); connections %u (%u per address), idle %llu ms, "
           "frame %llu ms", ad.max_fail_user, ad.max_fail_addr, (long long)login_win / 1000,
           ad.registration_off ? "off" : "on", ad.reg_per_addr, (long long)reg_win / 1000,
           ad.max_conns, ad.max_conns_per_addr, (unsigned long long)ad.idle_timeout_ms,
           (unsigned long long)ad.frame_timeout_ms);
  if (!tls) LOG_WARN("TLS is off (tls.enabled: false): passwords and tokens travel in the clear");
  uv_run(loop, UV_RUN_DEFAULT);
  rc = 0;

out:
  uv_walk(loop, close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  if (ad.store) user_store_close(ad.store);
  if (ad.rl) rl_free(ad.rl);
  if (ad.reg_rl) rl_free(ad.reg_rl);
  pwq_free(ad.pwq);
  dfs_tls_ctx_free(tls);
  return rc;
}

int main(int argc, char **argv) {
  dfs_config *cfg = dfs_config_new();
  if (!cfg) return 1;
  int rc = dfs_daemon_args(&spec, argc, argv, cfg);
  if (rc < 0) rc = serve(cfg);
  dfs_config_free(cfg);
  return rc;
}
