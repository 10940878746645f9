/* cron: the daemon's clock, one periodic function for every job metad runs on time
 * (what serverCron is to Redis), and what the leader's soft state does when leadership
 * changes. main.c starts it after raft and stops it on shutdown. */
#ifndef METAD_CRON_H
#define METAD_CRON_H

#include "metad/metad.h"

#define MD_CRON_MS 50 /* period of the clock */

/* Starts the clock (first tick at once). raft must be set up (rg_init). */
void md_cron_start(metad *md);
/* Shutdown (md->shutting_down set): stops the clock and runs the serving jobs one last
 * time, so that parked requests are answered "shutting down". */
void md_cron_stop(metad *md);

/* raft_glue's on_leadership callback (pass it to rg_init): resets the leader's soft
 * state (md_leader_state_reset), and a new ready leader serves at once what waited for
 * it (parked requests, replication, garbage). */
void md_leadership_changed(metad *md, int ready);
/* Creates the leader's soft state: per-user shares (limits.h), space promises
 * (promises.h), live uploads (uploads.h, md->upload_lease_ms must be set). 0 or
 * DFS_ENOMEM. Freed by md_leader_state_free. main.c and the fuzzers' metad use these. */
int md_leader_state_new(metad *md);
void md_leader_state_free(metad *md);
/* The leader's soft state starts over: per-user shares, space promises, live uploads,
 * the chunk-id pool (a new leader reserves ids; a former one fails waiting Allocs). */
void md_leader_state_reset(metad *md, int ready);

#endif
