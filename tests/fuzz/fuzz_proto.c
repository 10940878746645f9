/* Fuzz target (b): protobuf decoding and validation of every message type (the first
 * byte picks the type from all descriptors generated from the .proto files). A decoded
 * message must re-encode, decode again and re-encode to the same bytes; each of its
 * string fields goes through the validators servers apply to peer input (path, name,
 * user name, password policy; metad's raw token scan is in fuzz_metad.c). */
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/password.h"
#include "authd/user_store.h"
#include "common/errors.h"
#include "common/path.h"
#include "fuzz_proto_list.h"

/* 1 if m or a message inside it kept unknown fields. protobuf-c keeps even an invalid
 * field number 0 (when its tag is an over-long varint) and then writes it in a form it
 * refuses itself; such fields are never read by dfs, so the round trip is not checked. */
static int has_unknown(const ProtobufCMessage *m, int depth) {
  if (m->n_unknown_fields) return 1;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields && depth < 8; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
      continue;
    const char *base = (const char *)m + f->offset;
    size_t n = 1;
    const void *const *items = (const void *const *)base;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = *(const size_t *)((const char *)m + f->quantifier_offset);
      items = *(const void *const *const *)base;
    }
    for (size_t k = 0; k < n; k++)
      if (items && items[k] && has_unknown(items[k], depth + 1)) return 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDESC (sizeof fz_descriptors / sizeof fz_descriptors[0])

static void validate_string(const char *s) {
  const char *why = NULL;
  char norm[DFS_PATH_MAX + 1];
  if (dfs_path_check(s, &why) == 0) {
    /* a valid path normalises to itself and splits into a valid parent */
    if (dfs_path_normalize(NULL, s, norm, sizeof norm) || strcmp(norm, s)) {
      fprintf(stderr, "valid path '%s' does not normalise to itself\n", s);
      abort();
    }
    char parent[DFS_PATH_MAX + 1];
    const char *last = dfs_path_split(s, parent);
    if (last && dfs_path_check(parent, &why)) {
      fprintf(stderr, "parent of valid path '%s' is invalid: %s\n", s, why);
      abort();
    }
  } else if (dfs_path_normalize("/", s, norm, sizeof norm) == 0 && dfs_path_check(norm, &why)) {
    fprintf(stderr, "normalised path '%s' (from '%s') is invalid: %s\n", norm, s, why);
    abort();
  }
  dfs_name_check(s, strlen(s), &why);
  user_name_check(s);
  pw_check_policy(s, &why);
}

static void validate_fields(const ProtobufCMessage *m, int depth) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
      continue; /* another member of the oneof is set */
    const char *base = (const char *)m + f->offset;
    size_t n = 1;
    const void *const *items = (const void *const *)base;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = *(const size_t *)((const char *)m + f->quantifier_offset);
      items = *(const void *const *const *)base;
    }
    for (size_t k = 0; k < n; k++) {
      const void *v = items ? items[k] : NULL;
      if (f->type == PROTOBUF_C_TYPE_STRING && v) validate_string(v);
      else if (f->type == PROTOBUF_C_TYPE_MESSAGE && v && depth < 8)
        validate_fields(v, depth + 1);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const ProtobufCMessageDescriptor *d = fz_descriptors[data[0] % NDESC];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, p);
  if (!m) return 0;
  validate_fields(m, 0);
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *a = malloc(len ? len : 1), *b = NULL;
  if (!a) abort();
  if (protobuf_c_message_pack(m, a) != len) abort();
  ProtobufCMessage *m2 = protobuf_c_message_unpack(d, NULL, len, a);
  if (!m2 && has_unknown(m, 0)) goto out;
  if (!m2) {
    fprintf(stderr, "%s: re-encoded message does not decode\n", d->name);
    abort();
  }
  size_t len2 = protobuf_c_message_get_packed_size(m2);
  b = malloc(len2 ? len2 : 1);
  if (!b) abort();
  protobuf_c_message_pack(m2, b);
  if (len2 != len || memcmp(a, b, len)) {
    fprintf(stderr, "%s: encoding is not stable\n", d->name);
    abort();
  }
  protobuf_c_message_free_unpacked(m2, NULL);
out:
  free(a);
  free(b);
  protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}
