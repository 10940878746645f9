/* Pure helpers of `dfs shell` and of the output for scripts: joining a relative path
 * with the shell's cwd, splitting a command line into words, matching completion
 * candidates, JSON string escaping. No I/O; unit tested in tests/unit/test_cli_shell.c. */
#ifndef DFS_CLI_SHELL_UTIL_H
#define DFS_CLI_SHELL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cwd + "/" + rel into out (not normalised; cli_remote_path does that). rel absolute or
 * starting with '~' is copied unchanged. 0 or DFS_ETOOBIG. */
int cli_join_cwd(const char *cwd, const char *rel, char *out, size_t outsz);

/* Splits line into words (in place: line is modified, words point into it). Blanks
 * separate words; '...' and "..." quote (no escapes inside '...'; \\ escapes anything
 * elsewhere). Returns the number of words (at most maxw), or DFS_EINVAL for an
 * unterminated quote or too many words. */
int cli_split_words(char *line, char **words, int maxw);

/* Whether the word after words[0..n) (words[0] the command, then what is typed before
 * the word being completed) is a LOCAL path: put's first positional, get's second
 * (options and their values skipped: --replicas/-P/--parallel/-m/--mode take one, "--"
 * ends options). 1 local, 0 remote (or not a path). */
int cli_completion_is_local(char **words, int n);

/* 1 if name starts with prefix, else 0 (completion candidates). */
int cli_completion_match(const char *name, const char *prefix);

/* The longest common prefix of n strings, written to out. Returns its length. */
size_t cli_common_prefix(const char *const *s, size_t n, char *out, size_t outsz);

/* Splits a partly typed remote path at its last '/': "a/b/fo" -> dir "a/b/", base "fo";
 * "fo" -> dir "", base "fo"; "/x" -> dir "/", base "x". 0 or DFS_ETOOBIG. */
int cli_split_partial(const char *typed, char *dir, size_t dirsz, char *base, size_t basesz);

/* JSON-escapes s (with the surrounding quotes) into out. Returns the length needed
 * (excluding NUL); truncated when >= outsz, like snprintf. */
size_t cli_json_escape(const char *s, char *out, size_t outsz);
/* Writes s as a JSON string to f. */
void cli_json_str(FILE *f, const char *s);

/* A size as typed in search filters: "4096", "10K", "1.5M", "2GiB" (binary units) into
 * *out. 0 or DFS_EINVAL. */
int cli_parse_size(const char *s, uint64_t *out);
/* A time as typed in search filters, into ns since the epoch: "30m"/"2h"/"7d"/"1w"/"45s"
 * ago, "@EPOCH" seconds, or "YYYY-MM-DD[THH:MM[:SS]]" local time. 0 or DFS_EINVAL. */
int cli_parse_time(const char *s, int64_t *out);

#endif
