/* The state shared by chunkd's modules on the loop thread: the store, the identity
 * metad gave us and the load counter. One instance, owned by main.c, lives for the
 * whole run; every field is read and written on the loop thread only (the store has
 * its own lock, see chunk_store.h). */
#ifndef DFS_CHUNKD_STATE_H
#define DFS_CHUNKD_STATE_H

#include <stdint.h>
#include <uv.h>

#include "chunkd/chunk_store.h"
#include "common/cap.h"
#include "common/tls.h"

typedef struct {
  uv_loop_t *loop;
  chunk_store *store;               /* owned by main.c */
  uint64_t server_id;               /* 0 until metad answered a Register (meta_link.c) */
  uint32_t load;                    /* client requests in progress (data_server.c) */
  uint64_t chain_timeout_ms;        /* how long a downstream write may take */
  uint64_t idle_timeout_ms;         /* connections.idle_timeout: a silent client is closed */
  uint32_t max_inflight;            /* writes+reads in progress before DFS_EBUSY */
  dfs_tls_ctx *tls_server;          /* NULL = plaintext; for our listener (owned by main.c) */
  dfs_tls_ctx *tls_client;          /* NULL = plaintext; for downstream and metad links */
  const char *cluster_secret;       /* NULL = capabilities not checked; else sent in Register */
  uint8_t cap_key[DFS_CAP_KEY_LEN]; /* from cluster_secret: checks every read and write */
  unsigned work_inflight;           /* thread-pool items queued by chunkd_queue_work, not done */
  /* A corrupt chunk was found and quarantined (set by main.c to meta_link_kick: an
   * early heartbeat reports it in bad_chunks; may be NULL). */
  void (*corrupt_found)(void *ud);
  void *corrupt_ud;
  /* A client's write stored a chunk (set by main.c to meta_link_chunk_stored, with
   * corrupt_ud: reported soon, see there; may be NULL). */
  void (*chunk_stored)(void *ud);
  struct copy_jobs *copies; /* the copy-job executor (copy_jobs.h; owned by main.c) */
  struct pack_syncer *pack_sync; /* flushes packed writes (pack_sync.h; owned by main.c) */
} chunkd_state;

/* uv_queue_work that counts the item in st->work_inflight, so that shutdown can wait
 * for every item before the store is closed. The after-callback must call
 * chunkd_work_done(st). Returns uv_queue_work's result. */
static inline int chunkd_queue_work(chunkd_state *st, uv_work_t *w, uv_work_cb run,
                                    uv_after_work_cb done) {
  int rc = uv_queue_work(st->loop, w, run, done);
  if (rc == 0) st->work_inflight++;
  return rc;
}
static inline void chunkd_work_done(chunkd_state *st) { st->work_inflight--; }

#endif
