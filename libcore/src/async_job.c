/*  =========================================================================
    async_job - the job record
    =========================================================================
*/
#include "async_job.h"
#include "async_alloc.h"
#include "async_util.h"
#include <stdlib.h>
#include <string.h>

static const char *s_status_names [] = {
    "pending", "assigned", "active", "callbacks", "completed"
};
static const char *s_kind_names [] = { "task", "parallel", "serial" };

async_job_t *
async_job_new (void)
{
    async_job_t *self = calloc (1, sizeof (async_job_t));
    if (self)
        async_id_new_ordered (self->id);
    else
        async_alloc_failed (sizeof (async_job_t));
    return self;
}

static void
s_free_ids (async_job_id_t **ids, size_t *count)
{
    free (*ids);
    *ids = NULL;
    *count = 0;
}

void
async_job_destroy (async_job_t **self_p)
{
    async_job_t *self = *self_p;
    if (!self)
        return;
    free (self->task);
    free (self->queue);
    free (self->agent);
    free (self->retry);
    free (self->key);
    async_blob_clear (&self->args);
    async_blob_clear (&self->kwargs);
    async_blob_clear (&self->result);
    async_blob_clear (&self->failure);
    async_blob_clear (&self->quotas);
    async_blob_clear (&self->postprocess);
    async_blob_clear (&self->annotations);
    async_blob_clear (&self->progress);
    s_free_ids (&self->children, &self->nchildren);
    s_free_ids (&self->callbacks, &self->ncallbacks);
    free (self);
    *self_p = NULL;
}

const char *
async_status_name (async_status_t status)
{
    return (unsigned) status <= ASYNC_COMPLETED ? s_status_names [status] : "unknown";
}

int
async_status_parse (const char *name)
{
    for (int i = 0; name && i <= ASYNC_COMPLETED; i++)
        if (strcmp (name, s_status_names [i]) == 0)
            return i;
    return -1;
}

void
async_blob_clear (async_blob_t *blob)
{
    free (blob->data);
    blob->data = NULL;
    blob->size = 0;
}

void
async_blob_set (async_blob_t *blob, const void *data, size_t size)
{
    async_blob_clear (blob);
    if (data && size) {
        blob->data = malloc (size);
        if (!blob->data) {
            async_alloc_failed (size);
            return;             //  the library's: the blob stays empty
        }
        memcpy (blob->data, data, size);
        blob->size = size;
    }
}

void
async_blob_take (async_blob_t *blob, uint8_t *data, size_t size)
{
    async_blob_clear (blob);
    blob->data = data;
    blob->size = data ? size : 0;
}

void
async_job_set_str (char **field, const char *value)
{
    free (*field);
    *field = value ? strdup (value) : NULL;
    if (value && !*field)
        async_alloc_failed (strlen (value) + 1);
}

//  Ids are one block, grown by doubling: the capacity is the next power
//  of two >= count (a parent of 100,000 children is 17 allocations, not
//  100,000). An id is at most ASYNC_ID_CHARS characters (a job id)
static void
s_add_id (async_job_id_t **ids, size_t *count, const char *id)
{
    size_t n = *count;
    if (n == 0 || (n & (n - 1)) == 0) {
        size_t capacity = n ? n * 2 : 1;
        async_job_id_t *grown = realloc (*ids, capacity * sizeof (async_job_id_t));
        if (!grown) {
            async_alloc_failed (capacity * sizeof (async_job_id_t));
            return;             //  the library's: the id is left out
        }
        *ids = grown;
    }
    size_t size = strnlen (id, ASYNC_ID_CHARS);
    memcpy ((*ids) [n], id, size);
    memset ((*ids) [n] + size, 0, ASYNC_ID_LEN - size);     //  all its bytes known
    *count = n + 1;
}

void
async_job_add_child (async_job_t *self, const char *id)
{
    s_add_id (&self->children, &self->nchildren, id);
}

void
async_job_add_callback (async_job_t *self, const char *id)
{
    s_add_id (&self->callbacks, &self->ncallbacks, id);
}

//  ---------------------------------------------------------------------
//  Encoding. On the wire (JOB, the API) a job is one map with a fixed set
//  of keys (nil where empty). In the store it is an array of the same
//  fields in the same order, after a format number (S_STORED_FORMAT): no
//  key names, so a record is about a third of the size and is read by
//  position. A stored map (format 1, before) is still read.

#define S_FIELDS 43
#define S_STORED_FORMAT 2

//  The fields, in order
typedef enum {
    F_ID, F_KIND, F_ROLE, F_TASK, F_ARGS, F_KWARGS, F_QUEUE, F_PRIORITY, F_STATUS,
    F_SEQ, F_RESULT, F_FAILURE, F_SUBMITTED, F_BEGIN_AFTER, F_BEGIN_BY, F_TIMEOUT,
    F_ACTIVE_START, F_ACTIVE_END, F_COMPLETED_AT, F_NOT_BEFORE, F_ATTEMPTS,
    F_INTERRUPTIONS, F_TOKEN, F_NODE, F_AGENT, F_RETRY, F_QUOTAS, F_KEY, F_PARENT,
    F_CHILD_INDEX, F_CHILDREN, F_CHILDREN_DONE, F_POSTPROCESS, F_POSTPROCESS_ID,
    F_CALLBACKS, F_ANNOTATIONS, F_PROGRESS, F_HANDOFF, F_HELD, F_VERSION, F_ON,
    F_CALLBACKS_NEXT, F_CANCELLED_AT, F_COUNT
} s_field_t;

static const char *s_field_names [F_COUNT] = {
    "id", "kind", "role", "task", "args", "kwargs", "queue", "priority", "status",
    "seq", "result", "failure", "submitted", "begin_after", "begin_by", "timeout",
    "active_start", "active_end", "completed_at", "not_before", "attempts",
    "interruptions", "token", "node", "agent", "retry", "quotas", "key", "parent",
    "child_index", "children", "children_done", "postprocess", "postprocess_id",
    "callbacks", "annotations", "progress", "handoff", "held", "version", "on",
    "callbacks_next", "cancelled_at"
};

//  A packer that writes each field's name first (a map), or not (an array)
typedef struct {
    msgpack_packer *pk;
    bool keyed;
} s_out_t;

static void
s_key (s_out_t *out, s_field_t field)
{
    if (out->keyed)
        async_codec_pack_str (out->pk, s_field_names [field]);
}

static void
s_pack_blob (s_out_t *out, s_field_t field, const async_blob_t *blob)
{
    s_key (out, field);
    if (blob->size)
        async_codec_pack_raw (out->pk, blob->data, blob->size);
    else
        msgpack_pack_nil (out->pk);
}

static void
s_pack_int (s_out_t *out, s_field_t field, int64_t value)
{
    s_key (out, field);
    msgpack_pack_int64 (out->pk, value);
}

static void
s_pack_str (s_out_t *out, s_field_t field, const char *value)
{
    s_key (out, field);
    async_codec_pack_str (out->pk, value && *value ? value : NULL);
}

static void
s_pack_ids (s_out_t *out, s_field_t field, async_job_id_t *ids, size_t count)
{
    s_key (out, field);
    msgpack_pack_array (out->pk, count);
    for (size_t i = 0; i < count; i++)
        async_codec_pack_str (out->pk, ids [i]);
}

static void
s_pack_fields (async_job_t *self, s_out_t *out)
{
    s_pack_str (out, F_ID, self->id);
    s_pack_int (out, F_KIND, self->kind);
    s_pack_int (out, F_ROLE, self->role);
    s_pack_str (out, F_TASK, self->task);
    s_pack_blob (out, F_ARGS, &self->args);
    s_pack_blob (out, F_KWARGS, &self->kwargs);
    s_pack_str (out, F_QUEUE, self->queue);
    s_pack_int (out, F_PRIORITY, self->priority);
    s_pack_int (out, F_STATUS, self->status);
    s_pack_int (out, F_SEQ, (int64_t) self->seq);
    s_pack_blob (out, F_RESULT, &self->result);
    s_pack_blob (out, F_FAILURE, &self->failure);
    s_pack_int (out, F_SUBMITTED, self->submitted);
    s_pack_int (out, F_BEGIN_AFTER, self->begin_after);
    s_pack_int (out, F_BEGIN_BY, self->begin_by);
    s_pack_int (out, F_TIMEOUT, self->timeout);
    s_pack_int (out, F_ACTIVE_START, self->active_start);
    s_pack_int (out, F_ACTIVE_END, self->active_end);
    s_pack_int (out, F_COMPLETED_AT, self->completed_at);
    s_pack_int (out, F_NOT_BEFORE, self->not_before);
    s_pack_int (out, F_ATTEMPTS, self->attempts);
    s_pack_int (out, F_INTERRUPTIONS, self->interruptions);
    if (!out->keyed)
        s_pack_int (out, F_TOKEN, (int64_t) self->token);
    //  On the wire the fencing token is left out: a client, a task or the
    //  HTTP API has no use for it, and it would let a peer claim an attempt
    s_pack_str (out, F_NODE, self->node);
    s_pack_str (out, F_AGENT, self->agent);
    s_pack_str (out, F_RETRY, self->retry);
    s_pack_blob (out, F_QUOTAS, &self->quotas);
    s_pack_str (out, F_KEY, self->key);
    s_pack_str (out, F_PARENT, self->parent);
    s_pack_int (out, F_CHILD_INDEX, self->child_index);
    s_pack_ids (out, F_CHILDREN, self->children, self->nchildren);
    s_pack_int (out, F_CHILDREN_DONE, (int64_t) self->children_done);
    s_pack_blob (out, F_POSTPROCESS, &self->postprocess);
    s_pack_str (out, F_POSTPROCESS_ID, self->postprocess_id);
    s_pack_ids (out, F_CALLBACKS, self->callbacks, self->ncallbacks);
    s_pack_blob (out, F_ANNOTATIONS, &self->annotations);
    s_pack_blob (out, F_PROGRESS, &self->progress);
    s_pack_str (out, F_HANDOFF, self->handoff);
    s_key (out, F_HELD);
    if (self->held)
        msgpack_pack_true (out->pk);
    else
        msgpack_pack_false (out->pk);
    s_pack_int (out, F_VERSION, 1);
    s_pack_int (out, F_ON, self->on);
    s_pack_int (out, F_CALLBACKS_NEXT, self->callbacks_next);
    s_pack_int (out, F_CANCELLED_AT, self->cancelled_at);
}

void
async_job_pack (async_job_t *self, msgpack_packer *pk)
{
    s_out_t out = { pk, true };
    msgpack_pack_map (pk, S_FIELDS - 1);       //  all but the token
    s_pack_fields (self, &out);
}

int
async_job_encode (async_job_t *self, uint8_t **data, size_t *size)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    s_out_t out = { &pk, false };
    msgpack_pack_array (&pk, 1 + S_FIELDS);
    msgpack_pack_uint8 (&pk, S_STORED_FORMAT);
    s_pack_fields (self, &out);
    *data = (uint8_t *) buffer.data;
    *size = buffer.size;
    return *data ? 0 : -1;
}

//  A field of a job: by name in a map, by position in a stored array
//  (NULL: absent)
static const msgpack_object *
s_field (const msgpack_object *job, s_field_t field)
{
    if (job->type == MSGPACK_OBJECT_MAP)
        return async_mp_get (job, s_field_names [field]);
    return 1 + (uint32_t) field < job->via.array.size ? &job->via.array.ptr [1 + field] : NULL;
}

static int
s_get_blob (const msgpack_object *job, s_field_t field, async_blob_t *blob)
{
    const msgpack_object *o = s_field (job, field);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    uint8_t *data;
    size_t size;
    if (async_codec_copy_object (o, &data, &size))
        return -1;
    async_blob_take (blob, data, size);
    return 0;
}

static int64_t
s_get_int (const msgpack_object *job, s_field_t field)
{
    const msgpack_object *o = s_field (job, field);
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t) INT64_MAX)
        return (int64_t) o->via.u64;
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    return 0;
}

static char *
s_get_strdup (const msgpack_object *job, s_field_t field)
{
    const msgpack_object *o = s_field (job, field);
    //  "" reads as absent: the encoder writes an empty string as nil
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0)
        return NULL;
    if (memchr (o->via.str.ptr, 0, o->via.str.size))
        return NULL;
    return strndup (o->via.str.ptr, o->via.str.size);
}

//  An id field into buf (ASYNC_ID_LEN bytes). -1 (and "") when absent or no id
static int
s_get_id (const msgpack_object *job, s_field_t field, char *buf)
{
    if (async_mp_strcpy (s_field (job, field), buf, ASYNC_ID_LEN) == 0)
        return 0;
    buf [0] = 0;
    return -1;
}

static int
s_get_ids (const msgpack_object *job, s_field_t field, async_job_id_t **ids, size_t *count)
{
    const msgpack_object *o = s_field (job, field);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        char id [ASYNC_ID_LEN];
        if (async_mp_strcpy (&o->via.array.ptr [i], id, sizeof id))
            return -1;
        s_add_id (ids, count, id);
    }
    return 0;
}

async_job_t *
async_job_decode_object (const msgpack_object *job)
{
    if (!job)
        return NULL;
    if (job->type == MSGPACK_OBJECT_ARRAY) {
        //  Stored: [format, fields...]
        const msgpack_object *format = job->via.array.size ? &job->via.array.ptr [0] : NULL;
        if (!format || format->type != MSGPACK_OBJECT_POSITIVE_INTEGER
        ||  format->via.u64 != S_STORED_FORMAT || job->via.array.size < 1 + S_FIELDS)
            return NULL;
    }
    else
    if (job->type != MSGPACK_OBJECT_MAP)
        return NULL;
    async_job_t *self = calloc (1, sizeof (async_job_t));
    if (!self) {
        async_alloc_failed (sizeof (async_job_t));
        return NULL;
    }
    if (s_get_id (job, F_ID, self->id) || !async_id_valid (self->id))
        goto fail;
    self->kind = (async_kind_t) s_get_int (job, F_KIND);
    self->role = (async_role_t) s_get_int (job, F_ROLE);
    self->status = (async_status_t) s_get_int (job, F_STATUS);
    if ((unsigned) self->kind > ASYNC_KIND_SERIAL || (unsigned) self->status > ASYNC_COMPLETED
    ||  (unsigned) self->role > ASYNC_ROLE_CALLBACK)
        goto fail;
    self->task = s_get_strdup (job, F_TASK);
    self->queue = s_get_strdup (job, F_QUEUE);
    self->agent = s_get_strdup (job, F_AGENT);
    self->retry = s_get_strdup (job, F_RETRY);
    self->key = s_get_strdup (job, F_KEY);
    if (!self->queue)
        self->queue = strdup ("default");
    self->priority = s_get_int (job, F_PRIORITY);
    self->seq = (uint64_t) s_get_int (job, F_SEQ);
    self->submitted = s_get_int (job, F_SUBMITTED);
    self->begin_after = s_get_int (job, F_BEGIN_AFTER);
    self->begin_by = s_get_int (job, F_BEGIN_BY);
    self->timeout = s_get_int (job, F_TIMEOUT);
    self->active_start = s_get_int (job, F_ACTIVE_START);
    self->active_end = s_get_int (job, F_ACTIVE_END);
    self->completed_at = s_get_int (job, F_COMPLETED_AT);
    self->not_before = s_get_int (job, F_NOT_BEFORE);
    self->attempts = (int) s_get_int (job, F_ATTEMPTS);
    self->interruptions = (int) s_get_int (job, F_INTERRUPTIONS);
    self->token = (uint64_t) s_get_int (job, F_TOKEN);
    self->child_index = (int) s_get_int (job, F_CHILD_INDEX);
    self->children_done = (size_t) s_get_int (job, F_CHILDREN_DONE);
    self->on = (int) s_get_int (job, F_ON);
    self->callbacks_next = (int) s_get_int (job, F_CALLBACKS_NEXT);
    self->cancelled_at = s_get_int (job, F_CANCELLED_AT);
    const msgpack_object *held = s_field (job, F_HELD);
    self->held = held && held->type == MSGPACK_OBJECT_BOOLEAN && held->via.boolean;
    s_get_id (job, F_NODE, self->node);
    s_get_id (job, F_PARENT, self->parent);
    s_get_id (job, F_POSTPROCESS_ID, self->postprocess_id);
    s_get_id (job, F_HANDOFF, self->handoff);
    if (s_get_blob (job, F_ARGS, &self->args)
    ||  s_get_blob (job, F_KWARGS, &self->kwargs)
    ||  s_get_blob (job, F_RESULT, &self->result)
    ||  s_get_blob (job, F_FAILURE, &self->failure)
    ||  s_get_blob (job, F_QUOTAS, &self->quotas)
    ||  s_get_blob (job, F_POSTPROCESS, &self->postprocess)
    ||  s_get_blob (job, F_ANNOTATIONS, &self->annotations)
    ||  s_get_blob (job, F_PROGRESS, &self->progress)
    ||  s_get_ids (job, F_CHILDREN, &self->children, &self->nchildren)
    ||  s_get_ids (job, F_CALLBACKS, &self->callbacks, &self->ncallbacks))
        goto fail;
    return self;
fail:
    async_job_destroy (&self);
    return NULL;
}

async_job_t *
async_job_decode (const void *data, size_t size)
{
    if (async_codec_check (data, size))
        return NULL;
    msgpack_unpacked unpacked;
    size_t offset = 0;
    async_job_t *self = NULL;
    if (async_unpack (&unpacked, data, size, &offset) == MSGPACK_UNPACK_SUCCESS)
        self = async_job_decode_object (&unpacked.data);
    async_unpacked_release (&unpacked);
    return self;
}

//  ---------------------------------------------------------------------
//  JSON (docs/spec.md section 6)

static json_t *
s_time_json (int64_t when)
{
    if (!when)
        return json_null ();
    char buf [40];
    return json_string (async_format_time (when, buf, sizeof buf));
}

static json_t *
s_blob_json (const async_blob_t *blob, json_t *empty)
{
    if (!blob->size)
        return empty;
    json_decref (empty);
    json_t *value = async_codec_decode_json (blob->data, blob->size);
    return value ? value : json_null ();
}

static json_t *
s_ids_json (async_job_id_t *ids, size_t count)
{
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (array, json_string (ids [i]));
    return array;
}

static json_t *
s_str_or_null (const char *value)
{
    return value && *value ? json_string (value) : json_null ();
}

json_t *
async_job_to_json (async_job_t *self)
{
    json_t *job = json_object ();
    json_object_set_new (job, "id", json_string (self->id));
    json_object_set_new (job, "task", s_str_or_null (self->task));
    if (self->kind != ASYNC_KIND_TASK)
        json_object_set_new (job, "kind", json_string (s_kind_names [self->kind]));
    json_object_set_new (job, "args", s_blob_json (&self->args, json_array ()));
    json_object_set_new (job, "kwargs", s_blob_json (&self->kwargs, json_object ()));
    json_object_set_new (job, "queue", json_string (self->queue ? self->queue : "default"));
    json_object_set_new (job, "priority", json_integer (self->priority));
    json_object_set_new (job, "status", json_string (async_status_name (self->status)));
    if (self->status == ASYNC_COMPLETED) {
        if (self->failure.size)
            json_object_set_new (job, "failure", s_blob_json (&self->failure, json_null ()));
        else
            json_object_set_new (job, "result", s_blob_json (&self->result, json_null ()));
    }
    json_object_set_new (job, "submitted", s_time_json (self->submitted));
    json_object_set_new (job, "begin_after", s_time_json (self->begin_after));
    if (self->begin_by)
        json_object_set_new (job, "begin_by", json_real (self->begin_by / 1e6));
    else
        json_object_set_new (job, "begin_by", json_null ());
    if (self->timeout)
        json_object_set_new (job, "timeout", json_real (self->timeout / 1e6));
    json_object_set_new (job, "active_start", s_time_json (self->active_start));
    json_object_set_new (job, "active_end", s_time_json (self->active_end));
    json_object_set_new (job, "completed_at", s_time_json (self->completed_at));
    json_object_set_new (job, "attempts", json_integer (self->attempts));
    json_object_set_new (job, "interruptions", json_integer (self->interruptions));
    json_object_set_new (job, "node", s_str_or_null (self->node));
    json_object_set_new (job, "agent", s_str_or_null (self->agent));
    json_object_set_new (job, "retry", json_string (
        self->retry ? self->retry
                    : self->role == ASYNC_ROLE_CALLBACK ? "forever" : "default"));
    json_object_set_new (job, "quotas", s_blob_json (&self->quotas, json_array ()));
    json_object_set_new (job, "key", s_str_or_null (self->key));
    json_object_set_new (job, "parent", s_str_or_null (self->parent));
    json_t *children = s_ids_json (self->children, self->nchildren);
    json_object_set_new (job, "children", children);
    if (self->nchildren)
        json_object_set_new (job, "children_done", json_integer ((json_int_t) self->children_done));
    if (*self->postprocess_id)
        json_object_set_new (job, "postprocess", json_string (self->postprocess_id));
    if (*self->handoff)
        json_object_set_new (job, "handoff", json_string (self->handoff));
    json_object_set_new (job, "callbacks", s_ids_json (self->callbacks, self->ncallbacks));
    json_object_set_new (job, "annotations", s_blob_json (&self->annotations, json_object ()));
    json_object_set_new (job, "progress", s_blob_json (&self->progress, json_null ()));
    return job;
}

void
async_failure_make (async_blob_t *blob, const char *type, const char *message,
                    const char *detail, bool transient, const char *node, int attempt)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_map (&pk, 6);
    async_codec_pack_str (&pk, "type");
    async_codec_pack_str (&pk, type ? type : "Error");
    async_codec_pack_str (&pk, "message");
    async_codec_pack_str (&pk, message ? message : "");
    async_codec_pack_str (&pk, "detail");
    async_codec_pack_str (&pk, detail ? detail : "");
    async_codec_pack_str (&pk, "transient");
    if (transient)
        msgpack_pack_true (&pk);
    else
        msgpack_pack_false (&pk);
    async_codec_pack_str (&pk, "node");
    async_codec_pack_str (&pk, node && *node ? node : NULL);
    async_codec_pack_str (&pk, "attempt");
    msgpack_pack_int64 (&pk, attempt);
    async_blob_take (blob, (uint8_t *) buffer.data, buffer.size);
}

static int
s_failure_map (const async_blob_t *failure, msgpack_unpacked *unpacked)
{
    msgpack_unpacked_init (unpacked);
    size_t offset = 0;
    if (!failure->size
    ||  msgpack_unpack_next (unpacked, (const char *) failure->data, failure->size, &offset)
        != MSGPACK_UNPACK_SUCCESS)
        return -1;
    return 0;
}

bool
async_failure_transient (const async_blob_t *failure)
{
    msgpack_unpacked unpacked;
    bool transient = false;
    if (s_failure_map (failure, &unpacked) == 0)
        async_mp_bool (&unpacked.data, "transient", &transient);
    msgpack_unpacked_destroy (&unpacked);
    return transient;
}

int
async_failure_type (const async_blob_t *failure, char *buf, size_t size)
{
    msgpack_unpacked unpacked;
    int rc = -1;
    if (s_failure_map (failure, &unpacked) == 0)
        rc = async_mp_str (&unpacked.data, "type", buf, size);
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}
