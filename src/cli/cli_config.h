/* Where the dfs CLI finds metad: --meta, then $DFS_META, then `meta:` in
 * $XDG_CONFIG_HOME/dfs/dfs.yaml (or ~/.config/dfs/dfs.yaml), then 127.0.0.1:9400.
 * The resolution is a pure function of its inputs so it can be unit tested. */
#ifndef DFS_CLI_CONFIG_H
#define DFS_CLI_CONFIG_H

#include <stddef.h>

#define CLI_DEFAULT_META "127.0.0.1:9400"

/* Path of the user's config file from xdg ($XDG_CONFIG_HOME, may be NULL/empty) and home
 * ($HOME, may be NULL): written to out. Returns 0, or DFS_ENOENT if neither is set. */
int cli_config_path(const char *xdg, const char *home, char *out, size_t outsz);

/* Resolves the metad address into out (HOST:PORT). flag: --meta value or NULL; env:
 * $DFS_META or NULL; cfg_path: config file (may be NULL or missing: skipped). A present
 * but unreadable/invalid config file, or an invalid address from any source, returns
 * DFS_ECONFIG/DFS_EINVAL with a one-line reason in err. *source (may be NULL) is set
 * to a static string naming where the address came from. */
int cli_resolve_meta(const char *flag, const char *env, const char *cfg_path, char *out,
                     size_t outsz, const char **source, char *err, size_t errsz);

#endif
