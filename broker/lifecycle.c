/*  =========================================================================
    lifecycle - the job state machine (lifecycle.h)
    =========================================================================
*/
#include "lifecycle.h"
#include "asyncmesh/log.h"
#include <assert.h>

#define S_STATUSES (ASYNC_COMPLETED + 1)

//  S_ALLOWED [from][to]
static const bool S_ALLOWED [S_STATUSES][S_STATUSES] = {
    [ASYNC_PENDING] = {
        [ASYNC_PENDING]   = true,   //  queued again: held, recovered, due
        [ASYNC_ASSIGNED]  = true,   //  handed to a node's slot
        [ASYNC_ACTIVE]    = true,   //  a parent starts its children
        [ASYNC_CALLBACKS] = true,   //  failed or cancelled before it ran
    },
    [ASYNC_ASSIGNED] = {
        [ASYNC_PENDING]   = true,   //  released by its node, or retried
        [ASYNC_ACTIVE]    = true,   //  the node started it
        [ASYNC_CALLBACKS] = true,   //  its outcome came before STARTED did
    },
    [ASYNC_ACTIVE] = {
        [ASYNC_PENDING]   = true,   //  retried
        [ASYNC_CALLBACKS] = true,   //  it has its outcome
    },
    [ASYNC_CALLBACKS] = {
        [ASYNC_COMPLETED] = true,   //  its callbacks are done
    },
    [ASYNC_COMPLETED] = { false }   //  final
};

bool
lifecycle_allows (async_status_t from, async_status_t to)
{
    if ((unsigned) from >= S_STATUSES || (unsigned) to >= S_STATUSES)
        return false;
    return S_ALLOWED [from][to];
}

bool
lifecycle_set (async_job_t *job, async_status_t to)
{
    if (!lifecycle_allows (job->status, to)) {
        async_log_error ("broker", "job.transition", "job=%s from=%s to=%s reason=\"the job "
                         "state machine has no such step: a bug; the job is left as it was\"",
                         job->id, async_status_name (job->status), async_status_name (to));
        assert (!"lifecycle_set: a job status change the machine does not have");
        return false;
    }
    job->status = to;
    return true;
}
