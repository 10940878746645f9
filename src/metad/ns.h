/* ns: the in-memory namespace of metad: a tree of inodes (directories, files and
 * symbolic links). A directory keeps its children in an open-addressing hash table
 * (name -> inode); a file keeps its ordered chunk id array, size, replication goal; a
 * symbolic link is a file inode (is_dir 0, is_link 1) without chunks whose chunk array
 * pointer holds its target instead (one malloc of the target, nothing in the inode
 * grows; size 0, so it counts as an entry and no bytes in quotas). Memory per file is the
 * inode (72 bytes), its name and, beyond one chunk, its chunk array; nothing else is
 * allocated per file (the search index keeps its name once more, search.h).
 * Client attributes (CommitReq.attrs, at most DFS_ATTRS_MAX bytes) are rare next to
 * files and would push every inode past 72 bytes, so they live beside the tree: ns->attrs
 * maps a file inode's address to its ns_attrs (one allocation of 4 + len bytes plus a
 * map slot, ~32 bytes at the map's load); a file without attrs costs nothing more. The
 * entry goes with the inode: set by ns_set_attrs, copied by ns_copy_tree, kept by moves
 * (rename, trash, restore keep the inode), freed when the inode is freed.
 * Only fsm.c mutates the namespace (deterministically, from applied log entries). */
#ifndef METAD_NS_H
#define METAD_NS_H

#include <stddef.h>
#include <stdint.h>

#include "metad/ops.h"
#include "metad/search.h"
#include "metad/u64map.h"

typedef struct ns_inode ns_inode;

/* A file's client attributes: opaque bytes (may hold NULs), 1..DFS_ATTRS_MAX of them. */
typedef struct {
  uint32_t len;
  uint8_t b[];
} ns_attrs;

struct ns_inode {
  ns_inode *parent; /* NULL for the root */
  char *name;       /* owned; "" for the root */
  char *owner;      /* interned (shared by every inode of that user, never freed: set
                       it only with ns_set_owner); NULL means "" */
  uint64_t ino;
  int64_t mtime_ns;
  uint16_t mode;
  uint8_t is_dir : 1;  /* a directory (u.dir) */
  uint8_t is_link : 1; /* a symbolic link (u.file with no chunks, ids.target); is_dir 0 */
  uint8_t replicas; /* files: replication goal */
  uint32_t sidx;    /* entry in the search index, SEARCH_NONE if not indexed */
  union {
    struct {
      ns_inode **slots; /* owned; NULL = empty slot */
      uint32_t cap, count;
    } dir;
    struct {
      uint64_t size;
      union {
        uint64_t *many; /* nchunks != 1: owned malloc'd array of the chunk ids in file
                           order (NULL if 0) */
        uint64_t one;   /* nchunks == 1: the id itself (no allocation) */
        char *target;   /* is_link: owned NUL-terminated target (nchunks 0, size 0);
                           read through ns_link_target() */
      } ids;            /* read through ns_file_chunks() */
      uint32_t nchunks; /* 0 for a symbolic link */
    } file;
  } u;
};

/* The nchunks chunk ids of file f in file order (owned by f; valid while f lives and
 * its content is not replaced). */
static inline const uint64_t *ns_file_chunks(const ns_inode *f) {
  return f->u.file.nchunks == 1 ? &f->u.file.ids.one : f->u.file.ids.many;
}

/* The target of symbolic link l (owned by l), or NULL if l is not a link. */
static inline const char *ns_link_target(const ns_inode *l) {
  return l->is_link ? l->u.file.ids.target : NULL;
}

/* The longest symbolic link target (bytes, without the NUL), as the protocol allows. */
#define NS_LINK_MAX 4095

/* What one owner has: entries (files and directories) and bytes of files, in the tree
 * and in the trash (what quotas limit, fsm.h). */
typedef struct {
  const char *owner; /* interned (never freed) */
  uint64_t entries, bytes;
} ns_usage;

typedef struct {
  ns_inode *root;
  uint64_t next_ino;
  uint64_t files, dirs; /* dirs counts the root too (and trash contents); files counts
                           symbolic links too (every inode that is not a directory) */
  search_idx idx;       /* names of the visible tree (search.h) */
  /* per-owner usage, kept by every inode creation, size change and free (derived state:
   * rebuilt by ns_decode, never encoded) */
  ns_usage *usage;      /* owned vector */
  size_t nusage, capusage;
  u64map usage_idx;     /* interned owner pointer -> index */
  u64map attrs;         /* file inode address -> ns_attrs * (owned); files with attrs
                           only, in the tree or the trash */
} ns_t;

/* The client attributes of file f, or NULL if it has none. Valid until f's attrs are
 * set again or f is freed. */
const ns_attrs *ns_file_attrs(const ns_t *ns, const ns_inode *f);
/* Replaces file f's attrs with a copy of len bytes at p (len 0 = none; the caller keeps
 * len <= DFS_ATTRS_MAX). 0 or DFS_ENOMEM (f unchanged). */
int ns_set_attrs(ns_t *ns, ns_inode *f, const void *p, uint32_t len);

/* owner's usage (zeroes if it has nothing). */
void ns_usage_of(const ns_t *ns, const char *owner, uint64_t *entries, uint64_t *bytes);
/* Entries and file bytes of the subtree at n (n included). */
void ns_subtree_usage(const ns_inode *n, uint64_t *entries, uint64_t *bytes);

/* New namespace holding only "/" (mode 0755, owner ""). NULL on OOM. */
ns_t *ns_new(void);
void ns_free(ns_t *ns); /* frees every inode; NULL is fine */

/* Looks up a valid absolute path. 0 and *out (valid until the next mutation), or
 * DFS_ENOENT / DFS_ENOTDIR with a one-line message in msg. */
int ns_lookup(ns_t *ns, const char *path, ns_inode **out, char *msg, size_t msgsz);

/* The deepest a namespace may grow: an entry at most NS_MAX_DEPTH components below "/"
 * (HDFS allows 1000 too). mkdir, commit, touch, rename, copy and restore refuse to go
 * deeper, so that tree walks stay shallow and every snapshot can be restored (which
 * accepts up to DFS_PATH_MAX / 2 levels, written by older versions). */
#define NS_MAX_DEPTH 1000

/* 0 if path is a valid dfs path (common/path.h) no deeper than NS_MAX_DEPTH; else
 * DFS_EBADPATH with one line in msg. The one check every handler and apply uses. */
int ns_check_path(const char *path, char *msg, size_t msgsz);
/* Components of a valid path ("/" = 0, "/a/b" = 2). */
size_t ns_path_depth(const char *path);
/* Levels of the subtree at n (a file or an empty directory = 1). Iterative. */
size_t ns_height(const ns_inode *n);
/* 0 if n's subtree may be placed at path dst (depth(dst) - 1 + height(n) <= NS_MAX_DEPTH),
 * else DFS_EINVAL with one line in msg. */
int ns_check_fits(const char *dst, const ns_inode *n, char *msg, size_t msgsz);

/* Called before a walk looks into directory dir (the first prefix_len bytes of path name
 * it; 0 for /). Nonzero stops the walk with that code; it sets msg. */
typedef int (*ns_enter_fn)(void *ud, const ns_inode *dir, const char *path, size_t prefix_len,
                           char *msg, size_t msgsz);
/* The one path walk (ns_lookup, ns_lookup_parent and perm.c's checked lookups): from the
 * root through path, calling enter (may be NULL) on every directory it looks into. With
 * to_parent it stops at the parent of the last component: *last, *lastlen name that. */
int ns_walk(ns_t *ns, const char *path, int to_parent, ns_enter_fn enter, void *ud,
            ns_inode **out, const char **last, size_t *lastlen, char *msg, size_t msgsz);

/* mkdir (parents = like mkdir -p). 0 or DFS_E* with message. */
int ns_mkdir(ns_t *ns, const char *path, int parents, uint32_t mode, const char *owner,
             int64_t mtime_ns, char *msg, size_t msgsz);

/* Checks whether ns_put_file would succeed (same errors), without changing anything.
 * If a file would be replaced, *old is set to it (else NULL). */
int ns_put_check(ns_t *ns, const char *path, int overwrite, ns_inode **old, char *msg,
                 size_t msgsz);
/* Creates or replaces the file at path. On success takes ownership of chunks (malloc'd
 * array of nchunks ids, may be NULL if 0) and, if a file was replaced, calls
 * on_old_chunk(ud, id) for each of its chunk ids before freeing it. */
int ns_put_file(ns_t *ns, const char *path, int overwrite, uint32_t mode, const char *owner,
                int64_t mtime_ns, uint64_t size, uint32_t replicas, uint64_t *chunks,
                uint32_t nchunks, void (*on_old_chunk)(void *ud, uint64_t id), void *ud,
                char *msg, size_t msgsz);

/* Creates the symbolic link path -> target (1..NS_LINK_MAX bytes, no NUL: the caller
 * checked) owned by owner, mode 0777. The parent must exist and be a directory; an
 * existing entry at path: DFS_EEXIST. 0 or DFS_E* with message. */
int ns_symlink(ns_t *ns, const char *path, const char *target, const char *owner,
               int64_t mtime_ns, char *msg, size_t msgsz);

/* Deletes a file or directory (non-empty only if recursive); on_chunk is called for
 * every chunk id of every removed file. "/" cannot be deleted. */
int ns_delete(ns_t *ns, const char *path, int recursive, int64_t mtime_ns,
              void (*on_chunk)(void *ud, uint64_t id), void *ud, char *msg, size_t msgsz);

/* The child `name` (len bytes, not NUL-terminated) of directory dir, or NULL. */
ns_inode *ns_child(const ns_inode *dir, const char *name, size_t len);
/* Replaces n's owner (copied; "" or NULL = none). 0 or DFS_ENOMEM (n unchanged). */
int ns_set_owner(ns_t *ns, ns_inode *n, const char *owner); /* moves n's usage too */

/* Iterates a directory's children: *pos starts at 0; returns NULL at the end. The
 * directory must not change during the iteration. */
ns_inode *ns_dir_next(const ns_inode *dir, uint32_t *pos);
/* The children of directory dir sorted by name, in *out (owned by the caller: free;
 * NULL when there are none). Slot order (ns_dir_next) depends on the table's history,
 * which differs between a replica that replayed the log and one restored from a
 * snapshot: whatever apply or a snapshot derives from the order of children (inode
 * numbers of a copy, the entry an error names, snapshot bytes) walks this order.
 * 0 or DFS_ENOMEM. */
int ns_dir_sorted(const ns_inode *dir, ns_inode ***out);

/* ---- issue 4: subtree moves (rename, trash, copy) ---- */
/* Full path of n into buf ("/" for the root). 0, or DFS_ETOOBIG if it does not fit,
 * or DFS_ENOENT if n is not attached under the root (trash). */
int ns_path(const ns_inode *n, const ns_t *ns, char *buf, size_t bufsz); /* ns NULL: any root */
/* 1 if a is n or an ancestor of n. */
int ns_is_ancestor(const ns_inode *a, const ns_inode *n);
/* Takes n (not the root) out of its parent and its subtree out of the search index;
 * counters unchanged. The parent's mtime becomes mtime_ns. */
void ns_detach(ns_t *ns, ns_inode *n, int64_t mtime_ns);
/* Puts detached n into directory dir under name (nlen bytes; dir must not hold it) and
 * its subtree into the search index. 0 or DFS_ENOMEM (n stays detached). */
int ns_attach(ns_t *ns, ns_inode *dir, ns_inode *n, const char *name, size_t nlen,
              int64_t mtime_ns);
/* Frees a detached subtree, calling on_chunk per chunk id; updates counters. */
void ns_free_detached(ns_t *ns, ns_inode *n, void (*on_chunk)(void *ud, uint64_t id),
                      void *ud);
/* Deep copy of src as a detached subtree owned by owner with mtime mtime_ns; on_ref is
 * called for each chunk id of each copied file; files keep their attrs, symbolic links
 * their target (a link is copied, never followed; it counts in *files). *files and
 * *bytes are increased. NULL on OOM. */
ns_inode *ns_copy_tree(ns_t *ns, const ns_inode *src, const char *owner, int64_t mtime_ns,
                       void (*on_ref)(void *ud, uint64_t id), void *ud, uint64_t *files,
                       uint64_t *bytes);
/* Flags of the decoders: what the encoding being read has (older snapshots lack it). */
#define NS_DEC_ATTRS 0x01 /* every file node ends with u32 attrs length + bytes (fsm
                             snapshot v4 on; ns_encode always writes it) */
#define NS_DEC_LINKS 0x02 /* a node's kind byte may be 2: a symbolic link, followed by
                             the common fields and its target string (fsm snapshot v5
                             on; ns_encode writes links so) */
/* Encodes / decodes one detached subtree (trash) in the snapshot format; n's attrs are
 * looked up in ns (the namespace the subtree belongs to). */
void ns_encode_tree(const ns_t *ns, const ns_inode *n, ops_wbuf *w);
ns_inode *ns_decode_tree(ns_t *ns, ops_rbuf *r, unsigned flags);
/* Resolves the parent dir of a valid path: *dir, *name, *nlen (see ns_lookup). */
int ns_lookup_parent(ns_t *ns, const char *path, ns_inode **dir, const char **name,
                     size_t *nlen, char *msg, size_t msgsz);

/* Snapshot: appends the whole tree to w / rebuilds a namespace from r (validating
 * everything; NULL if malformed or OOM). */
void ns_encode(const ns_t *ns, ops_wbuf *w);
ns_t *ns_decode(ops_rbuf *r, unsigned flags);

#endif
