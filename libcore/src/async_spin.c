/*  =========================================================================
    async_spin - poll for a short while before sleeping (see async_spin.h)
    =========================================================================
*/
#include "async_spin.h"
#include "async_util.h"
#include <sched.h>

void
async_spin_init (async_spin_t *self, int64_t limit_us)
{
    self->window = 0;
    self->limit = limit_us > 0 ? limit_us : 0;
    self->since = 0;
}

int64_t
async_spin_begin (async_spin_t *self)
{
    self->since = async_mono_us ();
    return self->window;
}

void
async_spin_end (async_spin_t *self)
{
    if (self->since)
        async_spin_adapt (self, async_mono_us () - self->since);
    self->since = 0;
}

void
async_spin_timeout (async_spin_t *self)
{
    if (self->since) {
        int64_t waited = async_mono_us () - self->since;
        if (waited > self->limit)
            async_spin_adapt (self, waited);
    }
    self->since = 0;
}

void
async_spin_adapt (async_spin_t *self, int64_t waited_us)
{
    if (waited_us <= self->window)
        return;                 //  caught while polling
    if (waited_us <= self->limit) {
        //  Came soon after the window: a longer one would have caught it
        int64_t window = self->window ? self->window * 2 : ASYNC_SPIN_START_US;
        self->window = window < self->limit ? window : self->limit;
    }
    else {
        //  Longer than polling is worth: poll less
        self->window /= 2;
        if (self->window < ASYNC_SPIN_START_US)
            self->window = 0;
    }
}

void
async_spin_yield (void)
{
    sched_yield ();
}
