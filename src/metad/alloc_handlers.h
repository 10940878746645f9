/* alloc_handlers: Alloc and Commit (handlers.h) and the leader's chunk-id pool they
 * share with the waiting Allocs (alloc_handlers.c). */
#ifndef METAD_ALLOC_HANDLERS_H
#define METAD_ALLOC_HANDLERS_H

#include "metad/metad.h"

/* Leadership changed (ready = 1: this node is now the ready leader): the pool starts
 * over; a new leader reserves ids, a former one fails its waiting Allocs. */
void alloc_leader_changed(metad *md, int ready);
/* Fails every waiting Alloc (not the leader, or shutting down). */
void alloc_shutdown(metad *md);

#endif
