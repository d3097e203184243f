/*  =========================================================================
    metrics - the broker's counters and histograms, for /metrics
    =========================================================================
*/
#include "metrics.h"
#include "async_alloc.h"
#include <inttypes.h>
#include <stdarg.h>

//  Upper bounds of the histogram buckets, in seconds (1 ms to 60 s)
static const double s_bounds [] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};
#define S_BUCKETS (sizeof s_bounds / sizeof s_bounds [0])

typedef struct {
    uint64_t buckets [S_BUCKETS];   //  not cumulative: printed cumulative
    uint64_t count;
    double sum;
} s_histogram_t;

//  One (queue, task) pair's counters
typedef struct {
    char *queue;
    char *task;
    uint64_t counts [METRICS_COUNTERS];
} s_series_t;

//  One queue's histograms
typedef struct {
    char *queue;
    s_histogram_t wait;
    s_histogram_t run;
} s_queue_t;

struct _metrics_t {
    zhashx_t *series;           //  "queue\x1ftask" -> s_series_t
    zhashx_t *queues;           //  queue -> s_queue_t
    s_histogram_t sync;
    double spin_seconds;        //  the broker's loop polled before sleeping
    uint64_t spin_caught;       //  ... and a message or a write came meanwhile
};

static const char *s_counter_names [METRICS_COUNTERS] = {
    "submitted", "started", "succeeded", "failed", "retried", "interrupted"
};

static const char *s_counter_help [METRICS_COUNTERS] = {
    "Task jobs that entered their queue (submitted, or made by a parent or "
    "callback), since the broker started.",
    "Attempts started on a node, since the broker started.",
    "Task jobs completed with a result, since the broker started.",
    "Task jobs completed with a failure, since the broker started.",
    "Failed attempts queued again by the retry policy, since the broker started.",
    "Running attempts interrupted (node died, stopped or superseded), since "
    "the broker started."
};

static void
s_series_destroy (s_series_t **self_p)
{
    s_series_t *self = *self_p;
    if (self) {
        free (self->queue);
        free (self->task);
        free (self);
        *self_p = NULL;
    }
}

static void
s_queue_destroy (s_queue_t **self_p)
{
    s_queue_t *self = *self_p;
    if (self) {
        free (self->queue);
        free (self);
        *self_p = NULL;
    }
}

metrics_t *
metrics_new (void)
{
    metrics_t *self = (metrics_t *) async_xcalloc (1, sizeof (metrics_t));
    assert (self);
    self->series = zhashx_new ();
    zhashx_set_destructor (self->series, (zhashx_destructor_fn *) s_series_destroy);
    self->queues = zhashx_new ();
    zhashx_set_destructor (self->queues, (zhashx_destructor_fn *) s_queue_destroy);
    return self;
}

void
metrics_destroy (metrics_t **self_p)
{
    metrics_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->series);
    zhashx_destroy (&self->queues);
    free (self);
    *self_p = NULL;
}

void
metrics_count (metrics_t *self, metrics_counter_t counter, const char *queue,
               const char *task)
{
    assert (counter < METRICS_COUNTERS);
    if (!queue)
        queue = "";
    if (!task)
        task = "";
    char key [512];
    snprintf (key, sizeof key, "%s\x1f%s", queue, task);
    s_series_t *series = (s_series_t *) zhashx_lookup (self->series, key);
    if (!series && zhashx_size (self->series) >= METRICS_MAX_SERIES) {
        //  Too many label sets: the rest count together
        snprintf (key, sizeof key, "%s\x1f%s", METRICS_OTHER, METRICS_OTHER);
        queue = task = METRICS_OTHER;
        series = (s_series_t *) zhashx_lookup (self->series, key);
    }
    if (!series) {
        series = (s_series_t *) async_xcalloc (1, sizeof (s_series_t));
        assert (series);
        series->queue = async_xstrdup (queue);
        series->task = async_xstrdup (task);
        zhashx_insert (self->series, key, series);
    }
    series->counts [counter]++;
}

static s_queue_t *
s_queue (metrics_t *self, const char *queue)
{
    if (!queue)
        queue = "";
    s_queue_t *row = (s_queue_t *) zhashx_lookup (self->queues, queue);
    if (!row && zhashx_size (self->queues) >= METRICS_MAX_SERIES) {
        queue = METRICS_OTHER;
        row = (s_queue_t *) zhashx_lookup (self->queues, queue);
    }
    if (!row) {
        row = (s_queue_t *) async_xcalloc (1, sizeof (s_queue_t));
        assert (row);
        row->queue = async_xstrdup (queue);
        zhashx_insert (self->queues, queue, row);
    }
    return row;
}

static void
s_observe (s_histogram_t *histogram, double seconds)
{
    if (seconds < 0)
        seconds = 0;
    histogram->count++;
    histogram->sum += seconds;
    for (size_t i = 0; i < S_BUCKETS; i++)
        if (seconds <= s_bounds [i]) {
            histogram->buckets [i]++;
            break;
        }
}

void
metrics_wait (metrics_t *self, const char *queue, double seconds)
{
    s_observe (&s_queue (self, queue)->wait, seconds);
}

void
metrics_run (metrics_t *self, const char *queue, double seconds)
{
    s_observe (&s_queue (self, queue)->run, seconds);
}

void
metrics_sync (metrics_t *self, double seconds)
{
    s_observe (&self->sync, seconds);
}

void
metrics_spin (metrics_t *self, double seconds, bool caught)
{
    self->spin_seconds += seconds;
    self->spin_caught += caught;
}

static void
s_printf (zchunk_t *out, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_printf (zchunk_t *out, const char *format, ...)
{
    char line [1024];
    va_list args;
    va_start (args, format);
    int size = vsnprintf (line, sizeof line, format, args);
    va_end (args);
    if (size > 0)
        zchunk_extend (out, line, (size_t) size < sizeof line ? (size_t) size
                                                             : sizeof line - 1);
}

void
metrics_label (zchunk_t *out, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"')
            zchunk_extend (out, "\\", 1);
        if (*c == '\n')
            zchunk_extend (out, "\\n", 2);
        else
            zchunk_extend (out, c, 1);
    }
}

//  name{queue="Q",le="B"} ... for one histogram; `queue` NULL: no label
static void
s_print_histogram (zchunk_t *out, const char *name, const char *queue,
                   s_histogram_t *histogram)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= S_BUCKETS; i++) {
        s_printf (out, "%s_bucket{", name);
        if (queue) {
            s_printf (out, "queue=\"");
            metrics_label (out, queue);
            s_printf (out, "\",");
        }
        if (i < S_BUCKETS) {
            cumulative += histogram->buckets [i];
            s_printf (out, "le=\"%g\"} %" PRIu64 "\n", s_bounds [i], cumulative);
        }
        else
            s_printf (out, "le=\"+Inf\"} %" PRIu64 "\n", histogram->count);
    }
    const char *suffix [2] = { "_sum", "_count" };
    for (int i = 0; i < 2; i++) {
        s_printf (out, "%s%s", name, suffix [i]);
        if (queue) {
            s_printf (out, "{queue=\"");
            metrics_label (out, queue);
            s_printf (out, "\"}");
        }
        if (i == 0)
            s_printf (out, " %.6f\n", histogram->sum);
        else
            s_printf (out, " %" PRIu64 "\n", histogram->count);
    }
}

void
metrics_print (metrics_t *self, zchunk_t *out)
{
    for (int counter = 0; counter < METRICS_COUNTERS; counter++) {
        const char *name = s_counter_names [counter];
        s_printf (out, "# HELP asyncmesh_jobs_%s_total %s\n", name, s_counter_help [counter]);
        s_printf (out, "# TYPE asyncmesh_jobs_%s_total counter\n", name);
        s_series_t *series = (s_series_t *) zhashx_first (self->series);
        while (series) {
            s_printf (out, "asyncmesh_jobs_%s_total{queue=\"", name);
            metrics_label (out, series->queue);
            s_printf (out, "\",task=\"");
            metrics_label (out, series->task);
            s_printf (out, "\"} %" PRIu64 "\n", series->counts [counter]);
            series = (s_series_t *) zhashx_next (self->series);
        }
    }
    const char *names [2] = { "asyncmesh_job_wait_seconds", "asyncmesh_job_run_seconds" };
    const char *help [2] = {
        "Time from when a task job could run (submitted, or its begin_after) "
        "to its first start.",
        "Time an attempt ran on a node, from its start to its result or failure."
    };
    for (int which = 0; which < 2; which++) {
        s_printf (out, "# HELP %s %s\n", names [which], help [which]);
        s_printf (out, "# TYPE %s histogram\n", names [which]);
        s_queue_t *row = (s_queue_t *) zhashx_first (self->queues);
        while (row) {
            s_print_histogram (out, names [which], row->queue,
                               which == 0 ? &row->wait : &row->run);
            row = (s_queue_t *) zhashx_next (self->queues);
        }
    }
    s_printf (out, "# HELP asyncmesh_store_sync_seconds Time of each synced commit "
              "(a RocksDB write batch with its WAL synced).\n");
    s_printf (out, "# TYPE asyncmesh_store_sync_seconds histogram\n");
    s_print_histogram (out, "asyncmesh_store_sync_seconds", NULL, &self->sync);
    s_printf (out, "# HELP asyncmesh_broker_spin_seconds_total Time the broker's loop "
              "polled for news before sleeping (--spin).\n");
    s_printf (out, "# TYPE asyncmesh_broker_spin_seconds_total counter\n");
    s_printf (out, "asyncmesh_broker_spin_seconds_total %.6f\n", self->spin_seconds);
    s_printf (out, "# HELP asyncmesh_broker_spin_caught_total Waits that ended while "
              "the broker's loop polled, without sleeping (--spin).\n");
    s_printf (out, "# TYPE asyncmesh_broker_spin_caught_total counter\n");
    s_printf (out, "asyncmesh_broker_spin_caught_total %" PRIu64 "\n", self->spin_caught);
}
