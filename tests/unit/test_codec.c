/*  =========================================================================
    test_codec - JSON <-> msgpack values, protocol messages, malformed
    frames (async_codec)
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
#include "fixture.h"

#include "async_codec.h"

//  msgpack-c allocates a container's declared element count before it has
//  read the elements, so five garbage bytes can ask for 64 GB. glibc malloc
//  returns NULL for that and msgpack-c reports an error; ASan instead aborts
//  (or maps and poisons gigabytes, which takes minutes). Make ASan behave
//  like a bounded production malloc: nothing in these tests legitimately
//  needs 64 MB in one piece. (The unbounded allocation itself is reported
//  as a codec hardening issue.)
const char *
    __asan_default_options (void);
__attribute__ ((used)) const char *
__asan_default_options (void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=64";
}

//  ---------------------------------------------------------------------
//  Helpers

static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *value = json_loads (text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!value)
        fail_msg ("bad JSON in test: %s (%s)", text, error.text);
    return value;
}

//  Encode `value`, check the msgpack type of the result, decode it again
//  and check it equals the original.
static void
s_round_trip (json_t *value, msgpack_object_type expected_type)
{
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    assert_non_null (data);
    assert_true (size > 0);

    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, (const char *) data, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (offset, size);
    assert_int_equal (unpacked.data.type, expected_type);
    msgpack_unpacked_destroy (&unpacked);

    json_t *back = async_codec_decode_json (data, size);
    assert_non_null (back);
    if (!json_equal (value, back)) {
        char *want = json_dumps (value, JSON_ENCODE_ANY);
        char *got = json_dumps (back, JSON_ENCODE_ANY);
        fail_msg ("round trip changed %s into %s", want, got);
    }
    json_decref (back);
    free (data);
}

static void
s_round_trip_text (const char *text, msgpack_object_type expected_type)
{
    json_t *value = s_json (text);
    s_round_trip (value, expected_type);
    json_decref (value);
}

//  Encode a JSON value as a frame (for hand-made, possibly malformed,
//  protocol messages): "[1, \"PING\", 7, {}]"
static void
s_frame (const char *text, uint8_t **data, size_t *size)
{
    json_t *value = s_json (text);
    assert_int_equal (async_codec_encode_json (value, data, size), 0);
    json_decref (value);
}

//  Parse must refuse the frame with a reason; returns the reason
static const char *
s_refused (const void *data, size_t size)
{
    async_inmsg_t msg;
    const char *why = NULL;
    int rc = async_inmsg_parse (&msg, data, size, &why);
    async_inmsg_destroy (&msg);
    if (rc != -1)
        fail_msg ("a malformed frame of %zu bytes was accepted", size);
    assert_non_null (why);
    assert_true (strlen (why) > 0);
    return why;
}

static const char *
s_refused_text (const char *text)
{
    uint8_t *data;
    size_t size;
    s_frame (text, &data, &size);
    const char *why = s_refused (data, size);
    free (data);
    return why;
}

static uint64_t s_rng = 0x5eed5eed12345678u;

static uint64_t
s_random (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

//  A valid message with every kind of body field
static void
s_sample_message (async_msg_t *msg)
{
    json_t *args = s_json ("[1, \"two\", 3.5, [true, null], {\"k\": \"v\"}]");
    uint8_t *raw;
    size_t raw_size;
    assert_int_equal (async_codec_encode_json (args, &raw, &raw_size), 0);
    json_decref (args);

    async_msg_init (msg, ASYNC_C_SUBMIT, 42);
    async_msg_str (msg, "task", "pi.generate_sample");
    async_msg_int (msg, "priority", -5);
    async_msg_int (msg, "big", INT64_MAX);
    async_msg_int (msg, "small", INT64_MIN);
    async_msg_key (msg, "flag");
    msgpack_pack_true (&msg->packer);
    async_msg_key (msg, "ratio");
    msgpack_pack_double (&msg->packer, 0.5);
    async_msg_key (msg, "count");
    msgpack_pack_uint64 (&msg->packer, UINT64_MAX);
    async_msg_raw (msg, "args", raw, raw_size);
    async_msg_raw (msg, "none", NULL, 0);
    async_msg_str (msg, "nil", NULL);
    free (raw);
}

//  ---------------------------------------------------------------------
//  Values

static void
test_codec_nil_and_bool_round_trip (void **state)
{
    (void) state;
    s_round_trip_text ("null", MSGPACK_OBJECT_NIL);
    s_round_trip_text ("true", MSGPACK_OBJECT_BOOLEAN);
    s_round_trip_text ("false", MSGPACK_OBJECT_BOOLEAN);
}

static void
test_codec_int_round_trip (void **state)
{
    (void) state;
    const char *positive [] = {
        "0", "1", "127", "128", "255", "256", "65535", "65536",
        "4294967295", "4294967296", "9223372036854775807", NULL
    };
    for (int i = 0; positive [i]; i++)
        s_round_trip_text (positive [i], MSGPACK_OBJECT_POSITIVE_INTEGER);
    const char *negative [] = {
        "-1", "-32", "-33", "-128", "-129", "-32768", "-32769",
        "-2147483648", "-2147483649", NULL
    };
    for (int i = 0; negative [i]; i++)
        s_round_trip_text (negative [i], MSGPACK_OBJECT_NEGATIVE_INTEGER);

    //  The int64 extremes, built directly
    json_t *max = json_integer (INT64_MAX);
    json_t *min = json_integer (INT64_MIN);
    s_round_trip (max, MSGPACK_OBJECT_POSITIVE_INTEGER);
    s_round_trip (min, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    json_decref (max);
    json_decref (min);
}

static void
test_codec_uint64_above_int64_decodes_as_real (void **state)
{
    (void) state;
    //  A msgpack uint64 past INT64_MAX has no JSON integer: it must not
    //  wrap to a negative number
    const uint8_t data [] = { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    json_t *value = async_codec_decode_json (data, sizeof data);
    assert_non_null (value);
    assert_true (json_is_real (value));
    assert_true (json_real_value (value) > 1.8e19);
    json_decref (value);
}

static void
test_codec_float_round_trip (void **state)
{
    (void) state;
    const char *reals [] = {
        "0.0", "1.5", "-0.25", "3.141592653589793", "1e300", "-1e-300",
        "1.7976931348623157e308", NULL
    };
    for (int i = 0; reals [i]; i++)
        s_round_trip_text (reals [i], MSGPACK_OBJECT_FLOAT64);

    //  A float32 on the wire decodes as a real
    const uint8_t f32 [] = { 0xca, 0x3f, 0xc0, 0x00, 0x00 };      //  1.5f
    json_t *value = async_codec_decode_json (f32, sizeof f32);
    assert_non_null (value);
    assert_true (json_is_real (value));
    assert_true (json_real_value (value) == 1.5);
    json_decref (value);
}

static void
test_codec_str_round_trip (void **state)
{
    (void) state;
    s_round_trip_text ("\"hello\"", MSGPACK_OBJECT_STR);
    //  UTF-8: two-, three- and four-byte sequences
    s_round_trip_text ("\"h\\u00e9llo \\u2603 \\ud83d\\ude00\"", MSGPACK_OBJECT_STR);
    //  Longer than the fixstr and str8 forms
    char *long_text = malloc (70000);
    memset (long_text, 'x', 70000);
    json_t *value = json_stringn (long_text, 70000);
    s_round_trip (value, MSGPACK_OBJECT_STR);
    json_decref (value);
    free (long_text);
}

static void
test_codec_empty_str_round_trip (void **state)
{
    (void) state;
    //  msgpack-c leaves the pointer of a zero-length str NULL when nothing
    //  before it had a body: "" must still decode as "", and must not
    //  vanish from arrays and maps
    s_round_trip_text ("\"\"", MSGPACK_OBJECT_STR);
    s_round_trip_text ("[\"\", 1]", MSGPACK_OBJECT_ARRAY);
    s_round_trip_text ("{\"a\": \"\"}", MSGPACK_OBJECT_MAP);
    s_round_trip_text ("{\"\": \"x\"}", MSGPACK_OBJECT_MAP);
}

static void
test_codec_str_utf8_bytes_kept (void **state)
{
    (void) state;
    //  The msgpack str holds the UTF-8 bytes, not escapes
    json_t *value = json_string ("\xf0\x9f\x98\x80");        //  U+1F600
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    assert_int_equal (size, 5);
    assert_int_equal (data [0], 0xa4);                       //  fixstr of 4 bytes
    assert_memory_equal (data + 1, "\xf0\x9f\x98\x80", 4);
    free (data);
    json_decref (value);
}

static void
test_codec_str_embedded_nul_round_trip (void **state)
{
    (void) state;
    json_t *value = json_stringn ("a\0b\0", 4);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    assert_int_equal (size, 5);
    assert_memory_equal (data, "\xa4" "a\0b\0", 5);
    json_t *back = async_codec_decode_json (data, size);
    assert_non_null (back);
    assert_true (json_is_string (back));
    assert_int_equal (json_string_length (back), 4);
    assert_memory_equal (json_string_value (back), "a\0b\0", 4);
    json_decref (back);
    json_decref (value);
    free (data);
}

//  A map key that is not a string is named by its scalar text or by its
//  kind and place, never by dumping it: nested container keys once
//  doubled the text at each level (fuzz finding regress_key_escape_blowup)
static void
test_codec_non_string_keys_stay_small (void **state)
{
    (void) state;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    //  {{{{...{"k": 1}...}: 1}: 1}: 1}, 20 levels of map keys, then an
    //  int key and a nil key
    msgpack_pack_map (&pk, 3);
    for (int level = 0; level < 20; level++)
        msgpack_pack_map (&pk, 1);
    msgpack_pack_str_with_body (&pk, "k\"", 2);
    for (int level = 0; level < 20; level++)
        msgpack_pack_int (&pk, 1);
    msgpack_pack_int (&pk, 1);
    msgpack_pack_int (&pk, 7);
    msgpack_pack_true (&pk);
    msgpack_pack_nil (&pk);
    msgpack_pack_str_with_body (&pk, "x", 1);
    json_t *json = async_codec_decode_json (buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    assert_non_null (json);
    char *text = json_dumps (json, JSON_COMPACT);
    assert_non_null (text);
    assert_true (strlen (text) < 200);
    assert_string_contains (text, "\"$key:map#0\":1");
    assert_string_contains (text, "\"7\":true");
    assert_string_contains (text, "\"null\":\"x\"");
    free (text);
    json_decref (json);
}

static void
test_codec_bin_from_msgpack_to_json (void **state)
{
    (void) state;
    //  msgpack bin -> {"$bin": base64}
    const uint8_t bin [] = { 0xc4, 0x04, 0x00, 0x01, 0x02, 0xff };
    json_t *value = async_codec_decode_json (bin, sizeof bin);
    assert_non_null (value);
    assert_true (json_is_object (value));
    assert_int_equal (json_object_size (value), 1);
    assert_string_equal (json_string_value (json_object_get (value, "$bin")), "AAEC/w==");
    json_decref (value);

    const uint8_t hello [] = { 0xc4, 0x05, 'h', 'e', 'l', 'l', 'o' };
    value = async_codec_decode_json (hello, sizeof hello);
    assert_string_equal (json_string_value (json_object_get (value, "$bin")), "aGVsbG8=");
    json_decref (value);

    const uint8_t empty [] = { 0xc4, 0x00 };
    value = async_codec_decode_json (empty, sizeof empty);
    assert_string_equal (json_string_value (json_object_get (value, "$bin")), "");
    json_decref (value);
}

static void
test_codec_bin_from_json_round_trip (void **state)
{
    (void) state;
    //  {"$bin": base64} packs the decoded bytes as msgpack bin, exactly
    const struct {
        const char *base64;
        const uint8_t *encoded;
        size_t size;
    } cases [] = {
        { "AAEC/w==", (const uint8_t *) "\xc4\x04\x00\x01\x02\xff", 6 },
        { "aGVsbG8=", (const uint8_t *) "\xc4\x05hello", 7 },
        { "", (const uint8_t *) "\xc4\x00", 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_t *value = json_pack ("{s:s}", "$bin", cases [i].base64);
        uint8_t *data;
        size_t size;
        assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
        if (size != cases [i].size || memcmp (data, cases [i].encoded, size))
            fail_msg ("{\"$bin\": \"%s\"} packed as %zu bytes, want %zu",
                      cases [i].base64, size, cases [i].size);
        free (data);
        s_round_trip (value, MSGPACK_OBJECT_BIN);
        json_decref (value);
    }
    //  Every byte value survives JSON -> msgpack -> JSON -> msgpack
    uint8_t bytes [256 + 5];
    bytes [0] = 0xc5;                                       //  bin16
    bytes [1] = 0x01;
    bytes [2] = 0x00;
    for (int i = 0; i < 256; i++)
        bytes [3 + i] = (uint8_t) i;
    json_t *value = async_codec_decode_json (bytes, 259);
    assert_non_null (value);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    assert_int_equal (size, 259);
    assert_memory_equal (data, bytes, 259);
    free (data);
    json_decref (value);
}

static void
test_codec_bin_invalid_base64_refused (void **state)
{
    (void) state;
    const char *bad [] = { "!!!", "A", "AAEC/w=", "AAEC/w==x", "AA EC", NULL };
    for (int i = 0; bad [i]; i++) {
        json_t *value = json_pack ("{s:s}", "$bin", bad [i]);
        uint8_t *data = NULL;
        size_t size = 0;
        int rc = async_codec_encode_json (value, &data, &size);
        json_decref (value);
        free (rc == 0 ? data : NULL);
        if (rc != -1)
            fail_msg ("{\"$bin\": \"%s\"} is not base64 but was packed", bad [i]);
    }
}

static void
test_codec_bin_lookalikes_stay_maps (void **state)
{
    (void) state;
    //  Only a one-key object with a string "$bin" is bin
    s_round_trip_text ("{\"$bin\": \"AAEC\", \"other\": 1}", MSGPACK_OBJECT_MAP);
    s_round_trip_text ("{\"$bin\": 5}", MSGPACK_OBJECT_MAP);
    s_round_trip_text ("{\"$bin\": null}", MSGPACK_OBJECT_MAP);
}

static void
test_codec_nested_round_trip (void **state)
{
    (void) state;
    s_round_trip_text ("[]", MSGPACK_OBJECT_ARRAY);
    s_round_trip_text ("{}", MSGPACK_OBJECT_MAP);
    s_round_trip_text ("[1, [2, [3, {\"a\": null}]], \"x\", -4, 0.5, false]",
                       MSGPACK_OBJECT_ARRAY);
    s_round_trip_text ("{\"a\": {\"b\": [true, false, null, 1.5, \"x\", {}]},"
                       " \"\\u00e9\": [], \"\": 0}", MSGPACK_OBJECT_MAP);
    //  Larger than the fixarray / fixmap forms
    json_t *array = json_array ();
    json_t *object = json_object ();
    for (int i = 0; i < 70000; i++) {
        char key [16];
        snprintf (key, sizeof key, "k%d", i);
        json_array_append_new (array, json_integer (i - 35000));
        json_object_set_new (object, key, json_integer (i));
    }
    s_round_trip (array, MSGPACK_OBJECT_ARRAY);
    s_round_trip (object, MSGPACK_OBJECT_MAP);
    json_decref (array);
    json_decref (object);
}

static void
test_codec_nesting_up_to_max_depth (void **state)
{
    (void) state;
    //  ASYNC_MAX_VALUE_DEPTH levels of containers round trip
    json_t *value = json_integer (7);
    for (int depth = 1; depth <= ASYNC_MAX_VALUE_DEPTH; depth++) {
        json_t *outer = json_array ();
        json_array_append_new (outer, value);
        value = outer;
    }
    s_round_trip (value, MSGPACK_OBJECT_ARRAY);
    json_decref (value);
}

static void
test_codec_too_deep_refused_at_encode (void **state)
{
    (void) state;
    //  A value that packs must also unpack: deeper than ASYNC_MAX_VALUE_DEPTH
    //  either is refused by the encoder or decodes
    json_t *value = json_integer (7);
    for (int depth = 1; depth <= ASYNC_MAX_VALUE_DEPTH + 8; depth++) {
        json_t *outer = json_array ();
        json_array_append_new (outer, value);
        value = outer;
    }
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = async_codec_encode_json (value, &data, &size);
    json_t *back = rc == 0 ? async_codec_decode_json (data, size) : NULL;
    bool ok = rc == -1 || back != NULL;
    json_decref (back);
    json_decref (value);
    if (rc == 0)
        free (data);
    if (!ok)
        fail_msg ("a value nested %d deep packed, but cannot be decoded",
                  ASYNC_MAX_VALUE_DEPTH + 8);
    //  And the encoder is the one that refuses it
    assert_int_equal (rc, -1);
}

static void
test_codec_non_string_map_keys_rendered (void **state)
{
    (void) state;
    //  {1: "a", true: "b"} -> {"1": "a", "true": "b"}
    const uint8_t data [] = { 0x82, 0x01, 0xa1, 'a', 0xc3, 0xa1, 'b' };
    json_t *value = async_codec_decode_json (data, sizeof data);
    assert_non_null (value);
    assert_string_equal (json_string_value (json_object_get (value, "1")), "a");
    assert_string_equal (json_string_value (json_object_get (value, "true")), "b");
    json_decref (value);
}

static void
test_codec_decode_refuses_truncated_and_trailing (void **state)
{
    (void) state;
    json_t *value = s_json ("{\"a\": [1, 2, \"three\"], \"b\": 1.5}");
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    for (size_t len = 0; len < size; len++) {
        json_t *back = async_codec_decode_json (data, len);
        if (back)
            fail_msg ("a %zu-byte prefix of a %zu-byte value decoded", len, size);
    }
    uint8_t *longer = malloc (size + 1);
    memcpy (longer, data, size);
    longer [size] = 0xc0;
    assert_null (async_codec_decode_json (longer, size + 1));
    free (longer);
    free (data);
    json_decref (value);
}

static void
test_codec_copy_object_and_pack_helpers (void **state)
{
    (void) state;
    //  pack_str (NULL is nil) and pack_raw compose one valid array
    json_t *inner = s_json ("{\"x\": [1, 2]}");
    uint8_t *raw;
    size_t raw_size;
    assert_int_equal (async_codec_encode_json (inner, &raw, &raw_size), 0);
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 3);
    async_codec_pack_str (&pk, "s");
    async_codec_pack_str (&pk, NULL);
    async_codec_pack_raw (&pk, raw, raw_size);
    json_t *value = async_codec_decode_json (buffer.data, buffer.size);
    json_t *want = s_json ("[\"s\", null, {\"x\": [1, 2]}]");
    assert_true (json_equal (value, want));

    //  copy_object re-encodes one object, byte for byte
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    uint8_t *copy;
    size_t copy_size;
    assert_int_equal (async_codec_copy_object (&unpacked.data.via.array.ptr [2],
                                               &copy, &copy_size), 0);
    assert_int_equal (copy_size, raw_size);
    assert_memory_equal (copy, raw, raw_size);
    free (copy);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
    json_decref (value);
    json_decref (want);
    json_decref (inner);
    free (raw);
}

//  ---------------------------------------------------------------------
//  Messages

static void
test_msg_round_trip_command_rid_body (void **state)
{
    (void) state;
    async_msg_t out;
    s_sample_message (&out);
    async_inmsg_t in;
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (&in, out.buffer.data, out.buffer.size, &why), 0);
    assert_string_equal (in.command, "SUBMIT");
    assert_int_equal (in.rid, 42);
    assert_non_null (in.body);
    assert_int_equal (in.body->type, MSGPACK_OBJECT_MAP);
    assert_int_equal (in.body->via.map.size, 10);

    char buf [64];
    assert_int_equal (async_mp_str (in.body, "task", buf, sizeof buf), 0);
    assert_string_equal (buf, "pi.generate_sample");
    char *task = async_mp_strdup (in.body, "task");
    assert_string_equal (task, "pi.generate_sample");
    free (task);
    assert_true (async_mp_streq (async_mp_get (in.body, "task"), "pi.generate_sample"));
    assert_false (async_mp_streq (async_mp_get (in.body, "task"), "pi.generate"));

    int64_t i64 = 0;
    assert_int_equal (async_mp_int (in.body, "priority", &i64), 0);
    assert_int_equal (i64, -5);
    assert_int_equal (async_mp_int (in.body, "big", &i64), 0);
    assert_true (i64 == INT64_MAX);
    assert_int_equal (async_mp_int (in.body, "small", &i64), 0);
    assert_true (i64 == INT64_MIN);

    uint64_t u64 = 0;
    assert_int_equal (async_mp_uint (in.body, "count", &u64), 0);
    assert_true (u64 == UINT64_MAX);
    assert_int_equal (async_mp_uint (in.body, "big", &u64), 0);
    assert_true (u64 == (uint64_t) INT64_MAX);

    bool flag = false;
    assert_int_equal (async_mp_bool (in.body, "flag", &flag), 0);
    assert_true (flag);

    double real = 0;
    assert_int_equal (async_mp_double (in.body, "ratio", &real), 0);
    assert_true (real == 0.5);
    //  Integers read as doubles too
    assert_int_equal (async_mp_double (in.body, "priority", &real), 0);
    assert_true (real == -5.0);
    assert_int_equal (async_mp_double (in.body, "count", &real), 0);
    assert_true (real > 1.8e19);

    //  Raw values arrive as they were packed
    const msgpack_object *args = async_mp_get (in.body, "args");
    assert_non_null (args);
    json_t *got = async_codec_to_json (args);
    json_t *want = s_json ("[1, \"two\", 3.5, [true, null], {\"k\": \"v\"}]");
    assert_true (json_equal (got, want));
    json_decref (got);
    json_decref (want);
    assert_int_equal (async_mp_get (in.body, "none")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal (async_mp_get (in.body, "nil")->type, MSGPACK_OBJECT_NIL);

    async_inmsg_destroy (&in);
    assert_null (in.body);
    async_msg_destroy (&out);
}

static void
test_msg_lookups_refuse_wrong_types (void **state)
{
    (void) state;
    async_msg_t out;
    s_sample_message (&out);
    async_inmsg_t in;
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (&in, out.buffer.data, out.buffer.size, &why), 0);

    char buf [64];
    int64_t i64 = 99;
    uint64_t u64 = 99;
    bool flag = false;
    double real = 99;
    //  Missing key
    assert_null (async_mp_get (in.body, "absent"));
    assert_int_equal (async_mp_str (in.body, "absent", buf, sizeof buf), -1);
    assert_null (async_mp_strdup (in.body, "absent"));
    assert_int_equal (async_mp_int (in.body, "absent", &i64), -1);
    assert_int_equal (async_mp_uint (in.body, "absent", &u64), -1);
    assert_int_equal (async_mp_bool (in.body, "absent", &flag), -1);
    assert_int_equal (async_mp_double (in.body, "absent", &real), -1);
    //  Wrong type
    assert_int_equal (async_mp_str (in.body, "priority", buf, sizeof buf), -1);
    assert_null (async_mp_strdup (in.body, "priority"));
    assert_null (async_mp_strdup (in.body, "nil"));
    assert_int_equal (async_mp_int (in.body, "task", &i64), -1);
    assert_int_equal (async_mp_int (in.body, "ratio", &i64), -1);
    assert_int_equal (async_mp_int (in.body, "count", &i64), -1);     //  > INT64_MAX
    assert_int_equal (async_mp_uint (in.body, "priority", &u64), -1); //  negative
    assert_int_equal (async_mp_uint (in.body, "ratio", &u64), -1);
    assert_int_equal (async_mp_bool (in.body, "task", &flag), -1);
    assert_int_equal (async_mp_bool (in.body, "nil", &flag), -1);
    assert_int_equal (async_mp_double (in.body, "task", &real), -1);
    assert_int_equal (async_mp_double (in.body, "flag", &real), -1);
    //  Outputs untouched on refusal
    assert_int_equal (i64, 99);
    assert_true (u64 == 99);
    assert_false (flag);
    assert_true (real == 99);
    //  Truncation is an error, not a silent cut: 18 chars need 19 bytes
    assert_int_equal (async_mp_str (in.body, "task", buf, 18), -1);
    assert_int_equal (async_mp_str (in.body, "task", buf, 19), 0);
    assert_string_equal (buf, "pi.generate_sample");
    //  Not a map
    assert_null (async_mp_get (async_mp_get (in.body, "task"), "task"));
    assert_null (async_mp_get (NULL, "task"));

    async_inmsg_destroy (&in);
    async_msg_destroy (&out);
}

static void
test_msg_embedded_nul_refused_by_string_lookups (void **state)
{
    (void) state;
    async_msg_t out;
    async_msg_init (&out, ASYNC_C_PING, 1);
    async_msg_key (&out, "name");
    msgpack_pack_str (&out.packer, 3);
    msgpack_pack_str_body (&out.packer, "a\0b", 3);
    async_inmsg_t in;
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (&in, out.buffer.data, out.buffer.size, &why), 0);
    char buf [16];
    assert_int_equal (async_mp_str (in.body, "name", buf, sizeof buf), -1);
    assert_null (async_mp_strdup (in.body, "name"));
    async_inmsg_destroy (&in);
    async_msg_destroy (&out);
}

static void
test_msg_rid_extremes_and_empty_body (void **state)
{
    (void) state;
    const uint64_t rids [] = { 0, 1, 255, 65536, UINT64_MAX };
    for (size_t i = 0; i < sizeof rids / sizeof rids [0]; i++) {
        async_msg_t out;
        async_msg_init (&out, ASYNC_C_PING, rids [i]);
        async_inmsg_t in;
        const char *why = NULL;
        assert_int_equal (async_inmsg_parse (&in, out.buffer.data, out.buffer.size, &why), 0);
        assert_string_equal (in.command, "PING");
        assert_true (in.rid == rids [i]);
        assert_int_equal (in.body->via.map.size, 0);
        async_inmsg_destroy (&in);
        async_msg_destroy (&out);
    }
}

static void
test_msg_command_length_limit (void **state)
{
    (void) state;
    //  The longest command that fits async_inmsg_t.command is 23 bytes
    char command [64];
    memset (command, 'C', sizeof command);
    command [23] = 0;
    async_msg_t out;
    async_msg_init_named (&out, command, 1);
    async_inmsg_t in;
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (&in, out.buffer.data, out.buffer.size, &why), 0);
    assert_string_equal (in.command, command);
    async_inmsg_destroy (&in);
    async_msg_destroy (&out);

    command [23] = 'C';
    command [24] = 0;
    async_msg_init_named (&out, command, 1);
    s_refused (out.buffer.data, out.buffer.size);
    async_msg_destroy (&out);
}

//  ---------------------------------------------------------------------
//  Malformed frames

static void
test_msg_every_truncation_refused (void **state)
{
    (void) state;
    async_msg_t out;
    s_sample_message (&out);
    const char *data = out.buffer.data;
    size_t size = out.buffer.size;
    for (size_t len = 0; len < size; len++) {
        //  A heap copy of exactly len bytes, so ASan sees any over-read
        char *prefix = malloc (len ? len : 1);
        memcpy (prefix, data, len);
        s_refused (prefix, len);
        free (prefix);
    }
    async_inmsg_t in;
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (&in, data, size, &why), 0);
    async_inmsg_destroy (&in);
    async_msg_destroy (&out);
}

static void
test_msg_trailing_bytes_refused (void **state)
{
    (void) state;
    async_msg_t out;
    async_msg_init (&out, ASYNC_C_PING, 1);
    msgpack_pack_nil (&out.packer);                 //  a second value
    const char *why = s_refused (out.buffer.data, out.buffer.size);
    assert_string_contains (why, "trailing");
    async_msg_destroy (&out);
}

static void
test_msg_wrong_version_refused (void **state)
{
    (void) state;
    const char *frames [] = {
        "[2, \"PING\", 1, {}]",
        "[0, \"PING\", 1, {}]",
        "[-1, \"PING\", 1, {}]",
        "[\"1\", \"PING\", 1, {}]",
        "[1.0, \"PING\", 1, {}]",
        "[null, \"PING\", 1, {}]",
        NULL
    };
    for (int i = 0; frames [i]; i++) {
        const char *why = s_refused_text (frames [i]);
        if (!strstr (why, "version"))
            fail_msg ("%s refused for '%s', not for its version", frames [i], why);
    }
    //  The right version, for contrast
    uint8_t *data;
    size_t size;
    s_frame ("[1, \"PING\", 1, {}]", &data, &size);
    async_inmsg_t in;
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (&in, data, size, &why), 0);
    async_inmsg_destroy (&in);
    free (data);
}

static void
test_msg_non_array_root_refused (void **state)
{
    (void) state;
    const char *frames [] = {
        "{}", "{\"version\": 1}", "null", "1", "\"PING\"", "[]",
        "[1, \"PING\", 1]", "[1, \"PING\", 1, {}, {}]", NULL
    };
    for (int i = 0; frames [i]; i++)
        s_refused_text (frames [i]);
}

static void
test_msg_bad_command_and_rid_refused (void **state)
{
    (void) state;
    const char *frames [] = {
        "[1, 5, 1, {}]",
        "[1, null, 1, {}]",
        "[1, [\"PING\"], 1, {}]",
        "[1, \"PI\\u0000NG\", 1, {}]",
        "[1, \"PING\", -1, {}]",
        "[1, \"PING\", \"1\", {}]",
        "[1, \"PING\", 1.5, {}]",
        "[1, \"PING\", null, {}]",
        NULL
    };
    for (int i = 0; frames [i]; i++)
        s_refused_text (frames [i]);
}

static void
test_msg_body_not_a_map_refused (void **state)
{
    (void) state;
    const char *frames [] = {
        "[1, \"PING\", 1, []]",
        "[1, \"PING\", 1, null]",
        "[1, \"PING\", 1, \"body\"]",
        "[1, \"PING\", 1, 7]",
        NULL
    };
    for (int i = 0; frames [i]; i++) {
        const char *why = s_refused_text (frames [i]);
        assert_string_contains (why, "body");
    }
}

//  Look at everything a handler would in a frame that parsed
static void
s_exercise (async_inmsg_t *in)
{
    char buf [64];
    int64_t i64;
    uint64_t u64;
    bool flag;
    double real;
    async_mp_str (in->body, "task", buf, sizeof buf);
    free (async_mp_strdup (in->body, "task"));
    async_mp_int (in->body, "priority", &i64);
    async_mp_uint (in->body, "count", &u64);
    async_mp_bool (in->body, "flag", &flag);
    async_mp_double (in->body, "ratio", &real);
    json_t *body = async_codec_to_json (in->body);
    char *text = json_dumps (body, JSON_ENCODE_ANY);
    free (text);
    json_decref (body);
}

static void
s_fuzz_one (const uint8_t *data, size_t size, int *parsed)
{
    async_inmsg_t in;
    const char *why = NULL;
    if (async_inmsg_parse (&in, data, size, &why) == 0) {
        s_exercise (&in);
        (*parsed)++;
    }
    else {
        assert_non_null (why);
        assert_true (*why);
    }
    async_inmsg_destroy (&in);
    json_t *value = async_codec_decode_json (data, size);
    if (value) {
        char *text = json_dumps (value, JSON_ENCODE_ANY);
        free (text);
        json_decref (value);
    }
}

static void
test_msg_random_garbage_never_crashes (void **state)
{
    (void) state;
    s_rng = 0x5eed5eed12345678u;
    int parsed = 0;
    //  Pure noise
    for (int round = 0; round < 4000; round++) {
        size_t size = (size_t) (s_random () % 97);
        uint8_t *data = malloc (size ? size : 1);
        for (size_t i = 0; i < size; i++)
            data [i] = (uint8_t) s_random ();
        //  Often start like a message so the parser gets further
        if (size > 2 && round % 2) {
            data [0] = 0x94;
            data [1] = 0x01;
        }
        s_fuzz_one (data, size, &parsed);
        free (data);
    }
    //  A valid message with a few bytes changed and maybe cut short
    async_msg_t out;
    s_sample_message (&out);
    for (int round = 0; round < 3000; round++) {
        size_t size = out.buffer.size;
        if (round % 3 == 0)
            size = (size_t) (s_random () % (size + 1));
        uint8_t *data = malloc (size ? size : 1);
        memcpy (data, out.buffer.data, size);
        int flips = 1 + (int) (s_random () % 4);
        for (int f = 0; f < flips && size; f++)
            data [s_random () % size] = (uint8_t) s_random ();
        s_fuzz_one (data, size, &parsed);
        free (data);
    }
    async_msg_destroy (&out);
    //  Some mutants stay valid: the accept path ran too
    assert_true (parsed > 0);
}

static void
test_codec_check_refuses_counts_beyond_the_frame (void **state)
{
    (void) state;
    //  array32 claiming 4 billion items in a 5-byte frame: refused before
    //  msgpack-c would allocate for them
    const uint8_t huge_array [] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    assert_int_equal (async_codec_check (huge_array, sizeof huge_array), -1);
    const uint8_t huge_map [] = { 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0 };
    assert_int_equal (async_codec_check (huge_map, sizeof huge_map), -1);
    const uint8_t huge_str [] = { 0xdb, 0x00, 0x10, 0x00, 0x00, 'a' };
    assert_int_equal (async_codec_check (huge_str, sizeof huge_str), -1);
    const uint8_t never_used [] = { 0xc1 };
    assert_int_equal (async_codec_check (never_used, 1), -1);
    //  Well formed, and well formed with bytes after it
    const uint8_t good [] = { 0x93, 0x01, 0xa1, 'x', 0x81, 0xa1, 'k', 0xc0 };
    assert_int_equal (async_codec_check (good, sizeof good), 0);
    const uint8_t trailing [] = { 0x01, 0x02 };
    assert_int_equal (async_codec_check (trailing, sizeof trailing), -2);
    assert_int_equal (async_codec_check (good, 0), -1);
    //  Nesting: ASYNC_MAX_DEPTH arrays deep is fine, one more is refused
    uint8_t nested [ASYNC_MAX_DEPTH + 2];
    memset (nested, 0x91, sizeof nested);
    nested [ASYNC_MAX_DEPTH] = 0x01;
    assert_int_equal (async_codec_check (nested, ASYNC_MAX_DEPTH + 1), 0);
    nested [ASYNC_MAX_DEPTH] = 0x91;
    nested [ASYNC_MAX_DEPTH + 1] = 0x01;
    assert_int_equal (async_codec_check (nested, ASYNC_MAX_DEPTH + 2), -1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_codec_nil_and_bool_round_trip),
        cmocka_unit_test (test_codec_int_round_trip),
        cmocka_unit_test (test_codec_uint64_above_int64_decodes_as_real),
        cmocka_unit_test (test_codec_float_round_trip),
        cmocka_unit_test (test_codec_str_round_trip),
        cmocka_unit_test (test_codec_empty_str_round_trip),
        cmocka_unit_test (test_codec_str_utf8_bytes_kept),
        cmocka_unit_test (test_codec_str_embedded_nul_round_trip),
        cmocka_unit_test (test_codec_bin_from_msgpack_to_json),
        cmocka_unit_test (test_codec_non_string_keys_stay_small),
        cmocka_unit_test (test_codec_bin_from_json_round_trip),
        cmocka_unit_test (test_codec_bin_invalid_base64_refused),
        cmocka_unit_test (test_codec_bin_lookalikes_stay_maps),
        cmocka_unit_test (test_codec_nested_round_trip),
        cmocka_unit_test (test_codec_nesting_up_to_max_depth),
        cmocka_unit_test (test_codec_check_refuses_counts_beyond_the_frame),
        cmocka_unit_test (test_codec_too_deep_refused_at_encode),
        cmocka_unit_test (test_codec_non_string_map_keys_rendered),
        cmocka_unit_test (test_codec_decode_refuses_truncated_and_trailing),
        cmocka_unit_test (test_codec_copy_object_and_pack_helpers),
        cmocka_unit_test (test_msg_round_trip_command_rid_body),
        cmocka_unit_test (test_msg_lookups_refuse_wrong_types),
        cmocka_unit_test (test_msg_embedded_nul_refused_by_string_lookups),
        cmocka_unit_test (test_msg_rid_extremes_and_empty_body),
        cmocka_unit_test (test_msg_command_length_limit),
        cmocka_unit_test (test_msg_every_truncation_refused),
        cmocka_unit_test (test_msg_trailing_bytes_refused),
        cmocka_unit_test (test_msg_wrong_version_refused),
        cmocka_unit_test (test_msg_non_array_root_refused),
        cmocka_unit_test (test_msg_bad_command_and_rid_refused),
        cmocka_unit_test (test_msg_body_not_a_map_refused),
        cmocka_unit_test (test_msg_random_garbage_never_crashes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
