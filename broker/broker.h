/*  =========================================================================
    broker - the one process that owns all job state

    One ROUTER socket serves nodes and clients. One thread runs the loop:
    drain the socket (up to a batch of messages), apply each message to
    the in-memory state and stage its writes, run timers, dispatch, then
    hand the staged writes, one RocksDB batch, to the store's writer
    thread (synced when anything in it was acknowledged: a submit, a
    result); when it is written, send the replies that promised
    durability. Requests that arrive while a batch is written are applied
    meanwhile and share the next one: group commit.
    =========================================================================
*/
#ifndef BROKER_BROKER_H_INCLUDED
#define BROKER_BROKER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *data_dir;       //  RocksDB directory
    const char *endpoint;       //  bind endpoint
    bool sync;                  //  sync the WAL before acknowledging
    bool salvage;               //  open a store with a damaged WAL anyway,
                                //  dropping what follows the damage
    int heartbeat_ms;           //  ping nodes this often
    int dead_ms;                //  a silent node is dead after this
    int64_t retention_us;       //  completed jobs kept this long
    int max_batch;              //  messages applied per commit
    int spin_us;                //  poll this long at most before sleeping
                                //  (async_spin.h); 0 = never
    uint64_t min_free;          //  refuse writes under this much free disk
    size_t window;              //  pending jobs per queue held in memory
    uint64_t sessions_memory;   //  bytes all node sessions may cost together
    size_t sessions_max;        //  node sessions at most
    const char *curve_secret;   //  CURVE: the broker's _secret key file, or NULL
    const char *curve_clients;  //  CURVE: directory of allowed public keys
    const char *http;           //  HTTP server ADDR:PORT, NULL = none
    const char *http_token;     //  bearer token the HTTP server requires, or NULL
} broker_config_t;

typedef struct _broker_t broker_t;

//  Defaults for a configuration.
void
    broker_config_defaults (broker_config_t *config);

//  Open the store, recover, bind. 0 or an error code (logged). The
//  configuration is copied, not the strings it points to: they must
//  outlive the broker.
int
    broker_new (const broker_config_t *config, broker_t **self_p);

void
    broker_destroy (broker_t **self_p);

//  Run until *stop becomes true (a signal handler sets it); reopen the log
//  file, and with CURVE read the allowed keys again, whenever *reopen
//  becomes true (SIGHUP). 0 or error.
int
    broker_run (broker_t *self, volatile int *stop, volatile int *reopen);

//  For tests only (the fuzzer, tests/fuzz/fuzz_broker.c): handle one
//  message from the peer with routing id `routing`, as if the loop had
//  drained it, then run what the loop runs after a drain (timers,
//  dispatch, a commit written on this thread, pushes, ACKs). Replies go
//  to the socket as usual. 0, or an error when the store failed.
int
    broker_feed (broker_t *self, const void *routing, size_t rsize, const void *data,
                 size_t size);

#endif
