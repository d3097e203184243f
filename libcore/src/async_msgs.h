/*  =========================================================================
    async_msgs - typed messages: the messages whose bodies are flat (every
    field a scalar, or a value carried as it is) as C structs, each with an
    encoder and a decoder made from one table, so that no program types a
    field name or its type again. A batch (ASSIGN's `jobs`, ACK's `acks`,
    RESULT's `results`) is an array of such bodies, packed and read one by
    one (below). A request with nested parts (SUBMIT's spec) has its top
    level typed, its nested parts as objects (MAP, ARR) for their own
    readers; the broker's replies with nested parts (JOB, STATUS, ...) are
    typed the same, each part (a job record, a list of nodes) a MAP or ARR
    field packed by its own module (async_part_t, below). HELLO is typed
    the same: its agents and held jobs are batches of their own rows.

    Columns: X (NAME, FIELDS, COMMANDS): a body NAME with FIELDS, the
    body of each of COMMANDS (a list of C (ID) of async_proto.h). FIELDS is
    a list of F (TYPE, FIELD):

        ID      char [ASYNC_ID_LEN]: a job id (a canonical UUID); decoding
                refuses anything else
        U64     uint64_t: a msgpack unsigned integer
        I64     int64_t: a msgpack integer
        STR     async_str_t: a msgpack str without NUL bytes. Decoded, it
                is borrowed: it points into the incoming message (no copy,
                no NUL at its end) and is valid while that message lives
        ANY     async_any_t: a value carried as it is (job arguments): the
                msgpack bytes of one value to encode (none: nil); decoded,
                the object in the message (NULL when the key is absent:
                never an error), borrowed like a str
        OPT_I64, OPT_U64, OPT_STR, OPT_ANY
                optional: the same, and `bool has_FIELD`; encoded only
                when has_FIELD, decoded as has_FIELD false when absent
                (present with another type is an error, as for the others)
        MAY_I64, MAY_U64, MAY_STR
                optional as OPT_, but a value of another type is read as
                absent, not as an error (a node's `ran_us`: docs/protocol.md
                section 10)
        MAP, ARR, OPT_MAP, OPT_ARR, BOOL, NUM
                nested parts and more scalars: below (the replies)

    Field types for the requests' nested bodies (a spec, an array of
    specs, a flag):

        BOOL    bool: a msgpack bool
        NUM     double: a msgpack float, or an integer read as a double
                (a number of seconds)
        MAP, ARR
                async_part_t (below): a msgpack map or array; to encode,
                its bytes (`data`, `size`; none: an empty one), or a packer;
                decoded, the object in the message, borrowed like a str;
                another type is an error
        OPT_BOOL, OPT_NUM, OPT_MAP, OPT_ARR, MAY_BOOL, MAY_ARR
                optional, as OPT_ and MAY_ above
        NIL_ARR, NIL_STR, NIL_I64, NIL_NUM, NIL_BOOL
                optional as OPT_, and nil is read as absent too (a
                HELLO's lists of names, a listing's filter)

    For each row: a struct async_NAME_t with the fields, a struct
    async_NAME_bad_t with a bool per field, and

        void async_NAME_encode (async_msg_t *msg, async_command_t command,
                                uint64_t rid, const async_NAME_t *body);
        int  async_NAME_decode (async_NAME_t *body, const async_inmsg_t *in);
        int  async_NAME_decode_each (async_NAME_t *body, async_NAME_bad_t *bad,
                                     const async_inmsg_t *in);
        int  async_NAME_decode_map (async_NAME_t *body,
                                    const msgpack_object *map);
        int  async_NAME_decode_map_each (async_NAME_t *body,
                                         async_NAME_bad_t *bad,
                                         const msgpack_object *map);
        void async_NAME_pack (msgpack_sbuffer *entries,
                              const async_NAME_t *body);
        void async_NAME_pack_to (msgpack_packer *pk,
                                 const async_NAME_t *body);

    encode starts `msg` (async_msg_init) as `command`, one of the row's,
    with every field (an optional one when has_FIELD); decode reads every field of an incoming message of
    one of the row's commands: 0, or -1 (the body left zeroed) when the
    command is another or a field is missing or of the wrong type.
    decode_each reads each field on its own, for a receiver that refuses
    each bad field with its own reply: the fields read are set, each one
    missing or of the wrong type is left zeroed and flagged in `bad` (all
    of them when the command is another): 0 when none is, else -1.
    decode_map reads the fields from a map alone (an entry of a batch),
    decode_map_each the same field by field, as decode_each (all flagged
    when `map` is no map);
    pack appends the body as a map alone to `entries`, the entries of a
    batch (async_msg_batch); pack_to packs it with `pk` (a part nested in
    another, async_part_packed).

    ASYNC_MSGS_EMPTY lists the commands whose body is empty: they are sent
    with async_empty_encode and recognised by their command alone.
    tests/unit/test_proto.c checks the fields of every typed command, the
    empty ones included, against its table in docs/protocol.md.
    (Private; not installed.)
    =========================================================================
*/
#ifndef ASYNC_MSGS_H_INCLUDED
#define ASYNC_MSGS_H_INCLUDED

#include "async_codec.h"
#include "asyncmesh/id.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ASYNC_MSGS(X) \
    X (job_ref,      ASYNC_MSGS_JOB_REF,      ASYNC_MSGS_JOB_REF_IN) \
    X (job_token,    ASYNC_MSGS_JOB_TOKEN,    ASYNC_MSGS_JOB_TOKEN_IN) \
    X (job_progress, ASYNC_MSGS_JOB_PROGRESS, ASYNC_MSGS_JOB_PROGRESS_IN) \
    X (ping,         ASYNC_MSGS_PING,         ASYNC_MSGS_PING_IN) \
    X (error,        ASYNC_MSGS_ERROR,        ASYNC_MSGS_ERROR_IN) \
    X (welcome,      ASYNC_MSGS_WELCOME,      ASYNC_MSGS_WELCOME_IN) \
    X (callback,     ASYNC_MSGS_CALLBACK,     ASYNC_MSGS_CALLBACK_IN) \
    X (count,        ASYNC_MSGS_COUNT,        ASYNC_MSGS_COUNT_IN) \
    X (ack,          ASYNC_MSGS_ACK,          ASYNC_MSGS_ACK_IN) \
    X (assign,       ASYNC_MSGS_ASSIGN,       ASYNC_MSGS_ASSIGN_IN) \
    X (result,       ASYNC_MSGS_RESULT,       ASYNC_MSGS_RESULT_IN) \
    X (submit,       ASYNC_MSGS_SUBMIT,       ASYNC_MSGS_SUBMIT_IN) \
    X (annotate,     ASYNC_MSGS_ANNOTATE,     ASYNC_MSGS_ANNOTATE_IN) \
    X (add_callback, ASYNC_MSGS_ADD_CALLBACK, ASYNC_MSGS_ADD_CALLBACK_IN) \
    X (quota,        ASYNC_MSGS_QUOTA,        ASYNC_MSGS_QUOTA_IN) \
    X (queue,        ASYNC_MSGS_QUEUE,        ASYNC_MSGS_QUEUE_IN) \
    X (history_range, ASYNC_MSGS_HISTORY_RANGE, ASYNC_MSGS_HISTORY_RANGE_IN) \
    X (every,        ASYNC_MSGS_EVERY,        ASYNC_MSGS_EVERY_IN) \
    X (nodes,        ASYNC_MSGS_NODES,        ASYNC_MSGS_NODES_IN) \
    X (agent_set,    ASYNC_MSGS_AGENT_SET,    ASYNC_MSGS_AGENT_SET_IN) \
    X (agent_applied, ASYNC_MSGS_AGENT_APPLIED, ASYNC_MSGS_AGENT_APPLIED_IN) \
    X (task_progress, ASYNC_MSGS_TASK_PROGRESS, ASYNC_MSGS_TASK_PROGRESS_IN) \
    X (list_query,   ASYNC_MSGS_LIST_QUERY,   ASYNC_MSGS_LIST_QUERY_IN) \
    X (hello,        ASYNC_MSGS_HELLO,        ASYNC_MSGS_HELLO_IN) \
    X (hello_agent,  ASYNC_MSGS_HELLO_AGENT,  ASYNC_MSGS_ENTRY) \
    X (hello_held,   ASYNC_MSGS_HELLO_HELD,   ASYNC_MSGS_ENTRY) \
    ASYNC_MSGS_REPLIES (X)

//  Replies: the broker's bodies with nested parts (MAP, ARR: below). A
//  command of two shapes has a row for each, in the order of its table in
//  docs/protocol.md (NODES: the nodes, or one node in detail)
#define ASYNC_MSGS_REPLIES(X) \
    X (accepted,      ASYNC_MSGS_ACCEPTED,      ASYNC_MSGS_ACCEPTED_IN) \
    X (accepted_many, ASYNC_MSGS_ACCEPTED_MANY, ASYNC_MSGS_ACCEPTED_MANY_IN) \
    X (refused,       ASYNC_MSGS_REFUSED,       ASYNC_MSGS_ENTRY) \
    X (job_record,    ASYNC_MSGS_JOB_RECORD,    ASYNC_MSGS_JOB_RECORD_IN) \
    X (job_briefs,    ASYNC_MSGS_JOB_BRIEFS,    ASYNC_MSGS_JOB_BRIEFS_IN) \
    X (job_brief,     ASYNC_MSGS_JOB_BRIEF,     ASYNC_MSGS_ENTRY) \
    X (jobs,          ASYNC_MSGS_JOBS,          ASYNC_MSGS_JOBS_IN) \
    X (broker_status, ASYNC_MSGS_BROKER_STATUS, ASYNC_MSGS_BROKER_STATUS_IN) \
    X (job_counts,    ASYNC_MSGS_JOB_COUNTS,    ASYNC_MSGS_ENTRY) \
    X (node_list,     ASYNC_MSGS_NODE_LIST,     ASYNC_MSGS_NODE_LIST_IN) \
    X (node_detail,   ASYNC_MSGS_NODE_DETAIL,   ASYNC_MSGS_NODE_DETAIL_IN) \
    X (quotas,        ASYNC_MSGS_QUOTAS,        ASYNC_MSGS_QUOTAS_IN) \
    X (schedules,     ASYNC_MSGS_SCHEDULES,     ASYNC_MSGS_SCHEDULES_IN) \
    X (history,       ASYNC_MSGS_HISTORY,       ASYNC_MSGS_HISTORY_IN) \
    X (agent_change,  ASYNC_MSGS_AGENT_CHANGE,  ASYNC_MSGS_AGENT_CHANGE_IN) \
    X (ack_batch,     ASYNC_MSGS_ACK_BATCH,     ASYNC_MSGS_ACK_BATCH_IN) \
    X (assign_batch,  ASYNC_MSGS_ASSIGN_BATCH,  ASYNC_MSGS_ASSIGN_BATCH_IN)

//  The body of no command: an entry of a batch only
#define ASYNC_MSGS_ENTRY(C)

//  A job submitted; also an entry of `accepted`
#define ASYNC_MSGS_ACCEPTED(F) \
    F (ID, id) F (I64, existing) F (I64, waiting) F (OPT_U64, unservable)
#define ASYNC_MSGS_ACCEPTED_IN(C)   C (S_ACCEPTED)
//  The specs of a SUBMIT with `specs`: an `accepted` or `refused` entry each
#define ASYNC_MSGS_ACCEPTED_MANY(F) F (ARR, accepted)
#define ASYNC_MSGS_ACCEPTED_MANY_IN(C) C (S_ACCEPTED)
//  A spec refused: an entry of `accepted`
#define ASYNC_MSGS_REFUSED(F)       F (I64, error) F (STR, message)
//  A job's record (async_job_pack), or a brief waiter's `job_brief`
#define ASYNC_MSGS_JOB_RECORD(F)    F (MAP, job)
#define ASYNC_MSGS_JOB_RECORD_IN(C) C (S_JOB)
//  The `job_brief` entries of the jobs completed in one turn, to a brief
//  waiter
#define ASYNC_MSGS_JOB_BRIEFS(F)    F (ARR, jobs)
#define ASYNC_MSGS_JOB_BRIEFS_IN(C) C (S_JOB)
//  A job's outcome in brief: an entry of `jobs`, or a JOB's `job`
#define ASYNC_MSGS_JOB_BRIEF(F)     F (ID, id) F (I64, status) F (ANY, failure)
//  A page of a listing: job records
#define ASYNC_MSGS_JOBS(F)          F (ARR, jobs) F (OPT_STR, next)
#define ASYNC_MSGS_JOBS_IN(C)       C (S_JOBS)
//  The broker's state
#define ASYNC_MSGS_BROKER_STATUS(F) \
    F (STR, version) F (STR, started) F (NUM, uptime) F (STR, now) F (NUM, dead_after) \
    F (MAP, queues) F (I64, queues_more) F (ARR, nodes) F (I64, nodes_more) \
    F (MAP, waiting) F (I64, waiting_more) F (ARR, paused) F (MAP, jobs) \
    F (U64, store_bytes)
#define ASYNC_MSGS_BROKER_STATUS_IN(C) C (S_STATUS)
//  STATUS's `jobs`: counters since the broker started
#define ASYNC_MSGS_JOB_COUNTS(F) \
    F (U64, submitted) F (U64, completed) F (U64, succeeded) F (U64, failed)
//  The node sessions (session_pack's maps)
#define ASYNC_MSGS_NODE_LIST(F)     F (ARR, nodes) F (I64, nodes_more)
#define ASYNC_MSGS_NODE_LIST_IN(C)  C (S_NODES)
//  One node in detail; `tasks` is an array of str, or nil
#define ASYNC_MSGS_NODE_DETAIL(F) \
    F (MAP, node) F (ARR, jobs) F (I64, jobs_more) F (ANY, tasks) F (I64, tasks_more) \
    F (NUM, heartbeat) F (NUM, dead_after)
#define ASYNC_MSGS_NODE_DETAIL_IN(C) C (S_NODES)
//  The quotas (quota_pack_list)
#define ASYNC_MSGS_QUOTAS(F)        F (ARR, quotas)
#define ASYNC_MSGS_QUOTAS_IN(C)     C (S_QUOTAS)
//  The schedules (every_pack_list)
#define ASYNC_MSGS_SCHEDULES(F)     F (ARR, schedules)
#define ASYNC_MSGS_SCHEDULES_IN(C)  C (S_SCHEDULES)
//  The jobs completed in a range (history_json)
#define ASYNC_MSGS_HISTORY(F)       F (MAP, history)
#define ASYNC_MSGS_HISTORY_IN(C)    C (S_HISTORY)
//  An agent to change, relayed to its node
#define ASYNC_MSGS_AGENT_CHANGE(F) \
    F (U64, ref) F (STR, agent) F (I64, size) F (OPT_STR, filter) F (BOOL, save)
#define ASYNC_MSGS_AGENT_CHANGE_IN(C) C (S_AGENT_SET)
//  The ACKs of a batch of results: `ack` entries
#define ASYNC_MSGS_ACK_BATCH(F)     F (ARR, acks)
#define ASYNC_MSGS_ACK_BATCH_IN(C)  C (S_ACK)
//  A turn's jobs for a node: `assign` entries, and held `ack` entries
#define ASYNC_MSGS_ASSIGN_BATCH(F)  F (ARR, jobs) F (OPT_ARR, acks)
#define ASYNC_MSGS_ASSIGN_BATCH_IN(C) C (S_ASSIGN)

//  A job named by its id
#define ASYNC_MSGS_JOB_REF(F)       F (ID, id)
#define ASYNC_MSGS_JOB_REF_IN(C)    C (C_WAIT) C (C_GET) C (C_CANCEL) C (C_RETRY) \
                                    C (C_DELETE)
//  An attempt of a job: its id and token
#define ASYNC_MSGS_JOB_TOKEN(F)     F (ID, id) F (U64, token)
#define ASYNC_MSGS_JOB_TOKEN_IN(C)  C (C_STARTED) C (S_CANCEL)
//  How far a job got
#define ASYNC_MSGS_JOB_PROGRESS(F)  F (ID, id) F (I64, done) F (I64, total)
#define ASYNC_MSGS_JOB_PROGRESS_IN(C) C (S_WAITING) C (S_PROGRESS)
//  A peer's PING; a node's says `node`
#define ASYNC_MSGS_PING(F)          F (OPT_I64, node)
#define ASYNC_MSGS_PING_IN(C)       C (C_PING)
//  A refused request
#define ASYNC_MSGS_ERROR(F)         F (I64, code) F (STR, message) F (OPT_STR, reason)
#define ASYNC_MSGS_ERROR_IN(C)      C (S_ERROR)
//  A node session made
#define ASYNC_MSGS_WELCOME(F)       F (I64, heartbeat_ms) F (I64, dead_ms) F (I64, batch)
#define ASYNC_MSGS_WELCOME_IN(C)    C (S_WELCOME)
//  A callback added
#define ASYNC_MSGS_CALLBACK(F)      F (ID, callback)
#define ASYNC_MSGS_CALLBACK_IN(C)   C (S_CALLBACK)
//  A page of a count
//  (`statuses`: the count by status, when the COUNT asked `by_status`)
#define ASYNC_MSGS_COUNT(F)         F (I64, count) F (OPT_STR, next) F (OPT_ANY, statuses)
#define ASYNC_MSGS_COUNT_IN(C)      C (S_COUNT)
//  A result taken or dropped; also an entry of `acks`. `id` is empty when
//  the RESULT had none
#define ASYNC_MSGS_ACK(F)           F (STR, id) F (I64, rejected)
#define ASYNC_MSGS_ACK_IN(C)        C (S_ACK)
//  A job handed to a node; also an entry of `jobs`. The broker sends every
//  field; a node reads `proof`, `agent`, `attempt` and `timeout_ms` as
//  optional
#define ASYNC_MSGS_ASSIGN(F) \
    F (ID, id) F (U64, token) F (OPT_U64, proof) F (STR, task) F (ANY, args) \
    F (ANY, kwargs) F (OPT_STR, agent) F (OPT_I64, attempt) F (OPT_I64, timeout_ms)
#define ASYNC_MSGS_ASSIGN_IN(C)     C (S_ASSIGN)
//  An attempt's outcome: one of `result`, `failure` (a map) and `handoff`
//  (a job id); also an entry of `results`. A `handoff`, `ran_us` or time
//  of another type is read as absent
#define ASYNC_MSGS_RESULT(F) \
    F (ID, id) F (U64, token) F (OPT_ANY, result) F (OPT_ANY, failure) \
    F (MAY_STR, handoff) F (MAY_I64, ran_us) F (MAY_I64, started_ago_us) \
    F (MAY_I64, ended_ago_us)
#define ASYNC_MSGS_RESULT_IN(C)     C (C_RESULT)


//  Requests with nested bodies: the top level is typed, a spec is read by
//  the broker's spec parser (broker/spec.c). A job spec, or a batch of them
//  (`specs`); a `wait` or `brief` of another type is read as absent
#define ASYNC_MSGS_SUBMIT(F) \
    F (OPT_MAP, spec) F (OPT_ARR, specs) F (MAY_BOOL, wait) F (MAY_BOOL, brief)
#define ASYNC_MSGS_SUBMIT_IN(C)     C (C_SUBMIT)
//  An annotation of a job set to `value` (nil is a value: required)
#define ASYNC_MSGS_ANNOTATE(F)      F (ID, id) F (STR, name) F (ANY, value)
#define ASYNC_MSGS_ANNOTATE_IN(C)   C (C_ANNOTATE)
//  A callback added to a job; `on` a str or nil, read by the spec parser
#define ASYNC_MSGS_ADD_CALLBACK(F)  F (ID, id) F (OPT_ANY, on) F (MAP, spec)
#define ASYNC_MSGS_ADD_CALLBACK_IN(C) C (C_ADD_CALLBACK)
//  A quota set (with its `size`) or deleted
#define ASYNC_MSGS_QUOTA(F)         F (STR, name) F (OPT_I64, size)
#define ASYNC_MSGS_QUOTA_IN(C)      C (C_QUOTA_SET) C (C_QUOTA_DELETE)
//  A queue paused or resumed
#define ASYNC_MSGS_QUEUE(F)         F (STR, queue)
#define ASYNC_MSGS_QUEUE_IN(C)      C (C_QUEUE_PAUSE) C (C_QUEUE_RESUME)
//  The completions of a range of time
#define ASYNC_MSGS_HISTORY_RANGE(F) F (OPT_STR, range)
#define ASYNC_MSGS_HISTORY_RANGE_IN(C) C (C_HISTORY)
//  A schedule set (every `interval_ms`, or at `cron` in `tz`) or deleted
#define ASYNC_MSGS_EVERY(F) \
    F (STR, name) F (OPT_I64, interval_ms) F (OPT_STR, cron) F (OPT_STR, tz) \
    F (OPT_MAP, spec)
#define ASYNC_MSGS_EVERY_IN(C)      C (C_EVERY_SET) C (C_EVERY_DELETE)
//  Every node, or the one of `uuid`
#define ASYNC_MSGS_NODES(F)         F (OPT_STR, uuid)
#define ASYNC_MSGS_NODES_IN(C)      C (C_NODES)
//  An operator's change of a node's agent
#define ASYNC_MSGS_AGENT_SET(F) \
    F (ID, node) F (STR, agent) F (I64, size) F (OPT_STR, filter) F (OPT_BOOL, save)
#define ASYNC_MSGS_AGENT_SET_IN(C)  C (C_AGENT_SET)
//  A node's answer to the broker's AGENT-SET; `ok`, `error` and `unsaved`
//  of another type are read as absent
#define ASYNC_MSGS_AGENT_APPLIED(F) \
    F (U64, ref) F (MAY_BOOL, ok) F (MAY_STR, error) F (MAY_STR, unsaved)
#define ASYNC_MSGS_AGENT_APPLIED_IN(C) C (C_AGENT_APPLIED)
//  How far a task got, as it says (stored as it came)
#define ASYNC_MSGS_TASK_PROGRESS(F) F (ID, id) F (U64, token) F (ANY, progress)
#define ASYNC_MSGS_TASK_PROGRESS_IN(C) C (C_PROGRESS)

//  A listing's filter (LIST, COUNT), read by broker/query.c, which the
//  HTTP API's /api/jobs shares: a field absent or nil is no filter; one of
//  another type is refused with its own reason (decode_each)
#define ASYNC_MSGS_LIST_QUERY(F) \
    F (NIL_ARR, status) F (NIL_STR, queue) F (NIL_STR, task) F (NIL_STR, node) \
    F (NIL_STR, parent) F (NIL_I64, limit) F (NIL_NUM, since) F (NIL_STR, cursor) \
    F (NIL_BOOL, by_status)
#define ASYNC_MSGS_LIST_QUERY_IN(C) C (C_LIST) C (C_COUNT)

//  A node's session asked for (docs/protocol.md, HELLO): the broker
//  refuses each bad field with its own reply (decode_each) and checks the
//  budgets (broker/session.c); `agents` are `hello_agent` entries, `held`
//  `hello_held` ones. `session`, `pid`, `boot`, `lock`, `held`, `batch`
//  and `acks` of another type are read as absent, `tasks` nil too
#define ASYNC_MSGS_HELLO(F) \
    F (ID, uuid) F (STR, uuid_key) F (MAY_STR, session) F (OPT_STR, host) \
    F (MAY_I64, pid) F (MAY_STR, boot) F (MAY_STR, lock) F (ARR, agents) \
    F (NIL_ARR, tasks) F (MAY_ARR, held) F (MAY_I64, batch) F (MAY_I64, acks)
#define ASYNC_MSGS_HELLO_IN(C)      C (C_HELLO)
//  An agent of a HELLO; the broker does not read `isolation`; nil lists
//  are read as absent
#define ASYNC_MSGS_HELLO_AGENT(F) \
    F (STR, name) F (I64, size) F (MAY_STR, isolation) F (NIL_ARR, queues) \
    F (NIL_ARR, include) F (NIL_ARR, exclude)
//  A job a node holds, in its HELLO: `attempt` and `proof` as ASSIGN's
//  (of another type: absent)
#define ASYNC_MSGS_HELLO_HELD(F) \
    F (ID, id) F (U64, token) F (MAY_I64, attempt) F (STR, agent) F (MAY_U64, proof)

//  The commands whose body is empty
#define ASYNC_MSGS_EMPTY(C) \
    C (C_BYE) C (S_OK) C (S_PONG) C (S_PING) C (S_REHELLO) \
    C (C_STATUS) C (C_QUOTA_LIST) C (C_EVERY_LIST)

//  A str field: `size` bytes at `data`. Decoded, it points into the
//  message (not NUL-terminated; "" for an empty str)
typedef struct {
    const char *data;
    size_t size;
} async_str_t;

//  An ANY field: `size` bytes at `data` to encode, `object` decoded
typedef struct {
    const void *data;
    size_t size;
    const msgpack_object *object;
} async_any_t;

//  A C string as a str field (borrowed)
async_str_t
    async_str (const char *string);

//  Copy a str field into buf as a C string: 0, or -1 if it does not fit
int
    async_str_copy (async_str_t string, char *buf, size_t size);

//  Whether a str field is this C string
bool
    async_str_eq (async_str_t string, const char *other);

#define ASYNC_MSGS_C_ID(field)      char field [ASYNC_ID_LEN];
#define ASYNC_MSGS_C_U64(field)     uint64_t field;
#define ASYNC_MSGS_C_I64(field)     int64_t field;
#define ASYNC_MSGS_C_STR(field)     async_str_t field;
#define ASYNC_MSGS_C_ANY(field)     async_any_t field;
#define ASYNC_MSGS_C_OPT_U64(field) bool has_##field; uint64_t field;
#define ASYNC_MSGS_C_OPT_I64(field) bool has_##field; int64_t field;
#define ASYNC_MSGS_C_OPT_STR(field) bool has_##field; async_str_t field;
#define ASYNC_MSGS_C_OPT_ANY(field) bool has_##field; async_any_t field;
#define ASYNC_MSGS_C_MAY_I64        ASYNC_MSGS_C_OPT_I64
#define ASYNC_MSGS_C_MAY_U64        ASYNC_MSGS_C_OPT_U64
#define ASYNC_MSGS_C_MAY_STR        ASYNC_MSGS_C_OPT_STR

//  ---------------------------------------------------------------------
//  Field types of nested parts (the replies)
//
//      MAP     async_part_t: a msgpack map (below); decoding refuses
//              another type
//      ARR     async_part_t: a msgpack array, the same
//      OPT_MAP, OPT_ARR
//              optional, as OPT_I64
//      BOOL    bool: a msgpack bool
//      NUM     double: a msgpack float64; decoding takes any number

//  A packer of a part (async_part_packed)
typedef void (async_pack_fn) (msgpack_packer *pk, void *arg);

//  A MAP or ARR field. To encode: `pack` (called with `arg`: the value
//  streamed into the message, no copy made), else `count` items (an ARR)
//  or one value (`items` false) whose msgpack bytes are `size` bytes at
//  `data`; a part left zeroed is an empty map or array. Decoded: `object`,
//  the value in the message, borrowed like a str
typedef struct {
    async_pack_fn *pack;
    void *arg;
    const void *data;
    size_t size;
    bool items;
    uint32_t count;
    const msgpack_object *object;
} async_part_t;

//  A part that `pack` packs with `arg` as the message is encoded
async_part_t
    async_part_packed (async_pack_fn *pack, void *arg);

//  An ARR part: the `count` values packed one after the other in `items`
//  (the entries of a batch, async_NAME_pack; NULL when count is 0)
async_part_t
    async_part_items (uint32_t count, const msgpack_sbuffer *items);

#define ASYNC_MSGS_C_MAP(field)     async_part_t field;
#define ASYNC_MSGS_C_ARR(field)     async_part_t field;
#define ASYNC_MSGS_C_OPT_MAP(field) bool has_##field; async_part_t field;
#define ASYNC_MSGS_C_OPT_ARR(field) bool has_##field; async_part_t field;
#define ASYNC_MSGS_C_BOOL(field)    bool field;
#define ASYNC_MSGS_C_NUM(field)     double field;
#define ASYNC_MSGS_C_OPT_BOOL(field) bool has_##field; bool field;
#define ASYNC_MSGS_C_OPT_NUM(field)  bool has_##field; double field;
#define ASYNC_MSGS_C_MAY_BOOL        ASYNC_MSGS_C_OPT_BOOL
#define ASYNC_MSGS_C_MAY_ARR         ASYNC_MSGS_C_OPT_ARR
#define ASYNC_MSGS_C_NIL_ARR         ASYNC_MSGS_C_OPT_ARR
#define ASYNC_MSGS_C_NIL_STR         ASYNC_MSGS_C_OPT_STR
#define ASYNC_MSGS_C_NIL_I64         ASYNC_MSGS_C_OPT_I64
#define ASYNC_MSGS_C_NIL_NUM         ASYNC_MSGS_C_OPT_NUM
#define ASYNC_MSGS_C_NIL_BOOL        ASYNC_MSGS_C_OPT_BOOL
#define ASYNC_MSGS_MEMBER(type, field) ASYNC_MSGS_C_##type (field)
#define ASYNC_MSGS_BAD(type, field) bool field;

#define ASYNC_MSGS_DECLARE(name, fields, commands) \
    typedef struct { fields (ASYNC_MSGS_MEMBER) } async_##name##_t; \
    typedef struct { fields (ASYNC_MSGS_BAD) } async_##name##_bad_t; \
    void \
        async_##name##_encode (async_msg_t *msg, async_command_t command, uint64_t rid, \
                               const async_##name##_t *body); \
    int \
        async_##name##_decode (async_##name##_t *body, const async_inmsg_t *in); \
    int \
        async_##name##_decode_each (async_##name##_t *body, async_##name##_bad_t *bad, \
                                    const async_inmsg_t *in); \
    int \
        async_##name##_decode_map (async_##name##_t *body, const msgpack_object *map); \
    int \
        async_##name##_decode_map_each (async_##name##_t *body, async_##name##_bad_t *bad, \
                                        const msgpack_object *map); \
    void \
        async_##name##_pack (msgpack_sbuffer *entries, const async_##name##_t *body); \
    void \
        async_##name##_pack_to (msgpack_packer *pk, const async_##name##_t *body);
ASYNC_MSGS (ASYNC_MSGS_DECLARE)
#undef ASYNC_MSGS_DECLARE

//  ---------------------------------------------------------------------
//  Batches: a body whose field `key` is an array of entries, each a typed
//  body as a map alone (ASSIGN's `jobs` and `acks`, RESULT's `results`,
//  ACK's `acks`)

//  Add the field `key` to `msg`: an array of the `count` entries packed
//  (async_NAME_pack) in `entries` (NULL when count is 0)
void
    async_msg_batch (async_msg_t *msg, const char *key, uint32_t count,
                     const msgpack_sbuffer *entries);

typedef struct {
    const msgpack_object *array;
    uint32_t next;              //  the entry to read next
    uint32_t count;             //  the entries read, at most `max`
    uint32_t ignored;           //  the entries past `max`
} async_batch_t;

//  Start reading the batch `key` of an incoming body, at most `max`
//  entries (0: no limit): true when the body has the key (false: it is
//  not a batch); a key that is no array has no entry. The entries past
//  `max` are not read; batch->ignored says how many there are, for the
//  caller to log once
bool
    async_batch_begin (async_batch_t *batch, const msgpack_object *body, const char *key,
                       uint32_t max);

//  The next entry that is a map (the others are skipped), or NULL at the
//  end: decode it with async_NAME_decode_map
const msgpack_object *
    async_batch_next (async_batch_t *batch);

//  A node's RESULT, kept until its ACK and sent again: `body` as
//  async_result_encode packs it, but with `started_ago_us` and
//  `ended_ago_us` (both sent, whatever has_ says) as fixed-width int64s at
//  *started_at and *ended_at of msg's buffer, for async_result_stamp to
//  rewrite at each send without packing the message again
void
    async_result_encode_stamped (async_msg_t *msg, uint64_t rid, const async_result_t *body,
                                 size_t *started_at, size_t *ended_at);

//  Write `value` at `at` of a frame made from such a RESULT (started_at or
//  ended_at): the frame's bytes, not a copy
void
    async_result_stamp (void *frame, size_t at, int64_t value);

//  Start `msg` as `command`, one of ASYNC_MSGS_EMPTY, with its empty body
void
    async_empty_encode (async_msg_t *msg, async_command_t command, uint64_t rid);

//  The field names of a typed command's body, separated by one space ("id
//  token"; "" for an empty body), for the tests; NULL when the command is
//  not typed
const char *
    async_msgs_fields (async_command_t command);

//  The same for each shape of a command's body (NODES: a list or one node),
//  in table order from 0: NULL past the last
const char *
    async_msgs_shape (async_command_t command, int shape);

#ifdef __cplusplus
}
#endif
#endif
