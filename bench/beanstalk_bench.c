/*  =========================================================================
    beanstalk_bench - beanstalkd's side of the benchmark (bench/run drives it)

    Speaks beanstalkd's text protocol (doc/protocol.txt of beanstalkd) over
    one TCP socket per process: put, reserve, delete, use, watch, ignore.

        beanstalk_bench HOST PORT w1 [JOBS]      a producer puts JOBS no-op jobs
                                                (pipelined, like asyncbench's
                                                batches); two forked workers
                                                reserve and delete them;
                                                prints jobs/s submit -> all done
        beanstalk_bench HOST PORT w2 [ROUNDS]    one job at a time: put, a worker
                                                reserves, deletes, puts a result
                                                in tube "results", the client
                                                reserves it; p50/p90/p99 in us
        beanstalk_bench HOST PORT w3 [CHILDREN]  CHILDREN jobs, the client
                                                watches "results" until all are
                                                done, then a "reduce" job that
                                                carries their results; ms
        beanstalk_bench HOST PORT fill [JOBS]    put JOBS jobs in tube "fill",
                                                no worker; they stay there

    The job body is the asyncmesh spec text {"task": "testing.noop"}, so both
    sides store the same payload. Workers stop on a "stop" job put at the
    lowest priority: it is reserved only after every real job was, and each
    worker deletes its job before it reserves the next, so when both have
    exited every job is deleted.

    Output: one line "name value unit" per figure, like asyncbench.
    =========================================================================
*/
#define _GNU_SOURCE
#include "bench_util.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#define S_BODY_REPLY "{\"task\": \"testing.noop\", \"reply\": 1}"
#define S_PRI       1024
#define S_PRI_STOP  4294967295u
#define S_TTR       60
#define S_BATCH     2000
#define S_WORKERS   2

typedef struct {
    int fd;
    char buf [1 << 16];
    size_t len;                 //  bytes in buf
    size_t pos;                 //  bytes consumed
} s_conn_t;

static s_conn_t *
s_conn_new (const char *host, const char *port)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *addrs = NULL;
    int rc = getaddrinfo (host, port, &hints, &addrs);
    if (rc)
        bench_die ("beanstalk_bench", "cannot resolve %s:%s: %s", host, port, gai_strerror (rc));
    int fd = -1;
    for (struct addrinfo *a = addrs; a && fd < 0; a = a->ai_next) {
        fd = socket (a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect (fd, a->ai_addr, a->ai_addrlen)) {
            close (fd);
            fd = -1;
        }
    }
    freeaddrinfo (addrs);
    if (fd < 0)
        bench_die ("beanstalk_bench", "cannot connect to beanstalkd at %s:%s: %s", host, port, strerror (errno));
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s_conn_t *self = calloc (1, sizeof (s_conn_t));
    self->fd = fd;
    return self;
}

static void
s_conn_destroy (s_conn_t **self_p)
{
    if (*self_p) {
        close ((*self_p)->fd);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_write (s_conn_t *self, const char *data, size_t size)
{
    while (size) {
        ssize_t n = write (self->fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_die ("beanstalk_bench", "write: %s", strerror (errno));
        data += n;
        size -= (size_t) n;
    }
}

//  Make at least `want` unread bytes available (want <= sizeof buf)
static void
s_fill (s_conn_t *self, size_t want)
{
    if (self->pos && self->len - self->pos < want) {
        memmove (self->buf, self->buf + self->pos, self->len - self->pos);
        self->len -= self->pos;
        self->pos = 0;
    }
    while (self->len - self->pos < want) {
        ssize_t n = read (self->fd, self->buf + self->len, sizeof self->buf - self->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_die ("beanstalk_bench", "read: %s", n ? strerror (errno) : "beanstalkd closed the connection");
        self->len += (size_t) n;
    }
}

//  One reply line without its "\r\n", into line
static void
s_line (s_conn_t *self, char *line, size_t size)
{
    while (true) {
        char *start = self->buf + self->pos;
        char *end = memmem (start, self->len - self->pos, "\r\n", 2);
        if (end) {
            size_t n = (size_t) (end - start);
            if (n >= size)
                bench_die ("beanstalk_bench", "reply line too long");
            memcpy (line, start, n);
            line [n] = 0;
            self->pos += n + 2;
            return;
        }
        s_fill (self, self->len - self->pos + 1);
    }
}

//  Read a job body of `bytes` plus "\r\n" into body (NUL-terminated)
static void
s_body (s_conn_t *self, size_t bytes, char *body, size_t size)
{
    if (bytes + 2 > sizeof self->buf || bytes >= size)
        bench_die ("beanstalk_bench", "job body of %zu bytes is too large", bytes);
    s_fill (self, bytes + 2);
    memcpy (body, self->buf + self->pos, bytes);
    body [bytes] = 0;
    self->pos += bytes + 2;
}

static void
s_expect (s_conn_t *self, const char *prefix)
{
    char line [256];
    s_line (self, line, sizeof line);
    if (strncmp (line, prefix, strlen (prefix)))
        bench_die ("beanstalk_bench", "expected %s, beanstalkd said '%s'", prefix, line);
}

static void
s_command (s_conn_t *self, const char *command, const char *reply)
{
    s_write (self, command, strlen (command));
    s_expect (self, reply);
}

//  Append a put command to out; returns its length
static size_t
s_format_put (char *out, size_t size, unsigned pri, const char *body)
{
    size_t len = strlen (body);
    return (size_t) snprintf (out, size, "put %u 0 %d %zu\r\n%s\r\n", pri, S_TTR, len, body);
}

static unsigned long
s_put (s_conn_t *self, unsigned pri, const char *body)
{
    char command [70000];
    size_t len = s_format_put (command, sizeof command, pri, body);
    s_write (self, command, len);
    char line [256];
    s_line (self, line, sizeof line);
    unsigned long id;
    if (sscanf (line, "INSERTED %lu", &id) != 1)
        bench_die ("beanstalk_bench", "put: beanstalkd said '%s'", line);
    return id;
}

//  Put `count` copies of body, pipelined S_BATCH at a time
static void
s_put_many (s_conn_t *self, const char *body, size_t count)
{
    char one [512];
    size_t one_len = s_format_put (one, sizeof one, S_PRI, body);
    char *batch = malloc (one_len * S_BATCH);
    for (size_t i = 0; i < S_BATCH; i++)
        memcpy (batch + i * one_len, one, one_len);
    for (size_t done = 0; done < count; done += S_BATCH) {
        size_t n = count - done < S_BATCH ? count - done : S_BATCH;
        s_write (self, batch, n * one_len);
        for (size_t i = 0; i < n; i++)
            s_expect (self, "INSERTED");
    }
    free (batch);
}

//  Reserve a job: returns its id, body into body
static unsigned long
s_reserve (s_conn_t *self, char *body, size_t size)
{
    s_write (self, "reserve\r\n", 9);
    char line [256];
    s_line (self, line, sizeof line);
    unsigned long id;
    size_t bytes;
    if (sscanf (line, "RESERVED %lu %zu", &id, &bytes) != 2)
        bench_die ("beanstalk_bench", "reserve: beanstalkd said '%s'", line);
    s_body (self, bytes, body, size);
    return id;
}

static void
s_delete (s_conn_t *self, unsigned long id)
{
    char command [64];
    snprintf (command, sizeof command, "delete %lu\r\n", id);
    s_command (self, command, "DELETED");
}

//  ---------------------------------------------------------------------
//  Workers: reserve from "work"; a job with "reply" gets a result put in
//  "results" after it is deleted; "stop" ends the worker.

static void
s_worker (const char *host, const char *port, int ready_fd)
{
    s_conn_t *conn = s_conn_new (host, port);
    s_command (conn, "watch work\r\n", "WATCHING");
    s_command (conn, "ignore default\r\n", "WATCHING");
    s_command (conn, "use results\r\n", "USING");
    if (write (ready_fd, "r", 1) != 1)
        bench_die ("beanstalk_bench", "cannot tell the producer we are ready");
    close (ready_fd);
    char body [65536];
    while (true) {
        unsigned long id = s_reserve (conn, body, sizeof body);
        s_delete (conn, id);
        if (strcmp (body, "stop") == 0)
            break;
        if (strstr (body, "\"reply\"")) {
            char result [128];
            snprintf (result, sizeof result, "{\"id\":%lu,\"status\":\"succeeded\","
                      "\"result\":null}", id);
            s_put (conn, S_PRI, result);
        }
    }
    s_conn_destroy (&conn);
    exit (0);
}

static void
s_workers_start (const char *host, const char *port, pid_t *pids)
{
    int fds [2];
    if (pipe (fds))
        bench_die ("beanstalk_bench", "pipe: %s", strerror (errno));
    fflush (stdout);
    for (int i = 0; i < S_WORKERS; i++) {
        pids [i] = fork ();
        if (pids [i] < 0)
            bench_die ("beanstalk_bench", "fork: %s", strerror (errno));
        if (pids [i] == 0) {
            close (fds [0]);
            s_worker (host, port, fds [1]);
        }
    }
    close (fds [1]);
    for (int i = 0; i < S_WORKERS; i++) {
        char c;
        if (read (fds [0], &c, 1) != 1)
            bench_die ("beanstalk_bench", "a worker did not start");
    }
    close (fds [0]);
}

//  Put one stop job per worker and wait for them: then every job is deleted
static int
s_workers_stop (s_conn_t *conn, pid_t *pids)
{
    s_command (conn, "use work\r\n", "USING");
    for (int i = 0; i < S_WORKERS; i++)
        s_put (conn, S_PRI_STOP, "stop");
    int failed = 0;
    for (int i = 0; i < S_WORKERS; i++) {
        int status;
        if (waitpid (pids [i], &status, 0) < 0 || !WIFEXITED (status)
        ||  WEXITSTATUS (status))
            failed++;
    }
    return failed;
}

//  ---------------------------------------------------------------------

static int
s_w1 (const char *host, const char *port, size_t count)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids);
    s_conn_t *conn = s_conn_new (host, port);
    s_command (conn, "use work\r\n", "USING");
    double start = bench_now ();
    s_put_many (conn, S_BODY, count);
    double submitted = bench_now ();
    int failed = s_workers_stop (conn, pids);
    double done = bench_now ();
    s_conn_destroy (&conn);
    printf ("w1_submit_rate %.0f jobs/s\n", count / (submitted - start));
    printf ("w1_throughput %.0f jobs/s\n", count / (done - start));
    printf ("w1_failed %d workers\n", failed);
    return failed ? 1 : 0;
}

static int
s_w2 (const char *host, const char *port, size_t rounds)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids);
    s_conn_t *conn = s_conn_new (host, port);
    s_command (conn, "use work\r\n", "USING");
    s_command (conn, "watch results\r\n", "WATCHING");
    s_command (conn, "ignore default\r\n", "WATCHING");
    double *lat = calloc (rounds, sizeof (double));
    char body [65536];
    for (size_t i = 0; i < rounds; i++) {
        double start = bench_now ();
        s_put (conn, S_PRI, S_BODY_REPLY);
        unsigned long id = s_reserve (conn, body, sizeof body);
        s_delete (conn, id);
        lat [i] = (bench_now () - start) * 1e6;
    }
    int failed = s_workers_stop (conn, pids);
    s_conn_destroy (&conn);
    bench_print_w2 (lat, rounds);
    free (lat);
    return failed ? 1 : 0;
}

static int
s_w3 (const char *host, const char *port, size_t children)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids);
    s_conn_t *conn = s_conn_new (host, port);
    s_command (conn, "use work\r\n", "USING");
    s_command (conn, "watch results\r\n", "WATCHING");
    s_command (conn, "ignore default\r\n", "WATCHING");
    //  The reduce job carries every child's result, as asyncmesh's
    //  postprocess gets one summary per child
    size_t cap = 64 + children * 64, len = 0;
    char *reduce = malloc (cap);
    len += (size_t) snprintf (reduce, cap, "{\"task\": \"testing.noop\", \"reply\": 1, "
                              "\"args\": [");
    char body [65536];
    double start = bench_now ();
    s_put_many (conn, S_BODY_REPLY, children);
    //  Collect the results: each delete goes out with the next reserve
    unsigned long id = s_reserve (conn, body, sizeof body);
    for (size_t i = 0; i < children; i++) {
        len += (size_t) snprintf (reduce + len, cap - len, "%s%s", i ? "," : "", body);
        char command [80];
        snprintf (command, sizeof command, "delete %lu\r\n%s", id,
                  i + 1 < children ? "reserve\r\n" : "");
        s_write (conn, command, strlen (command));
        s_expect (conn, "DELETED");
        if (i + 1 < children) {
            char line [256];
            size_t bytes;
            s_line (conn, line, sizeof line);
            if (sscanf (line, "RESERVED %lu %zu", &id, &bytes) != 2)
                bench_die ("beanstalk_bench", "reserve: beanstalkd said '%s'", line);
            s_body (conn, bytes, body, sizeof body);
        }
    }
    snprintf (reduce + len, cap - len, "]}");
    s_put (conn, S_PRI, reduce);
    id = s_reserve (conn, body, sizeof body);
    s_delete (conn, id);
    double done = bench_now ();
    int failed = s_workers_stop (conn, pids);
    s_conn_destroy (&conn);
    printf ("w3_time %.1f ms\n", (done - start) * 1e3);
    free (reduce);
    return failed ? 1 : 0;
}

static int
s_fill_tube (const char *host, const char *port, size_t count)
{
    s_conn_t *conn = s_conn_new (host, port);
    s_command (conn, "use fill\r\n", "USING");
    double start = bench_now ();
    s_put_many (conn, S_BODY, count);
    printf ("fill_submit_rate %.0f jobs/s\n", count / (bench_now () - start));
    s_conn_destroy (&conn);
    return 0;
}

int
main (int argc, char *argv [])
{
    if (argc < 4) {
        fprintf (stderr, "usage: beanstalk_bench HOST PORT w1|w2|w3|fill [N]\n");
        return 2;
    }
    const char *host = argv [1], *port = argv [2], *workload = argv [3];
    long n = argc > 4 ? atol (argv [4]) : 0;
    if (strcmp (workload, "w1") == 0)
        return s_w1 (host, port, n > 0 ? (size_t) n : 20000);
    if (strcmp (workload, "w2") == 0)
        return s_w2 (host, port, n > 0 ? (size_t) n : 2000);
    if (strcmp (workload, "w3") == 0)
        return s_w3 (host, port, n > 0 ? (size_t) n : 1000);
    if (strcmp (workload, "fill") == 0)
        return s_fill_tube (host, port, n > 0 ? (size_t) n : 20000);
    fprintf (stderr, "beanstalk_bench: unknown workload '%s'\n", workload);
    return 2;
}
