//  fuzz_broker - libFuzzer target for the broker's whole request handling:
//  one real broker (broker_new) on a fresh temp store, sync off, bound to
//  an inproc:// endpoint, made once; each input is split into messages
//  (fuzz_broker.h) from a small set of peers, each fed to the broker's
//  handler with broker_feed, which then runs what the loop runs after a
//  drain (timers, dispatch, a commit on this thread, pushes, ACKs).
//
//  The peers are real DEALER sockets with the routing ids the messages
//  claim, connected to the broker, so the broker's replies reach them:
//  after each message the fuzzer reads them, to learn the ids and tokens
//  the broker handed out (placeholders in the input stand for them,
//  fuzz_broker.h), and so that nothing piles up.
//
//  Built and run by tests/fuzz/run_broker.sh:
//      clang -fsanitize=fuzzer,address,undefined ... fuzz_broker.c <broker and
//      libcore sources> -lrocksdb -lmicrohttpd ...
//  The oracle is the sanitizers: no crash, no undefined behaviour, no leak,
//  no huge allocation. The broker's state carries over from one input to
//  the next (as in a real broker), so a finding may need the inputs before
//  it: libFuzzer's crash-* file is the last input only; run.sh keeps the
//  log.
//
//  Environment: FUZZ_BROKER_LOG = the broker's log level (default error:
//  a finding's log is then short), FUZZ_BROKER_LOG_FILE = where it goes
//  (default stderr; /dev/null with trace runs every log line quietly).
#define _GNU_SOURCE              //  nftw
#include "broker.h"
#include "fuzz_broker.h"
#include "async_codec.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include <czmq.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert (sizeof FUZZ_ID_ASSIGNED - 1 == 36, "an id placeholder is 36 bytes");
_Static_assert (sizeof FUZZ_ID_ACCEPTED - 1 == 36, "an id placeholder is 36 bytes");
_Static_assert (sizeof FUZZ_TOKEN_BYTES - 1 == 9, "a token placeholder is 9 bytes");

static broker_t *s_broker;
static zsock_t *s_peers [FUZZ_PEERS];
static const char *s_peer_names [FUZZ_PEERS] = FUZZ_PEER_NAMES;
static char s_dir [PATH_MAX];
static char s_assigned [37] = FUZZ_ID_ASSIGNED;
static char s_accepted [37] = FUZZ_ID_ACCEPTED;
static uint64_t s_token = FUZZ_TOKEN_VALUE;

static int
s_remove_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

static void
s_cleanup (void)
{
    for (int i = 0; i < FUZZ_PEERS; i++)
        zsock_destroy (&s_peers [i]);
    broker_destroy (&s_broker);
    if (*s_dir)
        nftw (s_dir, s_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    zsys_handler_set (NULL);            //  libFuzzer's signal handlers stay
    const char *level = getenv ("FUZZ_BROKER_LOG");
    int parsed = async_log_level_parse (level ? level : "error");
    async_log_set_level (parsed < 0 ? ASYNC_LOG_ERROR : (async_log_level_t) parsed);
    const char *log_file = getenv ("FUZZ_BROKER_LOG_FILE");
    if (log_file && *log_file)
        async_log_set_file (log_file);
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/fuzz_broker.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (s_dir)) {
        perror ("fuzz_broker: mkdtemp");
        abort ();
    }
    //  The broker keeps pointers to them (broker_new): static
    static char data_dir [PATH_MAX + 8], endpoint [64];
    snprintf (data_dir, sizeof data_dir, "%s/data", s_dir);
    snprintf (endpoint, sizeof endpoint, "inproc://fuzz-broker-%d", (int) getpid ());
    broker_config_t config;
    broker_config_defaults (&config);
    config.data_dir = data_dir;
    config.endpoint = endpoint;
    config.sync = false;
    config.spin_us = 0;
    config.min_free = 0;
    if (broker_new (&config, &s_broker)) {
        fprintf (stderr, "fuzz_broker: broker_new failed in %s\n", data_dir);
        abort ();
    }
    for (int i = 0; i < FUZZ_PEERS; i++) {
        s_peers [i] = zsock_new (ZMQ_DEALER);
        zsock_set_identity (s_peers [i], s_peer_names [i]);
        zsock_set_rcvtimeo (s_peers [i], 0);
        zsock_set_linger (s_peers [i], 0);
        zsock_set_rcvhwm (s_peers [i], 0);
        if (zsock_connect (s_peers [i], "%s", endpoint)) {
            fprintf (stderr, "fuzz_broker: cannot connect to %s\n", endpoint);
            abort ();
        }
    }
    atexit (s_cleanup);
    return 0;
}

static void
s_learn_id (char *into, const msgpack_object *map, const char *key)
{
    char id [37];
    if (map && async_mp_str (map, key, id, sizeof id) == 0 && async_id_valid (id))
        memcpy (into, id, 37);
}

static void
s_learn_assign (const msgpack_object *map)
{
    uint64_t token;
    s_learn_id (s_assigned, map, "id");
    if (async_mp_uint (map, "token", &token) == 0)
        s_token = token;
}

//  Read what the broker sent each peer; remember ids and tokens
static void
s_drain (void)
{
    for (int i = 0; i < FUZZ_PEERS; i++) {
        zmsg_t *zmsg;
        while ((zmsg = zmsg_recv (s_peers [i]))) {
            zframe_t *frame = zmsg_last (zmsg);
            async_inmsg_t in;
            const char *why;
            if (frame && async_inmsg_parse (&in, zframe_data (frame), zframe_size (frame),
                                            &why) == 0) {
                if (streq (in.command, "ASSIGN")) {
                    s_learn_assign (in.body);
                    const msgpack_object *jobs = async_mp_get (in.body, "jobs");
                    for (uint32_t j = 0; jobs && jobs->type == MSGPACK_OBJECT_ARRAY
                                         && j < jobs->via.array.size; j++)
                        s_learn_assign (&jobs->via.array.ptr [j]);
                }
                else
                if (streq (in.command, "ACCEPTED")) {
                    s_learn_id (s_accepted, in.body, "id");
                    const msgpack_object *all = async_mp_get (in.body, "accepted");
                    if (all && all->type == MSGPACK_OBJECT_ARRAY && all->via.array.size)
                        s_learn_id (s_accepted, &all->via.array.ptr [0], "id");
                }
                else
                if (streq (in.command, "CALLBACK"))
                    s_learn_id (s_accepted, in.body, "callback");
            }
            async_inmsg_destroy (&in);
            zmsg_destroy (&zmsg);
        }
    }
}

//  Replace each placeholder in body by what it stands for
static void
s_substitute (uint8_t *body, size_t size)
{
    uint8_t token [9] = { 0xcf };
    for (int i = 0; i < 8; i++)
        token [1 + i] = (uint8_t) (s_token >> (56 - 8 * i));
    for (size_t at = 0; at < size; at++) {
        size_t left = size - at;
        if (left >= 36 && body [at] == '{') {
            if (memcmp (body + at, FUZZ_ID_ASSIGNED, 36) == 0)
                memcpy (body + at, s_assigned, 36);
            else
            if (memcmp (body + at, FUZZ_ID_ACCEPTED, 36) == 0)
                memcpy (body + at, s_accepted, 36);
        }
        else
        if (left >= 9 && body [at] == 0xcf && memcmp (body + at, FUZZ_TOKEN_BYTES, 9) == 0)
            memcpy (body + at, token, 9);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    size_t at = 0;
    for (int records = 0; records < FUZZ_MAX_RECORDS && at + 3 <= size; records++) {
        int peer = data [at] % FUZZ_PEERS;
        size_t length = (size_t) data [at + 1] << 8 | data [at + 2];
        at += 3;
        if (length > size - at)
            length = size - at;
        //  A copy of its own, so that ASan sees any read past the frame
        uint8_t *body = malloc (length ? length : 1);
        if (length)
            memcpy (body, data + at, length);
        s_substitute (body, length);
        at += length;
        const char *routing = s_peer_names [peer];
        if (broker_feed (s_broker, routing, strlen (routing), body, length)) {
            fprintf (stderr, "fuzz_broker: the store failed\n");
            abort ();
        }
        free (body);
        s_drain ();
    }
    return 0;
}
