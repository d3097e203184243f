/*  =========================================================================
    nodes - the broker's node sessions: the live ones and what they cost,
    those found dead and not dropped yet, the nodes declared dead that
    NODES still lists, the nodes known (u keys) and those awaited after a
    restart, the ACKs held for an ASSIGN to ride on; and the broker's
    handling of them (HELLO, dropping a session, releasing replies)
    =========================================================================
*/
#include "nodes.h"
#include "broker_impl.h"
#include "queueing.h"
#include "async_alloc.h"
#include "keys.h"
#include "lifecycle.h"
#include "token.h"
#include "async_codec.h"
#include "async_msgs.h"
#include "async_idmap.h"
#include "async_job.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <czmq.h>
#include <sodium.h>

//  A node declared dead, listed as such for a while: its last NODES entry
typedef struct {
    int64_t when;               //  monotonic us
    uint8_t *data;              //  one packed node map
    size_t size;
} s_dead_node_t;

//  A session that began holding ACKs at `since`. The entry is stale once
//  they went (riding on an ASSIGN) or a later hold began: that one has an
//  entry of its own further down the list
typedef struct {
    int64_t since;
    char rkey [];
} s_holder_t;

struct _nodes_t {
    store_t *store;             //  for the u keys (not owned)
    zhashx_t *sessions;         //  rkey -> session_t
    zlistx_t *dying;            //  rkeys of sessions found dead, to drop (nodes_dying_drop)
    size_t session_bytes;       //  what they cost: the sum of their `cost`
    int64_t full_logged;        //  monotonic us: the last sessions.full line
    uint64_t full_refused;      //  HELLOs refused for the budgets since then
    zlistx_t *ack_holders;      //  s_holder_t *: sessions holding ACKs, oldest first
    zhashx_t *nodes;            //  uuid -> session_t (not owned)
    zhashx_t *known;            //  uuid -> itself: nodes with a session (u keys)
    zhashx_t *awaited;          //  uuid -> itself: known before this start, not back
    int64_t awaited_until;      //  monotonic us: dispatch waits for them until then
    zhashx_t *dead_nodes;       //  uuid -> s_dead_node_t: died recently
    int64_t key_window;         //  monotonic us: this second of HELLOs refused
    uint32_t key_lines;         //  for a uuid's key, logged one by one in it
    uint64_t key_quiet;         //  ... and past the limit: counted
    int64_t disk_hello_logged;  //  monotonic us: the last node.refused for it
    uint64_t disk_hello_refused;    //  first HELLOs refused for it since then
};

//  A zlistx/zhashx destructor of plain allocations
static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_dead_node_destroy (s_dead_node_t **self_p)
{
    s_dead_node_t *self = *self_p;
    if (self) {
        free (self->data);
        free (self);
        *self_p = NULL;
    }
}

nodes_t *
nodes_new (store_t *store)
{
    nodes_t *self = (nodes_t *) async_xcalloc (1, sizeof (nodes_t));
    self->store = store;
    self->sessions = zhashx_new ();
    zhashx_set_destructor (self->sessions, (zhashx_destructor_fn *) session_destroy);
    self->nodes = zhashx_new ();
    self->known = zhashx_new ();
    self->awaited = zhashx_new ();
    self->ack_holders = zlistx_new ();
    zlistx_set_destructor (self->ack_holders, s_free_item);
    self->dying = zlistx_new ();
    zlistx_set_destructor (self->dying, (zlistx_destructor_fn *) zstr_free);
    self->dead_nodes = zhashx_new ();
    zhashx_set_destructor (self->dead_nodes, (zhashx_destructor_fn *) s_dead_node_destroy);
    return self;
}

void
nodes_destroy (nodes_t **self_p)
{
    nodes_t *self = *self_p;
    if (!self)
        return;
    //  The uuid map first: it points into the sessions
    zhashx_destroy (&self->nodes);
    zhashx_destroy (&self->sessions);
    zhashx_destroy (&self->known);
    zhashx_destroy (&self->awaited);
    zlistx_destroy (&self->dying);
    zlistx_destroy (&self->ack_holders);
    zhashx_destroy (&self->dead_nodes);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  The sessions

session_t *
nodes_session (nodes_t *self, const char *rkey)
{
    return (session_t *) zhashx_lookup (self->sessions, rkey);
}

session_t *
nodes_node (nodes_t *self, const char *uuid)
{
    return (session_t *) zhashx_lookup (self->nodes, uuid);
}

size_t
nodes_size (nodes_t *self)
{
    return zhashx_size (self->sessions);
}

size_t
nodes_bytes (nodes_t *self)
{
    return self->session_bytes;
}

void
nodes_insert (nodes_t *self, session_t *session)
{
    zhashx_insert (self->sessions, session->rkey, session);
    self->session_bytes += session->cost;
    zhashx_insert (self->nodes, session->uuid, session);
}

void
nodes_remove (nodes_t *self, session_t *session)
{
    if (zhashx_lookup (self->nodes, session->uuid) == session)
        zhashx_delete (self->nodes, session->uuid);
    self->session_bytes -= session->cost;
    zhashx_delete (self->sessions, session->rkey);
}

session_t *
nodes_first (nodes_t *self)
{
    return (session_t *) zhashx_first (self->sessions);
}

session_t *
nodes_next (nodes_t *self)
{
    return (session_t *) zhashx_next (self->sessions);
}

session_t *
nodes_node_first (nodes_t *self)
{
    return (session_t *) zhashx_first (self->nodes);
}

session_t *
nodes_node_next (nodes_t *self)
{
    return (session_t *) zhashx_next (self->nodes);
}

size_t
nodes_node_size (nodes_t *self)
{
    return zhashx_size (self->nodes);
}

size_t
nodes_address_count (nodes_t *self, const char *address, session_t *old, session_t *other)
{
    size_t count = 0;
    session_t *session = (session_t *) zhashx_first (self->sessions);
    for (; session; session = (session_t *) zhashx_next (self->sessions))
        if (session != old && session != other && streq (session->address, address))
            count++;
    return count;
}

void
nodes_credit (nodes_t *self, int64_t credit, int64_t mono)
{
    session_t *session = (session_t *) zhashx_first (self->sessions);
    while (session) {
        session->last_seen = session->last_seen + credit < mono
                           ? session->last_seen + credit : mono;
        session = (session_t *) zhashx_next (self->sessions);
    }
    //  Nor does it age the dead nodes listed (nodes_dead_expire): a pause
    //  longer than NODES_DEAD_KEEP_US would drop them all at once
    s_dead_node_t *dead = (s_dead_node_t *) zhashx_first (self->dead_nodes);
    for (; dead; dead = (s_dead_node_t *) zhashx_next (self->dead_nodes))
        dead->when = dead->when + credit < mono ? dead->when + credit : mono;
    //  Nor does it count against the nodes expected back after a restart
    if (zhashx_size (self->awaited))
        self->awaited_until += credit;
}

//  ---------------------------------------------------------------------
//  The sessions found dead

void
nodes_dying_add (nodes_t *self, session_t *session)
{
    zlistx_add_end (self->dying, async_xstrdup (session->rkey));
}

size_t
nodes_dying_size (nodes_t *self)
{
    return zlistx_size (self->dying);
}

//  ---------------------------------------------------------------------
//  The dead nodes

void
nodes_dead_keep (nodes_t *self, session_t *session)
{
    session->state = SESSION_DEAD;
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    session_pack (session, &pk);
    s_dead_node_t *dead = (s_dead_node_t *) async_xcalloc (1, sizeof (s_dead_node_t));
    dead->when = async_mono_us ();
    dead->data = (uint8_t *) buffer.data;       //  ours now
    dead->size = buffer.size;
    zhashx_update (self->dead_nodes, session->uuid, dead);
    while (zhashx_size (self->dead_nodes) > NODES_DEAD_KEEP_MAX) {
        const char *oldest = NULL;
        int64_t when = INT64_MAX;
        dead = (s_dead_node_t *) zhashx_first (self->dead_nodes);
        while (dead) {
            if (dead->when < when) {
                when = dead->when;
                oldest = (const char *) zhashx_cursor (self->dead_nodes);
            }
            dead = (s_dead_node_t *) zhashx_next (self->dead_nodes);
        }
        zhashx_delete (self->dead_nodes, oldest);
    }
}

void
nodes_dead_forget (nodes_t *self, const char *uuid)
{
    zhashx_delete (self->dead_nodes, uuid);
}

//  By the broker's own running time: nodes_credit moves `when` past a
//  pause of the loop
void
nodes_dead_expire (nodes_t *self, int64_t mono)
{
    zlistx_t *expired = zlistx_new ();
    s_dead_node_t *dead = (s_dead_node_t *) zhashx_first (self->dead_nodes);
    while (dead) {
        if (mono - dead->when > NODES_DEAD_KEEP_US)
            zlistx_add_end (expired, (void *) zhashx_cursor (self->dead_nodes));
        dead = (s_dead_node_t *) zhashx_next (self->dead_nodes);
    }
    const char *uuid = (const char *) zlistx_first (expired);
    while (uuid) {
        char copy [ASYNC_ID_LEN];
        snprintf (copy, sizeof copy, "%s", uuid);
        zhashx_delete (self->dead_nodes, copy);
        uuid = (const char *) zlistx_next (expired);
    }
    zlistx_destroy (&expired);
}

size_t
nodes_dead_size (nodes_t *self)
{
    return zhashx_size (self->dead_nodes);
}

const uint8_t *
nodes_dead_first (nodes_t *self, size_t *size)
{
    s_dead_node_t *dead = (s_dead_node_t *) zhashx_first (self->dead_nodes);
    *size = dead ? dead->size : 0;
    return dead ? dead->data : NULL;
}

const uint8_t *
nodes_dead_next (nodes_t *self, size_t *size)
{
    s_dead_node_t *dead = (s_dead_node_t *) zhashx_next (self->dead_nodes);
    *size = dead ? dead->size : 0;
    return dead ? dead->data : NULL;
}

//  ---------------------------------------------------------------------
//  The nodes known, and those awaited

void
nodes_known (nodes_t *self, const char *uuid)
{
    if (zhashx_size (self->awaited) && zhashx_lookup (self->awaited, uuid)) {
        zhashx_delete (self->awaited, uuid);
        if (zhashx_size (self->awaited) == 0)
            async_log_info ("broker", "dispatch.resumed", "reason=\"every node known "
                            "before the restart is back\"");
    }
    if (zhashx_lookup (self->known, uuid))
        return;
    zhashx_insert (self->known, uuid, (void *) uuid);
    char key [40];
    store_put (self->store, key, keys_id (key, KEYS_NODE, uuid), "", 0);
}

void
nodes_forget (nodes_t *self, const char *uuid)
{
    if (!zhashx_lookup (self->known, uuid))
        return;
    char key [40];
    store_delete (self->store, key, keys_id (key, KEYS_NODE, uuid));
    zhashx_delete (self->known, uuid);
}

void
nodes_await (nodes_t *self, const char *uuid)
{
    zhashx_insert (self->known, uuid, (void *) 1);
    zhashx_insert (self->awaited, uuid, (void *) 1);
}

void
nodes_set_awaited_until (nodes_t *self, int64_t until)
{
    self->awaited_until = until;
}

int64_t
nodes_awaited_until (nodes_t *self)
{
    return self->awaited_until;
}

size_t
nodes_awaited (nodes_t *self)
{
    return zhashx_size (self->awaited);
}

void
nodes_missing_forget (nodes_t *self)
{
    zlistx_t *missing = zhashx_keys (self->awaited);
    const char *uuid = (const char *) zlistx_first (missing);
    while (uuid) {
        nodes_forget (self, uuid);
        uuid = (const char *) zlistx_next (missing);
    }
    zlistx_destroy (&missing);
    zhashx_purge (self->awaited);
}

//  ---------------------------------------------------------------------
//  The ACKs held

void
nodes_ack_hold (nodes_t *self, session_t *session, const void *entries, size_t size,
                uint32_t count)
{
    if (session->nacks == 0) {
        session->acks_since = async_mono_us ();
        size_t rsize = strlen (session->rkey) + 1;
        s_holder_t *holder = (s_holder_t *) async_xmalloc (sizeof (s_holder_t) + rsize);
        holder->since = session->acks_since;
        memcpy (holder->rkey, session->rkey, rsize);
        zlistx_add_end (self->ack_holders, holder);
    }
    async_sbuffer_write (&session->acks, (const char *) entries, size);
    session->nacks += count;
}

//  A hold is stale when its session is gone, sent its ACKs, or began a
//  later hold (listed further down): it is dropped on the way
session_t *
nodes_ack_due (nodes_t *self, int64_t now, bool all)
{
    s_holder_t *holder;
    while ((holder = (s_holder_t *) zlistx_first (self->ack_holders))) {
        session_t *session = (session_t *) zhashx_lookup (self->sessions, holder->rkey);
        bool live = session && session->nacks && session->acks_since == holder->since;
        if (live && !all && now - holder->since < NODES_ACK_HOLD_US)
            return NULL;
        free (zlistx_detach (self->ack_holders, NULL));
        if (live)
            return session;
    }
    return NULL;
}

size_t
nodes_ack_holders (nodes_t *self)
{
    return zlistx_size (self->ack_holders);
}

//  ---------------------------------------------------------------------
//  The broker's handlers of node sessions

//  WELCOME: the node's timings, and that RESULT may carry `results`
static void
s_send_welcome (broker_t *self, zframe_t *routing, uint64_t rid)
{
    async_welcome_t welcome = { .heartbeat_ms = self->config.heartbeat_ms,
                                .dead_ms = self->config.dead_ms, .batch = 1 };
    async_msg_t msg;
    async_welcome_encode (&msg, ASYNC_S_WELCOME, rid, &welcome);
    broker_send (self, routing, &msg);
}

//  A job a node holds from an attempt that an earlier broker process
//  handed out (ASSIGN goes before the commit that records it) and stopped
//  before recording: it is pending again here. The node that ran it (or
//  runs it) takes it back, so that it does not run twice
typedef struct {
    char id [ASYNC_ID_LEN];
    uint64_t token;
    char agent [ASYNC_MAX_NAME + 1];
} s_adopted_t;

//  Whether node `uuid` may take back `job` with this held entry: the job
//  waits in its queue for the attempt the entry names (the next one), the
//  token is the one an earlier process made for that very attempt on that
//  node, and so is the 64-bit proof that came with it in ASSIGN (token.h:
//  nobody else can make them; the token's 32-bit MAC alone could be
//  guessed online). An entry without a proof (a node older than proofs)
//  is never adopted
static bool
s_adoptable (broker_t *self, async_job_t *job, const char *uuid, uint64_t token,
             int64_t attempt, const uint64_t *proof)
{
    return proof && job->kind == ASYNC_KIND_TASK && job->status == ASYNC_PENDING
        && !job->held && attempt == (int64_t) job->attempts + 1
        && (token >> 32) < self->epoch
        && token_valid (&self->token_key, token, job->id, uuid, (int) attempt)
        && token_proof_valid (&self->token_key, *proof, token, job->id, uuid, (int) attempt)
        && queueing_is_queued (self, job);
}

//  Take the adopted jobs out of their queues, assigned to the session
static void
s_adopt (broker_t *self, session_t *session, zlistx_t *adopted)
{
    s_adopted_t *entry = (s_adopted_t *) zlistx_first (adopted);
    for (; entry; entry = (s_adopted_t *) zlistx_next (adopted)) {
        async_job_t *job = broker_job_load (self, entry->id);
        dispatch_agent_t *agent = session_agent (session, entry->agent);
        if (!job || !agent || job->status != ASYNC_PENDING)
            continue;
        queueing_unqueue (self, job);
        if (job->begin_by && job->attempts == 0) {
            char key [64];
            store_delete (self->store, key,
                          keys_time (key, KEYS_DEADLINE, job->begin_after + job->begin_by, job->id));
        }
        dispatch_agent_take (agent);
        if (!queueing_assign (self, session, agent, job, entry->token)) {
            dispatch_agent_release (agent);     //  refused: a bug, logged
            continue;
        }
        broker_job_save (self, job);
        async_log_info ("broker", "job.adopted", "job=%s node=%s attempt=%d reason=\"its "
                        "assignment was not recorded before the broker stopped\"", job->id,
                        session->uuid, job->attempts + 1);
    }
}

//  The ERROR 6 that refuses a HELLO, with `reason` for the node (NULL:
//  none) and a one-line `text`
static void
s_hello_error (broker_t *self, zframe_t *routing, async_inmsg_t *in, const char *reason,
               const char *text)
{
    async_error_t error = { .code = ASYNC_EREFUSED, .message = async_str (text),
                            .has_reason = reason != NULL };
    if (reason)
        error.reason = async_str (reason);
    async_msg_t msg;
    async_error_encode (&msg, ASYNC_S_ERROR, in->rid, &error);
    broker_send (self, routing, &msg);
}

//  The HELLO's host for a log line ("" when it has none, or a bad one)
static void
s_hello_host (const async_hello_t *hello, char *host, size_t size)
{
    if (!hello->has_host || async_str_copy (hello->host, host, size))
        *host = 0;
}

//  Refuse a HELLO: ERROR 6 with `reason` for the node (NULL: none), and
//  one warning line
static void
s_hello_refuse (broker_t *self, zframe_t *routing, async_inmsg_t *in,
                const async_hello_t *hello, const char *reason, const char *text)
{
    char host [SESSION_HOST + 1];
    s_hello_host (hello, host, sizeof host);
    const char *uuid = hello->uuid;
    const char *peer = self->peer_address;
    async_log_warning ("broker", "node.refused", "node=%s host=%s address=%s "
                       "reason=\"%s\"", uuid, host, peer ? peer : "", text);
    s_hello_error (self, routing, in, reason, text);
}

//  HELLOs refused for a uuid's key are logged one by one up to
//  S_KEY_LINES a second; past that they are counted, and the count goes
//  in the next line logged (a peer may send them as fast as it likes)
#define S_KEY_LINES 10

_Static_assert (SESSION_KEY_HASH == KEYS_BINDING_HASH, "a binding holds a key's hash");

//  A HELLO must prove the key its uuid is bound to (section 7, "One uuid,
//  one node"): the hash of its `uuid_key` is the one of the live session of
//  the uuid, else the one stored (b<uuid>); a uuid with neither is bound to
//  this key when its session is made (*bind). 0, or -1 when the HELLO was
//  refused (ERROR 6, reason uuid_key)
static int
s_hello_key (broker_t *self, zframe_t *routing, async_inmsg_t *in,
             const async_hello_t *hello, uint8_t *hash, bool *bind)
{
    const char *uuid = hello->uuid;
    char text [512] = "";
    *bind = false;
    if (session_key_hash (hello, hash))
        snprintf (text, sizeof text, "HELLO needs uuid_key, the key beside the node's "
                  "uuid (64 hex digits); an asyncnode older than the broker sends none: "
                  "upgrade it");
    else {
        session_t *live = nodes_node (self->nodes, uuid);
        //  A binding not written yet (its session may be gone already) is
        //  not in the store: the batches being built and written hold it
        const uint8_t *unwritten = NULL;
        if (!live)
            unwritten = commit_binding_find (self->commit, uuid);
        uint8_t stored [SESSION_KEY_HASH];
        char key [KEYS_ID_SIZE], *value = NULL;
        size_t size = 0;
        int rc = live || unwritten ? 0 : store_get (self->store, key,
                                                    keys_binding (key, uuid), &value, &size);
        if (rc == ASYNC_ENOJOB)
            *bind = true;
        else
        if (rc) {
            broker_error (self, routing, in->rid, ASYNC_EREFUSED, "HELLO refused: the store "
                     "cannot be read; try again later");
            return -1;
        }
        else
        if (live ? !session_key_is (live, hash)
          : unwritten ? sodium_memcmp (unwritten, hash, SESSION_KEY_HASH) != 0
          : !keys_binding_parse (value, size, stored)
            || sodium_memcmp (stored, hash, SESSION_KEY_HASH) != 0)
            snprintf (text, sizeof text, "uuid %s is bound to another key: this node's "
                      "uuid file was copied from another node, or this is not the node "
                      "that first used it; give this node its own uuid: delete its uuid "
                      "file (a new uuid and key are then made) and start it again", uuid);
        free (value);
    }
    if (!*text)
        return 0;
    int64_t mono = async_mono_us ();
    if (mono - self->nodes->key_window >= 1000000) {
        self->nodes->key_window = mono;
        self->nodes->key_lines = 0;
    }
    if (self->nodes->key_lines < S_KEY_LINES) {
        self->nodes->key_lines++;
        char host [SESSION_HOST + 1];
        s_hello_host (hello, host, sizeof host);
        const char *peer = self->peer_address;
        async_log_warning ("broker", "node.refused", "node=%s host=%s address=%s "
                           "unlogged=%" PRIu64 " reason=\"%s\"", uuid, host,
                           peer ? peer : "", self->nodes->key_quiet, text);
        self->nodes->key_quiet = 0;
    }
    else
        self->nodes->key_quiet++;
    s_hello_error (self, routing, in, "uuid_key", text);
    return -1;
}

//  Whether the broker-wide budgets leave no room for the session of this
//  (checked) HELLO, besides the sessions `old` and `other` that it would
//  replace: the memory of all sessions (--sessions-memory) and their
//  number (--sessions-max). If so, refuse it with ERROR 6, reason
//  `sessions_full` (the node says HELLO again 2 s later), and say so in a
//  warning line at most once a second, with how many were refused
#define S_FULL_LOG_US 1000000

static bool
s_sessions_full (broker_t *self, zframe_t *routing, async_inmsg_t *in,
                 const async_hello_t *hello, session_t *old, session_t *other)
{
    const char *uuid = hello->uuid;
    size_t cost = session_hello_cost (hello);
    size_t bytes = self->nodes->session_bytes, count = nodes_size (self->nodes);
    session_t *replaced [2] = { old, other != old ? other : NULL };
    for (int i = 0; i < 2; i++)
        if (replaced [i]) {
            bytes -= replaced [i]->cost;
            count--;
        }
    if (count < self->config.sessions_max && cost <= self->config.sessions_memory
    &&  bytes <= self->config.sessions_memory - cost)
        return false;
    char text [300];
    if (count >= self->config.sessions_max)
        snprintf (text, sizeof text, "HELLO refused: the broker has %zu node sessions "
                  "(at most %zu, --sessions-max); try again later", count,
                  self->config.sessions_max);
    else
        snprintf (text, sizeof text, "HELLO refused: this session would cost %zu bytes and "
                  "the node sessions hold %zu of %" PRIu64 " (--sessions-memory); try "
                  "again later", cost, bytes, self->config.sessions_memory);
    self->nodes->full_refused++;
    int64_t mono = async_mono_us ();
    if (self->nodes->full_logged == 0 || mono - self->nodes->full_logged >= S_FULL_LOG_US) {
        const char *peer = self->peer_address;
        async_log_warning ("broker", "sessions.full", "node=%s address=%s sessions=%zu "
                           "bytes=%zu refused=%" PRIu64 " reason=\"%s\"", uuid,
                           peer ? peer : "", count, bytes, self->nodes->full_refused, text);
        self->nodes->full_logged = mono;
        self->nodes->full_refused = 0;
    }
    s_hello_error (self, routing, in, "sessions_full", text);
    return true;
}

//  Whether the disk is under its reserve (--min-free), so that the first
//  HELLO of a uuid, which would write its binding, is refused: ERROR 6,
//  reason `disk_low` (the node says HELLO again 2 s later), and a warning
//  line at most once a second, with how many were refused
static bool
s_hello_disk_low (broker_t *self, zframe_t *routing, async_inmsg_t *in, const char *uuid)
{
    if (!broker_disk_low (self))
        return false;
    const char *text = "HELLO refused: the broker's disk is full (free space under its "
                       "--min-free reserve) and the first HELLO of a uuid writes its "
                       "binding; try again when there is space";
    self->nodes->disk_hello_refused++;
    int64_t mono = async_mono_us ();
    if (self->nodes->disk_hello_logged == 0
    ||  mono - self->nodes->disk_hello_logged >= S_FULL_LOG_US) {
        const char *peer = self->peer_address;
        async_log_warning ("broker", "node.refused", "node=%s address=%s refused=%" PRIu64
                           " reason=\"%s\"", uuid, peer ? peer : "",
                           self->nodes->disk_hello_refused, text);
        self->nodes->disk_hello_logged = mono;
        self->nodes->disk_hello_refused = 0;
    }
    s_hello_error (self, routing, in, "disk_low", text);
    return true;
}

void
nodes_on_hello (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    char *rkey = req->rkey;
    async_inmsg_t *in = req->in;
    uint8_t key_hash [SESSION_KEY_HASH];
    bool bind = false;
    //  Each field on its own: each bad one has its own refusal, below and
    //  in session_hello_check
    async_hello_t hello;
    async_hello_bad_t bad;
    async_hello_decode_each (&hello, &bad, in);
    if (bad.uuid) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, "HELLO needs the node's uuid");
        return;
    }
    const char *uuid = hello.uuid;
    char nonce [ASYNC_ID_LEN] = "";
    if (hello.has_session)
        async_str_copy (hello.session, nonce, sizeof nonce);
    const msgpack_object *agents = hello.agents.object;
    if (bad.agents || agents->via.array.size == 0 || agents->via.array.size > SESSION_AGENTS) {
        s_hello_refuse (self, routing, in, &hello, "hello_limit",
                        "HELLO needs 1 to 64 agents");
        return;
    }
    //  The uuid's key, before anything trusts the uuid
    if (s_hello_key (self, routing, in, &hello, key_hash, &bind))
        return;
    //  A session on this routing id already: the same process said HELLO
    //  again (its first HELLO was slow to be answered). Nothing changed:
    //  answer it again, and keep the session and every job on it (some may
    //  have been assigned after the node wrote this HELLO)
    session_t *old = nodes_session (self->nodes, rkey);
    if (old && streq (old->session, nonce) && streq (old->uuid, uuid)) {
        s_send_welcome (self, routing, in->rid);
        return;
    }
    //  Budgets, before anything is allocated for it
    char text [512], why [400];
    if (session_hello_check (&hello, &bad, why, sizeof why)) {
        snprintf (text, sizeof text, "HELLO refused: %s", why);
        s_hello_refuse (self, routing, in, &hello, "hello_limit", text);
        return;
    }
    //  A uuid's first HELLO writes its binding, kept for good: not while
    //  the disk is under its reserve
    if (bind && s_hello_disk_low (self, routing, in, uuid))
        return;
    session_t *other = nodes_node (self->nodes, uuid);
    const char *address = self->peer_address ? self->peer_address : "";
    size_t sessions = nodes_address_count (self->nodes, address, old, other);
    if (sessions >= SESSION_PER_ADDRESS) {
        snprintf (text, sizeof text, "HELLO refused: %zu node sessions from address %.64s "
                  "already (at most %d); try again later", sessions, address,
                  SESSION_PER_ADDRESS);
        s_hello_refuse (self, routing, in, &hello, NULL, text);
        return;
    }
    if (s_sessions_full (self, routing, in, &hello, old, other))
        return;
    //  Another session of this uuid, from another process, that is alive
    //  and not on this machine: the uuid is in use, this HELLO is refused
    //  and the live node is left alone (section 7, "One uuid, one node")
    if (other && other != old && session_keeps_uuid (other, &hello, (int64_t) self->config.heartbeat_ms * 1000,
                                                  async_mono_us ())) {
        snprintf (text, sizeof text, "uuid %s is in use by a live node on host %.200s "
                  "(pid %" PRId64 "); give each node its own uuid: delete this node's "
                  "uuid file (a new uuid is then made) and start it again", uuid,
                  other->host ? other->host : "", other->pid);
        s_hello_refuse (self, routing, in, &hello, "uuid_in_use", text);
        return;
    }
    //  The jobs the node still holds, kept when they are live with that
    //  token and assigned to this uuid; any other session of the uuid is
    //  superseded below. An entry for a job of another node is refused
    zhashx_t *kept = zhashx_new ();       //  id -> agent name
    zhashx_set_destructor (kept, (zhashx_destructor_fn *) zstr_free);
    zlistx_t *adopted = zlistx_new ();    //  s_adopted_t *: see s_adoptable
    zlistx_set_destructor (adopted, s_free_item);
    //  Each entry costs a look-up: those past SESSION_HELD are not read
    async_batch_t batch;
    async_batch_begin (&batch, in->body, "held", SESSION_HELD);
    size_t refused = batch.ignored, maps = 0;
    //  Adoption candidates (held entries for pending jobs): every entry
    //  read is checked once, and every miss is refused. Not a number per
    //  slot: a result's ACK waits for the commit that records it, while
    //  its slot takes the next job at once, so behind one slow write a
    //  node of one slot holds as many finished jobs as it ran meanwhile.
    //  A guess needs the 64-bit proof, so the first SESSION_HELD entries
    //  give 2^-50 at most per HELLO
    const msgpack_object *map;
    while ((map = async_batch_next (&batch))) {
        maps++;
        async_hello_held_t h;
        char agent_name [ASYNC_MAX_NAME + 1];
        if (async_hello_held_decode_map (&h, map)
        ||  async_str_copy (h.agent, agent_name, sizeof agent_name)) {
            refused++;
            continue;
        }
        const char *id = h.id;
        uint64_t token = h.token;
        async_job_t *job = broker_job_load (self, id);
        if (job && job->status == ASYNC_PENDING) {
            if (s_adoptable (self, job, uuid, token, h.attempt, h.has_proof ? &h.proof : NULL)) {
                s_adopted_t *entry = async_xcalloc (1, sizeof (s_adopted_t));
                memcpy (entry->id, id, ASYNC_ID_LEN);
                entry->token = token;
                snprintf (entry->agent, sizeof entry->agent, "%s", agent_name);
                zlistx_add_end (adopted, entry);
            }
            else
                refused++;              //  not adopted: no valid proof
            continue;
        }
        if (!job || !broker_job_is_live (job))
            continue;                   //  stale: the attempt ended meanwhile
        if (strcmp (job->node, uuid) != 0)
            refused++;                  //  runs on another node: not ours to take
        else
        if (job->token == token)
            zhashx_insert (kept, id, async_xstrdup (agent_name));
    }
    refused += batch.count - maps;          //  entries that are no map
    if (refused)
        async_log_warning ("broker", "node.held_refused", "node=%s refused=%zu "
                           "reason=\"held entries malformed, over the first %d, for "
                           "jobs assigned to other nodes, or for pending jobs not taken "
                           "back (no valid proof); ignored\"", uuid, refused, SESSION_HELD);
    //  A connection that says HELLO with another uuid leaves its former
    //  uuid for good: that node is forgotten, not awaited after a restart
    char former [ASYNC_ID_LEN] = "";
    if (old && !streq (old->uuid, uuid) && nodes_node (self->nodes, old->uuid) == old)
        snprintf (former, sizeof former, "%s", old->uuid);
    session_t *previous [2] = { old, other != old ? other : NULL };
    for (int i = 0; i < 2; i++) {
        session_t *session = previous [i];
        if (!session)
            continue;
        //  Detach the jobs the node keeps, so they are not interrupted
        const char *id = (const char *) zhashx_first (kept);
        while (id) {
            id = (const char *) zhashx_cursor (kept);
            async_idmap_delete (session->jobs, id);
            id = (const char *) zhashx_next (kept);
        }
        nodes_session_drop (self, session, session == old ? "re-registered" : "superseded");
    }
    if (*former)
        nodes_forget (self->nodes, former);
    session_t *session = session_new (self->dispatch, rkey, routing, uuid, nonce,
                                      self->peer_address, &hello);
    nodes_insert (self->nodes, session);
    nodes_known (self->nodes, uuid);
    if (bind) {
        commit_binding_stage (self->commit, uuid, key_hash, SESSION_KEY_HASH);
        async_log_info ("broker", "node.bound", "node=%s reason=\"the uuid's first "
                        "HELLO: bound to its key\"", uuid);
    }
    nodes_dead_forget (self->nodes, uuid);
    //  Re-attach the jobs it holds
    char *agent_name = (char *) zhashx_first (kept);
    while (agent_name) {
        const char *id = (const char *) zhashx_cursor (kept);
        async_job_t *job = broker_job_load (self, id);
        dispatch_agent_t *agent = session_agent (session, agent_name);
        if (job && agent) {
            dispatch_agent_take (agent);
            async_idmap_insert (session->jobs, id, agent);
            memcpy (job->node, uuid, ASYNC_ID_LEN);
            orphans_remove (self->orphans, id);
        }
        agent_name = (char *) zhashx_next (kept);
    }
    zhashx_destroy (&kept);
    s_adopt (self, session, adopted);
    zlistx_destroy (&adopted);
    async_log_info ("broker", "node.hello", "node=%s agents=%u held=%zu address=%s",
                    uuid, agents->via.array.size, async_idmap_size (session->jobs),
                    session->address);
    s_send_welcome (self, routing, in->rid);
    //  A job cancelled while its node was away (a broker restart): the
    //  node learns it now
    void *held_agent = async_idmap_first (session->jobs);
    for (; held_agent; held_agent = async_idmap_next (session->jobs)) {
        async_job_t *job = broker_job_load (self, async_idmap_cursor (session->jobs));
        if (job && job->cancelled_at)
            lifecycle_send_cancel (self, session, job);
    }
}

void
nodes_session_drop (broker_t *self, session_t *session, const char *why)
{
    //  Interrupt its jobs
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (zlistx_destructor_fn *) zstr_free);
    void *held = async_idmap_first (session->jobs);
    for (; held; held = async_idmap_next (session->jobs))
        zlistx_add_end (ids, async_xstrdup (async_idmap_cursor (session->jobs)));
    char *id = (char *) zlistx_first (ids);
    while (id) {
        async_job_t *job = broker_job_load (self, id);
        if (job && broker_job_is_live (job) && strcmp (job->node, session->uuid) == 0)
            lifecycle_interrupt (self, job, why);
        id = (char *) zlistx_next (ids);
    }
    zlistx_destroy (&ids);
    if (streq (why, "dead"))
        nodes_dead_keep (self->nodes, session);
    if (!streq (why, "superseded") && !streq (why, "re-registered"))
        nodes_forget (self->nodes, session->uuid);        //  gone, not replaced
    dispatch_agents_remove (self->dispatch, session->agents);
    async_log_info ("broker", "node.gone", "node=%s reason=%s", session->uuid, why);
    nodes_remove (self->nodes, session);
}

//  For S_DROP_TURN_US at most a turn: a session of many agents and jobs
//  takes milliseconds, and hundreds may die at once. One heard from
//  meanwhile (it was stopped, not gone) is kept
#define S_DROP_TURN_US 10000

void
nodes_dying_drop (broker_t *self)
{
    int64_t start = async_mono_us ();
    char *rkey;
    while ((rkey = (char *) zlistx_first (self->nodes->dying))) {
        int64_t mono = async_mono_us ();
        if (mono - start >= S_DROP_TURN_US) {
            self->more_work = true;
            break;
        }
        session_t *session = nodes_session (self->nodes, rkey);
        zlistx_delete (self->nodes->dying, NULL);
        if (!session || session->state != SESSION_DYING)
            continue;           //  gone another way meanwhile
        session->state = SESSION_LIVE;
        if (mono - session->last_seen <= (int64_t) self->config.dead_ms * 1000)
            continue;           //  heard again meanwhile
        async_log_warning ("broker", "node.dead", "node=%s silent_ms=%" PRId64,
                           session->uuid, (mono - session->last_seen) / 1000);
        nodes_session_drop (self, session, "dead");
    }
}

void
nodes_release_reply (broker_t *self, zmsg_t **zmsg_p)
{
    //  An ACK (broker_ack_later) has its entries last
    zframe_t *held = zmsg_size (*zmsg_p) == 3 ? zmsg_last (*zmsg_p) : NULL;
    session_t *session = NULL;
    if (held) {
        zmsg_remove (*zmsg_p, held);
        char *rkey = zframe_strhex (zmsg_first (*zmsg_p));
        session = nodes_session (self->nodes, rkey);
        free (rkey);
    }
    if (!session || !session->ack_ride || zframe_size (held) < sizeof (uint32_t)) {
        zframe_destroy (&held);
        broker_zmsg_send (self, zmsg_p);
        return;
    }
    uint32_t count;
    memcpy (&count, zframe_data (held), sizeof count);
    nodes_ack_hold (self->nodes, session, zframe_data (held) + sizeof count,
                    zframe_size (held) - sizeof count, count);
    zframe_destroy (&held);
    zmsg_destroy (zmsg_p);
}

//  Send the ACKs held for a session in one ACK
static void
s_acks_send (broker_t *self, session_t *session)
{
    if (!session->nacks)
        return;
    async_msg_t msg;
    async_ack_batch_t batch = { .acks = async_part_items (session->nacks, &session->acks) };
    async_ack_batch_encode (&msg, ASYNC_S_ACK, 0, &batch);
    broker_send (self, session->routing, &msg);
    session->acks.size = 0;
    session->nacks = 0;
}

void
nodes_acks_flush (broker_t *self, bool all)
{
    int64_t now = async_mono_us ();
    session_t *session;
    while ((session = nodes_ack_due (self->nodes, now, all)))
        s_acks_send (self, session);
}
