/* `dfs get`: downloads a file. The chunk list comes from metad in pages; K worker threads
 * read whole chunks from the first replica that answers with the right bytes (CRC32C
 * checked against metad's), report replicas that answered wrongly (bad CRC, missing
 * chunk; not unreachable servers) to metad, and pwrite into a temporary
 * file in the destination directory that is fsynced and renamed only when complete.
 * `-` writes to stdout in order (K readers fetch ahead, each chunk waits for its turn).
 * The temp file is fallocated up front and
 * each chunk's writeback is started (sync_file_range) as soon as it is written, so the
 * final fsync has little left to do.
 * Several files (`get R1 R2 LOCALDIR`, `get -r REMOTEDIR [LOCALDIR]`): one process, K
 * files in flight, each worker with its own metad and chunkserver connections; each
 * file lands atomically on its own, a failed file is named and the others still land.
 * An existing local file is never replaced unless -f/--force is given (hdfs dfs -get
 * refuses too: a local file may have no other copy), atomically (RENAME_NOREPLACE, so
 * also one that appears during the download); with -f only by that rename, never
 * truncated first. -n/--no-clobber says the default explicitly.
 * REMOTE arguments are remote globs (remote_glob.c), except with LOCAL '-'. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/batch.h"
#include "client/chunk_client.h"
#include "cli/commands.h"
#include "cli/ns_cmds.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/progress.h"
#include "cli/remote_glob.h"
#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/array.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/path.h"
#include "common/util.h"

#define GET_PAGE 1024
#define GET_MAX_PARALLEL 64
#define GET_DEFAULT_PARALLEL 16 /* chunks (one file) or files (several) in flight; measured
                                   against 8: 1 GiB cold to /dev/null 1450 -> 1540 MB/s,
                                   into a file 740 -> 830; 1000 x 4 KiB 7400 -> 8700/s */
#define GET_PENDING 16 /* multi-file get: complete files per worker awaiting one sync */
#define GET_MAX_BAD 1024

/* One chunk of the file. Replicas are indices into get_job.servers (a chunkserver's
 * address is stored once, not once per chunk: a 100 GiB file has 100k chunks). */
typedef struct {
  uint64_t id, version;
  uint32_t len, crc;
  uint16_t n_rep;
  uint16_t rep[CLIENT_MAX_CHAIN];
  /* owned: n_rep read capabilities of cap_len bytes each, in rep[] order (each names
   * its replica's server, so a replica is read with its own); NULL without a secret */
  uint8_t *caps;
  uint16_t cap_len;
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
  chunkd_addr *servers;      /* distinct replica addresses; read-only once workers run */
  size_t n_servers, cap_servers;
  cli_progress own_prog;    /* single-file get */
  cli_progress *prog;       /* own_prog, or a multi-file get's shared bar (borrowed) */

  meta_client *mc;          /* borrowed: renews capabilities (under meta_lock; the thread
                               that owns it waits for the workers meanwhile) */
  pthread_mutex_t meta_lock;

  pthread_mutex_t lock;     /* guards below */
  pthread_cond_t turn;      /* sequential: next_write moved on, or the job failed */
  uint64_t next_index;
  uint64_t next_write;      /* sequential: the chunk whose bytes go out next */
  int failed;
  char fail_msg[1024];
  size_t n_bad;
  uint64_t dead[64];        /* servers we could not reach: tried last for later chunks */
  size_t n_dead;
  /* last, and not zeroed by get_job_init (180 KB: a small file's get would spend more
   * on clearing it than on its bytes): only bad[0..n_bad) is ever read */
  get_bad bad[GET_MAX_BAD];
} get_job;

/* Zeroes every field of j but the bad-replica array (see there). */
static void get_job_init(get_job *j) { memset(j, 0, offsetof(get_job, bad)); }

/* The temp files to remove if we are interrupted: slot 0 for a single-file get, slots
 * [w * GET_PENDING, (w + 1) * GET_PENDING) for worker w of a multi-file get (its file in
 * flight and its complete files awaiting the sync); active while the file exists. */
typedef struct {
  char path[DFS_PATH_MAX + DFS_NAME_MAX + 64];
  volatile sig_atomic_t active;
} get_tmp_slot;
static get_tmp_slot g_tmp[GET_MAX_PARALLEL * GET_PENDING];

/* Multi-file get: the signal (SIGINT/SIGTERM/SIGHUP) that asked us to stop, or 0. Its
 * workers run with those signals blocked; a sigwait thread sets this, the workers stop,
 * remove their temp files, and the command then dies of the signal. */
static _Atomic int g_stop_sig;

static void on_signal(int sig) {
  for (size_t i = 0; i < GET_MAX_PARALLEL * GET_PENDING; i++)
    if (g_tmp[i].active) unlink(g_tmp[i].path);
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
  pthread_cond_broadcast(&j->turn); /* writers waiting for their turn give up */
  pthread_mutex_unlock(&j->lock);
}

/* Sequential output (stdout): K workers fetch chunks ahead, each holding one in its
 * buffer, and write them in order: a worker waits until the chunks before idx are out.
 * Chunks are handed out in increasing order, so the one due next is always held by a
 * worker: no deadlock, and at most K chunks wait in memory. 0, or -1 if the job failed. */
static int wait_turn(get_job *j, uint64_t idx) {
  pthread_mutex_lock(&j->lock);
  while (j->next_write != idx && !j->failed) pthread_cond_wait(&j->turn, &j->lock);
  int failed = j->failed;
  pthread_mutex_unlock(&j->lock);
  return failed ? -1 : 0;
}

static void done_turn(get_job *j) {
  pthread_mutex_lock(&j->lock);
  j->next_write++;
  pthread_cond_broadcast(&j->turn);
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

/* The process's umask, read once (reading it means setting it: two syscalls a file). */
static mode_t g_umask;
static pthread_once_t g_umask_once = PTHREAD_ONCE_INIT;
static void read_umask(void) {
  g_umask = umask(0);
  umask(g_umask);
}
static mode_t process_umask(void) {
  pthread_once(&g_umask_once, read_umask);
  return g_umask;
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

/* Fresh read capabilities for chunk idx (they are short-lived: caps.ttl), asked of metad
 * for that one chunk; each replica's own is copied in where metad still lists that
 * server. Only the worker reading chunk idx touches its capabilities. 1 if renewed. */
static int renew_caps(get_job *j, uint64_t idx) {
  get_chunk *c = &j->chunks[idx];
  if (!c->caps || !j->mc) return 0;
  Dfs__GetFileReq req = DFS__GET_FILE_REQ__INIT;
  req.path = (char *)j->remote;
  req.first_chunk = idx;
  req.max_chunks = 1;
  ProtobufCMessage *m = NULL;
  char err[512];
  pthread_mutex_lock(&j->meta_lock);
  int rc = meta_call(j->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &req.base,
                     &dfs__get_file_rep__descriptor, &m, err, sizeof err);
  pthread_mutex_unlock(&j->meta_lock);
  Dfs__GetFileRep *rep = (Dfs__GetFileRep *)m;
  int renewed = 0;
  if (rc == 0 && rep->n_chunks == 1 && rep->chunks[0]->chunk_id == c->id &&
      rep->chunks[0]->version == c->version) {
    const Dfs__ChunkLocation *l = rep->chunks[0];
    for (size_t r = 0; r < c->n_rep; r++)
      for (size_t k = 0; k < l->n_replicas; k++) {
        const Dfs__ServerAddr *a = l->replicas[k];
        if (a->server_id != j->servers[c->rep[r]].server_id || a->capability.len != c->cap_len)
          continue;
        memcpy(c->caps + r * c->cap_len, a->capability.data, c->cap_len);
        renewed = 1;
      }
  }
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  return renewed;
}

static int get_one(get_job *j, chunk_conns *cc, uint8_t *buf, uint64_t idx) {
  const get_chunk *c = &j->chunks[idx];
  int renewed = 0;
  char errs[900] = "", err[300];
  size_t el = 0;
  if (c->n_rep == 0) {
    fail(j, "chunk %llu has no live replica (metad lists none: are chunkservers down?)",
         (unsigned long long)idx);
    return DFS_EUNAVAIL;
  }
  /* Replicas in metad's order rotated by the chunk id, so that the chunks of a file (and
   * the files of a batch) are read from all their servers at once instead of all from
   * the first listed; servers that were unreachable for an earlier chunk last (a dead
   * server costs a connect timeout per try). */
  size_t order[CLIENT_MAX_CHAIN], n = 0, first = (size_t)(c->id % c->n_rep);
  for (int pass = 0; pass < 2; pass++)
    for (size_t k = 0; k < c->n_rep; k++) {
      size_t r = (first + k) % c->n_rep;
      if (is_dead(j, j->servers[c->rep[r]].server_id) == pass) order[n++] = r;
    }
  for (size_t k = 0; k < n; k++) {
    const chunkd_addr *srv = &j->servers[c->rep[order[k]]];
    const uint8_t *cap = c->caps ? c->caps + (size_t)order[k] * c->cap_len : NULL;
    int rc = chunk_read(cc, srv, c->id, c->version, cap, c->caps ? c->cap_len : 0, c->len, c->crc,
                        buf, err, sizeof err);
    /* An unreachable server is not a bad replica (metad learns liveness from heartbeats,
     * and the copy may be fine when it returns): remember it, report nothing. */
    int unreachable = rc == DFS_ECONN || rc == DFS_ETIMEDOUT || rc == DFS_ECLOSED;
    if (unreachable) mark_dead(j, srv->server_id);
    if (rc == 0) {
      if (j->sequential && wait_turn(j, idx)) return DFS_EIO; /* another chunk failed */
      rc = write_full(j->out_fd, buf, c->len, idx * DFS_CHUNK_SIZE, j->sequential);
      if (j->sequential) done_turn(j);
      if (rc) {
        fail(j, "write failed: %s", strerror(-rc));
        return DFS_EIO;
      }
      /* Start writeback now so the final fsync finds little left to do (not for a file of
       * one chunk: its one fsync, or its batch's syncfs, comes right after). */
      if (!j->sequential && j->nchunks > 1)
        (void)sync_file_range(j->out_fd, (off_t)(idx * DFS_CHUNK_SIZE), c->len, SYNC_FILE_RANGE_WRITE);
      cli_progress_add(j->prog, c->len);
      return 0;
    }
    /* refused access (a capability that expired during a long download): renew once
     * and try this replica again; never a bad replica */
    if (rc == DFS_EPERM && !renewed) {
      renewed = 1;
      if (renew_caps(j, idx)) {
        k--;
        continue;
      }
    }
    if (!unreachable && rc != DFS_EPERM) note_bad(j, c->id, srv->server_id, err);
    if (el < sizeof errs)
      el += (size_t)snprintf(errs + el, sizeof errs - el, "%s%s", k ? "; " : "", err);
  }
  fail(j, "chunk %llu has no live replica (all %u replicas failed: %s)",
       (unsigned long long)idx, (unsigned)c->n_rep, errs);
  return DFS_EUNAVAIL;
}

/* Pulls chunk indices until none is left or the job failed. */
static void get_loop(get_job *j, chunk_conns *cc, uint8_t *buf) {
  for (;;) {
    pthread_mutex_lock(&j->lock);
    if (j->failed || j->next_index >= j->nchunks) { pthread_mutex_unlock(&j->lock); break; }
    uint64_t idx = j->next_index++;
    pthread_mutex_unlock(&j->lock);
    if (g_stop_sig) { fail(j, "interrupted"); break; }
    if (get_one(j, cc, buf, idx)) break;
  }
}

static void *get_worker(void *arg) {
  get_job *j = arg;
  chunk_conns cc;
  chunk_conns_init(&cc);
  uint8_t *buf = malloc(DFS_CHUNK_SIZE);
  if (!buf) { fail(j, "out of memory"); return NULL; }
  get_loop(j, &cc, buf);
  free(buf);
  chunk_conns_close(&cc);
  return NULL;
}

/* Index of s in j->servers (added if new), or -1 on OOM / too many servers. */
static int server_index(get_job *j, const Dfs__ServerAddr *s) {
  for (size_t i = 0; i < j->n_servers; i++) {
    const chunkd_addr *x = &j->servers[i];
    if (x->server_id == s->server_id && x->port == (int)s->port && !strcmp(x->host, s->host))
      return (int)i;
  }
  if (j->n_servers >= UINT16_MAX) return -1;
  chunkd_addr *ns = dfs_grow(j->servers, &j->cap_servers, j->n_servers + 1, sizeof *ns, 16);
  if (!ns) return -1;
  j->servers = ns;
  chunkd_addr *x = &j->servers[j->n_servers];
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
    for (size_t r = 0; r < l->n_replicas && c->n_rep < CLIENT_MAX_CHAIN; r++) {
      const Dfs__ServerAddr *s = l->replicas[r];
      if (!s || !s->host || !*s->host || s->port == 0 || s->port > 65535 ||
          strlen(s->host) >= sizeof j->servers[0].host)
        continue;  /* unusable address: skip this replica */
      size_t cl = s->capability.len;
      if (c->n_rep == 0 && cl) {
        if (cl > 1024) {
          snprintf(err, errsz, "metad sent a read capability of %zu bytes", cl);
          return DFS_EPROTO;
        }
        c->caps = malloc(CLIENT_MAX_CHAIN * cl);
        if (!c->caps) { snprintf(err, errsz, "out of memory"); return DFS_ENOMEM; }
        c->cap_len = (uint16_t)cl;
      }
      if (cl != (c->caps ? c->cap_len : 0)) {
        snprintf(err, errsz, "metad sent read capabilities of different sizes for chunk %llu",
                 (unsigned long long)idx);
        return DFS_EPROTO;
      }
      int k = server_index(j, s);
      if (k < 0) { snprintf(err, errsz, "out of memory"); return DFS_ENOMEM; }
      if (cl) memcpy(c->caps + (size_t)c->n_rep * cl, s->capability.data, cl);
      c->rep[c->n_rep++] = (uint16_t)k;
    }
  }
  return 0;
}

/* Fetches the entry and every chunk location. Returns 0, or an error already printed. */
static int fetch_chunks(meta_client *mc, get_job *j) {
  uint64_t first = 0, inode = 0;
  int64_t mtime = 0; /* a replace (update) changes it: pages of two versions never mix */
  char err[768];
  for (;;) {
    Dfs__GetFileReq req = DFS__GET_FILE_REQ__INIT;
    req.path = (char *)j->remote;
    req.first_chunk = first;
    req.max_chunks = GET_PAGE;
    ProtobufCMessage *m = NULL;
    int rc = meta_call(mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &req.base,
                       &dfs__get_file_rep__descriptor, &m, err, sizeof err);
    Dfs__GetFileRep *rep = (Dfs__GetFileRep *)m;
    if (rc == 0 && !rep->entry) { rc = DFS_EPROTO; snprintf(err, sizeof err, "metad sent no entry"); }
    if (rc == 0 && rep->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR) rc = DFS_EISDIR;
    if (rc == DFS_EISDIR) /* the same words as put's */
      snprintf(err, sizeof err, "%s is a directory: use -r to copy it recursively", j->remote);
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
    if (rc == DFS_EISDIR) {
      cli_err("get", "%s", err);
      return rc;
    }
    if (rc) {
      meta_report_path(mc, "get", j->remote, rc, err);
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

static void report_bad(meta_client *mc, get_job *j) {
  for (size_t i = 0; i < j->n_bad; i++) {
    Dfs__BadReplicaReq req = DFS__BAD_REPLICA_REQ__INIT;
    req.chunk_id = j->bad[i].chunk_id;
    req.server_id = j->bad[i].server_id;
    req.reason = j->bad[i].reason;
    req.path = (char *)j->remote; /* metad checks we may read it and that it holds the chunk */
    ProtobufCMessage *m = NULL;
    char err[256];
    int rc = meta_call(mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_BAD_REPLICA, &req.base,
                       &dfs__bad_replica_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc == DFS_ECONN) break; /* best effort */
  }
}

/* Moves the complete temp file onto local. Without no_clobber an existing file is
 * replaced (rename); with it an existing local file is never replaced, also when it
 * appeared during the download: RENAME_NOREPLACE, or link + unlink on a file system
 * without it. 0, or -1 with errno (EEXIST: local exists). */
static int place_file(const char *tmp, const char *local, int no_clobber) {
  if (!no_clobber) return rename(tmp, local);
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, local, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  if (link(tmp, local) != 0) return -1;
  unlink(tmp);
  return 0;
}

/* The one line of get when local is already there. */
static void report_exists(const char *local) {
  cli_err("get", "%s: already exists (dfs get -f replaces it, or give another LOCAL)", local);
}

/* Downloads remote into local (NULL: stdout, in order) through a temp file in local's
 * directory (temp slot `slot`), fsynced and renamed when complete. parallel: chunk
 * workers; with parallel 1 and cc/buf given, the caller's thread, connections and 1 MiB
 * buffer do the work. shared: a multi-file get's progress bar (NULL: own bar and a
 * summary line). defer: leave the complete temp file (slot stays active) unsynced and
 * not renamed; the caller syncs many at once and renames them (get_flush). no_clobber:
 * refuse an existing local file (checked first, and again atomically when placing it).
 * Returns CLI_OK, or CLI_FAIL after printing one line naming the file. */
static int get_download(meta_client *mc, const char *remote, const char *local,
                        uint64_t parallel, chunk_conns *cc, uint8_t *buf, cli_progress *shared,
                        int quiet, size_t slot, int defer, int no_clobber) {
  int to_stdout = local == NULL;
  get_tmp_slot *tmp = &g_tmp[slot];
  get_job j;
  get_job_init(&j);
  j.remote = remote;
  j.out_fd = -1;
  j.prog = shared ? shared : &j.own_prog;
  j.mc = mc;
  pthread_mutex_init(&j.lock, NULL);
  pthread_cond_init(&j.turn, NULL);
  pthread_mutex_init(&j.meta_lock, NULL);
  int ret = CLI_FAIL, progress_on = 0, return_deferred = 0;
  pthread_t th[GET_MAX_PARALLEL];
  size_t nth = 0;

  struct stat lst;
  if (no_clobber && local && lstat(local, &lst) == 0) { report_exists(local); goto out; }
  if (fetch_chunks(mc, &j)) goto out;

  if (to_stdout) {
    j.out_fd = STDOUT_FILENO;
    j.sequential = 1; /* in order; --parallel workers still fetch ahead (wait_turn) */
  } else {
    char dir[DFS_PATH_MAX + 1], base[DFS_NAME_MAX + 1];
    snprintf(dir, sizeof dir, "%s", local);
    char *slash = strrchr(dir, '/');
    if (slash) { if (slash == dir) slash[1] = '\0'; else *slash = '\0'; } else snprintf(dir, sizeof dir, ".");
    if (cli_basename(local, base, sizeof base)) { cli_err("get", "%s: invalid local name", local); goto out; }
    if ((size_t)snprintf(tmp->path, sizeof tmp->path, "%s/.%s.dfs-tmp-XXXXXX", dir, base) >=
        sizeof tmp->path) {
      cli_err("get", "%s: local path too long", local);
      goto out;
    }
    j.out_fd = mkstemp(tmp->path);
    if (j.out_fd < 0) {
      cli_err("get", "cannot create a file in %s: %s", dir, strerror(errno));
      goto out;
    }
    tmp->active = 1;
    fchmod(j.out_fd, 0666 & ~process_umask());
    /* Reserve the blocks up front: workers write at disjoint offsets into a file that
     * does not grow under them (a file system without fallocate just skips this). A
     * file of one chunk is one pwrite: nothing to reserve (a syscall per small file). */
    if (j.size > DFS_CHUNK_SIZE && fallocate(j.out_fd, 0, 0, (off_t)j.size) != 0 &&
        errno == ENOSPC) {
      cli_err("get", "%s: not enough local disk space for %llu bytes", local,
              (unsigned long long)j.size);
      goto out;
    }
  }

  if (!shared) {
    /* not between the bytes of `cat` (or `get R -`) on the same terminal */
    cli_progress_init(&j.own_prog, remote, j.size, quiet || (to_stdout && isatty(STDOUT_FILENO)));
    progress_on = 1;
  }
  uint64_t t0 = dfs_now_ms();
  if (parallel > j.nchunks) parallel = j.nchunks ? j.nchunks : 1;
  if (j.nchunks && parallel == 1 && cc && buf) {
    get_loop(&j, cc, buf);
  } else if (j.nchunks && parallel == 1) {
    get_worker(&j);
  } else {
    for (; j.nchunks && nth < parallel; nth++)
      if (pthread_create(&th[nth], NULL, get_worker, &j) != 0) {
        fail(&j, "cannot start worker threads");
        break;
      }
    for (size_t i = 0; i < nth; i++) pthread_join(th[i], NULL);
  }
  if (progress_on) cli_progress_finish(&j.own_prog);
  progress_on = 0;
  report_bad(mc, &j);
  if (j.failed) {
    if (!g_stop_sig) cli_err("get", "%s: %s", remote, j.fail_msg);
    goto out;
  }
  if (!to_stdout) {
    struct stat st;
    if ((!defer && fsync(j.out_fd) != 0) || fstat(j.out_fd, &st) != 0) {
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
    if (defer) {
      ret = CLI_OK;
      return_deferred = 1;
      goto out;
    }
    if (place_file(tmp->path, local, no_clobber) != 0) {
      if (errno == EEXIST && no_clobber) report_exists(local);
      else cli_err("get", "cannot rename to %s: %s", local, strerror(errno));
      goto out;
    }
    tmp->active = 0;
  } else if (fflush(stdout) != 0) {
    cli_err("get", "stdout: %s", strerror(errno));
    goto out;
  }
  if (!to_stdout && !shared)
    cli_summary("get", remote, local, j.size, (double)(dfs_now_ms() - t0) / 1000.0);
  ret = CLI_OK;
out:
  if (progress_on) cli_progress_finish(&j.own_prog);
  if (j.out_fd >= 0 && !to_stdout) close(j.out_fd);
  if (tmp->active && !return_deferred) { unlink(tmp->path); tmp->active = 0; }
  if (j.chunks)
    for (uint64_t i = 0; i < j.nchunks; i++) free(j.chunks[i].caps);
  free(j.chunks);
  free(j.servers);
  pthread_mutex_destroy(&j.lock);
  pthread_cond_destroy(&j.turn);
  pthread_mutex_destroy(&j.meta_lock);
  return ret;
}

/* ---- multi-file get: `get R1 R2 ... LOCALDIR`, `get -r REMOTEDIR [LOCALDIR]` ---- */

typedef struct {
  const meta_client *proto_mc; /* copied per worker: one metad connection each */
  cli_xfer_list *list;
  uint64_t per_file_parallel;
  int quiet;
  int no_clobber;              /* -n: never replace an existing local file */
  int root_fd;                 /* the destination directory (syncfs), or -1 */
  dev_t root_dev;
  cli_progress prog;
  pthread_mutex_t lock;        /* guards next_slot, next, nfailed */
  size_t next_slot, next, nfailed;
} get_batch;

/* Makes a worker's complete temp files durable with one syncfs of the destination's
 * file system (a file on another file system gets its own fsync) and renames them into
 * place. Returns how many failed (each named). */
static size_t get_flush(get_batch *b, size_t base, const size_t *items, size_t n) {
  size_t bad = 0;
  if (g_stop_sig) { /* interrupted: none of them appears */
    for (size_t k = 0; k < n; k++) {
      unlink(g_tmp[base + k].path);
      g_tmp[base + k].active = 0;
    }
    return n;
  }
  int synced = b->root_fd >= 0 && n && syncfs(b->root_fd) == 0;
  for (size_t k = 0; k < n; k++) {
    get_tmp_slot *tmp = &g_tmp[base + k];
    cli_xfer_item *it = &b->list->files[items[k]];
    struct stat st;
    int ok = synced && stat(tmp->path, &st) == 0 && st.st_dev == b->root_dev;
    if (!ok) {
      int fd = open(tmp->path, O_RDONLY | O_CLOEXEC);
      ok = fd >= 0 && fsync(fd) == 0;
      if (fd >= 0) close(fd);
    }
    if (!ok || place_file(tmp->path, it->dst, b->no_clobber) != 0) {
      if (ok && errno == EEXIST && b->no_clobber) report_exists(it->dst);
      else cli_err("get", "%s: cannot %s: %s", it->dst, ok ? "rename the complete file into place"
                   : "sync the downloaded file", strerror(errno));
      unlink(tmp->path);
      it->failed = 1;
      bad++;
    }
    tmp->active = 0;
  }
  return bad;
}

static void *get_batch_worker(void *arg) {
  get_batch *b = arg;
  cli_xfer_worker w;
  cli_xfer_worker_init(&w, b->proto_mc);
  pthread_mutex_lock(&b->lock);
  size_t base = b->next_slot++ * GET_PENDING;
  pthread_mutex_unlock(&b->lock);
  size_t pending[GET_PENDING], np = 0, bad = 0;
  for (;;) {
    pthread_mutex_lock(&b->lock);
    size_t i = b->next < b->list->n_files && !g_stop_sig ? b->next++ : SIZE_MAX;
    pthread_mutex_unlock(&b->lock);
    if (i == SIZE_MAX) break;
    cli_xfer_item *it = &b->list->files[i];
    int ok = 0;
    if (!w.buf) cli_err("get", "%s: out of memory", it->src);
    else ok = get_download(&w.mc, it->src, it->dst, b->per_file_parallel, &w.cc, w.buf, &b->prog,
                           b->quiet, base + np, 1, b->no_clobber) == CLI_OK;
    if (!ok) {
      it->failed = 1;
      bad++;
      continue;
    }
    cli_progress_file_done(&b->prog, it->src, it->size);
    pending[np++] = i;
    if (np == GET_PENDING) {
      bad += get_flush(b, base, pending, np);
      np = 0;
    }
  }
  bad += get_flush(b, base, pending, np);
  pthread_mutex_lock(&b->lock);
  b->nfailed += bad;
  pthread_mutex_unlock(&b->lock);
  cli_xfer_worker_free(&w);
  return NULL;
}

/* Stat of a resolved remote path: *is_dir and *size. 0, or a negative DFS_E* after
 * printing one line. */
static int remote_stat(cli_ctx *ctx, const char *path, int *is_dir, uint64_t *size) {
  Dfs__StatRep *st = NULL;
  int rc = cli_stat(ctx, "get", path, 0, &st);
  if (rc) return rc;
  *is_dir = st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  *size = st->entry->size;
  dfs__stat_rep__free_unpacked(st, NULL);
  return 0;
}

/* Adds the remote tree at rdir: ldir (and each subdirectory) to create, each file as an
 * item, in name order. 0 or a negative DFS_E* (printed). */
static int walk_remote(meta_client *mc, cli_xfer_list *l, const char *rdir, const char *ldir) {
  if (cli_xfer_add_dir(l, ldir)) { cli_err("get", "out of memory"); return DFS_ENOMEM; }
  Dfs__ListReq req = DFS__LIST_REQ__INIT;
  req.path = (char *)rdir;
  ProtobufCMessage *m = NULL;
  char err[768];
  int rc = meta_call(mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base,
                     &dfs__list_rep__descriptor, &m, err, sizeof err);
  if (rc) {
    meta_report_path(mc, "get", rdir, rc, err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    return rc;
  }
  Dfs__ListRep *rep = (Dfs__ListRep *)m;
  char rp[DFS_PATH_MAX + 1], lp[DFS_PATH_MAX + 1];
  for (size_t i = 0; i < rep->n_entries && rc == 0; i++) {
    const Dfs__Entry *e = rep->entries[i];
    if (!e || !e->name || !*e->name || strchr(e->name, '/') || !strcmp(e->name, ".") ||
        !strcmp(e->name, "..")) {
      cli_err("get", "%s: metad listed an invalid name", rdir);
      rc = DFS_EPROTO;
      break;
    }
    if (cli_join(rdir, e->name, rp, sizeof rp) || cli_join(ldir, e->name, lp, sizeof lp)) {
      cli_err("get", "%s/%s: path too long", rdir, e->name);
      rc = DFS_ETOOBIG;
      break;
    }
    if (e->type == DFS__ENTRY_TYPE__ENTRY_DIR) rc = walk_remote(mc, l, rp, lp);
    else if (e->type == DFS__ENTRY_TYPE__ENTRY_SYMLINK) /* no content (dfs mount's) */
      cli_err("get", "%s: a symbolic link, skipped", rp);
    else if ((rc = cli_xfer_add_file(l, rp, lp, e->size)) != 0) cli_err("get", "out of memory");
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* Waits for SIGINT/SIGTERM/SIGHUP (blocked in every thread) and records it in
 * g_stop_sig; SIGUSR1 (sent when the transfer is over) ends it quietly. */
static void *get_sigwaiter(void *arg) {
  const sigset_t *set = arg;
  int sig = 0;
  while (sigwait(set, &sig) == 0) {
    if (sig == SIGUSR1) break;
    g_stop_sig = sig;
  }
  return NULL;
}

/* The multi-file get of the resolved remote paths srcs[0..nsrc) into the local dest. */
static int get_batch_run(cli_ctx *ctx, int recursive, char *const *srcs, size_t nsrc,
                         const char *dest, uint64_t parallel, int no_clobber) {
  cli_xfer_list l;
  cli_xfer_init(&l);
  int ret = CLI_FAIL;
  size_t nbad = 0;
  char lp[DFS_PATH_MAX + 1], base[DFS_NAME_MAX + 1];
  struct stat dst;
  int dest_is_dir = stat(dest, &dst) == 0 && S_ISDIR(dst.st_mode);
  int dest_missing = !dest_is_dir && errno == ENOENT;
  /* `get -r REMOTEDIR NEWNAME` creates NEWNAME as the copy (like cp -r); otherwise the
   * destination must be an existing local directory that receives each source by name. */
  int rename_root = recursive && nsrc == 1 && dest_missing;
  if (!rename_root && !dest_is_dir) {
    cli_err("get", "%s: %s (several files go into an existing local directory)", dest,
            dest_missing ? "no such directory" : "not a directory");
    goto out;
  }
  for (size_t i = 0; i < nsrc; i++) {
    const char *rp = srcs[i];
    int is_dir = 0;
    uint64_t size = 0;
    if (remote_stat(ctx, rp, &is_dir, &size)) { nbad++; continue; }
    if (rename_root) snprintf(lp, sizeof lp, "%s", dest);
    else if (cli_basename(rp, base, sizeof base) || cli_join(dest, base, lp, sizeof lp)) {
      cli_err("get", "%s: cannot name a local file after it", rp);
      nbad++;
      continue;
    }
    if (is_dir) {
      if (!recursive) {
        cli_err("get", "%s is a directory: use -r to copy it recursively", rp);
        nbad++;
        continue;
      }
      if (walk_remote(ctx->mc, &l, rp, lp)) goto out;
    } else if (cli_xfer_add_file(&l, rp, lp, size)) {
      cli_err("get", "out of memory");
      goto out;
    }
  }
  for (size_t i = 0; i < l.n_dirs; i++) {
    struct stat st;
    if (mkdir(l.dirs[i], 0777) != 0 && !(errno == EEXIST && stat(l.dirs[i], &st) == 0 &&
                                         S_ISDIR(st.st_mode))) {
      cli_err("get", "%s: cannot create the directory: %s (nothing was downloaded)", l.dirs[i],
              strerror(errno == EEXIST ? ENOTDIR : errno));
      goto out;
    }
  }
  get_batch b;
  memset(&b, 0, sizeof b);
  b.proto_mc = ctx->mc;
  b.list = &l;
  b.quiet = ctx->quiet;
  b.no_clobber = no_clobber;
  size_t nw = parallel < l.n_files ? (size_t)parallel : l.n_files;
  if (nw == 0) nw = 1;
  b.per_file_parallel = parallel / nw ? parallel / nw : 1;
  b.root_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat rst;
  if (b.root_fd >= 0 && fstat(b.root_fd, &rst) == 0) b.root_dev = rst.st_dev;
  else if (b.root_fd >= 0) { close(b.root_fd); b.root_fd = -1; }
  pthread_mutex_init(&b.lock, NULL);
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, &old);  /* inherited by every worker */
  pthread_t waiter;
  int have_waiter = pthread_create(&waiter, NULL, get_sigwaiter, &set) == 0;
  cli_progress_init_multi(&b.prog, "get", l.n_files, l.total_bytes, ctx->quiet);
  uint64_t t0 = dfs_now_ms();
  if (l.n_files) cli_run_pool(nw, get_batch_worker, &b);
  cli_progress_finish(&b.prog);
  if (have_waiter) {
    pthread_kill(waiter, SIGUSR1);
    pthread_join(waiter, NULL);
  }
  int stop = g_stop_sig;
  if (stop) { /* every temp file is gone: now die of the signal, as if unhandled */
    if (b.root_fd >= 0) close(b.root_fd);
    cli_xfer_free(&l);
    signal(stop, SIG_DFL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    raise(stop);
    _exit(128 + stop); /* not reached: the default action of these signals ends us */
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  double secs = (double)(dfs_now_ms() - t0) / 1000.0;
  pthread_mutex_destroy(&b.lock);
  if (b.root_fd >= 0) close(b.root_fd);
  if (!ctx->quiet) {
    char hs[32], rs[32];
    printf("get %zu file%s (%s) -> %s: %zu downloaded in %.2f s (%s, %.0f files/s)\n",
           l.n_files, l.n_files == 1 ? "" : "s", dfs_human_size(l.total_bytes, hs, sizeof hs),
           dest, l.n_files - b.nfailed, secs, cli_rate_string(l.total_bytes, secs, rs, sizeof rs),
           secs > 0 ? (double)(l.n_files - b.nfailed) / secs : 0.0);
    fflush(stdout);
  }
  if (b.nfailed || nbad) {
    cli_err("get", "%zu of %zu file%s failed (each named above); the others were downloaded",
            b.nfailed + nbad, l.n_files + nbad, l.n_files + nbad == 1 ? "" : "s");
    goto out;
  }
  ret = CLI_OK;
out:
  cli_xfer_free(&l);
  return ret;
}

int cli_cmd_get(cli_ctx *ctx, int argc, char **argv) {
  static const cli_opt_spec specs[] = {{"parallel", 'P', 1}, {"recursive", 'r', 0}, {NULL, 'R', 0},
                                       {"no-clobber", 'n', 0}, {"force", 'f', 0}};
  cli_opt_val v[5];
  const char **pos = calloc((size_t)argc + 1, sizeof *pos);
  if (!pos) { cli_err("get", "out of memory"); return CLI_FAIL; }
  size_t npos;
  int ret = CLI_FAIL;
  cli_glob_list g;
  cli_glob_init(&g);
  int rc = cli_command_args("get", argc, argv, specs, 5, v, pos, (size_t)argc, &npos, 1,
                            "REMOTE file");
  if (rc != CLI_CONTINUE) { ret = rc; goto out; }
  uint64_t parallel = GET_DEFAULT_PARALLEL;
  if (v[0].present && cli_parse_u64(v[0].value, 1, GET_MAX_PARALLEL, &parallel)) {
    ret = cli_usage_error("get", "--parallel must be 1..%d", GET_MAX_PARALLEL);
    goto out;
  }
  if (v[3].present && v[4].present) {
    ret = cli_usage_error("get", "-n (keep existing local files) and -f (replace them) "
                                 "contradict each other");
    goto out;
  }
  int recursive = v[1].present || v[2].present, no_clobber = !v[4].present;
  size_t nsrc = npos >= 2 ? npos - 1 : 1;
  const char *dest = npos >= 2 ? pos[npos - 1] : NULL;
  char remote[DFS_PATH_MAX + 1], local[DFS_PATH_MAX + 1];
  if (dest && strcmp(dest, "-") == 0) {
    if (recursive || nsrc > 1) {
      ret = cli_usage_error("get", "several files cannot go to stdout ('-')");
      goto out;
    }
    /* one file, its name taken literally: `dfs cat` passes names as they are */
    if (cli_remote_arg(ctx, "get", pos[0], remote)) goto out;
    ret = get_download(ctx->mc, remote, NULL, parallel, NULL, NULL, NULL, ctx->quiet, 0, 0, 0);
    goto out;
  }
  /* Every pattern is expanded before anything is downloaded. */
  if (cli_remote_glob_all(ctx, "get", pos, nsrc, &g)) goto out;
  if (recursive || g.n > 1 || nsrc > 1) {
    ret = get_batch_run(ctx, recursive, g.paths, g.n, dest ? dest : ".", parallel, no_clobber);
    goto out;
  }
  snprintf(remote, sizeof remote, "%s", g.paths[0]);
  rc = cli_get_dest(remote, dest, cli_local_isdir, NULL, local, sizeof local);
  if (rc) {
    cli_err("get", "%s: cannot name a local file after it (give LOCAL)", remote);
    goto out;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  ret = get_download(ctx->mc, remote, local, parallel, NULL, NULL, NULL, ctx->quiet, 0, 0,
                     no_clobber);
out:
  cli_glob_free(&g);
  free(pos);
  return ret;
}
