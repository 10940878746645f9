/* The FUSE low-level callbacks of the mount: names (lookup, create, mkdir, unlink,
 * rename, symlink...), attributes (getattr, setattr: chmod, truncate, utimens) and
 * directories go to metad here; an open file's bytes go to open_file.c. */
#ifndef DFS_MOUNT_FS_OPS_H
#define DFS_MOUNT_FS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops mount_fs_ops;

/* Name prefix of the hidden copies that keep unlinked open files alive (never listed). */
#define MOUNT_HIDDEN_PREFIX ".dfs-hidden-"

#endif
