/* servers: the chunkserver registry. Durable (fsm, snapshots): uuid -> server id, ids
 * dense from 1 in order of first registration. Soft (this process only): address,
 * capacity/free/chunk count/load, last heartbeat, alive, the registering connection,
 * and the queue of chunk ids this server should delete (sent in heartbeat replies). */
#ifndef METAD_SERVERS_H
#define METAD_SERVERS_H

#include <stddef.h>
#include <stdint.h>

#include "metad/ops.h"
#include "metad/u64map.h"

#define SERVERS_UUID_MAX 64
#define SERVERS_HOST_MAX 255
#define SERVERS_MAX_PENDING_DELETES (1u << 20)
#define SERVERS_MAX_WATCHED (1u << 20)

/* A chunk a server reported that no file references yet (an upload in progress?). */
#define SERVERS_VERIFY_MAX 64

typedef struct {
  uint64_t chunk;
  uint64_t due_ms; /* dfs_now_ms() after which it is garbage if still unreferenced */
} server_watch;


typedef struct {
  uint64_t id;
  char *uuid;           /* owned, durable */
  /* soft state */
  char host[SERVERS_HOST_MAX + 1];
  uint32_t port;
  int registered;       /* has registered with this metad since it started */
  int alive;
  uint64_t capacity, free_bytes, chunk_count;
  uint64_t chunk_bytes; /* reported bytes of its chunk files; the rest of the use is not ours */
  uint32_t load;
  uint64_t last_hb_ms;  /* dfs_now_ms() of the last register/heartbeat */
  void *conn;           /* dfs_conn of the current registration; not owned */
  int disconnected;     /* that connection closed (kill -9, crash, network): still alive
                         * until dead_timeout for reads, but no new chunks go there */
  uint64_t *pending_del; /* owned; chunk ids to delete */
  size_t ndel, capdel;
  server_watch *watch;  /* owned; young unreferenced chunks on this server */
  size_t nwatch, capwatch;
  /* replication (soft; see replication.h) */
  int draining;          /* reported disk_failing: no new chunks, replicas do not count */
  int need_inventory;    /* ask for a full inventory in the next heartbeat reply */
  int inventory_pending; /* registered or asked, its full inventory not all in yet: its
                          * replicas are not all listed (rg_reregistering waits for it) */
  uint64_t reserve_bytes; /* free space it keeps back */
  uint64_t nospace_until_ms; /* a copy to it failed with no space: full until then */
  uint64_t disk_errors;
  uint32_t copy_slots_free, copies_running; /* from its last heartbeat */
  /* space Alloc promised here and not yet reported written (promises.h) */
  uint64_t promised_bytes;
  uint32_t promised_chunks;
  uint32_t promise_epoch; /* +1 when it dies or registers: older shares no longer count */
  uint64_t *pending_dv;  /* owned; id,version pairs to delete exactly (delete_versions) */
  /* exact replicas it was told to delete lately (delete_versions), by chunk id: the
   * version, and when the order was sent (SERVERS_TOMB_PENDING: not sent yet). Hash maps,
   * so that a trim or an inventory of a million chunks costs O(n), not O(n^2). */
  u64map tomb_ver, tomb_at;
  uint64_t tomb_swept_ms; /* last removal of expired tombs */
  uint64_t inventory_ms; /* when its last full inventory was asked for (register or
                          * send_inventory): reports since then show its disk as it is,
                          * so older tombs no longer hide them */
  size_t ndv, capdv;     /* in pairs */
  /* chunks a reader reported unreadable here, to verify (sent in the next heartbeat
   * reply; a full queue drops new ones: reports are rate-limited and repeated) */
  uint64_t verify_q[SERVERS_VERIFY_MAX], verify_sent[SERVERS_VERIFY_MAX];
  uint32_t nverify;
} server_ent;

typedef struct {
  server_ent *v; /* owned; v[i].id == i + 1 */
  size_t n, cap;
} servers_t;

void servers_init(servers_t *s);
void servers_free(servers_t *s);
/* Id of uuid or 0. */
uint64_t servers_find_uuid(const servers_t *s, const char *uuid);
/* Durable mapping (fsm apply): existing id, or a new one. 0 on OOM. */
uint64_t servers_map(servers_t *s, const char *uuid);
/* NULL if id is unknown. Valid until the next servers_map. */
server_ent *servers_get(servers_t *s, uint64_t id);
/* Queues a delete of chunk on server (soft; dropped if the queue is full). */
void servers_queue_delete(servers_t *s, uint64_t server, uint64_t chunk);
/* Queues a verify order of chunk for e (soft; no-op if queued already or the queue is
 * full). */
void servers_queue_verify(server_ent *e, uint64_t chunk);
/* Moves up to max queued deletes of server into out (caller's array); returns count. */
size_t servers_take_deletes(servers_t *s, uint64_t server, uint64_t *out, size_t max);
/* Remembers that server holds an unreferenced chunk that becomes garbage at due_ms. */
void servers_watch_chunk(servers_t *s, uint64_t server, uint64_t chunk, uint64_t due_ms);
/* An unreferenced chunk on a server that is old enough to be garbage. */
typedef struct {
  uint64_t server, chunk;
} servers_orphan;
#define SERVERS_WATCH_FORGET UINT64_MAX
/* Goes over the watched chunks due at now_ms and asks verdict(ud, chunk): 0 = garbage
 * (appended to out, at most max; the caller deletes it), SERVERS_WATCH_FORGET (a file's
 * chunk now: forgotten) or a later time to look again (watched until then). Due chunks
 * beyond max stay watched. Returns how many went to out. */
size_t servers_take_orphans(servers_t *s, uint64_t now_ms,
                            uint64_t (*verdict)(void *ud, uint64_t chunk), void *ud,
                            servers_orphan *out, size_t max);
/* Marks servers without a heartbeat for timeout_ms dead; returns how many changed. */
int servers_check_dead(servers_t *s, uint64_t now_ms, uint64_t timeout_ms);
size_t servers_live_count(const servers_t *s);
/* free_bytes minus the space promised to uploads (promises.h): what placement ranks by. */
uint64_t servers_effective_free(const server_ent *e);
/* e died or registered again: its promised space counts no more (its next report of
 * free space is the truth); older shares are ignored when they end (promise_epoch). */
void servers_forget_promises(server_ent *e);
/* 1 if e reported less than one chunk of room above its reserve, or a copy to it failed
 * for want of space lately. Promised space does not count: it only ranks servers. */
int servers_is_full(const server_ent *e);
/* 1 if new chunks may go to e: alive, connected, not draining, not full. */
int servers_placeable(const server_ent *e);
/* "alive", "dead", "disconnected", "draining" or "full" (static string). */
const char *servers_state(const server_ent *e);
/* Queues an exact delete of chunk id+version on server (soft; no duplicates). 0 when
 * queued (or already queued); DFS_EBUSY (queue full) or DFS_ENOMEM when not: the caller
 * must keep the location, or the replica would stay on disk unknown to metad. */
int servers_queue_delete_version(servers_t *s, uint64_t server, uint64_t chunk,
                                 uint64_t version);
/* 1 if server was told to delete chunk+version less than max_age_ms before now (kept
 * 30 s): a report of it (an inventory taken before the delete ran) must not bring the
 * location back (30 s), nor may a copy go there just then (a few heartbeats). */
#define SERVERS_TOMB_MS 30000
/* 1 if server was told to delete chunk+version less than max_age_ms ago (counted from
 * when the order left in a heartbeat reply), or the order is still queued. */
int servers_recently_deleted(servers_t *s, uint64_t server, uint64_t chunk, uint64_t version,
                             uint64_t now_ms, uint64_t max_age_ms);
/* Moves up to max queued id,version pairs of server into out (room for 2*max). */
size_t servers_take_delete_versions(servers_t *s, uint64_t server, uint64_t *out, size_t max);

/* Snapshot of the durable part (uuids in id order). */
void servers_encode(const servers_t *s, ops_wbuf *w);
int servers_decode(servers_t *s, ops_rbuf *r);

#endif
