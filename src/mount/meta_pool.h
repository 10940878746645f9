/* A few blocking metad connections shared by the mount's threads (meta_client is one
 * call at a time): each call takes a free connection, or waits for the least busy one.
 * Every connection carries the mount user's session token. */
#ifndef DFS_MOUNT_META_POOL_H
#define DFS_MOUNT_META_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "client/meta_client.h"

#define META_POOL_MAX 8
/* default: a metad reply silent this long fails the call (after one retry): EIO */
#define MOUNT_META_TIMEOUT_MS 10000

typedef struct {
  struct {
    meta_client mc;
    pthread_mutex_t lock;
  } conn[META_POOL_MAX];
  size_t n;
  unsigned next; /* where the search for a free connection starts */
  char token[512];
} meta_pool;

/* n connections (1..META_POOL_MAX) to addr (metad's HOST:PORT[,HOST:PORT...]), none
 * opened yet. token: the session token (copied; "" = anonymous). timeout_ms: a reply
 * silent this long fails the call (after one retry). 0 or DFS_EINVAL. */
int meta_pool_init(meta_pool *p, size_t n, const char *addr, int tls, const char *token,
                   unsigned timeout_ms);
void meta_pool_close(meta_pool *p);

/* meta_call on one of the pool's connections (see client/meta_client.h). */
int meta_pool_call(meta_pool *p, uint16_t type, ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *rep_desc, ProtobufCMessage **rep,
                   char *err, size_t errsz);

#endif
