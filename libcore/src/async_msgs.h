/*  =========================================================================
    async_msgs - typed messages: the messages whose bodies are flat (every
    field a scalar) as C structs, each with an encoder and a decoder made
    from one table, so that no program types a field name or its type
    again. The messages with nested bodies (HELLO, SUBMIT, RESULT, ASSIGN,
    JOB, ...) are built and read field by field (async_codec.h).

    Columns: X (NAME, FIELDS, COMMANDS): a body NAME with FIELDS, the
    body of each of COMMANDS (a list of C (ID) of async_proto.h). FIELDS is
    a list of F (TYPE, FIELD):

        ID      char [ASYNC_ID_LEN]: a job id (a canonical UUID); decoding
                refuses anything else
        U64     uint64_t: a msgpack unsigned integer
        I64     int64_t: a msgpack integer

    For each row: a struct async_NAME_t with the fields, and

        void async_NAME_encode (async_msg_t *msg, async_command_t command,
                                uint64_t rid, const async_NAME_t *body);
        int  async_NAME_decode (async_NAME_t *body, const async_inmsg_t *in);

    encode starts `msg` (async_msg_init) as `command`, one of the row's,
    with every field; decode reads every field of an incoming message of
    one of the row's commands: 0, or -1 (the body left zeroed) when the
    command is another or a field is missing or of the wrong type.
    tests/unit/test_proto.c checks the fields against the table of each
    command in docs/protocol.md.
    (Private; not installed.)
    =========================================================================
*/
#ifndef ASYNC_MSGS_H_INCLUDED
#define ASYNC_MSGS_H_INCLUDED

#include "async_codec.h"
#include "asyncmesh/id.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ASYNC_MSGS(X) \
    X (job_ref,      ASYNC_MSGS_JOB_REF,      ASYNC_MSGS_JOB_REF_IN) \
    X (job_token,    ASYNC_MSGS_JOB_TOKEN,    ASYNC_MSGS_JOB_TOKEN_IN) \
    X (job_progress, ASYNC_MSGS_JOB_PROGRESS, ASYNC_MSGS_JOB_PROGRESS_IN)

//  A job named by its id
#define ASYNC_MSGS_JOB_REF(F)       F (ID, id)
#define ASYNC_MSGS_JOB_REF_IN(C)    C (C_WAIT) C (C_GET) C (C_CANCEL) C (C_RETRY) \
                                    C (C_DELETE)
//  An attempt of a job: its id and token
#define ASYNC_MSGS_JOB_TOKEN(F)     F (ID, id) F (U64, token)
#define ASYNC_MSGS_JOB_TOKEN_IN(C)  C (C_STARTED) C (S_CANCEL)
//  How far a job got
#define ASYNC_MSGS_JOB_PROGRESS(F)  F (ID, id) F (I64, done) F (I64, total)
#define ASYNC_MSGS_JOB_PROGRESS_IN(C) C (S_WAITING) C (S_PROGRESS)

#define ASYNC_MSGS_C_ID(field)      char field [ASYNC_ID_LEN];
#define ASYNC_MSGS_C_U64(field)     uint64_t field;
#define ASYNC_MSGS_C_I64(field)     int64_t field;
#define ASYNC_MSGS_MEMBER(type, field) ASYNC_MSGS_C_##type (field)

#define ASYNC_MSGS_DECLARE(name, fields, commands) \
    typedef struct { fields (ASYNC_MSGS_MEMBER) } async_##name##_t; \
    void \
        async_##name##_encode (async_msg_t *msg, async_command_t command, uint64_t rid, \
                               const async_##name##_t *body); \
    int \
        async_##name##_decode (async_##name##_t *body, const async_inmsg_t *in);
ASYNC_MSGS (ASYNC_MSGS_DECLARE)
#undef ASYNC_MSGS_DECLARE

//  The field names of a typed command's body, separated by one space ("id
//  token"), for the tests; NULL when the command is not typed
const char *
    async_msgs_fields (async_command_t command);

#ifdef __cplusplus
}
#endif
#endif
