/* Fuzz target (c, metad): every metad client request (mkdir ... touch, plus an unknown
 * type) through metad's real dispatch, handlers, group commit, Raft log and state
 * machine: an in-process single-node cluster (libraft with its real uv storage in a
 * temp directory, raft transport on a free loopback port, no peers) serving a dfs_conn
 * listener on loopback, authentication off (every request runs as the superuser).
 * Input: records (fz_net.h), one request each, answered before the next is sent.
 * State (namespace, chunks, trash) carries over between inputs, like fuzz_authd's user
 * store: a crash may need the inputs before it (libFuzzer keeps them in its corpus). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "fz_metad.h"
#include "fz_net.h"
#include "metad/auth.h"
#include "metad/cron.h"
#include "metad/front_door.h"
#include "metad/metad.h"
#include "metad/raft_glue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static metad md;

static int leader_ready(void *ud) { return md.leader_ready; }

static void setup(void) {
  char err[512];
  dfs_log_init("fuzz-metad", DFS_LOG_ERROR);
  md.loop = uv_default_loop();
  md.cfg = dfs_config_new();
  if (!md.cfg) abort();
  /* the defaults of src/metad/main.c load_settings, faster raft timers */
  snprintf(md.listen_host, sizeof md.listen_host, "127.0.0.1");
  md.listen_port = fz_free_port();
  snprintf(md.listen_addr, sizeof md.listen_addr, "127.0.0.1:%d", md.listen_port);
  snprintf(md.data_dir, sizeof md.data_dir, "%s", fz_tempdir("metad"));
  md.raft_id = 1;
  snprintf(md.raft_address, sizeof md.raft_address, "127.0.0.1:%d", fz_free_port());
  md.snapshot_threshold = 8192;
  md.snapshot_trailing = 32768;
  md.election_ms = 100;
  md.raft_heartbeat_ms = 20;
  md.max_inflight = 256;
  md.heartbeat_ms = 10000;
  md.dead_timeout_ms = 30000;
  md.orphan_grace_ms = 3600000;
  md.repl_scan_ms = 1000;
  md.repl_job_timeout_ms = 60000;
  md.repl_max_jobs = 4;
  md.rebalance_pct = 5;
  md.rebalance_max_jobs = 4;
  md.trash_retention_ms = 86400000;
  md.rng = 0x9e3779b97f4a7c15ull; /* placement: deterministic */
  md.fsm = fsm_new(FSM_RESULTS_DEFAULT);
  md.max_allocs_inflight = 4096;
  md.bad_reports_per_min = 60;
  md.scan_nodes_per_s = 2000000;
  md.caps_ttl_ms = 600000;
  md.promise_ttl_ms = 15000;
  md.upload_lease_ms = 300000;
  if (md_leader_state_new(&md)) abort(); /* limits, promises, uploads as main.c */
  if (!md.fsm) abort();
  repl_init(&md.repl);
  md.repl.max_jobs_per_server = (uint32_t)md.repl_max_jobs;
  md.repl.job_timeout_ms = (uint64_t)md.repl_job_timeout_ms;
  md.repl.rebalance_threshold = (double)md.rebalance_pct / 100.0;
  md.repl.rebalance_max_jobs = (uint32_t)md.rebalance_max_jobs;
  md.repl.tomb_copy_ms = 40000;
  if (auth_init(&md)) abort();
  dfs_conn_opts opts = {0};
  opts.limits.max_payload = DFS_MAX_PAYLOAD;
  opts.limits.max_bulk = 0;
  opts.on_request = md_on_request;
  opts.on_close = md_on_close;
  opts.data = &md;
  if (dfs_server_listen(md.loop, md.listen_host, md.listen_port, &opts, &md.server)) abort();
  if (rg_init(&md, md_leadership_changed, err, sizeof err)) {
    fprintf(stderr, "fuzz-metad: %s\n", err);
    abort();
  }
  md_cron_start(&md);
  fz_pump_until(md.loop, leader_ready, NULL); /* single node: elected, first entry applied */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!md.loop) setup();
  fz_record rec[FZ_MAX_RECORDS];
  size_t n = fz_records(data, size, rec);
  fz_client cl;
  fz_connect(&cl, md.loop, md.listen_port);
  for (size_t i = 0; i < n && !cl.eof; i++) {
    uint16_t type = fz_metad_types[rec[i].sel % (sizeof fz_metad_types / sizeof fz_metad_types[0])];
    size_t len = DFS_FRAME_HDR_LEN + rec[i].payload_len + rec[i].bulk_len;
    uint8_t *f = malloc(len);
    if (!f) abort();
    dfs_frame_hdr h = {type, 0, i + 1, rec[i].payload_len, rec[i].bulk_len};
    dfs_frame_encode_hdr(&h, f);
    memcpy(f + DFS_FRAME_HDR_LEN, rec[i].payload, rec[i].payload_len);
    memcpy(f + DFS_FRAME_HDR_LEN + rec[i].payload_len, rec[i].bulk, rec[i].bulk_len);
    fz_write(&cl, f, len);
    free(f);
    int got = fz_read_reply(&cl);
    fz_trace(i, type, &cl);
    if (!got) break; /* bulk on a metad link, say: metad closes the connection */
    dfs_frame_hdr rh;
    dfs_frame_limits lim = {DFS_MAX_PAYLOAD, DFS_MAX_BULK};
    if (dfs_frame_decode_hdr(cl.reply, &lim, &rh) || !(rh.flags & DFS_FRAME_REPLY) ||
        rh.req_id != i + 1) {
      fprintf(stderr, "metad sent a bad reply header to request %zu\n", i + 1);
      abort();
    }
    if (rh.type != type + 1 && rh.type != DFS__MSG_TYPE__MSG_ERROR) {
      fprintf(stderr, "metad answered type %u with type %u\n", type, rh.type);
      abort();
    }
  }
  fz_finish(&cl);
  return 0;
}
