/* What metad, chunkd and authd share around their main(): the command line (--config
 * FILE, --set key=value, --log-level LEVEL, -h/--help, --version and a per-daemon table
 * of shortcut flags, each equal to one --set) turned into a dfs_config, log.level applied, and
 * SIGTERM/SIGINT watched on the loop (SIGPIPE ignored). Exit codes: 0 after --help,
 * 2 after one line on stderr for any bad usage or configuration (docs/internals.md
 * "Command lines"). Loop thread only. */
#ifndef DFS_DAEMON_H
#define DFS_DAEMON_H

#include <stddef.h>
#include <uv.h>

#include "common/config.h"

typedef struct {
  const char *flag; /* "--listen" */
  const char *key;  /* "listen" */
} dfs_daemon_shortcut;

typedef struct {
  const char *name;  /* "metad": the prefix of every message */
  const char *usage; /* printed by --help (static) */
  const dfs_daemon_shortcut *shortcuts;
  size_t n_shortcuts;
} dfs_daemon_spec;

/* Parses argv into cfg (borrowed): every --config FILE is loaded first, in order, then
 * every --set, --log-level (= log.level) and shortcut is applied in command-line order,
 * so the command line wins over the file. Every flag takes exactly one value.
 * Returns -1 to go on, 0 after printing the usage for -h/--help (the version for
 * --version), or 2 after one line "<name>: ..." on stderr (unknown flag, missing value,
 * --set without '=', a config file that cannot be read or parsed, out of memory). */
int dfs_daemon_args(const dfs_daemon_spec *spec, int argc, char *const *argv,
                    dfs_config *cfg);

/* Initialises logging as `name` at cfg's log.level (default info). 0, or 2 after one
 * line on stderr for an unknown level. */
int dfs_daemon_log_init(const char *name, const dfs_config *cfg);

/* Safe defaults (issue 12): a daemon reachable from other machines must have TLS and
 * authentication. host: an address it listens on (for metad also its raft address);
 * missing: NULL if everything it needs is on, else a phrase naming what is off (e.g.
 * "TLS (tls.enabled) and a cluster secret (cluster.secret)"). A loopback host
 * (127.0.0.0/8, localhost, ::1) needs nothing. Otherwise: with cfg's `insecure: true`
 * (--set insecure=true) one loud WARN line and 0; without it 2 after one line on
 * stderr saying what to turn on. */
int dfs_daemon_check_exposure(const char *name, const dfs_config *cfg, const char *host,
                              const char *missing);
/* Appends what (", " between items) to buf (bufsz bytes) if off is true: builds the
 * `missing` phrase above. */
void dfs_daemon_missing(char *buf, size_t bufsz, int off, const char *what);
/* 1 if host is a loopback address or name. */
int dfs_host_is_loopback(const char *host);

/* Raises the open-file soft limit to the hard limit (a daemon holds a descriptor per
 * connection, up to 8192, and chunkd one per volume file; 1024 is a common soft limit).
 * Logs the limit it ends with. Call once at start-up. */
void dfs_daemon_raise_fd_limit(void);

/* Called once, on the loop thread, for the first SIGTERM or SIGINT. */
typedef void (*dfs_daemon_stop_cb)(void *ud, int signum);

typedef struct {
  uv_signal_t term, intr;
  dfs_daemon_stop_cb cb;
  void *ud;
  int started, closed;
} dfs_daemon_signals;

/* Ignores SIGPIPE and starts watching SIGTERM and SIGINT on loop (s is the caller's and
 * must outlive the loop run). The first of them logs "shutting down", closes both
 * watchers (a second signal then gets the default action) and calls cb(ud, signum). */
void dfs_daemon_signals_start(dfs_daemon_signals *s, uv_loop_t *loop, dfs_daemon_stop_cb cb,
                              void *ud);
/* Closes both watchers without calling cb (start-up failure); idempotent, and a no-op
 * if never started. */
void dfs_daemon_signals_close(dfs_daemon_signals *s);

#endif
