/* Console sessions (console.h): the cookie holds the user's dfs session token (from an
 * authd password login), HttpOnly so that no script reads it, SameSite=Strict so that
 * no other site's page sends it, Secure with TLS. Every API call asks authd who the token
 * belongs to (AuthWhoami), so a logout, an expiry or a disabled user takes effect at
 * once. The CSRF token is not stored anywhere: it is HMAC-SHA256(service secret, token),
 * handed to the page in JSON (which only a same-origin script can read) and echoed in
 * X-CSRF-Token by every state-changing call.
 *
 * Failed logins are also counted here per client address (a fixed window from the first
 * failure, like authd's): authd sees every console login coming from the gateway's own
 * address, so without this one guesser would use up authd's per-address budget for
 * every console user at once. The table is fixed (CONSOLE_LOGIN_TABLE entries, an
 * expired or the oldest entry is reused), guarded by one mutex never held across a call. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/util.h"
#include "gateway/console.h"

#define TOKEN_MAX 127
#define CONSOLE_LOGIN_FAILURES 10               /* per client address and window */
#define CONSOLE_LOGIN_WINDOW_MS (15 * 60 * 1000)
#define CONSOLE_LOGIN_TABLE 1024

typedef struct {
  char addr[INET6_ADDRSTRLEN];
  uint32_t failures;
  uint64_t start_ms; /* the window's first failure (monotonic) */
} login_ent;

static login_ent login_fails[CONSOLE_LOGIN_TABLE];
static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;

/* The client's address as text ("?" if unknown). */
static void client_addr(const gw_req *r, char out[INET6_ADDRSTRLEN]) {
  snprintf(out, INET6_ADDRSTRLEN, "?");
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;
  if (sa && sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
  else if (sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, INET6_ADDRSTRLEN);
}

/* 0 if addr may try a login, else the seconds until it may. */
static uint64_t login_wait_s(const char *addr) {
  uint64_t now = dfs_now_ms(), wait = 0;
  pthread_mutex_lock(&login_lock);
  for (size_t i = 0; i < CONSOLE_LOGIN_TABLE; i++) {
    const login_ent *e = &login_fails[i];
    if (strcmp(e->addr, addr) != 0) continue;
    if (e->failures >= CONSOLE_LOGIN_FAILURES && now - e->start_ms < CONSOLE_LOGIN_WINDOW_MS)
      wait = (CONSOLE_LOGIN_WINDOW_MS - (now - e->start_ms) + 999) / 1000;
    break;
  }
  pthread_mutex_unlock(&login_lock);
  return wait;
}

static void login_failed(const char *addr) {
  uint64_t now = dfs_now_ms();
  pthread_mutex_lock(&login_lock);
  size_t slot = CONSOLE_LOGIN_TABLE, reuse = 0;
  for (size_t i = 0; i < CONSOLE_LOGIN_TABLE; i++) {
    if (strcmp(login_fails[i].addr, addr) == 0) { slot = i; break; }
    if (!login_fails[reuse].addr[0]) continue; /* an empty entry is the best to reuse */
    if (!login_fails[i].addr[0] || login_fails[i].start_ms < login_fails[reuse].start_ms)
      reuse = i;
  }
  login_ent *e = &login_fails[slot < CONSOLE_LOGIN_TABLE ? slot : reuse];
  if (slot == CONSOLE_LOGIN_TABLE || now - e->start_ms >= CONSOLE_LOGIN_WINDOW_MS) {
    snprintf(e->addr, sizeof e->addr, "%s", addr);
    e->failures = 0;
    e->start_ms = now;
  }
  e->failures++;
  pthread_mutex_unlock(&login_lock);
}

static int token_char(int c) { return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~'; }

/* The session token from the Cookie header into out (TOKEN_MAX + 1); 0 if none or
 * malformed (a forged cookie with odd bytes never reaches authd). */
static int cookie_token(const gw_req *r, char *out) {
  const size_t nlen = strlen(CONSOLE_COOKIE);
  for (size_t i = 0; i < r->nheaders; i++) {
    if (strcasecmp(r->headers[i].name, "Cookie") != 0) continue;
    const char *s = r->headers[i].value;
    while (*s) {
      while (*s == ' ' || *s == ';') s++;
      const char *e = strchr(s, ';');
      size_t n = e ? (size_t)(e - s) : strlen(s);
      if (n > nlen && strncmp(s, CONSOLE_COOKIE, nlen) == 0 && s[nlen] == '=') {
        const char *v = s + nlen + 1;
        size_t vl = n - nlen - 1;
        if (vl == 0 || vl > TOKEN_MAX) return 0;
        for (size_t k = 0; k < vl; k++)
          if (!token_char((unsigned char)v[k])) return 0;
        memcpy(out, v, vl);
        out[vl] = '\0';
        return 1;
      }
      s += n;
    }
  }
  return 0;
}

void console_csrf_token(const gw_req *r, char out[65]) {
  static const char label[] = "dfs console csrf\n";
  uint8_t mac[32];
  unsigned ml = 0;
  uint8_t msg[sizeof label + TOKEN_MAX + 1];
  size_t tl = strnlen(r->token, TOKEN_MAX);
  memcpy(msg, label, sizeof label - 1);
  memcpy(msg + sizeof label - 1, r->token, tl);
  const char *key = r->gw->cfg.service_secret;
  HMAC(EVP_sha256(), key, (int)strlen(key), msg, sizeof label - 1 + tl, mac, &ml);
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", mac[i]);
  OPENSSL_cleanse(mac, sizeof mac);
}

int console_origin_check(gw_req *r) {
  const char *site = gw_header(r, "Sec-Fetch-Site");
  if (site && strcmp(site, "cross-site") == 0) {
    console_error(r, 403, "a request from another site is refused");
    return 1;
  }
  const char *origin = gw_header(r, "Origin"), *host = gw_header(r, "Host");
  if (!origin) return 0;
  const char *o = strstr(origin, "://"), *scheme = r->gw->cfg.tls ? "https" : "http";
  if (!host || !o || strcmp(o + 3, host) != 0 || (size_t)(o - origin) != strlen(scheme) ||
      strncmp(origin, scheme, strlen(scheme)) != 0) {
    console_error(r, 403, "the request's Origin is not this console");
    return 1;
  }
  return 0;
}

int console_csrf_check(gw_req *r) {
  if (console_origin_check(r)) return 1;
  const char *got = gw_header(r, CONSOLE_CSRF_HEADER);
  char want[65];
  console_csrf_token(r, want);
  int ok = got && strlen(got) == 64 && CRYPTO_memcmp(got, want, 64) == 0;
  OPENSSL_cleanse(want, sizeof want);
  if (!ok) {
    console_error(r, 403, "missing or wrong CSRF token (reload the page)");
    return 1;
  }
  return 0;
}

int console_session(gw_req *r) {
  char tok[TOKEN_MAX + 1];
  if (!cookie_token(r, tok)) {
    console_error(r, 401, "not logged in");
    return 1;
  }
  Dfs__AuthWhoamiReq req = DFS__AUTH_WHOAMI_REQ__INIT;
  req.token = tok;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(&r->conn->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_WHOAMI, &req.base,
                     &dfs__auth_whoami_rep__descriptor, &m, err, sizeof err);
  const Dfs__AuthWhoamiRep *rep = (const Dfs__AuthWhoamiRep *)m;
  int ret = 1;
  if (rc == DFS_EAUTH || rc == DFS_EPERM || (rc == 0 && (!rep->user || !rep->user->username ||
                                                         strlen(rep->user->username) >=
                                                             sizeof r->user))) {
    console_error(r, 401, "the session has ended: log in again");
  } else if (rc) {
    LOG_WARN("console: cannot check a session with authd: %s", err);
    console_error(r, 503, "the gateway cannot reach authd; retry");
  } else {
    snprintf(r->user, sizeof r->user, "%s", rep->user->username);
    r->is_admin = rep->user->is_admin;
    snprintf(r->token, sizeof r->token, "%s", tok);
    r->conn->mc.token = r->token;
    ret = 0;
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  OPENSSL_cleanse(tok, sizeof tok);
  return ret;
}

/* Who the session is, for the page: {"user", "admin", "csrf", "home"}. */
static void answer_me(gw_req *r, const char *const *extra) {
  char csrf[65];
  console_csrf_token(r, csrf);
  gw_json j = {0};
  char home[128];
  snprintf(home, sizeof home, "/home/%s", r->user);
  gw_json_obj(&j, NULL);
  gw_json_str(&j, "user", r->user);
  gw_json_bool(&j, "admin", r->is_admin);
  gw_json_str(&j, "csrf", csrf);
  gw_json_str(&j, "home", home);
  gw_json_end_obj(&j);
  OPENSSL_cleanse(csrf, sizeof csrf);
  if (!extra) {
    console_json(r, 200, &j);
  } else if (!j.failed) {
    const char *h[32];
    size_t n = 0;
    for (size_t i = 0; console_security_headers[i] && n < 26; i++)
      h[n++] = console_security_headers[i];
    for (size_t i = 0; extra[i] && n < 30; i++) h[n++] = extra[i];
    h[n] = NULL;
    gw_respond(r, 200, "application/json", j.p, j.len, h);
  } else {
    console_error(r, 503, "the gateway is out of memory");
  }
  OPENSSL_cleanse(j.p, j.len);
  gw_json_free(&j);
}

void console_me(gw_req *r) { answer_me(r, NULL); }

static int unhex(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* name's value in an application/x-www-form-urlencoded body; 1, 0 absent, -1 too long
 * or malformed. */
static int form_get(const char *body, size_t len, const char *name, char *out, size_t outsz) {
  size_t nl = strlen(name), i = 0;
  while (i < len) {
    size_t e = i;
    while (e < len && body[e] != '&') e++;
    if (e - i > nl && memcmp(body + i, name, nl) == 0 && body[i + nl] == '=') {
      size_t o = 0;
      for (size_t k = i + nl + 1; k < e; k++) {
        int c = (unsigned char)body[k];
        if (c == '+') c = ' ';
        else if (c == '%') {
          if (k + 2 >= e) return -1;
          int h = unhex(body[k + 1]), l = unhex(body[k + 2]);
          if (h < 0 || l < 0) return -1;
          c = h * 16 + l;
          k += 2;
        }
        if (c == 0 || o + 1 >= outsz) return -1;
        out[o++] = (char)c;
      }
      out[o] = '\0';
      return 1;
    }
    i = e + 1;
  }
  return 0;
}

void console_login(gw_req *r, const char *body, size_t len) {
  char user[128], pw[1024];
  const char *ct = gw_header(r, "Content-Type");
  int form = ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
  int gu = form ? form_get(body, len, "username", user, sizeof user)
                : gw_json_get(body, len, "username", user, sizeof user);
  int gp = form ? form_get(body, len, "password", pw, sizeof pw)
                : gw_json_get(body, len, "password", pw, sizeof pw);
  if (gu != 1 || gp != 1 || !*user) {
    OPENSSL_cleanse(pw, sizeof pw);
    console_error(r, 400, "the login needs a username and a password");
    return;
  }
  char addr[INET6_ADDRSTRLEN], msg[160];
  client_addr(r, addr);
  uint64_t wait = login_wait_s(addr);
  if (wait) {
    OPENSSL_cleanse(pw, sizeof pw);
    snprintf(msg, sizeof msg, "too many failed logins from %s; try again in %llu s", addr,
             (unsigned long long)wait);
    console_error(r, 429, msg);
    return;
  }
  Dfs__AuthLoginReq req = DFS__AUTH_LOGIN_REQ__INIT;
  req.username = user;
  req.password = pw;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(&r->conn->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGIN, &req.base,
                     &dfs__auth_login_rep__descriptor, &m, err, sizeof err);
  OPENSSL_cleanse(pw, sizeof pw);
  const Dfs__AuthLoginRep *rep = (const Dfs__AuthLoginRep *)m;
  if (rc == 0 && (!rep->token || !*rep->token || strlen(rep->token) > TOKEN_MAX)) {
    rc = DFS_EPROTO;
    snprintf(err, sizeof err, "authd's login answer is malformed");
  }
  if (rc == 0) {
    for (const char *p = rep->token; *p; p++)
      if (!token_char((unsigned char)*p)) rc = DFS_EPROTO;
  }
  if (rc == DFS_EAUTH) {
    login_failed(addr);
    LOG_INFO("console: failed login from %s", addr); /* the name as typed is not logged */
    console_error(r, 401, err[0] ? err : "wrong user name or password");
  } else if (rc == DFS_EBUSY) { /* authd's own limits */
    console_error(r, 429, err);
  } else if (rc) {
    console_dfs_error(r, rc, err);
  } else {
    snprintf(r->token, sizeof r->token, "%s", rep->token);
    r->conn->mc.token = r->token;
    /* the user as authd spells it, and whether an administrator: one Whoami */
    char cookie[TOKEN_MAX + 200];
    int64_t left_s = (rep->expires_ms - (int64_t)(dfs_wall_ns() / 1000000)) / 1000;
    if (left_s < 60) left_s = 60;
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%" PRId64 "%s",
             CONSOLE_COOKIE, rep->token, left_s, r->gw->cfg.tls ? "; Secure" : "");
    Dfs__AuthWhoamiReq wq = DFS__AUTH_WHOAMI_REQ__INIT;
    wq.token = r->token;
    ProtobufCMessage *wm = NULL;
    rc = meta_call(&r->conn->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_WHOAMI, &wq.base,
                   &dfs__auth_whoami_rep__descriptor, &wm, err, sizeof err);
    const Dfs__AuthWhoamiRep *w = (const Dfs__AuthWhoamiRep *)wm;
    if (rc == 0 && w->user && w->user->username && strlen(w->user->username) < sizeof r->user) {
      snprintf(r->user, sizeof r->user, "%s", w->user->username);
      r->is_admin = w->user->is_admin;
      const char *extra[] = {"Set-Cookie", cookie, NULL};
      answer_me(r, extra);
      LOG_INFO("console: %s logged in", r->user);
    } else {
      console_dfs_error(r, rc ? rc : DFS_EPROTO, err);
    }
    if (wm) protobuf_c_message_free_unpacked(wm, NULL);
    OPENSSL_cleanse(cookie, sizeof cookie);
  }
  if (m) {
    if (rep->token) OPENSSL_cleanse(rep->token, strlen(rep->token));
    protobuf_c_message_free_unpacked(m, NULL);
  }
}

void console_logout(gw_req *r, const char *body, size_t len) {
  (void)body, (void)len;
  Dfs__AuthLogoutReq req = DFS__AUTH_LOGOUT_REQ__INIT;
  req.token = r->token;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(&r->conn->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGOUT, &req.base,
                     &dfs__auth_logout_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc && rc != DFS_EAUTH) {
    console_dfs_error(r, rc, err);
    return;
  }
  char cookie[128];
  snprintf(cookie, sizeof cookie, "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
           CONSOLE_COOKIE, r->gw->cfg.tls ? "; Secure" : "");
  const char *extra[2 * 8 + 3];
  size_t n = 0;
  for (size_t i = 0; console_security_headers[i]; i++) extra[n++] = console_security_headers[i];
  extra[n++] = "Set-Cookie";
  extra[n++] = cookie;
  extra[n] = NULL;
  gw_respond(r, 200, "application/json", "{}", 2, extra);
  LOG_INFO("console: %s logged out", r->user);
}
