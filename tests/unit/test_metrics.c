/*  =========================================================================
    test_metrics - the broker's counters and histograms as Prometheus text:
    exact samples, cumulative buckets, escaped labels, bounded label sets
    (broker/metrics)
    =========================================================================
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "fixture.h"

#include "metrics.h"

//  ---------------------------------------------------------------------
//  Helpers

//  The metrics as one NUL-terminated text (caller frees)
static char *
s_text (metrics_t *metrics)
{
    zchunk_t *out = zchunk_new (NULL, 1024);
    metrics_print (metrics, out);
    zchunk_extend (out, "", 1);
    char *text = strdup ((const char *) zchunk_data (out));
    zchunk_destroy (&out);
    return text;
}

//  The value of the sample line "name{labels} value", or -1 if absent
static double
s_sample (const char *text, const char *name)
{
    size_t len = strlen (name);
    const char *line = text;
    while (line && *line) {
        if (strncmp (line, name, len) == 0 && line [len] == ' ')
            return atof (line + len + 1);
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return -1;
}

//  ---------------------------------------------------------------------
//  Tests

static void
test_metrics_counters_by_queue_and_task (void **state)
{
    metrics_t *metrics = metrics_new ();
    metrics_count (metrics, METRICS_SUBMITTED, "default", "a.b");
    metrics_count (metrics, METRICS_SUBMITTED, "default", "a.b");
    metrics_count (metrics, METRICS_FAILED, "default", "a.b");
    metrics_count (metrics, METRICS_SUBMITTED, "other", "a.b");
    char *text = s_text (metrics);
    assert_int_equal (s_sample (text, "asyncmesh_jobs_submitted_total{queue=\"default\",task=\"a.b\"}"), 2);
    assert_int_equal (s_sample (text, "asyncmesh_jobs_submitted_total{queue=\"other\",task=\"a.b\"}"), 1);
    assert_int_equal (s_sample (text, "asyncmesh_jobs_failed_total{queue=\"default\",task=\"a.b\"}"), 1);
    assert_int_equal (s_sample (text, "asyncmesh_jobs_succeeded_total{queue=\"default\",task=\"a.b\"}"), 0);
    assert_string_contains (text, "# TYPE asyncmesh_jobs_interrupted_total counter\n");
    free (text);
    metrics_destroy (&metrics);
    assert_null (metrics);
}

static void
test_metrics_histogram_buckets_are_cumulative (void **state)
{
    metrics_t *metrics = metrics_new ();
    metrics_run (metrics, "q", 0.0005);     //  le 0.001
    metrics_run (metrics, "q", 0.2);        //  le 0.25
    metrics_run (metrics, "q", 0.25);       //  le 0.25 (inclusive)
    metrics_run (metrics, "q", 600);        //  only +Inf
    char *text = s_text (metrics);
    assert_int_equal (s_sample (text, "asyncmesh_job_run_seconds_bucket{queue=\"q\",le=\"0.001\"}"), 1);
    assert_int_equal (s_sample (text, "asyncmesh_job_run_seconds_bucket{queue=\"q\",le=\"0.1\"}"), 1);
    assert_int_equal (s_sample (text, "asyncmesh_job_run_seconds_bucket{queue=\"q\",le=\"0.25\"}"), 3);
    assert_int_equal (s_sample (text, "asyncmesh_job_run_seconds_bucket{queue=\"q\",le=\"60\"}"), 3);
    assert_int_equal (s_sample (text, "asyncmesh_job_run_seconds_bucket{queue=\"q\",le=\"+Inf\"}"), 4);
    assert_int_equal (s_sample (text, "asyncmesh_job_run_seconds_count{queue=\"q\"}"), 4);
    assert_true (s_sample (text, "asyncmesh_job_run_seconds_sum{queue=\"q\"}") > 600.45);
    //  A queue seen only by run has no wait samples but a zero histogram
    assert_int_equal (s_sample (text, "asyncmesh_job_wait_seconds_count{queue=\"q\"}"), 0);
    metrics_sync (metrics, 0.002);
    free (text);
    text = s_text (metrics);
    assert_int_equal (s_sample (text, "asyncmesh_store_sync_seconds_bucket{le=\"0.0025\"}"), 1);
    assert_int_equal (s_sample (text, "asyncmesh_store_sync_seconds_count"), 1);
    free (text);
    metrics_destroy (&metrics);
}

static void
test_metrics_labels_are_escaped (void **state)
{
    metrics_t *metrics = metrics_new ();
    metrics_count (metrics, METRICS_STARTED, "a\"b\\c\nd", "t");
    char *text = s_text (metrics);
    assert_int_equal (s_sample (text, "asyncmesh_jobs_started_total{queue=\"a\\\"b\\\\c\\nd\",task=\"t\"}"), 1);
    free (text);
    metrics_destroy (&metrics);
}

static void
test_metrics_label_sets_are_bounded (void **state)
{
    metrics_t *metrics = metrics_new ();
    char task [32];
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        snprintf (task, sizeof task, "t.n%d", i);
        metrics_count (metrics, METRICS_SUBMITTED, "default", task);
    }
    char *text = s_text (metrics);
    assert_int_equal (s_sample (text, "asyncmesh_jobs_submitted_total{queue=\"(other)\",task=\"(other)\"}"), 10);
    assert_int_equal (s_sample (text, "asyncmesh_jobs_submitted_total{queue=\"default\",task=\"t.n0\"}"), 1);
    assert_int_equal (s_sample (text, "asyncmesh_jobs_submitted_total{queue=\"default\",task=\"t.n1005\"}"), -1);
    free (text);
    metrics_destroy (&metrics);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_metrics_counters_by_queue_and_task),
        cmocka_unit_test (test_metrics_histogram_buckets_are_cumulative),
        cmocka_unit_test (test_metrics_labels_are_escaped),
        cmocka_unit_test (test_metrics_label_sets_are_bounded),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
