#define _GNU_SOURCE
//  submitter - a test helper for test_fault_broker_sigkill_loop.sh
//
//      submitter ENDPOINT FIRST COUNT PATH OUT [PAUSE_MS]
//
//  Submits testing.record(PATH, "<i>") for i in FIRST .. FIRST+COUNT-1,
//  pipelined in batches of 50 through the public client API, each with the
//  idempotency key "sigkill-loop-<i>" so that a submit retried after the
//  broker died cannot make a second job. A submit that did not return 0
//  (the broker was killed meanwhile: exit code 4) is retried until it does,
//  for at most 120 s. Each accepted job is written to OUT as a line
//  "<i> <id>" as soon as its submit returned 0 (the file is flushed per
//  batch), so OUT is the list of jobs the broker promised to keep.
//  PAUSE_MS (default 0) paces the batches, so that faults injected at
//  random moments meet the stream of submits.
//  Prints counts to stderr; exits 0 when all were accepted, 1 if not.
#include <asyncmesh/client.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 50

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep (&ts, NULL);
}

int
main (int argc, char *argv [])
{
    if (argc != 6 && argc != 7) {
        fprintf (stderr, "usage: submitter ENDPOINT FIRST COUNT PATH OUT [PAUSE_MS]\n");
        return 2;
    }
    const char *endpoint = argv [1];
    long first = strtol (argv [2], NULL, 10);
    long count = strtol (argv [3], NULL, 10);
    const char *path = argv [4];
    int pause_ms = argc == 7 ? atoi (argv [6]) : 0;
    FILE *out = fopen (argv [5], "a");
    if (!out || count < 1) {
        fprintf (stderr, "submitter: cannot open %s or bad COUNT\n", argv [5]);
        return 2;
    }
    async_client_t *client = async_client_new (endpoint);
    if (!client) {
        fprintf (stderr, "submitter: cannot create a client for %s\n", endpoint);
        return 2;
    }
    //  A short request timeout: after a kill, give up on the batch quickly
    async_client_set_timeout (client, 2000);
    long *todo = calloc ((size_t) count, sizeof (long));
    for (long i = 0; i < count; i++)
        todo [i] = first + i;
    long left = count, accepted = 0, refused = 0, unreached = 0, other = 0;
    int64_t start = s_mono_ms (), deadline = start + 120000;
    char *specs [BATCH];
    char ids [BATCH * ASYNC_ID_LEN];
    int rcs [BATCH];
    long pos = 0;               //  next entry of todo to try
    while (left > 0 && s_mono_ms () < deadline) {
        //  todo [0 .. left-1] are not accepted yet; go round them in batches
        if (pos >= left)
            pos = 0;
        int n = 0;
        while (n < BATCH && pos + n < left) {
            long i = todo [pos + n];
            char *spec = NULL;
            if (asprintf (&spec, "{\"task\": \"testing.record\", \"args\": [\"%s\", \"%ld\"], "
                          "\"key\": \"sigkill-loop-%ld\"}", path, i, i) < 0)
                return 2;
            specs [n++] = spec;
        }
        async_submit_many_json (client, (const char *const *) specs, (size_t) n, ids, rcs);
        int failed = 0;
        long keep = pos;
        for (int k = 0; k < n; k++) {
            long i = todo [pos + k];
            if (rcs [k] == 0) {
                fprintf (out, "%ld %s\n", i, ids + k * ASYNC_ID_LEN);
                accepted++;
            }
            else {
                failed++;
                if (rcs [k] == ASYNC_EUNREACH)
                    unreached++;
                else
                if (rcs [k] == ASYNC_EREFUSED) {
                    refused++;
                    fprintf (stderr, "submitter: job %ld refused: %s\n", i,
                             async_client_error (client));
                }
                else
                    other++;
                todo [keep++] = i;          //  stays in the list
            }
            free (specs [k]);
        }
        fflush (out);
        //  Close the gap left by the accepted ones
        memmove (todo + keep, todo + pos + n, (size_t) (left - pos - n) * sizeof (long));
        left -= n - failed;
        pos = keep;
        if (failed)
            s_sleep_ms (100);
        else
        if (pause_ms > 0)
            s_sleep_ms (pause_ms);
    }
    fclose (out);
    fprintf (stderr, "submitter: first=%ld count=%ld accepted=%ld left=%ld "
             "failed_unreachable=%ld failed_refused=%ld failed_other=%ld ms=%" PRId64 "\n",
             first, count, accepted, left, unreached, refused, other,
             s_mono_ms () - start);
    free (todo);
    async_client_destroy (&client);
    return left == 0 ? 0 : 1;
}
