/* `dfs admin status`: the cluster overview from metad (one line per chunkserver, then
 * totals), and `--wait N` for scripts: poll until N chunkservers are alive or time out. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/util.h"

static int cluster(cli_ctx *ctx, Dfs__ClusterRep **out, char *err, size_t errsz) {
  Dfs__ClusterReq req = DFS__CLUSTER_REQ__INIT;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER, &req.base,
                     &dfs__cluster_rep__descriptor, &m, err, errsz);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    return rc;
  }
  *out = (Dfs__ClusterRep *)m;
  return 0;
}

static size_t count_alive(const Dfs__ClusterRep *r) {
  size_t n = 0;
  for (size_t i = 0; i < r->n_servers; i++) n += r->servers[i]->alive;
  return n;
}

static void print_status(const Dfs__ClusterRep *r) {
  uint64_t cap = 0, free_b = 0;
  printf("%-4s  %-21s  %-5s  %-21s  %8s  %4s  %s\n", "id", "address", "state",
         "free/capacity", "chunks", "load", "heartbeat");
  for (size_t i = 0; i < r->n_servers; i++) {
    const Dfs__ChunkServerInfo *s = r->servers[i];
    char addr[300], fb[32], cb[32], fc[80], hb[32];
    if (s->addr) snprintf(addr, sizeof addr, "%s:%u", s->addr->host ? s->addr->host : "?", s->addr->port);
    else snprintf(addr, sizeof addr, "?");
    snprintf(fc, sizeof fc, "%s/%s", dfs_human_size(s->free_bytes, fb, sizeof fb),
             dfs_human_size(s->capacity_bytes, cb, sizeof cb));
    if (s->last_heartbeat_ms_ago < 0) snprintf(hb, sizeof hb, "never");
    else snprintf(hb, sizeof hb, "%.1f s ago", (double)s->last_heartbeat_ms_ago / 1000.0);
    printf("%-4llu  %-21s  %-5s  %-21s  %8llu  %4u  %s\n",
           (unsigned long long)(s->addr ? s->addr->server_id : 0), addr,
           s->alive ? "alive" : "dead", fc, (unsigned long long)s->chunk_count, s->load, hb);
    if (s->alive) { cap += s->capacity_bytes; free_b += s->free_bytes; }
  }
  char fb[32], cb[32];
  printf("total: %zu chunkservers (%zu alive), %s free of %s, %llu files, %llu dirs, "
         "%llu chunks%s\n",
         r->n_servers, count_alive(r), dfs_human_size(free_b, fb, sizeof fb),
         dfs_human_size(cap, cb, sizeof cb), (unsigned long long)r->files,
         (unsigned long long)r->dirs, (unsigned long long)r->chunks,
         r->is_leader ? "" : " (this metad is not the leader)");
}

int cli_cmd_admin(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"wait", 'w', 1}, {"timeout", 't', 1}};
  cli_opt_val v[2];
  const char *pos[1];
  size_t npos;
  char err[512];
  int rc = cli_parse_args(argc - 1, argv + 1, specs, 2, v, pos, 1, &npos, err, sizeof err);
  if (rc == CLI_ARGS_HELP) { cli_print_command_help(stdout, cli_find_command("admin")); return CLI_OK; }
  if (rc) return cli_usage_error("admin", "%s", err);
  if (npos == 0) return cli_usage_error("admin", "missing subcommand (status)");
  if (strcmp(pos[0], "status") != 0) return cli_usage_error("admin", "unknown subcommand '%s'", pos[0]);
  uint64_t want = 0, timeout_s = 30;
  if (v[0].present && cli_parse_u64(v[0].value, 1, 100000, &want))
    return cli_usage_error("admin", "--wait needs a number of chunkservers >= 1");
  if (v[1].present && cli_parse_u64(v[1].value, 0, 86400, &timeout_s))
    return cli_usage_error("admin", "--timeout needs seconds (0..86400)");

  uint64_t deadline = dfs_now_ms() + timeout_s * 1000;
  Dfs__ClusterRep *r = NULL;
  for (;;) {
    rc = cluster(ctx, &r, err, sizeof err);
    /* While waiting, metad itself may still be starting: keep polling. */
    if (rc && !(want && (rc == DFS_ECONN || rc == DFS_EUNAVAIL || rc == DFS_ENOTLEADER) &&
                dfs_now_ms() < deadline)) {
      meta_report(ctx->mc, "admin", rc, err);
      return CLI_FAIL;
    }
    if (rc == 0 && (!want || count_alive(r) >= want)) break;
    if (dfs_now_ms() >= deadline) {
      size_t alive = r ? count_alive(r) : 0;
      if (r) dfs__cluster_rep__free_unpacked(r, NULL);
      cli_err("admin", "only %zu of %llu chunkservers alive after %llu s (check the chunkd "
              "logs and that they point at metad %s)", alive, (unsigned long long)want,
              (unsigned long long)timeout_s, ctx->mc->addr);
      return CLI_FAIL;
    }
    if (r) { dfs__cluster_rep__free_unpacked(r, NULL); r = NULL; }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (!ctx->quiet || !want) print_status(r);
  dfs__cluster_rep__free_unpacked(r, NULL);
  return CLI_OK;
}
