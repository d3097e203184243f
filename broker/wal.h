/*  =========================================================================
    wal - the store's write-ahead log, read before RocksDB replays it

    RocksDB's point-in-time recovery, its default, stops at the first
    damaged record and silently drops it and every record after it: writes
    that were acknowledged. Its kTolerateCorruptedTailRecords mode refuses
    to open instead, but says neither where nor what a salvage would drop.
    So the store reads the log itself first (docs/storage.md, section 5).
    =========================================================================
*/
#ifndef BROKER_WAL_H_INCLUDED
#define BROKER_WAL_H_INCLUDED

#include <stdbool.h>

//  Read every write-ahead log file of the store at `path` (RocksDB closed)
//  before it is opened. A torn last record (a crash mid-write) is logged
//  (store.wal_tail at info; with `salvage`, store.salvage at warning) and
//  left for RocksDB to drop. Damage before
//  the end refuses the store, logged as store.corrupt with the file, the
//  offset and what a salvage would drop; with `salvage` the log is copied
//  into `path`/salvaged-<time> and cut at the damage instead (logged at
//  warning, store.salvaged). 0, or ASYNC_ESTORE (logged). No store of
//  this process may have `path` open: the salvage takes RocksDB's LOCK.
int wal_check (const char *path, bool salvage);

#endif
