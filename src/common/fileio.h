/* Blocking file-descriptor helpers shared by the daemons and the CLI. Each retries on
 * EINTR and on short transfers and returns 0 or -errno: the caller maps errno to its
 * DFS_E* (ENOSPC is "full" on chunkd, a reset is "closed" on a socket). Thread-safe
 * (no state); they block, so never on a libuv loop thread. */
#ifndef DFS_FILEIO_H
#define DFS_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Writes all len bytes. */
int dfs_write_all(int fd, const void *buf, size_t len);
/* Writes every byte of iov[0..n) (iov is consumed: its entries are advanced). */
int dfs_writev_all(int fd, struct iovec *iov, int n);
/* Reads exactly len bytes at off; -ENODATA if the file ends first. */
int dfs_pread_all(int fd, void *buf, size_t len, uint64_t off);
/* Creates path and every missing parent with mode; 0 if it already is a directory,
 * -ENOTDIR if it (or a parent) is something else, -ENAMETOOLONG over 4095 bytes. */
int dfs_mkdir_p(const char *path, mode_t mode);
/* fsyncs directory path (makes the names created or renamed in it durable). */
int dfs_fsync_dir(const char *path);

#endif
