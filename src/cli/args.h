/* Command argument parsing for the CLI: options may come before or after positionals
 * (`dfs put a b --replicas 3`), "--name=value" / "--name value" / "-x value", grouped
 * short flags ("-lh"), "--" ends options, "-" alone is a positional (stdout/stdin).
 * Pure functions, no I/O: unit tested in tests/unit/test_cli_args.c. */
#ifndef DFS_CLI_ARGS_H
#define DFS_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *long_name;  /* without "--"; may be NULL */
  char short_name;        /* 0 if none */
  int has_arg;
} cli_opt_spec;

typedef struct {
  int present;
  const char *value;  /* points into argv; NULL for flags */
} cli_opt_val;

#define CLI_ARGS_HELP 1  /* --help was given */

/* Parses argv[0..argc) (the command's arguments, without the command name). vals[i]
 * corresponds to specs[i] (zeroed first). Positionals are stored in pos (pointers into
 * argv), at most maxpos. Returns 0, CLI_ARGS_HELP, or DFS_EINVAL with a reason in err. */
int cli_parse_args(int argc, char **argv, const cli_opt_spec *specs, size_t nspecs,
                   cli_opt_val *vals, const char **pos, size_t maxpos, size_t *npos,
                   char *err, size_t errsz);

/* Parses a decimal integer in [min, max]. 0 or DFS_EINVAL. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
