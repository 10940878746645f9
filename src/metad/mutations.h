/* mutations: a client request that becomes one op in the raft log, answered once the op
 * is applied (mutations.c). Used by every handler whose request changes durable state. */
#ifndef METAD_MUTATIONS_H
#define METAD_MUTATIONS_H

#include <stdint.h>

#include "common/conn.h"
#include "metad/metad.h"

#define MUTATION_MSGSZ 512 /* size of the msg buffers handlers pass in */

/* Builds the reply of a request whose op applied without error (w->ud is the handler's
 * data). Without one the reply is a bare Status. */
typedef void mutation_reply(metad *md, md_waiter *w, const fsm_result *r);

/* OPF_ADMIN for administrators (the anonymous user "" needs no flag: "" is super). */
uint8_t mutation_user_flag(const md_user *u);

/* Submits op for request hdr on c and replies once it is applied (or with the result
 * already recorded for op->rid: a retry; a new rid when op->rid is 0). ud (with
 * ud_free) goes to the waiter and is freed in every case; op's strings and chunks are
 * encoded before this returns. */
void mutation_submit(metad *md, dfs_conn *c, const dfs_frame_hdr *hdr, ops_op *op,
                     const ops_chunk *chunks, void *ud, void (*ud_free)(void *),
                     mutation_reply *reply);

/* The shared tail of the namespace mutations. rc/msg (MUTATION_MSGSZ bytes): the
 * handler's own checks of the request (0 = fine), reported after a bad path. Checks
 * op->path (and op->path2 when check_path2), then leadership; replies the first error,
 * or stamps op with the acting user, the clock (unless the caller set it) and the admin
 * bit and submits it. The caller fills type, rid, paths and the op's own fields. */
void mutation_submit_ns(metad *md, dfs_conn *c, const dfs_frame_hdr *hdr, const md_user *u,
                        int rc, char *msg, ops_op *op, int check_path2, mutation_reply *reply);

#endif
