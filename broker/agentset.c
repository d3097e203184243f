/*  =========================================================================
    agentset - AGENT-SET: an operator changes a live node's agent
    =========================================================================
*/
#include "agentset.h"
#include "async_alloc.h"
#include "async_msgs.h"
#include "nodes.h"
#include "session.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <inttypes.h>

//  A change relayed to a node, waiting for its AGENT-APPLIED
typedef struct {
    uint64_t ref;
    char uuid [ASYNC_ID_LEN];
    char *rkey;        //  the node's routing id, as hex
    zframe_t *client;  //  the client's routing id
    uint64_t rid;      //  the client's request
    int64_t deadline;  //  monotonic us
} s_change_t;

static void
s_change_destroy (s_change_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->rkey);
        zframe_destroy (&(*self_p)->client);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Answer the client and forget the change: OK when `text` is NULL
static void
s_answer (broker_t *self, s_change_t *change, int code, const char *text)
{
    if (text)
        broker_error (self, change->client, change->rid, code, text);
    else {
        async_msg_t msg;
        async_empty_encode (&msg, ASYNC_S_OK, change->rid);
        broker_send (self, change->client, &msg);
    }
    char reason [600];
    async_log_quote (text ? text : "applied", reason, sizeof reason);
    async_log_info ("broker", "agent.set_answered",
                    "node=%s ref=%" PRIu64 " code=%d reason=\"%s\"", change->uuid, change->ref,
                    text ? code : 0, reason);
}

static bool
s_has_agent (session_t *session, const char *name)
{
    dispatch_agent_t *agent = (dispatch_agent_t *) zlistx_first (session->agents);
    for (; agent; agent = (dispatch_agent_t *) zlistx_next (session->agents))
        if (streq (dispatch_agent_name (agent), name))
            return true;
    return false;
}

void
agentset_on_request (broker_t *self, zframe_t *routing, async_inmsg_t *in)
{
    char uuid [ASYNC_ID_LEN], name [ASYNC_MAX_NAME + 1], text [400];
    int64_t size = 0;
    bool save = false;
    if (async_mp_str (in->body, "node", uuid, sizeof uuid) || !async_id_valid (uuid)) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED,
                      "AGENT-SET needs `node`, a node uuid");
        return;
    }
    if (async_mp_str (in->body, "agent", name, sizeof name) || !*name) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED,
                      "AGENT-SET needs `agent`, the name of one of the node's agents");
        return;
    }
    if (async_mp_int (in->body, "size", &size) || size < 1 || size > AGENTSET_SIZE_MAX) {
        snprintf (text, sizeof text, "AGENT-SET needs `size`, an integer from 1 to %d",
                  AGENTSET_SIZE_MAX);
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, text);
        return;
    }
    const msgpack_object *filter = async_mp_get (in->body, "filter");
    //  The filter as HELLO would take it (async_filter_check), so that a
    //  node never has to say a HELLO that the broker refuses
    char why [300];
    if (filter
        && (filter->type != MSGPACK_OBJECT_STR
            || async_filter_check (filter->via.str.ptr, filter->via.str.size, why,
                                   sizeof why))) {
        snprintf (text, sizeof text, "AGENT-SET `filter` is not a task filter: %s",
                  filter->type == MSGPACK_OBJECT_STR ? why : "not a text");
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, text);
        return;
    }
    if (async_mp_get (in->body, "save") && async_mp_bool (in->body, "save", &save)) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED,
                      "AGENT-SET `save` must be true or false");
        return;
    }
    session_t *session = nodes_node (self->nodes, uuid);
    if (!session || session->state != SESSION_LIVE) {
        broker_error (self, routing, in->rid, ASYNC_ENOJOB,
                      "no such node: no live session of that uuid (see 'asyncctl nodes')");
        return;
    }
    if (!s_has_agent (session, name)) {
        snprintf (text, sizeof text,
                  "no such agent: node %s has no agent named '%.64s' (see 'asyncctl node %s')",
                  uuid, name, uuid);
        broker_error (self, routing, in->rid, ASYNC_ENOJOB, text);
        return;
    }
    s_change_t *change = (s_change_t *) zlistx_first (self->agent_sets);
    for (; change; change = (s_change_t *) zlistx_next (self->agent_sets))
        if (streq (change->uuid, uuid)) {
            broker_error (self, routing, in->rid, ASYNC_EREFUSED,
                          "a change of this node's agents is under way; try again");
            return;
        }
    if (zlistx_size (self->agent_sets) >= AGENTSET_MAX) {
        snprintf (text, sizeof text,
                  "%d changes of agents are under way (at most); try again later",
                  AGENTSET_MAX);
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, text);
        return;
    }
    change = (s_change_t *) async_xcalloc (1, sizeof (s_change_t));
    change->ref = ++self->agent_set_ref;
    memcpy (change->uuid, uuid, ASYNC_ID_LEN);
    change->rkey = async_xstrdup (session->rkey);
    change->client = zframe_dup (routing);
    change->rid = in->rid;
    change->deadline = async_mono_us () + AGENTSET_WAIT_US;
    zlistx_add_end (self->agent_sets, change);
    async_agent_change_t relay = { .ref = change->ref, .agent = async_str (name),
                                   .size = size, .save = save, .has_filter = filter != NULL };
    if (filter)
        relay.filter = (async_str_t) { .data = filter->via.str.ptr,
                                       .size = filter->via.str.size };
    async_msg_t msg;
    async_agent_change_encode (&msg, ASYNC_S_AGENT_SET, 0, &relay);
    async_log_info ("broker", "agent.set",
                    "node=%s agent=%s size=%" PRId64 " save=%d ref=%" PRIu64, uuid, name, size,
                    save, change->ref);
    broker_send (self, session->routing, &msg);
}

void
agentset_on_applied (broker_t *self, const char *rkey, async_inmsg_t *in)
{
    uint64_t ref = 0;
    if (async_mp_uint (in->body, "ref", &ref))
        return;
    s_change_t *change = (s_change_t *) zlistx_first (self->agent_sets);
    while (change && (change->ref != ref || strcmp (change->rkey, rkey)))
        change = (s_change_t *) zlistx_next (self->agent_sets);
    if (!change)
        return;  //  answered already (timed out), or not ours
    bool ok = false;
    async_mp_bool (in->body, "ok", &ok);
    char reason [300] = "", unsaved [300] = "", text [400];
    async_mp_str (in->body, "error", reason, sizeof reason);
    async_mp_str (in->body, "unsaved", unsaved, sizeof unsaved);
    if (ok && *unsaved) {
        //  Made, but the node's config file still says the old agent
        snprintf (text, sizeof text, "node %s applied the change, not saved: %s",
                  change->uuid, unsaved);
        s_answer (self, change, ASYNC_EUNSAVED, text);
    }
    else {
        snprintf (text, sizeof text, "node %s refused: %s", change->uuid,
                  *reason ? reason : "no reason given");
        s_answer (self, change, ASYNC_EREFUSED, ok ? NULL : text);
    }
    zlistx_delete (self->agent_sets, zlistx_cursor (self->agent_sets));
}

void
agentset_check (broker_t *self, int64_t mono)
{
    if (zlistx_size (self->agent_sets) == 0)
        return;
    s_change_t *change = (s_change_t *) zlistx_first (self->agent_sets);
    while (change) {
        session_t *session = nodes_session (self->nodes, change->rkey);
        bool gone = !session || session->state == SESSION_DEAD
            || !streq (session->uuid, change->uuid);
        if (gone || mono >= change->deadline) {
            char text [200];
            if (gone)
                snprintf (text, sizeof text,
                          "node %s is gone (dead or stopped) before it answered", change->uuid);
            else
                snprintf (text, sizeof text,
                          "node %s did not answer within %d s; it may "
                          "still apply the change (see 'asyncctl node %s')",
                          change->uuid, (int) (AGENTSET_WAIT_US / 1000000), change->uuid);
            s_answer (self, change, gone ? ASYNC_ENOJOB : ASYNC_ETIMEOUT, text);
            zlistx_delete (self->agent_sets, zlistx_cursor (self->agent_sets));
            change = (s_change_t *) zlistx_first (self->agent_sets);
            continue;
        }
        change = (s_change_t *) zlistx_next (self->agent_sets);
    }
}

void
agentset_start (broker_t *self)
{
    self->agent_sets = zlistx_new ();
    zlistx_set_destructor (self->agent_sets, (zlistx_destructor_fn *) s_change_destroy);
}

void
agentset_stop (broker_t *self)
{
    zlistx_destroy (&self->agent_sets);
}
