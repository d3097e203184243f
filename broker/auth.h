/*  =========================================================================
    auth - CurveZMQ for the broker (docs/spec.md section 8)

    Owns the ZAP handler (czmq's zauth actor), which lets in only the keys
    whose public certificates are in the --curve-clients directory, and
    its own map of those keys to their role (certificate metadata `role`:
    `node` or `client`; none is `client`). The broker asks it about every
    message: a key removed from the directory (and SIGHUP) is refused on
    connections that are already up, and only a `node` key may act as a
    node.
    =========================================================================
*/
#ifndef BROKER_AUTH_H_INCLUDED
#define BROKER_AUTH_H_INCLUDED

#include <czmq.h>

typedef struct _broker_auth_t broker_auth_t;

//  What broker_auth_check says about a message
typedef enum {
    BROKER_AUTH_OK = 0,
    BROKER_AUTH_REVOKED,        //  its key is not (or no longer) allowed
    BROKER_AUTH_NOT_NODE,       //  a node command from a client key
    BROKER_AUTH_NOT_CLIENT      //  an operator's command from a node key
} broker_auth_verdict_t;

//  Start the ZAP handler for the public certificates in clients_dir, and
//  load the broker's key pair from secret_file. 0 or ASYNC_EIO (logged).
int
    broker_auth_new (const char *secret_file, const char *clients_dir,
                     broker_auth_t **self_p);

//  Stop the ZAP handler and set *self_p to NULL.
void
    broker_auth_destroy (broker_auth_t **self_p);

//  How many keys are allowed in.
size_t
    broker_auth_keys (broker_auth_t *self);

//  Make `socket` a CURVE server with the broker's key pair, asking this
//  ZAP handler (domain "asyncmesh"). Call before bind.
void
    broker_auth_apply (broker_auth_t *self, zsock_t *socket);

//  Read the directory again (SIGHUP): the ZAP handler and the map. Logs
//  auth.reloaded with the number of keys.
void
    broker_auth_reload (broker_auth_t *self);

//  May the peer that sent `body` (a frame received on the CURVE socket)
//  send `command`? BROKER_AUTH_OK, or why not, with a one-line reason
//  for the peer in `why`.
broker_auth_verdict_t
    broker_auth_check (broker_auth_t *self, zframe_t *body, const char *command,
                       char *why, size_t why_size);

//  The name of the key that sent `body`: the file name of its public
//  certificate in the --curve-clients directory (borrowed, valid until a
//  reload), or NULL when the key is not allowed.
const char *
    broker_auth_name (broker_auth_t *self, zframe_t *body);

//  Whether `command` is one only a node sends (HELLO, STARTED, RESULT,
//  PROGRESS, BYE).
bool
    broker_auth_node_command (const char *command);

#endif
