/* Terminal-safe text (escape.h). */
#include "cli/escape.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at p that is not a C1 control, or 0. */
static size_t utf8_ok(const unsigned char *p) {
  size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
           : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) return 0;      /* U+0080-U+009F */
  if (n == 3 && p[0] == 0xe0 && p[1] < 0xa0) return 0;      /* overlong */
  if (n == 3 && p[0] == 0xed && p[1] > 0x9f) return 0;      /* surrogates */
  if (n == 4 && p[0] == 0xf0 && p[1] < 0x90) return 0;      /* overlong */
  if (n == 4 && p[0] == 0xf4 && p[1] > 0x8f) return 0;      /* > U+10FFFF */
  return n;
}

const char *cli_esc(const char *s, char *buf, size_t bufsz) {
  static const char hex[] = "0123456789abcdef";
  if (!s) return "";
  const unsigned char *p = (const unsigned char *)s;
  size_t clean = 0;
  for (;;) {
    if (!p[clean]) return s; /* nothing to escape */
    if (p[clean] >= 0x20 && p[clean] < 0x7f) { clean++; continue; }
    size_t n = p[clean] >= 0x80 ? utf8_ok(p + clean) : 0;
    if (!n) break;
    clean += n;
  }
  if (!bufsz) return "";
  size_t o = 0, i = 0;
  while (p[i]) {
    size_t n = p[i] >= 0x20 && p[i] < 0x7f ? 1 : p[i] >= 0x80 ? utf8_ok(p + i) : 0;
    size_t need = n ? n : 4;
    if (o + need + 4 > bufsz) { /* room for "..." and the NUL */
      if (bufsz - o >= 4) memcpy(buf + o, "...", 4); /* else o == 0 and bufsz < 4 */
      else buf[0] = '\0';
      return buf;
    }
    if (n) {
      memcpy(buf + o, p + i, n);
      o += n;
      i += n;
    } else {
      buf[o++] = '\\';
      buf[o++] = 'x';
      buf[o++] = hex[p[i] >> 4];
      buf[o++] = hex[p[i] & 15];
      i++;
    }
  }
  buf[o] = '\0';
  return buf;
}

void cli_put_esc(FILE *f, const char *s) {
  char buf[CLI_ESC_BUF];
  fputs(cli_esc(s, buf, sizeof buf), f);
}
