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

struct _history_t {
    store_t *store;
    int64_t minute;    //  the minute of `counts` (-1: none yet)
    zhashx_t *counts;  //  queue -> s_count_t, of that minute
    bool dirty;        //  a count changed since history_stage
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

history_t *
history_new (store_t *store)
{
    history_t *self = (history_t *) async_xcalloc (1, sizeof (history_t));
    self->store = store;
    self->minute = -1;
    self->counts = zhashx_new ();
    zhashx_set_destructor (self->counts, s_count_free);
    return self;
}

void
history_destroy (history_t **self_p)
{
    history_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->counts);
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

json_t *
history_json (history_t *self, int64_t now, int64_t range_us, int64_t step_us)
{
    assert (range_us > 0 && step_us > 0 && range_us % step_us == 0);
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
