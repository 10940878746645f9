/* auth: token validation cache and the link to authd (auth.h). Tokens are secrets:
 * they live only in this cache's memory and are never logged. */
#include "metad/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "metad/replies.h"

#define AUTH_BUCKETS 1024
#define AUTH_CACHE_MAX 8192
#define AUTH_WAITERS_MAX 10000
#define AUTH_TOKEN_MAX 512
#define AUTH_REPLY_MAX (64u << 10)

enum { ENT_PENDING, ENT_VALID, ENT_INVALID };

typedef struct auth_wait {
  struct auth_wait *next;
  dfs_conn *conn; /* reference held */
  dfs_msg msg;    /* owned */
  auth_run_cb run;
} auth_wait;

typedef struct auth_ent {
  struct auth_ent *next; /* bucket chain */
  char *token;           /* owned */
  size_t toklen;
  int state;
  uint64_t expires_ms;   /* monotonic; VALID/INVALID entries are dropped after it */
  md_user user;
  char why[160];         /* INVALID: the reason told to the client */
  auth_wait *waiters, **wtail;
} auth_ent;

struct md_auth {
  metad *md;
  auth_ent *buckets[AUTH_BUCKETS];
  size_t count, waiters;
  uint32_t evict_pos;
  dfs_conn *link; /* to authd; reference held; NULL until first needed */
  int closing;
};

static const char *const NOT_LOGGED_IN = "not logged in or session expired (run 'dfs login')";

static uint32_t tok_hash(const uint8_t *t, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= t[i];
    h *= 16777619u;
  }
  return h % AUTH_BUCKETS;
}

int auth_secret_ok(const metad *md, const char *given) {
  size_t n = strlen(md->cluster_secret), g = given ? strlen(given) : 0;
  if (!n) return 1;
  unsigned char diff = (unsigned char)(n != g);
  for (size_t i = 0; i < n; i++) /* always n steps: time does not depend on the match */
    diff |= (unsigned char)(md->cluster_secret[i] ^ (i < g ? given[i] : 0));
  return diff == 0;
}

/* ---- protobuf scan for field 1 ---- */

static int varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= len) return -1;
    uint8_t b = p[(*pos)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

int auth_token_of(const uint8_t *payload, size_t len, const uint8_t **tok, size_t *toklen) {
  size_t pos = 0;
  *tok = (const uint8_t *)"";
  *toklen = 0;
  while (pos < len) {
    uint64_t key, v;
    if (varint(payload, len, &pos, &key)) return DFS_EPROTO;
    switch (key & 7) {
    case 0:
      if (varint(payload, len, &pos, &v)) return DFS_EPROTO;
      break;
    case 1:
      if (len - pos < 8) return DFS_EPROTO;
      pos += 8;
      break;
    case 5:
      if (len - pos < 4) return DFS_EPROTO;
      pos += 4;
      break;
    case 2:
      if (varint(payload, len, &pos, &v) || v > len - pos) return DFS_EPROTO;
      if (key >> 3 == 1) { /* the last occurrence wins, as in protobuf */
        *tok = payload + pos;
        *toklen = (size_t)v;
      }
      pos += (size_t)v;
      break;
    default:
      return DFS_EPROTO;
    }
  }
  return 0;
}

/* ---- cache ---- */

static void ent_unlink_free(md_auth *a, auth_ent *e) {
  auth_ent **pp = &a->buckets[tok_hash((const uint8_t *)e->token, e->toklen)];
  while (*pp && *pp != e) pp = &(*pp)->next;
  if (*pp) *pp = e->next;
  a->count--;
  free(e->token);
  free(e);
}

static auth_ent *ent_find(md_auth *a, const uint8_t *tok, size_t n) {
  for (auth_ent *e = a->buckets[tok_hash(tok, n)]; e; e = e->next)
    if (e->toklen == n && !memcmp(e->token, tok, n)) return e;
  return NULL;
}

/* Drops expired entries (all of them if now = UINT64_MAX, except pending ones). */
static void sweep(md_auth *a, uint64_t now) {
  for (size_t b = 0; b < AUTH_BUCKETS; b++) {
    auth_ent *e = a->buckets[b];
    while (e) {
      auth_ent *next = e->next;
      if (e->state != ENT_PENDING && e->expires_ms <= now) ent_unlink_free(a, e);
      e = next;
    }
  }
}

size_t auth_forget_user(metad *md, const char *user) {
  md_auth *a = md->auth;
  size_t n = 0;
  if (!a) return 0;
  for (size_t b = 0; b < AUTH_BUCKETS; b++) {
    auth_ent *e = a->buckets[b];
    while (e) {
      auth_ent *next = e->next;
      if (e->state == ENT_VALID && strcmp(e->user.name, user) == 0) {
        ent_unlink_free(a, e);
        n++;
      }
      e = next;
    }
  }
  return n;
}

/* Makes room for one more entry: expired ones first, then any settled one. */
static int make_room(md_auth *a) {
  if (a->count < AUTH_CACHE_MAX) return 0;
  sweep(a, dfs_now_ms());
  for (size_t i = 0; i < AUTH_BUCKETS && a->count >= AUTH_CACHE_MAX; i++) {
    uint32_t b = a->evict_pos++ % AUTH_BUCKETS;
    for (auth_ent *e = a->buckets[b]; e; e = e->next)
      if (e->state != ENT_PENDING) {
        ent_unlink_free(a, e);
        break;
      }
  }
  return a->count < AUTH_CACHE_MAX ? 0 : DFS_EBUSY;
}

/* ---- running requests ---- */

static void run_as(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u, auth_run_cb run) {
  if (dfs_conn_is_open(c)) {
    dfs_conn_set_authenticated(c);
    run(md, c, m, u);
  }
  dfs_msg_free(m);
}

static void md_reply_and_free(dfs_conn *c, dfs_msg *m, int err, const char *why) {
  if (dfs_conn_is_open(c)) md_reply_status(c, &m->hdr, err, why);
  dfs_msg_free(m);
}

/* Completes every waiter of e: run as e->user (err 0) or reply err/why. */
static void finish_waiters(md_auth *a, auth_ent *e, int err, const char *why) {
  auth_wait *w = e->waiters;
  e->waiters = NULL;
  e->wtail = &e->waiters;
  while (w) {
    auth_wait *next = w->next;
    a->waiters--;
    if (err) md_reply_and_free(w->conn, &w->msg, err, why);
    else run_as(a->md, w->conn, &w->msg, &e->user, w->run);
    dfs_conn_unref(w->conn);
    free(w);
    w = next;
  }
}

static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > MD_USER_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
      return 0;
  }
  return 1;
}

static void on_validate(dfs_conn *c, int status, dfs_msg *msg, void *ud) {
  auth_ent *e = ud;
  md_auth *a = dfs_conn_data(c);
  metad *md = a->md;
  char why[400];
  Dfs__AuthValidateRep *rep = NULL;
  int err = 0;
  if (a->closing) {
    finish_waiters(a, e, DFS_EUNAVAIL, "metad is shutting down; retry");
    ent_unlink_free(a, e);
    goto out;
  }
  if (status == 0 && msg->hdr.type == DFS__MSG_TYPE__MSG_AUTH_TO_META_VALIDATE)
    rep = dfs__auth_validate_rep__unpack(NULL, msg->hdr.payload_len, msg->payload);
  if (!rep || !rep->status) {
    /* transport failure or a reply we cannot read: nothing is cached */
    if (status) snprintf(why, sizeof why, "cannot reach authd at %s (%s); retry",
                         md->auth_address, dfs_strerror(status));
    else snprintf(why, sizeof why, "authd at %s sent an unreadable reply", md->auth_address);
    LOG_WARN("token validation failed: %s", why);
    finish_waiters(a, e, DFS_EUNAVAIL, why);
    ent_unlink_free(a, e);
    goto out;
  }
  err = rep->status->error;
  uint64_t now = dfs_now_ms();
  int64_t wall_ms = dfs_wall_ns() / 1000000;
  if (err == 0 && rep->user && name_ok(rep->user->username) && !rep->user->disabled &&
      rep->expires_ms > wall_ms) {
    e->state = ENT_VALID;
    snprintf(e->user.name, sizeof e->user.name, "%s", rep->user->username);
    e->user.is_admin = rep->user->is_admin;
    uint64_t left = (uint64_t)(rep->expires_ms - wall_ms);
    e->expires_ms = now + (left < (uint64_t)md->auth_cache_ttl_ms ? left
                                                                 : (uint64_t)md->auth_cache_ttl_ms);
    finish_waiters(a, e, 0, NULL);
  } else if (err == 0 || err == DFS_EAUTH || err == DFS_ENOENT || err == DFS_EINVAL) {
    /* not a live session: remembered for the ttl so a flood of bad tokens costs authd
     * one call each per ttl at most */
    e->state = ENT_INVALID;
    snprintf(e->why, sizeof e->why, "%s", NOT_LOGGED_IN);
    e->expires_ms = now + (uint64_t)md->auth_cache_ttl_ms;
    finish_waiters(a, e, DFS_EAUTH, e->why);
  } else {
    /* a disabled account, or authd refusing metad's secret: told as is, not cached */
    snprintf(why, sizeof why, "%s", rep->status->message && *rep->status->message
                                        ? rep->status->message
                                        : dfs_strerror(err));
    if (err == DFS_EPERM && strstr(why, "secret"))
      LOG_ERROR("authd refuses metad's token validation: cluster.secret differs from "
                "authd's service.secret");
    finish_waiters(a, e, err == DFS_EPERM ? DFS_EAUTH : DFS_EUNAVAIL, why);
    ent_unlink_free(a, e);
  }
out:
  if (rep) dfs__auth_validate_rep__free_unpacked(rep, NULL);
  if (msg) dfs_msg_free(msg);
}

/* The link to authd, (re)connected when needed. NULL on OOM. */
static dfs_conn *link_get(md_auth *a) {
  metad *md = a->md;
  if (a->link && dfs_conn_is_open(a->link)) return a->link;
  if (a->link) dfs_conn_unref(a->link);
  dfs_conn_opts o = {0};
  o.limits.max_payload = AUTH_REPLY_MAX;
  o.limits.max_bulk = 0;
  o.tls = md->tls_client;
  o.data = a;
  a->link = dfs_conn_connect(md->loop, md->auth_host, md->auth_port, &o, NULL, NULL);
  if (a->link) dfs_conn_ref(a->link);
  return a->link;
}

void auth_client_request(metad *md, dfs_conn *c, dfs_msg *m_in, auth_run_cb run) {
  dfs_msg m = *m_in;
  memset(m_in, 0, sizeof *m_in);
  md_auth *a = md->auth;
  if (!a) {
    md_user anon = {"", 1};
    run_as(md, c, &m, &anon, run);
    return;
  }
  if (a->closing) {
    md_reply_and_free(c, &m, DFS_EUNAVAIL, "metad is shutting down; retry");
    return;
  }
  const uint8_t *tok;
  size_t n;
  if (auth_token_of(m.payload, m.hdr.payload_len, &tok, &n)) {
    dfs_conn_reply_error(c, &m.hdr, DFS_EPROTO, "cannot decode the request");
    dfs_msg_free(&m);
    return;
  }
  if (n == 0 || n > AUTH_TOKEN_MAX || memchr(tok, 0, n)) {
    md_reply_and_free(c, &m, DFS_EAUTH, NOT_LOGGED_IN);
    return;
  }
  auth_ent *e = ent_find(a, tok, n);
  if (e && e->state != ENT_PENDING && e->expires_ms <= dfs_now_ms()) {
    ent_unlink_free(a, e);
    e = NULL;
  }
  if (e && e->state == ENT_VALID) {
    run_as(md, c, &m, &e->user, run);
    return;
  }
  if (e && e->state == ENT_INVALID) {
    md_reply_and_free(c, &m, DFS_EAUTH, e->why);
    return;
  }
  if (a->waiters >= AUTH_WAITERS_MAX || (!e && make_room(a))) {
    md_reply_and_free(c, &m, DFS_EBUSY, "too many requests waiting for token validation");
    return;
  }
  auth_wait *w = calloc(1, sizeof *w);
  if (!e && w) {
    e = calloc(1, sizeof *e);
    if (e && !(e->token = malloc(n + 1))) {
      free(e);
      e = NULL;
    }
    if (e) {
      memcpy(e->token, tok, n);
      e->token[n] = 0;
      e->toklen = n;
      e->state = ENT_PENDING;
      e->wtail = &e->waiters;
      uint32_t b = tok_hash(tok, n);
      e->next = a->buckets[b];
      a->buckets[b] = e;
      a->count++;
      Dfs__AuthValidateReq rq = DFS__AUTH_VALIDATE_REQ__INIT;
      rq.token = e->token;
      rq.service_secret = md->cluster_secret;
      LOG_DEBUG("asking authd about a token for %s (%zu cached)", dfs_conn_peer(c), a->count);
      dfs_conn *l = link_get(a);
      int rc = l ? dfs_conn_call(l, DFS__MSG_TYPE__MSG_META_TO_AUTH_VALIDATE, &rq.base, NULL, 0,
                                 NULL, NULL, (uint64_t)md->auth_timeout_ms, on_validate, e)
                 : DFS_ENOMEM;
      if (rc) {
        char why[400];
        snprintf(why, sizeof why, "cannot reach authd at %s (%s); retry", md->auth_address,
                 dfs_strerror(rc));
        ent_unlink_free(a, e);
        free(w);
        md_reply_and_free(c, &m, DFS_EUNAVAIL, why);
        return;
      }
    }
  }
  if (!e || !w) {
    free(w);
    md_reply_and_free(c, &m, DFS_ENOMEM, "metad is out of memory");
    return;
  }
  w->conn = c;
  dfs_conn_ref(c);
  w->msg = m;
  w->run = run;
  *e->wtail = w;
  e->wtail = &w->next;
  a->waiters++;
}

int auth_init(metad *md) {
  if (!md->auth_address[0]) return 0;
  md_auth *a = calloc(1, sizeof *a);
  if (!a) return DFS_ENOMEM;
  a->md = md;
  md->auth = a;
  return 0;
}

void auth_poll(metad *md) {
  static uint64_t last;
  uint64_t now = dfs_now_ms();
  if (!md->auth || now - last < 1000) return;
  last = now;
  sweep(md->auth, now);
}

void auth_free(metad *md) {
  md_auth *a = md->auth;
  if (!a) return;
  sweep(a, UINT64_MAX);
  if (a->count)
    LOG_WARN("%zu token validation(s) still pending at exit", a->count);
  else
    free(a);
  md->auth = NULL;
}

void auth_shutdown(metad *md) {
  md_auth *a = md->auth;
  if (!a || a->closing) return;
  a->closing = 1;
  /* settled entries go now; pending ones when their call completes (the close below
   * fails it with DFS_ECLOSED and on_validate frees the entry and its waiters) */
  sweep(a, UINT64_MAX);
  if (a->link) {
    dfs_conn_close(a->link);
    dfs_conn_unref(a->link);
    a->link = NULL;
  }
}
