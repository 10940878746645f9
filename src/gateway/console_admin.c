/* The console's admin page data (console.h), administrators only (the gateway checks:
 * metad answers ClusterReq to anyone): chunkservers, replication health and copy jobs
 * from metad, and the gateway's own counters for the live charts (the page polls every
 * 2 s and draws the differences). */
#include <stdio.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/util.h"
#include "gateway/console.h"

void console_cluster(gw_req *r) {
  Dfs__ClusterReq req = DFS__CLUSTER_REQ__INIT;
  ProtobufCMessage *m = console_ask(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER, &req.base,
                                    &dfs__cluster_rep__descriptor);
  if (!m) return;
  const Dfs__ClusterRep *c = (const Dfs__ClusterRep *)m;
  gw_json j = {0};
  gw_json_obj(&j, NULL);
  gw_json_uint(&j, "files", c->files);
  gw_json_uint(&j, "dirs", c->dirs);
  gw_json_uint(&j, "chunks", c->chunks);
  gw_json_str(&j, "leader", c->leader_address);
  gw_json_obj(&j, "health");
  gw_json_uint(&j, "under_replicated", c->under_replicated);
  gw_json_uint(&j, "endangered", c->endangered);
  gw_json_uint(&j, "missing", c->missing);
  gw_json_uint(&j, "corrupt", c->corrupt);
  gw_json_uint(&j, "over_replicated", c->over_replicated);
  gw_json_end_obj(&j);
  gw_json_obj(&j, "copies");
  gw_json_uint(&j, "running", c->copy_jobs_running);
  gw_json_uint(&j, "queued", c->copy_jobs_queued);
  gw_json_uint(&j, "done", c->copies_done);
  gw_json_uint(&j, "failed", c->copies_failed);
  gw_json_bool(&j, "rebalancing", c->rebalancing);
  gw_json_end_obj(&j);
  gw_json_arr(&j, "servers");
  for (size_t i = 0; i < c->n_servers; i++) {
    const Dfs__ChunkServerInfo *s = c->servers[i];
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%u", s->addr && s->addr->host ? s->addr->host : "?",
             s->addr ? s->addr->port : 0);
    gw_json_obj(&j, NULL);
    gw_json_uint(&j, "id", s->addr ? s->addr->server_id : 0);
    gw_json_str(&j, "address", addr);
    gw_json_str(&j, "state", s->state && *s->state ? s->state : s->alive ? "alive" : "dead");
    gw_json_bool(&j, "alive", s->alive);
    gw_json_uint(&j, "capacity", s->capacity_bytes);
    gw_json_uint(&j, "free", s->free_bytes);
    gw_json_uint(&j, "chunks", s->chunk_count);
    gw_json_int(&j, "heartbeat_ms_ago", s->last_heartbeat_ms_ago);
    gw_json_uint(&j, "copies_running", s->copies_running);
    gw_json_uint(&j, "copies_queued", s->copies_queued);
    gw_json_uint(&j, "disk_errors", s->disk_errors);
    gw_json_end_obj(&j);
  }
  gw_json_end_arr(&j);
  gw_json_end_obj(&j);
  console_json_send(r, &j, m);
}

static uint64_t ld(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

void console_stats(gw_req *r) {
  const gw_stats *s = &r->gw->stats;
  gw_json j = {0};
  gw_json_obj(&j, NULL);
  gw_json_uint(&j, "t_ms", dfs_now_ms());
  gw_json_uint(&j, "requests", ld(&s->requests));
  gw_json_uint(&j, "errors_4xx", ld(&s->errors_4xx));
  gw_json_uint(&j, "errors_5xx", ld(&s->errors_5xx));
  gw_json_uint(&j, "bytes_in", ld(&s->bytes_in));
  gw_json_uint(&j, "bytes_out", ld(&s->bytes_out));
  gw_json_end_obj(&j);
  console_json_send(r, &j, NULL);
}
