/* Chunk capabilities: metad signs "operation OP on chunk ID version V until T", bound to
 * where it may be used, with a key shared with the chunkservers (HMAC-SHA256);
 * chunkservers check it before any read or write, so nobody reaches chunk data around
 * the namespace's permissions, and a capability cannot be replayed elsewhere.
 * Wire form (v2, all integers big-endian):
 *   format (1) = 2 | expiry_ms (8, wall clock) | op (1) | body | mac (32)
 *   READ  body: server_id (8) | offset (4) | length (4)
 *         = "on server S only, bytes [offset, offset+length) only" (DFS_CAP_READ_LEN)
 *   WRITE body: n (1, 1..DFS_CAP_MAX_CHAIN) | n x (server_id (8) | port (2) | host_len (1)
 *         | host) = the write chain metad chose, head first: the head may be written
 *         only as the head, each next server only by the one before it.
 *   mac = HMAC-SHA256(key, "dfs chunk cap v2\0" | chunk_id (8) | version (8) | every
 *         byte of the capability before the mac). */
#ifndef DFS_CAP_H
#define DFS_CAP_H

#include <stddef.h>
#include <stdint.h>

#define DFS_CAP_KEY_LEN 32
#define DFS_CAP_READ_LEN 58         /* 1 + 8 + 1 + 16 + 32 */
#define DFS_CAP_MAX_CHAIN 16
#define DFS_CAP_MAX_HOST 255
#define DFS_CAP_WRITE_MAX (1 + 8 + 1 + 1 + DFS_CAP_MAX_CHAIN * (11 + DFS_CAP_MAX_HOST) + 32)

enum dfs_cap_op { DFS_CAP_READ = 1, DFS_CAP_WRITE = 2 };

/* Derives the capability key from the cluster secret (any length). 0 or DFS_ENOMEM. */
int dfs_cap_key(const char *cluster_secret, uint8_t key[DFS_CAP_KEY_LEN]);
/* Derives a 32-byte key for one purpose from the cluster secret: SHA-256(label |
 * secret). Different labels give unrelated keys (capabilities vs. raft transport).
 * 0 or DFS_ENOMEM. */
int dfs_secret_key(const char *label, const char *cluster_secret, uint8_t key[32]);
/* out = HMAC-SHA256(key, msg). */
void dfs_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                     uint8_t out[32]);
/* 1 if the n bytes at a and b are equal, compared in constant time. */
int dfs_mac_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* One server of a write chain: what metad signs and chunkd compares (host: NUL-terminated,
 * at most DFS_CAP_MAX_HOST bytes). */
typedef struct {
  uint64_t server_id;
  const char *host;
  uint32_t port;
} dfs_cap_server;

/* Writes a read capability for bytes [offset, offset+length) of chunk_id/version on
 * server_id to out. */
void dfs_cap_sign_read(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                       uint64_t server_id, uint32_t offset, uint32_t length, int64_t expiry_ms,
                       uint8_t out[DFS_CAP_READ_LEN]);
/* Writes a write capability along chain[0..n) (head first) to out (outsz bytes,
 * DFS_CAP_WRITE_MAX always suffices); *out_len = its length. 0, or DFS_EINVAL (n 0 or
 * over DFS_CAP_MAX_CHAIN, a host empty or too long, a port over 65535). */
int dfs_cap_sign_write(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                       const dfs_cap_server *chain, size_t n, int64_t expiry_ms, uint8_t *out,
                       size_t outsz, size_t *out_len);

/* 0 if cap (len bytes) is a read capability of chunk_id/version for server self that
 * covers [offset, offset+length) at now_ms; DFS_EPERM with a static reason otherwise
 * (missing, malformed, wrong chunk/op/key, expired, another server, outside the range).
 * *cap_end (may be NULL): the end of the granted range (offset + length of the cap). */
int dfs_cap_check_read(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap, size_t len,
                       uint64_t chunk_id, uint64_t version, uint64_t self, uint32_t offset,
                       uint32_t length, int64_t now_ms, uint32_t *cap_end, const char **why);

/* The proof a chunkserver adds when it forwards a write to the next server of the chain:
 * HMAC(key, "dfs forward v1" | from | to | the whole write capability). Only holders of
 * the key make one, so a client cannot start a chain in its middle. */
#define DFS_FORWARD_PROOF_LEN 32
void dfs_cap_forward_proof(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap, size_t len,
                           uint64_t from, uint64_t to, uint8_t out[DFS_FORWARD_PROOF_LEN]);

/* 0 if cap (len bytes) is a write capability of chunk_id/version at now_ms whose signed
 * chain has self at some position p, no server twice, down[0..n_down) equal (id, host,
 * port) to the signed entries after p with nothing more (p = signed length - 1 -
 * n_down), and, unless self is the head (p = 0), proof is the forward proof of the
 * server before it. DFS_EPERM otherwise, with the reason in why (whysz bytes, one line). */
int dfs_cap_check_write(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap, size_t len,
                        uint64_t chunk_id, uint64_t version, uint64_t self,
                        const dfs_cap_server *down, size_t n_down, const uint8_t *proof,
                        size_t proof_len, int64_t now_ms, char *why, size_t whysz);

/* ---- Write receipts: "servers S1..Sn stored chunk ID version V (length, crc32c)" ----
 * Each chunkserver in a write chain signs the list of servers that hold the chunk (its own
 * id first, then the downstream's list, whose receipt it verified), so metad records a
 * location only on a chunkserver's word, never a client's (a client only carries the
 * receipt from chunkd to metad's Commit). */
#define DFS_RECEIPT_LEN 32
#define DFS_RECEIPT_MAX_SERVERS 32
/* Writes the receipt for servers[0..n) (n <= DFS_RECEIPT_MAX_SERVERS) to out. */
void dfs_receipt_sign(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                      uint32_t length, uint32_t crc32c, const uint64_t *servers, size_t n,
                      uint8_t out[DFS_RECEIPT_LEN]);
/* 0 if r (len bytes) is the receipt of exactly this chunk on exactly servers[0..n);
 * DFS_EPERM otherwise. */
int dfs_receipt_check(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *r, size_t len,
                      uint64_t chunk_id, uint64_t version, uint32_t length, uint32_t crc32c,
                      const uint64_t *servers, size_t n);

/* ---- Commit grants: "user U may commit new chunk ID version V until T" ----
 * metad hands one out with every allocated chunk and checks it at Commit, so a user can
 * commit only chunk ids that were allocated to that user (never another user's, never
 * ids ahead of the pool). Wire form (DFS_GRANT_LEN bytes): expiry_ms (8, big-endian,
 * wall clock) | mac (32). user: the owner's name (at most 255 bytes are signed). */
#define DFS_GRANT_LEN 40
void dfs_grant_sign(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                    const char *user, int64_t expiry_ms, uint8_t out[DFS_GRANT_LEN]);
/* 0 if g (len bytes) grants chunk_id/version to user at now_ms; DFS_EPERM with a static
 * reason otherwise (missing, malformed, another user's or chunk's, expired). */
int dfs_grant_check(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *g, size_t len,
                    uint64_t chunk_id, uint64_t version, const char *user, int64_t now_ms,
                    const char **why);

#endif
