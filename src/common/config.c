/* libyaml backend for dfs_config: walks parser events keeping a stack of key prefixes,
 * and stores scalars under their flattened key in a small array (configs are tiny). */
#include "common/array.h"
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/errors.h"

struct kv { char *key, *value; };
struct dfs_config { struct kv *items; size_t n, cap; };

dfs_config *dfs_config_new(void) { return calloc(1, sizeof(dfs_config)); }

void dfs_config_free(dfs_config *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) { free(c->items[i].key); free(c->items[i].value); }
  free(c->items);
  free(c);
}

int dfs_config_set(dfs_config *c, const char *key, const char *value) {
  char *v = strdup(value);
  if (!v) return DFS_ENOMEM;
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->items[i].key, key) == 0) { free(c->items[i].value); c->items[i].value = v; return 0; }
  struct kv *ni = dfs_grow(c->items, &c->cap, c->n + 1, sizeof *ni, 16);
  if (!ni) { free(v); return DFS_ENOMEM; }
  c->items = ni;
  char *k = strdup(key);
  if (!k) { free(v); return DFS_ENOMEM; }
  c->items[c->n++] = (struct kv){k, v};
  return 0;
}

int dfs_config_set_kv(dfs_config *c, const char *kv) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv) return DFS_EINVAL;
  char key[256];
  size_t kl = (size_t)(eq - kv);
  if (kl >= sizeof key) return DFS_EINVAL;
  memcpy(key, kv, kl);
  key[kl] = '\0';
  return dfs_config_set(c, key, eq + 1);
}

/* Frame of the nesting stack: a mapping (expecting key or value) or a sequence. */
struct frame { int is_seq; int want_value; int seq_index; size_t prefix_len; };

static int load(dfs_config *c, yaml_parser_t *p, char *err, size_t errsz) {
  struct frame st[32];
  int depth = 0, rc = 0;
  char key[512] = "";
  size_t klen = 0;
  for (int done = 0; !done;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(p, &ev)) {
      snprintf(err, errsz, "YAML error at line %zu: %s", p->problem_mark.line + 1,
               p->problem ? p->problem : "parse error");
      return DFS_ECONFIG;
    }
    struct frame *top = depth ? &st[depth - 1] : NULL;
    /* A value (scalar or collection) in a mapping or sequence extends the key prefix. */
    int is_value = top && (top->is_seq || top->want_value);
    if (is_value && top->is_seq &&
        (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_MAPPING_START_EVENT ||
         ev.type == YAML_SEQUENCE_START_EVENT)) {
      klen = top->prefix_len;
      klen += (size_t)snprintf(key + klen, sizeof key - klen, "%s%d", klen ? "." : "", top->seq_index++);
    }
    switch (ev.type) {
    case YAML_STREAM_END_EVENT: done = 1; break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
      if (depth == 32) { snprintf(err, errsz, "YAML nested too deeply"); rc = DFS_ECONFIG; done = 1; break; }
      if (top && !top->is_seq) top->want_value = 0;
      st[depth++] = (struct frame){ev.type == YAML_SEQUENCE_START_EVENT, 0, 0, klen};
      break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
      depth--;
      klen = depth ? st[depth - 1].prefix_len : 0;
      key[klen] = '\0';
      break;
    case YAML_SCALAR_EVENT: {
      const char *s = (const char *)ev.data.scalar.value;
      if (top && !top->is_seq && !top->want_value) {
        klen = top->prefix_len;
        int n = snprintf(key + klen, sizeof key - klen, "%s%s", klen ? "." : "", s);
        if (n < 0 || (size_t)n >= sizeof key - klen) { snprintf(err, errsz, "config key too long"); rc = DFS_ECONFIG; done = 1; break; }
        klen += (size_t)n;
        top->want_value = 1;
      } else if (top) {
        if (dfs_config_set(c, key, s)) { rc = DFS_ENOMEM; done = 1; }
        if (!top->is_seq) top->want_value = 0;
      }
      break;
    }
    case YAML_ALIAS_EVENT:
      snprintf(err, errsz, "YAML aliases are not supported in dfs config");
      rc = DFS_ECONFIG; done = 1; break;
    default: break;
    }
    yaml_event_delete(&ev);
  }
  return rc;
}

int dfs_config_load_string(dfs_config *c, const char *yaml, char *err, size_t errsz) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) return DFS_ENOMEM;
  yaml_parser_set_input_string(&p, (const unsigned char *)yaml, strlen(yaml));
  int rc = load(c, &p, err, errsz);
  yaml_parser_delete(&p);
  return rc;
}

int dfs_config_load_file(dfs_config *c, const char *path, char *err, size_t errsz) {
  FILE *f = fopen(path, "rb");
  if (!f) { snprintf(err, errsz, "cannot open config %s: %s", path, strerror(errno)); return DFS_ECONFIG; }
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) { fclose(f); return DFS_ENOMEM; }
  yaml_parser_set_input_file(&p, f);
  int rc = load(c, &p, err, errsz);
  yaml_parser_delete(&p);
  fclose(f);
  if (rc == DFS_ECONFIG) {
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", err);
    snprintf(err, errsz, "%s: %s", path, tmp);
  }
  return rc;
}

const char *dfs_config_str(const dfs_config *c, const char *key, const char *def) {
  for (size_t i = c->n; i-- > 0;)
    if (strcmp(c->items[i].key, key) == 0) return c->items[i].value;
  return def;
}

/* Parses a number followed by a suffix; mult_for returns the multiplier or 0 if unknown. */
static int parse_scaled(const char *s, int64_t (*mult_for)(const char *), int64_t *out) {
  while (isspace((unsigned char)*s)) s++;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (end == s || errno) return -1;
  while (isspace((unsigned char)*end)) end++;
  int64_t m = mult_for(end);
  if (!m) return -1;
  if (v < 0 ? v < INT64_MIN / m : v > INT64_MAX / m) return -1;
  *out = (int64_t)v * m;
  return 0;
}

static int64_t size_mult(const char *s) {
  if (!*s) return 1;
  if (s[1] && !(s[1] == 'i' || s[1] == 'B') ) return 0;
  switch (*s) {
  case 'k': case 'K': return 1024;
  case 'M': return 1024 * 1024;
  case 'G': return 1024LL * 1024 * 1024;
  case 'T': return 1024LL * 1024 * 1024 * 1024;
  default: return 0;
  }
}

static int64_t ms_mult(const char *s) {
  if (!*s || strcmp(s, "ms") == 0) return 1;
  if (strcmp(s, "s") == 0) return 1000;
  if (strcmp(s, "m") == 0) return 60000;
  if (strcmp(s, "h") == 0) return 3600000;
  return 0;
}

static int get_scaled(const dfs_config *c, const char *key, int64_t def, int64_t *out, char *err,
                      size_t errsz, int64_t (*mult)(const char *), const char *what) {
  const char *s = dfs_config_str(c, key, NULL);
  if (!s) { *out = def; return 0; }
  if (parse_scaled(s, mult, out)) {
    snprintf(err, errsz, "config %s: '%s' is not %s", key, s, what);
    return DFS_ECONFIG;
  }
  return 0;
}

int dfs_config_int(const dfs_config *c, const char *key, int64_t def, int64_t *out, char *err,
                   size_t errsz) {
  return get_scaled(c, key, def, out, err, errsz, size_mult, "a number (suffix k/M/G/T allowed)");
}

int dfs_config_ms(const dfs_config *c, const char *key, int64_t def, int64_t *out, char *err,
                  size_t errsz) {
  return get_scaled(c, key, def, out, err, errsz, ms_mult, "a duration (e.g. 250ms, 10s, 2m)");
}

int dfs_config_int_within(const dfs_config *c, const char *key, int64_t def, int64_t lo,
                          int64_t hi, int64_t *out, char *err, size_t errsz) {
  int rc = dfs_config_int(c, key, def, out, err, errsz);
  if (rc == 0 && (*out < lo || *out > hi)) {
    snprintf(err, errsz, "%s must be between %lld and %lld", key, (long long)lo, (long long)hi);
    rc = DFS_ECONFIG;
  }
  return rc;
}

int dfs_config_ms_within(const dfs_config *c, const char *key, int64_t def, int64_t lo,
                         int64_t hi, int64_t *out, char *err, size_t errsz) {
  int rc = dfs_config_ms(c, key, def, out, err, errsz);
  if (rc == 0 && (*out < lo || *out > hi)) {
    snprintf(err, errsz, "%s must be between %lld ms and %lld ms", key, (long long)lo,
             (long long)hi);
    rc = DFS_ECONFIG;
  }
  return rc;
}

int dfs_config_bool(const dfs_config *c, const char *key, int def, int *out, char *err,
                    size_t errsz) {
  const char *s = dfs_config_str(c, key, NULL);
  if (!s) { *out = def; return 0; }
  static const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(s, t[i]) == 0) { *out = 1; return 0; }
    if (strcasecmp(s, f[i]) == 0) { *out = 0; return 0; }
  }
  snprintf(err, errsz, "config %s: '%s' is not true/false", key, s);
  return DFS_ECONFIG;
}
