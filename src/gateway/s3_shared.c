/* The vocabulary every S3 operation shares (declared in s3_router.h): valid bucket
 * names, and dfs errors answered as S3 errors. Below the router and the operations. */
#include "gateway/s3_router.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"

int s3_bucket_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n < 3 || n > S3_BUCKET_MAX) return 0;
  int digits_and_dots = 1;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '.' || c == '-'))
      return 0;
    if (c == '.' && i + 1 < n && name[i + 1] == '.') return 0;
    if (!isdigit((unsigned char)c) && c != '.') digits_and_dots = 0;
  }
  if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[n - 1])) return 0;
  return !digits_and_dots; /* 192.168.5.4 is not a bucket */
}

void s3_error_from_dfs(gw_req *r, int rc, const char *err, const s3_target *t, int object) {
  char msg[700];
  snprintf(msg, sizeof msg, "%s", err && *err ? err : dfs_strerror(rc));
  switch (rc) {
  case DFS_ENOENT:
    if (object) gw_s3_error(r, 404, "NoSuchKey", "the specified key does not exist");
    else gw_s3_error(r, 404, "NoSuchBucket", "the specified bucket does not exist");
    return;
  case DFS_EPERM:
    gw_s3_error(r, 403, "AccessDenied", msg);
    return;
  case DFS_EAUTH:
    gw_s3_error(r, 403, "AccessDenied", "the access key's session has ended; retry");
    return;
  case DFS_EEXIST:
  case DFS_EISDIR:
  case DFS_ENOTDIR:
    /* a key and a "directory" of the same name cannot both exist in dfs */
    gw_s3_error(r, 409, "InvalidRequest", msg);
    return;
  case DFS_ENOTEMPTY:
    gw_s3_error(r, 409, "BucketNotEmpty", "the bucket you tried to delete is not empty");
    return;
  case DFS_EBADPATH:
  case DFS_EINVAL:
  case DFS_ETOOBIG:
    gw_s3_error(r, 400, "InvalidArgument", msg);
    return;
  case DFS_EQUOTA:
    gw_s3_error(r, 403, "QuotaExceeded", msg);
    return;
  case DFS_ENOSPACE:
  case DFS_ENOSERVERS:
    gw_s3_error(r, 507, "InsufficientStorage", msg);
    return;
  case DFS_EBUSY:
    gw_s3_error(r, 503, "SlowDown", msg);
    return;
  case DFS_ECONN:
  case DFS_ETIMEDOUT:
  case DFS_EUNAVAIL:
  case DFS_ENOTLEADER:
  case DFS_ECLOSED:
    gw_s3_error(r, 503, "ServiceUnavailable", msg);
    return;
  default:
    (void)t;
    gw_s3_error(r, 500, "InternalError", msg);
  }
}
