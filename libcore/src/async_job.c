/*  =========================================================================
    async_job - the job record
    =========================================================================
*/
#include "async_job.h"
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
    return self;
}

static void
s_free_ids (char ***ids, size_t *count)
{
    for (size_t i = 0; i < *count; i++)
        free ((*ids) [i]);
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
}

//  Ids grow by doubling: the capacity is the next power of two >= count
static void
s_add_id (char ***ids, size_t *count, const char *id)
{
    size_t n = *count;
    if (n == 0 || (n & (n - 1)) == 0)
        *ids = realloc (*ids, (n ? n * 2 : 1) * sizeof (char *));
    (*ids) [(*count)++] = strdup (id);
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
//  Encoding: one map with a fixed set of keys (nil where empty)

#define S_FIELDS 43

static void
s_pack_blob (msgpack_packer *pk, const char *key, const async_blob_t *blob)
{
    async_codec_pack_str (pk, key);
    if (blob->size)
        async_codec_pack_raw (pk, blob->data, blob->size);
    else
        msgpack_pack_nil (pk);
}

static void
s_pack_int (msgpack_packer *pk, const char *key, int64_t value)
{
    async_codec_pack_str (pk, key);
    msgpack_pack_int64 (pk, value);
}

static void
s_pack_str (msgpack_packer *pk, const char *key, const char *value)
{
    async_codec_pack_str (pk, key);
    async_codec_pack_str (pk, value && *value ? value : NULL);
}

static void
s_pack_ids (msgpack_packer *pk, const char *key, char **ids, size_t count)
{
    async_codec_pack_str (pk, key);
    msgpack_pack_array (pk, count);
    for (size_t i = 0; i < count; i++)
        async_codec_pack_str (pk, ids [i]);
}

void
async_job_pack (async_job_t *self, msgpack_packer *pk)
{
    msgpack_pack_map (pk, S_FIELDS);
    s_pack_str (pk, "id", self->id);
    s_pack_int (pk, "kind", self->kind);
    s_pack_int (pk, "role", self->role);
    s_pack_str (pk, "task", self->task);
    s_pack_blob (pk, "args", &self->args);
    s_pack_blob (pk, "kwargs", &self->kwargs);
    s_pack_str (pk, "queue", self->queue);
    s_pack_int (pk, "priority", self->priority);
    s_pack_int (pk, "status", self->status);
    s_pack_int (pk, "seq", (int64_t) self->seq);
    s_pack_blob (pk, "result", &self->result);
    s_pack_blob (pk, "failure", &self->failure);
    s_pack_int (pk, "submitted", self->submitted);
    s_pack_int (pk, "begin_after", self->begin_after);
    s_pack_int (pk, "begin_by", self->begin_by);
    s_pack_int (pk, "timeout", self->timeout);
    s_pack_int (pk, "active_start", self->active_start);
    s_pack_int (pk, "active_end", self->active_end);
    s_pack_int (pk, "completed_at", self->completed_at);
    s_pack_int (pk, "not_before", self->not_before);
    s_pack_int (pk, "attempts", self->attempts);
    s_pack_int (pk, "interruptions", self->interruptions);
    s_pack_int (pk, "token", (int64_t) self->token);
    s_pack_str (pk, "node", self->node);
    s_pack_str (pk, "agent", self->agent);
    s_pack_str (pk, "retry", self->retry);
    s_pack_blob (pk, "quotas", &self->quotas);
    s_pack_str (pk, "key", self->key);
    s_pack_str (pk, "parent", self->parent);
    s_pack_int (pk, "child_index", self->child_index);
    s_pack_ids (pk, "children", self->children, self->nchildren);
    s_pack_int (pk, "children_done", (int64_t) self->children_done);
    s_pack_blob (pk, "postprocess", &self->postprocess);
    s_pack_str (pk, "postprocess_id", self->postprocess_id);
    s_pack_ids (pk, "callbacks", self->callbacks, self->ncallbacks);
    s_pack_blob (pk, "annotations", &self->annotations);
    s_pack_blob (pk, "progress", &self->progress);
    s_pack_str (pk, "handoff", self->handoff);
    async_codec_pack_str (pk, "held");
    if (self->held)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
    s_pack_int (pk, "version", 1);
    s_pack_int (pk, "on", self->on);
    s_pack_int (pk, "callbacks_next", self->callbacks_next);
    s_pack_int (pk, "cancelled_at", self->cancelled_at);
    //  43 fields above; keep S_FIELDS in step
}

int
async_job_encode (async_job_t *self, uint8_t **data, size_t *size)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    async_job_pack (self, &pk);
    *data = (uint8_t *) buffer.data;
    *size = buffer.size;
    return *data ? 0 : -1;
}

static int
s_get_blob (const msgpack_object *map, const char *key, async_blob_t *blob)
{
    const msgpack_object *o = async_mp_get (map, key);
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
s_get_int (const msgpack_object *map, const char *key)
{
    int64_t value = 0;
    async_mp_int (map, key, &value);
    return value;
}

static void
s_get_id (const msgpack_object *map, const char *key, char *buf)
{
    if (async_mp_str (map, key, buf, 37))
        buf [0] = 0;
}

static int
s_get_ids (const msgpack_object *map, const char *key, char ***ids, size_t *count)
{
    const msgpack_object *o = async_mp_get (map, key);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        char id [37];
        if (async_mp_strcpy (&o->via.array.ptr [i], id, sizeof id))
            return -1;
        s_add_id (ids, count, id);
    }
    return 0;
}

async_job_t *
async_job_decode_object (const msgpack_object *map)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    async_job_t *self = calloc (1, sizeof (async_job_t));
    if (!self)
        return NULL;
    if (async_mp_str (map, "id", self->id, sizeof self->id) || !async_id_valid (self->id))
        goto fail;
    self->kind = (async_kind_t) s_get_int (map, "kind");
    self->role = (async_role_t) s_get_int (map, "role");
    self->status = (async_status_t) s_get_int (map, "status");
    if ((unsigned) self->kind > ASYNC_KIND_SERIAL || (unsigned) self->status > ASYNC_COMPLETED
    ||  (unsigned) self->role > ASYNC_ROLE_CALLBACK)
        goto fail;
    self->task = async_mp_strdup (map, "task");
    self->queue = async_mp_strdup (map, "queue");
    self->agent = async_mp_strdup (map, "agent");
    self->retry = async_mp_strdup (map, "retry");
    self->key = async_mp_strdup (map, "key");
    if (!self->queue)
        self->queue = strdup ("default");
    self->priority = s_get_int (map, "priority");
    self->seq = (uint64_t) s_get_int (map, "seq");
    self->submitted = s_get_int (map, "submitted");
    self->begin_after = s_get_int (map, "begin_after");
    self->begin_by = s_get_int (map, "begin_by");
    self->timeout = s_get_int (map, "timeout");
    self->active_start = s_get_int (map, "active_start");
    self->active_end = s_get_int (map, "active_end");
    self->completed_at = s_get_int (map, "completed_at");
    self->not_before = s_get_int (map, "not_before");
    self->attempts = (int) s_get_int (map, "attempts");
    self->interruptions = (int) s_get_int (map, "interruptions");
    self->token = (uint64_t) s_get_int (map, "token");
    self->child_index = (int) s_get_int (map, "child_index");
    self->children_done = (size_t) s_get_int (map, "children_done");
    s_get_id (map, "node", self->node);
    s_get_id (map, "parent", self->parent);
    s_get_id (map, "postprocess_id", self->postprocess_id);
    s_get_id (map, "handoff", self->handoff);
    async_mp_bool (map, "held", &self->held);
    self->on = (int) s_get_int (map, "on");
    self->callbacks_next = (int) s_get_int (map, "callbacks_next");
    self->cancelled_at = s_get_int (map, "cancelled_at");
    if (s_get_blob (map, "args", &self->args)
    ||  s_get_blob (map, "kwargs", &self->kwargs)
    ||  s_get_blob (map, "result", &self->result)
    ||  s_get_blob (map, "failure", &self->failure)
    ||  s_get_blob (map, "quotas", &self->quotas)
    ||  s_get_blob (map, "postprocess", &self->postprocess)
    ||  s_get_blob (map, "annotations", &self->annotations)
    ||  s_get_blob (map, "progress", &self->progress)
    ||  s_get_ids (map, "children", &self->children, &self->nchildren)
    ||  s_get_ids (map, "callbacks", &self->callbacks, &self->ncallbacks))
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
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    async_job_t *self = NULL;
    if (msgpack_unpack_next (&unpacked, data, size, &offset) == MSGPACK_UNPACK_SUCCESS)
        self = async_job_decode_object (&unpacked.data);
    msgpack_unpacked_destroy (&unpacked);
    return self;
}

//  ---------------------------------------------------------------------
//  JSON (SPEC section 6)

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
s_ids_json (char **ids, size_t count)
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
    if (*self->postprocess_id)
        json_object_set_new (job, "postprocess", json_string (self->postprocess_id));
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
