/* Constants shared by fuzz_chunkd.c and the seed generator (gen_corpus.c). */
#ifndef DFS_FZ_CHUNKD_H
#define DFS_FZ_CHUNKD_H

#include "common.pb-c.h"

#define FZ_CHUNKD_SECRET "fuzz-cluster-secret"
#define FZ_CHUNKD_CAP_EXPIRY 4102444800000LL /* 2100-01-01: seeds' capabilities stay valid */

static const uint16_t fz_chunkd_types[] = {
    DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_WRITE, DFS__MSG_TYPE__MSG_CLIENT_TO_CHUNK_READ,
    DFS__MSG_TYPE__MSG_CHUNK_TO_CLIENT_READ, 999,
};
enum { FZ_C_WRITE, FZ_C_READ, FZ_C_REPLY_TYPE, FZ_C_UNKNOWN };

#endif
