/*  =========================================================================
    gathers - the summaries of parents' children (gathers.h)
    =========================================================================
*/
#include "gathers.h"
#include "async_alloc.h"
#include "async_codec.h"
#include <czmq.h>

//  One parent's summaries
typedef struct {
    size_t count;
    async_blob_t *summaries;  //  by child_index; size 0: not gathered
    size_t bytes;
} s_gather_t;

struct _gathers_t {
    zhashx_t *gathers;  //  parent id -> s_gather_t
    size_t bytes;       //  held in all of them
    size_t budget;
};

static void
s_gather_destroy (s_gather_t **self_p)
{
    s_gather_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        async_blob_clear (&self->summaries [i]);
    free (self->summaries);
    free (self);
    *self_p = NULL;
}

gathers_t *
gathers_new (size_t budget)
{
    gathers_t *self = (gathers_t *) async_xcalloc (1, sizeof (gathers_t));
    self->gathers = zhashx_new ();
    assert (self->gathers);
    zhashx_set_destructor (self->gathers, (zhashx_destructor_fn *) s_gather_destroy);
    self->budget = budget;
    return self;
}

void
gathers_destroy (gathers_t **self_p)
{
    gathers_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->gathers);
        free (self);
        *self_p = NULL;
    }
}

void
gathers_add (gathers_t *self, const char *parent_id, size_t count, size_t index,
             gathers_pack_fn *pack, void *arg)
{
    if (index >= count || self->bytes >= self->budget)
        return;
    s_gather_t *gather = (s_gather_t *) zhashx_lookup (self->gathers, parent_id);
    if (!gather) {
        //  A cache: without memory for it, the postprocess reads the
        //  children back (plain calloc: no need to stop for it)
        gather = calloc (1, sizeof (s_gather_t));
        if (gather)
            gather->summaries = calloc (count, sizeof (async_blob_t));
        if (!gather || !gather->summaries) {
            free (gather);
            return;  //  the postprocess reads them back instead
        }
        gather->count = count;
        zhashx_insert (self->gathers, parent_id, gather);
    }
    async_blob_t *slot = &gather->summaries [index];
    if (gather->count != count || slot->size)
        return;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    pack (&pk, arg);
    async_blob_take (slot, (uint8_t *) buffer.data, buffer.size);
    gather->bytes += buffer.size;
    self->bytes += buffer.size;
}

const async_blob_t *
gathers_summaries (gathers_t *self, const char *parent_id, size_t count)
{
    s_gather_t *gather = (s_gather_t *) zhashx_lookup (self->gathers, parent_id);
    return gather && gather->count == count ? gather->summaries : NULL;
}

void
gathers_drop (gathers_t *self, const char *parent_id)
{
    s_gather_t *gather = zhashx_size (self->gathers)
        ? (s_gather_t *) zhashx_lookup (self->gathers, parent_id)
        : NULL;
    if (gather) {
        self->bytes -= gather->bytes;
        zhashx_delete (self->gathers, parent_id);
    }
}

size_t
gathers_bytes (gathers_t *self)
{
    return self->bytes;
}
