/* Options, the FUSE session and its loop (mount.h). */
#include "mount/mount.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "mount/change_feed.h"
#include "mount/chunk_io.h"
#include "mount/fs_ops.h"
#include "mount/meta_pool.h"
#include "mount/mount_ctx.h"
#include "mount/open_file.h"

void mount_options_default(mount_options *o) {
  memset(o, 0, sizeof *o);
  o->attr_timeout_s = 1.0;
  o->entry_timeout_s = 1.0;
  o->negative_timeout_s = 0.0;
  o->cache_bytes = 256ull << 20;
  o->dirty_bytes = 64ull << 20;
  o->readahead_chunks = 4;
  o->watch_ms = 500;
  o->workers = 4;
  o->replicas = 2;
  o->meta_timeout_ms = MOUNT_META_TIMEOUT_MS;
}

static int parse_num(const char *v, double min, double max, double *out) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !(d >= min && d <= max)) return -1; /* NaN too */
  *out = d;
  return 0;
}

int mount_options_parse(mount_options *o, const char *list, char *err, size_t errsz) {
  char buf[1024];
  if (strlen(list) >= sizeof buf) {
    snprintf(err, errsz, "-o list too long");
    return DFS_EINVAL;
  }
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *opt = strtok_r(buf, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(opt, '=');
    const char *val = eq ? eq + 1 : NULL;
    if (eq) *eq = '\0';
    double d = 0;
    struct {
      const char *name;
      double min, max;
    } nums[] = {{"attr_timeout", 0, 3600},   {"entry_timeout", 0, 3600},
                {"negative_timeout", 0, 3600}, {"cache_mb", 0, 1 << 20},
                {"writeback_mb", 4, 1 << 16}, {"readahead", 0, 64},
                {"watch_ms", 0, 600000},      {"workers", 1, 64},
                {"replicas", 1, 16},          {"timeout", 1, 300}};
    size_t k;
    for (k = 0; k < sizeof nums / sizeof nums[0]; k++)
      if (strcmp(opt, nums[k].name) == 0) break;
    if (k < sizeof nums / sizeof nums[0]) {
      if (!val || parse_num(val, nums[k].min, nums[k].max, &d)) {
        snprintf(err, errsz, "-o %s needs a number from %g to %g", opt, nums[k].min, nums[k].max);
        return DFS_EINVAL;
      }
      switch (k) {
        case 0: o->attr_timeout_s = d; break;
        case 1: o->entry_timeout_s = d; break;
        case 2: o->negative_timeout_s = d; break;
        case 3: o->cache_bytes = (uint64_t)d << 20; break;
        case 4: o->dirty_bytes = (uint64_t)d << 20; break;
        case 5: o->readahead_chunks = (unsigned)d; break;
        case 6: o->watch_ms = (unsigned)d; break;
        case 7: o->workers = (unsigned)d; break;
        case 8: o->replicas = (unsigned)d; break;
        default: o->meta_timeout_ms = (unsigned)(d * 1000); break;
      }
    } else if (strcmp(opt, "allow_other") == 0 && !val) {
      o->allow_other = 1;
    } else if (strcmp(opt, "trash") == 0 && !val) {
      o->trash = 1;
    } else {
      snprintf(err, errsz, "unknown mount option '%s' (see `dfs help mount`)", opt);
      return DFS_EINVAL;
    }
  }
  return 0;
}


int mount_run(const char *mountpoint, const char *meta, int tls, const char *token,
              const char *user, const mount_options *o, char *err, size_t errsz) {
  mount_ctx *m = calloc(1, sizeof *m);
  if (!m) {
    snprintf(err, errsz, "out of memory");
    return 1;
  }
  m->opt = *o;
  snprintf(m->user, sizeof m->user, "%s", user);
  m->uid = getuid();
  m->gid = getgid();
  int rc = 1;
  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  char fsopts[256];
  snprintf(fsopts, sizeof fsopts, "fsname=dfs,subtype=dfs%s", o->allow_other ? ",allow_other" : "");
  if (fuse_opt_add_arg(&args, "dfs") || fuse_opt_add_arg(&args, "-o") ||
      fuse_opt_add_arg(&args, fsopts)) {
    snprintf(err, errsz, "out of memory");
    goto free_ctx;
  }
  if (meta_pool_init(&m->meta, 4, meta, tls, token, o->meta_timeout_ms) || inodes_init(&m->nodes) ||
      chunk_cache_init(&m->cache, o->cache_bytes)) {
    snprintf(err, errsz, "cannot set up the mount (bad metad address or out of memory)");
    goto free_args;
  }
  /* is the cluster there, and may we use it? (before the mount exists) */
  {
    Dfs__StatReq req = DFS__STAT_REQ__INIT;
    req.path = "/";
    ProtobufCMessage *rm = NULL;
    char why[512];
    int r = meta_pool_call(&m->meta, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &req.base,
                           &dfs__stat_rep__descriptor, &rm, why, sizeof why);
    if (rm) protobuf_c_message_free_unpacked(rm, NULL);
    if (r == DFS_EAUTH && !*token) {
      snprintf(err, errsz, "the cluster needs a login: run 'dfs login USER' first (the "
               "mount acts as that user)");
      goto free_state;
    }
    if (r) {
      snprintf(err, errsz, "%s", why);
      goto free_state;
    }
  }
  m->se = fuse_session_new(&args, &mount_fs_ops, sizeof mount_fs_ops, m);
  if (!m->se) {
    snprintf(err, errsz, "cannot start a FUSE session (is the fuse3 package installed?)");
    goto free_state;
  }
  if (fuse_session_mount(m->se, mountpoint) != 0) {
    snprintf(err, errsz, "cannot mount on %s (does it exist, is it an empty directory you "
             "own, is /dev/fuse there?)", mountpoint);
    goto destroy_session;
  }
  FILE *log = NULL;
  if (o->log_path && !(log = fopen(o->log_path, "a"))) {
    snprintf(err, errsz, "cannot open the log %s: %s", o->log_path, strerror(errno));
    goto unmount;
  }
  if (!o->foreground) {
    if (fuse_daemonize(0) != 0) {
      snprintf(err, errsz, "cannot go into the background");
      goto unmount;
    }
    if (log) dup2(fileno(log), STDERR_FILENO); /* what else reaches stderr (a sanitizer) */
  } else if (!log) {
    log = stderr;
  }
  mount_set_log(log);
  /* threads only now: fuse_daemonize forks */
  if (fuse_set_signal_handlers(m->se) != 0 || chunk_io_start_workers(m) != 0) {
    snprintf(err, errsz, "cannot start the mount's threads");
    goto unmount;
  }
  change_feed feed;
  change_feed_start(&feed, m);
  mount_log("mounted %s as %s (metad %s)", mountpoint, user, meta);
  struct fuse_loop_config *cfg = fuse_loop_cfg_create();
  if (cfg) fuse_loop_cfg_set_max_threads(cfg, 16);
  int lr = cfg ? fuse_session_loop_mt(m->se, cfg) : fuse_session_loop(m->se);
  if (cfg) fuse_loop_cfg_destroy(cfg);
  mount_log("unmounted %s (%d); chunks stored %llu, allocations fetched %llu, used %llu; "
            "chunk cache hits %llu, misses %llu", mountpoint, lr,
            (unsigned long long)m->stored, (unsigned long long)m->allocs_fetched,
            (unsigned long long)m->allocs_used, (unsigned long long)m->cache.hits,
            (unsigned long long)m->cache.misses);
  change_feed_stop(&feed);
  chunk_io_stop_workers(m);
  open_file_discard_all(m);
  fuse_remove_signal_handlers(m->se);
  rc = 0;
unmount:
  fuse_session_unmount(m->se);
destroy_session:
  fuse_session_destroy(m->se);
free_state:
  chunk_cache_free(&m->cache);
  inodes_free(&m->nodes);
  meta_pool_close(&m->meta);
free_args:
  fuse_opt_free_args(&args);
free_ctx:
  free(m);
  return rc;
}
