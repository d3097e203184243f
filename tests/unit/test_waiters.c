//  test_waiters - the clients waiting for jobs' outcomes (broker/waiters.c)
#include "waiters.h"
#include "async_proto.h"
#include "async_util.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  What the waiters called back: a stand-in for the broker's ROUTER
typedef struct {
    waiters_t *waiters;
    zframe_t *gone;             //  sends to this peer fail with EHOSTUNREACH
    int pings, progresses, jobs, deliveries, brief_deliveries;
    int64_t last_done;
    size_t last_jobs;           //  entries of the last JOB with `jobs`
    zframe_t *last_to;          //  routing of the last delivery
} s_peer_log_t;

static int
s_send (void *arg, zframe_t *routing, async_msg_t *msg)
{
    s_peer_log_t *log = (s_peer_log_t *) arg;
    async_inmsg_t in;
    const char *why;
    assert_int_equal (async_inmsg_parse (&in, msg->buffer.data, msg->buffer.size, &why), 0);
    if (async_inmsg_is (&in, ASYNC_S_PING))
        log->pings++;
    else
    if (async_inmsg_is (&in, ASYNC_S_PROGRESS)) {
        log->progresses++;
        assert_int_equal (async_mp_int (in.body, "done", &log->last_done), 0);
    }
    else
    if (async_inmsg_is (&in, ASYNC_S_JOB)) {
        log->jobs++;
        const msgpack_object *jobs = async_mp_get (in.body, "jobs");
        assert_non_null (jobs);
        assert_int_equal (jobs->type, MSGPACK_OBJECT_ARRAY);
        log->last_jobs = jobs->via.array.size;
    }
    else
        fail_msg ("unexpected %s", in.command);
    async_inmsg_destroy (&in);
    async_msg_destroy (msg);
    return log->gone && zframe_eq (routing, log->gone) ? EHOSTUNREACH : 0;
}

static void
s_deliver (void *arg, zframe_t *routing, bool brief, async_job_t *job)
{
    s_peer_log_t *log = (s_peer_log_t *) arg;
    assert_non_null (job);
    log->deliveries++;
    log->brief_deliveries += brief;
    zframe_destroy (&log->last_to);
    log->last_to = zframe_dup (routing);
}

static waiters_t *
s_waiters (s_peer_log_t *log)
{
    memset (log, 0, sizeof *log);
    waiters_calls_t calls = { .arg = log, .send = s_send, .deliver = s_deliver };
    log->waiters = waiters_new (&calls);
    return log->waiters;
}

static void
s_done (s_peer_log_t *log)
{
    waiters_destroy (&log->waiters);
    assert_null (log->waiters);
    waiters_destroy (&log->waiters);
    zframe_destroy (&log->gone);
    zframe_destroy (&log->last_to);
}

//  Job id number i: a canonical uuid
static void
s_id (char *id, unsigned i)
{
    snprintf (id, ASYNC_ID_LEN, "00000000-0000-4000-8000-%012u", i);
}

static async_job_t *
s_job (unsigned i)
{
    async_job_t *job = async_job_new ();
    s_id (job->id, i);
    job->status = ASYNC_COMPLETED;
    return job;
}

//  A job's outcome goes to each of its waiters once, brief or full, and
//  its waits are gone after; forgetting a job frees its waits
static void
test_waiters_add_notify_forget (void **state)
{
    (void) state;
    s_peer_log_t log;
    waiters_t *waiters = s_waiters (&log);
    zframe_t *alice = zframe_new ("alice", 5);
    zframe_t *bob = zframe_new ("bob", 3);
    char id1 [ASYNC_ID_LEN], id2 [ASYNC_ID_LEN], err [200];
    s_id (id1, 1);
    s_id (id2, 2);
    assert_int_equal (waiters_add (waiters, alice, id1, true, err, sizeof err), 0);
    assert_int_equal (waiters_add (waiters, bob, id1, false, err, sizeof err), 0);
    assert_int_equal (waiters_add (waiters, bob, id2, true, err, sizeof err), 0);
    //  A wait the peer has is kept, not counted twice; a full one wins
    assert_int_equal (waiters_add (waiters, alice, id1, false, err, sizeof err), 0);
    assert_int_equal (waiters_add (waiters, bob, id1, true, err, sizeof err), 0);
    assert_int_equal (waiters_size (waiters), 3);
    assert_int_equal (waiters_peers (waiters), 2);

    async_job_t *job = s_job (1);
    waiters_notify (waiters, job);
    assert_int_equal (log.deliveries, 2);
    assert_int_equal (log.brief_deliveries, 0);
    assert_int_equal (waiters_size (waiters), 1);
    waiters_notify (waiters, job);      //  no waiters left for it
    assert_int_equal (log.deliveries, 2);
    async_job_destroy (&job);

    waiters_forget (waiters, id2);
    assert_int_equal (waiters_size (waiters), 0);
    job = s_job (2);
    waiters_notify (waiters, job);
    assert_int_equal (log.deliveries, 2);
    async_job_destroy (&job);
    waiters_forget (waiters, id2);      //  again: nothing to do

    //  A brief wait is delivered brief
    assert_int_equal (waiters_add (waiters, bob, id2, true, err, sizeof err), 0);
    job = s_job (2);
    waiters_notify (waiters, job);
    assert_int_equal (log.deliveries, 3);
    assert_int_equal (log.brief_deliveries, 1);
    assert_true (zframe_eq (log.last_to, bob));
    async_job_destroy (&job);
    assert_int_equal (log.pings + log.progresses + log.jobs, 0);

    //  Waits left at the end are freed with the waiters
    assert_int_equal (waiters_add (waiters, alice, id1, false, err, sizeof err), 0);
    zframe_destroy (&alice);
    zframe_destroy (&bob);
    s_done (&log);
}

//  PROGRESS goes to full waiters only, at most one a job every
//  WAITERS_PROGRESS_US, and the last one always
static void
test_waiters_progress_is_paced (void **state)
{
    (void) state;
    s_peer_log_t log;
    waiters_t *waiters = s_waiters (&log);
    zframe_t *full = zframe_new ("full", 4);
    zframe_t *brief = zframe_new ("brief", 5);
    char id [ASYNC_ID_LEN], err [200];
    s_id (id, 7);
    waiters_progress (waiters, id, 1, 10, 1000);   //  no waiters: nothing
    assert_int_equal (log.progresses, 0);
    assert_int_equal (waiters_add (waiters, full, id, false, err, sizeof err), 0);
    assert_int_equal (waiters_add (waiters, brief, id, true, err, sizeof err), 0);
    int64_t mono = 1000000;
    waiters_progress (waiters, id, 1, 10, mono);
    assert_int_equal (log.progresses, 1);
    waiters_progress (waiters, id, 2, 10, mono + WAITERS_PROGRESS_US - 1);
    assert_int_equal (log.progresses, 1);
    waiters_progress (waiters, id, 3, 10, mono + WAITERS_PROGRESS_US);
    assert_int_equal (log.progresses, 2);
    assert_int_equal (log.last_done, 3);
    waiters_progress (waiters, id, 10, 10, mono + WAITERS_PROGRESS_US + 1);
    assert_int_equal (log.progresses, 3);
    assert_int_equal (log.last_done, 10);
    zframe_destroy (&full);
    zframe_destroy (&brief);
    s_done (&log);
}

//  Past the per-peer or the total budget a wait is refused, with a reason
//  that says which; a wait the peer has already is never refused
static void
test_waiters_budgets_refuse_with_a_reason (void **state)
{
    (void) state;
    s_peer_log_t log;
    waiters_t *waiters = s_waiters (&log);
    waiters_set_budgets (waiters, 3, 5);
    zframe_t *alice = zframe_new ("alice", 5);
    zframe_t *bob = zframe_new ("bob", 3);
    zframe_t *carol = zframe_new ("carol", 5);
    char id [ASYNC_ID_LEN], err [200];
    for (unsigned i = 0; i < 3; i++) {
        s_id (id, i);
        assert_int_equal (waiters_add (waiters, alice, id, false, err, sizeof err), 0);
    }
    s_id (id, 3);
    err [0] = 0;
    assert_int_equal (waiters_room (waiters, alice, err, sizeof err), -1);
    assert_non_null (strstr (err, "at most 3 waits per connection"));
    err [0] = 0;
    assert_int_equal (waiters_add (waiters, alice, id, false, err, sizeof err), -1);
    assert_non_null (strstr (err, "this client waits for 3 jobs already"));
    s_id (id, 0);
    assert_int_equal (waiters_add (waiters, alice, id, false, err, sizeof err), 0);
    assert_int_equal (waiters_size (waiters), 3);

    for (unsigned i = 10; i < 12; i++) {
        s_id (id, i);
        assert_int_equal (waiters_add (waiters, bob, id, false, err, sizeof err), 0);
    }
    assert_int_equal (waiters_size (waiters), 5);
    s_id (id, 20);
    err [0] = 0;
    assert_int_equal (waiters_room (waiters, carol, err, sizeof err), -1);
    assert_non_null (strstr (err, "the broker holds 5 waits already (at most 5 from all"));
    assert_int_equal (waiters_add (waiters, carol, id, false, err, sizeof err), -1);
    assert_int_equal (waiters_size (waiters), 5);
    assert_int_equal (waiters_peers (waiters), 2);
    //  A job done makes room again
    async_job_t *job = s_job (10);
    waiters_notify (waiters, job);
    async_job_destroy (&job);
    assert_int_equal (waiters_room (waiters, carol, err, sizeof err), 0);
    assert_int_equal (waiters_add (waiters, carol, id, false, err, sizeof err), 0);
    zframe_destroy (&alice);
    zframe_destroy (&bob);
    zframe_destroy (&carol);
    s_done (&log);
}

//  Peers are probed only when their turn comes; a peer gone has its waits
//  freed at most WAITERS_FREE_TURN a turn, over as many turns as it takes,
//  while a peer still there keeps its waits; a peer left without waits is
//  dropped at its next probe, unprobed
static void
test_waiters_peer_gone_is_freed_in_bounded_steps (void **state)
{
    (void) state;
    s_peer_log_t log;
    waiters_t *waiters = s_waiters (&log);
    enum { GONE_WAITS = 2 * WAITERS_FREE_TURN + WAITERS_FREE_TURN / 2 };
    log.gone = zframe_new ("gone", 4);
    zframe_t *here = zframe_new ("here", 4);
    char id [ASYNC_ID_LEN], err [200];
    for (unsigned i = 0; i < GONE_WAITS; i++) {
        s_id (id, i);
        assert_int_equal (waiters_add (waiters, log.gone, id, false, err, sizeof err), 0);
    }
    s_id (id, GONE_WAITS);
    assert_int_equal (waiters_add (waiters, here, id, false, err, sizeof err), 0);
    assert_int_equal (waiters_size (waiters), GONE_WAITS + 1);

    int64_t mono = async_mono_us ();
    assert_false (waiters_check (waiters, mono));        //  not their turn yet
    assert_int_equal (log.pings, 0);
    mono += WAITERS_PROBE_US + 1000000;
    assert_true (waiters_check (waiters, mono));
    assert_int_equal (log.pings, 2);
    assert_int_equal (waiters_size (waiters), GONE_WAITS + 1 - WAITERS_FREE_TURN);
    assert_true (waiters_check (waiters, mono));
    assert_int_equal (waiters_size (waiters), GONE_WAITS + 1 - 2 * WAITERS_FREE_TURN);
    assert_false (waiters_check (waiters, mono));
    assert_int_equal (waiters_size (waiters), 1);
    assert_int_equal (waiters_peers (waiters), 1);
    assert_int_equal (log.pings, 2);                     //  probed once a turn

    //  The gone peer's jobs have no waiters; the other's is delivered
    async_job_t *job = s_job (0);
    waiters_notify (waiters, job);
    async_job_destroy (&job);
    assert_int_equal (log.deliveries, 0);
    job = s_job (GONE_WAITS);
    waiters_notify (waiters, job);
    async_job_destroy (&job);
    assert_int_equal (log.deliveries, 1);
    assert_true (zframe_eq (log.last_to, here));
    assert_int_equal (waiters_peers (waiters), 1);
    assert_false (waiters_check (waiters, mono + 2 * WAITERS_PROBE_US));
    assert_int_equal (waiters_peers (waiters), 0);
    assert_int_equal (log.pings, 2);
    zframe_destroy (&here);
    s_done (&log);
}

//  The brief JOBs of a turn go as one JOB with `jobs` per peer
static void
test_waiters_brief_jobs_go_once_a_turn (void **state)
{
    (void) state;
    s_peer_log_t log;
    waiters_t *waiters = s_waiters (&log);
    zframe_t *alice = zframe_new ("alice", 5);
    zframe_t *bob = zframe_new ("bob", 3);
    waiters_flush (waiters);
    assert_int_equal (log.jobs, 0);
    for (unsigned i = 0; i < 3; i++) {
        async_job_t *job = s_job (i);
        waiters_push_brief (waiters, alice, job);
        async_job_destroy (&job);
    }
    waiters_flush (waiters);
    assert_int_equal (log.jobs, 1);
    assert_int_equal (log.last_jobs, 3);
    async_job_t *job = s_job (9);
    waiters_push_brief (waiters, bob, job);
    waiters_push_brief (waiters, alice, job);
    async_job_destroy (&job);
    waiters_flush (waiters);
    assert_int_equal (log.jobs, 3);
    assert_int_equal (log.last_jobs, 1);
    waiters_flush (waiters);
    assert_int_equal (log.jobs, 3);
    zframe_destroy (&alice);
    zframe_destroy (&bob);
    s_done (&log);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_waiters_add_notify_forget),
        cmocka_unit_test (test_waiters_progress_is_paced),
        cmocka_unit_test (test_waiters_budgets_refuse_with_a_reason),
        cmocka_unit_test (test_waiters_peer_gone_is_freed_in_bounded_steps),
        cmocka_unit_test (test_waiters_brief_jobs_go_once_a_turn),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
