/*  =========================================================================
    async_client - the client API over one DEALER socket
    =========================================================================
*/
#include "asyncmesh/client.h"
#include "async_codec.h"
#include "async_msgs.h"
#include "async_idmap.h"
#include "async_job.h"
#include "async_keys.h"
#include "async_util.h"
#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>

struct _async_client_t {
    zsock_t *dealer;
    zsock_t *monitor;           //  the dealer's handshake events (PAIR)
    char *endpoint;
    int timeout_ms;
    uint64_t rid;
    bool connected;             //  connects at the first request
    bool curve;                 //  CURVE keys set
    int broken;                 //  handshakes cut short since the last good one
    char error [512];
    size_t unservable;          //  of the last submit (async_client_unservable)
};

//  The handshake events that say whether the broker let us in
#define S_HANDSHAKE_EVENTS (ZMQ_EVENT_HANDSHAKE_SUCCEEDED                   \
                          | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL            \
                          | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL             \
                          | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

struct _async_spec_t {
    json_t *json;
};

async_client_t *
async_client_new (const char *endpoint)
{
    if (!endpoint || !*endpoint)
        endpoint = getenv ("ASYNC_BROKER");
    if (!endpoint || !*endpoint)
        endpoint = ASYNC_DEFAULT_ENDPOINT;
    zsys_init ();
    zsys_handler_set (NULL);
    async_client_t *self = calloc (1, sizeof (async_client_t));
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->endpoint = strdup (endpoint);
    self->timeout_ms = 5000;
    self->rid = (uint64_t) async_mono_us ();
    self->dealer = self->endpoint ? zsock_new (ZMQ_DEALER) : NULL;
    if (!self->dealer) {
        async_client_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    zsock_set_linger (self->dealer, 0);
    //  Pipelined requests (async_submit_many_json) queue here, not drop
    zsock_set_sndhwm (self->dealer, 0);
    zsock_set_rcvhwm (self->dealer, 0);
    //  A receive does not block: s_recv polls only when nothing is there
    zsock_set_rcvtimeo (self->dealer, 0);
    zsock_set_maxmsgsize (self->dealer, ASYNC_MAX_MESSAGE * 4);
    zsock_set_reconnect_ivl (self->dealer, 100);
    zsock_set_reconnect_ivl_max (self->dealer, 1000);
    //  Check the endpoint now, on a socket of its own: the dealer connects
    //  at the first request, after async_client_set_curve, so that its
    //  monitor sees only the handshakes with the keys it will use
    zsock_t *probe = zsock_new (ZMQ_DEALER);
    int rc = probe ? zsock_connect (probe, "%s", endpoint) : -1;
    zsock_destroy (&probe);
    if (rc < 0) {
        async_client_destroy (&self);
        errno = EINVAL;
        return NULL;
    }
    return self;
}

void
async_client_destroy (async_client_t **self_p)
{
    async_client_t *self = *self_p;
    if (!self)
        return;
    if (self->monitor)
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

void
async_client_set_timeout (async_client_t *self, int msecs)
{
    self->timeout_ms = msecs > 0 ? msecs : 1;
}

int
async_client_set_curve (async_client_t *self, const char *key_file,
                        const char *broker_public_file)
{
    zcert_t *cert = zcert_load (key_file);
    zcert_t *server = zcert_load (broker_public_file);
    int rc = ASYNC_EINVAL;
    if (cert && server) {
        //  Takes effect on the next connect (the first request's)
        if (self->connected)
            zsock_disconnect (self->dealer, "%s", self->endpoint);
        self->connected = false;
        zcert_apply (cert, self->dealer);
        zsock_set_curve_serverkey (self->dealer, zcert_public_txt (server));
        self->curve = true;
        rc = 0;
    }
    else
        snprintf (self->error, sizeof self->error, "cannot read key file %s",
                  cert ? broker_public_file : key_file);
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return rc;
}

const char *
async_client_error (async_client_t *self)
{
    return self->error;
}

size_t
async_client_unservable (async_client_t *self)
{
    return self->unservable;
}

//  Count the jobs of an ACCEPTED (or one of its entries) no node takes
static void
s_count_unservable (async_client_t *self, const async_accepted_t *accepted)
{
    if (accepted->has_unservable && accepted->unservable <= INT32_MAX)
        self->unservable += (size_t) accepted->unservable;
}

//  ---------------------------------------------------------------------
//  Requests

//  Connect the dealer, with a monitor on its handshakes. 0 or -1
static int
s_connect (async_client_t *self)
{
    if (self->connected)
        return 0;
    if (!self->monitor) {
        //  A name of its own: a name made of the client's address was
        //  often the last client's, still bound while ZeroMQ's reaper
        //  thread closed that one's monitor, and then this client had none
        static atomic_uint_fast64_t monitors;
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "inproc://async-client-monitor-%" PRIuFAST64,
                  atomic_fetch_add (&monitors, 1));
        if (zmq_socket_monitor (zsock_resolve (self->dealer), endpoint,
                                S_HANDSHAKE_EVENTS) == 0) {
            self->monitor = zsock_new (ZMQ_PAIR);
            if (self->monitor && zsock_connect (self->monitor, "%s", endpoint))
                zsock_destroy (&self->monitor);
        }
    }
    else {
        //  Events of the connection set_curve dropped are stale now
        while (zsock_events (self->monitor) & ZMQ_POLLIN) {
            zmsg_t *event = zmsg_recv (self->monitor);
            zmsg_destroy (&event);
        }
    }
    if (zsock_connect (self->dealer, "%s", self->endpoint) < 0)
        return -1;
    self->connected = true;
    return 0;
}

//  A handshake event (the monitor is readable). The broker refused our
//  key, or we speak another mechanism: ASYNC_EUNREACH and why in
//  self->error. A handshake cut short (a wrong broker key, or a plain
//  client whose close crossed the broker's) fails only the third time in a
//  row: a broker that dies mid-handshake is not a refusal. Else 0.
static int
s_handshake (async_client_t *self)
{
    uint32_t value;
    int number = async_keys_handshake_event (self->monitor, &value);
    if (number == 0)
        return 0;
    if (number == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->broken = 0;
        return 0;
    }
    if (number == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && ++self->broken < 3)
        return 0;
    async_keys_refusal (number, value, self->curve, self->endpoint, self->error,
                        sizeof self->error);
    return ASYNC_EUNREACH;
}

static int
s_send (async_client_t *self, async_msg_t *msg)
{
    if (s_connect (self)) {
        async_msg_destroy (msg);
        return -1;
    }
    assert (async_msg_valid (msg));
    zframe_t *frame = zframe_new (msg->buffer.data, msg->buffer.size);
    async_msg_destroy (msg);
    if (zframe_send (&frame, self->dealer, ZFRAME_DONTWAIT)) {
        zframe_destroy (&frame);
        return -1;
    }
    return 0;
}

//  A job id as a typed field: "" when it cannot be one (the broker
//  answers "no such job", as to an id that names none)
static void
s_id_copy (char *field, const char *id)
{
    snprintf (field, ASYNC_ID_LEN, "%s", id && strlen (id) < ASYNC_ID_LEN ? id : "");
}

//  WAIT for job `id`
static int
s_send_wait (async_client_t *self, const char *id)
{
    async_job_ref_t wait;
    s_id_copy (wait.id, id);
    async_msg_t msg;
    async_job_ref_encode (&msg, ASYNC_C_WAIT, ++self->rid, &wait);
    return s_send (self, &msg);
}

//  Receive one message within msecs. 0, ASYNC_ETIMEOUT, ASYNC_EPROTO, or
//  ASYNC_EUNREACH when the handshake failed (self->error says why)
static int
s_recv (async_client_t *self, int msecs, zframe_t **frame_p, async_inmsg_t *in)
{
    int64_t deadline = msecs < 0 ? INT64_MAX : async_mono_us () + (int64_t) msecs * 1000;
    zframe_t *frame = zframe_recv (self->dealer);
    while (!frame) {
        zmq_pollitem_t items [] = {
            { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 },
            { self->monitor ? zsock_resolve (self->monitor) : NULL, 0, ZMQ_POLLIN, 0 }
        };
        int64_t left = deadline - async_mono_us ();
        if (left < 0)
            left = 0;
        long timeout = deadline == INT64_MAX ? -1 : (long) ((left + 999) / 1000);
        int ready = zmq_poll (items, self->monitor ? 2 : 1, timeout);
        if (ready < 0 && zmq_errno () != EINTR)
            return ASYNC_ETIMEOUT;
        if (ready > 0 && (items [1].revents & ZMQ_POLLIN) && s_handshake (self))
            return ASYNC_EUNREACH;
        if (ready > 0 && (items [0].revents & ZMQ_POLLIN))
            frame = zframe_recv (self->dealer);
        if (!frame && (ready == 0 || async_mono_us () >= deadline))
            return ASYNC_ETIMEOUT;
    }
    const char *why;
    if (async_inmsg_parse (in, zframe_data (frame), zframe_size (frame), &why)) {
        async_inmsg_destroy (in);
        zframe_destroy (&frame);
        return ASYNC_EPROTO;
    }
    *frame_p = frame;
    return 0;
}

//  The same, waiting at most until `deadline` (monotonic us)
static int
s_recv_by (async_client_t *self, int64_t deadline, zframe_t **frame_p, async_inmsg_t *in)
{
    int64_t left = deadline - async_mono_us ();
    return left > 0 ? s_recv (self, (int) (left / 1000) + 1, frame_p, in) : ASYNC_ETIMEOUT;
}

static int
s_unreachable (async_client_t *self)
{
    snprintf (self->error, sizeof self->error,
              "cannot reach the broker at %s; is asyncbroker running? "
              "(set --broker or ASYNC_BROKER)", self->endpoint);
    return ASYNC_EUNREACH;
}

//  An ERROR reply: its code, and its message kept for async_client_error
static int
s_error_reply (async_client_t *self, async_inmsg_t *in)
{
    async_error_t error;
    if (async_error_decode (&error, in))
        error = (async_error_t) { .code = ASYNC_EREFUSED, .message = async_str ("refused") };
    //  (a message is at most a frame: its size fits an int)
    snprintf (self->error, sizeof self->error, "%.*s", (int) error.message.size,
              error.message.data);
    if (error.code < 1 || error.code > ASYNC_EUNSAVED)
        error.code = ASYNC_EREFUSED;
    return (int) error.code;
}

//  Send msg and wait for the reply with its rid. On 0, *frame_p and *in
//  hold the reply (caller destroys both)
static int
s_request (async_client_t *self, async_msg_t *msg, uint64_t rid,
           zframe_t **frame_p, async_inmsg_t *in)
{
    self->error [0] = 0;
    if (s_send (self, msg))
        return s_unreachable (self);
    int64_t deadline = async_mono_us () + (int64_t) self->timeout_ms * 1000;
    while (true) {
        int64_t left = deadline - async_mono_us ();
        if (left <= 0)
            return s_unreachable (self);
        zframe_t *frame = NULL;
        int rc = s_recv (self, (int) (left / 1000) + 1, &frame, in);
        if (rc == ASYNC_ETIMEOUT)
            return s_unreachable (self);
        if (rc == ASYNC_EUNREACH)
            return rc;
        if (rc)
            continue;
        if (in->rid == rid) {
            if (async_inmsg_is (in, ASYNC_S_ERROR)) {
                rc = s_error_reply (self, in);
                async_inmsg_destroy (in);
                zframe_destroy (&frame);
                return rc;
            }
            *frame_p = frame;
            return 0;
        }
        async_inmsg_destroy (in);          //  a stale reply: skip it
        zframe_destroy (&frame);
    }
}

static char *
s_dumps (json_t *json)
{
    char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    json_decref (json);
    return text;
}

static char *
s_job_text (const msgpack_object *object)
{
    async_job_t *job = async_job_decode_object (object);
    if (!job)
        return NULL;
    json_t *json = async_job_to_json (job);
    async_job_destroy (&job);
    return s_dumps (json);
}

//  ---------------------------------------------------------------------
//  The JSON API

int
async_submit_json (async_client_t *self, const char *spec_json, char *id_out)
{
    return async_submit_many_json (self, &spec_json, 1, id_out, NULL);
}

//  A JSON spec text as a JSON object, or NULL (self->error says why)
static json_t *
s_spec_load (async_client_t *self, const char *spec_json)
{
    json_error_t error;
    json_t *spec = json_loads (spec_json, 0, &error);
    if (!spec || !json_is_object (spec)) {
        snprintf (self->error, sizeof self->error, "the job spec is not a JSON object: %s "
                  "(line %d)", spec ? "wrong type" : error.text, error.line);
        json_decref (spec);
        return NULL;
    }
    return spec;
}

#define S_UNPACKABLE "a job spec holds a value msgpack cannot carry (nested too deep, " \
                     "or bad base64 in $bin)"

//  A JSON value (taken) as the msgpack bytes of a typed field: *data
//  (caller frees) and *size. 0, or ASYNC_EUSAGE when msgpack cannot carry it
static int
s_bytes_of (async_client_t *self, json_t *json, uint8_t **data, size_t *size)
{
    int rc = async_codec_encode_json (json, data, size);
    json_decref (json);
    if (rc) {
        snprintf (self->error, sizeof self->error, "%s", S_UNPACKABLE);
        return ASYNC_EUSAGE;
    }
    return 0;
}

//  Start msg as a SUBMIT of `json` (taken): a spec, or an array of specs
//  (`batch`: also `brief`). 0 or ASYNC_EUSAGE
static int
s_submit_encode (async_client_t *self, json_t *json, bool batch, bool wait, async_msg_t *msg,
                 uint64_t rid)
{
    uint8_t *data;
    size_t size;
    if (s_bytes_of (self, json, &data, &size))
        return ASYNC_EUSAGE;
    async_submit_t submit = { .has_wait = wait, .wait = wait, .has_brief = batch, .brief = batch };
    if (batch) {
        submit.has_specs = true;
        submit.specs.data = data;
        submit.specs.size = size;
    }
    else {
        submit.has_spec = true;
        submit.spec.data = data;
        submit.spec.size = size;
    }
    async_submit_encode (msg, ASYNC_C_SUBMIT, rid, &submit);
    free (data);
    return 0;
}

//  Pack a JSON spec text as a SUBMIT message. 0 or ASYNC_EUSAGE
static int
s_submit_msg (async_client_t *self, const char *spec_json, uint64_t rid, async_msg_t *msg,
              bool wait)
{
    json_t *spec = s_spec_load (self, spec_json);
    if (!spec)
        return ASYNC_EUSAGE;
    return s_submit_encode (self, spec, false, wait, msg, rid);
}

int
async_submit_many_json (async_client_t *self, const char *const *specs_json, size_t count,
                        char *ids_out, int *rcs_out)
{
    self->error [0] = 0;
    self->unservable = 0;
    uint64_t first = self->rid + 1;
    self->rid += count;
    size_t waiting = 0;
    int result = 0;
    //  Send all (the socket queues them), then collect the replies by rid
    for (size_t i = 0; i < count; i++) {
        async_msg_t msg;
        int rc = s_submit_msg (self, specs_json [i], first + i, &msg, false);
        if (rc == 0 && s_send (self, &msg))
            rc = s_unreachable (self);
        if (rcs_out)
            rcs_out [i] = rc ? rc : -1;
        ids_out [i * ASYNC_ID_LEN] = 0;
        if (rc && !result)
            result = rc;
        waiting += rc == 0;
    }
    int64_t deadline = async_mono_us () + (int64_t) self->timeout_ms * 1000;
    while (waiting) {
        zframe_t *frame = NULL;
        async_inmsg_t in;
        int rc = s_recv_by (self, deadline, &frame, &in);
        if (rc == ASYNC_ETIMEOUT || rc == ASYNC_EUNREACH) {
            if (!result)
                result = rc == ASYNC_EUNREACH ? rc : s_unreachable (self);
            break;
        }
        if (rc)
            continue;
        if (in.rid >= first && in.rid < first + count) {
            size_t i = (size_t) (in.rid - first);
            int code = 0;
            async_accepted_t accepted;
            if (async_inmsg_is (&in, ASYNC_S_ERROR))
                code = s_error_reply (self, &in);
            else
            if (async_accepted_decode (&accepted, &in))
                code = ASYNC_EPROTO;
            else {
                memcpy (ids_out + i * ASYNC_ID_LEN, accepted.id, ASYNC_ID_LEN);
                s_count_unservable (self, &accepted);
            }
            if (rcs_out)
                rcs_out [i] = code;
            if (code && !result)
                result = code;
            waiting--;
            //  A later reply may push the deadline: the broker is alive
            deadline = async_mono_us () + (int64_t) self->timeout_ms * 1000;
        }
        async_inmsg_destroy (&in);
        zframe_destroy (&frame);
    }
    if (rcs_out)
        for (size_t i = 0; i < count; i++)
            if (rcs_out [i] == -1)
                rcs_out [i] = ASYNC_EUNREACH;
    return result;
}

//  The jobs a JOB push carries: `jobs` (brief, a batch), or `job`; read
//  each with async_job_brief_decode_map (a whole record has those fields)
static const msgpack_object *
s_pushed_jobs (async_inmsg_t *in, uint32_t *count)
{
    async_job_briefs_t briefs;
    if (async_job_briefs_decode (&briefs, in) == 0) {
        *count = briefs.jobs.object->via.array.size;
        return briefs.jobs.object->via.array.ptr;
    }
    async_job_record_t record;
    *count = async_job_record_decode (&record, in) == 0;
    return record.job.object;
}

//  Wait until every id in `open` has completed; `registered`: the broker
//  knows we wait for them (SUBMIT with wait), so WAIT goes only as a resend
static int
s_wait_all (async_client_t *self, async_idmap_t *open, int timeout_ms, bool registered,
            size_t *failed_out)
{
    size_t failed = 0;
    int64_t start = async_mono_us ();
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : start + (int64_t) timeout_ms * 1000;
    int64_t heard = registered ? start : 0;
    int64_t next_send = registered ? start + 5000000 : 0;
    int rc = 0;
    while (async_idmap_size (open)) {
        int64_t now = async_mono_us ();
        if (now >= deadline) {
            rc = ASYNC_ETIMEOUT;
            break;
        }
        if ((!heard && now - start > (int64_t) self->timeout_ms * 1000)
        ||  (heard && now - heard > 60000000)) {
            rc = s_unreachable (self);
            break;
        }
        if (now >= next_send && registered && now - heard < 5000000)
            next_send = heard + 5000000;        //  the broker is there
        else
        if (now >= next_send) {
            //  WAIT for every open id; again every 5 s (broker restarts)
            const char *id = async_idmap_first (open) ? async_idmap_cursor (open) : NULL;
            while (id) {
                s_send_wait (self, id);
                id = async_idmap_next (open) ? async_idmap_cursor (open) : NULL;
            }
            next_send = now + 5000000;
        }
        int64_t until = next_send < deadline ? next_send : deadline;
        zframe_t *frame = NULL;
        async_inmsg_t in;
        int recv_rc = s_recv (self, (int) ((until - now) / 1000) + 1, &frame, &in);
        if (recv_rc == ASYNC_EUNREACH) {
            rc = recv_rc;
            break;
        }
        if (recv_rc)
            continue;
        heard = async_mono_us ();
        if (async_inmsg_is (&in, ASYNC_S_JOB)) {
            uint32_t njobs;
            const msgpack_object *jobs = s_pushed_jobs (&in, &njobs);
            for (uint32_t j = 0; j < njobs; j++) {
                async_job_brief_t brief;
                if (async_job_brief_decode_map (&brief, &jobs [j]) == 0
                &&  brief.status == ASYNC_COMPLETED && async_idmap_lookup (open, brief.id)) {
                    const msgpack_object *failure = brief.failure.object;
                    failed += failure && failure->type != MSGPACK_OBJECT_NIL;
                    async_idmap_delete (open, brief.id);
                }
            }
        }
        else
        if (async_inmsg_is (&in, ASYNC_S_ERROR)) {
            rc = s_error_reply (self, &in);
            async_inmsg_destroy (&in);
            zframe_destroy (&frame);
            break;
        }
        async_inmsg_destroy (&in);
        zframe_destroy (&frame);
    }
    if (failed_out)
        *failed_out += failed;
    return rc;
}

int
async_wait_all (async_client_t *self, const char *ids, size_t count, int timeout_ms,
                size_t *failed_out)
{
    self->error [0] = 0;
    async_idmap_t *open = async_idmap_new ();   //  ids not completed yet
    if (!open)
        return ASYNC_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        const char *id = ids + i * ASYNC_ID_LEN;
        if (strnlen (id, ASYNC_ID_LEN) >= ASYNC_ID_LEN) {
            snprintf (self->error, sizeof self->error,
                      "no such job: id %zu of the list is not a job id "
                      "(not a string of at most %d characters)", i, ASYNC_ID_LEN - 1);
            async_idmap_destroy (&open);
            return ASYNC_ENOJOB;
        }
        async_idmap_insert (open, id, (void *) 1);
    }
    if (failed_out)
        *failed_out = 0;
    int rc = s_wait_all (self, open, timeout_ms, false, failed_out);
    async_idmap_destroy (&open);
    return rc;
}

//  Specs per SUBMIT of async_submit_wait_many_json, and their bytes at most
#define S_BATCH_SPECS 256
#define S_BATCH_BYTES (1024 * 1024)

//  One SUBMIT with `specs` (from specs_json [*next] on): sends it, advances
//  *next. 0, or an error (a bad spec: the batch ends before it)
static int
s_submit_batch (async_client_t *self, const char *const *specs_json, size_t count,
                size_t *next, uint64_t rid)
{
    json_t *batch = json_array ();
    size_t bytes = 0;
    int rc = 0;
    while (*next + json_array_size (batch) < count && json_array_size (batch) < S_BATCH_SPECS
       &&  bytes < S_BATCH_BYTES) {
        const char *text = specs_json [*next + json_array_size (batch)];
        json_t *spec = s_spec_load (self, text);
        if (!spec) {
            rc = ASYNC_EUSAGE;
            break;
        }
        bytes += strlen (text);
        json_array_append_new (batch, spec);
    }
    size_t n = json_array_size (batch);
    if (n) {
        async_msg_t msg;
        if (s_submit_encode (self, json_incref (batch), true, true, &msg, rid)) {
            rc = ASYNC_EUSAGE;
            n = 0;
        }
        else
        if (s_send (self, &msg))
            rc = s_unreachable (self);
    }
    json_decref (batch);
    *next += n;
    return n ? rc : (rc ? rc : ASYNC_EUSAGE);
}

int
async_submit_wait_many_json (async_client_t *self, const char *const *specs_json,
                             size_t count, int timeout_ms, char *ids_out, size_t *failed_out)
{
    self->error [0] = 0;
    self->unservable = 0;
    if (failed_out)
        *failed_out = 0;
    for (size_t i = 0; i < count; i++)
        ids_out [i * ASYNC_ID_LEN] = 0;
    //  SUBMITs of up to S_BATCH_SPECS specs, pipelined; SUBMIT k starts at
    //  spec starts [k]
    size_t nbatches = (count + S_BATCH_SPECS - 1) / S_BATCH_SPECS + 1;
    size_t *starts = (size_t *) calloc (nbatches + count, sizeof (size_t));
    async_idmap_t *open = async_idmap_new ();   //  accepted, not completed
    async_idmap_t *early = async_idmap_new ();  //  completed, not accepted yet
    if (!starts || !open || !early) {
        free (starts);
        async_idmap_destroy (&open);
        async_idmap_destroy (&early);
        return ASYNC_ENOMEM;
    }
    uint64_t first = self->rid + 1;
    size_t sent = 0, batches = 0;
    int result = 0;
    while (sent < count && !result) {
        starts [batches] = sent;
        size_t before = sent;
        result = s_submit_batch (self, specs_json, count, &sent, first + batches);
        batches += sent > before;
    }
    starts [batches] = sent;
    self->rid += batches;
    size_t accepting = batches;
    size_t failed = 0;
    //  ACCEPTED for each SUBMIT (the broker then waits for us), and JOBs
    //  of the jobs that complete meanwhile (after their ACCEPTED)
    int64_t deadline = async_mono_us () + (int64_t) self->timeout_ms * 1000;
    while (accepting && !result) {
        zframe_t *frame = NULL;
        async_inmsg_t in;
        int rc = s_recv_by (self, deadline, &frame, &in);
        if (rc == ASYNC_ETIMEOUT || rc == ASYNC_EUNREACH) {
            result = rc == ASYNC_EUNREACH ? rc : s_unreachable (self);
            break;
        }
        if (rc)
            continue;
        deadline = async_mono_us () + (int64_t) self->timeout_ms * 1000;
        if (async_inmsg_is (&in, ASYNC_S_JOB) && in.rid == 0) {
            uint32_t njobs;
            const msgpack_object *jobs = s_pushed_jobs (&in, &njobs);
            for (uint32_t j = 0; j < njobs; j++) {
                async_job_brief_t brief;
                if (async_job_brief_decode_map (&brief, &jobs [j]))
                    continue;
                const msgpack_object *failure = brief.failure.object;
                bool bad = failure && failure->type != MSGPACK_OBJECT_NIL;
                if (async_idmap_lookup (open, brief.id)) {
                    async_idmap_delete (open, brief.id);
                    failed += bad;
                }
                else
                    async_idmap_insert (early, brief.id, (void *) (uintptr_t) (bad ? 2 : 1));
            }
        }
        else
        if (in.rid >= first && in.rid < first + batches) {
            size_t k = (size_t) (in.rid - first);
            async_accepted_many_t many;
            size_t n = starts [k + 1] - starts [k];
            if (async_inmsg_is (&in, ASYNC_S_ERROR))
                result = s_error_reply (self, &in);
            else
            if (async_accepted_many_decode (&many, &in)
            ||  many.accepted.object->via.array.size != n)
                result = ASYNC_EPROTO;
            for (size_t j = 0; j < n && !result; j++) {
                const msgpack_object *entry = &many.accepted.object->via.array.ptr [j];
                char *id = ids_out + (starts [k] + j) * ASYNC_ID_LEN;
                async_refused_t refused;
                async_accepted_t accepted;
                if (async_refused_decode_map (&refused, entry) == 0) {
                    //  (a message is at most a frame: its size fits an int)
                    snprintf (self->error, sizeof self->error, "%.*s",
                              (int) refused.message.size, refused.message.data);
                    result = refused.error >= 1 && refused.error <= ASYNC_EREFUSED
                           ? (int) refused.error : ASYNC_EREFUSED;
                    break;
                }
                if (async_accepted_decode_map (&accepted, entry)) {
                    result = ASYNC_EPROTO;
                    break;
                }
                memcpy (id, accepted.id, ASYNC_ID_LEN);
                int64_t waiting = accepted.waiting;
                s_count_unservable (self, &accepted);
                uintptr_t done = (uintptr_t) async_idmap_lookup (early, id);
                if (done) {
                    failed += done == 2;
                    async_idmap_delete (early, id);
                }
                else
                if (!async_idmap_lookup (open, id)) {
                    async_idmap_insert (open, id, (void *) 1);
                    if (!waiting) {
                        //  An existing job (same key): ask for it
                        s_send_wait (self, id);
                    }
                }
            }
            accepting--;
        }
        async_inmsg_destroy (&in);
        zframe_destroy (&frame);
    }
    free (starts);
    async_idmap_destroy (&early);
    if (result == 0)
        result = s_wait_all (self, open, timeout_ms, true, &failed);
    async_idmap_destroy (&open);
    if (failed_out)
        *failed_out = failed;
    return result;
}

int
async_wait_json (async_client_t *self, const char *id, int timeout_ms, char **job_json_out)
{
    return async_wait_progress_json (self, id, timeout_ms, NULL, NULL, job_json_out);
}

static int
    s_wait (async_client_t *self, const char *id, int timeout_ms, bool registered,
            async_progress_fn *progress, void *arg, char **job_json_out);

int
async_submit_wait_json (async_client_t *self, const char *spec_json, int timeout_ms,
                        char *id_out, char **job_json_out)
{
    *job_json_out = NULL;
    self->error [0] = 0;
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    int rc = s_submit_msg (self, spec_json, rid, &msg, true);
    if (rc)
        return rc;
    zframe_t *frame = NULL;
    async_inmsg_t in;
    rc = s_request (self, &msg, rid, &frame, &in);
    if (rc)
        return rc;
    async_accepted_t accepted;
    self->unservable = 0;
    if (async_accepted_decode (&accepted, &in))
        rc = ASYNC_EPROTO;
    else {
        memcpy (id_out, accepted.id, ASYNC_ID_LEN);
        s_count_unservable (self, &accepted);
    }
    int64_t waiting = accepted.waiting;
    async_inmsg_destroy (&in);
    zframe_destroy (&frame);
    if (rc)
        return rc;
    return s_wait (self, id_out, timeout_ms, waiting != 0, NULL, NULL, job_json_out);
}

int
async_wait_progress_json (async_client_t *self, const char *id, int timeout_ms,
                          async_progress_fn *progress, void *arg, char **job_json_out)
{
    return s_wait (self, id, timeout_ms, false, progress, arg, job_json_out);
}

//  Wait for the JOB pushed when the job completes; `registered`: the broker
//  knows we wait already (a SUBMIT with wait), so the first WAIT is a resend
static int
s_wait (async_client_t *self, const char *id, int timeout_ms, bool registered,
        async_progress_fn *progress, void *arg, char **job_json_out)
{
    *job_json_out = NULL;
    self->error [0] = 0;
    int64_t start = async_mono_us ();
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : start + (int64_t) timeout_ms * 1000;
    int64_t heard = registered ? start : 0;     //  last time the broker answered us
    int64_t next_send = registered ? start + 2000000 : 0;
    int64_t silence_limit = (int64_t) (self->timeout_ms > 10000 ? self->timeout_ms : 10000) * 1000;
    while (true) {
        int64_t now = async_mono_us ();
        if (now >= deadline)
            return ASYNC_ETIMEOUT;
        if (!heard && now - start > (int64_t) self->timeout_ms * 1000)
            return s_unreachable (self);
        if (heard && now - heard > silence_limit + 2000000)
            return s_unreachable (self);
        if (now >= next_send) {
            //  (Re)send: the broker answers WAITING, and JOB when done; a
            //  resend every 2 s carries the wait across a broker restart
            s_send_wait (self, id);
            next_send = now + 2000000;
        }
        int64_t until = next_send < deadline ? next_send : deadline;
        zframe_t *frame = NULL;
        async_inmsg_t in;
        int rc = s_recv (self, (int) ((until - now) / 1000) + 1, &frame, &in);
        if (rc == ASYNC_EUNREACH)
            return rc;
        if (rc)
            continue;
        heard = async_mono_us ();
        async_job_record_t record;
        if (async_job_record_decode (&record, &in) == 0) {
            const msgpack_object *job = record.job.object;
            char jid [ASYNC_ID_LEN] = "";
            async_mp_str (job, "id", jid, sizeof jid);
            if (streq (jid, id)) {
                *job_json_out = s_job_text (job);
                async_inmsg_destroy (&in);
                zframe_destroy (&frame);
                return *job_json_out ? 0 : ASYNC_EPROTO;
            }
        }
        else
        if ((async_inmsg_is (&in, ASYNC_S_PROGRESS) || async_inmsg_is (&in, ASYNC_S_WAITING))
        &&  progress) {
            async_job_progress_t pushed;
            if (async_job_progress_decode (&pushed, &in) == 0 && streq (pushed.id, id))
                progress (arg, pushed.done, pushed.total);
        }
        else
        if (async_inmsg_is (&in, ASYNC_S_ERROR)) {
            rc = s_error_reply (self, &in);
            async_inmsg_destroy (&in);
            zframe_destroy (&frame);
            return rc;
        }
        async_inmsg_destroy (&in);
        zframe_destroy (&frame);
    }
}

//  Send `command` with the fields of `query` (a JSON object, or NULL) as
//  its body and receive its reply, as s_request (LIST and COUNT: the
//  caller's query goes as it is, for the broker to check)
static int
s_request_json (async_client_t *self, async_command_t command, json_t *query,
                zframe_t **frame, async_inmsg_t *in)
{
    uint64_t rid = ++self->rid;
    async_msg_t msg;
    const char *key;
    json_t *value;
    async_msg_init (&msg, command, rid);
    if (query)
        json_object_foreach (query, key, value) {
            async_msg_key (&msg, key);
            async_codec_pack_json (&msg.packer, value);
        }
    return s_request (self, &msg, rid, frame, in);
}

//  Append the job JSON of each record of a JOBS array to `jobs`
static void
s_jobs_append (json_t *jobs, const msgpack_object *list)
{
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        async_job_t *job = async_job_decode_object (&list->via.array.ptr [i]);
        if (job)
            json_array_append_new (jobs, async_job_to_json (job));
        async_job_destroy (&job);
    }
}

//  The part of a reply a request returns, read with the reply's typed
//  decoder: NULL when the reply is not of that shape
typedef const msgpack_object *(s_part_fn) (const async_inmsg_t *in);

//  GET's: the job record
static const msgpack_object *
s_job_part (const async_inmsg_t *in)
{
    async_job_record_t reply;
    return async_job_record_decode (&reply, in) ? NULL : reply.job.object;
}

//  STATUS's: the whole body
static const msgpack_object *
s_status_part (const async_inmsg_t *in)
{
    async_broker_status_t reply;
    return async_broker_status_decode (&reply, in) ? NULL : in->body;
}

//  NODES's: the nodes; with `uuid`, the whole body
static const msgpack_object *
s_nodes_part (const async_inmsg_t *in)
{
    async_node_list_t reply;
    return async_node_list_decode (&reply, in) ? NULL : reply.nodes.object;
}

static const msgpack_object *
s_node_part (const async_inmsg_t *in)
{
    async_node_detail_t reply;
    return async_node_detail_decode (&reply, in) ? NULL : in->body;
}

static const msgpack_object *
s_quotas_part (const async_inmsg_t *in)
{
    async_quotas_t reply;
    return async_quotas_decode (&reply, in) ? NULL : reply.quotas.object;
}

static const msgpack_object *
s_schedules_part (const async_inmsg_t *in)
{
    async_schedules_t reply;
    return async_schedules_decode (&reply, in) ? NULL : reply.schedules.object;
}

static const msgpack_object *
s_history_part (const async_inmsg_t *in)
{
    async_history_t reply;
    return async_history_decode (&reply, in) ? NULL : reply.history.object;
}

//  ADD-CALLBACK's: the callback's id (a str)
static const msgpack_object *
s_callback_part (const async_inmsg_t *in)
{
    async_callback_t reply;
    return async_callback_decode (&reply, in) ? NULL : async_mp_get (in->body, "callback");
}

//  A request whose reply body (or its `part`) is returned as JSON text:
//  job JSON when `jobs`
static int
s_query_msg (async_client_t *self, async_msg_t *msg, uint64_t rid, s_part_fn *part,
             bool jobs, char **out)
{
    *out = NULL;
    zframe_t *frame;
    async_inmsg_t in;
    int rc = s_request (self, msg, rid, &frame, &in);
    if (rc)
        return rc;
    const msgpack_object *body = part ? part (&in) : in.body;
    if (!body)
        rc = ASYNC_EPROTO;
    else
    if (jobs && body->type == MSGPACK_OBJECT_ARRAY) {
        json_t *array = json_array ();
        s_jobs_append (array, body);
        *out = s_dumps (array);
    }
    else
    if (jobs)
        *out = s_job_text (body);
    else
        *out = s_dumps (async_codec_to_json (body));
    if (rc == 0 && !*out)
        rc = ASYNC_EPROTO;
    async_inmsg_destroy (&in);
    zframe_destroy (&frame);
    return rc;
}

//  Start msg as `command` about job `id` (GET, CANCEL, RETRY, DELETE);
//  returns its rid
static uint64_t
s_job_ref_msg (async_client_t *self, async_command_t command, const char *id,
               async_msg_t *msg)
{
    async_job_ref_t ref;
    s_id_copy (ref.id, id);
    uint64_t rid = ++self->rid;
    async_job_ref_encode (msg, command, rid, &ref);
    return rid;
}

int
async_job_json (async_client_t *self, const char *id, char **job_json_out)
{
    async_msg_t msg;
    uint64_t rid = s_job_ref_msg (self, ASYNC_C_GET, id, &msg);
    return s_query_msg (self, &msg, rid, s_job_part, true, job_json_out);
}

static json_t *
s_parse_query (async_client_t *self, const char *query_json)
{
    if (!query_json || !*query_json)
        return json_object ();
    json_error_t error;
    json_t *query = json_loads (query_json, 0, &error);
    if (!json_is_object (query)) {
        json_decref (query);
        snprintf (self->error, sizeof self->error, "the query is not a JSON object");
        return NULL;
    }
    return query;
}

//  One page of a LIST (`jobs` not NULL: its jobs appended) or a COUNT
//  (added to *count); `next` gets the reply's cursor, "" when it has none
static int
s_list_page (async_client_t *self, async_command_t command, json_t *query, json_t *jobs,
             int64_t *count, char *next, size_t next_size)
{
    zframe_t *frame;
    async_inmsg_t in;
    int rc = s_request_json (self, command, query, &frame, &in);
    if (rc)
        return rc;
    next [0] = 0;
    async_jobs_t listed;
    if (jobs && async_jobs_decode (&listed, &in))
        rc = ASYNC_EPROTO;
    else
    if (jobs) {
        s_jobs_append (jobs, listed.jobs.object);
        if (listed.has_next && async_str_copy (listed.next, next, next_size))
            rc = ASYNC_EPROTO;
    }
    else {
        async_count_t page;
        if (async_count_decode (&page, &in) || page.count < 0
        ||  (page.has_next && async_str_copy (page.next, next, next_size)))
            rc = ASYNC_EPROTO;
        else
            *count += page.count;
    }
    async_inmsg_destroy (&in);
    zframe_destroy (&frame);
    return rc;
}

//  A LIST or COUNT page by page: the broker answers each request within
//  its bounds and says where to go on (`next`); ask again from there
static int
s_list (async_client_t *self, async_command_t command, json_t *query, json_t *jobs,
        int64_t *count)
{
    //  LIST: `limit` is the whole listing's (default 1000, <= 0 all)
    int64_t limit = 1000;
    json_t *given = json_object_get (query, "limit");
    if (json_is_integer (given))
        limit = json_integer_value (given);
    char next [300] = "";
    int rc = 0;
    do {
        if (jobs && limit > 0) {
            int64_t left = limit - (int64_t) json_array_size (jobs);
            if (left <= 0)
                break;
            json_object_set_new (query, "limit", json_integer (left));
        }
        if (*next)
            json_object_set_new (query, "cursor", json_string (next));
        rc = s_list_page (self, command, query, jobs, count, next, sizeof next);
    } while (rc == 0 && *next);
    return rc;
}

int
async_jobs_json (async_client_t *self, const char *query_json, char **jobs_json_out)
{
    *jobs_json_out = NULL;
    json_t *query = s_parse_query (self, query_json);
    if (!query)
        return ASYNC_EUSAGE;
    json_t *jobs = json_array ();
    int64_t count = 0;
    int rc = s_list (self, ASYNC_C_LIST, query, jobs, &count);
    json_decref (query);
    if (rc == 0) {
        *jobs_json_out = s_dumps (jobs);
        return *jobs_json_out ? 0 : ASYNC_EPROTO;
    }
    json_decref (jobs);
    return rc;
}

int
async_count (async_client_t *self, const char *query_json, int64_t *count)
{
    json_t *query = s_parse_query (self, query_json);
    if (!query)
        return ASYNC_EUSAGE;
    int64_t total = 0;
    int rc = s_list (self, ASYNC_C_COUNT, query, NULL, &total);
    json_decref (query);
    if (rc == 0)
        *count = total;
    return rc;
}

int
async_status_json (async_client_t *self, char **status_json_out)
{
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_empty_encode (&msg, ASYNC_C_STATUS, rid);
    return s_query_msg (self, &msg, rid, s_status_part, false, status_json_out);
}

int
async_nodes_json (async_client_t *self, char **nodes_json_out)
{
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_nodes_encode (&msg, ASYNC_C_NODES, rid, &(async_nodes_t){ .has_uuid = false });
    return s_query_msg (self, &msg, rid, s_nodes_part, false, nodes_json_out);
}

int
async_node_json (async_client_t *self, const char *uuid, char **node_json_out)
{
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_nodes_t request = { .has_uuid = true, .uuid = async_str (uuid ? uuid : "") };
    async_nodes_encode (&msg, ASYNC_C_NODES, rid, &request);
    return s_query_msg (self, &msg, rid, s_node_part, false, node_json_out);
}

//  A request about job `id` whose reply is OK
static int
s_job_command (async_client_t *self, async_command_t command, const char *id)
{
    async_msg_t msg;
    uint64_t rid = s_job_ref_msg (self, command, id, &msg);
    char *text = NULL;
    int rc = s_query_msg (self, &msg, rid, NULL, false, &text);
    free (text);
    return rc;
}

int
async_cancel (async_client_t *self, const char *id)
{
    return s_job_command (self, ASYNC_C_CANCEL, id);
}

int
async_retry (async_client_t *self, const char *id)
{
    return s_job_command (self, ASYNC_C_RETRY, id);
}

int
async_delete (async_client_t *self, const char *id)
{
    return s_job_command (self, ASYNC_C_DELETE, id);
}

//  A request started in `msg` with `rid` whose reply is OK (or has the
//  `part` returned, into *out when out is given)
static int
s_command (async_client_t *self, async_msg_t *msg, uint64_t rid, s_part_fn *part,
           char **out)
{
    char *text = NULL;
    int rc = s_query_msg (self, msg, rid, part, false, &text);
    if (out)
        *out = text;
    else
        free (text);
    return rc;
}

static json_t *
s_json_arg (async_client_t *self, const char *json_text, bool object)
{
    json_error_t error;
    json_t *value = json_text ? json_loads (json_text, JSON_DECODE_ANY, &error) : NULL;
    if (!value || (object && !json_is_object (value))) {
        snprintf (self->error, sizeof self->error, "%s is not %s",
                  json_text ? json_text : "(null)", object ? "a JSON object" : "JSON");
        json_decref (value);
        return NULL;
    }
    return value;
}

//  A C string as a str field, NULL as "" (refused by the broker as a name)
static async_str_t
s_str (const char *string)
{
    return async_str (string ? string : "");
}

int
async_annotate (async_client_t *self, const char *id, const char *name,
                const char *value_json)
{
    json_t *value = s_json_arg (self, value_json, false);
    if (!value)
        return ASYNC_EUSAGE;
    async_annotate_t request = { .name = s_str (name) };
    s_id_copy (request.id, id);
    uint8_t *data;
    if (s_bytes_of (self, value, &data, &request.value.size))
        return ASYNC_EUSAGE;
    request.value.data = data;
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_annotate_encode (&msg, ASYNC_C_ANNOTATE, rid, &request);
    free (data);
    return s_command (self, &msg, rid, NULL, NULL);
}

int
async_annotations_json (async_client_t *self, const char *id, char **json_out)
{
    char *job = NULL;
    int rc = async_job_json (self, id, &job);
    if (rc)
        return rc;
    json_t *parsed = json_loads (job, 0, NULL);
    free (job);
    *json_out = s_dumps (json_incref (json_object_get (parsed, "annotations")));
    json_decref (parsed);
    return *json_out ? 0 : ASYNC_EPROTO;
}

int
async_add_callback_json (async_client_t *self, const char *id, const char *on,
                         const char *spec_json, char *id_out)
{
    json_t *spec = s_json_arg (self, spec_json, true);
    if (!spec)
        return ASYNC_EUSAGE;
    async_add_callback_t request = { .has_on = true };
    s_id_copy (request.id, id);
    json_t *when = json_string (on ? on : "always");
    uint8_t *on_data, *spec_data;
    if (!when) {
        snprintf (self->error, sizeof self->error, "\"on\" is not UTF-8 text");
        json_decref (spec);
        return ASYNC_EUSAGE;
    }
    if (s_bytes_of (self, when, &on_data, &request.on.size)) {
        json_decref (spec);
        return ASYNC_EUSAGE;
    }
    if (s_bytes_of (self, spec, &spec_data, &request.spec.size)) {
        free (on_data);
        return ASYNC_EUSAGE;
    }
    request.on.data = on_data;
    request.spec.data = spec_data;
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_add_callback_encode (&msg, ASYNC_C_ADD_CALLBACK, rid, &request);
    free (on_data);
    free (spec_data);
    char *text = NULL;
    int rc = s_command (self, &msg, rid, s_callback_part, &text);
    if (rc == 0) {
        json_t *cid = json_loads (text, JSON_DECODE_ANY, NULL);
        snprintf (id_out, ASYNC_ID_LEN, "%s", json_string_value (cid) ? json_string_value (cid) : "");
        json_decref (cid);
    }
    free (text);
    return rc;
}

int
async_quota_set (async_client_t *self, const char *name, int64_t size)
{
    async_quota_t request = { .name = s_str (name), .has_size = true, .size = size };
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_quota_encode (&msg, ASYNC_C_QUOTA_SET, rid, &request);
    return s_command (self, &msg, rid, NULL, NULL);
}

//  Whether text is UTF-8 (as JSON takes it)
static bool
s_utf8 (const char *text)
{
    json_t *string = json_string (text);
    json_decref (string);
    return string != NULL;
}

int
async_agent_set (async_client_t *self, const char *node, const char *agent, int64_t size,
                 const char *filter, int save)
{
    assert (node && agent);
    if (filter && !s_utf8 (filter)) {
        snprintf (self->error, sizeof self->error, "the filter is not UTF-8 text");
        return ASYNC_EUSAGE;
    }
    if (!s_utf8 (node) || !s_utf8 (agent)) {
        snprintf (self->error, sizeof self->error, "the node or agent is not UTF-8 text");
        return ASYNC_EUSAGE;
    }
    async_agent_set_t request = { .agent = async_str (agent),
                                  .size = size,
                                  .has_filter = filter != NULL,
                                  .filter = s_str (filter),
                                  .has_save = true,
                                  .save = save != 0 };
    s_id_copy (request.node, node);
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_agent_set_encode (&msg, ASYNC_C_AGENT_SET, rid, &request);
    return s_command (self, &msg, rid, NULL, NULL);
}

int
async_quota_delete (async_client_t *self, const char *name)
{
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_quota_encode (&msg, ASYNC_C_QUOTA_DELETE, rid, &(async_quota_t){ .name = s_str (name) });
    return s_command (self, &msg, rid, NULL, NULL);
}

int
async_quota_list_json (async_client_t *self, char **json_out)
{
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_empty_encode (&msg, ASYNC_C_QUOTA_LIST, rid);
    return s_command (self, &msg, rid, s_quotas_part, json_out);
}

//  QUEUE-PAUSE or QUEUE-RESUME
static int
s_queue_command (async_client_t *self, async_command_t command, const char *queue)
{
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_queue_encode (&msg, command, rid, &(async_queue_t){ .queue = s_str (queue) });
    return s_command (self, &msg, rid, NULL, NULL);
}

int
async_queue_pause (async_client_t *self, const char *queue)
{
    return s_queue_command (self, ASYNC_C_QUEUE_PAUSE, queue);
}

int
async_queue_resume (async_client_t *self, const char *queue)
{
    return s_queue_command (self, ASYNC_C_QUEUE_RESUME, queue);
}

int
async_history_json (async_client_t *self, const char *range, char **json_out)
{
    async_history_range_t request = { .has_range = range != NULL, .range = s_str (range) };
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_history_range_encode (&msg, ASYNC_C_HISTORY, rid, &request);
    return s_command (self, &msg, rid, s_history_part, json_out);
}

//  EVERY-SET `request` with the spec of spec_json
static int
s_every_set (async_client_t *self, const char *spec_json, async_every_t *request)
{
    json_t *spec = s_json_arg (self, spec_json, true);
    uint8_t *data;
    if (!spec || s_bytes_of (self, spec, &data, &request->spec.size))
        return ASYNC_EUSAGE;
    request->has_spec = true;
    request->spec.data = data;
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_every_encode (&msg, ASYNC_C_EVERY_SET, rid, request);
    free (data);
    return s_command (self, &msg, rid, NULL, NULL);
}

int
async_every_set_json (async_client_t *self, const char *name, int64_t interval_ms,
                      const char *spec_json)
{
    async_every_t request = { .name = s_str (name),
                              .has_interval_ms = true,
                              .interval_ms = interval_ms };
    return s_every_set (self, spec_json, &request);
}

int
async_every_set_cron_json (async_client_t *self, const char *name, const char *cron,
                           const char *tz, const char *spec_json)
{
    if (!cron)
        return ASYNC_EUSAGE;
    async_every_t request = { .name = s_str (name),
                              .has_cron = true,
                              .cron = async_str (cron),
                              .has_tz = true,
                              .tz = async_str (tz ? tz : "UTC") };
    return s_every_set (self, spec_json, &request);
}

int
async_every_delete (async_client_t *self, const char *name)
{
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_every_encode (&msg, ASYNC_C_EVERY_DELETE, rid, &(async_every_t){ .name = s_str (name) });
    return s_command (self, &msg, rid, NULL, NULL);
}

int
async_every_list_json (async_client_t *self, char **json_out)
{
    async_msg_t msg;
    uint64_t rid = ++self->rid;
    async_empty_encode (&msg, ASYNC_C_EVERY_LIST, rid);
    return s_command (self, &msg, rid, s_schedules_part, json_out);
}

//  ---------------------------------------------------------------------
//  The typed API

//  A spec holding json (taken), or NULL when there is no memory for it
static async_spec_t *
s_spec_of (json_t *json)
{
    async_spec_t *self = json ? calloc (1, sizeof (async_spec_t)) : NULL;
    if (self)
        self->json = json;
    else
        json_decref (json);
    return self;
}

async_spec_t *
async_spec_new (const char *task)
{
    return s_spec_of (json_pack ("{s:s, s:[], s:{}}", "task", task ? task : "",
                                 "args", "kwargs"));
}

static async_spec_t *
s_spec_parent (const char *kind)
{
    return s_spec_of (json_pack ("{s:[]}", kind));
}

async_spec_t *
async_spec_parallel (void)
{
    return s_spec_parent ("parallel");
}

async_spec_t *
async_spec_serial (void)
{
    return s_spec_parent ("serial");
}

void
async_spec_destroy (async_spec_t **self_p)
{
    if (*self_p) {
        json_decref ((*self_p)->json);
        free (*self_p);
        *self_p = NULL;
    }
}

int
async_spec_arg (async_spec_t *self, json_t *value)
{
    if (!self || !value) {
        json_decref (value);
        return ASYNC_ENOMEM;
    }
    json_t *args = json_object_get (self->json, "args");
    if (!args) {
        json_decref (value);
        return ASYNC_EINVAL;
    }
    return json_array_append_new (args, value) ? ASYNC_ENOMEM : 0;
}

int
async_spec_kwarg (async_spec_t *self, const char *name, json_t *value)
{
    if (!self || !value) {
        json_decref (value);
        return ASYNC_ENOMEM;
    }
    json_t *kwargs = json_object_get (self->json, "kwargs");
    if (!kwargs) {
        json_decref (value);
        return ASYNC_EINVAL;
    }
    return json_object_set_new (kwargs, name, value)
           ? ASYNC_EINVAL : 0;
}

int
async_spec_option (async_spec_t *self, const char *name, json_t *value)
{
    if (!self || !value) {
        json_decref (value);
        return ASYNC_ENOMEM;
    }
    return json_object_set_new (self->json, name, value)
           ? ASYNC_EINVAL : 0;
}

int
async_spec_add_child (async_spec_t *self, async_spec_t **child_p)
{
    async_spec_t *child = *child_p;
    *child_p = NULL;
    if (!self || !child) {
        async_spec_destroy (&child);
        return ASYNC_ENOMEM;
    }
    json_t *children = json_object_get (self->json, "parallel");
    if (!children)
        children = json_object_get (self->json, "serial");
    int rc = ASYNC_EINVAL;
    if (children)
        rc = json_array_append (children, child->json) ? ASYNC_ENOMEM : 0;
    async_spec_destroy (&child);
    return rc;
}

int
async_spec_set_postprocess (async_spec_t *self, async_spec_t **post_p)
{
    async_spec_t *post = *post_p;
    *post_p = NULL;
    int rc = ASYNC_ENOMEM;
    if (self && post)
        rc = json_object_set (self->json, "postprocess", post->json) ? ASYNC_EINVAL : 0;
    async_spec_destroy (&post);
    return rc;
}

json_t *
async_spec_json (async_spec_t *self)
{
    return self ? self->json : NULL;
}

int
async_submit (async_client_t *self, async_spec_t *spec, char *id_out)
{
    char *text = spec ? json_dumps (spec->json, JSON_COMPACT) : NULL;
    if (!text)
        return ASYNC_ENOMEM;
    int rc = async_submit_json (self, text, id_out);
    free (text);
    return rc;
}

int
async_submit_many (async_client_t *self, async_spec_t *const *specs, size_t count,
                   char *ids_out, int *rcs_out)
{
    char **texts = (char **) calloc (count ? count : 1, sizeof (char *));
    int rc = texts ? 0 : ASYNC_ENOMEM;
    for (size_t i = 0; i < count && rc == 0; i++)
        if (!specs [i] || !(texts [i] = json_dumps (specs [i]->json, JSON_COMPACT)))
            rc = specs [i] ? ASYNC_ENOMEM : ASYNC_EUSAGE;
    if (rc == 0)
        rc = async_submit_many_json (self, (const char *const *) texts, count, ids_out,
                                     rcs_out);
    for (size_t i = 0; texts && i < count; i++)
        free (texts [i]);
    free (texts);
    return rc;
}

//  A job JSON text as *job_out: rc, ASYNC_EFAILED for a failure, or
//  ASYNC_EPROTO when it does not parse. Frees the text
static int
s_job_out (int rc, char *text, json_t **job_out)
{
    if (rc) {
        free (text);
        return rc;
    }
    *job_out = json_loads (text, 0, NULL);
    free (text);
    if (!*job_out)
        return ASYNC_EPROTO;
    return json_object_get (*job_out, "failure") ? ASYNC_EFAILED : 0;
}

int
async_submit_wait (async_client_t *self, async_spec_t *spec, int timeout_ms, char *id_out,
                   json_t **job_out)
{
    *job_out = NULL;
    *id_out = 0;
    char *spec_text = spec ? json_dumps (spec->json, JSON_COMPACT) : NULL;
    if (!spec_text)
        return spec ? ASYNC_ENOMEM : ASYNC_EUSAGE;
    char *text = NULL;
    int rc = async_submit_wait_json (self, spec_text, timeout_ms, id_out, &text);
    free (spec_text);
    return s_job_out (rc, text, job_out);
}

int
async_wait (async_client_t *self, const char *id, int timeout_ms, json_t **job_out)
{
    *job_out = NULL;
    char *text = NULL;
    int rc = async_wait_json (self, id, timeout_ms, &text);
    return s_job_out (rc, text, job_out);
}

json_t *
async_job_result (json_t *job)
{
    return json_object_get (job, "failure") ? NULL : json_object_get (job, "result");
}

json_t *
async_job_failure (json_t *job)
{
    return json_object_get (job, "failure");
}
