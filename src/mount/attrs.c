/* What the kernel is told about files and failures (mount_ctx.h). */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/errors.h"
#include "mount/mount_ctx.h"

uid_t mount_owner_uid(mount_ctx *m, const char *owner) {
  if (!owner) owner = "";
  if (strcmp(owner, m->user) == 0) return m->uid; /* "" and "": no authentication */
  if (!*owner) return 65534;
  struct passwd pw, *res = NULL;
  char buf[1024];
  if (getpwnam_r(owner, &pw, buf, sizeof buf, &res) == 0 && res) return res->pw_uid;
  return 65534; /* nobody */
}

void mount_entry_stat(mount_ctx *m, const Dfs__Entry *e, uint64_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = e->mode & 07777;
  switch (e->type) {
    case DFS__ENTRY_TYPE__ENTRY_DIR:
      st->st_mode |= S_IFDIR;
      st->st_nlink = 2;
      st->st_size = 4096;
      break;
    case DFS__ENTRY_TYPE__ENTRY_SYMLINK:
      st->st_mode = S_IFLNK | 0777;
      st->st_nlink = 1;
      st->st_size = e->target ? (off_t)strlen(e->target) : 0;
      break;
    default:
      st->st_mode |= S_IFREG;
      st->st_nlink = 1;
      st->st_size = (off_t)e->size;
      break;
  }
  st->st_uid = mount_owner_uid(m, e->owner);
  st->st_gid = st->st_uid == m->uid ? m->gid : st->st_uid;
  st->st_blksize = 1 << 20;
  st->st_blocks = (st->st_size + 511) / 512;
  struct timespec t = {.tv_sec = e->mtime_ns / 1000000000, .tv_nsec = e->mtime_ns % 1000000000};
  st->st_mtim = st->st_ctim = st->st_atim = t;
}

int mount_errno(int rc) {
  switch (rc) {
    case 0: return 0;
    case DFS_ENOENT: return ENOENT;
    case DFS_EEXIST: return EEXIST;
    case DFS_ENOTDIR: return ENOTDIR;
    case DFS_EISDIR: return EISDIR;
    case DFS_ENOTEMPTY: return ENOTEMPTY;
    case DFS_EBADPATH: return EINVAL;
    case DFS_EINVAL: return EINVAL;
    case DFS_EPERM: return EACCES;
    case DFS_EAUTH: return EACCES;
    case DFS_ENOSPACE: return ENOSPC;
    case DFS_EQUOTA: return EDQUOT;
    case DFS_ENOMEM: return ENOMEM;
    case DFS_ETOOBIG: return EFBIG;
    default: return EIO;
  }
}

static FILE *log_file; /* set once by mount_main.c before any thread starts */

void mount_set_log(FILE *f) { log_file = f; }

void mount_log(const char *fmt, ...) {
  if (!log_file) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  time_t now = time(NULL);
  struct tm tm;
  char ts[32];
  strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
  fprintf(log_file, "%s dfs mount: %s\n", ts, line);
  fflush(log_file);
}
