/* authd request handling: one dispatch table (message type -> handler). Slow work
 * (bcrypt) runs on the thread pool; state changes happen on the loop thread and are
 * replied to only once the journal says they are durable. Passwords, tokens and access
 * key secrets are never logged. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.pb-c.h"
#include "authd/authd.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/log.h"
#include "common/util.h"

/* One request in flight. */
typedef struct areq {
  pwq_job job; /* first: a pwq_job * is the areq * */
  authd *ad;
  dfs_conn *conn;
  dfs_frame_hdr hdr;
  char user[USER_NAME_MAX + 1];
  char ip[64];    /* "a:1.2.3.4": the address's rate-limit key */
  int limited;    /* rl_begin succeeded for "u:user" and ip: rl_end owed */
  /* the sequential slow-down before a check (delayed: in ad->delayed) */
  uv_timer_t delay;
  struct areq *dnext, *dprev;
  void (*done)(pwq_job *, int);
  void (*reply)(dfs_conn *, const dfs_frame_hdr *, int, const char *);
  char password[PW_MAX_LEN + 1];
  char new_password[PW_MAX_LEN + 1];
  char hash[PW_HASH_MAX];   /* in: stored hash to verify; out: new hash */
  int verified;
  int rc;
  /* what to reply after the sync */
  char token[65];
  int64_t expires_ms;
  access_key key;                      /* keys create/delete, access key */
  char key_secret[KEY_SECRET_LEN + 1]; /* create, access key (wiped with r) */
} areq;

static int64_t now_wall_ms(void) { return dfs_wall_ns() / 1000000; }

static void areq_free(areq *r) {
  OPENSSL_cleanse(r->password, sizeof r->password);
  OPENSSL_cleanse(r->new_password, sizeof r->new_password);
  OPENSSL_cleanse(r->token, sizeof r->token);
  OPENSSL_cleanse(r->key_secret, sizeof r->key_secret);
  dfs_conn_unref(r->conn);
  free(r);
}

static areq *areq_new(authd *ad, dfs_conn *c, const dfs_frame_hdr *h) {
  areq *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->ad = ad;
  r->conn = c;
  r->hdr = *h;
  dfs_conn_ref(c);
  snprintf(r->ip, sizeof r->ip, "a:%s", dfs_conn_peer(c));
  char *colon = strrchr(r->ip, ':');
  if (colon && colon != r->ip + 1) *colon = '\0';
  return r;
}

static void ukey_of(const char *user, char out[USER_NAME_MAX + 3]) {
  snprintf(out, USER_NAME_MAX + 3, "u:%s", user);
}

static pwq *queue_of(authd *ad) {
  if (!ad->pwq) ad->pwq = pwq_new(ad->loop, 0, 0, 0);
  return ad->pwq;
}

/* A refusal is logged at most once a second (a flood must not flood the log). */
static void log_refusal(authd *ad, const char *what, const char *who) {
  uint64_t now = dfs_now_ms();
  ad->refusals++;
  if (ad->refusal_log_ms && now - ad->refusal_log_ms < 1000) return;
  ad->refusal_log_ms = now;
  LOG_WARN("refused %s (%s); %llu refusals so far", what, who, (unsigned long long)ad->refusals);
}

/* Why a queued bcrypt job never ran (pwqueue.h). */
static const char *not_run(int status) {
  return status == UV_EBUSY ? "authd is busy with password checks from many clients; retry in a moment"
                            : "authd is shutting down or the client left; retry";
}

static int job_cancelled(pwq_job *j) { return !dfs_conn_is_open(((areq *)j)->conn); }

/* Queues r's bcrypt work. 0, or an error already replied with reply(). */
static int queue_bcrypt(areq *r, void (*run)(pwq_job *), void (*done)(pwq_job *, int),
                        void (*reply)(dfs_conn *, const dfs_frame_hdr *, int, const char *)) {
  r->job.run = run;
  r->job.done = done;
  r->job.cancelled = job_cancelled;
  int per_addr = 0;
  pwq *q = queue_of(r->ad);
  if (q && pwq_submit(q, &r->job, r->ip, &per_addr) == 0) return 0;
  char msg[160];
  if (per_addr)
    snprintf(msg, sizeof msg, "too many password checks in progress from %s; wait for them "
             "and retry", r->ip + 2);
  else
    snprintf(msg, sizeof msg, "authd is busy with other password checks (%u waiting); retry "
             "in a moment", q ? pwq_jobs(q) : 0);
  log_refusal(r->ad, "a password check", msg);
  reply(r->conn, &r->hdr, DFS_EBUSY, msg);
  return DFS_EBUSY;
}

static int copy_secret(char *dst, size_t dstsz, const char *src) {
  size_t n = strlen(src);
  if (n >= dstsz) return DFS_EINVAL;
  memcpy(dst, src, n + 1);
  return 0;
}

/* ---- replies ------------------------------------------------------------------------ */

static void fill_user(Dfs__UserInfo *ui, const auth_user *u) {
  ui->username = (char *)u->name;
  ui->is_admin = u->is_admin;
  ui->disabled = u->disabled;
  ui->created_ms = u->created_ms;
}

/* Replies a reply message whose first field is Status (every auth reply is). */
#define REPLY_STATUS(conn, hdr, T, INIT, err, msg)                 \
  do {                                                              \
    Dfs__Status st_ = DFS__STATUS__INIT;                            \
    st_.error = (err);                                              \
    st_.message = (char *)((msg) ? (msg) : dfs_strerror(err));      \
    T rep_ = INIT;                                                  \
    rep_.status = &st_;                                             \
    dfs_conn_reply((conn), (hdr), &rep_.base, NULL, 0, NULL, NULL); \
  } while (0)

static void reply_plain(dfs_conn *c, const dfs_frame_hdr *h, int err, const char *msg) {
  /* Register/Logout/Passwd/SetUser replies all are { Status status = 1; }: one type
   * packs the same bytes for each, the frame type tells them apart. */
  REPLY_STATUS(c, h, Dfs__AuthLogoutRep, DFS__AUTH_LOGOUT_REP__INIT, err, msg);
}

/* Session of a token, with its (enabled) user; NULL with err and msg set if none. */
static const auth_user *session_user(authd *ad, const char *token, int64_t *expires,
                                     int *err, const char **msg) {
  const auth_session *ss = token ? user_store_session(ad->store, token, now_wall_ms()) : NULL;
  const auth_user *u = ss ? user_store_get(ad->store, ss->user) : NULL;
  if (!u) {
    *err = DFS_EAUTH;
    *msg = "not logged in, or the session expired or was revoked (run 'dfs login')";
    return NULL;
  }
  if (u->disabled) {
    *err = DFS_EPERM;
    *msg = "this account is disabled (ask an administrator)";
    return NULL;
  }
  if (expires) *expires = ss->expires_ms;
  return u;
}

static void reply_login(dfs_conn *c, const dfs_frame_hdr *h, int err, const char *msg) {
  REPLY_STATUS(c, h, Dfs__AuthLoginRep, DFS__AUTH_LOGIN_REP__INIT, err, msg);
}

/* The failed-login policy (ratelimit.h): starts an attempt for r->user from r->ip.
 * 0, or DFS_EBUSY after replying "too many failed logins ...; try again in S s". */
static int attempt_begin(areq *r, void (*reply)(dfs_conn *, const dfs_frame_hdr *, int, const char *)) {
  authd *ad = r->ad;
  char ukey[USER_NAME_MAX + 3], msg[160];
  ukey_of(r->user, ukey);
  uint64_t now = dfs_now_ms(), wait;
  if (rl_begin(ad->rl, ukey, ad->max_fail_user, now, &wait)) {
    snprintf(msg, sizeof msg, "too many failed logins for %s; try again in %llu s", r->user,
             (unsigned long long)((wait + 999) / 1000));
  } else if (rl_begin(ad->rl, r->ip, ad->max_fail_addr, now, &wait)) {
    rl_end(ad->rl, ukey, 0, now);
    snprintf(msg, sizeof msg, "too many failed logins from %s; try again in %llu s", r->ip + 2,
             (unsigned long long)((wait + 999) / 1000));
  } else {
    r->limited = 1;
    return 0;
  }
  log_refusal(ad, "a password check", msg);
  reply(r->conn, &r->hdr, DFS_EBUSY, msg);
  return DFS_EBUSY;
}

/* Ends the attempt: verified resets the user's failures, else both keys count one. */
static void attempt_end(areq *r, int ran, int verified) {
  if (!r->limited) return;
  r->limited = 0;
  char ukey[USER_NAME_MAX + 3];
  ukey_of(r->user, ukey);
  uint64_t now = dfs_now_ms();
  int failed = ran && !verified; /* a check that never ran is no failure */
  rl_end(r->ad->rl, ukey, failed, now);
  rl_end(r->ad->rl, r->ip, failed, now);
  if (verified) rl_reset(r->ad->rl, ukey); /* never the address's: one good account must
                                             not buy an address more guesses */
}

/* ---- durable completion -------------------------------------------------------------- */

static void after_sync_plain(int status, void *ud) {
  areq *r = ud;
  reply_plain(r->conn, &r->hdr, status, status ? "could not store the change durably" : "");
  areq_free(r);
}

static void after_sync_login(int status, void *ud) {
  areq *r = ud;
  if (status) {
    REPLY_STATUS(r->conn, &r->hdr, Dfs__AuthLoginRep, DFS__AUTH_LOGIN_REP__INIT, status,
                 "could not store the session durably");
  } else {
    const auth_user *u = user_store_get(r->ad->store, r->user);
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__UserInfo ui = DFS__USER_INFO__INIT;
    if (u) fill_user(&ui, u);
    Dfs__AuthLoginRep rep = DFS__AUTH_LOGIN_REP__INIT;
    rep.status = &st;
    rep.token = r->token;
    rep.expires_ms = r->expires_ms;
    rep.user = &ui;
    dfs_conn_reply(r->conn, &r->hdr, &rep.base, NULL, 0, NULL, NULL);
  }
  areq_free(r);
}

static void sync_or_fail(areq *r, int rc, journal_done_cb cb) {
  if (rc == 0) rc = user_store_sync(r->ad->store, cb, r);
  if (rc) cb(rc, r);
}

/* A new session of user (of access key key_id, or "" for a login): the token into
 * r->token, its expiry into r->expires_ms, the session into the store (journaled; the
 * caller syncs). 0, DFS_EINTERNAL (no randomness) or the store's error. */
static int new_session(areq *r, const char *user, const char *key_id) {
  uint8_t raw[32];
  if (dfs_random_bytes(raw, sizeof raw)) return DFS_EINTERNAL;
  for (int i = 0; i < 32; i++) snprintf(r->token + 2 * i, 3, "%02x", raw[i]);
  OPENSSL_cleanse(raw, sizeof raw);
  auth_session ss = {0};
  user_store_token_hash(r->token, ss.token_hash);
  snprintf(ss.user, sizeof ss.user, "%s", user);
  snprintf(ss.key_id, sizeof ss.key_id, "%s", key_id);
  ss.expires_ms = now_wall_ms() + r->ad->session_ttl_ms;
  r->expires_ms = ss.expires_ms;
  return user_store_add_session(r->ad->store, &ss);
}

/* ---- register ------------------------------------------------------------------------ */

static void work_hash(pwq_job *j) {
  areq *r = (areq *)j;
  r->rc = pw_hash(r->new_password, r->ad->bcrypt_cost, r->hash);
}

static void done_register(pwq_job *j, int status) {
  areq *r = (areq *)j;
  r->ad->bcrypt_runs += status == 0;
  if (status == UV_ECANCELED || status == UV_EBUSY) {
    reply_plain(r->conn, &r->hdr, status == UV_EBUSY ? DFS_EBUSY : DFS_EUNAVAIL, not_run(status));
    areq_free(r);
    return;
  }
  if (status || r->rc) {
    reply_plain(r->conn, &r->hdr, DFS_EINTERNAL, "password hashing failed");
    areq_free(r);
    return;
  }
  auth_user u = {0};
  snprintf(u.name, sizeof u.name, "%s", r->user);
  snprintf(u.hash, sizeof u.hash, "%s", r->hash);
  u.created_ms = now_wall_ms();
  int rc = user_store_add(r->ad->store, &u);
  if (rc == DFS_EEXIST) {
    char msg[96];
    snprintf(msg, sizeof msg, "user '%s' already exists (choose another name)", r->user);
    reply_plain(r->conn, &r->hdr, rc, msg);
    areq_free(r);
    return;
  }
  if (!rc) LOG_INFO("registered user %s", r->user);
  sync_or_fail(r, rc, after_sync_plain);
}

static void h_register(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthRegisterReq *q = dfs__auth_register_req__unpack(NULL, m->hdr.payload_len, m->payload);
  const char *why = NULL;
  char msgbuf[160];
  int err = 0;
  if (!q) { err = DFS_EPROTO; why = "malformed request"; }
  else if (user_name_check(q->username)) {
    err = DFS_EINVAL;
    why = "invalid user name (1-32 of a-z 0-9 _ -, starting with a letter)";
  } else if (pw_check_policy(q->password, &why)) err = DFS_EINVAL;
  else if (ad->registration_off) {
    err = DFS_EPERM;
    why = "self-registration is turned off on this server (registration.enabled: false); "
          "ask an administrator for an account";
  } else if (!strcmp(q->username, DFS_ADMIN_OWNER)) {
    err = DFS_EPERM;
    snprintf(msgbuf, sizeof msgbuf, "the name '%s' is reserved (it owns / and /home); choose "
             "another name", q->username);
    why = msgbuf;
  } else if (user_store_name_retired(ad->store, q->username)) {
    err = DFS_EEXIST; /* the files of the deleted user must not pass to a newcomer */
    snprintf(msgbuf, sizeof msgbuf, "the name '%s' belonged to a deleted user and is never "
             "given out again; choose another name", q->username);
    why = msgbuf;
  } else if (user_store_get(ad->store, q->username)) {
    err = DFS_EEXIST; /* before any bcrypt: taken names cost nothing */
    snprintf(msgbuf, sizeof msgbuf, "user '%s' already exists (choose another name)", q->username);
    why = msgbuf;
  }
  if (!err) {
    areq *r = areq_new(ad, c, &m->hdr);
    uint64_t wait;
    if (!r) err = DFS_ENOMEM;
    else if (ad->reg_rl && rl_begin(ad->reg_rl, r->ip, ad->reg_per_addr, dfs_now_ms(), &wait)) {
      /* every registration counts (rl_end(..., 1)): a quota of accounts per window */
      snprintf(msgbuf, sizeof msgbuf, "too many registrations from %s; try again in %llu s",
               r->ip + 2, (unsigned long long)((wait + 999) / 1000));
      log_refusal(ad, "a registration", msgbuf);
      err = DFS_EBUSY;
      why = msgbuf;
      areq_free(r);
    } else {
      snprintf(r->user, sizeof r->user, "%s", q->username);
      copy_secret(r->new_password, sizeof r->new_password, q->password);
      if (ad->reg_rl) rl_end(ad->reg_rl, r->ip, 1, dfs_now_ms());
      if (queue_bcrypt(r, work_hash, done_register, reply_plain)) areq_free(r);
    }
  }
  if (err) reply_plain(c, &m->hdr, err, why);
  if (q) {
    OPENSSL_cleanse(q->password, strlen(q->password));
    dfs__auth_register_req__free_unpacked(q, NULL);
  }
}

/* ---- login --------------------------------------------------------------------------- */

static void work_verify(pwq_job *j) {
  areq *r = (areq *)j;
  r->verified = pw_verify(r->password, r->hash);
  if (r->verified && r->new_password[0]) r->rc = pw_hash(r->new_password, r->ad->bcrypt_cost, r->hash);
}

static void login_fail(areq *r, int err, const char *msg) {
  REPLY_STATUS(r->conn, &r->hdr, Dfs__AuthLoginRep, DFS__AUTH_LOGIN_REP__INIT, err, msg);
  areq_free(r);
}

static void done_login(pwq_job *j, int status) {
  areq *r = (areq *)j;
  authd *ad = r->ad;
  const auth_user *u = user_store_get(ad->store, r->user);
  ad->bcrypt_runs += status == 0;
  attempt_end(r, status == 0, status == 0 && r->verified && u);
  if (status == UV_ECANCELED || status == UV_EBUSY) {
    login_fail(r, status == UV_EBUSY ? DFS_EBUSY : DFS_EUNAVAIL, not_run(status));
    return;
  }
  if (status || !r->verified || !u) {
    LOG_INFO("failed login for '%s' from %s", r->user, r->ip + 2);
    login_fail(r, DFS_EAUTH, "wrong user name or password");
    return;
  }
  if (u->disabled) {
    login_fail(r, DFS_EPERM, "this account is disabled (ask an administrator)");
    return;
  }
  int rc = new_session(r, u->name, "");
  if (rc == DFS_EINTERNAL) {
    login_fail(r, rc, "no randomness for a token");
    return;
  }
  LOG_INFO("user %s logged in from %s", u->name, r->ip + 2);
  sync_or_fail(r, rc, after_sync_login);
}

/* Sequential slow-down on top of the hard limit: nothing for a user's first 3 failures
 * in the window, then 250 ms doubling per failure, at most 8 s (a script guessing one
 * password after another gets few tries per window even below the limit). */
static uint64_t slowdown_ms(uint32_t fails) {
  if (fails <= 3) return 0;
  uint32_t shift = fails - 4;
  return shift >= 5 ? 8000 : 250ull << shift;
}

static void on_delay_closed(uv_handle_t *h) {
  areq *r = h->data;
  authd *ad = r->ad;
  if (r->dprev) r->dprev->dnext = r->dnext; else ad->delayed = r->dnext;
  if (r->dnext) r->dnext->dprev = r->dprev;
  if (ad->stopping || !dfs_conn_is_open(r->conn)) {
    attempt_end(r, 0, 0);
    r->reply(r->conn, &r->hdr, DFS_EUNAVAIL, "authd is shutting down or the client left; retry");
    areq_free(r);
  } else if (queue_bcrypt(r, work_verify, r->done, r->reply)) {
    attempt_end(r, 0, 0);
    areq_free(r);
  }
}

static void on_delay(uv_timer_t *t) { uv_close((uv_handle_t *)t, on_delay_closed); }

/* Checks r->password against r->user's hash (a dummy one for unknown users: the same
 * time) under the failed-login policy and the bcrypt queue. 0, or an error already
 * replied with reply() (r is then the caller's to free). */
static int start_verify(areq *r, void (*done)(pwq_job *, int),
                        void (*reply)(dfs_conn *, const dfs_frame_hdr *, int, const char *)) {
  authd *ad = r->ad;
  const auth_user *u = user_store_get(ad->store, r->user);
  snprintf(r->hash, sizeof r->hash, "%s", u ? u->hash : ad->dummy_hash);
  int rc = attempt_begin(r, reply);
  if (rc) return rc;
  char ukey[USER_NAME_MAX + 3];
  ukey_of(r->user, ukey);
  uint64_t d = slowdown_ms(rl_failures(ad->rl, ukey, dfs_now_ms()));
  if (d && !ad->stopping) {
    r->done = done;
    r->reply = reply;
    uv_timer_init(ad->loop, &r->delay);
    r->delay.data = r;
    uv_timer_start(&r->delay, on_delay, d, 0);
    r->dnext = ad->delayed;
    if (ad->delayed) ad->delayed->dprev = r;
    ad->delayed = r;
    return 0;
  }
  if ((rc = queue_bcrypt(r, work_verify, done, reply)) != 0) attempt_end(r, 0, 0);
  return rc;
}

static void h_login(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthLoginReq *q = dfs__auth_login_req__unpack(NULL, m->hdr.payload_len, m->payload);
  areq *r = NULL;
  if (!q || user_name_check(q->username) || strlen(q->password) > PW_MAX_LEN) {
    REPLY_STATUS(c, &m->hdr, Dfs__AuthLoginRep, DFS__AUTH_LOGIN_REP__INIT, DFS_EAUTH,
                 "wrong user name or password");
    goto out;
  }
  r = areq_new(ad, c, &m->hdr);
  if (!r) {
    reply_login(c, &m->hdr, DFS_ENOMEM, NULL);
    goto out;
  }
  snprintf(r->user, sizeof r->user, "%s", q->username);
  copy_secret(r->password, sizeof r->password, q->password);
  if (start_verify(r, done_login, reply_login)) areq_free(r);
out:
  if (q) {
    OPENSSL_cleanse(q->password, strlen(q->password));
    dfs__auth_login_req__free_unpacked(q, NULL);
  }
}

/* ---- logout / whoami / validate -------------------------------------------------------- */

static void h_logout(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthLogoutReq *q = dfs__auth_logout_req__unpack(NULL, m->hdr.payload_len, m->payload);
  int err = 0;
  const char *msg = NULL;
  if (!q) { reply_plain(c, &m->hdr, DFS_EPROTO, "malformed request"); return; }
  const auth_session *ss = user_store_session(ad->store, q->token, now_wall_ms());
  if (!ss) {
    err = DFS_EAUTH;
    msg = "not logged in, or the session already expired";
    reply_plain(c, &m->hdr, err, msg);
  } else {
    areq *r = areq_new(ad, c, &m->hdr);
    if (!r) reply_plain(c, &m->hdr, DFS_ENOMEM, NULL);
    else sync_or_fail(r, user_store_drop_session(ad->store, ss->token_hash), after_sync_plain);
  }
  dfs__auth_logout_req__free_unpacked(q, NULL);
}

static void reply_user(dfs_conn *c, const dfs_frame_hdr *h, const auth_user *u, int64_t expires,
                       int err, const char *msg) {
  Dfs__Status st = DFS__STATUS__INIT;
  st.error = err;
  st.message = (char *)(msg ? msg : "");
  Dfs__UserInfo ui = DFS__USER_INFO__INIT;
  /* Whoami and Validate replies are both { Status, UserInfo, int64 expires_ms }. */
  Dfs__AuthWhoamiRep rep = DFS__AUTH_WHOAMI_REP__INIT;
  rep.status = &st;
  if (u) {
    fill_user(&ui, u);
    rep.user = &ui;
    rep.expires_ms = expires;
  }
  dfs_conn_reply(c, h, &rep.base, NULL, 0, NULL, NULL);
}

static void h_whoami(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthWhoamiReq *q = dfs__auth_whoami_req__unpack(NULL, m->hdr.payload_len, m->payload);
  int err = DFS_EPROTO;
  const char *msg = "malformed request";
  int64_t exp = 0;
  const auth_user *u = q ? session_user(ad, q->token, &exp, &err, &msg) : NULL;
  reply_user(c, &m->hdr, u, exp, u ? 0 : err, u ? NULL : msg);
  dfs__auth_whoami_req__free_unpacked(q, NULL);
}

/* The one check that a caller holds the cluster's service secret (metad's Validate, a
 * gateway's AccessKey): compared in constant time. A wrong one costs a comparison and no
 * state: no bcrypt, no journal, refusals logged at most once a second; the connection
 * limits bound the rest. Deliberately no lockout per address: metad, a gateway and any
 * local process share 127.0.0.1, so locking an address out would let one local flood
 * stop every user's token validation; the secret is a random cluster secret (authd
 * warns at start when it is short), not a guessable password. 0 (the connection is then
 * a trusted service link: exempt from the idle timeout) or DFS_EPERM (*msg set, in buf). */
static int service_check(authd *ad, dfs_conn *c, const char *given, const char *what,
                         const char **msg, char *buf, size_t bufsz) {
  size_t n = strlen(ad->service_secret);
  int ok = n && strlen(given) == n && CRYPTO_memcmp(given, ad->service_secret, n) == 0;
  if (!ok) {
    snprintf(buf, bufsz, "a wrong service secret from %s", dfs_conn_peer(c));
    log_refusal(ad, what, buf);
    snprintf(buf, bufsz, "%s needs the cluster's service secret", what);
    *msg = buf;
    return DFS_EPERM;
  }
  dfs_conn_set_authenticated(c);
  return 0;
}

static void h_validate(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthValidateReq *q = dfs__auth_validate_req__unpack(NULL, m->hdr.payload_len, m->payload);
  int err = DFS_EPROTO;
  const char *msg = "malformed request";
  char buf[160];
  int64_t exp = 0;
  const auth_user *u = NULL;
  if (q) {
    err = service_check(ad, c, q->service_secret, "token validation", &msg, buf, sizeof buf);
    if (!err) u = session_user(ad, q->token, &exp, &err, &msg);
  }
  reply_user(c, &m->hdr, u, exp, u ? 0 : err, u ? NULL : msg);
  dfs__auth_validate_req__free_unpacked(q, NULL);
}

/* ---- passwd ---------------------------------------------------------------------------- */

static void done_passwd(pwq_job *j, int status) {
  areq *r = (areq *)j;
  r->ad->bcrypt_runs += status == 0;
  attempt_end(r, status == 0, status == 0 && r->verified);
  if (status == UV_ECANCELED || status == UV_EBUSY) {
    reply_plain(r->conn, &r->hdr, status == UV_EBUSY ? DFS_EBUSY : DFS_EUNAVAIL, not_run(status));
    areq_free(r);
    return;
  }
  if (status || !r->verified || r->rc) {
    reply_plain(r->conn, &r->hdr, DFS_EAUTH, "the current password is wrong");
    areq_free(r);
    return;
  }
  const auth_user *cur = user_store_get(r->ad->store, r->user);
  if (!cur) {
    reply_plain(r->conn, &r->hdr, DFS_ENOENT, "the user no longer exists");
    areq_free(r);
    return;
  }
  auth_user u = *cur;
  snprintf(u.hash, sizeof u.hash, "%s", r->hash);
  int rc = user_store_update(r->ad->store, &u);
  if (!rc) rc = user_store_drop_user_sessions(r->ad->store, u.name);
  if (!rc) LOG_INFO("user %s changed password; all sessions revoked", u.name);
  sync_or_fail(r, rc, after_sync_plain);
}

static void h_passwd(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthPasswdReq *q = dfs__auth_passwd_req__unpack(NULL, m->hdr.payload_len, m->payload);
  int err = DFS_EPROTO;
  const char *msg = "malformed request";
  const auth_user *u = q ? session_user(ad, q->token, NULL, &err, &msg) : NULL;
  if (u && pw_check_policy(q->new_password, &msg) == 0 && strlen(q->old_password) <= PW_MAX_LEN) {
    areq *r = areq_new(ad, c, &m->hdr);
    if (r) {
      snprintf(r->user, sizeof r->user, "%s", u->name);
      copy_secret(r->password, sizeof r->password, q->old_password);
      copy_secret(r->new_password, sizeof r->new_password, q->new_password);
      if (start_verify(r, done_passwd, reply_plain)) areq_free(r); /* replied */
      u = NULL;
      err = 0;
    } else {
      err = DFS_ENOMEM;
    }
  } else if (u) {
    err = DFS_EINVAL;
    if (!msg) msg = "invalid password";
  }
  if (err) reply_plain(c, &m->hdr, err, msg);
  if (q) {
    OPENSSL_cleanse(q->old_password, strlen(q->old_password));
    OPENSSL_cleanse(q->new_password, strlen(q->new_password));
    dfs__auth_passwd_req__free_unpacked(q, NULL);
  }
}

/* ---- admin ------------------------------------------------------------------------------ */

static const auth_user *admin_of(authd *ad, const char *token, int *err, const char **msg) {
  const auth_user *u = session_user(ad, token, NULL, err, msg);
  if (u && !u->is_admin) {
    *err = DFS_EPERM;
    *msg = "only an administrator may do this";
    return NULL;
  }
  return u;
}

static void h_users(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthUsersReq *q = dfs__auth_users_req__unpack(NULL, m->hdr.payload_len, m->payload);
  int err = DFS_EPROTO;
  const char *msg = "malformed request";
  const auth_user *a = q ? admin_of(ad, q->token, &err, &msg) : NULL;
  if (!a) {
    REPLY_STATUS(c, &m->hdr, Dfs__AuthUsersRep, DFS__AUTH_USERS_REP__INIT, err, msg);
  } else {
    const auth_user *all;
    size_t n = user_store_list(ad->store, &all);
    Dfs__UserInfo *ui = calloc(n ? n : 1, sizeof *ui);
    Dfs__UserInfo **up = calloc(n ? n : 1, sizeof *up);
    Dfs__Status st = DFS__STATUS__INIT;
    st.message = "";
    Dfs__AuthUsersRep rep = DFS__AUTH_USERS_REP__INIT;
    rep.status = &st;
    if (ui && up) {
      for (size_t i = 0; i < n; i++) {
        dfs__user_info__init(&ui[i]);
        fill_user(&ui[i], &all[i]);
        up[i] = &ui[i];
      }
      rep.n_users = n;
      rep.users = up;
    } else {
      st.error = DFS_ENOMEM;
    }
    dfs_conn_reply(c, &m->hdr, &rep.base, NULL, 0, NULL, NULL);
    free(ui);
    free(up);
  }
  dfs__auth_users_req__free_unpacked(q, NULL);
}

static void h_set_user(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthSetUserReq *q = dfs__auth_set_user_req__unpack(NULL, m->hdr.payload_len, m->payload);
  int err = DFS_EPROTO;
  const char *msg = "malformed request";
  const auth_user *a = q ? admin_of(ad, q->token, &err, &msg) : NULL;
  const auth_user *t = a ? user_store_get(ad->store, q->username) : NULL;
  if (a && !t) { err = DFS_ENOENT; msg = "no such user"; }
  else if (t && t == a) { err = DFS_EINVAL; msg = "administrators cannot disable or delete themselves"; t = NULL; }
  if (t) {
    areq *r = areq_new(ad, c, &m->hdr);
    int rc = r ? 0 : DFS_ENOMEM;
    auth_user u = *t;
    if (!rc && q->action == DFS__SET_USER_ACTION__SET_USER_DELETE) {
      rc = user_store_delete(ad->store, u.name);
    } else if (!rc) {
      u.disabled = q->action == DFS__SET_USER_ACTION__SET_USER_DISABLE;
      rc = user_store_update(ad->store, &u);
      if (!rc && u.disabled) rc = user_store_drop_user_sessions(ad->store, u.name);
    }
    if (!rc) LOG_INFO("admin %s: action %d on user %s", a->name, (int)q->action, u.name);
    if (r) sync_or_fail(r, rc, after_sync_plain);
    else reply_plain(c, &m->hdr, rc, NULL);
  } else {
    reply_plain(c, &m->hdr, err, msg);
  }
  dfs__auth_set_user_req__free_unpacked(q, NULL);
}

/* ---- S3 access keys (key_store.h) ------------------------------------------------------ */

/* Replies AuthKeysRep with n keys (no secret unless secret, for the one key created). */
static void reply_keys(dfs_conn *c, const dfs_frame_hdr *h, int err, const char *msg,
                       const access_key *const *ks, size_t n, const char *secret) {
  Dfs__Status st = DFS__STATUS__INIT;
  st.error = err;
  st.message = (char *)(msg ? msg : err ? dfs_strerror(err) : "");
  Dfs__AuthKeysRep rep = DFS__AUTH_KEYS_REP__INIT;
  rep.status = &st;
  Dfs__AccessKeyInfo *ki = n ? calloc(n, sizeof *ki) : NULL;
  Dfs__AccessKeyInfo **kp = n ? calloc(n, sizeof *kp) : NULL;
  if (n && (!ki || !kp)) {
    st.error = DFS_ENOMEM;
    st.message = (char *)dfs_strerror(DFS_ENOMEM);
    n = 0;
  }
  for (size_t i = 0; i < n; i++) {
    dfs__access_key_info__init(&ki[i]);
    ki[i].access_key_id = (char *)ks[i]->id;
    ki[i].user = (char *)ks[i]->user;
    ki[i].created_ms = ks[i]->created_ms;
    if (secret) ki[i].secret_key = (char *)secret;
    kp[i] = &ki[i];
  }
  rep.n_keys = n;
  rep.keys = kp;
  dfs_conn_reply(c, h, &rep.base, NULL, 0, NULL, NULL);
  free(ki);
  free(kp);
}

/* After a create (r->key_secret set: shown this once) or a delete: the key. */
static void after_sync_keys(int status, void *ud) {
  areq *r = ud;
  const access_key *k = &r->key;
  if (status) reply_keys(r->conn, &r->hdr, status, "could not store the change durably", NULL, 0, NULL);
  else reply_keys(r->conn, &r->hdr, 0, NULL, &k, 1, r->key_secret[0] ? r->key_secret : NULL);
  areq_free(r);
}

static void keys_list(authd *ad, dfs_conn *c, const dfs_frame_hdr *h, const char *user) {
  const access_key *all, *mine[KEY_MAX_PER_USER];
  size_t n = user_store_keys(ad->store, &all), k = 0;
  for (size_t i = 0; i < n && k < KEY_MAX_PER_USER; i++)
    if (!strcmp(all[i].user, user)) mine[k++] = &all[i];
  reply_keys(c, h, 0, NULL, mine, k, NULL);
}

static void keys_create(authd *ad, dfs_conn *c, const dfs_frame_hdr *h, const auth_user *u,
                        const char *user) {
  char msg[200];
  uint8_t seal[32];
  if (key_seal_key(ad->service_secret, seal)) {
    reply_keys(c, h, DFS_EUNAVAIL, "authd has no service secret (service.secret): access keys "
               "are sealed with it, so none can be created", NULL, 0, NULL);
    return;
  }
  if (user_store_key_count(ad->store, user) >= KEY_MAX_PER_USER) {
    snprintf(msg, sizeof msg, "%s already has %d access keys, the most allowed; delete one "
             "first (dfs keys rm KEYID)", user, KEY_MAX_PER_USER);
    reply_keys(c, h, DFS_EQUOTA, msg, NULL, 0, NULL);
    OPENSSL_cleanse(seal, sizeof seal);
    return;
  }
  areq *r = areq_new(ad, c, h);
  int rc = r ? 0 : DFS_ENOMEM;
  if (!rc) {
    snprintf(r->key.user, sizeof r->key.user, "%s", user);
    r->key.created_ms = now_wall_ms();
    rc = key_generate(r->key.id, r->key_secret);
  }
  if (!rc) rc = key_seal(seal, &r->key, r->key_secret);
  OPENSSL_cleanse(seal, sizeof seal);
  if (!rc) rc = user_store_add_key(ad->store, &r->key);
  if (rc) {
    reply_keys(c, h, rc, rc == DFS_EINTERNAL ? "could not generate or seal a key" : NULL, NULL, 0, NULL);
    if (r) areq_free(r);
    return;
  }
  LOG_INFO("user %s created access key %s for %s", u->name, r->key.id, user);
  sync_or_fail(r, 0, after_sync_keys);
}

/* named: the request named the user. A key the caller may not see is "no such access
 * key", exactly like one that does not exist: a non-admin learns nothing about others. */
static void keys_delete(authd *ad, dfs_conn *c, const dfs_frame_hdr *h, const auth_user *u,
                        const char *user, int named, const char *id) {
  const access_key *k = key_id_valid(id) ? user_store_key(ad->store, id) : NULL;
  int visible = k && ((u->is_admin && !named) || !strcmp(k->user, user));
  if (!visible) {
    reply_keys(c, h, DFS_ENOENT, named && u->is_admin ? "no such access key of this user"
                                                      : "no such access key", NULL, 0, NULL);
    return;
  }
  areq *r = areq_new(ad, c, h);
  if (!r) {
    reply_keys(c, h, DFS_ENOMEM, NULL, NULL, 0, NULL);
    return;
  }
  r->key = *k;
  LOG_INFO("user %s deleted access key %s of %s (its sessions end)", u->name, k->id, k->user);
  sync_or_fail(r, user_store_delete_key(ad->store, id), after_sync_keys);
}

static void h_keys(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthKeysReq *q = dfs__auth_keys_req__unpack(NULL, m->hdr.payload_len, m->payload);
  int err = DFS_EPROTO;
  const char *msg = "malformed request";
  const auth_user *u = q ? session_user(ad, q->token, NULL, &err, &msg) : NULL;
  const char *user = NULL;
  if (u) {
    const auth_session *ss = user_store_session(ad->store, q->token, now_wall_ms());
    if (ss->key_id[0]) { /* else a leaked S3 key could mint keys that outlive it */
      err = DFS_EPERM;
      msg = "access keys are managed from a password login (dfs login), not with an "
            "access key's session";
    } else if (!q->user[0] || !strcmp(q->user, u->name)) {
      user = u->name;
    } else if (!u->is_admin) {
      err = DFS_EPERM;
      msg = "only an administrator may manage another user's access keys";
    } else if (!user_store_get(ad->store, q->user)) {
      err = DFS_ENOENT;
      msg = "no such user";
    } else {
      user = q->user;
    }
  }
  if (!user) reply_keys(c, &m->hdr, err, msg, NULL, 0, NULL);
  else if (q->action == DFS__KEYS_ACTION__KEYS_LIST) keys_list(ad, c, &m->hdr, user);
  else if (q->action == DFS__KEYS_ACTION__KEYS_CREATE) keys_create(ad, c, &m->hdr, u, user);
  else if (q->action == DFS__KEYS_ACTION__KEYS_DELETE)
    keys_delete(ad, c, &m->hdr, u, user, q->user[0] != '\0', q->access_key_id);
  else reply_keys(c, &m->hdr, DFS_EINVAL, "unknown keys action", NULL, 0, NULL);
  dfs__auth_keys_req__free_unpacked(q, NULL);
}

static void reply_access_key(dfs_conn *c, const dfs_frame_hdr *h, int err, const char *msg,
                             const auth_user *u, const char *secret, const char *token,
                             int64_t expires) {
  Dfs__Status st = DFS__STATUS__INIT;
  st.error = err;
  st.message = (char *)(msg ? msg : err ? dfs_strerror(err) : "");
  Dfs__UserInfo ui = DFS__USER_INFO__INIT;
  Dfs__AuthAccessKeyRep rep = DFS__AUTH_ACCESS_KEY_REP__INIT;
  rep.status = &st;
  if (!err && u) {
    fill_user(&ui, u);
    rep.user = &ui;
    rep.secret_key = (char *)secret;
    if (token) {
      rep.token = (char *)token;
      rep.expires_ms = expires;
    }
  }
  dfs_conn_reply(c, h, &rep.base, NULL, 0, NULL, NULL);
}

static void after_sync_access_key(int status, void *ud) {
  areq *r = ud;
  const auth_user *u = user_store_get(r->ad->store, r->key.user);
  if (status || !u)
    reply_access_key(r->conn, &r->hdr, status ? status : DFS_EAUTH,
                     status ? "could not store the session durably" : "the key's user is gone",
                     NULL, NULL, NULL, 0);
  else reply_access_key(r->conn, &r->hdr, 0, NULL, u, r->key_secret, r->token, r->expires_ms);
  areq_free(r);
}

/* A gateway asks for a key's secret and user (and a session of hers): every refusal is
 * DFS_EAUTH (auth.proto), the reason in the message; only the caller holding the service
 * secret sees whether a key exists. */
static void h_access_key(authd *ad, dfs_conn *c, dfs_msg *m) {
  Dfs__AuthAccessKeyReq *q = dfs__auth_access_key_req__unpack(NULL, m->hdr.payload_len, m->payload);
  char buf[160], secret[KEY_SECRET_LEN + 1] = "";
  const char *msg = "malformed request";
  int err = q ? service_check(ad, c, q->service_secret, "an access key lookup", &msg, buf, sizeof buf)
              : DFS_EPROTO;
  if (err == DFS_EPERM) err = DFS_EAUTH; /* auth.proto: every refusal is DFS_EAUTH */
  const access_key *k = NULL;
  const auth_user *u = NULL;
  uint8_t seal[32];
  if (!err) {
    k = key_id_valid(q->access_key_id) ? user_store_key(ad->store, q->access_key_id) : NULL;
    u = k ? user_store_get(ad->store, k->user) : NULL;
    err = DFS_EAUTH;
    if (!k) msg = "no such access key (unknown or deleted)";
    else if (!u || u->disabled) msg = "the access key's user is disabled";
    else if (key_seal_key(ad->service_secret, seal) || key_unseal(seal, k, secret)) {
      msg = "the access key's secret cannot be opened with this cluster secret (was "
            "service.secret changed since it was created?)";
      log_refusal(ad, "an access key lookup", "a key sealed under another cluster secret");
    } else {
      err = 0;
    }
    OPENSSL_cleanse(seal, sizeof seal);
  }
  if (err || !q->want_token) {
    reply_access_key(c, &m->hdr, err, err ? msg : NULL, u, secret, NULL, 0);
  } else {
    areq *r = areq_new(ad, c, &m->hdr);
    int rc = r ? 0 : DFS_ENOMEM;
    if (!rc) {
      r->key = *k;
      memcpy(r->key_secret, secret, sizeof secret);
      rc = new_session(r, u->name, k->id);
    }
    if (rc && !r) reply_access_key(c, &m->hdr, rc, NULL, NULL, NULL, NULL, 0);
    else sync_or_fail(r, rc, after_sync_access_key);
  }
  OPENSSL_cleanse(secret, sizeof secret);
  dfs__auth_access_key_req__free_unpacked(q, NULL);
}

/* ---- dispatch ------------------------------------------------------------------------- */

typedef void (*auth_handler)(authd *ad, dfs_conn *c, dfs_msg *m);
static const struct { uint16_t type; auth_handler fn; } dispatch[] = {
    {DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_REGISTER, h_register},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGIN, h_login},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGOUT, h_logout},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_WHOAMI, h_whoami},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_PASSWD, h_passwd},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_USERS, h_users},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_SET_USER, h_set_user},
    {DFS__MSG_TYPE__MSG_META_TO_AUTH_VALIDATE, h_validate},
    {DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_KEYS, h_keys},
    {DFS__MSG_TYPE__MSG_GATEWAY_TO_AUTH_ACCESS_KEY, h_access_key},
};

static void on_request(dfs_conn *c, dfs_msg *m) {
  authd *ad = dfs_conn_data(c);
  for (size_t i = 0; i < sizeof dispatch / sizeof *dispatch; i++) {
    if (dispatch[i].type == m->hdr.type) {
      if (m->hdr.bulk_len) dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "unexpected bulk data");
      else dispatch[i].fn(ad, c, m);
      OPENSSL_cleanse(m->payload, m->hdr.payload_len); /* may hold a password */
      dfs_msg_free(m);
      return;
    }
  }
  LOG_WARN("%s: unknown message type %u", dfs_conn_peer(c), m->hdr.type);
  dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, "unknown message type for authd");
  dfs_msg_free(m);
}

dfs_conn_opts authd_conn_opts(authd *ad) {
  dfs_conn_opts o = {.limits = {16384, 0}, .on_request = on_request, .data = ad};
  o.max_conns = ad->max_conns;
  o.max_conns_per_addr = ad->max_conns_per_addr;
  o.idle_timeout_ms = ad->idle_timeout_ms;
  o.frame_timeout_ms = ad->frame_timeout_ms;
  o.max_inflight = ad->max_requests;
  o.max_write_queue = ad->max_write_queue;
  return o;
}

int authd_ensure_admin(authd *ad, const char *name, const char *password) {
  const auth_user *all;
  if (user_store_list(ad->store, &all) > 0) return 0;
  const char *why = NULL;
  if (user_name_check(name)) { LOG_ERROR("admin name '%s' is not a valid user name", name); return DFS_ECONFIG; }
  if (pw_check_policy(password, &why)) { LOG_ERROR("admin password: %s", why); return DFS_ECONFIG; }
  auth_user u = {0};
  snprintf(u.name, sizeof u.name, "%s", name);
  u.is_admin = 1;
  u.created_ms = now_wall_ms();
  int rc = pw_hash(password, ad->bcrypt_cost, u.hash);
  if (!rc) rc = user_store_add(ad->store, &u);
  if (rc) return rc;
  LOG_INFO("created administrator account '%s'", name);
  return 0; /* made durable by the caller's first sync */
}

void authd_stop(authd *ad) {
  ad->stopping = 1;
  if (ad->pwq) pwq_stop(ad->pwq);
  for (areq *r = ad->delayed; r; r = r->dnext) {
    if (uv_is_closing((uv_handle_t *)&r->delay)) continue;
    uv_timer_stop(&r->delay);
    uv_close((uv_handle_t *)&r->delay, on_delay_closed); /* answers "shutting down" */
  }
}
