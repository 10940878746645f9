/* Volume files: small chunks packed into append-only files, as Haystack and SeaweedFS
 * do, so that storing a 4 KiB chunk costs one append and a share of one fdatasync
 * instead of a file create, an fdatasync, a rename and a directory fsync.
 *
 * Owns dir/vol/: the files <seq, 8 hex>.vol, their descriptors, the live/dead byte
 * count of each, and the group commit of appends. It knows nothing of the chunk index:
 * chunk_store.c (the only caller) decides which records are live and tells us when one
 * stops being so (volumes_dead). All functions are thread-safe and may block on the disk
 * (thread pool, or before the loop runs).
 *
 * Record (little-endian, 64-byte aligned): 0 magic "DFSVOLR1", 8 id, 16 version,
 * 24 mtime (unix s), 32 type (1 put, 2 delete), 36 length, 40 CRC32C of the data,
 * 44 aux (delete: the volume holding the deleted put), 48..59 zero, 60 CRC32C of
 * [0,60); then `length` data bytes (put only), zero-padded to a multiple of 64.
 * A put is at most one 64 KiB block, so its data CRC is its only block CRC.
 *
 * Durability: volumes_append returns once the record and the file's size are on disk
 * (fdatasync shared by every append that finished its write meanwhile); a new volume's
 * name is made durable (directory fsync) before any record in it is acknowledged.
 * Deletes are appended without a sync (as an unlink without a directory fsync: a delete
 * lost in a crash brings back a chunk that metad orders deleted again).
 * Invariants: (1) only the newest volume (the active one) is appended to, and each start
 * opens a new one, so a torn tail from a crash is never written after; (2) a volume's
 * file is unlinked only after every live record in it was copied to the active volume
 * and made durable; (3) a delete record is kept while the volume it points at exists. */
#ifndef DFS_VOLUMES_H
#define DFS_VOLUMES_H

#include <stddef.h>
#include <stdint.h>

#define VOL_REC_HDR 64
#define VOL_ALIGN 64
#define VOL_MAGIC "DFSVOLR1"
#define VOL_REC_PUT 1
#define VOL_REC_DELETE 2

typedef struct volumes volumes;

typedef struct {
  uint32_t vol; /* volume sequence number (>= 1); 0 = not in a volume */
  uint64_t off; /* offset of the record's header in that volume */
} vol_loc;

typedef struct {
  int type; /* VOL_REC_PUT or VOL_REC_DELETE */
  uint64_t id, version;
  int64_t mtime_s;
  uint32_t length, crc; /* put: data length and its CRC32C */
  uint32_t aux;         /* delete: the volume of the put it deletes */
} vol_rec;

/* Bytes a put record of `length` data bytes takes in its volume (header and padding). */
uint64_t vol_rec_size(uint32_t length);

/* Opens dir/vol (creating it). The active volume is created at the first append.
 * 0 and *out, or a DFS_E* with a one-line reason in err. */
int volumes_open(const char *dir, volumes **out, char *err, size_t errsz);
/* Closes every descriptor and frees. No call may be in flight. */
void volumes_close(volumes *v);

/* Calls fn for every valid record of every volume, oldest volume first and in file
 * order (a record with a bad header is skipped by looking for the next valid header at
 * 64-byte steps; a put whose data runs past the end of the file, a torn append, is left
 * out). fn returns 0 to go on or a DFS_E* to stop the scan with. Start-up only. */
typedef int (*vol_scan_fn)(void *arg, const vol_rec *r, vol_loc loc);
int volumes_scan(volumes *v, vol_scan_fn fn, void *arg);

/* Appends a put record and makes it durable. 0 and *loc, DFS_ENOSPACE, DFS_EIO. */
int volumes_append(volumes *v, uint64_t id, uint64_t version, int64_t mtime_s,
                   const uint8_t *data, uint32_t length, uint32_t crc, vol_loc *loc);
/* The same in two steps, for a caller that must not block on the disk's flush (chunkd's
 * loop thread): volumes_append_nowait writes the record (into the page cache) and gives
 * its generation *gen; it is durable once volumes_wait(v, gen) or a volumes_sync that
 * reports *durable >= gen returned 0. On a failed sync the record is the caller's to
 * count dead (volumes_dead). With may_open 0 it never opens a new volume (that fsyncs
 * the directory): VOL_NEED_OPEN (> 0) says so and nothing is written; the caller then
 * writes through volumes_append on a thread that may block. */
#define VOL_NEED_OPEN 1
int volumes_append_nowait(volumes *v, uint64_t id, uint64_t version, int64_t mtime_s,
                          const uint8_t *data, uint32_t length, uint32_t crc, int may_open,
                          vol_loc *loc, uint64_t *gen);
/* Blocks until generation gen is durable. 0 or the (sticky) DFS_E* of a failed fdatasync. */
int volumes_wait(volumes *v, uint64_t gen);
/* Makes every write finished so far durable (shares a running fdatasync if it covers
 * them) and sets *durable to the generation now durable. 0 or the sticky DFS_E*. */
int volumes_sync(volumes *v, uint64_t *durable);
/* Appends a delete record for (id, version) whose put is in volume target (no sync). */
int volumes_append_delete(volumes *v, uint64_t id, uint64_t version, uint32_t target);

/* Reads the put record at loc into a new heap block *rec (VOL_REC_HDR + length bytes,
 * the caller frees) and checks that its header is valid and names id, version and
 * length. The data CRC is the caller's to check. 0, DFS_ECHECKSUM (header bad or file
 * too short, with a static reason in *why), DFS_ENOCHUNK (no such volume), DFS_EIO. */
int volumes_read(volumes *v, vol_loc loc, uint64_t id, uint64_t version, uint32_t length,
                 uint8_t **rec, const char **why);

/* The put record at loc (length data bytes) is no longer live: its bytes count as dead,
 * and a volume that is mostly dead becomes a compaction candidate. */
void volumes_dead(volumes *v, vol_loc loc, uint32_t length);

/* A live put record found by volumes_scan or moved by compaction: counts its bytes. */
void volumes_live(volumes *v, vol_loc loc, uint32_t length);

/* Compaction: the sealed volume with the largest dead fraction, if at least half of it
 * is dead (*vol = 0: none). */
void volumes_pick_compaction(volumes *v, uint32_t *vol);
/* Copies what is still live out of volume `vol` and deletes its file. For each put
 * record, relocate(arg, rec, old loc, data) decides: it returns 1 if the record is live
 * and its data good (it is then appended again and moved(arg, rec, old, new) called
 * after the copy is durable), 0 if not (dead, or corrupt: the caller quarantines it).
 * Delete records whose target volume still exists are appended again. 0, or a DFS_E*
 * (the volume is then left as it is). *moved_bytes += bytes copied; *unreadable = bytes
 * of the volume that were no record (a damaged header: its record was never offered). */
typedef int (*vol_live_fn)(void *arg, const vol_rec *r, vol_loc old, const uint8_t *data);
typedef void (*vol_moved_fn)(void *arg, const vol_rec *r, vol_loc old, vol_loc now);
int volumes_compact(volumes *v, uint32_t vol, vol_live_fn relocate, vol_moved_fn moved,
                    void *arg, uint64_t *moved_bytes, uint64_t *unreadable);

/* The path of volume `vol` (for logs and tests). */
int volumes_path(const volumes *v, uint32_t vol, char *buf, size_t bufsz);

typedef struct {
  uint32_t count;      /* volume files */
  uint64_t bytes;      /* their total size */
  uint64_t dead_bytes; /* bytes of records no longer live */
} volumes_stats;
void volumes_stats_get(volumes *v, volumes_stats *out);

#endif
