/*  =========================================================================
    testing - tasks for the project's own tests and for trying the system

    Every task of docs/spec.md section 3: noop, ret, mul, fail, flaky, block,
    sleep, crash_once, segfault, touch, record, scribble, handle, progress,
    converse, handoff; and handoff_to, for hand-offs between jobs that
    already exist.

    Arguments bind as in a Python call: positionally or by name, with
    defaults; a mismatch fails with BadArgumentsError. Relative paths
    resolve against the node's working directory. noop, segfault, touch
    and record ignore surplus positional arguments, so that they can serve
    as callbacks (a callback gets the job's result appended); handle reads
    the failure from its last positional argument.
    =========================================================================
*/
#define _GNU_SOURCE
#include <asyncmesh/error.h>
#include <asyncmesh/task.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_CONVERSE_WAIT_US  3000000     //  converse waits this long for a reply
#define S_CONVERSE_POLL_MS  50          //  and reads the reply this often
#define S_BLOCK_POLL_MS     10          //  block looks for its file this often
#define S_SLEEP_MAX         1e9         //  the longest sleep, in seconds

//  A Python-like signature
typedef struct {
    const char *text;           //  "testing.mul(a, b, c=1)", for messages
    size_t required;            //  how many leading parameters have no default
    bool extra_ok;              //  ignore surplus positional arguments
    const char *names [4];      //  parameter names, NULL-terminated
} s_sig_t;

static const s_sig_t
    s_ret_sig = { "testing.ret(v)", 1, false, { "v" } },
    s_mul_sig = { "testing.mul(a, b, c=1)", 2, false, { "a", "b", "c" } },
    s_fail_sig = { "testing.fail(type, message, transient=false)", 2, false,
                   { "type", "message", "transient" } },
    s_flaky_sig = { "testing.flaky(path, n, transient=true)", 2, false,
                    { "path", "n", "transient" } },
    s_block_sig = { "testing.block(path)", 1, false, { "path" } },
    s_sleep_sig = { "testing.sleep(seconds)", 1, false, { "seconds" } },
    s_crash_once_sig = { "testing.crash_once(path)", 1, false, { "path" } },
    s_touch_sig = { "testing.touch(path)", 1, true, { "path" } },
    s_record_sig = { "testing.record(path, tag)", 2, true, { "path", "tag" } },
    s_scribble_sig = { "testing.scribble(s)", 1, false, { "s" } },
    s_handle_sig = { "testing.handle(failure)", 1, true, { "failure" } },
    s_progress_sig = { "testing.progress(n)", 1, false, { "n" } },
    s_converse_sig = { "testing.converse(name, value)", 2, false,
                       { "name", "value" } },
    s_handoff_sig = { "testing.handoff(task, args...)", 1, true, { "task" } },
    s_handoff_to_sig = { "testing.handoff_to(path)", 1, false, { "path" } };

//  ---------------------------------------------------------------------
//  Helpers

static int64_t
s_wall_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
s_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  Fail with BadArgumentsError: "<signature>: <what is wrong>"
static int
s_bad (async_task_t *task, const s_sig_t *sig, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_bad (async_task_t *task, const s_sig_t *sig, const char *format, ...)
{
    char message [512];
    int len = snprintf (message, sizeof message, "%s: ", sig->text);
    va_list args;
    va_start (args, format);
    vsnprintf (message + len, sizeof message - (size_t) len, format, args);
    va_end (args);
    return async_task_fail (task, "BadArgumentsError", message);
}

static int
s_cancelled (async_task_t *task)
{
    char message [128];
    snprintf (message, sizeof message, "%s: cancelled", async_task_name (task));
    return async_task_fail (task, "CancelledError", message);
}

//  Bind the job's arguments to `sig`: values [i] gets parameter i, given
//  positionally or by name (borrowed), or NULL when left to its default.
//  On a mismatch fails the task with BadArgumentsError, stores what that
//  call returned in *rc, and returns -1; else returns 0.
static int
s_bind (async_task_t *task, const s_sig_t *sig, json_t *values [], int *rc)
{
    size_t count = 0;
    while (sig->names [count])
        count++;
    size_t argc = async_task_argc (task);
    if (argc > count && !sig->extra_ok) {
        *rc = s_bad (task, sig,
                     "takes at most %zu positional argument%s, got %zu",
                     count, count == 1 ? "" : "s", argc);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        values [i] = async_task_arg (task, i);
    const char *key;
    json_t *value;
    json_object_foreach (async_task_kwargs (task), key, value) {
        size_t i = 0;
        while (i < count && strcmp (sig->names [i], key) != 0)
            i++;
        if (i == count) {
            *rc = s_bad (task, sig, "unexpected keyword argument '%s'", key);
            return -1;
        }
        if (values [i]) {
            *rc = s_bad (task, sig, "argument '%s' given twice", key);
            return -1;
        }
        values [i] = value;
    }
    for (size_t i = 0; i < sig->required; i++)
        if (!values [i]) {
            *rc = s_bad (task, sig, "missing argument '%s'", sig->names [i]);
            return -1;
        }
    return 0;
}

//  Resolve the path in `value` against the node's working directory into
//  buf. Returns buf, or NULL if value is not a non-empty string or the
//  result does not fit.
static const char *
s_path (async_task_t *task, json_t *value, char *buf, size_t size)
{
    const char *path = json_string_value (value);
    if (!path || !*path)
        return NULL;
    const char *cwd = async_task_cwd (task);
    int len = path [0] == '/' || !cwd || !*cwd
            ? snprintf (buf, size, "%s", path)
            : snprintf (buf, size, "%s/%s", cwd, path);
    return len >= 0 && (size_t) len < size ? buf : NULL;
}

//  An optional boolean parameter. 0, or -1 if `value` is not a boolean.
static int
s_bool (json_t *value, bool *result)
{
    if (!value)
        return 0;
    if (!json_is_boolean (value))
        return -1;
    *result = json_is_true (value);
    return 0;
}

//  Sleep `seconds`, waking early on cancellation. True if cancelled.
static bool
s_sleep (async_task_t *task, double seconds)
{
    int64_t deadline = s_mono_us () + (int64_t) (seconds * 1e6);
    int64_t left;
    while ((left = deadline - s_mono_us ()) > 0) {
        int64_t msecs = (left + 999) / 1000;
        if (async_task_sleep (task, msecs > 60000 ? 60000 : (int) msecs))
            return true;
    }
    return false;
}

//  Count a call in the file at `path` (a decimal integer; missing or
//  empty = 0), under an exclusive lock, and return the new count.
//  0, an errno value, or -1 if the file holds something else.
static int
s_count_call (const char *path, json_int_t *calls)
{
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1)
        return errno;
    int rc = 0;
    while (flock (fd, LOCK_EX) == -1)
        if (errno != EINTR) {
            rc = errno;
            goto done;
        }
    char text [32];
    ssize_t size = pread (fd, text, sizeof text - 1, 0);
    if (size < 0) {
        rc = errno;
        goto done;
    }
    text [size] = '\0';
    char *end;
    errno = 0;
    *calls = size ? strtoll (text, &end, 10) : 0;
    if (size && (errno || end == text || (*end && *end != '\n')
                 || *calls < 0)) {
        rc = -1;
        goto done;
    }
    //  The count only grows, so the new text covers the old one whole
    ++*calls;
    int len = snprintf (text, sizeof text, "%" JSON_INTEGER_FORMAT "\n",
                        *calls);
    if (pwrite (fd, text, (size_t) len, 0) != len
    ||  ftruncate (fd, len) == -1
    ||  fsync (fd) == -1)
        rc = errno ? errno : EIO;
done:
    close (fd);                 //  releases the lock
    return rc;
}

//  Make the existence of the file at `path`, open on fd, durable: sync
//  the file, then its directory. 0 or an errno value.
static int
s_sync_new_file (int fd, const char *path)
{
    if (fsync (fd) == -1)
        return errno;
    char dir [PATH_MAX];
    snprintf (dir, sizeof dir, "%s", path);
    char *slash = strrchr (dir, '/');
    if (slash == dir)
        dir [1] = '\0';
    else
    if (slash)
        *slash = '\0';
    else
        strcpy (dir, ".");
    int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd == -1)
        return errno;
    int rc = fsync (dirfd) == -1 ? errno : 0;
    close (dirfd);
    return rc;
}

//  ---------------------------------------------------------------------
//  The tasks

//  testing.noop() -> nil; ignores any arguments
static int
s_noop (async_task_t *task)
{
    return async_task_return (task, NULL);
}

//  testing.ret(v) -> v
static int
s_ret (async_task_t *task)
{
    json_t *v [1];
    int rc;
    if (s_bind (task, &s_ret_sig, v, &rc))
        return rc;
    return async_task_return (task, json_incref (v [0]));
}

//  testing.mul(a, b, c=1) -> a*b*c: an int when all are ints, else a float
static int
s_mul (async_task_t *task)
{
    json_t *v [3];
    int rc;
    if (s_bind (task, &s_mul_sig, v, &rc))
        return rc;
    bool ints = true, overflow = false;
    json_int_t iproduct = 1;
    double fproduct = 1.0;
    for (int i = 0; i < 3; i++) {
        if (!v [i])
            continue;           //  c = 1
        if (!json_is_number (v [i]))
            return s_bad (task, &s_mul_sig, "%s must be a number",
                          s_mul_sig.names [i]);
        fproduct *= json_number_value (v [i]);
        if (json_is_integer (v [i]))
            overflow |= __builtin_mul_overflow (
                iproduct, json_integer_value (v [i]), &iproduct);
        else
            ints = false;
    }
    if (ints ? overflow : !isfinite (fproduct))
        return async_task_fail (task, "OverflowError",
                                "testing.mul: the product is too large");
    return async_task_return (task, ints ? json_integer (iproduct)
                                         : json_real (fproduct));
}

//  testing.fail(type, message, transient=false) fails with that failure
static int
s_fail (async_task_t *task)
{
    json_t *v [3];
    int rc;
    if (s_bind (task, &s_fail_sig, v, &rc))
        return rc;
    const char *type = json_string_value (v [0]);
    const char *message = json_string_value (v [1]);
    bool transient = false;
    if (!type || !*type)
        return s_bad (task, &s_fail_sig, "type must be a non-empty string");
    if (!message)
        return s_bad (task, &s_fail_sig, "message must be a string");
    if (s_bool (v [2], &transient))
        return s_bad (task, &s_fail_sig, "transient must be true or false");
    return async_task_fail_full (task, type, message, NULL, transient);
}

//  testing.flaky(path, n, transient=true): calls 1..n (counted in the file
//  `path`) fail with FlakyError, later calls return 42
static int
s_flaky (async_task_t *task)
{
    json_t *v [3];
    int rc;
    if (s_bind (task, &s_flaky_sig, v, &rc))
        return rc;
    char path [PATH_MAX];
    bool transient = true;
    if (!s_path (task, v [0], path, sizeof path))
        return s_bad (task, &s_flaky_sig, "path must be a non-empty string");
    if (!json_is_integer (v [1]) || json_integer_value (v [1]) < 0)
        return s_bad (task, &s_flaky_sig, "n must be a non-negative integer");
    if (s_bool (v [2], &transient))
        return s_bad (task, &s_flaky_sig, "transient must be true or false");

    json_int_t calls = 0, n = json_integer_value (v [1]);
    int err = s_count_call (path, &calls);
    if (err == -1)
        return async_task_fail (task, "ValueError",
                                "testing.flaky: the file holds no call count");
    if (err)
        return async_task_fail_errno (task, err, "testing.flaky: cannot count calls in %s",
                          path);
    if (calls > n)
        return async_task_return (task, json_integer (42));
    char message [128];
    snprintf (message, sizeof message,
              "testing.flaky: call %" JSON_INTEGER_FORMAT
              " of %" JSON_INTEGER_FORMAT " that fail", calls, n);
    return async_task_fail_full (task, "FlakyError", message, NULL, transient);
}

//  testing.block(path): waits until the file exists, returns 42
static int
s_block (async_task_t *task)
{
    json_t *v [1];
    int rc;
    if (s_bind (task, &s_block_sig, v, &rc))
        return rc;
    char path [PATH_MAX];
    if (!s_path (task, v [0], path, sizeof path))
        return s_bad (task, &s_block_sig, "path must be a non-empty string");
    while (access (path, F_OK) == -1) {
        if (errno != ENOENT && errno != ENOTDIR)
            return async_task_fail_errno (task, errno, "testing.block: cannot look for %s",
                              path);
        if (async_task_cancelled (task)
        ||  async_task_sleep (task, S_BLOCK_POLL_MS))
            return s_cancelled (task);
    }
    return async_task_return (task, json_integer (42));
}

//  testing.sleep(seconds) -> seconds, as given
static int
s_sleep_task (async_task_t *task)
{
    json_t *v [1];
    int rc;
    if (s_bind (task, &s_sleep_sig, v, &rc))
        return rc;
    double seconds = json_number_value (v [0]);
    if (!json_is_number (v [0]) || !(seconds >= 0 && seconds <= S_SLEEP_MAX))
        return s_bad (task, &s_sleep_sig,
                      "seconds must be a number from 0 to 1e9");
    if (s_sleep (task, seconds))
        return s_cancelled (task);
    return async_task_return (task, json_incref (v [0]));
}

//  testing.crash_once(path): when the file is missing, creates it and
//  SIGKILLs its own process; otherwise returns 42
static int
s_crash_once (async_task_t *task)
{
    json_t *v [1];
    int rc;
    if (s_bind (task, &s_crash_once_sig, v, &rc))
        return rc;
    char path [PATH_MAX];
    if (!s_path (task, v [0], path, sizeof path))
        return s_bad (task, &s_crash_once_sig,
                      "path must be a non-empty string");
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd == -1 && errno == EEXIST)
        return async_task_return (task, json_integer (42));
    if (fd == -1)
        return async_task_fail_errno (task, errno, "testing.crash_once: cannot create %s",
                          path);
    int err = s_sync_new_file (fd, path);
    close (fd);
    if (err)
        return async_task_fail_errno (task, err, "testing.crash_once: cannot sync %s",
                          path);
    kill (getpid (), SIGKILL);
    return async_task_fail (task, "OSError",
                            "testing.crash_once: survived SIGKILL");
}

//  testing.segfault(): dereferences NULL
static int
s_segfault (async_task_t *task)
{
    //  Both volatile: else GCC sees the pointer can only be NULL and drops
    //  the store as undefined behaviour
    volatile int *volatile null = NULL;
    *null = 42;
    return async_task_fail (task, "OSError",
                            "testing.segfault: survived a NULL dereference");
}

//  testing.touch(path) -> path: creates the file or updates its times
static int
s_touch (async_task_t *task)
{
    json_t *v [1];
    int rc;
    if (s_bind (task, &s_touch_sig, v, &rc))
        return rc;
    char path [PATH_MAX];
    if (!s_path (task, v [0], path, sizeof path))
        return s_bad (task, &s_touch_sig, "path must be a non-empty string");
    int fd = open (path, O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC, 0644);
    if (fd == -1)
        return async_task_fail_errno (task, errno, "testing.touch: cannot create %s", path);
    futimens (fd, NULL);
    close (fd);
    return async_task_return (task, json_incref (v [0]));
}

//  testing.record(path, tag) -> tag: appends the line
//  "tag node-uuid start_us end_us" (wall clock, microseconds) to the file.
//  A tag that is not a string is written as JSON.
static int
s_record (async_task_t *task)
{
    int64_t start_us = s_wall_us ();
    json_t *v [2];
    int rc;
    if (s_bind (task, &s_record_sig, v, &rc))
        return rc;
    char path [PATH_MAX];
    if (!s_path (task, v [0], path, sizeof path))
        return s_bad (task, &s_record_sig, "path must be a non-empty string");
    char *tag = json_is_string (v [1]) ? strdup (json_string_value (v [1]))
              : json_dumps (v [1], JSON_ENCODE_ANY | JSON_COMPACT);
    if (!tag)
        return async_task_fail (task, "MemoryError",
                                "testing.record: out of memory");
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd == -1) {
        int err = errno;
        free (tag);
        return async_task_fail_errno (task, err, "testing.record: cannot open %s", path);
    }
    const char *node = async_task_node (task);
    char *line;
    int len = asprintf (&line, "%s %s %" PRId64 " %" PRId64 "\n",
                        tag, node ? node : "-", start_us, s_wall_us ());
    free (tag);
    //  One write to an O_APPEND file: concurrent lines never interleave
    ssize_t written = len < 0 ? -1 : write (fd, line, (size_t) len);
    int err = len < 0 ? ENOMEM : written < 0 ? errno : EIO;
    close (fd);
    if (len < 0)
        return async_task_fail_errno (task, err, "testing.record: cannot format the line");
    free (line);
    if (written != len)
        return async_task_fail_errno (task, err, "testing.record: cannot append to %s",
                          path);
    return async_task_return (task, json_incref (v [1]));
}

//  testing.scribble(s) -> s + ": SCRIBBLED"
static int
s_scribble (async_task_t *task)
{
    json_t *v [1];
    int rc;
    if (s_bind (task, &s_scribble_sig, v, &rc))
        return rc;
    const char *s = json_string_value (v [0]);
    if (!s)
        return s_bad (task, &s_scribble_sig, "s must be a string");
    return async_task_return (task, json_sprintf ("%s: SCRIBBLED", s));
}

//  testing.handle(failure) -> "handled " + failure["type"]; the failure is
//  the last positional argument (as a callback gets it)
static int
s_handle (async_task_t *task)
{
    size_t argc = async_task_argc (task);
    json_t *failure = argc ? async_task_arg (task, argc - 1) : NULL;
    const char *type = json_string_value (json_object_get (failure, "type"));
    if (json_object_size (async_task_kwargs (task)) > 0)
        return s_bad (task, &s_handle_sig, "takes no keyword arguments");
    if (!type)
        return s_bad (task, &s_handle_sig,
                      "the last argument must be a failure object with a type");
    return async_task_return (task, json_sprintf ("handled %s", type));
}

//  testing.progress(n) -> n: reports progress 1..n of n, 10 ms apart
static int
s_progress (async_task_t *task)
{
    json_t *v [1];
    int rc;
    if (s_bind (task, &s_progress_sig, v, &rc))
        return rc;
    if (!json_is_integer (v [0]) || json_integer_value (v [0]) < 0)
        return s_bad (task, &s_progress_sig,
                      "n must be a non-negative integer");
    json_int_t n = json_integer_value (v [0]);
    for (json_int_t i = 1; i <= n; i++) {
        if (i > 1 && async_task_sleep (task, 10))
            return s_cancelled (task);
        async_task_progress (task, i, n);
    }
    return async_task_return (task, json_integer (n));
}

//  testing.converse(name, value): sets annotation name=value, then waits up
//  to 3 s for annotation "reply" and returns it (nil if none came)
static int
s_converse (async_task_t *task)
{
    json_t *v [2];
    int rc;
    if (s_bind (task, &s_converse_sig, v, &rc))
        return rc;
    const char *name = json_string_value (v [0]);
    if (!name || !*name)
        return s_bad (task, &s_converse_sig, "name must be a non-empty string");
    if (async_task_annotate (task, name, v [1])) {
        char message [256];
        snprintf (message, sizeof message,
                  "testing.converse: cannot set annotation %.200s", name);
        return async_task_fail (task, "AnnotationError", message);
    }
    int64_t deadline = s_mono_us () + S_CONVERSE_WAIT_US;
    while (true) {
        int64_t left_ms = (deadline - s_mono_us ()) / 1000;
        int wait_ms = left_ms < S_CONVERSE_POLL_MS ? S_CONVERSE_POLL_MS
                    : left_ms > 1000 ? 1000 : (int) left_ms;
        json_t *reply = async_task_annotation (task, "reply", wait_ms);
        if (reply)
            return async_task_return (task, reply);
        left_ms = (deadline - s_mono_us ()) / 1000;
        if (left_ms <= 0)
            return async_task_return (task, NULL);
        int nap_ms = left_ms < S_CONVERSE_POLL_MS ? (int) left_ms
                                                  : S_CONVERSE_POLL_MS;
        if (async_task_sleep (task, nap_ms))
            return s_cancelled (task);
    }
}

//  testing.handoff(task, args...): submits task(args...), passing on the
//  keyword arguments, and completes with that job's result
static int
s_handoff (async_task_t *task)
{
    const char *name = json_string_value (async_task_arg (task, 0));
    if (!name || !*name)
        return s_bad (task, &s_handoff_sig, "task must be a non-empty string");
    json_t *args = json_array ();
    for (size_t i = 1; i < async_task_argc (task); i++)
        json_array_append (args, async_task_arg (task, i));
    json_t *spec = json_pack ("{s:s, s:o, s:O}", "task", name, "args", args,
                              "kwargs", async_task_kwargs (task));
    char *text = spec ? json_dumps (spec, JSON_COMPACT) : NULL;
    json_decref (spec);
    if (!text)
        return async_task_fail (task, "MemoryError",
                                "testing.handoff: out of memory");
    char id [ASYNC_ID_LEN];
    int err = async_task_submit_json (task, text, id);
    free (text);
    if (err) {
        char message [256];
        snprintf (message, sizeof message,
                  "testing.handoff: cannot submit %.200s (error %d)",
                  name, err);
        bool transient = err == ASYNC_EUNREACH || err == ASYNC_ETIMEOUT;
        return async_task_fail_full (task, "SubmitError", message, NULL,
                                     transient);
    }
    return async_task_handoff (task, id);
}

//  testing.handoff_to(path): waits until the file at `path` exists, and
//  completes with the result of the job whose id it holds
static int
s_handoff_to (async_task_t *task)
{
    json_t *v [1];
    int rc;
    if (s_bind (task, &s_handoff_to_sig, v, &rc))
        return rc;
    char path [PATH_MAX];
    if (!s_path (task, v [0], path, sizeof path))
        return s_bad (task, &s_handoff_to_sig, "path must be a non-empty string");
    FILE *file;
    while (!(file = fopen (path, "r"))) {
        if (errno != ENOENT)
            return async_task_fail_errno (task, errno, "testing.handoff_to: cannot read %s",
                                          path);
        if (async_task_cancelled (task) || async_task_sleep (task, S_BLOCK_POLL_MS))
            return s_cancelled (task);
    }
    char id [64] = "";
    bool read = fscanf (file, "%63s", id) == 1;
    fclose (file);
    if (!read)
        return s_bad (task, &s_handoff_to_sig, "%s holds no job id", path);
    return async_task_handoff (task, id);
}

ASYNC_MODULE_INIT (registry)
{
    static const struct {
        const char *name;
        async_task_fn *fn;
    } tasks [] = {
        { "testing.noop", s_noop },
        { "testing.ret", s_ret },
        { "testing.mul", s_mul },
        { "testing.fail", s_fail },
        { "testing.flaky", s_flaky },
        { "testing.block", s_block },
        { "testing.sleep", s_sleep_task },
        { "testing.crash_once", s_crash_once },
        { "testing.segfault", s_segfault },
        { "testing.touch", s_touch },
        { "testing.record", s_record },
        { "testing.scribble", s_scribble },
        { "testing.handle", s_handle },
        { "testing.progress", s_progress },
        { "testing.converse", s_converse },
        { "testing.handoff", s_handoff },
        { "testing.handoff_to", s_handoff_to },
    };
    for (size_t i = 0; i < sizeof tasks / sizeof tasks [0]; i++)
        if (async_registry_add (registry, tasks [i].name, tasks [i].fn))
            return -1;
    return 0;
}
