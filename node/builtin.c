/*  =========================================================================
    builtin - the tasks every node has: time.time and subprocess.call

    subprocess.call starts the program with posix_spawnp rather than fork
    and exec by hand: glibc runs it as clone (CLONE_VM | CLONE_VFORK) and
    exec, which is safe in a threaded process (nothing that is not
    async-signal-safe runs between fork and exec), does not copy a large
    node's page tables, and hands exec's errno back to the caller. The
    child runs in its own process group, in the node's working directory
    or `cwd`, with stdin from /dev/null, stdout and stderr shared with the
    node, every other descriptor closed (it holds none of the node's
    ZeroMQ sockets), default signal dispositions and an empty signal mask
    (except that glibc leaves its two internal signals, 32 and 33, ignored;
    programs that use them install their own handlers). On timeout or
    cancellation its whole process group is SIGKILLed.

    The result is the exit status; a child killed by signal N gives -N, as
    in Python's subprocess.call.
    =========================================================================
*/
#define _GNU_SOURCE
#include "builtin.h"
#include "async_alloc.h"
#include <asyncmesh/log.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_CALL_SIG      "subprocess.call(argv, cwd=None, timeout=None)"
#define S_WAIT_MS       10      //  longest wait between checks on the child
#define S_NAP_MS        5       //  the same, when there is no pidfd to poll
#define S_TIMEOUT_MAX   1e9     //  the longest timeout, in seconds

//  The arguments of one subprocess.call
typedef struct {
    char **argv;                //  NULL-terminated; the strings are the job's
    char cwd [PATH_MAX];        //  where to run it; "" = where the node runs
    double timeout;             //  seconds; 0 = none
} s_call_t;

//  How waiting for the child ended
typedef enum {
    S_EXITED,                   //  it exited or was killed; status is set
    S_TIMED_OUT,                //  we killed it on timeout
    S_CANCELLED,                //  we killed it on cancellation
    S_LOST                      //  waitpid failed: someone else reaped it
} s_outcome_t;

static int64_t
s_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  ---------------------------------------------------------------------
//  time.time() -> seconds since the epoch, a float (microseconds)

static int
s_time_time (async_task_t *task)
{
    if (async_task_argc (task) > 0
    ||  json_object_size (async_task_kwargs (task)) > 0)
        return async_task_failf (task, "BadArgumentsError", "time.time(): takes no arguments");
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    double now = (double) ts.tv_sec + (double) (ts.tv_nsec / 1000) / 1e6;
    return async_task_return (task, json_real (now));
}

//  ---------------------------------------------------------------------
//  subprocess.call(argv, cwd=None, timeout=None) -> exit status

//  Parse argv: a non-empty array of strings. NULL if it is not one.
static char **
s_argv_new (json_t *value)
{
    size_t count = json_array_size (value);
    if (count == 0)
        return NULL;
    char **argv = async_xcalloc (count + 1, sizeof (char *));
    for (size_t i = 0; argv && i < count; i++) {
        json_t *item = json_array_get (value, i);
        argv [i] = (char *) json_string_value (item);
        if (!argv [i] || strlen (argv [i]) != json_string_length (item)) {
            free (argv);        //  not a string, or one with a NUL inside
            return NULL;
        }
    }
    return argv;
}

//  Parse the job's arguments into call; the caller frees call->argv.
//  0, or -1 with what is wrong in `why`.
static int
s_call_parse (async_task_t *task, s_call_t *call, char *why, size_t size)
{
    json_t *argv = async_task_arg (task, 0), *cwd = NULL, *timeout = NULL;
    const char *key;
    json_t *value;
    if (async_task_argc (task) > 1) {
        snprintf (why, size, "takes one positional argument, argv");
        return -1;
    }
    json_object_foreach (async_task_kwargs (task), key, value) {
        json_t **slot = strcmp (key, "argv") == 0 ? &argv
                      : strcmp (key, "cwd") == 0 ? &cwd
                      : strcmp (key, "timeout") == 0 ? &timeout : NULL;
        if (!slot || *slot) {
            snprintf (why, size, slot ? "argument '%.100s' given twice"
                                      : "unexpected keyword argument '%.100s'",
                      key);
            return -1;
        }
        *slot = value;
    }
    call->argv = s_argv_new (argv);
    if (!call->argv) {
        snprintf (why, size, "argv must be a non-empty array of strings");
        return -1;
    }
    const char *dir = json_string_value (cwd);
    const char *node_dir = async_task_cwd (task);
    if (cwd && !json_is_null (cwd) && (!dir || !*dir)) {
        snprintf (why, size, "cwd must be a non-empty string");
        return -1;
    }
    int len = !dir ? snprintf (call->cwd, sizeof call->cwd, "%s",
                               node_dir ? node_dir : "")
            : dir [0] == '/' || !node_dir || !*node_dir
            ? snprintf (call->cwd, sizeof call->cwd, "%s", dir)
            : snprintf (call->cwd, sizeof call->cwd, "%s/%s", node_dir, dir);
    if (len < 0 || (size_t) len >= sizeof call->cwd) {
        snprintf (why, size, "cwd is too long");
        return -1;
    }
    call->timeout = json_is_null (timeout) ? 0 : json_number_value (timeout);
    if (timeout && !json_is_null (timeout)
    &&  !(json_is_number (timeout)
          && call->timeout > 0 && call->timeout <= S_TIMEOUT_MAX)) {
        snprintf (why, size, "timeout must be a positive number of seconds");
        return -1;
    }
    return 0;
}

//  Start argv [0] (searched in PATH) in directory `dir` (NULL = here).
//  0 or an errno value.
static int
s_spawn (char *const argv [], const char *dir, pid_t *pid)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset (&none);
    sigfillset (&all);
    int rc = posix_spawn_file_actions_init (&actions);
    if (rc)
        return rc;
    rc = posix_spawnattr_init (&attr);
    if (rc) {
        posix_spawn_file_actions_destroy (&actions);
        return rc;
    }
    if (dir)
        rc = posix_spawn_file_actions_addchdir_np (&actions, dir);
    if (!rc)
        rc = posix_spawn_file_actions_addopen (&actions, STDIN_FILENO,
                                               "/dev/null", O_RDONLY, 0);
    if (!rc)
        rc = posix_spawn_file_actions_addclosefrom_np (&actions,
                                                       STDERR_FILENO + 1);
    if (!rc)
        rc = posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP
                                            | POSIX_SPAWN_SETSIGMASK
                                            | POSIX_SPAWN_SETSIGDEF);
    if (!rc)
        rc = posix_spawnattr_setpgroup (&attr, 0);
    if (!rc)
        rc = posix_spawnattr_setsigmask (&attr, &none);
    if (!rc)
        rc = posix_spawnattr_setsigdefault (&attr, &all);
    if (!rc)
        rc = posix_spawnp (pid, argv [0], &actions, &attr, argv, environ);
    posix_spawnattr_destroy (&attr);
    posix_spawn_file_actions_destroy (&actions);
    return rc;
}

//  A descriptor that polls readable when `pid` exits, or -1 where the
//  kernel has no pidfd_open (before Linux 5.3). Close-on-exec.
static int
s_pidfd_open (pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int) syscall (SYS_pidfd_open, pid, 0);
#else
    return -1;
#endif
}

//  Kill the child's process group, then reap the child. The child may
//  have exited on its own in the meantime; then that is what happened.
static s_outcome_t
s_kill (pid_t pid, int *status, s_outcome_t outcome)
{
    if (kill (-pid, SIGKILL) == -1)
        kill (pid, SIGKILL);
    pid_t done;
    while ((done = waitpid (pid, status, 0)) == -1 && errno == EINTR)
        ;
    if (done != pid)
        return S_LOST;
    if (!WIFSIGNALED (*status) || WTERMSIG (*status) != SIGKILL)
        return S_EXITED;
    return outcome;
}

//  Wait for the child to end, up to timeout_us (0 = no limit), and while
//  the job is not cancelled. Reaps the child; *status is set on S_EXITED.
static s_outcome_t
s_wait (async_task_t *task, pid_t pid, int64_t timeout_us, int *status)
{
    int64_t deadline = timeout_us ? s_mono_us () + timeout_us : 0;
    int pidfd = s_pidfd_open (pid);
    s_outcome_t outcome = S_EXITED;
    while (true) {
        pid_t done = waitpid (pid, status, WNOHANG);
        if (done == pid)
            break;
        if (done == -1 && errno != EINTR) {
            outcome = S_LOST;
            break;
        }
        if (async_task_cancelled (task)) {
            outcome = s_kill (pid, status, S_CANCELLED);
            break;
        }
        int64_t wait_us = (pidfd >= 0 ? S_WAIT_MS : S_NAP_MS) * 1000;
        if (deadline) {
            int64_t left = deadline - s_mono_us ();
            if (left <= 0) {
                outcome = s_kill (pid, status, S_TIMED_OUT);
                break;
            }
            wait_us = left < wait_us ? left : wait_us;
        }
        int wait_ms = (int) ((wait_us + 999) / 1000);
        struct pollfd item = { .fd = pidfd, .events = POLLIN };
        if (pidfd >= 0)
            poll (&item, 1, wait_ms);
        else
            async_task_sleep (task, wait_ms);
    }
    if (pidfd >= 0)
        close (pidfd);
    return outcome;
}

static int
s_subprocess_call (async_task_t *task)
{
    s_call_t call = { NULL, "", 0 };
    char why [256];
    if (s_call_parse (task, &call, why, sizeof why)) {
        free (call.argv);
        return async_task_failf (task, "BadArgumentsError", S_CALL_SIG ": %s", why);
    }
    //  Check the directory first: spawn says ENOENT for it and for argv [0]
    const char *dir = *call.cwd ? call.cwd : NULL;
    struct stat st;
    int err = !dir ? 0
            : stat (dir, &st) == -1 ? errno
            : !S_ISDIR (st.st_mode) ? ENOTDIR : 0;
    if (err) {
        free (call.argv);
        return async_task_fail_errno (task, err, "subprocess.call: cannot run in %s", dir);
    }
    const char *program = call.argv [0];
    pid_t pid;
    err = s_spawn (call.argv, dir, &pid);
    free (call.argv);
    if (err)
        return async_task_fail_errno (task, err, "subprocess.call: cannot run %.200s",
                          program);
    async_log_debug ("node", "subprocess.started", "job=%s pid=%d program=%s",
                     async_task_id (task), (int) pid, program);

    int status = 0;
    int64_t timeout_us = (int64_t) ceil (call.timeout * 1e6);
    s_outcome_t outcome = s_wait (task, pid, timeout_us, &status);
    char message [512];
    switch (outcome) {
        case S_TIMED_OUT:
            snprintf (message, sizeof message,
                      "subprocess.call: %.200s timed out after %g s, killed",
                      program, call.timeout);
            return async_task_fail (task, "TimeoutError", message);
        case S_CANCELLED:
            snprintf (message, sizeof message,
                      "subprocess.call: cancelled, %.200s killed", program);
            return async_task_fail (task, "CancelledError", message);
        case S_LOST:
            snprintf (message, sizeof message,
                      "subprocess.call: lost the exit status of %.200s "
                      "(pid %d reaped elsewhere, or SIGCHLD ignored)",
                      program, (int) pid);
            return async_task_fail (task, "OSError", message);
        case S_EXITED:
            break;
    }
    json_int_t result = WIFEXITED (status) ? WEXITSTATUS (status)
                      : WIFSIGNALED (status) ? -WTERMSIG (status) : -1;
    async_log_debug ("node", "subprocess.ended", "job=%s pid=%d status=%d",
                     async_task_id (task), (int) pid, (int) result);
    return async_task_return (task, json_integer (result));
}

//  ---------------------------------------------------------------------

int
async_builtin_register (async_registry_t *registry)
{
    if (async_registry_add (registry, "time.time", s_time_time)
    ||  async_registry_add (registry, "subprocess.call", s_subprocess_call))
        return -1;
    return 0;
}
