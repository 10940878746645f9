/* The console's JSON: a builder for answers and a parser for the small flat objects the
 * page sends ({"path": "/home/alice/x", "expires_s": 3600}).
 *
 * Invariants: (1) every string goes out escaped (quotes, backslashes, control
 * characters, and < > & as \u003c... so that no answer can be read as HTML); (2) the
 * parser accepts only one flat object of strings, numbers, true, false and null (nested
 * values are a refusal) and never truncates: a value longer than the caller's buffer is
 * an error, as is a \u0000 (it would cut a C string short). */
#ifndef DFS_GATEWAY_JSON_H
#define DFS_GATEWAY_JSON_H

#include <stddef.h>
#include <stdint.h>

/* A growing answer; failed is set (and appends stop) when memory ran out. */
typedef struct {
  char *p;
  size_t len, cap;
  int failed;
} gw_json;

/* key NULL: an array element, else "key": in the current object. Commas are added. */
void gw_json_obj(gw_json *j, const char *key);   /* { */
void gw_json_end_obj(gw_json *j);                /* } */
void gw_json_arr(gw_json *j, const char *key);   /* [ */
void gw_json_end_arr(gw_json *j);                /* ] */
void gw_json_str(gw_json *j, const char *key, const char *value); /* NULL value: "" */
void gw_json_int(gw_json *j, const char *key, int64_t v);
void gw_json_uint(gw_json *j, const char *key, uint64_t v);
void gw_json_bool(gw_json *j, const char *key, int v);
void gw_json_free(gw_json *j);

/* Finds key in the flat object text[0..len). 1 and the value in out (outsz, NUL
 * terminated; strings decoded, other values as written); 0 if absent; -1 if the text is
 * not such an object or the value does not fit. */
int gw_json_get(const char *text, size_t len, const char *key, char *out, size_t outsz);

#endif
