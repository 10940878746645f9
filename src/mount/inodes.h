/* The mount's inode table: the kernel names files by inode number, metad by path. Each
 * name the kernel has looked up gets a node (ino, parent node, name) kept while the
 * kernel holds references to it (FUSE lookup counts) or the file is open here; a node's
 * path is rebuilt from its parents, so renaming a directory renames everything below it
 * at once. Numbers are the mount's own (metad gives a file a new inode when its content
 * is replaced; the kernel must keep seeing the same one). Root: FUSE_ROOT_ID (1).
 * One lock (inodes.lock) guards the table and every node's fields but `of`'s contents. */
#ifndef DFS_MOUNT_INODES_H
#define DFS_MOUNT_INODES_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct open_file;

typedef struct mnode {
  uint64_t ino;
  struct mnode *parent; /* NULL: the root, or a node whose name is gone (detached) */
  char *name;           /* owned; "" for the root */
  uint64_t nlookup;     /* the kernel's references */
  uint32_t nchildren;   /* nodes whose parent this is */
  uint32_t type;        /* S_IFREG, S_IFDIR or S_IFLNK as last seen */
  int detached;         /* unlinked or replaced: not reachable by name any more */
  struct open_file *of; /* the open state while the file is open here (open_file.c) */
  int64_t seen_mtime_ns; uint64_t seen_size; /* as of the last open (page-cache reuse) */
  struct mnode *next_ino, *next_name; /* hash chains */
} mnode;

typedef struct {
  pthread_mutex_t lock;
  mnode **by_ino, **by_name; /* owned bucket arrays */
  size_t nbuckets;
  uint64_t next_ino;
  size_t count;
  mnode *root;
} inodes;

int inodes_init(inodes *t); /* 0 or DFS_ENOMEM */
void inodes_free(inodes *t);

/* With t->lock held: */
mnode *inodes_get(inodes *t, uint64_t ino);                       /* NULL: unknown */
mnode *inodes_child(inodes *t, mnode *parent, const char *name);  /* NULL: none */
/* The node of parent/name, made if missing; nlookup += 1 (a lookup reply). NULL: out
 * of memory. type: what metad says it is now. */
mnode *inodes_lookup(inodes *t, mnode *parent, const char *name, uint32_t type);
/* Writes n's path into out (size outsz). 0, or DFS_ENOENT (detached), DFS_EBADPATH
 * (too long). */
int inodes_path(const mnode *n, char *out, size_t outsz);
/* The node at this path if the kernel knows it (for the change feed), else NULL. */
mnode *inodes_find_path(inodes *t, const char *path);
/* parent/name no longer names n (unlink, rmdir, replaced by a rename). */
void inodes_detach(inodes *t, mnode *n);
/* n moves to newparent/newname (after a rename); a node there is detached first. */
int inodes_move(inodes *t, mnode *n, mnode *newparent, const char *newname);
/* The kernel dropped k references; frees n when none is left and it is not open. */
void inodes_forget(inodes *t, mnode *n, uint64_t k);
/* Frees n if nothing refers to it any more (after its file was closed). */
void inodes_maybe_free(inodes *t, mnode *n);

#endif
