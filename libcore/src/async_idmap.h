/*  =========================================================================
    async_idmap - a hash map from job ids to pointers

    The broker's tables of jobs (the job cache, the pending entries of
    dispatch, the waiters, a node's jobs), a node's unacknowledged results
    and the client's open ids are keyed by job ids and see a lookup per
    message. czmq's zhashx grows its bucket array whenever a
    lookup meets a chain longer than its limit, never shrinks it, and a
    lookup of a missing key walks a whole chain: a W5 run of a million
    submits once left two arrays of 200 and 134 MB behind. This map uses
    open addressing with linear probing: each slot holds its key (at most
    ASYNC_IDMAP_KEY_MAX bytes, copied in) and its value, so a lookup costs
    one or two cache lines and an insert no allocation. It doubles at half
    full and halves below an eighth full, so its memory follows its size.

    Values are never NULL (NULL marks an empty slot). Do not insert or
    delete while iterating with first/next.

    Private to asyncmesh; not installed.
    =========================================================================
*/
#ifndef ASYNC_IDMAP_H_INCLUDED
#define ASYNC_IDMAP_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The longest key: a canonical UUID
#define ASYNC_IDMAP_KEY_MAX 36

typedef struct _async_idmap_t async_idmap_t;

//  Called on a value as it leaves the map (delete, destroy)
typedef void (async_idmap_destructor_fn) (void **value_p);

//  A new empty map. Caller destroys it with async_idmap_destroy.
async_idmap_t *
    async_idmap_new (void);     //  NULL: out of memory (async_alloc.h)

//  Destroy the map, calling the destructor on each value; sets *self_p
//  to NULL.
void
    async_idmap_destroy (async_idmap_t **self_p);

//  The destructor for values that leave the map (default: none).
void
    async_idmap_set_destructor (async_idmap_t *self, async_idmap_destructor_fn *destructor);

//  The value of key, or NULL.
void *
    async_idmap_lookup (async_idmap_t *self, const char *key);

//  Insert key (copied) with value (not NULL). 0, or -1 if the key is
//  there already, longer than ASYNC_IDMAP_KEY_MAX, or the map could not
//  grow for want of memory (async_alloc.h); the map is then unchanged.
int
    async_idmap_insert (async_idmap_t *self, const char *key, void *value);

//  Remove key, calling the destructor on its value. Nothing if absent.
void
    async_idmap_delete (async_idmap_t *self, const char *key);

//  Number of keys.
size_t
    async_idmap_size (async_idmap_t *self);

//  Number of slots (for tests: memory follows the size).
size_t
    async_idmap_capacity (async_idmap_t *self);

//  Iterate: the first value, then the next, then NULL; in no order.
void *
    async_idmap_first (async_idmap_t *self);
void *
    async_idmap_next (async_idmap_t *self);

//  The key of the value that first/next returned last.
const char *
    async_idmap_cursor (async_idmap_t *self);

#ifdef __cplusplus
}
#endif
#endif
