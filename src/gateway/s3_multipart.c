/* S3 multipart uploads as dfs directories of parts (s3_multipart.h). */
#include "gateway/s3_multipart.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/util.h"
#include "gateway.pb-c.h"
#include "gateway/object_attrs.h"
#include "gateway/object_io.h"
#include "gateway/s3_body.h"
#include "gateway/s3_xml.h"

#define UPLOADS_DIR ".s3-uploads"
#define ID_LEN 32
#define PART_REPLICAS 2                 /* like PutObject */
#define COMPLETE_BODY_MAX (4u << 20)    /* 10000 parts with checksums fit */
#define LIST_UPLOADS_SCAN 10000         /* uploads looked at by one ListMultipartUploads */

/* ---- layout ---- */

static int uploads_root(const gw_req *r, char *out) {
  return snprintf(out, DFS_PATH_MAX + 1, "/home/%s/" UPLOADS_DIR, r->user) > DFS_PATH_MAX;
}

static int upload_file(const gw_req *r, const char *id, const char *name, char *out) {
  return snprintf(out, DFS_PATH_MAX + 1, "/home/%s/" UPLOADS_DIR "/%s%s%s", r->user, id,
                  name ? "/" : "", name ? name : "") > DFS_PATH_MAX;
}

static int id_ok(const char *id) {
  if (!id || strlen(id) != ID_LEN) return 0;
  for (const char *p = id; *p; p++)
    if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p)) return 0;
  return 1;
}

/* "part-NNNNN" -> N (1..S3_MAX_PARTS), else 0. */
static unsigned part_of_name(const char *name) {
  if (strncmp(name, "part-", 5) != 0 || strlen(name) != 10) return 0;
  unsigned n = 0;
  for (const char *p = name + 5; *p; p++) {
    if (!isdigit((unsigned char)*p)) return 0;
    n = n * 10 + (unsigned)(*p - '0');
  }
  return n <= S3_MAX_PARTS ? n : 0;
}

static void no_such_upload(gw_req *r) {
  gw_s3_error(r, 404, "NoSuchUpload",
              "the specified multipart upload does not exist (it may have been completed or "
              "aborted)");
}

/* The upload named by ?uploadId for t: 0 and *rec (free with
 * dfs__multipart_upload__free_unpacked), or answers r (NoSuchUpload...). */
static int load_upload(gw_req *r, const s3_target *t, Dfs__MultipartUpload **rec) {
  const char *id = gw_query(r, "uploadId");
  char path[DFS_PATH_MAX + 1], err[512];
  *rec = NULL;
  if (!id_ok(id) || upload_file(r, id, "key", path)) {
    no_such_upload(r);
    return 1;
  }
  Dfs__StatRep *st;
  int rc = s3_stat(r, path, &st, err, sizeof err);
  if (rc == DFS_ENOENT || rc == DFS_ENOTDIR) {
    if (!s3_need_bucket(r, t)) no_such_upload(r); /* NoSuchBucket first */
    return 1;
  }
  if (rc) {
    s3_error_from_dfs(r, rc, err, t, 1);
    return 1;
  }
  Dfs__MultipartUpload *m =
      st->entry->attrs.len ? dfs__multipart_upload__unpack(NULL, st->entry->attrs.len,
                                                           st->entry->attrs.data)
                           : NULL;
  dfs__stat_rep__free_unpacked(st, NULL);
  if (!m || strcmp(m->bucket, t->bucket) != 0 || strcmp(m->key, t->key) != 0) {
    if (m) dfs__multipart_upload__free_unpacked(m, NULL);
    no_such_upload(r); /* (2): an upload of another key */
    return 1;
  }
  *rec = m;
  return 0;
}

static int delete_upload(gw_req *r, const char *id, char *err, size_t errsz) {
  char dir[DFS_PATH_MAX + 1];
  if (upload_file(r, id, NULL, dir)) return DFS_EBADPATH;
  Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
  req.path = dir;
  req.recursive = 1;
  req.request_id = dfs_random_u64();
  int rc = s3_meta_call(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base,
                        &dfs__delete_rep__descriptor, err, errsz);
  return rc == DFS_ENOENT ? 0 : rc;
}

/* List of path: 0 and *rep (free with dfs__list_rep__free_unpacked), or the failure. */
static int list_dir(gw_req *r, const char *path, Dfs__ListRep **rep, char *err, size_t errsz) {
  Dfs__ListReq req = DFS__LIST_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *m = NULL;
  int rc = meta_call(&r->conn->mc, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base,
                     &dfs__list_rep__descriptor, &m, err, errsz);
  if (rc) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    return rc;
  }
  *rep = (Dfs__ListRep *)m;
  return 0;
}

/* The parts of upload id, indexed by number: (*parts)[n] (1..S3_MAX_PARTS), NULL where
 * missing; they point into *rep. 0, or the failure. */
static int load_parts(gw_req *r, const char *id, Dfs__ListRep **rep, const Dfs__Entry ***parts,
                      char *err, size_t errsz) {
  char dir[DFS_PATH_MAX + 1];
  if (upload_file(r, id, NULL, dir)) return DFS_EBADPATH;
  int rc = list_dir(r, dir, rep, err, errsz);
  if (rc) return rc;
  *parts = calloc(S3_MAX_PARTS + 1, sizeof **parts);
  if (!*parts) {
    dfs__list_rep__free_unpacked(*rep, NULL);
    snprintf(err, errsz, "out of memory");
    return DFS_ENOMEM;
  }
  for (size_t i = 0; i < (*rep)->n_entries; i++) {
    const Dfs__Entry *e = (*rep)->entries[i];
    unsigned n = part_of_name(e->name);
    if (n && e->type == DFS__ENTRY_TYPE__ENTRY_FILE) (*parts)[n] = e;
  }
  return 0;
}

/* The MD5 hex a part's attrs hold ("" if none). */
static void part_etag(const Dfs__Entry *e, char out[33]) {
  out[0] = '\0';
  Dfs__ObjectAttrs *a = gw_attrs_of(e);
  if (a && a->etag && strlen(a->etag) == 32) memcpy(out, a->etag, 33);
  if (a) dfs__object_attrs__free_unpacked(a, NULL);
}

static void owner_xml(s3_xml *x, const char *tag, const char *user) {
  s3_xml_raw(x, "<");
  s3_xml_raw(x, tag);
  s3_xml_raw(x, ">");
  s3_xml_elem(x, "ID", user);
  s3_xml_elem(x, "DisplayName", user);
  s3_xml_raw(x, "</");
  s3_xml_raw(x, tag);
  s3_xml_raw(x, ">");
}

static void respond_xml(gw_req *r, s3_xml *x) {
  if (x->failed) gw_s3_error(r, 500, "InternalError", "the answer does not fit in memory");
  else gw_respond(r, 200, "application/xml", x->p, x->len, NULL);
  s3_xml_free(x);
}

/* ---- CreateMultipartUpload ---- */

/* Writes the key file of upload id (its dir made first). 0, or answers r. */
static int write_key_file(gw_req *r, const s3_target *t, const char *id) {
  char dir[DFS_PATH_MAX + 1], path[DFS_PATH_MAX + 1], err[512];
  uint8_t *oa = NULL;
  size_t oalen = 0;
  int rc = gw_attrs_build(r, "", &oa, &oalen);
  if (rc == DFS_ETOOBIG) {
    gw_s3_error(r, 400, "MetadataTooLarge", "the metadata headers exceed 2 KB");
    return 1;
  }
  if (rc) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return 1;
  }
  Dfs__ObjectAttrs *a = dfs__object_attrs__unpack(NULL, oalen, oa);
  free(oa);
  Dfs__MultipartUpload m = DFS__MULTIPART_UPLOAD__INIT;
  m.bucket = (char *)t->bucket;
  m.key = (char *)t->key;
  m.attrs = a;
  size_t n = dfs__multipart_upload__get_packed_size(&m);
  uint8_t *buf = a && n <= GW_ATTRS_MAX ? malloc(n ? n : 1) : NULL;
  if (!buf) {
    if (a) dfs__object_attrs__free_unpacked(a, NULL);
    if (n > GW_ATTRS_MAX) /* the key and the metadata share metad's 2 KiB of attrs */
      gw_s3_error(r, 400, "MetadataTooLarge",
                  "the key and its metadata exceed the 2 KB a multipart upload can keep");
    else
      gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return 1;
  }
  dfs__multipart_upload__pack(&m, buf);
  dfs__object_attrs__free_unpacked(a, NULL);
  if (upload_file(r, id, NULL, dir) || upload_file(r, id, "key", path)) {
    free(buf);
    gw_s3_error(r, 400, "KeyTooLongError", "the user name is too long for an upload path");
    return 1;
  }
  rc = s3_mkdir_p(r, dir, err, sizeof err);
  gw_upload u;
  if (!rc) {
    if (gw_upload_begin(&u, &r->conn->mc, &r->conn->cc, path, PART_REPLICAS)) {
      free(buf);
      gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
      return 1;
    }
    uint8_t md5[16], sha[32];
    rc = gw_upload_finish(&u, md5, sha);
    if (!rc) rc = gw_upload_commit(&u, buf, n);
    if (rc) snprintf(err, sizeof err, "%s", u.err);
    gw_upload_free(&u);
  }
  free(buf);
  if (rc) {
    s3_error_from_dfs(r, rc, err, t, 1);
    return 1;
  }
  return 0;
}

void s3_create_multipart(gw_req *r, const s3_target *t) {
  if (s3_need_bucket(r, t)) return;
  uint64_t a = dfs_random_u64(), b = dfs_random_u64();
  char id[ID_LEN + 1];
  snprintf(id, sizeof id, "%016" PRIx64 "%016" PRIx64, a, b);
  if (write_key_file(r, t, id)) return;
  s3_xml x = {0};
  s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"" S3_XMLNS "\">");
  s3_xml_elem(&x, "Bucket", t->bucket);
  s3_xml_elem(&x, "Key", t->key);
  s3_xml_elem(&x, "UploadId", id);
  s3_xml_raw(&x, "</InitiateMultipartUploadResult>");
  respond_xml(r, &x);
}

/* ---- UploadPart ---- */

typedef struct {
  s3_target t;
  gw_upload up;
  s3_body body;
} part_op;

static void part_op_free(void *p) {
  part_op *op = p;
  gw_upload_free(&op->up);
  s3_body_free(&op->body);
  free(op);
}

static int part_body(gw_req *r, const char *data, size_t len) {
  part_op *op = r->op;
  return s3_body_write(r, &op->body, data, len);
}

static void part_end(gw_req *r) {
  part_op *op = r->op;
  uint8_t md5[16];
  if (s3_body_finish(r, &op->body, md5)) return;
  char etag[33];
  s3_hex(md5, 16, etag);
  Dfs__ObjectAttrs a = DFS__OBJECT_ATTRS__INIT;
  a.etag = etag;
  uint8_t buf[64];
  size_t n = dfs__object_attrs__pack(&a, buf);
  if (gw_upload_commit(&op->up, buf, n)) {
    if (op->up.rc == DFS_ENOENT) no_such_upload(r); /* completed or aborted meanwhile */
    else s3_error_from_dfs(r, op->up.rc, op->up.err, &op->t, 1);
    return;
  }
  char q[40];
  snprintf(q, sizeof q, "\"%s\"", etag);
  const char *extra[] = {"ETag", q, NULL};
  gw_respond(r, 200, NULL, NULL, 0, extra);
}

/* ?partNumber: 1..S3_MAX_PARTS, else 0. */
static unsigned part_number(const gw_req *r) {
  const char *s = gw_query(r, "partNumber");
  if (!s || !*s || strlen(s) > 5) return 0;
  unsigned n = 0;
  for (const char *p = s; *p; p++) {
    if (!isdigit((unsigned char)*p)) return 0;
    n = n * 10 + (unsigned)(*p - '0');
  }
  return n <= S3_MAX_PARTS ? n : 0;
}

void s3_upload_part(gw_req *r, const s3_target *t) {
  unsigned pn = part_number(r);
  if (!pn) {
    gw_s3_error(r, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
    return;
  }
  if (gw_header(r, "x-amz-copy-source")) {
    gw_s3_error(r, 501, "NotImplemented", "UploadPartCopy is not implemented by dfsgw");
    return;
  }
  uint64_t declared;
  int streaming;
  if (s3_body_length(r, "UploadPart", &declared, &streaming)) return;
  if (declared > (5ull << 30)) {
    gw_s3_error(r, 400, "EntityTooLarge", "a part is at most 5 GiB");
    return;
  }
  Dfs__MultipartUpload *rec;
  if (load_upload(r, t, &rec)) return;
  dfs__multipart_upload__free_unpacked(rec, NULL);
  part_op *op = calloc(1, sizeof *op);
  if (!op) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return;
  }
  op->t = *t;
  r->op = op;
  r->op_free = part_op_free;
  r->on_body = part_body;
  r->on_end = part_end;
  if (s3_body_start(r, &op->body, &op->up, &op->t, declared, streaming)) return;
  char name[16], path[DFS_PATH_MAX + 1];
  snprintf(name, sizeof name, "part-%05u", pn);
  upload_file(r, gw_query(r, "uploadId"), name, path); /* fits: the key path did */
  if (gw_upload_begin(&op->up, &r->conn->mc, &r->conn->cc, path, PART_REPLICAS))
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
  else {
    gw_upload_expect(&op->up, declared);
    if (r->payload != SIGV4_PAYLOAD_SHA256)
      gw_upload_no_sha256(&op->up); /* nothing checks it: one hash pass less */
  }
}

/* ---- CompleteMultipartUpload ---- */

typedef struct {
  s3_target t;
  Dfs__MultipartUpload *rec;
  s3_doc doc;
} complete_op;

static void complete_op_free(void *p) {
  complete_op *op = p;
  if (op->rec) dfs__multipart_upload__free_unpacked(op->rec, NULL);
  s3_doc_free(&op->doc);
  free(op);
}

static int complete_body(gw_req *r, const char *data, size_t len) {
  complete_op *op = r->op;
  return s3_doc_append(r, &op->doc, data, len, COMPLETE_BODY_MAX,
                       "the CompleteMultipartUpload document");
}

typedef struct {
  unsigned num;
  char etag[33]; /* what the client sent, unquoted, lower case */
} listed_part;

/* The <Part>s of the document: 0 and *out (*n), or answers r (MalformedXML,
 * InvalidPartOrder). */
static int parse_parts(gw_req *r, const char *doc, size_t len, listed_part **out, size_t *n) {
  listed_part *v = calloc(S3_MAX_PARTS, sizeof *v);
  char part[1024], num[32], etag[128];
  size_t pos = 0, k = 0;
  if (!v) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return 1;
  }
  while (doc && s3_xml_find(doc, len, &pos, "Part", part, sizeof part)) {
    size_t p1 = 0, p2 = 0;
    if (k == S3_MAX_PARTS || !s3_xml_find(part, strlen(part), &p1, "PartNumber", num, sizeof num) ||
        !s3_xml_find(part, strlen(part), &p2, "ETag", etag, sizeof etag)) {
      free(v);
      gw_s3_error(r, 400, "MalformedXML", k == S3_MAX_PARTS
                                              ? "more than 10000 parts"
                                              : "a Part without PartNumber or ETag");
      return 1;
    }
    char *end;
    unsigned long pn = strtoul(num, &end, 10);
    if (!*num || *end || pn < 1 || pn > S3_MAX_PARTS) {
      free(v);
      gw_s3_error(r, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
      return 1;
    }
    if (k && pn <= v[k - 1].num) {
      free(v);
      gw_s3_error(r, 400, "InvalidPartOrder",
                  "the list of parts was not in ascending order (parts must be listed in "
                  "order by part number)");
      return 1;
    }
    v[k].num = (unsigned)pn;
    const char *e = etag;
    size_t el = strlen(e);
    if (el >= 2 && e[0] == '"' && e[el - 1] == '"') e++, el -= 2;
    if (el == 32) {
      for (size_t i = 0; i < 32; i++) v[k].etag[i] = (char)tolower((unsigned char)e[i]);
      v[k].etag[32] = '\0';
    }
    k++;
  }
  if (!k) {
    free(v);
    gw_s3_error(r, 400, "MalformedXML", "the CompleteMultipartUpload document lists no Part");
    return 1;
  }
  *out = v;
  *n = k;
  return 0;
}

/* Fallback of Complete when a part is not whole MiB (a file's chunks are all 1 MiB but
 * its last, so such parts cannot be concatenated by reference): the parts' bytes are
 * streamed through the gateway into a new upload of the object. Slower (every byte is
 * read and written once more) but any client's part sizes work. 0, or the failure. */
static int stream_parts(gw_req *r, const s3_target *t, char (*paths)[DFS_PATH_MAX + 1],
                        size_t n, const uint8_t *attrs, size_t alen, char *err, size_t errsz) {
  /* the reads have a metad client and chunk connections of their own: the upload may
   * use the connection's (from writer threads) while a part is being read */
  meta_client dmc;
  chunk_conns dcc;
  if (meta_client_init(&dmc, r->gw->cfg.meta)) {
    snprintf(err, errsz, "the metad addresses (--meta) do not parse");
    return DFS_EINVAL;
  }
  dmc.token = r->conn->mc.token;
  dmc.tls = r->conn->mc.tls;
  chunk_conns_init(&dcc);
  gw_upload u;
  if (gw_upload_begin(&u, &r->conn->mc, &r->conn->cc, t->object_path, PART_REPLICAS)) {
    chunk_conns_close(&dcc);
    meta_client_close(&dmc);
    snprintf(err, errsz, "out of memory");
    return DFS_ENOMEM;
  }
  uint8_t *buf = malloc(DFS_CHUNK_SIZE);
  int rc = buf ? 0 : DFS_ENOMEM;
  if (rc) snprintf(err, errsz, "out of memory");
  for (size_t i = 0; i < n && !rc; i++) {
    gw_download d;
    rc = gw_download_open(&d, &dmc, &dcc, paths[i]);
    if (rc) snprintf(err, errsz, "%s", d.err);
    while (!rc) {
      long got = gw_download_read(&d, buf, DFS_CHUNK_SIZE);
      if (got < 0) {
        rc = (int)got;
        snprintf(err, errsz, "%s", d.err);
      } else if (got == 0) {
        break;
      } else if (gw_upload_write(&u, buf, (size_t)got)) {
        rc = u.rc;
        snprintf(err, errsz, "%s", u.err);
      }
    }
    gw_download_close(&d);
  }
  uint8_t md5[16], sha[32];
  if (!rc && (gw_upload_finish(&u, md5, sha) || gw_upload_commit(&u, attrs, alen))) {
    rc = u.rc;
    snprintf(err, errsz, "%s", u.err);
  }
  free(buf);
  gw_upload_free(&u);
  chunk_conns_close(&dcc);
  meta_client_close(&dmc);
  return rc;
}

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static void complete_end(gw_req *r) {
  complete_op *op = r->op;
  const char *id = gw_query(r, "uploadId");
  listed_part *lp = NULL;
  size_t n = 0;
  if (parse_parts(r, op->doc.p, op->doc.len, &lp, &n)) return;
  Dfs__ListRep *rep = NULL;
  const Dfs__Entry **parts = NULL;
  char (*paths)[DFS_PATH_MAX + 1] = NULL;
  char **srcs = NULL;
  uint8_t *attrs = NULL;
  char err[512];
  int rc = load_parts(r, id, &rep, &parts, err, sizeof err);
  if (rc == DFS_ENOENT) {
    no_such_upload(r);
    goto out;
  }
  if (rc) {
    s3_error_from_dfs(r, rc, err, &op->t, 1);
    goto out;
  }
  /* every listed part exists with its ETag; all but the last at least 5 MiB */
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int whole = 1;
  uint64_t total = 0;
  if (!md || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
    if (md) EVP_MD_CTX_free(md);
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    const Dfs__Entry *e = parts[lp[i].num];
    char have[33], msg[160];
    if (e) part_etag(e, have);
    if (!e || !have[0] || strcmp(have, lp[i].etag) != 0) {
      snprintf(msg, sizeof msg, "part %u was not uploaded or its ETag does not match: one or "
                                "more of the specified parts could not be found",
               lp[i].num);
      EVP_MD_CTX_free(md);
      gw_s3_error(r, 400, "InvalidPart", msg);
      goto out;
    }
    if (i + 1 < n && e->size < S3_MIN_PART) {
      snprintf(msg, sizeof msg, "part %u is %" PRIu64 " bytes: every part but the last must "
                                "be at least 5 MiB", lp[i].num, e->size);
      EVP_MD_CTX_free(md);
      gw_s3_error(r, 400, "EntityTooSmall", msg);
      goto out;
    }
    if (i + 1 < n && e->size % DFS_CHUNK_SIZE) whole = 0;
    total += e->size;
    uint8_t raw[16];
    for (int k = 0; k < 16; k++)
      raw[k] = (uint8_t)(hexval(have[2 * k]) * 16 + hexval(have[2 * k + 1]));
    EVP_DigestUpdate(md, raw, 16);
  }
  uint8_t mm[16];
  unsigned mlen;
  EVP_DigestFinal_ex(md, mm, &mlen);
  EVP_MD_CTX_free(md);
  /* the object's attrs: the create's, with the multipart ETag (MD5 of the parts' MD5s) */
  char etag[GW_ETAG_MAX];
  s3_hex(mm, 16, etag);
  snprintf(etag + 32, sizeof etag - 32, "-%zu", n);
  Dfs__ObjectAttrs none = DFS__OBJECT_ATTRS__INIT;
  Dfs__ObjectAttrs *oa = op->rec->attrs ? op->rec->attrs : &none;
  char *saved = oa->etag;
  oa->etag = etag;
  size_t alen = dfs__object_attrs__get_packed_size(oa);
  if (alen <= GW_ATTRS_MAX && (attrs = malloc(alen ? alen : 1)))
    dfs__object_attrs__pack(oa, attrs);
  oa->etag = saved;
  paths = malloc(n * sizeof *paths);
  srcs = malloc(n * sizeof *srcs);
  if (!attrs || !paths || !srcs) {
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    char name[16];
    snprintf(name, sizeof name, "part-%05u", lp[i].num);
    upload_file(r, id, name, paths[i]);
    srcs[i] = paths[i];
  }
  if ((rc = s3_make_parents(r, &op->t, err, sizeof err))) {
    s3_error_from_dfs(r, rc, err, &op->t, 1);
    goto out;
  }
  if (whole) { /* (3): the parts' chunks become the object's, no byte moves */
    Dfs__ComposeReq req = DFS__COMPOSE_REQ__INIT;
    req.dst = (char *)op->t.object_path;
    req.n_srcs = n;
    req.srcs = srcs;
    req.overwrite = 1;
    req.attrs.data = attrs;
    req.attrs.len = alen;
    req.delete_srcs = 1;
    req.request_id = dfs_random_u64();
    rc = s3_meta_call(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_COMPOSE, &req.base,
                      &dfs__compose_rep__descriptor, err, sizeof err);
    if (rc == DFS_EPROTO) whole = 0; /* a metad older than Compose: copy the bytes */
  }
  if (!whole) rc = stream_parts(r, &op->t, paths, n, attrs, alen, err, sizeof err);
  if (rc) {
    s3_error_from_dfs(r, rc, err, &op->t, 1);
    goto out;
  }
  /* the object is there: what is left of the upload (the key file, parts not listed)
   * goes; a failure here only leaves garbage the user can see in .s3-uploads */
  delete_upload(r, id, err, sizeof err);
  {
    s3_xml x = {0};
    char q[GW_ETAG_MAX + 2], loc[DFS_PATH_MAX + 80];
    snprintf(q, sizeof q, "\"%s\"", etag);
    snprintf(loc, sizeof loc, "/%s/%s", op->t.bucket, op->t.key);
    s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"" S3_XMLNS "\">");
    s3_xml_elem(&x, "Location", loc);
    s3_xml_elem(&x, "Bucket", op->t.bucket);
    s3_xml_elem(&x, "Key", op->t.key);
    s3_xml_elem(&x, "ETag", q);
    s3_xml_raw(&x, "</CompleteMultipartUploadResult>");
    (void)total;
    respond_xml(r, &x);
  }
out:
  free(lp);
  free(parts);
  free(paths);
  free(srcs);
  free(attrs);
  if (rep) dfs__list_rep__free_unpacked(rep, NULL);
}

void s3_complete_multipart(gw_req *r, const s3_target *t) {
  Dfs__MultipartUpload *rec;
  if (load_upload(r, t, &rec)) return;
  complete_op *op = calloc(1, sizeof *op);
  if (!op) {
    dfs__multipart_upload__free_unpacked(rec, NULL);
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return;
  }
  op->t = *t;
  op->rec = rec;
  r->op = op;
  r->op_free = complete_op_free;
  r->on_body = complete_body;
  r->on_end = complete_end;
}

/* ---- AbortMultipartUpload ---- */

void s3_abort_multipart(gw_req *r, const s3_target *t) {
  Dfs__MultipartUpload *rec;
  if (load_upload(r, t, &rec)) return;
  dfs__multipart_upload__free_unpacked(rec, NULL);
  char err[512];
  int rc = delete_upload(r, gw_query(r, "uploadId"), err, sizeof err);
  if (rc) s3_error_from_dfs(r, rc, err, t, 1);
  else gw_respond(r, 204, NULL, NULL, 0, NULL);
}

/* ---- ListParts ---- */

static unsigned query_uint(const gw_req *r, const char *name, unsigned dflt, unsigned max) {
  const char *s = gw_query(r, name);
  if (!s || !*s) return dflt;
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end) return dflt;
  return v > max ? max : (unsigned)v;
}

void s3_list_parts(gw_req *r, const s3_target *t) {
  Dfs__MultipartUpload *rec;
  if (load_upload(r, t, &rec)) return;
  dfs__multipart_upload__free_unpacked(rec, NULL);
  const char *id = gw_query(r, "uploadId");
  unsigned marker = query_uint(r, "part-number-marker", 0, S3_MAX_PARTS);
  unsigned max = query_uint(r, "max-parts", 1000, 1000);
  Dfs__ListRep *rep;
  const Dfs__Entry **parts;
  char err[512];
  int rc = load_parts(r, id, &rep, &parts, err, sizeof err);
  if (rc) {
    if (rc == DFS_ENOENT) no_such_upload(r);
    else s3_error_from_dfs(r, rc, err, t, 1);
    return;
  }
  s3_xml x = {0};
  s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult xmlns=\"" S3_XMLNS "\">");
  s3_xml_elem(&x, "Bucket", t->bucket);
  s3_xml_elem(&x, "Key", t->key);
  s3_xml_elem(&x, "UploadId", id);
  owner_xml(&x, "Initiator", r->user);
  owner_xml(&x, "Owner", r->user);
  s3_xml_elem(&x, "StorageClass", "STANDARD");
  s3_xml_elem_u64(&x, "PartNumberMarker", marker);
  s3_xml_elem_u64(&x, "MaxParts", max);
  unsigned shown = 0, last = marker, more = 0;
  s3_xml x2 = {0}; /* the parts, after the markers */
  for (unsigned pn = marker + 1; pn <= S3_MAX_PARTS; pn++) {
    const Dfs__Entry *e = parts[pn];
    if (!e) continue;
    if (shown == max) {
      more = 1;
      break;
    }
    char have[33], q[40];
    part_etag(e, have);
    snprintf(q, sizeof q, "\"%s\"", have);
    s3_xml_raw(&x2, "<Part>");
    s3_xml_elem_u64(&x2, "PartNumber", pn);
    s3_xml_elem_time(&x2, "LastModified", e->mtime_ns);
    s3_xml_elem(&x2, "ETag", q);
    s3_xml_elem_u64(&x2, "Size", e->size);
    s3_xml_raw(&x2, "</Part>");
    shown++;
    last = pn;
  }
  s3_xml_elem_u64(&x, "NextPartNumberMarker", last);
  s3_xml_elem(&x, "IsTruncated", more ? "true" : "false");
  if (x2.len) s3_xml_raw(&x, x2.p);
  if (x2.failed) x.failed = 1;
  s3_xml_free(&x2);
  s3_xml_raw(&x, "</ListPartsResult>");
  free(parts);
  dfs__list_rep__free_unpacked(rep, NULL);
  respond_xml(r, &x);
}

/* ---- ListMultipartUploads ---- */

typedef struct {
  char *key; /* owned */
  char id[ID_LEN + 1];
  int64_t initiated_ns;
} upload_ent;

static int cmp_upload(const void *a, const void *b) {
  const upload_ent *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : strcmp(x->id, y->id);
}

void s3_list_multipart_uploads(gw_req *r, const s3_target *t) {
  if (s3_need_bucket(r, t)) return;
  const char *prefix = gw_query(r, "prefix");
  const char *kmarker = gw_query(r, "key-marker"), *imarker = gw_query(r, "upload-id-marker");
  unsigned max = query_uint(r, "max-uploads", 1000, 1000);
  if (!prefix) prefix = "";
  char root[DFS_PATH_MAX + 1], err[512];
  Dfs__ListRep *rep = NULL;
  upload_ent *v = NULL;
  size_t n = 0;
  int rc = uploads_root(r, root) ? DFS_EBADPATH : list_dir(r, root, &rep, err, sizeof err);
  if (rc && rc != DFS_ENOENT) {
    s3_error_from_dfs(r, rc, err, t, 0);
    return;
  }
  if (rep && rep->n_entries && !(v = calloc(rep->n_entries, sizeof *v))) {
    dfs__list_rep__free_unpacked(rep, NULL);
    gw_s3_error(r, 503, "SlowDown", "the gateway is out of memory");
    return;
  }
  /* one Stat per upload: the key file says bucket and key (bounded by the scan limit) */
  for (size_t i = 0; rep && i < rep->n_entries && i < LIST_UPLOADS_SCAN; i++) {
    const Dfs__Entry *e = rep->entries[i];
    char path[DFS_PATH_MAX + 1];
    if (e->type != DFS__ENTRY_TYPE__ENTRY_DIR || !id_ok(e->name) ||
        upload_file(r, e->name, "key", path))
      continue;
    Dfs__StatRep *st;
    if (s3_stat(r, path, &st, err, sizeof err)) continue; /* being created or removed */
    Dfs__MultipartUpload *m =
        st->entry->attrs.len
            ? dfs__multipart_upload__unpack(NULL, st->entry->attrs.len, st->entry->attrs.data)
            : NULL;
    if (m && !strcmp(m->bucket, t->bucket) && !strncmp(m->key, prefix, strlen(prefix)) &&
        (v[n].key = strdup(m->key))) {
      memcpy(v[n].id, e->name, ID_LEN + 1);
      v[n].initiated_ns = st->entry->mtime_ns;
      n++;
    }
    if (m) dfs__multipart_upload__free_unpacked(m, NULL);
    dfs__stat_rep__free_unpacked(st, NULL);
  }
  if (n) qsort(v, n, sizeof *v, cmp_upload);
  s3_xml x = {0};
  s3_xml_raw(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult xmlns=\"" S3_XMLNS "\">");
  s3_xml_elem(&x, "Bucket", t->bucket);
  s3_xml_elem(&x, "KeyMarker", kmarker ? kmarker : "");
  s3_xml_elem(&x, "UploadIdMarker", imarker ? imarker : "");
  s3_xml_elem(&x, "Prefix", prefix);
  s3_xml_elem_u64(&x, "MaxUploads", max);
  s3_xml x2 = {0};
  unsigned shown = 0;
  int more = 0;
  const upload_ent *lastu = NULL;
  for (size_t i = 0; i < n; i++) {
    if (kmarker && *kmarker) { /* after (key-marker, upload-id-marker) */
      int c = strcmp(v[i].key, kmarker);
      if (c < 0 || (c == 0 && (!imarker || !*imarker || strcmp(v[i].id, imarker) <= 0)))
        continue;
    }
    if (shown == max) {
      more = 1;
      break;
    }
    s3_xml_raw(&x2, "<Upload>");
    s3_xml_elem(&x2, "Key", v[i].key);
    s3_xml_elem(&x2, "UploadId", v[i].id);
    owner_xml(&x2, "Initiator", r->user);
    owner_xml(&x2, "Owner", r->user);
    s3_xml_elem(&x2, "StorageClass", "STANDARD");
    s3_xml_elem_time(&x2, "Initiated", v[i].initiated_ns);
    s3_xml_raw(&x2, "</Upload>");
    shown++;
    lastu = &v[i];
  }
  s3_xml_elem(&x, "NextKeyMarker", lastu ? lastu->key : "");
  s3_xml_elem(&x, "NextUploadIdMarker", lastu ? lastu->id : "");
  s3_xml_elem(&x, "IsTruncated", more ? "true" : "false");
  if (x2.len) s3_xml_raw(&x, x2.p);
  if (x2.failed) x.failed = 1;
  s3_xml_free(&x2);
  s3_xml_raw(&x, "</ListMultipartUploadsResult>");
  for (size_t i = 0; i < n; i++) free(v[i].key);
  free(v);
  if (rep) dfs__list_rep__free_unpacked(rep, NULL);
  respond_xml(r, &x);
}
