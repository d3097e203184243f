/*  =========================================================================
    manynodes - many node sessions in one process, for W6 (bench/run)

        manynodes ENDPOINT SESSIONS [TASK [SIZE]]

    Opens SESSIONS ZeroMQ DEALER sockets to the broker, each a node session
    of its own speaking protocol version 1 (docs/protocol.md, section 6, as
    node/node.c does, with libasync's message codec and command table): a routing id "N" + 8 + 8 hex digits, HELLO with its
    own instance UUID and one agent "main" of SIZE slots (default 1) taking
    TASK (default testing.noop), saying it takes ASSIGN with `jobs` and
    `acks` (batch, acks), repeated every 2 s until WELCOME and again on
    REHELLO; PING {node: 1} in answer to each broker PING and on its own
    after 1 s of silence; for each ASSIGN, RESULT {result: nil, ran_us: 0}
    for its job, or RESULT {results: [...]} for its jobs (no STARTED, as
    asyncnode for jobs done within 2 ms), each re-sent after 0.5 s
    (doubling up to 8 s) until its ACK.

    Prints "manynodes_ready N sessions" once every session is welcomed, and
    on SIGTERM/SIGINT sends BYE on each session and prints
    "manynodes_jobs N jobs" and "manynodes_rehello N times".
    =========================================================================
*/
#define _GNU_SOURCE
#include "async_codec.h"
#include "async_msgs.h"
#include <zmq.h>
#include <msgpack.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#define S_MAX_UNACKED 256

typedef struct {
    char id [37];
    uint64_t token;
    int64_t next_send;          //  monotonic us
    int64_t backoff;
    bool used;
} s_unacked_t;

typedef struct {
    void *dealer;
    char uuid [37];
    char nonce [37];
    uint64_t rid;
    bool welcomed;
    int64_t next_hello;         //  monotonic us
    int64_t last_ping;          //  monotonic us, last PING we sent
    s_unacked_t unacked [S_MAX_UNACKED];
} s_session_t;

static volatile sig_atomic_t s_stop = 0;
static char s_host [256];
static const char *s_task = "testing.noop";
static int s_size = 1;

static void
s_on_signal (int signum)
{
    s_stop = 1;
}

static int64_t
s_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  A random UUID (version 4), lowercase canonical form
static void
s_uuid_new (char *out)
{
    unsigned char bytes [16];
    FILE *file = fopen ("/dev/urandom", "rb");
    if (!file || fread (bytes, 1, 16, file) != 16) {
        for (int i = 0; i < 16; i++)
            bytes [i] = (unsigned char) rand ();
    }
    if (file)
        fclose (file);
    bytes [6] = (bytes [6] & 0x0f) | 0x40;
    bytes [8] = (bytes [8] & 0x3f) | 0x80;
    snprintf (out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
              "%02x%02x%02x%02x%02x%02x",
              bytes [0], bytes [1], bytes [2], bytes [3], bytes [4], bytes [5],
              bytes [6], bytes [7], bytes [8], bytes [9], bytes [10], bytes [11],
              bytes [12], bytes [13], bytes [14], bytes [15]);
}

//  ---------------------------------------------------------------------
//  Messages: [version, command, rid, body] (libcore/src/async_codec.h)

static void
s_send (s_session_t *session, async_msg_t *msg)
{
    if (zmq_send (session->dealer, msg->buffer.data, msg->buffer.size, ZMQ_DONTWAIT) < 0
    &&  errno != EAGAIN)
        fprintf (stderr, "manynodes: send: %s\n", zmq_strerror (errno));
    async_msg_destroy (msg);
}

//  HELLO's agents: one, `main` (async_pack_fn)
static void
s_pack_agents (msgpack_packer *pk, void *arg)
{
    (void) arg;
    async_hello_agent_t agent = { .name = async_str ("main"), .size = s_size,
                                  .has_queues = true, .has_include = true,
                                  .has_exclude = true };
    msgpack_pack_array (pk, 1);
    async_hello_agent_pack_to (pk, &agent);
}

//  HELLO's tasks: the one task
static void
s_pack_tasks (msgpack_packer *pk, void *arg)
{
    (void) arg;
    msgpack_pack_array (pk, 1);
    async_codec_pack_str (pk, s_task);
}

//  Jobs still held: results not acknowledged yet
static void
s_pack_held (msgpack_packer *pk, void *arg)
{
    s_session_t *session = (s_session_t *) arg;
    uint32_t held = 0;
    for (int i = 0; i < S_MAX_UNACKED; i++)
        held += session->unacked [i].used;
    msgpack_pack_array (pk, held);
    for (int i = 0; i < S_MAX_UNACKED; i++) {
        s_unacked_t *u = &session->unacked [i];
        if (!u->used)
            continue;
        async_hello_held_t entry = { .token = u->token, .agent = async_str ("main") };
        memcpy (entry.id, u->id, sizeof entry.id);
        async_hello_held_pack_to (pk, &entry);
    }
}

static void
s_send_hello (s_session_t *session)
{
    async_hello_t hello = {
        //  the broker binds the fresh uuid to it
        .uuid_key = async_str (
            "6e0de5e6e0de5e6e0de5e6e0de5e6e0de5e6e0de5e6e0de5e6e0de5e6e0de5e0"),
        .has_session = true, .session = async_str (session->nonce),
        .has_host = true, .host = async_str (s_host),
        .has_pid = true, .pid = getpid (),
        .agents = async_part_packed (s_pack_agents, NULL),
        .has_tasks = true, .tasks = async_part_packed (s_pack_tasks, NULL),
        .has_held = true, .held = async_part_packed (s_pack_held, session),
        .has_batch = true, .batch = 1,          //  ASSIGN with `jobs`
        .has_acks = true, .acks = 1             //  ... and `acks`
    };
    memcpy (hello.uuid, session->uuid, sizeof hello.uuid);
    async_msg_t msg;
    async_hello_encode (&msg, ASYNC_C_HELLO, ++session->rid, &hello);
    s_send (session, &msg);
    session->next_hello = s_mono_us () + 2000000;
}

static void
s_send_ping (s_session_t *session)
{
    async_ping_t ping = { .has_node = true, .node = 1 };
    async_msg_t msg;
    async_ping_encode (&msg, ASYNC_C_PING, 0, &ping);
    s_send (session, &msg);
    session->last_ping = s_mono_us ();
}

//  A no-op job's result: nil, ran 0 us
static async_result_t
s_result (const char *id, uint64_t token)
{
    async_result_t result = { .token = token, .has_result = true, .has_ran_us = true };
    memcpy (result.id, id, ASYNC_ID_LEN);
    return result;
}

static void
s_send_result (s_session_t *session, const char *id, uint64_t token)
{
    async_result_t result = s_result (id, token);
    async_msg_t msg;
    async_result_encode (&msg, ASYNC_C_RESULT, ++session->rid, &result);
    s_send (session, &msg);
}

static void
s_send_bye (s_session_t *session)
{
    async_msg_t msg;
    async_empty_encode (&msg, ASYNC_C_BYE, ++session->rid);
    s_send (session, &msg);
}

//  ---------------------------------------------------------------------
//  Reading

typedef struct {
    size_t sessions;
    size_t welcomed;
    size_t jobs;
    size_t rehellos;
    size_t errors;
    bool ready_said;
} s_stats_t;

static void
s_on_message (s_session_t *session, async_inmsg_t *in, s_stats_t *stats)
{
    const msgpack_object *body = in->body;
    bool assign = async_inmsg_is (in, ASYNC_S_ASSIGN);
    if (assign || async_inmsg_is (in, ASYNC_S_ACK)) {
        //  ACKs: `acks` (in ACK or riding on ASSIGN), or an ACK's own id
        async_batch_t acks;
        bool batch = async_batch_begin (&acks, body, "acks", 0);
        const msgpack_object *ack = !assign && !batch ? body : async_batch_next (&acks);
        for (; ack; ack = batch ? async_batch_next (&acks) : NULL) {
            async_ack_t entry;
            if (async_ack_decode_map (&entry, ack) == 0)
                for (int i = 0; i < S_MAX_UNACKED; i++)
                    if (session->unacked [i].used
                    &&  async_str_eq (entry.id, session->unacked [i].id))
                        session->unacked [i].used = false;
        }
        //  ASSIGN: this turn's jobs in `jobs`
        async_batch_t jobs = { .count = 0 };
        if (assign)
            async_batch_begin (&jobs, body, "jobs", 0);
        uint32_t njobs = jobs.count;
        if (assign && !njobs)
            fprintf (stderr, "manynodes: ASSIGN without jobs dropped\n");
        //  As asyncnode does for jobs done within 2 ms: no STARTED, the
        //  RESULT says how long each ran (ran_us); several go in `results`
        uint32_t nresults = 0;
        msgpack_sbuffer results;
        msgpack_sbuffer_init (&results);
        for (uint32_t j = 0; j < njobs; j++) {
            async_assign_t job;
            if (async_assign_decode_map (&job, &jobs.array->via.array.ptr [j])) {
                fprintf (stderr, "manynodes: malformed ASSIGN dropped\n");
                continue;
            }
            const char *id = job.id;
            if (njobs == 1)
                s_send_result (session, id, job.token);
            else {
                async_result_t result = s_result (id, job.token);
                async_result_pack (&results, &result);
                nresults++;
            }
            stats->jobs++;
            for (int i = 0; i < S_MAX_UNACKED; i++) {
                s_unacked_t *u = &session->unacked [i];
                if (!u->used) {
                    memcpy (u->id, id, 37);
                    u->token = job.token;
                    u->backoff = 500000;
                    u->next_send = s_mono_us () + u->backoff;
                    u->used = true;
                    break;
                }
            }
        }
        if (nresults) {
            async_msg_t msg;
            async_msg_init (&msg, ASYNC_C_RESULT, ++session->rid);
            async_msg_batch (&msg, "results", nresults, &results);
            s_send (session, &msg);
        }
        msgpack_sbuffer_destroy (&results);
    }
    else
    if (async_inmsg_is (in, ASYNC_S_PING))
        s_send_ping (session);
    else
    if (async_inmsg_is (in, ASYNC_S_WELCOME)) {
        if (!session->welcomed) {
            session->welcomed = true;
            stats->welcomed++;
        }
        //  Results not acknowledged yet go again at once
        for (int i = 0; i < S_MAX_UNACKED; i++)
            if (session->unacked [i].used)
                s_send_result (session, session->unacked [i].id,
                               session->unacked [i].token);
    }
    else
    if (async_inmsg_is (in, ASYNC_S_REHELLO)) {
        if (session->welcomed) {
            session->welcomed = false;
            stats->welcomed--;
        }
        stats->rehellos++;
        if (s_mono_us () >= session->next_hello - 1500000)
            s_send_hello (session);
    }
    else
    if (async_inmsg_is (in, ASYNC_S_ERROR)) {
        async_error_t error;
        if (async_error_decode (&error, in))
            error.message = async_str ("");
        int size = (int) (error.message.size < 512 ? error.message.size : 511);
        fprintf (stderr, "manynodes: node=%s broker ERROR: %.*s\n", session->uuid, size,
                 error.message.data);
        stats->errors++;
    }
}

static void
s_timers (s_session_t *session, int64_t now)
{
    if (!session->welcomed && now >= session->next_hello)
        s_send_hello (session);
    if (now - session->last_ping >= 1000000)
        s_send_ping (session);
    for (int i = 0; session->welcomed && i < S_MAX_UNACKED; i++) {
        s_unacked_t *u = &session->unacked [i];
        if (u->used && now >= u->next_send) {
            s_send_result (session, u->id, u->token);
            u->backoff = u->backoff * 2 > 8000000 ? 8000000 : u->backoff * 2;
            u->next_send = now + u->backoff;
        }
    }
}

int
main (int argc, char *argv [])
{
    if (argc < 3) {
        fprintf (stderr, "usage: manynodes ENDPOINT SESSIONS [TASK [SIZE]]\n");
        return 2;
    }
    const char *endpoint = argv [1];
    int count = atoi (argv [2]);
    if (count < 1 || count > 10000) {
        fprintf (stderr, "manynodes: SESSIONS must be 1..10000\n");
        return 2;
    }
    if (argc > 3)
        s_task = argv [3];
    if (argc > 4)
        s_size = atoi (argv [4]);
    if (s_size < 1 || s_size > 64) {
        fprintf (stderr, "manynodes: SIZE must be 1..64\n");
        return 2;
    }
    gethostname (s_host, sizeof s_host - 1);
    struct sigaction action = { .sa_handler = s_on_signal };
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    void *context = zmq_ctx_new ();
    zmq_ctx_set (context, ZMQ_MAX_SOCKETS, count + 16);
    zmq_ctx_set (context, ZMQ_IO_THREADS, 1);
    s_session_t *sessions = calloc ((size_t) count, sizeof (s_session_t));
    int64_t now = s_mono_us ();
    for (int i = 0; i < count; i++) {
        s_session_t *session = &sessions [i];
        s_uuid_new (session->uuid);
        s_uuid_new (session->nonce);
        session->dealer = zmq_socket (context, ZMQ_DEALER);
        if (!session->dealer) {
            fprintf (stderr, "manynodes: socket %d: %s\n", i, zmq_strerror (errno));
            return 1;
        }
        char identity [18];
        snprintf (identity, sizeof identity, "N%.8s%.8s", session->uuid, session->nonce);
        zmq_setsockopt (session->dealer, ZMQ_ROUTING_ID, identity, 17);
        int linger = 1000, ivl = 100, ivl_max = 2000, hwm = 100000;
        zmq_setsockopt (session->dealer, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt (session->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
        zmq_setsockopt (session->dealer, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
        zmq_setsockopt (session->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
        if (zmq_connect (session->dealer, endpoint)) {
            fprintf (stderr, "manynodes: connect %s: %s\n", endpoint, zmq_strerror (errno));
            return 1;
        }
        session->last_ping = now;
        s_send_hello (session);
    }
    s_stats_t stats = { .sessions = (size_t) count };
    int64_t next_timers = 0;
    //  epoll on each socket's ZMQ_FD: a wake-up costs what is ready, not a
    //  poll of every session (which would charge the broker's machine for
    //  500 remote nodes' bookkeeping). ZMQ_FD only says "look": each ready
    //  socket is drained until ZMQ_EVENTS has no POLLIN.
    int epoll = epoll_create1 (EPOLL_CLOEXEC);
    for (int i = 0; i < count; i++) {
        int fd;
        size_t fd_size = sizeof fd;
        zmq_getsockopt (sessions [i].dealer, ZMQ_FD, &fd, &fd_size);
        struct epoll_event event = { .events = EPOLLIN, .data.u32 = (uint32_t) i };
        epoll_ctl (epoll, EPOLL_CTL_ADD, fd, &event);
    }
    bool *ready = calloc ((size_t) count, sizeof (bool));
    bool first = true;
    while (!s_stop) {
        struct epoll_event events [64];
        int n = epoll_wait (epoll, events, 64, first ? 0 : 100);
        if (n < 0 && errno != EINTR) {
            fprintf (stderr, "manynodes: epoll: %s\n", strerror (errno));
            break;
        }
        for (int k = 0; k < n; k++)
            ready [events [k].data.u32] = true;
        //  At start, and every timer tick, look at every socket once: an
        //  edge missed before a socket was added is caught there
        bool sweep = first || s_mono_us () >= next_timers;
        first = false;
        for (int i = 0; i < count; i++) {
            if (!ready [i] && !sweep)
                continue;
            ready [i] = false;
            int zevents;
            size_t zsize = sizeof zevents;
            while (zmq_getsockopt (sessions [i].dealer, ZMQ_EVENTS, &zevents, &zsize) == 0
               &&  (zevents & ZMQ_POLLIN)) {
                zmq_msg_t msg;
                zmq_msg_init (&msg);
                if (zmq_msg_recv (&msg, sessions [i].dealer, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close (&msg);
                    break;
                }
                async_inmsg_t in;
                const char *why = NULL;
                if (async_inmsg_parse (&in, zmq_msg_data (&msg), zmq_msg_size (&msg), &why))
                    fprintf (stderr, "manynodes: message of %zu bytes dropped: %s\n",
                             zmq_msg_size (&msg), why);
                else
                    s_on_message (&sessions [i], &in, &stats);
                async_inmsg_destroy (&in);
                zmq_msg_close (&msg);
            }
        }
        now = s_mono_us ();
        if (now >= next_timers) {
            for (int i = 0; i < count; i++)
                s_timers (&sessions [i], now);
            next_timers = now + 100000;
        }
        if (!stats.ready_said && stats.welcomed == stats.sessions) {
            printf ("manynodes_ready %zu sessions\n", stats.welcomed);
            fflush (stdout);
            stats.ready_said = true;
        }
    }
    free (ready);
    close (epoll);
    for (int i = 0; i < count; i++) {
        s_send_bye (&sessions [i]);
        zmq_close (sessions [i].dealer);
    }
    printf ("manynodes_jobs %zu jobs\n", stats.jobs);
    printf ("manynodes_rehello %zu times\n", stats.rehellos);
    printf ("manynodes_errors %zu errors\n", stats.errors);
    fflush (stdout);
    zmq_ctx_term (context);
    free (sessions);
    return 0;
}
