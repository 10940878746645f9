/* perm: owner/mode permission checks on metad's namespace, all in one place. Unix-like
 * rules without groups: the owner gets the mode's owner bits (0700), everyone else the
 * "other" bits (0007); an administrator, and the user "" (the anonymous superuser of a
 * metad without authentication), may do anything. Pure functions of the namespace and
 * the user: used by the request handlers (reads) and by the fsm at apply time
 * (mutations), where they must be deterministic. */
#ifndef METAD_PERM_H
#define METAD_PERM_H

#include <stddef.h>

#include "common/path.h"
#include "metad/ns.h"

enum { PERM_X = 1, PERM_W = 2, PERM_R = 4 };

#define PERM_ADMIN_OWNER DFS_ADMIN_OWNER /* owner of "/" and "/home" (common/path.h) */

/* 1 if (user, is_admin) bypasses every check. */
int perm_is_super(const char *user, int is_admin);

/* 0 if user may do `want` (PERM_* bits) on inode n, else DFS_EPERM. */
int perm_check(const char *user, int is_admin, const ns_inode *n, unsigned want);

/* Writes "permission denied: PATH (owner O, mode 0NNN)" for inode n, PATH being the
 * first pathlen bytes of path. */
void perm_denied_msg(char *msg, size_t msgsz, const char *path, size_t pathlen,
                     const ns_inode *n);

/* Resolves a valid absolute path like ns_lookup, checking search (x) permission on
 * every directory passed through (the root included). 0 and *out (valid until the next
 * mutation), or DFS_ENOENT / DFS_ENOTDIR / DFS_EPERM with a one-line message. */
int perm_lookup(ns_t *ns, const char *path, const char *user, int is_admin, ns_inode **out,
                char *msg, size_t msgsz);

/* Resolves the parent directory of path (not "/"), with x on every directory down to
 * and including it, then checks `want` on the parent. *parent = the parent, *child =
 * the existing entry at path or NULL. Errors as perm_lookup (DFS_EINVAL for "/"). */
int perm_lookup_parent(ns_t *ns, const char *path, const char *user, int is_admin,
                       unsigned want, ns_inode **parent, ns_inode **child, char *msg,
                       size_t msgsz);

/* mkdir -p: x on every existing directory of path and w+x on the last existing one if
 * a component is missing. 0, or DFS_EPERM / DFS_ENOTDIR with a message. */
int perm_check_mkdir_p(ns_t *ns, const char *path, const char *user, int is_admin,
                       char *msg, size_t msgsz);

/* Recursive delete of directory dir (at path): every non-empty directory of the subtree
 * (dir included) must allow r+w+x, as rm -r needs to list and empty it. 0 or DFS_EPERM
 * (the message names the first directory refused). */
int perm_check_subtree(const ns_inode *dir, const char *path, const char *user,
                       int is_admin, char *msg, size_t msgsz);

/* The change feed's filter (Watch): 1 if user may learn that path changed, i.e. it may
 * read (r) path's nearest existing ancestor directory (path's parent, or higher up if
 * that is gone) and search (x) every directory above that one; else 0. "/" counts as
 * its own nearest directory. */
int perm_may_see(const ns_t *ns, const char *path, const char *user, int is_admin);

#endif
