/* How the CLI turns what the user typed into paths: remote paths (`~`, `~/x`, `~bob/x`,
 * relative paths against the logged-in user's /home/<user>), the remote destination of
 * `dfs put LOCAL [REMOTE]` and the local destination of `dfs get REMOTE [LOCAL]`. Pure
 * string logic; whether a path is an existing directory is asked through a callback so
 * it can be unit tested. */
#ifndef DFS_CLI_PATHS_H
#define DFS_CLI_PATHS_H

#include <stddef.h>

/* Returns 1 if path is an existing directory, 0 if not (or missing), < 0 on an error
 * that should stop the command (err filled by the callee). */
typedef int (*cli_isdir_fn)(const char *path, void *ud);

/* Last component of a local or remote path, ignoring trailing '/'s, written to out.
 * DFS_EINVAL if there is none ("/", "", "."). */
int cli_basename(const char *path, char *out, size_t outsz);

/* The home directory of user ("/home/<user>") into out. DFS_EINVAL for an invalid name. */
int cli_home_dir(const char *user, char *out, size_t outsz);

/* Resolves a remote path as typed into a normalised absolute path in out:
 *   "~" or "~/x"      -> /home/<user>[/x]   (user NULL/"": DFS_EAUTH, not logged in)
 *   "~bob" or "~bob/x" -> /home/bob[/x]     (invalid name: DFS_EINVAL)
 *   "x/y" (relative)   -> /home/<user>/x/y when user is set, else /x/y
 *   "/x" (absolute)    -> /x
 * user: the logged-in user or NULL. Returns 0, DFS_EAUTH, DFS_EINVAL, DFS_EBADPATH or
 * DFS_ETOOBIG. */
int cli_remote_path(const char *user, const char *in, char *out, size_t outsz);

/* Undoes the shell's expansion of an unquoted ~: if arg is exactly local_home ($HOME)
 * or starts with local_home + "/", writes "~" + the rest to out and returns 1; else 0
 * (also when local_home is NULL, "" or "/"). So `dfs ls -R ~` lists /home/<user> even
 * when the local $HOME is another directory. DFS_ETOOBIG if out is too small. */
int cli_unexpand_home(const char *arg, const char *local_home, char *out, size_t outsz);

/* Remote destination for put: REMOTE omitted -> the user's home (or "/" when user is
 * NULL) + "/" + basename(local); REMOTE ending in '/' or an existing directory (isdir on
 * the resolved path) -> REMOTE/basename; else REMOTE. REMOTE is resolved with
 * cli_remote_path(user, ...). Result normalised into out. Returns 0,
 * DFS_EINVAL/DFS_EBADPATH/DFS_ETOOBIG/DFS_EAUTH, or the callback's negative code. */
int cli_put_dest(const char *local, const char *remote, const char *user, cli_isdir_fn isdir,
                 void *ud, char *out, size_t outsz);

/* Local destination for get: LOCAL omitted -> "./" + basename(remote); LOCAL ending in
 * '/' or an existing directory -> LOCAL/basename; else LOCAL. ("-" is handled by the
 * caller.) Returns 0, DFS_EINVAL or DFS_ETOOBIG. */
int cli_get_dest(const char *remote, const char *local, cli_isdir_fn isdir, void *ud,
                 char *out, size_t outsz);

/* 1 if the local path is an existing directory (stat), else 0. */
int cli_local_isdir(const char *path, void *ud);

#endif
