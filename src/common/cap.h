/* Chunk capabilities: metad signs "operation OP on chunk ID version V until T" with a
 * key shared with the chunkservers (HMAC-SHA256); chunkservers check it before any read
 * or write, so nobody reaches chunk data around the namespace's permissions.
 * Wire form (DFS_CAP_LEN bytes): expiry_ms (8, big-endian, wall clock) | op (1) | mac (32). */
#ifndef DFS_CAP_H
#define DFS_CAP_H

#include <stddef.h>
#include <stdint.h>

#define DFS_CAP_LEN 41
#define DFS_CAP_KEY_LEN 32

enum dfs_cap_op { DFS_CAP_READ = 1, DFS_CAP_WRITE = 2 };

/* Derives the capability key from the cluster secret (any length). 0 or DFS_ENOMEM. */
int dfs_cap_key(const char *cluster_secret, uint8_t key[DFS_CAP_KEY_LEN]);
/* Writes a capability to out. */
void dfs_cap_sign(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                  enum dfs_cap_op op, int64_t expiry_ms, uint8_t out[DFS_CAP_LEN]);
/* 0 if cap (len bytes) allows op on chunk_id/version at now_ms; DFS_EPERM with a static
 * reason otherwise (missing, malformed, wrong chunk/op/key, expired). */
int dfs_cap_check(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap, size_t len,
                  uint64_t chunk_id, uint64_t version, enum dfs_cap_op op, int64_t now_ms,
                  const char **why);

#endif
