/* Object operations: Put (streamed, plain or aws-chunked), Get/Head (ranges), Delete,
 * DeleteObjects, Copy (s3_router.h). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/util.h"
#include "gateway/object_attrs.h"
#include "gateway/object_io.h"
#include "gateway/s3_body.h"
#include "gateway/s3_router.h"
#include "gateway/s3_xml.h"

#define DEFAULT_REPLICAS 2        /* like dfs put */
#define DELETE_BODY_MAX (2u << 20) /* DeleteObjects: 1000 keys of up to 1 KiB */

int s3_meta_call(gw_req *r, uint16_t type, ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *d, char *err, size_t errsz) {
  ProtobufCMessage *m = NULL;
  int rc = meta_call(&r->conn->mc, type, req, d, &m, err, errsz);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

int s3_mkdir_p(gw_req *r, const char *path, char *err, size_t errsz) {
  Dfs__MkdirReq req = DFS__MKDIR_REQ__INIT;
  req.path = (char *)path;
  req.parents = 1;
  req.mode = 0755;
  req.request_id = dfs_random_u64();
  return s3_meta_call(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, &req.base,
                     &dfs__mkdir_rep__descriptor, err, errsz);
}

/* Stat of path: 0 and *e (caller frees with dfs__stat_rep__free_unpacked(*rep)). */
int s3_stat(gw_req *r, const char *path, Dfs__StatRep **rep, char *err, size_t errsz) {
  Dfs__StatReq req = DFS__STAT_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(&r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &req.base,
                     &dfs__stat_rep__descriptor, &m, err, errsz);
  if (rc == 0 && !((Dfs__StatRep *)m)->entry) {
    rc = DFS_EPROTO;
    snprintf(err, errsz, "metad's answer has no entry");
  }
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    *rep = NULL;
    return rc;
  }
  *rep = (Dfs__StatRep *)m;
  return 0;
}

int s3_make_parents(gw_req *r, const s3_target *t, char *err, size_t errsz) {
  char parent[DFS_PATH_MAX + 1];
  snprintf(parent, sizeof parent, "%s", t->object_path);
  char *slash = strrchr(parent, '/');
  if (!slash || (size_t)(slash - parent) <= strlen(t->bucket_path)) return 0;
  *slash = '\0';
  /* usually there already: a read, where mkdir -p would be a log entry (an fsync) */
  Dfs__StatRep *rep;
  int rc = s3_stat(r, parent, &rep, err, errsz);
  int dir = rc == 0 && rep->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  if (rep) dfs__stat_rep__free_unpacked(rep, NULL);
  if (dir) return 0;
  return s3_mkdir_p(r, parent, err, errsz);
}

/* The bucket exists (as a directory)? 0, or answers r. */
int s3_need_bucket(gw_req *r, const s3_target *t) {
  Dfs__StatRep *rep;
  char err[512];
  int rc = s3_stat(r, t->bucket_path, &rep, err, sizeof err);
  if (rc == 0 && rep->entry->type != DFS__ENTRY_TYPE__ENTRY_DIR) rc = DFS_ENOENT;
  if (rep) dfs__stat_rep__free_unpacked(rep, NULL);
  if (rc) s3_error_from_dfs(r, rc, err, t, 0);
  return rc;
}

/* Removes directories left empty by a delete, up to (not including) the bucket. */
static void prune_empty_parents(gw_req *r, const s3_target *t, const char *path) {
  char p[DFS_PATH_MAX + 1], err[256];
  snprintf(p, sizeof p, "%s", path);
  size_t bl = strlen(t->bucket_path);
  for (;;) {
    char *slash = strrchr(p, '/');
    if (!slash || (size_t)(slash - p) <= bl) return;
    *slash = '\0';
    Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
    req.path = p;
    req.request_id = dfs_random_u64();
    if (s3_meta_call(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base,
                    &dfs__delete_rep__descriptor, err, sizeof err))
      return; /* not empty (or gone): stop */
  }
}

/* ---- PutObject ---- */

typedef struct {
  s3_target t;
  gw_upload up;
  s3_body body;           /* length, aws-chunked framing, digests (s3_body.c) */
  int dir_marker;         /* key ends in '/': a directory, no bytes */
} put_op;

static void put_op_free(void *p) {
  put_op *op = p;
  gw_upload_free(&op->up);
  s3_body_free(&op->body);
  free(op);
}

static int put_body(gw_req *r, const char *data, size_t len) {
  put_op *op = r->op;
  if (op->dir_marker) {
    gw_s3_error(r, 400, "InvalidRequest", "a key ending in '/' is a folder and takes no bytes");
    return 1;
  }
  return s3_body_write(r, &op->body, data, len);
}

static void put_end(gw_req *r) {
  put_op *op = r->op;
  char err[512];
  if (op->dir_marker) {
    int rc = s3_mkdir_p(r, op->t.object_path, err, sizeof err);
    if (rc) {
      s3_error_from_dfs(r, rc, err, &op->t, 1);
      return;
    }
    const char *extra[] = {"ETag", "\"d41d8cd98f00b204e9800998ecf8427e\"", NULL};
    gw_respond(r, 200, NULL, NULL, 0, extra);
    return;
  }
  uint8_t md5[16];
  if (s3_body_finish(r, &op->body, md5)) return;
  char etag[33];
  s3_hex(md5, 16, etag);
  uint8_t *attrs = NULL;
  size_t alen = 0;
  int rc = gw_attrs_build(r, etag, &attrs, &alen);
  if (rc == DFS_ETOOBIG) {
    gw_s3_error(r, 400, "MetadataTooLarge", "the metadata headers exceed 2 KB");
    return;
  }
  if (rc) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return;
  }
  rc = gw_upload_commit(&op->up, attrs, alen);
  free(attrs);
  if (rc) {
    s3_error_from_dfs(r, op->up.rc, op->up.err, &op->t, 1);
    return;
  }
  char q[40];
  snprintf(q, sizeof q, "\"%s\"", etag);
  const char *extra[] = {"ETag", q, NULL};
  gw_respond(r, 200, NULL, NULL, 0, extra);
}

/* The bucket and the key's parent directory exist (made with mkdir -p if only the
 * bucket does): 0, or answers r. One Stat when the parent is there already (it proves
 * the bucket too), which is the common case. */
static int key_ready(gw_req *r, const s3_target *t) {
  char parent[DFS_PATH_MAX + 1], err[512];
  snprintf(parent, sizeof parent, "%s", t->object_path);
  char *slash = strrchr(parent, '/');
  int nested = slash && (size_t)(slash - parent) > strlen(t->bucket_path);
  if (nested) {
    *slash = '\0';
    Dfs__StatRep *rep;
    int rc = s3_stat(r, parent, &rep, err, sizeof err);
    int dir = rc == 0 && rep->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    if (rep) dfs__stat_rep__free_unpacked(rep, NULL);
    if (dir) return 0;
  }
  if (s3_need_bucket(r, t)) return 1;
  if (!nested) return 0;
  int rc = s3_mkdir_p(r, parent, err, sizeof err);
  if (rc) s3_error_from_dfs(r, rc, err, t, 1);
  return rc;
}

void s3_put_object(gw_req *r, const s3_target *t) {
  uint64_t declared;
  int streaming;
  if (s3_body_length(r, "PutObject", &declared, &streaming)) return;
  if (t->key[strlen(t->key) - 1] == '/' ? s3_need_bucket(r, t) : key_ready(r, t)) return;
  put_op *op = calloc(1, sizeof *op);
  if (!op) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return;
  }
  op->t = *t;
  op->dir_marker = t->key[strlen(t->key) - 1] == '/';
  r->op = op;
  r->op_free = put_op_free;
  r->on_body = put_body;
  r->on_end = put_end;
  if (op->dir_marker) return;
  if (s3_body_start(r, &op->body, &op->up, &op->t, declared, streaming)) return;
  if (gw_upload_begin(&op->up, &r->conn->mc, &r->conn->cc, t->object_path, DEFAULT_REPLICAS))
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
  else {
    gw_upload_expect(&op->up, declared);
    if (r->payload != SIGV4_PAYLOAD_SHA256) gw_upload_no_sha256(&op->up);
  }
}

/* ---- GetObject / HeadObject ---- */

typedef struct {
  gw_download d;
  gateway *gw;
} get_op;

static ssize_t get_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  get_op *op = cls;
  (void)pos; /* libmicrohttpd reads sequentially from the start of the range */
  long n = gw_download_read(&op->d, (uint8_t *)buf, max);
  if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
  if (n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  __atomic_add_fetch(&op->gw->stats.bytes_out, (uint64_t)n, __ATOMIC_RELAXED);
  return n;
}

static void get_free(void *cls) {
  get_op *op = cls;
  gw_download_close(&op->d);
  free(op);
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)cls, (void)pos, (void)buf, (void)max;
  return MHD_CONTENT_READER_END_OF_STREAM;
}

/* Parses "bytes=a-b" / "bytes=a-" / "bytes=-n" against size. 1 and [*first, *last];
 * 0 if absent or not a single range (S3 then sends the whole object); -1 if
 * unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last) {
  if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',')) return 0;
  const char *s = h + 6, *dash = strchr(s, '-');
  if (!dash) return 0;
  char *end;
  if (s == dash) { /* suffix */
    unsigned long long n = strtoull(dash + 1, &end, 10);
    if (*end || !dash[1]) return 0;
    if (n == 0 || size == 0) return -1;
    *first = n >= size ? 0 : size - n;
    *last = size - 1;
    return 1;
  }
  unsigned long long a = strtoull(s, &end, 10);
  if (end != dash) return 0;
  unsigned long long b = size ? size - 1 : 0;
  if (dash[1]) {
    b = strtoull(dash + 1, &end, 10);
    if (*end) return 0;
    if (b >= size) b = size ? size - 1 : 0;
  }
  if (a >= size || a > b) return -1;
  *first = a;
  *last = b;
  return 1;
}

void s3_get_object(gw_req *r, const s3_target *t, int head) {
  char err[512];
  if (t->key[strlen(t->key) - 1] == '/') { /* a folder marker: a directory */
    Dfs__StatRep *rep;
    int rc = s3_stat(r, t->object_path, &rep, err, sizeof err);
    int dir = rc == 0 && rep->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    if (rep) dfs__stat_rep__free_unpacked(rep, NULL);
    if (!dir) {
      s3_error_from_dfs(r, rc ? rc : DFS_ENOENT, err, t, 1);
      return;
    }
    const char *extra[] = {"ETag", "\"d41d8cd98f00b204e9800998ecf8427e\"", NULL};
    gw_respond(r, 200, "application/x-directory", NULL, 0, extra);
    return;
  }
  /* one metad call: a Stat for HEAD, GetFile (with the chunks' locations) for GET */
  get_op *op = NULL;
  Dfs__StatRep *st = NULL;
  int rc;
  if (head) {
    rc = s3_stat(r, t->object_path, &st, err, sizeof err);
    if (rc == 0 && st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR) rc = DFS_EISDIR;
  } else if (!(op = calloc(1, sizeof *op))) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return;
  } else {
    op->gw = r->gw;
    rc = gw_download_open(&op->d, &r->conn->mc, &r->conn->cc, t->object_path);
    if (rc) snprintf(err, sizeof err, "%s", op->d.err);
  }
  if (rc) {
    if (rc == DFS_EISDIR) rc = DFS_ENOENT; /* a "directory" is not an object */
    if (rc != DFS_ENOENT || !s3_need_bucket(r, t)) /* NoSuchBucket before NoSuchKey */
      s3_error_from_dfs(r, rc, err, t, 1);
    if (op) get_free(op);
    if (st) dfs__stat_rep__free_unpacked(st, NULL);
    return;
  }
  const Dfs__Entry *entry = head ? st->entry : gw_download_entry(&op->d);
  uint64_t size = entry->size;
  char etag[GW_ETAG_MAX], lm[64], crange[96], len[32];
  gw_etag_of(entry, etag);
  s3_http_date(entry->mtime_ns, lm, sizeof lm);
  Dfs__ObjectAttrs *a = gw_attrs_of(entry);
  const char *extra[2 * 80 + 1];
  size_t ne = 0;
  extra[ne++] = "ETag";
  extra[ne++] = etag;
  extra[ne++] = "Last-Modified";
  extra[ne++] = lm;
  extra[ne++] = "Accept-Ranges";
  extra[ne++] = "bytes";
  char metanames[64][96];
  if (a) {
    if (a->content_encoding && *a->content_encoding) {
      extra[ne++] = "Content-Encoding";
      extra[ne++] = a->content_encoding;
    }
    if (a->content_disposition && *a->content_disposition) {
      extra[ne++] = "Content-Disposition";
      extra[ne++] = a->content_disposition;
    }
    if (a->cache_control && *a->cache_control) {
      extra[ne++] = "Cache-Control";
      extra[ne++] = a->cache_control;
    }
    if (a->content_language && *a->content_language) {
      extra[ne++] = "Content-Language";
      extra[ne++] = a->content_language;
    }
    for (size_t i = 0; i < a->n_meta && i < 64; i++) {
      snprintf(metanames[i], sizeof metanames[i], "x-amz-meta-%s", a->meta[i]->name);
      extra[ne++] = metanames[i];
      extra[ne++] = a->meta[i]->value;
    }
  }
  const char *ctype = a && a->content_type && *a->content_type ? a->content_type
                                                                : "application/octet-stream";
  /* conditional requests: If-None-Match / If-Match on the ETag */
  const char *inm = gw_header(r, "If-None-Match"), *im = gw_header(r, "If-Match");
  unsigned status = 200;
  uint64_t first = 0, last = size ? size - 1 : 0;
  int ranged = head ? 0 : parse_range(gw_header(r, "Range"), size, &first, &last);
  extra[ne] = NULL;
  if (im && strcmp(im, "*") != 0 && strcmp(im, etag) != 0) {
    gw_s3_error(r, 412, "PreconditionFailed", "If-Match does not match the object's ETag");
  } else if (inm && (strcmp(inm, "*") == 0 || strcmp(inm, etag) == 0)) {
    gw_respond(r, 304, NULL, NULL, 0, extra);
  } else if (ranged < 0) {
    snprintf(crange, sizeof crange, "bytes */%" PRIu64, size);
    gw_s3_error(r, 416, "InvalidRange", "the requested range is not satisfiable");
  } else if (head) {
    gw_respond_stream(r, 200, ctype, size, no_body, NULL, NULL, extra);
  } else {
    if (ranged > 0) {
      status = 206;
      snprintf(crange, sizeof crange, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last,
               size);
      extra[ne++] = "Content-Range";
      extra[ne++] = crange;
      extra[ne] = NULL;
    }
    op->d.pos = first;
    op->d.end = size ? last + 1 : 0;
    snprintf(len, sizeof len, "%" PRIu64, op->d.end - op->d.pos);
    gw_respond_stream(r, status, ctype, op->d.end - op->d.pos, get_reader, op, get_free, extra);
    op = NULL; /* the response owns it now */
  }
  if (a) dfs__object_attrs__free_unpacked(a, NULL);
  if (op) get_free(op);
  if (st) dfs__stat_rep__free_unpacked(st, NULL);
}

/* ---- DeleteObject(s) ---- */

/* Deletes one key; 0 if gone (also when it never existed). */
static int delete_key(gw_req *r, const s3_target *t, const char *path, char *err, size_t errsz) {
  Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
  req.path = (char *)path;
  req.recursive = 0;
  req.trash = 0;
  req.request_id = dfs_random_u64();
  int rc = s3_meta_call(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base,
                       &dfs__delete_rep__descriptor, err, errsz);
  if (rc == DFS_ENOENT || rc == DFS_ENOTDIR) return 0; /* S3: deleting nothing succeeds */
  if (rc == 0) prune_empty_parents(r, t, path);
  return rc;
}

void s3_delete_object(gw_req *r, const s3_target *t) {
  char err[512];
  if (s3_need_bucket(r, t)) return; /* deleting nothing succeeds, but only in a bucket */
  int rc = delete_key(r, t, t->object_path, err, sizeof err);
  if (rc == DFS_ENOTEMPTY) /* a folder with keys below it: S3 keeps those keys */
    rc = 0;
  if (rc) s3_error_from_dfs(r, rc, err, t, 1);
  else gw_respond(r, 204, NULL, NULL, 0, NULL);
}

typedef struct {
  s3_target t;
  s3_doc doc;
} delete_op;

static void delete_op_free(void *p) {
  delete_op *op = p;
  s3_doc_free(&op->doc);
  free(op);
}

static int delete_body(gw_req *r, const char *data, size_t len) {
  delete_op *op = r->op;
  return s3_doc_append(r, &op->doc, data, len, DELETE_BODY_MAX,
                       "the Delete document (at most 1000 keys)");
}

static void delete_end(gw_req *r) {
  delete_op *op = r->op;
  char key[DFS_PATH_MAX + 1], quiet[16] = "", err[512];
  size_t pos = 0;
  if (op->doc.p) s3_xml_find(op->doc.p, op->doc.len, &pos, "Quiet", quiet, sizeof quiet);
  int is_quiet = strcasecmp(quiet, "true") == 0;
  s3_xml x = {0};
  s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"" S3_XMLNS "\">");
  pos = 0;
  int n = 0;
  while (op->doc.p && s3_xml_find(op->doc.p, op->doc.len, &pos, "Key", key, sizeof key)) {
    if (++n > 1000) {
      s3_xml_free(&x);
      gw_s3_error(r, 400, "MalformedXML", "at most 1000 keys per DeleteObjects");
      return;
    }
    char path[DFS_PATH_MAX + 2];
    const char *why = NULL;
    size_t kl = strlen(key);
    int ok = kl > 0 &&
             snprintf(path, sizeof path, "%s/%.*s", op->t.bucket_path,
                      (int)(key[kl - 1] == '/' ? kl - 1 : kl), key) < (int)sizeof path - 1 &&
             dfs_path_check(path, &why) == 0;
    int rc = ok ? delete_key(r, &op->t, path, err, sizeof err) : DFS_EBADPATH;
    if (rc == DFS_ENOTEMPTY) rc = 0;
    if (rc == 0) {
      if (!is_quiet) {
        s3_xml_raw(&x, "<Deleted>");
        s3_xml_elem(&x, "Key", key);
        s3_xml_raw(&x, "</Deleted>");
      }
    } else {
      s3_xml_raw(&x, "<Error>");
      s3_xml_elem(&x, "Key", key);
      s3_xml_elem(&x, "Code", rc == DFS_EPERM ? "AccessDenied" : rc == DFS_EBADPATH ? "InvalidArgument" : "InternalError");
      s3_xml_elem(&x, "Message", ok ? err : "this key cannot be a dfs path");
      s3_xml_raw(&x, "</Error>");
    }
  }
  s3_xml_raw(&x, "</DeleteResult>");
  if (n == 0) gw_s3_error(r, 400, "MalformedXML", "the Delete document names no Key");
  else if (x.failed) gw_s3_error(r, 500, "InternalError", "the answer does not fit in memory");
  else gw_respond(r, 200, "application/xml", x.p, x.len, NULL);
  s3_xml_free(&x);
}

void s3_delete_objects(gw_req *r, const s3_target *t) {
  if (s3_need_bucket(r, t)) return;
  delete_op *op = calloc(1, sizeof *op);
  if (!op) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return;
  }
  op->t = *t;
  r->op = op;
  r->op_free = delete_op_free;
  r->on_body = delete_body;
  r->on_end = delete_end;
}

/* ---- CopyObject ---- */

static int unhex1(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

void s3_copy_object(gw_req *r, const s3_target *t) {
  const char *src = gw_header(r, "x-amz-copy-source");
  const char *dir = gw_header(r, "x-amz-metadata-directive");
  if (dir && strcasecmp(dir, "REPLACE") == 0) {
    gw_s3_error(r, 501, "NotImplemented", "CopyObject with REPLACE metadata is not "
                                          "implemented by dfsgw (COPY is)");
    return;
  }
  /* "/bucket/key" or "bucket/key", URL-encoded, maybe "?versionId=..." */
  char dec[DFS_PATH_MAX + 1];
  size_t o = 0;
  for (const char *s = src; *s && *s != '?' && o + 1 < sizeof dec; s++) {
    if (*s == '%' && unhex1(s[1]) >= 0 && unhex1(s[2]) >= 0) {
      dec[o++] = (char)(unhex1(s[1]) * 16 + unhex1(s[2]));
      s += 2;
    } else {
      dec[o++] = *s;
    }
  }
  dec[o] = '\0';
  const char *p = dec;
  while (*p == '/') p++;
  const char *slash = strchr(p, '/');
  char sbucket[S3_BUCKET_MAX + 1], spath[DFS_PATH_MAX + 1];
  const char *why = NULL;
  if (!slash || !slash[1] || (size_t)(slash - p) > S3_BUCKET_MAX) {
    gw_s3_error(r, 400, "InvalidArgument", "x-amz-copy-source must be /BUCKET/KEY");
    return;
  }
  snprintf(sbucket, sizeof sbucket, "%.*s", (int)(slash - p), p);
  if (!s3_bucket_name_ok(sbucket) ||
      snprintf(spath, sizeof spath, "/home/%s/%s/%s", r->user, sbucket, slash + 1) >=
          (int)sizeof spath ||
      dfs_path_check(spath, &why)) {
    gw_s3_error(r, 400, "InvalidArgument", "x-amz-copy-source names no valid key");
    return;
  }
  if (s3_need_bucket(r, t)) return;
  char err[512];
  int prc = s3_make_parents(r, t, err, sizeof err);
  if (prc) {
    s3_error_from_dfs(r, prc, err, t, 1);
    return;
  }
  Dfs__CopyReq req = DFS__COPY_REQ__INIT;
  req.src = spath;
  req.dst = (char *)t->object_path;
  req.overwrite = 1;
  req.request_id = dfs_random_u64();
  int rc = s3_meta_call(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY, &req.base,
                       &dfs__copy_rep__descriptor, err, sizeof err);
  if (rc) {
    s3_error_from_dfs(r, rc, err, t, 1);
    return;
  }
  Dfs__StatRep *st;
  rc = s3_stat(r, t->object_path, &st, err, sizeof err);
  if (rc) {
    s3_error_from_dfs(r, rc, err, t, 1);
    return;
  }
  char etag[GW_ETAG_MAX];
  gw_etag_of(st->entry, etag);
  s3_xml x = {0};
  s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult xmlns=\"" S3_XMLNS "\">");
  s3_xml_elem_time(&x, "LastModified", st->entry->mtime_ns);
  s3_xml_elem(&x, "ETag", etag);
  s3_xml_raw(&x, "</CopyObjectResult>");
  dfs__stat_rep__free_unpacked(st, NULL);
  gw_respond(r, 200, "application/xml", x.p, x.len, NULL);
  s3_xml_free(&x);
}
