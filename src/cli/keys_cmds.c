/* `dfs keys create|ls|rm [KEYID] [--user U] [--json]`: S3 access keys for the gateway
 * (issue 16), all through authd (AuthKeys). The secret is printed once, by create, and
 * never stored by dfs; ls shows ids only. Administrators may name another user. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.pb-c.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/password.h"
#include "cli/session.h"
#include "cli/shell_util.h"
#include "common.pb-c.h"
#include "common/errors.h"

/* One key as a JSON object (secret only when given: create). */
static void key_json(const Dfs__AccessKeyInfo *k, int with_secret) {
  printf("{\"access_key_id\":");
  cli_json_str(stdout, k->access_key_id);
  printf(",\"user\":");
  cli_json_str(stdout, k->user);
  printf(",\"created_ms\":%lld", (long long)k->created_ms);
  if (with_secret) {
    printf(",\"secret_key\":");
    cli_json_str(stdout, k->secret_key);
  }
  printf("}");
}

static void print_list(const Dfs__AuthKeysRep *rep, int json, int quiet) {
  if (json) {
    printf("[");
    for (size_t i = 0; i < rep->n_keys; i++) {
      if (i) printf(",");
      key_json(rep->keys[i], 0);
    }
    printf("]\n");
    return;
  }
  if (rep->n_keys == 0) {
    if (!quiet) printf("no access keys (create one with 'dfs keys create')\n");
    return;
  }
  printf("%-20s  %-16s  %s\n", "access key id", "created", "user");
  for (size_t i = 0; i < rep->n_keys; i++) {
    const Dfs__AccessKeyInfo *k = rep->keys[i];
    char tm[32];
    printf("%-20s  %-16s  ", k->access_key_id, cli_time_string(k->created_ms * 1000000, tm, sizeof tm));
    cli_put_esc(stdout, k->user);
    printf("\n");
  }
}

static void print_created(const Dfs__AccessKeyInfo *k, int json) {
  if (json) {
    key_json(k, 1);
    printf("\n");
    return;
  }
  printf("access key id:  %s\n", k->access_key_id);
  printf("secret key:     %s\n", k->secret_key);
  printf("user:           ");
  cli_put_esc(stdout, k->user);
  printf("\n");
  printf("The secret is shown only now: store it safely (dfs cannot show it again; if it\n"
         "is lost, delete the key and create another).\n"
         "For aws: aws configure set aws_access_key_id %s; aws configure set\n"
         "aws_secret_access_key <the secret>; then aws --endpoint-url http://GATEWAY:PORT s3 ls\n"
         "(GATEWAY:PORT = the dfs S3 gateway). For s3cmd: s3cmd --configure with these keys\n"
         "and host_base/host_bucket = GATEWAY:PORT.\n", k->access_key_id);
}

int cli_cmd_keys(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"user", 'u', 1}, {"json", 'j', 0}};
  cli_opt_val v[2];
  const char *pos[3];
  size_t npos;
  int rc = cli_command_args("keys", argc, argv, specs, 2, v, pos, 3, &npos, 1,
                            "a subcommand (create, ls, rm KEYID)");
  if (rc != CLI_CONTINUE) return rc;
  Dfs__AuthKeysReq req = DFS__AUTH_KEYS_REQ__INIT;
  const char *sub = pos[0];
  if (!strcmp(sub, "create")) req.action = DFS__KEYS_ACTION__KEYS_CREATE;
  else if (!strcmp(sub, "ls") || !strcmp(sub, "list")) req.action = DFS__KEYS_ACTION__KEYS_LIST;
  else if (!strcmp(sub, "rm") || !strcmp(sub, "delete")) req.action = DFS__KEYS_ACTION__KEYS_DELETE;
  else return cli_usage_error("keys", "unknown subcommand '%s' (create, ls, rm KEYID)", sub);
  int is_rm = req.action == DFS__KEYS_ACTION__KEYS_DELETE;
  if (is_rm && npos != 2) return cli_usage_error("keys", "rm takes one KEYID (see 'dfs keys ls')");
  if (!is_rm && npos != 1) return cli_usage_error("keys", "%s takes no KEYID", sub);
  const char *user = v[0].present ? v[0].value : NULL;
  if (user && !cli_user_name_valid(user, strlen(user)))
    return cli_usage_error("keys", "invalid user name '%s'", user);
  if (!ctx->sess->token[0]) {
    cli_err("keys", "not logged in or session expired (run 'dfs login')");
    return CLI_FAIL;
  }
  req.user = (char *)(user ? user : "");
  req.access_key_id = (char *)(is_rm ? pos[1] : "");
  ProtobufCMessage *m = NULL;
  char err[512];
  rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_KEYS, &req.base,
                 &dfs__auth_keys_rep__descriptor, &m, err, sizeof err);
  Dfs__AuthKeysRep *rep = (Dfs__AuthKeysRep *)m;
  int ret = CLI_FAIL;
  if (rc == DFS_ENOENT && is_rm) cli_err("keys", "%s: %s", pos[1], err);
  else if (rc == DFS_EPERM || rc == DFS_ENOENT || rc == DFS_EQUOTA || rc == DFS_EUNAVAIL)
    cli_err("keys", "%s", err);
  else if (rc) meta_report(ctx->ac, "keys", rc, err);
  else if (req.action == DFS__KEYS_ACTION__KEYS_LIST) {
    print_list(rep, v[1].present, ctx->quiet);
    ret = CLI_OK;
  } else if (rep->n_keys != 1 || !rep->keys[0]->access_key_id || !rep->keys[0]->user ||
             (!is_rm && !*rep->keys[0]->secret_key)) {
    cli_err("keys", "authd sent no key");
  } else if (!is_rm) {
    print_created(rep->keys[0], v[1].present);
    ret = CLI_OK;
  } else {
    if (v[1].present) {
      key_json(rep->keys[0], 0);
      printf("\n");
    } else if (!ctx->quiet) {
      printf("deleted access key %s of ", rep->keys[0]->access_key_id);
      cli_put_esc(stdout, rep->keys[0]->user);
      printf(" (its gateway sessions ended)\n"); /* at metad within auth.cache_ttl, like a logout */
    }
    ret = CLI_OK;
  }
  if (m) {
    for (size_t i = 0; i < rep->n_keys; i++)
      if (rep->keys[i]->secret_key && *rep->keys[i]->secret_key)
        cli_password_wipe(rep->keys[i]->secret_key, strlen(rep->keys[i]->secret_key));
    protobuf_c_message_free_unpacked(m, NULL);
  }
  return ret;
}
