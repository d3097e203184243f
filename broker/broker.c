/*  =========================================================================
    broker - sessions, job state machine, group commit
    =========================================================================
*/
#include "broker_impl.h"
#include "async_alloc.h"
#include "auth.h"
#include "broker_view.h"
#include "dispatch.h"
#include "every.h"
#include "http.h"
#include "metrics.h"
#include "spec.h"
#include "store.h"
#include "keys.h"
#include "listing.h"
#include "ordset.h"
#include "query.h"
#include "quota.h"
#include "session.h"
#include "token.h"
#include "waiters.h"
#include "async_codec.h"
#include "async_idmap.h"
#include "async_job.h"
#include "async_spin.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/version.h"
#include "asyncmesh/log.h"
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <sys/random.h>
#include <sys/statvfs.h>

#define S_VERSION ASYNC_VERSION_STRING

#define S_DEAD_KEEP_US      (600 * 1000000LL)   //  10 minutes
#define S_DEAD_KEEP_MAX     1000

static int s_scheduled_compare (const void *a, const void *b);
static int s_backoff_compare (const void *a, const void *b);

static void s_job_complete (broker_t *self, async_job_t *job);
static void s_job_finish (broker_t *self, async_job_t *job);
static void s_start (broker_t *self, async_job_t *job);
static bool s_disk_low (broker_t *self);
static void s_handoffs_done (broker_t *self, async_job_t *done);
static void s_handoff_add (broker_t *self, const char *target, const char *waiting);
static int s_wait_add (broker_t *self, zframe_t *routing, const char *id, bool brief,
                       char *err, size_t err_size);
static void s_metrics_started (broker_t *self, async_job_t *job);
static void s_assign (broker_t *self, session_t *session, dispatch_agent_t *agent,
                      async_job_t *job, uint64_t token);

//  A zlistx/zhashx destructor of plain allocations
static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

//  ---------------------------------------------------------------------
//  Keys

//  A job's place in its queue's pending index (keys.h)
static size_t
s_key_pending (char *buf, const async_job_t *job)
{
    return keys_place (buf, job->queue, job->priority, job->seq);
}

//  Put or delete a job's 'a' key, and keep the ids of the 'a' keys in
//  memory as well: a listing reads them there, not in the store, where
//  the keys of the jobs that ended lie deleted until a compaction
static void
s_live_put (broker_t *self, const char *id, const void *value, size_t size, bool fresh)
{
    char key [40];
    if (fresh)
        store_put_fresh (self->store, key, keys_id (key, KEYS_LIVE, id), value, size);
    else
        store_put (self->store, key, keys_id (key, KEYS_LIVE, id), value, size);
    ordset_insert (self->live_ids, id);
}

static void
s_live_delete (broker_t *self, const char *id)
{
    char key [40];
    store_delete (self->store, key, keys_id (key, KEYS_LIVE, id));
    ordset_delete (self->live_ids, id);
}


//  Whether job `id` was created, or ended an attempt, in the batch being
//  staged or the one being written
static bool
s_job_unwritten (broker_t *self, const char *id)
{
    return (zhashx_size (self->unwritten) && zhashx_lookup (self->unwritten, id))
        || (zhashx_size (self->flight_unwritten)
            && zhashx_lookup (self->flight_unwritten, id));
}

//  Dispatch veto: a lane whose quotas are full waits, and so does a job
//  whose last change is not written (s_job_unwritten). Handed out before,
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
    if (s_job_unwritten (self, id)) {
        self->withheld = true;
        return false;
    }
    return quota_allows (self->quotas, quotas);
}

//  ---------------------------------------------------------------------
//  Job cache: every job being changed lives in self->jobs until commit

static async_job_t *
s_job_load (broker_t *self, const char *id)
{
    async_job_t *job = (async_job_t *) async_idmap_lookup (self->jobs, id);
    if (job)
        return job;
    char key [40];
    char *value;
    size_t size;
    if (store_get (self->store, key, keys_id (key, KEYS_JOB, id), &value, &size))
        return NULL;
    job = async_job_decode (value, size);
    free (value);
    if (job) {
        async_idmap_insert (self->jobs, job->id, job);
        zlistx_add_end (self->loaded, job);
    }
    return job;
}

//  A read-only copy for inspection; caller destroys
static async_job_t *
s_job_read (broker_t *self, const char *id)
{
    async_job_t *job = (async_job_t *) async_idmap_lookup (self->jobs, id);
    uint8_t *data;
    size_t size;
    if (job) {
        if (async_job_encode (job, &data, &size))
            return NULL;
        async_job_t *copy = async_job_decode (data, size);
        free (data);
        return copy;
    }
    char key [40];
    char *value;
    if (store_get (self->store, key, keys_id (key, KEYS_JOB, id), &value, &size))
        return NULL;
    job = async_job_decode (value, size);
    free (value);
    return job;
}

//  Mark a job for writing at the next commit
static void
s_job_save (broker_t *self, async_job_t *job)
{
    if (!async_idmap_lookup (self->jobs, job->id)) {
        //  Not read from the store (s_job_load): a new job
        async_idmap_insert (self->jobs, job->id, job);
        zhashx_insert (self->unwritten, job->id, (void *) 1);
    }
    if (!job->dirty) {
        job->dirty = true;
        zlistx_add_end (self->dirty, job);
    }
}

static bool
s_job_is_live (async_job_t *job)
{
    return job->kind == ASYNC_KIND_TASK
        && (job->status == ASYNC_ASSIGNED || job->status == ASYNC_ACTIVE)
        && job->handoff [0] == 0;
}

//  ---------------------------------------------------------------------
//  Messages

static zmsg_t *
s_msg_to (zframe_t *routing, async_msg_t *msg)
{
    assert (async_msg_valid (msg));
    zmsg_t *zmsg = zmsg_new ();
    zmsg_append (zmsg, &(zframe_t *) { zframe_dup (routing) });
    zmsg_addmem (zmsg, msg->buffer.data, msg->buffer.size);
    async_msg_destroy (msg);
    return zmsg;
}

//  Send now: two zmq_send, no zmsg and frames to make and free. 0, or the
//  errno of a message not sent: EHOSTUNREACH when the peer is gone (the
//  ROUTER is ZMQ_ROUTER_MANDATORY), EAGAIN when its queue is full
static int
s_send (broker_t *self, zframe_t *routing, async_msg_t *msg)
{
    assert (async_msg_valid (msg));
    void *router = zsock_resolve (self->router);
    int rc = 0;
    if (zmq_send (router, zframe_data (routing), zframe_size (routing),
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send (router, msg->buffer.data, msg->buffer.size, ZMQ_DONTWAIT);
    else
        rc = zmq_errno ();
    async_msg_destroy (msg);
    return rc;
}

//  s_send for the waiters (waiters_calls_t.send)
static int
s_waiters_send (void *arg, zframe_t *routing, async_msg_t *msg)
{
    return s_send ((broker_t *) arg, routing, msg);
}

//  Send a message made for the loop's lists (routing id first) now, and
//  destroy it: never blocking, as s_send
static void
s_zmsg_send (broker_t *self, zmsg_t **zmsg_p)
{
    void *router = zsock_resolve (self->router);
    size_t left = zmsg_size (*zmsg_p);
    zframe_t *frame = zmsg_first (*zmsg_p);
    for (; frame; frame = zmsg_next (*zmsg_p))
        if (zmq_send (router, zframe_data (frame), zframe_size (frame),
                      (--left ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
            break;
    zmsg_destroy (zmsg_p);
}

//  Send after the commit
static void
s_reply_later (broker_t *self, zframe_t *routing, async_msg_t *msg)
{
    zlistx_add_end (self->replies, s_msg_to (routing, msg));
}

//  An ACK to send after the commit: its `count` entries (packed maps)
//  also go in a third frame, count first, so that s_release_reply can
//  hold them for an ASSIGN to ride on without parsing the ACK again
static void
s_ack_later (broker_t *self, zframe_t *routing, async_msg_t *msg, const void *entries,
             size_t size, uint32_t count)
{
    zframe_t *held = zframe_new (NULL, sizeof count + size);
    memcpy (zframe_data (held), &count, sizeof count);
    memcpy (zframe_data (held) + sizeof count, entries, size);
    zmsg_t *zmsg = s_msg_to (routing, msg);
    zmsg_append (zmsg, &held);
    zlistx_add_end (self->replies, zmsg);
}

//  An outcome was staged (a job completed, failed, retried, handed off).
//  One the broker decided is synced with its batch. One from a node's
//  RESULT may wait for a later sync, up to S_SYNC_DEFER_US: the node keeps
//  the result until its ACK, which goes only after the sync, so a crash in
//  between delivers it again. One job at a time then needs one sync per
//  job (its submit's, which also covers the previous job's outcome).
static void
s_outcome_staged (broker_t *self)
{
    if (self->from_node)
        self->durable_soon = true;
    else
        self->durable = true;
}

static void
s_error (broker_t *self, zframe_t *routing, uint64_t rid, int code, const char *text)
{
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_ERROR, rid);
    async_msg_int (&msg, "code", code);
    async_msg_str (&msg, "message", text);
    s_send (self, routing, &msg);
}

//  Waits (docs/protocol.md, WAIT): waiters.h
static void
s_pack_brief (msgpack_packer *pk, async_job_t *job)
{
    waiters_pack_brief (pk, job);
}

static void
s_send_job_as (broker_t *self, zframe_t *routing, uint64_t rid, async_job_t *job, bool later,
               bool brief)
{
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_JOB, rid);
    async_msg_key (&msg, "job");
    if (brief)
        s_pack_brief (&msg.packer, job);
    else
        async_job_pack (job, &msg.packer);
    if (later)
        s_reply_later (self, routing, &msg);
    else
        s_send (self, routing, &msg);
}

static void
s_send_job (broker_t *self, zframe_t *routing, uint64_t rid, async_job_t *job, bool later)
{
    s_send_job_as (self, routing, rid, job, later, false);
}

//  A brief JOB that may go now: kept for this turn's JOB with `jobs`
static void
s_push_brief (broker_t *self, zframe_t *routing, async_job_t *job)
{
    waiters_push_brief (self->waiters, routing, job);
}

//  Send this turn's brief JOBs, one message per peer
static void
s_pushes_flush (broker_t *self)
{
    waiters_flush (self->waiters);
}

//  ---------------------------------------------------------------------
//  Queueing

//  Count a scheduled entry in its queue (STATUS reads the counts, not the
//  records of the scheduled jobs)
static void
s_scheduled_count (broker_t *self, scheduled_t *entry, const char *queue)
{
    scheduled_queue_t *row
        = (scheduled_queue_t *) zhashx_lookup (self->scheduled_queues, queue);
    if (!row) {
        row = (scheduled_queue_t *) async_xcalloc (1, sizeof (scheduled_queue_t));
        snprintf (row->name, sizeof row->name, "%s", queue);
        zhashx_insert (self->scheduled_queues, row->name, row);
    }
    row->count++;
    entry->queue = row;
}

//  The entry leaves the scheduled list
static void
s_scheduled_uncount (broker_t *self, scheduled_t *entry)
{
    scheduled_queue_t *row = entry->queue;
    entry->queue = NULL;
    if (row && --row->count == 0)
        zhashx_delete (self->scheduled_queues, row->name);
}

static void
s_enqueue (broker_t *self, async_job_t *job, bool head)
{
    char key [300];
    int64_t now = async_now_us ();
    int64_t when = job->not_before > job->begin_after ? job->not_before : job->begin_after;
    job->status = ASYNC_PENDING;
    job->node [0] = 0;
    if (when > now + 1000) {
        //  Scheduled: wakes up at the tail of its queue
        store_put (self->store, key, keys_time (key, KEYS_SCHEDULED, when, job->id), "", 0);
        scheduled_t *entry = async_xcalloc (1, sizeof (scheduled_t));
        entry->when = when;
        memcpy (entry->id, job->id, ASYNC_ID_LEN);
        s_scheduled_count (self, entry, job->queue);
        if (when == job->not_before) {
            //  A retry's backoff: a duration, on the monotonic clock (after
            //  a restart its s key is read back as a wall-clock time)
            entry->mono = async_mono_us () + (when - now);
            zlistx_insert (self->backoffs, entry, false);
        }
        else
            zlistx_insert (self->scheduled, entry, false);
        s_job_save (self, job);
        return;
    }
    if (!head || job->seq == 0)
        job->seq = ++self->seq;
    //  Index value: id \0 task [\0 quotas]
    char *quotas = quota_lane (&job->quotas);
    size_t tlen = strlen (job->task);
    size_t qlen = quotas ? strlen (quotas) + 1 : 0;
    char *value = async_xmalloc (ASYNC_ID_LEN + tlen + qlen);
    memcpy (value, job->id, 36);
    value [36] = 0;
    memcpy (value + ASYNC_ID_LEN, job->task, tlen);
    if (quotas) {
        value [ASYNC_ID_LEN + tlen] = 0;
        memcpy (value + ASYNC_ID_LEN + 1 + tlen, quotas, qlen - 1);
    }
    //  Fresh: a job leaves its queue with a delete of its p key (s_unqueue)
    store_put_fresh (self->store, key, s_key_pending (key, job), value,
                     ASYNC_ID_LEN + tlen + qlen);
    free (value);
    dispatch_push_quotas (self->dispatch, job->id, job->task, job->queue, job->priority,
                          job->seq, head, quotas);
    free (quotas);
    if (job->begin_by && job->attempts == 0) {
        //  Not started by then: TimeoutError (d key, for restarts)
        scheduled_t *entry = async_xcalloc (1, sizeof (scheduled_t));
        entry->when = job->begin_after + job->begin_by;
        memcpy (entry->id, job->id, ASYNC_ID_LEN);
        store_put (self->store, key, keys_time (key, KEYS_DEADLINE, entry->when, job->id), "", 0);
        zlistx_insert (self->deadlines, entry, false);
    }
    s_job_save (self, job);
}

//  Whether the job is in its queue's pending index (in memory, or in the
//  store only when its queue spilled)
static bool
s_is_queued (broker_t *self, async_job_t *job)
{
    if (dispatch_contains (self->dispatch, job->id))
        return true;
    if (job->seq == 0 || !dispatch_spilled (self->dispatch, job->queue, job->priority, job->seq))
        return false;
    char key [300];
    char *value;
    size_t size;
    if (store_get (self->store, key, s_key_pending (key, job), &value, &size))
        return false;
    bool queued = size >= 36 && memcmp (value, job->id, 36) == 0;
    free (value);
    return queued;
}

static void
s_unqueue (broker_t *self, async_job_t *job)
{
    char key [300];
    if (!dispatch_remove (self->dispatch, job->id) && s_is_queued (self, job))
        dispatch_forget (self->dispatch, job->queue);
    store_delete (self->store, key, s_key_pending (key, job));
}

//  Start a job: a task goes to its queue, a parent starts its children
static void
s_start (broker_t *self, async_job_t *job)
{
    job->held = false;
    if (job->kind == ASYNC_KIND_TASK) {
        metrics_count (self->metrics, METRICS_SUBMITTED, job->queue, job->task);
        s_enqueue (self, job, false);
        return;
    }
    job->status = ASYNC_ACTIVE;
    job->active_start = async_now_us ();
    s_job_save (self, job);
    s_live_put (self, job->id, "", 0, false);
    size_t count = job->kind == ASYNC_KIND_PARALLEL ? job->nchildren : 1;
    for (size_t i = 0; i < count && i < job->nchildren; i++) {
        async_job_t *child = s_job_load (self, job->children [i]);
        if (child)
            s_start (self, child);
    }
}

//  Whether the peer at `routing` may wait for one more job: 0, or -1 with
//  the reason in err
static int
s_wait_room (broker_t *self, zframe_t *routing, char *err, size_t err_size)
{
    return waiters_room (self->waiters, routing, err, err_size);
}

//  Probe the waiting peers, free the waits of those gone (waiters_check).
//  Sets self->more_work when some are left for the next turn
static void
s_peers_check (broker_t *self, int64_t mono)
{
    if (waiters_check (self->waiters, mono))
        self->more_work = true;
}

//  ---------------------------------------------------------------------
//  Completion

//  Hand a job's outcome to one waiter (waiters_calls_t.deliver)
static void
s_waiter_deliver (void *arg, zframe_t *routing, bool brief, async_job_t *job)
{
    broker_t *self = (broker_t *) arg;
    //  An outcome from a node's RESULT goes before its own commit: the
    //  node keeps the result until the broker acknowledges it (after
    //  the commit), so a crash in between delivers it again. One the
    //  broker decided (cancel, timeout, abort) waits for the commit.
    if (!self->from_node || zlistx_size (self->replies))
        s_send_job_as (self, routing, 0, job, true, brief);
    else
    if (store_commit_busy (self->store) && !self->flight_deferred) {
        //  Never before the ACCEPTED of a submit still being written
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_S_JOB, 0);
        async_msg_key (&msg, "job");
        if (brief)
            s_pack_brief (&msg.packer, job);
        else
            async_job_pack (job, &msg.packer);
        zlistx_add_end (self->flight_replies, s_msg_to (routing, &msg));
    }
    else
    if (brief)
        s_push_brief (self, routing, job);
    else
        s_send_job (self, routing, 0, job, false);
}

static void
s_notify_waiters (broker_t *self, async_job_t *job)
{
    waiters_notify (self->waiters, job);
}

//  Tell the clients waiting for a job how far it got: a task's reported
//  progress, or a parent's children done
static void
s_notify_progress (broker_t *self, const char *id, int64_t done, int64_t total)
{
    waiters_progress (self->waiters, id, done, total, async_mono_us ());
}

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
        //  (s_job_read copies)
        async_job_t *child;
        if (gather && gather->summaries [i].size)
            async_sbuffer_write (&buffer, (const char *) gather->summaries [i].data,
                                 gather->summaries [i].size);
        else
        if ((child = (async_job_t *) async_idmap_lookup (self->jobs, parent->children [i])))
            s_pack_summary (&pk, child);
        else
        if ((child = s_job_read (self, parent->children [i]))) {
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
        async_job_t *child = s_job_read (self, parent->children [i]);
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
    async_job_t *parent = s_job_load (self, child->parent);
    if (!parent || parent->status == ASYNC_COMPLETED || parent->status == ASYNC_CALLBACKS)
        return;
    parent->children_done++;
    s_gather_add (self, parent, child);
    //  The parent stays cached while it runs (s_evict); its record is
    //  written when it changes otherwise, its progress goes to its x key
    char key [40];
    uint8_t done [8];
    store_put_be64 (done, parent->children_done);
    store_put (self->store, key, keys_id (key, KEYS_DONE, parent->id), done, 8);
    s_notify_progress (self, parent->id, (int64_t) parent->children_done,
                       (int64_t) parent->nchildren);
    if (parent->children_done < parent->nchildren) {
        if (parent->kind == ASYNC_KIND_SERIAL) {
            async_job_t *next = s_job_load (self, parent->children [parent->children_done]);
            if (next)
                s_start (self, next);
        }
        return;
    }
    if (parent->postprocess.size) {
        async_job_t *post = s_make_postprocess (self, parent);
        if (post) {
            memcpy (parent->postprocess_id, post->id, ASYNC_ID_LEN);
            s_job_save (self, parent);
            s_start (self, post);
            return;
        }
        async_failure_make (&parent->failure, "BadArgumentsError",
                            "the postprocess spec could not be built", "", false, NULL, 0);
    }
    else
        s_collect_results (self, parent);
    s_job_complete (self, parent);
}

//  Start a callback of `job`: its arguments get the job's result, or its
//  failure object, appended; one whose "on" does not match is not run
static void
s_start_callback (broker_t *self, async_job_t *job, async_job_t *callback)
{
    bool failed = job->failure.size > 0;
    if ((callback->on == 1 && failed) || (callback->on == 2 && !failed)) {
        async_failure_make (&callback->failure, "CancelledError",
                            failed ? "not run: the job failed and this callback runs "
                                     "on success"
                                   : "not run: the job succeeded and this callback runs "
                                     "on failure", "", false, NULL, 0);
        s_job_complete (self, callback);
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
    s_start (self, callback);
}

//  Start the job's next callback in order; false when none is left
static bool
s_next_callback (broker_t *self, async_job_t *job)
{
    while (job->callbacks_next < (int) job->ncallbacks) {
        async_job_t *callback = s_job_load (self, job->callbacks [job->callbacks_next++]);
        s_job_save (self, job);
        if (callback && callback->status == ASYNC_PENDING && !s_is_queued (self, callback)) {
            s_start_callback (self, job, callback);
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
    job->status = ASYNC_COMPLETED;
    job->completed_at = async_now_us ();
    store_put (self->store, key, keys_time (key, KEYS_COMPLETED, job->completed_at, job->id), "", 0);
    if (job->failure.size)
        store_put (self->store, key, keys_time (key, KEYS_FAILED, job->completed_at, job->id),
                   "", 0);
    s_live_delete (self, job->id);
    if (job->kind != ASYNC_KIND_TASK)
        store_delete (self->store, key, keys_id (key, KEYS_DONE, job->id));
    s_job_save (self, job);
    s_outcome_staged (self);
    self->stat_completed++;
    if (job->kind != ASYNC_KIND_TASK)
        s_gather_drop (self, job->id);     //  ended without its postprocess
    s_notify_waiters (self, job);
    s_handoffs_done (self, job);
    if (!job->parent [0])
        return;
    async_job_t *parent = s_job_load (self, job->parent);
    if (!parent)
        return;
    if (job->role == ASYNC_ROLE_POSTPROCESS) {
        if (parent->status != ASYNC_COMPLETED && parent->status != ASYNC_CALLBACKS) {
            async_blob_set (&parent->result, job->result.data, job->result.size);
            async_blob_set (&parent->failure, job->failure.data, job->failure.size);
            s_job_complete (self, parent);
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

//  One line for a failed job, with its failure's message and detail
static void
s_log_failed (async_job_t *job)
{
    if (!async_log_enabled (ASYNC_LOG_INFO))
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
    async_log_info ("broker", "job.failed", "job=%s task=%s queue=%s node=%s attempt=%d "
                    "type=%s message=\"%s\" detail=\"%s\"", job->id,
                    job->task ? job->task : "-", job->queue, *job->node ? job->node : "-",
                    job->attempts, type, message, detail);
}

//  The job has its result or failure: run its callbacks, in order, then
//  it is completed
static void
s_job_complete (broker_t *self, async_job_t *job)
{
    if (job->failure.size) {
        async_blob_clear (&job->result);
        self->stat_failed++;
        s_log_failed (job);
    }
    else
        async_log_debug ("broker", "job.completed", "job=%s task=%s attempt=%d",
                         job->id, job->task ? job->task : "-", job->attempts);
    if (job->active_start && !job->active_end)
        job->active_end = async_now_us ();
    if (job->kind == ASYNC_KIND_TASK)
        metrics_count (self->metrics, job->failure.size ? METRICS_FAILED : METRICS_SUCCEEDED,
                       job->queue, job->task);
    job->status = ASYNC_CALLBACKS;
    s_job_save (self, job);
    s_outcome_staged (self);
    if (job->callbacks_next < (int) job->ncallbacks)
        s_live_put (self, job->id, "", 0, false);
    if (!s_next_callback (self, job))
        s_job_finish (self, job);
}

//  Fail a job that has not run (or cannot run again) without touching slots
static void
s_job_fail (broker_t *self, async_job_t *job, const char *type, const char *message)
{
    async_failure_make (&job->failure, type, message, "", false, job->node, job->attempts);
    s_job_complete (self, job);
}

//  ---------------------------------------------------------------------
//  Sessions and slots

static session_t *
s_session_for_job (broker_t *self, async_job_t *job)
{
    session_t *session = job->node [0]
                       ? (session_t *) zhashx_lookup (self->nodes, job->node) : NULL;
    if (session && async_idmap_lookup (session->jobs, job->id))
        return session;
    return NULL;
}

//  The attempt on a node is over: free its slot
static void
s_release (broker_t *self, async_job_t *job)
{
    s_live_delete (self, job->id);
    //  Its next attempt waits for this end to be written (s_dispatch_veto)
    zhashx_insert (self->unwritten, job->id, (void *) 1);
    if (s_job_is_live (job))
        quota_count (self->quotas, &job->quotas, -1);
    session_t *session = s_session_for_job (self, job);
    if (session) {
        dispatch_agent_t *agent = (dispatch_agent_t *) async_idmap_lookup (session->jobs, job->id);
        if (agent)
            dispatch_agent_release (agent);
        async_idmap_delete (session->jobs, job->id);
    }
}

//  An attempt was interrupted (node died, superseded, stopped)
static void
s_interrupt (broker_t *self, async_job_t *job, const char *why)
{
    s_release (self, job);
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
        s_job_fail (self, job, "CancelledError", message);
        return;
    }
    if (policy.interruptions >= 0 && job->interruptions >= policy.interruptions) {
        char message [200];
        snprintf (message, sizeof message, "interrupted %d times (last: %s)",
                  job->interruptions, why);
        s_job_fail (self, job, "AbortedError", message);
        return;
    }
    s_enqueue (self, job, true);
}

static void
s_dead_node_destroy (dead_node_t **self_p)
{
    dead_node_t *self = *self_p;
    if (self) {
        free (self->data);
        free (self);
        *self_p = NULL;
    }
}

//  Remember a node declared dead as NODES lists it (dead, nothing
//  running), until it says HELLO again or ages out; the oldest goes first
//  past S_DEAD_KEEP_MAX
static void
s_dead_node_keep (broker_t *self, session_t *session)
{
    session->state = SESSION_DEAD;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    session_pack (session, &pk);
    dead_node_t *dead = (dead_node_t *) async_xcalloc (1, sizeof (dead_node_t));
    dead->when = async_mono_us ();
    dead->data = (uint8_t *) buffer.data;       //  ours now
    dead->size = buffer.size;
    zhashx_update (self->dead_nodes, session->uuid, dead);
    while (zhashx_size (self->dead_nodes) > S_DEAD_KEEP_MAX) {
        const char *oldest = NULL;
        int64_t when = INT64_MAX;
        dead = (dead_node_t *) zhashx_first (self->dead_nodes);
        while (dead) {
            if (dead->when < when) {
                when = dead->when;
                oldest = (const char *) zhashx_cursor (self->dead_nodes);
            }
            dead = (dead_node_t *) zhashx_next (self->dead_nodes);
        }
        zhashx_delete (self->dead_nodes, oldest);
    }
}

//  Forget the dead nodes older than S_DEAD_KEEP_US, by the broker's own
//  running time: s_loop_gap moves `when` past a pause of the loop
static void
s_dead_nodes_expire (broker_t *self, int64_t mono)
{
    zlistx_t *expired = zlistx_new ();
    dead_node_t *dead = (dead_node_t *) zhashx_first (self->dead_nodes);
    while (dead) {
        if (mono - dead->when > S_DEAD_KEEP_US)
            zlistx_add_end (expired, (void *) zhashx_cursor (self->dead_nodes));
        dead = (dead_node_t *) zhashx_next (self->dead_nodes);
    }
    const char *uuid = (const char *) zlistx_first (expired);
    while (uuid) {
        char copy [ASYNC_ID_LEN];
        snprintf (copy, sizeof copy, "%s", uuid);
        zhashx_delete (self->dead_nodes, copy);
        uuid = (const char *) zlistx_next (expired);
    }
    zlistx_destroy (&expired);
}

//  The nodes with a session are recorded (u keys): after a restart,
//  dispatch waits for them to say HELLO with what they hold, so that a job
//  one of them ran, whose assignment was not recorded, is not handed to
//  another node first (s_adopt). At most dead-after.
static void
s_node_known (broker_t *self, const char *uuid)
{
    if (zhashx_size (self->awaited) && zhashx_lookup (self->awaited, uuid)) {
        zhashx_delete (self->awaited, uuid);
        if (zhashx_size (self->awaited) == 0)
            async_log_info ("broker", "dispatch.resumed", "reason=\"every node known "
                            "before the restart is back\"");
    }
    if (zhashx_lookup (self->known, uuid))
        return;
    zhashx_insert (self->known, uuid, (void *) uuid);
    char key [40];
    store_put (self->store, key, keys_id (key, KEYS_NODE, uuid), "", 0);
}

static void
s_node_forget (broker_t *self, const char *uuid)
{
    if (!zhashx_lookup (self->known, uuid))
        return;
    char key [40];
    store_delete (self->store, key, keys_id (key, KEYS_NODE, uuid));
    zhashx_delete (self->known, uuid);
}

//  The nodes awaited after a restart did not come back within dead-after:
//  they are forgotten (their u keys deleted), so that the next restart
//  does not wait for them again. One that comes back later is known again
//  by its HELLO
static void
s_nodes_missing_forget (broker_t *self)
{
    zlistx_t *missing = zhashx_keys (self->awaited);
    const char *uuid = (const char *) zlistx_first (missing);
    while (uuid) {
        s_node_forget (self, uuid);
        uuid = (const char *) zlistx_next (missing);
    }
    zlistx_destroy (&missing);
    zhashx_purge (self->awaited);
}

static void
s_session_drop (broker_t *self, session_t *session, const char *why)
{
    //  Interrupt its jobs
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (zlistx_destructor_fn *) zstr_free);
    void *held = async_idmap_first (session->jobs);
    for (; held; held = async_idmap_next (session->jobs))
        zlistx_add_end (ids, async_xstrdup (async_idmap_cursor (session->jobs)));
    char *id = (char *) zlistx_first (ids);
    while (id) {
        async_job_t *job = s_job_load (self, id);
        if (job && s_job_is_live (job) && strcmp (job->node, session->uuid) == 0)
            s_interrupt (self, job, why);
        id = (char *) zlistx_next (ids);
    }
    zlistx_destroy (&ids);
    if (streq (why, "dead"))
        s_dead_node_keep (self, session);
    if (!streq (why, "superseded") && !streq (why, "re-registered"))
        s_node_forget (self, session->uuid);        //  gone, not replaced
    dispatch_agents_remove (self->dispatch, session->agents);
    if (zhashx_lookup (self->nodes, session->uuid) == session)
        zhashx_delete (self->nodes, session->uuid);
    async_log_info ("broker", "node.gone", "node=%s reason=%s", session->uuid, why);
    self->session_bytes -= session->cost;
    zhashx_delete (self->sessions, session->rkey);
}

//  ---------------------------------------------------------------------
//  Handlers: clients

//  Take every job of a parsed spec into the cache (staged for the next
//  write); destroys the list
static void
s_jobs_adopt (broker_t *self, zlistx_t **jobs_p)
{
    async_job_t *job;
    while ((job = (async_job_t *) zlistx_detach (*jobs_p, NULL)))
        s_job_save (self, job);
    zlistx_destroy (jobs_p);
}

//  Every quota a job names must exist. 0, or -1 with the reason in err
static int
s_check_quotas (broker_t *self, zlistx_t *jobs, char *err, size_t err_size)
{
    async_job_t *job = (async_job_t *) zlistx_first (jobs);
    for (; job; job = (async_job_t *) zlistx_next (jobs))
        if (quota_check (self->quotas, &job->quotas, err, err_size))
            return -1;
    return 0;
}

//  Submit a job spec: parse, check, store and start it. Writes the root's
//  id; *existing is set when an idempotency key named a job already.
//  0, or -1 with a one-line reason in err
static int
s_submit (broker_t *self, const msgpack_object *spec, char *id_out, bool *existing,
          char *err, size_t err_size)
{
    *existing = false;
    zlistx_t *jobs = zlistx_new ();
    zlistx_set_destructor (jobs, (zlistx_destructor_fn *) async_job_destroy);
    if (spec_parse (spec, async_now_us (), jobs, err, err_size)
    ||  s_check_quotas (self, jobs, err, err_size)) {
        zlistx_destroy (&jobs);
        return -1;
    }
    async_job_t *root = (async_job_t *) zlistx_first (jobs);
    //  Idempotency key: a live or retained job with that key answers; a
    //  key of this batch is not in the store yet, so it is looked up first
    if (root->key) {
        const char *staged = (const char *) zhashx_lookup (self->keys_staged, root->key);
        if (!staged)
            staged = (const char *) zhashx_lookup (self->flight_keys, root->key);
        if (staged) {
            memcpy (id_out, staged, ASYNC_ID_LEN);
            *existing = true;
            zlistx_destroy (&jobs);
            return 0;
        }
        char *value;
        size_t size;
        char key [KEYS_MAX];
        size_t klen = keys_name (key, KEYS_IDEMPOTENT, root->key);
        if (store_get (self->store, key, klen, &value, &size) == 0) {
            snprintf (id_out, ASYNC_ID_LEN, "%.*s", (int) size, value);
            free (value);
            async_job_t *old = s_job_read (self, id_out);
            if (old) {
                async_job_destroy (&old);
                *existing = true;
                zlistx_destroy (&jobs);
                return 0;
            }
        }
        store_put (self->store, key, klen, root->id, 36);
        zhashx_insert (self->keys_staged, root->key, async_xstrdup (root->id));
    }
    //  Own every job in the cache, then start the root
    memcpy (id_out, root->id, ASYNC_ID_LEN);
    s_jobs_adopt (self, &jobs);
    s_start (self, root);
    self->durable = true;
    self->stat_submitted++;
    async_log_debug ("broker", "job.submitted", "job=%s task=%s queue=%s",
                     root->id, root->task ? root->task : "-", root->queue);
    return 0;
}

//  One spec of a SUBMIT: the job's id, whether it existed, whether the
//  sender now waits for it. 0, or -1 with the reason in err
static int
s_submit_one (broker_t *self, zframe_t *routing, const msgpack_object *spec, bool wait,
              bool brief, char *id, bool *existing, bool *waiting, char *err, size_t err_size)
{
    if (wait && s_wait_room (self, routing, err, err_size))
        return -1;              //  nothing made: it could not be waited for
    if (s_submit (self, spec, id, existing, err, err_size))
        return -1;
    //  Submit and wait in one request: the waiter is registered now, so
    //  the outcome is pushed without a WAIT (unless the job is done already:
    //  then the client asks with WAIT)
    async_job_t *job = wait && !*existing ? (async_job_t *) async_idmap_lookup (self->jobs, id) : NULL;
    *waiting = job && job->status != ASYNC_COMPLETED;
    if (*waiting && s_wait_add (self, routing, id, brief, err, err_size))
        *waiting = false;       //  (not for lack of room: checked above)
    return 0;
}

//  At most this many specs in one SUBMIT (`specs`)
#define S_SUBMIT_SPECS 4096

static void
s_on_submit (broker_t *self, zframe_t *routing, async_inmsg_t *in)
{
    char err [300], id [ASYNC_ID_LEN];
    bool existing, waiting, wait = false, brief = false;
    async_mp_bool (in->body, "wait", &wait);
    async_mp_bool (in->body, "brief", &brief);
    const msgpack_object *specs = async_mp_get (in->body, "specs");
    if (!specs) {
        if (s_submit_one (self, routing, async_mp_get (in->body, "spec"), wait, brief,
                          id, &existing, &waiting, err, sizeof err)) {
            s_error (self, routing, in->rid, ASYNC_EREFUSED, err);
            return;
        }
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_S_ACCEPTED, in->rid);
        async_msg_str (&msg, "id", id);
        async_msg_int (&msg, "existing", existing);
        async_msg_int (&msg, "waiting", waiting);
        s_reply_later (self, routing, &msg);
        return;
    }
    //  A batch: one ACCEPTED with an entry per spec, in order
    if (specs->type != MSGPACK_OBJECT_ARRAY || specs->via.array.size == 0
    ||  specs->via.array.size > S_SUBMIT_SPECS) {
        snprintf (err, sizeof err, "specs must be an array of 1 to %d job specs",
                  S_SUBMIT_SPECS);
        s_error (self, routing, in->rid, ASYNC_EREFUSED, err);
        return;
    }
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_ACCEPTED, in->rid);
    async_msg_key (&msg, "accepted");
    msgpack_pack_array (&msg.packer, specs->via.array.size);
    for (uint32_t i = 0; i < specs->via.array.size; i++) {
        if (s_submit_one (self, routing, &specs->via.array.ptr [i], wait, brief,
                          id, &existing, &waiting, err, sizeof err)) {
            msgpack_pack_map (&msg.packer, 2);
            async_codec_pack_str (&msg.packer, "error");
            msgpack_pack_int (&msg.packer, ASYNC_EREFUSED);
            async_codec_pack_str (&msg.packer, "message");
            async_codec_pack_str (&msg.packer, err);
            continue;
        }
        msgpack_pack_map (&msg.packer, 3);
        async_codec_pack_str (&msg.packer, "id");
        async_codec_pack_str (&msg.packer, id);
        async_codec_pack_str (&msg.packer, "existing");
        msgpack_pack_int (&msg.packer, existing);
        async_codec_pack_str (&msg.packer, "waiting");
        msgpack_pack_int (&msg.packer, waiting);
    }
    s_reply_later (self, routing, &msg);
}

static int
s_read_id (async_inmsg_t *in, char *id)
{
    if (async_mp_str (in->body, "id", id, ASYNC_ID_LEN) || !async_id_valid (id))
        return -1;
    return 0;
}

//  The peer at `routing` waits for the job's outcome (a JOB pushed to it).
//  0, or -1 with the reason in err when it may not wait for one more
//  (s_wait_room); a wait it has already is kept
static int
s_wait_add (broker_t *self, zframe_t *routing, const char *id, bool brief, char *err,
            size_t err_size)
{
    return waiters_add (self->waiters, routing, id, brief, err, err_size);
}

static void
s_on_get (broker_t *self, zframe_t *routing, async_inmsg_t *in, bool wait)
{
    char id [ASYNC_ID_LEN];
    if (s_read_id (in, id)) {
        s_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job: not a job id");
        return;
    }
    async_job_t *job = s_job_read (self, id);
    if (!job) {
        s_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job");
        return;
    }
    if (!wait || job->status == ASYNC_COMPLETED)
        s_send_job (self, routing, in->rid, job, false);
    else {
        char err [200];
        if (s_wait_add (self, routing, id, false, err, sizeof err)) {
            s_error (self, routing, in->rid, ASYNC_EREFUSED, err);
            async_job_destroy (&job);
            return;
        }
        //  With how far it got, so a progress bar starts in the right place
        int64_t done = (int64_t) job->children_done, total = (int64_t) job->nchildren;
        if (job->kind == ASYNC_KIND_TASK) {
            done = total = 0;
            msgpack_unpacked unpacked;
            msgpack_unpacked_init (&unpacked);
            size_t offset = 0;
            if (job->progress.size
            &&  msgpack_unpack_next (&unpacked, (const char *) job->progress.data,
                                     job->progress.size, &offset) == MSGPACK_UNPACK_SUCCESS) {
                async_mp_int (&unpacked.data, "done", &done);
                async_mp_int (&unpacked.data, "total", &total);
            }
            msgpack_unpacked_destroy (&unpacked);
        }
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_S_WAITING, in->rid);
        async_msg_str (&msg, "id", id);
        async_msg_int (&msg, "done", done);
        async_msg_int (&msg, "total", total);
        s_send (self, routing, &msg);
    }
    async_job_destroy (&job);
}

//  Ask the node running the job to stop it (the task sees it through the
//  task API)
static void
s_send_cancel (broker_t *self, session_t *session, async_job_t *job)
{
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_CANCEL, 0);
    async_msg_str (&msg, "id", job->id);
    async_msg_key (&msg, "token");
    msgpack_pack_uint64 (&msg.packer, job->token);
    s_send (self, session->routing, &msg);
}

//  Cancel a job: a pending one completes with CancelledError now; a
//  running one is asked to stop and, after the grace period, interrupted;
//  a parent completes now and its unfinished children are cancelled
static void
s_cancel (broker_t *self, async_job_t *job)
{
    if (job->status == ASYNC_COMPLETED || job->status == ASYNC_CALLBACKS)
        return;
    if (job->kind != ASYNC_KIND_TASK) {
        s_job_fail (self, job, "CancelledError", "cancelled");
        for (size_t i = 0; i < job->nchildren; i++) {
            async_job_t *child = s_job_load (self, job->children [i]);
            if (child)
                s_cancel (self, child);
        }
        async_job_t *post = job->postprocess_id [0]
                          ? s_job_load (self, job->postprocess_id) : NULL;
        if (post)
            s_cancel (self, post);
        return;
    }
    if (job->status == ASYNC_PENDING || job->handoff [0]) {
        if (job->status == ASYNC_PENDING) {
            s_unqueue (self, job);
            char key [64];
            store_delete (self->store, key,
                          keys_time (key, KEYS_SCHEDULED, job->not_before > job->begin_after
                                      ? job->not_before : job->begin_after, job->id));
        }
        s_job_fail (self, job, "CancelledError", "cancelled before it ran");
        return;
    }
    //  Assigned or active: the task sees the request through the task API
    job->cancelled_at = async_now_us ();
    job->cancel_mono = async_mono_us ();
    s_job_save (self, job);
    self->durable = true;
    session_t *session = s_session_for_job (self, job);
    if (session)
        s_send_cancel (self, session, job);
    async_log_info ("broker", "job.cancelling", "job=%s node=%s", job->id, job->node);
}

static void
s_on_cancel (broker_t *self, zframe_t *routing, async_inmsg_t *in)
{
    char id [ASYNC_ID_LEN];
    async_job_t *job = s_read_id (in, id) ? NULL : s_job_load (self, id);
    if (!job) {
        s_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job");
        return;
    }
    if (job->status == ASYNC_COMPLETED || job->status == ASYNC_CALLBACKS) {
        s_error (self, routing, in->rid, ASYNC_EREFUSED, "the job has already completed");
        return;
    }
    s_cancel (self, job);
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_OK, in->rid);
    s_reply_later (self, routing, &msg);
}

//  The listings: broker/listing.c
static int
s_list_msg (broker_t *self, const msgpack_object *query, uint64_t rid, bool count_only,
            int64_t page, size_t bytes, json_t *json, async_msg_t *reply, char *err,
            size_t err_size)
{
    return listing_jobs (self, query, rid, count_only, page, bytes, json, reply, err,
                         err_size);
}

static void
s_on_list (broker_t *self, zframe_t *routing, async_inmsg_t *in, bool count_only)
{
    listing_on_list (self, routing, in, count_only);
}

static void
s_status_msg (broker_t *self, uint64_t rid, async_msg_t *reply)
{
    listing_status (self, rid, reply);
}

static void
s_on_status (broker_t *self, zframe_t *routing, async_inmsg_t *in)
{
    listing_on_status (self, routing, in);
}

static void
s_on_nodes (broker_t *self, zframe_t *routing, async_inmsg_t *in)
{
    listing_on_nodes (self, routing, in);
}

//  ---------------------------------------------------------------------
//  Handlers: nodes

//  WELCOME: the node's timings, and that RESULT may carry `results`
static void
s_send_welcome (broker_t *self, zframe_t *routing, uint64_t rid)
{
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_WELCOME, rid);
    async_msg_int (&msg, "heartbeat_ms", self->config.heartbeat_ms);
    async_msg_int (&msg, "dead_ms", self->config.dead_ms);
    async_msg_int (&msg, "batch", 1);
    s_send (self, routing, &msg);
}

//  A job a node holds from an attempt that an earlier broker process
//  handed out (ASSIGN goes before the commit that records it) and stopped
//  before recording: it is pending again here. The node that ran it (or
//  runs it) takes it back, so that it does not run twice
typedef struct {
    char id [ASYNC_ID_LEN];
    uint64_t token;
    char agent [ASYNC_MAX_NAME + 1];
} s_adopted_t;

//  Whether node `uuid` may take back `job` with this held entry: the job
//  waits in its queue for the attempt the entry names (the next one), the
//  token is the one an earlier process made for that very attempt on that
//  node, and so is the 64-bit proof that came with it in ASSIGN (token.h:
//  nobody else can make them; the token's 32-bit MAC alone could be
//  guessed online). An entry without a proof (a node older than proofs)
//  is never adopted
static bool
s_adoptable (broker_t *self, async_job_t *job, const char *uuid, uint64_t token,
             int64_t attempt, const uint64_t *proof)
{
    return proof && job->kind == ASYNC_KIND_TASK && job->status == ASYNC_PENDING
        && !job->held && attempt == (int64_t) job->attempts + 1
        && (token >> 32) < self->epoch
        && token_valid (&self->token_key, token, job->id, uuid, (int) attempt)
        && token_proof_valid (&self->token_key, *proof, token, job->id, uuid, (int) attempt)
        && s_is_queued (self, job);
}

//  Take the adopted jobs out of their queues, assigned to the session
static void
s_adopt (broker_t *self, session_t *session, zlistx_t *adopted)
{
    s_adopted_t *entry = (s_adopted_t *) zlistx_first (adopted);
    for (; entry; entry = (s_adopted_t *) zlistx_next (adopted)) {
        async_job_t *job = s_job_load (self, entry->id);
        dispatch_agent_t *agent = session_agent (session, entry->agent);
        if (!job || !agent || job->status != ASYNC_PENDING)
            continue;
        s_unqueue (self, job);
        if (job->begin_by && job->attempts == 0) {
            char key [64];
            store_delete (self->store, key,
                          keys_time (key, KEYS_DEADLINE, job->begin_after + job->begin_by, job->id));
        }
        dispatch_agent_take (agent);
        s_assign (self, session, agent, job, entry->token);
        s_job_save (self, job);
        async_log_info ("broker", "job.adopted", "job=%s node=%s attempt=%d reason=\"its "
                        "assignment was not recorded before the broker stopped\"", job->id,
                        session->uuid, job->attempts + 1);
    }
}

//  Node sessions from `address`, besides `old` and `other`
static size_t
s_address_sessions (broker_t *self, const char *address, session_t *old, session_t *other)
{
    size_t count = 0;
    session_t *session = (session_t *) zhashx_first (self->sessions);
    for (; session; session = (session_t *) zhashx_next (self->sessions))
        if (session != old && session != other && streq (session->address, address))
            count++;
    return count;
}

//  Refuse a HELLO: ERROR 6 with `reason` for the node (NULL: none), and
//  one warning line
static void
s_hello_refuse (broker_t *self, zframe_t *routing, async_inmsg_t *in, const char *uuid,
                const char *reason, const char *text)
{
    char host [SESSION_HOST + 1] = "";
    async_mp_str (in->body, "host", host, sizeof host);
    const char *peer = self->peer_address;
    async_log_warning ("broker", "node.refused", "node=%s host=%s address=%s "
                       "reason=\"%s\"", uuid, host, peer ? peer : "", text);
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_ERROR, in->rid);
    async_msg_int (&msg, "code", ASYNC_EREFUSED);
    async_msg_str (&msg, "message", text);
    if (reason)
        async_msg_str (&msg, "reason", reason);
    s_send (self, routing, &msg);
}

//  HELLOs refused for a uuid's key are logged one by one up to
//  S_KEY_LINES a second; past that they are counted, and the count goes
//  in the next line logged (a peer may send them as fast as it likes)
#define S_KEY_LINES 10

_Static_assert (SESSION_KEY_HASH == KEYS_BINDING_HASH, "a binding holds a key's hash");

//  A HELLO must prove the key its uuid is bound to (section 7, "One uuid,
//  one node"): the hash of its `uuid_key` is the one of the live session of
//  the uuid, else the one stored (b<uuid>); a uuid with neither is bound to
//  this key when its session is made (*bind). 0, or -1 when the HELLO was
//  refused (ERROR 6, reason uuid_key)
static int
s_hello_key (broker_t *self, zframe_t *routing, async_inmsg_t *in, const char *uuid,
             uint8_t *hash, bool *bind)
{
    char text [512] = "";
    *bind = false;
    if (session_key_hash (in->body, hash))
        snprintf (text, sizeof text, "HELLO needs uuid_key, the key beside the node's "
                  "uuid (64 hex digits); an asyncnode older than the broker sends none: "
                  "upgrade it");
    else {
        session_t *live = (session_t *) zhashx_lookup (self->nodes, uuid);
        //  A binding not written yet (its session may be gone already) is
        //  not in the store: the batches being built and written hold it
        const uint8_t *unwritten = NULL;
        if (!live) {
            unwritten = (const uint8_t *) zhashx_lookup (self->bindings_staged, uuid);
            if (!unwritten)
                unwritten = (const uint8_t *) zhashx_lookup (self->flight_bindings, uuid);
        }
        uint8_t stored [SESSION_KEY_HASH];
        char key [KEYS_ID_SIZE], *value = NULL;
        size_t size = 0;
        int rc = live || unwritten ? 0 : store_get (self->store, key,
                                                    keys_binding (key, uuid), &value, &size);
        if (rc == ASYNC_ENOJOB)
            *bind = true;
        else
        if (rc) {
            s_error (self, routing, in->rid, ASYNC_EREFUSED, "HELLO refused: the store "
                     "cannot be read; try again later");
            return -1;
        }
        else
        if (live ? !session_key_is (live, hash)
          : unwritten ? sodium_memcmp (unwritten, hash, SESSION_KEY_HASH) != 0
          : !keys_binding_parse (value, size, stored)
            || sodium_memcmp (stored, hash, SESSION_KEY_HASH) != 0)
            snprintf (text, sizeof text, "uuid %s is bound to another key: this node's "
                      "uuid file was copied from another node, or this is not the node "
                      "that first used it; give this node its own uuid: delete its uuid "
                      "file (a new uuid and key are then made) and start it again", uuid);
        free (value);
    }
    if (!*text)
        return 0;
    int64_t mono = async_mono_us ();
    if (mono - self->key_window >= 1000000) {
        self->key_window = mono;
        self->key_lines = 0;
    }
    if (self->key_lines < S_KEY_LINES) {
        self->key_lines++;
        char host [SESSION_HOST + 1] = "";
        async_mp_str (in->body, "host", host, sizeof host);
        const char *peer = self->peer_address;
        async_log_warning ("broker", "node.refused", "node=%s host=%s address=%s "
                           "unlogged=%" PRIu64 " reason=\"%s\"", uuid, host,
                           peer ? peer : "", self->key_quiet, text);
        self->key_quiet = 0;
    }
    else
        self->key_quiet++;
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_ERROR, in->rid);
    async_msg_int (&msg, "code", ASYNC_EREFUSED);
    async_msg_str (&msg, "message", text);
    async_msg_str (&msg, "reason", "uuid_key");
    s_send (self, routing, &msg);
    return -1;
}

//  Whether the broker-wide budgets leave no room for the session of this
//  (checked) HELLO, besides the sessions `old` and `other` that it would
//  replace: the memory of all sessions (--sessions-memory) and their
//  number (--sessions-max). If so, refuse it with ERROR 6, reason
//  `sessions_full` (the node says HELLO again 2 s later), and say so in a
//  warning line at most once a second, with how many were refused
#define S_FULL_LOG_US 1000000

static bool
s_sessions_full (broker_t *self, zframe_t *routing, async_inmsg_t *in, const char *uuid,
                 session_t *old, session_t *other)
{
    size_t cost = session_hello_cost (in->body);
    size_t bytes = self->session_bytes, count = zhashx_size (self->sessions);
    session_t *replaced [2] = { old, other != old ? other : NULL };
    for (int i = 0; i < 2; i++)
        if (replaced [i]) {
            bytes -= replaced [i]->cost;
            count--;
        }
    if (count < self->config.sessions_max && cost <= self->config.sessions_memory
    &&  bytes <= self->config.sessions_memory - cost)
        return false;
    char text [300];
    if (count >= self->config.sessions_max)
        snprintf (text, sizeof text, "HELLO refused: the broker has %zu node sessions "
                  "(at most %zu, --sessions-max); try again later", count,
                  self->config.sessions_max);
    else
        snprintf (text, sizeof text, "HELLO refused: this session would cost %zu bytes and "
                  "the node sessions hold %zu of %" PRIu64 " (--sessions-memory); try "
                  "again later", cost, bytes, self->config.sessions_memory);
    self->full_refused++;
    int64_t mono = async_mono_us ();
    if (self->full_logged == 0 || mono - self->full_logged >= S_FULL_LOG_US) {
        const char *peer = self->peer_address;
        async_log_warning ("broker", "sessions.full", "node=%s address=%s sessions=%zu "
                           "bytes=%zu refused=%" PRIu64 " reason=\"%s\"", uuid,
                           peer ? peer : "", count, bytes, self->full_refused, text);
        self->full_logged = mono;
        self->full_refused = 0;
    }
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_ERROR, in->rid);
    async_msg_int (&msg, "code", ASYNC_EREFUSED);
    async_msg_str (&msg, "message", text);
    async_msg_str (&msg, "reason", "sessions_full");
    s_send (self, routing, &msg);
    return true;
}

//  Whether the disk is under its reserve (--min-free), so that the first
//  HELLO of a uuid, which would write its binding, is refused: ERROR 6,
//  reason `disk_low` (the node says HELLO again 2 s later), and a warning
//  line at most once a second, with how many were refused
static bool
s_hello_disk_low (broker_t *self, zframe_t *routing, async_inmsg_t *in, const char *uuid)
{
    if (!s_disk_low (self))
        return false;
    const char *text = "HELLO refused: the broker's disk is full (free space under its "
                       "--min-free reserve) and the first HELLO of a uuid writes its "
                       "binding; try again when there is space";
    self->disk_hello_refused++;
    int64_t mono = async_mono_us ();
    if (self->disk_hello_logged == 0 || mono - self->disk_hello_logged >= S_FULL_LOG_US) {
        const char *peer = self->peer_address;
        async_log_warning ("broker", "node.refused", "node=%s address=%s refused=%" PRIu64
                           " reason=\"%s\"", uuid, peer ? peer : "",
                           self->disk_hello_refused, text);
        self->disk_hello_logged = mono;
        self->disk_hello_refused = 0;
    }
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_ERROR, in->rid);
    async_msg_int (&msg, "code", ASYNC_EREFUSED);
    async_msg_str (&msg, "message", text);
    async_msg_str (&msg, "reason", "disk_low");
    s_send (self, routing, &msg);
    return true;
}

static void
s_on_hello (broker_t *self, zframe_t *routing, char *rkey, async_inmsg_t *in)
{
    uint8_t key_hash [SESSION_KEY_HASH];
    bool bind = false;
    char uuid [ASYNC_ID_LEN], nonce [ASYNC_ID_LEN] = "";
    if (async_mp_str (in->body, "uuid", uuid, sizeof uuid) || !async_id_valid (uuid)) {
        s_error (self, routing, in->rid, ASYNC_EREFUSED, "HELLO needs the node's uuid");
        return;
    }
    async_mp_str (in->body, "session", nonce, sizeof nonce);
    const msgpack_object *agents = async_mp_get (in->body, "agents");
    if (!agents || agents->type != MSGPACK_OBJECT_ARRAY || agents->via.array.size == 0
    ||  agents->via.array.size > SESSION_AGENTS) {
        s_hello_refuse (self, routing, in, uuid, "hello_limit",
                        "HELLO needs 1 to 64 agents");
        return;
    }
    //  The uuid's key, before anything trusts the uuid
    if (s_hello_key (self, routing, in, uuid, key_hash, &bind))
        return;
    //  A session on this routing id already: the same process said HELLO
    //  again (its first HELLO was slow to be answered). Nothing changed:
    //  answer it again, and keep the session and every job on it (some may
    //  have been assigned after the node wrote this HELLO)
    session_t *old = (session_t *) zhashx_lookup (self->sessions, rkey);
    if (old && streq (old->session, nonce) && streq (old->uuid, uuid)) {
        s_send_welcome (self, routing, in->rid);
        return;
    }
    //  Budgets, before anything is allocated for it
    char text [512], why [400];
    if (session_hello_check (in->body, agents, why, sizeof why)) {
        snprintf (text, sizeof text, "HELLO refused: %s", why);
        s_hello_refuse (self, routing, in, uuid, "hello_limit", text);
        return;
    }
    //  A uuid's first HELLO writes its binding, kept for good: not while
    //  the disk is under its reserve
    if (bind && s_hello_disk_low (self, routing, in, uuid))
        return;
    session_t *other = (session_t *) zhashx_lookup (self->nodes, uuid);
    const char *address = self->peer_address ? self->peer_address : "";
    size_t sessions = s_address_sessions (self, address, old, other);
    if (sessions >= SESSION_PER_ADDRESS) {
        snprintf (text, sizeof text, "HELLO refused: %zu node sessions from address %.64s "
                  "already (at most %d); try again later", sessions, address,
                  SESSION_PER_ADDRESS);
        s_hello_refuse (self, routing, in, uuid, NULL, text);
        return;
    }
    if (s_sessions_full (self, routing, in, uuid, old, other))
        return;
    //  Another session of this uuid, from another process, that is alive
    //  and not on this machine: the uuid is in use, this HELLO is refused
    //  and the live node is left alone (section 7, "One uuid, one node")
    if (other && other != old && session_keeps_uuid (other, in->body, (int64_t) self->config.heartbeat_ms * 1000,
                                                  async_mono_us ())) {
        snprintf (text, sizeof text, "uuid %s is in use by a live node on host %.200s "
                  "(pid %" PRId64 "); give each node its own uuid: delete this node's "
                  "uuid file (a new uuid is then made) and start it again", uuid,
                  other->host ? other->host : "", other->pid);
        s_hello_refuse (self, routing, in, uuid, "uuid_in_use", text);
        return;
    }
    //  The jobs the node still holds, kept when they are live with that
    //  token and assigned to this uuid; any other session of the uuid is
    //  superseded below. An entry for a job of another node is refused
    zhashx_t *kept = zhashx_new ();       //  id -> agent name
    zhashx_set_destructor (kept, (zhashx_destructor_fn *) zstr_free);
    zlistx_t *adopted = zlistx_new ();    //  s_adopted_t *: see s_adoptable
    zlistx_set_destructor (adopted, s_free_item);
    size_t refused = 0;
    const msgpack_object *held = async_mp_get (in->body, "held");
    uint32_t nheld = held && held->type == MSGPACK_OBJECT_ARRAY ? held->via.array.size : 0;
    if (nheld > SESSION_HELD) {
        refused += nheld - SESSION_HELD;        //  each costs a look-up: not read
        nheld = SESSION_HELD;
    }
    //  Adoption candidates (held entries for pending jobs): every entry
    //  read is checked once, and every miss is refused. Not a number per
    //  slot: a result's ACK waits for the commit that records it, while
    //  its slot takes the next job at once, so behind one slow write a
    //  node of one slot holds as many finished jobs as it ran meanwhile.
    //  A guess needs the 64-bit proof, so the first SESSION_HELD entries
    //  give 2^-50 at most per HELLO
    for (uint32_t i = 0; i < nheld; i++) {
        char id [ASYNC_ID_LEN], agent_name [ASYNC_MAX_NAME + 1];
        uint64_t token, proof;
        int64_t attempt = 0;
        const msgpack_object *h = &held->via.array.ptr [i];
        if (async_mp_str (h, "id", id, sizeof id) || async_mp_uint (h, "token", &token)
        ||  async_mp_str (h, "agent", agent_name, sizeof agent_name)) {
            refused++;
            continue;
        }
        async_mp_int (h, "attempt", &attempt);
        bool has_proof = async_mp_uint (h, "proof", &proof) == 0;
        async_job_t *job = s_job_load (self, id);
        if (job && job->status == ASYNC_PENDING) {
            if (s_adoptable (self, job, uuid, token, attempt, has_proof ? &proof : NULL)) {
                s_adopted_t *entry = async_xcalloc (1, sizeof (s_adopted_t));
                memcpy (entry->id, id, ASYNC_ID_LEN);
                entry->token = token;
                snprintf (entry->agent, sizeof entry->agent, "%s", agent_name);
                zlistx_add_end (adopted, entry);
            }
            else
                refused++;              //  not adopted: no valid proof
            continue;
        }
        if (!job || !s_job_is_live (job))
            continue;                   //  stale: the attempt ended meanwhile
        if (strcmp (job->node, uuid) != 0)
            refused++;                  //  runs on another node: not ours to take
        else
        if (job->token == token)
            zhashx_insert (kept, id, async_xstrdup (agent_name));
    }
    if (refused)
        async_log_warning ("broker", "node.held_refused", "node=%s refused=%zu "
                           "reason=\"held entries malformed, over the first %d, for "
                           "jobs assigned to other nodes, or for pending jobs not taken "
                           "back (no valid proof); ignored\"", uuid, refused, SESSION_HELD);
    //  A connection that says HELLO with another uuid leaves its former
    //  uuid for good: that node is forgotten, not awaited after a restart
    char former [ASYNC_ID_LEN] = "";
    if (old && !streq (old->uuid, uuid) && zhashx_lookup (self->nodes, old->uuid) == old)
        snprintf (former, sizeof former, "%s", old->uuid);
    session_t *previous [2] = { old, other != old ? other : NULL };
    for (int i = 0; i < 2; i++) {
        session_t *session = previous [i];
        if (!session)
            continue;
        //  Detach the jobs the node keeps, so they are not interrupted
        const char *id = (const char *) zhashx_first (kept);
        while (id) {
            id = (const char *) zhashx_cursor (kept);
            async_idmap_delete (session->jobs, id);
            id = (const char *) zhashx_next (kept);
        }
        s_session_drop (self, session, session == old ? "re-registered" : "superseded");
    }
    if (*former)
        s_node_forget (self, former);
    session_t *session = session_new (self->dispatch, rkey, routing, uuid, nonce,
                                      self->peer_address, in->body);
    zhashx_insert (self->sessions, rkey, session);
    self->session_bytes += session->cost;
    zhashx_insert (self->nodes, uuid, session);
    s_node_known (self, uuid);
    if (bind) {
        char key [KEYS_ID_SIZE];
        store_put (self->store, key, keys_binding (key, uuid), key_hash, SESSION_KEY_HASH);
        uint8_t *copy = (uint8_t *) async_xmalloc (SESSION_KEY_HASH);
        memcpy (copy, key_hash, SESSION_KEY_HASH);
        zhashx_update (self->bindings_staged, uuid, copy);
        async_log_info ("broker", "node.bound", "node=%s reason=\"the uuid's first "
                        "HELLO: bound to its key\"", uuid);
    }
    zhashx_delete (self->dead_nodes, uuid);
    //  Re-attach the jobs it holds
    char *agent_name = (char *) zhashx_first (kept);
    while (agent_name) {
        const char *id = (const char *) zhashx_cursor (kept);
        async_job_t *job = s_job_load (self, id);
        dispatch_agent_t *agent = session_agent (session, agent_name);
        if (job && agent) {
            dispatch_agent_take (agent);
            async_idmap_insert (session->jobs, id, agent);
            memcpy (job->node, uuid, ASYNC_ID_LEN);
            zhashx_delete (self->orphans, id);
        }
        agent_name = (char *) zhashx_next (kept);
    }
    zhashx_destroy (&kept);
    s_adopt (self, session, adopted);
    zlistx_destroy (&adopted);
    async_log_info ("broker", "node.hello", "node=%s agents=%u held=%zu address=%s",
                    uuid, agents->via.array.size, async_idmap_size (session->jobs),
                    session->address);
    s_send_welcome (self, routing, in->rid);
    //  A job cancelled while its node was away (a broker restart): the
    //  node learns it now
    void *held_agent = async_idmap_first (session->jobs);
    for (; held_agent; held_agent = async_idmap_next (session->jobs)) {
        async_job_t *job = s_job_load (self, async_idmap_cursor (session->jobs));
        if (job && job->cancelled_at)
            s_send_cancel (self, session, job);
    }
}

//  A node message about job `id` with `token`: the live job, or NULL if
//  the attempt is no longer current (the node was declared dead, the job
//  reassigned)
static async_job_t *
s_current_attempt (broker_t *self, session_t *session, async_inmsg_t *in, char *id)
{
    uint64_t token = 0;
    if (async_mp_str (in->body, "id", id, ASYNC_ID_LEN) || async_mp_uint (in->body, "token", &token))
        return NULL;
    async_job_t *job = (async_job_t *) async_idmap_lookup (self->jobs, id);
    if (!job || !s_job_is_live (job) || job->token != token
    ||  strcmp (job->node, session->uuid) != 0)
        return NULL;
    return job;
}

//  Whether a RESULT that is not for a current attempt is for the attempt
//  whose result the broker took last (the job in memory, or its record in
//  the store): the same node and token, the job no longer waiting for that
//  attempt
static bool
s_result_taken (broker_t *self, session_t *session, async_inmsg_t *in, const char *id)
{
    uint64_t token = 0;
    if (async_mp_uint (in->body, "token", &token))
        return false;
    //  Not in memory: completed and written before a broker restart, whose
    //  ACK was lost with the broker (one point read, for a RESULT of at
    //  most ASYNC_MAX_RESULTS entries)
    async_job_t *job = (async_job_t *) async_idmap_lookup (self->jobs, id);
    async_job_t *stored = NULL;
    if (!job && async_id_valid (id))
        job = stored = s_job_read (self, id);
    bool taken = job && job->token == token && streq (job->node, session->uuid)
              && !s_job_is_live (job);
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

static void
s_on_started (broker_t *self, session_t *session, async_inmsg_t *in)
{
    char id [ASYNC_ID_LEN];
    async_job_t *job = s_current_attempt (self, session, in, id);
    if (!job || job->status != ASYNC_ASSIGNED)
        return;
    //  Kept in memory (a live job stays cached) and written with the
    //  job's next change: a broker killed meanwhile finds it 'assigned',
    //  which recovers the same way (its node re-attaches it)
    job->status = ASYNC_ACTIVE;
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
        async_log_info ("broker", "job.retry", "job=%s node=%s attempt=%d type=%s",
                        job->id, job->node, job->attempts, type);
        async_blob_clear (&job->failure);
        job->not_before = async_now_us () + policy_backoff (&policy, job->attempts);
        metrics_count (self->metrics, METRICS_RETRIED, job->queue, job->task);
        s_enqueue (self, job, false);
        s_outcome_staged (self);
    }
    else
        s_job_complete (self, job);
}

//  How far a chain of hand-offs is followed to find a cycle
#define S_HANDOFF_HOPS 1000

//  The task completed with "the result of job `target`": the job stays
//  active, holding no slot, until the target completes
static void
s_handoff (broker_t *self, async_job_t *job, const char *target_id)
{
    async_job_t *target = async_id_valid (target_id) && strcmp (target_id, job->id)
                        ? s_job_load (self, target_id) : NULL;
    if (!target) {
        async_failure_make (&job->failure, "BadArgumentsError",
                            "the task handed off to a job that does not exist", "",
                            false, job->node, job->attempts);
        s_job_complete (self, job);
        return;
    }
    if (target->status == ASYNC_COMPLETED) {
        async_blob_set (&job->result, target->result.data, target->result.size);
        async_blob_set (&job->failure, target->failure.data, target->failure.size);
        s_job_complete (self, job);
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
            s_job_complete (self, job);
            return;
        }
        hop = s_job_load (self, hop->handoff);
    }
    memcpy (job->handoff, target->id, ASYNC_ID_LEN);
    char key [KEYS_HANDOFF_SIZE];
    s_live_put (self, job->id, "", 0, false);
    store_put (self->store, key, keys_handoff (key, target->id, job->id), "", 0);
    s_handoff_add (self, target->id, job->id);
    s_job_save (self, job);
    s_outcome_staged (self);
    async_log_debug ("broker", "job.handoff", "job=%s target=%s", job->id, target->id);
}

//  Remember that `waiting` handed off to `target` (in memory; the w key
//  is the durable copy)
static void
s_handoff_add (broker_t *self, const char *target, const char *waiting)
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
        async_job_t *job = s_job_load (self, id);
        if (job && job->status != ASYNC_COMPLETED && job->status != ASYNC_CALLBACKS
        &&  streq (job->handoff, done->id)) {
            async_blob_set (&job->result, done->result.data, done->result.size);
            async_blob_set (&job->failure, done->failure.data, done->failure.size);
            s_job_complete (self, job);
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

//  Send an ACK (now, or after the commit when `later`), or keep its body
//  for the ACK of a batch
static void
s_ack (broker_t *self, zframe_t *routing, async_msg_t *ack, bool later, s_acks_t *acks)
{
    if (acks) {
        async_sbuffer_write (&acks->bodies, ack->buffer.data + ack->body,
                               ack->buffer.size - ack->body);
        acks->count++;
        async_msg_destroy (ack);
    }
    else
    if (later)
        s_ack_later (self, routing, ack, ack->buffer.data + ack->body,
                     ack->buffer.size - ack->body, 1);
    else
        s_send (self, routing, ack);
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
static void
s_log_rejected_count (broker_t *self)
{
    uint64_t quiet = async_rate_quiet (&self->rejects);
    if (quiet)
        async_log_warning ("broker", "results.rejected", "count=%" PRIu64 " message=\"results "
                           "from attempts that are no longer current were rejected; over %d "
                           "a second they are counted, not logged one by one\"",
                           quiet, S_REJECT_LINES);
}

//  RESULT: one result, or `results` (a batch) answered by one ACK
static void
s_on_results (broker_t *self, session_t *session, zframe_t *routing, async_inmsg_t *in)
{
    const msgpack_object *results = async_mp_get (in->body, "results");
    if (!results) {
        s_on_result (self, session, routing, in, NULL);
        return;
    }
    //  At most ASYNC_MAX_RESULTS entries are read: a node sends what its
    //  workers finished in one turn, and a longer batch would hold the
    //  loop (and every PING behind it) for one peer. The rest is ignored,
    //  and counted in one line; the node sends those again, unacknowledged
    uint32_t size = results->type == MSGPACK_OBJECT_ARRAY ? results->via.array.size : 0;
    if (size > ASYNC_MAX_RESULTS) {
        async_log_warning ("broker", "results.capped", "node=%s count=%" PRIu32
                           " message=\"entries of one RESULT past the first %d "
                           "were ignored\"", session->uuid, size - ASYNC_MAX_RESULTS,
                           ASYNC_MAX_RESULTS);
        size = ASYNC_MAX_RESULTS;
    }
    s_acks_t acks = { .count = 0 };
    msgpack_sbuffer_init (&acks.bodies);
    for (uint32_t i = 0; i < size; i++) {
        if (results->via.array.ptr [i].type != MSGPACK_OBJECT_MAP)
            continue;
        async_inmsg_t one = *in;
        one.body = &results->via.array.ptr [i];
        s_on_result (self, session, routing, &one, &acks);
    }
    async_msg_t ack;
    async_msg_init (&ack, ASYNC_S_ACK, in->rid);
    async_msg_key (&ack, "acks");
    msgpack_pack_array (&ack.packer, acks.count);
    async_sbuffer_write (&ack.buffer, acks.bodies.data, acks.bodies.size);
    s_ack_later (self, routing, &ack, acks.bodies.data, acks.bodies.size, acks.count);
    msgpack_sbuffer_destroy (&acks.bodies);
}

static void
s_on_result (broker_t *self, session_t *session, zframe_t *routing, async_inmsg_t *in,
             s_acks_t *acks)
{
    char id [ASYNC_ID_LEN] = "";
    async_job_t *job = s_current_attempt (self, session, in, id);
    async_msg_t ack;
    async_msg_init (&ack, ASYNC_S_ACK, in->rid);
    async_msg_str (&ack, "id", id);
    if (!job && s_result_taken (self, session, in, id)) {
        //  This attempt's result again (re-sent on a WELCOME, or after
        //  500 ms): it was taken already, maybe not yet written. Its ACK
        //  goes after the commit like the first one's; a rejecting ACK now
        //  would make the node forget a result the store may not hold yet
        async_msg_int (&ack, "rejected", 0);
        s_ack (self, routing, &ack, true, acks);
        return;
    }
    if (!job) {
        s_log_rejected (self, id, session->uuid);
        async_msg_int (&ack, "rejected", 1);
        s_ack (self, routing, &ack, false, acks);
        return;
    }
    async_msg_int (&ack, "rejected", 0);
    if (job->status == ASYNC_ASSIGNED) {
        //  No STARTED (a short job): it ran for ran_us, by the node's clock
        int64_t ran_us = 0;
        async_mp_int (in->body, "ran_us", &ran_us);
        if (ran_us < 0 || ran_us > 3600 * 1000000LL)
            ran_us = 0;
        job->attempts++;
        job->active_start = async_now_us () - ran_us;
        s_metrics_started (self, job);
    }
    s_release (self, job);
    job->active_end = async_now_us ();
    metrics_run (self->metrics, job->queue, (job->active_end - job->active_start) / 1e6);
    const msgpack_object *failure = async_mp_get (in->body, "failure");
    const msgpack_object *result = async_mp_get (in->body, "result");
    char target [ASYNC_ID_LEN];
    if (async_mp_str (in->body, "handoff", target, sizeof target) == 0) {
        s_handoff (self, job, target);
        s_ack (self, routing, &ack, true, acks);
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
        s_job_complete (self, job);
    }
    s_ack (self, routing, &ack, true, acks);
}

static void
s_on_progress (broker_t *self, session_t *session, async_inmsg_t *in)
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
        s_job_save (self, job);
        int64_t done = 0, total = 0;
        async_mp_int (progress, "done", &done);
        async_mp_int (progress, "total", &total);
        s_notify_progress (self, job->id, done, total);
    }
}

static void
s_on_annotate (broker_t *self, zframe_t *routing, async_inmsg_t *in)
{
    char id [ASYNC_ID_LEN], name [ASYNC_MAX_NAME + 1];
    const msgpack_object *value = async_mp_get (in->body, "value");
    async_job_t *job = s_read_id (in, id) ? NULL : s_job_load (self, id);
    if (!job) {
        s_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job");
        return;
    }
    if (async_mp_str (in->body, "name", name, sizeof name) || !value) {
        s_error (self, routing, in->rid, ASYNC_EREFUSED, "ANNOTATE needs a name and a value");
        return;
    }
    //  Rebuild the annotations map with name set
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    uint32_t count = 0;
    const msgpack_object *map = NULL;
    if (job->annotations.size
    &&  msgpack_unpack_next (&unpacked, (const char *) job->annotations.data,
                             job->annotations.size, &offset) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP)
        map = &unpacked.data;
    for (uint32_t i = 0; map && i < map->via.map.size; i++)
        if (!async_mp_streq (&map->via.map.ptr [i].key, name))
            count++;
    msgpack_pack_map (&pk, count + 1);
    for (uint32_t i = 0; map && i < map->via.map.size; i++)
        if (!async_mp_streq (&map->via.map.ptr [i].key, name)) {
            msgpack_pack_object (&pk, map->via.map.ptr [i].key);
            msgpack_pack_object (&pk, map->via.map.ptr [i].val);
        }
    async_codec_pack_str (&pk, name);
    msgpack_pack_object (&pk, *value);
    msgpack_unpacked_destroy (&unpacked);
    if (buffer.size > SPEC_ANNOTATIONS_MAX) {
        //  Every later read and write of the job carries them all
        char err [160];
        snprintf (err, sizeof err, "the job's annotations would take %zu bytes; at most "
                  "%d", buffer.size, SPEC_ANNOTATIONS_MAX);
        msgpack_sbuffer_destroy (&buffer);
        s_error (self, routing, in->rid, ASYNC_EREFUSED, err);
        return;
    }
    async_blob_take (&job->annotations, (uint8_t *) buffer.data, buffer.size);
    s_job_save (self, job);
    self->durable = true;
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_OK, in->rid);
    s_reply_later (self, routing, &msg);
}

//  Add a callback to a job in any status; on a completed job it runs now
static void
s_on_add_callback (broker_t *self, zframe_t *routing, async_inmsg_t *in)
{
    char id [ASYNC_ID_LEN];
    async_job_t *job = s_read_id (in, id) ? NULL : s_job_load (self, id);
    if (!job) {
        s_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job");
        return;
    }
    int on = spec_callback_on (async_mp_get (in->body, "on"));
    if (on < 0) {
        s_error (self, routing, in->rid, ASYNC_EREFUSED,
                 "\"on\" must be always, success or failure");
        return;
    }
    zlistx_t *jobs = zlistx_new ();
    zlistx_set_destructor (jobs, (zlistx_destructor_fn *) async_job_destroy);
    char err [300];
    if (spec_parse (async_mp_get (in->body, "spec"), async_now_us (), jobs, err, sizeof err)
    ||  s_check_quotas (self, jobs, err, sizeof err)) {
        s_error (self, routing, in->rid, ASYNC_EREFUSED, err);
        zlistx_destroy (&jobs);
        return;
    }
    async_job_t *callback = (async_job_t *) zlistx_first (jobs);
    if (callback->kind != ASYNC_KIND_TASK || callback->key) {
        s_error (self, routing, in->rid, ASYNC_EREFUSED, callback->key
                 ? "a callback has no idempotency key: key is for the job submitted"
                 : "a callback is a task, not a parallel or serial job");
        zlistx_destroy (&jobs);
        return;
    }
    callback->role = ASYNC_ROLE_CALLBACK;
    callback->on = on;
    memcpy (callback->parent, job->id, ASYNC_ID_LEN);
    if (!async_mp_get (async_mp_get (in->body, "spec"), "queue"))
        async_job_set_str (&callback->queue, job->queue);
    char cid [ASYNC_ID_LEN];
    memcpy (cid, callback->id, ASYNC_ID_LEN);
    s_jobs_adopt (self, &jobs);
    async_job_add_callback (job, cid);
    s_job_save (self, job);
    if (job->status == ASYNC_COMPLETED) {
        //  Runs at once; the job stays completed
        job->callbacks_next = (int) job->ncallbacks;
        s_start_callback (self, job, s_job_load (self, cid));
    }
    self->durable = true;
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_CALLBACK, in->rid);
    async_msg_str (&msg, "callback", cid);
    s_reply_later (self, routing, &msg);
}

//  ---------------------------------------------------------------------
//  Recurring schedules

//  Submit a schedule's spec for one tick: its idempotency key is the
//  tick's, so a tick whose batch committed creates nothing again
static int
s_every_submit (void *arg, const msgpack_object *spec, const char *key, char *id_out,
                char *err, size_t err_size)
{
    broker_t *self = (broker_t *) arg;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    uint32_t fields = 1;
    for (uint32_t i = 0; i < spec->via.map.size; i++)
        fields += !async_mp_streq (&spec->via.map.ptr [i].key, "key");
    msgpack_pack_map (&pk, fields);
    for (uint32_t i = 0; i < spec->via.map.size; i++)
        if (!async_mp_streq (&spec->via.map.ptr [i].key, "key")) {
            msgpack_pack_object (&pk, spec->via.map.ptr [i].key);
            msgpack_pack_object (&pk, spec->via.map.ptr [i].val);
        }
    async_codec_pack_str (&pk, "key");
    async_codec_pack_str (&pk, key);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    int rc = -1;
    bool existing;
    if (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset)
        == MSGPACK_UNPACK_SUCCESS)
        rc = s_submit (self, &unpacked.data, id_out, &existing, err, err_size);
    else
        snprintf (err, err_size, "the schedule's spec could not be read");
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
    return rc;
}

//  What a schedule may make the broker do: at most S_EVERY_JOBS jobs a
//  tick and S_EVERY_RATE jobs a second of its interval, and at most
//  S_EVERY_MAX schedules (a schedule submits by itself, for ever); all
//  schedules together at most S_EVERY_TOTAL jobs a second. A loop turn
//  runs schedules until they made S_EVERY_TURN_JOBS jobs; the rest run
//  on the next turns, with messages served in between
#define S_EVERY_JOBS        EVERY_JOBS_MAX
#define S_EVERY_RATE        100
#define S_EVERY_MAX         10000
#define S_EVERY_TOTAL       1000
#define S_EVERY_TURN_JOBS   200
//  While a commit is in flight and this many jobs are staged already, the
//  schedules wait for it (the loop wakes when it is done), so that ticks
//  never stage faster than the store writes
#define S_EVERY_STAGED_JOBS 4096
//  How often the loop looks again at schedules that are due but held (the
//  disk under its reserve is checked every 100 ms)
#define S_EVERY_HELD_US     10000

//  0, or -1 with the reason in err
static int
s_every_budget (broker_t *self, const char *name, size_t jobs, int64_t interval_us,
                char *err, size_t err_size)
{
    if (!every_has (self->every, name) && every_size (self->every) >= S_EVERY_MAX) {
        snprintf (err, err_size, "there are %d schedules already (at most %d); delete "
                  "one first", S_EVERY_MAX, S_EVERY_MAX);
        return -1;
    }
    //  jobs per second of interval: jobs * 1e6 / interval_us, without a
    //  division that rounds a fast schedule down to nothing
    if (jobs > S_EVERY_JOBS
    ||  (int64_t) jobs * 1000000 > (int64_t) S_EVERY_RATE * interval_us) {
        snprintf (err, err_size, "a schedule of %zu jobs a tick every %.3fs is over the "
                  "budget: at most %d jobs a tick and %d a second", jobs,
                  interval_us / 1e6, S_EVERY_JOBS, S_EVERY_RATE);
        return -1;
    }
    //  All schedules together, in thousandths of a job a second (as
    //  every_rate): the others' and this one's (it replaces its namesake)
    uint64_t others = every_rate (self->every, name);
    uint64_t rate = ((uint64_t) jobs * 1000000000ULL + (uint64_t) interval_us - 1)
                  / (uint64_t) interval_us;
    if (others + rate > (uint64_t) S_EVERY_TOTAL * 1000) {
        snprintf (err, err_size, "schedule '%s' (%.3f jobs a second) is over the budget "
                  "of all schedules together: the others make %.3f jobs a second, at "
                  "most %d in all; delete or slow down some first", name,
                  rate / 1000.0, others / 1000.0, S_EVERY_TOTAL);
        return -1;
    }
    return 0;
}

static void
s_on_every (broker_t *self, zframe_t *routing, async_inmsg_t *in, async_command_t cmd)
{
    char name [ASYNC_MAX_NAME + 1] = "", err [300];
    async_mp_str (in->body, "name", name, sizeof name);
    if (cmd == ASYNC_C_EVERY_LIST) {
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_S_SCHEDULES, in->rid);
        async_msg_key (&msg, "schedules");
        every_pack_list (self->every, &msg.packer);
        s_send (self, routing, &msg);
        return;
    }
    if (cmd == ASYNC_C_EVERY_SET) {
        int64_t interval_ms = 0, interval_us = 0;
        const msgpack_object *spec = async_mp_get (in->body, "spec");
        //  A spec that would never submit is refused now, not at each tick
        zlistx_t *jobs = zlistx_new ();
        zlistx_set_destructor (jobs, (zlistx_destructor_fn *) async_job_destroy);
        int rc = async_mp_int (in->body, "interval_ms", &interval_ms) ? -1 : 0;
        if (rc)
            snprintf (err, sizeof err, "EVERY-SET needs interval_ms");
        else
        if ((rc = async_mul_i64 (interval_ms, 1000, &interval_us)
               || interval_us < EVERY_INTERVAL_MIN || interval_us > EVERY_INTERVAL_MAX ? -1 : 0))
            snprintf (err, sizeof err, "bad interval for schedule '%s': give 1s to 366d",
                      name);
        else
            rc = spec_parse (spec, async_now_us (), jobs, err, sizeof err)
              || s_check_quotas (self, jobs, err, sizeof err)
              || s_every_budget (self, name, zlistx_size (jobs), interval_us, err,
                                 sizeof err)
              || every_set (self->every, name, interval_us, spec, zlistx_size (jobs),
                            async_now_us (), err, sizeof err);
        zlistx_destroy (&jobs);
        if (rc) {
            s_error (self, routing, in->rid, ASYNC_EREFUSED, err);
            return;
        }
        async_log_info ("broker", "every.set", "schedule=%s interval_ms=%" PRId64,
                        name, interval_ms);
    }
    else
    if (every_delete (self->every, name)) {
        s_error (self, routing, in->rid, ASYNC_EREFUSED, "no such schedule");
        return;
    }
    self->durable = true;
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_OK, in->rid);
    s_reply_later (self, routing, &msg);
}

//  ---------------------------------------------------------------------
//  Quotas

static void
s_on_quota (broker_t *self, zframe_t *routing, async_inmsg_t *in, async_command_t cmd)
{
    char name [ASYNC_MAX_NAME + 1];
    bool named = async_mp_str (in->body, "name", name, sizeof name) == 0 && *name;
    for (char *c = name; named && *c; c++)
        if (!isalnum ((unsigned char) *c) && !strchr ("_-.:", *c))
            named = false;
    if (cmd == ASYNC_C_QUOTA_LIST) {
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_S_QUOTAS, in->rid);
        async_msg_key (&msg, "quotas");
        quota_pack_list (self->quotas, &msg.packer);
        s_send (self, routing, &msg);
        return;
    }
    if (!named) {
        s_error (self, routing, in->rid, ASYNC_EREFUSED, "a quota name is letters, "
                 "digits and _-.: (at most 200)");
        return;
    }
    char key [KEYS_MAX];
    size_t klen = keys_name (key, KEYS_QUOTA, name);
    if (cmd == ASYNC_C_QUOTA_SET) {
        int64_t size;
        if (async_mp_int (in->body, "size", &size) || size < 1 || size > QUOTA_SIZE_MAX) {
            s_error (self, routing, in->rid, ASYNC_EREFUSED, "a quota size is a whole "
                     "number from 1 to 1000000000");
            return;
        }
        if (quota_set (self->quotas, name, size)) {
            //  A quota made (again) while jobs naming it run: they count,
            //  or their ends would take it below zero, past its size
            async_job_t *job = (async_job_t *) async_idmap_first (self->jobs);
            for (; job; job = (async_job_t *) async_idmap_next (self->jobs))
                if (s_job_is_live (job))
                    quota_count_one (self->quotas, &job->quotas, name, +1);
        }
        uint8_t value [8];
        store_put_be64 (value, (uint64_t) size);
        store_put (self->store, key, klen, value, 8);
        async_log_info ("broker", "quota.set", "quota=%s size=%" PRId64, name, size);
    }
    else {
        if (quota_delete (self->quotas, name)) {
            s_error (self, routing, in->rid, ASYNC_EREFUSED, "no such quota");
            return;
        }
        store_delete (self->store, key, klen);
        async_log_info ("broker", "quota.deleted", "quota=%s", name);
    }
    self->durable = true;
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_OK, in->rid);
    s_reply_later (self, routing, &msg);
}

//  ---------------------------------------------------------------------
//  The loop

//  With CURVE, whether the peer's key may send this command: a revoked
//  key may send nothing, a client key no node command. If not, replies
//  Messages dropped (malformed, unknown, or from a key that may not send
//  them) are logged one by one up to S_DROPPED_LINES a second; past that
//  they are counted, and the next line says how many (`unlogged=`): one
//  peer can send 65,000 of them a second
#define S_DROPPED_LINES 10

//  ERROR, logs, and drops the node session of a revoked key
static bool
s_peer_allowed (broker_t *self, zframe_t *body, const char *cmd, zframe_t *routing,
                async_inmsg_t *in)
{
    if (!self->auth)
        return true;
    char why [256];
    broker_auth_verdict_t verdict = broker_auth_check (self->auth, body, cmd, why,
                                                       sizeof why);
    if (verdict == BROKER_AUTH_OK)
        return true;
    char *rkey = zframe_strhex (routing);
    session_t *session = (session_t *) zhashx_lookup (self->sessions, rkey);
    const char *key = zframe_meta (body, "User-Id");
    if (async_rate_allow (&self->dropped, S_DROPPED_LINES))
        async_log_warning ("broker", verdict == BROKER_AUTH_REVOKED ? "auth.revoked"
                           : "auth.not_node", "peer=%s address=%s key=%s command=%s node=%s "
                           "unlogged=%" PRIu64 " reason=\"%s\"", rkey,
                           zframe_meta (body, "Peer-Address"), key ? key : "", cmd,
                           session ? session->uuid : "", async_rate_quiet (&self->dropped), why);
    s_error (self, routing, in->rid, ASYNC_EREFUSED, why);
    if (session && verdict == BROKER_AUTH_REVOKED)
        s_session_drop (self, session, "key_revoked");
    free (rkey);
    return false;
}

//  Is the data directory's free space under the reserve? Checked at most
//  every 100 ms; logged when it changes
static bool
s_disk_low (broker_t *self)
{
    int64_t mono = async_mono_us ();
    if (mono < self->next_disk_check)
        return self->disk_low;
    self->next_disk_check = mono + 100000;
    struct statvfs fs;
    if (statvfs (self->config.data_dir, &fs))
        return self->disk_low;
    uint64_t free_bytes = (uint64_t) fs.f_bavail * fs.f_frsize;
    bool low = free_bytes < self->config.min_free;
    if (low != self->disk_low)
        async_log_warning ("broker", low ? "disk.low" : "disk.ok", "data=%s free=%" PRIu64
                           " reserve=%" PRIu64, self->config.data_dir, free_bytes,
                           self->config.min_free);
    self->disk_low = low;
    return low;
}

static void
s_handle (broker_t *self, zmsg_t *zmsg)
{
    zframe_t *routing = zmsg_pop (zmsg);
    zframe_t *body = zmsg_pop (zmsg);
    if (!routing || !body || zmsg_size (zmsg) != 0) {
        if (async_rate_allow (&self->dropped, S_DROPPED_LINES))
            async_log_warning ("broker", "message.dropped", "unlogged=%" PRIu64 " reason=\"not "
                               "one body frame\"", async_rate_quiet (&self->dropped));
        zframe_destroy (&routing);
        zframe_destroy (&body);
        return;
    }
    async_inmsg_t in;
    const char *why = NULL;
    char *rkey = zframe_strhex (routing);
    if (async_inmsg_parse (&in, zframe_data (body), zframe_size (body), &why)) {
        if (async_rate_allow (&self->dropped, S_DROPPED_LINES))
            async_log_warning ("broker", "message.dropped", "peer=%s size=%zu unlogged=%" PRIu64
                               " reason=\"%s\"", rkey, zframe_size (body),
                               async_rate_quiet (&self->dropped), why);
        async_inmsg_destroy (&in);
        zframe_destroy (&routing);
        zframe_destroy (&body);
        free (rkey);
        return;
    }
    if (!s_peer_allowed (self, body, in.command, routing, &in)) {
        async_inmsg_destroy (&in);
        zframe_destroy (&routing);
        zframe_destroy (&body);
        free (rkey);
        return;
    }
    session_t *session = (session_t *) zhashx_lookup (self->sessions, rkey);
    if (session) {
        session->last_seen = async_mono_us ();
        session->last_seen_wall = async_now_us ();
    }
    const char *cmd = in.command;
    self->peer_address = zframe_meta (body, "Peer-Address");
    const async_proto_t *command = async_proto_find (cmd, true);
    if (command && (command->flags & ASYNC_PROTO_WRITES) && s_disk_low (self)) {
        s_error (self, routing, in.rid, ASYNC_EREFUSED, "the broker's disk is full (free "
                 "space under its --min-free reserve); nothing was accepted; try again "
                 "when there is space");
        async_inmsg_destroy (&in);
        zframe_destroy (&routing);
        zframe_destroy (&body);
        free (rkey);
        return;
    }
    async_log_trace ("broker", "message.in", "peer=%s command=%s rid=%" PRIu64,
                     rkey, cmd, in.rid);
    if (command && (command->flags & ASYNC_PROTO_SESSION) && !session) {
        //  We do not know this node (broker restarted): it must say HELLO
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_S_REHELLO, in.rid);
        s_send (self, routing, &msg);
        command = NULL;
        cmd = NULL;
    }
    switch (command ? command->id : ASYNC_COMMANDS) {
        case ASYNC_C_SUBMIT:
            s_on_submit (self, routing, &in);
            break;
        case ASYNC_C_WAIT:
            s_on_get (self, routing, &in, true);
            break;
        case ASYNC_C_GET:
            s_on_get (self, routing, &in, false);
            break;
        case ASYNC_C_LIST:
            s_on_list (self, routing, &in, false);
            break;
        case ASYNC_C_COUNT:
            s_on_list (self, routing, &in, true);
            break;
        case ASYNC_C_STATUS:
            s_on_status (self, routing, &in);
            break;
        case ASYNC_C_NODES:
            s_on_nodes (self, routing, &in);
            break;
        case ASYNC_C_CANCEL:
            s_on_cancel (self, routing, &in);
            break;
        case ASYNC_C_ANNOTATE:
            s_on_annotate (self, routing, &in);
            break;
        case ASYNC_C_ADD_CALLBACK:
            s_on_add_callback (self, routing, &in);
            break;
        case ASYNC_C_QUOTA_SET:
        case ASYNC_C_QUOTA_DELETE:
        case ASYNC_C_QUOTA_LIST:
            s_on_quota (self, routing, &in, command->id);
            break;
        case ASYNC_C_EVERY_SET:
        case ASYNC_C_EVERY_DELETE:
        case ASYNC_C_EVERY_LIST:
            s_on_every (self, routing, &in, command->id);
            break;
        case ASYNC_C_HELLO:
            s_on_hello (self, routing, rkey, &in);
            break;
        case ASYNC_C_PING: {
            async_msg_t msg;
            async_msg_init (&msg, session || !async_mp_get (in.body, "node")
                            ? ASYNC_S_PONG : ASYNC_S_REHELLO, in.rid);
            s_send (self, routing, &msg);
            break;
        }
        case ASYNC_C_STARTED:
            s_on_started (self, session, &in);
            break;
        case ASYNC_C_RESULT:
            self->from_node = true;
            s_on_results (self, session, routing, &in);
            self->from_node = false;
            break;
        case ASYNC_C_PROGRESS:
            s_on_progress (self, session, &in);
            break;
        case ASYNC_C_BYE:
            s_session_drop (self, session, "stopped");
            break;
        default:
            if (!cmd)
                break;          //  answered with REHELLO above
            if (async_rate_allow (&self->dropped, S_DROPPED_LINES))
                async_log_warning ("broker", "message.dropped", "peer=%s command=%s unlogged=%"
                                   PRIu64 " reason=\"unknown command\"", rkey, cmd,
                                   async_rate_quiet (&self->dropped));
            s_error (self, routing, in.rid, ASYNC_EREFUSED, "unknown command");
    }
    async_inmsg_destroy (&in);
    zframe_destroy (&routing);
    zframe_destroy (&body);
    free (rkey);
}

//  The job, out of its queue, is assigned to a slot of `agent` (taken)
//  with `token`
static void
s_assign (broker_t *self, session_t *session, dispatch_agent_t *agent, async_job_t *job,
          uint64_t token)
{
    job->status = ASYNC_ASSIGNED;
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
    uint8_t live [36 + 8 + ASYNC_MAX_NAME + 1];
    if (alen > ASYNC_MAX_NAME)
        alen = ASYNC_MAX_NAME;
    memcpy (live, session->uuid, 36);
    store_put_be64 (live + 36, job->token);
    memcpy (live + 44, agent_name, alen);
    //  Fresh: every attempt ends with a delete of the a key (s_release)
    s_live_put (self, job->id, live, 44 + alen, true);
}

//  Send ASSIGN for each (job, agent) pair dispatch finds
static void
s_dispatch (broker_t *self)
{
    if (zhashx_size (self->awaited)) {
        //  Just restarted: the nodes known before come back first
        if (async_mono_us () < self->awaited_until)
            return;
        async_log_warning ("broker", "dispatch.resumed", "missing=%zu reason=\"nodes known "
                           "before the restart did not come back within dead-after\"",
                           zhashx_size (self->awaited));
        s_nodes_missing_forget (self);
    }
    char id [ASYNC_ID_LEN];
    dispatch_agent_t *agent;
    zlistx_t *batched = zlistx_new ();      //  sessions with ASSIGNs to send
    self->withheld = false;
    while (dispatch_next (self->dispatch, s_dispatch_veto, self, id, &agent)) {
        session_t *session = (session_t *) dispatch_agent_owner (agent);
        async_job_t *job = s_job_load (self, id);
        char key [300];
        if (!job || job->status != ASYNC_PENDING || !job->task) {
            dispatch_agent_release (agent);
            continue;
        }
        store_delete (self->store, key, s_key_pending (key, job));
        int64_t now = async_now_us ();
        if (job->begin_by && job->attempts == 0) {
            char dkey [64];
            store_delete (self->store, dkey,
                          keys_time (dkey, KEYS_DEADLINE, job->begin_after + job->begin_by, job->id));
        }
        if (job->begin_by && job->attempts == 0 && now > job->begin_after + job->begin_by) {
            dispatch_agent_release (agent);
            s_job_fail (self, job, "TimeoutError", "not started before begin_by passed");
            continue;
        }
        s_assign (self, session, agent, job, token_make (&self->token_key, self->epoch,
                                                         job->id, session->uuid,
                                                         job->attempts + 1));

        async_msg_t msg;
        async_msg_init (&msg, ASYNC_S_ASSIGN, 0);
        async_msg_str (&msg, "id", job->id);
        async_msg_key (&msg, "token");
        msgpack_pack_uint64 (&msg.packer, job->token);
        async_msg_key (&msg, "proof");
        msgpack_pack_uint64 (&msg.packer, token_proof (&self->token_key, job->token,
                                                       job->id, session->uuid,
                                                       job->attempts + 1));
        async_msg_str (&msg, "task", job->task);
        async_msg_raw (&msg, "args", job->args.data, job->args.size);
        async_msg_raw (&msg, "kwargs", job->kwargs.data, job->kwargs.size);
        async_msg_str (&msg, "agent", dispatch_agent_name (agent));
        async_msg_int (&msg, "attempt", job->attempts + 1);
        async_msg_int (&msg, "timeout_ms", job->timeout / 1000);
        //  Sent now, before the commit that records the assignment: the
        //  job's record is written (s_dispatch_veto), so after a crash the
        //  node takes it back (s_adopt). A node that takes them gets this
        //  turn's jobs in one ASSIGN (below).
        if (session->batch) {
            if (session->nassigns++ == 0)
                zlistx_add_end (batched, session);
            async_sbuffer_write (&session->assigns, msg.buffer.data + msg.body,
                                   msg.buffer.size - msg.body);
            async_msg_destroy (&msg);
        }
        else
            s_send (self, session->routing, &msg);
        async_log_debug ("broker", "job.assigned", "job=%s node=%s agent=%s",
                         job->id, session->uuid, dispatch_agent_name (agent));
    }
    session_t *session = (session_t *) zlistx_first (batched);
    while (session) {
        async_msg_t msg;
        bool acks = session->ack_ride && session->nacks;
        async_msg_init (&msg, ASYNC_S_ASSIGN, 0);
        async_msg_key (&msg, "jobs");
        msgpack_pack_array (&msg.packer, session->nassigns);
        async_sbuffer_write (&msg.buffer, session->assigns.data, session->assigns.size);
        if (acks) {
            //  The ACKs held for it ride along (s_release_reply)
            async_msg_key (&msg, "acks");
            msgpack_pack_array (&msg.packer, session->nacks);
            async_sbuffer_write (&msg.buffer, session->acks.data, session->acks.size);
            session->acks.size = 0;
            session->nacks = 0;
        }
        s_send (self, session->routing, &msg);
        msgpack_sbuffer_clear (&session->assigns);
        session->nassigns = 0;
        session = (session_t *) zlistx_next (batched);
    }
    zlistx_destroy (&batched);
}

#define S_CANCEL_GRACE_US (5 * 1000000LL)

//  A wall-clock stamp of this process or an earlier one as a monotonic
//  time: how long ago it was, never in the future. Taken once per job, so
//  that only a clock step across a broker restart can move it
static int64_t
s_mono_from_wall (int64_t wall, int64_t mono_now, int64_t now)
{
    int64_t ago = now - wall;
    return mono_now - (ago > 0 ? ago : 0);
}

//  Running jobs past their timeout, or past the grace of a cancellation:
//  both measured on the monotonic clock
static void
s_running_limits (broker_t *self)
{
    int64_t now = async_now_us ();
    int64_t mono = async_mono_us ();
    zlistx_t *over = zlistx_new ();
    async_job_t *job = (async_job_t *) async_idmap_first (self->jobs);
    while (job) {
        if (s_job_is_live (job) && job->cancelled_at && !job->cancel_mono)
            job->cancel_mono = s_mono_from_wall (job->cancelled_at, mono, now);
        if (s_job_is_live (job) && job->status == ASYNC_ACTIVE && !job->active_mono)
            job->active_mono = s_mono_from_wall (job->active_start, mono, now);
        if (s_job_is_live (job)
        &&  ((job->cancelled_at && mono - job->cancel_mono > S_CANCEL_GRACE_US)
          || (job->timeout && job->status == ASYNC_ACTIVE
              && mono - job->active_mono > job->timeout)))
            zlistx_add_end (over, job);
        job = (async_job_t *) async_idmap_next (self->jobs);
    }
    job = (async_job_t *) zlistx_first (over);
    while (job) {
        session_t *session = s_session_for_job (self, job);
        if (session && !job->cancelled_at)
            s_send_cancel (self, session, job);     //  its attempt is over either way
        s_release (self, job);
        job->active_end = now;
        if (job->cancelled_at) {
            async_log_info ("broker", "job.interrupted", "job=%s node=%s reason=cancelled",
                            job->id, job->node);
            async_failure_make (&job->failure, "CancelledError", "cancelled; the task "
                                "did not stop within the grace period", "", false,
                                job->node, job->attempts);
            s_job_complete (self, job);
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
                s_job_complete (self, job);
            }
            else
                s_enqueue (self, job, true);
        }
        job = (async_job_t *) zlistx_next (over);
    }
    zlistx_destroy (&over);
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
        async_job_t *job = s_job_read (self, id);
        if (job && job->key) {
            //  Only if the key names this job (a child's spec may repeat it)
            char kkey [KEYS_MAX];
            size_t klen = keys_name (kkey, KEYS_IDEMPOTENT, job->key);
            char *value;
            size_t vsize;
            if (store_get (self->store, kkey, klen, &value, &vsize) == 0) {
                if (vsize == 36 && memcmp (value, id, 36) == 0)
                    store_delete (self->store, kkey, klen);
                free (value);
            }
        }
        //  Its 'f' key, if it failed (or if its record does not say)
        bool failed = !job || job->failure.size;
        async_job_destroy (&job);
        //  Not from the cache either (a job being changed is not purged)
        async_job_t *cached = (async_job_t *) async_idmap_lookup (self->jobs, id);
        if (cached && (cached->dirty || zlistx_find (self->flight_dirty, cached))) {
            store_iter_next (iter);
            continue;
        }
        if (cached) {
            void *handle = zlistx_find (self->loaded, cached);
            if (handle)
                zlistx_detach (self->loaded, handle);
            handle = zlistx_find (self->flight_loaded, cached);
            if (handle)
                zlistx_detach (self->flight_loaded, handle);
            async_idmap_delete (self->jobs, id);
        }
        char key [40];
        store_delete (self->store, key, keys_id (key, KEYS_JOB, id));
        if (failed) {
            char fkey [KEYS_TIME_SIZE];
            store_delete (self->store, fkey,
                          keys_time (fkey, KEYS_FAILED, completed_at, id));
        }
        store_delete (self->store, ckey, size);
        purged++;
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    if (purged)
        async_log_info ("broker", "store.purged", "jobs=%zu", purged);
}

//  The first entry of a list of scheduled jobs is due: to its queue
static void
s_scheduled_due (broker_t *self, zlistx_t *list, int64_t now)
{
    scheduled_t *entry = (scheduled_t *) zlistx_first (list);
    char key [64];
    store_delete (self->store, key, keys_time (key, KEYS_SCHEDULED, entry->when, entry->id));
    async_job_t *job = s_job_load (self, entry->id);
    s_scheduled_uncount (self, entry);
    zlistx_delete (list, zlistx_cursor (list));
    if (job && job->status == ASYNC_PENDING) {
        if (job->begin_by && job->attempts == 0 && now > job->begin_after + job->begin_by)
            s_job_fail (self, job, "TimeoutError", "not started before begin_by passed");
        else {
            job->not_before = 0;
            job->begin_after = job->begin_after > now ? now : job->begin_after;
            s_enqueue (self, job, false);
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
    int64_t gap = self->last_timers ? mono - self->last_timers : 0;
    self->last_timers = mono;
    if (gap <= 2 * heartbeat_us)
        return;
    int64_t credit = gap - heartbeat_us;
    async_log_warning ("broker", "broker.stalled", "gap_ms=%" PRId64 " nodes=%zu "
                       "message=\"the broker's loop did not come round (the process "
                       "was stopped, or one turn took this long); this time does not "
                       "count as the nodes' silence\"", gap / 1000,
                       zhashx_size (self->sessions));
    session_t *session = (session_t *) zhashx_first (self->sessions);
    while (session) {
        session->last_seen = session->last_seen + credit < mono
                           ? session->last_seen + credit : mono;
        session = (session_t *) zhashx_next (self->sessions);
    }
    //  Nor does it age the dead nodes listed (s_dead_nodes_expire): a pause
    //  longer than S_DEAD_KEEP_US would drop them all at once
    dead_node_t *dead = (dead_node_t *) zhashx_first (self->dead_nodes);
    for (; dead; dead = (dead_node_t *) zhashx_next (self->dead_nodes))
        dead->when = dead->when + credit < mono ? dead->when + credit : mono;
    //  Nor does it count against the nodes expected back after a restart
    orphan_t *orphan = (orphan_t *) zhashx_first (self->orphans);
    for (; orphan; orphan = (orphan_t *) zhashx_next (self->orphans))
        orphan->deadline += credit;
    if (zhashx_size (self->awaited))
        self->awaited_until += credit;
}

//  Drop the sessions found dead (self->dying), for S_DROP_TURN_US at most
//  a turn (at least one): a session of many agents and jobs takes
//  milliseconds, and hundreds may die at once. One heard from meanwhile
//  (it was stopped, not gone) is kept. Sets self->more_work if some are
//  left
#define S_DROP_TURN_US 10000

static void
s_dying_drop (broker_t *self)
{
    int64_t start = async_mono_us ();
    char *rkey;
    while ((rkey = (char *) zlistx_first (self->dying))) {
        int64_t mono = async_mono_us ();
        if (mono - start >= S_DROP_TURN_US) {
            self->more_work = true;
            break;
        }
        session_t *session = (session_t *) zhashx_lookup (self->sessions, rkey);
        zlistx_delete (self->dying, NULL);
        if (!session || session->state != SESSION_DYING)
            continue;           //  gone another way meanwhile
        session->state = SESSION_LIVE;
        if (mono - session->last_seen <= (int64_t) self->config.dead_ms * 1000)
            continue;           //  heard again meanwhile
        async_log_warning ("broker", "node.dead", "node=%s silent_ms=%" PRId64,
                           session->uuid, (mono - session->last_seen) / 1000);
        s_session_drop (self, session, "dead");
    }
}

static void
s_timers (broker_t *self)
{
    int64_t mono = async_mono_us ();
    int64_t now = async_now_us ();
    self->more_work = false;
    s_loop_gap (self, mono);
    s_peers_check (self, mono);
    if (zlistx_size (self->dying))
        s_dying_drop (self);
    //  Every turn (it must see the wall clock go back), a bounded share
    self->every_held = s_disk_low (self)
                    || (store_commit_busy (self->store)
                        && zlistx_size (self->dirty) > S_EVERY_STAGED_JOBS);
    if (!self->every_held) {
        every_tick_some (self->every, now, mono, S_EVERY_TURN_JOBS, s_every_submit, self);
        if (every_next_due (self->every) <= now)
            self->more_work = true;
    }
    //  Scheduled jobs that are due go to the tail of their queue: a
    //  begin_after by the wall clock, a retry's backoff by the monotonic one
    scheduled_t *entry = (scheduled_t *) zlistx_first (self->scheduled);
    while (entry && entry->when <= now + 1000) {
        s_scheduled_due (self, self->scheduled, now);
        entry = (scheduled_t *) zlistx_first (self->scheduled);
    }
    entry = (scheduled_t *) zlistx_first (self->backoffs);
    while (entry && entry->mono <= mono + 1000) {
        s_scheduled_due (self, self->backoffs, now);
        entry = (scheduled_t *) zlistx_first (self->backoffs);
    }
    //  Pending jobs whose begin_by passed before any agent took them
    entry = (scheduled_t *) zlistx_first (self->deadlines);
    while (entry && entry->when <= now) {
        char key [64];
        store_delete (self->store, key, keys_time (key, KEYS_DEADLINE, entry->when, entry->id));
        async_job_t *job = s_job_load (self, entry->id);
        zlistx_delete (self->deadlines, zlistx_cursor (self->deadlines));
        if (job && job->status == ASYNC_PENDING && job->attempts == 0
        &&  s_is_queued (self, job)) {
            s_unqueue (self, job);
            s_job_fail (self, job, "TimeoutError", "not started before begin_by passed");
        }
        entry = (scheduled_t *) zlistx_first (self->deadlines);
    }
    if (mono < self->next_heartbeat)
        return;
    self->next_heartbeat = mono + self->config.heartbeat_ms * 1000;
    //  Dead nodes: dropped by s_dying_drop from the next turn on, a few a turn
    session_t *session = (session_t *) zhashx_first (self->sessions);
    while (session) {
        if (mono - session->last_seen > (int64_t) self->config.dead_ms * 1000) {
            if (session->state == SESSION_LIVE) {
                session->state = SESSION_DYING;
                zlistx_add_end (self->dying, async_xstrdup (session->rkey));
                self->more_work = true;
            }
        }
        else {
            async_msg_t msg;
            async_msg_init (&msg, ASYNC_S_PING, 0);
            s_send (self, session->routing, &msg);
        }
        session = (session_t *) zhashx_next (self->sessions);
    }
    s_dead_nodes_expire (self, mono);
    s_log_rejected_count (self);
    s_running_limits (self);
    if (mono >= self->next_purge) {
        //  Every minute, or sooner for a short retention
        int64_t period = self->config.retention_us / 4;
        period = period < 1000000 ? 1000000 : period > 60000000 ? 60000000 : period;
        self->next_purge = mono + period;
        s_purge (self, now);
    }
    //  Orphans from before a restart whose node never came back
    zlistx_t *expired = zlistx_new ();
    orphan_t *orphan = (orphan_t *) zhashx_first (self->orphans);
    while (orphan) {
        if (mono > orphan->deadline)
            zlistx_add_end (expired, async_xstrdup (orphan->id));
        orphan = (orphan_t *) zhashx_next (self->orphans);
    }
    char *id = (char *) zlistx_first (expired);
    while (id) {
        zhashx_delete (self->orphans, id);
        async_job_t *job = s_job_load (self, id);
        if (job && s_job_is_live (job))
            s_interrupt (self, job, "node did not come back after a broker restart");
        free (id);
        id = (char *) zlistx_next (expired);
    }
    zlistx_destroy (&expired);
}

#define S_JOBS_CACHED 32768

static void
s_evict (broker_t *self, zlistx_t *jobs)
{
    async_job_t *job;
    while ((job = (async_job_t *) zlistx_detach (jobs, NULL))) {
        if (job->dirty)
            continue;           //  changed again: decided after that write
        bool keep = s_job_is_live (job)
                 || (job->kind != ASYNC_KIND_TASK && job->status == ASYNC_ACTIVE)
                 || (job->status == ASYNC_PENDING && job->kind == ASYNC_KIND_TASK
                     && async_idmap_size (self->jobs) <= S_JOBS_CACHED
                     && dispatch_contains (self->dispatch, job->id));
        if (!keep && async_idmap_lookup (self->jobs, job->id) == job) {
            char id [ASYNC_ID_LEN];
            memcpy (id, job->id, ASYNC_ID_LEN);
            async_idmap_delete (self->jobs, id);
        }
    }
}

//  Write the batch, then send what waited for it, then evict what is not live
//  A queue's pending count goes with the batch that changed it
static void
s_stage_count (void *arg, const char *queue, size_t total)
{
    broker_t *self = (broker_t *) arg;
    char key [300];
    uint8_t value [8];
    size_t size = keys_name (key, KEYS_COUNT, queue);
    if (total == 0)
        store_delete (self->store, key, size);
    else {
        store_put_be64 (value, total);
        store_put (self->store, key, size, value, 8);
    }
}

//  Read pending jobs back from the store into the queues' windows: right
//  after a commit, when the store holds everything the memory does
static void
s_refill (broker_t *self)
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
                                ? (async_job_t *) async_idmap_lookup (self->jobs, place.id) : NULL;
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

static int s_commit_done (broker_t *self, bool writer, int rc);

//  ACKs, once synced, wait up to S_ACK_HOLD_US for an ASSIGN to the same
//  node to ride on (`acks`), or go together in one ACK: a node doing one
//  job at a time would otherwise get an ACK per job. The node keeps each
//  result until then (and sends it again only after 500 ms).
#define S_ACK_HOLD_US 20000

//  A session that began holding ACKs at `since`. The entry is stale once
//  they went (riding on an ASSIGN) or a later hold began: that one has an
//  entry of its own further down the list
typedef struct {
    int64_t since;
    char rkey [];
} s_holder_t;

static void
s_holder_add (broker_t *self, session_t *session)
{
    size_t size = strlen (session->rkey) + 1;
    s_holder_t *holder = (s_holder_t *) async_xmalloc (sizeof (s_holder_t) + size);
    holder->since = session->acks_since;
    memcpy (holder->rkey, session->rkey, size);
    zlistx_add_end (self->ack_holders, holder);
}

//  Send a reply whose batch is written; hold it instead if it is an ACK
//  to a node that takes `acks` in ASSIGN
static void
s_release_reply (broker_t *self, zmsg_t **zmsg_p)
{
    //  An ACK (s_ack_later) has its entries last
    zframe_t *held = zmsg_size (*zmsg_p) == 3 ? zmsg_last (*zmsg_p) : NULL;
    session_t *session = NULL;
    if (held) {
        zmsg_remove (*zmsg_p, held);
        char *rkey = zframe_strhex (zmsg_first (*zmsg_p));
        session = (session_t *) zhashx_lookup (self->sessions, rkey);
        free (rkey);
    }
    if (!session || !session->ack_ride || zframe_size (held) < sizeof (uint32_t)) {
        zframe_destroy (&held);
        s_zmsg_send (self, zmsg_p);
        return;
    }
    uint32_t count;
    memcpy (&count, zframe_data (held), sizeof count);
    if (session->nacks == 0) {
        session->acks_since = async_mono_us ();
        s_holder_add (self, session);
    }
    async_sbuffer_write (&session->acks, (const char *) zframe_data (held) + sizeof count,
                         zframe_size (held) - sizeof count);
    session->nacks += count;
    zframe_destroy (&held);
    zmsg_destroy (zmsg_p);
}

//  Send the ACKs held for a session in one ACK
static void
s_acks_send (broker_t *self, session_t *session)
{
    if (!session->nacks)
        return;
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_ACK, 0);
    async_msg_key (&msg, "acks");
    msgpack_pack_array (&msg.packer, session->nacks);
    msgpack_sbuffer_write (&msg.buffer, session->acks.data, session->acks.size);
    s_send (self, session->routing, &msg);
    session->acks.size = 0;
    session->nacks = 0;
}

//  Send the ACKs held longer than S_ACK_HOLD_US (all with `all`)
static void
s_acks_flush (broker_t *self, bool all)
{
    int64_t now = async_mono_us ();
    s_holder_t *holder;
    while ((holder = (s_holder_t *) zlistx_first (self->ack_holders))) {
        session_t *session = (session_t *) zhashx_lookup (self->sessions, holder->rkey);
        bool live = session && session->nacks && session->acks_since == holder->since;
        if (live && !all && now - holder->since < S_ACK_HOLD_US)
            break;
        if (live)
            s_acks_send (self, session);
        free (zlistx_detach (self->ack_holders, NULL));
    }
}

//  How long the ACK of an outcome from a node may wait for a sync
#define S_SYNC_DEFER_US 2000

//  Microseconds until the unsynced outcomes must be synced (0: now), or -1
static int64_t
s_sync_due_us (broker_t *self)
{
    if (!zlistx_size (self->unsynced))
        return -1;
    int64_t due = self->unsynced_since + S_SYNC_DEFER_US - async_mono_us ();
    return due > 0 ? due : 0;
}

static bool
s_sync_overdue (broker_t *self)
{
    return s_sync_due_us (self) == 0;
}

//  Hand the staged batch to the store's writer thread, unless a write is
//  in flight: then the batch grows until it is done (group commit). The
//  replies waiting for the batch go when it is written (s_commit_done).
//  `here`: write it on this thread and finish it now.
static int
s_commit_start (broker_t *self, bool here)
{
    if (store_commit_busy (self->store))
        return 0;
    //  A job both read and changed in this batch is decided with the
    //  changed ones; their records are encoded now
    async_job_t *job = (async_job_t *) zlistx_first (self->loaded);
    while (job) {
        if (job->dirty)
            zlistx_detach_cur (self->loaded);
        job = (async_job_t *) zlistx_next (self->loaded);
    }
    job = (async_job_t *) zlistx_first (self->dirty);
    while (job) {
        char key [40];
        uint8_t *data;
        size_t size;
        if (async_job_encode (job, &data, &size) == 0) {
            store_put (self->store, key, keys_id (key, KEYS_JOB, job->id), data, size);
            free (data);
        }
        job->dirty = false;
        job = (async_job_t *) zlistx_next (self->dirty);
    }
    dispatch_each_dirty (self->dispatch, s_stage_count, self);
    //  Outcomes wait for a sync no longer than S_SYNC_DEFER_US; without
    //  --sync every write is as durable as it gets
    if (s_sync_overdue (self) || (self->durable_soon && !self->config.sync))
        self->durable = true;
    bool deferred = !self->durable && self->durable_soon;
    self->durable_soon = false;
    //  (with nothing else to write, mseq makes the sync that ACKs wait for)
    if (store_pending (self->store)
    || (self->durable && zlistx_size (self->unsynced))) {
        uint8_t seq [8];
        store_put_be64 (seq, self->seq);
        store_put (self->store, KEYS_META_SEQ, seq, 8);
    }
    //  What waits for this batch goes with it
    zlistx_t *list = self->flight_replies;
    self->flight_replies = self->replies;
    self->replies = list;
    list = self->flight_dirty;
    self->flight_dirty = self->dirty;
    self->dirty = list;
    list = self->flight_loaded;
    self->flight_loaded = self->loaded;
    self->loaded = list;
    zhashx_t *keys = self->flight_keys;
    self->flight_keys = self->keys_staged;
    self->keys_staged = keys;
    zhashx_t *bindings = self->flight_bindings;
    self->flight_bindings = self->bindings_staged;
    self->bindings_staged = bindings;
    zhashx_t *unwritten = self->flight_unwritten;
    self->flight_unwritten = self->unwritten;
    self->unwritten = unwritten;
    dispatch_committing (self->dispatch);
    self->flight_synced = self->durable && self->config.sync && store_pending (self->store);
    self->flight_deferred = deferred;
    self->flight_start = async_mono_us ();
    bool durable = self->durable;
    self->durable = false;
    if (here)                   //  written by this thread
        return s_commit_done (self, false, store_commit (self->store, durable));
    int rc = store_commit_start (self->store, durable);
    if (rc == 1)
        return s_commit_done (self, false, 0);  //  nothing to write
    return s_commit_done (self, false, rc == 0 ? -1 : rc);
}

//  Write the staged batch on this thread (a lone request: quicker than the
//  writer). The jobs it creates or retries wait for it (s_dispatch_veto)
//  and go right after, with their assignments written. A batch to be
//  synced is then written first without the sync, which a crash of the
//  process does not undo (docs/storage.md), so that its jobs go out at
//  once; its replies wait for the sync, made with the assignments
static int
s_commit_lone (broker_t *self)
{
    bool split = self->durable && self->config.sync && zhashx_size (self->unwritten)
              && !store_commit_busy (self->store);
    if (split) {
        self->durable = false;
        self->durable_soon = true;      //  its replies wait for a sync
    }
    int rc = s_commit_start (self, true);
    if (rc || store_commit_busy (self->store) || !(split || self->withheld))
        return rc;
    s_dispatch (self);
    self->durable |= split;
    return s_commit_start (self, true);
}

//  A batch is written: by the writer (`writer`: collect its outcome, if a
//  write is in flight), or on this thread with outcome `rc` (-1: handed to
//  the writer, nothing to do yet). Send what waited for it, read back
//  pending jobs, evict what is not live.
static int
s_commit_done (broker_t *self, bool writer, int rc)
{
    if (rc == -1)
        return 0;
    if (writer) {
        if (!store_commit_busy (self->store))
            return 0;
        rc = store_commit_finish (self->store);
    }
    if (rc) {
        //  RocksDB cannot be trusted after a failed write: stop. Nothing
        //  acknowledged is lost (the replies waiting for this batch never
        //  went out); a restart recovers from the WAL. The free-space
        //  reserve exists so that this does not happen on a full disk.
        async_log_error ("broker", "store.failed", "replies=%zu reason=\"a write "
                         "failed; stopping so that a restart recovers from the WAL\"",
                         zlistx_size (self->flight_replies));
        self->store_failed = true;
        return rc;
    }
    if (self->flight_synced)
        metrics_sync (self->metrics, (async_mono_us () - self->flight_start) / 1e6);
    dispatch_committed (self->dispatch);
    zhashx_purge (self->flight_keys);
    zhashx_purge (self->flight_bindings);   //  in the store now
    zhashx_purge (self->flight_unwritten);  //  their jobs may go now
    zmsg_t *zmsg;
    if (self->flight_synced)
        while ((zmsg = (zmsg_t *) zlistx_detach (self->unsynced, NULL)))
            s_release_reply (self, &zmsg);
    if (self->flight_deferred) {
        //  Its ACKs wait for a sync (s_outcome_staged)
        if (zlistx_size (self->flight_replies) && !zlistx_size (self->unsynced))
            self->unsynced_since = async_mono_us ();
        while ((zmsg = (zmsg_t *) zlistx_detach (self->flight_replies, NULL)))
            zlistx_add_end (self->unsynced, zmsg);
    }
    while ((zmsg = (zmsg_t *) zlistx_detach (self->flight_replies, NULL)))
        s_release_reply (self, &zmsg);
    s_refill (self);
    //  Evict the jobs this batch changed or read that are not live: the
    //  store has them now. Pending jobs in a queue's window stay, up to a
    //  bound: dispatch reads them soon.
    s_evict (self, self->flight_loaded);
    s_evict (self, self->flight_dirty);
    return 0;
}

//  ---------------------------------------------------------------------
//  Recovery after a start

//  Load the <tag><when be64><id> keys, in time order, into `list`
static void
s_load_times (broker_t *self, char tag, zlistx_t *list)
{
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (tag), 1);
    while (store_iter_valid (iter)) {
        size_t ksize;
        const char *key = store_iter_key (iter, &ksize);
        scheduled_t *entry = async_xcalloc (1, sizeof (scheduled_t));
        if (entry && keys_time_parse (key, ksize, &entry->when, entry->id))
            zlistx_add_end (list, entry);
        else
            free (entry);
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
}

//  Store version 2 -> 3: an 'f' key for each completed job that failed,
//  from the 'c' keys and the records; returns how many. Staged in the
//  batch that writes the new version (running it again puts the same keys)
static size_t
s_failed_index_build (broker_t *self)
{
    size_t failed = 0;
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_COMPLETED), 1);
    while (store_iter_valid (iter)) {
        size_t size;
        const char *ckey = store_iter_key (iter, &size);
        int64_t completed_at;
        char id [ASYNC_ID_LEN];
        if (keys_time_parse (ckey, size, &completed_at, id)) {
            async_job_t *job = s_job_read (self, id);
            if (job && job->failure.size) {
                char fkey [KEYS_TIME_SIZE];
                store_put (self->store, fkey,
                           keys_time (fkey, KEYS_FAILED, completed_at, id), "", 0);
                failed++;
            }
            async_job_destroy (&job);
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    return failed;
}

static int
s_recover (broker_t *self)
{
    char *value;
    size_t size;
    //  Version
    if (store_get (self->store, KEYS_META_VERSION, &value, &size) == 0) {
        bool ok = size == strlen (KEYS_STORE_VERSION)
               && memcmp (value, KEYS_STORE_VERSION, size) == 0;
        //  Version 1 -> 2 (docs/storage.md): job records written from now
        //  on are arrays; the maps of version 1 are read as they are.
        //  2 -> 3: the 'f' index of failed jobs, built from the 'c' keys
        char from = size == 1 && (value [0] == '1' || value [0] == '2') ? value [0] : 0;
        free (value);
        if (from) {
            size_t failed = s_failed_index_build (self);
            store_put (self->store, KEYS_META_VERSION, KEYS_STORE_VERSION,
                       strlen (KEYS_STORE_VERSION));
            async_log_info ("broker", "store.upgraded", "from=%c to=%s failed=%zu", from,
                            KEYS_STORE_VERSION, failed);
        }
        else
        if (!ok) {
            async_log_error ("broker", "store.version", "reason=\"data was written by "
                             "another store version; see docs/storage.md\"");
            return ASYNC_ESTORE;
        }
    }
    else
        store_put (self->store, KEYS_META_VERSION, KEYS_STORE_VERSION,
                   strlen (KEYS_STORE_VERSION));
    if (store_get (self->store, KEYS_META_EPOCH, &value, &size) == 0) {
        if (size == 8)
            self->epoch = store_get_be64 ((uint8_t *) value);
        free (value);
    }
    self->epoch++;
    uint8_t buf [8];
    store_put_be64 (buf, self->epoch);
    store_put (self->store, KEYS_META_EPOCH, buf, 8);
    //  The secret behind fencing tokens (token.h): made once, kept
    uint8_t secret [TOKEN_SECRET_SIZE];
    if (store_get (self->store, KEYS_META_SECRET, &value, &size) == 0) {
        bool ok = size == TOKEN_SECRET_SIZE;
        if (ok)
            memcpy (secret, value, TOKEN_SECRET_SIZE);
        free (value);
        if (!ok) {
            async_log_error ("broker", "store.secret", "reason=\"msecret is not %d bytes; "
                             "see docs/storage.md\"", TOKEN_SECRET_SIZE);
            return ASYNC_ESTORE;
        }
    }
    else {
        if (getrandom (secret, sizeof secret, 0) != (ssize_t) sizeof secret) {
            async_log_error ("broker", "store.secret", "reason=\"no random bytes for the "
                             "token secret: %s\"", strerror (errno));
            return ASYNC_ESTORE;
        }
        store_put (self->store, KEYS_META_SECRET, secret, sizeof secret);
    }
    token_key_load (&self->token_key, secret);
    if (store_get (self->store, KEYS_META_SEQ, &value, &size) == 0) {
        if (size == 8)
            self->seq = store_get_be64 ((uint8_t *) value);
        free (value);
    }
    //  Pending: each queue's first window into memory, and its count
    size_t pending = 0;
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_PENDING), 1);
    keys_place_t place;
    while (store_iter_valid (iter)) {
        if (!keys_place_at (iter, &place)) {
            store_iter_next (iter);
            continue;
        }
        char queue [ASYNC_MAX_NAME + 1];
        memcpy (queue, place.queue, sizeof queue);
        size_t held = 0, counted = 0;
        while (store_iter_valid (iter)
           &&  (held < self->config.window || self->config.window == 0)) {
            if (keys_place_at (iter, &place)) {
                if (strcmp (place.queue, queue))
                    break;
                dispatch_load (self->dispatch, place.id, place.task, queue,
                               place.priority, place.seq, place.quotas, false);
                if (place.seq > self->seq)
                    self->seq = place.seq;
                held++;
            }
            store_iter_next (iter);
        }
        //  The rest stays in the store: its count was kept with it
        char key [300];
        char *count;
        size_t count_size;
        bool known = false;
        if (store_get (self->store, key, keys_name (key, KEYS_COUNT, queue), &count, &count_size) == 0) {
            if (count_size == 8) {
                counted = store_get_be64 ((uint8_t *) count);
                known = true;
            }
            free (count);
        }
        //  Skip to the next queue: p<queue>\1 is past all of this one
        size_t qlen = keys_name (key, KEYS_PENDING, queue) - 1;
        key [1 + qlen] = 1;
        if (!known) {
            //  A store without the count (or a bug): count the keys
            counted = held;
            while (store_iter_valid (iter) && keys_place_at (iter, &place)
               &&  strcmp (place.queue, queue) == 0) {
                counted++;
                store_iter_next (iter);
            }
        }
        else
            store_iter_seek (iter, key, qlen + 2);
        dispatch_set_total (self->dispatch, queue, counted);
        pending += counted > held ? counted : held;
    }
    store_iter_destroy (&iter);
    //  Scheduled jobs, and begin_by deadlines of pending jobs
    s_load_times (self, 's', self->scheduled);
    s_load_times (self, 'd', self->deadlines);
    //  The queues of the scheduled jobs, for STATUS: one read each, here
    scheduled_t *entry = (scheduled_t *) zlistx_first (self->scheduled);
    while (entry) {
        async_job_t *job = s_job_read (self, entry->id);
        if (job)
            s_scheduled_count (self, entry, job->queue);
        async_job_destroy (&job);
        entry = (scheduled_t *) zlistx_next (self->scheduled);
    }
    //  Hand-off targets
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_HANDOFF), 1);
    while (store_iter_valid (iter)) {
        size_t ksize;
        const char *key = store_iter_key (iter, &ksize);
        char target [ASYNC_ID_LEN], waiting [ASYNC_ID_LEN];
        if (keys_handoff_parse (key, ksize, target, waiting))
            s_handoff_add (self, target, waiting);
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    //  Quotas
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_QUOTA), 1);
    while (store_iter_valid (iter)) {
        size_t ksize, vsize;
        const char *key = store_iter_key (iter, &ksize);
        const char *val = store_iter_value (iter, &vsize);
        if (vsize == 8 && ksize > 1 && ksize <= ASYNC_MAX_NAME + 1) {
            char name [ASYNC_MAX_NAME + 1];
            snprintf (name, sizeof name, "%.*s", (int) ksize - 1, key + 1);
            uint64_t quota = store_get_be64 ((const uint8_t *) val);
            if (quota >= 1 && quota <= QUOTA_SIZE_MAX)
                quota_set (self->quotas, name, (int64_t) quota);
            else
                async_log_warning ("broker", "store.quota", "quota=%s size=%" PRIu64
                                   " reason=\"a stored size out of range; not used\"",
                                   name, quota);
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    //  Nodes that had a session: dispatch waits for them (s_node_known)
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_NODE), 1);
    while (store_iter_valid (iter)) {
        size_t ksize;
        const char *key = store_iter_key (iter, &ksize);
        char uuid [ASYNC_ID_LEN];
        if (keys_id_parse (key, ksize, uuid)) {
            zhashx_insert (self->known, uuid, (void *) 1);
            zhashx_insert (self->awaited, uuid, (void *) 1);
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    self->awaited_until = async_mono_us () + (int64_t) self->config.dead_ms * 1000;
    //  Jobs that were on nodes: wait for their node to come back
    size_t live = 0;
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_LIVE), 1);
    while (store_iter_valid (iter)) {
        size_t ksize, vsize;
        const char *key = store_iter_key (iter, &ksize);
        const char *val = store_iter_value (iter, &vsize);
        char id [ASYNC_ID_LEN];
        if (!keys_id_parse (key, ksize, id)) {
            store_iter_next (iter);
            continue;
        }
        ordset_insert (self->live_ids, id);
        if (vsize == 0) {
            //  A running parent (or a job in its callbacks, or handed off):
            //  cached while it runs, with its progress from its x key
            char xkey [KEYS_ID_SIZE];
            async_job_t *job = s_job_load (self, id);
            char *done;
            size_t done_size;
            if (job && job->kind != ASYNC_KIND_TASK
            &&  store_get (self->store, xkey, keys_id (xkey, KEYS_DONE, id), &done, &done_size) == 0) {
                if (done_size == 8) {
                    uint64_t count = store_get_be64 ((uint8_t *) done);
                    if (count > job->children_done && count <= job->nchildren)
                        job->children_done = (size_t) count;
                }
                free (done);
            }
        }
        else
        if (vsize >= 36) {
            orphan_t *orphan = async_xcalloc (1, sizeof (orphan_t));
            memcpy (orphan->id, id, ASYNC_ID_LEN);
            memcpy (orphan->node, val, 36);
            orphan->deadline = async_mono_us () + (int64_t) self->config.dead_ms * 1000;
            zhashx_insert (self->orphans, orphan->id, orphan);
            async_job_t *job = s_job_load (self, orphan->id);
            if (job && job->status == ASYNC_PENDING && vsize >= 44) {
                //  Assigned, and not written since: the a key says to whom
                job->status = ASYNC_ASSIGNED;
                memcpy (job->node, val, 36);
                job->node [36] = 0;
                job->token = store_get_be64 ((const uint8_t *) val + 36);
                char agent [ASYNC_MAX_NAME + 1];
                snprintf (agent, sizeof agent, "%.*s", (int) (vsize - 44), val + 44);
                async_job_set_str (&job->agent, agent);
            }
            if (job)
                quota_count (self->quotas, &job->quotas, +1);
            live++;
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    async_log_info ("broker", "store.recovered", "pending=%zu scheduled=%zu on_nodes=%zu "
                    "nodes=%zu epoch=%" PRIu64, pending, zlistx_size (self->scheduled), live,
                    zhashx_size (self->awaited), self->epoch);
    return store_commit (self->store, true);
}

//  ---------------------------------------------------------------------

void
broker_config_defaults (broker_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->data_dir = "var/broker";
    config->endpoint = "tcp://127.0.0.1:9999";
    config->sync = true;
    config->heartbeat_ms = 1000;
    config->dead_ms = 5000;
    config->retention_us = 7LL * 86400 * 1000000;
    config->max_batch = 512;
    config->spin_us = 500;
    config->window = 16384;
    config->min_free = 64ULL << 20;
    config->sessions_memory = SESSION_MEMORY_DEFAULT;
    config->sessions_max = SESSION_MAX_DEFAULT;
}

static int
s_scheduled_compare (const void *a, const void *b)
{
    const scheduled_t *x = (const scheduled_t *) a, *y = (const scheduled_t *) b;
    if (x->when != y->when)
        return x->when < y->when ? -1 : 1;
    return strcmp (x->id, y->id);
}

static int
s_backoff_compare (const void *a, const void *b)
{
    const scheduled_t *x = (const scheduled_t *) a, *y = (const scheduled_t *) b;
    if (x->mono != y->mono)
        return x->mono < y->mono ? -1 : 1;
    return strcmp (x->id, y->id);
}


static void
s_zmsg_free (void **item)
{
    zmsg_destroy ((zmsg_t **) item);
}

static void
s_holder_free (void **item)
{
    free (*item);
    *item = NULL;
}

int
broker_new (const broker_config_t *config, broker_t **self_p)
{
    *self_p = NULL;
    broker_t *self = async_xcalloc (1, sizeof (broker_t));
    self->config = *config;
    self->started = async_now_us ();
    self->started_mono = async_mono_us ();
    self->dispatch = dispatch_new ();
    dispatch_set_window (self->dispatch, self->config.window);
    self->sessions = zhashx_new ();
    zhashx_set_destructor (self->sessions, (zhashx_destructor_fn *) session_destroy);
    self->nodes = zhashx_new ();
    self->known = zhashx_new ();
    self->awaited = zhashx_new ();
    self->jobs = async_idmap_new ();
    self->live_ids = ordset_new ();
    self->scheduled_queues = zhashx_new ();
    zhashx_set_destructor (self->scheduled_queues, (zhashx_destructor_fn *) zstr_free);
    async_idmap_set_destructor (self->jobs, (async_idmap_destructor_fn *) async_job_destroy);
    self->gathers = zhashx_new ();
    zhashx_set_destructor (self->gathers, (zhashx_destructor_fn *) s_gather_destroy);
    self->dirty = zlistx_new ();
    self->loaded = zlistx_new ();
    self->flight_dirty = zlistx_new ();
    self->flight_loaded = zlistx_new ();
    self->flight_replies = zlistx_new ();
    zlistx_set_destructor (self->flight_replies, s_zmsg_free);
    self->ack_holders = zlistx_new ();
    zlistx_set_destructor (self->ack_holders, s_holder_free);
    self->unsynced = zlistx_new ();
    zlistx_set_destructor (self->unsynced, s_zmsg_free);
    async_spin_init (&self->spin, config->spin_us);
    self->keys_staged = zhashx_new ();
    zhashx_set_destructor (self->keys_staged, (zhashx_destructor_fn *) zstr_free);
    self->flight_keys = zhashx_new ();
    zhashx_set_destructor (self->flight_keys, (zhashx_destructor_fn *) zstr_free);
    self->bindings_staged = zhashx_new ();
    zhashx_set_destructor (self->bindings_staged, (zhashx_destructor_fn *) zstr_free);
    self->flight_bindings = zhashx_new ();
    zhashx_set_destructor (self->flight_bindings, (zhashx_destructor_fn *) zstr_free);
    self->unwritten = zhashx_new ();
    self->flight_unwritten = zhashx_new ();
    self->dying = zlistx_new ();
    zlistx_set_destructor (self->dying, (zlistx_destructor_fn *) zstr_free);
    waiters_calls_t waiter_calls = { .arg = self, .send = s_waiters_send,
                                     .deliver = s_waiter_deliver };
    self->waiters = waiters_new (&waiter_calls);
    self->replies = zlistx_new ();
    zlistx_set_destructor (self->replies, s_zmsg_free);
    self->scheduled = zlistx_new ();
    zlistx_set_destructor (self->scheduled, s_free_item);
    zlistx_set_comparator (self->scheduled, s_scheduled_compare);
    self->backoffs = zlistx_new ();
    zlistx_set_destructor (self->backoffs, s_free_item);
    zlistx_set_comparator (self->backoffs, s_backoff_compare);
    self->deadlines = zlistx_new ();
    zlistx_set_destructor (self->deadlines, s_free_item);
    zlistx_set_comparator (self->deadlines, s_scheduled_compare);
    self->orphans = zhashx_new ();
    zhashx_set_destructor (self->orphans, s_free_item);
    self->quotas = quota_new ();
    self->handoff_targets = zhashx_new ();   //  values: zlistx_t *, freed by hand
    self->dead_nodes = zhashx_new ();
    zhashx_set_destructor (self->dead_nodes, (zhashx_destructor_fn *) s_dead_node_destroy);
    self->metrics = metrics_new ();

    int rc = store_open_salvage (config->data_dir, config->sync, config->salvage,
                                 &self->store);
    if (rc == 0)
        rc = s_recover (self);
    if (rc == 0)
        rc = every_new (self->store, &self->every);
    if (rc) {
        broker_destroy (&self);
        return rc;
    }
    if (config->curve_secret
    &&  broker_auth_new (config->curve_secret, config->curve_clients, &self->auth)) {
        broker_destroy (&self);
        return ASYNC_EIO;
    }
    self->router = zsock_new (ZMQ_ROUTER);
    //  Bounds what any peer, authenticated or not, makes us allocate
    zsock_set_maxmsgsize (self->router, ASYNC_MAX_MESSAGE);
    if (self->auth)
        broker_auth_apply (self->auth, self->router);
    zsock_set_router_handover (self->router, 1);
    //  A send to a peer that is gone fails (EHOSTUNREACH) instead of
    //  vanishing: how the probes of waiting peers learn it (s_peers_check).
    //  Every send is ZMQ_DONTWAIT, so a full queue drops the message as
    //  before (EAGAIN) and never blocks the loop
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_rcvhwm (self->router, 100000);
    zsock_set_linger (self->router, 100);
    //  Receives do not block: a drain stops when the queue is empty (asking
    //  ZMQ_EVENTS per message costs a poll of the socket's mailbox each)
    zsock_set_rcvtimeo (self->router, 0);
    if (zsock_bind (self->router, "%s", config->endpoint) < 0) {
        async_log_error ("broker", "bind.failed", "endpoint=%s error=\"%s\"",
                         config->endpoint, zmq_strerror (zmq_errno ()));
        broker_destroy (&self);
        return ASYNC_EIO;
    }
    if (config->http && (rc = http_new (self, config->http, config->http_token,
                                        &self->http))) {
        broker_destroy (&self);
        return rc;
    }
    async_log_info ("broker", "broker.started", "endpoint=%s data=%s sync=%s version=%s",
                    config->endpoint, config->data_dir, config->sync ? "on" : "off",
                    S_VERSION);
    if (self->auth)
        async_log_info ("broker", "auth.curve", "curve=on keys=%zu clients=%s",
                        broker_auth_keys (self->auth), config->curve_clients);
    else
        async_log_info ("broker", "auth.curve", "curve=off");
    *self_p = self;
    return 0;
}

void
broker_destroy (broker_t **self_p)
{
    broker_t *self = *self_p;
    if (!self)
        return;
    http_destroy (&self->http);
    zsock_destroy (&self->router);
    broker_auth_destroy (&self->auth);
    zhashx_destroy (&self->sessions);
    zhashx_destroy (&self->nodes);
    zhashx_destroy (&self->known);
    zhashx_destroy (&self->awaited);
    waiters_destroy (&self->waiters);
    zlistx_destroy (&self->dying);
    zhashx_destroy (&self->keys_staged);
    zhashx_destroy (&self->unwritten);
    zhashx_destroy (&self->flight_unwritten);
    zlistx_destroy (&self->replies);
    zlistx_destroy (&self->dirty);
    zlistx_destroy (&self->loaded);
    zlistx_destroy (&self->flight_dirty);
    zlistx_destroy (&self->flight_loaded);
    zlistx_destroy (&self->flight_replies);
    zlistx_destroy (&self->ack_holders);
    zlistx_destroy (&self->unsynced);
    zhashx_destroy (&self->flight_keys);
    zhashx_destroy (&self->bindings_staged);
    zhashx_destroy (&self->flight_bindings);
    async_idmap_destroy (&self->jobs);
    query_destroy (&self->query);
    ordset_destroy (&self->live_ids);
    zhashx_destroy (&self->gathers);
    zlistx_destroy (&self->scheduled);
    zlistx_destroy (&self->backoffs);
    zhashx_destroy (&self->scheduled_queues);
    zlistx_destroy (&self->deadlines);
    zhashx_destroy (&self->orphans);
    quota_destroy (&self->quotas);
    if (self->handoff_targets) {
        zlistx_t *list = (zlistx_t *) zhashx_first (self->handoff_targets);
        while (list) {
            zlistx_destroy (&list);
            list = (zlistx_t *) zhashx_next (self->handoff_targets);
        }
        zhashx_destroy (&self->handoff_targets);
    }
    zhashx_destroy (&self->dead_nodes);
    metrics_destroy (&self->metrics);
    dispatch_destroy (&self->dispatch);
    every_destroy (&self->every);
    store_destroy (&self->store);
    free (self);
    *self_p = NULL;
}

//  How far the next batch may grow while a write is in flight
#define S_STAGED_JOBS   4096
#define S_STAGED_BYTES  (4 << 20)

//  The broker polls before it sleeps only while fewer jobs than this are
//  on nodes (async_spin.h)
#define S_SPIN_JOBS 4

//  True when messages wait in the ROUTER socket
static bool
s_router_waiting (void *router)
{
    uint32_t events = 0;
    size_t size = sizeof events;
    zmq_getsockopt (router, ZMQ_EVENTS, &events, &size);
    return (events & ZMQ_POLLIN) != 0;
}

//  Wait for news from the socket (unless held), the writer or HTTP, at
//  most `timeout` ms; poll's result. With messages already waiting, only
//  a look at the others. Else, while the nodes have little to do, poll
//  without sleeping for the spin window first (async_spin.h); under load
//  the CPUs are better left to the nodes. Sets *waiting when ZMQ_EVENTS
//  finds messages meanwhile
static int
s_wait (broker_t *self, void *router, struct pollfd *fds, int nfds, bool hold,
        int timeout, bool *waiting)
{
    if (*waiting)
        return poll (fds, nfds, 0);
    int64_t now = async_mono_us ();
    int64_t until = now + async_spin_begin (&self->spin);
    if (timeout >= 0 && until > now + timeout * INT64_C (1000))
        until = now + timeout * INT64_C (1000);
    if (until > now && dispatch_used (self->dispatch) >= S_SPIN_JOBS)
        until = now;
    int ready = 0;
    if (until > now) {
        int64_t start = now;
        while (now < until) {
            if ((ready = poll (fds, nfds, 0)) != 0)
                break;
            if (!hold && (*waiting = s_router_waiting (router)))
                break;
            async_spin_yield ();
            now = async_mono_us ();
        }
        metrics_spin (self->metrics, (async_mono_us () - start) / 1e6,
                      ready > 0 || *waiting);
    }
    if (ready == 0 && !*waiting)
        ready = poll (fds, nfds, timeout);
    if (ready > 0 || *waiting)
        async_spin_end (&self->spin);
    else
        async_spin_timeout (&self->spin);
    return ready;
}

int
broker_run (broker_t *self, volatile int *stop, volatile int *reopen)
{
    //  The ROUTER socket, the store's writer (a batch written) and, with
    //  --http, the HTTP server's epoll fd. Not zmq_poll, which makes four
    //  syscalls a turn (a poll and ZMQ_EVENTS, twice): ZMQ_EVENTS says
    //  whether messages wait, and only if none does the loop sleep in
    //  poll on the ROUTER's ZMQ_FD (readable once the socket has news)
    void *router = zsock_resolve (self->router);
    int router_fd = -1;
    size_t fd_size = sizeof router_fd;
    zmq_getsockopt (router, ZMQ_FD, &router_fd, &fd_size);
    struct pollfd fds [3] = {
        { router_fd, POLLIN, 0 },
        { store_commit_fd (self->store), POLLIN, 0 },
        { self->http ? http_fd (self->http) : -1, POLLIN, 0 }
    };
    while (!*stop) {
        self->list_turn_us = 0;
        if (reopen && *reopen) {
            *reopen = 0;
            async_log_reopen ();
            if (self->auth)
                broker_auth_reload (self->auth);
        }
        int64_t now = async_now_us ();
        int64_t wait_us = (int64_t) self->config.heartbeat_ms * 1000;
        scheduled_t *first = (scheduled_t *) zlistx_first (self->scheduled);
        if (first && first->when - now < wait_us)
            wait_us = first->when - now;
        first = (scheduled_t *) zlistx_first (self->deadlines);
        if (first && first->when - now < wait_us)
            wait_us = first->when - now;
        first = (scheduled_t *) zlistx_first (self->backoffs);
        if (first && first->mono - async_mono_us () < wait_us)
            wait_us = first->mono - async_mono_us ();
        int64_t until_tick = every_next_due (self->every) - now;
        //  A due schedule that may not tick does not make the loop spin:
        //  it looks again in S_EVERY_HELD_US (a written batch wakes it too)
        if (self->every_held && until_tick < S_EVERY_HELD_US)
            until_tick = S_EVERY_HELD_US;
        if (until_tick < wait_us)
            wait_us = until_tick;
        int64_t until_beat = self->next_heartbeat - async_mono_us ();
        if (until_beat < wait_us)
            wait_us = until_beat;
        if (zlistx_size (self->ack_holders) && wait_us > S_ACK_HOLD_US)
            wait_us = S_ACK_HOLD_US;
        int64_t until_sync = s_sync_due_us (self);
        if (until_sync >= 0 && until_sync < wait_us)
            wait_us = until_sync;
        if (self->more_work)
            wait_us = 0;        //  the timers left some for the next turn
        int timeout = wait_us <= 0 ? 0 : (int) ((wait_us + 999) / 1000);
        int http_timeout = self->http ? http_timeout_ms (self->http) : -1;
        if (http_timeout >= 0 && http_timeout < timeout)
            timeout = http_timeout;
        //  While a write is in flight the next batch grows; past a bound
        //  the socket waits (backpressure), so that a store slower than its
        //  clients (a flush, a compaction) does not fill memory
        bool hold = store_commit_busy (self->store)
                 && (zlistx_size (self->dirty) > S_STAGED_JOBS
                  || store_pending_bytes (self->store) > S_STAGED_BYTES);
        bool waiting = !hold && s_router_waiting (router);
        fds [0].fd = hold ? -1 : router_fd;     //  ignored while held
        int ready = s_wait (self, router, fds, self->http ? 3 : 2, hold, timeout,
                            &waiting);
        if (ready < 0 && *stop)
            break;              //  a signal other than stop (SIGHUP) goes on
        if (ready < 0)
            ready = 0;
        if (ready > 0 && (fds [1].revents & POLLIN) && s_commit_done (self, true, 0))
            break;
        bool which = waiting || (ready > 0 && (fds [0].revents & POLLIN));
        //  Drain a batch of messages without blocking
        int handled = 0;
        bool drained = !which;
        for (int i = 0; which && i < self->config.max_batch; i++) {
            zmsg_t *zmsg = zmsg_recv (self->router);
            if (!zmsg) {
                drained = true;
                break;
            }
            s_handle (self, zmsg);
            zmsg_destroy (&zmsg);
            handled++;
        }
        s_timers (self);
        s_dispatch (self);
        //  Under load the batch is written by the writer thread while this
        //  one goes on; a lone request with at most one job on the nodes is
        //  written here, which is quicker than handing it over and being
        //  woken (one job at a time: W2's latency)
        bool lone = handled <= 1 && drained
                 && dispatch_used (self->dispatch) < 2;
        if (lone ? s_commit_lone (self) : s_commit_start (self, false))
            break;
        s_pushes_flush (self);
        s_acks_flush (self, false);
        //  HTTP requests read the state as the commit left it
        if (self->http && (ready == 0 || http_timeout == 0
                        || (fds [2].revents & POLLIN)))
            http_run (self->http);
    }
    if (self->store_failed)
        return ASYNC_ESTORE;
    //  Finish the write in flight, then write what is staged, synced
    if (s_commit_done (self, true, 0) == 0) {
        self->durable |= self->durable_soon || zlistx_size (self->unsynced);
        s_commit_start (self, true);
        s_acks_flush (self, true);
    }
    async_log_info ("broker", "broker.stopped", NULL);
    return 0;
}

//  ---------------------------------------------------------------------
//  For the parts of the broker in other files (broker_impl.h)

async_job_t *
broker_job_read (broker_t *self, const char *id)
{
    return s_job_read (self, id);
}

bool
broker_job_is_live (async_job_t *job)
{
    return s_job_is_live (job);
}

int
broker_send (broker_t *self, zframe_t *routing, async_msg_t *msg)
{
    return s_send (self, routing, msg);
}

void
broker_error (broker_t *self, zframe_t *routing, uint64_t rid, int code, const char *text)
{
    s_error (self, routing, rid, code, text);
}

int
broker_scheduled_compare (const void *a, const void *b)
{
    return s_scheduled_compare (a, b);
}

int
broker_backoff_compare (const void *a, const void *b)
{
    return s_backoff_compare (a, b);
}

//  ---------------------------------------------------------------------
//  The view for the HTTP server (broker_view.h)

void
broker_view_status (broker_t *self, async_msg_t *reply)
{
    s_status_msg (self, 0, reply);
}

int
broker_view_jobs (broker_t *self, const msgpack_object *query, int64_t page, size_t bytes,
                  json_t *jobs, async_msg_t *reply, char *err, size_t err_size)
{
    return s_list_msg (self, query, 0, false, page, bytes, jobs, reply, err, err_size);
}

void
broker_view_charge (broker_t *self, int64_t us)
{
    if (us > 0)
        self->list_turn_us += us;
}

int
broker_view_job (broker_t *self, const char *id, async_msg_t *reply)
{
    async_job_t *job = s_job_read (self, id);
    if (!job)
        return ASYNC_ENOJOB;
    async_msg_init (reply, ASYNC_S_JOB, 0);
    async_msg_key (reply, "job");
    async_job_pack (job, &reply->packer);
    async_job_destroy (&job);
    return 0;
}

void
broker_view_peers (broker_t *self, broker_view_peers_t *peers)
{
    peers->sessions = zhashx_size (self->sessions);
    peers->session_bytes = self->session_bytes;
    peers->waits = waiters_size (self->waiters);
    peers->waiting_peers = waiters_peers (self->waiters);
}

metrics_t *
broker_view_metrics (broker_t *self)
{
    return self->metrics;
}

//  ---------------------------------------------------------------------
//  For tests only (tests/fuzz/fuzz_broker.c): one turn of broker_run's
//  loop with one message, as if drained from the socket

int
broker_feed (broker_t *self, const void *routing, size_t rsize, const void *data,
             size_t size)
{
    zmsg_t *zmsg = zmsg_new ();
    zmsg_addmem (zmsg, routing, rsize);
    zmsg_addmem (zmsg, data, size);
    s_handle (self, zmsg);
    zmsg_destroy (&zmsg);
    s_timers (self);
    s_dispatch (self);
    int rc = s_commit_lone (self);
    s_pushes_flush (self);
    s_acks_flush (self, false);
    return rc;
}
