/*  =========================================================================
    node job - one attempt of a job on this node, and the task API's view
    of it (struct _async_task_t)
    =========================================================================
*/
#ifndef NODE_JOB_H_INCLUDED
#define NODE_JOB_H_INCLUDED

#include "isolate.h"
#include <asyncmesh/task.h>
#include <czmq.h>
#include <stdatomic.h>

typedef struct _registry_entry_t registry_entry_t;

struct _async_task_t {
    char id [37];
    uint64_t token;
    char *task;
    char *agent;
    int attempt;
    int64_t timeout_ms;
    json_t *args;
    json_t *kwargs;
    async_task_fn *fn;
    const char *cwd;            //  node's, borrowed
    const char *node;           //  node's uuid, borrowed
    atomic_int cancelled;
    //  Outcome, set by the completing call
    int outcome;                //  0 none, 1 result, 2 failure, 3 handoff
    json_t *result;
    char *failure_type;
    char *failure_message;
    char *failure_detail;
    bool failure_transient;
    char handoff [37];
    //  Requests to the broker go up to the node through `up`, each message
    //  headed by the worker's index and naming the job (node_up_progress,
    //  node_up_request); answers come back through `pipe`
    zsock_t *pipe;              //  the worker's end of its pair, while running
    zsock_t *up;                //  the worker's PUSH to the node, while running
    int worker;                 //  the worker's index
    uint64_t tags;              //  requests made, to match their answers
    //  The node's bookkeeping (node.c, pool.c)
    async_task_t *next;         //  in the pool's queue or finished list
    int64_t cost_us;            //  expected run time, while queued
    int64_t queued_us;          //  monotonic, when queued
    atomic_llong run_mono;      //  monotonic us its run began; 0: queued
    int64_t ran_us;             //  how long it ran
    void *running;              //  its handle in the node's running jobs
    bool started_sent;          //  STARTED went to the broker
    //  Process isolation (isolate.h)
    bool isolated;              //  run in a forked child (its agent's isolation)
    node_chan_t *chan;          //  in that child: the way to its worker, which
                                //  replaces `pipe` for requests and progress
};

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

//  Registry of task functions
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
