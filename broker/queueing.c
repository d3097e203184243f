/*  =========================================================================
    queueing - the pending jobs' way to the nodes (queueing.h)
    =========================================================================
*/
#include "queueing.h"
#include "async_alloc.h"
#include "async_codec.h"
#include "async_msgs.h"
#include "commit.h"
#include "keys.h"
#include "lifecycle.h"
#include "nodes.h"
#include "timers.h"
#include "waiters.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <inttypes.h>

//  Dispatch veto: a lane whose quotas are full waits, and so does a job
//  whose last change is not written (commit_veto). Handed out before,
//  it could run on a node, then a crash brings back what the store holds:
//  no job at all, whose submitter, never answered, submits it again (with
//  the same idempotency key: the same job, as far as it knows); or the
//  attempt before, whose node re-sends its failure, which is retried. The
//  task runs a second time either way. A job the store holds as pending
//  goes at once: ASSIGN before the commit that records it is safe for it
//  (the node takes it back after a restart, section 8 of
//  docs/protocol.md)
static bool
s_dispatch_veto (void *arg, const char *id, const char *task, const char *quotas)
{
    broker_t *self = (broker_t *) arg;
    if (commit_veto (self->commit, id))
        return false;
    return quota_allows (self->quotas, quotas);
}

void
queueing_enqueue (broker_t *self, async_job_t *job, bool head)
{
    char key [300];
    int64_t now = async_now_us ();
    int64_t when = job->not_before > job->begin_after ? job->not_before : job->begin_after;
    if (!lifecycle_set (job, ASYNC_PENDING))
        return;
    job->node [0] = 0;
    if (when > now + 1000) {
        //  Scheduled: wakes up at the tail of its queue
        store_put (self->store, key, keys_time (key, KEYS_SCHEDULED, when, job->id), "", 0);
        if (when == job->not_before)
            //  A retry's backoff: a duration, on the monotonic clock (after
            //  a restart its s key is read back as a wall-clock time)
            timers_backoff (self->timers, job->id, when, async_mono_us () + (when - now),
                            job->queue);
        else
            timers_schedule (self->timers, job->id, when, job->queue);
        broker_job_save (self, job);
        return;
    }
    if (!head || job->seq == 0)
        job->seq = ++self->seq;
    //  Index value: id \0 task [\0 quotas]
    char *quotas = quota_lane (&job->quotas);
    size_t tlen = strlen (job->task);
    size_t qlen = quotas ? strlen (quotas) + 1 : 0;
    char *value = async_xmalloc (ASYNC_ID_LEN + tlen + qlen);
    memcpy (value, job->id, ASYNC_ID_CHARS);
    value [ASYNC_ID_CHARS] = 0;
    memcpy (value + ASYNC_ID_LEN, job->task, tlen);
    if (quotas) {
        value [ASYNC_ID_LEN + tlen] = 0;
        memcpy (value + ASYNC_ID_LEN + 1 + tlen, quotas, qlen - 1);
    }
    //  Fresh: a job leaves its queue with a delete of its p key (queueing_unqueue)
    store_put_fresh (self->store, key, broker_key_pending (key, job), value,
                     ASYNC_ID_LEN + tlen + qlen);
    free (value);
    dispatch_push_quotas (self->dispatch, job->id, job->task, job->queue, job->priority,
                          job->seq, head, quotas);
    free (quotas);
    if (job->begin_by && job->attempts == 0) {
        //  Not started by then: TimeoutError (d key, for restarts)
        int64_t deadline = job->begin_after + job->begin_by;
        store_put (self->store, key, keys_time (key, KEYS_DEADLINE, deadline, job->id), "", 0);
        timers_deadline (self->timers, job->id, deadline);
    }
    broker_job_save (self, job);
}

//  Whether the job is in its queue's pending index (in memory, or in the
//  store only when its queue spilled)
bool
queueing_is_queued (broker_t *self, async_job_t *job)
{
    if (dispatch_contains (self->dispatch, job->id))
        return true;
    if (job->seq == 0 || !dispatch_spilled (self->dispatch, job->queue, job->priority, job->seq))
        return false;
    char key [300];
    char *value;
    size_t size;
    if (store_get (self->store, key, broker_key_pending (key, job), &value, &size))
        return false;
    bool queued = size >= ASYNC_ID_CHARS && memcmp (value, job->id, ASYNC_ID_CHARS) == 0;
    free (value);
    return queued;
}

void
queueing_unqueue (broker_t *self, async_job_t *job)
{
    char key [300];
    if (!dispatch_remove (self->dispatch, job->id) && queueing_is_queued (self, job))
        dispatch_forget (self->dispatch, job->queue);
    store_delete (self->store, key, broker_key_pending (key, job));
}

//  Start a job: a task goes to its queue, a parent starts its children
void
queueing_start (broker_t *self, async_job_t *job)
{
    job->held = false;
    if (job->kind == ASYNC_KIND_TASK) {
        metrics_count (self->metrics, METRICS_SUBMITTED, job->queue, job->task);
        queueing_enqueue (self, job, false);
        return;
    }
    if (!lifecycle_set (job, ASYNC_ACTIVE))
        return;
    job->active_start = async_now_us ();
    broker_job_save (self, job);
    broker_live_put (self, job->id, "", 0, false);
    size_t count = job->kind == ASYNC_KIND_PARALLEL ? job->nchildren : 1;
    for (size_t i = 0; i < count && i < job->nchildren; i++) {
        async_job_t *child = broker_job_load (self, job->children [i]);
        if (child)
            queueing_start (self, child);
    }
}

//  The job, out of its queue, is assigned to a slot of `agent` (taken)
//  with `token`
bool
queueing_assign (broker_t *self, session_t *session, dispatch_agent_t *agent, async_job_t *job,
                 uint64_t token)
{
    if (!lifecycle_set (job, ASYNC_ASSIGNED))
        return false;
    quota_count (self->quotas, &job->quotas, +1);
    job->token = token;
    memcpy (job->node, session->uuid, ASYNC_ID_LEN);
    async_job_set_str (&job->agent, dispatch_agent_name (agent));
    async_idmap_insert (session->jobs, job->id, agent);
    //  The assignment is the a key alone: node, token, agent. The record
    //  is written with the job's next change (a live job stays cached);
    //  a restart lays the a key over a record that still says pending
    const char *agent_name = dispatch_agent_name (agent);
    size_t alen = strlen (agent_name);
    uint8_t live [ASYNC_ID_CHARS + 8 + ASYNC_MAX_NAME + 1];
    if (alen > ASYNC_MAX_NAME)
        alen = ASYNC_MAX_NAME;
    memcpy (live, session->uuid, ASYNC_ID_CHARS);
    store_put_be64 (live + ASYNC_ID_CHARS, job->token);
    memcpy (live + 44, agent_name, alen);
    //  Fresh: every attempt ends with a delete of the a key (lifecycle_release)
    broker_live_put (self, job->id, live, 44 + alen, true);
    return true;
}

//  Send ASSIGN for each (job, agent) pair dispatch finds
void
queueing_dispatch (broker_t *self)
{
    if (nodes_awaited (self->nodes)) {
        //  Just restarted: the nodes known before come back first
        if (async_mono_us () < nodes_awaited_until (self->nodes))
            return;
        async_log_warning ("broker", "dispatch.resumed", "missing=%zu reason=\"nodes known "
                           "before the restart did not come back within dead-after\"",
                           nodes_awaited (self->nodes));
        nodes_missing_forget (self->nodes);
    }
    char id [ASYNC_ID_LEN];
    dispatch_agent_t *agent;
    zlistx_t *batched = zlistx_new ();      //  sessions with ASSIGNs to send
    commit_veto_clear (self->commit);
    while (dispatch_next (self->dispatch, s_dispatch_veto, self, id, &agent)) {
        session_t *session = (session_t *) dispatch_agent_owner (agent);
        async_job_t *job = broker_job_load (self, id);
        char key [300];
        if (!job || job->status != ASYNC_PENDING || !job->task) {
            dispatch_agent_release (agent);
            continue;
        }
        store_delete (self->store, key, broker_key_pending (key, job));
        int64_t now = async_now_us ();
        if (job->begin_by && job->attempts == 0) {
            char dkey [64];
            store_delete (self->store, dkey,
                          keys_time (dkey, KEYS_DEADLINE, job->begin_after + job->begin_by, job->id));
        }
        if (job->begin_by && job->attempts == 0 && now > job->begin_after + job->begin_by) {
            dispatch_agent_release (agent);
            lifecycle_job_fail (self, job, "TimeoutError", "not started before begin_by passed");
            continue;
        }
        uint64_t token = token_make (&self->token_key, self->epoch, job->id, session->uuid,
                                     job->attempts + 1);
        if (!queueing_assign (self, session, agent, job, token)) {
            dispatch_agent_release (agent);     //  refused: a bug, logged
            continue;
        }

        async_assign_t assign = {
            .token = job->token, .has_proof = true,
            .proof = token_proof (&self->token_key, job->token, job->id, session->uuid,
                                  job->attempts + 1),
            .task = async_str (job->task),
            .args = { .data = job->args.data, .size = job->args.size },
            .kwargs = { .data = job->kwargs.data, .size = job->kwargs.size },
            .has_agent = true, .agent = async_str (dispatch_agent_name (agent)),
            .has_attempt = true, .attempt = job->attempts + 1,
            .has_timeout_ms = true, .timeout_ms = job->timeout / 1000 };
        memcpy (assign.id, job->id, ASYNC_ID_LEN);
        //  Sent now, before the commit that records the assignment: the
        //  job's record is written (s_dispatch_veto), so after a crash the
        //  node takes it back (s_adopt). A node that takes them gets this
        //  turn's jobs in one ASSIGN (below).
        if (session->batch) {
            if (session->nassigns++ == 0)
                zlistx_add_end (batched, session);
            async_assign_pack (&session->assigns, &assign);
        }
        else {
            async_msg_t msg;
            async_assign_encode (&msg, ASYNC_S_ASSIGN, 0, &assign);
            broker_send (self, session->routing, &msg);
        }
        async_log_debug ("broker", "job.assigned", "job=%s node=%s agent=%s",
                         job->id, session->uuid, dispatch_agent_name (agent));
    }
    session_t *session = (session_t *) zlistx_first (batched);
    while (session) {
        async_msg_t msg;
        async_assign_batch_t batch = {
            .jobs = async_part_items (session->nassigns, &session->assigns),
            //  The ACKs held for it ride along (nodes_release_reply)
            .has_acks = session->ack_ride && session->nacks };
        if (batch.has_acks)
            batch.acks = async_part_items (session->nacks, &session->acks);
        async_assign_batch_encode (&msg, ASYNC_S_ASSIGN, 0, &batch);
        if (batch.has_acks) {
            session->acks.size = 0;
            session->nacks = 0;
        }
        broker_send (self, session->routing, &msg);
        msgpack_sbuffer_clear (&session->assigns);
        session->nassigns = 0;
        session = (session_t *) zlistx_next (batched);
    }
    zlistx_destroy (&batched);
}

//  Pending jobs stay cached after a write (dispatch reads them soon) while
//  the cache holds at most this many jobs
#define S_JOBS_CACHED 32768

void
queueing_evict (broker_t *self, zlistx_t *jobs)
{
    async_job_t *job;
    while ((job = (async_job_t *) zlistx_detach (jobs, NULL))) {
        if (job->dirty)
            continue;           //  changed again: decided after that write
        bool keep = broker_job_is_live (job)
                 || (job->kind != ASYNC_KIND_TASK && job->status == ASYNC_ACTIVE)
                 || broker_job_is_waiting (job)
                 || (job->status == ASYNC_PENDING && job->kind == ASYNC_KIND_TASK
                     && jobcache_size (self->jobs) <= S_JOBS_CACHED
                     && dispatch_contains (self->dispatch, job->id));
        if (!keep && jobcache_lookup (self->jobs, job->id) == job)
            jobcache_delete (self->jobs, job->id);
    }
}

//  Read pending jobs back from the store into the queues' windows: right
//  after a commit, when the store holds everything the memory does
void
queueing_refill (broker_t *self)
{
    dispatch_refill_t refill;
    char queue [ASYNC_MAX_NAME + 1] = "";
    while (dispatch_refill_next (self->dispatch, *queue ? queue : NULL, &refill)) {
        snprintf (queue, sizeof queue, "%s", refill.queue);
        char prefix [300];
        size_t prefix_size;
        store_iter_t *iter = keys_place_iter (self->store, queue, refill.after_priority,
                                              refill.after_seq, prefix, &prefix_size);
        size_t seen = 0, loaded = 0;
        keys_place_t place;
        while (store_iter_valid (iter) && seen < refill.want) {
            //  A job handed out or completed since has its p key deleted in a
            //  batch not written yet: the cache knows it is not pending
            place.id [0] = 0;
            async_job_t *cached = keys_place_at (iter, &place)
                                ? jobcache_lookup (self->jobs, place.id) : NULL;
            if (*place.id && (!cached || cached->status == ASYNC_PENDING)
            &&  dispatch_load (self->dispatch, place.id, place.task, queue, place.priority,
                               place.seq, place.quotas, refill.probe))
                loaded++;
            seen++;
            store_iter_next (iter);
        }
        if (!store_iter_valid (iter))
            dispatch_refill_end (self->dispatch, queue, refill.probe);
        store_iter_destroy (&iter);
        async_log_debug ("broker", "queue.refill", "queue=%s probe=%d seen=%zu loaded=%zu",
                         queue, refill.probe, seen, loaded);
    }
}
