/*  =========================================================================
    broker_view - what the broker shows its HTTP server (private)

    The HTTP handlers run on the broker's own thread, between two turns of
    its loop, and read its state through these calls: no locks. Each builds
    the very reply the protocol sends for the same question (STATUS, NODES,
    JOBS, JOB), so /api/... and asyncctl print the same JSON. Read the body
    back with async_inmsg_parse (); release with async_msg_destroy ().
    =========================================================================
*/
#ifndef BROKER_VIEW_H_INCLUDED
#define BROKER_VIEW_H_INCLUDED

#include "broker.h"
#include "metrics.h"
#include "async_codec.h"
#include <jansson.h>

//  The STATUS reply (asyncctl status).
void
    broker_view_status (broker_t *self, async_msg_t *reply);

//  The JOBS reply to a LIST query (`count_only`: the COUNT reply to a
//  COUNT, `jobs` NULL): `query` is a map as LIST's body
//  {"status": [...], "queue", "task", "node", "limit", "cursor"}. A page
//  holds at most `page` jobs and about `bytes` of records, within the
//  bounds of a LIST (its `next` says where to go on). 0, -1 for a bad
//  query (an unknown status, a bad since: the reason in err), -2 for a bad
//  cursor (reply untouched). The jobs of the page are appended to `jobs`
//  (a JSON array) as job JSON too: built within the bounds of the page
//  (turned into JSON after it, 1000 jobs held the loop 60 to 110 ms).
int
    broker_view_jobs (broker_t *self, const msgpack_object *query, bool count_only,
                      int64_t page, size_t bytes, json_t *jobs, async_msg_t *reply,
                      char *err, size_t err_size);

//  Count `us` microseconds the HTTP server spent on a listing (writing
//  its JSON out) into the listing time of this loop turn, which bounds
//  the listings that follow in the same turn.
void
    broker_view_charge (broker_t *self, int64_t us);

//  The JOB reply for job `id` (a valid id). 0, or ASYNC_ENOJOB (reply
//  untouched).
int
    broker_view_job (broker_t *self, const char *id, async_msg_t *reply);

//  The QUOTAS reply (asyncctl quota list).
void
    broker_view_quotas (broker_t *self, async_msg_t *reply);

//  The SCHEDULES reply (asyncctl every list).
void
    broker_view_schedules (broker_t *self, async_msg_t *reply);

//  The operators' actions of the HTTP API
typedef enum {
    BROKER_ACTION_CANCEL,       //  target: a job id
    BROKER_ACTION_RETRY,
    BROKER_ACTION_DELETE,
    BROKER_ACTION_PAUSE,        //  target: a queue name
    BROKER_ACTION_RESUME,
    BROKER_ACTION_QUOTA         //  target: a quota name; size: its new size
} broker_action_t;

//  Do an action for `actor` (logged as by=), as the protocol's request of
//  the same name does, and write it to the store, synced, before
//  returning. 0; ASYNC_ENOJOB or ASYNC_EREFUSED with the reason in err;
//  ASYNC_EREFUSED under the disk reserve; ASYNC_ESTORE when the write
//  failed (the broker stops).
int
    broker_view_act (broker_t *self, broker_action_t action, const char *target,
                     int64_t size, const char *actor, char *err, size_t err_size);

//  The completed jobs of the last `range_us`, in steps of `step_us`
//  (history_json). NULL only if out of memory.
json_t *
    broker_view_history (broker_t *self, int64_t range_us, int64_t step_us);

//  What the broker holds for its peers, now.
typedef struct {
    size_t sessions;            //  node sessions
    size_t session_bytes;       //  what they cost (session_hello_cost)
    size_t waits;               //  waits of clients for jobs (WAIT, SUBMIT with wait)
    size_t waiting_peers;       //  peers with at least one wait, or being freed
} broker_view_peers_t;

void
    broker_view_peers (broker_t *self, broker_view_peers_t *peers);

//  The broker's counters and histograms.
metrics_t *
    broker_view_metrics (broker_t *self);

#endif
