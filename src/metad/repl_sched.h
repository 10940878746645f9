/* repl_sched: when the leader scans for chunks to re-replicate, trim or rebalance
 * (replication.h does the scan; repl_sched.c decides when). */
#ifndef METAD_REPL_SCHED_H
#define METAD_REPL_SCHED_H

#include <stdint.h>

#include "metad/metad.h"

/* The clock's part (cron.c): resets the queues when leadership changes, then scans when
 * replication.scan_interval has passed, or sooner after an event. */
void repl_sched_tick(metad *md, uint64_t now);
/* One replication scan, timed (repl.scan_us); none while chunkservers are still
 * re-registering with a new leader (rg_reregistering). */
void repl_sched_scan(metad *md, uint64_t now);
/* Least time between scans started by events (copy results, reports): at least base_ms,
 * and ten times what the last scan took, so that scans of a big chunk table use at most
 * about a tenth of the loop while copies stream in. */
uint64_t repl_sched_gap(const metad *md, uint64_t base_ms);

#endif
