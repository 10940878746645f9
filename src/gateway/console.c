/* The console's routing and shared answers (console.h). */
#include "gateway/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"

const char *const console_security_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options", "nosniff",
    "X-Frame-Options", "DENY",
    "Referrer-Policy", "no-referrer",
    "Cache-Control", "no-store",
    NULL};

int console_wants(const gw_req *r) {
  if (gw_header(r, "Authorization") || gw_has_query(r, "X-Amz-Signature") ||
      gw_has_query(r, "X-Amz-Credential"))
    return 0;
  if (strcmp(r->path, "/console") == 0 || strncmp(r->path, "/console/", 9) == 0) return 1;
  const char *accept = gw_header(r, "Accept");
  return strcmp(r->path, "/") == 0 && strcmp(r->method, "GET") == 0 && accept &&
         strstr(accept, "text/html") != NULL;
}

void console_json(gw_req *r, unsigned status, gw_json *j) {
  if (j->failed) {
    console_error(r, 500, "the gateway is out of memory");
    return;
  }
  gw_respond(r, status ? status : 200, "application/json", j->p, j->len,
             console_security_headers);
}

void console_json_send(gw_req *r, gw_json *j, ProtobufCMessage *m) {
  console_json(r, 200, j);
  gw_json_free(j);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
}

void console_error(gw_req *r, unsigned status, const char *msg) {
  gw_json j = {0};
  gw_json_obj(&j, NULL);
  gw_json_str(&j, "error", msg);
  gw_json_end_obj(&j);
  if (j.failed) gw_respond(r, 503, "application/json", "{\"error\":\"out of memory\"}", 25,
                           console_security_headers);
  else gw_respond(r, status, "application/json", j.p, j.len, console_security_headers);
  gw_json_free(&j);
}

void console_dfs_error(gw_req *r, int rc, const char *err) {
  char msg[600];
  snprintf(msg, sizeof msg, "%s", err && *err ? err : dfs_strerror(rc));
  for (char *p = msg; *p; p++) /* one line */
    if (*p == '\n' || *p == '\r') *p = ' ';
  unsigned st;
  switch (rc) {
  case DFS_ENOENT: st = 404; break;
  case DFS_EPERM: case DFS_EQUOTA: st = 403; break;
  case DFS_EAUTH: st = 401; break;
  case DFS_EEXIST: case DFS_ENOTEMPTY: case DFS_EISDIR: case DFS_ENOTDIR: st = 409; break;
  case DFS_EBADPATH: case DFS_EINVAL: case DFS_ETOOBIG: st = 400; break;
  case DFS_ENOSPACE: case DFS_ENOSERVERS: st = 507; break;
  case DFS_ECONN: case DFS_ETIMEDOUT: case DFS_EUNAVAIL: case DFS_EBUSY: st = 503; break;
  default: st = 500;
  }
  console_error(r, st, msg);
}

int console_meta(gw_req *r, uint16_t type, ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *rep_desc, ProtobufCMessage **rep, char *err,
                 size_t errsz) {
  *rep = NULL;
  return meta_call(&r->conn->mc, type, req, rep_desc, rep, err, errsz);
}

ProtobufCMessage *console_ask(gw_req *r, uint16_t type, ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *rep_desc) {
  ProtobufCMessage *m;
  char err[512];
  int rc = console_meta(r, type, req, rep_desc, &m, err, sizeof err);
  if (rc == 0) return m;
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  console_dfs_error(r, rc, err);
  return NULL;
}

int console_is_dir(gw_req *r, const char *path, int *is_dir, char *err, size_t errsz) {
  Dfs__StatReq st = DFS__STAT_REQ__INIT;
  st.path = (char *)path;
  ProtobufCMessage *m;
  int rc = console_meta(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &st.base,
                        &dfs__stat_rep__descriptor, &m, err, errsz);
  const Dfs__StatRep *rep = (const Dfs__StatRep *)m;
  *is_dir = rc == 0 && rep->entry && rep->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

const char *console_path_param(gw_req *r, const char *name) {
  const char *p = gw_query(r, name), *why = "missing";
  if (p && dfs_path_check(p, &why) == 0) return p;
  char msg[300];
  snprintf(msg, sizeof msg, "parameter %s: not a valid path (%s)", name, why);
  console_error(r, 400, msg);
  return NULL;
}

int console_body_path(gw_req *r, const char *body, size_t len, const char *key, char *out) {
  const char *why = "missing";
  int got = gw_json_get(body, len, key, out, DFS_PATH_MAX + 1);
  if (got < 0) why = "the body is not a flat JSON object (or the value is too long)";
  if (got == 1 && dfs_path_check(out, &why) == 0) return 1;
  char msg[300];
  snprintf(msg, sizeof msg, "%s: not a valid path (%s)", key, why);
  console_error(r, 400, msg);
  return 0;
}

/* ---- the API: a JSON body collected (bounded), then the operation ---- */

typedef void (*body_op)(gw_req *r, const char *body, size_t len);

typedef struct {
  body_op fn;
  size_t len;
  char buf[CONSOLE_BODY_MAX];
} body_buf;

static int collect(gw_req *r, const char *data, size_t len) {
  body_buf *b = r->op;
  if (len > CONSOLE_BODY_MAX - b->len) {
    console_error(r, 413, "the request body is over 64 KiB");
    return 1;
  }
  memcpy(b->buf + b->len, data, len);
  b->len += len;
  return 0;
}

static void collected(gw_req *r) {
  body_buf *b = r->op;
  b->fn(r, b->buf, b->len);
}

/* Reads the body into a bounded buffer, then runs fn. */
static void with_body(gw_req *r, body_op fn) {
  const char *cl = gw_header(r, "Content-Length");
  if (cl && strtoull(cl, NULL, 10) > CONSOLE_BODY_MAX) {
    console_error(r, 413, "the request body is over 64 KiB");
    return;
  }
  body_buf *b = malloc(sizeof *b);
  if (!b) {
    console_error(r, 503, "the gateway is out of memory");
    return;
  }
  b->fn = fn;
  b->len = 0;
  r->op = b;
  r->op_free = free;
  r->on_body = collect;
  r->on_end = collected;
}

typedef struct {
  const char *method, *name;
  void (*get)(gw_req *r); /* GET: no body */
  body_op post;           /* POST: a JSON body */
  int admin;              /* administrators only */
  int anon;               /* no session needed (login): only the Origin is checked */
} api_op;

static const api_op api[] = {
    {"POST", "login", NULL, console_login, 0, 1},
    {"GET", "me", console_me, NULL, 0, 0},
    {"POST", "logout", NULL, console_logout, 0, 0},
    {"GET", "list", console_list, NULL, 0, 0},
    {"GET", "search", console_search, NULL, 0, 0},
    {"GET", "details", console_details, NULL, 0, 0},
    {"GET", "trash", console_trash_list, NULL, 0, 0},
    {"POST", "mkdir", NULL, console_mkdir, 0, 0},
    {"POST", "rename", NULL, console_rename, 0, 0},
    {"POST", "trash", NULL, console_trash, 0, 0},
    {"POST", "restore", NULL, console_restore, 0, 0},
    {"POST", "share", NULL, console_share, 0, 0},
    {"GET", "file", console_download, NULL, 0, 0},
    {"PUT", "file", console_upload, NULL, 0, 0},
    {"GET", "cluster", console_cluster, NULL, 1, 0},
    {"GET", "stats", console_stats, NULL, 1, 0},
};

static void api_route(gw_req *r, const char *name) {
  const api_op *op = NULL;
  int known = 0;
  for (size_t i = 0; i < sizeof api / sizeof api[0]; i++)
    if (strcmp(api[i].name, name) == 0) {
      known = 1;
      if (strcmp(api[i].method, r->method) == 0) op = &api[i];
    }
  if (!op) {
    console_error(r, known ? 405 : 404, known ? "method not allowed" : "no such API call");
    return;
  }
  /* who, then (state changes only) the CSRF token: before anything is read or done */
  int safe = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
  if (op->anon) {
    if (console_origin_check(r)) return;
  } else {
    if (console_session(r)) return;
    if (!safe && console_csrf_check(r)) return;
  }
  if (op->admin && !r->is_admin) {
    console_error(r, 403, "this page is for administrators");
    return;
  }
  if (op->get) op->get(r);
  else with_body(r, op->post);
}

void console_route(gw_req *r) {
  if (strncmp(r->path, "/console/api/", 13) == 0) {
    api_route(r, r->path + 13);
    return;
  }
  if (strcmp(r->path, "/console") == 0) {
    const char *extra[] = {"Location", "/console/", NULL};
    gw_respond(r, 302, "text/plain", "see /console/\n", 14, extra);
    return;
  }
  if (console_static(r)) return;
  console_error(r, 404, "no such page");
}
