/* raft_transport: metad's libraft transport (struct raft_uv_transport): TCP between the
 * voters, with a mutual challenge-response handshake keyed by the cluster secret before
 * a connection is handed to libraft. It owns the listening socket, every connection
 * until its handshake is done (inbound and outbound), the handshake timer, the pending
 * connection limit and the log lines about refused peers. After the hand-over libraft
 * owns the stream (uv_tcp_t from raft_malloc; libraft uv_close()s it and raft_free()s
 * it) and the bytes on it are libraft's RPC messages, exactly as after raft_uv_tcp's own
 * (unauthenticated) handshake, which this transport replaces. With TLS it also owns
 * every connection's TLS tunnel for the connection's whole life.
 *
 * Handshake (C: the connecting node, S: the accepting node; integers big-endian):
 *   1. C -> S  HELLO(C)   magic "DFSRFT" (6) | version 1 (1) | flags (1, bit 0: the
 *                         sender has a cluster secret) | nonce (32, RAND_bytes) |
 *                         raft id (8) | address length L (1, 1..255) | address (L)
 *   2. S -> C  HELLO(S)   same layout, S's nonce, id and address
 *   3. C -> S  PROOF(C)   HMAC-SHA256(K, "dfs raft v1 client" | T)   (32 bytes)
 *   4. S -> C  PROOF(S)   HMAC-SHA256(K, "dfs raft v1 server" | T)   (32 bytes)
 * where K = SHA-256("dfs raft transport v1:" | cluster secret) and T = HELLO(C) |
 * HELLO(S) as sent. S answers HELLO(C) only if C's id and address are a voter of
 * raft.peers, sends PROOF(S) only after PROOF(C) checked out (a stranger never gets a MAC
 * to attack offline), and hands the stream to libraft after PROOF(S) is written; C
 * checks that S is the id and address libraft asked for and hands over after PROOF(S)
 * checked out. Fresh nonces on both sides make a recorded handshake useless (replay),
 * the direction labels make S's proof useless as C's (reflection). Anything else (bad
 * magic or length, an unknown id, a wrong MAC, EOF, silence past the handshake timeout)
 * closes the connection with one log line naming the peer and the reason.
 * Without a secret (auth off) the same handshake runs with K from an empty secret: it
 * proves nothing, and rt_init's caller logs that raft is unauthenticated.
 *
 * With TLS (rt_options.tls_server/tls_client): every connection is mutual TLS first,
 * and the handshake above, then libraft's RPCs, travel inside it. The dialling side
 * verifies the server certificate against the CA and the host of the raft address it
 * dials; the accepting side requires a client certificate from the CA that names the
 * host of the address claimed in HELLO(C). libraft reads its RPCs straight from the
 * uv_stream_t it is given, and libuv has no user-defined stream type, so the transport
 * owns a tunnel per connection: the TCP socket and the TLS engine on one side, an
 * AF_UNIX socketpair in the middle; the handshake and then libraft get the other end
 * of the pair (a uv_pipe_t from raft_malloc, which libraft only reads, writes and
 * uv_close()s), and the tunnel pumps bytes between the pair and the TLS session on the
 * loop thread with bounded queues (see raft_transport.c, "TLS tunnels"). The tunnel
 * lives until both its handles closed; the transport's close waits for all of them.
 * Loop thread only. */
#ifndef METAD_RAFT_TRANSPORT_H
#define METAD_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define RT_NONCE_LEN 32
#define RT_MAC_LEN 32
#define RT_KEY_LEN 32
#define RT_ADDR_MAX 255
#define RT_HELLO_PREFIX 8 /* magic, version, flags: checked before the rest is read */
#define RT_HELLO_HEAD 49  /* a HELLO up to and including the address length byte */
#define RT_HELLO_MAX (RT_HELLO_HEAD + RT_ADDR_MAX)
#define RT_FLAG_SECRET 1u

typedef struct {
  uint8_t flags;
  uint8_t nonce[RT_NONCE_LEN];
  uint64_t id;
  char address[RT_ADDR_MAX + 1]; /* NUL-terminated */
} rt_hello;

enum rt_role { RT_CLIENT = 0, RT_SERVER = 1 };

/* Whether a peer claiming id at address (both from its HELLO) is a voter this node talks
 * to: NULL if so, else a static reason. Called before the handshake goes on. */
typedef const char *(*rt_peer_check)(void *ud, uint64_t id, const char *address);

typedef struct {
  const char *secret;             /* borrowed during rt_init; "" or NULL: no secret */
  uint64_t handshake_timeout_ms;  /* from TCP accept/connect start to the hand-over */
  unsigned max_pending;           /* inbound connections still in their handshake */
  rt_peer_check peer_check;       /* NULL: any id and address */
  void *ud;                       /* for peer_check */
  /* Both or neither (RAFT_INVALID otherwise): TLS on every raft connection. Borrowed;
   * must outlive the transport (until rt_free). The server context must require and
   * verify client certificates, the client context must present one. */
  struct dfs_tls_ctx *tls_server;
  struct dfs_tls_ctx *tls_client;
} rt_options;

/* ---- the transport ---- */

/* Fills t (its version, impl and methods) for raft_uv_init. Allocates t->impl (freed by
 * rt_free). Copies what it needs from o. 0 or RAFT_NOMEM. */
int rt_init(struct raft_uv_transport *t, uv_loop_t *loop, const rt_options *o);
/* Frees t->impl: after t->close's callback ran, or if the transport never listened. */
void rt_free(struct raft_uv_transport *t);
/* Counters for tests and logs: inbound connections handed to libraft / refused. */
void rt_stats(const struct raft_uv_transport *t, uint64_t *accepted, uint64_t *refused);
/* TLS tunnels not yet freed, and the most bytes one of them ever had waiting in writes
 * on one side (bounded by RT_TLS_QUEUE_BOUND: backpressure). */
void rt_tls_stats(const struct raft_uv_transport *t, unsigned *tunnels, size_t *queued_hwm);
#define RT_TLS_QUEUE_BOUND (256 * 1024 + 2 * 65536 + 4096)

/* ---- pure handshake functions (unit-tested) ---- */

/* Derives K from the cluster secret (NULL = ""). 0 or DFS_ENOMEM. */
int rt_key(const char *secret, uint8_t key[RT_KEY_LEN]);
/* Encodes h into out (at least RT_HELLO_MAX bytes). Returns the length, or 0 if the
 * address is empty or longer than RT_ADDR_MAX. */
size_t rt_hello_encode(const rt_hello *h, uint8_t *out);
/* Checks the first RT_HELLO_PREFIX bytes of a HELLO (magic, version, flags): 0, or -1
 * with a static reason in *why (a plain libraft handshake is named as such). */
int rt_hello_prefix(const uint8_t *p, size_t n, const char **why);
/* Checks the first RT_HELLO_HEAD bytes of a HELLO: 0 and the address length in
 * *addr_len, or -1 with a static reason in *why. */
int rt_hello_head(const uint8_t *p, size_t n, size_t *addr_len, const char **why);
/* Decodes a whole HELLO of exactly n bytes into h. 0, or -1 with a static reason. */
int rt_hello_decode(const uint8_t *p, size_t n, rt_hello *h, const char **why);
/* PROOF of role over the transcript (client's and server's HELLO as encoded). */
void rt_proof(const uint8_t key[RT_KEY_LEN], enum rt_role role, const uint8_t *hello_c,
              size_t hello_c_len, const uint8_t *hello_s, size_t hello_s_len,
              uint8_t out[RT_MAC_LEN]);
/* 1 if mac is role's PROOF over the transcript (constant-time compare), else 0. */
int rt_proof_ok(const uint8_t key[RT_KEY_LEN], enum rt_role role, const uint8_t *hello_c,
                size_t hello_c_len, const uint8_t *hello_s, size_t hello_s_len,
                const uint8_t mac[RT_MAC_LEN]);

#endif
