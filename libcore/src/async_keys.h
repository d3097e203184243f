/*  =========================================================================
    async_keys - CURVE key files for the programs: load a secret or a
    public certificate as `asyncctl keygen` (zcert_save) writes them, and
    refuse a secret file that others may read. Each call that fails prints
    one line "PROG: what is wrong; what to do" to stderr and returns
    ASYNC_EUSAGE. (Private; not installed.)
    =========================================================================
*/
#ifndef ASYNC_KEYS_H_INCLUDED
#define ASYNC_KEYS_H_INCLUDED

#include <czmq.h>

//  The role a certificate's `role` metadata names; a certificate without
//  one is a client (least privilege)
#define ASYNC_ROLE_CLIENT   "client"
#define ASYNC_ROLE_NODE     "node"

//  Load the secret certificate at `path`, named on the command line by
//  `flag` ("--curve-key"). Refuses a file whose mode lets group or others
//  in (mode & 077), and a public certificate. 0 and *cert_p (caller
//  destroys it), or ASYNC_EUSAGE.
int
    async_keys_load_secret (const char *prog, const char *flag, const char *path,
                            zcert_t **cert_p);

//  Load the public certificate at `path` (a _secret file is taken too:
//  only its public key is used). 0 and *cert_p, or ASYNC_EUSAGE.
int
    async_keys_load_public (const char *prog, const char *flag, const char *path,
                            zcert_t **cert_p);

//  The certificate's role: ASYNC_ROLE_NODE or ASYNC_ROLE_CLIENT. An
//  unknown role reads as ASYNC_ROLE_CLIENT.
const char *
    async_keys_role (zcert_t *cert);

//  Both of a pair of settings or neither: prints "PROG: FLAG_A needs
//  FLAG_B" and returns ASYNC_EUSAGE when only one is set.
int
    async_keys_check_pair (const char *prog, const char *flag_a, const char *a,
                           const char *flag_b, const char *b, const char *hint);

//  One event from a socket monitor (zmq_socket_monitor): its number, a
//  ZMQ_EVENT_HANDSHAKE_* value, and *value its detail; 0 when unreadable.
int
    async_keys_handshake_event (zsock_t *monitor, uint32_t *value);

//  Why a failed handshake with the broker at `endpoint` failed, as one
//  line in buf: `event` from async_keys_handshake_event, `curve` whether
//  we have a key of our own.
void
    async_keys_refusal (int event, uint32_t value, bool curve, const char *endpoint,
                        char *buf, size_t size);

#endif
