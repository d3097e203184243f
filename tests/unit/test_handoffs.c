//  test_handoffs - the jobs handed off to other jobs (broker/handoffs.c)
#include "handoffs.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define TARGET_A "00000000-0000-4000-8000-0000000000a0"
#define TARGET_B "00000000-0000-4000-8000-0000000000b0"
#define WAIT_1   "00000000-0000-4000-8000-000000000001"
#define WAIT_2   "00000000-0000-4000-8000-000000000002"
#define WAIT_3   "00000000-0000-4000-8000-000000000003"

//  A target's list holds the jobs that handed off to it, in the order
//  they did, and goes with handoffs_take: taken again, there is none
static void
test_handoffs_take_gives_the_waiting_in_order_once (void **state)
{
    (void) state;
    handoffs_t *handoffs = handoffs_new ();
    handoffs_add (handoffs, TARGET_A, WAIT_2);
    handoffs_add (handoffs, TARGET_B, WAIT_3);
    handoffs_add (handoffs, TARGET_A, WAIT_1);
    assert_int_equal (handoffs_size (handoffs), 2);

    zlistx_t *waiting = handoffs_take (handoffs, TARGET_A);
    assert_non_null (waiting);
    assert_int_equal (zlistx_size (waiting), 2);
    assert_string_equal ((const char *) zlistx_first (waiting), WAIT_2);
    assert_string_equal ((const char *) zlistx_next (waiting), WAIT_1);
    zlistx_destroy (&waiting);
    assert_int_equal (handoffs_size (handoffs), 1);
    assert_null (handoffs_take (handoffs, TARGET_A));

    waiting = handoffs_take (handoffs, TARGET_B);
    assert_non_null (waiting);
    assert_int_equal (zlistx_size (waiting), 1);
    assert_string_equal ((const char *) zlistx_first (waiting), WAIT_3);
    zlistx_destroy (&waiting);
    assert_int_equal (handoffs_size (handoffs), 0);
    handoffs_destroy (&handoffs);
    assert_null (handoffs);
    handoffs_destroy (&handoffs);  //  safe again
}

//  A target no job handed off to has no list
static void
test_handoffs_take_of_an_unknown_target_is_null (void **state)
{
    (void) state;
    handoffs_t *handoffs = handoffs_new ();
    assert_null (handoffs_take (handoffs, TARGET_A));
    handoffs_add (handoffs, TARGET_A, WAIT_1);
    assert_null (handoffs_take (handoffs, TARGET_B));
    assert_int_equal (handoffs_size (handoffs), 1);
    handoffs_destroy (&handoffs);
}

//  A list taken is the caller's: it outlives the object, and the lists
//  not taken go with the object (no leak under ASan)
static void
test_handoffs_taken_list_outlives_the_object (void **state)
{
    (void) state;
    handoffs_t *handoffs = handoffs_new ();
    handoffs_add (handoffs, TARGET_A, WAIT_1);
    handoffs_add (handoffs, TARGET_B, WAIT_2);
    handoffs_add (handoffs, TARGET_B, WAIT_3);
    zlistx_t *waiting = handoffs_take (handoffs, TARGET_A);
    handoffs_destroy (&handoffs);
    assert_non_null (waiting);
    assert_string_equal ((const char *) zlistx_first (waiting), WAIT_1);
    zlistx_destroy (&waiting);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_handoffs_take_gives_the_waiting_in_order_once),
        cmocka_unit_test (test_handoffs_take_of_an_unknown_target_is_null),
        cmocka_unit_test (test_handoffs_taken_list_outlives_the_object),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
