/* cron: the daemon's clock (cron.h). Every MD_CRON_MS one tick, in this order:
 *
 *   1. leadership: rg_poll_leadership polls raft; a change comes back through
 *      md_leadership_changed (soft state reset; a new leader becomes ready only once its
 *      first entry of the term is applied, and then serves at once);
 *   2. serving (md_serve_jobs): garbage collection (gc.c), promise expiry
 *      (promises.c), replication scans (repl_sched.c), the token cache sweep (auth.c),
 *      parked requests (front_door.c);
 *   3. trash expiry (trash_handlers.c; also before every client request);
 *   4. dead chunkservers (servers.c: no heartbeat for chunkservers.dead_timeout).
 *
 * Each job checks for itself whether this node is the ready leader and rate-limits
 * itself; nothing else in metad runs on a timer of its own except the delayed closes of
 * refused connections (replies.c) and raft's and libuv's own timers. */
#include "metad/cron.h"

#include "common/errors.h"

#include "common/util.h"
#include "metad/alloc_handlers.h"
#include "metad/auth.h"
#include "metad/front_door.h"
#include "metad/gc.h"
#include "metad/limits.h"
#include "metad/promises.h"
#include "metad/raft_glue.h"
#include "metad/repl_sched.h"
#include "metad/trash_handlers.h"
#include "metad/uploads.h"

/* The jobs that serve: what a new ready leader runs at once, and shutdown once more. */
static void md_serve_jobs(metad *md) {
  uint64_t now = dfs_now_ms();
  gc_tick(md, now);
  if (md->leader_ready) promises_expire(md->promises, &md->fsm->servers, now);
  repl_sched_tick(md, now);
  auth_poll(md);
  front_door_unpark(md);
}

static void on_tick(uv_timer_t *t) {
  metad *md = t->data;
  if (md->shutting_down) return;
  rg_poll_leadership(md);
  md_serve_jobs(md);
  md_trash_expire(md); /* no-op unless the ready leader; rate-limited inside */
  servers_check_dead(&md->fsm->servers, dfs_now_ms(), (uint64_t)md->dead_timeout_ms);
}

void md_cron_start(metad *md) {
  uv_timer_init(md->loop, &md->cron_timer);
  md->cron_timer.data = md;
  uv_timer_start(&md->cron_timer, on_tick, 0, MD_CRON_MS);
  md->cron_started = 1;
}

void md_cron_stop(metad *md) {
  if (md->cron_started) {
    uv_timer_stop(&md->cron_timer);
    uv_close((uv_handle_t *)&md->cron_timer, NULL);
    md->cron_started = 0;
  }
  md_serve_jobs(md); /* answers parked requests: "shutting down" */
}

int md_leader_state_new(metad *md) {
  md->limits = limits_new();
  md->promises = promises_new();
  md->uploads = uploads_new((uint64_t)md->upload_lease_ms);
  return md->limits && md->promises && md->uploads ? 0 : DFS_ENOMEM;
}

void md_leader_state_free(metad *md) {
  limits_free(md->limits);
  promises_free(md->promises);
  uploads_free(md->uploads);
  md->limits = NULL;
  md->promises = NULL;
  md->uploads = NULL;
}

void md_leader_state_reset(metad *md, int ready) {
  limits_reset(md->limits); /* shares are the leader's soft state */
  promises_reset(md->promises, &md->fsm->servers);
  uploads_reset(md->uploads);
  alloc_leader_changed(md, ready);
}

void md_leadership_changed(metad *md, int ready) {
  md_leader_state_reset(md, ready);
  if (ready) md_serve_jobs(md); /* serve requests that waited for a ready leader */
}
