/* repl_sched: when the leader's replication scans run (repl_sched.h). A new leader asks
 * every chunkserver for a full inventory and starts with empty queues; scans run every
 * replication.scan_interval, sooner after an event (server death, copy result, bad
 * replica), never while chunkservers are still re-registering with a new leader.
 * State: md->repl_was_ready and md->repl_last_live (what the last tick saw),
 * md->repl_last_scan_ms, md->repl.scan_us (what the last scan cost). */
#include "metad/repl_sched.h"

#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "metad/raft_glue.h"

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void repl_sched_scan(metad *md, uint64_t now) {
  if (rg_reregistering(md, NULL, 0)) return;
  uint64_t t0 = now_us();
  repl_scan(&md->repl, &md->fsm->chunks, &md->fsm->servers, now);
  md->repl.scan_us = now_us() - t0;
  md->repl_last_scan_ms = now;
  if (md->repl.scan_us > 100000)
    LOG_DEBUG("replication scan of %zu chunks took %llu ms", md->fsm->chunks.n,
              (unsigned long long)(md->repl.scan_us / 1000));
}

uint64_t repl_sched_gap(const metad *md, uint64_t base_ms) {
  uint64_t adaptive = md->repl.scan_us / 100; /* 10 x scan_us, in ms */
  return adaptive > base_ms ? adaptive : base_ms;
}

void repl_sched_tick(metad *md, uint64_t now) {
  servers_t *sv = &md->fsm->servers;
  if (md->leader_ready != md->repl_was_ready) {
    md->repl_was_ready = md->leader_ready;
    repl_reset(&md->repl);
    if (md->repl_was_ready)
      for (size_t i = 0; i < sv->n; i++) sv->v[i].need_inventory = sv->v[i].registered;
  }
  if (!md->leader_ready) return;
  size_t live = servers_live_count(sv);
  if (live != md->repl_last_live) md->repl.scan_wanted = 1; /* a server died or came back */
  md->repl_last_live = live;
  uint64_t soon = md->repl_scan_ms < 200 ? (uint64_t)md->repl_scan_ms : 200;
  if (now - md->repl_last_scan_ms >= (uint64_t)md->repl_scan_ms ||
      (md->repl.scan_wanted && now - md->repl_last_scan_ms >= repl_sched_gap(md, soon)))
    repl_sched_scan(md, now);
}

