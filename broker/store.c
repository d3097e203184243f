/*  =========================================================================
    store - the broker's one door to RocksDB
    =========================================================================
*/
#define _GNU_SOURCE
#include "store.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <rocksdb/c.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

//  A staged batch: puts and deletes in the order they came, written in
//  key order (s_ops_write)
typedef struct {
    size_t key_at, key_size;            //  in data
    size_t value_at, value_size;
    size_t order;                       //  staging order: the last op wins
    bool del;
    bool fresh;                         //  a put of a key with no live version
} s_op_t;

typedef struct {
    s_op_t *ops;
    size_t count, room;
    char *data;
    size_t size, data_room;
} s_ops_t;

struct _store_t {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_writeoptions_t *write_sync;
    rocksdb_writeoptions_t *write_nosync;
    rocksdb_readoptions_t *read;
    s_ops_t *staged;                    //  staging
    rocksdb_writebatch_t *batch;        //  for writes on the caller's thread
    bool sync;
    char *path;
    //  The writer thread (store_commit_start): one batch at a time
    pthread_t writer;
    bool writer_running;
    pthread_mutex_t lock;
    pthread_cond_t wake;                //  to the writer: a batch, or stop
    pthread_cond_t done;                //  from the writer: written
    s_ops_t *flight;                    //  being written, or NULL
    s_ops_t *spare;                     //  the next staging batch
    rocksdb_writebatch_t *flight_batch; //  the writer's
    bool flight_durable;
    bool flight_done;
    bool stopping;
    int flight_rc;
    int done_fd;                        //  eventfd, readable when written
};

struct _store_iter_t {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *read;
    char *prefix;
    size_t prefix_size;
    char *upper;
    size_t upper_size;          //  0: no upper bound
    bool failed;                //  its read error was logged
};

static int
s_check (char **errptr, const char *op)
{
    if (!*errptr)
        return 0;
    async_log_error ("store", "store.error", "op=%s error=\"%s\"", op, *errptr);
    rocksdb_free (*errptr);
    *errptr = NULL;
    return ASYNC_ESTORE;
}

//  ---------------------------------------------------------------------
//  Staged batches. RocksDB inserts each write into a skiplist; an insert
//  next to the previous one is cheap (the skiplist keeps its last
//  position), one far away walks every level. So a batch is written in
//  key order, and of several writes to one key only the last is written.

static s_ops_t *
s_ops_new (void)
{
    return (s_ops_t *) async_xcalloc (1, sizeof (s_ops_t));
}

static void
s_ops_destroy (s_ops_t **self_p)
{
    s_ops_t *self = *self_p;
    if (self) {
        free (self->ops);
        free (self->data);
        free (self);
        *self_p = NULL;
    }
}

static size_t
s_ops_copy (s_ops_t *self, const void *bytes, size_t size)
{
    if (self->size + size > self->data_room) {
        size_t room = self->data_room ? self->data_room * 2 : 65536;
        while (room < self->size + size)
            room *= 2;
        char *data = (char *) async_xrealloc (self->data, room);
        assert (data);
        self->data = data;
        self->data_room = room;
    }
    size_t at = self->size;
    if (size)
        memcpy (self->data + at, bytes, size);
    self->size += size;
    return at;
}

static void
s_ops_add (s_ops_t *self, bool del, bool fresh, const void *key, size_t key_size,
           const void *value, size_t value_size)
{
    if (self->count == self->room) {
        size_t room = self->room ? self->room * 2 : 1024;
        s_op_t *ops = (s_op_t *) async_xrealloc (self->ops, room * sizeof (s_op_t));
        assert (ops);
        self->ops = ops;
        self->room = room;
    }
    s_op_t *op = &self->ops [self->count];
    op->order = self->count++;
    op->del = del;
    op->fresh = fresh;
    op->key_size = key_size;
    op->key_at = s_ops_copy (self, key, key_size);
    op->value_size = value_size;
    op->value_at = s_ops_copy (self, value, value_size);
}

static void
s_ops_clear (s_ops_t *self)
{
    self->count = 0;
    self->size = 0;
}

static int
s_op_compare (const void *a, const void *b, void *arg)
{
    const s_op_t *x = (const s_op_t *) a, *y = (const s_op_t *) b;
    const char *data = (const char *) arg;
    size_t n = x->key_size < y->key_size ? x->key_size : y->key_size;
    int cmp = memcmp (data + x->key_at, data + y->key_at, n);
    if (cmp == 0 && x->key_size != y->key_size)
        cmp = x->key_size < y->key_size ? -1 : 1;
    if (cmp == 0)
        cmp = x->order < y->order ? -1 : 1;
    return cmp;
}

static bool
s_op_same_key (const s_ops_t *self, const s_op_t *x, const s_op_t *y)
{
    return x->key_size == y->key_size
        && memcmp (self->data + x->key_at, self->data + y->key_at, x->key_size) == 0;
}

//  Write a staged batch through `batch` (left empty). 0 or ASYNC_ESTORE
static int
s_ops_write (store_t *self, s_ops_t *ops, rocksdb_writebatch_t *batch, bool durable)
{
    qsort_r (ops->ops, ops->count, sizeof (s_op_t), s_op_compare, ops->data);
    size_t first = 0;           //  the first write to the current key
    for (size_t i = 0; i < ops->count; i++) {
        const s_op_t *op = &ops->ops [i];
        if (i > 0 && !s_op_same_key (ops, op, &ops->ops [i - 1]))
            first = i;
        if (i + 1 < ops->count && s_op_same_key (ops, op, &ops->ops [i + 1]))
            continue;           //  a later write to the key replaces this one
        if (op->del && ops->ops [first].fresh)
            continue;           //  created and deleted in this batch: nothing
        if (op->del)
            rocksdb_writebatch_delete (batch, ops->data + op->key_at, op->key_size);
        else
            rocksdb_writebatch_put (batch, ops->data + op->key_at, op->key_size,
                                    ops->data + op->value_at, op->value_size);
    }
    char *err = NULL;
    rocksdb_write (self->db, durable ? self->write_sync : self->write_nosync, batch, &err);
    rocksdb_writebatch_clear (batch);
    return s_check (&err, "write");
}

//  ---------------------------------------------------------------------
//  The write-ahead log, read before RocksDB replays it. RocksDB's point-
//  in-time recovery, its default, stops at the first damaged record and
//  silently drops it and every record after it: writes that were
//  acknowledged. Its kTolerateCorruptedTailRecords mode refuses to open
//  instead, but says neither where nor what a salvage would drop. So the
//  store reads the log itself first.
//
//  The log format (RocksDB db/log_format.h): 32 KiB blocks of records;
//  each record is a 7-byte header, crc (4 bytes, little-endian: crc32c of
//  the type and the payload, masked), payload length (2, little-endian),
//  type (1: a full write batch; 2, 3, 4: its first, middle, last
//  fragment), then the payload. A record never crosses a block; fewer than
//  7 bytes left in a block are padding.

#define S_WAL_BLOCK         32768
#define S_WAL_HEADER        7
#define S_WAL_FULL          1
#define S_WAL_FIRST         2
#define S_WAL_LAST          4
#define S_WAL_COMPRESSION   9           //  kSetCompressionType (not a batch)

typedef struct {
    uint32_t crc_table [256];
    uint8_t *block;                     //  S_WAL_BLOCK bytes
    char **files;                       //  the log files, oldest first
    size_t file_index;                  //  the one being scanned
    //  The first bad spot, if any
    bool found;
    bool hard;                          //  a bad record, not just a torn end
    const char *file;                   //  its log file (in files)
    size_t bad_index;                   //  its index in files
    uint64_t offset;                    //  its offset in the file
    const char *reason;
    //  From the bad spot to the end of the log: what replay would drop
    bool valid_after;                   //  an intact record follows it
    uint64_t batches;                   //  write batches: the damaged one
                                        //  and every intact one after it
    uint64_t bytes;
} s_wal_scan_t;

static uint32_t
s_crc32c (const uint32_t *table, uint32_t crc, const uint8_t *data, size_t size)
{
    crc = ~crc;
    for (size_t i = 0; i < size; i++)
        crc = table [(crc ^ data [i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

//  Whether `record` (with `room` bytes up to the end of its block or of
//  the file) holds an intact record: known type, a length that fits, and
//  the checksum
static bool
s_wal_record_ok (s_wal_scan_t *self, const uint8_t *record, size_t room)
{
    if (room < S_WAL_HEADER)
        return false;
    uint8_t type = record [6];
    size_t length = record [4] | (size_t) record [5] << 8;
    if ((type < S_WAL_FULL || type > S_WAL_LAST) && type != S_WAL_COMPRESSION)
        return false;
    if (S_WAL_HEADER + length > room)
        return false;
    uint32_t stored = (uint32_t) record [0] | (uint32_t) record [1] << 8
                    | (uint32_t) record [2] << 16 | (uint32_t) record [3] << 24;
    uint32_t crc = s_crc32c (self->crc_table, 0, record + 6, 1 + length);
    crc = ((crc >> 15) | (crc << 17)) + 0xa282ead8;       //  RocksDB's mask
    return crc == stored;
}

//  Count an intact record found after the bad spot
static void
s_wal_count_after (s_wal_scan_t *self, const uint8_t *record)
{
    self->valid_after = true;
    uint8_t type = record [6];
    if (type == S_WAL_FULL || type == S_WAL_FIRST)
        self->batches++;
}

static void
s_wal_bad (s_wal_scan_t *self, const char *file, uint64_t offset, bool hard,
           const char *reason)
{
    self->found = true;
    self->hard = hard;
    self->file = file;
    self->bad_index = self->file_index;
    self->offset = offset;
    self->reason = reason;
    self->batches = 1;
}

//  Scan one log file. 0, or -1 if it could not be read (errno set).
static int
s_wal_scan_file (s_wal_scan_t *self, const char *file)
{
    int fd = open (file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;        //  deleted meanwhile: obsolete
    struct stat info;
    if (fstat (fd, &info)) {
        close (fd);
        return -1;
    }
    uint64_t size = (uint64_t) info.st_size;
    uint64_t first_bad = 0;             //  the bad spot, if in this file
    for (uint64_t base = 0; base < size; base += S_WAL_BLOCK) {
        size_t length = size - base < S_WAL_BLOCK ? (size_t) (size - base) : S_WAL_BLOCK;
        ssize_t got = pread (fd, self->block, length, (off_t) base);
        if (got < 0 || (size_t) got != length) {
            if (got >= 0)
                errno = EIO;                    //  shrank while read
            close (fd);
            return -1;
        }
        bool last = base + length == size;
        size_t pos = 0;
        while (pos < length) {
            const uint8_t *record = self->block + pos;
            size_t room = length - pos;
            if (self->found) {
                //  After the bad spot: count the intact records, finding
                //  them byte by byte where the chain of lengths is broken
                if (s_wal_record_ok (self, record, room)) {
                    s_wal_count_after (self, record);
                    pos += S_WAL_HEADER + (record [4] | (size_t) record [5] << 8);
                }
                else
                    pos++;
                continue;
            }
            if (room < S_WAL_HEADER) {
                //  Padding; at the end of the file, a header cut short
                for (size_t i = 0; last && i < room; i++)
                    if (record [i]) {
                        s_wal_bad (self, file, base + pos, false, "record cut short");
                        first_bad = base + pos;
                        break;
                    }
                break;
            }
            uint8_t type = record [6];
            size_t record_size = S_WAL_HEADER + (record [4] | (size_t) record [5] << 8);
            if (s_wal_record_ok (self, record, room)) {
                pos += record_size;
                continue;
            }
            if (type == 0 && record_size == S_WAL_HEADER)
                s_wal_bad (self, file, base + pos, false, "zeroed bytes");
            else
            if (record_size > S_WAL_BLOCK - pos)
                s_wal_bad (self, file, base + pos, true, "bad record length");
            else
            if (record_size > room)
                //  Runs past the end of the file (in its last block)
                s_wal_bad (self, file, base + pos, false, "record cut short");
            else
            if ((type < S_WAL_FULL || type > S_WAL_LAST) && type != S_WAL_COMPRESSION)
                s_wal_bad (self, file, base + pos, true, "bad record type");
            else
                s_wal_bad (self, file, base + pos, true, "checksum mismatch");
            first_bad = base + pos;
            pos++;
        }
    }
    close (fd);
    if (self->found)
        self->bytes += size - first_bad;
    return 0;
}

//  Log files by their number
static int
s_wal_compare (const void *a, const void *b)
{
    const char *x = *(char * const *) a, *y = *(char * const *) b;
    unsigned long long nx = strtoull (strrchr (x, '/') + 1, NULL, 10);
    unsigned long long ny = strtoull (strrchr (y, '/') + 1, NULL, 10);
    return nx < ny ? -1 : nx > ny;
}

//  The log files of the store at `path` ("<number>.log"), oldest first.
//  A NULL-terminated array (caller frees each and the array); NULL if the
//  directory cannot be read.
static char **
s_wal_files (const char *path)
{
    DIR *dir = opendir (path);
    if (!dir)
        return NULL;
    size_t count = 0, room = 8;
    char **files = async_xcalloc (room + 1, sizeof (char *));
    assert (files);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        const char *name = entry->d_name;
        size_t digits = strspn (name, "0123456789");
        if (digits == 0 || strcmp (name + digits, ".log"))
            continue;
        if (count == room) {
            room *= 2;
            char **more = async_xrealloc (files, (room + 1) * sizeof (char *));
            assert (more);
            files = more;
        }
        if (asprintf (&files [count], "%s/%s", path, name) < 0)
            files [count] = NULL;
        else
            count++;
    }
    closedir (dir);
    files [count] = NULL;
    qsort (files, count, sizeof (char *), s_wal_compare);
    return files;
}

static void
s_wal_scan_free (s_wal_scan_t *scan)
{
    for (size_t i = 0; scan->files && scan->files [i]; i++)
        free (scan->files [i]);
    free (scan->files);
    scan->files = NULL;
    free (scan->block);
    scan->block = NULL;
}

//  Scan every log file of the store at `path` into `scan` (freed with
//  s_wal_scan_free, whatever the result). 0, or -1 when a log file could
//  not be read (logged).
static int
s_wal_scan (s_wal_scan_t *scan, const char *path)
{
    memset (scan, 0, sizeof *scan);
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; bit++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
        scan->crc_table [i] = crc;
    }
    scan->files = s_wal_files (path);
    if (!scan->files)
        return 0;               //  no directory yet, or not one: RocksDB says
    scan->block = async_xmalloc (S_WAL_BLOCK);
    assert (scan->block);
    for (size_t i = 0; scan->files [i]; i++) {
        scan->file_index = i;
        if (s_wal_scan_file (scan, scan->files [i])) {
            async_log_error ("store", "store.error", "op=read file=%s error=\"%s\"",
                             scan->files [i], strerror (errno));
            return -1;
        }
    }
    //  A bad spot with intact records after it is damage, whatever it
    //  looks like; without, a record cut short or zeroes at the end are
    //  a write that a crash interrupted (never acknowledged)
    if (scan->valid_after)
        scan->hard = true;
    return 0;
}

//  Copy file `from` into directory `dir` (a temp file, fsync, rename).
//  0 or -1 (errno set).
static int
s_wal_copy (const char *from, const char *dir, uint8_t *buffer, size_t size)
{
    const char *name = strrchr (from, '/') + 1;
    char *temp = NULL, *to = NULL;
    if (asprintf (&temp, "%s/%s.tmp", dir, name) < 0)
        return -1;
    if (asprintf (&to, "%s/%s", dir, name) < 0) {
        free (temp);
        return -1;
    }
    int rc = -1;
    int in = open (from, O_RDONLY | O_CLOEXEC);
    int out = open (temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in >= 0 && out >= 0) {
        ssize_t got;
        while ((got = read (in, buffer, size)) > 0) {
            ssize_t put = write (out, buffer, (size_t) got);
            if (put != got) {
                if (put >= 0)
                    errno = ENOSPC;             //  a short write: disk full
                break;
            }
        }
        if (got == 0 && fsync (out) == 0 && rename (temp, to) == 0)
            rc = 0;
    }
    int saved = errno;
    if (in >= 0)
        close (in);
    if (out >= 0)
        close (out);
    if (rc)
        unlink (temp);
    free (temp);
    free (to);
    errno = saved;
    return rc;
}

static int
s_fsync_path (const char *path)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

//  --salvage of a damaged log: copy the damaged file and every later one
//  into a new directory `<path>/salvaged-<UTC time>`, then cut the damaged
//  file at the bad spot and delete the later ones, so that RocksDB replays
//  exactly what comes before the damage. (Its point-in-time recovery
//  alone would not: it skips a block from a zeroed header on without a
//  word and replays the blocks after it.) Holds RocksDB's LOCK meanwhile,
//  so a broker running on `path` is never touched. The copy's directory
//  goes into *copy. 0 or ASYNC_ESTORE (logged).
static int
s_wal_salvage (s_wal_scan_t *scan, const char *path, char **copy)
{
    *copy = NULL;
    char *lock_name = NULL;
    if (asprintf (&lock_name, "%s/LOCK", path) < 0)
        return ASYNC_ESTORE;
    //  Note: closing this descriptor drops every fcntl lock this process
    //  holds on LOCK, so no store of this process may have `path` open
    int lock = open (lock_name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free (lock_name);
    struct flock range = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (lock < 0 || fcntl (lock, F_SETLK, &range)) {
        async_log_error ("store", "store.error", "op=salvage path=%s error=\"%s\"",
                         path, lock < 0 ? strerror (errno)
                         : "the store is in use by another process (its LOCK is held)");
        if (lock >= 0)
            close (lock);
        return ASYNC_ESTORE;
    }
    const char *op = "mkdir";
    time_t now = time (NULL);
    struct tm utc;
    gmtime_r (&now, &utc);
    char stamp [32];
    strftime (stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
    char *dir = NULL;
    for (int attempt = 0; attempt < 100 && !dir; attempt++) {
        if ((attempt ? asprintf (&dir, "%s/salvaged-%s.%d", path, stamp, attempt)
                     : asprintf (&dir, "%s/salvaged-%s", path, stamp)) < 0) {
            dir = NULL;
            break;
        }
        if (mkdir (dir, 0700)) {
            int saved = errno;
            free (dir);
            dir = NULL;
            errno = saved;
            if (errno != EEXIST)
                break;
        }
    }
    int rc = dir ? 0 : -1;
    const char *file = dir;
    assert (scan->block);
    for (size_t i = scan->bad_index; rc == 0 && scan->files [i]; i++) {
        op = "copy";
        file = scan->files [i];
        rc = s_wal_copy (file, dir, scan->block, S_WAL_BLOCK);
    }
    if (rc == 0) {
        op = "fsync";
        file = dir;
        rc = s_fsync_path (dir);
    }
    //  The copy is safe: now cut the log
    for (size_t i = scan->bad_index; rc == 0 && scan->files [i]; i++) {
        file = scan->files [i];
        if (i == scan->bad_index) {
            op = "truncate";
            rc = truncate (file, (off_t) scan->offset);
            if (rc == 0) {
                op = "fsync";
                rc = s_fsync_path (file);
            }
        }
        else {
            op = "unlink";
            rc = unlink (file);
        }
    }
    if (rc == 0) {
        op = "fsync";
        file = path;
        rc = s_fsync_path (path);
    }
    if (rc)
        async_log_error ("store", "store.error", "op=salvage step=%s file=%s error=\"%s\"",
                         op, file ? file : path, strerror (errno));
    close (lock);
    if (rc) {
        free (dir);
        return ASYNC_ESTORE;
    }
    *copy = dir;
    return 0;
}

//  ---------------------------------------------------------------------
//  The table files, read before the broker trusts them. RocksDB checks a
//  block's checksum only when it reads the block: a damaged table file
//  opens without a word, and every read that lands in the damaged block
//  fails later, one by one; recovery would then take a missing `mepoch`
//  or `p` key for an absent one and serve with jobs missing. So the store
//  reads every key once at open, checksums verified, and refuses damage.

//  The file a RocksDB error names, copied into `file`: a table file ("...
//  in DIR/000012.sst offset ..."), else the one after "in file " (a
//  MANIFEST), else the store's directory
static void
s_error_file (const char *error, const char *path, char *file, size_t size)
{
    const char *start = NULL, *end = strstr (error, ".sst");
    if (end) {
        end += 4;
        start = end - 4;
        while (start > error && start [-1] != ' ' && start [-1] != '"')
            start--;
    }
    else
    if ((start = strstr (error, "in file "))) {
        start += 8;
        end = start + strcspn (start, " \"");
    }
    if (start && end > start)
        snprintf (file, size, "%.*s", (int) (end - start), start);
    else
        snprintf (file, size, "%s", path);
}

//  Read every key and value of the store with checksums verified, so that
//  every data block of every live table file is read once. 0, or
//  ASYNC_ESTORE with store.corrupt logged (damage) or store.error (another
//  read error)
static int
s_verify (store_t *self, bool salvage)
{
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    rocksdb_readoptions_t *read = rocksdb_readoptions_create ();
    rocksdb_readoptions_set_verify_checksums (read, 1);
    rocksdb_readoptions_set_fill_cache (read, 0);   //  the scan would evict the
    rocksdb_readoptions_set_readahead_size (read, 2 << 20);    //  hot blocks
    rocksdb_iterator_t *it = rocksdb_create_iterator (self->db, read);
    uint64_t keys = 0, bytes = 0;
    for (rocksdb_iter_seek_to_first (it); rocksdb_iter_valid (it); rocksdb_iter_next (it)) {
        size_t key_size, value_size;
        rocksdb_iter_key (it, &key_size);
        rocksdb_iter_value (it, &value_size);
        keys++;
        bytes += key_size + value_size;
    }
    char *err = NULL;
    rocksdb_iter_get_error (it, &err);
    rocksdb_iter_destroy (it);
    rocksdb_readoptions_destroy (read);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    int64_t ms = (int64_t) (t1.tv_sec - t0.tv_sec) * 1000
               + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (err && strncmp (err, "Corruption", 10) == 0) {
        char file [1024], reason [512];
        s_error_file (err, self->path, file, sizeof file);
        async_log_error ("store", "store.corrupt",
                         "file=%s error=\"%s\" keys_read=%" PRIu64 " hint=\"a table "
                         "file of the store is damaged%s: the records in it "
                         "cannot be read and the broker would serve with jobs "
                         "missing, so it does not start. --salvage does not "
                         "repair table files (*.sst): restore the data "
                         "directory from a backup; see docs/storage.md\"",
                         file, async_log_quote (err, reason, sizeof reason), keys,
                         salvage ? " (--salvage was given)" : "");
        rocksdb_free (err);
        return ASYNC_ESTORE;
    }
    if (s_check (&err, "verify"))
        return ASYNC_ESTORE;
    async_log_info ("store", "store.verified", "keys=%" PRIu64 " bytes=%" PRIu64
                    " ms=%" PRId64, keys, bytes, ms);
    return 0;
}

int
store_open (const char *path, bool sync, store_t **self_p)
{
    return store_open_salvage (path, sync, false, self_p);
}

int
store_open_salvage (const char *path, bool sync, bool salvage, store_t **self_p)
{
    *self_p = NULL;
    if (mkdir (path, 0700) && errno != EEXIST) {
        async_log_error ("store", "store.error", "op=mkdir path=%s error=\"%s\"",
                         path, strerror (errno));
        return ASYNC_ESTORE;
    }
    store_t *self = async_xcalloc (1, sizeof (store_t));
    self->done_fd = -1;
    self->sync = sync;
    self->path = async_xstrdup (path);
    self->options = rocksdb_options_create ();
    rocksdb_options_set_create_if_missing (self->options, 1);
    rocksdb_options_increase_parallelism (self->options, 2);
    rocksdb_options_set_max_open_files (self->options, 256);
    rocksdb_options_set_write_buffer_size (self->options, 16 << 20);
    rocksdb_options_set_max_write_buffer_number (self->options, 3);
    rocksdb_options_set_compression (self->options, rocksdb_lz4_compression);
    //  Damage found by a background job (a flush, a compaction) stops
    //  every write (RocksDB's default, said here: store_commit fails, the
    //  broker exits); the table files are read through at open (s_verify)
    rocksdb_options_set_paranoid_checks (self->options, 1);
    //  Replaying the log: a torn last record (a crash mid-write) is
    //  dropped; any other damage fails the open (kTolerateCorrupted-
    //  TailRecords). The scan below finds damage first, and refuses it, or
    //  with --salvage cuts the log there; then point-in-time recovery
    //  (replay stops at damage) catches what the scan would have missed.
    //  (No WAL recycling: it would make an old record look like a new one)
    rocksdb_options_set_wal_recovery_mode (self->options, salvage ? 2 : 0);
    //  A small block cache: the backlog lives on disk, not in RAM. One
    //  shard: RocksDB's default splits 32 MiB into 64 shards of 512 KiB,
    //  and a block larger than its shard is never kept (a parent of 40,000
    //  children makes a block of 1.5 MB: every listing page that touched it
    //  read and decompressed it again). The reads are the loop's: one
    //  thread, no contention on the shard's lock
    rocksdb_block_based_table_options_t *table = rocksdb_block_based_options_create ();
    rocksdb_lru_cache_options_t *cache_options = rocksdb_lru_cache_options_create ();
    rocksdb_lru_cache_options_set_capacity (cache_options, 32 << 20);
    rocksdb_lru_cache_options_set_num_shard_bits (cache_options, 0);
    rocksdb_cache_t *cache = rocksdb_cache_create_lru_opts (cache_options);
    rocksdb_lru_cache_options_destroy (cache_options);
    rocksdb_block_based_options_set_block_cache (table, cache);
    //  Point reads (a job record by id) skip the files that lack the key
    rocksdb_block_based_options_set_filter_policy (table,
                                                   rocksdb_filterpolicy_create_bloom (10));
    rocksdb_options_set_block_based_table_factory (self->options, table);
    rocksdb_cache_destroy (cache);
    rocksdb_block_based_options_destroy (table);

    s_wal_scan_t scan;
    if (s_wal_scan (&scan, path)) {
        s_wal_scan_free (&scan);
        store_destroy (&self);
        return ASYNC_ESTORE;
    }
    if (scan.found && scan.hard && !salvage) {
        async_log_error ("store", "store.corrupt",
                         "file=%s offset=%" PRIu64 " reason=\"%s\" "
                         "would_drop_batches=%" PRIu64 " would_drop_bytes=%" PRIu64 " "
                         "hint=\"the write-ahead log is damaged before its end, so "
                         "acknowledged writes may follow the damage; nothing was "
                         "changed. Restore the data directory from a backup, or "
                         "start once with --salvage (broker/salvage = 1) to drop "
                         "the damaged record and every one after it; see "
                         "docs/storage.md\"",
                         scan.file, scan.offset, scan.reason, scan.batches, scan.bytes);
        s_wal_scan_free (&scan);
        store_destroy (&self);
        return ASYNC_ESTORE;
    }
    if (scan.found && scan.hard) {
        char *copy;
        if (s_wal_salvage (&scan, path, &copy)) {
            s_wal_scan_free (&scan);
            store_destroy (&self);
            return ASYNC_ESTORE;
        }
        async_log_warning ("store", "store.salvaged",
                           "file=%s offset=%" PRIu64 " reason=\"%s\" "
                           "dropped_batches=%" PRIu64 " dropped_bytes=%" PRIu64 " "
                           "copy=%s hint=\"--salvage: the log was cut at the "
                           "damage, so the store opens as it was before it; the "
                           "write batches (broker commits) from the damaged one "
                           "on are lost, the log as it was is kept in the copy. "
                           "Remove --salvage (broker/salvage) once started\"",
                           scan.file, scan.offset, scan.reason, scan.batches,
                           scan.bytes, copy);
        free (copy);
    }
    else
    if (salvage)
        async_log_warning ("store", "store.salvage",
                           "path=%s hint=\"--salvage is on, and the write-ahead "
                           "log %s; remove --salvage (broker/salvage): it would "
                           "drop writes after any damage found at a later "
                           "start\"", path, scan.found
                           ? "ends in a torn record (dropped, as always)"
                           : "is intact: nothing was dropped");
    else
    if (scan.found)
        async_log_info ("store", "store.wal_tail",
                        "file=%s offset=%" PRIu64 " reason=\"%s\" bytes=%" PRIu64 " "
                        "note=\"a crash cut the last write short; it is "
                        "dropped (with --sync on it was never acknowledged)\"",
                        scan.file, scan.offset, scan.reason, scan.bytes);
    s_wal_scan_free (&scan);

    char *err = NULL;
    self->db = rocksdb_open (self->options, path, &err);
    if (err && strncmp (err, "Corruption", 10) == 0) {
        char file [1024], reason [512];
        s_error_file (err, path, file, sizeof file);
        async_log_error ("store", "store.corrupt",
                         "file=%s error=\"%s\" hint=\"RocksDB found the store "
                         "damaged%s. Restore the data directory from a "
                         "backup%s; see docs/storage.md\"",
                         file, async_log_quote (err, reason, sizeof reason),
                         salvage ? " even with --salvage" : "",
                         salvage ? "" : ", or if the damage is in a write-ahead "
                         "log (*.log) start once with --salvage");
        rocksdb_free (err);
        err = NULL;
    }
    if (s_check (&err, "open") || !self->db || s_verify (self, salvage)) {
        store_destroy (&self);
        return ASYNC_ESTORE;
    }
    self->write_sync = rocksdb_writeoptions_create ();
    rocksdb_writeoptions_set_sync (self->write_sync, sync ? 1 : 0);
    self->write_nosync = rocksdb_writeoptions_create ();
    rocksdb_writeoptions_set_sync (self->write_nosync, 0);
    self->read = rocksdb_readoptions_create ();
    self->batch = rocksdb_writebatch_create ();
    self->staged = s_ops_new ();
    self->done_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    *self_p = self;
    return 0;
}

void
store_destroy (store_t **self_p)
{
    store_t *self = *self_p;
    if (!self)
        return;
    if (self->writer_running) {
        pthread_mutex_lock (&self->lock);
        while (self->flight && !self->flight_done)
            pthread_cond_wait (&self->done, &self->lock);
        self->stopping = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->writer, NULL);
        pthread_mutex_destroy (&self->lock);
        pthread_cond_destroy (&self->wake);
        pthread_cond_destroy (&self->done);
    }
    if (self->done_fd >= 0)
        close (self->done_fd);
    if (self->db)
        rocksdb_close (self->db);
    if (self->batch)
        rocksdb_writebatch_destroy (self->batch);
    if (self->flight_batch)
        rocksdb_writebatch_destroy (self->flight_batch);
    s_ops_destroy (&self->staged);
    s_ops_destroy (&self->flight);
    s_ops_destroy (&self->spare);
    if (self->read)
        rocksdb_readoptions_destroy (self->read);
    if (self->write_sync)
        rocksdb_writeoptions_destroy (self->write_sync);
    if (self->write_nosync)
        rocksdb_writeoptions_destroy (self->write_nosync);
    rocksdb_options_destroy (self->options);
    free (self->path);
    free (self);
    *self_p = NULL;
}

void
store_put (store_t *self, const void *key, size_t key_size,
           const void *value, size_t value_size)
{
    s_ops_add (self->staged, false, false, key, key_size, value, value_size);
}

void
store_put_fresh (store_t *self, const void *key, size_t key_size,
                 const void *value, size_t value_size)
{
    s_ops_add (self->staged, false, true, key, key_size, value, value_size);
}

void
store_delete (store_t *self, const void *key, size_t key_size)
{
    s_ops_add (self->staged, true, false, key, key_size, NULL, 0);
}

size_t
store_pending (store_t *self)
{
    return self->staged->count;
}

size_t
store_pending_bytes (store_t *self)
{
    return self->staged->size;
}

int
store_commit (store_t *self, bool durable)
{
    if (store_commit_finish (self))
        return ASYNC_ESTORE;
    if (self->staged->count == 0)
        return 0;
    if (!self->db)
        return ASYNC_ESTORE;
    int rc = s_ops_write (self, self->staged, self->batch, durable);
    if (rc == 0)
        s_ops_clear (self->staged);
    return rc;
}

//  The writer thread: writes each batch handed over, then says so
static void *
s_writer (void *arg)
{
    store_t *self = (store_t *) arg;
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stopping && (!self->flight || self->flight_done))
            pthread_cond_wait (&self->wake, &self->lock);
        if (self->stopping)
            break;
        s_ops_t *ops = self->flight;
        bool durable = self->flight_durable;
        pthread_mutex_unlock (&self->lock);
        int rc = s_ops_write (self, ops, self->flight_batch, durable);
        pthread_mutex_lock (&self->lock);
        self->flight_rc = rc;
        self->flight_done = true;
        pthread_cond_signal (&self->done);
        uint64_t one = 1;
        if (write (self->done_fd, &one, sizeof one) != sizeof one)
            async_log_error ("store", "store.error", "op=notify error=\"%s\"",
                             strerror (errno));
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

int
store_commit_start (store_t *self, bool durable)
{
    if (!self->db)
        return ASYNC_ESTORE;
    if (self->flight || self->staged->count == 0)
        return 1;
    if (!self->writer_running) {
        self->flight_batch = rocksdb_writebatch_create ();
        pthread_mutex_init (&self->lock, NULL);
        pthread_cond_init (&self->wake, NULL);
        pthread_cond_init (&self->done, NULL);
        if (pthread_create (&self->writer, NULL, s_writer, self)) {
            pthread_mutex_destroy (&self->lock);
            pthread_cond_destroy (&self->wake);
            pthread_cond_destroy (&self->done);
            return store_commit (self, durable);
        }
        self->writer_running = true;
    }
    pthread_mutex_lock (&self->lock);
    self->flight = self->staged;
    self->flight_durable = durable;
    self->flight_done = false;
    self->staged = self->spare ? self->spare : s_ops_new ();
    self->spare = NULL;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

bool
store_commit_busy (store_t *self)
{
    return self->flight != NULL;
}

int
store_commit_fd (store_t *self)
{
    return self->done_fd;
}

int
store_commit_finish (store_t *self)
{
    if (!self->flight)
        return 0;
    pthread_mutex_lock (&self->lock);
    while (!self->flight_done)
        pthread_cond_wait (&self->done, &self->lock);
    int rc = self->flight_rc;
    s_ops_clear (self->flight);
    self->spare = self->flight;
    self->flight = NULL;
    pthread_mutex_unlock (&self->lock);
    uint64_t count;
    if (read (self->done_fd, &count, sizeof count) < 0 && errno != EAGAIN)
        async_log_error ("store", "store.error", "op=notify error=\"%s\"", strerror (errno));
    return rc;
}

void
store_rollback (store_t *self)
{
    s_ops_clear (self->staged);
}

int
store_get (store_t *self, const void *key, size_t key_size,
           char **value, size_t *value_size)
{
    if (!self->db)
        return ASYNC_ESTORE;
    char *err = NULL;
    size_t size = 0;
    char *data = rocksdb_get (self->db, self->read, key, key_size, &size, &err);
    if (s_check (&err, "get"))
        return ASYNC_ESTORE;
    if (!data)
        return ASYNC_ENOJOB;
    *value = data;
    *value_size = size;
    return 0;
}

int
store_read (store_t *self, const void *key, size_t key_size, store_value_fn *fn, void *arg)
{
    if (!self->db)
        return ASYNC_ESTORE;
    char *err = NULL;
    rocksdb_pinnableslice_t *pinned = rocksdb_get_pinned (self->db, self->read, key, key_size,
                                                          &err);
    if (s_check (&err, "get"))
        return ASYNC_ESTORE;
    if (!pinned)
        return ASYNC_ENOJOB;
    size_t size = 0;
    const char *value = rocksdb_pinnableslice_value (pinned, &size);
    fn (arg, value, size);
    rocksdb_pinnableslice_destroy (pinned);
    return 0;
}

store_iter_t *
store_iter_new (store_t *self, const void *prefix, size_t prefix_size)
{
    assert (prefix_size > 0);
    store_iter_t *iter = async_xcalloc (1, sizeof (store_iter_t));
    iter->prefix = async_xmalloc (prefix_size + 1);
    memcpy (iter->prefix, prefix, prefix_size);
    iter->prefix_size = prefix_size;
    //  Upper bound: the shortest key above every key with the prefix: drop
    //  trailing 0xff bytes, then increment the last byte; none if all 0xff
    iter->upper = async_xmalloc (prefix_size + 1);
    memcpy (iter->upper, prefix, prefix_size);
    iter->upper_size = prefix_size;
    while (iter->upper_size > 0 && (uint8_t) iter->upper [iter->upper_size - 1] == 0xff)
        iter->upper_size--;
    iter->read = rocksdb_readoptions_create ();
    if (iter->upper_size > 0) {
        iter->upper [iter->upper_size - 1]++;
        rocksdb_readoptions_set_iterate_upper_bound (iter->read, iter->upper,
                                                     iter->upper_size);
    }
    if (!self->db)
        return iter;            //  closed after a failed write: nothing to see
    iter->it = rocksdb_create_iterator (self->db, iter->read);
    rocksdb_iter_seek (iter->it, prefix, prefix_size);
    return iter;
}

void
store_iter_seek (store_iter_t *self, const void *start, size_t start_size)
{
    if (!self->it)
        return;
    rocksdb_iter_seek (self->it, start, start_size);
}

void
store_iter_seek_last (store_iter_t *self)
{
    if (!self->it)
        return;
    if (self->upper_size)
        rocksdb_iter_seek_for_prev (self->it, self->upper, self->upper_size);
    else
        rocksdb_iter_seek_to_last (self->it);
}

bool
store_iter_valid (store_iter_t *self)
{
    if (!self->it)
        return false;
    if (!rocksdb_iter_valid (self->it)) {
        //  The end, or a read error (a damaged block found while running):
        //  the walk stops there either way, but not without a word
        char *err = NULL;
        rocksdb_iter_get_error (self->it, &err);
        if (err && !self->failed) {
            self->failed = true;
            char shown [65];
            size_t n = self->prefix_size < 64 ? self->prefix_size : 64;
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) self->prefix [i];
                shown [i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char) c : '?';
            }
            shown [n] = 0;
            char reason [512];
            async_log_error ("store", "store.error", "op=iterate prefix=\"%s\" error=\"%s\"",
                             shown, async_log_quote (err, reason, sizeof reason));
        }
        rocksdb_free (err);
        return false;
    }
    size_t size;
    const char *key = rocksdb_iter_key (self->it, &size);
    return size >= self->prefix_size && memcmp (key, self->prefix, self->prefix_size) == 0;
}

void
store_iter_next (store_iter_t *self)
{
    if (!self->it)
        return;
    rocksdb_iter_next (self->it);
}

void
store_iter_prev (store_iter_t *self)
{
    if (!self->it)
        return;
    rocksdb_iter_prev (self->it);
}

const char *
store_iter_key (store_iter_t *self, size_t *size)
{
    return rocksdb_iter_key (self->it, size);
}

const char *
store_iter_value (store_iter_t *self, size_t *size)
{
    return rocksdb_iter_value (self->it, size);
}

void
store_iter_destroy (store_iter_t **self_p)
{
    store_iter_t *self = *self_p;
    if (!self)
        return;
    if (self->it)
        rocksdb_iter_destroy (self->it);
    rocksdb_readoptions_destroy (self->read);
    free (self->prefix);
    free (self->upper);
    free (self);
    *self_p = NULL;
}

//  A RocksDB property that is a number; 0 if none
static uint64_t
s_property (store_t *self, const char *name)
{
    if (!self->db)
        return 0;
    char *value = rocksdb_property_value (self->db, name);
    uint64_t number = value ? strtoull (value, NULL, 10) : 0;
    free (value);
    return number;
}

uint64_t
store_size (store_t *self)
{
    return s_property (self, "rocksdb.total-sst-files-size")
         + s_property (self, "rocksdb.cur-size-all-mem-tables");
}

uint64_t
store_cached (store_t *self)
{
    return s_property (self, "rocksdb.block-cache-usage");
}

void
store_put_be64 (uint8_t *buf, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        buf [i] = (uint8_t) value;
        value >>= 8;
    }
}

uint64_t
store_get_be64 (const uint8_t *buf)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | buf [i];
    return value;
}
