/* gc: garbage collection of chunk files no file references (gc.h). A chunk a server
 * reports that no file references is watched until gc.orphan_grace after it was
 * written. Then the leader first logs OP_RETIRE_ORPHANS with the ids (a
 * commit applied before that entry keeps its chunks; one applied after is refused) and
 * only once that entry is applied queues the deletes: a commit can never be
 * acknowledged for a chunk whose file is gone (an upload slower than the grace used to
 * lose its first chunks silently). One such entry in flight at a time
 * (md->orphans_inflight), a collection at most once a second (md->gc_last_ms). The
 * watch list and the retire decisions are leader soft state; the retired ids are
 * durable (fsm). */
#include "metad/gc.h"

#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"
#include "metad/raft_glue.h"
#include "metad/uploads.h"
#define ORPHANS_PER_ENTRY 4096

typedef struct {
  size_t n;
  servers_orphan v[];
} orphan_batch;

/* Garbage unless a file holds it or its upload is still alive (then: look again when
 * that upload's lease may have run out). */
static uint64_t orphan_verdict(void *ud, uint64_t chunk) {
  metad *md = ud;
  if (chunks_get(&md->fsm->chunks, chunk)) return SERVERS_WATCH_FORGET;
  return uploads_alive_until(md->uploads, chunk, dfs_now_ms());
}

/* Not deleted this time (no longer the leader, out of memory): watched again. */
static void orphans_rewatch(metad *md, const orphan_batch *b) {
  uint64_t again = dfs_now_ms() + 1000;
  for (size_t i = 0; i < b->n; i++)
    servers_watch_chunk(&md->fsm->servers, b->v[i].server, b->v[i].chunk, again);
}

static void orphans_retired(metad *md, md_waiter *w, int status) {
  orphan_batch *b = w->ud;
  md->orphans_inflight = 0;
  if (status) {
    orphans_rewatch(md, b);
  } else {
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
      uint64_t id = b->v[i].chunk;
      if (!fsm_is_retired(md->fsm, id) || chunks_get(&md->fsm->chunks, id)) continue;
      servers_queue_delete(&md->fsm->servers, b->v[i].server, id);
      n++;
    }
    if (n) LOG_INFO("%zu chunk file(s) never committed within gc.orphan_grace: deleting", n);
  }
  md_waiter_free(w);
}

static void collect_orphans(metad *md, uint64_t now) {
  if (md->orphans_inflight) return;
  orphan_batch *b = malloc(sizeof *b + ORPHANS_PER_ENTRY * sizeof b->v[0]);
  if (!b) return;
  b->n = servers_take_orphans(&md->fsm->servers, now, orphan_verdict, md, b->v,
                              ORPHANS_PER_ENTRY);
  ops_chunk *ids = b->n ? calloc(b->n, sizeof *ids) : NULL;
  ops_op op = {0};
  op.type = OP_RETIRE_ORPHANS;
  op.rid = rg_new_rid();
  op.path = op.str = "";
  op.mtime_ns = dfs_wall_ns();
  op.nchunks = (uint32_t)b->n;
  md_waiter *w = ids ? md_waiter_new(NULL, NULL, op.rid, orphans_retired) : NULL;
  if (!w) {
    orphans_rewatch(md, b);
    free(b);
    free(ids);
    return;
  }
  for (size_t i = 0; i < b->n; i++) ids[i].id = b->v[i].chunk;
  w->ud = b;
  w->ud_free = free;
  if (rg_submit(md, &op, ids, w)) {
    orphans_rewatch(md, b);
    md_waiter_free(w);
  } else {
    md->orphans_inflight = 1;
  }
  free(ids);
}

void gc_tick(metad *md, uint64_t now) {
  if (!md->leader_ready || now - md->gc_last_ms < 1000) return;
  md->gc_last_ms = now;
  collect_orphans(md, now);
}
