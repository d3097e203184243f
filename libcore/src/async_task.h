/*  =========================================================================
    async_task - the task API's job (struct _async_task_t) and registry
    (struct _async_registry_t), shared by libasync, which implements
    asyncmesh/task.h, and asyncnode, which runs the tasks.

    The library does what needs only the job: reading its arguments,
    completing it. What needs the node (a request to the broker, progress,
    a cancel arriving in a forked child) goes through the job's `host`,
    which the node sets. Internal: not installed.
    =========================================================================
*/
#ifndef ASYNC_TASK_H_INCLUDED
#define ASYNC_TASK_H_INCLUDED

#include <asyncmesh/task.h>
#include <czmq.h>
#include <stdatomic.h>

//  The node's end of a forked child's socketpair (node/isolate.h)
typedef struct _node_chan_t node_chan_t;

//  What the task API asks of the program running the task
typedef struct {
    //  Send `command` with `body` (taken) to the broker for the task; wait
    //  up to timeout_ms. The reply's body, or NULL (no reply, refused).
    json_t *(*request) (async_task_t *task, const char *command, json_t *body,
                        int timeout_ms);
    //  Report progress: `done` of `total`
    void (*progress) (async_task_t *task, int64_t done, int64_t total);
    //  Take in a cancel that may have arrived (a forked child reads its
    //  channel); may be NULL
    void (*poll_cancel) (async_task_t *task);
} async_task_host_t;

struct _async_registry_t {
    zhashx_t *tasks;            //  name -> async_task_fn *
    char refused [512];         //  why the first refused registration was,
                                //  "" when none was (the node reports it)
};

struct _async_task_t {
    const async_task_host_t *host;  //  NULL: requests fail, progress is dropped
    char id [ASYNC_ID_LEN];
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
    char handoff [ASYNC_ID_LEN];
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
    uint64_t proof;             //  ASSIGN's, shown in HELLO `held`; 0: none
    //  Process isolation (node/isolate.h)
    bool isolated;              //  run in a forked child (its agent's isolation)
    node_chan_t *chan;          //  in that child: the way to its worker, which
                                //  replaces `pipe` for requests and progress
};

#endif
