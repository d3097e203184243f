/*  =========================================================================
    spec - job specs into job records; retry policies
    =========================================================================
*/
#include "spec.h"
#include "async_util.h"
#include "async_alloc.h"
#include <limits.h>
#include <math.h>
#include <stdarg.h>

#define S_MAX_CHILDREN 100000

int
policy_parse (const char *text, bool callback, policy_t *policy,
              char *err, size_t err_size)
{
    if (!text || !*text)
        text = callback ? "forever" : "default";
    if (strcmp (text, "default") == 0) {
        *policy = (policy_t) { 5, 10, 0, 0, 2.0, 0 };
        return 0;
    }
    if (strcmp (text, "forever") == 0) {
        *policy = (policy_t) { INT_MAX, -1, 1000000, 60000000, 0, 0 };
        return 0;
    }
    if (strcmp (text, "never") == 0) {
        *policy = (policy_t) { 1, 0, 0, 0, 2.0, 0 };
        return 0;
    }
    //  attempts=N,backoff=1s..60s,factor=2,interruptions=M; or a linear
    //  backoff, backoff=5s+5s..60s (5 s, then 5 s more a try, up to 60 s)
    *policy = (policy_t) { 5, 10, 0, 0, 2.0, 0 };
    char *copy = async_xstrdup (text);
    char *save = NULL;
    int rc = 0;
    //  Each option once: "attempts=3,attempts=4" is a mistake, not a choice
    static const char *names [] = { "attempts", "interruptions", "factor", "backoff" };
    bool seen [4] = { false };
    for (char *item = strtok_r (copy, ",", &save); item && rc == 0;
         item = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (item, '=');
        if (!eq) {
            rc = -1;
            break;
        }
        *eq = 0;
        for (int i = 0; i < 4; i++)
            if (strcmp (item, names [i]) == 0) {
                rc = seen [i] ? -1 : 0;
                seen [i] = true;
            }
        if (rc)
            break;
        const char *value = eq + 1;
        char *end = NULL;
        if (strcmp (item, "attempts") == 0) {
            long n = strtol (value, &end, 10);
            if (end == value || *end || n < 1 || n > 1000000)
                rc = -1;
            policy->attempts = (int) n;
        }
        else
        if (strcmp (item, "interruptions") == 0) {
            long n = strtol (value, &end, 10);
            if (end == value || *end || n < 0 || n > 1000000)
                rc = -1;
            policy->interruptions = (int) n;
        }
        else
        if (strcmp (item, "factor") == 0) {
            double f = strtod (value, &end);
            if (*end || !isfinite (f) || f < 1 || f > 100)
                rc = -1;
            policy->factor = f;
        }
        else
        if (strcmp (item, "backoff") == 0) {
            char *range = async_xstrdup (value);
            char *dots = strstr (range, "..");
            char *plus = strchr (range, '+');
            if (plus && (!dots || plus > dots))
                rc = -1;        //  a linear backoff needs its cap
            else
            if (plus) {
                *plus = 0;
                *dots = 0;
                if (async_parse_duration (range, false, &policy->backoff_min)
                ||  async_parse_duration (plus + 1, false, &policy->backoff_step)
                ||  policy->backoff_step <= 0
                ||  async_parse_duration (dots + 2, false, &policy->backoff_max))
                    rc = -1;
            }
            else
            if (dots) {
                *dots = 0;
                if (async_parse_duration (range, false, &policy->backoff_min)
                ||  async_parse_duration (dots + 2, false, &policy->backoff_max))
                    rc = -1;
            }
            else {
                if (async_parse_duration (range, false, &policy->backoff_min))
                    rc = -1;
                policy->backoff_max = policy->backoff_min;
            }
            if (policy->backoff_max < policy->backoff_min)
                rc = -1;
            free (range);
        }
        else
            rc = -1;
    }
    free (copy);
    if (rc == 0 && policy->backoff_step > 0 && seen [2])
        rc = -1;                //  linear or geometric, not both
    if (rc) {
        //  One line: the user's text may hold anything
        char shown [64];
        snprintf (shown, sizeof shown, "%s", text);
        for (char *c = shown; *c; c++)
            if ((unsigned char) *c < 0x20 || *c == 0x7f)
                *c = '?';
        snprintf (err, err_size, "retry policy '%s' is not default, forever, never "
                  "or attempts=N,backoff=1s..60s,factor=2,interruptions=M (each at "
                  "most once; or a linear backoff=5s+5s..60s, without factor)", shown);
    }
    return rc;
}

int64_t
policy_backoff (const policy_t *policy, int attempt)
{
    if (policy->backoff_min <= 0 && policy->backoff_step <= 0)
        return 0;
    double delay;
    if (policy->backoff_step > 0)
        delay = (double) policy->backoff_min
              + (double) policy->backoff_step * (attempt > 1 ? attempt - 1 : 0);
    else
    if (policy->factor <= 0)
        delay = (double) policy->backoff_min * (attempt < 1 ? 1 : attempt);
    else
        delay = (double) policy->backoff_min * pow (policy->factor, attempt > 1 ? attempt - 1 : 0);
    if (delay > (double) policy->backoff_max)
        delay = (double) policy->backoff_max;
    return (int64_t) delay;
}

//  ---------------------------------------------------------------------

typedef struct {
    int64_t now;
    zlistx_t *jobs;
    char *err;
    size_t err_size;
    size_t count;
} s_ctx_t;

static int
s_fail (s_ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_fail (s_ctx_t *ctx, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (ctx->err, ctx->err_size, fmt, args);
    va_end (args);
    return -1;
}

bool
spec_annotation_reserved (const char *name, size_t size)
{
    size_t prefix = strlen (SPEC_RESERVED_ANNOTATIONS);
    return size >= prefix && memcmp (name, SPEC_RESERVED_ANNOTATIONS, prefix) == 0;
}

int
spec_annotations_set (async_blob_t *annotations, const char *name,
                      const msgpack_object *value, char *err, size_t err_size)
{
    //  Rebuild the annotations map with name set
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    uint32_t count = 0;
    const msgpack_object *map = NULL;
    if (annotations->size
    &&  msgpack_unpack_next (&unpacked, (const char *) annotations->data,
                             annotations->size, &offset) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP)
        map = &unpacked.data;
    for (uint32_t i = 0; map && i < map->via.map.size; i++)
        if (!async_mp_streq (&map->via.map.ptr [i].key, name))
            count++;
    msgpack_pack_map (&pk, count + 1);
    for (uint32_t i = 0; map && i < map->via.map.size; i++)
        if (!async_mp_streq (&map->via.map.ptr [i].key, name)) {
            msgpack_pack_object (&pk, map->via.map.ptr [i].key);
            msgpack_pack_object (&pk, map->via.map.ptr [i].val);
        }
    async_codec_pack_str (&pk, name);
    msgpack_pack_object (&pk, *value);
    msgpack_unpacked_destroy (&unpacked);
    if (buffer.size > SPEC_ANNOTATIONS_MAX) {
        //  Every later read and write of the job carries them all
        snprintf (err, err_size, "the job's annotations would take %zu bytes; at most %d",
                  buffer.size, SPEC_ANNOTATIONS_MAX);
        msgpack_sbuffer_destroy (&buffer);
        return -1;
    }
    async_blob_take (annotations, (uint8_t *) buffer.data, buffer.size);
    return 0;
}

bool
spec_name_valid (const char *name)
{
    if (!name || !*name || strlen (name) > ASYNC_MAX_NAME)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum ((unsigned char) *p) && !strchr ("_-.:", *p))
            return false;
    return true;
}

//  A duration option: a string DUR or a number of seconds
static int
s_duration (s_ctx_t *ctx, const msgpack_object *spec, const char *key, int64_t *usecs)
{
    const msgpack_object *o = async_mp_get (spec, key);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    double seconds;
    if (o->type == MSGPACK_OBJECT_STR) {
        char text [64];
        if (async_mp_strcpy (o, text, sizeof text)
        ||  async_parse_duration (text, false, usecs))
            return s_fail (ctx, "%s must be a duration such as 30s, 5m or 1.5h", key);
        return 0;
    }
    if (async_mp_double (spec, key, &seconds)
    ||  async_seconds_to_us (seconds, 0, ASYNC_DURATION_MAX_S, usecs))
        return s_fail (ctx, "%s must be a duration such as 30s, 5m or 1.5h", key);
    return 0;
}

static int
s_parse_one (s_ctx_t *ctx, const msgpack_object *spec, async_job_t *parent,
             async_kind_t parent_kind, int index, async_role_t role);

//  Parse a spec below `parent`; the job it made (its descendants follow
//  it in the list), or NULL
static async_job_t *
s_parse_child (s_ctx_t *ctx, const msgpack_object *spec, async_job_t *parent,
               async_kind_t parent_kind, int index, async_role_t role)
{
    size_t before = zlistx_size (ctx->jobs);
    if (s_parse_one (ctx, spec, parent, parent_kind, index, role))
        return NULL;
    async_job_t *first = (async_job_t *) zlistx_last (ctx->jobs);
    size_t added = zlistx_size (ctx->jobs) - before;
    for (size_t back = 1; back < added; back++)
        first = (async_job_t *) zlistx_prev (ctx->jobs);
    return first;
}

int
spec_callback_on (const msgpack_object *on)
{
    if (!on || on->type == MSGPACK_OBJECT_NIL || async_mp_streq (on, "always"))
        return 0;
    if (async_mp_streq (on, "success"))
        return 1;
    if (async_mp_streq (on, "failure"))
        return 2;
    return -1;
}

static int
s_options (s_ctx_t *ctx, const msgpack_object *spec, async_job_t *job, async_job_t *parent)
{
    const msgpack_object *o;
    //  queue
    o = async_mp_get (spec, "queue");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        char queue [ASYNC_MAX_NAME + 1];
        if (async_mp_strcpy (o, queue, sizeof queue) || !spec_name_valid (queue))
            return s_fail (ctx, "%s must be a name of letters, digits, _-.:", "queue");
        job->queue = async_xstrdup (queue);
    }
    else
        job->queue = async_xstrdup (parent && parent->queue ? parent->queue : "default");
    //  priority
    o = async_mp_get (spec, "priority");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if (async_mp_int (spec, "priority", &job->priority)
        ||  job->priority < -1000000000 || job->priority > 1000000000)
            return s_fail (ctx, "%s must be an integer", "priority");
    }
    //  begin_after: ISO-8601, relative, or epoch seconds
    o = async_mp_get (spec, "begin_after");
    job->begin_after = ctx->now;
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        char text [64];
        double seconds;
        if (o->type == MSGPACK_OBJECT_STR) {
            if (async_mp_strcpy (o, text, sizeof text)
            ||  async_parse_time (text, ctx->now, &job->begin_after))
                return s_fail (ctx, "%s must be ISO-8601 with Z or an offset, "
                               "or relative like +30s", "begin_after");
        }
        else
        if (async_mp_double (spec, "begin_after", &seconds) == 0) {
            //  Seconds since the epoch, years 1970 to 9999
            if (async_seconds_to_us (seconds, 0, 253402300799.0, &job->begin_after))
                return s_fail (ctx, "%s as a number must be seconds since the epoch",
                               "begin_after");
        }
        else
            return s_fail (ctx, "%s must be a time", "begin_after");
    }
    if (s_duration (ctx, spec, "begin_by", &job->begin_by)
    ||  s_duration (ctx, spec, "timeout", &job->timeout))
        return -1;
    //  retry
    o = async_mp_get (spec, "retry");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        char text [200];
        policy_t policy;
        if (async_mp_strcpy (o, text, sizeof text))
            return s_fail (ctx, "%s must be a string", "retry");
        if (policy_parse (text, false, &policy, ctx->err, ctx->err_size))
            return -1;
        job->retry = async_xstrdup (text);
    }
    //  quotas: array of names
    o = async_mp_get (spec, "quotas");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if (o->type != MSGPACK_OBJECT_ARRAY)
            return s_fail (ctx, "%s must be an array of names", "quotas");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            char name [ASYNC_MAX_NAME + 1];
            if (async_mp_strcpy (&o->via.array.ptr [i], name, sizeof name)
            ||  !spec_name_valid (name))
                return s_fail (ctx, "%s must be an array of names", "quotas");
        }
        if (o->via.array.size) {
            uint8_t *data;
            size_t size;
            async_codec_copy_object (o, &data, &size);
            async_blob_take (&job->quotas, data, size);
        }
    }
    //  key: the submitted job's alone (a key names what one SUBMIT made)
    o = async_mp_get (spec, "key");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if (parent)
            return s_fail (ctx, "%s is for the job submitted, not for its children, "
                           "callbacks or postprocess", "key");
        char key [ASYNC_MAX_NAME + 1];
        if (async_mp_strcpy (o, key, sizeof key) || !*key)
            return s_fail (ctx, "%s must be a non-empty string of at most 200 bytes", "key");
        job->key = async_xstrdup (key);
    }
    //  annotations: map
    o = async_mp_get (spec, "annotations");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if (o->type != MSGPACK_OBJECT_MAP)
            return s_fail (ctx, "%s must be an object", "annotations");
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *name = &o->via.map.ptr [i].key;
            if (name->type != MSGPACK_OBJECT_STR)
                return s_fail (ctx, "%s keys must be strings", "annotations");
            if (spec_annotation_reserved (name->via.str.ptr, name->via.str.size))
                return s_fail (ctx, "annotation names starting with '%s' are the broker's",
                               SPEC_RESERVED_ANNOTATIONS);
        }
        uint8_t *data;
        size_t size;
        async_codec_copy_object (o, &data, &size);
        if (size > SPEC_ANNOTATIONS_MAX) {
            free (data);
            return s_fail (ctx, "%s take more than %d bytes", "annotations",
                           SPEC_ANNOTATIONS_MAX);
        }
        async_blob_take (&job->annotations, data, size);
    }
    //  callbacks: job records now, started when the job has its outcome
    o = async_mp_get (spec, "callbacks");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if (o->type != MSGPACK_OBJECT_ARRAY)
            return s_fail (ctx, "%s must be an array", "callbacks");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            const msgpack_object *cb = &o->via.array.ptr [i];
            if (cb->type != MSGPACK_OBJECT_MAP)
                return s_fail (ctx, "%s must be objects", "callbacks");
            int on = spec_callback_on (async_mp_get (cb, "on"));
            if (on < 0)
                return s_fail (ctx, "%s: \"on\" must be always, success or failure",
                               "callbacks");
            async_job_t *callback = s_parse_child (ctx, cb, job, ASYNC_KIND_TASK, (int) i,
                                                   ASYNC_ROLE_CALLBACK);
            if (!callback)
                return -1;
            callback->on = on;
            async_job_add_callback (job, callback->id);
        }
    }
    return 0;
}

static int
s_parse_one (s_ctx_t *ctx, const msgpack_object *spec, async_job_t *parent,
             async_kind_t parent_kind, int index, async_role_t role)
{
    if (!spec || spec->type != MSGPACK_OBJECT_MAP)
        return s_fail (ctx, "a job spec must be an %s with \"task\", \"parallel\" or \"serial\"",
                       "object");
    if (++ctx->count > S_MAX_CHILDREN)
        return s_fail (ctx, "a spec may hold at most 100000 jobs; %s", "split the work");
    async_job_t *job = async_job_new ();
    job->role = role;
    job->submitted = ctx->now;
    job->status = ASYNC_PENDING;
    if (parent) {
        memcpy (job->parent, parent->id, ASYNC_ID_LEN);
        job->child_index = index;
        job->held = parent_kind == ASYNC_KIND_SERIAL && index > 0;
    }
    zlistx_add_end (ctx->jobs, job);   //  owned by the list from here

    //  A misspelt option must not be dropped without a word
    static const char *known [] = {
        "task", "args", "kwargs", "parallel", "serial", "postprocess", "queue",
        "priority", "begin_after", "begin_by", "timeout", "retry", "quotas", "key",
        "annotations", "callbacks", "on", NULL
    };
    for (uint32_t i = 0; i < spec->via.map.size; i++) {
        const msgpack_object *k = &spec->via.map.ptr [i].key;
        if (k->type != MSGPACK_OBJECT_STR)
            return s_fail (ctx, "job spec keys must be strings%s", "");
        const char **name = known;
        while (*name && (strlen (*name) != k->via.str.size
                     || memcmp (*name, k->via.str.ptr, k->via.str.size)))
            name++;
        if (!*name)
            return s_fail (ctx, "unknown option \"%.*s\" in a job spec; the options are "
                           "task, args, kwargs, parallel, serial, postprocess, queue, "
                           "priority, begin_after, begin_by, timeout, retry, quotas, key, "
                           "annotations, callbacks",
                           (int) (k->via.str.size > 64 ? 64 : k->via.str.size),
                           k->via.str.ptr);
    }
    const msgpack_object *task = async_mp_get (spec, "task");
    const msgpack_object *par = async_mp_get (spec, "parallel");
    const msgpack_object *ser = async_mp_get (spec, "serial");
    int forms = (task != NULL) + (par != NULL) + (ser != NULL);
    if (forms != 1)
        return s_fail (ctx, "a job spec needs exactly one of \"task\", \"parallel\", "
                       "\"serial\"%s", "");
    if (s_options (ctx, spec, job, parent))
        return -1;
    if (task) {
        char name [ASYNC_MAX_NAME + 1];
        if (async_mp_strcpy (task, name, sizeof name) || !async_task_name_valid (name))
            return s_fail (ctx, "task must be a name like module.function%s", "");
        const msgpack_object *post = async_mp_get (spec, "postprocess");
        if (post && post->type != MSGPACK_OBJECT_NIL)
            return s_fail (ctx, "%s is for parallel and serial jobs, not for a task",
                           "postprocess");
        job->task = async_xstrdup (name);
        const msgpack_object *args = async_mp_get (spec, "args");
        if (args && args->type != MSGPACK_OBJECT_NIL) {
            if (args->type != MSGPACK_OBJECT_ARRAY)
                return s_fail (ctx, "%s must be an array", "args");
            uint8_t *data;
            size_t size;
            async_codec_copy_object (args, &data, &size);
            async_blob_take (&job->args, data, size);
        }
        const msgpack_object *kwargs = async_mp_get (spec, "kwargs");
        if (kwargs && kwargs->type != MSGPACK_OBJECT_NIL) {
            if (kwargs->type != MSGPACK_OBJECT_MAP)
                return s_fail (ctx, "%s must be an object", "kwargs");
            for (uint32_t i = 0; i < kwargs->via.map.size; i++)
                if (kwargs->via.map.ptr [i].key.type != MSGPACK_OBJECT_STR)
                    return s_fail (ctx, "%s keys must be strings", "kwargs");
            uint8_t *data;
            size_t size;
            async_codec_copy_object (kwargs, &data, &size);
            async_blob_take (&job->kwargs, data, size);
        }
        return 0;
    }
    const msgpack_object *children = par ? par : ser;
    job->kind = par ? ASYNC_KIND_PARALLEL : ASYNC_KIND_SERIAL;
    if (children->type != MSGPACK_OBJECT_ARRAY || children->via.array.size == 0)
        return s_fail (ctx, "\"%s\" must be a non-empty array of job specs",
                       par ? "parallel" : "serial");
    const msgpack_object *post = async_mp_get (spec, "postprocess");
    if (post && post->type != MSGPACK_OBJECT_NIL) {
        //  Validated now, created when the children are done
        zlistx_t *scratch = zlistx_new ();
        zlistx_set_destructor (scratch, (zlistx_destructor_fn *) async_job_destroy);
        s_ctx_t sub = *ctx;
        sub.jobs = scratch;
        int rc = s_parse_one (&sub, post, job, ASYNC_KIND_TASK, 0, ASYNC_ROLE_POSTPROCESS);
        zlistx_destroy (&scratch);
        if (rc)
            return -1;
        uint8_t *data;
        size_t size;
        async_codec_copy_object (post, &data, &size);
        async_blob_take (&job->postprocess, data, size);
    }
    for (uint32_t i = 0; i < children->via.array.size; i++) {
        async_job_t *child = s_parse_child (ctx, &children->via.array.ptr [i], job,
                                            job->kind, (int) i, ASYNC_ROLE_CHILD);
        if (!child)
            return -1;
        async_job_add_child (job, child->id);
    }
    return 0;
}

int
spec_parse (const msgpack_object *spec, int64_t now, zlistx_t *jobs,
            char *err, size_t err_size)
{
    s_ctx_t ctx = { now, jobs, err, err_size, 0 };
    int rc = s_parse_one (&ctx, spec, NULL, ASYNC_KIND_TASK, 0, ASYNC_ROLE_JOB);
    if (rc)
        zlistx_purge (jobs);
    return rc;
}
