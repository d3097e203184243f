//  hello_forge - a test helper for test_hello_held_forgery.sh,
//  test_hello_held_adopt_proof.sh and test_uuid_impostor.sh
//
//      hello_forge [OPTIONS] ENDPOINT UUID JOB TOKEN RESULT
//                  [ATTEMPT [PROOF [COPIES]]]
//
//  A raw peer that plays a node of uuid UUID trying to steal job JOB,
//  which runs on another node or waits in its queue: it says HELLO with
//  one agent (`main`, size 1), no tasks (so that the broker gives it no
//  work) and `held` = [{id: JOB, token: TOKEN, agent: main}], then sends
//  RESULT {id: JOB, token: TOKEN, result: RESULT} and waits for its ACK.
//  With ATTEMPT the held entry has `attempt`; with PROOF (a number, or -
//  for none) `proof`; with COPIES, `held` lists the entry that many times
//  (1 to 10000).
//
//  Options, as an impostor of a real node would say HELLO:
//      --key HEX       the HELLO's `uuid_key` (default: 64 random hex
//                      digits, a key of its own)
//      --boot ID       `boot`, e.g. /proc/sys/kernel/random/boot_id
//      --lock DEV:INO  `lock`, the node's lock file's device and inode in hex
//      --host NAME     `host` (default "forger")
//      --hello-only    stop after the answer to HELLO (no RESULT)
//
//  Prints one line per answer: "hello: WELCOME", "hello: ERROR <code>
//  <message>" then "hello: reason <reason>" when it has one, "ack:
//  rejected=<0|1>". Exit 0 when the ACK came (with --hello-only: when HELLO
//  was answered), 1 when an answer did not come within 5 s, 2 on bad
//  arguments.
#include "async_codec.h"
#include "async_msgs.h"
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void
s_send (zsock_t *dealer, async_msg_t *msg)
{
    zframe_t *frame = zframe_new (msg->buffer.data, msg->buffer.size);
    async_msg_destroy (msg);
    zframe_send (&frame, dealer, 0);
}

//  The next message whose command is one of `a`, `b`, within 5 s; broker
//  PINGs and the like are skipped. 0, or -1 on timeout
static int
s_recv (zsock_t *dealer, const char *a, const char *b, async_inmsg_t *in)
{
    int64_t deadline = zclock_mono () + 5000;
    while (zclock_mono () < deadline) {
        zsock_set_rcvtimeo (dealer, (int) (deadline - zclock_mono ()));
        zframe_t *frame = zframe_recv (dealer);
        if (!frame)
            break;
        const char *why = NULL;
        int rc = async_inmsg_parse (in, zframe_data (frame), zframe_size (frame), &why);
        zframe_destroy (&frame);
        if (rc)
            continue;
        if (streq (in->command, a) || streq (in->command, b))
            return 0;
        async_inmsg_destroy (in);
    }
    return -1;
}

//  The held entries to forge
typedef struct {
    const char *job;
    uint64_t token;
    long attempt;
    bool has_proof;
    uint64_t proof;
    long copies;
} s_forged_t;

//  HELLO's agents: `main`, of one slot (async_pack_fn)
static void
s_pack_agents (msgpack_packer *pk, void *arg)
{
    (void) arg;
    async_hello_agent_t agent = { .name = async_str ("main"), .size = 1 };
    msgpack_pack_array (pk, 1);
    async_hello_agent_pack_to (pk, &agent);
}

//  HELLO's held: the forged entry, `copies` times
static void
s_pack_held (msgpack_packer *pk, void *arg)
{
    const s_forged_t *forged = (const s_forged_t *) arg;
    async_hello_held_t held = { .token = forged->token,
                                .agent = async_str ("main"),
                                .has_attempt = forged->attempt != 0,
                                .attempt = forged->attempt,
                                .has_proof = forged->has_proof,
                                .proof = forged->proof };
    snprintf (held.id, sizeof held.id, "%s", forged->job);
    msgpack_pack_array (pk, (uint32_t) forged->copies);
    for (long i = 0; i < forged->copies; i++)
        async_hello_held_pack_to (pk, &held);
}

int
main (int argc, char *argv [])
{
    //  A key of its own, unless told otherwise
    uint8_t random [32];
    char own_key [65];
    if (getrandom (random, sizeof random, 0) != (ssize_t) sizeof random) {
        fprintf (stderr, "hello_forge: getrandom: %s\n", strerror (errno));
        return 2;
    }
    for (size_t i = 0; i < sizeof random; i++)
        snprintf (own_key + 2 * i, 3, "%02x", random [i]);
    const char *key = own_key, *boot = NULL, *lock = NULL, *host = "forger";
    bool hello_only = false;
    while (argc > 1 && strncmp (argv [1], "--", 2) == 0) {
        const char *opt = argv [1];
        if (streq (opt, "--hello-only")) {
            hello_only = true;
            argv++, argc--;
            continue;
        }
        if (argc < 3) {
            fprintf (stderr, "hello_forge: %s needs a value\n", opt);
            return 2;
        }
        if (streq (opt, "--key"))
            key = argv [2];
        else if (streq (opt, "--boot"))
            boot = argv [2];
        else if (streq (opt, "--lock"))
            lock = argv [2];
        else if (streq (opt, "--host"))
            host = argv [2];
        else {
            fprintf (stderr, "hello_forge: unknown option %s\n", opt);
            return 2;
        }
        argv += 2, argc -= 2;
    }
    if (argc < 6 || argc > 9) {
        fprintf (stderr,
                 "usage: hello_forge [--key HEX] [--boot ID] [--lock DEV:INO] "
                 "[--host NAME] [--hello-only] ENDPOINT UUID JOB TOKEN RESULT "
                 "[ATTEMPT [PROOF [COPIES]]]\n");
        return 2;
    }
    const char *endpoint = argv [1], *uuid = argv [2], *job = argv [3];
    char *end = NULL;
    errno = 0;
    uint64_t token = strtoull (argv [4], &end, 10);
    if (errno || !end || *end || end == argv [4]) {
        fprintf (stderr, "hello_forge: TOKEN '%s' is not an unsigned integer\n", argv [4]);
        return 2;
    }
    errno = 0;
    long long result = strtoll (argv [5], &end, 10);
    if (errno || !end || *end || end == argv [5]) {
        fprintf (stderr, "hello_forge: RESULT '%s' is not an integer\n", argv [5]);
        return 2;
    }
    long attempt = 0, copies = 1;
    if (argc > 6) {
        errno = 0;
        attempt = strtol (argv [6], &end, 10);
        if (errno || !end || *end || end == argv [6] || attempt < 1 || attempt > 1000000) {
            fprintf (stderr, "hello_forge: ATTEMPT '%s' is not from 1 to 1000000\n", argv [6]);
            return 2;
        }
    }
    bool has_proof = argc > 7 && strcmp (argv [7], "-") != 0;
    uint64_t proof = 0;
    if (has_proof) {
        errno = 0;
        proof = strtoull (argv [7], &end, 10);
        if (errno || !end || *end || end == argv [7]) {
            fprintf (stderr, "hello_forge: PROOF '%s' is not an unsigned integer\n", argv [7]);
            return 2;
        }
    }
    if (argc > 8) {
        errno = 0;
        copies = strtol (argv [8], &end, 10);
        if (errno || !end || *end || end == argv [8] || copies < 1 || copies > 10000) {
            fprintf (stderr, "hello_forge: COPIES '%s' is not from 1 to 10000\n", argv [8]);
            return 2;
        }
    }
    zsock_t *dealer = zsock_new_dealer (endpoint);
    assert (dealer);
    zsock_set_linger (dealer, 0);

    s_forged_t forged = { .job = job,
                          .token = token,
                          .attempt = attempt,
                          .has_proof = has_proof,
                          .proof = proof,
                          .copies = copies };
    async_hello_t hello = { .uuid_key = async_str (key),
                            .has_boot = boot != NULL,
                            .boot = async_str (boot ? boot : ""),
                            .has_lock = lock != NULL,
                            .lock = async_str (lock ? lock : ""),
                            .has_session = true,
                            .session = async_str ("00000000-0000-4000-8000-00000000f0f0"),
                            .has_host = true,
                            .host = async_str (host),
                            .has_pid = true,
                            .pid = getpid (),
                            .agents = async_part_packed (s_pack_agents, NULL),
                            .has_tasks = true,  //  none: the broker gives it no work
                            .has_held = true,
                            .held = async_part_packed (s_pack_held, &forged) };
    snprintf (hello.uuid, sizeof hello.uuid, "%s", uuid);
    async_msg_t msg;
    async_hello_encode (&msg, ASYNC_C_HELLO, 1, &hello);
    s_send (dealer, &msg);

    int rc = 1;
    async_inmsg_t in;
    if (s_recv (dealer, "WELCOME", "ERROR", &in)) {
        printf ("hello: no answer within 5 s\n");
        goto done;
    }
    if (streq (in.command, "ERROR")) {
        int64_t code = 0;
        char message [512] = "", reason [64] = "";
        async_mp_int (in.body, "code", &code);
        async_mp_str (in.body, "message", message, sizeof message);
        printf ("hello: ERROR %" PRId64 " %s\n", code, message);
        if (async_mp_str (in.body, "reason", reason, sizeof reason) == 0)
            printf ("hello: reason %s\n", reason);
    }
    else
        printf ("hello: WELCOME\n");
    async_inmsg_destroy (&in);
    if (hello_only) {
        rc = 0;
        goto done;
    }

    async_msg_init (&msg, ASYNC_C_RESULT, 0);
    async_msg_str (&msg, "id", job);
    async_msg_key (&msg, "token");
    msgpack_pack_uint64 (&msg.packer, token);
    async_msg_int (&msg, "result", result);
    s_send (dealer, &msg);
    if (s_recv (dealer, "ACK", "REHELLO", &in)) {
        printf ("ack: no answer within 5 s\n");
        goto done;
    }
    if (streq (in.command, "REHELLO"))
        printf ("ack: REHELLO (no session)\n");
    else {
        int64_t rejected = -1;
        async_mp_int (in.body, "rejected", &rejected);
        printf ("ack: rejected=%" PRId64 "\n", rejected);
    }
    async_inmsg_destroy (&in);
    rc = 0;
done:
    fflush (stdout);
    zsock_destroy (&dealer);
    return rc;
}
