/* Fuzz target (c, chunkd): WriteChunk and ReadChunk request validation, including the
 * capability check (src/common/cap.c), through chunkd's real data server and dfs_conn on
 * an in-process loop with a throwaway chunk store. Seeds carry capabilities signed with
 * the harness's cluster secret, so mutations also reach the checks after the capability.
 * A write's forwarding chain is pointed at a local port that refuses connections, so
 * the fuzzer exercises forwarding failures without ever leaving the process's host port. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkd/data_server.h"
#include "chunkd/pack_sync.h"
#include "client_chunk.pb-c.h"
#include "common/frame.h"
#include "common/log.h"
#include "fz_chunkd.h"
#include "fz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static chunkd_state st;
static data_server *ds;
static int port, refusing_port;

static void setup(void) {
  dfs_log_init("fuzz-chunkd", DFS_LOG_ERROR);
  char err[256];
  st.loop = uv_default_loop();
  if (chunk_store_open(fz_tempdir("chunkd"), 0, &st.store, err, sizeof err)) {
    fprintf(stderr, "fuzz: %s\n", err);
    abort();
  }
  chunk_store_set_pack_max(st.store, 64 << 10); /* small writes take the packed path, */
  if (pack_syncer_start(&st, &st.pack_sync)) abort(); /* as in chunkd */
  st.server_id = 1;
  st.chain_timeout_ms = 500;
  st.max_inflight = 64;
  st.cluster_secret = FZ_CHUNKD_SECRET;
  if (dfs_cap_key(st.cluster_secret, st.cap_key)) abort();
  refusing_port = fz_refusing_port();
  port = fz_free_port();
  if (data_server_start(&st, "127.0.0.1", port, &ds)) abort();
}

static int idle(void *ud) { return data_server_inflight(ds) == 0 && st.work_inflight == 0; }

/* Points every chain entry at refusing_port on loopback; returns a new payload or NULL. */
static uint8_t *contain_chain(const uint8_t *p, size_t n, size_t *outlen) {
  Dfs__WriteChunkReq *r = dfs__write_chunk_req__unpack(NULL, n, p);
  if (!r) return NULL;
  uint8_t *out = NULL;
  if (r->n_chain) {
    static char lo[] = "127.0.0.1";
    char **saved = calloc(r->n_chain, sizeof *saved);
    if (!saved) abort();
    for (size_t i = 0; i < r->n_chain; i++) {
      saved[i] = r->chain[i]->host;
      if (r->chain[i]->host[0]) r->chain[i]->host = lo; /* keep "" invalid */
      if (r->chain[i]->port >= 1 && r->chain[i]->port <= 65535) r->chain[i]->port = (uint32_t)refusing_port;
    }
    *outlen = dfs__write_chunk_req__get_packed_size(r);
    out = malloc(*outlen ? *outlen : 1);
    if (!out) abort();
    dfs__write_chunk_req__pack(r, out);
    for (size_t i = 0; i < r->n_chain; i++) r->chain[i]->host = saved[i];
    free(saved);
  }
  dfs__write_chunk_req__free_unpacked(r, NULL);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ds) setup();
  fz_record rec[FZ_MAX_RECORDS];
  size_t n = fz_records(data, size, rec);
  fz_client cl;
  fz_connect(&cl, st.loop, port);
  for (size_t i = 0; i < n && !cl.eof; i++) {
    uint16_t type = fz_chunkd_types[rec[i].sel % (sizeof fz_chunkd_types / sizeof fz_chunkd_types[0])];
    const uint8_t *pl = rec[i].payload;
    size_t plen = rec[i].payload_len;
    uint8_t *fixed = type == DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_WRITE ? contain_chain(pl, plen, &plen) : NULL;
    if (fixed) pl = fixed;
    else plen = rec[i].payload_len;
    size_t len = DFS_FRAME_HDR_LEN + plen + rec[i].bulk_len;
    uint8_t *f = malloc(len);
    if (!f) abort();
    dfs_frame_hdr h = {type, 0, i + 1, (uint32_t)plen, rec[i].bulk_len};
    dfs_frame_encode_hdr(&h, f);
    memcpy(f + DFS_FRAME_HDR_LEN, pl, plen);
    memcpy(f + DFS_FRAME_HDR_LEN + plen, rec[i].bulk, rec[i].bulk_len);
    free(fixed);
    fz_write(&cl, f, len);
    free(f);
    int got = fz_read_reply(&cl);
    fz_trace(i, type, &cl);
    if (!got) break;
    dfs_frame_hdr rh;
    dfs_frame_limits lim = {DFS_MAX_PAYLOAD, DFS_MAX_BULK};
    if (dfs_frame_decode_hdr(cl.reply, &lim, &rh) || !(rh.flags & DFS_FRAME_REPLY) || rh.req_id != i + 1) {
      fprintf(stderr, "chunkd sent a bad reply header to request %zu\n", i + 1);
      abort();
    }
  }
  fz_finish(&cl);
  fz_pump_until(st.loop, idle, NULL);
  return 0;
}
