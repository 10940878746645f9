/* chunkd: command line and configuration, start-up (open and scan the data directory on
 * the thread pool, then serve clients and talk to metad) and clean shutdown on
 * SIGTERM/SIGINT. Exit codes: 0 clean shutdown, 1 run-time failure (data directory,
 * listen address), 2 bad usage or configuration. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "chunkd/chunk_store.h"
#include "chunkd/chunkd_state.h"
#include "chunkd/copy_jobs.h"
#include "chunkd/data_server.h"
#include "chunkd/meta_link.h"
#include "chunkd/pack_sync.h"
#include "chunkd/scrubber.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/errors.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/util.h"

#define HOST_SZ 256

typedef struct {
  char listen_host[HOST_SZ];
  int listen_port;
  char adv_host[HOST_SZ];
  int adv_port;
  meta_addrs meta;
  const char *dir;
  uint64_t capacity;
  int threads;
  uint64_t scrub_rate; /* bytes/s, 0 = off */
  uint64_t scrub_interval_ms;
  int64_t reserve; /* data.reserve, -1 = default */
  uint64_t max_io_errors;
  uint64_t quarantine_max; /* data.quarantine_max: bytes corrupt/ may hold */
  uint32_t pack_max;       /* data.pack_max: chunks this small go into volume files */
  uint64_t copy_max;
  uint64_t copy_rate; /* bytes/s, 0 = unlimited */
} chunkd_opts;

typedef struct {
  chunkd_opts o;
  chunkd_state st;
  data_server *ds;
  meta_link *ml;
  scrubber *scrub;
  copy_jobs *copies;
#ifdef DFS_FAULT_HOOKS
  uv_timer_t fault_timer; /* polls <data dir>/fault once a second */
  char fault_path[4096];
#endif
  dfs_daemon_signals sigs;
  uv_work_t open_work;
  int open_rc;
  char open_err[512];
  int exit_code;
  int shutting_down;
} chunkd_main;

static const char usage[] =
    "usage: chunkd [--config FILE] [--set key=value]... [--log-level LEVEL]\n"
    "              [--listen HOST:PORT] [--dir DIR] [--meta HOST:PORT] [--capacity BYTES]\n"
    "Serves chunk reads and writes and reports to metad. See config/chunkd.yaml for\n"
    "every key; --listen/--dir/--meta/--capacity set listen, data.dir, meta.address and\n"
    "data.capacity. LEVEL: debug, info, warn, error.\n";

static const dfs_daemon_shortcut shortcuts[] = {
    {"--listen", "listen"},
    {"--dir", "data.dir"},
    {"--meta", "meta.address"},
    {"--capacity", "data.capacity"},
};
static const dfs_daemon_spec spec = {"chunkd", usage, shortcuts,
                                     sizeof shortcuts / sizeof shortcuts[0]};

static int config_error(const char *msg) {
  fprintf(stderr, "chunkd: config error: %s\n", msg);
  return 2;
}

/* TLS on every link when tls.ca is set: our listener presents tls.cert/tls.key, and the
 * same certificate is our client certificate towards metad and downstream chunkds. */
static int load_tls(const dfs_config *cfg, chunkd_state *st) {
  char err[512];
  int req_cert, verify_host;
  dfs_tls_config tc = {
      .ca_file = dfs_config_str(cfg, "tls.ca", NULL),
      .cert_file = dfs_config_str(cfg, "tls.cert", NULL),
      .key_file = dfs_config_str(cfg, "tls.key", NULL),
  };
  if (dfs_config_bool(cfg, "tls.require_client_cert", 0, &req_cert, err, sizeof err) ||
      dfs_config_bool(cfg, "tls.verify_hostname", 1, &verify_host, err, sizeof err))
    return config_error(err);
  if (!tc.ca_file || !tc.ca_file[0]) {
    if (tc.cert_file || tc.key_file) return config_error("tls.cert/tls.key need tls.ca");
    return 0;
  }
  tc.require_client_cert = req_cert;
  tc.verify_hostname = verify_host;
  if (dfs_tls_ctx_new(&tc, 1, &st->tls_server, err, sizeof err) ||
      dfs_tls_ctx_new(&tc, 0, &st->tls_client, err, sizeof err))
    return config_error(err);
  return 0;
}

/* Reads and checks every key. 0, or exit code 2 after one line on stderr. */
static int load_opts(const dfs_config *cfg, chunkd_state *st, chunkd_opts *o) {
  char err[512];
  int64_t v;
  if (dfs_daemon_log_init("chunkd", cfg)) return 2;

  const char *listen = dfs_config_str(cfg, "listen", "127.0.0.1:9411");
  if (dfs_parse_hostport(listen, o->listen_host, sizeof o->listen_host, &o->listen_port)) {
    snprintf(err, sizeof err, "listen '%s' is not HOST:PORT", listen);
    return config_error(err);
  }
  const char *adv = dfs_config_str(cfg, "advertise", listen);
  if (dfs_parse_hostport(adv, o->adv_host, sizeof o->adv_host, &o->adv_port)) {
    snprintf(err, sizeof err, "advertise '%s' is not HOST:PORT", adv);
    return config_error(err);
  }
  if (strcmp(o->adv_host, "0.0.0.0") == 0)
    return config_error("advertise must be an address clients can reach (not 0.0.0.0)");
  /* meta.address: "HOST:PORT", "HOST:PORT,HOST:PORT" or a YAML list of them */
  const char *meta = dfs_config_str(cfg, "meta.address", NULL);
  if (!meta && !dfs_config_str(cfg, "meta.address.0", NULL)) meta = "127.0.0.1:9400";
  for (int i = 0; meta || i < META_MAX_ADDRS; i++) {
    char key[32];
    snprintf(key, sizeof key, "meta.address.%d", i);
    const char *one = meta ? meta : dfs_config_str(cfg, key, NULL);
    if (!one) break;
    if (meta_addrs_add(&o->meta, one)) {
      snprintf(err, sizeof err, "meta.address '%s' is not HOST:PORT[,HOST:PORT...] (at most %d)",
               one, META_MAX_ADDRS);
      return config_error(err);
    }
    if (meta) break;
  }
  o->dir = dfs_config_str(cfg, "data.dir", "./chunkd-data");
  if (!o->dir[0]) return config_error("data.dir is empty");
  if (dfs_config_int(cfg, "data.capacity", 0, &v, err, sizeof err)) return config_error(err);
  if (v < 0) return config_error("data.capacity must be >= 0");
  o->capacity = (uint64_t)v;
  if (dfs_config_int(cfg, "threads", 8, &v, err, sizeof err)) return config_error(err);
  if (v < 1 || v > 1024) return config_error("threads must be in 1..1024");
  o->threads = (int)v;
  if (dfs_config_ms(cfg, "chain.timeout", 30000, &v, err, sizeof err)) return config_error(err);
  if (v < 1) return config_error("chain.timeout must be > 0");
  st->chain_timeout_ms = (uint64_t)v;
  if (dfs_config_ms(cfg, "connections.idle_timeout", 300000, &v, err, sizeof err))
    return config_error(err);
  if (v < 100) return config_error("connections.idle_timeout must be at least 100ms");
  st->idle_timeout_ms = (uint64_t)v;
  if (dfs_config_int(cfg, "max_inflight", 256, &v, err, sizeof err)) return config_error(err);
  if (v < 1 || v > 65536) return config_error("max_inflight must be in 1..65536");
  st->max_inflight = (uint32_t)v;
  /* scrub.bytes_per_s (scrub.rate is its older name) */
  const char *scrub_key = dfs_config_str(cfg, "scrub.bytes_per_s", NULL) ? "scrub.bytes_per_s"
                                                                          : "scrub.rate";
  if (dfs_config_int(cfg, scrub_key, 8 << 20, &v, err, sizeof err)) return config_error(err);
  if (v < 0) return config_error("scrub.bytes_per_s must be >= 0 (0 = no scrubbing)");
  o->scrub_rate = (uint64_t)v;
  if (dfs_config_ms(cfg, "scrub.interval", 3600 * 1000, &v, err, sizeof err))
    return config_error(err);
  if (v < 0) return config_error("scrub.interval must be >= 0");
  o->scrub_interval_ms = (uint64_t)v;
  if (dfs_config_int(cfg, "data.reserve", -1, &v, err, sizeof err)) return config_error(err);
  if (v < -1) return config_error("data.reserve must be >= 0 bytes (or -1 for the default)");
  o->reserve = v;
  if (dfs_config_int(cfg, "data.max_io_errors", 5, &v, err, sizeof err)) return config_error(err);
  if (v < 0) return config_error("data.max_io_errors must be >= 0 (0 = never failing)");
  o->max_io_errors = (uint64_t)v;
  if (dfs_config_int(cfg, "data.quarantine_max", 1LL << 30, &v, err, sizeof err))
    return config_error(err);
  if (v < 0) return config_error("data.quarantine_max must be >= 0 bytes (0 = keep none)");
  o->quarantine_max = (uint64_t)v;
  if (dfs_config_int(cfg, "data.pack_max", 64 << 10, &v, err, sizeof err)) return config_error(err);
  if (v < 0 || v > 64 << 10)
    return config_error("data.pack_max must be 0 (no packing) to 64K bytes (one CRC block)");
  o->pack_max = (uint32_t)v;
  if (dfs_config_int(cfg, "copy.max_concurrent", 2, &v, err, sizeof err)) return config_error(err);
  if (v < 1 || v > 1024) return config_error("copy.max_concurrent must be in 1..1024");
  o->copy_max = (uint64_t)v;
  if (dfs_config_int(cfg, "copy.max_bytes_per_s", 64 << 20, &v, err, sizeof err))
    return config_error(err);
  if (v < 0) return config_error("copy.max_bytes_per_s must be >= 0 (0 = unlimited)");
  o->copy_rate = (uint64_t)v;
  if (dfs_fault_configure(cfg, err, sizeof err)) return config_error(err);
  /* cluster.secret (or $DFS_CLUSTER_SECRET): shared with metad; when set, every read and
   * write must carry a capability signed with it. */
  const char *secret = getenv("DFS_CLUSTER_SECRET");
  if (!secret || !secret[0]) secret = dfs_config_str(cfg, "cluster.secret", NULL);
  if (secret && secret[0]) {
    st->cluster_secret = secret;
    if (dfs_cap_key(secret, st->cap_key)) return config_error("out of memory");
  }
  return load_tls(cfg, st);
}

/* ---- shutdown ------------------------------------------------------------------- */

static void on_drained(void *ud) {
  chunkd_main *m = ud;
  LOG_INFO("no request in progress; exiting");
  uv_stop(m->st.loop);
}

static void on_stop(void *ud, int signum) {
  chunkd_main *m = ud;
  (void)signum;
  if (m->shutting_down) return;
  m->shutting_down = 1;
  if (m->ml) meta_link_stop(m->ml);
  if (m->scrub) scrubber_stop(m->scrub);
  if (m->copies) copy_jobs_stop(m->copies);
#ifdef DFS_FAULT_HOOKS
  if (m->fault_path[0]) uv_close((uv_handle_t *)&m->fault_timer, NULL);
#endif
  if (m->ds) data_server_stop(m->ds, on_drained, m);
  /* else: the open work is still running; the loop ends when it does */
}

/* ---- start-up ------------------------------------------------------------------- */

static void open_run(uv_work_t *w) {
  chunkd_main *m = w->data;
  m->open_rc =
      chunk_store_open(m->o.dir, m->o.capacity, &m->st.store, m->open_err, sizeof m->open_err);
  if (!m->open_rc) {
    chunk_store_set_limits(m->st.store, m->o.reserve, m->o.max_io_errors);
    chunk_store_set_quarantine_max(m->st.store, m->o.quarantine_max);
    chunk_store_set_pack_max(m->st.store, m->o.pack_max);
  }
}

#ifdef DFS_FAULT_HOOKS
/* Test builds: <data dir>/fault holds fault.* settings to apply at run time. */
static void on_fault_poll(uv_timer_t *t) {
  chunkd_main *m = t->data;
  char err[512];
  int rc = dfs_fault_load_file(m->fault_path, err, sizeof err);
  if (rc < 0)
    LOG_WARN("fault file: %s", err);
  else if (rc > 0)
    LOG_INFO("fault hooks reloaded from %s", m->fault_path);
}
#endif

static void open_done(uv_work_t *w, int status) {
  chunkd_main *m = w->data;
  if (status < 0 && !m->open_rc) m->open_rc = DFS_EINTERNAL;
  if (m->open_rc) {
    LOG_ERROR("cannot open data directory: %s",
              m->open_err[0] ? m->open_err : dfs_strerror(m->open_rc));
    goto fail;
  }
  if (m->shutting_down) return; /* a signal came during the scan */
  int rc = pack_syncer_start(&m->st, &m->st.pack_sync);
  if (rc) {
    LOG_ERROR("cannot start the volume flush thread: %s", dfs_strerror(rc));
    goto fail;
  }
  rc = data_server_start(&m->st, m->o.listen_host, m->o.listen_port, &m->ds);
  if (rc) { /* conn.c has logged the system's reason for EEXIST/EIO */
    if (rc != DFS_EEXIST && rc != DFS_EIO)
      LOG_ERROR("cannot listen on %s:%d: %s", m->o.listen_host, m->o.listen_port,
                dfs_strerror(rc));
    goto fail;
  }
  rc = meta_link_start(&m->st, &m->o.meta, m->o.adv_host, m->o.adv_port, &m->ml);
  if (rc) {
    LOG_ERROR("cannot start the metad link: %s", dfs_strerror(rc));
    goto fail;
  }
  m->st.corrupt_found = meta_link_kick;
  m->st.corrupt_ud = m->ml;
  m->st.chunk_stored = meta_link_chunk_stored;
  if ((rc = copy_jobs_start(&m->st, (unsigned)m->o.copy_max, m->o.copy_rate, meta_link_kick, m->ml,
                            &m->copies))) {
    LOG_ERROR("cannot start the copy-job executor: %s", dfs_strerror(rc));
    goto fail;
  }
  m->st.copies = m->copies;
#ifdef DFS_FAULT_HOOKS
  snprintf(m->fault_path, sizeof m->fault_path, "%s/fault", m->o.dir);
  uv_timer_init(m->st.loop, &m->fault_timer);
  m->fault_timer.data = m;
  uv_timer_start(&m->fault_timer, on_fault_poll, 0, 1000);
  LOG_INFO("fault hooks compiled in: write fault.* lines to %s to inject faults", m->fault_path);
#endif
  /* always: with scrub.bytes_per_s 0 it only compacts volume files */
  if ((rc = scrubber_start(&m->st, m->o.scrub_rate, m->o.scrub_interval_ms, &m->scrub))) {
    LOG_ERROR("cannot start the scrubber: %s", dfs_strerror(rc));
    goto fail;
  }
  if (!m->st.cluster_secret)
    LOG_WARN("no cluster.secret: chunk capabilities are not checked (anyone may read/write)");
  LOG_INFO("serving on %s:%d%s (advertised %s:%d), data in %s, metad %s:%d, %d I/O threads",
           m->o.listen_host, m->o.listen_port, m->st.tls_server ? " with TLS" : "", m->o.adv_host,
           m->o.adv_port, m->o.dir, m->o.meta.host[0], m->o.meta.port[0], m->o.threads);
  LOG_INFO("reserve %" PRIu64 " bytes, disk failing after %" PRIu64 " I/O errors, %" PRIu64
           " concurrent copies at %" PRIu64 " bytes/s (0 = unlimited)",
           chunk_store_reserve(m->st.store), m->o.max_io_errors, m->o.copy_max, m->o.copy_rate);
  return;
fail:
  m->exit_code = 1;
  m->shutting_down = 1;
  dfs_daemon_signals_close(&m->sigs); /* no-op if a signal already closed them */
  if (m->ml) meta_link_stop(m->ml);
  if (m->copies) copy_jobs_stop(m->copies);
  if (m->ds) data_server_stop(m->ds, on_drained, m);
}

int main(int argc, char **argv) {
  static chunkd_main m;
  dfs_log_init("chunkd", DFS_LOG_INFO);
  dfs_config *cfg = dfs_config_new();
  if (!cfg) return config_error("out of memory");
  int rc = dfs_daemon_args(&spec, argc, argv, cfg); /* -1: go on */
  if (rc < 0 && load_opts(cfg, &m.st, &m.o)) rc = 2;
  if (rc < 0) { /* safe defaults: off loopback, TLS and capabilities (the secret) */
    char missing[200] = "";
    dfs_daemon_missing(missing, sizeof missing, !m.st.tls_server, "TLS (tls.ca, tls.cert, tls.key)");
    dfs_daemon_missing(missing, sizeof missing, !m.st.cluster_secret,
                       "a cluster secret (cluster.secret: capabilities)");
    int xrc = dfs_daemon_check_exposure("chunkd", cfg, m.o.listen_host, *missing ? missing : NULL);
    if (xrc) rc = xrc;
  }
  if (rc >= 0) {
    if (m.st.tls_server) dfs_tls_ctx_free(m.st.tls_server);
    dfs_config_free(cfg);
    return rc;
  }
  /* The thread pool reads this when the first work item is queued. */
  char nthreads[16];
  snprintf(nthreads, sizeof nthreads, "%d", m.o.threads);
  setenv("UV_THREADPOOL_SIZE", nthreads, 1);

  uv_loop_t *loop = uv_default_loop();
  m.st.loop = loop;
  dfs_daemon_raise_fd_limit();
  dfs_daemon_signals_start(&m.sigs, loop, on_stop, &m);
  m.open_work.data = &m;
  uv_queue_work(loop, &m.open_work, open_run, open_done);

  uv_run(loop, UV_RUN_DEFAULT);
  /* Stopped with thread-pool items still running (meta link, scrubber): let them finish
   * before the store goes away. New requests meanwhile get DFS_EUNAVAIL. */
  while (m.st.work_inflight) uv_run(loop, UV_RUN_ONCE);
  pack_syncer_stop(m.st.pack_sync); /* no writes come any more: flush, close its handle */
  uv_run(loop, UV_RUN_NOWAIT);
  pack_syncer_free(m.st.pack_sync);

  /* Stopped: either drained after a signal or a start-up failure. Open client
   * connections are left to the process exit. */
  if (m.scrub) scrubber_free(m.scrub);
  if (m.copies) copy_jobs_free(m.copies);
  if (m.ml) meta_link_free(m.ml);
  if (m.ds) data_server_free(m.ds);
  chunk_store_close(m.st.store);
  if (m.st.tls_server) dfs_tls_ctx_free(m.st.tls_server);
  if (m.st.tls_client) dfs_tls_ctx_free(m.st.tls_client);
  dfs_config_free(cfg);
  LOG_INFO("exit %d", m.exit_code);
  return m.exit_code;
}
