/* dfs_strerror and friends over the DFS_ERRNO_MAP list in errors.h. */
#include "common/errors.h"

#include <errno.h>
#include <stdio.h>

const char *dfs_strerror(int err) {
  switch (err) {
  case DFS_OK: return "success";
#define DFS_ERR_MSG(name, val, msg) case name: return msg;
    DFS_ERRNO_MAP(DFS_ERR_MSG)
#undef DFS_ERR_MSG
  }
  return "unknown error";
}

const char *dfs_errname(int err) {
  switch (err) {
  case DFS_OK: return "DFS_OK";
#define DFS_ERR_NAME(name, val, msg) case name: return #name;
    DFS_ERRNO_MAP(DFS_ERR_NAME)
#undef DFS_ERR_NAME
  }
  return "DFS_E?";
}

int dfs_from_errno(int e) {
  switch (e) {
  case 0: return DFS_OK;
  case ENOENT: return DFS_ENOENT;
  case EEXIST: return DFS_EEXIST;
  case ENOMEM: return DFS_ENOMEM;
  case ENOSPC: case EDQUOT: return DFS_ENOSPACE;
  case EINVAL: return DFS_EINVAL;
  case ENOTDIR: return DFS_ENOTDIR;
  case EISDIR: return DFS_EISDIR;
  case EACCES: case EPERM: return DFS_EPERM;
  case ETIMEDOUT: return DFS_ETIMEDOUT;
  case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: return DFS_ECONN;
  case ECONNRESET: case EPIPE: return DFS_ECLOSED;
  case EADDRINUSE: return DFS_EADDRINUSE;
  default: return DFS_EIO;
  }
}
