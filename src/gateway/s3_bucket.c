/* Bucket operations: a bucket is the directory /home/<user>/<bucket> (s3_router.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/util.h"
#include "gateway/s3_router.h"
#include "gateway/s3_xml.h"

#define SMALL_BODY_MAX (64 * 1024) /* CreateBucketConfiguration and the like */

static int cmp_entry_name(const void *a, const void *b) {
  const Dfs__Entry *x = *(const Dfs__Entry *const *)a, *y = *(const Dfs__Entry *const *)b;
  return strcmp(x->name, y->name);
}

void s3_list_buckets(gw_req *r) {
  char home[DFS_PATH_MAX + 1], err[512];
  snprintf(home, sizeof home, "/home/%s", r->user);
  Dfs__ListReq req = DFS__LIST_REQ__INIT;
  req.path = home;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(&r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base,
                     &dfs__list_rep__descriptor, &m, err, sizeof err);
  if (rc && rc != DFS_ENOENT) { /* no home yet: no buckets */
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    s3_error_from_dfs(r, rc, err, NULL, 0);
    return;
  }
  const Dfs__ListRep *rep = rc ? NULL : (const Dfs__ListRep *)m;
  s3_xml x = {0};
  s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"" S3_XMLNS
                 "\"><Owner>");
  s3_xml_elem(&x, "ID", r->user);
  s3_xml_elem(&x, "DisplayName", r->user);
  s3_xml_raw(&x, "</Owner><Buckets>");
  if (rep && rep->n_entries) {
    Dfs__Entry **v = malloc(rep->n_entries * sizeof *v);
    if (v) {
      memcpy(v, rep->entries, rep->n_entries * sizeof *v);
      qsort(v, rep->n_entries, sizeof *v, cmp_entry_name);
      for (size_t i = 0; i < rep->n_entries; i++) {
        if (v[i]->type != DFS__ENTRY_TYPE__ENTRY_DIR || !s3_bucket_name_ok(v[i]->name)) continue;
        s3_xml_raw(&x, "<Bucket>");
        s3_xml_elem(&x, "Name", v[i]->name);
        s3_xml_elem_time(&x, "CreationDate", v[i]->mtime_ns);
        s3_xml_raw(&x, "</Bucket>");
      }
      free(v);
    } else {
      x.failed = 1;
    }
  }
  s3_xml_raw(&x, "</Buckets></ListAllMyBucketsResult>");
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (x.failed) gw_s3_error(r, 500, "InternalError", "out of memory");
  else gw_respond(r, 200, "application/xml", x.p, x.len, NULL);
  s3_xml_free(&x);
}

/* A request whose small body we read and ignore before answering. */
typedef struct {
  s3_target t;
  size_t body;
} small_op;

static int discard_small_body(gw_req *r, const char *data, size_t len) {
  (void)data;
  small_op *op = r->op;
  op->body += len;
  if (op->body > SMALL_BODY_MAX) {
    gw_s3_error(r, 400, "MaxMessageLengthExceeded", "the request body is too large");
    return 1;
  }
  return 0;
}

static int start_small(gw_req *r, const s3_target *t, gw_end_fn end) {
  small_op *op = calloc(1, sizeof *op);
  if (!op) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return -1;
  }
  op->t = *t;
  r->op = op;
  r->op_free = free;
  r->on_body = discard_small_body;
  r->on_end = end;
  return 0;
}

static void create_bucket_end(gw_req *r) {
  small_op *op = r->op;
  Dfs__MkdirReq req = DFS__MKDIR_REQ__INIT;
  req.path = op->t.bucket_path;
  req.mode = 0700; /* a user's bucket is hers: like her home */
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(&r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, &req.base,
                     &dfs__mkdir_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_EEXIST) {
    gw_s3_error(r, 409, "BucketAlreadyOwnedByYou",
                "you already own this bucket (or a file of that name is in your home)");
  } else if (rc == DFS_ENOENT) {
    gw_s3_error(r, 403, "AccessDenied", "your home directory does not exist; ask an "
                                        "administrator to create /home/<you>");
  } else if (rc) {
    s3_error_from_dfs(r, rc, err, &op->t, 0);
  } else {
    char loc[80];
    snprintf(loc, sizeof loc, "/%s", op->t.bucket);
    const char *extra[] = {"Location", loc, NULL};
    gw_respond(r, 200, NULL, NULL, 0, extra);
  }
}

void s3_create_bucket(gw_req *r, const s3_target *t) { start_small(r, t, create_bucket_end); }

void s3_delete_bucket(gw_req *r, const s3_target *t) {
  Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
  req.path = (char *)t->bucket_path;
  req.recursive = 0;
  req.trash = 0;
  req.request_id = dfs_random_u64();
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(&r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base,
                     &dfs__delete_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc) s3_error_from_dfs(r, rc, err, t, 0);
  else gw_respond(r, 204, NULL, NULL, 0, NULL);
}

void s3_head_bucket(gw_req *r, const s3_target *t) {
  Dfs__StatReq req = DFS__STAT_REQ__INIT;
  req.path = (char *)t->bucket_path;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(&r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &req.base,
                     &dfs__stat_rep__descriptor, &m, err, sizeof err);
  int dir = rc == 0 && ((Dfs__StatRep *)m)->entry &&
            ((Dfs__StatRep *)m)->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc) s3_error_from_dfs(r, rc, err, t, 0);
  else if (!dir) gw_s3_error(r, 404, "NoSuchBucket", "the specified bucket does not exist");
  else {
    const char *extra[] = {"x-amz-bucket-region", r->gw->cfg.region, NULL};
    gw_respond(r, 200, NULL, NULL, 0, extra);
  }
}
