/*  =========================================================================
    broker_impl - the broker's state, shared by the files of broker/ that
    make up the broker (broker.c and the parts split out of it); private
    to them: everything else uses broker.h
    =========================================================================
*/
#ifndef BROKER_BROKER_IMPL_H_INCLUDED
#define BROKER_BROKER_IMPL_H_INCLUDED

#include "broker.h"
#include "auth.h"
#include "dispatch.h"
#include "every.h"
#include "http.h"
#include "metrics.h"
#include "ordset.h"
#include "query.h"
#include "quota.h"
#include "session.h"
#include "store.h"
#include "token.h"
#include "waiters.h"
#include "async_idmap.h"
#include "async_job.h"
#include "async_spin.h"
#include "async_util.h"
#include <czmq.h>

//  A node declared dead, listed as such for a while: its last NODES entry
typedef struct {
    int64_t when;               //  monotonic us
    uint8_t *data;              //  one packed node map
    size_t size;
} dead_node_t;


//  A job recovered in assigned/active state, waiting for its node to say HELLO
typedef struct {
    char id [ASYNC_ID_LEN];
    char node [ASYNC_ID_LEN];
    int64_t deadline;           //  monotonic us
} orphan_t;

//  The scheduled jobs of one queue, counted for STATUS
typedef struct {
    int64_t count;
    char name [ASYNC_MAX_NAME + 1];
} scheduled_queue_t;

//  A pending job due at `when` (wall us: its s or d key). A retry's
//  backoff is a duration: it is due at `mono` (monotonic us) instead
typedef struct {
    int64_t when;
    int64_t mono;
    char id [ASYNC_ID_LEN];
    scheduled_queue_t *queue;     //  scheduled jobs: their queue, or NULL
} scheduled_t;

struct _broker_t {
    broker_config_t config;
    zsock_t *router;
    broker_auth_t *auth;        //  CURVE: allowed keys and roles; NULL when off
    store_t *store;
    dispatch_t *dispatch;
    zhashx_t *sessions;         //  rkey -> session_t
    zlistx_t *dying;            //  rkeys of sessions found dead, to drop (s_dying_drop)
    size_t session_bytes;       //  what they cost: the sum of their `cost`
    int64_t full_logged;        //  monotonic us: the last sessions.full line
    uint64_t full_refused;      //  HELLOs refused for the budgets since then
    zlistx_t *ack_holders;      //  s_holder_t *: sessions holding ACKs, oldest first
    zhashx_t *nodes;            //  uuid -> session_t (not owned)
    zhashx_t *known;            //  uuid -> itself: nodes with a session (u keys)
    zhashx_t *awaited;          //  uuid -> itself: known before this start, not back
    int64_t awaited_until;      //  monotonic us: dispatch waits for them until then
    async_idmap_t *jobs;        //  id -> async_job_t: live and dirty jobs
    zhashx_t *gathers;          //  parent id -> s_gather_t: its children's summaries
    size_t gather_bytes;        //  held in all of them
    zlistx_t *dirty;            //  async_job_t * to write at commit
    zlistx_t *loaded;           //  async_job_t * read from the store since the commit
    //  The batch being written by the store's writer thread: what waits
    //  for it (s_commit_start hands it over, s_commit_done finishes it)
    zlistx_t *flight_replies;   //  zmsg_t * to send when it is written
    zlistx_t *flight_dirty;     //  async_job_t * it writes
    zlistx_t *flight_loaded;    //  async_job_t * read before it
    zhashx_t *flight_keys;      //  its idempotency keys
    zhashx_t *flight_bindings;  //  its uuid bindings (b keys): uuid -> key hash
    zhashx_t *flight_unwritten; //  its jobs not to hand out before it is written
    bool flight_synced;
    int64_t flight_start;       //  monotonic us
    waiters_t *waiters;         //  the clients waiting for jobs' outcomes
    bool more_work;             //  the timers left work for the next turn
    bool every_held;            //  schedules may not tick now (disk, backlog)
    zhashx_t *keys_staged;      //  idempotency key -> job id, put in this batch
    zhashx_t *bindings_staged;  //  uuid -> key hash: b keys put in this batch
    zhashx_t *unwritten;        //  id -> 1: jobs created, or whose attempt
                                //  ended, in this batch: not handed out
                                //  before it is written (s_dispatch_veto)
    bool withheld;              //  dispatch held back such a job
    zlistx_t *replies;          //  zmsg_t * to send after the commit
    zlistx_t *scheduled;        //  scheduled_t *, sorted by when
    zlistx_t *backoffs;         //  scheduled_t *: retries, sorted by mono
    zlistx_t *deadlines;        //  scheduled_t *: begin_by of pending jobs
    zhashx_t *orphans;          //  id -> orphan_t
    quota_t *quotas;            //  cluster quotas
    every_t *every;             //  recurring schedules
    zhashx_t *handoff_targets;  //  target id -> ids of jobs handed off to it
    bool durable;               //  the batch holds acknowledged writes
    bool durable_soon;          //  ... or outcomes from nodes: their ACKs may
                                //  wait for a later sync (S_SYNC_DEFER_US)
    zlistx_t *unsynced;         //  zmsg_t *: ACKs of written, unsynced outcomes
    int64_t unsynced_since;     //  monotonic us, of the oldest of them
    bool flight_deferred;       //  the batch in flight is written unsynced
    const char *peer_address;   //  of the message being handled
    bool from_node;             //  completing a job from a node's RESULT
    uint64_t seq;
    uint64_t epoch;
    token_key_t token_key;      //  from the store's secret (token.h)
    int64_t started;            //  wall us
    int64_t started_mono;       //  monotonic us, for the uptime
    int64_t next_heartbeat;     //  monotonic us
    int64_t last_timers;        //  monotonic us: the timers' last run (s_loop_gap)
    int64_t next_purge;         //  monotonic us
    bool store_failed;          //  a commit failed: the broker stops
    bool disk_low;              //  free space under the reserve: refuse writes
    int64_t disk_hello_logged;  //  monotonic us: the last node.refused for it
    uint64_t disk_hello_refused;    //  first HELLOs refused for it since then
    int64_t next_disk_check;    //  monotonic us
    uint64_t stat_submitted, stat_completed, stat_failed;
    async_rate_t rejects;       //  lines of rejected results
    async_rate_t dropped;       //  lines of messages dropped or refused as unknown
    int64_t key_window;         //  monotonic us: this second of HELLOs refused
    uint32_t key_lines;         //  for a uuid's key, logged one by one in it
    uint64_t key_quiet;         //  ... and past the limit: counted
    zhashx_t *dead_nodes;       //  uuid -> dead_node_t: died recently
    metrics_t *metrics;         //  for /metrics
    http_t *http;               //  NULL without --http
    async_spin_t spin;          //  polls before the loop sleeps
    int64_t list_turn_us;       //  spent on listings in this loop turn
    ordset_t *live_ids;         //  the ids of the 'a' keys, in order
    query_t *query;             //  the listings (made at the first one)
    zhashx_t *scheduled_queues; //  queue -> scheduled_queue_t: entries of scheduled
};

//  What broker.c lends to the parts of the broker in other files (the
//  listings, listing.c)

//  A read-only copy of job `id` (from the cache or the store), or NULL;
//  the caller destroys it
async_job_t *
    broker_job_read (broker_t *self, const char *id);

//  Whether the job is a task on a node (assigned or active, not handed off)
bool
    broker_job_is_live (async_job_t *job);

//  Send `msg` to the peer at `routing` now, never blocking, and destroy
//  it: 0, or the errno of a message not sent (EHOSTUNREACH, EAGAIN)
int
    broker_send (broker_t *self, zframe_t *routing, async_msg_t *msg);

//  Send ERROR `code` with `text` now
void
    broker_error (broker_t *self, zframe_t *routing, uint64_t rid, int code,
                  const char *text);

//  The orders of the lists of scheduled_t: `scheduled` and `deadlines`
//  by (when, id), `backoffs` by (mono, id)
int
    broker_scheduled_compare (const void *a, const void *b);
int
    broker_backoff_compare (const void *a, const void *b);

#endif
