/* user_space: what belongs to one user. A named user without /home/<user> gets it
 * (OP_MKHOME) before their first request runs: one OP_MKHOME per user in flight
 * (md->homes_waiting), the user's requests queue on it in arrival order and run once it
 * is applied, whatever its outcome. Quota: read (own, or anyone's for an
 * administrator) or set (administrators, through the log as OP_SET_QUOTA). */
#include "metad/user_space.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/replies.h"
#include "metad/handlers.h"
#include "metad/mutations.h"
#include "metad/perm.h"
#include "metad/raft_glue.h"

#define MSGSZ MUTATION_MSGSZ

/* ---- quota ---- */

void h_quota(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__QuotaReq *rq = md_decode(c, m, &dfs__quota_req__descriptor);
  if (!rq) return;
  const char *user = *rq->user ? rq->user : u->name;
  int rc = rg_check_leader(md, msg, sizeof msg);
  if (!rc && (rq->set || strcmp(user, u->name)) && !perm_is_super(u->name, u->is_admin)) {
    rc = DFS_EPERM;
    snprintf(msg, sizeof msg, "only an administrator may %s",
             rq->set ? "set quotas" : "see another user's quota");
  }
  if (!rc && !*user) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "name a user (authentication is off: there are no users)");
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
  } else if (rq->set) {
    ops_op op = {0};
    op.type = OP_SET_QUOTA;
    op.rid = rq->request_id;
    op.path = "";
    op.path2 = user;
    op.str = u->name;
    op.mtime_ns = dfs_wall_ns();
    op.flag = mutation_user_flag(u);
    op.a = rq->max_bytes;
    op.b = rq->max_entries;
    mutation_submit(md, c, &m->hdr, &op, NULL, NULL, NULL, NULL);
  } else {
    const fsm_quota *q = fsm_quota_get(md->fsm, user);
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__QuotaRep rep = DFS__QUOTA_REP__INIT;
    rep.status = &st;
    rep.user = (char *)user;
    ns_usage_of(md->fsm->ns, user, &rep.used_entries, &rep.used_bytes);
    rep.max_bytes = q ? q->max_bytes : 0;
    rep.max_entries = q ? q->max_entries : 0;
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  dfs__quota_req__free_unpacked(rq, NULL);
}

/* ---- the home directory before a user's first request ---- */

typedef struct home_req {
  struct home_req *next;
  dfs_conn *conn; /* reference held */
  dfs_msg msg;    /* owned */
  md_user user;
  auth_run_cb run; /* runs the request once the home is there */
} home_req;

/* One OP_MKHOME in flight for user `name`; its requests in arrival order. */
struct md_home_wait {
  md_home_wait *next; /* md->homes_waiting list */
  metad *md;
  char name[MD_USER_MAX + 1];
  home_req *reqs, **tail;
};

static void home_unlink(md_home_wait *h) {
  for (md_home_wait **pp = &h->md->homes_waiting; *pp; pp = &(*pp)->next)
    if (*pp == h) {
      *pp = h->next;
      return;
    }
}

/* Runs (run != 0) or drops every queued request of h. */
static void home_flush(md_home_wait *h, int run) {
  home_req *r = h->reqs;
  h->reqs = NULL;
  h->tail = &h->reqs;
  while (r) {
    home_req *next = r->next;
    if (run && dfs_conn_is_open(r->conn)) r->run(h->md, r->conn, &r->msg, &r->user);
    dfs_msg_free(&r->msg);
    dfs_conn_unref(r->conn);
    free(r);
    r = next;
  }
}

static void home_wait_free(void *p) {
  md_home_wait *h = p;
  home_unlink(h);
  home_flush(h, 0);
  free(h);
}

static void home_done(metad *md, md_waiter *w, int status) {
  md_home_wait *h = w->ud;
  const fsm_result *r = status ? NULL : fsm_result_get(md->fsm, w->rid);
  if (r && r->err)
    LOG_WARN("cannot create the home directory of %s: %s", h->name,
             r->msg ? r->msg : dfs_strerror(r->err));
  /* run the requests whatever happened: each reports its own errors (not leader, ...) */
  home_unlink(h);
  home_flush(h, 1);
  md_waiter_free(w);
}

/* 1 if u is a named user without /home/<u> and this node can make it now. */
static int needs_home(metad *md, const md_user *u) {
  char msg[MSGSZ];
  if (!u->name[0] || rg_check_leader(md, msg, sizeof msg)) return 0;
  ns_inode *home = ns_child(md->fsm->ns->root, "home", 4);
  return !home || !ns_child(home, u->name, strlen(u->name));
}

int user_space_hold_for_home(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u,
                             auth_run_cb run) {
  if (!needs_home(md, u)) return 0;
  home_req *rq = calloc(1, sizeof *rq);
  if (!rq) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
    return 1;
  }
  rq->conn = c;
  dfs_conn_ref(c);
  rq->msg = *m; /* take the frame; the caller's free of m is then a no-op */
  memset(m, 0, sizeof *m);
  rq->user = *u;
  rq->run = run;
  md_home_wait *h = md->homes_waiting;
  while (h && strcmp(h->name, u->name)) h = h->next;
  if (h) { /* the home is being made: wait for it */
    *h->tail = rq;
    h->tail = &rq->next;
    return 1;
  }
  ops_op op = {0};
  op.type = OP_MKHOME;
  op.rid = rg_new_rid();
  op.path = "";
  op.str = u->name;
  op.mtime_ns = dfs_wall_ns();
  h = calloc(1, sizeof *h);
  md_waiter *w = h ? md_waiter_new(NULL, NULL, op.rid, home_done) : NULL;
  if (!w) {
    free(h);
    md_reply_status(c, &rq->msg.hdr, DFS_ENOMEM, "metad is out of memory");
    dfs_msg_free(&rq->msg);
    dfs_conn_unref(c);
    free(rq);
    return 1;
  }
  h->md = md;
  snprintf(h->name, sizeof h->name, "%s", u->name);
  h->reqs = rq;
  h->tail = &rq->next;
  h->next = md->homes_waiting;
  md->homes_waiting = h;
  w->ud = h;
  w->ud_free = home_wait_free;
  LOG_INFO("creating /home/%s", u->name);
  if (rg_submit(md, &op, NULL, w)) home_done(md, w, DFS_EUNAVAIL);
  return 1;
}
