/* The HTTP server of dfsgw (libmicrohttpd, one thread per connection): it makes a
 * gw_req (request.h) when a request's headers are complete, routes it (/metrics,
 * the console, or S3), feeds it its body and frees it. */
#ifndef DFS_GATEWAY_HTTP_H
#define DFS_GATEWAY_HTTP_H

#include <microhttpd.h>

#include "gateway/gateway.h"

/* Starts the HTTP server (tls_cert/tls_key PEM text or NULL). NULL after a log line. */
struct MHD_Daemon *gw_http_start(gateway *gw, const char *tls_cert, const char *tls_key);

#endif
