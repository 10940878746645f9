/* Fuzz target (c, authd): every authd request (register, login, logout, whoami, passwd,
 * users, set-user, metad's validate, S3 access keys and the gateway's lookup, plus
 * unknown types) through the real handlers and
 * dfs_conn server on an in-process libuv loop, with a throwaway user store in a temp
 * directory and bcrypt cost 4. Input: records (fz_net.h), one request each, each
 * answered before the next is sent; a fresh login rate limiter per input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/authd.h"
#include "common/frame.h"
#include "common/log.h"
#include "fz_authd.h"
#include "fz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static authd ad;
static int port;
static int synced;

static void on_sync(int status, void *ud) { synced = 1; }
static int is_synced(void *ud) { return synced; }

static void setup(void) {
  dfs_log_init("fuzz-authd", DFS_LOG_ERROR);
  ad.loop = uv_default_loop();
  if (user_store_open(ad.loop, fz_tempdir("authd"), &ad.store)) abort();
  ad.bcrypt_cost = 4;
  ad.session_ttl_ms = 3600 * 1000;
  snprintf(ad.service_secret, sizeof ad.service_secret, "%s", FZ_AUTHD_SERVICE_SECRET);
  if (pw_hash("not-a-real-password", ad.bcrypt_cost, ad.dummy_hash)) abort();
  if (authd_ensure_admin(&ad, FZ_AUTHD_ADMIN, FZ_AUTHD_ADMIN_PW)) abort();
  if (user_store_sync(ad.store, on_sync, NULL)) abort();
  fz_pump_until(ad.loop, is_synced, NULL);
  dfs_conn_opts o = authd_conn_opts(&ad);
  dfs_server *srv;
  if (dfs_server_listen(ad.loop, "127.0.0.1", 0, &o, &srv)) abort();
  port = dfs_server_port(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ad.loop) setup();
  rl_free(ad.rl);
  ad.rl = rl_new(15 * 60 * 1000);
  if (!ad.rl) abort();
  fz_record rec[FZ_MAX_RECORDS];
  size_t n = fz_records(data, size, rec);
  char token[65] = "";
  int logins = 0;
  fz_client cl;
  fz_connect(&cl, ad.loop, port);
  for (size_t i = 0; i < n && !cl.eof; i++) {
    uint16_t type = fz_authd_types[rec[i].sel % (sizeof fz_authd_types / sizeof fz_authd_types[0])];
    if (type == DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGIN && ++logins > FZ_MAX_LOGINS) continue;
    size_t len = DFS_FRAME_HDR_LEN + rec[i].payload_len + rec[i].bulk_len;
    uint8_t *f = malloc(len);
    if (!f) abort();
    dfs_frame_hdr h = {type, 0, i + 1, rec[i].payload_len, rec[i].bulk_len};
    dfs_frame_encode_hdr(&h, f);
    uint8_t *pl = f + DFS_FRAME_HDR_LEN;
    memcpy(pl, rec[i].payload, rec[i].payload_len);
    memcpy(pl + rec[i].payload_len, rec[i].bulk, rec[i].bulk_len);
    size_t tl = strlen(FZ_TOKEN_PLACEHOLDER);
    for (size_t k = 0; token[0] && k + tl <= rec[i].payload_len; k++)
      if (memcmp(pl + k, FZ_TOKEN_PLACEHOLDER, tl) == 0) memcpy(pl + k, token, tl);
    fz_write(&cl, f, len);
    free(f);
    int got = fz_read_reply(&cl);
    fz_trace(i, type, &cl);
    if (!got) break;
    dfs_frame_hdr rh;
    dfs_frame_limits lim = {DFS_MAX_PAYLOAD, DFS_MAX_BULK};
    if (dfs_frame_decode_hdr(cl.reply, &lim, &rh) || !(rh.flags & DFS_FRAME_REPLY) || rh.req_id != i + 1) {
      fprintf(stderr, "authd sent a bad reply header to request %zu\n", i + 1);
      abort();
    }
    if (rh.type == DFS__MSG_TYPE__MSG_AUTH_TO_CLIENT_LOGIN) {
      Dfs__AuthLoginRep *r = dfs__auth_login_rep__unpack(NULL, rh.payload_len, cl.reply + DFS_FRAME_HDR_LEN);
      if (!r) { fprintf(stderr, "authd sent an undecodable login reply\n"); abort(); }
      if (strlen(r->token) == tl) memcpy(token, r->token, tl + 1);
      dfs__auth_login_rep__free_unpacked(r, NULL);
    }
  }
  fz_finish(&cl);
  return 0;
}
