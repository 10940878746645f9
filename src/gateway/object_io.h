/* Streaming an object's bytes between an HTTP body and dfs, one 1 MiB chunk at a time
 * (an upload holds at most GW_UPLOAD_WRITERS + 1 chunks, a download one), with the
 * blocking client library (src/client).
 *
 * Upload: gw_upload_begin -> gw_upload_write (any pieces; every full chunk is handed
 * to GW_UPLOAD_WRITERS writer threads that send it down its replica chain, so several
 * chunks are in flight as with `dfs put`; allocations batched, a failed server left out
 * of the retry) -> gw_upload_commit (the last chunk, then one CommitReq replacing the file
 * atomically) or gw_upload_free (nothing committed: metad collects the written chunks
 * as garbage after gc.orphan_grace). MD5 and SHA-256 of the bytes are computed on the
 * way (the ETag; x-amz-content-sha256 checks).
 * Download: gw_download_open -> gw_download_read (sequential bytes of a range; each
 * chunk's CRC32C checked, replicas tried in metad's order, read capabilities renewed
 * when they expire) -> gw_download_close. */
#ifndef DFS_GATEWAY_OBJECT_IO_H
#define DFS_GATEWAY_OBJECT_IO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "client/chunk_alloc.h"
#include "client_meta.pb-c.h"
#include "client/meta_client.h"
#include "common/path.h"

#define GW_ALLOC_BATCH 8
#define GW_UPLOAD_WRITERS 4 /* chunks of one upload in flight at once */

typedef struct gw_pipeline gw_pipeline; /* the writer threads (object_io.c) */

typedef struct {
  meta_client *mc;  /* borrowed: the connection's, with the user's token; used by the
                     * writers under the pipeline's lock until gw_upload_finish */
  chunk_conns *cc;  /* borrowed: the caller's (the last, short chunk) */
  char path[DFS_PATH_MAX + 1];
  uint32_t replicas;
  uint64_t upload_id;
  uint8_t *buf;     /* the chunk being filled (a slot of the pipeline); not owned here */
  uint32_t fill;
  written_chunk *chunks; /* owned; [i] = chunk i once written, for the commit */
  size_t n, cap;
  void *allocs;     /* pending allocations (object_io.c); owned */
  gw_pipeline *pipe;  /* owned */
  uint64_t size;
  EVP_MD_CTX *md5, *sha256;
  char err[512];
  int rc;           /* first failure (then every call fails with it) */
} gw_upload;

/* 0, or DFS_ENOMEM. */
int gw_upload_begin(gw_upload *u, meta_client *mc, chunk_conns *cc, const char *path,
                    uint32_t replicas);
/* The caller does not need the SHA-256 of the body (its signature does not cover it, or
 * covers it chunk by chunk): gw_upload_finish then leaves sha256 zero. Saves a hash pass
 * over every byte. */
void gw_upload_no_sha256(gw_upload *u);
/* The body will be this many bytes (Content-Length): chunks are allocated for exactly
 * that (metad counts unused allocations against the user for a while). Without it the
 * allocations grow 1, 2, 4, 8 at a time. */
void gw_upload_expect(gw_upload *u, uint64_t bytes);
/* 0, or the failure (u->err says) */
int gw_upload_write(gw_upload *u, const void *data, size_t len);
/* Writes what is buffered and commits path (overwrite) with attrs (may be NULL/0).
 * md5_hex (33): the MD5 of everything written; sha256 (32): its SHA-256. 0 or the
 * failure. */
int gw_upload_finish(gw_upload *u, uint8_t md5[16], uint8_t sha256[32]);
int gw_upload_commit(gw_upload *u, const uint8_t *attrs, size_t attrs_len);
void gw_upload_free(gw_upload *u);

typedef struct {
  meta_client *mc;
  chunk_conns *cc;
  char path[DFS_PATH_MAX + 1];
  uint64_t size, pos, end; /* bytes [pos, end) still to send */
  uint64_t mtime_ns, inode;
  void *page;              /* the GetFile page of chunk locations in use (object_io.c) */
  uint8_t *buf;            /* the chunk at buf_index; owned */
  uint64_t buf_index;      /* UINT64_MAX: none */
  char err[512];
} gw_download;

/* Opens path for reading bytes [first, last] (last = UINT64_MAX: to the end). Fills
 * size/mtime. 0, or a DFS_E* code (err says): DFS_ENOENT, DFS_EISDIR, DFS_EPERM... */
int gw_download_open(gw_download *d, meta_client *mc, chunk_conns *cc, const char *path);
/* Up to max bytes at d->pos into out; returns the count (0 at the end) or a negative
 * DFS_E* code (d->err says). */
long gw_download_read(gw_download *d, uint8_t *out, size_t max);
/* The file's entry as gw_download_open found it (attrs included); valid until the next
 * gw_download_read or close. */
const Dfs__Entry *gw_download_entry(const gw_download *d);
void gw_download_close(gw_download *d);

#endif
