/* handlers: metad's request dispatch. client_handlers.c serves client <-> metad
 * messages (client_meta.proto) and owns the leader's chunk-id pool and waiting Allocs;
 * chunkserver_handlers.c serves chunkd <-> metad messages (chunk_meta.proto). */
#ifndef METAD_HANDLERS_H
#define METAD_HANDLERS_H

#include "common/conn.h"
#include "metad/metad.h"

/* The on_request callback for the listening server (conn data = metad*). Takes msg. */
void md_on_request(dfs_conn *c, dfs_msg *msg);
/* on_close of accepted connections: forgets chunkserver registrations on c. */
void md_on_close(dfs_conn *c);

/* Client side: one entry per message type, run as user u (after auth.c validated the
 * token; an auth_run_cb). Makes u's home first if missing (the request then waits for
 * that log entry and *m is taken). Returns after replying (or queueing); the caller
 * frees m. */
void client_handle(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);
int client_handles(uint16_t type);
/* Chunkserver side. */
void chunkserver_handle(metad *md, dfs_conn *c, dfs_msg *m);
int chunkserver_handles(uint16_t type);
void chunkserver_conn_closed(metad *md, dfs_conn *c);
/* Shutdown: closes connections that were refused and wait to be closed. */
void chunkserver_shutdown(metad *md);

/* Leadership changed (ready = 1: this node is now the ready leader; 0: it lost it):
 * resets the chunk-id pool and fails waiting Allocs. */
void handlers_leader_changed(metad *md, int ready);
/* Called every poll tick: re-dispatches requests parked while no leader was ready. */
void handlers_poll(metad *md);
/* Ready leader, at most once a second: submits OP_TRASH_EXPIRE when a trash item has
 * expired (client_handlers.c; from every client request and every poll tick). */
void handlers_trash_expire(metad *md);
/* Fails everything the handlers hold (shutdown). */
void handlers_shutdown(metad *md);

/* Sends a reply carrying only a Status, for any request type whose reply is
 * {Status status = 1;} or starts with it. */
void md_reply_status(dfs_conn *c, const dfs_frame_hdr *hdr, int err, const char *msg);

#endif
