/* metad address resolution for the CLI (see cli_config.h). Reads the YAML config through
 * common/config (libyaml stays there). */
#include "cli/cli_config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/util.h"

int cli_config_path(const char *xdg, const char *home, char *out, size_t outsz) {
  int n;
  if (xdg && *xdg) n = snprintf(out, outsz, "%s/dfs/dfs.yaml", xdg);
  else if (home && *home) n = snprintf(out, outsz, "%s/.config/dfs/dfs.yaml", home);
  else return DFS_ENOENT;
  return (n < 0 || (size_t)n >= outsz) ? DFS_ETOOBIG : 0;
}

static int check_addr(const char *addr, const char *src, char *err, size_t errsz) {
  char host[256];
  int port;
  if (dfs_parse_hostport(addr, host, sizeof host, &port) != 0) {
    snprintf(err, errsz, "invalid metad address '%s' from %s (expected HOST:PORT)", addr, src);
    return DFS_EINVAL;
  }
  return 0;
}

static int set_out(const char *addr, const char *src, char *out, size_t outsz,
                   const char **source, char *err, size_t errsz) {
  int rc = check_addr(addr, src, err, errsz);
  if (rc) return rc;
  if ((size_t)snprintf(out, outsz, "%s", addr) >= outsz) {
    snprintf(err, errsz, "metad address from %s is too long", src);
    return DFS_EINVAL;
  }
  if (source) *source = src;
  return 0;
}

int cli_resolve_meta(const char *flag, const char *env, const char *cfg_path, char *out,
                     size_t outsz, const char **source, char *err, size_t errsz) {
  if (flag) return set_out(flag, "--meta", out, outsz, source, err, errsz);
  if (env && *env) return set_out(env, "$DFS_META", out, outsz, source, err, errsz);
  if (cfg_path && access(cfg_path, F_OK) == 0) {
    dfs_config *c = dfs_config_new();
    if (!c) { snprintf(err, errsz, "out of memory"); return DFS_ENOMEM; }
    int rc = dfs_config_load_file(c, cfg_path, err, errsz);
    if (rc == 0) {
      const char *m = dfs_config_str(c, "meta", NULL);
      if (m && *m) rc = set_out(m, "the config file", out, outsz, source, err, errsz);
      else rc = 1; /* file without meta: fall through to the default */
    }
    dfs_config_free(c);
    if (rc <= 0) return rc;
  }
  return set_out(CLI_DEFAULT_META, "the default", out, outsz, source, err, errsz);
}
