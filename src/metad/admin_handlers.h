/* admin_handlers: the operator's requests, answered from the leader's soft state:
 * Cluster (servers with state, free space, copy jobs; replication health counts) and
 * Fsck (per-file replication health below a path); ForgetSessions (drop a disabled
 * user's cached tokens). Routed by front_door.c's
 * route table; md_client_handler like the other client handlers (handlers.h). */
#ifndef METAD_ADMIN_HANDLERS_H
#define METAD_ADMIN_HANDLERS_H

#include "common/conn.h"
#include "metad/handlers.h"
#include "metad/metad.h"

/* Reply to a ClusterReq (any authenticated user). Does not take m. */
void admin_h_cluster(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);
/* Reply to a FsckReq: files below path the user may read. Does not take m. */
void admin_h_fsck(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);
/* Reply to a ForgetSessionsReq (administrators only): auth_forget_user. Does not take m. */
void admin_h_forget_sessions(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);

#endif
