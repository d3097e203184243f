/*  =========================================================================
    lifecycle - the job state machine: which status a job may go to from
    the one it has (docs/spec.md: the job JSON's `status`)

        pending ---> assigned ---> active ---> callbacks ---> completed
           ^  |         |  |          |           ^
           |  |         |  +----------)-----------+
           |  +---------)-------------)-----------+  (failed, cancelled,
           |  +--> active (a parent starts its       expired before it ran)
           |            children)     |
           +--------------------------+  (released, retried)

    A job is made pending (spec.c). Every later change of its status goes
    through lifecycle_set, which refuses a change the machine does not
    have: such a change is a bug of the broker, so it is logged as an
    error (job.transition) and leaves the job as it was, and a debug build
    stops on it (assert) so that the tests find it.
    =========================================================================
*/
#ifndef BROKER_LIFECYCLE_H_INCLUDED
#define BROKER_LIFECYCLE_H_INCLUDED

#include "async_job.h"
#include <stdbool.h>

//  Whether a job may go from status `from` to status `to`
bool
    lifecycle_allows (async_status_t from, async_status_t to);

//  Set the job's status to `to` if the machine allows it from its status:
//  true; else false, with a job.transition error logged (a debug build
//  aborts)
bool
    lifecycle_set (async_job_t *job, async_status_t to);

#endif
