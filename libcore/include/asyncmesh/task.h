/*  =========================================================================
    asyncmesh/task.h - the API a task module uses inside asyncnode

    A module is a shared object loaded with `asyncnode --module PATH`,
    linked against libasync like any program that uses it:

        cc -shared -fPIC -o demo.so demo.c $(pkg-config --cflags --libs asyncmesh)

    It exports one function, ASYNC_MODULE_INIT, that registers its tasks:

        static int
        s_double (async_task_t *task)
        {
            json_int_t n;
            if (async_task_arg_int (task, 0, &n))
                return async_task_fail (task, "BadArgumentsError",
                                        "double(n): n must be an integer");
            return async_task_return (task, json_integer (2 * n));
        }

        ASYNC_MODULE_INIT (registry)
        {
            async_registry_add (registry, "demo.double", s_double);
            return 0;
        }

    Values are jansson json_t trees. msgpack values map to them one to one,
    except bin, which appears as {"$bin": "<base64>"}.

    A task function runs on a worker thread (or in a forked child, for
    agents with isolation = process). It must complete the task exactly
    once: with async_task_return, async_task_fail or async_task_handoff.
    A task that returns without completing gets a failure. Its return value
    is that of the completing call.
    =========================================================================
*/
#ifndef ASYNCMESH_TASK_H_INCLUDED
#define ASYNCMESH_TASK_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "export.h"
#include "id.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _async_task_t async_task_t;
typedef struct _async_registry_t async_registry_t;
typedef int (async_task_fn) (async_task_t *task);

//  The version of the task API: of this header, and of the node that loads
//  a module. It changes when a module built against an older task.h could
//  no longer run (a struct, a signature or a meaning changed).
//  ASYNC_MODULE_INIT stores it in the module as `async_module_abi`; the
//  node refuses a module whose number differs from its own, or that has
//  none, with a one-line error (and exits 2).
#define ASYNC_TASK_ABI_VERSION 1

#define ASYNC_MODULE_INIT_SYMBOL "async_module_init"
#define ASYNC_MODULE_ABI_SYMBOL "async_module_abi"
#define ASYNC_MODULE_INIT(reg) \
    ASYNC_EXPORT extern const int async_module_abi; \
    ASYNC_EXPORT const int async_module_abi = ASYNC_TASK_ABI_VERSION; \
    ASYNC_EXPORT int async_module_init (async_registry_t *reg); \
    int async_module_init (async_registry_t *reg)

//  Register a task under `name` ("module.function"). 0, or -1 if the name
//  is already taken or malformed; the node then refuses to start, naming
//  the task and the rule it broke (even if the module's init returns 0).
ASYNC_EXPORT int
    async_registry_add (async_registry_t *self, const char *name, async_task_fn *fn);

//  ---------------------------------------------------------------------
//  Reading the job

//  The job's id (36-char UUID) and task name.
ASYNC_EXPORT const char *
    async_task_id (async_task_t *self);
ASYNC_EXPORT const char *
    async_task_name (async_task_t *self);

//  The attempt number (1 for the first start).
ASYNC_EXPORT int
    async_task_attempt (async_task_t *self);

//  The node's working directory (relative paths in tasks resolve here).
ASYNC_EXPORT const char *
    async_task_cwd (async_task_t *self);

//  The node's instance UUID.
ASYNC_EXPORT const char *
    async_task_node (async_task_t *self);

//  Positional arguments (a JSON array, borrowed) and keyword arguments
//  (a JSON object, borrowed). Never NULL.
ASYNC_EXPORT json_t *
    async_task_args (async_task_t *self);
ASYNC_EXPORT json_t *
    async_task_kwargs (async_task_t *self);

//  Number of positional arguments.
ASYNC_EXPORT size_t
    async_task_argc (async_task_t *self);

//  Positional argument `index`, or NULL when there are fewer.
ASYNC_EXPORT json_t *
    async_task_arg (async_task_t *self, size_t index);

//  Keyword argument `name`, or NULL.
ASYNC_EXPORT json_t *
    async_task_kwarg (async_task_t *self, const char *name);

//  Typed access: 0 on success, -1 when missing or of the wrong type.
//  A float accepts an integer. A string is borrowed.
ASYNC_EXPORT int
    async_task_arg_int (async_task_t *self, size_t index, json_int_t *value);
ASYNC_EXPORT int
    async_task_arg_double (async_task_t *self, size_t index, double *value);
ASYNC_EXPORT int
    async_task_arg_str (async_task_t *self, size_t index, const char **value);
ASYNC_EXPORT int
    async_task_kwarg_int (async_task_t *self, const char *name, json_int_t *value);
ASYNC_EXPORT int
    async_task_kwarg_double (async_task_t *self, const char *name, double *value);
ASYNC_EXPORT int
    async_task_kwarg_bool (async_task_t *self, const char *name, bool *value);

//  ---------------------------------------------------------------------
//  Completing

//  Complete with a result. Takes ownership of `value` (NULL = nil).
ASYNC_EXPORT int
    async_task_return (async_task_t *self, json_t *value);

//  Complete with a failure. `type` is a failure type name such as
//  "ValueError"; transient failures may be retried by the job's policy.
//  0; -1 when the task has its outcome already; ASYNC_ENOMEM when there
//  was no memory to keep the failure (the task has no outcome then).
ASYNC_EXPORT int
    async_task_fail (async_task_t *self, const char *type, const char *message);
ASYNC_EXPORT int
    async_task_fail_full (async_task_t *self, const char *type, const char *message,
                          const char *detail, bool transient);

//  Complete with a failure whose message is formatted like printf.
ASYNC_EXPORT int
    async_task_failf (async_task_t *self, const char *type, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Complete with the failure for errno `err`: the type is the Python name
//  of the error ("FileNotFoundError", "PermissionError", ... else
//  "OSError"), the message the formatted text, ": " and strerror (err).
ASYNC_EXPORT int
    async_task_fail_errno (async_task_t *self, int err, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  The same, recording where they were called: `file`, `line` and
//  `function` go at the head of the failure's detail, as "at FUNCTION
//  (FILE:LINE)" on a line of its own (a detail given to
//  async_task_fail_full_at follows on the next lines). The macros below
//  make async_task_fail, async_task_fail_full, async_task_failf and
//  async_task_fail_errno call these with __FILE__, __LINE__ and __func__;
//  the functions of those names stay exported, for modules built before
//  (and for a caller that writes (async_task_fail) (...), or defines
//  ASYNC_TASK_NO_FAIL_AT before including this header).
ASYNC_EXPORT int
    async_task_fail_full_at (async_task_t *self, const char *file, int line,
                             const char *function, const char *type, const char *message,
                             const char *detail, bool transient);
ASYNC_EXPORT int
    async_task_failf_at (async_task_t *self, const char *file, int line,
                         const char *function, const char *type, const char *format, ...)
    __attribute__ ((format (printf, 6, 7)));
ASYNC_EXPORT int
    async_task_fail_errno_at (async_task_t *self, const char *file, int line,
                              const char *function, int err, const char *format, ...)
    __attribute__ ((format (printf, 6, 7)));

#ifndef ASYNC_TASK_NO_FAIL_AT
#   define async_task_fail(self, type, message) \
        async_task_fail_full_at ((self), __FILE__, __LINE__, __func__, (type), (message), \
                                 NULL, false)
#   define async_task_fail_full(self, type, message, detail, transient) \
        async_task_fail_full_at ((self), __FILE__, __LINE__, __func__, (type), (message), \
                                 (detail), (transient))
#   define async_task_failf(self, type, ...) \
        async_task_failf_at ((self), __FILE__, __LINE__, __func__, (type), __VA_ARGS__)
#   define async_task_fail_errno(self, err, ...) \
        async_task_fail_errno_at ((self), __FILE__, __LINE__, __func__, (err), __VA_ARGS__)
#endif

//  Submit a job from inside a task. `spec` as for async_submit_json (a job
//  spec as JSON text). On success writes the new id into id_out (ASYNC_ID_LEN
//  bytes).
//  Returns 0 or an error code.
ASYNC_EXPORT int
    async_task_submit_json (async_task_t *self, const char *spec_json, char *id_out);

//  Complete with "the result of job `job_id`" (a hand-off): the job stays
//  active, without holding a slot, until that job completes.
ASYNC_EXPORT int
    async_task_handoff (async_task_t *self, const char *job_id);

//  ---------------------------------------------------------------------
//  Living

//  Report progress: `done` of `total` units.
ASYNC_EXPORT void
    async_task_progress (async_task_t *self, int64_t done, int64_t total);

//  Set annotation `name` on the running job to `value` (borrowed: the
//  caller keeps it). 0, or -1 when the broker did not take it within 5 s.
ASYNC_EXPORT int
    async_task_annotate (async_task_t *self, const char *name, json_t *value);

//  Read annotation `name` as the broker currently has it; the caller owns
//  the result (NULL if not set). Waits at most timeout_ms for the broker.
ASYNC_EXPORT json_t *
    async_task_annotation (async_task_t *self, const char *name, int timeout_ms);

//  True once cancellation of this job was requested. A cooperative task
//  checks it and then fails with "CancelledError".
ASYNC_EXPORT bool
    async_task_cancelled (async_task_t *self);

//  Sleep up to `msecs`, waking early on cancellation. True if cancelled.
ASYNC_EXPORT bool
    async_task_sleep (async_task_t *self, int msecs);

#ifdef __cplusplus
}
#endif
#endif
