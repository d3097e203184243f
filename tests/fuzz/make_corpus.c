//  make_corpus - writes the seed corpus of fuzz_codec into DIR
//
//      make_corpus DIR
//
//  Each seed is a well-formed message of docs/protocol.md, made with the
//  library's own encoders (so the seeds follow the format as it changes),
//  plus job records (async_job_encode) and bare values. tests/fuzz/run.sh
//  runs it on every fuzz run; tests/fuzz/corpus/ holds its output as it was
//  when the corpus was committed, plus hand-made bytes.
#include "async_codec.h"
#include "async_job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_dir;
static int s_count;

static void
s_write (const char *name, const void *data, size_t size)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "wb");
    if (!file || fwrite (data, 1, size, file) != size) {
        fprintf (stderr, "make_corpus: cannot write %s\n", path);
        exit (1);
    }
    fclose (file);
    s_count++;
}

//  A message [1, command, rid, body] with the body given as JSON text
static void
s_message (const char *name, const char *command, uint64_t rid, const char *body_json)
{
    json_error_t error;
    json_t *body = json_loads (body_json, 0, &error);
    if (!body || !json_is_object (body)) {
        fprintf (stderr, "make_corpus: bad JSON for %s: %s\n", name, error.text);
        exit (1);
    }
    async_msg_t msg;
    async_msg_init_named (&msg, command, rid);
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        async_msg_key (&msg, key);
        if (async_codec_pack_json (&msg.packer, value)) {
            fprintf (stderr, "make_corpus: cannot pack %s\n", name);
            exit (1);
        }
    }
    s_write (name, msg.buffer.data, msg.buffer.size);
    async_msg_destroy (&msg);
    json_decref (body);
}

static void
s_value (const char *name, const char *json)
{
    json_t *value = json_loads (json, JSON_DECODE_ANY, NULL);
    uint8_t *data;
    size_t size;
    if (!value || async_codec_encode_json (value, &data, &size)) {
        fprintf (stderr, "make_corpus: bad value %s\n", name);
        exit (1);
    }
    s_write (name, data, size);
    free (data);
    json_decref (value);
}

static void
s_blob (async_blob_t *blob, const char *json)
{
    json_t *value = json_loads (json, JSON_DECODE_ANY, NULL);
    uint8_t *data;
    size_t size;
    if (!value || async_codec_encode_json (value, &data, &size))
        exit (1);
    async_blob_take (blob, data, size);
    json_decref (value);
}

int
main (int argc, char *argv [])
{
    if (argc != 2) {
        fprintf (stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    s_dir = argv [1];
    const char *id = "3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b";
    const char *uuid = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

    //  Client requests
    s_message ("submit_task", "SUBMIT", 7,
        "{\"spec\": {\"task\": \"testing.mul\", \"args\": [6, 7], \"kwargs\": {\"c\": 1},"
        " \"queue\": \"default\", \"priority\": -3, \"key\": \"k1\", \"retry\": "
        "\"attempts=3,backoff=1s..60s,factor=2,interruptions=2\", \"begin_after\": \"+30s\","
        " \"begin_by\": \"1m\", \"timeout\": 2.5, \"annotations\": {\"a\": [1, null]},"
        " \"callbacks\": [{\"on\": \"failure\", \"task\": \"testing.handle\"}]}}");
    s_message ("submit_parallel", "SUBMIT", 8,
        "{\"spec\": {\"parallel\": [{\"task\": \"pi.generate_sample\", \"args\": [1000]},"
        " {\"serial\": [{\"task\": \"testing.noop\"}, {\"task\": \"testing.ret\", "
        "\"args\": [{\"$bin\": \"AAEC\"}]}]}], \"postprocess\": {\"task\": "
        "\"pi.process_samples\"}}}");
    s_message ("wait", "WAIT", 18446744073709551615ULL, "{\"id\": \"3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b\"}");
    s_message ("list", "LIST", 300, "{\"status\": [\"pending\", \"failed\"], \"queue\": \"q\","
               " \"task\": \"pi.*\", \"limit\": -1, \"since\": 1.5}");
    s_message ("status", "STATUS", 1, "{}");
    s_message ("annotate", "ANNOTATE", 2, "{\"id\": \"3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b\","
               " \"name\": \"reply\", \"value\": {\"x\": [true, false, 1.25e300]}}");
    //  Node messages
    s_message ("hello", "HELLO", 1,
        "{\"uuid\": \"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\", \"session\": "
        "\"0a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\", \"host\": \"h\", \"pid\": 4242,"
        " \"agents\": [{\"name\": \"main\", \"size\": 3, \"queues\": [\"default\"],"
        " \"include\": [\"pi.*\"], \"exclude\": [\"pi.bad\"]}],"
        " \"tasks\": [\"time.time\", \"testing.noop\"],"
        " \"held\": [{\"id\": \"3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b\", \"token\": 4294967297,"
        " \"agent\": \"main\"}]}");
    s_message ("ping_node", "PING", 0, "{\"node\": 1}");
    s_message ("result", "RESULT", 5, "{\"id\": \"3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b\","
               " \"token\": 4294967297, \"result\": [785398, 1000000, -1, 0.5, \"s\", null]}");
    s_message ("result_failure", "RESULT", 6, "{\"id\": \"3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b\","
               " \"token\": 1, \"failure\": {\"type\": \"ValueError\", \"message\": \"m\","
               " \"detail\": \"line 1\\nline 2\", \"transient\": true}}");
    s_message ("assign", "ASSIGN", 0, "{\"id\": \"3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b\","
               " \"token\": 8589934593, \"task\": \"testing.sleep\", \"args\": [0.1],"
               " \"kwargs\": {}, \"agent\": \"main\", \"attempt\": 2, \"timeout_ms\": 0}");
    s_message ("ack", "ACK", 5, "{\"id\": \"3f2b8f9e-5d1c-4c3a-9b7e-2a6d8e4f1c0b\", "
               "\"rejected\": 1}");
    s_message ("error", "ERROR", 9, "{\"code\": 6, \"message\": \"unknown command\"}");

    //  A job record, bare and inside a JOB reply
    async_job_t *job = async_job_new ();
    memcpy (job->id, id, 37);
    job->task = strdup ("testing.mul");
    job->queue = strdup ("default");
    job->status = ASYNC_COMPLETED;
    job->kind = ASYNC_KIND_TASK;
    job->role = ASYNC_ROLE_CALLBACK;
    job->priority = -5;
    job->submitted = 1795730400000000LL;
    job->begin_after = job->submitted;
    job->active_start = job->submitted + 1000;
    job->active_end = job->submitted + 2000;
    job->completed_at = job->submitted + 3000;
    job->attempts = 2;
    job->interruptions = 1;
    job->token = 4294967297ULL;
    memcpy (job->node, uuid, 37);
    job->agent = strdup ("main");
    job->retry = strdup ("never");
    job->key = strdup ("key-1");
    memcpy (job->parent, uuid, 37);
    s_blob (&job->args, "[6, 7]");
    s_blob (&job->kwargs, "{\"c\": 1}");
    s_blob (&job->result, "42");
    s_blob (&job->quotas, "[\"q1\"]");
    s_blob (&job->annotations, "{\"note\": \"x\"}");
    s_blob (&job->progress, "{\"done\": 1, \"total\": 2}");
    async_job_add_child (job, uuid);
    async_job_add_callback (job, uuid);
    uint8_t *data;
    size_t size;
    if (async_job_encode (job, &data, &size))
        return 1;
    s_write ("job_record", data, size);
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_S_JOB, 3);
    async_msg_raw (&msg, "job", data, size);
    s_write ("job_reply", msg.buffer.data, msg.buffer.size);
    async_msg_destroy (&msg);
    free (data);
    async_job_destroy (&job);

    //  Bare values
    s_value ("value_nested", "{\"a\": [1, [2, [3, {\"b\": null}]]], \"c\": -9223372036854775808}");
    s_value ("value_bin", "{\"$bin\": \"3q2+7w==\"}");
    s_value ("value_string", "\"\\u00e9t\\u00e9 \\ud83d\\ude00\"");
    printf ("make_corpus: %d seeds in %s\n", s_count, s_dir);
    return 0;
}
