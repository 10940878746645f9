/* Fuzz target (a): the frame header decoder and the payload/bulk limits, both as the
 * pure dfs_frame_decode_hdr (round trip and limit invariants, pre-auth and full limits)
 * and through the real dfs_conn reader (src/common/conn.c) over loopback: the input is
 * sent as raw bytes to a server with pre-authentication limits; a payload starting with
 * 'A' authenticates the connection (as a login would), so the limit switch is fuzzed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conn.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/log.h"
#include "fz_net.h"

#define PRE_PAYLOAD 256u
#define FULL_PAYLOAD 4096u
#define FULL_BULK 65536u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decode(const uint8_t *in, const dfs_frame_limits *lim) {
  dfs_frame_hdr h;
  int rc = dfs_frame_decode_hdr(in, lim, &h);
  if (rc != 0 && rc != DFS_EPROTO && rc != DFS_ETOOBIG) {
    fprintf(stderr, "frame decode returned %d\n", rc);
    abort();
  }
  if (rc) return;
  if (h.payload_len > lim->max_payload || h.bulk_len > lim->max_bulk || (h.flags & ~DFS_FRAME_REPLY)) {
    fprintf(stderr, "frame decode accepted a header beyond its limits\n");
    abort();
  }
  uint8_t out[DFS_FRAME_HDR_LEN];
  dfs_frame_encode_hdr(&h, out);
  if (memcmp(out, in, DFS_FRAME_HDR_LEN) != 0) {
    fprintf(stderr, "frame header does not round-trip\n");
    abort();
  }
}

static void on_request(dfs_conn *c, dfs_msg *m) {
  int authed = dfs_conn_is_authenticated(c);
  uint32_t maxp = authed ? FULL_PAYLOAD : PRE_PAYLOAD, maxb = authed ? FULL_BULK : 0;
  if (m->hdr.payload_len > maxp || m->hdr.bulk_len > maxb) {
    fprintf(stderr, "dfs_conn delivered a frame over its limits (%u+%u, authenticated %d)\n",
            m->hdr.payload_len, m->hdr.bulk_len, authed);
    abort();
  }
  if (m->hdr.payload_len && m->payload[0] == 'A') dfs_conn_set_authenticated(c);
  dfs_conn_reply(c, &m->hdr, NULL, NULL, 0, NULL, NULL);
  dfs_msg_free(m);
}

static uv_loop_t *loop;
static int port;

static void setup(void) {
  dfs_log_init("fuzz", DFS_LOG_ERROR);
  loop = uv_default_loop();
  dfs_conn_opts o = {.limits = {FULL_PAYLOAD, FULL_BULK},
                     .pre_auth = {PRE_PAYLOAD, 0},
                     .auth_timeout_ms = 10000,
                     .on_request = on_request};
  dfs_server *srv;
  if (dfs_server_listen(loop, "127.0.0.1", 0, &o, &srv)) abort();
  port = dfs_server_port(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!loop) setup();
  static const dfs_frame_limits pre = {PRE_PAYLOAD, 0}, full = {DFS_MAX_PAYLOAD, DFS_MAX_BULK};
  for (size_t off = 0; off + DFS_FRAME_HDR_LEN <= size && off < 4 * DFS_FRAME_HDR_LEN; off += DFS_FRAME_HDR_LEN) {
    check_decode(data + off, &pre);
    check_decode(data + off, &full);
  }
  fz_client cl;
  fz_connect(&cl, loop, port);
  fz_write(&cl, data, size);
  fz_finish(&cl);
  return 0;
}
