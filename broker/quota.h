/*  =========================================================================
    quota - the broker's cluster quotas: each lets at most `size` of the
    jobs naming it be assigned or active at once, across all nodes
    (docs/protocol.md, QUOTA-SET)

    The table lives in memory; the broker writes each quota's size to its
    store (q keys) and counts the jobs on nodes back after a restart.
    =========================================================================
*/
#ifndef BROKER_QUOTA_H_INCLUDED
#define BROKER_QUOTA_H_INCLUDED

#include "async_job.h"
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The largest size of a quota
#define QUOTA_SIZE_MAX 1000000000

typedef struct _quota_t quota_t;

//  An empty table. Caller destroys it with quota_destroy
quota_t *
    quota_new (void);

void
    quota_destroy (quota_t **self_p);

//  Create quota `name` or change its size (1..QUOTA_SIZE_MAX); a smaller
//  size stops no running job. True when it made the quota (it counts no
//  job yet: quota_count_one the jobs on nodes that name it)
bool
    quota_set (quota_t *self, const char *name, int64_t size);

//  Remove quota `name`: its pending jobs then run without it. 0, or -1
//  when there is none
int
    quota_delete (quota_t *self, const char *name);

//  A job naming `quotas` (its msgpack array of names) took a slot (+1) or
//  gave one back (-1)
void
    quota_count (quota_t *self, const async_blob_t *quotas, int delta);

//  If a job's `quotas` name quota `name`, count it (+1 or -1) in that
//  quota alone
void
    quota_count_one (quota_t *self, const async_blob_t *quotas, const char *name,
                     int delta);

//  Whether a lane of jobs naming the quotas "a,b" (NULL: none) may have
//  one more on a node
bool
    quota_allows (quota_t *self, const char *quotas);

//  Every quota a job names exists: 0, or -1 with a one-line reason in err
int
    quota_check (quota_t *self, const async_blob_t *quotas, char *err, size_t err_size);

//  "a,b": the names a job's quotas (its msgpack array), for its dispatch
//  lane; NULL when it names none. Caller frees
char *
    quota_lane (const async_blob_t *quotas);

//  The QUOTAS list: an array of {name, size, running}
void
    quota_pack_list (quota_t *self, msgpack_packer *pk);

#endif
