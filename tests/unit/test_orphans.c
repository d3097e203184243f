//  test_orphans - the jobs a restarted broker found on nodes (broker/orphans.c)
#include "orphans.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define ID_A "00000000-0000-4000-8000-00000000000a"
#define ID_B "00000000-0000-4000-8000-00000000000b"
#define ID_C "00000000-0000-4000-8000-00000000000c"

//  Whether the list of ids holds `id`
static bool
s_holds (zlistx_t *ids, const char *id)
{
    const char *item = (const char *) zlistx_first (ids);
    for (; item; item = (const char *) zlistx_next (ids))
        if (strcmp (item, id) == 0)
            return true;
    return false;
}

//  An orphan expires once its deadline is past, not at it; expired, it
//  is out of the set and not given again
static void
test_orphans_expire_past_their_deadline (void **state)
{
    (void) state;
    orphans_t *orphans = orphans_new ();
    orphans_add (orphans, ID_A, 100);
    orphans_add (orphans, ID_B, 200);
    assert_int_equal (orphans_size (orphans), 2);

    zlistx_t *expired = orphans_expire (orphans, 100);
    assert_int_equal (zlistx_size (expired), 0);
    zlistx_destroy (&expired);

    expired = orphans_expire (orphans, 101);
    assert_int_equal (zlistx_size (expired), 1);
    assert_true (s_holds (expired, ID_A));
    zlistx_destroy (&expired);
    assert_int_equal (orphans_size (orphans), 1);

    expired = orphans_expire (orphans, 1000);
    assert_int_equal (zlistx_size (expired), 1);
    assert_true (s_holds (expired, ID_B));
    zlistx_destroy (&expired);
    assert_int_equal (orphans_size (orphans), 0);

    expired = orphans_expire (orphans, 1000);
    assert_int_equal (zlistx_size (expired), 0);
    zlistx_destroy (&expired);
    orphans_destroy (&orphans);
    assert_null (orphans);
    orphans_destroy (&orphans);  //  safe again
}

//  An orphan whose node came back (removed) never expires; removing one
//  that is not there does nothing
static void
test_orphans_removed_never_expire (void **state)
{
    (void) state;
    orphans_t *orphans = orphans_new ();
    orphans_add (orphans, ID_A, 100);
    orphans_add (orphans, ID_B, 100);
    orphans_remove (orphans, ID_A);
    orphans_remove (orphans, ID_C);
    assert_int_equal (orphans_size (orphans), 1);
    zlistx_t *expired = orphans_expire (orphans, 1000);
    assert_int_equal (zlistx_size (expired), 1);
    assert_false (s_holds (expired, ID_A));
    assert_true (s_holds (expired, ID_B));
    zlistx_destroy (&expired);
    orphans_destroy (&orphans);
}

//  A pause of the broker's loop moves every deadline by its length
static void
test_orphans_credit_moves_every_deadline (void **state)
{
    (void) state;
    orphans_t *orphans = orphans_new ();
    orphans_add (orphans, ID_A, 100);
    orphans_add (orphans, ID_B, 150);
    orphans_credit (orphans, 1000);
    zlistx_t *expired = orphans_expire (orphans, 1100);
    assert_int_equal (zlistx_size (expired), 0);
    zlistx_destroy (&expired);
    expired = orphans_expire (orphans, 1101);
    assert_int_equal (zlistx_size (expired), 1);
    assert_true (s_holds (expired, ID_A));
    zlistx_destroy (&expired);
    expired = orphans_expire (orphans, 1151);
    assert_int_equal (zlistx_size (expired), 1);
    assert_true (s_holds (expired, ID_B));
    zlistx_destroy (&expired);
    orphans_destroy (&orphans);
}

//  An id added twice keeps its first deadline, once
static void
test_orphans_added_twice_keep_the_first_deadline (void **state)
{
    (void) state;
    orphans_t *orphans = orphans_new ();
    orphans_add (orphans, ID_A, 100);
    orphans_add (orphans, ID_A, 500);
    assert_int_equal (orphans_size (orphans), 1);
    zlistx_t *expired = orphans_expire (orphans, 101);
    assert_int_equal (zlistx_size (expired), 1);
    zlistx_destroy (&expired);
    assert_int_equal (orphans_size (orphans), 0);
    orphans_destroy (&orphans);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_orphans_expire_past_their_deadline),
        cmocka_unit_test (test_orphans_removed_never_expire),
        cmocka_unit_test (test_orphans_credit_moves_every_deadline),
        cmocka_unit_test (test_orphans_added_twice_keep_the_first_deadline),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
