/* Where put and get put things: the remote destination of `dfs put LOCAL [REMOTE]` and
 * the local destination of `dfs get REMOTE [LOCAL]`. Pure string logic; whether a path
 * is an existing directory is asked through a callback so it can be unit tested. */
#ifndef DFS_CLI_PATHS_H
#define DFS_CLI_PATHS_H

#include <stddef.h>

/* Returns 1 if path is an existing directory, 0 if not (or missing), < 0 on an error
 * that should stop the command (err filled by the callee). */
typedef int (*cli_isdir_fn)(const char *path, void *ud);

/* Last component of a local or remote path, ignoring trailing '/'s, written to out.
 * DFS_EINVAL if there is none ("/", "", "."). */
int cli_basename(const char *path, char *out, size_t outsz);

/* Remote destination for put: REMOTE omitted -> "/" + basename(local); REMOTE ending in
 * '/' or an existing directory (isdir on the normalised path) -> REMOTE/basename; else
 * REMOTE. Relative REMOTEs are relative to "/". Result normalised into out. Returns 0,
 * DFS_EINVAL/DFS_EBADPATH/DFS_ETOOBIG, or the callback's negative code. */
int cli_put_dest(const char *local, const char *remote, cli_isdir_fn isdir, void *ud,
                 char *out, size_t outsz);

/* Local destination for get: LOCAL omitted -> "./" + basename(remote); LOCAL ending in
 * '/' or an existing directory -> LOCAL/basename; else LOCAL. ("-" is handled by the
 * caller.) Returns 0, DFS_EINVAL or DFS_ETOOBIG. */
int cli_get_dest(const char *remote, const char *local, cli_isdir_fn isdir, void *ud,
                 char *out, size_t outsz);

/* 1 if the local path is an existing directory (stat), else 0. */
int cli_local_isdir(const char *path, void *ud);

#endif
