/* fsm: metad's replicated state machine. Holds the namespace, the chunk table, the
 * chunkserver uuid map, the chunk-id reservation bound, the client addresses of metad
 * nodes and a bounded table of recent request results (idempotency: an op whose request
 * id is already there is skipped, and waiting clients read their result from it).
 * Changed only by fsm_apply_entry (one raft entry = a batch of ops, see ops.h), which
 * is deterministic and checks namespace ops against the permissions of the user they
 * carry (perm.h); serialised whole by fsm_snapshot and rebuilt by fsm_restore. */
#ifndef METAD_FSM_H
#define METAD_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "metad/changes.h"
#include "metad/chunks.h"
#include "metad/ns.h"
#include "metad/ops.h"
#include "metad/servers.h"
#include "metad/trash.h"
#include "metad/u64map.h"

#define FSM_RESULTS_DEFAULT 65536

typedef struct {
  uint64_t rid;
  int32_t err;  /* 0 or DFS_E* */
  uint64_t val; /* op-specific: server id (MAP_SERVER), last id (RESERVE_IDS), files
                   (COPY, SETREP), trash item id (TRASH), size (COMPOSE) */
  uint64_t val2; /* op-specific: bytes (COPY), chunks (COMPOSE) */
  uint64_t digest; /* ops_digest of the op (user, type, body): a request id sent again
                      with another body or by another user is not a retry (0 = unknown,
                      a result restored from a version-2 snapshot) */
  char *msg;    /* owned, NULL on success */
} fsm_result;

/* How long a commit grant (cap.h) is valid, and so how long the id of a chunk that left
 * every file is remembered as retired: no grant issued before its deletion can still be
 * used to commit it again. The leader signs grants with at most this lifetime. */
#define FSM_GRANT_TTL_MS (24LL * 3600 * 1000)
#define FSM_RETIRED_KEEP_NS ((FSM_GRANT_TTL_MS + 3600 * 1000LL) * 1000000LL) /* + 1 h of
                                                                  clock skew between leaders */

typedef struct {
  uint64_t id;
  int64_t at_ns; /* the log's clock when the chunk left its last file */
} fsm_retired;

/* A user's quota (durable; set by an administrator, OP_SET_QUOTA): what the user's files
 * and directories may take, in the tree and the trash together (ns_usage). 0 = none. */
typedef struct {
  char *user; /* owned */
  uint64_t max_bytes, max_entries;
} fsm_quota;

typedef struct {
  uint64_t raft_id;
  char *addr; /* owned */
} fsm_meta;

typedef struct {
  ns_t *ns;              /* owned */
  chunks_t chunks;
  servers_t servers;
  uint64_t ids_reserved; /* every chunk id <= this has been reserved (0 = none) */
  fsm_meta *metas;  /* owned */
  size_t nmetas;
  /* recent results: a ring of res_cap entries, oldest at res_head */
  fsm_result *res;
  size_t res_cap, res_head, res_count;
  u64map res_idx;        /* rid -> ring slot */
  uint64_t entries_applied;
  trash_t trash;         /* per-user trash (trash.h) */
  /* retired chunk ids (durable): ids that belonged to a file and no longer do, for
   * FSM_RETIRED_KEEP_NS; a commit never takes one again. FIFO in retirement order. */
  u64map retired_idx;    /* id -> 1 */
  fsm_retired *retired;  /* owned ring of retired_cap, oldest at retired_head */
  size_t retired_cap, retired_head, retired_n;
  int64_t now_ns;        /* the clock of the op being applied (its mtime; 0 = none) */
  fsm_quota *quotas;     /* owned vector (durable) */
  size_t nquotas;
  /* soft: the change feed told the paths every applied namespace op changed (borrowed:
   * metad's, changes.h; NULL = none). fsm_restore keeps the pointer and resets the feed
   * (the state jumped: a new epoch). */
  changes_t *changes;
} fsm_t;

/* New empty state. results_cap: how many recent request results are remembered. */
fsm_t *fsm_new(size_t results_cap);
void fsm_free(fsm_t *f); /* NULL is fine */

/* Applies one log entry. Returns 0, or DFS_EPROTO if the entry is malformed (the ops
 * before the bad one are applied; the same happens on every replica). Out of memory
 * aborts the process: the state could otherwise diverge between replicas. */
int fsm_apply_entry(fsm_t *f, const void *buf, size_t len);

/* The recorded result of request rid, or NULL. Valid until the next apply/restore. */
const fsm_result *fsm_result_get(const fsm_t *f, uint64_t rid);
/* 1 if the recorded result r belongs to an op with this digest (ops_digest), i.e. the
 * request is a true retry; 0 if the request id was used for another request. */
int fsm_result_matches(const fsm_result *r, uint64_t digest);
/* user's quota, or NULL if none was set. */
const fsm_quota *fsm_quota_get(const fsm_t *f, const char *user);
/* 0 if owner may grow by de entries and db bytes (within its quota, or it has none);
 * else DFS_EQUOTA with one line in msg saying what is used of what. */
int fsm_quota_check(const fsm_t *f, const char *owner, uint64_t de, uint64_t db, char *msg,
                    size_t msgsz);

/* 1 if chunk id belonged to a file and was retired (it can never be committed again). */
int fsm_is_retired(const fsm_t *f, uint64_t id);
/* Client address of metad with this raft id, or NULL. */
const char *fsm_meta_addr(const fsm_t *f, uint64_t raft_id);

/* Serialises the whole durable state into w (w initialised by the caller). 0 or
 * DFS_ENOMEM. */
int fsm_snapshot(const fsm_t *f, ops_wbuf *w);
/* Replaces the durable state with a snapshot. 0, or DFS_EPROTO/DFS_ENOMEM with the
 * state unchanged. Soft state (locations, server stats) is reset. */
int fsm_restore(fsm_t *f, const void *buf, size_t len);

#endif
