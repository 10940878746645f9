/* Reading passwords for `dfs register`, `dfs login` and `dfs passwd`: from the terminal
 * (/dev/tty, echo off, so it works even when stdin is redirected), or for scripts one
 * line from stdin (--password-stdin) or an environment variable ($DFS_PASSWORD,
 * $DFS_NEW_PASSWORD). Buffers holding passwords are wiped by the callers with
 * cli_password_wipe. */
#ifndef DFS_CLI_PASSWORD_H
#define DFS_CLI_PASSWORD_H

#include <stddef.h>
#include <stdio.h>

#define CLI_PASSWORD_MAX 72  /* bcrypt's limit; authd refuses longer ones */
#define CLI_PASSWORD_MIN 8

/* Where a password comes from. */
typedef enum { CLI_PW_TTY, CLI_PW_STDIN, CLI_PW_ENV } cli_pw_source;

/* Reads one line from f into out (outsz bytes, at least CLI_PASSWORD_MAX + 2), without
 * the line end ("\n" or "\r\n"). 0; DFS_ENOENT at EOF before any byte; DFS_ETOOBIG if
 * the line is longer than outsz - 1 bytes (the rest of the line is consumed). */
int cli_read_line(FILE *f, char *out, size_t outsz);

/* Prompts on /dev/tty and reads a line with echo off. 0, or DFS_EIO with a reason in err
 * (no terminal), DFS_ETOOBIG. */
int cli_read_password_tty(const char *prompt, char *out, size_t outsz, char *err,
                          size_t errsz);

/* Checks authd's length policy locally (8..72 bytes) so that a typo is caught before
 * the round trip. 0 or DFS_EINVAL with a reason in err. */
int cli_password_check(const char *pw, char *err, size_t errsz);

/* Overwrites a password buffer in a way the compiler keeps. */
void cli_password_wipe(void *p, size_t n);

#endif
