/* Users and sessions with a journal (see user_store.h). Record bodies:
 *   'U' user put:    name, hash, is_admin u8, disabled u8, created_ms i64
 *   'D' user delete: name
 *   'S' session put: token_hash[32], user, expires_ms i64
 *   'X' session drop: token_hash[32]
 *   'Y' drop all sessions of: user
 * Strings are a length byte and the bytes. */
#include "authd/user_store.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/errors.h"
#include "common/util.h"

struct user_store {
  journal *j;
  auth_user *users;
  size_t nusers, capusers;
  auth_session *sessions;
  size_t nsess, capsess;
};

/* ---- record codec ---------------------------------------------------------------- */

struct rec { uint8_t b[512]; size_t n; };

static void r_u8(struct rec *r, uint8_t v) { r->b[r->n++] = v; }
static void r_str(struct rec *r, const char *s) {
  size_t l = strlen(s);
  r_u8(r, (uint8_t)l);
  memcpy(r->b + r->n, s, l);
  r->n += l;
}
static void r_bytes(struct rec *r, const void *p, size_t l) { memcpy(r->b + r->n, p, l); r->n += l; }
static void r_i64(struct rec *r, int64_t v) { r_bytes(r, &v, 8); }

struct rd { const uint8_t *p; size_t n, off; int bad; };
static uint8_t d_u8(struct rd *d) {
  if (d->off + 1 > d->n) { d->bad = 1; return 0; }
  return d->p[d->off++];
}
static void d_str(struct rd *d, char *out, size_t outsz) {
  size_t l = d_u8(d);
  if (d->bad || l >= outsz || d->off + l > d->n) { d->bad = 1; out[0] = '\0'; return; }
  memcpy(out, d->p + d->off, l);
  out[l] = '\0';
  d->off += l;
}
static void d_bytes(struct rd *d, void *out, size_t l) {
  if (d->off + l > d->n) { d->bad = 1; memset(out, 0, l); return; }
  memcpy(out, d->p + d->off, l);
  d->off += l;
}
static int64_t d_i64(struct rd *d) { int64_t v; d_bytes(d, &v, 8); return v; }

/* ---- memory ----------------------------------------------------------------------- */

static auth_user *find_user(const user_store *s, const char *name) {
  for (size_t i = 0; i < s->nusers; i++)
    if (strcmp(s->users[i].name, name) == 0) return &s->users[i];
  return NULL;
}

static int mem_put_user(user_store *s, const auth_user *u) {
  auth_user *x = find_user(s, u->name);
  if (x) { *x = *u; return 0; }
  if (s->nusers == s->capusers) {
    size_t nc = s->capusers ? s->capusers * 2 : 16;
    auth_user *nu = realloc(s->users, nc * sizeof *nu);
    if (!nu) return DFS_ENOMEM;
    s->users = nu;
    s->capusers = nc;
  }
  s->users[s->nusers++] = *u;
  return 0;
}

static void mem_drop_sessions_if(user_store *s, const char *user, const uint8_t *hash,
                                 int64_t expired_before) {
  size_t o = 0;
  for (size_t i = 0; i < s->nsess; i++) {
    auth_session *x = &s->sessions[i];
    int drop = (user && strcmp(x->user, user) == 0) ||
               (hash && memcmp(x->token_hash, hash, 32) == 0) ||
               (expired_before && x->expires_ms <= expired_before);
    if (!drop) s->sessions[o++] = *x;
  }
  s->nsess = o;
}

static void mem_del_user(user_store *s, const char *name) {
  auth_user *x = find_user(s, name);
  if (!x) return;
  *x = s->users[--s->nusers];
  mem_drop_sessions_if(s, name, NULL, 0);
}

static int mem_add_session(user_store *s, const auth_session *ss) {
  if (s->nsess == s->capsess) {
    size_t nc = s->capsess ? s->capsess * 2 : 64;
    auth_session *n = realloc(s->sessions, nc * sizeof *n);
    if (!n) return DFS_ENOMEM;
    s->sessions = n;
    s->capsess = nc;
  }
  s->sessions[s->nsess++] = *ss;
  return 0;
}

/* Applies one record body to memory (replay and live). */
static int apply(user_store *s, const uint8_t *body, size_t len) {
  struct rd d = {body, len, 0, 0};
  uint8_t type = d_u8(&d);
  auth_user u = {0};
  auth_session ss = {0};
  char name[USER_NAME_MAX + 1];
  int rc = 0;
  switch (type) {
  case 'U':
    d_str(&d, u.name, sizeof u.name);
    d_str(&d, u.hash, sizeof u.hash);
    u.is_admin = d_u8(&d);
    u.disabled = d_u8(&d);
    u.created_ms = d_i64(&d);
    if (!d.bad) rc = mem_put_user(s, &u);
    break;
  case 'D':
    d_str(&d, name, sizeof name);
    if (!d.bad) mem_del_user(s, name);
    break;
  case 'S':
    d_bytes(&d, ss.token_hash, 32);
    d_str(&d, ss.user, sizeof ss.user);
    ss.expires_ms = d_i64(&d);
    if (!d.bad) rc = mem_add_session(s, &ss);
    break;
  case 'X':
    d_bytes(&d, ss.token_hash, 32);
    if (!d.bad) mem_drop_sessions_if(s, NULL, ss.token_hash, 0);
    break;
  case 'Y':
    d_str(&d, name, sizeof name);
    if (!d.bad) mem_drop_sessions_if(s, name, NULL, 0);
    break;
  default: d.bad = 1;
  }
  return d.bad ? DFS_EIO : rc;
}

static void enc_user(struct rec *r, const auth_user *u) {
  r_u8(r, 'U');
  r_str(r, u->name);
  r_str(r, u->hash);
  r_u8(r, (uint8_t)u->is_admin);
  r_u8(r, (uint8_t)u->disabled);
  r_i64(r, u->created_ms);
}

static void enc_session(struct rec *r, const auth_session *ss) {
  r_u8(r, 'S');
  r_bytes(r, ss->token_hash, 32);
  r_str(r, ss->user);
  r_i64(r, ss->expires_ms);
}

/* Applies to memory and appends to the journal. */
static int mutate(user_store *s, const struct rec *r) {
  int rc = apply(s, r->b, r->n);
  return rc ? rc : journal_append(s->j, r->b, r->n);
}

/* ---- public ----------------------------------------------------------------------- */

static int replay_cb(const uint8_t *body, size_t len, void *ud) { return apply(ud, body, len); }

static void write_live(journal *j, void *ud) {
  user_store *s = ud;
  int64_t now = dfs_wall_ns() / 1000000;
  for (size_t i = 0; i < s->nusers; i++) {
    struct rec r = {.n = 0};
    enc_user(&r, &s->users[i]);
    journal_emit(j, r.b, r.n);
  }
  for (size_t i = 0; i < s->nsess; i++) {
    if (s->sessions[i].expires_ms <= now) continue;
    struct rec r = {.n = 0};
    enc_session(&r, &s->sessions[i]);
    journal_emit(j, r.b, r.n);
  }
}

int user_store_open(uv_loop_t *loop, const char *dir, user_store **out) {
  user_store *s = calloc(1, sizeof *s);
  if (!s) return DFS_ENOMEM;
  char path[4200];
  snprintf(path, sizeof path, "%s/auth.journal", dir);
  mkdir(dir, 0700);
  int rc = journal_open(loop, path, replay_cb, s, &s->j);
  if (rc) { user_store_close(s); return rc; }
  user_store_prune(s, dfs_wall_ns() / 1000000);
  /* Compact at every start: the journal then holds only live records. */
  rc = journal_compact(s->j, write_live, s);
  if (rc) { user_store_close(s); return rc; }
  *out = s;
  return 0;
}

void user_store_close(user_store *s) {
  if (!s) return;
  journal_close(s->j);
  free(s->users);
  free(s->sessions);
  free(s);
}

int user_name_check(const char *name) {
  size_t n = strlen(name);
  if (n < 1 || n > USER_NAME_MAX || !(name[0] >= 'a' && name[0] <= 'z')) return DFS_EINVAL;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return DFS_EINVAL;
  }
  return 0;
}

const auth_user *user_store_get(const user_store *s, const char *name) { return find_user(s, name); }

size_t user_store_list(const user_store *s, const auth_user **out) {
  *out = s->users;
  return s->nusers;
}

void user_store_token_hash(const char *token, uint8_t out[32]) {
  SHA256((const unsigned char *)token, strlen(token), out);
}

const auth_session *user_store_session(const user_store *s, const char *token, int64_t now_ms) {
  uint8_t h[32];
  user_store_token_hash(token, h);
  for (size_t i = 0; i < s->nsess; i++)
    if (memcmp(s->sessions[i].token_hash, h, 32) == 0)
      return s->sessions[i].expires_ms > now_ms ? &s->sessions[i] : NULL;
  return NULL;
}

int user_store_add(user_store *s, const auth_user *u) {
  if (find_user(s, u->name)) return DFS_EEXIST;
  struct rec r = {.n = 0};
  enc_user(&r, u);
  return mutate(s, &r);
}

int user_store_update(user_store *s, const auth_user *u) {
  if (!find_user(s, u->name)) return DFS_ENOENT;
  struct rec r = {.n = 0};
  enc_user(&r, u);
  return mutate(s, &r);
}

int user_store_delete(user_store *s, const char *name) {
  if (!find_user(s, name)) return DFS_ENOENT;
  struct rec r = {.n = 0};
  r_u8(&r, 'D');
  r_str(&r, name);
  return mutate(s, &r);
}

int user_store_add_session(user_store *s, const auth_session *ss) {
  struct rec r = {.n = 0};
  enc_session(&r, ss);
  return mutate(s, &r);
}

int user_store_drop_session(user_store *s, const uint8_t token_hash[32]) {
  struct rec r = {.n = 0};
  r_u8(&r, 'X');
  r_bytes(&r, token_hash, 32);
  return mutate(s, &r);
}

int user_store_drop_user_sessions(user_store *s, const char *name) {
  struct rec r = {.n = 0};
  r_u8(&r, 'Y');
  r_str(&r, name);
  return mutate(s, &r);
}

void user_store_prune(user_store *s, int64_t now_ms) { mem_drop_sessions_if(s, NULL, NULL, now_ms); }

int user_store_sync(user_store *s, journal_done_cb cb, void *ud) { return journal_sync(s->j, cb, ud); }
