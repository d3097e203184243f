//  test_session - node sessions and the checks of HELLO (broker/session.c)
#include "session.h"
#include "async_codec.h"
#include "async_util.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#ifdef __GLIBC__
#    include <malloc.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
#    define S_SANITIZED 1
#elif defined(__has_feature)
#    if __has_feature(address_sanitizer)
#        define S_SANITIZED 1
#    endif
#endif

#define S_UUID  "5a3e1f2b-8c4d-4e6f-9a0b-1c2d3e4f5a6b"

//  A HELLO body from JSON, read as the broker reads it: its fields point
//  into `data` (s_hello_free)
typedef struct {
    msgpack_unpacked unpacked;
    uint8_t *data;
    async_hello_t body;
    async_hello_bad_t bad;
} s_hello_t;

static const async_hello_t *
s_hello (s_hello_t *hello, const char *json)
{
    json_error_t error;
    json_t *value = json_loads (json, 0, &error);
    assert_non_null (value);
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &hello->data, &size), 0);
    json_decref (value);
    msgpack_unpacked_init (&hello->unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&hello->unpacked, (const char *) hello->data,
                                           size, &offset), MSGPACK_UNPACK_SUCCESS);
    async_hello_decode_map_each (&hello->body, &hello->bad, &hello->unpacked.data);
    return &hello->body;
}

static void
s_hello_free (s_hello_t *hello)
{
    msgpack_unpacked_destroy (&hello->unpacked);
    free (hello->data);
}

//  Take the session's agents out of dispatch, then destroy it
static void
s_session_free (dispatch_t *dispatch, session_t **session_p)
{
    session_t *session = *session_p;
    dispatch_agent_t *agent;
    while ((agent = (dispatch_agent_t *) zlistx_first (session->agents))) {
        zlistx_detach_cur (session->agents);
        dispatch_agent_remove (dispatch, &agent);
    }
    session_destroy (session_p);
}

static int
s_check (const char *json, char *why, size_t size)
{
    s_hello_t held;
    const async_hello_t *hello = s_hello (&held, json);
    int rc = session_hello_check (hello, &held.bad, why, size);
    s_hello_free (&held);
    return rc;
}

//  Each budget refused with a reason that names it; within them, accepted
static void
test_session_hello_budgets (void **state)
{
    (void) state;
    char why [400];
    assert_int_equal (s_check ("{\"agents\": [{\"name\": \"main\", \"size\": 4, "
                               "\"queues\": [\"a\", \"b\"]}], \"tasks\": [\"t.x\"]}",
                               why, sizeof why), 0);
    assert_int_equal (s_check ("{\"agents\": [{\"name\": \"main\", \"size\": 0}]}",
                               why, sizeof why), -1);
    assert_non_null (strstr (why, "size of 1 to 100000"));
    assert_int_equal (s_check ("{\"agents\": [{\"size\": 3}]}", why, sizeof why), -1);
    assert_non_null (strstr (why, "no name"));
    assert_int_equal (s_check ("{\"agents\": [{\"name\": \"m\", \"size\": 1, "
                               "\"include\": [\"\"]}]}", why, sizeof why), -1);
    assert_non_null (strstr (why, "include of agent 0 entry 0"));
    char big [2048] = "{\"agents\": [{\"name\": \"m\", \"size\": 1, \"exclude\": [";
    for (int i = 0; i <= SESSION_LIST; i++)
        strcat (big, i ? ", \"g\"" : "\"g\"");
    strcat (big, "]}]}");
    assert_int_equal (s_check (big, why, sizeof why), -1);
    assert_non_null (strstr (why, "exclude of agent 0 has 65 entries (at most 64)"));
    char host [600] = "{\"agents\": [{\"name\": \"m\", \"size\": 1}], \"host\": \"";
    memset (host + strlen (host), 'h', SESSION_HOST + 1);
    strcat (host, "\"}");
    assert_int_equal (s_check (host, why, sizeof why), -1);
    assert_non_null (strstr (why, "host"));
    //  Nil lists are absent; lists and a host of another type are not
    assert_int_equal (s_check ("{\"agents\": [{\"name\": \"m\", \"size\": 1, "
                               "\"queues\": null}], \"tasks\": null}",
                               why, sizeof why),
                      0);
    assert_int_equal (s_check ("{\"agents\": [{\"name\": \"m\", \"size\": 1}], "
                               "\"tasks\": 3}",
                               why, sizeof why),
                      -1);
    assert_string_equal (why, "tasks is not an array");
    assert_int_equal (s_check ("{\"agents\": [{\"name\": \"m\", \"size\": 1, "
                               "\"exclude\": {}}]}",
                               why, sizeof why),
                      -1);
    assert_string_equal (why, "exclude of agent 0 is not an array");
    assert_int_equal (s_check ("{\"agents\": [{\"name\": \"m\", \"size\": 1}], "
                               "\"host\": null}",
                               why, sizeof why),
                      -1);
    assert_non_null (strstr (why, "host"));
    assert_int_equal (s_check ("{\"agents\": [{\"name\": \"m\", \"size\": 1}, "
                               "{\"name\": \"m\", \"size\": 2}]}",
                               why, sizeof why),
                      -1);
    assert_string_equal (why, "agents 0 and 1 have the same name");
    assert_int_equal (s_check ("{\"agents\": [3]}", why, sizeof why), -1);
    assert_non_null (strstr (why, "agent 0 has no name"));
}

//  A host holding a NUL byte is refused as a bad host: the session could
//  not keep it (it had no host, and the refusals logged it cut at the NUL)
static void
test_session_host_with_nul_is_refused (void **state)
{
    (void) state;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    async_codec_pack_str (&pk, "host");
    msgpack_pack_str (&pk, 3);
    msgpack_pack_str_body (&pk, "h\0x", 3);
    async_codec_pack_str (&pk, "agents");
    msgpack_pack_array (&pk, 1);
    msgpack_pack_map (&pk, 2);
    async_codec_pack_str (&pk, "name");
    async_codec_pack_str (&pk, "m");
    async_codec_pack_str (&pk, "size");
    msgpack_pack_int (&pk, 1);
    msgpack_unpacked unpacked = { .zone = NULL };
    size_t offset = 0;
    assert_int_equal (async_unpack (&unpacked, buffer.data, buffer.size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    async_hello_t hello;
    async_hello_bad_t bad;
    async_hello_decode_map_each (&hello, &bad, &unpacked.data);
    char why [400];
    assert_int_equal (session_hello_check (&hello, &bad, why, sizeof why), -1);
    assert_non_null (strstr (why, "host is not a string"));
    async_unpacked_release (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
}

//  A session made from a HELLO has its fields and one agent per agent
//  map; it packs as NODES lists it
static void
test_session_new_and_pack (void **state)
{
    (void) state;
    dispatch_t *dispatch = dispatch_new ();
    s_hello_t unpacked;
    const async_hello_t *hello = s_hello (
        &unpacked,
        "{\"host\": \"h1\", \"pid\": 42, \"batch\": 1, \"acks\": 1, \"boot\": \"b\", "
        "\"lock\": \"1:2\", \"tasks\": [\"t.a\"], \"agents\": [{\"name\": \"main\", "
        "\"size\": 3}, {\"name\": \"io\", \"size\": 1, \"queues\": [\"io\"]}]}");
    zframe_t *routing = zframe_new ("N1", 2);
    session_t *session = session_new (dispatch, "4e31", routing, S_UUID, "nonce",
                                      "127.0.0.1", hello);
    s_hello_free (&unpacked);
    assert_string_equal (session->uuid, S_UUID);
    assert_string_equal (session->host, "h1");
    assert_true (session->pid == 42 && session->batch && session->ack_ride);
    assert_int_equal (zlistx_size (session->agents), 2);
    assert_string_equal (dispatch_agent_name (session_agent (session, "io")), "io");
    assert_string_equal (dispatch_agent_name (session_agent (session, "nope")), "main");
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    session_pack (session, &pk);
    json_t *node = async_codec_decode_json (buffer.data, buffer.size);
    assert_string_equal (json_string_value (json_object_get (node, "uuid")), S_UUID);
    assert_int_equal (json_array_size (json_object_get (node, "agents")), 2);
    json_t *first = json_array_get (json_object_get (node, "agents"), 0);
    assert_true (json_is_integer (json_object_get (first, "pending")));
    assert_true (json_integer_value (json_object_get (first, "pending")) == 0);
    assert_true (json_is_false (json_object_get (node, "dead")));
    json_decref (node);
    msgpack_sbuffer_destroy (&buffer);
    s_session_free (dispatch, &session);
    assert_null (session);
    zframe_destroy (&routing);
    dispatch_destroy (&dispatch);
}

//  A live session keeps its uuid against a HELLO from another machine or
//  another lock; the same machine and lock, or a silent session, do not
static void
test_session_keeps_uuid_while_alive (void **state)
{
    (void) state;
    dispatch_t *dispatch = dispatch_new ();
    s_hello_t unpacked;
    const char *ours = "{\"host\": \"h1\", \"boot\": \"b1\", \"lock\": \"1:2\", "
                       "\"agents\": [{\"name\": \"m\", \"size\": 1}]}";
    const async_hello_t *hello = s_hello (&unpacked, ours);
    zframe_t *routing = zframe_new ("N1", 2);
    session_t *session = session_new (dispatch, "4e31", routing, S_UUID, "n1", "", hello);
    s_hello_free (&unpacked);
    int64_t heartbeat = 1000000, now = session->last_seen;
    struct {
        const char *hello;
        int64_t later;
        bool keeps;
    } cases [] = {
        { ours, 0, false },                                     //  restart: same lock
        { "{\"host\": \"h2\", \"boot\": \"b1\", \"lock\": \"1:2\"}", 0, true },
        { "{\"host\": \"h1\", \"boot\": \"b2\", \"lock\": \"1:2\"}", 0, true },
        { "{\"host\": \"h1\", \"boot\": \"b1\", \"lock\": \"9:9\"}", 0, true },
        { "{\"host\": \"h1\"}", 0, true },                      //  an older node
        { "{\"host\": \"h2\", \"boot\": \"b9\"}", 2 * heartbeat + 1, false },   //  silent
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const async_hello_t *other = s_hello (&unpacked, cases [i].hello);
        assert_int_equal (session_keeps_uuid (session, other, heartbeat,
                                              now + cases [i].later), cases [i].keeps);
        s_hello_free (&unpacked);
    }
    s_session_free (dispatch, &session);
    zframe_destroy (&routing);
    dispatch_destroy (&dispatch);
}

//  A HELLO's uuid_key is 64 hex digits; its hash is the same for the same
//  key (either case), differs for another, and a session keeps its own
static void
test_session_key_hash_checks_the_key (void **state)
{
    (void) state;
    const char *key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char json [512];
    uint8_t hash [SESSION_KEY_HASH], other [SESSION_KEY_HASH];
    s_hello_t unpacked;
    const char *bad [] = {
        "{}",
        "{\"uuid_key\": 7}",
        "{\"uuid_key\": \"\"}",
        "{\"uuid_key\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeef\"}",
        "{\"uuid_key\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0\"}",
        "{\"uuid_key\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\"}",
        "{\"uuid_key\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddee ff\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        const async_hello_t *hello = s_hello (&unpacked, bad [i]);
        assert_int_equal (session_key_hash (hello, hash), -1);
        s_hello_free (&unpacked);
    }
    snprintf (json, sizeof json, "{\"uuid_key\": \"%s\"}", key);
    assert_int_equal (session_key_hash (s_hello (&unpacked, json), hash), 0);
    s_hello_free (&unpacked);
    snprintf (
        json, sizeof json,
        "{\"uuid_key\": \"00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF\"}");
    assert_int_equal (session_key_hash (s_hello (&unpacked, json), other), 0);
    s_hello_free (&unpacked);
    assert_memory_equal (hash, other, SESSION_KEY_HASH);
    snprintf (
        json, sizeof json,
        "{\"uuid_key\": \"10112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}");
    assert_int_equal (session_key_hash (s_hello (&unpacked, json), other), 0);
    s_hello_free (&unpacked);
    assert_memory_not_equal (hash, other, SESSION_KEY_HASH);

    dispatch_t *dispatch = dispatch_new ();
    snprintf (json, sizeof json,
              "{\"uuid_key\": \"%s\", \"agents\": [{\"name\": \"m\", \"size\": 1}]}", key);
    zframe_t *routing = zframe_new ("N1", 2);
    session_t *session = session_new (dispatch, "4e31", routing, S_UUID, "n1", "",
                                      s_hello (&unpacked, json));
    s_hello_free (&unpacked);
    assert_true (session_key_is (session, hash));
    assert_false (session_key_is (session, other));
    s_session_free (dispatch, &session);
    zframe_destroy (&routing);
    dispatch_destroy (&dispatch);
}

//  An agent's long filter is cut in NODES, ending "..."
static void
test_session_pack_cuts_long_texts (void **state)
{
    (void) state;
    dispatch_t *dispatch = dispatch_new ();
    char json [16384] = "{\"agents\": [{\"name\": \"m\", \"size\": 1, \"include\": [";
    for (int i = 0; i < 60; i++) {
        char glob [250];
        snprintf (glob, sizeof glob, "%s\"%0190d\"", i ? ", " : "", i);
        strcat (json, glob);
    }
    strcat (json, "]}]}");
    s_hello_t held;
    const async_hello_t *hello = s_hello (&held, json);
    zframe_t *routing = zframe_new ("N1", 2);
    session_t *session = session_new (dispatch, "4e31", routing, S_UUID, "n", "", hello);
    s_hello_free (&held);
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    session_pack (session, &pk);
    json_t *node = async_codec_decode_json (buffer.data, buffer.size);
    const char *filter = json_string_value (
        json_object_get (json_array_get (json_object_get (node, "agents"), 0), "filter"));
    assert_non_null (filter);
    assert_int_equal (strlen (filter), SESSION_TEXT_MAX);
    assert_string_equal (filter + SESSION_TEXT_MAX - 3, "...");
    json_decref (node);
    msgpack_sbuffer_destroy (&buffer);
    s_session_free (dispatch, &session);
    zframe_destroy (&routing);
    dispatch_destroy (&dispatch);
}

//  A HELLO of `agents` agents with `names` queues, includes and excludes
//  each, and `tasks` task names, as JSON
static char *
s_hello_json (int agents, int names, int tasks)
{
    json_t *hello = json_object ();
    json_t *list = json_array ();
    for (int a = 0; a < agents; a++) {
        json_t *agent = json_object ();
        char name [64];
        snprintf (name, sizeof name, "agent%d", a);
        json_object_set_new (agent, "name", json_string (name));
        json_object_set_new (agent, "size", json_integer (1));
        const char *keys [3] = { "queues", "include", "exclude" };
        for (int k = 0; k < 3; k++) {
            json_t *names_json = json_array ();
            for (int n = 0; n < names; n++) {
                snprintf (name, sizeof name, "%s.name.%06d", keys [k], n);
                json_array_append_new (names_json, json_string (name));
            }
            json_object_set_new (agent, keys [k], names_json);
        }
        json_array_append_new (list, agent);
    }
    json_object_set_new (hello, "agents", list);
    json_t *task_names = json_array ();
    for (int t = 0; t < tasks; t++) {
        char name [64];
        snprintf (name, sizeof name, "flood.task.%06d", t);
        json_array_append_new (task_names, json_string (name));
    }
    json_object_set_new (hello, "tasks", task_names);
    json_object_set_new (hello, "host", json_string ("host"));
    char *text = json_dumps (hello, JSON_COMPACT);
    json_decref (hello);
    return text;
}

//  The cost a HELLO is accounted at (session_hello_cost, the broker's
//  --sessions-memory) is what its session takes from malloc, within 25%
//  less or 50% more, for the largest HELLO within the budgets and a small
//  one; and session_new records it
static void
test_session_cost_is_what_it_takes (void **state)
{
    (void) state;
    const int shapes [2][3] = { { SESSION_AGENTS, SESSION_LIST, SESSION_TASKS }, { 1, 1, 0 } };
    for (int i = 0; i < 2; i++) {
        dispatch_t *dispatch = dispatch_new ();
        char *json = s_hello_json (shapes [i][0], shapes [i][1], shapes [i][2]);
        s_hello_t held;
        const async_hello_t *hello = s_hello (&held, json);
        free (json);
        char why [400];
        assert_int_equal (session_hello_check (hello, &held.bad, why, sizeof why), 0);
        size_t cost = session_hello_cost (hello);
        zframe_t *routing = zframe_new ("N1", 2);
#if defined(__GLIBC__) && !defined(S_SANITIZED)
        struct mallinfo2 before = mallinfo2 ();
#endif
        session_t *session = session_new (dispatch, "4e31", routing, S_UUID, "n", "", hello);
#if defined(__GLIBC__) && !defined(S_SANITIZED)
        struct mallinfo2 after = mallinfo2 ();
        size_t taken = after.uordblks + after.hblkhd - before.uordblks - before.hblkhd;
        print_message ("HELLO %d agents x %d names, %d tasks: accounted %zu bytes, "
                       "malloc gave %zu\n",
                       shapes [i][0], shapes [i][1], shapes [i][2], cost, taken);
        assert_true (cost >= taken - taken / 4 && cost <= taken + taken / 2);
#endif
        assert_int_equal (session->cost, cost);
        if (i == 0)
            assert_true (cost > 1000000);  //  the largest: about 1.9 MB
        else
            assert_true (cost < 8192);
        s_hello_free (&held);
        s_session_free (dispatch, &session);
        zframe_destroy (&routing);
        dispatch_destroy (&dispatch);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_session_hello_budgets),
        cmocka_unit_test (test_session_host_with_nul_is_refused),
        cmocka_unit_test (test_session_new_and_pack),
        cmocka_unit_test (test_session_keeps_uuid_while_alive),
        cmocka_unit_test (test_session_key_hash_checks_the_key),
        cmocka_unit_test (test_session_pack_cuts_long_texts),
        cmocka_unit_test (test_session_cost_is_what_it_takes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
