/*  =========================================================================
    query - the listings: cursors, filters and the walk over the jobs
    =========================================================================
*/
#include "query.h"
#include "async_alloc.h"
#include "async_msgs.h"
#include "keys.h"
#include "async_util.h"
#include <czmq.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The walk's phases, in order
int
query_cursor_rank (char phase)
{
    switch (phase) {
        case 'p': return 1;
        case 's': return 2;
        case 'b': return 3;
        case 'a': return 4;
        case 'c': case 'f': return 5;
        default: return 0;
    }
}

static bool
s_parse_i64 (const char *text, size_t size, int64_t min, int64_t max, int64_t *value)
{
    char digits [24];
    if (size == 0 || size >= sizeof digits)
        return false;
    memcpy (digits, text, size);
    digits [size] = 0;
    char *end;
    errno = 0;
    long long number = strtoll (digits, &end, 10);
    if (*end || errno || number < min || number > max)
        return false;
    *value = number;
    return true;
}

//  0, or -1 for a cursor that is not one this broker hands out
int
query_cursor_parse (const char *text, query_cursor_t *cursor)
{
    memset (cursor, 0, sizeof *cursor);
    size_t len = strlen (text);
    if (len < 3 || text [1] != ':')
        return -1;
    cursor->phase = text [0];
    const char *rest = text + 2;
    const char *colon = strchr (rest, ':');
    int64_t number;
    switch (cursor->phase) {
        case 'p': {
            if (!colon || !s_parse_i64 (rest, colon - rest, INT64_MIN + 1, INT64_MAX,
                                        &cursor->priority))
                return -1;
            rest = colon + 1;
            colon = strchr (rest, ':');
            if (!colon || !s_parse_i64 (rest, colon - rest, 0, INT64_MAX, &number))
                return -1;
            cursor->seq = (uint64_t) number;
            const char *queue = colon + 1;
            size_t qlen = strlen (queue);
            if (qlen == 0 || qlen > ASYNC_MAX_NAME
            ||  strspn (queue, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789_.:-") != qlen)
                return -1;
            memcpy (cursor->queue, queue, qlen + 1);
            return 0;
        }
        case 'a':
            if (strlen (rest) != ASYNC_ID_CHARS)
                return -1;
            memcpy (cursor->id, rest, ASYNC_ID_LEN);
            return async_id_valid (cursor->id) ? 0 : -1;
        case 's': case 'b': case 'c': case 'f': case 'k':
            if (!colon || !s_parse_i64 (rest, colon - rest, 0, INT64_MAX, &cursor->when)
            ||  strlen (colon + 1) != ASYNC_ID_CHARS)
                return -1;
            memcpy (cursor->id, colon + 1, ASYNC_ID_LEN);
            return async_id_valid (cursor->id) ? 0 : -1;
        default:
            return -1;
    }
}

void
query_cursor_format (const query_cursor_t *cursor, char *text, size_t size)
{
    if (cursor->phase == 'p')
        snprintf (text, size, "p:%" PRId64 ":%" PRIu64 ":%s", cursor->priority,
                  cursor->seq, cursor->queue);
    else
    if (cursor->phase == 'a')
        snprintf (text, size, "a:%s", cursor->id);
    else
        snprintf (text, size, "%c:%" PRId64 ":%s", cursor->phase, cursor->when,
                  cursor->id);
}

//  The `status` filter: 0, or -1 (`err` says why)
static int
s_filter_statuses (const msgpack_object *statuses, query_filter_t *filter, char *err,
                   size_t err_size)
{
    for (uint32_t i = 0; i < statuses->via.array.size && filter->nstatuses < 8; i++) {
        char name [32];
        if (statuses->via.array.ptr [i].type != MSGPACK_OBJECT_STR) {
            snprintf (err, err_size, "status must be an array of status names");
            return -1;
        }
        if (async_mp_strcpy (&statuses->via.array.ptr [i], name, sizeof name)) {
            snprintf (err, err_size, "unknown status in the query");
            return -1;
        }
        if (strcmp (name, "succeeded") == 0)
            filter->succeeded = true;
        else
        if (strcmp (name, "failed") == 0)
            filter->failed = true;
        else
        if (strcmp (name, "scheduled") == 0)
            filter->scheduled = true;
        else {
            int status = async_status_parse (name);
            if (status < 0) {
                snprintf (err, err_size, "unknown status in the query");
                return -1;
            }
            filter->statuses [filter->nstatuses++] = status;
        }
    }
    return 0;
}

//  A `queue` or `task` filter: a copy (NULL when not given), or -1 (`err`
//  says why) when it is no string (`bad`) or too long
static int
s_filter_name (bool bad, bool given, async_str_t name, char **value, const char *key,
               char *err, size_t err_size)
{
    *value = NULL;
    if (bad || (given && name.size > ASYNC_MAX_NAME)) {
        snprintf (err, err_size, "%s must be a string of at most %d bytes", key,
                  ASYNC_MAX_NAME);
        return -1;
    }
    if (given)
        *value = async_xstrndup (name.data, name.size);
    return 0;
}

//  A `node` or `parent` filter: copied into `id` (36 characters and a
//  NUL), or -1 (`err` is `why`) when it is no canonical uuid
static int
s_filter_id (bool bad, bool given, async_str_t text, char *id, const char *why, char *err,
             size_t err_size)
{
    if (bad || (given && (async_str_copy (text, id, ASYNC_ID_LEN) || !async_id_valid (id)))) {
        snprintf (err, err_size, "%s", why);
        return -1;
    }
    return 0;
}

//  0, -1 for a bad filter (`err` says why), -2 for a bad cursor. A filter
//  given with the wrong type or size is refused, not ignored: ignored, it
//  would match every job. Absent or nil, a field is no filter. The body
//  is typed in async_msgs.h (list_query); the fields are checked in its
//  order, the first bad one refused
int
query_filter_parse (const msgpack_object *body, query_filter_t *filter, query_cursor_t *cursor,
                    char *err, size_t err_size)
{
    memset (filter, 0, sizeof *filter);
    memset (cursor, 0, sizeof *cursor);
    filter->limit = 1000;
    async_list_query_t query;
    async_list_query_bad_t bad;
    async_list_query_decode_map_each (&query, &bad, body);
    if (bad.status) {
        snprintf (err, err_size, "status must be an array of status names");
        return -1;
    }
    if ((query.has_status && s_filter_statuses (query.status.object, filter, err, err_size))
    ||  s_filter_name (bad.queue, query.has_queue, query.queue, &filter->queue, "queue", err,
                       err_size)
    ||  s_filter_name (bad.task, query.has_task, query.task, &filter->task, "task", err,
                       err_size)
    ||  s_filter_id (bad.node, query.has_node, query.node, filter->node,
                     "node must be a node's uuid", err, err_size)
    ||  s_filter_id (bad.parent, query.has_parent, query.parent, filter->parent,
                     "parent must be a job id", err, err_size))
        return -1;
    if (bad.by_status) {
        snprintf (err, err_size, "by_status must be true or false");
        return -1;
    }
    filter->by_status = query.has_by_status && query.by_status;
    if (bad.limit) {
        snprintf (err, err_size, "limit must be an integer");
        return -1;
    }
    if (query.has_limit)
        filter->limit = query.limit;
    //  since: seconds, 0 = any; NaN, infinities and huge values refused
    //  before any arithmetic (a double out of int64's range is undefined)
    int64_t usecs = 0;
    if (bad.since
    ||  (query.has_since
      && async_seconds_to_us (query.since, 0, ASYNC_DURATION_MAX_S, &usecs))) {
        snprintf (err, err_size, "since must be a number of seconds from 0 to 1e12");
        return -1;
    }
    if (usecs > 0)
        filter->since = async_now_us () - usecs;
    char text [300];
    if (bad.cursor
    ||  (query.has_cursor
      && (async_str_copy (query.cursor, text, sizeof text) || query_cursor_parse (text, cursor)
       || (cursor->phase == 'k') != (filter->parent [0] != 0))))
        return -2;              //  a children's cursor goes with `parent` only
    return 0;
}

bool
query_filter_wants_status (query_filter_t *filter, int status)
{
    if (filter->nstatuses == 0 && !filter->succeeded && !filter->failed && !filter->scheduled)
        return true;
    for (int i = 0; i < filter->nstatuses; i++)
        if (filter->statuses [i] == status)
            return true;
    return (status == ASYNC_COMPLETED && (filter->succeeded || filter->failed))
        || (status == ASYNC_PENDING && filter->scheduled);
}

bool
query_filter_wants_ready (query_filter_t *filter)
{
    if (!filter->scheduled)
        return query_filter_wants_status (filter, ASYNC_PENDING);
    for (int i = 0; i < filter->nstatuses; i++)
        if (filter->statuses [i] == ASYNC_PENDING)
            return true;
    return false;
}

//  Whether only failed jobs are asked for among the completed: then the
//  walk reads the 'f' index instead of the 'c' index
bool
query_filter_failed_only (query_filter_t *filter)
{
    for (int i = 0; i < filter->nstatuses; i++)
        if (filter->statuses [i] == ASYNC_COMPLETED)
            return false;
    return filter->failed && !filter->succeeded;
}

bool
query_filter_match (query_filter_t *filter, async_job_t *job)
{
    if (!query_filter_wants_status (filter, job->status))
        return false;
    if (job->status == ASYNC_COMPLETED) {
        bool listed = false;
        for (int i = 0; i < filter->nstatuses; i++)
            listed |= filter->statuses [i] == ASYNC_COMPLETED;
        if (!listed && (filter->succeeded || filter->failed)) {
            bool failed = job->failure.size > 0;
            if (!((failed && filter->failed) || (!failed && filter->succeeded)))
                return false;
        }
        if (filter->since && job->completed_at < filter->since)
            return false;
    }
    if (filter->queue && strcmp (filter->queue, job->queue) != 0)
        return false;
    if (filter->task && !(job->task && async_glob_match (filter->task, job->task)))
        return false;
    if (filter->node [0] && strcmp (filter->node, job->node) != 0)
        return false;
    return true;
}

void
query_filter_clear (query_filter_t *filter)
{
    free (filter->queue);
    free (filter->task);
    filter->queue = filter->task = NULL;
}

//  ---------------------------------------------------------------------
//  The walk

//  The parent whose children were walked last, kept for the next pages
//  for at most S_PARENT_KEPT_US: a parent's record holds all its
//  children's ids (3.8 MB for 100,000), and its list never changes
#define S_PARENT_KEPT_US 5000000

struct _query_t {
    query_source_t source;
    async_job_t *parent;        //  a copy; NULL: none kept
    int64_t parent_read;        //  when (monotonic us)
};

query_t *
query_new (const query_source_t *source)
{
    assert (source && source->store && source->dispatch && source->live_ids
            && source->job_read && source->each_timed && source->scheduled_count
            && source->each_scheduled && source->each_running);
    query_t *self = (query_t *) async_xcalloc (1, sizeof (query_t));
    assert (self);
    self->source = *source;
    return self;
}

void
query_destroy (query_t **self_p)
{
    assert (self_p);
    if (*self_p)
        async_job_destroy (&(*self_p)->parent);
    free (*self_p);
    *self_p = NULL;
}

typedef struct {
    query_t *query;
    query_filter_t *filter;
    msgpack_packer *pk;         //  NULL: count only
    msgpack_sbuffer *packed;    //  what pk wrote
    json_t *json;               //  not NULL: the jobs as JSON too (the HTTP
                                //  view), built within the walk's bounds
    int64_t count;              //  matching jobs in this reply
    int64_t page;               //  at most this many (0: no bound, COUNT)
    size_t bytes;               //  at most about this many bytes of records
    size_t examined;            //  job records read
    size_t scan;                //  at most this many
    int64_t deadline;           //  monotonic us
    bool stopped;               //  stopped early: `at` is where to go on
    query_cursor_t from;        //  the cursor given (phase 0: none)
    query_cursor_t at;          //  the place of the last job looked at
    int64_t children_now;       //  wall us, when walking a parent's children
#define S_ONE(name) + 1
    int64_t by_status [0 QUERY_BY_STATUS (S_ONE)];  //  the count by status, in
                                                    //  QUERY_BY_STATUS order
#undef S_ONE
} s_walk_t;

//  The index of a job's status in s_walk_t's by_status
static int
s_status_index (const async_job_t *job)
{
    switch (job->status) {
        case ASYNC_PENDING:   return 0;
        case ASYNC_ASSIGNED:  return 1;
        case ASYNC_ACTIVE:    return 2;
        case ASYNC_CALLBACKS: return 3;
        default:              return job->failure.size ? 5 : 4;
    }
}

static bool
s_child_pending_wanted (query_filter_t *filter, async_job_t *job, int64_t now);

#define S_PAGE_MIN  16

//  Look at the job at a place of the walk; false to stop the walk
static bool
s_walk_visit (s_walk_t *walk, const char *id, const query_cursor_t *place)
{
    if (walk->stopped)
        return false;
    //  A page reads S_PAGE_MIN records whatever they cost (it goes on even
    //  where its first record takes longer than its time), then looks at
    //  the clock before each: one record may cost milliseconds (a parent
    //  of 100,000 children is 3.8 MB)
    if (walk->examined >= walk->scan
    ||  (walk->examined >= S_PAGE_MIN && async_mono_us () >= walk->deadline)) {
        walk->stopped = true;
        return false;
    }
    walk->examined++;
    walk->at = *place;
    query_source_t *source = &walk->query->source;
    //  The broker's own job where it has it (not copied: a parent of
    //  40,000 children is 1.5 MB), else a copy read from the store
    async_job_t *owned = NULL;
    async_job_t *job = source->job_peek ? source->job_peek (source->arg, id) : NULL;
    if (!job)
        job = owned = source->job_read (source->arg, id);
    if (job && query_filter_match (walk->filter, job)
    &&  (!walk->children_now || job->status != ASYNC_PENDING
      || s_child_pending_wanted (walk->filter, job, walk->children_now))) {
        walk->count++;
        walk->by_status [s_status_index (job)]++;
        if (walk->pk)
            async_job_pack (job, walk->pk);
        if (walk->json)
            json_array_append_new (walk->json, async_job_to_json (job));
    }
    async_job_destroy (&owned);
    if ((walk->page > 0 && walk->count >= walk->page)
    ||  (walk->packed && walk->packed->size >= walk->bytes))
        walk->stopped = true;
    return !walk->stopped;
}

static bool
s_walk_pending (void *arg, const char *queue, const char *id, int64_t priority,
                uint64_t seq)
{
    query_cursor_t place = { .phase = 'p', .priority = priority, .seq = seq };
    snprintf (place.queue, sizeof place.queue, "%s", queue);
    return s_walk_visit ((s_walk_t *) arg, id, &place);
}

//  The pending jobs of a queue that are in the store only
static bool
s_walk_stored (void *arg, const char *queue, int64_t priority, uint64_t seq)
{
    s_walk_t *walk = (s_walk_t *) arg;
    char prefix [300];
    size_t prefix_size;
    store_iter_t *iter = keys_place_iter (walk->query->source.store, queue, priority, seq,
                                          prefix, &prefix_size);
    bool more = true;
    keys_place_t place;
    while (more && store_iter_valid (iter)) {
        if (keys_place_at (iter, &place))
            more = s_walk_pending (walk, place.queue, place.id, place.priority, place.seq);
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    return more;
}

//  Walk the jobs with an 'a' key in id order, after the cursor's id if it
//  is in that phase. From memory (live_ids, ordered): one seek to the
//  cursor, then as many ids as this request looks at
static void
s_walk_live (s_walk_t *walk)
{
    ordset_t *live = walk->query->source.live_ids;
    const char *id = ordset_seek_after (live, walk->from.phase == 'a' ? walk->from.id : NULL);
    //  (Reading a job back does not change live_ids: the walk stays valid)
    while (id) {
        query_cursor_t place = { .phase = 'a' };
        memcpy (place.id, id, ASYNC_ID_CHARS);
        if (!s_walk_visit (walk, place.id, &place))
            break;
        id = ordset_next (live);
    }
}

//  Walk the 'c' or 'f' keys, newest first, before the cursor's key if it
//  is in that phase
static void
s_walk_done (s_walk_t *walk, char tag)
{
    store_iter_t *iter = store_iter_new (walk->query->source.store, KEYS_PREFIX (tag), 1);
    if (walk->from.phase == tag) {
        char start [64];
        size_t size = keys_time (start, tag, walk->from.when, walk->from.id);
        store_iter_seek (iter, start, size);
        if (store_iter_valid (iter))
            store_iter_prev (iter);         //  the first key before it
        else
            store_iter_seek_last (iter);    //  every key is before it
    }
    else
        store_iter_seek_last (iter);
    while (store_iter_valid (iter)) {
        size_t size;
        const char *key = store_iter_key (iter, &size);
        query_cursor_t place = { .phase = tag };
        if (keys_time_parse (key, size, &place.when, place.id)) {
            if (walk->filter->since && place.when < walk->filter->since)
                break;
            if (!s_walk_visit (walk, place.id, &place))
                break;
        }
        store_iter_prev (iter);
    }
    store_iter_destroy (&iter);
}

//  A scheduled job ('s') or a retry waiting out its backoff ('b')
static bool
s_walk_timed (void *arg, char phase, int64_t when, const char *id)
{
    query_cursor_t place = { .phase = phase, .when = when };
    memcpy (place.id, id, sizeof place.id);
    return s_walk_visit ((s_walk_t *) arg, place.id, &place);
}

//  Whether a pending child is in the filter's pending jobs: those ready
//  to go, and (`scheduled`) those waiting for a time (a future
//  begin_after, a retry's backoff)
static bool
s_child_pending_wanted (query_filter_t *filter, async_job_t *job, int64_t now)
{
    bool waits = job->begin_after > now || job->not_before > now;
    return waits || query_filter_wants_ready (filter);
}

//  Walk the children of the filter's parent in child order, after the
//  cursor's index: one record read a child. false when there is no such
//  parent
static bool
s_walk_children (s_walk_t *walk)
{
    query_t *query = walk->query;
    int64_t now = async_mono_us ();
    if (!query->parent || strcmp (query->parent->id, walk->filter->parent) != 0
    ||  now - query->parent_read > S_PARENT_KEPT_US) {
        async_job_destroy (&query->parent);
        query->parent = query->source.job_read (query->source.arg, walk->filter->parent);
        query->parent_read = now;
    }
    async_job_t *parent = query->parent;
    if (!parent)
        return false;
    size_t index = walk->from.phase == 'k' ? (size_t) walk->from.when + 1 : 0;
    walk->children_now = async_now_us ();
    for (; index < parent->nchildren; index++) {
        query_cursor_t place = { .phase = 'k', .when = (int64_t) index };
        memcpy (place.id, parent->children [index], ASYNC_ID_LEN);
        if (!s_walk_visit (walk, place.id, &place))
            break;
    }
    return true;
}

//  Walk the jobs matching a filter: pending in dispatch order (queues in
//  name order), scheduled, live, then completed newest first; from the
//  walk's cursor on, until the walk's bounds
static void
s_walk (s_walk_t *walk)
{
    query_source_t *source = &walk->query->source;
    query_filter_t *filter = walk->filter;
    int from = query_cursor_rank (walk->from.phase);
    if (from <= 1 && query_filter_wants_ready (filter)) {
        bool resume = walk->from.phase == 'p';
        dispatch_each_pending (source->dispatch, filter->queue,
                               resume ? walk->from.queue : NULL, walk->from.priority,
                               walk->from.seq, s_walk_pending, s_walk_stored, walk);
    }
    if (from <= 2 && !walk->stopped && query_filter_wants_status (filter, ASYNC_PENDING))
        source->each_timed (source->arg, 's', walk->from.when,
                            walk->from.phase == 's' ? walk->from.id : NULL, s_walk_timed,
                            walk);
    if (from <= 3 && !walk->stopped && query_filter_wants_status (filter, ASYNC_PENDING))
        //  Retries waiting out their backoff, by the monotonic clock
        source->each_timed (source->arg, 'b', walk->from.when,
                            walk->from.phase == 'b' ? walk->from.id : NULL, s_walk_timed,
                            walk);
    if (from <= 4 && !walk->stopped
    && (query_filter_wants_status (filter, ASYNC_ASSIGNED)
    ||  query_filter_wants_status (filter, ASYNC_ACTIVE)
    ||  query_filter_wants_status (filter, ASYNC_CALLBACKS)))
        //  Live jobs and waiting parents: the 'a' index
        s_walk_live (walk);
    if (!walk->stopped && query_filter_wants_status (filter, ASYNC_COMPLETED)) {
        char tag = query_filter_failed_only (filter) ? 'f' : 'c';
        if (from <= 4 || walk->from.phase == tag)
            s_walk_done (walk, tag);
    }
}

int
query_list (query_t *self, const msgpack_object *body, uint64_t rid, bool count_only,
            int64_t page, size_t bytes, size_t scan, int64_t deadline, json_t *json,
            async_msg_t *reply, char *err, size_t err_size)
{
    assert (self);
    query_filter_t filter;
    s_walk_t walk = { .query = self, .filter = &filter, .json = json, .scan = scan,
                      .deadline = deadline };
    int rc = query_filter_parse (body, &filter, &walk.from, err, err_size);
    if (rc == 0 && filter.by_status && !count_only) {
        snprintf (err, err_size, "by_status is COUNT's: LIST lists the jobs");
        rc = -1;
    }
    if (rc) {
        query_filter_clear (&filter);
        return rc;
    }
    msgpack_sbuffer jobs;
    msgpack_packer pk;
    msgpack_sbuffer_init (&jobs);
    msgpack_packer_init (&pk, &jobs, async_sbuffer_write);
    if (!count_only) {
        walk.pk = &pk;
        walk.packed = &jobs;
        walk.page = filter.limit > 0 && filter.limit < page ? filter.limit : page;
        walk.bytes = bytes;
    }
    bool found = true;
    if (filter.parent [0])
        found = s_walk_children (&walk);
    else
        s_walk (&walk);
    if (!found) {
        snprintf (err, err_size, "parent: no job %s", filter.parent);
        query_filter_clear (&filter);
        return -1;
    }
    char next [300];
    if (walk.stopped)
        query_cursor_format (&walk.at, next, sizeof next);
    if (count_only) {
        async_count_t count = { .count = walk.count, .has_next = walk.stopped };
        if (walk.stopped)
            count.next = async_str (next);
        msgpack_sbuffer statuses;
        msgpack_packer spk;
        msgpack_sbuffer_init (&statuses);
        msgpack_packer_init (&spk, &statuses, async_sbuffer_write);
        if (filter.by_status) {
            msgpack_pack_map (&spk, sizeof walk.by_status / sizeof walk.by_status [0]);
            int index = 0;
#define S_PACK_STATUS(name) \
            async_codec_pack_str (&spk, #name); \
            msgpack_pack_int64 (&spk, walk.by_status [index++]);
            QUERY_BY_STATUS (S_PACK_STATUS)
#undef S_PACK_STATUS
            count.has_statuses = true;
            count.statuses.data = statuses.data;
            count.statuses.size = statuses.size;
        }
        async_count_encode (reply, ASYNC_S_COUNT, rid, &count);
        msgpack_sbuffer_destroy (&statuses);
    }
    else {
        async_jobs_t listed = { .jobs = async_part_items ((uint32_t) walk.count, &jobs),
                                .has_next = walk.stopped };
        if (walk.stopped)
            listed.next = async_str (next);
        async_jobs_encode (reply, ASYNC_S_JOBS, rid, &listed);
    }
    msgpack_sbuffer_destroy (&jobs);
    query_filter_clear (&filter);
    return 0;
}

//  ---------------------------------------------------------------------
//  The queues of STATUS

//  One queue's row in STATUS
typedef struct {
    const char *name;           //  borrowed while the reply is built
    int64_t pending, scheduled, assigned, active;
} s_queue_row_t;

//  The rows STATUS lists: a heap of the QUERY_STATUS_QUEUES first in STATUS
//  order, the last of them at the top (rows [0])
typedef struct {
    query_t *query;
    zhashx_t *live;             //  queue -> int64_t [2]: assigned, active jobs
    s_queue_row_t *rows;
    size_t size;
    int64_t queues;             //  all the queues seen
} s_queue_top_t;

//  Whether row a comes before row b in STATUS: more jobs, then by name
static bool
s_row_before (const s_queue_row_t *a, const s_queue_row_t *b)
{
    int64_t ta = a->pending + a->scheduled + a->assigned + a->active;
    int64_t tb = b->pending + b->scheduled + b->assigned + b->active;
    return ta != tb ? ta > tb : strcmp (a->name, b->name) < 0;
}

static int
s_row_compare (const void *a, const void *b)
{
    const s_queue_row_t *x = (const s_queue_row_t *) a, *y = (const s_queue_row_t *) b;
    return s_row_before (x, y) ? -1 : s_row_before (y, x) ? 1 : 0;
}

static void
s_row_swap (s_queue_row_t *rows, size_t i, size_t j)
{
    s_queue_row_t swap = rows [i];
    rows [i] = rows [j];
    rows [j] = swap;
}

//  Count a queue in, and keep its row if it is among the first
static void
s_queue_top_add (s_queue_top_t *top, s_queue_row_t row)
{
    top->queues++;
    s_queue_row_t *rows = top->rows;
    size_t i;
    if (top->size < QUERY_STATUS_QUEUES) {
        //  Sift up: a parent comes after its children
        i = top->size++;
        rows [i] = row;
        while (i > 0 && s_row_before (&rows [(i - 1) / 2], &rows [i])) {
            s_row_swap (rows, i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
        return;
    }
    if (!s_row_before (&row, &rows [0]))
        return;
    //  In place of the last one, then sift down
    rows [0] = row;
    i = 0;
    while (true) {
        size_t last = i, left = 2 * i + 1, right = 2 * i + 2;
        if (left < top->size && s_row_before (&rows [last], &rows [left]))
            last = left;
        if (right < top->size && s_row_before (&rows [last], &rows [right]))
            last = right;
        if (last == i)
            break;
        s_row_swap (rows, i, last);
        i = last;
    }
}

//  A queue's scheduled jobs, and its jobs on nodes (not to be called
//  while the same hash is walked: a look-up moves zhashx's cursor)
static void
s_queue_top_scheduled (s_queue_top_t *top, s_queue_row_t *row)
{
    query_source_t *source = &top->query->source;
    int64_t count = source->scheduled_count (source->arg, row->name);
    if (count > 0)
        row->scheduled = count;
}

static void
s_queue_top_live (s_queue_top_t *top, s_queue_row_t *row)
{
    int64_t *live = zhashx_size (top->live) ? (int64_t *) zhashx_lookup (top->live, row->name)
                                            : NULL;
    if (live) {
        row->assigned = live [0];
        row->active = live [1];
    }
}

static void
s_queue_top_pending (void *arg, const char *queue, size_t pending)
{
    s_queue_top_t *top = (s_queue_top_t *) arg;
    s_queue_row_t row = { .name = queue, .pending = (int64_t) pending };
    s_queue_top_scheduled (top, &row);
    s_queue_top_live (top, &row);
    s_queue_top_add (top, row);
}

//  A running job counted in its queue's row
static void
s_queue_top_running (void *arg, const char *queue, int status)
{
    s_queue_top_t *top = (s_queue_top_t *) arg;
    int64_t *live = (int64_t *) zhashx_lookup (top->live, queue);
    if (!live) {
        live = (int64_t *) async_xcalloc (2, sizeof (int64_t));
        assert (live);
        zhashx_insert (top->live, queue, live);
    }
    live [status == ASYNC_ASSIGNED ? 0 : 1]++;
}

//  A queue with scheduled jobs: listed here if the dispatcher has not
static void
s_queue_top_timed (void *arg, const char *queue, int64_t count)
{
    s_queue_top_t *top = (s_queue_top_t *) arg;
    if (!dispatch_has_queue (top->query->source.dispatch, queue)) {
        s_queue_row_t row = { .name = queue, .scheduled = count };
        s_queue_top_live (top, &row);
        s_queue_top_add (top, row);
    }
}

static void
s_free_row (void **item)
{
    free (*item);
    *item = NULL;
}

int64_t
query_pack_queues (query_t *self, msgpack_packer *pk)
{
    assert (self);
    query_source_t *source = &self->source;
    s_queue_top_t top = { .query = self, .live = zhashx_new () };
    top.rows = (s_queue_row_t *) async_xmalloc (QUERY_STATUS_QUEUES * sizeof (s_queue_row_t));
    assert (top.live && top.rows);
    zhashx_set_destructor (top.live, s_free_row);
    //  Jobs on nodes, by queue: as many queues as running jobs at most
    source->each_running (source->arg, s_queue_top_running, &top);
    //  The queues with pending jobs, then those with scheduled jobs only,
    //  then those with jobs on nodes only
    dispatch_each_queue (source->dispatch, s_queue_top_pending, &top);
    source->each_scheduled (source->arg, s_queue_top_timed, &top);
    int64_t *live = (int64_t *) zhashx_first (top.live);
    while (live) {
        const char *name = (const char *) zhashx_cursor (top.live);
        if (!dispatch_has_queue (source->dispatch, name)
        &&  source->scheduled_count (source->arg, name) < 0) {
            s_queue_row_t row = { .name = name, .assigned = live [0], .active = live [1] };
            s_queue_top_add (&top, row);
        }
        live = (int64_t *) zhashx_next (top.live);
    }
    qsort (top.rows, top.size, sizeof (s_queue_row_t), s_row_compare);
    msgpack_pack_map (pk, top.size);
    for (size_t i = 0; i < top.size; i++) {
        s_queue_row_t *row = &top.rows [i];
        async_codec_pack_str (pk, row->name);
        msgpack_pack_map (pk, 4);
        async_codec_pack_str (pk, "pending");
        msgpack_pack_int64 (pk, row->pending);
        async_codec_pack_str (pk, "scheduled");
        msgpack_pack_int64 (pk, row->scheduled);
        async_codec_pack_str (pk, "assigned");
        msgpack_pack_int64 (pk, row->assigned);
        async_codec_pack_str (pk, "active");
        msgpack_pack_int64 (pk, row->active);
    }
    int64_t more = top.queues - (int64_t) top.size;
    free (top.rows);
    zhashx_destroy (&top.live);
    return more;
}
