/*  =========================================================================
    http - the broker's HTTP server: /metrics, /api/..., the dashboard

    GET (or HEAD) for the views; POST for the operators' actions under
    /api/ (retry, cancel, delete a job; pause, resume a queue; set a
    quota), which need the token and a header a cross-site form cannot
    send. Every answer says Cache-Control: no-store. JSON answers are the
    JSON asyncctl prints for the same question: the broker builds the same
    protocol reply (broker_view.h) and it is converted the way the client
    library converts it.
    =========================================================================
*/
#include "http.h"
#include "broker_view.h"
#include "history.h"
#include "quota.h"
#include "spec.h"
#include "async_job.h"
#include "async_msgs.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <microhttpd.h>
#include <ctype.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#define S_JSON_TYPE     "application/json"
#define S_METRICS_TYPE  "text/plain; version=0.0.4; charset=utf-8"
#define S_LIST_LIMIT    100             //  /api/jobs without ?limit=
#define S_LIST_PAGE     1000            //  /api/jobs: jobs per answer, at most
#define S_LIST_BYTES    (1024 * 1024)   //  ... and about this many bytes of records

struct _http_t {
    broker_t *broker;
    struct MHD_Daemon *daemon;
    char *token;                        //  NULL: no token needed
    char label [HTTP_LABEL_MAX + 1];    //  the token's, for the log of actions
};

//  ---------------------------------------------------------------------
//  Addresses

//  Split "HOST:PORT" or "[HOST]:PORT" into host and port. 0 or -1.
static int
s_address_split (const char *address, char *host, size_t host_size, char *port,
                 size_t port_size)
{
    const char *colon = strrchr (address, ':');
    if (!colon || !colon [1] || strlen (colon + 1) >= port_size)
        return -1;
    const char *start = address, *end = colon;
    if (*start == '[') {
        if (end == start || end [-1] != ']')
            return -1;
        start++;
        end--;
    }
    if ((size_t) (end - start) >= host_size)
        return -1;
    memcpy (host, start, end - start);
    host [end - start] = 0;
    strcpy (port, colon + 1);
    for (const char *digit = port; *digit; digit++)
        if (*digit < '0' || *digit > '9')
            return -1;
    return 0;
}

static bool
s_sockaddr_loopback (const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *) addr;
        return (ntohl (in4->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) addr;
        return IN6_IS_ADDR_LOOPBACK (&in6->sin6_addr);
    }
    return false;
}

//  Resolve the address; the caller frees the list with freeaddrinfo
static int
s_address_resolve (const char *address, struct addrinfo **list)
{
    char host [256], port [8];
    if (s_address_split (address, host, sizeof host, port, sizeof port))
        return -1;
    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                              .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    return getaddrinfo (*host ? host : NULL, port, &hints, list) ? -1 : 0;
}

int
http_address_check (const char *address, bool *loopback)
{
    struct addrinfo *list;
    if (s_address_resolve (address, &list))
        return -1;
    *loopback = true;
    for (struct addrinfo *each = list; each; each = each->ai_next)
        *loopback = *loopback && s_sockaddr_loopback (each->ai_addr);
    freeaddrinfo (list);
    return 0;
}

//  ---------------------------------------------------------------------
//  Answers

//  The answer; `next` (may be NULL): a Next-Cursor header; `allow` (may
//  be NULL: GET, HEAD): the methods a 405 names
static enum MHD_Result
s_answer_next (struct MHD_Connection *connection, unsigned int code, const char *type,
               void *body, size_t size, enum MHD_ResponseMemoryMode mode,
               const char *next, const char *allow)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (size, body, mode);
    if (!response)
        return MHD_NO;
    if (next)
        MHD_add_response_header (response, "Next-Cursor", next);
    MHD_add_response_header (response, "Content-Type", type);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    if (strncmp (type, "text/html", 9) == 0) {
        MHD_add_response_header (response, "Content-Security-Policy",
                                 "default-src 'none'; script-src 'self'; "
                                 "style-src 'self'; connect-src 'self'; img-src 'self'");
        MHD_add_response_header (response, "X-Frame-Options", "DENY");
    }
    if (code == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header (response, "WWW-Authenticate",
                                 "Bearer realm=\"asyncbroker\"");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, "Allow", allow ? allow : "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (connection, code, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result
s_answer (struct MHD_Connection *connection, unsigned int code, const char *type,
          void *body, size_t size, enum MHD_ResponseMemoryMode mode)
{
    return s_answer_next (connection, code, type, body, size, mode, NULL, NULL);
}

//  Answer with the value as JSON, one line (takes the value); `next` and
//  `allow` as for s_answer_next
static enum MHD_Result
s_answer_json_next (struct MHD_Connection *connection, unsigned int code, json_t *value,
                    const char *next, const char *allow)
{
    char *text = async_codec_json_dumps (value);
    json_decref (value);
    if (!text)
        return MHD_NO;
    size_t size = strlen (text);
    //  A newline at the end, as asyncctl prints it
    char *line = (char *) async_xrealloc (text, size + 2);
    if (!line) {
        free (text);
        return MHD_NO;
    }
    line [size] = '\n';
    line [size + 1] = 0;
    return s_answer_next (connection, code, S_JSON_TYPE, line, size + 1,
                          MHD_RESPMEM_MUST_FREE, next, allow);
}

static enum MHD_Result
s_answer_json (struct MHD_Connection *connection, unsigned int code, json_t *value)
{
    return s_answer_json_next (connection, code, value, NULL, NULL);
}

static enum MHD_Result
s_answer_error (struct MHD_Connection *connection, unsigned int code, const char *message)
{
    return s_answer_json (connection, code,
                          json_pack ("{s:s, s:i}", "error", message, "code", (int) code));
}

//  ---------------------------------------------------------------------
//  The API

//  Parse a reply the view built; the body, or NULL (logged)
static const msgpack_object *
s_reply_body (async_msg_t *reply, async_inmsg_t *in)
{
    const char *why = NULL;
    if (async_inmsg_parse (in, reply->buffer.data, reply->buffer.size, &why)) {
        async_log_error ("http", "reply.malformed", "reason=\"%s\"", why ? why : "");
        return NULL;
    }
    return in->body;
}

static enum MHD_Result
s_api_status (http_t *self, struct MHD_Connection *connection)
{
    async_msg_t reply;
    async_inmsg_t in;
    broker_view_status (self->broker, &reply);
    const msgpack_object *body = s_reply_body (&reply, &in);
    json_t *status = body ? async_codec_to_json (body) : NULL;
    async_inmsg_destroy (&in);
    async_msg_destroy (&reply);
    if (!status)
        return s_answer_error (connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "no status");
    return s_answer_json (connection, MHD_HTTP_OK, status);
}

//  /api/quotas, /api/schedules: the list of a QUOTAS or SCHEDULES reply,
//  as asyncctl prints it with --json
static enum MHD_Result
s_api_list (struct MHD_Connection *connection, async_msg_t *reply)
{
    async_inmsg_t in;
    async_quotas_t quotas;
    async_schedules_t schedules;
    const msgpack_object *list = NULL;
    if (s_reply_body (reply, &in))
        list = async_quotas_decode (&quotas, &in) == 0 ? quotas.quotas.object
             : async_schedules_decode (&schedules, &in) == 0 ? schedules.schedules.object
             : NULL;
    json_t *value = list ? async_codec_to_json (list) : NULL;
    async_inmsg_destroy (&in);
    async_msg_destroy (reply);
    if (!value)
        return s_answer_error (connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "no list");
    return s_answer_json (connection, MHD_HTTP_OK, value);
}

static enum MHD_Result
s_api_job (http_t *self, struct MHD_Connection *connection, const char *id)
{
    if (!async_id_valid (id))
        return s_answer_error (connection, MHD_HTTP_BAD_REQUEST,
                               "not a job id; give one like asyncctl submit prints");
    async_msg_t reply;
    if (broker_view_job (self->broker, id, &reply))
        return s_answer_error (connection, MHD_HTTP_NOT_FOUND, "no such job");
    async_inmsg_t in;
    async_job_record_t record;
    async_job_t *job = s_reply_body (&reply, &in) && async_job_record_decode (&record, &in) == 0
                     ? async_job_decode_object (record.job.object) : NULL;
    json_t *value = job ? async_job_to_json (job) : NULL;
    async_job_destroy (&job);
    async_inmsg_destroy (&in);
    async_msg_destroy (&reply);
    if (!value)
        return s_answer_error (connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the job record does not decode");
    return s_answer_json (connection, MHD_HTTP_OK, value);
}

//  The query of /api/jobs, as LIST's body
typedef struct {
    json_t *query;
    json_t *statuses;
    bool count_only;            //  /api/count: no limit
    char error [200];
} s_jobs_query_t;

static enum MHD_Result
s_jobs_argument (void *arg, enum MHD_ValueKind kind, const char *key, const char *value)
{
    s_jobs_query_t *self = (s_jobs_query_t *) arg;
    if (!value)
        value = "";
    if (streq (key, "status")) {
        //  Repeated, or separated by commas
        const char *each = value;
        while (*each) {
            size_t len = strcspn (each, ",");
            json_t *name = len ? json_stringn (each, len) : NULL;
            if (name)
                json_array_append_new (self->statuses, name);
            else
            if (len)
                snprintf (self->error, sizeof self->error, "status is not UTF-8 text");
            each += len + (each [len] == ',');
        }
    }
    else
    if (streq (key, "queue") || streq (key, "task") || streq (key, "node")
    ||  streq (key, "parent")) {
        //  Not UTF-8, a JSON string cannot hold it: refused, not dropped
        //  (dropped, the filter would match every job)
        json_t *text = json_string (value);
        if (text)
            json_object_set_new (self->query, key, text);
        else
            snprintf (self->error, sizeof self->error, "%s is not UTF-8 text", key);
    }
    else
    if (streq (key, "by") && self->count_only) {
        if (streq (value, "status"))
            json_object_set_new (self->query, "by_status", json_true ());
        else
            snprintf (self->error, sizeof self->error, "by '%.50s': only by=status is "
                      "counted", value);
    }
    else
    if (streq (key, "since")) {
        //  Seconds; the broker checks the range (0 to 1e12)
        char *end;
        errno = 0;
        double seconds = strtod (value, &end);
        if (!*value || *end || errno || !isfinite (seconds))
            snprintf (self->error, sizeof self->error, "since '%.50s' is not a number of "
                      "seconds", value);
        else
            json_object_set_new (self->query, "since", json_real (seconds));
    }
    else
    if (streq (key, "limit") && !self->count_only) {
        char *end;
        errno = 0;
        long long limit = strtoll (value, &end, 10);
        if (!*value || *end || errno || limit < 0)
            snprintf (self->error, sizeof self->error, "limit '%.50s' is not a "
                      "whole number of jobs (0: as many as a page holds)", value);
        else
            json_object_set_new (self->query, "limit", json_integer (limit));
    }
    else
    if (streq (key, "cursor")) {
        //  The broker checks it; only its size here
        json_t *text = *value && strlen (value) <= 255 ? json_string (value) : NULL;
        if (!text)
            snprintf (self->error, sizeof self->error, "bad cursor: give the "
                      "Next-Cursor of the previous answer, as it was");
        else
            json_object_set_new (self->query, "cursor", text);
    }
    else
        snprintf (self->error, sizeof self->error, "unknown parameter '%.50s'; give "
                  "status, queue, task, node, parent, since, %s or cursor", key,
                  self->count_only ? "by" : "limit");
    return MHD_YES;
}

//  /api/jobs, and (count_only) /api/count: one page of a LIST, or of a
//  COUNT
static enum MHD_Result
s_api_jobs (http_t *self, struct MHD_Connection *connection, bool count_only)
{
    s_jobs_query_t args = { count_only ? json_object ()
                                       : json_pack ("{s:I}", "limit", (json_int_t) S_LIST_LIMIT),
                            json_array (), count_only, "" };
    MHD_get_connection_values (connection, MHD_GET_ARGUMENT_KIND, s_jobs_argument, &args);
    if (json_array_size (args.statuses))
        json_object_set (args.query, "status", args.statuses);
    json_decref (args.statuses);
    uint8_t *data = NULL;
    size_t size = 0;
    if (!*args.error && async_codec_encode_json (args.query, &data, &size))
        snprintf (args.error, sizeof args.error, "malformed query");
    json_decref (args.query);
    if (*args.error) {
        free (data);
        return s_answer_error (connection, MHD_HTTP_BAD_REQUEST, args.error);
    }
    msgpack_unpacked query;
    msgpack_unpacked_init (&query);
    size_t offset = 0;
    //  The walk builds the jobs' JSON, within the bounds of the page
    json_t *jobs = json_array ();
    async_msg_t reply;
    char err [100] = "the query could not be read";
    int rc = msgpack_unpack_next (&query, (const char *) data, size, &offset)
             == MSGPACK_UNPACK_SUCCESS
           ? broker_view_jobs (self->broker, &query.data, count_only, S_LIST_PAGE,
                               S_LIST_BYTES, count_only ? NULL : jobs, &reply, err,
                               sizeof err)
           : -1;
    msgpack_unpacked_destroy (&query);
    free (data);
    if (rc) {
        json_decref (jobs);
        if (rc == -2)
            return s_answer_error (connection, MHD_HTTP_BAD_REQUEST, "bad cursor: give "
                                   "the Next-Cursor of the previous answer, as it was");
        return s_answer_error (connection, MHD_HTTP_BAD_REQUEST, err);
    }
    //  Writing the JSON out is on the broker's thread too: its time counts
    int64_t start = async_mono_us ();
    async_inmsg_t in;
    async_jobs_t listed;
    char next [256] = "";
    async_count_t counted;
    if (!s_reply_body (&reply, &in))
        ;
    else
    if (count_only && async_count_decode (&counted, &in) == 0) {
        if (counted.has_next && async_str_copy (counted.next, next, sizeof next))
            *next = 0;
        json_decref (jobs);
        jobs = json_pack ("{s:I}", "count", (json_int_t) counted.count);
        if (counted.has_statuses && counted.statuses.object)
            json_object_set_new (jobs, "statuses",
                                 async_codec_to_json (counted.statuses.object));
    }
    else
    if (!count_only && async_jobs_decode (&listed, &in) == 0 && listed.has_next
    &&  async_str_copy (listed.next, next, sizeof next))
        *next = 0;
    async_inmsg_destroy (&in);
    async_msg_destroy (&reply);
    enum MHD_Result rc_answer = s_answer_json_next (connection, MHD_HTTP_OK, jobs,
                                                    *next ? next : NULL, NULL);
    broker_view_charge (self->broker, async_mono_us () - start);
    return rc_answer;
}

//  /api/history?range=hour|day|week: steps of a minute, 5 minutes, an hour
static enum MHD_Result
s_api_history (http_t *self, struct MHD_Connection *connection)
{
    const char *range = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND,
                                                     "range");
    int64_t range_us, step_us;
    if (history_range (range, &range_us, &step_us))
        return s_answer_error (connection, MHD_HTTP_BAD_REQUEST,
                               "range must be hour, day or week");
    json_t *history = broker_view_history (self->broker, range_us, step_us);
    if (!history)
        return s_answer_error (connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "no history");
    json_object_set_new (history, "range", json_string (range ? range : "hour"));
    return s_answer_json (connection, MHD_HTTP_OK, history);
}

//  ---------------------------------------------------------------------
//  /metrics

static void
s_gauge_head (zchunk_t *out, const char *name, const char *help)
{
    char text [512];
    int size = snprintf (text, sizeof text, "# HELP %s %s\n# TYPE %s gauge\n",
                         name, help, name);
    zchunk_extend (out, text, (size_t) size);
}

static void
s_text (zchunk_t *out, const char *text)
{
    zchunk_extend (out, text, strlen (text));
}

static enum MHD_Result
s_metrics (http_t *self, struct MHD_Connection *connection)
{
    //  Gauges from the status reply, the rest from the counters
    async_msg_t reply;
    async_inmsg_t in;
    broker_view_status (self->broker, &reply);
    const msgpack_object *body = s_reply_body (&reply, &in);
    json_t *status = body ? async_codec_to_json (body) : json_object ();
    async_inmsg_destroy (&in);
    async_msg_destroy (&reply);

    zchunk_t *out = zchunk_new (NULL, 16384);
    char line [256];
    metrics_print (broker_view_metrics (self->broker), out);
    s_gauge_head (out, "asyncmesh_queue_jobs", "Jobs in each queue by status "
                  "(pending, scheduled, assigned, active), now.");
    const char *queue;
    json_t *counts;
    json_object_foreach (json_object_get (status, "queues"), queue, counts) {
        const char *name;
        json_t *count;
        json_object_foreach (counts, name, count) {
            s_text (out, "asyncmesh_queue_jobs{queue=\"");
            metrics_label (out, queue);
            snprintf (line, sizeof line, "\",status=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
                      name, json_integer_value (count));
            s_text (out, line);
        }
    }
    s_gauge_head (out, "asyncmesh_jobs_unservable", "Pending jobs held in memory that "
                  "no live node takes (no agent offers the task in the queue), by queue, now.");
    json_t *waiting = json_object_get (status, "waiting");
    json_object_foreach (waiting, queue, counts) {
        s_text (out, "asyncmesh_jobs_unservable{queue=\"");
        metrics_label (out, queue);
        snprintf (line, sizeof line, "\"} %" JSON_INTEGER_FORMAT "\n",
                  json_integer_value (json_object_get (counts, "unservable")));
        s_text (out, line);
    }
    s_gauge_head (out, "asyncmesh_queue_oldest_pending_seconds", "Age of the oldest "
                  "pending job held in memory, by queue, in seconds since it was submitted, now.");
    json_object_foreach (waiting, queue, counts) {
        double age = json_number_value (json_object_get (counts, "oldest_age"));
        if (age < 0)
            continue;
        s_text (out, "asyncmesh_queue_oldest_pending_seconds{queue=\"");
        metrics_label (out, queue);
        snprintf (line, sizeof line, "\"} %.3f\n", age);
        s_text (out, line);
    }
    s_gauge_head (out, "asyncmesh_queue_paused", "1 for each paused queue (asyncctl "
                  "queue pause), now: its pending jobs are not handed out.");
    size_t index;
    json_t *paused;
    json_array_foreach (json_object_get (status, "paused"), index, paused) {
        s_text (out, "asyncmesh_queue_paused{queue=\"");
        metrics_label (out, json_string_value (paused) ? json_string_value (paused) : "");
        s_text (out, "\"} 1\n");
    }
    size_t alive = 0;
    json_t *node;
    json_array_foreach (json_object_get (status, "nodes"), index, node)
        alive += !json_is_true (json_object_get (node, "dead"));
    s_gauge_head (out, "asyncmesh_nodes_alive", "Nodes connected and alive, now.");
    snprintf (line, sizeof line, "asyncmesh_nodes_alive %zu\n", alive);
    s_text (out, line);
    s_gauge_head (out, "asyncmesh_store_bytes", "Size of the RocksDB store on disk "
                  "(SST files and memtables), in bytes.");
    snprintf (line, sizeof line, "asyncmesh_store_bytes %" JSON_INTEGER_FORMAT "\n",
              json_integer_value (json_object_get (status, "store_bytes")));
    s_text (out, line);
    broker_view_peers_t peers;
    broker_view_peers (self->broker, &peers);
    s_gauge_head (out, "asyncmesh_sessions", "Node sessions, dead ones not yet dropped "
                  "included, now (at most --sessions-max).");
    snprintf (line, sizeof line, "asyncmesh_sessions %zu\n", peers.sessions);
    s_text (out, line);
    s_gauge_head (out, "asyncmesh_sessions_bytes", "Memory the node sessions cost, as "
                  "accounted from their HELLOs, in bytes (at most --sessions-memory).");
    snprintf (line, sizeof line, "asyncmesh_sessions_bytes %zu\n", peers.session_bytes);
    s_text (out, line);
    s_gauge_head (out, "asyncmesh_waits", "Waits of clients for jobs to complete (WAIT, "
                  "SUBMIT with wait), now.");
    snprintf (line, sizeof line, "asyncmesh_waits %zu\n", peers.waits);
    s_text (out, line);
    s_gauge_head (out, "asyncmesh_waiting_peers", "Client connections with waits, now.");
    snprintf (line, sizeof line, "asyncmesh_waiting_peers %zu\n", peers.waiting_peers);
    s_text (out, line);
    s_gauge_head (out, "asyncmesh_uptime_seconds", "Seconds since the broker started.");
    snprintf (line, sizeof line, "asyncmesh_uptime_seconds %.3f\n",
              json_real_value (json_object_get (status, "uptime")));
    s_text (out, line);
    json_decref (status);
    enum MHD_Result rc = s_answer (connection, MHD_HTTP_OK, S_METRICS_TYPE,
                                   zchunk_data (out), zchunk_size (out),
                                   MHD_RESPMEM_MUST_COPY);
    zchunk_destroy (&out);
    return rc;
}

//  ---------------------------------------------------------------------
//  Requests

//  Compare in time that depends only on the lengths
static bool
s_token_equal (const char *given, const char *token)
{
    size_t given_len = strlen (given), token_len = strlen (token);
    unsigned char diff = given_len != token_len;
    for (size_t i = 0; i < token_len; i++)
        diff |= (unsigned char) (i < given_len ? given [i] : 0) ^ (unsigned char) token [i];
    return diff == 0;
}

static bool
s_authorized (http_t *self, struct MHD_Connection *connection, bool page)
{
    if (!self->token)
        return true;
    const char *header = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION);
    if (header && strncasecmp (header, "Bearer ", 7) == 0)
        return s_token_equal (header + 7, self->token);
    const char *query = page ? MHD_lookup_connection_value (connection,
                                                            MHD_GET_ARGUMENT_KIND, "token")
                             : NULL;
    return query && s_token_equal (query, self->token);
}

//  ---------------------------------------------------------------------
//  Actions (POST)

//  What an action's path names
typedef struct {
    broker_action_t action;
    const char *verb;
    char target [ASYNC_MAX_NAME + 2];   //  one more: a longer one is refused
} s_action_t;

//  Whether `url` is an action's: /api/jobs/ID/(retry|cancel|delete),
//  /api/queues/NAME/(pause|resume) or /api/quotas/NAME
static bool
s_action_parse (const char *url, s_action_t *action)
{
    static const struct {
        const char *prefix;
        const char *verb;
        broker_action_t action;
    } s_actions [] = {
        { "/api/jobs/", "retry", BROKER_ACTION_RETRY },
        { "/api/jobs/", "cancel", BROKER_ACTION_CANCEL },
        { "/api/jobs/", "delete", BROKER_ACTION_DELETE },
        { "/api/queues/", "pause", BROKER_ACTION_PAUSE },
        { "/api/queues/", "resume", BROKER_ACTION_RESUME },
        { "/api/quotas/", NULL, BROKER_ACTION_QUOTA },
    };
    for (size_t i = 0; i < sizeof s_actions / sizeof s_actions [0]; i++) {
        size_t plen = strlen (s_actions [i].prefix);
        if (strncmp (url, s_actions [i].prefix, plen))
            continue;
        const char *target = url + plen;
        const char *slash = strchr (target, '/');
        if (s_actions [i].verb ? !slash || !streq (slash + 1, s_actions [i].verb) : !!slash)
            continue;
        size_t tlen = slash ? (size_t) (slash - target) : strlen (target);
        if (tlen >= sizeof action->target)
            tlen = sizeof action->target - 1;
        memcpy (action->target, target, tlen);
        action->target [tlen] = 0;
        action->action = s_actions [i].action;
        action->verb = s_actions [i].verb ? s_actions [i].verb : "quota";
        return true;
    }
    return false;
}

//  Whether the request can only come from a page of this server or a
//  program, not from a form or script of another site: it carries
//  X-Asyncmesh-Action: 1 (which a cross-site form cannot send, and a
//  cross-site script only after a CORS preflight this server never
//  grants), and its Sec-Fetch-Site and Origin, when present, say so
static bool
s_same_origin (struct MHD_Connection *connection, char *why, size_t why_size)
{
    const char *marker = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      "X-Asyncmesh-Action");
    if (!marker || !streq (marker, "1")) {
        snprintf (why, why_size, "an action needs the header X-Asyncmesh-Action: 1");
        return false;
    }
    const char *site = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                    "Sec-Fetch-Site");
    if (site && !streq (site, "same-origin") && !streq (site, "none")) {
        snprintf (why, why_size, "a request from another site (Sec-Fetch-Site: %.40s) "
                  "may not act", site);
        return false;
    }
    const char *origin = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      "Origin");
    const char *host = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Host");
    //  http, or https through a proxy that keeps the Host; nothing else
    bool web = origin && (strncasecmp (origin, "http://", 7) == 0
                          || strncasecmp (origin, "https://", 8) == 0);
    const char *scheme_end = web ? strstr (origin, "://") : NULL;
    if (origin && (!host || !scheme_end || strcasecmp (scheme_end + 3, host))) {
        snprintf (why, why_size, "a request from another origin (%.80s) may not act",
                  origin);
        return false;
    }
    return true;
}

//  How many times a query argument is given (MHD_get_connection_values)
typedef struct {
    const char *key;
    int count;
} s_arg_count_t;

static enum MHD_Result
s_arg_count (void *arg, enum MHD_ValueKind kind, const char *key, const char *value)
{
    s_arg_count_t *self = (s_arg_count_t *) arg;
    if (key && streq (key, self->key))
        self->count++;
    return MHD_YES;
}

static enum MHD_Result
s_action (http_t *self, struct MHD_Connection *connection, s_action_t *action)
{
    if (!self->token)
        return s_answer_error (connection, MHD_HTTP_FORBIDDEN, "actions need a token: "
                               "start the broker with --http-token FILE");
    const char *header = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION);
    if (!header || strncasecmp (header, "Bearer ", 7) || !s_token_equal (header + 7,
                                                                        self->token))
        return s_answer_error (connection, MHD_HTTP_UNAUTHORIZED,
                               "give the token: Authorization: Bearer TOKEN");
    char why [200];
    if (!s_same_origin (connection, why, sizeof why))
        return s_answer_error (connection, MHD_HTTP_FORBIDDEN, why);
    bool job = action->action <= BROKER_ACTION_DELETE;
    if (job ? !async_id_valid (action->target) : !spec_name_valid (action->target))
        return s_answer_error (connection, MHD_HTTP_BAD_REQUEST, job
                               ? "not a job id; give one like asyncctl submit prints"
                               : "not a name: letters, digits and _-.: (at most 200)");
    int64_t size = 0;
    if (action->action == BROKER_ACTION_QUOTA) {
        const char *text = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND,
                                                        "size");
        //  One size: of two, which would count?
        s_arg_count_t sizes = { "size", 0 };
        MHD_get_connection_values (connection, MHD_GET_ARGUMENT_KIND, s_arg_count, &sizes);
        if (!text || sizes.count != 1 || async_parse_int (text, 1, QUOTA_SIZE_MAX, &size))
            return s_answer_error (connection, MHD_HTTP_BAD_REQUEST, "give the quota's "
                                   "size: ?size=N, a whole number from 1 to 1000000000");
    }
    char err [300] = "";
    int rc = broker_view_act (self->broker, action->action, action->target, size,
                              self->label, err, sizeof err);
    if (rc)
        return s_answer_error (connection, rc == ASYNC_ENOJOB ? MHD_HTTP_NOT_FOUND
                               : rc == ASYNC_EREFUSED ? MHD_HTTP_CONFLICT
                               : MHD_HTTP_INTERNAL_SERVER_ERROR, err);
    return s_answer_json (connection, MHD_HTTP_OK,
                          json_pack ("{s:b, s:s, s:s}", "ok", 1, "action", action->verb,
                                     "target", action->target));
}

static enum MHD_Result
s_request (void *cls, struct MHD_Connection *connection, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **request)
{
    http_t *self = (http_t *) cls;
    s_action_t action;
    if (s_action_parse (url, &action)) {
        if (!streq (method, "POST"))
            return s_answer_json_next (connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                                       json_pack ("{s:s, s:i}", "error", "only POST",
                                                  "code", MHD_HTTP_METHOD_NOT_ALLOWED),
                                       NULL, "POST");
        //  Answered once the request is read: its body, if any, is ignored
        static int s_reading;
        if (!*request) {
            *request = &s_reading;
            return MHD_YES;
        }
        if (*upload_data_size) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        return s_action (self, connection, &action);
    }
    if (!streq (method, "GET") && !streq (method, "HEAD"))
        return s_answer_error (connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                               "only GET and HEAD");
    //  The dashboard's files: the page needs the token, its script and
    //  style (no data in them) do not, since a browser cannot send it
    const char *path = streq (url, "/") ? "/index.html" : url;
    for (const http_asset_t *asset = http_assets; asset->path; asset++)
        if (streq (asset->path, path)) {
            if (streq (path, "/index.html") && !s_authorized (self, connection, true))
                return s_answer_error (connection, MHD_HTTP_UNAUTHORIZED,
                                       "give the token: /?token=TOKEN");
            return s_answer (connection, MHD_HTTP_OK, asset->type, (void *) asset->data,
                             asset->size, MHD_RESPMEM_PERSISTENT);
        }
    if (!s_authorized (self, connection, false))
        return s_answer_error (connection, MHD_HTTP_UNAUTHORIZED,
                               "give the token: Authorization: Bearer TOKEN");
    if (streq (url, "/metrics"))
        return s_metrics (self, connection);
    if (streq (url, "/api/status"))
        return s_api_status (self, connection);
    if (streq (url, "/api/history"))
        return s_api_history (self, connection);
    if (streq (url, "/api/jobs") || streq (url, "/api/jobs/"))
        return s_api_jobs (self, connection, false);
    if (streq (url, "/api/count"))
        return s_api_jobs (self, connection, true);
    if (strncmp (url, "/api/jobs/", 10) == 0)
        return s_api_job (self, connection, url + 10);
    async_msg_t reply;
    if (streq (url, "/api/quotas")) {
        broker_view_quotas (self->broker, &reply);
        return s_api_list (connection, &reply);
    }
    if (streq (url, "/api/schedules")) {
        broker_view_schedules (self->broker, &reply);
        return s_api_list (connection, &reply);
    }
    return s_answer_error (connection, MHD_HTTP_NOT_FOUND, "not found; see /api/status, "
                           "/api/jobs, /api/count, /api/jobs/ID, /api/quotas, /api/schedules, "
                           "/api/history, /metrics or /");
}

static void
s_mhd_log (void *cls, const char *format, va_list args)
{
    char text [512];
    vsnprintf (text, sizeof text, format, args);
    text [strcspn (text, "\n")] = 0;
    async_log_warning ("http", "mhd", "reason=\"%s\"", text);
}

//  ---------------------------------------------------------------------

const char *
http_token_parse (const char *line, char *label)
{
    size_t len = strcspn (line, ":");
    bool labelled = line [len] == ':' && len >= 1 && len <= HTTP_LABEL_MAX;
    for (size_t i = 0; labelled && i < len; i++)
        labelled = isalnum ((unsigned char) line [i]) || strchr ("_-.", line [i]);
    snprintf (label, HTTP_LABEL_MAX + 1, "%.*s", labelled ? (int) len : 4,
              labelled ? line : "http");
    return labelled ? line + len + 1 : line;
}

int
http_new (broker_t *broker, const char *address, const char *token, http_t **self_p)
{
    *self_p = NULL;
    struct addrinfo *list;
    if (s_address_resolve (address, &list)) {
        async_log_error ("http", "bind.failed", "address=%s reason=\"not ADDR:PORT\"",
                         address);
        return ASYNC_EUSAGE;
    }
    http_t *self = (http_t *) async_xcalloc (1, sizeof (http_t));
    assert (self);
    self->broker = broker;
    self->token = token ? async_xstrdup (http_token_parse (token, self->label)) : NULL;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (list->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_request, self,
                                     MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
                                     MHD_OPTION_SOCK_ADDR, list->ai_addr,
                                     MHD_OPTION_CONNECTION_LIMIT, 64,
                                     MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 10,
                                     MHD_OPTION_END);
    freeaddrinfo (list);
    if (!self->daemon) {
        async_log_error ("http", "bind.failed", "address=%s reason=\"%s\"", address,
                         strerror (errno));
        http_destroy (&self);
        return ASYNC_EIO;
    }
    async_log_info ("http", "http.started", "address=%s token=%s", address,
                    token ? "required" : "none");
    *self_p = self;
    return 0;
}

void
http_destroy (http_t **self_p)
{
    http_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    if (self->token) {
        explicit_bzero (self->token, strlen (self->token));
        free (self->token);
    }
    free (self);
    *self_p = NULL;
}

int
http_fd (http_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

int
http_timeout_ms (http_t *self)
{
    MHD_UNSIGNED_LONG_LONG timeout;
    if (MHD_get_timeout (self->daemon, &timeout) != MHD_YES)
        return -1;
    return timeout > INT_MAX ? INT_MAX : (int) timeout;
}

void
http_run (http_t *self)
{
    MHD_run (self->daemon);
}
