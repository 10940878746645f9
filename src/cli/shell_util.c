/* Pure helpers of dfs shell and JSON output (see shell_util.h). */
#include "cli/shell_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/util.h"

int cli_join_cwd(const char *cwd, const char *rel, char *out, size_t outsz) {
  int n;
  if (!cwd || !*cwd || rel[0] == '/' || rel[0] == '~') n = snprintf(out, outsz, "%s", rel);
  else n = snprintf(out, outsz, "%s%s%s", cwd, cwd[strlen(cwd) - 1] == '/' ? "" : "/", rel);
  return n < 0 || (size_t)n >= outsz ? DFS_ETOOBIG : 0;
}

int cli_split_words(char *line, char **words, int maxw) {
  int n = 0;
  char *r = line, *w = line;
  for (;;) {
    while (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r') r++;
    if (!*r) break;
    if (n >= maxw) return DFS_EINVAL;
    words[n++] = w;
    char q = 0;
    while (*r) {
      char c = *r;
      if (q) {
        if (c == q) { q = 0; r++; continue; }
        if (c == '\\' && q == '"' && r[1]) { *w++ = r[1]; r += 2; continue; }
        *w++ = c;
        r++;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') break;
      if (c == '\'' || c == '"') { q = c; r++; continue; }
      if (c == '\\' && r[1]) { *w++ = r[1]; r += 2; continue; }
      *w++ = c;
      r++;
    }
    if (q) return DFS_EINVAL;
    int end = *r != '\0';
    if (end) r++;
    *w++ = '\0';
    if (!end) break;
  }
  return n;
}

int cli_completion_is_local(char **words, int n) {
  if (n < 1) return 0;
  int put = !strcmp(words[0], "put"), get = !strcmp(words[0], "get");
  if (!put && !get) return 0;
  /* the options of put/get that take a value (see their specs in put.c, get.c) */
  static const char *const with_value[] = {"--replicas", "--parallel", "-P", "--mode", "-m"};
  int npos = 0, opts = 1;
  for (int i = 1; i < n; i++) {
    const char *w = words[i];
    if (opts && !strcmp(w, "--")) { opts = 0; continue; }
    if (opts && w[0] == '-' && w[1]) {
      for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        if (!strcmp(w, with_value[k])) { i++; break; }
      continue;
    }
    npos++;
  }
  return put ? npos == 0 : npos == 1;
}

int cli_completion_match(const char *name, const char *prefix) {
  return strncmp(name, prefix, strlen(prefix)) == 0;
}

size_t cli_common_prefix(const char *const *s, size_t n, char *out, size_t outsz) {
  size_t len = 0;
  if (n == 0 || outsz == 0) { if (outsz) out[0] = '\0'; return 0; }
  for (;; len++) {
    char c = s[0][len];
    if (!c) break;
    size_t i = 1;
    for (; i < n; i++)
      if (s[i][len] != c) break;
    if (i < n) break;
  }
  if (len >= outsz) len = outsz - 1;
  memcpy(out, s[0], len);
  out[len] = '\0';
  return len;
}

int cli_split_partial(const char *typed, char *dir, size_t dirsz, char *base, size_t basesz) {
  const char *slash = strrchr(typed, '/');
  size_t dl = slash ? (size_t)(slash - typed) + 1 : 0;
  if (dl >= dirsz || strlen(typed) - dl >= basesz) return DFS_ETOOBIG;
  memcpy(dir, typed, dl);
  dir[dl] = '\0';
  strcpy(base, typed + dl);
  return 0;
}

size_t cli_json_escape(const char *s, char *out, size_t outsz) {
  size_t n = 0;
#define PUT(ch) do { if (n + 1 < outsz) out[n] = (ch); n++; } while (0)
  PUT('"');
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') { PUT('\\'); PUT((char)c); }
    else if (c == '\n') { PUT('\\'); PUT('n'); }
    else if (c == '\t') { PUT('\\'); PUT('t'); }
    else if (c == '\r') { PUT('\\'); PUT('r'); }
    else if (c < 0x20 || c == 0x7f || (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
      /* C0 controls, DEL and C1 controls (U+0080-U+009F, two bytes in UTF-8) as \u00XX:
       * valid JSON either way, but a terminal showing raw output would act on them */
      static const char hex[] = "0123456789abcdef";
      if (c == 0xc2) c = *++p;
      PUT('\\'); PUT('u'); PUT('0'); PUT('0'); PUT(hex[c >> 4]); PUT(hex[c & 15]);
    } else PUT((char)c);
  }
  PUT('"');
#undef PUT
  if (outsz) out[n < outsz ? n : outsz - 1] = '\0';
  return n;
}

void cli_json_str(FILE *f, const char *s) {
  char small[512];
  size_t n = cli_json_escape(s, small, sizeof small);
  if (n < sizeof small) { fputs(small, f); return; }
  char *big = malloc(n + 1);
  if (big) {
    cli_json_escape(s, big, n + 1);
    fputs(big, f);
    free(big);
  } else {
    fputs("\"\"", f); /* out of memory: an empty string rather than broken JSON */
  }
}

/* "10M", "1.5GiB", "4096", "2k" -> bytes (binary units). 0 or DFS_EINVAL. */
int cli_parse_size(const char *s, uint64_t *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || v < 0) return DFS_EINVAL;
  uint64_t mul = 1;
  switch (toupper((unsigned char)*end)) {
  case '\0': break;
  case 'K': mul = 1ull << 10; end++; break;
  case 'M': mul = 1ull << 20; end++; break;
  case 'G': mul = 1ull << 30; end++; break;
  case 'T': mul = 1ull << 40; end++; break;
  case 'B': break;
  default: return DFS_EINVAL;
  }
  if (*end == 'i' || *end == 'I') end++;
  if (*end == 'b' || *end == 'B') end++;
  if (*end) return DFS_EINVAL;
  *out = (uint64_t)(v * (double)mul);
  return 0;
}

/* "30m", "2h", "7d" ago; "@EPOCH"; "YYYY-MM-DD[THH:MM[:SS]]" (local time) -> ns. */
int cli_parse_time(const char *s, int64_t *out) {
  char *end;
  if (s[0] == '@') {
    long long v = strtoll(s + 1, &end, 10);
    if (end == s + 1 || *end) return DFS_EINVAL;
    *out = (int64_t)v * 1000000000LL;
    return 0;
  }
  double v = strtod(s, &end);
  if (end != s && end[0] && !end[1] && strchr("smhdw", end[0])) {
    double mul = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : end[0] == 'd' ? 86400 : 604800;
    *out = dfs_wall_ns() - (int64_t)(v * mul * 1e9);
    return 0;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *p = strptime(s, "%Y-%m-%d", &tm);
  if (!p) return DFS_EINVAL;
  if (*p == 'T' || *p == ' ') {
    const char *q = strptime(p + 1, "%H:%M:%S", &tm);
    if (!q) q = strptime(p + 1, "%H:%M", &tm);
    p = q;
  }
  if (!p || *p) return DFS_EINVAL;
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  if (t == (time_t)-1) return DFS_EINVAL;
  *out = (int64_t)t * 1000000000LL;
  return 0;
}
