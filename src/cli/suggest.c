/* Suggestions for mistyped commands and hdfs habits (suggest.h). */
#include "cli/suggest.h"

#include <stdint.h>
#include <string.h>


#define MAX_WORD 32 /* longer words are not typos of a command name */

static size_t min3(size_t a, size_t b, size_t c) {
  size_t m = a < b ? a : b;
  return m < c ? m : c;
}

size_t cli_edit_distance(const char *a, const char *b, size_t cap) {
  size_t n = strlen(a), m = strlen(b);
  if (n > MAX_WORD || m > MAX_WORD) return cap + 1;
  size_t d[MAX_WORD + 1][MAX_WORD + 1];
  for (size_t i = 0; i <= n; i++) d[i][0] = i;
  for (size_t j = 0; j <= m; j++) d[0][j] = j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      size_t cost = a[i - 1] != b[j - 1];
      d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < d[i][j])
        d[i][j] = d[i - 2][j - 2] + 1; /* "sl" for "ls" */
    }
  return d[n][m] > cap ? cap + 1 : d[n][m];
}

const char *cli_suggest_name(const char *word, const char *const *names, size_t n) {
  size_t len = strlen(word);
  const char *best = NULL, *prefix_of = NULL;
  size_t best_d = SIZE_MAX, prefixes = 0;
  if (len == 0 || len > MAX_WORD) return NULL;
  for (size_t i = 0; i < n; i++) {
    size_t cap = strlen(names[i]) <= 4 ? 1 : 2;
    size_t d = cli_edit_distance(word, names[i], cap);
    if (d <= cap && d < best_d) best = names[i], best_d = d;
    if (len >= 2 && strncmp(names[i], word, len) == 0) prefix_of = names[i], prefixes++;
  }
  if (best) return best;
  return prefixes == 1 ? prefix_of : NULL;
}

/* hdfs dfs -NAME -> dfs NAME, where dfs has the same thing under another name */
static const struct { const char *hdfs, *dfs; } hdfs_names[] = {
    {"copyFromLocal", "put"}, {"moveFromLocal", "put"}, {"copyToLocal", "get"},
    {"touchz", "touch"},      {"rmr", "rm"},            {"lsr", "ls"},
    {"text", "cat"},          {"find", "search"},
};

const char *cli_hdfs_name(const char *flag, const char *const *names, size_t n) {
  if (flag[0] != '-' || flag[1] == '-' || flag[1] == '\0') return NULL;
  const char *name = flag + 1;
  for (size_t i = 0; i < sizeof hdfs_names / sizeof hdfs_names[0]; i++)
    if (strcmp(hdfs_names[i].hdfs, name) == 0) return hdfs_names[i].dfs;
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return names[i];
  return NULL;
}
