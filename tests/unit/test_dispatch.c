/*  =========================================================================
    test_dispatch - which pending job goes to which agent: priority, FIFO,
    head pushes, filters, sizes, queues, round-robin, veto (broker/dispatch)
    =========================================================================
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dispatch.h"

//  ---------------------------------------------------------------------
//  Helpers

//  Job ids are 36-char UUIDs; job n gets a recognisable one
static const char *
s_id (int n)
{
    static char ids [1000][37];
    assert_true (n >= 0 && n < 1000);
    snprintf (ids [n], 37, "00000000-0000-4000-8000-%012d", n);
    return ids [n];
}

//  The job number back from an id
static int
s_num (const char *id)
{
    assert_int_equal (strlen (id), 36);
    return atoi (id + 24);
}

static void
s_push (dispatch_t *self, int n, const char *task, const char *queue,
        int64_t priority, bool head)
{
    dispatch_push (self, s_id (n), task, queue, priority, (uint64_t) n, head);
}

//  Dispatch once: the job number, or -1 when nothing goes out
static int
s_next (dispatch_t *self, dispatch_agent_t **agent_out)
{
    char id [37];
    dispatch_agent_t *agent = NULL;
    if (!dispatch_next (self, NULL, NULL, id, &agent))
        return -1;
    assert_non_null (agent);
    if (agent_out)
        *agent_out = agent;
    return s_num (id);
}

//  Dispatch until nothing goes out; returns the count, numbers in order
static size_t
s_drain (dispatch_t *self, int *order, size_t max)
{
    size_t count = 0;
    int n;
    while ((n = s_next (self, NULL)) >= 0) {
        assert_true (count < max);
        order [count++] = n;
    }
    return count;
}

static void
s_assert_order (const int *got, size_t count, const int *want, size_t want_count)
{
    char text [512] = "";
    for (size_t i = 0; i < count; i++)
        snprintf (text + strlen (text), sizeof text - strlen (text), "%d ", got [i]);
    if (count != want_count)
        fail_msg ("dispatched %zu jobs (%s), want %zu", count, text, want_count);
    for (size_t i = 0; i < count; i++)
        if (got [i] != want [i])
            fail_msg ("dispatch order is %s; position %zu should be %d", text, i, want [i]);
}

static dispatch_agent_t *
s_agent (dispatch_t *self, void *owner, const char *name, int size)
{
    dispatch_agent_t *agent = dispatch_agent_add (self, owner, name, size, NULL, NULL, NULL);
    assert_non_null (agent);
    return agent;
}

//  ---------------------------------------------------------------------
//  Order

//  Many one-slot agents: once all are busy nothing goes out, a released
//  slot takes the next job, and one taken or removed agent is accounted
//  for; every agent gets a job before any gets a second
static void
test_dispatch_many_one_slot_agents (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    dispatch_agent_t *agents [50];
    for (int i = 0; i < 50; i++)
        agents [i] = s_agent (self, self, "main", 1);
    for (int n = 1; n <= 60; n++)
        s_push (self, n, "t.a", "default", 0, false);
    dispatch_agent_t *got [50];
    for (int i = 0; i < 50; i++) {
        assert_int_equal (s_next (self, &got [i]), i + 1);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal (got [i], got [j]);
    }
    assert_int_equal (s_next (self, NULL), -1);         //  all busy
    dispatch_agent_release (agents [7]);
    dispatch_agent_t *agent = NULL;
    assert_int_equal (s_next (self, &agent), 51);
    assert_ptr_equal (agent, agents [7]);
    assert_int_equal (s_next (self, NULL), -1);
    //  A slot taken outside dispatch_next (a job re-attached) counts too
    dispatch_agent_release (agents [3]);
    dispatch_agent_take (agents [3]);
    assert_int_equal (s_next (self, NULL), -1);
    //  Removing a busy agent and adding a free one
    dispatch_agent_remove (self, &agents [0]);
    assert_int_equal (s_next (self, NULL), -1);
    s_agent (self, self, "main", 2);
    assert_int_equal (s_next (self, NULL), 52);
    assert_int_equal (s_next (self, NULL), 53);
    assert_int_equal (s_next (self, NULL), -1);
    dispatch_destroy (&self);
}

static void
test_dispatch_priority_then_fifo (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_agent (self, self, "main", 100);
    //  One task: priority first, FIFO within a priority
    s_push (self, 1, "t.a", "default", 0, false);
    s_push (self, 2, "t.a", "default", 5, false);
    s_push (self, 3, "t.a", "default", 0, false);
    s_push (self, 4, "t.a", "default", 5, false);
    s_push (self, 5, "t.a", "default", -1, false);
    s_push (self, 6, "t.a", "default", 1000000000, false);
    int order [16];
    size_t count = s_drain (self, order, 16);
    const int want [] = { 6, 2, 4, 1, 3, 5 };
    s_assert_order (order, count, want, 6);
    assert_int_equal (dispatch_pending (self, NULL), 0);
    dispatch_destroy (&self);
    assert_null (self);
}

static void
test_dispatch_priority_then_fifo_across_tasks (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_agent (self, self, "main", 100);
    //  Tasks interleaved: the order is still priority, then submission
    s_push (self, 1, "t.a", "default", 0, false);
    s_push (self, 2, "t.b", "default", 0, false);
    s_push (self, 3, "t.c", "default", 2, false);
    s_push (self, 4, "t.a", "default", 0, false);
    s_push (self, 5, "t.b", "default", 2, false);
    s_push (self, 6, "t.c", "default", 0, false);
    s_push (self, 7, "t.a", "default", -3, false);
    int order [16];
    size_t count = s_drain (self, order, 16);
    const int want [] = { 3, 5, 1, 2, 4, 6, 7 };
    s_assert_order (order, count, want, 7);
    dispatch_destroy (&self);
}

static void
test_dispatch_restored_jobs_sorted_by_seq (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_agent (self, self, "main", 100);
    //  After a broker restart jobs come back in any order
    s_push (self, 30, "t.a", "default", 0, false);
    s_push (self, 10, "t.a", "default", 0, false);
    s_push (self, 40, "t.a", "default", 0, false);
    s_push (self, 20, "t.a", "default", 0, false);
    s_push (self, 5, "t.a", "default", 0, false);
    int order [16];
    size_t count = s_drain (self, order, 16);
    const int want [] = { 5, 10, 20, 30, 40 };
    s_assert_order (order, count, want, 5);
    dispatch_destroy (&self);
}

static void
test_dispatch_head_push_goes_first (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_agent (self, self, "main", 100);
    s_push (self, 1, "t.a", "default", 0, false);
    s_push (self, 2, "t.a", "default", 0, false);
    s_push (self, 3, "t.a", "default", 0, false);
    //  An interrupted job goes back before its lane's other jobs
    s_push (self, 9, "t.a", "default", 0, true);
    s_push (self, 4, "t.a", "default", 0, false);
    s_push (self, 8, "t.a", "default", 0, true);
    int order [16];
    size_t count = s_drain (self, order, 16);
    const int want [] = { 8, 9, 1, 2, 3, 4 };
    s_assert_order (order, count, want, 6);

    //  Into an empty lane, a head push is simply the job
    s_push (self, 7, "t.b", "default", 0, true);
    assert_int_equal (s_next (self, NULL), 7);
    assert_int_equal (s_next (self, NULL), -1);
    dispatch_destroy (&self);
}

//  ---------------------------------------------------------------------
//  Agents: filters, sizes, queues

static void
test_dispatch_filter_include_globs (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *include [] = { "pi.*", "testing.noop", NULL };
    dispatch_agent_t *agent = dispatch_agent_add (self, self, "pi", 10, NULL, include, NULL);
    assert_string_equal (dispatch_agent_filter (agent), "pi.*,testing.noop");
    assert_true (dispatch_agent_accepts (agent, "pi.generate_sample"));
    assert_true (dispatch_agent_accepts (agent, "testing.noop"));
    assert_false (dispatch_agent_accepts (agent, "testing.ret"));
    assert_false (dispatch_agent_accepts (agent, "time.time"));
    //  Asking twice gives the same answer (verdicts are cached)
    assert_false (dispatch_agent_accepts (agent, "time.time"));
    assert_true (dispatch_agent_accepts (agent, "pi.generate_sample"));

    s_push (self, 1, "time.time", "default", 9, false);
    s_push (self, 2, "pi.generate_sample", "default", 0, false);
    assert_int_equal (s_next (self, NULL), 2);
    assert_int_equal (s_next (self, NULL), -1);      //  nobody takes time.time
    assert_true (dispatch_contains (self, s_id (1)));
    dispatch_destroy (&self);
}

//  Verdicts are kept at most DISPATCH_VERDICTS per agent and
//  DISPATCH_VERDICTS_BYTES over all agents (a client may submit jobs of
//  many task names to the queues of many agents); past that the answer is
//  worked out again, still right. A removed agent's verdicts are let go
static void
test_dispatch_verdicts_bounded (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *include [] = { "keep.*", NULL };
    dispatch_agent_t *agents [100];
    for (int a = 0; a < 100; a++)
        agents [a] = dispatch_agent_add (self, self, "a", 1, NULL, include, NULL);
    char task [64];
    for (int a = 0; a < 100; a++)
        for (int t = 0; t < DISPATCH_VERDICTS + 10; t++) {
            snprintf (task, sizeof task, "%s.task.%06d", t % 2 ? "keep" : "drop", t);
            assert_true (dispatch_agent_accepts (agents [a], task) == (t % 2 == 1));
        }
    size_t bytes = dispatch_verdict_bytes (self);
    assert_true (bytes <= DISPATCH_VERDICTS_BYTES);
    assert_true (bytes > DISPATCH_VERDICTS_BYTES - 1024);
    //  Past the budget, answers are still right (and asked again)
    assert_true (dispatch_agent_accepts (agents [99], "keep.task.000001"));
    assert_false (dispatch_agent_accepts (agents [99], "drop.task.000000"));
    for (int a = 0; a < 100; a++)
        dispatch_agent_remove (self, &agents [a]);
    assert_int_equal (dispatch_verdict_bytes (self), 0);
    dispatch_destroy (&self);
}

static void
test_dispatch_filter_exclude_globs (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *exclude [] = { "pi.slow*", NULL };
    dispatch_agent_t *agent = dispatch_agent_add (self, self, "main", 10, NULL, NULL, exclude);
    assert_string_equal (dispatch_agent_filter (agent), "!pi.slow*");
    assert_true (dispatch_agent_accepts (agent, "pi.generate_sample"));
    assert_true (dispatch_agent_accepts (agent, "time.time"));
    assert_false (dispatch_agent_accepts (agent, "pi.slow"));
    assert_false (dispatch_agent_accepts (agent, "pi.slow_sample"));

    s_push (self, 1, "pi.slow", "default", 9, false);
    s_push (self, 2, "time.time", "default", 0, false);
    assert_int_equal (s_next (self, NULL), 2);
    assert_int_equal (s_next (self, NULL), -1);
    dispatch_destroy (&self);
}

static void
test_dispatch_filter_include_and_exclude (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *include [] = { "pi.*", NULL };
    const char *exclude [] = { "pi.slow", "*_debug", NULL };
    dispatch_agent_t *agent = dispatch_agent_add (self, self, "pi", 10, NULL,
                                                  include, exclude);
    assert_string_equal (dispatch_agent_filter (agent), "pi.*,!pi.slow,!*_debug");
    assert_true (dispatch_agent_accepts (agent, "pi.generate_sample"));
    assert_false (dispatch_agent_accepts (agent, "pi.slow"));
    assert_false (dispatch_agent_accepts (agent, "pi.sample_debug"));
    assert_false (dispatch_agent_accepts (agent, "time.time"));
    dispatch_destroy (&self);
}

static void
test_dispatch_default_agent_takes_everything (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *empty [] = { NULL };
    dispatch_agent_t *agent = dispatch_agent_add (self, self, "main", 3, NULL, empty, empty);
    assert_string_equal (dispatch_agent_filter (agent), "*");
    assert_string_equal (dispatch_agent_queues (agent), "default");
    assert_string_equal (dispatch_agent_name (agent), "main");
    assert_ptr_equal (dispatch_agent_owner (agent), self);
    assert_int_equal (dispatch_agent_size (agent), 3);
    assert_true (dispatch_agent_accepts (agent, "anything.at_all"));
    dispatch_destroy (&self);
}

static void
test_dispatch_agent_tasks_limit (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    dispatch_agent_t *agent = s_agent (self, self, "main", 10);
    //  Cache a verdict first: set_tasks must forget it
    assert_true (dispatch_agent_accepts (agent, "pi.other"));
    const char *tasks [] = { "pi.generate_sample", NULL };
    dispatch_agent_set_tasks (agent, tasks);
    assert_true (dispatch_agent_accepts (agent, "pi.generate_sample"));
    assert_false (dispatch_agent_accepts (agent, "pi.other"));
    assert_false (dispatch_has_taker (self, "default", "pi.other"));

    s_push (self, 1, "pi.other", "default", 0, false);
    assert_int_equal (s_next (self, NULL), -1);
    //  A second agent of the node shares the list, which outlives the first
    dispatch_agent_t *second = s_agent (self, self, "second", 1);
    dispatch_agent_share_tasks (second, agent);
    assert_true (dispatch_agent_accepts (second, "pi.generate_sample"));
    assert_false (dispatch_agent_accepts (second, "pi.other"));
    dispatch_agent_set_tasks (agent, tasks);
    assert_true (dispatch_agent_accepts (second, "pi.generate_sample"));
    dispatch_agent_remove (self, &second);
    //  No limit again: the job goes out
    dispatch_agent_set_tasks (agent, NULL);
    assert_true (dispatch_agent_accepts (agent, "pi.other"));
    assert_int_equal (s_next (self, NULL), 1);
    dispatch_destroy (&self);
}

static void
test_dispatch_agent_size_is_credit (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    dispatch_agent_t *agent = s_agent (self, self, "main", 2);
    for (int n = 1; n <= 5; n++)
        s_push (self, n, "t.a", "default", 0, false);
    dispatch_agent_t *got = NULL;
    assert_int_equal (s_next (self, &got), 1);
    assert_ptr_equal (got, agent);
    assert_int_equal (s_next (self, NULL), 2);
    assert_int_equal (dispatch_agent_used (agent), 2);
    assert_int_equal (dispatch_used (self), 2);
    //  Full: nothing more until a slot comes back
    assert_int_equal (s_next (self, NULL), -1);
    assert_int_equal (dispatch_pending (self, NULL), 3);
    dispatch_agent_release (agent);
    assert_int_equal (dispatch_agent_used (agent), 1);
    assert_int_equal (dispatch_used (self), 1);
    assert_int_equal (s_next (self, NULL), 3);
    assert_int_equal (s_next (self, NULL), -1);
    //  A slot taken outside dispatch (a job re-attached) counts too
    dispatch_agent_release (agent);
    dispatch_agent_take (agent);
    assert_int_equal (dispatch_agent_used (agent), 2);
    assert_int_equal (s_next (self, NULL), -1);
    //  Releasing more than was taken never goes below zero
    for (int i = 0; i < 5; i++)
        dispatch_agent_release (agent);
    assert_int_equal (dispatch_agent_used (agent), 0);
    assert_int_equal (dispatch_used (self), 0);
    assert_int_equal (s_next (self, NULL), 4);
    assert_int_equal (s_next (self, NULL), 5);
    assert_int_equal (dispatch_agent_used (agent), 2);
    dispatch_destroy (&self);
}

static void
test_dispatch_queues_are_separate (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *bulk [] = { "bulk", NULL };
    dispatch_agent_t *agent = dispatch_agent_add (self, self, "bulk", 10, bulk, NULL, NULL);
    assert_string_equal (dispatch_agent_queues (agent), "bulk");
    s_push (self, 1, "t.a", "default", 100, false);
    s_push (self, 2, "t.a", "default", 0, false);
    assert_int_equal (dispatch_pending (self, "default"), 2);
    assert_int_equal (dispatch_pending (self, "bulk"), 0);
    assert_int_equal (s_next (self, NULL), -1);      //  never a default job
    s_push (self, 3, "t.a", "bulk", 0, false);
    assert_int_equal (dispatch_pending (self, "bulk"), 1);
    assert_int_equal (dispatch_pending (self, NULL), 3);
    assert_int_equal (s_next (self, NULL), 3);
    assert_int_equal (s_next (self, NULL), -1);
    assert_int_equal (dispatch_pending (self, "default"), 2);
    assert_int_equal (dispatch_pending (self, "nosuchqueue"), 0);
    dispatch_destroy (&self);
}

static void
test_dispatch_agent_of_two_queues_takes_best (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *queues [] = { "bulk", "default", NULL };
    dispatch_agent_t *agent = dispatch_agent_add (self, self, "both", 10, queues, NULL, NULL);
    assert_string_equal (dispatch_agent_queues (agent), "bulk,default");
    s_push (self, 1, "t.a", "bulk", 0, false);
    s_push (self, 2, "t.a", "default", 5, false);
    s_push (self, 3, "t.a", "other", 9, false);
    s_push (self, 4, "t.a", "default", 0, false);
    int order [8];
    size_t count = s_drain (self, order, 8);
    const int want [] = { 2, 1, 4 };
    s_assert_order (order, count, want, 3);
    assert_int_equal (dispatch_pending (self, "other"), 1);
    dispatch_destroy (&self);
}

static void
test_dispatch_paused_queue_keeps_its_jobs (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *queues [] = { "bulk", "default", NULL };
    dispatch_agent_add (self, self, "both", 10, queues, NULL, NULL);
    //  Paused before it has jobs: known from then on, listed in order
    assert_true (dispatch_pause (self, "default", true));
    assert_false (dispatch_pause (self, "default", true));  //  no change
    assert_true (dispatch_pause (self, "bulk", true));
    assert_true (dispatch_has_queue (self, "default"));
    assert_int_equal (dispatch_paused_count (self), 2);
    assert_string_equal (dispatch_paused_first (self), "bulk");
    assert_string_equal (dispatch_paused_next (self), "default");
    assert_null (dispatch_paused_next (self));
    assert_true (dispatch_pause (self, "bulk", false));
    s_push (self, 1, "t.a", "default", 9, false);
    s_push (self, 2, "t.a", "bulk", 0, false);
    s_push (self, 3, "t.a", "default", 0, false);
    //  The best job is in the paused queue: the bulk one goes, no other
    assert_int_equal (s_next (self, NULL), 2);
    assert_int_equal (s_next (self, NULL), -1);
    assert_int_equal (dispatch_pending (self, "default"), 2);
    assert_true (dispatch_paused (self, "default"));
    assert_false (dispatch_pause (self, "nosuchqueue", false));
    assert_true (dispatch_pause (self, "default", false));
    assert_false (dispatch_paused (self, "default"));
    assert_int_equal (dispatch_paused_count (self), 0);
    assert_int_equal (s_next (self, NULL), 1);
    assert_int_equal (s_next (self, NULL), 3);
    dispatch_destroy (&self);
}

static void
test_dispatch_round_robin_spreads_across_owners (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    int owner_a, owner_b;
    dispatch_agent_t *a = s_agent (self, &owner_a, "main", 10);
    dispatch_agent_t *b = s_agent (self, &owner_b, "main", 10);
    for (int n = 1; n <= 10; n++)
        s_push (self, n, "t.a", "default", 0, false);
    int got_a = 0, got_b = 0;
    dispatch_agent_t *previous = NULL;
    for (int i = 0; i < 10; i++) {
        dispatch_agent_t *agent = NULL;
        //  Each job still leaves in FIFO order
        assert_int_equal (s_next (self, &agent), i + 1);
        assert_ptr_not_equal (agent, previous);      //  turns alternate
        previous = agent;
        if (dispatch_agent_owner (agent) == &owner_a)
            got_a++;
        else
        if (dispatch_agent_owner (agent) == &owner_b)
            got_b++;
    }
    assert_int_equal (got_a, 5);
    assert_int_equal (got_b, 5);
    assert_int_equal (dispatch_agent_used (a), 5);
    assert_int_equal (dispatch_agent_used (b), 5);
    dispatch_destroy (&self);
}

static void
test_dispatch_full_agent_is_skipped (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    int owner_a, owner_b;
    dispatch_agent_t *a = s_agent (self, &owner_a, "main", 1);
    dispatch_agent_t *b = s_agent (self, &owner_b, "main", 10);
    for (int n = 1; n <= 6; n++)
        s_push (self, n, "t.a", "default", 0, false);
    int order [8];
    size_t count = s_drain (self, order, 8);
    assert_int_equal (count, 6);
    assert_int_equal (dispatch_agent_used (a), 1);
    assert_int_equal (dispatch_agent_used (b), 5);
    dispatch_destroy (&self);
}

static void
test_dispatch_agent_remove (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    dispatch_agent_t *agent = s_agent (self, self, "main", 10);
    dispatch_agent_t *other = s_agent (self, self, "other", 10);
    dispatch_agent_take (other);
    dispatch_agent_take (agent);
    dispatch_agent_take (agent);
    assert_int_equal (dispatch_used (self), 3);
    dispatch_agent_remove (self, &other);
    assert_int_equal (dispatch_used (self), 2);
    s_push (self, 1, "t.a", "default", 0, false);
    assert_true (dispatch_has_taker (self, "default", "t.a"));
    dispatch_agent_remove (self, &agent);
    assert_int_equal (dispatch_used (self), 0);
    assert_null (agent);
    assert_false (dispatch_has_taker (self, "default", "t.a"));
    assert_int_equal (s_next (self, NULL), -1);
    assert_true (dispatch_contains (self, s_id (1)));
    //  A new agent takes the job that waited
    s_agent (self, self, "main", 10);
    assert_int_equal (s_next (self, NULL), 1);
    dispatch_destroy (&self);
}

//  ---------------------------------------------------------------------
//  Pending set

static void
test_dispatch_remove (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_push (self, 1, "t.a", "default", 0, false);
    s_push (self, 2, "t.a", "default", 0, false);
    s_push (self, 3, "t.a", "default", 0, false);
    s_push (self, 4, "t.b", "default", 0, false);
    assert_true (dispatch_contains (self, s_id (2)));
    assert_true (dispatch_remove (self, s_id (2)));
    assert_false (dispatch_contains (self, s_id (2)));
    assert_false (dispatch_remove (self, s_id (2)));   //  only once
    assert_false (dispatch_remove (self, s_id (99)));
    assert_int_equal (dispatch_pending (self, "default"), 3);
    //  Head and tail of a lane, and a whole lane
    assert_true (dispatch_remove (self, s_id (1)));
    assert_true (dispatch_remove (self, s_id (4)));
    assert_int_equal (dispatch_pending (self, NULL), 1);
    //  A lane emptied and used again
    s_push (self, 5, "t.b", "default", 0, false);
    s_push (self, 6, "t.a", "default", 0, false);
    s_agent (self, self, "main", 10);
    int order [8];
    size_t count = s_drain (self, order, 8);
    const int want [] = { 3, 5, 6 };
    s_assert_order (order, count, want, 3);
    //  Removed and dispatched jobs may be pushed again
    s_push (self, 2, "t.a", "default", 0, false);
    assert_int_equal (s_next (self, NULL), 2);
    dispatch_destroy (&self);
}

static void
test_dispatch_push_twice_is_once (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_push (self, 1, "t.a", "default", 0, false);
    s_push (self, 1, "t.a", "default", 0, false);
    s_push (self, 1, "t.a", "default", 0, true);
    assert_int_equal (dispatch_pending (self, NULL), 1);
    assert_int_equal (dispatch_pending (self, "default"), 1);
    s_agent (self, self, "main", 10);
    assert_int_equal (s_next (self, NULL), 1);
    assert_int_equal (s_next (self, NULL), -1);
    dispatch_destroy (&self);
}

static void
test_dispatch_nothing_to_do (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    assert_int_equal (s_next (self, NULL), -1);      //  no agents, no jobs
    s_push (self, 1, "t.a", "default", 0, false);
    assert_int_equal (s_next (self, NULL), -1);      //  no agents
    assert_true (dispatch_remove (self, s_id (1)));
    s_agent (self, self, "main", 10);
    assert_int_equal (s_next (self, NULL), -1);      //  no jobs
    dispatch_agent_t *empty = s_agent (self, self, "zero", 0);
    assert_int_equal (dispatch_agent_size (empty), 0);
    dispatch_destroy (&self);
    dispatch_destroy (&self);                        //  safe again
}

static void
test_dispatch_has_taker (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    assert_false (dispatch_has_taker (self, "default", "pi.x"));
    const char *bulk [] = { "bulk", NULL };
    const char *include [] = { "pi.*", NULL };
    dispatch_agent_t *agent = dispatch_agent_add (self, self, "pi", 1, bulk, include, NULL);
    assert_true (dispatch_has_taker (self, "bulk", "pi.x"));
    assert_false (dispatch_has_taker (self, "default", "pi.x"));
    assert_false (dispatch_has_taker (self, "bulk", "other.x"));
    //  A busy agent is still a taker
    dispatch_agent_take (agent);
    assert_int_equal (dispatch_agent_used (agent), dispatch_agent_size (agent));
    assert_true (dispatch_has_taker (self, "bulk", "pi.x"));
    dispatch_destroy (&self);
}

//  An agent's pending count: the pending jobs it alone takes. Jobs two
//  agents take count for neither; a job nobody takes, for nobody; an
//  agent gone hands its jobs to the other; a taken job is not pending
static void
test_dispatch_count_pending_sole_taker (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    const char *bulk [] = { "bulk", NULL };
    const char *both [] = { "default", "bulk", NULL };
    const char *pi [] = { "pi.*", NULL };
    const char *slow [] = { "pi.slow", NULL };
    dispatch_agent_t *any = dispatch_agent_add (self, self, "any", 1, both, NULL, NULL);
    dispatch_agent_t *fast = dispatch_agent_add (self, self, "fast", 1, bulk, pi, slow);
    s_push (self, 1, "pi.slow", "bulk", 0, false);    //  any alone
    s_push (self, 2, "pi.fast", "bulk", 0, false);    //  both
    s_push (self, 3, "pi.fast", "bulk", 0, false);    //  both
    s_push (self, 4, "other", "default", 0, false);   //  any alone
    s_push (self, 5, "pi.fast", "nobody", 0, false);  //  no one
    dispatch_count_pending (self);
    assert_int_equal (dispatch_agent_pending (any), 2);
    assert_int_equal (dispatch_agent_pending (fast), 0);
    //  The cache of takers forgets a removed agent: `fast` alone now
    dispatch_agent_remove (self, &any);
    dispatch_count_pending (self);
    assert_int_equal (dispatch_agent_pending (fast), 2);
    assert_true (dispatch_has_taker (self, "bulk", "pi.fast"));
    assert_false (dispatch_has_taker (self, "bulk", "pi.slow"));
    //  One of them taken: one left
    dispatch_agent_t *agent = NULL;
    assert_int_equal (s_next (self, &agent), 2);
    assert_ptr_equal (agent, fast);
    dispatch_count_pending (self);
    assert_int_equal (dispatch_agent_pending (fast), 1);
    dispatch_destroy (&self);
}

typedef struct {
    const char *refused;        //  id kept pending
    int calls;
} veto_t;

static bool
s_veto (void *arg, const char *id, const char *task, const char *quotas)
{
    veto_t *veto = (veto_t *) arg;
    veto->calls++;
    assert_non_null (task);
    return !veto->refused || strcmp (id, veto->refused) != 0;
}

static void
test_dispatch_veto_keeps_job_pending (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_agent (self, self, "main", 10);
    s_push (self, 1, "t.quota", "default", 5, false);
    s_push (self, 2, "t.free", "default", 0, false);
    veto_t veto = { s_id (1), 0 };
    char id [37];
    dispatch_agent_t *agent;
    //  Job 1 comes first by priority, but its quota is full
    assert_true (dispatch_next (self, s_veto, &veto, id, &agent));
    assert_int_equal (s_num (id), 2);
    assert_true (veto.calls > 0);
    assert_false (dispatch_next (self, s_veto, &veto, id, &agent));
    assert_true (dispatch_contains (self, s_id (1)));
    assert_int_equal (dispatch_pending (self, NULL), 1);
    //  The quota frees up
    veto.refused = NULL;
    assert_true (dispatch_next (self, s_veto, &veto, id, &agent));
    assert_int_equal (s_num (id), 1);
    assert_int_equal (dispatch_agent_used (agent), 2);
    dispatch_destroy (&self);
}

typedef struct {
    int ids [64];
    size_t count;
    size_t stop_after;          //  0: never stop
    char queue [64];            //  the place of the last visit
    int64_t priority;
    uint64_t seq;
} visit_t;

static bool
s_visit (void *arg, const char *queue, const char *id, int64_t priority, uint64_t seq)
{
    visit_t *visit = (visit_t *) arg;
    assert_true (visit->count < 64);
    visit->ids [visit->count++] = s_num (id);
    snprintf (visit->queue, sizeof visit->queue, "%s", queue);
    visit->priority = priority;
    visit->seq = seq;
    return visit->stop_after == 0 || visit->count < visit->stop_after;
}

static void
test_dispatch_each_pending_in_dispatch_order (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_push (self, 1, "t.a", "default", 0, false);
    s_push (self, 2, "t.b", "default", 3, false);
    s_push (self, 3, "t.a", "default", 3, false);
    s_push (self, 4, "t.c", "default", 0, false);
    s_push (self, 5, "t.b", "default", 0, false);
    s_push (self, 6, "t.a", "default", 0, false);
    s_push (self, 7, "t.a", "bulk", 99, false);
    //  Interrupted, back at the head of t.b/0 with its original seq
    s_push (self, 0, "t.b", "default", 0, true);
    visit_t visit = { .stop_after = 0 };
    dispatch_each_pending (self, "default", NULL, 0, 0, s_visit, NULL, &visit);
    const int want [] = { 2, 3, 0, 1, 4, 5, 6 };
    s_assert_order (visit.ids, visit.count, want, 7);

    //  Stopped after three, the walk goes on after the third's place
    visit_t first = { .stop_after = 3 };
    dispatch_each_pending (self, "default", NULL, 0, 0, s_visit, NULL, &first);
    s_assert_order (first.ids, first.count, want, 3);
    visit_t rest = { .stop_after = 0 };
    dispatch_each_pending (self, "default", first.queue, first.priority, first.seq,
                           s_visit, NULL, &rest);
    s_assert_order (rest.ids, rest.count, want + 3, 4);
    //  The visit takes nothing out
    assert_int_equal (dispatch_pending (self, "default"), 7);

    //  ... and it is the order in which the jobs really go out
    s_agent (self, self, "main", 100);
    int order [16];
    size_t count = s_drain (self, order, 16);
    s_assert_order (order, count, want, 7);
    dispatch_destroy (&self);
}

static void
test_dispatch_each_pending_stops_and_goes_on (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    for (int n = 1; n <= 5; n++)
        s_push (self, n, "t.a", "default", 0, false);
    s_push (self, 6, "t.a", "bulk", 0, false);
    s_push (self, 7, "t.a", "bulk", 1, false);

    visit_t visit = { .stop_after = 2 };
    dispatch_each_pending (self, "default", NULL, 0, 0, s_visit, NULL, &visit);
    const int first_two [] = { 1, 2 };
    s_assert_order (visit.ids, visit.count, first_two, 2);

    //  Queues in name order: bulk, then default
    visit_t stop = { .stop_after = 3 };
    dispatch_each_pending (self, NULL, NULL, 0, 0, s_visit, NULL, &stop);
    const int first_three [] = { 7, 6, 1 };
    s_assert_order (stop.ids, stop.count, first_three, 3);
    //  ... and goes on from the third, in the next queue
    visit_t after = { .stop_after = 0 };
    dispatch_each_pending (self, NULL, stop.queue, stop.priority, stop.seq, s_visit,
                           NULL, &after);
    const int want_after [] = { 2, 3, 4, 5 };
    s_assert_order (after.ids, after.count, want_after, 4);

    visit_t bulk = { .stop_after = 0 };
    dispatch_each_pending (self, "bulk", NULL, 0, 0, s_visit, NULL, &bulk);
    const int want_bulk [] = { 7, 6 };
    s_assert_order (bulk.ids, bulk.count, want_bulk, 2);

    visit_t all = { .stop_after = 0 };
    dispatch_each_pending (self, NULL, NULL, 0, 0, s_visit, NULL, &all);
    assert_int_equal (all.count, 7);

    visit_t none = { .stop_after = 0 };
    dispatch_each_pending (self, "nosuchqueue", NULL, 0, 0, s_visit, NULL, &none);
    assert_int_equal (none.count, 0);
    dispatch_destroy (&self);
}

typedef struct {
    size_t default_count;
    size_t bulk_count;
    int queues;
} queues_t;

static void
s_queue (void *arg, const char *queue, size_t pending)
{
    queues_t *queues = (queues_t *) arg;
    queues->queues++;
    if (strcmp (queue, "default") == 0)
        queues->default_count = pending;
    else
    if (strcmp (queue, "bulk") == 0)
        queues->bulk_count = pending;
}

static void
test_dispatch_each_queue_counts (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    s_push (self, 1, "t.a", "default", 0, false);
    s_push (self, 2, "t.b", "default", 0, false);
    s_push (self, 3, "t.a", "bulk", 0, false);
    queues_t queues = { 0, 0, 0 };
    dispatch_each_queue (self, s_queue, &queues);
    assert_int_equal (queues.queues, 2);
    assert_int_equal (queues.default_count, 2);
    assert_int_equal (queues.bulk_count, 1);
    dispatch_remove (self, s_id (3));
    queues = (queues_t) { 0, 0, 0 };
    dispatch_each_queue (self, s_queue, &queues);
    assert_int_equal (queues.bulk_count, 0);
    dispatch_destroy (&self);
}

//  ---------------------------------------------------------------------
//  The window: what does not fit waits in the store

static void
test_dispatch_window_spills_and_counts (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    dispatch_set_window (self, 4);
    for (int n = 1; n <= 4; n++)
        assert_true (dispatch_push (self, s_id (n), "t", "default", 0, (uint64_t) n, false));
    //  Full: later jobs of the same priority go to the store only
    assert_false (dispatch_push (self, s_id (5), "t", "default", 0, 5, false));
    assert_false (dispatch_push (self, s_id (6), "t", "default", 0, 6, false));
    assert_true (dispatch_spilled (self, "default", 0, 5));
    assert_false (dispatch_spilled (self, "default", 0, 4));
    //  A higher priority goes before everything stored: held in memory
    assert_true (dispatch_push (self, s_id (7), "t", "default", 5, 7, false));
    assert_int_equal (dispatch_pending (self, "default"), 7);
    assert_true (dispatch_contains (self, s_id (5)));     //  not committed yet
    //  Removing a job spilled since the commit
    assert_true (dispatch_remove (self, s_id (6)));
    assert_int_equal (dispatch_pending (self, "default"), 6);
    dispatch_committing (self);
    dispatch_committed (self);
    assert_false (dispatch_contains (self, s_id (5)));
    //  A stored job that leaves (cancelled): the caller forgets it
    assert_false (dispatch_remove (self, s_id (5)));
    dispatch_forget (self, "default");
    assert_int_equal (dispatch_pending (self, "default"), 5);
    dispatch_destroy (&self);
}

static void
test_dispatch_window_refill_in_order (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    dispatch_set_window (self, 4);
    const char *queues [] = { "default", NULL };
    dispatch_agent_add (self, NULL, "a", 100, queues, NULL, NULL);
    for (int n = 1; n <= 10; n++)
        dispatch_push (self, s_id (n), "t", "default", 0, (uint64_t) n, false);
    dispatch_committing (self);
    dispatch_committed (self);
    dispatch_refill_t refill;
    //  Full window: no refill yet
    assert_false (dispatch_refill_next (self, NULL, &refill));
    assert_int_equal (s_next (self, NULL), 1);
    assert_int_equal (s_next (self, NULL), 2);
    assert_int_equal (s_next (self, NULL), 3);
    //  One left in memory (under half the window): read from after job 4
    assert_true (dispatch_refill_next (self, NULL, &refill));
    assert_string_equal (refill.queue, "default");
    assert_false (refill.probe);
    assert_int_equal (refill.after_seq, 4);
    assert_int_equal (refill.want, 3);
    for (int n = 5; n <= 7; n++)
        assert_true (dispatch_load (self, s_id (n), "t", "default", 0, (uint64_t) n,
                                    NULL, false));
    assert_int_equal (dispatch_pending (self, "default"), 7);
    for (int n = 4; n <= 7; n++)
        assert_int_equal (s_next (self, NULL), n);
    assert_true (dispatch_refill_next (self, NULL, &refill));
    assert_int_equal (refill.after_seq, 7);
    for (int n = 8; n <= 10; n++)
        dispatch_load (self, s_id (n), "t", "default", 0, (uint64_t) n, NULL, false);
    dispatch_refill_end (self, "default", false);
    //  All in memory again: new jobs are held
    assert_true (dispatch_push (self, s_id (11), "t", "default", 0, 11, false));
    for (int n = 8; n <= 11; n++)
        assert_int_equal (s_next (self, NULL), n);
    assert_int_equal (s_next (self, NULL), -1);
    assert_int_equal (dispatch_pending (self, "default"), 0);
    dispatch_destroy (&self);
}

static void
test_dispatch_window_probe_finds_takeable (void **state)
{
    (void) state;
    dispatch_t *self = dispatch_new ();
    dispatch_set_window (self, 4);
    for (int n = 1; n <= 6; n++)
        dispatch_push (self, s_id (n), n <= 5 ? "nobody" : "t", "default", 0,
                       (uint64_t) n, false);
    dispatch_committing (self);
    dispatch_committed (self);
    const char *queues [] = { "default", NULL };
    const char *include [] = { "t", NULL };
    dispatch_agent_add (self, NULL, "a", 1, queues, include, NULL);
    //  Nothing in memory is takeable: dispatch asks for a probe
    assert_int_equal (s_next (self, NULL), -1);
    dispatch_refill_t refill;
    assert_true (dispatch_refill_next (self, NULL, &refill));
    assert_true (refill.probe);
    assert_int_equal (refill.after_seq, 4);
    assert_false (dispatch_load (self, s_id (5), "nobody", "default", 0, 5, NULL, true));
    assert_true (dispatch_load (self, s_id (6), "t", "default", 0, 6, NULL, true));
    dispatch_refill_end (self, "default", true);
    assert_int_equal (s_next (self, NULL), 6);
    assert_int_equal (dispatch_pending (self, "default"), 5);
    //  The extra is listed once, with the stored jobs, not twice
    assert_false (dispatch_refill_next (self, NULL, &refill));
    dispatch_destroy (&self);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_dispatch_priority_then_fifo),
        cmocka_unit_test (test_dispatch_many_one_slot_agents),
        cmocka_unit_test (test_dispatch_priority_then_fifo_across_tasks),
        cmocka_unit_test (test_dispatch_restored_jobs_sorted_by_seq),
        cmocka_unit_test (test_dispatch_head_push_goes_first),
        cmocka_unit_test (test_dispatch_filter_include_globs),
        cmocka_unit_test (test_dispatch_filter_exclude_globs),
        cmocka_unit_test (test_dispatch_filter_include_and_exclude),
        cmocka_unit_test (test_dispatch_default_agent_takes_everything),
        cmocka_unit_test (test_dispatch_agent_tasks_limit),
        cmocka_unit_test (test_dispatch_agent_size_is_credit),
        cmocka_unit_test (test_dispatch_queues_are_separate),
        cmocka_unit_test (test_dispatch_agent_of_two_queues_takes_best),
        cmocka_unit_test (test_dispatch_paused_queue_keeps_its_jobs),
        cmocka_unit_test (test_dispatch_round_robin_spreads_across_owners),
        cmocka_unit_test (test_dispatch_full_agent_is_skipped),
        cmocka_unit_test (test_dispatch_agent_remove),
        cmocka_unit_test (test_dispatch_remove),
        cmocka_unit_test (test_dispatch_push_twice_is_once),
        cmocka_unit_test (test_dispatch_nothing_to_do),
        cmocka_unit_test (test_dispatch_has_taker),
        cmocka_unit_test (test_dispatch_count_pending_sole_taker),
        cmocka_unit_test (test_dispatch_veto_keeps_job_pending),
        cmocka_unit_test (test_dispatch_each_pending_in_dispatch_order),
        cmocka_unit_test (test_dispatch_each_pending_stops_and_goes_on),
        cmocka_unit_test (test_dispatch_each_queue_counts),
        cmocka_unit_test (test_dispatch_window_spills_and_counts),
        cmocka_unit_test (test_dispatch_window_refill_in_order),
        cmocka_unit_test (test_dispatch_window_probe_finds_takeable),
        cmocka_unit_test (test_dispatch_verdicts_bounded),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
