/*  =========================================================================
    isolate - process isolation: run one job in a child process

    See isolate.h for the design (a zygote forked while the node has one
    thread) and the records between a child and its worker thread.

    The zygote:
    - runs in its own process group (a terminal's Ctrl-C reaches the node
      only, which then stops the children itself), and dies with the node
      (PR_SET_PDEATHSIG, and end of file on its request socket);
    - waits for requests, each the two socketpair ends of one job, forks
      one child per request, and reaps exactly the children it forked
      (waitpid on each pid when SIGCHLD says one ended).
    Each child:
    - gets the default disposition of SIGTERM, SIGINT, SIGHUP, SIGQUIT,
      SIGUSR1, SIGUSR2 and SIGCHLD and an empty signal mask (SIGPIPE stays
      ignored, as in the node: a write to a closed pipe fails with EPIPE);
    - runs in a process group of its own, with stdin from /dev/null, and
      is SIGKILLed by the kernel when the zygote dies;
    - holds none of the node's sockets (the zygote was forked before there
      were any), only stdio, the log file and what the modules opened when
      they were loaded; its socketpair is close-on-exec;
    - ends with _exit: the node's atexit handlers (czmq's among them) are
      not for it; a task's own exit (N) ends it the same way.
    =========================================================================
*/
#define _GNU_SOURCE
//  Failures made here are the node's, or relayed from a child that
//  recorded where its task failed: no location of this file in them
#define ASYNC_TASK_NO_FAIL_AT
#include "isolate.h"
#include "backtrace.h"
#include "job.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_HEADER            5       //  length (4) + type (1)
#define S_TICK_MS           20      //  the worker looks at the cancel flag this often
#define S_READ_MAX          (4 * 1024 * 1024)   //  bytes read per call, at most

struct _node_zygote_t {
    pid_t pid;
    int fd;                     //  requests (seqpacket), the node's end
};

//  One message on a job's status pair (seqpacket)
typedef struct {
    char type;                  //  'P' pid, 'E' errno, 'X' wait status, 'K' kill
    int value;
} s_status_t;

//  ---------------------------------------------------------------------
//  The channel: records over one end of the socketpair

static int
s_reserve (char **buffer, size_t *size, size_t need)
{
    if (need <= *size)
        return 0;
    size_t grown = *size ? *size : 4096;
    while (grown < need)
        grown *= 2;
    *buffer = async_xrealloc (*buffer, grown);
    *size = grown;
    return 0;
}

static void
s_chan_free (node_chan_t *self)
{
    free (self->in);
    free (self->out);
    self->in = self->out = NULL;
    self->in_used = self->in_size = self->out_used = self->out_size = 0;
}

//  Append one record to what is waiting to be written. 0 or -1.
static int
s_chan_queue (node_chan_t *self, char type, const char *data, size_t size)
{
    if (size > NODE_CHAN_MAX
    ||  s_reserve (&self->out, &self->out_size, self->out_used + S_HEADER + size))
        return -1;
    uint32_t length = (uint32_t) size;
    char *at = self->out + self->out_used;
    memcpy (at, &length, 4);
    at [4] = type;
    if (size)
        memcpy (at + S_HEADER, data, size);
    self->out_used += S_HEADER + size;
    return 0;
}

//  Write what is waiting: all of it on a blocking descriptor, what the
//  socket takes now on a non-blocking one. 0, or -1 when the peer is gone.
static int
s_chan_flush (node_chan_t *self)
{
    size_t done = 0;
    int rc = 0;
    while (done < self->out_used) {
        ssize_t sent = send (self->fd, self->out + done, self->out_used - done,
                             MSG_NOSIGNAL);
        if (sent >= 0)
            done += (size_t) sent;
        else
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        else
        if (errno != EINTR) {
            self->eof = true;
            done = self->out_used;
            rc = -1;
        }
    }
    memmove (self->out, self->out + done, self->out_used - done);
    self->out_used -= done;
    return rc;
}

int
node_chan_send (node_chan_t *self, char type, const char *data, size_t size)
{
    if (self->eof || s_chan_queue (self, type, data, size))
        return -1;
    return s_chan_flush (self);
}

int
node_chan_read (node_chan_t *self, int timeout_ms)
{
    if (self->eof)
        return -1;
    if (timeout_ms != 0) {
        struct pollfd item = { .fd = self->fd, .events = POLLIN };
        if (poll (&item, 1, timeout_ms) <= 0)
            return 0;           //  nothing yet (or a signal came)
    }
    size_t taken = 0;
    while (taken < S_READ_MAX) {
        if (s_reserve (&self->in, &self->in_size, self->in_used + 65536)) {
            self->eof = true;
            return -1;
        }
        ssize_t got = recv (self->fd, self->in + self->in_used,
                            self->in_size - self->in_used, MSG_DONTWAIT);
        if (got > 0) {
            self->in_used += (size_t) got;
            taken += (size_t) got;
        }
        else
        if (got == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            self->eof = true;
            return -1;
        }
        else
        if (errno != EINTR)
            break;
    }
    return 0;
}

bool
node_chan_next (node_chan_t *self, char *type, char **payload, size_t *size)
{
    if (self->broken || self->in_used < S_HEADER)
        return false;
    uint32_t length;
    memcpy (&length, self->in, 4);
    if (length > NODE_CHAN_MAX) {
        self->broken = true;
        return false;
    }
    if (self->in_used < S_HEADER + (size_t) length)
        return false;
    char *copy = async_xmalloc ((size_t) length + 1);
    *type = self->in [4];
    memcpy (copy, self->in + S_HEADER, length);
    copy [length] = 0;
    *payload = copy;
    *size = length;
    self->in_used -= S_HEADER + (size_t) length;
    memmove (self->in, self->in + S_HEADER + length, self->in_used);
    return true;
}

//  ---------------------------------------------------------------------
//  The child

//  exit () from a task: leave at once, without the node's atexit handlers
static void
s_child_on_exit (int status, void *arg)
{
    (void) arg;
    fflush (stdout);
    fflush (stderr);
    _exit (status);
}

//  Send the task's outcome: one R, F or H record. 0 or -1.
static int
s_child_send_outcome (async_task_t *job, node_chan_t *chan)
{
    char *text = NULL;
    char type = 'F';
    if (job->outcome == 1) {
        text = json_dumps (job->result, JSON_ENCODE_ANY | JSON_COMPACT);
        type = 'R';
    }
    else
    if (job->outcome == 3) {
        text = async_xstrdup (job->handoff);
        type = 'H';
    }
    if (!text) {
        json_t *failure = job->outcome == 2
            ? json_pack ("{s:s, s:s, s:b}",
                         "type", job->failure_type ? job->failure_type : "Error",
                         "message", job->failure_message ? job->failure_message : "",
                         "transient", job->failure_transient)
            : json_pack ("{s:s, s:s, s:b}", "type", "Error", "message",
                         "the task's result cannot be encoded as JSON", "transient", 0);
        if (failure && job->outcome == 2 && job->failure_detail)
            json_object_set_new (failure, "detail", json_string (job->failure_detail));
        text = failure ? json_dumps (failure, JSON_COMPACT) : NULL;
        json_decref (failure);
        type = 'F';
    }
    int rc = text ? node_chan_send (chan, type, text, strlen (text)) : -1;
    free (text);
    return rc;
}

//  The job from its 'J' record; NULL if the record is not one
static async_task_t *
s_child_job (async_registry_t *registry, const char *text)
{
    //  Kept for the life of the child: cwd and node are borrowed from it
    json_t *spec = json_loads (text, JSON_ALLOW_NUL, NULL);
    const char *id = json_string_value (json_object_get (spec, "id"));
    const char *task = json_string_value (json_object_get (spec, "task"));
    if (!id || !task)
        return NULL;
    async_task_t *job = node_job_new ();
    snprintf (job->id, sizeof job->id, "%s", id);
    job->task = async_xstrdup (task);
    const char *agent = json_string_value (json_object_get (spec, "agent"));
    job->agent = async_xstrdup (agent ? agent : "");
    job->attempt = (int) json_integer_value (json_object_get (spec, "attempt"));
    job->timeout_ms = json_integer_value (json_object_get (spec, "timeout_ms"));
    job->args = json_incref (json_object_get (spec, "args"));
    job->kwargs = json_incref (json_object_get (spec, "kwargs"));
    if (!json_is_array (job->args)) {
        json_decref (job->args);
        job->args = json_array ();
    }
    if (!json_is_object (job->kwargs)) {
        json_decref (job->kwargs);
        job->kwargs = json_object ();
    }
    job->cwd = json_string_value (json_object_get (spec, "cwd"));
    job->node = json_string_value (json_object_get (spec, "node"));
    job->fn = registry_lookup (registry, job->task);
    return job;
}

static void __attribute__ ((noreturn))
s_child_main (async_registry_t *registry, int fd, pid_t zygote)
{
    //  Die with the zygote (which dies with the node)
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != zygote)
        _exit (127);
    //  Not the node's dispositions nor the zygote's mask
    static const int defaults [] = {
        SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD
    };
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults [0]; i++)
        sigaction (defaults [i], &action, NULL);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    setpgid (0, 0);
    int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2 (null, STDIN_FILENO);
        if (null != STDIN_FILENO)
            close (null);
    }
    on_exit (s_child_on_exit, NULL);

    node_chan_t chan;
    memset (&chan, 0, sizeof chan);
    chan.fd = fd;
    //  The job comes first
    char type = 0;
    char *text = NULL;
    size_t size;
    bool got;
    while (!(got = node_chan_next (&chan, &type, &text, &size))
       &&  !chan.broken && !chan.eof)
        node_chan_read (&chan, -1);
    if (!got)
        _exit (2);
    async_task_t *job = type == 'J' ? s_child_job (registry, text) : NULL;
    free (text);
    if (!job)
        _exit (2);
    job->chan = &chan;
    node_backtrace_arm (fd);    //  a crash sends its backtrace ('T')
    if (!job->fn)
        async_task_failf (job, "UnknownTaskError", "no task named %s in the node's "
                          "process-isolation helper", job->task);
    else
        job->fn (job);
    if (!job->outcome)
        async_task_fail (job, "Error", "the task returned without completing "
                         "(call async_task_return or async_task_fail)");
    int rc = s_child_send_outcome (job, &chan);
    fflush (stdout);            //  what the task printed
    fflush (stderr);
    _exit (rc ? 1 : 0);
}

//  ---------------------------------------------------------------------
//  The zygote

typedef struct {
    pid_t pid;
    int status;                 //  the job's status pair, the zygote's end
    bool hung_up;               //  the worker closed its end
} s_kid_t;

typedef struct {
    async_registry_t *registry;
    int fd;                     //  requests from the node
    int sigfd;                  //  SIGCHLD
    s_kid_t *kids;              //  the children not reaped yet
    size_t nkids, size;
} s_zygote_t;

static void
s_status_send (int fd, char type, int value)
{
    s_status_t message = { type, value };
    send (fd, &message, sizeof message, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
s_kill (pid_t pid)
{
    kill (-pid, SIGKILL);       //  its process group, when it made one
    kill (pid, SIGKILL);
}

//  A request: the job's two fds. Fork its child. False at end of file.
static bool
s_zygote_accept (s_zygote_t *self)
{
    char byte;
    struct iovec iov = { &byte, 1 };
    union {
        struct cmsghdr header;
        char space [CMSG_SPACE (2 * sizeof (int))];
    } control;
    struct msghdr msg;
    memset (&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    ssize_t got = recvmsg (self->fd, &msg, MSG_CMSG_CLOEXEC);
    if (got == 0)
        return false;
    if (got < 0)
        return errno == EINTR || errno == EAGAIN;
    int fds [2] = { -1, -1 };
    int nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            nfds = (int) ((c->cmsg_len - CMSG_LEN (0)) / sizeof (int));
            memcpy (fds, CMSG_DATA (c), (size_t) (nfds > 2 ? 2 : nfds) * sizeof (int));
        }
    if (nfds != 2 || (msg.msg_flags & MSG_CTRUNC)) {
        for (int i = 0; i < 2; i++)
            if (fds [i] >= 0)
                close (fds [i]);
        return true;            //  not a request of ours; nothing to run
    }
    int job_fd = fds [0], status_fd = fds [1];
    if (self->nkids == self->size) {
        size_t bigger = self->size ? self->size * 2 : 16;
        self->kids = async_xrealloc (self->kids, bigger * sizeof (s_kid_t));
        self->size = bigger;
    }
    pid_t zygote = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  Keep only the job's socket
        close (self->fd);
        close (self->sigfd);
        close (status_fd);
        for (size_t i = 0; i < self->nkids; i++)
            close (self->kids [i].status);
        s_child_main (self->registry, job_fd, zygote);
    }
    int err = errno;
    close (job_fd);
    if (pid == -1) {
        s_status_send (status_fd, 'E', err);
        close (status_fd);
        return true;
    }
    setpgid (pid, pid);         //  as the child does: whichever runs first
    s_status_send (status_fd, 'P', (int) pid);
    self->kids [self->nkids++] = (s_kid_t) { pid, status_fd, false };
    return true;
}

//  Children that ended: reap them (each by its pid), tell their workers
static void
s_zygote_reap (s_zygote_t *self)
{
    struct signalfd_siginfo info;
    while (read (self->sigfd, &info, sizeof info) > 0)
        ;
    for (size_t i = 0; i < self->nkids;) {
        s_kid_t *kid = &self->kids [i];
        int status;
        pid_t done = waitpid (kid->pid, &status, WNOHANG);
        if (done == kid->pid || (done == -1 && errno == ECHILD)) {
            if (done == kid->pid)
                s_status_send (kid->status, 'X', status);
            close (kid->status);
            *kid = self->kids [--self->nkids];
        }
        else
            i++;
    }
}

static void __attribute__ ((noreturn))
s_zygote_main (async_registry_t *registry, int fd, pid_t node)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != node)
        _exit (0);
    setpgid (0, 0);
    signal (SIGPIPE, SIG_IGN);  //  as in the node, for the tasks
    sigset_t chld;
    sigemptyset (&chld);
    sigaddset (&chld, SIGCHLD);
    sigprocmask (SIG_BLOCK, &chld, NULL);
    s_zygote_t self;
    memset (&self, 0, sizeof self);
    self.registry = registry;
    self.fd = fd;
    self.sigfd = signalfd (-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (self.sigfd == -1)
        _exit (1);
    struct pollfd *items = NULL;
    size_t nitems = 0;
    bool running = true;
    while (running) {
        if (nitems < self.nkids + 2) {
            nitems = self.nkids + 16;
            free (items);
            items = async_xcalloc (nitems, sizeof (struct pollfd));
        }
        items [0] = (struct pollfd) { .fd = fd, .events = POLLIN };
        items [1] = (struct pollfd) { .fd = self.sigfd, .events = POLLIN };
        size_t polled = self.nkids;
        for (size_t i = 0; i < polled; i++)
            items [i + 2] = (struct pollfd) {
                .fd = self.kids [i].hung_up ? -1 : self.kids [i].status, .events = POLLIN
            };
        if (poll (items, polled + 2, -1) == -1 && errno != EINTR)
            break;
        //  Kill requests, and workers gone (only when the node goes)
        for (size_t i = 0; i < polled; i++)
            if (items [i + 2].revents) {
                s_kid_t *kid = &self.kids [i];
                s_status_t message;
                ssize_t got = recv (kid->status, &message, sizeof message, MSG_DONTWAIT);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
                    kid->hung_up = true;
                if (kid->hung_up || (got > 0 && message.type == 'K'))
                    s_kill (kid->pid);
            }
        if (items [1].revents)
            s_zygote_reap (&self);
        if (items [0].revents)
            running = s_zygote_accept (&self);
    }
    //  The node is gone or stopping: so are its jobs
    for (size_t i = 0; i < self.nkids; i++) {
        s_kill (self.kids [i].pid);
        while (waitpid (self.kids [i].pid, NULL, 0) == -1 && errno == EINTR)
            ;
    }
    _exit (0);
}

//  Threads of this process, from /proc; 0 if unknown
static int
s_threads (void)
{
    FILE *file = fopen ("/proc/self/status", "r");
    char line [256];
    int threads = 0;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "Threads: %d", &threads) == 1)
            break;
    if (file)
        fclose (file);
    return threads;
}

int
node_zygote_start (async_registry_t *registry, node_zygote_t **self_p, char *err,
                   size_t err_size)
{
    int threads = s_threads ();
    if (threads > 1)
        async_log_warning ("node", "zygote.threads", "threads=%d reason=\"something "
                           "(a module's init?) started threads before the node forked "
                           "its process-isolation helper; they do not exist there\"",
                           threads);
    int pair [2];
    if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair)) {
        snprintf (err, err_size, "cannot make the process-isolation helper's socket: %s",
                  strerror (errno));
        return -1;
    }
    fflush (stdout);
    fflush (stderr);
    pid_t node = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        close (pair [0]);
        s_zygote_main (registry, pair [1], node);
    }
    int fork_errno = errno;
    close (pair [1]);
    if (pid == -1) {
        close (pair [0]);
        snprintf (err, err_size, "cannot fork the process-isolation helper: %s",
                  strerror (fork_errno));
        return -1;
    }
    node_zygote_t *self = async_xcalloc (1, sizeof (node_zygote_t));
    self->pid = pid;
    self->fd = pair [0];
    async_log_debug ("node", "zygote.started", "pid=%d", (int) pid);
    *self_p = self;
    return 0;
}

void
node_zygote_destroy (node_zygote_t **self_p)
{
    node_zygote_t *self = *self_p;
    if (!self)
        return;
    close (self->fd);           //  the zygote kills its children and exits
    while (waitpid (self->pid, NULL, 0) == -1 && errno == EINTR)
        ;
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  The worker's side

typedef struct {
    async_task_t *job;
    zsock_t *pipe;              //  answers from the node (job->up goes to it)
    pid_t pid;                  //  the child's, once the zygote says
    node_chan_t chan;           //  the job's pair
    int status;                 //  the status pair, the worker's end
    bool malformed;             //  the child sent a record we cannot read
    char *trace;                //  the child crashed: its 'T' record, or NULL
    size_t trace_size;
} s_run_t;

//  Split a payload of NUL-separated fields into up to `max` fields.
//  Returns how many there are.
static int
s_fields (char *payload, size_t size, const char **fields, int max)
{
    int count = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size && count < max; i++)
        if (i == size || payload [i] == 0) {
            fields [count++] = payload + start;
            start = i + 1;
        }
    return count;
}

//  One record from the child
static void
s_on_record (s_run_t *self, char type, char *payload, size_t size)
{
    async_task_t *job = self->job;
    const char *fields [3];
    if (type == 'P') {
        if (s_fields (payload, size, fields, 2) == 2)
            node_up_progress (self->job, fields [0], fields [1]);
        else
            self->malformed = true;
    }
    else
    if (type == 'Q') {
        if (s_fields (payload, size, fields, 3) == 3)
            node_up_request (self->job, fields [1], fields [2], fields [0]);
        else
            self->malformed = true;
    }
    else
    if (type == 'R' && !job->outcome) {
        json_t *value = json_loadb (payload, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (value)
            async_task_return (job, value);
        else
            self->malformed = true;
    }
    else
    if (type == 'F' && !job->outcome) {
        json_t *failure = json_loadb (payload, size, JSON_ALLOW_NUL, NULL);
        const char *ftype = json_string_value (json_object_get (failure, "type"));
        const char *message = json_string_value (json_object_get (failure, "message"));
        const char *detail = json_string_value (json_object_get (failure, "detail"));
        if (ftype && message)
            async_task_fail_full (job, ftype, message, detail,
                                  json_is_true (json_object_get (failure, "transient")));
        else
            self->malformed = true;
        json_decref (failure);
    }
    else
    if (type == 'H' && !job->outcome) {
        if (async_task_handoff (job, payload))
            self->malformed = true;
    }
    else
    if (type == 'T' && !self->trace && size <= NODE_TRACE_MAX) {
        self->trace = async_xmalloc (size + 1);
        memcpy (self->trace, payload, size + 1);
        self->trace_size = size;
    }
    else
        self->malformed = true;  //  unknown, or a second outcome
}

//  Take every whole record read so far
static void
s_take_records (s_run_t *self)
{
    char type;
    char *payload;
    size_t size;
    while (node_chan_next (&self->chan, &type, &payload, &size)) {
        s_on_record (self, type, payload, size);
        free (payload);
    }
    if (self->chan.broken)
        self->malformed = true;
}

//  Answers from the node to the child's requests: pass them on as 'A'
static void
s_on_answers (s_run_t *self)
{
    while (zsock_events (self->pipe) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->pipe);
        if (!msg)
            break;
        char *status = zmsg_popstr (msg);
        char *answer = zmsg_popstr (msg);
        char *tag = zmsg_popstr (msg);
        char *token = zmsg_popstr (msg);
        //  An answer to an earlier job on this worker goes nowhere: the
        //  child's tags start again with each job
        if (status && answer && tag && !self->chan.eof
        &&  node_answer_is_for (self->job, token)) {
            size_t ltag = strlen (tag), lstatus = strlen (status), lanswer = strlen (answer);
            size_t size = ltag + lstatus + lanswer + 2;
            char *payload = async_xmalloc (size);
            if (payload) {
                memcpy (payload, tag, ltag + 1);
                memcpy (payload + ltag + 1, status, lstatus + 1);
                memcpy (payload + ltag + lstatus + 2, answer, lanswer);
                s_chan_queue (&self->chan, 'A', payload, size);
                free (payload);
            }
        }
        zstr_free (&status);
        zstr_free (&answer);
        zstr_free (&tag);
        zstr_free (&token);
        zmsg_destroy (&msg);
    }
}

//  Hand the child's ends of the job's pairs to the zygote. 0 or -1.
static int
s_zygote_request (node_zygote_t *zygote, int job_fd, int status_fd)
{
    char byte = 'J';
    struct iovec iov = { &byte, 1 };
    union {
        struct cmsghdr header;
        char space [CMSG_SPACE (2 * sizeof (int))];
    } control;
    memset (&control, 0, sizeof control);
    struct msghdr msg;
    memset (&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN (2 * sizeof (int));
    int fds [2] = { job_fd, status_fd };
    memcpy (CMSG_DATA (c), fds, sizeof fds);
    ssize_t sent;
    while ((sent = sendmsg (zygote->fd, &msg, MSG_NOSIGNAL)) == -1 && errno == EINTR)
        ;
    return sent == 1 ? 0 : -1;
}

//  Queue the job's 'J' record. 0 or -1.
static int
s_queue_job (s_run_t *self)
{
    async_task_t *job = self->job;
    json_t *spec = json_pack ("{s:s, s:s, s:s, s:i, s:I, s:O, s:O, s:s, s:s}",
                              "id", job->id, "task", job->task,
                              "agent", job->agent ? job->agent : "",
                              "attempt", job->attempt, "timeout_ms",
                              (json_int_t) job->timeout_ms, "args", job->args,
                              "kwargs", job->kwargs, "cwd", job->cwd ? job->cwd : "",
                              "node", job->node ? job->node : "");
    char *text = spec ? json_dumps (spec, JSON_COMPACT) : NULL;
    json_decref (spec);
    int rc = text ? s_chan_queue (&self->chan, 'J', text, strlen (text)) : -1;
    free (text);
    return rc;
}

//  The job's outcome when the child gave none
static void
s_no_outcome (s_run_t *self, int status, bool exited, int fork_errno, bool killed)
{
    async_task_t *job = self->job;
    char message [256], detail [NODE_DETAIL_MAX];
    if (fork_errno) {
        snprintf (message, sizeof message, "cannot fork the task's process: %s",
                  strerror (fork_errno));
        async_task_fail_full (job, "OSError", message, NULL, true);
        return;
    }
    if (!exited) {
        snprintf (message, sizeof message, "the node's process-isolation helper is "
                  "gone; the task's process (pid %d) went with it", (int) self->pid);
        async_log_error ("node", "zygote.gone", "job=%s reason=\"%s\"", job->id, message);
        async_task_fail_full (job, "OSError", message, NULL, true);
        return;
    }
    if (killed && WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL && !self->malformed) {
        snprintf (message, sizeof message, "cancelled; the task did not stop within "
                  "%.1f s, so its process (pid %d) was killed",
                  NODE_CANCEL_GRACE_MS / 1000.0, (int) self->pid);
        async_task_fail_full (job, "CancelledError", message, NULL, false);
        return;
    }
    if (WIFSIGNALED (status)) {
        int signum = WTERMSIG (status);
        const char *name = sigabbrev_np (signum);
        const char *description = strsignal (signum);
        snprintf (message, sizeof message, "the task's process died on signal %d (%s)",
                  signum, description ? description : "unknown signal");
        int len = snprintf (detail, sizeof detail, "signal=SIG%s (%d)%s pid=%d%s",
                            name ? name : "?", signum,
                            WCOREDUMP (status) ? " core dumped" : "", (int) self->pid,
                            self->malformed ? " (it sent a malformed record)" : "");
        //  The crashing thread's backtrace, when the child could send it
        static const char head [] = "\nbacktrace (the crashing frame first):\n";
        if (self->trace && len > 0 && (size_t) len + sizeof head < sizeof detail) {
            memcpy (detail + len, head, sizeof head);
            size_t at = (size_t) len + sizeof head - 1;
            if (!node_backtrace_symbolize (self->trace, self->trace_size, detail + at,
                                           sizeof detail - at))
                detail [len] = 0;
        }
    }
    else {
        snprintf (message, sizeof message, "the task's process exited with status %d "
                  "without completing", WEXITSTATUS (status));
        snprintf (detail, sizeof detail, "exit status=%d pid=%d%s", WEXITSTATUS (status),
                  (int) self->pid, self->malformed ? " (it sent a malformed record)" : "");
    }
    async_log_warning ("node", "job.crashed", "job=%s task=%s attempt=%d pid=%d "
                       "message=\"%s\"", job->id, job->task, job->attempt,
                       (int) self->pid, message);
    async_task_fail_full (job, "CrashedError", message, detail, false);
}

void
node_isolate_run (async_task_t *job, zsock_t *pipe, node_zygote_t *zygote)
{
    int pair [2] = { -1, -1 }, status [2] = { -1, -1 };
    if (!zygote
    ||  socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair)
    ||  socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, status)) {
        char message [256];
        snprintf (message, sizeof message, "cannot set up the task's process: %s",
                  zygote ? strerror (errno) : "no process-isolation helper");
        for (int i = 0; i < 2; i++) {
            if (pair [i] >= 0)
                close (pair [i]);
            if (status [i] >= 0)
                close (status [i]);
        }
        async_task_fail_full (job, "OSError", message, NULL, true);
        return;
    }
    s_run_t self;
    memset (&self, 0, sizeof self);
    self.job = job;
    self.pipe = pipe;
    self.chan.fd = pair [0];
    self.status = status [0];
    int request = s_zygote_request (zygote, pair [1], status [1]);
    close (pair [1]);
    close (status [1]);
    fcntl (pair [0], F_SETFL, fcntl (pair [0], F_GETFL) | O_NONBLOCK);
    if (request || s_queue_job (&self)) {
        close (pair [0]);
        close (status [0]);
        s_chan_free (&self.chan);
        s_no_outcome (&self, 0, false, 0, false);
        return;
    }
    int wait_status = 0, fork_errno = 0;
    bool exited = false, zygote_gone = false, killed = false, kill_sent = false;
    bool cancel_sent = false;
    int64_t kill_at = 0;
    while (!exited && !zygote_gone) {
        zmq_pollitem_t items [3] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { NULL, self.status, ZMQ_POLLIN, 0 },
            { NULL, self.chan.fd,
              (short) (ZMQ_POLLIN | (self.chan.out_used ? ZMQ_POLLOUT : 0)), 0 }
        };
        zmq_poll (items, self.chan.eof ? 2 : 3, S_TICK_MS);
        if (items [0].revents & ZMQ_POLLIN)
            s_on_answers (&self);
        if (!self.chan.eof && items [2].revents) {
            node_chan_read (&self.chan, 0);
            s_take_records (&self);
        }
        if (items [1].revents) {
            s_status_t message;
            ssize_t got = recv (self.status, &message, sizeof message, MSG_DONTWAIT);
            if (got == (ssize_t) sizeof message) {
                if (message.type == 'P') {
                    self.pid = (pid_t) message.value;
                    async_log_debug ("node", "job.forked", "job=%s task=%s pid=%d",
                                     job->id, job->task, (int) self.pid);
                }
                else
                if (message.type == 'X') {
                    wait_status = message.value;
                    exited = true;
                }
                else
                if (message.type == 'E') {
                    fork_errno = message.value;
                    zygote_gone = true;
                }
            }
            else
            if (got == 0 || (errno != EAGAIN && errno != EINTR))
                zygote_gone = true;
        }
        if (!cancel_sent && atomic_load (&job->cancelled)) {
            cancel_sent = true;
            s_chan_queue (&self.chan, 'C', NULL, 0);
            kill_at = async_mono_us () + NODE_CANCEL_GRACE_MS * 1000LL;
        }
        if (self.chan.out_used && !self.chan.eof)
            s_chan_flush (&self.chan);
        bool bad = self.malformed && !job->outcome;
        if (!kill_sent && (bad || (kill_at && async_mono_us () >= kill_at))) {
            async_log_warning ("node", "job.killed", "job=%s pid=%d reason=\"%s\"",
                               job->id, (int) self.pid,
                               bad ? "its process sent a malformed record"
                                   : "it did not stop within the grace after the "
                                     "cancellation");
            s_status_send (self.status, 'K', 0);
            kill_sent = true;
            killed = !bad;
        }
    }
    //  What the child wrote before it ended is still in the socket
    if (!self.chan.eof)
        node_chan_read (&self.chan, 0);
    s_take_records (&self);
    close (self.chan.fd);
    close (self.status);
    s_chan_free (&self.chan);
    if (!job->outcome)
        s_no_outcome (&self, wait_status, exited, fork_errno, killed);
    free (self.trace);
}
