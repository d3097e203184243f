/*  =========================================================================
    asyncmesh._asyncmesh - the CPython extension under the asyncmesh package

    A thin layer over libasync's public client API (asyncmesh/client.h):
    a Client type that builds specs with the spec builder (async_spec_*),
    submits them, waits, reads jobs and annotations, and cancels. Python
    values become JSON values (jansson) and back, exactly as the job JSON
    holds them: int, float, str, bool, None, list, dict; any other type is
    a TypeError. The typed, documented API is asyncmesh/__init__.py.

    Every call that talks to the broker releases the GIL. One client is
    one libasync client, which belongs to one thread at a time: a lock per
    client serializes the calls of several Python threads on it.

    Errors: a libasync code becomes an exception of asyncmesh._errors,
    made by its error_for (code, reason) with the library's one-line
    reason (async_client_error (), else async_strerror ()).
    =========================================================================
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include <asyncmesh/client.h>
#include <asyncmesh/id.h>
#include "asyncmesh_values.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

typedef struct {
    PyObject_HEAD async_client_t *client;
    PyThread_type_lock lock;  //  one call on the client at a time
    int timeout_ms;           //  its request timeout
    char endpoint [256];
} s_client_t;

//  ---------------------------------------------------------------------
//  Errors

//  Raise the exception asyncmesh._errors.error_for (code, reason) makes.
//  Returns NULL, for `return s_raise (...)`.
static PyObject *
s_raise (int code, const char *reason)
{
    if (code == ASYNC_ENOMEM)
        return PyErr_NoMemory ();
    PyObject *errors = PyImport_ImportModule ("asyncmesh._errors");
    if (!errors)
        return NULL;
    PyObject *exc = PyObject_CallMethod (errors, "error_for", "is", code,
                                         reason && *reason ? reason : async_strerror (code));
    Py_DECREF (errors);
    if (!exc)
        return NULL;
    PyErr_SetObject ((PyObject *) Py_TYPE (exc), exc);
    Py_DECREF (exc);
    return NULL;
}

//  JSON text from libasync (taken, freed) to a Python object
static PyObject *
s_from_text (char *text)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    free (text);
    if (!json)
        return s_raise (ASYNC_EPROTO, "libasync returned JSON that does not parse");
    PyObject *object = s_from_json (json);
    json_decref (json);
    return object;
}

//  A name for the C API: borrowed UTF-8 of a str without NUL, or NULL with
//  TypeError / ValueError naming `what`
static const char *
s_name (PyObject *object, const char *what)
{
    if (!PyUnicode_Check (object)) {
        PyErr_Format (PyExc_TypeError, "%s must be a str, not '%.100s'", what,
                      Py_TYPE (object)->tp_name);
        return NULL;
    }
    Py_ssize_t size;
    const char *name = PyUnicode_AsUTF8AndSize (object, &size);
    if (name && strlen (name) != (size_t) size) {
        PyErr_Format (PyExc_ValueError, "%s must not hold a NUL character", what);
        return NULL;
    }
    return name;
}

//  ---------------------------------------------------------------------
//  Specs: {"task": str, "args": list, "kwargs": dict, "options": dict} or
//  {"parallel" | "serial": [spec, ...], "postprocess": spec | None,
//  "options": dict}, as asyncmesh.Spec holds them

static async_spec_t *s_spec (PyObject *tree, int depth);

//  Set the options of dict `options` (None: none) on spec. 0 or -1
static int
s_spec_options (async_spec_t *spec, PyObject *options)
{
    if (!options || options == Py_None)
        return 0;
    if (!PyDict_Check (options)) {
        PyErr_SetString (PyExc_TypeError, "spec options must be a dict");
        return -1;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next (options, &pos, &key, &value)) {
        const char *name = s_name (key, "an option name");
        if (!name)
            return -1;
        if (value == Py_None)
            continue;
        json_t *json = s_to_json (value, 1);
        if (!json)
            return -1;
        if (async_spec_option (spec, name, json)) {
            PyErr_NoMemory ();
            return -1;
        }
    }
    return 0;
}

//  A job for a task: args and kwargs
static async_spec_t *
s_spec_task (PyObject *tree, const char *task)
{
    PyObject *args = PyDict_GetItemString (tree, "args");
    PyObject *kwargs = PyDict_GetItemString (tree, "kwargs");
    if ((args && !PyList_Check (args) && !PyTuple_Check (args))
        || (kwargs && !PyDict_Check (kwargs))) {
        PyErr_SetString (PyExc_TypeError, "a spec's args must be a list, its kwargs a dict");
        return NULL;
    }
    async_spec_t *spec = async_spec_new (task);
    if (!spec)
        return (async_spec_t *) PyErr_NoMemory ();
    Py_ssize_t count = args ? PySequence_Fast_GET_SIZE (args) : 0;
    PyObject **items = args ? PySequence_Fast_ITEMS (args) : NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        json_t *json = s_to_json (items [i], 1);
        if (!json)
            goto fail;
        if (async_spec_arg (spec, json)) {
            PyErr_NoMemory ();
            goto fail;
        }
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (kwargs && PyDict_Next (kwargs, &pos, &key, &value)) {
        const char *name = s_name (key, "a keyword argument's name");
        if (!name)
            goto fail;
        json_t *json = s_to_json (value, 1);
        if (!json)
            goto fail;
        if (async_spec_kwarg (spec, name, json)) {
            PyErr_NoMemory ();
            goto fail;
        }
    }
    return spec;
fail:
    async_spec_destroy (&spec);
    return NULL;
}

//  A parallel or serial parent: children and postprocess
static async_spec_t *
s_spec_parent (PyObject *tree, PyObject *children, bool parallel, int depth)
{
    if (!PyList_Check (children) && !PyTuple_Check (children)) {
        PyErr_SetString (PyExc_TypeError, "a parent's children must be a list");
        return NULL;
    }
    async_spec_t *spec = parallel ? async_spec_parallel () : async_spec_serial ();
    if (!spec)
        return (async_spec_t *) PyErr_NoMemory ();
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE (children); i++) {
        async_spec_t *child = s_spec (PySequence_Fast_GET_ITEM (children, i), depth + 1);
        if (!child)
            goto fail;
        if (async_spec_add_child (spec, &child)) {
            PyErr_NoMemory ();
            goto fail;
        }
    }
    PyObject *post = PyDict_GetItemString (tree, "postprocess");
    if (post && post != Py_None) {
        async_spec_t *post_spec = s_spec (post, depth + 1);
        if (!post_spec)
            goto fail;
        if (async_spec_set_postprocess (spec, &post_spec)) {
            PyErr_NoMemory ();
            goto fail;
        }
    }
    return spec;
fail:
    async_spec_destroy (&spec);
    return NULL;
}

//  A spec from its tree (a dict, as above), or NULL with an exception set
static async_spec_t *
s_spec (PyObject *tree, int depth)
{
    if (depth > S_MAX_DEPTH) {
        PyErr_Format (PyExc_ValueError, "a spec may nest at most %d parents", S_MAX_DEPTH);
        return NULL;
    }
    if (!PyDict_Check (tree)) {
        PyErr_Format (PyExc_TypeError,
                      "a spec must be made by asyncmesh.call (), not be "
                      "'%.100s'",
                      Py_TYPE (tree)->tp_name);
        return NULL;
    }
    PyObject *task = PyDict_GetItemString (tree, "task");
    PyObject *parallel = PyDict_GetItemString (tree, "parallel");
    PyObject *serial = PyDict_GetItemString (tree, "serial");
    async_spec_t *spec = NULL;
    if (task) {
        const char *name = s_name (task, "a task name");
        if (!name)
            return NULL;
        spec = s_spec_task (tree, name);
    }
    else if (parallel || serial)
        spec = s_spec_parent (tree, parallel ? parallel : serial, parallel != NULL, depth);
    else
        PyErr_SetString (PyExc_TypeError,
                         "a spec needs a task, or parallel or serial children");
    if (spec && s_spec_options (spec, PyDict_GetItemString (tree, "options")))
        async_spec_destroy (&spec);
    return spec;
}

//  ---------------------------------------------------------------------
//  The Client type

//  A call on a closed client returns this code
#define S_CLOSED (-1)

//  Before a call on the client: release the GIL, then take the client's
//  lock (in this order: a thread that holds the lock never waits for the
//  GIL). Returns the thread state for s_leave ()
static PyThreadState *
s_enter (s_client_t *self)
{
    PyThreadState *state = PyEval_SaveThread ();
    PyThread_acquire_lock (self->lock, WAIT_LOCK);
    return state;
}

//  After it: copy the client's error message into `reason` while the lock
//  is held, drop the lock, take the GIL again
static void
s_leave (s_client_t *self, PyThreadState *state, char *reason, size_t size)
{
    snprintf (reason, size, "%s", self->client ? async_client_error (self->client) : "");
    PyThread_release_lock (self->lock);
    PyEval_RestoreThread (state);
}

//  The message for a code: the library's reason, with the job id when
//  the code is about a job
static PyObject *
s_client_raise (s_client_t *self, int rc, const char *reason, const char *id)
{
    char message [1024];
    if (rc == S_CLOSED)
        return s_raise (ASYNC_EINVAL, "the client is closed");
    if (rc == ASYNC_ETIMEOUT && id)
        snprintf (message, sizeof message, "timed out waiting for job %s", id);
    else if (rc == ASYNC_ENOJOB && id && !*reason)
        snprintf (message, sizeof message, "no such job: %s", id);
    else if (*reason)
        snprintf (message, sizeof message, "%s", reason);
    else
        snprintf (message, sizeof message, "%s (broker %s)", async_strerror (rc),
                  self->endpoint);
    return s_raise (rc, message);
}

static void
s_client_dealloc (s_client_t *self)
{
    async_client_destroy (&self->client);
    if (self->lock)
        PyThread_free_lock (self->lock);
    Py_TYPE (self)->tp_free ((PyObject *) self);
}

//  Client (endpoint, timeout_ms, curve_key, broker_public_key)
static int
s_client_init (s_client_t *self, PyObject *args, PyObject *kwargs)
{
    static char *names [] = { "endpoint", "timeout_ms", "curve_key", "broker_public_key",
                              NULL };
    const char *endpoint = NULL, *key = NULL, *broker_public = NULL;
    int timeout_ms = 5000;
    if (!PyArg_ParseTupleAndKeywords (args, kwargs, "|zizz", names, &endpoint, &timeout_ms,
                                      &key, &broker_public))
        return -1;
    if (self->client) {
        PyErr_SetString (PyExc_RuntimeError, "Client.__init__ called twice");
        return -1;
    }
    if (timeout_ms < 1) {
        PyErr_SetString (PyExc_ValueError, "timeout_ms must be 1 or more");
        return -1;
    }
    if (!key != !broker_public) {
        PyErr_SetString (PyExc_ValueError,
                         "give both curve_key and broker_public_key, or "
                         "neither for no CURVE");
        return -1;
    }
    if (!self->lock && !(self->lock = PyThread_allocate_lock ())) {
        PyErr_NoMemory ();
        return -1;
    }
    errno = 0;
    PyThreadState *state = PyEval_SaveThread ();
    self->client = async_client_new (endpoint);
    int err = errno;
    PyEval_RestoreThread (state);
    errno = err;
    if (!self->client) {
        char message [512];
        if (errno == EINVAL)
            snprintf (message, sizeof message,
                      "'%.200s' is not a ZeroMQ endpoint; give one like "
                      "tcp://127.0.0.1:9999",
                      endpoint && *endpoint ? endpoint : "$ASYNC_BROKER");
        else
            snprintf (message, sizeof message, "cannot create a client: %s",
                      strerror (errno ? errno : ENOMEM));
        s_raise (errno == EINVAL ? ASYNC_EINVAL : ASYNC_ENOMEM, message);
        return -1;
    }
    const char *used = endpoint && *endpoint ? endpoint : getenv ("ASYNC_BROKER");
    snprintf (self->endpoint, sizeof self->endpoint, "%s",
              used && *used ? used : ASYNC_DEFAULT_ENDPOINT);
    async_client_set_timeout (self->client, timeout_ms);
    self->timeout_ms = timeout_ms;
    if (key && async_client_set_curve (self->client, key, broker_public)) {
        char message [512];
        snprintf (message, sizeof message, "%s", async_client_error (self->client));
        async_client_destroy (&self->client);
        s_raise (ASYNC_EINVAL, message);
        return -1;
    }
    return 0;
}

//  submit (spec_tree) -> id
static PyObject *
s_client_submit (s_client_t *self, PyObject *tree)
{
    async_spec_t *spec = s_spec (tree, 0);
    if (!spec)
        return NULL;
    char id [ASYNC_ID_LEN] = "";
    char reason [512] = "";
    PyThreadState *state = s_enter (self);
    int rc = self->client ? async_submit (self->client, spec, id) : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    async_spec_destroy (&spec);
    if (rc)
        return s_client_raise (self, rc, reason, NULL);
    return PyUnicode_FromString (id);
}

//  A job id argument, checked: borrowed UTF-8, or NULL with ValueError
static const char *
s_id_arg (PyObject *object)
{
    const char *id = s_name (object, "a job id");
    if (!id)
        return NULL;
    if (strlen (id) >= ASYNC_ID_LEN) {
        PyErr_Format (PyExc_ValueError, "'%.60s' is not a job id", id);
        return NULL;
    }
    return id;
}

//  A wait runs in slices of this long at most, so that signals (Ctrl-C)
//  are handled between them
#define S_WAIT_SLICE_MS 1000

//  Monotonic time in microseconds
static int64_t
s_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  The progress callback of a slice: the broker answered (WAITING to each
//  WAIT the slice sent, or PROGRESS), so it is there
static void
s_wait_heard (void *arg, int64_t done, int64_t total)
{
    *(int64_t *) arg = s_mono_us ();
}

//  wait (id, timeout_ms) -> job dict (timeout_ms < 0: for ever). Waits in
//  slices (each one libasync's wait, which sends WAIT again), handling
//  signals in between, and gives up as libasync does when the broker is
//  silent: nothing heard within the client's timeout, or nothing for
//  max (timeout, 10 s) + 2 s after it answered
static PyObject *
s_wait_id (s_client_t *self, const char *id, int timeout_ms, int64_t start)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : start + (int64_t) timeout_ms * 1000;
    int64_t request_us = (int64_t) self->timeout_ms * 1000;
    int64_t silence_us = (request_us > 10000000 ? request_us : 10000000) + 2000000;
    int64_t heard = 0;
    char *text = NULL;
    char reason [512] = "";
    int rc;
    while (true) {
        int64_t left_ms = (deadline - s_mono_us ()) / 1000;
        int slice = left_ms < 0         ? 0
            : left_ms < S_WAIT_SLICE_MS ? (int) left_ms
                                        : S_WAIT_SLICE_MS;
        PyThreadState *state = s_enter (self);
        rc = self->client
            ? async_wait_progress_json (self->client, id, slice, s_wait_heard, &heard, &text)
            : S_CLOSED;
        s_leave (self, state, reason, sizeof reason);
        if (rc != ASYNC_ETIMEOUT)
            break;
        if (PyErr_CheckSignals () < 0)
            return NULL;
        int64_t now = s_mono_us ();
        if (now >= deadline)
            break;
        if (heard ? now - heard > silence_us : now - start > request_us) {
            rc = ASYNC_EUNREACH;
            snprintf (reason, sizeof reason,
                      "cannot reach the broker at %s; is asyncbroker running?", self->endpoint);
            break;
        }
    }
    if (rc) {
        free (text);
        return s_client_raise (self, rc, reason, id);
    }
    return s_from_text (text);
}

static PyObject *
s_client_wait (s_client_t *self, PyObject *args)
{
    PyObject *id_object;
    int timeout_ms;
    if (!PyArg_ParseTuple (args, "Ui", &id_object, &timeout_ms))
        return NULL;
    const char *id = s_id_arg (id_object);
    if (!id)
        return NULL;
    return s_wait_id (self, id, timeout_ms, s_mono_us ());
}

//  A spec tree as JSON text (caller frees), or NULL with an exception set
static char *
s_spec_text (PyObject *tree)
{
    async_spec_t *spec = s_spec (tree, 0);
    if (!spec)
        return NULL;
    char *text = json_dumps (async_spec_json (spec), JSON_COMPACT);
    async_spec_destroy (&spec);
    if (!text)
        PyErr_NoMemory ();
    return text;
}

//  submit_wait (spec_tree, timeout_ms) -> (id, job dict): submit and wait
//  in one request (timeout_ms < 0: for ever). The first slice waits with
//  the submit; a job not done by then is waited for as wait () does, in
//  slices that let signals through
static PyObject *
s_client_submit_wait (s_client_t *self, PyObject *args)
{
    PyObject *tree;
    int timeout_ms;
    if (!PyArg_ParseTuple (args, "Oi", &tree, &timeout_ms))
        return NULL;
    char *spec_text = s_spec_text (tree);
    if (!spec_text)
        return NULL;
    int64_t start = s_mono_us ();
    int slice = timeout_ms < 0 || timeout_ms > S_WAIT_SLICE_MS ? S_WAIT_SLICE_MS : timeout_ms;
    char id [ASYNC_ID_LEN] = "";
    char reason [512] = "";
    char *text = NULL;
    PyThreadState *state = s_enter (self);
    int rc = self->client
           ? async_submit_wait_json (self->client, spec_text, slice, id, &text) : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    free (spec_text);
    PyObject *job;
    if (rc == ASYNC_ETIMEOUT && *id && (timeout_ms < 0 || timeout_ms > slice)) {
        free (text);
        if (PyErr_CheckSignals () < 0)
            return NULL;
        int64_t spent_ms = (s_mono_us () - start) / 1000;
        int left = timeout_ms < 0 ? -1
                 : spent_ms >= timeout_ms ? 0 : timeout_ms - (int) spent_ms;
        job = s_wait_id (self, id, left, s_mono_us ());
    }
    else
    if (rc) {
        free (text);
        return s_client_raise (self, rc, reason, *id ? id : NULL);
    }
    else
        job = s_from_text (text);
    return job ? Py_BuildValue ("(sN)", id, job) : NULL;
}

//  At most this many specs in one submit_many
#define S_MANY_MAX 100000

//  A batch argument as a fast sequence of at most S_MANY_MAX items (caller
//  decrefs), or NULL with TypeError or ValueError set
static PyObject *
s_batch (PyObject *list, const char *what)
{
    PyObject *seq = PySequence_Fast (list, what);
    if (seq && PySequence_Fast_GET_SIZE (seq) > S_MANY_MAX) {
        Py_DECREF (seq);
        PyErr_Format (PyExc_ValueError, "at most %d at once: %s", S_MANY_MAX, what);
        return NULL;
    }
    return seq;
}

//  submit_many (list of spec trees) -> (ids, codes): pipelined submits;
//  ids [i] is job i's id, or None when it was not accepted, with codes [i]
//  its error code (0: accepted)
static PyObject *
s_client_submit_many (s_client_t *self, PyObject *trees)
{
    PyObject *seq = s_batch (trees, "submit_many takes a list of specs");
    if (!seq)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE (seq);
    size_t n = (size_t) count;
    char **texts = (char **) calloc (n ? n : 1, sizeof (char *));
    char *ids = (char *) calloc (n ? n : 1, ASYNC_ID_LEN);
    int *rcs = (int *) calloc (n ? n : 1, sizeof (int));
    PyObject *result = NULL;
    if (!texts || !ids || !rcs) {
        PyErr_NoMemory ();
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (!(texts [i] = s_spec_text (PySequence_Fast_GET_ITEM (seq, (Py_ssize_t) i))))
            goto done;
    char reason [512] = "";
    PyThreadState *state = s_enter (self);
    int rc = self->client
           ? async_submit_many_json (self->client, (const char *const *) texts, n, ids, rcs)
           : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    if (rc == S_CLOSED) {
        s_client_raise (self, rc, reason, NULL);
        goto done;
    }
    PyObject *id_list = PyList_New (count), *rc_list = PyList_New (count);
    for (size_t i = 0; id_list && rc_list && i < n; i++) {
        PyList_SET_ITEM (id_list, (Py_ssize_t) i, rcs [i] == 0
            ? PyUnicode_FromString (ids + i * ASYNC_ID_LEN) : Py_NewRef (Py_None));
        PyList_SET_ITEM (rc_list, (Py_ssize_t) i, PyLong_FromLong (rcs [i]));
    }
    if (id_list && rc_list)
        result = Py_BuildValue ("(NNs)", id_list, rc_list, reason);
    else {
        Py_XDECREF (id_list);
        Py_XDECREF (rc_list);
    }
done:
    for (size_t i = 0; texts && i < n; i++)
        free (texts [i]);
    free (texts);
    free (ids);
    free (rcs);
    Py_DECREF (seq);
    return result;
}

//  wait_all ([id, ...], timeout_ms) -> failed: until every job completed
//  (pipelined waits); how many completed with a failure
static PyObject *
s_client_wait_all (s_client_t *self, PyObject *args)
{
    PyObject *list;
    int timeout_ms;
    if (!PyArg_ParseTuple (args, "Oi", &list, &timeout_ms))
        return NULL;
    PyObject *seq = s_batch (list, "wait_all takes a list of job ids");
    if (!seq)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE (seq);
    char *ids = (char *) calloc (count ? (size_t) count : 1, ASYNC_ID_LEN);
    if (!ids) {
        Py_DECREF (seq);
        return PyErr_NoMemory ();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *id = s_id_arg (PySequence_Fast_GET_ITEM (seq, i));
        if (!id) {
            free (ids);
            Py_DECREF (seq);
            return NULL;
        }
        snprintf (ids + i * ASYNC_ID_LEN, ASYNC_ID_LEN, "%s", id);
    }
    Py_DECREF (seq);
    size_t failed = 0;
    char reason [512] = "";
    PyThreadState *state = s_enter (self);
    int rc = self->client
           ? async_wait_all (self->client, ids, (size_t) count, timeout_ms, &failed)
           : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    free (ids);
    if (rc)
        return s_client_raise (self, rc, reason, NULL);
    return PyLong_FromSize_t (failed);
}

//  A JSON document about job (id), from `read` (async_job_json,
//  async_annotations_json), as Python values
static PyObject *
s_client_id_json (s_client_t *self, PyObject *id_object,
                  int (*read) (async_client_t *, const char *, char **))
{
    const char *id = s_id_arg (id_object);
    if (!id)
        return NULL;
    char *text = NULL;
    char reason [512] = "";
    PyThreadState *state = s_enter (self);
    int rc = self->client ? read (self->client, id, &text) : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    if (rc) {
        free (text);
        return s_client_raise (self, rc, reason, id);
    }
    return s_from_text (text);
}

//  job (id) -> job dict
static PyObject *
s_client_job (s_client_t *self, PyObject *id_object)
{
    return s_client_id_json (self, id_object, async_job_json);
}

//  cancel (id) -> None
static PyObject *
s_client_cancel (s_client_t *self, PyObject *id_object)
{
    const char *id = s_id_arg (id_object);
    if (!id)
        return NULL;
    char reason [512] = "";
    PyThreadState *state = s_enter (self);
    int rc = self->client ? async_cancel (self->client, id) : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    if (rc)
        return s_client_raise (self, rc, reason, id);
    Py_RETURN_NONE;
}

//  annotations (id) -> dict
static PyObject *
s_client_annotations (s_client_t *self, PyObject *id_object)
{
    return s_client_id_json (self, id_object, async_annotations_json);
}

//  annotate (id, name, value) -> None
static PyObject *
s_client_annotate (s_client_t *self, PyObject *args)
{
    PyObject *id_object, *value;
    const char *name;
    if (!PyArg_ParseTuple (args, "UsO", &id_object, &name, &value))
        return NULL;
    const char *id = s_id_arg (id_object);
    json_t *json = id ? s_to_json (value, 1) : NULL;
    if (!json)
        return NULL;
    char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref (json);
    if (!text)
        return PyErr_NoMemory ();
    char reason [512] = "";
    PyThreadState *state = s_enter (self);
    int rc = self->client ? async_annotate (self->client, id, name, text) : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    free (text);
    if (rc)
        return s_client_raise (self, rc, reason, id);
    Py_RETURN_NONE;
}

//  add_callback (id, on, spec_tree) -> the callback's id
static PyObject *
s_client_add_callback (s_client_t *self, PyObject *args)
{
    PyObject *id_object, *tree;
    const char *on;
    if (!PyArg_ParseTuple (args, "UsO", &id_object, &on, &tree))
        return NULL;
    const char *id = s_id_arg (id_object);
    async_spec_t *spec = id ? s_spec (tree, 0) : NULL;
    if (!spec)
        return NULL;
    char *text = json_dumps (async_spec_json (spec), JSON_COMPACT);
    async_spec_destroy (&spec);
    if (!text)
        return PyErr_NoMemory ();
    char callback [ASYNC_ID_LEN] = "";
    char reason [512] = "";
    PyThreadState *state = s_enter (self);
    int rc = self->client ? async_add_callback_json (self->client, id, on, text, callback)
                          : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    free (text);
    if (rc)
        return s_client_raise (self, rc, reason, id);
    return PyUnicode_FromString (callback);
}

//  status () -> dict, the broker's status
static PyObject *
s_client_status (s_client_t *self, PyObject *unused)
{
    char *text = NULL;
    char reason [512] = "";
    PyThreadState *state = s_enter (self);
    int rc = self->client ? async_status_json (self->client, &text) : S_CLOSED;
    s_leave (self, state, reason, sizeof reason);
    if (rc) {
        free (text);
        return s_client_raise (self, rc, reason, NULL);
    }
    return s_from_text (text);
}

//  close () -> None; a closed client refuses every call
static PyObject *
s_client_close (s_client_t *self, PyObject *unused)
{
    char reason [8];
    PyThreadState *state = s_enter (self);
    async_client_destroy (&self->client);
    s_leave (self, state, reason, sizeof reason);
    Py_RETURN_NONE;
}

static PyObject *
s_client_endpoint (s_client_t *self, void *closure)
{
    return PyUnicode_FromString (self->endpoint);
}

static PyMethodDef s_client_methods [] = {
    { "submit", (PyCFunction) s_client_submit, METH_O,
      "submit(spec_tree) -> id: submit a spec given as a dict tree" },
    { "wait", (PyCFunction) s_client_wait, METH_VARARGS,
      "wait(id, timeout_ms) -> dict: the job JSON once completed" },
    { "submit_wait", (PyCFunction) s_client_submit_wait, METH_VARARGS,
      "submit_wait(spec_tree, timeout_ms) -> (id, dict): submit, then the job JSON "
      "once completed, in one request" },
    { "wait_all", (PyCFunction) s_client_wait_all, METH_VARARGS,
      "wait_all([id, ...], timeout_ms) -> int: until all completed; how many failed" },
    { "submit_many", (PyCFunction) s_client_submit_many, METH_O,
      "submit_many([spec_tree, ...]) -> (ids, codes, reason): pipelined submits; "
      "ids[i] None where codes[i] is not 0" },
    { "job", (PyCFunction) s_client_job, METH_O, "job(id) -> dict: the job JSON" },
    { "cancel", (PyCFunction) s_client_cancel, METH_O, "cancel(id): cancel job id" },
    { "annotations", (PyCFunction) s_client_annotations, METH_O, "annotations(id) -> dict" },
    { "annotate", (PyCFunction) s_client_annotate, METH_VARARGS,
      "annotate(id, name, value): set an annotation" },
    { "add_callback", (PyCFunction) s_client_add_callback, METH_VARARGS,
      "add_callback(id, on, spec_tree) -> id: add a callback job" },
    { "status", (PyCFunction) s_client_status, METH_NOARGS,
      "status() -> dict: the broker's status" },
    { "close", (PyCFunction) s_client_close, METH_NOARGS,
      "close(): disconnect; later calls fail" },
    { NULL, NULL, 0, NULL }
};

static PyGetSetDef s_client_getset [] = { { "endpoint", (getter) s_client_endpoint, NULL,
                                            "the broker's endpoint", NULL },
                                          { NULL, NULL, NULL, NULL, NULL } };

static PyTypeObject s_client_type = {
    PyVarObject_HEAD_INIT (NULL, 0).tp_name = "asyncmesh._asyncmesh.Client",
    .tp_basicsize = sizeof (s_client_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A libasync client (asyncmesh.Client is the API to use)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) s_client_init,
    .tp_dealloc = (destructor) s_client_dealloc,
    .tp_methods = s_client_methods,
    .tp_getset = s_client_getset,
};

//  ---------------------------------------------------------------------
//  The module

//  check_value (value): raises TypeError / ValueError / OverflowError as
//  submit would for this value, else returns None
static PyObject *
s_check_value (PyObject *module, PyObject *value)
{
    json_t *json = s_to_json (value, 1);
    if (!json)
        return NULL;
    json_decref (json);
    Py_RETURN_NONE;
}

//  spec_json (spec_tree) -> str: the spec as the broker takes it (JSON
//  text), for a task that submits from inside asyncnode
static PyObject *
s_spec_json (PyObject *module, PyObject *tree)
{
    async_spec_t *spec = s_spec (tree, 0);
    if (!spec)
        return NULL;
    char *text = json_dumps (async_spec_json (spec), JSON_COMPACT);
    async_spec_destroy (&spec);
    if (!text)
        return PyErr_NoMemory ();
    PyObject *object = PyUnicode_FromString (text);
    free (text);
    return object;
}

//  strerror (code) -> str
static PyObject *
s_strerror (PyObject *module, PyObject *args)
{
    int code;
    if (!PyArg_ParseTuple (args, "i", &code))
        return NULL;
    return PyUnicode_FromString (async_strerror (code));
}

static PyMethodDef s_module_methods [] = {
    { "check_value", s_check_value, METH_O,
      "check_value(value): raise as submit would for a value it cannot send" },
    { "spec_json", s_spec_json, METH_O,
      "spec_json(spec_tree) -> str: the spec as JSON text, as submit sends it" },
    { "strerror", s_strerror, METH_VARARGS,
      "strerror(code) -> str: libasync's message for an error code" },
    { NULL, NULL, 0, NULL }
};

static struct PyModuleDef s_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "asyncmesh._asyncmesh",
    .m_doc = "The CPython extension over libasync (use the asyncmesh package)",
    .m_size = -1,
    .m_methods = s_module_methods,
};

PyMODINIT_FUNC
PyInit__asyncmesh (void)
{
    if (PyType_Ready (&s_client_type) < 0)
        return NULL;
    PyObject *module = PyModule_Create (&s_module);
    if (!module)
        return NULL;
    Py_INCREF (&s_client_type);
    if (PyModule_AddObject (module, "Client", (PyObject *) &s_client_type) < 0
        || PyModule_AddIntConstant (module, "ID_LEN", ASYNC_ID_LEN) < 0
#define S_ADD_CODE(name, value, msg) || PyModule_AddIntConstant (module, #name, value) < 0
            ASYNC_ERRNO_MAP (S_ADD_CODE)
#undef S_ADD_CODE
    ) {
        Py_DECREF (&s_client_type);
        Py_DECREF (module);
        return NULL;
    }
    return module;
}
