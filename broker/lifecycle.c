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

//  The summaries of a parent's children, packed as each completes, for its
//  postprocess: without them each child would be read back from the store
//  (evicted since it completed). Memory only: after a restart, or past
//  S_GATHER_BYTES in all, the postprocess reads the children it lacks.
typedef struct {
    size_t count;
    async_blob_t *summaries;    //  by child_index; size 0: not gathered
    size_t bytes;
} s_gather_t;

#define S_GATHER_BYTES (32 * 1024 * 1024)

static void
s_gather_destroy (s_gather_t **self_p);

zhashx_t *
lifecycle_gathers_new (void)
{
    zhashx_t *gathers = zhashx_new ();
    zhashx_set_destructor (gathers, (zhashx_destructor_fn *) s_gather_destroy);
    return gathers;
}

static void
s_gather_destroy (s_gather_t **self_p)
{
    s_gather_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        async_blob_clear (&self->summaries [i]);
    free (self->summaries);
    free (self);
    *self_p = NULL;
}

static void
s_gather_drop (broker_t *self, const char *parent_id)
{
    s_gather_t *gather = zhashx_size (self->gathers)
                       ? (s_gather_t *) zhashx_lookup (self->gathers, parent_id) : NULL;
    if (gather) {
        self->gather_bytes -= gather->bytes;
        zhashx_delete (self->gathers, parent_id);
    }
}

static void
s_gather_add (broker_t *self, async_job_t *parent, async_job_t *child)
{
    if (!parent->postprocess.size || child->child_index < 0
    ||  (size_t) child->child_index >= parent->nchildren
    ||  self->gather_bytes >= S_GATHER_BYTES)
        return;
    s_gather_t *gather = (s_gather_t *) zhashx_lookup (self->gathers, parent->id);
    if (!gather) {
        //  A cache: without memory for it, the postprocess reads the
        //  children back (plain calloc: no need to stop for it)
        gather = calloc (1, sizeof (s_gather_t));
        if (gather)
            gather->summaries = calloc (parent->nchildren, sizeof (async_blob_t));
        if (!gather || !gather->summaries) {
            free (gather);
            return;             //  the postprocess reads them back instead
        }
        gather->count = parent->nchildren;
        zhashx_insert (self->gathers, parent->id, gather);
    }
    async_blob_t *slot = &gather->summaries [child->child_index];
    if (gather->count != parent->nchildren || slot->size)
        return;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    s_pack_summary (&pk, child);
    async_blob_take (slot, (uint8_t *) buffer.data, buffer.size);
    gather->bytes += buffer.size;
    self->gather_bytes += buffer.size;
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
    s_gather_t *gather = (s_gather_t *) zhashx_lookup (self->gathers, parent->id);
    if (gather && gather->count != parent->nchildren)
        gather = NULL;
    for (size_t i = 0; i < parent->nchildren; i++) {
        //  Gathered as it completed; else a cached child is read in place
        //  (broker_job_read copies)
        async_job_t *child;
        if (gather && gather->summaries [i].size)
            async_sbuffer_write (&buffer, (const char *) gather->summaries [i].data,
                                 gather->summaries [i].size);
        else
        if ((child = (async_job_t *) async_idmap_lookup (self->jobs, parent->children [i])))
            s_pack_summary (&pk, child);
        else
        if ((child = broker_job_read (self, parent->children [i]))) {
            s_pack_summary (&pk, child);
            async_job_destroy (&child);
        }
        else
            msgpack_pack_nil (&pk);
    }
    s_gather_drop (self, parent->id);
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
        s_gather_drop (self, job->id);     //  ended without its postprocess
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

//  The earlier outcomes a retried job keeps in its annotation
//  LIFECYCLE_RETRIES_NAME, at most S_RETRIES_KEPT (the last ones), each
//  message cut at S_RETRIES_MESSAGE bytes
#define S_RETRIES_KEPT      10
#define S_RETRIES_MESSAGE   500

//  Append the job's failure to its retries annotation; false if it would
//  not fit (the annotations stay as they were)
static bool
s_retries_keep (async_job_t *job, const char *by, int64_t now, char *err, size_t err_size)
{
    msgpack_unpacked failure, annotations;
    msgpack_unpacked_init (&failure);
    msgpack_unpacked_init (&annotations);
    size_t offset = 0;
    const msgpack_object *fmap = msgpack_unpack_next (&failure, (const char *) job->failure.data,
                                                      job->failure.size, &offset)
                                 == MSGPACK_UNPACK_SUCCESS ? &failure.data : NULL;
    offset = 0;
    const msgpack_object *earlier = NULL;
    if (job->annotations.size
    &&  msgpack_unpack_next (&annotations, (const char *) job->annotations.data,
                             job->annotations.size, &offset) == MSGPACK_UNPACK_SUCCESS)
        earlier = async_mp_get (&annotations.data, LIFECYCLE_RETRIES_NAME);
    uint32_t nearlier = earlier && earlier->type == MSGPACK_OBJECT_ARRAY
                      ? earlier->via.array.size : 0;
    uint32_t skip = nearlier >= S_RETRIES_KEPT ? nearlier - (S_RETRIES_KEPT - 1) : 0;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_array (&pk, nearlier - skip + 1);
    for (uint32_t i = skip; i < nearlier; i++)
        msgpack_pack_object (&pk, earlier->via.array.ptr [i]);
    char type [ASYNC_MAX_NAME + 1] = "Error", when [40];
    char *message = fmap ? async_mp_strdup (fmap, "message") : NULL;
    if (fmap)
        async_mp_str (fmap, "type", type, sizeof type);
    if (message && strlen (message) > S_RETRIES_MESSAGE)
        message [S_RETRIES_MESSAGE] = 0;        //  (may cut a UTF-8 sequence: bytes)
    msgpack_pack_map (&pk, 6);
    async_codec_pack_str (&pk, "type");
    async_codec_pack_str (&pk, type);
    async_codec_pack_str (&pk, "message");
    async_codec_pack_str (&pk, message ? message : "");
    async_codec_pack_str (&pk, "attempts");
    msgpack_pack_int (&pk, job->attempts);
    async_codec_pack_str (&pk, "completed_at");
    async_codec_pack_str (&pk, async_format_time (job->completed_at, when, sizeof when));
    async_codec_pack_str (&pk, "retried_at");
    async_codec_pack_str (&pk, async_format_time (now, when, sizeof when));
    async_codec_pack_str (&pk, "by");
    async_codec_pack_str (&pk, by);
    free (message);
    msgpack_unpacked_destroy (&failure);
    msgpack_unpacked value;
    msgpack_unpacked_init (&value);
    offset = 0;
    bool kept = msgpack_unpack_next (&value, buffer.data, buffer.size, &offset)
                == MSGPACK_UNPACK_SUCCESS;
    msgpack_unpacked_destroy (&annotations);    //  (earlier is in it: packed above)
    if (kept)
        kept = spec_annotations_set (&job->annotations, LIFECYCLE_RETRIES_NAME, &value.data,
                                     err, err_size) == 0;
    else
        snprintf (err, err_size, "the retries could not be packed");
    msgpack_unpacked_destroy (&value);
    msgpack_sbuffer_destroy (&buffer);
    return kept;
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
    async_job_t *job = (async_job_t *) async_idmap_lookup (self->jobs, id);
    if (!job || !broker_job_is_live (job) || job->token != token
    ||  strcmp (job->node, session->uuid) != 0)
        return NULL;
    return job;
}

//  The same for a message with `id` and `token` (copied into id)
static async_job_t *
s_current_attempt (broker_t *self, session_t *session, async_inmsg_t *in, char *id)
{
    uint64_t token = 0;
    if (async_mp_str (in->body, "id", id, ASYNC_ID_LEN) || async_mp_uint (in->body, "token", &token))
        return NULL;
    return s_attempt (self, session, id, token);
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
    async_job_t *job = (async_job_t *) async_idmap_lookup (self->jobs, id);
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
lifecycle_on_started (broker_t *self, session_t *session, async_inmsg_t *in)
{
    char id [ASYNC_ID_LEN];
    async_job_t *job = s_current_attempt (self, session, in, id);
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
    lifecycle_handoff_add (self, target->id, job->id);
    broker_job_save (self, job);
    broker_outcome_staged (self);
    async_log_debug ("broker", "job.handoff", "job=%s target=%s", job->id, target->id);
}

//  Remember that `waiting` handed off to `target` (in memory; the w key
//  is the durable copy)
void
lifecycle_handoff_add (broker_t *self, const char *target, const char *waiting)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->handoff_targets, target);
    if (!list) {
        list = zlistx_new ();
        zlistx_set_destructor (list, (zlistx_destructor_fn *) zstr_free);
        zhashx_insert (self->handoff_targets, target, list);
    }
    zlistx_add_end (list, async_xstrdup (waiting));
}

//  Jobs that handed off to `done` complete with its outcome
static void
s_handoffs_done (broker_t *self, async_job_t *done)
{
    zlistx_t *waiting = (zlistx_t *) zhashx_lookup (self->handoff_targets, done->id);
    if (!waiting)
        return;                 //  the usual case
    zhashx_delete (self->handoff_targets, done->id);      //  no destructor: ours now
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
lifecycle_on_results (broker_t *self, session_t *session, zframe_t *routing, async_inmsg_t *in)
{
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
lifecycle_on_progress (broker_t *self, session_t *session, async_inmsg_t *in)
{
    char id [ASYNC_ID_LEN];
    async_job_t *job = s_current_attempt (self, session, in, id);
    const msgpack_object *progress = async_mp_get (in->body, "progress");
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
