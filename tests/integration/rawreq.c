//  rawreq - a test helper: one request to the broker, as any peer could
//  send it, and its replies as JSON
//
//      rawreq [-n REPLIES] [-t TIMEOUT_MS] ENDPOINT COMMAND BODY_JSON
//             [COMMAND BODY_JSON ...]
//
//  Sends each [1, COMMAND, rid, BODY] (BODY a JSON object, packed as
//  msgpack; @FILE: the JSON object in FILE) in order from one DEALER, so
//  that they come from one peer, and prints each reply as one line of
//  JSON: {"command": ..., "rid": ..., "body": {...}}, until REPLIES
//  (default: one per request) came or TIMEOUT_MS (default 3000) passed.
//  The broker's PINGs to a node session (rid 0) are no replies: skipped.
//  Exit 0 when all came, 3 on a time-out, 2 on bad arguments.
#include "async_codec.h"
#include "async_util.h"
#include <czmq.h>
#include <jansson.h>

int
main (int argc, char *argv [])
{
    int replies = -1, timeout = 3000, opt;
    while ((opt = getopt (argc, argv, "+n:t:")) != -1) {
        if (opt == 'n')
            replies = atoi (optarg);
        else
        if (opt == 't')
            timeout = atoi (optarg);
        else
            return 2;
    }
    if (argc - optind < 3 || (argc - optind - 1) % 2) {
        fprintf (stderr, "usage: rawreq [-n REPLIES] [-t TIMEOUT_MS] ENDPOINT "
                 "COMMAND BODY_JSON [COMMAND BODY_JSON ...]\n");
        return 2;
    }
    zsock_t *dealer = zsock_new_dealer (argv [optind]);
    if (!dealer) {
        fprintf (stderr, "rawreq: cannot connect to %s\n", argv [optind]);
        return 2;
    }
    if (replies < 0)
        replies = (argc - optind - 1) / 2;
    uint64_t rid = (uint64_t) async_mono_us ();
    for (int arg = optind + 1; arg < argc; arg += 2) {
        json_error_t error;
        json_t *body = argv [arg + 1][0] == '@' ? json_load_file (argv [arg + 1] + 1, 0, &error)
                                                : json_loads (argv [arg + 1], 0, &error);
        if (!json_is_object (body)) {
            fprintf (stderr, "rawreq: the body of %s is not a JSON object: %s\n",
                     argv [arg], error.text);
            return 2;
        }
        msgpack_sbuffer buffer;
        msgpack_packer pk;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
        msgpack_pack_array (&pk, 4);
        msgpack_pack_int (&pk, 1);
        async_codec_pack_str (&pk, argv [arg]);
        msgpack_pack_uint64 (&pk, rid++);
        async_codec_pack_json (&pk, body);
        zframe_t *frame = zframe_new (buffer.data, buffer.size);
        zframe_send (&frame, dealer, 0);
        msgpack_sbuffer_destroy (&buffer);
        json_decref (body);
    }
    zframe_t *frame;
    int64_t deadline = async_mono_us () + (int64_t) timeout * 1000;
    int got = 0;
    while (got < replies) {
        int64_t left = (deadline - async_mono_us ()) / 1000;
        if (left <= 0)
            break;
        zsock_set_rcvtimeo (dealer, (int) left);
        frame = zframe_recv (dealer);
        if (!frame)
            break;
        async_inmsg_t in;
        const char *why = NULL;
        //  The broker's PING to a node session (rid 0) is no reply: a
        //  slow run (ASan) saw one come between WELCOME and ACK
        if (async_inmsg_parse (&in, zframe_data (frame), zframe_size (frame), &why) == 0
        &&  !(async_inmsg_is (&in, ASYNC_S_PING) && in.rid == 0)) {
            json_t *line = json_object ();
            json_object_set_new (line, "command", json_string (in.command));
            json_object_set_new (line, "rid", json_integer ((json_int_t) in.rid));
            json_object_set_new (line, "body", async_codec_to_json (in.body));
            char *text = json_dumps (line, JSON_COMPACT);
            printf ("%s\n", text);
            fflush (stdout);
            free (text);
            json_decref (line);
            got++;
        }
        async_inmsg_destroy (&in);
        zframe_destroy (&frame);
    }
    zsock_destroy (&dealer);
    return got < replies ? 3 : 0;
}
