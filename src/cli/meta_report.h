/* How the CLI words a failed meta_call (client/meta_client.h) for a person: one line
 * naming what went wrong and what to do ("cannot reach metad at ... start it with
 * scripts/cluster up", "not logged in ... run 'dfs login'"). The client library itself
 * only returns codes and messages; this is the CLI's voice. */
#ifndef DFS_CLI_META_REPORT_H
#define DFS_CLI_META_REPORT_H

#include "client/meta_client.h"

/* Prints the standard "cannot reach metad" / error line for a failed meta_call;
 * DFS_EAUTH prints "dfs: CMD: not logged in or session expired (run 'dfs login')". */
void meta_report(const meta_client *mc, const char *cmd, int rc, const char *err);
/* Same, but names `path` first unless the server's message already does. */
void meta_report_path(const meta_client *mc, const char *cmd, const char *path, int rc,
                      const char *err);

#endif
