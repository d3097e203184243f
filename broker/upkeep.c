/*  =========================================================================
    upkeep - the loop's work on time (upkeep.h)
    =========================================================================
*/
#include "upkeep.h"
#include "agentset.h"
#include "async_alloc.h"
#include "async_codec.h"
#include "async_msgs.h"
#include "commit.h"
#include "keys.h"
#include "lifecycle.h"
#include "nodes.h"
#include "queueing.h"
#include "requests.h"
#include "spec.h"
#include "timers.h"
#include "waiters.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <inttypes.h>

//  A cancelled job still running is interrupted after this grace
#define S_CANCEL_GRACE_US (5 * 1000000LL)

//  Schedules: how many jobs a loop turn may make
#define S_EVERY_TURN_JOBS   200
//  While a commit is in flight and this many jobs are staged already, the
//  schedules wait for it (the loop wakes when it is done), so that ticks
//  never stage faster than the store writes
#define S_EVERY_STAGED_JOBS 4096

//  Running jobs past their timeout, or past the grace of a cancellation:
//  both measured on the monotonic clock
static void
s_running_limits (broker_t *self)
{
    int64_t now = async_now_us ();
    int64_t mono = async_mono_us ();
    zlistx_t *over = zlistx_new ();
    async_job_t *job = jobcache_first (self->jobs);
    while (job) {
        if (broker_job_is_live (job) && job->cancelled_at && !job->cancel_mono)
            job->cancel_mono = timers_mono_from_wall (job->cancelled_at, mono, now);
        if (broker_job_is_live (job) && job->status == ASYNC_ACTIVE && !job->active_mono)
            job->active_mono = timers_mono_from_wall (job->active_start, mono, now);
        if (broker_job_is_live (job)
        &&  ((job->cancelled_at && mono - job->cancel_mono > S_CANCEL_GRACE_US)
          || (job->timeout && job->status == ASYNC_ACTIVE
              && mono - job->active_mono > job->timeout)))
            zlistx_add_end (over, job);
        job = jobcache_next (self->jobs);
    }
    job = (async_job_t *) zlistx_first (over);
    while (job) {
        session_t *session = lifecycle_session_for_job (self, job);
        if (session && !job->cancelled_at)
            lifecycle_send_cancel (self, session, job);     //  its attempt is over either way
        lifecycle_release (self, job);
        job->active_end = now;
        if (job->cancelled_at) {
            //  An attempt handed out counts, started or not (as in
            //  lifecycle_interrupt): its number made its fencing token, and
            //  a retry must number the next one past it
            if (job->status == ASYNC_ASSIGNED)
                job->attempts++;
            async_log_info ("broker", "job.interrupted", "job=%s node=%s reason=cancelled",
                            job->id, job->node);
            async_failure_make (&job->failure, "CancelledError", "cancelled; the task "
                                "did not stop within the grace period", "", false,
                                job->node, job->attempts);
            lifecycle_job_complete (self, job);
        }
        else {
            char message [100];
            snprintf (message, sizeof message, "ran longer than its timeout of %.3fs",
                      job->timeout / 1e6);
            //  An interruption (docs/spec.md section 4): re-queued at the head
            //  under the policy's interruptions; past them, TimeoutError
            job->interruptions++;
            metrics_count (self->metrics, METRICS_INTERRUPTED, job->queue, job->task);
            policy_t policy;
            char err [200];
            if (policy_parse (job->retry, job->role == ASYNC_ROLE_CALLBACK, &policy, err,
                              sizeof err))
                policy_parse (NULL, false, &policy, err, sizeof err);
            async_log_info ("broker", "job.timeout", "job=%s node=%s attempt=%d "
                            "interruptions=%d", job->id, job->node, job->attempts,
                            job->interruptions);
            if (policy.interruptions >= 0 && job->interruptions >= policy.interruptions) {
                async_failure_make (&job->failure, "TimeoutError", message, "", false,
                                    job->node, job->attempts);
                lifecycle_job_complete (self, job);
            }
            else {
                lifecycle_attempt_keep (job, job->status == ASYNC_ACTIVE, message);
                queueing_enqueue (self, job, true);
            }
        }
        job = (async_job_t *) zlistx_next (over);
    }
    zlistx_destroy (&over);
}

bool
upkeep_forget_job (broker_t *self, const char *id, int64_t completed_at)
{
    //  Not from the cache either: a job being changed is not forgotten
    async_job_t *cached = jobcache_lookup (self->jobs, id);
    if (cached && commit_changing (self->commit, cached))
        return false;
    async_job_t *job = broker_job_read (self, id);
    if (job && job->key) {
        //  Only if the key names this job (a child's spec may repeat it)
        char kkey [KEYS_MAX];
        size_t klen = keys_name (kkey, KEYS_IDEMPOTENT, job->key);
        char *value;
        size_t vsize;
        if (store_get (self->store, kkey, klen, &value, &vsize) == 0) {
            if (vsize == ASYNC_ID_CHARS && memcmp (value, id, ASYNC_ID_CHARS) == 0)
                store_delete (self->store, kkey, klen);
            free (value);
        }
    }
    //  Its 'f' key, if it failed (or if its record does not say)
    bool failed = !job || job->failure.size;
    async_job_destroy (&job);
    if (cached) {
        commit_forget (self->commit, cached);
        jobcache_delete (self->jobs, id);
    }
    char key [KEYS_TIME_SIZE];
    store_delete (self->store, key, keys_id (key, KEYS_JOB, id));
    if (failed)
        store_delete (self->store, key, keys_time (key, KEYS_FAILED, completed_at, id));
    store_delete (self->store, key, keys_time (key, KEYS_COMPLETED, completed_at, id));
    return true;
}

//  Completed jobs past the retention period go, with their index keys;
//  a bounded batch per call
static void
s_purge (broker_t *self, int64_t now)
{
    int64_t horizon = now - self->config.retention_us;
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_COMPLETED), 1);
    size_t purged = 0;
    while (store_iter_valid (iter) && purged < 10000) {
        size_t size;
        const char *ckey = store_iter_key (iter, &size);
        int64_t completed_at;
        char id [ASYNC_ID_LEN];
        if (!keys_time_parse (ckey, size, &completed_at, id) || completed_at >= horizon)
            break;
        if (upkeep_forget_job (self, id, completed_at))
            purged++;
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    if (purged)
        async_log_info ("broker", "store.purged", "jobs=%zu", purged);
}

//  A scheduled job or a backoff is due (popped from the timers): to its
//  queue
static void
s_scheduled_due (broker_t *self, timers_due_t *entry, int64_t now)
{
    char key [64];
    store_delete (self->store, key, keys_time (key, KEYS_SCHEDULED, entry->when, entry->id));
    async_job_t *job = broker_job_load (self, entry->id);
    if (job && job->status == ASYNC_PENDING) {
        if (job->begin_by && job->attempts == 0 && now > job->begin_after + job->begin_by)
            lifecycle_job_fail (self, job, "TimeoutError", "not started before begin_by passed");
        else {
            job->not_before = 0;
            job->begin_after = job->begin_after > now ? now : job->begin_after;
            queueing_enqueue (self, job, false);
        }
    }
}

//  Time the broker's own loop did not run (the process stopped with
//  SIGSTOP, a VM paused, swapped out) is no node's silence: the nodes'
//  PINGs wait in the socket meanwhile, and this turn may run the death
//  check before reading them. The loop runs its timers at least once a
//  heartbeat; past two, the time beyond one heartbeat moves every
//  session's last_seen forward, so that a node counts as silent only for
//  the time the broker was there to hear it
static void
s_loop_gap (broker_t *self, int64_t mono)
{
    int64_t heartbeat_us = (int64_t) self->config.heartbeat_ms * 1000;
    int64_t gap = timers_gap (self->timers, mono);
    if (gap <= 2 * heartbeat_us)
        return;
    int64_t credit = gap - heartbeat_us;
    async_log_warning ("broker", "broker.stalled", "gap_ms=%" PRId64 " nodes=%zu "
                       "message=\"the broker's loop did not come round (the process "
                       "was stopped, or one turn took this long); this time does not "
                       "count as the nodes' silence\"", gap / 1000,
                       nodes_size (self->nodes));
    //  The sessions' silence, the dead nodes' age, the wait for the nodes
    //  expected back after a restart (nodes_credit)
    nodes_credit (self->nodes, credit, mono);
    //  Nor does it count against the orphans' node coming back
    orphans_credit (self->orphans, credit);
}

void
upkeep_timers (broker_t *self)
{
    int64_t mono = async_mono_us ();
    int64_t now = async_now_us ();
    self->more_work = false;
    s_loop_gap (self, mono);
    broker_peers_check (self, mono);
    agentset_check (self, mono);
    if (nodes_dying_size (self->nodes))
        nodes_dying_drop (self);
    //  Every turn (it must see the wall clock go back), a bounded share
    self->every_held = broker_disk_low (self)
                    || (commit_busy (self->commit)
                        && commit_staged_jobs (self->commit) > S_EVERY_STAGED_JOBS);
    if (!self->every_held) {
        every_tick_some (self->every, now, mono, S_EVERY_TURN_JOBS, requests_every_submit, self);
        if (every_next_due (self->every) <= now)
            self->more_work = true;
    }
    //  Scheduled jobs that are due go to the tail of their queue: a
    //  begin_after by the wall clock, a retry's backoff by the monotonic one
    timers_due_t entry;
    while (timers_scheduled_due (self->timers, now, &entry))
        s_scheduled_due (self, &entry, now);
    while (timers_backoff_due (self->timers, mono, &entry))
        s_scheduled_due (self, &entry, now);
    //  Pending jobs whose begin_by passed before any agent took them
    while (timers_deadline_due (self->timers, now, &entry)) {
        char key [64];
        store_delete (self->store, key, keys_time (key, KEYS_DEADLINE, entry.when, entry.id));
        async_job_t *job = broker_job_load (self, entry.id);
        if (job && job->status == ASYNC_PENDING && job->attempts == 0
        &&  queueing_is_queued (self, job)) {
            queueing_unqueue (self, job);
            lifecycle_job_fail (self, job, "TimeoutError", "not started before begin_by passed");
        }
    }
    if (mono < self->next_heartbeat)
        return;
    self->next_heartbeat = mono + self->config.heartbeat_ms * 1000;
    //  Dead nodes: dropped by nodes_dying_drop from the next turn on, a few a turn
    session_t *session = nodes_first (self->nodes);
    while (session) {
        if (mono - session->last_seen > (int64_t) self->config.dead_ms * 1000) {
            if (session->state == SESSION_LIVE) {
                session->state = SESSION_DYING;
                nodes_dying_add (self->nodes, session);
                self->more_work = true;
            }
        }
        else {
            async_msg_t msg;
            async_empty_encode (&msg, ASYNC_S_PING, 0);
            broker_send (self, session->routing, &msg);
        }
        session = nodes_next (self->nodes);
    }
    nodes_dead_expire (self->nodes, mono);
    lifecycle_log_rejected_count (self);
    s_running_limits (self);
    if (mono >= self->next_purge) {
        //  Every minute, or sooner for a short retention
        int64_t period = self->config.retention_us / 4;
        period = period < 1000000 ? 1000000 : period > 60000000 ? 60000000 : period;
        self->next_purge = mono + period;
        s_purge (self, now);
        size_t minutes = history_purge (self->history, now);
        if (minutes)
            async_log_info ("broker", "history.purged", "keys=%zu", minutes);
    }
    //  Orphans from before a restart whose node never came back
    zlistx_t *expired = orphans_expire (self->orphans, mono);
    const char *id = (const char *) zlistx_first (expired);
    while (id) {
        async_job_t *job = broker_job_load (self, id);
        if (job && broker_job_is_live (job))
            lifecycle_interrupt (self, job, "node did not come back after a broker restart");
        id = (const char *) zlistx_next (expired);
    }
    zlistx_destroy (&expired);
}
