/* Fuzz target (c, metad): what metad does with a peer's bytes before authentication,
 * through its real functions: the raw scan for a client request's token
 * (auth_token_of, run on every client request before anything is decoded), the
 * chunkserver Register decode and the constant-time cluster-secret check
 * (auth_secret_ok), and the frame header under metad's pre-auth limits. The full
 * dispatch needs a running Raft node and is covered by tests/integration/test_fuzz.py.
 * First byte: which of the three; the rest is the payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_meta.pb-c.h"
#include "common/errors.h"
#include "common/frame.h"
#include "metad/auth.h"

#define FZ_METAD_SECRET "fuzz-cluster-secret"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static metad md_secret, md_open;

static void token_scan(const uint8_t *p, size_t n) {
  const uint8_t *tok;
  size_t len;
  int rc = auth_token_of(p, n, &tok, &len);
  if (rc != 0 && rc != DFS_EPROTO) abort();
  if (rc == 0 && len && (tok < p || len > n || tok > p + (n - len))) {
    fprintf(stderr, "auth_token_of: token outside the payload\n");
    abort();
  }
}

static void register_check(const uint8_t *p, size_t n) {
  Dfs__RegisterReq *rq = dfs__register_req__unpack(NULL, n, p);
  if (!rq) return;
  int ok = auth_secret_ok(&md_secret, rq->cluster_secret);
  if (ok != (strcmp(rq->cluster_secret, FZ_METAD_SECRET) == 0)) {
    fprintf(stderr, "auth_secret_ok(%s) = %d\n", rq->cluster_secret, ok);
    abort();
  }
  if (!auth_secret_ok(&md_open, rq->cluster_secret)) abort(); /* no secret: anyone */
  dfs__register_req__free_unpacked(rq, NULL);
}

static void preauth_header(const uint8_t *p, size_t n) {
  if (n < DFS_FRAME_HDR_LEN) return;
  dfs_frame_limits pre = {64u << 10, 0};
  dfs_frame_hdr h;
  if (dfs_frame_decode_hdr(p, &pre, &h) == 0 && (h.payload_len > pre.max_payload || h.bulk_len))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!md_secret.cluster_secret[0])
    snprintf(md_secret.cluster_secret, sizeof md_secret.cluster_secret, "%s", FZ_METAD_SECRET);
  if (size < 1) return 0;
  switch (data[0] % 3) {
  case 0: token_scan(data + 1, size - 1); break;
  case 1: register_check(data + 1, size - 1); break;
  default: preauth_header(data + 1, size - 1); break;
  }
  return 0;
}
