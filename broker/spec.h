/*  =========================================================================
    spec - turn a submitted job spec (msgpack map, the JSON of
    `asyncctl submit --spec`) into job records, and retry policies
    =========================================================================
*/
#ifndef BROKER_SPEC_H_INCLUDED
#define BROKER_SPEC_H_INCLUDED

#include "async_job.h"
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

//  The largest a job's annotations may be (packed), at submit and after
//  ANNOTATE: every read and write of the job carries them all
#define SPEC_ANNOTATIONS_MAX (1 << 20)

//  Annotations whose names start with this are written by the broker
//  only (asyncmesh.retries): a request may not set them
#define SPEC_RESERVED_ANNOTATIONS "asyncmesh."

//  Whether an annotation name of `size` bytes is one of the broker's
bool
    spec_annotation_reserved (const char *name, size_t size);

//  Set annotation `name` of a job's annotations (a packed map, or empty)
//  to `value`. 0, or -1 with the reason in err when they would pass
//  SPEC_ANNOTATIONS_MAX (the annotations are unchanged then)
int
    spec_annotations_set (async_blob_t *annotations, const char *name,
                          const msgpack_object *value, char *err, size_t err_size);

//  Retry policy (docs/spec.md section 4)
typedef struct {
    int attempts;               //  attempts in all for transient failures
    int interruptions;          //  interruptions before AbortedError (-1: no end)
    int64_t backoff_min;        //  us
    int64_t backoff_max;        //  us
    double factor;              //  exponential factor; 0 = linear (+min per try)
    int64_t backoff_step;       //  us; > 0: linear, min + step per further try
} policy_t;

//  Parse a policy name or custom text. `callback`: the default for
//  callbacks is forever. 0, or -1 with a reason in err.
int
    policy_parse (const char *text, bool callback, policy_t *policy,
                  char *err, size_t err_size);

//  Backoff before attempt number `attempt` + 1 (us).
int64_t
    policy_backoff (const policy_t *policy, int attempt);

//  Whether `name` is a name of a queue or a quota: 1..ASYNC_MAX_NAME bytes of
//  letters, digits and _-.:
bool
    spec_name_valid (const char *name);

//  A callback's "on": 0 always (also when absent), 1 success, 2 failure,
//  -1 if it is none of these.
int
    spec_callback_on (const msgpack_object *on);

//  Parse spec into jobs: the root first, then its descendants. Children of
//  parallel/serial parents get role CHILD and the parent's queue unless
//  they name one. `now` is the broker's clock. Returns 0, or -1 with a
//  one-line reason in err (the jobs list is then empty).
int
    spec_parse (const msgpack_object *spec, int64_t now, zlistx_t *jobs,
                char *err, size_t err_size);

#endif
