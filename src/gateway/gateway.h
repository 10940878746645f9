/* dfsgw: an HTTP/1.1 front door to dfs for S3 clients (s3cmd, rclone, the AWS CLI) and
 * browsers. libmicrohttpd parses HTTP and runs one thread per connection; each thread
 * talks the dfs protocol with the blocking client library (src/client) as the user whose
 * access key signed the request. A request's path through the files:
 *   http.c      the server (MHD callbacks): headers in, body chunks in, routing
 *   request.c   a request (gw_req) and its answers: all the handlers include only that
 *   s3_auth.c   Signature V4 -> the key's user and session token (authd, cached)
 *   s3_router.c which S3 operation (method, bucket, key, query) -> s3_bucket.c/s3_object.c
 *   object_io.c a streamed upload (1 MiB chunks down a replica chain, then Commit) and a
 *               streamed download (chunk by chunk, ranges)
 *   s3_xml.c    the XML bodies and S3 error documents
 *
 * Invariants: (1) nothing is done for a request before its signature is checked (the
 * body is not read before); (2) a request's memory is bounded (one 1 MiB chunk buffer per
 * upload or download, XML bodies capped), whatever the object size; (3) a bucket is
 * /home/<user>/<bucket>: a user can only name her own, so another user's data is
 * unreachable by construction, and metad checks permissions again on every call. */
#ifndef DFS_GATEWAY_GATEWAY_H
#define DFS_GATEWAY_GATEWAY_H

#include <pthread.h>
#include <stdint.h>

#define GW_REGION_MAX 64
#define GW_SECRET_MAX 256

/* The daemon's settings (main.c fills them from the config; read-only afterwards). */
typedef struct {
  char listen_host[256];
  int listen_port;
  char meta[1024];   /* metad addresses, as the CLI takes them */
  char auth[300];    /* authd HOST:PORT */
  char service_secret[GW_SECRET_MAX]; /* proves to authd that we are a gateway */
  char region[GW_REGION_MAX + 1];     /* what LocationConstraint answers (us-east-1) */
  int max_connections, max_per_address;
  int idle_timeout_s;
  int64_t key_cache_ms; /* an access key's secret is asked of authd again after this */
  int max_keys;         /* ListObjects page bound */
  int tls;              /* dfs protocol links use TLS (dfs_sock_set_tls) */
  char metrics_key[80]; /* access key whose user's token /metrics uses ("" = none) */
} gw_config;

/* Counters for /metrics (atomics; any thread). */
typedef struct {
  uint64_t requests, errors_4xx, errors_5xx, bytes_in, bytes_out;
  uint64_t latency_buckets[12]; /* <= 1,2,5,10,25,50,100,250,500,1000,2500 ms, +Inf */
  uint64_t latency_sum_us;
} gw_stats;

typedef struct gw_key_cache gw_key_cache;

/* The daemon (one per process). */
typedef struct {
  gw_config cfg;
  gw_stats stats;
  gw_key_cache *keys; /* s3_auth.c */
} gateway;

#endif
