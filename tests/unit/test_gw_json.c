/* The console's JSON (src/gateway/json.c): answers escape everything that could be read
 * as HTML or break out of a string; the flat-object parser decodes escapes and surrogate
 * pairs, and refuses nesting, raw control characters, \u0000, truncation and trailing
 * garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/json.h"

static int get(const char *text, const char *key, char *out, size_t outsz) {
  return gw_json_get(text, strlen(text), key, out, outsz);
}

static void test_build(void **state) {
  (void)state;
  gw_json j = {0};
  gw_json_obj(&j, NULL);
  gw_json_str(&j, "name", "a\"b\\c</script>&\n\x01");
  gw_json_arr(&j, "n");
  gw_json_int(&j, NULL, -5);
  gw_json_uint(&j, NULL, 18446744073709551615u);
  gw_json_bool(&j, NULL, 1);
  gw_json_end_arr(&j);
  gw_json_obj(&j, "o");
  gw_json_end_obj(&j);
  gw_json_str(&j, "null", NULL);
  gw_json_end_obj(&j);
  assert_false(j.failed);
  assert_string_equal(j.p, "{\"name\":\"a\\\"b\\\\c\\u003c/script\\u003e\\u0026\\u000a\\u0001\","
                           "\"n\":[-5,18446744073709551615,true],\"o\":{},\"null\":\"\"}");
  gw_json_free(&j);
}

static void test_parse(void **state) {
  (void)state;
  char v[64];
  const char *o = " { \"path\" : \"/home/al\\u00e9 \\ud83d\\ude00\\\"\", \"n\": 3600, \"b\": true,"
                  "\"z\": null } ";
  assert_int_equal(get(o, "path", v, sizeof v), 1);
  assert_string_equal(v, "/home/al\xc3\xa9 \xf0\x9f\x98\x80\"");
  assert_int_equal(get(o, "n", v, sizeof v), 1);
  assert_string_equal(v, "3600");
  assert_int_equal(get(o, "b", v, sizeof v), 1);
  assert_string_equal(v, "true");
  assert_int_equal(get(o, "missing", v, sizeof v), 0);
  assert_int_equal(get("{}", "x", v, sizeof v), 0);
  /* the first of a repeated key */
  assert_int_equal(get("{\"a\":\"1\",\"a\":\"2\"}", "a", v, sizeof v), 1);
  assert_string_equal(v, "1");
}

static void test_refusals(void **state) {
  (void)state;
  char v[8];
  const char *bad[] = {
      "", "[]", "{", "{\"a\":}", "{\"a\":\"x\"", "{\"a\":{\"b\":1}}", "{\"a\":[1]}",
      "{\"a\":\"x\"} x", "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
      "{\"a\":\"\\q\"}", "{\"a\":\"\x01\"}", "{\"a\":\"x\",}", "{\"a\":nope}", "{a:1}",
      "{\"a\":\"12345678\"}", /* does not fit in 8 bytes with its NUL: never truncated */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(get(bad[i], "a", v, sizeof v), -1);
  assert_int_equal(get("{\"a\":\"1234567\"}", "a", v, sizeof v), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_build), cmocka_unit_test(test_parse),
                                     cmocka_unit_test(test_refusals)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
