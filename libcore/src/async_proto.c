/*  =========================================================================
    async_proto - the commands of the wire protocol, as one table

    The table is in async_proto.h.
    =========================================================================
*/
#include "async_proto.h"
#include <assert.h>
#include <string.h>

static const async_proto_t s_rows [ASYNC_COMMANDS] = {
#define ASYNC_PROTO_ROW(id, name, sender, flags) \
    { ASYNC_##id, name, ASYNC_SENDER_##sender, ASYNC_PROTO_##flags },
    ASYNC_PROTO_COMMANDS (ASYNC_PROTO_ROW)
#undef ASYNC_PROTO_ROW
};

const async_proto_t *
async_proto_find (const char *name, bool to_broker)
{
    //  Rows to the broker come first, so a lookup scans half the table
    size_t index = to_broker ? 0 : ASYNC_S_ACCEPTED;
    size_t end = to_broker ? ASYNC_S_ACCEPTED : ASYNC_COMMANDS;
    for (; index < end; index++)
        if (strcmp (s_rows [index].name, name) == 0)
            return &s_rows [index];
    return NULL;
}

const async_proto_t *
async_proto_row (async_command_t id)
{
    assert ((unsigned) id < ASYNC_COMMANDS);
    return &s_rows [id];
}

const char *
async_proto_name (async_command_t id)
{
    return async_proto_row (id)->name;
}
