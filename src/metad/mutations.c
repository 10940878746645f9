/* mutations: a client request that becomes one op in the raft log (mutations.h). The
 * op is stamped with the acting user and the leader's clock, submitted through
 * raft_glue.c's group commit, and answered from the fsm's result table once applied:
 * the result is keyed by the client's request id, so a retry gets the first answer and
 * a replay of the id with another body (its digest differs) is refused. Permissions are
 * checked by the fsm at apply time, against the state of that moment. */
#include "metad/mutations.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/replies.h"
#include "metad/raft_glue.h"

#define MSGSZ MUTATION_MSGSZ

uint8_t mutation_user_flag(const md_user *u) { return u->is_admin ? OPF_ADMIN : 0; }

static void reply_rid_reused(dfs_conn *c, const dfs_frame_hdr *hdr, uint64_t rid) {
  char msg[MSGSZ];
  snprintf(msg, sizeof msg,
           "request id %llu was already used for a different request (a retry must repeat "
           "the same request as the same user); send it with a new request id",
           (unsigned long long)rid);
  md_reply_status(c, hdr, DFS_EINVAL, msg);
}

static void mutation_done(metad *md, md_waiter *w, int status) {
  char msg[MSGSZ];
  if (status == DFS_ENOTLEADER) {
    rg_check_leader(md, msg, sizeof msg);
    md_reply_status(w->conn, &w->hdr, DFS_ENOTLEADER, msg);
  } else if (status) {
    md_reply_status(w->conn, &w->hdr, DFS_EUNAVAIL,
                    "unknown outcome (metad leadership changed); retry with the same request");
  } else {
    const fsm_result *r = fsm_result_get(md->fsm, w->rid);
    if (!r) {
      md_reply_status(w->conn, &w->hdr, DFS_EINTERNAL, "the result of this request was forgotten");
    } else if (w->digest && !fsm_result_matches(r, w->digest)) {
      reply_rid_reused(w->conn, &w->hdr, w->rid);
    } else {
      if (r->err == 0 && w->reply) w->reply(md, w, r); /* the handler's own reply */
      else md_reply_status(w->conn, &w->hdr, r->err, r->msg);
    }
  }
  md_waiter_free(w);
}

/* Submits op for request hdr on c. ud (with ud_free) is handed to the waiter. */
void mutation_submit(metad *md, dfs_conn *c, const dfs_frame_hdr *hdr, ops_op *op,
                     const ops_chunk *chunks, void *ud, void (*ud_free)(void *),
                     mutation_reply *reply) {
  if (!op->rid) op->rid = rg_new_rid(); /* no idempotency without a client request id */
  md_waiter *w = md_waiter_new(c, hdr, op->rid, mutation_done);
  if (!w || !(w->digest = ops_digest_encoded(op, chunks))) {
    if (ud_free) ud_free(ud);
    md_waiter_free(w);
    md_reply_status(c, hdr, DFS_ENOMEM, "metad is out of memory");
    return;
  }
  w->ud = ud;
  w->ud_free = ud_free;
  w->reply = reply;
  if (fsm_result_get(md->fsm, op->rid)) { /* a retry of an applied request, or a replay of
                                             its id with another body (mutation_done) */
    mutation_done(md, w, 0);
    return;
  }
  int rc = rg_submit(md, op, chunks, w);
  if (rc) mutation_done(md, w, rc == DFS_ENOTLEADER ? DFS_ENOTLEADER : DFS_EUNAVAIL);
}

/* The shared tail of the namespace mutations below. rc/msg: the handler's own checks of
 * the request (0 = fine), reported after a bad path, as before. Checks op->path (and
 * op->path2 when check_path2), then leadership; replies the first error, or stamps op with
 * the acting user, the clock (unless the caller set it) and the admin bit and submits it.
 * The caller fills type, rid, paths and the op's own fields; strings must stay valid
 * until this returns (submit_mutation encodes them). */
void mutation_submit_ns(metad *md, dfs_conn *c, const dfs_frame_hdr *hdr, const md_user *u,
                        int rc, char *msg, ops_op *op, int check_path2, mutation_reply *reply) {
  int prc = ns_check_path(op->path, msg, MSGSZ);
  if (!prc && check_path2) prc = ns_check_path(op->path2, msg, MSGSZ);
  if (prc) rc = prc;
  if (!rc) rc = rg_check_leader(md, msg, MSGSZ);
  if (rc) {
    md_reply_status(c, hdr, rc, msg);
    return;
  }
  op->str = u->name;
  if (!op->mtime_ns) op->mtime_ns = dfs_wall_ns();
  op->flag = (uint8_t)(op->flag | mutation_user_flag(u));
  mutation_submit(md, c, hdr, op, NULL, NULL, NULL, reply);
}
