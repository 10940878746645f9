/* replies: how metad's handlers read a request and answer it, below every handler and
 * the front door (which includes none of them back): decode with one DFS_EPROTO answer,
 * Status-only replies, server addresses and capability expiry for replies, and closing a
 * refused connection once its answer is written. Loop thread only. */
#ifndef METAD_REPLIES_H
#define METAD_REPLIES_H

#include <stdint.h>

#include "common.pb-c.h"
#include "common/conn.h"
#include "metad/metad.h"
#include "metad/servers.h"

/* m's payload decoded as a desc message (the caller frees it with its free_unpacked),
 * or NULL after answering DFS_EPROTO "cannot decode <message name>". */
void *md_decode(dfs_conn *c, dfs_msg *m, const ProtobufCMessageDescriptor *desc);

/* Sends a reply carrying only a Status, for any request type whose reply is
 * {Status status = 1;} or starts with it. msg NULL or "": the error's own text. */
void md_reply_status(dfs_conn *c, const dfs_frame_hdr *hdr, int err, const char *msg);
/* Fills a (initialising it) with server e's id and address; a borrows e's strings. */
void md_fill_server_addr(Dfs__ServerAddr *a, const server_ent *e);
/* Wall-clock expiry (ms) of a chunk capability signed now (caps.ttl). */
int64_t md_cap_expiry(const metad *md);

/* Closes c about 200 ms from now, so that the refusal just queued is written first
 * (c is referenced meanwhile). At once when shutting down. */
void md_close_soon(metad *md, dfs_conn *c);
/* Shutdown: closes at once the connections waiting in md_close_soon. */
void md_close_soon_flush(metad *md);

#endif
