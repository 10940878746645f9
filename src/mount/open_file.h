/* An open file's bytes in the mount: one open_file per file open here (shared by every
 * descriptor on it), created at the first open and freed at the last release.
 *
 * The file is its chunk list. Each chunk is one of:
 *   HOLE     zeros, not stored (a sparse region; stored as zeros at commit)
 *   REMOTE   a committed chunk (id, version...): read through the chunk cache; shared
 *            unchanged (reuse) by the next commit
 *   DIRTY    a 1 MiB buffer of written bytes (a write inside a REMOTE chunk first loads
 *            it: the new content becomes a new chunk; the old one stays with the old
 *            version of the file)
 *   STORING  a full buffer a worker is writing to the chunkservers
 *   WRITTEN  stored, not yet committed (its bytes stay in the chunk cache)
 * Commit (close, fsync, and when needed) stores what is DIRTY or HOLE, then sends one
 * CommitReq replacing the file atomically with the new list; then reloads the list from
 * metad (everything REMOTE again). Unflushed written bytes across all files are bounded
 * by mount_options.dirty_bytes (a writer over the bound stores its file's buffers first).
 * Close-to-open: every open reloads the list from metad unless this mount has unflushed
 * writes to the file.
 * Locking: of->lock guards everything in the open_file; it may be held while taking the
 * inode table's lock, never the other way round. */
#ifndef DFS_MOUNT_OPEN_FILE_H
#define DFS_MOUNT_OPEN_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mount/mount_ctx.h"

typedef struct open_file open_file;

/* The open_file of node n (whose path is path), made and loaded from metad if the file
 * is not open here yet, else reloaded when it has no unflushed writes. created_mode: n
 * was just created empty by this mount with this mode (nothing to load); 0 otherwise. *unchanged: the content is what
 * this mount saw at the previous open (the kernel may keep its page cache). 0 or a
 * negative errno. */
int open_file_open(mount_ctx *m, mnode *n, const char *path, uint32_t created_mode,
                   uint32_t want_mode,
                   open_file **out, int *unchanged);
/* One open fewer; the last commits what is left, removes the hidden copy of an unlinked
 * file, and frees it. */
void open_file_release(mount_ctx *m, open_file *of);
/* An extra reference on n's open file, if it is open (unlink/rename of an open file);
 * NULL otherwise. Drop it with open_file_release. */
open_file *open_file_pin(mount_ctx *m, mnode *n);

/* Reads up to len bytes at off into out; *got = bytes read. 0 or a negative errno. */
int open_file_read(mount_ctx *m, open_file *of, uint64_t off, size_t len, uint8_t *out,
                   size_t *got);
/* Writes len bytes at off (append: at the end of the file). 0 or a negative errno. */
int open_file_write(mount_ctx *m, open_file *of, uint64_t off, const uint8_t *data,
                    size_t len, int append);
/* Sets the size (zeros when it grows). 0 or a negative errno. */
int open_file_truncate(mount_ctx *m, open_file *of, uint64_t size);
/* Makes every write so far durable: stored on every replica and committed. 0 or a
 * negative errno. */
int open_file_commit(mount_ctx *m, open_file *of);
/* The name was removed (unlink, or replaced by a rename) while open: from now on the file
 * lives at hidden_path (a metadata copy that keeps its chunks). */
void open_file_hide(open_file *of, const char *hidden_path);
/* At the end of the session (no thread left): frees the files the kernel never released
 * (unflushed writes are lost: the kernel did not ask for them). */
void open_file_discard_all(mount_ctx *m);
/* Size, mtime and mode as this mount knows them (with unflushed writes). */
void open_file_stat(open_file *of, struct stat *st);
/* All of a regular file's attributes from the open state alone (owner included). */
void open_file_full_stat(mount_ctx *m, open_file *of, uint64_t ino, struct stat *st);

#endif
