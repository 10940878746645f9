/* Configuration: a YAML file (libyaml, only here) flattened into "section.key" strings,
 * plus command-line overrides ("--set section.key=value" or the daemon's own flags).
 * Sequences flatten to "key.0", "key.1", ... Later sets override earlier ones. */
#ifndef DFS_CONFIG_H
#define DFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct dfs_config dfs_config;

/* New empty config; free with dfs_config_free. NULL on OOM. */
dfs_config *dfs_config_new(void);
void dfs_config_free(dfs_config *c);
/* Loads a YAML file into c. Returns 0, or DFS_ECONFIG with a message in err (errsz). */
int dfs_config_load_file(dfs_config *c, const char *path, char *err, size_t errsz);
/* Loads YAML text (for tests). */
int dfs_config_load_string(dfs_config *c, const char *yaml, char *err, size_t errsz);
/* Sets key to value (both copied). Returns 0 or DFS_ENOMEM. */
int dfs_config_set(dfs_config *c, const char *key, const char *value);
/* Parses "key=value" and sets it; DFS_EINVAL if there is no '='. */
int dfs_config_set_kv(dfs_config *c, const char *kv);

/* Value for key, or def if absent. Pointer valid until c is freed or key is set again. */
const char *dfs_config_str(const dfs_config *c, const char *key, const char *def);
/* Integer with optional size/time suffix: k/K/M/G/T (x1024) for sizes, "ms"/"s"/"m"/"h"
 * are NOT accepted here (use dfs_config_ms). Returns 0 and *out, DFS_ECONFIG if
 * malformed (message in err), or *out = def if absent. */
int dfs_config_int(const dfs_config *c, const char *key, int64_t def, int64_t *out,
                   char *err, size_t errsz);
/* Duration in milliseconds: "250ms", "10s", "2m", "1h" or a bare number of ms. */
int dfs_config_ms(const dfs_config *c, const char *key, int64_t def, int64_t *out,
                  char *err, size_t errsz);
/* dfs_config_int / dfs_config_ms that also refuse a value outside [lo, hi]: DFS_ECONFIG
 * with "KEY must be between LO and HI" (durations: "... LO ms and HI ms") in err. */
int dfs_config_int_within(const dfs_config *c, const char *key, int64_t def, int64_t lo,
                          int64_t hi, int64_t *out, char *err, size_t errsz);
int dfs_config_ms_within(const dfs_config *c, const char *key, int64_t def, int64_t lo,
                         int64_t hi, int64_t *out, char *err, size_t errsz);
/* true/false/yes/no/on/off/1/0. */
int dfs_config_bool(const dfs_config *c, const char *key, int def, int *out, char *err,
                    size_t errsz);

#endif
