/*  =========================================================================
    async_msgs - typed messages (async_msgs.h): the encoders and decoders,
    made from the table
    =========================================================================
*/
#include "async_msgs.h"
#include "async_util.h"
#include <assert.h>
#include <string.h>

async_str_t
async_str (const char *string)
{
    assert (string);
    return (async_str_t) { .data = string, .size = strlen (string) };
}

int
async_str_copy (async_str_t string, char *buf, size_t size)
{
    if (string.size >= size)
        return -1;
    memcpy (buf, string.data, string.size);
    buf [string.size] = 0;
    return 0;
}

bool
async_str_eq (async_str_t string, const char *other)
{
    return strlen (other) == string.size && memcmp (string.data, other, string.size) == 0;
}

static void
s_pack_str (msgpack_packer *pk, async_str_t string)
{
    msgpack_pack_str (pk, string.size);
    msgpack_pack_str_body (pk, string.data, string.size);
}

//  A str without NUL bytes, borrowed from the message
static int
s_get_str (const msgpack_object *o, async_str_t *string)
{
    if (!o || o->type != MSGPACK_OBJECT_STR
    ||  (o->via.str.size && memchr (o->via.str.ptr, 0, o->via.str.size)))
        return -1;
    //  msgpack-c gives "" a NULL pointer
    string->data = o->via.str.size ? o->via.str.ptr : "";
    string->size = o->via.str.size;
    return 0;
}

static int
s_mp_str (const msgpack_object *map, const char *key, async_str_t *string)
{
    return s_get_str (async_mp_get (map, key), string);
}

static void
s_pack_any (msgpack_packer *pk, async_any_t value)
{
    if (value.data && value.size)
        async_codec_pack_raw (pk, value.data, value.size);
    else
        msgpack_pack_nil (pk);
}

async_part_t
async_part_packed (async_pack_fn *pack, void *arg)
{
    assert (pack);
    return (async_part_t) { .pack = pack, .arg = arg };
}

async_part_t
async_part_items (uint32_t count, const msgpack_sbuffer *items)
{
    assert (count == 0 || (items && items->size));
    return (async_part_t) { .items = true, .count = count,
                            .data = count ? items->data : NULL,
                            .size = count ? items->size : 0 };
}

//  A MAP or ARR part (`map`: a MAP): as async_part_t says
static void
s_pack_part (msgpack_packer *pk, const async_part_t *part, bool map)
{
    if (part->pack)
        part->pack (pk, part->arg);
    else
    if (part->items) {
        assert (!map);
        msgpack_pack_array (pk, part->count);
        if (part->size)
            async_codec_pack_raw (pk, part->data, part->size);
    }
    else
    if (part->size)
        async_codec_pack_raw (pk, part->data, part->size);
    else
    if (map)
        msgpack_pack_map (pk, 0);
    else
        msgpack_pack_array (pk, 0);
}

//  A MAP or ARR field, borrowed from the message: `ok` false when it is
//  missing or of another type
static bool
s_mp_part (const msgpack_object *map, const char *key, msgpack_object_type type,
           async_part_t *part)
{
    part->object = async_mp_get (map, key);
    return part->object && part->object->type == type;
}

//  Pack the value of one field of `body` with `pk`
#define S_VALUE_ID(pk, field)   async_codec_pack_str (pk, body->field);
#define S_VALUE_U64(pk, field)  msgpack_pack_uint64 (pk, body->field);
#define S_VALUE_I64(pk, field)  msgpack_pack_int64 (pk, body->field);
#define S_VALUE_STR(pk, field)  s_pack_str (pk, body->field);
#define S_VALUE_ANY(pk, field)  s_pack_any (pk, body->field);
#define S_VALUE_OPT_U64 S_VALUE_U64
#define S_VALUE_OPT_I64 S_VALUE_I64
#define S_VALUE_OPT_STR S_VALUE_STR
#define S_VALUE_OPT_ANY S_VALUE_ANY
#define S_VALUE_MAY_I64 S_VALUE_I64
#define S_VALUE_MAY_U64 S_VALUE_U64
#define S_VALUE_MAY_STR S_VALUE_STR
#define S_VALUE_MAP(pk, field)  s_pack_part (pk, &body->field, true);
#define S_VALUE_ARR(pk, field)  s_pack_part (pk, &body->field, false);
#define S_VALUE_OPT_MAP S_VALUE_MAP
#define S_VALUE_OPT_ARR S_VALUE_ARR
#define S_VALUE_MAY_ARR S_VALUE_ARR
#define S_VALUE_NIL_ARR S_VALUE_ARR
#define S_VALUE_NIL_STR S_VALUE_STR
#define S_VALUE_NIL_I64 S_VALUE_I64
#define S_VALUE_BOOL(pk, field) \
    if (body->field) \
        msgpack_pack_true (pk); \
    else \
        msgpack_pack_false (pk);
#define S_VALUE_NUM(pk, field)  msgpack_pack_double (pk, body->field);
#define S_VALUE_OPT_BOOL S_VALUE_BOOL
#define S_VALUE_OPT_NUM  S_VALUE_NUM
#define S_VALUE_MAY_BOOL S_VALUE_BOOL
#define S_VALUE_NIL_NUM  S_VALUE_NUM
#define S_VALUE_NIL_BOOL S_VALUE_BOOL

//  Whether a field of `body` is sent: 1, or has_FIELD for an optional one
#define S_SENT_ID(field)        1
#define S_SENT_U64(field)       1
#define S_SENT_I64(field)       1
#define S_SENT_STR(field)       1
#define S_SENT_ANY(field)       1
#define S_SENT_OPT_U64(field)   body->has_##field
#define S_SENT_OPT_I64(field)   body->has_##field
#define S_SENT_OPT_STR(field)   body->has_##field
#define S_SENT_OPT_ANY(field)   body->has_##field
#define S_SENT_MAY_I64(field)   body->has_##field
#define S_SENT_MAY_U64(field)   body->has_##field
#define S_SENT_MAY_STR(field)   body->has_##field
#define S_SENT_MAP(field)       1
#define S_SENT_ARR(field)       1
#define S_SENT_OPT_MAP(field)   body->has_##field
#define S_SENT_OPT_ARR(field)   body->has_##field
#define S_SENT_MAY_ARR(field)   body->has_##field
#define S_SENT_NIL_ARR(field)   body->has_##field
#define S_SENT_BOOL(field)      1
#define S_SENT_NUM(field)       1
#define S_SENT_OPT_BOOL(field)  body->has_##field
#define S_SENT_OPT_NUM(field)   body->has_##field
#define S_SENT_MAY_BOOL(field)  body->has_##field
#define S_SENT_NIL_STR(field)   body->has_##field
#define S_SENT_NIL_I64(field)   body->has_##field
#define S_SENT_NIL_NUM(field)   body->has_##field
#define S_SENT_NIL_BOOL(field)  body->has_##field

//  Encode one field of `body` into the message
#define S_ENCODE(type, field) \
    if (S_SENT_##type (field)) { \
        async_msg_key (msg, #field); \
        S_VALUE_##type (&msg->packer, field) \
    }
//  The same into a map alone, and the count of its fields
#define S_PACK(type, field) \
    if (S_SENT_##type (field)) { \
        async_codec_pack_str (pk, #field); \
        S_VALUE_##type (pk, field) \
    }
#define S_COUNT(type, field) + (S_SENT_##type (field) ? 1 : 0)

//  Decode one field of `map` into `body`; `ok` false on a missing or
//  wrong one
#define S_DECODE_ID(field) \
    ok = ok && async_mp_str (map, #field, body->field, sizeof body->field) == 0 \
            && async_id_valid (body->field);
#define S_DECODE_U64(field) \
    ok = ok && async_mp_uint (map, #field, &body->field) == 0;
#define S_DECODE_I64(field) \
    ok = ok && async_mp_int (map, #field, &body->field) == 0;
#define S_DECODE_STR(field) \
    ok = ok && s_mp_str (map, #field, &body->field) == 0;
#define S_DECODE_ANY(field) \
    body->field.object = async_mp_get (map, #field);
#define S_DECODE_OPT(field, plain) \
    if (ok && async_mp_get (map, #field)) { \
        plain (field) \
        body->has_##field = ok; \
    }
#define S_DECODE_OPT_U64(field) S_DECODE_OPT (field, S_DECODE_U64)
#define S_DECODE_OPT_I64(field) S_DECODE_OPT (field, S_DECODE_I64)
#define S_DECODE_OPT_STR(field) S_DECODE_OPT (field, S_DECODE_STR)
#define S_DECODE_OPT_ANY(field) \
    S_DECODE_ANY (field) \
    body->has_##field = body->field.object != NULL;
//  Optional, another type read as absent: `ok` as it was
#define S_DECODE_MAY(field, plain) \
    if (ok && async_mp_get (map, #field)) { \
        plain (field) \
        body->has_##field = ok; \
        if (!ok) \
            memset (&body->field, 0, sizeof body->field); \
        ok = true; \
    }
#define S_DECODE_MAY_I64(field) S_DECODE_MAY (field, S_DECODE_I64)
#define S_DECODE_MAY_U64(field) S_DECODE_MAY (field, S_DECODE_U64)
#define S_DECODE_MAY_STR(field) S_DECODE_MAY (field, S_DECODE_STR)
#define S_DECODE_MAP(field) \
    ok = ok && s_mp_part (map, #field, MSGPACK_OBJECT_MAP, &body->field);
#define S_DECODE_ARR(field) \
    ok = ok && s_mp_part (map, #field, MSGPACK_OBJECT_ARRAY, &body->field);
#define S_DECODE_OPT_MAP(field) S_DECODE_OPT (field, S_DECODE_MAP)
#define S_DECODE_OPT_ARR(field) S_DECODE_OPT (field, S_DECODE_ARR)
#define S_DECODE_MAY_ARR(field) S_DECODE_MAY (field, S_DECODE_ARR)
#define S_DECODE_BOOL(field) \
    ok = ok && async_mp_bool (map, #field, &body->field) == 0;
#define S_DECODE_NUM(field) \
    ok = ok && async_mp_double (map, #field, &body->field) == 0;
#define S_DECODE_OPT_BOOL(field) S_DECODE_OPT (field, S_DECODE_BOOL)
#define S_DECODE_OPT_NUM(field)  S_DECODE_OPT (field, S_DECODE_NUM)
#define S_DECODE_MAY_BOOL(field) S_DECODE_MAY (field, S_DECODE_BOOL)
//  Optional, nil read as absent
#define S_DECODE_NIL(field, plain) \
    if (ok && async_mp_get (map, #field) \
           && async_mp_get (map, #field)->type != MSGPACK_OBJECT_NIL) { \
        plain (field) \
        body->has_##field = ok; \
    }
#define S_DECODE_NIL_ARR(field)  S_DECODE_NIL (field, S_DECODE_ARR)
#define S_DECODE_NIL_STR(field)  S_DECODE_NIL (field, S_DECODE_STR)
#define S_DECODE_NIL_I64(field)  S_DECODE_NIL (field, S_DECODE_I64)
#define S_DECODE_NIL_NUM(field)  S_DECODE_NIL (field, S_DECODE_NUM)
#define S_DECODE_NIL_BOOL(field) S_DECODE_NIL (field, S_DECODE_BOOL)
#define S_DECODE(type, field) S_DECODE_##type (field)
//  The same for one field alone: flagged in `bad` (and left zeroed) when
//  missing or wrong, `all` false then
#define S_DECODE_EACH(type, field) { \
        bool ok = true; \
        S_DECODE_##type (field) \
        if (!ok) \
            memset (&body->field, 0, sizeof body->field); \
        bad->field = !ok; \
        all = all && ok; \
    }
#define S_BAD_ALL(type, field) bad->field = true;

//  Whether `command` is one of a row's
#define S_IS(id) || command == ASYNC_##id

//  The command of an incoming message that is one of a row's: a name may
//  be a command in both directions (CANCEL), each direction is tried
#define S_COMMAND_OF(in, commands, found) \
    for (int to_broker = 0; to_broker < 2 && !found; to_broker++) { \
        const async_proto_t *row = async_proto_find ((in)->command, to_broker); \
        async_command_t command = row ? row->id : ASYNC_COMMANDS; \
        (void) command;         /*  (an entry's row has no command) */ \
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
    void \
    async_##name##_pack_to (msgpack_packer *pk, const async_##name##_t *body) \
    { \
        msgpack_pack_map (pk, (size_t) (0 fields (S_COUNT))); \
        fields (S_PACK) \
    } \
    \
    void \
    async_##name##_pack (msgpack_sbuffer *entries, const async_##name##_t *body) \
    { \
        msgpack_packer pk; \
        msgpack_packer_init (&pk, entries, async_sbuffer_write); \
        async_##name##_pack_to (&pk, body); \
    } \
    \
    int \
    async_##name##_decode_map (async_##name##_t *body, const msgpack_object *map) \
    { \
        memset (body, 0, sizeof *body); \
        bool ok = map && map->type == MSGPACK_OBJECT_MAP; \
        fields (S_DECODE) \
        if (!ok) \
            memset (body, 0, sizeof *body); \
        return ok ? 0 : -1; \
    } \
    \
    int \
    async_##name##_decode (async_##name##_t *body, const async_inmsg_t *in) \
    { \
        bool ok = false; \
        if (in->body) \
            S_COMMAND_OF (in, commands, ok) \
        if (!ok) { \
            memset (body, 0, sizeof *body); \
            return -1; \
        } \
        return async_##name##_decode_map (body, in->body); \
    } \
    \
    int \
    async_##name##_decode_map_each (async_##name##_t *body, async_##name##_bad_t *bad, \
                                    const msgpack_object *map) \
    { \
        memset (body, 0, sizeof *body); \
        bool all = map && map->type == MSGPACK_OBJECT_MAP; \
        if (!all) { \
            fields (S_BAD_ALL) \
            return -1; \
        } \
        fields (S_DECODE_EACH) \
        return all ? 0 : -1; \
    } \
    \
    int \
    async_##name##_decode_each (async_##name##_t *body, async_##name##_bad_t *bad, \
                                const async_inmsg_t *in) \
    { \
        bool ok = false; \
        if (in->body && in->body->type == MSGPACK_OBJECT_MAP) \
            S_COMMAND_OF (in, commands, ok) \
        return async_##name##_decode_map_each (body, bad, ok ? in->body : NULL); \
    }
ASYNC_MSGS (S_DEFINE)

void
async_msg_batch (async_msg_t *msg, const char *key, uint32_t count,
                 const msgpack_sbuffer *entries)
{
    assert (count == 0 || (entries && entries->size));
    async_msg_key (msg, key);
    msgpack_pack_array (&msg->packer, count);
    if (count)
        async_codec_pack_raw (&msg->packer, entries->data, entries->size);
}

bool
async_batch_begin (async_batch_t *batch, const msgpack_object *body, const char *key,
                   uint32_t max)
{
    const msgpack_object *array = async_mp_get (body, key);
    *batch = (async_batch_t) { .array = array };
    if (!array || array->type != MSGPACK_OBJECT_ARRAY)
        return array != NULL;
    batch->count = array->via.array.size;
    if (max && batch->count > max) {
        batch->ignored = batch->count - max;
        batch->count = max;
    }
    return true;
}

const msgpack_object *
async_batch_next (async_batch_t *batch)
{
    while (batch->next < batch->count) {
        const msgpack_object *entry = &batch->array->via.array.ptr [batch->next++];
        if (entry->type == MSGPACK_OBJECT_MAP)
            return entry;
    }
    return NULL;
}

void
async_result_encode_stamped (async_msg_t *msg, uint64_t rid, const async_result_t *body,
                             size_t *started_at, size_t *ended_at)
{
    async_result_t rest = *body;
    rest.has_started_ago_us = false;
    rest.has_ended_ago_us = false;
    async_result_encode (msg, ASYNC_C_RESULT, rid, &rest);
    async_msg_key (msg, "started_ago_us");
    msgpack_pack_fix_int64 (&msg->packer, body->started_ago_us);
    *started_at = msg->buffer.size - 8;
    async_msg_key (msg, "ended_ago_us");
    msgpack_pack_fix_int64 (&msg->packer, body->ended_ago_us);
    *ended_at = msg->buffer.size - 8;
}

void
async_result_stamp (void *frame, size_t at, int64_t value)
{
    uint8_t *data = (uint8_t *) frame + at;
    uint64_t bits = (uint64_t) value;
    for (int i = 7; i >= 0; i--) {
        data [i] = (uint8_t) (bits & 0xff);
        bits >>= 8;
    }
}

void
async_empty_encode (async_msg_t *msg, async_command_t command, uint64_t rid)
{
    assert (0 ASYNC_MSGS_EMPTY (S_IS));
    async_msg_init (msg, command, rid);
}

#define S_NAME(type, field) " " #field
#define S_FIELDS_OF(name, fields, commands) \
    if (0 commands (S_IS)) \
        return fields (S_NAME) + 1;

const char *
async_msgs_fields (async_command_t command)
{
    ASYNC_MSGS (S_FIELDS_OF)
    if (0 ASYNC_MSGS_EMPTY (S_IS))
        return "";
    return NULL;
}

#define S_SHAPE_OF(name, fields, commands) \
    if ((0 commands (S_IS)) && shape-- == 0) \
        return fields (S_NAME) + 1;

const char *
async_msgs_shape (async_command_t command, int shape)
{
    ASYNC_MSGS (S_SHAPE_OF)
    if ((0 ASYNC_MSGS_EMPTY (S_IS)) && shape == 0)
        return "";
    return NULL;
}
