//  fuzz_codec - libFuzzer target for the decoders that read bytes from
//  outside: protocol frames (async_inmsg_parse, every frame any peer sends),
//  msgpack values (async_codec_decode_json) and job records
//  (async_job_decode, the broker's store).
//
//  Built and run by tests/fuzz/run.sh:
//      clang -fsanitize=fuzzer,address,undefined ... fuzz_codec.c <libcore sources>
//
//  Besides "no crash, no leak, no undefined behaviour, no huge allocation",
//  it checks two properties, with abort () so that libFuzzer saves the input:
//    - a value decoded to JSON and encoded again decodes to the same JSON
//      (when the encoder accepts it);
//    - a decoded job record, encoded and decoded again, gives the same job
//      JSON (docs/spec.md section 6);
//    - a message's body that a typed decoder of async_msgs.h takes (or an
//      entry of its batch), packed again, is taken again; decode_each
//      takes the same bodies, into the same struct;
//    - the input as text, parsed as a cron expression (async_cron_parse,
//      what EVERY-SET's `cron` goes through) and as a time zone
//      (async_tz_new: UTC, offsets, names of the tz database): a parsed
//      expression's next ticks are whole minutes, each after the last.
#include "async_codec.h"
#include "async_msgs.h"
#include "async_job.h"
#include "async_cron.h"
#include "async_tz.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_fail (const char *what, json_t *a, json_t *b)
{
    char *ta = a ? json_dumps (a, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *tb = b ? json_dumps (b, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    fprintf (stderr, "fuzz_codec: %s\n  first:  %.2000s\n  second: %.2000s\n", what,
             ta ? ta : "(null)", tb ? tb : "(null)");
    free (ta);
    free (tb);
    abort ();
}

//  A typed body (of the message, or an `entry` of a batch) that decodes
//  packs to a map that decodes again
#define S_TYPED(name, fields, commands) \
    static void s_typed_##name (const async_inmsg_t *in, const msgpack_object *entry) \
    { \
        async_##name##_t body, again; \
        async_##name##_bad_t bad; \
        int rc = entry ? async_##name##_decode_map (&body, entry) \
                       : async_##name##_decode (&body, in); \
        if (!entry \
            && ((async_##name##_decode_each (&again, &bad, in) == 0) != (rc == 0) \
                || (rc == 0 && memcmp (&body, &again, sizeof body)))) { \
            fprintf (stderr, "fuzz_codec: decode and decode_each of " #name " disagree\n"); \
            abort (); \
        } \
        if (rc != 0) \
            return; \
        msgpack_sbuffer packed; \
        msgpack_sbuffer_init (&packed); \
        async_##name##_pack (&packed, &body); \
        msgpack_unpacked result = { .zone = NULL }; \
        size_t offset = 0; \
        bool ok = async_codec_check (packed.data, packed.size) == 0 \
            && async_unpack (&result, packed.data, packed.size, &offset) \
                == MSGPACK_UNPACK_SUCCESS \
            && async_##name##_decode_map (&again, &result.data) == 0; \
        async_unpacked_release (&result); \
        msgpack_sbuffer_destroy (&packed); \
        if (!ok) { \
            fprintf (stderr, \
                     "fuzz_codec: a decoded " #name " body, packed again, " \
                     "does not decode\n"); \
            abort (); \
        } \
    }
ASYNC_MSGS (S_TYPED)

static void
s_walk_typed (async_inmsg_t *in)
{
#define S_WHOLE(name, fields, commands) s_typed_##name (in, NULL);
#define S_ENTRY(name, fields, commands) s_typed_##name (in, entry);
    ASYNC_MSGS (S_WHOLE)
    const char *batches [] = { "jobs", "acks", "results", "agents", "held" };
    for (size_t b = 0; b < sizeof batches / sizeof batches [0]; b++) {
        async_batch_t batch;
        const msgpack_object *entry;
        async_batch_begin (&batch, in->body, batches [b], ASYNC_MAX_RESULTS);
        while ((entry = async_batch_next (&batch))) {
            ASYNC_MSGS (S_ENTRY)
        }
    }
}

//  Look at a parsed message the way the broker and the nodes do
static void
s_walk_message (async_inmsg_t *in)
{
    s_walk_typed (in);
    const char *keys [] = { "id", "token", "spec", "job", "jobs", "agents", "held",
                            "tasks", "status", "limit", "code", "message", "result",
                            "failure", "handoff", "progress", "uuid", "name", "value" };
    char buf [64];
    int64_t i64;
    uint64_t u64;
    bool flag;
    double real;
    for (size_t k = 0; k < sizeof keys / sizeof keys [0]; k++) {
        const msgpack_object *o = async_mp_get (in->body, keys [k]);
        async_mp_str (in->body, keys [k], buf, sizeof buf);
        async_mp_int (in->body, keys [k], &i64);
        async_mp_uint (in->body, keys [k], &u64);
        async_mp_bool (in->body, keys [k], &flag);
        async_mp_double (in->body, keys [k], &real);
        free (async_mp_strdup (in->body, keys [k]));
        if (o && o->type == MSGPACK_OBJECT_MAP) {
            //  A JOB reply's "job", as the client reads it
            async_job_t *job = async_job_decode_object (o);
            if (job) {
                json_decref (async_job_to_json (job));
                async_job_destroy (&job);
            }
        }
        if (o) {
            uint8_t *data = NULL;
            size_t size = 0;
            if (async_codec_copy_object (o, &data, &size) == 0) {
                //  A copy is one well-formed value
                if (async_codec_check (data, size) != 0) {
                    fprintf (stderr, "fuzz_codec: a copied object does not pass "
                             "async_codec_check (key %s, %zu bytes)\n", keys [k], size);
                    abort ();
                }
            }
            free (data);
        }
    }
    json_decref (async_codec_to_json (in->body));
}

static void
s_value_round_trip (const uint8_t *data, size_t size)
{
    json_t *first = async_codec_decode_json (data, size);
    if (!first)
        return;
    uint8_t *again = NULL;
    size_t again_size = 0;
    if (async_codec_encode_json (first, &again, &again_size) == 0) {
        json_t *second = async_codec_decode_json (again, again_size);
        if (!second)
            s_fail ("a value encoded from decoded JSON does not decode", first, NULL);
        if (!json_equal (first, second))
            s_fail ("a value changed over decode, encode, decode", first, second);
        json_decref (second);
    }
    free (again);
    json_decref (first);
}

static void
s_job_round_trip (const uint8_t *data, size_t size)
{
    async_job_t *job = async_job_decode (data, size);
    if (!job)
        return;
    json_t *first = async_job_to_json (job);
    uint8_t *again = NULL;
    size_t again_size = 0;
    if (async_job_encode (job, &again, &again_size) == 0) {
        async_job_t *back = async_job_decode (again, again_size);
        if (!back)
            s_fail ("an encoded job record does not decode", first, NULL);
        json_t *second = async_job_to_json (back);
        if (!json_equal (first, second))
            s_fail ("a job changed over decode, encode, decode", first, second);
        json_decref (second);
        async_job_destroy (&back);
    }
    free (again);
    json_decref (first);
    async_job_destroy (&job);
}

//  The input as a cron expression and a time zone
static void
s_cron (const uint8_t *data, size_t size)
{
    char text [ASYNC_CRON_MAX + 2];
    size_t len = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy (text, data, len);
    text [len] = 0;
    char err [300] = "";
    async_tz_t *tz = async_tz_new (text, err, sizeof err);
    if (tz) {
        int32_t offset = async_tz_offset (tz, (int64_t) len * 86400 * 97);
        if (offset < -ASYNC_TZ_OFFSET_MAX - 3600 || offset > ASYNC_TZ_OFFSET_MAX + 3600) {
            fprintf (stderr, "fuzz_codec: tz '%s' has offset %d s\n", text, (int) offset);
            abort ();
        }
        async_tz_destroy (&tz);
    }
    else if (!*err || strchr (err, '\n')) {
        fprintf (stderr, "fuzz_codec: tz refused without a one-line reason\n");
        abort ();
    }
    async_cron_t cron;
    if (async_cron_parse (text, &cron, err, sizeof err)) {
        if (!*err || strchr (err, '\n')) {
            fprintf (stderr, "fuzz_codec: cron refused without a one-line reason\n");
            abort ();
        }
        return;
    }
    //  A few ticks from a time and zone the input picks
    uint64_t seed = 0;
    for (size_t i = 0; i < size; i++)
        seed = seed * 131 + data [i];
    int64_t after = (int64_t) (seed % (4102444800ULL * 1000000ULL));  //  to 2100
    static async_tz_t *zones [4];
    static const char *names [4] = { "UTC", "+05:45", "-09:30", "Europe/Paris" };
    tz = zones [seed % 4];
    if (!tz)
        tz = zones [seed % 4] = async_tz_new (names [seed % 4], err, sizeof err);
    for (int i = 0; i < 3; i++) {
        int64_t next = async_cron_next (&cron, after, tz);
        if (next == -1)
            return;  //  none within 10 years
        if (next <= after || next % 60000000 != 0) {
            fprintf (stderr, "fuzz_codec: cron '%s' after %lld: %lld\n", text,
                     (long long) after, (long long) next);
            abort ();
        }
        after = next;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    async_inmsg_t in;
    const char *why = NULL;
    if (async_inmsg_parse (&in, data, size, &why) == 0) {
        if (!in.body || in.body->type != MSGPACK_OBJECT_MAP) {
            fprintf (stderr, "fuzz_codec: parse succeeded without a map body\n");
            abort ();
        }
        s_walk_message (&in);
    }
    else
    if (!why) {
        fprintf (stderr, "fuzz_codec: parse failed without a reason\n");
        abort ();
    }
    async_inmsg_destroy (&in);
    s_value_round_trip (data, size);
    s_job_round_trip (data, size);
    s_cron (data, size);
    return 0;
}
