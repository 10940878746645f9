/* `dfs mount`: the cluster as a file system (FUSE, libfuse3's low-level API), for every
 * program. The pieces, a file per concept:
 *   mount_main.c   options, the FUSE session, daemonizing, the loop (this header)
 *   fs_ops.c       the FUSE callbacks: names, attributes, directories (fs_ops.h)
 *   open_file.c    an open file's bytes: reads, write-back, truncate, commit (open_file.h)
 *   inodes.c       kernel inode numbers <-> dfs paths (inodes.h)
 *   chunk_cache.c  chunk contents in memory (chunk_cache.h)
 *   chunk_io.c     reading and storing one chunk, with retries; the worker threads
 *   change_feed.c  metad's change feed -> kernel cache invalidations (change_feed.h)
 *   meta_pool.c    metad connections shared by the threads (meta_pool.h)
 * docs/mount.md is the user's guide: semantics, cache rules, options. */
#ifndef DFS_MOUNT_MOUNT_H
#define DFS_MOUNT_MOUNT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  double attr_timeout_s;   /* kernel attribute cache (default 1) */
  double entry_timeout_s;  /* kernel name cache (default 1) */
  double negative_timeout_s; /* kernel cache of "no such name" (default 0) */
  uint64_t cache_bytes;    /* chunk cache (default 256 MiB) */
  uint64_t dirty_bytes;    /* write-back bound: unstored written data (default 64 MiB) */
  unsigned readahead_chunks; /* chunks fetched ahead of a sequential reader (default 4) */
  unsigned watch_ms;       /* change feed poll period (default 500; 0 = off) */
  unsigned workers;        /* threads storing chunks (default 4; read-ahead has 2 more) */
  unsigned replicas;       /* goal of new files (default 2, as dfs put) */
  unsigned meta_timeout_ms; /* a silent metad fails a call after this, twice (10 s) */
  int allow_other;         /* other local users may use the mount (metad still checks) */
  int trash;               /* unlink moves into the dfs trash (default: deletes) */
  int foreground;
  const char *log_path;    /* daemon's log (default: none once in the background) */
} mount_options;

void mount_options_default(mount_options *o);
/* Parses one -o list ("attr_timeout=2,cache_mb=512,allow_other"). 0, or DFS_EINVAL
 * with the reason in err. */
int mount_options_parse(mount_options *o, const char *list, char *err, size_t errsz);

/* Mounts the cluster at mountpoint as user (whose session token is token) and serves it
 * until it is unmounted. meta: metad's address list; tls: connections use TLS (the
 * process's TLS context is already set). Without o->foreground it returns in the parent
 * once the mount is ready (the child serves). Returns a process exit code; err (one
 * line) says why on failure. */
int mount_run(const char *mountpoint, const char *meta, int tls, const char *token,
              const char *user, const mount_options *o, char *err, size_t errsz);

#endif
