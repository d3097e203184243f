/*  =========================================================================
    asyncbench - asyncmesh's side of the benchmark (bench/run drives it)

        asyncbench ENDPOINT w1 [JOBS]      submit JOBS testing.noop (pipelined),
                                          wait for all; prints jobs/s
        asyncbench ENDPOINT w2 [ROUNDS]    one job at a time, submit -> result;
                                          prints p50/p90/p99 in microseconds
        asyncbench ENDPOINT w3 [CHILDREN]  one parallel job of CHILDREN
                                          testing.noop with a postprocess; ms
        asyncbench ENDPOINT fill [JOBS]    submit JOBS pending jobs, no wait

    Output: one line "name value unit" per figure, for bench/run to read.
    =========================================================================
*/
#include <asyncmesh/client.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Submit `count` copies of spec in batches; ids into ids
static int
s_submit_all (async_client_t *client, const char *spec, size_t count, char *ids)
{
    const size_t batch = 2000;
    const char **specs = calloc (batch, sizeof (char *));
    for (size_t i = 0; i < batch; i++)
        specs [i] = spec;
    for (size_t done = 0; done < count; done += batch) {
        size_t n = count - done < batch ? count - done : batch;
        int rc = async_submit_many_json (client, specs, n, ids + done * ASYNC_ID_LEN, NULL);
        if (rc) {
            fprintf (stderr, "asyncbench: submit failed: %s\n", async_client_error (client));
            free (specs);
            return rc;
        }
    }
    free (specs);
    return 0;
}

int
main (int argc, char *argv [])
{
    if (argc < 3) {
        fprintf (stderr, "usage: asyncbench ENDPOINT w1|w2|w3|fill [N]\n");
        return 2;
    }
    async_client_t *client = async_client_new (argv [1]);
    async_client_set_timeout (client, 60000);
    const char *workload = argv [2];
    long n = argc > 3 ? atol (argv [3]) : 0;
    int rc = 0;
    if (strcmp (workload, "w1") == 0 || strcmp (workload, "fill") == 0) {
        size_t count = n > 0 ? (size_t) n : 20000;
        char *ids = malloc (count * ASYNC_ID_LEN);
        double start = s_now ();
        rc = s_submit_all (client, "{\"task\": \"testing.noop\"}", count, ids);
        double submitted = s_now ();
        if (rc == 0 && strcmp (workload, "w1") == 0) {
            size_t failed = 0;
            rc = async_wait_all (client, ids, count, 600000, &failed);
            double done = s_now ();
            printf ("w1_submit_rate %.0f jobs/s\n", count / (submitted - start));
            printf ("w1_throughput %.0f jobs/s\n", count / (done - start));
            printf ("w1_failed %zu jobs\n", failed);
        }
        else
        if (rc == 0)
            printf ("fill_submit_rate %.0f jobs/s\n", count / (submitted - start));
        free (ids);
    }
    else
    if (strcmp (workload, "w2") == 0) {
        size_t rounds = n > 0 ? (size_t) n : 2000;
        double *lat = calloc (rounds, sizeof (double));
        for (size_t i = 0; i < rounds && rc == 0; i++) {
            char id [ASYNC_ID_LEN];
            char *job = NULL;
            double start = s_now ();
            rc = async_submit_json (client, "{\"task\": \"testing.noop\"}", id);
            if (rc == 0)
                rc = async_wait_json (client, id, 60000, &job);
            lat [i] = (s_now () - start) * 1e6;
            free (job);
        }
        if (rc == 0) {
            qsort (lat, rounds, sizeof (double), s_compare);
            printf ("w2_p50 %.0f us\n", lat [rounds / 2]);
            printf ("w2_p90 %.0f us\n", lat [rounds * 9 / 10]);
            printf ("w2_p99 %.0f us\n", lat [rounds * 99 / 100]);
        }
        free (lat);
    }
    else
    if (strcmp (workload, "w3") == 0) {
        long children = n > 0 ? n : 1000;
        size_t size = 64 + (size_t) children * 32;
        char *spec = malloc (size);
        size_t len = (size_t) snprintf (spec, size, "{\"parallel\": [");
        for (long i = 0; i < children; i++)
            len += (size_t) snprintf (spec + len, size - len, "%s{\"task\":\"testing.noop\"}",
                                      i ? "," : "");
        snprintf (spec + len, size - len,
                  "], \"postprocess\": {\"task\": \"testing.noop\"}}");
        char id [ASYNC_ID_LEN];
        char *job = NULL;
        double start = s_now ();
        rc = async_submit_json (client, spec, id);
        if (rc == 0)
            rc = async_wait_json (client, id, 600000, &job);
        if (rc == 0)
            printf ("w3_time %.1f ms\n", (s_now () - start) * 1e3);
        free (job);
        free (spec);
    }
    else {
        fprintf (stderr, "asyncbench: unknown workload '%s'\n", workload);
        rc = 2;
    }
    if (rc && rc != 2)
        fprintf (stderr, "asyncbench: %s (%s)\n", async_strerror (rc), async_client_error (client));
    async_client_destroy (&client);
    return rc;
}
