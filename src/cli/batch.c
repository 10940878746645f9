/* Multi-file transfer lists, the local tree walk of `put -r` and the worker pool (see
 * batch.h). */
#include "cli/batch.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/output.h"
#include "common/array.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/path.h"

void cli_xfer_init(cli_xfer_list *l) { memset(l, 0, sizeof *l); }

void cli_xfer_free(cli_xfer_list *l) {
  for (size_t i = 0; i < l->n_files; i++) {
    free(l->files[i].src);
    free(l->files[i].dst);
  }
  for (size_t i = 0; i < l->n_dirs; i++) free(l->dirs[i]);
  free(l->files);
  free(l->dirs);
  memset(l, 0, sizeof *l);
}

int cli_xfer_add_file(cli_xfer_list *l, const char *src, const char *dst, uint64_t size) {
  cli_xfer_item *nf = dfs_grow(l->files, &l->cap_files, l->n_files + 1, sizeof *nf, 64);
  if (!nf) return DFS_ENOMEM;
  l->files = nf;
  cli_xfer_item *it = &l->files[l->n_files];
  it->src = strdup(src);
  it->dst = strdup(dst);
  it->size = size;
  it->failed = 0;
  if (!it->src || !it->dst) {
    free(it->src);
    free(it->dst);
    return DFS_ENOMEM;
  }
  l->n_files++;
  l->total_bytes += size;
  return 0;
}

int cli_xfer_add_dir(cli_xfer_list *l, const char *dir) {
  char **nd = dfs_grow(l->dirs, &l->cap_dirs, l->n_dirs + 1, sizeof *nd, 16);
  if (!nd) return DFS_ENOMEM;
  l->dirs = nd;
  if (!(l->dirs[l->n_dirs] = strdup(dir))) return DFS_ENOMEM;
  l->n_dirs++;
  return 0;
}

int cli_join(const char *dir, const char *name, char *out, size_t outsz) {
  size_t dl = strlen(dir);
  int n = dl && dir[dl - 1] == '/' ? snprintf(out, outsz, "%s%s", dir, name)
                                   : snprintf(out, outsz, "%s/%s", dir, name);
  return n < 0 || (size_t)n >= outsz ? DFS_ETOOBIG : 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_walk_local(cli_xfer_list *l, const char *cmd, const char *local_dir,
                   const char *remote_dir, size_t *skipped) {
  int rc = cli_xfer_add_dir(l, remote_dir);
  if (rc) { cli_err(cmd, "out of memory"); return rc; }
  DIR *d = opendir(local_dir);
  if (!d) {
    cli_err(cmd, "%s: cannot read the directory: %s", local_dir, strerror(errno));
    return DFS_EIO;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  rc = 0;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char **nn = dfs_grow(names, &cap, n + 1, sizeof *nn, 32);
    if (!nn) { rc = DFS_ENOMEM; break; }
    names = nn;
    if (!(names[n] = strdup(e->d_name))) { rc = DFS_ENOMEM; break; }
    n++;
  }
  closedir(d);
  if (rc) { cli_err(cmd, "out of memory"); goto out; }
  if (n) qsort(names, n, sizeof *names, by_name);
  char lp[DFS_PATH_MAX + 1], rp[DFS_PATH_MAX + 1];
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (cli_join(local_dir, names[i], lp, sizeof lp) ||
        cli_join(remote_dir, names[i], rp, sizeof rp)) {
      cli_err(cmd, "%s/%s: path too long", local_dir, names[i]);
      rc = DFS_ETOOBIG;
      break;
    }
    struct stat st;
    if (lstat(lp, &st) != 0) {
      cli_err(cmd, "%s: %s", lp, strerror(errno));
      rc = DFS_EIO;
    } else if (S_ISDIR(st.st_mode)) {
      rc = cli_walk_local(l, cmd, lp, rp, skipped);
    } else if (S_ISREG(st.st_mode)) {
      rc = cli_xfer_add_file(l, lp, rp, (uint64_t)st.st_size);
      if (rc) cli_err(cmd, "out of memory");
    } else {
      fprintf(stderr, "dfs: %s: warning: %s: not a regular file or directory, skipped\n", cmd,
              lp);
      ++*skipped;
    }
  }
out:
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

size_t cli_run_pool(size_t n, void *(*fn)(void *), void *arg) {
  pthread_t th[256];
  if (n > 256) n = 256;
  size_t started = 0;
  for (; started + 1 < n; started++)
    if (pthread_create(&th[started], NULL, fn, arg) != 0) break;
  fn(arg);
  for (size_t i = 0; i < started; i++) pthread_join(th[i], NULL);
  return started + 1;
}

void cli_xfer_worker_init(cli_xfer_worker *w, const meta_client *proto) {
  w->mc = *proto;
  w->mc.fd = -1;
  chunk_conns_init(&w->cc);
  w->buf = malloc(DFS_CHUNK_SIZE);
}

void cli_xfer_worker_free(cli_xfer_worker *w) {
  free(w->buf);
  w->buf = NULL;
  chunk_conns_close(&w->cc);
  meta_client_close(&w->mc);
}
