/* Share links (console.h): an S3 presigned GET URL for one of the user's files, signed
 * with one of her access keys (the first she has; one is created if she has none), so
 * it works without a login until X-Amz-Expires passes (at most 7 days, S3's bound) and
 * stops working earlier if she deletes that key. Only files S3 can name can be shared:
 * /home/<user>/<bucket>/<key>, with a valid bucket name.
 *
 * Invariant: the key's secret lives on this thread's stack only while signing, and is
 * wiped after; the page gets the URL, never the secret. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.pb-c.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "gateway/console.h"
#include "gateway/s3_router.h"
#include "gateway/sigv4.h"

/* The user's first access key id (created if she has none) into id. 0 or a DFS_E*. */
static int share_key(gw_req *r, char id[SIGV4_KEY_ID_MAX + 1], char *err, size_t errsz) {
  for (int create = 0; create < 2; create++) {
    Dfs__AuthKeysReq req = DFS__AUTH_KEYS_REQ__INIT;
    req.token = r->token;
    req.action = create ? DFS__KEYS_ACTION__KEYS_CREATE : DFS__KEYS_ACTION__KEYS_LIST;
    ProtobufCMessage *m = NULL;
    int rc = meta_call(&r->conn->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_KEYS, &req.base,
                       &dfs__auth_keys_rep__descriptor, &m, err, errsz);
    const Dfs__AuthKeysRep *rep = (const Dfs__AuthKeysRep *)m;
    int found = 0;
    if (rc == 0 && rep->n_keys && rep->keys[0]->access_key_id &&
        strlen(rep->keys[0]->access_key_id) <= SIGV4_KEY_ID_MAX) {
      snprintf(id, SIGV4_KEY_ID_MAX + 1, "%s", rep->keys[0]->access_key_id);
      found = 1;
    }
    if (m) {
      for (size_t i = 0; rep && i < rep->n_keys; i++)
        if (rep->keys[i]->secret_key)
          OPENSSL_cleanse(rep->keys[i]->secret_key, strlen(rep->keys[i]->secret_key));
      protobuf_c_message_free_unpacked(m, NULL);
    }
    if (rc) return rc;
    if (found) return 0;
  }
  snprintf(err, errsz, "authd created no access key");
  return DFS_EPROTO;
}

/* The secret of key id (the gateway's own question to authd). 0 or a DFS_E*. */
static int key_secret(gw_req *r, const char *id, char secret[GW_SECRET_MAX], char *err,
                      size_t errsz) {
  Dfs__AuthAccessKeyReq req = DFS__AUTH_ACCESS_KEY_REQ__INIT;
  req.access_key_id = (char *)id;
  req.service_secret = r->gw->cfg.service_secret;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(&r->conn->ac, DFS__MSG_TYPE__MSG_GATEWAY_TO_AUTH_ACCESS_KEY, &req.base,
                     &dfs__auth_access_key_rep__descriptor, &m, err, errsz);
  const Dfs__AuthAccessKeyRep *rep = (const Dfs__AuthAccessKeyRep *)m;
  if (rc == 0 && (!rep->secret_key || strlen(rep->secret_key) >= GW_SECRET_MAX ||
                  !rep->user || !rep->user->username || strcmp(rep->user->username, r->user))) {
    rc = DFS_EPROTO;
    snprintf(err, errsz, "authd's answer about the sharing key is not the user's");
  }
  if (rc == 0) snprintf(secret, GW_SECRET_MAX, "%s", rep->secret_key);
  if (m) {
    if (rep && rep->secret_key) OPENSSL_cleanse(rep->secret_key, strlen(rep->secret_key));
    protobuf_c_message_free_unpacked(m, NULL);
  }
  return rc;
}

void console_share(gw_req *r, const char *body, size_t len) {
  char path[DFS_PATH_MAX + 1], exp[32], err[512];
  if (!console_body_path(r, body, len, "path", path)) return;
  int64_t expires = 3600;
  if (gw_json_get(body, len, "expires_s", exp, sizeof exp) == 1) {
    char *end;
    expires = strtoll(exp, &end, 10);
    if (*end || expires < 1 || expires > CONSOLE_SHARE_MAX_S) {
      console_error(r, 400, "expires_s: 1 second to 7 days (604800)");
      return;
    }
  }
  /* /home/<user>/<bucket>/<key>: the bucket and key S3 sees */
  char home[128];
  int hl = snprintf(home, sizeof home, "/home/%s/", r->user);
  const char *rest = path + hl, *slash = NULL;
  char bucket[S3_BUCKET_MAX + 1] = "";
  if (strncmp(path, home, (size_t)hl) == 0 && (slash = strchr(rest, '/')) &&
      (size_t)(slash - rest) <= S3_BUCKET_MAX) {
    memcpy(bucket, rest, (size_t)(slash - rest));
    bucket[slash - rest] = '\0';
  }
  if (!slash || !slash[1] || !s3_bucket_name_ok(bucket)) {
    console_error(r, 400, "only files inside one of your buckets (a folder of your home with "
                          "a bucket name: a-z 0-9 . -) can be shared");
    return;
  }
  int dir;
  int rc = console_is_dir(r, path, &dir, err, sizeof err);
  if (rc || dir) {
    console_dfs_error(r, rc ? rc : DFS_EISDIR, rc ? err : "a folder cannot be shared");
    return;
  }
  const char *host = gw_header(r, "Host");
  if (!host || strlen(host) > 255) {
    console_error(r, 400, "the request has no Host header");
    return;
  }
  char id[SIGV4_KEY_ID_MAX + 1], secret[GW_SECRET_MAX];
  if ((rc = share_key(r, id, err, sizeof err)) || (rc = key_secret(r, id, secret, err, sizeof err))) {
    console_dfs_error(r, rc, err);
    return;
  }
  /* the presigned request, signed as sigv4_verify will check it */
  sigv4_auth a;
  memset(&a, 0, sizeof a);
  a.presigned = 1;
  snprintf(a.key_id, sizeof a.key_id, "%s", id);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(a.amz_date, sizeof a.amz_date, "%Y%m%dT%H%M%SZ", &tm);
  memcpy(a.date, a.amz_date, 8);
  a.date[8] = '\0';
  snprintf(a.region, sizeof a.region, "%s", r->gw->cfg.region);
  snprintf(a.service, sizeof a.service, "s3");
  snprintf(a.signed_headers, sizeof a.signed_headers, "host");
  a.expires_s = expires;
  char cred[SIGV4_KEY_ID_MAX + 128], exps[24], s3path[DFS_PATH_MAX + 2];
  snprintf(cred, sizeof cred, "%s/%s/%s/s3/aws4_request", a.key_id, a.date, a.region);
  snprintf(exps, sizeof exps, "%" PRId64, expires);
  snprintf(s3path, sizeof s3path, "/%s", rest);
  sigv4_kv q[] = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"}, {"X-Amz-Credential", cred},
                  {"X-Amz-Date", a.amz_date}, {"X-Amz-Expires", exps},
                  {"X-Amz-SignedHeaders", "host"}};
  sigv4_kv h[] = {{"host", host}};
  sigv4_request sr = {"GET", s3path, q, sizeof q / sizeof q[0], h, 1};
  char *canonical = sigv4_canonical_request(&sr, &a);
  if (!canonical) {
    OPENSSL_cleanse(secret, sizeof secret);
    console_error(r, 400, "the path is too long to share");
    return;
  }
  uint8_t key[32];
  char sig[65];
  sigv4_signing_key(secret, a.date, a.region, "s3", key);
  sigv4_sign(key, &a, canonical, sig);
  OPENSSL_cleanse(secret, sizeof secret);
  OPENSSL_cleanse(key, sizeof key);
  free(canonical);
  /* the URL: path and values encoded by the same rules the signature used */
  size_t cap = 3 * strlen(s3path) + 1024;
  char *url = malloc(cap), *enc = malloc(cap);
  int ok = url && enc;
  size_t o = 0;
  if (ok) o = (size_t)snprintf(url, cap, "%s://%s", r->gw->cfg.tls ? "https" : "http", host);
  ok = ok && sigv4_uri_encode(s3path, strlen(s3path), 1, enc, cap) >= 0;
  if (ok) o += (size_t)snprintf(url + o, cap - o, "%s", enc);
  for (size_t i = 0; ok && i < sizeof q / sizeof q[0]; i++) {
    ok = sigv4_uri_encode(q[i].value, strlen(q[i].value), 0, enc, cap) >= 0;
    if (ok) o += (size_t)snprintf(url + o, cap - o, "%c%s=%s", i ? '&' : '?', q[i].name, enc);
  }
  if (ok) snprintf(url + o, cap - o, "&X-Amz-Signature=%s", sig);
  if (!ok) {
    console_error(r, 503, "the gateway is out of memory");
  } else {
    gw_json j = {0};
    gw_json_obj(&j, NULL);
    gw_json_str(&j, "url", url);
    gw_json_int(&j, "expires_ms", ((int64_t)now + expires) * 1000);
    gw_json_str(&j, "key", id);
    gw_json_end_obj(&j);
    console_json_send(r, &j, NULL);
  }
  free(url);
  free(enc);
}
