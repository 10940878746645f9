/* fsm: apply, snapshot and restore of metad's state (fsm.h).
 * Invariants: (1) every chunk id referenced by a file is in the chunk table with refs =
 * number of references; (2) every chunk id in the table is <= ids_reserved; (3) each
 * request id appears at most once in the result ring and res_idx maps it to its slot;
 * (4) apply depends only on the state and the entry bytes (no clocks, no randomness);
 * (5) namespace ops are permission-checked here, at apply time, against the acting user
 * carried in the op (perm.h), so every replica refuses the same ops whatever happened
 * between the request and its entry. */
#include "metad/fsm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/path.h"
#include "metad/perm.h"

#define SNAP_MAGIC 0x314e534du /* "MSN1" */
#define SNAP_VERSION 5 /* 2: results val2, chunk crc64 section, trash;
                          3: results digest, retired chunk ids, quotas;
                          4: every file node (tree and trash) ends with its client
                             attributes (NS_DEC_ATTRS); v1..3 load with none;
                          5: nodes of kind 2 are symbolic links (NS_DEC_LINKS); v1..4
                             load (they cannot hold any) */

/* Tells the change feed that path changed (apply only, after the change). */
static void changed(fsm_t *f, const char *path) {
  if (f->changes) changes_add(f->changes, path);
}

static void oom_abort(void) {
  LOG_ERROR("out of memory while applying a log entry; exiting to keep replicas consistent");
  abort();
}

fsm_t *fsm_new(size_t results_cap) {
  fsm_t *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->ns = ns_new();
  f->res_cap = results_cap ? results_cap : FSM_RESULTS_DEFAULT;
  f->res = calloc(f->res_cap, sizeof *f->res);
  chunks_init(&f->chunks);
  servers_init(&f->servers);
  u64map_init(&f->res_idx);
  trash_init(&f->trash);
  if (!f->ns || !f->res) {
    fsm_free(f);
    return NULL;
  }
  return f;
}

static void free_results(fsm_t *f) {
  for (size_t i = 0; i < f->res_cap && f->res; i++) free(f->res[i].msg);
  free(f->res);
  f->res = NULL;
  u64map_free(&f->res_idx);
}

static void quotas_free(fsm_t *f) {
  for (size_t i = 0; i < f->nquotas; i++) free(f->quotas[i].user);
  free(f->quotas);
  f->quotas = NULL;
  f->nquotas = 0;
}

void fsm_free(fsm_t *f) {
  if (!f) return;
  quotas_free(f);
  free(f->retired);
  u64map_free(&f->retired_idx);
  trash_free(&f->trash, NULL);
  ns_free(f->ns);
  chunks_free(&f->chunks);
  servers_free(&f->servers);
  for (size_t i = 0; i < f->nmetas; i++) free(f->metas[i].addr);
  free(f->metas);
  free_results(f);
  free(f);
}

const fsm_result *fsm_result_get(const fsm_t *f, uint64_t rid) {
  uint64_t slot;
  if (!u64map_get(&f->res_idx, rid, &slot)) return NULL;
  return &f->res[slot];
}

int fsm_result_matches(const fsm_result *r, uint64_t digest) {
  return r->digest == 0 || r->digest == digest;
}

const fsm_quota *fsm_quota_get(const fsm_t *f, const char *user) {
  for (size_t i = 0; i < f->nquotas; i++)
    if (!strcmp(f->quotas[i].user, user)) return &f->quotas[i];
  return NULL;
}

int fsm_quota_check(const fsm_t *f, const char *owner, uint64_t de, uint64_t db, char *msg,
                    size_t msgsz) {
  const fsm_quota *q = owner ? fsm_quota_get(f, owner) : NULL;
  if (!q || (!de && !db)) return 0;
  uint64_t e, b;
  ns_usage_of(f->ns, owner, &e, &b);
  if (q->max_bytes && b + db > q->max_bytes) {
    snprintf(msg, msgsz,
             "quota exceeded: %s uses %llu of %llu bytes and this needs %llu more (free space "
             "with dfs rm and dfs trash empty, or ask an administrator)",
             owner, (unsigned long long)b, (unsigned long long)q->max_bytes,
             (unsigned long long)db);
    return DFS_EQUOTA;
  }
  if (q->max_entries && e + de > q->max_entries) {
    snprintf(msg, msgsz,
             "quota exceeded: %s has %llu of %llu files and directories and this needs %llu "
             "more (remove some, empty the trash, or ask an administrator)",
             owner, (unsigned long long)e, (unsigned long long)q->max_entries,
             (unsigned long long)de);
    return DFS_EQUOTA;
  }
  return 0;
}

/* Sets (or with both limits 0 removes) user's quota. */
static void quota_set(fsm_t *f, const char *user, uint64_t max_bytes, uint64_t max_entries) {
  for (size_t i = 0; i < f->nquotas; i++)
    if (!strcmp(f->quotas[i].user, user)) {
      if (!max_bytes && !max_entries) {
        free(f->quotas[i].user);
        f->quotas[i] = f->quotas[--f->nquotas];
      } else {
        f->quotas[i].max_bytes = max_bytes;
        f->quotas[i].max_entries = max_entries;
      }
      return;
    }
  if (!max_bytes && !max_entries) return;
  fsm_quota *nq = realloc(f->quotas, (f->nquotas + 1) * sizeof *nq);
  if (!nq) oom_abort();
  f->quotas = nq;
  if (!(nq[f->nquotas].user = strdup(user))) oom_abort();
  nq[f->nquotas].max_bytes = max_bytes;
  nq[f->nquotas].max_entries = max_entries;
  f->nquotas++;
}

static int apply_set_quota(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  if (!(op->flag & OPF_ADMIN) && *op->str) {
    snprintf(msg, msgsz, "only an administrator may set quotas");
    return DFS_EPERM;
  }
  size_t n = strlen(op->path2);
  if (!n || n > 64 || dfs_name_check(op->path2, n, NULL)) {
    snprintf(msg, msgsz, "invalid user name for a quota");
    return DFS_EINVAL;
  }
  quota_set(f, op->path2, op->a, op->b);
  return 0;
}

int fsm_is_retired(const fsm_t *f, uint64_t id) {
  return u64map_get(&f->retired_idx, id, NULL);
}

/* Forgets retired ids older than FSM_RETIRED_KEEP_NS before now_ns. */
static void retired_prune(fsm_t *f, int64_t now_ns) {
  while (f->retired_n) {
    fsm_retired *r = &f->retired[f->retired_head];
    if (now_ns - r->at_ns <= FSM_RETIRED_KEEP_NS) break;
    u64map_del(&f->retired_idx, r->id);
    f->retired_head = (f->retired_head + 1) % f->retired_cap;
    f->retired_n--;
  }
}

/* The parent directory of path, which the user must be able to write and search (*dir),
 * and the entry there (*n, NULL if none): perm_lookup_parent, except that "/" (which has
 * no parent) answers root_err with "/ <root_what>". */
static int lookup_parent_to_write(fsm_t *f, const char *path, const char *user, int admin,
                                  ns_inode **dir, ns_inode **n, int root_err,
                                  const char *root_what, char *msg, size_t msgsz) {
  int rc = perm_lookup_parent(f->ns, path, user, admin, PERM_W | PERM_X, dir, n, msg, msgsz);
  if (rc == DFS_EINVAL) {
    snprintf(msg, msgsz, "/ %s", root_what);
    return root_err;
  }
  return rc;
}

/* Remembers id as retired at at_ns (the ring grows as needed). */
static void retire(fsm_t *f, uint64_t id, int64_t at_ns) {
  if (u64map_get(&f->retired_idx, id, NULL)) return;
  if (f->retired_n == f->retired_cap) {
    size_t nc = f->retired_cap ? f->retired_cap * 2 : 1024;
    fsm_retired *nr = malloc(nc * sizeof *nr);
    if (!nr) oom_abort();
    for (size_t i = 0; i < f->retired_n; i++)
      nr[i] = f->retired[(f->retired_head + i) % f->retired_cap];
    free(f->retired);
    f->retired = nr;
    f->retired_cap = nc;
    f->retired_head = 0;
  }
  f->retired[(f->retired_head + f->retired_n) % f->retired_cap] = (fsm_retired){id, at_ns};
  f->retired_n++;
  if (u64map_put(&f->retired_idx, id, 1)) oom_abort();
}

const char *fsm_meta_addr(const fsm_t *f, uint64_t raft_id) {
  for (size_t i = 0; i < f->nmetas; i++)
    if (f->metas[i].raft_id == raft_id) return f->metas[i].addr;
  return NULL;
}

/* Records a result, evicting the oldest when the ring is full. msg is copied. */
static void record(fsm_t *f, uint64_t rid, int err, uint64_t val, uint64_t val2,
                   uint64_t digest, const char *msg) {
  size_t slot;
  if (f->res_count == f->res_cap) {
    slot = f->res_head;
    u64map_del(&f->res_idx, f->res[slot].rid);
    free(f->res[slot].msg);
    f->res_head = (f->res_head + 1) % f->res_cap;
    f->res_count--;
  }
  slot = (f->res_head + f->res_count) % f->res_cap;
  f->res[slot].rid = rid;
  f->res[slot].err = err;
  f->res[slot].val = val;
  f->res[slot].val2 = val2;
  f->res[slot].digest = digest;
  f->res[slot].msg = NULL;
  if (err && msg && *msg && !(f->res[slot].msg = strdup(msg))) oom_abort();
  if (u64map_put(&f->res_idx, rid, slot)) oom_abort();
  f->res_count++;
}

/* ---- ops ---- */

static void on_garbage(void *ud, uint64_t id, uint64_t server) {
  servers_queue_delete(&((fsm_t *)ud)->servers, server, id);
}
static void on_unref(void *ud, uint64_t id) {
  fsm_t *f = ud;
  chunks_decref(&f->chunks, id, on_garbage, f);
  if (!chunks_get(&f->chunks, id)) retire(f, id, f->now_ns);
}

/* Every chunk marked reuse must be a chunk of old (the file being replaced) with equal
 * version, length, crc32c and a known, equal crc64. */
static int check_reuse(fsm_t *f, const ops_op *op, const ns_inode *old, char *msg,
                       size_t msgsz) {
  int rc = 0;
  u64map olds; /* the replaced file's chunk ids, built at the first reused chunk */
  u64map_init(&olds);
  int built = 0;
  for (uint32_t i = 0; i < op->nchunks && !rc; i++) {
    ops_chunk c = ops_chunk_at(op, i);
    if (!c.reuse) continue;
    if (!built && old && !old->is_dir) {
      for (uint32_t k = 0; k < old->u.file.nchunks; k++)
        if (u64map_put(&olds, ns_file_chunks(old)[k], 1)) oom_abort();
      built = 1;
    }
    const chunk_ent *ce = u64map_get(&olds, c.id, NULL) ? chunks_get(&f->chunks, c.id) : NULL;
    if (!ce) {
      snprintf(msg, msgsz,
               "chunk %llu cannot be reused: it is not part of the file being replaced at %s "
               "(upload it again)",
               (unsigned long long)c.id, op->path);
      rc = DFS_EINVAL;
    } else if (!c.crc64 || ce->crc64 != c.crc64 || ce->version != c.version ||
               ce->length != c.length || ce->crc32c != c.crc32c) {
      snprintf(msg, msgsz,
               "chunk %llu cannot be reused: its version, length or checksums differ "
               "(upload it again)",
               (unsigned long long)c.id);
      rc = DFS_EINVAL;
    }
  }
  u64map_free(&olds);
  return rc;
}

static int apply_commit(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int rc = ns_check_path(op->path, msg, msgsz);
  if (rc) return rc;
  uint64_t total = 0;
  u64map seen;
  u64map_init(&seen);
  uint64_t *ids = NULL;
  if (op->nchunks && !(ids = malloc((size_t)op->nchunks * sizeof *ids))) oom_abort();
  for (uint32_t i = 0; i < op->nchunks; i++) {
    ops_chunk c = ops_chunk_at(op, i);
    int last = i + 1 == op->nchunks;
    if (c.length == 0 || c.length > DFS_CHUNK_SIZE || (!last && c.length != DFS_CHUNK_SIZE)) {
      snprintf(msg, msgsz, "chunk %u has length %u: every chunk but the last must be %u bytes, the last 1..%u",
               i, c.length, DFS_CHUNK_SIZE, DFS_CHUNK_SIZE);
      rc = DFS_EINVAL;
      goto out;
    }
    if (c.id == 0 || c.id > f->ids_reserved) {
      snprintf(msg, msgsz, "chunk id %llu was never allocated", (unsigned long long)c.id);
      rc = DFS_EINVAL;
      goto out;
    }
    if (!c.reuse && fsm_is_retired(f, c.id)) {
      snprintf(msg, msgsz, "chunk id %llu belonged to a deleted file or was collected as "
               "garbage (an upload idle for longer than gc.orphan_grace) and cannot be used "
               "again: upload the file again", (unsigned long long)c.id);
      rc = DFS_EEXIST;
      goto out;
    }
    if ((!c.reuse && chunks_get(&f->chunks, c.id)) || u64map_get(&seen, c.id, NULL)) {
      snprintf(msg, msgsz, "chunk id %llu is already part of a file", (unsigned long long)c.id);
      rc = DFS_EEXIST;
      goto out;
    }
    if (c.version == 0) {
      snprintf(msg, msgsz, "chunk %llu has version 0", (unsigned long long)c.id);
      rc = DFS_EINVAL;
      goto out;
    }
    if (u64map_put(&seen, c.id, 1)) oom_abort();
    total += c.length;
    ids[i] = c.id;
  }
  if (total != op->size) {
    snprintf(msg, msgsz, "size %llu does not match the chunks' total length %llu",
             (unsigned long long)op->size, (unsigned long long)total);
    rc = DFS_EINVAL;
    goto out;
  }
  ns_inode *dir, *old;
  int admin = (op->flag & OPF_ADMIN) != 0, overwrite = (op->flag & OPF_MAIN) != 0;
  rc = lookup_parent_to_write(f, op->path, op->str, admin, &dir, &old,
                              DFS_EISDIR, "is a directory", msg, msgsz);
  if (rc) goto out;
  if (old && !old->is_dir && overwrite && perm_check(op->str, admin, old, PERM_W)) {
    perm_denied_msg(msg, msgsz, op->path, strlen(op->path), old);
    rc = DFS_EPERM;
    goto out;
  }
  if ((rc = ns_put_check(f->ns, op->path, overwrite, &old, msg, msgsz))) goto out;
  if ((rc = check_reuse(f, op, old, msg, msgsz))) goto out;
  { /* the file's owner grows (a replaced file keeps its owner) */
    const char *owner = old ? (old->owner ? old->owner : "") : op->str;
    uint64_t old_size = old ? old->u.file.size : 0;
    if ((rc = fsm_quota_check(f, owner, old ? 0 : 1,
                              op->size > old_size ? op->size - old_size : 0, msg, msgsz)))
      goto out;
  }
  uint8_t goal = (uint8_t)(op->replicas > 255 ? 255 : op->replicas);
  for (uint32_t i = 0; i < op->nchunks; i++) {
    ops_chunk c = ops_chunk_at(op, i);
    chunk_ent *ce;
    if (c.reuse) { /* shared with the file being replaced: its decref comes after */
      ce = chunks_get(&f->chunks, c.id);
      ce->refs++;
      if (goal > ce->goal) ce->goal = goal;
      continue;
    }
    if (chunks_add(&f->chunks, c.id, c.version, c.length, c.crc32c)) oom_abort();
    ce = chunks_get(&f->chunks, c.id);
    ce->goal = goal;
    ce->crc64 = c.crc64;
  }
  /* a replaced file keeps its owner and mode (like writing into it); ns_put_file copies
   * the owner string before it frees the old inode */
  rc = ns_put_file(f->ns, op->path, overwrite, old ? old->mode : op->mode,
                   old ? old->owner : op->str, op->mtime_ns, op->size, op->replicas, ids,
                   op->nchunks, on_unref, f, msg, msgsz);
  if (rc) oom_abort(); /* checked above: only OOM can fail here */
  ids = NULL;
  if (op->attrs_len) { /* the new inode starts without: the replaced file's attrs went
                          with it, so a commit without attrs leaves none */
    ns_inode *nf;
    if (ns_lookup(f->ns, op->path, &nf, msg, msgsz) ||
        ns_set_attrs(f->ns, nf, op->attrs, op->attrs_len))
      oom_abort();
  }
out:
  free(ids);
  u64map_free(&seen);
  return rc;
}

static void set_meta_addr(fsm_t *f, uint64_t raft_id, const char *addr) {
  for (size_t i = 0; i < f->nmetas; i++)
    if (f->metas[i].raft_id == raft_id) {
      char *a = strdup(addr);
      if (!a) oom_abort();
      free(f->metas[i].addr);
      f->metas[i].addr = a;
      return;
    }
  fsm_meta *nm = realloc(f->metas, (f->nmetas + 1) * sizeof *nm);
  if (!nm) oom_abort();
  f->metas = nm;
  f->metas[f->nmetas].raft_id = raft_id;
  if (!(f->metas[f->nmetas].addr = strdup(addr))) oom_abort();
  f->nmetas++;
}

static int apply_mkdir(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int rc = ns_check_path(op->path, msg, msgsz);
  int admin = (op->flag & OPF_ADMIN) != 0, parents = (op->flag & OPF_MAIN) != 0;
  if (rc) return rc;
  if (parents) {
    rc = perm_check_mkdir_p(f->ns, op->path, op->str, admin, msg, msgsz);
  } else {
    ns_inode *dir, *old;
    rc = lookup_parent_to_write(f, op->path, op->str, admin, &dir, &old,
                                DFS_EEXIST, "already exists", msg, msgsz);
  }
  if (rc) return rc;
  /* the entries this mkdir makes: the missing components of the path (one without -p) */
  uint64_t missing = 0;
  size_t top_len = 0; /* the first missing component ends here: what the feed is told */
  const ns_inode *cur = f->ns->root;
  for (const char *p = op->path + 1; *p && cur;) {
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    cur = ns_child(cur, p, len);
    top_len = (size_t)(p + len - op->path);
    p = e ? e + 1 : p + len;
    if (!cur) {
      missing = 1;
      for (const char *q = p; *q; q++) missing += *q == '/';
      if (*p) missing++;
    }
  }
  if ((rc = fsm_quota_check(f, op->str, missing, 0, msg, msgsz))) return rc;
  rc = ns_mkdir(f->ns, op->path, parents, op->mode, op->str, op->mtime_ns, msg, msgsz);
  if (!rc && missing && f->changes) {
    char top[DFS_PATH_MAX + 1];
    memcpy(top, op->path, top_len);
    top[top_len] = 0;
    changed(f, top);
  }
  return rc;
}

static int apply_chmod(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int rc = ns_check_path(op->path, msg, msgsz);
  int admin = (op->flag & OPF_ADMIN) != 0;
  ns_inode *n;
  if (rc) return rc;
  if ((rc = perm_lookup(f->ns, op->path, op->str, admin, &n, msg, msgsz))) return rc;
  if (op->mode > 0777) {
    snprintf(msg, msgsz, "mode %o is out of range 0..0777", op->mode);
    return DFS_EINVAL;
  }
  const char *owner = n->owner ? n->owner : "";
  if (!perm_is_super(op->str, admin) && strcmp(owner, op->str)) {
    size_t len = strlen(op->path);
    perm_denied_msg(msg, msgsz, op->path, len, n);
    size_t used = strlen(msg);
    snprintf(msg + used, msgsz - used, ": only the owner or an administrator may change it");
    return DFS_EPERM;
  }
  n->mode = op->mode;
  return 0;
}

/* Valid user names are single path components (authd allows [a-z0-9_-]). */
static int apply_mkhome(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  size_t n = strlen(op->str);
  if (!n || n > 64 || dfs_name_check(op->str, n, NULL) || strchr(op->str, '/')) {
    snprintf(msg, msgsz, "invalid user name for a home directory");
    return DFS_EINVAL;
  }
  ns_inode *root = f->ns->root, *home = ns_child(root, "home", 4);
  if (!root->owner && ns_set_owner(f->ns, root, PERM_ADMIN_OWNER)) return DFS_ENOMEM;
  int rc;
  if (!home) {
    rc = ns_mkdir(f->ns, "/home", 0, 0755, PERM_ADMIN_OWNER, op->mtime_ns, msg, msgsz);
    if (rc) return rc;
    changed(f, "/home");
    home = ns_child(root, "home", 4);
  }
  if (!home->is_dir) {
    snprintf(msg, msgsz, "/home is a file, not a directory");
    return DFS_ENOTDIR;
  }
  if (ns_child(home, op->str, n)) return 0; /* exists (whatever it is): nothing to do */
  char path[80];
  snprintf(path, sizeof path, "/home/%s", op->str);
  rc = ns_mkdir(f->ns, path, 0, 0700, op->str, op->mtime_ns, msg, msgsz);
  if (!rc) changed(f, path);
  return rc;
}

/* ---- issue 4: rename, copy, setrep, touch, trash ---- */

static const char *last_name(const char *path, size_t *len) {
  const char *s = strrchr(path, '/');
  s = s ? s + 1 : path;
  *len = strlen(s);
  return s;
}

static void on_ref(void *ud, uint64_t id) {
  chunk_ent *ce = chunks_get(&((fsm_t *)ud)->chunks, id);
  if (ce) ce->refs++;
}

/* The checks of a delete (DELETE and TRASH): w+x on the parent, and for a recursive
 * directory delete r+w+x on every non-empty directory below. *out = the entry. */
static int delete_target(fsm_t *f, const ops_op *op, ns_inode **out, char *msg,
                         size_t msgsz) {
  int rc = ns_check_path(op->path, msg, msgsz);
  int admin = (op->flag & OPF_ADMIN) != 0, recursive = (op->flag & OPF_MAIN) != 0;
  if (rc) return rc;
  ns_inode *dir, *n;
  rc = lookup_parent_to_write(f, op->path, op->str, admin, &dir, &n,
                              DFS_EINVAL, "cannot be deleted", msg, msgsz);
  if (rc) return rc;
  if (!n) {
    snprintf(msg, msgsz, "%s does not exist", op->path);
    return DFS_ENOENT;
  }
  if (n->is_dir && n->u.dir.count && !recursive) {
    snprintf(msg, msgsz, "directory %s is not empty (delete it recursively: dfs rm -r %s)",
             op->path, op->path);
    return DFS_ENOTEMPTY;
  }
  if (n->is_dir && recursive &&
      (rc = perm_check_subtree(n, op->path, op->str, admin, msg, msgsz)))
    return rc;
  *out = n;
  return 0;
}

static int apply_delete(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  ns_inode *n;
  int rc = delete_target(f, op, &n, msg, msgsz);
  if (rc) return rc;
  return ns_delete(f->ns, op->path, (op->flag & OPF_MAIN) != 0, op->mtime_ns, on_unref, f, msg,
                   msgsz);
}

/* The destination op->path2 of a rename or copy of sn: its parent directory, which the
 * user may write and search, and what is there now (*dn, NULL if nothing); not "/"
 * itself, not inside sn. verb: "move" or "copy" (for the message). */
static int lookup_destination(fsm_t *f, const ops_op *op, int admin, const ns_inode *sn,
                              const char *verb, ns_inode **ddir, ns_inode **dn, char *msg,
                              size_t msgsz) {
  int rc = lookup_parent_to_write(f, op->path2, op->str, admin, ddir, dn,
                                  DFS_EEXIST, "already exists", msg, msgsz);
  if (rc) return rc;
  if (sn->is_dir && ns_is_ancestor(sn, *ddir)) {
    snprintf(msg, msgsz, "cannot %s directory %s into itself (%s)", verb, op->path, op->path2);
    return DFS_EINVAL;
  }
  return 0;
}

static int apply_rename(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int admin = (op->flag & OPF_ADMIN) != 0, overwrite = (op->flag & OPF_MAIN) != 0;
  int rc = ns_check_path(op->path, msg, msgsz);
  if (!rc) rc = ns_check_path(op->path2, msg, msgsz);
  if (rc) return rc;
  ns_inode *sdir, *sn, *ddir, *dn;
  rc = perm_lookup_parent(f->ns, op->path, op->str, admin, PERM_W | PERM_X, &sdir, &sn, msg,
                          msgsz);
  if (rc == DFS_EINVAL) snprintf(msg, msgsz, "/ cannot be moved");
  if (rc) return rc;
  if (!sn) {
    snprintf(msg, msgsz, "%s does not exist", op->path);
    return DFS_ENOENT;
  }
  if ((rc = lookup_destination(f, op, admin, sn, "move", &ddir, &dn, msg, msgsz))) return rc;
  if (dn == sn) return 0; /* same entry: nothing to do */
  if ((rc = ns_check_fits(op->path2, sn, msg, msgsz))) return rc;
  if (dn) {
    if (!dn->is_dir && perm_check(op->str, admin, dn, PERM_W)) {
      /* replacing a file destroys its content: like writing into it */
      perm_denied_msg(msg, msgsz, op->path2, strlen(op->path2), dn);
      return DFS_EPERM;
    }
    if (!overwrite) {
      snprintf(msg, msgsz, "%s already exists (use overwrite to replace it)", op->path2);
      return DFS_EEXIST;
    }
    if (dn->is_dir && !sn->is_dir) {
      snprintf(msg, msgsz, "%s is a directory: a file cannot replace it", op->path2);
      return DFS_EISDIR;
    }
    if (!dn->is_dir && sn->is_dir) {
      snprintf(msg, msgsz, "%s is a file: a directory cannot replace it", op->path2);
      return DFS_ENOTDIR;
    }
    if (dn->is_dir && dn->u.dir.count) {
      snprintf(msg, msgsz, "directory %s is not empty: it cannot be replaced", op->path2);
      return DFS_ENOTEMPTY;
    }
    ns_detach(f->ns, dn, op->mtime_ns);
    ns_free_detached(f->ns, dn, on_unref, f);
  }
  size_t nlen;
  const char *name = last_name(op->path2, &nlen);
  ns_detach(f->ns, sn, op->mtime_ns);
  if (ns_attach(f->ns, ddir, sn, name, nlen, op->mtime_ns)) oom_abort();
  return 0;
}

/* The first entry of the subtree at n (pre-order) that user may not read (r on a file,
 * r+x on a directory), or NULL. Recursion is bounded by the tree's depth; frames are
 * small (the message is built once, by check_readable). */
static const ns_inode *first_unreadable(const ns_inode *n, const char *user, int admin) {
  if (perm_check(user, admin, n, n->is_dir ? PERM_R | PERM_X : PERM_R)) return n;
  if (n->is_dir) { /* by name: the entry named must not depend on the table's history */
    ns_inode **kids;
    if (ns_dir_sorted(n, &kids)) oom_abort();
    const ns_inode *bad = NULL;
    for (uint32_t i = 0; i < n->u.dir.count && !bad; i++) bad = first_unreadable(kids[i], user, admin);
    free(kids);
    return bad;
  }
  return NULL;
}

/* r on every file and r+x on every directory of the subtree (what reading it needs). */
static int check_readable(const ns_inode *n, const char *user, int admin, char *msg,
                          size_t msgsz, const char *path) {
  const ns_inode *bad = first_unreadable(n, user, admin);
  if (!bad) return 0;
  char *p = malloc(DFS_PATH_MAX + 1);
  if (p && ns_path(bad, NULL, p, DFS_PATH_MAX + 1)) snprintf(p, DFS_PATH_MAX + 1, "%s (below)", path);
  if (p) perm_denied_msg(msg, msgsz, p, strlen(p), bad);
  else snprintf(msg, msgsz, "permission denied below %s", path);
  free(p);
  return DFS_EPERM;
}

static int apply_copy(fsm_t *f, const ops_op *op, uint64_t *files, uint64_t *bytes,
                      char *msg, size_t msgsz) {
  int admin = (op->flag & OPF_ADMIN) != 0, overwrite = (op->flag & OPF_MAIN) != 0;
  int rc = ns_check_path(op->path, msg, msgsz);
  if (!rc) rc = ns_check_path(op->path2, msg, msgsz);
  if (rc) return rc;
  ns_inode *sn, *ddir, *dn;
  if ((rc = perm_lookup(f->ns, op->path, op->str, admin, &sn, msg, msgsz))) return rc;
  if (sn->is_dir && !(op->flag & OPF_RECURSIVE)) {
    snprintf(msg, msgsz, "%s is a directory (copy it recursively: dfs cp -r)", op->path);
    return DFS_EISDIR;
  }
  if ((rc = lookup_destination(f, op, admin, sn, "copy", &ddir, &dn, msg, msgsz))) return rc;
  if ((rc = ns_check_fits(op->path2, sn, msg, msgsz))) return rc;
  if (dn) {
    if (!overwrite || sn->is_dir) {
      snprintf(msg, msgsz, "%s already exists%s", op->path2,
               sn->is_dir ? "" : " (use overwrite to replace it)");
      return DFS_EEXIST;
    }
    if (dn->is_dir) {
      snprintf(msg, msgsz, "%s is a directory: a file cannot replace it", op->path2);
      return DFS_EISDIR;
    }
    if (perm_check(op->str, admin, dn, PERM_W)) {
      perm_denied_msg(msg, msgsz, op->path2, strlen(op->path2), dn);
      return DFS_EPERM;
    }
  }
  if ((rc = check_readable(sn, op->str, admin, msg, msgsz, op->path))) return rc;
  { /* the copy belongs to the caller (less what it replaces of the caller's own) */
    uint64_t ce, cb, de = 0, db = 0;
    ns_subtree_usage(sn, &ce, &cb);
    if (dn && dn->owner && !strcmp(dn->owner, op->str)) ns_subtree_usage(dn, &de, &db);
    if ((rc = fsm_quota_check(f, op->str, ce > de ? ce - de : 0, cb > db ? cb - db : 0, msg,
                              msgsz)))
      return rc;
  }
  ns_inode *copy = ns_copy_tree(f->ns, sn, op->str, op->mtime_ns, on_ref, f, files, bytes);
  if (!copy) oom_abort();
  if (dn) { /* after the increfs: a chunk shared by both is never dropped */
    ns_detach(f->ns, dn, op->mtime_ns);
    ns_free_detached(f->ns, dn, on_unref, f);
  }
  size_t nlen;
  const char *name = last_name(op->path2, &nlen);
  if (ns_attach(f->ns, ddir, copy, name, nlen, op->mtime_ns)) oom_abort();
  return 0;
}

/* COMPOSE: dst becomes a file whose chunks are the sources' chunks, in order, shared by
 * reference like COPY (each use is one more ref, so deleting the sources, now or later,
 * frees nothing the new file uses). Every source but the last must be whole chunks: a
 * file's chunks are all DFS_CHUNK_SIZE but its last. Sources are distinct files the user
 * may read (and, with OPF_DELETE_SRCS, delete), none of them dst. Checks everything
 * before changing anything: a refused op leaves the tree as it was. */
static int apply_compose(fsm_t *f, const ops_op *op, uint64_t *size, uint64_t *nch,
                         char *msg, size_t msgsz) {
  int admin = (op->flag & OPF_ADMIN) != 0, overwrite = (op->flag & OPF_MAIN) != 0;
  int del = (op->flag & OPF_DELETE_SRCS) != 0;
  int rc = ns_check_path(op->path, msg, msgsz);
  if (rc) return rc;
  if (op->nsrcs == 0 || op->nsrcs > OPS_COMPOSE_MAX_SRCS) {
    snprintf(msg, msgsz, "compose takes 1..%u sources, not %u", OPS_COMPOSE_MAX_SRCS, op->nsrcs);
    return DFS_EINVAL;
  }
  ns_inode **src = calloc(op->nsrcs, sizeof *src);
  if (!src) oom_abort();
  u64map seen; /* inode addresses: a source named twice */
  u64map_init(&seen);
  uint64_t total = 0, chunks = 0, freed = 0, freed_entries = 0;
  uint32_t goal = 1;
  ns_inode *ddir, *dn;
  size_t off = 0;
  for (uint32_t i = 0; i < op->nsrcs; i++) {
    const char *p = ops_src_next(op, &off);
    ns_inode *pdir, *n;
    if (!p) { rc = DFS_EINVAL; snprintf(msg, msgsz, "source %u is missing", i + 1); goto out; }
    if ((rc = ns_check_path(p, msg, msgsz))) goto out;
    rc = del ? perm_lookup_parent(f->ns, p, op->str, admin, PERM_W | PERM_X, &pdir, &n, msg, msgsz)
             : perm_lookup(f->ns, p, op->str, admin, &n, msg, msgsz);
    if (rc == DFS_EINVAL) snprintf(msg, msgsz, "/ is a directory");
    if (!rc && !n) {
      snprintf(msg, msgsz, "%s does not exist", p);
      rc = DFS_ENOENT;
    }
    if (rc) goto out;
    if (n->is_dir) {
      snprintf(msg, msgsz, "%s is a directory: only files can be composed", p);
      rc = DFS_EISDIR;
      goto out;
    }
    if (n->is_link) {
      snprintf(msg, msgsz, "%s is a symbolic link: only files can be composed", p);
      rc = DFS_EINVAL;
      goto out;
    }
    if (perm_check(op->str, admin, n, PERM_R)) {
      perm_denied_msg(msg, msgsz, p, strlen(p), n);
      rc = DFS_EPERM;
      goto out;
    }
    if (u64map_get(&seen, (uint64_t)(uintptr_t)n, NULL)) {
      snprintf(msg, msgsz, "%s is named twice", p);
      rc = DFS_EINVAL;
      goto out;
    }
    if (u64map_put(&seen, (uint64_t)(uintptr_t)n, 1)) oom_abort();
    if (i + 1 < op->nsrcs && n->u.file.size % DFS_CHUNK_SIZE) {
      snprintf(msg, msgsz, "part %u is not a whole number of MiB (%s: %llu bytes)", i + 1, p,
               (unsigned long long)n->u.file.size);
      rc = DFS_EINVAL;
      goto out;
    }
    src[i] = n;
    total += n->u.file.size;
    chunks += n->u.file.nchunks;
    if (n->replicas > goal) goal = n->replicas;
    if (del && n->owner && !strcmp(n->owner, op->str)) {
      freed += n->u.file.size;
      freed_entries++;
    }
  }
  if (chunks > UINT32_MAX) {
    snprintf(msg, msgsz, "the composed file would have too many chunks");
    rc = DFS_ETOOBIG;
    goto out;
  }
  rc = lookup_parent_to_write(f, op->path, op->str, admin, &ddir, &dn,
                              DFS_EISDIR, "is a directory", msg, msgsz);
  if (rc) goto out;
  if (dn && u64map_get(&seen, (uint64_t)(uintptr_t)dn, NULL)) {
    snprintf(msg, msgsz, "%s is also a source", op->path);
    rc = DFS_EINVAL;
    goto out;
  }
  if (dn && !dn->is_dir && overwrite && perm_check(op->str, admin, dn, PERM_W)) {
    perm_denied_msg(msg, msgsz, op->path, strlen(op->path), dn);
    rc = DFS_EPERM;
    goto out;
  }
  if ((rc = ns_put_check(f->ns, op->path, overwrite, &dn, msg, msgsz))) goto out;
  { /* the file's owner grows (a replaced file keeps its owner), less the sources it
       deletes of that owner's own */
    const char *owner = dn ? (dn->owner ? dn->owner : "") : op->str;
    uint64_t old = dn ? dn->u.file.size : 0, gone = old;
    if (!strcmp(owner, op->str)) gone += freed;
    uint64_t ne = dn ? 0 : 1;
    ne = strcmp(owner, op->str) ? ne : (ne > freed_entries ? ne - freed_entries : 0);
    if ((rc = fsm_quota_check(f, owner, ne, total > gone ? total - gone : 0, msg, msgsz)))
      goto out;
  }
  /* checked: from here nothing fails but memory */
  uint64_t *ids = chunks ? malloc(chunks * sizeof *ids) : NULL;
  if (chunks && !ids) oom_abort();
  uint64_t k = 0;
  for (uint32_t i = 0; i < op->nsrcs; i++)
    for (uint32_t j = 0; j < src[i]->u.file.nchunks; j++) {
      uint64_t id = ns_file_chunks(src[i])[j];
      chunk_ent *ce = chunks_get(&f->chunks, id);
      if (ce) { /* before any decref: a chunk shared with dst or a source survives */
        ce->refs++;
        if (goal > ce->goal) ce->goal = (uint8_t)(goal > 255 ? 255 : goal);
      }
      ids[k++] = id;
    }
  uint32_t mode = dn ? dn->mode : src[0]->mode;
  rc = ns_put_file(f->ns, op->path, overwrite, mode, dn ? dn->owner : op->str, op->mtime_ns,
                   total, goal, ids, (uint32_t)chunks, on_unref, f, msg, msgsz);
  if (rc) oom_abort(); /* checked above */
  if (op->attrs_len) {
    ns_inode *nf;
    if (ns_lookup(f->ns, op->path, &nf, msg, msgsz) ||
        ns_set_attrs(f->ns, nf, op->attrs, op->attrs_len))
      oom_abort();
  }
  if (del) { /* the sources were checked deletable above and are distinct from dst */
    off = 0;
    for (uint32_t i = 0; i < op->nsrcs; i++) {
      const char *p = ops_src_next(op, &off);
      if (ns_delete(f->ns, p, 0, op->mtime_ns, on_unref, f, msg, msgsz)) oom_abort();
      changed(f, p);
    }
  }
  *size = total;
  *nch = chunks;
out:
  u64map_free(&seen);
  free(src);
  return rc;
}

/* Sets the goal of file n and its chunks (a shared chunk keeps the highest goal asked). */
static void set_goal(fsm_t *f, ns_inode *n, uint8_t goal) {
  n->replicas = goal;
  for (uint32_t i = 0; i < n->u.file.nchunks; i++) {
    chunk_ent *ce = chunks_get(&f->chunks, ns_file_chunks(n)[i]);
    if (!ce) continue;
    if (ce->refs <= 1 || goal > ce->goal) ce->goal = goal;
  }
}

static uint64_t setrep_tree(fsm_t *f, ns_inode *n, const char *user, int admin, uint8_t goal) {
  const char *owner = n->owner ? n->owner : "";
  if (n->is_link) return 0; /* no chunks, no goal */
  if (!n->is_dir) {
    if (!perm_is_super(user, admin) && strcmp(owner, user)) return 0;
    set_goal(f, n, goal);
    return 1;
  }
  uint64_t cnt = 0;
  uint32_t pos = 0;
  for (ns_inode *c; (c = ns_dir_next(n, &pos));) cnt += setrep_tree(f, c, user, admin, goal);
  return cnt;
}

static int apply_setrep(fsm_t *f, const ops_op *op, uint64_t *files, char *msg,
                        size_t msgsz) {
  int admin = (op->flag & OPF_ADMIN) != 0;
  int rc = ns_check_path(op->path, msg, msgsz);
  ns_inode *n;
  if (rc) return rc;
  if (op->a < 1 || op->a > 16) {
    snprintf(msg, msgsz, "replicas must be 1..16, not %llu", (unsigned long long)op->a);
    return DFS_EINVAL;
  }
  if ((rc = perm_lookup(f->ns, op->path, op->str, admin, &n, msg, msgsz))) return rc;
  if (n->is_dir && !(op->flag & OPF_RECURSIVE)) {
    snprintf(msg, msgsz, "%s is a directory (dfs setrep -R sets every file below it)",
             op->path);
    return DFS_EISDIR;
  }
  const char *owner = n->owner ? n->owner : "";
  if (!perm_is_super(op->str, admin) && strcmp(owner, op->str)) {
    perm_denied_msg(msg, msgsz, op->path, strlen(op->path), n);
    size_t used = strlen(msg);
    snprintf(msg + used, msgsz - used, ": only the owner or an administrator may change it");
    return DFS_EPERM;
  }
  *files = setrep_tree(f, n, op->str, admin, (uint8_t)op->a);
  return 0;
}

/* TOUCH (to the op's clock) and TOUCH2 (to op->set_mtime_ns: on an existing entry only
 * its owner or an admin, like chmod; a new file gets that mtime, its parent the clock). */
static int apply_touch(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int admin = (op->flag & OPF_ADMIN) != 0;
  int rc = ns_check_path(op->path, msg, msgsz);
  if (rc) return rc;
  ns_inode *dir, *n;
  if (op->type == OP_TOUCH2) {
    if (op->set_mtime_ns <= 0) {
      snprintf(msg, msgsz, "mtime %lld is out of range: nanoseconds since 1970, above 0",
               (long long)op->set_mtime_ns);
      return DFS_EINVAL;
    }
    rc = perm_lookup(f->ns, op->path, op->str, admin, &n, msg, msgsz);
    if (!rc) {
      const char *owner = n->owner ? n->owner : "";
      if (!perm_is_super(op->str, admin) && strcmp(owner, op->str)) {
        perm_denied_msg(msg, msgsz, op->path, strlen(op->path), n);
        size_t used = strlen(msg);
        snprintf(msg + used, msgsz - used,
                 ": only the owner or an administrator may set its mtime");
        return DFS_EPERM;
      }
      n->mtime_ns = op->set_mtime_ns;
      return 0;
    }
    if (rc != DFS_ENOENT) return rc; /* missing: created below (the parent's checks) */
  }
  rc = perm_lookup_parent(f->ns, op->path, op->str, admin, PERM_W | PERM_X, &dir, &n, msg,
                          msgsz);
  if (rc == DFS_EINVAL) { /* "/" */
    rc = perm_lookup(f->ns, "/", op->str, admin, &n, msg, msgsz);
    if (rc) return rc;
  } else if (rc) {
    return rc;
  }
  if (n) {
    const char *owner = n->owner ? n->owner : "";
    if (perm_check(op->str, admin, n, PERM_W) && strcmp(owner, op->str)) {
      perm_denied_msg(msg, msgsz, op->path, strlen(op->path), n);
      return DFS_EPERM;
    }
    n->mtime_ns = op->mtime_ns;
    return 0;
  }
  uint32_t goal = op->a >= 1 && op->a <= 16 ? (uint32_t)op->a : 3;
  if ((rc = fsm_quota_check(f, op->str, 1, 0, msg, msgsz))) return rc;
  rc = ns_put_file(f->ns, op->path, 0, op->mode ? op->mode & 0777 : 0644, op->str,
                   op->mtime_ns, 0, goal, NULL, 0, on_unref, f, msg, msgsz);
  if (!rc && op->type == OP_TOUCH2) {
    if (ns_lookup(f->ns, op->path, &n, msg, msgsz)) oom_abort(); /* just made */
    n->mtime_ns = op->set_mtime_ns;
  }
  return rc;
}

/* SYMLINK: path -> path2, like mkdir: w+x on the parent, nothing at path, one entry of
 * the caller's quota. */
static int apply_symlink(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int admin = (op->flag & OPF_ADMIN) != 0;
  int rc = ns_check_path(op->path, msg, msgsz);
  if (rc) return rc;
  size_t tl = strlen(op->path2);
  if (tl == 0 || tl > NS_LINK_MAX) {
    snprintf(msg, msgsz, "a symbolic link's target must be 1..%d bytes, not %zu", NS_LINK_MAX,
             tl);
    return DFS_EINVAL;
  }
  ns_inode *dir, *n;
  rc = lookup_parent_to_write(f, op->path, op->str, admin, &dir, &n,
                              DFS_EEXIST, "already exists", msg, msgsz);
  if (rc) return rc;
  if (n) {
    snprintf(msg, msgsz, "%s already exists", op->path);
    return DFS_EEXIST;
  }
  if ((rc = fsm_quota_check(f, op->str, 1, 0, msg, msgsz))) return rc;
  return ns_symlink(f->ns, op->path, op->path2, op->str, op->mtime_ns, msg, msgsz);
}

static int apply_trash(fsm_t *f, const ops_op *op, uint64_t *id, char *msg, size_t msgsz) {
  ns_inode *n;
  int rc = delete_target(f, op, &n, msg, msgsz);
  if (rc) return rc;
  ns_detach(f->ns, n, op->mtime_ns);
  if (!(*id = trash_add(&f->trash, op->str, op->path, op->mtime_ns, (int64_t)op->a, n)))
    oom_abort();
  return 0;
}

/* The trash item op->a if the acting user may use it (its owner or an admin). */
static int trash_item_of(fsm_t *f, const ops_op *op, long *idx, char *msg, size_t msgsz) {
  int admin = (op->flag & OPF_ADMIN) != 0;
  long i = trash_find(&f->trash, op->a);
  if (i < 0 || (!perm_is_super(op->str, admin) && strcmp(f->trash.items[i].user, op->str))) {
    snprintf(msg, msgsz, "trash item %llu does not exist (see dfs trash ls)",
             (unsigned long long)op->a);
    return DFS_ENOENT;
  }
  *idx = i;
  return 0;
}

static int apply_trash_restore(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int admin = (op->flag & OPF_ADMIN) != 0;
  long i;
  int rc = trash_item_of(f, op, &i, msg, msgsz);
  if (rc) return rc;
  trash_item *it = &f->trash.items[i];
  const char *target = *op->path2 ? op->path2 : it->path;
  if ((rc = ns_check_path(target, msg, msgsz))) return rc;
  ns_inode *dir, *n;
  rc = lookup_parent_to_write(f, target, op->str, admin, &dir, &n,
                              DFS_EEXIST, "already exists", msg, msgsz);
  if (rc) return rc;
  if (n) {
    snprintf(msg, msgsz, "%s already exists: restore to another path or move it away first",
             target);
    return DFS_EEXIST;
  }
  if ((rc = ns_check_fits(target, it->node, msg, msgsz))) return rc;
  size_t nlen;
  const char *name = last_name(target, &nlen);
  if (ns_attach(f->ns, dir, it->node, name, nlen, op->mtime_ns)) oom_abort();
  changed(f, target); /* before trash_remove frees the item's path */
  trash_remove(&f->trash, (size_t)i);
  return 0;
}

/* Frees trash item i and releases its chunks. */
static void trash_drop(fsm_t *f, size_t i) {
  ns_inode *node = f->trash.items[i].node;
  trash_remove(&f->trash, i);
  ns_free_detached(f->ns, node, on_unref, f);
}

static int apply_trash_empty(fsm_t *f, const ops_op *op, uint64_t *count, char *msg,
                             size_t msgsz) {
  if (op->a) {
    long i;
    int rc = trash_item_of(f, op, &i, msg, msgsz);
    if (rc) return rc;
    trash_drop(f, (size_t)i);
    *count = 1;
    return 0;
  }
  for (size_t i = f->trash.n; i-- > 0;)
    if (!strcmp(f->trash.items[i].user, op->str)) {
      trash_drop(f, i);
      (*count)++;
    }
  return 0;
}

static uint64_t trash_expire(fsm_t *f, int64_t now_ns) {
  uint64_t cnt = 0;
  for (size_t i = f->trash.n; i-- > 0;)
    if (f->trash.items[i].expires_ns <= now_ns) {
      trash_drop(f, i);
      cnt++;
    }
  return cnt;
}

/* OP_RETIRE_ORPHANS: the ids no file references (a commit applied before this entry
 * keeps its chunks) become retired; the leader deletes their files only after this. */
static uint64_t retire_orphans(fsm_t *f, const ops_op *op) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < op->nchunks; i++) {
    uint64_t id = ops_chunk_at(op, i).id;
    if (!id || id > f->ids_reserved || chunks_get(&f->chunks, id) || fsm_is_retired(f, id))
      continue;
    retire(f, id, f->now_ns);
    n++;
  }
  return n;
}

static void apply_op(fsm_t *f, const ops_op *op) {
  char msg[512] = "";
  int rc = 0;
  uint64_t val = 0, val2 = 0;
  if (fsm_result_get(f, op->rid)) return; /* replay of a request already applied (a replay
                                             with another body is refused by the handler) */
  if (op->mtime_ns > f->now_ns) f->now_ns = op->mtime_ns; /* the log's clock never goes back */
  retired_prune(f, f->now_ns);
  switch (op->type) {
  case OP_MKDIR:
    rc = apply_mkdir(f, op, msg, sizeof msg);
    break;
  case OP_DELETE:
    rc = apply_delete(f, op, msg, sizeof msg);
    break;
  case OP_CHMOD:
    rc = apply_chmod(f, op, msg, sizeof msg);
    break;
  case OP_MKHOME:
    rc = apply_mkhome(f, op, msg, sizeof msg);
    break;
  case OP_COMMIT:
  case OP_COMMIT2:
  case OP_COMMIT3:
    rc = apply_commit(f, op, msg, sizeof msg);
    break;
  case OP_RENAME:
    rc = apply_rename(f, op, msg, sizeof msg);
    break;
  case OP_COPY:
    rc = apply_copy(f, op, &val, &val2, msg, sizeof msg);
    break;
  case OP_SETREP:
    rc = apply_setrep(f, op, &val, msg, sizeof msg);
    break;
  case OP_COMPOSE:
    rc = apply_compose(f, op, &val, &val2, msg, sizeof msg);
    break;
  case OP_TOUCH:
  case OP_TOUCH2:
    rc = apply_touch(f, op, msg, sizeof msg);
    break;
  case OP_SYMLINK:
    rc = apply_symlink(f, op, msg, sizeof msg);
    break;
  case OP_TRASH:
    rc = apply_trash(f, op, &val, msg, sizeof msg);
    break;
  case OP_TRASH_RESTORE:
    rc = apply_trash_restore(f, op, msg, sizeof msg);
    break;
  case OP_TRASH_EMPTY:
    rc = apply_trash_empty(f, op, &val, msg, sizeof msg);
    break;
  case OP_TRASH_EXPIRE:
    val = trash_expire(f, op->mtime_ns);
    break;
  case OP_RETIRE_ORPHANS:
    val = retire_orphans(f, op);
    break;
  case OP_SET_QUOTA:
    rc = apply_set_quota(f, op, msg, sizeof msg);
    break;
  case OP_RESERVE_IDS:
    if (op->a != f->ids_reserved + 1 || op->b < op->a) {
      snprintf(msg, sizeof msg, "id range %llu..%llu does not follow %llu",
               (unsigned long long)op->a, (unsigned long long)op->b,
               (unsigned long long)f->ids_reserved);
      rc = DFS_EBUSY;
    } else {
      f->ids_reserved = op->b;
      val = op->b;
    }
    break;
  case OP_MAP_SERVER:
    if (!*op->str || strlen(op->str) > SERVERS_UUID_MAX) {
      snprintf(msg, sizeof msg, "invalid server uuid");
      rc = DFS_EINVAL;
    } else if (!(val = servers_map(&f->servers, op->str))) {
      oom_abort();
    }
    break;
  case OP_META_ADDR:
    set_meta_addr(f, op->a, op->str);
    break;
  default:
    rc = DFS_EINVAL;
    snprintf(msg, sizeof msg, "unknown operation %u", op->type);
  }
  if (rc == DFS_ENOMEM) oom_abort();
  if (!rc) { /* the change feed (mkdir, mkhome, restore, compose's sources: in apply_*) */
    switch (op->type) {
    case OP_DELETE:
    case OP_TRASH:
    case OP_CHMOD:
    case OP_COMMIT:
    case OP_COMMIT2:
    case OP_COMMIT3:
    case OP_COMPOSE:
    case OP_SETREP:
    case OP_TOUCH:
    case OP_TOUCH2:
    case OP_SYMLINK:
      changed(f, op->path);
      break;
    case OP_RENAME:
      if (strcmp(op->path, op->path2)) {
        changed(f, op->path);
        changed(f, op->path2);
      }
      break;
    case OP_COPY:
      changed(f, op->path2);
      break;
    default:
      break;
    }
  }
  record(f, op->rid, rc, val, val2, ops_digest(op), msg);
}

int fsm_apply_entry(fsm_t *f, const void *buf, size_t len) {
  ops_iter it;
  ops_op op;
  int rc = ops_iter_init(&it, buf, len);
  if (rc) goto bad;
  while ((rc = ops_next(&it, &op)) == 1) apply_op(f, &op);
  if (rc) goto bad;
  f->entries_applied++;
  return 0;
bad:
  f->entries_applied++;
  LOG_ERROR("malformed log entry (%zu bytes) skipped", len);
  return DFS_EPROTO;
}

/* ---- snapshot ---- */

int fsm_snapshot(const fsm_t *f, ops_wbuf *w) {
  wb_u32(w, SNAP_MAGIC);
  wb_u32(w, SNAP_VERSION);
  wb_u64(w, f->ids_reserved);
  wb_u64(w, f->nmetas);
  for (size_t i = 0; i < f->nmetas; i++) {
    wb_u64(w, f->metas[i].raft_id);
    wb_str(w, f->metas[i].addr);
  }
  wb_u64(w, f->res_count);
  for (size_t k = 0; k < f->res_count; k++) {
    const fsm_result *r = &f->res[(f->res_head + k) % f->res_cap];
    wb_u64(w, r->rid);
    wb_u32(w, (uint32_t)r->err);
    wb_u64(w, r->val);
    wb_u64(w, r->val2);
    wb_str(w, r->msg);
    wb_u64(w, r->digest); /* v3 */
  }
  servers_encode(&f->servers, w);
  chunks_encode(&f->chunks, w);
  ns_encode(f->ns, w);
  /* v2: crc64 of the chunks that have one, then the trash */
  uint64_t ncrc = 0;
  for (size_t i = 0; i < f->chunks.n; i++) ncrc += f->chunks.ents[i].crc64 != 0;
  wb_u64(w, ncrc);
  for (size_t i = 0; i < f->chunks.n; i++)
    if (f->chunks.ents[i].crc64) {
      wb_u64(w, f->chunks.ents[i].id);
      wb_u64(w, f->chunks.ents[i].crc64);
    }
  trash_encode(&f->trash, f->ns, w);
  /* v3: the log clock and the retired ids, oldest first */
  wb_u64(w, (uint64_t)f->now_ns);
  wb_u64(w, f->retired_n);
  for (size_t i = 0; i < f->retired_n; i++) {
    const fsm_retired *r = &f->retired[(f->retired_head + i) % f->retired_cap];
    wb_u64(w, r->id);
    wb_u64(w, (uint64_t)r->at_ns);
  }
  wb_u64(w, f->nquotas); /* v3: quotas */
  for (size_t i = 0; i < f->nquotas; i++) {
    wb_str(w, f->quotas[i].user);
    wb_u64(w, f->quotas[i].max_bytes);
    wb_u64(w, f->quotas[i].max_entries);
  }
  wb_pad8(w);
  return w->oom ? DFS_ENOMEM : 0;
}

int fsm_restore(fsm_t *f, const void *buf, size_t len) {
  ops_rbuf r;
  rb_init(&r, buf, len);
  fsm_t *n = fsm_new(f->res_cap);
  int rc = DFS_EPROTO;
  if (!n) return DFS_ENOMEM;
  uint32_t magic = rb_u32(&r), version = rb_u32(&r);
  if (magic != SNAP_MAGIC || version < 1 || version > SNAP_VERSION) goto err;
  n->ids_reserved = rb_u64(&r);
  uint64_t nm = rb_u64(&r);
  if (r.err || nm > len / 13) goto err;
  for (uint64_t i = 0; i < nm; i++) {
    uint64_t id = rb_u64(&r);
    const char *a = rb_str(&r);
    if (r.err) goto err;
    set_meta_addr(n, id, a);
  }
  uint64_t nr = rb_u64(&r);
  if (r.err || nr > len / 25) goto err;
  for (uint64_t i = 0; i < nr; i++) {
    uint64_t rid = rb_u64(&r);
    int32_t err = (int32_t)rb_u32(&r);
    uint64_t val = rb_u64(&r);
    uint64_t val2 = version >= 2 ? rb_u64(&r) : 0;
    const char *m = rb_str(&r);
    uint64_t digest = version >= 3 ? rb_u64(&r) : 0;
    if (r.err || rid == 0 || fsm_result_get(n, rid)) goto err;
    record(n, rid, err, val, val2, digest, m);
  }
  chunks_free(&n->chunks);
  servers_free(&n->servers);
  if ((rc = servers_decode(&n->servers, &r))) goto err;
  if ((rc = chunks_decode(&n->chunks, &r))) goto err;
  rc = DFS_EPROTO;
  ns_free(n->ns);
  unsigned nsflags = (version >= 4 ? NS_DEC_ATTRS : 0) | (version >= 5 ? NS_DEC_LINKS : 0);
  if (!(n->ns = ns_decode(&r, nsflags))) goto err;
  if (version >= 2) {
    uint64_t ncrc = rb_u64(&r);
    if (r.err || ncrc > n->chunks.n) goto err;
    for (uint64_t i = 0; i < ncrc; i++) {
      uint64_t id = rb_u64(&r), crc = rb_u64(&r);
      chunk_ent *ce = chunks_get(&n->chunks, id);
      if (r.err || !ce) goto err;
      ce->crc64 = crc;
    }
    trash_free(&n->trash, n->ns);
    if ((rc = trash_decode(&n->trash, n->ns, &r, nsflags))) goto err;
    rc = DFS_EPROTO;
  }
  if (version >= 3) {
    n->now_ns = (int64_t)rb_u64(&r);
    uint64_t nret = rb_u64(&r);
    if (r.err || nret > len / 16) goto err;
    for (uint64_t i = 0; i < nret; i++) {
      uint64_t id = rb_u64(&r);
      int64_t at = (int64_t)rb_u64(&r);
      if (r.err || id == 0) goto err;
      retire(n, id, at);
    }
    uint64_t nq = rb_u64(&r);
    if (r.err || nq > len / 17) goto err;
    for (uint64_t i = 0; i < nq; i++) {
      const char *user = rb_str(&r);
      uint64_t mb = rb_u64(&r), me = rb_u64(&r);
      if (r.err || !*user) goto err;
      quota_set(n, user, mb, me);
    }
  }
  if (r.err) goto err;
  /* swap the new durable state in */
  fsm_t tmp = *f;
  *f = *n;
  *n = tmp;
  f->changes = n->changes; /* soft, kept: but nothing it said holds any more */
  n->changes = NULL;
  if (f->changes) changes_reset(f->changes);
  fsm_free(n);
  return 0;
err:
  fsm_free(n);
  return rc;
}
