/*  =========================================================================
    query - the cursors and filters of the listings
    =========================================================================
*/
#include "query.h"
#include "async_util.h"
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
            if (strlen (rest) != 36)
                return -1;
            memcpy (cursor->id, rest, ASYNC_ID_LEN);
            return async_id_valid (cursor->id) ? 0 : -1;
        case 's': case 'b': case 'c': case 'f':
            if (!colon || !s_parse_i64 (rest, colon - rest, 0, INT64_MAX, &cursor->when)
            ||  strlen (colon + 1) != 36)
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

//  A string filter of LIST/COUNT: absent or nil is no filter (*value
//  NULL); else a string of at most ASYNC_MAX_NAME bytes, or -1 with `err`
static int
s_filter_str (const msgpack_object *body, const char *key, char **value,
              char *err, size_t err_size)
{
    *value = NULL;
    const msgpack_object *given = async_mp_get (body, key);
    if (!given || given->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (given->type != MSGPACK_OBJECT_STR || given->via.str.size > ASYNC_MAX_NAME
    ||  !(*value = async_mp_strdup (body, key))) {
        snprintf (err, err_size, "%s must be a string of at most %d bytes", key,
                  ASYNC_MAX_NAME);
        return -1;
    }
    return 0;
}

//  0, -1 for a bad filter (`err` says why), -2 for a bad cursor. A filter
//  given with the wrong type or size is refused, not ignored: ignored, it
//  would match every job. Absent or nil, a field is no filter
int
query_filter_parse (const msgpack_object *body, query_filter_t *filter, query_cursor_t *cursor,
                char *err, size_t err_size)
{
    memset (filter, 0, sizeof *filter);
    memset (cursor, 0, sizeof *cursor);
    filter->limit = 1000;
    const msgpack_object *statuses = async_mp_get (body, "status");
    if (statuses && statuses->type != MSGPACK_OBJECT_NIL
    &&  statuses->type != MSGPACK_OBJECT_ARRAY) {
        snprintf (err, err_size, "status must be an array of status names");
        return -1;
    }
    if (statuses && statuses->type == MSGPACK_OBJECT_ARRAY) {
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
            else {
                int status = async_status_parse (name);
                if (status < 0) {
                    snprintf (err, err_size, "unknown status in the query");
                    return -1;
                }
                filter->statuses [filter->nstatuses++] = status;
            }
        }
    }
    if (s_filter_str (body, "queue", &filter->queue, err, err_size)
    ||  s_filter_str (body, "task", &filter->task, err, err_size))
        return -1;
    const msgpack_object *node = async_mp_get (body, "node");
    if (node && node->type != MSGPACK_OBJECT_NIL
    &&  (async_mp_strcpy (node, filter->node, sizeof filter->node)
      || !async_id_valid (filter->node))) {
        snprintf (err, err_size, "node must be a node's uuid");
        return -1;
    }
    const msgpack_object *limit = async_mp_get (body, "limit");
    if (limit && limit->type != MSGPACK_OBJECT_NIL
    &&  async_mp_int (body, "limit", &filter->limit)) {
        snprintf (err, err_size, "limit must be an integer");
        return -1;
    }
    //  since: seconds, 0 = any; NaN, infinities and huge values refused
    //  before any arithmetic (a double out of int64's range is undefined)
    const msgpack_object *since = async_mp_get (body, "since");
    if (since && since->type != MSGPACK_OBJECT_NIL) {
        double seconds;
        int64_t usecs;
        if (async_mp_double (body, "since", &seconds)
        ||  async_seconds_to_us (seconds, 0, ASYNC_DURATION_MAX_S, &usecs)) {
            snprintf (err, err_size, "since must be a number of seconds from 0 to 1e12");
            return -1;
        }
        if (usecs > 0)
            filter->since = async_now_us () - usecs;
    }
    const msgpack_object *given = async_mp_get (body, "cursor");
    if (given && given->type != MSGPACK_OBJECT_NIL) {
        char text [300];
        if (async_mp_strcpy (given, text, sizeof text) || query_cursor_parse (text, cursor))
            return -2;
    }
    return 0;
}

bool
query_filter_wants_status (query_filter_t *filter, int status)
{
    if (filter->nstatuses == 0 && !filter->succeeded && !filter->failed)
        return true;
    for (int i = 0; i < filter->nstatuses; i++)
        if (filter->statuses [i] == status)
            return true;
    return status == ASYNC_COMPLETED && (filter->succeeded || filter->failed);
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
