/* Terminal-safe text: what the CLI prints of a name or path from the server (or any
 * text with such a name in it) goes through cli_esc first, so no byte sequence can move
 * the cursor, retitle the window or hide output. Pure functions; no state. */
#ifndef DFS_CLI_ESCAPE_H
#define DFS_CLI_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* A buffer that holds any escaped name or path (at most 4 bytes out per byte in). */
#define CLI_ESC_BUF (4 * 4096 + 8)

/* s made safe for a terminal (names and paths come from the server): control bytes
 * (0x00-0x1f, 0x7f), C1 controls encoded in UTF-8 (U+0080-U+009F) and bytes that are not
 * valid UTF-8 become \xNN; everything else (printable ASCII, valid UTF-8) is kept.
 * Returns s itself when nothing needs escaping, else buf (bufsz bytes, caller's;
 * cut with "..." if too small). NULL s is "". */
const char *cli_esc(const char *s, char *buf, size_t bufsz);
/* Writes cli_esc(s) to f (its buffer is on this function's stack, not the caller's). */
void cli_put_esc(FILE *f, const char *s);

#endif
