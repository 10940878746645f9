/* What S3 keeps about an object beyond its bytes (ETag, Content-Type, x-amz-meta-*),
 * stored as a gateway.proto ObjectAttrs in the file's Entry.attrs (metad keeps the bytes,
 * at most 2048, without reading them). A file written by the dfs CLI has no attrs: its
 * ETag is then derived from the inode, size and mtime and ends in "-1", which S3 clients
 * read as "not an MD5" (like a multipart ETag) and so do not check against the bytes. */
#ifndef DFS_GATEWAY_OBJECT_ATTRS_H
#define DFS_GATEWAY_OBJECT_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "client_meta.pb-c.h"
#include "common/frame.h"
#include "gateway.pb-c.h"
#include "gateway/request.h"

#define GW_ATTRS_MAX DFS_ATTRS_MAX
#define GW_ETAG_MAX 80        /* "\"<32 hex>-NNNNN\"" and the quotes */

/* Builds the attrs of a PUT: etag (hex, unquoted) plus the request's Content-Type,
 * Content-Encoding, Content-Disposition, Cache-Control, Content-Language and x-amz-meta-*
 * headers. *out is malloc'ed (caller frees). 0, or DFS_ETOOBIG (over GW_ATTRS_MAX: S3's
 * MetadataTooLarge) / DFS_ENOMEM. */
int gw_attrs_build(const gw_req *r, const char *etag, uint8_t **out, size_t *len);

/* The decoded attrs of e, or NULL if it has none or they do not decode. Free with
 * dfs__object_attrs__free_unpacked(a, NULL). */
Dfs__ObjectAttrs *gw_attrs_of(const Dfs__Entry *e);

/* The quoted ETag of e ("\"...\"") into out (GW_ETAG_MAX). */
void gw_etag_of(const Dfs__Entry *e, char *out);

#endif
