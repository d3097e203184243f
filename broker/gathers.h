/*  =========================================================================
    gathers - the summaries of a parent's children, kept as each child
    completes, for the parent's postprocess: without them each child would
    be read back from the store (evicted from the cache since it completed)

    A cache in memory, within a byte budget for all parents: past it, or
    after a restart, or for want of memory, a summary is not kept and the
    postprocess reads the children it lacks. The object owns the
    summaries, nothing else; the broker packs them (the callback) and
    drops a parent's once its postprocess is made or it ended without one.
    One thread (the broker's) owns it.
    =========================================================================
*/
#ifndef BROKER_GATHERS_H_INCLUDED
#define BROKER_GATHERS_H_INCLUDED

#include "async_job.h"
#include <msgpack.h>
#include <stddef.h>

//  The broker's budget: the bytes of summaries held in all parents
#define GATHERS_BYTES_MAX (32 * 1024 * 1024)

typedef struct _gathers_t gathers_t;

//  Packs the summary of a child (`arg`) as one msgpack value
typedef void (gathers_pack_fn) (msgpack_packer *pk, void *arg);

//  Nothing gathered yet; at most `budget` bytes of summaries will be.
//  Caller destroys the object with gathers_destroy
gathers_t *gathers_new (size_t budget);

//  Destroy the object and its summaries, and set *self_p to NULL. Safe to
//  call again
void gathers_destroy (gathers_t **self_p);

//  Child `index` of the `count` children of parent `parent_id` completed:
//  keep its summary, packed by `pack` (`arg`), unless the budget is spent,
//  `index` is out of range, memory is short, the parent's summaries were
//  made for another count, or that child's is kept already (then `pack`
//  is not called)
void gathers_add (gathers_t *self, const char *parent_id, size_t count, size_t index,
                  gathers_pack_fn *pack, void *arg);

//  The summaries of the `count` children of parent `parent_id`, by child
//  index (a blob of size 0: not kept), or NULL when none is kept for that
//  count. Valid until the next gathers_add or gathers_drop
const async_blob_t *gathers_summaries (gathers_t *self, const char *parent_id, size_t count);

//  Forget the summaries of parent `parent_id`, if any (cheap when no
//  parent has any)
void gathers_drop (gathers_t *self, const char *parent_id);

//  The bytes of summaries held, for all parents
size_t gathers_bytes (gathers_t *self);

#endif
