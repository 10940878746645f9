/* The CLI's wording of meta_call failures (meta_report.h). */
#include "cli/meta_report.h"

#include <string.h>

#include "cli/output.h"
#include "common/errors.h"

/* What to do about a namespace error whose message does not already say it. */
static const char *meta_hint(int rc) {
  switch (rc) {
  case DFS_ENOENT: return "check the name with 'dfs ls' of the directory above it";
  case DFS_EEXIST: return "choose another name, or remove the existing one first";
  case DFS_ENOTDIR: return "a file is in the way; check the path with 'dfs ls'";
  case DFS_EPERM: return "ask the owner to grant access with 'dfs chmod', or log in as them";
  default: return NULL;
  }
}

void meta_report(const meta_client *mc, const char *cmd, int rc, const char *err) {
  if (rc == DFS_ECONN && strcmp(mc->service, "authd") == 0)
    cli_err(NULL, "cannot reach authd at %s (is it running? its address comes from --auth, "
                  "$DFS_AUTH or `auth:` in dfs.yaml)", mc->addr);
  else if (rc == DFS_ECONN && mc->naddrs > 1)
    cli_err(NULL, "cannot reach any of the %d metad addresses given (last tried %s; is the "
                  "cluster running, with a majority of its metads up?)", mc->naddrs, mc->addr);
  else if (rc == DFS_ECONN)
    cli_err(NULL, "cannot reach metad at %s (is the cluster running? start it with "
                  "scripts/cluster up)", mc->addr);
  else if (rc == DFS_EAUTH)
    cli_err(cmd, "not logged in or session expired (run 'dfs login')");
  else if (rc == DFS_ETIMEDOUT)
    cli_err(cmd, "%s at %s did not answer in time (%s)", mc->service, mc->addr, err);
  else if ((rc == DFS_ECLOSED || rc == DFS_EPROTO) && !mc->tls)
    cli_err(cmd, "%s (if %s uses TLS, give --tls-ca FILE or set tls.enabled/tls.ca in "
                 "dfs.yaml)", err, mc->service);
  else if (rc == DFS_ECLOSED || rc == DFS_EPROTO)
    cli_err(cmd, "%s (does %s use TLS with a certificate from this CA?)", err, mc->service);
  else if (!strchr(err, '(') && meta_hint(rc))
    cli_err(cmd, "%s (%s)", err, meta_hint(rc));
  else
    cli_err(cmd, "%s", err);
}

void meta_report_path(const meta_client *mc, const char *cmd, const char *path, int rc,
                      const char *err) {
  if (rc == DFS_ECONN || rc == DFS_ETIMEDOUT || rc == DFS_EAUTH || rc == DFS_ECLOSED ||
      rc == DFS_EPROTO || rc == DFS_ECONFIG || strstr(err, path))
    meta_report(mc, cmd, rc, err);
  else cli_err(cmd, "%s: %s", path, err);
}
