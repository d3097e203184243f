//  pinger - a test helper for test_list_no_stall.sh
//
//      pinger ENDPOINT STOPFILE
//
//  Connects a DEALER to the broker and times PING/PONG round trips, one
//  PING at a time, one every 2 ms, until the file STOPFILE exists (at most
//  10 minutes). A PING unanswered for 10 s counts as 10 s. Prints one line
//      pings=N max_us=M p99_us=P over_50ms=K
//  and each round trip of 50 ms or more on a line of its own after it
//  ("slow_us=U at_ms=T", T since the start). Exit 0, or 1 when no PONG
//  came at all.
#include "async_codec.h"
#include "async_util.h"
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define S_SLOW_US       50000
#define S_MAX_SLOW      1000

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

int
main (int argc, char *argv [])
{
    if (argc != 3) {
        fprintf (stderr, "usage: pinger ENDPOINT STOPFILE\n");
        return 2;
    }
    zsock_t *dealer = zsock_new_dealer (argv [1]);
    if (!dealer) {
        fprintf (stderr, "pinger: cannot connect to %s\n", argv [1]);
        return 2;
    }
    size_t cap = 1 << 20, count = 0, nslow = 0;
    int64_t *rtts = (int64_t *) malloc (cap * sizeof (int64_t));
    int64_t slow [S_MAX_SLOW] [2];
    assert (rtts);
    int64_t start = async_mono_us ();
    uint64_t rid = 0;
    while (access (argv [2], F_OK) != 0 && async_mono_us () - start < 600000000LL) {
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_C_PING, ++rid);
        int64_t sent = async_mono_us ();
        zframe_t *frame = zframe_new (msg.buffer.data, msg.buffer.size);
        async_msg_destroy (&msg);
        zframe_send (&frame, dealer, 0);
        int64_t rtt = -1;
        while (rtt < 0) {
            int64_t left = sent + 10000000 - async_mono_us ();
            if (left <= 0) {
                rtt = 10000000;
                break;
            }
            zsock_set_rcvtimeo (dealer, (int) (left / 1000) + 1);
            zframe_t *reply = zframe_recv (dealer);
            if (!reply)
                continue;
            async_inmsg_t in;
            const char *why = NULL;
            if (async_inmsg_parse (&in, zframe_data (reply), zframe_size (reply),
                                   &why) == 0) {
                if (in.rid == rid && streq (in.command, "PONG"))
                    rtt = async_mono_us () - sent;
                async_inmsg_destroy (&in);
            }
            zframe_destroy (&reply);
        }
        if (count == cap) {
            cap *= 2;
            rtts = (int64_t *) realloc (rtts, cap * sizeof (int64_t));
            assert (rtts);
        }
        rtts [count++] = rtt;
        if (rtt >= S_SLOW_US && nslow < S_MAX_SLOW) {
            slow [nslow] [0] = rtt;
            slow [nslow++] [1] = (sent - start) / 1000;
        }
        usleep (2000);
    }
    int64_t max = 0;
    size_t over = 0;
    for (size_t i = 0; i < count; i++) {
        max = rtts [i] > max ? rtts [i] : max;
        over += rtts [i] >= S_SLOW_US;
    }
    qsort (rtts, count, sizeof (int64_t), s_compare);
    int64_t p99 = count ? rtts [count * 99 / 100] : 0;
    printf ("pings=%zu max_us=%" PRId64 " p99_us=%" PRId64 " over_50ms=%zu\n", count, max,
            p99, over);
    for (size_t i = 0; i < nslow; i++)
        printf ("slow_us=%" PRId64 " at_ms=%" PRId64 "\n", slow [i] [0], slow [i] [1]);
    free (rtts);
    zsock_destroy (&dealer);
    return count && max < 10000000 ? 0 : 1;
}
