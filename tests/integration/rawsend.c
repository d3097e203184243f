//  rawsend - a test helper: send the broker one message with fields of any
//  msgpack type, including those asyncctl cannot express (a float NaN or
//  infinity, an int64 at its limit), and print the reply
//
//      rawsend ENDPOINT COMMAND [FIELD...]
//
//  FIELD is one of
//      KEY=TEXT        a string
//      KEY:=JSON       any JSON value, packed as the broker's codec does
//                      (9223372036854775807 is an int64, 1.5 a float64)
//      KEY~=NUMBER     a float64 parsed by strtod: inf, -inf, nan, 1e300
//
//  Connects a DEALER, sends [1, COMMAND, 1, {FIELD...}] and waits (at most
//  10 s) for the reply with rid 1, skipping any other. Prints the reply as
//  one line "COMMAND BODY-AS-JSON" (e.g. `ERROR {"code":6,"message":...}`)
//  and exits 0; exits 1 if no reply came, 2 on a usage error.
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
        json_t *json = json_loads (value, JSON_DECODE_ANY, &error);
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

int
main (int argc, char *argv [])
{
    if (argc < 3) {
        fprintf (stderr, "usage: rawsend ENDPOINT COMMAND [KEY=TEXT|KEY:=JSON|KEY~=NUMBER...]\n");
        return 2;
    }
    async_msg_t msg;
    async_msg_init (&msg, argv [2], 1, (uint32_t) (argc - 3));
    for (int i = 3; i < argc; i++)
        if (s_pack_field (&msg, argv [i])) {
            fprintf (stderr, "rawsend: '%s' is not KEY=TEXT, KEY:=JSON or KEY~=NUMBER\n",
                     argv [i]);
            async_msg_destroy (&msg);
            return 2;
        }
    zsock_t *dealer = zsock_new_dealer (argv [1]);
    if (!dealer) {
        fprintf (stderr, "rawsend: cannot connect to '%s'\n", argv [1]);
        async_msg_destroy (&msg);
        return 2;
    }
    zsock_set_linger (dealer, 0);
    zsock_set_rcvtimeo (dealer, 200);
    zframe_t *frame = zframe_new (msg.buffer.data, msg.buffer.size);
    async_msg_destroy (&msg);
    zframe_send (&frame, dealer, 0);
    int64_t deadline = zclock_mono () + 10000;
    int rc = 1;
    while (rc == 1 && zclock_mono () < deadline) {
        zmsg_t *reply = zmsg_recv (dealer);
        if (!reply)
            continue;
        zframe_t *body = zmsg_last (reply);
        async_inmsg_t in;
        const char *why;
        if (body && async_inmsg_parse (&in, zframe_data (body), zframe_size (body),
                                       &why) == 0) {
            if (in.rid == 1) {
                json_t *json = async_codec_to_json (in.body);
                char *text = json ? json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY
                                                      | JSON_SORT_KEYS) : NULL;
                printf ("%s %s\n", in.command, text ? text : "null");
                free (text);
                json_decref (json);
                rc = 0;
            }
            async_inmsg_destroy (&in);
        }
        zmsg_destroy (&reply);
    }
    zsock_destroy (&dealer);
    if (rc)
        fprintf (stderr, "rawsend: no reply from %s within 10 s\n", argv [1]);
    return rc;
}
