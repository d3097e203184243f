/*  =========================================================================
    async_codec - msgpack encoding of values and protocol messages
    =========================================================================
*/
#include "async_codec.h"
#include <inttypes.h>
#include <czmq.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static json_t *
s_bin_to_json (const void *data, size_t size)
{
    zarmour_t *armour = zarmour_new ();
    zarmour_set_mode (armour, ZARMOUR_MODE_BASE64_STD);
    zarmour_set_line_breaks (armour, false);
    char *text = zarmour_encode (armour, (const byte *) data, size);
    zarmour_destroy (&armour);
    json_t *wrapped = json_pack ("{s:s}", "$bin", text ? text : "");
    zstr_free (&text);
    return wrapped;
}

//  Standard base64: alphabet, length a multiple of 4, at most two '=' at
//  the end
static bool
s_base64_valid (const char *text)
{
    size_t len = strlen (text);
    if (len % 4)
        return false;
    size_t pad = 0;
    while (pad < len && pad < 3 && text [len - 1 - pad] == '=')
        pad++;
    if (pad > 2)
        return false;
    for (size_t i = 0; i < len - pad; i++)
        if (!isalnum ((unsigned char) text [i]) && text [i] != '+' && text [i] != '/')
            return false;
    return true;
}

static int
s_pack_json (msgpack_packer *pk, json_t *value, int depth);

int
async_codec_pack_json (msgpack_packer *pk, json_t *value)
{
    return s_pack_json (pk, value, 0);
}

//  Containers nest at most ASYNC_MAX_VALUE_DEPTH deep, so that the value
//  inside a message (itself nested) stays within ASYNC_MAX_DEPTH
static int
s_pack_json (msgpack_packer *pk, json_t *value, int depth)
{
    if (depth >= ASYNC_MAX_VALUE_DEPTH && (json_is_array (value) || json_is_object (value)))
        return -1;
    switch (json_typeof (value)) {
        case JSON_NULL:
            return msgpack_pack_nil (pk);
        case JSON_TRUE:
            return msgpack_pack_true (pk);
        case JSON_FALSE:
            return msgpack_pack_false (pk);
        case JSON_INTEGER:
            return msgpack_pack_int64 (pk, json_integer_value (value));
        case JSON_REAL:
            return msgpack_pack_double (pk, json_real_value (value));
        case JSON_STRING: {
            size_t len = json_string_length (value);
            msgpack_pack_str (pk, len);
            return msgpack_pack_str_body (pk, json_string_value (value), len);
        }
        case JSON_ARRAY: {
            size_t index;
            json_t *item;
            msgpack_pack_array (pk, json_array_size (value));
            json_array_foreach (value, index, item)
                if (s_pack_json (pk, item, depth + 1))
                    return -1;
            return 0;
        }
        case JSON_OBJECT: {
            json_t *bin = json_object_get (value, "$bin");
            if (json_object_size (value) == 1 && json_is_string (bin)) {
                if (!s_base64_valid (json_string_value (bin)))
                    return -1;
                zarmour_t *armour = zarmour_new ();
                zarmour_set_mode (armour, ZARMOUR_MODE_BASE64_STD);
                zchunk_t *chunk = zarmour_decode (armour, json_string_value (bin));
                zarmour_destroy (&armour);
                if (!chunk)
                    return -1;
                //  zarmour_decode adds a NUL after the data, counted in its size
                size_t size = zchunk_size (chunk) ? zchunk_size (chunk) - 1 : 0;
                msgpack_pack_bin (pk, size);
                msgpack_pack_bin_body (pk, zchunk_data (chunk), size);
                zchunk_destroy (&chunk);
                return 0;
            }
            const char *key;
            json_t *item;
            msgpack_pack_map (pk, json_object_size (value));
            json_object_foreach (value, key, item) {
                async_codec_pack_str (pk, key);
                if (s_pack_json (pk, item, depth + 1))
                    return -1;
            }
            return 0;
        }
    }
    return -1;
}

json_t *
async_codec_to_json (const msgpack_object *o)
{
    switch (o->type) {
        case MSGPACK_OBJECT_NIL:
            return json_null ();
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (o->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            if (o->via.u64 > (uint64_t) INT64_MAX)
                return json_real ((double) o->via.u64);
            return json_integer ((json_int_t) o->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer ((json_int_t) o->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return json_real (o->via.f64);
        case MSGPACK_OBJECT_STR:
            return json_stringn_nocheck (o->via.str.ptr ? o->via.str.ptr : "",
                                         o->via.str.size);
        case MSGPACK_OBJECT_BIN:
            return s_bin_to_json (o->via.bin.ptr, o->via.bin.size);
        case MSGPACK_OBJECT_EXT:
            return s_bin_to_json (o->via.ext.ptr, o->via.ext.size);
        case MSGPACK_OBJECT_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t i = 0; array && i < o->via.array.size; i++)
                json_array_append_new (array, async_codec_to_json (&o->via.array.ptr [i]));
            return array;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *object = json_object ();
            for (uint32_t i = 0; object && i < o->via.map.size; i++) {
                const msgpack_object *key = &o->via.map.ptr [i].key;
                json_t *value = async_codec_to_json (&o->via.map.ptr [i].val);
                if (key->type == MSGPACK_OBJECT_STR) {
                    char *name = strndup (key->via.str.ptr ? key->via.str.ptr : "",
                                          key->via.str.size);
                    json_object_set_new_nocheck (object, name ? name : "", value);
                    free (name);
                }
                else {
                    //  Keys must be strings (docs/spec.md); another kind is
                    //  named by its scalar text, or by its kind and place:
                    //  dumping a container key would nest escapes, doubling the
                    //  text at each level (a few hundred bytes made 512 MB)
                    char name [64];
                    if (key->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                        snprintf (name, sizeof name, "%" PRIu64, key->via.u64);
                    else
                    if (key->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                        snprintf (name, sizeof name, "%" PRId64, key->via.i64);
                    else
                    if (key->type == MSGPACK_OBJECT_BOOLEAN)
                        snprintf (name, sizeof name, "%s", key->via.boolean ? "true" : "false");
                    else
                    if (key->type == MSGPACK_OBJECT_NIL)
                        snprintf (name, sizeof name, "null");
                    else
                    if (key->type == MSGPACK_OBJECT_FLOAT32 || key->type == MSGPACK_OBJECT_FLOAT64)
                        snprintf (name, sizeof name, "%.17g", key->via.f64);
                    else
                        snprintf (name, sizeof name, "$key:%s#%u",
                                  key->type == MSGPACK_OBJECT_ARRAY ? "array"
                                : key->type == MSGPACK_OBJECT_MAP ? "map" : "bin", i);
                    json_object_set_new_nocheck (object, name, value);
                }
            }
            return object;
        }
    }
    return json_null ();
}

//  msgpack_unpack_next makes an 8 KiB zone for every value it unpacks and
//  frees it after: a malloc and free of that size per message and per job
//  read. Each thread keeps one zone, cleared, for its next unpack.
static pthread_key_t s_zone_key;
static pthread_once_t s_zone_once = PTHREAD_ONCE_INIT;

static void
s_zone_free (void *zone)
{
    msgpack_zone_free ((msgpack_zone *) zone);
}

static void
s_zone_key_new (void)
{
    pthread_key_create (&s_zone_key, s_zone_free);
}

int
async_unpack (msgpack_unpacked *result, const void *data, size_t size, size_t *offset)
{
    pthread_once (&s_zone_once, s_zone_key_new);
    msgpack_zone *zone = (msgpack_zone *) pthread_getspecific (s_zone_key);
    if (zone)
        pthread_setspecific (s_zone_key, NULL);
    else
        zone = msgpack_zone_new (MSGPACK_ZONE_CHUNK_SIZE);
    result->zone = zone;
    if (!zone)
        return MSGPACK_UNPACK_NOMEM_ERROR;
    int rc = msgpack_unpack ((const char *) data, size, offset, zone, &result->data);
    return rc == MSGPACK_UNPACK_EXTRA_BYTES ? MSGPACK_UNPACK_SUCCESS : rc;
}

void
async_unpacked_release (msgpack_unpacked *result)
{
    if (!result->zone)
        return;
    pthread_once (&s_zone_once, s_zone_key_new);
    if (pthread_getspecific (s_zone_key))
        msgpack_zone_free (result->zone);
    else {
        msgpack_zone_clear (result->zone);
        pthread_setspecific (s_zone_key, result->zone);
    }
    result->zone = NULL;
}

json_t *
async_codec_decode_json (const void *data, size_t size)
{
    if (async_codec_check (data, size))
        return NULL;
    msgpack_unpacked unpacked;
    size_t offset = 0;
    json_t *value = NULL;
    if (async_unpack (&unpacked, data, size, &offset) == MSGPACK_UNPACK_SUCCESS
    &&  offset == size)
        value = async_codec_to_json (&unpacked.data);
    async_unpacked_release (&unpacked);
    return value;
}

int
async_codec_encode_json (json_t *value, uint8_t **data, size_t *size)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    if (async_codec_pack_json (&pk, value)) {
        msgpack_sbuffer_destroy (&buffer);
        return -1;
    }
    *data = (uint8_t *) buffer.data;
    *size = buffer.size;
    if (!*data) {           //  sbuffer never allocated (cannot happen: a value has a byte)
        *data = malloc (1);
        **data = 0xc0;
        *size = 1;
    }
    return 0;
}

void
async_codec_pack_raw (msgpack_packer *pk, const void *data, size_t size)
{
    pk->callback (pk->data, (const char *) data, size);
}

void
async_codec_pack_str (msgpack_packer *pk, const char *string)
{
    if (!string) {
        msgpack_pack_nil (pk);
        return;
    }
    size_t len = strlen (string);
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, string, len);
}

int
async_codec_copy_object (const msgpack_object *object, uint8_t **data, size_t *size)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    if (msgpack_pack_object (&pk, *object) || !buffer.data) {
        msgpack_sbuffer_destroy (&buffer);
        return -1;
    }
    *data = (uint8_t *) buffer.data;
    *size = buffer.size;
    return 0;
}

bool
async_mp_streq (const msgpack_object *o, const char *string)
{
    size_t len = strlen (string);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == len
        && (len == 0 || memcmp (o->via.str.ptr, string, len) == 0);
}

const msgpack_object *
async_mp_get (const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    //  Sizes first: most keys differ in length, and this is on every path
    size_t len = strlen (key);
    const msgpack_object_kv *kv = map->via.map.ptr;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (kv [i].key.type == MSGPACK_OBJECT_STR && kv [i].key.via.str.size == len
        &&  memcmp (kv [i].key.via.str.ptr, key, len) == 0)
            return &kv [i].val;
    return NULL;
}

int
async_mp_strcpy (const msgpack_object *o, char *buf, size_t size)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= size)
        return -1;
    if (o->via.str.size == 0) {
        buf [0] = 0;            //  msgpack-c gives "" a NULL pointer
        return 0;
    }
    memcpy (buf, o->via.str.ptr, o->via.str.size);
    buf [o->via.str.size] = 0;
    if (memchr (buf, 0, o->via.str.size))
        return -1;          //  no embedded NULs in names
    return 0;
}

int
async_mp_str (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    return async_mp_strcpy (async_mp_get (map, key), buf, size);
}

char *
async_mp_strdup (const msgpack_object *map, const char *key)
{
    const msgpack_object *o = async_mp_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return NULL;
    if (o->via.str.size == 0)
        return strdup ("");     //  msgpack-c gives "" a NULL pointer
    if (memchr (o->via.str.ptr, 0, o->via.str.size))
        return NULL;
    return strndup (o->via.str.ptr, o->via.str.size);
}

int
async_mp_int (const msgpack_object *map, const char *key, int64_t *value)
{
    const msgpack_object *o = async_mp_get (map, key);
    if (!o)
        return -1;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t) INT64_MAX)
        *value = (int64_t) o->via.u64;
    else
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *value = o->via.i64;
    else
        return -1;
    return 0;
}

int
async_mp_uint (const msgpack_object *map, const char *key, uint64_t *value)
{
    const msgpack_object *o = async_mp_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    *value = o->via.u64;
    return 0;
}

int
async_mp_bool (const msgpack_object *map, const char *key, bool *value)
{
    const msgpack_object *o = async_mp_get (map, key);
    if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    *value = o->via.boolean;
    return 0;
}

int
async_mp_double (const msgpack_object *map, const char *key, double *value)
{
    const msgpack_object *o = async_mp_get (map, key);
    if (!o)
        return -1;
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        *value = o->via.f64;
    else
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        *value = (double) o->via.u64;
    else
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *value = (double) o->via.i64;
    else
        return -1;
    return 0;
}

#define S_SBUFFER_FIRST 960     //  under glibc's smallest large block (1 KiB)

int
async_sbuffer_write (void *data, const char *buf, size_t len)
{
    msgpack_sbuffer *sbuf = (msgpack_sbuffer *) data;
    if (sbuf->alloc - sbuf->size < len) {
        size_t size = sbuf->alloc ? sbuf->alloc * 2 : S_SBUFFER_FIRST;
        while (size < sbuf->size + len) {
            if (size > SIZE_MAX / 2)
                return -1;
            size *= 2;
        }
        char *grown = (char *) realloc (sbuf->data, size);
        if (!grown)
            return -1;
        sbuf->data = grown;
        sbuf->alloc = size;
    }
    if (len)
        memcpy (sbuf->data + sbuf->size, buf, len);
    sbuf->size += len;
    return 0;
}

void
async_msg_init (async_msg_t *self, async_command_t command, uint64_t rid)
{
    async_msg_init_named (self, async_proto_name (command), rid);
}

void
async_msg_init_named (async_msg_t *self, const char *command, uint64_t rid)
{
    msgpack_sbuffer_init (&self->buffer);
    msgpack_packer_init (&self->packer, &self->buffer, async_sbuffer_write);
    msgpack_pack_array (&self->packer, 4);
    msgpack_pack_uint8 (&self->packer, ASYNC_PROTO_VERSION);
    async_codec_pack_str (&self->packer, command);
    msgpack_pack_uint64 (&self->packer, rid);
    self->body = self->buffer.size;
    self->fields = 0;
    //  map32 with room for any count; async_msg_key keeps it current
    const char header [5] = { (char) 0xdf, 0, 0, 0, 0 };
    async_sbuffer_write (&self->buffer, header, sizeof header);
}

void
async_msg_key (async_msg_t *self, const char *key)
{
    uint32_t fields = ++self->fields;
    uint8_t *count = (uint8_t *) self->buffer.data + self->body + 1;
    count [0] = (uint8_t) (fields >> 24);
    count [1] = (uint8_t) (fields >> 16);
    count [2] = (uint8_t) (fields >> 8);
    count [3] = (uint8_t) fields;
    async_codec_pack_str (&self->packer, key);
}

void
async_msg_str (async_msg_t *self, const char *key, const char *value)
{
    async_msg_key (self, key);
    async_codec_pack_str (&self->packer, value);
}

void
async_msg_int (async_msg_t *self, const char *key, int64_t value)
{
    async_msg_key (self, key);
    msgpack_pack_int64 (&self->packer, value);
}

bool
async_msg_valid (const async_msg_t *self)
{
    return async_codec_check (self->buffer.data, self->buffer.size) == 0;
}

void
async_msg_raw (async_msg_t *self, const char *key, const void *data, size_t size)
{
    async_msg_key (self, key);
    if (data && size)
        async_codec_pack_raw (&self->packer, data, size);
    else
        msgpack_pack_nil (&self->packer);
}

void
async_msg_destroy (async_msg_t *self)
{
    msgpack_sbuffer_destroy (&self->buffer);
}

//  Walk one msgpack value without allocating: every length and count must
//  fit in the bytes that are left (msgpack-c allocates a container's
//  declared count before reading it, so 5 bytes could ask for gigabytes),
//  and containers nest at most ASYNC_MAX_DEPTH deep. 0 if well formed,
//  -2 if bytes follow the value, -1 otherwise.
int
async_codec_check (const void *data, size_t size)
{
    const uint8_t *p = (const uint8_t *) data, *end = p + size;
    //  Values still to read at each open container level
    uint64_t pending [ASYNC_MAX_DEPTH + 1];
    int depth = 0;
    pending [0] = 1;
    while (true) {
        while (depth > 0 && pending [depth] == 0)
            depth--;
        if (pending [depth] == 0)
            return p == end ? 0 : -2;
        pending [depth]--;
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        uint64_t len = 0, items = 0;
        size_t need = 0;            //  bytes of a length field
#define S_NEED(n) do { if ((size_t) (end - p) < (size_t) (n)) return -1; } while (0)
#define S_BE(n, out) do { S_NEED (n); out = 0; \
        for (int i_ = 0; i_ < (n); i_++) out = (out << 8) | *p++; } while (0)
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            continue;                                   //  fixint, nil, bool
        if ((b & 0xe0) == 0xa0)
            len = b & 0x1f;                             //  fixstr
        else
        if ((b & 0xf0) == 0x90)
            items = b & 0x0f;                           //  fixarray
        else
        if ((b & 0xf0) == 0x80)
            items = (uint64_t) (b & 0x0f) * 2;          //  fixmap
        else
        switch (b) {
            case 0xcc: case 0xd0: need = 1; break;
            case 0xcd: case 0xd1: need = 2; break;
            case 0xca: case 0xce: case 0xd2: need = 4; break;
            case 0xcb: case 0xcf: case 0xd3: need = 8; break;
            case 0xd4: need = 2; break;                 //  fixext 1: type + 1
            case 0xd5: need = 3; break;
            case 0xd6: need = 5; break;
            case 0xd7: need = 9; break;
            case 0xd8: need = 17; break;
            case 0xc4: case 0xd9: S_BE (1, len); break;
            case 0xc5: case 0xda: S_BE (2, len); break;
            case 0xc6: case 0xdb: S_BE (4, len); break;
            case 0xc7: S_BE (1, len); len++; break;     //  ext: type byte too
            case 0xc8: S_BE (2, len); len++; break;
            case 0xc9: S_BE (4, len); len++; break;
            case 0xdc: S_BE (2, items); break;
            case 0xdd: S_BE (4, items); break;
            case 0xde: S_BE (2, items); items *= 2; break;
            case 0xdf: S_BE (4, items); items *= 2; break;
            default: return -1;                         //  0xc1: never used
        }
        if (need) {
            S_NEED (need);
            p += need;
            continue;
        }
        if ((b & 0xf0) == 0x90 || (b & 0xf0) == 0x80 || (b >= 0xdc && b <= 0xdf)) {
            //  Each item takes at least one byte
            if (items > (uint64_t) (end - p) || depth >= ASYNC_MAX_DEPTH)
                return -1;
            if (items)
                pending [++depth] = items;
            continue;
        }
        S_NEED (len);
        p += len;
#undef S_NEED
#undef S_BE
    }
}

int
async_inmsg_parse (async_inmsg_t *self, const void *data, size_t size, const char **why)
{
    self->unpacked.zone = NULL;
    self->body = NULL;
    self->command [0] = 0;
    self->rid = 0;
    int check = async_codec_check (data, size);
    if (check) {
        *why = check == -2 ? "trailing bytes after the message"
                           : "malformed msgpack (or a length, count or nesting beyond the frame)";
        return -1;
    }
    size_t offset = 0;
    int rc = async_unpack (&self->unpacked, data, size, &offset);
    if (rc != MSGPACK_UNPACK_SUCCESS || offset != size) {
        *why = rc == MSGPACK_UNPACK_SUCCESS ? "trailing bytes after the message"
                                            : "malformed msgpack";
        return -1;
    }
    const msgpack_object *root = &self->unpacked.data;
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size != 4) {
        *why = "not a [version, command, rid, body] array";
        return -1;
    }
    const msgpack_object *items = root->via.array.ptr;
    if (items [0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
    ||  items [0].via.u64 != ASYNC_PROTO_VERSION) {
        *why = "unsupported protocol version";
        return -1;
    }
    if (async_mp_strcpy (&items [1], self->command, sizeof self->command)) {
        *why = "command is not a short string";
        return -1;
    }
    if (items [2].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *why = "request id is not an unsigned integer";
        return -1;
    }
    self->rid = items [2].via.u64;
    if (items [3].type != MSGPACK_OBJECT_MAP) {
        *why = "body is not a map";
        return -1;
    }
    self->body = &items [3];
    return 0;
}

void
async_inmsg_destroy (async_inmsg_t *self)
{
    async_unpacked_release (&self->unpacked);
    self->body = NULL;
}

//  Significant digits that print every real in value exactly: 15 prints
//  0.1 as 0.1, 17 round-trips every double. 0 when there are no reals.
static int
s_real_digits (json_t *value)
{
    int digits = 0;
    size_t index;
    const char *key;
    json_t *item;
    if (json_is_real (value)) {
        double real = json_real_value (value);
        char text [40];
        for (digits = 15; digits < 17; digits++) {
            snprintf (text, sizeof text, "%.*g", digits, real);
            if (strtod (text, NULL) == real)
                break;
        }
    }
    else
    if (json_is_object (value))
        json_object_foreach (value, key, item) {
            int more = s_real_digits (item);
            digits = more > digits ? more : digits;
        }
    else
        json_array_foreach (value, index, item) {   //  none unless an array
            int more = s_real_digits (item);
            digits = more > digits ? more : digits;
        }
    return digits;
}

char *
async_codec_json_dumps (json_t *value)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    int digits = s_real_digits (value);
    if (digits)
        flags |= JSON_REAL_PRECISION (digits);
    return json_dumps (value, flags);
}

bool
async_inmsg_is (const async_inmsg_t *self, async_command_t command)
{
    return strcmp (self->command, async_proto_name (command)) == 0;
}
