/*  =========================================================================
    pool - the node's worker threads and the queue of jobs they take
    (the policy is in pool.h)
    =========================================================================
*/
#include "pool.h"
#include "async_util.h"
#include "async_alloc.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

//  Run times are kept for this many tasks; others count a whole budget
#define S_TIMINGS 128

typedef struct {
    async_task_fn *fn;
    int64_t avg_us;             //  moving average of its runs
    int64_t runs;
} s_timing_t;

typedef struct {
    pool_t *pool;
    int index;
    pthread_t thread;
    int64_t quick_since;        //  counted in nquick since (monotonic us); 0: not
} s_worker_t;

struct _pool_t {
    pthread_mutex_t lock;
    pthread_cond_t cond;        //  idle workers wait here for a token
    s_worker_t *workers;
    int size;
    pool_run_fn *run;
    void *arg;
    int fd;                     //  eventfd: finished jobs wait
    bool stopping;
    async_task_t *head;         //  queued, oldest first
    async_task_t *tail;
    size_t nqueued;
    int64_t queued_cost;        //  us: the queued jobs' expected run time
    async_task_t *done_head;    //  finished, oldest first
    async_task_t *done_tail;
    atomic_bool done_ready;     //  done_head is set (read without the lock)
    int nidle;                  //  workers asleep
    int nsearch;                //  workers awake without a job
    int nquick;                 //  workers running a job expected to be quick
    int tokens;                 //  wakes sent that no worker took yet
    uint64_t wakes;             //  tokens handed out, ever
    s_timing_t timings [S_TIMINGS];
    int ntimings;
};

//  A job's expected run time, capped at the budget; at least 1 us, so
//  that any queued job wants a worker
static int64_t
s_cost (pool_t *self, const async_task_t *job)
{
    if (job->isolated)
        return POOL_BUDGET_US;
    for (int i = 0; i < self->ntimings; i++)
        if (self->timings [i].fn == job->fn) {
            int64_t avg = self->timings [i].avg_us;
            return avg >= POOL_BUDGET_US ? POOL_BUDGET_US : avg < 1 ? 1 : avg;
        }
    return POOL_BUDGET_US;      //  not run yet: assume slow
}

static void
s_timing_add (pool_t *self, async_task_fn *fn, int64_t ran_us)
{
    //  The mean of the first eight runs, then a moving average over about
    //  eight: a slow first run (page faults, a cold cache) weighs no more
    //  than the others
    for (int i = 0; i < self->ntimings; i++)
        if (self->timings [i].fn == fn) {
            s_timing_t *timing = &self->timings [i];
            timing->runs++;
            timing->avg_us += (ran_us - timing->avg_us)
                            / (timing->runs < 8 ? timing->runs : 8);
            return;
        }
    if (self->ntimings < S_TIMINGS)
        self->timings [self->ntimings++] = (s_timing_t) { fn, ran_us, 1 };
}

//  A worker whose quick job has run POOL_STALL_US is not about to take
//  the next one: stop counting it as soon free
static void
s_demote (pool_t *self, int64_t now)
{
    for (int i = 0; self->nquick > 0 && i < self->size; i++) {
        s_worker_t *worker = &self->workers [i];
        if (worker->quick_since && now - worker->quick_since >= POOL_STALL_US) {
            worker->quick_since = 0;
            self->nquick--;
        }
    }
}

//  Hand out up to `count` tokens to idle workers; returns how many to
//  signal (after the lock is let go, so that they do not wake into it)
static int
s_tokens (pool_t *self, int64_t count)
{
    int wake = 0;
    while (count-- > 0 && self->nidle > 0) {
        self->nidle--;
        self->nsearch++;        //  awake from now on, as far as pushes care
        self->tokens++;
        self->wakes++;
        wake++;
    }
    return wake;
}

static void
s_signal (pool_t *self, int wake)
{
    while (wake-- > 0)
        pthread_cond_signal (&self->cond);
}

static void *
s_worker_main (void *arg)
{
    s_worker_t *worker = (s_worker_t *) arg;
    pool_t *self = worker->pool;
    pthread_mutex_lock (&self->lock);
    while (!self->stopping) {
        async_task_t *job = self->head;
        if (!job) {
            self->nsearch--;
            self->nidle++;
            while (!self->tokens && !self->stopping)
                pthread_cond_wait (&self->cond, &self->lock);
            if (self->tokens)
                self->tokens--;         //  its waker counted it awake
            else {
                self->nidle--;          //  stopping
                self->nsearch++;
            }
            continue;
        }
        self->head = job->next;
        if (!self->head)
            self->tail = NULL;
        job->next = NULL;
        self->nqueued--;
        self->queued_cost -= job->cost_us;
        self->nsearch--;
        int64_t started = async_mono_us ();
        if (job->cost_us < POOL_BUDGET_US) {
            self->nquick++;
            worker->quick_since = started;
        }
        pthread_mutex_unlock (&self->lock);

        atomic_store (&job->run_mono, started);
        self->run (self->arg, worker->index, job);
        job->ran_us = async_mono_us () - started;

        pthread_mutex_lock (&self->lock);
        self->nsearch++;
        if (worker->quick_since) {
            self->nquick--;
            worker->quick_since = 0;
        }
        if (!job->isolated)
            s_timing_add (self, job->fn, job->ran_us);
        bool was_empty = !self->done_head;
        if (self->done_tail)
            self->done_tail->next = job;
        else
            self->done_head = job;
        self->done_tail = job;
        atomic_store (&self->done_ready, true);
        if (was_empty) {
            pthread_mutex_unlock (&self->lock);
            uint64_t one = 1;
            ssize_t rc = write (self->fd, &one, sizeof one);
            (void) rc;          //  a counter that cannot overflow here
            pthread_mutex_lock (&self->lock);
        }
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

pool_t *
pool_new (int size, pool_run_fn *run, void *arg)
{
    pool_t *self = async_xcalloc (1, sizeof (pool_t));
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    self->run = run;
    self->arg = arg;
    self->fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->workers = async_xcalloc ((size_t) size, sizeof (s_worker_t));
    if (self->fd < 0 || !self->workers) {
        pool_destroy (&self);
        return NULL;
    }
    //  Each thread starts awake, finds nothing and goes to sleep. The
    //  workers block the signals that stop or reload the node (their
    //  crashes still raise theirs): those go to the node's loop, not into
    //  a task's code, so the handler's flags are written and read on one
    //  thread
    self->nsearch = size;
    static const int stops [] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
    sigset_t blocked, old;
    sigemptyset (&blocked);
    for (size_t i = 0; i < sizeof stops / sizeof stops [0]; i++)
        sigaddset (&blocked, stops [i]);
    pthread_sigmask (SIG_BLOCK, &blocked, &old);
    int rc = 0;
    for (int i = 0; i < size && rc == 0; i++) {
        s_worker_t *worker = &self->workers [i];
        worker->pool = self;
        worker->index = i;
        rc = pthread_create (&worker->thread, NULL, s_worker_main, worker);
        if (rc)
            self->nsearch -= size - i;
        else
            self->size++;
    }
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    if (rc) {
        pool_destroy (&self);
        errno = rc;
        return NULL;
    }
    return self;
}

void
pool_destroy (pool_t **self_p)
{
    pool_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);
    for (int i = 0; i < self->size; i++)
        pthread_join (self->workers [i].thread, NULL);
    async_task_t *lists [2] = { self->head, self->done_head };
    for (int i = 0; i < 2; i++)
        while (lists [i]) {
            async_task_t *next = lists [i]->next;
            node_job_destroy (&lists [i]);
            lists [i] = next;
        }
    if (self->fd >= 0)
        close (self->fd);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->lock);
    free (self->workers);
    free (self);
    *self_p = NULL;
}

int
pool_fd (pool_t *self)
{
    return self->fd;
}

int
pool_idle (pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    int idle = self->nidle;
    pthread_mutex_unlock (&self->lock);
    return idle;
}

uint64_t
pool_wakes (pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t wakes = self->wakes;
    pthread_mutex_unlock (&self->lock);
    return wakes;
}

int64_t
pool_push (pool_t *self, async_task_t *jobs)
{
    int64_t now = async_mono_us ();
    int64_t expected = 0;
    pthread_mutex_lock (&self->lock);
    while (jobs) {
        async_task_t *job = jobs;
        jobs = job->next;
        job->cost_us = s_cost (self, job);
        job->queued_us = now;
        job->next = NULL;
        if (self->tail)
            self->tail->next = job;
        else
            self->head = job;
        self->tail = job;
        self->nqueued++;
        self->queued_cost += job->cost_us;
        expected += job->cost_us;
    }
    //  Workers awake without a job take from the queue now; those running
    //  a quick job soon
    s_demote (self, now);
    int64_t want = (self->queued_cost + POOL_BUDGET_US - 1) / POOL_BUDGET_US;
    int wake = s_tokens (self, want - self->nsearch - self->nquick);
    pthread_mutex_unlock (&self->lock);
    s_signal (self, wake);
    return expected;
}

async_task_t *
pool_done (pool_t *self)
{
    //  Clear the eventfd first: a job finished after it is in the list
    //  taken below, or sets the eventfd again
    uint64_t count;
    ssize_t rc = read (self->fd, &count, sizeof count);
    (void) rc;                  //  EAGAIN: nothing was signalled
    pthread_mutex_lock (&self->lock);
    async_task_t *list = self->done_head;
    self->done_head = self->done_tail = NULL;
    atomic_store (&self->done_ready, false);
    pthread_mutex_unlock (&self->lock);
    return list;
}

bool
pool_wait_done (pool_t *self, int64_t max_us)
{
    int64_t deadline = async_mono_us () + max_us;
    while (!atomic_load (&self->done_ready)) {
        if (async_mono_us () >= deadline)
            return false;
        sched_yield ();         //  the worker may need this core
    }
    return true;
}

async_task_t *
pool_unqueue (pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    async_task_t *list = self->head;
    self->head = self->tail = NULL;
    self->nqueued = 0;
    self->queued_cost = 0;
    pthread_mutex_unlock (&self->lock);
    return list;
}

int64_t
pool_check (pool_t *self, int64_t now)
{
    pthread_mutex_lock (&self->lock);
    if (!self->head) {
        pthread_mutex_unlock (&self->lock);
        return -1;
    }
    int64_t left = self->head->queued_us + POOL_STALL_US - now;
    int wake = 0;
    if (left <= 0) {
        s_demote (self, now);
        //  The averages were wrong: a worker for every queued job
        wake = s_tokens (self, (int64_t) self->nqueued - self->nsearch);
        left = POOL_STALL_US;
    }
    pthread_mutex_unlock (&self->lock);
    s_signal (self, wake);
    return left;
}
