/*  =========================================================================
    node job - one attempt of a job on this node, and the task API's view
    of it (struct _async_task_t)
    =========================================================================
*/
#ifndef NODE_JOB_H_INCLUDED
#define NODE_JOB_H_INCLUDED

#include "isolate.h"
#include "async_task.h"         //  struct _async_task_t, in libcore
#include <asyncmesh/task.h>
#include <czmq.h>

async_task_t *
    node_job_new (void);
void
    node_job_destroy (async_task_t **self_p);

//  Progress and requests of a running job, to the node's loop. `done` and
//  `total` are decimal; `text` is the request's body as JSON.
void
    node_up_progress (async_task_t *self, const char *done, const char *total);
void
    node_up_request (async_task_t *self, const char *command, const char *text,
                     const char *tag);
//  Whether an answer that came down `pipe` with `token` is this job's
bool
    node_answer_is_for (async_task_t *self, const char *token);

//  Registry of task functions (async_registry_add is in libasync)
async_registry_t *
    registry_new (void);
void
    registry_destroy (async_registry_t **self_p);
async_task_fn *
    registry_lookup (async_registry_t *self, const char *name);
//  Names as a NULL-terminated array (borrowed strings; free the array)
const char **
    registry_names (async_registry_t *self);
//  Load a module: dlopen + its init. 0 or -1 (reason logged, in err).
int
    registry_load (async_registry_t *self, const char *path, char *err, size_t err_size);

#endif
