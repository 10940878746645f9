/* ns_handlers: the namespace mutations (mkdir, delete, chmod, rename, copy, setrep,
 * touch, symlink). Each checks what it can know from the request alone, then hands one op to
 * mutations.c; the reply comes once the op is applied (a bare Status, or the counts
 * of Copy and Setrep, built here). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/replies.h"
#include "metad/handlers.h"
#include "metad/mutations.h"
#include "metad/servers.h"

#define MSGSZ MUTATION_MSGSZ

/* Copy's reply: how many files and bytes were copied. */
static void copy_reply(metad *md, md_waiter *w, const fsm_result *r) {
  (void)md;
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__CopyRep rep = DFS__COPY_REP__INIT;
  rep.status = &st;
  rep.files = r->val;
  rep.bytes = r->val2;
  dfs_conn_reply(w->conn, &w->hdr, &rep.base, NULL, 0, NULL, NULL);
}

/* Setrep's reply: how many files got the new goal. */
static void setrep_reply(metad *md, md_waiter *w, const fsm_result *r) {
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__SetrepRep rep = DFS__SETREP_REP__INIT;
  rep.status = &st;
  rep.files = r->val;
  const servers_t *sv = &md->fsm->servers;
  for (size_t i = 0; i < sv->n; i++) rep.placeable_servers += servers_placeable(&sv->v[i]) != 0;
  dfs_conn_reply(w->conn, &w->hdr, &rep.base, NULL, 0, NULL, NULL);
}

void h_mkdir(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__MkdirReq *rq = md_decode(c, m, &dfs__mkdir_req__descriptor);
  if (!rq) return;
  ops_op op = {0};
  op.type = OP_MKDIR;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.mode = rq->mode ? (rq->mode & 0777) : 0755;
  op.flag = rq->parents ? OPF_MAIN : 0;
  mutation_submit_ns(md, c, &m->hdr, u, 0, msg, &op, 0, NULL);
  dfs__mkdir_req__free_unpacked(rq, NULL);
}

void h_delete(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__DeleteReq *rq = md_decode(c, m, &dfs__delete_req__descriptor);
  if (!rq) return;
  int rc = 0;
  if (!strcmp(rq->path, "/")) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "/ cannot be deleted");
  }
  ops_op op = {0};
  op.type = rq->trash ? OP_TRASH : OP_DELETE;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.path2 = "";
  op.mtime_ns = dfs_wall_ns();
  op.a = (uint64_t)(op.mtime_ns + md->trash_retention_ms * 1000000);
  op.flag = rq->recursive ? OPF_MAIN : 0;
  mutation_submit_ns(md, c, &m->hdr, u, rc, msg, &op, 0, NULL);
  dfs__delete_req__free_unpacked(rq, NULL);
}

void h_chmod(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__ChmodReq *rq = md_decode(c, m, &dfs__chmod_req__descriptor);
  if (!rq) return;
  int rc = 0;
  if (rq->mode > 0777) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "mode %o is out of range 0..0777", rq->mode);
  }
  ops_op op = {0};
  op.type = OP_CHMOD;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.mode = rq->mode;
  mutation_submit_ns(md, c, &m->hdr, u, rc, msg, &op, 0, NULL);
  dfs__chmod_req__free_unpacked(rq, NULL);
}

void h_rename(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__RenameReq *rq = md_decode(c, m, &dfs__rename_req__descriptor);
  if (!rq) return;
  ops_op op = {0};
  op.type = OP_RENAME;
  op.rid = rq->request_id;
  op.path = rq->src;
  op.path2 = rq->dst;
  op.flag = rq->overwrite ? OPF_MAIN : 0;
  mutation_submit_ns(md, c, &m->hdr, u, 0, msg, &op, 1, NULL);
  dfs__rename_req__free_unpacked(rq, NULL);
}

void h_copy(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__CopyReq *rq = md_decode(c, m, &dfs__copy_req__descriptor);
  if (!rq) return;
  ops_op op = {0};
  op.type = OP_COPY;
  op.rid = rq->request_id;
  op.path = rq->src;
  op.path2 = rq->dst;
  op.flag = (uint8_t)((rq->overwrite ? OPF_MAIN : 0) | (rq->recursive ? OPF_RECURSIVE : 0));
  mutation_submit_ns(md, c, &m->hdr, u, 0, msg, &op, 1, copy_reply);
  dfs__copy_req__free_unpacked(rq, NULL);
}

/* Compose's reply: the new file's size and chunk count. */
static void compose_reply(metad *md, md_waiter *w, const fsm_result *r) {
  (void)md;
  Dfs__Status st = DFS__STATUS__INIT;
  st.message = "";
  Dfs__ComposeRep rep = DFS__COMPOSE_REP__INIT;
  rep.status = &st;
  rep.size = r->val;
  rep.chunks = r->val2;
  dfs_conn_reply(w->conn, &w->hdr, &rep.base, NULL, 0, NULL, NULL);
}

/* Compose: the request's bounds and paths are checked here (the fsm checks the tree). */
void h_compose(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__ComposeReq *rq = md_decode(c, m, &dfs__compose_req__descriptor);
  if (!rq) return;
  int rc = 0;
  if (rq->n_srcs == 0 || rq->n_srcs > OPS_COMPOSE_MAX_SRCS) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "compose takes 1..%u sources, not %zu", OPS_COMPOSE_MAX_SRCS,
             rq->n_srcs);
  } else if (rq->attrs.len > DFS_ATTRS_MAX) {
    rc = DFS_ETOOBIG;
    snprintf(msg, sizeof msg, "attrs are %zu bytes, more than %u", rq->attrs.len,
             DFS_ATTRS_MAX);
  }
  for (size_t i = 0; i < rq->n_srcs && !rc; i++) rc = ns_check_path(rq->srcs[i], msg, sizeof msg);
  ops_op op = {0};
  op.type = OP_COMPOSE;
  op.rid = rq->request_id;
  op.path = rq->dst;
  op.nsrcs = rc ? 0 : (uint32_t)rq->n_srcs;
  op.src_list = (const char *const *)rq->srcs;
  op.attrs = rq->attrs.len ? rq->attrs.data : NULL;
  op.attrs_len = (uint32_t)rq->attrs.len;
  op.flag = (uint8_t)((rq->overwrite ? OPF_MAIN : 0) | (rq->delete_srcs ? OPF_DELETE_SRCS : 0));
  mutation_submit_ns(md, c, &m->hdr, u, rc, msg, &op, 0, compose_reply);
  dfs__compose_req__free_unpacked(rq, NULL);
}

void h_setrep(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__SetrepReq *rq = md_decode(c, m, &dfs__setrep_req__descriptor);
  if (!rq) return;
  int rc = 0;
  if (rq->replicas < 1 || rq->replicas > MAX_REPLICAS) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "replicas must be 1..%d, not %u", MAX_REPLICAS, rq->replicas);
  }
  ops_op op = {0};
  op.type = OP_SETREP;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.a = rq->replicas;
  op.flag = rq->recursive ? OPF_RECURSIVE : 0;
  mutation_submit_ns(md, c, &m->hdr, u, rc, msg, &op, 0, setrep_reply);
  dfs__setrep_req__free_unpacked(rq, NULL);
}

void h_touch(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__TouchReq *rq = md_decode(c, m, &dfs__touch_req__descriptor);
  if (!rq) return;
  int rc = 0;
  if (rq->replicas > MAX_REPLICAS) { /* 0: the default */
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "replicas must be 1..%d, not %u", MAX_REPLICAS, rq->replicas);
  }
  if (!rc && rq->mtime_ns < 0) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg,
             "mtime_ns %lld is negative: an explicit mtime is nanoseconds since 1970 (0 = now)",
             (long long)rq->mtime_ns);
  }
  ops_op op = {0};
  op.type = rq->mtime_ns > 0 ? OP_TOUCH2 : OP_TOUCH; /* TOUCH stays what older metads apply */
  op.rid = rq->request_id;
  op.path = rq->path;
  op.mode = rq->mode & 0777;
  op.a = rq->replicas ? rq->replicas : DEFAULT_REPLICAS;
  op.set_mtime_ns = rq->mtime_ns > 0 ? rq->mtime_ns : 0;
  mutation_submit_ns(md, c, &m->hdr, u, rc, msg, &op, 0, NULL);
  dfs__touch_req__free_unpacked(rq, NULL);
}

/* The length of the last occurrence of length-delimited field `field` in a protobuf
 * message (the value protobuf keeps), or -1 if absent or malformed: protobuf-c cuts a
 * string at its first NUL, so this tells a target with a NUL in it from a shorter one. */
static long wire_field_len(const uint8_t *p, size_t n, uint32_t field) {
  long found = -1;
  size_t i = 0;
  while (i < n) {
    uint64_t key = 0, v = 0;
    for (int sh = 0;; sh += 7) {
      if (i >= n || sh > 63) return -1;
      key |= (uint64_t)(p[i] & 0x7f) << sh;
      if (!(p[i++] & 0x80)) break;
    }
    switch (key & 7) {
    case 0:
      for (;;) {
        if (i >= n) return -1;
        if (!(p[i++] & 0x80)) break;
      }
      break;
    case 1:
      if (n - i < 8) return -1;
      i += 8;
      break;
    case 5:
      if (n - i < 4) return -1;
      i += 4;
      break;
    case 2:
      for (int sh = 0;; sh += 7) {
        if (i >= n || sh > 63) return -1;
        v |= (uint64_t)(p[i] & 0x7f) << sh;
        if (!(p[i++] & 0x80)) break;
      }
      if (v > n - i) return -1;
      if ((key >> 3) == field) found = (long)v;
      i += (size_t)v;
      break;
    default:
      return -1;
    }
  }
  return found;
}

/* Symlink: the target's bounds are checked here (and again by apply); the fsm checks
 * the tree and the permissions (w+x on the parent, like mkdir). */
void h_symlink(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u) {
  char msg[MSGSZ];
  Dfs__SymlinkReq *rq = md_decode(c, m, &dfs__symlink_req__descriptor);
  if (!rq) return;
  int rc = 0;
  size_t tl = strlen(rq->target);
  long wl = wire_field_len(m->payload, m->hdr.payload_len, 3);
  if (wl >= 0 && (size_t)wl != tl) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "a symbolic link's target must not contain a NUL byte");
  } else if (tl == 0) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "a symbolic link's target must not be empty");
  } else if (tl > NS_LINK_MAX) {
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "a symbolic link's target is %zu bytes: at most %d are allowed",
             tl, NS_LINK_MAX);
  }
  ops_op op = {0};
  op.type = OP_SYMLINK;
  op.rid = rq->request_id;
  op.path = rq->path;
  op.path2 = rc ? "" : rq->target;
  op.mode = 0777;
  mutation_submit_ns(md, c, &m->hdr, u, rc, msg, &op, 0, NULL);
  dfs__symlink_req__free_unpacked(rq, NULL);
}
