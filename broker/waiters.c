/*  =========================================================================
    waiters - the clients waiting for jobs' outcomes (waiters.h)
    =========================================================================
*/
#include "waiters.h"
#include "async_msgs.h"
#include "async_alloc.h"
#include "async_idmap.h"
#include "async_proto.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include <assert.h>

//  A peer with waits
typedef struct {
    zframe_t *routing;
    char *rkey;
    zlistx_t *waits;            //  s_waiter_t *, owned
    int64_t probed;             //  monotonic us: when it was last probed
} s_peer_t;

//  A peer waiting for a job's outcome. A brief waiter (SUBMIT with `brief`:
//  a batch of jobs) gets the job as {id, status, failure}, in one JOB with
//  `jobs` per loop turn, and no PROGRESS
typedef struct {
    s_peer_t *peer;
    void *peer_handle;          //  in peer->waits
    void *job_handle;           //  in the job's list of waiters
    bool brief;
    char id [ASYNC_ID_LEN];
} s_waiter_t;

//  The brief JOBs of this turn for one peer
typedef struct {
    zframe_t *routing;
    msgpack_sbuffer jobs;       //  packed brief jobs
    uint32_t count;
} s_push_t;

struct _waiters_t {
    waiters_calls_t calls;
    size_t peer_waits;          //  budgets: waits per peer
    size_t waits_max;           //  ... and in all
    async_idmap_t *waiters;     //  job id -> zlistx of s_waiter_t (not owned)
    zhashx_t *peers;            //  rkey -> s_peer_t: the peers with waits (not owned)
    zlistx_t *peer_ring;        //  s_peer_t *: those peers, probed least recently first
    zlistx_t *peers_gone;       //  s_peer_t *: gone, their waits being freed
    size_t nwaiters;            //  waits over all peers
    zhashx_t *pushes;           //  rkey -> s_push_t: brief JOBs of this turn
    async_idmap_t *progress_sent;   //  job id -> int64_t *: last PROGRESS (monotonic us)
};

static void
s_waiter_destroy (s_waiter_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

static void
s_peer_destroy (s_peer_t **self_p)
{
    s_peer_t *self = *self_p;
    if (self) {
        zframe_destroy (&self->routing);
        free (self->rkey);
        zlistx_destroy (&self->waits);
        free (self);
        *self_p = NULL;
    }
}

static void
s_push_destroy (s_push_t **self_p)
{
    if (*self_p) {
        zframe_destroy (&(*self_p)->routing);
        msgpack_sbuffer_destroy (&(*self_p)->jobs);
        free (*self_p);
        *self_p = NULL;
    }
}

waiters_t *
waiters_new (const waiters_calls_t *calls)
{
    assert (calls && calls->send && calls->deliver);
    waiters_t *self = (waiters_t *) async_xcalloc (1, sizeof (waiters_t));
    self->calls = *calls;
    self->peer_waits = WAITERS_PEER_WAITS;
    self->waits_max = WAITERS_MAX;
    self->waiters = async_idmap_new ();
    async_idmap_set_destructor (self->waiters, (async_idmap_destructor_fn *) zlistx_destroy);
    self->progress_sent = async_idmap_new ();
    async_idmap_set_destructor (self->progress_sent, (async_idmap_destructor_fn *) zstr_free);
    self->peers = zhashx_new ();
    self->peer_ring = zlistx_new ();
    zlistx_set_destructor (self->peer_ring, (zlistx_destructor_fn *) s_peer_destroy);
    self->peers_gone = zlistx_new ();
    zlistx_set_destructor (self->peers_gone, (zlistx_destructor_fn *) s_peer_destroy);
    self->pushes = zhashx_new ();
    zhashx_set_destructor (self->pushes, (zhashx_destructor_fn *) s_push_destroy);
    return self;
}

void
waiters_destroy (waiters_t **self_p)
{
    waiters_t *self = *self_p;
    if (!self)
        return;
    //  The job lists first: their waits are owned by the peers
    async_idmap_destroy (&self->waiters);
    zhashx_destroy (&self->peers);
    zlistx_destroy (&self->peer_ring);
    zlistx_destroy (&self->peers_gone);
    zhashx_destroy (&self->pushes);
    async_idmap_destroy (&self->progress_sent);
    free (self);
    *self_p = NULL;
}

void
waiters_set_budgets (waiters_t *self, size_t peer_waits, size_t waits_max)
{
    self->peer_waits = peer_waits;
    self->waits_max = waits_max;
}

//  Forget the waits for job `id`
void
waiters_forget (waiters_t *self, const char *id)
{
    zlistx_t *waiting = (zlistx_t *) async_idmap_lookup (self->waiters, id);
    if (!waiting)
        return;
    s_waiter_t *waiter;
    while ((waiter = (s_waiter_t *) zlistx_detach (waiting, NULL))) {
        zlistx_delete (waiter->peer->waits, waiter->peer_handle);
        self->nwaiters--;
    }
    char copy [ASYNC_ID_LEN];
    snprintf (copy, sizeof copy, "%s", id);
    async_idmap_delete (self->waiters, copy);
    async_idmap_delete (self->progress_sent, copy);
}

//  Forget one wait
static void
s_waiter_forget (waiters_t *self, s_waiter_t *waiter)
{
    zlistx_t *waiting = (zlistx_t *) async_idmap_lookup (self->waiters, waiter->id);
    assert (waiting);
    zlistx_delete (waiting, waiter->job_handle);
    if (zlistx_size (waiting) == 0) {
        async_idmap_delete (self->waiters, waiter->id);
        async_idmap_delete (self->progress_sent, waiter->id);
    }
    zlistx_delete (waiter->peer->waits, waiter->peer_handle);
    self->nwaiters--;
}

int
waiters_room (waiters_t *self, zframe_t *routing, char *err, size_t err_size)
{
    char *rkey = zframe_strhex (routing);
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, rkey);
    free (rkey);
    if (peer && zlistx_size (peer->waits) >= self->peer_waits) {
        snprintf (err, err_size, "this client waits for %zu jobs already (at most %zu "
                  "waits per connection); wait for fewer at once", self->peer_waits,
                  self->peer_waits);
        return -1;
    }
    if (self->nwaiters >= self->waits_max) {
        snprintf (err, err_size, "the broker holds %zu waits already (at most %zu from all "
                  "clients); try again later", self->waits_max, self->waits_max);
        return -1;
    }
    return 0;
}

bool
waiters_check (waiters_t *self, int64_t mono)
{
    bool more = false;
    int probes = 0;
    s_peer_t *peer;
    while ((peer = (s_peer_t *) zlistx_first (self->peer_ring))
       &&  mono - peer->probed >= WAITERS_PROBE_US) {
        if (++probes > WAITERS_PROBES_TURN) {
            more = true;
            break;
        }
        zlistx_detach (self->peer_ring, NULL);
        if (zlistx_size (peer->waits) == 0) {
            zhashx_delete (self->peers, peer->rkey);
            s_peer_destroy (&peer);
            continue;
        }
        async_msg_t msg;
        async_empty_encode (&msg, ASYNC_S_PING, 0);
        if (self->calls.send (self->calls.arg, peer->routing, &msg) == EHOSTUNREACH) {
            zhashx_delete (self->peers, peer->rkey);
            zlistx_add_end (self->peers_gone, peer);
            continue;
        }
        peer->probed = mono;
        zlistx_add_end (self->peer_ring, peer);
    }
    size_t freed = 0;
    while ((peer = (s_peer_t *) zlistx_first (self->peers_gone))) {
        s_waiter_t *waiter;
        while (freed < WAITERS_FREE_TURN
           &&  (waiter = (s_waiter_t *) zlistx_first (peer->waits))) {
            s_waiter_forget (self, waiter);
            freed++;
        }
        if (zlistx_size (peer->waits)) {
            more = true;
            break;
        }
        async_log_debug ("broker", "peer.gone", "peer=%s reason=\"its connection closed; "
                        "its waits were freed\"", peer->rkey);
        zlistx_detach (self->peers_gone, NULL);
        s_peer_destroy (&peer);
    }
    return more;
}

void
waiters_notify (waiters_t *self, async_job_t *job)
{
    zlistx_t *waiting = (zlistx_t *) async_idmap_lookup (self->waiters, job->id);
    if (!waiting)
        return;
    s_waiter_t *waiter = (s_waiter_t *) zlistx_first (waiting);
    while (waiter) {
        self->calls.deliver (self->calls.arg, waiter->peer->routing, waiter->brief, job);
        waiter = (s_waiter_t *) zlistx_next (waiting);
    }
    waiters_forget (self, job->id);
}

void
waiters_progress (waiters_t *self, const char *id, int64_t done, int64_t total,
                  int64_t mono)
{
    zlistx_t *waiting = (zlistx_t *) async_idmap_lookup (self->waiters, id);
    if (!waiting)
        return;
    //  At most one every WAITERS_PROGRESS_US per job (a bar needs no more;
    //  a parallel job of 1,000 children would send 1,000), and the last one
    int64_t *sent = (int64_t *) async_idmap_lookup (self->progress_sent, id);
    if (sent && mono - *sent < WAITERS_PROGRESS_US && done < total)
        return;
    if (!sent) {
        sent = (int64_t *) async_xmalloc (sizeof (int64_t));
        async_idmap_insert (self->progress_sent, id, sent);
    }
    *sent = mono;
    s_waiter_t *waiter = (s_waiter_t *) zlistx_first (waiting);
    while (waiter) {
        if (!waiter->brief) {
            async_job_progress_t progress = { .done = done, .total = total };
            memcpy (progress.id, id, ASYNC_ID_LEN);
            async_msg_t msg;
            async_job_progress_encode (&msg, ASYNC_S_PROGRESS, 0, &progress);
            self->calls.send (self->calls.arg, waiter->peer->routing, &msg);
        }
        waiter = (s_waiter_t *) zlistx_next (waiting);
    }
}

int
waiters_add (waiters_t *self, zframe_t *routing, const char *id, bool brief, char *err,
             size_t err_size)
{
    char *rkey = zframe_strhex (routing);
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, rkey);
    //  Mostly one peer per job: a list (a hash table per job was 2 KiB)
    zlistx_t *waiting = (zlistx_t *) async_idmap_lookup (self->waiters, id);
    s_waiter_t *known = waiting && peer ? (s_waiter_t *) zlistx_first (waiting) : NULL;
    while (known && known->peer != peer)
        known = (s_waiter_t *) zlistx_next (waiting);
    if (known) {
        known->brief &= brief;  //  a full waiter wins
        free (rkey);
        return 0;
    }
    if (waiters_room (self, routing, err, err_size)) {
        free (rkey);
        return -1;
    }
    if (!peer) {
        peer = (s_peer_t *) async_xcalloc (1, sizeof (s_peer_t));
        peer->routing = zframe_dup (routing);
        peer->rkey = rkey;
        rkey = NULL;
        peer->waits = zlistx_new ();
        zlistx_set_destructor (peer->waits, (zlistx_destructor_fn *) s_waiter_destroy);
        peer->probed = async_mono_us ();
        zhashx_insert (self->peers, peer->rkey, peer);
        zlistx_add_end (self->peer_ring, peer);
    }
    free (rkey);
    if (!waiting) {
        waiting = zlistx_new ();
        async_idmap_insert (self->waiters, id, waiting);
    }
    s_waiter_t *waiter = (s_waiter_t *) async_xcalloc (1, sizeof (s_waiter_t));
    waiter->peer = peer;
    waiter->brief = brief;
    snprintf (waiter->id, sizeof waiter->id, "%s", id);
    waiter->job_handle = zlistx_add_end (waiting, waiter);
    waiter->peer_handle = zlistx_add_end (peer->waits, waiter);
    self->nwaiters++;
    return 0;
}

void
waiters_pack_brief (msgpack_packer *pk, async_job_t *job)
{
    async_job_brief_t brief = { .status = job->status,
                                .failure = { .data = job->failure.data,
                                             .size = job->failure.size } };
    memcpy (brief.id, job->id, ASYNC_ID_LEN);
    async_job_brief_pack_to (pk, &brief);
}

void
waiters_push_brief (waiters_t *self, zframe_t *routing, async_job_t *job)
{
    char *rkey = zframe_strhex (routing);
    s_push_t *push = (s_push_t *) zhashx_lookup (self->pushes, rkey);
    if (!push) {
        push = (s_push_t *) async_xcalloc (1, sizeof (s_push_t));
        push->routing = zframe_dup (routing);
        msgpack_sbuffer_init (&push->jobs);
        zhashx_insert (self->pushes, rkey, push);
    }
    free (rkey);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &push->jobs, async_sbuffer_write);
    waiters_pack_brief (&pk, job);
    push->count++;
}

void
waiters_flush (waiters_t *self)
{
    s_push_t *push = (s_push_t *) zhashx_first (self->pushes);
    while (push) {
        async_msg_t msg;
        async_job_briefs_t briefs = { .jobs = async_part_items (push->count, &push->jobs) };
        async_job_briefs_encode (&msg, ASYNC_S_JOB, 0, &briefs);
        self->calls.send (self->calls.arg, push->routing, &msg);
        push = (s_push_t *) zhashx_next (self->pushes);
    }
    zhashx_purge (self->pushes);
}

size_t
waiters_size (waiters_t *self)
{
    return self->nwaiters;
}

size_t
waiters_peers (waiters_t *self)
{
    return zlistx_size (self->peer_ring) + zlistx_size (self->peers_gone);
}
