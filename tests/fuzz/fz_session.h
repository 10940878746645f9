/* The input language of fuzz_metad_session.c, shared with the seed generator
 * (gen_corpus.c). An input is a sequence of operations, each one request (or a chunkserver
 * heartbeat) sent by one actor over metad's real client path:
 *
 *   input := op*            (at most FZS_MAX_OPS; bytes read past the end are 0)
 *   op    := code(1) actor(1) args...        code % FZS_NOPS, actor % 4 (FZS_ALICE..)
 *
 * Arguments by op (1/2 = bytes, big-endian; "rid" is a request id selector: 0 none,
 * 1..15 that fixed id (deliberate collisions), otherwise a fresh id):
 *   MKDIR    path flags(1: parents, 2: explicit mode) mode(2) rid
 *   LIST     path                   STAT path             CLUSTER (nothing)
 *   DELETE   path flags(1: recursive, 2: to trash) rid
 *   ALLOC    count(1)%5 replicas(1)%5 flags(1: exclude server flags>>1 % 4)
 *   COMMIT   path flags(1: overwrite, 2: size off by one, 4: no receipt, 8: grants of
 *            anyone, 16: corrupt a grant, 32: client attributes = the path's bytes, with
 *            64: 2048 bytes, with 128: 2049, too many) n(1)%5 chunk(1)*n last_len(2) mode(2)
 *            replicas(1)%5 rid
 *            chunk: bit 7 set: reuse known chunk (from GetFile replies) number c%n;
 *            else the grant number c%n from earlier Alloc replies (own, unless flag 8)
 *   GETFILE  path first(1) max(1)
 *   BADREP   chunk(1) server(1)%5 path reason(1)
 *   CHMOD    path mode(2) (& 01777: some out of range) rid
 *   RENAME   src dst flags(1: overwrite) rid
 *   COPY     src dst flags(1: recursive, 2: overwrite) rid
 *   SETREP   path replicas(1)%20 flags(1: recursive) rid
 *   SEARCH   pattern(1) path flags(1: glob, 6: type, 24: owner) limit(1)
 *   TRASH    action(1)%3 id(1) (c < 128: the trash item c%n seen in listings, else c-128)
 *            flags(1: give a path) [path] rid
 *   FSCK     path flags(1: only unhealthy) limit(1)
 *   TOUCH    path mode(2) rid
 *   REPLAY   k(1) mode(1)%4 ...: resend earlier request k%n with its request id:
 *            0 identical, 1 as this op's actor, 2 with field 2 (path) replaced: path,
 *            3 one body byte changed: pos(2) xor(1)
 *   RAW      type(1) len(1) bytes(len): any client message type, body as given (the
 *            actor's token is put in front)
 *   CSBEAT   server(1)%3 chunk(1) flags(1: report it bad, 2: report it new): a
 *            heartbeat from one of the registered chunkservers
 *
 *   path := sel(1) comp(1)*((sel >> 3) & 3): base sel & 7, then components from
 *           fzs_comps. Bases: own home, the other user's home, "/", "/home",
 *           "/home/alice", "/home/bob", deep (own home + "/d" * (990 + next byte % 16)),
 *           raw (len(1) bytes(len), no components). */
#ifndef DFS_FZ_SESSION_H
#define DFS_FZ_SESSION_H

#define FZS_MAX_OPS 32

enum { FZS_ALICE, FZS_BOB, FZS_ADMIN, FZS_STRANGER };
enum { FZS_MKDIR, FZS_LIST, FZS_STAT, FZS_DELETE, FZS_ALLOC, FZS_COMMIT, FZS_GETFILE,
       FZS_CLUSTER, FZS_BADREP, FZS_CHMOD, FZS_RENAME, FZS_COPY, FZS_SETREP, FZS_SEARCH,
       FZS_TRASH, FZS_FSCK, FZS_TOUCH, FZS_REPLAY, FZS_RAW, FZS_CSBEAT, FZS_NOPS };
enum { FZS_P_OWN, FZS_P_OTHER, FZS_P_ROOT, FZS_P_HOME, FZS_P_ALICE, FZS_P_BOB, FZS_P_DEEP,
       FZS_P_RAW };
#define FZS_PATH(base, ncomp) ((unsigned char)((base) | (ncomp) << 3))

/* Path components and search patterns the fuzzer picks from. */
static const char *const fzs_comps[] = {"a", "b", "c", "d", "f", "g", "x y", "é", "..", ".", ""};
#define FZS_NCOMPS (sizeof fzs_comps / sizeof fzs_comps[0])
static const char *const fzs_patterns[] = {"a", "*", "b*", "?", "[", "é", "", "d"};
#define FZS_NPATTERNS (sizeof fzs_patterns / sizeof fzs_patterns[0])

#endif
