/*  =========================================================================
    test_spin - the adaptive polling window before a loop sleeps (async_spin)
    =========================================================================
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "async_spin.h"

static void
test_spin_starts_closed (void **state)
{
    (void) state;
    async_spin_t spin;
    async_spin_init (&spin, 500);
    assert_int_equal (async_spin_begin (&spin), 0);
}

//  A wait past the window but within the limit doubles it, from the start
//  value, up to the limit; a wait caught inside the window keeps it
static void
test_spin_grows_to_limit (void **state)
{
    (void) state;
    async_spin_t spin;
    async_spin_init (&spin, 500);
    async_spin_adapt (&spin, 100);
    assert_int_equal (spin.window, ASYNC_SPIN_START_US);
    async_spin_adapt (&spin, 100);
    assert_int_equal (spin.window, 2 * ASYNC_SPIN_START_US);
    async_spin_adapt (&spin, 100);
    assert_int_equal (spin.window, 4 * ASYNC_SPIN_START_US);
    async_spin_adapt (&spin, 100);
    assert_int_equal (spin.window, 4 * ASYNC_SPIN_START_US);     //  caught
    for (int i = 0; i < 10; i++)
        async_spin_adapt (&spin, 499);
    assert_int_equal (spin.window, 500);
    assert_int_equal (async_spin_begin (&spin), 500);
}

//  A wait longer than the limit halves the window, down to none
static void
test_spin_shrinks_when_idle (void **state)
{
    (void) state;
    async_spin_t spin;
    async_spin_init (&spin, 400);
    for (int i = 0; i < 10; i++)
        async_spin_adapt (&spin, 300);
    assert_int_equal (spin.window, 400);
    async_spin_adapt (&spin, 1000000);
    assert_int_equal (spin.window, 200);
    async_spin_adapt (&spin, 1000000);
    assert_int_equal (spin.window, 100);
    for (int i = 0; i < 3; i++)
        async_spin_adapt (&spin, 1000000);
    assert_int_equal (spin.window, 0);
    assert_int_equal (async_spin_begin (&spin), 0);
}

static void
test_spin_limit_zero_never_polls (void **state)
{
    (void) state;
    async_spin_t spin;
    async_spin_init (&spin, 0);
    for (int i = 0; i < 10; i++)
        async_spin_adapt (&spin, 10);
    assert_int_equal (async_spin_begin (&spin), 0);
    async_spin_init (&spin, -5);
    async_spin_adapt (&spin, 1);
    assert_int_equal (spin.window, 0);
}

//  begin/end time the wait: a wait of 20 ms is past a limit of 1 ms, so an
//  open window halves; end without begin changes nothing
static void
test_spin_times_the_wait (void **state)
{
    (void) state;
    async_spin_t spin;
    async_spin_init (&spin, 1000);
    spin.window = 800;
    assert_int_equal (async_spin_begin (&spin), 800);
    usleep (20000);
    async_spin_end (&spin);
    assert_int_equal (spin.window, 400);
    async_spin_end (&spin);
    assert_int_equal (spin.window, 400);
}

//  A wait ended by the caller's own timeout shrinks the window only when
//  it outlasted the limit
static void
test_spin_timeout (void **state)
{
    (void) state;
    async_spin_t spin;
    //  (a limit of 1 s: a loaded machine may sleep 1 ms for several)
    async_spin_init (&spin, 1000000);
    spin.window = 400;
    async_spin_begin (&spin);
    usleep (1000);
    async_spin_timeout (&spin);
    assert_int_equal (spin.window, 400);
    async_spin_init (&spin, 1000);
    spin.window = 400;
    async_spin_begin (&spin);
    usleep (20000);
    async_spin_timeout (&spin);
    assert_int_equal (spin.window, 200);
    async_spin_timeout (&spin);
    assert_int_equal (spin.window, 200);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_spin_starts_closed),
        cmocka_unit_test (test_spin_grows_to_limit),
        cmocka_unit_test (test_spin_shrinks_when_idle),
        cmocka_unit_test (test_spin_limit_zero_never_polls),
        cmocka_unit_test (test_spin_times_the_wait),
        cmocka_unit_test (test_spin_timeout),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
