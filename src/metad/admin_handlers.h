/* admin_handlers: the operator's requests, answered from the leader's soft state:
 * Cluster (servers with state, free space, copy jobs; replication health counts) and
 * Fsck (per-file replication health below a path). Registered in client_handlers.c's
 * client_table; same signature as the other client handlers. */
#ifndef METAD_ADMIN_HANDLERS_H
#define METAD_ADMIN_HANDLERS_H

#include "common/conn.h"
#include "metad/handlers.h"
#include "metad/metad.h"

/* Reply to a ClusterReq (any authenticated user). Does not take m. */
void admin_h_cluster(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);
/* Reply to a FsckReq: files below path the user may read. Does not take m. */
void admin_h_fsck(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u);

#endif
