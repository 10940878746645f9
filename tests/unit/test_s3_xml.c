/* Unit tests of the XML that dfsgw reads (s3_xml_find): the elements of a
 * CompleteMultipartUpload as the AWS CLI (&quot;), Go clients (&#34;) and plain clients
 * send the ETags, nested lookups (<Part> then its fields), <Part> not matching
 * <PartNumber>, and the bounds: a value that does not fit, an unclosed element, a
 * reference that is not ASCII or not terminated stays as it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/s3_xml.h"

static int find(const char *doc, size_t *pos, const char *tag, char *out, size_t outsz) {
  return s3_xml_find(doc, strlen(doc), pos, tag, out, outsz);
}

static void test_parts(void **state) {
  (void)state;
  const char *doc =
      "<CompleteMultipartUpload><Part><ETag>&quot;aa&quot;</ETag><PartNumber>1</PartNumber>"
      "</Part><Part><PartNumber>2</PartNumber><ETag>&#34;bb&#x22;</ETag></Part>"
      "<Part><ETag>\"cc\"</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>";
  const char *want_etag[] = {"\"aa\"", "\"bb\"", "\"cc\""}, *want_num[] = {"1", "2", "3"};
  char part[256], v[64];
  size_t pos = 0;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(find(doc, &pos, "Part", part, sizeof part), 1);
    size_t p = 0;
    assert_int_equal(find(part, &p, "ETag", v, sizeof v), 1);
    assert_string_equal(v, want_etag[i]);
    p = 0;
    assert_int_equal(find(part, &p, "PartNumber", v, sizeof v), 1);
    assert_string_equal(v, want_num[i]);
  }
  assert_int_equal(find(doc, &pos, "Part", part, sizeof part), 0);
}

static void test_bounds(void **state) {
  (void)state;
  char v[8];
  size_t pos = 0;
  assert_int_equal(find("<K>0123456789</K>", &pos, "K", v, sizeof v), 0); /* too long */
  pos = 0;
  assert_int_equal(find("<K>abc", &pos, "K", v, sizeof v), 0); /* unclosed */
  char w[32];
  pos = 0; /* not ASCII, not terminated: kept as they are */
  assert_int_equal(find("<K>&#233;&#34</K>", &pos, "K", w, sizeof w), 1);
  assert_string_equal(w, "&#233;&#34");
  pos = 0;
  assert_int_equal(find("<K>&#0;&#x41;</K>", &pos, "K", w, sizeof w), 1);
  assert_string_equal(w, "&#0;A");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parts),
      cmocka_unit_test(test_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
