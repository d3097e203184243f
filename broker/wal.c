/*  =========================================================================
    wal - the store's write-ahead log, read before RocksDB replays it
    (wal.h)
    =========================================================================
*/
#define _GNU_SOURCE
#include "wal.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  The log format (RocksDB db/log_format.h): 32 KiB blocks of records;
//  each record is a 7-byte header, crc (4 bytes, little-endian: crc32c of
//  the type and the payload, masked), payload length (2, little-endian),
//  type (1: a full write batch; 2, 3, 4: its first, middle, last
//  fragment), then the payload. A record never crosses a block; fewer than
//  7 bytes left in a block are padding.

#define S_WAL_BLOCK       32768
#define S_WAL_HEADER      7
#define S_WAL_FULL        1
#define S_WAL_FIRST       2
#define S_WAL_LAST        4
#define S_WAL_COMPRESSION 9  //  kSetCompressionType (not a batch)

typedef struct {
    uint32_t crc_table [256];
    uint8_t *block;     //  S_WAL_BLOCK bytes
    char **files;       //  the log files, oldest first
    size_t file_index;  //  the one being scanned
    //  The first bad spot, if any
    bool found;
    bool hard;         //  a bad record, not just a torn end
    const char *file;  //  its log file (in files)
    size_t bad_index;  //  its index in files
    uint64_t offset;   //  its offset in the file
    const char *reason;
    //  From the bad spot to the end of the log: what replay would drop
    bool valid_after;  //  an intact record follows it
    uint64_t batches;  //  write batches: the damaged one
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
    crc = ((crc >> 15) | (crc << 17)) + 0xa282ead8;  //  RocksDB's mask
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
s_wal_bad (s_wal_scan_t *self, const char *file, uint64_t offset, bool hard, const char *reason)
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
        return errno == ENOENT ? 0 : -1;  //  deleted meanwhile: obsolete
    struct stat info;
    if (fstat (fd, &info)) {
        close (fd);
        return -1;
    }
    uint64_t size = (uint64_t) info.st_size;
    uint64_t first_bad = 0;  //  the bad spot, if in this file
    for (uint64_t base = 0; base < size; base += S_WAL_BLOCK) {
        size_t length = size - base < S_WAL_BLOCK ? (size_t) (size - base) : S_WAL_BLOCK;
        ssize_t got = pread (fd, self->block, length, (off_t) base);
        if (got < 0 || (size_t) got != length) {
            if (got >= 0)
                errno = EIO;  //  shrank while read
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
            else if (record_size > S_WAL_BLOCK - pos)
                s_wal_bad (self, file, base + pos, true, "bad record length");
            else if (record_size > room)
                //  Runs past the end of the file (in its last block)
                s_wal_bad (self, file, base + pos, false, "record cut short");
            else if ((type < S_WAL_FULL || type > S_WAL_LAST) && type != S_WAL_COMPRESSION)
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
    const char *x = *(char *const *) a, *y = *(char *const *) b;
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
        return 0;  //  no directory yet, or not one: RocksDB says
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
                    errno = ENOSPC;  //  a short write: disk full
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
        async_log_error ("store", "store.error", "op=salvage path=%s error=\"%s\"", path,
                         lock < 0
                             ? strerror (errno)
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
                     : asprintf (&dir, "%s/salvaged-%s", path, stamp))
            < 0) {
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
        async_log_error ("store", "store.error", "op=salvage step=%s file=%s error=\"%s\"", op,
                         file ? file : path, strerror (errno));
    close (lock);
    if (rc) {
        free (dir);
        return ASYNC_ESTORE;
    }
    *copy = dir;
    return 0;
}

int
wal_check (const char *path, bool salvage)
{
    s_wal_scan_t scan;
    if (s_wal_scan (&scan, path)) {
        s_wal_scan_free (&scan);
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
        return ASYNC_ESTORE;
    }
    if (scan.found && scan.hard) {
        char *copy;
        if (s_wal_salvage (&scan, path, &copy)) {
            s_wal_scan_free (&scan);
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
                           scan.file, scan.offset, scan.reason, scan.batches, scan.bytes, copy);
        free (copy);
    }
    else if (salvage)
        async_log_warning ("store", "store.salvage",
                           "path=%s hint=\"--salvage is on, and the write-ahead "
                           "log %s; remove --salvage (broker/salvage): it would "
                           "drop writes after any damage found at a later "
                           "start\"",
                           path,
                           scan.found ? "ends in a torn record (dropped, as always)"
                                      : "is intact: nothing was dropped");
    else if (scan.found)
        async_log_info ("store", "store.wal_tail",
                        "file=%s offset=%" PRIu64 " reason=\"%s\" bytes=%" PRIu64 " "
                        "note=\"a crash cut the last write short; it is "
                        "dropped (with --sync on it was never acknowledged)\"",
                        scan.file, scan.offset, scan.reason, scan.bytes);
    s_wal_scan_free (&scan);
    return 0;
}
