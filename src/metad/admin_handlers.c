/* admin_handlers: Cluster and Fsck (admin_handlers.h). Both read the chunk table's
 * soft locations and the replication state (replication.h) of this leader; nothing
 * here changes state. */
#include "metad/admin_handlers.h"

#include "metad/auth.h"
#include "metad/replies.h"
#include "metad/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common/array.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/util.h"
#include "metad/perm.h"
#include "metad/raft_glue.h"
#include "metad/replication.h"

#define MSGSZ 512
#define FSCK_DEFAULT_LIMIT 1000
#define FSCK_MAX_LIMIT 100000
#define FSCK_PATH_MAX 4096

void admin_h_cluster(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  (void)u; /* any authenticated user may see the cluster overview */
  Dfs__ClusterReq *rq = md_decode(c, m, &dfs__cluster_req__descriptor);
  if (!rq) return;
  dfs__cluster_req__free_unpacked(rq, NULL);
  servers_t *sv = &md->fsm->servers;
  size_t n = sv->n;
  Dfs__ChunkServerInfo *inf = calloc(n ? n : 1, sizeof *inf);
  Dfs__ChunkServerInfo **ip = calloc(n ? n : 1, sizeof *ip);
  Dfs__ServerAddr *ad = calloc(n ? n : 1, sizeof *ad);
  if (!inf || !ip || !ad) {
    md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
    goto out;
  }
  int leader = raft_state(&md->raft) == RAFT_LEADER && md->leader_ready;
  uint64_t now = dfs_now_ms();
  for (size_t i = 0; i < n; i++) {
    const server_ent *e = &sv->v[i];
    dfs__chunk_server_info__init(&inf[i]);
    dfs__server_addr__init(&ad[i]);
    ad[i].server_id = e->id;
    ad[i].host = (char *)e->host;
    ad[i].port = e->port;
    inf[i].addr = &ad[i];
    inf[i].alive = e->alive != 0;
    inf[i].capacity_bytes = e->capacity;
    inf[i].free_bytes = e->free_bytes;
    inf[i].chunk_count = e->chunk_count;
    inf[i].load = e->load;
    inf[i].last_heartbeat_ms_ago = e->registered ? (int64_t)(now - e->last_hb_ms) : -1;
    inf[i].state = (char *)servers_state(e);
    inf[i].copies_running = leader ? repl_jobs_running(&md->repl, e->id) : 0;
    inf[i].copies_queued = leader ? repl_jobs_queued(&md->repl, e->id) : 0;
    inf[i].disk_errors = e->disk_errors;
    inf[i].promised_bytes = e->promised_bytes;
    inf[i].promised_chunks = e->promised_chunks;
    inf[i].reserve_bytes = e->reserve_bytes;
    ip[i] = &inf[i];
  }
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__ClusterRep rep = DFS__CLUSTER_REP__INIT;
  rep.status = &st;
  rep.n_servers = n;
  rep.servers = ip;
  rep.files = md->fsm->ns->files;
  rep.dirs = md->fsm->ns->dirs;
  rep.chunks = md->fsm->chunks.n;
  rep.is_leader = leader;
  const char *la = rg_leader_addr(md);
  rep.leader_address = (char *)(la ? la : "");
  if (leader) {
    const repl_t *r = &md->repl;
    rep.under_replicated = r->under;
    rep.endangered = r->endangered;
    rep.missing = r->missing;
    rep.corrupt = r->corrupt_n;
    rep.over_replicated = r->over;
    rep.copy_jobs_running = repl_jobs_running(r, 0);
    rep.copy_jobs_queued = repl_jobs_queued(r, 0);
    rep.copies_done = r->copies_done;
    rep.copies_stolen = r->copies_stolen;
    rep.copies_failed = r->copies_failed;
    rep.rebalancing = r->rebalancing != 0;
    rep.rebalance_moves = r->moves;
    rep.trims = r->trims;
  }
  dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
out:
  free(inf);
  free(ip);
  free(ad);
}

/* ---- fsck ---- */

typedef struct {
  Dfs__FsckFile *v; /* owned, paths owned */
  size_t n, cap;
} fsck_list;

typedef struct {
  uint64_t chunks, under, missing, corrupt;
  unsigned min_live, goal;
} file_health;

static void file_check(metad *md, const ns_inode *f, file_health *h) {
  memset(h, 0, sizeof *h);
  h->goal = f->replicas ? f->replicas : 1;
  h->min_live = f->u.file.nchunks ? 255 : h->goal;
  for (uint32_t i = 0; i < f->u.file.nchunks; i++) {
    const chunk_ent *ce = chunks_get(&md->fsm->chunks, ns_file_chunks(f)[i]);
    h->chunks++;
    unsigned live = ce ? repl_live_replicas(ce, &md->fsm->servers) : 0;
    unsigned readable = ce ? repl_readable_replicas(ce, &md->fsm->servers) : 0;
    unsigned goal = ce ? repl_goal(ce) : h->goal;
    if (!readable) h->missing++;
    if (live < goal) h->under++;
    if (live < h->min_live) h->min_live = live;
    if (ce && u64map_get(&md->repl.corrupt, ce->id, NULL)) h->corrupt++;
  }
}

static const char *health_state(const file_health *h) {
  if (h->missing) return "unreadable";
  if (h->corrupt) return "corrupt";
  if (h->under && h->min_live <= 1 && h->goal > 1) return "endangered";
  if (h->under) return "under-replicated";
  return "healthy";
}

static int list_add(fsck_list *l, metad *md, const ns_inode *f, const file_health *h,
                    const char *state) {
  Dfs__FsckFile *nv = dfs_grow(l->v, &l->cap, l->n + 1, sizeof *nv, 64);
  if (!nv) return DFS_ENOMEM;
  l->v = nv;
  char *p = malloc(FSCK_PATH_MAX);
  if (!p) return DFS_ENOMEM;
  if (ns_path(f, md->fsm->ns, p, FSCK_PATH_MAX)) snprintf(p, FSCK_PATH_MAX, "%s", f->name);
  Dfs__FsckFile *e = &l->v[l->n++];
  dfs__fsck_file__init(e);
  e->path = p;
  e->state = (char *)state;
  e->chunks = h->chunks;
  e->under_replicated = h->under;
  e->missing = h->missing;
  e->min_live_replicas = h->min_live;
  e->goal = h->goal;
  return 0;
}

void admin_h_fsck(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__FsckReq *rq = md_decode(c, m, &dfs__fsck_req__descriptor);
  if (!rq) return;
  fsck_list l = {0};
  const ns_inode **stack = NULL;
  size_t nstack = 0, capstack = 0;
  const char *path = *rq->path ? rq->path : "/";
  const char *why = NULL;
  ns_inode *top = NULL;
  int rc = 0;
  if (dfs_path_check(path, &why)) {
    rc = DFS_EBADPATH;
    snprintf(msg, sizeof msg, "invalid path '%.200s': %s", path, why ? why : "bad path");
  }
  if (!rc) rc = rg_check_leader(md, msg, sizeof msg);
  if (!rc) rc = perm_lookup(md->fsm->ns, path, u->name, u->is_admin, &top, msg, sizeof msg);
  /* the walk runs on the loop thread: it spends the user's scan budget, like search */
  if (!rc)
    rc = limits_take_scan(md->limits, u->name, md->fsm->ns->files + md->fsm->ns->dirs,
                          (double)md->scan_nodes_per_s, "fsck and search requests", msg,
                          sizeof msg);
  if (rc) {
    md_reply_status(c, &m->hdr, rc, msg);
    goto out;
  }
  uint32_t limit = rq->limit && rq->limit < FSCK_MAX_LIMIT ? rq->limit : FSCK_DEFAULT_LIMIT;
  if (rq->limit >= FSCK_MAX_LIMIT) limit = FSCK_MAX_LIMIT;
  Dfs__FsckRep rep = DFS__FSCK_REP__INIT;
  /* depth-first walk; directories the user may not read and search are skipped */
  if (!(stack = malloc(sizeof *stack * (capstack = 64)))) goto oom;
  stack[nstack++] = top;
  while (nstack) {
    const ns_inode *n = stack[--nstack];
    if (n->is_dir) {
      if (perm_check(u->name, u->is_admin, n, PERM_R | PERM_X)) continue;
      uint32_t pos = 0;
      const ns_inode *ch;
      while ((ch = ns_dir_next(n, &pos))) {
        const ns_inode **ns2 = dfs_grow(stack, &capstack, nstack + 1, sizeof *stack, 64);
        if (!ns2) goto oom;
        stack = ns2;
        stack[nstack++] = ch;
      }
      continue;
    }
    if (n->is_link) continue; /* no chunks: nothing to check */
    file_health h;
    file_check(md, n, &h);
    const char *state = health_state(&h);
    rep.files_checked++;
    if (!strcmp(state, "healthy")) rep.healthy++;
    else if (!strcmp(state, "unreadable")) rep.unreadable++;
    else if (!strcmp(state, "corrupt")) rep.corrupt++;
    else if (!strcmp(state, "endangered")) rep.endangered++;
    else rep.under_replicated++;
    if (rq->only_unhealthy && !strcmp(state, "healthy")) continue;
    if (l.n >= limit) {
      rep.truncated = 1;
      continue;
    }
    if (list_add(&l, md, n, &h, state)) goto oom;
  }
  Dfs__FsckFile **fp = calloc(l.n ? l.n : 1, sizeof *fp);
  if (!fp) goto oom;
  for (size_t i = 0; i < l.n; i++) fp[i] = &l.v[i];
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  rep.status = &st;
  rep.n_files = l.n;
  rep.files = fp;
  dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  free(fp);
  goto out;
oom:
  md_reply_status(c, &m->hdr, DFS_ENOMEM, "metad is out of memory");
out:
  for (size_t i = 0; i < l.n; i++) free(l.v[i].path);
  free(l.v);
  free(stack);
  dfs__fsck_req__free_unpacked(rq, NULL);
}

void admin_h_forget_sessions(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  Dfs__ForgetSessionsReq *rq = md_decode(c, m, &dfs__forget_sessions_req__descriptor);
  if (!rq) return;
  if (!u->is_admin) {
    md_reply_status(c, &m->hdr, DFS_EPERM,
                    "only an administrator may end another user's sessions");
  } else {
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__ForgetSessionsRep rep = DFS__FORGET_SESSIONS_REP__INIT;
    rep.status = &st;
    rep.forgotten = (uint32_t)auth_forget_user(md, rq->user);
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  dfs__forget_sessions_req__free_unpacked(rq, NULL);
}
