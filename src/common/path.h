/* dfs path rules. A valid path is absolute, '/'-separated, valid UTF-8, at most
 * DFS_PATH_MAX bytes, with components of 1..DFS_NAME_MAX bytes that are not "." or ".."
 * and contain no control characters; "/" alone is the root. Servers accept only valid
 * paths (dfs_path_check); clients first normalise what the user typed. */
#ifndef DFS_PATH_H
#define DFS_PATH_H

#include <stddef.h>

#define DFS_PATH_MAX 4096
#define DFS_NAME_MAX 255
/* The owner name of "/" and "/home" (metad's perm.h). authd never lets anyone register
 * it: only the administrator account created by authd itself may be called that, so an
 * ordinary account can never own the root (administrators are a role, not this name). */
#define DFS_ADMIN_OWNER "admin"

/* 0 if `path` is valid, else DFS_EBADPATH and, if why != NULL, a static reason. */
int dfs_path_check(const char *path, const char **why);
/* 0 if `name` is a valid single component (see above). */
int dfs_name_check(const char *name, size_t len, const char **why);
/* Resolves `in` against `cwd` (absolute; NULL = "/"): collapses "//", drops ".",
 * applies ".." lexically (never above "/"), strips a trailing '/'. Writes a
 * NUL-terminated result to out (outsz bytes). Returns 0, DFS_ETOOBIG or DFS_EBADPATH. */
int dfs_path_normalize(const char *cwd, const char *in, char *out, size_t outsz);
/* Splits a valid non-root path into parent (written to parent, size DFS_PATH_MAX+1) and
 * returns a pointer into `path` at the last component. For "/" returns NULL. */
const char *dfs_path_split(const char *path, char *parent);

#endif
