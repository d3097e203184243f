/*  =========================================================================
    agentset - AGENT-SET: an operator changes a live node's agent

    The broker checks the request, relays it to the node's session as
    S:AGENT-SET with a `ref` of its own, and answers the client once the
    node's AGENT-APPLIED for that ref came: OK, or ERROR 6 with the node's
    reason. ERROR 3 when no answer came within AGENTSET_WAIT_US, ERROR 5
    when the node was dropped meanwhile (dead, stopped). One change per
    node at a time, at most AGENTSET_MAX in flight (docs/protocol.md).

    The object part (agentset_new to agentset_next) owns the changes in
    flight and numbers them; it needs no broker. The handlers at the end
    take the whole broker (broker_impl.h): they check requests, send, and
    answer the clients.
    =========================================================================
*/
#ifndef BROKER_AGENTSET_H_INCLUDED
#define BROKER_AGENTSET_H_INCLUDED

#include "handler.h"
#include "broker.h"
#include "async_codec.h"
#include "asyncmesh/id.h"
#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#define AGENTSET_WAIT_US    (3 * 1000000LL)  //  well under a client's 5 s
#define AGENTSET_CHECK_US   100000           //  looked at this often, meanwhile
#define AGENTSET_MAX        64               //  changes in flight
#define AGENTSET_SIZE_MAX   10000            //  as asyncnode --agent's

//  A change relayed to a node, waiting for its AGENT-APPLIED
typedef struct {
    uint64_t ref;
    char uuid [ASYNC_ID_LEN];
    char *rkey;        //  the node's routing id, as hex
    zframe_t *client;  //  the client's routing id
    uint64_t rid;      //  the client's request
    int64_t deadline;  //  monotonic us
    void *handle;      //  its place in the object's list
} agentset_change_t;

typedef struct _agentset_t agentset_t;

//  No change in flight. Caller destroys the object with agentset_destroy
agentset_t *agentset_new (void);

//  Destroy the object and the changes in flight (not answered), and set
//  *self_p to NULL. Safe to call again
void agentset_destroy (agentset_t **self_p);

//  A change for node `uuid` (at routing id `rkey`, hex) from the client
//  at `routing` (copied), request `rid`, answered by `deadline` (monotonic
//  us), last in flight; its ref is the next one, from 1. The object owns it
agentset_change_t *agentset_add (agentset_t *self, const char *uuid, const char *rkey,
                                 zframe_t *routing, uint64_t rid, int64_t deadline);

//  Forget `change` (answered), and set *change_p to NULL
void agentset_remove (agentset_t *self, agentset_change_t **change_p);

//  The change in flight for node `uuid`, or NULL
agentset_change_t *agentset_for_node (agentset_t *self, const char *uuid);

//  The change `ref` relayed to the peer at `rkey`, or NULL (answered
//  already, or not that peer's)
agentset_change_t *agentset_find (agentset_t *self, uint64_t ref, const char *rkey);

//  How many changes are in flight
size_t agentset_size (agentset_t *self);

//  The first change in flight (the oldest), or NULL; with agentset_next,
//  walks them. After agentset_remove, start again from the first
agentset_change_t *agentset_first (agentset_t *self);

//  The next change, or NULL after the last
agentset_change_t *agentset_next (agentset_t *self);

//  ---------------------------------------------------------------------
//  The broker's handlers (they take the whole broker)

//  AGENT-SET from a client: relayed, or ERROR now.
void agentset_on_request (broker_t *self, broker_request_t *req);

//  AGENT-APPLIED from a node: the answer to its client.
void agentset_on_applied (broker_t *self, broker_request_t *req);

//  The changes past their wait, or whose node is gone: answered (ERROR).
//  Cheap when there are none; called every loop turn, which waits at most
//  AGENTSET_CHECK_US while there are some.
void agentset_check (broker_t *self, int64_t mono);

#endif
