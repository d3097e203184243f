/*  =========================================================================
    handoffs - the jobs whose run handed off to another job, by target:
    each waits, active, for its target's outcome (docs/spec.md, hand-off)

    The object owns the lists of ids in memory, nothing else: the w keys
    in the store are their durable copy, which the broker writes and
    deletes, and reads back after a restart (recover.c). When a target
    completes, the broker takes its list (handoffs_take) and completes the
    jobs on it with its outcome. One thread (the broker's) owns it.
    =========================================================================
*/
#ifndef BROKER_HANDOFFS_H_INCLUDED
#define BROKER_HANDOFFS_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

typedef struct _handoffs_t handoffs_t;

//  No hand-offs yet. Caller destroys the object with handoffs_destroy
handoffs_t *handoffs_new (void);

//  Destroy the object and its lists, and set *self_p to NULL. Safe to
//  call again
void handoffs_destroy (handoffs_t **self_p);

//  Job `waiting` handed off to job `target` (both ids, copied): last on
//  the target's list
void handoffs_add (handoffs_t *self, const char *target, const char *waiting);

//  The jobs that handed off to `target`, in the order they did, taken out
//  of the object: a list of ids (strings), the caller's to destroy; NULL
//  when none did (the usual case: one lookup)
zlistx_t *handoffs_take (handoffs_t *self, const char *target);

//  How many targets have jobs waiting for them
size_t handoffs_size (handoffs_t *self);

#endif
