/*  =========================================================================
    builtin - the tasks every node has, whatever modules it loads

        time.time()                 seconds since the epoch, a float
        subprocess.call(argv, cwd=None, timeout=None)
                                    runs argv, returns its exit status

    (private to asyncnode; not installed)
    =========================================================================
*/
#ifndef ASYNC_BUILTIN_H_INCLUDED
#define ASYNC_BUILTIN_H_INCLUDED

#include <asyncmesh/task.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Register the built-in tasks in `registry`. 0, or -1 if a name was
//  already taken.
int
    async_builtin_register (async_registry_t *registry);

#ifdef __cplusplus
}
#endif
#endif
