/*  =========================================================================
    test_every - recurring schedules (broker/every): set, list, ticks,
    exactly-once across restarts, coalescing, delete, validation

    Each test gets a fresh temp dir under $TMPDIR or /tmp, removed
    afterwards (fixture.h). The
    submit callback is a fake that does what the broker's submit does to
    the store: it stages "k<key>" -> id in the same batch, and answers
    with the existing id when a committed key names one.
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
#include <unistd.h>
#include <cmocka.h>

#include "fixture.h"
#include "every.h"
#include "keys.h"
#include "store.h"
#include "async_codec.h"
#include "async_util.h"
#include "asyncmesh/error.h"

#define SECOND  (1000000LL)
#define T0      (1800000000LL * SECOND)         //  2027-01-15, a fixed "now"

#define MAX_CALLS 128

typedef struct {
    store_t *store;
    int calls;                  //  submits asked for
    int created;                //  of which created a new job
    char keys [MAX_CALLS][256];
    char tasks [MAX_CALLS][64];
    char ids [MAX_CALLS][37];
    bool fail;                  //  refuse the next submits
} submitter_t;

typedef struct {
    char dir [FIXTURE_DIR_MAX];       //  the temp dir
    char path [FIXTURE_DIR_MAX + 8];  //  the store inside it
    store_t *store;
    every_t *every;
    submitter_t submitter;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *self = calloc (1, sizeof (fixture_t));
    if (fixture_dir_make (self->dir, sizeof self->dir, "every")) {
        free (self);
        return -1;
    }
    snprintf (self->path, sizeof self->path, "%s/db", self->dir);
    if (store_open (self->path, true, &self->store) != 0
    ||  every_new (self->store, &self->every) != 0) {
        store_destroy (&self->store);
        fixture_dir_remove (self->dir);
        free (self);
        return -1;
    }
    self->submitter.store = self->store;
    *state = self;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    every_destroy (&self->every);
    store_destroy (&self->store);
    int rc = fixture_dir_remove (self->dir);
    free (self);
    return rc;
}

//  ---------------------------------------------------------------------
//  Helpers

//  The fake submit: like the broker's, it stages k<key> -> id
static int
s_submit (void *arg, const msgpack_object *spec, const char *key, char *id_out,
          char *err, size_t err_size)
{
    submitter_t *self = (submitter_t *) arg;
    assert_true (self->calls < MAX_CALLS);
    int call = self->calls++;
    //  A job's idempotency key is at most ASYNC_MAX_NAME bytes (spec.c)
    assert_true (strlen (key) <= ASYNC_MAX_NAME);
    snprintf (self->keys [call], sizeof self->keys [call], "%s", key);
    assert_int_equal (spec->type, MSGPACK_OBJECT_MAP);
    assert_int_equal (async_mp_str (spec, "task", self->tasks [call],
                                    sizeof self->tasks [call]), 0);
    if (self->fail) {
        snprintf (err, err_size, "unknown quota 'q'; create it with 'asyncctl quota set q SIZE'");
        return -1;
    }
    char kkey [KEYS_MAX];
    size_t klen = keys_name (kkey, KEYS_IDEMPOTENT, key);
    char *value;
    size_t size;
    if (store_get (self->store, kkey, klen, &value, &size) == 0) {
        assert_int_equal (size, 36);
        memcpy (id_out, value, 36);
        id_out [36] = 0;
        free (value);
    }
    else {
        async_id_new (id_out);
        store_put (self->store, kkey, klen, id_out, 36);
        self->created++;
    }
    memcpy (self->ids [call], id_out, 37);
    return 0;
}

//  Reset the call record (keeps the failure switch)
static void
s_calls_reset (submitter_t *self)
{
    self->calls = 0;
    self->created = 0;
}

//  A spec map {"task": task, "args": [n]} (the caller destroys it)
static void
s_spec (msgpack_unpacked *unpacked, msgpack_sbuffer *buffer, const char *task, int n)
{
    msgpack_packer pk;
    msgpack_sbuffer_init (buffer);
    msgpack_packer_init (&pk, buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    async_codec_pack_str (&pk, "task");
    async_codec_pack_str (&pk, task);
    async_codec_pack_str (&pk, "args");
    msgpack_pack_array (&pk, 1);
    msgpack_pack_int (&pk, n);
    msgpack_unpacked_init (unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (unpacked, buffer->data, buffer->size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
}

static void
s_set (every_t *every, const char *name, int64_t interval, const char *task, int64_t now)
{
    msgpack_unpacked spec;
    msgpack_sbuffer buffer;
    s_spec (&spec, &buffer, task, 7);
    char err [300] = "";
    int rc = every_set (every, name, interval, &spec.data, 1, now, err, sizeof err);
    msgpack_unpacked_destroy (&spec);
    msgpack_sbuffer_destroy (&buffer);
    if (rc)
        fail_msg ("every_set '%s' refused: %s", name, err);
}

//  The list as JSON (the caller decrefs)
static json_t *
s_list (every_t *every)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    every_pack_list (every, &pk);
    assert_int_equal (async_codec_check (buffer.data, buffer.size), 0);
    json_t *list = async_codec_decode_json (buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    assert_non_null (list);
    assert_true (json_is_array (list));
    return list;
}

//  The list entry of `name`, borrowed from `list`, or NULL
static json_t *
s_entry (json_t *list, const char *name)
{
    size_t index;
    json_t *entry;
    json_array_foreach (list, index, entry) {
        const char *got = json_string_value (json_object_get (entry, "name"));
        if (got && strcmp (got, name) == 0)
            return entry;
    }
    return NULL;
}

static void
s_assert_time (json_t *entry, const char *field, int64_t when)
{
    char want [40];
    async_format_time (when, want, sizeof want);
    const char *got = json_string_value (json_object_get (entry, field));
    if (!got)
        fail_msg ("'%s' is not a string", field);
    assert_string_equal (got, want);
}

static void
s_key_of (char *buf, size_t size, const char *name, int64_t tick)
{
    snprintf (buf, size, "every:%s:%lld", name, (long long) tick);
}

//  Close and reopen store and table (a broker restart). Staged, not
//  committed writes are lost, as when the broker is killed.
static void
s_restart (fixture_t *self)
{
    every_destroy (&self->every);
    store_destroy (&self->store);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    assert_int_equal (every_new (self->store, &self->every), 0);
    self->submitter.store = self->store;
}

//  Does k<key> exist in the committed store?
static bool
s_key_committed (store_t *store, const char *key)
{
    char kkey [KEYS_MAX];
    char *value = NULL;
    size_t size;
    int rc = store_get (store, kkey, keys_name (kkey, KEYS_IDEMPOTENT, key), &value, &size);
    free (value);
    assert_true (rc == 0 || rc == ASYNC_ENOJOB);
    return rc == 0;
}

//  ---------------------------------------------------------------------
//  Set and list

static void
test_every_set_shows_in_list (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    json_t *list = s_list (self->every);
    assert_int_equal (json_array_size (list), 0);
    json_decref (list);

    s_set (self->every, "nightly-report", 90 * SECOND, "report.build", T0);
    s_set (self->every, "a:first.one_2", 2500000, "other.task", T0);
    assert_int_equal (every_size (self->every), 2);
    assert_true (store_pending (self->store) > 0);      //  staged, not committed

    list = s_list (self->every);
    assert_int_equal (json_array_size (list), 2);
    //  Sorted by name
    assert_string_equal (json_string_value (json_object_get (json_array_get (list, 0), "name")),
                         "a:first.one_2");
    json_t *entry = s_entry (list, "nightly-report");
    assert_non_null (entry);
    assert_true (json_is_real (json_object_get (entry, "interval")));
    assert_true (json_real_value (json_object_get (entry, "interval")) == 90.0);
    json_t *spec = json_object_get (entry, "spec");
    assert_true (json_is_object (spec));
    assert_string_equal (json_string_value (json_object_get (spec, "task")), "report.build");
    assert_int_equal (json_integer_value (json_array_get (json_object_get (spec, "args"), 0)), 7);
    s_assert_time (entry, "next", T0 + 90 * SECOND);
    assert_true (json_is_null (json_object_get (entry, "last_job")));
    assert_int_equal (json_integer_value (json_object_get (entry, "ticks")), 0);
    assert_true (json_is_null (json_object_get (entry, "last_error")));
    entry = s_entry (list, "a:first.one_2");
    assert_true (json_real_value (json_object_get (entry, "interval")) == 2.5);
    json_decref (list);

    assert_true (every_next_due (self->every) == T0 + 2500000);
}

static void
test_every_set_replaces_and_starts_over (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "job", 60 * SECOND, "old.task", T0);
    every_tick (self->every, T0 + 60 * SECOND, s_submit, &self->submitter);
    assert_int_equal (self->submitter.calls, 1);

    s_set (self->every, "job", 10 * SECOND, "new.task", T0 + 100 * SECOND);
    assert_int_equal (every_size (self->every), 1);
    json_t *list = s_list (self->every);
    json_t *entry = s_entry (list, "job");
    assert_true (json_real_value (json_object_get (entry, "interval")) == 10.0);
    assert_string_equal (json_string_value (json_object_get (json_object_get (entry, "spec"),
                                                            "task")), "new.task");
    s_assert_time (entry, "next", T0 + 110 * SECOND);
    assert_int_equal (json_integer_value (json_object_get (entry, "ticks")), 0);
    assert_true (json_is_null (json_object_get (entry, "last_job")));
    json_decref (list);
    assert_true (every_next_due (self->every) == T0 + 110 * SECOND);
}

static void
test_every_next_due_is_earliest (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    assert_true (every_next_due (self->every) == INT64_MAX);
    s_set (self->every, "slow", 3600 * SECOND, "t.slow", T0);
    assert_true (every_next_due (self->every) == T0 + 3600 * SECOND);
    s_set (self->every, "fast", 5 * SECOND, "t.fast", T0 + SECOND);
    assert_true (every_next_due (self->every) == T0 + 6 * SECOND);
    assert_int_equal (every_delete (self->every, "fast"), 0);
    assert_true (every_next_due (self->every) == T0 + 3600 * SECOND);
}

//  ---------------------------------------------------------------------
//  Ticks

static void
test_every_tick_before_due_submits_nothing (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "soon", 30 * SECOND, "t.soon", T0);
    assert_int_equal (every_tick (self->every, T0, s_submit, &self->submitter), 0);
    assert_int_equal (every_tick (self->every, T0 + 30 * SECOND - 1, s_submit,
                                  &self->submitter), 0);
    assert_int_equal (self->submitter.calls, 0);
    assert_true (every_next_due (self->every) == T0 + 30 * SECOND);
}

static void
test_every_tick_when_due_submits_once_and_advances (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "beat", 30 * SECOND, "t.beat", T0);
    s_set (self->every, "later", 300 * SECOND, "t.later", T0);
    assert_int_equal (store_commit (self->store, true), 0);

    int64_t tick = T0 + 30 * SECOND;
    assert_int_equal (every_tick (self->every, tick + 5, s_submit, &self->submitter), 1);
    assert_int_equal (self->submitter.calls, 1);
    assert_int_equal (self->submitter.created, 1);
    char want [256];
    s_key_of (want, sizeof want, "beat", tick);
    assert_string_equal (self->submitter.keys [0], want);
    assert_string_equal (self->submitter.tasks [0], "t.beat");
    //  The schedule's write is staged with the submit's, not committed
    assert_true (store_pending (self->store) >= 2);
    assert_true (every_next_due (self->every) == tick + 30 * SECOND);

    json_t *list = s_list (self->every);
    json_t *entry = s_entry (list, "beat");
    assert_string_equal (json_string_value (json_object_get (entry, "last_job")),
                         self->submitter.ids [0]);
    assert_int_equal (json_integer_value (json_object_get (entry, "ticks")), 1);
    s_assert_time (entry, "next", tick + 30 * SECOND);
    entry = s_entry (list, "later");
    assert_int_equal (json_integer_value (json_object_get (entry, "ticks")), 0);
    json_decref (list);

    //  The next tick has its own key
    assert_int_equal (every_tick (self->every, tick + 30 * SECOND, s_submit,
                                  &self->submitter), 1);
    s_key_of (want, sizeof want, "beat", tick + 30 * SECOND);
    assert_string_equal (self->submitter.keys [1], want);
    assert_string_not_equal (self->submitter.ids [1], self->submitter.ids [0]);
}

static void
test_every_two_ticks_at_same_now_submit_once (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "once", 10 * SECOND, "t.once", T0);
    int64_t now = T0 + 10 * SECOND;
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 1);
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 0);
    assert_int_equal (store_commit (self->store, true), 0);
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 0);
    assert_int_equal (every_tick (self->every, now + 10 * SECOND - 1, s_submit,
                                  &self->submitter), 0);
    assert_int_equal (self->submitter.calls, 1);
}

static void
test_every_coalesces_missed_ticks (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "gap", 60 * SECOND, "t.gap", T0);
    //  Down for ten intervals and a bit: ticks T0+60s .. T0+600s fell due;
    //  one job runs for them all, keyed by the first
    int64_t now = T0 + 600 * SECOND + 5 * SECOND;
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 1);
    assert_int_equal (self->submitter.calls, 1);
    char want [256];
    s_key_of (want, sizeof want, "gap", T0 + 60 * SECOND);
    assert_string_equal (self->submitter.keys [0], want);
    //  On the grid, first tick after now
    assert_true (every_next_due (self->every) == T0 + 660 * SECOND);
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 0);
    assert_int_equal (every_tick (self->every, T0 + 660 * SECOND - 1, s_submit,
                                  &self->submitter), 0);
    assert_int_equal (every_tick (self->every, T0 + 660 * SECOND, s_submit,
                                  &self->submitter), 1);
    assert_int_equal (self->submitter.calls, 2);
    json_t *list = s_list (self->every);
    assert_int_equal (json_integer_value (json_object_get (s_entry (list, "gap"), "ticks")), 2);
    json_decref (list);
}

static void
test_every_coalesces_a_long_outage (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "long", 1 * SECOND, "t.long", T0);
    //  Down for 1,000 ticks: one run, and the next tick is the first after
    //  now, on the grid
    int64_t now = T0 + 1000 * SECOND + SECOND / 2;
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 1);
    assert_int_equal (self->submitter.calls, 1);
    char want [256];
    s_key_of (want, sizeof want, "long", T0 + 1 * SECOND);
    assert_string_equal (self->submitter.keys [0], want);
    assert_true (every_next_due (self->every) == T0 + 1001 * SECOND);
}

static void
test_every_failed_submit_advances_and_reports (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "bad", 10 * SECOND, "t.bad", T0);
    self->submitter.fail = true;
    assert_int_equal (every_tick (self->every, T0 + 10 * SECOND, s_submit,
                                  &self->submitter), 1);
    assert_int_equal (self->submitter.calls, 1);
    //  Not retried in a loop: the tick is spent
    assert_int_equal (every_tick (self->every, T0 + 10 * SECOND, s_submit,
                                  &self->submitter), 0);
    assert_true (every_next_due (self->every) == T0 + 20 * SECOND);
    json_t *list = s_list (self->every);
    json_t *entry = s_entry (list, "bad");
    const char *error = json_string_value (json_object_get (entry, "last_error"));
    assert_non_null (error);
    assert_string_contains (error, "unknown quota");
    assert_int_equal (json_integer_value (json_object_get (entry, "ticks")), 0);
    assert_true (json_is_null (json_object_get (entry, "last_job")));
    json_decref (list);

    //  The next good tick clears the error
    self->submitter.fail = false;
    assert_int_equal (every_tick (self->every, T0 + 20 * SECOND, s_submit,
                                  &self->submitter), 1);
    list = s_list (self->every);
    entry = s_entry (list, "bad");
    assert_true (json_is_null (json_object_get (entry, "last_error")));
    assert_int_equal (json_integer_value (json_object_get (entry, "ticks")), 1);
    json_decref (list);
}

//  ---------------------------------------------------------------------
//  Persistence and restarts

static void
test_every_survives_reopen (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "keep", 45 * SECOND, "t.keep", T0);
    s_set (self->every, "also", 7 * SECOND, "t.also", T0);
    assert_int_equal (store_commit (self->store, true), 0);
    json_t *before = s_list (self->every);
    s_restart (self);
    assert_int_equal (every_size (self->every), 2);
    json_t *after = s_list (self->every);
    assert_true (json_equal (before, after));
    json_decref (before);
    json_decref (after);
    assert_true (every_next_due (self->every) == T0 + 7 * SECOND);

    //  A committed tick survives: next, ticks and last job (at T0+45s:
    //  "keep" once, "also" once for its six ticks 7, 14, ... 42 s)
    assert_int_equal (every_tick (self->every, T0 + 45 * SECOND, s_submit, &self->submitter),
                      2);
    assert_int_equal (store_commit (self->store, true), 0);
    before = s_list (self->every);
    s_restart (self);
    after = s_list (self->every);
    assert_true (json_equal (before, after));
    json_t *entry = s_entry (after, "keep");
    assert_int_equal (json_integer_value (json_object_get (entry, "ticks")), 1);
    s_assert_time (entry, "next", T0 + 90 * SECOND);
    //  The two schedules ran in hash order: find the submit of "keep"
    int call = strcmp (self->submitter.tasks [0], "t.keep") == 0 ? 0 : 1;
    assert_string_equal (self->submitter.tasks [call], "t.keep");
    assert_string_equal (json_string_value (json_object_get (entry, "last_job")),
                         self->submitter.ids [call]);
    json_decref (before);
    json_decref (after);
}

static void
test_every_committed_tick_not_rerun_after_restart (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "exact", 60 * SECOND, "t.exact", T0);
    assert_int_equal (store_commit (self->store, true), 0);
    int64_t now = T0 + 60 * SECOND + 1;
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 1);
    char key [256];
    s_key_of (key, sizeof key, "exact", T0 + 60 * SECOND);
    assert_false (s_key_committed (self->store, key));
    assert_int_equal (store_commit (self->store, true), 0);     //  the batch lands
    assert_true (s_key_committed (self->store, key));

    s_restart (self);
    s_calls_reset (&self->submitter);
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 0);
    assert_int_equal (every_tick (self->every, now + 30 * SECOND, s_submit,
                                  &self->submitter), 0);
    assert_int_equal (self->submitter.calls, 0);
    assert_true (every_next_due (self->every) == T0 + 120 * SECOND);
}

static void
test_every_uncommitted_tick_runs_again_after_restart (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "crash", 60 * SECOND, "t.crash", T0);
    assert_int_equal (store_commit (self->store, true), 0);
    int64_t now = T0 + 60 * SECOND + 1;
    assert_int_equal (every_tick (self->every, now, s_submit, &self->submitter), 1);

    //  Killed before the batch committed: neither the job's key nor the
    //  advanced schedule exists, so the tick runs again, with the same key
    s_restart (self);
    char key [256];
    s_key_of (key, sizeof key, "crash", T0 + 60 * SECOND);
    assert_false (s_key_committed (self->store, key));
    assert_true (every_next_due (self->every) == T0 + 60 * SECOND);
    s_calls_reset (&self->submitter);
    //  Later than the first try: still the same tick, the same key
    assert_int_equal (every_tick (self->every, now + 20 * SECOND, s_submit,
                                  &self->submitter), 1);
    assert_int_equal (self->submitter.calls, 1);
    assert_int_equal (self->submitter.created, 1);
    assert_string_equal (self->submitter.keys [0], key);
    assert_int_equal (store_commit (self->store, true), 0);
    assert_true (s_key_committed (self->store, key));

    //  Over several restarts, the tick made exactly one job
    s_restart (self);
    s_calls_reset (&self->submitter);
    assert_int_equal (every_tick (self->every, now + 20 * SECOND, s_submit,
                                  &self->submitter), 0);
    assert_int_equal (self->submitter.created, 0);
}

static void
test_every_key_finds_job_when_schedule_write_lags (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  Belt and braces: if a tick's job committed but the schedule record
    //  did not advance, the rerun finds the key and creates nothing
    s_set (self->every, "lag", 60 * SECOND, "t.lag", T0);
    assert_int_equal (store_commit (self->store, true), 0);
    char key [256];
    s_key_of (key, sizeof key, "lag", T0 + 60 * SECOND);
    char kkey [KEYS_MAX];
    char id [37];
    async_id_new (id);
    store_put (self->store, kkey, keys_name (kkey, KEYS_IDEMPOTENT, key), id, 36);
    assert_int_equal (store_commit (self->store, true), 0);

    assert_int_equal (every_tick (self->every, T0 + 61 * SECOND, s_submit,
                                  &self->submitter), 1);
    assert_int_equal (self->submitter.calls, 1);
    assert_int_equal (self->submitter.created, 0);
    json_t *list = s_list (self->every);
    assert_string_equal (json_string_value (json_object_get (s_entry (list, "lag"),
                                                             "last_job")), id);
    json_decref (list);
}

static void
test_every_skips_malformed_records (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "good", 60 * SECOND, "t.good", T0);
    store_put (self->store, "ebroken", 7, "\xc1", 1);           //  not msgpack
    store_put (self->store, "eempty", 6, "\x80", 1);            //  {}
    assert_int_equal (store_commit (self->store, true), 0);
    s_restart (self);
    assert_int_equal (every_size (self->every), 1);
    json_t *list = s_list (self->every);
    assert_non_null (s_entry (list, "good"));
    json_decref (list);
}

//  A record written by an older broker has no "jobs": read as one job a
//  tick; a "jobs" out of 1..EVERY_JOBS_MAX makes the record malformed
static void
s_put_record (fixture_t *self, const char *name, bool with_jobs, uint64_t jobs)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, with_jobs ? 8 : 7);
    async_codec_pack_str (&pk, "name");
    async_codec_pack_str (&pk, name);
    if (with_jobs) {
        async_codec_pack_str (&pk, "jobs");
        msgpack_pack_uint64 (&pk, jobs);
    }
    async_codec_pack_str (&pk, "interval_us");
    msgpack_pack_int64 (&pk, 4 * SECOND);
    async_codec_pack_str (&pk, "spec");
    msgpack_pack_map (&pk, 1);
    async_codec_pack_str (&pk, "task");
    async_codec_pack_str (&pk, "t.old");
    async_codec_pack_str (&pk, "next_us");
    msgpack_pack_int64 (&pk, T0 + 4 * SECOND);
    async_codec_pack_str (&pk, "last_job");
    msgpack_pack_nil (&pk);
    async_codec_pack_str (&pk, "ticks");
    msgpack_pack_uint64 (&pk, 0);
    async_codec_pack_str (&pk, "last_error");
    msgpack_pack_nil (&pk);
    char key [KEYS_MAX];
    store_put (self->store, key, keys_name (key, KEYS_EVERY, name), buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_every_record_without_jobs (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_put_record (self, "old", false, 0);
    s_put_record (self, "zero", true, 0);
    s_put_record (self, "huge", true, EVERY_JOBS_MAX + 1);
    s_put_record (self, "eight", true, 8);
    assert_int_equal (store_commit (self->store, true), 0);
    s_restart (self);
    assert_int_equal (every_size (self->every), 2);
    assert_true (every_has (self->every, "old"));
    assert_true (every_has (self->every, "eight"));
    //  1 / 4 s and 8 / 4 s
    assert_int_equal (every_rate (self->every, NULL), 250 + 2000);
}

//  ---------------------------------------------------------------------
//  Delete

static void
test_every_delete (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "gone", 10 * SECOND, "t.gone", T0);
    s_set (self->every, "stays", 10 * SECOND, "t.stays", T0);
    assert_int_equal (store_commit (self->store, true), 0);

    assert_int_equal (every_delete (self->every, "gone"), 0);
    assert_int_equal (every_delete (self->every, "gone"), -1);
    assert_int_equal (every_delete (self->every, "never"), -1);
    assert_int_equal (every_delete (self->every, "bad name"), -1);
    assert_int_equal (every_size (self->every), 1);
    json_t *list = s_list (self->every);
    assert_int_equal (json_array_size (list), 1);
    assert_null (s_entry (list, "gone"));
    json_decref (list);

    assert_int_equal (every_tick (self->every, T0 + 10 * SECOND, s_submit,
                                  &self->submitter), 1);
    assert_int_equal (self->submitter.calls, 1);
    assert_string_equal (self->submitter.tasks [0], "t.stays");

    assert_int_equal (store_commit (self->store, true), 0);
    s_restart (self);
    assert_int_equal (every_size (self->every), 1);
    assert_int_equal (every_delete (self->every, "gone"), -1);
}

//  ---------------------------------------------------------------------
//  Validation

static void
s_assert_refused (fixture_t *self, const char *name, int64_t interval,
                  const msgpack_object *spec, const char *want)
{
    char err [300] = "";
    assert_int_equal (every_set (self->every, name, interval, spec, 1, T0, err, sizeof err), -1);
    assert_one_line_error (err);
    assert_string_contains (err, want);
}

static void
test_every_refuses_bad_name_interval_spec (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    msgpack_unpacked spec;
    msgpack_sbuffer buffer;
    s_spec (&spec, &buffer, "t.ok", 1);

    char long_name [EVERY_MAX_NAME + 2];
    memset (long_name, 'n', EVERY_MAX_NAME + 1);
    long_name [EVERY_MAX_NAME + 1] = 0;
    const char *names [] = { "", "a b", "x/y", "tab\there", "caf\xc3\xa9", "new\nline",
                             long_name, NULL };
    for (int i = 0; names [i]; i++)
        s_assert_refused (self, names [i], 60 * SECOND, &spec.data, "bad schedule name");
    s_assert_refused (self, NULL, 60 * SECOND, &spec.data, "bad schedule name");
    //  A bad name is shown, not echoed raw: the err stays one line
    s_assert_refused (self, "new\nline", 60 * SECOND, &spec.data, "'new?line'");

    s_assert_refused (self, "n", SECOND - 1, &spec.data, "bad interval");
    s_assert_refused (self, "n", 0, &spec.data, "bad interval");
    s_assert_refused (self, "n", -60 * SECOND, &spec.data, "bad interval");
    s_assert_refused (self, "n", 366LL * 86400 * SECOND + 1, &spec.data, "bad interval");

    //  The spec must be a map
    msgpack_object array = { .type = MSGPACK_OBJECT_ARRAY };
    s_assert_refused (self, "n", 60 * SECOND, &array, "must be a map");
    s_assert_refused (self, "n", 60 * SECOND, NULL, "must be a map");

    //  A clock before 1970 is refused (tick times are never negative)
    char err [300] = "";
    assert_int_equal (every_set (self->every, "n", 60 * SECOND, &spec.data, 1, -1,
                                 err, sizeof err), -1);
    assert_string_contains (err, "bad clock");

    assert_int_equal (every_size (self->every), 0);
    assert_int_equal (store_pending (self->store), 0);

    //  The edges are accepted
    long_name [EVERY_MAX_NAME] = 0;
    assert_int_equal (every_set (self->every, long_name, SECOND, &spec.data, 1, T0,
                                 err, sizeof err), 0);
    assert_int_equal (every_set (self->every, "Az09_-.:", 366LL * 86400 * SECOND,
                                 &spec.data, 1, T0, err, sizeof err), 0);
    assert_int_equal (every_size (self->every), 2);
    assert_int_equal (store_commit (self->store, true), 0);
    s_restart (self);
    assert_int_equal (every_size (self->every), 2);

    msgpack_unpacked_destroy (&spec);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_every_longest_name_key_fits (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  The longest name at a 19-digit tick time: its key still fits the
    //  200 bytes a job's key may have (the fake submit asserts it)
    char name [EVERY_MAX_NAME + 1];
    memset (name, 'x', EVERY_MAX_NAME);
    name [EVERY_MAX_NAME] = 0;
    int64_t late = 9000000000000000000LL;
    s_set (self->every, name, SECOND, "t.long", late - SECOND);
    assert_int_equal (every_tick (self->every, late, s_submit, &self->submitter), 1);
    assert_int_equal (self->submitter.created, 1);
    assert_int_equal (strlen (self->submitter.keys [0]), 6 + EVERY_MAX_NAME + 1 + 19);
    assert_int_equal (strlen (self->submitter.keys [0]), ASYNC_MAX_NAME);
}

//  A spec of `jobs` jobs a tick, set at `now`
static void
s_set_jobs (every_t *every, const char *name, int64_t interval, size_t jobs, int64_t now)
{
    msgpack_unpacked spec;
    msgpack_sbuffer buffer;
    s_spec (&spec, &buffer, "t.many", 1);
    char err [300] = "";
    int rc = every_set (every, name, interval, &spec.data, jobs, now, err, sizeof err);
    msgpack_unpacked_destroy (&spec);
    msgpack_sbuffer_destroy (&buffer);
    if (rc)
        fail_msg ("every_set '%s' refused: %s", name, err);
}

//  All schedules' jobs a second, in thousandths; kept across a restart
static void
test_every_rate_sums_schedules (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    assert_int_equal (every_rate (self->every, NULL), 0);
    s_set_jobs (self->every, "a", SECOND, 100, T0);         //  100 a second
    s_set_jobs (self->every, "b", 3 * SECOND, 1, T0);       //  0.333.. rounded up
    s_set_jobs (self->every, "c", 10 * SECOND, 5, T0);      //  0.5
    assert_int_equal (every_rate (self->every, NULL), 100000 + 334 + 500);
    assert_int_equal (every_rate (self->every, "a"), 334 + 500);
    assert_int_equal (every_rate (self->every, "nosuch"), 100000 + 334 + 500);
    //  Replaced: its new rate counts
    s_set_jobs (self->every, "a", 2 * SECOND, 10, T0);
    assert_int_equal (every_rate (self->every, NULL), 5000 + 334 + 500);
    assert_int_equal (every_delete (self->every, "c"), 0);
    assert_int_equal (every_rate (self->every, NULL), 5000 + 334);
    assert_int_equal (store_commit (self->store, true), 0);
    s_restart (self);
    assert_int_equal (every_rate (self->every, NULL), 5000 + 334);

    //  Jobs a tick: 1 to EVERY_JOBS_MAX
    msgpack_unpacked spec;
    msgpack_sbuffer buffer;
    s_spec (&spec, &buffer, "t.x", 1);
    char err [300] = "";
    assert_int_equal (every_set (self->every, "z", SECOND, &spec.data, 0, T0, err,
                                 sizeof err), -1);
    assert_string_contains (err, "jobs a tick");
    assert_int_equal (every_set (self->every, "z", SECOND, &spec.data, EVERY_JOBS_MAX + 1,
                                 T0, err, sizeof err), -1);
    assert_int_equal (every_size (self->every), 2);
    msgpack_unpacked_destroy (&spec);
    msgpack_sbuffer_destroy (&buffer);
}

//  A bounded call runs schedules until they made max_jobs jobs; the rest
//  stay due and run on the next calls, each once
static void
test_every_tick_some_is_bounded (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char name [16];
    for (int i = 0; i < 50; i++) {
        snprintf (name, sizeof name, "s%02d", i);
        s_set_jobs (self->every, name, 10 * SECOND, 3, T0);
    }
    int64_t now = T0 + 10 * SECOND;
    int64_t mono = 1000 * SECOND;
    //  3 jobs a schedule: 4 schedules make 12 >= 10
    assert_int_equal (every_tick_some (self->every, now, mono, 10, s_submit,
                                       &self->submitter), 4);
    assert_true (every_next_due (self->every) <= now);
    size_t runs = 4, turns = 1;
    while (every_next_due (self->every) <= now) {
        size_t ran = every_tick_some (self->every, now, mono, 10, s_submit,
                                      &self->submitter);
        assert_true (ran >= 1 && ran <= 4);
        runs += ran;
        turns++;
        assert_true (turns <= 13);
    }
    assert_int_equal (runs, 50);
    assert_int_equal (self->submitter.calls, 50);
    assert_int_equal (self->submitter.created, 50);
    assert_true (every_next_due (self->every) == T0 + 20 * SECOND);
    //  A bound below one schedule's jobs still runs one
    assert_int_equal (every_tick_some (self->every, T0 + 20 * SECOND, mono, 1, s_submit,
                                       &self->submitter), 1);
}

//  The wall clock stepped back: a schedule whose next tick is more than
//  one interval ahead is re-anchored to now + interval, and ticks again
//  one interval later; one within an interval keeps its grid
static void
test_every_clock_back_reanchors (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_set (self->every, "fast", SECOND, "t.fast", T0);
    s_set (self->every, "slow", 100 * SECOND, "t.slow", T0);
    int64_t mono = 1000 * SECOND;
    //  The clock jumps ten years ahead: one coalesced tick each
    int64_t ahead = T0 + 315360000LL * SECOND;
    assert_int_equal (every_tick_some (self->every, T0, mono, SIZE_MAX, s_submit,
                                       &self->submitter), 0);
    assert_int_equal (every_tick_some (self->every, ahead, mono, SIZE_MAX, s_submit,
                                       &self->submitter), 2);
    assert_true (every_next_due (self->every) > ahead);
    //  ... and is put right: both are re-anchored, and tick one interval on
    int64_t now = T0 + 2 * SECOND;
    assert_int_equal (every_tick_some (self->every, now, mono, SIZE_MAX, s_submit,
                                       &self->submitter), 0);
    assert_true (every_next_due (self->every) == now + SECOND);
    assert_int_equal (every_tick_some (self->every, now + SECOND, mono, SIZE_MAX, s_submit,
                                       &self->submitter), 1);
    assert_string_equal (self->submitter.tasks [2], "t.fast");
    //  Kept across a restart (staged)
    assert_int_equal (store_commit (self->store, true), 0);
    s_restart (self);
    json_t *list = s_list (self->every);
    char want [40];
    async_format_time (now + 100 * SECOND, want, sizeof want);
    assert_string_equal (json_string_value (json_object_get (s_entry (list, "slow"), "next")),
                         want);
    json_decref (list);

    //  A step back of less than an interval keeps the grid
    assert_int_equal (every_delete (self->every, "fast"), 0);
    assert_int_equal (every_delete (self->every, "slow"), 0);
    s_calls_reset (&self->submitter);
    s_set (self->every, "grid", 100 * SECOND, "t.grid", T0);
    assert_int_equal (every_tick_some (self->every, T0 + 50 * SECOND, mono, SIZE_MAX, s_submit,
                                       &self->submitter), 0);
    assert_int_equal (every_tick_some (self->every, T0 + 10 * SECOND, mono, SIZE_MAX, s_submit,
                                       &self->submitter), 0);
    list = s_list (self->every);
    async_format_time (T0 + 100 * SECOND, want, sizeof want);
    assert_string_equal (json_string_value (json_object_get (s_entry (list, "grid"), "next")),
                         want);
    json_decref (list);

    //  Stepped back while the broker was down: the first call re-anchors
    assert_int_equal (store_commit (self->store, true), 0);
    s_restart (self);
    assert_int_equal (every_tick_some (self->every, T0 - 3600 * SECOND, mono, SIZE_MAX,
                                       s_submit, &self->submitter), 0);
    assert_true (every_next_due (self->every) == T0 - 3600 * SECOND + 100 * SECOND);
    assert_int_equal (self->submitter.calls, 0);
}

static void
test_every_name_valid (void **state)
{
    (void) state;
    assert_true (every_name_valid ("a"));
    assert_true (every_name_valid ("backup:db-1.daily_x"));
    assert_false (every_name_valid (NULL));
    assert_false (every_name_valid (""));
    assert_false (every_name_valid ("a,b"));
    assert_false (every_name_valid ("a*"));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
        T (test_every_set_shows_in_list),
        T (test_every_set_replaces_and_starts_over),
        T (test_every_next_due_is_earliest),
        T (test_every_tick_before_due_submits_nothing),
        T (test_every_tick_when_due_submits_once_and_advances),
        T (test_every_two_ticks_at_same_now_submit_once),
        T (test_every_coalesces_missed_ticks),
        T (test_every_coalesces_a_long_outage),
        T (test_every_failed_submit_advances_and_reports),
        T (test_every_survives_reopen),
        T (test_every_committed_tick_not_rerun_after_restart),
        T (test_every_uncommitted_tick_runs_again_after_restart),
        T (test_every_key_finds_job_when_schedule_write_lags),
        T (test_every_skips_malformed_records),
        T (test_every_record_without_jobs),
        T (test_every_delete),
        T (test_every_refuses_bad_name_interval_spec),
        T (test_every_longest_name_key_fits),
        T (test_every_rate_sums_schedules),
        T (test_every_tick_some_is_bounded),
        T (test_every_clock_back_reanchors),
        cmocka_unit_test (test_every_name_valid),
#undef T
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
