/* The XML that S3 answers with: a growable buffer with escaping, capped at
 * S3_XML_MAX (a ListObjects page of 1000 keys of 1 KiB fits). Pure; any thread. */
#ifndef DFS_GATEWAY_S3_XML_H
#define DFS_GATEWAY_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#define S3_XML_MAX (8u << 20)
#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"

typedef struct {
  char *p;
  size_t len, cap;
  int failed; /* out of memory or over S3_XML_MAX: the document is unusable */
} s3_xml;

void s3_xml_raw(s3_xml *x, const char *s);                   /* appended as is */
void s3_xml_text(s3_xml *x, const char *s);                  /* escaped */
void s3_xml_elem(s3_xml *x, const char *tag, const char *text); /* <tag>text</tag> */
void s3_xml_elem_u64(s3_xml *x, const char *tag, uint64_t v);
/* <tag>2026-12-06T09:00:00.000Z</tag> from nanoseconds since the epoch */
void s3_xml_elem_time(s3_xml *x, const char *tag, int64_t ns);
void s3_xml_free(s3_xml *x);

/* HTTP-date (RFC 7231) of ns into out (at least 40 bytes). */
void s3_http_date(int64_t ns, char *out, size_t outsz);

/* Finds the text of the first <tag>...</tag> at or after *pos in doc (a request body
 * such as CompleteMultipartUpload or Delete); unescapes the five XML entities and ASCII
 * character references (&#34;, &#x22;: Go clients send them) into out
 * (outsz). Returns 1 and moves *pos past it, 0 if there is none (or it does not fit). */
int s3_xml_find(const char *doc, size_t len, size_t *pos, const char *tag, char *out,
                size_t outsz);

#endif
