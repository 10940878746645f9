/* changes: the change feed's ring (changes.h). Invariants are in the header. */
#include "metad/changes.h"

#include <stdlib.h>
#include <string.h>

#include "common/path.h"
#include "common/util.h"

static uint64_t new_epoch(void) {
  uint64_t e;
  do e = dfs_random_u64();
  while (!e);
  return e;
}

void changes_init(changes_t *c) {
  memset(c, 0, sizeof *c);
  c->epoch = new_epoch();
  c->first = c->next = 1;
}

static void drop_oldest(changes_t *c) {
  char **slot = &c->paths[c->first % CHANGES_CAP];
  c->bytes -= strlen(*slot) + 1;
  free(*slot);
  *slot = NULL;
  c->first++;
}

void changes_free(changes_t *c) {
  while (c->first < c->next) drop_oldest(c);
}

void changes_reset(changes_t *c) {
  changes_free(c);
  uint64_t old = c->epoch;
  changes_init(c);
  while (c->epoch == old) c->epoch = new_epoch();
}

void changes_add(changes_t *c, const char *path) {
  if (!path || !*path) return;
  size_t len = strlen(path);
  if (len > DFS_PATH_MAX) { /* cannot happen for a checked path: record an ancestor */
    len = DFS_PATH_MAX;
    while (len > 1 && path[len] != '/') len--;
  }
  while (c->next - c->first >= CHANGES_CAP ||
         (c->first < c->next && c->bytes + len + 1 > CHANGES_MAX_BYTES))
    drop_oldest(c);
  char *p = malloc(len + 1);
  if (!p) { /* a gap nobody may miss: every position before now reads as overflow */
    changes_free(c);
    c->next++;
    c->first = c->next;
    return;
  }
  memcpy(p, path, len);
  p[len] = 0;
  c->paths[c->next % CHANGES_CAP] = p;
  c->bytes += len + 1;
  c->next++;
}

void changes_since(const changes_t *c, uint64_t since, size_t max, changes_visible_fn *vis,
                   void *ud, const char **out, size_t *n, uint64_t *next, int *overflow) {
  *n = 0;
  *overflow = 0;
  *next = c->next;
  if (since == 0) return;
  if (since < c->first || since > c->next) {
    *overflow = 1;
    return;
  }
  uint64_t s = since;
  for (; s < c->next && *n < max; s++) {
    const char *p = c->paths[s % CHANGES_CAP];
    if (!vis || vis(ud, p)) out[(*n)++] = p;
  }
  *next = s;
}
