/* CLI output helpers: the one-line error format ("dfs: CMD: what went wrong"), the
 * quiet flag, the colour decision (one place: cli_colour_on), permission strings for
 * `ls -l`, sizes, times and transfer rates. Everything here writes to stdout/stderr
 * only; no network, no state beyond the quiet and colour flags. */
#ifndef DFS_CLI_OUTPUT_H
#define DFS_CLI_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/escape.h"

/* Set by -q/--quiet: suppresses summary lines (never errors). */
extern int cli_quiet;

/* Colour (ls, tree, admin status): --color=auto (the default), never or always. */
enum { CLI_COLOUR_AUTO, CLI_COLOUR_NEVER, CLI_COLOUR_ALWAYS };
extern int cli_colour_mode;
/* Parses a --color value ("auto", "never", "always"; also "yes"/"no"/"tty" like GNU ls)
 * into cli_colour_mode. 0, or -1 for anything else. */
int cli_colour_parse(const char *v);
/* The one colour decision: 1 if escape codes may go to f. always: yes; never: no; auto:
 * only when f is a terminal, $NO_COLOR is not set (any value, even empty) and $TERM is
 * not "dumb". */
int cli_colour_on(FILE *f);

/* SGR sequences (GNU ls's for directories); print them only when cli_colour_on. */
#define CLI_SGR_DIR "\x1b[01;34m"
#define CLI_SGR_RED "\x1b[31m"
#define CLI_SGR_YELLOW "\x1b[33m"
#define CLI_SGR_GREEN "\x1b[32m"
#define CLI_SGR_RESET "\x1b[0m"

/* `dfs shell` reading a script: the line being run (> 0), named in every error line
 * ("dfs: line 7: cd: ..."); 0 otherwise. */
extern int cli_err_line;

/* Prints "dfs: CMD: <formatted>\n" to stderr (cmd NULL: "dfs: <formatted>"). The
 * formatted text goes through cli_esc: names from the server cannot reach the terminal
 * as control sequences. A progress line being drawn (progress.h) is cleared first. */
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
