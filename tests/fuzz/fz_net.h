/* Shared by the fuzz targets that drive a daemon's real dfs_conn server in-process:
 * a blocking-free loopback client that feeds bytes to a listening dfs_server on the
 * caller's libuv loop and pumps that loop until the replies are back, plus the record
 * format the handler targets use to turn fuzz input into frames. */
#ifndef DFS_FZ_NET_H
#define DFS_FZ_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* A fuzz input is a series of records, each becoming one request frame:
 *   sel (1) | payload_len (2, BE) | bulk_len (2, BE) | payload | bulk
 * sel picks the message type from the target's table (sel % n). Truncated records take
 * what is left. At most FZ_MAX_RECORDS records are used. */
#define FZ_MAX_RECORDS 8
typedef struct {
  uint8_t sel;
  const uint8_t *payload, *bulk;
  uint16_t payload_len, bulk_len;
} fz_record;
/* Splits data into records; returns how many (<= FZ_MAX_RECORDS). */
size_t fz_records(const uint8_t *data, size_t size, fz_record out[FZ_MAX_RECORDS]);
/* Appends one record to buf (capacity cap) at *len: the seed generator's encoder. */
int fz_record_put(uint8_t *buf, size_t cap, size_t *len, uint8_t sel, const void *payload,
                  uint16_t payload_len, const void *bulk, uint16_t bulk_len);

/* A client connection to 127.0.0.1:port, served by `loop` (which runs only while we
 * pump it). */
typedef struct {
  uv_loop_t *loop;
  int fd;
  int eof;          /* the server closed the connection */
  uint8_t *reply;   /* the last complete reply frame (header + payload + bulk) */
  size_t reply_len, reply_cap, got;
} fz_client;

/* Connects (aborts on failure: the harness itself is broken). */
void fz_connect(fz_client *cl, uv_loop_t *loop, int port);
/* Writes n bytes, pumping the loop while the socket is full. */
void fz_write(fz_client *cl, const void *buf, size_t n);
/* Pumps until one complete reply frame is in cl->reply (returns 1) or the server
 * closed (returns 0). Aborts if neither happens within 10 s: a request nobody answers
 * is a bug. */
int fz_read_reply(fz_client *cl);
/* With DFS_FUZZ_VERBOSE=1 in the environment: prints request i's type and the reply's
 * Status (every reply's field 1), to check what a seed reaches. */
void fz_trace(size_t i, uint16_t type, const fz_client *cl);
/* Half-closes, pumps until the server closes, closes the socket. */
void fz_finish(fz_client *cl);
/* Pumps the loop (non-blocking) until idle(ud) or 10 s (abort). */
void fz_pump_until(uv_loop_t *loop, int (*idle)(void *ud), void *ud);

/* A fresh private temporary directory (under /dev/shm when possible), removed at exit
 * (not after a crash); one per process; aborts on error. */
char *fz_tempdir(const char *tag);
/* A port on 127.0.0.1 that refuses connections (bound, never listening). */
int fz_refusing_port(void);
/* A free port on 127.0.0.1 for a dfs_server to listen on. */
int fz_free_port(void);

#endif
