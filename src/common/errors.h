/* The one list of dfs error codes. Functions return 0 (or a count) on success and a
 * negative DFS_E* on failure; replies carry the same numbers in Status.error so that
 * every program prints the same words for the same failure. */
#ifndef DFS_ERRORS_H
#define DFS_ERRORS_H

/*        name           value  one-line message (what went wrong) */
#define DFS_ERRNO_MAP(X)                                                              \
  X(DFS_EINVAL,           -1,  "invalid argument")                                    \
  X(DFS_ENOMEM,           -2,  "out of memory")                                       \
  X(DFS_EIO,              -3,  "I/O error")                                           \
  X(DFS_ENOENT,           -4,  "no such file or directory")                           \
  X(DFS_EEXIST,           -5,  "already exists")                                      \
  X(DFS_ENOTDIR,          -6,  "not a directory")                                     \
  X(DFS_EISDIR,           -7,  "is a directory")                                      \
  X(DFS_ENOTEMPTY,        -8,  "directory not empty")                                 \
  X(DFS_EBADPATH,         -9,  "invalid path")                                        \
  X(DFS_EPROTO,          -10,  "protocol error")                                      \
  X(DFS_ETOOBIG,         -11,  "message too large")                                   \
  X(DFS_ECONN,           -12,  "cannot connect")                                      \
  X(DFS_ETIMEDOUT,       -13,  "timed out")                                           \
  X(DFS_ECLOSED,         -14,  "connection closed")                                   \
  X(DFS_ECHECKSUM,       -15,  "checksum mismatch")                                   \
  X(DFS_ENOSPACE,        -16,  "no space left on the cluster")                        \
  X(DFS_ENOSERVERS,      -17,  "not enough live chunkservers")                        \
  X(DFS_ESTALE,          -18,  "stale chunk version")                                 \
  X(DFS_ENOTLEADER,      -19,  "this metad is not the leader")                        \
  X(DFS_EPERM,           -20,  "permission denied")                                   \
  X(DFS_EAUTH,           -21,  "authentication required or failed")                   \
  X(DFS_ECONFIG,         -22,  "bad configuration")                                   \
  X(DFS_EUNAVAIL,        -23,  "service unavailable, try again")                      \
  X(DFS_ENOCHUNK,        -24,  "chunk not found on this server")                      \
  X(DFS_EBUSY,           -25,  "busy, try again")                                     \
  X(DFS_EINTERNAL,       -26,  "internal error")                                     \
  X(DFS_EADDRINUSE,      -27,  "address already in use")                             \
  X(DFS_EQUOTA,          -28,  "quota exceeded")

typedef enum {
  DFS_OK = 0,
#define DFS_ERR_ENUM(name, val, msg) name = (val),
  DFS_ERRNO_MAP(DFS_ERR_ENUM)
#undef DFS_ERR_ENUM
} dfs_err;

/* Static string for a DFS_E* code (or "unknown error N"); never NULL, never freed. */
const char *dfs_strerror(int err);
/* Symbolic name ("DFS_ENOENT") for logs and tests; never NULL. */
const char *dfs_errname(int err);
/* Map a (positive) errno value to the closest DFS_E* code. */
int dfs_from_errno(int e);

#endif
