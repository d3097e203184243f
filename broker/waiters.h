/*  =========================================================================
    waiters - the clients waiting for jobs' outcomes: WAIT, SUBMIT with
    `wait` (full or `brief`), and the PROGRESS pushed to them while a job
    runs (docs/protocol.md, WAIT)

    A peer (a routing id) that waits for jobs has a record holding its
    waits, one per job; each wait is also in its job's list. The object
    owns the peers, their waits, when each job's last PROGRESS went, and
    the brief JOBs of this loop turn, one message per peer. It sends
    through the broker's ROUTER by a call back (waiters_calls_t), and hands
    a job's outcome to each of its waiters by another: when that may go
    (now, with the commit, after the write in flight) is the broker's.

    Budgets (docs/protocol.md, Limits): a peer waits for at most
    WAITERS_PEER_WAITS jobs and all peers together for WAITERS_MAX; past
    either a wait is refused with a reason. Each peer is probed every
    WAITERS_PROBE_US (a PING, which a ZMQ_ROUTER_MANDATORY socket cannot
    route to a peer whose connection closed): a peer gone has its waits
    freed, at most WAITERS_FREE_TURN a loop turn.
    =========================================================================
*/
#ifndef BROKER_WAITERS_H_INCLUDED
#define BROKER_WAITERS_H_INCLUDED

#include "async_codec.h"
#include "async_job.h"
#include <czmq.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAITERS_PEER_WAITS      100000      //  waits of one peer
#define WAITERS_MAX             1000000     //  waits of all peers
#define WAITERS_PROBE_US        5000000     //  a peer with waits is probed this often
#define WAITERS_PROBES_TURN     1000        //  peers probed in one loop turn, at most
#define WAITERS_FREE_TURN       20000       //  waits of peers gone freed a turn, at most
#define WAITERS_PROGRESS_US     50000       //  one PROGRESS a job this often, at most

//  What the waiters call back in the broker
typedef struct {
    void *arg;                  //  passed to each call
    //  Send `msg` to the peer at `routing` now, never blocking, and destroy
    //  it. 0, or the errno of a message not sent: EHOSTUNREACH when the
    //  peer is gone (the ROUTER is ZMQ_ROUTER_MANDATORY)
    int (*send) (void *arg, zframe_t *routing, async_msg_t *msg);
    //  Hand `job`'s outcome to the waiter at `routing`: a full JOB, or
    //  with `brief` the {id, status, failure} of waiters_pack_brief
    void (*deliver) (void *arg, zframe_t *routing, bool brief, async_job_t *job);
} waiters_calls_t;

typedef struct _waiters_t waiters_t;

//  Create the waiters, with the default budgets. `calls` is copied.
//  Never NULL.
waiters_t *
    waiters_new (const waiters_calls_t *calls);

//  Destroy the waiters (and every wait) and set *self_p to NULL. Safe to
//  call again.
void
    waiters_destroy (waiters_t **self_p);

//  Set the budgets: waits per peer and in all (for tests; the defaults are
//  WAITERS_PEER_WAITS and WAITERS_MAX).
void
    waiters_set_budgets (waiters_t *self, size_t peer_waits, size_t waits_max);

//  Whether the peer at `routing` may wait for one more job: 0, or -1 with
//  the reason in err.
int
    waiters_room (waiters_t *self, zframe_t *routing, char *err, size_t err_size);

//  The peer at `routing` waits for job `id`'s outcome. 0, or -1 with the
//  reason in err when it may not wait for one more (waiters_room); a wait
//  it has already is kept (a full one wins over a brief one).
int
    waiters_add (waiters_t *self, zframe_t *routing, const char *id, bool brief,
                 char *err, size_t err_size);

//  Hand `job`'s outcome to each of its waiters (calls->deliver), then
//  forget them.
void
    waiters_notify (waiters_t *self, async_job_t *job);

//  Tell the full waiters of job `id` how far it got (PROGRESS): at most one
//  every WAITERS_PROGRESS_US by the monotonic `mono` (us) per job, and the
//  last one (done >= total) always.
void
    waiters_progress (waiters_t *self, const char *id, int64_t done, int64_t total,
                      int64_t mono);

//  Forget the waits for job `id`.
void
    waiters_forget (waiters_t *self, const char *id);

//  Probe the peers whose turn has come by the monotonic `mono` (us), at
//  most WAITERS_PROBES_TURN, and free the waits of peers that are gone,
//  at most WAITERS_FREE_TURN. True when some are left for the next turn.
bool
    waiters_check (waiters_t *self, int64_t mono);

//  Keep a brief JOB for the peer at `routing`, for this turn's JOB with
//  `jobs` (waiters_flush).
void
    waiters_push_brief (waiters_t *self, zframe_t *routing, async_job_t *job);

//  Send this turn's brief JOBs, one message per peer.
void
    waiters_flush (waiters_t *self);

//  The waits held, over all peers.
size_t
    waiters_size (waiters_t *self);

//  The peers with waits, or whose waits are being freed.
size_t
    waiters_peers (waiters_t *self);

//  Pack a job as a brief waiter gets it: {id, status, failure}.
void
    waiters_pack_brief (msgpack_packer *pk, async_job_t *job);

#endif
