/*  =========================================================================
    test_store - the broker's RocksDB store: durability across reopen,
    batches, prefix iteration, big-endian key helpers (broker/store)

    Each test gets a fresh temp dir under $TMPDIR or /tmp, removed
    afterwards (fixture.h).
    =========================================================================
*/
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixture_store.h"
#include "store.h"
#include "asyncmesh/error.h"

typedef fixture_store_t fixture_t;

static int
s_setup (void **state)
{
    fixture_t *self = calloc (1, sizeof (fixture_t));
    if (!self || fixture_store_open (self, "store")) {
        free (self);
        return -1;
    }
    *state = self;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int rc = fixture_store_close (self);
    free (self);
    return rc;
}

//  ---------------------------------------------------------------------
//  Helpers

static void
s_put (store_t *store, const char *key, const char *value)
{
    store_put (store, key, strlen (key), value, strlen (value));
}

//  The value of `key` as a C string (caller frees), or NULL if absent
static char *
s_get (store_t *store, const void *key, size_t key_size)
{
    char *value = NULL;
    size_t size = 0;
    int rc = store_get (store, key, key_size, &value, &size);
    if (rc == ASYNC_ENOJOB)
        return NULL;
    assert_int_equal (rc, 0);
    char *text = malloc (size + 1);
    memcpy (text, value, size);
    text [size] = 0;
    free (value);
    return text;
}

static void
s_assert_value (store_t *store, const char *key, const char *want)
{
    char *got = s_get (store, key, strlen (key));
    if (!got)
        fail_msg ("key '%s' is missing, want '%s'", key, want);
    assert_string_equal (got, want);
    free (got);
}

static void
s_assert_absent (store_t *store, const char *key)
{
    char *got = s_get (store, key, strlen (key));
    bool present = got != NULL;
    free (got);
    if (present)
        fail_msg ("key '%s' is present", key);
}

//  Keys (as C strings, prefix included) seen walking `prefix` forward.
//  Asserts only after the iterator is gone: RocksDB aborts when a store
//  closes with an iterator still open (a failed assert would leave one).
static size_t
s_walk (store_t *store, const void *prefix, size_t prefix_size,
        char keys [][64], size_t max)
{
    store_iter_t *iter = store_iter_new (store, prefix, prefix_size);
    size_t count = 0;
    bool overflow = false;
    while (store_iter_valid (iter)) {
        size_t size;
        const char *key = store_iter_key (iter, &size);
        if (size >= 64 || count == max) {
            overflow = true;
            break;
        }
        memcpy (keys [count], key, size);
        keys [count][size] = 0;
        count++;
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    assert_null (iter);
    assert_false (overflow);
    return count;
}

typedef struct {
    char key [64];
    size_t key_size;
    char value [64];
    size_t value_size;
} item_t;

//  Copy out the current item; false when the iterator is done
static bool
s_item (store_iter_t *iter, item_t *item)
{
    if (!store_iter_valid (iter))
        return false;
    size_t size;
    const char *key = store_iter_key (iter, &size);
    item->key_size = size < sizeof item->key ? size : sizeof item->key;
    memcpy (item->key, key, item->key_size);
    const char *value = store_iter_value (iter, &size);
    item->value_size = size < sizeof item->value ? size : sizeof item->value;
    memcpy (item->value, value, item->value_size);
    return true;
}

//  ---------------------------------------------------------------------
//  Open, commit, reopen

static void
test_store_survives_reopen (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_put (self->store, "jabc", "the job");
    const char binary [] = { 'v', 0, 1, (char) 0xff };
    store_put (self->store, "k\0bin", 5, binary, sizeof binary);
    assert_int_equal (store_pending (self->store), 2);
    assert_int_equal (store_commit (self->store, true), 0);
    assert_int_equal (store_pending (self->store), 0);
    store_destroy (&self->store);
    assert_null (self->store);

    assert_int_equal (store_open (self->path, true, &self->store), 0);
    assert_non_null (self->store);
    s_assert_value (self->store, "jabc", "the job");
    char *value = NULL;
    size_t size = 0;
    assert_int_equal (store_get (self->store, "k\0bin", 5, &value, &size), 0);
    assert_int_equal (size, sizeof binary);
    assert_memory_equal (value, binary, sizeof binary);
    free (value);
}

static void
test_store_survives_reopen_without_sync (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    store_destroy (&self->store);
    //  --sync off: the WAL is written, not synced; a clean close keeps it
    assert_int_equal (store_open (self->path, false, &self->store), 0);
    s_put (self->store, "jnosync", "kept");
    assert_int_equal (store_commit (self->store, true), 0);
    s_put (self->store, "jnondurable", "kept too");
    assert_int_equal (store_commit (self->store, false), 0);
    store_destroy (&self->store);
    assert_int_equal (store_open (self->path, false, &self->store), 0);
    s_assert_value (self->store, "jnosync", "kept");
    s_assert_value (self->store, "jnondurable", "kept too");
}

static void
test_store_uncommitted_batch_is_lost_on_reopen (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_put (self->store, "jcommitted", "yes");
    assert_int_equal (store_commit (self->store, true), 0);
    s_put (self->store, "jstaged", "no");
    store_destroy (&self->store);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    s_assert_value (self->store, "jcommitted", "yes");
    s_assert_absent (self->store, "jstaged");
}

static void
test_store_open_refuses_a_file (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char file [FIXTURE_DIR_MAX + 16];
    snprintf (file, sizeof file, "%s/plain-file", self->dir);
    FILE *handle = fopen (file, "w");
    assert_non_null (handle);
    fputs ("not a database\n", handle);
    fclose (handle);
    store_t *store = (store_t *) 0x1;
    assert_int_equal (store_open (file, true, &store), ASYNC_ESTORE);
    assert_null (store);
}

static void
test_store_second_open_of_same_dir_refused (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  RocksDB's LOCK file keeps a second broker off the same data
    store_t *second = (store_t *) 0x1;
    assert_int_equal (store_open (self->path, true, &second), ASYNC_ESTORE);
    assert_null (second);
}

//  What store_read gives: a copy, and how many times it came
typedef struct {
    char *value;
    size_t size;
    int reads;
} s_read_t;

static void
s_read_copy (void *arg, const char *value, size_t size)
{
    s_read_t *read = (s_read_t *) arg;
    free (read->value);
    read->value = malloc (size);
    assert_non_null (read->value);
    memcpy (read->value, value, size);
    read->size = size;
    read->reads++;
}

//  A record of 1.5 MB (a parent of 40,000 children) is read in place and
//  stays in the block cache once read. RocksDB's default cache of 32 MiB
//  is 64 shards of 512 KiB and keeps no block bigger than a shard: every
//  read of the record, or of a small record in its block, decompressed
//  it again (a listing's page took tens of milliseconds over it)
static void
test_store_big_record_stays_cached (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    size_t big = 1536 * 1024;
    char *value = malloc (big);
    assert_non_null (value);
    for (size_t i = 0; i < big; i++)  //  ids, more or less: some of it compresses
        value [i] = "0123456789abcdef-" [(i * 7919 + i / 37) % 17];
    store_put (self->store, "jbig", 4, value, big);
    assert_int_equal (store_commit (self->store, true), 0);
    //  Opening again writes the log's records into a table file
    store_destroy (&self->store);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    assert_true (store_cached (self->store) < 4096);  //  not the record yet
    s_read_t read = { NULL, 0, 0 };
    assert_int_equal (store_read (self->store, "jbig", 4, s_read_copy, &read), 0);
    assert_int_equal (store_read (self->store, "jbig", 4, s_read_copy, &read), 0);
    assert_int_equal (read.reads, 2);
    assert_int_equal (read.size, big);
    assert_memory_equal (read.value, value, big);
    assert_true (store_cached (self->store) >= big);
    assert_int_equal (store_read (self->store, "jnone", 5, s_read_copy, &read), ASYNC_ENOJOB);
    assert_int_equal (read.reads, 2);
    free (read.value);
    free (value);
}

//  ---------------------------------------------------------------------
//  A damaged write-ahead log (docs/storage.md section 5). A clean close
//  leaves the WAL as it is (RocksDB does not flush the memtable on
//  close), so the tests damage it between a close and an open.

#define S_WAL_COMMITS   20

//  The path of the store's one non-empty WAL file (<number>.log)
static void
s_wal_file (fixture_t *self, char *file, size_t size)
{
    DIR *dir = opendir (self->path);
    assert_non_null (dir);
    size_t found = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (length < 5 || strcmp (entry->d_name + length - 4, ".log"))
            continue;
        char path [512];
        snprintf (path, sizeof path, "%s/%s", self->path, entry->d_name);
        struct stat info;
        if (stat (path, &info) == 0 && info.st_size > 0) {
            snprintf (file, size, "%s", path);
            found++;
        }
    }
    closedir (dir);
    assert_int_equal (found, 1);
}

//  Offsets and payload lengths of the records of WAL `file`. RocksDB's
//  log format: 32 KiB blocks; each record a 7-byte header, crc32c (4),
//  length (2, little-endian), type (1), then the payload; fewer than 7
//  bytes left in a block are padding.
static size_t
s_wal_records (const char *file, long *offsets, size_t *lengths, size_t max)
{
    FILE *handle = fopen (file, "rb");
    assert_non_null (handle);
    size_t count = 0;
    long at = 0;
    uint8_t header [7];
    while (count < max) {
        long room = 32768 - at % 32768;
        if (room < 7) {
            at += room;
            continue;
        }
        if (fseek (handle, at, SEEK_SET) || fread (header, 1, 7, handle) != 7
        ||  header [6] == 0)
            break;
        offsets [count] = at;
        lengths [count] = header [4] | (size_t) header [5] << 8;
        at += 7 + (long) lengths [count];
        count++;
    }
    fclose (handle);
    return count;
}

//  Commit keys j00..j19, one synced commit (one WAL record) each, and
//  close the store. Returns the WAL's record count; `first` = the record
//  of j00.
static size_t
s_wal_fill (fixture_t *self, char *file, size_t size, long *offsets,
            size_t *lengths, size_t max, size_t *first)
{
    for (int i = 0; i < S_WAL_COMMITS; i++) {
        char key [8];
        snprintf (key, sizeof key, "j%02d", i);
        s_put (self->store, key, "a job record, long enough to hold a flipped byte");
        assert_int_equal (store_commit (self->store, true), 0);
    }
    store_destroy (&self->store);
    s_wal_file (self, file, size);
    size_t count = s_wal_records (file, offsets, lengths, max);
    assert_true (count >= S_WAL_COMMITS);
    *first = count - S_WAL_COMMITS;
    return count;
}

//  XOR the byte at `offset` of `file` with 0x5a
static void
s_flip_byte (const char *file, long offset)
{
    FILE *handle = fopen (file, "r+b");
    assert_non_null (handle);
    assert_int_equal (fseek (handle, offset, SEEK_SET), 0);
    int byte = fgetc (handle);
    assert_true (byte != EOF);
    assert_int_equal (fseek (handle, offset, SEEK_SET), 0);
    assert_true (fputc (byte ^ 0x5a, handle) != EOF);
    assert_int_equal (fclose (handle), 0);
}

//  Assert that j00..j<present-1> are there and the rest are not
static void
s_assert_commits (store_t *store, int present)
{
    for (int i = 0; i < S_WAL_COMMITS; i++) {
        char key [8];
        snprintf (key, sizeof key, "j%02d", i);
        if (i < present)
            s_assert_value (store, key, "a job record, long enough to hold a flipped byte");
        else
            s_assert_absent (store, key);
    }
}

static void
test_store_refuses_a_wal_damaged_in_the_middle (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char file [512];
    long offsets [64];
    size_t lengths [64], first;
    size_t count = s_wal_fill (self, file, sizeof file, offsets, lengths, 64, &first);
    size_t damaged = first + S_WAL_COMMITS / 2;         //  the record of j10
    s_flip_byte (file, offsets [damaged] + 7 + (long) lengths [damaged] / 2);

    store_t *store = (store_t *) 0x1;
    assert_int_equal (store_open (self->path, true, &store), ASYNC_ESTORE);
    assert_null (store);
    //  Refused again: the refusal changed nothing
    assert_int_equal (store_open (self->path, true, &store), ASYNC_ESTORE);
    long again [64];
    size_t again_lengths [64];
    assert_int_equal (s_wal_records (file, again, again_lengths, 64), count);

    //  --salvage: as it was before the damaged record
    assert_int_equal (store_open_salvage (self->path, true, true, &self->store), 0);
    s_assert_commits (self->store, S_WAL_COMMITS / 2);
    //  and the next open needs no salvage
    store_destroy (&self->store);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    s_assert_commits (self->store, S_WAL_COMMITS / 2);
}

static void
test_store_refuses_a_wal_with_its_last_record_damaged (void **state)
{
    //  A whole last record with a bad checksum may be an acknowledged
    //  write with a flipped bit: refused, not taken for a torn tail
    fixture_t *self = (fixture_t *) *state;
    char file [512];
    long offsets [64];
    size_t lengths [64], first;
    size_t last = s_wal_fill (self, file, sizeof file, offsets, lengths, 64, &first) - 1;
    s_flip_byte (file, offsets [last] + 7 + (long) lengths [last] / 2);
    store_t *store = NULL;
    assert_int_equal (store_open (self->path, true, &store), ASYNC_ESTORE);
    assert_int_equal (store_open_salvage (self->path, true, true, &self->store), 0);
    s_assert_commits (self->store, S_WAL_COMMITS - 1);
}

static void
test_store_refuses_zeroes_followed_by_records (void **state)
{
    //  RocksDB skips a block from a zeroed header on without a word
    fixture_t *self = (fixture_t *) *state;
    char file [512];
    long offsets [64];
    size_t lengths [64], first;
    s_wal_fill (self, file, sizeof file, offsets, lengths, 64, &first);
    size_t damaged = first + 5;
    FILE *handle = fopen (file, "r+b");
    assert_non_null (handle);
    assert_int_equal (fseek (handle, offsets [damaged], SEEK_SET), 0);
    for (size_t i = 0; i < 7 + lengths [damaged]; i++)
        fputc (0, handle);
    assert_int_equal (fclose (handle), 0);
    store_t *store = NULL;
    assert_int_equal (store_open (self->path, true, &store), ASYNC_ESTORE);
    assert_int_equal (store_open_salvage (self->path, true, true, &self->store), 0);
    s_assert_commits (self->store, 5);
}

static void
test_store_tolerates_a_torn_wal_tail (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char file [512];
    long offsets [64];
    size_t lengths [64], first;
    size_t last = s_wal_fill (self, file, sizeof file, offsets, lengths, 64, &first) - 1;
    struct stat info;
    assert_int_equal (stat (file, &info), 0);
    assert_int_equal (info.st_size, offsets [last] + 7 + (long) lengths [last]);
    //  The last record cut short in its payload
    assert_int_equal (truncate (file, offsets [last] + 7 + (long) lengths [last] / 2), 0);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    s_assert_commits (self->store, S_WAL_COMMITS - 1);
}

static void
test_store_tolerates_a_torn_wal_header (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char file [512];
    long offsets [64];
    size_t lengths [64], first;
    size_t last = s_wal_fill (self, file, sizeof file, offsets, lengths, 64, &first) - 1;
    assert_int_equal (truncate (file, offsets [last] + 3), 0);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    s_assert_commits (self->store, S_WAL_COMMITS - 1);
}

static void
test_store_tolerates_zeroes_at_the_wal_end (void **state)
{
    //  What a power loss may leave after the last synced write
    fixture_t *self = (fixture_t *) *state;
    char file [512];
    long offsets [64];
    size_t lengths [64], first;
    size_t last = s_wal_fill (self, file, sizeof file, offsets, lengths, 64, &first) - 1;
    FILE *handle = fopen (file, "r+b");
    assert_non_null (handle);
    assert_int_equal (fseek (handle, offsets [last], SEEK_SET), 0);
    for (size_t i = 0; i < 7 + lengths [last] + 4096; i++)
        fputc (0, handle);
    assert_int_equal (fclose (handle), 0);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    s_assert_commits (self->store, S_WAL_COMMITS - 1);
}

//  S_WAL_COMMITS batches of one 10 KB value each ("b00".. keys, big: the
//  value), the store closed: records split into fragments across 32 KiB
//  blocks. The WAL file's name, its records' offsets and lengths; their
//  count
static size_t
s_wal_fill_big (fixture_t *self, char *big, size_t big_size, char *file, size_t file_size,
                long *offsets, size_t *lengths, size_t max)
{
    memset (big, 'b', big_size - 1);
    big [big_size - 1] = 0;
    for (int i = 0; i < S_WAL_COMMITS; i++) {
        char key [8];
        snprintf (key, sizeof key, "b%02d", i);
        s_put (self->store, key, big);
        assert_int_equal (store_commit (self->store, true), 0);
    }
    store_destroy (&self->store);
    s_wal_file (self, file, file_size);
    return s_wal_records (file, offsets, lengths, max);
}

static void
test_store_checks_wal_records_across_blocks (void **state)
{
    //  Batches of 10 KB: records split into fragments across 32 KiB
    //  blocks, with padding at block ends: a torn one opens (so the
    //  intact ones before it pass the check)
    fixture_t *self = (fixture_t *) *state;
    char big [10000];
    char file [512];
    long offsets [256];
    size_t lengths [256];
    size_t count = s_wal_fill_big (self, big, sizeof big, file, sizeof file, offsets,
                                   lengths, 256);
    assert_true (count > S_WAL_COMMITS);            //  fragments
    //  The last record cut short: tolerated, every batch but the last kept
    assert_int_equal (truncate (file, offsets [count - 1] + 7 + 10), 0);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    for (int i = 0; i < S_WAL_COMMITS - 1; i++) {
        char key [8];
        snprintf (key, sizeof key, "b%02d", i);
        s_assert_value (self->store, key, big);
    }
    s_assert_absent (self->store, "b19");
}

static void
test_store_refuses_a_damaged_fragment (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char big [10000];
    char file [512];
    long offsets [256];
    size_t lengths [256];
    size_t count = s_wal_fill_big (self, big, sizeof big, file, sizeof file, offsets,
                                   lengths, 256);
    size_t damaged = count / 2;
    s_flip_byte (file, offsets [damaged] + 7 + (long) lengths [damaged] / 2);
    store_t *store = NULL;
    assert_int_equal (store_open (self->path, true, &store), ASYNC_ESTORE);
    assert_int_equal (store_open_salvage (self->path, true, true, &self->store), 0);
    s_assert_value (self->store, "b00", big);
    s_assert_absent (self->store, "b19");
}

static void
test_store_salvage_drops_everything_after_a_zeroed_header (void **state)
{
    //  Batches of one put of a 6-byte key and a 100-byte value make
    //  128-byte records: 256 fill the first 32 KiB block exactly, and the
    //  second block starts with a whole record. RocksDB skips the rest of
    //  a block from a zeroed header on, without a word, and replays the
    //  next block: its point-in-time recovery alone would keep k00256...
    //  after a hole. The salvage cuts the log at the damage instead.
    fixture_t *self = (fixture_t *) *state;
    char value [101];
    memset (value, 'v', 100);
    value [100] = 0;
    for (int i = 0; i < 300; i++) {
        char key [8];
        snprintf (key, sizeof key, "k%05d", i);
        s_put (self->store, key, value);
        //  (Not synced: a clean close keeps the WAL all the same)
        assert_int_equal (store_commit (self->store, false), 0);
    }
    store_destroy (&self->store);
    char file [512];
    s_wal_file (self, file, sizeof file);
    long offsets [512];
    size_t lengths [512];
    assert_int_equal (s_wal_records (file, offsets, lengths, 512), 300);
    assert_int_equal (offsets [256], 32768);
    FILE *handle = fopen (file, "r+b");
    assert_non_null (handle);
    assert_int_equal (fseek (handle, offsets [250], SEEK_SET), 0);
    for (int i = 0; i < 7; i++)
        fputc (0, handle);
    assert_int_equal (fclose (handle), 0);

    store_t *store = NULL;
    assert_int_equal (store_open (self->path, true, &store), ASYNC_ESTORE);
    assert_int_equal (store_open_salvage (self->path, true, true, &self->store), 0);
    for (int i = 0; i < 300; i++) {
        char key [8];
        snprintf (key, sizeof key, "k%05d", i);
        if (i < 250)
            s_assert_value (self->store, key, value);
        else
            s_assert_absent (self->store, key);
    }
}

static void
test_store_salvage_of_an_intact_wal_drops_nothing (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char file [512];
    long offsets [64];
    size_t lengths [64], first;
    s_wal_fill (self, file, sizeof file, offsets, lengths, 64, &first);
    assert_int_equal (store_open_salvage (self->path, true, true, &self->store), 0);
    s_assert_commits (self->store, S_WAL_COMMITS);
}

//  ---------------------------------------------------------------------
//  Batches

static void
test_store_get_missing_is_enojob (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char *value = (char *) 0x1;
    size_t size = 77;
    assert_int_equal (store_get (self->store, "jnone", 5, &value, &size), ASYNC_ENOJOB);
}

static void
test_store_batch_invisible_until_commit (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_put (self->store, "ja", "1");
    s_assert_absent (self->store, "ja");
    assert_int_equal (store_commit (self->store, true), 0);
    s_assert_value (self->store, "ja", "1");
    //  An empty commit is fine
    assert_int_equal (store_commit (self->store, true), 0);
    assert_int_equal (store_commit (self->store, false), 0);
}

static void
test_store_batch_rollback (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_put (self->store, "jkeep", "old");
    assert_int_equal (store_commit (self->store, true), 0);

    s_put (self->store, "ja", "1");
    s_put (self->store, "jb", "2");
    s_put (self->store, "jkeep", "new");
    store_delete (self->store, "jkeep", 5);
    assert_int_equal (store_pending (self->store), 4);
    store_rollback (self->store);
    assert_int_equal (store_pending (self->store), 0);
    assert_int_equal (store_commit (self->store, true), 0);
    s_assert_absent (self->store, "ja");
    s_assert_absent (self->store, "jb");
    s_assert_value (self->store, "jkeep", "old");

    //  The store works on after a rollback
    s_put (self->store, "jc", "3");
    assert_int_equal (store_commit (self->store, true), 0);
    s_assert_value (self->store, "jc", "3");
}

static void
test_store_delete (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_put (self->store, "ja", "1");
    s_put (self->store, "jb", "2");
    s_put (self->store, "jc", "3");
    assert_int_equal (store_commit (self->store, true), 0);
    store_delete (self->store, "jb", 2);
    assert_int_equal (store_pending (self->store), 1);
    s_assert_value (self->store, "jb", "2");        //  not yet committed
    assert_int_equal (store_commit (self->store, true), 0);
    s_assert_absent (self->store, "jb");

    char keys [8][64];
    size_t count = s_walk (self->store, "j", 1, keys, 8);
    assert_int_equal (count, 2);
    assert_string_equal (keys [0], "ja");
    assert_string_equal (keys [1], "jc");

    //  Within one batch, the last write to a key wins
    s_put (self->store, "jd", "4");
    store_delete (self->store, "jd", 2);
    store_delete (self->store, "je", 2);
    s_put (self->store, "je", "5");
    assert_int_equal (store_commit (self->store, true), 0);
    s_assert_absent (self->store, "jd");
    s_assert_value (self->store, "je", "5");

    //  Deleting an absent key is no error; deletes survive reopen
    store_delete (self->store, "jnever", 6);
    assert_int_equal (store_commit (self->store, true), 0);
    store_destroy (&self->store);
    assert_int_equal (store_open (self->path, true, &self->store), 0);
    s_assert_absent (self->store, "jb");
    s_assert_value (self->store, "jc", "3");
}

//  A batch is written in key order with one write per key (store.c): the
//  outcome is still that of the writes in the order they were staged,
//  through the writer thread as on the caller's
static void
test_store_batch_written_in_key_order (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    for (int round = 0; round < 2; round++) {
        char key [32], value [32];
        //  Keys staged in descending order; every third one written again,
        //  every fifth deleted after, every seventh deleted then put again
        for (int i = 999; i >= 0; i--) {
            snprintf (key, sizeof key, "k%d-%04d", round, i);
            snprintf (value, sizeof value, "first-%d", i);
            s_put (self->store, key, value);
        }
        for (int i = 0; i < 1000; i++) {
            snprintf (key, sizeof key, "k%d-%04d", round, i);
            if (i % 3 == 0) {
                snprintf (value, sizeof value, "second-%d", i);
                s_put (self->store, key, value);
            }
            if (i % 5 == 0)
                store_delete (self->store, key, strlen (key));
            if (i % 7 == 0) {
                store_delete (self->store, key, strlen (key));
                snprintf (value, sizeof value, "third-%d", i);
                s_put (self->store, key, value);
            }
        }
        assert_int_equal (store_pending (self->store), 1000 + 334 + 200 + 2 * 143);
        if (round == 0)
            assert_int_equal (store_commit (self->store, true), 0);
        else {
            assert_int_equal (store_commit_start (self->store, true), 0);
            assert_int_equal (store_pending (self->store), 0);
            assert_int_equal (store_commit_finish (self->store), 0);
        }
        for (int i = 0; i < 1000; i++) {
            snprintf (key, sizeof key, "k%d-%04d", round, i);
            if (i % 7 == 0)
                snprintf (value, sizeof value, "third-%d", i);
            else
            if (i % 5 == 0) {
                s_assert_absent (self->store, key);
                continue;
            }
            else
            if (i % 3 == 0)
                snprintf (value, sizeof value, "second-%d", i);
            else
                snprintf (value, sizeof value, "first-%d", i);
            s_assert_value (self->store, key, value);
        }
    }
}

//  A fresh put and a delete of the key in one batch cancel out; a put
//  after them, or a fresh put alone, is written
static void
test_store_fresh_put_then_delete (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_put (self->store, "pold", "was-here");
    assert_int_equal (store_commit (self->store, true), 0);
    //  The old version deleted in an earlier batch, then put and deleted
    store_delete (self->store, "pold", 4);
    assert_int_equal (store_commit_start (self->store, true), 0);
    store_put_fresh (self->store, "pold", 4, "new", 3);
    store_delete (self->store, "pold", 4);
    store_put_fresh (self->store, "pgone", 5, "x", 1);
    store_delete (self->store, "pgone", 5);
    store_put_fresh (self->store, "pback", 5, "1", 1);
    store_delete (self->store, "pback", 5);
    s_put (self->store, "pback", "2");
    store_put_fresh (self->store, "pkept", 5, "3", 1);
    assert_int_equal (store_commit (self->store, true), 0);
    s_assert_absent (self->store, "pold");
    s_assert_absent (self->store, "pgone");
    s_assert_value (self->store, "pback", "2");
    s_assert_value (self->store, "pkept", "3");
    //  A delete then a fresh put then a delete in one batch: absent
    store_delete (self->store, "pkept", 5);
    store_put_fresh (self->store, "pkept", 5, "4", 1);
    store_delete (self->store, "pkept", 5);
    assert_int_equal (store_commit (self->store, true), 0);
    s_assert_absent (self->store, "pkept");
}

//  ---------------------------------------------------------------------
//  Iteration

static void
test_store_iter_prefix_in_key_order (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  Written out of order, with neighbours on both sides of the prefix
    const char *keys [] = { "jm", "i9", "ja", "k0", "jz", "j", "jb", "j\x7f",
                            "j\x01", "ka", NULL };
    for (int i = 0; keys [i]; i++)
        s_put (self->store, keys [i], "v");
    assert_int_equal (store_commit (self->store, true), 0);

    //  Bytewise order: 0x01 < 'a' < 'z' < 0x7f
    char seen [16][64];
    size_t count = s_walk (self->store, "j", 1, seen, 16);
    const char *want [] = { "j", "j\x01", "ja", "jb", "jm", "jz", "j\x7f" };
    assert_int_equal (count, 7);
    for (size_t i = 0; i < 7; i++)
        if (strcmp (seen [i], want [i]))
            fail_msg ("key %zu is 'j' + 0x%02x, want 'j' + 0x%02x", i,
                      (unsigned char) seen [i][1], (unsigned char) want [i][1]);

    //  An empty range
    assert_int_equal (s_walk (self->store, "x", 1, seen, 16), 0);
}

static void
test_store_iter_multibyte_prefix_is_exact (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  "p<queue>\0..." for queues "default" and "defaultx"
    const char a1 [] = "pdefault\0\x01";
    const char a2 [] = "pdefault\0\x02";
    const char b1 [] = "pdefaultx\0\x01";
    const char c1 [] = "pdefaul\0\x01";
    store_put (self->store, a2, sizeof a2 - 1, "a2", 2);
    store_put (self->store, b1, sizeof b1 - 1, "b1", 2);
    store_put (self->store, a1, sizeof a1 - 1, "a1", 2);
    store_put (self->store, c1, sizeof c1 - 1, "c1", 2);
    assert_int_equal (store_commit (self->store, true), 0);

    store_iter_t *iter = store_iter_new (self->store, "pdefault\0", 9);
    item_t items [4];
    size_t count = 0;
    while (count < 4 && s_item (iter, &items [count])) {
        count++;
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);

    const char *want [] = { "a1", "a2" };
    assert_int_equal (count, 2);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal (items [i].key_size, 10);
        assert_memory_equal (items [i].key, "pdefault\0", 9);
        assert_int_equal (items [i].value_size, 2);
        assert_memory_equal (items [i].value, want [i], 2);
    }
}

static void
test_store_iter_prefix_ending_in_0xff (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  Binary prefixes (be64 parts of keys) may end in 0xff: the upper
    //  bound must carry instead of wrapping to 0x00
    const char inside [] = "s\x00\xff\x01";
    const char after [] = "s\x01\x00";
    store_put (self->store, inside, 4, "in", 2);
    store_put (self->store, after, 3, "out", 3);
    assert_int_equal (store_commit (self->store, true), 0);
    char seen [4][64];
    size_t count = s_walk (self->store, "s\x00\xff", 3, seen, 4);
    assert_int_equal (count, 1);
    assert_memory_equal (seen [0], inside, 4);
}

static void
test_store_iter_seek_within_prefix (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    const char *keys [] = { "r", "sa", "sb", "sc", "sd", "t", NULL };
    for (int i = 0; keys [i]; i++)
        s_put (self->store, keys [i], keys [i]);
    assert_int_equal (store_commit (self->store, true), 0);

    store_iter_t *iter = store_iter_new (self->store, "s", 1);
    store_iter_seek (iter, "sbb", 3);               //  between sb and sc
    item_t items [4];
    size_t count = 0;
    while (count < 4 && s_item (iter, &items [count])) {
        count++;
        store_iter_next (iter);
    }
    //  Seeking to the prefix itself lands on its first key
    store_iter_seek (iter, "s", 1);
    item_t first;
    bool valid = s_item (iter, &first);
    //  Seeking before the prefix lands outside it: not valid
    store_iter_seek (iter, "r", 1);
    bool outside = store_iter_valid (iter);
    store_iter_destroy (&iter);
    assert_false (outside);

    assert_int_equal (count, 2);                    //  "t" is outside
    assert_int_equal (items [0].key_size, 2);
    assert_memory_equal (items [0].key, "sc", 2);
    assert_memory_equal (items [1].key, "sd", 2);
    assert_true (valid);
    assert_int_equal (first.key_size, 2);
    assert_memory_equal (first.key, "sa", 2);
}

static void
test_store_iter_newest_first (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  Completed jobs by time: c<be64 when><id>, with keys after the range
    const uint64_t whens [] = { 300, 1, 0x01ff, 0xff00, 0xffffffffffull, 77 };
    size_t nwhens = sizeof whens / sizeof whens [0];
    for (size_t i = 0; i < nwhens; i++) {
        uint8_t key [10];
        key [0] = 'c';
        store_put_be64 (key + 1, whens [i]);
        key [9] = 'x';
        store_put (self->store, key, sizeof key, &whens [i], sizeof whens [i]);
    }
    s_put (self->store, "d", "upper bound itself");
    s_put (self->store, "d0", "after");
    s_put (self->store, "b\xff", "before");
    assert_int_equal (store_commit (self->store, true), 0);

    store_iter_t *iter = store_iter_new (self->store, "c", 1);
    store_iter_seek_last (iter);
    item_t items [8];
    size_t count = 0;
    while (count < 8 && s_item (iter, &items [count])) {
        count++;
        store_iter_prev (iter);
    }
    store_iter_destroy (&iter);

    assert_int_equal (count, nwhens);
    uint64_t previous = UINT64_MAX;
    for (size_t i = 0; i < count; i++) {
        assert_int_equal (items [i].key_size, 10);
        assert_int_equal (items [i].key [0], 'c');
        uint64_t when = store_get_be64 ((const uint8_t *) items [i].key + 1);
        if (when >= previous)
            fail_msg ("item %zu (%llu) is not older than the one before (%llu)", i,
                      (unsigned long long) when, (unsigned long long) previous);
        assert_int_equal (items [i].value_size, sizeof (uint64_t));
        uint64_t stored;
        memcpy (&stored, items [i].value, sizeof stored);
        assert_true (stored == when);
        previous = when;
    }
    assert_true (previous == 1);                    //  the oldest came last

    //  An empty prefix range has no last key
    iter = store_iter_new (self->store, "e", 1);
    store_iter_seek_last (iter);
    bool valid = store_iter_valid (iter);
    store_iter_destroy (&iter);
    assert_false (valid);
}

static void
test_store_iter_sees_committed_writes_only (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_put (self->store, "aone", "1");
    assert_int_equal (store_commit (self->store, true), 0);
    s_put (self->store, "atwo", "2");
    char seen [4][64];
    assert_int_equal (s_walk (self->store, "a", 1, seen, 4), 1);
    assert_int_equal (store_commit (self->store, true), 0);
    assert_int_equal (s_walk (self->store, "a", 1, seen, 4), 2);
}

static void
test_store_size_counts_writes (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    uint64_t before = store_size (self->store);
    char value [4096];
    memset (value, 'v', sizeof value);
    for (int i = 0; i < 200; i++) {
        char key [16];
        snprintf (key, sizeof key, "j%05d", i);
        store_put (self->store, key, strlen (key), value, sizeof value);
    }
    assert_int_equal (store_commit (self->store, true), 0);
    assert_true (store_size (self->store) > before);
}

//  ---------------------------------------------------------------------
//  Big-endian helpers

static void
test_store_be64_layout_and_round_trip (void **state)
{
    (void) state;
    uint8_t buf [8];
    store_put_be64 (buf, 0x0102030405060708ull);
    const uint8_t want [8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    assert_memory_equal (buf, want, 8);
    const uint64_t values [] = { 0, 1, 255, 256, 0xff00, 0x8000000000000000ull,
                                 0x7fffffffffffffffull, UINT64_MAX };
    for (size_t i = 0; i < sizeof values / sizeof values [0]; i++) {
        store_put_be64 (buf, values [i]);
        assert_true (store_get_be64 (buf) == values [i]);
    }
}

static int
s_sign (int64_t value)
{
    return (value > 0) - (value < 0);
}

static void
test_store_be64_order_preserving (void **state)
{
    (void) state;
    uint64_t values [200];
    size_t count = 0;
    const uint64_t edges [] = { 0, 1, 2, 255, 256, 257, 0xffff, 0x10000, 0xffffffffull,
                                0x100000000ull, 0x7fffffffffffffffull,
                                0x8000000000000000ull, UINT64_MAX - 1, UINT64_MAX };
    for (size_t i = 0; i < sizeof edges / sizeof edges [0]; i++)
        values [count++] = edges [i];
    uint64_t rng = 0x0123456789abcdefull;
    while (count < 200) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        values [count++] = rng >> (rng % 64);       //  all magnitudes
    }
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < count; j++) {
            uint8_t a [8], b [8];
            store_put_be64 (a, values [i]);
            store_put_be64 (b, values [j]);
            int want = values [i] < values [j] ? -1 : values [i] > values [j];
            if (s_sign (memcmp (a, b, 8)) != want)
                fail_msg ("be64 order of %llu and %llu is wrong",
                          (unsigned long long) values [i],
                          (unsigned long long) values [j]);
        }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
        T (test_store_survives_reopen),
        T (test_store_survives_reopen_without_sync),
        T (test_store_uncommitted_batch_is_lost_on_reopen),
        T (test_store_open_refuses_a_file),
        T (test_store_second_open_of_same_dir_refused),
        T (test_store_big_record_stays_cached),
        T (test_store_refuses_a_wal_damaged_in_the_middle),
        T (test_store_refuses_a_wal_with_its_last_record_damaged),
        T (test_store_refuses_zeroes_followed_by_records),
        T (test_store_tolerates_a_torn_wal_tail),
        T (test_store_tolerates_a_torn_wal_header),
        T (test_store_tolerates_zeroes_at_the_wal_end),
        T (test_store_checks_wal_records_across_blocks),
        T (test_store_refuses_a_damaged_fragment),
        T (test_store_salvage_drops_everything_after_a_zeroed_header),
        T (test_store_salvage_of_an_intact_wal_drops_nothing),
        T (test_store_get_missing_is_enojob),
        T (test_store_batch_invisible_until_commit),
        T (test_store_batch_rollback),
        T (test_store_delete),
        T (test_store_batch_written_in_key_order),
        T (test_store_fresh_put_then_delete),
        T (test_store_iter_prefix_in_key_order),
        T (test_store_iter_multibyte_prefix_is_exact),
        T (test_store_iter_prefix_ending_in_0xff),
        T (test_store_iter_seek_within_prefix),
        T (test_store_iter_newest_first),
        T (test_store_iter_sees_committed_writes_only),
        T (test_store_size_counts_writes),
        cmocka_unit_test (test_store_be64_layout_and_round_trip),
        cmocka_unit_test (test_store_be64_order_preserving),
#undef T
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
