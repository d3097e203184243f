/*  =========================================================================
    asyncmesh/client.h - the client API: submit jobs, wait for results,
    inspect jobs and the broker.

    Every call that talks to the broker returns 0 or an error code of
    asyncmesh/error.h, which is also the documented exit code:
    ASYNC_EUNREACH (4) when the broker does not answer, ASYNC_ENOJOB (5),
    ASYNC_EREFUSED (6) when it refused (async_client_error () says why),
    ASYNC_ETIMEOUT (3) when a wait ran out.

    A client object belongs to one thread.
    =========================================================================
*/
#ifndef ASYNCMESH_CLIENT_H_INCLUDED
#define ASYNCMESH_CLIENT_H_INCLUDED

#include <stdint.h>
#include <jansson.h>
#include "error.h"
#include "export.h"
#include "id.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ASYNC_DEFAULT_ENDPOINT "tcp://127.0.0.1:9999"

typedef struct _async_client_t async_client_t;
typedef struct _async_spec_t async_spec_t;

//  ---------------------------------------------------------------------
//  The client

//  Create a client for the broker at `endpoint` (NULL: $ASYNC_BROKER, else
//  tcp://127.0.0.1:9999). Returns NULL and sets errno on failure (EINVAL:
//  not an endpoint). Does not wait for the broker: the first request
//  connects and waits.
ASYNC_EXPORT async_client_t *
    async_client_new (const char *endpoint);

//  Destroy the client and set *self_p to NULL.
ASYNC_EXPORT void
    async_client_destroy (async_client_t **self_p);

//  How long a request waits for the broker's answer before it gives up
//  with ASYNC_EUNREACH. Default 5000 ms.
ASYNC_EXPORT void
    async_client_set_timeout (async_client_t *self, int msecs);

//  Use CurveZMQ: our key pair (a zcert "_secret" file) and the broker's
//  public certificate. 0 or ASYNC_EINVAL (unreadable key file). Call it
//  before the first request: the client connects then. A broker that
//  refuses our key, or requires CURVE when we have none, fails the
//  request at once with ASYNC_EUNREACH; async_client_error () says which.
ASYNC_EXPORT int
    async_client_set_curve (async_client_t *self, const char *key_file,
                            const char *broker_public_file);

//  The broker's or the library's last error message for this client: one
//  line, saying what is wrong. Never NULL; "" if none.
ASYNC_EXPORT const char *
    async_client_error (async_client_t *self);

//  How many jobs of the last submit (async_submit_json, async_submit,
//  async_submit_many_json, async_submit_wait_json, ...) no live node
//  offered to take when the broker accepted them (`unservable` in the
//  ACCEPTED): they stay pending until such a node comes.
ASYNC_EXPORT size_t
    async_client_unservable (async_client_t *self);

//  ---------------------------------------------------------------------
//  The minimal JSON API (docs/spec.md section 1)

//  Submit a job spec given as JSON (as for `asyncctl submit --spec`).
//  On success writes the job id into id_out (ASYNC_ID_LEN bytes).
ASYNC_EXPORT int
    async_submit_json (async_client_t *self, const char *spec_json, char *id_out);

//  Wait until job `id` has completed (timeout_ms < 0: forever) and return
//  the job JSON of docs/spec.md section 6 in *job_json_out (malloc'd; caller
//  frees).
ASYNC_EXPORT int
    async_wait_json (async_client_t *self, const char *id, int timeout_ms,
                     char **job_json_out);

//  Submit a job and wait for its outcome in one request (the broker
//  registers the wait with the submit: one round trip fewer than
//  async_submit_json + async_wait_json). Writes the id (ASYNC_ID_LEN
//  bytes) and, on 0, the job JSON (caller frees); codes as those two.
ASYNC_EXPORT int
    async_submit_wait_json (async_client_t *self, const char *spec_json, int timeout_ms,
                            char *id_out, char **job_json_out);

//  Submit `count` specs at once: the requests are pipelined, so they
//  share round trips and the broker's group commit. Job i's id goes to
//  ids_out + i * ASYNC_ID_LEN; rcs_out (optional) gets each one's code.
//  Returns 0 when all were accepted, else the first error.
ASYNC_EXPORT int
    async_submit_many_json (async_client_t *self, const char *const *specs_json,
                            size_t count, char *ids_out, int *rcs_out);

//  Wait until all `count` jobs (ids as from async_submit_many_json) have
//  completed, with or without failure. 0, ASYNC_ETIMEOUT, ASYNC_EUNREACH,
//  or ASYNC_ENOJOB when an id is not a job id (or no such job exists).
//  *failed_out (optional) counts those that completed with a failure.
ASYNC_EXPORT int
    async_wait_all (async_client_t *self, const char *ids, size_t count, int timeout_ms,
                    size_t *failed_out);

//  Submit `count` specs and wait until all have completed, in one pipelined
//  exchange: each SUBMIT registers the wait (no WAIT requests), so this is
//  the fastest way to run a batch. Ids go to ids_out as for
//  async_submit_many_json; *failed_out (optional) counts the jobs that
//  completed with a failure. 0, or the first error (a refused submit stops
//  the batch: the jobs before it were accepted and are not waited for).
ASYNC_EXPORT int
    async_submit_wait_many_json (async_client_t *self, const char *const *specs_json,
                                 size_t count, int timeout_ms, char *ids_out,
                                 size_t *failed_out);

//  Called while waiting, as the broker pushes progress: a task's reported
//  progress, or a parent's children completed of all.
typedef void (async_progress_fn) (void *arg, int64_t done, int64_t total);

//  async_wait_json, calling `progress` (when not NULL) as the job advances.
ASYNC_EXPORT int
    async_wait_progress_json (async_client_t *self, const char *id, int timeout_ms,
                              async_progress_fn *progress, void *arg,
                              char **job_json_out);

//  ---------------------------------------------------------------------
//  Inspecting (JSON text out, caller frees)

//  The job JSON of job `id`.
ASYNC_EXPORT int
    async_job_json (async_client_t *self, const char *id, char **job_json_out);

//  Jobs matching `query`: a JSON object {"status": [..], "queue": Q,
//  "task": GLOB, "node": UUID, "limit": N} (every key optional). Returns a
//  JSON array of job objects: at most `limit` (default 1000; <= 0: all).
//  The broker answers in pages (docs/protocol.md, LIST); this call asks
//  page after page until it has them all, so a large listing takes several
//  round trips (and the broker serves everyone else in between).
ASYNC_EXPORT int
    async_jobs_json (async_client_t *self, const char *query_json, char **jobs_json_out);

//  Count jobs matching `query` (as for async_jobs_json, plus "since": seconds
//  for completed jobs, 0 to 1e12; another value is refused with
//  ASYNC_EREFUSED). Status may also be "succeeded" or "failed". Counted
//  page by page, as async_jobs_json lists: exact when no job changes
//  meanwhile.
ASYNC_EXPORT int
    async_count (async_client_t *self, const char *query_json, int64_t *count);

//  Broker status JSON (docs/spec.md section 5, `asyncctl status`).
ASYNC_EXPORT int
    async_status_json (async_client_t *self, char **status_json_out);

//  The nodes as a JSON array.
ASYNC_EXPORT int
    async_nodes_json (async_client_t *self, char **nodes_json_out);

//  One node in detail as a JSON object (docs/protocol.md, NODES with
//  `uuid`): `node` (as in async_nodes_json: agents with size, running,
//  filter, queues), `jobs` (its running jobs with their run time),
//  `tasks`, `heartbeat` and `dead_after` (seconds). ASYNC_ENOJOB when the
//  broker has no session of that uuid.
ASYNC_EXPORT int
    async_node_json (async_client_t *self, const char *uuid, char **node_json_out);

//  Cancel job `id`.
ASYNC_EXPORT int
    async_cancel (async_client_t *self, const char *id);

//  Retry job `id`, which completed with a failure: a new attempt, pending
//  in its queue for one more attempt (attempts count on); the failure is kept
//  in its annotation "asyncmesh.retries". ASYNC_EREFUSED for a job that
//  succeeded or has not completed, a child, callback or postprocess, or a
//  parallel or serial job (async_client_error says why).
ASYNC_EXPORT int
    async_retry (async_client_t *self, const char *id);

//  Delete job `id`, which completed, now rather than at the retention
//  purge. ASYNC_EREFUSED for a job that has not completed, a child,
//  callback or postprocess, or a parallel or serial job.
ASYNC_EXPORT int
    async_delete (async_client_t *self, const char *id);

//  Set annotation `name` of job `id` to a value given as JSON text.
ASYNC_EXPORT int
    async_annotate (async_client_t *self, const char *id, const char *name,
                    const char *value_json);

//  The annotations of job `id` as a JSON object.
ASYNC_EXPORT int
    async_annotations_json (async_client_t *self, const char *id, char **json_out);

//  Add a callback to job `id` in any status: `on` is "always", "success" or
//  "failure"; spec_json a job spec for a task. On a completed job it runs
//  at once. Writes the callback's id into id_out.
ASYNC_EXPORT int
    async_add_callback_json (async_client_t *self, const char *id, const char *on,
                             const char *spec_json, char *id_out);

//  Cluster quotas: at most `size` jobs naming the quota are assigned or
//  active at once, across all nodes. Persisted by the broker.
ASYNC_EXPORT int
    async_quota_set (async_client_t *self, const char *name, int64_t size);
ASYNC_EXPORT int
    async_quota_delete (async_client_t *self, const char *name);
//  JSON array of {"name", "size", "running"}
ASYNC_EXPORT int
    async_quota_list_json (async_client_t *self, char **json_out);

//  Pause the dispatch of queue `queue`'s jobs (they stay pending; submits
//  are still accepted), or resume it. Persisted by the broker; pausing a
//  paused queue or resuming a running one is no error. The paused queues
//  are STATUS's `paused`.
ASYNC_EXPORT int
    async_queue_pause (async_client_t *self, const char *queue);
ASYNC_EXPORT int
    async_queue_resume (async_client_t *self, const char *queue);

//  The jobs completed in the last `range` ("hour", "day", "week"; NULL:
//  hour) by step and queue, as a JSON object (docs/protocol.md, HISTORY).
ASYNC_EXPORT int
    async_history_json (async_client_t *self, const char *range, char **json_out);

//  Change agent `agent` of the live node `node` (its uuid) to `size`
//  slots and, when `filter` is not NULL, that task filter (globs,
//  comma-separated, '!' excluding: "pi.*,!pi.slow"); when `save` is not
//  0, the node rewrites its config file's entry for the agent too. Returns
//  once the node has applied it: 0; ASYNC_ENOJOB when there is no such
//  live node or agent, or the node went away; ASYNC_EREFUSED for a bad
//  size or filter, or when the node refused (async_client_error () says
//  why); ASYNC_ETIMEOUT when the node did not answer in time.
ASYNC_EXPORT int
    async_agent_set (async_client_t *self, const char *node, const char *agent,
                     int64_t size, const char *filter, int save);

//  Recurring schedules: every `interval_ms`, the broker submits spec_json
//  (a job spec), exactly once per tick, across broker restarts.
ASYNC_EXPORT int
    async_every_set_json (async_client_t *self, const char *name, int64_t interval_ms,
                          const char *spec_json);
//  The same on a cron expression, "MINUTE HOUR DAY MONTH WEEKDAY" (like
//  "*/5 * * * *"), in time zone `tz`: "UTC" (or NULL), a fixed offset
//  like "+01:00", or a tz database name like "Europe/Paris".
ASYNC_EXPORT int
    async_every_set_cron_json (async_client_t *self, const char *name, const char *cron,
                               const char *tz, const char *spec_json);
ASYNC_EXPORT int
    async_every_delete (async_client_t *self, const char *name);
//  JSON array of {"name", "interval", "spec", "next", "last_job", "ticks",
//  "last_error"}, and "cron" and "tz" for a cron schedule ("interval" null)
ASYNC_EXPORT int
    async_every_list_json (async_client_t *self, char **json_out);

//  ---------------------------------------------------------------------
//  The typed API: build a spec, submit it, read the result
//
//  Out of memory, a spec constructor returns NULL; every call below takes
//  a NULL spec (or child, or value: what json_integer () and the like
//  return out of memory) and returns ASYNC_ENOMEM, so a chain of calls
//  ending in async_submit needs one check, of its result. A JSON null is
//  json_null (), never NULL.

//  A job for `task` ("module.function").
ASYNC_EXPORT async_spec_t *
    async_spec_new (const char *task);

//  A parallel or serial parent; add children with async_spec_add_child.
ASYNC_EXPORT async_spec_t *
    async_spec_parallel (void);
ASYNC_EXPORT async_spec_t *
    async_spec_serial (void);

ASYNC_EXPORT void
    async_spec_destroy (async_spec_t **self_p);

//  Append a positional argument / set a keyword argument. Takes ownership
//  of `value`. Returns 0, or ASYNC_EINVAL.
ASYNC_EXPORT int
    async_spec_arg (async_spec_t *self, json_t *value);
ASYNC_EXPORT int
    async_spec_kwarg (async_spec_t *self, const char *name, json_t *value);

//  Set an option of docs/spec.md section 2 ("queue", "priority", "begin_after",
//  "begin_by", "timeout", "retry", "quotas", "key", "annotations").
//  Takes ownership of `value`.
ASYNC_EXPORT int
    async_spec_option (async_spec_t *self, const char *name, json_t *value);

//  Add a child to a parallel/serial parent; takes *child_p.
ASYNC_EXPORT int
    async_spec_add_child (async_spec_t *self, async_spec_t **child_p);

//  Set the postprocess job of a parallel/serial parent; takes *post_p.
ASYNC_EXPORT int
    async_spec_set_postprocess (async_spec_t *self, async_spec_t **post_p);

//  The spec as a JSON object (borrowed).
ASYNC_EXPORT json_t *
    async_spec_json (async_spec_t *self);

//  Submit a built spec.
ASYNC_EXPORT int
    async_submit (async_client_t *self, async_spec_t *spec, char *id_out);

//  Submit `count` built specs at once, pipelined (async_submit_many_json).
//  Job i's id goes to ids_out + i * ASYNC_ID_LEN; rcs_out (optional) gets
//  each one's code. 0 when all were accepted, else the first error.
ASYNC_EXPORT int
    async_submit_many (async_client_t *self, async_spec_t *const *specs, size_t count,
                       char *ids_out, int *rcs_out);

//  Submit a built spec and wait for its outcome in one request
//  (async_submit_wait_json). Writes the id (ASYNC_ID_LEN bytes); on 0 or
//  ASYNC_EFAILED *job_out is the job JSON object (caller json_decref's
//  it), as async_wait; other codes as async_submit_wait_json.
ASYNC_EXPORT int
    async_submit_wait (async_client_t *self, async_spec_t *spec, int timeout_ms,
                       char *id_out, json_t **job_out);

//  Wait for job `id`; on success *job_out is the job JSON object (caller
//  json_decref's it). Returns 0 when the job completed with a result,
//  ASYNC_EFAILED when it completed with a failure (*job_out set too).
ASYNC_EXPORT int
    async_wait (async_client_t *self, const char *id, int timeout_ms, json_t **job_out);

//  The result of a completed job JSON (borrowed), or NULL if it failed.
ASYNC_EXPORT json_t *
    async_job_result (json_t *job);

//  The failure object of a completed job JSON (borrowed), or NULL.
ASYNC_EXPORT json_t *
    async_job_failure (json_t *job);

#ifdef __cplusplus
}
#endif
#endif
