/*  =========================================================================
    jobcache - the broker's cache of jobs: every job being changed lives
    here until its record is written (its j key), and the jobs on nodes,
    the running parents and the jobs waiting for a hand-off stay here while
    they run (queueing_evict decides which go after a write)

    The object owns the cached jobs, by id, and reads the records it
    lacks from the store (which it does not own). What is staged for the
    next write is the commit's (commit.h): broker_job_load and
    broker_job_save tell it. A lookup is one async_idmap lookup (the
    broker's hot path). One thread (the broker's) owns it.
    =========================================================================
*/
#ifndef BROKER_JOBCACHE_H_INCLUDED
#define BROKER_JOBCACHE_H_INCLUDED

#include "async_job.h"
#include "store.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct _jobcache_t jobcache_t;

//  An empty cache over `store`, which must outlive it. Caller destroys
//  the object with jobcache_destroy
jobcache_t *jobcache_new (store_t *store);

//  Destroy the cache and the jobs in it, and set *self_p to NULL. Safe to
//  call again
void jobcache_destroy (jobcache_t **self_p);

//  The cached job `id`, or NULL (the store is not read)
async_job_t *jobcache_lookup (jobcache_t *self, const char *id);

//  The job `id` from the cache, else read from the store into the cache
//  (then *loaded is true: the caller tells the commit); NULL if in neither
//  or its record is malformed. The cache owns it
async_job_t *jobcache_load (jobcache_t *self, const char *id, bool *loaded);

//  A copy of job `id`, from the cache, else the store, for inspection:
//  the caller's to destroy; NULL if in neither
async_job_t *jobcache_read (jobcache_t *self, const char *id);

//  Take `job` into the cache if no job of its id is there: true when it
//  took it (a new job, the cache's from now on), false when one is there
//  already
bool jobcache_put (jobcache_t *self, async_job_t *job);

//  Destroy cached job `id`, if cached (`id` may be the job's own)
void jobcache_delete (jobcache_t *self, const char *id);

//  How many jobs are cached
size_t jobcache_size (jobcache_t *self);

//  The first cached job, in no order, or NULL; with jobcache_next, walks
//  them all. Nothing may be put or deleted meanwhile
async_job_t *jobcache_first (jobcache_t *self);

//  The next cached job, or NULL after the last
async_job_t *jobcache_next (jobcache_t *self);

#endif
