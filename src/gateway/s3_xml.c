/* S3's XML (s3_xml.h). */
#include "gateway/s3_xml.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/array.h"

static void add(s3_xml *x, const char *s, size_t n) {
  if (x->failed) return;
  if (x->len + n + 1 > S3_XML_MAX) { x->failed = 1; return; }
  char *p = dfs_grow(x->p, &x->cap, x->len + n + 1, 1, 4096);
  if (!p) { x->failed = 1; return; }
  x->p = p;
  memcpy(x->p + x->len, s, n);
  x->len += n;
  x->p[x->len] = '\0';
}

void s3_xml_raw(s3_xml *x, const char *s) { add(x, s, strlen(s)); }

void s3_xml_text(s3_xml *x, const char *s) {
  const char *run = s;
  for (; *s; s++) {
    const char *e = NULL;
    char num[16];
    unsigned char c = (unsigned char)*s;
    switch (c) {
    case '<': e = "&lt;"; break;
    case '>': e = "&gt;"; break;
    case '&': e = "&amp;"; break;
    case '"': e = "&quot;"; break;
    case '\'': e = "&apos;"; break;
    default:
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') { /* not allowed in XML 1.0 */
        snprintf(num, sizeof num, "&#x%X;", c); /* S3 escapes the same way */
        e = num;
      }
    }
    if (e) {
      add(x, run, (size_t)(s - run));
      add(x, e, strlen(e));
      run = s + 1;
    }
  }
  add(x, run, (size_t)(s - run));
}

void s3_xml_elem(s3_xml *x, const char *tag, const char *text) {
  s3_xml_raw(x, "<");
  s3_xml_raw(x, tag);
  s3_xml_raw(x, ">");
  s3_xml_text(x, text ? text : "");
  s3_xml_raw(x, "</");
  s3_xml_raw(x, tag);
  s3_xml_raw(x, ">");
}

void s3_xml_elem_u64(s3_xml *x, const char *tag, uint64_t v) {
  char b[32];
  snprintf(b, sizeof b, "%" PRIu64, v);
  s3_xml_elem(x, tag, b);
}

void s3_xml_elem_time(s3_xml *x, const char *tag, int64_t ns) {
  time_t t = (time_t)(ns / 1000000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char b[64];
  snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((ns / 1000000) % 1000));
  s3_xml_elem(x, tag, b);
}

void s3_xml_free(s3_xml *x) {
  free(x->p);
  memset(x, 0, sizeof *x);
}

void s3_http_date(int64_t ns, char *out, size_t outsz) {
  time_t t = (time_t)(ns / 1000000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, outsz, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int s3_xml_find(const char *doc, size_t len, size_t *pos, const char *tag, char *out,
                size_t outsz) {
  char open[80], close[80];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  size_t ol = strlen(open), cl = strlen(close);
  for (size_t i = *pos; i + ol <= len; i++) {
    if (memcmp(doc + i, open, ol) != 0) continue;
    size_t start = i + ol;
    for (size_t j = start; j + cl <= len; j++) {
      if (memcmp(doc + j, close, cl) != 0) continue;
      size_t o = 0;
      for (size_t k = start; k < j; k++) {
        char c = doc[k];
        static const struct { const char *ent; char c; } ents[] = {
            {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
        if (c == '&' && k + 3 < j && doc[k + 1] == '#') { /* &#34; &#x22; (Go's encoder) */
          int x = doc[k + 2] == 'x' || doc[k + 2] == 'X';
          char *end;
          unsigned long v = strtoul(doc + k + 2 + x, &end, x ? 16 : 10);
          if (end > doc + k + 2 + x && end < doc + j && *end == ';' && v > 0 && v < 128) {
            c = (char)v;
            k = (size_t)(end - doc);
          }
        } else if (c == '&')
          for (size_t e = 0; e < 5; e++) {
            size_t el = strlen(ents[e].ent);
            if (k + el <= j && memcmp(doc + k, ents[e].ent, el) == 0) {
              c = ents[e].c;
              k += el - 1;
              break;
            }
          }
        if (o + 1 >= outsz) return 0;
        out[o++] = c;
      }
      out[o] = '\0';
      *pos = j + cl;
      return 1;
    }
    return 0;
  }
  return 0;
}
