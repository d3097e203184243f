/*  =========================================================================
    orphans - the jobs a restarted broker found on nodes: assigned or
    active when it stopped (their `a` key names a node), each waiting for
    its node to say HELLO holding it, until a deadline

    The object owns the set of ids and their deadlines, nothing else: the
    broker adds them as it recovers (recover.c), takes one out when its
    node says HELLO holding it (nodes.c), and interrupts those whose node
    did not come back in time (upkeep.c). One thread (the broker's) owns
    it.
    =========================================================================
*/
#ifndef BROKER_ORPHANS_H_INCLUDED
#define BROKER_ORPHANS_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _orphans_t orphans_t;

//  An empty set. Caller destroys it with orphans_destroy
orphans_t *orphans_new (void);

//  Destroy the set and set *self_p to NULL. Safe to call again
void orphans_destroy (orphans_t **self_p);

//  Job `id` (a 36-char id) waits for its node until `deadline`
//  (monotonic us). An id there already keeps its first deadline
void orphans_add (orphans_t *self, const char *id, int64_t deadline);

//  Job `id` is no longer an orphan (its node said HELLO holding it).
//  Nothing if it is not one
void orphans_remove (orphans_t *self, const char *id);

//  The broker's loop did not run for `credit` us (a pause): that time
//  does not count against the nodes coming back, every deadline moves by
//  it
void orphans_credit (orphans_t *self, int64_t credit);

//  The orphans past their deadline at `mono` (monotonic us), taken out of
//  the set: a list of their ids (strings), the caller's to destroy; empty
//  when none is
zlistx_t *orphans_expire (orphans_t *self, int64_t mono);

//  How many orphans there are
size_t orphans_size (orphans_t *self);

#endif
