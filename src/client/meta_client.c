/* Blocking metad client for the CLI (see meta_client.h). */
#include "client/meta_client.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/sock.h"
#include "common/util.h"

int meta_client_init(meta_client *mc, const char *addr) {
  memset(mc, 0, sizeof *mc);
  mc->fd = -1;
  mc->service = "metad";
  for (const char *p = addr;;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char one[300], host[256];
    int port;
    if (n == 0 || n >= sizeof one || mc->naddrs == CLIENT_META_MAX_ADDRS) return DFS_EINVAL;
    memcpy(one, p, n);
    one[n] = '\0';
    if (dfs_parse_hostport(one, host, sizeof host, &port)) return DFS_EINVAL;
    memcpy(mc->addrs[mc->naddrs++], one, n + 1);
    if (!e) break;
    p = e + 1;
  }
  if (dfs_parse_hostport(mc->addrs[0], mc->host, sizeof mc->host, &mc->port)) return DFS_EINVAL;
  snprintf(mc->addr, sizeof mc->addr, "%s", mc->addrs[0]);
  return 0;
}

void meta_client_close(meta_client *mc) {
  dfs_sock_close(mc->fd);
  mc->fd = -1;
}

static int ensure_connected(meta_client *mc) {
  if (mc->fd >= 0) return 0;
  int fd = dfs_sock_connect(mc->host, mc->port, CLIENT_CONNECT_TIMEOUT_MS);
  if (fd < 0) return fd == DFS_ETIMEDOUT ? DFS_ECONN : fd;
  unsigned ms = mc->timeout_ms ? mc->timeout_ms : CLIENT_META_TIMEOUT_MS;
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  mc->fd = fd;
  return 0;
}

void meta_set_token(const meta_client *mc, ProtobufCMessage *req) {
  if (!mc->token || !*mc->token) return;
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "token");
  if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED) return;
  char **slot = (char **)((char *)req + f->offset);
  if (!*slot || !**slot) *slot = (char *)mc->token; /* borrowed; never freed by us */
}

/* The Status of any reply: every reply message has `Status status = 1`. */
static const Dfs__Status *reply_status(const ProtobufCMessage *m) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "status");
  if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE) return NULL;
  return *(const Dfs__Status *const *)((const char *)m + f->offset);
}

int meta_parse_leader(const char *msg, char *host, size_t hostsz, int *port) {
  return dfs_find_hostport(msg, host, hostsz, port);
}

static int call_once(meta_client *mc, uint16_t type, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *rep_desc, ProtobufCMessage **rep,
                     char *err, size_t errsz) {
  *rep = NULL;
  int rc = ensure_connected(mc);
  if (rc) {
    snprintf(err, errsz, "cannot reach %s at %s", mc->service, mc->addr);
    return rc;
  }
  dfs_msg m;
  err[0] = '\0';
  rc = dfs_sock_call(mc->fd, type, req, NULL, 0, &m, err, errsz);
  if (rc == 0 || err[0]) mc->ever_connected = 1; /* a reply or an error frame came back */
  if (rc) {
    if (!err[0]) snprintf(err, errsz, "%s %s: %s", mc->service, mc->addr, dfs_strerror(rc));
    meta_client_close(mc);  /* only a decoded error reply leaves the socket usable */
    return rc;
  }
  *rep = protobuf_c_message_unpack(rep_desc, NULL, m.hdr.payload_len, m.payload);
  dfs_msg_free(&m);
  if (!*rep) {
    snprintf(err, errsz, "%s %s sent a reply that cannot be decoded", mc->service, mc->addr);
    meta_client_close(mc);
    return DFS_EPROTO;
  }
  const Dfs__Status *st = reply_status(*rep);
  if (st && st->error < 0) {
    snprintf(err, errsz, "%s", st->message && *st->message ? st->message
                                                          : dfs_strerror(st->error));
    return st->error;
  }
  return 0;
}

static void set_addr(meta_client *mc, const char *host, int port) {
  meta_client_close(mc);
  snprintf(mc->host, sizeof mc->host, "%s", host);
  mc->port = port;
  snprintf(mc->addr, sizeof mc->addr, "%s:%d", host, port);
}

int meta_client_switch(meta_client *mc, const char *hostport) {
  char host[256];
  int port;
  if (dfs_parse_hostport(hostport, host, sizeof host, &port)) return DFS_EINVAL;
  if (port != mc->port || strcmp(host, mc->host)) set_addr(mc, host, port);
  return 0;
}

/* Switches to the next of several addresses (after one could not be reached). 1 if
 * there is another, 0 with a single address. */
static int next_addr(meta_client *mc) {
  if (mc->naddrs < 2) return 0;
  mc->cur = (mc->cur + 1) % mc->naddrs;
  char host[256];
  int port;
  if (dfs_parse_hostport(mc->addrs[mc->cur], host, sizeof host, &port)) return 0;
  set_addr(mc, host, port);
  return 1;
}

int meta_call(meta_client *mc, uint16_t type, ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *rep_desc, ProtobufCMessage **rep, char *err,
              size_t errsz) {
  meta_set_token(mc, req);
  int redirects = 0, timeouts = 0, plain_closes = 0, unreachable = 0;
  char last_leader[300] = "";
  uint64_t deadline = 0, backoff_ms = 0;
  char orig_host[sizeof mc->host];
  int orig_port = mc->port;
  snprintf(orig_host, sizeof orig_host, "%s", mc->host);
  for (;;) {
    int rc = call_once(mc, type, req, rep_desc, rep, err, errsz);
    if (rc == DFS_ENOTLEADER) {
      char host[256], named[300];
      int port;
      if (meta_parse_leader(err, host, sizeof host, &port) == 0 &&
          !(port == mc->port && strcmp(host, mc->host) == 0)) {
        /* a leader named for the first time is always followed (after a failover the
         * followers name the new one); the same one again only a few times (it may be
         * the old leader, dead, that a follower still believes in) */
        snprintf(named, sizeof named, "%s:%d", host, port);
        if (strcmp(named, last_leader) != 0) redirects = 0;
        snprintf(last_leader, sizeof last_leader, "%s", named);
        if (redirects < CLIENT_META_MAX_REDIRECTS) {
          if (*rep) protobuf_c_message_free_unpacked(*rep, NULL);
          *rep = NULL;
          set_addr(mc, host, port);
          redirects++;
          continue;
        }
      }
    }
    /* Several metad voters: one that cannot be reached (dead, or the leader we were
     * redirected to died) is skipped for the next at once; after a full round without
     * an answer, the usual retry below (or the error) applies. */
    if ((rc == DFS_ECONN || rc == DFS_ECLOSED) && mc->naddrs > 1 &&
        ++unreachable % mc->naddrs != 0 && next_addr(mc)) {
      if (*rep) protobuf_c_message_free_unpacked(*rep, NULL);
      *rep = NULL;
      continue;
    }
    /* A leader we were redirected to is gone: ask the address we were given again. */
    if (rc == DFS_ECONN && redirects && mc->naddrs < 2 &&
        (mc->port != orig_port || strcmp(mc->host, orig_host)))
      set_addr(mc, orig_host, orig_port);
    /* A server that never answered and closes our plaintext connection again right
     * away is a TLS server refusing plaintext: say so at once instead of retrying. */
    if (rc == DFS_ECLOSED && !mc->ever_connected && !mc->tls && ++plain_closes >= 2) {
      snprintf(err, errsz, "%s at %s requires TLS: pass --tls-ca FILE (or set $DFS_TLS_CA, "
               "or tls.enabled: true and tls.ca in dfs.yaml)", mc->service, mc->addr);
      return DFS_ECONFIG;
    }
    /* The connection broke, metad is restarting, electing, or not ready: retry with the
     * same request (reads are idempotent, mutations carry request ids). A metad that
     * never answered is reported at once ("is the cluster running?"). */
    if (rc == DFS_ECLOSED || rc == DFS_EUNAVAIL || rc == DFS_ENOTLEADER ||
        (rc == DFS_ECONN && mc->ever_connected)) {
      uint64_t now = dfs_now_ms();
      if (!deadline) deadline = now + CLIENT_META_RETRY_MS;
      if (now < deadline) {
        if (*rep) protobuf_c_message_free_unpacked(*rep, NULL);
        *rep = NULL;
        /* a metad without a leader to name (cut off from the other voters, or electing)
         * may be the only one that does not know it: ask the next voter next time */
        if (rc == DFS_ENOTLEADER && mc->naddrs > 1) next_addr(mc);
        if (backoff_ms) dfs_sleep_ms(backoff_ms);
        backoff_ms = backoff_ms ? (backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2) : 100;
        continue;
      }
    }
    if (rc == DFS_ETIMEDOUT && !timeouts++) continue;
    return rc;
  }
}
