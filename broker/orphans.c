/*  =========================================================================
    orphans - the jobs a restarted broker found on nodes (orphans.h)
    =========================================================================
*/
#include "orphans.h"
#include "async_alloc.h"
#include "asyncmesh/id.h"

typedef struct {
    char id [ASYNC_ID_LEN];
    int64_t deadline;  //  monotonic us
} s_orphan_t;

struct _orphans_t {
    zhashx_t *orphans;  //  id -> s_orphan_t
};

static void
s_orphan_free (void **item)
{
    free (*item);
    *item = NULL;
}

orphans_t *
orphans_new (void)
{
    orphans_t *self = (orphans_t *) async_xcalloc (1, sizeof (orphans_t));
    self->orphans = zhashx_new ();
    assert (self->orphans);
    zhashx_set_destructor (self->orphans, s_orphan_free);
    return self;
}

void
orphans_destroy (orphans_t **self_p)
{
    orphans_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->orphans);
        free (self);
        *self_p = NULL;
    }
}

void
orphans_add (orphans_t *self, const char *id, int64_t deadline)
{
    s_orphan_t *orphan = (s_orphan_t *) async_xcalloc (1, sizeof (s_orphan_t));
    snprintf (orphan->id, sizeof orphan->id, "%s", id);
    orphan->deadline = deadline;
    if (zhashx_insert (self->orphans, orphan->id, orphan))
        free (orphan);
}

void
orphans_remove (orphans_t *self, const char *id)
{
    zhashx_delete (self->orphans, id);
}

void
orphans_credit (orphans_t *self, int64_t credit)
{
    s_orphan_t *orphan = (s_orphan_t *) zhashx_first (self->orphans);
    for (; orphan; orphan = (s_orphan_t *) zhashx_next (self->orphans))
        orphan->deadline += credit;
}

zlistx_t *
orphans_expire (orphans_t *self, int64_t mono)
{
    zlistx_t *expired = zlistx_new ();
    assert (expired);
    zlistx_set_destructor (expired, (zlistx_destructor_fn *) zstr_free);
    s_orphan_t *orphan = (s_orphan_t *) zhashx_first (self->orphans);
    for (; orphan; orphan = (s_orphan_t *) zhashx_next (self->orphans))
        if (mono > orphan->deadline)
            zlistx_add_end (expired, async_xstrdup (orphan->id));
    const char *id = (const char *) zlistx_first (expired);
    for (; id; id = (const char *) zlistx_next (expired))
        zhashx_delete (self->orphans, id);
    return expired;
}

size_t
orphans_size (orphans_t *self)
{
    return zhashx_size (self->orphans);
}
