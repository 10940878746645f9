/* Append-only journal file with group commit: records (each with its length and
 * CRC32C) are appended to an in-memory batch on the loop thread and made durable by one
 * write + fdatasync on the thread pool; every waiter of that batch is then called.
 * At open, only a torn or corrupt LAST record is dropped (an append a crash interrupted,
 * never acknowledged); a bad record with intact records after it is corruption and the
 * open fails (unless repair), since dropping it would lose every later change. */
#ifndef DFS_JOURNAL_H
#define DFS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct journal journal;
/* Called for each valid record at open (body, len valid only during the call). */
typedef int (*journal_replay_cb)(const uint8_t *body, size_t len, void *ud);
/* Called when everything appended before journal_sync() is durable (status 0) or the
 * write failed (DFS_EIO; the journal then refuses further appends). */
typedef void (*journal_done_cb)(int status, void *ud);

/* Opens (creating) path and replays it; blocking, call at start-up only. Truncates a
 * torn last record (with a warning). A corrupt record before the tail, or a record cb
 * cannot apply: one error line (file, offset, what to do) and DFS_ECHECKSUM, the file
 * untouched; with repair = 1 the file is instead cut before the corrupt record. Other
 * errors: DFS_EIO / DFS_ENOMEM. *out (caller owns) is freed with journal_close. */
int journal_open(uv_loop_t *loop, const char *path, int repair, journal_replay_cb cb,
                 void *ud, journal **out);
/* Rewrites the journal atomically with the records produced by `write_all`, which calls
 * journal_emit() for each live record. Blocking; start-up only. */
int journal_compact(journal *j, void (*write_all)(journal *j, void *ud), void *ud);
/* Inside write_all: emits one record into the compacted file (copied). */
void journal_emit(journal *j, const uint8_t *body, size_t len);
/* Appends one record to the pending batch (copied). 0, DFS_ENOMEM or DFS_EIO. */
int journal_append(journal *j, const uint8_t *body, size_t len);
/* cb(status, ud) once all appended records are durable. 0 or DFS_ENOMEM. */
int journal_sync(journal *j, journal_done_cb cb, void *ud);
uint64_t journal_size(const journal *j);
/* Closes the file. Pending batches must have completed (call after the loop ends). */
void journal_close(journal *j);

#endif
