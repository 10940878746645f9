/* `dfs get`: downloads a file. The chunk list comes from metad in pages; K worker threads
 * read whole chunks from the first replica that answers with the right bytes (CRC32C
 * checked against metad's), report replicas that answered wrongly (bad CRC, missing
 * chunk; not unreachable servers) to metad, and pwrite into a temporary
 * file in the destination directory that is fsynced and renamed only when complete.
 * `-` writes to stdout in order with one reader. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/chunk_client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/progress.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/path.h"
#include "common/util.h"

#define GET_PAGE 1024
#define GET_MAX_PARALLEL 64
#define GET_MAX_BAD 1024

/* One chunk of the file. Replicas are indices into get_job.servers (a chunkserver's
 * address is stored once, not once per chunk: a 100 GiB file has 100k chunks). */
typedef struct {
  uint64_t id, version;
  uint32_t len, crc;
  uint16_t n_rep;
  uint16_t rep[CLI_MAX_CHAIN];
  uint8_t *cap;  /* owned */
  size_t cap_len;
} get_chunk;

typedef struct {
  uint64_t chunk_id, server_id;
  char reason[160];
} get_bad;

typedef struct {
  const char *remote;
  int out_fd;
  int sequential;           /* write with write() in order (stdout) */
  uint64_t size, nchunks;
  get_chunk *chunks;
  cli_server *servers;      /* distinct replica addresses; read-only once workers run */
  size_t n_servers, cap_servers;
  cli_progress prog;

  pthread_mutex_t lock;     /* guards below */
  uint64_t next_index;
  int failed;
  char fail_msg[1024];
  get_bad bad[GET_MAX_BAD];
  size_t n_bad;
  uint64_t dead[64];        /* servers we could not reach: tried last for later chunks */
  size_t n_dead;
} get_job;

/* The temp file to remove if we are interrupted (set while it exists). */
static char g_tmp_path[DFS_PATH_MAX + DFS_NAME_MAX + 64];
static volatile sig_atomic_t g_tmp_active;

static void on_signal(int sig) {
  if (g_tmp_active) unlink(g_tmp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void fail(get_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(get_job *j, const char *fmt, ...) {
  pthread_mutex_lock(&j->lock);
  if (!j->failed) {
    j->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->fail_msg, sizeof j->fail_msg, fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&j->lock);
}

static void note_bad(get_job *j, uint64_t chunk_id, uint64_t server_id, const char *why) {
  pthread_mutex_lock(&j->lock);
  if (j->n_bad < GET_MAX_BAD) {
    get_bad *b = &j->bad[j->n_bad++];
    b->chunk_id = chunk_id;
    b->server_id = server_id;
    if (snprintf(b->reason, sizeof b->reason, "%s", why) >= (int)sizeof b->reason)
      b->reason[sizeof b->reason - 1] = '\0'; /* truncated reason is fine */
  }
  pthread_mutex_unlock(&j->lock);
}

static int is_dead(get_job *j, uint64_t server_id) {
  int dead = 0;
  pthread_mutex_lock(&j->lock);
  for (size_t i = 0; i < j->n_dead; i++) dead |= j->dead[i] == server_id;
  pthread_mutex_unlock(&j->lock);
  return dead;
}

static void mark_dead(get_job *j, uint64_t server_id) {
  pthread_mutex_lock(&j->lock);
  int known = 0;
  for (size_t i = 0; i < j->n_dead; i++) known |= j->dead[i] == server_id;
  if (!known && j->n_dead < sizeof j->dead / sizeof j->dead[0]) j->dead[j->n_dead++] = server_id;
  pthread_mutex_unlock(&j->lock);
}

static int write_full(int fd, const uint8_t *buf, size_t len, uint64_t off, int seq) {
  while (len) {
    ssize_t w = seq ? write(fd, buf, len) : pwrite(fd, buf, len, (off_t)off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    buf += w;
    len -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

static int get_one(get_job *j, chunk_conns *cc, uint8_t *buf, uint64_t idx) {
  const get_chunk *c = &j->chunks[idx];
  char errs[900] = "", err[300];
  size_t el = 0;
  if (c->n_rep == 0) {
    fail(j, "chunk %llu has no live replica (metad lists none: are chunkservers down?)",
         (unsigned long long)idx);
    return DFS_EUNAVAIL;
  }
  /* Replicas in metad's order, but servers that were unreachable for an earlier chunk
   * last (a dead server costs a connect timeout per try). */
  size_t order[CLI_MAX_CHAIN], n = 0;
  for (int pass = 0; pass < 2; pass++)
    for (size_t r = 0; r < c->n_rep; r++)
      if (is_dead(j, j->servers[c->rep[r]].server_id) == pass) order[n++] = r;
  for (size_t k = 0; k < n; k++) {
    const cli_server *srv = &j->servers[c->rep[order[k]]];
    int rc = chunk_read(cc, srv, c->id, c->version, c->cap, c->cap_len, c->len, c->crc,
                        buf, err, sizeof err);
    /* An unreachable server is not a bad replica (metad learns liveness from heartbeats,
     * and the copy may be fine when it returns): remember it, report nothing. */
    int unreachable = rc == DFS_ECONN || rc == DFS_ETIMEDOUT || rc == DFS_ECLOSED;
    if (unreachable) mark_dead(j, srv->server_id);
    if (rc == 0) {
      rc = write_full(j->out_fd, buf, c->len, idx * DFS_CHUNK_SIZE, j->sequential);
      if (rc) {
        fail(j, "write failed: %s", strerror(-rc));
        return DFS_EIO;
      }
      cli_progress_add(&j->prog, c->len);
      return 0;
    }
    if (!unreachable) note_bad(j, c->id, srv->server_id, err);
    if (el < sizeof errs)
      el += (size_t)snprintf(errs + el, sizeof errs - el, "%s%s", k ? "; " : "", err);
  }
  fail(j, "chunk %llu has no live replica (all %u replicas failed: %s)",
       (unsigned long long)idx, (unsigned)c->n_rep, errs);
  return DFS_EUNAVAIL;
}

static void *get_worker(void *arg) {
  get_job *j = arg;
  chunk_conns cc;
  chunk_conns_init(&cc);
  uint8_t *buf = malloc(DFS_CHUNK_SIZE);
  if (!buf) { fail(j, "out of memory"); return NULL; }
  for (;;) {
    pthread_mutex_lock(&j->lock);
    if (j->failed || j->next_index >= j->nchunks) { pthread_mutex_unlock(&j->lock); break; }
    uint64_t idx = j->next_index++;
    pthread_mutex_unlock(&j->lock);
    if (get_one(j, &cc, buf, idx)) break;
  }
  free(buf);
  chunk_conns_close(&cc);
  return NULL;
}

/* Index of s in j->servers (added if new), or -1 on OOM / too many servers. */
static int server_index(get_job *j, const Dfs__ServerAddr *s) {
  for (size_t i = 0; i < j->n_servers; i++) {
    const cli_server *x = &j->servers[i];
    if (x->server_id == s->server_id && x->port == (int)s->port && !strcmp(x->host, s->host))
      return (int)i;
  }
  if (j->n_servers >= UINT16_MAX) return -1;
  if (j->n_servers == j->cap_servers) {
    size_t nc = j->cap_servers ? j->cap_servers * 2 : 16;
    cli_server *ns = realloc(j->servers, nc * sizeof *ns);
    if (!ns) return -1;
    j->servers = ns;
    j->cap_servers = nc;
  }
  cli_server *x = &j->servers[j->n_servers];
  x->server_id = s->server_id;
  snprintf(x->host, sizeof x->host, "%s", s->host);
  x->port = (int)s->port;
  return (int)j->n_servers++;
}

/* Copies and validates one page of locations into j->chunks. 0 or DFS_EPROTO. */
static int take_page(get_job *j, const Dfs__GetFileRep *rep, uint64_t first, char *err,
                     size_t errsz) {
  for (size_t i = 0; i < rep->n_chunks; i++) {
    const Dfs__ChunkLocation *l = rep->chunks[i];
    uint64_t idx = first + i;
    uint64_t want = idx + 1 < j->nchunks ? DFS_CHUNK_SIZE : j->size - idx * DFS_CHUNK_SIZE;
    if (idx >= j->nchunks || l->index != idx || l->length != want) {
      snprintf(err, errsz, "metad sent an inconsistent chunk list (chunk %llu); the file may "
               "have changed during the download, try again", (unsigned long long)idx);
      return DFS_EPROTO;
    }
    get_chunk *c = &j->chunks[idx];
    c->id = l->chunk_id;
    c->version = l->version;
    c->len = l->length;
    c->crc = l->crc32c;
    for (size_t r = 0; r < l->n_replicas && c->n_rep < CLI_MAX_CHAIN; r++) {
      const Dfs__ServerAddr *s = l->replicas[r];
      if (!s || !s->host || !*s->host || s->port == 0 || s->port > 65535 ||
          strlen(s->host) >= sizeof j->servers[0].host)
        continue;  /* unusable address: skip this replica */
      int k = server_index(j, s);
      if (k < 0) { snprintf(err, errsz, "out of memory"); return DFS_ENOMEM; }
      c->rep[c->n_rep++] = (uint16_t)k;
    }
    if (l->capability.len) {
      c->cap = malloc(l->capability.len);
      if (!c->cap) { snprintf(err, errsz, "out of memory"); return DFS_ENOMEM; }
      memcpy(c->cap, l->capability.data, l->capability.len);
      c->cap_len = l->capability.len;
    }
  }
  return 0;
}

/* Fetches the entry and every chunk location. Returns 0, or an error already printed. */
static int fetch_chunks(cli_ctx *ctx, get_job *j) {
  uint64_t first = 0, inode = 0;
  int64_t mtime = 0; /* a replace (update) changes it: pages of two versions never mix */
  char err[768];
  for (;;) {
    Dfs__GetFileReq req = DFS__GET_FILE_REQ__INIT;
    req.path = (char *)j->remote;
    req.first_chunk = first;
    req.max_chunks = GET_PAGE;
    ProtobufCMessage *m = NULL;
    int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &req.base,
                       &dfs__get_file_rep__descriptor, &m, err, sizeof err);
    Dfs__GetFileRep *rep = (Dfs__GetFileRep *)m;
    if (rc == 0 && !rep->entry) { rc = DFS_EPROTO; snprintf(err, sizeof err, "metad sent no entry"); }
    if (rc == 0 && rep->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR) {
      rc = DFS_EISDIR;
      snprintf(err, sizeof err, "%s: is a directory (get downloads one file)", j->remote);
    }
    if (rc == 0 && first == 0) {
      inode = rep->entry->inode;
      mtime = rep->entry->mtime_ns;
      j->size = rep->entry->size;
      j->nchunks = (j->size + DFS_CHUNK_SIZE - 1) / DFS_CHUNK_SIZE;
      j->chunks = calloc(j->nchunks ? j->nchunks : 1, sizeof *j->chunks);
      if (!j->chunks) { rc = DFS_ENOMEM; snprintf(err, sizeof err, "out of memory"); }
    } else if (rc == 0 && (rep->entry->inode != inode || rep->entry->size != j->size ||
                          rep->entry->mtime_ns != mtime)) {
      rc = DFS_EPROTO;
      snprintf(err, sizeof err, "%s changed during the download, try again", j->remote);
    }
    if (rc == 0) rc = take_page(j, rep, first, err, sizeof err);
    size_t got = rc == 0 ? rep->n_chunks : 0;
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc) {
      meta_report_path(ctx->mc, "get", j->remote, rc, err);
      return rc;
    }
    first += got;
    if (first >= j->nchunks) return 0;
    if (got == 0) {
      cli_err("get", "%s: metad returned only %llu of %llu chunks", j->remote,
              (unsigned long long)first, (unsigned long long)j->nchunks);
      return DFS_EPROTO;
    }
  }
}

static void report_bad(cli_ctx *ctx, get_job *j) {
  for (size_t i = 0; i < j->n_bad; i++) {
    Dfs__BadReplicaReq req = DFS__BAD_REPLICA_REQ__INIT;
    req.chunk_id = j->bad[i].chunk_id;
    req.server_id = j->bad[i].server_id;
    req.reason = j->bad[i].reason;
    ProtobufCMessage *m = NULL;
    char err[256];
    int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_BAD_REPLICA, &req.base,
                       &dfs__bad_replica_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc == DFS_ECONN) break; /* best effort */
  }
}

int cli_cmd_get(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"parallel", 'P', 1}};
  cli_opt_val v[1];
  const char *pos[2];
  size_t npos;
  char err[512];
  int rc = cli_parse_args(argc - 1, argv + 1, specs, 1, v, pos, 2, &npos, err, sizeof err);
  if (rc == CLI_ARGS_HELP) { cli_print_command_help(stdout, cli_find_command("get")); return CLI_OK; }
  if (rc) return cli_usage_error("get", "%s", err);
  if (npos < 1) return cli_usage_error("get", "missing REMOTE file");
  uint64_t parallel = 4;
  if (v[0].present && cli_parse_u64(v[0].value, 1, GET_MAX_PARALLEL, &parallel))
    return cli_usage_error("get", "--parallel must be 1..%d", GET_MAX_PARALLEL);

  char remote[DFS_PATH_MAX + 1], local[DFS_PATH_MAX + 1];
  if (cli_remote_arg(ctx, "get", pos[0], remote)) return CLI_FAIL;
  int to_stdout = npos > 1 && strcmp(pos[1], "-") == 0;
  if (!to_stdout) {
    rc = cli_get_dest(remote, npos > 1 ? pos[1] : NULL, cli_local_isdir, NULL, local, sizeof local);
    if (rc) {
      cli_err("get", "%s: cannot name a local file after it (give LOCAL)", remote);
      return CLI_FAIL;
    }
  }

  get_job j;
  memset(&j, 0, sizeof j);
  j.remote = remote;
  j.out_fd = -1;
  pthread_mutex_init(&j.lock, NULL);
  int ret = CLI_FAIL, progress_on = 0;
  pthread_t th[GET_MAX_PARALLEL];
  size_t nth = 0;

  if (fetch_chunks(ctx, &j)) goto out;

  if (to_stdout) {
    j.out_fd = STDOUT_FILENO;
    j.sequential = 1;
    parallel = 1;
  } else {
    char dir[DFS_PATH_MAX + 1], base[DFS_NAME_MAX + 1];
    snprintf(dir, sizeof dir, "%s", local);
    char *slash = strrchr(dir, '/');
    if (slash) { if (slash == dir) slash[1] = '\0'; else *slash = '\0'; } else snprintf(dir, sizeof dir, ".");
    if (cli_basename(local, base, sizeof base)) { cli_err("get", "%s: invalid local name", local); goto out; }
    if ((size_t)snprintf(g_tmp_path, sizeof g_tmp_path, "%s/.%s.dfs-tmp-XXXXXX", dir, base) >=
        sizeof g_tmp_path) {
      cli_err("get", "%s: local path too long", local);
      goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    j.out_fd = mkstemp(g_tmp_path);
    if (j.out_fd < 0) {
      cli_err("get", "cannot create a file in %s: %s", dir, strerror(errno));
      goto out;
    }
    g_tmp_active = 1;
    mode_t um = umask(0);
    umask(um);
    fchmod(j.out_fd, 0666 & ~um);
  }

  cli_progress_init(&j.prog, "get", j.size, ctx->quiet);
  progress_on = 1;
  uint64_t t0 = dfs_now_ms();
  if (parallel > j.nchunks) parallel = j.nchunks ? j.nchunks : 1;
  if (j.sequential && j.nchunks) {
    get_worker(&j);
  } else {
    for (; j.nchunks && nth < parallel; nth++)
      if (pthread_create(&th[nth], NULL, get_worker, &j) != 0) {
        fail(&j, "cannot start worker threads");
        break;
      }
    for (size_t i = 0; i < nth; i++) pthread_join(th[i], NULL);
  }
  cli_progress_finish(&j.prog);
  progress_on = 0;
  report_bad(ctx, &j);
  if (j.failed) {
    cli_err("get", "%s: %s", remote, j.fail_msg);
    goto out;
  }
  if (!to_stdout) {
    struct stat st;
    if (fsync(j.out_fd) != 0 || fstat(j.out_fd, &st) != 0) {
      cli_err("get", "%s: %s", local, strerror(errno));
      goto out;
    }
    if ((uint64_t)st.st_size != j.size) {
      cli_err("get", "%s: wrote %llu bytes but the file has %llu", remote,
              (unsigned long long)st.st_size, (unsigned long long)j.size);
      goto out;
    }
    if (close(j.out_fd) != 0) {
      j.out_fd = -1;
      cli_err("get", "%s: %s", local, strerror(errno));
      goto out;
    }
    j.out_fd = -1;
    if (rename(g_tmp_path, local) != 0) {
      cli_err("get", "cannot rename to %s: %s", local, strerror(errno));
      goto out;
    }
    g_tmp_active = 0;
  } else if (fflush(stdout) != 0) {
    cli_err("get", "stdout: %s", strerror(errno));
    goto out;
  }
  if (!to_stdout) cli_summary("get", remote, local, j.size, (double)(dfs_now_ms() - t0) / 1000.0);
  ret = CLI_OK;
out:
  if (progress_on) cli_progress_finish(&j.prog);
  if (j.out_fd >= 0 && !to_stdout) close(j.out_fd);
  if (g_tmp_active) { unlink(g_tmp_path); g_tmp_active = 0; }
  if (j.chunks)
    for (uint64_t i = 0; i < j.nchunks; i++) free(j.chunks[i].cap);
  free(j.chunks);
  free(j.servers);
  pthread_mutex_destroy(&j.lock);
  return ret;
}
