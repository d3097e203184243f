/*  =========================================================================
    nodes - the broker's node sessions: the live ones and what they cost,
    those found dead and not dropped yet, the nodes declared dead that
    NODES still lists, the nodes known (u keys) and those awaited after a
    restart, and the ACKs held for an ASSIGN to ride on

    It owns the sessions (by routing id; by uuid, the latest of each
    uuid), the list of sessions to drop (dying), the dead nodes (each
    packed once, as NODES lists it), the sets of known and awaited uuids,
    and the list of sessions holding ACKs (oldest first). It owns neither
    the store (it writes the u keys there) nor the dispatcher the
    sessions' agents are in.

    The object part (nodes_new to nodes_ack_due) needs no broker. The
    handlers at the end (HELLO, dropping a session, releasing replies)
    change jobs, queues and the commit too: they take the whole broker
    (broker_impl.h), and call back into it through the broker_* functions
    that broker.c exports to its parts.
    =========================================================================
*/
#ifndef BROKER_NODES_H_INCLUDED
#define BROKER_NODES_H_INCLUDED

#include "handler.h"
#include "broker.h"
#include "session.h"
#include "store.h"
#include "async_codec.h"
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A node declared dead is listed by NODES for NODES_DEAD_KEEP_US of the
//  broker's running time, at most NODES_DEAD_KEEP_MAX of them (the
//  oldest go first)
#define NODES_DEAD_KEEP_US      (600 * 1000000LL)   //  10 minutes
#define NODES_DEAD_KEEP_MAX     1000

//  ACKs, once synced, wait up to NODES_ACK_HOLD_US for an ASSIGN to the
//  same node to ride on (`acks`), or go together in one ACK: a node doing
//  one job at a time would otherwise get an ACK per job. The node keeps
//  each result until then (and sends it again only after 500 ms).
#define NODES_ACK_HOLD_US       20000

typedef struct _nodes_t nodes_t;

//  Create the node sessions, none yet; the u keys of the nodes known go
//  to `store`, which must outlive the object. Never NULL.
nodes_t *
    nodes_new (store_t *store);

//  Destroy the object, its sessions and what it holds, and set *self_p to
//  NULL. Safe to call again.
void
    nodes_destroy (nodes_t **self_p);

//  ---------------------------------------------------------------------
//  The sessions

//  The session of routing id `rkey` (hex), or NULL
session_t *
    nodes_session (nodes_t *self, const char *rkey);

//  The latest session of node `uuid`, or NULL
session_t *
    nodes_node (nodes_t *self, const char *uuid);

//  How many sessions there are
size_t
    nodes_size (nodes_t *self);

//  What all the sessions cost, in bytes: the sum of their `cost`
size_t
    nodes_bytes (nodes_t *self);

//  Take `session` as the session of its routing id and the latest of its
//  uuid (the object destroys it: nodes_remove, nodes_destroy). Neither
//  its routing id nor its uuid has a session
void
    nodes_insert (nodes_t *self, session_t *session);

//  Destroy `session`: gone from the sessions, and from its uuid's if it is
//  the latest there
void
    nodes_remove (nodes_t *self, session_t *session);

//  The first session, by routing id, or NULL; with nodes_next, walks them
//  all. Neither nodes_insert nor nodes_remove may be called meanwhile
session_t *
    nodes_first (nodes_t *self);

//  The next session, or NULL after the last
session_t *
    nodes_next (nodes_t *self);

//  The first of the latest sessions of each uuid, or NULL; with
//  nodes_node_next, walks the nodes alive (as NODES lists them)
session_t *
    nodes_node_first (nodes_t *self);

//  The next of them, or NULL after the last
session_t *
    nodes_node_next (nodes_t *self);

//  How many uuids have a session
size_t
    nodes_node_size (nodes_t *self);

//  How many sessions came from peer `address`, besides `old` and `other`
//  (either may be NULL)
size_t
    nodes_address_count (nodes_t *self, const char *address, session_t *old,
                         session_t *other);

//  Time the broker's loop did not run (a pause of `credit` us, noticed at
//  `mono`) is nobody's silence: every session's last_seen moves forward
//  by it (to `mono` at most), and so does the age of the dead nodes and
//  the end of the wait for the awaited nodes
void
    nodes_credit (nodes_t *self, int64_t credit, int64_t mono);

//  ---------------------------------------------------------------------
//  The sessions found dead, dropped a few at a time (nodes_dying_drop)

//  Queue `session` (found silent past dead-after) to be dropped
void
    nodes_dying_add (nodes_t *self, session_t *session);

//  How many sessions are queued to be dropped
size_t
    nodes_dying_size (nodes_t *self);

//  ---------------------------------------------------------------------
//  The dead nodes, listed by NODES for a while

//  Mark `session` dead and keep it as NODES lists it, until its uuid says
//  HELLO again (nodes_dead_forget) or it ages out (nodes_dead_expire); the
//  oldest goes first past NODES_DEAD_KEEP_MAX
void
    nodes_dead_keep (nodes_t *self, session_t *session);

//  Forget the dead node `uuid`, if listed
void
    nodes_dead_forget (nodes_t *self, const char *uuid);

//  Forget the dead nodes older than NODES_DEAD_KEEP_US at `mono`
//  (monotonic us)
void
    nodes_dead_expire (nodes_t *self, int64_t mono);

//  How many dead nodes are listed
size_t
    nodes_dead_size (nodes_t *self);

//  The first dead node, as packed (one msgpack map of *size bytes), or
//  NULL; with nodes_dead_next, walks them all
const uint8_t *
    nodes_dead_first (nodes_t *self, size_t *size);

//  The next dead node, or NULL after the last
const uint8_t *
    nodes_dead_next (nodes_t *self, size_t *size);

//  ---------------------------------------------------------------------
//  The nodes known (u keys), and those awaited after a restart

//  Node `uuid` has a session: no longer awaited, and known (its u key
//  written the first time). After a restart, dispatch waits for the known
//  nodes to say HELLO with what they hold, so that a job one of them ran,
//  whose assignment was not recorded, is not handed to another node first
void
    nodes_known (nodes_t *self, const char *uuid);

//  Node `uuid` is gone, not replaced: no longer known (its u key deleted)
void
    nodes_forget (nodes_t *self, const char *uuid);

//  Node `uuid` was known before this start (a u key): known, and awaited
void
    nodes_await (nodes_t *self, const char *uuid);

//  Dispatch waits for the awaited nodes until `until` (monotonic us)
void
    nodes_set_awaited_until (nodes_t *self, int64_t until);

//  Until when dispatch waits for the awaited nodes (monotonic us)
int64_t
    nodes_awaited_until (nodes_t *self);

//  How many nodes known before this start have not come back
size_t
    nodes_awaited (nodes_t *self);

//  The awaited nodes did not come back in time: forget them (their u keys
//  deleted), so that the next restart does not wait for them again. One
//  that comes back later is known again by its HELLO
void
    nodes_missing_forget (nodes_t *self);

//  ---------------------------------------------------------------------
//  The ACKs held for an ASSIGN to ride on

//  Hold `count` ACK entries (`size` bytes of packed maps) for `session`;
//  its first since its last went starts its hold
void
    nodes_ack_hold (nodes_t *self, session_t *session, const void *entries, size_t size,
                    uint32_t count);

//  The next session whose held ACKs are due at `now` (monotonic us): held
//  NODES_ACK_HOLD_US or longer, or any with `all`. NULL when none is due;
//  the caller sends them (which empties the session's). In the order the
//  holds began
session_t *
    nodes_ack_due (nodes_t *self, int64_t now, bool all);

//  How many holds are listed (some may be stale: their ACKs went with an
//  ASSIGN); 0 when no ACK is held
size_t
    nodes_ack_holders (nodes_t *self);

//  ---------------------------------------------------------------------
//  The broker's handlers of node sessions (they take the whole broker)

//  HELLO from the request's peer: check it, make the session (the former
//  ones of the connection and of the uuid dropped), take back the jobs
//  the node holds, and answer WELCOME or ERROR
void
    nodes_on_hello (broker_t *broker, broker_request_t *req);

//  Drop `session` for `why` ("dead", "stopped", "superseded",
//  "re-registered", "key_revoked"...): its jobs interrupted, its agents out of
//  dispatch, and it destroyed
void
    nodes_session_drop (broker_t *broker, session_t *session, const char *why);

//  Drop the sessions found dead, for a bounded time a turn (at least
//  one); sets the broker's more_work if some are left
void
    nodes_dying_drop (broker_t *broker);

//  Send a reply whose batch is written; hold it instead if it is an ACK
//  to a node that takes `acks` in ASSIGN. Takes *zmsg_p
void
    nodes_release_reply (broker_t *broker, zmsg_t **zmsg_p);

//  Send the ACKs held NODES_ACK_HOLD_US or longer (all with `all`)
void
    nodes_acks_flush (broker_t *broker, bool all);

#endif
