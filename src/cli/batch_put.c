/* The multi-file `dfs put` (`put F1 F2 ... DIR`, `put -r LOCALDIR [REMOTEDIR]`): builds
 * the list (local tree walk), creates the remote directories, learns which destinations
 * exist (one ListReq per directory with many files), then K workers, each with its own
 * metad and chunkserver connections, upload and commit whole files (put_upload), sharing
 * one allocation pool. Each file is committed on its own; failures are named. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/batch.h"
#include "cli/ns_cmds.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/put_file.h"
#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/path.h"
#include "common/util.h"

typedef struct {
  const put_opts *o;
  const meta_client *proto_mc; /* copied per worker: one metad connection each */
  cli_xfer_list *list;
  uint64_t per_file_parallel;
  int64_t *known;              /* per file: PUT_KNOWN_* or the existing file's mode */
  cli_progress prog;
  put_pool pool;
  pthread_mutex_t lock;        /* guards next, nfailed, sent */
  size_t next, nfailed;
  uint64_t sent;
} put_batch;

#define PUT_KNOWN_UNKNOWN (-1) /* not listed: StatReq it */
#define PUT_KNOWN_ABSENT (-2)
#define PUT_KNOWN_DIR (-3)
#define PUT_LIST_MIN 16        /* files into one directory before we list it instead */

/* remote_existing for file i, from the directory listing when there is one. */
static int put_known_existing(put_batch *b, size_t i, meta_client *mc, uint32_t *existing) {
  const char *dst = b->list->files[i].dst;
  int64_t k = b->known ? b->known[i] : PUT_KNOWN_UNKNOWN;
  if (k == PUT_KNOWN_UNKNOWN) return put_remote_existing(mc, dst, b->o->no_clobber, existing);
  if (k == PUT_KNOWN_DIR) {
    cli_err("put", "%s: is a directory on the cluster (give a file name, or remove it)", dst);
    return CLI_FAIL;
  }
  if (k >= 0) {
    if (b->o->no_clobber) {
      cli_err("put", "%s: already exists (--no-clobber given; drop it to replace the file)", dst);
      return CLI_FAIL;
    }
    *existing = (uint32_t)k & 0777;
  }
  return 0;
}

static int entry_by_name(const void *a, const void *b) {
  return strcmp((*(Dfs__Entry *const *)a)->name, (*(Dfs__Entry *const *)b)->name);
}

/* Fills b->known: for each run of >= PUT_LIST_MIN consecutive files with the same parent,
 * one ListReq of that parent replaces their StatReqs (the commit still decides: a file
 * that appears meanwhile is replaced, or refused with --no-clobber). Best effort: a
 * failed listing leaves its files PUT_KNOWN_UNKNOWN. */
static void put_list_parents(put_batch *b, meta_client *mc) {
  cli_xfer_list *l = b->list;
  b->known = malloc((l->n_files ? l->n_files : 1) * sizeof *b->known);
  if (!b->known) return;
  for (size_t i = 0; i < l->n_files; i++) b->known[i] = PUT_KNOWN_UNKNOWN;
  char parent[DFS_PATH_MAX + 1], next[DFS_PATH_MAX + 1];
  for (size_t i = 0; i < l->n_files;) {
    if (!dfs_path_split(l->files[i].dst, parent)) { i++; continue; }
    size_t end = i + 1;
    while (end < l->n_files && dfs_path_split(l->files[end].dst, next) && !strcmp(next, parent))
      end++;
    if (end - i >= PUT_LIST_MIN) {
      Dfs__ListReq req = DFS__LIST_REQ__INIT;
      req.path = parent;
      ProtobufCMessage *m = NULL;
      char err[512];
      int rc = meta_call(mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base,
                         &dfs__list_rep__descriptor, &m, err, sizeof err);
      Dfs__ListRep *rep = (Dfs__ListRep *)m;
      int usable = rc == 0;
      for (size_t k = 0; usable && k < rep->n_entries; k++)
        usable = rep->entries[k] && rep->entries[k]->name;
      if (usable) {
        if (rep->n_entries)
          qsort(rep->entries, rep->n_entries, sizeof *rep->entries, entry_by_name);
        for (size_t f = i; f < end; f++) {
          const char *base = strrchr(l->files[f].dst, '/') + 1;
          Dfs__Entry key = DFS__ENTRY__INIT, *kp = &key;
          key.name = (char *)base;
          Dfs__Entry **hit = rep->n_entries ? bsearch(&kp, rep->entries, rep->n_entries,
                                                      sizeof *rep->entries, entry_by_name)
                                            : NULL;
          if (!hit) b->known[f] = PUT_KNOWN_ABSENT;
          else if ((*hit)->type == DFS__ENTRY_TYPE__ENTRY_DIR) b->known[f] = PUT_KNOWN_DIR;
          else b->known[f] = (int64_t)((*hit)->mode & 0777);
        }
      }
      if (m) protobuf_c_message_free_unpacked(m, NULL);
    }
    i = end;
  }
}

static void *put_batch_worker(void *arg) {
  put_batch *b = arg;
  cli_xfer_worker w;
  cli_xfer_worker_init(&w, b->proto_mc);
  for (;;) {
    pthread_mutex_lock(&b->lock);
    size_t i = b->next < b->list->n_files ? b->next++ : SIZE_MAX;
    pthread_mutex_unlock(&b->lock);
    if (i == SIZE_MAX) break;
    cli_xfer_item *it = &b->list->files[i];
    uint64_t size = 0, sent = 0;
    uint32_t existing = UINT32_MAX;
    int ok = 0;
    if (!w.buf) cli_err("put", "%s: out of memory", it->src);
    else {
      int fd = put_open_local(it->src, &size);
      if (fd >= 0) {
        if (put_known_existing(b, i, &w.mc, &existing) == 0)
          ok = put_upload(&w.mc, b->o, it->src, fd, size, it->dst, existing, b->per_file_parallel,
                          &w.cc, w.buf, &b->prog, &b->pool, &sent) == CLI_OK;
        close(fd);
      }
    }
    if (ok) cli_progress_file_done(&b->prog, it->src, size);
    pthread_mutex_lock(&b->lock);
    if (!ok) { it->failed = 1; b->nfailed++; }
    b->sent += sent;
    pthread_mutex_unlock(&b->lock);
  }
  cli_xfer_worker_free(&w);
  return NULL;
}

/* Stat of a resolved remote path: 1 directory, 0 missing, 2 a file, < 0 error (printed). */
static int remote_kind(cli_ctx *ctx, const char *path) {
  Dfs__StatRep *st = NULL;
  int rc = cli_stat(ctx, "put", path, 1, &st);
  if (rc) return rc == DFS_ENOENT ? 0 : rc;
  int dir = st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  dfs__stat_rep__free_unpacked(st, NULL);
  return dir ? 1 : 2;
}

int put_batch_run(cli_ctx *ctx, const put_opts *o, int recursive, const char **pos,
                         size_t npos, uint64_t parallel) {
  cli_xfer_list l;
  cli_xfer_init(&l);
  int ret = CLI_FAIL;
  size_t nsrc = npos >= 2 ? npos - 1 : npos, skipped = 0, nbad = 0;
  char dest[DFS_PATH_MAX + 1], rp[DFS_PATH_MAX + 1], base[DFS_NAME_MAX + 1];
  int dest_kind;
  if (npos >= 2) {
    if (cli_remote_arg(ctx, "put", pos[npos - 1], dest)) goto out;
    dest_kind = remote_kind(ctx, dest);
    if (dest_kind < 0) goto out;
  } else {
    const char *user = cli_user(ctx);
    if (user) {
      if (cli_home_dir(user, dest, sizeof dest)) { cli_err("put", "invalid user name"); goto out; }
    } else {
      snprintf(dest, sizeof dest, "/");
    }
    dest_kind = 1;
  }
  /* `put -r LOCALDIR NEWNAME` creates NEWNAME as the copy (like cp -r); otherwise the
   * destination must be an existing directory that receives each source by name. */
  int rename_root = recursive && nsrc == 1 && dest_kind == 0;
  if (!rename_root && dest_kind != 1) {
    if (dest_kind == 0)
      cli_err("put", "%s: no such directory (several files go into an existing directory: "
              "create it with 'dfs mkdir -p %s')", dest, dest);
    else
      cli_err("put", "%s: is a file, not a directory (several files go into a directory)", dest);
    goto out;
  }
  for (size_t i = 0; i < nsrc; i++) {
    const char *src = pos[i];
    struct stat st;
    if (stat(src, &st) != 0) {
      cli_err("put", "%s: %s", src, strerror(errno));
      nbad++;
      continue;
    }
    if (rename_root) snprintf(rp, sizeof rp, "%s", dest);
    else if (cli_basename(src, base, sizeof base) || cli_join(dest, base, rp, sizeof rp)) {
      cli_err("put", "%s: cannot name a remote file after it", src);
      nbad++;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (!recursive) {
        cli_err("put", "%s is a directory: use -r to copy it recursively", src);
        nbad++;
        continue;
      }
      if (cli_walk_local(&l, "put", src, rp, &skipped)) goto out;
    } else if (S_ISREG(st.st_mode)) {
      if (cli_xfer_add_file(&l, src, rp, (uint64_t)st.st_size)) { cli_err("put", "out of memory"); goto out; }
    } else {
      cli_err("put", "%s: not a regular file", src);
      nbad++;
    }
  }
  /* Directories first, parents before children (one durable mkdir each). */
  for (size_t i = 0; i < l.n_dirs; i++) {
    Dfs__MkdirReq req = DFS__MKDIR_REQ__INIT;
    req.path = l.dirs[i];
    req.parents = 1;
    req.mode = 0755;
    req.request_id = dfs_random_u64();
    ProtobufCMessage *m = NULL;
    char err[768];
    int rc = meta_call(ctx->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, &req.base,
                       &dfs__mkdir_rep__descriptor, &m, err, sizeof err);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (rc) {
      meta_report_path(ctx->mc, "put", l.dirs[i], rc, err);
      cli_err("put", "stopped before uploading any file: directory %s could not be created",
              l.dirs[i]);
      goto out;
    }
  }
  put_batch b;
  memset(&b, 0, sizeof b);
  b.o = o;
  b.proto_mc = ctx->mc;
  b.list = &l;
  size_t nw = parallel < l.n_files ? (size_t)parallel : l.n_files;
  if (nw == 0) nw = 1;
  b.per_file_parallel = parallel / nw ? parallel / nw : 1;
  pthread_mutex_init(&b.lock, NULL);
  pthread_mutex_init(&b.pool.lock, NULL);
  for (size_t i = 0; i < l.n_files; i++)
    b.pool.left += (l.files[i].size + DFS_CHUNK_SIZE - 1) / DFS_CHUNK_SIZE;
  b.pool.cap = b.pool.left > PUT_POOL_BATCH ? PUT_POOL_BATCH : b.pool.left ? b.pool.left : 1;
  b.pool.a = calloc(b.pool.cap, sizeof *b.pool.a);
  if (!b.pool.a) {
    cli_err("put", "out of memory");
    pthread_mutex_destroy(&b.lock);
    pthread_mutex_destroy(&b.pool.lock);
    free(b.known);
    goto out;
  }
  uint64_t t0 = dfs_now_ms();
  put_list_parents(&b, ctx->mc);
  cli_progress_init_multi(&b.prog, "put", l.n_files, l.total_bytes, o->quiet);
  if (l.n_files) cli_run_pool(nw, put_batch_worker, &b);
  cli_progress_finish(&b.prog);
  double secs = (double)(dfs_now_ms() - t0) / 1000.0;
  pthread_mutex_destroy(&b.lock);
  free(b.known);
  put_pool_release(&b.pool);
  pthread_mutex_destroy(&b.pool.lock);
  if (!o->quiet) {
    char hs[32], ss[32], rs[32];
    printf("put %zu file%s (%s, sent %s) -> %s: %zu uploaded in %.2f s (%s, %.0f files/s)\n",
           l.n_files, l.n_files == 1 ? "" : "s", dfs_human_size(l.total_bytes, hs, sizeof hs),
           dfs_human_size(b.sent, ss, sizeof ss), dest, l.n_files - b.nfailed, secs,
           cli_rate_string(b.sent, secs, rs, sizeof rs),
           secs > 0 ? (double)(l.n_files - b.nfailed) / secs : 0.0);
    fflush(stdout);
  }
  if (b.nfailed || nbad) {
    cli_err("put", "%zu of %zu file%s failed (each named above); the others were uploaded "
            "and committed", b.nfailed + nbad, l.n_files + nbad,
            l.n_files + nbad == 1 ? "" : "s");
    goto out;
  }
  ret = CLI_OK;
out:
  cli_xfer_free(&l);
  return ret;
}

