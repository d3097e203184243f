/*  faultshim - an LD_PRELOAD library that injects faults into one
    process without touching the machine: a step of its wall clock (as an
    operator's `date -s` or a bad time server would make), a slow disk.

    With ASYNC_TEST_CLOCK_FILE set, CLOCK_REALTIME (clock_gettime,
    gettimeofday, time) reads as the real time plus the whole seconds
    written in that file (may be negative; re-read at most every 10 ms).
    The monotonic clocks are left alone.

    With ASYNC_TEST_SLOW_SYNC set to a file name, fsync and fdatasync take
    as many more milliseconds as that file says, while it exists, in every
    thread but the main one (the broker's store writer is slow, its loop
    is not held by a sync of its own).

    Without the variables it changes nothing.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef int (clock_gettime_fn) (clockid_t, struct timespec *);

static clock_gettime_fn *s_real;
static _Atomic int64_t s_offset;        //  seconds
static _Atomic int64_t s_next_read;     //  monotonic ns

static int64_t
s_offset_now (void)
{
    if (!s_real)
        s_real = (clock_gettime_fn *) dlsym (RTLD_NEXT, "clock_gettime");
    const char *path = getenv ("ASYNC_TEST_CLOCK_FILE");
    if (!path || !s_real)
        return 0;
    struct timespec ts;
    s_real (CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (ns >= atomic_load (&s_next_read)) {
        atomic_store (&s_next_read, ns + 10000000);
        FILE *file = fopen (path, "r");
        long long seconds;
        if (file && fscanf (file, "%lld", &seconds) == 1)
            atomic_store (&s_offset, (int64_t) seconds);
        if (file)
            fclose (file);
    }
    return atomic_load (&s_offset);
}

int
clock_gettime (clockid_t clock, struct timespec *ts)
{
    int64_t offset = s_offset_now ();
    if (!s_real)
        return -1;
    int rc = s_real (clock, ts);
    if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE))
        ts->tv_sec += offset;
    return rc;
}

int
gettimeofday (struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    int rc = clock_gettime (CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

time_t
time (time_t *out)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}

typedef int (sync_fn) (int);

//  The delay the slow-sync file asks for, in ms (0 without it)
static long
s_sync_delay_ms (void)
{
    const char *path = getenv ("ASYNC_TEST_SLOW_SYNC");
    FILE *file = path ? fopen (path, "r") : NULL;
    long ms = 0;
    if (file) {
        if (fscanf (file, "%ld", &ms) != 1)
            ms = 0;
        fclose (file);
    }
    return ms;
}

static void
s_sync_wait (void)
{
    //  The main thread's syncs are left alone: the disk is slow for the
    //  broker's store writer, while its loop goes on answering
    if (syscall (SYS_gettid) == getpid ())
        return;
    long ms = s_sync_delay_ms ();
    if (ms > 0)
        nanosleep (&(struct timespec) { ms / 1000, (ms % 1000) * 1000000 }, NULL);
}

int
fsync (int fd)
{
    static sync_fn *real;
    if (!real)
        real = (sync_fn *) dlsym (RTLD_NEXT, "fsync");
    s_sync_wait ();
    return real ? real (fd) : -1;
}

int
fdatasync (int fd)
{
    static sync_fn *real;
    if (!real)
        real = (sync_fn *) dlsym (RTLD_NEXT, "fdatasync");
    s_sync_wait ();
    return real ? real (fd) : -1;
}
