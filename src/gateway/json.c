/* The console's JSON builder and flat-object parser (json.h). */
#include "gateway/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"

static void put(gw_json *j, const char *s, size_t n) {
  if (j->failed) return;
  char *p = dfs_grow(j->p, &j->cap, j->len + n + 1, 1, 1024);
  if (!p) {
    j->failed = 1;
    return;
  }
  j->p = p;
  memcpy(j->p + j->len, s, n);
  j->len += n;
  j->p[j->len] = '\0';
}

static void puts_(gw_json *j, const char *s) { put(j, s, strlen(s)); }

static void quoted(gw_json *j, const char *s) {
  puts_(j, "\"");
  for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
    char e[8];
    if (*c == '"' || *c == '\\') {
      e[0] = '\\', e[1] = (char)*c, e[2] = 0;
      puts_(j, e);
    } else if (*c < 0x20 || *c == '<' || *c == '>' || *c == '&' || *c == 0x7f) {
      snprintf(e, sizeof e, "\\u%04x", *c);
      puts_(j, e);
    } else {
      put(j, (const char *)c, 1);
    }
  }
  puts_(j, "\"");
}

/* A comma unless this is the first thing in an object or array, then the key. */
static void lead(gw_json *j, const char *key) {
  if (j->len && j->p[j->len - 1] != '{' && j->p[j->len - 1] != '[') puts_(j, ",");
  if (key) {
    quoted(j, key);
    puts_(j, ":");
  }
}

void gw_json_obj(gw_json *j, const char *key) { lead(j, key), puts_(j, "{"); }
void gw_json_end_obj(gw_json *j) { puts_(j, "}"); }
void gw_json_arr(gw_json *j, const char *key) { lead(j, key), puts_(j, "["); }
void gw_json_end_arr(gw_json *j) { puts_(j, "]"); }
void gw_json_str(gw_json *j, const char *key, const char *v) { lead(j, key), quoted(j, v); }

void gw_json_int(gw_json *j, const char *key, int64_t v) {
  char b[32];
  snprintf(b, sizeof b, "%" PRId64, v);
  lead(j, key), puts_(j, b);
}

void gw_json_uint(gw_json *j, const char *key, uint64_t v) {
  char b[32];
  snprintf(b, sizeof b, "%" PRIu64, v);
  lead(j, key), puts_(j, b);
}

void gw_json_bool(gw_json *j, const char *key, int v) { lead(j, key), puts_(j, v ? "true" : "false"); }

void gw_json_free(gw_json *j) {
  free(j->p);
  memset(j, 0, sizeof *j);
}

/* ---- the parser ---- */

typedef struct {
  const char *s, *end;
} cur;

static void ws(cur *c) {
  while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
    c->s++;
}

static int hex4(const char *s, unsigned *v) {
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char h = s[i];
    unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                 : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                 : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10) : 99u;
    if (d > 15) return -1;
    *v = *v * 16 + d;
  }
  return 0;
}

/* Appends byte b to out; -1 when full. */
static int emit(char *out, size_t outsz, size_t *o, unsigned b) {
  if (*o + 1 >= outsz) return -1;
  out[(*o)++] = (char)b;
  return 0;
}

/* A string at c->s (on its '"'), decoded into out (out NULL: skipped). */
static int str(cur *c, char *out, size_t outsz) {
  size_t o = 0;
  char skip[8];
  if (!out) out = skip, outsz = SIZE_MAX;
  if (c->s >= c->end || *c->s != '"') return -1;
  c->s++;
  while (c->s < c->end && *c->s != '"') {
    unsigned ch = (unsigned char)*c->s++;
    if (ch < 0x20) return -1;
    if (ch != '\\') {
      if (out != skip && emit(out, outsz, &o, ch)) return -1;
      continue;
    }
    if (c->s >= c->end) return -1;
    char e = *c->s++;
    unsigned cp;
    switch (e) {
    case '"': cp = '"'; break;
    case '\\': cp = '\\'; break;
    case '/': cp = '/'; break;
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u':
      if (c->end - c->s < 4 || hex4(c->s, &cp)) return -1;
      c->s += 4;
      if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
        unsigned lo;
        if (c->end - c->s < 6 || c->s[0] != '\\' || c->s[1] != 'u' || hex4(c->s + 2, &lo) ||
            lo < 0xdc00 || lo > 0xdfff)
          return -1;
        c->s += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp < 0xe000) {
        return -1;
      }
      break;
    default: return -1;
    }
    if (cp == 0) return -1;
    if (out == skip) continue;
    int bad = 0;
    if (cp < 0x80) {
      bad = emit(out, outsz, &o, cp);
    } else if (cp < 0x800) {
      bad = emit(out, outsz, &o, 0xc0 | (cp >> 6)) || emit(out, outsz, &o, 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      bad = emit(out, outsz, &o, 0xe0 | (cp >> 12)) ||
            emit(out, outsz, &o, 0x80 | ((cp >> 6) & 0x3f)) ||
            emit(out, outsz, &o, 0x80 | (cp & 0x3f));
    } else {
      bad = emit(out, outsz, &o, 0xf0 | (cp >> 18)) ||
            emit(out, outsz, &o, 0x80 | ((cp >> 12) & 0x3f)) ||
            emit(out, outsz, &o, 0x80 | ((cp >> 6) & 0x3f)) ||
            emit(out, outsz, &o, 0x80 | (cp & 0x3f));
    }
    if (bad) return -1;
  }
  if (c->s >= c->end) return -1;
  c->s++;
  if (out != skip) out[o] = '\0';
  return 0;
}

/* A number, true, false or null: copied as written. */
static int scalar(cur *c, char *out, size_t outsz) {
  const char *b = c->s;
  while (c->s < c->end && (strchr("+-.eE", *c->s) || (*c->s >= '0' && *c->s <= '9') ||
                           (*c->s >= 'a' && *c->s <= 'z')))
    c->s++;
  size_t n = (size_t)(c->s - b);
  if (n == 0) return -1;
  int num = (*b == '-' || (*b >= '0' && *b <= '9'));
  if (!num && !(n == 4 && (!memcmp(b, "true", 4) || !memcmp(b, "null", 4))) &&
      !(n == 5 && !memcmp(b, "false", 5)))
    return -1;
  if (out) {
    if (n >= outsz) return -1;
    memcpy(out, b, n);
    out[n] = '\0';
  }
  return 0;
}

int gw_json_get(const char *text, size_t len, const char *key, char *out, size_t outsz) {
  cur c = {text, text + len};
  int found = 0;
  char k[256];
  ws(&c);
  if (c.s >= c.end || *c.s++ != '{') return -1;
  ws(&c);
  if (c.s < c.end && *c.s == '}') {
    c.s++;
  } else {
    for (;;) {
      ws(&c);
      if (str(&c, k, sizeof k)) return -1;
      ws(&c);
      if (c.s >= c.end || *c.s++ != ':') return -1;
      ws(&c);
      int want = !found && strcmp(k, key) == 0;
      if (c.s < c.end && *c.s == '"') {
        if (str(&c, want ? out : NULL, outsz)) return -1;
      } else if (scalar(&c, want ? out : NULL, outsz)) {
        return -1;
      }
      found |= want;
      ws(&c);
      if (c.s < c.end && *c.s == ',') {
        c.s++;
        continue;
      }
      if (c.s < c.end && *c.s == '}') {
        c.s++;
        break;
      }
      return -1;
    }
  }
  ws(&c);
  return c.s == c.end ? found : -1;
}
