/*  =========================================================================
    upkeep - the loop's work on time rather than on a message: scheduled
    jobs and retries coming due, begin_by deadlines, timeouts and the
    grace of a cancel, the schedules' ticks, heartbeats, dead nodes and
    orphans, the purge of old jobs. Part of the broker: works on its state
    (broker_impl.h)
    =========================================================================
*/
#ifndef BROKER_UPKEEP_H_INCLUDED
#define BROKER_UPKEEP_H_INCLUDED

#include "broker_impl.h"

//  Run what is due now, once a loop turn (broker.c): each piece within its
//  budget a turn; more_work set when some is left for the next turn
void
    upkeep_timers (broker_t *self);

//  Forget completed job `id` (completed at `completed_at`): its record,
//  its c and f keys, its idempotency key if that names it, the cached
//  copy. The retention purge, and DELETE. False, and nothing done, when
//  a batch staged or in flight writes the job.
bool
    upkeep_forget_job (broker_t *self, const char *id, int64_t completed_at);

#endif
