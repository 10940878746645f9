/* ListObjects (v1) and ListObjectsV2 over the bucket's directory tree.
 *
 * S3 lists keys in byte order of the whole key. A directory d contributes the keys
 * "d/...", so siblings are visited in the order of name + "/" for directories and name
 * for files, and a directory is walked where "d/" sorts: the keys come out in S3's
 * order without sorting them all. With delimiter "/" a directory is one CommonPrefix;
 * without, it is walked. The marker (start-after, continuation token, v1 marker) skips
 * whole directories whose keys all sort before it. A page stops at max-keys (at most
 * 1000) entries; the walk is bounded by LIST_MAX_DIRS directory listings per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "gateway/object_attrs.h"
#include "gateway/s3_router.h"
#include "gateway/s3_xml.h"

#define LIST_MAX_KEYS 1000
#define LIST_MAX_DIRS 10000

typedef struct {
  gw_req *r;
  const char *prefix, *after;
  int delim, max, url, count, truncated, dirs, rc;
  char err[512];
  char last[DFS_PATH_MAX + 2]; /* the last key or prefix put on the page */
  s3_xml contents, prefixes;
} lister;

static void text_key(lister *l, s3_xml *x, const char *tag, const char *key) {
  if (!l->url) {
    s3_xml_elem(x, tag, key);
    return;
  }
  size_t n = strlen(key);
  char *enc = malloc(3 * n + 1);
  if (!enc || sigv4_uri_encode(key, n, 1, enc, 3 * n + 1) < 0) {
    x->failed = 1;
  } else {
    s3_xml_elem(x, tag, enc);
  }
  free(enc);
}

/* Room for one more entry on the page? Marks the page truncated when not. */
static int page_room(lister *l) {
  if (l->count < l->max) return 1;
  l->truncated = 1;
  return 0;
}

static void add_content(lister *l, const char *key, const Dfs__Entry *e) {
  if (!page_room(l)) return;
  char etag[GW_ETAG_MAX];
  gw_etag_of(e, etag);
  s3_xml *x = &l->contents;
  s3_xml_raw(x, "<Contents>");
  text_key(l, x, "Key", key);
  s3_xml_elem_time(x, "LastModified", e->mtime_ns);
  s3_xml_elem(x, "ETag", etag);
  s3_xml_elem_u64(x, "Size", e->size);
  s3_xml_elem(x, "StorageClass", "STANDARD");
  s3_xml_raw(x, "<Owner>");
  s3_xml_elem(x, "ID", e->owner);
  s3_xml_elem(x, "DisplayName", e->owner);
  s3_xml_raw(x, "</Owner></Contents>");
  l->count++;
  snprintf(l->last, sizeof l->last, "%s", key);
}

static void add_prefix(lister *l, const char *p) {
  if (!page_room(l)) return;
  s3_xml_raw(&l->prefixes, "<CommonPrefixes>");
  text_key(l, &l->prefixes, "Prefix", p);
  s3_xml_raw(&l->prefixes, "</CommonPrefixes>");
  l->count++;
  snprintf(l->last, sizeof l->last, "%s", p);
}

typedef struct {
  const Dfs__Entry *e;
  char sort[DFS_NAME_MAX + 2]; /* name, "/" appended for a directory */
} sorted_ent;

static int cmp_sorted(const void *a, const void *b) {
  return strcmp(((const sorted_ent *)a)->sort, ((const sorted_ent *)b)->sort);
}

/* Walks directory dir, whose entries have keys keybase + name; only names starting with
 * namepart. */
static void walk(lister *l, const char *dir, const char *keybase, const char *namepart) {
  if (l->rc || l->truncated) return;
  if (++l->dirs > LIST_MAX_DIRS) {
    l->rc = DFS_EBUSY;
    snprintf(l->err, sizeof l->err, "the listing needs more than %d directory reads; narrow "
                                    "it with a prefix or a delimiter", LIST_MAX_DIRS);
    return;
  }
  Dfs__ListReq req = DFS__LIST_REQ__INIT;
  req.path = (char *)dir;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(&l->r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base,
                     &dfs__list_rep__descriptor, &m, l->err, sizeof l->err);
  if (rc == DFS_ENOENT || rc == DFS_ENOTDIR) { /* no such prefix: no keys */
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    return;
  }
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    l->rc = rc;
    return;
  }
  const Dfs__ListRep *rep = (const Dfs__ListRep *)m;
  sorted_ent *v = calloc(rep->n_entries ? rep->n_entries : 1, sizeof *v);
  if (!v) {
    l->rc = DFS_ENOMEM;
    snprintf(l->err, sizeof l->err, "out of memory");
    protobuf_c_message_free_unpacked(m, NULL);
    return;
  }
  size_t n = 0, nl = strlen(namepart);
  for (size_t i = 0; i < rep->n_entries; i++) {
    const Dfs__Entry *e = rep->entries[i];
    if (!e->name || strlen(e->name) > DFS_NAME_MAX || strncmp(e->name, namepart, nl) != 0)
      continue;
    v[n].e = e;
    snprintf(v[n].sort, sizeof v[n].sort, "%s%s", e->name,
             e->type == DFS__ENTRY_TYPE__ENTRY_DIR ? "/" : "");
    n++;
  }
  qsort(v, n, sizeof *v, cmp_sorted);
  char *key = malloc(DFS_PATH_MAX + 2), *sub = malloc(DFS_PATH_MAX + 2);
  for (size_t i = 0; key && sub && i < n && !l->rc && !l->truncated; i++) {
    int is_dir = v[i].e->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    snprintf(key, DFS_PATH_MAX + 2, "%s%s", keybase, v[i].sort);
    if (is_dir) {
      size_t kl = strlen(key);
      /* every key below sorts after key itself: all before the marker unless the
       * marker is inside */
      if (l->after && strcmp(key, l->after) <= 0 && strncmp(l->after, key, kl) != 0) continue;
      if (l->delim) {
        if (l->after && strcmp(key, l->after) <= 0) continue; /* returned on a past page */
        add_prefix(l, key);
      } else {
        snprintf(sub, DFS_PATH_MAX + 2, "%s/%s", dir, v[i].e->name);
        walk(l, sub, key, "");
      }
    } else {
      if (l->after && strcmp(key, l->after) <= 0) continue;
      add_content(l, key, v[i].e);
    }
  }
  if (!key || !sub) {
    l->rc = DFS_ENOMEM;
    snprintf(l->err, sizeof l->err, "out of memory");
  }
  free(key);
  free(sub);
  free(v);
  protobuf_c_message_free_unpacked(m, NULL);
}

static void hexs(const char *s, char *out, size_t outsz) {
  static const char d[] = "0123456789abcdef";
  size_t o = 0;
  for (; *s && o + 3 <= outsz; s++) {
    out[o++] = d[(unsigned char)*s >> 4];
    out[o++] = d[(unsigned char)*s & 15];
  }
  out[o < outsz ? o : outsz - 1] = '\0';
}

/* A continuation token (hex of the last key) back to the key; 0 or -1. */
static int unhex(const char *s, char *out, size_t outsz) {
  size_t n = strlen(s), o = 0;
  if (n % 2 || n / 2 >= outsz) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char c = s[i + k];
      v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1000);
    }
    if (v <= 0) return -1;
    out[o++] = (char)v;
  }
  out[o] = '\0';
  return 0;
}

void s3_list_objects(gw_req *r, const s3_target *t, int v2) {
  lister l;
  memset(&l, 0, sizeof l);
  l.r = r;
  const char *prefix = gw_query(r, "prefix"), *delim = gw_query(r, "delimiter");
  const char *maxk = gw_query(r, "max-keys"), *enc = gw_query(r, "encoding-type");
  l.prefix = prefix ? prefix : "";
  if (delim && *delim && strcmp(delim, "/") != 0) {
    gw_s3_error(r, 501, "NotImplemented", "dfsgw lists with the delimiter \"/\" or none");
    return;
  }
  l.delim = delim && *delim;
  l.url = enc && strcmp(enc, "url") == 0;
  l.max = LIST_MAX_KEYS;
  if (maxk) {
    char *end;
    long v = strtol(maxk, &end, 10);
    if (!*maxk || *end || v < 0) {
      gw_s3_error(r, 400, "InvalidArgument", "max-keys must be a non-negative integer");
      return;
    }
    if (v < l.max) l.max = (int)v;
  }
  char after[DFS_PATH_MAX + 2] = "";
  const char *token = v2 ? gw_query(r, "continuation-token") : NULL;
  const char *start = v2 ? gw_query(r, "start-after") : gw_query(r, "marker");
  if (token && *token) {
    if (unhex(token, after, sizeof after)) {
      gw_s3_error(r, 400, "InvalidArgument", "the continuation token is not one this gateway gave");
      return;
    }
  } else if (start && *start) {
    snprintf(after, sizeof after, "%s", start);
  }
  l.after = after[0] ? after : NULL;
  /* the directory holding the prefix, and the start of names within it */
  const char *slash = strrchr(l.prefix, '/');
  size_t dl = slash ? (size_t)(slash - l.prefix) : 0;
  char *dir = malloc(DFS_PATH_MAX + 2), *keybase = malloc(DFS_PATH_MAX + 2);
  if (!dir || !keybase) {
    free(dir);
    free(keybase);
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return;
  }
  /* a prefix longer than any dfs path matches nothing */
  int too_long = dl > DFS_PATH_MAX || strlen(t->bucket_path) + 1 + dl > DFS_PATH_MAX;
  if (!too_long) {
    memcpy(dir, t->bucket_path, strlen(t->bucket_path) + 1);
    if (dl) {
      strcat(dir, "/");
      strncat(dir, l.prefix, dl);
    }
    memcpy(keybase, l.prefix, slash ? dl + 1 : 0);
    keybase[slash ? dl + 1 : 0] = '\0';
  }
  const char *namepart = slash ? slash + 1 : l.prefix;
  /* the bucket itself must exist: NoSuchBucket, not an empty list */
  Dfs__StatReq sreq = DFS__STAT_REQ__INIT;
  sreq.path = (char *)t->bucket_path;
  ProtobufCMessage *sm = NULL;
  int rc = meta_call(&r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_STAT, &sreq.base,
                     &dfs__stat_rep__descriptor, &sm, l.err, sizeof l.err);
  int isdir = rc == 0 && ((Dfs__StatRep *)sm)->entry &&
              ((Dfs__StatRep *)sm)->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  if (sm) protobuf_c_message_free_unpacked(sm, NULL);
  if (rc || !isdir) {
    free(dir);
    free(keybase);
    if (rc) s3_error_from_dfs(r, rc, l.err, t, 0);
    else gw_s3_error(r, 404, "NoSuchBucket", "the specified bucket does not exist");
    return;
  }
  /* a prefix naming a directory path that contains a '.' or '..' component, or an empty
   * one, matches nothing (dfs has no such names) */
  if (l.max > 0 && !too_long) walk(&l, dir, keybase, namepart);
  free(dir);
  free(keybase);
  if (l.rc) {
    s3_error_from_dfs(r, l.rc, l.err, t, 0);
    s3_xml_free(&l.contents);
    s3_xml_free(&l.prefixes);
    return;
  }
  s3_xml x = {0};
  s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"" S3_XMLNS "\">");
  s3_xml_elem(&x, "Name", t->bucket);
  text_key(&l, &x, "Prefix", l.prefix);
  if (l.delim) text_key(&l, &x, "Delimiter", "/");
  char num[32];
  snprintf(num, sizeof num, "%d", l.max);
  s3_xml_elem(&x, "MaxKeys", num);
  if (l.url) s3_xml_elem(&x, "EncodingType", "url");
  s3_xml_elem(&x, "IsTruncated", l.truncated ? "true" : "false");
  if (v2) {
    snprintf(num, sizeof num, "%d", l.count);
    s3_xml_elem(&x, "KeyCount", num);
    if (token) s3_xml_elem(&x, "ContinuationToken", token);
    if (start && *start) text_key(&l, &x, "StartAfter", start);
    if (l.truncated) {
      char *hex = malloc(2 * strlen(l.last) + 1);
      if (hex) {
        hexs(l.last, hex, 2 * strlen(l.last) + 1);
        s3_xml_elem(&x, "NextContinuationToken", hex);
        free(hex);
      } else {
        x.failed = 1;
      }
    }
  } else {
    text_key(&l, &x, "Marker", start ? start : "");
    if (l.truncated) text_key(&l, &x, "NextMarker", l.last);
  }
  if (l.contents.p) s3_xml_raw(&x, l.contents.p);
  if (l.prefixes.p) s3_xml_raw(&x, l.prefixes.p);
  s3_xml_raw(&x, "</ListBucketResult>");
  if (x.failed || l.contents.failed || l.prefixes.failed)
    gw_s3_error(r, 500, "InternalError", "the listing does not fit in memory");
  else
    gw_respond(r, 200, "application/xml", x.p, x.len, NULL);
  s3_xml_free(&x);
  s3_xml_free(&l.contents);
  s3_xml_free(&l.prefixes);
}
