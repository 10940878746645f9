/* The chunk store: the only code in chunkd that touches the disk (with volumes.c, which
 * it owns). Owns the data directory (chunk files, temp files, server.uuid, the lock file,
 * and through volumes.c the volume files of small chunks) and the in-memory index
 * id -> (version, length, crc, mtime, where) built by the start-up scan. A chunk of at
 * most pack_max bytes is a record in a volume file, any other a file of its own; callers
 * see no difference.
 *
 * Threads: every function that does I/O is synchronous and meant to run on a libuv
 * thread-pool work item (or before the loop runs). The index and the "new chunks" list
 * are protected by a mutex inside the store, so any thread may call any function. */
#ifndef DFS_CHUNK_STORE_H
#define DFS_CHUNK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/frame.h"

#define CHUNK_HDR_SIZE DFS_CHUNK_FILE_HDR
#define CHUNK_MAGIC "DFSCHNK1"
#define CHUNK_UUID_LEN 36 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */

typedef struct chunk_store chunk_store;

typedef struct {
  uint64_t id;
  uint64_t version;
  uint32_t length;
  uint32_t crc;    /* CRC32C of the whole chunk */
  int64_t mtime_s; /* wall-clock seconds when the file was written */
} chunk_info;

typedef struct {
  uint64_t capacity_bytes; /* data.capacity, or the file system's size */
  uint64_t free_bytes;     /* min(capacity - used, file system free) */
  uint64_t used_bytes;     /* bytes of chunk files in the index (headers included) */
  uint64_t chunk_count;
  uint64_t reserve_bytes; /* free space kept back (chunk_store_set_limits) */
  uint64_t io_errors;     /* EIO from the disk since start */
  int disk_failing;       /* io_errors reached the limit */
} chunk_store_stats;

/* A replica by exact version (bad-chunk reports, exact deletes). */
typedef struct {
  uint64_t id, version;
} chunk_ref;

/* Space and health policy, set once after open (before I/O starts):
 * reserve: bytes of free space writes must leave (< 0: the default, 1% of the capacity
 * but at least 64 MiB, unless that is more than a tenth of it: then 1%);
 * max_io_errors: after this many EIOs the disk counts as failing (0 = never).
 * Does a statvfs when the capacity is the file system's. */
void chunk_store_set_limits(chunk_store *s, int64_t reserve, uint64_t max_io_errors);
/* The reserve in bytes (no I/O). */
uint64_t chunk_store_reserve(const chunk_store *s);
/* Chunks of at most max_bytes (capped at one 64 KiB block; 0 = none) are packed into
 * volume files (volumes.h) instead of a file each. Set once after open, before I/O. */
void chunk_store_set_pack_max(chunk_store *s, uint32_t max_bytes);
/* One compaction step: the volume with the most dead space, if at least half of it is
 * dead, has its live records copied to the active volume and is deleted. 1 if a volume
 * was compacted, 0 if none was due, or a DFS_E*; *moved_bytes += bytes copied.
 * Thread pool (the scrubber's work item calls it). */
int chunk_store_compact(chunk_store *s, uint64_t *moved_bytes);

/* Opens (creating if missing) data directory `dir`: takes an exclusive lock on
 * dir/lock, creates chunks/00..ff, tmp/ and corrupt/, deletes leftover temp files, loads
 * or creates dir/server.uuid and scans every chunk file into the index (files with a bad
 * header or size are moved to corrupt/, older versions of a chunk deleted, files with
 * other names left alone). capacity: 0 = the file system's size. Returns 0 and *out
 * (free with chunk_store_close), or a DFS_E* code with a one-line reason in err.
 * Does disk I/O: thread pool or before the loop. */
int chunk_store_open(const char *dir, uint64_t capacity, chunk_store **out, char *err,
                     size_t errsz);
/* Releases the lock and frees the store. No I/O may be in flight. */
void chunk_store_close(chunk_store *s);

/* The server uuid (NUL-terminated, valid for the store's life). */
const char *chunk_store_uuid(const chunk_store *s);

/* Stores a chunk durably: temp file in tmp/, write header+data, fdatasync, rename to
 * chunks/XX/<id>.<version>, fsync the directory (a chunk of at most pack_max bytes: one
 * record appended to the active volume and a shared fdatasync instead); then adds it to
 * the index and to the "new chunks" list. Returns only when data and name are on disk. data (length bytes)
 * and block_crcs (ceil(length/64 KiB) entries) must already be verified by the caller;
 * they are only read. Same id+version already
 * stored with the same crc: 0 (nothing written). Same id+version with another crc:
 * DFS_EEXIST; DFS_EBUSY while a delete of it is pending (chunk_store_delete_ordered).
 * An older version than one already stored: DFS_ESTALE. A newer version
 * replaces the older file. DFS_ENOSPACE if it would leave less than the reserve free
 * (data.capacity or the file system) or the file system is full (no temp file is left);
 * DFS_EIO is counted towards a failing disk. Thread pool. */
int chunk_store_write(chunk_store *s, uint64_t id, uint64_t version, const uint8_t *data,
                      uint32_t length, uint32_t crc, const uint32_t *block_crcs);

/* A packed write in two steps, for the loop thread (data_server.c), which must not wait
 * for the disk's flush: chunk_store_pack_append does the checks of chunk_store_write and
 * writes the record into the page cache (no sync), chunk_store_pack_sync (on a thread of
 * its own: it blocks) makes every appended record durable, and chunk_store_pack_commit
 * indexes the chunk once a sync covering its ticket returned. The one-step
 * chunk_store_write does the same with a blocking wait. */
typedef struct {
  uint64_t id, version;
  uint32_t length, crc;
  int64_t mtime_s;
  uint32_t vol; /* where the record went (volumes.h) */
  uint64_t off;
  uint64_t gen; /* durable once chunk_store_pack_sync reports *durable >= gen */
  int done;     /* nothing was written: the same chunk is already stored */
  int blocking; /* nothing was written: a new volume must be opened first (a directory
                   fsync): store it with chunk_store_write on the thread pool instead */
} chunk_pack_ticket;

/* 1 if a chunk of `length` bytes is packed into a volume (length <= pack_max). No I/O. */
int chunk_store_packs(const chunk_store *s, uint32_t length);
/* Checks as chunk_store_write, then appends the record without a sync. 0 with *t (t->done:
 * already stored, nothing to wait for; t->blocking: nothing written, use
 * chunk_store_write), or the DFS_E* chunk_store_write would return.
 * Quick (one write into the page cache and a statvfs): may run on the loop thread. */
int chunk_store_pack_append(chunk_store *s, uint64_t id, uint64_t version, const uint8_t *data,
                            uint32_t length, uint32_t crc, chunk_pack_ticket *t);
/* Makes every record appended so far durable (shares a running fdatasync when it covers
 * them); *durable = the generation now durable. 0 or the sticky DFS_E* of a failed
 * fdatasync. Blocks: a thread of its own or the thread pool. */
int chunk_store_pack_sync(chunk_store *s, uint64_t *durable);
/* Ends a packed write: sync_rc is the result of the sync that covered t->gen. Indexes the
 * chunk (0) or, if the sync failed, counts the record dead and returns sync_rc; also
 * DFS_ESTALE if a newer version was stored meanwhile. No disk wait. */
int chunk_store_pack_commit(chunk_store *s, const chunk_pack_ticket *t, int sync_rc);

/* The bytes of a read: a read-only mapping of the chunk file (no copy out of the page
 * cache) or, if mapping failed, a heap block. Owned by the caller from a successful
 * chunk_store_read until chunk_buf_release; any thread. */
typedef struct {
  void *mem;      /* NULL: nothing to release */
  size_t map_len; /* > 0: mem is a mapping of this many bytes; 0: mem is from malloc */
} chunk_buf;

/* Reads bytes [offset, offset+length) of chunk id at `version` (length 0 = to the end),
 * verifying the header and the CRC of every 64 KiB block the range touches.
 * On success *buf holds the bytes (release with chunk_buf_release), *data points at the
 * first requested byte, *out_len is the number of bytes and, if crc is not NULL, *crc
 * their CRC32C (from the verified block CRCs when the range is block-aligned, else by a
 * pass over the range).
 * DFS_ENOCHUNK: not stored (or another version than asked, newer); DFS_ESTALE: the
 * stored version is older than asked; DFS_EINVAL: range outside the chunk;
 * DFS_ECHECKSUM: a block or the header is corrupt, or the file is too short (logged,
 * and the chunk quarantined); DFS_EIO (counted towards a failing disk). Quarantined or
 * lost (file gone while indexed) replicas go on the bad list (chunk_store_take_bad).
 * Thread pool.
 * Chunk files are never modified in place (only renamed and unlinked), so a mapping
 * stays valid. If the file is truncated by hand or the disk fails while the block CRCs
 * are checked, the SIGBUS is caught and the read fails (DFS_ECHECKSUM if the file is
 * now short, else DFS_EIO); after that, a fault while the reply is sent from the
 * mapping makes the socket write fail (EFAULT: the connection closes), not chunkd. */
int chunk_store_read(chunk_store *s, uint64_t id, uint64_t version, uint32_t offset,
                     uint32_t length, chunk_buf *buf, const uint8_t **data, uint32_t *out_len,
                     uint32_t *crc);
/* Unmaps or frees buf's memory and clears it. Idempotent; any thread. */
void chunk_buf_release(chunk_buf *buf);

/* Reads the whole chunk id and checks its file size, header, every block CRC and the
 * whole CRC (the scrubber). *bytes += bytes read. 0, DFS_ENOCHUNK (gone meanwhile), DFS_ECHECKSUM
 * (the chunk has been quarantined, see chunk_store_quarantine) or DFS_EIO. Thread pool. */
int chunk_store_verify(chunk_store *s, uint64_t id, uint64_t *bytes);
/* Takes a corrupt chunk out of service: removes it from the index and moves its file to
 * corrupt/<016x id>.<version>.<unix time> for the operator (deleted if that fails).
 * 0 or DFS_ENOCHUNK if that version is no longer indexed. Thread pool. */
int chunk_store_quarantine(chunk_store *s, uint64_t id, uint64_t version);
/* corrupt/ holds at most max_bytes (data.quarantine_max): past it the files moved in
 * longest ago are deleted, now and after each quarantine. Unbounded until called. */
void chunk_store_set_quarantine_max(chunk_store *s, uint64_t max_bytes);
/* Bytes in corrupt/ as last counted. */
uint64_t chunk_store_quarantine_bytes(chunk_store *s);

/* Deletes chunk id (any version). 0 or DFS_ENOCHUNK if it was not stored. Thread pool. */
int chunk_store_delete(chunk_store *s, uint64_t id);
/* Deletes chunk id only if `version` is the stored one. 0 or DFS_ENOCHUNK. Thread pool. */
int chunk_store_delete_version(chunk_store *s, uint64_t id, uint64_t version);
/* Lists id again among the "new chunks" (a copy job found it already stored). 0 or
 * DFS_ENOCHUNK. No I/O. */
int chunk_store_mark_fresh(chunk_store *s, uint64_t id);
/* Takes the replicas quarantined since the last take (no I/O). *out: new array the
 * caller frees (NULL if *n == 0). 0 or DFS_ENOMEM (the list is then kept). */
int chunk_store_take_bad(chunk_store *s, chunk_ref **out, size_t *n);

/* Looks the chunk up in the index only (no I/O). 0 and *out, or DFS_ENOCHUNK. */
int chunk_store_lookup(chunk_store *s, uint64_t id, chunk_info *out);
/* As chunk_store_lookup, but DFS_EBUSY (*out still filled) while a delete metad ordered
 * is pending: such a chunk must not count as "already stored" (copy jobs). No I/O. */
int chunk_store_lookup_kept(chunk_store *s, uint64_t id, chunk_info *out);
/* metad ordered chunk id deleted (version 0: any version; else only that one) and the
 * delete is queued (on = 1), or could not be queued after all (on = 0). Until the delete
 * runs, the chunk is left out of inventories and new-chunk lists, lookup_kept answers
 * DFS_EBUSY and a write of the same version fails with DFS_EBUSY instead of "already
 * stored". Writing a newer version clears the mark. Returns 1 if the chunk was there to
 * mark. No I/O; call it before queueing the delete. */
int chunk_store_delete_ordered(chunk_store *s, uint64_t id, uint64_t version, int on);

/* Snapshot of the whole index (no I/O) for a full inventory report; also clears the
 * "new chunks" list, since the snapshot includes them. *out: new array the caller
 * frees (NULL if *n == 0). 0 or DFS_ENOMEM. */
int chunk_store_snapshot(chunk_store *s, chunk_info **out, size_t *n);
/* The ids in the index (no I/O), for the scrubber. *out: new array the caller frees
 * (NULL if *n == 0). 0 or DFS_ENOMEM. */
int chunk_store_list_ids(chunk_store *s, uint64_t **out, size_t *n);
/* Takes the chunks written since the last take/snapshot (no I/O). *out: new array the
 * caller frees (NULL if *n == 0). 0 or DFS_ENOMEM (the list is then kept). */
int chunk_store_take_new(chunk_store *s, chunk_info **out, size_t *n);

/* Capacity, free space (statvfs) and counts. Does a statvfs: thread pool. */
int chunk_store_stats_get(chunk_store *s, chunk_store_stats *out);

/* The path of chunk id/version under the store's directory (for tests and logs). */
int chunk_store_path(const chunk_store *s, uint64_t id, uint64_t version, char *buf, size_t bufsz);

#endif
