/* The FUSE callbacks (fs_ops.h). Each one turns the kernel's inode numbers into dfs
 * paths (inodes.c), asks metad, and answers the kernel with the errno of metad's code
 * (mount_errno). Hard links are refused with EPERM (dfs files have one name). */
#include "mount/fs_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/util.h"
#include "mount/mount_ctx.h"
#include "mount/open_file.h"

#define CTX(req) ((mount_ctx *)fuse_req_userdata(req))

typedef struct {
  Dfs__ListRep *rep; /* the listing taken at opendir, owned */
} dir_handle;

/* ---- helpers ---- */
static int meta(mount_ctx *m, uint16_t type, ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *d, ProtobufCMessage **rep, const char *what,
                const char *path) {
  ProtobufCMessage *rm = NULL;
  char err[512];
  int rc = meta_pool_call(&m->meta, type, req, d, &rm, err, sizeof err);
  if (rc && rc != DFS_ENOENT && rc != DFS_EEXIST && rc != DFS_ENOTEMPTY)
    mount_log("%s %s: %s", what, path, err);
  if (rep && rc == 0) {
    *rep = rm;
  } else if (rm) {
    protobuf_c_message_free_unpacked(rm, NULL);
  }
  return rc;
}

/* The path of ino. 0 or an errno. */
static int ino_path(mount_ctx *m, fuse_ino_t ino, char *out) {
  pthread_mutex_lock(&m->nodes.lock);
  mnode *n = inodes_get(&m->nodes, ino);
  int rc = n ? inodes_path(n, out, DFS_PATH_MAX + 1) : DFS_ENOENT;
  int stale = n && rc == DFS_ENOENT;
  pthread_mutex_unlock(&m->nodes.lock);
  /* a name that went away under the kernel (renamed over, removed): ESTALE makes the
   * kernel look the path up again, as on NFS, instead of failing the open */
  return rc == DFS_EBADPATH ? ENAMETOOLONG : stale ? ESTALE : rc ? ENOENT : 0;
}

/* The path of parent/name. 0 or an errno. */
static int child_path(mount_ctx *m, fuse_ino_t parent, const char *name, char *out) {
  size_t nl = strlen(name);
  if (nl > DFS_NAME_MAX) return ENAMETOOLONG;
  int rc = ino_path(m, parent, out);
  if (rc) return rc;
  size_t pl = strlen(out);
  if (pl + 1 + nl > DFS_PATH_MAX) return ENAMETOOLONG;
  if (pl > 1) out[pl++] = '/';
  memcpy(out + pl, name, nl + 1);
  return 0;
}

/* child_path, or 1 after replying its error to req. */
static int child_path_or_reply(fuse_req_t req, mount_ctx *m, fuse_ino_t parent,
                               const char *name, char *out) {
  int err = child_path(m, parent, name, out);
  if (err) fuse_reply_err(req, err);
  return err != 0;
}

static int stat_path(mount_ctx *m, const char *path, Dfs__StatRep **out) {
  Dfs__StatReq req = DFS__STAT_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *rm = NULL;
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &req.base,
                &dfs__stat_rep__descriptor, &rm, "stat", path);
  if (rc) return rc;
  *out = (Dfs__StatRep *)rm;
  if (!(*out)->entry) {
    dfs__stat_rep__free_unpacked(*out, NULL);
    return DFS_EPROTO;
  }
  return 0;
}

static uint32_t type_of(const Dfs__Entry *e) {
  return e->type == DFS__ENTRY_TYPE__ENTRY_DIR       ? S_IFDIR
         : e->type == DFS__ENTRY_TYPE__ENTRY_SYMLINK ? S_IFLNK
                                                     : S_IFREG;
}

/* st for node n from metad's entry, with the unflushed state of an open file. */
static void node_stat(mount_ctx *m, mnode *n, const Dfs__Entry *e, struct stat *st) {
  mount_entry_stat(m, e, n->ino, st);
  open_file *of = open_file_pin(m, n);
  if (of) {
    open_file_stat(of, st);
    open_file_release(m, of);
  }
}

/* The kernel's entry for node n (its attributes still to fill): inode and the mount's
 * cache timeouts. */
static void entry_param_for(mount_ctx *m, const mnode *n, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->ino = n->ino;
  e->attr_timeout = m->opt.attr_timeout_s;
  e->entry_timeout = m->opt.entry_timeout_s;
}

/* Looks parent/name up at metad and answers an entry (a new kernel reference). */
static void reply_lookup(fuse_req_t req, mount_ctx *m, fuse_ino_t parent, const char *name,
                         const char *path, struct fuse_file_info *create_fi) {
  Dfs__StatRep *rep;
  int rc = stat_path(m, path, &rep);
  if (rc == DFS_ENOENT && !create_fi) {
    struct fuse_entry_param e = {.ino = 0, .entry_timeout = m->opt.negative_timeout_s};
    fuse_reply_entry(req, &e);
    return;
  }
  if (rc) {
    if (create_fi) open_file_release(m, (open_file *)(uintptr_t)create_fi->fh);
    fuse_reply_err(req, mount_errno(rc));
    return;
  }
  pthread_mutex_lock(&m->nodes.lock);
  mnode *p = inodes_get(&m->nodes, parent);
  mnode *n = p ? inodes_lookup(&m->nodes, p, name, type_of(rep->entry)) : NULL;
  pthread_mutex_unlock(&m->nodes.lock);
  if (!n) {
    dfs__stat_rep__free_unpacked(rep, NULL);
    if (create_fi) open_file_release(m, (open_file *)(uintptr_t)create_fi->fh);
    fuse_reply_err(req, p ? ENOMEM : ENOENT);
    return;
  }
  struct fuse_entry_param e;
  entry_param_for(m, n, &e);
  node_stat(m, n, rep->entry, &e.attr);
  dfs__stat_rep__free_unpacked(rep, NULL);
  if (create_fi) {
    if (fuse_reply_create(req, &e, create_fi) == -ENOENT) /* interrupted: undo */
      open_file_release(m, (open_file *)(uintptr_t)create_fi->fh);
  } else {
    fuse_reply_entry(req, &e);
  }
}

static void reply_attr_of(fuse_req_t req, mount_ctx *m, fuse_ino_t ino) {
  char path[DFS_PATH_MAX + 1];
  int err = ino_path(m, ino, path);
  pthread_mutex_lock(&m->nodes.lock);
  mnode *n = inodes_get(&m->nodes, ino);
  pthread_mutex_unlock(&m->nodes.lock);
  open_file *of = n ? open_file_pin(m, n) : NULL;
  if (of) { /* open here (maybe unlinked): this mount knows best, no need to ask metad */
    struct stat st;
    open_file_full_stat(m, of, ino, &st);
    open_file_release(m, of);
    fuse_reply_attr(req, &st, st.st_nlink ? m->opt.attr_timeout_s : 0);
    return;
  }
  if (err || !n) {
    fuse_reply_err(req, err ? err : ENOENT);
    return;
  }
  Dfs__StatRep *rep;
  int rc = stat_path(m, path, &rep);
  if (rc) {
    fuse_reply_err(req, mount_errno(rc));
    return;
  }
  struct stat st;
  node_stat(m, n, rep->entry, &st);
  dfs__stat_rep__free_unpacked(rep, NULL);
  fuse_reply_attr(req, &st, m->opt.attr_timeout_s);
}

/* Before parent/name goes away (unlink, rename over it): if the file is open here, keep
 * its content under a hidden name until its last close. */
static void hide_if_open(mount_ctx *m, fuse_ino_t parent, const char *name, const char *path) {
  pthread_mutex_lock(&m->nodes.lock);
  mnode *p = inodes_get(&m->nodes, parent);
  mnode *n = p ? inodes_child(&m->nodes, p, name) : NULL;
  pthread_mutex_unlock(&m->nodes.lock);
  open_file *of = n ? open_file_pin(m, n) : NULL;
  if (!of) return;
  char hidden[DFS_PATH_MAX + 64];
  char dir[DFS_PATH_MAX + 1];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) slash[slash == dir ? 1 : 0] = '\0';
  snprintf(hidden, sizeof hidden, "%s%s" MOUNT_HIDDEN_PREFIX "%016llx",
           dir, strcmp(dir, "/") == 0 ? "" : "/", (unsigned long long)dfs_random_u64());
  if (strlen(hidden) > DFS_PATH_MAX) {
    open_file_release(m, of);
    return;
  }
  Dfs__CopyReq req = DFS__COPY_REQ__INIT;
  req.src = (char *)path;
  req.dst = hidden;
  req.request_id = dfs_random_u64();
  if (meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY, &req.base, &dfs__copy_rep__descriptor,
           NULL, "keeping the open file", path) == 0)
    open_file_hide(of, hidden);
  open_file_release(m, of);
}

static int is_hidden(const char *name) {
  return strncmp(name, MOUNT_HIDDEN_PREFIX, sizeof MOUNT_HIDDEN_PREFIX - 1) == 0;
}

/* ---- callbacks ---- */
static void op_init(void *userdata, struct fuse_conn_info *conn) {
  (void)userdata;
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

/* The answer to a call that made parent/name (path): its entry, or rc as an errno. */
static void reply_made(fuse_req_t req, mount_ctx *m, int rc, fuse_ino_t parent,
                       const char *name, const char *path) {
  if (rc) fuse_reply_err(req, mount_errno(rc));
  else reply_lookup(req, m, parent, name, path, NULL);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  if (child_path_or_reply(req, m, parent, name, path)) return;
  reply_lookup(req, m, parent, name, path, NULL);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  mount_ctx *m = CTX(req);
  pthread_mutex_lock(&m->nodes.lock);
  mnode *n = inodes_get(&m->nodes, ino);
  if (n && n != m->nodes.root) inodes_forget(&m->nodes, n, nlookup);
  pthread_mutex_unlock(&m->nodes.lock);
  fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  mount_ctx *m = CTX(req);
  pthread_mutex_lock(&m->nodes.lock);
  for (size_t i = 0; i < count; i++) {
    mnode *n = inodes_get(&m->nodes, forgets[i].ino);
    if (n && n != m->nodes.root) inodes_forget(&m->nodes, n, forgets[i].nlookup);
  }
  pthread_mutex_unlock(&m->nodes.lock);
  fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  reply_attr_of(req, CTX(req), ino);
}

static int touch_mtime(mount_ctx *m, const char *path, int64_t mtime_ns) {
  Dfs__TouchReq t = DFS__TOUCH_REQ__INIT;
  t.path = (char *)path;
  t.mtime_ns = mtime_ns;
  t.request_id = dfs_random_u64();
  return meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH, &t.base, &dfs__touch_rep__descriptor,
              NULL, "utimens", path);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  int err = ino_path(m, ino, path), rc = 0;
  pthread_mutex_lock(&m->nodes.lock);
  mnode *n = inodes_get(&m->nodes, ino);
  pthread_mutex_unlock(&m->nodes.lock);
  if (!n) err = ENOENT;
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    if (((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != m->uid) ||
        ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != m->gid)) {
      fuse_reply_err(req, EPERM); /* dfs owners are dfs users: chown is `dfs admin` work */
      return;
    }
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    open_file *of = fi ? (open_file *)(uintptr_t)fi->fh : NULL;
    int unchanged;
    if (!of && (rc = open_file_open(m, n, path, 0, 0, &of, &unchanged))) {
      fuse_reply_err(req, -rc);
      return;
    }
    rc = open_file_truncate(m, of, (uint64_t)attr->st_size);
    if (!fi) {
      if (rc == 0) rc = open_file_commit(m, of);
      open_file_release(m, of);
    }
    if (rc) {
      fuse_reply_err(req, -rc);
      return;
    }
  }
  if (to_set & FUSE_SET_ATTR_MODE) {
    Dfs__ChmodReq c = DFS__CHMOD_REQ__INIT;
    c.path = path;
    c.mode = attr->st_mode & 0777;
    c.request_id = dfs_random_u64();
    if ((rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD, &c.base,
                   &dfs__chmod_rep__descriptor, NULL, "chmod", path))) {
      fuse_reply_err(req, mount_errno(rc));
      return;
    }
  }
  if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
    int64_t ns;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    } else {
      ns = (int64_t)attr->st_mtim.tv_sec * 1000000000 + attr->st_mtim.tv_nsec;
    }
    if (ns <= 0) ns = 1; /* 0 means "now" to metad */
    open_file *of = open_file_pin(m, n);
    if (of) rc = open_file_commit(m, of); /* a later commit must not undo the mtime */
    if (rc == 0) rc = touch_mtime(m, path, ns);
    else rc = DFS_EIO;
    if (of) open_file_release(m, of);
    if (rc) {
      fuse_reply_err(req, mount_errno(rc));
      return;
    }
  }
  /* the mode/mtime of an open file as metad has them now */
  open_file *of = open_file_pin(m, n);
  if (of) {
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
      int unchanged;
      open_file *again;
      /* a reopen reloads it when it has no unflushed writes */
      if (open_file_open(m, n, path, 0, 0, &again, &unchanged) == 0) open_file_release(m, again);
    }
    open_file_release(m, of);
  }
  reply_attr_of(req, m, ino);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  int err = ino_path(m, ino, path);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  Dfs__StatRep *rep;
  int rc = stat_path(m, path, &rep);
  if (rc) {
    fuse_reply_err(req, mount_errno(rc));
    return;
  }
  if (rep->entry->type != DFS__ENTRY_TYPE__ENTRY_SYMLINK || !rep->entry->target)
    fuse_reply_err(req, EINVAL);
  else
    fuse_reply_readlink(req, rep->entry->target);
  dfs__stat_rep__free_unpacked(rep, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  if (child_path_or_reply(req, m, parent, name, path)) return;
  Dfs__MkdirReq r = DFS__MKDIR_REQ__INIT;
  r.path = path;
  r.mode = mode & 0777;
  r.request_id = dfs_random_u64();
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, &r.base, &dfs__mkdir_rep__descriptor,
                NULL, "mkdir", path);
  reply_made(req, m, rc, parent, name, path);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int dir) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  if (child_path_or_reply(req, m, parent, name, path)) return;
  if (!dir) hide_if_open(m, parent, name, path);
  Dfs__DeleteReq r = DFS__DELETE_REQ__INIT;
  r.path = path;
  r.trash = m->opt.trash != 0;
  r.request_id = dfs_random_u64();
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &r.base,
                &dfs__delete_rep__descriptor, NULL, dir ? "rmdir" : "unlink", path);
  if (rc == 0) {
    pthread_mutex_lock(&m->nodes.lock);
    mnode *p = inodes_get(&m->nodes, parent);
    mnode *n = p ? inodes_child(&m->nodes, p, name) : NULL;
    if (n) inodes_detach(&m->nodes, n);
    pthread_mutex_unlock(&m->nodes.lock);
  }
  fuse_reply_err(req, mount_errno(rc));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  remove_name(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  remove_name(req, parent, name, 1);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  if (child_path_or_reply(req, m, parent, name, path)) return;
  Dfs__SymlinkReq r = DFS__SYMLINK_REQ__INIT;
  r.path = path;
  r.target = (char *)link;
  r.request_id = dfs_random_u64();
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SYMLINK, &r.base,
                &dfs__symlink_rep__descriptor, NULL, "symlink", path);
  reply_made(req, m, rc, parent, name, path);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname, unsigned int flags) {
  mount_ctx *m = CTX(req);
  if (flags & RENAME_EXCHANGE) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  char src[DFS_PATH_MAX + 1], dst[DFS_PATH_MAX + 1];
  int err = child_path(m, parent, name, src);
  if (!err) err = child_path(m, newparent, newname, dst);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  if (strcmp(src, dst) == 0) {
    fuse_reply_err(req, 0);
    return;
  }
  if (!(flags & RENAME_NOREPLACE)) hide_if_open(m, newparent, newname, dst);
  Dfs__RenameReq r = DFS__RENAME_REQ__INIT;
  r.src = src;
  r.dst = dst;
  r.overwrite = !(flags & RENAME_NOREPLACE);
  r.request_id = dfs_random_u64();
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_RENAME, &r.base,
                &dfs__rename_rep__descriptor, NULL, "rename", src);
  if (rc == 0) {
    pthread_mutex_lock(&m->nodes.lock);
    mnode *p = inodes_get(&m->nodes, parent), *np = inodes_get(&m->nodes, newparent);
    mnode *n = p ? inodes_child(&m->nodes, p, name) : NULL;
    if (n && np) {
      inodes_move(&m->nodes, n, np, newname);
    } else if (np) {
      mnode *old = inodes_child(&m->nodes, np, newname);
      if (old) inodes_detach(&m->nodes, old);
    }
    pthread_mutex_unlock(&m->nodes.lock);
  }
  fuse_reply_err(req, mount_errno(rc));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  (void)ino;
  (void)newparent;
  (void)newname;
  fuse_reply_err(req, EPERM); /* one name per file in dfs */
}

static int access_for_write(mount_ctx *m, mnode *n, const char *path) {
  Dfs__StatRep *rep;
  int rc = stat_path(m, path, &rep);
  if (rc) return mount_errno(rc);
  int deny = rep->entry->owner && strcmp(rep->entry->owner, m->user) == 0 &&
             !(rep->entry->mode & 0200);
  dfs__stat_rep__free_unpacked(rep, NULL);
  (void)n;
  return deny ? EACCES : 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  int err = ino_path(m, ino, path);
  pthread_mutex_lock(&m->nodes.lock);
  mnode *n = inodes_get(&m->nodes, ino);
  pthread_mutex_unlock(&m->nodes.lock);
  if (!err && !n) err = ENOENT;
  if (!err && (fi->flags & O_ACCMODE) != O_RDONLY) {
    open_file *of = open_file_pin(m, n);
    if (of) open_file_release(m, of); /* open already: it was allowed then */
    else err = access_for_write(m, n, path);
  }
  open_file *of = NULL;
  int unchanged = 0;
  if (!err) {
    int rc = open_file_open(m, n, path, 0, 0, &of, &unchanged);
    if (rc) err = -rc;
  }
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  fi->fh = (uintptr_t)of;
  fi->keep_cache = unchanged;
  /* changed since this mount last saw it: the kernel must not go on with the size it
   * cached (it would cut reads short); attributes only, the pages go with keep_cache */
  if (!unchanged) fuse_lowlevel_notify_inval_inode(m->se, ino, -1, 0);
  if (fuse_reply_open(req, fi) == -ENOENT) open_file_release(m, of);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  if (child_path_or_reply(req, m, parent, name, path)) return;
  /* created writable by its owner, whatever mode the program asked: it writes through
   * this descriptor (POSIX allows that); the mode it asked is set at the last close */
  uint32_t want = mode & 07777;
  Dfs__TouchReq t = DFS__TOUCH_REQ__INIT;
  t.path = path;
  t.mode = want | 0600;
  t.replicas = m->opt.replicas;
  t.request_id = dfs_random_u64();
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH, &t.base, &dfs__touch_rep__descriptor,
                NULL, "create", path);
  if (rc) {
    fuse_reply_err(req, mount_errno(rc));
    return;
  }
  pthread_mutex_lock(&m->nodes.lock);
  mnode *p = inodes_get(&m->nodes, parent);
  mnode *n = p ? inodes_lookup(&m->nodes, p, name, S_IFREG) : NULL;
  pthread_mutex_unlock(&m->nodes.lock);
  if (!n) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  open_file *of;
  int unchanged;
  rc = open_file_open(m, n, path, t.mode, (want | 0600) != want ? want : 0, &of, &unchanged);
  if (rc) {
    pthread_mutex_lock(&m->nodes.lock);
    inodes_forget(&m->nodes, n, 1);
    pthread_mutex_unlock(&m->nodes.lock);
    fuse_reply_err(req, -rc);
    return;
  }
  /* the entry as we just made it (no need to ask metad): the lookup count taken above
   * is the kernel's */
  struct fuse_entry_param e;
  entry_param_for(m, n, &e);
  e.attr.st_ino = n->ino;
  e.attr.st_mode = S_IFREG;
  e.attr.st_nlink = 1;
  e.attr.st_uid = m->uid;
  e.attr.st_gid = m->gid;
  e.attr.st_blksize = 1 << 20;
  open_file_stat(of, &e.attr);
  fi->fh = (uintptr_t)of;
  if (fuse_reply_create(req, &e, fi) == -ENOENT) open_file_release(m, of);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev) {
  (void)rdev;
  if (!S_ISREG(mode)) {
    fuse_reply_err(req, EPERM); /* no devices, fifos or sockets in dfs */
    return;
  }
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  if (child_path_or_reply(req, m, parent, name, path)) return;
  Dfs__TouchReq t = DFS__TOUCH_REQ__INIT;
  t.path = path;
  t.mode = mode & 07777;
  t.replicas = m->opt.replicas;
  t.request_id = dfs_random_u64();
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH, &t.base, &dfs__touch_rep__descriptor,
                NULL, "mknod", path);
  reply_made(req, m, rc, parent, name, path);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi) {
  (void)ino;
  mount_ctx *m = CTX(req);
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  size_t got = 0;
  int rc = open_file_read(m, (open_file *)(uintptr_t)fi->fh, (uint64_t)off, size, buf, &got);
  if (rc) fuse_reply_err(req, -rc);
  else fuse_reply_buf(req, (const char *)buf, got);
  free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  (void)ino;
  mount_ctx *m = CTX(req);
  int rc = open_file_write(m, (open_file *)(uintptr_t)fi->fh, (uint64_t)off,
                           (const uint8_t *)buf, size, (fi->flags & O_APPEND) != 0);
  if (rc) fuse_reply_err(req, -rc);
  else fuse_reply_write(req, size);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  fuse_reply_err(req, -open_file_commit(CTX(req), (open_file *)(uintptr_t)fi->fh));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  (void)ino;
  (void)datasync;
  fuse_reply_err(req, -open_file_commit(CTX(req), (open_file *)(uintptr_t)fi->fh));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  open_file_release(CTX(req), (open_file *)(uintptr_t)fi->fh);
  fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  mount_ctx *m = CTX(req);
  char path[DFS_PATH_MAX + 1];
  int err = ino_path(m, ino, path);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  Dfs__ListReq r = DFS__LIST_REQ__INIT;
  r.path = path;
  ProtobufCMessage *rm = NULL;
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &r.base, &dfs__list_rep__descriptor,
                &rm, "list", path);
  dir_handle *d = rc ? NULL : calloc(1, sizeof *d);
  if (!d) {
    if (rm) protobuf_c_message_free_unpacked(rm, NULL);
    fuse_reply_err(req, rc ? mount_errno(rc) : ENOMEM);
    return;
  }
  d->rep = (Dfs__ListRep *)rm;
  fi->fh = (uintptr_t)d;
  fi->cache_readdir = 0;
  if (fuse_reply_open(req, fi) == -ENOENT) {
    dfs__list_rep__free_unpacked(d->rep, NULL);
    free(d);
  }
}

/* readdir and readdirplus: offsets 1, 2 are "." and "..", 3.. the listing. */
static void read_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                     struct fuse_file_info *fi, int plus) {
  mount_ctx *m = CTX(req);
  dir_handle *d = (dir_handle *)(uintptr_t)fi->fh;
  char *buf = malloc(size);
  if (!buf) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  size_t used = 0;
  for (off_t i = off; ; i++) {
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    const char *name;
    mnode *n = NULL;
    if (i < 2) {
      name = i == 0 ? "." : "..";
      e.attr.st_ino = ino;
      e.attr.st_mode = S_IFDIR;
    } else {
      size_t k = (size_t)(i - 2);
      if (k >= d->rep->n_entries) break;
      const Dfs__Entry *en = d->rep->entries[k];
      name = en->name;
      if (!name || !*name || is_hidden(name)) continue;
      if (plus) {
        pthread_mutex_lock(&m->nodes.lock);
        mnode *p = inodes_get(&m->nodes, ino);
        n = p ? inodes_lookup(&m->nodes, p, name, type_of(en)) : NULL;
        pthread_mutex_unlock(&m->nodes.lock);
        if (!n) break;
        entry_param_for(m, n, &e);
        node_stat(m, n, en, &e.attr);
      } else {
        mount_entry_stat(m, en, 0, &e.attr);
      }
    }
    size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1)
                       : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, i + 1);
    if (need > size - used) {
      if (n) { /* not sent: the kernel takes no reference */
        pthread_mutex_lock(&m->nodes.lock);
        inodes_forget(&m->nodes, n, 1);
        pthread_mutex_unlock(&m->nodes.lock);
      }
      break;
    }
    used += need;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi) {
  read_dir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi) {
  read_dir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  dir_handle *d = (dir_handle *)(uintptr_t)fi->fh;
  if (d) {
    dfs__list_rep__free_unpacked(d->rep, NULL);
    free(d);
  }
  fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  (void)ino;
  mount_ctx *m = CTX(req);
  Dfs__ClusterReq r = DFS__CLUSTER_REQ__INIT;
  ProtobufCMessage *rm = NULL;
  int rc = meta(m, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER, &r.base,
                &dfs__cluster_rep__descriptor, &rm, "statfs", "/");
  if (rc) {
    fuse_reply_err(req, mount_errno(rc));
    return;
  }
  const Dfs__ClusterRep *c = (const Dfs__ClusterRep *)rm;
  uint64_t cap = 0, avail = 0;
  for (size_t i = 0; i < c->n_servers; i++) {
    if (!c->servers[i]->alive) continue;
    cap += c->servers[i]->capacity_bytes;
    avail += c->servers[i]->free_bytes;
  }
  struct statvfs st;
  memset(&st, 0, sizeof st);
  st.f_bsize = st.f_frsize = 4096;
  st.f_blocks = cap / 4096;
  st.f_bfree = st.f_bavail = avail / 4096;
  st.f_files = c->files + c->dirs + (1u << 30);
  st.f_ffree = st.f_favail = 1u << 30;
  st.f_namemax = DFS_NAME_MAX;
  protobuf_c_message_free_unpacked(rm, NULL);
  fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops mount_fs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .create = op_create,
};
