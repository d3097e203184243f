/*  =========================================================================
    broker_impl - the broker's state, shared by the files of broker/ that
    make up the broker (broker.c and the parts split out of it); private
    to them: everything else uses broker.h. broker_t holds objects, each
    with its own header and unit test, not raw containers
    =========================================================================
*/
#ifndef BROKER_BROKER_IMPL_H_INCLUDED
#define BROKER_BROKER_IMPL_H_INCLUDED

#include "broker.h"
#include "agentset.h"
#include "auth.h"
#include "commit.h"
#include "dispatch.h"
#include "every.h"
#include "gathers.h"
#include "handoffs.h"
#include "history.h"
#include "http.h"
#include "jobcache.h"
#include "metrics.h"
#include "nodes.h"
#include "ordset.h"
#include "orphans.h"
#include "query.h"
#include "quota.h"
#include "session.h"
#include "store.h"
#include "timers.h"
#include "token.h"
#include "waiters.h"
#include "async_codec.h"
#include "async_idmap.h"
#include "async_job.h"
#include "async_spin.h"
#include "async_util.h"
#include <czmq.h>

struct _broker_t {
    broker_config_t config;
    zsock_t *router;
    broker_auth_t *auth;        //  CURVE: allowed keys and roles; NULL when off
    store_t *store;
    dispatch_t *dispatch;
    nodes_t *nodes;             //  the node sessions, dead nodes, held ACKs (nodes.h)
    jobcache_t *jobs;           //  the job cache: live and dirty jobs (jobcache.h)
    gathers_t *gathers;         //  parents' child summaries, for postprocesses (gathers.h)
    commit_t *commit;           //  the group commit: batches staged and in flight
    waiters_t *waiters;         //  the clients waiting for jobs' outcomes
    bool more_work;             //  the timers left work for the next turn
    bool every_held;            //  schedules may not tick now (disk, backlog)
    timers_t *timers;           //  scheduled jobs, backoffs, begin_by deadlines
    orphans_t *orphans;         //  jobs on nodes at a restart, awaited (orphans.h)
    quota_t *quotas;            //  cluster quotas
    every_t *every;             //  recurring schedules
    history_t *history;         //  completed jobs by minute (history.h)
    handoffs_t *handoffs;       //  jobs handed off, by target (handoffs.h)
    const char *peer_address;   //  of the message being handled
    const char *actor;          //  who sent it, for the log of operators'
                                //  actions: the name of its CURVE key,
                                //  the label of an HTTP token, or "local"
    bool from_node;             //  completing a job from a node's RESULT
    uint64_t seq;
    uint64_t epoch;
    token_key_t token_key;      //  from the store's secret (token.h)
    int64_t started;            //  wall us
    int64_t started_mono;       //  monotonic us, for the uptime
    int64_t next_heartbeat;     //  monotonic us
    int64_t next_purge;         //  monotonic us
    bool disk_low;              //  free space under the reserve: refuse writes
    int64_t next_disk_check;    //  monotonic us
    //  Since the start, every job (parents, children, callbacks): accepted,
    //  completed, and those completed with a failure
    uint64_t stat_submitted, stat_completed, stat_failed;
    int64_t unservable_logged;      //  when a job no node takes was last logged (us)
    uint64_t unservable_quiet;      //  such jobs not logged since
    async_rate_t rejects;       //  lines of rejected results
    async_rate_t dropped;       //  lines of messages dropped or refused as unknown
    metrics_t *metrics;         //  for /metrics
    http_t *http;               //  NULL without --http
    async_spin_t spin;          //  polls before the loop sleeps
    int64_t list_turn_us;       //  spent on listings in this loop turn
    ordset_t *live_ids;         //  the ids of the 'a' keys, in order
    query_t *query;             //  the listings (made at the first one)
    agentset_t *agent_sets;     //  AGENT-SET changes in flight (agentset.h)
};

//  ---------------------------------------------------------------------
//  What broker.c does for the broker's parts (requests.c, ...)

//  Send a message now (not waiting for a batch), never blocking, and
//  destroy it: 0, or the errno of a message not sent (EHOSTUNREACH: the
//  peer is gone; EAGAIN)
int
    broker_send (broker_t *self, zframe_t *routing, async_msg_t *msg);

//  Send ERROR `code` with a one-line `text` now
void
    broker_error (broker_t *self, zframe_t *routing, uint64_t rid, int code,
                  const char *text);

//  Start `msg` as the QUOTAS (SCHEDULES) listing the quotas (schedules),
//  in reply to `rid`: for a peer and the HTTP view alike
void
    broker_quotas_encode (broker_t *self, async_msg_t *msg, uint64_t rid);
void
    broker_schedules_encode (broker_t *self, async_msg_t *msg, uint64_t rid);

//  Send a reply once the batch being staged is durable (commit.h)
void
    broker_reply_later (broker_t *self, zframe_t *routing, async_msg_t *msg);

//  The job from the store, the caller's to destroy; NULL if none
async_job_t *
    broker_job_read (broker_t *self, const char *id);

//  The job from the cache, read into it from the store if needed; NULL if
//  none. The cache owns it
async_job_t *
    broker_job_load (broker_t *self, const char *id);

//  Stage the job's record for the next batch
void
    broker_job_save (broker_t *self, async_job_t *job);

//  Whether the job is a task on a node: assigned or active, not handed off
bool
    broker_job_is_live (async_job_t *job);

//  Whether the job is a task whose run handed off: active, waiting for
//  the job its `handoff` names (cached while it waits)
bool
    broker_job_is_waiting (async_job_t *job);

//  Take every job of a parsed spec into the cache, staged; destroys the list
void
    broker_jobs_adopt (broker_t *self, zlistx_t **jobs_p);

//  The request's `id`, a valid job id, into id (ASYNC_ID_LEN); 0 or -1
int
    broker_read_id (async_inmsg_t *in, char *id);

//  Stage an ACK to a node for after the commit, with its `count` entries
//  (packed maps) also in a third frame, so that it can be held for an
//  ASSIGN to ride on
void
    broker_ack_later (broker_t *self, zframe_t *routing, async_msg_t *msg,
                      const void *entries, size_t size, uint32_t count);

//  Put or delete a job's 'a' key (live jobs), and its id in the ordered
//  index the listings read
void
    broker_live_put (broker_t *self, const char *id, const void *value, size_t size,
                     bool fresh);
void
    broker_live_delete (broker_t *self, const char *id);

//  Push a job's progress to the peers subscribed to it
void
    broker_notify_progress (broker_t *self, const char *id, int64_t done, int64_t total);

//  An outcome was staged: one from a node's RESULT may wait for a later
//  sync (commit_outcome)
void
    broker_outcome_staged (broker_t *self);

//  Send a message built as a zmsg (routing frame first) now
void
    broker_zmsg_send (broker_t *self, zmsg_t **zmsg_p);

//  Whether the broker's disk is under its --min-free reserve (checked at
//  most every 100 ms)
bool
    broker_disk_low (broker_t *self);

//  A job's place in its queue's pending index (keys.h)
size_t
    broker_key_pending (char *buf, const async_job_t *job);

//  Probe the waiting peers, free the waits of those gone (waiters_check).
//  Sets self->more_work when some are left for the next turn
void
    broker_peers_check (broker_t *self, int64_t mono);

#endif
