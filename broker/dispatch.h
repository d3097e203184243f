/*  =========================================================================
    dispatch - which pending job goes to which agent

    Pending jobs wait in lanes: one lane per (queue, priority, task), each
    a FIFO in submission order. Agents advertise a size, the queues they
    serve and a task filter; the broker counts their used slots (credit
    returns when a job's attempt ends). dispatch_next picks, for an agent
    with a free slot, the head job of the best lane the agent accepts:
    highest priority first, then lowest sequence number (FIFO). Agents are
    served round-robin so work spreads across nodes.

    Pure in-memory bookkeeping: no I/O, no sockets.
    =========================================================================
*/
#ifndef BROKER_DISPATCH_H_INCLUDED
#define BROKER_DISPATCH_H_INCLUDED

#include "asyncmesh/id.h"
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _dispatch_t dispatch_t;
typedef struct _dispatch_agent_t dispatch_agent_t;

//  Veto: return false to keep the job pending for now (quotas). `quotas`
//  is the lane's quota names, comma-separated, or NULL.
typedef bool (dispatch_veto_fn) (void *arg, const char *id, const char *task,
                                 const char *quotas);

dispatch_t *
    dispatch_new (void);

void
    dispatch_destroy (dispatch_t **self_p);

//  Add a pending job; `head` puts it before its lane's other jobs (an
//  interrupted job goes back to the head of its queue). Returns true if
//  the job is held in memory, false if its queue's window is full and the
//  job waits in the store only (see dispatch_set_window).
bool
    dispatch_push (dispatch_t *self, const char *id, const char *task,
                   const char *queue, int64_t priority, uint64_t seq, bool head);

//  The same, for a job that names quotas ("a,b"; NULL or "" = none): jobs
//  of one task with other quotas wait in another lane, so a job never
//  waits behind a job held back by a quota it does not name.
bool
    dispatch_push_quotas (dispatch_t *self, const char *id, const char *task,
                          const char *queue, int64_t priority, uint64_t seq, bool head,
                          const char *quotas);

//  Take a pending job out (cancelled...). True if it was there (in
//  memory, or spilled since the last dispatch_committed). False: either
//  not pending, or in the store only; the caller checks the store and
//  calls dispatch_forget if it was there.
bool
    dispatch_remove (dispatch_t *self, const char *id);

//  ---------------------------------------------------------------------
//  The window. With a window of N, each queue holds at most about N of
//  its pending jobs in memory (more only for jobs placed before the
//  others: higher priority, interrupted); the rest wait in the store, in
//  the broker's pending index, which is in the same order (priority,
//  then seq). After each commit the broker asks dispatch_refill_next
//  which queue wants jobs read back, reads them in order after the place
//  given and calls dispatch_load for each, then dispatch_refill_end if it
//  reached the end of the queue. A refill with `probe` set scans further
//  for jobs a free agent accepts, when no job in memory is (a window full
//  of jobs nobody takes must not hide the others).

typedef struct {
    const char *queue;
    int64_t after_priority;     //  read the stored jobs after this place
    uint64_t after_seq;
    size_t want;                //  at most this many
    bool probe;
} dispatch_refill_t;

//  0 = no window: everything in memory (the default)
void
    dispatch_set_window (dispatch_t *self, size_t window);

//  A pending job read back from the store (the count does not change).
//  True if it is held now.
bool
    dispatch_load (dispatch_t *self, const char *id, const char *task,
                   const char *queue, int64_t priority, uint64_t seq,
                   const char *quotas, bool probe);

//  The next queue after `after_queue` (NULL: from the first) that wants
//  a refill; false when none does.
bool
    dispatch_refill_next (dispatch_t *self, const char *after_queue,
                          dispatch_refill_t *refill);

//  The refill of `queue` reached the end of its stored jobs.
void
    dispatch_refill_end (dispatch_t *self, const char *queue, bool probe);

//  The staged writes go to the store now (a write in flight).
void
    dispatch_committing (dispatch_t *self);

//  The write in flight is in the store now.
void
    dispatch_committed (dispatch_t *self);

//  Recovery: the queue's pending count as the store had it (after loading
//  the first window with dispatch_load).
void
    dispatch_set_total (dispatch_t *self, const char *queue, size_t total);

//  A pending job that was in the store only left the queue.
void
    dispatch_forget (dispatch_t *self, const char *queue);

//  Whether a job placed there is in the store only.
bool
    dispatch_spilled (dispatch_t *self, const char *queue, int64_t priority,
                      uint64_t seq);

//  Calls fn for each queue whose pending count changed since the last call.
void
    dispatch_each_dirty (dispatch_t *self,
                         void (*fn) (void *arg, const char *queue, size_t total),
                         void *arg);

bool
    dispatch_contains (dispatch_t *self, const char *id);

//  Pending jobs in one queue (NULL: all queues).
size_t
    dispatch_pending (dispatch_t *self, const char *queue);

//  Whether the queue has had pending jobs since the broker started (its
//  count may be 0).
bool
    dispatch_has_queue (dispatch_t *self, const char *queue);

//  Pause (`paused`) or resume a queue: while paused, dispatch_next hands
//  out none of its jobs (a test in O(1)); they stay pending, and new ones
//  join them. A queue paused before it has jobs is known from then on
//  (dispatch_has_queue). True if the queue's state changed.
bool
    dispatch_pause (dispatch_t *self, const char *queue, bool paused);

//  Whether the queue is paused.
bool
    dispatch_paused (dispatch_t *self, const char *queue);

//  At most this many queues are paused at once (QUEUE-PAUSE refuses more):
//  STATUS lists them all
#define DISPATCH_PAUSED_MAX 1000

//  How many queues are paused.
size_t
    dispatch_paused_count (dispatch_t *self);

//  The paused queues in name order: the first, then the next (NULL past
//  the last); borrowed, valid until a queue is paused or resumed.
const char *
    dispatch_paused_first (dispatch_t *self);
const char *
    dispatch_paused_next (dispatch_t *self);

//  Calls fn for each queue name with its pending count.
void
    dispatch_each_queue (dispatch_t *self,
                         void (*fn) (void *arg, const char *queue, size_t pending),
                         void *arg);

//  Visits the jobs of a queue that are in the store only, placed after
//  (priority, seq), in order; returns false to stop the walk.
typedef bool (dispatch_stored_fn) (void *arg, const char *queue, int64_t priority,
                                   uint64_t seq);

//  Visits one pending job, at its place in its queue; returns false to
//  stop the walk.
typedef bool (dispatch_pending_fn) (void *arg, const char *queue, const char *id,
                                    int64_t priority, uint64_t seq);

//  Visit pending jobs in dispatch order: queue by queue in name order (only
//  `queue`, if not NULL), each best first; `stored` (may be NULL) continues
//  each queue in the store. With `from_queue` (not NULL) the walk goes on
//  after the place (from_priority, from_seq) of that queue: earlier queues
//  and places are skipped.
void
    dispatch_each_pending (dispatch_t *self, const char *queue, const char *from_queue,
                           int64_t from_priority, uint64_t from_seq,
                           dispatch_pending_fn *fn, dispatch_stored_fn *stored,
                           void *arg);

//  Register an agent of `owner` (the node session). `queues`: NULL-terminated
//  array (NULL = {"default"}); include / exclude: NULL-terminated glob arrays
//  (NULL or empty include = every task).
dispatch_agent_t *
    dispatch_agent_add (dispatch_t *self, void *owner, const char *name, int size,
                        const char **queues, const char **include,
                        const char **exclude);

//  Limit the agent to the tasks its node has (NULL-terminated names; NULL
//  = no limit). A job whose task no connected node has stays pending.
void
    dispatch_agent_set_tasks (dispatch_agent_t *agent, const char **tasks);

//  Limit the agent to the same tasks as `from` (an agent of the same
//  node), sharing one copy of the names.
void
    dispatch_agent_share_tasks (dispatch_agent_t *agent, dispatch_agent_t *from);

//  Remove an agent (its node is gone).
void
    dispatch_agent_remove (dispatch_t *self, dispatch_agent_t **agent_p);

//  Remove every agent in `agents` (a node's, gone; not owned by the list)
//  and empty the list: as dispatch_agent_remove for each, in time that
//  does not grow with the number of agents of other nodes.
void
    dispatch_agents_remove (dispatch_t *self, zlistx_t *agents);

//  Slots taken over all agents: the jobs on nodes.
size_t
    dispatch_used (dispatch_t *self);

//  An agent keeps the verdicts of its filter on the task names it was
//  asked about, at most DISPATCH_VERDICTS, and all agents together at most
//  DISPATCH_VERDICTS_BYTES of them (docs/protocol.md section 9); past
//  either, a verdict is worked out each time it is asked for.
#define DISPATCH_VERDICTS       10000
#define DISPATCH_VERDICTS_BYTES (64 * 1024 * 1024)

//  The bytes the agents' verdicts take now.
size_t
    dispatch_verdict_bytes (dispatch_t *self);

//  Whether the agent's filter accepts a task name.
bool
    dispatch_agent_accepts (dispatch_agent_t *agent, const char *task);

//  A slot of the agent was taken (job re-attached after a broker restart)
//  or freed (the attempt ended).
void
    dispatch_agent_take (dispatch_agent_t *agent);
void
    dispatch_agent_release (dispatch_agent_t *agent);

const char *
    dispatch_agent_name (dispatch_agent_t *agent);
void *
    dispatch_agent_owner (dispatch_agent_t *agent);
int
    dispatch_agent_size (dispatch_agent_t *agent);
int
    dispatch_agent_used (dispatch_agent_t *agent);
//  The names of the tasks its node has (the keys), or NULL: any task. The
//  agents of one node share them (dispatch_agent_share_tasks).
zhashx_t *
    dispatch_agent_tasks (dispatch_agent_t *agent);
//  Filter as text ("pi.*,!pi.slow"), queues as text ("default,bulk").
const char *
    dispatch_agent_filter (dispatch_agent_t *agent);
const char *
    dispatch_agent_queues (dispatch_agent_t *agent);

//  Is there any agent (free or not) that accepts `task` in `queue`? The
//  answers are kept, at most DISPATCH_TAKERS of them, until an agent comes,
//  goes or changes its tasks: a SUBMIT asks once per job.
#define DISPATCH_TAKERS 10000
bool
    dispatch_has_taker (dispatch_t *self, const char *queue, const char *task);

//  Count, for each agent, the pending jobs held in memory that it alone
//  takes (its queues and filter accept them, no other agent's do); read
//  with dispatch_agent_pending. Visits every agent and every lane, each
//  lane's answer kept as dispatch_has_taker's: O(agents + lanes) when
//  those answers are known, for STATUS and NODES, not per job.
void
    dispatch_count_pending (dispatch_t *self);

//  The agent's count as of the last dispatch_count_pending.
size_t
    dispatch_agent_pending (dispatch_agent_t *agent);

//  Visits each queue with pending jobs held in memory: how many of them no
//  agent takes (dispatch_has_taker) and the id of the oldest of them all
//  (lowest seq; NULL if none). Visits every lane: for STATUS, not per job.
typedef void (dispatch_waiting_fn) (void *arg, const char *queue, size_t unservable,
                                    const char *oldest);
void
    dispatch_each_waiting (dispatch_t *self, dispatch_waiting_fn *fn, void *arg);

//  Pick the next (job, agent) pair: removes the job from pending, takes a
//  slot of the agent, writes the id (37 bytes) and returns true; false
//  when no agent with a free slot accepts any pending job.
bool
    dispatch_next (dispatch_t *self, dispatch_veto_fn *veto, void *veto_arg,
                   char *id_out, dispatch_agent_t **agent_out);

#endif
