/*  =========================================================================
    async_job - the job record, as stored by the broker and as sent to
    clients. Opaque values (args, kwargs, result, failure, annotations,
    postprocess and callback specs) stay encoded msgpack: the broker never
    needs to look inside them.
    =========================================================================
*/
#ifndef ASYNC_JOB_H_INCLUDED
#define ASYNC_JOB_H_INCLUDED

#include "async_codec.h"
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ASYNC_PENDING = 0,
    ASYNC_ASSIGNED,
    ASYNC_ACTIVE,
    ASYNC_CALLBACKS,
    ASYNC_COMPLETED
} async_status_t;

typedef enum {
    ASYNC_KIND_TASK = 0,
    ASYNC_KIND_PARALLEL,
    ASYNC_KIND_SERIAL
} async_kind_t;

typedef enum {
    ASYNC_ROLE_JOB = 0,         //  submitted by a client or a task
    ASYNC_ROLE_CHILD,           //  a child of a parallel/serial parent
    ASYNC_ROLE_POSTPROCESS,     //  the postprocess of a parent
    ASYNC_ROLE_CALLBACK         //  a callback of its parent
} async_role_t;

typedef struct {
    uint8_t *data;
    size_t size;
} async_blob_t;

//  A job id as a job holds its children's and callbacks' (NUL-terminated)
typedef char async_job_id_t [ASYNC_ID_LEN];

typedef struct _async_job_t {
    char id [ASYNC_ID_LEN];
    async_kind_t kind;
    async_role_t role;
    char *task;                 //  NULL for parallel/serial parents
    async_blob_t args;          //  msgpack array
    async_blob_t kwargs;        //  msgpack map
    char *queue;
    int64_t priority;
    async_status_t status;
    uint64_t seq;               //  FIFO order within one priority
    async_blob_t result;        //  msgpack value, when completed with a result
    async_blob_t failure;       //  msgpack map, when completed with a failure
    int64_t submitted;          //  times: microseconds since the epoch, 0 = none
    int64_t begin_after;
    int64_t begin_by;           //  duration (us) after begin_after, 0 = none
    int64_t timeout;            //  run-time limit (us), 0 = none
    int64_t active_start;
    int64_t active_end;
    int64_t completed_at;
    int64_t not_before;         //  retry backoff: not handed out before this
    int attempts;
    int interruptions;
    uint64_t token;             //  fencing token of the current attempt
    char node [ASYNC_ID_LEN];
    char *agent;
    char *retry;                //  policy text; NULL = default for the role
    async_blob_t quotas;        //  msgpack array of names
    char *key;
    char parent [ASYNC_ID_LEN];
    int child_index;            //  position among the parent's children
    async_job_id_t *children;   //  ids, for parallel/serial parents
    size_t nchildren;
    size_t children_done;
    async_blob_t postprocess;   //  msgpack map (a job spec), parents only
    char postprocess_id [ASYNC_ID_LEN];   //  the postprocess job once created
    async_job_id_t *callbacks;  //  ids of submitted callbacks
    size_t ncallbacks;
    async_blob_t annotations;   //  msgpack map
    async_blob_t progress;      //  msgpack value, nil when none
    char handoff [ASYNC_ID_LEN];          //  the job whose result this one waits for
    bool held;                  //  a serial child not yet released
    int on;                     //  callbacks: 0 always, 1 success, 2 failure
    int callbacks_next;         //  callbacks started so far, in order
    int64_t cancelled_at;       //  cancellation requested (us), 0 = not
    bool dirty;                 //  in memory only: staged for the next write
    //  In memory only: active_start and cancelled_at on the monotonic
    //  clock, which measures the run-time limit and the cancel grace (a
    //  step of the wall clock must neither fire nor delay them); 0 = not
    //  known yet (a job read back after a restart: derived once from the
    //  wall-clock stamp)
    int64_t active_mono;
    int64_t cancel_mono;
} async_job_t;

//  Create an empty pending job with a fresh id. NULL only if out of memory.
async_job_t *
    async_job_new (void);

void
    async_job_destroy (async_job_t **self_p);

//  Status names ("pending"...), and back (-1 if unknown).
const char *
    async_status_name (async_status_t status);
int
    async_status_parse (const char *name);

//  Replace a blob with a copy of data (NULL/0 clears it).
void
    async_blob_set (async_blob_t *blob, const void *data, size_t size);
void
    async_blob_take (async_blob_t *blob, uint8_t *data, size_t size);
void
    async_blob_clear (async_blob_t *blob);

//  Set a job's strings (copies; NULL clears).
void
    async_job_set_str (char **field, const char *value);

//  Append a child / callback id.
void
    async_job_add_child (async_job_t *self, const char *id);
void
    async_job_add_callback (async_job_t *self, const char *id);

//  Encode the full record (storage and wire form). Packs one map.
void
    async_job_pack (async_job_t *self, msgpack_packer *pk);

//  Encode into a fresh buffer (malloc'd).
int
    async_job_encode (async_job_t *self, uint8_t **data, size_t *size);

//  Decode a record. NULL if malformed.
async_job_t *
    async_job_decode_object (const msgpack_object *object);
async_job_t *
    async_job_decode (const void *data, size_t size);

//  The job as JSON (docs/spec.md section 6). Caller owns the result.
json_t *
    async_job_to_json (async_job_t *self);

//  Failure objects: pack {"type", "message", "detail", "transient",
//  "node", "attempt"} into a fresh blob.
void
    async_failure_make (async_blob_t *blob, const char *type, const char *message,
                        const char *detail, bool transient, const char *node,
                        int attempt);

//  The failure's type / transient flag, read from a failure blob.
bool
    async_failure_transient (const async_blob_t *failure);
int
    async_failure_type (const async_blob_t *failure, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
