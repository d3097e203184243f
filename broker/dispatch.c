/*  =========================================================================
    dispatch - which pending job goes to which agent
    =========================================================================
*/
#include "dispatch.h"
#include "ordset.h"
#include "async_idmap.h"
#include "async_util.h"
#include "async_alloc.h"
#include <czmq.h>

typedef struct _entry_t entry_t;
typedef struct _lane_t lane_t;

struct _entry_t {
    char id [ASYNC_ID_LEN];
    uint64_t seq;
    lane_t *lane;
    entry_t *prev, *next;
};

struct _lane_t {
    void *queue;                //  queue_t of this lane
    char *task;
    char *quotas;               //  NULL: none
    int64_t priority;
    entry_t *head, *tail;
    size_t size;
};

//  A pending job's place in its queue: priority (higher first), then seq
typedef struct {
    int64_t priority;
    uint64_t seq;
} place_t;

//  A queue holds at most a window of its pending jobs in memory: every
//  job placed at or before `last` is in memory, and when `spilled`, the
//  jobs placed after `last` are only in the store (the broker reads them
//  back, `refill`, as the window drains). `probe` scans further for jobs
//  that a free agent accepts when none in the window is (extras: loaded
//  early, `last` does not move).
typedef struct {
    char *name;
    zlistx_t *lanes;            //  of lane_t, owned
    size_t size;                //  jobs in memory
    size_t total;               //  pending jobs, in memory and in the store
    bool spilled;               //  jobs after `last` are in the store only
    place_t last;               //  the last place held in memory
    bool probe_wanted;          //  a free agent found nothing it accepts here
    bool probe_done;            //  the probe reached the end of the queue
    place_t probe;              //  where the last probe stopped
    bool dirty;                 //  total changed since dispatch_each_dirty
                                //  (and on the dispatch's dirty_queues)
    bool listed_spilled;        //  on the dispatch's spilled_queues
    uint64_t refill_pass;       //  the refill pass that last gave it out
    bool paused;                //  dispatch hands out none of its jobs
} queue_t;

//  A node's task names, shared by its agents (one copy per node, not one
//  per agent)
typedef struct {
    zhashx_t *names;            //  name -> (void *) 1
    size_t refs;
} s_tasks_t;

static void
s_tasks_unref (s_tasks_t **self_p)
{
    s_tasks_t *self = *self_p;
    if (self && --self->refs == 0) {
        zhashx_destroy (&self->names);
        free (self);
    }
    *self_p = NULL;
}

struct _dispatch_agent_t {
    dispatch_t *dispatch;
    void *owner;
    char *name;
    int size;
    int used;
    char **queues;
    char **include;
    char **exclude;
    char *filter_text;
    char *queues_text;
    zhashx_t *verdicts;         //  task -> (void *) 1 accept / 2 refuse
    size_t verdict_bytes;       //  what they take (s_verdict_cost)
    s_tasks_t *tasks;           //  the node's tasks, or NULL: any
    void *handle;               //  in dispatch's list of agents
    size_t pending;             //  jobs only it takes (dispatch_count_pending)
};

struct _dispatch_t {
    zhashx_t *queues;           //  name -> queue_t
    zlistx_t *dirty_queues;     //  queue_t * whose total changed (not owned)
    zlistx_t *spilled_queues;   //  queue_t * spilled, or that were (not owned)
    uint64_t refill_pass;       //  counts the passes of dispatch_refill_next
    ordset_t *names;            //  the names of the queues, in order
    ordset_t *paused;           //  the names of the paused queues, in order
    async_idmap_t *entries;     //  id -> entry_t
    zlistx_t *agents;           //  of dispatch_agent_t, owned
    size_t rotate;              //  round-robin start
    dispatch_agent_t **ring;    //  the agents in list order, for round-robin
    size_t nring;
    size_t nfree;               //  agents in the ring with a free slot
    size_t used;                //  slots taken, over all agents
    size_t window;              //  jobs held in memory per queue (0: all)
    size_t verdict_bytes;       //  the verdicts of all agents take
    zhashx_t *spilled_now;      //  id -> queue name: spilled in the batch being staged
    zhashx_t *spilled_flight;   //  the same for the batch being written
    zhashx_t *takers;           //  "queue\x1ftask" -> the only agent that
                                //  takes it, S_TAKERS_MANY or S_TAKERS_NONE:
                                //  s_takers' answers, until the agents change
};

//  The takers of a (queue, task) that is not one agent: a pointer no
//  agent has
#define S_TAKERS_MANY ((void *) 1)
#define S_TAKERS_NONE ((void *) 2)

//  -1 if a goes before b in its queue, 0 same place, 1 after
static int
s_place_cmp (place_t a, place_t b)
{
    if (a.priority != b.priority)
        return a.priority > b.priority ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0;
}

static char **
s_strv_dup (const char **strv, const char *fallback)
{
    size_t count = 0;
    while (strv && strv [count])
        count++;
    char **copy = async_xcalloc (count + 2, sizeof (char *));
    for (size_t i = 0; i < count; i++)
        copy [i] = async_xstrdup (strv [i]);
    if (count == 0 && fallback)
        copy [0] = async_xstrdup (fallback);
    return copy;
}

static void
s_strv_free (char ***strv_p)
{
    for (char **s = *strv_p; s && *s; s++)
        free (*s);
    free (*strv_p);
    *strv_p = NULL;
}

static void
s_lane_destroy (lane_t **self_p)
{
    lane_t *self = *self_p;
    if (self) {
        free (self->task);
        free (self->quotas);
        free (self);
        *self_p = NULL;
    }
}

static void
s_queue_destroy (queue_t **self_p)
{
    queue_t *self = *self_p;
    if (self) {
        zlistx_destroy (&self->lanes);
        free (self->name);
        free (self);
        *self_p = NULL;
    }
}

static void
s_agent_destroy (dispatch_agent_t **self_p)
{
    dispatch_agent_t *self = *self_p;
    if (self) {
        free (self->name);
        s_strv_free (&self->queues);
        s_strv_free (&self->include);
        s_strv_free (&self->exclude);
        free (self->filter_text);
        free (self->queues_text);
        zhashx_destroy (&self->verdicts);
        s_tasks_unref (&self->tasks);
        free (self);
        *self_p = NULL;
    }
}

//  The agents as an array: dispatch_next starts at any of them in O(1)
static void
s_ring_rebuild (dispatch_t *self)
{
    free (self->ring);
    self->nring = zlistx_size (self->agents);
    self->ring = async_xcalloc (self->nring + 1, sizeof (dispatch_agent_t *));
    size_t i = 0;
    self->nfree = 0;
    dispatch_agent_t *agent = (dispatch_agent_t *) zlistx_first (self->agents);
    while (agent) {
        self->ring [i++] = agent;
        self->nfree += agent->used < agent->size;
        agent = (dispatch_agent_t *) zlistx_next (self->agents);
    }
}

//  Change an agent's used slots, keeping the count of agents with a free
//  one (dispatch_next stops at once when there is none: with hundreds of
//  one-slot agents, all busy, a turn's last call would walk them all)
static void
s_agent_use (dispatch_agent_t *agent, int delta)
{
    bool was_free = agent->used < agent->size;
    int used = agent->used;
    agent->used += delta;
    if (agent->used < 0)
        agent->used = 0;
    if (agent->dispatch)
        agent->dispatch->used += agent->used - used;
    bool is_free = agent->used < agent->size;
    if (agent->dispatch && was_free != is_free) {
        if (is_free)
            agent->dispatch->nfree++;
        else
        if (agent->dispatch->nfree > 0)
            agent->dispatch->nfree--;
    }
}

//  The queue's total changed: dispatch_each_dirty reports it
static void
s_queue_dirty (dispatch_t *self, queue_t *queue)
{
    if (!queue->dirty) {
        queue->dirty = true;
        zlistx_add_end (self->dirty_queues, queue);
    }
}

//  The queue has jobs in the store only: dispatch_refill_next looks at it
static void
s_queue_spilled (dispatch_t *self, queue_t *queue)
{
    queue->spilled = true;
    if (!queue->listed_spilled) {
        queue->listed_spilled = true;
        zlistx_add_end (self->spilled_queues, queue);
    }
}

dispatch_t *
dispatch_new (void)
{
    dispatch_t *self = async_xcalloc (1, sizeof (dispatch_t));
    self->queues = zhashx_new ();
    zhashx_set_destructor (self->queues, (zhashx_destructor_fn *) s_queue_destroy);
    self->names = ordset_new ();
    self->paused = ordset_new ();
    //  Keyed by the entry's own id: no copy of the key per job
    self->entries = async_idmap_new ();
    async_idmap_set_destructor (self->entries, (async_idmap_destructor_fn *) zstr_free);
    self->spilled_now = zhashx_new ();
    self->spilled_flight = zhashx_new ();
    //  A commit looks at the queues it changed and the spilled ones only,
    //  not at every queue (300,000 of them held the loop tens of ms)
    self->dirty_queues = zlistx_new ();
    self->spilled_queues = zlistx_new ();
    self->agents = zlistx_new ();
    zlistx_set_destructor (self->agents, (zlistx_destructor_fn *) s_agent_destroy);
    self->takers = zhashx_new ();
    return self;
}

void
dispatch_destroy (dispatch_t **self_p)
{
    dispatch_t *self = *self_p;
    if (!self)
        return;
    async_idmap_destroy (&self->entries);     //  entries are plain allocations
    zhashx_destroy (&self->spilled_now);
    zhashx_destroy (&self->spilled_flight);
    zlistx_destroy (&self->dirty_queues);
    zlistx_destroy (&self->spilled_queues);
    zhashx_destroy (&self->queues);
    ordset_destroy (&self->names);
    ordset_destroy (&self->paused);
    zlistx_destroy (&self->agents);
    zhashx_destroy (&self->takers);
    free (self->ring);
    free (self);
    *self_p = NULL;
}

static queue_t *
s_queue_require (dispatch_t *self, const char *name)
{
    queue_t *queue = (queue_t *) zhashx_lookup (self->queues, name);
    if (!queue) {
        queue = async_xcalloc (1, sizeof (queue_t));
        queue->name = async_xstrdup (name);
        queue->lanes = zlistx_new ();
        zlistx_set_destructor (queue->lanes, (zlistx_destructor_fn *) s_lane_destroy);
        zhashx_insert (self->queues, name, queue);
        ordset_insert (self->names, name);
    }
    return queue;
}

static lane_t *
s_lane_require (queue_t *queue, const char *task, int64_t priority, const char *quotas)
{
    if (quotas && !*quotas)
        quotas = NULL;
    lane_t *lane = (lane_t *) zlistx_first (queue->lanes);
    while (lane) {
        if (lane->priority == priority && strcmp (lane->task, task) == 0
        &&  (lane->quotas == quotas
             || (lane->quotas && quotas && strcmp (lane->quotas, quotas) == 0)))
            return lane;
        lane = (lane_t *) zlistx_next (queue->lanes);
    }
    lane = async_xcalloc (1, sizeof (lane_t));
    lane->queue = queue;
    lane->quotas = quotas ? async_xstrdup (quotas) : NULL;
    lane->task = async_xstrdup (task);
    lane->priority = priority;
    zlistx_add_end (queue->lanes, lane);
    return lane;
}

bool
dispatch_push (dispatch_t *self, const char *id, const char *task,
               const char *queue_name, int64_t priority, uint64_t seq, bool head)
{
    return dispatch_push_quotas (self, id, task, queue_name, priority, seq, head, NULL);
}

static bool s_agent_serves (dispatch_agent_t *agent, const char *queue);

//  Put an entry in memory, in its lane
static void
s_hold (dispatch_t *self, queue_t *queue, const char *id, const char *task,
        int64_t priority, uint64_t seq, bool head, const char *quotas)
{
    lane_t *lane = s_lane_require (queue, task, priority, quotas);
    entry_t *entry = async_xcalloc (1, sizeof (entry_t));
    memcpy (entry->id, id, ASYNC_ID_CHARS);
    entry->seq = seq;
    entry->lane = lane;
    if (head) {
        entry->next = lane->head;
        if (lane->head)
            lane->head->prev = entry;
        lane->head = entry;
        if (!lane->tail)
            lane->tail = entry;
    }
    else {
        //  Usually appended; keep the lane sorted by seq for restored jobs
        entry_t *after = lane->tail;
        while (after && after->seq > seq)
            after = after->prev;
        entry->prev = after;
        entry->next = after ? after->next : lane->head;
        if (entry->next)
            entry->next->prev = entry;
        else
            lane->tail = entry;
        if (after)
            after->next = entry;
        else
            lane->head = entry;
    }
    lane->size++;
    queue->size++;
    async_idmap_insert (self->entries, entry->id, entry);
}

bool
dispatch_push_quotas (dispatch_t *self, const char *id, const char *task,
                      const char *queue_name, int64_t priority, uint64_t seq, bool head,
                      const char *quotas)
{
    if (dispatch_contains (self, id))
        return true;            //  already pending
    queue_t *queue = s_queue_require (self, queue_name);
    queue->total++;
    s_queue_dirty (self, queue);
    place_t place = { priority, seq };
    if (queue->spilled && s_place_cmp (place, queue->last) > 0) {
        //  Behind jobs that are in the store only: it waits there too
        zhashx_insert (self->spilled_now, id, queue->name);
        queue->probe_done = false;
        return false;
    }
    if (self->window && queue->size >= self->window && !queue->spilled
    &&  s_place_cmp (place, queue->last) > 0) {
        s_queue_spilled (self, queue);
        queue->probe = queue->last;
        queue->probe_done = false;
        zhashx_insert (self->spilled_now, id, queue->name);
        return false;
    }
    if (queue->size == 0 && !queue->spilled)
        queue->last = place;
    else
    if (s_place_cmp (place, queue->last) > 0)
        queue->last = place;
    s_hold (self, queue, id, task, priority, seq, head, quotas);
    return true;
}

bool
dispatch_load (dispatch_t *self, const char *id, const char *task, const char *queue_name,
               int64_t priority, uint64_t seq, const char *quotas, bool probe)
{
    queue_t *queue = s_queue_require (self, queue_name);
    place_t place = { priority, seq };
    if (probe) {
        queue->probe = place;
        //  Only what a free agent would take now
        bool wanted = false;
        dispatch_agent_t *agent = (dispatch_agent_t *) zlistx_first (self->agents);
        while (agent && !wanted) {
            wanted = agent->used < agent->size && s_agent_serves (agent, queue_name)
                  && dispatch_agent_accepts (agent, task);
            agent = (dispatch_agent_t *) zlistx_next (self->agents);
        }
        if (!wanted)
            return false;
    }
    else
    if (queue->size == 0 || s_place_cmp (place, queue->last) > 0)
        queue->last = place;
    if (async_idmap_lookup (self->entries, id))
        return false;           //  an extra the probe loaded before
    s_hold (self, queue, id, task, priority, seq, false, quotas);
    return true;
}

bool
dispatch_refill_next (dispatch_t *self, const char *after_queue, dispatch_refill_t *refill)
{
    //  A pass starts without after_queue; a queue given out once in a pass
    //  is not given again in it (its refill may have loaded nothing)
    if (!after_queue)
        self->refill_pass++;
    queue_t *queue = (queue_t *) zlistx_first (self->spilled_queues);
    while (queue) {
        if (!queue->spilled) {
            queue->listed_spilled = false;      //  in memory again
            zlistx_detach_cur (self->spilled_queues);
        }
        else
        if (queue->refill_pass != self->refill_pass
        &&  (queue->size < self->window / 2
             || (queue->probe_wanted && !queue->probe_done))) {
            queue->refill_pass = self->refill_pass;
            refill->queue = queue->name;
            refill->probe = queue->size >= self->window / 2;
            place_t from = refill->probe && s_place_cmp (queue->probe, queue->last) > 0
                         ? queue->probe : queue->last;
            refill->after_priority = from.priority;
            refill->after_seq = from.seq;
            refill->want = refill->probe ? self->window : self->window - queue->size;
            queue->probe_wanted = false;
            return true;
        }
        queue = (queue_t *) zlistx_next (self->spilled_queues);
    }
    return false;
}

void
dispatch_refill_end (dispatch_t *self, const char *queue_name, bool probe)
{
    queue_t *queue = (queue_t *) zhashx_lookup (self->queues, queue_name);
    if (!queue)
        return;
    if (probe)
        queue->probe_done = true;
    else {
        //  Everything pending is in memory again, unless jobs of the batch
        //  being staged wait in the store only (not written yet)
        const char *name = (const char *) zhashx_first (self->spilled_now);
        while (name && strcmp (name, queue_name))
            name = (const char *) zhashx_next (self->spilled_now);
        if (!name) {
            queue->spilled = false;
            queue->total = queue->size;
            s_queue_dirty (self, queue);
        }
    }
}

void
dispatch_committing (dispatch_t *self)
{
    zhashx_t *empty = self->spilled_flight;
    zhashx_purge (empty);
    self->spilled_flight = self->spilled_now;
    self->spilled_now = empty;
}

void
dispatch_committed (dispatch_t *self)
{
    zhashx_purge (self->spilled_flight);
}

void
dispatch_set_window (dispatch_t *self, size_t window)
{
    self->window = window;
}

void
dispatch_set_total (dispatch_t *self, const char *queue_name, size_t total)
{
    queue_t *queue = s_queue_require (self, queue_name);
    queue->total = total > queue->size ? total : queue->size;
    if (queue->total > queue->size)
        s_queue_spilled (self, queue);
    else
        queue->spilled = false;
    queue->probe = queue->last;
    queue->probe_done = false;
    s_queue_dirty (self, queue);
}

void
dispatch_forget (dispatch_t *self, const char *queue_name)
{
    queue_t *queue = (queue_t *) zhashx_lookup (self->queues, queue_name);
    if (queue && queue->total > queue->size) {
        queue->total--;
        s_queue_dirty (self, queue);
    }
}

bool
dispatch_spilled (dispatch_t *self, const char *queue_name, int64_t priority, uint64_t seq)
{
    queue_t *queue = (queue_t *) zhashx_lookup (self->queues, queue_name);
    place_t place = { priority, seq };
    return queue && queue->spilled && s_place_cmp (place, queue->last) > 0;
}

void
dispatch_each_dirty (dispatch_t *self,
                     void (*fn) (void *arg, const char *queue, size_t total), void *arg)
{
    queue_t *queue;
    while ((queue = (queue_t *) zlistx_detach (self->dirty_queues, NULL))) {
        queue->dirty = false;
        fn (arg, queue->name, queue->total);
    }
}

static void
s_unlink (dispatch_t *self, entry_t *entry)
{
    lane_t *lane = entry->lane;
    if (entry->prev)
        entry->prev->next = entry->next;
    else
        lane->head = entry->next;
    if (entry->next)
        entry->next->prev = entry->prev;
    else
        lane->tail = entry->prev;
    lane->size--;
    queue_t *queue = (queue_t *) lane->queue;
    queue->size--;
    queue->total--;
    s_queue_dirty (self, queue);
    async_idmap_delete (self->entries, entry->id);
    if (lane->size == 0) {
        void *handle = zlistx_find (queue->lanes, lane);
        if (handle)
            zlistx_delete (queue->lanes, handle);
    }
}

bool
dispatch_remove (dispatch_t *self, const char *id)
{
    zhashx_t *sets [2] = { self->spilled_now, self->spilled_flight };
    for (int i = 0; i < 2; i++) {
        const char *spilled = (const char *) zhashx_lookup (sets [i], id);
        if (spilled) {
            dispatch_forget (self, spilled);
            zhashx_delete (sets [i], id);
            return true;
        }
    }
    entry_t *entry = (entry_t *) async_idmap_lookup (self->entries, id);
    if (!entry)
        return false;
    s_unlink (self, entry);
    return true;
}

bool
dispatch_contains (dispatch_t *self, const char *id)
{
    return async_idmap_lookup (self->entries, id) != NULL
        || zhashx_lookup (self->spilled_now, id) != NULL
        || zhashx_lookup (self->spilled_flight, id) != NULL;
}

size_t
dispatch_pending (dispatch_t *self, const char *queue_name)
{
    size_t total = 0;
    queue_t *queue = (queue_t *) zhashx_first (self->queues);
    while (queue) {
        if (!queue_name || strcmp (queue_name, queue->name) == 0)
            total += queue->total;
        queue = (queue_t *) zhashx_next (self->queues);
    }
    return total;
}

bool
dispatch_has_queue (dispatch_t *self, const char *queue)
{
    return zhashx_lookup (self->queues, queue) != NULL;
}

bool
dispatch_pause (dispatch_t *self, const char *queue_name, bool paused)
{
    queue_t *queue = paused ? s_queue_require (self, queue_name)
                            : (queue_t *) zhashx_lookup (self->queues, queue_name);
    if (!queue || queue->paused == paused)
        return false;
    queue->paused = paused;
    if (paused)
        ordset_insert (self->paused, queue_name);
    else
        ordset_delete (self->paused, queue_name);
    return true;
}

bool
dispatch_paused (dispatch_t *self, const char *queue_name)
{
    queue_t *queue = (queue_t *) zhashx_lookup (self->queues, queue_name);
    return queue && queue->paused;
}

size_t
dispatch_paused_count (dispatch_t *self)
{
    return ordset_size (self->paused);
}

const char *
dispatch_paused_first (dispatch_t *self)
{
    return ordset_seek_after (self->paused, NULL);
}

const char *
dispatch_paused_next (dispatch_t *self)
{
    return ordset_next (self->paused);
}

void
dispatch_each_queue (dispatch_t *self,
                     void (*fn) (void *arg, const char *queue, size_t pending), void *arg)
{
    queue_t *queue = (queue_t *) zhashx_first (self->queues);
    while (queue) {
        fn (arg, queue->name, queue->total);
        queue = (queue_t *) zhashx_next (self->queues);
    }
}

//  Best lane of a queue for an agent (NULL agent: any lane)
static lane_t *
s_best_lane (queue_t *queue, dispatch_agent_t *agent, dispatch_veto_fn *veto,
             void *veto_arg, lane_t *skip_below)
{
    lane_t *best = NULL;
    lane_t *lane = (lane_t *) zlistx_first (queue->lanes);
    while (lane) {
        if (lane->head && lane != skip_below
        &&  (!agent || dispatch_agent_accepts (agent, lane->task))
        &&  (!veto || veto (veto_arg, lane->head->id, lane->task, lane->quotas))) {
            if (!best || lane->priority > best->priority
            ||  (lane->priority == best->priority && lane->head->seq < best->head->seq))
                best = lane;
        }
        lane = (lane_t *) zlistx_next (queue->lanes);
    }
    return best;
}

//  The queue a walk of pending jobs looks at after `done` (NULL: the
//  first), in name order: from `from_queue` on, only `queue_name` if not
//  NULL. One look-up, or one seek in the ordered names (O(log n)): a walk
//  that goes on from a cursor does not sort every queue first
static queue_t *
s_walk_queue (dispatch_t *self, const char *queue_name, const char *from_queue,
              queue_t *done)
{
    if (queue_name) {
        if (done || (from_queue && strcmp (queue_name, from_queue) < 0))
            return NULL;
        return (queue_t *) zhashx_lookup (self->queues, queue_name);
    }
    const char *name;
    if (done)
        name = ordset_seek_after (self->names, done->name);
    else
    if (from_queue && zhashx_lookup (self->queues, from_queue))
        name = from_queue;
    else
        name = ordset_seek_after (self->names, from_queue);
    return name ? (queue_t *) zhashx_lookup (self->queues, name) : NULL;
}

void
dispatch_each_pending (dispatch_t *self, const char *queue_name, const char *from_queue,
                       int64_t from_priority, uint64_t from_seq,
                       dispatch_pending_fn *fn, dispatch_stored_fn *stored, void *arg)
{
    //  Queues in name order, so that a walk can stop and go on later
    //  Merge the lanes of each queue by (priority desc, seq asc), then
    //  the jobs that are in the store only
    bool more = true;
    for (queue_t *queue = s_walk_queue (self, queue_name, from_queue, NULL);
         queue && more; queue = s_walk_queue (self, queue_name, from_queue, queue)) {
        bool resume = from_queue && strcmp (queue->name, from_queue) == 0;
        place_t from = { from_priority, from_seq };
        size_t nlanes = zlistx_size (queue->lanes);
        entry_t **cursor = async_xcalloc (nlanes + 1, sizeof (entry_t *));
        lane_t **lanes = async_xcalloc (nlanes + 1, sizeof (lane_t *));
        assert (cursor && lanes);
        size_t n = 0;
        lane_t *lane = (lane_t *) zlistx_first (queue->lanes);
        while (lane) {
            lanes [n] = lane;
            cursor [n] = lane->head;
            //  Going on after `from`: skip what was visited
            while (resume && cursor [n]
               &&  s_place_cmp ((place_t) { lane->priority, cursor [n]->seq }, from) <= 0)
                cursor [n] = cursor [n]->next;
            n++;
            lane = (lane_t *) zlistx_next (queue->lanes);
        }
        while (more) {
            ssize_t pick = -1;
            for (size_t i = 0; i < n; i++)
                if (cursor [i] && (pick < 0
                ||  lanes [i]->priority > lanes [pick]->priority
                ||  (lanes [i]->priority == lanes [pick]->priority
                     && cursor [i]->seq < cursor [pick]->seq)))
                    pick = (ssize_t) i;
            if (pick < 0)
                break;
            place_t place = { lanes [pick]->priority, cursor [pick]->seq };
            if (queue->spilled && s_place_cmp (place, queue->last) > 0)
                break;      //  extras: listed with the stored jobs
            more = fn (arg, queue->name, cursor [pick]->id, place.priority, place.seq);
            cursor [pick] = cursor [pick]->next;
        }
        free (cursor);
        free (lanes);
        if (more && queue->spilled && stored) {
            place_t after = queue->last;
            if (resume && s_place_cmp (from, after) > 0)
                after = from;
            more = stored (arg, queue->name, after.priority, after.seq);
        }
    }
}

//  ---------------------------------------------------------------------
//  Agents

static char *
s_join (char **strv, const char *prefix_char, char **prefixed)
{
    size_t len = 1;
    for (char **s = strv; s && *s; s++)
        len += strlen (*s) + 2;
    for (char **s = prefixed; s && *s; s++)
        len += strlen (*s) + 3;
    char *text = async_xcalloc (1, len);
    for (char **s = strv; s && *s; s++) {
        if (*text)
            strcat (text, ",");
        strcat (text, *s);
    }
    for (char **s = prefixed; s && *s; s++) {
        if (*text)
            strcat (text, ",");
        strcat (text, prefix_char);
        strcat (text, *s);
    }
    return text;
}

size_t
dispatch_verdict_bytes (dispatch_t *self)
{
    return self->verdict_bytes;
}

size_t
dispatch_used (dispatch_t *self)
{
    return self->used;
}

dispatch_agent_t *
dispatch_agent_add (dispatch_t *self, void *owner, const char *name, int size,
                    const char **queues, const char **include, const char **exclude)
{
    dispatch_agent_t *agent = async_xcalloc (1, sizeof (dispatch_agent_t));
    agent->dispatch = self;
    agent->owner = owner;
    agent->name = async_xstrdup (name);
    agent->size = size;
    agent->queues = s_strv_dup (queues, "default");
    agent->include = s_strv_dup (include, NULL);
    agent->exclude = s_strv_dup (exclude, NULL);
    agent->filter_text = s_join (agent->include, "!", agent->exclude);
    if (!*agent->filter_text) {
        free (agent->filter_text);
        agent->filter_text = async_xstrdup ("*");
    }
    agent->queues_text = s_join (agent->queues, "", NULL);
    agent->verdicts = zhashx_new ();
    agent->handle = zlistx_add_end (self->agents, agent);
    zhashx_purge (self->takers);
    s_ring_rebuild (self);
    //  What nobody took before, this agent may: probe the stored jobs again
    queue_t *queue = (queue_t *) zhashx_first (self->queues);
    while (queue) {
        queue->probe_done = false;
        queue = (queue_t *) zhashx_next (self->queues);
    }
    return agent;
}

//  The bytes a verdict for `task` takes: a zhashx item, its slot and key
static size_t
s_verdict_cost (const char *task)
{
    return 48 + 16 + ((strlen (task) + 1 + 8 + 15) & ~(size_t) 15);
}

//  Forget the agent's verdicts
static void
s_verdicts_forget (dispatch_agent_t *agent)
{
    if (agent->dispatch) {
        agent->dispatch->verdict_bytes -= agent->verdict_bytes;
        zhashx_purge (agent->dispatch->takers);     //  what it takes changes
    }
    agent->verdict_bytes = 0;
    zhashx_purge (agent->verdicts);
}

//  Keep a verdict, if the agent has fewer than DISPATCH_VERDICTS and all
//  agents' verdicts take less than DISPATCH_VERDICTS_BYTES: each agent may
//  see every task name that clients submit to its queues
static void
s_verdict_keep (dispatch_agent_t *agent, const char *task, uintptr_t verdict)
{
    size_t cost = s_verdict_cost (task);
    if (zhashx_size (agent->verdicts) >= DISPATCH_VERDICTS || !agent->dispatch
    ||  agent->dispatch->verdict_bytes + cost > DISPATCH_VERDICTS_BYTES)
        return;
    zhashx_insert (agent->verdicts, task, (void *) verdict);
    agent->verdict_bytes += cost;
    agent->dispatch->verdict_bytes += cost;
}

void
dispatch_agent_set_tasks (dispatch_agent_t *agent, const char **tasks)
{
    s_tasks_unref (&agent->tasks);
    s_verdicts_forget (agent);
    if (!tasks)
        return;
    agent->tasks = async_xcalloc (1, sizeof (s_tasks_t));
    agent->tasks->refs = 1;
    agent->tasks->names = zhashx_new ();
    for (const char **task = tasks; *task; task++)
        zhashx_insert (agent->tasks->names, *task, (void *) 1);
}

void
dispatch_agent_share_tasks (dispatch_agent_t *agent, dispatch_agent_t *from)
{
    s_tasks_unref (&agent->tasks);
    s_verdicts_forget (agent);
    agent->tasks = from->tasks;
    if (agent->tasks)
        agent->tasks->refs++;
}

//  Take the agent out of the list (and destroy it); the ring is left as it
//  is. Its handle, not a search: a node of 64 agents among 20,000 would
//  walk the list 64 times
static void
s_agent_unlist (dispatch_t *self, dispatch_agent_t **agent_p)
{
    self->used -= (*agent_p)->used;
    s_verdicts_forget (*agent_p);
    zlistx_delete (self->agents, (*agent_p)->handle);
    *agent_p = NULL;
}

void
dispatch_agent_remove (dispatch_t *self, dispatch_agent_t **agent_p)
{
    s_agent_unlist (self, agent_p);
    s_ring_rebuild (self);
}

void
dispatch_agents_remove (dispatch_t *self, zlistx_t *agents)
{
    dispatch_agent_t *agent;
    while ((agent = (dispatch_agent_t *) zlistx_detach (agents, NULL)))
        s_agent_unlist (self, &agent);
    s_ring_rebuild (self);
}

bool
dispatch_agent_accepts (dispatch_agent_t *agent, const char *task)
{
    uintptr_t verdict = (uintptr_t) zhashx_lookup (agent->verdicts, task);
    if (verdict)
        return verdict == 1;
    bool accept = agent->include [0] == NULL;
    if (agent->tasks && !zhashx_lookup (agent->tasks->names, task)) {
        s_verdict_keep (agent, task, 2);
        return false;
    }
    for (char **glob = agent->include; *glob && !accept; glob++)
        accept = async_glob_match (*glob, task);
    for (char **glob = agent->exclude; *glob && accept; glob++)
        accept = !async_glob_match (*glob, task);
    s_verdict_keep (agent, task, accept ? 1 : 2);
    return accept;
}

void
dispatch_agent_take (dispatch_agent_t *agent)
{
    s_agent_use (agent, 1);
}

void
dispatch_agent_release (dispatch_agent_t *agent)
{
    if (agent->used > 0)
        s_agent_use (agent, -1);
}

const char *
dispatch_agent_name (dispatch_agent_t *agent)
{
    return agent->name;
}

void *
dispatch_agent_owner (dispatch_agent_t *agent)
{
    return agent->owner;
}

int
dispatch_agent_size (dispatch_agent_t *agent)
{
    return agent->size;
}

int
dispatch_agent_used (dispatch_agent_t *agent)
{
    return agent->used;
}

zhashx_t *
dispatch_agent_tasks (dispatch_agent_t *agent)
{
    return agent->tasks ? agent->tasks->names : NULL;
}

const char *
dispatch_agent_filter (dispatch_agent_t *agent)
{
    return agent->filter_text;
}

const char *
dispatch_agent_queues (dispatch_agent_t *agent)
{
    return agent->queues_text;
}

static bool
s_agent_serves (dispatch_agent_t *agent, const char *queue)
{
    for (char **q = agent->queues; *q; q++)
        if (strcmp (*q, queue) == 0)
            return true;
    return false;
}

//  Who takes `task` in `queue`: the only agent that does, S_TAKERS_MANY
//  or S_TAKERS_NONE. A walk of the agents (stopped at the second taker),
//  kept for the next time until an agent comes, goes or changes its
//  tasks (each of those purges the answers)
static void *
s_takers (dispatch_t *self, const char *queue, const char *task)
{
    char key [2 * 256 + 2];
    int size = snprintf (key, sizeof key, "%s\x1f%s", queue, task);
    bool cache = size > 0 && (size_t) size < sizeof key;
    void *known = cache ? zhashx_lookup (self->takers, key) : NULL;
    if (known)
        return known;
    void *takers = S_TAKERS_NONE;
    dispatch_agent_t *agent = (dispatch_agent_t *) zlistx_first (self->agents);
    while (agent && takers != S_TAKERS_MANY) {
        if (s_agent_serves (agent, queue) && dispatch_agent_accepts (agent, task))
            takers = takers == S_TAKERS_NONE ? (void *) agent : S_TAKERS_MANY;
        agent = (dispatch_agent_t *) zlistx_next (self->agents);
    }
    if (cache) {
        if (zhashx_size (self->takers) >= DISPATCH_TAKERS)
            zhashx_purge (self->takers);
        zhashx_insert (self->takers, key, takers);
    }
    return takers;
}

bool
dispatch_has_taker (dispatch_t *self, const char *queue, const char *task)
{
    return s_takers (self, queue, task) != S_TAKERS_NONE;
}

void
dispatch_count_pending (dispatch_t *self)
{
    dispatch_agent_t *agent = (dispatch_agent_t *) zlistx_first (self->agents);
    while (agent) {
        agent->pending = 0;
        agent = (dispatch_agent_t *) zlistx_next (self->agents);
    }
    queue_t *queue = (queue_t *) zhashx_first (self->queues);
    while (queue) {
        lane_t *lane = (lane_t *) zlistx_first (queue->lanes);
        while (lane) {
            void *takers = lane->size ? s_takers (self, queue->name, lane->task)
                                      : S_TAKERS_NONE;
            if (takers != S_TAKERS_NONE && takers != S_TAKERS_MANY)
                ((dispatch_agent_t *) takers)->pending += lane->size;
            lane = (lane_t *) zlistx_next (queue->lanes);
        }
        queue = (queue_t *) zhashx_next (self->queues);
    }
}

size_t
dispatch_agent_pending (dispatch_agent_t *agent)
{
    return agent->pending;
}

void
dispatch_each_waiting (dispatch_t *self, dispatch_waiting_fn *fn, void *arg)
{
    queue_t *queue = (queue_t *) zhashx_first (self->queues);
    while (queue) {
        size_t unservable = 0;
        const char *oldest = NULL;
        uint64_t oldest_seq = UINT64_MAX;
        lane_t *lane = (lane_t *) zlistx_first (queue->lanes);
        while (lane) {
            if (lane->head && lane->head->seq < oldest_seq) {
                oldest_seq = lane->head->seq;
                oldest = lane->head->id;
            }
            if (lane->size && !dispatch_has_taker (self, queue->name, lane->task))
                unservable += lane->size;
            lane = (lane_t *) zlistx_next (queue->lanes);
        }
        if (oldest || unservable)
            fn (arg, queue->name, unservable, oldest);
        queue = (queue_t *) zhashx_next (self->queues);
    }
}

bool
dispatch_next (dispatch_t *self, dispatch_veto_fn *veto, void *veto_arg,
               char *id_out, dispatch_agent_t **agent_out)
{
    size_t nagents = self->nring;
    if (nagents == 0 || self->nfree == 0 || async_idmap_size (self->entries) == 0)
        return false;
    //  Round-robin: start one further each time
    self->rotate = (self->rotate + 1) % nagents;
    for (size_t visited = 0; visited < nagents; visited++) {
        dispatch_agent_t *agent = self->ring [(self->rotate + visited) % nagents];
        if (agent->used < agent->size) {
            lane_t *best = NULL;
            for (char **q = agent->queues; *q; q++) {
                queue_t *queue = (queue_t *) zhashx_lookup (self->queues, *q);
                if (!queue || queue->size == 0 || queue->paused)
                    continue;
                lane_t *lane = s_best_lane (queue, agent, veto, veto_arg, NULL);
                if (!lane && queue->spilled)
                    queue->probe_wanted = true;
                if (lane && (!best || lane->priority > best->priority
                ||  (lane->priority == best->priority && lane->head->seq < best->head->seq)))
                    best = lane;
            }
            if (best) {
                entry_t *entry = best->head;
                memcpy (id_out, entry->id, ASYNC_ID_LEN);
                s_unlink (self, entry);
                s_agent_use (agent, 1);
                *agent_out = agent;
                return true;
            }
        }
    }
    return false;
}
