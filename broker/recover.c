/*  =========================================================================
    recover - the broker's recovery after a start (recover.h)
    =========================================================================
*/
#include "recover.h"
#include "broker_impl.h"
#include "async_alloc.h"
#include "keys.h"
#include "lifecycle.h"
#include "nodes.h"
#include "spec.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <errno.h>
#include <string.h>
#include <sys/random.h>

//  Load the <tag><when be64><id> keys, in time order, into the timers:
//  the scheduled jobs ('s', counted in their queue for STATUS: one read
//  each, here) or the begin_by deadlines of pending jobs ('d')
static void
s_load_times (broker_t *self, char tag)
{
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (tag), 1);
    while (store_iter_valid (iter)) {
        size_t ksize;
        const char *key = store_iter_key (iter, &ksize);
        int64_t when;
        char id [ASYNC_ID_LEN];
        if (keys_time_parse (key, ksize, &when, id)) {
            if (tag == KEYS_DEADLINE)
                timers_deadline (self->timers, id, when);
            else {
                async_job_t *job = broker_job_read (self, id);
                timers_schedule (self->timers, id, when, job ? job->queue : NULL);
                async_job_destroy (&job);
            }
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
}

//  Store version 2 -> 3: an 'f' key for each completed job that failed,
//  from the 'c' keys and the records; returns how many. Staged in the
//  batch that writes the new version (running it again puts the same keys)
static size_t
s_failed_index_build (broker_t *self)
{
    size_t failed = 0;
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_COMPLETED), 1);
    while (store_iter_valid (iter)) {
        size_t size;
        const char *ckey = store_iter_key (iter, &size);
        int64_t completed_at;
        char id [ASYNC_ID_LEN];
        if (keys_time_parse (ckey, size, &completed_at, id)) {
            async_job_t *job = broker_job_read (self, id);
            if (job && job->failure.size) {
                char fkey [KEYS_TIME_SIZE];
                store_put (self->store, fkey,
                           keys_time (fkey, KEYS_FAILED, completed_at, id), "", 0);
                failed++;
            }
            async_job_destroy (&job);
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    return failed;
}

int
recover_run (broker_t *self)
{
    char *value;
    size_t size;
    //  Version
    if (store_get (self->store, KEYS_META_VERSION, &value, &size) == 0) {
        bool ok = size == strlen (KEYS_STORE_VERSION)
               && memcmp (value, KEYS_STORE_VERSION, size) == 0;
        //  Version 1 -> 2 (docs/storage.md): job records written from now
        //  on are arrays; the maps of version 1 are read as they are.
        //  2 -> 3: the 'f' index of failed jobs, built from the 'c' keys
        char from = size == 1 && (value [0] == '1' || value [0] == '2') ? value [0] : 0;
        free (value);
        if (from) {
            size_t failed = s_failed_index_build (self);
            store_put (self->store, KEYS_META_VERSION, KEYS_STORE_VERSION,
                       strlen (KEYS_STORE_VERSION));
            async_log_info ("broker", "store.upgraded", "from=%c to=%s failed=%zu", from,
                            KEYS_STORE_VERSION, failed);
        }
        else
        if (!ok) {
            async_log_error ("broker", "store.version", "reason=\"data was written by "
                             "another store version; see docs/storage.md\"");
            return ASYNC_ESTORE;
        }
    }
    else
        store_put (self->store, KEYS_META_VERSION, KEYS_STORE_VERSION,
                   strlen (KEYS_STORE_VERSION));
    if (store_get (self->store, KEYS_META_EPOCH, &value, &size) == 0) {
        if (size == 8)
            self->epoch = store_get_be64 ((uint8_t *) value);
        free (value);
    }
    self->epoch++;
    uint8_t buf [8];
    store_put_be64 (buf, self->epoch);
    store_put (self->store, KEYS_META_EPOCH, buf, 8);
    //  The secret behind fencing tokens (token.h): made once, kept
    uint8_t secret [TOKEN_SECRET_SIZE];
    if (store_get (self->store, KEYS_META_SECRET, &value, &size) == 0) {
        bool ok = size == TOKEN_SECRET_SIZE;
        if (ok)
            memcpy (secret, value, TOKEN_SECRET_SIZE);
        free (value);
        if (!ok) {
            async_log_error ("broker", "store.secret", "reason=\"msecret is not %d bytes; "
                             "see docs/storage.md\"", TOKEN_SECRET_SIZE);
            return ASYNC_ESTORE;
        }
    }
    else {
        if (getrandom (secret, sizeof secret, 0) != (ssize_t) sizeof secret) {
            async_log_error ("broker", "store.secret", "reason=\"no random bytes for the "
                             "token secret: %s\"", strerror (errno));
            return ASYNC_ESTORE;
        }
        store_put (self->store, KEYS_META_SECRET, secret, sizeof secret);
    }
    token_key_load (&self->token_key, secret);
    if (store_get (self->store, KEYS_META_SEQ, &value, &size) == 0) {
        if (size == 8)
            self->seq = store_get_be64 ((uint8_t *) value);
        free (value);
    }
    //  Pending: each queue's first window into memory, and its count
    size_t pending = 0;
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_PENDING), 1);
    keys_place_t place;
    while (store_iter_valid (iter)) {
        if (!keys_place_at (iter, &place)) {
            store_iter_next (iter);
            continue;
        }
        char queue [ASYNC_MAX_NAME + 1];
        memcpy (queue, place.queue, sizeof queue);
        size_t held = 0, counted = 0;
        while (store_iter_valid (iter)
           &&  (held < self->config.window || self->config.window == 0)) {
            if (keys_place_at (iter, &place)) {
                if (strcmp (place.queue, queue))
                    break;
                dispatch_load (self->dispatch, place.id, place.task, queue,
                               place.priority, place.seq, place.quotas, false);
                if (place.seq > self->seq)
                    self->seq = place.seq;
                held++;
            }
            store_iter_next (iter);
        }
        //  The rest stays in the store: its count was kept with it
        char key [300];
        char *count;
        size_t count_size;
        bool known = false;
        if (store_get (self->store, key, keys_name (key, KEYS_COUNT, queue), &count, &count_size) == 0) {
            if (count_size == 8) {
                counted = store_get_be64 ((uint8_t *) count);
                known = true;
            }
            free (count);
        }
        //  Skip to the next queue: p<queue>\1 is past all of this one
        size_t qlen = keys_name (key, KEYS_PENDING, queue) - 1;
        key [1 + qlen] = 1;
        if (!known) {
            //  A store without the count (or a bug): count the keys
            counted = held;
            while (store_iter_valid (iter) && keys_place_at (iter, &place)
               &&  strcmp (place.queue, queue) == 0) {
                counted++;
                store_iter_next (iter);
            }
        }
        else
            store_iter_seek (iter, key, qlen + 2);
        dispatch_set_total (self->dispatch, queue, counted);
        pending += counted > held ? counted : held;
    }
    store_iter_destroy (&iter);
    //  Scheduled jobs, and begin_by deadlines of pending jobs
    s_load_times (self, KEYS_SCHEDULED);
    s_load_times (self, KEYS_DEADLINE);
    //  Hand-off targets
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_HANDOFF), 1);
    while (store_iter_valid (iter)) {
        size_t ksize;
        const char *key = store_iter_key (iter, &ksize);
        char target [ASYNC_ID_LEN], waiting [ASYNC_ID_LEN];
        if (keys_handoff_parse (key, ksize, target, waiting))
            handoffs_add (self->handoffs, target, waiting);
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    //  Quotas
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_QUOTA), 1);
    while (store_iter_valid (iter)) {
        size_t ksize, vsize;
        const char *key = store_iter_key (iter, &ksize);
        const char *val = store_iter_value (iter, &vsize);
        if (vsize == 8 && ksize > 1 && ksize <= ASYNC_MAX_NAME + 1) {
            char name [ASYNC_MAX_NAME + 1];
            snprintf (name, sizeof name, "%.*s", (int) ksize - 1, key + 1);
            uint64_t quota = store_get_be64 ((const uint8_t *) val);
            if (quota >= 1 && quota <= QUOTA_SIZE_MAX)
                quota_set (self->quotas, name, (int64_t) quota);
            else
                async_log_warning ("broker", "store.quota", "quota=%s size=%" PRIu64
                                   " reason=\"a stored size out of range; not used\"",
                                   name, quota);
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    //  Paused queues
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_PAUSED), 1);
    while (store_iter_valid (iter)) {
        size_t ksize;
        const char *key = store_iter_key (iter, &ksize);
        char queue [ASYNC_MAX_NAME + 1];
        snprintf (queue, sizeof queue, "%.*s", (int) (ksize - 1), key + 1);
        if (ksize > 1 && ksize <= ASYNC_MAX_NAME + 1 && spec_name_valid (queue)) {
            dispatch_pause (self->dispatch, queue, true);
            async_log_info ("broker", "queue.paused", "queue=%s pending=%zu "
                            "reason=\"paused before the restart\"", queue,
                            dispatch_pending (self->dispatch, queue));
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    //  Nodes that had a session: dispatch waits for them (nodes_known)
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_NODE), 1);
    while (store_iter_valid (iter)) {
        size_t ksize;
        const char *key = store_iter_key (iter, &ksize);
        char uuid [ASYNC_ID_LEN];
        if (keys_id_parse (key, ksize, uuid)) {
            nodes_await (self->nodes, uuid);
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    nodes_set_awaited_until (self->nodes, async_mono_us ()
                                          + (int64_t) self->config.dead_ms * 1000);
    //  Jobs that were on nodes: wait for their node to come back
    size_t live = 0;
    iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_LIVE), 1);
    while (store_iter_valid (iter)) {
        size_t ksize, vsize;
        const char *key = store_iter_key (iter, &ksize);
        const char *val = store_iter_value (iter, &vsize);
        char id [ASYNC_ID_LEN];
        if (!keys_id_parse (key, ksize, id)) {
            store_iter_next (iter);
            continue;
        }
        ordset_insert (self->live_ids, id);
        if (vsize == 0) {
            //  A running parent (or a job in its callbacks, or handed off):
            //  cached while it runs, with its progress from its x key
            char xkey [KEYS_ID_SIZE];
            async_job_t *job = broker_job_load (self, id);
            if (job && job->kind == ASYNC_KIND_TASK && job->handoff [0]
            &&  job->status == ASYNC_ASSIGNED) {
                //  Handed off by an older broker, which left it assigned
                //  (written so at its next change; cached until then)
                lifecycle_set (job, ASYNC_ACTIVE);
            }
            char *done;
            size_t done_size;
            if (job && job->kind != ASYNC_KIND_TASK
            &&  store_get (self->store, xkey, keys_id (xkey, KEYS_DONE, id), &done, &done_size) == 0) {
                if (done_size == 8) {
                    uint64_t count = store_get_be64 ((uint8_t *) done);
                    if (count > job->children_done && count <= job->nchildren)
                        job->children_done = (size_t) count;
                }
                free (done);
            }
        }
        else
        if (vsize >= ASYNC_ID_CHARS) {
            orphans_add (self->orphans, id,
                         async_mono_us () + (int64_t) self->config.dead_ms * 1000);
            async_job_t *job = broker_job_load (self, id);
            if (job && job->status == ASYNC_PENDING && vsize >= 44) {
                //  Assigned, and not written since: the a key says to whom
                lifecycle_set (job, ASYNC_ASSIGNED);
                memcpy (job->node, val, ASYNC_ID_CHARS);
                job->node [ASYNC_ID_CHARS] = 0;
                job->token = store_get_be64 ((const uint8_t *) val + ASYNC_ID_CHARS);
                char agent [ASYNC_MAX_NAME + 1];
                snprintf (agent, sizeof agent, "%.*s", (int) (vsize - 44), val + 44);
                async_job_set_str (&job->agent, agent);
            }
            if (job)
                quota_count (self->quotas, &job->quotas, +1);
            live++;
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    async_log_info ("broker", "store.recovered", "pending=%zu scheduled=%zu on_nodes=%zu "
                    "nodes=%zu epoch=%" PRIu64, pending, timers_scheduled_size (self->timers), live,
                    nodes_awaited (self->nodes), self->epoch);
    return store_commit (self->store, true);
}
