/* cli_esc (src/cli/output.c): what a terminal may see of a name from the server; the
 * colour decision (cli_colour_on, cli_colour_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/output.h"

static void test_clean_is_untouched(void **state) {
  char buf[64];
  static const char *clean[] = {"", "plain name.txt", "a\\x1b literal backslash",
                                "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", /* é € 😀 */
                                "\xc2\xa0nbsp", "~!@#$%^&*()_+{}|:<>?"};
  for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++)
    assert_ptr_equal(cli_esc(clean[i], buf, sizeof buf), clean[i]); /* no copy */
  assert_string_equal(cli_esc(NULL, buf, sizeof buf), "");
}

static void test_escaped(void **state) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"a\x1b[2Jb", "a\\x1b[2Jb"},
      {"cr\rnl\ntab\t", "cr\\x0dnl\\x0atab\\x09"},
      {"\x01\x7f", "\\x01\\x7f"},
      {"c1 \xc2\x9b csi", "c1 \\xc2\\x9b csi"},          /* U+009B in UTF-8 */
      {"lone \x9b byte", "lone \\x9b byte"},             /* not UTF-8 */
      {"cut \xe2\x82", "cut \\xe2\\x82"},                /* truncated sequence */
      {"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
      {"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"},
      {"too big \xf4\x90\x80\x80", "too big \\xf4\\x90\\x80\\x80"},
      {"ok \xc3\xa9\x1b", "ok \xc3\xa9\\x1b"},           /* valid UTF-8 kept around it */
  };
  char buf[128];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = cli_esc(cases[i].in, buf, sizeof buf);
    assert_ptr_equal(got, buf);
    assert_string_equal(got, cases[i].out);
  }
}

static void test_small_buffers(void **state) {
  char buf[16];
  /* "\x1b" x 10 needs 40 bytes: cut at a whole escape, with "..." */
  const char *in = "\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b";
  const char *got = cli_esc(in, buf, sizeof buf);
  assert_string_equal(got, "\\x1b\\x1b\\x1b...");
  assert_true(strlen(got) < sizeof buf);
  got = cli_esc("ab\x1b", buf, 4);
  assert_string_equal(got, "...");
  got = cli_esc("\x1b", buf, 3);
  assert_string_equal(got, "");
  got = cli_esc("\x1b", buf, 0);
  assert_string_equal(got, "");
  /* a multi-byte character is never split */
  got = cli_esc("\x1b\xf0\x9f\x98\x80\xf0\x9f\x98\x80", buf, 12);
  assert_string_equal(got, "\\x1b\xf0\x9f\x98\x80...");
}

static void test_colour(void **state) {
  FILE *f = tmpfile(); /* not a terminal */
  assert_non_null(f);
  unsetenv("NO_COLOR");
  assert_int_equal(cli_colour_parse("auto"), 0);
  assert_int_equal(cli_colour_on(f), 0);
  assert_int_equal(cli_colour_parse("always"), 0);
  assert_int_equal(cli_colour_on(f), 1);
  setenv("NO_COLOR", "", 1); /* set, even empty: no colour unless forced */
  assert_int_equal(cli_colour_on(f), 1);
  assert_int_equal(cli_colour_parse("never"), 0);
  assert_int_equal(cli_colour_on(f), 0);
  assert_int_equal(cli_colour_parse("sometimes"), -1);
  assert_int_equal(cli_colour_mode, CLI_COLOUR_NEVER); /* unchanged by a bad value */
  assert_int_equal(cli_colour_parse("auto"), 0);
  assert_int_equal(cli_colour_on(f), 0);
  unsetenv("NO_COLOR");
  fclose(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clean_is_untouched),
      cmocka_unit_test(test_escaped),
      cmocka_unit_test(test_small_buffers),
      cmocka_unit_test(test_colour),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
