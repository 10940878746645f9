/* The state of one mounted file system, shared by every file of src/mount: created by
 * mount_run (mount_main.c), which owns it; handed to the FUSE callbacks as userdata. */
#ifndef DFS_MOUNT_MOUNT_CTX_H
#define DFS_MOUNT_MOUNT_CTX_H

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "client_meta.pb-c.h"
#include "mount/chunk_cache.h"
#include "mount/inodes.h"
#include "mount/meta_pool.h"
#include "mount/mount.h"

struct fuse_session;
typedef struct chunk_job chunk_job;

/* A queue of background jobs and the threads that run them (chunk_io.c). */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cv;
  chunk_job *head, *tail;
  pthread_t *threads;
  unsigned n;
  int stopping;
  struct mount_ctx_s *m;
} job_queue;

typedef struct mount_ctx_s {
  mount_options opt;
  char user[256];          /* the dfs user the mount acts as */
  uid_t uid;               /* local owner shown for that user's files */
  gid_t gid;
  struct fuse_session *se;
  meta_pool meta;
  inodes nodes;
  chunk_cache cache;
  /* written data not yet stored on chunkservers, all files (bounded by opt.dirty_bytes) */
  uint64_t dirty_now;
  /* the worker threads (chunk_io.c): stores, and read-ahead apart (a reader waits for a
   * read-ahead of its chunk while holding its file's lock, which finished stores wait for:
   * one queue for both could deadlock) */
  job_queue stores, prefetches;
  /* allocations fetched ahead (chunk_io.c), for the mount's own upload id */
  pthread_mutex_t alloc_lock;
  pthread_mutex_t alloc_fetch_lock; /* held while a batch is fetched */
  struct alloc_pool *allocs;
  uint64_t upload_id;
  uint64_t allocs_fetched, allocs_used, stored; /* counters, logged at unmount */
} mount_ctx;



/* attrs.c: what the kernel is told. */
struct stat;

/* Fills st from metad's entry (owner -> local uid: the mount user's uid for their own
 * files, a local account of the same name, else 65534). */
void mount_entry_stat(mount_ctx *m, const Dfs__Entry *e, uint64_t ino, struct stat *st);
/* The local uid shown for a dfs owner (see mount_entry_stat). */
uid_t mount_owner_uid(mount_ctx *m, const char *owner);
/* The errno for a DFS_E* code (ENOENT, EEXIST, EACCES, ENOSPC, EDQUOT..., else EIO). */
int mount_errno(int dfs_rc);
/* Logs one line to the mount's log (stderr in the foreground, the log file, or nowhere). */
void mount_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Where mount_log writes (NULL: nowhere); set by mount_run before any thread starts. */
void mount_set_log(FILE *f);
#endif
