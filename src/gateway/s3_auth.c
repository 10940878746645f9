/* Signature checks and the access key cache (s3_auth.h). */
#include "gateway/s3_auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"

#define TOKEN_MARGIN_MS 60000 /* a token this close to expiry is renewed */

typedef struct {
  char key_id[SIGV4_KEY_ID_MAX + 1];
  int known;                 /* 0: authd said no such key (a negative entry) */
  char user[64];
  int is_admin;
  char secret[GW_SECRET_MAX];
  char token[128];
  int64_t token_expires_ms;  /* wall clock */
  uint64_t fetched_ms;       /* monotonic */
} key_ent;

struct gw_key_cache {
  pthread_mutex_t lock;
  key_ent *v;
  size_t n;
};

int s3_auth_init(gateway *gw) {
  gw_key_cache *k = calloc(1, sizeof *k);
  if (!k || !(k->v = calloc(GW_KEY_CACHE_MAX, sizeof *k->v))) {
    free(k);
    return DFS_ENOMEM;
  }
  pthread_mutex_init(&k->lock, NULL);
  gw->keys = k;
  return 0;
}

void s3_auth_free(gateway *gw) {
  if (!gw->keys) return;
  OPENSSL_cleanse(gw->keys->v, GW_KEY_CACHE_MAX * sizeof *gw->keys->v);
  pthread_mutex_destroy(&gw->keys->lock);
  free(gw->keys->v);
  free(gw->keys);
  gw->keys = NULL;
}

/* Copies the entry for id (fresh or not) into *out; 1 if there is one. */
static int cache_peek(gateway *gw, const char *id, key_ent *out) {
  gw_key_cache *k = gw->keys;
  int found = 0;
  pthread_mutex_lock(&k->lock);
  for (size_t i = 0; i < k->n && !found; i++)
    if (strcmp(k->v[i].key_id, id) == 0) {
      *out = k->v[i];
      found = 1;
    }
  pthread_mutex_unlock(&k->lock);
  return found;
}

static void cache_put(gateway *gw, const key_ent *in) {
  gw_key_cache *k = gw->keys;
  pthread_mutex_lock(&k->lock);
  size_t slot = k->n, oldest = 0;
  for (size_t i = 0; i < k->n; i++) {
    if (strcmp(k->v[i].key_id, in->key_id) == 0) { slot = i; break; }
    if (k->v[i].fetched_ms < k->v[oldest].fetched_ms) oldest = i;
  }
  if (slot == k->n) {
    if (k->n < GW_KEY_CACHE_MAX) k->n++;
    else slot = oldest;
  }
  /* a renewal without a new token keeps the token it had */
  if (slot < k->n && !in->token[0] && strcmp(k->v[slot].key_id, in->key_id) == 0 &&
      strcmp(k->v[slot].user, in->user) == 0) {
    key_ent merged = *in;
    memcpy(merged.token, k->v[slot].token, sizeof merged.token);
    merged.token_expires_ms = k->v[slot].token_expires_ms;
    k->v[slot] = merged;
  } else {
    k->v[slot] = *in;
  }
  pthread_mutex_unlock(&k->lock);
}

/* Asks authd about key id. 0 and *e filled (e->known 0 for an unknown key), or a
 * DFS_E* code for authd being unreachable or broken (err says). */
static int fetch_key(gw_req *r, const char *id, int want_token, key_ent *e, char *err,
                     size_t errsz) {
  Dfs__AuthAccessKeyReq req = DFS__AUTH_ACCESS_KEY_REQ__INIT;
  req.access_key_id = (char *)id;
  req.service_secret = r->gw->cfg.service_secret;
  req.want_token = want_token;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(&r->conn->ac, DFS__MSG_TYPE__MSG_GATEWAY_TO_AUTH_ACCESS_KEY, &req.base,
                     &dfs__auth_access_key_rep__descriptor, &m, err, errsz);
  memset(e, 0, sizeof *e);
  snprintf(e->key_id, sizeof e->key_id, "%s", id);
  e->fetched_ms = dfs_now_ms();
  const Dfs__AuthAccessKeyRep *rep = (const Dfs__AuthAccessKeyRep *)m;
  if (rc == DFS_EAUTH) {
    rc = 0; /* unknown key, disabled user: a (negative) answer */
  } else if (rc == 0) {
    if (!rep->user || !rep->user->username || !rep->secret_key ||
        strlen(rep->user->username) >= sizeof e->user ||
        strlen(rep->secret_key) >= sizeof e->secret ||
        (rep->token && strlen(rep->token) >= sizeof e->token)) {
      rc = DFS_EPROTO;
      snprintf(err, errsz, "authd's answer about an access key is malformed");
    } else {
      e->known = 1;
      snprintf(e->user, sizeof e->user, "%s", rep->user->username);
      e->is_admin = rep->user->is_admin;
      snprintf(e->secret, sizeof e->secret, "%s", rep->secret_key);
      if (rep->token && rep->token[0]) {
        snprintf(e->token, sizeof e->token, "%s", rep->token);
        e->token_expires_ms = rep->expires_ms;
      }
    }
  }
  if (m) {
    if (rep && rep->secret_key) OPENSSL_cleanse(rep->secret_key, strlen(rep->secret_key));
    protobuf_c_message_free_unpacked(m, NULL);
  }
  return rc;
}

int s3_authenticate(gw_req *r) {
  char err[512];
  sigv4_request sr = {r->method, r->path, r->query, r->nquery, r->headers, r->nheaders};
  int rc = sigv4_parse(&sr, &r->auth, err, sizeof err);
  if (rc == DFS_ENOENT) {
    gw_s3_error(r, 403, "AccessDenied", "anonymous requests are not allowed: sign them with "
                                        "an access key ('dfs keys create')");
    return 1;
  }
  if (rc) {
    gw_s3_error(r, 400, r->auth.presigned ? "AuthorizationQueryParametersError"
                                          : "AuthorizationHeaderMalformed", err);
    return 1;
  }
  key_ent e;
  int have = cache_peek(r->gw, r->auth.key_id, &e);
  int fresh = have && dfs_now_ms() - e.fetched_ms < (uint64_t)r->gw->cfg.key_cache_ms;
  int token_ok = have && e.known && e.token[0] &&
                 e.token_expires_ms - TOKEN_MARGIN_MS > dfs_wall_ns() / 1000000;
  if (!fresh || (e.known && !token_ok)) {
    rc = fetch_key(r, r->auth.key_id, !token_ok, &e, err, sizeof err);
    if (rc) {
      LOG_WARN("cannot check access key %s with authd: %s", r->auth.key_id, err);
      gw_s3_error(r, 503, "ServiceUnavailable", "the gateway cannot reach authd; retry");
      OPENSSL_cleanse(&e, sizeof e);
      return 1;
    }
    cache_put(r->gw, &e);
    if (e.known && !e.token[0] && !cache_peek(r->gw, r->auth.key_id, &e)) e.known = 0;
  }
  if (!e.known) {
    gw_s3_error(r, 403, "InvalidAccessKeyId",
                "the access key id does not exist (or its user is disabled): see 'dfs keys ls'");
    OPENSSL_cleanse(&e, sizeof e);
    return 1;
  }
  const char *code;
  rc = sigv4_verify(&sr, &r->auth, e.secret, (int64_t)time(NULL), r->signing_key, &r->payload,
                    &code, err, sizeof err);
  if (rc) {
    gw_s3_error(r, strcmp(code, "InvalidArgument") == 0 || strcmp(code, "InvalidRequest") == 0
                       ? 400 : 403, code, err);
    OPENSSL_cleanse(&e, sizeof e);
    return 1;
  }
  snprintf(r->user, sizeof r->user, "%s", e.user);
  r->is_admin = e.is_admin;
  snprintf(r->token, sizeof r->token, "%s", e.token);
  r->conn->mc.token = r->token;
  OPENSSL_cleanse(&e, sizeof e);
  return 0;
}

int s3_auth_token_of(gw_req *r, const char *key_id, char *token, size_t tokensz) {
  key_ent e;
  char err[512];
  int have = cache_peek(r->gw, key_id, &e);
  int token_ok = have && e.known && e.token[0] &&
                 e.token_expires_ms - TOKEN_MARGIN_MS > dfs_wall_ns() / 1000000;
  int fresh = have && dfs_now_ms() - e.fetched_ms < (uint64_t)r->gw->cfg.key_cache_ms;
  if (!fresh || !token_ok) {
    int rc = fetch_key(r, key_id, !token_ok, &e, err, sizeof err);
    if (rc) {
      OPENSSL_cleanse(&e, sizeof e);
      return rc;
    }
    cache_put(r->gw, &e);
    if (e.known && !e.token[0] && !cache_peek(r->gw, key_id, &e)) e.known = 0;
  }
  int rc = e.known && e.token[0] ? 0 : DFS_EAUTH;
  if (!rc) snprintf(token, tokensz, "%s", e.token);
  OPENSSL_cleanse(&e, sizeof e);
  return rc;
}
