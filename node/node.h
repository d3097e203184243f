/*  =========================================================================
    node - an asyncnode process: one DEALER session with the broker, its
    agents, and a pool of worker threads that run tasks
    =========================================================================
*/
#ifndef NODE_NODE_H_INCLUDED
#define NODE_NODE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <asyncmesh/task.h>
#include <czmq.h>
#include "isolate.h"

#define NODE_MAX_AGENTS 64
//  The uuid's key: hex digits of 32 random bytes (HELLO uuid_key)
#define NODE_KEY_HEX    64

//  How an agent runs its jobs (docs/spec.md section 3)
typedef enum {
    NODE_ISOLATION_THREAD = 0,  //  on a worker thread of the node (default)
    NODE_ISOLATION_PROCESS      //  each in a child forked for it (isolate.h)
} node_isolation_t;

typedef struct {
    char *name;
    int size;
    char **queues;              //  NULL-terminated; NULL = default
    char **include;             //  NULL-terminated globs
    char **exclude;
    node_isolation_t isolation;
} node_agent_t;

typedef struct {
    const char *broker;
    const char *uuid_file;      //  where the uuid came from, for messages
    const char *uuid_key;       //  its key, NODE_KEY_HEX hex digits (HELLO
                                //  uuid_key; node_uuid_load)
    const char *lock;           //  the uuid lock file as "dev:inode" (HELLO
                                //  lock), or NULL (node_uuid_lock)
    int heartbeat_ms;
    int dead_ms;
    int drain_ms;               //  on the first stop, let running jobs end
                                //  this long; 0: interrupt them at once
    node_agent_t agents [NODE_MAX_AGENTS];
    int nagents;
    node_zygote_t *zygote;      //  forks the process-isolated jobs; NULL when
                                //  no agent isolates them (borrowed)
    zcert_t *curve_key;         //  CURVE: our key pair, or NULL (borrowed)
    const char *broker_public_key;  //  CURVE: the broker's public key, Z85
} node_config_t;

typedef struct _node_t node_t;

//  Parse "--agent NAME:SIZE[:FILTER][@QUEUE,...]" into agent. 0 or -1.
int
    node_agent_parse (const char *text, node_agent_t *agent, char *err, size_t err_size);

//  Parse "thread" or "process". 0, or -1 if it is neither.
int
    node_isolation_parse (const char *text, node_isolation_t *isolation);

//  "thread" or "process"
const char *
    node_isolation_name (node_isolation_t isolation);

//  Free what node_agent_parse allocated.
void
    node_agent_free (node_agent_t *agent);

//  A deep copy of `from` into `to` (free it with node_agent_free).
void
    node_agent_copy (const node_agent_t *from, node_agent_t *to);

//  Read or create the node's instance UUID and its key (docs/spec.md
//  section 3): the file's first line is the uuid, a line "key=HEX" the key
//  (NODE_KEY_HEX hex digits into `key`, which holds NODE_KEY_HEX + 1
//  bytes; "" when the file has none: node_uuid_key_add). A new file is
//  written as a temp file of a unique name (mode 0600), fsync, then linked
//  to path: when another process made path first, its uuid and key are
//  read and used. A file with a key that others may read is made 0600.
//  0 or -1 with the reason in err.
int
    node_uuid_load (const char *path, char *uuid, char *key, char *err, size_t err_size);

//  Add a key to the uuid file of an older node, which has none; called
//  while holding the uuid's lock (node_uuid_lock), so that two processes
//  started at once with that file do not each write a key of their own.
//  The file is read again first: a key found there is taken. 0 with the
//  key, or -1 with the reason in err.
int
    node_uuid_key_add (const char *path, const char *uuid, char *key, char *err,
                       size_t err_size);

//  Take the host-wide lock of uuid: an exclusive flock on
//  /dev/shm/asyncnode-UUID.lock (in /tmp when /dev/shm is not writable),
//  held until the process ends. The file is this user's, mode 0600; one
//  that is not (another user's, a symlink, 0644 from older versions and
//  held by another user or by nobody) is removed and made again. Sets
//  *fd_p and writes the lock file's "dev:inode" to lock. 0;
//  ASYNC_EREFUSED when another process of ours holds it (this node runs
//  already, or another one from a copy of uuid_file); ASYNC_EUSAGE when the
//  file cannot be made, or is another user's and cannot be removed. The
//  reason goes to err, naming the holder and uuid_file.
int
    node_uuid_lock (const char *uuid, const char *uuid_file, int *fd_p,
                    char *lock, size_t lock_size, char *err, size_t err_size);

int
    node_new (const node_config_t *config, async_registry_t *registry, const char *uuid,
              node_t **self_p);
void
    node_destroy (node_t **self_p);
//  Run until *stop. 0 after a clean stop; ASYNC_EREFUSED when the broker
//  refused this node's HELLO for good (another live node has its uuid, its
//  uuid is bound to another key, or the HELLO is over the broker's limits)
int
    node_run (node_t *self, volatile int *stop, volatile int *reopen);

//  Called by node_run when *reopen is set (SIGHUP), after the log file is
//  reopened: asyncnode re-reads its config file's agents there.
typedef void (node_reload_fn) (node_t *node, void *arg);
void
    node_set_reload (node_t *self, node_reload_fn *fn, void *arg);

//  Called for the broker's AGENT-SET (asyncctl agent set): agent `name`
//  gets `size` slots and, when `filter` is not NULL, that filter (as
//  --agent's FILTER); with `save`, the node's config file says so too. It
//  changes the agents with node_set_agents. 0; 1 when the change is made
//  but not saved, with the reason in err; or -1 with the reason in err.
//  A node without one refuses AGENT-SET.
typedef int (node_agent_set_fn) (node_t *node, void *arg, const char *name, int size,
                                 const char *filter, bool save, char *err,
                                 size_t err_size);
void
    node_set_agent_setter (node_t *self, node_agent_set_fn *fn, void *arg);

//  Change the node's agents while it runs: the node says HELLO again, in a
//  new session, with these agents and its running jobs held (as when its
//  drain begins). The agents stay the caller's (it frees them after the
//  node is destroyed or the agents are changed again; the node reads them
//  until then). -1 with the reason in err, the agents unchanged, when
//  their sizes add up to more slots than the worker threads the node
//  started with, when an agent isolates its jobs in processes and the node
//  started without any such agent, or while the node stops.
int
    node_set_agents (node_t *self, const node_agent_t *agents, int nagents,
                     char *err, size_t err_size);

#endif
