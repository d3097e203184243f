/*  =========================================================================
    requests - the clients' requests that change jobs or the broker's
    settings (requests.c); part of the broker
    =========================================================================
*/
#ifndef BROKER_REQUESTS_H_INCLUDED
#define BROKER_REQUESTS_H_INCLUDED

#include "handler.h"
#include "broker_impl.h"
#include "async_codec.h"
#include "async_proto.h"

//  The handlers of the clients' requests (handler.h)

//  SUBMIT: one job spec (`spec`) or up to 4,096 (`specs`), each parsed,
//  checked, staged and started; ACCEPTED once they are durable. With
//  `wait`, the sender waits for each new job's outcome
void
    requests_on_submit (broker_t *self, broker_request_t *req);

//  CANCEL of a job: OK once staged (lifecycle_cancel does the work)
void
    requests_on_cancel (broker_t *self, broker_request_t *req);

//  ANNOTATE: set one annotation of a job (all of them within
//  SPEC_ANNOTATIONS_MAX bytes)
void
    requests_on_annotate (broker_t *self, broker_request_t *req);

//  ADD-CALLBACK: add a callback task to a job; on a completed job it runs
//  at once
void
    requests_on_add_callback (broker_t *self, broker_request_t *req);

//  EVERY-SET, EVERY-DELETE, EVERY-LIST (the request's command): recurring schedules,
//  within their budgets
void
    requests_on_every (broker_t *self, broker_request_t *req);

//  QUOTA-SET, QUOTA-DELETE, QUOTA-LIST (the request's command): cluster quotas
void
    requests_on_quota (broker_t *self, broker_request_t *req);

//  QUEUE-PAUSE, QUEUE-RESUME (the request's command): stop or restart the dispatch of a
//  queue's jobs, durably
void
    requests_on_queue_pause (broker_t *self, broker_request_t *req);

//  RETRY: a new attempt of a job that completed with a failure
//  (lifecycle_retry)
void
    requests_on_retry (broker_t *self, broker_request_t *req);

//  DELETE: forget a completed job now, rather than at the retention purge
void
    requests_on_delete (broker_t *self, broker_request_t *req);

//  The operators' actions, for the protocol (requests_on_...) and the
//  HTTP API: each checks, stages its writes for a synced commit and
//  returns 0, or ASYNC_ENOJOB or ASYNC_EREFUSED with the reason in err.
//  Logged with requests_actor ().
//  Cancel job `id` (lifecycle_cancel)
int
    requests_cancel (broker_t *self, const char *id, char *err, size_t err_size);
//  Retry job `id` (lifecycle_retry)
int
    requests_retry (broker_t *self, const char *id, char *err, size_t err_size);
//  Forget completed job `id` now
int
    requests_delete (broker_t *self, const char *id, char *err, size_t err_size);
//  Pause (`pause`) or resume queue `queue`
int
    requests_queue_pause (broker_t *self, const char *queue, bool pause, char *err,
                          size_t err_size);
//  Set quota `name` to `size` (1..QUOTA_SIZE_MAX; any other number but 0
//  is refused), or delete it (size 0)
int
    requests_quota (broker_t *self, const char *name, int64_t size, char *err,
                    size_t err_size);

//  Who sent the message being handled, for the log lines of operators'
//  actions (`by=`): the name of its CURVE key, the label of the HTTP
//  token, or "local"
const char *
    requests_actor (broker_t *self);

//  Submit a schedule's spec for one tick with the tick's idempotency key
//  (every_tick_some's callback; `arg` is the broker). 0, or -1 with the
//  reason in err
int
    requests_every_submit (void *arg, const msgpack_object *spec, const char *key,
                           char *id_out, char *err, size_t err_size);

#endif
