//  garbage - a test helper for test_fault_garbage_frames.sh
//
//      garbage ENDPOINT [ROUNDS [SEED]]
//
//  Connects a DEALER to the broker and sends it, ROUNDS times (default
//  300), one of each kind of bad input that docs/protocol.md section 10
//  says the broker must survive:
//    - random bytes (0..300 of them)
//    - valid messages cut short at a random byte
//    - valid messages with random bytes flipped
//    - a wrong protocol version (0, 2, -1, a string)
//    - huge declared lengths and counts: 0xdd ff ff ff ff (array32),
//      0xdf (map32), 0xdb (str32), 0xc6 (bin32), 0xc9 (ext32), alone and
//      inside a well-formed envelope
//    - containers nested 40 deep (beyond the 32 the broker reads)
//    - unknown commands, node commands without a session, a HELLO without
//      agents, a command of 30 bytes
//    - multi-frame messages (2 and 3 frames, and an empty frame)
//  and, once at the end of the first round, one 17 MiB frame (over the
//  16 MiB limit: libzmq closes the connection; the DEALER reconnects).
//  Replies are drained as they come and counted.
//
//  It never sends a HELLO that could make a session (a valid uuid with
//  agents), so the broker never hands a real job to this fake peer.
//
//  At the end it sends PING until it gets PONG with the same rid (at most
//  10 s): exit 0 when the broker answered, 1 if not. It also checks that
//  each unknown command got an ERROR with code 6, when any reply came.
#include <czmq.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t size;
    size_t cap;
} buf_t;

static void
s_put (buf_t *b, const void *data, size_t size)
{
    if (b->size + size > b->cap) {
        b->cap = (b->size + size) * 2 + 64;
        b->data = realloc (b->data, b->cap);
        assert (b->data);
    }
    memcpy (b->data + b->size, data, size);
    b->size += size;
}

static void
s_byte (buf_t *b, uint8_t byte)
{
    s_put (b, &byte, 1);
}

//  msgpack forms, written by hand so that this program needs no msgpack-c
static void
s_str (buf_t *b, const char *s)
{
    size_t n = strlen (s);
    if (n < 32)
        s_byte (b, (uint8_t) (0xa0 | n));
    else {
        s_byte (b, 0xd9);
        s_byte (b, (uint8_t) n);
    }
    s_put (b, s, n);
}

static void
s_uint (buf_t *b, uint64_t v)
{
    if (v < 128)
        s_byte (b, (uint8_t) v);
    else {
        s_byte (b, 0xcf);
        for (int i = 7; i >= 0; i--)
            s_byte (b, (uint8_t) (v >> (i * 8)));
    }
}

//  [1, command, rid, {  -- the caller adds `pairs` key/value pairs
static void
s_head (buf_t *b, const char *command, uint64_t rid, int pairs)
{
    s_byte (b, 0x94);
    s_byte (b, 0x01);
    s_str (b, command);
    s_uint (b, rid);
    s_byte (b, (uint8_t) (0x80 | pairs));
}

static zsock_t *dealer;
static uint64_t s_sent, s_replies, s_pongs, s_errors, s_error6, s_rehellos, s_other;
static uint64_t s_unknown_sent, s_unknown_error6;
static uint64_t s_unknown_rid_lo = 1000000000ULL;       //  rids of unknown commands
static uint64_t s_unknown_rid_next = 1000000000ULL;

//  Read the head of a reply: [1, "CMD", rid, ...]. 0, or -1 if it is not one
static int
s_reply_head (const uint8_t *d, size_t n, char *cmd, size_t cmd_size, uint64_t *rid)
{
    if (n < 4 || d [0] != 0x94 || d [1] != 0x01 || (d [2] & 0xe0) != 0xa0)
        return -1;
    size_t len = d [2] & 0x1f, at = 3 + len;
    if (len >= cmd_size || at >= n)
        return -1;
    memcpy (cmd, d + 3, len);
    cmd [len] = 0;
    uint8_t b = d [at++];
    size_t bytes = b < 0x80 ? 0 : b == 0xcc ? 1 : b == 0xcd ? 2 : b == 0xce ? 4
                 : b == 0xcf ? 8 : 99;
    if (bytes == 99 || at + bytes > n)
        return -1;
    *rid = b < 0x80 ? b : 0;
    for (size_t i = 0; i < bytes; i++)
        *rid = (*rid << 8) | d [at + i];
    return 0;
}

static void
s_count_reply (zframe_t *frame)
{
    const uint8_t *d = zframe_data (frame);
    size_t n = zframe_size (frame);
    char cmd [32];
    uint64_t rid;
    s_replies++;
    if (s_reply_head (d, n, cmd, sizeof cmd, &rid)) {
        s_other++;
        return;
    }
    if (streq (cmd, "PONG"))
        s_pongs++;
    else
    if (streq (cmd, "ERROR")) {
        s_errors++;
        //  {"code": 6, ...}: look for a4 'code' 06
        bool six = false;
        for (size_t i = 0; i + 6 <= n; i++)
            if (memcmp (d + i, "\xa4" "code\x06", 6) == 0)
                six = true;
        s_error6 += six;
        if (six && rid >= s_unknown_rid_lo && rid < s_unknown_rid_next)
            s_unknown_error6++;
    }
    else
    if (streq (cmd, "REHELLO"))
        s_rehellos++;
    else
        s_other++;
}

static void
s_drain (void)
{
    while (zsock_events (dealer) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (dealer);
        if (!frame)
            break;
        s_count_reply (frame);
        zframe_destroy (&frame);
    }
}

static void
s_send_bytes (const void *data, size_t size)
{
    zframe_t *frame = zframe_new (data, size);
    if (zframe_send (&frame, dealer, ZFRAME_DONTWAIT))
        zframe_destroy (&frame);
    else
        s_sent++;
    s_drain ();
}

static void
s_send_buf (buf_t *b)
{
    s_send_bytes (b->data, b->size);
    b->size = 0;
}

//  A few well-formed messages, used whole (some of them), cut and mutated
static size_t
s_valid (buf_t *b, int which, uint64_t rid)
{
    b->size = 0;
    switch (which % 7) {
        case 0:     //  SUBMIT of a task no node has: stays pending, harmless
            s_head (b, "SUBMIT", rid, 1);
            s_str (b, "spec");
            s_byte (b, 0x83);
            s_str (b, "task"); s_str (b, "garbage.never_runs");
            s_str (b, "args"); s_byte (b, 0x93); s_byte (b, 1); s_str (b, "two"); s_byte (b, 0xc0);
            s_str (b, "queue"); s_str (b, "garbage");
            break;
        case 1:
            s_head (b, "GET", rid, 1);
            s_str (b, "id"); s_str (b, "00000000-0000-4000-8000-000000000000");
            break;
        case 2:
            s_head (b, "COUNT", rid, 1);
            s_str (b, "status"); s_byte (b, 0x92); s_str (b, "pending"); s_str (b, "bogus");
            break;
        case 3:
            s_head (b, "STATUS", rid, 0);
            break;
        case 4:
            s_head (b, "PING", rid, 0);
            break;
        case 5:     //  a node message without a session: REHELLO
            s_head (b, "RESULT", rid, 3);
            s_str (b, "id"); s_str (b, "00000000-0000-4000-8000-000000000001");
            s_str (b, "token"); s_uint (b, 12345);
            s_str (b, "result"); s_byte (b, 0x2a);
            break;
        default:    //  WAIT for no such job: ERROR 5
            s_head (b, "WAIT", rid, 1);
            s_str (b, "id"); s_str (b, "00000000-0000-4000-8000-000000000002");
            break;
    }
    return b->size;
}

int
main (int argc, char *argv [])
{
    if (argc < 2) {
        fprintf (stderr, "usage: garbage ENDPOINT [ROUNDS [SEED]]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi (argv [2]) : 300;
    unsigned seed = argc > 3 ? (unsigned) strtoul (argv [3], NULL, 10) : (unsigned) time (NULL);
    srandom (seed);
    zsys_init ();
    zsys_handler_set (NULL);
    dealer = zsock_new (ZMQ_DEALER);
    assert (dealer);
    zsock_set_linger (dealer, 0);
    zsock_set_sndhwm (dealer, 0);
    zsock_set_reconnect_ivl (dealer, 100);
    zsock_set_maxmsgsize (dealer, 64 << 20);
    if (zsock_connect (dealer, "%s", argv [1])) {
        fprintf (stderr, "garbage: cannot connect to %s\n", argv [1]);
        return 2;
    }
    fprintf (stderr, "garbage: endpoint=%s rounds=%d seed=%u\n", argv [1], rounds, seed);
    buf_t b = { 0 }, v = { 0 };
    uint64_t rid = 1;
    for (int round = 0; round < rounds; round++) {
        //  Random bytes
        for (int k = 0; k < 3; k++) {
            size_t n = (size_t) (random () % 301);
            b.size = 0;
            for (size_t i = 0; i < n; i++)
                s_byte (&b, (uint8_t) random ());
            s_send_buf (&b);
        }
        //  Truncated valid messages
        for (int which = 0; which < 7; which++) {
            size_t n = s_valid (&v, which, rid++);
            s_send_bytes (v.data, (size_t) random () % n);
        }
        //  Mutated valid messages: 1..4 bytes changed
        for (int which = 0; which < 7; which++) {
            size_t n = s_valid (&v, which + round, rid++);
            int flips = 1 + (int) (random () % 4);
            for (int f = 0; f < flips; f++)
                v.data [(size_t) random () % n] = (uint8_t) random ();
            s_send_bytes (v.data, n);
        }
        //  Wrong versions
        const uint8_t versions [][2] = { { 0x00, 0 }, { 0x02, 0 }, { 0xff, 0 }, { 0xa1, '1' } };
        for (int k = 0; k < 4; k++) {
            b.size = 0;
            s_byte (&b, 0x94);
            s_put (&b, versions [k], versions [k][0] == 0xa1 ? 2 : 1);
            s_str (&b, "PING");
            s_uint (&b, rid++);
            s_byte (&b, 0x80);
            s_send_buf (&b);
        }
        //  Huge declared lengths and counts, alone and inside an envelope
        const uint8_t huge [] = { 0xdd, 0xdf, 0xdb, 0xc6, 0xc9, 0xdc, 0xde, 0xda };
        for (size_t k = 0; k < sizeof huge; k++) {
            uint8_t alone [] = { huge [k], 0xff, 0xff, 0xff, 0xff, 0x01 };
            s_send_bytes (alone, sizeof alone);
            s_head (&b, "SUBMIT", rid++, 1);
            s_str (&b, "spec");
            s_put (&b, alone, 5);
            s_send_buf (&b);
            //  The envelope itself with a huge count
            uint8_t envelope [] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0xa4, 'P', 'I', 'N', 'G' };
            s_send_bytes (envelope, sizeof envelope);
        }
        //  Nested 40 deep: [1, "SUBMIT", rid, {"spec": {"task": "t.x", "args": [[[[...]]]]}}]
        s_head (&b, "SUBMIT", rid++, 1);
        s_str (&b, "spec");
        s_byte (&b, 0x82);
        s_str (&b, "task"); s_str (&b, "garbage.deep");
        s_str (&b, "args");
        for (int d = 0; d < 40; d++)
            s_byte (&b, 0x91);
        s_byte (&b, 0xc0);
        s_send_buf (&b);
        //  Unknown commands (ERROR code 6 expected), a 30-byte command,
        //  commands in the wrong case
        const char *unknown [] = { "FROBNICATE", "submit", "HELLOX", "", "ACK", "ASSIGN" };
        for (size_t k = 0; k < sizeof unknown / sizeof unknown [0]; k++) {
            s_head (&b, unknown [k], s_unknown_rid_next++, 0);
            s_send_buf (&b);
            s_unknown_sent++;
        }
        s_head (&b, "ABCDEFGHIJKLMNOPQRSTUVWXYZABCD", rid++, 0);
        s_send_buf (&b);
        //  Node commands without a session; a HELLO that cannot make one
        const char *node_cmds [] = { "STARTED", "PROGRESS", "BYE" };
        for (size_t k = 0; k < 3; k++) {
            s_head (&b, node_cmds [k], rid++, 2);
            s_str (&b, "id"); s_str (&b, "not-a-uuid");
            s_str (&b, "token"); s_byte (&b, 0xff);       //  -1: not a uint
            s_send_buf (&b);
        }
        s_head (&b, "HELLO", rid++, 2);
        s_str (&b, "uuid"); s_str (&b, "00000000-0000-4000-8000-00000000000g");
        s_str (&b, "agents"); s_byte (&b, 0x90);
        s_send_buf (&b);
        s_head (&b, "HELLO", rid++, 1);
        s_str (&b, "agents"); s_byte (&b, 0xdd); s_put (&b, "\x00\x01\x00\x00", 4);
        s_send_buf (&b);
        //  Multi-frame messages: 2 and 3 frames, and an empty frame
        s_valid (&v, 4, rid++);
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, v.data, v.size);
        zmsg_addmem (msg, v.data, v.size);
        if (zmsg_send (&msg, dealer) == 0)
            s_sent++;
        zmsg_destroy (&msg);
        msg = zmsg_new ();
        zmsg_addmem (msg, "", 0);
        zmsg_addmem (msg, v.data, v.size);
        zmsg_addmem (msg, "x", 1);
        if (zmsg_send (&msg, dealer) == 0)
            s_sent++;
        zmsg_destroy (&msg);
        s_send_bytes ("", 0);
        //  Once: a 17 MiB frame (the limit is 16 MiB)
        if (round == 0) {
            size_t big = 17u << 20;
            uint8_t *data = malloc (big);
            assert (data);
            memset (data, 0xa1, big);
            //  [1, "SUBMIT", rid, {"spec": {"task": bin32 ...}}]: well formed
            buf_t h = { 0 };
            s_head (&h, "SUBMIT", rid++, 1);
            s_str (&h, "spec");
            s_byte (&h, 0x81);
            s_str (&h, "task");
            s_byte (&h, 0xc6);
            uint32_t len = (uint32_t) (big - h.size - 4);
            s_byte (&h, (uint8_t) (len >> 24)); s_byte (&h, (uint8_t) (len >> 16));
            s_byte (&h, (uint8_t) (len >> 8)); s_byte (&h, (uint8_t) len);
            memcpy (data, h.data, h.size);
            free (h.data);
            zframe_t *frame = zframe_new (data, big);
            free (data);
            if (zframe_send (&frame, dealer, 0) == 0)
                s_sent++;
            zframe_destroy (&frame);
            fprintf (stderr, "garbage: sent a 17 MiB frame\n");
            zclock_sleep (300);         //  let the broker close, and us reconnect
        }
        if (round % 50 == 0)
            zclock_sleep (10);
    }
    //  Let the replies come in
    int64_t until = zclock_mono () + 1000;
    while (zclock_mono () < until) {
        zsock_set_rcvtimeo (dealer, 100);
        if (zsock_events (dealer) & ZMQ_POLLIN)
            s_drain ();
        else
            zclock_sleep (20);
    }
    //  The broker still answers: PING until PONG with our rid, 10 s at most
    uint64_t ping_rid = 4000000000ULL;
    bool answered = false;
    uint64_t pongs_before = s_pongs;
    int64_t deadline = zclock_mono () + 10000;
    while (!answered && zclock_mono () < deadline) {
        s_head (&b, "PING", ++ping_rid, 0);
        zframe_t *frame = zframe_new (b.data, b.size);
        b.size = 0;
        zframe_send (&frame, dealer, 0);
        zsock_set_rcvtimeo (dealer, 500);
        zframe_t *reply;
        while (!answered && (reply = zframe_recv (dealer))) {
            char cmd [32];
            uint64_t r = 0;
            if (s_reply_head (zframe_data (reply), zframe_size (reply), cmd, sizeof cmd, &r) == 0
            &&  streq (cmd, "PONG") && r == ping_rid)
                answered = true;
            else
                s_count_reply (reply);
            zframe_destroy (&reply);
        }
    }
    fprintf (stderr, "garbage: sent=%" PRIu64 " replies=%" PRIu64 " pong=%" PRIu64
             " error=%" PRIu64 " error_code6=%" PRIu64 " rehello=%" PRIu64 " other=%" PRIu64
             " unknown_sent=%" PRIu64 " unknown_error6=%" PRIu64 " final_ping=%s\n",
             s_sent, s_replies, pongs_before, s_errors, s_error6, s_rehellos, s_other,
             s_unknown_sent, s_unknown_error6, answered ? "answered" : "NO ANSWER");
    free (b.data);
    free (v.data);
    zsock_destroy (&dealer);
    if (!answered)
        return 1;
    //  Some unknown commands may be lost with the connection the 17 MiB
    //  frame closed; most must have their ERROR 6
    if (s_unknown_error6 < s_unknown_sent / 2) {
        fprintf (stderr, "garbage: only %" PRIu64 " of %" PRIu64 " unknown commands got "
                 "ERROR code 6\n", s_unknown_error6, s_unknown_sent);
        return 1;
    }
    return 0;
}
