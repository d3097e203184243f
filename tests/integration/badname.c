/*  =========================================================================
    badname - a task module that registers what it is told to
    (test_module_task_names): the task names in $ASYNC_TEST_TASKS, separated
    by '|', in order, each with the same function; its init returns what
    the last registration returned, unless $ASYNC_TEST_IGNORE is set (then
    0, as a module that ignores the result would)
    =========================================================================
*/
#include <asyncmesh/task.h>
#include <stdlib.h>
#include <string.h>

static int
s_noop (async_task_t *task)
{
    return async_task_return (task, NULL);
}

ASYNC_MODULE_INIT (registry)
{
    const char *names = getenv ("ASYNC_TEST_TASKS");
    char *copy = strdup (names ? names : "badname.ok");
    int rc = 0;
    char *save = NULL;
    for (char *name = strtok_r (copy, "|", &save); name; name = strtok_r (NULL, "|", &save))
        rc = async_registry_add (registry, name, s_noop);
    free (copy);
    return getenv ("ASYNC_TEST_IGNORE") ? 0 : rc;
}
