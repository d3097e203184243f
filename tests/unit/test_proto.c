//  test_proto - the protocol's command table (libcore/src/async_proto.h)
//  and docs/protocol.md name the same messages, and a message counts its
//  own body fields
#include "async_proto.h"
#include "handler.h"
#include "async_msgs.h"
#include "async_codec.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ASYNC_SOURCE_DIR
#   error "ASYNC_SOURCE_DIR: the source tree, set by tests/CMakeLists.txt"
#endif

//  docs/protocol.md, whole (NUL-terminated; caller frees)
static char *
s_protocol_doc (void)
{
    FILE *file = fopen (ASYNC_SOURCE_DIR "/docs/protocol.md", "r");
    assert_non_null (file);
    static char buffer [1 << 20];
    size_t size = fread (buffer, 1, sizeof buffer - 1, file);
    fclose (file);
    assert_true (size > 0 && size < sizeof buffer - 1);
    buffer [size] = 0;
    return strdup (buffer);
}

//  The text between `from` and `to` (both must be there; caller frees)
static char *
s_section (const char *doc, const char *from, const char *to)
{
    const char *start = strstr (doc, from);
    assert_non_null (start);
    const char *end = strstr (start, to);
    assert_non_null (end);
    return strndup (start, (size_t) (end - start));
}

//  Parse a message just made: it must be well-formed
static void
s_parse (const async_msg_t *msg, async_inmsg_t *in)
{
    const char *why = NULL;
    assert_int_equal (async_inmsg_parse (in, msg->buffer.data, msg->buffer.size, &why), 0);
}

//  The row with this wire form: "C:NAME" to the broker, "S:NAME" from it
static const async_proto_t *
s_row_of (const char *token)
{
    return async_proto_find (token + 2, token [0] == 'C');
}

//  Rows to the broker come first, as async_proto_find expects, and each
//  row is found by its own name and direction, and by no other row
static void
test_table_is_consistent (void **state)
{
    (void) state;
    for (int id = 0; id < ASYNC_COMMANDS; id++) {
        const async_proto_t *row = async_proto_row ((async_command_t) id);
        assert_int_equal (row->id, id);
        bool to_broker = row->sender != ASYNC_SENDER_BROKER;
        assert_int_equal (to_broker, id < ASYNC_S_ACCEPTED);
        assert_ptr_equal (async_proto_find (row->name, to_broker), row);
        assert_true (strlen (row->name) < 16);     //  a node forwards < 16
        if (!to_broker)
            assert_int_equal (row->flags, 0);      //  flags say what the
    }                                              //  broker does with it
    assert_null (async_proto_find ("NOPE", true));
    assert_null (async_proto_find ("ASSIGN", true));
    assert_null (async_proto_find ("SUBMIT", false));
    assert_string_equal (async_proto_name (ASYNC_C_ADD_CALLBACK), "ADD-CALLBACK");
    //  The same name both ways is two rows
    assert_ptr_not_equal (async_proto_find ("PROGRESS", true),
                          async_proto_find ("PROGRESS", false));
}

//  Every C:X and S:X of the grammar (section 3) is a row, and every row
//  is in the grammar
static void
test_grammar_and_table_agree (void **state)
{
    (void) state;
    char *doc = s_protocol_doc ();
    char *section = s_section (doc, "## 3. Grammar", "## 4.");
    char *grammar = s_section (section, "```\n", "\n```");
    bool seen [ASYNC_COMMANDS] = { false };
    size_t tokens = 0;
    for (const char *at = grammar; (at = strpbrk (at, "CS")); at++) {
        if (at [1] != ':' || at [2] < 'A' || at [2] > 'Z'
        ||  (at > grammar && (at [-1] == '-' || (at [-1] >= 'A' && at [-1] <= 'Z'))))
            continue;
        char token [32];
        size_t length = strspn (at + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-");
        assert_true (length < sizeof token - 2);
        snprintf (token, sizeof token, "%.*s", (int) length + 2, at);
        const async_proto_t *row = s_row_of (token);
        if (!row)
            fail_msg ("docs/protocol.md's grammar has %s; the table has not", token);
        seen [row->id] = true;
        tokens++;
    }
    assert_true (tokens > ASYNC_COMMANDS);
    for (int id = 0; id < ASYNC_COMMANDS; id++)
        if (!seen [id]) {
            const async_proto_t *row = async_proto_row ((async_command_t) id);
            fail_msg ("the table has %s:%s; docs/protocol.md's grammar has not",
                      row->sender == ASYNC_SENDER_BROKER ? "S" : "C", row->name);
        }
    free (grammar);
    free (section);
    free (doc);
}

//  Every row has its section: a heading "### ... NAME (C→S)" or (S→C)
static void
test_every_command_is_described (void **state)
{
    (void) state;
    char *doc = s_protocol_doc ();
    for (int id = 0; id < ASYNC_COMMANDS; id++) {
        const async_proto_t *row = async_proto_row ((async_command_t) id);
        char want [48];
        snprintf (want, sizeof want, "%s (%s)", row->name,
                  row->sender == ASYNC_SENDER_BROKER ? "S→C" : "C→S");
        bool found = false;
        for (const char *line = doc; line && !found; line = strchr (line, '\n')) {
            line += *line == '\n';
            if (strncmp (line, "### ", 4))
                continue;
            const char *end = strchr (line, '\n');
            char *heading = strndup (line, end ? (size_t) (end - line) : strlen (line));
            const char *hit = strstr (heading, want);
            //  a whole name: "PING (C→S)" is not found in "XPING (C→S)"
            found = hit && (hit == heading + 4 || hit [-1] == ' ');
            free (heading);
        }
        if (!found)
            fail_msg ("docs/protocol.md has no heading for %s", want);
    }
    free (doc);
}

//  A typed command (async_msgs.h) has the fields of its section's tables
//  in docs/protocol.md ("| `field` | ..." rows), no more and no fewer: a
//  request those of its first table, a reply those of each of its shapes,
//  in order
static void
test_typed_messages_match_the_docs (void **state)
{
    (void) state;
    char *doc = s_protocol_doc ();
    int typed = 0;
    for (int id = 0; id < ASYNC_COMMANDS; id++) {
        if (!async_msgs_fields ((async_command_t) id))
            continue;
        typed++;
        char fields [512] = "";
        const char *shape;
        for (int n = 0; (shape = async_msgs_shape ((async_command_t) id, n)); n++) {
            size_t used = strlen (fields);
            snprintf (fields + used, sizeof fields - used, "%s%s", used && *shape ? " " : "",
                      shape);
        }
        assert_string_equal (async_msgs_shape ((async_command_t) id, 0),
                             async_msgs_fields ((async_command_t) id));
        const async_proto_t *row = async_proto_row ((async_command_t) id);
        char want [48];
        snprintf (want, sizeof want, " %s (%s)", row->name,
                  row->sender == ASYNC_SENDER_BROKER ? "S→C" : "C→S");
        //  The section: from its heading to the next heading
        const char *section = NULL;
        for (const char *line = doc; line && !section; line = strchr (line, '\n')) {
            line += *line == '\n';
            const char *end = strchr (line, '\n');
            if (strncmp (line, "### ", 4) == 0 && end) {
                const char *hit = strstr (line, want);
                if (hit && hit < end)
                    section = end;
            }
        }
        if (!section)
            fail_msg ("docs/protocol.md has no section for %s", want);
        const char *next = strstr (section, "\n#");
        size_t length = next ? (size_t) (next - section) : strlen (section);
        char *text = strndup (section, length);
        //  Its fields, in order, as "id token": a request's first table
        //  ("| field |": not a spec's keys, nor the entries of an array
        //  below it), a reply's tables
        bool request = id < ASYNC_S_ACCEPTED;
        char documented [512] = "";
        const char *table = request ? strstr (text, "\n| field |") : text;
        const char *after = request && table ? strstr (table + 1, "\n\n") : NULL;
        for (const char *line = table; line && (!after || line < after);
             line = strchr (line, '\n')) {
            line += *line == '\n';
            if (strncmp (line, "| `", 3))
                continue;
            const char *end = strchr (line + 3, '`');
            if (!end)
                continue;
            size_t used = strlen (documented);
            snprintf (documented + used, sizeof documented - used, "%s%.*s", used ? " " : "",
                      (int) (end - line - 3), line + 3);
        }
        free (text);
        if (strcmp (documented, fields))
            fail_msg ("%s: docs/protocol.md documents the fields '%s', async_msgs.h has '%s'",
                      want + 1, documented, fields);
    }
    assert_true (typed >= 30);
    //  Every reply and push of the broker is typed
    for (int id = ASYNC_S_ACCEPTED; id < ASYNC_COMMANDS; id++)
        if (!async_msgs_fields ((async_command_t) id))
            fail_msg ("S:%s has no typed body in async_msgs.h",
                      async_proto_name ((async_command_t) id));
    free (doc);
}

//  Every command to the broker has a typed body
static void
test_every_request_is_typed (void **state)
{
    (void) state;
    for (int id = 0; id < ASYNC_COMMANDS; id++) {
        const async_proto_t *row = async_proto_row ((async_command_t) id);
        if (row->sender != ASYNC_SENDER_BROKER && !async_msgs_fields ((async_command_t) id))
            fail_msg ("C:%s is not typed: give it a row in async_msgs.h", row->name);
    }
}

//  A typed message goes out and comes back field for field; a decoder
//  refuses another command, a missing field and an id that is not one
static void
test_typed_messages_round_trip (void **state)
{
    (void) state;
    async_job_token_t cancel = { .token = UINT64_MAX };
    memcpy (cancel.id, "0190a3c8-5b1c-7d2e-8f00-0123456789ab", ASYNC_ID_LEN);
    async_msg_t msg;
    async_job_token_encode (&msg, ASYNC_S_CANCEL, 0, &cancel);
    async_inmsg_t in;
    s_parse (&msg, &in);
    async_job_token_t back;
    assert_int_equal (async_job_token_decode (&back, &in), 0);
    assert_string_equal (back.id, cancel.id);
    assert_true (back.token == UINT64_MAX);
    async_job_progress_t other;
    assert_int_equal (async_job_progress_decode (&other, &in), -1);     //  another command
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    async_job_progress_t progress = { .done = -3, .total = INT64_MAX };
    memcpy (progress.id, cancel.id, ASYNC_ID_LEN);
    async_job_progress_encode (&msg, ASYNC_S_PROGRESS, 0, &progress);
    s_parse (&msg, &in);
    async_job_progress_t pback;
    assert_int_equal (async_job_progress_decode (&pback, &in), 0);
    assert_true (pback.done == -3 && pback.total == INT64_MAX);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  No token; then an id that is not a uuid
    async_msg_init (&msg, ASYNC_S_CANCEL, 0);
    async_msg_str (&msg, "id", cancel.id);
    s_parse (&msg, &in);
    assert_int_equal (async_job_token_decode (&back, &in), -1);
    assert_string_equal (back.id, "");
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_msg_init (&msg, ASYNC_S_CANCEL, 0);
    async_msg_str (&msg, "id", "../../etc/passwd");
    async_msg_int (&msg, "token", 1);
    s_parse (&msg, &in);
    assert_int_equal (async_job_token_decode (&back, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    //  CANCEL from a client is a job_ref, from the broker a job_token
    async_job_ref_t ref;
    memcpy (ref.id, cancel.id, ASYNC_ID_LEN);
    async_job_ref_encode (&msg, ASYNC_C_CANCEL, 7, &ref);
    s_parse (&msg, &in);
    async_job_ref_t rback;
    assert_int_equal (async_job_ref_decode (&rback, &in), 0);
    assert_string_equal (rback.id, ref.id);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
}

//  A str field goes out and comes back borrowed, an optional field only
//  when present; an empty str, a missing required field, a wrong type and
//  a NUL byte in a str are told apart
static void
test_typed_strings_and_options (void **state)
{
    (void) state;
    async_error_t error = { .code = 6, .message = async_str ("no such job") };
    async_msg_t msg;
    async_error_encode (&msg, ASYNC_S_ERROR, 9, &error);
    async_inmsg_t in;
    s_parse (&msg, &in);
    async_error_t back;
    assert_int_equal (async_error_decode (&back, &in), 0);
    assert_int_equal (back.code, 6);
    assert_true (async_str_eq (back.message, "no such job"));
    assert_false (async_str_eq (back.message, "no such jobs"));
    //  Borrowed: it points into the message
    assert_true (back.message.data > (const char *) msg.buffer.data
                 && back.message.data < (const char *) msg.buffer.data + msg.buffer.size);
    assert_false (back.has_reason);
    char text [12];
    assert_int_equal (async_str_copy (back.message, text, sizeof text), 0);
    assert_string_equal (text, "no such job");
    assert_int_equal (async_str_copy (back.message, text, 11), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    error.has_reason = true;
    error.reason = async_str ("uuid_in_use");
    error.message = async_str ("");
    async_error_encode (&msg, ASYNC_S_ERROR, 9, &error);
    s_parse (&msg, &in);
    assert_int_equal (in.body->via.map.size, 3);
    assert_int_equal (async_error_decode (&back, &in), 0);
    assert_true (back.has_reason && async_str_eq (back.reason, "uuid_in_use"));
    assert_non_null (back.message.data);
    assert_int_equal (back.message.size, 0);
    assert_true (async_str_eq (back.message, ""));
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  An optional field of the wrong type, a NUL in a str, a missing one
    async_msg_init (&msg, ASYNC_S_ERROR, 0);
    async_msg_int (&msg, "code", 6);
    async_msg_str (&msg, "message", "x");
    async_msg_int (&msg, "reason", 1);
    s_parse (&msg, &in);
    assert_int_equal (async_error_decode (&back, &in), -1);
    assert_int_equal (back.code, 0);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_msg_init (&msg, ASYNC_S_ERROR, 0);
    async_msg_int (&msg, "code", 6);
    const char nul [] = { (char) 0xa3, 'a', 0, 'b' };  //  "a\0b"
    async_msg_raw (&msg, "message", nul, sizeof nul);
    s_parse (&msg, &in);
    assert_int_equal (async_error_decode (&back, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_msg_init (&msg, ASYNC_S_ERROR, 0);
    async_msg_int (&msg, "code", 6);
    s_parse (&msg, &in);
    assert_int_equal (async_error_decode (&back, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  PING: `node` or none; an ACK's entry read from a map alone
    async_ping_t ping = { .has_node = true, .node = 1 };
    async_ping_encode (&msg, ASYNC_C_PING, 0, &ping);
    s_parse (&msg, &in);
    async_ping_t pback;
    assert_int_equal (async_ping_decode (&pback, &in), 0);
    assert_true (pback.has_node && pback.node == 1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_ping_encode (&msg, ASYNC_C_PING, 0, &(async_ping_t){ .has_node = false });
    s_parse (&msg, &in);
    assert_int_equal (in.body->via.map.size, 0);
    assert_int_equal (async_ping_decode (&pback, &in), 0);
    assert_false (pback.has_node);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_ack_t ack = { .id = async_str (""), .rejected = 1 };
    async_ack_encode (&msg, ASYNC_S_ACK, 0, &ack);
    s_parse (&msg, &in);
    async_ack_t aback;
    assert_int_equal (async_ack_decode_map (&aback, in.body), 0);
    assert_true (aback.id.size == 0 && aback.rejected == 1);
    assert_int_equal (async_ack_decode_map (&aback, NULL), -1);
    assert_int_equal (async_welcome_decode (&(async_welcome_t){ 0 }, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  An empty body
    async_empty_encode (&msg, ASYNC_S_REHELLO, 4);
    s_parse (&msg, &in);
    assert_true (async_inmsg_is (&in, ASYNC_S_REHELLO) && in.rid == 4);
    assert_int_equal (in.body->via.map.size, 0);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    assert_string_equal (async_msgs_fields (ASYNC_S_OK), "");
    assert_string_equal (async_msgs_fields (ASYNC_S_ERROR), "code message reason");
    assert_string_equal (async_msgs_fields (ASYNC_C_LIST),
                         "status queue task node parent limit since cursor by_status");
}

//  ASSIGN's values go as they are and come back as objects in the
//  message; a batch packs entries as maps alone, its reader skips what is
//  no map and stops at its limit, counting the entries past it
static void
test_typed_batches (void **state)
{
    (void) state;
    const char id [] = "0190a3c8-5b1c-7d2e-8f00-0123456789ab";
    const uint8_t args [] = { 0x92, 0x01, 0xa1, 'x' };  //  [1, "x"]
    async_assign_t assign = { .token = 7,
                              .task = async_str ("testing.mul"),
                              .args = { .data = args, .size = sizeof args },
                              .has_attempt = true,
                              .attempt = 2 };
    memcpy (assign.id, id, ASYNC_ID_LEN);
    async_msg_t msg;
    async_assign_encode (&msg, ASYNC_S_ASSIGN, 0, &assign);
    async_inmsg_t in;
    s_parse (&msg, &in);
    //  id token task args kwargs attempt: no proof, agent, timeout_ms
    assert_int_equal (in.body->via.map.size, 6);
    async_assign_t back;
    assert_int_equal (async_assign_decode (&back, &in), 0);
    assert_string_equal (back.id, id);
    assert_true (back.token == 7 && back.has_attempt && back.attempt == 2);
    assert_false (back.has_proof || back.has_agent || back.has_timeout_ms);
    assert_true (async_str_eq (back.task, "testing.mul"));
    assert_non_null (back.args.object);
    assert_int_equal (back.args.object->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal (back.args.object->via.array.size, 2);
    assert_non_null (back.kwargs.object);  //  nil
    assert_int_equal (back.kwargs.object->type, MSGPACK_OBJECT_NIL);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  Three ACK entries and one that is no map in `acks`; read 3 at most
    msgpack_sbuffer entries;
    msgpack_sbuffer_init (&entries);
    async_ack_pack (&entries, &(async_ack_t){ .id = async_str (id) });
    msgpack_packer pk;
    msgpack_packer_init (&pk, &entries, msgpack_sbuffer_write);
    msgpack_pack_int (&pk, 5);
    async_ack_pack (&entries, &(async_ack_t){ .id = async_str (""), .rejected = 1 });
    async_ack_pack (&entries, &(async_ack_t){ .id = async_str ("x") });
    async_msg_init (&msg, ASYNC_S_ACK, 3);
    async_msg_batch (&msg, "acks", 4, &entries);
    msgpack_sbuffer_destroy (&entries);
    assert_true (async_msg_valid (&msg));
    s_parse (&msg, &in);
    async_batch_t batch;
    assert_true (async_batch_begin (&batch, in.body, "acks", 3));
    assert_int_equal (batch.ignored, 1);
    async_ack_t ack;
    assert_int_equal (async_ack_decode_map (&ack, async_batch_next (&batch)), 0);
    assert_true (async_str_eq (ack.id, id) && ack.rejected == 0);
    assert_int_equal (async_ack_decode_map (&ack, async_batch_next (&batch)), 0);
    assert_true (async_str_eq (ack.id, "") && ack.rejected == 1);
    assert_null (async_batch_next (&batch));
    assert_false (async_batch_begin (&batch, in.body, "jobs", 0));
    assert_null (async_batch_next (&batch));
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  An empty batch; a batch key that is no array has no entry
    async_msg_init (&msg, ASYNC_S_ACK, 3);
    async_msg_batch (&msg, "acks", 0, NULL);
    async_msg_int (&msg, "jobs", 1);
    s_parse (&msg, &in);
    assert_true (async_batch_begin (&batch, in.body, "acks", 0));
    assert_null (async_batch_next (&batch));
    assert_true (async_batch_begin (&batch, in.body, "jobs", 0));
    assert_null (async_batch_next (&batch));
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
}

//  RESULT carries one outcome, sent only when there; a `handoff` or a
//  `ran_us` of another type is read as absent, a missing token is not
static void
test_typed_result (void **state)
{
    (void) state;
    const uint8_t value [] = { 0x2a };  //  42
    async_result_t result = { .token = 3,
                              .has_result = true,
                              .result = { .data = value, .size = sizeof value } };
    memcpy (result.id, "0190a3c8-5b1c-7d2e-8f00-0123456789ab", ASYNC_ID_LEN);
    async_msg_t msg;
    async_result_encode (&msg, ASYNC_C_RESULT, 1, &result);
    async_inmsg_t in;
    s_parse (&msg, &in);
    assert_int_equal (in.body->via.map.size, 3);  //  id token result
    async_result_t back;
    assert_int_equal (async_result_decode (&back, &in), 0);
    assert_true (back.has_result && back.result.object->via.u64 == 42);
    assert_false (back.has_failure || back.has_handoff || back.has_ran_us);
    assert_null (back.failure.object);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    async_msg_init (&msg, ASYNC_C_RESULT, 1);
    async_msg_str (&msg, "id", result.id);
    async_msg_int (&msg, "token", 3);
    async_msg_int (&msg, "handoff", 7);
    async_msg_str (&msg, "ran_us", "soon");
    s_parse (&msg, &in);
    assert_int_equal (async_result_decode (&back, &in), 0);
    assert_false (back.has_handoff || back.has_ran_us || back.has_result);
    assert_int_equal (back.ran_us, 0);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    async_msg_init (&msg, ASYNC_C_RESULT, 1);
    async_msg_str (&msg, "id", result.id);
    async_msg_int (&msg, "ran_us", 5);
    s_parse (&msg, &in);
    assert_int_equal (async_result_decode (&back, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
}

//  A node's RESULT with its times at fixed offsets: what the typed decoder
//  reads, after each stamp, as a whole message and as a batch entry
static void
test_result_stamped (void **state)
{
    (void) state;
    const uint8_t failure [] = { 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'E' };  //  {type: E}
    async_result_t result = { .token = UINT64_MAX,
                              .has_failure = true,
                              .failure = { .data = failure, .size = sizeof failure },
                              .has_ran_us = true,
                              .ran_us = 12 };
    memcpy (result.id, "0190a3c8-5b1c-7d2e-8f00-0123456789ab", ASYNC_ID_LEN);
    async_msg_t msg;
    size_t started_at, ended_at;
    async_result_encode_stamped (&msg, 3, &result, &started_at, &ended_at);
    assert_true (async_msg_valid (&msg));
    const int64_t stamps [][2] = { { 0, 0 }, { 5000000, 12 }, { -1, INT64_MIN }, { 7, 1 } };
    for (size_t i = 0; i < sizeof stamps / sizeof stamps [0]; i++) {
        async_result_stamp (msg.buffer.data, started_at, stamps [i][0]);
        async_result_stamp (msg.buffer.data, ended_at, stamps [i][1]);
        async_inmsg_t in;
        s_parse (&msg, &in);
        async_result_t back;
        assert_int_equal (async_result_decode (&back, &in), 0);
        assert_string_equal (back.id, result.id);
        assert_true (back.token == UINT64_MAX);
        assert_true (back.has_ran_us && back.ran_us == 12);
        assert_true (back.has_started_ago_us && back.started_ago_us == stamps [i][0]);
        assert_true (back.has_ended_ago_us && back.ended_ago_us == stamps [i][1]);
        assert_true (back.has_failure && !back.has_result && !back.has_handoff);
        assert_true (async_mp_streq (async_mp_get (back.failure.object, "type"), "E"));
        //  The body alone, as an entry of `results`
        assert_int_equal (async_result_decode_map (&back, in.body), 0);
        assert_true (back.started_ago_us == stamps [i][0]);
        async_inmsg_destroy (&in);
    }
    async_msg_destroy (&msg);
}

//  SUBMIT's top level: a spec map or an array of specs, given as bytes
//  and read back as objects, and its flags; decode_each flags each bad
//  field alone and reads the others, a bool of another type is absent
static void
test_typed_submit (void **state)
{
    (void) state;
    const uint8_t spec [] = { 0x81, 0xa4, 't', 'a', 's', 'k', 0xa1, 'x' };  //  {task: x}
    async_submit_t submit = { .has_spec = true,
                              .spec = { .data = spec, .size = sizeof spec },
                              .has_wait = true,
                              .wait = true };
    async_msg_t msg;
    async_submit_encode (&msg, ASYNC_C_SUBMIT, 5, &submit);
    async_inmsg_t in;
    s_parse (&msg, &in);
    assert_int_equal (in.body->via.map.size, 2);  //  spec wait
    async_submit_t back;
    assert_int_equal (async_submit_decode (&back, &in), 0);
    assert_true (back.has_spec && back.spec.object->type == MSGPACK_OBJECT_MAP);
    assert_true (async_mp_streq (async_mp_get (back.spec.object, "task"), "x"));
    assert_true (back.has_wait && back.wait);
    assert_false (back.has_specs || back.has_brief);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  No bytes given: an empty array; brief false is sent
    submit = (async_submit_t){ .has_specs = true, .has_brief = true };
    async_submit_encode (&msg, ASYNC_C_SUBMIT, 5, &submit);
    s_parse (&msg, &in);
    assert_int_equal (async_submit_decode (&back, &in), 0);
    assert_true (back.has_specs && back.specs.object->type == MSGPACK_OBJECT_ARRAY);
    assert_int_equal (back.specs.object->via.array.size, 0);
    assert_true (back.has_brief && !back.brief);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  `specs` a map, `spec` an array, `wait` an int
    async_msg_init (&msg, ASYNC_C_SUBMIT, 5);
    async_msg_raw (&msg, "specs", spec, sizeof spec);
    async_msg_raw (&msg, "spec", (const uint8_t []){ 0x90 }, 1);
    async_msg_int (&msg, "wait", 1);
    async_msg_raw (&msg, "brief", (const uint8_t []){ 0xc3 }, 1);
    s_parse (&msg, &in);
    assert_int_equal (async_submit_decode (&back, &in), -1);
    assert_false (back.has_brief);
    async_submit_bad_t bad;
    assert_int_equal (async_submit_decode_each (&back, &bad, &in), -1);
    assert_true (bad.specs && bad.spec);
    assert_false (bad.wait || bad.brief);
    assert_false (back.has_specs || back.has_spec || back.has_wait);
    assert_null (back.specs.object);
    assert_true (back.has_brief && back.brief);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  Another command: every field flagged
    async_empty_encode (&msg, ASYNC_S_OK, 1);
    s_parse (&msg, &in);
    assert_int_equal (async_submit_decode_each (&back, &bad, &in), -1);
    assert_true (bad.spec && bad.specs && bad.wait && bad.brief);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
}

//  A request row with an optional field: sent only when there (QUOTA-SET,
//  not QUOTA-DELETE); an ANY field may be nil and is still present; a
//  field of another type is flagged alone
static void
test_typed_requests (void **state)
{
    (void) state;
    async_msg_t msg;
    async_inmsg_t in;
    async_quota_encode (&msg, ASYNC_C_QUOTA_DELETE, 2,
                        &(async_quota_t){ .name = async_str ("q") });
    s_parse (&msg, &in);
    assert_int_equal (in.body->via.map.size, 1);
    async_quota_t quota;
    assert_int_equal (async_quota_decode (&quota, &in), 0);
    assert_true (async_str_eq (quota.name, "q") && !quota.has_size);
    assert_int_equal (async_queue_decode (&(async_queue_t){ 0 }, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    const uint8_t nil [] = { 0xc0 };
    async_add_callback_t add = { .has_on = true, .on = { .data = nil, .size = 1 } };
    memcpy (add.id, "0190a3c8-5b1c-7d2e-8f00-0123456789ab", ASYNC_ID_LEN);
    async_add_callback_encode (&msg, ASYNC_C_ADD_CALLBACK, 2, &add);
    s_parse (&msg, &in);
    async_add_callback_t aback;
    assert_int_equal (async_add_callback_decode (&aback, &in), 0);
    assert_true (aback.has_on && aback.on.object->type == MSGPACK_OBJECT_NIL);
    assert_int_equal (aback.spec.object->type, MSGPACK_OBJECT_MAP);  //  {}
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    async_msg_init (&msg, ASYNC_C_EVERY_SET, 2);
    async_msg_str (&msg, "name", "x");
    async_msg_str (&msg, "cron", "* * * * *");
    async_msg_int (&msg, "tz", 1);
    s_parse (&msg, &in);
    async_every_t every;
    async_every_bad_t bad;
    assert_int_equal (async_every_decode_each (&every, &bad, &in), -1);
    assert_true (bad.tz && !every.has_tz);
    assert_false (bad.name || bad.cron || bad.interval_ms || bad.spec);
    assert_true (every.has_cron && async_str_eq (every.cron, "* * * * *"));
    assert_false (every.has_spec || every.has_interval_ms);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
}

static void
s_pack_two (msgpack_packer *pk, void *arg)
{
    msgpack_pack_map (pk, 1);
    async_codec_pack_str (pk, "two");
    msgpack_pack_int (pk, *(int *) arg);
}

//  A MAP or ARR part goes out streamed by its packer, as the items of a
//  batch, as one value packed before, or empty, and comes back as the
//  object in the message; another type, a missing part, a bool or number
//  of another type are refused; an entry's row is no command's
static void
test_typed_parts (void **state)
{
    (void) state;
    int two = 2;
    async_msg_t msg;
    async_inmsg_t in;
    async_job_record_encode (
        &msg, ASYNC_S_JOB, 5,
        &(async_job_record_t){ .job = async_part_packed (s_pack_two, &two) });
    s_parse (&msg, &in);
    async_job_record_t record;
    assert_int_equal (async_job_record_decode (&record, &in), 0);
    int64_t value = 0;
    assert_int_equal (async_mp_int (record.job.object, "two", &value), 0);
    assert_int_equal (value, 2);
    async_job_briefs_t briefs;  //  the other shape of JOB
    assert_int_equal (async_job_briefs_decode (&briefs, &in), -1);
    assert_int_equal (async_jobs_decode (&(async_jobs_t){ 0 }, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  Two brief entries as items, a cursor; then no items
    const char id [] = "0190a3c8-5b1c-7d2e-8f00-0123456789ab";
    msgpack_sbuffer items;
    msgpack_sbuffer_init (&items);
    async_job_brief_t brief = { .status = 4 };
    memcpy (brief.id, id, ASYNC_ID_LEN);
    async_job_brief_pack (&items, &brief);
    async_job_brief_pack (&items, &brief);
    async_jobs_t page = { .jobs = async_part_items (2, &items),
                          .has_next = true,
                          .next = async_str ("c1") };
    async_jobs_encode (&msg, ASYNC_S_JOBS, 6, &page);
    msgpack_sbuffer_destroy (&items);
    s_parse (&msg, &in);
    async_jobs_t pback;
    assert_int_equal (async_jobs_decode (&pback, &in), 0);
    assert_int_equal (pback.jobs.object->via.array.size, 2);
    assert_int_equal (
        async_job_brief_decode_map (&brief, &pback.jobs.object->via.array.ptr [1]), 0);
    assert_string_equal (brief.id, id);
    assert_true (brief.status == 4 && brief.failure.object->type == MSGPACK_OBJECT_NIL);
    assert_true (pback.has_next && async_str_eq (pback.next, "c1"));
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_jobs_encode (&msg, ASYNC_S_JOBS, 6,
                       &(async_jobs_t){ .jobs = async_part_items (0, NULL) });
    s_parse (&msg, &in);
    assert_int_equal (async_jobs_decode (&pback, &in), 0);
    assert_int_equal (pback.jobs.object->via.array.size, 0);
    assert_false (pback.has_next);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  One value packed before; empty parts; BOOL and NUM
    msgpack_sbuffer tasks;
    msgpack_sbuffer_init (&tasks);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &tasks, msgpack_sbuffer_write);
    msgpack_pack_nil (&pk);
    async_node_detail_t detail = { .tasks = { .data = tasks.data, .size = tasks.size },
                                   .jobs_more = 3,
                                   .heartbeat = 0.5 };
    async_node_detail_encode (&msg, ASYNC_S_NODES, 7, &detail);
    msgpack_sbuffer_destroy (&tasks);
    s_parse (&msg, &in);
    async_node_detail_t dback;
    assert_int_equal (async_node_detail_decode (&dback, &in), 0);
    assert_int_equal (dback.node.object->type, MSGPACK_OBJECT_MAP);
    assert_int_equal (dback.node.object->via.map.size, 0);
    assert_int_equal (dback.jobs.object->via.array.size, 0);
    assert_int_equal (dback.tasks.object->type, MSGPACK_OBJECT_NIL);
    assert_true (dback.jobs_more == 3 && dback.heartbeat == 0.5 && dback.dead_after == 0);
    assert_int_equal (async_node_list_decode (&(async_node_list_t){ 0 }, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_agent_change_t change = {
        .ref = 9, .agent = async_str ("a"), .size = 2, .save = true
    };
    async_agent_change_encode (&msg, ASYNC_S_AGENT_SET, 0, &change);
    s_parse (&msg, &in);
    async_agent_change_t cback;
    assert_int_equal (async_agent_change_decode (&cback, &in), 0);
    assert_true (cback.ref == 9 && cback.size == 2 && cback.save && !cback.has_filter);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  A part of another type, a missing part, a NUM that is an int (taken)
    //  and a BOOL that is one (refused)
    async_msg_init (&msg, ASYNC_S_HISTORY, 1);
    async_msg_int (&msg, "history", 1);
    s_parse (&msg, &in);
    async_history_t history;
    assert_int_equal (async_history_decode (&history, &in), -1);
    assert_null (history.history.object);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_empty_encode (&msg, ASYNC_S_OK, 1);
    s_parse (&msg, &in);
    assert_int_equal (async_history_decode_map (&history, in.body), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_msg_init (&msg, ASYNC_S_NODES, 7);
    async_msg_key (&msg, "node");
    msgpack_pack_map (&msg.packer, 0);
    async_msg_key (&msg, "jobs");
    msgpack_pack_array (&msg.packer, 0);
    async_msg_int (&msg, "jobs_more", 0);
    async_msg_int (&msg, "tasks_more", 0);
    async_msg_int (&msg, "heartbeat", 1);
    async_msg_int (&msg, "dead_after", 4);
    s_parse (&msg, &in);
    assert_int_equal (async_node_detail_decode_map (&dback, in.body), 0);
    assert_true (dback.dead_after == 4);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_msg_init (&msg, ASYNC_S_AGENT_SET, 0);
    async_msg_int (&msg, "ref", 1);
    async_msg_str (&msg, "agent", "a");
    async_msg_int (&msg, "size", 1);
    async_msg_int (&msg, "save", 1);
    s_parse (&msg, &in);
    assert_int_equal (async_agent_change_decode (&cback, &in), -1);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    //  An entry is the body of no command
    assert_null (async_msgs_shape (ASYNC_S_JOB, 2));
    assert_string_equal (async_msgs_shape (ASYNC_S_JOB, 1), "jobs");
    assert_string_equal (async_msgs_shape (ASYNC_S_OK, 0), "");
    assert_null (async_msgs_shape (ASYNC_S_OK, 1));
}

//  Two messages are the same bytes; both are released
static void
s_assert_same (async_msg_t *typed, async_msg_t *by_hand)
{
    assert_int_equal (typed->buffer.size, by_hand->buffer.size);
    assert_memory_equal (typed->buffer.data, by_hand->buffer.data, typed->buffer.size);
    async_msg_destroy (typed);
    async_msg_destroy (by_hand);
}

//  The typed replies are the bytes the broker built key by key before
//  them: ints packed signed or not alike, batches, bools, a cursor
static void
test_replies_keep_their_bytes (void **state)
{
    (void) state;
    const char id [] = "0190a3c8-5b1c-7d2e-8f00-0123456789ab";
    async_msg_t typed, by_hand;
    async_accepted_t accepted = {
        .existing = 0, .waiting = 1, .has_unservable = true, .unservable = 300
    };
    memcpy (accepted.id, id, ASYNC_ID_LEN);
    async_accepted_encode (&typed, ASYNC_S_ACCEPTED, 3, &accepted);
    async_msg_init (&by_hand, ASYNC_S_ACCEPTED, 3);
    async_msg_str (&by_hand, "id", id);
    async_msg_int (&by_hand, "existing", 0);
    async_msg_int (&by_hand, "waiting", 1);
    async_msg_int (&by_hand, "unservable", 300);
    s_assert_same (&typed, &by_hand);

    //  A batch of entries: a refused spec, then one accepted
    msgpack_sbuffer entries;
    msgpack_sbuffer_init (&entries);
    async_refused_pack (&entries,
                        &(async_refused_t){ .error = 6, .message = async_str ("no") });
    accepted.has_unservable = false;
    async_accepted_pack (&entries, &accepted);
    async_accepted_many_encode (
        &typed, ASYNC_S_ACCEPTED, 4,
        &(async_accepted_many_t){ .accepted = async_part_items (2, &entries) });
    msgpack_sbuffer_destroy (&entries);
    async_msg_init (&by_hand, ASYNC_S_ACCEPTED, 4);
    async_msg_key (&by_hand, "accepted");
    msgpack_packer *pk = &by_hand.packer;
    msgpack_pack_array (pk, 2);
    msgpack_pack_map (pk, 2);
    async_codec_pack_str (pk, "error");
    msgpack_pack_int (pk, 6);
    async_codec_pack_str (pk, "message");
    async_codec_pack_str (pk, "no");
    msgpack_pack_map (pk, 3);
    async_codec_pack_str (pk, "id");
    async_codec_pack_str (pk, id);
    async_codec_pack_str (pk, "existing");
    msgpack_pack_int (pk, 0);
    async_codec_pack_str (pk, "waiting");
    msgpack_pack_int (pk, 1);
    s_assert_same (&typed, &by_hand);

    //  AGENT-SET to a node
    async_agent_change_t change = { .ref = 7,
                                    .agent = async_str ("main"),
                                    .size = 4,
                                    .has_filter = true,
                                    .filter = async_str ("a.*"),
                                    .save = false };
    async_agent_change_encode (&typed, ASYNC_S_AGENT_SET, 0, &change);
    async_msg_init (&by_hand, ASYNC_S_AGENT_SET, 0);
    async_msg_key (&by_hand, "ref");
    msgpack_pack_uint64 (&by_hand.packer, 7);
    async_msg_str (&by_hand, "agent", "main");
    async_msg_int (&by_hand, "size", 4);
    async_msg_str (&by_hand, "filter", "a.*");
    async_msg_key (&by_hand, "save");
    msgpack_pack_false (&by_hand.packer);
    s_assert_same (&typed, &by_hand);

    //  A page of jobs with a cursor; the ACKs of a batch riding an ASSIGN
    msgpack_sbuffer items;
    msgpack_sbuffer_init (&items);
    async_ack_pack (&items, &(async_ack_t){ .id = async_str (id) });
    async_jobs_encode (&typed, ASYNC_S_JOBS, 5,
                       &(async_jobs_t){ .jobs = async_part_items (1, &items),
                                        .has_next = true,
                                        .next = async_str ("c") });
    async_msg_init (&by_hand, ASYNC_S_JOBS, 5);
    async_msg_key (&by_hand, "jobs");
    msgpack_pack_array (&by_hand.packer, 1);
    async_codec_pack_raw (&by_hand.packer, items.data, items.size);
    async_msg_str (&by_hand, "next", "c");
    s_assert_same (&typed, &by_hand);
    async_assign_batch_encode (&typed, ASYNC_S_ASSIGN, 0,
                               &(async_assign_batch_t){ .jobs = async_part_items (1, &items),
                                                        .has_acks = true,
                                                        .acks = async_part_items (1, &items) });
    async_msg_init (&by_hand, ASYNC_S_ASSIGN, 0);
    async_msg_batch (&by_hand, "jobs", 1, &items);
    async_msg_batch (&by_hand, "acks", 1, &items);
    s_assert_same (&typed, &by_hand);
    async_ack_batch_encode (&typed, ASYNC_S_ACK, 2,
                            &(async_ack_batch_t){ .acks = async_part_items (0, NULL) });
    async_msg_init (&by_hand, ASYNC_S_ACK, 2);
    async_msg_batch (&by_hand, "acks", 0, NULL);
    s_assert_same (&typed, &by_hand);
    msgpack_sbuffer_destroy (&items);
}

//  Node-only commands are the ones a client key may not send; the
//  broker's write refusal covers what clients write
static void
test_senders_and_flags (void **state)
{
    (void) state;
    const async_command_t node [] = { ASYNC_C_HELLO,  ASYNC_C_STARTED, ASYNC_C_PROGRESS,
                                      ASYNC_C_RESULT, ASYNC_C_BYE,     ASYNC_C_AGENT_APPLIED };
    size_t nodes = 0;
    for (int id = 0; id < ASYNC_COMMANDS; id++)
        nodes += async_proto_row ((async_command_t) id)->sender == ASYNC_SENDER_NODE;
    assert_int_equal (nodes, sizeof node / sizeof node [0]);
    for (size_t i = 0; i < sizeof node / sizeof node [0]; i++)
        assert_int_equal (async_proto_row (node [i])->sender, ASYNC_SENDER_NODE);
    assert_true (async_proto_row (ASYNC_C_SUBMIT)->flags & ASYNC_PROTO_WRITES);
    assert_false (async_proto_row (ASYNC_C_RESULT)->flags & ASYNC_PROTO_WRITES);
    assert_false (async_proto_row (ASYNC_C_HELLO)->flags & ASYNC_PROTO_SESSION);
    assert_true (async_proto_row (ASYNC_C_RESULT)->flags & ASYNC_PROTO_SESSION);
    assert_true (async_proto_row (ASYNC_C_LIST)->flags & ASYNC_PROTO_LISTING);
    //  Only an operator (a client key) changes a node's agents
    assert_true (async_proto_row (ASYNC_C_AGENT_SET)->flags & ASYNC_PROTO_CLIENT);
    //  An operator's changes: client keys only, and refused on a full disk
    const async_command_t operators [] = { ASYNC_C_RETRY, ASYNC_C_DELETE,
                                           ASYNC_C_QUEUE_PAUSE, ASYNC_C_QUEUE_RESUME,
                                           ASYNC_C_QUOTA_SET, ASYNC_C_QUOTA_DELETE };
    for (size_t i = 0; i < sizeof operators / sizeof operators [0]; i++)
        assert_int_equal (async_proto_row (operators [i])->flags,
                          ASYNC_PROTO_WRITES | ASYNC_PROTO_CLIENT);
    assert_false (async_proto_row (ASYNC_C_SUBMIT)->flags & ASYNC_PROTO_CLIENT);
}

//  A body counts the fields added with async_msg_key and the helpers, not
//  the keys of maps nested in a value, and is whole after each field
static void
test_message_counts_its_fields (void **state)
{
    (void) state;
    async_msg_t msg;
    async_msg_init (&msg, ASYNC_C_PROGRESS, 7);
    assert_true (async_msg_valid (&msg));
    async_msg_str (&msg, "id", "x");
    assert_true (async_msg_valid (&msg));
    async_msg_key (&msg, "progress");
    msgpack_pack_map (&msg.packer, 2);
    async_codec_pack_str (&msg.packer, "done");
    msgpack_pack_int64 (&msg.packer, 3);
    async_codec_pack_str (&msg.packer, "total");
    msgpack_pack_int64 (&msg.packer, 9);
    async_msg_int (&msg, "token", 5);
    async_msg_raw (&msg, "none", NULL, 0);
    assert_true (async_msg_valid (&msg));
    async_inmsg_t in;
    s_parse (&msg, &in);
    assert_true (async_inmsg_is (&in, ASYNC_C_PROGRESS));
    assert_false (async_inmsg_is (&in, ASYNC_C_PING));
    assert_int_equal (in.body->via.map.size, 4);
    int64_t done = 0;
    assert_int_equal (async_mp_int (async_mp_get (in.body, "progress"), "done", &done), 0);
    assert_int_equal (done, 3);
    async_inmsg_destroy (&in);
    //  A key packed around async_msg_key leaves a value uncounted: caught
    async_codec_pack_str (&msg.packer, "stray");
    async_codec_pack_str (&msg.packer, "value");
    assert_false (async_msg_valid (&msg));
    async_msg_destroy (&msg);
}

//  HELLO's agent names, for async_part_packed
static void
s_pack_two_agents (msgpack_packer *pk, void *arg)
{
    (void) arg;
    async_hello_agent_t main_agent = { .name = async_str ("main"),
                                       .size = 4,
                                       .has_isolation = true,
                                       .isolation = async_str ("thread"),
                                       .has_queues = true };
    async_hello_agent_t io = { .name = async_str ("io"), .size = 1 };
    msgpack_pack_array (pk, 3);
    async_hello_agent_pack_to (pk, &main_agent);
    async_hello_agent_pack_to (pk, &io);
    msgpack_pack_nil (pk);  //  no agent: flagged whole
}

//  HELLO goes out typed, its agents and held jobs as entries; it comes
//  back field by field, with the optionality the broker applies: nil
//  lists and fields of another type are absent, a bad host is flagged
static void
test_typed_hello (void **state)
{
    (void) state;
    msgpack_sbuffer held;
    msgpack_sbuffer_init (&held);
    async_hello_held_t entry = { .token = 7,
                                 .has_attempt = true,
                                 .attempt = 2,
                                 .agent = async_str ("main"),
                                 .has_proof = true,
                                 .proof = UINT64_MAX };
    memcpy (entry.id, "0190a3c8-5b1c-7d2e-8f00-0123456789ab", ASYNC_ID_LEN);
    async_hello_held_pack (&held, &entry);
    async_hello_t hello = { .uuid_key = async_str ("00ff"),
                            .has_host = true,
                            .host = async_str ("h1"),
                            .has_pid = true,
                            .pid = 42,
                            .agents = async_part_packed (s_pack_two_agents, NULL),
                            .has_held = true,
                            .held = async_part_items (1, &held),
                            .has_acks = true,
                            .acks = 1 };
    memcpy (hello.uuid, "5a3e1f2b-8c4d-4e6f-9a0b-1c2d3e4f5a6b", ASYNC_ID_LEN);
    async_msg_t msg;
    async_hello_encode (&msg, ASYNC_C_HELLO, 1, &hello);
    msgpack_sbuffer_destroy (&held);
    async_inmsg_t in;
    s_parse (&msg, &in);
    async_hello_t back;
    async_hello_bad_t bad;
    assert_int_equal (async_hello_decode_each (&back, &bad, &in), 0);
    assert_string_equal (back.uuid, hello.uuid);
    assert_true (async_str_eq (back.uuid_key, "00ff") && async_str_eq (back.host, "h1"));
    assert_true (back.has_pid && back.pid == 42 && !back.has_session && !back.has_tasks);
    assert_true (back.acks == 1 && !back.has_batch);
    const msgpack_object *agents = back.agents.object;
    assert_int_equal (agents->via.array.size, 3);
    async_hello_agent_t agent;
    async_hello_agent_bad_t abad;
    assert_int_equal (
        async_hello_agent_decode_map_each (&agent, &abad, &agents->via.array.ptr [0]), 0);
    assert_true (async_str_eq (agent.name, "main") && agent.size == 4);
    assert_true (async_str_eq (agent.isolation, "thread"));
    assert_true (agent.has_queues && agent.queues.object->via.array.size == 0);
    assert_true (!agent.has_include && !agent.has_exclude);
    assert_int_equal (
        async_hello_agent_decode_map_each (&agent, &abad, &agents->via.array.ptr [1]), 0);
    assert_true (async_str_eq (agent.name, "io") && !agent.has_isolation);
    assert_int_equal (
        async_hello_agent_decode_map_each (&agent, &abad, &agents->via.array.ptr [2]), -1);
    assert_true (abad.name && abad.size && abad.isolation && abad.queues);
    async_batch_t batch;
    assert_true (async_batch_begin (&batch, in.body, "held", 0));
    async_hello_held_t hback;
    assert_int_equal (async_hello_held_decode_map (&hback, async_batch_next (&batch)), 0);
    assert_string_equal (hback.id, entry.id);
    assert_true (hback.token == 7 && hback.attempt == 2 && hback.has_proof
                 && hback.proof == UINT64_MAX && async_str_eq (hback.agent, "main"));
    assert_null (async_batch_next (&batch));
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);

    //  Nil tasks and lists are absent; a session, pid, held or proof of
    //  another type too; a host or tasks of another type are flagged
    async_msg_init (&msg, ASYNC_C_HELLO, 1);
    async_msg_key (&msg, "tasks");
    msgpack_pack_nil (&msg.packer);
    async_msg_int (&msg, "session", 3);
    async_msg_str (&msg, "pid", "p");
    async_msg_int (&msg, "held", 1);
    async_msg_int (&msg, "host", 1);
    s_parse (&msg, &in);
    assert_int_equal (async_hello_decode_each (&back, &bad, &in), -1);
    assert_true (bad.uuid && bad.uuid_key && bad.agents && bad.host);
    assert_true (!bad.tasks && !bad.session && !bad.pid && !bad.held);
    assert_true (!back.has_tasks && !back.has_session && !back.has_pid && !back.has_held);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    async_msg_init (&msg, ASYNC_C_HELLO, 1);
    async_msg_int (&msg, "tasks", 1);
    async_msg_key (&msg, "host");
    msgpack_pack_str (&msg.packer, 3);
    msgpack_pack_str_body (&msg.packer, "a\0b", 3);
    s_parse (&msg, &in);
    async_hello_decode_each (&back, &bad, &in);
    assert_true (bad.tasks && bad.host && !back.has_host);
    async_inmsg_destroy (&in);
    async_msg_destroy (&msg);
    //  A held entry's proof of another type is absent, its id must be one
    msgpack_sbuffer_init (&held);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &held, async_sbuffer_write);
    msgpack_pack_map (&pk, 4);
    async_codec_pack_str (&pk, "id");
    async_codec_pack_str (&pk, entry.id);
    async_codec_pack_str (&pk, "token");
    msgpack_pack_uint64 (&pk, 1);
    async_codec_pack_str (&pk, "agent");
    async_codec_pack_str (&pk, "");
    async_codec_pack_str (&pk, "proof");
    msgpack_pack_int64 (&pk, -1);
    msgpack_unpacked unpacked = { .zone = NULL };
    size_t offset = 0;
    assert_int_equal (async_unpack (&unpacked, held.data, held.size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (async_hello_held_decode_map (&hback, &unpacked.data), 0);
    assert_true (!hback.has_proof && !hback.has_attempt && hback.agent.size == 0);
    async_unpacked_release (&unpacked);
    held.size = 0;
    msgpack_pack_map (&pk, 3);
    async_codec_pack_str (&pk, "id");
    async_codec_pack_str (&pk, "job-1");
    async_codec_pack_str (&pk, "token");
    msgpack_pack_uint64 (&pk, 1);
    async_codec_pack_str (&pk, "agent");
    async_codec_pack_str (&pk, "main");
    offset = 0;
    assert_int_equal (async_unpack (&unpacked, held.data, held.size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (async_hello_held_decode_map (&hback, &unpacked.data), -1);
    async_unpacked_release (&unpacked);
    msgpack_sbuffer_destroy (&held);
}

//  The broker's command table: a handler for every command a peer may send
//  it, and none for those it sends (a command added to the protocol table
//  without its handler would be refused as unknown)
static void
test_broker_handles_every_command (void **state)
{
    (void) state;
    for (int id = 0; id < ASYNC_COMMANDS; id++) {
        const async_proto_t *row = async_proto_row ((async_command_t) id);
        bool to_broker = row->sender != ASYNC_SENDER_BROKER;
        if (to_broker && !broker_handler ((async_command_t) id))
            fail_msg ("%s goes to the broker, which has no handler for it", row->name);
        if (!to_broker && broker_handler ((async_command_t) id))
            fail_msg ("%s is the broker's, which has a handler for it", row->name);
    }
    assert_null (broker_handler (ASYNC_COMMANDS));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_table_is_consistent),
        cmocka_unit_test (test_grammar_and_table_agree),
        cmocka_unit_test (test_every_command_is_described),
        cmocka_unit_test (test_senders_and_flags),
        cmocka_unit_test (test_typed_messages_match_the_docs),
        cmocka_unit_test (test_every_request_is_typed),
        cmocka_unit_test (test_broker_handles_every_command),
        cmocka_unit_test (test_typed_messages_round_trip),
        cmocka_unit_test (test_typed_strings_and_options),
        cmocka_unit_test (test_typed_batches),
        cmocka_unit_test (test_typed_result),
        cmocka_unit_test (test_typed_submit),
        cmocka_unit_test (test_result_stamped),
        cmocka_unit_test (test_typed_requests),
        cmocka_unit_test (test_typed_parts),
        cmocka_unit_test (test_typed_hello),
        cmocka_unit_test (test_replies_keep_their_bytes),
        cmocka_unit_test (test_message_counts_its_fields),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
