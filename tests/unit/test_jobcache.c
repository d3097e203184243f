/*  =========================================================================
    test_jobcache - the broker's cache of jobs over its store
    (broker/jobcache.c)

    Each test gets a fresh store in a temp dir (fixture.h).
    =========================================================================
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fixture_store.h"
#include "jobcache.h"
#include "keys.h"

typedef struct {
    fixture_store_t base;  //  the store in its temp dir
    store_t *store;        //  base.store
    jobcache_t *cache;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *self = calloc (1, sizeof (fixture_t));
    if (!self || fixture_store_open (&self->base, "jobcache")) {
        free (self);
        return -1;
    }
    self->store = self->base.store;
    self->cache = jobcache_new (self->store);
    *state = self;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    jobcache_destroy (&self->cache);
    assert_null (self->cache);
    jobcache_destroy (&self->cache);  //  safe again
    int rc = fixture_store_close (&self->base);
    free (self);
    return rc;
}

//  A job of task `task`, written to the store as its j key (not cached);
//  its id into id
static void
s_store_job (fixture_t *self, const char *task, char *id)
{
    async_job_t *job = async_job_new ();
    assert_non_null (job);
    async_job_set_str (&job->task, task);
    memcpy (id, job->id, ASYNC_ID_LEN);
    uint8_t *data;
    size_t size;
    assert_int_equal (async_job_encode (job, &data, &size), 0);
    char key [KEYS_ID_SIZE];
    store_put (self->store, key, keys_id (key, KEYS_JOB, id), data, size);
    assert_int_equal (store_commit (self->store, true), 0);
    free (data);
    async_job_destroy (&job);
}

//  A job in the store is read into the cache once: loaded says so the
//  first time only, and the same job comes back; a lookup finds it then,
//  not before
static void
test_jobcache_load_reads_the_store_once (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char id [ASYNC_ID_LEN];
    s_store_job (self, "t.stored", id);
    assert_null (jobcache_lookup (self->cache, id));

    bool loaded = false;
    async_job_t *job = jobcache_load (self->cache, id, &loaded);
    assert_non_null (job);
    assert_true (loaded);
    assert_string_equal (job->task, "t.stored");
    assert_ptr_equal (jobcache_lookup (self->cache, id), job);
    assert_ptr_equal (jobcache_load (self->cache, id, &loaded), job);
    assert_false (loaded);
    assert_int_equal (jobcache_size (self->cache), 1);
}

//  A job in neither the cache nor the store is NULL, and not loaded
static void
test_jobcache_load_of_an_unknown_job_is_null (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    bool loaded = true;
    const char *id = "00000000-0000-4000-8000-000000000000";
    assert_null (jobcache_load (self->cache, id, &loaded));
    assert_false (loaded);
    assert_null (jobcache_read (self->cache, id));
    assert_int_equal (jobcache_size (self->cache), 0);
}

//  jobcache_read gives a copy: of the cached job when there is one (its
//  changes not yet written), else of the record; it caches nothing
static void
test_jobcache_read_copies_the_cached_else_the_stored (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char id [ASYNC_ID_LEN];
    s_store_job (self, "t.stored", id);
    async_job_t *copy = jobcache_read (self->cache, id);
    assert_non_null (copy);
    assert_string_equal (copy->task, "t.stored");
    async_job_destroy (&copy);
    assert_int_equal (jobcache_size (self->cache), 0);

    bool loaded;
    async_job_t *job = jobcache_load (self->cache, id, &loaded);
    async_job_set_str (&job->task, "t.changed");
    copy = jobcache_read (self->cache, id);
    assert_non_null (copy);
    assert_ptr_not_equal (copy, job);
    assert_string_equal (copy->task, "t.changed");
    async_job_destroy (&copy);
}

//  A new job is taken once (true), then the cache has one of its id
//  (false) and owns it; a delete, also by the job's own id, destroys it
static void
test_jobcache_put_takes_a_new_job_once (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    async_job_t *job = async_job_new ();
    assert_true (jobcache_put (self->cache, job));
    assert_false (jobcache_put (self->cache, job));
    assert_ptr_equal (jobcache_lookup (self->cache, job->id), job);
    char id [ASYNC_ID_LEN];
    memcpy (id, job->id, ASYNC_ID_LEN);
    char longer [ASYNC_ID_LEN + 4];
    snprintf (longer, sizeof longer, "%s-x", id);
    jobcache_delete (self->cache, longer);  //  not its id: it stays
    assert_ptr_equal (jobcache_lookup (self->cache, id), job);
    jobcache_delete (self->cache, job->id);  //  destroys job (ASan: no use after)
    assert_null (jobcache_lookup (self->cache, id));
    assert_int_equal (jobcache_size (self->cache), 0);
    jobcache_delete (self->cache, id);  //  not cached: nothing
}

//  first/next walk every cached job once
static void
test_jobcache_walks_every_job (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    async_job_t *jobs [3];
    for (int i = 0; i < 3; i++) {
        jobs [i] = async_job_new ();
        assert_true (jobcache_put (self->cache, jobs [i]));
    }
    int seen [3] = { 0 };
    for (async_job_t *job = jobcache_first (self->cache); job;
         job = jobcache_next (self->cache))
        for (int i = 0; i < 3; i++)
            if (job == jobs [i])
                seen [i]++;
    for (int i = 0; i < 3; i++)
        assert_int_equal (seen [i], 1);
    assert_int_equal (jobcache_size (self->cache), 3);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_jobcache_load_reads_the_store_once, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_jobcache_load_of_an_unknown_job_is_null, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_jobcache_read_copies_the_cached_else_the_stored,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_jobcache_put_takes_a_new_job_once, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_jobcache_walks_every_job, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
