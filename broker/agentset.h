/*  =========================================================================
    agentset - AGENT-SET: an operator changes a live node's agent

    The broker checks the request, relays it to the node's session as
    S:AGENT-SET with a `ref` of its own, and answers the client once the
    node's AGENT-APPLIED for that ref came: OK, or ERROR 6 with the node's
    reason. ERROR 3 when no answer came within AGENTSET_WAIT_US, ERROR 5
    when the node was dropped meanwhile (dead, stopped). One change per
    node at a time, at most AGENTSET_MAX in flight (docs/protocol.md).
    =========================================================================
*/
#ifndef BROKER_AGENTSET_H_INCLUDED
#define BROKER_AGENTSET_H_INCLUDED

#include "broker_impl.h"

#define AGENTSET_WAIT_US    (3 * 1000000LL)  //  well under a client's 5 s
#define AGENTSET_CHECK_US   100000           //  looked at this often, meanwhile
#define AGENTSET_MAX        64               //  changes in flight
#define AGENTSET_SIZE_MAX   10000            //  as asyncnode --agent's

//  AGENT-SET from a client at `routing`: relayed, or ERROR now.
void agentset_on_request (broker_t *self, zframe_t *routing, async_inmsg_t *in);

//  AGENT-APPLIED from the peer at `rkey`: the answer to its client.
void agentset_on_applied (broker_t *self, const char *rkey, async_inmsg_t *in);

//  The changes past their wait, or whose node is gone: answered (ERROR).
//  Cheap when there are none; called every loop turn, which waits at most
//  AGENTSET_CHECK_US while there are some.
void agentset_check (broker_t *self, int64_t mono);

//  Make broker_t's list of changes in flight (agent_sets); forget them
//  (the broker stops).
void agentset_start (broker_t *self);
void agentset_stop (broker_t *self);

#endif
