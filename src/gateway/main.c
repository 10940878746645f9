/* dfsgw: S3 (and the web console) over HTTP for dfs. Parses the command line and the
 * config, starts libmicrohttpd (gateway.h says how a request flows) and serves until
 * SIGTERM or SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/daemon.h"
#include "common/errors.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/sock.h"
#include "common/tls.h"
#include "gateway/gateway.h"
#include "gateway/http.h"
#include "gateway/s3_auth.h"

static const char usage[] =
    "usage: dfsgw [--config FILE] [--set KEY=VALUE]... [--log-level LEVEL]\n"
    "             [--listen HOST:PORT] [--meta HOST:PORT[,...]] [--auth HOST:PORT]\n"
    "Keys (see config/dfsgw.yaml): listen, meta, auth, service.secret (or\n"
    "$DFS_SERVICE_SECRET), region, connections.max, connections.max_per_address,\n"
    "connections.idle_timeout, keys.cache_ttl, metrics.access_key, tls.enabled, tls.ca,\n"
    "tls.cert, tls.key\n";

static const dfs_daemon_shortcut shortcuts[] = {
    {"--listen", "listen"}, {"--meta", "meta"}, {"--auth", "auth"}};
static const dfs_daemon_spec spec = {"dfsgw", usage, shortcuts,
                                     sizeof shortcuts / sizeof shortcuts[0]};

static int fail(const char *msg) {
  fprintf(stderr, "dfsgw: %s\n", msg);
  return 2;
}

/* Reads a whole (small) PEM file into a malloc'ed string; NULL after a line on stderr. */
static char *read_pem(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "dfsgw: cannot read %s\n", path);
    return NULL;
  }
  char *buf = malloc(1 << 20);
  size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
  fclose(f);
  if (!buf || n == 0) {
    free(buf);
    fprintf(stderr, "dfsgw: %s is empty or unreadable\n", path);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

static int split_host_port(const char *s, char *host, size_t hostsz, int *port) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || (size_t)(colon - s) >= hostsz) return -1;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p < 1 || p > 65535) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  *port = (int)p;
  return 0;
}

static int run(dfs_config *cfg) {
  static gateway gw;
  gw_config *c = &gw.cfg;
  char err[512];
  if (dfs_daemon_log_init("dfsgw", cfg)) return 2;
  dfs_daemon_raise_fd_limit();
  const char *listen = dfs_config_str(cfg, "listen", "127.0.0.1:9600");
  if (split_host_port(listen, c->listen_host, sizeof c->listen_host, &c->listen_port))
    return fail("listen must be HOST:PORT (an IPv4 address)");
  snprintf(c->meta, sizeof c->meta, "%s", dfs_config_str(cfg, "meta", "127.0.0.1:9400"));
  snprintf(c->auth, sizeof c->auth, "%s", dfs_config_str(cfg, "auth", "127.0.0.1:9500"));
  const char *secret = getenv("DFS_SERVICE_SECRET");
  secret = dfs_config_str(cfg, "service.secret", secret ? secret : "");
  if (strlen(secret) >= sizeof c->service_secret) return fail("service.secret is too long");
  snprintf(c->service_secret, sizeof c->service_secret, "%s", secret);
  snprintf(c->region, sizeof c->region, "%s", dfs_config_str(cfg, "region", "us-east-1"));
  int64_t v;
  if (dfs_config_int_within(cfg, "connections.max", 256, 1, 10000, &v, err, sizeof err))
    return fail(err);
  c->max_connections = (int)v;
  if (dfs_config_int_within(cfg, "connections.max_per_address", 64, 1, 10000, &v, err, sizeof err))
    return fail(err);
  c->max_per_address = (int)v;
  if (dfs_config_ms_within(cfg, "connections.idle_timeout", 60000, 1000, 3600000, &v, err,
                           sizeof err))
    return fail(err);
  c->idle_timeout_s = (int)(v / 1000);
  if (dfs_config_ms_within(cfg, "keys.cache_ttl", 3000, 0, 600000, &c->key_cache_ms, err,
                           sizeof err))
    return fail(err);
  c->max_keys = 1000;
  const char *mk = dfs_config_str(cfg, "metrics.access_key", "");
  if (strlen(mk) >= sizeof c->metrics_key) return fail("metrics.access_key is too long");
  snprintf(c->metrics_key, sizeof c->metrics_key, "%s", mk);

  /* TLS: the same tls.* keys as the daemons. HTTPS with tls.cert/tls.key; the links to
   * metad, authd and chunkd as a client checking tls.ca. */
  dfs_tls_ctx *client_tls = NULL;
  if (dfs_tls_from_config(cfg, 0, &client_tls, err, sizeof err)) return fail(err);
  char *cert = NULL, *key = NULL;
  if (client_tls) {
    const char *cf = dfs_config_str(cfg, "tls.cert", ""), *kf = dfs_config_str(cfg, "tls.key", "");
    if (!*cf || !*kf) {
      dfs_tls_ctx_free(client_tls);
      return fail("tls.enabled needs tls.cert and tls.key for HTTPS");
    }
    if (!(cert = read_pem(cf)) || !(key = read_pem(kf))) {
      free(cert);
      dfs_tls_ctx_free(client_tls);
      return 2;
    }
    c->tls = 1;
  }
  dfs_sock_set_tls(client_tls);
  {
    char missing[256] = "";
    dfs_daemon_missing(missing, sizeof missing, !client_tls, "TLS (tls.enabled)");
    dfs_daemon_missing(missing, sizeof missing, !c->service_secret[0],
                       "a service secret (service.secret)");
    int xrc = dfs_daemon_check_exposure("dfsgw", cfg, c->listen_host, *missing ? missing : NULL);
    if (xrc) {
      free(cert);
      free(key);
      dfs_tls_ctx_free(client_tls);
      return xrc;
    }
  }
  if (!c->service_secret[0])
    LOG_WARN("service.secret is not set: authd will refuse every access key lookup, so "
             "every S3 request is refused (set it to the cluster secret)");
  if (s3_auth_init(&gw)) return fail("out of memory");

  /* the signals are taken by this thread with sigwait; every other thread blocks them */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);
  struct MHD_Daemon *d = gw_http_start(&gw, cert, key);
  if (!d) {
    free(cert);
    free(key);
    s3_auth_free(&gw);
    dfs_tls_ctx_free(client_tls);
    return 1;
  }
  LOG_INFO("dfsgw listening on %s:%d%s (metad %s, authd %s)", c->listen_host, c->listen_port,
           cert ? " with TLS" : "", c->meta, c->auth);
  if (!cert) LOG_WARN("TLS is off (tls.enabled: false): requests and data travel in the clear");
  int sig = 0;
  sigwait(&stop, &sig);
  LOG_INFO("shutting down (signal %d)", sig);
  MHD_stop_daemon(d);
  s3_auth_free(&gw);
  dfs_sock_set_tls(NULL);
  dfs_tls_ctx_free(client_tls);
  free(cert);
  free(key);
  return 0;
}

int main(int argc, char **argv) {
  dfs_config *cfg = dfs_config_new();
  if (!cfg) return fail("out of memory");
  int rc = dfs_daemon_args(&spec, argc, argv, cfg);
  if (rc < 0) rc = run(cfg);
  dfs_config_free(cfg);
  return rc;
}
