/* authd: users and sessions for dfs. Parses the command line and config, opens the
 * user store, creates the first administrator if asked to, and serves until SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/authd.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"

static const char usage[] =
    "usage: authd [--config FILE] [--set KEY=VALUE]... [--log-level LEVEL]\n"
    "             [--listen HOST:PORT] [--dir DIR]\n"
    "Keys (see config/authd.yaml): listen, data.dir, bcrypt.cost, sessions.ttl,\n"
    "admin.name, admin.password (or $DFS_ADMIN_PASSWORD), service.secret (or $DFS_SERVICE_SECRET),\n"
    "tls.enabled, tls.ca, tls.cert, tls.key, tls.require_client_cert\n";

static uv_signal_t sigterm, sigint;
static dfs_server *server;

static void on_signal(uv_signal_t *s, int signum) {
  LOG_INFO("signal %d: shutting down", signum);
  dfs_server_close(server);
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_stop(s->loop);
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

/* Fills *cfgp from the command line and --config FILE (the file is the base, command-line
 * settings win; *cfgp may be replaced, caller frees it). -1 to go on, else an exit code. */
static int parse_cmdline(int argc, char **argv, dfs_config **cfgp) {
  dfs_config *cfg = *cfgp;
  char err[512];
  const char *config_file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage, stdout); return 0; }
    if (!v) { fprintf(stderr, "authd: %s needs a value\n%s", a, usage); return 2; }
    if (strcmp(a, "--config") == 0) config_file = v;
    else if (strcmp(a, "--set") == 0) rc = dfs_config_set_kv(cfg, v);
    else if (strcmp(a, "--log-level") == 0) rc = dfs_config_set(cfg, "log.level", v);
    else if (strcmp(a, "--listen") == 0) rc = dfs_config_set(cfg, "listen", v);
    else if (strcmp(a, "--dir") == 0) rc = dfs_config_set(cfg, "data.dir", v);
    else { fprintf(stderr, "authd: unknown option %s\n%s", a, usage); return 2; }
    if (rc) { fprintf(stderr, "authd: bad value for %s: %s\n", a, v); return 2; }
    i++;
  }
  if (config_file) {
    /* The file is the base; command-line settings win: load it into a fresh config and
     * re-apply ours on top. */
    dfs_config *base = dfs_config_new();
    if (!base) return 1;
    if (dfs_config_load_file(base, config_file, err, sizeof err)) {
      dfs_config_free(base);
      return fail(err);
    }
    static const char *keys[] = {"log.level", "listen", "data.dir", "bcrypt.cost", "sessions.ttl",
                                 "admin.name", "admin.password", "service.secret",
                                 "tls.enabled", "tls.ca", "tls.cert", "tls.key",
                                 "tls.require_client_cert"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
      const char *v = dfs_config_str(cfg, keys[k], NULL);
      if (v) dfs_config_set(base, keys[k], v);
    }
    dfs_config_free(cfg);
    *cfgp = base;
  }
  return -1;
}

/* Validates the settings, opens the store, serves until SIGTERM. The exit code. */
static int serve(const dfs_config *cfg) {
  char err[512];
  int level = dfs_log_parse_level(dfs_config_str(cfg, "log.level", "info"));
  if (level < 0) return fail("log.level must be debug, info, warn or error");
  dfs_log_init("authd", (enum dfs_log_level)level);

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
  if (dfs_server_listen(loop, host, port, &opts, &server)) {
    fprintf(stderr, "authd: cannot listen on %s:%d (is another authd running?)\n", host, port);
    goto out;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);
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
  int rc = parse_cmdline(argc, argv, &cfg);
  if (rc < 0) rc = serve(cfg);
  dfs_config_free(cfg);
  return rc;
}
