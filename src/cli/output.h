/* CLI output helpers: the one-line error format ("dfs: CMD: what went wrong"), the
 * quiet flag, permission strings for `ls -l`, sizes, times and transfer rates.
 * Everything here writes to stdout/stderr only; no network, no state beyond quiet. */
#ifndef DFS_CLI_OUTPUT_H
#define DFS_CLI_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

/* Set by -q/--quiet: suppresses summary lines (never errors). */
extern int cli_quiet;

/* Prints "dfs: CMD: <formatted>\n" to stderr (cmd NULL: "dfs: <formatted>"). */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "drwxr-xr-x" style string for a file or directory with permission bits mode.
 * buf must hold at least 11 bytes. Returns buf. */
char *cli_mode_string(int is_dir, uint32_t mode, char *buf);

/* "2026-11-22 05:00" (local time) for mtime_ns; buf >= 20 bytes. Returns buf. */
char *cli_time_string(int64_t mtime_ns, char *buf, size_t bufsz);

/* Decimal SI rate "334.5 MB/s" for bytes over seconds; buf >= 24 bytes. Returns buf. */
char *cli_rate_string(uint64_t bytes, double secs, char *buf, size_t bufsz);

/* Prints the put/get summary line ("put ./x -> /x: 1.0 GiB in 3.21 s (334.5 MB/s)") to
 * stdout unless quiet. */
void cli_summary(const char *verb, const char *from, const char *to, uint64_t bytes,
                 double secs);

#endif
