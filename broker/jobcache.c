/*  =========================================================================
    jobcache - the broker's cache of jobs (jobcache.h)
    =========================================================================
*/
#include "jobcache.h"
#include "keys.h"
#include "async_alloc.h"
#include "async_idmap.h"
#include <string.h>

struct _jobcache_t {
    async_idmap_t *jobs;  //  id -> async_job_t
    store_t *store;       //  not owned
};

jobcache_t *
jobcache_new (store_t *store)
{
    jobcache_t *self = (jobcache_t *) async_xcalloc (1, sizeof (jobcache_t));
    self->jobs = async_idmap_new ();
    assert (self->jobs);
    async_idmap_set_destructor (self->jobs, (async_idmap_destructor_fn *) async_job_destroy);
    self->store = store;
    return self;
}

void
jobcache_destroy (jobcache_t **self_p)
{
    jobcache_t *self = *self_p;
    if (self) {
        async_idmap_destroy (&self->jobs);
        free (self);
        *self_p = NULL;
    }
}

async_job_t *
jobcache_lookup (jobcache_t *self, const char *id)
{
    return (async_job_t *) async_idmap_lookup (self->jobs, id);
}

static void
s_decode (void *arg, const char *value, size_t size)
{
    *(async_job_t **) arg = async_job_decode (value, size);
}

//  The job's record from the store, decoded; NULL if none
static async_job_t *
s_read_stored (jobcache_t *self, const char *id)
{
    char key [KEYS_ID_SIZE];
    async_job_t *job = NULL;
    store_read (self->store, key, keys_id (key, KEYS_JOB, id), s_decode, &job);
    return job;
}

async_job_t *
jobcache_load (jobcache_t *self, const char *id, bool *loaded)
{
    *loaded = false;
    async_job_t *job = (async_job_t *) async_idmap_lookup (self->jobs, id);
    if (job)
        return job;
    job = s_read_stored (self, id);
    if (job) {
        async_idmap_insert (self->jobs, job->id, job);
        *loaded = true;
    }
    return job;
}

async_job_t *
jobcache_read (jobcache_t *self, const char *id)
{
    async_job_t *job = (async_job_t *) async_idmap_lookup (self->jobs, id);
    if (!job)
        return s_read_stored (self, id);
    uint8_t *data;
    size_t size;
    if (async_job_encode (job, &data, &size))
        return NULL;
    async_job_t *copy = async_job_decode (data, size);
    free (data);
    return copy;
}

bool
jobcache_put (jobcache_t *self, async_job_t *job)
{
    if (async_idmap_lookup (self->jobs, job->id))
        return false;
    async_idmap_insert (self->jobs, job->id, job);
    return true;
}

void
jobcache_delete (jobcache_t *self, const char *id)
{
    //  A copy: `id` may be the job's own, which goes with it
    char key [ASYNC_IDMAP_KEY_MAX + 1];
    size_t size = strnlen (id, sizeof key);
    if (size == sizeof key)
        return;  //  longer than any key of the map
    memcpy (key, id, size + 1);
    async_idmap_delete (self->jobs, key);
}

size_t
jobcache_size (jobcache_t *self)
{
    return async_idmap_size (self->jobs);
}

async_job_t *
jobcache_first (jobcache_t *self)
{
    return (async_job_t *) async_idmap_first (self->jobs);
}

async_job_t *
jobcache_next (jobcache_t *self)
{
    return (async_job_t *) async_idmap_next (self->jobs);
}
