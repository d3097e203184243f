//  rawsend - a test helper: send the broker one message with fields of any
//  msgpack type, including those asyncctl cannot express (a float NaN or
//  infinity, an int64 at its limit), and print the reply
//
//      rawsend [--id ID] [--no-reply] [--then COMMAND] ENDPOINT COMMAND [FIELD...]
//
//  FIELD is one of
//      KEY=TEXT        a string
//      KEY:=JSON       any JSON value, packed as the broker's codec does
//                      ("a\u0000b" a str holding a NUL byte)
//                      (9223372036854775807 is an int64, 1.5 a float64)
//      KEY~=NUMBER     a float64 parsed by strtod: inf, -inf, nan, 1e300
//
//  Connects a DEALER, sends [1, COMMAND, 1, {FIELD...}] and waits (at most
//  10 s) for the reply with rid 1, skipping any other. Prints the reply as
//  one line "COMMAND BODY-AS-JSON" (e.g. `ERROR {"code":6,"message":...}`)
//  and exits 0; exits 1 if no reply came, 2 on a usage error.
//
//  --id ID         the DEALER's routing id: successive runs with the same
//                  ID are the same peer to the broker (a fake node)
//  --no-reply      for a message that gets none (PROGRESS, STARTED):
//                  send it and exit 0
//  --then COMMAND  after the reply, print every message that comes (one
//                  line each) until one is COMMAND (e.g. HELLO, then the
//                  ASSIGN of a job submitted meanwhile); exit 1 if none
//                  within 10 s
#include "async_codec.h"
#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_pack_field (async_msg_t *msg, const char *field)
{
    const char *eq = strchr (field, '=');
    if (!eq || eq == field)
        return -1;
    size_t klen = (size_t) (eq - field);
    char kind = 's';
    if (field [klen - 1] == ':' || field [klen - 1] == '~') {
        kind = field [klen - 1];
        klen--;
    }
    if (klen == 0)
        return -1;
    char *key = strndup (field, klen);
    const char *value = eq + 1;
    int rc = 0;
    if (kind == 's')
        async_msg_str (msg, key, value);
    else
    if (kind == '~') {
        char *end;
        double number = strtod (value, &end);
        if (end == value || *end)
            rc = -1;
        else {
            async_msg_key (msg, key);
            msgpack_pack_double (&msg->packer, number);
        }
    }
    else {
        json_error_t error;
        json_t *json = json_loads (value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
        if (!json)
            rc = -1;
        else {
            async_msg_key (msg, key);
            rc = async_codec_pack_json (&msg->packer, json);
            json_decref (json);
        }
    }
    free (key);
    return rc;
}

//  Print a message as one line; its command in *command
static void
s_print (zmsg_t *zmsg, char *command, uint64_t *rid)
{
    zframe_t *body = zmsg_last (zmsg);
    async_inmsg_t in;
    const char *why;
    *command = 0;
    if (body && async_inmsg_parse (&in, zframe_data (body), zframe_size (body),
                                   &why) == 0) {
        json_t *json = async_codec_to_json (in.body);
        char *text = json ? json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY
                                              | JSON_SORT_KEYS) : NULL;
        printf ("%s %s\n", in.command, text ? text : "null");
        fflush (stdout);
        free (text);
        json_decref (json);
        strcpy (command, in.command);
        *rid = in.rid;
    }
    async_inmsg_destroy (&in);
}

int
main (int argc, char *argv [])
{
    const char *id = NULL, *then = NULL;
    bool no_reply = false;
    int first = 1;
    for (; first < argc && strncmp (argv [first], "--", 2) == 0; first++) {
        if (streq (argv [first], "--no-reply"))
            no_reply = true;
        else
        if (streq (argv [first], "--id") && first + 1 < argc)
            id = argv [++first];
        else
        if (streq (argv [first], "--then") && first + 1 < argc)
            then = argv [++first];
        else
            break;
    }
    argc -= first - 1;
    argv += first - 1;
    if (argc < 3) {
        fprintf (stderr, "usage: rawsend [--id ID] [--no-reply] [--then COMMAND] ENDPOINT "
                 "COMMAND [KEY=TEXT|KEY:=JSON|KEY~=NUMBER...]\n");
        return 2;
    }
    async_msg_t msg;
    async_msg_init_named (&msg, argv [2], 1);
    for (int i = 3; i < argc; i++)
        if (s_pack_field (&msg, argv [i])) {
            fprintf (stderr, "rawsend: '%s' is not KEY=TEXT, KEY:=JSON or KEY~=NUMBER\n",
                     argv [i]);
            async_msg_destroy (&msg);
            return 2;
        }
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (id)
        zsock_set_identity (dealer, id);
    if (zsock_connect (dealer, "%s", argv [1])) {
        fprintf (stderr, "rawsend: cannot connect to '%s'\n", argv [1]);
        zsock_destroy (&dealer);
        async_msg_destroy (&msg);
        return 2;
    }
    zsock_set_linger (dealer, no_reply ? 2000 : 0);
    zsock_set_rcvtimeo (dealer, 200);
    zframe_t *frame = zframe_new (msg.buffer.data, msg.buffer.size);
    async_msg_destroy (&msg);
    zframe_send (&frame, dealer, 0);
    if (no_reply) {
        zsock_destroy (&dealer);        //  lingers until the frame went out
        return 0;
    }
    int64_t deadline = zclock_mono () + 10000;
    bool replied = false, done = false;
    while (!done && zclock_mono () < deadline) {
        zmsg_t *zmsg = zmsg_recv (dealer);
        if (!zmsg)
            continue;
        char command [24];
        uint64_t rid = 0;
        if (!replied) {
            //  Only the reply, before it
            zframe_t *body = zmsg_last (zmsg);
            async_inmsg_t in;
            const char *why;
            bool ours = body && async_inmsg_parse (&in, zframe_data (body),
                                                   zframe_size (body), &why) == 0
                     && in.rid == 1;
            async_inmsg_destroy (&in);
            if (ours) {
                s_print (zmsg, command, &rid);
                replied = true;
                done = !then;
                deadline = zclock_mono () + 10000;
            }
        }
        else {
            s_print (zmsg, command, &rid);
            done = streq (command, then);
        }
        zmsg_destroy (&zmsg);
    }
    zsock_destroy (&dealer);
    if (!replied)
        fprintf (stderr, "rawsend: no reply from %s within 10 s\n", argv [1]);
    else
    if (!done)
        fprintf (stderr, "rawsend: no %s from %s within 10 s\n", then, argv [1]);
    return done ? 0 : 1;
}
