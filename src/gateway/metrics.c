/* Prometheus text for /metrics (metrics.h). */
#include "gateway/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "gateway/request.h"
#include "gateway/s3_auth.h"
#include "gateway/s3_xml.h"

static const double bucket_ms[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
#define NBUCKETS (sizeof bucket_ms / sizeof bucket_ms[0])

void gw_metrics_note(gateway *gw, unsigned status, uint64_t micros) {
  gw_stats *s = &gw->stats;
  if (status >= 400 && status < 500) __atomic_add_fetch(&s->errors_4xx, 1, __ATOMIC_RELAXED);
  if (status >= 500) __atomic_add_fetch(&s->errors_5xx, 1, __ATOMIC_RELAXED);
  size_t b = 0;
  while (b < NBUCKETS && (double)micros / 1000.0 > bucket_ms[b]) b++;
  __atomic_add_fetch(&s->latency_buckets[b], 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&s->latency_sum_us, micros, __ATOMIC_RELAXED);
}

static uint64_t ld(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

void gw_metrics_answer(gw_req *r) {
  gw_stats *s = &r->gw->stats;
  s3_xml t = {0}; /* a text buffer: the XML builder appends without escaping via raw */
  char line[256];
#define OUT(...) (snprintf(line, sizeof line, __VA_ARGS__), s3_xml_raw(&t, line))
  OUT("# HELP dfsgw_requests_total HTTP requests received.\n# TYPE dfsgw_requests_total counter\n");
  OUT("dfsgw_requests_total %" PRIu64 "\n", ld(&s->requests));
  OUT("# HELP dfsgw_responses_errors_total Answers with a 4xx or 5xx status.\n"
      "# TYPE dfsgw_responses_errors_total counter\n");
  OUT("dfsgw_responses_errors_total{class=\"4xx\"} %" PRIu64 "\n", ld(&s->errors_4xx));
  OUT("dfsgw_responses_errors_total{class=\"5xx\"} %" PRIu64 "\n", ld(&s->errors_5xx));
  OUT("# HELP dfsgw_bytes_received_total Request body bytes.\n# TYPE dfsgw_bytes_received_total counter\n");
  OUT("dfsgw_bytes_received_total %" PRIu64 "\n", ld(&s->bytes_in));
  OUT("# HELP dfsgw_bytes_sent_total Response body bytes of object reads.\n"
      "# TYPE dfsgw_bytes_sent_total counter\n");
  OUT("dfsgw_bytes_sent_total %" PRIu64 "\n", ld(&s->bytes_out));
  OUT("# HELP dfsgw_request_duration_seconds Time from headers to the end of the answer.\n"
      "# TYPE dfsgw_request_duration_seconds histogram\n");
  uint64_t cum = 0;
  for (size_t b = 0; b < NBUCKETS; b++) {
    cum += ld(&s->latency_buckets[b]);
    OUT("dfsgw_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", bucket_ms[b] / 1000.0, cum);
  }
  cum += ld(&s->latency_buckets[NBUCKETS]);
  OUT("dfsgw_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
  OUT("dfsgw_request_duration_seconds_sum %.6f\n", (double)ld(&s->latency_sum_us) / 1e6);
  OUT("dfsgw_request_duration_seconds_count %" PRIu64 "\n", cum);
  /* the cluster, as metad sees it: ClusterReq needs any logged-in user, on a cluster
   * with authentication the one of metrics.access_key */
  Dfs__ClusterReq req = DFS__CLUSTER_REQ__INIT;
  ProtobufCMessage *m = NULL;
  char err[256], token[128] = "";
  int rc = 0;
  if (r->gw->cfg.metrics_key[0]) rc = s3_auth_token_of(r, r->gw->cfg.metrics_key, token, sizeof token);
  r->conn->mc.token = token[0] ? token : NULL;
  if (rc == 0)
    rc = meta_call(&r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER, &req.base,
                   &dfs__cluster_rep__descriptor, &m, err, sizeof err);
  r->conn->mc.token = NULL;
  OUT("# HELP dfs_metad_up 1 if metad answered the gateway's cluster query.\n# TYPE dfs_metad_up gauge\n");
  OUT("dfs_metad_up %d\n", rc == 0);
  if (rc == 0) {
    const Dfs__ClusterRep *c = (const Dfs__ClusterRep *)m;
    uint64_t cap = 0, fr = 0, alive = 0, dead = 0;
    for (size_t i = 0; i < c->n_servers; i++) {
      const Dfs__ChunkServerInfo *e = c->servers[i];
      if (e->alive) {
        alive++;
        cap += e->capacity_bytes;
        fr += e->free_bytes;
      } else {
        dead++;
      }
    }
    OUT("# HELP dfs_chunkservers Chunkservers by liveness.\n# TYPE dfs_chunkservers gauge\n");
    OUT("dfs_chunkservers{state=\"alive\"} %" PRIu64 "\n", alive);
    OUT("dfs_chunkservers{state=\"dead\"} %" PRIu64 "\n", dead);
    OUT("# HELP dfs_capacity_bytes Capacity of the live chunkservers.\n# TYPE dfs_capacity_bytes gauge\n");
    OUT("dfs_capacity_bytes %" PRIu64 "\n", cap);
    OUT("# HELP dfs_free_bytes Free space on the live chunkservers.\n# TYPE dfs_free_bytes gauge\n");
    OUT("dfs_free_bytes %" PRIu64 "\n", fr);
    OUT("# HELP dfs_chunks Chunks by replication health.\n# TYPE dfs_chunks gauge\n");
    OUT("dfs_chunks{health=\"all\"} %" PRIu64 "\n", (uint64_t)c->chunks);
    OUT("dfs_chunks{health=\"under_replicated\"} %" PRIu64 "\n", (uint64_t)c->under_replicated);
    OUT("dfs_chunks{health=\"endangered\"} %" PRIu64 "\n", (uint64_t)c->endangered);
    OUT("dfs_chunks{health=\"missing\"} %" PRIu64 "\n", (uint64_t)c->missing);
    OUT("# HELP dfs_files Files in the namespace.\n# TYPE dfs_files gauge\n");
    OUT("dfs_files %" PRIu64 "\n", (uint64_t)c->files);
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
#undef OUT
  if (t.failed) gw_respond(r, 500, "text/plain", "out of memory\n", 14, NULL);
  else gw_respond(r, 200, "text/plain; version=0.0.4", t.p, t.len, NULL);
  s3_xml_free(&t);
}
