/*  =========================================================================
    broker - the loop and its wiring (broker.h): drain the ROUTER socket,
    hand each message to its handler by the command table (s_handle), run
    the timed work (upkeep.c), dispatch (queueing.c), commit (commit.c),
    send what waits for nothing; the job cache, messages out, and the
    broker's start and stop. The other parts, each in its own file:

        requests.c   SUBMIT, CANCEL, ANNOTATE, ADD-CALLBACK, EVERY-*, QUOTA-*
        listing.c    LIST, COUNT, STATUS, NODES (over query.c)
        nodes.c      node sessions: HELLO, dead nodes, held ACKs
        lifecycle.c  the job state machine; results, callbacks, children
        queueing.c   queues, dispatch, refill from the store
        upkeep.c     scheduled jobs, timeouts, heartbeats, purge
        waiters.c    clients waiting for jobs (WAIT, submit --wait)
        timers.c     the time-ordered lists
        commit.c     the group commit: what waits for a batch to be durable
        recover.c    the recovery after a start
    =========================================================================
*/
#include "broker_impl.h"
#include "agentset.h"
#include "handler.h"
#include "async_alloc.h"
#include "auth.h"
#include "broker_view.h"
#include "commit.h"
#include "dispatch.h"
#include "every.h"
#include "http.h"
#include "metrics.h"
#include "spec.h"
#include "store.h"
#include "keys.h"
#include "lifecycle.h"
#include "listing.h"
#include "ordset.h"
#include "query.h"
#include "queueing.h"
#include "quota.h"
#include "recover.h"
#include "requests.h"
#include "session.h"
#include "token.h"
#include "upkeep.h"
#include "waiters.h"
#include "async_codec.h"
#include "async_msgs.h"
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
#ifdef __GLIBC__
#   include <malloc.h>
#endif
#include <poll.h>
#include <sodium.h>
#include <sys/random.h>
#include <sys/statvfs.h>

#define S_VERSION ASYNC_VERSION_STRING

//  ---------------------------------------------------------------------
//  Keys

//  A job's place in its queue's pending index (keys.h)
size_t
broker_key_pending (char *buf, const async_job_t *job)
{
    return keys_place (buf, job->queue, job->priority, job->seq);
}

//  Put or delete a job's 'a' key, and keep the ids of the 'a' keys in
//  memory as well: a listing reads them there, not in the store, where
//  the keys of the jobs that ended lie deleted until a compaction
void
broker_live_put (broker_t *self, const char *id, const void *value, size_t size, bool fresh)
{
    char key [40];
    if (fresh)
        store_put_fresh (self->store, key, keys_id (key, KEYS_LIVE, id), value, size);
    else
        store_put (self->store, key, keys_id (key, KEYS_LIVE, id), value, size);
    ordset_insert (self->live_ids, id);
}

void
broker_live_delete (broker_t *self, const char *id)
{
    char key [40];
    store_delete (self->store, key, keys_id (key, KEYS_LIVE, id));
    ordset_delete (self->live_ids, id);
}

//  ---------------------------------------------------------------------
//  Job cache: every job being changed lives in self->jobs (jobcache.h)
//  until commit

async_job_t *
broker_job_load (broker_t *self, const char *id)
{
    bool loaded;
    async_job_t *job = jobcache_load (self->jobs, id, &loaded);
    if (loaded)
        commit_loaded (self->commit, job);
    return job;
}

//  A read-only copy for inspection; caller destroys
async_job_t *
broker_job_read (broker_t *self, const char *id)
{
    return jobcache_read (self->jobs, id);
}

//  Mark a job for writing at the next commit
void
broker_job_save (broker_t *self, async_job_t *job)
{
    //  Not read from the store (broker_job_load): a new job
    bool fresh = jobcache_put (self->jobs, job);
    commit_stage_job (self->commit, job, fresh);
}

bool
broker_job_is_live (async_job_t *job)
{
    return job->kind == ASYNC_KIND_TASK
        && (job->status == ASYNC_ASSIGNED || job->status == ASYNC_ACTIVE)
        && job->handoff [0] == 0;
}

bool
broker_job_is_waiting (async_job_t *job)
{
    return job->kind == ASYNC_KIND_TASK && job->status == ASYNC_ACTIVE
        && job->handoff [0] != 0;
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
int
broker_send (broker_t *self, zframe_t *routing, async_msg_t *msg)
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

//  broker_send for the waiters (waiters_calls_t.send)
static int
s_waiters_send (void *arg, zframe_t *routing, async_msg_t *msg)
{
    return broker_send ((broker_t *) arg, routing, msg);
}

//  Send a message made for the loop's lists (routing id first) now, and
//  destroy it: never blocking, as broker_send
void
broker_zmsg_send (broker_t *self, zmsg_t **zmsg_p)
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
void
broker_reply_later (broker_t *self, zframe_t *routing, async_msg_t *msg)
{
    commit_reply (self->commit, s_msg_to (routing, msg));
}

//  An ACK to send after the commit: its `count` entries (packed maps)
//  also go in a third frame, count first, so that nodes_release_reply can
//  hold them for an ASSIGN to ride on without parsing the ACK again
void
broker_ack_later (broker_t *self, zframe_t *routing, async_msg_t *msg, const void *entries,
                  size_t size, uint32_t count)
{
    zframe_t *held = zframe_new (NULL, sizeof count + size);
    memcpy (zframe_data (held), &count, sizeof count);
    if (size)                   //  (no entries: `entries` may be NULL)
        memcpy (zframe_data (held) + sizeof count, entries, size);
    zmsg_t *zmsg = s_msg_to (routing, msg);
    zmsg_append (zmsg, &held);
    commit_reply (self->commit, zmsg);
}

//  An outcome was staged: one from a node's RESULT may wait for a later
//  sync (commit_outcome)
void
broker_outcome_staged (broker_t *self)
{
    commit_outcome (self->commit, self->from_node);
}

void
broker_error (broker_t *self, zframe_t *routing, uint64_t rid, int code, const char *text)
{
    async_error_t error = { .code = code, .message = async_str (text) };
    async_msg_t msg;
    async_error_encode (&msg, ASYNC_S_ERROR, rid, &error);
    broker_send (self, routing, &msg);
}

//  QUOTAS' and SCHEDULES' lists, streamed into the message
static void
s_pack_quotas (msgpack_packer *pk, void *quotas)
{
    quota_pack_list ((quota_t *) quotas, pk);
}

static void
s_pack_schedules (msgpack_packer *pk, void *every)
{
    every_pack_list ((every_t *) every, pk);
}

void
broker_quotas_encode (broker_t *self, async_msg_t *msg, uint64_t rid)
{
    async_quotas_t body = { .quotas = async_part_packed (s_pack_quotas, self->quotas) };
    async_quotas_encode (msg, ASYNC_S_QUOTAS, rid, &body);
}

void
broker_schedules_encode (broker_t *self, async_msg_t *msg, uint64_t rid)
{
    async_schedules_t body = { .schedules = async_part_packed (s_pack_schedules, self->every) };
    async_schedules_encode (msg, ASYNC_S_SCHEDULES, rid, &body);
}

//  A JOB's `job`: the record, streamed into the message
static void
s_pack_record (msgpack_packer *pk, void *job)
{
    async_job_pack ((async_job_t *) job, pk);
}

static void
s_pack_brief (msgpack_packer *pk, void *job)
{
    waiters_pack_brief (pk, (async_job_t *) job);
}

//  Start `msg` as the JOB of `job`, as a brief waiter gets it when `brief`
static void
s_job_encode (async_msg_t *msg, uint64_t rid, async_job_t *job, bool brief)
{
    async_job_record_t body = {
        .job = async_part_packed (brief ? s_pack_brief : s_pack_record, job) };
    async_job_record_encode (msg, ASYNC_S_JOB, rid, &body);
}

static void
s_send_job_as (broker_t *self, zframe_t *routing, uint64_t rid, async_job_t *job, bool later,
               bool brief)
{
    async_msg_t msg;
    s_job_encode (&msg, rid, job, brief);
    if (later)
        broker_reply_later (self, routing, &msg);
    else
        broker_send (self, routing, &msg);
}

static void
s_send_job (broker_t *self, zframe_t *routing, uint64_t rid, async_job_t *job, bool later)
{
    s_send_job_as (self, routing, rid, job, later, false);
}

//  ---------------------------------------------------------------------
//  Waiters

//  Probe the waiting peers, free the waits of those gone (waiters_check).
//  Sets self->more_work when some are left for the next turn
void
broker_peers_check (broker_t *self, int64_t mono)
{
    if (waiters_check (self->waiters, mono))
        self->more_work = true;
}

//  Hand a job's outcome to one waiter (waiters_calls_t.deliver)
static void
s_waiter_deliver (void *arg, zframe_t *routing, bool brief, async_job_t *job)
{
    broker_t *self = (broker_t *) arg;
    //  An outcome from a node's RESULT goes before its own commit: the
    //  node keeps the result until the broker acknowledges it (after
    //  the commit), so a crash in between delivers it again. One the
    //  broker decided (cancel, timeout, abort) waits for the commit.
    if (!self->from_node || commit_replies (self->commit))
        s_send_job_as (self, routing, 0, job, true, brief);
    else
    if (commit_flight_open (self->commit)) {
        //  Never before the ACCEPTED of a submit still being written
        async_msg_t msg;
        s_job_encode (&msg, 0, job, brief);
        commit_reply_flight (self->commit, s_msg_to (routing, &msg));
    }
    else
    if (brief)
        waiters_push_brief (self->waiters, routing, job);
    else
        s_send_job (self, routing, 0, job, false);
}

//  Tell the clients waiting for a job how far it got: a task's reported
//  progress, or a parent's children done
void
broker_notify_progress (broker_t *self, const char *id, int64_t done, int64_t total)
{
    waiters_progress (self->waiters, id, done, total, async_mono_us ());
}

//  ---------------------------------------------------------------------
//  Handlers: clients

//  Take every job of a parsed spec into the cache (staged for the next
//  write); destroys the list
void
broker_jobs_adopt (broker_t *self, zlistx_t **jobs_p)
{
    async_job_t *job;
    while ((job = (async_job_t *) zlistx_detach (*jobs_p, NULL))) {
        broker_job_save (self, job);
        self->stat_submitted++;     //  every job, as stat_completed counts them
    }
    zlistx_destroy (jobs_p);
}

int
broker_read_id (async_inmsg_t *in, char *id)
{
    if (async_mp_str (in->body, "id", id, ASYNC_ID_LEN) || !async_id_valid (id))
        return -1;
    return 0;
}

//  GET, and WAIT (`wait`): the job now, or when it completes
static void
s_on_get (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    bool wait = req->command == ASYNC_C_WAIT;
    async_job_ref_t request;
    if (async_job_ref_decode (&request, in)) {
        broker_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job: not a job id");
        return;
    }
    const char *id = request.id;
    async_job_t *job = broker_job_read (self, id);
    if (!job) {
        broker_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job");
        return;
    }
    if (!wait || job->status == ASYNC_COMPLETED)
        s_send_job (self, routing, in->rid, job, false);
    else {
        char err [200];
        if (waiters_add (self->waiters, routing, id, false, err, sizeof err)) {
            broker_error (self, routing, in->rid, ASYNC_EREFUSED, err);
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
        async_job_progress_t waiting = { .done = done, .total = total };
        memcpy (waiting.id, id, ASYNC_ID_LEN);
        async_msg_t msg;
        async_job_progress_encode (&msg, ASYNC_S_WAITING, in->rid, &waiting);
        broker_send (self, routing, &msg);
    }
    async_job_destroy (&job);
}

//  How often the loop looks again at schedules that are due but held (the
//  disk under its reserve is checked every 100 ms)
#define S_EVERY_HELD_US     10000

//  ---------------------------------------------------------------------
//  The loop

//  Messages dropped (malformed, unknown, or from a key that may not send
//  them) are logged one by one up to S_DROPPED_LINES a second; past that
//  they are counted, and the next line says how many (`unlogged=`): one
//  peer can send 65,000 of them a second
#define S_DROPPED_LINES 10

//  With CURVE, whether the peer's key may send this command: a revoked
//  key may send nothing, a client key no node command. If not, replies
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
    session_t *session = nodes_session (self->nodes, rkey);
    const char *key = zframe_meta (body, "User-Id");
    if (async_rate_allow (&self->dropped, S_DROPPED_LINES))
        async_log_warning ("broker", verdict == BROKER_AUTH_REVOKED ? "auth.revoked"
                           : verdict == BROKER_AUTH_NOT_NODE ? "auth.not_node"
                           : "auth.not_client", "peer=%s address=%s key=%s command=%s node=%s "
                           "unlogged=%" PRIu64 " reason=\"%s\"", rkey,
                           zframe_meta (body, "Peer-Address"), key ? key : "", cmd,
                           session ? session->uuid : "", async_rate_quiet (&self->dropped), why);
    broker_error (self, routing, in->rid, ASYNC_EREFUSED, why);
    if (session && verdict == BROKER_AUTH_REVOKED)
        nodes_session_drop (self, session, "key_revoked");
    free (rkey);
    return false;
}

//  Is the data directory's free space under the reserve? Checked at most
//  every 100 ms; logged when it changes
bool
broker_disk_low (broker_t *self)
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

//  PING: PONG; a node's PING (`node` present, of any type: a malformed one
//  too) needs its session, else REHELLO
static void
s_on_ping (broker_t *self, broker_request_t *req)
{
    async_ping_t ping;
    bool node = async_ping_decode (&ping, req->in) || ping.has_node;
    async_msg_t msg;
    async_empty_encode (&msg, req->session || !node ? ASYNC_S_PONG : ASYNC_S_REHELLO,
                        req->in->rid);
    broker_send (self, req->routing, &msg);
}

//  RESULT: the outcomes a node reports, which its waiters get before
//  their commit (the node keeps each until the broker acknowledges it)
static void
s_on_result (broker_t *self, broker_request_t *req)
{
    self->from_node = true;
    lifecycle_on_results (self, req);
    self->from_node = false;
}

//  BYE: the node stops; its session goes
static void
s_on_bye (broker_t *self, broker_request_t *req)
{
    nodes_session_drop (self, req->session, "stopped");
}

//  The command table: the handler of each command a peer sends the
//  broker (async_proto.h; unit.proto checks that these are all of them)
static broker_handler_fn *const s_handlers [ASYNC_COMMANDS] = {
    [ASYNC_C_SUBMIT] = requests_on_submit,
    [ASYNC_C_WAIT] = s_on_get,
    [ASYNC_C_GET] = s_on_get,
    [ASYNC_C_LIST] = listing_on_list,
    [ASYNC_C_COUNT] = listing_on_list,
    [ASYNC_C_STATUS] = listing_on_status,
    [ASYNC_C_NODES] = listing_on_nodes,
    [ASYNC_C_CANCEL] = requests_on_cancel,
    [ASYNC_C_RETRY] = requests_on_retry,
    [ASYNC_C_DELETE] = requests_on_delete,
    [ASYNC_C_ANNOTATE] = requests_on_annotate,
    [ASYNC_C_ADD_CALLBACK] = requests_on_add_callback,
    [ASYNC_C_QUOTA_SET] = requests_on_quota,
    [ASYNC_C_QUOTA_DELETE] = requests_on_quota,
    [ASYNC_C_QUOTA_LIST] = requests_on_quota,
    [ASYNC_C_EVERY_SET] = requests_on_every,
    [ASYNC_C_EVERY_DELETE] = requests_on_every,
    [ASYNC_C_EVERY_LIST] = requests_on_every,
    [ASYNC_C_QUEUE_PAUSE] = requests_on_queue_pause,
    [ASYNC_C_QUEUE_RESUME] = requests_on_queue_pause,
    [ASYNC_C_HISTORY] = listing_on_history,
    [ASYNC_C_AGENT_SET] = agentset_on_request,
    [ASYNC_C_PING] = s_on_ping,
    [ASYNC_C_HELLO] = nodes_on_hello,
    [ASYNC_C_STARTED] = lifecycle_on_started,
    [ASYNC_C_PROGRESS] = lifecycle_on_progress,
    [ASYNC_C_RESULT] = s_on_result,
    [ASYNC_C_BYE] = s_on_bye,
    [ASYNC_C_AGENT_APPLIED] = agentset_on_applied,
};

broker_handler_fn *
broker_handler (async_command_t command)
{
    return (unsigned) command < ASYNC_COMMANDS ? s_handlers [command] : NULL;
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
    session_t *session = nodes_session (self->nodes, rkey);
    if (session) {
        session->last_seen = async_mono_us ();
        session->last_seen_wall = async_now_us ();
    }
    const char *cmd = in.command;
    self->peer_address = zframe_meta (body, "Peer-Address");
    self->actor = self->auth ? broker_auth_name (self->auth, body) : NULL;
    if (!self->actor)
        self->actor = "local";
    const async_proto_t *command = async_proto_find (cmd, true);
    if (command && (command->flags & ASYNC_PROTO_WRITES) && broker_disk_low (self)) {
        broker_error (self, routing, in.rid, ASYNC_EREFUSED, "the broker's disk is full (free "
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
        async_empty_encode (&msg, ASYNC_S_REHELLO, in.rid);
        broker_send (self, routing, &msg);
        command = NULL;
        cmd = NULL;
    }
    broker_handler_fn *handler = command ? broker_handler (command->id) : NULL;
    if (handler) {
        broker_request_t req = { routing, rkey, &in, session, command->id };
        handler (self, &req);
    }
    else
    if (cmd) {          //  (NULL: answered with REHELLO above)
        if (async_rate_allow (&self->dropped, S_DROPPED_LINES))
            async_log_warning ("broker", "message.dropped", "peer=%s command=%s unlogged=%"
                               PRIu64 " reason=\"unknown command\"", rkey, cmd,
                               async_rate_quiet (&self->dropped));
        broker_error (self, routing, in.rid, ASYNC_EREFUSED, "unknown command");
    }
    self->actor = NULL;
    async_inmsg_destroy (&in);
    zframe_destroy (&routing);
    zframe_destroy (&body);
    free (rkey);
}

//  ---------------------------------------------------------------------
//  The group commit (commit.h): what it calls back

//  A batch is written, its replies released: read pending jobs back
//  from the store, and evict the jobs this batch changed or read that
//  are not live: the store has them now. Pending jobs in a queue's
//  window stay, up to a bound: dispatch reads them soon.
static void
s_commit_written (void *arg, zlistx_t *read, zlistx_t *changed)
{
    broker_t *self = (broker_t *) arg;
    queueing_refill (self);
    queueing_evict (self, read);
    queueing_evict (self, changed);
}

static void
s_commit_release (void *arg, zmsg_t **zmsg_p)
{
    nodes_release_reply ((broker_t *) arg, zmsg_p);
}

static void
s_commit_dispatch (void *arg)
{
    queueing_dispatch ((broker_t *) arg);
}

static uint64_t
s_commit_seq (void *arg)
{
    return ((broker_t *) arg)->seq;
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
    self->live_ids = ordset_new ();
    self->gathers = gathers_new (GATHERS_BYTES_MAX);
    async_spin_init (&self->spin, config->spin_us);
    waiters_calls_t waiter_calls = { .arg = self, .send = s_waiters_send,
                                     .deliver = s_waiter_deliver };
    self->waiters = waiters_new (&waiter_calls);
    self->timers = timers_new ();
    self->orphans = orphans_new ();
    self->quotas = quota_new ();
    self->agent_sets = agentset_new ();
    self->handoffs = handoffs_new ();
    self->metrics = metrics_new ();

    int rc = store_open_salvage (config->data_dir, config->sync, config->salvage,
                                 &self->store);
    if (rc == 0) {
        commit_callbacks_t callbacks = { .arg = self, .release = s_commit_release,
                                         .written = s_commit_written,
                                         .dispatch = s_commit_dispatch,
                                         .seq = s_commit_seq };
        self->commit = commit_new (self->store, self->dispatch, self->metrics,
                                   config->sync, &callbacks);
        self->jobs = jobcache_new (self->store);
        self->nodes = nodes_new (self->store);
        self->history = history_new (self->store);
        rc = recover_run (self);
    }
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
    //  vanishing: how the probes of waiting peers learn it (broker_peers_check).
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
    nodes_destroy (&self->nodes);
    waiters_destroy (&self->waiters);
    commit_destroy (&self->commit);
    jobcache_destroy (&self->jobs);
    query_destroy (&self->query);
    ordset_destroy (&self->live_ids);
    gathers_destroy (&self->gathers);
    timers_destroy (&self->timers);
    orphans_destroy (&self->orphans);
    quota_destroy (&self->quotas);
    history_destroy (&self->history);
    agentset_destroy (&self->agent_sets);
    handoffs_destroy (&self->handoffs);
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

//  A turn reads messages for S_DRAIN_US at most (512 take about 10 ms
//  under load), then its timers, dispatch, the commit and HTTP run: with
//  clients paging through every job side by side a request always waits,
//  and reading them all held the rest of the loop for seconds
#define S_DRAIN_US  20000

//  Memory: glibc keeps what is freed in its heaps for reuse (its mmap
//  threshold follows the sizes freed), so that memtables, job tables and
//  batches reuse warm pages instead of faulting fresh ones in (a page
//  fault costs microseconds on a VM). A message of S_TRIM_BYTES or more
//  (a big HELLO, a SUBMIT of big specs) leaves as much behind it: once the
//  socket was read empty, the loop gives the heaps' free memory back to
//  the system (malloc_trim, which walks every heap), at most once per
//  S_TRIM_US, so that a burst of them does not leave the broker larger for
//  good and a stream of them does not undo the reuse
#define S_TRIM_BYTES        (1024 * 1024)
#define S_TRIM_US           1000000

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
        { commit_fd (self->commit), POLLIN, 0 },
        { self->http ? http_fd (self->http) : -1, POLLIN, 0 }
    };
    bool trim = false;          //  a big message was handled (S_TRIM_BYTES)
    int64_t trim_next = 0;      //  no trim before (monotonic us)
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
        wait_us = timers_wait (self->timers, now, async_mono_us (), wait_us);
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
        if (nodes_ack_holders (self->nodes) && wait_us > NODES_ACK_HOLD_US)
            wait_us = NODES_ACK_HOLD_US;
        if (agentset_size (self->agent_sets) && wait_us > AGENTSET_CHECK_US)
            wait_us = AGENTSET_CHECK_US;
        int64_t until_sync = commit_sync_due_us (self->commit);
        if (until_sync >= 0 && until_sync < wait_us)
            wait_us = until_sync;
        if (self->more_work)
            wait_us = 0;        //  the timers left some for the next turn
        if (trim) {             //  a trim put off: wake for it
            int64_t until_trim = trim_next - async_mono_us ();
            if (until_trim > 0 && until_trim < wait_us)
                wait_us = until_trim;
        }
        int timeout = wait_us <= 0 ? 0 : (int) ((wait_us + 999) / 1000);
        int http_timeout = self->http ? http_timeout_ms (self->http) : -1;
        if (http_timeout >= 0 && http_timeout < timeout)
            timeout = http_timeout;
        //  While a write is in flight the next batch grows; past a bound
        //  the socket waits (backpressure), so that a store slower than its
        //  clients (a flush, a compaction) does not fill memory
        bool hold = commit_busy (self->commit)
                 && (commit_staged_jobs (self->commit) > S_STAGED_JOBS
                  || commit_staged_bytes (self->commit) > S_STAGED_BYTES);
        bool waiting = !hold && s_router_waiting (router);
        fds [0].fd = hold ? -1 : router_fd;     //  ignored while held
        int ready = s_wait (self, router, fds, self->http ? 3 : 2, hold, timeout,
                            &waiting);
        if (ready < 0 && *stop)
            break;              //  a signal other than stop (SIGHUP) goes on
        if (ready < 0)
            ready = 0;
        if (ready > 0 && (fds [1].revents & POLLIN) && commit_finish (self->commit))
            break;
        bool which = waiting || (ready > 0 && (fds [0].revents & POLLIN));
        //  Drain a batch of messages without blocking, for S_DRAIN_US at most
        int handled = 0;
        bool drained = !which;
        int64_t drain_start = async_mono_us ();
        for (int i = 0; which && i < self->config.max_batch; i++) {
            zmsg_t *zmsg = zmsg_recv (self->router);
            if (!zmsg) {
                drained = true;
                break;
            }
            trim |= zmsg_content_size (zmsg) >= S_TRIM_BYTES;
            s_handle (self, zmsg);
            zmsg_destroy (&zmsg);
            handled++;
            if (async_mono_us () - drain_start >= S_DRAIN_US)
                break;
        }
        upkeep_timers (self);
        queueing_dispatch (self);
        //  Under load the batch is written by the writer thread while this
        //  one goes on; a lone request with at most one job on the nodes is
        //  written here, which is quicker than handing it over and being
        //  woken (one job at a time: W2's latency)
        bool lone = handled <= 1 && drained
                 && dispatch_used (self->dispatch) < 2;
        history_stage (self->history);
        if (lone ? commit_lone (self->commit) : commit_start (self->commit, false))
            break;
        waiters_flush (self->waiters);
        nodes_acks_flush (self, false);
        //  HTTP requests read the state as the commit left it
        if (self->http && (ready == 0 || http_timeout == 0
                        || (fds [2].revents & POLLIN)))
            http_run (self->http);
        if (commit_failed (self->commit))
            break;              //  an action of the HTTP API could not be written
        if (trim && drained && !hold && async_mono_us () >= trim_next) {
#ifdef __GLIBC__
            malloc_trim (0);
#endif
            trim = false;
            trim_next = async_mono_us () + S_TRIM_US;
        }
    }
    if (commit_failed (self->commit))
        return ASYNC_ESTORE;
    //  Finish the write in flight, then write what is staged, synced
    history_stage (self->history);
    if (commit_stop (self->commit) == 0)
        nodes_acks_flush (self, true);
    async_log_info ("broker", "broker.stopped", NULL);
    return 0;
}

//  ---------------------------------------------------------------------
//  The view for the HTTP server (broker_view.h)

void
broker_view_status (broker_t *self, async_msg_t *reply)
{
    listing_status (self, 0, reply);
}

void
broker_view_quotas (broker_t *self, async_msg_t *reply)
{
    broker_quotas_encode (self, reply, 0);
}

void
broker_view_schedules (broker_t *self, async_msg_t *reply)
{
    broker_schedules_encode (self, reply, 0);
}

int
broker_view_jobs (broker_t *self, const msgpack_object *query, bool count_only, int64_t page,
                  size_t bytes, json_t *jobs, async_msg_t *reply, char *err, size_t err_size)
{
    return listing_jobs (self, query, 0, count_only, page, bytes, jobs, reply, err,
                         err_size);
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
    async_job_t *job = broker_job_read (self, id);
    if (!job)
        return ASYNC_ENOJOB;
    s_job_encode (reply, 0, job, false);
    async_job_destroy (&job);
    return 0;
}

int
broker_view_act (broker_t *self, broker_action_t action, const char *target, int64_t size,
                 const char *actor, char *err, size_t err_size)
{
    if (broker_disk_low (self)) {
        snprintf (err, err_size, "the broker's disk is full (free space under its "
                  "--min-free reserve); nothing was accepted; try again when there is "
                  "space");
        return ASYNC_EREFUSED;
    }
    self->actor = actor;
    int rc = ASYNC_EREFUSED;
    switch (action) {
        case BROKER_ACTION_CANCEL:
            rc = requests_cancel (self, target, err, err_size);
            break;
        case BROKER_ACTION_RETRY:
            rc = requests_retry (self, target, err, err_size);
            break;
        case BROKER_ACTION_DELETE:
            rc = requests_delete (self, target, err, err_size);
            break;
        case BROKER_ACTION_PAUSE:
        case BROKER_ACTION_RESUME:
            rc = requests_queue_pause (self, target, action == BROKER_ACTION_PAUSE, err,
                                       err_size);
            break;
        case BROKER_ACTION_QUOTA:
            rc = requests_quota (self, target, size, err, err_size);
            break;
    }
    self->actor = NULL;
    //  Durable before the answer: the batch in flight, then this one,
    //  written here, synced (the action asked for it: commit_durable)
    if (rc == 0 && (commit_finish (self->commit) || commit_start (self->commit, true))) {
        snprintf (err, err_size, "the broker could not write its store; it stops");
        rc = ASYNC_ESTORE;
    }
    if (rc == 0)
        self->more_work = true;         //  dispatch at once: a queue resumed, a job retried
    return rc;
}

json_t *
broker_view_history (broker_t *self, int64_t range_us, int64_t step_us)
{
    return history_json (self->history, async_now_us (), range_us, step_us);
}

void
broker_view_peers (broker_t *self, broker_view_peers_t *peers)
{
    peers->sessions = nodes_size (self->nodes);
    peers->session_bytes = nodes_bytes (self->nodes);
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
    upkeep_timers (self);
    queueing_dispatch (self);
    int rc = commit_lone (self->commit);
    waiters_flush (self->waiters);
    nodes_acks_flush (self, false);
    return rc;
}
