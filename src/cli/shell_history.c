/* History file of `dfs shell` (see shell_history.h). */
#include "cli/shell_history.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/output.h"
#include "common/errors.h"

int cli_history_path(const char *xdg, const char *home, char *out, size_t outsz) {
  int n;
  if (xdg && *xdg) n = snprintf(out, outsz, "%s/dfs/history", xdg);
  else if (home && *home) n = snprintf(out, outsz, "%s/.config/dfs/history", home);
  else return DFS_ENOENT;
  return (n < 0 || (size_t)n >= outsz) ? DFS_ETOOBIG : 0;
}

void cli_history_load(History *h, const char *path) {
  HistEvent ev;
  history(h, &ev, H_SETSIZE, CLI_HISTORY_MAX);
  if (access(path, R_OK) == 0) history(h, &ev, H_LOAD, path); /* keeps the newest */
}

/* mkdir -p of the directory holding path (created ones 0700). */
static int make_parents(const char *path) {
  char dir[4096];
  if (strlen(path) >= sizeof dir) return -1;
  strcpy(dir, path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char saved = *p;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    *p = saved;
    if (!saved) return 0;
  }
}

int cli_history_save(History *h, const char *path) {
  char tmp[4200];
  HistEvent ev;
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= sizeof tmp ||
      make_parents(path) != 0) {
    cli_err("shell", "history not saved: cannot create the directory of %s", path);
    return -1;
  }
  /* 0600 whatever the umask: libedit's H_SAVE would create it 0666 & ~umask */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  FILE *f = fd >= 0 && fchmod(fd, 0600) == 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    cli_err("shell", "history not saved to %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
    return -1;
  }
  int ok = history(h, &ev, H_NSAVE_FP, (size_t)CLI_HISTORY_MAX, f) >= 0;
  ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    cli_err("shell", "history not saved to %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}
