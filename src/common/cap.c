/* HMAC-SHA256 chunk capabilities and the keyed-hash helpers other modules use (the raft
 * transport's handshake); the only place that calls OpenSSL's digest/MAC functions
 * (see cap.h). */
#include "common/cap.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* OpenSSL 3's one-shot HMAC() looks the algorithm up by name under a lock on every call
 * (about 5 % of chunkd's CPU on small writes, a capability check and a receipt each).
 * Instead each thread keeps one keyed HMAC context and re-initialises it with the same
 * key (EVP_MAC_init with a NULL key keeps the key); a new key sets it again. Freed at
 * thread exit. */
typedef struct {
  EVP_MAC_CTX *ctx;
  uint8_t key[64];
  size_t key_len;
  int keyed;
} hmac_cache;

static EVP_MAC *g_hmac;
static pthread_key_t g_hmac_key;
static pthread_once_t g_hmac_once = PTHREAD_ONCE_INIT;

static void hmac_cache_free(void *p) {
  hmac_cache *c = p;
  if (!c) return;
  EVP_MAC_CTX_free(c->ctx);
  OPENSSL_cleanse(c->key, sizeof c->key);
  free(c);
}

static void hmac_init_once(void) {
  g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (g_hmac && pthread_key_create(&g_hmac_key, hmac_cache_free) != 0) {
    EVP_MAC_free(g_hmac);
    g_hmac = NULL;
  }
}

/* The calling thread's cache, or NULL (then the one-shot HMAC() is used). */
static hmac_cache *hmac_thread_cache(void) {
  pthread_once(&g_hmac_once, hmac_init_once);
  if (!g_hmac) return NULL;
  hmac_cache *c = pthread_getspecific(g_hmac_key);
  if (c) return c;
  c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->ctx = EVP_MAC_CTX_new(g_hmac);
  if (!c->ctx || pthread_setspecific(g_hmac_key, c) != 0) {
    hmac_cache_free(c);
    return NULL;
  }
  return c;
}

void dfs_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                     uint8_t out[32]) {
  hmac_cache *c = key_len <= sizeof ((hmac_cache *)0)->key ? hmac_thread_cache() : NULL;
  if (c) {
    int same = c->keyed && c->key_len == key_len && CRYPTO_memcmp(c->key, key, key_len) == 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t n = 0;
    c->keyed = 0;
    if (EVP_MAC_init(c->ctx, same ? NULL : key, same ? 0 : key_len, same ? NULL : params) &&
        EVP_MAC_update(c->ctx, msg, len) && EVP_MAC_final(c->ctx, out, &n, 32) && n == 32) {
      if (!same) {
        memcpy(c->key, key, key_len);
        c->key_len = key_len;
      }
      c->keyed = 1;
      return;
    }
  }
  unsigned n = 32;
  HMAC(EVP_sha256(), key, (int)key_len, msg, len, out, &n);
}

int dfs_mac_equal(const uint8_t *a, const uint8_t *b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

static void be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

static uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void hmac_buf(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *msg, size_t len,
                     uint8_t out[32]);

#define CAP_FORMAT 2
#define CAP_HEAD 10 /* format | expiry | op */

/* HMAC over the label, chunk id, version and the capability's first len bytes. */
static void cap_mac(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                    const uint8_t *cap, size_t len, uint8_t out[32]) {
  static const char label[] = "dfs chunk cap v2";
  uint8_t msg[sizeof label + 16 + DFS_CAP_WRITE_MAX];
  if (len > DFS_CAP_WRITE_MAX) len = DFS_CAP_WRITE_MAX; /* callers check the length first */
  memcpy(msg, label, sizeof label);
  be64(msg + sizeof label, chunk_id);
  be64(msg + sizeof label + 8, version);
  memcpy(msg + sizeof label + 16, cap, len);
  dfs_hmac_sha256(key, DFS_CAP_KEY_LEN, msg, sizeof label + 16 + len, out);
}

static void cap_head(uint8_t *out, int64_t expiry_ms, enum dfs_cap_op op) {
  out[0] = CAP_FORMAT;
  be64(out + 1, (uint64_t)expiry_ms);
  out[9] = (uint8_t)op;
}

void dfs_cap_sign_read(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                       uint64_t server_id, uint32_t offset, uint32_t length, int64_t expiry_ms,
                       uint8_t out[DFS_CAP_READ_LEN]) {
  cap_head(out, expiry_ms, DFS_CAP_READ);
  be64(out + CAP_HEAD, server_id);
  for (int i = 0; i < 4; i++) {
    out[CAP_HEAD + 8 + i] = (uint8_t)(offset >> (24 - 8 * i));
    out[CAP_HEAD + 12 + i] = (uint8_t)(length >> (24 - 8 * i));
  }
  cap_mac(key, chunk_id, version, out, DFS_CAP_READ_LEN - 32, out + DFS_CAP_READ_LEN - 32);
}

int dfs_cap_sign_write(const uint8_t key[DFS_CAP_KEY_LEN], uint64_t chunk_id, uint64_t version,
                       const dfs_cap_server *chain, size_t n, int64_t expiry_ms, uint8_t *out,
                       size_t outsz, size_t *out_len) {
  if (n == 0 || n > DFS_CAP_MAX_CHAIN || outsz < CAP_HEAD + 1 + 32) return DFS_EINVAL;
  cap_head(out, expiry_ms, DFS_CAP_WRITE);
  size_t p = CAP_HEAD;
  out[p++] = (uint8_t)n;
  for (size_t i = 0; i < n; i++) {
    size_t hl = chain[i].host ? strlen(chain[i].host) : 0;
    if (hl == 0 || hl > DFS_CAP_MAX_HOST || chain[i].port > 65535 || p + 11 + hl + 32 > outsz)
      return DFS_EINVAL;
    be64(out + p, chain[i].server_id), p += 8;
    out[p++] = (uint8_t)(chain[i].port >> 8);
    out[p++] = (uint8_t)chain[i].port;
    out[p++] = (uint8_t)hl;
    memcpy(out + p, chain[i].host, hl), p += hl;
  }
  cap_mac(key, chunk_id, version, out, p, out + p);
  *out_len = p + 32;
  return 0;
}

/* Checks what every capability shares: format, op, MAC (the last 32 bytes), expiry.
 * NULL if fine, else why not. */
static const char *cap_common(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap,
                              size_t len, uint64_t chunk_id, uint64_t version,
                              enum dfs_cap_op op, int64_t now_ms) {
  uint8_t want[32];
  if (!cap || len == 0) return "no chunk capability (ask metad for access first)";
  if (len < CAP_HEAD + 32 || len > DFS_CAP_WRITE_MAX || cap[0] != CAP_FORMAT)
    return "malformed chunk capability (from an older metad? ask metad again)";
  if (cap[9] != (uint8_t)op) return "capability is for another operation";
  cap_mac(key, chunk_id, version, cap, len - 32, want);
  if (CRYPTO_memcmp(want, cap + len - 32, 32) != 0)
    return "capability signature does not match this chunk";
  if ((int64_t)rd64(cap + 1) < now_ms) return "chunk capability expired (retry the operation)";
  return NULL;
}

int dfs_cap_check_read(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap, size_t len,
                       uint64_t chunk_id, uint64_t version, uint64_t self, uint32_t offset,
                       uint32_t length, int64_t now_ms, uint32_t *cap_end, const char **why) {
  const char *w = cap_common(key, cap, len, chunk_id, version, DFS_CAP_READ, now_ms);
  if (!w && len != DFS_CAP_READ_LEN) w = "malformed chunk capability";
  if (!w) {
    uint64_t sid = rd64(cap + CAP_HEAD);
    uint64_t off = rd32(cap + CAP_HEAD + 8), end = off + rd32(cap + CAP_HEAD + 12);
    if (sid != self)
      w = "read capability is for another chunkserver (ask metad for this replica's)";
    else if (offset < off || (uint64_t)offset + length > end)
      w = "read outside the byte range the capability grants";
    else if (cap_end)
      *cap_end = (uint32_t)end;
  }
  if (w && why) *why = w;
  return w ? DFS_EPERM : 0;
}

void dfs_cap_forward_proof(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap, size_t len,
                           uint64_t from, uint64_t to, uint8_t out[DFS_FORWARD_PROOF_LEN]) {
  static const char label[] = "dfs forward v1";
  uint8_t msg[sizeof label + 16 + DFS_CAP_WRITE_MAX];
  if (len > DFS_CAP_WRITE_MAX) len = DFS_CAP_WRITE_MAX; /* checked before (cap_common) */
  memcpy(msg, label, sizeof label);
  be64(msg + sizeof label, from);
  be64(msg + sizeof label + 8, to);
  memcpy(msg + sizeof label + 16, cap, len);
  hmac_buf(key, msg, sizeof label + 16 + len, out);
}

/* One server of a write capability's chain, parsed in place. */
struct signed_srv {
  uint64_t id;
  uint32_t port;
  const uint8_t *host; /* host_len bytes inside the capability, no NUL */
  size_t hl;
};

int dfs_cap_check_write(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *cap, size_t len,
                        uint64_t chunk_id, uint64_t version, uint64_t self,
                        const dfs_cap_server *down, size_t n_down, const uint8_t *proof,
                        size_t proof_len, int64_t now_ms, char *why, size_t whysz) {
  const char *w = cap_common(key, cap, len, chunk_id, version, DFS_CAP_WRITE, now_ms);
  if (w) {
    snprintf(why, whysz, "%s", w);
    return DFS_EPERM;
  }
  /* the signed chain: parse it (the MAC matched, so it is metad's, but stay in bounds) */
  struct signed_srv sc[DFS_CAP_MAX_CHAIN];
  size_t end = len - 32, p = CAP_HEAD + 1, n = p <= end ? cap[CAP_HEAD] : 0;
  if (n == 0 || n > DFS_CAP_MAX_CHAIN) {
    snprintf(why, whysz, "malformed write capability (chain of %zu)", n);
    return DFS_EPERM;
  }
  for (size_t i = 0; i < n; i++) {
    if (p + 11 > end || p + 11 + cap[p + 10] > end) {
      snprintf(why, whysz, "malformed write capability (truncated chain)");
      return DFS_EPERM;
    }
    sc[i].id = rd64(cap + p);
    sc[i].port = (uint32_t)cap[p + 8] << 8 | cap[p + 9];
    sc[i].hl = cap[p + 10];
    sc[i].host = cap + p + 11;
    p += 11 + sc[i].hl;
  }
  for (size_t i = 0; i < n; i++)
    for (size_t k = i + 1; k < n; k++)
      if (sc[i].id == sc[k].id) {
        snprintf(why, whysz, "the signed write chain names server %llu twice",
                 (unsigned long long)sc[i].id);
        return DFS_EPERM;
      }
  if (n_down + 1 > n) {
    snprintf(why, whysz, "write chain of %zu servers after this one, but metad signed %zu in "
             "all (write along the chain Alloc returned)", n_down, n);
    return DFS_EPERM;
  }
  size_t pos = n - 1 - n_down;
  if (sc[pos].id != self) {
    snprintf(why, whysz, "write capability is for chunkserver %llu at this position of the "
             "chain, not this one (%llu): write along the chain Alloc returned",
             (unsigned long long)sc[pos].id, (unsigned long long)self);
    return DFS_EPERM;
  }
  if (pos > 0) { /* only the server before us may hand us this write */
    uint8_t want[DFS_FORWARD_PROOF_LEN];
    dfs_cap_forward_proof(key, cap, len, sc[pos - 1].id, self, want);
    if (!proof || proof_len != DFS_FORWARD_PROOF_LEN || CRYPTO_memcmp(want, proof, 32) != 0) {
      snprintf(why, whysz, "this chunkserver (%llu) is not the head of the signed chain and the "
               "write does not come from server %llu before it: write to the chain's head",
               (unsigned long long)self, (unsigned long long)sc[pos - 1].id);
      return DFS_EPERM;
    }
  }
  for (size_t i = 0; i < n_down; i++) {
    const dfs_cap_server *d = &down[i];
    size_t hl = d->host ? strlen(d->host) : 0;
    const struct signed_srv *s = &sc[pos + 1 + i];
    if (d->server_id != s->id || d->port != s->port || hl != s->hl ||
        memcmp(d->host, s->host, hl) != 0) {
      /* (the client's host string stays out of the message: it would reach the log) */
      snprintf(why, whysz, "write chain entry %zu (server %llu) is not the address metad "
               "signed: write along the chain Alloc returned", i,
               (unsigned long long)d->server_id);
      return DFS_EPERM;
    }
  }
  return 0;
}

/* ---- receipts and grants: HMAC over a label (so no message of one kind is a valid
 * message of another) followed by big-endian fields ---- */

static void hmac_buf(const uint8_t key[DFS_CAP_KEY_LEN], const uint8_t *msg, size_t len,
                     uint8_t out[32]) {
  dfs_hmac_sha256(key, DFS_CAP_KEY_LEN, msg, len, out);
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
