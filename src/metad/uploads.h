/* uploads: which chunk ids belong to an upload that is still alive, so that the garbage
 * collector leaves their files alone however long the upload takes. Soft state of the
 * leader, rebuilt empty when a metad becomes the leader. Loop thread only.
 *
 * A client names its upload with a random AllocReq.upload_id; every Alloc under that
 * id adds its chunk ids (one range per Alloc: the leader hands ids out in increasing
 * order) and renews the upload. A chunkserver's report of a new chunk renews the upload
 * the chunk belongs to, so an upload that keeps writing stays alive without any other
 * message. An upload neither allocating nor writing for `gc.upload_lease` is over: its
 * uncommitted chunks become ordinary orphans (deleted gc.orphan_grace after they were
 * written, and retired first, so its commit is refused rather than acknowledged).
 *
 * Bounds: at most UPLOADS_MAX uploads and UPLOADS_MAX_RANGES ranges are tracked, and at
 * most UPLOADS_PER_USER live uploads of one user (so that one user cannot fill the table
 * and leave everybody else's uploads untracked); past them new ones are not (their
 * chunks have only gc.orphan_grace). An upload id taken by another user is not joined.
 * Invariants: (1) ranges are sorted by first id and do not overlap; (2) every range
 * names a slot of `ups` (live or expired: expired ranges are dropped by compaction). */
#ifndef METAD_UPLOADS_H
#define METAD_UPLOADS_H

#include <stddef.h>
#include <stdint.h>

#define UPLOADS_MAX 65536
#define UPLOADS_MAX_RANGES (1u << 22)
#define UPLOADS_PER_USER 1024

typedef struct uploads uploads;

/* NULL on OOM. lease_ms: how long an upload lives without an Alloc or a written chunk. */
uploads *uploads_new(uint64_t lease_ms);
void uploads_free(uploads *u);
void uploads_reset(uploads *u); /* forgets everything (a new leader) */
/* An Alloc of ids [first, last] for upload_id (non-zero) by user at now_ms. */
void uploads_note_alloc(uploads *u, uint64_t upload_id, const char *user, uint64_t first,
                        uint64_t last, uint64_t now_ms);
/* A chunkserver reported chunk as newly written: its upload (if any) is alive. */
void uploads_note_written(uploads *u, uint64_t chunk, uint64_t now_ms);
/* When the upload holding chunk stops being alive unless renewed (dfs_now_ms clock), or
 * 0 if chunk is in no live upload at now_ms. */
uint64_t uploads_alive_until(const uploads *u, uint64_t chunk, uint64_t now_ms);
/* Live uploads at now_ms (status, tests). */
size_t uploads_live(const uploads *u, uint64_t now_ms);

#endif
