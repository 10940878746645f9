/* TLS for dfs links (OpenSSL lives only in tls.c). Two uses:
 *  - async connections (conn.c): a memory-BIO engine; conn feeds it ciphertext from the
 *    socket and writes out the ciphertext it produces;
 *  - blocking client sockets (sock.c): OpenSSL on the fd itself.
 * Every link verifies the peer's certificate against the cluster CA; servers also ask
 * clients for a certificate when `require_client_cert` is set (mutual TLS between
 * daemons). One context per process role, shared by all connections; loop thread only
 * for engines, any thread for contexts after creation. */
#ifndef DFS_TLS_H
#define DFS_TLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct dfs_tls_ctx dfs_tls_ctx;
typedef struct dfs_tls dfs_tls;

typedef struct {
  const char *ca_file;    /* PEM CA bundle to verify peers; required */
  const char *cert_file;  /* our certificate (PEM); required for servers */
  const char *key_file;   /* its private key (PEM) */
  int require_client_cert;/* servers: refuse clients without a CA-signed certificate */
  int verify_hostname;    /* clients: check the server certificate names the host */
} dfs_tls_config;

/* Creates a context. 0, or DFS_ECONFIG with a one-line reason in err. *out freed with
 * dfs_tls_ctx_free after every engine/socket using it is gone. */
int dfs_tls_ctx_new(const dfs_tls_config *cfg, int is_server, dfs_tls_ctx **out, char *err,
                    size_t errsz);
void dfs_tls_ctx_free(dfs_tls_ctx *ctx);

/* Builds a context from config keys tls.enabled (false), tls.ca, tls.cert, tls.key,
 * tls.require_client_cert (servers; false: clients prove themselves with tokens, chunkservers with the cluster secret), tls.verify_hostname (clients; true).
 * *out = NULL when TLS is disabled. 0 or DFS_ECONFIG with a reason in err. */
struct dfs_config;
int dfs_tls_from_config(const struct dfs_config *cfg, int is_server, dfs_tls_ctx **out,
                        char *err, size_t errsz);

/* --- memory-BIO engine (async) --- */
/* New engine for one connection; host: the server name to verify (clients), may be NULL.
 * NULL on OOM. Free with dfs_tls_free. */
dfs_tls *dfs_tls_new(dfs_tls_ctx *ctx, int is_server, const char *host);
void dfs_tls_free(dfs_tls *t);
/* Gives the engine ciphertext read from the socket. 0 or DFS_ENOMEM. */
int dfs_tls_feed(dfs_tls *t, const void *cipher, size_t len);
/* Decrypts into buf: > 0 bytes read, 0 = needs more ciphertext, < 0 = DFS_EPROTO (bad
 * handshake or record; close the connection) or DFS_ECLOSED (peer's close_notify). */
int dfs_tls_read(dfs_tls *t, void *buf, size_t len);
/* Encrypts all of buf (queued internally if the handshake is not done yet). 0 or error. */
int dfs_tls_write(dfs_tls *t, const void *buf, size_t len);
/* Moves out the ciphertext waiting to be sent: returns a malloc'd buffer (caller frees)
 * and its length in *len, or NULL if there is none. */
uint8_t *dfs_tls_take_output(dfs_tls *t, size_t *len);
/* 1 once the handshake has completed. */
int dfs_tls_ready(const dfs_tls *t);
/* 1 if the peer's certificate (verified during the handshake) names host: an IP literal
 * as an IP SAN, anything else as a DNS name; 0 if not, or if the peer sent none. */
int dfs_tls_peer_names(const dfs_tls *t, const char *host);
/* Why the peer's certificate failed verification (static string), or NULL if it did
 * not (a missing certificate or another handshake error: see dfs_tls_last_error). */
const char *dfs_tls_verify_error(const dfs_tls *t);
/* The last OpenSSL error as one line (for logs), valid until the next call. */
const char *dfs_tls_last_error(void);

/* --- blocking sockets --- */
/* Runs a client handshake on connected fd; 0 or DFS_EPROTO (reason in err). The SSL is
 * attached to fd: use dfs_tls_fd_read/write and dfs_tls_fd_close. */
int dfs_tls_fd_connect(dfs_tls_ctx *ctx, int fd, const char *host, char *err, size_t errsz);
/* 1 if fd has TLS attached. */
int dfs_tls_fd_active(int fd);
/* Like read(2)/write(2) (return -1 with errno set on error, 0 on EOF for read). */
long dfs_tls_fd_read(int fd, void *buf, size_t len);
long dfs_tls_fd_write(int fd, const void *buf, size_t len);
/* Shuts TLS down on fd and frees it (does not close fd). */
void dfs_tls_fd_release(int fd);

#endif
