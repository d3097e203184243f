//  test_query - the listings' cursors and filters (broker/query.c)
#include "query.h"
#include "async_codec.h"
#include "async_util.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixture.h"
#include <czmq.h>
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

//  A JSON query as a message body: unpacked into *body, its bytes in
//  *data (the caller frees both)
static void
s_body (const char *json, msgpack_unpacked *body, uint8_t **data)
{
    json_t *value = json_loads (json, 0, NULL);
    assert_non_null (value);
    size_t size;
    assert_int_equal (async_codec_encode_json (value, data, &size), 0);
    json_decref (value);
    msgpack_unpacked_init (body);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (body, (const char *) *data, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
}

//  Parse a JSON query as LIST's body: the return code, the filter and
//  cursor in *filter and *cursor, the reason in err
static int
s_parse (const char *json, query_filter_t *filter, query_cursor_t *cursor, char *err,
         size_t err_size)
{
    msgpack_unpacked body;
    uint8_t *data;
    s_body (json, &body, &data);
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
        { "{\"parent\": 5}", -1, "parent must be a job id" },
        { "{\"by_status\": 1}", -1, "by_status must be true or false" },
        { "{\"limit\": 1.5}", -1, "limit must be an integer" },
        //  Nil is no filter
        { "{\"status\": null, \"queue\": null, \"task\": null, \"node\": null, "
          "\"parent\": null, \"limit\": null, \"since\": null, \"cursor\": null, "
          "\"by_status\": null}",
          0, "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        query_filter_t filter;
        query_cursor_t cursor;
        char err [100] = "";
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

//  ---------------------------------------------------------------------
//  The walk over a source: an empty store and dispatcher, and live jobs
//  held in a hash (the broker's cache) with their ids in an ordset

typedef struct {
    char dir [FIXTURE_DIR_MAX];
    store_t *store;
    dispatch_t *dispatch;
    ordset_t *live_ids;
    zhashx_t *jobs;             //  id -> async_job_t
    size_t reads;               //  job_read calls
    size_t peeks;               //  job_peek calls
    query_t *query;
} s_source_t;

static async_job_t *
s_job_read (void *arg, const char *id)
{
    s_source_t *self = (s_source_t *) arg;
    self->reads++;
    async_job_t *job = (async_job_t *) zhashx_lookup (self->jobs, id);
    if (!job)
        return NULL;
    uint8_t *data;
    size_t size;
    assert_int_equal (async_job_encode (job, &data, &size), 0);
    async_job_t *copy = async_job_decode (data, size);
    free (data);
    return copy;
}

static void
s_each_timed (void *arg, char phase, int64_t when, const char *id, query_timed_fn *visit,
              void *walk)
{
    (void) arg; (void) phase; (void) when; (void) id; (void) visit; (void) walk;
}

//  STATUS: queue "s-only" of 5 scheduled jobs, "b" of one as well
static int64_t
s_scheduled_count (void *arg, const char *queue)
{
    (void) arg;
    return strcmp (queue, "s-only") == 0 ? 5 : strcmp (queue, "b") == 0 ? 1 : -1;
}

static void
s_each_scheduled (void *arg, query_scheduled_fn *fn, void *top)
{
    (void) arg;
    fn (top, "b", 1);
    fn (top, "s-only", 5);
}

//  ... and two jobs running in queue "r-only", one in "a"
static void
s_each_running (void *arg, query_running_fn *fn, void *top)
{
    (void) arg;
    fn (top, "r-only", ASYNC_ACTIVE);
    fn (top, "r-only", ASYNC_ASSIGNED);
    fn (top, "a", ASYNC_ACTIVE);
}

static int
s_source_setup (void **state)
{
    s_source_t *self = (s_source_t *) calloc (1, sizeof (s_source_t));
    if (!self || fixture_dir_make (self->dir, sizeof self->dir, "query"))
        return -1;
    if (store_open (self->dir, false, &self->store))
        return -1;
    self->dispatch = dispatch_new ();
    self->live_ids = ordset_new ();
    self->jobs = zhashx_new ();
    zhashx_set_destructor (self->jobs, (zhashx_destructor_fn *) async_job_destroy);
    query_source_t source = { .store = self->store, .dispatch = self->dispatch,
                              .live_ids = self->live_ids, .arg = self,
                              .job_read = s_job_read, .each_timed = s_each_timed,
                              .scheduled_count = s_scheduled_count,
                              .each_scheduled = s_each_scheduled,
                              .each_running = s_each_running };
    self->query = query_new (&source);
    *state = self;
    return 0;
}

static int
s_source_teardown (void **state)
{
    s_source_t *self = (s_source_t *) *state;
    query_destroy (&self->query);
    query_destroy (&self->query);
    zhashx_destroy (&self->jobs);
    ordset_destroy (&self->live_ids);
    dispatch_destroy (&self->dispatch);
    store_destroy (&self->store);
    int rc = fixture_dir_remove (self->dir);
    free (self);
    return rc;
}

//  Add `count` live jobs: active ones, and every third assigned
static void
s_add_live (s_source_t *self, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        async_job_t *job = async_job_new ();
        async_job_set_str (&job->task, "testing.noop");
        async_job_set_str (&job->queue, "default");
        job->status = i % 3 == 0 ? ASYNC_ASSIGNED : ASYNC_ACTIVE;
        ordset_insert (self->live_ids, job->id);
        zhashx_insert (self->jobs, job->id, job);
    }
}

//  One page of a JSON query; its count (COUNT) or jobs (LIST) in *count,
//  its `next` in next ("" when complete)
static void
s_page (s_source_t *self, const char *json, bool count_only, size_t scan, int64_t *count,
        char *next, size_t next_size)
{
    msgpack_unpacked body;
    uint8_t *data;
    s_body (json, &body, &data);
    async_msg_t reply;
    char err [100];
    assert_int_equal (query_list (self->query, &body.data, 7, count_only, 1000,
                                  4 * 1024 * 1024, scan, async_mono_us () + 10000000,
                                  NULL, &reply, err, sizeof err), 0);
    msgpack_unpacked_destroy (&body);
    free (data);
    async_inmsg_t in;
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (&in, reply.buffer.data, reply.buffer.size, &why), 0);
    assert_string_equal (in.command, count_only ? "COUNT" : "JOBS");
    assert_int_equal (in.rid, 7);
    if (count_only)
        assert_int_equal (async_mp_int (in.body, "count", count), 0);
    else {
        const msgpack_object *jobs = async_mp_get (in.body, "jobs");
        assert_non_null (jobs);
        *count = jobs->via.array.size;
    }
    next [0] = 0;
    async_mp_str (in.body, "next", next, next_size);
    async_inmsg_destroy (&in);
    async_msg_destroy (&reply);
}

static async_job_t *
s_job_peek (void *arg, const char *id)
{
    s_source_t *self = (s_source_t *) arg;
    self->peeks++;
    return (async_job_t *) zhashx_lookup (self->jobs, id);
}

//  With job_peek, a listing packs the jobs the broker holds as they are:
//  no job_read, which copies each (an encode and a decode: a parent of
//  40,000 children is 1.5 MB a time), and the held jobs stay
static void
test_query_lists_held_jobs_in_place (void **state)
{
    s_source_t *self = (s_source_t *) *state;
    s_add_live (self, 30);
    query_t *copying = self->query;
    query_source_t source = { .store = self->store,
                              .dispatch = self->dispatch,
                              .live_ids = self->live_ids,
                              .arg = self,
                              .job_read = s_job_read,
                              .job_peek = s_job_peek,
                              .each_timed = s_each_timed,
                              .scheduled_count = s_scheduled_count,
                              .each_scheduled = s_each_scheduled,
                              .each_running = s_each_running };
    self->query = query_new (&source);
    int64_t count;
    char next [300];
    s_page (self, "{\"status\": [\"assigned\", \"active\"]}", false, 10000, &count, next,
            sizeof next);
    assert_int_equal (count, 30);
    assert_string_equal (next, "");
    assert_int_equal (self->peeks, 30);
    assert_int_equal (self->reads, 0);
    assert_int_equal (zhashx_size (self->jobs), 30);
    query_destroy (&self->query);
    self->query = copying;
    //  Without it, a copy of each
    s_page (self, "{\"status\": [\"assigned\", \"active\"]}", false, 10000, &count, next,
            sizeof next);
    assert_int_equal (count, 30);
    assert_int_equal (self->reads, 30);
}

//  COUNT pages over 5000 live jobs, 700 records a page: each page goes on
//  from the cursor of the one before (one seek), so the job records read
//  add up to the number of jobs, not its square, and the counts add up
static void
test_query_pages_over_live_jobs (void **state)
{
    s_source_t *self = (s_source_t *) *state;
    s_add_live (self, 5000);
    int64_t active = 0, count;
    char next [300] = "", query [400];
    size_t pages = 0;
    do {
        snprintf (query, sizeof query, "{\"status\": [\"active\"]%s%s%s}",
                  *next ? ", \"cursor\": \"" : "", next, *next ? "\"" : "");
        s_page (self, query, true, 700, &count, next, sizeof next);
        assert_true (count <= 700);
        active += count;
        pages++;
        assert_true (pages <= 10);
    } while (*next);
    assert_int_equal (active, 5000 - 1667);       //  every third is assigned
    assert_int_equal (pages, 8);                  //  5000 / 700, rounded up
    assert_int_equal (self->reads, 5000);
    //  LIST pages of 1000 jobs: every live job once
    self->reads = 0;
    int64_t listed = 0;
    pages = 0;
    do {
        snprintf (query, sizeof query, "{\"limit\": 0%s%s%s}",
                  *next ? ", \"cursor\": \"" : "", next, *next ? "\"" : "");
        s_page (self, query, false, 10000, &count, next, sizeof next);
        assert_true (count <= 1000);
        listed += count;
        pages++;
        assert_true (pages <= 10);
    } while (*next);
    assert_int_equal (listed, 5000);
    //  A full page says `next` even when it holds the last job: then the
    //  next page is empty, and complete
    assert_int_equal (pages, 6);
    assert_int_equal (self->reads, 5000);
}

//  A cursor after the last live id: nothing left, complete
static void
test_query_cursor_past_the_end (void **state)
{
    s_source_t *self = (s_source_t *) *state;
    s_add_live (self, 10);
    int64_t count;
    char next [300];
    s_page (self, "{\"status\": [\"active\"], \"cursor\": "
                  "\"a:ffffffff-ffff-7fff-bfff-ffffffffffff\"}", true, 700, &count,
            next, sizeof next);
    assert_int_equal (count, 0);
    assert_string_equal (next, "");
    assert_int_equal (self->reads, 0);
}

//  The children of a parent, paged: each page goes on from the cursor's
//  index, in child order; the parent's record (which holds all their
//  ids) is read once for all the pages, not once a page; `by_status`
//  counts them by status; LIST refuses by_status
static void
test_query_children_pages (void **state)
{
    s_source_t *self = (s_source_t *) *state;
    s_add_live (self, 250);             //  the children: 84 assigned, 166 active
    async_job_t *parent = async_job_new ();
    parent->kind = ASYNC_KIND_PARALLEL;
    parent->status = ASYNC_ACTIVE;
    const char *id = ordset_seek_after (self->live_ids, NULL);
    for (; id && parent->nchildren < 250; id = ordset_next (self->live_ids))
        async_job_add_child (parent, id);
    assert_int_equal (parent->nchildren, 250);
    char parent_id [ASYNC_ID_LEN];
    memcpy (parent_id, parent->id, ASYNC_ID_LEN);
    zhashx_insert (self->jobs, parent->id, parent);

    int64_t active = 0, count;
    char next [300] = "", query [500];
    size_t pages = 0;
    self->reads = 0;
    do {
        snprintf (query, sizeof query, "{\"status\": [\"active\"], \"parent\": \"%s\"%s%s%s}",
                  parent_id, *next ? ", \"cursor\": \"" : "", next, *next ? "\"" : "");
        s_page (self, query, true, 60, &count, next, sizeof next);
        if (*next)
            assert_true (strncmp (next, "k:", 2) == 0);
        active += count;
        pages++;
        assert_true (pages <= 10);
    } while (*next);
    assert_int_equal (active, 166);
    assert_int_equal (pages, 5);                  //  250 / 60, rounded up
    assert_int_equal (self->reads, 250 + 1);      //  each child, the parent once

    //  by_status: one walk, the counts by status
    snprintf (query, sizeof query, "{\"parent\": \"%s\", \"by_status\": true}", parent_id);
    msgpack_unpacked body;
    uint8_t *data;
    s_body (query, &body, &data);
    async_msg_t reply;
    char err [100];
    assert_int_equal (query_list (self->query, &body.data, 7, true, 1000, 4 * 1024 * 1024,
                                  10000, async_mono_us () + 10000000, NULL, &reply, err,
                                  sizeof err), 0);
    async_inmsg_t in;
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (&in, reply.buffer.data, reply.buffer.size, &why), 0);
    const msgpack_object *statuses = async_mp_get (in.body, "statuses");
    assert_non_null (statuses);
    int64_t n;
    assert_int_equal (async_mp_int (statuses, "assigned", &n), 0);
    assert_int_equal (n, 84);
    assert_int_equal (async_mp_int (statuses, "active", &n), 0);
    assert_int_equal (n, 166);
    assert_int_equal (async_mp_int (statuses, "pending", &n), 0);
    assert_int_equal (n, 0);
    async_inmsg_destroy (&in);
    async_msg_destroy (&reply);
    assert_int_equal (query_list (self->query, &body.data, 7, false, 1000, 4 * 1024 * 1024,
                                  10000, async_mono_us () + 10000000, NULL, &reply, err,
                                  sizeof err), -1);
    msgpack_unpacked_destroy (&body);
    free (data);
}

//  Count `count` pending jobs in `queue` (as a recovered store does)
static void
s_pending (s_source_t *self, const char *queue, size_t count)
{
    dispatch_set_total (self->dispatch, queue, count);
}

//  Pack STATUS's queues, read them back as JSON
static json_t *
s_queues (s_source_t *self, int64_t *more)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    *more = query_pack_queues (self->query, &pk);
    json_t *queues = async_codec_decode_json (buffer.data, buffer.size);
    assert_non_null (queues);
    msgpack_sbuffer_destroy (&buffer);
    return queues;
}

//  The queues of STATUS: the most jobs first, then by name; pending,
//  scheduled and running jobs each from where they are kept
static void
test_query_status_queues_largest_first (void **state)
{
    s_source_t *self = (s_source_t *) *state;
    s_pending (self, "a", 1);
    s_pending (self, "b", 3);
    s_pending (self, "c", 2);
    int64_t more;
    json_t *queues = s_queues (self, &more);
    assert_int_equal (more, 0);
    char *text = json_dumps (queues, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal (text,
        "{\"s-only\":{\"pending\":0,\"scheduled\":5,\"assigned\":0,\"active\":0},"
        "\"b\":{\"pending\":3,\"scheduled\":1,\"assigned\":0,\"active\":0},"
        "\"a\":{\"pending\":1,\"scheduled\":0,\"assigned\":0,\"active\":1},"
        "\"c\":{\"pending\":2,\"scheduled\":0,\"assigned\":0,\"active\":0},"
        "\"r-only\":{\"pending\":0,\"scheduled\":0,\"assigned\":1,\"active\":1}}");
    free (text);
    json_decref (queues);
}

//  Over QUERY_STATUS_QUEUES queues: the largest are kept, the rest counted
static void
test_query_status_queues_bounded (void **state)
{
    s_source_t *self = (s_source_t *) *state;
    char queue [32];
    for (int i = 0; i < 3000; i++) {
        snprintf (queue, sizeof queue, "q%04d", i);
        s_pending (self, queue, i % 1000 == 999 ? 2 : 1);
    }
    int64_t more;
    json_t *queues = s_queues (self, &more);
    assert_int_equal (json_object_size (queues), QUERY_STATUS_QUEUES);
    //  and s-only, b (scheduled jobs), a and r-only (running jobs)
    assert_int_equal (more, 3000 + 4 - QUERY_STATUS_QUEUES);
    //  The largest first: s-only (5), then those of 2 jobs, then those of
    //  one, each by name
    void *iter = json_object_iter (queues);
    const char *expect [] = { "s-only", "q0999", "q1999", "q2999", "r-only", "a", "b",
                              "q0000" };
    for (size_t i = 0; i < sizeof expect / sizeof expect [0]; i++) {
        assert_non_null (iter);
        assert_string_equal (json_object_iter_key (iter), expect [i]);
        iter = json_object_iter_next (queues, iter);
    }
    json_decref (queues);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_query_cursor_round_trips),
        cmocka_unit_test (test_query_cursor_refuses_garbage),
        cmocka_unit_test (test_query_filter_refusals),
        cmocka_unit_test (test_query_filter_matches),
        cmocka_unit_test_setup_teardown (test_query_pages_over_live_jobs, s_source_setup,
                                         s_source_teardown),
        cmocka_unit_test_setup_teardown (test_query_lists_held_jobs_in_place, s_source_setup,
                                         s_source_teardown),
        cmocka_unit_test_setup_teardown (test_query_children_pages, s_source_setup,
                                         s_source_teardown),
        cmocka_unit_test_setup_teardown (test_query_cursor_past_the_end, s_source_setup,
                                         s_source_teardown),
        cmocka_unit_test_setup_teardown (test_query_status_queues_largest_first, s_source_setup,
                                         s_source_teardown),
        cmocka_unit_test_setup_teardown (test_query_status_queues_bounded, s_source_setup,
                                         s_source_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
