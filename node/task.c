/*  =========================================================================
    task - the registry of tasks, module loading, and the node's side of
    the task API: the host (async_task.h) that carries a task's requests
    and progress to the node. The API itself is in libasync
    (libcore/src/async_task.c), the library modules link against.
    =========================================================================
*/
#define _GNU_SOURCE
#include "job.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <unistd.h>

async_registry_t *
registry_new (void)
{
    async_registry_t *self = async_xcalloc (1, sizeof (async_registry_t));
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

async_task_fn *
registry_lookup (async_registry_t *self, const char *name)
{
    return (async_task_fn *) zhashx_lookup (self->tasks, name);
}

const char **
registry_names (async_registry_t *self)
{
    const char **names = async_xcalloc (zhashx_size (self->tasks) + 1, sizeof (char *));
    size_t n = 0;
    void *fn = zhashx_first (self->tasks);
    while (fn) {
        names [n++] = (const char *) zhashx_cursor (self->tasks);
        fn = zhashx_next (self->tasks);
    }
    return names;
}

//  A relative path is the working directory's: with a slash always, a
//  bare name when that file exists there (else dlopen searches for it:
//  LD_LIBRARY_PATH, the system's directories). 0, or -1 with err set.
static int
s_module_path (const char *path, char *resolved, size_t size, char *err, size_t err_size)
{
    bool bare = !strchr (path, '/');
    if (*path == '/' || (bare && access (path, F_OK))) {
        snprintf (resolved, size, "%s", path);
        return 0;
    }
    char cwd [PATH_MAX];
    if (!getcwd (cwd, sizeof cwd)) {
        snprintf (err, err_size, "cannot load module %s: the working directory is "
                  "unknown (%s); give an absolute path", path, strerror (errno));
        return -1;
    }
    if (snprintf (resolved, size, "%s/%s", streq (cwd, "/") ? "" : cwd, path)
        >= (int) size) {
        snprintf (err, err_size, "cannot load module %s: its path in %s is too long",
                  path, cwd);
        return -1;
    }
    return 0;
}

int
registry_load (async_registry_t *self, const char *path, char *err, size_t err_size)
{
    char resolved [PATH_MAX];
    if (s_module_path (path, resolved, sizeof resolved, err, err_size))
        return -1;
    void *handle = dlopen (resolved, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        char cwd [PATH_MAX];
        if (*path == '/' || !getcwd (cwd, sizeof cwd))
            snprintf (err, err_size, "cannot load module %s: %s", path, dlerror ());
        else
        if (!strchr (path, '/'))
            snprintf (err, err_size, "cannot load module %s: not in the working "
                      "directory %s, nor found where the system looks for libraries "
                      "(%s); give its path", path, cwd, dlerror ());
        else
            snprintf (err, err_size, "cannot load module %s (in the working directory "
                      "%s): %s", path, cwd, dlerror ());
        return -1;
    }
    //  Built against the task API we run? A module without the mark was
    //  not built with ASYNC_MODULE_INIT of a task.h that has it
    const int *abi = (const int *) dlsym (handle, ASYNC_MODULE_ABI_SYMBOL);
    if (!abi || *abi != ASYNC_TASK_ABI_VERSION) {
        if (abi)
            snprintf (err, err_size, "module %s was built for task API version %d, "
                      "this node runs task API version %d: rebuild it against this "
                      "asyncmesh", path, *abi, ASYNC_TASK_ABI_VERSION);
        else
            snprintf (err, err_size, "module %s has no task API version (%s); "
                      "rebuild it with ASYNC_MODULE_INIT of this asyncmesh "
                      "(task API version %d)", path, ASYNC_MODULE_ABI_SYMBOL,
                      ASYNC_TASK_ABI_VERSION);
        dlclose (handle);
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
    *self->refused = 0;
    int rc = init (self);
    if (*self->refused) {
        //  Also when init went on (ignored what async_registry_add
        //  returned): the node would run without that task
        snprintf (err, err_size, "module %s failed to register its tasks: %s",
                  path, self->refused);
        return -1;
    }
    if (rc) {
        snprintf (err, err_size, "module %s failed to register its tasks: its %s "
                  "returned %d; see what it logged", path, ASYNC_MODULE_INIT_SYMBOL, rc);
        return -1;
    }
    return 0;                   //  modules stay loaded for the node's life
}

//  ---------------------------------------------------------------------

static json_t *
    s_request (async_task_t *self, const char *command, json_t *body, int timeout_ms);
static void
    s_progress (async_task_t *self, int64_t done, int64_t total);
static void
    s_poll_cancel (async_task_t *self);

//  How the task API (libasync) reaches the node for a job
static const async_task_host_t s_host = { s_request, s_progress, s_poll_cancel };

async_task_t *
node_job_new (void)
{
    async_task_t *self = async_xcalloc (1, sizeof (async_task_t));
    if (self)
        self->host = &s_host;
    return self;
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
    char *payload = async_xmalloc (ltag + lcommand + ltext + 2);
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

static void
s_progress (async_task_t *self, int64_t done, int64_t total)
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

//  In a forked child, a cancel comes as a record from the worker; a worker
//  that is gone wants no result either
static void
s_poll_cancel (async_task_t *self)
{
    if (self->chan) {
        if (node_chan_read (self->chan, 0))
            atomic_store (&self->cancelled, 1);
        free (s_child_take (self, NULL));
    }
}
