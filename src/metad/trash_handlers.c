/* trash_handlers: the trash as users see it (list, restore, empty: the last two through
 * the log) and the leader's expiry of old trash items (OP_TRASH_EXPIRE, with the
 * leader's clock, so that every replica drops the same items). */
#include "metad/trash_handlers.h"

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
#include "metad/read_handlers.h"
#include "metad/raft_glue.h"

#define TRASH_CHECK_MS 1000
#define MSGSZ MUTATION_MSGSZ

static void fill_trash_item(Dfs__TrashItem *ti, Dfs__Entry *e, const ns_t *ns,
                            const trash_item *it) {
  dfs__trash_item__init(ti);
  dfs__entry__init(e);
  read_fill_entry(e, ns, it->node);
  e->name = it->node->name; /* detached: fill_entry would call it "/" */
  ti->id = it->id;
  ti->original_path = it->path;
  ti->deleted_ns = it->deleted_ns;
  ti->expires_ns = it->expires_ns;
  ti->entry = e;
}

/* Trash items the user sees: their own; an administrator sees everyone's. */
static int trash_visible(const trash_item *it, const md_user *u) {
  return perm_is_super(u->name, u->is_admin) || !strcmp(it->user, u->name);
}

/* Restore's and empty's reply: count = how many items the log entry removed from the
 * trash (1 for a restore). */
static void trash_reply(metad *md, md_waiter *w, const fsm_result *r) {
  (void)md;
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__TrashRep rep = DFS__TRASH_REP__INIT;
  rep.status = &st;
  rep.count = r->val;
  dfs_conn_reply(w->conn, &w->hdr, &rep.base, NULL, 0, NULL, NULL);
}

void h_trash(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__TrashReq *rq = md_decode(c, m, &dfs__trash_req__descriptor);
  if (!rq) return;
  int rc = rg_check_leader(md, msg, sizeof msg);
  if (!rc && rq->action == DFS__TRASH_ACTION__TRASH_RESTORE && *rq->path)
    rc = ns_check_path(rq->path, msg, sizeof msg);
  if (!rc && rq->action == DFS__TRASH_ACTION__TRASH_RESTORE && !rq->id) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "restore needs a trash item id (see dfs trash ls)");
  }
  if (!rc && rq->action != DFS__TRASH_ACTION__TRASH_LIST &&
      rq->action != DFS__TRASH_ACTION__TRASH_RESTORE &&
      rq->action != DFS__TRASH_ACTION__TRASH_EMPTY) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "unknown trash action %d", (int)rq->action);
  }
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    goto out;
  }
  if (rq->action != DFS__TRASH_ACTION__TRASH_LIST) {
    ops_op op = {0};
    op.type = rq->action == DFS__TRASH_ACTION__TRASH_RESTORE ? OP_TRASH_RESTORE : OP_TRASH_EMPTY;
    op.rid = rq->request_id;
    op.path = "";
    op.path2 = rq->path;
    op.str = u->name;
    op.mtime_ns = dfs_wall_ns();
    op.a = rq->id;
    op.flag = mutation_user_flag(u);
    mutation_submit(md, c, &m->hdr, &op, NULL, NULL, NULL, trash_reply);
    goto out;
  }
  const trash_t *t = &md->fsm->trash;
  size_t cnt = 0;
  for (size_t i = 0; i < t->n; i++) cnt += trash_visible(&t->items[i], u);
  Dfs__TrashItem *items = calloc(cnt ? cnt : 1, sizeof *items);
  Dfs__TrashItem **ptrs = calloc(cnt ? cnt : 1, sizeof *ptrs);
  Dfs__Entry *ents = calloc(cnt ? cnt : 1, sizeof *ents);
  if (!items || !ptrs || !ents) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
  } else {
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
      if (!trash_visible(&t->items[i], u)) continue;
      fill_trash_item(&items[k], &ents[k], md->fsm->ns, &t->items[i]);
      ptrs[k] = &items[k];
      k++;
    }
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__TrashRep rep = DFS__TRASH_REP__INIT;
    rep.status = &st;
    rep.n_items = cnt;
    rep.items = ptrs;
    rep.count = cnt;
    while (rep.n_items && protobuf_c_message_get_packed_size(&rep.base) > DFS_MAX_PAYLOAD - 1024)
      rep.n_items /= 2; /* count still tells how many there are */
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  free(items);
  free(ptrs);
  free(ents);
out:
  dfs__trash_req__free_unpacked(rq, NULL);
}

/* ---- trash expiry (leader) ---- */

static void expire_done(metad *md, md_waiter *w, int status) {
  const fsm_result *r = status ? NULL : fsm_result_get(md->fsm, w->rid);
  if (r && !r->err && r->val)
    LOG_INFO("trash: %llu expired item%s removed", (unsigned long long)r->val,
             r->val == 1 ? "" : "s");
  md_waiter_free(w);
}

void md_trash_expire(metad *md) {
  int64_t now_ms = dfs_wall_ns() / 1000000;
  if (!md->leader_ready || now_ms - md->trash_checked_ms < TRASH_CHECK_MS) return;
  md->trash_checked_ms = now_ms;
  const trash_t *t = &md->fsm->trash;
  int64_t now = dfs_wall_ns();
  size_t i = 0;
  while (i < t->n && t->items[i].expires_ns > now) i++;
  if (i == t->n) return;
  ops_op op = {0};
  op.type = OP_TRASH_EXPIRE;
  op.rid = rg_new_rid();
  op.path = "";
  op.path2 = "";
  op.str = "";
  op.mtime_ns = now;
  md_waiter *w = md_waiter_new(NULL, NULL, op.rid, expire_done);
  if (w && rg_submit(md, &op, NULL, w)) md_waiter_free(w);
}
