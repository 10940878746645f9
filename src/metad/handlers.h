/* handlers: every request handler of metad, by the file that owns it. front_door.c's
 * route table maps each message type to exactly one of these; nothing else calls them.
 * A handler decodes its request, checks it, and replies (or hands an op to mutations.c,
 * which replies once it is applied). None takes m: the front door frees it. */
#ifndef METAD_HANDLERS_H
#define METAD_HANDLERS_H

#include "common/conn.h"
#include "metad/metad.h"

#define MAX_REPLICAS 16     /* the most replicas a file may ask for */
#define DEFAULT_REPLICAS 3  /* a file's replicas when its request names none */

/* A client <-> metad request (client_meta.proto), run as user u (borrowed). */
typedef void md_client_handler(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);
/* A chunkd <-> metad message (chunk_meta.proto). */
typedef void md_chunkserver_handler(metad *md, dfs_conn *c, dfs_msg *m);

/* ns_handlers.c: namespace mutations, through the log */
md_client_handler h_mkdir, h_delete, h_chmod, h_rename, h_copy, h_compose, h_setrep, h_touch,
    h_symlink;
/* read_handlers.c: answered from the leader's applied state */
md_client_handler h_list, h_stat, h_getfile, h_bad_replica;
/* read_handlers.c: the change feed (changes.h), answered from this node's ring */
md_client_handler h_watch;
/* alloc_handlers.c: chunk ids and placement, then the file's commit */
md_client_handler h_alloc, h_commit;
/* trash_handlers.c, search_handlers.c */
md_client_handler h_trash, h_search;
/* user_space.c */
md_client_handler h_quota;
/* admin_handlers.c: admin_h_cluster, admin_h_fsck (admin_handlers.h) */

/* chunkserver_handlers.c */
md_chunkserver_handler h_register, h_inventory, h_heartbeat;
/* A connection closed: its chunkserver stays alive until dead_timeout without
 * heartbeats (chunkserver_handlers.c). */
void chunkserver_conn_closed(metad *md, dfs_conn *c);

#endif
