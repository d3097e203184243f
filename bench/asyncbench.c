/*  =========================================================================
    asyncbench - asyncmesh's side of the benchmark (bench/run drives it)

        asyncbench ENDPOINT w1 [JOBS]      submit JOBS testing.noop and wait for
                                          all, pipelined, each SUBMIT carrying
                                          its wait (async_submit_wait_many_json);
                                          prints jobs/s
        asyncbench ENDPOINT w1split [JOBS] the same in two steps: submit all
                                          (async_submit_many_json, batches of
                                          2,000), then async_wait_all
        asyncbench ENDPOINT w2 [ROUNDS]    one job at a time, submit -> result;
                                          prints p50/p90/p99 in microseconds
        asyncbench ENDPOINT w3 [CHILDREN]  one parallel job of CHILDREN
                                          testing.noop with a postprocess; ms
        asyncbench ENDPOINT fill [JOBS] [QUEUE]
                                          submit JOBS pending jobs (to QUEUE,
                                          default "default"), no wait
        asyncbench ENDPOINT watch T0 TOTAL poll STATUS: seconds from T0 (epoch
                                          seconds, e.g. the broker's restart)
                                          until the first job is dispatched,
                                          and until TOTAL jobs completed with
                                          none pending (W5)

    W1, W2 and W3 run the task named by the environment variable
    ASYNCBENCH_TASK (default testing.noop; e.g. testing.fail to check that
    failures are caught). Each prints "*_failed N jobs", and a run in which
    any job failed exits 1.

    Output: one line "name value unit" per figure, for bench/run to read.
    =========================================================================
*/
#include "bench_util.h"
#include <asyncmesh/client.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

//  The task W1-W3 run: testing.noop, or ASYNCBENCH_TASK
static const char *
s_task (void)
{
    const char *task = getenv ("ASYNCBENCH_TASK");
    return task && *task && strlen (task) < 200 && !strpbrk (task, "\"\\")
         ? task : "testing.noop";
}

//  Whether a job JSON shows a failure (or cannot be read)
static bool
s_job_failed (const char *text)
{
    json_t *job = text ? json_loads (text, 0, NULL) : NULL;
    bool failed = !job || json_object_get (job, "failure") != NULL
               || !json_is_string (json_object_get (job, "status"))
               || strcmp (json_string_value (json_object_get (job, "status")), "completed");
    json_decref (job);
    return failed;
}

//  A whole number in [min, max] from the command line, or exit 2
static long
s_number (const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max) {
        fprintf (stderr, "asyncbench: N must be a number from %ld to %ld, not '%s'\n",
                 min, max, text);
        exit (2);
    }
    return value;
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

//  From STATUS: jobs pending (incl. scheduled), jobs on nodes, jobs completed
//  since the broker started. 0 or the client's error.
static int
s_status_counts (async_client_t *client, int64_t *waiting, int64_t *running,
                 int64_t *completed)
{
    char *text = NULL;
    int rc = async_status_json (client, &text);
    if (rc)
        return rc;
    json_t *status = json_loads (text, 0, NULL);
    free (text);
    *waiting = *running = *completed = 0;
    const char *name;
    json_t *queue;
    json_object_foreach (json_object_get (status, "queues"), name, queue) {
        *waiting += json_integer_value (json_object_get (queue, "pending"))
                  + json_integer_value (json_object_get (queue, "scheduled"));
        *running += json_integer_value (json_object_get (queue, "assigned"))
                  + json_integer_value (json_object_get (queue, "active"));
    }
    json_t *jobs = json_object_get (status, "jobs");
    *completed = json_integer_value (json_object_get (jobs, "completed"))
               + json_integer_value (json_object_get (jobs, "failed"));
    json_decref (status);
    return 0;
}

//  W5: after a broker restart at t0, when is the first job dispatched, and
//  when have `total` jobs completed with nothing left?
static int
s_watch (async_client_t *client, double t0, int64_t total)
{
    double first = 0;
    int64_t waiting = 0, running = 0, completed = 0;
    while (true) {
        int rc = s_status_counts (client, &waiting, &running, &completed);
        if (rc && rc != ASYNC_EUNREACH)
            return rc;
        double now = bench_wall ();
        if (rc == 0 && !first && (running > 0 || completed > 0)) {
            first = now;
            printf ("w5_first_dispatch %.3f s\n", first - t0);
            fflush (stdout);
        }
        if (rc == 0 && completed >= total && waiting == 0 && running == 0) {
            printf ("w5_drain %.1f s\n", now - t0);
            printf ("w5_drain_rate %.0f jobs/s\n", completed / (now - (first ? first : t0)));
            return 0;
        }
        if (now - t0 > 3600) {
            fprintf (stderr, "asyncbench: watch: %lld completed, %lld waiting, %lld running "
                     "after an hour; giving up\n", (long long) completed,
                     (long long) waiting, (long long) running);
            return ASYNC_ETIMEOUT;
        }
        struct timespec pause = { 0, first ? 250000000 : 2000000 };
        nanosleep (&pause, NULL);
    }
}

int
main (int argc, char *argv [])
{
    if (argc < 3) {
        fprintf (stderr, "usage: asyncbench ENDPOINT w1|w1split|w2|w3|fill|watch [N]\n");
        return 2;
    }
    const char *workload = argv [2];
    long n = argc > 3 && strcmp (workload, "watch") ? s_number (argv [3], 1, 100000000) : 0;
    async_client_t *client = async_client_new (argv [1]);
    async_client_set_timeout (client, 60000);
    char task_spec [300];
    snprintf (task_spec, sizeof task_spec, "{\"task\": \"%s\"}", s_task ());
    int rc = 0;
    bool jobs_failed = false;   //  exit 1: the run worked, jobs failed
    if (strcmp (workload, "w1") == 0) {
        //  The fastest way: each SUBMIT also registers the wait
        size_t count = n > 0 ? (size_t) n : 20000;
        char *ids = malloc (count * ASYNC_ID_LEN);
        const char **specs = calloc (count, sizeof (char *));
        for (size_t i = 0; i < count; i++)
            specs [i] = task_spec;
        size_t failed = 0;
        double start = bench_now ();
        rc = async_submit_wait_many_json (client, specs, count, 600000, ids, &failed);
        double done = bench_now ();
        if (rc == 0) {
            printf ("w1_throughput %.0f jobs/s\n", count / (done - start));
            printf ("w1_failed %zu jobs\n", failed);
            if (failed) {
                fprintf (stderr, "asyncbench: w1: %zu of %zu jobs failed\n", failed, count);
                jobs_failed = true;
            }
        }
        else
            fprintf (stderr, "asyncbench: w1 failed: %s\n", async_client_error (client));
        free (specs);
        free (ids);
    }
    else
    if (strcmp (workload, "w1split") == 0 || strcmp (workload, "fill") == 0) {
        size_t count = n > 0 ? (size_t) n : 20000;
        char *ids = malloc (count * ASYNC_ID_LEN);
        double start = bench_now ();
        char spec [300];
        snprintf (spec, sizeof spec, "%s", task_spec);
        if (strcmp (workload, "fill") == 0 && argc > 4)
            snprintf (spec, sizeof spec, "{\"task\": \"testing.noop\", \"queue\": \"%.200s\"}",
                      argv [4]);
        rc = s_submit_all (client, spec, count, ids);
        double submitted = bench_now ();
        if (rc == 0 && strcmp (workload, "w1split") == 0) {
            size_t failed = 0;
            rc = async_wait_all (client, ids, count, 600000, &failed);
            double done = bench_now ();
            printf ("w1_submit_rate %.0f jobs/s\n", count / (submitted - start));
            printf ("w1split_throughput %.0f jobs/s\n", count / (done - start));
            printf ("w1split_failed %zu jobs\n", failed);
            if (rc == 0 && failed) {
                fprintf (stderr, "asyncbench: w1split: %zu of %zu jobs failed\n", failed, count);
                jobs_failed = true;
            }
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
        size_t failed = 0;
        for (size_t i = 0; i < rounds && rc == 0; i++) {
            char id [ASYNC_ID_LEN];
            char *job = NULL;
            double start = bench_now ();
            rc = async_submit_wait_json (client, task_spec, 60000, id, &job);
            lat [i] = (bench_now () - start) * 1e6;
            if (rc == 0 && s_job_failed (job))
                failed++;
            free (job);
        }
        if (rc == 0) {
            bench_print_w2 (lat, rounds);
            printf ("w2_failed %zu jobs\n", failed);
            if (failed) {
                fprintf (stderr, "asyncbench: w2: %zu of %zu jobs failed\n", failed, rounds);
                jobs_failed = true;
            }
        }
        free (lat);
    }
    else
    if (strcmp (workload, "w3") == 0) {
        long children = n > 0 ? n : 1000;
        size_t size = 300 + (size_t) children * (strlen (task_spec) + 1);
        char *spec = malloc (size);
        size_t len = (size_t) snprintf (spec, size, "{\"parallel\": [");
        for (long i = 0; i < children; i++)
            len += (size_t) snprintf (spec + len, size - len, "%s%s", i ? "," : "", task_spec);
        snprintf (spec + len, size - len, "], \"postprocess\": %s}", task_spec);
        char id [ASYNC_ID_LEN];
        char *job = NULL;
        double start = bench_now ();
        rc = async_submit_json (client, spec, id);
        if (rc == 0)
            rc = async_wait_json (client, id, 600000, &job);
        if (rc == 0) {
            printf ("w3_time %.1f ms\n", (bench_now () - start) * 1e3);
            bool failed = s_job_failed (job);
            printf ("w3_failed %d jobs\n", failed);
            if (failed) {
                fprintf (stderr, "asyncbench: w3: the parallel job failed\n");
                jobs_failed = true;
            }
        }
        free (job);
        free (spec);
    }
    else
    if (strcmp (workload, "watch") == 0 && argc > 4)
        rc = s_watch (client, atof (argv [3]), atoll (argv [4]));
    else {
        fprintf (stderr, "asyncbench: unknown workload '%s'\n", workload);
        rc = 2;
    }
    if (rc && rc != 2)
        fprintf (stderr, "asyncbench: %s (%s)\n", async_strerror (rc), async_client_error (client));
    async_client_destroy (&client);
    return rc ? rc : jobs_failed ? 1 : 0;
}
