/*  =========================================================================
    async_task - the task API (asyncmesh/task.h): what a task module calls

    The job and the registry are the node's (node/task.c makes them); what
    needs the node's sockets goes through the job's host (async_task.h).
    =========================================================================
*/
#define _GNU_SOURCE
#define ASYNC_TASK_NO_FAIL_AT     //  this file defines both kinds
#include "async_task.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>

//  The name as it may be printed: at most 60 bytes, what is not printable
//  as '?'
static void
s_printable (const char *name, char *out, size_t size)
{
    size_t len = 0;
    for (; name [len] && len < 60 && len + 4 < size; len++)
        out [len] = isprint ((unsigned char) name [len]) ? name [len] : '?';
    if (name [len] && len + 4 < size)
        out [len++] = '.', out [len++] = '.', out [len++] = '.';
    out [len] = 0;
}

int
async_registry_add (async_registry_t *self, const char *name, async_task_fn *fn)
{
    char why [200], rule [320], shown [80];
    const char *problem = NULL;
    if (!async_task_name_check (name, why, sizeof why)) {
        snprintf (rule, sizeof rule, "%s (a task name is module.function: 3 to 200 "
                  "bytes of letters, digits, '_', '-' and '.')", why);
        problem = rule;
    }
    else
    if (!fn)
        problem = "its function is NULL";
    else
    if (zhashx_lookup (self->tasks, name))
        problem = "that name is registered already (by this module, another one "
                  "or the built-in tasks)";
    if (problem) {
        if (!*self->refused) {
            s_printable (name ? name : "(null)", shown, sizeof shown);
            snprintf (self->refused, sizeof self->refused, "task '%s' was refused: %s",
                      shown, problem);
        }
        return -1;
    }
    zhashx_insert (self->tasks, name, (void *) fn);
    return 0;
}

const char *
async_task_id (async_task_t *self)
{
    return self->id;
}

const char *
async_task_name (async_task_t *self)
{
    return self->task;
}

int
async_task_attempt (async_task_t *self)
{
    return self->attempt;
}

const char *
async_task_cwd (async_task_t *self)
{
    return self->cwd;
}

const char *
async_task_node (async_task_t *self)
{
    return self->node;
}

json_t *
async_task_args (async_task_t *self)
{
    return self->args;
}

json_t *
async_task_kwargs (async_task_t *self)
{
    return self->kwargs;
}

size_t
async_task_argc (async_task_t *self)
{
    return json_array_size (self->args);
}

json_t *
async_task_arg (async_task_t *self, size_t index)
{
    return json_array_get (self->args, index);
}

json_t *
async_task_kwarg (async_task_t *self, const char *name)
{
    return json_object_get (self->kwargs, name);
}

static int
s_int (json_t *value, json_int_t *out)
{
    if (!json_is_integer (value))
        return -1;
    *out = json_integer_value (value);
    return 0;
}

static int
s_double (json_t *value, double *out)
{
    if (!json_is_number (value))
        return -1;
    *out = json_number_value (value);
    return 0;
}

int
async_task_arg_int (async_task_t *self, size_t index, json_int_t *value)
{
    return s_int (async_task_arg (self, index), value);
}

int
async_task_arg_double (async_task_t *self, size_t index, double *value)
{
    return s_double (async_task_arg (self, index), value);
}

int
async_task_arg_str (async_task_t *self, size_t index, const char **value)
{
    json_t *arg = async_task_arg (self, index);
    if (!json_is_string (arg))
        return -1;
    *value = json_string_value (arg);
    return 0;
}

int
async_task_kwarg_int (async_task_t *self, const char *name, json_int_t *value)
{
    return s_int (async_task_kwarg (self, name), value);
}

int
async_task_kwarg_double (async_task_t *self, const char *name, double *value)
{
    return s_double (async_task_kwarg (self, name), value);
}

int
async_task_kwarg_bool (async_task_t *self, const char *name, bool *value)
{
    json_t *arg = async_task_kwarg (self, name);
    if (!json_is_boolean (arg))
        return -1;
    *value = json_is_true (arg);
    return 0;
}

int
async_task_return (async_task_t *self, json_t *value)
{
    if (self->outcome) {
        json_decref (value);
        return -1;
    }
    self->outcome = 1;
    self->result = value ? value : json_null ();
    return 0;
}

int
async_task_fail_full (async_task_t *self, const char *type, const char *message,
                      const char *detail, bool transient)
{
    if (self->outcome)
        return -1;
    char *copy_type = strdup (type && *type ? type : "Error");
    char *copy_message = strdup (message ? message : "");
    char *copy_detail = detail ? strdup (detail) : NULL;
    if (!copy_type || !copy_message || (detail && !copy_detail)) {
        free (copy_type);
        free (copy_message);
        free (copy_detail);
        return ASYNC_ENOMEM;    //  no outcome: the node fails the job
    }
    self->outcome = 2;
    self->failure_type = copy_type;
    self->failure_message = copy_message;
    self->failure_detail = copy_detail;
    self->failure_transient = transient;
    return 0;
}

int
async_task_fail (async_task_t *self, const char *type, const char *message)
{
    return async_task_fail_full (self, type, message, NULL, false);
}

//  The message, formatted
static void
s_format (char *message, size_t size, const char *format, va_list args)
{
    vsnprintf (message, size, format, args);
}

int
async_task_failf (async_task_t *self, const char *type, const char *format, ...)
{
    char message [1024];
    va_list args;
    va_start (args, format);
    s_format (message, sizeof message, format, args);
    va_end (args);
    return async_task_fail (self, type, message);
}

//  The message for errno `err` (the formatted text, ": " and strerror),
//  and its type
static const char *
s_errno_message (int err, char *message, size_t size, const char *format, va_list args)
{
    int len = vsnprintf (message, size, format, args);
    char buffer [128];
    if (len >= 0 && (size_t) len < size)
        snprintf (message + len, size - (size_t) len, ": %s",
                  strerror_r (err, buffer, sizeof buffer));
    return err == ENOENT ? "FileNotFoundError"
         : err == EEXIST ? "FileExistsError"
         : err == EACCES || err == EPERM ? "PermissionError"
         : err == EISDIR ? "IsADirectoryError"
         : err == ENOTDIR ? "NotADirectoryError"
         : err == ETIMEDOUT ? "TimeoutError"
         : err == EINTR ? "InterruptedError"
         : "OSError";
}

int
async_task_fail_errno (async_task_t *self, int err, const char *format, ...)
{
    char message [PATH_MAX + 256];
    va_list args;
    va_start (args, format);
    const char *type = s_errno_message (err, message, sizeof message, format, args);
    va_end (args);
    return async_task_fail (self, type, message);
}

int
async_task_fail_full_at (async_task_t *self, const char *file, int line,
                         const char *function, const char *type, const char *message,
                         const char *detail, bool transient)
{
    if (self->outcome)
        return -1;
    if (!file)
        return async_task_fail_full (self, type, message, detail, transient);
    //  "at FUNCTION (FILE:LINE)", then the detail given
    int len = snprintf (NULL, 0, "at %s (%s:%d)%s%s", function ? function : "?", file,
                        line, detail ? "\n" : "", detail ? detail : "");
    char *where = len >= 0 ? malloc ((size_t) len + 1) : NULL;
    if (!where)
        return ASYNC_ENOMEM;
    snprintf (where, (size_t) len + 1, "at %s (%s:%d)%s%s", function ? function : "?", file,
              line, detail ? "\n" : "", detail ? detail : "");
    int rc = async_task_fail_full (self, type, message, where, transient);
    free (where);
    return rc;
}

int
async_task_failf_at (async_task_t *self, const char *file, int line, const char *function,
                     const char *type, const char *format, ...)
{
    char message [1024];
    va_list args;
    va_start (args, format);
    s_format (message, sizeof message, format, args);
    va_end (args);
    return async_task_fail_full_at (self, file, line, function, type, message, NULL, false);
}

int
async_task_fail_errno_at (async_task_t *self, const char *file, int line,
                          const char *function, int err, const char *format, ...)
{
    char message [PATH_MAX + 256];
    va_list args;
    va_start (args, format);
    const char *type = s_errno_message (err, message, sizeof message, format, args);
    va_end (args);
    return async_task_fail_full_at (self, file, line, function, type, message, NULL, false);
}

//  A request to the broker through the node, or NULL when there is none
static json_t *
s_request (async_task_t *self, const char *command, json_t *body, int timeout_ms)
{
    if (!self->host || !self->host->request) {
        json_decref (body);
        return NULL;
    }
    return self->host->request (self, command, body, timeout_ms);
}

int
async_task_submit_json (async_task_t *self, const char *spec_json, char *id_out)
{
    json_t *spec = json_loads (spec_json, 0, NULL);
    if (!json_is_object (spec)) {
        json_decref (spec);
        return 2;
    }
    json_t *reply = s_request (self, "SUBMIT", json_pack ("{s:o}", "spec", spec), 10000);
    const char *id = json_string_value (json_object_get (reply, "id"));
    int rc = id ? 0 : 6;
    if (id)
        snprintf (id_out, ASYNC_ID_LEN, "%s", id);
    json_decref (reply);
    return rc;
}

int
async_task_handoff (async_task_t *self, const char *job_id)
{
    if (self->outcome || !async_id_valid (job_id))
        return -1;
    self->outcome = 3;
    snprintf (self->handoff, sizeof self->handoff, "%s", job_id);
    return 0;
}

void
async_task_progress (async_task_t *self, int64_t done, int64_t total)
{
    if (self->host && self->host->progress)
        self->host->progress (self, done, total);
}

int
async_task_annotate (async_task_t *self, const char *name, json_t *value)
{
    json_t *reply = s_request (self, "ANNOTATE", json_pack ("{s:s, s:s, s:O}",
                               "id", self->id, "name", name, "value",
                               value ? value : json_null ()), 5000);
    int rc = reply ? 0 : -1;
    json_decref (reply);
    return rc;
}

json_t *
async_task_annotation (async_task_t *self, const char *name, int timeout_ms)
{
    json_t *reply = s_request (self, "GET", json_pack ("{s:s}", "id", self->id), timeout_ms);
    json_t *value = json_object_get (json_object_get (json_object_get (reply, "job"),
                                     "annotations"), name);
    json_incref (value);
    json_decref (reply);
    return value;
}

bool
async_task_cancelled (async_task_t *self)
{
    if (self->host && self->host->poll_cancel)
        self->host->poll_cancel (self);
    return atomic_load (&self->cancelled) != 0;
}

bool
async_task_sleep (async_task_t *self, int msecs)
{
    int64_t deadline = async_mono_us () + (int64_t) msecs * 1000;
    while (!async_task_cancelled (self)) {
        int64_t left = deadline - async_mono_us ();
        if (left <= 0)
            return false;
        zclock_sleep (left > 20000 ? 20 : (int) (left / 1000) + 1);
    }
    return true;
}
