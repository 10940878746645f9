/* The web console of dfsgw: a page for browsers (files, uploads with progress, downloads,
 * trash, search, chunk details, share links; an admin page with the cluster's state and
 * live charts) and the JSON API it calls, all under /console/ (and GET / for a browser).
 * The page is plain HTML/CSS/JS from src/gateway/console/, embedded in the binary at
 * build time (cmake/embed.cmake -> console_assets.c in the build tree).
 *
 * A request's path: http.c's route() asks console_wants() -> console_route() (both in
 * console_router.c), which calls one of these, each answering through console.c:
 *   console_static.c   the embedded files (GET), with the security headers
 *   console_session.c  the session cookie -> the user (authd AuthWhoami) and its dfs
 *                      token on the connection's metad client; login, logout; the
 *                      CSRF token every state-changing request echoes
 *   console_files.c    the namespace as JSON: list, mkdir, rename, trash, restore,
 *                      search, details (chunks, replicas)
 *   console_transfer.c upload (PUT, streamed with gw_upload_*) and download (GET,
 *                      streamed with gw_download_*)
 *   console_share.c    presigned S3 GET links signed with one of the user's access keys
 *   console_admin.c    the cluster (ClusterReq) and the gateway's counters, admins only
 *
 * Invariants: (1) every API call but login runs as the cookie's user: its token goes to
 * metad, which checks permissions again; the gateway itself only decides what is
 * admin-only; (2) a state-changing request (any method but GET and HEAD) is refused
 * (403) unless it carries X-CSRF-Token equal (constant time) to the session's CSRF
 * token, HMAC-SHA256(service secret, token), and its Origin, if sent, is this host;
 * nothing is read from its body or done before; (3) a JSON body is at most
 * CONSOLE_BODY_MAX bytes (413 beyond, never truncated); an upload streams through one
 * chunk buffer like an S3 PUT; (4) every answer carries the CSP (no inline script),
 * nosniff and no-framing headers; API answers are JSON (errors {"error": "one line"})
 * and the page puts text into the DOM with textContent only. */
#ifndef DFS_GATEWAY_CONSOLE_H
#define DFS_GATEWAY_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/request.h"
#include "gateway/json.h"

#define CONSOLE_BODY_MAX (64 * 1024)
#define CONSOLE_COOKIE "dfs_session"
#define CONSOLE_CSRF_HEADER "X-CSRF-Token"
#define CONSOLE_SHARE_MAX_S (7 * 24 * 3600) /* what a presigned URL may last (S3's bound) */

/* 1 if r is for the console: anything under /console (or /console itself), or an
 * unsigned GET / that accepts text/html; never a signed or presigned request. */
int console_wants(const gw_req *r);
/* Answers r or sets its body handlers (headers complete). */
void console_route(gw_req *r);

/* ---- shared by the console_*.c files ---- */

/* The headers every console answer carries (NULL-terminated name, value pairs). */
extern const char *const console_security_headers[];

/* Answers with j's text (200 unless status says otherwise); answers 500 if j failed. */
void console_json(gw_req *r, unsigned status, gw_json *j);
/* console_json(r, 200, j), then frees j and the metad reply m (if not NULL). */
void console_json_send(gw_req *r, gw_json *j, ProtobufCMessage *m);
/* {"error": msg} with status. */
void console_error(gw_req *r, unsigned status, const char *msg);
/* The answer for a dfs failure rc (err: the server's line): 404, 403, 401, 409, 400,
 * 507, 503 or 500. */
void console_dfs_error(gw_req *r, int rc, const char *err);
/* A metad call as the request's user (meta_call on r->conn->mc). */
int console_meta(gw_req *r, uint16_t type, ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *rep_desc, ProtobufCMessage **rep, char *err,
                 size_t errsz);
/* console_meta for a request that answers the error itself: the reply (the caller frees
 * it), or NULL after answering (console_dfs_error). */
ProtobufCMessage *console_ask(gw_req *r, uint16_t type, ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *rep_desc);
/* Whether path is a directory, as the request's user sees it: 0 and *is_dir, or the
 * Stat's DFS_E* with the server's line in err. */
int console_is_dir(gw_req *r, const char *path, int *is_dir, char *err, size_t errsz);
/* A query parameter that must be a valid dfs path; answers 400 and returns NULL if not. */
const char *console_path_param(gw_req *r, const char *name);
/* 1 and the path in out (DFS_PATH_MAX + 1) if JSON body[0..len) has a valid path at key;
 * otherwise answers 400 and returns 0. */
int console_body_path(gw_req *r, const char *body, size_t len, const char *key, char *out);

/* console_static.c: 1 if r named an embedded file (and was answered). */
int console_static(gw_req *r);

/* console_session.c */
/* POST /console/api/login: {"username", "password"} as JSON or a form. */
void console_login(gw_req *r, const char *body, size_t len);
/* A state-changing request's Origin (if sent) must be this host, Sec-Fetch-Site (if
 * sent) not cross-site. 0, or answers 403. */
int console_origin_check(gw_req *r);
/* The cookie's session -> r->user, r->is_admin, r->token, r->conn->mc.token. 0, or
 * answers 401 (no or a dead session) / 503 (authd unreachable) and returns non-zero. */
int console_session(gw_req *r);
/* The CSRF token of the session in r->token: 64 hex + NUL. */
void console_csrf_token(const gw_req *r, char out[65]);
/* Checks X-CSRF-Token and Origin of a state-changing request; 0, or answers 403. */
int console_csrf_check(gw_req *r);
void console_logout(gw_req *r, const char *body, size_t len);
void console_me(gw_req *r);

/* console_files.c (body: the JSON of a POST, NULL for a GET) */
void console_list(gw_req *r);
void console_search(gw_req *r);
void console_details(gw_req *r);
void console_trash_list(gw_req *r);
void console_mkdir(gw_req *r, const char *body, size_t len);
void console_rename(gw_req *r, const char *body, size_t len);
void console_trash(gw_req *r, const char *body, size_t len);
void console_restore(gw_req *r, const char *body, size_t len);

/* console_transfer.c */
void console_upload(gw_req *r);   /* PUT /console/api/file?path= (sets the body handlers) */
void console_download(gw_req *r); /* GET /console/api/file?path= */

/* console_share.c */
void console_share(gw_req *r, const char *body, size_t len);

/* console_admin.c */
void console_cluster(gw_req *r);
void console_stats(gw_req *r);

#endif
