/*  =========================================================================
    async_proto - the commands of the wire protocol, as one table

    One row per command and direction, in the order of docs/protocol.md
    section 3: `C_` rows go to the broker (from a client, a node, or a task
    through its node), `S_` rows come from it. A name may appear in both
    directions (PING, PROGRESS, CANCEL, COUNT, STATUS, NODES, AGENT-SET) with another
    meaning in each. Programs send and dispatch by the row's id, never by a
    name typed again; tests/unit/test_proto.c checks that this table and the
    grammar of docs/protocol.md name the same messages.

    Columns: X (ID, NAME, SENDER, FLAGS)

    SENDER  PEER    any peer: a client, a node, a task through its node
            NODE    a node session: with CURVE, only a key of role node
            BROKER  the broker: a reply (same rid) or a push (rid 0)
    FLAGS   WRITES  a client's write to the broker's store: refused with
                    ERROR 6 while the broker's disk is under its reserve
                    (node traffic that finishes work is never refused)
            SESSION needs the sender's node session: answered with REHELLO
                    when the broker has none for it (it restarted, or the
                    node was declared dead)
            LISTING reads many jobs: paged, and bounded by the listing
                    budget (docs/protocol.md section 9)
            CLIENT  an operator's command: with CURVE, only a key of role
                    client (a node's key, and so its tasks, may not)
            OPERATOR  WRITES and CLIENT: an operator's change
    (Private; not installed.)
    =========================================================================
*/
#ifndef ASYNC_PROTO_H_INCLUDED
#define ASYNC_PROTO_H_INCLUDED

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ASYNC_PROTO_COMMANDS(X) \
    X (C_SUBMIT,        "SUBMIT",       PEER,   WRITES) \
    X (C_WAIT,          "WAIT",         PEER,   0) \
    X (C_GET,           "GET",          PEER,   0) \
    X (C_LIST,          "LIST",         PEER,   LISTING) \
    X (C_COUNT,         "COUNT",        PEER,   LISTING) \
    X (C_STATUS,        "STATUS",       PEER,   0) \
    X (C_NODES,         "NODES",        PEER,   0) \
    X (C_CANCEL,        "CANCEL",       PEER,   WRITES) \
    X (C_RETRY,         "RETRY",        PEER,   OPERATOR) \
    X (C_DELETE,        "DELETE",       PEER,   OPERATOR) \
    X (C_ANNOTATE,      "ANNOTATE",     PEER,   WRITES) \
    X (C_ADD_CALLBACK,  "ADD-CALLBACK", PEER,   WRITES) \
    X (C_QUOTA_SET,     "QUOTA-SET",    PEER,   OPERATOR) \
    X (C_QUOTA_DELETE,  "QUOTA-DELETE", PEER,   OPERATOR) \
    X (C_QUOTA_LIST,    "QUOTA-LIST",   PEER,   0) \
    X (C_EVERY_SET,     "EVERY-SET",    PEER,   WRITES) \
    X (C_EVERY_DELETE,  "EVERY-DELETE", PEER,   WRITES) \
    X (C_EVERY_LIST,    "EVERY-LIST",   PEER,   0) \
    X (C_QUEUE_PAUSE,   "QUEUE-PAUSE",  PEER,   OPERATOR) \
    X (C_QUEUE_RESUME,  "QUEUE-RESUME", PEER,   OPERATOR) \
    X (C_HISTORY,       "HISTORY",      PEER,   0) \
    X (C_AGENT_SET,     "AGENT-SET",    PEER,   CLIENT) \
    X (C_PING,          "PING",         PEER,   0) \
    X (C_HELLO,         "HELLO",        NODE,   0) \
    X (C_STARTED,       "STARTED",      NODE,   SESSION) \
    X (C_PROGRESS,      "PROGRESS",     NODE,   SESSION) \
    X (C_RESULT,        "RESULT",       NODE,   SESSION) \
    X (C_BYE,           "BYE",          NODE,   SESSION) \
    X (C_AGENT_APPLIED, "AGENT-APPLIED", NODE,  0) \
    X (S_ACCEPTED,      "ACCEPTED",     BROKER, 0) \
    X (S_WAITING,       "WAITING",      BROKER, 0) \
    X (S_PROGRESS,      "PROGRESS",     BROKER, 0) \
    X (S_JOB,           "JOB",          BROKER, 0) \
    X (S_JOBS,          "JOBS",         BROKER, 0) \
    X (S_COUNT,         "COUNT",        BROKER, 0) \
    X (S_STATUS,        "STATUS",       BROKER, 0) \
    X (S_NODES,         "NODES",        BROKER, 0) \
    X (S_CALLBACK,      "CALLBACK",     BROKER, 0) \
    X (S_QUOTAS,        "QUOTAS",       BROKER, 0) \
    X (S_SCHEDULES,     "SCHEDULES",    BROKER, 0) \
    X (S_HISTORY,       "HISTORY",      BROKER, 0) \
    X (S_OK,            "OK",           BROKER, 0) \
    X (S_PONG,          "PONG",         BROKER, 0) \
    X (S_ERROR,         "ERROR",        BROKER, 0) \
    X (S_WELCOME,       "WELCOME",      BROKER, 0) \
    X (S_ASSIGN,        "ASSIGN",       BROKER, 0) \
    X (S_ACK,           "ACK",          BROKER, 0) \
    X (S_CANCEL,        "CANCEL",       BROKER, 0) \
    X (S_PING,          "PING",         BROKER, 0) \
    X (S_REHELLO,       "REHELLO",      BROKER, 0) \
    X (S_AGENT_SET,     "AGENT-SET",    BROKER, 0)

typedef enum {
#define ASYNC_PROTO_ENUM(id, name, sender, flags) ASYNC_##id,
    ASYNC_PROTO_COMMANDS (ASYNC_PROTO_ENUM)
#undef ASYNC_PROTO_ENUM
    ASYNC_COMMANDS              //  how many there are
} async_command_t;

typedef enum {
    ASYNC_SENDER_PEER = 1,
    ASYNC_SENDER_NODE = 2,
    ASYNC_SENDER_BROKER = 3
} async_sender_t;

enum {
    ASYNC_PROTO_0 = 0,
    ASYNC_PROTO_WRITES = 1,
    ASYNC_PROTO_SESSION = 2,
    ASYNC_PROTO_LISTING = 4,
    ASYNC_PROTO_CLIENT = 8,
    ASYNC_PROTO_OPERATOR = ASYNC_PROTO_WRITES | ASYNC_PROTO_CLIENT
};

typedef struct {
    async_command_t id;
    const char *name;
    async_sender_t sender;
    unsigned flags;
} async_proto_t;

//  The row of a command a peer sends to the broker (`to_broker`), or one
//  the broker sends; NULL if the protocol has no such command.
const async_proto_t *
    async_proto_find (const char *name, bool to_broker);

//  The row of a command; never NULL for an async_command_t.
const async_proto_t *
    async_proto_row (async_command_t id);

//  The command's name on the wire
const char *
    async_proto_name (async_command_t id);

#ifdef __cplusplus
}
#endif
#endif
