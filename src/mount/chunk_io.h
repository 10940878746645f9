/* One chunk between the mount and the chunkservers, and the worker threads that do it in
 * the background (storing full chunks while the program goes on writing; read-ahead).
 *   chunk_io_fetch: a chunk's bytes through the cache (one network read per chunk even
 *     when several threads want it), replicas in metad's order until one answers with
 *     the right CRC32C.
 *   chunk_io_store: Alloc a chunk and write it down its replica chain; a failed server is
 *     left out of the next attempt (fresh chain), up to CHUNK_STORE_ATTEMPTS.
 * Each thread keeps its own chunkserver sockets (thread-local). */
#ifndef DFS_MOUNT_CHUNK_IO_H
#define DFS_MOUNT_CHUNK_IO_H

#include <stdint.h>

#include "client/chunk_alloc.h"
#include "client_meta.pb-c.h"
#include "common/cap.h"
#include "mount/mount_ctx.h"

#define CHUNK_STORE_ATTEMPTS 5


/* Bytes [off, off+len) of chunk loc (a GetFile location: id, version, length, crc32c,
 * replicas with their read capabilities) into out. 0, DFS_EPERM when every replica
 * refused the capability (expired: ask metad again), or another DFS_E* (err says). */
int chunk_io_fetch(mount_ctx *m, const Dfs__ChunkLocation *loc, uint32_t off, uint32_t len,
                   uint8_t *out, char *err, size_t errsz);
/* Stores data[0..len) as a new chunk of goal `replicas` for upload upload_id. 0 and *out,
 * or a DFS_E* (err says). */
int chunk_io_store(mount_ctx *m, uint32_t replicas, uint64_t upload_id, const uint8_t *data,
                   uint32_t len, written_chunk *out, char *err, size_t errsz);

/* Background stores: run(job) on a store worker; the job is the caller's (it frees it in
 * run or later). Read-ahead has threads of its own (chunk_io_prefetch), which never wait
 * for a file's lock: a reader may wait for a read-ahead while it holds one. */
struct chunk_job {
  void (*run)(mount_ctx *m, chunk_job *job);
  chunk_job *next;
};
int chunk_io_start_workers(mount_ctx *m); /* opt.workers store threads, 2 read-ahead; 0 or DFS_ENOMEM */
void chunk_io_stop_workers(mount_ctx *m); /* runs what is queued, joins the threads */
void chunk_io_submit(mount_ctx *m, chunk_job *job);

/* Read-ahead of loc into the cache on a worker (nothing if cached or being fetched). */
void chunk_io_prefetch(mount_ctx *m, const Dfs__ChunkLocation *loc);

#endif
