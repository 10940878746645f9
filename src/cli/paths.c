/* put/get destination resolution (see paths.h). */
#include "cli/paths.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/session.h"
#include "common/errors.h"
#include "common/path.h"

int cli_basename(const char *path, char *out, size_t outsz) {
  size_t end = strlen(path);
  while (end > 0 && path[end - 1] == '/') end--;
  size_t start = end;
  while (start > 0 && path[start - 1] != '/') start--;
  size_t n = end - start;
  if (n == 0 || (n == 1 && path[start] == '.') || (n == 2 && !memcmp(path + start, "..", 2)))
    return DFS_EINVAL;
  if (n >= outsz) return DFS_ETOOBIG;
  memcpy(out, path + start, n);
  out[n] = '\0';
  return 0;
}

static int join(const char *dir, const char *name, char *out, size_t outsz) {
  size_t dl = strlen(dir);
  const char *sep = (dl > 0 && dir[dl - 1] == '/') ? "" : "/";
  int n = snprintf(out, outsz, "%s%s%s", dir, sep, name);
  return (n < 0 || (size_t)n >= outsz) ? DFS_ETOOBIG : 0;
}

int cli_home_dir(const char *user, char *out, size_t outsz) {
  if (!user || !cli_user_name_valid(user, strlen(user))) return DFS_EINVAL;
  return (size_t)snprintf(out, outsz, "/home/%s", user) >= outsz ? DFS_ETOOBIG : 0;
}

int cli_remote_path(const char *user, const char *in, char *out, size_t outsz) {
  char base[DFS_PATH_MAX + 1];
  const char *rest = in;
  if (in[0] == '~') {
    const char *slash = strchr(in, '/');
    size_t nl = slash ? (size_t)(slash - in - 1) : strlen(in + 1);
    rest = slash ? slash + 1 : "";
    if (nl == 0) {
      if (!user || !*user) return DFS_EAUTH;
      int rc = cli_home_dir(user, base, sizeof base);
      if (rc) return rc;
    } else {
      if (!cli_user_name_valid(in + 1, nl)) return DFS_EINVAL;
      snprintf(base, sizeof base, "/home/%.*s", (int)nl, in + 1);
    }
  } else if (in[0] != '/' && user && *user) {
    int rc = cli_home_dir(user, base, sizeof base);
    if (rc) return rc;
  } else {
    strcpy(base, "/");
  }
  if (!*rest) rest = ".";
  return dfs_path_normalize(base, rest, out, outsz);
}

int cli_unexpand_home(const char *arg, const char *local_home, char *out, size_t outsz) {
  if (!local_home) return 0;
  size_t hl = strlen(local_home);
  while (hl > 1 && local_home[hl - 1] == '/') hl--;
  if (hl == 0 || (hl == 1 && local_home[0] == '/') || local_home[0] != '/') return 0;
  if (strncmp(arg, local_home, hl) != 0 || (arg[hl] != '\0' && arg[hl] != '/')) return 0;
  return (size_t)snprintf(out, outsz, "~%s", arg + hl) >= outsz ? DFS_ETOOBIG : 1;
}

int cli_put_dest(const char *local, const char *remote, const char *user, cli_isdir_fn isdir,
                 void *ud, char *out, size_t outsz) {
  char base[DFS_NAME_MAX + 1], norm[DFS_PATH_MAX + 1], tmp[DFS_PATH_MAX + DFS_NAME_MAX + 2];
  int rc = cli_basename(local, base, sizeof base);
  if (rc) return rc == DFS_ETOOBIG ? DFS_EBADPATH : rc;
  int dir;
  if (!remote || !*remote) {
    /* Default: the home directory when logged in (or /), which is a directory. */
    if (user && *user) rc = cli_home_dir(user, norm, sizeof norm);
    else strcpy(norm, "/");
    if (rc) return rc;
    dir = 1;
  } else {
    rc = cli_remote_path(user, remote, norm, sizeof norm);
    if (rc) return rc;
    size_t rl = strlen(remote);
    dir = remote[rl - 1] == '/' || strcmp(norm, "/") == 0;
  }
  if (!dir) {
    rc = isdir ? isdir(norm, ud) : 0;
    if (rc < 0) return rc;
    dir = rc;
  }
  if (!dir) return (size_t)snprintf(out, outsz, "%s", norm) >= outsz ? DFS_ETOOBIG : 0;
  rc = join(norm, base, tmp, sizeof tmp);
  if (rc) return rc;
  return dfs_path_normalize(NULL, tmp, out, outsz);
}

int cli_get_dest(const char *remote, const char *local, cli_isdir_fn isdir, void *ud,
                 char *out, size_t outsz) {
  char base[DFS_NAME_MAX + 1];
  int rc = cli_basename(remote, base, sizeof base);
  if (rc) return rc == DFS_ETOOBIG ? DFS_EINVAL : rc;
  if (!local || !*local) local = ".";
  size_t ll = strlen(local);
  int dir = local[ll - 1] == '/' || strcmp(local, ".") == 0;
  if (!dir && isdir) {
    rc = isdir(local, ud);
    if (rc < 0) return rc;
    dir = rc;
  }
  if (!dir) return (size_t)snprintf(out, outsz, "%s", local) >= outsz ? DFS_ETOOBIG : 0;
  return join(local, base, out, outsz);
}

int cli_local_isdir(const char *path, void *ud) {
  (void)ud;
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
