/*  =========================================================================
    requests - what clients ask of the broker that changes jobs or the
    broker's settings: SUBMIT (one spec or a batch), CANCEL, ANNOTATE,
    ADD-CALLBACK, EVERY-SET/-DELETE/-LIST and QUOTA-SET/-DELETE/-LIST
    (docs/protocol.md section 4). Each checks the request, stages its
    writes and queues its reply for the batch that makes them durable.
    Part of the broker (broker_impl.h); WAIT and GET are the waiters',
    LIST, COUNT, STATUS and NODES the listings'.
    =========================================================================
*/
#include "requests.h"
#include "async_cron.h"
#include "async_alloc.h"
#include "async_codec.h"
#include "async_msgs.h"
#include "commit.h"
#include "dispatch.h"
#include "keys.h"
#include "lifecycle.h"
#include "queueing.h"
#include "spec.h"
#include "upkeep.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <inttypes.h>

const char *
requests_actor (broker_t *self)
{
    return self->actor ? self->actor : "local";
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

//  A job that no live agent takes waits for a node to come: log it, at
//  most once every S_UNSERVABLE_LOG_US (a client may submit thousands)
#define S_UNSERVABLE_LOG_US 10000000

//  How many of the jobs with a task no live agent takes (dispatch_has_taker:
//  kept answers, so O(1) per job once asked)
static size_t
s_unservable (broker_t *self, zlistx_t *jobs)
{
    size_t unservable = 0;
    async_job_t *job = (async_job_t *) zlistx_first (jobs);
    for (; job; job = (async_job_t *) zlistx_next (jobs)) {
        if (!job->task || dispatch_has_taker (self->dispatch, job->queue, job->task))
            continue;
        unservable++;
        int64_t now = async_mono_us ();
        if (self->unservable_logged == 0
        ||  now - self->unservable_logged >= S_UNSERVABLE_LOG_US) {
            async_log_warning ("broker", "job.unservable",
                               "job=%s task=%s queue=%s more=%" PRIu64 " reason=\"no live "
                               "node offers the task in the queue; the job waits for one\"",
                               job->id, job->task, job->queue, self->unservable_quiet);
            self->unservable_logged = now;
            self->unservable_quiet = 0;
        }
        else
            self->unservable_quiet++;
    }
    return unservable;
}

//  Submit a job spec: parse, check, store and start it. Writes the root's
//  id; *existing is set when an idempotency key named a job already;
//  *unservable counts its jobs that no live node takes now.
//  0, or -1 with a one-line reason in err
static int
s_submit (broker_t *self, const msgpack_object *spec, char *id_out, bool *existing,
          size_t *unservable, char *err, size_t err_size)
{
    *existing = false;
    *unservable = 0;
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
        const char *staged = commit_key_find (self->commit, root->key);
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
            async_job_t *old = broker_job_read (self, id_out);
            if (old) {
                async_job_destroy (&old);
                *existing = true;
                zlistx_destroy (&jobs);
                return 0;
            }
        }
        commit_key_stage (self->commit, root->key, root->id);
    }
    //  Own every job in the cache, then start the root
    memcpy (id_out, root->id, ASYNC_ID_LEN);
    *unservable = s_unservable (self, jobs);
    broker_jobs_adopt (self, &jobs);
    queueing_start (self, root);
    commit_durable (self->commit);
    async_log_debug ("broker", "job.submitted", "job=%s task=%s queue=%s",
                     root->id, root->task ? root->task : "-", root->queue);
    return 0;
}

//  One spec of a SUBMIT: the job's id, whether it existed, whether the
//  sender now waits for it. 0, or -1 with the reason in err
static int
s_submit_one (broker_t *self, zframe_t *routing, const msgpack_object *spec, bool wait,
              bool brief, char *id, bool *existing, bool *waiting, size_t *unservable,
              char *err, size_t err_size)
{
    if (wait && waiters_room (self->waiters, routing, err, err_size))
        return -1;              //  nothing made: it could not be waited for
    if (s_submit (self, spec, id, existing, unservable, err, err_size))
        return -1;
    //  Submit and wait in one request: the waiter is registered now, so
    //  the outcome is pushed without a WAIT (unless the job is done already:
    //  then the client asks with WAIT)
    async_job_t *job = wait && !*existing ? jobcache_lookup (self->jobs, id) : NULL;
    *waiting = job && job->status != ASYNC_COMPLETED;
    if (*waiting && waiters_add (self->waiters, routing, id, brief, err, err_size))
        *waiting = false;       //  (not for lack of room: checked above)
    return 0;
}

//  The ACCEPTED of one spec (or its entry in a batch)
static async_accepted_t
s_accepted (const char *id, bool existing, bool waiting, size_t unservable)
{
    async_accepted_t accepted = { .existing = existing, .waiting = waiting,
                                  .has_unservable = unservable != 0,
                                  .unservable = unservable };
    memcpy (accepted.id, id, ASYNC_ID_LEN);
    return accepted;
}

//  At most this many specs in one SUBMIT (`specs`)
#define S_SUBMIT_SPECS 4096

void
requests_on_submit (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    char err [300], id [ASYNC_ID_LEN];
    bool existing, waiting;
    size_t unservable;
    //  A spec of another type is refused by spec_parse, as a missing one
    async_submit_t request;
    async_submit_bad_t bad;
    async_submit_decode_each (&request, &bad, in);
    bool wait = request.has_wait && request.wait;
    bool brief = request.has_brief && request.brief;
    const msgpack_object *specs = request.specs.object;
    if (!specs && !bad.specs) {
        if (s_submit_one (self, routing, request.spec.object, wait, brief,
                          id, &existing, &waiting, &unservable, err, sizeof err)) {
            broker_error (self, routing, in->rid, ASYNC_EREFUSED, err);
            return;
        }
        async_msg_t msg;
        async_accepted_t accepted = s_accepted (id, existing, waiting, unservable);
        async_accepted_encode (&msg, ASYNC_S_ACCEPTED, in->rid, &accepted);
        broker_reply_later (self, routing, &msg);
        return;
    }
    //  A batch: one ACCEPTED with an entry per spec, in order
    if (!specs || specs->via.array.size == 0 || specs->via.array.size > S_SUBMIT_SPECS) {
        snprintf (err, sizeof err, "specs must be an array of 1 to %d job specs",
                  S_SUBMIT_SPECS);
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, err);
        return;
    }
    msgpack_sbuffer entries;
    msgpack_sbuffer_init (&entries);
    for (uint32_t i = 0; i < specs->via.array.size; i++) {
        if (s_submit_one (self, routing, &specs->via.array.ptr [i], wait, brief,
                          id, &existing, &waiting, &unservable, err, sizeof err)) {
            async_refused_t refused = { .error = ASYNC_EREFUSED, .message = async_str (err) };
            async_refused_pack (&entries, &refused);
            continue;
        }
        async_accepted_t accepted = s_accepted (id, existing, waiting, unservable);
        async_accepted_pack (&entries, &accepted);
    }
    async_msg_t msg;
    async_accepted_many_t many = {
        .accepted = async_part_items (specs->via.array.size, &entries) };
    async_accepted_many_encode (&msg, ASYNC_S_ACCEPTED, in->rid, &many);
    msgpack_sbuffer_destroy (&entries);
    broker_reply_later (self, routing, &msg);
}

//  Reply to an action: OK once its writes are durable, or ERROR `rc`
static void
s_action_reply (broker_t *self, zframe_t *routing, uint64_t rid, int rc, const char *err)
{
    if (rc) {
        broker_error (self, routing, rid, rc, err);
        return;
    }
    async_msg_t msg;
    async_empty_encode (&msg, ASYNC_S_OK, rid);
    broker_reply_later (self, routing, &msg);
}

//  The job `id` names, from the cache; NULL with the reason in err
static async_job_t *
s_job_named (broker_t *self, const char *id, char *err, size_t err_size)
{
    async_job_t *job = async_id_valid (id) ? broker_job_load (self, id) : NULL;
    if (!job)
        snprintf (err, err_size, "no such job");
    return job;
}

int
requests_cancel (broker_t *self, const char *id, char *err, size_t err_size)
{
    async_job_t *job = s_job_named (self, id, err, err_size);
    if (!job)
        return ASYNC_ENOJOB;
    if (job->status == ASYNC_COMPLETED || job->status == ASYNC_CALLBACKS) {
        snprintf (err, err_size, "the job has already completed");
        return ASYNC_EREFUSED;
    }
    async_log_info ("broker", "job.cancel", "job=%s status=%s by=%s", job->id,
                    async_status_name (job->status), requests_actor (self));
    lifecycle_cancel (self, job);
    return 0;
}

//  A request about one job (a job_ref body: CANCEL, RETRY, DELETE): do
//  `action` on it and reply
static void
s_on_job_action (broker_t *self, zframe_t *routing, async_inmsg_t *in,
                 int (*action) (broker_t *, const char *, char *, size_t))
{
    char err [300] = "no such job";
    async_job_ref_t request;
    int rc = async_job_ref_decode (&request, in) ? ASYNC_ENOJOB
           : action (self, request.id, err, sizeof err);
    s_action_reply (self, routing, in->rid, rc, err);
}

void
requests_on_cancel (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    s_on_job_action (self, routing, in, requests_cancel);
}

void
requests_on_annotate (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    char name [ASYNC_MAX_NAME + 1];
    async_annotate_t request;
    async_annotate_bad_t bad;
    async_annotate_decode_each (&request, &bad, in);
    async_job_t *job = bad.id ? NULL : broker_job_load (self, request.id);
    if (!job) {
        broker_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job");
        return;
    }
    if (bad.name || async_str_copy (request.name, name, sizeof name) || !request.value.object) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, "ANNOTATE needs a name and a value");
        return;
    }
    if (spec_annotation_reserved (name, strlen (name))) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, "annotation names starting "
                      "with '" SPEC_RESERVED_ANNOTATIONS "' are the broker's");
        return;
    }
    char err [160];
    if (spec_annotations_set (&job->annotations, name, request.value.object, err,
                              sizeof err)) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, err);
        return;
    }
    broker_job_save (self, job);
    commit_durable (self->commit);
    async_msg_t msg;
    async_empty_encode (&msg, ASYNC_S_OK, in->rid);
    broker_reply_later (self, routing, &msg);
}

//  Add a callback to a job in any status; on a completed job it runs now
void
requests_on_add_callback (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    async_add_callback_t request;
    async_add_callback_bad_t bad;
    async_add_callback_decode_each (&request, &bad, in);
    async_job_t *job = bad.id ? NULL : broker_job_load (self, request.id);
    if (!job) {
        broker_error (self, routing, in->rid, ASYNC_ENOJOB, "no such job");
        return;
    }
    int on = spec_callback_on (request.on.object);
    if (on < 0) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED,
                 "\"on\" must be always, success or failure");
        return;
    }
    zlistx_t *jobs = zlistx_new ();
    zlistx_set_destructor (jobs, (zlistx_destructor_fn *) async_job_destroy);
    char err [300];
    //  (a spec of another type is refused by spec_parse, as a missing one)
    if (spec_parse (request.spec.object, async_now_us (), jobs, err, sizeof err)
    ||  s_check_quotas (self, jobs, err, sizeof err)) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, err);
        zlistx_destroy (&jobs);
        return;
    }
    async_job_t *callback = (async_job_t *) zlistx_first (jobs);
    if (callback->kind != ASYNC_KIND_TASK || callback->key) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, callback->key
                 ? "a callback has no idempotency key: key is for the job submitted"
                 : "a callback is a task, not a parallel or serial job");
        zlistx_destroy (&jobs);
        return;
    }
    callback->role = ASYNC_ROLE_CALLBACK;
    callback->on = on;
    memcpy (callback->parent, job->id, ASYNC_ID_LEN);
    if (!async_mp_get (request.spec.object, "queue"))
        async_job_set_str (&callback->queue, job->queue);
    char cid [ASYNC_ID_LEN];
    memcpy (cid, callback->id, ASYNC_ID_LEN);
    broker_jobs_adopt (self, &jobs);
    async_job_add_callback (job, cid);
    broker_job_save (self, job);
    if (job->status == ASYNC_COMPLETED) {
        //  Runs at once; the job stays completed
        job->callbacks_next = (int) job->ncallbacks;
        lifecycle_start_callback (self, job, broker_job_load (self, cid));
    }
    commit_durable (self->commit);
    async_callback_t added;
    memcpy (added.callback, cid, ASYNC_ID_LEN);
    async_msg_t msg;
    async_callback_encode (&msg, ASYNC_S_CALLBACK, in->rid, &added);
    broker_reply_later (self, routing, &msg);
}

//  ---------------------------------------------------------------------
//  Recurring schedules

//  Submit a schedule's spec for one tick: its idempotency key is the
//  tick's, so a tick whose batch committed creates nothing again
int
requests_every_submit (void *arg, const msgpack_object *spec, const char *key, char *id_out,
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
    size_t unservable;          //  (logged by s_submit; nobody to tell)
    if (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset)
        == MSGPACK_UNPACK_SUCCESS)
        rc = s_submit (self, &unpacked.data, id_out, &existing, &unservable, err, err_size);
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

void
requests_on_every (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    async_command_t cmd = req->command;
    char name [ASYNC_MAX_NAME + 1] = "", err [300];
    if (cmd == ASYNC_C_EVERY_LIST) {
        async_msg_t msg;
        broker_schedules_encode (self, &msg, in->rid);
        broker_send (self, routing, &msg);
        return;
    }
    //  A field of the wrong type counts as present (a cron, tz or
    //  interval_ms given) and is refused as a bad one
    async_every_t request;
    async_every_bad_t bad;
    async_every_decode_each (&request, &bad, in);
    if (bad.name || async_str_copy (request.name, name, sizeof name))
        *name = 0;              //  (refused as a bad name)
    if (cmd == ASYNC_C_EVERY_SET) {
        int64_t interval_ms = request.interval_ms, interval_us = 0;
        const msgpack_object *spec = request.spec.object;
        //  A spec that would never submit is refused now, not at each tick
        zlistx_t *jobs = zlistx_new ();
        zlistx_set_destructor (jobs, (zlistx_destructor_fn *) async_job_destroy);
        //  A cron schedule: "cron" (and "tz") instead of "interval_ms"
        char cron [ASYNC_CRON_MAX + 1] = "", tz [ASYNC_TZ_NAME_MAX + 1] = "UTC";
        bool cron_field = request.has_cron || bad.cron;
        bool tz_field = request.has_tz || bad.tz;
        int rc = 0;
        if (cron_field || tz_field) {
            if (!request.has_cron || async_str_copy (request.cron, cron, sizeof cron)) {
                rc = -1;
                snprintf (err, sizeof err, "cron must be a string of at most %d bytes "
                          "(tz goes with cron)", ASYNC_CRON_MAX);
            }
            else
            if (tz_field && (!request.has_tz || async_str_copy (request.tz, tz, sizeof tz))) {
                rc = -1;
                snprintf (err, sizeof err, "tz must be a string of at most %d bytes: UTC, "
                          "a fixed offset like +01:00 or a name like Europe/Paris",
                          ASYNC_TZ_NAME_MAX);
            }
            else
            if (request.has_interval_ms || bad.interval_ms) {
                rc = -1;
                snprintf (err, sizeof err, "EVERY-SET takes interval_ms or cron, not both");
            }
            else {
                interval_us = every_cron_interval (cron, tz, async_now_us (), err,
                                                   sizeof err);
                rc = interval_us < 0 ? -1 : 0;
            }
        }
        else
        if ((rc = request.has_interval_ms ? 0 : -1))
            snprintf (err, sizeof err, "EVERY-SET needs interval_ms or cron");
        if (rc == 0 && !cron_field
        &&  (async_mul_i64 (interval_ms, 1000, &interval_us)
        ||   interval_us < EVERY_INTERVAL_MIN || interval_us > EVERY_INTERVAL_MAX)) {
            rc = -1;
            snprintf (err, sizeof err, "bad interval for schedule '%s': give 1s to 366d",
                      name);
        }
        if (rc == 0)
            rc = spec_parse (spec, async_now_us (), jobs, err, sizeof err)
              || s_check_quotas (self, jobs, err, sizeof err)
              || s_every_budget (self, name, zlistx_size (jobs), interval_us, err,
                                 sizeof err)
              || (cron_field ? every_set_cron (self->every, name, cron, tz, spec,
                                          zlistx_size (jobs), async_now_us (), err,
                                          sizeof err)
                        : every_set (self->every, name, interval_us, spec,
                                     zlistx_size (jobs), async_now_us (), err,
                                     sizeof err));
        zlistx_destroy (&jobs);
        if (rc) {
            broker_error (self, routing, in->rid, ASYNC_EREFUSED, err);
            return;
        }
        if (cron_field) {
            char quoted [2 * ASYNC_CRON_MAX];
            async_log_info ("broker", "every.set", "schedule=%s cron=\"%s\" tz=%s", name,
                            async_log_quote (cron, quoted, sizeof quoted), tz);
        }
        else
            async_log_info ("broker", "every.set", "schedule=%s interval_ms=%" PRId64,
                            name, interval_ms);
    }
    else
    if (every_delete (self->every, name)) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, "no such schedule");
        return;
    }
    commit_durable (self->commit);
    async_msg_t msg;
    async_empty_encode (&msg, ASYNC_S_OK, in->rid);
    broker_reply_later (self, routing, &msg);
}

//  ---------------------------------------------------------------------
//  Quotas

int
requests_quota (broker_t *self, const char *name, int64_t size, char *err, size_t err_size)
{
    if (!spec_name_valid (name)) {
        snprintf (err, err_size, "a quota name is letters, digits and _-.: (at most 200)");
        return ASYNC_EREFUSED;
    }
    char key [KEYS_MAX];
    size_t klen = keys_name (key, KEYS_QUOTA, name);
    if (size) {
        if (size < 1 || size > QUOTA_SIZE_MAX) {
            snprintf (err, err_size, "a quota size is a whole number from 1 to 1000000000");
            return ASYNC_EREFUSED;
        }
        if (quota_set (self->quotas, name, size)) {
            //  A quota made (again) while jobs naming it run: they count,
            //  or their ends would take it below zero, past its size
            async_job_t *job = jobcache_first (self->jobs);
            for (; job; job = jobcache_next (self->jobs))
                if (broker_job_is_live (job))
                    quota_count_one (self->quotas, &job->quotas, name, +1);
        }
        uint8_t value [8];
        store_put_be64 (value, (uint64_t) size);
        store_put (self->store, key, klen, value, 8);
        async_log_info ("broker", "quota.set", "quota=%s size=%" PRId64 " by=%s", name, size,
                        requests_actor (self));
    }
    else {
        if (quota_delete (self->quotas, name)) {
            snprintf (err, err_size, "no such quota");
            return ASYNC_EREFUSED;
        }
        store_delete (self->store, key, klen);
        async_log_info ("broker", "quota.deleted", "quota=%s by=%s", name,
                        requests_actor (self));
    }
    commit_durable (self->commit);
    return 0;
}

void
requests_on_quota (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    async_command_t cmd = req->command;
    if (cmd == ASYNC_C_QUOTA_LIST) {
        async_msg_t msg;
        broker_quotas_encode (self, &msg, in->rid);
        broker_send (self, routing, &msg);
        return;
    }
    char name [ASYNC_MAX_NAME + 1] = "", err [300];
    async_quota_t request;
    async_quota_bad_t bad;
    async_quota_decode_each (&request, &bad, in);
    if (bad.name || async_str_copy (request.name, name, sizeof name))
        *name = 0;              //  (refused as a bad name)
    int64_t size = 0;
    if (cmd == ASYNC_C_QUOTA_SET)
        size = request.has_size && request.size ? request.size : -1;
                                //  (-1: refused as a bad size)
    int rc = requests_quota (self, name, size, err, sizeof err);
    s_action_reply (self, routing, in->rid, rc, err);
}

//  ---------------------------------------------------------------------
//  Pausing queues

int
requests_queue_pause (broker_t *self, const char *queue, bool pause, char *err,
                      size_t err_size)
{
    if (!spec_name_valid (queue)) {
        snprintf (err, err_size, "a queue name is letters, digits and _-.: (at most 200)");
        return ASYNC_EREFUSED;
    }
    if (pause && !dispatch_paused (self->dispatch, queue)
    &&  dispatch_paused_count (self->dispatch) >= DISPATCH_PAUSED_MAX) {
        snprintf (err, err_size, "%zu queues are paused already (at most %d); resume one "
                  "first", dispatch_paused_count (self->dispatch), DISPATCH_PAUSED_MAX);
        return ASYNC_EREFUSED;
    }
    //  Pausing a paused queue, or resuming a running one, changes nothing
    //  and is answered OK as well (after the commit: the state is durable)
    if (dispatch_pause (self->dispatch, queue, pause)) {
        char key [KEYS_MAX];
        size_t klen = keys_name (key, KEYS_PAUSED, queue);
        if (pause)
            store_put (self->store, key, klen, "", 0);
        else
            store_delete (self->store, key, klen);
        async_log_info ("broker", pause ? "queue.paused" : "queue.resumed", "queue=%s "
                        "pending=%zu by=%s", queue, dispatch_pending (self->dispatch, queue),
                        requests_actor (self));
    }
    commit_durable (self->commit);
    return 0;
}

void
requests_on_queue_pause (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    async_command_t cmd = req->command;
    char queue [ASYNC_MAX_NAME + 1] = "", err [300];
    async_queue_t request;
    async_queue_bad_t bad;
    async_queue_decode_each (&request, &bad, in);
    if (bad.queue || async_str_copy (request.queue, queue, sizeof queue))
        *queue = 0;             //  (refused as a bad name)
    int rc = requests_queue_pause (self, queue, cmd == ASYNC_C_QUEUE_PAUSE, err, sizeof err);
    s_action_reply (self, routing, in->rid, rc, err);
}

//  ---------------------------------------------------------------------
//  Retrying and deleting completed jobs

int
requests_retry (broker_t *self, const char *id, char *err, size_t err_size)
{
    async_job_t *job = s_job_named (self, id, err, err_size);
    if (!job)
        return ASYNC_ENOJOB;
    return lifecycle_retry (self, job, requests_actor (self), err, err_size)
         ? ASYNC_EREFUSED : 0;
}

void
requests_on_retry (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    s_on_job_action (self, routing, in, requests_retry);
}

int
requests_delete (broker_t *self, const char *id, char *err, size_t err_size)
{
    async_job_t *job = async_id_valid (id) ? broker_job_read (self, id) : NULL;
    if (!job) {
        snprintf (err, err_size, "no such job");
        return ASYNC_ENOJOB;
    }
    *err = 0;
    if (job->status != ASYNC_COMPLETED)
        snprintf (err, err_size, "job %s is %s: only a completed job is deleted (cancel "
                  "it first)", job->id, async_status_name (job->status));
    else
    if (job->kind != ASYNC_KIND_TASK)
        snprintf (err, err_size, "job %s is a parallel or serial job: it is not deleted "
                  "(its children would stay); it goes with the retention purge", job->id);
    else
    if (job->role != ASYNC_ROLE_JOB)
        snprintf (err, err_size, "job %s is part of job %s: it is not deleted alone; it "
                  "goes with the retention purge", job->id, job->parent);
    else
    if (!upkeep_forget_job (self, job->id, job->completed_at))
        snprintf (err, err_size, "job %s is being written; try again in a moment",
                  job->id);
    if (*err) {
        async_job_destroy (&job);
        return ASYNC_EREFUSED;
    }
    async_log_info ("broker", "job.deleted", "job=%s task=%s queue=%s failed=%d by=%s",
                    job->id, job->task, job->queue, job->failure.size > 0,
                    requests_actor (self));
    async_job_destroy (&job);
    commit_durable (self->commit);
    return 0;
}

void
requests_on_delete (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    s_on_job_action (self, routing, in, requests_delete);
}
