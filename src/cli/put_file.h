/* One file's upload for `dfs put` (put.c) and the multi-file put built on it
 * (batch_put.c): the options every file shares, the shared chunk-allocation pool, the
 * destination check and the upload + commit of one open local file. */
#ifndef DFS_CLI_PUT_FILE_H
#define DFS_CLI_PUT_FILE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "client/chunk_alloc.h"
#include "cli/commands.h"
#include "client/meta_client.h"
#include "cli/progress.h"

#define PUT_BATCH 64        /* chunk allocations per AllocReq (one file) */
#define PUT_POOL_BATCH 256  /* ... of a multi-file put's shared pool (metad's most per
                               AllocReq): every worker waits while it is refilled, so
                               fewer refills for 1000 small files (16 -> 4) */
#define PUT_MAX_PARALLEL 64


/* Allocations shared by every file of a multi-file put (small files need one chunk
 * each: one AllocReq serves up to `cap` (<= PUT_POOL_BATCH) of them). */
typedef struct {
  pthread_mutex_t lock;      /* guards below; taken inside a put_job's lock */
  chunk_alloc *a;            /* cap entries (owned; put_pool_release frees it) */
  size_t cap;
  size_t n, pos;
  uint64_t left;             /* chunks of the batch not yet allocated */
} put_pool;

/* Options of one put command (all files of a multi-file put share them). */
typedef struct {
  uint32_t replicas;
  uint32_t mode;         /* --mode, or 0644 */
  int mode_given;
  int no_clobber;
  int quiet;
} put_opts;

/* Frees the allocations left in p (not the lock). */
void put_pool_release(put_pool *p);

/* What is at remote now: --no-clobber refuses before uploading; a directory there
 * refuses; *existing_mode: the bits of the file there (left alone if none). 0, or
 * CLI_FAIL after printing why. mc: used by this thread only. */
int put_remote_existing(meta_client *mc, const char *remote, int no_clobber,
                        uint32_t *existing_mode);

/* Uploads the open local file fd (size bytes) to remote and commits it (update with
 * chunk reuse when existing_mode != UINT32_MAX). parallel chunk workers, or with
 * parallel 1 and cc/buf given (borrowed) the caller's thread does it. shared/spool: a
 * multi-file put's progress bar and allocation pool (borrowed; NULL for one file: own
 * bar and summary line). *sent: bytes actually sent. CLI_OK, or CLI_FAIL after one line
 * naming the file. fd stays open (the caller closes it). */
int put_upload(meta_client *mc, const put_opts *o, const char *local, int fd, uint64_t size,
               const char *remote, uint32_t existing_mode, uint64_t parallel, chunk_conns *cc,
               uint8_t *buf, cli_progress *shared, put_pool *spool, uint64_t *sent);

/* `dfs put - REMOTE` (put.c): uploads fd (standard input) whose size is known only at its
 * end to the resolved path remote; committed once the input ends. CLI_OK or CLI_FAIL
 * after one line. */
int put_stream(meta_client *mc, const put_opts *o, int fd, const char *remote,
               uint32_t existing_mode);

/* Opens local for reading (a regular file); fd (caller closes) and *size, or -1 after
 * printing why (a directory: the hint to use -r). */
int put_open_local(const char *local, uint64_t *size);

/* `put F1 F2 ... DIR` / `put -r LOCAL... [REMOTE]` (batch_put.c): pos[0..npos) as typed.
 * Returns an exit code after printing the summary and one line per failed file. */
int put_batch_run(cli_ctx *ctx, const put_opts *o, int recursive, const char **pos,
                  size_t npos, uint64_t parallel);

#endif
