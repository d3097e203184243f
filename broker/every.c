/*  =========================================================================
    every - recurring schedules kept by the broker
    =========================================================================
*/
#define _GNU_SOURCE                 //  strdup, strndup also under -std=c11
#include "every.h"
#include "async_cron.h"
#include "keys.h"
#include "async_codec.h"
#include "async_util.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <czmq.h>
#include <inttypes.h>
#include <string.h>

#define EVERY_KEY_MAX   (1 + EVERY_MAX_NAME)        //  'e' + name
#define EVERY_ERR_MAX   300                         //  kept reason, bytes

//  "every:" + name + ":" + 19 digits (ticks are >= 0) fits a job's key
_Static_assert (6 + EVERY_MAX_NAME + 1 + 19 <= ASYNC_MAX_NAME,
                "a tick's idempotency key must fit ASYNC_MAX_NAME");

typedef struct {
    char *name;
    int64_t interval_us;
    uint8_t *spec;              //  the spec map, msgpack
    size_t spec_size;
    int64_t next_us;            //  wall clock of the next tick
    char last_job [ASYNC_ID_LEN];         //  "" = none yet
    uint64_t ticks;             //  ticks submitted
    char *last_error;           //  why the last submit was refused, or NULL
    uint64_t jobs;              //  jobs a tick (its spec's), >= 1
    char *cron;                 //  a cron schedule's expression, or NULL
    async_cron_t parsed;        //  ... parsed
    async_tz_t *tz;             //  ... on the clock of this zone
} schedule_t;

struct _every_t {
    store_t *store;             //  not owned
    zhashx_t *schedules;        //  name -> schedule_t, owned
    int64_t due;                //  earliest next_us, if due_known
    bool due_known;             //  false: recompute due
    int64_t last_now;           //  wall clock of the last every_tick, 0: none
    int64_t last_mono;          //  monotonic clock of the last every_tick
};

//  Clock-step re-anchoring logs one line a schedule for the first this
//  many schedules of a step, then one line for the rest
#define EVERY_REANCHOR_LINES    20

//  ---------------------------------------------------------------------
//  Schedules

//  Copy at most 64 bytes of `data` into buf (65 bytes) for an error or a
//  log line, with anything but printable ASCII, quotes and backslashes
//  shown as '?', so that the line stays one line
static const char *
s_printable (char *buf, const char *data, size_t size)
{
    size_t len = size > 64 ? 64 : size;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) data [i];
        buf [i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char) c : '?';
    }
    buf [len] = 0;
    return buf;
}

static void
s_schedule_destroy (schedule_t **self_p)
{
    schedule_t *self = *self_p;
    if (!self)
        return;
    free (self->name);
    free (self->spec);
    free (self->last_error);
    free (self->cron);
    async_tz_destroy (&self->tz);
    free (self);
    *self_p = NULL;
}

//  A cron schedule's next tick after `now`; INT64_MAX if none (out of range)
static int64_t
s_cron_next (const schedule_t *self, int64_t now)
{
    int64_t next = async_cron_next (&self->parsed, now < 0 ? 0 : now, self->tz);
    return next < 0 ? INT64_MAX : next;
}

//  The shortest gap between ticks of a cron expression over its next 1000
//  ticks from `now`, at least a minute: what it may cost, for every_rate
static int64_t
s_cron_interval (const async_cron_t *cron, const async_tz_t *tz, int64_t now)
{
    int64_t shortest = EVERY_INTERVAL_MAX;
    int64_t tick = async_cron_next (cron, now < 0 ? 0 : now, tz);
    for (int i = 0; i < 1000 && tick >= 0 && shortest > 60000000; i++) {
        int64_t next = async_cron_next (cron, tick, tz);
        if (next < 0)
            break;
        if (next - tick < shortest)
            shortest = next - tick;
        tick = next;
    }
    return shortest < 60000000 ? 60000000 : shortest;
}

static size_t
s_key (char *key, const char *name)
{
    assert (strlen (name) <= EVERY_MAX_NAME);
    return keys_name (key, KEYS_EVERY, name);
}

static void
s_schedule_stage (every_t *self, schedule_t *schedule)
{
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, async_sbuffer_write);
    msgpack_pack_map (&pk, schedule->cron ? 10 : 8);
    if (schedule->cron) {
        async_codec_pack_str (&pk, "cron");
        async_codec_pack_str (&pk, schedule->cron);
        async_codec_pack_str (&pk, "tz");
        async_codec_pack_str (&pk, async_tz_text (schedule->tz));
    }
    async_codec_pack_str (&pk, "name");
    async_codec_pack_str (&pk, schedule->name);
    async_codec_pack_str (&pk, "jobs");
    msgpack_pack_uint64 (&pk, schedule->jobs);
    async_codec_pack_str (&pk, "interval_us");
    msgpack_pack_int64 (&pk, schedule->interval_us);
    async_codec_pack_str (&pk, "spec");
    async_codec_pack_raw (&pk, schedule->spec, schedule->spec_size);
    async_codec_pack_str (&pk, "next_us");
    msgpack_pack_int64 (&pk, schedule->next_us);
    async_codec_pack_str (&pk, "last_job");
    async_codec_pack_str (&pk, schedule->last_job [0] ? schedule->last_job : NULL);
    async_codec_pack_str (&pk, "ticks");
    msgpack_pack_uint64 (&pk, schedule->ticks);
    async_codec_pack_str (&pk, "last_error");
    async_codec_pack_str (&pk, schedule->last_error);

    char key [EVERY_KEY_MAX];
    store_put (self->store, key, s_key (key, schedule->name), buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

//  Decode a stored record; NULL (with the reason in *why) if malformed
static schedule_t *
s_schedule_decode (const char *data, size_t size, const char **why)
{
    if (async_codec_check (data, size)) {
        *why = "not one msgpack value";
        return NULL;
    }
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    schedule_t *self = NULL;
    if (msgpack_unpack_next (&unpacked, data, size, &offset) != MSGPACK_UNPACK_SUCCESS) {
        *why = "not one msgpack value";
        goto done;
    }
    const msgpack_object *map = &unpacked.data;
    self = (schedule_t *) async_xcalloc (1, sizeof (schedule_t));
    assert (self);
    self->name = async_mp_strdup (map, "name");
    if (!self->name || !every_name_valid (self->name)) {
        *why = "bad name";
        goto fail;
    }
    if (async_mp_int (map, "interval_us", &self->interval_us)
    ||  self->interval_us < EVERY_INTERVAL_MIN || self->interval_us > EVERY_INTERVAL_MAX) {
        *why = "bad interval_us";
        goto fail;
    }
    const msgpack_object *spec = async_mp_get (map, "spec");
    if (!spec || spec->type != MSGPACK_OBJECT_MAP
    ||  async_codec_copy_object (spec, &self->spec, &self->spec_size)) {
        *why = "bad spec";
        goto fail;
    }
    if (async_mp_int (map, "next_us", &self->next_us) || self->next_us < 0) {
        *why = "bad next_us";
        goto fail;
    }
    const msgpack_object *last_job = async_mp_get (map, "last_job");
    if (last_job && last_job->type != MSGPACK_OBJECT_NIL
    &&  async_mp_strcpy (last_job, self->last_job, sizeof self->last_job)) {
        *why = "bad last_job";
        goto fail;
    }
    if (async_mp_uint (map, "ticks", &self->ticks)) {
        *why = "bad ticks";
        goto fail;
    }
    //  Optional: a string, or nil / absent
    self->last_error = async_mp_strdup (map, "last_error");
    //  Optional: a cron schedule's expression and offset (interval_us is
    //  then the shortest gap between its ticks, for the budgets)
    self->cron = async_mp_strdup (map, "cron");
    if (self->cron) {
        char err [300], tz [ASYNC_TZ_NAME_MAX + 1];
        if (async_cron_parse (self->cron, &self->parsed, err, sizeof err)
        ||  async_mp_str (map, "tz", tz, sizeof tz)) {
            *why = "bad cron";
            goto fail;
        }
        //  A zone whose file is gone now: the schedule is kept on UTC
        //  (logged), rather than lost
        self->tz = async_tz_new (tz, err, sizeof err);
        if (!self->tz) {
            async_log_error ("every", "every.tz_missing", "schedule=%s tz=%s reason=\"%s; "
                             "the schedule ticks on UTC until set again\"", self->name,
                             tz, err);
            self->tz = async_tz_new ("UTC", err, sizeof err);
        }
    }
    //  Optional (absent in records written by older brokers: one job)
    self->jobs = 1;
    if (async_mp_get (map, "jobs")
    &&  (async_mp_uint (map, "jobs", &self->jobs) || self->jobs < 1
    ||   self->jobs > EVERY_JOBS_MAX)) {
        *why = "bad jobs";
        goto fail;
    }
    goto done;

fail:
    s_schedule_destroy (&self);
done:
    msgpack_unpacked_destroy (&unpacked);
    return self;
}

//  ---------------------------------------------------------------------
//  Constructor, destructor

int
every_new (store_t *store, every_t **self_p)
{
    assert (store);
    assert (self_p);
    every_t *self = (every_t *) async_xcalloc (1, sizeof (every_t));
    assert (self);
    self->store = store;
    self->schedules = zhashx_new ();
    assert (self->schedules);
    zhashx_set_destructor (self->schedules, (zhashx_destructor_fn *) s_schedule_destroy);

    store_iter_t *iter = store_iter_new (store, KEYS_PREFIX (KEYS_EVERY), 1);
    while (store_iter_valid (iter)) {
        size_t key_size, value_size;
        const char *key = store_iter_key (iter, &key_size);
        const char *value = store_iter_value (iter, &value_size);
        const char *why = NULL;
        schedule_t *schedule = s_schedule_decode (value, value_size, &why);
        if (schedule
        &&  (key_size != 1 + strlen (schedule->name)
        ||   memcmp (key + 1, schedule->name, key_size - 1))) {
            why = "name differs from key";
            s_schedule_destroy (&schedule);
        }
        if (schedule)
            zhashx_update (self->schedules, schedule->name, schedule);
        else
        {
            char shown [65];
            async_log_error ("every", "every.skipped_record", "key=%s reason=\"%s\"",
                             s_printable (shown, key, key_size), why);
        }
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    *self_p = self;
    return 0;
}

void
every_destroy (every_t **self_p)
{
    assert (self_p);
    every_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->schedules);
    free (self);
    *self_p = NULL;
}

size_t
every_size (every_t *self)
{
    assert (self);
    return zhashx_size (self->schedules);
}

bool
every_has (every_t *self, const char *name)
{
    assert (self);
    return zhashx_lookup (self->schedules, name) != NULL;
}

//  ---------------------------------------------------------------------
//  Methods

bool
every_name_valid (const char *name)
{
    if (!name)
        return false;
    size_t len = strlen (name);
    if (len == 0 || len > EVERY_MAX_NAME)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
        ||    (*c >= '0' && *c <= '9') || strchr ("_-.:", *c)))
            return false;
    return true;
}

//  every_set and every_set_cron: `cron` NULL for an interval schedule
static int
s_set (every_t *self, const char *name, int64_t interval_us, const char *cron,
       const char *tz, const msgpack_object *spec, size_t jobs, int64_t now, char *err,
       size_t err_size)
{
    assert (self);
    assert (err);
    if (!every_name_valid (name)) {
        char shown [65];
        s_printable (shown, name ? name : "", name ? strlen (name) : 0);
        snprintf (err, err_size, "bad schedule name '%s': use 1-%d letters, "
                  "digits and _-.:", shown, EVERY_MAX_NAME);
        return -1;
    }
    if (interval_us < EVERY_INTERVAL_MIN || interval_us > EVERY_INTERVAL_MAX) {
        snprintf (err, err_size, "bad interval for schedule '%s': give 1s to 366d",
                  name);
        return -1;
    }
    if (!spec || spec->type != MSGPACK_OBJECT_MAP) {
        snprintf (err, err_size, "bad spec for schedule '%s': the job spec must be "
                  "a map", name);
        return -1;
    }
    if (jobs < 1 || jobs > EVERY_JOBS_MAX) {
        snprintf (err, err_size, "bad spec for schedule '%s': %zu jobs a tick (give "
                  "1 to %d)", name, jobs, EVERY_JOBS_MAX);
        return -1;
    }
    if (now < 0 || now > INT64_MAX - interval_us) {
        snprintf (err, err_size, "bad clock for schedule '%s': now is out of range",
                  name);
        return -1;
    }
    schedule_t *schedule = (schedule_t *) async_xcalloc (1, sizeof (schedule_t));
    assert (schedule);
    schedule->name = async_xstrdup (name);
    schedule->interval_us = interval_us;
    schedule->jobs = jobs;
    schedule->next_us = now + interval_us;
    if (cron) {
        schedule->tz = async_tz_new (tz ? tz : "UTC", err, err_size);
        if (!schedule->tz || async_cron_parse (cron, &schedule->parsed, err, err_size)) {
            s_schedule_destroy (&schedule);
            return -1;
        }
        schedule->cron = async_xstrdup (cron);
        schedule->next_us = s_cron_next (schedule, now);
    }
    if (!schedule->name
    ||  async_codec_copy_object (spec, &schedule->spec, &schedule->spec_size)) {
        s_schedule_destroy (&schedule);
        snprintf (err, err_size, "cannot store schedule '%s': out of memory", name);
        return -1;
    }
    zhashx_update (self->schedules, schedule->name, schedule);
    self->due_known = false;
    s_schedule_stage (self, schedule);
    async_log_info ("every", "every.set", "schedule=%s interval_us=%" PRId64
                    " next_us=%" PRId64, name, interval_us, schedule->next_us);
    return 0;
}

int
every_set (every_t *self, const char *name, int64_t interval_us,
           const msgpack_object *spec, size_t jobs, int64_t now, char *err,
           size_t err_size)
{
    return s_set (self, name, interval_us, NULL, NULL, spec, jobs, now, err, err_size);
}

int64_t
every_cron_interval (const char *cron, const char *tz, int64_t now, char *err,
                     size_t err_size)
{
    async_cron_t parsed;
    if (!cron || async_cron_parse (cron, &parsed, err, err_size))
        return -1;
    async_tz_t *zone = async_tz_new (tz ? tz : "UTC", err, err_size);
    if (!zone)
        return -1;
    int64_t interval = s_cron_interval (&parsed, zone, now);
    async_tz_destroy (&zone);
    return interval;
}

int
every_set_cron (every_t *self, const char *name, const char *cron, const char *tz,
                const msgpack_object *spec, size_t jobs, int64_t now, char *err,
                size_t err_size)
{
    int64_t interval_us = every_cron_interval (cron, tz, now, err, err_size);
    if (interval_us < 0)
        return -1;
    return s_set (self, name, interval_us, cron, tz, spec, jobs, now, err, err_size);
}

int
every_delete (every_t *self, const char *name)
{
    assert (self);
    if (!every_name_valid (name) || !zhashx_lookup (self->schedules, name))
        return -1;
    char key [EVERY_KEY_MAX];
    store_delete (self->store, key, s_key (key, name));
    zhashx_delete (self->schedules, name);
    self->due_known = false;
    async_log_info ("every", "every.deleted", "schedule=%s", name);
    return 0;
}

void
every_pack_list (every_t *self, msgpack_packer *pk)
{
    assert (self);
    assert (pk);
    zlistx_t *names = zhashx_keys (self->schedules);
    assert (names);
    zlistx_set_comparator (names, (zlistx_comparator_fn *) strcmp);
    zlistx_sort (names);
    msgpack_pack_array (pk, (uint32_t) zlistx_size (names));
    const char *name = (const char *) zlistx_first (names);
    while (name) {
        schedule_t *schedule = (schedule_t *) zhashx_lookup (self->schedules, name);
        assert (schedule);
        char next [40];
        msgpack_pack_map (pk, schedule->cron ? 9 : 7);
        async_codec_pack_str (pk, "name");
        async_codec_pack_str (pk, schedule->name);
        async_codec_pack_str (pk, "interval");
        if (schedule->cron) {
            msgpack_pack_nil (pk);
            async_codec_pack_str (pk, "cron");
            async_codec_pack_str (pk, schedule->cron);
            async_codec_pack_str (pk, "tz");
            async_codec_pack_str (pk, async_tz_text (schedule->tz));
        }
        else
            msgpack_pack_double (pk, (double) schedule->interval_us / 1e6);
        async_codec_pack_str (pk, "spec");
        async_codec_pack_raw (pk, schedule->spec, schedule->spec_size);
        async_codec_pack_str (pk, "next");
        async_codec_pack_str (pk, async_format_time (schedule->next_us, next, sizeof next));
        async_codec_pack_str (pk, "last_job");
        async_codec_pack_str (pk, schedule->last_job [0] ? schedule->last_job : NULL);
        async_codec_pack_str (pk, "ticks");
        msgpack_pack_uint64 (pk, schedule->ticks);
        async_codec_pack_str (pk, "last_error");
        async_codec_pack_str (pk, schedule->last_error);
        name = (const char *) zlistx_next (names);
    }
    zlistx_destroy (&names);
}

uint64_t
every_rate (every_t *self, const char *except)
{
    assert (self);
    uint64_t rate = 0;
    schedule_t *schedule = (schedule_t *) zhashx_first (self->schedules);
    while (schedule) {
        //  jobs * 10^9 / interval, rounded up: at most 10^4 * 10^9 / 10^6
        //  a schedule, 10^9 for 10^4 schedules
        if (!except || strcmp (schedule->name, except))
            rate += (schedule->jobs * 1000000000ULL + (uint64_t) schedule->interval_us - 1)
                  / (uint64_t) schedule->interval_us;
        schedule = (schedule_t *) zhashx_next (self->schedules);
    }
    return rate;
}

int64_t
every_next_due (every_t *self)
{
    assert (self);
    if (!self->due_known) {
        self->due = INT64_MAX;
        schedule_t *schedule = (schedule_t *) zhashx_first (self->schedules);
        while (schedule) {
            if (schedule->next_us < self->due)
                self->due = schedule->next_us;
            schedule = (schedule_t *) zhashx_next (self->schedules);
        }
        self->due_known = true;
    }
    return self->due;
}

//  Submit one due schedule and advance it to the first tick time after
//  `now`, on its grid: the ticks that fell due meanwhile (the broker was
//  down, paused or held up, its clock jumped) are coalesced into this one
//  run. `why`: what kept the ticks from running, for every.skipped
static void
s_schedule_run (every_t *self, schedule_t *schedule, int64_t now, const char *why,
                every_submit_fn *submit, void *arg)
{
    assert (schedule->next_us <= now);
    int64_t tick = schedule->next_us;
    int64_t interval = schedule->interval_us;
    uint64_t gap = (uint64_t) now - (uint64_t) tick;
    uint64_t missed = gap / (uint64_t) interval;
    int64_t last = tick + (int64_t) (missed * (uint64_t) interval);
    if (schedule->cron) {
        //  The cron ticks after this one up to now, counted up to 1000 (a
        //  long outage of a busy schedule must not hold the loop up)
        missed = 0;
        last = tick;
        for (int64_t next = s_cron_next (schedule, tick); next <= now && missed < 1000;
             next = s_cron_next (schedule, next)) {
            missed++;
            last = next;
        }
    }
    if (missed > 0) {
        char from [40], to [40];
        async_log_warning ("every", "every.skipped", "schedule=%s tick=%s ticks=%" PRIu64
                           " last=%s reason=\"%s when these ticks fell due; one job "
                           "runs for them all\"", schedule->name,
                           async_format_time (tick, from, sizeof from), missed,
                           async_format_time (last, to, sizeof to), why);
    }
    if (schedule->cron)
        schedule->next_us = s_cron_next (schedule, now);
    else
    if (now > INT64_MAX - interval)
        schedule->next_us = INT64_MAX;          //  the clock is out of range
    else
        schedule->next_us = now - (int64_t) (gap % (uint64_t) interval) + interval;

    char key [ASYNC_MAX_NAME + 1];
    int key_size = snprintf (key, sizeof key, "every:%s:%" PRId64, schedule->name, tick);
    assert (key_size > 0 && key_size <= ASYNC_MAX_NAME);
    (void) key_size;
    char id [ASYNC_ID_LEN] = "";
    char err [EVERY_ERR_MAX] = "";
    int rc = -1;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    if (msgpack_unpack_next (&unpacked, (const char *) schedule->spec, schedule->spec_size,
                             &offset) != MSGPACK_UNPACK_SUCCESS)
        snprintf (err, sizeof err, "the stored spec does not decode");
    else
        rc = submit (arg, &unpacked.data, key, id, err, sizeof err);
    msgpack_unpacked_destroy (&unpacked);

    free (schedule->last_error);
    schedule->last_error = NULL;
    if (rc == 0) {
        snprintf (schedule->last_job, sizeof schedule->last_job, "%s", id);
        schedule->ticks++;
        async_log_info ("every", "every.tick", "schedule=%s tick=%" PRId64 " job=%s",
                        schedule->name, tick, schedule->last_job);
    }
    else {
        if (!err [0])
            snprintf (err, sizeof err, "refused");
        schedule->last_error = async_xstrdup (err);
        async_log_warning ("every", "every.failed", "schedule=%s tick=%" PRId64
                           " reason=\"%s\"", schedule->name, tick, err);
    }
    //  After the submit's writes, in the same batch
    s_schedule_stage (self, schedule);
}

//  Re-anchor every schedule whose next tick is more than one interval
//  after `now` (the wall clock was stepped back, maybe while the broker
//  was down) to now + interval, and stage it: else the schedule stays
//  silent for as long as the step
static void
s_reanchor (every_t *self, int64_t now)
{
    size_t moved = 0;
    int64_t back_max = 0;
    schedule_t *schedule = (schedule_t *) zhashx_first (self->schedules);
    while (schedule) {
        //  A cron schedule's next tick is the first after now
        int64_t anchored = schedule->cron ? s_cron_next (schedule, now)
                         : now <= INT64_MAX - schedule->interval_us
                         ? now + schedule->interval_us : INT64_MAX;
        if (schedule->next_us > now && anchored < schedule->next_us
        &&  schedule->next_us - now > schedule->interval_us
        &&  now <= INT64_MAX - schedule->interval_us) {
            int64_t back = schedule->next_us - now - schedule->interval_us;
            if (back > back_max)
                back_max = back;
            if (moved < EVERY_REANCHOR_LINES) {
                char was [40], next [40];
                async_log_warning ("every", "every.reanchored", "schedule=%s next_was=%s "
                                   "next=%s reason=\"the wall clock is %.3f s behind "
                                   "the schedule's grid (it was stepped back); the "
                                   "next tick is one interval from now\"",
                                   schedule->name,
                                   async_format_time (schedule->next_us, was, sizeof was),
                                   async_format_time (anchored, next, sizeof next),
                                   (double) back / 1e6);
            }
            schedule->next_us = anchored;
            s_schedule_stage (self, schedule);
            moved++;
        }
        schedule = (schedule_t *) zhashx_next (self->schedules);
    }
    if (moved > EVERY_REANCHOR_LINES)
        async_log_warning ("every", "every.reanchored", "schedules=%zu named=%d "
                           "back_s=%.3f reason=\"the wall clock was stepped back; "
                           "these schedules' next ticks are one interval from now\"",
                           moved, EVERY_REANCHOR_LINES, (double) back_max / 1e6);
    if (moved)
        self->due_known = false;
}

size_t
every_tick (every_t *self, int64_t now, every_submit_fn *submit, void *arg)
{
    return every_tick_some (self, now, async_mono_us (), SIZE_MAX, submit, arg);
}

size_t
every_tick_some (every_t *self, int64_t now, int64_t mono, size_t max_jobs,
                 every_submit_fn *submit, void *arg)
{
    assert (self);
    assert (submit);
    //  The first look (the clock may have been stepped back while the
    //  broker was down), and whenever the clock went back since the last
    if (self->last_now == 0 || now < self->last_now)
        s_reanchor (self, now);
    //  What kept a late schedule from ticking, for every.skipped
    char why [200];
    if (self->last_now == 0)
        snprintf (why, sizeof why, "the broker was not running (down, or starting)");
    else {
        int64_t wall_gap = now - self->last_now;
        int64_t mono_gap = mono - self->last_mono;
        if (wall_gap - mono_gap > 1000000)
            snprintf (why, sizeof why, "the wall clock jumped %.3f s ahead",
                      (double) (wall_gap - mono_gap) / 1e6);
        else
        if (mono_gap > 1000000)
            snprintf (why, sizeof why, "the broker did not look at its schedules for "
                      "%.3f s (it was paused, held up by other work, or its disk was "
                      "under its reserve)", (double) mono_gap / 1e6);
        else
            snprintf (why, sizeof why, "the broker was busy with other schedules' "
                      "ticks (at most a bounded number of jobs a loop turn)");
    }
    self->last_now = now;
    self->last_mono = mono;
    if (every_next_due (self) > now)
        return 0;

    size_t ran = 0, jobs = 0;
    schedule_t *schedule = (schedule_t *) zhashx_first (self->schedules);
    while (schedule && jobs < max_jobs) {
        //  One run however many ticks are due, as cron and its kin do
        if (schedule->next_us <= now) {
            s_schedule_run (self, schedule, now, why, submit, arg);
            ran++;
            jobs += schedule->jobs;
        }
        schedule = (schedule_t *) zhashx_next (self->schedules);
    }
    self->due_known = false;
    return ran;
}
