/* Object attributes for S3 (object_attrs.h). */
#include "gateway/object_attrs.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"

#define META_PREFIX "x-amz-meta-"
#define MAX_META 64

int gw_attrs_build(const gw_req *r, const char *etag, uint8_t **out, size_t *len) {
  Dfs__ObjectAttrs a = DFS__OBJECT_ATTRS__INIT;
  Dfs__ObjectMeta meta[MAX_META], *mp[MAX_META];
  size_t nm = 0;
  a.etag = (char *)etag;
  const char *v;
  if ((v = gw_header(r, "Content-Type"))) a.content_type = (char *)v;
  if ((v = gw_header(r, "Content-Encoding")) && strcasecmp(v, "aws-chunked") != 0)
    a.content_encoding = (char *)v;
  if ((v = gw_header(r, "Content-Disposition"))) a.content_disposition = (char *)v;
  if ((v = gw_header(r, "Cache-Control"))) a.cache_control = (char *)v;
  if ((v = gw_header(r, "Content-Language"))) a.content_language = (char *)v;
  for (size_t i = 0; i < r->nheaders; i++) {
    const char *n = r->headers[i].name;
    if (strncasecmp(n, META_PREFIX, strlen(META_PREFIX)) != 0 || !n[strlen(META_PREFIX)])
      continue;
    if (nm == MAX_META) return DFS_ETOOBIG;
    dfs__object_meta__init(&meta[nm]);
    meta[nm].name = (char *)n + strlen(META_PREFIX);
    meta[nm].value = (char *)r->headers[i].value;
    mp[nm] = &meta[nm];
    nm++;
  }
  a.n_meta = nm;
  a.meta = mp;
  size_t n = dfs__object_attrs__get_packed_size(&a);
  if (n > GW_ATTRS_MAX) return DFS_ETOOBIG;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return DFS_ENOMEM;
  dfs__object_attrs__pack(&a, buf);
  /* header names are lower-cased by nobody: store them as S3 returns them, lower case */
  *out = buf;
  *len = n;
  return 0;
}

Dfs__ObjectAttrs *gw_attrs_of(const Dfs__Entry *e) {
  if (!e || !e->attrs.len) return NULL;
  return dfs__object_attrs__unpack(NULL, e->attrs.len, e->attrs.data);
}

void gw_etag_of(const Dfs__Entry *e, char *out) {
  Dfs__ObjectAttrs *a = gw_attrs_of(e);
  if (a && a->etag && *a->etag && strlen(a->etag) < GW_ETAG_MAX - 3) {
    snprintf(out, GW_ETAG_MAX, "\"%s\"", a->etag);
    dfs__object_attrs__free_unpacked(a, NULL);
    return;
  }
  if (a) dfs__object_attrs__free_unpacked(a, NULL);
  /* no stored MD5 (a file from the CLI): stable while the file is unchanged */
  uint8_t h[16];
  unsigned n = 0;
  char in[64];
  int k = snprintf(in, sizeof in, "%llu/%llu/%lld", (unsigned long long)e->inode,
                   (unsigned long long)e->size, (long long)e->mtime_ns);
  EVP_Digest(in, (size_t)k, h, &n, EVP_md5(), NULL);
  static const char d[] = "0123456789abcdef";
  char hex[33];
  for (int i = 0; i < 16; i++) {
    hex[2 * i] = d[h[i] >> 4];
    hex[2 * i + 1] = d[h[i] & 15];
  }
  hex[32] = '\0';
  snprintf(out, GW_ETAG_MAX, "\"%s-1\"", hex);
}
