/*  =========================================================================
    store_live - write a store of many running parallel jobs, each waiting
    for its one child, pending in a queue that no node serves, for
    test_list_many_live.sh and test_status_many_queues.sh

    store_live DIR PARENTS QUEUES: PARENTS running parallel jobs (status
    active, an 'a' key each, as queueing_start leaves them) and their PARENTS
    children (testing.noop, pending), spread over QUEUES queues named
    q000000, q000001, ... Cheaper by far than submitting them: a broker
    started on DIR recovers them all, live.
    =========================================================================
*/
#include "keys.h"
#include "store.h"
#include "async_job.h"
#include "async_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_put_job (store_t *store, async_job_t *job)
{
    uint8_t *data;
    size_t size;
    if (async_job_encode (job, &data, &size)) {
        fprintf (stderr, "store_live: cannot encode a job\n");
        exit (1);
    }
    char key [KEYS_ID_SIZE];
    store_put (store, key, keys_id (key, KEYS_JOB, job->id), data, size);
    free (data);
}

static long
s_number (const char *text, long max)
{
    char *end;
    long number = strtol (text, &end, 10);
    if (*end || number < 1 || number > max) {
        fprintf (stderr, "store_live: %s is not a number from 1 to %ld\n", text, max);
        exit (2);
    }
    return number;
}

int
main (int argc, char **argv)
{
    if (argc != 4) {
        fprintf (stderr, "usage: store_live DIR PARENTS QUEUES\n");
        return 2;
    }
    long parents = s_number (argv [2], 10000000);
    long queues = s_number (argv [3], parents);
    store_t *store;
    if (store_open (argv [1], true, &store))
        return 1;
    uint8_t be [8];
    store_put (store, KEYS_META_VERSION, KEYS_STORE_VERSION, strlen (KEYS_STORE_VERSION));
    store_put_be64 (be, 1);
    store_put (store, KEYS_META_EPOCH, be, 8);
    store_put_be64 (be, (uint64_t) parents + 1);
    store_put (store, KEYS_META_SEQ, be, 8);

    int64_t now = async_now_us ();
    long *counts = (long *) calloc ((size_t) queues, sizeof (long));
    if (!counts)
        return 1;
    int rc = 0;
    for (long i = 0; i < parents && rc == 0; i++) {
        char queue [32];
        snprintf (queue, sizeof queue, "q%06ld", i % queues);
        async_job_t *parent = async_job_new ();
        async_job_t *child = async_job_new ();
        parent->kind = ASYNC_KIND_PARALLEL;
        async_job_set_str (&parent->queue, queue);
        parent->status = ASYNC_ACTIVE;
        parent->submitted = parent->active_start = now - 1000000;
        async_job_add_child (parent, child->id);
        async_job_set_str (&child->task, "testing.noop");
        async_job_set_str (&child->queue, queue);
        child->status = ASYNC_PENDING;
        child->role = ASYNC_ROLE_CHILD;
        memcpy (child->parent, parent->id, ASYNC_ID_LEN);
        child->submitted = now - 1000000;
        child->seq = (uint64_t) i + 1;
        s_put_job (store, parent);
        s_put_job (store, child);
        char key [KEYS_MAX];
        store_put (store, key, keys_id (key, KEYS_LIVE, parent->id), "", 0);
        //  p<queue>\0<priority><seq> = id \0 task
        size_t ksize = keys_place (key, queue, 0, child->seq);
        char value [64];
        memcpy (value, child->id, 36);
        value [36] = 0;
        memcpy (value + 37, "testing.noop", 12);
        store_put (store, key, ksize, value, 49);
        counts [i % queues]++;
        async_job_destroy (&parent);
        async_job_destroy (&child);
        if (i % 20000 == 19999)
            rc = store_commit (store, false);
    }
    for (long q = 0; q < queues && rc == 0; q++) {
        char queue [32], key [KEYS_MAX];
        snprintf (queue, sizeof queue, "q%06ld", q);
        store_put_be64 (be, (uint64_t) counts [q]);
        store_put (store, key, keys_name (key, KEYS_COUNT, queue), be, 8);
        if (q % 20000 == 19999)
            rc = store_commit (store, false);
    }
    if (rc == 0)
        rc = store_commit (store, true);
    free (counts);
    store_destroy (&store);
    return rc ? 1 : 0;
}
