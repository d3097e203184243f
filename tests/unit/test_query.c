//  test_query - the listings' cursors and filters (broker/query.c)
#include "query.h"
#include "async_codec.h"
#include "async_util.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ID    "01a2502b-1e06-72aa-a097-38ddc7ba7e7c"

//  A cursor read back from its text gives the same text
static void
s_round_trip (const char *text)
{
    query_cursor_t cursor;
    assert_int_equal (query_cursor_parse (text, &cursor), 0);
    char again [300];
    query_cursor_format (&cursor, again, sizeof again);
    assert_string_equal (again, text);
}

static void
test_query_cursor_round_trips (void **state)
{
    (void) state;
    s_round_trip ("p:0:1:default");
    s_round_trip ("p:-5:18446744073709551:q.a-b_c:d");
    s_round_trip ("p:9223372036854775807:9223372036854775807:x");
    s_round_trip ("p:-9223372036854775807:0:x");
    s_round_trip ("s:1700000000000000:" S_ID);
    s_round_trip ("b:12:" S_ID);
    s_round_trip ("a:" S_ID);
    s_round_trip ("c:0:" S_ID);
    s_round_trip ("f:9223372036854775807:" S_ID);
    query_cursor_t cursor;
    assert_int_equal (query_cursor_parse ("p:-3:42:work", &cursor), 0);
    assert_int_equal (cursor.phase, 'p');
    assert_int_equal (cursor.priority, -3);
    assert_int_equal (cursor.seq, 42);
    assert_string_equal (cursor.queue, "work");
    assert_int_equal (query_cursor_parse ("a:" S_ID, &cursor), 0);
    assert_string_equal (cursor.id, S_ID);
    //  The phases in the walk's order
    assert_true (query_cursor_rank (0) < query_cursor_rank ('p'));
    assert_true (query_cursor_rank ('p') < query_cursor_rank ('s'));
    assert_true (query_cursor_rank ('s') < query_cursor_rank ('b'));
    assert_true (query_cursor_rank ('b') < query_cursor_rank ('a'));
    assert_true (query_cursor_rank ('a') < query_cursor_rank ('c'));
    assert_int_equal (query_cursor_rank ('c'), query_cursor_rank ('f'));
    assert_int_equal (query_cursor_rank ('z'), 0);
}

//  Text that this broker does not hand out is refused, numbers out of
//  range included, before any arithmetic
static void
test_query_cursor_refuses_garbage (void **state)
{
    (void) state;
    const char *bad [] = {
        "", "a", "a:", "bogus", "x:1:" S_ID, "a:" S_ID "0", "a:not-an-id",
        "a:01a2502b-1e06-72aa-a097-38ddc7ba7e7", "s:" S_ID, "s::" S_ID,
        "s:-1:" S_ID, "s:99999999999999999999:" S_ID, "c:1x:" S_ID, "c:1:",
        "p:0:1:", "p:0:1", "p:0::q", "p::1:q", "p:0:-1:q",
        "p:-9223372036854775808:1:q", "p:0:1:bad queue", "p:0:1:q/..",
        "p:1e3:1:q", "p:0:99999999999999999999:q",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        query_cursor_t cursor;
        if (query_cursor_parse (bad [i], &cursor) != -1)
            fail_msg ("cursor '%s' was accepted", bad [i]);
    }
    char queue [300] = "p:0:1:";
    memset (queue + 6, 'q', 201);       //  a queue name of 201 bytes
    query_cursor_t cursor;
    assert_int_equal (query_cursor_parse (queue, &cursor), -1);
    queue [6 + 200] = 0;                //  200: the longest name
    assert_int_equal (query_cursor_parse (queue, &cursor), 0);
}

//  Parse a JSON query as LIST's body: the return code, the filter and
//  cursor in *filter and *cursor, the reason in err
static int
s_parse (const char *json, query_filter_t *filter, query_cursor_t *cursor, char *err,
         size_t err_size)
{
    json_t *value = json_loads (json, 0, NULL);
    assert_non_null (value);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    json_decref (value);
    msgpack_unpacked body;
    msgpack_unpacked_init (&body);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&body, (const char *) data, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    err [0] = 0;
    int rc = query_filter_parse (&body.data, filter, cursor, err, err_size);
    msgpack_unpacked_destroy (&body);
    free (data);
    return rc;
}

static void
test_query_filter_refusals (void **state)
{
    (void) state;
    struct {
        const char *query;
        int rc;
        const char *reason;         //  a part of err
    } cases [] = {
        { "{\"status\": \"active\"}", -1, "status must be an array" },
        { "{\"status\": [1]}", -1, "status must be an array" },
        { "{\"status\": [\"sleeping\"]}", -1, "unknown status" },
        { "{\"queue\": 7}", -1, "queue must be a string" },
        { "{\"task\": [\"x\"]}", -1, "task must be a string" },
        { "{\"node\": \"not-a-uuid\"}", -1, "node must be a node's uuid" },
        { "{\"limit\": \"ten\"}", -1, "limit must be an integer" },
        { "{\"since\": -1}", -1, "since must be a number" },
        { "{\"since\": 1e300}", -1, "since must be a number" },
        { "{\"since\": \"1h\"}", -1, "since must be a number" },
        { "{\"cursor\": \"bogus\"}", -2, "" },
        { "{\"cursor\": 12}", -2, "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        query_filter_t filter;
        query_cursor_t cursor;
        char err [100];
        int rc = s_parse (cases [i].query, &filter, &cursor, err, sizeof err);
        query_filter_clear (&filter);
        if (rc != cases [i].rc || !strstr (err, cases [i].reason))
            fail_msg ("%s: rc %d err '%s'", cases [i].query, rc, err);
    }
    //  A queue name over 200 bytes
    char query [400];
    char name [202];
    memset (name, 'q', 201);
    name [201] = 0;
    snprintf (query, sizeof query, "{\"queue\": \"%s\"}", name);
    query_filter_t filter;
    query_cursor_t cursor;
    char err [100];
    assert_int_equal (s_parse (query, &filter, &cursor, err, sizeof err), -1);
    query_filter_clear (&filter);
    query_filter_clear (&filter);       //  safe again
}

//  A good query: its fields, and what it matches
static void
test_query_filter_matches (void **state)
{
    (void) state;
    query_filter_t filter;
    query_cursor_t cursor;
    char err [100];
    assert_int_equal (s_parse ("{\"status\": [\"active\", \"failed\"], \"queue\": \"work\","
                               " \"task\": \"pi.*\", \"limit\": 5, \"cursor\": \"a:" S_ID "\"}",
                               &filter, &cursor, err, sizeof err), 0);
    assert_int_equal (filter.limit, 5);
    assert_int_equal (cursor.phase, 'a');
    assert_true (query_filter_wants_status (&filter, ASYNC_ACTIVE));
    assert_true (query_filter_wants_status (&filter, ASYNC_COMPLETED));
    assert_false (query_filter_wants_status (&filter, ASYNC_PENDING));
    assert_true (query_filter_failed_only (&filter));
    async_job_t *job = async_job_new ();
    async_job_set_str (&job->task, "pi.digits");
    async_job_set_str (&job->queue, "work");
    job->status = ASYNC_ACTIVE;
    assert_true (query_filter_match (&filter, job));
    async_job_set_str (&job->queue, "other");
    assert_false (query_filter_match (&filter, job));
    async_job_set_str (&job->queue, "work");
    async_job_set_str (&job->task, "testing.noop");
    assert_false (query_filter_match (&filter, job));
    async_job_set_str (&job->task, "pi.digits");
    job->status = ASYNC_COMPLETED;             //  succeeded: not asked for
    assert_false (query_filter_match (&filter, job));
    async_job_destroy (&job);
    query_filter_clear (&filter);
    //  No filter: every job, a page of 1000 by default
    assert_int_equal (s_parse ("{}", &filter, &cursor, err, sizeof err), 0);
    assert_int_equal (filter.limit, 1000);
    assert_int_equal (cursor.phase, 0);
    assert_true (query_filter_wants_status (&filter, ASYNC_PENDING));
    assert_false (query_filter_failed_only (&filter));
    query_filter_clear (&filter);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_query_cursor_round_trips),
        cmocka_unit_test (test_query_cursor_refuses_garbage),
        cmocka_unit_test (test_query_filter_refusals),
        cmocka_unit_test (test_query_filter_matches),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
