/*  =========================================================================
    handoffs - the jobs whose run handed off to another job (handoffs.h)
    =========================================================================
*/
#include "handoffs.h"
#include "async_alloc.h"

struct _handoffs_t {
    zhashx_t *targets;  //  target id -> zlistx_t of waiting ids;
                        //  no destructor: handoffs_take gives them away
};

handoffs_t *
handoffs_new (void)
{
    handoffs_t *self = (handoffs_t *) async_xcalloc (1, sizeof (handoffs_t));
    self->targets = zhashx_new ();
    assert (self->targets);
    return self;
}

void
handoffs_destroy (handoffs_t **self_p)
{
    handoffs_t *self = *self_p;
    if (self) {
        zlistx_t *list = (zlistx_t *) zhashx_first (self->targets);
        for (; list; list = (zlistx_t *) zhashx_next (self->targets))
            zlistx_destroy (&list);
        zhashx_destroy (&self->targets);
        free (self);
        *self_p = NULL;
    }
}

void
handoffs_add (handoffs_t *self, const char *target, const char *waiting)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->targets, target);
    if (!list) {
        list = zlistx_new ();
        assert (list);
        zlistx_set_destructor (list, (zlistx_destructor_fn *) zstr_free);
        zhashx_insert (self->targets, target, list);
    }
    zlistx_add_end (list, async_xstrdup (waiting));
}

zlistx_t *
handoffs_take (handoffs_t *self, const char *target)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->targets, target);
    if (list)
        zhashx_delete (self->targets, target);
    return list;
}

size_t
handoffs_size (handoffs_t *self)
{
    return zhashx_size (self->targets);
}
