/* Remote globs: the one way get, rm, ls, cp and mv turn a quoted pattern like
 * 'logs/2026-*' or 'photos/img?.jp[e]g' into the remote paths it names. The client
 * expands it against metad's listings, component by component, listing only the
 * directories the pattern needs: *, ? and [...] as in fnmatch(3) with
 * FNM_PATHNAME|FNM_PERIOD (* never matches '/', a leading '.' must be matched by a '.'),
 * in any component; results sorted. A pattern that matches nothing is an error (like
 * bash's failglob), so a command does nothing rather than act on a literal '*'. A
 * backslash makes the next character literal (`\*` names a file called '*'). */
#ifndef DFS_CLI_REMOTE_GLOB_H
#define DFS_CLI_REMOTE_GLOB_H

#include <stddef.h>

#include "cli/commands.h"

#define CLI_GLOB_MAX_MATCHES 100000 /* paths one command may expand to */
#define CLI_GLOB_MAX_READS 10000    /* directory listings (and stats) per command */

typedef struct {
  char **paths;  /* owned (each malloc'd): resolved absolute paths, in argument order,
                    each pattern's matches sorted */
  size_t n, cap;
  size_t reads;  /* listings and stats spent so far (bounded by CLI_GLOB_MAX_READS) */
} cli_glob_list;

void cli_glob_init(cli_glob_list *g);
void cli_glob_free(cli_glob_list *g);

/* 1 if s has an unescaped *, ? or [...] (a '[' with a later ']'), else 0. */
int cli_glob_has_magic(const char *s);

/* Removes the escapes of a literal in place: \* \? \[ \] \\ become the character; any
 * other backslash is kept (an existing name with a backslash still works as typed). */
void cli_glob_unescape(char *s);

/* Expands the remote argument arg as typed (~, home, the shell's cwd: cli_remote_arg)
 * and appends the paths to g: without magic, the one resolved path with its backslash
 * escapes removed (not checked: the command reports a missing file itself); with magic,
 * every existing path it matches. Returns 0, or CLI_FAIL after printing one line for cmd
 * (no match, more than the bounds above, an unusable path, metad unreachable). */
int cli_remote_glob(cli_ctx *ctx, const char *cmd, const char *arg, cli_glob_list *g);

/* cli_remote_glob of args[0..n) in order into g; stops at the first failure (CLI_FAIL,
 * printed), so a command can refuse to do anything. */
int cli_remote_glob_all(cli_ctx *ctx, const char *cmd, const char *const *args, size_t n,
                        cli_glob_list *g);

#endif
