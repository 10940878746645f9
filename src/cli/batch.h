/* Multi-file transfers (`dfs put F1 F2 DIR/`, `put -r`, `get R1 R2 DIR/`, `get -r`): the
 * list of (source, destination) pairs and directories to create, built before anything
 * moves; the local tree walk for put -r; a small worker pool and what each of its
 * threads owns. No network I/O here: put.c / get.c do the transfers. */
#ifndef DFS_CLI_BATCH_H
#define DFS_CLI_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "client/chunk_client.h"
#include "client/meta_client.h"

typedef struct {
  char *src;       /* owned: local path (put) or remote path (get) */
  char *dst;       /* owned: remote path (put) or local path (get) */
  uint64_t size;   /* bytes, as seen when listed */
  int failed;      /* set by the worker that handled it */
} cli_xfer_item;

typedef struct {
  cli_xfer_item *files;  /* owned, in listing order (sorted within each directory) */
  size_t n_files, cap_files;
  char **dirs;           /* owned: destination directories to create, parents first */
  size_t n_dirs, cap_dirs;
  uint64_t total_bytes;
} cli_xfer_list;

void cli_xfer_init(cli_xfer_list *l);
void cli_xfer_free(cli_xfer_list *l);
/* Copies src and dst into a new item. 0 or DFS_ENOMEM. */
int cli_xfer_add_file(cli_xfer_list *l, const char *src, const char *dst, uint64_t size);
/* Copies dir into the list of directories to create. 0 or DFS_ENOMEM. */
int cli_xfer_add_dir(cli_xfer_list *l, const char *dir);

/* dir + "/" + name into out (no double '/' when dir is "/"). 0 or DFS_ETOOBIG. */
int cli_join(const char *dir, const char *name, char *out, size_t outsz);

/* Adds the local directory tree at local_dir to l: remote_dir itself and each
 * subdirectory (as directories to create), each regular file as an item. Entries are
 * visited in name order; symbolic links and special files are skipped with one warning
 * line each (counted in *skipped). Returns 0, or a negative DFS_E* after printing one
 * error line for `cmd` (an unreadable directory, a path too long, out of memory). */
int cli_walk_local(cli_xfer_list *l, const char *cmd, const char *local_dir,
                   const char *remote_dir, size_t *skipped);

/* Runs fn(arg) on n threads (n >= 1; the calling thread is one of them) and waits for
 * all. Returns how many threads could be started (>= 1). */
size_t cli_run_pool(size_t n, void *(*fn)(void *), void *arg);

/* What one thread of a multi-file transfer owns: a metad connection of its own (proto's
 * settings, not its socket), its chunkserver connections and a chunk buffer (NULL if
 * out of memory: the worker reports it per file). */
typedef struct {
  meta_client mc;
  chunk_conns cc;
  uint8_t *buf;
} cli_xfer_worker;
void cli_xfer_worker_init(cli_xfer_worker *w, const meta_client *proto);
void cli_xfer_worker_free(cli_xfer_worker *w); /* closes both, frees the buffer */

#endif
