/* Which S3 operation a request is, and the shared vocabulary of the operations:
 * path-style addressing (/BUCKET/KEY), bucket = /home/<user>/<BUCKET>, the mapping of
 * dfs errors onto S3 error codes. s3_route authenticates first (s3_auth.c) and then
 * calls one operation of s3_bucket.c, s3_list.c or s3_object.c.
 *
 * Supported: ListBuckets; Create/Delete/HeadBucket, GetBucketLocation,
 * GetBucketVersioning (never enabled); ListObjects (v1) and ListObjectsV2 with prefix,
 * delimiter "/", max-keys, marker / continuation tokens, encoding-type=url;
 * Put/Get/Head/DeleteObject (ranged GET, user metadata, Content-MD5,
 * x-amz-content-sha256 and aws-chunked bodies); DeleteObjects; CopyObject
 * (metadata-only: the chunks are shared); multipart uploads (s3_multipart.h; not
 * UploadPartCopy). Anything else answers 501 NotImplemented. */
#ifndef DFS_GATEWAY_S3_ROUTER_H
#define DFS_GATEWAY_S3_ROUTER_H

#include "client_meta.pb-c.h"
#include "common/path.h"
#include "gateway/request.h"

#define S3_BUCKET_MAX 63

/* What the path names, after authentication. */
typedef struct {
  char bucket[S3_BUCKET_MAX + 1];       /* "" for the service (GET /) */
  const char *key;                      /* into r->path; "" for a bucket request */
  char bucket_path[DFS_PATH_MAX + 1];   /* /home/<user>/<bucket> */
  char object_path[DFS_PATH_MAX + 1];   /* bucket_path/<key> (when key is not "") */
} s3_target;

/* Routes r (headers complete): answers it or sets its body handlers. */
void s3_route(gw_req *r);

/* s3_shared.c: */
/* Answers r with the S3 error for dfs error rc of a request on target t (err: dfs's
 * message, kept in the S3 message). object: 1 if the request names an object. */
void s3_error_from_dfs(gw_req *r, int rc, const char *err, const s3_target *t, int object);

/* 1 if name is a valid bucket name (3..63 of a-z 0-9 . -, starting and ending with a
 * letter or digit, not an IP address). */
int s3_bucket_name_ok(const char *name);

/* Helpers the operations share (s3_object.c), on the connection's metad client as r's
 * user. Each returns 0 or a DFS_E* code with err filled; none answers r. */
/* A call whose answer is only a Status. */
int s3_meta_call(gw_req *r, uint16_t type, ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *d, char *err, size_t errsz);
int s3_mkdir_p(gw_req *r, const char *path, char *err, size_t errsz); /* mkdir -p, 0755 */
/* Stat of path: *rep has an entry (caller frees with dfs__stat_rep__free_unpacked). */
int s3_stat(gw_req *r, const char *path, Dfs__StatRep **rep, char *err, size_t errsz);
/* The directories of t's key below the bucket (a/b of a/b/c), made where missing. */
int s3_make_parents(gw_req *r, const s3_target *t, char *err, size_t errsz);
/* The bucket exists (as a directory)? 0, or answers r (NoSuchBucket...). */
int s3_need_bucket(gw_req *r, const s3_target *t);

/* Operations (s3_bucket.c, s3_list.c, s3_object.c). */
void s3_list_buckets(gw_req *r);
void s3_create_bucket(gw_req *r, const s3_target *t);
void s3_delete_bucket(gw_req *r, const s3_target *t);
void s3_head_bucket(gw_req *r, const s3_target *t);
void s3_list_objects(gw_req *r, const s3_target *t, int v2);
void s3_put_object(gw_req *r, const s3_target *t);
void s3_get_object(gw_req *r, const s3_target *t, int head);
void s3_delete_object(gw_req *r, const s3_target *t);
void s3_delete_objects(gw_req *r, const s3_target *t);
void s3_copy_object(gw_req *r, const s3_target *t);

#endif
