/* Unit tests of src/metad/uploads.c: the chunk ids of uploads still alive, renewed by
 * Allocs and by written chunks, over after the lease, other users' ids not joined,
 * compaction keeping the live ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "metad/uploads.h"

#define LEASE 1000

static void test_ranges_and_lease(void **state) {
  (void)state;
  uploads *u = uploads_new(LEASE);
  uploads_note_alloc(u, 7, "bob", 1, 64, 0);
  uploads_note_alloc(u, 9, "ann", 65, 70, 0);  /* another upload in between */
  uploads_note_alloc(u, 7, "bob", 71, 134, 0);
  uploads_note_alloc(u, 7, "bob", 135, 140, 0); /* contiguous: the same range grows */
  assert_int_equal(uploads_alive_until(u, 1, 10), LEASE);
  assert_int_equal(uploads_alive_until(u, 64, 10), LEASE);
  assert_int_equal(uploads_alive_until(u, 68, 10), LEASE);
  assert_int_equal(uploads_alive_until(u, 140, 10), LEASE);
  assert_int_equal(uploads_alive_until(u, 141, 10), 0); /* no upload's */
  assert_int_equal(uploads_alive_until(u, 0, 10), 0);
  assert_int_equal(uploads_live(u, 10), 2);
  /* bob keeps writing (a chunk of his first range lands): alive past the first lease */
  uploads_note_written(u, 3, 900);
  assert_int_equal(uploads_alive_until(u, 100, 1500), 900 + LEASE);
  assert_int_equal(uploads_alive_until(u, 66, 1500), 0); /* ann stopped: over */
  assert_int_equal(uploads_live(u, 1500), 1);
  /* bob stops too */
  assert_int_equal(uploads_alive_until(u, 100, 900 + LEASE), 0);
  /* a write renews even after the lease ran out (the client was only slow) */
  uploads_note_written(u, 140, 2500);
  assert_int_equal(uploads_alive_until(u, 1, 2600), 2500 + LEASE);
  uploads_free(u);
}

static void test_foreign_and_bad_ids(void **state) {
  (void)state;
  uploads *u = uploads_new(LEASE);
  uploads_note_alloc(u, 7, "bob", 1, 10, 0);
  uploads_note_alloc(u, 7, "mallory", 11, 20, 0); /* bob's upload id: not joined */
  assert_int_equal(uploads_alive_until(u, 15, 1), 0);
  uploads_note_alloc(u, 0, "bob", 21, 30, 0);     /* no upload id: not tracked */
  assert_int_equal(uploads_alive_until(u, 25, 1), 0);
  uploads_note_alloc(u, 8, "bob", 5, 8, 0);       /* ids going back: ignored */
  assert_int_equal(uploads_alive_until(u, 5, 1), LEASE); /* still upload 7's */
  uploads_note_alloc(u, 8, "bob", 40, 30, 0);     /* last < first: ignored */
  assert_int_equal(uploads_alive_until(u, 35, 1), 0);
  uploads_reset(u);
  assert_int_equal(uploads_alive_until(u, 5, 1), 0);
  assert_int_equal(uploads_live(u, 1), 0);
  uploads_free(u);
}

static void test_compaction_keeps_live(void **state) {
  (void)state;
  uploads *u = uploads_new(LEASE);
  uint64_t id = 1, now = 0;
  /* many short uploads over time; one long one allocating now and then */
  for (int round = 0; round < 50; round++, now += 400) {
    for (uint64_t k = 0; k < 100; k++, id += 4)
      uploads_note_alloc(u, 1000 + id, "ann", id, id + 3, now);
    uploads_note_alloc(u, 5, "bob", id, id, now);
    id++;
  }
  /* compaction ran (every lease): only recent uploads are left */
  assert_true(uploads_live(u, now) <= 3 * 101);
  assert_int_equal(uploads_alive_until(u, 1, now), 0);
  /* bob's first chunk is still his live upload's (alive until his last Alloc + lease) */
  assert_int_equal(uploads_alive_until(u, 401, now), now - 400 + LEASE);
  uploads_free(u);
}

/* One user flooding uploads (Allocs under ever new ids) cannot take the table from the
 * others: past UPLOADS_PER_USER live uploads its new ones are not tracked. */
static void test_per_user_bound(void **state) {
  (void)state;
  uploads *u = uploads_new(LEASE);
  uint64_t id = 1;
  for (uint64_t k = 0; k < UPLOADS_PER_USER; k++, id++)
    uploads_note_alloc(u, 1000 + k, "mallory", id, id, 0);
  assert_int_equal(uploads_alive_until(u, id - 1, 1), LEASE);
  uploads_note_alloc(u, 999999, "mallory", id, id, 0); /* one too many */
  assert_int_equal(uploads_alive_until(u, id, 1), 0);
  id++;
  uploads_note_alloc(u, 5, "bob", id, id, 0); /* others still get theirs */
  assert_int_equal(uploads_alive_until(u, id, 1), LEASE);
  id++;
  /* mallory's old uploads end with their lease: a new one is tracked again */
  uploads_note_alloc(u, 777777, "mallory", id, id, 2 * LEASE);
  assert_int_equal(uploads_alive_until(u, id, 2 * LEASE + 1), 3 * LEASE);
  assert_int_equal(uploads_live(u, 2 * LEASE + 1), 1);
  uploads_free(u);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ranges_and_lease),
      cmocka_unit_test(test_foreign_and_bad_ids),
      cmocka_unit_test(test_compaction_keeps_live),
      cmocka_unit_test(test_per_user_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
