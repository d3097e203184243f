/*  =========================================================================
    commit - the broker's group commit: its changes, written to the store
    in batches, and the replies that wait for them

    The broker stages what it changes (jobs, idempotency keys, uuid
    bindings, queue counts) and the replies that promise it; commit_start
    hands the staged batch to the store's writer thread, and while that
    batch is in flight the next one grows (group commit). This object is
    the seam between the broker and durability: nothing outside it knows
    whether a batch is on local disk, still in flight, or when it is
    synced, so that a replicated store (a group of brokers agreeing on
    each batch) can take the local store's place behind it.

    It owns the staged batch and the batch in flight: the lists of jobs
    each writes and read, their idempotency keys and uuid bindings (not in
    the store until written), the ids of jobs not to hand out before
    then, and the replies that wait for either batch or for a later sync.
    It owns neither the jobs (the broker's cache does) nor the store, the
    dispatcher and the metrics it is given.

    The contract, for a reply given to commit_reply:
    - written: the batch that staged it, and every batch before, is in the
      store: a crash of the process does not undo it;
    - synced: written, and the write-ahead log synced to disk (with sync
      on): a crash of the machine does not undo it either;
    - released: handed to the broker to send (callbacks.release), once its
      batch is written, and synced if the batch asked for it
      (commit_durable). Outcomes from nodes (commit_outcome, deferrable)
      may be released after a later sync, at most COMMIT_SYNC_DEFER_US
      after they were written. A failed write releases nothing, then or
      later (commit_failed): the broker stops, and a restart recovers from
      the write-ahead log.
    =========================================================================
*/
#ifndef BROKER_COMMIT_H_INCLUDED
#define BROKER_COMMIT_H_INCLUDED

#include "dispatch.h"
#include "metrics.h"
#include "store.h"
#include "async_job.h"
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  How long the ACK of an outcome from a node may wait for a sync (us)
#define COMMIT_SYNC_DEFER_US 2000

//  How the commit calls back into the broker
typedef struct {
    void *arg;                  //  for the calls below (the broker)
    //  Send the reply *zmsg_p, or hold it: its batch is written (and
    //  synced, if it asked). Takes it.
    void (*release) (void *arg, zmsg_t **zmsg_p);
    //  A batch is written and its replies released: `read` holds the
    //  jobs read from the store while it was staged, `changed` those it
    //  wrote (not owned). The callee may detach them; both lists are
    //  emptied after the call
    void (*written) (void *arg, zlistx_t *read, zlistx_t *changed);
    //  Hand out the jobs that may go now (commit_lone: those it held back
    //  are written)
    void (*dispatch) (void *arg);
    //  The broker's sequence number, written with a batch (mseq)
    uint64_t (*seq) (void *arg);
} commit_callbacks_t;

typedef struct _commit_t commit_t;

//  Create the commit over `store` (its writes go with the batches) and
//  `dispatch` (its queues' counts, and told when a batch is written);
//  `metrics` gets the time of each synced write. `sync`: the store syncs
//  its durable writes. The callbacks are copied; what they and the rest
//  point to must outlive the commit. Never NULL.
commit_t *
    commit_new (store_t *store, dispatch_t *dispatch, metrics_t *metrics, bool sync,
                const commit_callbacks_t *callbacks);

//  Destroy the commit and set *self_p to NULL; the replies not released
//  are dropped. Safe to call again.
void
    commit_destroy (commit_t **self_p);

//  ---------------------------------------------------------------------
//  Staging

//  Write `job` with the staged batch (its record is encoded when the
//  batch goes). `fresh`: a new job, not in the store: it is not handed
//  out before the batch is written (commit_veto).
void
    commit_stage_job (commit_t *self, async_job_t *job, bool fresh);

//  `job` was read from the store for the staged batch: it is given back
//  to the broker when the batch is written (callbacks.written).
void
    commit_loaded (commit_t *self, async_job_t *job);

//  Job `id` ended an attempt in the staged batch: its next attempt is not
//  handed out before the batch is written (commit_veto).
void
    commit_hold (commit_t *self, const char *id);

//  The dispatch veto: whether job `id` was created, or ended an attempt,
//  in a batch not written yet (staged or in flight): handed out before,
//  it could run twice after a crash. A job held back makes commit_lone
//  dispatch again once its batch is written.
bool
    commit_veto (commit_t *self, const char *id);

//  A dispatch begins: no job held back yet (commit_veto).
void
    commit_veto_clear (commit_t *self);

//  Stage idempotency key `key` (a k key) for job `id`, and find it until
//  it is written: commit_key_find returns the job's id, or NULL if the
//  key is in no batch staged or in flight (look in the store then).
void
    commit_key_stage (commit_t *self, const char *key, const char *id);
const char *
    commit_key_find (commit_t *self, const char *key);

//  Stage the binding of node uuid `uuid` to the hash of its key (`size`
//  bytes, a b key), and find it until it is written: commit_binding_find
//  returns the hash, or NULL if the binding is in no batch staged or in
//  flight (look in the store then).
void
    commit_binding_stage (commit_t *self, const char *uuid, const uint8_t *hash,
                          size_t size);
const uint8_t *
    commit_binding_find (commit_t *self, const char *uuid);

//  The staged batch holds an acknowledged write: its replies wait for a
//  sync.
void
    commit_durable (commit_t *self);

//  An outcome was staged (a job completed, failed, retried, handed off).
//  One the broker decided is synced with its batch (commit_durable).
//  A `deferrable` one, from a node's RESULT, may wait for a later sync,
//  up to COMMIT_SYNC_DEFER_US: the node keeps the result until its ACK,
//  which goes only after the sync, so a crash in between delivers it
//  again. One job at a time then needs one sync per job (its submit's,
//  which also covers the previous job's outcome).
void
    commit_outcome (commit_t *self, bool deferrable);

//  Release `zmsg` once the staged batch is written (and synced, as the
//  batch asks). Takes it.
void
    commit_reply (commit_t *self, zmsg_t *zmsg);

//  Replies staged with the batch so far.
size_t
    commit_replies (commit_t *self);

//  Whether a batch is in flight whose replies are released as soon as it
//  is written (not after a later sync): commit_reply_flight may join them.
bool
    commit_flight_open (commit_t *self);

//  Release `zmsg` with the replies of the batch in flight (see
//  commit_flight_open). Takes it.
void
    commit_reply_flight (commit_t *self, zmsg_t *zmsg);

//  The jobs and bytes staged so far (for backpressure).
size_t
    commit_staged_jobs (commit_t *self);
size_t
    commit_staged_bytes (commit_t *self);

//  Whether `job` is written by a batch staged or in flight.
bool
    commit_changing (commit_t *self, async_job_t *job);

//  Forget `job` as read for a batch (it is about to be freed).
void
    commit_forget (commit_t *self, async_job_t *job);

//  ---------------------------------------------------------------------
//  Writing

//  Whether a batch is in flight.
bool
    commit_busy (commit_t *self);

//  A file descriptor that polls readable when the batch in flight is
//  written: then call commit_finish.
int
    commit_fd (commit_t *self);

//  Hand the staged batch to the store's writer thread, unless a batch is
//  in flight: then the staged one grows until that is done (group
//  commit). Its replies are released when it is written (commit_finish).
//  `here`: write it on this thread and finish it now. 0, or the store's
//  error (commit_failed is then true).
int
    commit_start (commit_t *self, bool here);

//  Write the staged batch on this thread (a lone request: quicker than
//  the writer). The jobs it creates or retries wait for it (commit_veto)
//  and go right after (callbacks.dispatch), with their assignments
//  written. A batch to be synced is then written first without the
//  sync, which a crash of the process does not undo, so that its jobs go
//  out at once; its replies wait for the sync, made with the
//  assignments. 0, or the store's error.
int
    commit_lone (commit_t *self);

//  If a batch is in flight, wait until it is written, then release what
//  waited for it, and give its jobs back (callbacks.written). 0, or the
//  store's error.
int
    commit_finish (commit_t *self);

//  At a stop: finish the batch in flight, then write what is staged,
//  synced, with every reply that waits for a sync. 0, or the error of the
//  batch in flight (nothing more is written then).
int
    commit_stop (commit_t *self);

//  Microseconds until written outcomes must be synced (0: now), or -1
//  if none waits.
int64_t
    commit_sync_due_us (commit_t *self);

//  Whether a write failed: the store cannot be trusted, the broker stops.
bool
    commit_failed (commit_t *self);

#endif
