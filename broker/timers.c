/*  =========================================================================
    timers - the broker's time-ordered work (timers.h)
    =========================================================================
*/
#include "timers.h"
#include "async_alloc.h"
#include "async_codec.h"
#include <czmq.h>

//  The scheduled jobs and backoffs of one queue, counted for STATUS
typedef struct {
    int64_t count;
    char name [ASYNC_MAX_NAME + 1];
} s_queue_t;

//  A pending job due at `when` (wall us: its s or d key). A retry's
//  backoff is a duration: it is due at `mono` (monotonic us) instead
typedef struct {
    int64_t when;
    int64_t mono;
    char id [ASYNC_ID_LEN];
    s_queue_t *queue;           //  scheduled jobs and backoffs: their queue, or NULL
    bool backoff;               //  in backoffs, not in scheduled
    void *handle;               //  in its list
} s_entry_t;

struct _timers_t {
    zlistx_t *scheduled;        //  s_entry_t *, sorted by when
    zlistx_t *backoffs;         //  s_entry_t *: retries, sorted by mono
    zlistx_t *deadlines;        //  s_entry_t *: begin_by of pending jobs
    zhashx_t *queues;           //  queue -> s_queue_t: entries of scheduled and backoffs
    zhashx_t *index;            //  id -> s_entry_t *: the entries of scheduled and
                                //  backoffs (not owned), for timers_forget
    int64_t last_turn;          //  monotonic us: the loop's last run (timers_gap)
};

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static int
s_scheduled_compare (const void *a, const void *b)
{
    const s_entry_t *x = (const s_entry_t *) a, *y = (const s_entry_t *) b;
    if (x->when != y->when)
        return x->when < y->when ? -1 : 1;
    return strcmp (x->id, y->id);
}

static int
s_backoff_compare (const void *a, const void *b)
{
    const s_entry_t *x = (const s_entry_t *) a, *y = (const s_entry_t *) b;
    if (x->mono != y->mono)
        return x->mono < y->mono ? -1 : 1;
    return strcmp (x->id, y->id);
}

static zlistx_t *
s_list_new (int (*compare) (const void *, const void *))
{
    zlistx_t *list = zlistx_new ();
    assert (list);
    zlistx_set_destructor (list, s_free_item);
    zlistx_set_comparator (list, compare);
    return list;
}

timers_t *
timers_new (void)
{
    timers_t *self = (timers_t *) async_xcalloc (1, sizeof (timers_t));
    assert (self);
    self->scheduled = s_list_new (s_scheduled_compare);
    self->backoffs = s_list_new (s_backoff_compare);
    self->deadlines = s_list_new (s_scheduled_compare);
    self->queues = zhashx_new ();
    assert (self->queues);
    zhashx_set_destructor (self->queues, s_free_item);
    self->index = zhashx_new ();
    assert (self->index);
    return self;
}

void
timers_destroy (timers_t **self_p)
{
    assert (self_p);
    timers_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->index);
    zlistx_destroy (&self->scheduled);
    zlistx_destroy (&self->backoffs);
    zhashx_destroy (&self->queues);
    zlistx_destroy (&self->deadlines);
    free (self);
    *self_p = NULL;
}

//  A new entry for job `id`, due at wall time `when`
static s_entry_t *
s_entry_new (const char *id, int64_t when)
{
    s_entry_t *entry = (s_entry_t *) async_xcalloc (1, sizeof (s_entry_t));
    assert (entry);
    entry->when = when;
    memcpy (entry->id, id, ASYNC_ID_LEN - 1);
    return entry;
}

//  Count an entry in its queue (STATUS reads the counts, not the records
//  of the scheduled jobs)
static void
s_count (timers_t *self, s_entry_t *entry, const char *queue)
{
    if (!queue)
        return;
    s_queue_t *row = (s_queue_t *) zhashx_lookup (self->queues, queue);
    if (!row) {
        row = (s_queue_t *) async_xcalloc (1, sizeof (s_queue_t));
        assert (row);
        snprintf (row->name, sizeof row->name, "%s", queue);
        zhashx_insert (self->queues, row->name, row);
    }
    row->count++;
    entry->queue = row;
}

//  The entry leaves its list (scheduled or backoffs): its count, its
//  place in the index
static void
s_uncount (timers_t *self, s_entry_t *entry)
{
    s_queue_t *row = entry->queue;
    entry->queue = NULL;
    if (row && --row->count == 0)
        zhashx_delete (self->queues, row->name);
    if (zhashx_lookup (self->index, entry->id) == entry)
        zhashx_delete (self->index, entry->id);
}

//  Put a scheduled job or backoff in `list`, and in the index (a job has
//  one at most: its s key)
static void
s_insert (timers_t *self, zlistx_t *list, s_entry_t *entry)
{
    entry->handle = zlistx_insert (list, entry, false);
    zhashx_update (self->index, entry->id, entry);
}

void
timers_schedule (timers_t *self, const char *id, int64_t when, const char *queue)
{
    assert (self && id);
    s_entry_t *entry = s_entry_new (id, when);
    s_count (self, entry, queue);
    s_insert (self, self->scheduled, entry);
}

void
timers_backoff (timers_t *self, const char *id, int64_t when, int64_t mono,
                const char *queue)
{
    assert (self && id);
    s_entry_t *entry = s_entry_new (id, when);
    entry->mono = mono;
    entry->backoff = true;
    s_count (self, entry, queue);
    s_insert (self, self->backoffs, entry);
}

void
timers_deadline (timers_t *self, const char *id, int64_t when)
{
    assert (self && id);
    zlistx_insert (self->deadlines, s_entry_new (id, when), false);
}

bool
timers_forget (timers_t *self, const char *id)
{
    assert (self && id);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->index, id);
    if (!entry)
        return false;
    zlistx_t *list = entry->backoff ? self->backoffs : self->scheduled;
    void *handle = entry->handle;
    s_uncount (self, entry);
    zlistx_delete (list, handle);
    return true;
}

//  Pop the first entry of `list` into *due if `time` (its when, or its
//  mono for the backoffs) is at most `until`
static bool
s_pop_due (timers_t *self, zlistx_t *list, bool by_mono, int64_t until, timers_due_t *due)
{
    s_entry_t *entry = (s_entry_t *) zlistx_first (list);
    if (!entry || (by_mono ? entry->mono : entry->when) > until)
        return false;
    due->when = entry->when;
    memcpy (due->id, entry->id, ASYNC_ID_LEN);
    s_uncount (self, entry);
    zlistx_delete (list, zlistx_cursor (list));
    return true;
}

bool
timers_scheduled_due (timers_t *self, int64_t now, timers_due_t *due)
{
    assert (self && due);
    return s_pop_due (self, self->scheduled, false, now + TIMERS_EARLY_US, due);
}

bool
timers_backoff_due (timers_t *self, int64_t mono, timers_due_t *due)
{
    assert (self && due);
    return s_pop_due (self, self->backoffs, true, mono + TIMERS_EARLY_US, due);
}

bool
timers_deadline_due (timers_t *self, int64_t now, timers_due_t *due)
{
    assert (self && due);
    return s_pop_due (self, self->deadlines, false, now, due);
}

int64_t
timers_wait (timers_t *self, int64_t now, int64_t mono, int64_t wait_us)
{
    assert (self);
    s_entry_t *first = (s_entry_t *) zlistx_first (self->scheduled);
    if (first && first->when - now < wait_us)
        wait_us = first->when - now;
    first = (s_entry_t *) zlistx_first (self->deadlines);
    if (first && first->when - now < wait_us)
        wait_us = first->when - now;
    first = (s_entry_t *) zlistx_first (self->backoffs);
    if (first && first->mono - mono < wait_us)
        wait_us = first->mono - mono;
    return wait_us;
}

void
timers_each (timers_t *self, char phase, int64_t when, const char *id,
             timers_visit_fn *visit, void *arg)
{
    assert (self && visit);
    zlistx_t *list = phase == 's' ? self->scheduled : self->backoffs;
    int (*compare) (const void *, const void *)
        = phase == 's' ? s_scheduled_compare : s_backoff_compare;
    s_entry_t *entry = (s_entry_t *) zlistx_first (list);
    if (id) {
        //  Skip what was visited: the list is sorted by (when or mono, id)
        s_entry_t mark = { .when = when, .mono = when };
        memcpy (mark.id, id, sizeof mark.id);
        while (entry && compare (entry, &mark) <= 0)
            entry = (s_entry_t *) zlistx_next (list);
    }
    while (entry && visit (arg, phase, phase == 's' ? entry->when : entry->mono, entry->id))
        entry = (s_entry_t *) zlistx_next (list);
}

int64_t
timers_queue_count (timers_t *self, const char *queue)
{
    assert (self && queue);
    s_queue_t *row = zhashx_size (self->queues)
                   ? (s_queue_t *) zhashx_lookup (self->queues, queue) : NULL;
    return row ? row->count : -1;
}

void
timers_each_queue (timers_t *self, timers_queue_fn *fn, void *arg)
{
    assert (self && fn);
    s_queue_t *row = (s_queue_t *) zhashx_first (self->queues);
    while (row) {
        fn (arg, row->name, row->count);
        row = (s_queue_t *) zhashx_next (self->queues);
    }
}

size_t
timers_scheduled_size (timers_t *self)
{
    assert (self);
    return zlistx_size (self->scheduled);
}

int64_t
timers_gap (timers_t *self, int64_t mono)
{
    assert (self);
    int64_t gap = self->last_turn ? mono - self->last_turn : 0;
    self->last_turn = mono;
    return gap;
}

int64_t
timers_mono_from_wall (int64_t wall, int64_t mono_now, int64_t now)
{
    int64_t ago = now - wall;
    return mono_now - (ago > 0 ? ago : 0);
}
