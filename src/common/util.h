/* Small helpers shared by every program: clocks, random ids, human sizes. */
#ifndef DFS_UTIL_H
#define DFS_UTIL_H

#include <stddef.h>
#include <stdint.h>

uint64_t dfs_now_ms(void);       /* monotonic milliseconds */
void dfs_sleep_ms(uint64_t ms);  /* sleeps the calling thread (not for the loop thread) */
int64_t dfs_wall_ns(void);       /* wall clock, ns since the epoch */
/* Fills buf with len cryptographically random bytes (OpenSSL). 0 or DFS_EIO. */
int dfs_random_bytes(void *buf, size_t len);
uint64_t dfs_random_u64(void);
/* "1.5 GiB"-style size into buf (bufsz >= 16). Returns buf. */
char *dfs_human_size(uint64_t bytes, char *buf, size_t bufsz);
/* Parses "host:port"; host copied to host (hostsz). 0 or DFS_EINVAL. */
int dfs_parse_hostport(const char *s, char *host, size_t hostsz, int *port);
/* The first word of text that parses as HOST:PORT (quotes and trailing punctuation
 * stripped), e.g. the leader named in a "not the leader" message. 0 or DFS_EINVAL. */
int dfs_find_hostport(const char *text, char *host, size_t hostsz, int *port);

#endif
