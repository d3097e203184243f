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

#include "handler.h"
#include "broker.h"
#include "session.h"
#include "async_codec.h"
#include "async_job.h"
#include <czmq.h>
#include <stdbool.h>

//  Whether a job may go from status `from` to status `to`
bool
    lifecycle_allows (async_status_t from, async_status_t to);

//  Set the job's status to `to` if the machine allows it from its status:
//  true; else false, with a job.transition error logged (a debug build
//  aborts)
bool
    lifecycle_set (async_job_t *job, async_status_t to);

//  ---------------------------------------------------------------------
//  The broker's part: what happens to a job as it runs and ends. These
//  work on the broker's state (broker_impl.h)

//  The job has its result or failure: its callbacks run, in order, then
//  it is completed
void
    lifecycle_job_complete (broker_t *self, async_job_t *job);

//  Fail a job that has not run (or cannot run again) with a failure of
//  `type` and `message`
void
    lifecycle_job_fail (broker_t *self, async_job_t *job, const char *type,
                        const char *message);

//  Start a callback of a job
void
    lifecycle_start_callback (broker_t *self, async_job_t *job, async_job_t *callback);

//  Cancel a job: a pending one fails now with CancelledError; a running
//  one is asked to stop and, after the grace period, interrupted; a
//  parent fails now and its unfinished children are cancelled
void
    lifecycle_cancel (broker_t *self, async_job_t *job);

//  The annotation in which a retried job keeps its earlier failures
#define LIFECYCLE_RETRIES_NAME "asyncmesh.retries"

//  The annotation in which a job keeps its attempts that did not end it
//  (a failure retried by its policy or by an operator, an interruption):
//  the last 10, each {attempt, node, started, ended, outcome, type,
//  message}
#define LIFECYCLE_ATTEMPTS_NAME "asyncmesh.attempts"

//  Keep the attempt that just ended without ending the job (a failure
//  retried, an interruption: `reason`, NULL for a failure) in its
//  annotation LIFECYCLE_ATTEMPTS_NAME: its number, node, times (`started`:
//  whether it started, else its start is nil), and its failure or the
//  reason. An entry that would not fit is logged and dropped
void
    lifecycle_attempt_keep (async_job_t *job, bool started, const char *reason);

//  Retry a job that completed with a failure (an operator's action, `by`
//  whom): one more attempt, pending in its queue, numbered on from the
//  last one (never a number, and so a fencing token, used before), with
//  its interruptions counted from 0; the failure is kept in its annotation
//  LIFECYCLE_RETRIES_NAME. Only a task submitted as such (not a child,
//  callback, postprocess, parent, nor one that handed off). 0, or -1 with
//  the reason in err (the job unchanged)
int
    lifecycle_retry (broker_t *self, async_job_t *job, const char *by, char *err,
                     size_t err_size);

//  Ask the node running the job to stop it (CANCEL)
void
    lifecycle_send_cancel (broker_t *self, session_t *session, async_job_t *job);

//  The live session of the node the job is assigned to, or NULL
session_t *
    lifecycle_session_for_job (broker_t *self, async_job_t *job);

//  The job's node gave it back unstarted: it goes back to its queue
void
    lifecycle_release (broker_t *self, async_job_t *job);

//  The job's attempt ended without an outcome (`why`: its node died, it
//  ran past its timeout, ...): retried per its policy, or failed
void
    lifecycle_interrupt (broker_t *self, async_job_t *job, const char *why);

//  One line for the results refused since the last one, if any
void
    lifecycle_log_rejected_count (broker_t *self);

//  A node's STARTED, RESULT (one outcome or a batch of them) and PROGRESS
//  for the jobs it runs
void
    lifecycle_on_started (broker_t *self, broker_request_t *req);
void
    lifecycle_on_results (broker_t *self, broker_request_t *req);
void
    lifecycle_on_progress (broker_t *self, broker_request_t *req);

#endif
