//  hello_flood - a test helper for test_hello_budgets.sh
//
//      hello_flood ENDPOINT probe KIND
//      hello_flood ENDPOINT flood COUNT BROKER_PID RSS_LIMIT_KB
//      hello_flood ENDPOINT sessions COUNT
//
//  probe: says one HELLO that is over one budget of docs/protocol.md
//  section 9, KIND one of agents, tasks, queues, include, exclude, name,
//  host, size; or `ok`, a HELLO within every budget; or `held`, a HELLO
//  holding 25,000 jobs that do not exist (the broker reads 10,000). Prints the answer,
//  "WELCOME" or "ERROR <code> <reason> <message>", and exits 0 when one
//  came within 5 s.
//
//  flood: COUNT peers (one DEALER each, each with its own uuid) say at
//  once the HELLO of 64 agents x 100,000 tasks x 256 queues, includes and
//  excludes (about 3 MB), and wait for their answers. Then PING (a client
//  PING) 20 times. Prints "answers N welcome W error E", "hello_ms MAX"
//  (the longest wait for an answer), "ping_ms MEDIAN" and "rss_kb RSS" (the
//  broker's VmRSS afterwards). It stops early, printing "rss_over RSS",
//  when the broker's VmRSS passes RSS_LIMIT_KB (so that a broker without
//  budgets does not eat the machine). Exit 0 when every answer came.
//
//  sessions: COUNT peers say a small HELLO within every budget (one agent,
//  no tasks) and wait for their answers; prints the first ERROR and
//  "answers N welcome W error E". Exit 0 when every answer came.
//
//  heavy: COUNT peers (heavy COUNT BROKER_PID RSS_LIMIT_KB [STOPFILE]), one
//  after the other, say the largest HELLO within
//  every budget (the `ok` probe: 64 agents of 64 queues, includes and
//  excludes, 10,000 tasks) and wait for its answer; their sessions stay
//  until the broker declares them dead. Prints the first ERROR, "answers
//  N welcome W error E", then "ping_ms MEDIAN" of 20 client PINGs and
//  "rss_kb RSS" (the broker's VmRSS), as flood does. It stops early,
//  printing "rss_over RSS", when the broker's VmRSS passes RSS_LIMIT_KB.
//  With STOPFILE, the peers then answer the broker's PINGs, as nodes do,
//  until the file exists, and all fall silent at once.
#define _GNU_SOURCE             //  memmem
#include "async_codec.h"
#include "async_msgs.h"
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_FLOOD_AGENTS  64
#define S_FLOOD_TASKS   100000
#define S_FLOOD_LIST    256

//  `count` names from `prefix`: an array packed by async_part_packed
typedef struct {
    const char *prefix;
    size_t count;
} s_names_t;

static void
s_names_pack (msgpack_packer *pk, void *arg)
{
    const s_names_t *names = (const s_names_t *) arg;
    msgpack_pack_array (pk, names->count);
    for (size_t i = 0; i < names->count; i++) {
        char name [64];
        snprintf (name, sizeof name, "%s%06zu", names->prefix, i);
        async_codec_pack_str (pk, name);
    }
}

//  The shape of a HELLO (s_hello_held)
typedef struct {
    size_t agents;
    int64_t size;
    s_names_t queues, include, exclude;
    const char *agent_name;
    size_t held;
} s_shape_t;

static void
s_agents_pack (msgpack_packer *pk, void *arg)
{
    s_shape_t *shape = (s_shape_t *) arg;
    msgpack_pack_array (pk, shape->agents);
    for (size_t i = 0; i < shape->agents; i++) {
        char name [256];
        snprintf (name, sizeof name, "%s%zu", shape->agent_name, i);
        async_hello_agent_t agent = {
            .name = async_str (i == 0 ? shape->agent_name : name),
            .size = shape->size,
            .has_queues = true,
            .queues = async_part_packed (s_names_pack, &shape->queues),
            .has_include = true,
            .include = async_part_packed (s_names_pack, &shape->include),
            .has_exclude = true,
            .exclude = async_part_packed (s_names_pack, &shape->exclude)
        };
        async_hello_agent_pack_to (pk, &agent);
    }
}

//  Jobs that do not exist: each costs the broker a look-up
static void
s_held_pack (msgpack_packer *pk, void *arg)
{
    s_shape_t *shape = (s_shape_t *) arg;
    msgpack_pack_array (pk, shape->held);
    for (size_t i = 0; i < shape->held; i++) {
        async_hello_held_t held = { .token = 1, .agent = async_str (shape->agent_name) };
        snprintf (held.id, sizeof held.id, "01a24f8c-518d-7000-b5de-%012zu", i % 1000000);
        async_hello_held_pack_to (pk, &held);
    }
}

//  A HELLO from uuid: `agents` agents of `size` slots with that many
//  queues, includes and excludes each, `tasks` tasks, and the given host
//  and first agent's name
static zframe_t *
s_hello_held (const char *uuid, size_t agents, int64_t size, size_t queues, size_t include,
              size_t exclude, size_t tasks, const char *host, const char *agent_name,
              size_t held)
{
    s_shape_t shape = { .agents = agents,
                        .size = size,
                        .queues = { "flood.queue.", queues },
                        .include = { "flood.task.*", include },
                        .exclude = { "flood.other.*", exclude },
                        .agent_name = agent_name,
                        .held = held };
    s_names_t task_names = { "flood.task.", tasks };
    async_hello_t hello = {
        //  A key (each peer has a uuid of its own: the broker binds it to this)
        .uuid_key = async_str (
            "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"),
        .has_session = true,
        .session = async_str (uuid),
        .has_host = true,
        .host = async_str (host),
        .has_pid = true,
        .pid = getpid (),
        .agents = async_part_packed (s_agents_pack, &shape),
        .has_tasks = true,
        .tasks = async_part_packed (s_names_pack, &task_names),
        .has_held = true,
        .held = async_part_packed (s_held_pack, &shape)
    };
    snprintf (hello.uuid, sizeof hello.uuid, "%s", uuid);
    async_msg_t msg;
    async_hello_encode (&msg, ASYNC_C_HELLO, 1, &hello);
    zframe_t *frame = zframe_new (msg.buffer.data, msg.buffer.size);
    async_msg_destroy (&msg);
    return frame;
}

static char s_last_error [800];     //  the last ERROR read, as printed

static void
s_answer_last_print (void)
{
    printf ("%s\n", s_last_error);
}

static zframe_t *
s_hello (const char *uuid, size_t agents, int64_t size, size_t queues, size_t include,
         size_t exclude, size_t tasks, const char *host, const char *agent_name)
{
    return s_hello_held (uuid, agents, size, queues, include, exclude, tasks, host,
                         agent_name, 0);
}

//  Print the answer on `dealer` within `timeout` ms. 1 WELCOME, 2 ERROR,
//  0 other, -1 none
static int
s_answer (zsock_t *dealer, int timeout, bool print)
{
    zsock_set_rcvtimeo (dealer, timeout);
    zframe_t *frame = zframe_recv (dealer);
    if (!frame)
        return -1;
    async_inmsg_t in;
    const char *why = NULL;
    int rc = 0;
    if (async_inmsg_parse (&in, zframe_data (frame), zframe_size (frame), &why) == 0) {
        if (streq (in.command, "WELCOME")) {
            rc = 1;
            if (print)
                printf ("WELCOME\n");
        }
        else
        if (streq (in.command, "ERROR")) {
            rc = 2;
            int64_t code = 0;
            char message [600] = "", reason [64] = "-";
            async_mp_int (in.body, "code", &code);
            async_mp_str (in.body, "message", message, sizeof message);
            async_mp_str (in.body, "reason", reason, sizeof reason);
            snprintf (s_last_error, sizeof s_last_error, "ERROR %" PRId64 " %s %s", code,
                      reason, message);
            if (print)
                printf ("%s\n", s_last_error);
        }
    }
    async_inmsg_destroy (&in);
    zframe_destroy (&frame);
    return rc;
}

static long
s_rss_kb (const char *pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%s/status", pid);
    FILE *file = fopen (path, "r");
    long rss = -1;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            rss = atol (line + 6);
    if (file)
        fclose (file);
    return rss;
}

//  The largest HELLO within every budget
static zframe_t *
s_hello_ok (const char *uuid)
{
    return s_hello (uuid, 64, 1, 64, 64, 64, 10000, "probe", "main");
}

//  The median of 20 client PING round trips, in ms (-1: no PONG)
static double
s_pings (const char *endpoint)
{
    zsock_t *client = zsock_new_dealer (endpoint);
    zsock_set_linger (client, 0);
    //  Each round trip, us
    int64_t took [20];
    int pings = 0;
    for (int i = 1; i <= 20; i++) {
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_C_PING, (uint64_t) i);
        zframe_t *frame = zframe_new (msg.buffer.data, msg.buffer.size);
        async_msg_destroy (&msg);
        int64_t sent = zclock_usecs ();
        zframe_send (&frame, client, 0);
        zsock_set_rcvtimeo (client, 2000);
        bool pong = false;
        while (!pong && (frame = zframe_recv (client))) {
            async_inmsg_t in;
            const char *why = NULL;
            pong = async_inmsg_parse (&in, zframe_data (frame), zframe_size (frame), &why) == 0
                && streq (in.command, "PONG") && in.rid == (uint64_t) i;
            async_inmsg_destroy (&in);
            zframe_destroy (&frame);
        }
        if (pong)
            took [pings++] = zclock_usecs () - sent;
    }
    zsock_destroy (&client);
    //  The median: a broker busy with the flood is slow every time; a
    //  machine busy with other work, now and then
    for (int i = 1; i < pings; i++)
        for (int j = i; j > 0 && took [j - 1] > took [j]; j--) {
            int64_t swap = took [j];
            took [j] = took [j - 1];
            took [j - 1] = swap;
        }
    return pings ? took [pings / 2] / 1000.0 : -1.0;
}

//  Answer the broker's PINGs waiting on a peer, as a node does
static void
s_heavy_answer (zsock_t *peer)
{
    zsock_set_rcvtimeo (peer, 0);
    zframe_t *frame;
    while ((frame = zframe_recv (peer))) {
        zframe_destroy (&frame);
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_C_PING, 0);
        async_msg_int (&msg, "node", 1);
        frame = zframe_new (msg.buffer.data, msg.buffer.size);
        async_msg_destroy (&msg);
        zframe_send (&frame, peer, ZFRAME_DONTWAIT);
    }
}

//  Answer the broker's PINGs on every peer until `stopfile` exists
static void
s_heavy_stay (zsock_t **peers, int count, const char *stopfile)
{
    zpoller_t *poller = zpoller_new (NULL);
    for (int i = 0; i < count; i++)
        zpoller_add (poller, peers [i]);
    while (!zsys_file_exists (stopfile)) {
        zsock_t *which = (zsock_t *) zpoller_wait (poller, 100);
        if (which)
            s_heavy_answer (which);
    }
    zpoller_destroy (&poller);
}

static int
s_heavy (const char *endpoint, int count, const char *pid, long limit_kb, const char *stopfile)
{
    zsys_set_max_sockets ((size_t) count + 16);
    zsock_t **peers = calloc ((size_t) count, sizeof (zsock_t *));
    int answers = 0, welcome = 0, error = 0, i;
    long rss = 0;
    for (i = 0; i < count; i++) {
        char uuid [37];
        snprintf (uuid, sizeof uuid, "00000000-0000-4000-a000-%012d", i + 1);
        zframe_t *frame = s_hello_ok (uuid);
        peers [i] = zsock_new_dealer (endpoint);
        zsock_set_linger (peers [i], 0);
        zframe_send (&frame, peers [i], 0);
        //  Its answer (not the broker's PINGs to the sessions made)
        int rc = 0;
        int64_t deadline = zclock_mono () + 10000;
        while (rc <= 0 && zclock_mono () < deadline)
            rc = s_answer (peers [i], 1000, false);
        if (rc <= 0)
            break;
        if (rc == 2 && error == 0)
            s_answer_last_print ();
        answers++;
        welcome += rc == 1;
        error += rc == 2;
        for (int p = 0; stopfile && p < i; p++)
            s_heavy_answer (peers [p]);  //  the sessions made stay alive
        rss = s_rss_kb (pid);
        if (rss > limit_kb) {
            printf ("rss_over %ld\n", rss);
            break;
        }
    }
    printf ("answers %d welcome %d error %d\n", answers, welcome, error);
    printf ("ping_ms %.1f\n", s_pings (endpoint));
    printf ("rss_kb %ld\n", s_rss_kb (pid));
    fflush (stdout);
    if (stopfile && answers == count)
        s_heavy_stay (peers, count, stopfile);
    for (int p = 0; p < count; p++)
        zsock_destroy (&peers [p]);
    free (peers);
    return answers == count ? 0 : 1;
}

static int
s_probe (const char *endpoint, const char *kind)
{
    char uuid [37];
    zuuid_t *id = zuuid_new ();
    snprintf (uuid, sizeof uuid, "%s", zuuid_str_canonical (id));
    zuuid_destroy (&id);
    char long_name [300];
    memset (long_name, 'x', 201);
    long_name [201] = 0;
    char long_host [300];
    memset (long_host, 'h', 256);
    long_host [256] = 0;
    zframe_t *frame = NULL;
    if (streq (kind, "ok"))
        frame = s_hello_ok (uuid);
    else
    if (streq (kind, "agents"))
        frame = s_hello (uuid, 65, 1, 0, 0, 0, 1, "probe", "main");
    else
    if (streq (kind, "tasks"))
        frame = s_hello (uuid, 1, 1, 0, 0, 0, 10001, "probe", "main");
    else
    if (streq (kind, "queues"))
        frame = s_hello (uuid, 1, 1, 65, 0, 0, 1, "probe", "main");
    else
    if (streq (kind, "include"))
        frame = s_hello (uuid, 1, 1, 0, 65, 0, 1, "probe", "main");
    else
    if (streq (kind, "exclude"))
        frame = s_hello (uuid, 1, 1, 0, 0, 65, 1, "probe", "main");
    else
    if (streq (kind, "name"))
        frame = s_hello (uuid, 1, 1, 0, 0, 0, 1, "probe", long_name);
    else
    if (streq (kind, "host"))
        frame = s_hello (uuid, 1, 1, 0, 0, 0, 1, long_host, "main");
    else
    if (streq (kind, "size"))
        frame = s_hello (uuid, 1, 100001, 0, 0, 0, 1, "probe", "main");
    else
    if (streq (kind, "held"))
        frame = s_hello_held (uuid, 1, 1, 0, 0, 0, 1, "probe", "main", 25000);
    else {
        fprintf (stderr, "hello_flood: unknown probe '%s'\n", kind);
        return 2;
    }
    zsock_t *dealer = zsock_new_dealer (endpoint);
    zsock_set_linger (dealer, 0);
    zframe_send (&frame, dealer, 0);
    int rc = s_answer (dealer, 5000, true);
    zsock_destroy (&dealer);
    return rc > 0 ? 0 : 1;
}

static int
s_flood (const char *endpoint, int count, const char *pid, long limit_kb)
{
    zsock_t **peers = calloc ((size_t) count, sizeof (zsock_t *));
    const char *base = "00000000-0000-4000-8000-000000000000";
    zframe_t *hello = s_hello (base, S_FLOOD_AGENTS, 1, S_FLOOD_LIST, S_FLOOD_LIST,
                               S_FLOOD_LIST, S_FLOOD_TASKS, "flood", "main");
    printf ("hello_bytes %zu\n", zframe_size (hello));
    zpoller_t *poller = zpoller_new (NULL);
    int64_t start = zclock_mono ();
    for (int i = 0; i < count; i++) {
        peers [i] = zsock_new_dealer (endpoint);
        zsock_set_linger (peers [i], 0);
        zsock_set_sndhwm (peers [i], 0);
        zpoller_add (poller, peers [i]);
        //  Each its own uuid (and session): the last 12 digits are its number
        zframe_t *frame = zframe_dup (hello);
        char tail [13];
        snprintf (tail, sizeof tail, "%012d", i + 1);
        uint8_t *data = zframe_data (frame);
        size_t size = zframe_size (frame);
        for (uint8_t *at = data; (at = memmem (at, size - (size_t) (at - data), base, 36));
             at += 36)
            memcpy (at + 24, tail, 12);
        zframe_send (&frame, peers [i], 0);
    }
    int answers = 0, welcome = 0, error = 0;
    int64_t hello_ms = 0;
    long rss = 0;
    while (answers < count) {
        zsock_t *which = (zsock_t *) zpoller_wait (poller, 200);
        rss = s_rss_kb (pid);
        if (rss > limit_kb) {
            printf ("rss_over %ld\n", rss);
            break;
        }
        if (!which) {
            if (zclock_mono () - start > 60000)
                break;
            continue;
        }
        int rc = s_answer (which, 0, answers == 0);
        if (rc <= 0)
            continue;
        answers++;
        welcome += rc == 1;
        error += rc == 2;
        hello_ms = zclock_mono () - start;
    }
    printf ("answers %d welcome %d error %d\n", answers, welcome, error);
    printf ("hello_ms %" PRId64 "\n", hello_ms);
    //  Client PINGs: PONG with the same rid
    zsock_t *client = zsock_new_dealer (endpoint);
    zsock_set_linger (client, 0);
    //  Each round trip, us
    int64_t took [20];
    int pings = 0;
    for (int i = 1; i <= 20 && answers == count; i++) {
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_C_PING, (uint64_t) i);
        zframe_t *frame = zframe_new (msg.buffer.data, msg.buffer.size);
        async_msg_destroy (&msg);
        int64_t sent = zclock_usecs ();
        zframe_send (&frame, client, 0);
        zsock_set_rcvtimeo (client, 2000);
        while ((frame = zframe_recv (client))) {
            async_inmsg_t in;
            const char *why = NULL;
            bool pong = async_inmsg_parse (&in, zframe_data (frame), zframe_size (frame),
                                           &why) == 0
                     && streq (in.command, "PONG") && in.rid == (uint64_t) i;
            async_inmsg_destroy (&in);
            zframe_destroy (&frame);
            if (pong)
                break;
        }
        took [pings++] = zclock_usecs () - sent;
    }
    //  The median: a broker busy with the flood is slow every time; a
    //  machine busy with other work, now and then
    for (int i = 1; i < pings; i++)
        for (int j = i; j > 0 && took [j - 1] > took [j]; j--) {
            int64_t swap = took [j];
            took [j] = took [j - 1];
            took [j - 1] = swap;
        }
    printf ("ping_ms %.1f\n", pings ? took [pings / 2] / 1000.0 : -1.0);
    printf ("rss_kb %ld\n", s_rss_kb (pid));
    fflush (stdout);
    zsock_destroy (&client);
    zpoller_destroy (&poller);
    for (int i = 0; i < count; i++)
        zsock_destroy (&peers [i]);
    free (peers);
    zframe_destroy (&hello);
    return answers == count ? 0 : 1;
}

static int
s_sessions (const char *endpoint, int count)
{
    zsys_set_max_sockets ((size_t) count + 16);
    zsock_t **peers = calloc ((size_t) count, sizeof (zsock_t *));
    zpoller_t *poller = zpoller_new (NULL);
    for (int i = 0; i < count; i++) {
        char uuid [37];
        snprintf (uuid, sizeof uuid, "00000000-0000-4000-9000-%012d", i + 1);
        zframe_t *frame = s_hello (uuid, 1, 1, 0, 0, 0, 0, "sessions", "main");
        peers [i] = zsock_new_dealer (endpoint);
        if (!peers [i]) {
            printf ("cannot make socket %d\n", i);
            return 1;
        }
        zsock_set_linger (peers [i], 0);
        zpoller_add (poller, peers [i]);
        zframe_send (&frame, peers [i], 0);
    }
    //  Each pass reads every peer not answered yet, without waiting: a
    //  poller hands back the first ready socket, and the broker's PINGs to
    //  the welcomed sessions kept the first ones ready, starving the rest
    //  on a busy machine (618 of 1,050 answers in 60 s)
    bool *answered = calloc ((size_t) count, sizeof (bool));
    int answers = 0, welcome = 0, error = 0;
    int64_t deadline = zclock_mono () + 60000;     //  a loaded machine is slow to connect 1,050 peers
    while (answers < count && zclock_mono () < deadline) {
        int found = 0;
        for (int i = 0; i < count; i++) {
            if (answered [i])
                continue;
            int rc;
            while ((rc = s_answer (peers [i], 0, false)) == 0)
                ;               //  the broker's PING to a session
            if (rc < 0)
                continue;       //  nothing yet
            if (rc == 2 && error == 0)
                s_answer_last_print ();
            answered [i] = true;
            answers++;
            found++;
            welcome += rc == 1;
            error += rc == 2;
        }
        if (!found)
            zpoller_wait (poller, 50);
    }
    free (answered);
    printf ("answers %d welcome %d error %d\n", answers, welcome, error);
    fflush (stdout);
    zpoller_destroy (&poller);
    for (int i = 0; i < count; i++)
        zsock_destroy (&peers [i]);
    free (peers);
    return answers == count ? 0 : 1;
}

int
main (int argc, char *argv [])
{
    if (argc == 4 && streq (argv [2], "sessions")) {
        int count = atoi (argv [3]);
        if (count < 1 || count > 5000) {
            fprintf (stderr, "hello_flood: COUNT must be 1..5000\n");
            return 2;
        }
        return s_sessions (argv [1], count);
    }
    if ((argc == 6 || argc == 7) && streq (argv [2], "heavy")) {
        int count = atoi (argv [3]);
        long limit = atol (argv [5]);
        if (count < 1 || count > 2000 || limit < 1) {
            fprintf (stderr, "hello_flood: COUNT must be 1..2000, RSS_LIMIT_KB positive\n");
            return 2;
        }
        return s_heavy (argv [1], count, argv [4], limit, argc == 7 ? argv [6] : NULL);
    }
    if (argc == 4 && streq (argv [2], "probe"))
        return s_probe (argv [1], argv [3]);
    if (argc == 6 && streq (argv [2], "flood")) {
        int count = atoi (argv [3]);
        long limit = atol (argv [5]);
        if (count < 1 || count > 1000 || limit < 1) {
            fprintf (stderr, "hello_flood: COUNT must be 1..1000, RSS_LIMIT_KB positive\n");
            return 2;
        }
        return s_flood (argv [1], count, argv [4], limit);
    }
    fprintf (stderr,
             "usage: hello_flood ENDPOINT probe KIND\n"
             "       hello_flood ENDPOINT flood COUNT BROKER_PID RSS_LIMIT_KB\n"
             "       hello_flood ENDPOINT heavy COUNT BROKER_PID RSS_LIMIT_KB "
             "[STOPFILE]\n"
             "       hello_flood ENDPOINT sessions COUNT\n");
    return 2;
}
