/*  =========================================================================
    history - how many jobs completed, minute by minute, by queue: the
    counts behind the charts of the last hour, day and week

    Task jobs that completed (succeeded or failed) are counted by the
    minute of their completion, per queue, in memory for the minute going
    on; history_stage writes each count that changed with the broker's
    next batch (an h key: docs/storage.md), so that a restart finds them.
    Minutes older than HISTORY_KEEP_US are purged (history_purge, bounded
    work a call). Bounded: at most HISTORY_QUEUES queues a minute, the
    others counted together under HISTORY_OTHER.
    =========================================================================
*/
#ifndef BROKER_HISTORY_H_INCLUDED
#define BROKER_HISTORY_H_INCLUDED

#include "store.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  How long minutes are kept: 7 days
#define HISTORY_KEEP_US (7LL * 24 * 3600 * 1000000)
//  Queues counted apart in one minute; the others are HISTORY_OTHER
#define HISTORY_QUEUES  20
#define HISTORY_OTHER   "(other)"    //  no queue's name: they have no '(' ')'

typedef struct _history_t history_t;

//  Create the history over `store` (not owned; must outlive it).
history_t *history_new (store_t *store);

//  Destroy it and set *self_p to NULL; counts not staged are lost.
void history_destroy (history_t **self_p);

//  A task job of `queue` completed at `now` (us since the epoch), with a
//  failure or not.
void history_count (history_t *self, const char *queue, bool failed, int64_t now);

//  Stage the counts that changed since the last call (store_put), for
//  the batch being staged.
void history_stage (history_t *self);

//  Delete minutes older than now - HISTORY_KEEP_US, at most 10000 keys a
//  call; how many it deleted.
size_t history_purge (history_t *self, int64_t now);

//  A range's name (hour, day, week; NULL: hour) as its length and step
//  (us); -1 for another name
int history_range (const char *name, int64_t *range_us, int64_t *step_us);

//  The history of the `range_us` before `now`, in steps of `step_us`
//  (range_us a multiple of it): {"step_seconds", "start", "succeeded":
//  [...], "failed": [...], "queues": {queue: {"succeeded": [...],
//  "failed": [...]}}}, one number a step, the oldest first; the minute
//  going on included. NULL only if out of memory.
json_t *history_json (history_t *self, int64_t now, int64_t range_us, int64_t step_us);

#endif
