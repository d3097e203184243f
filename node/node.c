/*  =========================================================================
    node - session with the broker, agents, worker threads
    =========================================================================
*/
#include "node.h"
#include "python.h"
#include "job.h"
#include "pool.h"
#include "async_idmap.h"
#include "async_codec.h"
#include "async_msgs.h"
#include "async_job.h"
#include "async_keys.h"
#include "async_notify.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <assert.h>
#include <czmq.h>
#include <ctype.h>
#include <fcntl.h>
#include <pwd.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

typedef struct {
    int index;
    zsock_t *mine;              //  node's end of the pair: answers to requests
    zsock_t *theirs;            //  worker's end
    zsock_t *push;              //  worker's messages to the node's `up`
} worker_t;

//  STARTED goes only for a job still running after this long: a short job's
//  RESULT says it all (with the run time, ran_us), one message fewer
#define S_STARTED_AFTER_US 2000

//  A result waiting for the broker's ACK
typedef struct {
    char id [ASYNC_ID_LEN];
    uint64_t token;
    uint64_t proof;             //  ASSIGN's; 0: none
    int attempt;
    char *agent;
    zframe_t *frame;            //  the RESULT message
    int64_t started;            //  monotonic us: the attempt ran from
    int64_t ended;              //  ... to
    size_t started_at;          //  where in frame started_ago_us's 8 bytes are
    size_t ended_at;            //  ... and ended_ago_us's
    int64_t next_send;          //  monotonic us
    int64_t backoff;
} unacked_t;

//  A task's request to the broker, waiting for its reply
typedef struct {
    worker_t *worker;
    uint64_t token;             //  the job's
    char command [16];
    char tag [24];              //  the task's, sent back with the answer
} pending_req_t;

//  Our session with the broker. GREETING: HELLO sent, again every 2 s,
//  until WELCOME (at start, and after a REHELLO: the broker restarted or
//  declared us dead); WELCOMED: jobs flow, results go (and go again until
//  their ACK); REFUSED: the broker refused our HELLO for good (our uuid is
//  another live node's or bound to another key, or the HELLO is over its
//  budgets): we stop, exit code 6
typedef enum {
    NODE_GREETING,
    NODE_WELCOMED,
    NODE_REFUSED
} node_state_t;

struct _node_t {
    node_config_t config;
    node_reload_fn *reload;     //  on SIGHUP (node_set_reload), or NULL
    void *reload_arg;
    node_agent_set_fn *agent_set;       //  on AGENT-SET, or NULL
    void *agent_set_arg;
    bool reloading;             //  HELLO of changed agents sent, no WELCOME yet
    async_registry_t *registry;
    char uuid [ASYNC_ID_LEN];
    char key [NODE_KEY_HEX + 1];    //  the uuid's key (HELLO uuid_key)
    char session [ASYNC_ID_LEN];
    char cwd [4096];
    char host [256];
    char boot [64];             //  the machine's boot id (HELLO boot)
    zsock_t *dealer;
    zsock_t *up;                //  PULL: every worker's messages, index first
    zsock_t *monitor;           //  the dealer's handshake events (PAIR)
    worker_t *workers;
    int nworkers;
    pool_t *pool;               //  the worker threads and their queue
    async_task_t *to_run;       //  this message's jobs, for the pool at once
    async_task_t *to_run_tail;
    int64_t spin_us;            //  wait this long for them before polling (0: no)
    zlistx_t *running;          //  async_task_t *: given to the pool, not done
    async_idmap_t *unacked;     //  id -> unacked_t
    zhashx_t *requests;         //  rid (as text) -> pending_req_t
    uint64_t rid;
    node_state_t state;         //  of our session with the broker
    bool stopping;
    bool draining;              //  stopping, the running jobs left to end
    int64_t drain_until;        //  monotonic us
    bool broker_batch;          //  RESULT may carry `results` (WELCOME batch)
    bool batching;              //  draining the workers: results wait for the end
    msgpack_sbuffer results;    //  RESULT bodies kept while batching
    uint32_t nresults;
    unacked_t *last_result;     //  the last of them
    int64_t last_heard;         //  monotonic us
    int64_t next_ping;
    int64_t next_hello;
    bool welcomed_once;         //  a WELCOME came (the next is a re-welcome)
    uint64_t hello_first;       //  rids of the HELLOs since the last WELCOME
    uint64_t hello_last;
    int64_t reconnect_at;       //  after a refused handshake; 0: none due
    int64_t next_resend_check;  //  monotonic us: look at unacked results
    int broken;                 //  handshakes cut short since the last good one
    bool refused;               //  the last handshake failed
    int64_t refused_logged;     //  monotonic us
    int64_t greeting_since;     //  monotonic us: GREETING since, no WELCOME
    int64_t unreachable_logged; //  monotonic us; 0: not since the WELCOME
};

//  The handshake events that say whether the broker let us in
#define S_HANDSHAKE_EVENTS (ZMQ_EVENT_HANDSHAKE_SUCCEEDED                   \
                          | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL            \
                          | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL             \
                          | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#define S_RECONNECT_US      2000000     //  after a refused handshake
#define S_RESEND_CHECK_US   100000      //  unacked results looked at this often
//  How long past their expected run time the loop waits awake for the
//  results of the only jobs it has, when those are quick (one job at a
//  time: a sleep in poll and the eventfd's wake-up cost more)
#define S_SPIN_US           50
#define S_REFUSED_LOG_US    60000000    //  repeat the error this often
//  No WELCOME this long after our first HELLO: broker.unreachable, again
//  every S_UNREACHABLE_LOG_US while it lasts
#define S_UNREACHABLE_US    5000000
#define S_UNREACHABLE_LOG_US 60000000

//  ---------------------------------------------------------------------
//  Configuration helpers

static char **
s_split (const char *text, char sep)
{
    size_t count = 1;
    for (const char *p = text; *p; p++)
        count += *p == sep;
    char **strv = async_xcalloc (count + 1, sizeof (char *));
    size_t n = 0;
    const char *start = text;
    for (const char *p = text;; p++) {
        if (*p == sep || *p == 0) {
            if (p > start)
                strv [n++] = async_xstrndup (start, (size_t) (p - start));
            if (*p == 0)
                break;
            start = p + 1;
        }
    }
    return strv;
}

int
node_agent_parse (const char *text, node_agent_t *agent, char *err, size_t err_size)
{
    memset (agent, 0, sizeof *agent);
    char *copy = async_xstrdup (text);
    char *at = strchr (copy, '@');
    if (at) {
        *at = 0;
        agent->queues = s_split (at + 1, ',');
    }
    char *colon = strchr (copy, ':');
    char *size_text = colon ? colon + 1 : NULL;
    if (colon)
        *colon = 0;
    char *filter = size_text ? strchr (size_text, ':') : NULL;
    if (filter)
        *filter++ = 0;
    char *end = NULL;
    long size = size_text ? strtol (size_text, &end, 10) : 0;
    if (!*copy || !size_text || !end || *end || size < 1 || size > 10000) {
        snprintf (err, err_size, "--agent '%s' is not NAME:SIZE[:FILTER][@QUEUE,...] "
                  "with SIZE from 1 to 10000, e.g. main:3 or samples:1:pi.*@default", text);
        free (copy);
        return -1;
    }
    agent->name = async_xstrdup (copy);
    agent->size = (int) size;
    //  The filter as HELLO takes it (async_filter_check): a node never
    //  says a HELLO that the broker refuses for its globs
    char why [200];
    if (filter && async_filter_check (filter, strlen (filter), why, sizeof why)) {
        snprintf (err, err_size, "--agent '%.300s': %s", text, why);
        node_agent_free (agent);
        free (copy);
        return -1;
    }
    agent->include = async_xcalloc (ASYNC_FILTER_GLOBS + 1, sizeof (char *));
    agent->exclude = async_xcalloc (ASYNC_FILTER_GLOBS + 1, sizeof (char *));
    if (filter) {
        char **globs = s_split (filter, ',');
        int ni = 0, ne = 0;
        for (char **g = globs; *g; g++) {
            if (**g == '!')
                agent->exclude [ne++] = async_xstrdup (*g + 1);
            else
                agent->include [ni++] = async_xstrdup (*g);
            free (*g);
        }
        free (globs);
    }
    free (copy);
    return 0;
}

int
node_isolation_parse (const char *text, node_isolation_t *isolation)
{
    if (text && streq (text, "thread"))
        *isolation = NODE_ISOLATION_THREAD;
    else
    if (text && streq (text, "process"))
        *isolation = NODE_ISOLATION_PROCESS;
    else
        return -1;
    return 0;
}

const char *
node_isolation_name (node_isolation_t isolation)
{
    return isolation == NODE_ISOLATION_PROCESS ? "process" : "thread";
}

//  A copy of a NULL-terminated array of strings (NULL: NULL)
static char **
s_strv_copy (char **strv)
{
    if (!strv)
        return NULL;
    size_t count = 0;
    while (strv [count])
        count++;
    char **copy = async_xcalloc (count + 1, sizeof (char *));
    for (size_t i = 0; i < count; i++)
        copy [i] = async_xstrdup (strv [i]);
    return copy;
}

void
node_agent_copy (const node_agent_t *from, node_agent_t *to)
{
    to->name = async_xstrdup (from->name);
    to->size = from->size;
    to->queues = s_strv_copy (from->queues);
    to->include = s_strv_copy (from->include);
    to->exclude = s_strv_copy (from->exclude);
    to->isolation = from->isolation;
}

void
node_agent_free (node_agent_t *agent)
{
    char **lists [3] = { agent->queues, agent->include, agent->exclude };
    for (int l = 0; l < 3; l++) {
        for (char **item = lists [l]; item && *item; item++)
            free (*item);
        free (lists [l]);
    }
    free (agent->name);
    memset (agent, 0, sizeof *agent);
}

//  A new key: NODE_KEY_HEX random hex digits. 0 or -1
static int
s_key_new (char *key)
{
    uint8_t bytes [NODE_KEY_HEX / 2];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t rc = getrandom (bytes + got, sizeof bytes - got, 0);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        got += (size_t) rc;
    }
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf (key + 2 * i, 3, "%02x", bytes [i]);
    return 0;
}

//  Whether text is NODE_KEY_HEX lowercase hex digits, and nothing else
static bool
s_key_valid (const char *text)
{
    size_t len = strspn (text, "0123456789abcdef");
    return len == NODE_KEY_HEX && text [len] == 0;
}

//  Write the uuid file's text to a new temp file of a unique name next to
//  path (mode 0600: the key is a secret), fsync it. 0 with its name in
//  temp, or -1 with errno set (no temp file left)
static int
s_uuid_temp (const char *path, const char *uuid, const char *key, char *temp,
             size_t temp_size)
{
    if ((size_t) snprintf (temp, temp_size, "%s.tmp.XXXXXX", path) >= temp_size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp (temp);            //  mode 0600
    if (fd == -1)
        return -1;
    fcntl (fd, F_SETFD, FD_CLOEXEC);
    FILE *file = fdopen (fd, "w");
    if (!file) {
        int error = errno;
        close (fd);
        unlink (temp);
        errno = error;
        return -1;
    }
    fprintf (file, "%s\n"
             "key=%s\n"
             "# This is the instance UUID of an asyncnode and its key. The UUID names\n"
             "# this node to the broker across restarts; the key proves that a HELLO\n"
             "# with this UUID comes from this node (the broker binds the UUID to the\n"
             "# first key it sees). Keep this file private (mode 0600). Do not copy it\n"
             "# to another node: a node started with the UUID of a live node is\n"
             "# refused (exit code 6). Delete it to get a new UUID and key.\n",
             uuid, key);
    int rc = fflush (file) || fsync (fd) ? -1 : 0;
    int error = errno;
    if (fclose (file) && rc == 0) {
        rc = -1;
        error = errno;
    }
    if (rc) {
        unlink (temp);
        errno = error;
    }
    return rc;
}

//  Make the directory entry of path durable (best effort: a directory that
//  cannot be opened or synced only loses durability, not correctness)
static void
s_dir_sync (const char *path)
{
    char dir [4200];
    snprintf (dir, sizeof dir, "%s", path);
    char *slash = strrchr (dir, '/');
    if (slash == dir)
        slash [1] = 0;
    else
    if (slash)
        *slash = 0;
    else
        snprintf (dir, sizeof dir, ".");
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd != -1) {
        fsync (fd);
        close (fd);
    }
}

//  Create the uuid file, which must not exist: a temp file of our own,
//  then link () to path, which fails when path exists (another process
//  made it first, since we read it). 0; 1 when path exists; -1 with errno
static int
s_uuid_create (const char *path, const char *uuid, const char *key)
{
    char temp [4200];
    if (s_uuid_temp (path, uuid, key, temp, sizeof temp))
        return -1;
    int rc = link (temp, path);
    int error = errno;
    unlink (temp);
    if (rc == 0) {
        s_dir_sync (path);
        return 0;
    }
    errno = error;
    return error == EEXIST ? 1 : -1;
}

//  Replace the uuid file (to add a key): a temp file of our own, then
//  rename. 0 or -1 with errno set
static int
s_uuid_replace (const char *path, const char *uuid, const char *key)
{
    char temp [4200];
    if (s_uuid_temp (path, uuid, key, temp, sizeof temp))
        return -1;
    if (rename (temp, path)) {
        int error = errno;
        unlink (temp);
        errno = error;
        return -1;
    }
    s_dir_sync (path);
    return 0;
}

//  Read the uuid file: its uuid, and its key ("" when it has no key line).
//  0; 1 when there is no such file; -1 with the reason in err
static int
s_uuid_read (const char *path, char *uuid, char *key, char *err, size_t err_size)
{
    *key = 0;
    FILE *file = fopen (path, "r");
    if (!file && errno == ENOENT)
        return 1;
    if (!file) {
        snprintf (err, err_size, "cannot read %s: %s", path, strerror (errno));
        return -1;
    }
    char line [256] = "";
    if (!fgets (line, sizeof line, file))
        line [0] = 0;
    line [strcspn (line, "\r\n \t")] = 0;
    for (char *p = line; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
    if (!async_id_valid (line)) {
        fclose (file);
        snprintf (err, err_size, "%s does not start with a UUID; fix or delete it "
                  "(a new one is then made)", path);
        return -1;
    }
    memcpy (uuid, line, ASYNC_ID_LEN);
    //  Its key: the line "key=HEX"
    while (!*key && fgets (line, sizeof line, file)) {
        char *text = line + strspn (line, " \t");
        if (strncmp (text, "key=", 4) != 0)
            continue;
        text += 4;
        text [strcspn (text, "\r\n \t")] = 0;
        for (char *p = text; *p; p++)
            *p = (char) tolower ((unsigned char) *p);
        if (!s_key_valid (text)) {
            fclose (file);
            snprintf (err, err_size, "the key line of %s is not %d hex digits; fix "
                      "or delete the file (a new uuid and key are then made)", path,
                      NODE_KEY_HEX);
            return -1;
        }
        memcpy (key, text, NODE_KEY_HEX + 1);
    }
    //  The key is a secret: only the node's user may read it
    struct stat st;
    if (*key && fstat (fileno (file), &st) == 0 && (st.st_mode & 077)
    &&  fchmod (fileno (file), 0600))
        fprintf (stderr, "asyncnode: warning: others may read the key in %s "
                 "(mode %03o) and cannot be kept out: %s; chmod 600 it\n", path,
                 (unsigned) (st.st_mode & 0777), strerror (errno));
    fclose (file);
    return 0;
}

int
node_uuid_load (const char *path, char *uuid, char *key, char *err, size_t err_size)
{
    //  No file: make one. Another process started at the same time may
    //  make it first; then we take its uuid (the lock sorts out which of
    //  us runs). A file that disappears again is retried a few times.
    for (int attempt = 0; attempt < 5; attempt++) {
        int rc = s_uuid_read (path, uuid, key, err, err_size);
        if (rc != 1)
            return rc;
        async_id_new (uuid);
        if (s_key_new (key)) {
            snprintf (err, err_size, "cannot create %s: no random bytes for its key: %s",
                      path, strerror (errno));
            return -1;
        }
        rc = s_uuid_create (path, uuid, key);
        if (rc == 0)
            return 0;
        *key = 0;
        if (rc == -1) {
            snprintf (err, err_size, "cannot create %s: %s", path, strerror (errno));
            return -1;
        }
        //  rc == 1: another process created it since we looked: read it
    }
    snprintf (err, err_size, "cannot create %s: it was created and removed again several "
              "times while this node started; start the node again", path);
    return -1;
}

int
node_uuid_key_add (const char *path, const char *uuid, char *key, char *err,
                   size_t err_size)
{
    //  Read again: another process may have added one since we read it
    char now [ASYNC_ID_LEN];
    int rc = s_uuid_read (path, now, key, err, err_size);
    if (rc == 0 && strcmp (now, uuid) != 0)
        rc = 1;
    if (rc == 1)
        snprintf (err, err_size, "%s changed while the node started (it no longer holds "
                  "uuid %s); start the node again", path, uuid);
    if (rc || *key)
        return rc ? -1 : 0;
    if (s_key_new (key) || s_uuid_replace (path, uuid, key)) {
        snprintf (err, err_size, "cannot add a key to %s: %s; let the node write it, "
                  "or delete it (a new uuid and key are then made)", path, strerror (errno));
        *key = 0;
        return -1;
    }
    return 0;
}

//  The lock file's directory: host-wide, and cleared at boot
static const char *
s_lock_dir (void)
{
    struct stat st;
    if (stat ("/dev/shm", &st) == 0 && S_ISDIR (st.st_mode)
    &&  access ("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    return "/tmp";
}

//  The pid of a process that holds a flock on the file (dev, ino), read
//  from /proc/locks; 0 when none is found there
static long
s_lock_holder (dev_t dev, ino_t ino)
{
    FILE *file = fopen ("/proc/locks", "r");
    if (!file)
        return 0;
    long found = 0;
    char line [256];
    while (!found && fgets (line, sizeof line, file)) {
        //  "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's line
        //  reads "1: -> FLOCK ..."
        char type [16], kind [16], access [16];
        long pid;
        unsigned int dev_major, dev_minor;
        unsigned long long inode;
        char *text = strchr (line, ':');
        if (text && !strstr (line, "->")
        &&  sscanf (text + 1, "%15s %15s %15s %ld %x:%x:%llu", type, kind, access, &pid,
                    &dev_major, &dev_minor, &inode) == 7
        &&  streq (type, "FLOCK") && dev_major == major (dev) && dev_minor == minor (dev)
        &&  inode == (unsigned long long) ino && pid > 0)
            found = pid;
    }
    fclose (file);
    return found;
}

//  A user's name, else "uid N"
static void
s_user_name (uid_t uid, char *name, size_t name_size)
{
    struct passwd entry, *result = NULL;
    char buffer [1024];
    if (getpwuid_r (uid, &entry, buffer, sizeof buffer, &result) == 0 && result)
        snprintf (name, name_size, "%s (uid %lu)", result->pw_name, (unsigned long) uid);
    else
        snprintf (name, name_size, "uid %lu", (unsigned long) uid);
}

//  "pid P, COMMAND, user NAME" of a process (the user when it is not us),
//  and its user in *uid_p. Whether the process can be seen (in /proc)
static bool
s_process_describe (long pid, char *text, size_t text_size, uid_t *uid_p)
{
    char path [64], comm [32] = "";
    *uid_p = (uid_t) -1;
    snprintf (path, sizeof path, "/proc/%ld/comm", pid);
    FILE *file = fopen (path, "r");
    if (file) {
        if (!fgets (comm, sizeof comm, file))
            comm [0] = 0;
        fclose (file);
    }
    comm [strcspn (comm, "\n")] = 0;
    for (char *p = comm; *p; p++)       //  its name is its own to choose
        if (!isalnum ((unsigned char) *p) && !strchr ("-_.+:@/ ", *p))
            *p = '?';
    char user [160] = "";
    struct stat st;
    snprintf (path, sizeof path, "/proc/%ld", pid);
    if (stat (path, &st) == 0) {
        *uid_p = st.st_uid;
        if (st.st_uid != geteuid ()) {
            char name [128];
            s_user_name (st.st_uid, name, sizeof name);
            snprintf (user, sizeof user, ", user %s", name);
        }
    }
    snprintf (text, text_size, "pid %ld%s%s%s", pid, *comm ? ", " : "", comm, user);
    return *uid_p != (uid_t) -1;
}

//  The message for a lock held by another process of ours. What it wrote
//  in the file (only this user can write it) tells whether it runs from
//  our uuid file or from a copy of it
static void
s_lock_held (int fd, const char *path, const char *uuid,
             const char *uuid_file, long pid, const char *holder, char *err,
             size_t err_size)
{
    char text [128] = "";
    ssize_t size = pread (fd, text, sizeof text - 1, 0);
    text [size > 0 ? size : 0] = 0;
    long written = 0;
    unsigned long long file_dev = 0, file_ino = 0;
    int fields = sscanf (text, "%ld uuid_file=%llx:%llx", &written, &file_dev, &file_ino);
    char who [200];
    if (*holder)
        snprintf (who, sizeof who, "%s", holder);
    else
    if (fields >= 1 && written > 0)
        snprintf (who, sizeof who, "pid %ld", written);
    else
    if (pid)
        snprintf (who, sizeof who, "pid %ld", pid);
    else
        snprintf (who, sizeof who, "pid unknown");
    struct stat ours;
    if (fields == 3 && stat (uuid_file, &ours) == 0
    &&  (unsigned long long) ours.st_dev == file_dev
    &&  (unsigned long long) ours.st_ino == file_ino)
        snprintf (err, err_size, "this node already runs (%s) with uuid %s from %s; "
                  "stop it before starting it again", who, uuid, uuid_file);
    else
    if (fields == 3)
        snprintf (err, err_size, "another asyncnode on this machine (%s) runs with uuid "
                  "%s from another file, of which %s is a copy; give each node its own "
                  "uuid: delete %s in this node's directory (a new one is then made)", who,
                  uuid, uuid_file, uuid_file);
    else
        snprintf (err, err_size, "another process on this machine (%s) holds the lock %s "
                  "of uuid %s (from %s): if it is this node, stop it first; if it is "
                  "another asyncnode with a copy of %s, delete %s in this node's "
                  "directory (a new uuid is then made)", who, path, uuid, uuid_file,
                  uuid_file, uuid_file);
}

int
node_uuid_lock (const char *uuid, const char *uuid_file, int *fd_p,
                char *lock, size_t lock_size, char *err, size_t err_size)
{
    char path [256];
    snprintf (path, sizeof path, "%s/asyncnode-%s.lock", s_lock_dir (), uuid);
    uid_t me = geteuid ();
    //  The lock file must be ours and only ours (mode 0600): the uuid, and
    //  so the file's name, is public, and whoever may open a file may
    //  flock it. A file that is not (another user's, a symlink, older
    //  versions' 0644 one held by another user) is replaced when we may
    //  remove it, and refused when we may not. After flock, the file must
    //  still be the one at path: another process may have replaced it.
    for (int attempt = 0; attempt < 5; attempt++) {
        int fd = open (path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd == -1 && errno == EEXIST)
            fd = open (path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd == -1 && errno == ENOENT)
            continue;                   //  removed since: make it again
        int error = errno;
        struct stat st;
        if (fd != -1 && fstat (fd, &st)) {
            error = errno;
            close (fd);
            fd = -1;
        }
        else
        if (fd != -1 && (!S_ISREG (st.st_mode) || st.st_uid != me || st.st_nlink != 1)) {
            close (fd);
            fd = -1;
            error = EACCES;
        }
        if (fd == -1) {
            if (error != EACCES && error != EPERM && error != ELOOP && error != ENXIO) {
                snprintf (err, err_size, "cannot open the uuid lock %s: %s", path,
                          strerror (error));
                return ASYNC_EUSAGE;
            }
            //  Not ours: away with it, if we may
            struct stat owner;
            if (unlink (path) == 0 || errno == ENOENT)
                continue;
            char name [128] = "an unknown user";
            if (lstat (path, &owner) == 0)
                s_user_name (owner.st_uid, name, sizeof name);
            snprintf (err, err_size, "the uuid lock %s is not this user's own file (its "
                      "owner: %s) and cannot be removed: another user may be keeping this "
                      "node from starting; have it removed (by its owner or root) and start "
                      "the node again", path, name);
            return ASYNC_EUSAGE;
        }
        bool lax = (st.st_mode & 077) != 0;
        if (flock (fd, LOCK_EX | LOCK_NB) == 0) {
            struct stat now;
            bool current = stat (path, &now) == 0 && now.st_dev == st.st_dev
                        && now.st_ino == st.st_ino;
            if (!current || lax) {
                //  Replaced since we opened it; or others may have it open
                //  (made by an older version): a new one, 0600
                if (current)
                    unlink (path);
                close (fd);
                continue;
            }
            //  Our pid and uuid file, for the message of a second process
            struct stat file_st;
            char text [96];
            int len = stat (uuid_file, &file_st) == 0
                    ? snprintf (text, sizeof text, "%ld\nuuid_file=%llx:%llx\n",
                                (long) getpid (), (unsigned long long) file_st.st_dev,
                                (unsigned long long) file_st.st_ino)
                    : snprintf (text, sizeof text, "%ld\n", (long) getpid ());
            //  Only for that message: a failed write is harmless
            if (ftruncate (fd, 0) == 0) {
                ssize_t written = pwrite (fd, text, (size_t) len, 0);
                (void) written;
            }
            snprintf (lock, lock_size, "%llx:%llx", (unsigned long long) st.st_dev,
                      (unsigned long long) st.st_ino);
            *fd_p = fd;
            return 0;
        }
        error = errno;
        if (error != EWOULDBLOCK) {
            close (fd);
            snprintf (err, err_size, "cannot lock %s: %s", path, strerror (error));
            return ASYNC_EUSAGE;
        }
        //  Held. By another user (through a file opened while others could,
        //  or handed to it): not a node of ours; replace the file. An
        //  asyncnode flocks the file itself and keeps running, so a file
        //  others could open whose locker is gone (or cannot be seen: it
        //  is another user's) is not held by one of ours either
        long pid = s_lock_holder (st.st_dev, st.st_ino);
        char holder [256] = "";
        uid_t holder_uid = (uid_t) -1;
        bool seen = pid && s_process_describe (pid, holder, sizeof holder, &holder_uid);
        if ((seen && holder_uid != me) || (lax && !seen)) {
            unlink (path);
            close (fd);
            continue;
        }
        if (!seen)
            *holder = 0;
        s_lock_held (fd, path, uuid, uuid_file, pid, holder, err, err_size);
        close (fd);
        return ASYNC_EREFUSED;
    }
    snprintf (err, err_size, "cannot take the uuid lock %s: it was replaced again and again "
              "while this node started (another process removes it); start the node again",
              path);
    return ASYNC_EUSAGE;
}

//  ---------------------------------------------------------------------
//  Workers

//  A job on worker `index`, in its thread (pool_run_fn)
static void
s_worker_run (void *arg, int index, async_task_t *job)
{
    node_t *self = (node_t *) arg;
    worker_t *worker = &self->workers [index];
    job->pipe = worker->theirs;
    job->up = worker->push;
    job->worker = index;
    if (job->isolated)
        node_isolate_run (job, worker->theirs, self->config.zygote);
    else {
        job->fn (job);
        if (!job->outcome)
            async_task_fail (job, "Error", "the task returned without completing "
                             "(call async_task_return or async_task_fail)");
    }
    job->pipe = NULL;
    job->up = NULL;
    async_log_trace ("node", "job.done", "job=%s outcome=%d", job->id, job->outcome);
}

//  ---------------------------------------------------------------------
//  Messages to the broker

static void
s_send (node_t *self, async_msg_t *msg)
{
    assert (async_msg_valid (msg));
    zframe_t *frame = zframe_new (msg->buffer.data, msg->buffer.size);
    async_msg_destroy (msg);
    zframe_send (&frame, self->dealer, ZFRAME_DONTWAIT);
    zframe_destroy (&frame);
}

//  Our PING: `node` says that a node sends it, with a session to keep
static void
s_send_ping (node_t *self)
{
    async_ping_t ping = { .has_node = true, .node = 1 };
    async_msg_t msg;
    async_ping_encode (&msg, ASYNC_C_PING, 0, &ping);
    s_send (self, &msg);
}

//  One entry of HELLO's held list; `proof` 0: none (an older broker's
//  ASSIGN had none)
static void
s_pack_held (msgpack_packer *pk, const char *id, uint64_t token, uint64_t proof,
             int attempt, const char *agent)
{
    async_hello_held_t held = { .token = token, .has_attempt = true, .attempt = attempt,
                                .agent = async_str (agent), .has_proof = proof != 0,
                                .proof = proof };
    memcpy (held.id, id, ASYNC_ID_LEN);
    async_hello_held_pack_to (pk, &held);
}

//  HELLO's held list: the jobs we hold, queued or running ones, and
//  results not yet acknowledged (async_pack_fn)
static void
s_pack_helds (msgpack_packer *pk, void *arg)
{
    node_t *self = (node_t *) arg;
    msgpack_pack_array (pk, async_idmap_size (self->unacked) + zlistx_size (self->running));
    async_task_t *job = (async_task_t *) zlistx_first (self->running);
    while (job) {
        s_pack_held (pk, job->id, job->token, job->proof, job->attempt, job->agent);
        job = (async_task_t *) zlistx_next (self->running);
    }
    unacked_t *unacked = (unacked_t *) async_idmap_first (self->unacked);
    while (unacked) {
        s_pack_held (pk, unacked->id, unacked->token, unacked->proof, unacked->attempt,
                     unacked->agent);
        unacked = (unacked_t *) async_idmap_next (self->unacked);
    }
}

//  A list of names, NULL-terminated (NULL: none), for async_part_packed
static void
s_pack_names (msgpack_packer *pk, void *arg)
{
    const char **names = (const char **) arg;
    size_t n = 0;
    while (names && names [n])
        n++;
    msgpack_pack_array (pk, n);
    for (size_t k = 0; k < n; k++)
        async_codec_pack_str (pk, names [k]);
}

//  HELLO's agents (async_pack_fn)
static void
s_pack_agents (msgpack_packer *pk, void *arg)
{
    node_t *self = (node_t *) arg;
    msgpack_pack_array (pk, self->config.nagents);
    for (int i = 0; i < self->config.nagents; i++) {
        node_agent_t *agent = &self->config.agents [i];
        async_hello_agent_t body = {
            .name = async_str (agent->name), .size = agent->size,
            .has_isolation = true,
            .isolation = async_str (node_isolation_name (agent->isolation)),
            .has_queues = true, .queues = async_part_packed (s_pack_names, agent->queues),
            .has_include = true, .include = async_part_packed (s_pack_names, agent->include),
            .has_exclude = true, .exclude = async_part_packed (s_pack_names, agent->exclude)
        };
        async_hello_agent_pack_to (pk, &body);
    }
}

static void
s_send_hello (node_t *self)
{
    const char **tasks = registry_names (self->registry);
    if (self->draining)
        tasks [0] = NULL;       //  draining: no task, so no new work
    async_hello_t hello = {
        .uuid_key = async_str (self->key),      //  proves the uuid is ours
        .has_session = true, .session = async_str (self->session),
        .has_host = true, .host = async_str (self->host),
        .has_pid = true, .pid = getpid (),
        .has_boot = *self->boot != 0, .boot = async_str (self->boot),
        .has_lock = self->config.lock != NULL,
        .lock = async_str (self->config.lock ? self->config.lock : ""),
        .agents = async_part_packed (s_pack_agents, self),
        .has_tasks = true, .tasks = async_part_packed (s_pack_names, (void *) tasks),
        .has_held = true, .held = async_part_packed (s_pack_helds, self),
        .has_batch = true, .batch = 1,          //  ASSIGN may carry `jobs`
        .has_acks = true, .acks = 1             //  ... and `acks`
    };
    memcpy (hello.uuid, self->uuid, ASYNC_ID_LEN);
    async_msg_t msg;
    async_hello_encode (&msg, ASYNC_C_HELLO, ++self->rid, &hello);
    free (tasks);
    if (!self->hello_first)
        self->hello_first = self->rid;
    self->hello_last = self->rid;
    s_send (self, &msg);
    self->next_hello = async_mono_us () + 2000000;
}

static void
s_unacked_destroy (unacked_t **self_p)
{
    if (*self_p) {
        zframe_destroy (&(*self_p)->frame);
        free ((*self_p)->agent);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
    s_flush_results (node_t *self);

//  Set the RESULT's started_ago_us and ended_ago_us for a send at `now`:
//  the attempt's times as offsets from the moment the RESULT goes, so the
//  broker takes them from its own clock (no clock sync), right within the
//  network delay however long the result waited for its ACK
static void
s_unacked_stamp (unacked_t *self, int64_t now)
{
    async_result_stamp (zframe_data (self->frame), self->started_at, now - self->started);
    async_result_stamp (zframe_data (self->frame), self->ended_at, now - self->ended);
}

//  Send (or send again) a result kept for its ACK
static void
s_unacked_send (node_t *self, unacked_t *unacked)
{
    s_unacked_stamp (unacked, async_mono_us ());
    zframe_t *copy = zframe_dup (unacked->frame);
    zframe_send (&copy, self->dealer, ZFRAME_DONTWAIT);
    zframe_destroy (&copy);
}

//  A finished attempt: build RESULT, keep it until the broker ACKs it
static void
s_finish (node_t *self, async_task_t *job, int64_t ran_us)
{
    //  A result msgpack cannot carry (nested too deep, bad $bin) fails the
    //  job rather than the message
    uint8_t *result = NULL;
    size_t result_size = 0;
    if (job->outcome == 1
    &&  async_codec_encode_json (job->result ? job->result : json_null (), &result,
                                 &result_size)) {
        job->outcome = 0;
        async_task_failf (job, "ValueError", "the task's result cannot be sent: it "
                          "nests deeper than %d levels or holds a bad {\"$bin\"}",
                          ASYNC_MAX_VALUE_DEPTH);
    }
    async_result_t outcome = { .token = job->token, .has_ran_us = ran_us >= 0, .ran_us = ran_us };
    memcpy (outcome.id, job->id, ASYNC_ID_LEN);
    msgpack_sbuffer failure;
    msgpack_sbuffer_init (&failure);
    if (job->outcome == 1) {
        outcome.has_result = true;
        outcome.result = (async_any_t) { .data = result, .size = result_size };
    }
    else
    if (job->outcome == 3) {
        outcome.has_handoff = true;
        outcome.handoff = async_str (job->handoff);
    }
    else {
        msgpack_packer pk;
        msgpack_packer_init (&pk, &failure, async_sbuffer_write);
        msgpack_pack_map (&pk, 4);
        async_codec_pack_str (&pk, "type");
        async_codec_pack_str (&pk, job->failure_type);
        async_codec_pack_str (&pk, "message");
        async_codec_pack_str (&pk, job->failure_message);
        async_codec_pack_str (&pk, "detail");
        //  The task's detail (a crash's backtrace: up to 6 KB), then where
        char detail [8192];
        snprintf (detail, sizeof detail, "%.6144s%stask=%s attempt=%d node=%s agent=%s\n"
                  "args=%.900s",
                  job->failure_detail ? job->failure_detail : "",
                  job->failure_detail ? "\n" : "", job->task, job->attempt, self->uuid,
                  job->agent, "");
        char *args = json_dumps (job->args, JSON_COMPACT);
        if (args) {
            size_t len = strlen (detail);
            snprintf (detail + len, sizeof detail - len, "%.900s", args);
            free (args);
        }
        async_codec_pack_str (&pk, detail);
        async_codec_pack_str (&pk, "transient");
        if (job->failure_transient)
            msgpack_pack_true (&pk);
        else
            msgpack_pack_false (&pk);
        outcome.has_failure = true;
        outcome.failure = (async_any_t) { .data = failure.data, .size = failure.size };
        if (job->failure_type && async_log_enabled (ASYNC_LOG_WARNING)) {
            char message [512];
            async_log_quote (job->failure_message, message, sizeof message);
            async_log (streq (job->failure_type, "CrashedError") ? ASYNC_LOG_ERROR
                       : ASYNC_LOG_WARNING, "node", "job.failed", "job=%s task=%s "
                       "attempt=%d type=%s message=\"%s\"", job->id, job->task,
                       job->attempt, job->failure_type, message);
        }
    }
    //  Stamped at each send (s_unacked_stamp): fixed-width, in place
    async_msg_t msg;
    size_t started_at, ended_at;
    async_result_encode_stamped (&msg, ++self->rid, &outcome, &started_at, &ended_at);
    free (result);
    msgpack_sbuffer_destroy (&failure);
    unacked_t *unacked = async_xcalloc (1, sizeof (unacked_t));
    memcpy (unacked->id, job->id, ASYNC_ID_LEN);
    unacked->token = job->token;
    unacked->proof = job->proof;
    unacked->attempt = job->attempt;
    unacked->agent = async_xstrdup (job->agent);
    assert (async_msg_valid (&msg));
    unacked->frame = zframe_new (msg.buffer.data, msg.buffer.size);
    unacked->started_at = started_at;
    unacked->ended_at = ended_at;
    int64_t now = async_mono_us ();
    int64_t began = atomic_load (&job->run_mono);
    unacked->started = began ? began : now;     //  0: it never ran (unknown task)
    unacked->ended = began ? began + (ran_us > 0 ? ran_us : 0) : now;
    size_t body = msg.body;
    async_msg_destroy (&msg);
    unacked->backoff = 500000;
    unacked->next_send = async_mono_us () + unacked->backoff;
    async_idmap_delete (self->unacked, unacked->id);    //  an earlier attempt's
    async_idmap_insert (self->unacked, unacked->id, unacked);
    if (self->batching && self->broker_batch) {
        //  Sent with the other results of this turn (s_flush_results)
        s_unacked_stamp (unacked, now);
        async_sbuffer_write (&self->results, (const char *) zframe_data (unacked->frame)
                               + body, zframe_size (unacked->frame) - body);
        self->nresults++;
        self->last_result = unacked;
        if (self->nresults >= ASYNC_MAX_RESULTS)
            s_flush_results (self);     //  the broker reads no more in one
        return;
    }
    s_unacked_send (self, unacked);
}

//  Send the results kept while draining the workers: one RESULT with
//  `results`, or the one alone
static void
s_flush_results (node_t *self)
{
    if (self->nresults == 1)
        s_unacked_send (self, self->last_result);
    else
    if (self->nresults > 1) {
        async_msg_t msg;
        async_msg_init (&msg, ASYNC_C_RESULT, ++self->rid);
        async_msg_batch (&msg, "results", self->nresults, &self->results);
        s_send (self, &msg);
    }
    msgpack_sbuffer_clear (&self->results);
    self->nresults = 0;
    self->last_result = NULL;
}

static void
s_run (node_t *self, async_task_t *job)
{
    async_log_debug ("node", "job.started", "job=%s task=%s attempt=%d agent=%s "
                     "token=%" PRIu64, job->id, job->task, job->attempt, job->agent,
                     job->token);
    job->running = zlistx_add_end (self->running, job);
    job->next = NULL;
    if (self->to_run_tail)
        self->to_run_tail->next = job;
    else
        self->to_run = job;
    self->to_run_tail = job;
}

static void
s_on_assign (node_t *self, const msgpack_object *body)
{
    async_assign_t assign;
    if (async_assign_decode_map (&assign, body)) {
        async_log_warning ("node", "message.dropped", "reason=\"malformed ASSIGN\"");
        return;
    }
    async_task_t *job = node_job_new ();
    memcpy (job->id, assign.id, ASYNC_ID_LEN);
    job->token = assign.token;
    job->task = async_xstrndup (assign.task.data, assign.task.size);
    job->proof = assign.proof;          //  0 from an older broker: no adoption
    job->agent = assign.has_agent ? async_xstrndup (assign.agent.data, assign.agent.size)
                                  : async_xstrdup (self->config.agents [0].name);
    const node_agent_t *agent = &self->config.agents [0];
    for (int i = 0; i < self->config.nagents; i++)
        if (streq (self->config.agents [i].name, job->agent))
            agent = &self->config.agents [i];
    job->isolated = agent->isolation == NODE_ISOLATION_PROCESS;
    job->attempt = assign.has_attempt ? (int) assign.attempt : 1;
    job->timeout_ms = assign.timeout_ms;
    const msgpack_object *args = assign.args.object, *kwargs = assign.kwargs.object;
    job->args = args && args->type == MSGPACK_OBJECT_ARRAY ? async_codec_to_json (args)
                                                           : json_array ();
    job->kwargs = kwargs && kwargs->type == MSGPACK_OBJECT_MAP
                ? async_codec_to_json (kwargs) : json_object ();
    job->cwd = self->cwd;
    job->node = self->uuid;
    job->fn = registry_lookup (self->registry, job->task);
    if (node_python_is_task (job->fn))
        job->isolated = true;           //  Python: always in a child (python.h)
    if (!job->fn) {
        char message [300];
        snprintf (message, sizeof message, "no task named %s on node %s; load its module "
                  "with --module", job->task, self->uuid);
        async_task_fail (job, "UnknownTaskError", message);
        s_finish (self, job, 0);
        node_job_destroy (&job);
        return;
    }
    s_run (self, job);
}

static void
s_on_ack (node_t *self, const msgpack_object *body)
{
    async_ack_t ack;
    char id [ASYNC_ID_LEN];
    if (async_ack_decode_map (&ack, body) || async_str_copy (ack.id, id, sizeof id))
        return;
    if (ack.rejected)
        async_log_warning ("node", "job.reassigned", "job=%s type=ReassignedError "
                           "message=\"the broker gave this job to another attempt; "
                           "our result was dropped\"", id);
    async_idmap_delete (self->unacked, id);
}

//  AGENT-SET: change an agent as asked (the setter calls node_set_agents,
//  which says HELLO again), then answer AGENT-APPLIED with the ref
static void
s_on_agent_set (node_t *self, async_inmsg_t *in)
{
    async_agent_change_t change;
    bool typed = async_agent_change_decode (&change, in) == 0;
    uint64_t ref = change.ref;
    if (!typed && async_mp_uint (in->body, "ref", &ref)) {
        async_log_warning ("node", "message.dropped", "reason=\"AGENT-SET without ref\"");
        return;
    }
    char name [ASYNC_MAX_NAME + 1] = "", err [600] = "";
    int64_t size = change.size;
    int rc = -1;
    bool save = change.save;
    char *filter = change.has_filter ? async_xstrndup (change.filter.data, change.filter.size)
                                     : NULL;
    if (!typed || async_str_copy (change.agent, name, sizeof name) || size < 1
    ||  size > 10000)
        snprintf (err, sizeof err, "malformed AGENT-SET (agent, size 1 to 10000, filter)");
    else
    if (!self->agent_set)
        snprintf (err, sizeof err, "this node cannot change its agents while it runs");
    else {
        rc = self->agent_set (self, self->agent_set_arg, name, (int) size, filter, save, err,
                              sizeof err);
        if (rc && !*err)
            snprintf (err, sizeof err, rc > 0 ? "no reason given" : "the change was not made");
    }
    bool made = rc >= 0;        //  1: made, not saved (err says why)
    if (async_log_enabled (ASYNC_LOG_INFO)) {
        //  The broker's text, quoted: one line, whatever it holds
        char qname [ASYNC_MAX_NAME * 2], qfilter [512], qerr [700];
        async_log_quote (name, qname, sizeof qname);
        async_log_quote (filter ? filter : "", qfilter, sizeof qfilter);
        async_log_quote (err, qerr, sizeof qerr);
        async_log_info ("node", !made ? "agent.set_refused"
                                : *err ? "agent.set_unsaved" : "agent.set", "node=%s "
                        "agent=\"%s\" size=%" PRId64 " filter=\"%s\" save=%d reason=\"%s\"",
                        self->uuid, qname, size, qfilter, save, qerr);
    }
    free (filter);
    async_agent_applied_t applied = { .ref = ref, .has_ok = true, .ok = made };
    if (made) {
        applied.has_unsaved = *err != 0;
        applied.unsaved = async_str (err);
    }
    else {
        applied.has_error = *err != 0;
        applied.error = async_str (err);
    }
    async_msg_t msg;
    async_agent_applied_encode (&msg, ASYNC_C_AGENT_APPLIED, ++self->rid, &applied);
    s_send (self, &msg);
}

static void
s_on_cancel (node_t *self, async_inmsg_t *in)
{
    async_job_token_t cancel;
    if (async_job_token_decode (&cancel, in))
        return;
    async_task_t *job = (async_task_t *) zlistx_first (self->running);
    while (job) {
        if (streq (job->id, cancel.id))
            atomic_store (&job->cancelled, 1);
        job = (async_task_t *) zlistx_next (self->running);
    }
}

//  The reply to a task's request: back to its worker
static void
s_on_reply (node_t *self, async_inmsg_t *in)
{
    char key [32];
    snprintf (key, sizeof key, "%" PRIu64, in->rid);
    pending_req_t *req = (pending_req_t *) zhashx_lookup (self->requests, key);
    if (!req)
        return;
    json_t *body;
    async_job_record_t record;
    if (async_job_record_decode (&record, in) == 0) {
        async_job_t *job = async_job_decode_object (record.job.object);
        body = json_object ();
        if (job)
            json_object_set_new (body, "job", async_job_to_json (job));
        async_job_destroy (&job);
    }
    else
        body = async_codec_to_json (in->body);
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    char token [24];
    snprintf (token, sizeof token, "%" PRIu64, req->token);
    zsock_send (req->worker->mine, "ssss", async_inmsg_is (in, ASYNC_S_ERROR) ? "ERROR" : "OK",
                text ? text : "null", req->tag, token);
    free (text);
    zhashx_delete (self->requests, key);
}

//  True when an ERROR refuses our HELLO for good: another live node has
//  our uuid, our uuid is bound to another key, or the HELLO is over the
//  broker's limits
static bool
s_hello_fatal (const async_error_t *error)
{
    return error->has_reason
        && (async_str_eq (error->reason, "uuid_in_use")
            || async_str_eq (error->reason, "uuid_key")
            || async_str_eq (error->reason, "hello_limit"));
}

//  Handle one message from the broker; false when none was waiting
static bool
s_on_broker (node_t *self)
{
    zframe_t *frame = zframe_recv (self->dealer);
    if (!frame)
        return false;
    async_inmsg_t in;
    const char *why;
    if (async_inmsg_parse (&in, zframe_data (frame), zframe_size (frame), &why)) {
        async_log_warning ("node", "message.dropped", "reason=\"%s\"", why);
        async_inmsg_destroy (&in);
        zframe_destroy (&frame);
        return true;
    }
    self->last_heard = async_mono_us ();
    if (async_inmsg_is (&in, ASYNC_S_ASSIGN)) {
        //  One job, or this turn's jobs for us in `jobs`, and ACKs of
        //  earlier results may ride along
        async_assign_batch_t batch;
        bool jobs = async_assign_batch_decode (&batch, &in) == 0;
        const msgpack_object *acks = jobs && batch.has_acks ? batch.acks.object : NULL;
        for (uint32_t i = 0; acks && i < acks->via.array.size; i++)
            s_on_ack (self, &acks->via.array.ptr [i]);
        //  (Draining: jobs sent before our HELLO that takes none; the
        //  broker takes them back as we do not hold them)
        //  The same after a HELLO of changed agents, until its WELCOME: the
        //  broker sent these to the former session and takes them back
        bool taking = !self->stopping && !self->draining && !self->reloading;
        const msgpack_object *assigns = jobs && taking ? batch.jobs.object : NULL;
        for (uint32_t i = 0; assigns && i < assigns->via.array.size; i++)
            if (assigns->via.array.ptr [i].type == MSGPACK_OBJECT_MAP)
                s_on_assign (self, &assigns->via.array.ptr [i]);
        if (taking && !jobs)
            s_on_assign (self, in.body);
        if (self->to_run) {
            //  The only jobs here, and quick: their results are worth
            //  waiting for, awake (S_SPIN_US)
            size_t count = 0;
            for (async_task_t *job = self->to_run; job; job = job->next)
                count++;
            int64_t expected = pool_push (self->pool, self->to_run);
            if (count == zlistx_size (self->running) && expected < POOL_BUDGET_US)
                self->spin_us = expected + S_SPIN_US;
            self->to_run = self->to_run_tail = NULL;
        }
    }
    else
    if (async_inmsg_is (&in, ASYNC_S_ACK)) {
        //  One ACK, or the ACKs of a batch of results in `acks`
        async_ack_batch_t batch;
        const msgpack_object *acks = async_ack_batch_decode (&batch, &in) == 0
                                   ? batch.acks.object : NULL;
        for (uint32_t i = 0; acks && i < acks->via.array.size; i++)
            s_on_ack (self, &acks->via.array.ptr [i]);
        if (!acks)
            s_on_ack (self, in.body);
    }
    else
    if (async_inmsg_is (&in, ASYNC_S_WELCOME)) {
        bool first = !self->welcomed_once;
        self->welcomed_once = true;
        self->reloading = false;
        self->state = NODE_WELCOMED;
        self->hello_first = 0;
        self->unreachable_logged = 0;
        async_welcome_t welcome;
        async_welcome_decode (&welcome, &in);     //  else zeroed: no batch
        self->broker_batch = welcome.batch != 0;
        async_log_info ("node", first ? "node.welcomed" : "node.rewelcomed",
                        "node=%s broker=%s", self->uuid, self->config.broker);
        //  Deliver the results the broker has not acknowledged yet
        unacked_t *unacked = (unacked_t *) async_idmap_first (self->unacked);
        while (unacked) {
            s_unacked_send (self, unacked);
            unacked = (unacked_t *) async_idmap_next (self->unacked);
        }
    }
    else
    if (async_inmsg_is (&in, ASYNC_S_REHELLO)) {
        if (self->state != NODE_GREETING)
            self->greeting_since = async_mono_us ();
        self->state = NODE_GREETING;
        if (async_mono_us () >= self->next_hello - 1500000)
            s_send_hello (self);
    }
    else
    if (async_inmsg_is (&in, ASYNC_S_PING)) {
        s_send_ping (self);
        self->next_ping = async_mono_us () + (int64_t) self->config.heartbeat_ms * 1000;
    }
    else
    if (async_inmsg_is (&in, ASYNC_S_CANCEL))
        s_on_cancel (self, &in);
    else
    if (async_inmsg_is (&in, ASYNC_S_AGENT_SET))
        s_on_agent_set (self, &in);
    else
    if (async_inmsg_is (&in, ASYNC_S_PONG))
        ;
    else
    if (async_inmsg_is (&in, ASYNC_S_ERROR)) {
        char key [32];
        snprintf (key, sizeof key, "%" PRIu64, in.rid);
        if (zhashx_lookup (self->requests, key))
            s_on_reply (self, &in);
        else {
            async_error_t error;
            if (async_error_decode (&error, &in))
                error.message = async_str ("");
            int size = (int) error.message.size;    //  within a frame: fits
            if (self->hello_first && in.rid >= self->hello_first
            &&  in.rid <= self->hello_last && s_hello_fatal (&error)) {
                //  Our HELLO refused: another live node has our uuid, or it
                //  is over the limits. (Other refusals, such as a key that
                //  may not act as a node, may be fixed at the broker: we say
                //  HELLO again.)
                async_log_error ("node", "node.refused", "node=%s uuid_file=%s "
                                 "message=\"%.*s\"", self->uuid, self->config.uuid_file
                                 ? self->config.uuid_file : "", size, error.message.data);
                self->state = NODE_REFUSED;
            }
            else
                async_log_error ("node", "broker.error", "message=\"%.*s\"", size,
                                 error.message.data);
        }
    }
    else
        s_on_reply (self, &in);
    async_inmsg_destroy (&in);
    zframe_destroy (&frame);
    return true;
}

//  A job is done: answers to its requests that are still to come go nowhere
static void
s_requests_forget (node_t *self, uint64_t token)
{
    if (zhashx_size (self->requests) == 0)
        return;
    zlistx_t *keys = zlistx_new ();
    pending_req_t *req = (pending_req_t *) zhashx_first (self->requests);
    while (req) {
        if (req->token == token)
            zlistx_add_end (keys, (void *) zhashx_cursor (self->requests));
        req = (pending_req_t *) zhashx_next (self->requests);
    }
    const char *key = (const char *) zlistx_first (keys);
    while (key) {
        zhashx_delete (self->requests, key);
        key = (const char *) zlistx_next (keys);
    }
    zlistx_destroy (&keys);
}

//  A job the pool finished: its RESULT goes to the broker
//  A job the pool gave back leaves `running`, with its requests
static void
s_gone (node_t *self, async_task_t *job)
{
    zlistx_delete (self->running, job->running);
    s_requests_forget (self, job->token);
}

static void
s_on_done (node_t *self, async_task_t *job)
{
    s_gone (self, job);
    s_finish (self, job, job->ran_us);
    node_job_destroy (&job);
}

//  A message from a worker: its index first. NULL zmsg or bad index: NULL
static worker_t *
s_worker_of (node_t *self, zmsg_t *zmsg)
{
    char *index = zmsg ? zmsg_popstr (zmsg) : NULL;
    int i = index ? atoi (index) : -1;
    zstr_free (&index);
    return i >= 0 && i < self->nworkers ? &self->workers [i] : NULL;
}

//  A message from a task, through `up`: its worker's index, the command,
//  then the job's token (and id, for PROGRESS)
static void
s_on_worker (node_t *self, worker_t *worker, zmsg_t *zmsg)
{
    char *command = zmsg_popstr (zmsg);
    async_log_trace ("node", "worker.message", "worker=%d command=%s", worker->index,
                     command ? command : "-");
    if (command && streq (command, "PROGRESS")) {
        char *id = zmsg_popstr (zmsg), *token = zmsg_popstr (zmsg);
        char *done = zmsg_popstr (zmsg), *total = zmsg_popstr (zmsg);
        if (id && token && done && total && strlen (id) < ASYNC_ID_LEN) {
            //  {done, total}, as a task's progress goes
            msgpack_sbuffer value;
            msgpack_packer pk;
            msgpack_sbuffer_init (&value);
            msgpack_packer_init (&pk, &value, async_sbuffer_write);
            msgpack_pack_map (&pk, 2);
            async_codec_pack_str (&pk, "done");
            msgpack_pack_int64 (&pk, strtoll (done, NULL, 10));
            async_codec_pack_str (&pk, "total");
            msgpack_pack_int64 (&pk, strtoll (total, NULL, 10));
            async_task_progress_t report = {
                .token = strtoull (token, NULL, 10),
                .progress = { .data = value.data, .size = value.size } };
            memcpy (report.id, id, strlen (id) + 1);
            async_msg_t msg;
            async_task_progress_encode (&msg, ASYNC_C_PROGRESS, ++self->rid, &report);
            msgpack_sbuffer_destroy (&value);
            s_send (self, &msg);
        }
        zstr_free (&id);
        zstr_free (&token);
        zstr_free (&done);
        zstr_free (&total);
    }
    else
    if (command && streq (command, "REQ")) {
        char *token = zmsg_popstr (zmsg);
        char *what = zmsg_popstr (zmsg);
        char *text = zmsg_popstr (zmsg);
        char *tag = zmsg_popstr (zmsg);
        json_t *body = text ? json_loads (text, 0, NULL) : NULL;
        if (token && what && json_is_object (body) && strlen (what) < 16 && !self->stopping) {
            uint64_t rid = ++self->rid;
            async_msg_t msg;
            const char *key;
            json_t *value;
            async_msg_init_named (&msg, what, rid);
            json_object_foreach (body, key, value) {
                async_msg_key (&msg, key);
                async_codec_pack_json (&msg.packer, value);
            }
            s_send (self, &msg);
            pending_req_t *req = async_xcalloc (1, sizeof (pending_req_t));
            req->worker = worker;
            req->token = strtoull (token, NULL, 10);
            snprintf (req->command, sizeof req->command, "%s", what);
            snprintf (req->tag, sizeof req->tag, "%s", tag ? tag : "");
            char rkey [32];
            snprintf (rkey, sizeof rkey, "%" PRIu64, rid);
            zhashx_insert (self->requests, rkey, req);
        }
        else
            zsock_send (worker->mine, "ssss", "ERROR", "null", tag ? tag : "",
                        token ? token : "");
        json_decref (body);
        zstr_free (&token);
        zstr_free (&what);
        zstr_free (&text);
        zstr_free (&tag);
    }
    zstr_free (&command);
}

//  Everything the tasks said through `up`
static void
s_on_up (node_t *self)
{
    zmsg_t *zmsg;
    while ((zmsg = zmsg_recv (self->up))) {
        worker_t *worker = s_worker_of (self, zmsg);
        if (worker)
            s_on_worker (self, worker, zmsg);
        zmsg_destroy (&zmsg);
    }
}


//  A handshake event. The broker refused us (our key, or no CURVE):
//  log it, and connect again later, since libzmq gives up on a refused
//  connection and an operator may fix the key meanwhile
static void
s_on_handshake (node_t *self)
{
    uint32_t value;
    int number = async_keys_handshake_event (self->monitor, &value);
    if (number == 0)
        return;
    const char *broker = self->config.broker;
    bool curve = self->config.curve_key != NULL;
    if (number == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        if (self->refused)
            async_log_info ("node", "auth.ok", "node=%s broker=%s curve=%s", self->uuid,
                            broker, curve ? "on" : "off");
        self->refused = false;
        self->broken = 0;
        //  Connected again (a restarted broker?): PING now, not at the next
        //  heartbeat, so that a new broker's REHELLO, and our HELLO with
        //  what we hold, come at once
        self->next_ping = 0;
        return;
    }
    if (number == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && ++self->broken < 3)
        return;                 //  libzmq connects again by itself
    char why [400];
    async_keys_refusal (number, value, curve, broker, why, sizeof why);
    int64_t now = async_mono_us ();
    if (!self->refused || now - self->refused_logged >= S_REFUSED_LOG_US) {
        async_log_error ("node", "auth.refused", "node=%s broker=%s reason=\"%s\" "
                         "retry=%ds", self->uuid, broker, why, S_RECONNECT_US / 1000000);
        self->refused_logged = now;
    }
    self->refused = true;
    self->broken = 0;
    if (number != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        self->reconnect_at = now + S_RECONNECT_US;
}

//  Timers: reconnect, PING, HELLO, resends, STARTED, the pool's stalled
//  jobs. Returns how long the loop may sleep (ms): until the next STARTED
//  is due or a queued job stalls, at most 100 ms
static int
s_timers (node_t *self)
{
    int64_t now = async_mono_us ();
    if (self->reconnect_at && now >= self->reconnect_at) {
        self->reconnect_at = 0;
        zsock_disconnect (self->dealer, "%s", self->config.broker);
        zsock_connect (self->dealer, "%s", self->config.broker);
    }
    if (now >= self->next_ping) {
        s_send_ping (self);
        self->next_ping = now + (int64_t) self->config.heartbeat_ms * 1000;
    }
    if (self->state == NODE_GREETING && now >= self->next_hello)
        s_send_hello (self);
    //  No WELCOME yet: say so, with the endpoint, since else a node pointed
    //  at the wrong place looks fine (a refused key says auth.refused)
    if (self->state == NODE_GREETING && !self->refused
    &&  now - self->greeting_since >= S_UNREACHABLE_US
    &&  (!self->unreachable_logged
      || now - self->unreachable_logged >= S_UNREACHABLE_LOG_US)) {
        bool heard = self->last_heard > self->greeting_since;
        async_log_warning ("node", "broker.unreachable", "node=%s broker=%s waited=%" PRId64
                           "s reason=\"%s\" next_log=%ds", self->uuid, self->config.broker,
                           (now - self->greeting_since) / 1000000, heard
                           ? "the broker answers but has not welcomed us; see its "
                             "ERROR (broker.error) above and the broker's log"
                           : "no WELCOME to our HELLO, nothing heard; is asyncbroker "
                             "running and bound there? (--broker, $ASYNC_BROKER, "
                             "node/broker)", S_UNREACHABLE_LOG_US / 1000000);
        self->unreachable_logged = now;
    }
    //  Results not acknowledged: send again with backoff (broker away).
    //  Looked at every S_RESEND_CHECK_US, not every turn: many may wait
    //  for their ACK (the broker holds ACKs up to 20 ms to batch them)
    unacked_t *unacked = now >= self->next_resend_check
                       ? (unacked_t *) async_idmap_first (self->unacked) : NULL;
    if (unacked)
        self->next_resend_check = now + S_RESEND_CHECK_US;
    while (unacked) {
        if (now >= unacked->next_send && self->state == NODE_WELCOMED) {
            s_unacked_send (self, unacked);
            unacked->backoff = unacked->backoff * 2 > 8000000 ? 8000000 : unacked->backoff * 2;
            unacked->next_send = now + unacked->backoff;
        }
        unacked = (unacked_t *) async_idmap_next (self->unacked);
    }
    //  Jobs that run long enough to be worth a STARTED (a queued job's
    //  waits for its worker, which pool_check sees to)
    int64_t wait = 100000;
    async_task_t *job = (async_task_t *) zlistx_first (self->running);
    while (job) {
        int64_t began = atomic_load (&job->run_mono);
        if (began && !job->started_sent && now - began >= S_STARTED_AFTER_US) {
            async_job_token_t started = { .token = job->token };
            memcpy (started.id, job->id, ASYNC_ID_LEN);
            async_msg_t msg;
            async_job_token_encode (&msg, ASYNC_C_STARTED, ++self->rid, &started);
            s_send (self, &msg);
            job->started_sent = true;
        }
        else
        if (began && !job->started_sent && began + S_STARTED_AFTER_US - now < wait)
            wait = began + S_STARTED_AFTER_US - now;
        job = (async_task_t *) zlistx_next (self->running);
    }
    int64_t stall = pool_check (self->pool, now);
    if (stall >= 0 && stall < wait)
        wait = stall;
    //  Job timeouts are the broker's: it ends the attempt and sends CANCEL
    return (int) ((wait + 999) / 1000);
}


//  ---------------------------------------------------------------------

int
node_new (const node_config_t *config, async_registry_t *registry, const char *uuid,
          node_t **self_p)
{
    node_t *self = async_xcalloc (1, sizeof (node_t));
    self->config = *config;
    self->registry = registry;
    memcpy (self->uuid, uuid, ASYNC_ID_LEN);
    assert (config->uuid_key && strlen (config->uuid_key) == NODE_KEY_HEX);
    memcpy (self->key, config->uuid_key, NODE_KEY_HEX + 1);
    async_id_new (self->session);
    if (!getcwd (self->cwd, sizeof self->cwd))
        strcpy (self->cwd, ".");
    gethostname (self->host, sizeof self->host - 1);
    FILE *boot = fopen ("/proc/sys/kernel/random/boot_id", "r");
    if (boot) {
        if (!fgets (self->boot, sizeof self->boot, boot))
            self->boot [0] = 0;
        self->boot [strcspn (self->boot, "\r\n")] = 0;
        fclose (boot);
    }
    self->running = zlistx_new ();
    self->unacked = async_idmap_new ();
    async_idmap_set_destructor (self->unacked, (async_idmap_destructor_fn *) s_unacked_destroy);
    self->requests = zhashx_new ();
    zhashx_set_destructor (self->requests, (zhashx_destructor_fn *) zstr_free);

    self->dealer = zsock_new (ZMQ_DEALER);
    //  One routing id for the life of this process, kept across reconnects
    char identity [40];
    snprintf (identity, sizeof identity, "N%.8s%.8s", uuid, self->session);
    zsock_set_identity (self->dealer, identity);
    zsock_set_linger (self->dealer, 1000);
    zsock_set_maxmsgsize (self->dealer, ASYNC_MAX_MESSAGE);
    zsock_set_reconnect_ivl (self->dealer, 100);
    zsock_set_reconnect_ivl_max (self->dealer, 2000);
    zsock_set_sndhwm (self->dealer, 100000);
    //  Receives do not block: drains stop when the queue is empty
    zsock_set_rcvtimeo (self->dealer, 0);
    if (config->curve_key) {
        zcert_apply (config->curve_key, self->dealer);
        zsock_set_curve_serverkey (self->dealer, config->broker_public_key);
    }
    //  Watch the handshakes from the first connect on
    char monitor [64];
    snprintf (monitor, sizeof monitor, "inproc://node-monitor-%p", (void *) self);
    if (zmq_socket_monitor (zsock_resolve (self->dealer), monitor, S_HANDSHAKE_EVENTS) == 0) {
        self->monitor = zsock_new (ZMQ_PAIR);
        if (self->monitor && zsock_connect (self->monitor, "%s", monitor))
            zsock_destroy (&self->monitor);
    }
    if (zsock_connect (self->dealer, "%s", config->broker) < 0) {
        async_log_error ("node", "connect.failed", "broker=%s", config->broker);
        node_destroy (&self);
        return ASYNC_EUSAGE;
    }
    char up [64];
    snprintf (up, sizeof up, "@inproc://node-up-%p", (void *) self);
    self->up = zsock_new (ZMQ_PULL);
    zsock_set_rcvhwm (self->up, 0);
    zsock_set_rcvtimeo (self->up, 0);
    zsock_attach (self->up, up, true);
    for (int i = 0; i < config->nagents; i++)
        self->nworkers += config->agents [i].size;
    self->workers = async_xcalloc ((size_t) self->nworkers, sizeof (worker_t));
    for (int i = 0; i < self->nworkers; i++) {
        worker_t *worker = &self->workers [i];
        worker->index = i;
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "inproc://worker-%p-%d", (void *) self, i);
        char bind [70];
        snprintf (bind, sizeof bind, "@%s", endpoint);
        worker->mine = zsock_new_pair (bind);
        char connect [70];
        snprintf (connect, sizeof connect, ">%s", endpoint);
        worker->theirs = zsock_new_pair (connect);
        worker->push = zsock_new (ZMQ_PUSH);
        zsock_set_sndhwm (worker->push, 0);
        zsock_connect (worker->push, "%s", up + 1);
    }
    self->pool = pool_new (self->nworkers, s_worker_run, self);
    if (!self->pool) {
        int err = errno;
        async_log_error ("node", "start.failed", "reason=\"cannot start %d worker threads: "
                         "%s\"", self->nworkers, strerror (err));
        node_destroy (&self);
        errno = err;
        return ASYNC_ENOMEM;
    }
    *self_p = self;
    return 0;
}

void
node_destroy (node_t **self_p)
{
    node_t *self = *self_p;
    if (!self)
        return;
    //  node_run let the running jobs end (or left by _exit)
    pool_destroy (&self->pool);
    for (int i = 0; i < self->nworkers; i++) {
        zsock_destroy (&self->workers [i].mine);
        zsock_destroy (&self->workers [i].theirs);
        zsock_destroy (&self->workers [i].push);
    }
    if (self->monitor)
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->up);
    msgpack_sbuffer_destroy (&self->results);
    zlistx_destroy (&self->running);
    async_idmap_destroy (&self->unacked);
    zhashx_destroy (&self->requests);
    free (self->workers);
    free (self);
    *self_p = NULL;
}

//  Finished jobs (`done`: the pool's eventfd said so) and the tasks'
//  messages (`up`). The finished ones are taken first, so that a job's
//  PROGRESS goes before its RESULT; their results go in one RESULT.
static void
s_take_done (node_t *self, bool done, bool up)
{
    async_task_t *job = done ? pool_done (self->pool) : NULL;
    if (job || up)
        s_on_up (self);
    if (!job)
        return;
    self->batching = true;
    while (job) {
        async_task_t *next = job->next;
        s_on_done (self, job);
        job = next;
    }
    self->batching = false;
    s_flush_results (self);
}

//  Drop a list of jobs the pool gave back, which are in `running`
static void
s_drop (node_t *self, async_task_t *job)
{
    while (job) {
        async_task_t *next = job->next;
        s_gone (self, job);
        node_job_destroy (&job);
        job = next;
    }
}

//  Asked to stop (*stop 1) with a drain time: take no more work and let
//  the running jobs end, up to drain_ms. The jobs waiting for a worker go
//  back to the broker, and a HELLO of a new session that names no task
//  and holds the running jobs (protocol.md, HELLO) has the broker take
//  those back and assign nothing more. True while draining; false when
//  it is time to stop: nothing left, the time is up, a second signal
//  (*stop 2), or no drain time
static bool
s_draining (node_t *self, volatile int *stop)
{
    if (*stop > 1 || self->config.drain_ms <= 0 || self->state == NODE_REFUSED) {
        if (self->draining && *stop > 1)
            async_log_warning ("node", "node.drain_cut", "node=%s jobs=%zu reason=\"asked "
                               "to stop again: interrupting the running jobs\"",
                               self->uuid, zlistx_size (self->running));
        return false;
    }
    int64_t now = async_mono_us ();
    if (!self->draining) {
        self->draining = true;
        async_notify ("STOPPING=1");
        self->drain_until = now + (int64_t) self->config.drain_ms * 1000;
        s_drop (self, pool_unqueue (self->pool));
        if (zlistx_size (self->running) == 0 && async_idmap_size (self->unacked) == 0)
            return false;       //  nothing to wait for
        async_log_info ("node", "node.draining", "node=%s jobs=%zu results=%zu "
                        "drain_timeout_ms=%d", self->uuid, zlistx_size (self->running),
                        async_idmap_size (self->unacked), self->config.drain_ms);
        async_id_new (self->session);
        self->state = NODE_GREETING;
        self->greeting_since = now;
        self->hello_first = 0;
        s_send_hello (self);
    }
    if (zlistx_size (self->running) == 0 && async_idmap_size (self->unacked) == 0) {
        async_log_info ("node", "node.drained", "node=%s", self->uuid);
        return false;
    }
    if (now >= self->drain_until) {
        async_log_warning ("node", "node.drain_timeout", "node=%s jobs=%zu results=%zu "
                           "reason=\"--drain-timeout passed: interrupting the running "
                           "jobs\"", self->uuid, zlistx_size (self->running),
                           async_idmap_size (self->unacked));
        return false;
    }
    return true;
}

void
node_set_reload (node_t *self, node_reload_fn *fn, void *arg)
{
    self->reload = fn;
    self->reload_arg = arg;
}

void
node_set_agent_setter (node_t *self, node_agent_set_fn *fn, void *arg)
{
    self->agent_set = fn;
    self->agent_set_arg = arg;
}

int
node_set_agents (node_t *self, const node_agent_t *agents, int nagents,
                 char *err, size_t err_size)
{
    assert (nagents >= 1 && nagents <= NODE_MAX_AGENTS);
    int slots = 0;
    for (int i = 0; i < nagents; i++) {
        slots += agents [i].size;
        if (agents [i].isolation == NODE_ISOLATION_PROCESS && !self->config.zygote) {
            snprintf (err, err_size, "agent '%s' isolates its jobs in processes, and this "
                      "node started without such an agent: restart it", agents [i].name);
            return -1;
        }
    }
    if (slots > self->nworkers) {
        snprintf (err, err_size, "the agents' sizes add up to %d slots, more than the %d "
                  "worker threads this node started with: restart it to grow",
                  slots, self->nworkers);
        return -1;
    }
    if (self->draining || self->stopping || self->state == NODE_REFUSED) {
        snprintf (err, err_size, "the node is stopping");
        return -1;
    }
    memcpy (self->config.agents, agents, (size_t) nagents * sizeof (node_agent_t));
    self->config.nagents = nagents;
    //  A new session with the new agents, the running jobs held (as the
    //  drain does): the broker takes it in place of the old one
    async_id_new (self->session);
    self->state = NODE_GREETING;
    self->greeting_since = async_mono_us ();
    self->hello_first = 0;
    self->reloading = true;
    s_send_hello (self);
    return 0;
}

int
node_run (node_t *self, volatile int *stop, volatile int *reopen)
{
    //  The broker, the tasks' messages, the finished jobs, the handshakes
    zmq_pollitem_t items [4] = {
        { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->up), 0, ZMQ_POLLIN, 0 },
        { NULL, pool_fd (self->pool), ZMQ_POLLIN, 0 },
        { self->monitor ? zsock_resolve (self->monitor) : NULL, -1, ZMQ_POLLIN, 0 }
    };
    int nitems = self->monitor ? 4 : 3;
    self->next_hello = 0;
    self->greeting_since = async_mono_us ();
    while (self->state != NODE_REFUSED && (!*stop || s_draining (self, stop))) {
        if (reopen && *reopen) {
            *reopen = 0;
            async_log_reopen ();
            if (self->reload)
                self->reload (self, self->reload_arg);
        }
        if (zmq_poll (items, nitems, s_timers (self)) <= 0)
            continue;
        if (nitems == 4 && (items [3].revents & ZMQ_POLLIN))
            s_on_handshake (self);
        s_take_done (self, (items [2].revents & ZMQ_POLLIN) != 0,
                     (items [1].revents & ZMQ_POLLIN) != 0);
        if (items [0].revents & ZMQ_POLLIN) {
            while (s_on_broker (self))
                ;
            if (self->spin_us && pool_wait_done (self->pool, self->spin_us))
                s_take_done (self, true, false);
            self->spin_us = 0;
        }
    }
    //  Graceful stop: take no more work, tell the broker, stop the tasks.
    //  Jobs not started are dropped: the broker gives them to another node
    //  Refused: no session to say BYE to; the jobs are not ours any more
    self->stopping = true;
    if (!self->draining)
        async_notify ("STOPPING=1");
    async_log_info ("node", "node.stopping", "node=%s", self->uuid);
    if (self->state != NODE_REFUSED) {
        async_msg_t msg;
        async_empty_encode (&msg, ASYNC_C_BYE, ++self->rid);
        s_send (self, &msg);
    }
    s_drop (self, pool_unqueue (self->pool));
    async_task_t *job = (async_task_t *) zlistx_first (self->running);
    while (job) {
        atomic_store (&job->cancelled, 1);
        job = (async_task_t *) zlistx_next (self->running);
    }
    int64_t deadline = async_mono_us () + 2000000;
    while (zlistx_size (self->running) && async_mono_us () < deadline) {
        zmq_poll (items + 1, 2, 50);
        s_on_up (self);         //  requests get an ERROR now
        s_drop (self, pool_done (self->pool));
    }
    if (zlistx_size (self->running)) {
        //  A task that does not stop: leave without waiting for it
        async_log_warning ("node", "node.stopped", "node=%s reason=\"tasks still running; "
                           "their jobs were interrupted\"", self->uuid);
        zclock_sleep (100);      //  let BYE leave
        _exit (self->state == NODE_REFUSED ? ASYNC_EREFUSED : 0);
    }
    async_log_info ("node", "node.stopped", "node=%s", self->uuid);
    return self->state == NODE_REFUSED ? ASYNC_EREFUSED : 0;
}
