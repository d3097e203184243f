/*  =========================================================================
    history - completed jobs minute by minute, by queue (history.h)
    =========================================================================
*/
#include "history.h"
#include "keys.h"
#include "async_alloc.h"
#include "async_util.h"
#include <czmq.h>

#define S_MINUTE_US   60000000LL
//  An h key: the tag, the minute (be64), the queue
#define S_KEY_HEAD    9
//  Queues apart in an answer of history_json; the others go together
#define S_JSON_QUEUES 100
//  Keys deleted by one history_purge, at most
#define S_PURGE_KEYS  10000

typedef struct {
    uint64_t succeeded;
    uint64_t failed;
    bool dirty;  //  changed since history_stage
} s_count_t;

//  The counts of the day and of the week, added up by step (5 minutes,
//  an hour) in memory, so that an answer for those ranges reads no key:
//  a ring of the range's steps, each the queues counted in it (at most
//  S_JSON_QUEUES, the others together as HISTORY_OTHER). Loaded from the
//  h keys at the start, counted on by history_count
typedef struct {
    int64_t step_us;
    size_t size;       //  steps in the ring: the range's
    int64_t *steps;    //  the step each slot holds (its start / step_us; -1: none)
    zhashx_t **counts; //  slot -> queue -> s_count_t
} s_rollup_t;

#define S_ROLLUPS 2    //  day, week

struct _history_t {
    store_t *store;
    int64_t minute;    //  the minute of `counts` (-1: none yet)
    zhashx_t *counts;  //  queue -> s_count_t, of that minute
    bool dirty;        //  a count changed since history_stage
    s_rollup_t rollups [S_ROLLUPS];
};

static void
s_count_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  h<minute><queue>; its size
static size_t
s_key (char *buf, int64_t minute, const char *queue)
{
    buf [0] = KEYS_HISTORY;
    store_put_be64 ((uint8_t *) buf + 1, (uint64_t) minute);
    size_t len = strnlen (queue, ASYNC_MAX_NAME);
    memcpy (buf + S_KEY_HEAD, queue, len);
    return S_KEY_HEAD + len;
}

static void
s_rollup_init (s_rollup_t *self, int64_t range_us, int64_t step_us)
{
    self->step_us = step_us;
    self->size = (size_t) (range_us / step_us);
    self->steps = (int64_t *) async_xcalloc (self->size, sizeof (int64_t));
    self->counts = (zhashx_t **) async_xcalloc (self->size, sizeof (zhashx_t *));
    for (size_t slot = 0; slot < self->size; slot++) {
        self->steps [slot] = -1;
        self->counts [slot] = zhashx_new ();
        zhashx_set_destructor (self->counts [slot], s_count_free);
    }
}

static void
s_rollup_clear (s_rollup_t *self)
{
    for (size_t slot = 0; slot < self->size; slot++)
        zhashx_destroy (&self->counts [slot]);
    free (self->counts);
    free (self->steps);
}

//  Count jobs completed at `when` (us) in `queue`
static void
s_rollup_add (s_rollup_t *self, int64_t when, const char *queue, uint64_t succeeded,
              uint64_t failed)
{
    int64_t step = when / self->step_us;
    size_t slot = (size_t) (step % (int64_t) self->size);
    if (self->steps [slot] != step) {
        //  An older step, or a later one: counted while the clock was
        //  ahead (stepped back since, by a range or more): the present's
        zhashx_purge (self->counts [slot]);
        self->steps [slot] = step;
    }
    zhashx_t *counts = self->counts [slot];
    s_count_t *count = (s_count_t *) zhashx_lookup (counts, queue);
    if (!count && zhashx_size (counts) >= S_JSON_QUEUES)
        count = (s_count_t *) zhashx_lookup (counts, queue = HISTORY_OTHER);
    if (!count) {
        count = (s_count_t *) async_xcalloc (1, sizeof (s_count_t));
        zhashx_insert (counts, queue, count);
    }
    count->succeeded += succeeded;
    count->failed += failed;
}

//  The rollup whose range and step these are, or NULL
static s_rollup_t *
s_rollup_for (history_t *self, int64_t range_us, int64_t step_us)
{
    for (int i = 0; i < S_ROLLUPS; i++)
        if (self->rollups [i].step_us == step_us
        &&  (int64_t) self->rollups [i].size * step_us == range_us)
            return &self->rollups [i];
    return NULL;
}

history_t *
history_new (store_t *store)
{
    history_t *self = (history_t *) async_xcalloc (1, sizeof (history_t));
    self->store = store;
    self->minute = -1;
    self->counts = zhashx_new ();
    zhashx_set_destructor (self->counts, s_count_free);
    const char *names [S_ROLLUPS] = { "day", "week" };
    for (int i = 0; i < S_ROLLUPS; i++) {
        int64_t range_us = 0, step_us = 0;
        if (history_range (names [i], &range_us, &step_us))
            assert (false);
        s_rollup_init (&self->rollups [i], range_us, step_us);
    }
    //  The week's minutes into the rollups: at most 10 080 x 21 keys,
    //  once (about 0.1 s at worst)
    int64_t now = async_now_us ();
    int64_t horizon = (now - HISTORY_KEEP_US) / S_MINUTE_US;
    char from [S_KEY_HEAD];
    from [0] = KEYS_HISTORY;
    store_put_be64 ((uint8_t *) from + 1, (uint64_t) (horizon > 0 ? horizon : 0));
    store_iter_t *iter = store_iter_new (store, KEYS_PREFIX (KEYS_HISTORY), 1);
    store_iter_seek (iter, from, sizeof from);
    for (; store_iter_valid (iter); store_iter_next (iter)) {
        size_t ksize, vsize;
        const char *key = store_iter_key (iter, &ksize);
        const char *value = store_iter_value (iter, &vsize);
        if (ksize <= S_KEY_HEAD || ksize - S_KEY_HEAD > ASYNC_MAX_NAME || vsize != 16)
            continue;
        int64_t minute = (int64_t) store_get_be64 ((const uint8_t *) key + 1);
        if (minute > now / S_MINUTE_US)
            break;              //  written while the clock was ahead: no step of ours
        if (minute < 0)
            continue;
        char queue [ASYNC_MAX_NAME + 1];
        snprintf (queue, sizeof queue, "%.*s", (int) (ksize - S_KEY_HEAD), key + S_KEY_HEAD);
        for (int i = 0; i < S_ROLLUPS; i++)
            s_rollup_add (&self->rollups [i], minute * S_MINUTE_US, queue,
                          store_get_be64 ((const uint8_t *) value),
                          store_get_be64 ((const uint8_t *) value + 8));
    }
    store_iter_destroy (&iter);
    return self;
}

void
history_destroy (history_t **self_p)
{
    history_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->counts);
    for (int i = 0; i < S_ROLLUPS; i++)
        s_rollup_clear (&self->rollups [i]);
    free (self);
    *self_p = NULL;
}

void
history_count (history_t *self, const char *queue, bool failed, int64_t now)
{
    int64_t minute = now / S_MINUTE_US;
    if (minute != self->minute) {
        history_stage (self);  //  the minute before, as it ended
        zhashx_purge (self->counts);
        self->minute = minute;
    }
    s_count_t *count = (s_count_t *) zhashx_lookup (self->counts, queue);
    if (!count && zhashx_size (self->counts) >= HISTORY_QUEUES) {
        queue = HISTORY_OTHER;
        count = (s_count_t *) zhashx_lookup (self->counts, queue);
    }
    if (!count) {
        count = (s_count_t *) async_xcalloc (1, sizeof (s_count_t));
        //  This minute's counts written before a restart go on from there
        char key [KEYS_MAX];
        char *value;
        size_t size;
        if (store_get (self->store, key, s_key (key, minute, queue), &value, &size) == 0) {
            if (size == 16) {
                count->succeeded = store_get_be64 ((const uint8_t *) value);
                count->failed = store_get_be64 ((const uint8_t *) value + 8);
            }
            free (value);
        }
        zhashx_insert (self->counts, queue, count);
    }
    if (failed)
        count->failed++;
    else
        count->succeeded++;
    count->dirty = true;
    self->dirty = true;
    for (int i = 0; i < S_ROLLUPS; i++)
        s_rollup_add (&self->rollups [i], now, queue, !failed, failed);
}

void
history_stage (history_t *self)
{
    if (!self->dirty)
        return;
    s_count_t *count = (s_count_t *) zhashx_first (self->counts);
    for (; count; count = (s_count_t *) zhashx_next (self->counts)) {
        if (!count->dirty)
            continue;
        char key [KEYS_MAX];
        uint8_t value [16];
        store_put_be64 (value, count->succeeded);
        store_put_be64 (value + 8, count->failed);
        store_put (self->store, key,
                   s_key (key, self->minute, (const char *) zhashx_cursor (self->counts)),
                   value, 16);
        count->dirty = false;
    }
    self->dirty = false;
}

size_t
history_purge (history_t *self, int64_t now)
{
    int64_t horizon = (now - HISTORY_KEEP_US) / S_MINUTE_US;
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_HISTORY), 1);
    size_t purged = 0;
    while (store_iter_valid (iter) && purged < S_PURGE_KEYS) {
        size_t size;
        const char *key = store_iter_key (iter, &size);
        if (size >= S_KEY_HEAD
            && (int64_t) store_get_be64 ((const uint8_t *) key + 1) >= horizon)
            break;
        store_delete (self->store, key, size);
        purged++;
        store_iter_next (iter);
    }
    store_iter_destroy (&iter);
    return purged;
}

//  Add `succeeded` and `failed` at step `index` of a {"succeeded": [...],
//  "failed": [...]} object
static void
s_add (json_t *series, size_t index, uint64_t succeeded, uint64_t failed)
{
    json_t *each = json_array_get (json_object_get (series, "succeeded"), index);
    json_integer_set (each, json_integer_value (each) + (json_int_t) succeeded);
    each = json_array_get (json_object_get (series, "failed"), index);
    json_integer_set (each, json_integer_value (each) + (json_int_t) failed);
}

static json_t *
s_series (size_t steps)
{
    json_t *succeeded = json_array (), *failed = json_array ();
    for (size_t i = 0; i < steps; i++) {
        json_array_append_new (succeeded, json_integer (0));
        json_array_append_new (failed, json_integer (0));
    }
    return json_pack ("{s:o, s:o}", "succeeded", succeeded, "failed", failed);
}

//  Count one minute's key into the answer
static void
s_minute (json_t *answer, json_t *queues, size_t index, const char *queue, uint64_t succeeded,
          uint64_t failed)
{
    s_add (answer, index, succeeded, failed);
    json_t *series = json_object_get (queues, queue);
    if (!series && json_object_size (queues) >= S_JSON_QUEUES)
        series = json_object_get (queues, queue = HISTORY_OTHER);
    if (!series) {
        series = s_series (json_array_size (json_object_get (answer, "succeeded")));
        json_object_set_new (queues, queue, series);
    }
    s_add (series, index, succeeded, failed);
}

int
history_range (const char *name, int64_t *range_us, int64_t *step_us)
{
    if (!name || streq (name, "hour")) {
        *range_us = 60 * S_MINUTE_US;
        *step_us = S_MINUTE_US;
    }
    else if (streq (name, "day")) {
        *range_us = 1440 * S_MINUTE_US;
        *step_us = 5 * S_MINUTE_US;
    }
    else if (streq (name, "week")) {
        *range_us = 7 * 1440 * S_MINUTE_US;
        *step_us = 60 * S_MINUTE_US;
    }
    else
        return -1;
    return 0;
}

//  The answer of a rollup's range: its steps, the one going on last
static json_t *
s_rollup_json (s_rollup_t *self, int64_t now)
{
    int64_t last = now / self->step_us;
    int64_t first = last - (int64_t) self->size + 1;
    json_t *answer = s_series (self->size);
    json_t *queues = json_object ();
    json_object_set_new (answer, "step_seconds", json_integer (self->step_us / 1000000));
    json_object_set_new (answer, "start", json_real (first * (self->step_us / 1e6)));
    for (int64_t step = first; step <= last; step++) {
        size_t slot = (size_t) (step % (int64_t) self->size);
        if (self->steps [slot] != step)
            continue;
        s_count_t *count = (s_count_t *) zhashx_first (self->counts [slot]);
        for (; count; count = (s_count_t *) zhashx_next (self->counts [slot]))
            s_minute (answer, queues, (size_t) (step - first),
                      (const char *) zhashx_cursor (self->counts [slot]), count->succeeded,
                      count->failed);
    }
    json_object_set_new (answer, "queues", queues);
    return answer;
}

json_t *
history_json (history_t *self, int64_t now, int64_t range_us, int64_t step_us)
{
    assert (range_us > 0 && step_us > 0 && range_us % step_us == 0);
    s_rollup_t *rollup = s_rollup_for (self, range_us, step_us);
    if (rollup)
        return s_rollup_json (rollup, now);
    size_t steps = (size_t) (range_us / step_us);
    int64_t last = now / S_MINUTE_US;  //  the minute going on
    int64_t start = (last + 1) * S_MINUTE_US - range_us;
    json_t *answer = s_series (steps);
    json_t *queues = json_object ();
    json_object_set_new (answer, "step_seconds", json_integer (step_us / 1000000));
    json_object_set_new (answer, "start", json_real (start / 1e6));
    char from [S_KEY_HEAD];
    from [0] = KEYS_HISTORY;
    store_put_be64 ((uint8_t *) from + 1, (uint64_t) (start / S_MINUTE_US));
    store_iter_t *iter = store_iter_new (self->store, KEYS_PREFIX (KEYS_HISTORY), 1);
    store_iter_seek (iter, from, sizeof from);
    for (; store_iter_valid (iter); store_iter_next (iter)) {
        size_t ksize, vsize;
        const char *key = store_iter_key (iter, &ksize);
        const char *value = store_iter_value (iter, &vsize);
        int64_t minute = ksize > S_KEY_HEAD
            ? (int64_t) store_get_be64 ((const uint8_t *) key + 1)
            : -1;
        if (minute > last)
            break;
        if (minute < 0 || minute * S_MINUTE_US < start || vsize != 16
            || ksize - S_KEY_HEAD > ASYNC_MAX_NAME)
            continue;
        char queue [ASYNC_MAX_NAME + 1];
        snprintf (queue, sizeof queue, "%.*s", (int) (ksize - S_KEY_HEAD), key + S_KEY_HEAD);
        //  A queue counted in the minute going on is counted from memory,
        //  below (the store may not have its last counts yet)
        if (minute == self->minute && zhashx_lookup (self->counts, queue))
            continue;
        s_minute (answer, queues, (size_t) ((minute * S_MINUTE_US - start) / step_us), queue,
                  store_get_be64 ((const uint8_t *) value),
                  store_get_be64 ((const uint8_t *) value + 8));
    }
    store_iter_destroy (&iter);
    if (self->minute >= 0 && self->minute * S_MINUTE_US >= start && self->minute <= last) {
        size_t index = (size_t) ((self->minute * S_MINUTE_US - start) / step_us);
        s_count_t *count = (s_count_t *) zhashx_first (self->counts);
        for (; count; count = (s_count_t *) zhashx_next (self->counts))
            s_minute (answer, queues, index, (const char *) zhashx_cursor (self->counts),
                      count->succeeded, count->failed);
    }
    json_object_set_new (answer, "queues", queues);
    return answer;
}
