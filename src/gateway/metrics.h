/* /metrics: Prometheus text format. The gateway's own counters (requests by class,
 * bytes in/out, a latency histogram) and the cluster's figures from metad (servers by
 * state, capacity, free, health counts). Any thread. */
#ifndef DFS_GATEWAY_METRICS_H
#define DFS_GATEWAY_METRICS_H

#include <stdint.h>

#include "gateway/gateway.h"

typedef struct gw_req gw_req;

/* Counts a finished request: its status and how long it took. */
void gw_metrics_note(gateway *gw, unsigned status, uint64_t micros);
/* Answers GET /metrics (unauthenticated, like a node exporter). */
void gw_metrics_answer(gw_req *r);

#endif
