/* Octal and symbolic permission modes (see mode.h). */
#include "cli/mode.h"

#include <string.h>

#include "common/errors.h"

int cli_mode_is_octal(const char *s) {
  return *s && strspn(s, "01234567") == strlen(s);
}

/* Bits of `who` (mask of u=0700, g=070, o=07) selected by the letters in perm. */
static int perm_bits(const char **p, uint32_t cur, int is_dir, uint32_t *bits) {
  uint32_t b = 0;
  for (; **p && **p != ',' && !strchr("+-=", **p); (*p)++) {
    switch (**p) {
      case 'r': b |= 0444; break;
      case 'w': b |= 0222; break;
      case 'x': b |= 0111; break;
      case 'X': if (is_dir || (cur & 0111)) b |= 0111; break;
      default: return DFS_EINVAL;
    }
  }
  *bits = b;
  return 0;
}

static int parse_symbolic(const char *s, uint32_t cur, int is_dir, uint32_t *out) {
  uint32_t m = cur & 0777;
  const char *p = s;
  for (;;) {
    uint32_t who = 0;
    for (; *p && strchr("ugoa", *p); p++)
      who |= *p == 'u' ? 0700 : *p == 'g' ? 0070 : *p == 'o' ? 0007 : 0777;
    if (!who) who = 0777;
    if (!*p || !strchr("+-=", *p)) return DFS_EINVAL; /* a clause needs an operator */
    while (*p && strchr("+-=", *p)) {
      char op = *p++;
      uint32_t bits;
      if (perm_bits(&p, m, is_dir, &bits)) return DFS_EINVAL;
      bits &= who;
      if (op == '+') m |= bits;
      else if (op == '-') m &= ~bits;
      else m = (m & ~who) | bits;
    }
    if (!*p) break;
    if (*p != ',' || !p[1]) return DFS_EINVAL;
    p++;
  }
  *out = m;
  return 0;
}

int cli_parse_mode(const char *s, uint32_t cur, int is_dir, uint32_t *out) {
  if (!s || !*s) return DFS_EINVAL;
  if (cli_mode_is_octal(s)) {
    if (strlen(s) > 4) return DFS_EINVAL;
    uint32_t v = 0;
    for (const char *p = s; *p; p++) v = v * 8 + (uint32_t)(*p - '0');
    if (v > 0777) return DFS_EINVAL;
    *out = v;
    return 0;
  }
  return parse_symbolic(s, cur, is_dir, out);
}
