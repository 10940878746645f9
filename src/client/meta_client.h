/* The client library's blocking connection to metad (used by the CLI and dfsgw; with
 * the same code to authd, `service` names which in messages): connects lazily (5 s),
 * makes one call at a time with a 30 s timeout, and retries (every request is a read or carries a request
 * id, so a retry is safe): a lost connection, a metad that went away after answering
 * once (restart) or DFS_EUNAVAIL are retried with backoff for up to CLIENT_META_RETRY_MS; a
 * timeout once. Follows DFS_ENOTLEADER redirects (at most 3) to the address named in
 * the reply; a leader that is unreachable sends us back to the address we were given.
 * Not thread safe: one thread at a time (put's allocator holds a mutex around it). */
#ifndef DFS_CLIENT_META_CLIENT_H
#define DFS_CLIENT_META_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_CONNECT_TIMEOUT_MS 5000
#define CLIENT_META_TIMEOUT_MS 30000
#define CLIENT_CHUNK_TIMEOUT_MS 60000
/* a read of one chunk silent this long (a hung or SIGSTOPped chunkserver): try the next
 * replica. Shorter than writes, which wait for a chain of fsyncs. */
#define CLIENT_READ_TIMEOUT_MS 10000
#define CLIENT_META_RETRY_MS 15000
#define CLIENT_META_MAX_REDIRECTS 3

#define CLIENT_META_MAX_ADDRS 7 /* metad voters a client may be given (--meta A,B,C) */

typedef struct {
  char host[256];
  int port;
  char addr[300];  /* "host:port" in use now, for messages */
  /* every address given (several metad voters): one that cannot be reached is skipped
   * for the next; a redirect still goes straight to the leader */
  char addrs[CLIENT_META_MAX_ADDRS][300];
  int naddrs, cur;
  int fd;          /* -1 when not connected */
  int ever_connected; /* metad answered once: later connection failures are retried */
  const char *service; /* "metad" or "authd" (static) */
  const char *token;   /* session token put into every request (borrowed; NULL: none) */
  int tls;             /* 1 if connections use TLS (only for hints in messages) */
  unsigned timeout_ms; /* a reply silent this long fails the call (once retried); 0 =
                        * CLIENT_META_TIMEOUT_MS. dfs mount uses less: a program waits */
} meta_client;

/* Parses addr (HOST:PORT, or several separated by commas: the metad voters) into mc
 * (service "metad", no token) without connecting. 0 or DFS_EINVAL. */
int meta_client_init(meta_client *mc, const char *addr);
void meta_client_close(meta_client *mc);
/* Talks to hostport (e.g. the leader a follower named) from the next call on; the other
 * addresses stay. 0 or DFS_EINVAL. */
int meta_client_switch(meta_client *mc, const char *hostport);

/* Sets req's string field `token` (every metad request and every authd request after
 * login has one) to mc->token unless it is already set. */
void meta_set_token(const meta_client *mc, ProtobufCMessage *req);

/* Fills in the token (meta_set_token), sends req (message type `type`) and waits for the reply, unpacked with rep_desc into
 * *rep (caller frees with protobuf_c_message_free_unpacked(*rep, NULL)). Returns 0 only
 * if the reply's Status says success. Otherwise a negative DFS_E* code, err holds one
 * human line (the server's Status.message when there is one), and *rep is still set if
 * a reply was decoded (or NULL). DFS_ECONN means metad could not be reached;
 * DFS_ECONFIG that it closes plaintext connections unanswered (it requires TLS). */
int meta_call(meta_client *mc, uint16_t type, ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *rep_desc, ProtobufCMessage **rep, char *err,
              size_t errsz);

/* Finds the first HOST:PORT token in a DFS_ENOTLEADER message ("... the leader is
 * 127.0.0.1:9400"); returns 0 and fills host (hostsz) and port, or DFS_EINVAL. */
int meta_parse_leader(const char *msg, char *host, size_t hostsz, int *port);

#endif
