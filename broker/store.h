/*  =========================================================================
    store - the broker's one door to RocksDB

    It stores keys and values as given: which keys the broker writes, how
    each is made and read back, and the layout's version are keys.h's
    (docs/storage.md).
    =========================================================================
*/
#ifndef BROKER_STORE_H_INCLUDED
#define BROKER_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _store_t store_t;
typedef struct _store_iter_t store_iter_t;

//  Open (creating) the store in directory `path`. 0 or ASYNC_ESTORE, with
//  the reason logged. `sync`: sync the WAL on store_commit (durable).
//  The write-ahead log is checked first: a torn last record (a crash
//  mid-write) is dropped; any other damage refuses the store, logged as
//  store.corrupt with the file and offset (docs/storage.md, section 5).
//  Once open, every key and value is read with checksums verified
//  (store.verified at info, with the cost); a damaged table file refuses
//  the store, logged as store.corrupt naming the file.
int
    store_open (const char *path, bool sync, store_t **self_p);

//  As store_open; with `salvage`, a damaged write-ahead log does not
//  refuse the store: the log is copied into `path`/salvaged-<time>, then
//  cut at the damage, so the store opens as it was before it; what was
//  dropped (write batches, bytes) is logged at warning, store.salvaged.
//  No other store of this process may have `path` open. A damaged table
//  file is refused even so (nothing honest to salvage: docs/storage.md).
int
    store_open_salvage (const char *path, bool sync, bool salvage, store_t **self_p);

void
    store_destroy (store_t **self_p);

//  Stage writes in the current batch.
void
    store_put (store_t *self, const void *key, size_t key_size,
               const void *value, size_t value_size);
void
    store_delete (store_t *self, const void *key, size_t key_size);

//  As store_put, for a key with no live version: every earlier write of it
//  is a delete staged before this put (or it was never written). A put
//  and a later delete of such a key in one batch then cancel out: neither
//  reaches RocksDB (a job handed out in the batch that queued it).
void
    store_put_fresh (store_t *self, const void *key, size_t key_size,
                     const void *value, size_t value_size);

//  Writes staged and not yet committed; their size in bytes.
size_t
    store_pending (store_t *self);
size_t
    store_pending_bytes (store_t *self);

//  Commit the batch; `durable` asks for a synced WAL write (ignored when
//  the store was opened with sync off). 0 or ASYNC_ESTORE (the batch is
//  kept for a later try).
int
    store_commit (store_t *self, bool durable);

//  Hand the staged batch to the writer thread and return at once; staging
//  goes on in a fresh batch. 0 started, 1 nothing to write or a write is
//  in flight already (one at a time), or ASYNC_ESTORE.
int
    store_commit_start (store_t *self, bool durable);

//  Whether a write is in flight.
bool
    store_commit_busy (store_t *self);

//  A file descriptor that polls readable when the write in flight is done.
int
    store_commit_fd (store_t *self);

//  Wait for the write in flight (none: returns 0). 0 or ASYNC_ESTORE.
int
    store_commit_finish (store_t *self);

//  Drop the staged batch.
void
    store_rollback (store_t *self);

//  Read a value (malloc'd into *value). 0, ASYNC_ENOJOB if absent, or
//  ASYNC_ESTORE.
int
    store_get (store_t *self, const void *key, size_t key_size,
               char **value, size_t *value_size);

//  Read a value in place: `fn` gets it as it lies in the store's cache,
//  not copied out (a parent's record of 100,000 children is 3.8 MB), and
//  may not keep it. 0, ASYNC_ENOJOB if absent, or ASYNC_ESTORE.
typedef void (store_value_fn) (void *arg, const char *value, size_t size);
int
    store_read (store_t *self, const void *key, size_t key_size, store_value_fn *fn,
                void *arg);

//  Iterate keys starting with `prefix`, from `start` (NULL: the prefix).
store_iter_t *
    store_iter_new (store_t *self, const void *prefix, size_t prefix_size);
void
    store_iter_seek (store_iter_t *self, const void *start, size_t start_size);
//  Last key with the prefix (for newest-first walks).
void
    store_iter_seek_last (store_iter_t *self);
bool
    store_iter_valid (store_iter_t *self);
void
    store_iter_next (store_iter_t *self);
void
    store_iter_prev (store_iter_t *self);
const char *
    store_iter_key (store_iter_t *self, size_t *size);
const char *
    store_iter_value (store_iter_t *self, size_t *size);
void
    store_iter_destroy (store_iter_t **self_p);

//  Approximate bytes on disk.
uint64_t
    store_size (store_t *self);

//  Bytes of the table files' blocks held in the block cache (32 MiB at
//  most, a block bigger than that aside).
uint64_t
    store_cached (store_t *self);

//  Big-endian helpers for keys
void
    store_put_be64 (uint8_t *buf, uint64_t value);
uint64_t
    store_get_be64 (const uint8_t *buf);

#endif
