/*  =========================================================================
    quota - the broker's cluster quotas (quota.h)
    =========================================================================
*/
#include "quota.h"
#include "async_codec.h"
#include "async_alloc.h"
#include <czmq.h>

typedef struct {
    int64_t size;
    int64_t running;            //  jobs naming it, assigned or active
} s_entry_t;

struct _quota_t {
    zhashx_t *entries;          //  name -> s_entry_t
};

static void
s_entry_free (void **item)
{
    free (*item);
    *item = NULL;
}

quota_t *
quota_new (void)
{
    quota_t *self = (quota_t *) async_xcalloc (1, sizeof (quota_t));
    assert (self);
    self->entries = zhashx_new ();
    assert (self->entries);
    zhashx_set_destructor (self->entries, s_entry_free);
    return self;
}

void
quota_destroy (quota_t **self_p)
{
    quota_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->entries);
        free (self);
        *self_p = NULL;
    }
}

bool
quota_set (quota_t *self, const char *name, int64_t size)
{
    assert (size >= 1 && size <= QUOTA_SIZE_MAX);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, name);
    bool made = !entry;
    if (made) {
        entry = (s_entry_t *) async_xcalloc (1, sizeof (s_entry_t));
        assert (entry);
        zhashx_insert (self->entries, name, entry);
    }
    entry->size = size;
    return made;
}

int
quota_delete (quota_t *self, const char *name)
{
    if (!zhashx_lookup (self->entries, name))
        return -1;
    zhashx_delete (self->entries, name);
    return 0;
}

//  The names in a msgpack array of names (NULL-terminated, caller frees
//  with s_names_free), or NULL
static char **
s_names (const async_blob_t *quotas)
{
    if (!quotas->size)
        return NULL;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    char **names = NULL;
    if (msgpack_unpack_next (&unpacked, (const char *) quotas->data, quotas->size,
                             &offset) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_ARRAY) {
        const msgpack_object *array = &unpacked.data;
        names = async_xcalloc (array->via.array.size + 1, sizeof (char *));
        assert (names);
        size_t n = 0;
        for (uint32_t i = 0; i < array->via.array.size; i++) {
            char name [ASYNC_MAX_NAME + 1];
            if (async_mp_strcpy (&array->via.array.ptr [i], name, sizeof name) == 0)
                names [n++] = async_xstrdup (name);
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    return names;
}

static void
s_names_free (char **names)
{
    for (char **name = names; name && *name; name++)
        free (*name);
    free (names);
}

void
quota_count (quota_t *self, const async_blob_t *quotas, int delta)
{
    char **names = s_names (quotas);
    for (char **name = names; name && *name; name++) {
        s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, *name);
        if (entry)
            entry->running += delta;
    }
    s_names_free (names);
}

void
quota_count_one (quota_t *self, const async_blob_t *quotas, const char *name, int delta)
{
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, name);
    char **names = entry ? s_names (quotas) : NULL;
    for (char **each = names; each && *each; each++)
        if (streq (*each, name)) {
            entry->running += delta;
            break;
        }
    s_names_free (names);
}

bool
quota_allows (quota_t *self, const char *quotas)
{
    if (!quotas)
        return true;
    char *copy = async_xstrdup (quotas), *save = NULL;
    assert (copy);
    bool allowed = true;
    for (char *name = strtok_r (copy, ",", &save); name && allowed;
         name = strtok_r (NULL, ",", &save)) {
        s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, name);
        if (entry && entry->running >= entry->size)
            allowed = false;
    }
    free (copy);
    return allowed;
}

int
quota_check (quota_t *self, const async_blob_t *quotas, char *err, size_t err_size)
{
    char **names = s_names (quotas);
    int rc = 0;
    for (char **name = names; name && *name && rc == 0; name++)
        if (!zhashx_lookup (self->entries, *name)) {
            snprintf (err, err_size, "unknown quota '%.64s'; create it with "
                      "'asyncctl quota set %.64s SIZE'", *name, *name);
            rc = -1;
        }
    s_names_free (names);
    return rc;
}

char *
quota_lane (const async_blob_t *quotas)
{
    char **names = s_names (quotas);
    if (!names || !names [0]) {
        s_names_free (names);
        return NULL;
    }
    size_t len = 1;
    for (char **name = names; *name; name++)
        len += strlen (*name) + 1;
    char *lane = async_xcalloc (1, len);
    assert (lane);
    for (char **name = names; *name; name++) {
        if (*lane)
            strcat (lane, ",");
        strcat (lane, *name);
    }
    s_names_free (names);
    return lane;
}

void
quota_pack_list (quota_t *self, msgpack_packer *pk)
{
    msgpack_pack_array (pk, zhashx_size (self->entries));
    s_entry_t *entry = (s_entry_t *) zhashx_first (self->entries);
    while (entry) {
        msgpack_pack_map (pk, 3);
        async_codec_pack_str (pk, "name");
        async_codec_pack_str (pk, (const char *) zhashx_cursor (self->entries));
        async_codec_pack_str (pk, "size");
        msgpack_pack_int64 (pk, entry->size);
        async_codec_pack_str (pk, "running");
        msgpack_pack_int64 (pk, entry->running);
        entry = (s_entry_t *) zhashx_next (self->entries);
    }
}
