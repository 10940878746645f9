/* The console's routing (console.h): which requests are the console's, and the table
 * from a path to its operation, with bounded JSON bodies collected first. */
#include "gateway/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"

int console_wants(const gw_req *r) {
  if (gw_header(r, "Authorization") || gw_has_query(r, "X-Amz-Signature") ||
      gw_has_query(r, "X-Amz-Credential"))
    return 0;
  if (strcmp(r->path, "/console") == 0 || strncmp(r->path, "/console/", 9) == 0) return 1;
  const char *accept = gw_header(r, "Accept");
  return strcmp(r->path, "/") == 0 && strcmp(r->method, "GET") == 0 && accept &&
         strstr(accept, "text/html") != NULL;
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
