/* search: the packed name index (search.h).
 * Invariants: (1) off[] is strictly increasing and off[i] points at entry i's name in
 * the arena; (2) ino[i]->sidx == i for every live entry; (3) dead counts the NULL
 * entries of ino[] and dead_bytes their arena bytes. */
#include "metad/search.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "metad/ns.h"

void search_init(search_idx *s) { memset(s, 0, sizeof *s); }

void search_free(search_idx *s) {
  free(s->arena);
  free(s->off);
  free(s->ino);
  memset(s, 0, sizeof *s);
}

size_t search_mem(const search_idx *s) {
  return s->acap + (size_t)s->cap * (sizeof *s->off + sizeof *s->ino);
}

int search_add(search_idx *s, ns_inode *n) {
  size_t len = strlen(n->name) + 1;
  n->sidx = SEARCH_NONE;
  if (s->alen + len > UINT32_MAX) return DFS_ENOMEM;
  if (s->n == s->cap) {
    uint32_t nc = s->cap ? s->cap + s->cap / 2 : 1024;
    uint32_t *no = realloc(s->off, (size_t)nc * sizeof *no);
    if (!no) return DFS_ENOMEM;
    s->off = no;
    ns_inode **ni = realloc(s->ino, (size_t)nc * sizeof *ni);
    if (!ni) return DFS_ENOMEM;
    s->ino = ni;
    s->cap = nc;
  }
  if (s->alen + len > s->acap) {
    size_t nc = s->acap ? s->acap + s->acap / 2 : 16384;
    while (nc < s->alen + len) nc += nc / 2;
    char *na = realloc(s->arena, nc);
    if (!na) return DFS_ENOMEM;
    s->arena = na;
    s->acap = nc;
  }
  memcpy(s->arena + s->alen, n->name, len);
  s->off[s->n] = (uint32_t)s->alen;
  s->ino[s->n] = n;
  n->sidx = s->n++;
  s->alen += len;
  return 0;
}

/* Drops the tombstones, keeping order (never allocates). */
static void compact(search_idx *s) {
  uint32_t j = 0;
  size_t a = 0;
  for (uint32_t i = 0; i < s->n; i++) {
    if (!s->ino[i]) continue;
    const char *nm = s->arena + s->off[i];
    size_t len = strlen(nm) + 1;
    memmove(s->arena + a, nm, len);
    s->off[j] = (uint32_t)a;
    s->ino[j] = s->ino[i];
    s->ino[j]->sidx = j;
    j++;
    a += len;
  }
  s->n = j;
  s->alen = a;
  s->dead = 0;
  s->dead_bytes = 0;
}

void search_del(search_idx *s, ns_inode *n) {
  uint32_t i = n->sidx;
  if (i == SEARCH_NONE || i >= s->n || s->ino[i] != n) return;
  s->ino[i] = NULL;
  n->sidx = SEARCH_NONE;
  s->dead++;
  s->dead_bytes += strlen(s->arena + s->off[i]) + 1;
  if (s->dead > 4096 && s->dead_bytes * 2 > s->alen) compact(s);
}

/* Entry holding arena position p (the last i with off[i] <= p). */
static uint32_t entry_at(const search_idx *s, size_t p) {
  uint32_t lo = 0, hi = s->n; /* off[lo] <= p < off[hi] */
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->off[mid] <= p) lo = mid;
    else hi = mid;
  }
  return lo;
}

/* Longest run of pattern characters with no glob meaning (copied into lit). */
static size_t glob_literal(const char *pat, char *lit, size_t litsz) {
  size_t best = 0, bstart = 0, cur = 0, cstart = 0, i = 0;
  while (pat[i]) {
    char ch = pat[i];
    if (ch == '*' || ch == '?' || ch == '[' || ch == '\\') {
      if (cur > best) best = cur, bstart = cstart;
      cur = 0;
      if (ch == '[') { /* skip the bracket expression */
        i++;
        if (pat[i] == '!' || pat[i] == '^') i++;
        if (pat[i] == ']') i++;
        while (pat[i] && pat[i] != ']') i++;
        if (pat[i]) i++;
        cstart = i;
        continue;
      }
      if (ch == '\\' && pat[i + 1]) i++; /* escaped char: not literal-tracked */
      i++;
      cstart = i;
      continue;
    }
    cur++;
    i++;
  }
  if (cur > best) best = cur, bstart = cstart;
  if (best >= litsz) best = litsz - 1;
  memcpy(lit, pat + bstart, best);
  lit[best] = 0;
  return best;
}

void search_run(const search_idx *s, const char *pattern, int glob,
                int (*hit)(void *ud, ns_inode *n), void *ud, uint64_t *scanned) {
  char lit[256];
  const char *needle = pattern;
  size_t nlen = strlen(pattern);
  uint64_t sc = 0;
  if (glob) nlen = glob_literal(pattern, lit, sizeof lit), needle = lit;
  if (nlen == 0) { /* every entry is a candidate */
    for (uint32_t i = 0; i < s->n; i++) {
      ns_inode *n = s->ino[i];
      if (!n) continue;
      sc++;
      if (glob && fnmatch(pattern, s->arena + s->off[i], 0)) continue;
      if (hit(ud, n)) break;
    }
    *scanned = sc;
    return;
  }
  size_t p = 0;
  while (p < s->alen) {
    const char *m = memmem(s->arena + p, s->alen - p, needle, nlen);
    if (!m) break;
    uint32_t i = entry_at(s, (size_t)(m - s->arena));
    p = i + 1 < s->n ? s->off[i + 1] : s->alen;
    ns_inode *n = s->ino[i];
    if (!n) continue;
    sc++;
    if (glob && fnmatch(pattern, s->arena + s->off[i], 0)) continue;
    if (hit(ud, n)) break;
  }
  *scanned = sc;
}
