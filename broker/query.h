/*  =========================================================================
    query - the listings: LIST, COUNT and the HTTP server's /api/jobs

    A cursor and a filter read from each request (plain values the caller
    owns), and query_t, the walk over the jobs that match, from the cursor
    on, within a page's bounds. The walk reads the broker only through a
    query_source_t: the store, the dispatcher, the ordered live ids, and
    two calls back. Each part of the walk seeks to the cursor: a page costs
    its records plus a seek, whatever the number of jobs.
    =========================================================================
*/
#ifndef QUERY_H_INCLUDED
#define QUERY_H_INCLUDED

#include "dispatch.h"
#include "ordset.h"
#include "store.h"
#include "async_codec.h"
#include "async_job.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Filters of LIST and COUNT
typedef struct {
    int statuses [8];           //  at most 8 statuses; more are ignored
    int nstatuses;
    bool succeeded, failed;     //  completed without, with a failure
    bool scheduled;             //  pending, waiting for a time (s, b phases)
    char *queue;
    char *task;
    char node [ASYNC_ID_LEN];
    char parent [ASYNC_ID_LEN]; //  only this job's children, walked in order
    int64_t limit;
    int64_t since;              //  wall us, 0 = any
    bool by_status;             //  COUNT: count by status too
} query_filter_t;

//  The statuses a COUNT with `by_status` counts the matching jobs by:
//  they part them (a completed job is succeeded or failed)
#define QUERY_BY_STATUS(X) \
    X (pending) X (assigned) X (active) X (callbacks) X (succeeded) X (failed)

//  Where a listing stopped: the place of the last job it looked at, in the
//  walk's order (the broker's s_walk). Sent as the opaque `next`, read
//  back from `cursor`:
//      p:<priority>:<seq>:<queue>      pending, in the queue's order
//      s:<when>:<id>                   scheduled
//      b:<mono>:<id>                   waiting out a retry's backoff
//      a:<id>                          in the 'a' index
//      c:<completed_at>:<id>           completed, newest first (the 'c' keys)
//      f:<completed_at>:<id>           failed, newest first (the 'f' keys)
//      k:<index>:<id>                  a `parent`'s child, in child order
typedef struct {
    char phase;                 //  0: from the start; else as above
    char queue [ASYNC_MAX_NAME + 1];
    int64_t priority;
    uint64_t seq;
    int64_t when;               //  k: the child's index
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

//  Whether the filter asks for pending jobs that are ready to go (in their
//  queue): not when it asks for `scheduled` ones only.
bool
    query_filter_wants_ready (query_filter_t *filter);

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

//  A timed entry of the walk: a scheduled job ('s', `when` in wall us) or
//  a retry waiting out its backoff ('b', monotonic us). false to stop.
typedef bool (query_timed_fn) (void *walk, char phase, int64_t when, const char *id);

typedef void (query_scheduled_fn) (void *top, const char *queue, int64_t count);
typedef void (query_running_fn) (void *top, const char *queue, int status);

//  What the listings read of the broker; nothing else
typedef struct {
    store_t *store;             //  the 'a', 'c', 'f' and stored 'p' keys
    dispatch_t *dispatch;       //  the pending jobs, in dispatch order
    ordset_t *live_ids;         //  the ids of the 'a' keys, in order
    void *arg;                  //  for the calls below (the broker)
    //  A read-only copy of job `id`, or NULL; the caller destroys it
    async_job_t *(*job_read) (void *arg, const char *id);
    //  Optional: the broker's own job `id` if it holds it in memory, or
    //  NULL (then job_read); read only, and not kept past the call that
    //  got it
    async_job_t *(*job_peek) (void *arg, const char *id);
    //  Call `visit` for the entries of `phase` ('s' or 'b') in order,
    //  after (when, id) if `id` is not NULL, until it returns false
    void (*each_timed) (void *arg, char phase, int64_t when, const char *id,
                        query_timed_fn *visit, void *walk);
    //  For STATUS: the scheduled jobs of `queue`, or -1 if it has none
    //  counted; each queue with scheduled jobs, and their count; each job
    //  on a node (a task assigned or active), with its queue and status
    int64_t (*scheduled_count) (void *arg, const char *queue);
    void (*each_scheduled) (void *arg, query_scheduled_fn *fn, void *top);
    void (*each_running) (void *arg, query_running_fn *fn, void *top);
} query_source_t;

typedef struct _query_t query_t;

//  Create the listings over `source` (copied; what it points to must
//  outlive the query). Never NULL.
query_t *
    query_new (const query_source_t *source);

//  Destroy the query and set *self_p to NULL. Safe to call again.
void
    query_destroy (query_t **self_p);

//  The JOBS (or, `count_only`, COUNT) reply to a LIST (COUNT) `body`,
//  read through the bounds of one page: at most `page` jobs and about
//  `bytes` of records (LIST), `scan` job records read and the monotonic
//  `deadline` (us). With `json` (a JSON array), each job listed is
//  appended to it as job JSON too. 0, -1 for a bad filter (`err` says
//  why), -2 for a bad cursor (reply untouched).
int
    query_list (query_t *self, const msgpack_object *body, uint64_t rid,
                bool count_only, int64_t page, size_t bytes, size_t scan,
                int64_t deadline, json_t *json, async_msg_t *reply, char *err,
                size_t err_size);

//  STATUS lists at most this many queues; `queues_more` counts the rest
#define QUERY_STATUS_QUEUES 1000

//  Pack STATUS's `queues`: a map of at most QUERY_STATUS_QUEUES queues,
//  those with the most jobs first (pending, scheduled, assigned and
//  active), then by name, each `{pending, scheduled, assigned, active}`.
//  One pass over the queues and one over the running jobs, with no
//  allocation per queue. Returns how many queues were left out.
int64_t
    query_pack_queues (query_t *self, msgpack_packer *pk);

#endif
