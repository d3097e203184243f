/*  =========================================================================
    query - the cursors and filters of the listings (LIST, COUNT, the HTTP
    server's /api/jobs): read from a request, written back as `next`, and
    matched against jobs. No state: plain values the caller owns.
    =========================================================================
*/
#ifndef QUERY_H_INCLUDED
#define QUERY_H_INCLUDED

#include "async_codec.h"
#include "async_job.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Filters of LIST and COUNT
typedef struct {
    int statuses [8];           //  at most 8 statuses; more are ignored
    int nstatuses;
    bool succeeded, failed;
    char *queue;
    char *task;
    char node [ASYNC_ID_LEN];
    int64_t limit;
    int64_t since;              //  wall us, 0 = any
} query_filter_t;

//  Where a listing stopped: the place of the last job it looked at, in the
//  walk's order (the broker's s_walk). Sent as the opaque `next`, read
//  back from `cursor`:
//      p:<priority>:<seq>:<queue>      pending, in the queue's order
//      s:<when>:<id>                   scheduled
//      b:<mono>:<id>                   waiting out a retry's backoff
//      a:<id>                          in the 'a' index
//      c:<completed_at>:<id>           completed, newest first (the 'c' keys)
//      f:<completed_at>:<id>           failed, newest first (the 'f' keys)
typedef struct {
    char phase;                 //  0: from the start; else as above
    char queue [ASYNC_MAX_NAME + 1];
    int64_t priority;
    uint64_t seq;
    int64_t when;
    char id [ASYNC_ID_LEN];
} query_cursor_t;

//  The rank of a cursor's phase in the walk's order: 0 (no cursor, or
//  an unknown phase) to 5 (completed or failed)
int
    query_cursor_rank (char phase);

//  Read a cursor from its text. 0, or -1 for a text that is not one this
//  broker hands out (*cursor is then cleared).
int
    query_cursor_parse (const char *text, query_cursor_t *cursor);

//  Write a cursor as text, as query_cursor_parse reads it back.
void
    query_cursor_format (const query_cursor_t *cursor, char *text, size_t size);

//  Read the filter and cursor of a LIST/COUNT body. 0, -1 for a bad filter
//  (`err` says why), -2 for a bad cursor. A filter given with the wrong
//  type or size is refused, not ignored. On every path, free the filter
//  with query_filter_clear ().
int
    query_filter_parse (const msgpack_object *body, query_filter_t *filter,
                        query_cursor_t *cursor, char *err, size_t err_size);

//  Free what a filter holds (its queue and task); safe to call again.
void
    query_filter_clear (query_filter_t *filter);

//  Whether the filter asks for jobs of this status.
bool
    query_filter_wants_status (query_filter_t *filter, int status);

//  Whether only failed jobs are asked for among the completed: then the
//  walk reads the 'f' index instead of the 'c' index.
bool
    query_filter_failed_only (query_filter_t *filter);

//  Whether the job matches the filter.
bool
    query_filter_match (query_filter_t *filter, async_job_t *job);

#endif
