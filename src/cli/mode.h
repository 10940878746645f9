/* Permission modes as the user types them for `dfs chmod` and `dfs put --mode`: octal
 * ("750", "0640") or symbolic like chmod(1) ("u+x", "go-w", "a=r,u+w", "+X"). dfs modes
 * are the nine rwx bits only (0..0777). Pure functions, unit tested. */
#ifndef DFS_CLI_MODE_H
#define DFS_CLI_MODE_H

#include <stdint.h>

/* 1 if s is an octal mode (digits 0-7 only), 0 if it should be parsed as symbolic. */
int cli_mode_is_octal(const char *s);

/* Applies s to cur (the current mode; ignored for octal modes) of a file (is_dir 0) or a
 * directory (is_dir 1; matters only for 'X') and stores the new mode in *out.
 * Octal: 1..4 digits, value <= 0777. Symbolic: comma-separated clauses
 * [ugoa]*[+-=][rwxX]*...; no who means 'a'. Returns 0 or DFS_EINVAL. */
int cli_parse_mode(const char *s, uint32_t cur, int is_dir, uint32_t *out);

#endif
