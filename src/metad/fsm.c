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
#define SNAP_VERSION 1

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

void fsm_free(fsm_t *f) {
  if (!f) return;
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

const char *fsm_meta_addr(const fsm_t *f, uint64_t raft_id) {
  for (size_t i = 0; i < f->nmetas; i++)
    if (f->metas[i].raft_id == raft_id) return f->metas[i].addr;
  return NULL;
}

/* Records a result, evicting the oldest when the ring is full. msg is copied. */
static void record(fsm_t *f, uint64_t rid, int err, uint64_t val, const char *msg) {
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
}

static int check_path(const char *path, char *msg, size_t msgsz) {
  const char *why = NULL;
  if (dfs_path_check(path, &why)) {
    snprintf(msg, msgsz, "invalid path '%.200s': %s", path, why ? why : "bad path");
    return DFS_EBADPATH;
  }
  return 0;
}

static int apply_commit(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int rc = check_path(op->path, msg, msgsz);
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
    if (chunks_get(&f->chunks, c.id) || u64map_get(&seen, c.id, NULL)) {
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
  rc = perm_lookup_parent(f->ns, op->path, op->str, admin, PERM_W | PERM_X, &dir, &old, msg,
                          msgsz);
  if (rc == DFS_EINVAL) {
    snprintf(msg, msgsz, "/ is a directory");
    rc = DFS_EISDIR;
  }
  if (rc) goto out;
  if (old && !old->is_dir && overwrite && perm_check(op->str, admin, old, PERM_W)) {
    perm_denied_msg(msg, msgsz, op->path, strlen(op->path), old);
    rc = DFS_EPERM;
    goto out;
  }
  if ((rc = ns_put_check(f->ns, op->path, overwrite, &old, msg, msgsz))) goto out;
  for (uint32_t i = 0; i < op->nchunks; i++) {
    ops_chunk c = ops_chunk_at(op, i);
    if (chunks_add(&f->chunks, c.id, c.version, c.length, c.crc32c)) oom_abort();
    chunks_get(&f->chunks, c.id)->goal = (uint8_t)(op->replicas > 255 ? 255 : op->replicas);
  }
  /* a replaced file keeps its owner and mode (like writing into it); ns_put_file copies
   * the owner string before it frees the old inode */
  rc = ns_put_file(f->ns, op->path, overwrite, old ? old->mode : op->mode,
                   old ? old->owner : op->str, op->mtime_ns, op->size, op->replicas, ids,
                   op->nchunks, on_unref, f, msg, msgsz);
  if (rc) oom_abort(); /* checked above: only OOM can fail here */
  ids = NULL;
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
  int rc = check_path(op->path, msg, msgsz);
  int admin = (op->flag & OPF_ADMIN) != 0, parents = (op->flag & OPF_MAIN) != 0;
  if (rc) return rc;
  if (parents) {
    rc = perm_check_mkdir_p(f->ns, op->path, op->str, admin, msg, msgsz);
  } else {
    ns_inode *dir, *old;
    rc = perm_lookup_parent(f->ns, op->path, op->str, admin, PERM_W | PERM_X, &dir, &old, msg,
                            msgsz);
    if (rc == DFS_EINVAL) {
      snprintf(msg, msgsz, "/ already exists");
      rc = DFS_EEXIST;
    }
  }
  if (rc) return rc;
  return ns_mkdir(f->ns, op->path, parents, op->mode, op->str, op->mtime_ns, msg, msgsz);
}

static int apply_delete(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int rc = check_path(op->path, msg, msgsz);
  int admin = (op->flag & OPF_ADMIN) != 0, recursive = (op->flag & OPF_MAIN) != 0;
  if (rc) return rc;
  ns_inode *dir, *n;
  rc = perm_lookup_parent(f->ns, op->path, op->str, admin, PERM_W | PERM_X, &dir, &n, msg,
                          msgsz);
  if (rc == DFS_EINVAL) {
    snprintf(msg, msgsz, "/ cannot be deleted");
    return DFS_EINVAL;
  }
  if (rc) return rc;
  if (!n) {
    snprintf(msg, msgsz, "%s does not exist", op->path);
    return DFS_ENOENT;
  }
  if (n->is_dir && recursive &&
      (rc = perm_check_subtree(n, op->path, op->str, admin, msg, msgsz)))
    return rc;
  return ns_delete(f->ns, op->path, recursive, op->mtime_ns, on_unref, f, msg, msgsz);
}

static int apply_chmod(fsm_t *f, const ops_op *op, char *msg, size_t msgsz) {
  int rc = check_path(op->path, msg, msgsz);
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
  if (!root->owner && ns_set_owner(root, PERM_ADMIN_OWNER)) return DFS_ENOMEM;
  int rc;
  if (!home) {
    rc = ns_mkdir(f->ns, "/home", 0, 0755, PERM_ADMIN_OWNER, op->mtime_ns, msg, msgsz);
    if (rc) return rc;
    home = ns_child(root, "home", 4);
  }
  if (!home->is_dir) {
    snprintf(msg, msgsz, "/home is a file, not a directory");
    return DFS_ENOTDIR;
  }
  if (ns_child(home, op->str, n)) return 0; /* exists (whatever it is): nothing to do */
  char path[80];
  snprintf(path, sizeof path, "/home/%s", op->str);
  return ns_mkdir(f->ns, path, 0, 0700, op->str, op->mtime_ns, msg, msgsz);
}

static void apply_op(fsm_t *f, const ops_op *op) {
  char msg[512] = "";
  int rc = 0;
  uint64_t val = 0;
  if (fsm_result_get(f, op->rid)) return; /* replay of a request already applied */
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
    rc = apply_commit(f, op, msg, sizeof msg);
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
  record(f, op->rid, rc, val, msg);
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
    wb_str(w, r->msg);
  }
  servers_encode(&f->servers, w);
  chunks_encode(&f->chunks, w);
  ns_encode(f->ns, w);
  wb_pad8(w);
  return w->oom ? DFS_ENOMEM : 0;
}

int fsm_restore(fsm_t *f, const void *buf, size_t len) {
  ops_rbuf r;
  rb_init(&r, buf, len);
  fsm_t *n = fsm_new(f->res_cap);
  int rc = DFS_EPROTO;
  if (!n) return DFS_ENOMEM;
  if (rb_u32(&r) != SNAP_MAGIC || rb_u32(&r) != SNAP_VERSION) goto err;
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
    const char *m = rb_str(&r);
    if (r.err || rid == 0 || fsm_result_get(n, rid)) goto err;
    record(n, rid, err, val, m);
  }
  chunks_free(&n->chunks);
  servers_free(&n->servers);
  if ((rc = servers_decode(&n->servers, &r))) goto err;
  if ((rc = chunks_decode(&n->chunks, &r))) goto err;
  rc = DFS_EPROTO;
  ns_free(n->ns);
  if (!(n->ns = ns_decode(&r))) goto err;
  if (r.err) goto err;
  /* swap the new durable state in */
  fsm_t tmp = *f;
  *f = *n;
  *n = tmp;
  fsm_free(n);
  return 0;
err:
  fsm_free(n);
  return rc;
}
