/* Routing of S3 requests (s3_router.h): which operation a request is. */
#include "gateway/s3_router.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "gateway/s3_auth.h"
#include "gateway/s3_multipart.h"
#include "gateway/s3_xml.h"

/* Splits r->path into bucket and key and builds the dfs paths. 0, or answers r. */
static int target_of(gw_req *r, s3_target *t) {
  memset(t, 0, sizeof *t);
  const char *p = r->path;
  while (*p == '/') p++;
  const char *slash = strchr(p, '/');
  size_t blen = slash ? (size_t)(slash - p) : strlen(p);
  t->key = slash ? slash + 1 : "";
  if (blen == 0) return 0; /* the service */
  if (blen > S3_BUCKET_MAX) {
    gw_s3_error(r, 400, "InvalidBucketName", "a bucket name has 3 to 63 characters");
    return -1;
  }
  memcpy(t->bucket, p, blen);
  t->bucket[blen] = '\0';
  if (!s3_bucket_name_ok(t->bucket)) {
    gw_s3_error(r, 400, "InvalidBucketName",
                "bucket names are 3-63 of a-z 0-9 . - (starting and ending with a letter or "
                "digit)");
    return -1;
  }
  int n = snprintf(t->bucket_path, sizeof t->bucket_path, "/home/%s/%s", r->user, t->bucket);
  if (n < 0 || (size_t)n >= sizeof t->bucket_path) {
    gw_s3_error(r, 400, "InvalidArgument", "the bucket path is too long");
    return -1;
  }
  if (*t->key) {
    size_t klen = strlen(t->key);
    int dir_marker = t->key[klen - 1] == '/';
    n = snprintf(t->object_path, sizeof t->object_path, "%s/%.*s", t->bucket_path,
                 (int)(dir_marker ? klen - 1 : klen), t->key);
    const char *why = NULL;
    if (n < 0 || (size_t)n >= sizeof t->object_path) {
      gw_s3_error(r, 400, "KeyTooLongError", "your key is too long (dfs paths are at most 4096 bytes)");
      return -1;
    }
    if (dfs_path_check(t->object_path, &why)) {
      char msg[300];
      snprintf(msg, sizeof msg, "this key cannot be a dfs path: %s", why ? why : "invalid");
      gw_s3_error(r, 400, "InvalidArgument", msg);
      return -1;
    }
  }
  return 0;
}

static void not_implemented(gw_req *r, const char *what) {
  char msg[200];
  snprintf(msg, sizeof msg, "%s is not implemented by dfsgw", what);
  gw_s3_error(r, 501, "NotImplemented", msg);
}

static void bucket_location(gw_req *r) {
  s3_xml x = {0};
  s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"" S3_XMLNS "\">");
  if (strcmp(r->gw->cfg.region, "us-east-1") != 0) s3_xml_text(&x, r->gw->cfg.region);
  s3_xml_raw(&x, "</LocationConstraint>");
  gw_respond(r, 200, "application/xml", x.p, x.len, NULL);
  s3_xml_free(&x);
}

static void bucket_versioning(gw_req *r) {
  static const char body[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<VersioningConfiguration xmlns=\"" S3_XMLNS "\"/>";
  gw_respond(r, 200, "application/xml", body, sizeof body - 1, NULL);
}

static void bucket_request(gw_req *r, const s3_target *t) {
  const char *m = r->method;
  if (strcmp(m, "GET") == 0) {
    if (gw_has_query(r, "location")) bucket_location(r);
    else if (gw_has_query(r, "versioning")) bucket_versioning(r);
    else if (gw_has_query(r, "uploads")) s3_list_multipart_uploads(r, t);
    else if (gw_has_query(r, "acl") || gw_has_query(r, "policy") || gw_has_query(r, "cors") ||
             gw_has_query(r, "lifecycle") || gw_has_query(r, "tagging") ||
             gw_has_query(r, "website") || gw_has_query(r, "logging") ||
             gw_has_query(r, "encryption") || gw_has_query(r, "notification"))
      not_implemented(r, "this bucket subresource");
    else {
      const char *lt = gw_query(r, "list-type");
      s3_list_objects(r, t, lt && strcmp(lt, "2") == 0);
    }
  } else if (strcmp(m, "PUT") == 0) {
    if (r->nquery) not_implemented(r, "this bucket configuration");
    else s3_create_bucket(r, t);
  } else if (strcmp(m, "DELETE") == 0) {
    if (r->nquery) not_implemented(r, "this bucket configuration");
    else s3_delete_bucket(r, t);
  } else if (strcmp(m, "HEAD") == 0) {
    s3_head_bucket(r, t);
  } else if (strcmp(m, "POST") == 0 && gw_has_query(r, "delete")) {
    s3_delete_objects(r, t);
  } else {
    gw_s3_error(r, 405, "MethodNotAllowed", "the method is not allowed on a bucket");
  }
}

static void object_request(gw_req *r, const s3_target *t) {
  const char *m = r->method;
  if (gw_has_query(r, "uploads") || gw_has_query(r, "uploadId")) { /* s3_multipart.c */
    if (strcmp(m, "POST") == 0 && gw_has_query(r, "uploads")) s3_create_multipart(r, t);
    else if (strcmp(m, "PUT") == 0 && gw_has_query(r, "uploadId")) s3_upload_part(r, t);
    else if (strcmp(m, "POST") == 0) s3_complete_multipart(r, t);
    else if (strcmp(m, "DELETE") == 0) s3_abort_multipart(r, t);
    else if (strcmp(m, "GET") == 0 && gw_has_query(r, "uploadId")) s3_list_parts(r, t);
    else gw_s3_error(r, 405, "MethodNotAllowed", "the method is not allowed for a multipart upload");
  } else if (gw_has_query(r, "acl") || gw_has_query(r, "tagging") ||
             gw_has_query(r, "retention") || gw_has_query(r, "legal-hold") ||
             gw_has_query(r, "torrent") || gw_has_query(r, "restore") ||
             gw_has_query(r, "select")) {
    not_implemented(r, "this object subresource");
  } else if (strcmp(m, "PUT") == 0) {
    if (gw_header(r, "x-amz-copy-source")) s3_copy_object(r, t);
    else s3_put_object(r, t);
  } else if (strcmp(m, "GET") == 0) {
    s3_get_object(r, t, 0);
  } else if (strcmp(m, "HEAD") == 0) {
    s3_get_object(r, t, 1);
  } else if (strcmp(m, "DELETE") == 0) {
    s3_delete_object(r, t);
  } else {
    gw_s3_error(r, 405, "MethodNotAllowed", "the method is not allowed on an object");
  }
}

void s3_route(gw_req *r) {
  if (s3_authenticate(r)) return;
  s3_target t;
  if (target_of(r, &t)) return;
  if (!t.bucket[0]) {
    if (strcmp(r->method, "GET") == 0) s3_list_buckets(r);
    else gw_s3_error(r, 405, "MethodNotAllowed", "only GET (ListBuckets) is allowed on /");
  } else if (!*t.key) {
    bucket_request(r, &t);
  } else {
    object_request(r, &t);
  }
}
