/*  =========================================================================
    keys - every key of the broker's store: how each is made and read back,
    and the store's version (docs/storage.md, "Keys")

    A key is one tag byte, then its fields; ids are the 36 bytes of a
    canonical UUID, times (µs since the epoch) and counters 8 bytes
    big-endian (be64), so that keys sort as their fields do
    (docs/storage.md section 2 has every key with its writers):

        mversion                        layout version: KEYS_STORE_VERSION
        mepoch                          broker starts, be64 (fencing tokens)
        msecret                         16 random bytes: the tokens' hash key
        mseq                            last pending sequence number, be64
        j<id>                           job record (async_job_encode)
        a<id>                           on a node: its uuid, the token (be64)
                                        and the agent name; or "" for a
                                        running parent, a job running its
                                        callbacks, a hand-off waiter
        x<id>                           a running parent's children done, be64
        p<queue>\0<prio><seq>           pending, dispatchable: value =
                                        id \0 task [\0 quotas "a,b"], prio =
                                        ~((uint64) priority ^ 1 << 63)
        n<queue>                        the queue's pending count, be64
        s<when><id>                     scheduled (begin_after or backoff)
        d<when><id>                     begin_by deadline of a pending job
        c<completed_at><id>             completed, by time
        f<completed_at><id>             completed with a failure, by time
                                        (a subset of the c keys)
        k<key>                          idempotency key: value = id
        w<target><id>                   id waits for target (hand-off)
        q<name>                         quota: value = size, be64
        u<uuid>                         a node with a session, waited for
                                        after a restart
        b<uuid>                         the hash of the key the node's uuid
                                        is bound to (KEYS_BINDING_HASH bytes)
        e<name>                         recurring schedule (every.h)
        z<queue>                        a paused queue: value empty
        h<minute><queue>                jobs completed in that minute:
                                        succeeded, failed (be64 each)
    =========================================================================
*/
#ifndef BROKER_KEYS_H_INCLUDED
#define BROKER_KEYS_H_INCLUDED

#include "async_codec.h"
#include "store.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The layout's version, in the meta key KEYS_META_VERSION
#define KEYS_STORE_VERSION "3"

//  Tags: a key's first byte
#define KEYS_JOB        'j'
#define KEYS_LIVE       'a'
#define KEYS_DONE       'x'
#define KEYS_PENDING    'p'
#define KEYS_COUNT      'n'
#define KEYS_SCHEDULED  's'
#define KEYS_DEADLINE   'd'
#define KEYS_COMPLETED  'c'
#define KEYS_FAILED     'f'
#define KEYS_IDEMPOTENT 'k'
#define KEYS_HANDOFF    'w'
#define KEYS_QUOTA      'q'
#define KEYS_NODE       'u'
#define KEYS_EVERY      'e'
#define KEYS_BINDING    'b'
#define KEYS_PAUSED     'z'
#define KEYS_HISTORY    'h'

//  A tag as the prefix of store_iter_new (one byte)
#define KEYS_PREFIX(tag) ((const char []) { (tag) })

//  Meta keys, with their lengths
#define KEYS_META_VERSION   "mversion", 8
#define KEYS_META_EPOCH     "mepoch", 6
#define KEYS_META_SEQ       "mseq", 4
#define KEYS_META_SECRET    "msecret", 7

//  The longest key: a tag, a name of ASYNC_MAX_NAME bytes and 17 more
#define KEYS_MAX (ASYNC_MAX_NAME + 24)

//  Sizes of the fixed-size keys
#define KEYS_ID_SIZE        37          //  <tag><id>
#define KEYS_TIME_SIZE      45          //  <tag><when><id>
#define KEYS_HANDOFF_SIZE   73          //  w<target><id>

//  <tag><id> (j, a, x, u, b). Returns the key's size
size_t
    keys_id (char *buf, char tag, const char *id);

//  A <tag><id> key's id (37 bytes); false if it is not one
bool
    keys_id_parse (const char *key, size_t size, char *id);

//  b<uuid>: the key of a node uuid's binding. Returns the key's size
size_t
    keys_binding (char *buf, const char *uuid);

//  The value of a b key: the hash of the uuid's key, KEYS_BINDING_HASH
//  bytes, copied into hash; false if the value is not one
#define KEYS_BINDING_HASH 32
bool
    keys_binding_parse (const char *value, size_t size, uint8_t *hash);

//  <tag><when><id> (s, d, c, f)
size_t
    keys_time (char *buf, char tag, int64_t when, const char *id);

//  A <tag><when><id> key's time and id (37 bytes); false if it is not one
bool
    keys_time_parse (const char *key, size_t size, int64_t *when, char *id);

//  <tag><name> (k, q, e, n, z) of a name of at most ASYNC_MAX_NAME bytes (a
//  longer one is cut). Returns the key's size
size_t
    keys_name (char *buf, char tag, const char *name);

//  p<queue>\0<prio><seq>: a pending job's place in its queue
size_t
    keys_place (char *buf, const char *queue, int64_t priority, uint64_t seq);

//  A p key and its value (id \0 task [\0 quotas]), taken apart
typedef struct {
    char queue [ASYNC_MAX_NAME + 1];
    char id [ASYNC_ID_LEN];
    char task [ASYNC_MAX_NAME + 1];
    char quotas [4096];
    int64_t priority;
    uint64_t seq;
} keys_place_t;

//  False if the key and value are not a p key's
bool
    keys_place_parse (const char *key, size_t ksize, const char *value, size_t vsize,
                      keys_place_t *place);

//  The p key and value at the iterator, taken apart; false if it is not one
bool
    keys_place_at (store_iter_t *iter, keys_place_t *place);

//  An iterator over a queue's stored pending jobs (its p keys) placed after
//  (priority, seq); `prefix` (KEYS_MAX bytes) gets the queue's key prefix
//  and *prefix_size its size. Caller destroys the iterator
store_iter_t *
    keys_place_iter (store_t *store, const char *queue, int64_t priority, uint64_t seq,
                     char *prefix, size_t *prefix_size);

//  w<target><waiting>
size_t
    keys_handoff (char *buf, const char *target, const char *waiting);

//  A w key's target and waiting job (37 bytes each); false if not one
bool
    keys_handoff_parse (const char *key, size_t size, char *target, char *waiting);

#endif
