/* OpenSSL backend for dfs TLS (see tls.h). TLS 1.2+ only; peers always verified. */
#include "common/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"

struct dfs_tls_ctx { SSL_CTX *ssl; int verify_hostname; };

struct dfs_tls {
  SSL *ssl;
  BIO *rbio, *wbio; /* network -> SSL, SSL -> network (owned by ssl) */
  uint8_t *pending; /* plaintext written before the handshake finished */
  size_t npending;
};

static __thread char last_err[256];

const char *dfs_tls_last_error(void) {
  unsigned long e = ERR_peek_last_error();
  if (e) ERR_error_string_n(e, last_err, sizeof last_err);
  else if (!last_err[0]) snprintf(last_err, sizeof last_err, "unknown TLS error");
  ERR_clear_error();
  return last_err;
}

int dfs_tls_ctx_new(const dfs_tls_config *cfg, int is_server, dfs_tls_ctx **out, char *err,
                    size_t errsz) {
  dfs_tls_ctx *c = calloc(1, sizeof *c);
  if (!c) return DFS_ENOMEM;
  c->ssl = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
  if (!c->ssl) goto err;
  SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
  SSL_CTX_set_mode(c->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (!cfg->ca_file || SSL_CTX_load_verify_locations(c->ssl, cfg->ca_file, NULL) != 1) {
    snprintf(err, errsz, "cannot load the TLS CA file '%s' (%s)", cfg->ca_file ? cfg->ca_file : "",
             dfs_tls_last_error());
    goto fail;
  }
  if (cfg->cert_file) {
    if (SSL_CTX_use_certificate_chain_file(c->ssl, cfg->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(c->ssl, cfg->key_file ? cfg->key_file : cfg->cert_file,
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c->ssl) != 1) {
      snprintf(err, errsz, "cannot load the TLS certificate '%s' / key '%s' (%s)", cfg->cert_file,
               cfg->key_file ? cfg->key_file : "", dfs_tls_last_error());
      goto fail;
    }
  } else if (is_server) {
    snprintf(err, errsz, "a TLS server needs a certificate and key (tls.cert, tls.key)");
    goto fail;
  }
  int mode = SSL_VERIFY_PEER;
  if (is_server && cfg->require_client_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(c->ssl, mode, NULL);
  c->verify_hostname = cfg->verify_hostname;
  *out = c;
  return 0;
err:
  snprintf(err, errsz, "TLS setup failed: %s", dfs_tls_last_error());
fail:
  dfs_tls_ctx_free(c);
  return DFS_ECONFIG;
}

int dfs_tls_from_config(const struct dfs_config *cfg, int is_server, dfs_tls_ctx **out,
                        char *err, size_t errsz) {
  int enabled, require_client, verify_host;
  *out = NULL;
  if (dfs_config_bool(cfg, "tls.enabled", 0, &enabled, err, errsz) ||
      dfs_config_bool(cfg, "tls.require_client_cert", 0, &require_client, err, errsz) ||
      dfs_config_bool(cfg, "tls.verify_hostname", 1, &verify_host, err, errsz))
    return DFS_ECONFIG;
  if (!enabled) return 0;
  dfs_tls_config tc = {
      .ca_file = dfs_config_str(cfg, "tls.ca", NULL),
      .cert_file = dfs_config_str(cfg, "tls.cert", NULL),
      .key_file = dfs_config_str(cfg, "tls.key", NULL),
      .require_client_cert = require_client,
      .verify_hostname = verify_host,
  };
  if (!tc.ca_file) {
    snprintf(err, errsz, "tls.enabled is set but tls.ca (the cluster CA file) is missing");
    return DFS_ECONFIG;
  }
  return dfs_tls_ctx_new(&tc, is_server, out, err, errsz);
}

void dfs_tls_ctx_free(dfs_tls_ctx *ctx) {
  if (!ctx) return;
  SSL_CTX_free(ctx->ssl);
  free(ctx);
}

static void set_host(SSL *ssl, const char *host, int verify) {
  if (!host) return;
  SSL_set_tlsext_host_name(ssl, host);
  if (verify) {
    X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    /* IP literals are matched as IP SANs, names as DNS SANs. */
    if (!X509_VERIFY_PARAM_set1_ip_asc(p, host)) X509_VERIFY_PARAM_set1_host(p, host, 0);
  }
}

dfs_tls *dfs_tls_new(dfs_tls_ctx *ctx, int is_server, const char *host) {
  dfs_tls *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ssl = SSL_new(ctx->ssl);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    SSL_free(t->ssl);
    free(t);
    return NULL;
  }
  BIO_set_mem_eof_return(t->rbio, -1); /* empty = "retry", not EOF */
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  if (is_server) SSL_set_accept_state(t->ssl);
  else {
    set_host(t->ssl, host, ctx->verify_hostname);
    SSL_set_connect_state(t->ssl);
    SSL_do_handshake(t->ssl); /* produces the ClientHello */
  }
  return t;
}

void dfs_tls_free(dfs_tls *t) {
  if (!t) return;
  SSL_free(t->ssl);
  free(t->pending);
  free(t);
}

int dfs_tls_feed(dfs_tls *t, const void *cipher, size_t len) {
  return BIO_write(t->rbio, cipher, (int)len) == (int)len ? 0 : DFS_ENOMEM;
}

static int flush_pending(dfs_tls *t) {
  if (!t->npending || !SSL_is_init_finished(t->ssl)) return 0;
  size_t n = t->npending;
  t->npending = 0;
  uint8_t *p = t->pending;
  t->pending = NULL;
  int rc = dfs_tls_write(t, p, n);
  free(p);
  return rc;
}

int dfs_tls_read(dfs_tls *t, void *buf, size_t len) {
  int n = SSL_read(t->ssl, buf, (int)(len > 1 << 30 ? 1 << 30 : len));
  if (n > 0) return flush_pending(t) ? DFS_EPROTO : n;
  int e = SSL_get_error(t->ssl, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return flush_pending(t) ? DFS_EPROTO : 0;
  if (e == SSL_ERROR_ZERO_RETURN) return DFS_ECLOSED;
  return DFS_EPROTO;
}

int dfs_tls_write(dfs_tls *t, const void *buf, size_t len) {
  if (!SSL_is_init_finished(t->ssl) || t->npending) {
    uint8_t *np = realloc(t->pending, t->npending + len);
    if (!np) return DFS_ENOMEM;
    memcpy(np + t->npending, buf, len);
    t->pending = np;
    t->npending += len;
    return 0;
  }
  const uint8_t *p = buf;
  while (len) {
    int n = SSL_write(t->ssl, p, (int)(len > 1 << 30 ? 1 << 30 : len));
    if (n <= 0) return DFS_EPROTO; /* memory BIOs never block on write */
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

uint8_t *dfs_tls_take_output(dfs_tls *t, size_t *len) {
  size_t n = BIO_ctrl_pending(t->wbio);
  if (!n) return NULL;
  uint8_t *b = malloc(n);
  if (!b) return NULL;
  *len = (size_t)BIO_read(t->wbio, b, (int)n);
  return b;
}

int dfs_tls_ready(const dfs_tls *t) { return SSL_is_init_finished(t->ssl); }

int dfs_tls_peer_names(const dfs_tls *t, const char *host) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  X509 *x = SSL_get1_peer_certificate(t->ssl);
#else
  X509 *x = SSL_get_peer_certificate(t->ssl);
#endif
  if (!x || !host || !*host) {
    X509_free(x);
    return 0;
  }
  int r = X509_check_ip_asc(x, host, 0); /* -2: host is not an IP literal */
  if (r == -2) r = X509_check_host(x, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
  X509_free(x);
  return r == 1;
}

const char *dfs_tls_verify_error(const dfs_tls *t) {
  long v = SSL_get_verify_result(t->ssl);
  return v == X509_V_OK ? NULL : X509_verify_cert_error_string(v);
}

/* ---- blocking sockets: fd -> SSL table ---------------------------------------------- */

#define FD_TABLE 65536
static SSL *fd_ssl[FD_TABLE];
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;

static SSL *ssl_of(int fd) {
  if (fd < 0 || fd >= FD_TABLE) return NULL;
  pthread_mutex_lock(&fd_lock);
  SSL *s = fd_ssl[fd];
  pthread_mutex_unlock(&fd_lock);
  return s;
}

int dfs_tls_fd_connect(dfs_tls_ctx *ctx, int fd, const char *host, char *err, size_t errsz) {
  if (fd < 0 || fd >= FD_TABLE) return DFS_EINVAL;
  SSL *s = SSL_new(ctx->ssl);
  if (!s) return DFS_ENOMEM;
  SSL_set_fd(s, fd);
  set_host(s, host, ctx->verify_hostname);
  if (SSL_connect(s) != 1) {
    long v = SSL_get_verify_result(s);
    if (v != X509_V_OK)
      snprintf(err, errsz, "TLS: server certificate rejected: %s", X509_verify_cert_error_string(v));
    else
      snprintf(err, errsz, "TLS handshake failed: %s", dfs_tls_last_error());
    SSL_free(s);
    return DFS_EPROTO;
  }
  pthread_mutex_lock(&fd_lock);
  fd_ssl[fd] = s;
  pthread_mutex_unlock(&fd_lock);
  return 0;
}

int dfs_tls_fd_active(int fd) { return ssl_of(fd) != NULL; }

static long fd_result(SSL *s, int n) {
  if (n > 0) return n;
  int e = SSL_get_error(s, n);
  if (e == SSL_ERROR_ZERO_RETURN) return 0;
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) errno = EAGAIN;
  else if (e != SSL_ERROR_SYSCALL || errno == 0) errno = ECONNRESET;
  return -1;
}

long dfs_tls_fd_read(int fd, void *buf, size_t len) {
  SSL *s = ssl_of(fd);
  return fd_result(s, SSL_read(s, buf, (int)(len > 1 << 30 ? 1 << 30 : len)));
}

long dfs_tls_fd_write(int fd, const void *buf, size_t len) {
  SSL *s = ssl_of(fd);
  return fd_result(s, SSL_write(s, buf, (int)(len > 1 << 30 ? 1 << 30 : len)));
}

void dfs_tls_fd_release(int fd) {
  if (fd < 0 || fd >= FD_TABLE) return;
  pthread_mutex_lock(&fd_lock);
  SSL *s = fd_ssl[fd];
  fd_ssl[fd] = NULL;
  pthread_mutex_unlock(&fd_lock);
  if (s) {
    SSL_shutdown(s);
    SSL_free(s);
  }
}
