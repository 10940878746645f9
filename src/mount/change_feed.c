/* The change feed's thread (change_feed.h). Kernel notifications are sent without the
 * inode table's lock held: the kernel may call back into the file system meanwhile. */
#include "mount/change_feed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "mount/fs_ops.h"

typedef struct {
  uint64_t ino, parent;
  char name[DFS_NAME_MAX + 1];
} inval;

/* Collects what to invalidate for one changed path: the node's attributes and pages,
 * its name (unless it is a directory), and its directory's attributes (mtime, listing).
 * A directory's own name is never invalidated: the kernel would unhash it, and a
 * process whose current directory it is would lose it (getcwd: ENOENT). A directory
 * renamed or removed elsewhere is noticed when entry_timeout runs out instead. */
static size_t collect(mount_ctx *m, const char *path, inval *out, size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&m->nodes.lock);
  mnode *node = inodes_find_path(&m->nodes, path);
  int dir = node && node->type == S_IFDIR;
  if (node && n < max) {
    out[n].ino = node->ino;
    out[n].parent = node->parent && !dir ? node->parent->ino : 0;
    snprintf(out[n].name, sizeof out[n].name, "%s", node->name);
    n++;
  }
  /* the parent directory (known even when the child is new to this mount: then its
   * name may be cached as missing, and is forgotten) */
  char parent_path[DFS_PATH_MAX + 1];
  snprintf(parent_path, sizeof parent_path, "%s", path);
  char *slash = strrchr(parent_path, '/');
  if (slash && n < max) {
    const char *name = slash + 1;
    *slash = '\0';
    mnode *p = inodes_find_path(&m->nodes, parent_path[0] ? parent_path : "/");
    if (p) {
      out[n].ino = p->ino;
      out[n].parent = node ? 0 : p->ino;
      snprintf(out[n].name, sizeof out[n].name, "%s", name);
      n++;
    }
  }
  pthread_mutex_unlock(&m->nodes.lock);
  return n;
}

static void send_invals(mount_ctx *m, const inval *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    fuse_lowlevel_notify_inval_inode(m->se, v[i].ino, 0, 0);
    if (v[i].parent && v[i].name[0])
      fuse_lowlevel_notify_inval_entry(m->se, v[i].parent, v[i].name, strlen(v[i].name));
  }
}

/* Everything: every node's attributes and pages, every name. */
static void forget_all(mount_ctx *m) {
  size_t cap = 0, n = 0;
  inval *v = NULL;
  pthread_mutex_lock(&m->nodes.lock);
  cap = m->nodes.count;
  v = calloc(cap ? cap : 1, sizeof *v);
  for (size_t b = 0; v && b < m->nodes.nbuckets; b++) {
    for (mnode *x = m->nodes.by_ino[b]; x && n < cap; x = x->next_ino) {
      v[n].ino = x->ino;
      v[n].parent = x->parent && x->type != S_IFDIR ? x->parent->ino : 0;
      snprintf(v[n].name, sizeof v[n].name, "%s", x->name);
      n++;
    }
  }
  pthread_mutex_unlock(&m->nodes.lock);
  if (v) send_invals(m, v, n);
  free(v);
}

static void *feed_main(void *arg) {
  change_feed *f = arg;
  mount_ctx *m = f->m;
  uint64_t epoch = 0, since = 0;
  int have = 0;
  pthread_mutex_lock(&f->lock);
  while (!f->stop) {
    pthread_mutex_unlock(&f->lock);
    Dfs__WatchReq req = DFS__WATCH_REQ__INIT;
    req.since = have ? since : 0;
    ProtobufCMessage *rm = NULL;
    char err[512];
    int rc = meta_pool_call(&m->meta, DFS__MSG_TYPE__MSG_CLIENT_TO_META_WATCH, &req.base,
                            &dfs__watch_rep__descriptor, &rm, err, sizeof err);
    int more = 0;
    if (rc == 0) {
      const Dfs__WatchRep *rep = (const Dfs__WatchRep *)rm;
      if (have && (rep->epoch != epoch || rep->overflow)) {
        forget_all(m); /* changes were missed */
      } else if (have) {
        for (size_t i = 0; i < rep->n_paths; i++) {
          inval v[2];
          size_t n = rep->paths[i] ? collect(m, rep->paths[i], v, 2) : 0;
          send_invals(m, v, n);
        }
        more = rep->n_paths >= 1024; /* a full reply: there may be more */
      }
      epoch = rep->epoch;
      since = rep->next;
      have = 1;
    } else if (have) {
      /* metad unreachable: once it answers again it may be another one (new epoch) */
    }
    if (rm) protobuf_c_message_free_unpacked(rm, NULL);
    pthread_mutex_lock(&f->lock);
    if (more || f->stop) continue;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)m->opt.watch_ms * 1000000ull;
    until.tv_sec += (time_t)(ns / 1000000000ull);
    until.tv_nsec = (long)(ns % 1000000000ull);
    pthread_cond_timedwait(&f->wake, &f->lock, &until);
  }
  pthread_mutex_unlock(&f->lock);
  return NULL;
}

int change_feed_start(change_feed *f, mount_ctx *m) {
  memset(f, 0, sizeof *f);
  f->m = m;
  if (m->opt.watch_ms == 0) return 0;
  pthread_mutex_init(&f->lock, NULL);
  pthread_cond_init(&f->wake, NULL);
  if (pthread_create(&f->thread, NULL, feed_main, f) != 0) return DFS_ENOMEM;
  f->started = 1;
  return 0;
}

void change_feed_stop(change_feed *f) {
  if (!f->started) return;
  pthread_mutex_lock(&f->lock);
  f->stop = 1;
  pthread_cond_signal(&f->wake);
  pthread_mutex_unlock(&f->lock);
  pthread_join(f->thread, NULL);
  f->started = 0;
}
