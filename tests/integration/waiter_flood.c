//  waiter_flood - a test helper for test_waiters_departed.sh: many waits
//  from raw clients that never re-send WAIT
//
//      waiter_flood ENDPOINT PEERS JOBS DIR
//
//  Submits JOBS jobs of task testing.noop to queue "nobody" (no node takes
//  them: they stay pending) and writes their ids to DIR/ids, one a line.
//  Then PEERS peers (one DEALER each) send one WAIT for every job, once,
//  and read the answers: WAITING, or ERROR. Prints "waits W errors E" (W
//  answered WAITING) and the first ERROR's message as "error MESSAGE",
//  and creates DIR/ready. Then it stays, reading what the broker pushes,
//  until DIR/stop exists: once every peer got a PING from the broker (its
//  probe of peers that wait) it creates DIR/probed; each JOB pushed is
//  counted. At the stop it prints "pushed N", and exits 0, closing its
//  sockets at once (linger 0) without a word to the broker. Exit 1 when
//  answers are missing after 120 s, 2 on bad arguments.
#include "async_codec.h"
#include "async_util.h"
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BATCH 4096

static zframe_t *
s_frame (async_msg_t *msg)
{
    zframe_t *frame = zframe_new (msg->buffer.data, msg->buffer.size);
    async_msg_destroy (msg);
    return frame;
}

static bool
s_exists (const char *dir, const char *name)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    return zsys_file_exists (path);
}

static void
s_touch (const char *dir, const char *name)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    if (file)
        fclose (file);
}

//  Submit `count` pending jobs; their ids into ids (ASYNC_ID_LEN each).
//  0, or -1 (said on stderr)
static int
s_submit (const char *endpoint, size_t count, char *ids)
{
    zsock_t *dealer = zsock_new_dealer (endpoint);
    zsock_set_linger (dealer, 0);
    zsock_set_rcvtimeo (dealer, 30000);
    int rc = 0;
    for (size_t done = 0; done < count && rc == 0;) {
        size_t n = count - done < S_BATCH ? count - done : S_BATCH;
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_C_SUBMIT, done + 1);
        async_msg_key (&msg, "specs");
        msgpack_pack_array (&msg.packer, n);
        for (size_t i = 0; i < n; i++) {
            msgpack_pack_map (&msg.packer, 2);
            async_codec_pack_str (&msg.packer, "task");
            async_codec_pack_str (&msg.packer, "testing.noop");
            async_codec_pack_str (&msg.packer, "queue");
            async_codec_pack_str (&msg.packer, "nobody");
        }
        zframe_t *frame = s_frame (&msg);
        zframe_send (&frame, dealer, 0);
        frame = zframe_recv (dealer);
        async_inmsg_t in;
        const char *why = NULL;
        if (!frame || async_inmsg_parse (&in, zframe_data (frame), zframe_size (frame), &why)) {
            fprintf (stderr, "waiter_flood: no answer to SUBMIT\n");
            zframe_destroy (&frame);
            rc = -1;
            break;
        }
        const msgpack_object *accepted = async_mp_get (in.body, "accepted");
        if (!streq (in.command, "ACCEPTED") || !accepted
            || accepted->type != MSGPACK_OBJECT_ARRAY || accepted->via.array.size != n) {
            fprintf (stderr, "waiter_flood: SUBMIT answered %s\n", in.command);
            rc = -1;
        }
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (async_mp_str (&accepted->via.array.ptr [i], "id",
                              ids + (done + i) * ASYNC_ID_LEN, ASYNC_ID_LEN))
                rc = -1;
        async_inmsg_destroy (&in);
        zframe_destroy (&frame);
        done += n;
    }
    zsock_destroy (&dealer);
    return rc;
}

int
main (int argc, char *argv [])
{
    if (argc != 5) {
        fprintf (stderr, "usage: waiter_flood ENDPOINT PEERS JOBS DIR\n");
        return 2;
    }
    const char *endpoint = argv [1], *dir = argv [4];
    long npeers = atol (argv [2]), njobs = atol (argv [3]);
    if (npeers < 1 || npeers > 1000 || njobs < 1 || njobs > 1000000) {
        fprintf (stderr, "waiter_flood: PEERS must be 1..1000, JOBS 1..1000000\n");
        return 2;
    }
    zsys_set_max_sockets ((size_t) npeers + 16);
    char *ids = calloc ((size_t) njobs, ASYNC_ID_LEN);
    if (s_submit (endpoint, (size_t) njobs, ids))
        return 1;
    char path [1024];
    snprintf (path, sizeof path, "%s/ids", dir);
    FILE *file = fopen (path, "w");
    for (long i = 0; file && i < njobs; i++)
        fprintf (file, "%s\n", ids + i * ASYNC_ID_LEN);
    if (file)
        fclose (file);

    zsock_t **peers = calloc ((size_t) npeers, sizeof (zsock_t *));
    bool *probed = calloc ((size_t) npeers, sizeof (bool));
    zpoller_t *poller = zpoller_new (NULL);
    for (long p = 0; p < npeers; p++) {
        peers [p] = zsock_new_dealer (endpoint);
        zsock_set_linger (peers [p], 0);
        zsock_set_sndhwm (peers [p], 0);
        zsock_set_rcvhwm (peers [p], 0);
        zsock_set_rcvtimeo (peers [p], 0);
        zpoller_add (poller, peers [p]);
        for (long i = 0; i < njobs; i++) {
            async_msg_t msg;
            async_msg_init (&msg, ASYNC_C_WAIT, (uint64_t) i + 1);
            async_msg_str (&msg, "id", ids + i * ASYNC_ID_LEN);
            zframe_t *frame = s_frame (&msg);
            zframe_send (&frame, peers [p], 0);
        }
    }
    long expected = npeers * njobs, waits = 0, errors = 0, pushed = 0, nprobed = 0;
    bool ready = false;
    int64_t deadline = zclock_mono () + 120000;
    while (true) {
        if (!ready && waits + errors == expected) {
            printf ("waits %ld errors %ld\n", waits, errors);
            fflush (stdout);
            s_touch (dir, "ready");
            ready = true;
        }
        if (ready && s_exists (dir, "stop"))
            break;
        if (!ready && zclock_mono () > deadline) {
            printf ("waits %ld errors %ld (answers missing)\n", waits, errors);
            return 1;
        }
        zsock_t *which = (zsock_t *) zpoller_wait (poller, 100);
        if (!which)
            continue;
        long p = 0;
        while (peers [p] != which)
            p++;
        zframe_t *frame;
        while ((frame = zframe_recv (which))) {
            async_inmsg_t in;
            const char *why = NULL;
            if (async_inmsg_parse (&in, zframe_data (frame), zframe_size (frame), &why) == 0) {
                if (streq (in.command, "WAITING"))
                    waits++;
                else if (streq (in.command, "ERROR")) {
                    if (errors++ == 0) {
                        char message [300] = "";
                        async_mp_str (in.body, "message", message, sizeof message);
                        printf ("error %s\n", message);
                    }
                }
                else if (streq (in.command, "JOB") && in.rid == 0)
                    pushed++;
                else if (streq (in.command, "PING") && !probed [p]) {
                    probed [p] = true;
                    if (++nprobed == npeers)
                        s_touch (dir, "probed");
                }
            }
            async_inmsg_destroy (&in);
            zframe_destroy (&frame);
        }
    }
    printf ("pushed %ld\n", pushed);
    fflush (stdout);
    zpoller_destroy (&poller);
    for (long p = 0; p < npeers; p++)
        zsock_destroy (&peers [p]);
    free (peers);
    free (probed);
    free (ids);
    return 0;
}
