/*  =========================================================================
    listing - the broker's listings (listing.h)
    =========================================================================
*/
#include "listing.h"
#include "async_msgs.h"
#include "async_alloc.h"
#include "async_msgs.h"
#include "dispatch.h"
#include "nodes.h"
#include "session.h"
#include "timers.h"
#include "asyncmesh/error.h"
#include "asyncmesh/version.h"

//  A listing's bounds. A LIST reply holds at most S_LIST_PAGE jobs and
//  about S_LIST_BYTES of records (at least one job); a LIST or COUNT reads
//  at most S_LIST_SCAN job records and spends at most S_LIST_US; all the
//  listings of one loop turn (LIST, COUNT, HTTP) spend at most
//  S_LIST_TURN_US together, and past that each reads S_LIST_SCAN_MIN records
//  only. A listing that stops early says where (`next`); the client goes on
//  from there with another request, while the loop serves everyone else.
#define S_LIST_PAGE         1000
#define S_LIST_BYTES        (4 * 1024 * 1024)
#define S_LIST_SCAN         10000
#define S_LIST_US           8000
#define S_LIST_TURN_US      15000
#define S_LIST_SCAN_MIN     16

//  The walk's calls back (query_source_t)
static async_job_t *
s_query_job_read (void *arg, const char *id)
{
    return broker_job_read ((broker_t *) arg, id);
}

static async_job_t *
s_query_job_peek (void *arg, const char *id)
{
    return jobcache_lookup (((broker_t *) arg)->jobs, id);
}

static void
s_query_each_timed (void *arg, char phase, int64_t when, const char *id,
                    query_timed_fn *visit, void *walk)
{
    timers_each (((broker_t *) arg)->timers, phase, when, id, visit, walk);
}

static int64_t
s_query_scheduled_count (void *arg, const char *queue)
{
    return timers_queue_count (((broker_t *) arg)->timers, queue);
}

static void
s_query_each_scheduled (void *arg, query_scheduled_fn *fn, void *top)
{
    timers_each_queue (((broker_t *) arg)->timers, fn, top);
}

static void
s_query_each_running (void *arg, query_running_fn *fn, void *top)
{
    broker_t *self = (broker_t *) arg;
    async_job_t *job = jobcache_first (self->jobs);
    while (job) {
        if (broker_job_is_live (job) || broker_job_is_waiting (job))
            fn (top, job->queue, job->status);
        job = jobcache_next (self->jobs);
    }
}

//  The listings over this broker, made at the first one (the store is
//  open by then)
static query_t *
s_query (broker_t *self)
{
    if (!self->query) {
        query_source_t source = { .store = self->store, .dispatch = self->dispatch,
                                  .live_ids = self->live_ids, .arg = self,
                                  .job_read = s_query_job_read,
                                  .job_peek = s_query_job_peek,
                                  .each_timed = s_query_each_timed,
                                  .scheduled_count = s_query_scheduled_count,
                                  .each_scheduled = s_query_each_scheduled,
                                  .each_running = s_query_each_running };
        self->query = query_new (&source);
    }
    return self->query;
}

//  The JOBS (or COUNT) reply to a LIST (COUNT) query, read through the
//  bounds of a page of at most `page` jobs and `bytes` of records, and
//  those of this loop turn. 0, -1 for a bad filter (`err` says why), -2
//  for a bad cursor
int
listing_jobs (broker_t *self, const msgpack_object *query, uint64_t rid, bool count_only,
              int64_t page, size_t bytes, json_t *json, async_msg_t *reply, char *err,
              size_t err_size)
{
    //  The bounds of this request within those of the loop turn. Writing
    //  the JSON of a page out (the HTTP view) costs about as much as
    //  building it: that page gets half the time
    int64_t start = async_mono_us ();
    int64_t left = S_LIST_TURN_US - self->list_turn_us;
    int64_t budget = json ? S_LIST_US / 2 : S_LIST_US;
    size_t scan = left > 0 ? S_LIST_SCAN : S_LIST_SCAN_MIN;
    int64_t deadline = start + (left > budget ? budget : left > 0 ? left : budget);
    int rc = query_list (s_query (self), query, rid, count_only, page, bytes, scan, deadline,
                         json, reply, err, err_size);
    self->list_turn_us += async_mono_us () - start;
    return rc;
}

void
listing_on_list (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    bool count_only = req->command == ASYNC_C_COUNT;
    async_msg_t msg;
    char err [100];
    int rc = listing_jobs (self, in->body, in->rid, count_only, S_LIST_PAGE, S_LIST_BYTES,
                           NULL, &msg, err, sizeof err);
    if (rc == -2)
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, "bad cursor: give the `next` "
                 "of the previous reply, as it was");
    else
    if (rc)
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, err);
    else
        broker_send (self, routing, &msg);
}

//  STATUS and NODES list at most S_STATUS_NODES nodes and about
//  S_STATUS_NODE_BYTES of them (a node of 64 agents with long filters
//  packs to 130 KiB: 1,000 of those took the loop hundreds of ms), those
//  alive first; `nodes_more` counts the rest (the queues: query_pack_queues)
#define S_STATUS_NODES      1000
#define S_STATUS_NODE_BYTES (4 * 1024 * 1024)

//  The nodes (alive, then dead), within the bounds above, as the items of
//  a part packed in `nodes` (empty): returns how many were left out
static int64_t
s_pack_nodes (broker_t *self, msgpack_sbuffer *nodes, async_part_t *part)
{
    size_t total = nodes_node_size (self->nodes) + nodes_dead_size (self->nodes);
    msgpack_packer npk;
    msgpack_packer_init (&npk, nodes, async_sbuffer_write);
    uint32_t packed = 0;
    dispatch_count_pending (self->dispatch);
    session_t *session = nodes_node_first (self->nodes);
    while (session && packed < S_STATUS_NODES && nodes->size < S_STATUS_NODE_BYTES) {
        session_pack (session, &npk);
        packed++;
        session = nodes_node_next (self->nodes);
    }
    size_t dead_size;
    const uint8_t *dead = nodes_dead_first (self->nodes, &dead_size);
    while (dead && packed < S_STATUS_NODES && nodes->size < S_STATUS_NODE_BYTES) {
        async_codec_pack_raw (&npk, dead, dead_size);
        packed++;
        dead = nodes_dead_next (self->nodes, &dead_size);
    }
    *part = async_part_items (packed, nodes);
    return (int64_t) (total - packed);
}

//  The part packed in `parts` from `from` to `to` (once all are packed:
//  the buffer moves as it grows)
static async_part_t
s_part_at (const msgpack_sbuffer *parts, size_t from, size_t to)
{
    return (async_part_t) { .data = parts->data + from, .size = to - from };
}

//  STATUS's `waiting` lists at most S_STATUS_WAITING queues, those with
//  the most jobs no node takes first
#define S_STATUS_WAITING    1000

typedef struct {
    const char *queue;          //  dispatch's, valid while the reply is packed
    size_t unservable;
    char oldest [ASYNC_ID_LEN];
} s_waiting_row_t;

typedef struct {
    s_waiting_row_t *rows;      //  a min-heap on `unservable` once full
    size_t size;
    size_t queues;              //  all queues visited
} s_waiting_t;

static void
s_waiting_swap (s_waiting_row_t *rows, size_t i, size_t j)
{
    s_waiting_row_t swap = rows [i];
    rows [i] = rows [j];
    rows [j] = swap;
}

//  Count a queue in and keep its row if it is among the S_STATUS_WAITING
//  with the most unservable jobs: a heap, the fewest at the top, so a
//  queue costs O(log n) and no allocation (20,000 queues: one pass)
static void
s_waiting_visit (void *arg, const char *queue, size_t unservable, const char *oldest)
{
    s_waiting_t *top = (s_waiting_t *) arg;
    s_waiting_row_t *rows = top->rows;
    top->queues++;
    s_waiting_row_t row = { .queue = queue, .unservable = unservable };
    snprintf (row.oldest, sizeof row.oldest, "%s", oldest ? oldest : "");
    size_t i;
    if (top->size < S_STATUS_WAITING) {
        i = top->size++;
        rows [i] = row;
        while (i > 0 && rows [(i - 1) / 2].unservable > rows [i].unservable) {
            s_waiting_swap (rows, i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
        return;
    }
    if (unservable <= rows [0].unservable)
        return;
    rows [0] = row;
    i = 0;
    while (true) {
        size_t least = i, left = 2 * i + 1, right = 2 * i + 2;
        if (left < top->size && rows [left].unservable < rows [least].unservable)
            least = left;
        if (right < top->size && rows [right].unservable < rows [least].unservable)
            least = right;
        if (least == i)
            break;
        s_waiting_swap (rows, i, least);
        i = least;
    }
}

//  The age of a pending job in seconds, or -1 if it cannot be read
static double
s_pending_age (broker_t *self, const char *id, int64_t now)
{
    if (!*id)
        return -1;
    int64_t submitted = -1;
    async_job_t *job = jobcache_lookup (self->jobs, id);
    if (job)
        submitted = job->submitted;
    else
    if ((job = broker_job_read (self, id))) {
        submitted = job->submitted;
        async_job_destroy (&job);
    }
    return submitted > 0 && now > submitted ? (now - submitted) / 1e6
         : submitted > 0 ? 0 : -1;
}

//  STATUS's `waiting`: per queue with pending jobs held in memory, how many
//  of them no live node takes and the age of its oldest; returns how many
//  queues were left out
static int64_t
s_pack_waiting (broker_t *self, msgpack_packer *pk)
{
    s_waiting_t top = { .rows = async_xmalloc (S_STATUS_WAITING * sizeof (s_waiting_row_t)) };
    dispatch_each_waiting (self->dispatch, s_waiting_visit, &top);
    int64_t now = async_now_us ();
    msgpack_pack_map (pk, top.size);
    for (size_t i = 0; i < top.size; i++) {
        s_waiting_row_t *row = &top.rows [i];
        async_codec_pack_str (pk, row->queue);
        msgpack_pack_map (pk, 2);
        async_codec_pack_str (pk, "unservable");
        msgpack_pack_uint64 (pk, row->unservable);
        async_codec_pack_str (pk, "oldest_age");
        msgpack_pack_double (pk, s_pending_age (self, row->oldest, now));
    }
    free (top.rows);
    return (int64_t) (top.queues - top.size);
}

//  The paused queues, in name order (at most DISPATCH_PAUSED_MAX)
static void
s_pack_paused (msgpack_packer *pk, void *arg)
{
    broker_t *self = (broker_t *) arg;
    size_t paused = dispatch_paused_count (self->dispatch);
    paused = paused < DISPATCH_PAUSED_MAX ? paused : DISPATCH_PAUSED_MAX;
    msgpack_pack_array (pk, (uint32_t) paused);
    const char *queue = dispatch_paused_first (self->dispatch);
    for (size_t i = 0; i < paused; i++) {
        async_codec_pack_str (pk, queue ? queue : "");
        queue = queue ? dispatch_paused_next (self->dispatch) : NULL;
    }
}

//  The same jobs on every side: all of them (parents, children,
//  callbacks), since the broker started; succeeded + failed = completed
static void
s_pack_job_counts (msgpack_packer *pk, void *arg)
{
    broker_t *self = (broker_t *) arg;
    async_job_counts_t counts = { .submitted = self->stat_submitted,
                                  .completed = self->stat_completed,
                                  .succeeded = self->stat_completed - self->stat_failed,
                                  .failed = self->stat_failed };
    async_job_counts_pack_to (pk, &counts);
}

//  The STATUS reply: bounded (query_pack_queues, s_pack_nodes, s_pack_waiting)
void
listing_status (broker_t *self, uint64_t rid, async_msg_t *reply)
{
    char started [40], now [40];
    //  The broker's clock and dead time, to judge its time stamps by
    //  (asyncctl jobs --stuck), whatever the reader's clock says
    async_broker_status_t status = {
        .version = async_str (ASYNC_VERSION_STRING),
        .started = async_str (async_format_time (self->started, started, sizeof started)),
        .uptime = (async_mono_us () - self->started_mono) / 1e6,
        .now = async_str (async_format_time (async_now_us (), now, sizeof now)),
        .dead_after = self->config.dead_ms / 1e3,
        .paused = async_part_packed (s_pack_paused, self),
        .jobs = async_part_packed (s_pack_job_counts, self),
        .store_bytes = store_size (self->store) };
    //  The queues and waiting parts tell how many they left out once
    //  packed: packed before the message, in `parts`
    msgpack_sbuffer parts, nodes;
    msgpack_packer pk;
    msgpack_sbuffer_init (&parts);
    msgpack_sbuffer_init (&nodes);
    msgpack_packer_init (&pk, &parts, async_sbuffer_write);
    status.queues_more = query_pack_queues (s_query (self), &pk);
    size_t queues_end = parts.size;
    status.nodes_more = s_pack_nodes (self, &nodes, &status.nodes);
    status.waiting_more = s_pack_waiting (self, &pk);
    status.queues = s_part_at (&parts, 0, queues_end);
    status.waiting = s_part_at (&parts, queues_end, parts.size);
    async_broker_status_encode (reply, ASYNC_S_STATUS, rid, &status);
    msgpack_sbuffer_destroy (&parts);
    msgpack_sbuffer_destroy (&nodes);
}

void
listing_on_history (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    char range [8] = "";
    int64_t range_us, step_us;
    async_history_range_t request;
    async_history_range_bad_t bad;
    async_history_range_decode_each (&request, &bad, in);
    bool given = request.has_range;
    if (bad.range || (given && async_str_copy (request.range, range, sizeof range))
    ||  history_range (given ? range : NULL, &range_us, &step_us)) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, "range must be hour, day or "
                      "week");
        return;
    }
    json_t *history = history_json (self->history, async_now_us (), range_us, step_us);
    json_object_set_new (history, "range", json_string (given ? range : "hour"));
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = async_codec_encode_json (history, &data, &size);
    json_decref (history);
    if (rc) {
        free (data);
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, "the history could not be "
                      "packed");
        return;
    }
    async_msg_t msg;
    async_history_t reply = { .history = { .data = data, .size = size } };
    async_history_encode (&msg, ASYNC_S_HISTORY, in->rid, &reply);
    free (data);
    broker_send (self, routing, &msg);
}

void
listing_on_status (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    async_msg_t msg;
    listing_status (self, in->rid, &msg);
    broker_send (self, routing, &msg);
}

//  One node in detail (NODES with `uuid`) lists at most S_NODE_JOBS of its
//  running jobs and S_NODE_TASKS of its task names (SESSION_TASKS: all)
#define S_NODE_JOBS         1000
#define S_NODE_TASKS        SESSION_TASKS

//  The running jobs of a session: id, task, queue, agent, status, started
//  and the seconds they have run; returns how many were left out
static int64_t
s_pack_node_jobs (broker_t *self, session_t *session, msgpack_packer *pk)
{
    size_t total = async_idmap_size (session->jobs), packed = 0;
    size_t count = total < S_NODE_JOBS ? total : S_NODE_JOBS;
    int64_t now = async_now_us ();
    char when [40];
    msgpack_pack_array (pk, count);
    dispatch_agent_t *agent = (dispatch_agent_t *) async_idmap_first (session->jobs);
    while (agent && packed < count) {
        const char *id = async_idmap_cursor (session->jobs);
        async_job_t *job = jobcache_lookup (self->jobs, id);
        msgpack_pack_map (pk, 7);
        async_codec_pack_str (pk, "id");
        async_codec_pack_str (pk, id);
        async_codec_pack_str (pk, "agent");
        async_codec_pack_str (pk, dispatch_agent_name (agent));
        async_codec_pack_str (pk, "task");
        async_codec_pack_str (pk, job && job->task ? job->task : "");
        async_codec_pack_str (pk, "queue");
        async_codec_pack_str (pk, job ? job->queue : "");
        async_codec_pack_str (pk, "status");
        async_codec_pack_str (pk, job ? async_status_name (job->status) : "");
        async_codec_pack_str (pk, "started");
        if (job && job->active_start)
            async_codec_pack_str (pk, async_format_time (job->active_start, when, sizeof when));
        else
            msgpack_pack_nil (pk);
        async_codec_pack_str (pk, "run_seconds");
        if (job && job->active_start && !job->active_end)
            msgpack_pack_double (pk, now > job->active_start
                                     ? (now - job->active_start) / 1e6 : 0);
        else
            msgpack_pack_nil (pk);
        packed++;
        agent = (dispatch_agent_t *) async_idmap_next (session->jobs);
    }
    return (int64_t) (total - packed);
}

//  The names of the tasks a node has, or nil (any task); returns how many
//  were left out
static int64_t
s_pack_node_tasks (session_t *session, msgpack_packer *pk)
{
    dispatch_agent_t *agent = (dispatch_agent_t *) zlistx_first (session->agents);
    zhashx_t *tasks = agent ? dispatch_agent_tasks (agent) : NULL;
    if (!tasks) {
        msgpack_pack_nil (pk);
        return 0;
    }
    size_t total = zhashx_size (tasks);
    size_t count = total < S_NODE_TASKS ? total : S_NODE_TASKS;
    msgpack_pack_array (pk, count);
    size_t packed = 0;
    for (void *item = zhashx_first (tasks); item && packed < count; item = zhashx_next (tasks)) {
        async_codec_pack_str (pk, (const char *) zhashx_cursor (tasks));
        packed++;
    }
    return (int64_t) (total - packed);
}

//  NODES's `node`, streamed into the message
static void
s_pack_session (msgpack_packer *pk, void *session)
{
    session_pack ((session_t *) session, pk);
}

//  NODES with `uuid`: that node in detail, or ERROR 5
static void
s_on_node (broker_t *self, zframe_t *routing, async_inmsg_t *in, const char *uuid)
{
    session_t *session = async_id_valid (uuid) ? nodes_node (self->nodes, uuid) : NULL;
    if (!session) {
        broker_error (self, routing, in->rid, ASYNC_ENOJOB,
                      "no such node: no session of that uuid (see 'asyncctl nodes')");
        return;
    }
    dispatch_count_pending (self->dispatch);
    async_node_detail_t detail = { .node = async_part_packed (s_pack_session, session),
                                   .heartbeat = self->config.heartbeat_ms / 1e3,
                                   .dead_after = self->config.dead_ms / 1e3 };
    //  The jobs and tasks tell how many they left out once packed: packed
    //  before the message, in `parts`
    msgpack_sbuffer parts;
    msgpack_packer pk;
    msgpack_sbuffer_init (&parts);
    msgpack_packer_init (&pk, &parts, async_sbuffer_write);
    detail.jobs_more = s_pack_node_jobs (self, session, &pk);
    size_t jobs_end = parts.size;
    detail.tasks_more = s_pack_node_tasks (session, &pk);
    detail.jobs = s_part_at (&parts, 0, jobs_end);
    detail.tasks = (async_any_t) { .data = parts.data + jobs_end,
                                   .size = parts.size - jobs_end };
    async_msg_t msg;
    async_node_detail_encode (&msg, ASYNC_S_NODES, in->rid, &detail);
    msgpack_sbuffer_destroy (&parts);
    broker_send (self, routing, &msg);
}

void
listing_on_nodes (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    char uuid [ASYNC_ID_LEN];
    async_nodes_t request;
    async_nodes_bad_t bad;
    async_nodes_decode_each (&request, &bad, in);
    if (request.has_uuid || bad.uuid) {
        if (bad.uuid || async_str_copy (request.uuid, uuid, sizeof uuid))
            uuid [0] = 0;
        s_on_node (self, routing, in, uuid);
        return;
    }
    msgpack_sbuffer nodes;
    msgpack_sbuffer_init (&nodes);
    async_node_list_t list;
    list.nodes_more = s_pack_nodes (self, &nodes, &list.nodes);
    async_msg_t msg;
    async_node_list_encode (&msg, ASYNC_S_NODES, in->rid, &list);
    msgpack_sbuffer_destroy (&nodes);
    broker_send (self, routing, &msg);
}
