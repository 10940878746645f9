/* The console's shared answers and checks, used by every console_*.c (console.h);
 * the routing is console_router.c. */
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
