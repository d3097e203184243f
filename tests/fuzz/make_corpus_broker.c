//  make_corpus_broker - write the seeds of fuzz_broker: every command of
//  docs/protocol.md with valid bodies, as conversations (fuzz_broker.h)
//
//      make_corpus_broker DIR
//
//  Each seed is a list of steps (peer, command, body as JSON). In a body,
//  these strings stand for what JSON cannot say or the broker decides:
//      "$ASSIGNED", "$ACCEPTED"    the id placeholders of fuzz_broker.h
//      "$TOKEN"                    the token placeholder (a uint64)
//      "$F:TEXT"                   a float64 strtod reads from TEXT (inf, nan)
//  Integers keep their JSON value (9223372036854775807 is an int64).
#include "fuzz_broker.h"
#include "async_codec.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int peer;
    const char *command;
    const char *body;
} s_step_t;

typedef struct {
    const char *name;
    s_step_t steps [12];
} s_seed_t;

#define C1 FUZZ_C1
#define C2 FUZZ_C2
#define N1 FUZZ_N1
#define N2 FUZZ_N2

//  The uuid keys of the nodes below (HELLO uuid_key)
#define S_KEY1 \
    "\"uuid_key\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", "
#define S_KEY2 \
    "\"uuid_key\": \"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\", "

//  A node's greeting with one agent that takes fuzz.* tasks
#define S_HELLO(extra) \
    "{\"uuid\": \"6f1c2a7e-5b4d-4c3e-9a8b-7c6d5e4f3a2b\", " S_KEY1 \
    "\"session\": \"0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a\", \"host\": \"fuzz\", " \
    "\"pid\": 4242, \"tasks\": [\"fuzz.task\", \"fuzz.cb\", \"fuzz.post\"], " \
    "\"agents\": [{\"name\": \"main\", \"size\": 4, \"queues\": [\"default\", \"q\"], " \
    "\"include\": [\"fuzz.*\"], \"exclude\": [\"fuzz.never\"], " \
    "\"isolation\": \"thread\"}]" extra "}"

//  The table as written: one seed a block, one message a line
// clang-format off
static const s_seed_t s_seeds [] = {
    { "ping", {
        { C1, "PING", "{}" },
        { N1, "PING", "{\"node\": 1}" } } },
    { "status_nodes_lists", {
        { C1, "STATUS", "{}" },
        { C2, "NODES", "{}" },
        { C1, "QUOTA-LIST", "{}" },
        { C1, "EVERY-LIST", "{}" } } },
    { "submit_every_option", {
        { C1, "QUOTA-SET", "{\"name\": \"q1\", \"size\": 2}" },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\", "
          "\"args\": [1, \"a\", {\"k\": [1.5, null, true]}], \"kwargs\": {\"x\": 1}, "
          "\"queue\": \"q\", \"priority\": 5, \"begin_after\": \"+0s\", "
          "\"begin_by\": \"30s\", \"timeout\": 10, "
          "\"retry\": \"attempts=3,backoff=1s..60s,factor=2,interruptions=2\", "
          "\"quotas\": [\"q1\"], \"key\": \"k1\", \"annotations\": {\"a\": 1}, "
          "\"callbacks\": [{\"task\": \"fuzz.cb\", \"on\": \"failure\"}, "
          "{\"task\": \"fuzz.cb\", \"on\": \"success\", \"args\": [2]}, "
          "{\"task\": \"fuzz.cb\"}]}}" },
        { C2, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\", \"key\": \"k1\"}}" } } },
    { "submit_tree_and_times", {
        { C1, "SUBMIT", "{\"spec\": {\"parallel\": [{\"task\": \"fuzz.task\"}, "
          "{\"serial\": [{\"task\": \"fuzz.task\", \"args\": [1]}, "
          "{\"task\": \"fuzz.task\", \"args\": [2]}]}], "
          "\"postprocess\": {\"task\": \"fuzz.post\"}, \"begin_after\": 1900000000.5, "
          "\"begin_by\": 3600.25, \"retry\": \"default\"}}" },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\", "
          "\"begin_after\": \"2026-11-26T22:00:00.5+01:00\", \"retry\": \"forever\", "
          "\"timeout\": \"1.5h\"}}" },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\", \"begin_after\": \"now\", "
          "\"retry\": \"never\", \"priority\": -1000000000}}" } } },
    { "submit_batch_wait_brief", {
        { C1, "SUBMIT", "{\"specs\": [{\"task\": \"fuzz.task\"}, "
          "{\"task\": \"bad name\"}, {\"task\": \"fuzz.task\", \"args\": [3]}], "
          "\"wait\": true, \"brief\": true}" },
        { C2, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\"}, \"wait\": true}" } } },
    { "client_job_ops", {
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.never\", \"args\": [7]}}" },
        { C1, "WAIT", "{\"id\": \"$ACCEPTED\"}" },
        { C2, "GET", "{\"id\": \"$ACCEPTED\"}" },
        { C1, "ANNOTATE", "{\"id\": \"$ACCEPTED\", \"name\": \"note\", "
          "\"value\": {\"x\": [1, 2]}}" },
        { C1, "ADD-CALLBACK", "{\"id\": \"$ACCEPTED\", \"on\": \"always\", "
          "\"spec\": {\"task\": \"fuzz.cb\", \"args\": [1]}}" },
        { C1, "CANCEL", "{\"id\": \"$ACCEPTED\"}" },
        { C1, "CANCEL", "{\"id\": \"$ACCEPTED\"}" },
        { C2, "GET", "{\"id\": \"$ACCEPTED\"}" },
        { C1, "WAIT", "{\"id\": \"00000000-0000-0000-0000-000000000000\"}" } } },
    { "list_count", {
        { C1, "LIST", "{\"status\": [\"pending\", \"assigned\", \"active\", \"callbacks\", "
          "\"completed\"], \"queue\": \"default\", \"task\": \"fuzz.*\", "
          "\"node\": \"6f1c2a7e-5b4d-4c3e-9a8b-7c6d5e4f3a2b\", \"limit\": 5, "
          "\"since\": 3600}" },
        { C1, "COUNT", "{\"status\": [\"succeeded\", \"failed\"], \"since\": \"$F:1.5\"}" },
        { C2, "LIST", "{\"limit\": 0}" },
        { C2, "COUNT", "{}" } } },
    { "quota_set_delete", {
        { C1, "QUOTA-SET", "{\"name\": \"q2\", \"size\": 1000000000}" },
        { C1, "QUOTA-LIST", "{}" },
        { C1, "QUOTA-DELETE", "{\"name\": \"q2\"}" },
        { C1, "QUOTA-DELETE", "{\"name\": \"q2\"}" } } },
    { "every_set_delete", {
        { C1, "EVERY-SET", "{\"name\": \"tick\", \"interval_ms\": 1000, "
          "\"spec\": {\"task\": \"fuzz.task\", \"args\": [1]}}" },
        { C1, "EVERY-LIST", "{}" },
        { C1, "EVERY-DELETE", "{\"name\": \"tick\"}" } } },
    { "every_set_cron", {
        { C1, "EVERY-SET", "{\"name\": \"cron\", \"cron\": \"*/5 9-17 * jan-jun mon-fri\", "
          "\"tz\": \"+05:30\", \"spec\": {\"task\": \"fuzz.task\"}}" },
        { C1, "EVERY-SET", "{\"name\": \"bad\", \"cron\": \"* * 30 feb *\", "
          "\"spec\": {\"task\": \"fuzz.task\"}}" },
        { C1, "EVERY-LIST", "{}" },
        { C1, "EVERY-DELETE", "{\"name\": \"cron\"}" } } },
    { "node_result", {
        { N1, "HELLO", S_HELLO ("") },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\", \"args\": [2]}}" },
        { C1, "WAIT", "{\"id\": \"$ACCEPTED\"}" },
        { N1, "STARTED", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\"}" },
        { N1, "PROGRESS", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", "
          "\"progress\": {\"done\": 1, \"total\": 2}}" },
        { N1, "RESULT", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", \"result\": 42}" },
        { N1, "PING", "{\"node\": 1}" },
        { N1, "BYE", "{}" } } },
    { "node_failure_retry", {
        { N1, "HELLO", S_HELLO ("") },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\", "
          "\"retry\": \"attempts=2,backoff=0s\"}}" },
        { N1, "RESULT", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", \"ran_us\": 1500, "
          "\"failure\": {\"type\": \"OSError\", \"message\": \"m\", \"detail\": \"d\", "
          "\"transient\": true}}" },
        { N1, "RESULT", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", "
          "\"failure\": {\"type\": \"ValueError\", \"message\": \"no\", "
          "\"transient\": false}}" } } },
    { "node_batch_acks", {
        { N1, "HELLO", S_HELLO (", \"batch\": 1, \"acks\": 1") },
        { C1, "SUBMIT", "{\"specs\": [{\"task\": \"fuzz.task\"}, {\"task\": \"fuzz.task\"}]}" },
        { N1, "RESULT", "{\"results\": [{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", "
          "\"result\": [1, 2], \"ran_us\": 10}, {\"id\": \"$ASSIGNED\", "
          "\"token\": \"$TOKEN\", \"result\": null}]}" } } },
    { "node_handoff", {
        { N1, "HELLO", S_HELLO ("") },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\"}}" },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"other.task\"}}" },
        { N1, "RESULT", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", "
          "\"handoff\": \"$ACCEPTED\"}" },
        { C1, "CANCEL", "{\"id\": \"$ACCEPTED\"}" } } },
    { "node_rehello_held_superseded", {
        { N1, "HELLO", S_HELLO ("") },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\", \"timeout\": 0.001}}" },
        { N1, "HELLO", "{\"uuid\": \"6f1c2a7e-5b4d-4c3e-9a8b-7c6d5e4f3a2b\", " S_KEY1
          "\"session\": \"1d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a\", "
          "\"agents\": [{\"name\": \"main\", \"size\": 1}], \"tasks\": [\"fuzz.task\"], "
          "\"held\": [{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", \"agent\": \"main\"}]}" },
        { N2, "HELLO", "{\"uuid\": \"6f1c2a7e-5b4d-4c3e-9a8b-7c6d5e4f3a2b\", " S_KEY1
          "\"session\": \"2d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a\", "
          "\"agents\": [{\"name\": \"other\", \"size\": 100000}], "
          "\"held\": [{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", \"agent\": \"x\"}]}" },
        { N1, "RESULT", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", \"result\": 1}" },
        { N2, "BYE", "{}" } } },
    { "node_cancel_running", {
        { N2, "HELLO", "{\"uuid\": \"7f1c2a7e-5b4d-4c3e-9a8b-7c6d5e4f3a2b\", " S_KEY2
          "\"session\": \"3d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a\", "
          "\"agents\": [{\"name\": \"a\", \"size\": 1}], \"tasks\": [\"fuzz.task\"]}" },
        { C1, "SUBMIT", "{\"spec\": {\"task\": \"fuzz.task\"}}" },
        { N2, "STARTED", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\"}" },
        { C2, "CANCEL", "{\"id\": \"$ASSIGNED\"}" },
        { N2, "RESULT", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", "
          "\"failure\": {\"type\": \"CancelledError\", \"transient\": true}}" } } },
    { "node_without_session", {
        { N2, "RESULT", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", \"result\": 1}" },
        { N2, "STARTED", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\"}" },
        { N2, "PROGRESS", "{\"id\": \"$ASSIGNED\", \"token\": \"$TOKEN\", \"progress\": 1}" },
        { N2, "BYE", "{}" } } },
    //  The two inputs that killed the sanitized broker (tests/fuzz/README.md)
    { "regress_since_inf", {
        { C1, "COUNT", "{\"status\": [\"completed\"], \"since\": \"$F:inf\"}" },
        { C1, "LIST", "{\"since\": \"$F:1e300\"}" },
        { C2, "COUNT", "{\"since\": \"$F:nan\"}" } } },
    { "regress_every_interval_max", {
        { C1, "EVERY-SET", "{\"name\": \"x\", \"interval_ms\": 9223372036854775807, "
          "\"spec\": {\"task\": \"fuzz.task\"}}" } } },
};
// clang-format on

static int
s_pack (msgpack_packer *pk, json_t *value)
{
    if (json_is_object (value)) {
        msgpack_pack_map (pk, json_object_size (value));
        const char *key;
        json_t *member;
        json_object_foreach (value, key, member) {
            async_codec_pack_str (pk, key);
            if (s_pack (pk, member))
                return -1;
        }
        return 0;
    }
    if (json_is_array (value)) {
        msgpack_pack_array (pk, json_array_size (value));
        size_t index;
        json_t *member;
        json_array_foreach (value, index, member)
            if (s_pack (pk, member))
                return -1;
        return 0;
    }
    if (json_is_string (value)) {
        const char *text = json_string_value (value);
        if (strcmp (text, "$ASSIGNED") == 0)
            async_codec_pack_str (pk, FUZZ_ID_ASSIGNED);
        else
        if (strcmp (text, "$ACCEPTED") == 0)
            async_codec_pack_str (pk, FUZZ_ID_ACCEPTED);
        else
        if (strcmp (text, "$TOKEN") == 0)
            msgpack_pack_uint64 (pk, FUZZ_TOKEN_VALUE);
        else
        if (strncmp (text, "$F:", 3) == 0)
            msgpack_pack_double (pk, strtod (text + 3, NULL));
        else
            async_codec_pack_str (pk, text);
        return 0;
    }
    return async_codec_pack_json (pk, value);
}

int
main (int argc, char *argv [])
{
    if (argc != 2) {
        fprintf (stderr, "usage: make_corpus_broker DIR\n");
        return 2;
    }
    for (size_t s = 0; s < sizeof s_seeds / sizeof s_seeds [0]; s++) {
        const s_seed_t *seed = &s_seeds [s];
        char path [4096];
        snprintf (path, sizeof path, "%s/gen_%s", argv [1], seed->name);
        FILE *file = fopen (path, "wb");
        if (!file) {
            perror (path);
            return 1;
        }
        for (const s_step_t *step = seed->steps; step->command; step++) {
            json_error_t error;
            json_t *body = json_loads (step->body, 0, &error);
            if (!body) {
                fprintf (stderr, "make_corpus_broker: %s: bad JSON (%s): %s\n",
                         seed->name, error.text, step->body);
                return 1;
            }
            async_msg_t msg;
            async_msg_init_named (&msg, step->command, (uint64_t) (step - seed->steps) + 1);
            const char *key;
            json_t *member;
            int rc = 0;
            json_object_foreach (body, key, member) {
                async_msg_key (&msg, key);
                rc |= s_pack (&msg.packer, member);
            }
            json_decref (body);
            if (rc || msg.buffer.size > 0xffff) {
                fprintf (stderr, "make_corpus_broker: %s: cannot pack %s\n",
                         seed->name, step->command);
                return 1;
            }
            uint8_t head [3] = { (uint8_t) step->peer, (uint8_t) (msg.buffer.size >> 8),
                                 (uint8_t) msg.buffer.size };
            fwrite (head, 1, 3, file);
            fwrite (msg.buffer.data, 1, msg.buffer.size, file);
            async_msg_destroy (&msg);
        }
        if (fclose (file)) {
            perror (path);
            return 1;
        }
    }
    return 0;
}
