/*  =========================================================================
    session - a node's session with the broker (session.h)
    =========================================================================
*/
#include "session.h"
#include "async_alloc.h"
#include "async_codec.h"
#include "async_msgs.h"
#include "async_util.h"
#include <sodium.h>

//  A filter that async_filter_check takes is one HELLO takes
_Static_assert (ASYNC_FILTER_GLOB == ASYNC_MAX_NAME, "a glob is a name");
_Static_assert (ASYNC_FILTER_GLOBS == SESSION_LIST, "globs per list");

//  An optional array of at most `max` names (1..ASYNC_MAX_NAME bytes):
//  `list` the array (NULL: absent), `bad` when present as another type.
//  0, or -1 with the reason in why
static int
s_names_check (const msgpack_object *list, bool bad, const char *what, uint32_t max,
               char *why, size_t why_size)
{
    if (bad) {
        snprintf (why, why_size, "%s is not an array", what);
        return -1;
    }
    if (!list)
        return 0;
    if (list->via.array.size > max) {
        snprintf (why, why_size, "%s has %" PRIu32 " entries (at most %" PRIu32 ")",
                  what, list->via.array.size, max);
        return -1;
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *name = &list->via.array.ptr [i];
        if (name->type != MSGPACK_OBJECT_STR || name->via.str.size == 0
        ||  name->via.str.size > ASYNC_MAX_NAME) {
            snprintf (why, why_size, "%s entry %" PRIu32 " is not a name of 1 to %d bytes",
                      what, i, ASYNC_MAX_NAME);
            return -1;
        }
    }
    return 0;
}

//  The array of an optional list field, or NULL when absent
#define S_LIST(body, field) ((body)->has_##field ? (body)->field.object : NULL)

int
session_hello_check (const async_hello_t *hello, const async_hello_bad_t *bad,
                     char *why, size_t why_size)
{
    if (bad->host || (hello->has_host && hello->host.size > SESSION_HOST)) {
        snprintf (why, why_size, "host is not a string of at most %d bytes", SESSION_HOST);
        return -1;
    }
    if (s_names_check (S_LIST (hello, tasks), bad->tasks, "tasks", SESSION_TASKS, why,
                       why_size))
        return -1;
    const msgpack_object *agents = hello->agents.object;
    assert (agents && agents->type == MSGPACK_OBJECT_ARRAY
            && agents->via.array.size <= SESSION_AGENTS);
    async_str_t names [SESSION_AGENTS];
    for (uint32_t i = 0; i < agents->via.array.size; i++) {
        async_hello_agent_t a;
        async_hello_agent_bad_t abad;
        async_hello_agent_decode_map_each (&a, &abad, &agents->via.array.ptr [i]);
        if (abad.name || a.name.size == 0 || a.name.size > ASYNC_MAX_NAME) {
            snprintf (why, why_size, "agent %" PRIu32 " has no name of 1 to %d bytes",
                      i, ASYNC_MAX_NAME);
            return -1;
        }
        //  One agent per name: AGENT-SET and the listings know it by its name
        for (uint32_t j = 0; j < i; j++)
            if (names [j].size == a.name.size
            &&  memcmp (names [j].data, a.name.data, a.name.size) == 0) {
                snprintf (why, why_size, "agents %" PRIu32 " and %" PRIu32 " have the same "
                          "name", j, i);
                return -1;
            }
        names [i] = a.name;
        if (abad.size || a.size < 1 || a.size > SESSION_SIZE) {
            snprintf (why, why_size, "agent %" PRIu32 " has no size of 1 to %d", i,
                      SESSION_SIZE);
            return -1;
        }
        const char *lists [3] = { "queues", "include", "exclude" };
        const msgpack_object *objects [3] = { S_LIST (&a, queues), S_LIST (&a, include),
                                              S_LIST (&a, exclude) };
        bool bads [3] = { abad.queues, abad.include, abad.exclude };
        for (int l = 0; l < 3; l++) {
            //  The agent by number: its name is the peer's text, not for the log
            char what [64];
            snprintf (what, sizeof what, "%s of agent %" PRIu32, lists [l], i);
            if (s_names_check (objects [l], bads [l], what, SESSION_LIST, why, why_size))
                return -1;
        }
    }
    return 0;
}

//  What malloc takes for a block of `size` bytes (glibc: a header of 8
//  bytes, rounded up to 16, at least 32)
static size_t
s_block (size_t size)
{
    size_t block = (size + 8 + 15) & ~(size_t) 15;
    return block < 32 ? 32 : block;
}

//  A zhashx item and the slot it takes in the table, besides its key
#define S_HASH_ITEM     (48 + 16)
//  A dispatch agent, its verdict table as made (255 slots) and its ring slot
#define S_AGENT_BASE    (128 + 2 * 1024 + 128 + 8)
//  The session, its routing frame, lists and maps, as made
#define S_SESSION_BASE  1024

//  The cost of a checked list of names: the array and a copy of each;
//  adds to *text the bytes they take in the agent's joined text (each
//  name and `text_extra`)
static size_t
s_names_cost (const msgpack_object *list, size_t text_extra, size_t *text)
{
    if (!list)
        return s_block (2 * sizeof (char *));
    size_t cost = s_block ((list->via.array.size + 2) * sizeof (char *));
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *name = &list->via.array.ptr [i];
        size_t len = name->type == MSGPACK_OBJECT_STR ? name->via.str.size : 0;
        cost += s_block (len + 1);
        *text += len + text_extra;
    }
    return cost;
}

size_t
session_hello_cost (const async_hello_t *hello)
{
    size_t cost = S_SESSION_BASE;
    if (hello->has_host)
        cost += s_block (hello->host.size + 1);
    //  The task names, once for all the node's agents
    const msgpack_object *tasks = S_LIST (hello, tasks);
    if (tasks) {
        cost += 64 + s_block (256 * sizeof (void *));
        for (uint32_t i = 0; i < tasks->via.array.size; i++) {
            const msgpack_object *name = &tasks->via.array.ptr [i];
            size_t len = name->type == MSGPACK_OBJECT_STR ? name->via.str.size : 0;
            cost += S_HASH_ITEM + s_block (len + 1);
        }
    }
    const msgpack_object *agents = hello->agents.object;
    for (uint32_t i = 0; agents && i < agents->via.array.size; i++) {
        async_hello_agent_t a;
        async_hello_agent_bad_t bad;
        async_hello_agent_decode_map_each (&a, &bad, &agents->via.array.ptr [i]);
        size_t queues_text = 1, filter_text = 1;
        cost += S_AGENT_BASE;
        cost += s_block (a.name.size + 1);
        cost += s_names_cost (S_LIST (&a, queues), 2, &queues_text);
        cost += s_names_cost (S_LIST (&a, include), 2, &filter_text);
        cost += s_names_cost (S_LIST (&a, exclude), 3, &filter_text);
        cost += s_block (queues_text) + s_block (filter_text);
    }
    return cost;
}

//  The names of a checked list (NULL-terminated; NULL when absent)
static const char **
s_strv_from (const msgpack_object *array)
{
    if (!array || array->via.array.size > SESSION_TASKS)
        return NULL;
    const char **strv = async_xcalloc (array->via.array.size + 1, sizeof (char *));
    assert (strv);
    size_t n = 0;
    for (uint32_t i = 0; i < array->via.array.size; i++) {
        char buf [ASYNC_MAX_NAME + 1];
        if (async_mp_strcpy (&array->via.array.ptr [i], buf, sizeof buf) == 0 && *buf)
            strv [n++] = async_xstrdup (buf);
    }
    return strv;
}

static void
s_strv_free (const char **strv)
{
    for (const char **s = strv; s && *s; s++)
        free ((char *) *s);
    free (strv);
}

//  A short optional str (1 to 63 bytes) as a fresh copy, else NULL
static char *
s_short_strdup (bool has, async_str_t value)
{
    char copy [64];
    if (!has || async_str_copy (value, copy, sizeof copy) || !*copy)
        return NULL;
    return async_xstrdup (copy);
}

int
session_key_hash (const async_hello_t *hello, uint8_t *hash)
{
    uint8_t key [SESSION_KEY_HEX / 2];
    size_t len = 0;
    if (hello->uuid_key.size != SESSION_KEY_HEX
    ||  sodium_hex2bin (key, sizeof key, hello->uuid_key.data, SESSION_KEY_HEX, NULL, &len,
                        NULL)
    ||  len != sizeof key)
        return -1;
    crypto_generichash (hash, SESSION_KEY_HASH, key, sizeof key, NULL, 0);
    sodium_memzero (key, sizeof key);
    return 0;
}

bool
session_key_is (session_t *self, const uint8_t *hash)
{
    return sodium_memcmp (self->key_hash, hash, SESSION_KEY_HASH) == 0;
}

session_t *
session_new (dispatch_t *dispatch, const char *rkey, zframe_t *routing, const char *uuid,
             const char *nonce, const char *address, const async_hello_t *hello)
{
    session_t *self = async_xcalloc (1, sizeof (session_t));
    assert (self);
    self->rkey = async_xstrdup (rkey);
    self->routing = zframe_dup (routing);
    snprintf (self->uuid, sizeof self->uuid, "%s", uuid);
    snprintf (self->session, sizeof self->session, "%s", nonce);
    self->address = async_xstrdup (address ? address : "");
    self->host = hello->has_host ? async_xstrndup (hello->host.data, hello->host.size) : NULL;
    self->pid = hello->pid;
    self->boot = s_short_strdup (hello->has_boot, hello->boot);
    self->lock = s_short_strdup (hello->has_lock, hello->lock);
    if (session_key_hash (hello, self->key_hash))
        memset (self->key_hash, 0, sizeof self->key_hash);
    self->last_seen = async_mono_us ();
    self->last_seen_wall = async_now_us ();
    self->agents = zlistx_new ();
    self->jobs = async_idmap_new ();
    self->batch = hello->batch != 0;
    self->ack_ride = hello->acks != 0;
    msgpack_sbuffer_init (&self->acks);
    msgpack_sbuffer_init (&self->assigns);
    const char **tasks = s_strv_from (S_LIST (hello, tasks));
    const msgpack_object *agents = hello->agents.object;
    for (uint32_t i = 0; agents && i < agents->via.array.size; i++) {
        async_hello_agent_t a;
        async_hello_agent_bad_t bad;
        async_hello_agent_decode_map_each (&a, &bad, &agents->via.array.ptr [i]);
        char name [ASYNC_MAX_NAME + 1];
        if (bad.name || bad.size || async_str_copy (a.name, name, sizeof name)
        ||  a.size < 1 || a.size > SESSION_SIZE)
            continue;
        const char **queues = s_strv_from (S_LIST (&a, queues));
        const char **include = s_strv_from (S_LIST (&a, include));
        const char **exclude = s_strv_from (S_LIST (&a, exclude));
        dispatch_agent_t *agent = dispatch_agent_add (dispatch, self, name, (int) a.size,
                                                      queues, include, exclude);
        //  One copy of the task names for all the node's agents
        dispatch_agent_t *first = (dispatch_agent_t *) zlistx_first (self->agents);
        if (first)
            dispatch_agent_share_tasks (agent, first);
        else
            dispatch_agent_set_tasks (agent, tasks);
        zlistx_add_end (self->agents, agent);
        s_strv_free (queues);
        s_strv_free (include);
        s_strv_free (exclude);
    }
    s_strv_free (tasks);
    self->cost = session_hello_cost (hello);
    return self;
}

void
session_destroy (session_t **self_p)
{
    session_t *self = *self_p;
    if (!self)
        return;
    free (self->rkey);
    zframe_destroy (&self->routing);
    free (self->address);
    free (self->host);
    free (self->boot);
    free (self->lock);
    zlistx_destroy (&self->agents);
    async_idmap_destroy (&self->jobs);
    msgpack_sbuffer_destroy (&self->assigns);
    msgpack_sbuffer_destroy (&self->acks);
    free (self);
    *self_p = NULL;
}

dispatch_agent_t *
session_agent (session_t *self, const char *name)
{
    dispatch_agent_t *agent = (dispatch_agent_t *) zlistx_first (self->agents);
    while (agent && strcmp (dispatch_agent_name (agent), name) != 0)
        agent = (dispatch_agent_t *) zlistx_next (self->agents);
    return agent ? agent : (dispatch_agent_t *) zlistx_first (self->agents);
}

bool
session_keeps_uuid (session_t *self, const async_hello_t *hello, int64_t heartbeat_us,
                    int64_t mono)
{
    if (mono - self->last_seen > 2 * heartbeat_us)
        return false;
    char boot [64] = "", lock [64] = "", host [256] = "";
    if (hello->has_boot)
        async_str_copy (hello->boot, boot, sizeof boot);
    if (hello->has_lock)
        async_str_copy (hello->lock, lock, sizeof lock);
    if (hello->has_host)
        async_str_copy (hello->host, host, sizeof host);
    bool same_lock = *boot && *lock && self->boot && self->lock
                  && streq (boot, self->boot) && streq (lock, self->lock)
                  && streq (host, self->host ? self->host : "");
    return !same_lock;
}

//  Pack a text of an agent for NODES, cut at SESSION_TEXT_MAX bytes (the
//  last three then "..."): a node's globs and queues may take tens of kB,
//  and NODES, STATUS and a dead node's entry carry them for every agent
static void
s_pack_text (msgpack_packer *pk, const char *text)
{
    size_t len = strlen (text);
    if (len <= SESSION_TEXT_MAX) {
        async_codec_pack_str (pk, text);
        return;
    }
    char cut [SESSION_TEXT_MAX + 1];
    memcpy (cut, text, SESSION_TEXT_MAX - 3);
    memcpy (cut + SESSION_TEXT_MAX - 3, "...", 4);
    async_codec_pack_str (pk, cut);
}

void
session_pack (session_t *self, msgpack_packer *pk)
{
    char when [40];
    msgpack_pack_map (pk, 8);
    async_codec_pack_str (pk, "uuid");
    async_codec_pack_str (pk, self->uuid);
    async_codec_pack_str (pk, "address");
    async_codec_pack_str (pk, self->address ? self->address : "");
    async_codec_pack_str (pk, "host");
    async_codec_pack_str (pk, self->host ? self->host : "");
    async_codec_pack_str (pk, "pid");
    msgpack_pack_int64 (pk, self->pid);
    async_codec_pack_str (pk, "last_heartbeat");
    async_codec_pack_str (pk, async_format_time (self->last_seen_wall, when, sizeof when));
    async_codec_pack_str (pk, "dead");
    if (self->state == SESSION_DEAD)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
    async_codec_pack_str (pk, "running");
    msgpack_pack_uint64 (pk, async_idmap_size (self->jobs));
    async_codec_pack_str (pk, "agents");
    msgpack_pack_array (pk, zlistx_size (self->agents));
    dispatch_agent_t *agent = (dispatch_agent_t *) zlistx_first (self->agents);
    while (agent) {
        msgpack_pack_map (pk, 6);
        async_codec_pack_str (pk, "name");
        async_codec_pack_str (pk, dispatch_agent_name (agent));
        async_codec_pack_str (pk, "size");
        msgpack_pack_int (pk, dispatch_agent_size (agent));
        async_codec_pack_str (pk, "running");
        msgpack_pack_int (pk, dispatch_agent_used (agent));
        //  As of the caller's dispatch_count_pending; a dead node takes none
        async_codec_pack_str (pk, "pending");
        msgpack_pack_uint64 (pk, self->state == SESSION_DEAD
                                 ? 0 : dispatch_agent_pending (agent));
        async_codec_pack_str (pk, "filter");
        s_pack_text (pk, dispatch_agent_filter (agent));
        async_codec_pack_str (pk, "queues");
        s_pack_text (pk, dispatch_agent_queues (agent));
        agent = (dispatch_agent_t *) zlistx_next (self->agents);
    }
}
