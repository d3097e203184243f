/*  =========================================================================
    timers - the broker's time-ordered work: what falls due when

    Three lists of pending jobs, each sorted by its due time, then by id:
    - scheduled: jobs with a begin_after, due at a wall-clock time (their
      s key), counted per queue for STATUS;
    - backoffs: retries waiting out their backoff, a duration, due at a
      monotonic time (a clock step does not move them; after a restart the
      broker reads their s key back as a scheduled wall-clock time);
    - deadlines: begin_by of pending jobs, due at a wall-clock time (their
      d key).
    It also measures the gaps between the turns of the broker's loop (a
    process stopped, a VM paused), and turns wall-clock stamps into
    monotonic times.

    The object owns its lists and the per-queue counts, nothing else: the
    broker writes and deletes the keys in its store, pops what is due
    (timers_*_due) and decides what happens to those jobs. One thread (the
    broker's) owns it.
    =========================================================================
*/
#ifndef BROKER_TIMERS_H_INCLUDED
#define BROKER_TIMERS_H_INCLUDED

#include "asyncmesh/id.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A scheduled job or a backoff is due this early (us): a wake-up of the
//  loop a little before its time does not sleep again for so little
#define TIMERS_EARLY_US 1000

typedef struct _timers_t timers_t;

//  An entry popped from its list because it is due
typedef struct {
    int64_t when;               //  wall us: the time of its s or d key
    char id [ASYNC_ID_LEN];
} timers_due_t;

//  Called for a timed entry by timers_each: `when` is wall us for 's',
//  monotonic us for 'b'. Returns false to stop. (The same type as
//  query_timed_fn.)
typedef bool (timers_visit_fn) (void *arg, char phase, int64_t when, const char *id);

//  Called for each queue with scheduled jobs, with their count. (The same
//  type as query_scheduled_fn.)
typedef void (timers_queue_fn) (void *arg, const char *queue, int64_t count);

//  Empty lists. Caller destroys the object with timers_destroy
timers_t *
    timers_new (void);

//  Destroy the object and set *self_p to NULL. Safe to call again
void
    timers_destroy (timers_t **self_p);

//  Job `id` (a 36-char id) starts at wall time `when` (its begin_after);
//  it counts in `queue` for STATUS (NULL: in none, its record was not
//  found)
void
    timers_schedule (timers_t *self, const char *id, int64_t when, const char *queue);

//  Job `id` of `queue` retries at monotonic time `mono`, after its
//  backoff; `when` is the wall time its s key says
void
    timers_backoff (timers_t *self, const char *id, int64_t when, int64_t mono,
                    const char *queue);

//  Pending job `id` must be started by wall time `when` (its begin_by)
void
    timers_deadline (timers_t *self, const char *id, int64_t when);

//  Job `id` left its queue before its time (it was cancelled): its
//  scheduled entry or backoff goes, and its count (its begin_by deadline
//  stays: due, it finds the job no longer pending). True if it had one
bool
    timers_forget (timers_t *self, const char *id);

//  Pop the first scheduled job if it is due at wall time `now` (up to
//  TIMERS_EARLY_US early) into *due: true, or false if none is due
bool
    timers_scheduled_due (timers_t *self, int64_t now, timers_due_t *due);

//  Pop the first backoff if it is over at monotonic time `mono` (up to
//  TIMERS_EARLY_US early) into *due: true, or false if none is
bool
    timers_backoff_due (timers_t *self, int64_t mono, timers_due_t *due);

//  Pop the first deadline if it has come at wall time `now` into *due:
//  true, or false if none has
bool
    timers_deadline_due (timers_t *self, int64_t now, timers_due_t *due);

//  How long the loop may sleep: `wait_us`, or less until the first entry
//  of a list is due (wall time `now`, monotonic time `mono`); may be
//  negative when one is due already
int64_t
    timers_wait (timers_t *self, int64_t now, int64_t mono, int64_t wait_us);

//  Call `visit` for the scheduled jobs (`phase` 's') or the backoffs
//  ('b') in order, after (when, id) if `id` is not NULL, until it returns
//  false (for the listings)
void
    timers_each (timers_t *self, char phase, int64_t when, const char *id,
                 timers_visit_fn *visit, void *arg);

//  The scheduled jobs and backoffs of `queue`, or -1 if it has none
int64_t
    timers_queue_count (timers_t *self, const char *queue);

//  Call `fn` for each queue with scheduled jobs or backoffs
void
    timers_each_queue (timers_t *self, timers_queue_fn *fn, void *arg);

//  How many jobs are scheduled (backoffs and deadlines aside)
size_t
    timers_scheduled_size (timers_t *self);

//  A turn of the broker's loop runs its timers at monotonic time `mono`:
//  the time since the last turn (0 at the first)
int64_t
    timers_gap (timers_t *self, int64_t mono);

//  A wall-clock stamp `wall` of this process or an earlier one as a
//  monotonic time, given the wall time `now` and the monotonic time
//  `mono_now`: how long ago it was, never in the future. Taken once per
//  job, so that only a clock step across a broker restart can move it
int64_t
    timers_mono_from_wall (int64_t wall, int64_t mono_now, int64_t now);

#endif
