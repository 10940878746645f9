/* Writes the seed corpus of every fuzz target: small valid (and a few deliberately
 * refused) messages, one file each, into DIR/<target>/. Run by hand after a protocol
 * change and commit the files: build-h2/fuzz/fuzz_gen_corpus (any build dir) tests/fuzz/corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.pb-c.h"
#include "chunk_meta.pb-c.h"
#include "client_chunk.pb-c.h"
#include "client_meta.pb-c.h"
#include "common/cap.h"
#include "common/crc.h"
#include "common/frame.h"
#include "fuzz_proto_list.h"
#include "fz_authd.h"
#include "fz_chunkd.h"
#include "fz_metad.h"
#include "fz_net.h"
#include "fz_session.h"

static const char *root;
static uint8_t buf[1 << 17];
static size_t blen;

static void save(const char *target, const char *name) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", root, target);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/%s/%s", root, target, name);
  FILE *f = fopen(p, "wb");
  if (!f || fwrite(buf, 1, blen, f) != blen || fclose(f)) { perror(p); exit(1); }
  blen = 0;
}

static size_t pack(const ProtobufCMessage *m, uint8_t *out) { return protobuf_c_message_pack(m, out); }

/* One record (fz_net.h) holding message m. */
static void rec(uint8_t sel, const ProtobufCMessage *m, const void *bulk, uint16_t bulk_len) {
  uint8_t p[8192];
  size_t n = m ? pack(m, p) : 0;
  if (fz_record_put(buf, sizeof buf, &blen, sel, p, (uint16_t)n, bulk, bulk_len)) exit(1);
}

static void frame(uint16_t type, uint16_t flags, const void *payload, uint32_t plen, uint32_t bulk_len) {
  dfs_frame_hdr h = {type, flags, 7, plen, bulk_len};
  dfs_frame_encode_hdr(&h, buf + blen);
  blen += DFS_FRAME_HDR_LEN;
  memcpy(buf + blen, payload, plen);
  blen += plen;
  memset(buf + blen, 'b', bulk_len);
  blen += bulk_len;
}

static void gen_frame(void) {
  frame(100, 0, "hello", 5, 0);
  save("frame", "small");
  frame(100, 0, "Aauth", 5, 0);
  frame(300, 0, "after", 5, 1000);
  frame(102, 0, "second", 6, 0);
  save("frame", "auth_then_bulk");
  frame(100, 0, "x", 1, 10); /* bulk before authentication */
  save("frame", "preauth_bulk");
  frame(100, 0, "", 0, 0);
  buf[0] ^= 0xff; /* bad magic */
  save("frame", "bad_magic");
  frame(100, DFS_FRAME_REPLY, "r", 1, 0);
  save("frame", "reply_flag");
}

static uint8_t proto_sel(const ProtobufCMessageDescriptor *d) {
  for (size_t i = 0; i < sizeof fz_descriptors / sizeof fz_descriptors[0]; i++)
    if (fz_descriptors[i] == d) return (uint8_t)i;
  fprintf(stderr, "gen: descriptor %s not in the list\n", d->name);
  exit(1);
}

static void proto_seed(const ProtobufCMessage *m, const char *name) {
  buf[0] = proto_sel(m->descriptor);
  blen = 1 + pack(m, buf + 1);
  save("proto", name);
}

static void gen_proto(void) {
  Dfs__MkdirReq mk = DFS__MKDIR_REQ__INIT;
  mk.token = "0123456789abcdef";
  mk.path = "/home/alice/dir with space";
  mk.parents = 1;
  mk.mode = 0755;
  proto_seed(&mk.base, "mkdir");
  Dfs__AuthLoginReq lg = DFS__AUTH_LOGIN_REQ__INIT;
  lg.username = "alice";
  lg.password = "alice-password";
  proto_seed(&lg.base, "login");
  Dfs__ServerAddr a = DFS__SERVER_ADDR__INIT, *chain[] = {&a};
  a.server_id = 2;
  a.host = "127.0.0.1";
  a.port = 9000;
  uint32_t crcs[1] = {1};
  Dfs__WriteChunkReq w = DFS__WRITE_CHUNK_REQ__INIT;
  w.chunk_id = 5;
  w.version = 1;
  w.length = 10;
  w.n_block_crc32c = 1;
  w.block_crc32c = crcs;
  w.n_chain = 1;
  w.chain = chain;
  proto_seed(&w.base, "write");
  Dfs__RegisterReq r = DFS__REGISTER_REQ__INIT;
  r.server_uuid = "8c1f-uuid";
  r.host = "127.0.0.1";
  r.port = 9000;
  r.cluster_secret = "secret";
  proto_seed(&r.base, "register");
  Dfs__ListReq ls = DFS__LIST_REQ__INIT;
  ls.path = "/a/../b/./\xc3\xa9";
  proto_seed(&ls.base, "list_path_tricks");
  /* field number 0 in an over-long tag: kept by protobuf-c as an unknown field */
  buf[0] = proto_sel(&dfs__bad_replica_req__descriptor);
  memcpy(buf + 1, "\x80\x00\x00", 3);
  blen = 4;
  save("proto", "unknown_field_0");
}

static void gen_authd(void) {
  Dfs__AuthRegisterReq rg = DFS__AUTH_REGISTER_REQ__INIT;
  rg.username = "alice";
  rg.password = "alice-password";
  Dfs__AuthLoginReq lg = DFS__AUTH_LOGIN_REQ__INIT;
  lg.username = "alice";
  lg.password = "alice-password";
  Dfs__AuthWhoamiReq wh = DFS__AUTH_WHOAMI_REQ__INIT;
  wh.token = FZ_TOKEN_PLACEHOLDER;
  Dfs__AuthLogoutReq lo = DFS__AUTH_LOGOUT_REQ__INIT;
  lo.token = FZ_TOKEN_PLACEHOLDER;
  rec(FZ_A_REGISTER, &rg.base, NULL, 0);
  rec(FZ_A_LOGIN, &lg.base, NULL, 0);
  rec(FZ_A_WHOAMI, &wh.base, NULL, 0);
  rec(FZ_A_LOGOUT, &lo.base, NULL, 0);
  rec(FZ_A_WHOAMI, &wh.base, NULL, 0);
  save("authd", "register_login_whoami_logout");

  Dfs__AuthLoginReq adm = DFS__AUTH_LOGIN_REQ__INIT;
  adm.username = FZ_AUTHD_ADMIN;
  adm.password = FZ_AUTHD_ADMIN_PW;
  Dfs__AuthUsersReq us = DFS__AUTH_USERS_REQ__INIT;
  us.token = FZ_TOKEN_PLACEHOLDER;
  Dfs__AuthSetUserReq su = DFS__AUTH_SET_USER_REQ__INIT;
  su.token = FZ_TOKEN_PLACEHOLDER;
  su.username = "alice";
  su.action = DFS__SET_USER_ACTION__SET_USER_DISABLE;
  Dfs__AuthValidateReq va = DFS__AUTH_VALIDATE_REQ__INIT;
  va.token = FZ_TOKEN_PLACEHOLDER;
  va.service_secret = FZ_AUTHD_SERVICE_SECRET;
  rec(FZ_A_LOGIN, &adm.base, NULL, 0);
  rec(FZ_A_USERS, &us.base, NULL, 0);
  rec(FZ_A_VALIDATE, &va.base, NULL, 0);
  rec(FZ_A_SET_USER, &su.base, NULL, 0);
  su.action = DFS__SET_USER_ACTION__SET_USER_ENABLE;
  rec(FZ_A_SET_USER, &su.base, NULL, 0);
  va.service_secret = "wrong-secret";
  rec(FZ_A_VALIDATE, &va.base, NULL, 0);
  save("authd", "admin_users_setuser_validate");

  Dfs__AuthPasswdReq pw = DFS__AUTH_PASSWD_REQ__INIT;
  pw.token = FZ_TOKEN_PLACEHOLDER;
  pw.old_password = "alice-password";
  pw.new_password = "alice-password2";
  rec(FZ_A_REGISTER, &rg.base, NULL, 0);
  rec(FZ_A_LOGIN, &lg.base, NULL, 0);
  rec(FZ_A_PASSWD, &pw.base, NULL, 0);
  rec(FZ_A_WHOAMI, &wh.base, NULL, 0);
  save("authd", "passwd_revokes");

  Dfs__AuthKeysReq ks = DFS__AUTH_KEYS_REQ__INIT;
  ks.token = FZ_TOKEN_PLACEHOLDER;
  Dfs__AuthAccessKeyReq ak = DFS__AUTH_ACCESS_KEY_REQ__INIT;
  ak.access_key_id = "DKAAAAAAAAAAAAAAAAAA"; /* ids are random: the lookup of an unknown one */
  ak.service_secret = FZ_AUTHD_SERVICE_SECRET;
  ak.want_token = 1;
  rec(FZ_A_LOGIN, &adm.base, NULL, 0);
  ks.action = DFS__KEYS_ACTION__KEYS_CREATE;
  rec(FZ_A_KEYS, &ks.base, NULL, 0);
  ks.action = DFS__KEYS_ACTION__KEYS_LIST;
  rec(FZ_A_KEYS, &ks.base, NULL, 0);
  ks.user = "alice";
  rec(FZ_A_KEYS, &ks.base, NULL, 0);
  ks.user = "";
  ks.action = DFS__KEYS_ACTION__KEYS_DELETE;
  ks.access_key_id = "DKAAAAAAAAAAAAAAAAAA";
  rec(FZ_A_KEYS, &ks.base, NULL, 0);
  rec(FZ_A_ACCESS_KEY, &ak.base, NULL, 0);
  ak.service_secret = "wrong-secret";
  rec(FZ_A_ACCESS_KEY, &ak.base, NULL, 0);
  save("authd", "keys_create_list_delete_lookup");

  lg.password = "wrong-password";
  rec(FZ_A_LOGIN, &lg.base, NULL, 0);
  lg.username = "Not-A-Valid-Name!";
  rec(FZ_A_LOGIN, &lg.base, NULL, 0);
  rec(FZ_A_UNKNOWN, &rg.base, NULL, 0);
  rec(FZ_A_REPLY_TYPE, NULL, NULL, 0);
  rec(FZ_A_REGISTER, &rg.base, "bulk", 4); /* over authd's limits: closes the connection */
  save("authd", "refusals");
}

static void gen_chunkd(void) {
  uint8_t key[DFS_CAP_KEY_LEN], wcap[DFS_CAP_WRITE_MAX], wcap2[DFS_CAP_WRITE_MAX],
      rcap[DFS_CAP_READ_LEN];
  size_t wlen = 0, wlen2 = 0;
  if (dfs_cap_key(FZ_CHUNKD_SECRET, key)) exit(1);
  /* the harness's chunkd is server 1; a chain of one (itself), and one with server 2 */
  dfs_cap_server signed_chain[2] = {{1, "127.0.0.1", 9000}, {2, "127.0.0.1", 9}};
  if (dfs_cap_sign_write(key, 1, 1, signed_chain, 1, FZ_CHUNKD_CAP_EXPIRY, wcap, sizeof wcap,
                         &wlen) ||
      dfs_cap_sign_write(key, 1, 1, signed_chain, 2, FZ_CHUNKD_CAP_EXPIRY, wcap2, sizeof wcap2,
                         &wlen2))
    exit(1);
  dfs_cap_sign_read(key, 1, 1, 1, 0, 100, FZ_CHUNKD_CAP_EXPIRY, rcap);
  uint8_t data[100];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7);
  uint32_t crcs[DFS_BLOCKS_PER_CHUNK];
  dfs_block_crcs(data, sizeof data, crcs);
  Dfs__WriteChunkReq w = DFS__WRITE_CHUNK_REQ__INIT;
  w.capability.data = wcap;
  w.capability.len = wlen;
  w.chunk_id = 1;
  w.version = 1;
  w.length = sizeof data;
  w.n_block_crc32c = 1;
  w.block_crc32c = crcs;
  w.crc32c = dfs_crc32c_from_blocks(crcs, sizeof data);
  Dfs__ReadChunkReq r = DFS__READ_CHUNK_REQ__INIT;
  r.capability.data = rcap;
  r.capability.len = sizeof rcap;
  r.chunk_id = 1;
  r.version = 1;
  r.offset = 10;
  r.length = 50;
  rec(FZ_C_WRITE, &w.base, data, sizeof data);
  rec(FZ_C_READ, &r.base, NULL, 0);
  save("chunkd", "write_read");

  Dfs__ServerAddr a = DFS__SERVER_ADDR__INIT, *chain[] = {&a};
  a.server_id = 2;
  a.host = "127.0.0.1";
  a.port = 9;
  w.n_chain = 1;
  w.chain = chain;
  w.capability.data = wcap2;
  w.capability.len = wlen2;
  rec(FZ_C_WRITE, &w.base, data, sizeof data);
  save("chunkd", "write_chain");

  Dfs__ReadChunkReq bad = r;
  bad.capability.len = 0;
  rec(FZ_C_READ, &bad.base, NULL, 0);          /* no capability */
  bad.capability.data = wcap;
  bad.capability.len = wlen;
  rec(FZ_C_READ, &bad.base, NULL, 0);          /* write capability for a read */
  bad = r;
  bad.chunk_id = 2;
  rec(FZ_C_READ, &bad.base, NULL, 0);          /* another chunk's capability */
  uint8_t old[DFS_CAP_READ_LEN];
  dfs_cap_sign_read(key, 1, 1, 1, 0, 100, 1000, old);
  bad = r;
  bad.capability.data = old;
  rec(FZ_C_READ, &bad.base, NULL, 0);          /* expired */
  rec(FZ_C_UNKNOWN, NULL, NULL, 0);
  save("chunkd", "capability_refusals");
}

static void gen_metad(void) {
  Dfs__MkdirReq mk = DFS__MKDIR_REQ__INIT;
  mk.token = "0123456789abcdef0123456789abcdef";
  mk.path = "/home/alice";
  buf[0] = 0;
  blen = 1 + pack(&mk.base, buf + 1);
  save("metad", "token_scan");
  Dfs__RegisterReq r = DFS__REGISTER_REQ__INIT;
  r.server_uuid = "0f0e-uuid";
  r.host = "127.0.0.1";
  r.port = 9000;
  r.cluster_secret = "fuzz-cluster-secret";
  buf[0] = 1;
  blen = 1 + pack(&r.base, buf + 1);
  save("metad", "register_ok");
  r.cluster_secret = "fuzz-cluster-secreT";
  buf[0] = 1;
  blen = 1 + pack(&r.base, buf + 1);
  save("metad", "register_wrong_secret");
  buf[0] = 2;
  blen = 1;
  frame(100, 0, "", 0, 0);
  save("metad", "preauth_header");
}

/* fuzz_metad_dispatch: namespace sessions through the real dispatch (auth off). */
static void gen_metad_dispatch(void) {
  Dfs__MkdirReq mk = DFS__MKDIR_REQ__INIT;
  mk.path = "/fz/a/b";
  mk.parents = 1;
  mk.request_id = 11;
  Dfs__ListReq ls = DFS__LIST_REQ__INIT;
  ls.path = "/fz/a";
  Dfs__StatReq st = DFS__STAT_REQ__INIT;
  st.path = "/fz/a/b";
  Dfs__TouchReq to = DFS__TOUCH_REQ__INIT;
  to.path = "/fz/a/f";
  to.request_id = 12;
  Dfs__RenameReq rn = DFS__RENAME_REQ__INIT;
  rn.src = "/fz/a/f";
  rn.dst = "/fz/a/b/g";
  rn.request_id = 13;
  Dfs__SearchReq se = DFS__SEARCH_REQ__INIT;
  se.path = "/";
  se.pattern = "g";
  rec(FZ_M_MKDIR, &mk.base, NULL, 0);
  rec(FZ_M_LIST, &ls.base, NULL, 0);
  rec(FZ_M_STAT, &st.base, NULL, 0);
  rec(FZ_M_TOUCH, &to.base, NULL, 0);
  rec(FZ_M_RENAME, &rn.base, NULL, 0);
  rec(FZ_M_SEARCH, &se.base, NULL, 0);
  save("metad_dispatch", "mkdir_list_touch_rename_search");

  Dfs__CopyReq cp = DFS__COPY_REQ__INIT;
  cp.src = "/fz/a";
  cp.dst = "/fz/c";
  cp.recursive = 1;
  cp.request_id = 21;
  Dfs__SetrepReq sr = DFS__SETREP_REQ__INIT;
  sr.path = "/fz/c";
  sr.replicas = 2;
  sr.recursive = 1;
  sr.request_id = 22;
  Dfs__ChmodReq ch = DFS__CHMOD_REQ__INIT;
  ch.path = "/fz/c";
  ch.mode = 0700;
  ch.request_id = 23;
  Dfs__DeleteReq de = DFS__DELETE_REQ__INIT;
  de.path = "/fz/c";
  de.recursive = 1;
  de.trash = 1;
  de.request_id = 24;
  Dfs__TrashReq tl = DFS__TRASH_REQ__INIT;
  tl.action = DFS__TRASH_ACTION__TRASH_LIST;
  Dfs__TrashReq tr = DFS__TRASH_REQ__INIT;
  tr.action = DFS__TRASH_ACTION__TRASH_RESTORE;
  tr.id = 1;
  tr.path = "/fz/restored";
  tr.request_id = 25;
  rec(FZ_M_MKDIR, &mk.base, NULL, 0);
  rec(FZ_M_COPY, &cp.base, NULL, 0);
  rec(FZ_M_SETREP, &sr.base, NULL, 0);
  rec(FZ_M_CHMOD, &ch.base, NULL, 0);
  rec(FZ_M_DELETE, &de.base, NULL, 0);
  rec(FZ_M_TRASH, &tl.base, NULL, 0);
  rec(FZ_M_TRASH, &tr.base, NULL, 0);
  save("metad_dispatch", "copy_setrep_chmod_trash_restore");

  Dfs__AllocReq al = DFS__ALLOC_REQ__INIT;
  al.count = 1;
  al.replicas = 1;
  Dfs__CommitReq cm = DFS__COMMIT_REQ__INIT;
  cm.path = "/fz/file";
  cm.request_id = 31;
  Dfs__GetFileReq gf = DFS__GET_FILE_REQ__INIT;
  gf.path = "/fz/file";
  Dfs__ClusterReq cl = DFS__CLUSTER_REQ__INIT;
  Dfs__FsckReq fs = DFS__FSCK_REQ__INIT;
  fs.path = "/";
  rec(FZ_M_ALLOC, &al.base, NULL, 0); /* no chunkservers: refused */
  rec(FZ_M_COMMIT, &cm.base, NULL, 0);
  rec(FZ_M_GETFILE, &gf.base, NULL, 0);
  rec(FZ_M_CLUSTER, &cl.base, NULL, 0);
  rec(FZ_M_FSCK, &fs.base, NULL, 0);
  rec(FZ_M_UNKNOWN, NULL, NULL, 0);
  save("metad_dispatch", "alloc_commit_getfile_cluster_fsck");

  /* compose: two empty files into a third (deleting them), then refusals: a source
   * named twice, and no source at all */
  Dfs__TouchReq ta = DFS__TOUCH_REQ__INIT, tb = DFS__TOUCH_REQ__INIT;
  ta.path = "/fz/pa";
  ta.request_id = 41;
  tb.path = "/fz/pb";
  tb.request_id = 42;
  char *srcs[] = {"/fz/pa", "/fz/pb"}, *twice[] = {"/fz/pa", "/fz/pa"};
  Dfs__ComposeReq co = DFS__COMPOSE_REQ__INIT;
  co.dst = "/fz/whole";
  co.n_srcs = 2;
  co.srcs = srcs;
  co.delete_srcs = 1;
  co.attrs.data = (uint8_t *)"\x0a\x03etg";
  co.attrs.len = 5;
  co.request_id = 43;
  Dfs__ComposeReq c2 = co;
  c2.srcs = twice;
  c2.delete_srcs = 0;
  c2.request_id = 44;
  Dfs__ComposeReq c3 = co;
  c3.n_srcs = 0;
  c3.request_id = 45;
  rec(FZ_M_MKDIR, &mk.base, NULL, 0);
  rec(FZ_M_TOUCH, &ta.base, NULL, 0);
  rec(FZ_M_TOUCH, &tb.base, NULL, 0);
  rec(FZ_M_COMPOSE, &co.base, NULL, 0);
  rec(FZ_M_COMPOSE, &c2.base, NULL, 0);
  rec(FZ_M_COMPOSE, &c3.base, NULL, 0);
  rec(FZ_M_STAT, &st.base, NULL, 0);
  save("metad_dispatch", "compose");
}


/* ---- metad_session: the operation language of fz_session.h ---- */

enum { C_A, C_B, C_C, C_D, C_F, C_G }; /* indices into fzs_comps */
#define FRESH 0x20 /* a rid selector >= 16: a fresh request id */

static void b1(unsigned v) { if (blen < sizeof buf) buf[blen++] = (uint8_t)v; }
static void b2(unsigned v) { b1(v >> 8); b1(v & 0xff); }
static void op(unsigned code, unsigned actor) { b1(code); b1(actor); }
/* A path: base and up to 3 components (-1 = none). */
static void path3(unsigned base, int c1, int c2, int c3) {
  int n = (c1 >= 0) + (c2 >= 0) + (c3 >= 0);
  b1(FZS_PATH(base, n));
  if (c1 >= 0) b1((unsigned)c1);
  if (c2 >= 0) b1((unsigned)c2);
  if (c3 >= 0) b1((unsigned)c3);
}
static void path1(unsigned base, int c1) { path3(base, c1, -1, -1); }
static void deep(unsigned levels) { b1(FZS_P_DEEP); b1(levels - 990); } /* 990..1005 */

static void s_mkdir(unsigned actor, int parents, unsigned mode, unsigned rid) {
  b1((parents ? 1 : 0) | (mode ? 2 : 0)); b2(mode); b1(rid); (void)actor;
}
static void mkdir_p(unsigned actor, unsigned base, int c1, int c2, int c3) {
  op(FZS_MKDIR, actor); path3(base, c1, c2, c3); s_mkdir(actor, 1, 0, FRESH);
}
static void alloc(unsigned actor, unsigned count, unsigned replicas) {
  op(FZS_ALLOC, actor); b1(count); b1(replicas); b1(0);
}
/* commit: n chunk selectors, flags (fz_session.h) */
static void commit(unsigned actor, unsigned base, int c1, unsigned flags, unsigned n,
                   const unsigned *sel, unsigned last_len, unsigned rid) {
  op(FZS_COMMIT, actor); path1(base, c1); b1(flags); b1(n);
  for (unsigned i = 0; i < n; i++) b1(sel[i]);
  b2(last_len - 1); b2(0644); b1(2); b1(rid);
}
static void put1(unsigned actor, unsigned base, int c1) { /* alloc + commit one chunk */
  static const unsigned z[] = {0};
  alloc(actor, 1, 2);
  commit(actor, base, c1, 0, 1, z, 4096, FRESH);
}
static void getfile(unsigned actor, unsigned base, int c1) {
  op(FZS_GETFILE, actor); path1(base, c1); b1(0); b1(0);
}
static void list(unsigned actor, unsigned base, int c1) { op(FZS_LIST, actor); path1(base, c1); }
static void stat1(unsigned actor, unsigned base, int c1) { op(FZS_STAT, actor); path1(base, c1); }
static void chmod1(unsigned actor, unsigned base, int c1, unsigned mode) {
  op(FZS_CHMOD, actor); path1(base, c1); b2(mode); b1(FRESH);
}
static void del(unsigned actor, unsigned base, int c1, unsigned flags) {
  op(FZS_DELETE, actor); path1(base, c1); b1(flags); b1(FRESH);
}

static void gen_metad_session(void) {
  const unsigned s0[] = {0}, s01[] = {0, 1}, s012[] = {0, 1, 2}, reuse0_new0[] = {0x80, 0};
  mkdir_p(FZS_ALICE, FZS_P_OWN, C_A, C_B, -1);
  list(FZS_ALICE, FZS_P_OWN, C_A);
  stat1(FZS_ALICE, FZS_P_OWN, C_A);
  save("metad_session", "mkdir_list_stat");

  put1(FZS_ALICE, FZS_P_OWN, C_F);
  getfile(FZS_ALICE, FZS_P_OWN, C_F);
  list(FZS_ALICE, FZS_P_OWN, -1);
  save("metad_session", "alloc_commit_getfile");

  alloc(FZS_BOB, 3, 3);
  commit(FZS_BOB, FZS_P_OWN, C_F, 0, 3, s012, 100, FRESH);
  getfile(FZS_BOB, FZS_P_OWN, C_F);
  save("metad_session", "commit_three_chunks");

  alloc(FZS_ALICE, 2, 1);
  commit(FZS_BOB, FZS_P_OWN, C_F, 8, 1, s0, 10, FRESH); /* alice's grant: refused */
  commit(FZS_ALICE, FZS_P_OWN, C_F, 16, 1, s0, 10, FRESH); /* corrupt grant */
  commit(FZS_ALICE, FZS_P_OWN, C_F, 4, 1, s0, 10, FRESH); /* no receipt */
  commit(FZS_ALICE, FZS_P_OWN, C_F, 2, 1, s0, 10, FRESH); /* wrong size */
  commit(FZS_ALICE, FZS_P_OWN, C_F, 0, 2, s01, 10, FRESH);
  commit(FZS_ALICE, FZS_P_OWN, C_G, 0, 2, s01, 10, FRESH); /* ids already in a file */
  save("metad_session", "commit_refusals");

  put1(FZS_ALICE, FZS_P_OWN, C_F);
  getfile(FZS_ALICE, FZS_P_OWN, C_F);
  alloc(FZS_ALICE, 1, 2);
  commit(FZS_ALICE, FZS_P_OWN, C_F, 1, 2, reuse0_new0, 9, FRESH); /* wrong: reused one is short */
  commit(FZS_ALICE, FZS_P_OWN, C_F, 1, 1, (const unsigned[]){1}, 5000, FRESH); /* overwrite */
  getfile(FZS_ALICE, FZS_P_OWN, C_F);
  save("metad_session", "overwrite_reuse");

  put1(FZS_ALICE, FZS_P_OWN, C_F);
  op(FZS_COPY, FZS_ALICE); path1(FZS_P_OWN, C_F); path1(FZS_P_OWN, C_G); b1(0); b1(FRESH);
  del(FZS_ALICE, FZS_P_OWN, C_F, 0);
  getfile(FZS_ALICE, FZS_P_OWN, C_G);
  del(FZS_ALICE, FZS_P_OWN, C_G, 0);
  save("metad_session", "copy_delete");

  mkdir_p(FZS_BOB, FZS_P_OWN, C_A, -1, -1);
  op(FZS_TOUCH, FZS_BOB); path1(FZS_P_OWN, C_F); b2(0600); b1(FRESH);
  op(FZS_RENAME, FZS_BOB); path1(FZS_P_OWN, C_F); path3(FZS_P_OWN, C_A, C_F, -1); b1(0); b1(FRESH);
  op(FZS_RENAME, FZS_BOB); path1(FZS_P_OWN, C_A); path1(FZS_P_OWN, C_B); b1(0); b1(FRESH);
  op(FZS_RENAME, FZS_BOB); path1(FZS_P_OWN, C_B); path3(FZS_P_OWN, C_B, C_C, -1); b1(0); b1(FRESH);
  list(FZS_BOB, FZS_P_OWN, C_B);
  save("metad_session", "touch_rename");

  put1(FZS_ALICE, FZS_P_OWN, C_F);
  del(FZS_ALICE, FZS_P_OWN, C_F, 2);
  op(FZS_TRASH, FZS_ALICE); b1(0); b1(0); b1(0); b1(FRESH);     /* list */
  op(FZS_TRASH, FZS_ALICE); b1(1); b1(0); b1(0); b1(FRESH);     /* restore */
  del(FZS_ALICE, FZS_P_OWN, C_F, 2);
  op(FZS_TRASH, FZS_ALICE); b1(2); b1(0); b1(0); b1(FRESH);     /* empty */
  getfile(FZS_ALICE, FZS_P_OWN, C_F);
  save("metad_session", "trash_restore_empty");

  mkdir_p(FZS_ALICE, FZS_P_OWN, C_A, -1, -1);
  put1(FZS_ALICE, FZS_P_OWN, C_A);
  del(FZS_ALICE, FZS_P_OWN, C_A, 3);
  op(FZS_TRASH, FZS_ALICE); b1(0); b1(0); b1(0); b1(FRESH);
  op(FZS_TRASH, FZS_BOB); b1(1); b1(0); b1(0); b1(FRESH); /* bob restores alice's item */
  op(FZS_TRASH, FZS_ALICE); b1(1); b1(0); b1(1); path1(FZS_P_OWN, C_G); b1(FRESH);
  save("metad_session", "trash_restore_elsewhere");

  mkdir_p(FZS_ALICE, FZS_P_OWN, C_A, C_B, -1);
  put1(FZS_ALICE, FZS_P_OWN, C_A);
  op(FZS_SETREP, FZS_ALICE); path1(FZS_P_OWN, -1); b1(5); b1(1); b1(FRESH);
  op(FZS_SETREP, FZS_BOB); path1(FZS_P_OTHER, -1); b1(1); b1(1); b1(FRESH);
  op(FZS_FSCK, FZS_ALICE); path1(FZS_P_ROOT, -1); b1(0); b1(0);
  op(FZS_CLUSTER, FZS_ALICE);
  save("metad_session", "setrep_fsck_cluster");

  /* bob opens his home, alice writes there, bob closes it: alice is locked out */
  chmod1(FZS_BOB, FZS_P_OWN, -1, 0777);
  mkdir_p(FZS_ALICE, FZS_P_OTHER, C_A, -1, -1);
  put1(FZS_ALICE, FZS_P_OTHER, C_F);
  chmod1(FZS_BOB, FZS_P_OWN, -1, 0700);
  stat1(FZS_ALICE, FZS_P_OTHER, C_F);
  getfile(FZS_ALICE, FZS_P_OTHER, C_F);
  list(FZS_ALICE, FZS_P_OTHER, -1);
  del(FZS_ALICE, FZS_P_OTHER, C_F, 0);
  op(FZS_SEARCH, FZS_ALICE); b1(1); path1(FZS_P_ROOT, -1); b1(1); b1(0);
  save("metad_session", "home_opened_then_closed");

  /* alice deletes into trash inside bob's open home; he closes it; she restores */
  chmod1(FZS_BOB, FZS_P_OWN, -1, 0777);
  op(FZS_TOUCH, FZS_ALICE); path1(FZS_P_OTHER, C_G); b2(0644); b1(FRESH);
  del(FZS_ALICE, FZS_P_OTHER, C_G, 2);
  chmod1(FZS_BOB, FZS_P_OWN, -1, 0700);
  op(FZS_TRASH, FZS_ALICE); b1(0); b1(0); b1(0); b1(FRESH);
  op(FZS_TRASH, FZS_ALICE); b1(1); b1(0); b1(0); b1(FRESH);
  save("metad_session", "trash_restore_into_closed_home");

  put1(FZS_BOB, FZS_P_OWN, C_F);
  mkdir_p(FZS_ALICE, FZS_P_OTHER, C_A, -1, -1);
  op(FZS_RENAME, FZS_ALICE); path1(FZS_P_OTHER, C_F); path1(FZS_P_OWN, C_F); b1(1); b1(FRESH);
  op(FZS_COPY, FZS_ALICE); path1(FZS_P_OTHER, C_F); path1(FZS_P_OWN, C_G); b1(3); b1(FRESH);
  op(FZS_COPY, FZS_ALICE); path1(FZS_P_OTHER, -1); path1(FZS_P_OWN, C_G); b1(1); b1(FRESH);
  chmod1(FZS_ALICE, FZS_P_OTHER, -1, 0777);
  op(FZS_SETREP, FZS_ALICE); path1(FZS_P_OTHER, C_F); b1(1); b1(0); b1(FRESH);
  op(FZS_BADREP, FZS_ALICE); b1(0); b1(1); path1(FZS_P_OTHER, C_F); b1(1);
  save("metad_session", "attacks_on_closed_home");

  put1(FZS_BOB, FZS_P_OWN, C_F);
  getfile(FZS_BOB, FZS_P_OWN, C_F);
  op(FZS_BADREP, FZS_ALICE); b1(0); b1(1); path1(FZS_P_OTHER, C_F); b1(0);
  op(FZS_BADREP, FZS_BOB); b1(0); b1(1); path1(FZS_P_OWN, C_F); b1(1);
  op(FZS_BADREP, FZS_BOB); b1(0); b1(4); path1(FZS_P_OWN, C_F); b1(0);
  op(FZS_CSBEAT, FZS_BOB); b1(0); b1(0x80); b1(1);
  op(FZS_CSBEAT, FZS_BOB); b1(1); b1(0x80); b1(2);
  getfile(FZS_BOB, FZS_P_OWN, C_F);
  save("metad_session", "bad_replica_heartbeats");

  op(FZS_MKDIR, FZS_STRANGER); path1(FZS_P_ROOT, C_A); s_mkdir(0, 1, 0, FRESH);
  op(FZS_LIST, FZS_STRANGER); path1(FZS_P_HOME, -1);
  alloc(FZS_STRANGER, 1, 1);
  op(FZS_CLUSTER, FZS_STRANGER);
  save("metad_session", "stranger");

  /* client attributes: empty files committed with attrs (the path's bytes, then the
   * 2048 maximum, then 2049: refused), copied, trashed and restored */
  commit(FZS_ALICE, FZS_P_OWN, C_F, 32, 0, NULL, 1, FRESH);
  commit(FZS_ALICE, FZS_P_OWN, C_F, 1 | 32 | 64, 0, NULL, 1, FRESH);
  commit(FZS_ALICE, FZS_P_OWN, C_F, 1 | 32 | 128, 0, NULL, 1, FRESH);
  op(FZS_COPY, FZS_ALICE); path1(FZS_P_OWN, C_F); path1(FZS_P_OWN, C_G); b1(0); b1(FRESH);
  del(FZS_ALICE, FZS_P_OWN, C_G, 2);
  op(FZS_TRASH, FZS_ALICE); b1(1); b1(0); b1(0); b1(FRESH);     /* restore */
  commit(FZS_ALICE, FZS_P_OWN, C_F, 1, 0, NULL, 1, FRESH);      /* none again */
  list(FZS_ALICE, FZS_P_OWN, -1);
  stat1(FZS_ALICE, FZS_P_OWN, C_G);
  save("metad_session", "commit_attrs");

  mkdir_p(FZS_ADMIN, FZS_P_ROOT, C_A, -1, -1);
  chmod1(FZS_ADMIN, FZS_P_HOME, -1, 0777);
  op(FZS_RENAME, FZS_ALICE); path1(FZS_P_OTHER, -1); path1(FZS_P_HOME, C_G); b1(0); b1(FRESH);
  chmod1(FZS_ADMIN, FZS_P_OTHER, -1, 0755);
  list(FZS_ALICE, FZS_P_OTHER, -1);
  op(FZS_RENAME, FZS_ADMIN); path1(FZS_P_BOB, -1); path1(FZS_P_ROOT, C_B); b1(0); b1(FRESH);
  stat1(FZS_BOB, FZS_P_OWN, -1); /* bob gets a new home */
  save("metad_session", "admin_moves_homes");

  op(FZS_MKDIR, FZS_ALICE); path1(FZS_P_OWN, C_A); s_mkdir(0, 0, 0, 5);
  op(FZS_REPLAY, FZS_ALICE); b1(0); b1(0);                      /* identical: a retry */
  op(FZS_REPLAY, FZS_BOB); b1(0); b1(1);                        /* as bob: refused */
  op(FZS_REPLAY, FZS_ALICE); b1(0); b1(2); path1(FZS_P_OWN, C_B); /* other path: refused */
  op(FZS_REPLAY, FZS_ALICE); b1(0); b1(3); b2(3); b1(1);        /* a byte changed */
  op(FZS_TOUCH, FZS_ALICE); path1(FZS_P_OWN, C_C); b2(0644); b1(5); /* rid 5 again */
  save("metad_session", "replays");

  alloc(FZS_ALICE, 1, 2);
  commit(FZS_ALICE, FZS_P_OWN, C_F, 0, 1, s0, 77, 9);
  op(FZS_REPLAY, FZS_ALICE); b1(1); b1(0);
  op(FZS_REPLAY, FZS_BOB); b1(1); b1(1);
  op(FZS_REPLAY, FZS_ALICE); b1(1); b1(2); path1(FZS_P_OWN, C_G);
  getfile(FZS_ALICE, FZS_P_OWN, C_G);
  save("metad_session", "commit_replays");

  op(FZS_MKDIR, FZS_ALICE); deep(998); s_mkdir(0, 1, 0, FRESH); /* depth 1000: fits */
  op(FZS_MKDIR, FZS_ALICE); deep(999); s_mkdir(0, 1, 0, FRESH); /* 1001: refused */
  op(FZS_STAT, FZS_ALICE); deep(998);
  save("metad_session", "deep_mkdir_limit");

  op(FZS_MKDIR, FZS_ALICE); deep(998); s_mkdir(0, 1, 0, FRESH); /* leaf at depth 1000 */
  mkdir_p(FZS_ALICE, FZS_P_OWN, C_A, -1, -1);
  op(FZS_RENAME, FZS_ALICE); path1(FZS_P_OWN, C_D); path3(FZS_P_OWN, C_A, C_D, -1); b1(0); b1(FRESH); /* 1001 */
  op(FZS_RENAME, FZS_ALICE); path1(FZS_P_OWN, C_D); path1(FZS_P_OWN, C_G); b1(0); b1(FRESH);
  op(FZS_COPY, FZS_ALICE); path1(FZS_P_OWN, C_G); path3(FZS_P_OWN, C_A, C_B, -1); b1(1); b1(FRESH); /* 1001 */
  op(FZS_COPY, FZS_ALICE); path1(FZS_P_OWN, C_G); path1(FZS_P_OWN, C_C); b1(1); b1(FRESH);
  del(FZS_ALICE, FZS_P_OWN, C_G, 3);
  op(FZS_TRASH, FZS_ALICE); b1(0); b1(0); b1(0); b1(FRESH);
  op(FZS_TRASH, FZS_ALICE); b1(1); b1(0); b1(1); path3(FZS_P_OWN, C_A, C_G, -1); b1(FRESH); /* 1001 */
  save("metad_session", "deep_rename_copy");

  op(FZS_MKDIR, FZS_BOB); deep(995); s_mkdir(0, 1, 0, FRESH);
  del(FZS_BOB, FZS_P_OWN, C_D, 3);
  mkdir_p(FZS_BOB, FZS_P_OWN, C_A, C_B, C_C);
  op(FZS_TRASH, FZS_BOB); b1(1); b1(0); b1(1); path3(FZS_P_OWN, C_A, C_B, C_C); b1(FRESH);
  op(FZS_TRASH, FZS_BOB); b1(0); b1(0); b1(0); b1(FRESH);
  op(FZS_TRASH, FZS_BOB); b1(1); b1(0); b1(1); path1(FZS_P_OWN, C_G); b1(FRESH);
  save("metad_session", "deep_trash_restore");

  op(FZS_RAW, FZS_ALICE); b1(0); b1(4); b1(0x12); b1(2); b1('/'); b1('x');
  op(FZS_RAW, FZS_BOB); b1(5); b1(3); b1(0x42); b1(0x01); b1(0x00);
  op(FZS_RAW, FZS_ALICE); b1(17); b1(0);
  op(FZS_RAW, FZS_ALICE); b1(13); b1(2); b1(0x12); b1(0x00);
  save("metad_session", "raw_frames");

  alloc(FZS_ALICE, 0, 0);
  op(FZS_ALLOC, FZS_ALICE); b1(4); b1(4); b1(1 | 2 << 1);
  alloc(FZS_BOB, 4, 1);
  commit(FZS_BOB, FZS_P_OWN, C_A, 0, 4, (const unsigned[]){0, 1, 2, 3}, 65536, FRESH);
  save("metad_session", "alloc_variants");

  op(FZS_TOUCH, FZS_ALICE); path1(FZS_P_OWN, C_F); b2(0); b1(FRESH);
  chmod1(FZS_ALICE, FZS_P_OWN, C_F, 01777);
  chmod1(FZS_ALICE, FZS_P_OWN, C_F, 0);
  op(FZS_TOUCH, FZS_ALICE); path1(FZS_P_OWN, C_F); b2(0644); b1(FRESH);
  op(FZS_MKDIR, FZS_ALICE); path3(FZS_P_OWN, 8, -1, -1); s_mkdir(0, 0, 0, FRESH); /* ".." */
  op(FZS_MKDIR, FZS_ALICE); path3(FZS_P_OWN, 7, 6, -1); s_mkdir(0, 1, 0700, FRESH);
  op(FZS_MKDIR, FZS_ALICE); b1(FZS_P_RAW); b1(3); b1('/'); b1(0xff); b1('a'); b1(0); b1(0); b1(0); b1(FRESH);
  save("metad_session", "modes_and_bad_paths");

  put1(FZS_ALICE, FZS_P_OWN, C_F);
  op(FZS_SEARCH, FZS_BOB); b1(1); path1(FZS_P_ROOT, -1); b1(1 | 1 << 3); b1(10);
  op(FZS_SEARCH, FZS_BOB); b1(0); path1(FZS_P_OTHER, -1); b1(0); b1(0);
  op(FZS_SEARCH, FZS_ADMIN); b1(1); path1(FZS_P_ROOT, -1); b1(1); b1(0);
  op(FZS_FSCK, FZS_BOB); path1(FZS_P_OTHER, -1); b1(0); b1(0);
  save("metad_session", "search_fsck_others");

  put1(FZS_ALICE, FZS_P_OWN, C_F);
  op(FZS_COPY, FZS_ALICE); path1(FZS_P_OWN, C_F); path1(FZS_P_OWN, C_G); b1(0); b1(FRESH);
  op(FZS_COPY, FZS_ALICE); path1(FZS_P_OWN, C_F); path1(FZS_P_OWN, C_G); b1(2); b1(FRESH);
  op(FZS_RENAME, FZS_ALICE); path1(FZS_P_OWN, C_G); path1(FZS_P_OWN, C_F); b1(1); b1(FRESH);
  del(FZS_ALICE, FZS_P_OWN, C_F, 2);
  put1(FZS_ALICE, FZS_P_OWN, C_F);
  del(FZS_ALICE, FZS_P_OWN, C_F, 2);
  op(FZS_TRASH, FZS_ALICE); b1(0); b1(0); b1(0); b1(FRESH);
  op(FZS_TRASH, FZS_ALICE); b1(1); b1(0); b1(0); b1(FRESH);
  op(FZS_TRASH, FZS_ALICE); b1(1); b1(1); b1(0); b1(FRESH);
  save("metad_session", "overwrite_and_trash_twice");

  put1(FZS_ALICE, FZS_P_OWN, C_F);
  getfile(FZS_ALICE, FZS_P_OWN, C_F);
  del(FZS_ALICE, FZS_P_OWN, C_F, 0);
  commit(FZS_ALICE, FZS_P_OWN, C_G, 0, 1, (const unsigned[]){0}, 4096, FRESH); /* retired id */
  commit(FZS_ALICE, FZS_P_OWN, C_G, 0, 1, (const unsigned[]){0x80}, 4096, FRESH);
  save("metad_session", "commit_retired_id");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_gen_corpus DIR (e.g. tests/fuzz/corpus)\n");
    return 2;
  }
  root = argv[1];
  mkdir(root, 0755);
  gen_frame();
  gen_proto();
  gen_authd();
  gen_chunkd();
  gen_metad();
  gen_metad_dispatch();
  gen_metad_session();
  return 0;
}
