/*  =========================================================================
    handler - a message from a peer, as the broker's loop hands it to the
    handler of its command

    The protocol's table (async_proto.h) says which commands a peer may
    send to the broker; the broker's command table (broker.c) gives each
    of them one function of this type, and no other command has one. The
    loop checks what every command needs first (the sender's rights, a
    node session, disk space), then calls the handler.
    =========================================================================
*/
#ifndef BROKER_HANDLER_H_INCLUDED
#define BROKER_HANDLER_H_INCLUDED

#include "broker.h"
#include "session.h"
#include "async_codec.h"
#include "async_proto.h"
#include <czmq.h>

typedef struct {
    zframe_t *routing;        //  the peer's routing id: replies go there
    char *rkey;               //  the same in hex: its node session's key
    async_inmsg_t *in;        //  the message, parsed
    session_t *session;       //  the peer's node session, or NULL
    async_command_t command;  //  which command it is
} broker_request_t;

typedef void (broker_handler_fn) (broker_t *self, broker_request_t *req);

//  The handler of `command`, or NULL when the broker takes no such
//  command (it sends it, or there is none).
broker_handler_fn *broker_handler (async_command_t command);

#endif
