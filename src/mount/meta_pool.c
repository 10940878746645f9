/* The mount's metad connections (meta_pool.h). */
#include "mount/meta_pool.h"

#include <stdio.h>
#include <string.h>

#include "common/errors.h"

int meta_pool_init(meta_pool *p, size_t n, const char *addr, int tls, const char *token,
                   unsigned timeout_ms) {
  memset(p, 0, sizeof *p);
  if (n == 0 || n > META_POOL_MAX || strlen(token) >= sizeof p->token) return DFS_EINVAL;
  snprintf(p->token, sizeof p->token, "%s", token);
  for (size_t i = 0; i < n; i++) {
    if (meta_client_init(&p->conn[i].mc, addr) != 0) {
      meta_pool_close(p);
      return DFS_EINVAL;
    }
    p->conn[i].mc.tls = tls;
    p->conn[i].mc.token = p->token;
    p->conn[i].mc.timeout_ms = timeout_ms;
    pthread_mutex_init(&p->conn[i].lock, NULL);
    p->n = i + 1;
  }
  return 0;
}

void meta_pool_close(meta_pool *p) {
  for (size_t i = 0; i < p->n; i++) {
    meta_client_close(&p->conn[i].mc);
    pthread_mutex_destroy(&p->conn[i].lock);
  }
  p->n = 0;
}

int meta_pool_call(meta_pool *p, uint16_t type, ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *rep_desc, ProtobufCMessage **rep,
                   char *err, size_t errsz) {
  unsigned start = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
  size_t got = p->n;
  for (size_t k = 0; k < p->n && got == p->n; k++) {
    size_t i = (start + k) % p->n;
    if (pthread_mutex_trylock(&p->conn[i].lock) == 0) got = i;
  }
  if (got == p->n) { /* every connection busy: queue on one */
    got = start % p->n;
    pthread_mutex_lock(&p->conn[got].lock);
  }
  int rc = meta_call(&p->conn[got].mc, type, req, rep_desc, rep, err, errsz);
  pthread_mutex_unlock(&p->conn[got].lock);
  return rc;
}
