/*  =========================================================================
    lifecycle - the job state machine (lifecycle.h)
    =========================================================================
*/
#include "lifecycle.h"
#include "broker_impl.h"
#include "queueing.h"
#include "waiters.h"
#include "async_alloc.h"
#include "async_codec.h"
#include "async_msgs.h"
#include "keys.h"
#include "nodes.h"
#include "timers.h"
#include "spec.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <assert.h>
#include <inttypes.h>

#define S_STATUSES (ASYNC_COMPLETED + 1)

//  S_ALLOWED [from][to]
static const bool S_ALLOWED [S_STATUSES][S_STATUSES] = {
    [ASYNC_PENDING] = {
        [ASYNC_PENDING]   = true,   //  queued again: held, recovered, due
        [ASYNC_ASSIGNED]  = true,   //  handed to a node's slot
        [ASYNC_ACTIVE]    = true,   //  a parent starts its children
        [ASYNC_CALLBACKS] = true,   //  failed or cancelled before it ran
    },
    [ASYNC_ASSIGNED] = {
        [ASYNC_PENDING]   = true,   //  released by its node, or retried
        [ASYNC_ACTIVE]    = true,   //  the node started it
        [ASYNC_CALLBACKS] = true,   //  its outcome came before STARTED did
    },
    [ASYNC_ACTIVE] = {
        [ASYNC_PENDING]   = true,   //  retried
        [ASYNC_CALLBACKS] = true,   //  it has its outcome
    },
    [ASYNC_CALLBACKS] = {
        [ASYNC_COMPLETED] = true,   //  its callbacks are done
    },
    [ASYNC_COMPLETED] = { false }   //  final
};

bool
lifecycle_allows (async_status_t from, async_status_t to)
{
    if ((unsigned) from >= S_STATUSES || (unsigned) to >= S_STATUSES)
        return false;
    return S_ALLOWED [from][to];
}

bool
lifecycle_set (async_job_t *job, async_status_t to)
{
    if (!lifecycle_allows (job->status, to)) {
        async_log_error ("broker", "job.transition", "job=%s from=%s to=%s reason=\"the job "
                         "state machine has no such step: a bug; the job is left as it was\"",
                         job->id, async_status_name (job->status), async_status_name (to));
        assert (!"lifecycle_set: a job status change the machine does not have");
        return false;
    }
    job->status = to;
    return true;
}

//  ---------------------------------------------------------------------
//  The broker's part: jobs completing, their callbacks, hand-offs and
//  children, and the nodes' messages about the jobs they run

static void s_metrics_started (broker_t *self, async_job_t *job);
static void s_job_finish (broker_t *self, async_job_t *job);
static void s_handoffs_done (broker_t *self, async_job_t *done);

//  Pack the child summary {"id", "status", "result"|"failure"}
static void
s_pack_summary (msgpack_packer *pk, async_job_t *child)
{
    msgpack_pack_map (pk, 3);
    async_codec_pack_str (pk, "id");
    async_codec_pack_str (pk, child->id);
    async_codec_pack_str (pk, "status");
    async_codec_pack_str (pk, async_status_name (child->status));
    if (child->failure.size) {
        async_codec_pack_str (pk, "failure");
        async_codec_pack_raw (pk, child->failure.data, child->failure.size);
    }
    else {
        async_codec_pack_str (pk, "result");
        if (child->result.size)
            async_codec_pack_raw (pk, child->result.data, child->result.size);
        else
            msgpack_pack_nil (pk);
    }
}

//  The same, for gathers_add
static void
s_pack_child (msgpack_packer *pk, void *child)
{
    s_pack_summary (pk, (async_job_t *) child);
}

//  Keep the summary of a completed child for its parent's postprocess
//  (gathers.h)
static void
s_gather_add (broker_t *self, async_job_t *parent, async_job_t *child)
{
    if (parent->postprocess.size && child->child_index >= 0)
        gathers_add (self->gathers, parent->id, parent->nchildren,
                     (size_t) child->child_index, s_pack_child, child);
}

//  Build the postprocess job of a parent whose children are all done
static async_job_t *
s_make_postprocess (broker_t *self, async_job_t *parent)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    async_job_t *post = NULL;
    if (msgpack_unpack_next (&unpacked, (const char *) parent->postprocess.data,
                             parent->postprocess.size, &offset) == MSGPACK_UNPACK_SUCCESS) {
        zlistx_t *jobs = zlistx_new ();
        zlistx_set_destructor (jobs, (zlistx_destructor_fn *) async_job_destroy);
        char err [256];
        if (spec_parse (&unpacked.data, async_now_us (), jobs, err, sizeof err) == 0
        &&  zlistx_size (jobs) == 1) {
            post = (async_job_t *) zlistx_first (jobs);
            zlistx_detach_cur (jobs);
        }
        zlistx_destroy (&jobs);
    }
    msgpack_unpacked_destroy (&unpacked);
    if (!post)
        return NULL;
    //  Arguments: its own, then one summary per child in order
    msgpack_unpacked own;
    msgpack_unpacked_init (&own);
    uint32_t own_count = 0;
    offset = 0;
    if (post->args.size
    &&  msgpack_unpack_next (&own, (const char *) post->args.data, post->args.size, &offset)
        == MSGPACK_UNPACK_SUCCESS && own.data.type == MSGPACK_OBJECT_ARRAY)
        own_count = own.data.via.array.size;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_array (&pk, own_count + parent->nchildren);
    for (uint32_t i = 0; i < own_count; i++)
        msgpack_pack_object (&pk, own.data.via.array.ptr [i]);
    msgpack_unpacked_destroy (&own);
    const async_blob_t *gathered = gathers_summaries (self->gathers, parent->id,
                                                      parent->nchildren);
    for (size_t i = 0; i < parent->nchildren; i++) {
        //  Gathered as it completed; else a cached child is read in place
        //  (broker_job_read copies)
        async_job_t *child;
        if (gathered && gathered [i].size)
            async_sbuffer_write (&buffer, (const char *) gathered [i].data, gathered [i].size);
        else
        if ((child = jobcache_lookup (self->jobs, parent->children [i])))
            s_pack_summary (&pk, child);
        else
        if ((child = broker_job_read (self, parent->children [i]))) {
            s_pack_summary (&pk, child);
            async_job_destroy (&child);
        }
        else
            msgpack_pack_nil (&pk);
    }
    gathers_drop (self->gathers, parent->id);
    async_blob_take (&post->args, (uint8_t *) buffer.data, buffer.size);
    post->role = ASYNC_ROLE_POSTPROCESS;
    memcpy (post->parent, parent->id, ASYNC_ID_LEN);
    free (post->queue);
    post->queue = async_xstrdup (parent->queue);
    return post;
}

//  Without a postprocess, the parent's result is the array of child results
static void
s_collect_results (broker_t *self, async_job_t *parent)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_array (&pk, parent->nchildren);
    for (size_t i = 0; i < parent->nchildren; i++) {
        async_job_t *child = broker_job_read (self, parent->children [i]);
        if (child && child->failure.size)
            async_codec_pack_raw (&pk, child->failure.data, child->failure.size);
        else
        if (child && child->result.size)
            async_codec_pack_raw (&pk, child->result.data, child->result.size);
        else
            msgpack_pack_nil (&pk);
        async_job_destroy (&child);
    }
    async_blob_take (&parent->result, (uint8_t *) buffer.data, buffer.size);
}

static void
s_child_done (broker_t *self, async_job_t *child)
{
    async_job_t *parent = broker_job_load (self, child->parent);
    if (!parent || parent->status == ASYNC_COMPLETED || parent->status == ASYNC_CALLBACKS)
        return;
    parent->children_done++;
    s_gather_add (self, parent, child);
    //  The parent stays cached while it runs (queueing_evict); its record is
    //  written when it changes otherwise, its progress goes to its x key
    char key [40];
    uint8_t done [8];
    store_put_be64 (done, parent->children_done);
    store_put (self->store, key, keys_id (key, KEYS_DONE, parent->id), done, 8);
    broker_notify_progress (self, parent->id, (int64_t) parent->children_done,
                            (int64_t) parent->nchildren);
    if (parent->children_done < parent->nchildren) {
        if (parent->kind == ASYNC_KIND_SERIAL) {
            async_job_t *next = broker_job_load (self, parent->children [parent->children_done]);
            if (next)
                queueing_start (self, next);
        }
        return;
    }
    if (parent->postprocess.size) {
        async_job_t *post = s_make_postprocess (self, parent);
        if (post) {
            memcpy (parent->postprocess_id, post->id, ASYNC_ID_LEN);
            broker_job_save (self, parent);
            queueing_start (self, post);
            return;
        }
        async_failure_make (&parent->failure, "BadArgumentsError",
                            "the postprocess spec could not be built", "", false, NULL, 0);
    }
    else
        s_collect_results (self, parent);
    lifecycle_job_complete (self, parent);
}

//  Start a callback of `job`: its arguments get the job's result, or its
//  failure object, appended; one whose "on" does not match is not run
void
lifecycle_start_callback (broker_t *self, async_job_t *job, async_job_t *callback)
{
    bool failed = job->failure.size > 0;
    if ((callback->on == 1 && failed) || (callback->on == 2 && !failed)) {
        async_failure_make (&callback->failure, "CancelledError",
                            failed ? "not run: the job failed and this callback runs "
                                     "on success"
                                   : "not run: the job succeeded and this callback runs "
                                     "on failure", "", false, NULL, 0);
        lifecycle_job_complete (self, callback);
        return;
    }
    //  args + [outcome]
    msgpack_unpacked own;
    msgpack_unpacked_init (&own);
    size_t offset = 0;
    uint32_t count = 0;
    if (callback->args.size
    &&  msgpack_unpack_next (&own, (const char *) callback->args.data, callback->args.size,
                             &offset) == MSGPACK_UNPACK_SUCCESS
    &&  own.data.type == MSGPACK_OBJECT_ARRAY)
        count = own.data.via.array.size;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_array (&pk, count + 1);
    for (uint32_t i = 0; i < count; i++)
        msgpack_pack_object (&pk, own.data.via.array.ptr [i]);
    msgpack_unpacked_destroy (&own);
    const async_blob_t *outcome = failed ? &job->failure : &job->result;
    if (outcome->size)
        async_codec_pack_raw (&pk, outcome->data, outcome->size);
    else
        msgpack_pack_nil (&pk);
    async_blob_take (&callback->args, (uint8_t *) buffer.data, buffer.size);
    queueing_start (self, callback);
}

//  Start the job's next callback in order; false when none is left
static bool
s_next_callback (broker_t *self, async_job_t *job)
{
    while (job->callbacks_next < (int) job->ncallbacks) {
        async_job_t *callback = broker_job_load (self, job->callbacks [job->callbacks_next++]);
        broker_job_save (self, job);
        if (callback && callback->status == ASYNC_PENDING && !queueing_is_queued (self, callback)) {
            lifecycle_start_callback (self, job, callback);
            return true;
        }
    }
    return false;
}

//  The job is completed: record, notify, go up the tree
static void
s_job_finish (broker_t *self, async_job_t *job)
{
    char key [64];
    if (!lifecycle_set (job, ASYNC_COMPLETED))
        return;
    job->completed_at = async_now_us ();
    store_put (self->store, key, keys_time (key, KEYS_COMPLETED, job->completed_at, job->id), "", 0);
    if (job->failure.size)
        store_put (self->store, key, keys_time (key, KEYS_FAILED, job->completed_at, job->id),
                   "", 0);
    broker_live_delete (self, job->id);
    if (job->kind != ASYNC_KIND_TASK)
        store_delete (self->store, key, keys_id (key, KEYS_DONE, job->id));
    broker_job_save (self, job);
    broker_outcome_staged (self);
    self->stat_completed++;
    if (job->failure.size)
        self->stat_failed++;
    if (job->kind != ASYNC_KIND_TASK)
        gathers_drop (self->gathers, job->id);     //  ended without its postprocess
    waiters_notify (self->waiters, job);
    s_handoffs_done (self, job);
    if (!job->parent [0])
        return;
    async_job_t *parent = broker_job_load (self, job->parent);
    if (!parent)
        return;
    if (job->role == ASYNC_ROLE_POSTPROCESS) {
        if (parent->status != ASYNC_COMPLETED && parent->status != ASYNC_CALLBACKS) {
            async_blob_set (&parent->result, job->result.data, job->result.size);
            async_blob_set (&parent->failure, job->failure.data, job->failure.size);
            lifecycle_job_complete (self, parent);
        }
    }
    else
    if (job->role == ASYNC_ROLE_CHILD)
        s_child_done (self, job);
    else
    if (job->role == ASYNC_ROLE_CALLBACK && parent->status == ASYNC_CALLBACKS) {
        if (!s_next_callback (self, parent))
            s_job_finish (self, parent);
    }
}

//  One line for a failed job, with its failure's message and detail: a
//  warning, an error when the job was aborted (interrupted too often) or
//  crashed its process
static void
s_log_failed (async_job_t *job)
{
    if (!async_log_enabled (ASYNC_LOG_WARNING))
        return;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    char type [ASYNC_MAX_NAME + 1] = "Error", message [512] = "", detail [1024] = "";
    if (msgpack_unpack_next (&unpacked, (const char *) job->failure.data, job->failure.size,
                             &offset) == MSGPACK_UNPACK_SUCCESS) {
        char *text = async_mp_strdup (&unpacked.data, "message");
        async_log_quote (text, message, sizeof message);
        free (text);
        text = async_mp_strdup (&unpacked.data, "detail");
        async_log_quote (text, detail, sizeof detail);
        free (text);
        async_mp_str (&unpacked.data, "type", type, sizeof type);
    }
    msgpack_unpacked_destroy (&unpacked);
    async_log_level_t level = streq (type, "AbortedError") || streq (type, "CrashedError")
                            ? ASYNC_LOG_ERROR : ASYNC_LOG_WARNING;
    async_log (level, "broker", "job.failed", "job=%s task=%s queue=%s node=%s attempt=%d "
               "type=%s message=\"%s\" detail=\"%s\"", job->id,
               job->task ? job->task : "-", job->queue, *job->node ? job->node : "-",
               job->attempts, type, message, detail);
}

//  The job has its result or failure: run its callbacks, in order, then
//  it is completed
void
lifecycle_job_complete (broker_t *self, async_job_t *job)
{
    if (!lifecycle_allows (job->status, ASYNC_CALLBACKS)) {
        lifecycle_set (job, ASYNC_CALLBACKS);   //  refused: logged
        return;
    }
    if (job->failure.size) {
        async_blob_clear (&job->result);
        s_log_failed (job);
    }
    else
        async_log_debug ("broker", "job.completed", "job=%s task=%s attempt=%d",
                         job->id, job->task ? job->task : "-", job->attempts);
    if (job->active_start && !job->active_end)
        job->active_end = async_now_us ();
    if (job->kind == ASYNC_KIND_TASK) {
        metrics_count (self->metrics, job->failure.size ? METRICS_FAILED : METRICS_SUCCEEDED,
                       job->queue, job->task);
        history_count (self->history, job->queue, job->failure.size > 0, async_now_us ());
    }
    lifecycle_set (job, ASYNC_CALLBACKS);
    broker_job_save (self, job);
    broker_outcome_staged (self);
    if (job->callbacks_next < (int) job->ncallbacks)
        broker_live_put (self, job->id, "", 0, false);
    if (!s_next_callback (self, job))
        s_job_finish (self, job);
}

//  Fail a job that has not run (or cannot run again) without touching slots
void
lifecycle_job_fail (broker_t *self, async_job_t *job, const char *type, const char *message)
{
    async_failure_make (&job->failure, type, message, "", false, job->node, job->attempts);
    lifecycle_job_complete (self, job);
}

//  ---------------------------------------------------------------------
//  Sessions and slots

session_t *
lifecycle_session_for_job (broker_t *self, async_job_t *job)
{
    session_t *session = job->node [0] ? nodes_node (self->nodes, job->node) : NULL;
    if (session && async_idmap_lookup (session->jobs, job->id))
        return session;
    return NULL;
}

//  The attempt on a node is over: free its slot
void
lifecycle_release (broker_t *self, async_job_t *job)
{
    broker_live_delete (self, job->id);
    //  Its next attempt waits for this end to be written (s_dispatch_veto in queueing.c)
    commit_hold (self->commit, job->id);
    if (broker_job_is_live (job))
        quota_count (self->quotas, &job->quotas, -1);
    session_t *session = lifecycle_session_for_job (self, job);
    if (session) {
        dispatch_agent_t *agent = (dispatch_agent_t *) async_idmap_lookup (session->jobs, job->id);
        if (agent)
            dispatch_agent_release (agent);
        async_idmap_delete (session->jobs, job->id);
    }
}

//  An attempt was interrupted (node died, superseded, stopped)
void
lifecycle_interrupt (broker_t *self, async_job_t *job, const char *why)
{
    lifecycle_release (self, job);
    bool started = job->status == ASYNC_ACTIVE;
    if (job->status == ASYNC_ASSIGNED) {
        //  Its node may have run it: a node says STARTED only for a job that
        //  runs over 2 ms, and a task that kills its node at once (a poison
        //  pill) must be counted, or it would be handed out without end
        job->attempts++;
        s_metrics_started (self, job);
    }
    job->interruptions++;
    job->active_end = async_now_us ();
    metrics_count (self->metrics, METRICS_INTERRUPTED, job->queue, job->task);
    policy_t policy;
    char err [200];
    if (policy_parse (job->retry, job->role == ASYNC_ROLE_CALLBACK, &policy, err, sizeof err))
        policy_parse (NULL, false, &policy, err, sizeof err);
    async_log_info ("broker", "job.interrupted", "job=%s node=%s attempt=%d reason=%s "
                    "interruptions=%d", job->id, job->node, job->attempts, why,
                    job->interruptions);
    if (job->cancelled_at) {
        //  A cancel is durable intent: the interrupted attempt was the
        //  last one, whatever the retry policy
        char message [200];
        snprintf (message, sizeof message, "cancelled; its attempt was interrupted "
                  "(%s) before the task stopped", why);
        lifecycle_job_fail (self, job, "CancelledError", message);
        return;
    }
    if (policy.interruptions >= 0 && job->interruptions >= policy.interruptions) {
        char message [200];
        snprintf (message, sizeof message, "interrupted %d times (last: %s)",
                  job->interruptions, why);
        lifecycle_job_fail (self, job, "AbortedError", message);
        return;
    }
    lifecycle_attempt_keep (job, started, why);
    queueing_enqueue (self, job, true);
}

//  Ask the node running the job to stop it (the task sees it through the
//  task API)
void
lifecycle_send_cancel (broker_t *self, session_t *session, async_job_t *job)
{
    async_job_token_t cancel = { .token = job->token };
    memcpy (cancel.id, job->id, ASYNC_ID_LEN);
    async_msg_t msg;
    async_job_token_encode (&msg, ASYNC_S_CANCEL, 0, &cancel);
    broker_send (self, session->routing, &msg);
}

//  The logs a job keeps in its annotations (LIFECYCLE_RETRIES_NAME,
//  LIFECYCLE_ATTEMPTS_NAME): arrays of at most S_LOG_KEPT entries (the
//  last ones), each message cut at S_LOG_MESSAGE bytes. At most 10 x ~800
//  bytes a log, within the job's annotations budget (SPEC_ANNOTATIONS_MAX)
#define S_LOG_KEPT      10
#define S_LOG_MESSAGE   500

//  Append `entry` (one packed msgpack value) to the array annotation `name`
//  of the job, dropping its oldest entries past S_LOG_KEPT. false if it
//  would not fit (the annotations stay as they were; the reason in err)
static bool
s_log_append (async_job_t *job, const char *name, const msgpack_sbuffer *entry, char *err,
              size_t err_size)
{
    msgpack_unpacked annotations;
    msgpack_unpacked_init (&annotations);
    size_t offset = 0;
    const msgpack_object *earlier = NULL;
    if (job->annotations.size
    &&  msgpack_unpack_next (&annotations, (const char *) job->annotations.data,
                             job->annotations.size, &offset) == MSGPACK_UNPACK_SUCCESS)
        earlier = async_mp_get (&annotations.data, name);
    uint32_t nearlier = earlier && earlier->type == MSGPACK_OBJECT_ARRAY
                      ? earlier->via.array.size : 0;
    uint32_t skip = nearlier >= S_LOG_KEPT ? nearlier - (S_LOG_KEPT - 1) : 0;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_array (&pk, nearlier - skip + 1);
    for (uint32_t i = skip; i < nearlier; i++)
        msgpack_pack_object (&pk, earlier->via.array.ptr [i]);
    async_codec_pack_raw (&pk, entry->data, entry->size);
    msgpack_unpacked value;
    msgpack_unpacked_init (&value);
    offset = 0;
    bool kept = msgpack_unpack_next (&value, buffer.data, buffer.size, &offset)
                == MSGPACK_UNPACK_SUCCESS;
    msgpack_unpacked_destroy (&annotations);    //  (earlier is in it: packed above)
    if (kept)
        kept = spec_annotations_set (&job->annotations, name, &value.data, err, err_size) == 0;
    else
        snprintf (err, err_size, "the %s could not be packed", name);
    msgpack_unpacked_destroy (&value);
    msgpack_sbuffer_destroy (&buffer);
    return kept;
}

//  Pack "type" and "message" of the job's failure (nil and `reason` when
//  it has none) as two entries of a map
static void
s_log_failure (msgpack_packer *pk, async_job_t *job, const char *reason)
{
    msgpack_unpacked failure;
    msgpack_unpacked_init (&failure);
    size_t offset = 0;
    const msgpack_object *fmap = job->failure.size
                              && msgpack_unpack_next (&failure, (const char *) job->failure.data,
                                                      job->failure.size, &offset)
                                 == MSGPACK_UNPACK_SUCCESS ? &failure.data : NULL;
    char type [ASYNC_MAX_NAME + 1] = "Error";
    char *message = fmap ? async_mp_strdup (fmap, "message") : NULL;
    if (fmap)
        async_mp_str (fmap, "type", type, sizeof type);
    if (message && strlen (message) > S_LOG_MESSAGE)
        message [S_LOG_MESSAGE] = 0;            //  (may cut a UTF-8 sequence: bytes)
    async_codec_pack_str (pk, "type");
    async_codec_pack_str (pk, fmap ? type : NULL);
    async_codec_pack_str (pk, "message");
    async_codec_pack_str (pk, message ? message : fmap ? "" : reason);
    free (message);
    msgpack_unpacked_destroy (&failure);
}

//  Pack a time field: its ISO text, nil for 0
static void
s_log_time (msgpack_packer *pk, const char *name, int64_t when)
{
    char text [40];
    async_codec_pack_str (pk, name);
    async_codec_pack_str (pk, when ? async_format_time (when, text, sizeof text) : NULL);
}

//  Keep the job's failure in its retries annotation, as retried `by` whom
//  at `now`; false if it would not fit
static bool
s_retries_keep (async_job_t *job, const char *by, int64_t now, char *err, size_t err_size)
{
    msgpack_sbuffer entry;
    msgpack_packer pk;
    msgpack_sbuffer_init (&entry);
    msgpack_packer_init (&pk, &entry, async_sbuffer_write);
    msgpack_pack_map (&pk, 6);
    s_log_failure (&pk, job, "");
    async_codec_pack_str (&pk, "attempts");
    msgpack_pack_int (&pk, job->attempts);
    s_log_time (&pk, "completed_at", job->completed_at);
    s_log_time (&pk, "retried_at", now);
    async_codec_pack_str (&pk, "by");
    async_codec_pack_str (&pk, by);
    bool kept = s_log_append (job, LIFECYCLE_RETRIES_NAME, &entry, err, err_size);
    msgpack_sbuffer_destroy (&entry);
    return kept;
}

void
lifecycle_attempt_keep (async_job_t *job, bool started, const char *reason)
{
    msgpack_sbuffer entry;
    msgpack_packer pk;
    msgpack_sbuffer_init (&entry);
    msgpack_packer_init (&pk, &entry, async_sbuffer_write);
    msgpack_pack_map (&pk, 7);
    async_codec_pack_str (&pk, "attempt");
    msgpack_pack_int (&pk, job->attempts);
    async_codec_pack_str (&pk, "node");
    async_codec_pack_str (&pk, job->node [0] ? job->node : NULL);
    s_log_time (&pk, "started", started ? job->active_start : 0);
    s_log_time (&pk, "ended", job->active_end);
    async_codec_pack_str (&pk, "outcome");
    async_codec_pack_str (&pk, reason ? "interrupted" : "failed");
    s_log_failure (&pk, job, reason);
    char err [200];
    if (!s_log_append (job, LIFECYCLE_ATTEMPTS_NAME, &entry, err, sizeof err))
        async_log_warning ("broker", "job.attempt_history", "job=%s attempt=%d reason=\"%s; "
                           "the attempt is not kept\"", job->id, job->attempts, err);
    msgpack_sbuffer_destroy (&entry);
}

//  The number of the last attempt kept in the job's annotation
//  LIFECYCLE_ATTEMPTS_NAME; 0 for none
static int64_t
s_attempt_last_kept (async_job_t *job)
{
    msgpack_unpacked annotations;
    msgpack_unpacked_init (&annotations);
    size_t offset = 0;
    int64_t last = 0;
    if (job->annotations.size
    &&  msgpack_unpack_next (&annotations, (const char *) job->annotations.data,
                             job->annotations.size, &offset) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *kept = async_mp_get (&annotations.data, LIFECYCLE_ATTEMPTS_NAME);
        if (kept && kept->type == MSGPACK_OBJECT_ARRAY && kept->via.array.size
        &&  async_mp_int (&kept->via.array.ptr [kept->via.array.size - 1], "attempt", &last))
            last = 0;
    }
    msgpack_unpacked_destroy (&annotations);
    return last;
}

int
lifecycle_retry (broker_t *self, async_job_t *job, const char *by, char *err,
                 size_t err_size)
{
    if (job->status != ASYNC_COMPLETED) {
        snprintf (err, err_size, "job %s is %s: only a job that completed with a failure is "
                  "retried", job->id, async_status_name (job->status));
        return -1;
    }
    if (job->kind != ASYNC_KIND_TASK) {
        snprintf (err, err_size, "job %s is a parallel or serial job: it is not retried "
                  "(its children and postprocess completed); submit it again", job->id);
        return -1;
    }
    if (job->role != ASYNC_ROLE_JOB) {
        snprintf (err, err_size, "job %s is a %s of job %s, whose outcome took this one's: "
                  "it is not retried alone; retry or submit job %s again", job->id,
                  job->role == ASYNC_ROLE_CHILD ? "child"
                  : job->role == ASYNC_ROLE_CALLBACK ? "callback" : "postprocess",
                  job->parent, job->parent);
        return -1;
    }
    if (job->handoff [0]) {
        snprintf (err, err_size, "job %s handed its outcome off to job %s: it is not "
                  "retried; submit it again", job->id, job->handoff);
        return -1;
    }
    if (!job->failure.size) {
        snprintf (err, err_size, "job %s succeeded: only a job that completed with a failure "
                  "is retried; submit it again to run it again", job->id);
        return -1;
    }
    int64_t now = async_now_us ();
    char why [200];
    if (!s_retries_keep (job, by, now, why, sizeof why))
        async_log_warning ("broker", "job.retry_history", "job=%s reason=\"%s; the earlier "
                           "failure is not kept\"", job->id, why);
    //  Its last attempt, unless none ran since the last one kept (a job
    //  cancelled or timed out before it ran, again after a retry)
    if (job->attempts > s_attempt_last_kept (job))
        lifecycle_attempt_keep (job, job->active_start != 0, NULL);
    char key [KEYS_TIME_SIZE];
    store_delete (self->store, key, keys_time (key, KEYS_COMPLETED, job->completed_at, job->id));
    store_delete (self->store, key, keys_time (key, KEYS_FAILED, job->completed_at, job->id));
    async_log_info ("broker", "job.retried", "job=%s task=%s queue=%s attempts=%d by=%s",
                    job->id, job->task, job->queue, job->attempts, by);
    //  The one step out of completed, which S_ALLOWED does not have: no
    //  other path may take it. One more attempt, numbered on from the
    //  last: an attempt's number makes its fencing token (token_make), so
    //  a number used again would let a late RESULT of the old attempt
    //  (re-sent until ACKed, or held by its node over a restart) count
    //  for the new one. Its interruptions start again; a begin_by counts
    //  from now; its callbacks ran for the outcome it had and do not run
    //  again
    job->status = ASYNC_PENDING;
    job->interruptions = 0;
    job->not_before = 0;
    job->begin_after = now;
    job->completed_at = 0;
    job->active_start = 0;
    job->active_end = 0;
    job->active_mono = 0;
    job->cancelled_at = 0;
    job->cancel_mono = 0;
    job->token = 0;
    async_blob_clear (&job->failure);
    async_blob_clear (&job->result);
    async_blob_set (&job->progress, NULL, 0);
    //  Not handed out before this is written: after a crash the store
    //  would say failed, and the attempt would run for nothing
    commit_hold (self->commit, job->id);
    queueing_enqueue (self, job, false);
    commit_durable (self->commit);
    return 0;
}

//  Cancel a job: a pending one completes with CancelledError now; a
//  running one is asked to stop and, after the grace period, interrupted;
//  a parent completes now and its unfinished children are cancelled
void
lifecycle_cancel (broker_t *self, async_job_t *job)
{
    if (job->status == ASYNC_COMPLETED || job->status == ASYNC_CALLBACKS)
        return;
    if (job->kind != ASYNC_KIND_TASK) {
        lifecycle_job_fail (self, job, "CancelledError", "cancelled");
        for (size_t i = 0; i < job->nchildren; i++) {
            async_job_t *child = broker_job_load (self, job->children [i]);
            if (child)
                lifecycle_cancel (self, child);
        }
        async_job_t *post = job->postprocess_id [0]
                          ? broker_job_load (self, job->postprocess_id) : NULL;
        if (post)
            lifecycle_cancel (self, post);
        return;
    }
    if (job->status == ASYNC_PENDING || job->handoff [0]) {
        if (job->status == ASYNC_PENDING) {
            queueing_unqueue (self, job);
            char key [64];
            store_delete (self->store, key,
                          keys_time (key, KEYS_SCHEDULED, job->not_before > job->begin_after
                                      ? job->not_before : job->begin_after, job->id));
            timers_forget (self->timers, job->id);
        }
        lifecycle_job_fail (self, job, "CancelledError", "cancelled before it ran");
        return;
    }
    //  Assigned or active: the task sees the request through the task API
    job->cancelled_at = async_now_us ();
    job->cancel_mono = async_mono_us ();
    broker_job_save (self, job);
    commit_durable (self->commit);
    session_t *session = lifecycle_session_for_job (self, job);
    if (session)
        lifecycle_send_cancel (self, session, job);
    async_log_info ("broker", "job.cancelling", "job=%s node=%s", job->id, job->node);
}

//  A node message about job `id` with `token`: the live job, or NULL if
//  the attempt is no longer current (the node was declared dead, the job
//  reassigned)
static async_job_t *
s_attempt (broker_t *self, session_t *session, const char *id, uint64_t token)
{
    async_job_t *job = jobcache_lookup (self->jobs, id);
    if (!job || !broker_job_is_live (job) || job->token != token
    ||  strcmp (job->node, session->uuid) != 0)
        return NULL;
    return job;
}

//  Whether a RESULT that is not for a current attempt is for the attempt
//  whose result the broker took last (the job in memory, or its record in
//  the store): the same node and token, the job no longer waiting for that
//  attempt
static bool
s_result_taken (broker_t *self, session_t *session, const char *id, uint64_t token)
{
    //  Not in memory: completed and written before a broker restart, whose
    //  ACK was lost with the broker (one point read, for a RESULT of at
    //  most ASYNC_MAX_RESULTS entries)
    async_job_t *job = jobcache_lookup (self->jobs, id);
    async_job_t *stored = NULL;
    if (!job && async_id_valid (id))
        job = stored = broker_job_read (self, id);
    bool taken = job && job->token == token && streq (job->node, session->uuid)
              && !broker_job_is_live (job);
    async_job_destroy (&stored);
    return taken;
}

//  An attempt started: count it, and the job's wait when it is its first
static void
s_metrics_started (broker_t *self, async_job_t *job)
{
    metrics_count (self->metrics, METRICS_STARTED, job->queue, job->task);
    if (job->attempts == 1) {
        int64_t ready = job->begin_after > job->submitted ? job->begin_after : job->submitted;
        metrics_wait (self->metrics, job->queue, (job->active_start - ready) / 1e6);
    }
}

void
lifecycle_on_started (broker_t *self, broker_request_t *req)
{
    session_t *session = req->session;
    async_inmsg_t *in = req->in;
    async_job_token_t started;
    async_job_t *job = async_job_token_decode (&started, in)
                     ? NULL : s_attempt (self, session, started.id, started.token);
    if (!job || job->status != ASYNC_ASSIGNED)
        return;
    //  Kept in memory (a live job stays cached) and written with the
    //  job's next change: a broker killed meanwhile finds it 'assigned',
    //  which recovers the same way (its node re-attaches it)
    if (!lifecycle_set (job, ASYNC_ACTIVE))
        return;
    job->attempts++;
    job->active_start = async_now_us ();
    job->active_mono = async_mono_us ();
    job->active_end = 0;
    s_metrics_started (self, job);
    async_log_debug ("broker", "job.started", "job=%s node=%s attempt=%d",
                     job->id, session->uuid, job->attempts);
}

//  The attempt ended with job->failure: retry as the policy says (not a
//  cancelled job), or complete with the failure
static void
s_attempt_failed (broker_t *self, async_job_t *job, bool transient)
{
    policy_t policy;
    char err [200], type [ASYNC_MAX_NAME + 1] = "";
    if (policy_parse (job->retry, job->role == ASYNC_ROLE_CALLBACK, &policy, err, sizeof err))
        policy_parse (NULL, false, &policy, err, sizeof err);
    async_failure_type (&job->failure, type, sizeof type);
    if (transient && job->attempts < policy.attempts && !job->cancelled_at) {
        int64_t backoff = policy_backoff (&policy, job->attempts);
        async_log_info ("broker", "job.retry", "job=%s node=%s attempt=%d type=%s "
                        "backoff_ms=%" PRId64, job->id, job->node, job->attempts, type,
                        backoff / 1000);
        lifecycle_attempt_keep (job, job->active_start != 0, NULL);
        async_blob_clear (&job->failure);
        job->not_before = async_now_us () + backoff;
        metrics_count (self->metrics, METRICS_RETRIED, job->queue, job->task);
        queueing_enqueue (self, job, false);
        broker_outcome_staged (self);
    }
    else
        lifecycle_job_complete (self, job);
}

//  How far a chain of hand-offs is followed to find a cycle
#define S_HANDOFF_HOPS 1000

//  The task completed with "the result of job `target`": the job stays
//  active, holding no slot, with `handoff` naming the target, until the
//  target completes
static void
s_handoff (broker_t *self, async_job_t *job, const char *target_id)
{
    async_job_t *target = async_id_valid (target_id) && strcmp (target_id, job->id)
                        ? broker_job_load (self, target_id) : NULL;
    if (!target) {
        async_failure_make (&job->failure, "BadArgumentsError",
                            "the task handed off to a job that does not exist", "",
                            false, job->node, job->attempts);
        lifecycle_job_complete (self, job);
        return;
    }
    if (target->status == ASYNC_COMPLETED) {
        async_blob_set (&job->result, target->result.data, target->result.size);
        async_blob_set (&job->failure, target->failure.data, target->failure.size);
        lifecycle_job_complete (self, job);
        return;
    }
    //  A cycle (the target waits, maybe through others, for this job)
    //  would never complete: this job fails, and so do those waiting for it
    async_job_t *hop = target;
    for (int hops = 0; hop && hop->handoff [0] && hops < S_HANDOFF_HOPS; hops++) {
        if (streq (hop->handoff, job->id)) {
            char message [200];
            snprintf (message, sizeof message, "the hand-off to %s closes a cycle of "
                      "hand-offs: no job in it could ever complete", target->id);
            async_failure_make (&job->failure, "BadArgumentsError", message, "", false,
                                job->node, job->attempts);
            lifecycle_job_complete (self, job);
            return;
        }
        hop = broker_job_load (self, hop->handoff);
    }
    memcpy (job->handoff, target->id, ASYNC_ID_LEN);
    //  It waits, and says so: `active` with its `handoff`, also when its
    //  task ended before the node said STARTED
    if (job->status == ASYNC_ASSIGNED)
        lifecycle_set (job, ASYNC_ACTIVE);
    char key [KEYS_HANDOFF_SIZE];
    broker_live_put (self, job->id, "", 0, false);
    store_put (self->store, key, keys_handoff (key, target->id, job->id), "", 0);
    handoffs_add (self->handoffs, target->id, job->id);
    broker_job_save (self, job);
    broker_outcome_staged (self);
    async_log_debug ("broker", "job.handoff", "job=%s target=%s", job->id, target->id);
}

//  Jobs that handed off to `done` complete with its outcome
static void
s_handoffs_done (broker_t *self, async_job_t *done)
{
    zlistx_t *waiting = handoffs_take (self->handoffs, done->id);
    if (!waiting)
        return;                 //  the usual case
    const char *id = (const char *) zlistx_first (waiting);
    while (id) {
        char key [KEYS_HANDOFF_SIZE];
        store_delete (self->store, key, keys_handoff (key, done->id, id));
        async_job_t *job = broker_job_load (self, id);
        if (job && job->status != ASYNC_COMPLETED && job->status != ASYNC_CALLBACKS
        &&  streq (job->handoff, done->id)) {
            async_blob_set (&job->result, done->result.data, done->result.size);
            async_blob_set (&job->failure, done->failure.data, done->failure.size);
            lifecycle_job_complete (self, job);
        }
        id = (const char *) zlistx_next (waiting);
    }
    zlistx_destroy (&waiting);
}

//  ACKs of one RESULT message: one ACK with `acks` when it carried `results`
typedef struct {
    msgpack_sbuffer bodies;     //  the ACK bodies, packed
    uint32_t count;
} s_acks_t;

//  Send an ACK (now, or after the commit when `later`) in reply to `rid`,
//  or keep its body for the ACK of a batch
static void
s_ack (broker_t *self, zframe_t *routing, uint64_t rid, const async_ack_t *body, bool later,
       s_acks_t *acks)
{
    if (acks) {
        async_ack_pack (&acks->bodies, body);
        acks->count++;
        return;
    }
    async_msg_t ack;
    async_ack_encode (&ack, ASYNC_S_ACK, rid, body);
    if (later)
        broker_ack_later (self, routing, &ack, ack.buffer.data + ack.body,
                     ack.buffer.size - ack.body, 1);
    else
        broker_send (self, routing, &ack);
}

static void
    s_on_result (broker_t *self, session_t *session, zframe_t *routing, async_inmsg_t *in,
                 s_acks_t *acks);

//  Rejected results are logged one by one up to S_REJECT_LINES a second;
//  past that they are counted, and the count is logged once a heartbeat
//  (a RESULT of 1,000 stale or made-up ids is one peer's doing, not 1,000
//  events worth a line each)
#define S_REJECT_LINES 10

static void
s_log_rejected (broker_t *self, const char *id, const char *node)
{
    if (!async_rate_allow (&self->rejects, S_REJECT_LINES))
        return;
    async_log_warning ("broker", "job.reassigned", "job=%s node=%s type=ReassignedError "
                       "message=\"a result from an attempt that is no longer current "
                       "was rejected\"", id, node);
}

//  The rejected results not logged one by one since the last call
void
lifecycle_log_rejected_count (broker_t *self)
{
    uint64_t quiet = async_rate_quiet (&self->rejects);
    if (quiet)
        async_log_warning ("broker", "results.rejected", "count=%" PRIu64 " message=\"results "
                           "from attempts that are no longer current were rejected; over %d "
                           "a second they are counted, not logged one by one\"",
                           quiet, S_REJECT_LINES);
}

//  RESULT: one result, or `results` (a batch) answered by one ACK
void
lifecycle_on_results (broker_t *self, broker_request_t *req)
{
    session_t *session = req->session;
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    //  At most ASYNC_MAX_RESULTS entries are read: a node sends what its
    //  workers finished in one turn, and a longer batch would hold the
    //  loop (and every PING behind it) for one peer. The rest is ignored,
    //  and counted in one line; the node sends those again, unacknowledged
    async_batch_t results;
    if (!async_batch_begin (&results, in->body, "results", ASYNC_MAX_RESULTS)) {
        s_on_result (self, session, routing, in, NULL);
        return;
    }
    if (results.ignored)
        async_log_warning ("broker", "results.capped", "node=%s count=%" PRIu32
                           " message=\"entries of one RESULT past the first %d "
                           "were ignored\"", session->uuid, results.ignored,
                           ASYNC_MAX_RESULTS);
    s_acks_t acks = { .count = 0 };
    msgpack_sbuffer_init (&acks.bodies);
    const msgpack_object *entry;
    while ((entry = async_batch_next (&results))) {
        async_inmsg_t one = *in;
        one.body = entry;
        s_on_result (self, session, routing, &one, &acks);
    }
    async_msg_t ack;
    async_ack_batch_t batch = { .acks = async_part_items (acks.count, &acks.bodies) };
    async_ack_batch_encode (&ack, ASYNC_S_ACK, in->rid, &batch);
    broker_ack_later (self, routing, &ack, acks.bodies.data, acks.bodies.size, acks.count);
    msgpack_sbuffer_destroy (&acks.bodies);
}

//  A RESULT's started_ago_us past this is absurd (a year): ignored
#define S_RESULT_AGO_MAX_US (366 * 86400 * 1000000LL)

//  The attempt's times from a RESULT's started_ago_us and ended_ago_us
//  (offsets back from when the node sent it): false when absent (an
//  older node) or out of range (a debug line: a node could send it with
//  every RESULT). Within range, a start before the job could be handed
//  out (the later of its `submitted` and its `begin_after`, which a retry
//  sets to when it was retried; never past now) is taken as that time: the
//  broker keeps no wall time of the attempt's assignment
static bool
s_result_times (async_job_t *job, const async_result_t *outcome, int64_t now,
                int64_t *started, int64_t *ended)
{
    if (!outcome->has_started_ago_us || !outcome->has_ended_ago_us)
        return false;
    int64_t started_ago = outcome->started_ago_us, ended_ago = outcome->ended_ago_us;
    if (started_ago < 0 || ended_ago < 0 || ended_ago > started_ago
    ||  started_ago > S_RESULT_AGO_MAX_US) {
        async_log_debug ("broker", "result.times_ignored", "job=%s node=%s "
                         "started_ago_us=%" PRId64 " ended_ago_us=%" PRId64
                         " message=\"out of range; the broker's clock is used\"",
                         job->id, job->node, started_ago, ended_ago);
        return false;
    }
    *started = now - started_ago;
    *ended = now - ended_ago;
    int64_t due = job->begin_after > job->submitted ? job->begin_after : job->submitted;
    if (due > now)
        due = now;
    if (due && *started < due)
        *started = due;
    if (*ended < *started)
        *ended = *started;
    return true;
}

static void
s_on_result (broker_t *self, session_t *session, zframe_t *routing, async_inmsg_t *in,
             s_acks_t *acks)
{
    //  Without a job id or a token, as a stale attempt's: its ACK has the
    //  `id` as it came (a str that fits), or none
    async_result_t outcome;
    char id [ASYNC_ID_LEN] = "";
    bool whole = async_result_decode_map (&outcome, in->body) == 0;
    if (whole)
        memcpy (id, outcome.id, ASYNC_ID_LEN);
    else
        async_mp_str (in->body, "id", id, sizeof id);
    async_job_t *job = whole ? s_attempt (self, session, id, outcome.token) : NULL;
    async_ack_t ack = { .id = async_str (id), .rejected = 0 };
    if (!job && whole && s_result_taken (self, session, id, outcome.token)) {
        //  This attempt's result again (re-sent on a WELCOME, or after
        //  500 ms): it was taken already, maybe not yet written. Its ACK
        //  goes after the commit like the first one's; a rejecting ACK now
        //  would make the node forget a result the store may not hold yet
        s_ack (self, routing, in->rid, &ack, true, acks);
        return;
    }
    if (!job) {
        s_log_rejected (self, id, session->uuid);
        ack.rejected = 1;
        s_ack (self, routing, in->rid, &ack, false, acks);
        return;
    }
    int64_t now = async_now_us ();
    int64_t started = 0, ended = 0;
    bool times = s_result_times (job, &outcome, now, &started, &ended);
    if (job->status == ASYNC_ASSIGNED) {
        //  No STARTED (a short job, or one lost with a broker restart): it
        //  ran for ran_us, by the node's clock
        int64_t ran_us = outcome.ran_us;     //  0 when absent
        if (ran_us < 0 || ran_us > 3600 * 1000000LL)
            ran_us = 0;
        job->attempts++;
        job->active_start = times ? started : now - ran_us;
        s_metrics_started (self, job);
    }
    else
    if (times)
        job->active_start = started;    //  STARTED may have come late too
    lifecycle_release (self, job);
    job->active_end = times ? ended : now;
    metrics_run (self->metrics, job->queue, (job->active_end - job->active_start) / 1e6);
    const msgpack_object *failure = outcome.failure.object;
    const msgpack_object *result = outcome.result.object;
    char target [ASYNC_ID_LEN];
    if (outcome.has_handoff && async_str_copy (outcome.handoff, target, sizeof target) == 0) {
        s_handoff (self, job, target);
        s_ack (self, routing, in->rid, &ack, true, acks);
        return;
    }
    if (failure && failure->type == MSGPACK_OBJECT_MAP) {
        //  Rebuild the failure object with node and attempt, validated
        char type [ASYNC_MAX_NAME + 1] = "Error";
        async_mp_str (failure, "type", type, sizeof type);
        char *message = async_mp_strdup (failure, "message");
        char *detail = async_mp_strdup (failure, "detail");
        bool transient = false;
        async_mp_bool (failure, "transient", &transient);
        async_blob_clear (&job->result);
        async_failure_make (&job->failure, type, message, detail, transient,
                            session->uuid, job->attempts);
        free (message);
        free (detail);
        s_attempt_failed (self, job, transient);
    }
    else {
        uint8_t *data = NULL;
        size_t size = 0;
        if (result)
            async_codec_copy_object (result, &data, &size);
        async_blob_take (&job->result, data, size);
        async_blob_clear (&job->failure);
        lifecycle_job_complete (self, job);
    }
    s_ack (self, routing, in->rid, &ack, true, acks);
}

void
lifecycle_on_progress (broker_t *self, broker_request_t *req)
{
    session_t *session = req->session;
    async_inmsg_t *in = req->in;
    async_task_progress_t report;
    if (async_task_progress_decode (&report, in))
        return;
    async_job_t *job = s_attempt (self, session, report.id, report.token);
    const msgpack_object *progress = report.progress.object;
    if (!job || !progress)
        return;
    uint8_t *data;
    size_t size;
    if (async_codec_copy_object (progress, &data, &size) == 0) {
        async_blob_take (&job->progress, data, size);
        broker_job_save (self, job);
        int64_t done = 0, total = 0;
        async_mp_int (progress, "done", &done);
        async_mp_int (progress, "total", &total);
        broker_notify_progress (self, job->id, done, total);
    }
}
