/* front_door: the one way into metad (front_door.h). A request's path:
 *
 *   conn.c (accept, TLS, frame decode, pre-auth limits)
 *     -> md_on_request: park it while no leader is ready (FIFO, up to PARK_MS)
 *     -> dispatch: look its type up in `routes`
 *          client type:      a follower redirects (DFS_ENOTLEADER names the leader);
 *                            auth.c turns the token into a user (may wait for authd);
 *                            run_as_user: trash expiry check, the user's home first
 *                            (user_space.c), then the handler
 *          chunkserver type: Register opens the connection (cluster secret); anything
 *                            else before it is refused and the connection closed
 *          unknown type:     DFS_EPROTO
 *     -> handler (handlers.h): a read answers at once; a mutation becomes a log entry
 *        (mutations.c, raft_glue.c) answered once applied.
 *
 * State (in struct metad): the parked list. Invariants: (1) parked requests keep their
 * arrival order and parked_count/parked_bytes are the list's size; (2) a parked request
 * holds a reference on its connection; (3) every request is answered exactly once, or
 * its connection is closed. The answers themselves are built with replies.h. */
#include "metad/front_door.h"

#include <stdio.h>
#include <stdlib.h>

#include "chunk_meta.pb-c.h"
#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/admin_handlers.h"
#include "metad/auth.h"
#include "metad/handlers.h"
#include "metad/raft_glue.h"
#include "metad/replies.h"
#include "metad/trash_handlers.h"
#include "metad/user_space.h"

#define MSGSZ 512

/* ---- the route table: every message type metad serves, and its handler ---- */

typedef struct {
  uint16_t type;
  md_client_handler *client;           /* run as the user auth.c validated */
  md_chunkserver_handler *chunkserver; /* chunkd's protocol (chunkserver_handlers.c) */
} route;

static const route routes[] = {
    /* namespace mutations (ns_handlers.c) */
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, h_mkdir, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, h_delete, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD, h_chmod, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_RENAME, h_rename, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY, h_copy, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMPOSE, h_compose, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_SETREP, h_setrep, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH, h_touch, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_SYMLINK, h_symlink, NULL},
    /* reads (read_handlers.c) */
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, h_list, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, h_stat, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, h_getfile, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_BAD_REPLICA, h_bad_replica, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_WATCH, h_watch, NULL},
    /* writing a file: chunk ids and placement, then the commit (alloc_handlers.c) */
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_ALLOC, h_alloc, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMMIT, h_commit, NULL},
    /* trash and search (trash_handlers.c, search_handlers.c) */
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH, h_trash, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_SEARCH, h_search, NULL},
    /* a user's space (user_space.c) */
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_QUOTA, h_quota, NULL},
    /* the operator (admin_handlers.c) */
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER, admin_h_cluster, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_FSCK, admin_h_fsck, NULL},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_META_FORGET_SESSIONS, admin_h_forget_sessions, NULL},
    /* chunkservers (chunkserver_handlers.c) */
    {DFS__MSG_TYPE__MSG_CHUNK_TO_META_REGISTER, NULL, h_register},
    {DFS__MSG_TYPE__MSG_CHUNK_TO_META_INVENTORY, NULL, h_inventory},
    {DFS__MSG_TYPE__MSG_CHUNK_TO_META_HEARTBEAT, NULL, h_heartbeat},
};

static const route *route_of(uint16_t type) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (routes[i].type == type) return &routes[i];
  return NULL;
}

/* ---- dispatch ---- */

/* auth.c's auth_run_cb: runs a client request as user u. */
static void run_client(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  const route *r = route_of(m->hdr.type);
  if (r && r->client) r->client(md, c, m, u);
}

/* auth.c's auth_run_cb for fresh requests: the leader's periodic trash check rides on
 * client traffic too, and a user's home is made before their first request. */
static void run_as_user(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  md_trash_expire(md);
  if (user_space_hold_for_home(md, c, m, u, run_client)) return;
  run_client(md, c, m, u);
}

/* Serves m on c now. Takes m. */
static void dispatch(metad *md, dfs_conn *c, dfs_msg *m) {
  const route *r = route_of(m->hdr.type);
  if (r && r->client) {
    char msg[MSGSZ];
    if (m->hdr.type != DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER &&
        rg_check_leader(md, msg, sizeof msg) == DFS_ENOTLEADER) {
      /* a follower redirects without asking authd: the leader checks the token */
      md_reply_status(c, &m->hdr, DFS_ENOTLEADER, msg);
      dfs_msg_free(m);
      return;
    }
    auth_client_request(md, c, m, run_as_user); /* takes m */
    return;
  }
  int is_register = m->hdr.type == DFS__MSG_TYPE__MSG_CHUNK_TO_META_REGISTER;
  if (r && !is_register && (md->auth || md->cluster_secret[0]) &&
      !dfs_conn_is_authenticated(c)) {
    /* only Register (with the secret) opens the chunkserver side of a connection */
    LOG_WARN("%s: chunkserver message %u before registering; closing", dfs_conn_peer(c),
             m->hdr.type);
    dfs_conn_reply_error(c, &m->hdr, DFS_EAUTH, "register with the cluster secret first");
    md_close_soon(md, c);
  } else if (r) {
    r->chunkserver(md, c, m);
  } else {
    char why[96];
    snprintf(why, sizeof why, "metad does not serve message type %u", m->hdr.type);
    LOG_WARN("%s: %s", dfs_conn_peer(c), why);
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, why);
  }
  dfs_msg_free(m);
}

/* ---- parking ----
 * Requests that arrive while there is no leader yet, or this node was just elected and
 * is catching up, wait here (up to PARK_MS) instead of failing at once: a client that
 * connects right after start-up or during a failover then just sees a short delay. */
#define PARK_MS 5000
#define PARK_MAX 10000
#define PARK_MAX_BYTES (64u << 20)

struct md_parked {
  md_parked *next;
  dfs_conn *conn; /* reference held */
  dfs_msg msg;
  uint64_t deadline_ms;
};

void front_door_unpark(metad *md) {
  char msg[MSGSZ];
  uint64_t now = dfs_now_ms();
  int unavailable = rg_check_leader(md, msg, sizeof msg) == DFS_EUNAVAIL && !md->shutting_down;
  md_parked **pp = &md->parked_head;
  md->parked_last = NULL;
  while (*pp) {
    md_parked *p = *pp;
    if (unavailable && now < p->deadline_ms && dfs_conn_is_open(p->conn)) {
      md->parked_last = p;
      pp = &p->next;
      continue;
    }
    *pp = p->next;
    md->parked_count--;
    md->parked_bytes -= p->msg.hdr.payload_len;
    if (dfs_conn_is_open(p->conn)) dispatch(md, p->conn, &p->msg); /* frees the msg */
    else dfs_msg_free(&p->msg);
    dfs_conn_unref(p->conn);
    free(p);
  }
}

/* 1 if m was parked (taken). */
static int park(metad *md, dfs_conn *c, dfs_msg *m) {
  char msg[MSGSZ];
  if (m->hdr.type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER || md->shutting_down ||
      md->parked_count >= PARK_MAX || md->parked_bytes + m->hdr.payload_len > PARK_MAX_BYTES ||
      rg_check_leader(md, msg, sizeof msg) != DFS_EUNAVAIL || !route_of(m->hdr.type))
    return 0;
  md_parked *p = calloc(1, sizeof *p);
  if (!p) return 0;
  p->conn = c;
  dfs_conn_ref(c);
  p->msg = *m; /* takes the buffer */
  p->deadline_ms = dfs_now_ms() + PARK_MS;
  /* FIFO: pipelined requests keep their order */
  if (md->parked_last) md->parked_last->next = p;
  else md->parked_head = p;
  md->parked_last = p;
  md->parked_count++;
  md->parked_bytes += m->hdr.payload_len;
  return 1;
}

void md_on_request(dfs_conn *c, dfs_msg *m) {
  metad *md = dfs_conn_data(c);
  if (!park(md, c, m)) dispatch(md, c, m);
}

void md_on_close(dfs_conn *c) {
  metad *md = dfs_conn_data(c);
  if (md) chunkserver_conn_closed(md, c);
}
