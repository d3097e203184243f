/*  =========================================================================
    test_job - the job record: encode/decode, job JSON (docs/spec.md section 6),
    failure objects (async_job)
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

#include "async_job.h"

//  A valid id, so that a bad record is refused for the field it names
#define S_ID "0b6a8e1c-3f0e-4a8e-9d55-2f1c8c1d3e4f"
#include "async_util.h"

//  Garbage records declare huge msgpack containers, which msgpack-c tries
//  to allocate up front: make ASan return NULL like a bounded production
//  malloc instead of aborting (see test_codec.c).
const char *
    __asan_default_options (void);
__attribute__ ((used)) const char *
__asan_default_options (void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=64";
}

#define NODE_ID     "0b7e2f5c-3f1a-4b8e-9a55-1d2c3e4f5a6b"
#define PARENT_ID   "11111111-2222-4333-8444-555555555555"
#define POST_ID     "22222222-3333-4444-8555-666666666666"
#define HANDOFF_ID  "33333333-4444-4555-8666-777777777777"

//  ---------------------------------------------------------------------
//  Helpers

static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *value = json_loads (text, JSON_DECODE_ANY, &error);
    if (!value)
        fail_msg ("bad JSON in test: %s (%s)", text, error.text);
    return value;
}

//  Set a blob to the msgpack form of a JSON text
static void
s_blob_json (async_blob_t *blob, const char *text)
{
    json_t *value = s_json (text);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    async_blob_take (blob, data, size);
    json_decref (value);
}

static void
s_assert_blob_equal (const async_blob_t *a, const async_blob_t *b, const char *what)
{
    if (a->size != b->size || (a->size && memcmp (a->data, b->data, a->size)))
        fail_msg ("blob %s differs after the round trip (%zu vs %zu bytes)",
                  what, a->size, b->size);
}

static void
s_assert_str_equal (const char *a, const char *b, const char *what)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp (a, b)))
        fail_msg ("%s: '%s' vs '%s'", what, a ? a : "(null)", b ? b : "(null)");
}

//  Every field set, and set to something other than its default
static async_job_t *
s_full_job (void)
{
    async_job_t *job = async_job_new ();
    assert_non_null (job);
    job->kind = ASYNC_KIND_SERIAL;
    job->role = ASYNC_ROLE_CALLBACK;
    async_job_set_str (&job->task, "pi.generate_sample");
    s_blob_json (&job->args, "[1000000, \"two\", 3.5, [true, null]]");
    s_blob_json (&job->kwargs, "{\"size\": 100, \"name\": \"x\"}");
    async_job_set_str (&job->queue, "bulk");
    job->priority = -7;
    job->status = ASYNC_COMPLETED;
    job->seq = UINT64_C (123456789012);
    s_blob_json (&job->result, "[785398, 1000000]");
    async_failure_make (&job->failure, "NameError", "no such name", "line 1\nline 2",
                        true, NODE_ID, 3);
    job->submitted = INT64_C (1764194400000001);
    job->begin_after = INT64_C (1764194400000002);
    job->begin_by = INT64_C (30000000);
    job->timeout = INT64_C (90000000);
    job->active_start = INT64_C (1764194400000003);
    job->active_end = INT64_C (1764194400000004);
    job->completed_at = INT64_C (1764194400000005);
    job->not_before = INT64_C (1764194400000006);
    job->attempts = 3;
    job->interruptions = 2;
    job->token = UINT64_MAX - 5;                    //  high bit set
    memcpy (job->node, NODE_ID, 37);
    async_job_set_str (&job->agent, "main");
    async_job_set_str (&job->retry, "attempts=3,backoff=1s..60s");
    s_blob_json (&job->quotas, "[\"db\", \"api\"]");
    async_job_set_str (&job->key, "nightly-2026-11-26");
    memcpy (job->parent, PARENT_ID, 37);
    job->child_index = 4;
    for (int i = 0; i < 3; i++) {
        char id [37];
        async_id_new (id);
        async_job_add_child (job, id);
    }
    job->children_done = 2;
    s_blob_json (&job->postprocess, "{\"task\": \"pi.process_samples\"}");
    memcpy (job->postprocess_id, POST_ID, 37);
    job->on = 2;
    job->callbacks_next = 1;
    job->cancelled_at = 1795000000000000;
    for (int i = 0; i < 2; i++) {
        char id [37];
        async_id_new (id);
        async_job_add_callback (job, id);
    }
    s_blob_json (&job->annotations, "{\"owner\": \"ops\", \"n\": 1}");
    s_blob_json (&job->progress, "[1, 3]");
    memcpy (job->handoff, HANDOFF_ID, 37);
    job->held = true;
    return job;
}

static void
s_assert_jobs_equal (const async_job_t *a, const async_job_t *b)
{
    assert_string_equal (a->id, b->id);
    assert_int_equal (a->kind, b->kind);
    assert_int_equal (a->role, b->role);
    s_assert_str_equal (a->task, b->task, "task");
    s_assert_blob_equal (&a->args, &b->args, "args");
    s_assert_blob_equal (&a->kwargs, &b->kwargs, "kwargs");
    s_assert_str_equal (a->queue, b->queue, "queue");
    assert_true (a->priority == b->priority);
    assert_int_equal (a->status, b->status);
    assert_true (a->seq == b->seq);
    s_assert_blob_equal (&a->result, &b->result, "result");
    s_assert_blob_equal (&a->failure, &b->failure, "failure");
    assert_true (a->submitted == b->submitted);
    assert_true (a->begin_after == b->begin_after);
    assert_true (a->begin_by == b->begin_by);
    assert_true (a->timeout == b->timeout);
    assert_true (a->active_start == b->active_start);
    assert_true (a->active_end == b->active_end);
    assert_true (a->completed_at == b->completed_at);
    assert_true (a->not_before == b->not_before);
    assert_int_equal (a->attempts, b->attempts);
    assert_int_equal (a->interruptions, b->interruptions);
    assert_true (a->token == b->token);
    assert_string_equal (a->node, b->node);
    s_assert_str_equal (a->agent, b->agent, "agent");
    s_assert_str_equal (a->retry, b->retry, "retry");
    s_assert_blob_equal (&a->quotas, &b->quotas, "quotas");
    s_assert_str_equal (a->key, b->key, "key");
    assert_string_equal (a->parent, b->parent);
    assert_int_equal (a->child_index, b->child_index);
    assert_int_equal (a->nchildren, b->nchildren);
    for (size_t i = 0; i < a->nchildren; i++)
        assert_string_equal (a->children [i], b->children [i]);
    assert_int_equal (a->children_done, b->children_done);
    s_assert_blob_equal (&a->postprocess, &b->postprocess, "postprocess");
    assert_string_equal (a->postprocess_id, b->postprocess_id);
    assert_int_equal (a->on, b->on);
    assert_int_equal (a->callbacks_next, b->callbacks_next);
    assert_true (a->cancelled_at == b->cancelled_at);
    assert_int_equal (a->ncallbacks, b->ncallbacks);
    for (size_t i = 0; i < a->ncallbacks; i++)
        assert_string_equal (a->callbacks [i], b->callbacks [i]);
    s_assert_blob_equal (&a->annotations, &b->annotations, "annotations");
    s_assert_blob_equal (&a->progress, &b->progress, "progress");
    assert_string_equal (a->handoff, b->handoff);
    assert_int_equal (a->held, b->held);
}

static void
s_assert_json_equal (json_t *got, const char *want_text, const char *what)
{
    json_t *want = s_json (want_text);
    if (!json_equal (got, want)) {
        char *text = json_dumps (got, JSON_ENCODE_ANY);
        fail_msg ("%s is %s, want %s", what, text, want_text);
    }
    json_decref (want);
}

//  ---------------------------------------------------------------------
//  Basics

static void
test_job_new_is_empty_and_pending (void **state)
{
    (void) state;
    async_job_t *job = async_job_new ();
    assert_non_null (job);
    assert_true (async_id_valid (job->id));
    assert_int_equal (job->status, ASYNC_PENDING);
    assert_int_equal (job->kind, ASYNC_KIND_TASK);
    assert_int_equal (job->role, ASYNC_ROLE_JOB);
    assert_null (job->task);
    assert_int_equal (job->args.size, 0);
    assert_int_equal (job->nchildren, 0);
    async_job_t *other = async_job_new ();
    assert_string_not_equal (job->id, other->id);
    async_job_destroy (&job);
    assert_null (job);
    async_job_destroy (&job);                       //  safe again
    async_job_destroy (&other);
}

static void
test_job_status_names (void **state)
{
    (void) state;
    const char *names [] = { "pending", "assigned", "active", "callbacks", "completed" };
    for (int i = ASYNC_PENDING; i <= ASYNC_COMPLETED; i++) {
        assert_string_equal (async_status_name ((async_status_t) i), names [i]);
        assert_int_equal (async_status_parse (names [i]), i);
    }
    assert_string_equal (async_status_name ((async_status_t) 99), "unknown");
    assert_int_equal (async_status_parse ("running"), -1);
    assert_int_equal (async_status_parse ("Pending"), -1);
    assert_int_equal (async_status_parse (""), -1);
    assert_int_equal (async_status_parse (NULL), -1);
}

static void
test_job_blob_helpers (void **state)
{
    (void) state;
    async_blob_t blob = { NULL, 0 };
    const char bytes [] = "\x01\x02\x03";
    async_blob_set (&blob, bytes, 3);
    assert_int_equal (blob.size, 3);
    assert_ptr_not_equal (blob.data, bytes);        //  a copy
    assert_memory_equal (blob.data, bytes, 3);
    async_blob_set (&blob, NULL, 0);
    assert_null (blob.data);
    assert_int_equal (blob.size, 0);
    uint8_t *owned = malloc (2);
    owned [0] = 0xc0;
    owned [1] = 0xc0;
    async_blob_take (&blob, owned, 2);
    assert_ptr_equal (blob.data, owned);
    assert_int_equal (blob.size, 2);
    async_blob_take (&blob, NULL, 5);
    assert_int_equal (blob.size, 0);
    async_blob_clear (&blob);

    char *text = NULL;
    async_job_set_str (&text, "one");
    async_job_set_str (&text, "two");
    assert_string_equal (text, "two");
    async_job_set_str (&text, NULL);
    assert_null (text);
}

//  ---------------------------------------------------------------------
//  Encoding

static void
test_job_round_trip_every_field (void **state)
{
    (void) state;
    async_job_t *job = s_full_job ();
    uint8_t *data;
    size_t size;
    assert_int_equal (async_job_encode (job, &data, &size), 0);
    async_job_t *back = async_job_decode (data, size);
    assert_non_null (back);
    s_assert_jobs_equal (job, back);

    //  Encoding is stable: the decoded job encodes to the same bytes
    uint8_t *again;
    size_t again_size;
    assert_int_equal (async_job_encode (back, &again, &again_size), 0);
    assert_int_equal (again_size, size);
    assert_memory_equal (again, data, size);

    free (again);
    free (data);
    async_job_destroy (&back);
    async_job_destroy (&job);
}

//  The job as the wire's map (async_job_pack) into buffer (caller destroys)
static void
s_pack_map (async_job_t *job, msgpack_sbuffer *buffer)
{
    msgpack_packer pk;
    msgpack_sbuffer_init (buffer);
    msgpack_packer_init (&pk, buffer, async_sbuffer_write);
    async_job_pack (job, &pk);
}

//  The map form (the wire's JOB, and records of a version-1 store) decodes
//  to the same job as the stored array form, which is the smaller, but
//  for the fencing token: the wire leaves it out
static void
test_job_map_form_reads_as_the_array (void **state)
{
    (void) state;
    async_job_t *job = s_full_job ();
    msgpack_sbuffer buffer;
    s_pack_map (job, &buffer);
    assert_int_equal ((uint8_t) buffer.data [0], 0xde);    //  map 16
    async_job_t *from_map = async_job_decode (buffer.data, buffer.size);
    assert_non_null (from_map);
    assert_true (job->token != 0);
    assert_true (from_map->token == 0);
    from_map->token = job->token;
    s_assert_jobs_equal (job, from_map);

    uint8_t *data;
    size_t size;
    assert_int_equal (async_job_encode (job, &data, &size), 0);
    assert_int_equal (data [0], 0xdc);                       //  array 16
    assert_int_equal (data [3], 2);                          //  format 2
    assert_true (size < buffer.size);
    //  An array of another format, or one field short, is refused
    data [3] = 3;
    assert_null (async_job_decode (data, size));
    data [3] = 2;
    //  (a whole msgpack value, the format and 42 fields: only the field
    //  count is wrong)
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, (const char *) data, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer shorter;
    msgpack_packer pk;
    msgpack_sbuffer_init (&shorter);
    msgpack_packer_init (&pk, &shorter, async_sbuffer_write);
    uint32_t fields = unpacked.data.via.array.size - 1;
    msgpack_pack_array (&pk, fields);
    for (uint32_t i = 0; i < fields; i++)
        msgpack_pack_object (&pk, unpacked.data.via.array.ptr [i]);
    assert_null (async_job_decode (shorter.data, shorter.size));
    msgpack_sbuffer_destroy (&shorter);
    msgpack_unpacked_destroy (&unpacked);

    free (data);
    msgpack_sbuffer_destroy (&buffer);
    async_job_destroy (&from_map);
    async_job_destroy (&job);
}

//  An empty string reads as absent, as the encoder writes it (nil): a
//  record with "retry": "" decodes, encodes and decodes to the same job
//  (found by fuzz_codec)
static void
test_job_empty_strings_read_as_absent (void **state)
{
    (void) state;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_map (&pk, 4);
    async_codec_pack_str (&pk, "id");
    async_codec_pack_str (&pk, "3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b");
    async_codec_pack_str (&pk, "retry");
    async_codec_pack_str (&pk, "");
    async_codec_pack_str (&pk, "queue");
    async_codec_pack_str (&pk, "");
    async_codec_pack_str (&pk, "role");
    msgpack_pack_int (&pk, ASYNC_ROLE_CALLBACK);
    async_job_t *job = async_job_decode (buffer.data, buffer.size);
    assert_non_null (job);
    assert_null (job->retry);
    assert_string_equal (job->queue, "default");
    uint8_t *data;
    size_t size;
    assert_int_equal (async_job_encode (job, &data, &size), 0);
    async_job_t *back = async_job_decode (data, size);
    assert_non_null (back);
    s_assert_jobs_equal (job, back);
    free (data);
    async_job_destroy (&back);
    async_job_destroy (&job);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_job_round_trip_empty_job (void **state)
{
    (void) state;
    async_job_t *job = async_job_new ();
    uint8_t *data;
    size_t size;
    assert_int_equal (async_job_encode (job, &data, &size), 0);
    async_job_t *back = async_job_decode (data, size);
    assert_non_null (back);
    assert_string_equal (back->id, job->id);
    assert_null (back->task);
    assert_string_equal (back->queue, "default");   //  the default queue
    assert_int_equal (back->status, ASYNC_PENDING);
    assert_int_equal (back->args.size, 0);
    assert_int_equal (back->result.size, 0);
    assert_int_equal (back->nchildren, 0);
    assert_int_equal (back->ncallbacks, 0);
    assert_string_equal (back->node, "");
    assert_false (back->held);
    free (data);
    async_job_destroy (&back);
    async_job_destroy (&job);
}

static void
test_job_pack_is_one_map_with_a_version (void **state)
{
    (void) state;
    //  async_job_pack writes one msgpack map that decode_object reads
    async_job_t *job = s_full_job ();
    msgpack_sbuffer buffer;
    s_pack_map (job, &buffer);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (offset, buffer.size);         //  the map count is right
    assert_int_equal (unpacked.data.type, MSGPACK_OBJECT_MAP);
    int64_t version = 0;
    assert_int_equal (async_mp_int (&unpacked.data, "version", &version), 0);
    assert_int_equal (version, 1);
    assert_null (async_mp_get (&unpacked.data, "token"));
    async_job_t *back = async_job_decode_object (&unpacked.data);
    assert_non_null (back);
    back->token = job->token;
    s_assert_jobs_equal (job, back);
    async_job_destroy (&back);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
    async_job_destroy (&job);
}

//  Decode `text` (a JSON object, packed) as a job record
static async_job_t *
s_decode_json (const char *text)
{
    json_t *value = s_json (text);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    async_job_t *job = async_job_decode (data, size);
    free (data);
    json_decref (value);
    return job;
}

static void
test_job_decode_garbage_returns_null (void **state)
{
    (void) state;
    assert_null (async_job_decode ("", 0));
    assert_null (async_job_decode ("\xc1", 1));                 //  never used
    assert_null (async_job_decode ("\x93\x01\x02\x03", 4));     //  an array
    assert_null (async_job_decode ("\xa2id", 3));               //  a string
    assert_null (async_job_decode_object (NULL));

    const char *bad [] = {
        "{}",
        "{\"task\": \"a.b\"}",                                  //  no id
        "{\"id\": 5}",
        "{\"id\": \"0123456789012345678901234567890123456\"}",   //  37 chars
        "{\"id\": \"" S_ID "\", \"kind\": 3}",
        "{\"id\": \"" S_ID "\", \"kind\": -1}",
        "{\"id\": \"" S_ID "\", \"status\": 5}",
        "{\"id\": \"" S_ID "\", \"status\": -1}",
        "{\"id\": \"" S_ID "\", \"role\": 4}",
        "{\"id\": \"" S_ID "\", \"children\": \"abc\"}",
        "{\"id\": \"" S_ID "\", \"children\": [1]}",
        "{\"id\": \"" S_ID "\", \"children\": [\"0123456789012345678901234567890123456\"]}",
        "{\"id\": \"" S_ID "\", \"callbacks\": {}}",
        NULL
    };
    for (int i = 0; bad [i]; i++) {
        async_job_t *job = s_decode_json (bad [i]);
        if (job) {
            async_job_destroy (&job);
            fail_msg ("decoded a job from %s", bad [i]);
        }
    }
    //  An id must be a UUID: "" or "x" would not survive a re-encoding
    async_job_t *job = s_decode_json ("{\"id\": \"\"}");
    assert_null (job);
    job = s_decode_json ("{\"id\": \"x\"}");
    assert_null (job);
    //  The smallest record that is a job, for contrast
    job = s_decode_json ("{\"id\": \"0b6a8e1c-3f0e-4a8e-9d55-2f1c8c1d3e4f\"}");
    assert_non_null (job);
    async_job_destroy (&job);
}

static void
test_job_decode_truncated_and_random_returns_null (void **state)
{
    (void) state;
    async_job_t *job = s_full_job ();
    uint8_t *data;
    size_t size;
    assert_int_equal (async_job_encode (job, &data, &size), 0);
    for (size_t len = 0; len < size; len++) {
        uint8_t *prefix = malloc (len ? len : 1);
        memcpy (prefix, data, len);
        async_job_t *back = async_job_decode (prefix, len);
        free (prefix);
        if (back) {
            async_job_destroy (&back);
            fail_msg ("a %zu-byte prefix of a %zu-byte record decoded", len, size);
        }
    }
    //  Random bytes and mutated records: never crash, and anything that
    //  decodes has an id and a queue
    uint64_t rng = 0xfeedfacecafebeefu;
    for (int round = 0; round < 3000; round++) {
        uint8_t *copy = malloc (size);
        memcpy (copy, data, size);
        size_t len = size;
        if (round % 2) {
            len = 1 + (size_t) (rng % 64);
            for (size_t i = 0; i < len; i++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                copy [i] = (uint8_t) rng;
            }
        }
        else
            for (int f = 0; f < 3; f++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                copy [rng % size] = (uint8_t) (rng >> 32);
            }
        async_job_t *back = async_job_decode (copy, len);
        if (back) {
            assert_non_null (back->queue);
            json_t *json = async_job_to_json (back);
            assert_non_null (json);
            json_decref (json);
            async_job_destroy (&back);
        }
        free (copy);
    }
    free (data);
    async_job_destroy (&job);
}

//  ---------------------------------------------------------------------
//  Job JSON (docs/spec.md section 6)

static const char *s_section6_keys [] = {
    "id", "task", "args", "kwargs", "queue", "priority", "status",
    "submitted", "begin_after", "begin_by", "active_start", "active_end",
    "completed_at", "attempts", "interruptions", "node", "agent", "retry",
    "quotas", "key", "parent", "children", "callbacks", "annotations",
    "progress", NULL
};

static bool
s_is_time (json_t *value)
{
    //  "2026-11-26T22:00:00.000000Z"
    if (!json_is_string (value))
        return false;
    const char *text = json_string_value (value);
    int64_t when;
    return strlen (text) == 27 && text [26] == 'Z' && text [19] == '.'
        && async_parse_time (text, 0, &when) == 0;
}

static void
s_assert_exact_keys (json_t *job, const char *outcome)
{
    size_t expected = 0;
    for (const char **key = s_section6_keys; *key; key++, expected++)
        if (!json_object_get (job, *key))
            fail_msg ("job JSON lacks \"%s\"", *key);
    if (outcome) {
        expected++;
        if (!json_object_get (job, outcome))
            fail_msg ("job JSON lacks \"%s\"", outcome);
    }
    const char *key;
    json_t *value;
    json_object_foreach (job, key, value) {
        bool known = outcome && strcmp (key, outcome) == 0;
        for (const char **k = s_section6_keys; *k && !known; k++)
            known = strcmp (key, *k) == 0;
        if (!known)
            fail_msg ("job JSON has \"%s\", not in docs/spec.md section 6", key);
    }
    assert_int_equal (json_object_size (job), expected);
}

static void
test_job_json_completed_with_result (void **state)
{
    (void) state;
    async_job_t *job = async_job_new ();
    async_job_set_str (&job->task, "pi.generate_sample");
    s_blob_json (&job->args, "[1000000]");
    async_job_set_str (&job->queue, "default");
    job->status = ASYNC_COMPLETED;
    s_blob_json (&job->result, "[785398, 1000000]");
    job->submitted = INT64_C (1795730400000000);     //  2026-11-26T22:00:00Z
    job->begin_after = job->submitted;
    job->active_start = job->submitted + 1000;
    job->active_end = job->submitted + 2500000;
    job->completed_at = job->submitted + 2600000;
    job->attempts = 1;
    memcpy (job->node, NODE_ID, 37);
    async_job_set_str (&job->agent, "main");
    char callback [37];
    async_id_new (callback);
    async_job_add_callback (job, callback);

    json_t *json = async_job_to_json (job);
    assert_non_null (json);
    s_assert_exact_keys (json, "result");

    assert_string_equal (json_string_value (json_object_get (json, "id")), job->id);
    assert_string_equal (json_string_value (json_object_get (json, "task")),
                         "pi.generate_sample");
    s_assert_json_equal (json_object_get (json, "args"), "[1000000]", "args");
    s_assert_json_equal (json_object_get (json, "kwargs"), "{}", "kwargs");
    assert_string_equal (json_string_value (json_object_get (json, "queue")), "default");
    assert_true (json_is_integer (json_object_get (json, "priority")));
    assert_int_equal (json_integer_value (json_object_get (json, "priority")), 0);
    assert_string_equal (json_string_value (json_object_get (json, "status")), "completed");
    s_assert_json_equal (json_object_get (json, "result"), "[785398, 1000000]", "result");
    assert_string_equal (json_string_value (json_object_get (json, "submitted")),
                         "2026-11-26T22:00:00.000000Z");
    assert_true (s_is_time (json_object_get (json, "begin_after")));
    assert_true (json_is_null (json_object_get (json, "begin_by")));
    assert_true (s_is_time (json_object_get (json, "active_start")));
    assert_true (s_is_time (json_object_get (json, "active_end")));
    assert_string_equal (json_string_value (json_object_get (json, "completed_at")),
                         "2026-11-26T22:00:02.600000Z");
    assert_true (json_is_integer (json_object_get (json, "attempts")));
    assert_int_equal (json_integer_value (json_object_get (json, "attempts")), 1);
    assert_true (json_is_integer (json_object_get (json, "interruptions")));
    assert_int_equal (json_integer_value (json_object_get (json, "interruptions")), 0);
    assert_string_equal (json_string_value (json_object_get (json, "node")), NODE_ID);
    assert_string_equal (json_string_value (json_object_get (json, "agent")), "main");
    assert_string_equal (json_string_value (json_object_get (json, "retry")), "default");
    s_assert_json_equal (json_object_get (json, "quotas"), "[]", "quotas");
    assert_true (json_is_null (json_object_get (json, "key")));
    assert_true (json_is_null (json_object_get (json, "parent")));
    s_assert_json_equal (json_object_get (json, "children"), "[]", "children");
    json_t *callbacks = json_object_get (json, "callbacks");
    assert_true (json_is_array (callbacks));
    assert_int_equal (json_array_size (callbacks), 1);
    assert_string_equal (json_string_value (json_array_get (callbacks, 0)), callback);
    s_assert_json_equal (json_object_get (json, "annotations"), "{}", "annotations");
    assert_true (json_is_null (json_object_get (json, "progress")));

    json_decref (json);
    async_job_destroy (&job);
}

static void
test_job_json_completed_with_failure (void **state)
{
    (void) state;
    async_job_t *job = async_job_new ();
    async_job_set_str (&job->task, "testing.fail");
    async_job_set_str (&job->queue, "default");
    job->status = ASYNC_COMPLETED;
    async_failure_make (&job->failure, "NameError", "boom", "detail", false, NODE_ID, 2);
    json_t *json = async_job_to_json (job);
    s_assert_exact_keys (json, "failure");
    assert_null (json_object_get (json, "result"));
    s_assert_json_equal (json_object_get (json, "failure"),
                         "{\"type\": \"NameError\", \"message\": \"boom\", "
                         "\"detail\": \"detail\", \"transient\": false, "
                         "\"node\": \"" NODE_ID "\", \"attempt\": 2}", "failure");
    json_decref (json);
    async_job_destroy (&job);
}

static void
test_job_json_completed_with_nil_result (void **state)
{
    (void) state;
    //  A task that returned nothing still has "result": null
    async_job_t *job = async_job_new ();
    async_job_set_str (&job->task, "testing.noop");
    job->status = ASYNC_COMPLETED;
    json_t *json = async_job_to_json (job);
    s_assert_exact_keys (json, "result");
    assert_true (json_is_null (json_object_get (json, "result")));
    json_decref (json);
    async_job_destroy (&job);
}

static void
test_job_json_full_job_types (void **state)
{
    (void) state;
    async_job_t *job = s_full_job ();
    job->kind = ASYNC_KIND_TASK;
    json_t *json = async_job_to_json (job);
    //  Every section 6 key, with the type section 6 gives it
    for (const char **key = s_section6_keys; *key; key++)
        if (!json_object_get (json, *key))
            fail_msg ("job JSON lacks \"%s\"", *key);
    assert_true (json_is_string (json_object_get (json, "id")));
    assert_true (json_is_string (json_object_get (json, "task")));
    s_assert_json_equal (json_object_get (json, "args"),
                         "[1000000, \"two\", 3.5, [true, null]]", "args");
    s_assert_json_equal (json_object_get (json, "kwargs"),
                         "{\"size\": 100, \"name\": \"x\"}", "kwargs");
    assert_string_equal (json_string_value (json_object_get (json, "queue")), "bulk");
    assert_int_equal (json_integer_value (json_object_get (json, "priority")), -7);
    //  A completed job with a failure shows the failure, not the result
    assert_true (json_is_object (json_object_get (json, "failure")));
    assert_null (json_object_get (json, "result"));
    assert_true (json_is_number (json_object_get (json, "begin_by")));
    assert_true (json_number_value (json_object_get (json, "begin_by")) == 30.0);
    const char *times [] = { "submitted", "begin_after", "active_start",
                             "active_end", "completed_at", NULL };
    for (int i = 0; times [i]; i++)
        if (!s_is_time (json_object_get (json, times [i])))
            fail_msg ("\"%s\" is not an ISO-8601 UTC time", times [i]);
    assert_int_equal (json_integer_value (json_object_get (json, "attempts")), 3);
    assert_int_equal (json_integer_value (json_object_get (json, "interruptions")), 2);
    assert_string_equal (json_string_value (json_object_get (json, "node")), NODE_ID);
    assert_string_equal (json_string_value (json_object_get (json, "retry")),
                         "attempts=3,backoff=1s..60s");
    s_assert_json_equal (json_object_get (json, "quotas"), "[\"db\", \"api\"]", "quotas");
    assert_string_equal (json_string_value (json_object_get (json, "key")),
                         "nightly-2026-11-26");
    assert_string_equal (json_string_value (json_object_get (json, "parent")), PARENT_ID);
    json_t *children = json_object_get (json, "children");
    assert_int_equal (json_array_size (children), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal (json_string_value (json_array_get (children, i)),
                             job->children [i]);
    json_t *callbacks = json_object_get (json, "callbacks");
    assert_int_equal (json_array_size (callbacks), 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal (json_string_value (json_array_get (callbacks, i)),
                             job->callbacks [i]);
    s_assert_json_equal (json_object_get (json, "annotations"),
                         "{\"owner\": \"ops\", \"n\": 1}", "annotations");
    s_assert_json_equal (json_object_get (json, "progress"), "[1, 3]", "progress");
    json_decref (json);
    async_job_destroy (&job);
}

static void
test_job_json_pending_defaults (void **state)
{
    (void) state;
    async_job_t *job = async_job_new ();
    async_job_set_str (&job->task, "time.time");
    json_t *json = async_job_to_json (job);
    for (const char **key = s_section6_keys; *key; key++)
        if (!json_object_get (json, *key))
            fail_msg ("job JSON lacks \"%s\"", *key);
    assert_string_equal (json_string_value (json_object_get (json, "status")), "pending");
    assert_null (json_object_get (json, "result"));
    assert_null (json_object_get (json, "failure"));
    assert_string_equal (json_string_value (json_object_get (json, "queue")), "default");
    s_assert_json_equal (json_object_get (json, "args"), "[]", "args");
    s_assert_json_equal (json_object_get (json, "kwargs"), "{}", "kwargs");
    const char *nulls [] = { "submitted", "begin_after", "begin_by", "active_start",
                             "active_end", "completed_at", "node", "agent", "key",
                             "parent", "progress", NULL };
    for (int i = 0; nulls [i]; i++)
        if (!json_is_null (json_object_get (json, nulls [i])))
            fail_msg ("\"%s\" of a fresh job is not null", nulls [i]);
    assert_string_equal (json_string_value (json_object_get (json, "retry")), "default");
    json_decref (json);

    //  Callbacks retry forever by default
    job->role = ASYNC_ROLE_CALLBACK;
    json = async_job_to_json (job);
    assert_string_equal (json_string_value (json_object_get (json, "retry")), "forever");
    json_decref (json);
    async_job_destroy (&job);
}

//  ---------------------------------------------------------------------
//  Failure objects

static void
test_failure_make_packs_section_2_2_object (void **state)
{
    (void) state;
    async_blob_t failure = { NULL, 0 };
    async_failure_make (&failure, "TimeoutError", "begin_by passed", "waited 30s",
                        true, NODE_ID, 3);
    json_t *value = async_codec_decode_json (failure.data, failure.size);
    s_assert_json_equal (value, "{\"type\": \"TimeoutError\", \"message\": "
                         "\"begin_by passed\", \"detail\": \"waited 30s\", "
                         "\"transient\": true, \"node\": \"" NODE_ID "\", "
                         "\"attempt\": 3}", "failure");
    json_decref (value);

    //  Making again replaces the blob; NULLs get defaults, no node is null
    async_failure_make (&failure, NULL, NULL, NULL, false, NULL, 0);
    value = async_codec_decode_json (failure.data, failure.size);
    s_assert_json_equal (value, "{\"type\": \"Error\", \"message\": \"\", "
                         "\"detail\": \"\", \"transient\": false, \"node\": null, "
                         "\"attempt\": 0}", "failure");
    json_decref (value);
    async_failure_make (&failure, "X", "m", "d", false, "", 1);
    value = async_codec_decode_json (failure.data, failure.size);
    assert_true (json_is_null (json_object_get (value, "node")));
    json_decref (value);
    async_blob_clear (&failure);
}

static void
test_failure_type_and_transient (void **state)
{
    (void) state;
    async_blob_t failure = { NULL, 0 };
    async_failure_make (&failure, "CrashedError", "signal 11", NULL, true, NODE_ID, 1);
    char type [32];
    assert_int_equal (async_failure_type (&failure, type, sizeof type), 0);
    assert_string_equal (type, "CrashedError");
    assert_true (async_failure_transient (&failure));
    //  Too small a buffer is an error, not a cut name
    assert_int_equal (async_failure_type (&failure, type, 12), -1);
    assert_int_equal (async_failure_type (&failure, type, 13), 0);
    assert_string_equal (type, "CrashedError");

    async_failure_make (&failure, "NameError", "x", NULL, false, NODE_ID, 1);
    assert_false (async_failure_transient (&failure));
    assert_int_equal (async_failure_type (&failure, type, sizeof type), 0);
    assert_string_equal (type, "NameError");
    async_blob_clear (&failure);
}

static void
test_failure_helpers_on_bad_blobs (void **state)
{
    (void) state;
    char type [32];
    async_blob_t empty = { NULL, 0 };
    assert_int_equal (async_failure_type (&empty, type, sizeof type), -1);
    assert_false (async_failure_transient (&empty));

    async_blob_t blob = { NULL, 0 };
    s_blob_json (&blob, "[\"NameError\", true]");          //  not a map
    assert_int_equal (async_failure_type (&blob, type, sizeof type), -1);
    assert_false (async_failure_transient (&blob));
    s_blob_json (&blob, "{\"message\": \"no type\", \"transient\": \"yes\"}");
    assert_int_equal (async_failure_type (&blob, type, sizeof type), -1);
    assert_false (async_failure_transient (&blob));        //  not a bool
    s_blob_json (&blob, "{\"type\": 5}");
    assert_int_equal (async_failure_type (&blob, type, sizeof type), -1);
    async_blob_set (&blob, "\xc1\xc1", 2);                 //  not msgpack
    assert_int_equal (async_failure_type (&blob, type, sizeof type), -1);
    assert_false (async_failure_transient (&blob));
    async_blob_set (&blob, "\x82\xa4type", 6);             //  truncated
    assert_int_equal (async_failure_type (&blob, type, sizeof type), -1);
    async_blob_clear (&blob);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_job_new_is_empty_and_pending),
        cmocka_unit_test (test_job_status_names),
        cmocka_unit_test (test_job_blob_helpers),
        cmocka_unit_test (test_job_round_trip_every_field),
        cmocka_unit_test (test_job_map_form_reads_as_the_array),
        cmocka_unit_test (test_job_empty_strings_read_as_absent),
        cmocka_unit_test (test_job_round_trip_empty_job),
        cmocka_unit_test (test_job_pack_is_one_map_with_a_version),
        cmocka_unit_test (test_job_decode_garbage_returns_null),
        cmocka_unit_test (test_job_decode_truncated_and_random_returns_null),
        cmocka_unit_test (test_job_json_completed_with_result),
        cmocka_unit_test (test_job_json_completed_with_failure),
        cmocka_unit_test (test_job_json_completed_with_nil_result),
        cmocka_unit_test (test_job_json_full_job_types),
        cmocka_unit_test (test_job_json_pending_defaults),
        cmocka_unit_test (test_failure_make_packs_section_2_2_object),
        cmocka_unit_test (test_failure_type_and_transient),
        cmocka_unit_test (test_failure_helpers_on_bad_blobs),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
