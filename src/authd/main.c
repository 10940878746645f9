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
    "Keys (see config/authd.yaml): listen, data.dir, bcrypt.cost, sessions.ttl,\n"
    "admin.name, admin.password (or $DFS_ADMIN_PASSWORD), service.secret (or $DFS_SERVICE_SECRET),\n"
    "tls.enabled, tls.ca, tls.cert, tls.key, tls.require_client_cert\n";

static const dfs_daemon_shortcut shortcuts[] = {{"--listen", "listen"}, {"--dir", "data.dir"}};
static const dfs_daemon_spec spec = {"authd", usage, shortcuts,
                                     sizeof shortcuts / sizeof shortcuts[0]};

static dfs_daemon_signals sigs;
static dfs_server *server;

static void on_stop(void *ud, int signum) {
  (void)signum;
  dfs_server_close(server);
  uv_stop(ud);
}

static void on_admin_durable(int status, void *ud) {
  if (status) LOG_ERROR("could not store the administrator account durably");
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static int fail(const char *msg) {
  fprintf(stderr, "authd: %s\n", msg);
  return 2;
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

  char host[256];
  int port;
  if (dfs_parse_hostport(dfs_config_str(cfg, "listen", "127.0.0.1:9500"), host, sizeof host, &port))
    return fail("listen must be HOST:PORT");

  /* TLS with the same tls.* keys as metad (src/common/tls.h); NULL = plaintext. */
  dfs_tls_ctx *tls = NULL;
  if (dfs_tls_from_config(cfg, 1, &tls, err, sizeof err)) return fail(err);

  int rc = 1;
  uv_loop_t *loop = uv_default_loop();
  ad.loop = loop;
  ad.rl = rl_new(15 * 60 * 1000);
  if (!ad.rl) goto out;
  const char *dir = dfs_config_str(cfg, "data.dir", "./authd-data");
  if (user_store_open(loop, dir, &ad.store)) {
    fprintf(stderr, "authd: cannot open the user store in %s (check the directory and its permissions)\n", dir);
    ad.store = NULL;
    goto out;
  }
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
  dfs_daemon_signals_start(&sigs, loop, on_stop, loop);
  if (dfs_server_listen(loop, host, port, &opts, &server)) {
    fprintf(stderr, "authd: cannot listen on %s:%d (is another authd running?)\n", host, port);
    goto out;
  }
  LOG_INFO("listening on %s:%d%s, data in %s, bcrypt cost %d", host, dfs_server_port(server),
           tls ? " with TLS" : "", dir, ad.bcrypt_cost);
  if (!tls) LOG_WARN("TLS is off (tls.enabled: false): passwords and tokens travel in the clear");
  uv_run(loop, UV_RUN_DEFAULT);
  rc = 0;

out:
  uv_walk(loop, close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  if (ad.store) user_store_close(ad.store);
  if (ad.rl) rl_free(ad.rl);
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
