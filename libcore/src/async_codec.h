/*  =========================================================================
    async_codec - msgpack encoding of values and protocol messages

    Every protocol message is one ZeroMQ frame holding one msgpack array:

        [version, command, request-id, body]

    version is ASYNC_PROTO_VERSION, command a short string ("SUBMIT"),
    request-id an unsigned integer echoed in the reply, body a map with
    string keys. docs/protocol.md is the grammar.

    Values (job arguments, results) travel as msgpack; JSON (jansson) is
    the edge representation for the CLI and the task API. bin maps to
    {"$bin": "<base64>"} in JSON.
    =========================================================================
*/
#ifndef ASYNC_CODEC_H_INCLUDED
#define ASYNC_CODEC_H_INCLUDED

#include <msgpack.h>
#include <jansson.h>
#include "asyncmesh/id.h"
#include "async_proto.h"
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ASYNC_PROTO_VERSION 1
#define ASYNC_MAX_MESSAGE   (16 * 1024 * 1024)  //  ZMQ_MAXMSGSIZE for peers
#define ASYNC_MAX_NAME      200                 //  task, queue, agent names
#define ASYNC_MAX_RESULTS   4096                //  entries of one RESULT
#define ASYNC_MAX_DEPTH     32                  //  nesting in a whole frame
#define ASYNC_MAX_VALUE_DEPTH 24                //  nesting of one value (args,
                                                //  result): room for the
                                                //  message and job around it

//  ---------------------------------------------------------------------
//  Values: JSON <-> msgpack

//  Pack a JSON value. 0, or -1 for a value that has no msgpack form.
int
    async_codec_pack_json (msgpack_packer *pk, json_t *value);

//  Convert a msgpack object to JSON. Map keys must be strings (others are
//  rendered as their JSON text). NULL only if out of memory.
json_t *
    async_codec_to_json (const msgpack_object *object);

//  The value as one line of compact JSON, reals with the fewest digits
//  that print each exactly (0.1, not 0.10000000000000001). Caller frees.
char *
    async_codec_json_dumps (json_t *value);

//  Decode a msgpack buffer holding one value into JSON; NULL if malformed.
json_t *
    async_codec_decode_json (const void *data, size_t size);

//  Encode a JSON value as a msgpack buffer (malloc'd). 0 or -1.
int
    async_codec_encode_json (json_t *value, uint8_t **data, size_t *size);

//  Check that data holds exactly one well-formed msgpack value whose
//  lengths and counts fit in the data and whose containers nest at most
//  ASYNC_MAX_DEPTH deep, without allocating. 0; -2 if bytes follow the
//  value; -1 if it is malformed.
int
    async_codec_check (const void *data, size_t size);

//  Pack bytes that already are one msgpack value.
void
    async_codec_pack_raw (msgpack_packer *pk, const void *data, size_t size);

//  Pack a C string (NULL packs nil).
void
    async_codec_pack_str (msgpack_packer *pk, const char *string);

//  msgpack_sbuffer_write with a first allocation that fits most messages
//  and job records (msgpack-c's is 8 KiB, a large block for malloc that
//  makes it consolidate its free lists on every message)
int
    async_sbuffer_write (void *data, const char *buf, size_t len);

//  Re-encode one msgpack object into a fresh buffer (malloc'd).
int
    async_codec_copy_object (const msgpack_object *object, uint8_t **data, size_t *size);

//  ---------------------------------------------------------------------
//  Reading maps

//  Value of `key` in a msgpack map, or NULL (also if `map` is no map).
const msgpack_object *
    async_mp_get (const msgpack_object *map, const char *key);

//  Typed lookups: 0 when present with the right type, -1 otherwise.
//  A string is copied into buf (truncation = error) or strdup'd.
int
    async_mp_str (const msgpack_object *map, const char *key, char *buf, size_t size);
char *
    async_mp_strdup (const msgpack_object *map, const char *key);
int
    async_mp_int (const msgpack_object *map, const char *key, int64_t *value);
int
    async_mp_uint (const msgpack_object *map, const char *key, uint64_t *value);
int
    async_mp_bool (const msgpack_object *map, const char *key, bool *value);
int
    async_mp_double (const msgpack_object *map, const char *key, double *value);

//  Compare a msgpack str object to a C string.
bool
    async_mp_streq (const msgpack_object *object, const char *string);

//  Copy a msgpack str object into buf as a C string; -1 if not a str or too long.
int
    async_mp_strcpy (const msgpack_object *object, char *buf, size_t size);

//  ---------------------------------------------------------------------
//  Messages

typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer packer;
    size_t body;                //  where the body map starts in buffer
    uint32_t fields;            //  keys of the body so far
} async_msg_t;

//  Start a message with an empty body; then add each body field with
//  async_msg_key and any packer call for its value, or with the helpers.
//  The body counts its own fields: its map header (the map32 form) is
//  rewritten at each key, so the message is complete after every value.
//  Keys of maps nested in a value are packed with the packer, not here.
void
    async_msg_init (async_msg_t *self, async_command_t command, uint64_t rid);

//  The same for a command named at run time: a node forwarding a task's
//  request, a test sending what the protocol does not have
void
    async_msg_init_named (async_msg_t *self, const char *command, uint64_t rid);
void
    async_msg_key (async_msg_t *self, const char *key);
void
    async_msg_str (async_msg_t *self, const char *key, const char *value);
void
    async_msg_int (async_msg_t *self, const char *key, int64_t value);
void
    async_msg_raw (async_msg_t *self, const char *key, const void *data, size_t size);

//  Is the message one well-formed msgpack value (a field packed around
//  async_msg_key, or a value left out, shows here)? For assertions.
bool
    async_msg_valid (const async_msg_t *self);

//  Release the buffer (after sending, or to abandon the message).
void
    async_msg_destroy (async_msg_t *self);

//  Unpack one value from data at *offset (advanced past it), into a zone
//  the thread reuses: MSGPACK_UNPACK_SUCCESS (more bytes may follow), or
//  an error. Release the result with async_unpacked_release, even after
//  an error.
int
    async_unpack (msgpack_unpacked *result, const void *data, size_t size,
                  size_t *offset);
void
    async_unpacked_release (msgpack_unpacked *result);

typedef struct {
    msgpack_unpacked unpacked;
    char command [24];
    uint64_t rid;
    const msgpack_object *body;
} async_inmsg_t;

//  Parse a frame into a message. 0, or -1 if it is not a well-formed
//  message of our version (the reason in *why, static text).
int
    async_inmsg_parse (async_inmsg_t *self, const void *data, size_t size,
                       const char **why);
void
    async_inmsg_destroy (async_inmsg_t *self);

//  Is the message this command?
bool
    async_inmsg_is (const async_inmsg_t *self, async_command_t command);

#ifdef __cplusplus
}
#endif
#endif
