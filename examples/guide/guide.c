/*  =========================================================================
    guide - the example module of docs/modules.md

    guide.greet(name, punctuation="!") -> "Hello, NAME!"
    guide.divide(a, b) -> a / b; ZeroDivisionError when b is 0
    guide.first_line(path) -> the first line of the file; a transient
        FileNotFoundError while it does not exist
    guide.countdown(n) -> n, after n steps of 100 ms, reporting progress
        and stopping early when the job is cancelled
    guide.note(name, value) -> value, as the broker has it after the task
        set the job's annotation `name` to it
    guide.square(x) -> x * x
    guide.sum(children...) -> the sum of the results of a parent's
        children (a postprocess: one {"id", "status", "result"} or
        {"id", "status", "failure"} argument per child)
    guide.sum_squares(n) -> 1 + 4 + ... + n * n, by handing off to a
        parallel job of n guide.square children with guide.sum as its
        postprocess

    Built into build/modules/guide.so; try it with
        asyncnode --module build/modules/guide.so &
        asyncctl submit --wait guide.sum_squares 10
    =========================================================================
*/
#include <asyncmesh/task.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Arguments: positional or by name, as in a Python call
static int
s_greet (async_task_t *task)
{
    json_t *name = async_task_arg (task, 0);
    if (!name)
        name = async_task_kwarg (task, "name");
    json_t *punctuation = async_task_kwarg (task, "punctuation");
    if (!json_is_string (name)
    ||  (punctuation && !json_is_string (punctuation)))
        return async_task_fail (task, "BadArgumentsError",
                                "guide.greet(name, punctuation=\"!\"): "
                                "name and punctuation must be strings");
    return async_task_return (task, json_sprintf ("Hello, %s%s",
        json_string_value (name),
        punctuation ? json_string_value (punctuation) : "!"));
}

//  A failure that retrying cannot mend
static int
s_divide (async_task_t *task)
{
    double a, b;
    if (async_task_arg_double (task, 0, &a) || async_task_arg_double (task, 1, &b))
        return async_task_fail (task, "BadArgumentsError",
                                "guide.divide(a, b): a and b must be numbers");
    if (b == 0)
        return async_task_fail (task, "ZeroDivisionError", "guide.divide: b is 0");
    return async_task_return (task, json_real (a / b));
}

//  A transient failure: the job's retry policy may try again
static int
s_first_line (async_task_t *task)
{
    const char *path;
    if (async_task_arg_str (task, 0, &path))
        return async_task_fail (task, "BadArgumentsError",
                                "guide.first_line(path): path must be a string");
    char full [4096];
    if (path [0] != '/') {
        snprintf (full, sizeof full, "%s/%s", async_task_cwd (task), path);
        path = full;
    }
    FILE *file = fopen (path, "r");
    if (!file && errno == ENOENT)
        return async_task_fail_full (task, "FileNotFoundError", "no such file yet",
                                     path, true);
    if (!file)
        return async_task_fail_errno (task, errno, "guide.first_line: cannot open %s",
                                      path);
    char line [1024] = "";
    if (!fgets (line, sizeof line, file))
        line [0] = 0;
    fclose (file);
    line [strcspn (line, "\n")] = 0;
    return async_task_return (task, json_string (line));
}

//  Progress and cancellation
static int
s_countdown (async_task_t *task)
{
    json_int_t n;
    if (async_task_arg_int (task, 0, &n) || n < 0 || n > 100000)
        return async_task_fail (task, "BadArgumentsError",
                                "guide.countdown(n): n must be an integer, 0 to 100000");
    for (json_int_t step = 1; step <= n; step++) {
        if (async_task_sleep (task, 100))
            return async_task_fail (task, "CancelledError", "guide.countdown: cancelled");
        async_task_progress (task, step, n);
    }
    return async_task_return (task, json_integer (n));
}

//  Annotations: set one, read it back from the broker
static int
s_note (async_task_t *task)
{
    const char *name;
    json_t *value = async_task_arg (task, 1);
    if (async_task_arg_str (task, 0, &name) || !*name || !value)
        return async_task_fail (task, "BadArgumentsError",
                                "guide.note(name, value): name must be a string");
    if (async_task_annotate (task, name, value))
        return async_task_fail_full (task, "AnnotationError",
                                     "the broker did not take the annotation",
                                     NULL, true);
    json_t *stored = async_task_annotation (task, name, 5000);
    if (!stored)
        return async_task_fail_full (task, "AnnotationError",
                                     "the broker did not answer", NULL, true);
    return async_task_return (task, stored);
}

static int
s_square (async_task_t *task)
{
    json_int_t x;
    if (async_task_arg_int (task, 0, &x) || x < -3037000499 || x > 3037000499)
        return async_task_fail (task, "BadArgumentsError",
                                "guide.square(x): x must be an integer, |x| < 3037000500");
    return async_task_return (task, json_integer (x * x));
}

//  A postprocess: one {"id", "status", "result" or "failure"} per child
static int
s_sum (async_task_t *task)
{
    json_int_t sum = 0;
    for (size_t index = 0; index < async_task_argc (task); index++) {
        json_t *child = async_task_arg (task, index);
        json_t *result = json_object_get (child, "result");
        if (json_object_get (child, "failure"))
            return async_task_failf (task, "ChildFailedError", "child %s failed",
                                     json_string_value (json_object_get (child, "id")));
        if (!json_is_integer (result)
        ||  __builtin_add_overflow (sum, json_integer_value (result), &sum))
            return async_task_fail (task, "BadArgumentsError",
                                    "guide.sum: each child's result must be an "
                                    "integer, and their sum must fit in 64 bits");
    }
    return async_task_return (task, json_integer (sum));
}

//  Submit a job from a task, then hand this job's outcome off to it
static int
s_sum_squares (async_task_t *task)
{
    json_int_t n;
    if (async_task_arg_int (task, 0, &n) || n < 1 || n > 1000)
        return async_task_fail (task, "BadArgumentsError",
                                "guide.sum_squares(n): n must be an integer, 1 to 1000");
    json_t *children = json_array ();
    for (json_int_t x = 1; x <= n; x++)
        json_array_append_new (children, json_pack ("{s:s, s:[I]}",
                                                    "task", "guide.square", "args", x));
    json_t *spec = json_pack ("{s:o, s:{s:s}}", "parallel", children,
                              "postprocess", "task", "guide.sum");
    char *text = json_dumps (spec, JSON_COMPACT);
    json_decref (spec);
    if (!text)
        return async_task_fail (task, "MemoryError", "guide.sum_squares: out of memory");
    char id [ASYNC_ID_LEN];
    int rc = async_task_submit_json (task, text, id);
    free (text);
    if (rc)
        return async_task_failf (task, "SubmitError",
                                 "guide.sum_squares: the broker refused the job (%d)", rc);
    return async_task_handoff (task, id);
}

ASYNC_MODULE_INIT (registry)
{
    if (async_registry_add (registry, "guide.greet", s_greet)
    ||  async_registry_add (registry, "guide.divide", s_divide)
    ||  async_registry_add (registry, "guide.first_line", s_first_line)
    ||  async_registry_add (registry, "guide.countdown", s_countdown)
    ||  async_registry_add (registry, "guide.note", s_note)
    ||  async_registry_add (registry, "guide.square", s_square)
    ||  async_registry_add (registry, "guide.sum", s_sum)
    ||  async_registry_add (registry, "guide.sum_squares", s_sum_squares))
        return -1;
    return 0;
}
