/* Users and sessions with a journal (see user_store.h). Record bodies:
 *   'U' user put:    name, hash, is_admin u8, disabled u8, created_ms i64
 *   'D' user delete: name (the name is retired: never given to a new user)
 *   'S' session put: token_hash[32], user, expires_ms i64
 *   'X' session drop: token_hash[32]
 *   'Y' drop all sessions of: user
 *   'T' key session put: token_hash[32], user, expires_ms i64, key id
 *   'K' access key put: id, user, created_ms i64, sealed[KEY_SEALED_LEN] (the secret
 *       sealed, key_store.h: never in the clear here)
 *   'R' access key delete: id (also ends the key's sessions)
 * 'D' also deletes the user's keys. Strings are a length byte and the bytes. */
#include "authd/user_store.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/array.h"
#include "common/errors.h"
#include "common/util.h"

/* A live session: in the token-hash table's chain and in its user's list. */
struct sess {
  auth_session s;
  struct sess *hnext;
  struct sess *uprev, *unext; /* the user's sessions, oldest first */
  struct ulist *u;
};
/* The sessions of one user name (exists while it has any). */
struct ulist {
  char name[USER_NAME_MAX + 1];
  struct sess *head, *tail;
  size_t n;
  struct ulist *hnext;
};

struct user_store {
  journal *j;
  auth_user *users;
  size_t nusers, capusers;
  /* sessions: chained hash tables, grown by doubling past one entry per bucket */
  struct sess **sb;
  size_t nsb, nsess;
  struct ulist **ub;
  size_t nub, nulist;
  size_t max_per_user; /* 0 = no bound */
  /* names of deleted users: a name is a user's identity (files belong to it), so it is
   * never given to anyone else; kept by replaying 'D' records and rewritten as such */
  char (*retired)[USER_NAME_MAX + 1];
  size_t nretired, capretired;
  key_table keys;
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
  auth_user *nu = dfs_grow(s->users, &s->capusers, s->nusers + 1, sizeof *nu, 16);
  if (!nu) return DFS_ENOMEM;
  s->users = nu;
  s->users[s->nusers++] = *u;
  return 0;
}

/* ---- sessions ----------------------------------------------------------------------- */

static size_t hash_token(const uint8_t h[32]) { uint64_t v; memcpy(&v, h, 8); return (size_t)v; }
static size_t hash_name(const char *n) {
  uint64_t h = 1469598103934665603ull;
  for (; *n; n++) h = (h ^ (uint8_t)*n) * 1099511628211ull;
  return (size_t)(h ^ (h >> 29));
}

/* Doubles a chained table (sessions when which = 0, user lists when 1). */
static int grow(user_store *s, int which) {
  size_t old = which ? s->nub : s->nsb, nn = old ? old * 2 : 64;
  void **nb = calloc(nn, sizeof *nb);
  if (!nb) return DFS_ENOMEM;
  for (size_t i = 0; i < old; i++) {
    if (!which) {
      for (struct sess *x = s->sb[i], *nx; x; x = nx) {
        nx = x->hnext;
        size_t k = hash_token(x->s.token_hash) & (nn - 1);
        x->hnext = nb[k];
        nb[k] = x;
      }
    } else {
      for (struct ulist *x = s->ub[i], *nx; x; x = nx) {
        nx = x->hnext;
        size_t k = hash_name(x->name) & (nn - 1);
        x->hnext = nb[k];
        nb[k] = x;
      }
    }
  }
  if (!which) { free(s->sb); s->sb = (struct sess **)nb; s->nsb = nn; }
  else { free(s->ub); s->ub = (struct ulist **)nb; s->nub = nn; }
  return 0;
}

static struct sess *sess_find(const user_store *s, const uint8_t h[32]) {
  if (!s->nsb) return NULL;
  for (struct sess *x = s->sb[hash_token(h) & (s->nsb - 1)]; x; x = x->hnext)
    if (memcmp(x->s.token_hash, h, 32) == 0) return x;
  return NULL;
}

static struct ulist *ulist_find(const user_store *s, const char *name) {
  if (!s->nub) return NULL;
  for (struct ulist *x = s->ub[hash_name(name) & (s->nub - 1)]; x; x = x->hnext)
    if (strcmp(x->name, name) == 0) return x;
  return NULL;
}

static void sess_remove(user_store *s, struct sess *x) {
  struct sess **pp = &s->sb[hash_token(x->s.token_hash) & (s->nsb - 1)];
  while (*pp != x) pp = &(*pp)->hnext;
  *pp = x->hnext;
  struct ulist *u = x->u;
  if (x->uprev) x->uprev->unext = x->unext; else u->head = x->unext;
  if (x->unext) x->unext->uprev = x->uprev; else u->tail = x->uprev;
  if (--u->n == 0) {
    struct ulist **up = &s->ub[hash_name(u->name) & (s->nub - 1)];
    while (*up != u) up = &(*up)->hnext;
    *up = u->hnext;
    free(u);
    s->nulist--;
  }
  free(x);
  s->nsess--;
}

static void mem_drop_user_sessions(user_store *s, const char *name) {
  struct ulist *u = ulist_find(s, name);
  while (u) {
    int last = u->n == 1;
    sess_remove(s, u->head);
    if (last) break;
  }
}

static void mem_drop_session(user_store *s, const uint8_t h[32]) {
  struct sess *x = sess_find(s, h);
  if (x) sess_remove(s, x);
}

static int mem_retire(user_store *s, const char *name) {
  if (user_store_name_retired(s, name)) return 0;
  char(*nr)[USER_NAME_MAX + 1] = dfs_grow(s->retired, &s->capretired, s->nretired + 1,
                                           sizeof *nr, 16);
  if (!nr) return DFS_ENOMEM;
  s->retired = nr;
  snprintf(s->retired[s->nretired++], USER_NAME_MAX + 1, "%s", name);
  return 0;
}

static int mem_del_user(user_store *s, const char *name) {
  auth_user *x = find_user(s, name);
  if (x) {
    *x = s->users[--s->nusers];
    mem_drop_user_sessions(s, name);
  }
  key_remove_user(&s->keys, name); /* a retired name's keys never come back */
  return mem_retire(s, name);
}

/* Ends the sessions of key id (they are in its user's list). */
static void mem_drop_key_sessions(user_store *s, const char *user, const char *id) {
  struct ulist *u = ulist_find(s, user);
  if (!u) return;
  struct sess *x = u->head;
  while (x) {
    struct sess *nx = x->unext;
    int last = u->n == 1;
    if (strcmp(x->s.key_id, id) == 0) {
      sess_remove(s, x); /* frees u with its last session */
      if (last) return;
    }
    x = nx;
  }
}

static int mem_del_key(user_store *s, const char *id) {
  const access_key *k = key_find(&s->keys, id);
  if (!k) return 0; /* replay of a delete already applied: nothing to do */
  char user[USER_NAME_MAX + 1];
  snprintf(user, sizeof user, "%s", k->user);
  key_remove(&s->keys, id);
  mem_drop_key_sessions(s, user, id);
  return 0;
}

static int mem_add_session(user_store *s, const auth_session *ss) {
  struct sess *x = sess_find(s, ss->token_hash);
  if (x) { x->s.expires_ms = ss->expires_ms; return 0; } /* a replayed duplicate */
  if (s->nsess >= s->nsb && grow(s, 0)) return DFS_ENOMEM;
  struct ulist *u = ulist_find(s, ss->user);
  if (!u) {
    if (s->nulist >= s->nub && grow(s, 1)) return DFS_ENOMEM;
    if (!(u = calloc(1, sizeof *u))) return DFS_ENOMEM;
    snprintf(u->name, sizeof u->name, "%s", ss->user);
    size_t k = hash_name(u->name) & (s->nub - 1);
    u->hnext = s->ub[k];
    s->ub[k] = u;
    s->nulist++;
  }
  if (!(x = calloc(1, sizeof *x))) {
    if (u->n == 0) { /* just made: unlink it again */
      struct ulist **up = &s->ub[hash_name(u->name) & (s->nub - 1)];
      while (*up != u) up = &(*up)->hnext;
      *up = u->hnext;
      free(u);
      s->nulist--;
    }
    return DFS_ENOMEM;
  }
  x->s = *ss;
  x->u = u;
  size_t k = hash_token(ss->token_hash) & (s->nsb - 1);
  x->hnext = s->sb[k];
  s->sb[k] = x;
  x->uprev = u->tail;
  if (u->tail) u->tail->unext = x; else u->head = x;
  u->tail = x;
  u->n++;
  s->nsess++;
  return 0;
}

/* Applies one record body to memory (replay and live). */
static int apply(user_store *s, const uint8_t *body, size_t len) {
  struct rd d = {body, len, 0, 0};
  uint8_t type = d_u8(&d);
  auth_user u = {0};
  auth_session ss = {0};
  access_key k = {0};
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
    if (!d.bad) rc = mem_del_user(s, name);
    break;
  case 'S':
  case 'T':
    d_bytes(&d, ss.token_hash, 32);
    d_str(&d, ss.user, sizeof ss.user);
    ss.expires_ms = d_i64(&d);
    if (type == 'T') d_str(&d, ss.key_id, sizeof ss.key_id);
    if (!d.bad) rc = mem_add_session(s, &ss);
    break;
  case 'K':
    d_str(&d, k.id, sizeof k.id);
    d_str(&d, k.user, sizeof k.user);
    k.created_ms = d_i64(&d);
    d_bytes(&d, k.sealed, sizeof k.sealed);
    /* a retired name's key is dropped (never written, but never resurrected either) */
    if (!d.bad && !user_store_name_retired(s, k.user)) {
      rc = key_put(&s->keys, &k);
      if (rc == DFS_EEXIST) rc = 0; /* a replayed duplicate */
    }
    break;
  case 'R':
    d_str(&d, name, sizeof name);
    if (!d.bad) rc = mem_del_key(s, name);
    break;
  case 'X':
    d_bytes(&d, ss.token_hash, 32);
    if (!d.bad) mem_drop_session(s, ss.token_hash);
    break;
  case 'Y':
    d_str(&d, name, sizeof name);
    if (!d.bad) mem_drop_user_sessions(s, name);
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
  r_u8(r, ss->key_id[0] ? 'T' : 'S'); /* 'S' keeps the format older journals have */
  r_bytes(r, ss->token_hash, 32);
  r_str(r, ss->user);
  r_i64(r, ss->expires_ms);
  if (ss->key_id[0]) r_str(r, ss->key_id);
}

static void enc_key(struct rec *r, const access_key *k) {
  r_u8(r, 'K');
  r_str(r, k->id);
  r_str(r, k->user);
  r_i64(r, k->created_ms);
  r_bytes(r, k->sealed, sizeof k->sealed);
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
  for (size_t i = 0; i < s->nretired; i++) { /* retired names stay retired */
    struct rec r = {.n = 0};
    r_u8(&r, 'D');
    r_str(&r, s->retired[i]);
    journal_emit(j, r.b, r.n);
  }
  for (size_t i = 0; i < s->keys.n; i++) { /* after their users, before their sessions */
    struct rec r = {.n = 0};
    enc_key(&r, &s->keys.keys[i]);
    journal_emit(j, r.b, r.n);
  }
  /* each user's sessions oldest first, so that a replay rebuilds the same order */
  for (size_t b = 0; b < s->nub; b++)
    for (struct ulist *u = s->ub[b]; u; u = u->hnext)
      for (struct sess *x = u->head; x; x = x->unext) {
        if (x->s.expires_ms <= now) continue;
        struct rec r = {.n = 0};
        enc_session(&r, &x->s);
        journal_emit(j, r.b, r.n);
      }
}

int user_store_open(uv_loop_t *loop, const char *dir, user_store **out) {
  return user_store_open_ex(loop, dir, 0, out);
}

int user_store_open_ex(uv_loop_t *loop, const char *dir, int repair, user_store **out) {
  user_store *s = calloc(1, sizeof *s);
  if (!s) return DFS_ENOMEM;
  char path[4200];
  snprintf(path, sizeof path, "%s/auth.journal", dir);
  mkdir(dir, 0700);
  int rc = journal_open(loop, path, repair, replay_cb, s, &s->j);
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
  for (size_t b = 0; b < s->nsb; b++)
    for (struct sess *x = s->sb[b], *nx; x; x = nx) { nx = x->hnext; free(x); }
  for (size_t b = 0; b < s->nub; b++)
    for (struct ulist *x = s->ub[b], *nx; x; x = nx) { nx = x->hnext; free(x); }
  free(s->sb);
  free(s->ub);
  free(s->users);
  free(s->retired);
  key_table_free(&s->keys);
  free(s);
}

int user_store_name_retired(const user_store *s, const char *name) {
  for (size_t i = 0; i < s->nretired; i++)
    if (!strcmp(s->retired[i], name)) return 1;
  return 0;
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
  const struct sess *x = sess_find(s, h);
  return x && x->s.expires_ms > now_ms ? &x->s : NULL;
}

int user_store_add(user_store *s, const auth_user *u) {
  if (find_user(s, u->name) || user_store_name_retired(s, u->name)) return DFS_EEXIST;
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

/* The oldest of user's sessions with this key_id ("" = password sessions) and how many
 * there are. */
static struct sess *oldest_of(const user_store *s, const char *user, const char *key_id,
                              size_t *n) {
  struct ulist *u = ulist_find(s, user);
  struct sess *oldest = NULL;
  *n = 0;
  for (struct sess *x = u ? u->head : NULL; x; x = x->unext)
    if (strcmp(x->s.key_id, key_id) == 0) {
      if (!oldest) oldest = x;
      (*n)++;
    }
  return oldest;
}

int user_store_add_session(user_store *s, const auth_session *ss) {
  /* at the bound, the oldest session under it goes first (journaled like a logout); a
   * gateway's key sessions never push out the user's logins, nor the other way */
  size_t bound = ss->key_id[0] ? KEY_MAX_SESSIONS : s->max_per_user, n;
  struct sess *old;
  while (bound && (old = oldest_of(s, ss->user, ss->key_id, &n)) && n >= bound) {
    int rc = user_store_drop_session(s, old->s.token_hash);
    if (rc) return rc;
  }
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

size_t user_store_prune(user_store *s, int64_t now_ms) {
  size_t n = 0;
  for (size_t b = 0; b < s->nsb; b++) {
    struct sess *x = s->sb[b];
    while (x) {
      struct sess *nx = x->hnext;
      if (x->s.expires_ms <= now_ms) { sess_remove(s, x); n++; }
      x = nx;
    }
  }
  return n;
}

void user_store_set_session_limit(user_store *s, size_t max_per_user) { s->max_per_user = max_per_user; }

size_t user_store_session_count(const user_store *s, const char *name) {
  if (!name) return s->nsess;
  const struct ulist *u = ulist_find(s, name);
  return u ? u->n : 0;
}

const access_key *user_store_key(const user_store *s, const char *id) { return key_find(&s->keys, id); }

size_t user_store_keys(const user_store *s, const access_key **out) {
  *out = s->keys.keys;
  return s->keys.n;
}

size_t user_store_key_count(const user_store *s, const char *user) { return key_count(&s->keys, user); }

int user_store_add_key(user_store *s, const access_key *k) {
  if (!find_user(s, k->user)) return DFS_ENOENT;
  if (key_count(&s->keys, k->user) >= KEY_MAX_PER_USER) return DFS_EQUOTA;
  if (key_find(&s->keys, k->id)) return DFS_EEXIST;
  struct rec r = {.n = 0};
  enc_key(&r, k);
  return mutate(s, &r);
}

int user_store_delete_key(user_store *s, const char *id) {
  if (!key_find(&s->keys, id)) return DFS_ENOENT;
  struct rec r = {.n = 0};
  r_u8(&r, 'R');
  r_str(&r, id);
  return mutate(s, &r);
}

size_t user_store_key_session_count(const user_store *s, const char *user, const char *id) {
  size_t n;
  oldest_of(s, user, id, &n);
  return n;
}

int user_store_sync(user_store *s, journal_done_cb cb, void *ud) { return journal_sync(s->j, cb, ud); }
