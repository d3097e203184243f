/*  =========================================================================
    floors - the physical floors the benchmark compares against (bench/run)

        floors tcp [ROUNDS]      one byte each way over a loopback TCP
                                 connection (TCP_NODELAY) to a forked echo
                                 process: the round trip
        floors zmq [ROUNDS]      a W2 round's four hops with nothing else:
                                 client DEALER -> forwarder ROUTER -> node
                                 DEALER -> forwarder -> client, three
                                 processes, as client -> broker -> node ->
                                 broker -> client
        floors wal DIR [ROUNDS]  a synced 4 KiB WAL append: write 4 KiB at
                                 the end of a file in DIR, then fdatasync

    Each prints "floor_MODE_p50 N us", p90 and p99, like asyncbench: the
    percentiles of ROUNDS (default 2,000) timed rounds after 200 untimed
    ones. Nothing asyncmesh does can be faster than these on this machine.
    =========================================================================
*/
#define _GNU_SOURCE
#include "bench_util.h"
#include <zmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_WARMUP    200
#define S_MAX_ROUNDS 10000000

static void
s_print (const char *mode, double *lat, size_t rounds)
{
    qsort (lat, rounds, sizeof (double), bench_compare);
    printf ("floor_%s_p50 %.1f us\n", mode, lat [rounds / 2]);
    printf ("floor_%s_p90 %.1f us\n", mode, lat [rounds * 9 / 10]);
    printf ("floor_%s_p99 %.1f us\n", mode, lat [rounds * 99 / 100]);
}

static void
s_reap (pid_t pid)
{
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
}

//  ---------------------------------------------------------------------
//  TCP ping-pong

static void
s_tcp_full (int fd, char *c, bool send)
{
    while (true) {
        ssize_t n = send ? write (fd, c, 1) : read (fd, c, 1);
        if (n == 1)
            return;
        if (n < 0 && errno == EINTR)
            continue;
        bench_die ("floors", "tcp %s: %s", send ? "write" : "read",
                   n ? strerror (errno) : "closed");
    }
}

static int
s_tcp (size_t rounds)
{
    int listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t size = sizeof addr;
    if (listener < 0 || bind (listener, (struct sockaddr *) &addr, sizeof addr)
    ||  listen (listener, 1) || getsockname (listener, (struct sockaddr *) &addr, &size))
        bench_die ("floors", "tcp listener: %s", strerror (errno));
    fflush (stdout);
    pid_t pid = fork ();
    if (pid < 0)
        bench_die ("floors", "fork: %s", strerror (errno));
    if (pid == 0) {
        int fd = accept (listener, NULL, NULL);
        int one = 1;
        setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char c;
        while (read (fd, &c, 1) == 1)
            if (write (fd, &c, 1) != 1)
                break;
        _exit (0);
    }
    close (listener);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect (fd, (struct sockaddr *) &addr, sizeof addr))
        bench_die ("floors", "tcp connect: %s", strerror (errno));
    double *lat = calloc (rounds, sizeof (double));
    char c = 'x';
    for (size_t i = 0; i < S_WARMUP + rounds; i++) {
        double start = bench_now ();
        s_tcp_full (fd, &c, true);
        s_tcp_full (fd, &c, false);
        if (i >= S_WARMUP)
            lat [i - S_WARMUP] = (bench_now () - start) * 1e6;
    }
    close (fd);
    s_reap (pid);
    s_print ("tcp", lat, rounds);
    free (lat);
    return 0;
}

//  ---------------------------------------------------------------------
//  ZeroMQ: client -> forwarder -> node -> forwarder -> client

//  The forwarder: a ROUTER that passes a client's message to the node
//  (prefixed with the client's routing id) and the node's back
static void
s_forwarder (void *ctx, const char *endpoint)
{
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    if (zmq_bind (router, endpoint))
        bench_die ("floors", "forwarder bind %s: %s", endpoint, zmq_strerror (errno));
    char frames [3][256];
    size_t sizes [3];
    while (true) {
        int count = 0, more = 1;
        while (more) {
            int n = zmq_recv (router, frames [count < 3 ? count : 2], 256, 0);
            if (n < 0)
                bench_die ("floors", "forwarder recv: %s", zmq_strerror (errno));
            if (count < 3)
                sizes [count] = (size_t) (n < 256 ? n : 256);
            count++;
            size_t len = sizeof more;
            zmq_getsockopt (router, ZMQ_RCVMORE, &more, &len);
        }
        if (sizes [0] == 4 && memcmp (frames [0], "node", 4) == 0) {
            //  [node, client, payload] -> [client, payload]
            if (count == 3) {
                zmq_send (router, frames [1], sizes [1], ZMQ_SNDMORE);
                zmq_send (router, frames [2], sizes [2], 0);
            }
        }
        else
        if (count == 2) {
            //  [client, payload] -> [node, client, payload]
            zmq_send (router, "node", 4, ZMQ_SNDMORE);
            zmq_send (router, frames [0], sizes [0], ZMQ_SNDMORE);
            zmq_send (router, frames [1], sizes [1], 0);
        }
    }
}

//  The node: a DEALER that sends each message back as it came
static void
s_node (void *ctx, const char *endpoint)
{
    void *dealer = zmq_socket (ctx, ZMQ_DEALER);
    zmq_setsockopt (dealer, ZMQ_ROUTING_ID, "node", 4);
    if (zmq_connect (dealer, endpoint))
        bench_die ("floors", "node connect %s: %s", endpoint, zmq_strerror (errno));
    char frames [2][256];
    while (true) {
        int a = zmq_recv (dealer, frames [0], 256, 0);
        int b = zmq_recv (dealer, frames [1], 256, 0);
        if (a < 0 || b < 0)
            bench_die ("floors", "node recv: %s", zmq_strerror (errno));
        zmq_send (dealer, frames [0], (size_t) a, ZMQ_SNDMORE);
        zmq_send (dealer, frames [1], (size_t) b, 0);
    }
}

static pid_t
s_spawn (void (*body) (void *, const char *), const char *endpoint)
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid < 0)
        bench_die ("floors", "fork: %s", strerror (errno));
    if (pid == 0) {
        body (zmq_ctx_new (), endpoint);
        _exit (0);
    }
    return pid;
}

static int
s_zmq (size_t rounds)
{
    //  A free port: bind to an ephemeral one, note it, let it go
    int probe = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t size = sizeof addr;
    if (probe < 0 || bind (probe, (struct sockaddr *) &addr, sizeof addr)
    ||  getsockname (probe, (struct sockaddr *) &addr, &size))
        bench_die ("floors", "cannot find a free port: %s", strerror (errno));
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", ntohs (addr.sin_port));
    close (probe);
    pid_t forwarder = s_spawn (s_forwarder, endpoint);
    pid_t node = s_spawn (s_node, endpoint);
    void *ctx = zmq_ctx_new ();
    void *dealer = zmq_socket (ctx, ZMQ_DEALER);
    zmq_setsockopt (dealer, ZMQ_ROUTING_ID, "client", 6);
    int timeout = 200;
    zmq_setsockopt (dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_connect (dealer, endpoint))
        bench_die ("floors", "client connect %s: %s", endpoint, zmq_strerror (errno));
    //  Until a message comes back: forwarder bound, node connected
    char buf [256];
    double deadline = bench_now () + 10;
    while (true) {
        zmq_send (dealer, "ping", 4, 0);
        if (zmq_recv (dealer, buf, sizeof buf, 0) == 4)
            break;
        if (bench_now () > deadline)
            bench_die ("floors", "the forwarder and the node did not answer within 10 s");
    }
    //  Drop late echoes of the probes
    while (zmq_recv (dealer, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
        ;
    timeout = 10000;
    zmq_setsockopt (dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    double *lat = calloc (rounds, sizeof (double));
    for (size_t i = 0; i < S_WARMUP + rounds; i++) {
        double start = bench_now ();
        zmq_send (dealer, "job", 3, 0);
        if (zmq_recv (dealer, buf, sizeof buf, 0) != 3)
            bench_die ("floors", "zmq round %zu: %s", i, zmq_strerror (errno));
        if (i >= S_WARMUP)
            lat [i - S_WARMUP] = (bench_now () - start) * 1e6;
    }
    zmq_close (dealer);
    zmq_ctx_term (ctx);
    s_reap (node);
    s_reap (forwarder);
    s_print ("zmq", lat, rounds);
    free (lat);
    return 0;
}

//  ---------------------------------------------------------------------
//  A synced 4 KiB WAL append

static int
s_wal (const char *dir, size_t rounds)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/floors-wal.%d", dir, getpid ());
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0)
        bench_die ("floors", "cannot create %s: %s", path, strerror (errno));
    char block [4096];
    memset (block, 'w', sizeof block);
    double *lat = calloc (rounds, sizeof (double));
    for (size_t i = 0; i < S_WARMUP + rounds; i++) {
        double start = bench_now ();
        if (write (fd, block, sizeof block) != (ssize_t) sizeof block || fdatasync (fd))
            bench_die ("floors", "append to %s: %s", path, strerror (errno));
        if (i >= S_WARMUP)
            lat [i - S_WARMUP] = (bench_now () - start) * 1e6;
    }
    close (fd);
    unlink (path);
    s_print ("wal", lat, rounds);
    free (lat);
    return 0;
}

//  A whole number in [min, max] from the command line, or exit 2
static size_t
s_number (const char *text)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < 1 || value > S_MAX_ROUNDS) {
        fprintf (stderr, "floors: ROUNDS must be a number from 1 to %d, not '%s'\n",
                 S_MAX_ROUNDS, text);
        exit (2);
    }
    return (size_t) value;
}

int
main (int argc, char *argv [])
{
    const char *mode = argc > 1 ? argv [1] : "";
    if (strcmp (mode, "tcp") == 0 && argc <= 3)
        return s_tcp (argc > 2 ? s_number (argv [2]) : 2000);
    if (strcmp (mode, "zmq") == 0 && argc <= 3)
        return s_zmq (argc > 2 ? s_number (argv [2]) : 2000);
    if (strcmp (mode, "wal") == 0 && argc >= 3 && argc <= 4)
        return s_wal (argv [2], argc > 3 ? s_number (argv [3]) : 2000);
    fprintf (stderr, "usage: floors tcp [ROUNDS] | zmq [ROUNDS] | wal DIR [ROUNDS]\n");
    return 2;
}
