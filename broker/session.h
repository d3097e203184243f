/*  =========================================================================
    session - a node's session with the broker: what its HELLO said, its
    agents (dispatch's), the jobs it holds, the ACKs and ASSIGNs waiting
    for it; and the checks a HELLO must pass (docs/protocol.md sections 6,
    7 and 9)

    The broker owns the sessions (by routing id and by uuid) and changes
    their fields as messages come; this module makes, checks, describes and
    destroys them.
    =========================================================================
*/
#ifndef BROKER_SESSION_H_INCLUDED
#define BROKER_SESSION_H_INCLUDED

#include "dispatch.h"
#include "async_idmap.h"
#include "async_msgs.h"
#include <czmq.h>
#include <msgpack.h>

//  HELLO budgets (docs/protocol.md section 9): a HELLO over any of them is
//  refused with ERROR 6 before the broker allocates anything for it, so a
//  session costs memory in proportion to what was accepted
#define SESSION_AGENTS      64      //  agents per node
#define SESSION_TASKS       10000   //  task names per node (one copy per node)
#define SESSION_LIST        64      //  queues, include and exclude per agent
#define SESSION_HOST        255     //  bytes of `host`
#define SESSION_SIZE        100000  //  slots per agent
#define SESSION_PER_ADDRESS 1024    //  node sessions per peer address
#define SESSION_HELD        10000   //  held entries read (the rest are ignored)
#define SESSION_TEXT_MAX    1024    //  bytes of an agent's filter or queues in NODES
#define SESSION_KEY_HEX     64      //  HELLO uuid_key: hex digits of 32 bytes
#define SESSION_KEY_HASH    32      //  bytes of its hash (BLAKE2b-256), as stored

//  Broker-wide budgets (docs/protocol.md section 9), the defaults of
//  --sessions-memory and --sessions-max: the bytes all node sessions cost
//  together (session_hello_cost), and how many there may be
#define SESSION_MEMORY_DEFAULT  (256 * 1024 * 1024)
#define SESSION_MAX_DEFAULT     10000

//  The life of a session at the broker. It is made LIVE by a HELLO the
//  broker welcomes (there is no session before: a peer saying HELLO has
//  none until then); silent past --dead-after it is DYING, queued to be
//  dropped a few a loop turn (one heard again meanwhile is LIVE again);
//  dropped, it is DEAD: gone from the sessions, packed once as NODES lists
//  a dead node. Superseded, stopped (BYE) or revoked, it is dropped at once
typedef enum {
    SESSION_LIVE,
    SESSION_DYING,
    SESSION_DEAD
} session_state_t;

typedef struct {
    char *rkey;                 //  routing id as hex
    zframe_t *routing;
    char uuid [ASYNC_ID_LEN];
    char session [ASYNC_ID_LEN];          //  per-process nonce sent by the node
    char *address;
    char *host;
    int64_t pid;
    char *boot;                 //  the node's machine boot id (HELLO boot)
    char *lock;                 //  its uuid lock file, "dev:inode" (HELLO lock)
    uint8_t key_hash [SESSION_KEY_HASH];  //  of the uuid's key it proved (HELLO uuid_key)
    int64_t last_seen;          //  monotonic us
    int64_t last_seen_wall;
    zlistx_t *agents;           //  dispatch_agent_t *, not owned
    async_idmap_t *jobs;        //  job id -> dispatch_agent_t * (assigned or active here)
    bool batch;                 //  the node takes ASSIGN with `jobs` (HELLO batch)
    bool ack_ride;              //  ... and `acks` in ASSIGN (HELLO acks)
    msgpack_sbuffer acks;       //  ACK entries held for it
    uint32_t nacks;
    int64_t acks_since;         //  monotonic us, of the oldest held
    msgpack_sbuffer assigns;    //  this dispatch's ASSIGN bodies for it, packed
    uint32_t nassigns;
    session_state_t state;
    size_t cost;                //  bytes its HELLO costs (session_hello_cost)
} session_t;

//  Whether a HELLO (read field by field: async_hello_decode_each, `bad`
//  its flags; its `agents` an array of 1..SESSION_AGENTS) keeps within the
//  budgets. 0, or -1 with a one-line reason in why
int
    session_hello_check (const async_hello_t *hello, const async_hello_bad_t *bad,
                         char *why, size_t why_size);

//  The hash of a HELLO's `uuid_key` (SESSION_KEY_HEX hex digits: the key
//  the node keeps beside its uuid) into `hash` (SESSION_KEY_HASH bytes,
//  BLAKE2b-256 of the key's bytes). 0, or -1 when the HELLO has none or it
//  is not that many hex digits
int
    session_key_hash (const async_hello_t *hello, uint8_t *hash);

//  Whether `hash` (SESSION_KEY_HASH bytes) is the hash of the key the
//  session proved; in constant time
bool
    session_key_is (session_t *self, const uint8_t *hash);
//  The bytes of memory a session for this HELLO (checked by
//  session_hello_check) costs the broker: the session, its agents with
//  their queues, globs, texts and verdict tables, and its task names. An
//  estimate from the HELLO itself, before anything is allocated for it,
//  with malloc's overhead per block; the broker sums it over its sessions
//  to keep them within --sessions-memory
size_t
    session_hello_cost (const async_hello_t *hello);

//  The session of a valid HELLO (its uuid and `session` nonce given) from
//  `address`, heard now, with an agent in `dispatch` for each of its
//  agents. Caller destroys it with session_destroy
session_t *
    session_new (dispatch_t *dispatch, const char *rkey, zframe_t *routing,
                 const char *uuid, const char *nonce, const char *address,
                 const async_hello_t *hello);

//  Destroy the session (its agents must have left dispatch already)
void
    session_destroy (session_t **self_p);

//  The session's agent of that name, else its first (NULL: none)
dispatch_agent_t *
    session_agent (session_t *self, const char *name);

//  Whether the session, alive, keeps its uuid against a HELLO for it from
//  another process, a HELLO that proved the uuid's key (session_key_is):
//  `boot` and `lock` are read by any local user, so they are trusted only
//  from a peer that holds the key. A node holds a host-wide lock for its
//  uuid: a HELLO from the same machine (boot id and host) naming the same
//  lock file ("dev:inode") proves that the old process is gone, so it
//  supersedes at once. Else the session keeps the uuid while it was heard
//  within two heartbeats (`heartbeat_us`) of `mono`; one silent longer is
//  superseded
bool
    session_keeps_uuid (session_t *self, const async_hello_t *hello, int64_t heartbeat_us,
                        int64_t mono);

//  The session as NODES lists it: {uuid, address, host, pid,
//  last_heartbeat, dead, running, agents}; an agent's filter and queues
//  texts are cut at SESSION_TEXT_MAX bytes, ending "..."; its `pending`
//  is dispatch_agent_pending (call dispatch_count_pending first), 0 for
//  a dead session
void
    session_pack (session_t *self, msgpack_packer *pk);

#endif
