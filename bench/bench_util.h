/*  =========================================================================
    bench_util - what every benchmark client needs: clocks, a comparator
    for latencies, and a one-line fatal error
    =========================================================================
*/
#ifndef BENCH_UTIL_H_INCLUDED
#define BENCH_UTIL_H_INCLUDED

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

//  Monotonic seconds
static inline double
bench_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

//  Wall-clock seconds since the epoch
static inline double
bench_wall (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

//  qsort comparator for doubles
static inline int
bench_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Sort `rounds` latencies (us) and print W2's p50, p90 and p99 lines
static inline void
bench_print_w2 (double *lat, size_t rounds)
{
    qsort (lat, rounds, sizeof (double), bench_compare);
    printf ("w2_p50 %.0f us\n", lat [rounds / 2]);
    printf ("w2_p90 %.0f us\n", lat [rounds * 9 / 10]);
    printf ("w2_p99 %.0f us\n", lat [rounds * 99 / 100]);
}

//  "PROG[pid]: message" on stderr, then exit 1
static inline void
bench_die (const char *prog, const char *format, ...)
    __attribute__ ((format (printf, 2, 3), noreturn));
static inline void
bench_die (const char *prog, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "%s[%d]: ", prog, getpid ());
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    exit (1);
}

#endif
