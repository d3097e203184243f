/*  =========================================================================
    async_spin - poll for a short while before sleeping, when waits are short

    On a virtual machine a thread that sleeps lets its vCPU halt, and waking
    it, or a thread the scheduler puts on it, costs an exit to the host:
    tens of microseconds on each hop of a request, where the work of the
    hop is a few. A loop whose waits end soon polls for a short window
    before it sleeps, and keeps a vCPU running for the hop coming back.

    The window adapts like Linux's haltpoll cpuidle governor: when a wait
    outlasts the window but ends within the limit, the window doubles (a
    longer one would have caught it); when a wait outlasts the limit, the
    window halves, down to nothing. A busy loop keeps its window; an idle
    one, or one woken now and then by heartbeats, does not poll at all.

    Private to asyncmesh; not installed.
    =========================================================================
*/
#ifndef ASYNC_SPIN_H_INCLUDED
#define ASYNC_SPIN_H_INCLUDED

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t window;             //  microseconds to poll before sleeping
    int64_t limit;              //  the most it grows to; 0: never poll
    int64_t since;              //  monotonic us when the wait began, or 0
} async_spin_t;

//  The first window a growing one takes, microseconds
#define ASYNC_SPIN_START_US 25

//  Start with no window; it grows up to limit_us (0: never poll).
void
    async_spin_init (async_spin_t *self, int64_t limit_us);

//  A wait begins now: the microseconds to poll before sleeping.
int64_t
    async_spin_begin (async_spin_t *self);

//  The wait that began with async_spin_begin ended (an event came): adapt
//  the window to how long it took.
void
    async_spin_end (async_spin_t *self);

//  The wait that began with async_spin_begin ended by the caller's own
//  timeout, with no event: if it outlasted the limit, the window shrinks;
//  a shorter one says nothing of how soon events come.
void
    async_spin_timeout (async_spin_t *self);

//  Adapt the window to a wait of waited_us (for callers that time it).
void
    async_spin_adapt (async_spin_t *self, int64_t waited_us);

//  Give the CPU to another runnable thread while polling (sched_yield).
void
    async_spin_yield (void);

#ifdef __cplusplus
}
#endif
#endif
