/* Command argument parsing (see args.h). */
#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return DFS_EINVAL;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max) return DFS_EINVAL;
  *out = v;
  return 0;
}

static int find_long(const cli_opt_spec *specs, size_t n, const char *name, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (specs[i].long_name && strlen(specs[i].long_name) == len &&
        memcmp(specs[i].long_name, name, len) == 0)
      return (int)i;
  return -1;
}

static int find_short(const cli_opt_spec *specs, size_t n, char c) {
  for (size_t i = 0; i < n; i++)
    if (specs[i].short_name == c) return (int)i;
  return -1;
}

int cli_parse_args(int argc, char **argv, const cli_opt_spec *specs, size_t nspecs,
                   cli_opt_val *vals, const char **pos, size_t maxpos, size_t *npos,
                   char *err, size_t errsz) {
  int opts_done = 0;
  memset(vals, 0, nspecs * sizeof *vals);
  *npos = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (opts_done || a[0] != '-' || a[1] == '\0') {
      if (*npos >= maxpos) { snprintf(err, errsz, "unexpected argument '%s'", a); return DFS_EINVAL; }
      pos[(*npos)++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) { opts_done = 1; continue; }
    if (a[1] == '-') {
      const char *name = a + 2, *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      if (!eq && strcmp(name, "help") == 0) return CLI_ARGS_HELP;
      int k = find_long(specs, nspecs, name, len);
      if (k < 0) { snprintf(err, errsz, "unknown option '--%.*s'", (int)len, name); return DFS_EINVAL; }
      vals[k].present = 1;
      if (specs[k].has_arg) {
        if (eq) vals[k].value = eq + 1;
        else if (i + 1 < argc) vals[k].value = argv[++i];
        else { snprintf(err, errsz, "option '--%s' needs a value", specs[k].long_name); return DFS_EINVAL; }
      } else if (eq) {
        snprintf(err, errsz, "option '--%s' takes no value", specs[k].long_name);
        return DFS_EINVAL;
      }
      continue;
    }
    for (const char *c = a + 1; *c; c++) {
      int k = find_short(specs, nspecs, *c);
      if (k < 0) { snprintf(err, errsz, "unknown option '-%c'", *c); return DFS_EINVAL; }
      vals[k].present = 1;
      if (specs[k].has_arg) {
        if (c[1]) vals[k].value = c + 1;
        else if (i + 1 < argc) vals[k].value = argv[++i];
        else { snprintf(err, errsz, "option '-%c' needs a value", *c); return DFS_EINVAL; }
        break;
      }
    }
  }
  return 0;
}
