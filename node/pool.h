/*  =========================================================================
    pool - the node's worker threads and the queue of jobs they take

    The node's loop pushes each assigned job onto one queue; the workers
    take them in order, run them, and put them on a list of finished
    jobs, whose eventfd (pool_fd) is readable while the list is not empty.

    Waking a sleeping thread costs more than a short task takes to run
    (tens of microseconds on a busy machine, against one for a no-op), so
    a push does not wake a worker per job. It wakes as many idle workers
    as the queued work needs: one per POOL_BUDGET_US of expected run time,
less the workers already awake without a job or running a quick one.
    A task's expected time is the average of its recent runs; a task not
    run yet, a job run in a child process and a task slower than the
    budget count a whole budget each, so slow jobs still get a worker each
    at once, while a batch of quick ones is run in a row by one worker
    (which finds the next in the queue as it finishes one).

    The average can be wrong (a task that is usually quick blocks for a
    second): pool_check, called from the node's loop, wakes the idle
    workers as soon as the oldest queued job has waited POOL_STALL_US.
    A job therefore never waits longer than that for a free slot, and a
    worker whose quick job has run that long no longer counts as soon
    free for the pushes that follow.
    =========================================================================
*/
#ifndef NODE_POOL_H_INCLUDED
#define NODE_POOL_H_INCLUDED

#include "job.h"

#define POOL_BUDGET_US      200
#define POOL_STALL_US       1000

typedef struct _pool_t pool_t;

//  Runs one job on worker `index`, in that worker's thread
typedef void (pool_run_fn) (void *arg, int index, async_task_t *job);

//  Start `size` worker threads. NULL if a thread or the eventfd cannot be
//  made (errno says why).
pool_t *
    pool_new (int size, pool_run_fn *run, void *arg);

//  Stop the workers (each finishes the job it runs, none takes another)
//  and join them; destroy the jobs still queued or finished.
void
    pool_destroy (pool_t **self_p);

//  The eventfd that is readable while finished jobs wait for pool_done
int
    pool_fd (pool_t *self);

//  How many workers sleep, waiting for work
int
    pool_idle (pool_t *self);

//  How many times a worker was woken for work
uint64_t
    pool_wakes (pool_t *self);

//  Queue jobs: one, or a list linked through ->next (the pool holds them
//  until pool_done hands them back). Wakes workers as the queued work
//  needs: pushing a batch at once decides once. Returns their expected run
//  time in us (each capped at POOL_BUDGET_US).
int64_t
    pool_push (pool_t *self, async_task_t *jobs);

//  Wait, yielding the CPU, up to max_us for a finished job; true if one
//  is there for pool_done. For the loop of a node that just handed out
//  its only, quick work: a sleep in poll would cost it a wake-up.
bool
    pool_wait_done (pool_t *self, int64_t max_us);

//  Take the finished jobs, oldest first, linked through ->next (NULL: none)
async_task_t *
    pool_done (pool_t *self);

//  Take back the jobs no worker has started, oldest first, linked through
//  ->next
async_task_t *
    pool_unqueue (pool_t *self);

//  Wake idle workers if the oldest queued job has waited POOL_STALL_US.
//  Returns the microseconds until that is worth looking at again, or -1
//  when nothing is queued.
int64_t
    pool_check (pool_t *self, int64_t now);

#endif
