/* Session file read/write (see session.h). */
#include "cli/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"

int cli_user_name_valid(const char *name, size_t len) {
  if (len < 1 || len > CLI_USER_MAX || name[0] < 'a' || name[0] > 'z') return 0;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
  }
  return 1;
}

/* Tokens are printable ASCII without spaces (authd's are 64 hex digits). */
static int token_valid(const char *t, size_t len) {
  if (len < 1 || len > CLI_TOKEN_MAX) return 0;
  for (size_t i = 0; i < len; i++)
    if (t[i] <= ' ' || t[i] > '~') return 0;
  return 1;
}

int cli_session_path(const char *xdg, const char *home, char *out, size_t outsz) {
  int n;
  if (xdg && *xdg) n = snprintf(out, outsz, "%s/dfs/session", xdg);
  else if (home && *home) n = snprintf(out, outsz, "%s/.config/dfs/session", home);
  else return DFS_ENOENT;
  return (n < 0 || (size_t)n >= outsz) ? DFS_ETOOBIG : 0;
}

int cli_session_read(const char *path, cli_session *s, char *err, size_t errsz) {
  memset(s, 0, sizeof *s);
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return DFS_ENOENT;
    snprintf(err, errsz, "cannot read %s: %s", path, strerror(errno));
    return DFS_ECONFIG;
  }
  char line[512];
  int rc = 0, lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n == 0) continue;
    char *sp = strchr(line, ' ');
    const char *val = sp ? sp + 1 : "";
    if (sp) *sp = '\0';
    size_t vl = strlen(val);
    if (strcmp(line, "user") == 0 && cli_user_name_valid(val, vl)) {
      memcpy(s->user, val, vl + 1);
    } else if (strcmp(line, "token") == 0 && token_valid(val, vl)) {
      memcpy(s->token, val, vl + 1);
    } else if (strcmp(line, "expires_ms") == 0 && vl > 0 && vl < 20 &&
               strspn(val, "0123456789") == vl) {
      s->expires_ms = strtoll(val, NULL, 10);
    } else {
      snprintf(err, errsz, "%s: line %d is not valid", path, lineno);
      rc = DFS_ECONFIG;
      break;
    }
  }
  if (!rc && ferror(f)) {
    snprintf(err, errsz, "cannot read %s", path);
    rc = DFS_ECONFIG;
  }
  fclose(f);
  if (!rc && (!s->user[0] || !s->token[0])) {
    snprintf(err, errsz, "%s: user or token missing", path);
    rc = DFS_ECONFIG;
  }
  if (rc) memset(s, 0, sizeof *s);
  return rc;
}

/* mkdir -p of the parent of path; the directories we create get mode 0700. */
static int make_parents(const char *path, char *err, size_t errsz) {
  char dir[4096];
  if (strlen(path) >= sizeof dir) { snprintf(err, errsz, "path too long"); return DFS_ETOOBIG; }
  strcpy(dir, path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char saved = *p;
      *p = '\0';
      if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
        return DFS_EIO;
      }
      *p = saved;
      if (!saved) break;
    }
  }
  return 0;
}

int cli_session_write(const char *path, const cli_session *s, char *err, size_t errsz) {
  char tmp[4200];
  int fd = -1, rc = make_parents(path, err, errsz);
  if (rc) return rc;
  if (!cli_user_name_valid(s->user, strlen(s->user)) || !token_valid(s->token, strlen(s->token))) {
    snprintf(err, errsz, "invalid session (bad user name or token)");
    return DFS_EINVAL;
  }
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp) {
    snprintf(err, errsz, "path too long");
    return DFS_ETOOBIG;
  }
  fd = mkstemp(tmp); /* created 0600 */
  if (fd < 0) {
    snprintf(err, errsz, "cannot create a file next to %s: %s", path, strerror(errno));
    return DFS_EIO;
  }
  char buf[512];
  int n = snprintf(buf, sizeof buf, "user %s\ntoken %s\nexpires_ms %lld\n", s->user, s->token,
                   (long long)(s->expires_ms > 0 ? s->expires_ms : 0));
  rc = DFS_EIO;
  if (n < 0 || (size_t)n >= sizeof buf) goto err;
  if (fchmod(fd, 0600) != 0 || write(fd, buf, (size_t)n) != n || fsync(fd) != 0) goto err;
  if (close(fd) != 0) { fd = -1; goto err; }
  fd = -1;
  if (rename(tmp, path) != 0) goto err;
  return 0;
err:
  snprintf(err, errsz, "cannot write %s: %s", path, strerror(errno));
  if (fd >= 0) close(fd);
  unlink(tmp);
  return rc;
}

int cli_session_remove(const char *path) {
  return (unlink(path) == 0 || errno == ENOENT) ? 0 : DFS_EIO;
}

int cli_session_load(const char *env_token, const char *env_user, const char *path,
                     cli_session *s, char *err, size_t errsz) {
  memset(s, 0, sizeof *s);
  if (env_token && *env_token) {
    if (!token_valid(env_token, strlen(env_token))) {
      snprintf(err, errsz, "$DFS_TOKEN is not a valid token");
      return DFS_ECONFIG;
    }
    strcpy(s->token, env_token);
    if (env_user && *env_user) {
      if (!cli_user_name_valid(env_user, strlen(env_user))) {
        snprintf(err, errsz, "$DFS_USER is not a valid user name");
        return DFS_ECONFIG;
      }
      strcpy(s->user, env_user);
    }
    s->from_env = 1;
    return 0;
  }
  if (!path) return 0;
  int rc = cli_session_read(path, s, err, errsz);
  return rc == DFS_ENOENT ? 0 : rc;
}
