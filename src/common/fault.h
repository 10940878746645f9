/* Fault hooks for tests: fail the Nth (or every Nth) disk read/write with EIO or ENOSPC,
 * corrupt a read block, drop or delay incoming frames of one message type. Compiled in
 * only with the CMake option DFS_FAULT_HOOKS (test builds); otherwise DFS_FAULT_HIT is
 * the constant 0 and nothing here costs anything. Settings come from config keys
 * fault.* (dfs_fault_configure) and, at run time, from a file the daemon polls
 * (dfs_fault_load_file; see docs/internals.md "Fault hooks"). Counters are atomic:
 * any thread may call dfs_fault_hit; configuration calls belong to the loop thread. */
#ifndef DFS_FAULT_H
#define DFS_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

enum dfs_fault_point {
  DFS_FAULT_DISK_READ_EIO,     /* fault.disk_read_eio */
  DFS_FAULT_DISK_WRITE_EIO,    /* fault.disk_write_eio */
  DFS_FAULT_DISK_WRITE_ENOSPC, /* fault.disk_write_enospc */
  DFS_FAULT_CORRUPT_READ,      /* fault.corrupt_read */
  DFS_FAULT_NPOINTS
};

/* Sets one hook from its key (with or without the "fault." prefix) and value:
 *   disk_read_eio, disk_write_eio, disk_write_enospc, corrupt_read:
 *       "0" or "off" = off; "N" = the Nth event from now and every later one fails;
 *       "every:N" = every Nth event fails (N, 2N, ...); "once:N" = only the Nth.
 *   drop_msg: a message type number (0 = off): incoming frames of it are dropped.
 *   delay_msg: "TYPE:MS" (or "0"): incoming frames of TYPE are delivered MS later.
 * Returns 0, DFS_EINVAL (bad key or value; a line in err) or, in builds without the
 * hooks, DFS_ECONFIG ("fault hooks are not compiled in"). */
int dfs_fault_set(const char *key, const char *value, char *err, size_t errsz);
/* Resets every hook to off. */
void dfs_fault_reset(void);
/* Applies every fault.* key of cfg. 0 or the first error (as dfs_fault_set). */
int dfs_fault_configure(const dfs_config *cfg, char *err, size_t errsz);
/* Re-reads `path` if it changed since the last call (mtime, inode or size): every hook is
 * reset, then each "key=value" line applied ('#' comments, blank lines ignored). A
 * missing file resets every hook once. Returns 1 if the settings changed, 0 if not,
 * or DFS_EINVAL for a bad line (the lines before it stay applied). */
int dfs_fault_load_file(const char *path, char *err, size_t errsz);

/* Counts one event at point p; 1 if this event must fail. Any thread. */
int dfs_fault_hit_(enum dfs_fault_point p);
/* Message hooks (conn.c): 1 if incoming frames of `type` are to be dropped;
 * dfs_fault_delay_ms: how long to hold them back (0 = none). */
int dfs_fault_drop_msg_(uint16_t type);
uint64_t dfs_fault_delay_ms_(uint16_t type);
/* 1 when built with DFS_FAULT_HOOKS. */
int dfs_fault_compiled(void);

#ifdef DFS_FAULT_HOOKS
#define DFS_FAULT_HIT(p) dfs_fault_hit_(p)
#define DFS_FAULT_DROP_MSG(t) dfs_fault_drop_msg_(t)
#define DFS_FAULT_DELAY_MS(t) dfs_fault_delay_ms_(t)
#else
#define DFS_FAULT_HIT(p) 0
#define DFS_FAULT_DROP_MSG(t) 0
#define DFS_FAULT_DELAY_MS(t) ((uint64_t)0)
#endif

#endif
