/*  =========================================================================
    test_commit - the broker's group commit (broker/commit): replies wait
    for their batch, a batch staged behind the one in flight goes after
    it, outcomes' ACKs wait for a sync up to the defer time, staged keys
    and bindings are found until written, the dispatch veto, and a failed
    write that releases nothing

    Each test gets a real store in a fresh temp dir (fixture.h). A failed
    write is made with -Wl,--wrap of store_commit and store_commit_finish
    (tests/CMakeLists.txt): the write happens, its outcome is replaced.
    =========================================================================
*/
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixture.h"
#include "commit.h"
#include "keys.h"
#include "async_util.h"
#include "asyncmesh/error.h"

//  ---------------------------------------------------------------------
//  Fault injection: a write that fails (its outcome only)

static bool s_fail_writes;

int __real_store_commit (store_t *self, bool durable);
int __real_store_commit_finish (store_t *self);
int __wrap_store_commit (store_t *self, bool durable);
int __wrap_store_commit_finish (store_t *self);

int
__wrap_store_commit (store_t *self, bool durable)
{
    int rc = __real_store_commit (self, durable);
    return s_fail_writes ? ASYNC_ESTORE : rc;
}

int
__wrap_store_commit_finish (store_t *self)
{
    int rc = __real_store_commit_finish (self);
    return s_fail_writes ? ASYNC_ESTORE : rc;
}

//  ---------------------------------------------------------------------

typedef struct {
    char dir [FIXTURE_DIR_MAX];       //  the temp dir
    char path [FIXTURE_DIR_MAX + 8];  //  the store inside it
    store_t *store;
    dispatch_t *dispatch;
    metrics_t *metrics;
    commit_t *commit;
    zlistx_t *jobs;                 //  async_job_t *: the tests' jobs (owned)
    char released [256];            //  the replies released, in order: "A,B,"
    const char *must_be_stored;     //  a job whose record each release must find
    bool stored_at_release;         //  ... and did, at every release
    int written;                    //  batches written (callbacks.written)
    size_t written_jobs;            //  the jobs they changed
    size_t written_read;            //  ... and read
    int dispatched;                 //  callbacks.dispatch
    const char *veto_id;            //  at callbacks.dispatch: commit_veto of this job
    bool vetoed_at_dispatch;
} fixture_t;

//  Whether the store holds the record of job `id`
static bool
s_job_stored (store_t *store, const char *id)
{
    char key [40];
    char *value = NULL;
    size_t size;
    int rc = store_get (store, key, keys_id (key, KEYS_JOB, id), &value, &size);
    free (value);
    return rc == 0;
}

static void
s_release (void *arg, zmsg_t **zmsg_p)
{
    fixture_t *self = (fixture_t *) arg;
    char *text = zmsg_popstr (*zmsg_p);
    size_t used = strlen (self->released);
    snprintf (self->released + used, sizeof self->released - used, "%s,", text);
    free (text);
    if (self->must_be_stored && !s_job_stored (self->store, self->must_be_stored))
        self->stored_at_release = false;
    zmsg_destroy (zmsg_p);
}

static void
s_written (void *arg, zlistx_t *read, zlistx_t *changed)
{
    fixture_t *self = (fixture_t *) arg;
    self->written++;
    self->written_jobs += zlistx_size (changed);
    self->written_read += zlistx_size (read);
}

static void
s_dispatch (void *arg)
{
    fixture_t *self = (fixture_t *) arg;
    self->dispatched++;
    if (self->veto_id)
        self->vetoed_at_dispatch = commit_veto (self->commit, self->veto_id);
}

static uint64_t
s_seq (void *arg)
{
    (void) arg;
    return 42;
}

static int
s_setup_with (void **state, bool sync)
{
    fixture_t *self = calloc (1, sizeof (fixture_t));
    if (fixture_dir_make (self->dir, sizeof self->dir, "commit")) {
        free (self);
        return -1;
    }
    snprintf (self->path, sizeof self->path, "%s/db", self->dir);
    if (store_open (self->path, sync, &self->store) != 0) {
        fixture_dir_remove (self->dir);
        free (self);
        return -1;
    }
    self->dispatch = dispatch_new ();
    self->metrics = metrics_new ();
    commit_callbacks_t callbacks = { .arg = self, .release = s_release,
                                     .written = s_written, .dispatch = s_dispatch,
                                     .seq = s_seq };
    self->commit = commit_new (self->store, self->dispatch, self->metrics, sync,
                               &callbacks);
    self->jobs = zlistx_new ();
    zlistx_set_destructor (self->jobs, (zlistx_destructor_fn *) async_job_destroy);
    self->stored_at_release = true;
    s_fail_writes = false;
    *state = self;
    return 0;
}

static int
s_setup (void **state)
{
    return s_setup_with (state, true);
}

static int
s_setup_nosync (void **state)
{
    return s_setup_with (state, false);
}

static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_fail_writes = false;
    commit_destroy (&self->commit);
    assert_null (self->commit);
    zlistx_destroy (&self->jobs);
    metrics_destroy (&self->metrics);
    dispatch_destroy (&self->dispatch);
    store_destroy (&self->store);
    int rc = fixture_dir_remove (self->dir);
    free (self);
    return rc;
}

//  A new job, staged with the batch (the fixture owns it)
static async_job_t *
s_stage_new (fixture_t *self)
{
    async_job_t *job = async_job_new ();
    async_job_set_str (&job->task, "t");
    async_job_set_str (&job->queue, "default");
    zlistx_add_end (self->jobs, job);
    commit_stage_job (self->commit, job, true);
    return job;
}

static void
s_reply (fixture_t *self, const char *text)
{
    zmsg_t *zmsg = zmsg_new ();
    zmsg_addstr (zmsg, text);
    commit_reply (self->commit, zmsg);
}

//  Wait (at most 5 s) until the write in flight is done, as the broker's
//  loop does (commit_fd), without collecting it
static void
s_wait_written (fixture_t *self)
{
    struct pollfd pfd = { commit_fd (self->commit), POLLIN, 0 };
    assert_int_equal (poll (&pfd, 1, 5000), 1);
}

//  ---------------------------------------------------------------------

//  A reply waiting for a synced batch is released only once the batch is
//  written: not while it is in flight, even once the writer is done, and
//  then with its job's record in the store
static void
test_commit_reply_waits_for_its_batch (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    async_job_t *job = s_stage_new (self);
    commit_durable (self->commit);
    s_reply (self, "A");
    assert_int_equal (commit_replies (self->commit), 1);
    self->must_be_stored = job->id;
    assert_int_equal (commit_start (self->commit, false), 0);
    assert_true (commit_busy (self->commit));
    assert_int_equal (commit_replies (self->commit), 0);
    s_wait_written (self);
    assert_string_equal (self->released, "");
    assert_int_equal (self->written, 0);
    assert_int_equal (commit_finish (self->commit), 0);
    assert_false (commit_busy (self->commit));
    assert_string_equal (self->released, "A,");
    assert_true (self->stored_at_release);
    assert_int_equal (self->written, 1);
    assert_int_equal (self->written_jobs, 1);
    assert_false (job->dirty);
    assert_false (commit_failed (self->commit));
    //  Nothing in flight: nothing to finish
    assert_int_equal (commit_finish (self->commit), 0);
    assert_int_equal (self->written, 1);
}

//  Group commit: a batch staged while one is in flight stays staged until
//  that one is written, then goes after it, and its replies after its
static void
test_commit_groups_a_batch_behind_the_one_in_flight (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_stage_new (self);
    commit_durable (self->commit);
    s_reply (self, "A");
    assert_int_equal (commit_start (self->commit, false), 0);
    async_job_t *second = s_stage_new (self);
    commit_durable (self->commit);
    s_reply (self, "B");
    //  One write at a time: the second batch grows meanwhile
    assert_int_equal (commit_start (self->commit, false), 0);
    assert_int_equal (commit_staged_jobs (self->commit), 1);
    assert_int_equal (commit_replies (self->commit), 1);
    assert_true (commit_changing (self->commit, second));
    assert_string_equal (self->released, "");
    assert_int_equal (commit_finish (self->commit), 0);
    assert_string_equal (self->released, "A,");
    assert_false (s_job_stored (self->store, second->id));
    assert_int_equal (commit_start (self->commit, false), 0);
    assert_int_equal (commit_staged_jobs (self->commit), 0);
    assert_true (commit_changing (self->commit, second));       //  in flight
    assert_string_equal (self->released, "A,");
    assert_int_equal (commit_finish (self->commit), 0);
    assert_string_equal (self->released, "A,B,");
    assert_true (s_job_stored (self->store, second->id));
    assert_false (commit_changing (self->commit, second));
    assert_int_equal (self->written, 2);
}

//  An outcome from a node is written at once, but its ACK waits for a
//  sync: at most COMMIT_SYNC_DEFER_US, then a batch of its own syncs it
static void
test_commit_defers_an_outcome_until_a_sync (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    async_job_t *job = s_stage_new (self);
    commit_outcome (self->commit, true);
    s_reply (self, "ack");
    assert_int_equal (commit_sync_due_us (self->commit), -1);
    int64_t start = async_mono_us ();
    assert_int_equal (commit_start (self->commit, true), 0);
    assert_true (s_job_stored (self->store, job->id));          //  written
    assert_string_equal (self->released, "");                   //  not synced
    int64_t due = commit_sync_due_us (self->commit);
    assert_true (due >= 0 && due <= COMMIT_SYNC_DEFER_US);
    //  A batch with nothing to say does not sync it early
    assert_int_equal (commit_start (self->commit, true), 0);
    if (async_mono_us () - start < COMMIT_SYNC_DEFER_US)
        assert_string_equal (self->released, "");
    while (commit_sync_due_us (self->commit) > 0)
        usleep (200);
    assert_true (async_mono_us () - start >= COMMIT_SYNC_DEFER_US);
    assert_int_equal (commit_start (self->commit, true), 0);
    assert_string_equal (self->released, "ack,");
    assert_int_equal (commit_sync_due_us (self->commit), -1);
}

//  A synced batch (a submit's) releases the ACKs waiting for a sync
//  before their time, and before its own replies
static void
test_commit_synced_batch_takes_deferred_acks (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_stage_new (self);
    commit_outcome (self->commit, true);
    s_reply (self, "ack");
    assert_int_equal (commit_start (self->commit, true), 0);
    assert_string_equal (self->released, "");
    s_stage_new (self);
    commit_durable (self->commit);
    s_reply (self, "accepted");
    assert_int_equal (commit_start (self->commit, false), 0);
    assert_int_equal (commit_finish (self->commit), 0);
    assert_string_equal (self->released, "ack,accepted,");
    assert_int_equal (commit_sync_due_us (self->commit), -1);
}

//  Without sync every write is as durable as it gets: an outcome's ACK
//  goes once written
static void
test_commit_without_sync_defers_nothing (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_stage_new (self);
    commit_outcome (self->commit, true);
    s_reply (self, "ack");
    assert_int_equal (commit_start (self->commit, true), 0);
    assert_string_equal (self->released, "ack,");
    assert_int_equal (commit_sync_due_us (self->commit), -1);
}

//  Staged idempotency keys and uuid bindings are found while staged and
//  in flight, and not after: the store has them then
static void
test_commit_finds_staged_keys_until_written (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    const char *id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const char *uuid = "0190a1b2-c3d4-7e5f-8a9b-000000000001";
    uint8_t hash [32];
    memset (hash, 7, sizeof hash);
    assert_null (commit_key_find (self->commit, "k1"));
    commit_key_stage (self->commit, "k1", id);
    commit_binding_stage (self->commit, uuid, hash, sizeof hash);
    assert_true (commit_staged_bytes (self->commit) > 0);
    assert_string_equal (commit_key_find (self->commit, "k1"), id);
    assert_memory_equal (commit_binding_find (self->commit, uuid), hash, sizeof hash);
    commit_durable (self->commit);
    assert_int_equal (commit_start (self->commit, false), 0);
    assert_true (commit_busy (self->commit));
    assert_string_equal (commit_key_find (self->commit, "k1"), id);
    assert_memory_equal (commit_binding_find (self->commit, uuid), hash, sizeof hash);
    assert_null (commit_key_find (self->commit, "k2"));
    assert_int_equal (commit_finish (self->commit), 0);
    assert_null (commit_key_find (self->commit, "k1"));
    assert_null (commit_binding_find (self->commit, uuid));
    //  In the store now
    char key [KEYS_MAX];
    char *value = NULL;
    size_t size = 0;
    assert_int_equal (store_get (self->store, key, keys_name (key, KEYS_IDEMPOTENT, "k1"),
                                 &value, &size), 0);
    assert_int_equal (size, 36);
    assert_memory_equal (value, id, 36);
    free (value);
    char bkey [KEYS_ID_SIZE];
    assert_int_equal (store_get (self->store, bkey, keys_binding (bkey, uuid), &value,
                                 &size), 0);
    assert_int_equal (size, sizeof hash);
    assert_memory_equal (value, hash, sizeof hash);
    free (value);
}

//  The dispatch veto holds back a job created, or whose attempt ended, in
//  a batch staged or in flight, and clears once it is written
static void
test_commit_veto_clears_after_the_write (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    async_job_t *job = s_stage_new (self);
    const char *ended = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    commit_hold (self->commit, ended);
    assert_true (commit_veto (self->commit, job->id));
    assert_true (commit_veto (self->commit, ended));
    assert_false (commit_veto (self->commit, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"));
    assert_int_equal (commit_start (self->commit, false), 0);
    assert_true (commit_veto (self->commit, job->id));          //  in flight
    assert_true (commit_veto (self->commit, ended));
    assert_int_equal (commit_finish (self->commit), 0);
    assert_false (commit_veto (self->commit, job->id));
    assert_false (commit_veto (self->commit, ended));
    //  A job read from the store and changed again is not held back
    commit_stage_job (self->commit, job, false);
    assert_false (commit_veto (self->commit, job->id));
}

//  A lone request's synced batch is written twice: first unsynced, so
//  that the jobs it held back are handed out at once (the dispatch sees
//  them written), then synced, and its replies go after the sync
static void
test_commit_lone_dispatches_what_it_held_back (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    async_job_t *job = s_stage_new (self);
    commit_durable (self->commit);
    s_reply (self, "accepted");
    self->veto_id = job->id;
    self->vetoed_at_dispatch = true;
    self->must_be_stored = job->id;
    assert_int_equal (commit_lone (self->commit), 0);
    assert_int_equal (self->dispatched, 1);
    assert_false (self->vetoed_at_dispatch);
    assert_string_equal (self->released, "accepted,");
    assert_true (self->stored_at_release);
    assert_int_equal (commit_sync_due_us (self->commit), -1);
    //  Nothing held back, nothing to sync: no second dispatch
    s_reply (self, "ok");
    assert_int_equal (commit_lone (self->commit), 0);
    assert_int_equal (self->dispatched, 1);
    assert_string_equal (self->released, "accepted,ok,");
}

//  A job the dispatch held back (commit_veto) makes commit_lone dispatch
//  again once it is written, unless cleared by a new dispatch
static void
test_commit_lone_dispatches_after_a_veto (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    async_job_t *job = s_stage_new (self);
    commit_veto_clear (self->commit);
    assert_true (commit_veto (self->commit, job->id));
    assert_int_equal (commit_lone (self->commit), 0);
    assert_int_equal (self->dispatched, 1);
    commit_veto_clear (self->commit);
    commit_stage_job (self->commit, job, false);
    assert_int_equal (commit_lone (self->commit), 0);
    assert_int_equal (self->dispatched, 1);
}

//  A failed write releases nothing, on the writer or on this thread, and
//  says so (commit_failed); the jobs stay with the batch
static void
test_commit_failed_write_releases_nothing (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_stage_new (self);
    commit_durable (self->commit);
    s_reply (self, "A");
    s_fail_writes = true;
    assert_int_equal (commit_start (self->commit, false), 0);
    assert_int_equal (commit_finish (self->commit), ASYNC_ESTORE);
    assert_true (commit_failed (self->commit));
    assert_string_equal (self->released, "");
    assert_int_equal (self->written, 0);
}

static void
test_commit_failed_write_here_releases_nothing (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_stage_new (self);
    commit_outcome (self->commit, false);
    s_reply (self, "A");
    s_fail_writes = true;
    assert_int_equal (commit_start (self->commit, true), ASYNC_ESTORE);
    assert_true (commit_failed (self->commit));
    assert_string_equal (self->released, "");
    assert_int_equal (self->written, 0);
}

//  At a stop, the batch in flight is finished and what is staged, or
//  waits for a sync, is written synced and released
static void
test_commit_stop_writes_and_syncs_everything (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_stage_new (self);
    commit_outcome (self->commit, true);
    s_reply (self, "ack");
    assert_int_equal (commit_start (self->commit, true), 0);
    s_stage_new (self);
    commit_durable (self->commit);
    s_reply (self, "A");
    assert_int_equal (commit_start (self->commit, false), 0);
    async_job_t *last = s_stage_new (self);
    commit_outcome (self->commit, true);
    s_reply (self, "B");
    assert_int_equal (commit_stop (self->commit), 0);
    assert_string_equal (self->released, "ack,A,B,");
    assert_true (s_job_stored (self->store, last->id));
    assert_false (commit_busy (self->commit));
    assert_int_equal (commit_sync_due_us (self->commit), -1);
}

//  Jobs read for a batch are given back when it is written; one forgotten
//  (purged) is not
static void
test_commit_gives_back_what_it_read (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    async_job_t *kept = async_job_new ();
    async_job_t *purged = async_job_new ();
    zlistx_add_end (self->jobs, kept);
    zlistx_add_end (self->jobs, purged);
    commit_loaded (self->commit, kept);
    commit_loaded (self->commit, purged);
    commit_forget (self->commit, purged);
    assert_false (commit_changing (self->commit, kept));
    assert_int_equal (commit_start (self->commit, true), 0);
    assert_int_equal (self->written, 1);
    assert_int_equal (self->written_jobs, 0);
    assert_int_equal (self->written_read, 1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
        T (test_commit_reply_waits_for_its_batch),
        T (test_commit_groups_a_batch_behind_the_one_in_flight),
        T (test_commit_defers_an_outcome_until_a_sync),
        T (test_commit_synced_batch_takes_deferred_acks),
        cmocka_unit_test_setup_teardown (test_commit_without_sync_defers_nothing,
                                         s_setup_nosync, s_teardown),
        T (test_commit_finds_staged_keys_until_written),
        T (test_commit_veto_clears_after_the_write),
        T (test_commit_lone_dispatches_what_it_held_back),
        T (test_commit_lone_dispatches_after_a_veto),
        T (test_commit_failed_write_releases_nothing),
        T (test_commit_failed_write_here_releases_nothing),
        T (test_commit_stop_writes_and_syncs_everything),
        T (test_commit_gives_back_what_it_read),
#undef T
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
