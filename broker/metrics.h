/*  =========================================================================
    metrics - the broker's counters and histograms, for /metrics

    In memory, since the broker started (a restart starts them at zero, as
    Prometheus counters may). The broker counts task jobs as they go
    through their lives; parallel and serial parents are not counted (their
    children are). Label sets are bounded: past METRICS_MAX_SERIES (queue,
    task) pairs or queues, the rest count under task and queue METRICS_OTHER
    ("(other)": no queue's or task's name, as those have no parentheses).
    =========================================================================
*/
#ifndef BROKER_METRICS_H_INCLUDED
#define BROKER_METRICS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define METRICS_MAX_SERIES  1000
#define METRICS_OTHER       "(other)"

//  The job counters, labelled {queue, task}
typedef enum {
    METRICS_SUBMITTED,          //  a task job entered its queue the first time
    METRICS_STARTED,            //  an attempt started on a node
    METRICS_SUCCEEDED,          //  completed with a result
    METRICS_FAILED,             //  completed with a failure
    METRICS_RETRIED,            //  a failed attempt was queued again
    METRICS_INTERRUPTED,        //  a running attempt was interrupted
    METRICS_COUNTERS
} metrics_counter_t;

typedef struct _metrics_t metrics_t;

//  Create the metrics. Caller destroys with metrics_destroy ().
metrics_t *
    metrics_new (void);

//  Destroy the metrics and set *self_p to NULL.
void
    metrics_destroy (metrics_t **self_p);

//  Count one event of a task job in `queue` (task may be NULL).
void
    metrics_count (metrics_t *self, metrics_counter_t counter, const char *queue,
                   const char *task);

//  A job waited `seconds` in `queue` from when it could run to its first
//  start.
void
    metrics_wait (metrics_t *self, const char *queue, double seconds);

//  An attempt in `queue` ran `seconds` (start to result or failure).
void
    metrics_run (metrics_t *self, const char *queue, double seconds);

//  A synced commit took `seconds`.
void
    metrics_sync (metrics_t *self, double seconds);

//  The broker's loop polled `seconds` before it slept, or until news came
//  (`caught`): --spin (async_spin.h).
void
    metrics_spin (metrics_t *self, double seconds, bool caught);

//  Append the counters and histograms, Prometheus text format 0.0.4.
void
    metrics_print (metrics_t *self, zchunk_t *out);

//  Append a Prometheus label value, escaped (\\, \", \n).
void
    metrics_label (zchunk_t *out, const char *value);

#endif
