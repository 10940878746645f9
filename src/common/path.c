/* Path validation and client-side normalisation (rules in path.h). */
#include "common/path.h"

#include <string.h>

#include "common/errors.h"

/* Length of the UTF-8 sequence at s (max n bytes), or 0 if invalid/overlong. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) { len = 2; min = 0x80; c &= 0x1f; }
  else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; c &= 0x0f; }
  else if ((c & 0xf8) == 0xf0) { len = 4; min = 0x10000; c &= 0x07; }
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = c << 6 | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  return len;
}

int dfs_name_check(const char *name, size_t len, const char **why) {
  const char *w = NULL;
  if (len == 0) w = "empty path component";
  else if (len > DFS_NAME_MAX) w = "path component longer than 255 bytes";
  else if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
    w = "'.' and '..' are not allowed in paths";
  for (size_t i = 0; !w && i < len;) {
    const unsigned char *u = (const unsigned char *)name + i;
    if (*u < 0x20 || *u == 0x7f) { w = "control characters are not allowed in names"; break; }
    if (*u == '/') { w = "'/' inside a name"; break; }
    size_t s = utf8_seq(u, len - i);
    if (!s) { w = "path is not valid UTF-8"; break; }
    i += s;
  }
  if (w && why) *why = w;
  return w ? DFS_EBADPATH : 0;
}

int dfs_path_check(const char *path, const char **why) {
  size_t len = strlen(path);
  if (len == 0 || path[0] != '/') {
    if (why) *why = "path must be absolute (start with '/')";
    return DFS_EBADPATH;
  }
  if (len > DFS_PATH_MAX) {
    if (why) *why = "path longer than 4096 bytes";
    return DFS_EBADPATH;
  }
  if (len == 1) return 0;
  const char *p = path + 1;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    int rc = dfs_name_check(p, n, why);
    if (rc) return rc;
    if (!slash) return 0;
    p = slash + 1;
  }
}

int dfs_path_normalize(const char *cwd, const char *in, char *out, size_t outsz) {
  char buf[2 * DFS_PATH_MAX + 2];
  size_t cl = cwd && in[0] != '/' ? strlen(cwd) : 0, il = strlen(in);
  if (cl + il + 2 > sizeof buf) return DFS_ETOOBIG;
  memcpy(buf, cwd && in[0] != '/' ? cwd : "", cl);
  buf[cl] = '/';
  memcpy(buf + cl + 1, in, il + 1);

  size_t o = 0; /* out holds "/a/b" without trailing slash; o = its length */
  const char *p = buf;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 1 && p[0] == '.') {
      /* skip */
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--; /* drop the slash too */
    } else {
      if (o + 1 + n + 1 > outsz || o + 1 + n > DFS_PATH_MAX) return DFS_ETOOBIG;
      out[o++] = '/';
      memcpy(out + o, p, n);
      o += n;
    }
    p += n;
  }
  if (o == 0) {
    if (outsz < 2) return DFS_ETOOBIG;
    out[o++] = '/';
  }
  out[o] = '\0';
  return dfs_path_check(out, NULL);
}

const char *dfs_path_split(const char *path, char *parent) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash[1] == '\0') return NULL;
  size_t plen = (size_t)(slash - path);
  if (plen == 0) plen = 1; /* parent is "/" */
  memcpy(parent, path, plen);
  parent[plen] = '\0';
  return slash + 1;
}
