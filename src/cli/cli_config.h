/* Where the dfs CLI finds its servers and how it talks to them. Every server address is
 * resolved the same way: a flag, then an environment variable, then a key in
 * $XDG_CONFIG_HOME/dfs/dfs.yaml (or ~/.config/dfs/dfs.yaml), then a default:
 *   metad: --meta, $DFS_META, `meta:`, 127.0.0.1:9400
 *   authd: --auth, $DFS_AUTH, `auth:`, 127.0.0.1:9500
 * TLS: `tls.enabled`/`tls.ca` in the file, overridden by --tls-ca FILE or $DFS_TLS_CA
 * (either turns TLS on). Pure functions of their inputs, unit tested. */
#ifndef DFS_CLI_CONFIG_H
#define DFS_CLI_CONFIG_H

#include <stddef.h>

#include "common/tls.h"

#define CLI_DEFAULT_META "127.0.0.1:9400"
#define CLI_DEFAULT_AUTH "127.0.0.1:9500"

/* One server address source chain (static strings). */
typedef struct {
  const char *service;  /* "metad": for messages */
  const char *flag;     /* "--meta" */
  const char *env;      /* "$DFS_META" */
  const char *key;      /* config key "meta" */
  const char *def;      /* CLI_DEFAULT_META */
} cli_addr_spec;

extern const cli_addr_spec cli_meta_spec, cli_auth_spec;

/* Path of the user's config file from xdg ($XDG_CONFIG_HOME, may be NULL/empty) and home
 * ($HOME, may be NULL): written to out. Returns 0, or DFS_ENOENT if neither is set. */
int cli_config_path(const char *xdg, const char *home, char *out, size_t outsz);

/* Resolves one server address into out (HOST:PORT). flag: the flag's value or NULL; env:
 * the variable's value or NULL (empty = unset); cfg_path: config file (may be NULL or
 * missing: skipped). A present but unreadable/invalid config file, or an invalid
 * address from any source, returns DFS_ECONFIG/DFS_EINVAL with a one-line reason in err.
 * *source (may be NULL) is set to a static string naming where the address came from. */
int cli_resolve_addr(const cli_addr_spec *spec, const char *flag, const char *env,
                     const char *cfg_path, char *out, size_t outsz, const char **source,
                     char *err, size_t errsz);

/* cli_resolve_addr with cli_meta_spec / cli_auth_spec. */
int cli_resolve_meta(const char *flag, const char *env, const char *cfg_path, char *out,
                     size_t outsz, const char **source, char *err, size_t errsz);
int cli_resolve_auth(const char *flag, const char *env, const char *cfg_path, char *out,
                     size_t outsz, const char **source, char *err, size_t errsz);

/* Builds the client TLS context: the config file's tls.* keys (if cfg_path exists), with
 * ca_flag (--tls-ca) or else ca_env ($DFS_TLS_CA, empty = unset) forcing tls.enabled and
 * tls.ca. *out = NULL when TLS stays off; otherwise free with dfs_tls_ctx_free. 0, or
 * DFS_ECONFIG with a one-line reason in err. */
int cli_tls_setup(const char *ca_flag, const char *ca_env, const char *cfg_path,
                  dfs_tls_ctx **out, char *err, size_t errsz);

#endif
