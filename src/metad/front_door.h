/* front_door: metad's one entry point for requests (what processCommand is to Redis).
 * Every frame the listening socket decodes comes to md_on_request; the route table in
 * front_door.c maps its message type to ONE handler (handlers.h). Client requests are
 * redirected by followers and authenticated by auth.c before their handler runs;
 * chunkserver messages need a Register with the cluster secret first. Requests that
 * arrive while no leader is ready are parked here and served (or failed) by
 * front_door_unpark. Loop thread only. */
#ifndef METAD_FRONT_DOOR_H
#define METAD_FRONT_DOOR_H

#include <stdint.h>

#include "common/conn.h"
#include "metad/metad.h"

/* The on_request callback of the listening server (conn data = metad*). Takes msg. */
void md_on_request(dfs_conn *c, dfs_msg *msg);
/* on_close of accepted connections: forgets chunkserver registrations on c. */
void md_on_close(dfs_conn *c);

/* Dispatches parked requests once a leader is ready; fails those that waited PARK_MS,
 * whose connection closed, or all of them when shutting down. From the clock (cron.c)
 * and when this node becomes the ready leader. */
void front_door_unpark(metad *md);

#endif
