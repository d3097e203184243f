/*  =========================================================================
    python - tasks written in Python (asyncnode --python-module NAME)

    The node embeds CPython (python/src/asyncmesh_task.c) when it was built
    with it (CMake option ASYNC_PYTHON_TASKS, on when pkg-config finds
    python3-embed). node_python_load starts the interpreter in the node's
    process while it has a single thread, imports each module and registers
    every function decorated with @asyncmesh.task in module NAME as task
    NAME.function. A job of such a task always runs in a child process of
    the zygote (isolate.h), forked after the imports: each job has an
    interpreter of its own (no GIL is shared between jobs, a crash fails
    only its job), and no job imports the modules again.

    Without Python (python/src is not compiled in: node/python_none.c),
    node_python_load fails, saying so.

    (private to asyncnode)
    =========================================================================
*/
#ifndef NODE_PYTHON_H_INCLUDED
#define NODE_PYTHON_H_INCLUDED

#include <asyncmesh/task.h>
#include <stdbool.h>
#include <stddef.h>

//  Start the interpreter, put `paths` first on sys.path, import `modules`
//  and register their tasks in registry. Call once, while the process has
//  a single thread, before node_zygote_start. 0, or -1 with the reason in
//  err (naming the module that does not import, or has no task).
int node_python_load (async_registry_t *registry, const char *const *paths, int npaths,
                      const char *const *modules, int nmodules, char *err, size_t err_size);

//  Whether `fn` runs a Python task: its jobs run in a child process,
//  whatever their agent's isolation
bool node_python_is_task (async_task_fn *fn);

#endif
