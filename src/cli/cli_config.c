/* Server address and TLS resolution for the CLI (see cli_config.h). Reads the YAML
 * config through common/config (libyaml stays there). */
#include "cli/cli_config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/util.h"

const cli_addr_spec cli_meta_spec = {"metad", "--meta", "$DFS_META", "meta", CLI_DEFAULT_META};
const cli_addr_spec cli_auth_spec = {"authd", "--auth", "$DFS_AUTH", "auth", CLI_DEFAULT_AUTH};

int cli_config_path(const char *xdg, const char *home, char *out, size_t outsz) {
  int n;
  if (xdg && *xdg) n = snprintf(out, outsz, "%s/dfs/dfs.yaml", xdg);
  else if (home && *home) n = snprintf(out, outsz, "%s/.config/dfs/dfs.yaml", home);
  else return DFS_ENOENT;
  return (n < 0 || (size_t)n >= outsz) ? DFS_ETOOBIG : 0;
}

static int set_out(const cli_addr_spec *spec, const char *addr, const char *src, char *out,
                   size_t outsz, const char **source, char *err, size_t errsz) {
  /* one HOST:PORT, or several separated by commas (every metad voter) */
  for (const char *p = addr;;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char one[300], host[256];
    int port;
    if (n < sizeof one) {
      memcpy(one, p, n);
      one[n] = '\0';
    }
    if (n == 0 || n >= sizeof one || dfs_parse_hostport(one, host, sizeof host, &port) != 0) {
      snprintf(err, errsz, "invalid %s address '%s' from %s (expected HOST:PORT, or several "
               "separated by commas)", spec->service, addr, src);
      return DFS_EINVAL;
    }
    if (!e) break;
    p = e + 1;
  }
  if ((size_t)snprintf(out, outsz, "%s", addr) >= outsz) {
    snprintf(err, errsz, "%s address from %s is too long", spec->service, src);
    return DFS_EINVAL;
  }
  if (source) *source = src;
  return 0;
}

/* Loads cfg_path into a new config. *out = NULL (and 0) if the file does not exist. */
static int load_if_present(const char *cfg_path, dfs_config **out, char *err, size_t errsz) {
  *out = NULL;
  if (!cfg_path || access(cfg_path, F_OK) != 0) return 0;
  dfs_config *c = dfs_config_new();
  if (!c) { snprintf(err, errsz, "out of memory"); return DFS_ENOMEM; }
  int rc = dfs_config_load_file(c, cfg_path, err, errsz);
  if (rc) { dfs_config_free(c); return rc; }
  *out = c;
  return 0;
}

int cli_resolve_addr(const cli_addr_spec *spec, const char *flag, const char *env,
                     const char *cfg_path, char *out, size_t outsz, const char **source,
                     char *err, size_t errsz) {
  if (flag) return set_out(spec, flag, spec->flag, out, outsz, source, err, errsz);
  if (env && *env) return set_out(spec, env, spec->env, out, outsz, source, err, errsz);
  dfs_config *c;
  int rc = load_if_present(cfg_path, &c, err, errsz);
  if (rc) return rc;
  if (c) {
    const char *m = dfs_config_str(c, spec->key, NULL);
    rc = 1; /* file without the key: fall through to the default */
    if (m && *m) rc = set_out(spec, m, "the config file", out, outsz, source, err, errsz);
    dfs_config_free(c);
    if (rc <= 0) return rc;
  }
  return set_out(spec, spec->def, "the default", out, outsz, source, err, errsz);
}

int cli_resolve_meta(const char *flag, const char *env, const char *cfg_path, char *out,
                     size_t outsz, const char **source, char *err, size_t errsz) {
  return cli_resolve_addr(&cli_meta_spec, flag, env, cfg_path, out, outsz, source, err, errsz);
}

int cli_resolve_auth(const char *flag, const char *env, const char *cfg_path, char *out,
                     size_t outsz, const char **source, char *err, size_t errsz) {
  return cli_resolve_addr(&cli_auth_spec, flag, env, cfg_path, out, outsz, source, err, errsz);
}

int cli_tls_setup(const char *ca_flag, const char *ca_env, const char *cfg_path,
                  dfs_tls_ctx **out, char *err, size_t errsz) {
  *out = NULL;
  dfs_config *c = NULL;
  int rc = load_if_present(cfg_path, &c, err, errsz);
  if (rc) return rc;
  if (!c && !(c = dfs_config_new())) { snprintf(err, errsz, "out of memory"); return DFS_ENOMEM; }
  const char *ca = ca_flag ? ca_flag : (ca_env && *ca_env ? ca_env : NULL);
  if (ca && (dfs_config_set(c, "tls.enabled", "true") || dfs_config_set(c, "tls.ca", ca))) {
    snprintf(err, errsz, "out of memory");
    rc = DFS_ENOMEM;
    goto out;
  }
  rc = dfs_tls_from_config(c, 0, out, err, errsz);
out:
  dfs_config_free(c);
  return rc;
}
