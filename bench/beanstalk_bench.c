/*  =========================================================================
    beanstalk_bench - beanstalkd's side of the benchmark (bench/run drives it)

    Speaks beanstalkd's text protocol (doc/protocol.txt of beanstalkd) over
    TCP: put, reserve, delete, use, watch, ignore.

        beanstalk_bench HOST PORT w1 [JOBS [THREADS]]
                        a producer puts JOBS no-op jobs, 4,096 in flight
                        (refilled as INSERTED lines arrive); the workers
                        reserve and delete them; prints jobs/s from the
                        first put until the last delete is confirmed
        beanstalk_bench HOST PORT w2 [ROUNDS [THREADS]]
                        one job at a time: the client writes put + reserve
                        in one write; a worker puts a result in tube
                        "results", deletes its job and reserves the next in
                        one write; the clock stops when the client has
                        reserved the result (it deletes it after); p50,
                        p90, p99 in us
        beanstalk_bench HOST PORT w3 [CHILDREN [THREADS]]
                        CHILDREN jobs, the client collects their results
                        from "results", then a "reduce" job that carries
                        them; ms until the reduce's result is reserved
        beanstalk_bench HOST PORT fill [JOBS]
                        put JOBS jobs in tube "fill", no worker; they stay

    Workers: two forked processes of THREADS threads (default 16), each
    thread with its own connection, as asyncmesh gets two asyncnode
    processes of 16 slots. A worker thread answers a job with ONE write:
    "[put RESULT] delete ID" and its next "reserve" (pipelined), then reads
    the replies. Workers stop on "stop" jobs put at the lowest priority
    once the measured jobs are done.

    Every job a worker deleted is counted (in memory shared with the
    workers); a run whose count is short prints "*_failed N jobs", exits 1
    and says so on stderr.

    Output: one line "name value unit" per figure, like asyncbench.
    =========================================================================
*/
#define _GNU_SOURCE
#include "bench_util.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_BODY      "{\"task\": \"testing.noop\"}"
#define S_BODY_REPLY "{\"task\": \"testing.noop\", \"reply\": 1}"
#define S_PRI       1024
#define S_PRI_STOP  4294967295u
#define S_TTR       60
#define S_WINDOW    4096        //  puts in flight
#define S_WORKERS   2           //  worker processes
#define S_THREADS   16          //  connections (threads) per worker process
#define S_MAX_THREADS 64
#define S_DONE_WAIT 120         //  seconds to wait for the workers' count

//  Shared with the forked workers (MAP_SHARED)
typedef struct {
    atomic_size_t done;         //  measured jobs deleted by workers
    size_t target;              //  when done reaches it, write to notify
    int notify [2];             //  pipe: "all done"
} s_shared_t;

static s_shared_t *s_shared;
static int s_threads = S_THREADS;

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
s_expect_inserted (s_conn_t *self)
{
    char line [256];
    s_line (self, line, sizeof line);
    unsigned long id;
    if (sscanf (line, "INSERTED %lu", &id) != 1)
        bench_die ("beanstalk_bench", "put: beanstalkd said '%s'", line);
    return id;
}

static unsigned long
s_put (s_conn_t *self, unsigned pri, const char *body)
{
    char command [70000];
    size_t len = s_format_put (command, sizeof command, pri, body);
    s_write (self, command, len);
    return s_expect_inserted (self);
}

//  Put `count` copies of body with up to S_WINDOW puts in flight: new puts
//  go out as INSERTED lines come back, so the socket never runs dry
static void
s_put_many (s_conn_t *self, const char *body, size_t count)
{
    char one [512];
    size_t one_len = s_format_put (one, sizeof one, S_PRI, body);
    char *batch = malloc (one_len * S_WINDOW);
    if (!batch)
        bench_die ("beanstalk_bench", "out of memory");
    for (size_t i = 0; i < S_WINDOW; i++)
        memcpy (batch + i * one_len, one, one_len);
    int flags = fcntl (self->fd, F_GETFL);
    fcntl (self->fd, F_SETFL, flags | O_NONBLOCK);
    size_t queued = 0, acked = 0;       //  puts handed to `out`, INSERTED read
    const char *out = NULL;
    size_t out_left = 0;
    while (acked < count) {
        if (out_left == 0 && queued < count && queued - acked < S_WINDOW) {
            size_t n = S_WINDOW - (queued - acked);
            if (n > count - queued)
                n = count - queued;
            out = batch;
            out_left = n * one_len;
            queued += n;
        }
        struct pollfd item = { self->fd, POLLIN | (out_left ? POLLOUT : 0), 0 };
        if (poll (&item, 1, 60000) <= 0)
            bench_die ("beanstalk_bench", "put: no progress for 60 s (%zu of %zu inserted)",
                       acked, count);
        if (item.revents & POLLOUT) {
            ssize_t n = write (self->fd, out, out_left);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                bench_die ("beanstalk_bench", "write: %s", strerror (errno));
            if (n > 0) {
                out += n;
                out_left -= (size_t) n;
            }
        }
        if (item.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (self->pos) {
                memmove (self->buf, self->buf + self->pos, self->len - self->pos);
                self->len -= self->pos;
                self->pos = 0;
            }
            ssize_t n = read (self->fd, self->buf + self->len, sizeof self->buf - self->len);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                bench_die ("beanstalk_bench", "read: %s",
                           n ? strerror (errno) : "beanstalkd closed the connection");
            if (n > 0)
                self->len += (size_t) n;
            char *end;
            while ((end = memmem (self->buf + self->pos, self->len - self->pos, "\r\n", 2))) {
                if (strncmp (self->buf + self->pos, "INSERTED ", 9))
                    bench_die ("beanstalk_bench", "put: beanstalkd said '%.*s'",
                               (int) (end - self->buf - self->pos), self->buf + self->pos);
                self->pos = (size_t) (end - self->buf) + 2;
                acked++;
            }
        }
    }
    fcntl (self->fd, F_SETFL, flags);
    free (batch);
}

//  Read a RESERVED reply: returns the job's id, its body into body
static unsigned long
s_reserved (s_conn_t *self, char *body, size_t size)
{
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
//  Workers: each thread reserves from "work"; a job with "reply" gets a
//  result put in "results"; "stop" ends the thread. One write per job:
//  "[put RESULT] delete ID reserve".

typedef struct {
    const char *host, *port;
    s_conn_t *conn;
} s_thread_t;

static void *
s_worker_thread (void *args)
{
    s_thread_t *self = (s_thread_t *) args;
    s_conn_t *conn = self->conn;
    char *body = malloc (65536);
    char *command = malloc (65536);
    s_write (conn, "reserve\r\n", 9);
    while (true) {
        unsigned long id = s_reserved (conn, body, 65536);
        bool stop = strcmp (body, "stop") == 0;
        bool reply = !stop && strstr (body, "\"reply\"");
        size_t len = 0;
        if (reply) {
            char result [128];
            snprintf (result, sizeof result, "{\"id\":%lu,\"status\":\"succeeded\","
                      "\"result\":null}", id);
            len = s_format_put (command, 65536, S_PRI, result);
        }
        len += (size_t) snprintf (command + len, 65536 - len, "delete %lu\r\n%s", id,
                                  stop ? "" : "reserve\r\n");
        s_write (conn, command, len);
        if (reply)
            s_expect_inserted (conn);
        s_expect (conn, "DELETED");
        if (stop)
            break;
        size_t done = atomic_fetch_add (&s_shared->done, 1) + 1;
        if (done == s_shared->target
        &&  write (s_shared->notify [1], "d", 1) != 1)
            bench_die ("beanstalk_bench", "cannot tell the client we are done");
    }
    free (command);
    free (body);
    return NULL;
}

static void
s_worker (const char *host, const char *port, int ready_fd)
{
    s_thread_t threads [S_MAX_THREADS];
    pthread_t handles [S_MAX_THREADS];
    for (int i = 0; i < s_threads; i++) {
        threads [i].host = host;
        threads [i].port = port;
        threads [i].conn = s_conn_new (host, port);
        s_command (threads [i].conn, "watch work\r\n", "WATCHING");
        s_command (threads [i].conn, "ignore default\r\n", "WATCHING");
        s_command (threads [i].conn, "use results\r\n", "USING");
    }
    if (write (ready_fd, "r", 1) != 1)
        bench_die ("beanstalk_bench", "cannot tell the producer we are ready");
    close (ready_fd);
    for (int i = 0; i < s_threads; i++)
        if (pthread_create (&handles [i], NULL, s_worker_thread, &threads [i]))
            bench_die ("beanstalk_bench", "cannot start a worker thread");
    for (int i = 0; i < s_threads; i++) {
        pthread_join (handles [i], NULL);
        s_conn_destroy (&threads [i].conn);
    }
    exit (0);
}

//  Start the workers; `target` measured jobs make them write "all done"
static void
s_workers_start (const char *host, const char *port, pid_t *pids, size_t target)
{
    s_shared = mmap (NULL, sizeof (s_shared_t), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s_shared == MAP_FAILED)
        bench_die ("beanstalk_bench", "mmap: %s", strerror (errno));
    atomic_init (&s_shared->done, 0);
    s_shared->target = target;
    if (pipe (s_shared->notify))
        bench_die ("beanstalk_bench", "pipe: %s", strerror (errno));
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

//  Until the workers have deleted `target` jobs (S_DONE_WAIT s at most);
//  returns how many they deleted
static size_t
s_workers_wait (void)
{
    struct pollfd item = { s_shared->notify [0], POLLIN, 0 };
    if (poll (&item, 1, S_DONE_WAIT * 1000) <= 0)
        fprintf (stderr, "beanstalk_bench: only %zu of %zu jobs done after %d s\n",
                 atomic_load (&s_shared->done), s_shared->target, S_DONE_WAIT);
    return atomic_load (&s_shared->done);
}

//  Put one stop job per worker thread and wait for them; returns the
//  number of worker processes that failed
static int
s_workers_stop (s_conn_t *conn, pid_t *pids)
{
    s_command (conn, "use work\r\n", "USING");
    for (int i = 0; i < S_WORKERS * s_threads; i++)
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

//  Report a short count or failed workers; returns the exit status
static int
s_check (const char *workload, size_t done, size_t expected, int failed_workers)
{
    size_t failed = done < expected ? expected - done : 0;
    printf ("%s_failed %zu jobs\n", workload, failed);
    if (failed || failed_workers) {
        fprintf (stderr, "beanstalk_bench: %s: %zu of %zu jobs done, %d worker "
                 "process(es) failed\n", workload, done, expected, failed_workers);
        return 1;
    }
    return 0;
}

//  ---------------------------------------------------------------------

static int
s_w1 (const char *host, const char *port, size_t count)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids, count);
    s_conn_t *conn = s_conn_new (host, port);
    s_command (conn, "use work\r\n", "USING");
    double start = bench_now ();
    s_put_many (conn, S_BODY, count);
    double submitted = bench_now ();
    size_t done = s_workers_wait ();
    double finished = bench_now ();
    int failed = s_workers_stop (conn, pids);
    s_conn_destroy (&conn);
    printf ("w1_submit_rate %.0f jobs/s\n", count / (submitted - start));
    printf ("w1_throughput %.0f jobs/s\n", count / (finished - start));
    return s_check ("w1", done, count, failed);
}

static int
s_w2 (const char *host, const char *port, size_t rounds)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids, rounds);
    s_conn_t *conn = s_conn_new (host, port);
    s_command (conn, "use work\r\n", "USING");
    s_command (conn, "watch results\r\n", "WATCHING");
    s_command (conn, "ignore default\r\n", "WATCHING");
    double *lat = calloc (rounds, sizeof (double));
    char body [65536];
    char command [256];
    size_t len = s_format_put (command, sizeof command - 16, S_PRI, S_BODY_REPLY);
    len += (size_t) snprintf (command + len, sizeof command - len, "reserve\r\n");
    for (size_t i = 0; i < rounds; i++) {
        double start = bench_now ();
        s_write (conn, command, len);
        s_expect_inserted (conn);
        unsigned long id = s_reserved (conn, body, sizeof body);
        lat [i] = (bench_now () - start) * 1e6;
        s_delete (conn, id);
    }
    size_t done = s_workers_wait ();
    int failed = s_workers_stop (conn, pids);
    s_conn_destroy (&conn);
    bench_print_w2 (lat, rounds);
    free (lat);
    return s_check ("w2", done, rounds, failed);
}

static int
s_w3 (const char *host, const char *port, size_t children)
{
    pid_t pids [S_WORKERS];
    s_workers_start (host, port, pids, children + 1);
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
    s_write (conn, "reserve\r\n", 9);
    for (size_t i = 0; i < children; i++) {
        unsigned long id = s_reserved (conn, body, sizeof body);
        len += (size_t) snprintf (reduce + len, cap - len, "%s%s", i ? "," : "", body);
        char command [80];
        snprintf (command, sizeof command, "delete %lu\r\n%s", id,
                  i + 1 < children ? "reserve\r\n" : "");
        s_write (conn, command, strlen (command));
        s_expect (conn, "DELETED");
    }
    snprintf (reduce + len, cap - len, "]}");
    char *command = malloc (cap + 64);
    len = s_format_put (command, cap + 64, S_PRI, reduce);
    len += (size_t) snprintf (command + len, cap + 64 - len, "reserve\r\n");
    s_write (conn, command, len);
    s_expect_inserted (conn);
    unsigned long id = s_reserved (conn, body, sizeof body);
    double finished = bench_now ();
    s_delete (conn, id);
    size_t done = s_workers_wait ();
    int failed = s_workers_stop (conn, pids);
    s_conn_destroy (&conn);
    printf ("w3_time %.1f ms\n", (finished - start) * 1e3);
    free (command);
    free (reduce);
    return s_check ("w3", done, children + 1, failed);
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

//  A whole number in [min, max] from the command line, or exit 2
static long
s_number (const char *text, const char *what, long min, long max)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max) {
        fprintf (stderr, "beanstalk_bench: %s must be a number from %ld to %ld, not '%s'\n",
                 what, min, max, text);
        exit (2);
    }
    return value;
}

int
main (int argc, char *argv [])
{
    if (argc < 4 || argc > 6) {
        fprintf (stderr, "usage: beanstalk_bench HOST PORT w1|w2|w3|fill [N [THREADS]]\n");
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
    if (strcmp (workload, "w3") == 0) {
        if (n > 1000)
            fprintf (stderr, "beanstalk_bench: w3 takes at most 1000 children\n");
        return n > 1000 ? 2 : s_w3 (host, port, n > 0 ? (size_t) n : 1000);
    }
    if (strcmp (workload, "fill") == 0)
        return s_fill_tube (host, port, n > 0 ? (size_t) n : 20000);
    fprintf (stderr, "beanstalk_bench: unknown workload '%s'\n", workload);
    return 2;
}
