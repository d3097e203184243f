//  test_nodes - the broker's node sessions, dead nodes, known nodes and
//  held ACKs (broker/nodes.c), without a broker
#include "nodes.h"
#include "keys.h"
#include "async_codec.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixture.h"

typedef struct {
    char dir [FIXTURE_DIR_MAX];
    char path [FIXTURE_DIR_MAX + 8];
    store_t *store;
    dispatch_t *dispatch;
    nodes_t *nodes;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *self = calloc (1, sizeof (fixture_t));
    if (fixture_dir_make (self->dir, sizeof self->dir, "nodes")) {
        free (self);
        return -1;
    }
    snprintf (self->path, sizeof self->path, "%s/db", self->dir);
    if (store_open (self->path, false, &self->store) != 0) {
        fixture_dir_remove (self->dir);
        free (self);
        return -1;
    }
    self->dispatch = dispatch_new ();
    self->nodes = nodes_new (self->store);
    *state = self;
    return 0;
}

//  As the broker stops: the sessions go with the object, then dispatch
static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    nodes_destroy (&self->nodes);
    assert_null (self->nodes);
    nodes_destroy (&self->nodes);           //  safe to call again
    dispatch_destroy (&self->dispatch);
    store_destroy (&self->store);
    int rc = fixture_dir_remove (self->dir);
    free (self);
    return rc;
}

//  The uuid of node n
static void
s_uuid (char *uuid, int n)
{
    snprintf (uuid, ASYNC_ID_LEN, "00000000-0000-4000-8000-%012d", n);
}

//  Unpack the one msgpack object of `size` bytes at `data`
static void
s_unpack (msgpack_unpacked *unpacked, const uint8_t *data, size_t size)
{
    msgpack_unpacked_init (unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (unpacked, (const char *) data, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (offset, size);
}

//  A session of node n (one agent of 2 slots) on routing id rkey n, from
//  `address`
static session_t *
s_session (fixture_t *self, int n, const char *address)
{
    const char *json = "{\"host\": \"h\", \"pid\": 1, \"acks\": 1, "
                       "\"agents\": [{\"name\": \"main\", \"size\": 2}]}";
    json_error_t error;
    json_t *value = json_loads (json, 0, &error);
    assert_non_null (value);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_codec_encode_json (value, &data, &size), 0);
    json_decref (value);
    msgpack_unpacked unpacked;
    s_unpack (&unpacked, data, size);
    char rkey [16], uuid [ASYNC_ID_LEN];
    snprintf (rkey, sizeof rkey, "%04X", n);
    s_uuid (uuid, n);
    zframe_t *routing = zframe_new (rkey, strlen (rkey));
    async_hello_t hello;
    async_hello_bad_t bad;
    async_hello_decode_map_each (&hello, &bad, &unpacked.data);
    session_t *session = session_new (self->dispatch, rkey, routing, uuid, "nonce", address,
                                      &hello);
    zframe_destroy (&routing);              //  the session has a copy
    msgpack_unpacked_destroy (&unpacked);
    free (data);
    assert_non_null (session);
    return session;
}

//  A session not handed to the object: its agents out of dispatch, and it
//  destroyed
static void
s_session_free (fixture_t *self, session_t **session_p)
{
    dispatch_agents_remove (self->dispatch, (*session_p)->agents);
    session_destroy (session_p);
}

//  The monotonic clock moved past `mono`: what is kept after is younger
static int64_t
s_tick (int64_t mono)
{
    int64_t now;
    while ((now = async_mono_us ()) <= mono)
        ;
    return now;
}

//  Sessions are found by routing id and by uuid, counted with their cost,
//  walked, and counted by address (besides the two a HELLO replaces)
static void
test_nodes_sessions (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    session_t *a = s_session (self, 1, "10.0.0.1");
    session_t *b = s_session (self, 2, "10.0.0.1");
    session_t *c = s_session (self, 3, "10.0.0.2");
    nodes_insert (self->nodes, a);
    nodes_insert (self->nodes, b);
    nodes_insert (self->nodes, c);
    assert_int_equal (nodes_size (self->nodes), 3);
    assert_int_equal (nodes_node_size (self->nodes), 3);
    assert_int_equal (nodes_bytes (self->nodes), a->cost + b->cost + c->cost);
    assert_true (a->cost > 0);
    assert_ptr_equal (nodes_session (self->nodes, "0001"), a);
    assert_ptr_equal (nodes_node (self->nodes, b->uuid), b);
    assert_null (nodes_session (self->nodes, "0009"));
    assert_int_equal (nodes_address_count (self->nodes, "10.0.0.1", NULL, NULL), 2);
    assert_int_equal (nodes_address_count (self->nodes, "10.0.0.1", a, NULL), 1);
    assert_int_equal (nodes_address_count (self->nodes, "10.0.0.1", a, b), 0);
    assert_int_equal (nodes_address_count (self->nodes, "10.0.0.3", NULL, NULL), 0);
    size_t walked = 0;
    for (session_t *s = nodes_first (self->nodes); s; s = nodes_next (self->nodes))
        walked++;
    assert_int_equal (walked, 3);
    walked = 0;
    for (session_t *s = nodes_node_first (self->nodes); s; s = nodes_node_next (self->nodes))
        walked++;
    assert_int_equal (walked, 3);
    size_t cost = b->cost + c->cost;
    dispatch_agents_remove (self->dispatch, a->agents);
    nodes_remove (self->nodes, a);
    assert_int_equal (nodes_size (self->nodes), 2);
    assert_int_equal (nodes_bytes (self->nodes), cost);
    assert_null (nodes_session (self->nodes, "0001"));
    char uuid [ASYNC_ID_LEN];
    s_uuid (uuid, 1);
    assert_null (nodes_node (self->nodes, uuid));
    assert_int_equal (nodes_address_count (self->nodes, "10.0.0.1", NULL, NULL), 1);
    //  Queued to be dropped
    nodes_dying_add (self->nodes, c);
    assert_int_equal (nodes_dying_size (self->nodes), 1);
}

//  Dead nodes are listed as packed, at most NODES_DEAD_KEEP_MAX (the
//  oldest go), until their uuid comes back or they age out
static void
test_nodes_dead_bounds (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int64_t mono = 0;
    for (int n = 1; n <= NODES_DEAD_KEEP_MAX + 3; n++) {
        session_t *session = s_session (self, n, "10.0.0.1");
        mono = s_tick (mono);
        nodes_dead_keep (self->nodes, session);
        mono = async_mono_us ();        //  the next one is kept later
        assert_int_equal (session->state, SESSION_DEAD);
        s_session_free (self, &session);
    }
    assert_int_equal (nodes_dead_size (self->nodes), NODES_DEAD_KEEP_MAX);
    //  The three oldest went: the listed ones are 4 .. MAX + 3
    size_t size, listed = 0;
    const uint8_t *data = nodes_dead_first (self->nodes, &size);
    for (; data; data = nodes_dead_next (self->nodes, &size)) {
        msgpack_unpacked unpacked;
        s_unpack (&unpacked, data, size);
        char uuid [ASYNC_ID_LEN];
        assert_int_equal (async_mp_str (&unpacked.data, "uuid", uuid, sizeof uuid), 0);
        int n = atoi (uuid + 24);
        assert_true (n >= 4 && n <= NODES_DEAD_KEEP_MAX + 3);
        msgpack_unpacked_destroy (&unpacked);
        listed++;
    }
    assert_int_equal (listed, NODES_DEAD_KEEP_MAX);
    //  Back (HELLO): no longer listed
    char uuid [ASYNC_ID_LEN];
    s_uuid (uuid, 4);
    nodes_dead_forget (self->nodes, uuid);
    assert_int_equal (nodes_dead_size (self->nodes), NODES_DEAD_KEEP_MAX - 1);
    //  Aged out: all of them, NODES_DEAD_KEEP_US after the last
    int64_t now = s_tick (mono);
    nodes_dead_expire (self->nodes, now);
    assert_int_equal (nodes_dead_size (self->nodes), NODES_DEAD_KEEP_MAX - 1);
    nodes_dead_expire (self->nodes, now + NODES_DEAD_KEEP_US + 1);
    assert_int_equal (nodes_dead_size (self->nodes), 0);
    assert_null (nodes_dead_first (self->nodes, &size));
    assert_int_equal (size, 0);
}

//  A pause of the loop is nobody's silence: sessions' last_seen and the
//  dead nodes' age move forward by it (to now at most), and so does the
//  end of the wait for the awaited nodes
static void
test_nodes_credit (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    session_t *live = s_session (self, 1, "10.0.0.1");
    nodes_insert (self->nodes, live);
    session_t *dead = s_session (self, 2, "10.0.0.1");
    nodes_dead_keep (self->nodes, dead);
    s_session_free (self, &dead);
    int64_t now = s_tick (s_tick (0));
    live->last_seen = now - 10000000;
    //  Without the credit, the dead node would age out at now + KEEP
    nodes_set_awaited_until (self->nodes, 777);
    nodes_credit (self->nodes, 3000000, now);
    assert_int_equal (live->last_seen, now - 7000000);
    assert_int_equal (nodes_awaited_until (self->nodes), 777);    //  none awaited
    nodes_dead_expire (self->nodes, now + NODES_DEAD_KEEP_US);
    assert_int_equal (nodes_dead_size (self->nodes), 1);
    nodes_credit (self->nodes, 20000000, now);
    assert_int_equal (live->last_seen, now);        //  never past now
    char uuid [ASYNC_ID_LEN];
    s_uuid (uuid, 3);
    nodes_await (self->nodes, uuid);
    nodes_credit (self->nodes, 5, now);
    assert_int_equal (nodes_awaited_until (self->nodes), 782);
    nodes_dead_expire (self->nodes, now + NODES_DEAD_KEEP_US + 1);
    assert_int_equal (nodes_dead_size (self->nodes), 0);
}

//  Whether the store has node `uuid`'s u key
static bool
s_u_key (fixture_t *self, const char *uuid)
{
    assert_int_equal (store_commit (self->store, true), 0);
    char key [40], *value = NULL;
    size_t size;
    int rc = store_get (self->store, key, keys_id (key, KEYS_NODE, uuid), &value, &size);
    free (value);
    assert_true (rc == 0 || rc == ASYNC_ENOJOB);
    return rc == 0;
}

//  Known nodes have a u key; forgotten, it is gone. Awaited ones (known
//  before a restart) stop being awaited when known again, or are
//  forgotten when they do not come back
static void
test_nodes_known_and_awaited (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char a [ASYNC_ID_LEN], b [ASYNC_ID_LEN], c [ASYNC_ID_LEN];
    s_uuid (a, 1);
    s_uuid (b, 2);
    s_uuid (c, 3);
    nodes_known (self->nodes, a);
    assert_true (s_u_key (self, a));
    nodes_forget (self->nodes, a);
    assert_false (s_u_key (self, a));
    nodes_forget (self->nodes, a);          //  not known: nothing
    //  b and c had u keys before this start
    char key [40];
    store_put (self->store, key, keys_id (key, KEYS_NODE, b), "", 0);
    store_put (self->store, key, keys_id (key, KEYS_NODE, c), "", 0);
    assert_int_equal (store_commit (self->store, true), 0);
    nodes_await (self->nodes, b);
    nodes_await (self->nodes, c);
    nodes_set_awaited_until (self->nodes, 1234);
    assert_int_equal (nodes_awaited (self->nodes), 2);
    assert_int_equal (nodes_awaited_until (self->nodes), 1234);
    nodes_known (self->nodes, b);
    assert_int_equal (nodes_awaited (self->nodes), 1);
    nodes_missing_forget (self->nodes);
    assert_int_equal (nodes_awaited (self->nodes), 0);
    assert_true (s_u_key (self, b));
    assert_false (s_u_key (self, c));
}

//  Send a session's held ACKs, as the broker does
static void
s_acks_sent (session_t *session)
{
    session->acks.size = 0;
    session->nacks = 0;
}

//  Held ACKs come due in the order their holds began, NODES_ACK_HOLD_US
//  after; stale holds (sent meanwhile, held again, session gone) are
//  passed over
static void
test_nodes_ack_order (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    session_t *s [3];
    for (int i = 0; i < 3; i++) {
        s [i] = s_session (self, i + 1, "10.0.0.1");
        nodes_insert (self->nodes, s [i]);
    }
    nodes_ack_hold (self->nodes, s [1], "\x81", 1, 1);
    s_tick (s [1]->acks_since);
    nodes_ack_hold (self->nodes, s [0], "\x82\x83", 2, 2);
    nodes_ack_hold (self->nodes, s [1], "\x84", 1, 1);     //  same hold
    s_tick (s [0]->acks_since);
    nodes_ack_hold (self->nodes, s [2], "\x85", 1, 1);
    assert_int_equal (nodes_ack_holders (self->nodes), 3);
    assert_int_equal (s [1]->nacks, 2);
    assert_int_equal (s [1]->acks.size, 2);
    assert_memory_equal (s [1]->acks.data, "\x81\x84", 2);
    assert_int_equal (s [0]->nacks, 2);
    //  Not yet due
    assert_null (nodes_ack_due (self->nodes, s [1]->acks_since + NODES_ACK_HOLD_US - 1,
                                false));
    assert_int_equal (nodes_ack_holders (self->nodes), 3);
    //  Due: in the order the holds began
    int64_t late = s [2]->acks_since + NODES_ACK_HOLD_US;
    session_t *expected [3] = { s [1], s [0], s [2] };
    for (int i = 0; i < 3; i++) {
        session_t *due = nodes_ack_due (self->nodes, late, false);
        assert_ptr_equal (due, expected [i]);
        s_acks_sent (due);
    }
    assert_null (nodes_ack_due (self->nodes, late, false));
    assert_int_equal (nodes_ack_holders (self->nodes), 0);
    //  Stale holds: s0's ACKs went with an ASSIGN and a later hold began;
    //  s1's session is gone. Only s0's later hold is due, once
    nodes_ack_hold (self->nodes, s [0], "\x86", 1, 1);
    nodes_ack_hold (self->nodes, s [1], "\x87", 1, 1);
    s_acks_sent (s [0]);
    s_tick (s [0]->acks_since);
    nodes_ack_hold (self->nodes, s [0], "\x88", 1, 1);
    dispatch_agents_remove (self->dispatch, s [1]->agents);
    nodes_remove (self->nodes, s [1]);
    assert_int_equal (nodes_ack_holders (self->nodes), 3);
    //  `all` (the broker stopping): due at once, young or not
    session_t *due = nodes_ack_due (self->nodes, 0, true);
    assert_ptr_equal (due, s [0]);
    assert_int_equal (due->nacks, 1);
    s_acks_sent (due);
    assert_null (nodes_ack_due (self->nodes, 0, true));
    assert_int_equal (nodes_ack_holders (self->nodes), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_nodes_sessions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_nodes_dead_bounds, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_nodes_credit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_nodes_known_and_awaited, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_nodes_ack_order, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
