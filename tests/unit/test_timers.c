//  test_timers - the broker's time-ordered work (broker/timers.c)
#include "timers.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#define S_SECOND 1000000LL

//  Job id number i: a 36-char id, "00000000-0000-0000-0000-00000000000i"
static const char *
s_id (char *id, unsigned i)
{
    snprintf (id, ASYNC_ID_LEN, "00000000-0000-0000-0000-%012u", i);
    return id;
}

//  Scheduled jobs come out in time order, then in id order for the same
//  time, whatever the order they went in
static void
test_timers_pops_in_time_then_id_order (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    timers_schedule (timers, s_id (id, 3), 300 * S_SECOND, "q");
    timers_schedule (timers, s_id (id, 2), 100 * S_SECOND, "q");
    timers_schedule (timers, s_id (id, 1), 100 * S_SECOND, "q");
    timers_schedule (timers, s_id (id, 4), 200 * S_SECOND, "q");
    assert_int_equal (timers_scheduled_size (timers), 4);
    timers_due_t due;
    unsigned order [] = { 1, 2, 4, 3 };
    int64_t whens [] = { 100 * S_SECOND, 100 * S_SECOND, 200 * S_SECOND, 300 * S_SECOND };
    for (size_t i = 0; i < 4; i++) {
        assert_true (timers_scheduled_due (timers, 1000 * S_SECOND, &due));
        assert_string_equal (due.id, s_id (id, order [i]));
        assert_int_equal (due.when, whens [i]);
    }
    assert_false (timers_scheduled_due (timers, 1000 * S_SECOND, &due));
    assert_int_equal (timers_scheduled_size (timers), 0);
    timers_destroy (&timers);
    assert_null (timers);
    timers_destroy (&timers);               //  safe again
}

//  A scheduled job is due at its time or up to TIMERS_EARLY_US before it;
//  a begin_by deadline at its time, not before
static void
test_timers_due_and_not_due (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    int64_t when = 500 * S_SECOND;
    timers_schedule (timers, s_id (id, 1), when, "q");
    timers_deadline (timers, s_id (id, 2), when);
    timers_due_t due;
    assert_false (timers_scheduled_due (timers, when - TIMERS_EARLY_US - 1, &due));
    assert_true (timers_scheduled_due (timers, when - TIMERS_EARLY_US, &due));
    assert_string_equal (due.id, s_id (id, 1));
    assert_false (timers_deadline_due (timers, when - 1, &due));
    assert_true (timers_deadline_due (timers, when, &due));
    assert_string_equal (due.id, s_id (id, 2));
    assert_int_equal (due.when, when);
    assert_false (timers_deadline_due (timers, when, &due));
    timers_destroy (&timers);
}

//  A retry's backoff is due by the monotonic clock: its wall time (what
//  its s key says) does not make it due, a wall clock stepped far
//  forward or back does not move it
static void
test_timers_backoff_by_monotonic_time (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    int64_t mono = 50 * S_SECOND;
    timers_backoff (timers, s_id (id, 1), 1000 * S_SECOND, mono + 10 * S_SECOND, "q");
    timers_backoff (timers, s_id (id, 2), 10 * S_SECOND, mono + 20 * S_SECOND, "q");
    timers_due_t due;
    //  Not due at mono + 9 s, though the wall time of one has passed
    assert_false (timers_backoff_due (timers, mono + 9 * S_SECOND, &due));
    //  Nor are they scheduled jobs by the wall clock
    assert_false (timers_scheduled_due (timers, 5000 * S_SECOND, &due));
    assert_true (timers_backoff_due (timers, mono + 10 * S_SECOND, &due));
    assert_string_equal (due.id, s_id (id, 1));
    assert_int_equal (due.when, 1000 * S_SECOND);
    assert_false (timers_backoff_due (timers, mono + 19 * S_SECOND, &due));
    assert_true (timers_backoff_due (timers, mono + 20 * S_SECOND - TIMERS_EARLY_US, &due));
    assert_string_equal (due.id, s_id (id, 2));
    assert_false (timers_backoff_due (timers, INT64_MAX / 2, &due));
    timers_destroy (&timers);
}

//  The wall clock stepped back: a stamp from "the future" counts as now,
//  never later (a job's running time does not go negative, its timeout
//  is not put off); a stamp in the past keeps its distance
static void
test_timers_clock_step_back_anchors_at_now (void **state)
{
    (void) state;
    int64_t mono = 7 * S_SECOND, now = 1000 * S_SECOND;
    //  Started 3 s ago
    assert_int_equal (timers_mono_from_wall (now - 3 * S_SECOND, mono, now),
                      mono - 3 * S_SECOND);
    //  The clock went back an hour since it started: started now
    assert_int_equal (timers_mono_from_wall (now + 3600 * S_SECOND, mono, now), mono);
    assert_int_equal (timers_mono_from_wall (now, mono, now), mono);
    //  A scheduled job waits out a step back of the wall clock: not due
    //  before its wall time comes again
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    timers_schedule (timers, s_id (id, 1), now + 60 * S_SECOND, "q");
    timers_due_t due;
    assert_false (timers_scheduled_due (timers, now - 3600 * S_SECOND, &due));
    assert_int_equal (timers_wait (timers, now - 3600 * S_SECOND, mono, 1000000),
                      1000000);
    assert_true (timers_scheduled_due (timers, now + 60 * S_SECOND, &due));
    timers_destroy (&timers);
}

//  The loop's gap: 0 at the first turn, then the time since the last one
static void
test_timers_gap_since_last_turn (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    assert_int_equal (timers_gap (timers, 10 * S_SECOND), 0);
    assert_int_equal (timers_gap (timers, 12 * S_SECOND), 2 * S_SECOND);
    assert_int_equal (timers_gap (timers, 12 * S_SECOND), 0);
    assert_int_equal (timers_gap (timers, 40 * S_SECOND), 28 * S_SECOND);
    timers_destroy (&timers);
}

//  The loop sleeps until the first entry of any list is due, at most the
//  time it was given
static void
test_timers_wait_for_the_first_due (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    int64_t now = 1000 * S_SECOND, mono = 5 * S_SECOND;
    assert_int_equal (timers_wait (timers, now, mono, S_SECOND), S_SECOND);
    timers_schedule (timers, s_id (id, 1), now + 800000, "q");
    assert_int_equal (timers_wait (timers, now, mono, S_SECOND), 800000);
    timers_deadline (timers, s_id (id, 2), now + 500000);
    assert_int_equal (timers_wait (timers, now, mono, S_SECOND), 500000);
    timers_backoff (timers, s_id (id, 3), now + 5000 * S_SECOND, mono + 200000, "q");
    assert_int_equal (timers_wait (timers, now, mono, S_SECOND), 200000);
    //  One overdue: negative
    timers_deadline (timers, s_id (id, 4), now - 10);
    assert_int_equal (timers_wait (timers, now, mono, S_SECOND), -10);
    timers_destroy (&timers);
}

//  STATUS counts a queue's scheduled jobs and backoffs; a queue leaves the
//  counts with its last entry; an entry without a queue counts nowhere
static void
test_timers_counts_per_queue (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    assert_int_equal (timers_queue_count (timers, "a"), -1);
    timers_schedule (timers, s_id (id, 1), 100 * S_SECOND, "a");
    timers_schedule (timers, s_id (id, 2), 200 * S_SECOND, "a");
    timers_backoff (timers, s_id (id, 3), 300 * S_SECOND, 300 * S_SECOND, "a");
    timers_schedule (timers, s_id (id, 4), 400 * S_SECOND, "b");
    timers_schedule (timers, s_id (id, 5), 50 * S_SECOND, NULL);       //  its record is gone
    timers_deadline (timers, s_id (id, 6), 10 * S_SECOND);             //  not counted
    assert_int_equal (timers_queue_count (timers, "a"), 3);
    assert_int_equal (timers_queue_count (timers, "b"), 1);
    assert_int_equal (timers_queue_count (timers, "c"), -1);
    assert_int_equal (timers_scheduled_size (timers), 4);
    timers_due_t due;
    assert_true (timers_scheduled_due (timers, 100 * S_SECOND, &due));     //  5, then 1
    assert_true (timers_scheduled_due (timers, 100 * S_SECOND, &due));
    assert_string_equal (due.id, s_id (id, 1));
    assert_int_equal (timers_queue_count (timers, "a"), 2);
    assert_true (timers_backoff_due (timers, 300 * S_SECOND, &due));
    assert_int_equal (timers_queue_count (timers, "a"), 1);
    assert_true (timers_scheduled_due (timers, 200 * S_SECOND, &due));
    assert_int_equal (timers_queue_count (timers, "a"), -1);
    assert_int_equal (timers_queue_count (timers, "b"), 1);
    timers_destroy (&timers);
}

//  A cancelled job's entry goes at once, scheduled or backoff, with its
//  count; the others stay in order; its begin_by deadline stays (due, the
//  broker finds the job no longer pending)
static void
test_timers_forgets_a_cancelled_job (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    timers_schedule (timers, s_id (id, 1), 100 * S_SECOND, "a");
    timers_schedule (timers, s_id (id, 2), 200 * S_SECOND, "a");
    timers_backoff (timers, s_id (id, 3), 300 * S_SECOND, 30 * S_SECOND, "a");
    timers_deadline (timers, s_id (id, 2), 250 * S_SECOND);
    assert_true (timers_forget (timers, s_id (id, 2)));
    assert_false (timers_forget (timers, s_id (id, 2)));       //  once
    assert_false (timers_forget (timers, s_id (id, 9)));       //  never there
    assert_int_equal (timers_scheduled_size (timers), 1);
    assert_int_equal (timers_queue_count (timers, "a"), 2);
    assert_true (timers_forget (timers, s_id (id, 3)));
    assert_int_equal (timers_queue_count (timers, "a"), 1);
    timers_due_t due;
    assert_false (timers_backoff_due (timers, 1000 * S_SECOND, &due));
    assert_true (timers_scheduled_due (timers, 1000 * S_SECOND, &due));
    assert_string_equal (due.id, s_id (id, 1));
    assert_false (timers_scheduled_due (timers, 1000 * S_SECOND, &due));
    assert_int_equal (timers_queue_count (timers, "a"), -1);
    assert_true (timers_deadline_due (timers, 1000 * S_SECOND, &due));
    assert_string_equal (due.id, s_id (id, 2));
    //  A popped entry is forgotten too; a job scheduled again is found
    timers_schedule (timers, s_id (id, 4), 100 * S_SECOND, "b");
    assert_true (timers_scheduled_due (timers, 1000 * S_SECOND, &due));
    assert_false (timers_forget (timers, s_id (id, 4)));
    timers_backoff (timers, s_id (id, 4), 100 * S_SECOND, 5 * S_SECOND, "b");
    assert_true (timers_forget (timers, s_id (id, 4)));
    assert_int_equal (timers_queue_count (timers, "b"), -1);
    timers_destroy (&timers);
}

typedef struct {
    char queues [4][8];
    int64_t counts [4];
    size_t size;
} s_rows_t;

static void
s_row (void *arg, const char *queue, int64_t count)
{
    s_rows_t *rows = (s_rows_t *) arg;
    assert_true (rows->size < 4);
    snprintf (rows->queues [rows->size], sizeof rows->queues [0], "%s", queue);
    rows->counts [rows->size++] = count;
}

//  Each queue with scheduled jobs is walked once, with its count
static void
test_timers_each_queue_walks_the_counts (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    timers_schedule (timers, s_id (id, 1), 100, "a");
    timers_backoff (timers, s_id (id, 2), 100, 100, "b");
    timers_schedule (timers, s_id (id, 3), 100, "b");
    s_rows_t rows = { .size = 0 };
    timers_each_queue (timers, s_row, &rows);
    assert_int_equal (rows.size, 2);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal (rows.counts [i], strcmp (rows.queues [i], "a") ? 2 : 1);
    timers_destroy (&timers);
}

//  What a listing walk saw
typedef struct {
    char ids [8][ASYNC_ID_LEN];
    int64_t whens [8];
    size_t size, stop;
} s_walk_t;

static bool
s_visit (void *arg, char phase, int64_t when, const char *id)
{
    (void) phase;
    s_walk_t *walk = (s_walk_t *) arg;
    memcpy (walk->ids [walk->size], id, ASYNC_ID_LEN);
    walk->whens [walk->size++] = when;
    return walk->size < walk->stop;
}

//  A listing walks the scheduled jobs by wall time and the backoffs by
//  monotonic time, and goes on after the last (when, id) it saw
static void
test_timers_each_resumes_after_a_cursor (void **state)
{
    (void) state;
    timers_t *timers = timers_new ();
    char id [ASYNC_ID_LEN];
    for (unsigned i = 1; i <= 5; i++)
        timers_schedule (timers, s_id (id, i), (int64_t) (i / 2) * 100, "q");
    timers_backoff (timers, s_id (id, 7), 999, 20, "q");
    timers_backoff (timers, s_id (id, 6), 1, 30, "q");
    s_walk_t walk = { .stop = 3 };
    timers_each (timers, 's', 0, NULL, s_visit, &walk);
    assert_int_equal (walk.size, 3);                        //  1 (0), 2 (100), 3 (100)
    assert_string_equal (walk.ids [2], s_id (id, 3));
    s_walk_t rest = { .stop = 8 };
    timers_each (timers, 's', walk.whens [2], walk.ids [2], s_visit, &rest);
    assert_int_equal (rest.size, 2);
    assert_string_equal (rest.ids [0], s_id (id, 4));
    assert_int_equal (rest.whens [0], 200);
    assert_string_equal (rest.ids [1], s_id (id, 5));
    s_walk_t backoffs = { .stop = 8 };
    timers_each (timers, 'b', 0, NULL, s_visit, &backoffs);
    assert_int_equal (backoffs.size, 2);
    assert_string_equal (backoffs.ids [0], s_id (id, 7));
    assert_int_equal (backoffs.whens [0], 20);              //  monotonic
    s_walk_t after = { .stop = 8 };
    timers_each (timers, 'b', 20, s_id (id, 7), s_visit, &after);
    assert_int_equal (after.size, 1);
    assert_string_equal (after.ids [0], s_id (id, 6));
    timers_destroy (&timers);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_timers_pops_in_time_then_id_order),
        cmocka_unit_test (test_timers_due_and_not_due),
        cmocka_unit_test (test_timers_backoff_by_monotonic_time),
        cmocka_unit_test (test_timers_clock_step_back_anchors_at_now),
        cmocka_unit_test (test_timers_gap_since_last_turn),
        cmocka_unit_test (test_timers_wait_for_the_first_due),
        cmocka_unit_test (test_timers_counts_per_queue),
        cmocka_unit_test (test_timers_forgets_a_cancelled_job),
        cmocka_unit_test (test_timers_each_queue_walks_the_counts),
        cmocka_unit_test (test_timers_each_resumes_after_a_cursor),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
