/*  =========================================================================
    asyncmesh_task - the task side of the Python package: asyncnode
    embeds CPython to run tasks written in Python (node/python.h)

    Compiled into asyncnode (not into the extension) when it is built with
    Python. In the node's process, while it has one thread:
    node_python_load starts the interpreter (without its signal handlers),
    puts --python-path first on sys.path, imports each --python-module and
    registers each function of it marked by @asyncmesh.task as task
    "MODULE.function", all of them run by s_python_task. The zygote is
    forked after that (node/isolate.h), so it and each child it forks have
    the interpreter with the modules imported; the node itself never runs
    Python again (its main thread keeps the GIL, which no other thread of
    it takes).

    In the child of a job: s_python_task converts the job's arguments
    (asyncmesh_values.h, as the client does), calls the function, and
    completes the job with its result; an exception becomes the job's
    failure: type the exception's class name, message str (exception),
    detail the formatted traceback, transient when the exception has an
    attribute `transient` that is True. While it runs, the built-in module
    _asyncmesh_task gives the package's asyncmesh.current_job () the job
    (the C task API, asyncmesh/task.h).
    =========================================================================
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../../node/python.h"
#include "async_task.h"  //  the registry's reason for a refused name
#include <asyncmesh/error.h>
#include <asyncmesh/task.h>
#include "asyncmesh_values.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

//  name -> function, of every Python task
static PyObject *s_tasks = NULL;
//  The job running in this child, NULL outside a task
static async_task_t *s_job = NULL;
//  This child has set up its interpreter after the fork
static bool s_forked = false;

//  ---------------------------------------------------------------------
//  _asyncmesh_task, the job for asyncmesh.current_job ()

//  The task API's calls for a job in a child share its channel to the
//  node: threads of the task make them one at a time, under this lock
static PyThread_type_lock s_lock = NULL;

//  Before a call of the task API: release the GIL, then take the lock (in
//  this order: a thread that holds the lock never waits for the GIL).
//  Returns the thread state for s_leave ()
static PyThreadState *
s_enter (void)
{
    PyThreadState *state = PyEval_SaveThread ();
    PyThread_acquire_lock (s_lock, WAIT_LOCK);
    return state;
}

static void
s_leave (PyThreadState *state)
{
    PyThread_release_lock (s_lock);
    PyEval_RestoreThread (state);
}

//  The running job, or NULL with RuntimeError
static async_task_t *
s_current (void)
{
    if (!s_job)
        PyErr_SetString (PyExc_RuntimeError,
                         "not inside a task: asyncmesh.current_job () works only in a "
                         "function asyncnode runs as a task");
    return s_job;
}

//  Raise asyncmesh's exception for libasync's code
static PyObject *
s_raise (int code, const char *reason)
{
    PyObject *errors = PyImport_ImportModule ("asyncmesh._errors");
    if (!errors)
        return NULL;
    PyObject *exc = PyObject_CallMethod (errors, "error_for", "is", code, reason);
    Py_DECREF (errors);
    if (exc) {
        PyErr_SetObject ((PyObject *) Py_TYPE (exc), exc);
        Py_DECREF (exc);
    }
    return NULL;
}

//  info () -> dict: id, task, attempt, agent-independent facts, args, kwargs
static PyObject *
s_info (PyObject *module, PyObject *unused)
{
    async_task_t *job = s_current ();
    if (!job)
        return NULL;
    PyObject *args = s_from_json (async_task_args (job));
    PyObject *kwargs = args ? s_from_json (async_task_kwargs (job)) : NULL;
    PyObject *info = kwargs
        ? Py_BuildValue ("{s:s, s:s, s:i, s:s, s:s, s:O, s:O}", "id", async_task_id (job),
                         "task", async_task_name (job), "attempt", async_task_attempt (job),
                         "node", async_task_node (job), "cwd", async_task_cwd (job), "args",
                         args, "kwargs", kwargs)
        : NULL;
    Py_XDECREF (args);
    Py_XDECREF (kwargs);
    return info;
}

//  progress (done, total)
static PyObject *
s_progress (PyObject *module, PyObject *args)
{
    long long done, total;
    if (!PyArg_ParseTuple (args, "LL", &done, &total))
        return NULL;
    async_task_t *job = s_current ();
    if (!job)
        return NULL;
    if (done < 0 || total < 0) {
        PyErr_SetString (PyExc_ValueError,
                         "report_progress (done, total): both must "
                         "be 0 or more");
        return NULL;
    }
    PyThreadState *state = s_enter ();
    async_task_progress (job, (int64_t) done, (int64_t) total);
    s_leave (state);
    Py_RETURN_NONE;
}

//  annotate (name, value)
static PyObject *
s_annotate (PyObject *module, PyObject *args)
{
    const char *name;
    PyObject *value;
    if (!PyArg_ParseTuple (args, "sO", &name, &value))
        return NULL;
    async_task_t *job = s_current ();
    json_t *json = job ? s_to_json (value, 1) : NULL;
    if (!json)
        return NULL;
    PyThreadState *state = s_enter ();
    int rc = async_task_annotate (job, name, json);
    s_leave (state);
    json_decref (json);
    if (rc)
        return s_raise (ASYNC_ETIMEOUT,
                        "the broker did not take the annotation "
                        "within 5 s");
    Py_RETURN_NONE;
}

//  annotation (name, timeout_ms) -> value or None
static PyObject *
s_annotation (PyObject *module, PyObject *args)
{
    const char *name;
    int timeout_ms;
    if (!PyArg_ParseTuple (args, "si", &name, &timeout_ms))
        return NULL;
    async_task_t *job = s_current ();
    if (!job)
        return NULL;
    if (timeout_ms < 0) {
        PyErr_SetString (PyExc_ValueError, "annotation (): timeout must be 0 or more");
        return NULL;
    }
    PyThreadState *state = s_enter ();
    json_t *json = async_task_annotation (job, name, timeout_ms);
    s_leave (state);
    if (!json)
        Py_RETURN_NONE;
    PyObject *value = s_from_json (json);
    json_decref (json);
    return value;
}

//  cancelled () -> bool
static PyObject *
s_cancelled (PyObject *module, PyObject *unused)
{
    async_task_t *job = s_current ();
    if (!job)
        return NULL;
    PyThreadState *state = s_enter ();
    bool cancelled = async_task_cancelled (job);
    s_leave (state);
    return PyBool_FromLong (cancelled);
}

//  sleep (msecs) -> bool, True if cancelled
static PyObject *
s_sleep (PyObject *module, PyObject *args)
{
    int msecs;
    if (!PyArg_ParseTuple (args, "i", &msecs))
        return NULL;
    async_task_t *job = s_current ();
    if (!job)
        return NULL;
    if (msecs < 0) {
        PyErr_SetString (PyExc_ValueError, "sleep (): seconds must be 0 or more");
        return NULL;
    }
    PyThreadState *state = s_enter ();
    bool cancelled = async_task_sleep (job, msecs);
    s_leave (state);
    return PyBool_FromLong (cancelled);
}

//  submit (spec_json) -> id
static PyObject *
s_submit (PyObject *module, PyObject *args)
{
    const char *spec;
    if (!PyArg_ParseTuple (args, "s", &spec))
        return NULL;
    async_task_t *job = s_current ();
    if (!job)
        return NULL;
    char id [ASYNC_ID_LEN] = "";
    PyThreadState *state = s_enter ();
    int rc = async_task_submit_json (job, spec, id);
    s_leave (state);
    if (rc)
        return s_raise (rc,
                        rc == ASYNC_EREFUSED
                            ? "the broker refused the job submitted by the task"
                            : "the job submitted by the task did not reach the broker");
    return PyUnicode_FromString (id);
}

//  handoff (id): complete with the result of that job
static PyObject *
s_handoff (PyObject *module, PyObject *args)
{
    const char *id;
    if (!PyArg_ParseTuple (args, "s", &id))
        return NULL;
    async_task_t *job = s_current ();
    if (!job)
        return NULL;
    if (strlen (id) != ASYNC_ID_LEN - 1) {
        PyErr_Format (PyExc_ValueError, "handoff (): '%.60s' is not a job id", id);
        return NULL;
    }
    PyThreadState *state = s_enter ();
    int rc = async_task_handoff (job, id);
    s_leave (state);
    if (rc) {
        PyErr_SetString (PyExc_RuntimeError, "handoff (): the job has its outcome already");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef s_task_methods [] = {
    { "info", s_info, METH_NOARGS, "info() -> dict: the running job" },
    { "progress", s_progress, METH_VARARGS, "progress(done, total)" },
    { "annotate", s_annotate, METH_VARARGS, "annotate(name, value)" },
    { "annotation", s_annotation, METH_VARARGS, "annotation(name, timeout_ms) -> value" },
    { "cancelled", s_cancelled, METH_NOARGS, "cancelled() -> bool" },
    { "sleep", s_sleep, METH_VARARGS, "sleep(msecs) -> bool: True if cancelled" },
    { "submit", s_submit, METH_VARARGS, "submit(spec_json) -> id" },
    { "handoff", s_handoff, METH_VARARGS, "handoff(id)" },
    { NULL, NULL, 0, NULL }
};

static struct PyModuleDef s_task_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_asyncmesh_task",
    .m_doc = "The job asyncnode runs (use asyncmesh.current_job ())",
    .m_size = -1,
    .m_methods = s_task_methods,
};

static PyObject *
s_task_module_init (void)
{
    return PyModule_Create (&s_task_module);
}

//  ---------------------------------------------------------------------
//  Loading

//  Run in the interpreter at start: _load (paths, fallback) sets sys.path,
//  _tasks (name) imports one module and returns {task name: function}
static const char s_bootstrap [] =
    "import importlib, sys, traceback\n"
    "def _load(paths, fallback):\n"
    "    sys.argv = ['asyncnode']\n"
    "    sys.path[:0] = list(paths)\n"
    "    try:\n"
    "        import asyncmesh\n"
    "    except ImportError:\n"
    "        sys.path.append(fallback)\n"
    "def _tasks(name):\n"
    "    module = importlib.import_module(name)\n"
    "    found = {}\n"
    "    for attr, value in vars(module).items():\n"
    "        if (callable(value) and getattr(value, '__asyncmesh_task__', False)\n"
    "                and getattr(value, '__module__', None) == module.__name__):\n"
    "            found[name + '.' + attr] = value\n"
    "    return found\n"
    "def _failure(exc):\n"
    "    detail = ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))\n"
    "    return (type(exc).__name__, str(exc), detail,\n"
    "            getattr(exc, 'transient', False) is True)\n"
    "def _flush():\n"
    "    for stream in (sys.stdout, sys.stderr):\n"
    "        try:\n"
    "            stream.flush()\n"
    "        except Exception:\n"
    "            pass\n";

static PyObject *s_boot = NULL;  //  the namespace of s_bootstrap

//  The pending exception as "Type: message" (cleared), into text
static void
s_exception_line (char *text, size_t size)
{
    PyObject *type, *value, *trace;
    PyErr_Fetch (&type, &value, &trace);
    PyErr_NormalizeException (&type, &value, &trace);
    if (value) {
        if (trace)
            PyException_SetTraceback (value, trace);
        PyObject *failure = PyObject_CallFunctionObjArgs (
            PyDict_GetItemString (s_boot, "_failure"), value, NULL);
        const char *name, *message, *detail;
        int transient;
        if (failure && PyArg_ParseTuple (failure, "sssp", &name, &message, &detail, &transient))
            snprintf (text, size, "%s: %s", name, message);
        else
            snprintf (text, size, "an exception that cannot be shown");
        Py_XDECREF (failure);
    }
    else
        snprintf (text, size, "an unknown error");
    PyErr_Clear ();
    Py_XDECREF (type);
    Py_XDECREF (value);
    Py_XDECREF (trace);
}

static int s_python_task (async_task_t *task);

int
node_python_load (async_registry_t *registry, const char *const *paths, int npaths,
                  const char *const *modules, int nmodules, char *err, size_t err_size)
{
    if (Py_IsInitialized ()) {
        snprintf (err, err_size, "the Python interpreter is started already");
        return -1;
    }
    if (PyImport_AppendInittab ("_asyncmesh_task", s_task_module_init)) {
        snprintf (err, err_size, "cannot add the module _asyncmesh_task to Python");
        return -1;
    }
    PyConfig config;
    PyConfig_InitPythonConfig (&config);
    config.install_signal_handlers = 0;  //  the node's signals are its own
    config.parse_argv = 0;
    PyStatus status = PyConfig_SetBytesString (&config, &config.program_name, "asyncnode");
    if (!PyStatus_Exception (status))
        status = Py_InitializeFromConfig (&config);
    PyConfig_Clear (&config);
    if (PyStatus_Exception (status)) {
        snprintf (err, err_size, "cannot start the Python interpreter: %s",
                  status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    s_boot = PyDict_New ();
    s_tasks = PyDict_New ();
    if (!s_boot || !s_tasks
        || PyDict_SetItemString (s_boot, "__builtins__", PyEval_GetBuiltins ())) {
        snprintf (err, err_size, "cannot set up the Python interpreter: out of memory");
        return -1;
    }
    PyObject *done = PyRun_String (s_bootstrap, Py_file_input, s_boot, s_boot);
    Py_XDECREF (done);
    PyObject *list = PyList_New (0);
    for (int i = 0; list && i < npaths; i++) {
        PyObject *path = PyUnicode_DecodeFSDefault (paths [i]);
        if (!path || PyList_Append (list, path))
            Py_CLEAR (list);
        Py_XDECREF (path);
    }
    PyObject *load = done && list ? PyDict_GetItemString (s_boot, "_load") : NULL;
    PyObject *loaded = load ? PyObject_CallFunction (load, "Os", list, ASYNC_PYTHON_BUILD_DIR)
                            : NULL;
    Py_XDECREF (list);
    if (!loaded) {
        char line [400];
        s_exception_line (line, sizeof line);
        snprintf (err, err_size, "cannot set up the Python interpreter: %s", line);
        return -1;
    }
    Py_DECREF (loaded);
    PyObject *find = PyDict_GetItemString (s_boot, "_tasks");
    for (int i = 0; i < nmodules; i++) {
        PyObject *found = PyObject_CallFunction (find, "s", modules [i]);
        if (!found) {
            char line [600];
            s_exception_line (line, sizeof line);
            snprintf (err, err_size, "--python-module %s: the module does not import: %s",
                      modules [i], line);
            return -1;
        }
        if (PyDict_Size (found) == 0) {
            snprintf (err, err_size,
                      "--python-module %s: the module has no function "
                      "decorated with @asyncmesh.task",
                      modules [i]);
            Py_DECREF (found);
            return -1;
        }
        PyObject *name, *fn;
        Py_ssize_t pos = 0;
        while (PyDict_Next (found, &pos, &name, &fn)) {
            const char *text = PyUnicode_AsUTF8 (name);
            if (!text || PyDict_GetItem (s_tasks, name)) {
                PyErr_Clear ();
                snprintf (err, err_size,
                          "--python-module %s: task %s is registered "
                          "twice (the module is given twice?)",
                          modules [i], text ? text : "?");
                Py_DECREF (found);
                return -1;
            }
            if (async_registry_add (registry, text, s_python_task)
                || PyDict_SetItem (s_tasks, name, fn)) {
                PyErr_Clear ();
                snprintf (err, err_size, "--python-module %s: %s", modules [i],
                          *registry->refused ? registry->refused
                                             : "cannot register its tasks: out of memory");
                Py_DECREF (found);
                return -1;
            }
        }
        Py_DECREF (found);
    }
    fflush (stdout);
    return 0;
}

bool
node_python_is_task (async_task_fn *fn)
{
    return fn == s_python_task;
}

//  ---------------------------------------------------------------------
//  Running, in the job's child process

//  Fail the job with the pending exception
static void
s_fail_exception (async_task_t *task)
{
    PyObject *type, *value, *trace;
    PyErr_Fetch (&type, &value, &trace);
    PyErr_NormalizeException (&type, &value, &trace);
    if (value && trace)
        PyException_SetTraceback (value, trace);
    PyObject *failure = NULL;
    if (value)
        failure = PyObject_CallFunctionObjArgs (PyDict_GetItemString (s_boot, "_failure"),
                                                value, NULL);
    const char *name, *message, *detail;
    int transient;
    if (failure && PyArg_ParseTuple (failure, "sssp", &name, &message, &detail, &transient))
        async_task_fail_full (task, name, message, detail, transient);
    else {
        PyErr_Clear ();
        async_task_fail (task, type ? ((PyTypeObject *) type)->tp_name : "Error",
                         "an exception whose message cannot be shown");
    }
    Py_XDECREF (failure);
    Py_XDECREF (type);
    Py_XDECREF (value);
    Py_XDECREF (trace);
}

static int
s_python_task (async_task_t *task)
{
    if (!s_forked) {
        //  The first Python code in this process since the fork
        PyOS_AfterFork_Child ();
        s_forked = true;
        s_lock = PyThread_allocate_lock ();
        if (!s_lock)
            return async_task_fail (task, "MemoryError", "cannot allocate a lock");
    }
    PyObject *fn = s_tasks ? PyDict_GetItemString (s_tasks, async_task_name (task)) : NULL;
    if (!fn)
        return async_task_failf (task, "UnknownTaskError", "no Python task named %s",
                                 async_task_name (task));
    PyObject *list = s_from_json (async_task_args (task));
    PyObject *args = list ? PyList_AsTuple (list) : NULL;
    PyObject *kwargs = args ? s_from_json (async_task_kwargs (task)) : NULL;
    Py_XDECREF (list);
    PyObject *result = NULL;
    if (kwargs) {
        s_job = task;
        result = PyObject_Call (fn, args, kwargs);
        s_job = NULL;
    }
    Py_XDECREF (args);
    Py_XDECREF (kwargs);
    if (!result)
        s_fail_exception (task);
    else {
        json_t *json = s_to_json (result, 1);
        Py_DECREF (result);
        if (json)
            async_task_return (task, json);  //  after a hand-off: ignored
        else {
            char line [400];
            s_exception_line (line, sizeof line);
            async_task_failf (task, "TypeError", "the result of %s cannot be sent: %s",
                              async_task_name (task), line);
        }
    }
    PyObject *flush = PyDict_GetItemString (s_boot, "_flush");
    PyObject *flushed = flush ? PyObject_CallNoArgs (flush) : NULL;
    Py_XDECREF (flushed);
    PyErr_Clear ();
    return 0;
}
