/*  =========================================================================
    isolate - process isolation: run one job in a child process

    An agent with `isolation = process` runs each job in a child process of
    its own, so that a task that crashes fails only its own job
    (CrashedError) and never takes the node down.

    The children are not forked from the worker threads: a fork copies
    only the forking thread, and any lock another thread held at that
    moment (the allocator's under ASan, stdio's, the log's, a module's)
    stays locked for ever in the child. Instead, when the node starts and
    before it has any thread, it forks a small helper, the zygote, which
    stays single-threaded and forks one child per job on request:

        worker thread --(fds of the job, SCM_RIGHTS)--> zygote --fork--> child

    Each job has two socketpairs, made by its worker thread:
    - the job's pair (stream), between the worker and the child, carrying
      records: length (4 bytes, host order), type (1 byte), payload:
        worker -> child:
            'J' job         the job as JSON: {"id", "task", "attempt", "agent",
                            "timeout_ms", "args", "kwargs", "cwd", "node"};
                            always the first record
            'A' answer      tag NUL status NUL answer     (OK or ERROR; JSON)
            'C' cancel      (empty): the job's cancellation was requested
        child -> worker:
            'R' result      the value as JSON text
            'F' failure     {"type", "message", "detail", "transient"} as JSON
            'H' handoff     the job id
            'P' progress    done NUL total                (decimal)
            'Q' request     tag NUL command NUL body      (SUBMIT, ANNOTATE,
                                                           GET; body JSON)
            'T' trace       the crashing thread's backtrace, sent by the
                            child's crash handler (backtrace.h)
      A request's tag comes back with its answer, so that an answer to a
      request that timed out is never taken for the answer to a later one.
    - the status pair (seqpacket), between the worker and the zygote:
        zygote -> worker: 'P' pid (forked), 'E' errno (cannot fork),
                          'X' wait status (the child ended; reaped)
        worker -> zygote: 'K' kill the child (and its process group)

    The child sends exactly one outcome record (R, F or H) and exits. The
    zygote reaps each child with waitpid on its pid and reports the status;
    a child that died on a signal, or exited without an outcome, makes a
    CrashedError. A child that does not stop within NODE_CANCEL_GRACE_MS of
    a cancellation (or of the node's graceful stop) is SIGKILLed.

    (private to asyncnode)
    =========================================================================
*/
#ifndef NODE_ISOLATE_H_INCLUDED
#define NODE_ISOLATE_H_INCLUDED

#include <asyncmesh/task.h>
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

//  The fork server; the node holds one when any agent isolates processes
typedef struct _node_zygote_t node_zygote_t;

//  One end of the job's socketpair, with what was read but not yet taken
//  as whole records, and what is waiting to be written.
typedef struct _node_chan_t {
    int fd;
    char *in;                   //  bytes read, not yet taken
    size_t in_used, in_size;
    char *out;                  //  bytes to write
    size_t out_used, out_size;
    bool eof;                   //  the other end closed, or an error
    bool broken;                //  a malformed record came
} node_chan_t;

//  The longest record either side accepts
#define NODE_CHAN_MAX           (64 * 1024 * 1024)

//  A crash's 'T' record (its frames and the child's /proc/self/maps) is at
//  most this big; a bigger one is malformed
#define NODE_TRACE_MAX          (1024 * 1024)

//  A crash's detail (its signal and backtrace) takes this many bytes at most
#define NODE_DETAIL_MAX         6144

//  A cancelled child gets this long to stop before it is SIGKILLed
#define NODE_CANCEL_GRACE_MS    1500

//  Fork the zygote. Call while the process has a single thread: before
//  any ZeroMQ socket or worker thread exists, after the modules are
//  loaded (the zygote, and each child, has the registry as it is then).
//  0, or -1 with the reason in err.
int
    node_zygote_start (async_registry_t *registry, node_zygote_t **self_p,
                       char *err, size_t err_size);

//  Stop the zygote (it SIGKILLs the children it still has) and reap it.
//  Safe to call again; *self_p is NULL after.
void
    node_zygote_destroy (node_zygote_t **self_p);

//  Run `job` in a child of the zygote, from its worker thread; `pipe` is
//  the worker's PAIR socket to the node (requests and progress are
//  relayed through it). Returns once the child has ended, with the job's
//  outcome set: the task's, or a CrashedError, CancelledError (killed
//  after the grace), or a transient OSError (no child could be made).
void
    node_isolate_run (async_task_t *job, zsock_t *pipe, node_zygote_t *zygote);

//  The child's side, used by the task API (task.c) when job->chan is set.
//  Queue a record and write it out whole (blocking). 0, or -1 when the
//  worker is gone.
int
    node_chan_send (node_chan_t *self, char type, const char *data, size_t size);

//  Read what has arrived, waiting up to timeout_ms (0: do not wait, -1:
//  until something comes). 0, or -1 at end of file or on error.
int
    node_chan_read (node_chan_t *self, int timeout_ms);

//  Take the next whole record: its type, and its payload (malloc'd, NUL
//  added, the caller frees) and size. False when no whole record is there.
bool
    node_chan_next (node_chan_t *self, char *type, char **payload, size_t *size);

#endif
