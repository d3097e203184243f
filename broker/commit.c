/*  =========================================================================
    commit - the broker's group commit (commit.h)
    =========================================================================
*/
#include "commit.h"
#include "keys.h"
#include "async_alloc.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include <assert.h>

struct _commit_t {
    store_t *store;
    dispatch_t *dispatch;
    metrics_t *metrics;
    bool sync;                  //  the store syncs durable writes
    commit_callbacks_t callbacks;
    //  The staged batch
    zlistx_t *dirty;            //  async_job_t * to write
    zlistx_t *loaded;           //  async_job_t * read from the store for it
    zlistx_t *replies;          //  zmsg_t * to release when it is written
    zhashx_t *keys;             //  idempotency key -> job id
    zhashx_t *bindings;         //  uuid -> key hash: its b keys
    zhashx_t *unwritten;        //  id -> 1: jobs created, or whose attempt
                                //  ended, in it: not handed out before it
                                //  is written (commit_veto)
    bool durable;               //  it holds acknowledged writes
    bool durable_soon;          //  ... or outcomes from nodes: their ACKs may
                                //  wait for a later sync (COMMIT_SYNC_DEFER_US)
    bool withheld;              //  dispatch held back such a job
    //  The batch being written by the store's writer thread: what waits
    //  for it (commit_start hands it over, s_commit_done finishes it)
    zlistx_t *flight_replies;
    zlistx_t *flight_dirty;
    zlistx_t *flight_loaded;
    zhashx_t *flight_keys;
    zhashx_t *flight_bindings;
    zhashx_t *flight_unwritten;
    bool flight_synced;
    bool flight_deferred;       //  written unsynced: its replies wait for a sync
    int64_t flight_start;       //  monotonic us
    //  Written, waiting for a sync
    zlistx_t *unsynced;         //  zmsg_t *: ACKs of written, unsynced outcomes
    int64_t unsynced_since;     //  monotonic us, of the oldest of them
    bool failed;                //  a write failed: the broker stops
};

static void
s_zmsg_free (void **item)
{
    zmsg_destroy ((zmsg_t **) item);
}

static zlistx_t *
s_replies_new (void)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, s_zmsg_free);
    return list;
}

static zhashx_t *
s_strings_new (void)
{
    zhashx_t *hash = zhashx_new ();
    zhashx_set_destructor (hash, (zhashx_destructor_fn *) zstr_free);
    return hash;
}

commit_t *
commit_new (store_t *store, dispatch_t *dispatch, metrics_t *metrics, bool sync,
            const commit_callbacks_t *callbacks)
{
    assert (store && dispatch && metrics && callbacks);
    assert (callbacks->release && callbacks->written && callbacks->dispatch
            && callbacks->seq);
    commit_t *self = (commit_t *) async_xcalloc (1, sizeof (commit_t));
    self->store = store;
    self->dispatch = dispatch;
    self->metrics = metrics;
    self->sync = sync;
    self->callbacks = *callbacks;
    self->dirty = zlistx_new ();
    self->loaded = zlistx_new ();
    self->replies = s_replies_new ();
    self->keys = s_strings_new ();
    self->bindings = s_strings_new ();
    self->unwritten = zhashx_new ();
    self->flight_replies = s_replies_new ();
    self->flight_dirty = zlistx_new ();
    self->flight_loaded = zlistx_new ();
    self->flight_keys = s_strings_new ();
    self->flight_bindings = s_strings_new ();
    self->flight_unwritten = zhashx_new ();
    self->unsynced = s_replies_new ();
    return self;
}

void
commit_destroy (commit_t **self_p)
{
    commit_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->dirty);
    zlistx_destroy (&self->loaded);
    zlistx_destroy (&self->replies);
    zhashx_destroy (&self->keys);
    zhashx_destroy (&self->bindings);
    zhashx_destroy (&self->unwritten);
    zlistx_destroy (&self->flight_replies);
    zlistx_destroy (&self->flight_dirty);
    zlistx_destroy (&self->flight_loaded);
    zhashx_destroy (&self->flight_keys);
    zhashx_destroy (&self->flight_bindings);
    zhashx_destroy (&self->flight_unwritten);
    zlistx_destroy (&self->unsynced);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Staging

void
commit_stage_job (commit_t *self, async_job_t *job, bool fresh)
{
    if (fresh)
        zhashx_insert (self->unwritten, job->id, (void *) 1);
    if (!job->dirty) {
        job->dirty = true;
        zlistx_add_end (self->dirty, job);
    }
}

void
commit_loaded (commit_t *self, async_job_t *job)
{
    zlistx_add_end (self->loaded, job);
}

void
commit_hold (commit_t *self, const char *id)
{
    zhashx_insert (self->unwritten, id, (void *) 1);
}

bool
commit_veto (commit_t *self, const char *id)
{
    if ((zhashx_size (self->unwritten) && zhashx_lookup (self->unwritten, id))
    ||  (zhashx_size (self->flight_unwritten)
         && zhashx_lookup (self->flight_unwritten, id))) {
        self->withheld = true;
        return true;
    }
    return false;
}

void
commit_veto_clear (commit_t *self)
{
    self->withheld = false;
}

void
commit_key_stage (commit_t *self, const char *key, const char *id)
{
    char skey [KEYS_MAX];
    store_put (self->store, skey, keys_name (skey, KEYS_IDEMPOTENT, key), id, ASYNC_ID_CHARS);
    zhashx_insert (self->keys, key, async_xstrdup (id));
}

const char *
commit_key_find (commit_t *self, const char *key)
{
    const char *id = (const char *) zhashx_lookup (self->keys, key);
    if (!id)
        id = (const char *) zhashx_lookup (self->flight_keys, key);
    return id;
}

void
commit_binding_stage (commit_t *self, const char *uuid, const uint8_t *hash, size_t size)
{
    char key [KEYS_ID_SIZE];
    store_put (self->store, key, keys_binding (key, uuid), hash, size);
    uint8_t *copy = (uint8_t *) async_xmalloc (size);
    memcpy (copy, hash, size);
    zhashx_update (self->bindings, uuid, copy);
}

const uint8_t *
commit_binding_find (commit_t *self, const char *uuid)
{
    const uint8_t *hash = (const uint8_t *) zhashx_lookup (self->bindings, uuid);
    if (!hash)
        hash = (const uint8_t *) zhashx_lookup (self->flight_bindings, uuid);
    return hash;
}

void
commit_durable (commit_t *self)
{
    self->durable = true;
}

void
commit_outcome (commit_t *self, bool deferrable)
{
    if (deferrable)
        self->durable_soon = true;
    else
        self->durable = true;
}

void
commit_reply (commit_t *self, zmsg_t *zmsg)
{
    zlistx_add_end (self->replies, zmsg);
}

size_t
commit_replies (commit_t *self)
{
    return zlistx_size (self->replies);
}

bool
commit_flight_open (commit_t *self)
{
    return store_commit_busy (self->store) && !self->flight_deferred;
}

void
commit_reply_flight (commit_t *self, zmsg_t *zmsg)
{
    assert (commit_flight_open (self));
    zlistx_add_end (self->flight_replies, zmsg);
}

size_t
commit_staged_jobs (commit_t *self)
{
    return zlistx_size (self->dirty);
}

size_t
commit_staged_bytes (commit_t *self)
{
    return store_pending_bytes (self->store);
}

bool
commit_changing (commit_t *self, async_job_t *job)
{
    return job->dirty || zlistx_find (self->flight_dirty, job);
}

void
commit_forget (commit_t *self, async_job_t *job)
{
    void *handle = zlistx_find (self->loaded, job);
    if (handle)
        zlistx_detach (self->loaded, handle);
    handle = zlistx_find (self->flight_loaded, job);
    if (handle)
        zlistx_detach (self->flight_loaded, handle);
}

//  ---------------------------------------------------------------------
//  Writing

bool
commit_busy (commit_t *self)
{
    return store_commit_busy (self->store);
}

int
commit_fd (commit_t *self)
{
    return store_commit_fd (self->store);
}

int64_t
commit_sync_due_us (commit_t *self)
{
    if (!zlistx_size (self->unsynced))
        return -1;
    int64_t due = self->unsynced_since + COMMIT_SYNC_DEFER_US - async_mono_us ();
    return due > 0 ? due : 0;
}

static bool
s_sync_overdue (commit_t *self)
{
    return commit_sync_due_us (self) == 0;
}

bool
commit_failed (commit_t *self)
{
    return self->failed;
}

//  A queue's pending count goes with the batch that changed it
static void
s_stage_count (void *arg, const char *queue, size_t total)
{
    commit_t *self = (commit_t *) arg;
    char key [300];
    uint8_t value [8];
    size_t size = keys_name (key, KEYS_COUNT, queue);
    if (total == 0)
        store_delete (self->store, key, size);
    else {
        store_put_be64 (value, total);
        store_put (self->store, key, size, value, 8);
    }
}

//  The batch in flight is written, with outcome `rc`. Release what
//  waited for it, and give its jobs back to the broker.
static int
s_commit_done (commit_t *self, int rc)
{
    if (rc) {
        //  RocksDB cannot be trusted after a failed write: stop. Nothing
        //  acknowledged is lost (the replies waiting for this batch never
        //  went out); a restart recovers from the WAL. The free-space
        //  reserve exists so that this does not happen on a full disk.
        async_log_error ("broker", "store.failed", "replies=%zu reason=\"a write "
                         "failed; stopping so that a restart recovers from the WAL\"",
                         zlistx_size (self->flight_replies));
        self->failed = true;
        return rc;
    }
    if (self->flight_synced)
        metrics_sync (self->metrics, (async_mono_us () - self->flight_start) / 1e6);
    dispatch_committed (self->dispatch);
    zhashx_purge (self->flight_keys);
    zhashx_purge (self->flight_bindings);   //  in the store now
    zhashx_purge (self->flight_unwritten);  //  their jobs may go now
    zmsg_t *zmsg;
    if (self->flight_synced)
        while ((zmsg = (zmsg_t *) zlistx_detach (self->unsynced, NULL)))
            self->callbacks.release (self->callbacks.arg, &zmsg);
    if (self->flight_deferred) {
        //  Its ACKs wait for a sync (commit_outcome)
        if (zlistx_size (self->flight_replies) && !zlistx_size (self->unsynced))
            self->unsynced_since = async_mono_us ();
        while ((zmsg = (zmsg_t *) zlistx_detach (self->flight_replies, NULL)))
            zlistx_add_end (self->unsynced, zmsg);
    }
    while ((zmsg = (zmsg_t *) zlistx_detach (self->flight_replies, NULL)))
        self->callbacks.release (self->callbacks.arg, &zmsg);
    //  The broker reads back pending jobs and evicts the jobs this batch
    //  changed or read that are not live: the store has them now
    self->callbacks.written (self->callbacks.arg, self->flight_loaded, self->flight_dirty);
    zlistx_purge (self->flight_loaded);
    zlistx_purge (self->flight_dirty);
    return 0;
}

int
commit_start (commit_t *self, bool here)
{
    if (store_commit_busy (self->store))
        return 0;
    //  A job both read and changed in this batch is decided with the
    //  changed ones; their records are encoded now
    async_job_t *job = (async_job_t *) zlistx_first (self->loaded);
    while (job) {
        if (job->dirty)
            zlistx_detach_cur (self->loaded);
        job = (async_job_t *) zlistx_next (self->loaded);
    }
    job = (async_job_t *) zlistx_first (self->dirty);
    while (job) {
        char key [40];
        uint8_t *data;
        size_t size;
        if (async_job_encode (job, &data, &size) == 0) {
            store_put (self->store, key, keys_id (key, KEYS_JOB, job->id), data, size);
            free (data);
        }
        job->dirty = false;
        job = (async_job_t *) zlistx_next (self->dirty);
    }
    dispatch_each_dirty (self->dispatch, s_stage_count, self);
    //  Outcomes wait for a sync no longer than COMMIT_SYNC_DEFER_US;
    //  without sync every write is as durable as it gets
    if (s_sync_overdue (self) || (self->durable_soon && !self->sync))
        self->durable = true;
    bool deferred = !self->durable && self->durable_soon;
    self->durable_soon = false;
    //  (with nothing else to write, mseq makes the sync that ACKs wait for)
    if (store_pending (self->store)
    || (self->durable && zlistx_size (self->unsynced))) {
        uint8_t seq [8];
        store_put_be64 (seq, self->callbacks.seq (self->callbacks.arg));
        store_put (self->store, KEYS_META_SEQ, seq, 8);
    }
    //  What waits for this batch goes with it
    zlistx_t *list = self->flight_replies;
    self->flight_replies = self->replies;
    self->replies = list;
    list = self->flight_dirty;
    self->flight_dirty = self->dirty;
    self->dirty = list;
    list = self->flight_loaded;
    self->flight_loaded = self->loaded;
    self->loaded = list;
    zhashx_t *keys = self->flight_keys;
    self->flight_keys = self->keys;
    self->keys = keys;
    zhashx_t *bindings = self->flight_bindings;
    self->flight_bindings = self->bindings;
    self->bindings = bindings;
    zhashx_t *unwritten = self->flight_unwritten;
    self->flight_unwritten = self->unwritten;
    self->unwritten = unwritten;
    dispatch_committing (self->dispatch);
    self->flight_synced = self->durable && self->sync && store_pending (self->store);
    self->flight_deferred = deferred;
    self->flight_start = async_mono_us ();
    bool durable = self->durable;
    self->durable = false;
    if (here)                   //  written by this thread
        return s_commit_done (self, store_commit (self->store, durable));
    int rc = store_commit_start (self->store, durable);
    if (rc == 1)
        return s_commit_done (self, 0);         //  nothing to write
    return rc == 0 ? 0 : s_commit_done (self, rc);
}

int
commit_lone (commit_t *self)
{
    bool split = self->durable && self->sync && zhashx_size (self->unwritten)
              && !store_commit_busy (self->store);
    if (split) {
        self->durable = false;
        self->durable_soon = true;      //  its replies wait for a sync
    }
    int rc = commit_start (self, true);
    if (rc || store_commit_busy (self->store) || !(split || self->withheld))
        return rc;
    self->callbacks.dispatch (self->callbacks.arg);
    self->durable |= split;
    return commit_start (self, true);
}

int
commit_finish (commit_t *self)
{
    if (!store_commit_busy (self->store))
        return 0;
    return s_commit_done (self, store_commit_finish (self->store));
}

int
commit_stop (commit_t *self)
{
    int rc = commit_finish (self);
    if (rc == 0) {
        self->durable |= self->durable_soon || zlistx_size (self->unsynced);
        commit_start (self, true);
    }
    return rc;
}
