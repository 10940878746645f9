/* dfsgw's HTTP server on libmicrohttpd (http.h): makes, routes, feeds and frees requests. */
#include "gateway/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "gateway/console.h"
#include "gateway/metrics.h"
#include "gateway/request.h"
#include "gateway/s3_router.h"

#define GW_THREAD_STACK (512 * 1024)
/* A connection's buffer: the request's headers must fit (431 beyond), and a body arrives
 * in pieces of up to about half of it (bigger pieces: fewer calls per MiB). */
#define GW_CONN_MEMORY (256 * 1024)

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the request's life ---- */

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
  gw_req *r = cls;
  if (kind == MHD_HEADER_KIND) {
    if (r->nheaders == GW_MAX_HEADERS) { r->too_many = 1; return MHD_NO; }
    r->headers[r->nheaders].name = key;
    r->headers[r->nheaders++].value = value ? value : "";
  } else {
    if (r->nquery == GW_MAX_QUERY) { r->too_many = 1; return MHD_NO; }
    r->query[r->nquery].name = key;
    r->query[r->nquery++].value = value;
  }
  return MHD_YES;
}

static gw_req *req_new(gateway *gw, struct MHD_Connection *c, const char *url,
                       const char *method) {
  gw_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->gw = gw;
  r->mhd = c;
  r->t0_us = now_us();
  snprintf(r->request_id, sizeof r->request_id, "%016llx", (unsigned long long)dfs_random_u64());
  snprintf(r->method, sizeof r->method, "%s", method);
  r->path = strdup(url && *url ? url : "/");
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  r->conn = ci ? ci->socket_context : NULL;
  if (!r->path) {
    free(r);
    return NULL;
  }
  MHD_get_connection_values(c, MHD_HEADER_KIND, collect, r);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect, r);
  return r;
}

static void req_free(gw_req *r) {
  if (r->op_free && r->op) r->op_free(r->op);
  if (r->conn) r->conn->mc.token = NULL;
  free(r->path);
  free(r);
}

/* Routes a request whose headers are complete. */
static void route(gw_req *r) {
  if (r->too_many) {
    gw_s3_error(r, 400, "InvalidRequest", "too many headers or query parameters");
    return;
  }
  if (!r->conn) {
    gw_s3_error(r, 503, "ServiceUnavailable", "the gateway is out of memory");
    return;
  }
  /* unsigned GET /metrics: Prometheus (a signed one is the bucket "metrics") */
  if (strcmp(r->path, "/metrics") == 0 && strcmp(r->method, "GET") == 0 &&
      !gw_header(r, "Authorization") && !gw_has_query(r, "X-Amz-Signature")) {
    gw_metrics_answer(r);
    return;
  }
  if (console_wants(r)) console_route(r); /* browsers; signed requests are S3's */
  else s3_route(r);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls) {
  (void)version;
  gateway *gw = cls;
  gw_req *r = *req_cls;
  if (!r) { /* headers complete */
    r = req_new(gw, c, url, method);
    if (!r) return MHD_NO;
    *req_cls = r;
    __atomic_add_fetch(&gw->stats.requests, 1, __ATOMIC_RELAXED);
    /* A request with a body is routed now: it is authenticated (and refused) before a
     * byte of the body is taken, and before "100 Continue". One without is routed at
     * its end, where an answer keeps the connection open for the next request (an
     * answer queued now would make libmicrohttpd close it). */
    const char *cl = gw_header(r, "Content-Length");
    if (gw_header(r, "Transfer-Encoding") || (cl && strcmp(cl, "0") != 0)) {
      r->routed = 1;
      route(r);
    }
    return MHD_YES;
  }
  if (!r->routed) {
    r->routed = 1;
    route(r);
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    r->body_bytes += n;
    __atomic_add_fetch(&gw->stats.bytes_in, n, __ATOMIC_RELAXED);
    if (!r->answered && r->on_body) r->on_body(r, upload_data, n);
    else if (!r->answered) /* a body where none is expected */
      gw_s3_error(r, 400, "InvalidRequest", "this request takes no body");
    return MHD_YES;
  }
  if (!r->answered && r->on_end) r->on_end(r);
  if (!r->answered) gw_s3_error(r, 500, "InternalError", "the request was not answered");
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)c;
  gateway *gw = cls;
  gw_req *r = *req_cls;
  if (!r) return;
  if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
    LOG_DEBUG("%s %s ended early (code %d)", r->method, r->path, (int)toe);
  gw_metrics_note(gw, r->status, now_us() - r->t0_us);
  req_free(r);
  *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  (void)c;
  gateway *gw = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    gw_conn *g = calloc(1, sizeof *g);
    if (g && meta_client_init(&g->mc, gw->cfg.meta) == 0 &&
        meta_client_init(&g->ac, gw->cfg.auth) == 0) {
      g->ac.service = "authd";
      g->mc.tls = g->ac.tls = gw->cfg.tls;
      chunk_conns_init(&g->cc);
      *socket_context = g;
    } else {
      free(g);
      *socket_context = NULL;
    }
  } else if (*socket_context) {
    gw_conn *g = *socket_context;
    meta_client_close(&g->mc);
    meta_client_close(&g->ac);
    chunk_conns_close(&g->cc);
    free(g);
    *socket_context = NULL;
  }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n') msg[--n] = '\0';
  LOG_DEBUG("http: %s", msg);
}

struct MHD_Daemon *gw_http_start(gateway *gw, const char *tls_cert, const char *tls_key) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)gw->cfg.listen_port);
  if (inet_pton(AF_INET, gw->cfg.listen_host, &sa.sin_addr) != 1) {
    LOG_ERROR("listen address %s is not an IPv4 address", gw->cfg.listen_host);
    return NULL;
  }
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                   MHD_USE_ERROR_LOG | MHD_USE_POLL;
  if (tls_cert) flags |= MHD_USE_TLS;
  struct MHD_OptionItem tls_opts[] = {
      {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls_cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls_key},
      {MHD_OPTION_END, 0, NULL},
  };
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_access, gw,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)gw->cfg.max_connections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)gw->cfg.max_per_address,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)gw->cfg.idle_timeout_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GW_CONN_MEMORY,
      MHD_OPTION_THREAD_STACK_SIZE, (size_t)GW_THREAD_STACK,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, gw,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, gw,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
      MHD_OPTION_ARRAY, tls_cert ? tls_opts : tls_opts + 2,
      MHD_OPTION_END);
  if (!d) LOG_ERROR("cannot listen on %s:%d (in use? permissions?)", gw->cfg.listen_host,
                    gw->cfg.listen_port);
  return d;
}
