/*  =========================================================================
    recover - the broker's recovery after a start: from its store, the
    state it keeps in memory

    Run once by broker_new, on an open store, before the loop: checks and
    upgrades the store's version (docs/storage.md), advances the epoch,
    loads the token secret (making it at the first start) and the last
    seq; loads each queue's first window of pending jobs into dispatch,
    the scheduled jobs and begin_by deadlines into the timers, the
    hand-off targets, the quotas, the nodes known before this start
    (awaited back) and the jobs that were on nodes (orphans, waiting for
    their node's HELLO). It fills the broker's objects, so it works on
    broker_t (broker_impl.h) and owns nothing.
    =========================================================================
*/
#ifndef BROKER_RECOVER_H_INCLUDED
#define BROKER_RECOVER_H_INCLUDED

#include "broker.h"

//  Recover the broker's state from its store, and commit what the
//  recovery wrote (version, epoch, secret, upgrade). 0, or ASYNC_ESTORE
//  (logged) for a store of another version, a bad secret or a failed
//  commit
int
    recover_run (broker_t *self);

#endif
