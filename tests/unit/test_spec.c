/*  =========================================================================
    test_spec - job specs into job records, and retry policies
    (broker/spec)
    =========================================================================
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <math.h>
#include <cmocka.h>
#include "fixture.h"

#include "spec.h"
#include "async_util.h"

#define SEC     INT64_C (1000000)
#define NOW     INT64_C (1795730400000000)      //  2026-11-26T22:00:00Z

//  ---------------------------------------------------------------------
//  Helpers

typedef struct {
    zlistx_t *jobs;
    char err [256];
    int rc;
} parsed_t;

static zlistx_t *
s_job_list (void)
{
    zlistx_t *jobs = zlistx_new ();
    zlistx_set_destructor (jobs, (zlistx_destructor_fn *) async_job_destroy);
    return jobs;
}

//  Parse a spec given as msgpack bytes
static void
s_parse_bytes (parsed_t *self, const void *data, size_t size)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, data, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    self->jobs = s_job_list ();
    memset (self->err, 0, sizeof self->err);
    self->rc = spec_parse (&unpacked.data, NOW, self->jobs, self->err, sizeof self->err);
    msgpack_unpacked_destroy (&unpacked);       //  jobs hold copies
}

//  Parse a spec given as JSON text
static void
s_parse (parsed_t *self, const char *text)
{
    json_error_t error;
    json_t *value = json_loads (text, JSON_DECODE_ANY, &error);
    if (!value)
        fail_msg ("bad JSON in test: %s (%s)", text, error.text);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    json_decref (value);
    s_parse_bytes (self, data, size);
    free (data);
}

static void
s_done (parsed_t *self)
{
    zlistx_destroy (&self->jobs);
}

static async_job_t *
s_job (parsed_t *self, size_t index)
{
    async_job_t *job = (async_job_t *) zlistx_first (self->jobs);
    for (size_t i = 0; job && i < index; i++)
        job = (async_job_t *) zlistx_next (self->jobs);
    assert_non_null (job);
    return job;
}

static void
s_assert_blob_json (const async_blob_t *blob, const char *want_text)
{
    json_t *got = async_codec_decode_json (blob->data, blob->size);
    json_t *want = json_loads (want_text, JSON_DECODE_ANY, NULL);
    assert_non_null (want);
    if (!got || !json_equal (got, want)) {
        char *text = got ? json_dumps (got, JSON_ENCODE_ANY) : NULL;
        fail_msg ("blob is %s, want %s", text ? text : "(none)", want_text);
    }
    json_decref (got);
    json_decref (want);
}

//  The spec must be refused with a one-line reason and no jobs
static void
s_assert_refused_parsed (parsed_t *parsed, const char *what)
{
    if (parsed->rc != -1)
        fail_msg ("spec %s was accepted (%zu jobs)", what, zlistx_size (parsed->jobs));
    if (!*parsed->err)
        fail_msg ("spec %s was refused without a reason", what);
    if (strchr (parsed->err, '\n'))
        fail_msg ("spec %s was refused with a multi-line reason: %s", what, parsed->err);
    if (zlistx_size (parsed->jobs) != 0)
        fail_msg ("spec %s was refused but left %zu jobs", what,
                  zlistx_size (parsed->jobs));
}

static void
s_assert_refused (const char *text)
{
    parsed_t parsed;
    s_parse (&parsed, text);
    s_assert_refused_parsed (&parsed, text);
    s_done (&parsed);
}

//  ---------------------------------------------------------------------
//  Simple specs

static void
test_spec_simple_task (void **state)
{
    (void) state;
    parsed_t parsed;
    s_parse (&parsed,
        "{\"task\": \"pi.generate_sample\", \"args\": [1000], "
        " \"kwargs\": {\"size\": 5, \"name\": \"x\"}, \"queue\": \"bulk\", "
        " \"priority\": 3, \"begin_after\": \"+30s\", \"begin_by\": \"5m\", "
        " \"timeout\": 90, \"retry\": \"never\", \"quotas\": [\"db\"], "
        " \"key\": \"nightly\", \"annotations\": {\"owner\": \"ops\"}, "
        " \"callbacks\": [{\"on\": \"failure\", \"task\": \"testing.handle\"}]}");
    assert_int_equal (parsed.rc, 0);
    //  The job, then its callback: a record from the start
    assert_int_equal (zlistx_size (parsed.jobs), 2);
    async_job_t *job = s_job (&parsed, 0);
    assert_true (async_id_valid (job->id));
    assert_int_equal (job->kind, ASYNC_KIND_TASK);
    assert_int_equal (job->role, ASYNC_ROLE_JOB);
    assert_int_equal (job->status, ASYNC_PENDING);
    assert_string_equal (job->task, "pi.generate_sample");
    s_assert_blob_json (&job->args, "[1000]");
    s_assert_blob_json (&job->kwargs, "{\"size\": 5, \"name\": \"x\"}");
    assert_string_equal (job->queue, "bulk");
    assert_int_equal (job->priority, 3);
    assert_true (job->submitted == NOW);
    assert_true (job->begin_after == NOW + 30 * SEC);
    assert_true (job->begin_by == 300 * SEC);
    assert_true (job->timeout == 90 * SEC);
    assert_string_equal (job->retry, "never");
    s_assert_blob_json (&job->quotas, "[\"db\"]");
    assert_string_equal (job->key, "nightly");
    s_assert_blob_json (&job->annotations, "{\"owner\": \"ops\"}");
    assert_int_equal (job->ncallbacks, 1);
    async_job_t *callback = s_job (&parsed, 1);
    assert_string_equal (job->callbacks [0], callback->id);
    assert_int_equal (callback->role, ASYNC_ROLE_CALLBACK);
    assert_int_equal (callback->on, 2);                  //  failure
    assert_string_equal (callback->task, "testing.handle");
    assert_string_equal (callback->parent, job->id);
    assert_string_equal (callback->queue, "bulk");      //  the job's queue
    assert_null (callback->retry);                       //  forever, by role
    assert_string_equal (job->parent, "");
    assert_int_equal (job->nchildren, 0);
    s_done (&parsed);
}

static void
test_spec_minimal_task_defaults (void **state)
{
    (void) state;
    parsed_t parsed;
    s_parse (&parsed, "{\"task\": \"time.time\"}");
    assert_int_equal (parsed.rc, 0);
    assert_int_equal (zlistx_size (parsed.jobs), 1);
    async_job_t *job = s_job (&parsed, 0);
    assert_string_equal (job->task, "time.time");
    assert_string_equal (job->queue, "default");
    assert_int_equal (job->priority, 0);
    assert_true (job->begin_after == NOW);       //  as soon as possible
    assert_true (job->begin_by == 0);
    assert_true (job->timeout == 0);
    assert_null (job->retry);
    assert_null (job->key);
    assert_int_equal (job->args.size, 0);
    assert_int_equal (job->kwargs.size, 0);
    assert_int_equal (job->quotas.size, 0);
    assert_int_equal (job->ncallbacks, 0);
    s_done (&parsed);

    //  Explicit nulls are the same as leaving options out
    s_parse (&parsed, "{\"task\": \"time.time\", \"args\": null, \"kwargs\": null, "
                      "\"queue\": null, \"priority\": null, \"begin_after\": null, "
                      "\"retry\": null, \"quotas\": [], \"key\": null}");
    assert_int_equal (parsed.rc, 0);
    job = s_job (&parsed, 0);
    assert_string_equal (job->queue, "default");
    assert_true (job->begin_after == NOW);
    assert_int_equal (job->quotas.size, 0);
    s_done (&parsed);
}

static void
test_spec_begin_after_forms (void **state)
{
    (void) state;
    parsed_t parsed;
    s_parse (&parsed, "{\"task\": \"a.b\", \"begin_after\": \"2027-01-01T00:00:00+01:00\"}");
    assert_int_equal (parsed.rc, 0);
    int64_t want;
    assert_int_equal (async_parse_time ("2026-12-31T23:00:00Z", 0, &want), 0);
    assert_true (s_job (&parsed, 0)->begin_after == want);
    s_done (&parsed);

    //  In the past is allowed (runs as soon as possible)
    s_parse (&parsed, "{\"task\": \"a.b\", \"begin_after\": \"-1h\"}");
    assert_int_equal (parsed.rc, 0);
    assert_true (s_job (&parsed, 0)->begin_after == NOW - 3600 * SEC);
    s_done (&parsed);

    //  A number is seconds since the epoch
    s_parse (&parsed, "{\"task\": \"a.b\", \"begin_after\": 1795730460.5}");
    assert_int_equal (parsed.rc, 0);
    assert_true (s_job (&parsed, 0)->begin_after == NOW + 60 * SEC + 500000);
    s_done (&parsed);
}

static void
test_spec_durations_string_or_seconds (void **state)
{
    (void) state;
    parsed_t parsed;
    s_parse (&parsed, "{\"task\": \"a.b\", \"begin_by\": 1.5, \"timeout\": \"250ms\"}");
    assert_int_equal (parsed.rc, 0);
    assert_true (s_job (&parsed, 0)->begin_by == 1500000);
    assert_true (s_job (&parsed, 0)->timeout == 250000);
    s_done (&parsed);
}

//  ---------------------------------------------------------------------
//  Parallel and serial

static void
test_spec_parallel_with_postprocess (void **state)
{
    (void) state;
    parsed_t parsed;
    s_parse (&parsed,
        "{\"parallel\": [{\"task\": \"pi.generate_sample\", \"args\": [10]},"
        "                {\"task\": \"pi.generate_sample\", \"queue\": \"other\"},"
        "                {\"task\": \"pi.generate_sample\", \"priority\": 2}],"
        " \"postprocess\": {\"task\": \"pi.process_samples\"},"
        " \"queue\": \"bulk\", \"priority\": 7}");
    assert_int_equal (parsed.rc, 0);
    //  The root, then its children; the postprocess is not created yet
    assert_int_equal (zlistx_size (parsed.jobs), 4);
    async_job_t *root = s_job (&parsed, 0);
    assert_int_equal (root->kind, ASYNC_KIND_PARALLEL);
    assert_int_equal (root->role, ASYNC_ROLE_JOB);
    assert_null (root->task);
    assert_string_equal (root->queue, "bulk");
    assert_int_equal (root->priority, 7);
    assert_string_equal (root->parent, "");
    s_assert_blob_json (&root->postprocess, "{\"task\": \"pi.process_samples\"}");
    assert_string_equal (root->postprocess_id, "");
    assert_int_equal (root->nchildren, 3);

    for (size_t i = 0; i < 3; i++) {
        async_job_t *child = s_job (&parsed, i + 1);
        assert_int_equal (child->role, ASYNC_ROLE_CHILD);
        assert_int_equal (child->kind, ASYNC_KIND_TASK);
        assert_string_equal (child->task, "pi.generate_sample");
        assert_string_equal (child->parent, root->id);
        assert_int_equal (child->child_index, (int) i);
        assert_false (child->held);                //  parallel: all at once
        assert_string_equal (root->children [i], child->id);
        assert_string_not_equal (child->id, root->id);
    }
    //  Children take the parent's queue unless they name one
    assert_string_equal (s_job (&parsed, 1)->queue, "bulk");
    assert_string_equal (s_job (&parsed, 2)->queue, "other");
    assert_string_equal (s_job (&parsed, 3)->queue, "bulk");
    s_assert_blob_json (&s_job (&parsed, 1)->args, "[10]");
    assert_int_equal (s_job (&parsed, 3)->priority, 2);
    s_done (&parsed);
}

static void
test_spec_serial_children_held (void **state)
{
    (void) state;
    parsed_t parsed;
    s_parse (&parsed, "{\"serial\": [{\"task\": \"a.one\"}, {\"task\": \"a.two\"}, "
                      "{\"task\": \"a.three\"}]}");
    assert_int_equal (parsed.rc, 0);
    assert_int_equal (zlistx_size (parsed.jobs), 4);
    async_job_t *root = s_job (&parsed, 0);
    assert_int_equal (root->kind, ASYNC_KIND_SERIAL);
    assert_int_equal (root->postprocess.size, 0);
    //  Only the first child may start
    assert_false (s_job (&parsed, 1)->held);
    assert_true (s_job (&parsed, 2)->held);
    assert_true (s_job (&parsed, 3)->held);
    assert_string_equal (s_job (&parsed, 3)->task, "a.three");
    assert_string_equal (s_job (&parsed, 3)->queue, "default");
    s_done (&parsed);
}

static void
test_spec_serial_nested_in_parallel (void **state)
{
    (void) state;
    parsed_t parsed;
    s_parse (&parsed,
        "{\"parallel\": [{\"serial\": [{\"task\": \"s.first\"}, {\"task\": \"s.second\"}],"
        "                 \"postprocess\": {\"task\": \"s.reduce\"}},"
        "                {\"task\": \"p.alone\"}],"
        " \"queue\": \"q1\"}");
    assert_int_equal (parsed.rc, 0);
    //  Depth first: root, serial, its two children, then the lone task
    assert_int_equal (zlistx_size (parsed.jobs), 5);
    async_job_t *root = s_job (&parsed, 0);
    async_job_t *serial = s_job (&parsed, 1);
    async_job_t *first = s_job (&parsed, 2);
    async_job_t *second = s_job (&parsed, 3);
    async_job_t *alone = s_job (&parsed, 4);

    assert_int_equal (root->kind, ASYNC_KIND_PARALLEL);
    assert_int_equal (root->nchildren, 2);
    assert_string_equal (root->children [0], serial->id);
    assert_string_equal (root->children [1], alone->id);

    assert_int_equal (serial->kind, ASYNC_KIND_SERIAL);
    assert_int_equal (serial->role, ASYNC_ROLE_CHILD);
    assert_string_equal (serial->parent, root->id);
    assert_int_equal (serial->child_index, 0);
    assert_false (serial->held);
    assert_string_equal (serial->queue, "q1");
    s_assert_blob_json (&serial->postprocess, "{\"task\": \"s.reduce\"}");
    assert_int_equal (serial->nchildren, 2);
    assert_string_equal (serial->children [0], first->id);
    assert_string_equal (serial->children [1], second->id);

    assert_string_equal (first->task, "s.first");
    assert_string_equal (first->parent, serial->id);
    assert_false (first->held);
    assert_string_equal (second->task, "s.second");
    assert_string_equal (second->parent, serial->id);
    assert_int_equal (second->child_index, 1);
    assert_true (second->held);
    assert_string_equal (second->queue, "q1");   //  inherited twice

    assert_string_equal (alone->task, "p.alone");
    assert_string_equal (alone->parent, root->id);
    assert_int_equal (alone->child_index, 1);
    assert_false (alone->held);
    s_done (&parsed);
}

//  A parallel root with `mids` parallel children of `leaves` tasks each,
//  then `extra` tasks of its own: 1 + mids * (1 + leaves) + extra jobs
static void
s_parse_tree (parsed_t *parsed, int mids, int leaves, int extra)
{
    json_t *children = json_array ();
    for (int m = 0; m < mids; m++) {
        json_t *list = json_array ();
        for (int i = 0; i < leaves; i++)
            json_array_append_new (list, json_pack ("{s:s}", "task", "a.b"));
        json_array_append_new (children, json_pack ("{s:o}", "parallel", list));
    }
    for (int i = 0; i < extra; i++)
        json_array_append_new (children, json_pack ("{s:s}", "task", "a.c"));
    json_t *spec = json_pack ("{s:o}", "parallel", children);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (spec, &data, &size), 0);
    json_decref (spec);
    s_parse_bytes (parsed, data, size);
    free (data);
}

static void
test_spec_job_count_limit (void **state)
{
    (void) state;
    //  100000 jobs in one spec at most, counted across the whole tree
    //  (a tree, so that no parent has a huge child list to grow)
    parsed_t parsed;
    s_parse_tree (&parsed, 100, 998, 99);          //  1 + 100 * 999 + 99
    assert_int_equal (parsed.rc, 0);
    assert_int_equal (zlistx_size (parsed.jobs), 100000);
    s_done (&parsed);
    s_parse_tree (&parsed, 100, 998, 100);         //  one more
    s_assert_refused_parsed (&parsed, "of 100001 jobs");
    s_done (&parsed);
}

//  ---------------------------------------------------------------------
//  Refusals

static void
test_spec_refuses_bad_forms (void **state)
{
    (void) state;
    s_assert_refused ("[1]");
    s_assert_refused ("\"a.b\"");
    s_assert_refused ("null");
    s_assert_refused ("{}");                                         //  no task
    s_assert_refused ("{\"args\": [1]}");
    s_assert_refused ("{\"task\": \"a.b\", \"parallel\": [{\"task\": \"a.b\"}]}");
    s_assert_refused ("{\"parallel\": [{\"task\": \"a.b\"}], \"serial\": [{\"task\": \"a.b\"}]}");
    s_assert_refused ("{\"task\": \"a.b\", \"serial\": null}");      //  still two
    s_assert_refused ("{\"parallel\": []}");
    s_assert_refused ("{\"parallel\": {\"task\": \"a.b\"}}");
    s_assert_refused ("{\"serial\": \"a.b\"}");
    s_assert_refused ("{\"parallel\": [5]}");
    //  A misspelt option, at the top, in a child, in a callback
    s_assert_refused ("{\"task\": \"a.b\", \"priorty\": 5}");
    s_assert_refused ("{\"parallel\": [{\"task\": \"a.b\", \"queu\": \"x\"}]}");
    s_assert_refused ("{\"task\": \"a.b\", \"callbacks\": [{\"task\": \"a.c\", \"onn\": 1}]}");
    parsed_t parsed;
    s_parse (&parsed, "{\"task\": \"a.b\", \"priorty\": 5}");
    assert_string_contains (parsed.err, "unknown option \"priorty\"");
    s_done (&parsed);
}

static void
test_spec_refuses_bad_task_and_args (void **state)
{
    (void) state;
    s_assert_refused ("{\"task\": \"nodot\"}");
    s_assert_refused ("{\"task\": \"\"}");
    s_assert_refused ("{\"task\": \"a b.c\"}");
    s_assert_refused ("{\"task\": 5}");
    s_assert_refused ("{\"task\": null}");
    s_assert_refused ("{\"task\": \"a.b\", \"args\": {\"x\": 1}}");
    s_assert_refused ("{\"task\": \"a.b\", \"args\": \"x\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"args\": 5}");
    s_assert_refused ("{\"task\": \"a.b\", \"kwargs\": [1]}");
    s_assert_refused ("{\"task\": \"a.b\", \"kwargs\": \"x=1\"}");
}

static void
test_spec_refuses_non_string_kwargs_keys (void **state)
{
    (void) state;
    //  {"task": "a.b", "kwargs": {1: "x"}}: JSON cannot say it, msgpack can
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    async_codec_pack_str (&pk, "task");
    async_codec_pack_str (&pk, "a.b");
    async_codec_pack_str (&pk, "kwargs");
    msgpack_pack_map (&pk, 2);
    async_codec_pack_str (&pk, "ok");
    msgpack_pack_int (&pk, 1);
    msgpack_pack_int (&pk, 1);
    async_codec_pack_str (&pk, "x");
    parsed_t parsed;
    s_parse_bytes (&parsed, buffer.data, buffer.size);
    s_assert_refused_parsed (&parsed, "with an integer kwargs key");
    assert_string_contains (parsed.err, "kwargs");
    s_done (&parsed);
    msgpack_sbuffer_destroy (&buffer);

    //  The same for annotations
    msgpack_sbuffer_init (&buffer);
    msgpack_pack_map (&pk, 2);
    async_codec_pack_str (&pk, "task");
    async_codec_pack_str (&pk, "a.b");
    async_codec_pack_str (&pk, "annotations");
    msgpack_pack_map (&pk, 1);
    msgpack_pack_true (&pk);
    async_codec_pack_str (&pk, "x");
    s_parse_bytes (&parsed, buffer.data, buffer.size);
    s_assert_refused_parsed (&parsed, "with a boolean annotations key");
    s_done (&parsed);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_spec_refuses_bad_queue (void **state)
{
    (void) state;
    s_assert_refused ("{\"task\": \"a.b\", \"queue\": \"bad queue\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"queue\": \"bad/queue\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"queue\": \"\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"queue\": 5}");
    s_assert_refused ("{\"task\": \"a.b\", \"queue\": [\"default\"]}");
    s_assert_refused ("{\"parallel\": [{\"task\": \"a.b\", \"queue\": \"no way\"}]}");
    char text [400];
    char name [202];
    memset (name, 'q', 201);
    name [201] = 0;
    snprintf (text, sizeof text, "{\"task\": \"a.b\", \"queue\": \"%s\"}", name);
    s_assert_refused (text);
    //  200 bytes and the allowed punctuation are fine
    name [200] = 0;
    name [0] = '_';
    name [1] = '-';
    name [2] = '.';
    name [3] = ':';
    snprintf (text, sizeof text, "{\"task\": \"a.b\", \"queue\": \"%s\"}", name);
    parsed_t parsed;
    s_parse (&parsed, text);
    assert_int_equal (parsed.rc, 0);
    assert_string_equal (s_job (&parsed, 0)->queue, name);
    s_done (&parsed);
}

static void
test_spec_refuses_bad_priority (void **state)
{
    (void) state;
    s_assert_refused ("{\"task\": \"a.b\", \"priority\": \"high\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"priority\": 1.5}");
    s_assert_refused ("{\"task\": \"a.b\", \"priority\": true}");
    s_assert_refused ("{\"task\": \"a.b\", \"priority\": 1000000001}");
    s_assert_refused ("{\"task\": \"a.b\", \"priority\": -1000000001}");
    s_assert_refused ("{\"task\": \"a.b\", \"priority\": 9223372036854775807}");
    parsed_t parsed;
    s_parse (&parsed, "{\"task\": \"a.b\", \"priority\": -1000000000}");
    assert_int_equal (parsed.rc, 0);
    assert_int_equal (s_job (&parsed, 0)->priority, -1000000000);
    s_done (&parsed);
}

static void
test_spec_refuses_bad_begin_after (void **state)
{
    (void) state;
    s_assert_refused ("{\"task\": \"a.b\", \"begin_after\": \"tomorrow\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_after\": \"2026-11-26T22:00:00\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_after\": \"+30 parsecs\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_after\": true}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_after\": [1]}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_after\": \"\"}");
}

static void
test_spec_refuses_bad_duration (void **state)
{
    (void) state;
    s_assert_refused ("{\"task\": \"a.b\", \"begin_by\": \"5 parsecs\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_by\": \"-5s\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_by\": -1}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_by\": true}");
    s_assert_refused ("{\"task\": \"a.b\", \"begin_by\": 1e13}");
    s_assert_refused ("{\"task\": \"a.b\", \"timeout\": \"soon\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"timeout\": -0.5}");
    s_assert_refused ("{\"task\": \"a.b\", \"timeout\": {}}");
}

static void
test_spec_refuses_bad_retry (void **state)
{
    (void) state;
    s_assert_refused ("{\"task\": \"a.b\", \"retry\": \"sometimes\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"retry\": \"attempts=0\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"retry\": \"backoff=60s..1s\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"retry\": 5}");
    s_assert_refused ("{\"task\": \"a.b\", \"retry\": [\"never\"]}");
    parsed_t parsed;
    s_parse (&parsed, "{\"task\": \"a.b\", \"retry\": \"Forever\"}");
    s_assert_refused_parsed (&parsed, "with retry Forever");
    assert_string_contains (parsed.err, "Forever");  //  says what was wrong
    s_done (&parsed);
}

static void
test_spec_refuses_bad_quotas_key_annotations (void **state)
{
    (void) state;
    s_assert_refused ("{\"task\": \"a.b\", \"quotas\": \"db\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"quotas\": [1]}");
    s_assert_refused ("{\"task\": \"a.b\", \"quotas\": [\"bad name\"]}");
    s_assert_refused ("{\"task\": \"a.b\", \"quotas\": [\"\"]}");
    s_assert_refused ("{\"task\": \"a.b\", \"key\": \"\"}");
    s_assert_refused ("{\"task\": \"a.b\", \"key\": 5}");
    s_assert_refused ("{\"task\": \"a.b\", \"annotations\": [1]}");
    s_assert_refused ("{\"task\": \"a.b\", \"annotations\": \"x\"}");
}

static void
test_spec_refuses_bad_callbacks_and_postprocess (void **state)
{
    (void) state;
    s_assert_refused ("{\"task\": \"a.b\", \"callbacks\": {\"task\": \"c.d\"}}");
    s_assert_refused ("{\"task\": \"a.b\", \"callbacks\": [1]}");
    s_assert_refused ("{\"task\": \"a.b\", \"callbacks\": [{\"on\": \"sometimes\", "
                      "\"task\": \"c.d\"}]}");
    s_assert_refused ("{\"task\": \"a.b\", \"callbacks\": [{\"task\": \"bad\"}]}");
    s_assert_refused ("{\"task\": \"a.b\", \"callbacks\": [{\"on\": \"always\"}]}");
    s_assert_refused ("{\"parallel\": [{\"task\": \"a.b\"}], "
                      "\"postprocess\": {\"task\": \"bad\"}}");
    s_assert_refused ("{\"parallel\": [{\"task\": \"a.b\"}], \"postprocess\": \"c.d\"}");
    //  A refusal deep inside a tree still leaves no jobs behind
    s_assert_refused ("{\"parallel\": [{\"task\": \"a.b\"}, {\"task\": \"a.c\"}, "
                      "{\"serial\": [{\"task\": \"a.d\"}, {\"task\": \"a.e\", "
                      "\"timeout\": \"never\"}]}]}");
    //  Good callbacks of each kind, for contrast
    parsed_t parsed;
    s_parse (&parsed, "{\"task\": \"a.b\", \"callbacks\": [{\"on\": \"always\", "
                      "\"task\": \"c.d\"}, {\"on\": \"success\", \"task\": \"c.e\", "
                      "\"args\": [1]}, {\"task\": \"c.f\"}]}");
    assert_int_equal (parsed.rc, 0);
    assert_int_equal (zlistx_size (parsed.jobs), 4);     //  the job and 3 callbacks
    async_job_t *job = s_job (&parsed, 0);
    assert_int_equal (job->ncallbacks, 3);
    assert_int_equal (s_job (&parsed, 1)->on, 0);        //  always
    assert_int_equal (s_job (&parsed, 2)->on, 1);        //  success
    assert_int_equal (s_job (&parsed, 3)->on, 0);        //  no "on": always
    s_assert_blob_json (&s_job (&parsed, 2)->args, "[1]");
    s_done (&parsed);
}

static void
test_spec_refuses_non_finite_and_huge_times (void **state)
{
    (void) state;
    //  NaN slips past "seconds < 0 || seconds > 1e12", and an unbounded
    //  begin_after number overflows int64 (undefined behaviour)
    const char *keys [] = { "begin_by", "timeout", "begin_after", NULL };
    const double values [] = { NAN, INFINITY, -INFINITY, 1e300, -1e300 };
    for (int k = 0; keys [k]; k++)
        for (size_t v = 0; v < sizeof values / sizeof values [0]; v++) {
            msgpack_sbuffer buffer;
            msgpack_packer pk;
            msgpack_sbuffer_init (&buffer);
            msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
            msgpack_pack_map (&pk, 2);
            async_codec_pack_str (&pk, "task");
            async_codec_pack_str (&pk, "a.b");
            async_codec_pack_str (&pk, keys [k]);
            msgpack_pack_double (&pk, values [v]);
            parsed_t parsed;
            s_parse_bytes (&parsed, buffer.data, buffer.size);
            msgpack_sbuffer_destroy (&buffer);
            char what [64];
            snprintf (what, sizeof what, "with %s %g", keys [k], values [v]);
            s_assert_refused_parsed (&parsed, what);
            s_done (&parsed);
        }
}

static void
test_spec_retry_refusal_is_one_line (void **state)
{
    (void) state;
    //  The reason quotes the policy text: it must not carry a newline
    s_assert_refused ("{\"task\": \"a.b\", \"retry\": \"never\\nrm -rf /\"}");
}

//  ---------------------------------------------------------------------
//  Retry policies

static void
s_policy_ok (const char *text, bool callback, policy_t *policy)
{
    char err [256] = "";
    if (policy_parse (text, callback, policy, err, sizeof err) != 0)
        fail_msg ("policy '%s' refused: %s", text ? text : "(null)", err);
}

static void
test_policy_named (void **state)
{
    (void) state;
    policy_t policy;
    s_policy_ok ("default", false, &policy);
    assert_int_equal (policy.attempts, 5);
    assert_int_equal (policy.interruptions, 10);
    for (int attempt = 0; attempt < 10; attempt++)
        assert_true (policy_backoff (&policy, attempt) == 0);

    s_policy_ok ("never", false, &policy);
    assert_int_equal (policy.attempts, 1);
    assert_int_equal (policy.interruptions, 0);
    assert_true (policy_backoff (&policy, 1) == 0);

    s_policy_ok ("forever", false, &policy);
    assert_true (policy.attempts >= 1000000);          //  without end
    assert_true (policy.interruptions < 0);            //  without end
}

static void
test_policy_default_depends_on_role (void **state)
{
    (void) state;
    policy_t policy;
    s_policy_ok (NULL, false, &policy);
    assert_int_equal (policy.attempts, 5);
    s_policy_ok ("", false, &policy);
    assert_int_equal (policy.interruptions, 10);
    //  Callbacks retry forever by default
    s_policy_ok (NULL, true, &policy);
    assert_true (policy.interruptions < 0);
    s_policy_ok ("", true, &policy);
    assert_true (policy.attempts >= 1000000);
    //  A named policy wins over the role's default
    s_policy_ok ("never", true, &policy);
    assert_int_equal (policy.attempts, 1);
}

static void
test_policy_forever_backoff_is_linear_to_60s (void **state)
{
    (void) state;
    policy_t policy;
    s_policy_ok ("forever", false, &policy);
    //  1 s, +1 s per try, up to 60 s
    for (int attempt = 1; attempt <= 60; attempt++)
        if (policy_backoff (&policy, attempt) != attempt * SEC)
            fail_msg ("forever backoff after attempt %d is %lld us, want %d s", attempt,
                      (long long) policy_backoff (&policy, attempt), attempt);
    assert_true (policy_backoff (&policy, 61) == 60 * SEC);
    assert_true (policy_backoff (&policy, 1000) == 60 * SEC);
    assert_true (policy_backoff (&policy, INT_MAX) == 60 * SEC);
    assert_true (policy_backoff (&policy, 0) == SEC);
}

static void
test_policy_custom (void **state)
{
    (void) state;
    policy_t policy;
    s_policy_ok ("attempts=3,backoff=1s..60s,factor=2,interruptions=4", false, &policy);
    assert_int_equal (policy.attempts, 3);
    assert_int_equal (policy.interruptions, 4);
    assert_true (policy.backoff_min == SEC);
    assert_true (policy.backoff_max == 60 * SEC);
    assert_true (policy.factor == 2.0);
    //  Exponential: 1, 2, 4, 8, 16, 32 s, then capped at 60 s
    const int64_t want [] = { 1, 2, 4, 8, 16, 32, 60, 60 };
    for (int attempt = 1; attempt <= 8; attempt++)
        if (policy_backoff (&policy, attempt) != want [attempt - 1] * SEC)
            fail_msg ("backoff after attempt %d is %lld us, want %lld s", attempt,
                      (long long) policy_backoff (&policy, attempt),
                      (long long) want [attempt - 1]);
    assert_true (policy_backoff (&policy, 1000000) == 60 * SEC);   //  no overflow

    s_policy_ok ("backoff=500ms..10s,factor=3", false, &policy);
    assert_int_equal (policy.attempts, 5);             //  unnamed parts default
    assert_int_equal (policy.interruptions, 10);
    const int64_t want3 [] = { 500000, 1500000, 4500000, 10000000 };
    for (int attempt = 1; attempt <= 4; attempt++)
        assert_true (policy_backoff (&policy, attempt) == want3 [attempt - 1]);

    //  One duration: a fixed backoff
    s_policy_ok ("attempts=7,backoff=5s", false, &policy);
    assert_int_equal (policy.attempts, 7);
    assert_true (policy_backoff (&policy, 1) == 5 * SEC);
    assert_true (policy_backoff (&policy, 6) == 5 * SEC);

    //  No backoff named: none
    s_policy_ok ("attempts=2", false, &policy);
    assert_true (policy_backoff (&policy, 1) == 0);
    s_policy_ok ("interruptions=0", false, &policy);
    assert_int_equal (policy.interruptions, 0);
}

//  A linear backoff (zc.async's RetryCommonForever): MIN, then +STEP a try,
//  capped at MAX
static void
test_policy_linear_backoff (void **state)
{
    (void) state;
    policy_t policy;
    s_policy_ok ("backoff=5s+5s..60s", false, &policy);
    assert_true (policy.backoff_min == 5 * SEC);
    assert_true (policy.backoff_step == 5 * SEC);
    assert_true (policy.backoff_max == 60 * SEC);
    for (int attempt = 1; attempt <= 14; attempt++) {
        int64_t want = attempt < 12 ? 5LL * attempt * SEC : 60 * SEC;
        if (policy_backoff (&policy, attempt) != want)
            fail_msg ("backoff after attempt %d is %lld us, want %lld us", attempt,
                      (long long) policy_backoff (&policy, attempt), (long long) want);
    }
    assert_true (policy_backoff (&policy, 1000000) == 60 * SEC);  //  no overflow
    s_policy_ok ("attempts=4,backoff=1s+1s..3s,interruptions=2", false, &policy);
    assert_int_equal (policy.attempts, 4);
    assert_int_equal (policy.interruptions, 2);
    assert_true (policy_backoff (&policy, 1) == 1 * SEC);
    assert_true (policy_backoff (&policy, 2) == 2 * SEC);
    assert_true (policy_backoff (&policy, 3) == 3 * SEC);
    assert_true (policy_backoff (&policy, 4) == 3 * SEC);
    //  From 0: 0, 250 ms, 500 ms, then 600 ms
    s_policy_ok ("backoff=0s+250ms..600ms", false, &policy);
    assert_true (policy_backoff (&policy, 1) == 0);
    assert_true (policy_backoff (&policy, 2) == 250000);
    assert_true (policy_backoff (&policy, 3) == 500000);
    assert_true (policy_backoff (&policy, 4) == 600000);
    //  Refused: no cap, a step of 0 or negative, a factor too, a cap
    //  under the start, a step that is not a duration
    const char *bad [] = { "backoff=5s+5s",
                           "backoff=5s+0s..60s",
                           "backoff=5s+-1s..60s",
                           "backoff=5s+..60s",
                           "backoff=+5s..60s",
                           "backoff=5s+5s..60s,factor=2",
                           "factor=2,backoff=5s+5s..60s",
                           "backoff=10s+1s..5s",
                           "backoff=5s+x..60s",
                           "backoff=5s..60s+5s",
                           "backoff=5s+5s+5s..60s",
                           "backoff=1s+2000000000000s..2s",
                           NULL };
    for (int i = 0; bad [i]; i++) {
        char err [256] = "";
        if (policy_parse (bad [i], false, &policy, err, sizeof err) != -1)
            fail_msg ("policy '%s' was accepted", bad [i]);
        if (!*err || strchr (err, '\n'))
            fail_msg ("policy '%s' refused without a one-line reason", bad [i]);
    }
}

static void
test_policy_bad_text_refused (void **state)
{
    (void) state;
    const char *bad [] = {
        "sometimes", "Default", "attempts", "attempts=0", "attempts=-1", "attempts=x",
        "attempts=2x", "attempts=1000001", "factor=0.5", "factor=abc", "factor=101",
        "backoff=60s..1s", "backoff=..", "backoff=1s..", "backoff=..1s",
        "backoff=-1s", "backoff=soon", "interruptions=-1", "interruptions=1.5",
        "colour=red", "attempts=3;factor=2", "attempts=3, factor=2",
        "=3", NULL
    };
    for (int i = 0; bad [i]; i++) {
        policy_t policy;
        char err [256] = "";
        if (policy_parse (bad [i], false, &policy, err, sizeof err) != -1)
            fail_msg ("policy '%s' was accepted", bad [i]);
        if (!*err || strchr (err, '\n'))
            fail_msg ("policy '%s' refused without a one-line reason", bad [i]);
    }
}

static void
test_policy_empty_numbers_refused (void **state)
{
    (void) state;
    //  "interruptions=" has no number: it must not read as 0
    const char *bad [] = { "interruptions=", "attempts=3,interruptions=", NULL };
    for (int i = 0; bad [i]; i++) {
        policy_t policy;
        char err [256] = "";
        if (policy_parse (bad [i], false, &policy, err, sizeof err) != -1)
            fail_msg ("policy '%s' was accepted (interruptions=%d)", bad [i],
                      policy.interruptions);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_spec_simple_task),
        cmocka_unit_test (test_spec_minimal_task_defaults),
        cmocka_unit_test (test_spec_begin_after_forms),
        cmocka_unit_test (test_spec_durations_string_or_seconds),
        cmocka_unit_test (test_spec_parallel_with_postprocess),
        cmocka_unit_test (test_spec_serial_children_held),
        cmocka_unit_test (test_spec_serial_nested_in_parallel),
        cmocka_unit_test (test_spec_job_count_limit),
        cmocka_unit_test (test_spec_refuses_bad_forms),
        cmocka_unit_test (test_spec_refuses_bad_task_and_args),
        cmocka_unit_test (test_spec_refuses_non_string_kwargs_keys),
        cmocka_unit_test (test_spec_refuses_bad_queue),
        cmocka_unit_test (test_spec_refuses_bad_priority),
        cmocka_unit_test (test_spec_refuses_bad_begin_after),
        cmocka_unit_test (test_spec_refuses_bad_duration),
        cmocka_unit_test (test_spec_refuses_bad_retry),
        cmocka_unit_test (test_spec_refuses_bad_quotas_key_annotations),
        cmocka_unit_test (test_spec_refuses_bad_callbacks_and_postprocess),
        cmocka_unit_test (test_spec_refuses_non_finite_and_huge_times),
        cmocka_unit_test (test_spec_retry_refusal_is_one_line),
        cmocka_unit_test (test_policy_named),
        cmocka_unit_test (test_policy_default_depends_on_role),
        cmocka_unit_test (test_policy_forever_backoff_is_linear_to_60s),
        cmocka_unit_test (test_policy_custom),
        cmocka_unit_test (test_policy_linear_backoff),
        cmocka_unit_test (test_policy_bad_text_refused),
        cmocka_unit_test (test_policy_empty_numbers_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
