/* HMAC-SHA256 chunk capabilities and the keyed-hash helpers other modules use (the raft
 * transport's handshake); the only place that calls OpenSSL's digest/MAC functions
 * (see cap.h). */
#include "common/cap.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>

#include "common/errors.h"

int dfs_secret_key(const char *label, const char *cluster_secret, uint8_t key[32]) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned n = 32;
  int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
           EVP_DigestUpdate(c, label, strlen(label)) &&
           EVP_DigestUpdate(c, cluster_secret, strlen(cluster_secret)) &&
           EVP_DigestFinal_ex(c, key, &n);
  EVP_MD_CTX_free(c);
  return ok ? 0 : DFS_ENOMEM;
}

int dfs_cap_key(const char *cluster_secret, uint8_t key[DFS_CAP_KEY_LEN]) {
  return dfs_secret_key("dfs chunk capability v1:", cluster_secret, key);
}

void dfs_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                     uint8_t out[32]) {
  unsigned n = 32;
  HMAC(EVP_sha256(), key, (int)key_len, msg, len, out, &n);
}

int dfs_mac_equal(const uint8_t *a, const uint8_t *b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

static void be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

static void mac(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                uint8_t op, const uint8_t expiry[8], uint8_t out[32]) {
  uint8_t msg[25];
  be64(msg, chunk_id);
  be64(msg + 8, version);
  msg[16] = op;
  memcpy(msg + 17, expiry, 8);
  unsigned len = 32;
  HMAC(EVP_sha256(), key, DFS_CAP_KEY_LEN, msg, sizeof msg, out, &len);
}

void dfs_cap_sign(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                  enum dfs_cap_op op, int64_t expiry_ms, uint8_t out[DFS_CAP_LEN]) {
  be64(out, (uint64_t)expiry_ms);
  out[8] = (uint8_t)op;
  mac(key, chunk_id, version, (uint8_t)op, out, out + 9);
}

int dfs_cap_check(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap, size_t len,
                  uint64_t chunk_id, uint64_t version, enum dfs_cap_op op, int64_t now_ms,
                  const char **why) {
  const char *w = NULL;
  uint8_t want[32];
  if (!cap || len == 0) w = "no chunk capability (ask metad for access first)";
  else if (len != DFS_CAP_LEN) w = "malformed chunk capability";
  else if (cap[8] != (uint8_t)op) w = "capability is for another operation";
  else {
    mac(key, chunk_id, version, cap[8], cap, want);
    uint64_t exp = 0;
    for (int i = 0; i < 8; i++) exp = exp << 8 | cap[i];
    if (CRYPTO_memcmp(want, cap + 9, 32) != 0) w = "capability signature does not match this chunk";
    else if ((int64_t)exp < now_ms) w = "chunk capability expired (retry the operation)";
  }
  if (w && why) *why = w;
  return w ? DFS_EPERM : 0;
}

/* ---- receipts and grants: HMAC over a label (so no message of one kind is a valid
 * message of another) followed by big-endian fields ---- */

static void hmac_buf(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *msg, size_t len,
                     uint8_t out[32]) {
  unsigned olen = 32;
  HMAC(EVP_sha256(), key, DFS_CAP_KEY_LEN, msg, len, out, &olen);
}

static size_t receipt_msg(uint8_t *msg, uint64_t chunk_id, uint64_t version, uint32_t length,
                          uint32_t crc32c, const uint64_t *servers, size_t n) {
  static const char label[] = "dfs receipt v1";
  size_t p = sizeof label; /* with its NUL */
  memcpy(msg, label, sizeof label);
  be64(msg + p, chunk_id), p += 8;
  be64(msg + p, version), p += 8;
  be64(msg + p, (uint64_t)length << 32 | crc32c), p += 8;
  be64(msg + p, n), p += 8;
  for (size_t i = 0; i < n; i++) be64(msg + p, servers[i]), p += 8;
  return p;
}

void dfs_receipt_sign(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                      uint32_t length, uint32_t crc32c, const uint64_t *servers, size_t n,
                      uint8_t out[DFS_RECEIPT_LEN]) {
  uint8_t msg[64 + 8 * DFS_RECEIPT_MAX_SERVERS];
  if (n > DFS_RECEIPT_MAX_SERVERS) n = DFS_RECEIPT_MAX_SERVERS;
  hmac_buf(key, msg, receipt_msg(msg, chunk_id, version, length, crc32c, servers, n), out);
}

int dfs_receipt_check(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *r, size_t len,
                      uint64_t chunk_id, uint64_t version, uint32_t length, uint32_t crc32c,
                      const uint64_t *servers, size_t n) {
  uint8_t want[32];
  if (!r || len != DFS_RECEIPT_LEN || n == 0 || n > DFS_RECEIPT_MAX_SERVERS) return DFS_EPERM;
  dfs_receipt_sign(key, chunk_id, version, length, crc32c, servers, n, want);
  return CRYPTO_memcmp(want, r, 32) ? DFS_EPERM : 0;
}

static void grant_mac(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                      const char *user, const uint8_t expiry[8], uint8_t out[32]) {
  static const char label[] = "dfs grant v1";
  uint8_t msg[sizeof label + 24 + 256];
  size_t p = sizeof label, ulen = user ? strlen(user) : 0;
  if (ulen > 255) ulen = 255;
  memcpy(msg, label, sizeof label);
  be64(msg + p, chunk_id), p += 8;
  be64(msg + p, version), p += 8;
  memcpy(msg + p, expiry, 8), p += 8;
  msg[p++] = (uint8_t)ulen;
  if (ulen) memcpy(msg + p, user, ulen), p += ulen;
  hmac_buf(key, msg, p, out);
}

void dfs_grant_sign(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                    const char *user, int64_t expiry_ms, uint8_t out[DFS_GRANT_LEN]) {
  be64(out, (uint64_t)expiry_ms);
  grant_mac(key, chunk_id, version, user, out, out + 8);
}

int dfs_grant_check(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *g, size_t len,
                    uint64_t chunk_id, uint64_t version, const char *user, int64_t now_ms,
                    const char **why) {
  const char *w = NULL;
  uint8_t want[32];
  if (!g || len == 0) w = "no commit grant (allocate chunks with Alloc first)";
  else if (len != DFS_GRANT_LEN) w = "malformed commit grant";
  else {
    grant_mac(key, chunk_id, version, user, g, want);
    uint64_t exp = 0;
    for (int i = 0; i < 8; i++) exp = exp << 8 | g[i];
    if (CRYPTO_memcmp(want, g + 8, 32) != 0)
      w = "the chunk was not allocated to you (commit only chunks your own Alloc returned)";
    else if ((int64_t)exp < now_ms) w = "commit grant expired (upload the file again)";
  }
  if (w && why) *why = w;
  return w ? DFS_EPERM : 0;
}
