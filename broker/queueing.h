/*  =========================================================================
    queueing - the pending jobs: into their queues, out to the nodes'
    slots (dispatch), and back from the store into the queues' windows.
    Part of the broker: works on its state (broker_impl.h)
    =========================================================================
*/
#ifndef BROKER_QUEUEING_H_INCLUDED
#define BROKER_QUEUEING_H_INCLUDED

#include "broker_impl.h"

//  Put the job in its queue (`head`: first of its priority), or among the
//  scheduled jobs when it is due later; its begin_by deadline is watched
void
    queueing_enqueue (broker_t *self, async_job_t *job, bool head);

//  Whether the job is in its queue's pending index (in memory, or in the
//  store only when its queue spilled)
bool
    queueing_is_queued (broker_t *self, async_job_t *job);

//  Take the job out of its queue's pending index
void
    queueing_unqueue (broker_t *self, async_job_t *job);

//  Start a job: a task goes to its queue, a parent starts its children
void
    queueing_start (broker_t *self, async_job_t *job);

//  The job, out of its queue, is assigned to a slot of `agent` (taken)
//  with `token`: true; false when its status may not go to assigned (a
//  bug, logged by lifecycle_set: the job is left as it was)
bool
    queueing_assign (broker_t *self, session_t *session, dispatch_agent_t *agent,
                     async_job_t *job, uint64_t token);

//  Drop from the cache the jobs of the list (detached) that are not live
void
    queueing_evict (broker_t *self, zlistx_t *jobs);

//  Send ASSIGN for each (job, agent) pair dispatch finds
void
    queueing_dispatch (broker_t *self);

//  Read pending jobs back from the store into the queues' windows: right
//  after a commit, when the store holds everything the memory does
void
    queueing_refill (broker_t *self);

#endif
