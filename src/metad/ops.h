/* ops: the raft log entry format of metad and the little-endian byte codec shared with
 * the snapshot. One entry = a batch of operations:
 *   u32 magic "MOP1" | u32 n_ops | n_ops x (u8 type, u64 request_id, fields...) | pad
 * Strings are u32 length + bytes + NUL. Entries are padded with zeros to a multiple of
 * 8 bytes (libraft requirement). Decoding validates every length against the buffer. */
#ifndef METAD_OPS_H
#define METAD_OPS_H

#include <stddef.h>
#include <stdint.h>

/* ---- byte codec ---- */
typedef struct {
  uint8_t *p;   /* owned, allocated with raft_malloc/raft_realloc */
  size_t len, cap;
  int oom;      /* set once an allocation failed; further writes are ignored */
} ops_wbuf;

void wb_init(ops_wbuf *w);
void wb_free(ops_wbuf *w); /* raft_free(p) */
void wb_u8(ops_wbuf *w, uint8_t v);
void wb_u32(ops_wbuf *w, uint32_t v);
void wb_u64(ops_wbuf *w, uint64_t v);
void wb_str(ops_wbuf *w, const char *s); /* NULL = "" */
void wb_bytes(ops_wbuf *w, const void *p, size_t n); /* raw, no length (p NULL if n 0) */
void wb_pad8(ops_wbuf *w);
/* Rewrites a u32 written earlier at offset off. */
void wb_put_u32_at(ops_wbuf *w, size_t off, uint32_t v);

typedef struct {
  const uint8_t *p;
  size_t len, pos;
  int err; /* set on the first read past the end or malformed string */
} ops_rbuf;

void rb_init(ops_rbuf *r, const void *p, size_t len);
uint8_t rb_u8(ops_rbuf *r);
uint32_t rb_u32(ops_rbuf *r);
uint64_t rb_u64(ops_rbuf *r);
/* Pointer into the buffer (NUL-terminated, no interior NUL), or "" on error. */
const char *rb_str(ops_rbuf *r);
/* Pointer to the next n bytes (consumed), or NULL with err set if fewer remain. */
const uint8_t *rb_bytes(ops_rbuf *r, size_t n);
/* 1 if at least n more bytes remain (without consuming them). */
int rb_has(const ops_rbuf *r, size_t n);

/* ---- operations ---- */
/* Namespace ops (MKDIR, DELETE, COMMIT, CHMOD) carry the acting user in `str` and are
 * permission-checked at apply time (perm.h). The user "" is the anonymous superuser of
 * a metad without authentication (and of entries written before it existed). */
enum ops_type {
  OP_MKDIR = 1,       /* path, str=user (owner), mtime, mode, flag=OPF_MAIN(parents)|OPF_ADMIN */
  OP_DELETE = 2,      /* path, str=user, mtime, flag=OPF_MAIN(recursive)|OPF_ADMIN */
  OP_COMMIT = 3,      /* path, str=user (owner), mtime, mode, flag=OPF_MAIN(overwrite)|OPF_ADMIN,
                         size, replicas, chunks */
  OP_RESERVE_IDS = 4, /* a=first id, b=last id (inclusive); applied iff a = reserved+1 */
  OP_MAP_SERVER = 5,  /* str=uuid -> a stable server id */
  OP_META_ADDR = 6,   /* a=raft id, str=client address of that metad */
  OP_CHMOD = 7,       /* path, str=user, mtime, mode (0..0777), flag=OPF_ADMIN */
  OP_MKHOME = 8,      /* str=user name, mtime: makes /home (admin, 0755) and /home/<user>
                         (owner user, 0700) where missing; also gives "/" to the admin */
  /* issue 4 (namespace). Encoded as path, str=user, mtime, mode, flag, path2, a, b. */
  OP_RENAME = 9,         /* path=src, path2=dst, flag=OPF_MAIN(overwrite)|OPF_ADMIN */
  OP_COPY = 10,          /* path=src, path2=dst, flag=OPF_MAIN(overwrite)|OPF_RECURSIVE|ADMIN;
                            result val=files, val2=bytes */
  OP_SETREP = 11,        /* path, a=replicas, flag=OPF_RECURSIVE|OPF_ADMIN; val=files */
  OP_TOUCH = 12,         /* path, mtime, mode (for a new file), flag=OPF_ADMIN */
  OP_TRASH = 13,         /* delete into the trash: path, a=expiry time (ns), flag like
                            DELETE; val=trash item id */
  OP_TRASH_RESTORE = 14, /* a=item id, path2=target ("" = original path), flag=OPF_ADMIN */
  OP_TRASH_EMPTY = 15,   /* a=item id (0 = every item of the user), flag=OPF_ADMIN */
  OP_TRASH_EXPIRE = 16,  /* mtime = the leader's clock: drops items expired by then */
  OP_COMMIT2 = 17,       /* COMMIT whose chunks carry crc64 and a reuse flag
                            (OPS_CHUNK2_WIRE bytes each) */
  OP_SET_QUOTA = 18,     /* encoded like RENAME: path2=the user, a=max bytes, b=max entries
                            (0 = no limit; both 0 removes the quota), flag=OPF_ADMIN */
  OP_RETIRE_ORPHANS = 19, /* encoded like COMMIT (path, str "", chunks: id, the rest 0),
                            mtime = the leader's clock: every id no file references is
                            retired before the leader deletes its files as garbage, so no
                            commit can take it afterwards; val = ids retired */
  OP_COMMIT3 = 20,       /* COMMIT2 + the file's client attributes after the chunks: u32
                            length (1..DFS_ATTRS_MAX) + bytes. Written only for a commit
                            that carries attrs (others stay COMMIT2, which older metads
                            apply); a metad older than this refuses it (DFS_EPROTO) */
  OP_COMPOSE = 21,       /* path=dst, str=user, mtime, mode, flag=OPF_MAIN(overwrite)|
                            OPF_DELETE_SRCS|OPF_ADMIN, u32 nsrcs (1..OPS_COMPOSE_MAX_SRCS) +
                            nsrcs strings, u32 attrs length (0..DFS_ATTRS_MAX) + bytes: dst
                            becomes a file whose chunks are the srcs' chunks in order,
                            shared by reference (no bytes move); with OPF_DELETE_SRCS the
                            srcs go in the same op. val=size, val2=chunks. A metad older
                            than this refuses it (DFS_EPROTO) */
  OP_TOUCH2 = 22,        /* TOUCH + u64 set_mtime (1..INT64_MAX ns: the mtime to set
                            instead of the op's clock; the entry's owner or an admin only).
                            Written only for a TouchReq with mtime_ns != 0 (others stay
                            TOUCH, which older metads apply); a metad older than this
                            refuses it (DFS_EPROTO) */
  OP_SYMLINK = 23,       /* encoded like RENAME: path=the link, str=user (owner), mtime,
                            path2=target (1..NS_LINK_MAX bytes, checked by apply),
                            flag=OPF_ADMIN. A metad older than this refuses it */
};

/* Bits of ops_op.flag for namespace ops. */
#define OPF_MAIN 0x01  /* parents (MKDIR), recursive (DELETE), overwrite (COMMIT) */
#define OPF_ADMIN 0x02 /* the acting user is an administrator (bypasses permissions) */
#define OPF_RECURSIVE 0x04 /* COPY, SETREP: the whole subtree */
#define OPF_DELETE_SRCS 0x08 /* COMPOSE: the sources are deleted by the same op */

#define OPS_COMPOSE_MAX_SRCS 10000u /* S3's part limit */

#define OPS_CHUNK_WIRE 24 /* id u64, version u64, length u32, crc u32 */
#define OPS_CHUNK2_WIRE 33 /* OPS_CHUNK_WIRE + crc64 u64 + reuse u8 (OP_COMMIT2) */

typedef struct {
  uint64_t id, version;
  uint32_t length, crc32c;
  uint64_t crc64; /* 0 = unknown (OP_COMMIT has none) */
  uint8_t reuse;  /* 1 = a chunk of the file being replaced, shared (OP_COMMIT2) */
} ops_chunk;

/* A decoded op; string pointers point into the entry buffer. */
typedef struct {
  uint8_t type;
  uint64_t rid;          /* request id (never 0 in a valid entry) */
  const char *path;      /* MKDIR/DELETE/COMMIT/CHMOD and the issue-4 ops */
  const char *path2;     /* RENAME/COPY destination, TRASH_RESTORE target */
  const char *str;       /* acting user (namespace ops, MKHOME), uuid (MAP_SERVER),
                            address (META_ADDR) */
  int64_t mtime_ns;
  uint32_t mode;
  uint8_t flag;
  uint64_t size;
  uint32_t replicas;
  uint32_t nchunks;
  const uint8_t *chunks; /* nchunks * OPS_CHUNK_WIRE (COMMIT2/3: OPS_CHUNK2_WIRE) bytes,
                            read with ops_chunk_at */
  const uint8_t *attrs;  /* COMMIT3: attrs_len bytes of client attributes (may hold NULs;
                            decoded: points into the entry; NULL when attrs_len is 0) */
  uint32_t attrs_len;    /* 0 = none; at most DFS_ATTRS_MAX */
  uint64_t a, b;
  int64_t set_mtime_ns;  /* TOUCH2: the explicit mtime (> 0) */
  /* COMPOSE's sources. Encoding reads src_list (nsrcs strings, borrowed); a decoded op
   * has srcs/srcs_len (the encoded strings, in the entry), read with ops_src_next. */
  uint32_t nsrcs;
  const char *const *src_list;
  const uint8_t *srcs;
  size_t srcs_len;
} ops_op;

/* Appends one op to w (an entry being built with ops_entry_begin). For COMMIT/2/3,
 * op->chunks is ignored and `chunks` (nchunks entries) is encoded instead; COMMIT3 also
 * encodes op->attrs (the caller keeps attrs_len <= DFS_ATTRS_MAX: decoding refuses more). */
void ops_entry_begin(ops_wbuf *w);
void ops_append(ops_wbuf *w, const ops_op *op, const ops_chunk *chunks);
/* Finishes the entry: writes the op count and pads to 8. 0 or DFS_ENOMEM. */
int ops_entry_end(ops_wbuf *w);
uint32_t ops_entry_count(const ops_wbuf *w);

/* Iterates the ops of an entry. ops_next returns 1 with *op filled, 0 at the end, or
 * DFS_EPROTO if the entry is malformed (ops before it were valid). */
typedef struct {
  ops_rbuf r;
  uint32_t left;
} ops_iter;
int ops_iter_init(ops_iter *it, const void *buf, size_t len);
int ops_next(ops_iter *it, ops_op *op);
ops_chunk ops_chunk_at(const ops_op *op, uint32_t i);
/* The next source path of a decoded COMPOSE (*off starts at 0), or NULL after the last. */
const char *ops_src_next(const ops_op *op, size_t *off);

/* A 64-bit digest (never 0) of what the client chose in op: type, acting user, paths,
 * mode, flags, sizes, chunks, attrs and a/b where they are the client's (not the leader's clock
 * in mtime or a TRASH expiry). A request id sent again is a retry only if this matches. */
uint64_t ops_digest(const ops_op *op);
/* ops_digest of op as it will read once encoded with chunks (as ops_append takes them):
 * what a handler compares with a recorded result before the op is in the log. 0 on OOM. */
uint64_t ops_digest_encoded(const ops_op *op, const ops_chunk *chunks);

#endif
