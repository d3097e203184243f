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
//  interrupted job goes back to the head of its queue).
void
    dispatch_push (dispatch_t *self, const char *id, const char *task,
                   const char *queue, int64_t priority, uint64_t seq, bool head);

//  The same, for a job that names quotas ("a,b"; NULL or "" = none): jobs
//  of one task with other quotas wait in another lane, so a job never
//  waits behind a job held back by a quota it does not name.
void
    dispatch_push_quotas (dispatch_t *self, const char *id, const char *task,
                          const char *queue, int64_t priority, uint64_t seq, bool head,
                          const char *quotas);

//  Take a pending job out (cancelled...). True if it was there.
bool
    dispatch_remove (dispatch_t *self, const char *id);

bool
    dispatch_contains (dispatch_t *self, const char *id);

//  Pending jobs in one queue (NULL: all queues).
size_t
    dispatch_pending (dispatch_t *self, const char *queue);

//  Calls fn for each queue name with its pending count.
void
    dispatch_each_queue (dispatch_t *self,
                         void (*fn) (void *arg, const char *queue, size_t pending),
                         void *arg);

//  Visit pending job ids in dispatch order (per queue, best first), at most
//  `limit`. fn returns false to stop.
void
    dispatch_each_pending (dispatch_t *self, const char *queue, size_t limit,
                           bool (*fn) (void *arg, const char *id), void *arg);

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

//  Remove an agent (its node is gone).
void
    dispatch_agent_remove (dispatch_t *self, dispatch_agent_t **agent_p);

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
//  Filter as text ("pi.*,!pi.slow"), queues as text ("default,bulk").
const char *
    dispatch_agent_filter (dispatch_agent_t *agent);
const char *
    dispatch_agent_queues (dispatch_agent_t *agent);

//  Is there any agent (free or not) that accepts `task` in `queue`?
bool
    dispatch_has_taker (dispatch_t *self, const char *queue, const char *task);

//  Pick the next (job, agent) pair: removes the job from pending, takes a
//  slot of the agent, writes the id (37 bytes) and returns true; false
//  when no agent with a free slot accepts any pending job.
bool
    dispatch_next (dispatch_t *self, dispatch_veto_fn *veto, void *veto_arg,
                   char *id_out, dispatch_agent_t **agent_out);

#endif
