/* Account and session commands, all talking to authd: `dfs register`, `dfs login`,
 * `dfs logout`, `dfs whoami`, `dfs passwd`. login stores the session (session.h);
 * passwords come from password.h and are wiped after use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.pb-c.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/password.h"
#include "cli/session.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/util.h"

#define PWBUF (CLI_PASSWORD_MAX + 2)

/* Where passwords come from for this command. */
typedef struct {
  int from_stdin;
  const char *cmd;
} pw_in;

#define PW_TTY_TRIES 3 /* a new password the policy refuses is asked for again, this often */

/* Reads one password: stdin line, else $env_name, else the terminal. confirm set (a new
 * password): checked against the length policy first, on a terminal asked again at once
 * when it is refused, then asked twice. 0 or CLI_FAIL with the error printed. */
static int get_password(const pw_in *in, const char *env_name, const char *prompt,
                        const char *confirm, char *out) {
  char err[256];
  int rc;
  const char *env = env_name ? getenv(env_name) : NULL;
  if (in->from_stdin) {
    rc = cli_read_line(stdin, out, PWBUF);
    if (rc == DFS_ENOENT) { cli_err(in->cmd, "--password-stdin: no password line on stdin"); return CLI_FAIL; }
    if (rc) { cli_err(in->cmd, "password too long (at most %d bytes)", CLI_PASSWORD_MAX); return CLI_FAIL; }
    if (confirm && cli_password_check(out, err, sizeof err)) { cli_err(in->cmd, "%s", err); return CLI_FAIL; }
    return 0;
  }
  if (env && *env) {
    if (strlen(env) > CLI_PASSWORD_MAX) {
      cli_err(in->cmd, "$%s is too long (at most %d bytes)", env_name, CLI_PASSWORD_MAX);
      return CLI_FAIL;
    }
    snprintf(out, PWBUF, "%s", env);
    if (confirm && cli_password_check(out, err, sizeof err)) {
      cli_err(in->cmd, "$%s: %s", env_name, err);
      return CLI_FAIL;
    }
    return 0;
  }
  for (int tries = 1;; tries++) {
    rc = cli_read_password_tty(prompt, out, PWBUF, err, sizeof err);
    if (rc) { cli_err(in->cmd, "%s", err); return CLI_FAIL; }
    if (!confirm || !cli_password_check(out, err, sizeof err)) break;
    if (tries == PW_TTY_TRIES) { cli_err(in->cmd, "%s", err); return CLI_FAIL; }
    fprintf(stderr, "%s; try again\n", err); /* not an exit: the prompt follows */
  }
  if (confirm) {
    char again[PWBUF];
    rc = cli_read_password_tty(confirm, again, sizeof again, err, sizeof err);
    int same = rc == 0 && strcmp(again, out) == 0;
    cli_password_wipe(again, sizeof again);
    if (rc) { cli_err(in->cmd, "%s", err); return CLI_FAIL; }
    if (!same) { cli_err(in->cmd, "the passwords do not match"); return CLI_FAIL; }
  }
  return 0;
}

/* The USER argument, or $USER when it is a valid dfs name. 0 or an exit code. */
static int user_arg(const char *cmd, size_t npos, const char **pos, char *out) {
  const char *u = npos ? pos[0] : getenv("USER");
  if (!u || !*u) return cli_usage_error(cmd, "missing USER ($USER is not set)");
  if (!cli_user_name_valid(u, strlen(u))) {
    if (npos) return cli_usage_error(cmd, "invalid user name '%s' (1-32 of a-z 0-9 _ -, starting with a letter)", u);
    return cli_usage_error(cmd, "$USER ('%s') is not a valid dfs user name: give USER", u);
  }
  snprintf(out, CLI_USER_MAX + 1, "%s", u);
  return 0;
}

/* Parses [USER] [--password-stdin] (maxpos 1) or just [--password-stdin] (maxpos 0).
 * Returns CLI_CONTINUE, else an exit code. */
static int parse_pw_args(const char *cmd, int argc, char **argv, size_t maxpos, pw_in *in,
                         const char **pos, size_t *npos) {
  static const cli_opt_spec specs[] = {{"password-stdin", 0, 0}};
  cli_opt_val v[1];
  int rc = cli_command_args(cmd, argc, argv, specs, 1, v, pos, maxpos, npos, 0, NULL);
  if (rc != CLI_CONTINUE) return rc;
  in->from_stdin = v[0].present;
  in->cmd = cmd;
  return CLI_CONTINUE;
}

/* "2026-11-23 05:00 (in 23 h 59 min)" for a wall-clock expiry in ms. */
static char *expiry_string(int64_t expires_ms, char *buf, size_t bufsz) {
  char tm[32];
  if (expires_ms <= 0) { snprintf(buf, bufsz, "unknown"); return buf; }
  cli_time_string(expires_ms * 1000000, tm, sizeof tm);
  int64_t left = expires_ms - dfs_wall_ns() / 1000000;
  if (left <= 0) snprintf(buf, bufsz, "%s (expired)", tm);
  else if (left < 60000) snprintf(buf, bufsz, "%s (in %lld s)", tm, (long long)(left / 1000));
  else if (left < 3600000) snprintf(buf, bufsz, "%s (in %lld min)", tm, (long long)(left / 60000));
  else snprintf(buf, bufsz, "%s (in %lld h %lld min)", tm, (long long)(left / 3600000),
                (long long)(left % 3600000 / 60000));
  return buf;
}

/* Logs user in with password and stores the session. 0 or CLI_FAIL (error printed). */
static int do_login(cli_ctx *ctx, const char *cmd, const char *user, char *password) {
  if (!ctx->session_path) {
    cli_err(cmd, "cannot store a session: set $HOME or $XDG_CONFIG_HOME");
    return CLI_FAIL;
  }
  Dfs__AuthLoginReq req = DFS__AUTH_LOGIN_REQ__INIT;
  req.username = (char *)user;
  req.password = password;
  ProtobufCMessage *m = NULL;
  cli_session s;
  char err[512];
  memset(&s, 0, sizeof s);
  int rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGIN, &req.base,
                     &dfs__auth_login_rep__descriptor, &m, err, sizeof err);
  Dfs__AuthLoginRep *rep = (Dfs__AuthLoginRep *)m;
  int ret = CLI_FAIL;
  if (rc == DFS_EAUTH || rc == DFS_EPERM) { cli_err(cmd, "%s", err); goto out; }
  if (rc) { meta_report(ctx->ac, cmd, rc, err); goto out; }
  if (!rep->token || !*rep->token || strlen(rep->token) > CLI_TOKEN_MAX) {
    cli_err(cmd, "authd sent no valid token");
    goto out;
  }
  snprintf(s.user, sizeof s.user, "%s", rep->user && rep->user->username && *rep->user->username
                                            ? rep->user->username : user);
  snprintf(s.token, sizeof s.token, "%s", rep->token);
  s.expires_ms = rep->expires_ms;
  rc = cli_session_write(ctx->session_path, &s, err, sizeof err);
  if (rc) { cli_err(cmd, "%s", err); goto out; }
  *ctx->sess = s;
  ret = CLI_OK;
out:
  cli_password_wipe(&s, sizeof s);
  if (m) {
    if (rep->token) cli_password_wipe(rep->token, strlen(rep->token));
    protobuf_c_message_free_unpacked(m, NULL);
  }
  return ret;
}

int cli_cmd_register(cli_ctx *ctx, int argc, char **argv) {
  pw_in in = {0};
  const char *pos[1];
  size_t npos;
  char user[CLI_USER_MAX + 1], pw[PWBUF];
  int rc = parse_pw_args("register", argc, argv, 1, &in, pos, &npos);
  if (rc != CLI_CONTINUE) return rc;
  if ((rc = user_arg("register", npos, pos, user))) return rc;
  char prompt[96];
  snprintf(prompt, sizeof prompt, "new password for %s: ", user);
  if (get_password(&in, "DFS_PASSWORD", prompt, "again: ", pw)) return CLI_FAIL;
  Dfs__AuthRegisterReq req = DFS__AUTH_REGISTER_REQ__INIT;
  req.username = user;
  req.password = pw;
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_REGISTER, &req.base,
                 &dfs__auth_register_rep__descriptor, &m, err, sizeof err);
  cli_password_wipe(pw, sizeof pw);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_EEXIST || rc == DFS_EINVAL) { cli_err("register", "%s", err); return CLI_FAIL; }
  if (rc) { meta_report(ctx->ac, "register", rc, err); return CLI_FAIL; }
  if (!ctx->quiet) printf("registered %s (now run 'dfs login %s')\n", user, user);
  return CLI_OK;
}

int cli_cmd_login(cli_ctx *ctx, int argc, char **argv) {
  pw_in in = {0};
  const char *pos[1];
  size_t npos;
  char user[CLI_USER_MAX + 1], pw[PWBUF];
  int rc = parse_pw_args("login", argc, argv, 1, &in, pos, &npos);
  if (rc != CLI_CONTINUE) return rc;
  if ((rc = user_arg("login", npos, pos, user))) return rc;
  char prompt[96];
  snprintf(prompt, sizeof prompt, "password for %s: ", user);
  if (get_password(&in, "DFS_PASSWORD", prompt, NULL, pw)) return CLI_FAIL;
  int env_token = ctx->sess->from_env;
  char old_token[CLI_TOKEN_MAX + 1];
  snprintf(old_token, sizeof old_token, "%s", env_token ? "" : ctx->sess->token);
  rc = do_login(ctx, "login", user, pw);
  cli_password_wipe(pw, sizeof pw);
  if (rc == 0 && old_token[0]) {
    /* The session this login replaces: end it on authd too (best effort). */
    Dfs__AuthLogoutReq req = DFS__AUTH_LOGOUT_REQ__INIT;
    req.token = old_token;
    ProtobufCMessage *m = NULL;
    char err[256];
    meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGOUT, &req.base,
              &dfs__auth_logout_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
  }
  cli_password_wipe(old_token, sizeof old_token);
  if (rc) return rc;
  if (!ctx->quiet) {
    char ex[64];
    printf("logged in as %s; the session expires %s\n", ctx->sess->user,
           expiry_string(ctx->sess->expires_ms, ex, sizeof ex));
  }
  if (env_token)
    cli_err("login", "note: $DFS_TOKEN is set and overrides the stored session; unset it");
  return CLI_OK;
}

int cli_cmd_logout(cli_ctx *ctx, int argc, char **argv) {
  pw_in in = {0};
  const char *pos[1];
  size_t npos;
  int rc = parse_pw_args("logout", argc, argv, 0, &in, pos, &npos);
  if (rc != CLI_CONTINUE) return rc;
  if (in.from_stdin) return cli_usage_error("logout", "logout takes no password");
  if (!ctx->sess->token[0]) {
    if (!ctx->quiet) printf("not logged in\n");
    return CLI_OK;
  }
  Dfs__AuthLogoutReq req = DFS__AUTH_LOGOUT_REQ__INIT;
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGOUT, &req.base,
                 &dfs__auth_logout_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  int ret = CLI_OK;
  /* An expired or revoked session is as good as logged out. */
  if (rc && rc != DFS_EAUTH) {
    char ex[64];
    meta_report(ctx->ac, "logout", rc, err);
    cli_err("logout", "the session stays valid on the server until %s",
            expiry_string(ctx->sess->expires_ms, ex, sizeof ex));
    ret = CLI_FAIL;
  }
  if (ctx->sess->from_env) {
    if (ret == CLI_OK && !ctx->quiet) printf("logged out (the token in $DFS_TOKEN is now invalid)\n");
    return ret;
  }
  if (ctx->session_path && cli_session_remove(ctx->session_path) != 0) {
    cli_err("logout", "cannot delete %s", ctx->session_path);
    return CLI_FAIL;
  }
  if (ret == CLI_OK && !ctx->quiet) printf("logged out\n");
  return ret;
}

int cli_cmd_whoami(cli_ctx *ctx, int argc, char **argv) {
  pw_in in = {0};
  const char *pos[1];
  size_t npos;
  int rc = parse_pw_args("whoami", argc, argv, 0, &in, pos, &npos);
  if (rc != CLI_CONTINUE) return rc;
  if (in.from_stdin) return cli_usage_error("whoami", "whoami takes no password");
  if (!ctx->sess->token[0]) {
    cli_err("whoami", "not logged in or session expired (run 'dfs login')");
    return CLI_FAIL;
  }
  Dfs__AuthWhoamiReq req = DFS__AUTH_WHOAMI_REQ__INIT;
  ProtobufCMessage *m = NULL;
  char err[512], ex[64];
  rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_WHOAMI, &req.base,
                 &dfs__auth_whoami_rep__descriptor, &m, err, sizeof err);
  Dfs__AuthWhoamiRep *rep = (Dfs__AuthWhoamiRep *)m;
  if (rc == DFS_EPERM) cli_err("whoami", "%s", err);
  else if (rc) meta_report(ctx->ac, "whoami", rc, err);
  else if (!rep->user || !rep->user->username) cli_err("whoami", "authd sent no user");
  else {
    printf("user:    %s\n", rep->user->username);
    printf("admin:   %s\n", rep->user->is_admin ? "yes" : "no");
    printf("expires: %s\n", expiry_string(rep->expires_ms, ex, sizeof ex));
  }
  int ok = rc == 0 && rep->user && rep->user->username;
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  return ok ? CLI_OK : CLI_FAIL;
}

int cli_cmd_passwd(cli_ctx *ctx, int argc, char **argv) {
  pw_in in = {0};
  const char *pos[1];
  size_t npos;
  int rc = parse_pw_args("passwd", argc, argv, 0, &in, pos, &npos);
  if (rc != CLI_CONTINUE) return rc;
  if (!ctx->sess->token[0]) {
    cli_err("passwd", "not logged in or session expired (run 'dfs login')");
    return CLI_FAIL;
  }
  char old[PWBUF], pw[PWBUF], user[CLI_USER_MAX + 1];
  snprintf(user, sizeof user, "%s", ctx->sess->user);
  int ret = CLI_FAIL;
  if (get_password(&in, "DFS_PASSWORD", "current password: ", NULL, old)) goto out;
  if (get_password(&in, "DFS_NEW_PASSWORD", "new password: ", "again: ", pw)) goto out;
  Dfs__AuthPasswdReq req = DFS__AUTH_PASSWD_REQ__INIT;
  req.old_password = old;
  req.new_password = pw;
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_PASSWD, &req.base,
                 &dfs__auth_passwd_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_EINVAL || rc == DFS_EPERM || (rc == DFS_EAUTH && strstr(err, "password"))) {
    cli_err("passwd", "%s", err);
    goto out;
  }
  if (rc) { meta_report(ctx->ac, "passwd", rc, err); goto out; }
  /* authd ended every session of ours: log in again with the new password. */
  if (!ctx->sess->from_env && user[0] && do_login(ctx, "passwd", user, pw) == 0) {
    if (!ctx->quiet) printf("password changed; your other sessions were ended\n");
    ret = CLI_OK;
    goto out;
  }
  if (!ctx->sess->from_env && ctx->session_path) cli_session_remove(ctx->session_path);
  if (!ctx->quiet) printf("password changed; every session was ended (run 'dfs login')\n");
  ret = CLI_OK;
out:
  cli_password_wipe(old, sizeof old);
  cli_password_wipe(pw, sizeof pw);
  return ret;
}
