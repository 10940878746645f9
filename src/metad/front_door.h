/* front_door: metad's one entry point for requests (what processCommand is to Redis).
 * Every frame the listening socket decodes comes to md_on_request; the route table in
 * front_door.c maps its message type to ONE handler (handlers.h). Client requests are
 * redirected by followers and authenticated by auth.c before their handler runs;
 * chunkserver messages need a Register with the cluster secret first. Requests that
 * arrive while no leader is ready are parked here and served (or failed) by
 * front_door_unpark. Also the reply helpers every handler uses. Loop thread only. */
#ifndef METAD_FRONT_DOOR_H
#define METAD_FRONT_DOOR_H

#include <stdint.h>

#include "common/conn.h"
#include "metad/metad.h"
#include "metad/servers.h"

#include "common.pb-c.h"

/* The on_request callback of the listening server (conn data = metad*). Takes msg. */
void md_on_request(dfs_conn *c, dfs_msg *msg);
/* on_close of accepted connections: forgets chunkserver registrations on c. */
void md_on_close(dfs_conn *c);

/* Dispatches parked requests once a leader is ready; fails those that waited PARK_MS,
 * whose connection closed, or all of them when shutting down. From the clock (cron.c)
 * and when this node becomes the ready leader. */
void front_door_unpark(metad *md);
/* Closes c about 200 ms from now, so that the refusal just queued is written first
 * (c is referenced meanwhile). At once when shutting down. */
void front_door_close_soon(metad *md, dfs_conn *c);
/* Shutdown: closes at once the connections waiting in front_door_close_soon. */
void front_door_shutdown(metad *md);

/* ---- request and reply helpers ---- */

/* m's payload decoded as a desc message (the caller frees it with its free_unpacked),
 * or NULL after answering DFS_EPROTO "cannot decode <message name>". */
void *md_decode(dfs_conn *c, dfs_msg *m, const ProtobufCMessageDescriptor *desc);

/* Sends a reply carrying only a Status, for any request type whose reply is
 * {Status status = 1;} or starts with it. msg NULL or "": the error's own text. */
void md_reply_status(dfs_conn *c, const dfs_frame_hdr *hdr, int err, const char *msg);
/* Fills a (initialising it) with server e's id and address; a borrows e's strings. */
void md_fill_server_addr(Dfs__ServerAddr *a, const server_ent *e);
/* Wall-clock expiry (ms) of a chunk capability signed now (caps.ttl). */
int64_t md_cap_expiry(const metad *md);

#endif
