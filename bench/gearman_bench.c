/*  =========================================================================
    gearman_bench - gearmand's side of the benchmark (bench/run drives it)

    Uses libgearman (libgearman-dev). Two forked worker processes of
    THREADS threads (default 16), each thread a gearman_worker_st of its
    own (its own connection), as asyncmesh gets two asyncnode processes of
    16 slots, register "noop" and "reduce"; the client runs:

        gearman_bench HOST PORT w1 [JOBS [THREADS]]
                                              JOBS foreground tasks added with
                                              gearman_client_add_task and run
                                              together by gearman_client_run_tasks
                                              (pipelined, the client learns each
                                              completion); jobs/s submit -> all done
        gearman_bench HOST PORT w2 [ROUNDS [THREADS]]
                                              gearman_client_do one at a time;
                                              p50/p90/p99 in us
        gearman_bench HOST PORT w3 [CHILDREN [THREADS]]
                                              CHILDREN tasks with add_task +
                                              run_tasks, then gearman_client_do
                                              ("reduce") with their results; ms

    W1 uses foreground tasks, not gearman_client_do_background: a background
    job tells the client nothing when it is done (it would have to poll
    GET_STATUS per job), while run_tasks multiplexes all the tasks on one
    connection and hears every WORK_COMPLETE. gearmand keeps its queue in
    memory (no --queue-type), so nothing here is durable.

    gearmand wakes every sleeping worker (NOOP) for each job it queues, so
    with many idle worker connections one-at-a-time jobs (W2) pay for the
    herd: bench/run runs each workload with THREADS 16 and 1 and keeps the
    better median.

    Every job is counted: a task that fails or a completion count short of
    the jobs submitted prints "*_failed N jobs" and exits 1.

    Output: one line "name value unit" per figure, like asyncbench.
    =========================================================================
*/
#define _GNU_SOURCE
#include "bench_util.h"
#include <libgearman-1.0/gearman.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_BODY      "{\"task\": \"testing.noop\"}"
#define S_WORKERS   2           //  worker processes
#define S_THREADS   16          //  gearman_worker_st (threads) per process
#define S_MAX_THREADS 64
#ifndef S_BATCH
#   define S_BATCH  1000
#endif

typedef struct {
    char *buffer;               //  the reduce call's argument, built here
    size_t len, cap;
    size_t completed;
    size_t failed;
} s_results_t;

//  ---------------------------------------------------------------------
//  Workers

static void *
s_noop (gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret_ptr)
{
    *ret_ptr = GEARMAN_SUCCESS;
    *result_size = 4;
    return strdup ("null");
}

static int s_threads = S_THREADS;

typedef struct {
    const char *host;
    in_port_t port;
} s_worker_args_t;

static void *
s_worker_thread (void *args)
{
    const char *host = ((s_worker_args_t *) args)->host;
    in_port_t port = ((s_worker_args_t *) args)->port;
    gearman_worker_st *worker = gearman_worker_create (NULL);
    if (!worker
    ||  gearman_worker_add_server (worker, host, port) != GEARMAN_SUCCESS
    ||  gearman_worker_add_function (worker, "noop", 0, s_noop, NULL) != GEARMAN_SUCCESS
    ||  gearman_worker_add_function (worker, "reduce", 0, s_noop, NULL) != GEARMAN_SUCCESS)
        bench_die ("gearman_bench", "cannot set up a worker: %s", worker ? gearman_worker_error (worker) : "");
    while (true) {
        gearman_return_t rc = gearman_worker_work (worker);
        if (rc != GEARMAN_SUCCESS && rc != GEARMAN_IO_WAIT && rc != GEARMAN_TIMEOUT)
            bench_die ("gearman_bench", "worker: %s", gearman_worker_error (worker));
    }
    return NULL;
}

//  A worker process: s_threads threads, each with its own worker
static void
s_worker (const char *host, in_port_t port)
{
    s_worker_args_t args = { host, port };
    pthread_t handles [S_MAX_THREADS];
    for (int i = 0; i < s_threads; i++)
        if (pthread_create (&handles [i], NULL, s_worker_thread, &args))
            bench_die ("gearman_bench", "cannot start a worker thread");
    for (int i = 0; i < s_threads; i++)
        pthread_join (handles [i], NULL);
    exit (0);
}

//  Ask gearmand's admin protocol ("status") how many workers can do `function`
static int
s_available_workers (const char *host, const char *port, const char *function)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *addrs = NULL;
    if (getaddrinfo (host, port, &hints, &addrs))
        return -1;
    int fd = socket (addrs->ai_family, addrs->ai_socktype, addrs->ai_protocol);
    if (fd < 0 || connect (fd, addrs->ai_addr, addrs->ai_addrlen)) {
        if (fd >= 0)
            close (fd);
        freeaddrinfo (addrs);
        return -1;
    }
    freeaddrinfo (addrs);
    char buf [65536];
    size_t len = 0;
    if (write (fd, "status\n", 7) != 7) {
        close (fd);
        return -1;
    }
    //  The answer ends with a line holding one "."
    while (len < sizeof buf - 1) {
        ssize_t n = read (fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t) n;
        buf [len] = 0;
        if (strcmp (buf, ".\n") == 0 || strstr (buf, "\n.\n"))
            break;
    }
    close (fd);
    buf [len] = 0;
    size_t flen = strlen (function);
    for (char *line = buf; line && *line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL) {
        int total, running, available;
        if (strncmp (line, function, flen) == 0 && line [flen] == '\t'
        &&  sscanf (line + flen + 1, "%d\t%d\t%d", &total, &running, &available) == 3)
            return available;
    }
    return 0;
}

static void
s_workers_start (const char *host, const char *port, pid_t *pids)
{
    fflush (stdout);
    for (int i = 0; i < S_WORKERS; i++) {
        pids [i] = fork ();
        if (pids [i] < 0)
            bench_die ("gearman_bench", "fork: %s", strerror (errno));
        if (pids [i] == 0)
            s_worker (host, (in_port_t) atoi (port));
    }
    //  Wait until gearmand lists every worker connection for noop
    double deadline = bench_now () + 10;
    while (s_available_workers (host, port, "noop") < S_WORKERS * s_threads) {
        if (bench_now () > deadline)
            bench_die ("gearman_bench", "the workers did not register with gearmand within 10 s");
        usleep (10000);
    }
}

static void
s_workers_stop (pid_t *pids)
{
    for (int i = 0; i < S_WORKERS; i++)
        kill (pids [i], SIGTERM);
    for (int i = 0; i < S_WORKERS; i++)
        waitpid (pids [i], NULL, 0);
}

//  ---------------------------------------------------------------------
//  The client

static gearman_return_t
s_on_complete (gearman_task_st *task)
{
    s_results_t *results = (s_results_t *) gearman_task_context (task);
    results->completed++;
    if (results->buffer) {
        size_t size = gearman_task_data_size (task);
        const char *handle = gearman_task_job_handle (task);
        size_t need = size + strlen (handle) + 64;
        if (results->len + need >= results->cap) {
            results->cap = (results->cap + need) * 2;
            results->buffer = realloc (results->buffer, results->cap);
        }
        results->len += (size_t) snprintf (results->buffer + results->len,
                                           results->cap - results->len,
                                           "%s{\"id\":\"%s\",\"status\":\"succeeded\","
                                           "\"result\":%.*s}",
                                           results->completed > 1 ? "," : "", handle,
                                           (int) size, (const char *) gearman_task_data (task));
    }
    return GEARMAN_SUCCESS;
}

static gearman_return_t
s_on_fail (gearman_task_st *task)
{
    s_results_t *results = (s_results_t *) gearman_task_context (task);
    results->failed++;
    return GEARMAN_SUCCESS;
}

static gearman_client_st *
s_client_new (const char *host, const char *port)
{
    gearman_client_st *client = gearman_client_create (NULL);
    if (!client || gearman_client_add_server (client, host, (in_port_t) atoi (port))
                   != GEARMAN_SUCCESS)
        bench_die ("gearman_bench", "cannot create a client: %s", client ? gearman_client_error (client) : "");
    gearman_client_set_complete_fn (client, s_on_complete);
    gearman_client_set_fail_fn (client, s_on_fail);
    return client;
}

//  Add `count` noop tasks and run them, S_BATCH at a time: libgearman's
//  cost per task grows with the number of tasks in one run_tasks (20,000 at
//  once run at a third of the rate of batches of 1,000 here)
static void
s_run_tasks (gearman_client_st *client, size_t count, s_results_t *results)
{
    for (size_t done = 0; done < count; done += S_BATCH) {
        size_t n = count - done < S_BATCH ? count - done : S_BATCH;
        for (size_t i = 0; i < n; i++) {
            gearman_return_t rc;
            if (!gearman_client_add_task (client, NULL, results, "noop", NULL, S_BODY,
                                          strlen (S_BODY), &rc))
                bench_die ("gearman_bench", "add_task: %s", gearman_client_error (client));
        }
        gearman_return_t rc = gearman_client_run_tasks (client);
        if (rc != GEARMAN_SUCCESS)
            bench_die ("gearman_bench", "run_tasks: %s", gearman_client_error (client));
        gearman_client_task_free_all (client);
    }
}

static int
s_w1 (const char *host, const char *port, size_t count)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids);
    gearman_client_st *client = s_client_new (host, port);
    s_results_t results = { 0 };
    double start = bench_now ();
    s_run_tasks (client, count, &results);
    double done = bench_now ();
    gearman_client_free (client);
    s_workers_stop (pids);
    printf ("w1_throughput %.0f jobs/s\n", count / (done - start));
    size_t failed = count - results.completed;
    printf ("w1_failed %zu jobs\n", failed);
    if (failed)
        fprintf (stderr, "gearman_bench: w1: %zu of %zu jobs completed (%zu failed)\n",
                 results.completed, count, results.failed);
    return failed ? 1 : 0;
}

static int
s_w2 (const char *host, const char *port, size_t rounds)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids);
    gearman_client_st *client = s_client_new (host, port);
    double *lat = calloc (rounds, sizeof (double));
    int rc = 0;
    size_t completed = 0;
    for (size_t i = 0; i < rounds && rc == 0; i++) {
        double start = bench_now ();
        size_t size;
        gearman_return_t ret;
        void *result = gearman_client_do (client, "noop", NULL, S_BODY, strlen (S_BODY),
                                          &size, &ret);
        lat [i] = (bench_now () - start) * 1e6;
        if (ret != GEARMAN_SUCCESS) {
            fprintf (stderr, "gearman_bench: do: %s\n", gearman_client_error (client));
            rc = 1;
        }
        else
            completed++;
        free (result);
    }
    gearman_client_free (client);
    s_workers_stop (pids);
    if (rc == 0)
        bench_print_w2 (lat, rounds);
    printf ("w2_failed %zu jobs\n", rounds - completed);
    free (lat);
    return rc;
}

static int
s_w3 (const char *host, const char *port, size_t children)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids);
    gearman_client_st *client = s_client_new (host, port);
    s_results_t results = { 0 };
    results.cap = 64 + children * 96;
    results.buffer = malloc (results.cap);
    results.len = (size_t) snprintf (results.buffer, results.cap, "[");
    double start = bench_now ();
    s_run_tasks (client, children, &results);
    results.len += (size_t) snprintf (results.buffer + results.len,
                                      results.cap - results.len, "]");
    size_t size;
    gearman_return_t ret;
    void *reduced = gearman_client_do (client, "reduce", NULL, results.buffer, results.len,
                                       &size, &ret);
    double done = bench_now ();
    int rc = ret == GEARMAN_SUCCESS && results.completed == children ? 0 : 1;
    printf ("w3_failed %zu jobs\n", children - results.completed + (ret != GEARMAN_SUCCESS));
    if (rc)
        fprintf (stderr, "gearman_bench: w3: %zu of %zu completed, reduce: %s\n",
                 results.completed, children, gearman_client_error (client));
    else
        printf ("w3_time %.1f ms\n", (done - start) * 1e3);
    free (reduced);
    free (results.buffer);
    gearman_client_free (client);
    s_workers_stop (pids);
    return rc;
}

//  A whole number in [min, max] from the command line, or exit 2
static long
s_number (const char *text, const char *what, long min, long max)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max) {
        fprintf (stderr, "gearman_bench: %s must be a number from %ld to %ld, not '%s'\n",
                 what, min, max, text);
        exit (2);
    }
    return value;
}

int
main (int argc, char *argv [])
{
    if (argc < 4 || argc > 6) {
        fprintf (stderr, "usage: gearman_bench HOST PORT w1|w2|w3 [N [THREADS]]\n");
        return 2;
    }
    const char *host = argv [1], *port = argv [2], *workload = argv [3];
    long n = argc > 4 ? s_number (argv [4], "N", 1, 100000000) : 0;
    if (argc > 5)
        s_threads = (int) s_number (argv [5], "THREADS", 1, S_MAX_THREADS);
    if (strcmp (workload, "w1") == 0)
        return s_w1 (host, port, n > 0 ? (size_t) n : 20000);
    if (strcmp (workload, "w2") == 0)
        return s_w2 (host, port, n > 0 ? (size_t) n : 2000);
    if (strcmp (workload, "w3") == 0)
        return s_w3 (host, port, n > 0 ? (size_t) n : 1000);
    fprintf (stderr, "gearman_bench: unknown workload '%s'\n", workload);
    return 2;
}
