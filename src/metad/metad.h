/* metad: the daemon's shared context (settings, the state machine, raft, the listening
 * server, timers) and the waiter type that links a client request to the log entry that
 * carries its operation. One instance per process, used on the loop thread only. */
#ifndef METAD_METAD_H
#define METAD_METAD_H

#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <uv.h>

#include "common/cap.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/tls.h"
#include "metad/changes.h"
#include "metad/fsm.h"
#include "metad/ops.h"
#include "metad/replication.h"

typedef struct metad metad;
typedef struct md_waiter md_waiter;

/* Called once per waiter when its entry was applied (status 0: the result is in
 * fsm_result_get(md->fsm, w->rid)) or could not be (DFS_EUNAVAIL: outcome unknown,
 * DFS_ENOTLEADER). The callback replies and then calls md_waiter_free. */
typedef void (*md_done_cb)(metad *md, md_waiter *w, int status);

struct md_waiter {
  md_waiter *next;
  dfs_conn *conn;            /* reference held; NULL for internal operations */
  dfs_frame_hdr hdr;         /* the request's header (for the reply) */
  uint64_t rid;              /* request id of the op */
  uint64_t digest;           /* ops_digest of the op (0: not checked, internal ops) */
  md_done_cb done;
  void *ud;                  /* handler data, freed with ud_free */
  void (*ud_free)(void *ud);
  /* mutations.c: builds the reply of a client request whose op applied without error
   * (NULL: a bare Status); set by the handler that owns the request type */
  void (*reply)(metad *md, md_waiter *w, const fsm_result *r);
};

/* New waiter (conn may be NULL; a reference is taken). NULL on OOM. */
md_waiter *md_waiter_new(dfs_conn *conn, const dfs_frame_hdr *hdr, uint64_t rid,
                         md_done_cb done);
void md_waiter_free(md_waiter *w); /* drops the conn reference, frees ud */

typedef struct md_batch md_batch;
typedef struct md_alloc md_alloc;
typedef struct md_auth md_auth;
typedef struct md_parked md_parked;          /* front_door.c */
typedef struct md_closing md_closing;        /* replies.c */
typedef struct md_home_wait md_home_wait;    /* user_space.c */

/* Who a client request runs as. name "" with is_admin = 1: authentication is off. */
#define MD_USER_MAX 64
typedef struct {
  char name[MD_USER_MAX + 1];
  int is_admin;
} md_user;

struct metad {
  uv_loop_t *loop;
  dfs_config *cfg;
  /* settings */
  char listen_host[256];
  int listen_port;
  char listen_addr[300];      /* "host:port" told to clients as the leader address */
  char data_dir[4096];
  uint64_t raft_id;
  char raft_address[300];
  int64_t heartbeat_ms, dead_timeout_ms, orphan_grace_ms;
  int64_t snapshot_threshold, snapshot_trailing, election_ms, raft_heartbeat_ms;
  int64_t max_inflight;
  int64_t raft_handshake_ms;  /* raft.handshake_timeout: a peer's whole handshake */
  int64_t raft_max_pending;   /* raft.max_pending: inbound connections in their handshake */
  int64_t trash_retention_ms;  /* trash.retention: how long deleted entries stay in trash */
  int64_t trash_checked_ms;    /* leader: last time expired trash items were looked for */
  /* security (see auth.h): auth_address "" = authentication off */
  char auth_address[300];
  char auth_host[256];
  int auth_port;
  int64_t auth_cache_ttl_ms, auth_timeout_ms, caps_ttl_ms;
  char cluster_secret[256];  /* "" = none: no capabilities, any chunkserver may register */
  int have_caps;
  uint8_t cap_key[DFS_CAP_KEY_LEN];
  dfs_tls_ctx *tls_server;   /* clients and chunkservers (NULL = plaintext) */
  dfs_tls_ctx *tls_client;   /* the link to authd */
  /* raft links between voters (raft.tls, default tls.enabled; NULL = plaintext): mutual
   * TLS, certificates verified against tls.ca, server names against raft addresses */
  dfs_tls_ctx *raft_tls_server, *raft_tls_client;
  md_auth *auth;             /* token cache (NULL when authentication is off) */
  /* state */
  fsm_t *fsm;
  changes_t changes;          /* the change feed (changes.h): filled by fsm apply through
                                 fsm->changes, read by Watch (read_handlers.c) */
  /* raft */
  struct raft raft;
  struct raft_io io;
  struct raft_uv_transport transport;
  struct raft_fsm raft_fsm;
  int raft_started;
  int was_leader;             /* raft_state() == RAFT_LEADER at the last poll */
  int leader_ready;           /* our own first entry of this term has been applied */
  uint64_t leader_ready_ms;   /* dfs_now_ms() when leader_ready was set */
  uint64_t leader_term;       /* raft term in which we became the leader */
  uint64_t ready_rid;         /* request id of that entry */
  int ready_inflight;         /* that entry awaits its apply */
  /* told when this node becomes the ready leader (ready = 1) or stops being the leader
   * (0); set by rg_init's caller (cron.c's md_leadership_changed) */
  void (*on_leadership)(metad *md, int ready);
  void (*rg_closed)(metad *md); /* rg_close's callback */
  md_batch *pending;          /* ops collected during this loop iteration */
  uv_check_t flush_check;
  uv_timer_t cron_timer;      /* the clock (cron.c): every periodic job of the daemon */
  int cron_started;
  /* chunk id pool of the leader: ids [pool_next, pool_end] are reserved and unused */
  uint64_t pool_next, pool_end;
  int reserve_inflight;
  md_alloc *allocs_waiting;   /* Alloc requests waiting for ids (alloc_handlers.c) */
  md_home_wait *homes_waiting; /* OP_MKHOME entries in flight, with the requests waiting
                                  for them (user_space.c) */
  struct limits *limits;      /* per-user fair shares of the leader (limits.h) */
  struct promises *promises;  /* space promised to uploads, per server (promises.h) */
  int orphans_inflight;       /* an OP_RETIRE_ORPHANS entry awaits its apply (gc.c) */
  uint64_t gc_last_ms;        /* dfs_now_ms() of the last garbage collection (gc.c) */
  struct uploads *uploads;    /* chunk ids of uploads still alive (uploads.h) */
  int64_t upload_lease_ms;    /* gc.upload_lease */
  int64_t promise_ttl_ms;     /* placement.promise_ttl: longest a promise holds space */
  int64_t max_allocs_inflight; /* limits.allocs_in_flight: chunks per user */
  int64_t bad_reports_per_min; /* limits.bad_replica_reports: per user and minute */
  int64_t scan_nodes_per_s;    /* limits.scan_rate: search/fsck nodes per user and second */
  uint64_t rng;               /* placement randomness */
  /* replication (replication.h; settings replication.*, rebalance.*) */
  int64_t repl_scan_ms, repl_job_timeout_ms, repl_max_jobs, rebalance_pct, rebalance_max_jobs;
  repl_t repl;
  uint64_t repl_last_scan_ms;
  int repl_was_ready;         /* leader_ready at the last tick (repl_sched.c) */
  size_t repl_last_live;      /* live chunkservers at the last tick (repl_sched.c) */
  /* network */
  dfs_server *server;
  int shutting_down;
  /* front door (front_door.c): requests parked while no leader is ready, in arrival
   * order, with their count and payload bytes */
  md_parked *parked_head, *parked_last;
  size_t parked_count, parked_bytes;
  md_closing *closing; /* refused connections closing shortly (replies.c) */
};

#endif
