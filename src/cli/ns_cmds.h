/* Helpers shared by the namespace commands (ns_cmds.c, ls.c, shell.c): one metad call
 * with the standard error line, and an Entry as JSON. */
#ifndef DFS_CLI_NS_CMDS_H
#define DFS_CLI_NS_CMDS_H

#include <stdio.h>

#include "cli/commands.h"
#include "client_meta.pb-c.h"

/* Stats path; 0 and *out (caller frees with dfs__stat_rep__free_unpacked), or a
 * negative DFS_E* (error line printed for cmd unless quiet_enoent and it is ENOENT). */
int cli_stat(cli_ctx *ctx, const char *cmd, const char *path, int quiet_enoent,
             Dfs__StatRep **out);

/* Lists path; 0 and *out (caller frees), or a negative DFS_E* (error line printed
 * unless silent). Entries sorted by name. */
int cli_list(cli_ctx *ctx, const char *cmd, const char *path, int silent, Dfs__ListRep **out);

/* Writes e as one JSON object (path: the full path, or NULL to leave it out). */
void cli_entry_json(FILE *f, const char *path, const Dfs__Entry *e);
/* The text block of `dfs stat` and `dfs info` on stdout: path, type, size (or entries),
 * mode, owner, mtime, for a file its replicas and chunks, and the inode. goal_words:
 * "goal:     N replicas" (info) instead of "replicas: N" (stat). */
void cli_print_entry_text(const char *path, const Dfs__Entry *e, int goal_words);

/* parent + "/" + name normalised into out (DFS_PATH_MAX + 1). 0 or DFS_ETOOBIG. */
int cli_child_path(const char *parent, const char *name, char *out);

#endif
