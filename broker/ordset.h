/*  =========================================================================
    ordset - an ordered set of short strings (job ids, queue names)

    A skip list: insert, delete and lookup in O(log n), and a seek to the
    first key after a given one in O(log n), from where a walk goes on key
    by key in O(1) each. A listing that resumes from a cursor costs its
    page plus one seek, whatever the size of the set (docs/protocol.md,
    Limits). Keys are compared with strcmp and copied in.
    =========================================================================
*/
#ifndef ORDSET_H_INCLUDED
#define ORDSET_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _ordset_t ordset_t;

//  Create an empty set. Never NULL (asserts on out of memory, like czmq).
ordset_t *
    ordset_new (void);

//  Destroy the set and set *self_p to NULL. Safe to call again.
void
    ordset_destroy (ordset_t **self_p);

//  The number of keys.
size_t
    ordset_size (ordset_t *self);

//  Whether `key` is in the set.
bool
    ordset_contains (ordset_t *self, const char *key);

//  Add a copy of `key`; false if it was there already. Ends a walk.
bool
    ordset_insert (ordset_t *self, const char *key);

//  Remove `key`; false if it was not there. Ends a walk.
bool
    ordset_delete (ordset_t *self, const char *key);

//  Start a walk at the first key greater than `key` (NULL: the first key
//  of the set) and return it, or NULL past the last key. The key returned
//  is borrowed: valid until the set changes.
const char *
    ordset_seek_after (ordset_t *self, const char *key);

//  The next key of the walk, or NULL past the last key (or with no walk).
const char *
    ordset_next (ordset_t *self);

#endif
