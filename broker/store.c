/*  =========================================================================
    store - the broker's one door to RocksDB
    =========================================================================
*/
#define _GNU_SOURCE
#include "store.h"
#include "wal.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <rocksdb/c.h>
#include <assert.h>
#include <errno.h>
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

    if (wal_check (path, salvage)) {
        store_destroy (&self);
        return ASYNC_ESTORE;
    }

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
