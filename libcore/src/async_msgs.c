/*  =========================================================================
    async_msgs - typed messages (async_msgs.h): the encoders and decoders,
    made from the table
    =========================================================================
*/
#include "async_msgs.h"
#include "async_util.h"
#include <assert.h>
#include <string.h>

//  Encode one field of `body`
#define S_ENCODE_ID(field)  async_msg_str (msg, #field, body->field);
#define S_ENCODE_U64(field) \
    async_msg_key (msg, #field); \
    msgpack_pack_uint64 (&msg->packer, body->field);
#define S_ENCODE_I64(field) async_msg_int (msg, #field, body->field);
#define S_ENCODE(type, field) S_ENCODE_##type (field)

//  Decode one field into `body`; `ok` false on a missing or wrong one
#define S_DECODE_ID(field) \
    ok = ok && async_mp_str (in->body, #field, body->field, sizeof body->field) == 0 \
            && async_id_valid (body->field);
#define S_DECODE_U64(field) \
    ok = ok && async_mp_uint (in->body, #field, &body->field) == 0;
#define S_DECODE_I64(field) \
    ok = ok && async_mp_int (in->body, #field, &body->field) == 0;
#define S_DECODE(type, field) S_DECODE_##type (field)

//  Whether `command` is one of a row's
#define S_IS(id) || command == ASYNC_##id

//  The command of an incoming message that is one of a row's: a name may
//  be a command in both directions (CANCEL), each direction is tried
#define S_COMMAND_OF(in, commands, found) \
    for (int to_broker = 0; to_broker < 2 && !found; to_broker++) { \
        const async_proto_t *row = async_proto_find ((in)->command, to_broker); \
        async_command_t command = row ? row->id : ASYNC_COMMANDS; \
        found = row && (0 commands (S_IS)); \
    }

#define S_DEFINE(name, fields, commands) \
    void \
    async_##name##_encode (async_msg_t *msg, async_command_t command, uint64_t rid, \
                           const async_##name##_t *body) \
    { \
        assert (0 commands (S_IS)); \
        async_msg_init (msg, command, rid); \
        fields (S_ENCODE) \
    } \
    \
    int \
    async_##name##_decode (async_##name##_t *body, const async_inmsg_t *in) \
    { \
        memset (body, 0, sizeof *body); \
        bool ok = false; \
        if (in->body) \
            S_COMMAND_OF (in, commands, ok) \
        fields (S_DECODE) \
        if (!ok) \
            memset (body, 0, sizeof *body); \
        return ok ? 0 : -1; \
    }
ASYNC_MSGS (S_DEFINE)

#define S_NAME(type, field) " " #field
#define S_FIELDS_OF(name, fields, commands) \
    if (0 commands (S_IS)) \
        return fields (S_NAME) + 1;

const char *
async_msgs_fields (async_command_t command)
{
    ASYNC_MSGS (S_FIELDS_OF)
    return NULL;
}
