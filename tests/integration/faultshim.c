/*  faultshim - an LD_PRELOAD library that injects faults into one
    process without touching the machine: a step of its wall clock (as an
    operator's `date -s` or a bad time server would make), a slow disk.

    With ASYNC_TEST_CLOCK_FILE set, CLOCK_REALTIME (clock_gettime,
    gettimeofday, time) reads as the real time plus the whole seconds
    written in that file (may be negative; re-read at most every 10 ms).
    The monotonic clocks are left alone.

    With ASYNC_TEST_MONO_FILE set, the monotonic clocks (CLOCK_MONOTONIC,
    its _COARSE and _RAW variants, CLOCK_BOOTTIME) read as the real ones
    plus the whole seconds written in that file, re-read the same way;
    the offset never goes down (a smaller number is ignored). Seconds added
    while the process is stopped (SIGSTOP) make the stop look that much
    longer to it: a pause of minutes, in a test that takes seconds.

    With ASYNC_TEST_SLOW_SYNC set to a file name, fsync and fdatasync take
    as many more milliseconds as that file says, while it exists, in every
    thread but the main one (the broker's store writer is slow, its loop
    is not held by a sync of its own). Removing the file ends the syncs
    waiting (within 20 ms).

    With ASYNC_TEST_SYNC_TRACE set to a file name, it changes nothing but
    watches the promise of --sync on: every job id the broker sends in an
    ACCEPTED (its `id`, or the ids of its `accepted`) must be in a
    write-ahead log record (a RocksDB *.log file) that an fsync or
    fdatasync covered before the ACCEPTED left. It notes
    each job id written to a *.log file with the file and the offset its
    write ended at, each sync of a *.log file with the size it covered,
    and reads each ACCEPTED sent on a socket (send). Per ACCEPTED, one
    line goes to the file:

        accepted ids=N synced=S unsynced=U

    and for each id not covered: "unsynced ID". An ACCEPTED whose bytes
    the sending call cut (a batch split over two sends) is counted on a
    line "accepted unreadable", not judged.

    Without the variables it changes nothing.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef int (clock_gettime_fn) (clockid_t, struct timespec *);

static clock_gettime_fn *s_real;

//  An offset in whole seconds read from the file a variable names
typedef struct {
    const char *variable;
    bool rising;                //  never goes down
    _Atomic int64_t offset;     //  seconds
    _Atomic int64_t next_read;  //  real monotonic ns
} s_offset_t;

static s_offset_t s_wall = { "ASYNC_TEST_CLOCK_FILE", false, 0, 0 };
static s_offset_t s_mono = { "ASYNC_TEST_MONO_FILE", true, 0, 0 };

static int64_t
s_offset_now (s_offset_t *self)
{
    if (!s_real)
        s_real = (clock_gettime_fn *) dlsym (RTLD_NEXT, "clock_gettime");
    const char *path = getenv (self->variable);
    if (!path || !s_real)
        return 0;
    struct timespec ts;
    s_real (CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (ns >= atomic_load (&self->next_read)) {
        atomic_store (&self->next_read, ns + 10000000);
        FILE *file = fopen (path, "r");
        long long seconds;
        if (file && fscanf (file, "%lld", &seconds) == 1
            && (!self->rising || seconds > atomic_load (&self->offset)))
            atomic_store (&self->offset, (int64_t) seconds);
        if (file)
            fclose (file);
    }
    return atomic_load (&self->offset);
}

int
clock_gettime (clockid_t clock, struct timespec *ts)
{
    bool wall = clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE;
    bool mono = clock == CLOCK_MONOTONIC || clock == CLOCK_MONOTONIC_COARSE
        || clock == CLOCK_MONOTONIC_RAW || clock == CLOCK_BOOTTIME;
    int64_t offset = wall ? s_offset_now (&s_wall) : mono ? s_offset_now (&s_mono) : 0;
    if (!s_real)
        s_real = (clock_gettime_fn *) dlsym (RTLD_NEXT, "clock_gettime");
    if (!s_real)
        return -1;
    int rc = s_real (clock, ts);
    if (rc == 0)
        ts->tv_sec += offset;
    return rc;
}

int
gettimeofday (struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    int rc = clock_gettime (CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

time_t
time (time_t *out)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}

typedef int (sync_fn) (int);

//  The delay the slow-sync file asks for, in ms (0 without it)
static long
s_sync_delay_ms (void)
{
    const char *path = getenv ("ASYNC_TEST_SLOW_SYNC");
    FILE *file = path ? fopen (path, "r") : NULL;
    long ms = 0;
    if (file) {
        if (fscanf (file, "%ld", &ms) != 1)
            ms = 0;
        fclose (file);
    }
    return ms;
}

static void
s_sync_wait (void)
{
    //  The main thread's syncs are left alone: the disk is slow for the
    //  broker's store writer, while its loop goes on answering
    if (syscall (SYS_gettid) == getpid ())
        return;
    //  In slices of 20 ms, looking for the file before each: removing it
    //  ends the wait early (a test holds the disk as long as it needs);
    //  the file caught empty while it is rewritten does not
    const char *path = getenv ("ASYNC_TEST_SLOW_SYNC");
    long ms = s_sync_delay_ms ();
    while (ms > 0 && access (path, F_OK) == 0) {
        long slice = ms < 20 ? ms : 20;
        struct timespec nap = { 0, slice * 1000000 };
        nanosleep (&nap, NULL);
        ms -= slice;
    }
}

//  ---------------------------------------------------------------------
//  The sync trace (ASYNC_TEST_SYNC_TRACE)

#define S_FDS       4096            //  fds watched (higher ones are not)
#define S_FILES     256             //  *.log files seen
#define S_IDS       (1 << 18)       //  job ids remembered (open addressing)
#define S_ID_LEN    36

typedef ssize_t (write_fn) (int, const void *, size_t);
typedef ssize_t (pwrite_fn) (int, const void *, size_t, off_t);
typedef ssize_t (send_fn) (int, const void *, size_t, int);
typedef int (close_fn) (int);

typedef struct {
    dev_t dev;
    ino_t ino;
    off_t synced;               //  bytes an fsync covered
} s_file_t;

typedef struct {
    char id [S_ID_LEN];
    int file;                   //  index in s_files, -1: slot free
    off_t end;                  //  where the first write holding it ended
} s_id_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int s_trace = -1;                    //  the trace file, or -1: off
static signed char s_fd_kind [S_FDS];      //  0 unknown, 1 a *.log, 2 other
static int s_fd_file [S_FDS];
static s_file_t s_files [S_FILES];
static int s_nfiles;
static s_id_t *s_ids;
static write_fn *s_real_write;
static pwrite_fn *s_real_pwrite;
static send_fn *s_real_send;
static close_fn *s_real_close;

__attribute__ ((constructor)) static void
s_trace_init (void)
{
    s_real_write = (write_fn *) dlsym (RTLD_NEXT, "write");
    s_real_pwrite = (pwrite_fn *) dlsym (RTLD_NEXT, "pwrite");
    s_real_send = (send_fn *) dlsym (RTLD_NEXT, "send");
    s_real_close = (close_fn *) dlsym (RTLD_NEXT, "close");
    const char *path = getenv ("ASYNC_TEST_SYNC_TRACE");
    if (!path || !*path)
        return;
    s_ids = calloc (S_IDS, sizeof (s_id_t));
    if (!s_ids)
        return;
    for (size_t i = 0; i < S_IDS; i++)
        s_ids [i].file = -1;
    s_trace = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void
s_trace_line (const char *line)
{
    if (s_trace >= 0 && s_real_write)
        s_real_write (s_trace, line, strlen (line));
}

//  The index in s_files of fd when it is a *.log file, else -1. Lock held
static int
s_wal_of (int fd)
{
    if (fd < 0 || fd >= S_FDS)
        return -1;
    if (s_fd_kind [fd] == 0) {
        char link [64], path [4096];
        snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t size = readlink (link, path, sizeof path - 1);
        struct stat st;
        s_fd_kind [fd] = 2;
        if (size > 4 && fstat (fd, &st) == 0 && S_ISREG (st.st_mode)) {
            path [size] = 0;
            if (strcmp (path + size - 4, ".log") == 0) {
                int file = 0;
                while (file < s_nfiles && (s_files [file].dev != st.st_dev
                                        || s_files [file].ino != st.st_ino))
                    file++;
                if (file == s_nfiles && s_nfiles < S_FILES)
                    s_files [s_nfiles++] = (s_file_t) { st.st_dev, st.st_ino, 0 };
                if (file < s_nfiles) {
                    s_fd_kind [fd] = 1;
                    s_fd_file [fd] = file;
                }
            }
        }
    }
    return s_fd_kind [fd] == 1 ? s_fd_file [fd] : -1;
}

static bool
s_is_hex (char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

//  Does text hold a job id (8-4-4-4-12 lowercase hex)?
static bool
s_is_id (const char *text)
{
    for (int i = 0; i < S_ID_LEN; i++)
        if (i == 8 || i == 13 || i == 18 || i == 23 ? text [i] != '-' : !s_is_hex (text [i]))
            return false;
    return true;
}

static s_id_t *
s_id_slot (const char *id)
{
    uint64_t hash = 14695981039346656037ULL;
    for (int i = 0; i < S_ID_LEN; i++)
        hash = (hash ^ (unsigned char) id [i]) * 1099511628211ULL;
    for (size_t probe = 0; probe < S_IDS; probe++) {
        s_id_t *slot = &s_ids [(hash + probe) & (S_IDS - 1)];
        if (slot->file < 0 || memcmp (slot->id, id, S_ID_LEN) == 0)
            return slot;
    }
    return NULL;
}

//  A write of data to fd ended at offset end (-1: where the fd's offset
//  is now): note the ids it holds when fd is a *.log file
static void
s_note_write (int fd, const void *data, ssize_t size, off_t end)
{
    if (s_trace < 0 || size < S_ID_LEN)
        return;
    int saved = errno;
    pthread_mutex_lock (&s_lock);
    int file = s_wal_of (fd);
    if (file >= 0 && end < 0)
        end = lseek (fd, 0, SEEK_CUR);
    const char *text = (const char *) data;
    for (ssize_t at = 0; file >= 0 && at + S_ID_LEN <= size; at++) {
        if (text [at + 8] != '-' || !s_is_id (text + at))
            continue;
        s_id_t *slot = s_id_slot (text + at);
        if (slot && slot->file < 0) {
            memcpy (slot->id, text + at, S_ID_LEN);
            slot->file = file;
            slot->end = end;
        }
        at += S_ID_LEN - 1;
    }
    pthread_mutex_unlock (&s_lock);
    errno = saved;
}

ssize_t
write (int fd, const void *data, size_t size)
{
    if (!s_real_write)
        s_real_write = (write_fn *) dlsym (RTLD_NEXT, "write");
    ssize_t rc = s_real_write (fd, data, size);
    if (s_trace >= 0 && rc > 0)
        s_note_write (fd, data, rc, -1);
    return rc;
}

ssize_t
pwrite (int fd, const void *data, size_t size, off_t offset)
{
    if (!s_real_pwrite)
        s_real_pwrite = (pwrite_fn *) dlsym (RTLD_NEXT, "pwrite");
    ssize_t rc = s_real_pwrite (fd, data, size, offset);
    if (s_trace >= 0 && rc > 0)
        s_note_write (fd, data, rc, offset + rc);
    return rc;
}

ssize_t
pwrite64 (int fd, const void *data, size_t size, off_t offset)
{
    return pwrite (fd, data, size, offset);
}

int
close (int fd)
{
    if (!s_real_close)
        s_real_close = (close_fn *) dlsym (RTLD_NEXT, "close");
    if (s_trace >= 0 && fd >= 0 && fd < S_FDS) {
        pthread_mutex_lock (&s_lock);
        s_fd_kind [fd] = 0;
        pthread_mutex_unlock (&s_lock);
    }
    return s_real_close (fd);
}

//  The size of fd's file before a sync, or -1 when it is no *.log
static off_t
s_sync_begin (int fd)
{
    if (s_trace < 0)
        return -1;
    pthread_mutex_lock (&s_lock);
    int file = s_wal_of (fd);
    pthread_mutex_unlock (&s_lock);
    struct stat st;
    return file >= 0 && fstat (fd, &st) == 0 ? st.st_size : -1;
}

//  The sync of fd returned rc: its file is covered up to `size`
static void
s_sync_end (int fd, off_t size, int rc)
{
    if (size < 0 || rc != 0)
        return;
    pthread_mutex_lock (&s_lock);
    int file = s_wal_of (fd);
    if (file >= 0 && s_files [file].synced < size)
        s_files [file].synced = size;
    pthread_mutex_unlock (&s_lock);
}

//  Judge one ACCEPTED whose body starts at data (size bytes follow)
static void
s_judge_accepted (const char *data, size_t size)
{
    msgpack_zone zone;
    msgpack_zone_init (&zone, 4096);
    msgpack_object rid, body;
    size_t offset = 0;
    if (msgpack_unpack (data, size, &offset, &zone, &rid) < 0
    ||  msgpack_unpack (data, size, &offset, &zone, &body) < 0
    ||  body.type != MSGPACK_OBJECT_MAP) {
        msgpack_zone_destroy (&zone);
        s_trace_line ("accepted unreadable\n");
        return;
    }
    //  One job: {id, existing, waiting}; several: {accepted: [{id, ...}]}
    const msgpack_object *accepted = NULL;
    for (uint32_t i = 0; i < body.via.map.size; i++) {
        msgpack_object_kv *kv = &body.via.map.ptr [i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 8
        &&  memcmp (kv->key.via.str.ptr, "accepted", 8) == 0
        &&  kv->val.type == MSGPACK_OBJECT_ARRAY)
            accepted = &kv->val;
    }
    size_t ids = 0, synced = 0, unsynced = 0;
    char line [128];
    uint32_t entries = accepted ? accepted->via.array.size : 1;
    for (uint32_t i = 0; i < entries; i++) {
        const msgpack_object *entry = accepted ? &accepted->via.array.ptr [i] : &body;
        for (uint32_t k = 0; entry->type == MSGPACK_OBJECT_MAP && k < entry->via.map.size; k++) {
            msgpack_object_kv *kv = &entry->via.map.ptr [k];
            if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 2
            ||  memcmp (kv->key.via.str.ptr, "id", 2) || kv->val.type != MSGPACK_OBJECT_STR
            ||  kv->val.via.str.size != S_ID_LEN)
                continue;
            ids++;
            pthread_mutex_lock (&s_lock);
            s_id_t *slot = s_id_slot (kv->val.via.str.ptr);
            bool covered = slot && slot->file >= 0 && s_files [slot->file].synced >= slot->end;
            pthread_mutex_unlock (&s_lock);
            if (covered)
                synced++;
            else {
                unsynced++;
                snprintf (line, sizeof line, "unsynced %.36s\n", kv->val.via.str.ptr);
                s_trace_line (line);
            }
        }
    }
    msgpack_zone_destroy (&zone);
    snprintf (line, sizeof line, "accepted ids=%zu synced=%zu unsynced=%zu\n", ids, synced,
              unsynced);
    s_trace_line (line);
}

ssize_t
send (int fd, const void *data, size_t size, int flags)
{
    if (!s_real_send)
        s_real_send = (send_fn *) dlsym (RTLD_NEXT, "send");
    if (s_trace >= 0) {
        //  The command as msgpack packs it: fixstr of 8, "ACCEPTED"
        static const char command [] = "\xa8" "ACCEPTED";
        const char *at = data, *end = (const char *) data + size;
        while ((at = memmem (at, (size_t) (end - at), command, 9))) {
            at += 9;
            s_judge_accepted (at, (size_t) (end - at));
        }
    }
    return s_real_send (fd, data, size, flags);
}

int
fsync (int fd)
{
    static sync_fn *real;
    if (!real)
        real = (sync_fn *) dlsym (RTLD_NEXT, "fsync");
    s_sync_wait ();
    off_t size = s_sync_begin (fd);
    int rc = real ? real (fd) : -1;
    s_sync_end (fd, size, rc);
    return rc;
}

int
fdatasync (int fd)
{
    static sync_fn *real;
    if (!real)
        real = (sync_fn *) dlsym (RTLD_NEXT, "fdatasync");
    s_sync_wait ();
    off_t size = s_sync_begin (fd);
    int rc = real ? real (fd) : -1;
    s_sync_end (fd, size, rc);
    return rc;
}
