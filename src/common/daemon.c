/* Daemon command lines, log level and stop signals (see daemon.h). */
#include "common/daemon.h"

#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

#include "common/log.h"

static const dfs_daemon_shortcut *shortcut_of(const dfs_daemon_spec *sp, const char *flag) {
  for (size_t k = 0; k < sp->n_shortcuts; k++)
    if (strcmp(flag, sp->shortcuts[k].flag) == 0) return &sp->shortcuts[k];
  return NULL;
}

static int is_flag(const dfs_daemon_spec *sp, const char *a) {
  return strcmp(a, "--config") == 0 || strcmp(a, "--set") == 0 ||
         strcmp(a, "--log-level") == 0 || shortcut_of(sp, a) != NULL;
}

int dfs_daemon_args(const dfs_daemon_spec *sp, int argc, char *const *argv,
                    dfs_config *cfg) {
  char err[512];
  /* First the shape: help, unknown flags, missing values (every flag takes one). */
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(sp->usage, stdout);
      return 0;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
      printf("%s (dfs) %s\n", sp->name, DFS_VERSION);
      return 0;
    }
    if (!is_flag(sp, a)) {
      fprintf(stderr, "%s: unknown argument '%s' (see %s --help)\n", sp->name, a, sp->name);
      return 2;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: %s needs a value (see %s --help)\n", sp->name, a, sp->name);
      return 2;
    }
  }
  /* The files are the base... */
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--config") != 0) continue;
    if (dfs_config_load_file(cfg, argv[i + 1], err, sizeof err)) {
      fprintf(stderr, "%s: %s\n", sp->name, err);
      return 2;
    }
  }
  /* ...and the command line wins, in its own order. */
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    const dfs_daemon_shortcut *s = shortcut_of(sp, a);
    int rc = 0;
    if (strcmp(a, "--set") == 0) {
      if (!strchr(v, '=')) {
        fprintf(stderr, "%s: --set '%s': expected key=value\n", sp->name, v);
        return 2;
      }
      rc = dfs_config_set_kv(cfg, v);
    } else if (strcmp(a, "--log-level") == 0) {
      rc = dfs_config_set(cfg, "log.level", v);
    } else if (s) {
      rc = dfs_config_set(cfg, s->key, v);
    }
    if (rc) {
      fprintf(stderr, "%s: out of memory while reading the command line\n", sp->name);
      return 2;
    }
  }
  return -1;
}

int dfs_daemon_log_init(const char *name, const dfs_config *cfg) {
  const char *lvl = dfs_config_str(cfg, "log.level", "info");
  int level = dfs_log_parse_level(lvl);
  if (level < 0) {
    fprintf(stderr, "%s: log.level: unknown level '%s' (debug, info, warn or error)\n", name,
            lvl);
    return 2;
  }
  dfs_log_init(name, (enum dfs_log_level)level);
  return 0;
}

void dfs_daemon_missing(char *buf, size_t bufsz, int off, const char *what) {
  if (!off) return;
  size_t n = strlen(buf);
  snprintf(buf + n, bufsz - n, "%s%s", n ? ", " : "", what);
}

int dfs_host_is_loopback(const char *host) {
  return !strncmp(host, "127.", 4) || !strcmp(host, "localhost") || !strcmp(host, "::1");
}

int dfs_daemon_check_exposure(const char *name, const dfs_config *cfg, const char *host,
                              const char *missing) {
  if (!missing || dfs_host_is_loopback(host)) return 0;
  int insecure = 0;
  char err[256];
  if (dfs_config_bool(cfg, "insecure", 0, &insecure, err, sizeof err)) {
    fprintf(stderr, "%s: %s\n", name, err);
    return 2;
  }
  if (insecure) {
    LOG_WARN("INSECURE: listening on %s without %s, as `insecure: true` allows: anyone who "
             "reaches this address can read or forge what travels here", host, missing);
    return 0;
  }
  fprintf(stderr,
          "%s: refusing to listen on %s (not loopback) without %s: turn it on (see "
          "config/%s.yaml), listen on 127.0.0.1, or start with --set insecure=true to accept the risk\n",
          name, host, missing, name);
  return 2;
}

static void on_signal(uv_signal_t *h, int signum) {
  dfs_daemon_signals *s = h->data;
  if (s->closed) return;
  LOG_INFO("signal %d (%s): shutting down", signum, strsignal(signum));
  dfs_daemon_signals_close(s);
  s->cb(s->ud, signum);
}

void dfs_daemon_raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      LOG_WARN("cannot raise the open-file limit from %llu to %llu: %s", (unsigned long long)was,
               (unsigned long long)rl.rlim_max, strerror(errno));
      return;
    }
  }
  LOG_DEBUG("open-file limit %llu", (unsigned long long)rl.rlim_cur);
}

void dfs_daemon_signals_start(dfs_daemon_signals *s, uv_loop_t *loop, dfs_daemon_stop_cb cb,
                              void *ud) {
  memset(s, 0, sizeof *s);
  s->cb = cb;
  s->ud = ud;
  signal(SIGPIPE, SIG_IGN);
  uv_signal_init(loop, &s->term);
  uv_signal_init(loop, &s->intr);
  s->term.data = s->intr.data = s;
  uv_signal_start(&s->term, on_signal, SIGTERM);
  uv_signal_start(&s->intr, on_signal, SIGINT);
  s->started = 1;
}

void dfs_daemon_signals_close(dfs_daemon_signals *s) {
  if (!s->started || s->closed) return;
  s->closed = 1;
  uv_close((uv_handle_t *)&s->term, NULL);
  uv_close((uv_handle_t *)&s->intr, NULL);
}
