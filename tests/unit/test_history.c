/*  =========================================================================
    test_history - completed jobs by minute and queue (broker/history.c)

    Each test gets a fresh store in a temp dir (fixture.h).
    =========================================================================
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fixture_store.h"
#include "history.h"
#include "spec.h"
#include "keys.h"
#include "async_util.h"

#define MINUTE_US 60000000LL
#define HOUR_US   (60 * MINUTE_US)

typedef fixture_store_t fixture_t;

static int
s_setup (void **state)
{
    fixture_t *self = calloc (1, sizeof (fixture_t));
    if (!self || fixture_store_open (self, "history")) {
        free (self);
        return -1;
    }
    *state = self;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int rc = fixture_store_close (self);
    free (self);
    return rc;
}

//  The sum of the series `name` ("succeeded", "failed") of an answer, or
//  of its queue `queue` when not NULL
static json_int_t
s_total (json_t *answer, const char *queue, const char *name)
{
    json_t *series = queue ? json_object_get (json_object_get (answer, "queues"), queue)
                           : answer;
    json_t *values = json_object_get (series, name);
    json_int_t total = 0;
    size_t index;
    json_t *value;
    json_array_foreach (values, index, value)
        total += json_integer_value (value);
    return total;
}

//  The h keys in the store
static size_t
s_keys (store_t *store)
{
    size_t keys = 0;
    store_iter_t *iter = store_iter_new (store, KEYS_PREFIX (KEYS_HISTORY), 1);
    for (store_iter_seek (iter, KEYS_PREFIX (KEYS_HISTORY), 1); store_iter_valid (iter); store_iter_next (iter))
        keys++;
    store_iter_destroy (&iter);
    return keys;
}

//  The answers for a day and a week are counted in memory, step by step,
//  from the keys found at the start and the jobs counted since: not read
//  from the keys again (a week is up to 210,000 of them)
static void
test_history_day_and_week_from_memory (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int64_t now = async_now_us ();
    history_t *history = history_new (self->store);
    //  Two days ago (in the week, not in the day), an hour ago, now
    history_count (history, "a", false, now - 48 * HOUR_US);
    history_count (history, "a", true, now - HOUR_US);
    history_count (history, "b", false, now);
    history_count (history, "b", false, now);
    history_stage (history);
    assert_int_equal (store_commit (self->store, true), 0);
    history_destroy (&history);
    assert_int_equal (s_keys (self->store), 3);

    //  A restart: the keys are read once, into the day's and week's steps
    history = history_new (self->store);
    history_count (history, "b", true, now);
    int64_t range, step;
    assert_int_equal (history_range ("week", &range, &step), 0);
    json_t *week = history_json (history, now, range, step);
    assert_int_equal (json_integer_value (json_object_get (week, "step_seconds")), 3600);
    assert_int_equal (json_array_size (json_object_get (week, "succeeded")), 168);
    assert_int_equal (s_total (week, NULL, "succeeded"), 3);
    assert_int_equal (s_total (week, NULL, "failed"), 2);
    assert_int_equal (s_total (week, "a", "succeeded"), 1);
    assert_int_equal (s_total (week, "b", "failed"), 1);
    //  The last step is the hour going on, aligned on the hour
    json_t *succeeded = json_object_get (week, "succeeded");
    assert_int_equal (json_integer_value (json_array_get (succeeded, 167)), 2);
    double start = json_real_value (json_object_get (week, "start"));
    assert_true ((int64_t) (start * 1e6) % HOUR_US == 0);
    assert_true ((int64_t) (start * 1e6) > now - 168 * HOUR_US);
    assert_true ((int64_t) (start * 1e6) <= now - 167 * HOUR_US);
    json_decref (week);

    assert_int_equal (history_range ("day", &range, &step), 0);
    json_t *day = history_json (history, now, range, step);
    assert_int_equal (json_array_size (json_object_get (day, "succeeded")), 288);
    assert_int_equal (s_total (day, NULL, "succeeded"), 2);    //  not the one 2 days ago
    assert_int_equal (s_total (day, NULL, "failed"), 2);
    json_decref (day);

    //  Served from memory: with the keys gone the answers stay
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_HISTORY), 1);
    for (store_iter_seek (iter, KEYS_PREFIX (KEYS_HISTORY), 1); store_iter_valid (iter); store_iter_next (iter)) {
        size_t size;
        const char *key = store_iter_key (iter, &size);
        store_delete (self->store, key, size);
    }
    store_iter_destroy (&iter);
    assert_int_equal (store_commit (self->store, true), 0);
    assert_int_equal (s_keys (self->store), 0);
    assert_int_equal (history_range ("week", &range, &step), 0);
    week = history_json (history, now, range, step);
    assert_int_equal (s_total (week, NULL, "succeeded"), 3);
    json_decref (week);
    history_destroy (&history);
}

//  A step's queues are bounded: past 100, the others go together
static void
test_history_step_queues_bounded (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int64_t now = async_now_us ();
    history_t *history = history_new (self->store);
    //  120 queues, over two minutes of one hour (20 apart a minute)
    for (int i = 0; i < 120; i++) {
        char queue [16];
        snprintf (queue, sizeof queue, "q%d", i);
        history_count (history, queue, false, now - (i % 2) * MINUTE_US);
    }
    int64_t range, step;
    assert_int_equal (history_range ("week", &range, &step), 0);
    json_t *week = history_json (history, now, range, step);
    assert_int_equal (s_total (week, NULL, "succeeded"), 120);
    assert_true (json_object_size (json_object_get (week, "queues")) <= 101);
    assert_true (s_total (week, HISTORY_OTHER, "succeeded") > 0);
    json_decref (week);
    //  A queue named "_other" is a queue like any other, never the
    //  overflow (which no queue's name can be)
    assert_false (spec_name_valid (HISTORY_OTHER));
    history_t *fresh = history_new (self->store);
    history_count (fresh, "_other", false, now);
    assert_int_equal (history_range ("hour", &range, &step), 0);
    json_t *hour = history_json (fresh, now, range, step);
    assert_int_equal (s_total (hour, "_other", "succeeded"), 1);
    assert_null (json_object_get (json_object_get (hour, "queues"), HISTORY_OTHER));
    json_decref (hour);
    history_destroy (&fresh);
    history_destroy (&history);
}

//  The day's and the week's answers at `now` count these jobs of queue "a"
static void
s_assert_day_and_week (history_t *history, int64_t now, json_int_t succeeded, json_int_t failed)
{
    const char *ranges [] = { "day", "week" };
    for (int i = 0; i < 2; i++) {
        int64_t range, step;
        assert_int_equal (history_range (ranges [i], &range, &step), 0);
        json_t *answer = history_json (history, now, range, step);
        assert_int_equal (s_total (answer, "a", "succeeded"), succeeded);
        assert_int_equal (s_total (answer, "a", "failed"), failed);
        json_decref (answer);
    }
}

//  A clock stepped back: the steps counted while it was ahead (a week
//  ahead: the same slots of the day's and the week's rings) do not keep
//  the present's counts out, in memory nor read back at a restart
static void
test_history_clock_stepped_back (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int64_t now = async_now_us ();
    int64_t ahead = now + 7 * 24 * HOUR_US;
    history_t *history = history_new (self->store);
    history_count (history, "a", false, ahead);
    history_count (history, "a", false, now);
    s_assert_day_and_week (history, now, 1, 0);
    history_stage (history);
    assert_int_equal (store_commit (self->store, true), 0);
    history_destroy (&history);

    //  A restart: the key of the minute ahead is not counted before the
    //  present's
    history = history_new (self->store);
    history_count (history, "a", true, now);
    s_assert_day_and_week (history, now, 1, 1);
    history_destroy (&history);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_history_day_and_week_from_memory, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_history_step_queues_bounded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_history_clock_stepped_back, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
