/* `dfs quota`: a user's quota and use (files and directories, bytes; the trash counts),
 * and `dfs quota set` for administrators. One QuotaReq per command (client_meta.proto). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "client/meta_client.h"
#include "cli/output.h"
#include "cli/shell_util.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/util.h"

/* "3.2 MiB of 5.0 MiB" or "3.2 MiB (no limit)". */
static void print_use(const char *what, uint64_t used, uint64_t max, int bytes) {
  char u[32], m[32];
  if (bytes) dfs_human_size(used, u, sizeof u);
  else snprintf(u, sizeof u, "%" PRIu64, used);
  if (!max) {
    printf("  %-8s %s (no limit)\n", what, u);
    return;
  }
  if (bytes) dfs_human_size(max, m, sizeof m);
  else snprintf(m, sizeof m, "%" PRIu64, max);
  printf("  %-8s %s of %s (%.0f%%)\n", what, u, m, 100.0 * (double)used / (double)max);
}

int cli_cmd_quota(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"bytes", 0, 1}, {"files", 0, 1}, {"json", 0, 0}};
  cli_opt_val v[3];
  const char *pos[3];
  size_t npos;
  char err[512];
  int rc = cli_command_args("quota", argc, argv, specs, 3, v, pos, 3, &npos, 0, NULL);
  if (rc != CLI_CONTINUE) return rc;
  int set = npos >= 1 && !strcmp(pos[0], "set");
  Dfs__QuotaReq req = DFS__QUOTA_REQ__INIT;
  req.user = (char *)"";
  if (set) {
    if (npos != 2) return cli_usage_error("quota", "quota set needs the user's name");
    if (!v[0].present && !v[1].present)
      return cli_usage_error("quota", "say --bytes SIZE and/or --files N (0 = no limit)");
    if (v[0].present && cli_parse_size(v[0].value, &req.max_bytes))
      return cli_usage_error("quota", "--bytes wants a size such as 10G or 500M (got '%s')",
                             v[0].value);
    if (v[1].present && cli_parse_u64(v[1].value, 0, UINT64_MAX, &req.max_entries))
      return cli_usage_error("quota", "--files wants a number (got '%s')", v[1].value);
    req.user = (char *)pos[1];
  } else {
    if (npos > 1) return cli_usage_error("quota", "quota [USER] or quota set USER ...");
    if (v[0].present || v[1].present)
      return cli_usage_error("quota", "--bytes and --files go with 'quota set USER'");
    if (npos == 1) req.user = (char *)pos[0];
  }
  ProtobufCMessage *m = NULL;
  if (set) { /* keep the limit not given: read the current quota first */
    Dfs__QuotaReq get = DFS__QUOTA_REQ__INIT;
    get.user = req.user;
    rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_QUOTA, &get.base,
                   &dfs__quota_rep__descriptor, &m, err, sizeof err);
    if (rc) {
      if (m) protobuf_c_message_free_unpacked(m, NULL);
      meta_report(ctx->mc, "quota", rc, err);
      return CLI_FAIL;
    }
    Dfs__QuotaRep *cur = (Dfs__QuotaRep *)m;
    if (!v[0].present) req.max_bytes = cur->max_bytes;
    if (!v[1].present) req.max_entries = cur->max_entries;
    protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    req.set = 1;
    req.request_id = dfs_random_u64();
    rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_QUOTA, &req.base,
                   &dfs__quota_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    m = NULL;
    if (rc) {
      meta_report(ctx->mc, "quota", rc, err);
      return CLI_FAIL;
    }
    req.set = 0; /* then show it */
  }
  rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_QUOTA, &req.base,
                 &dfs__quota_rep__descriptor, &m, err, sizeof err);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    meta_report(ctx->mc, "quota", rc, err);
    return CLI_FAIL;
  }
  Dfs__QuotaRep *r = (Dfs__QuotaRep *)m;
  if (v[2].present) {
    printf("{\"user\":");
    cli_json_str(stdout, r->user);
    printf(",\"used_bytes\":%" PRIu64 ",\"max_bytes\":%" PRIu64 ",\"used_entries\":%" PRIu64
           ",\"max_entries\":%" PRIu64 "}\n",
           r->used_bytes, r->max_bytes, r->used_entries, r->max_entries);
  } else if (!ctx->quiet || !set) {
    printf("quota of ");
    cli_put_esc(stdout, r->user);
    printf(":\n");
    print_use("bytes", r->used_bytes, r->max_bytes, 1);
    print_use("entries", r->used_entries, r->max_entries, 0);
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return CLI_OK;
}
