/*  =========================================================================
    async_msgs - typed messages (async_msgs.h): the encoders and decoders,
    made from the table
    =========================================================================
*/
#include "async_msgs.h"
#include "async_util.h"
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

#define S_NAME(type, field) " " #field

#define S_DEFINE(name, command, fields) \
    void \
    async_##name##_encode (async_msg_t *msg, uint64_t rid, const async_##name##_t *body) \
    { \
        async_msg_init (msg, ASYNC_##command, rid); \
        fields (S_ENCODE) \
    } \
    \
    int \
    async_##name##_decode (async_##name##_t *body, const async_inmsg_t *in) \
    { \
        memset (body, 0, sizeof *body); \
        bool ok = async_inmsg_is (in, ASYNC_##command) && in->body; \
        fields (S_DECODE) \
        if (!ok) \
            memset (body, 0, sizeof *body); \
        return ok ? 0 : -1; \
    }
ASYNC_MSGS (S_DEFINE)

#define S_ROW(name, command, fields) { ASYNC_##command, fields (S_NAME) + 1 },
const async_msgs_row_t async_msgs_rows [] = {
    ASYNC_MSGS (S_ROW)
};
const int async_msgs_size = sizeof async_msgs_rows / sizeof async_msgs_rows [0];
