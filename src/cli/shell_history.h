/* The interactive shell's history between sessions: $XDG_CONFIG_HOME/dfs/history
 * (default ~/.config/dfs/history), at most CLI_HISTORY_MAX lines (the newest), mode
 * 0600 in a 0700 directory (commands may name private paths), written atomically (temp
 * file + rename) when the shell ends. Only the interactive shell uses it: a script
 * (non-terminal stdin) neither reads nor writes it. libedit's format (H_LOAD/H_SAVE). */
#ifndef DFS_CLI_SHELL_HISTORY_H
#define DFS_CLI_SHELL_HISTORY_H

#include <histedit.h>
#include <stddef.h>

#define CLI_HISTORY_MAX 1000

/* History file path from $XDG_CONFIG_HOME / $HOME (either may be NULL). 0, DFS_ENOENT
 * if neither is set, DFS_ETOOBIG. */
int cli_history_path(const char *xdg, const char *home, char *out, size_t outsz);

/* Loads path into h (borrowed) if the file exists; h keeps at most CLI_HISTORY_MAX. */
void cli_history_load(History *h, const char *path);

/* Writes h's newest CLI_HISTORY_MAX entries to path (mode 0600, parents 0700). 0, or -1
 * after printing one warning line (the shell still ends normally). */
int cli_history_save(History *h, const char *path);

#endif
