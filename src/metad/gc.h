/* gc: the leader's garbage collection of chunk files that no file references and
 * whose upload is over (gc.c). Driven by the clock (cron.c). */
#ifndef METAD_GC_H
#define METAD_GC_H

#include <stdint.h>

#include "metad/metad.h"

/* Ready leader, at most once a second: retires the watched chunks that have been
 * garbage for gc.orphan_grace through the log (OP_RETIRE_ORPHANS), then queues their
 * deletes on the servers holding them. */
void gc_tick(metad *md, uint64_t now);

#endif
