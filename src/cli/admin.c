/* `dfs admin status [--json]`: the cluster overview from metad (one line per chunkserver
 * with state and copy jobs, then totals and replication health), and `--wait N` for
 * scripts: poll until N chunkservers are alive or time out. `dfs admin fsck [PATH]
 * [--json] [--unhealthy]`: per-file replication health (exit 1 if a file is unreadable).
 * `dfs admin users [disable|enable|delete NAME]`: account management through authd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "auth.pb-c.h"
#include "cli/output.h"
#include "cli/session.h"
#include "cli/shell_util.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/util.h"

/* The cluster overview, from the leader: a follower answers with what it knows (no live
 * chunkservers: they heartbeat to the leader only) and names the leader, asked next. */
static int cluster(cli_ctx *ctx, Dfs__ClusterRep **out, char *err, size_t errsz) {
  for (int hop = 0;; hop++) {
    Dfs__ClusterReq req = DFS__CLUSTER_REQ__INIT;
    ProtobufCMessage *m = NULL;
    int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_CLUSTER, &req.base,
                       &dfs__cluster_rep__descriptor, &m, err, errsz);
    if (rc) {
      if (m) protobuf_c_message_free_unpacked(m, NULL);
      return rc;
    }
    Dfs__ClusterRep *r = (Dfs__ClusterRep *)m;
    if (!r->is_leader && r->leader_address && *r->leader_address && hop < 2 &&
        strcmp(r->leader_address, ctx->mc->addr) != 0 &&
        meta_client_switch(ctx->mc, r->leader_address) == 0) {
      protobuf_c_message_free_unpacked(m, NULL);
      continue;
    }
    *out = r;
    return 0;
  }
}

static size_t count_alive(const Dfs__ClusterRep *r) {
  size_t n = 0;
  for (size_t i = 0; i < r->n_servers; i++) n += r->servers[i]->alive;
  return n;
}

/* JSON string (quotes included) on stdout. */
static void json_str(const char *v) { cli_json_str(stdout, v); }

static const char *server_state(const Dfs__ChunkServerInfo *s) {
  if (s->state && *s->state) return s->state;
  return s->alive ? "alive" : "dead";
}

static void print_status_json(const Dfs__ClusterRep *r) {
  printf("{\"is_leader\":%s,\"leader_address\":", r->is_leader ? "true" : "false");
  json_str(r->leader_address);
  printf(",\"files\":%llu,\"dirs\":%llu,\"chunks\":%llu,\"under_replicated\":%llu,"
         "\"endangered\":%llu,\"missing\":%llu,\"corrupt\":%llu,\"over_replicated\":%llu,"
         "\"copy_jobs_running\":%u,\"copy_jobs_queued\":%u,\"copies_done\":%llu,"
         "\"copies_stolen\":%llu,\"copies_failed\":%llu,\"rebalancing\":%s,"
         "\"rebalance_moves\":%llu,\"trims\":%llu,\"servers\":[",
         (unsigned long long)r->files, (unsigned long long)r->dirs,
         (unsigned long long)r->chunks, (unsigned long long)r->under_replicated,
         (unsigned long long)r->endangered, (unsigned long long)r->missing,
         (unsigned long long)r->corrupt, (unsigned long long)r->over_replicated,
         r->copy_jobs_running, r->copy_jobs_queued, (unsigned long long)r->copies_done,
         (unsigned long long)r->copies_stolen, (unsigned long long)r->copies_failed,
         r->rebalancing ? "true" : "false", (unsigned long long)r->rebalance_moves,
         (unsigned long long)r->trims);
  for (size_t i = 0; i < r->n_servers; i++) {
    const Dfs__ChunkServerInfo *s = r->servers[i];
    printf("%s{\"id\":%llu,\"host\":", i ? "," : "",
           (unsigned long long)(s->addr ? s->addr->server_id : 0));
    json_str(s->addr ? s->addr->host : "");
    printf(",\"port\":%u,\"alive\":%s,\"state\":", s->addr ? s->addr->port : 0,
           s->alive ? "true" : "false");
    json_str(server_state(s));
    printf(",\"capacity_bytes\":%llu,\"free_bytes\":%llu,\"chunk_count\":%llu,\"load\":%u,"
           "\"last_heartbeat_ms_ago\":%lld,\"copies_running\":%u,\"copies_queued\":%u,"
           "\"disk_errors\":%llu,\"promised_bytes\":%llu,\"promised_chunks\":%u,"
           "\"reserve_bytes\":%llu}",
           (unsigned long long)s->capacity_bytes, (unsigned long long)s->free_bytes,
           (unsigned long long)s->chunk_count, s->load, (long long)s->last_heartbeat_ms_ago,
           s->copies_running, s->copies_queued, (unsigned long long)s->disk_errors,
           (unsigned long long)s->promised_bytes, s->promised_chunks,
           (unsigned long long)s->reserve_bytes);
  }
  printf("]}\n");
}

/* The colour of a server's state on a terminal: trouble red, attention yellow. */
static const char *state_sgr(const char *state) {
  if (!strcmp(state, "dead")) return CLI_SGR_RED;
  if (!strcmp(state, "draining") || !strcmp(state, "full")) return CLI_SGR_YELLOW;
  if (!strcmp(state, "alive")) return CLI_SGR_GREEN;
  return "";
}

static void print_status(const Dfs__ClusterRep *r) {
  int colour = cli_colour_on(stdout);
  uint64_t cap = 0, free_b = 0;
  uint64_t promised = 0;
  printf("%-4s  %-21s  %-8s  %-21s  %9s  %8s  %4s  %6s  %6s  %6s  %s\n", "id", "address",
         "state", "free/capacity", "promised", "chunks", "load", "copies", "queued", "ioerr",
         "heartbeat");
  for (size_t i = 0; i < r->n_servers; i++) {
    const Dfs__ChunkServerInfo *s = r->servers[i];
    char addr[300], fb[32], cb[32], fc[80], hb[32], pb[32], esc[CLI_ESC_BUF];
    /* hosts come from chunkservers' registrations: escaped like names */
    if (s->addr)
      snprintf(addr, sizeof addr, "%s:%u", cli_esc(s->addr->host ? s->addr->host : "?", esc, sizeof esc),
               s->addr->port);
    else snprintf(addr, sizeof addr, "?");
    snprintf(fc, sizeof fc, "%s/%s", dfs_human_size(s->free_bytes, fb, sizeof fb),
             dfs_human_size(s->capacity_bytes, cb, sizeof cb));
    if (s->last_heartbeat_ms_ago < 0) snprintf(hb, sizeof hb, "never");
    else snprintf(hb, sizeof hb, "%.1f s ago", (double)s->last_heartbeat_ms_ago / 1000.0);
    /* promised: space Alloc handed to uploads that the server has not reported yet */
    dfs_human_size(s->promised_bytes, pb, sizeof pb);
    const char *state = server_state(s), *sgr = colour ? state_sgr(state) : "";
    printf("%-4llu  %-21s  %s%-8s%s  %-21s  %9s  %8llu  %4u  %6u  %6u  %6llu  %s\n",
           (unsigned long long)(s->addr ? s->addr->server_id : 0), addr, sgr, state,
           *sgr ? CLI_SGR_RESET : "", fc,
           pb, (unsigned long long)s->chunk_count, s->load, s->copies_running,
           s->copies_queued, (unsigned long long)s->disk_errors, hb);
    if (s->alive) { cap += s->capacity_bytes; free_b += s->free_bytes; }
    promised += s->promised_bytes;
  }
  char fb[32], cb[32];
  char pb[32];
  printf("total: %zu chunkservers (%zu alive), %s free of %s (%s promised to uploads), "
         "%llu files, %llu dirs, %llu chunks%s\n",
         r->n_servers, count_alive(r), dfs_human_size(free_b, fb, sizeof fb),
         dfs_human_size(cap, cb, sizeof cb), dfs_human_size(promised, pb, sizeof pb),
         (unsigned long long)r->files,
         (unsigned long long)r->dirs, (unsigned long long)r->chunks,
         r->is_leader ? "" : " (this metad is not the leader)");
  printf("chunks: %llu under-replicated, %llu endangered (one live replica), %llu missing, "
         "%llu corrupt, %llu over-replicated\n",
         (unsigned long long)r->under_replicated, (unsigned long long)r->endangered,
         (unsigned long long)r->missing, (unsigned long long)r->corrupt,
         (unsigned long long)r->over_replicated);
  printf("copy jobs: %u running, %u queued; %llu copies done, %llu failed, %llu stolen by "
         "idle servers\n",
         r->copy_jobs_running, r->copy_jobs_queued, (unsigned long long)r->copies_done,
         (unsigned long long)r->copies_failed, (unsigned long long)r->copies_stolen);
  printf("rebalancing: %s; %llu moves, %llu extra replicas trimmed (since this metad led)\n",
         r->rebalancing ? "moving chunks toward the mean use" : "idle (balanced)",
         (unsigned long long)r->rebalance_moves, (unsigned long long)r->trims);
}

/* `admin fsck [PATH] [--json]`: per-file health; CLI_FAIL if any file is unreadable. */
static int admin_fsck(cli_ctx *ctx, const char *path, int json, int only_unhealthy) {
  char err[512];
  Dfs__FsckReq req = DFS__FSCK_REQ__INIT;
  req.path = (char *)(path ? path : "/");
  req.only_unhealthy = only_unhealthy;
  req.limit = 100000;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_FSCK, &req.base,
                     &dfs__fsck_rep__descriptor, &m, err, sizeof err);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    meta_report(ctx->mc, "admin", rc, err);
    return CLI_FAIL;
  }
  const Dfs__FsckRep *r = (const Dfs__FsckRep *)m;
  if (json) {
    printf("{\"files_checked\":%llu,\"healthy\":%llu,\"under_replicated\":%llu,"
           "\"endangered\":%llu,\"unreadable\":%llu,\"corrupt\":%llu,\"truncated\":%s,"
           "\"files\":[",
           (unsigned long long)r->files_checked, (unsigned long long)r->healthy,
           (unsigned long long)r->under_replicated, (unsigned long long)r->endangered,
           (unsigned long long)r->unreadable, (unsigned long long)r->corrupt,
           r->truncated ? "true" : "false");
    for (size_t i = 0; i < r->n_files; i++) {
      const Dfs__FsckFile *f = r->files[i];
      printf("%s{\"path\":", i ? "," : "");
      json_str(f->path);
      printf(",\"state\":");
      json_str(f->state);
      printf(",\"chunks\":%llu,\"under_replicated\":%llu,\"missing\":%llu,"
             "\"min_live_replicas\":%u,\"goal\":%u}",
             (unsigned long long)f->chunks, (unsigned long long)f->under_replicated,
             (unsigned long long)f->missing, f->min_live_replicas, f->goal);
    }
    printf("]}\n");
  } else {
    printf("%-16s  %8s  %6s  %7s  %4s  %4s  %s\n", "state", "chunks", "under", "missing",
           "min", "goal", "path");
    char esc[CLI_ESC_BUF];
    for (size_t i = 0; i < r->n_files; i++) {
      const Dfs__FsckFile *f = r->files[i];
      printf("%-16s  %8llu  %6llu  %7llu  %4u  %4u  %s\n", cli_esc(f->state, esc, 64),
             (unsigned long long)f->chunks, (unsigned long long)f->under_replicated,
             (unsigned long long)f->missing, f->min_live_replicas, f->goal,
             cli_esc(f->path, esc + 64, sizeof esc - 64));
    }
    printf("%llu files checked: %llu healthy, %llu under-replicated, %llu endangered, "
           "%llu corrupt, %llu unreadable%s\n",
           (unsigned long long)r->files_checked, (unsigned long long)r->healthy,
           (unsigned long long)r->under_replicated, (unsigned long long)r->endangered,
           (unsigned long long)r->corrupt, (unsigned long long)r->unreadable,
           r->truncated ? " (list truncated)" : "");
  }
  int bad = r->unreadable > 0;
  protobuf_c_message_free_unpacked(m, NULL);
  if (bad && !json)
    cli_err("admin", "some files are unreadable: every replica of a chunk is lost (restart "
                     "the chunkservers that held them, or restore the files)");
  return bad ? CLI_FAIL : CLI_OK;
}

static int by_user_name(const void *a, const void *b) {
  const Dfs__UserInfo *x = *(Dfs__UserInfo *const *)a, *y = *(Dfs__UserInfo *const *)b;
  return strcmp(x->username ? x->username : "", y->username ? y->username : "");
}

static int users_list(cli_ctx *ctx) {
  Dfs__AuthUsersReq req = DFS__AUTH_USERS_REQ__INIT;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_USERS, &req.base,
                     &dfs__auth_users_rep__descriptor, &m, err, sizeof err);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc == DFS_EPERM) cli_err("admin", "%s", err);
    else meta_report(ctx->ac, "admin", rc, err);
    return CLI_FAIL;
  }
  Dfs__AuthUsersRep *rep = (Dfs__AuthUsersRep *)m;
  qsort(rep->users, rep->n_users, sizeof *rep->users, by_user_name);
  int w = 4;
  for (size_t i = 0; i < rep->n_users; i++)
    if (rep->users[i]->username && (int)strlen(rep->users[i]->username) > w)
      w = (int)strlen(rep->users[i]->username);
  printf("%-*s  %-5s  %-8s  %s\n", w, "name", "admin", "disabled", "created");
  for (size_t i = 0; i < rep->n_users; i++) {
    const Dfs__UserInfo *u = rep->users[i];
    char tm[32];
    printf("%-*s  %-5s  %-8s  %s\n", w, u->username ? u->username : "?",
           u->is_admin ? "yes" : "no", u->disabled ? "yes" : "no",
           cli_time_string(u->created_ms * 1000000, tm, sizeof tm));
  }
  dfs__auth_users_rep__free_unpacked(rep, NULL);
  return CLI_OK;
}

static int users_set(cli_ctx *ctx, const char *action, const char *name) {
  Dfs__AuthSetUserReq req = DFS__AUTH_SET_USER_REQ__INIT;
  if (strcmp(action, "disable") == 0) req.action = DFS__SET_USER_ACTION__SET_USER_DISABLE;
  else if (strcmp(action, "enable") == 0) req.action = DFS__SET_USER_ACTION__SET_USER_ENABLE;
  else if (strcmp(action, "delete") == 0) req.action = DFS__SET_USER_ACTION__SET_USER_DELETE;
  else return cli_usage_error("admin", "unknown users action '%s' (disable, enable, delete)", action);
  if (!cli_user_name_valid(name, strlen(name)))
    return cli_usage_error("admin", "invalid user name '%s'", name);
  req.username = (char *)name;
  ProtobufCMessage *m = NULL;
  char err[512];
  int rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_SET_USER, &req.base,
                     &dfs__auth_set_user_rep__descriptor, &m, err, sizeof err);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (rc == DFS_EPERM || rc == DFS_EINVAL) { cli_err("admin", "%s", err); return CLI_FAIL; }
  if (rc == DFS_ENOENT) { cli_err("admin", "%s: no such user", name); return CLI_FAIL; }
  if (rc) { meta_report(ctx->ac, "admin", rc, err); return CLI_FAIL; }
  if (req.action != DFS__SET_USER_ACTION__SET_USER_ENABLE) {
    /* authd ended the sessions; metad may still trust them for auth.cache_ttl */
    Dfs__ForgetSessionsReq fq = DFS__FORGET_SESSIONS_REQ__INIT;
    fq.user = (char *)name;
    rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_FORGET_SESSIONS, &fq.base,
                   &dfs__forget_sessions_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc)
      cli_err("admin", "warning: %s is %sd, but metad did not drop its cached sessions (%s): "
              "they end within metad's auth.cache_ttl (3 s by default)", name, action, err);
  }
  if (!ctx->quiet) printf("%s: %sd\n", name, action);
  return CLI_OK;
}

static int admin_users(cli_ctx *ctx, size_t npos, const char **pos) {
  if (!ctx->sess->token[0]) {
    cli_err("admin", "not logged in or session expired (run 'dfs login')");
    return CLI_FAIL;
  }
  if (npos == 1) return users_list(ctx);
  if (npos != 3) return cli_usage_error("admin", "usage: admin users [disable|enable|delete NAME]");
  return users_set(ctx, pos[1], pos[2]);
}

int cli_cmd_admin(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {
      {"wait", 'w', 1}, {"timeout", 't', 1}, {"json", 'j', 0}, {"unhealthy", 'u', 0}};
  cli_opt_val v[4];
  const char *pos[3];
  size_t npos;
  char err[512];
  int rc = cli_command_args("admin", argc, argv, specs, 4, v, pos, 3, &npos, 1,
                            "subcommand (status, fsck, users)");
  if (rc != CLI_CONTINUE) return rc;
  if (strcmp(pos[0], "fsck") == 0) {
    if (v[0].present || v[1].present)
      return cli_usage_error("admin", "--wait and --timeout go with 'admin status'");
    if (npos > 2) return cli_usage_error("admin", "unexpected argument '%s'", pos[2]);
    return admin_fsck(ctx, npos == 2 ? pos[1] : "/", v[2].present, v[3].present);
  }
  if (strcmp(pos[0], "users") == 0) {
    if (v[0].present || v[1].present)
      return cli_usage_error("admin", "--wait and --timeout go with 'admin status'");
    return admin_users(ctx, npos, pos);
  }
  if (strcmp(pos[0], "status") != 0) return cli_usage_error("admin", "unknown subcommand '%s'", pos[0]);
  if (npos > 1) return cli_usage_error("admin", "unexpected argument '%s'", pos[1]);
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
    dfs_sleep_ms(100);
  }
  if (v[2].present) print_status_json(r);
  else if (!ctx->quiet || !want) print_status(r);
  dfs__cluster_rep__free_unpacked(r, NULL);
  return CLI_OK;
}
