/*  =========================================================================
    python_none - asyncnode built without Python (python3-embed was not
    found, or -DASYNC_PYTHON_TASKS=OFF): --python-module is refused
    =========================================================================
*/
#include "python.h"
#include <stdio.h>

int
node_python_load (async_registry_t *registry, const char *const *paths, int npaths,
                  const char *const *modules, int nmodules, char *err, size_t err_size)
{
    snprintf (err, err_size,
              "--python-module %s: this asyncnode was built without "
              "Python tasks (CMake found no python3-embed, or was given "
              "-DASYNC_PYTHON_TASKS=OFF): install python3-dev and build it again",
              nmodules ? modules [0] : "");
    return -1;
}

bool
node_python_is_task (async_task_fn *fn)
{
    return false;
}
