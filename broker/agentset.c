/*  =========================================================================
    agentset - AGENT-SET: an operator changes a live node's agent
    =========================================================================
*/
#include "agentset.h"
#include "broker_impl.h"
#include "async_alloc.h"
#include "async_msgs.h"
#include "nodes.h"
#include "session.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <inttypes.h>

//  ---------------------------------------------------------------------
//  The changes in flight

struct _agentset_t {
    zlistx_t *changes;          //  agentset_change_t, oldest first
    uint64_t ref;               //  the last one's ref
};

static void
s_change_destroy (agentset_change_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->rkey);
        zframe_destroy (&(*self_p)->client);
        free (*self_p);
        *self_p = NULL;
    }
}

agentset_t *
agentset_new (void)
{
    agentset_t *self = (agentset_t *) async_xcalloc (1, sizeof (agentset_t));
    self->changes = zlistx_new ();
    assert (self->changes);
    zlistx_set_destructor (self->changes, (zlistx_destructor_fn *) s_change_destroy);
    return self;
}

void
agentset_destroy (agentset_t **self_p)
{
    agentset_t *self = *self_p;
    if (self) {
        zlistx_destroy (&self->changes);
        free (self);
        *self_p = NULL;
    }
}

agentset_change_t *
agentset_add (agentset_t *self, const char *uuid, const char *rkey, zframe_t *routing,
              uint64_t rid, int64_t deadline)
{
    agentset_change_t *change =
        (agentset_change_t *) async_xcalloc (1, sizeof (agentset_change_t));
    change->ref = ++self->ref;
    snprintf (change->uuid, sizeof change->uuid, "%s", uuid);
    change->rkey = async_xstrdup (rkey);
    change->client = zframe_dup (routing);
    change->rid = rid;
    change->deadline = deadline;
    change->handle = zlistx_add_end (self->changes, change);
    return change;
}

void
agentset_remove (agentset_t *self, agentset_change_t **change_p)
{
    if (*change_p) {
        zlistx_delete (self->changes, (*change_p)->handle);
        *change_p = NULL;
    }
}

agentset_change_t *
agentset_for_node (agentset_t *self, const char *uuid)
{
    agentset_change_t *change = (agentset_change_t *) zlistx_first (self->changes);
    while (change && !streq (change->uuid, uuid))
        change = (agentset_change_t *) zlistx_next (self->changes);
    return change;
}

agentset_change_t *
agentset_find (agentset_t *self, uint64_t ref, const char *rkey)
{
    agentset_change_t *change = (agentset_change_t *) zlistx_first (self->changes);
    while (change && (change->ref != ref || strcmp (change->rkey, rkey)))
        change = (agentset_change_t *) zlistx_next (self->changes);
    return change;
}

size_t
agentset_size (agentset_t *self)
{
    return zlistx_size (self->changes);
}

agentset_change_t *
agentset_first (agentset_t *self)
{
    return (agentset_change_t *) zlistx_first (self->changes);
}

agentset_change_t *
agentset_next (agentset_t *self)
{
    return (agentset_change_t *) zlistx_next (self->changes);
}

//  ---------------------------------------------------------------------
//  The broker's handlers

//  Answer the client and forget the change: OK when `text` is NULL
static void
s_answer (broker_t *self, agentset_change_t *change, int code, const char *text)
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
agentset_on_request (broker_t *self, broker_request_t *req)
{
    zframe_t *routing = req->routing;
    async_inmsg_t *in = req->in;
    char name [ASYNC_MAX_NAME + 1], text [400];
    async_agent_set_t request;
    async_agent_set_bad_t bad;
    async_agent_set_decode_each (&request, &bad, in);
    const char *uuid = request.node;
    int64_t size = request.size;
    bool save = request.has_save && request.save;
    if (bad.node) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED,
                      "AGENT-SET needs `node`, a node uuid");
        return;
    }
    if (bad.agent || async_str_copy (request.agent, name, sizeof name) || !*name) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED,
                      "AGENT-SET needs `agent`, the name of one of the node's agents");
        return;
    }
    if (bad.size || size < 1 || size > AGENTSET_SIZE_MAX) {
        snprintf (text, sizeof text, "AGENT-SET needs `size`, an integer from 1 to %d",
                  AGENTSET_SIZE_MAX);
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, text);
        return;
    }
    //  The filter as HELLO would take it (async_filter_check), so that a
    //  node never has to say a HELLO that the broker refuses
    char why [300];
    if (bad.filter
    ||  (request.has_filter
         && async_filter_check (request.filter.data, request.filter.size, why, sizeof why))) {
        snprintf (text, sizeof text, "AGENT-SET `filter` is not a task filter: %s",
                  bad.filter ? "not a text" : why);
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, text);
        return;
    }
    if (bad.save) {
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
    if (agentset_for_node (self->agent_sets, uuid)) {
        broker_error (self, routing, in->rid, ASYNC_EREFUSED,
                      "a change of this node's agents is under way; try again");
        return;
    }
    if (agentset_size (self->agent_sets) >= AGENTSET_MAX) {
        snprintf (text, sizeof text,
                  "%d changes of agents are under way (at most); try again later",
                  AGENTSET_MAX);
        broker_error (self, routing, in->rid, ASYNC_EREFUSED, text);
        return;
    }
    agentset_change_t *change = agentset_add (self->agent_sets, uuid, session->rkey, routing,
                                              in->rid, async_mono_us () + AGENTSET_WAIT_US);
    async_agent_change_t relay = { .ref = change->ref, .agent = async_str (name),
                                   .size = size, .save = save,
                                   .has_filter = request.has_filter,
                                   .filter = request.filter };
    async_msg_t msg;
    async_agent_change_encode (&msg, ASYNC_S_AGENT_SET, 0, &relay);
    async_log_info ("broker", "agent.set",
                    "node=%s agent=%s size=%" PRId64 " save=%d ref=%" PRIu64, uuid, name, size,
                    save, change->ref);
    broker_send (self, session->routing, &msg);
}

void
agentset_on_applied (broker_t *self, broker_request_t *req)
{
    const char *rkey = req->rkey;
    async_inmsg_t *in = req->in;
    async_agent_applied_t applied;
    if (async_agent_applied_decode (&applied, in))
        return;
    agentset_change_t *change = agentset_find (self->agent_sets, applied.ref, rkey);
    if (!change)
        return;  //  answered already (timed out), or not ours
    bool ok = applied.has_ok && applied.ok;
    char reason [300] = "", unsaved [300] = "", text [400];
    if (applied.has_error)
        async_str_copy (applied.error, reason, sizeof reason);
    if (applied.has_unsaved)
        async_str_copy (applied.unsaved, unsaved, sizeof unsaved);
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
    agentset_remove (self->agent_sets, &change);
}

void
agentset_check (broker_t *self, int64_t mono)
{
    if (agentset_size (self->agent_sets) == 0)
        return;
    agentset_change_t *change = agentset_first (self->agent_sets);
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
            agentset_remove (self->agent_sets, &change);
            change = agentset_first (self->agent_sets);
            continue;
        }
        change = agentset_next (self->agent_sets);
    }
}
