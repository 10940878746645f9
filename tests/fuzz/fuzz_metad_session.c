/* Fuzz target (c, metad + authd): sequences of client requests sent by logged-in users
 * through metad's real path: token validation with a real authd (auth.c asks it over
 * loopback), dispatch, handlers, group commit, Raft log and state machine. One process
 * holds an in-process authd (its own handlers and user store, bcrypt cost 4) with the
 * users alice and bob registered and logged in through authd's protocol (and the
 * administrator "admin"), a single-node metad with authentication and capabilities on,
 * and three chunkservers registered over metad's chunkserver protocol (the harness plays
 * them: it signs write receipts with the cluster key, as chunkd does, so commits need the
 * grants metad handed out in Alloc replies).
 *
 * Input: the operation language of fz_session.h. Every input starts from the same state
 * (the fsm is restored from a baseline snapshot taken after setup, the chunkservers
 * register again, the leader's id pool and per-user shares start over), so a crash
 * replays from its input alone.
 *
 * Checked on every input (abort = finding):
 *   - every request is answered with a reply of its type or an error;
 *   - a request with a stranger's token never succeeds;
 *   - alice never succeeds on a path below bob's home while that home is bob's and
 *     closed to others (mode & 007 == 0), nor lists or chmods it; the same for bob;
 *     search and fsck never show such a path;
 *   - after the sequence: every chunk id in a file (visible or in trash) is in the chunk
 *     table with refs equal to the number of file references, none is retired or beyond
 *     the reserved ids; no entry of the table is unreferenced; no entry is deeper than
 *     NS_MAX_DEPTH; the file/dir counters match the tree;
 *   - fsm_snapshot -> fsm_restore -> fsm_snapshot gives the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.pb-c.h"
#include "authd/authd.h"
#include "chunk_meta.pb-c.h"
#include "client_meta.pb-c.h"
#include "common/cap.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "fz_authd.h"
#include "fz_metad.h"
#include "fz_net.h"
#include "fz_session.h"
#include "metad/auth.h"
#include "metad/cron.h"
#include "metad/front_door.h"
#include "metad/metad.h"
#include "metad/raft_glue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCS 3          /* chunkservers */
#define MAX_GRANTS 64  /* chunks from Alloc replies remembered per input */
#define MAX_KNOWN 64   /* chunks from GetFile replies */
#define MAX_TRASH 32   /* trash item ids from listings */
#define PW "fuzz-password-1"
#define CS_CAPACITY (1ull << 40)
#define FZS_RESULTS 512 /* request results the fsm remembers */

static const char *const actor_names[] = {"alice", "bob", FZ_AUTHD_ADMIN, "stranger"};

static metad md;
static authd ad;
static char tokens[4][128];    /* per actor; the stranger's is well-formed but unknown */
static fz_client cs[NCS];      /* the chunkservers' links to metad (kept open) */
static uint64_t cs_id[NCS];
static int cs_port;            /* where they claim to listen (refuses connections) */
static uint8_t *baseline;      /* fsm snapshot after setup (owned) */
static size_t baseline_len;
static uint64_t req_seq = 1;   /* frame request ids (any: replies are matched in order) */

/* ---- per-input state ---- */

typedef struct {
  int actor;
  uint64_t id, version;
  uint8_t grant[DFS_GRANT_LEN];
  uint64_t chain[NCS];
  size_t nchain;
} grant_ent;

typedef struct {
  uint64_t id, version, crc64;
  uint32_t length, crc32c;
} known_ent;

typedef struct {
  int actor;
  uint16_t type;
  uint8_t *body; /* owned: the payload without the token field */
  size_t len;
  uint64_t rid;
} sent_req;

static struct {
  fz_client conn[4]; /* one connection per actor, opened on first use */
  grant_ent grants[MAX_GRANTS];
  size_t ngrants;
  known_ent known[MAX_KNOWN];
  size_t nknown;
  uint64_t trash_ids[MAX_TRASH];
  size_t ntrash;
  sent_req hist[FZS_MAX_OPS];
  size_t nhist;
  uint64_t next_rid;
} S;

/* ---- input reader: bytes past the end read as 0 ---- */

typedef struct {
  const uint8_t *p;
  size_t n, pos;
} rd;

static uint8_t u8(rd *r) { return r->pos < r->n ? r->p[r->pos++] : 0; }
static uint16_t u16(rd *r) {
  uint16_t hi = u8(r);
  return (uint16_t)(hi << 8 | u8(r));
}

static uint64_t rid_of(rd *r) {
  uint8_t b = u8(r);
  if (b == 0) return 0;
  if (b < 16) return b;
  return S.next_rid++;
}

static int other_user(int actor) { return actor == FZS_BOB ? FZS_ALICE : FZS_BOB; }

/* Reads a path (fz_session.h) into buf. */
static void path_of(rd *r, int actor, char *buf, size_t cap) {
  uint8_t sel = u8(r);
  const char *own = actor == FZS_BOB ? "bob" : actor == FZS_ADMIN ? FZ_AUTHD_ADMIN : "alice";
  size_t len = 0;
  switch (sel & 7) {
  case FZS_P_OWN: len = (size_t)snprintf(buf, cap, "/home/%s", own); break;
  case FZS_P_OTHER: len = (size_t)snprintf(buf, cap, "/home/%s", actor_names[other_user(actor)]); break;
  case FZS_P_ROOT: len = (size_t)snprintf(buf, cap, "/"); break;
  case FZS_P_HOME: len = (size_t)snprintf(buf, cap, "/home"); break;
  case FZS_P_ALICE: len = (size_t)snprintf(buf, cap, "/home/alice"); break;
  case FZS_P_BOB: len = (size_t)snprintf(buf, cap, "/home/bob"); break;
  case FZS_P_DEEP: {
    len = (size_t)snprintf(buf, cap, "/home/%s", own);
    size_t k = 990 + u8(r) % 16;
    for (size_t i = 0; i < k && len + 3 < cap; i++) {
      memcpy(buf + len, "/d", 2);
      len += 2;
    }
    buf[len] = 0;
    break;
  }
  default: { /* raw: any bytes (NULs end it early, as protobuf-c strings would) */
    size_t n = u8(r);
    for (size_t i = 0; i < n && len + 1 < cap; i++) buf[len++] = (char)u8(r);
    buf[len] = 0;
    return;
  }
  }
  for (unsigned i = 0; i < ((sel >> 3) & 3u); i++) {
    const char *c = fzs_comps[u8(r) % FZS_NCOMPS];
    if (len == 1) len = 0; /* "/" + "a" = "/a" */
    len += (size_t)snprintf(buf + len, cap - len, "/%s", c);
    if (len >= cap) len = cap - 1;
  }
}

/* ---- the access rule ---- */

/* 1 if /home/<user of `owner`> is a directory of that user closed to everyone else. */
static int home_closed(int owner) {
  char p[64];
  snprintf(p, sizeof p, "/home/%s", actor_names[owner]);
  ns_inode *n;
  char msg[256];
  if (ns_lookup(md.fsm->ns, p, &n, msg, sizeof msg)) return 0;
  return n->is_dir && n->owner && !strcmp(n->owner, actor_names[owner]) && !(n->mode & 0007);
}

/* 1 if path lies strictly below the other user's home (or is the home itself, exact). */
static int below_home(const char *path, int owner, int exact) {
  char p[64];
  int n = snprintf(p, sizeof p, "/home/%s", actor_names[owner]);
  if (strncmp(path, p, (size_t)n)) return 0;
  return path[n] == '/' || (exact && path[n] == 0);
}

static const ProtobufCMessageDescriptor *req_desc(uint16_t type) {
  switch (type) {
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR: return &dfs__mkdir_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST: return &dfs__list_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT: return &dfs__stat_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE: return &dfs__delete_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMMIT: return &dfs__commit_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE: return &dfs__get_file_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_BAD_REPLICA: return &dfs__bad_replica_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD: return &dfs__chmod_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_RENAME: return &dfs__rename_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY: return &dfs__copy_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_SETREP: return &dfs__setrep_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH: return &dfs__trash_req__descriptor;
  case DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH: return &dfs__touch_req__descriptor;
  default: return NULL; /* search, fsck: their hits are checked instead */
  }
}

static const char *str_field(const ProtobufCMessage *m, const char *name) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
  if (!f || f->type != PROTOBUF_C_TYPE_STRING) return NULL;
  return *(char *const *)((const char *)m + f->offset);
}

/* Whether a request must fail for actor: always for the stranger; for alice and bob
 * when a path it names (decoded as metad decodes it) is inside the other's closed home.
 * A trash restore without a path goes to the item's original path. A request id with a
 * recorded result is answered from the record (a true retry) or refused, so it is not
 * judged by today's modes. */
static int must_fail(int actor, uint16_t type, const uint8_t *body, size_t len) {
  if (actor != FZS_ALICE && actor != FZS_BOB) return actor == FZS_STRANGER;
  int owner = other_user(actor);
  const ProtobufCMessageDescriptor *d = req_desc(type);
  if (!d || !home_closed(owner)) return 0;
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, body);
  if (!m) return 0; /* metad cannot decode it either */
  const ProtobufCFieldDescriptor *rf = protobuf_c_message_descriptor_get_field_by_name(d, "request_id");
  uint64_t rid = rf ? *(const uint64_t *)((const char *)m + rf->offset) : 0;
  if (rid && fsm_result_get(md.fsm, rid)) {
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
  }
  int exact = type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST ||
              type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD;
  int bad = 0;
  const char *names[] = {"path", "src", "dst"};
  for (size_t i = 0; i < 3 && !bad; i++) {
    const char *s = str_field(m, names[i]);
    if (!s) continue;
    if (type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH) {
      Dfs__TrashReq *t = (Dfs__TrashReq *)m;
      if (t->action != DFS__TRASH_ACTION__TRASH_RESTORE) break;
      if (!*s) {
        long k = trash_find(&md.fsm->trash, t->id);
        if (k >= 0) s = md.fsm->trash.items[k].path;
      }
    }
    bad = below_home(s, owner, exact);
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return bad;
}

/* Hits of a search or fsck reply (or the entries of a list) under a closed home. */
static void check_hits(int actor, uint16_t type, const uint8_t *p, size_t n) {
  if (actor != FZS_ALICE && actor != FZS_BOB) return;
  int owner = other_user(actor);
  if (!home_closed(owner)) return;
  if (type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_SEARCH) {
    Dfs__SearchRep *r = dfs__search_rep__unpack(NULL, n, p);
    for (size_t i = 0; r && i < r->n_hits; i++)
      if (r->hits[i]->path && below_home(r->hits[i]->path, owner, 0)) {
        fprintf(stderr, "search as %s shows %s\n", actor_names[actor], r->hits[i]->path);
        abort();
      }
    if (r) dfs__search_rep__free_unpacked(r, NULL);
  } else if (type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_FSCK) {
    Dfs__FsckRep *r = dfs__fsck_rep__unpack(NULL, n, p);
    for (size_t i = 0; r && i < r->n_files; i++)
      if (r->files[i]->path && below_home(r->files[i]->path, owner, 0)) {
        fprintf(stderr, "fsck as %s shows %s\n", actor_names[actor], r->files[i]->path);
        abort();
      }
    if (r) dfs__fsck_rep__free_unpacked(r, NULL);
  }
}

/* ---- talking to the daemons ---- */

/* Sends one frame on cl and reads its reply; aborts on a malformed or mismatched
 * reply. Returns the reply's Status error, or -1 if the connection closed. */
static int exchange(fz_client *cl, uint16_t type, const uint8_t *tokfield, size_t toklen,
                    const uint8_t *body, size_t len) {
  size_t plen = toklen + len;
  uint8_t *f = malloc(DFS_FRAME_HDR_LEN + plen + 1);
  if (!f) abort();
  uint64_t rq = req_seq++;
  dfs_frame_hdr h = {type, 0, rq, (uint32_t)plen, 0};
  dfs_frame_encode_hdr(&h, f);
  if (toklen) memcpy(f + DFS_FRAME_HDR_LEN, tokfield, toklen);
  if (len) memcpy(f + DFS_FRAME_HDR_LEN + toklen, body, len);
  fz_write(cl, f, DFS_FRAME_HDR_LEN + plen);
  free(f);
  if (!fz_read_reply(cl)) return -1;
  fz_trace(0, type, cl);
  dfs_frame_hdr rh;
  dfs_frame_limits lim = {DFS_MAX_PAYLOAD, DFS_MAX_BULK};
  if (dfs_frame_decode_hdr(cl->reply, &lim, &rh) || !(rh.flags & DFS_FRAME_REPLY) || rh.req_id != rq) {
    fprintf(stderr, "bad reply header to a request of type %u\n", type);
    abort();
  }
  if (rh.type != type + 1 && rh.type != DFS__MSG_TYPE__MSG_ERROR) {
    fprintf(stderr, "type %u answered with type %u\n", type, rh.type);
    abort();
  }
  Dfs__ErrorReply *e = dfs__error_reply__unpack(NULL, rh.payload_len, cl->reply + DFS_FRAME_HDR_LEN);
  if (!e) {
    fprintf(stderr, "undecodable reply to type %u\n", type);
    abort();
  }
  int err = e->status ? e->status->error : 0;
  if (rh.type == DFS__MSG_TYPE__MSG_ERROR && !err) {
    fprintf(stderr, "an error reply with error 0 to type %u\n", type);
    abort();
  }
  dfs__error_reply__free_unpacked(e, NULL);
  return err;
}

static const uint8_t *reply_payload(const fz_client *cl, size_t *n) {
  const uint8_t *h = cl->reply;
  *n = (size_t)h[16] << 24 | (size_t)h[17] << 16 | (size_t)h[18] << 8 | h[19];
  return h + DFS_FRAME_HDR_LEN;
}

/* Packs m (whose token is "") into a malloc'd buffer. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *b = malloc(*len + 1);
  if (!b) abort();
  protobuf_c_message_pack(m, b);
  return b;
}

/* Calls an authd or chunkserver-side message on cl (payload m). Returns the error. */
static int call_msg(fz_client *cl, uint16_t type, const ProtobufCMessage *m) {
  size_t n;
  uint8_t *b = pack(m, &n);
  int err = exchange(cl, type, NULL, 0, b, n);
  free(b);
  return err;
}

static void remember_reply(int actor, uint16_t type, const fz_client *cl);

/* Sends a client request as actor: field 1 (token) first, then body. Checks the access
 * rules on the answer and remembers what later operations can use. Takes body. */
static int client_call(int actor, uint16_t type, uint8_t *body, size_t len) {
  fz_client *cl = &S.conn[actor];
  if (cl->eof) fz_finish(cl);
  if (cl->fd <= 0) fz_connect(cl, md.loop, md.listen_port);
  uint8_t tf[160];
  size_t tl = strlen(tokens[actor]);
  tf[0] = 0x0a; /* field 1, length-delimited */
  tf[1] = (uint8_t)tl;
  memcpy(tf + 2, tokens[actor], tl);
  int fail = must_fail(actor, type, body, len);
  int err = exchange(cl, type, tf, tl + 2, body, len);
  if (err == 0 && fail) {
    fprintf(stderr, "%s succeeded on a request of type %u it must not (%s)\n",
            actor_names[actor], type,
            actor == FZS_STRANGER ? "unknown token" : "closed home of another user");
    abort();
  }
  if (err == 0) remember_reply(actor, type, cl);
  if (S.nhist < FZS_MAX_OPS) {
    sent_req *h = &S.hist[S.nhist++];
    h->actor = actor;
    h->type = type;
    h->body = body;
    h->len = len;
  } else {
    free(body);
  }
  return err;
}

static int client_msg(int actor, uint16_t type, const ProtobufCMessage *m) {
  size_t n;
  uint8_t *b = pack(m, &n);
  return client_call(actor, type, b, n);
}

static void remember_reply(int actor, uint16_t type, const fz_client *cl) {
  size_t n;
  const uint8_t *p = reply_payload(cl, &n);
  check_hits(actor, type, p, n);
  if (type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_ALLOC) {
    Dfs__AllocRep *r = dfs__alloc_rep__unpack(NULL, n, p);
    for (size_t i = 0; r && i < r->n_chunks && S.ngrants < MAX_GRANTS; i++) {
      Dfs__ChunkAlloc *a = r->chunks[i];
      grant_ent *g = &S.grants[S.ngrants++];
      memset(g, 0, sizeof *g);
      g->actor = actor;
      g->id = a->chunk_id;
      g->version = a->version;
      if (a->grant.len == DFS_GRANT_LEN) memcpy(g->grant, a->grant.data, DFS_GRANT_LEN);
      for (size_t k = 0; k < a->n_chain && g->nchain < NCS; k++) g->chain[g->nchain++] = a->chain[k]->server_id;
    }
    if (r) dfs__alloc_rep__free_unpacked(r, NULL);
  } else if (type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE) {
    Dfs__GetFileRep *r = dfs__get_file_rep__unpack(NULL, n, p);
    for (size_t i = 0; r && i < r->n_chunks && S.nknown < MAX_KNOWN; i++) {
      Dfs__ChunkLocation *l = r->chunks[i];
      S.known[S.nknown++] = (known_ent){l->chunk_id, l->version, l->crc64, l->length, l->crc32c};
    }
    if (r) dfs__get_file_rep__free_unpacked(r, NULL);
  } else if (type == DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH) {
    Dfs__TrashRep *r = dfs__trash_rep__unpack(NULL, n, p);
    for (size_t i = 0; r && i < r->n_items && S.ntrash < MAX_TRASH; i++) S.trash_ids[S.ntrash++] = r->items[i]->id;
    if (r) dfs__trash_rep__free_unpacked(r, NULL);
  }
}

/* ---- chunkservers ---- */

static void cs_heartbeat(int i, Dfs__ChunkReport *bad, Dfs__ChunkReport *fresh) {
  Dfs__HeartbeatReq hb = DFS__HEARTBEAT_REQ__INIT;
  hb.server_id = cs_id[i];
  hb.capacity_bytes = CS_CAPACITY;
  hb.free_bytes = CS_CAPACITY / 2;
  hb.copy_slots_free = 4;
  Dfs__ChunkRef ref = DFS__CHUNK_REF__INIT, *refs[1] = {&ref};
  if (bad) {
    ref.chunk_id = bad->chunk_id;
    ref.version = bad->version;
    hb.n_bad_chunks = 1;
    hb.bad_chunks = refs;
  }
  Dfs__ChunkReport *nc[1] = {fresh};
  if (fresh) {
    hb.n_new_chunks = 1;
    hb.new_chunks = nc;
  }
  int err = call_msg(&cs[i], DFS__MSG_TYPE__MSG_CHUNK_TO_META_HEARTBEAT, &hb.base);
  if (err) {
    fprintf(stderr, "fuzz harness: chunkserver %d heartbeat refused (%d)\n", i + 1, err);
    abort();
  }
}

/* Registers chunkserver i (again) and sends its (empty) inventory and a heartbeat, as
 * chunkd's meta_link does. */
static void cs_register(int i) {
  char uuid[32];
  snprintf(uuid, sizeof uuid, "fuzz-cs-%d", i + 1);
  Dfs__RegisterReq rq = DFS__REGISTER_REQ__INIT;
  rq.server_uuid = uuid;
  rq.host = "127.0.0.1";
  rq.port = (uint32_t)cs_port;
  rq.capacity_bytes = CS_CAPACITY;
  rq.free_bytes = CS_CAPACITY / 2;
  rq.cluster_secret = FZ_AUTHD_SERVICE_SECRET;
  if (call_msg(&cs[i], DFS__MSG_TYPE__MSG_CHUNK_TO_META_REGISTER, &rq.base)) abort();
  size_t n;
  const uint8_t *p = reply_payload(&cs[i], &n);
  Dfs__RegisterRep *r = dfs__register_rep__unpack(NULL, n, p);
  if (!r || !r->server_id) abort();
  cs_id[i] = r->server_id;
  dfs__register_rep__free_unpacked(r, NULL);
  Dfs__InventoryReq inv = DFS__INVENTORY_REQ__INIT;
  inv.server_id = cs_id[i];
  inv.last = 1;
  if (call_msg(&cs[i], DFS__MSG_TYPE__MSG_CHUNK_TO_META_INVENTORY, &inv.base)) abort();
  cs_heartbeat(i, NULL, NULL);
}

/* ---- setup ---- */

static int leader_ready(void *ud) { return md.leader_ready; }
static int synced;
static void on_sync(int status, void *ud) { synced = 1; }
static int is_synced(void *ud) { return synced; }

static void login_user(fz_client *cl, int actor, int do_register) {
  if (do_register) {
    Dfs__AuthRegisterReq rg = DFS__AUTH_REGISTER_REQ__INIT;
    rg.username = (char *)actor_names[actor];
    rg.password = PW;
    if (call_msg(cl, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_REGISTER, &rg.base)) abort();
  }
  Dfs__AuthLoginReq lg = DFS__AUTH_LOGIN_REQ__INIT;
  lg.username = (char *)actor_names[actor];
  lg.password = do_register ? PW : FZ_AUTHD_ADMIN_PW;
  if (call_msg(cl, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGIN, &lg.base)) abort();
  size_t n;
  const uint8_t *p = reply_payload(cl, &n);
  Dfs__AuthLoginRep *r = dfs__auth_login_rep__unpack(NULL, n, p);
  if (!r || !r->token || strlen(r->token) >= sizeof tokens[0] - 1 || strlen(r->token) > 127) abort();
  snprintf(tokens[actor], sizeof tokens[actor], "%s", r->token);
  dfs__auth_login_rep__free_unpacked(r, NULL);
}

static void setup(void) {
  char err[512], dir[512];
  dfs_log_init("fuzz-metad-session", DFS_LOG_ERROR);
  const char *tmp = fz_tempdir("session");
  uv_loop_t *loop = uv_default_loop();

  /* authd, as src/authd/main.c sets it up (no rate limits beyond the login limiter) */
  ad.loop = loop;
  snprintf(dir, sizeof dir, "%s/authd", tmp);
  if (mkdir(dir, 0700) || user_store_open(loop, dir, &ad.store)) abort();
  ad.bcrypt_cost = 4;
  ad.session_ttl_ms = 30LL * 24 * 3600 * 1000; /* outlives any fuzzing run */
  ad.rl = rl_new(15 * 60 * 1000);
  snprintf(ad.service_secret, sizeof ad.service_secret, "%s", FZ_AUTHD_SERVICE_SECRET);
  if (!ad.rl || pw_hash("not-a-real-password", ad.bcrypt_cost, ad.dummy_hash)) abort();
  if (authd_ensure_admin(&ad, FZ_AUTHD_ADMIN, FZ_AUTHD_ADMIN_PW)) abort();
  if (user_store_sync(ad.store, on_sync, NULL)) abort();
  fz_pump_until(loop, is_synced, NULL);
  dfs_conn_opts ao = authd_conn_opts(&ad);
  dfs_server *asrv;
  if (dfs_server_listen(loop, "127.0.0.1", 0, &ao, &asrv)) abort();
  int auth_port = dfs_server_port(asrv);

  /* metad: the defaults of src/metad/main.c load_settings, faster raft timers,
   * authentication through that authd and capabilities (cluster.secret) on */
  md.loop = loop;
  md.cfg = dfs_config_new();
  if (!md.cfg) abort();
  snprintf(md.listen_host, sizeof md.listen_host, "127.0.0.1");
  md.listen_port = fz_free_port();
  snprintf(md.listen_addr, sizeof md.listen_addr, "127.0.0.1:%d", md.listen_port);
  snprintf(md.data_dir, sizeof md.data_dir, "%s/metad", tmp);
  if (mkdir(md.data_dir, 0700)) abort();
  md.raft_id = 1;
  snprintf(md.raft_address, sizeof md.raft_address, "127.0.0.1:%d", fz_free_port());
  md.snapshot_threshold = 512; /* raft snapshots often: the log in memory stays small */
  md.snapshot_trailing = 256;
  md.election_ms = 100;
  md.raft_heartbeat_ms = 20;
  md.raft_handshake_ms = 5000;
  md.raft_max_pending = 64;
  md.max_inflight = 256;
  md.heartbeat_ms = 10000;
  md.dead_timeout_ms = 30000;
  md.orphan_grace_ms = 3600000;
  md.repl_scan_ms = 1000;
  md.repl_job_timeout_ms = 60000;
  md.repl_max_jobs = 4;
  md.rebalance_pct = 5;
  md.rebalance_max_jobs = 4;
  md.trash_retention_ms = 86400000;
  md.rng = 0x9e3779b97f4a7c15ull;
  md.fsm = fsm_new(FZS_RESULTS); /* small: fast to restore, and the ring wraps */
  md.max_allocs_inflight = 64;
  md.bad_reports_per_min = 60;
  md.scan_nodes_per_s = 2000000;
  md.caps_ttl_ms = 600000;
  md.promise_ttl_ms = 15000;
  md.upload_lease_ms = 300000;
  if (md_leader_state_new(&md)) abort(); /* limits, promises, uploads as main.c */
  snprintf(md.auth_address, sizeof md.auth_address, "127.0.0.1:%d", auth_port);
  snprintf(md.auth_host, sizeof md.auth_host, "127.0.0.1");
  md.auth_port = auth_port;
  md.auth_cache_ttl_ms = 3000;
  md.auth_timeout_ms = 5000;
  snprintf(md.cluster_secret, sizeof md.cluster_secret, "%s", FZ_AUTHD_SERVICE_SECRET);
  if (!md.fsm || !md.limits || dfs_cap_key(md.cluster_secret, md.cap_key)) abort();
  md.have_caps = 1;
  repl_init(&md.repl);
  md.repl.max_jobs_per_server = (uint32_t)md.repl_max_jobs;
  md.repl.job_timeout_ms = (uint64_t)md.repl_job_timeout_ms;
  md.repl.rebalance_threshold = (double)md.rebalance_pct / 100.0;
  md.repl.rebalance_max_jobs = (uint32_t)md.rebalance_max_jobs;
  md.repl.tomb_copy_ms = 40000;
  if (auth_init(&md)) abort();
  dfs_conn_opts opts = {0};
  opts.limits.max_payload = DFS_MAX_PAYLOAD;
  opts.on_request = md_on_request;
  opts.on_close = md_on_close;
  opts.data = &md;
  if (dfs_server_listen(loop, md.listen_host, md.listen_port, &opts, &md.server)) abort();
  if (rg_init(&md, md_leadership_changed, err, sizeof err)) {
    fprintf(stderr, "fuzz-metad-session: %s\n", err);
    abort();
  }
  md_cron_start(&md);
  fz_pump_until(loop, leader_ready, NULL);

  /* users: registered and logged in through authd's own protocol */
  fz_client acl;
  fz_connect(&acl, loop, auth_port);
  login_user(&acl, FZS_ALICE, 1);
  login_user(&acl, FZS_BOB, 1);
  login_user(&acl, FZS_ADMIN, 0);
  fz_finish(&acl);
  snprintf(tokens[FZS_STRANGER], sizeof tokens[0], "%064d", 7); /* well-formed, unknown */

  cs_port = fz_refusing_port();
  for (int i = 0; i < NCS; i++) {
    fz_connect(&cs[i], loop, md.listen_port);
    cs_register(i);
  }
  /* every user's first request makes their home (OP_MKHOME): part of the baseline */
  for (int a = FZS_ALICE; a <= FZS_ADMIN; a++) {
    Dfs__StatReq st = DFS__STAT_REQ__INIT;
    st.path = "/";
    if (client_msg(a, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &st.base)) abort();
  }
  ops_wbuf w;
  wb_init(&w);
  if (fsm_snapshot(md.fsm, &w)) abort();
  baseline = malloc(w.len);
  if (!baseline) abort();
  memcpy(baseline, w.p, w.len);
  baseline_len = w.len;
  wb_free(&w);
}

/* Back to the baseline: the durable state restored, the leader's soft state (id pool,
 * per-user shares, replication queues) started over as after an election, the
 * chunkservers registered again (restore forgets registrations). */
static void reset(void) {
  if (fsm_restore(md.fsm, baseline, baseline_len)) abort();
  repl_reset(&md.repl);
  md_leader_state_reset(&md, 1);
  for (int i = 0; i < NCS; i++) cs_register(i);
  for (int a = 0; a < 4; a++) {
    if (S.conn[a].fd > 0) fz_finish(&S.conn[a]);
    S.conn[a].fd = -1;
  }
  for (size_t i = 0; i < S.nhist; i++) free(S.hist[i].body);
  S.nhist = S.ngrants = S.nknown = S.ntrash = 0;
  S.next_rid = 1000;
}

/* ---- invariants ---- */

static void fail_inv(const char *what, unsigned long long a, unsigned long long b) {
  fprintf(stderr, "fsm invariant broken: %s (%llu, %llu)\n", what, a, b);
  abort();
}

typedef struct {
  const ns_inode *n;
  size_t depth;
} walk_ent;

/* Walks the subtree at n (iteratively), counting chunk references into refs, files and
 * dirs; n is at depth `depth`. */
static void walk(const ns_inode *top, size_t depth, u64map *refs, uint64_t *files, uint64_t *dirs) {
  size_t cap = 64, sp = 0;
  walk_ent *st = malloc(cap * sizeof *st);
  if (!st) abort();
  st[sp++] = (walk_ent){top, depth};
  while (sp) {
    walk_ent e = st[--sp];
    if (e.depth > NS_MAX_DEPTH) fail_inv("an entry deeper than NS_MAX_DEPTH", e.depth, e.n->ino);
    if (!e.n->is_dir) {
      (*files)++;
      const uint64_t *ids = ns_file_chunks(e.n);
      for (uint32_t i = 0; i < e.n->u.file.nchunks; i++) {
        uint64_t c = 0;
        u64map_get(refs, ids[i], &c);
        if (ids[i] == 0 || u64map_put(refs, ids[i], c + 1)) fail_inv("chunk id 0 in a file", e.n->ino, i);
      }
      continue;
    }
    (*dirs)++;
    uint32_t pos = 0;
    for (const ns_inode *ch; (ch = ns_dir_next(e.n, &pos));) {
      if (ch->parent != e.n) fail_inv("a child whose parent is another inode", ch->ino, e.n->ino);
      if (sp == cap) {
        cap *= 2;
        walk_ent *ns = realloc(st, cap * sizeof *st);
        if (!ns) abort();
        st = ns;
      }
      st[sp++] = (walk_ent){ch, e.depth + 1};
    }
  }
  free(st);
}

static void check_fsm(void) {
  fsm_t *f = md.fsm;
  u64map refs;
  u64map_init(&refs);
  uint64_t files = 0, dirs = 0;
  walk(f->ns->root, 0, &refs, &files, &dirs);
  for (size_t i = 0; i < f->trash.n; i++) walk(f->trash.items[i].node, 1, &refs, &files, &dirs);
  if (files != f->ns->files) fail_inv("ns->files differs from the files in the tree and trash", f->ns->files, files);
  if (dirs != f->ns->dirs) fail_inv("ns->dirs differs from the dirs in the tree and trash", f->ns->dirs, dirs);
  if (refs.count != f->chunks.n) fail_inv("chunks referenced by files != chunk table entries", refs.count, f->chunks.n);
  for (size_t i = 0; i < f->chunks.n; i++) {
    const chunk_ent *e = &f->chunks.ents[i];
    uint64_t c = 0;
    if (!u64map_get(&refs, e->id, &c)) fail_inv("a chunk table entry no file references", e->id, e->refs);
    if (c != e->refs) fail_inv("a chunk's refs differ from the files referencing it", e->id, e->refs);
    if (fsm_is_retired(f, e->id)) fail_inv("a referenced chunk id is retired", e->id, 0);
    if (e->id > f->ids_reserved) fail_inv("a chunk id beyond the reserved ids", e->id, f->ids_reserved);
  }
  u64map_free(&refs);

  /* snapshot -> restore -> snapshot: the same bytes */
  ops_wbuf a, b;
  wb_init(&a);
  wb_init(&b);
  if (fsm_snapshot(f, &a)) abort();
  fsm_t *r = fsm_new(f->res_cap);
  if (!r) abort();
  int rc = fsm_restore(r, a.p, a.len);
  if (rc) fail_inv("fsm_restore refuses fsm_snapshot's output", (unsigned long long)rc, a.len);
  if (fsm_snapshot(r, &b)) abort();
  if (a.len != b.len || memcmp(a.p, b.p, a.len)) {
    size_t k = 0;
    while (k < a.len && k < b.len && a.p[k] == b.p[k]) k++;
    fail_inv("snapshot of the restored state differs (length, first differing byte)", b.len, k);
  }
  fsm_free(r);
  wb_free(&a);
  wb_free(&b);
}

/* ---- operations ---- */

static void op_commit(rd *r, int actor, char *path) {
  uint8_t flags = u8(r), n = u8(r) % 5;
  Dfs__ChunkInfo ci[4], *cp[4];
  uint8_t receipts[4][DFS_RECEIPT_LEN], grants[4][DFS_GRANT_LEN];
  uint64_t servers[4][NCS];
  uint64_t total = 0;
  uint8_t sels[4];
  for (uint8_t i = 0; i < n; i++) sels[i] = u8(r);
  uint32_t last_len = (uint32_t)u16(r) + 1;
  size_t used = 0;
  for (uint8_t i = 0; i < n; i++) {
    dfs__chunk_info__init(&ci[used]);
    Dfs__ChunkInfo *c = &ci[used];
    uint32_t len = i + 1 == n ? last_len : DFS_CHUNK_SIZE;
    if (sels[i] & 0x80) {
      if (!S.nknown) continue;
      const known_ent *k = &S.known[(sels[i] & 0x7f) % S.nknown];
      c->chunk_id = k->id;
      c->version = k->version;
      c->length = k->length;
      c->crc32c = k->crc32c;
      c->crc64 = k->crc64;
      c->reuse = 1;
    } else {
      /* own grants unless flag 8: the index counts only the eligible ones */
      size_t elig = 0;
      for (size_t g = 0; g < S.ngrants; g++) elig += (flags & 8) || S.grants[g].actor == actor;
      if (!elig) continue;
      size_t want = sels[i] % elig, g = 0;
      for (;; g++)
        if (((flags & 8) || S.grants[g].actor == actor) && want-- == 0) break;
      const grant_ent *ge = &S.grants[g];
      c->chunk_id = ge->id;
      c->version = ge->version;
      c->length = len;
      c->crc32c = (uint32_t)(ge->id * 2654435761u);
      memcpy(grants[used], ge->grant, DFS_GRANT_LEN);
      if (flags & 16) grants[used][DFS_GRANT_LEN - 1] ^= 1;
      c->grant.data = grants[used];
      c->grant.len = DFS_GRANT_LEN;
      memcpy(servers[used], ge->chain, sizeof ge->chain);
      c->servers = servers[used];
      c->n_servers = ge->nchain;
      if (!(flags & 4)) { /* what the chain's chunkservers would have signed */
        dfs_receipt_sign(md.cap_key, c->chunk_id, c->version, c->length, c->crc32c, servers[used],
                         ge->nchain, receipts[used]);
        c->receipt.data = receipts[used];
        c->receipt.len = DFS_RECEIPT_LEN;
      }
    }
    total += c->length;
    cp[used] = c;
    used++;
  }
  Dfs__CommitReq rq = DFS__COMMIT_REQ__INIT;
  rq.path = path;
  rq.overwrite = flags & 1;
  rq.size = total + ((flags & 2) ? 1 : 0);
  rq.n_chunks = used;
  rq.chunks = cp;
  rq.mode = u16(r);
  rq.replicas = u8(r) % 5;
  rq.request_id = rid_of(r);
  static uint8_t attrs[DFS_ATTRS_MAX + 1]; /* no input consumed: older seeds parse alike */
  if (flags & 32) {
    size_t plen = strlen(path), alen = (flags & 128) ? DFS_ATTRS_MAX + 1
                                     : (flags & 64) ? DFS_ATTRS_MAX : plen;
    for (size_t i = 0; i < alen; i++) attrs[i] = plen ? (uint8_t)path[i % plen] : (uint8_t)i;
    rq.attrs.data = attrs;
    rq.attrs.len = alen;
  }
  client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMMIT, &rq.base);
}

static void op_replay(rd *r, int actor) {
  uint8_t k = u8(r), mode = u8(r) % 4;
  if (!S.nhist) return;
  const sent_req *h = &S.hist[k % S.nhist];
  size_t len = h->len;
  uint8_t *b = malloc(len + 8 + 4200);
  if (!b) abort();
  memcpy(b, h->body, len);
  int who = h->actor;
  if (mode == 1) {
    who = actor;
  } else if (mode == 2) { /* field 2 appended: the last occurrence wins */
    char p[4200];
    path_of(r, h->actor, p, sizeof p);
    size_t pl = strlen(p);
    b[len++] = 0x12;
    do {
      b[len++] = (uint8_t)((pl & 0x7f) | (pl > 0x7f ? 0x80 : 0));
      pl >>= 7;
    } while (pl);
    memcpy(b + len, p, strlen(p));
    len += strlen(p);
  } else {
    uint16_t pos = u16(r);
    uint8_t x = u8(r);
    if (len) b[pos % len] ^= x;
  }
  client_call(who, h->type, b, len);
}

static void op_csbeat(rd *r) {
  int i = u8(r) % NCS;
  uint8_t c = u8(r), flags = u8(r);
  Dfs__ChunkReport rep = DFS__CHUNK_REPORT__INIT;
  if (S.nknown && (c & 0x80)) {
    const known_ent *k = &S.known[c % S.nknown];
    rep.chunk_id = k->id;
    rep.version = k->version;
    rep.length = k->length;
    rep.crc32c = k->crc32c;
  } else if (S.ngrants) {
    const grant_ent *g = &S.grants[c % S.ngrants];
    rep.chunk_id = g->id;
    rep.version = g->version;
    rep.length = DFS_CHUNK_SIZE;
  } else {
    rep.chunk_id = c;
    rep.version = 1;
    rep.length = 1;
  }
  cs_heartbeat(i, (flags & 1) ? &rep : NULL, (flags & 2) ? &rep : NULL);
}

static void run_op(rd *r) {
  uint8_t code = u8(r) % FZS_NOPS;
  int actor = u8(r) % 4;
  char path[4200], path2[4200];
  switch (code) {
  case FZS_MKDIR: {
    Dfs__MkdirReq rq = DFS__MKDIR_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    uint8_t fl = u8(r);
    uint16_t mode = u16(r);
    rq.path = path;
    rq.parents = fl & 1;
    rq.mode = (fl & 2) ? mode : 0;
    rq.request_id = rid_of(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, &rq.base);
    break;
  }
  case FZS_LIST: {
    Dfs__ListReq rq = DFS__LIST_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    rq.path = path;
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &rq.base);
    break;
  }
  case FZS_STAT: {
    Dfs__StatReq rq = DFS__STAT_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    rq.path = path;
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &rq.base);
    break;
  }
  case FZS_DELETE: {
    Dfs__DeleteReq rq = DFS__DELETE_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    uint8_t fl = u8(r);
    rq.path = path;
    rq.recursive = fl & 1;
    rq.trash = (fl >> 1) & 1;
    rq.request_id = rid_of(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &rq.base);
    break;
  }
  case FZS_ALLOC: {
    Dfs__AllocReq rq = DFS__ALLOC_REQ__INIT;
    rq.count = u8(r) % 5;
    rq.replicas = u8(r) % 5;
    uint8_t fl = u8(r);
    uint64_t ex = (uint64_t)((fl >> 1) % 4);
    if (fl & 1) {
      rq.n_exclude_servers = 1;
      rq.exclude_servers = &ex;
    }
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_ALLOC, &rq.base);
    break;
  }
  case FZS_COMMIT:
    path_of(r, actor, path, sizeof path);
    op_commit(r, actor, path);
    break;
  case FZS_GETFILE: {
    Dfs__GetFileReq rq = DFS__GET_FILE_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    rq.path = path;
    rq.first_chunk = u8(r);
    rq.max_chunks = u8(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &rq.base);
    break;
  }
  case FZS_CLUSTER: {
    Dfs__ClusterReq rq = DFS__CLUSTER_REQ__INIT;
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER, &rq.base);
    break;
  }
  case FZS_BADREP: {
    Dfs__BadReplicaReq rq = DFS__BAD_REPLICA_REQ__INIT;
    uint8_t c = u8(r);
    rq.chunk_id = S.nknown ? S.known[c % S.nknown].id : S.ngrants ? S.grants[c % S.ngrants].id : c;
    rq.server_id = u8(r) % 5;
    path_of(r, actor, path, sizeof path);
    rq.path = path;
    rq.reason = (u8(r) & 1) ? "crc mismatch\nFORGED LOG LINE" : "crc mismatch";
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_BAD_REPLICA, &rq.base);
    break;
  }
  case FZS_CHMOD: {
    Dfs__ChmodReq rq = DFS__CHMOD_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    rq.path = path;
    rq.mode = u16(r) & 01777;
    rq.request_id = rid_of(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CHMOD, &rq.base);
    break;
  }
  case FZS_RENAME: {
    Dfs__RenameReq rq = DFS__RENAME_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    path_of(r, actor, path2, sizeof path2);
    rq.src = path;
    rq.dst = path2;
    rq.overwrite = u8(r) & 1;
    rq.request_id = rid_of(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_RENAME, &rq.base);
    break;
  }
  case FZS_COPY: {
    Dfs__CopyReq rq = DFS__COPY_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    path_of(r, actor, path2, sizeof path2);
    uint8_t fl = u8(r);
    rq.src = path;
    rq.dst = path2;
    rq.recursive = fl & 1;
    rq.overwrite = (fl >> 1) & 1;
    rq.request_id = rid_of(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COPY, &rq.base);
    break;
  }
  case FZS_SETREP: {
    Dfs__SetrepReq rq = DFS__SETREP_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    rq.path = path;
    rq.replicas = u8(r) % 20;
    rq.recursive = u8(r) & 1;
    rq.request_id = rid_of(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SETREP, &rq.base);
    break;
  }
  case FZS_SEARCH: {
    Dfs__SearchReq rq = DFS__SEARCH_REQ__INIT;
    rq.pattern = (char *)fzs_patterns[u8(r) % FZS_NPATTERNS];
    path_of(r, actor, path, sizeof path);
    uint8_t fl = u8(r);
    static const char *const owners[] = {"", "alice", "bob", FZ_AUTHD_ADMIN};
    rq.path = path;
    rq.glob = fl & 1;
    rq.type = (Dfs__SearchType)((fl >> 1) % 3);
    rq.owner = (char *)owners[(fl >> 3) & 3];
    rq.limit = u8(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SEARCH, &rq.base);
    break;
  }
  case FZS_TRASH: {
    Dfs__TrashReq rq = DFS__TRASH_REQ__INIT;
    rq.action = (Dfs__TrashAction)(u8(r) % 3);
    uint8_t c = u8(r);
    rq.id = c >= 128 ? (uint64_t)(c - 128) : S.ntrash ? S.trash_ids[c % S.ntrash] : c;
    if (u8(r) & 1) {
      path_of(r, actor, path, sizeof path);
      rq.path = path;
    }
    rq.request_id = rid_of(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH, &rq.base);
    break;
  }
  case FZS_FSCK: {
    Dfs__FsckReq rq = DFS__FSCK_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    rq.path = path;
    rq.only_unhealthy = u8(r) & 1;
    rq.limit = u8(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_FSCK, &rq.base);
    break;
  }
  case FZS_TOUCH: {
    Dfs__TouchReq rq = DFS__TOUCH_REQ__INIT;
    path_of(r, actor, path, sizeof path);
    rq.path = path;
    rq.mode = u16(r);
    rq.request_id = rid_of(r);
    client_msg(actor, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TOUCH, &rq.base);
    break;
  }
  case FZS_REPLAY:
    op_replay(r, actor);
    break;
  case FZS_RAW: {
    uint16_t type = fz_metad_types[u8(r) % (sizeof fz_metad_types / sizeof fz_metad_types[0])];
    size_t n = u8(r);
    uint8_t *b = malloc(n + 1);
    if (!b) abort();
    for (size_t i = 0; i < n; i++) b[i] = u8(r);
    client_call(actor, type, b, n);
    break;
  }
  default:
    op_csbeat(r);
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!md.loop) setup();
  reset();
  rd r = {data, size, 0};
  for (int i = 0; i < FZS_MAX_OPS && r.pos < r.n; i++) run_op(&r);
  for (int a = 0; a < 4; a++)
    if (S.conn[a].fd > 0) fz_finish(&S.conn[a]);
  check_fsm();
  return 0;
}
