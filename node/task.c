/*  =========================================================================
    task - the task API (asyncmesh/task.h) and the registry of tasks
    =========================================================================
*/
#define _GNU_SOURCE
#include "job.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>

struct _async_registry_t {
    zhashx_t *tasks;            //  name -> async_task_fn *
};

async_registry_t *
registry_new (void)
{
    async_registry_t *self = calloc (1, sizeof (async_registry_t));
    self->tasks = zhashx_new ();
    return self;
}

void
registry_destroy (async_registry_t **self_p)
{
    if (*self_p) {
        zhashx_destroy (&(*self_p)->tasks);
        free (*self_p);
        *self_p = NULL;
    }
}

int
async_registry_add (async_registry_t *self, const char *name, async_task_fn *fn)
{
    if (!async_task_name_valid (name) || !fn || zhashx_lookup (self->tasks, name))
        return -1;
    zhashx_insert (self->tasks, name, (void *) fn);
    return 0;
}

async_task_fn *
registry_lookup (async_registry_t *self, const char *name)
{
    return (async_task_fn *) zhashx_lookup (self->tasks, name);
}

const char **
registry_names (async_registry_t *self)
{
    const char **names = calloc (zhashx_size (self->tasks) + 1, sizeof (char *));
    size_t n = 0;
    void *fn = zhashx_first (self->tasks);
    while (fn) {
        names [n++] = (const char *) zhashx_cursor (self->tasks);
        fn = zhashx_next (self->tasks);
    }
    return names;
}

int
registry_load (async_registry_t *self, const char *path, char *err, size_t err_size)
{
    void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf (err, err_size, "cannot load module %s: %s", path, dlerror ());
        return -1;
    }
    int (*init) (async_registry_t *) =
        (int (*) (async_registry_t *)) dlsym (handle, ASYNC_MODULE_INIT_SYMBOL);
    if (!init) {
        snprintf (err, err_size, "module %s has no %s function; "
                  "define it with ASYNC_MODULE_INIT", path, ASYNC_MODULE_INIT_SYMBOL);
        dlclose (handle);
        return -1;
    }
    if (init (self)) {
        snprintf (err, err_size, "module %s failed to register its tasks "
                  "(a name taken twice?)", path);
        return -1;
    }
    return 0;                   //  modules stay loaded for the node's life
}

//  ---------------------------------------------------------------------

async_task_t *
node_job_new (void)
{
    return calloc (1, sizeof (async_task_t));
}

void
node_job_destroy (async_task_t **self_p)
{
    async_task_t *self = *self_p;
    if (!self)
        return;
    free (self->task);
    free (self->agent);
    json_decref (self->args);
    json_decref (self->kwargs);
    json_decref (self->result);
    free (self->failure_type);
    free (self->failure_message);
    free (self->failure_detail);
    free (self);
    *self_p = NULL;
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
    self->outcome = 2;
    self->failure_type = strdup (type && *type ? type : "Error");
    self->failure_message = strdup (message ? message : "");
    self->failure_detail = detail ? strdup (detail) : NULL;
    self->failure_transient = transient;
    return 0;
}

int
async_task_fail (async_task_t *self, const char *type, const char *message)
{
    return async_task_fail_full (self, type, message, NULL, false);
}

int
async_task_failf (async_task_t *self, const char *type, const char *format, ...)
{
    char message [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    return async_task_fail (self, type, message);
}

int
async_task_fail_errno (async_task_t *self, int err, const char *format, ...)
{
    char message [PATH_MAX + 256];
    va_list args;
    va_start (args, format);
    int len = vsnprintf (message, sizeof message, format, args);
    va_end (args);
    char buffer [128];
    if (len >= 0 && (size_t) len < sizeof message)
        snprintf (message + len, sizeof message - (size_t) len, ": %s",
                  strerror_r (err, buffer, sizeof buffer));
    const char *type = err == ENOENT ? "FileNotFoundError"
                     : err == EEXIST ? "FileExistsError"
                     : err == EACCES || err == EPERM ? "PermissionError"
                     : err == EISDIR ? "IsADirectoryError"
                     : err == ENOTDIR ? "NotADirectoryError"
                     : err == ETIMEDOUT ? "TimeoutError"
                     : err == EINTR ? "InterruptedError"
                     : "OSError";
    return async_task_fail (self, type, message);
}

//  In a process-isolated child: take the records its worker sent. A
//  cancel sets the flag; an answer to an earlier request (one that timed
//  out) is dropped. Returns the payload of the answer tagged `tag`
//  ("tag\0status\0answer", the caller frees), or NULL.
static char *
s_child_take (async_task_t *self, const char *tag)
{
    char type;
    char *payload;
    size_t size;
    while (node_chan_next (self->chan, &type, &payload, &size)) {
        if (type == 'C')
            atomic_store (&self->cancelled, 1);
        else
        if (type == 'A' && tag && streq (payload, tag) && size > strlen (tag) + 1
        &&  memchr (payload + strlen (tag) + 1, 0, size - strlen (tag) - 1))
            return payload;     //  tag NUL status NUL answer: all there
        free (payload);
    }
    return NULL;
}

//  Milliseconds left until deadline (monotonic us), rounded up; 0 if past
static int
s_left_ms (int64_t deadline)
{
    int64_t left = deadline - async_mono_us ();
    return left <= 0 ? 0 : left > INT_MAX / 2 ? INT_MAX / 2 : (int) ((left + 999) / 1000);
}

//  The request from a forked child: over its socketpair to the worker
//  thread, which relays it to the node. The answer (status, text) or NULL.
static char *
s_child_request (async_task_t *self, const char *command, const char *text,
                 const char *tag, int64_t deadline)
{
    size_t ltag = strlen (tag), lcommand = strlen (command), ltext = strlen (text);
    char *payload = malloc (ltag + lcommand + ltext + 2);
    if (!payload)
        return NULL;
    memcpy (payload, tag, ltag + 1);
    memcpy (payload + ltag + 1, command, lcommand + 1);
    memcpy (payload + ltag + lcommand + 2, text, ltext);
    int rc = node_chan_send (self->chan, 'Q', payload, ltag + lcommand + ltext + 2);
    free (payload);
    char *answer = NULL;
    while (rc == 0 && !(answer = s_child_take (self, tag))) {
        int left = s_left_ms (deadline);
        if (left == 0 || self->chan->eof)
            break;
        node_chan_read (self->chan, left);
    }
    return answer;
}

//  A request to the broker from the task: the node forwards it and passes
//  the reply back, tagged as the request was (answers to requests that
//  timed out are dropped). Returns the reply body as JSON, or NULL.
static json_t *
s_request (async_task_t *self, const char *command, json_t *body, int timeout_ms)
{
    char *text = (self->pipe || self->chan) ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    if (!text)
        return NULL;
    char tag [24];
    snprintf (tag, sizeof tag, "%" PRIu64, ++self->tags);
    int64_t deadline = async_mono_us () + (int64_t) timeout_ms * 1000;
    json_t *reply = NULL;
    if (self->chan) {
        char *answer = s_child_request (self, command, text, tag, deadline);
        if (answer) {
            const char *status = answer + strlen (tag) + 1;
            if (streq (status, "OK"))
                reply = json_loads (status + strlen (status) + 1, JSON_DECODE_ANY, NULL);
            free (answer);
        }
        free (text);
        return reply;
    }
    node_up_request (self, command, text, tag);
    free (text);
    int left;
    while ((left = s_left_ms (deadline)) > 0) {
        zsock_set_rcvtimeo (self->pipe, left);
        zmsg_t *msg = zmsg_recv (self->pipe);
        if (!msg)
            break;
        char *status = zmsg_popstr (msg);
        char *answer = zmsg_popstr (msg);
        char *answer_tag = zmsg_popstr (msg);
        char *token = zmsg_popstr (msg);
        //  Tags never repeat on a worker; the token names the job besides
        bool mine = answer_tag && streq (answer_tag, tag) && node_answer_is_for (self, token);
        if (mine && status && answer && streq (status, "OK"))
            reply = json_loads (answer, JSON_DECODE_ANY, NULL);
        zstr_free (&status);
        zstr_free (&answer);
        zstr_free (&answer_tag);
        zstr_free (&token);
        zmsg_destroy (&msg);
        if (mine)
            break;
    }
    zsock_set_rcvtimeo (self->pipe, -1);
    return reply;
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
        snprintf (id_out, 37, "%s", id);
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
    char text [48];
    int len = snprintf (text, sizeof text, "%" PRId64 "%c%" PRId64, done, 0, total);
    if (self->chan)
        node_chan_send (self->chan, 'P', text, (size_t) len);
    else
    if (self->pipe)
        node_up_progress (self, text, text + strlen (text) + 1);
}

//  Answers come back with the token of the job that asked: one for a job
//  that ended (its request timed out) is not taken by the next
bool
node_answer_is_for (async_task_t *self, const char *token)
{
    return token && strtoull (token, NULL, 10) == self->token;
}

//  Messages up carry the job's id and token: its worker may be running
//  another job by the time the node's loop reads them
void
node_up_progress (async_task_t *self, const char *done, const char *total)
{
    char token [24];
    snprintf (token, sizeof token, "%" PRIu64, self->token);
    zsock_send (self->up, "isssss", self->worker, "PROGRESS", self->id, token, done, total);
}

void
node_up_request (async_task_t *self, const char *command, const char *text,
                 const char *tag)
{
    char token [24];
    snprintf (token, sizeof token, "%" PRIu64, self->token);
    zsock_send (self->up, "isssss", self->worker, "REQ", token, command, text, tag);
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
    if (self->chan) {
        //  In a forked child: a cancel comes as a record from the worker;
        //  a worker that is gone wants no result either
        if (node_chan_read (self->chan, 0))
            atomic_store (&self->cancelled, 1);
        free (s_child_take (self, NULL));
    }
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
