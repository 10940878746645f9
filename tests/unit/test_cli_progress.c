/* The progress line's text (src/cli/progress.c): it fits the width it is given (so that
 * a terminal never wraps it), keeps the name (cut in the middle), binary units only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cli/progress.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

static size_t cps(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

static void test_fit_middle(void **state) {
  char out[64];
  assert_int_equal(cli_fit_middle("short.bin", 20, out, sizeof out), 9);
  assert_string_equal(out, "short.bin");
  assert_int_equal(cli_fit_middle("a-very-long-file-name.iso", 12, out, sizeof out), 12);
  assert_string_equal(out, "a-ve...e.iso");
  assert_int_equal(cli_fit_middle("abcdef", 3, out, sizeof out), 3);
  assert_string_equal(out, "...");
  /* a multi-byte character is never split: 10 code points */
  cli_fit_middle("\xc3\xa9t\xc3\xa9-\xc3\xa9t\xc3\xa9-\xc3\xa9t\xc3\xa9", 7, out, sizeof out);
  assert_string_equal(out, "\xc3\xa9t...t\xc3\xa9");
}

static void test_fits_every_width(void **state) {
  char line[1024];
  const char *names[] = {"big.bin", "a-rather-long-directory/with/a-much-longer-file-name-1.iso"};
  for (size_t k = 0; k < 2; k++)
    for (int w = 20; w <= 200; w++) {
      cli_progress_format(line, sizeof line, w, names[k], 700 * MIB, 1536 * MIB, 3.5, 0, 0, 0);
      assert_true(cps(line) <= (size_t)w);
      cli_progress_format(line, sizeof line, w, names[k], 1536 * MIB, 1536 * MIB, 5, 0, 0, 1);
      assert_true(cps(line) <= (size_t)w);
      cli_progress_format(line, sizeof line, w, "put", 7 * MIB, 90 * MIB, 2, 3, 12, 0);
      assert_true(cps(line) <= (size_t)w);
    }
}

static void test_content(void **state) {
  char line[1024];
  /* 79 columns: name, bar, %, sizes in GiB, MiB/s, ETA */
  cli_progress_format(line, sizeof line, 79, "big.bin", 768 * MIB, 1536 * MIB, 4.0, 0, 0, 0);
  assert_non_null(strstr(line, "big.bin ["));
  assert_non_null(strstr(line, " 50%  0.75/1.50 GiB  192.0 MiB/s  ETA 0:04"));
  assert_null(strstr(line, "MB/s"));
  /* done: "in M:SS" */
  cli_progress_format(line, sizeof line, 79, "big.bin", 1536 * MIB, 1536 * MIB, 8.0, 0, 0, 1);
  assert_non_null(strstr(line, "100%  1.50/1.50 GiB  192.0 MiB/s  in 0:08"));
  /* several files: the count leads */
  cli_progress_format(line, sizeof line, 79, "get", 45 * MIB, 90 * MIB, 1.0, 3, 12, 0);
  assert_true(strncmp(line, "get 3/12 files", 14) == 0);
  assert_non_null(strstr(line, " 50%  45.0/90.0 MiB  45.0 MiB/s  ETA 0:01"));
  /* narrow: the long name is cut in the middle, the percentage stays */
  cli_progress_format(line, sizeof line, 40, "a-rather-long-file-name-that-goes-on.iso", GIB / 4,
                      GIB, 1.0, 0, 0, 0);
  assert_non_null(strstr(line, "..."));
  assert_non_null(strstr(line, ".iso"));
  assert_non_null(strstr(line, " 25%"));
  assert_true(cps(line) <= 40);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fit_middle),
      cmocka_unit_test(test_fits_every_width),
      cmocka_unit_test(test_content),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
