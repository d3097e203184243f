/*  =========================================================================
    store_v1 - write a version-1 store (job records as msgpack maps), as a
    broker before the array records left it, for test_store_upgrade.sh

    store_v1 DIR [VERSION]: one completed job (result [42]), one pending
    testing.noop job in queue "default" and one job completed with a
    failure (ValueError, a c key but no f key); prints their ids, one per
    line. VERSION (default 1) is the mversion written
    =========================================================================
*/
#include "keys.h"
#include "store.h"
#include "async_codec.h"
#include "async_job.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_put_map (store_t *store, async_job_t *job)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    async_job_pack (job, &pk);      //  the map form: a version-1 record
    char key [KEYS_ID_SIZE];
    store_put (store, key, keys_id (key, KEYS_JOB, job->id), buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

int
main (int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf (stderr, "usage: store_v1 DIR [VERSION]\n");
        return 2;
    }
    //  Only trouble on stderr: the test reads the ids printed
    async_log_set_level (ASYNC_LOG_WARNING);
    store_t *store;
    if (store_open (argv [1], true, &store))
        return 1;
    uint8_t be [8];
    const char *version = argc == 3 ? argv [2] : "1";
    store_put (store, KEYS_META_VERSION, version, strlen (version));
    store_put_be64 (be, 1);
    store_put (store, KEYS_META_EPOCH, be, 8);
    store_put (store, KEYS_META_SEQ, be, 8);

    int64_t now = async_now_us ();
    async_job_t *done = async_job_new ();
    async_job_set_str (&done->task, "testing.noop");
    async_job_set_str (&done->queue, "default");
    done->status = ASYNC_COMPLETED;
    done->submitted = now - 2000000;
    done->active_start = now - 1500000;
    done->active_end = done->completed_at = now - 1000000;
    done->attempts = 1;
    async_blob_set (&done->result, "\x91\x2a", 2);         //  [42]
    s_put_map (store, done);
    char key [KEYS_MAX];
    store_put (store, key, keys_time (key, KEYS_COMPLETED, done->completed_at, done->id),
               "", 0);

    async_job_t *pending = async_job_new ();
    async_job_set_str (&pending->task, "testing.noop");
    async_job_set_str (&pending->queue, "default");
    pending->status = ASYNC_PENDING;
    pending->submitted = now - 500000;
    pending->seq = 1;
    s_put_map (store, pending);
    //  p<queue>\0<priority><seq> = id \0 task, and the queue's count
    size_t ksize = keys_place (key, "default", 0, 1);
    char value [64];
    memcpy (value, pending->id, 36);
    value [36] = 0;
    memcpy (value + 37, "testing.noop", 12);
    store_put (store, key, ksize, value, 49);
    store_put (store, key, keys_name (key, KEYS_COUNT, "default"), be, 8);

    //  A failed job: completed with a failure, and its c key only (no f
    //  key before version 3)
    async_job_t *failed = async_job_new ();
    async_job_set_str (&failed->task, "testing.fail");
    async_job_set_str (&failed->queue, "default");
    failed->status = ASYNC_COMPLETED;
    failed->submitted = now - 900000;
    failed->active_start = now - 800000;
    failed->active_end = failed->completed_at = now - 700000;
    failed->attempts = 1;
    async_failure_make (&failed->failure, "ValueError", "an old failure", "", false, "", 1);
    s_put_map (store, failed);
    store_put (store, key, keys_time (key, KEYS_COMPLETED, failed->completed_at, failed->id),
               "", 0);

    int rc = store_commit (store, true);
    printf ("%s\n%s\n%s\n", done->id, pending->id, failed->id);
    async_job_destroy (&done);
    async_job_destroy (&pending);
    async_job_destroy (&failed);
    store_destroy (&store);
    return rc ? 1 : 0;
}
