/*  =========================================================================
    every - recurring schedules kept by the broker (`asyncctl every`)

    A schedule has a name, an interval (or a cron expression) and a job
    spec. Each tick submits
    the spec once, with the idempotency key "every:<name>:<tick us>", where
    the tick time is the schedule's stored `next`. The submit's writes and
    the schedule's advanced `next` are staged in the same store batch, so
    across a broker killed at any moment each tick is submitted exactly
    once: if the batch committed, the restarted broker sees `next` already
    past that tick (and the key would find the job anyway); if it did not,
    neither the job nor the advance exists and the tick runs again.

    Ticks that fell due while the broker was down or paused (or its clock
    jumped) are coalesced into one submit, as cron, systemd timers and
    Celery beat do: a burst of copies of a periodic job is rarely wanted.

    Key layout (docs/storage.md):
        e<name>     schedule: msgpack map {name, interval_us, spec (the
                    spec map, raw), next_us, last_job (id or nil), ticks,
                    last_error (string or nil); a cron schedule also cron
                    (the expression) and tz (its zone's text)}

    All writes are staged with store_put / store_delete; the broker loop
    commits them. One thread (the broker's) owns the object.
    =========================================================================
*/
#ifndef BROKER_EVERY_H_INCLUDED
#define BROKER_EVERY_H_INCLUDED

#include "store.h"
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Names are at most 174 bytes so that the tick's idempotency key
//  "every:<name>:<tick us, at most 19 digits>" fits the 200 bytes that a
//  job's key may have (ASYNC_MAX_NAME)
#define EVERY_MAX_NAME      174
#define EVERY_INTERVAL_MIN  (1000000LL)                     //  1 s, in us
#define EVERY_INTERVAL_MAX  (366LL * 24 * 3600 * 1000000)   //  366 days, in us
#define EVERY_JOBS_MAX      10000                           //  jobs a tick

typedef struct _every_t every_t;

//  Submit a job spec (msgpack map) with idempotency key `key` (it replaces
//  any "key" the spec names); write the job id (36 chars + NUL) into
//  id_out, also when the key named an existing job. Must only stage store
//  writes, never commit, and must not call every_* on the same object.
//  0, or -1 with a one-line reason in err.
typedef int (every_submit_fn) (void *arg, const msgpack_object *spec, const char *key,
                               char *id_out, char *err, size_t err_size);

//  Create the table and load every schedule from the store (prefix 'e').
//  A record that does not decode is logged and skipped. Returns 0 (the
//  int is kept for future store errors). Caller destroys with
//  every_destroy ().
int
    every_new (store_t *store, every_t **self_p);

//  Destroy the table and set *self_p to NULL. Safe to call again.
void
    every_destroy (every_t **self_p);

//  Number of schedules.
size_t
    every_size (every_t *self);

//  True when schedule `name` exists.
bool
    every_has (every_t *self, const char *name);

//  True when `name` is a valid schedule name: 1-174 bytes (EVERY_MAX_NAME)
//  of letters, digits and _-.:
bool
    every_name_valid (const char *name);

//  Create or replace schedule `name`: first tick at now + interval_us
//  (now >= 0, the wall clock in us);
//  a replaced schedule starts over (ticks 0, no last job). `spec` must be
//  a map (the broker should check it further, e.g. with spec_parse and
//  its quotas, before calling); `jobs` is how many jobs it makes a tick
//  (1 to EVERY_JOBS_MAX), kept for every_rate and every_tick_some. Stages
//  the write. 0, or -1 with a one-line reason in err.
int
    every_set (every_t *self, const char *name, int64_t interval_us,
               const msgpack_object *spec, size_t jobs, int64_t now, char *err,
               size_t err_size);

//  Create or replace schedule `name` ticking on a cron expression (five
//  fields, async_cron.h) on the clock of zone `tz` (async_tz.h: "UTC",
//  "+05:30", "Europe/Paris"; NULL: UTC): first tick the first match after
//  now. Stored with the shortest gap between its ticks (over the next
//  1000, at least 60 s) as its interval, for every_rate. Else as
//  every_set. 0, or -1 with a one-line reason in err.
int
    every_set_cron (every_t *self, const char *name, const char *cron, const char *tz,
                    const msgpack_object *spec, size_t jobs, int64_t now, char *err,
                    size_t err_size);

//  The interval every_set_cron would keep for `cron` in `tz` (us): what
//  the budgets count. -1 with a one-line reason in err if either is bad.
int64_t
    every_cron_interval (const char *cron, const char *tz, int64_t now, char *err,
                         size_t err_size);

//  Jobs a second that all schedules but `except` (NULL: none) make
//  together, in thousandths (each schedule's jobs * 1000 / interval in
//  seconds, rounded up).
uint64_t
    every_rate (every_t *self, const char *except);

//  Delete schedule `name`; stages the delete. 0, or -1 if there is none.
int
    every_delete (every_t *self, const char *name);

//  Pack an array (sorted by name) of maps {"name", "interval" (seconds,
//  float), "spec" (the spec map), "next" (ISO-8601), "last_job" (id or
//  nil), "ticks" (count of submitted ticks), "last_error" (string or nil:
//  why the last tick's submit was refused)}.
void
    every_pack_list (every_t *self, msgpack_packer *pk);

//  Earliest next tick (wall-clock us), INT64_MAX if there are no schedules.
int64_t
    every_next_due (every_t *self);

//  Run every schedule due at `now` (next <= now): submit its spec once,
//  with key "every:<name>:<tick>" (tick: the stored next), advance next to
//  the first tick time after now on the schedule's grid, and stage the
//  schedule's write after the submit's, in the same batch. However many
//  ticks fell due since (the broker was down, paused or held up, its clock
//  jumped), one submit runs for them all; the ticks skipped are logged at
//  warning (every.skipped, with what kept them). A refused submit is
//  logged (every.failed) and its tick is not retried. Returns the submits
//  made (at most one a schedule).
//  Before that, on the first call and whenever `now` is before the last
//  call's, a schedule whose next tick is more than one interval after now
//  (the wall clock was stepped back) is re-anchored to now + interval,
//  staged and logged (every.reanchored, warning; one line a schedule for
//  the first 20, then one for the rest).
size_t
    every_tick (every_t *self, int64_t now, every_submit_fn *submit, void *arg);

//  every_tick with a bound: stops once the schedules run have made
//  `max_jobs` jobs or more (at least one schedule runs); the rest stay
//  due (every_next_due () <= now) for the next call. `mono` is the
//  monotonic clock (us), to tell a wall clock jump from a pause in the
//  every.skipped reason. Call it every loop turn: it is cheap when
//  nothing is due, and it must see the clock go back.
size_t
    every_tick_some (every_t *self, int64_t now, int64_t mono, size_t max_jobs,
                     every_submit_fn *submit, void *arg);

#endif
