/* Helpers shared by the namespace commands (read_cmds.c, mutate_cmds.c, shell.c): one
 * metad call with the standard error line, an Entry as JSON or text, the one-PATH
 * argument form. */
#ifndef DFS_CLI_NS_CMDS_H
#define DFS_CLI_NS_CMDS_H

#include <stdint.h>
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "client_meta.pb-c.h"

/* Stats path; 0 and *out (caller frees with dfs__stat_rep__free_unpacked), or a
 * negative DFS_E* (error line printed for cmd unless quiet_enoent and it is ENOENT). */
int cli_stat(cli_ctx *ctx, const char *cmd, const char *path, int quiet_enoent,
             Dfs__StatRep **out);

/* Resolves the remote argument arg into path (DFS_PATH_MAX + 1 bytes) and stats it: 0
 * and *is_dir, or CLI_FAIL after printing the error line for cmd. */
int cli_stat_arg_is_dir(cli_ctx *ctx, const char *cmd, const char *arg, char *path, int *is_dir);

/* Lists path; 0 and *out (caller frees), or a negative DFS_E* (error line printed
 * unless silent). Entries sorted by name. */
int cli_list(cli_ctx *ctx, const char *cmd, const char *path, int silent, Dfs__ListRep **out);

/* Writes e as one JSON object (path: the full path, or NULL to leave it out). */
void cli_entry_json(FILE *f, const char *path, const Dfs__Entry *e);
/* The text block of `dfs stat` and `dfs info` on stdout: path, type, size (or entries),
 * mode, owner, mtime, for a file its replicas and chunks, and the inode. goal_words:
 * "goal:     N replicas" (info) instead of "replicas: N" (stat). */
void cli_print_entry_text(const char *path, const Dfs__Entry *e, int goal_words);

/* The fields of e as JSON members, without the braces (path NULL: left out). */
void cli_entry_json_fields(FILE *f, const char *path, const Dfs__Entry *e);

/* A command's arguments with specs and exactly one optional/required PATH (resolved
 * into path, DFS_PATH_MAX + 1 bytes; def: used when none is given). CLI_CONTINUE, or an
 * exit code to return. */
int cli_one_path_args(cli_ctx *ctx, const char *cmd, int argc, char **argv,
                      const cli_opt_spec *specs, size_t nspecs, cli_opt_val *v, int required,
                      const char *def, char *path);

/* One metad call of type with req, decoding the reply with desc into *out; on an error
 * prints the line for cmd and path and returns it (negative DFS_E*). */
int cli_simple_call(cli_ctx *ctx, const char *cmd, const char *path, uint16_t type,
                    ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
                    ProtobufCMessage **out);

/* parent + "/" + name normalised into out (DFS_PATH_MAX + 1). 0 or DFS_ETOOBIG. */
int cli_child_path(const char *parent, const char *name, char *out);

#endif
