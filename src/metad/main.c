/* metad: the metadata server. Parses the command line and YAML config, opens the raft
 * log in the data directory, listens for clients and chunkservers, and runs the libuv
 * loop until SIGTERM/SIGINT (clean shutdown, exit 0). Config errors: one line, exit 2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/daemon.h"
#include "common/errors.h"
#include "common/fault.h"
#include "common/fileio.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/alloc_handlers.h"
#include "metad/auth.h"
#include "metad/cron.h"
#include "metad/front_door.h"
#include "metad/replies.h"
#include "metad/metad.h"
#include "metad/raft_glue.h"

static metad g_md;
static dfs_daemon_signals sigs;

static const char usage[] =
    "usage: metad [--config FILE] [--set key=value]... [--log-level debug|info|warn|error]\n"
    "             [--listen HOST:PORT] [--dir DIR] [--raft-address HOST:PORT] [--raft-id N]\n"
    "See config/metad.yaml for every key and its default.\n";

static const dfs_daemon_shortcut shortcuts[] = {
    {"--listen", "listen"},
    {"--dir", "data.dir"},
    {"--raft-address", "raft.address"},
    {"--raft-id", "raft.id"},
};
static const dfs_daemon_spec spec = {"metad", usage, shortcuts,
                                     sizeof shortcuts / sizeof shortcuts[0]};

static int cfg_fail(const char *msg) {
  fprintf(stderr, "metad: %s\n", msg);
  return 2;
}

#define PRE_AUTH_MAX_PAYLOAD (64u << 10)
#define PRE_AUTH_TIMEOUT_MS 10000

/* auth.*, cluster.secret, caps.*, tls.*: 0 or DFS_ECONFIG with a message in err. */
static int load_security(metad *md, char *err, size_t errsz) {
  dfs_config *c = md->cfg;
  const char *aa = dfs_config_str(c, "auth.address", "");
  if (*aa) {
    if (strlen(aa) >= sizeof md->auth_address ||
        dfs_parse_hostport(aa, md->auth_host, sizeof md->auth_host, &md->auth_port) ||
        md->auth_port < 1 || md->auth_port > 65535) {
      snprintf(err, errsz, "auth.address: '%.200s' is not HOST:PORT", aa);
      return DFS_ECONFIG;
    }
    snprintf(md->auth_address, sizeof md->auth_address, "%s", aa);
  }
  const char *env = getenv("DFS_CLUSTER_SECRET");
  const char *sec = dfs_config_str(c, "cluster.secret", env ? env : "");
  if (strlen(sec) >= sizeof md->cluster_secret) {
    snprintf(err, errsz, "cluster.secret: longer than %zu bytes", sizeof md->cluster_secret - 1);
    return DFS_ECONFIG;
  }
  snprintf(md->cluster_secret, sizeof md->cluster_secret, "%s", sec);
  if (*md->auth_address && !*md->cluster_secret) {
    snprintf(err, errsz, "auth.address is set but cluster.secret (or $DFS_CLUSTER_SECRET) is "
             "not: metad needs it to ask authd and to sign chunk capabilities");
    return DFS_ECONFIG;
  }
  if (dfs_config_ms(c, "auth.cache_ttl", 3000, &md->auth_cache_ttl_ms, err, errsz) ||
      dfs_config_ms(c, "auth.timeout", 5000, &md->auth_timeout_ms, err, errsz) ||
      dfs_config_ms(c, "caps.ttl", 120000, &md->caps_ttl_ms, err, errsz))
    return DFS_ECONFIG;
  if (md->auth_cache_ttl_ms < 0 || md->auth_cache_ttl_ms > 3600000 ||
      md->auth_timeout_ms < 10 || md->auth_timeout_ms > 600000 || md->caps_ttl_ms < 1000 ||
      md->caps_ttl_ms > 7 * 86400000LL) {
    snprintf(err, errsz, "auth.cache_ttl must be 0..1h, auth.timeout 10ms..10m, caps.ttl 1s..7d");
    return DFS_ECONFIG;
  }
  if (dfs_config_int(c, "limits.allocs_in_flight", 4096, &md->max_allocs_inflight, err, errsz) ||
      dfs_config_int(c, "limits.bad_replica_reports", 60, &md->bad_reports_per_min, err, errsz) ||
      dfs_config_int(c, "limits.scan_rate", 2000000, &md->scan_nodes_per_s, err, errsz))
    return DFS_ECONFIG;
  if (md->max_allocs_inflight < 1 || md->bad_reports_per_min < 1 || md->scan_nodes_per_s < 1000) {
    snprintf(err, errsz, "limits.allocs_in_flight and limits.bad_replica_reports must be >= 1, "
             "limits.scan_rate >= 1000");
    return DFS_ECONFIG;
  }
  if (*md->cluster_secret) {
    if (dfs_cap_key(md->cluster_secret, md->cap_key)) {
      snprintf(err, errsz, "cannot derive the capability key (out of memory)");
      return DFS_ECONFIG;
    }
    md->have_caps = 1;
  }
  if (dfs_tls_from_config(c, 1, &md->tls_server, err, errsz)) return DFS_ECONFIG;
  /* auth.tls (default: tls.enabled) lets the authd link differ from the rest */
  int tls_on = 0, auth_tls = 0;
  if (dfs_config_bool(c, "tls.enabled", 0, &tls_on, err, errsz) ||
      dfs_config_bool(c, "auth.tls", tls_on, &auth_tls, err, errsz))
    return DFS_ECONFIG;
  /* raft.tls (default: tls.enabled): voters are each other's TLS clients and servers */
  int raft_tls = 0;
  if (dfs_config_bool(c, "raft.tls", tls_on, &raft_tls, err, errsz)) return DFS_ECONFIG;
  if (raft_tls) {
    dfs_tls_config rc = {
        .ca_file = dfs_config_str(c, "tls.ca", NULL),
        .cert_file = dfs_config_str(c, "tls.cert", NULL),
        .key_file = dfs_config_str(c, "tls.key", NULL),
        .require_client_cert = 1, /* a voter proves itself with its certificate */
        .verify_hostname = 1,     /* ...and the one dialled must be the raft address */
    };
    if (!rc.ca_file || !rc.cert_file) {
      snprintf(err, errsz, "raft.tls (default: tls.enabled) needs tls.ca, tls.cert and "
               "tls.key: voters present their certificates to each other");
      return DFS_ECONFIG;
    }
    char e2[300];
    if (dfs_tls_ctx_new(&rc, 1, &md->raft_tls_server, e2, sizeof e2) ||
        dfs_tls_ctx_new(&rc, 0, &md->raft_tls_client, e2, sizeof e2)) {
      snprintf(err, errsz, "raft.tls: %s", e2);
      return DFS_ECONFIG;
    }
  }
  if (*md->auth_address && auth_tls) {
    dfs_config *cc = dfs_config_new();
    if (!cc || dfs_config_set(cc, "tls.enabled", "true")) {
      dfs_config_free(cc);
      snprintf(err, errsz, "out of memory");
      return DFS_ECONFIG;
    }
    static const char *const keys[] = {"tls.ca", "tls.cert", "tls.key", "tls.verify_hostname"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      const char *v = dfs_config_str(c, keys[i], NULL);
      if (v) dfs_config_set(cc, keys[i], v);
    }
    int rc = dfs_tls_from_config(cc, 0, &md->tls_client, err, errsz);
    dfs_config_free(cc);
    if (rc) return DFS_ECONFIG;
  }
  return 0;
}

/* Reads every setting; 0 or a message in err. */
static int load_settings(metad *md, char *err, size_t errsz) {
  dfs_config *c = md->cfg;
  const char *listen = dfs_config_str(c, "listen", "127.0.0.1:9400");
  if (dfs_parse_hostport(listen, md->listen_host, sizeof md->listen_host, &md->listen_port) ||
      md->listen_port < 1 || md->listen_port > 65535) {
    snprintf(err, errsz, "listen: '%s' is not HOST:PORT", listen);
    return DFS_ECONFIG;
  }
  snprintf(md->listen_addr, sizeof md->listen_addr, "%s", listen);
  const char *dir = dfs_config_str(c, "data.dir", "./metad-data");
  if (!*dir || strlen(dir) >= sizeof md->data_dir - 64) {
    snprintf(err, errsz, "data.dir: empty or too long");
    return DFS_ECONFIG;
  }
  snprintf(md->data_dir, sizeof md->data_dir, "%s", dir);
  int64_t v;
  if (dfs_config_int(c, "raft.id", 1, &v, err, errsz)) return DFS_ECONFIG;
  if (v < 1) {
    snprintf(err, errsz, "raft.id must be >= 1");
    return DFS_ECONFIG;
  }
  md->raft_id = (uint64_t)v;
  const char *ra = dfs_config_str(c, "raft.address", "127.0.0.1:9401");
  char h[256];
  int p;
  if (dfs_parse_hostport(ra, h, sizeof h, &p) || p < 1 || p > 65535) {
    snprintf(err, errsz, "raft.address: '%s' is not HOST:PORT", ra);
    return DFS_ECONFIG;
  }
  snprintf(md->raft_address, sizeof md->raft_address, "%s", ra);
  struct {
    const char *key;
    int is_ms;
    int64_t def, min, max;
    int64_t *out;
  } nums[] = {
      {"raft.snapshot_threshold", 0, 8192, 16, 1 << 30, &md->snapshot_threshold},
      {"raft.snapshot_trailing", 0, 32768, 16, 1 << 30, &md->snapshot_trailing},
      {"raft.election_timeout", 1, 1000, 50, 60000, &md->election_ms},
      {"raft.heartbeat_timeout", 1, 100, 10, 10000, &md->raft_heartbeat_ms},
      {"raft.max_inflight_entries", 0, 256, 1, 65536, &md->max_inflight},
      {"raft.handshake_timeout", 1, 3000, 100, 60000, &md->raft_handshake_ms},
      {"raft.max_pending", 0, 16, 1, 1024, &md->raft_max_pending},
      {"chunkservers.heartbeat_interval", 1, 10000, 10, 3600000, &md->heartbeat_ms},
      {"chunkservers.dead_timeout", 1, 30000, 20, 86400000, &md->dead_timeout_ms},
      {"gc.orphan_grace", 1, 3600000, 0, 365LL * 86400000, &md->orphan_grace_ms},
      {"placement.promise_ttl", 1, 15000, 100, 3600000, &md->promise_ttl_ms},
      {"gc.upload_lease", 1, 300000, 100, 7LL * 86400000, &md->upload_lease_ms},
      {"replication.scan_interval", 1, 1000, 10, 3600000, &md->repl_scan_ms},
      {"replication.job_timeout", 1, 60000, 100, 86400000, &md->repl_job_timeout_ms},
      {"replication.max_jobs_per_server", 0, 4, 1, 1024, &md->repl_max_jobs},
      {"rebalance.threshold", 0, 5, 1, 100, &md->rebalance_pct},
      {"rebalance.max_jobs", 0, 4, 0, 1024, &md->rebalance_max_jobs},
      {"trash.retention", 1, 86400000, 0, 3650LL * 86400000, &md->trash_retention_ms},
  };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    int rc = nums[i].is_ms ? dfs_config_ms(c, nums[i].key, nums[i].def, nums[i].out, err, errsz)
                           : dfs_config_int(c, nums[i].key, nums[i].def, nums[i].out, err, errsz);
    if (rc) return DFS_ECONFIG;
    if (*nums[i].out < nums[i].min || *nums[i].out > nums[i].max) {
      snprintf(err, errsz, "%s: %lld is out of range %lld..%lld", nums[i].key,
               (long long)*nums[i].out, (long long)nums[i].min, (long long)nums[i].max);
      return DFS_ECONFIG;
    }
  }
  if (md->raft_heartbeat_ms >= md->election_ms) {
    snprintf(err, errsz, "raft.heartbeat_timeout must be below raft.election_timeout");
    return DFS_ECONFIG;
  }
  if (load_security(md, err, errsz)) return DFS_ECONFIG;
  /* fault.drop_msg / fault.delay_msg etc. (test builds; else an error if any is set) */
  if (dfs_fault_configure(c, err, errsz)) return DFS_ECONFIG;
  /* raft.peers may also be one comma-separated string: split it into raft.peers.N */
  const char *peers = dfs_config_str(c, "raft.peers", NULL);
  if (peers && *peers) {
    char *copy = strdup(peers), *save = NULL;
    int i = 0;
    if (!copy) return DFS_ENOMEM;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
      char key[64];
      snprintf(key, sizeof key, "raft.peers.%d", i++);
      dfs_config_set(c, key, t);
    }
    free(copy);
  }
  return 0;
}

/* ---- shutdown ---- */

static void close_leftover(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_is_closing(h)) return;
  if (h->type == UV_TCP && h->data) dfs_conn_close(h->data); /* accepted connections */
  else uv_close(h, NULL);
}

static void on_raft_closed(metad *md) {
  /* raft's handles are closing; what remains open are client/chunkserver connections */
  uv_walk(md->loop, close_leftover, NULL);
}

static void on_stop(void *ud, int signum) {
  metad *md = ud;
  (void)signum;
  if (md->shutting_down) return;
  if (md->server) dfs_server_close(md->server);
  md->server = NULL;
  md->shutting_down = 1;
  auth_shutdown(md);
  md_close_soon_flush(md);
  alloc_shutdown(md);
  md_cron_stop(md); /* answers parked requests: "shutting down" */
  rg_close(md, on_raft_closed);
}

int main(int argc, char **argv) {
  metad *md = &g_md;
  char err[512] = "";
  dfs_log_init("metad", DFS_LOG_INFO);
  md->cfg = dfs_config_new();
  if (!md->cfg) return 1;
  int arc = dfs_daemon_args(&spec, argc, argv, md->cfg);
  if (arc < 0 && dfs_daemon_log_init("metad", md->cfg)) arc = 2;
  if (arc >= 0) {
    dfs_config_free(md->cfg);
    return arc;
  }
  if (load_settings(md, err, sizeof err)) return cfg_fail(err);
  if (dfs_mkdir_p(md->data_dir, 0755)) {
    fprintf(stderr, "metad: cannot create data directory %s: %s\n", md->data_dir,
            strerror(errno));
    return 1;
  }
  /* libraft reports an unwritable directory only as "I/O error" */
  if (access(md->data_dir, R_OK | W_OK | X_OK)) {
    fprintf(stderr, "metad: cannot write to data directory %s: %s (give this user access or "
            "pick another --dir)\n", md->data_dir, strerror(errno));
    return 1;
  }

  md->loop = uv_default_loop();
  md->rng = dfs_random_u64() | 1;
  md->fsm = fsm_new(FSM_RESULTS_DEFAULT);
  changes_init(&md->changes);
  if (md->fsm) md->fsm->changes = &md->changes;
  int lrc = md_leader_state_new(md);
  repl_init(&md->repl);
  md->repl.max_jobs_per_server = (uint32_t)md->repl_max_jobs;
  md->repl.job_timeout_ms = (uint64_t)md->repl_job_timeout_ms;
  md->repl.rebalance_threshold = (double)md->rebalance_pct / 100.0;
  md->repl.rebalance_max_jobs = (uint32_t)md->rebalance_max_jobs;
  md->repl.tomb_copy_ms = md->heartbeat_ms * 4 > 2000 ? (uint64_t)md->heartbeat_ms * 4 : 2000;
  if (!md->fsm || lrc) {
    fprintf(stderr, "metad: out of memory\n");
    return 1;
  }
  dfs_conn_opts opts = {0};
  opts.limits.max_payload = DFS_MAX_PAYLOAD;
  opts.limits.max_bulk = 0; /* metad never receives chunk data */
  opts.on_request = md_on_request;
  opts.on_close = md_on_close;
  opts.data = md;
  opts.tls = md->tls_server;
  /* bounds for hostile clients (issue 12): connections per address and in all, a frame
   * must arrive within 60 s once begun, a peer that does not read replies is dropped */
  opts.max_conns = 8192;
  opts.max_conns_per_addr = 2048;
  opts.frame_timeout_ms = 60000;
  /* silent for 5 minutes: closed (authenticated clients and chunkservers are exempt:
   * conn.h; without auth the CLI reconnects and chunkd heartbeats far more often) */
  opts.idle_timeout_ms = 300000;
  opts.max_write_queue = 256u << 20;
  if (*md->auth_address || *md->cluster_secret) {
    /* strangers get small frames and 10 s to present a valid token or cluster secret */
    opts.pre_auth.max_payload = PRE_AUTH_MAX_PAYLOAD;
    opts.pre_auth.max_bulk = 0;
    opts.auth_timeout_ms = PRE_AUTH_TIMEOUT_MS;
  }
  /* safe defaults: off loopback, clients need TLS and authentication, raft the secret */
  char missing[256] = "", raft_host[300];
  dfs_daemon_missing(missing, sizeof missing, !md->tls_server, "TLS (tls.enabled)");
  dfs_daemon_missing(missing, sizeof missing, !*md->auth_address, "authentication (auth.address)");
  dfs_daemon_missing(missing, sizeof missing, !*md->cluster_secret, "a cluster secret (cluster.secret)");
  size_t rlen = strnlen(md->raft_address, sizeof raft_host - 1);
  memcpy(raft_host, md->raft_address, rlen);
  raft_host[rlen] = 0;
  if (strrchr(raft_host, ':')) *strrchr(raft_host, ':') = 0;
  int xrc = dfs_daemon_check_exposure("metad", md->cfg, md->listen_host,
                                      *missing ? missing : NULL);
  if (!xrc)
    xrc = dfs_daemon_check_exposure("metad", md->cfg, raft_host,
                                    *md->cluster_secret ? NULL
                                                        : "a cluster secret (cluster.secret: "
                                                          "it authenticates raft)");
  if (xrc) return xrc;
  if (auth_init(md)) {
    fprintf(stderr, "metad: out of memory\n");
    return 1;
  }
  if (!*md->auth_address)
    LOG_WARN("AUTHENTICATION IS OFF (auth.address is not set): every client request runs as "
             "an anonymous superuser. Set auth.address and cluster.secret for a shared cluster.");
  if (!*md->cluster_secret)
    LOG_WARN("cluster.secret is not set: any process may register as a chunkserver and chunk "
             "capabilities are not issued");
  if (!md->tls_server)
    LOG_WARN("TLS is off (tls.enabled: false): tokens and data travel in the clear");
  /* before the listener: a SIGTERM right after the port opens is a clean stop */
  dfs_daemon_raise_fd_limit();
  dfs_daemon_signals_start(&sigs, md->loop, on_stop, md);
  int rc = dfs_server_listen(md->loop, md->listen_host, md->listen_port, &opts, &md->server);
  if (rc) {
    fprintf(stderr, "metad: cannot listen on %s (in use, or not a local address?)\n",
            md->listen_addr);
    return 1;
  }
  if ((rc = rg_init(md, md_leadership_changed, err, sizeof err))) {
    fprintf(stderr, "metad: %s\n", err);
    return 1;
  }
  md_cron_start(md); /* the daemon's clock: leadership, liveness, gc, replication, ... */
  LOG_INFO("metad %llu listening on %s (raft %s, data %s)", (unsigned long long)md->raft_id,
           md->listen_addr, md->raft_address, md->data_dir);

  uv_run(md->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(md->loop)) LOG_WARN("event loop still had open handles at exit");
  auth_free(md);
  repl_free(&md->repl);
  fsm_free(md->fsm);
  changes_free(&md->changes);
  md_leader_state_free(md);
  dfs_tls_ctx_free(md->tls_server);
  dfs_tls_ctx_free(md->tls_client);
  dfs_tls_ctx_free(md->raft_tls_server);
  dfs_tls_ctx_free(md->raft_tls_client);
  dfs_config_free(md->cfg);
  LOG_INFO("stopped");
  return 0;
}
