/* The client/upstream side of chunkd: listens for WriteChunk and ReadChunk from clients
 * and from upstream chunkservers of a replica chain, stores and reads chunks through
 * the thread pool and forwards writes down the chain over cached connections.
 * Loop thread only. */
#ifndef DFS_DATA_SERVER_H
#define DFS_DATA_SERVER_H

#include "chunkd/chunkd_state.h"

typedef struct data_server data_server;

/* Starts listening on host:port. st must outlive the server. Returns 0 and *out, or a
 * DFS_E* code (DFS_EEXIST: address in use). */
int data_server_start(chunkd_state *st, const char *host, int port, data_server **out);
/* Stops listening and drops the downstream connections; requests in progress finish
 * (their replies may fail), new ones get DFS_EUNAVAIL. `drained` (may be NULL) is called
 * once no request is in progress any more (possibly at once, from this call). */
void data_server_stop(data_server *ds, void (*drained)(void *ud), void *ud);
/* Frees ds. Only after the loop has stopped running (accepted connections still point
 * at it until then). */
void data_server_free(data_server *ds);
/* Requests in progress. */
unsigned data_server_inflight(const data_server *ds);

#endif
