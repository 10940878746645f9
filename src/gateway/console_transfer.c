/* Uploads and downloads of the console (console.h): the browser's PUT body goes down
 * the replica chains one 1 MiB chunk at a time (object_io.h), and a download streams
 * chunk by chunk; neither ever holds a whole file. An upload commits (atomically
 * replacing the file) only once every byte arrived: a browser that goes away mid-way
 * leaves nothing behind but chunks metad's collector reclaims. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "gateway/console.h"
#include "gateway/object_attrs.h"
#include "gateway/object_io.h"

#define CONSOLE_REPLICAS 2 /* like dfs put and S3 PUTs */

typedef struct {
  gw_upload up;
} up_op;

static void up_free(void *p) {
  up_op *op = p;
  gw_upload_free(&op->up);
  free(op);
}

static int up_body(gw_req *r, const char *data, size_t len) {
  up_op *op = r->op;
  if (gw_upload_write(&op->up, data, len)) {
    console_dfs_error(r, op->up.rc, op->up.err);
    return 1;
  }
  return 0;
}

static void up_end(gw_req *r) {
  up_op *op = r->op;
  uint8_t md5[16], sha[32];
  if (gw_upload_finish(&op->up, md5, sha)) {
    console_dfs_error(r, op->up.rc, op->up.err);
    return;
  }
  char etag[33];
  for (int i = 0; i < 16; i++) snprintf(etag + 2 * i, 3, "%02x", md5[i]);
  uint8_t *attrs = NULL;
  size_t alen = 0;
  /* the ETag and Content-Type S3 clients will see for this file */
  if (gw_attrs_build(r, etag, &attrs, &alen)) {
    attrs = NULL;
    alen = 0;
  }
  int rc = gw_upload_commit(&op->up, attrs, alen);
  free(attrs);
  if (rc) {
    console_dfs_error(r, op->up.rc ? op->up.rc : rc, op->up.err);
    return;
  }
  gw_json j = {0};
  gw_json_obj(&j, NULL);
  gw_json_str(&j, "path", op->up.path);
  gw_json_uint(&j, "size", op->up.size);
  gw_json_str(&j, "etag", etag);
  gw_json_end_obj(&j);
  console_json_send(r, &j, NULL);
}

void console_upload(gw_req *r) {
  const char *path = console_path_param(r, "path");
  if (!path) return;
  if (strcmp(path, "/") == 0) {
    console_error(r, 400, "path: a file's path");
    return;
  }
  /* the folder must exist before any byte goes anywhere (else every chunk would be
   * written for nothing and the Commit refused at the end) */
  char parent[DFS_PATH_MAX + 1], err[512];
  dfs_path_split(path, parent);
  int dir;
  int rc = console_is_dir(r, parent, &dir, err, sizeof err);
  if (rc || !dir) {
    console_dfs_error(r, rc ? rc : DFS_ENOTDIR, rc ? err : "the upload's folder is a file");
    return;
  }
  up_op *op = calloc(1, sizeof *op);
  if (!op) {
    console_error(r, 503, "the gateway is out of memory");
    return;
  }
  r->op = op;
  r->op_free = up_free;
  if (gw_upload_begin(&op->up, &r->conn->mc, &r->conn->cc, path, CONSOLE_REPLICAS)) {
    console_error(r, 503, "the gateway is out of memory");
    return;
  }
  const char *cl = gw_header(r, "Content-Length");
  if (cl) gw_upload_expect(&op->up, strtoull(cl, NULL, 10));
  gw_upload_no_sha256(&op->up); /* a console upload's body is not signed */
  r->on_body = up_body;
  r->on_end = up_end;
}

typedef struct {
  gw_download d;
  gateway *gw;
} down_op;

static ssize_t down_read(void *cls, uint64_t pos, char *buf, size_t max) {
  down_op *op = cls;
  (void)pos; /* sequential from the start */
  long n = gw_download_read(&op->d, (uint8_t *)buf, max);
  if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
  if (n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  __atomic_add_fetch(&op->gw->stats.bytes_out, (uint64_t)n, __ATOMIC_RELAXED);
  return n;
}

static void down_free(void *cls) {
  down_op *op = cls;
  gw_download_close(&op->d);
  free(op);
}

void console_download(gw_req *r) {
  const char *path = console_path_param(r, "path");
  if (!path) return;
  down_op *op = calloc(1, sizeof *op);
  if (!op) {
    console_error(r, 503, "the gateway is out of memory");
    return;
  }
  op->gw = r->gw;
  int rc = gw_download_open(&op->d, &r->conn->mc, &r->conn->cc, path);
  if (rc) {
    console_dfs_error(r, rc, op->d.err);
    down_free(op);
    return;
  }
  /* attachment; the name RFC 5987-encoded (any byte but unreserved ones escaped) */
  const char *name = strrchr(path, '/') + 1;
  char enc[3 * DFS_NAME_MAX + 1], disp[3 * DFS_NAME_MAX + 64];
  if (sigv4_uri_encode(name, strlen(name), 0, enc, sizeof enc) < 0) snprintf(enc, sizeof enc, "file");
  snprintf(disp, sizeof disp, "attachment; filename*=UTF-8''%s", enc);
  const char *extra[2 * 8 + 3];
  size_t n = 0;
  for (size_t i = 0; console_security_headers[i]; i++) extra[n++] = console_security_headers[i];
  extra[n++] = "Content-Disposition";
  extra[n++] = disp;
  extra[n] = NULL;
  gw_respond_stream(r, 200, "application/octet-stream", op->d.size, down_read, op, down_free,
                    extra);
}
