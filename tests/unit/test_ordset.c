//  test_ordset - the ordered set of live ids and queue names (broker/ordset.c)
#include "ordset.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Key number i: "k000017"...
static void
s_key (char *key, size_t size, unsigned i)
{
    snprintf (key, size, "k%06u", i);
}

//  Keys go in in any order and come out in strcmp order, each once
static void
test_ordset_walks_in_order (void **state)
{
    (void) state;
    ordset_t *set = ordset_new ();
    enum { N = 5000 };
    char key [16];
    for (unsigned i = 0; i < N; i++) {
        s_key (key, sizeof key, (i * 7919) % N);     //  7919 is prime: a permutation
        assert_true (ordset_insert (set, key));
    }
    assert_false (ordset_insert (set, "k000001"));
    assert_int_equal (ordset_size (set), N);
    unsigned seen = 0;
    char last [16] = "";
    for (const char *each = ordset_seek_after (set, NULL); each; each = ordset_next (set)) {
        assert_true (strcmp (each, last) > 0);
        snprintf (last, sizeof last, "%s", each);
        seen++;
    }
    assert_int_equal (seen, N);
    ordset_destroy (&set);
    assert_null (set);
    ordset_destroy (&set);
}

//  A seek lands on the first key after the one given, whether that one is
//  in the set or not; past the last key it gives NULL
static void
test_ordset_seeks_after_a_key (void **state)
{
    (void) state;
    ordset_t *set = ordset_new ();
    assert_null (ordset_seek_after (set, NULL));
    assert_null (ordset_next (set));
    ordset_insert (set, "b");
    ordset_insert (set, "d");
    ordset_insert (set, "f");
    assert_string_equal (ordset_seek_after (set, "b"), "d");
    assert_string_equal (ordset_seek_after (set, "c"), "d");
    assert_string_equal (ordset_next (set), "f");
    assert_null (ordset_next (set));
    assert_string_equal (ordset_seek_after (set, "a"), "b");
    assert_null (ordset_seek_after (set, "f"));
    assert_null (ordset_seek_after (set, "zzz"));
    ordset_destroy (&set);
}

//  Deleted keys are gone from lookups and walks; the rest stay in order
static void
test_ordset_deletes (void **state)
{
    (void) state;
    ordset_t *set = ordset_new ();
    enum { N = 2000 };
    char key [16];
    for (unsigned i = 0; i < N; i++) {
        s_key (key, sizeof key, i);
        ordset_insert (set, key);
    }
    for (unsigned i = 0; i < N; i += 2) {
        s_key (key, sizeof key, i);
        assert_true (ordset_delete (set, key));
        assert_false (ordset_delete (set, key));
        assert_false (ordset_contains (set, key));
    }
    assert_int_equal (ordset_size (set), N / 2);
    assert_true (ordset_contains (set, "k000001"));
    assert_string_equal (ordset_seek_after (set, "k000000"), "k000001");
    assert_string_equal (ordset_next (set), "k000003");
    assert_string_equal (ordset_seek_after (set, "k000003"), "k000005");
    unsigned seen = 0;
    for (const char *each = ordset_seek_after (set, NULL); each; each = ordset_next (set)) {
        s_key (key, sizeof key, 2 * seen + 1);
        assert_string_equal (each, key);
        seen++;
    }
    assert_int_equal (seen, N / 2);
    //  A change ends a walk
    ordset_seek_after (set, NULL);
    ordset_delete (set, "k000001");
    assert_null (ordset_next (set));
    ordset_destroy (&set);
}

//  Paging as a listing does: pages of 100 from the last key of the page
//  before visit every key once, in order
static void
test_ordset_pages_from_a_cursor (void **state)
{
    (void) state;
    ordset_t *set = ordset_new ();
    enum { N = 10007 };
    char key [16];
    for (unsigned i = 0; i < N; i++) {
        s_key (key, sizeof key, (i * 101) % N);
        ordset_insert (set, key);
    }
    char cursor [16] = "";
    unsigned seen = 0, pages = 0;
    while (true) {
        const char *each = ordset_seek_after (set, pages ? cursor : NULL);
        unsigned page = 0;
        for (; each && page < 100; each = ordset_next (set), page++) {
            s_key (key, sizeof key, seen++);
            assert_string_equal (each, key);
            snprintf (cursor, sizeof cursor, "%s", each);
        }
        pages++;
        if (!each)
            break;
    }
    assert_int_equal (seen, N);
    assert_int_equal (pages, N / 100 + 1);
    ordset_destroy (&set);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_ordset_walks_in_order),
        cmocka_unit_test (test_ordset_seeks_after_a_key),
        cmocka_unit_test (test_ordset_deletes),
        cmocka_unit_test (test_ordset_pages_from_a_cursor),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
