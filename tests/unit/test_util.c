/*  =========================================================================
    test_util - durations, times, globs, ids and task names (async_util)
    =========================================================================
*/
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include "async_util.h"
#include "asyncmesh/log.h"

#define SEC  INT64_C (1000000)

//  Seconds since the epoch of a UTC calendar time, by the C library
static int64_t
s_utc (int year, int month, int day, int hour, int minute, int second)
{
    struct tm tm = { 0 };
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return (int64_t) timegm (&tm);
}

static int64_t
s_duration_ok (const char *text, bool allow_sign)
{
    int64_t usecs = INT64_MIN;
    int rc = async_parse_duration (text, allow_sign, &usecs);
    if (rc != 0)
        fail_msg ("duration '%s' refused", text);
    return usecs;
}

static int64_t
s_time_ok (const char *text, int64_t now)
{
    int64_t when = INT64_MIN;
    if (async_parse_time (text, now, &when) != 0)
        fail_msg ("time '%s' refused", text);
    return when;
}

//  ---------------------------------------------------------------------
//  Durations

static void
test_duration_units (void **state)
{
    (void) state;
    assert_int_equal (s_duration_ok ("250ms", false), 250000);
    assert_int_equal (s_duration_ok ("1ms", false), 1000);
    assert_int_equal (s_duration_ok ("30s", false), 30 * SEC);
    assert_int_equal (s_duration_ok ("2m", false), 120 * SEC);
    assert_int_equal (s_duration_ok ("1h", false), 3600 * SEC);
    assert_int_equal (s_duration_ok ("1d", false), 86400 * SEC);
    assert_int_equal (s_duration_ok ("7d", false), 7 * 86400 * SEC);
    assert_int_equal (s_duration_ok ("0", false), 0);
    assert_int_equal (s_duration_ok ("0s", false), 0);
}

static void
test_duration_plain_number_is_seconds (void **state)
{
    (void) state;
    assert_int_equal (s_duration_ok ("30", false), 30 * SEC);
    assert_int_equal (s_duration_ok ("1", false), SEC);
    assert_int_equal (s_duration_ok ("0.5", false), 500000);
}

static void
test_duration_fractions (void **state)
{
    (void) state;
    assert_int_equal (s_duration_ok ("1.5s", false), 1500000);
    assert_int_equal (s_duration_ok (".5s", false), 500000);
    assert_int_equal (s_duration_ok ("1.5h", false), 5400 * SEC);
    assert_int_equal (s_duration_ok ("0.25m", false), 15 * SEC);
    assert_int_equal (s_duration_ok ("1.5ms", false), 1500);
    assert_int_equal (s_duration_ok ("0.5d", false), 43200 * SEC);
    //  Rounded to the nearest microsecond
    assert_int_equal (s_duration_ok ("0.0015ms", false), 2);
}

static void
test_duration_sign_only_when_allowed (void **state)
{
    (void) state;
    assert_int_equal (s_duration_ok ("+30s", true), 30 * SEC);
    assert_int_equal (s_duration_ok ("-1h", true), -3600 * SEC);
    assert_int_equal (s_duration_ok ("-1.5m", true), -90 * SEC);
    assert_int_equal (s_duration_ok ("30s", true), 30 * SEC);

    int64_t usecs = 77;
    assert_int_equal (async_parse_duration ("+30s", false, &usecs), -1);
    assert_int_equal (async_parse_duration ("-1h", false, &usecs), -1);
}

static void
test_duration_bad_input_refused (void **state)
{
    (void) state;
    const char *bad [] = {
        "", "s", "ms", "abc", "5x", "5S", "5 s", " 5s", "5s ", "5ss", "5sm",
        "1.2.3s", ".", "-", "+", "--5", "+-5", "inf", "nan", "1e999",
        "5sec", "5min", "h", "1,5s", NULL
    };
    for (int i = 0; bad [i]; i++) {
        int64_t usecs = 0;
        if (async_parse_duration (bad [i], true, &usecs) != -1)
            fail_msg ("duration '%s' was accepted as %lld us",
                      bad [i], (long long) usecs);
    }
    int64_t usecs = 0;
    assert_int_equal (async_parse_duration (NULL, true, &usecs), -1);
    //  Too large for int64 microseconds
    assert_int_equal (async_parse_duration ("999999999999d", false, &usecs), -1);
}

static void
test_duration_limit_is_1e12_seconds (void **state)
{
    (void) state;
    //  Up to ASYNC_DURATION_MAX_US, so a time plus a duration fits int64
    assert_int_equal (s_duration_ok ("1e12", false), ASYNC_DURATION_MAX_US);
    assert_int_equal (s_duration_ok ("-1e12s", true), -ASYNC_DURATION_MAX_US);
    int64_t usecs = 77;
    assert_int_equal (async_parse_duration ("1.000001e12", false, &usecs), -1);
    assert_int_equal (async_parse_duration ("104000000d", false, &usecs), -1);
    assert_int_equal (async_parse_duration ("9e18ms", false, &usecs), -1);
    assert_int_equal (async_parse_duration ("1e300s", false, &usecs), -1);
    assert_int_equal (usecs, 77);
}

static void
test_seconds_to_us_refuses_nan_inf_and_range (void **state)
{
    (void) state;
    int64_t usecs = 77;
    assert_int_equal (async_seconds_to_us (1.5, 0, 10, &usecs), 0);
    assert_int_equal (usecs, 1500000);
    assert_int_equal (async_seconds_to_us (0, 0, 10, &usecs), 0);
    assert_int_equal (usecs, 0);
    assert_int_equal (async_seconds_to_us (1e12, 0, ASYNC_DURATION_MAX_S, &usecs), 0);
    assert_int_equal (usecs, ASYNC_DURATION_MAX_US);
    assert_int_equal (async_seconds_to_us (-2.5, -10, 10, &usecs), 0);
    assert_int_equal (usecs, -2500000);
    usecs = 77;
    const double bad [] = { NAN, -NAN, INFINITY, -INFINITY, 1e300, -1e300, 10.000001,
                            -0.000001, 1e12 + 1, DBL_MAX, -DBL_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        double max = i == 8 ? ASYNC_DURATION_MAX_S : 10;
        if (async_seconds_to_us (bad [i], 0, max, &usecs) != -1)
            fail_msg ("%g seconds were accepted as %lld us", bad [i], (long long) usecs);
    }
    assert_int_equal (usecs, 77);
}

static void
test_checked_arithmetic (void **state)
{
    (void) state;
    int64_t r = 77;
    assert_int_equal (async_mul_i64 (60000, 1000, &r), 0);
    assert_int_equal (r, 60000000);
    assert_int_equal (async_mul_i64 (-5, 1000, &r), 0);
    assert_int_equal (r, -5000);
    r = 77;
    assert_int_equal (async_mul_i64 (INT64_MAX, 1000, &r), -1);
    assert_int_equal (async_mul_i64 (INT64_MIN, 1000, &r), -1);
    assert_int_equal (async_mul_i64 (INT64_MIN, -1, &r), -1);
    assert_int_equal (async_mul_i64 (INT64_MAX / 1000 + 1, 1000, &r), -1);
    assert_int_equal (r, 77);
    assert_int_equal (async_mul_i64 (INT64_MAX / 1000, 1000, &r), 0);
    assert_int_equal (async_add_i64 (INT64_MAX - 1, 1, &r), 0);
    assert_int_equal (r, INT64_MAX);
    r = 77;
    assert_int_equal (async_add_i64 (INT64_MAX, 1, &r), -1);
    assert_int_equal (async_add_i64 (INT64_MIN, -1, &r), -1);
    assert_int_equal (r, 77);
}

static void
test_parse_int_range (void **state)
{
    (void) state;
    int64_t v = 77;
    assert_int_equal (async_parse_int ("12", 0, 100, &v), 0);
    assert_int_equal (v, 12);
    assert_int_equal (async_parse_int ("-5", -10, 10, &v), 0);
    assert_int_equal (v, -5);
    assert_int_equal (async_parse_int ("9223372036854775807", 0, INT64_MAX, &v), 0);
    assert_int_equal (v, INT64_MAX);
    v = 77;
    const char *bad [] = { "", " 1", "1 ", "1x", "x", "+", "-", "101", "-11",
                           "9223372036854775808", "-9223372036854775809",
                           "99999999999999999999", "1e3", "0x10", NULL };
    for (int i = 0; bad [i]; i++)
        if (async_parse_int (bad [i], -10, 100, &v) != -1)
            fail_msg ("'%s' was accepted as %lld", bad [i], (long long) v);
    assert_int_equal (async_parse_int (NULL, 0, 1, &v), -1);
    assert_int_equal (v, 77);
}

//  ---------------------------------------------------------------------
//  Times

static void
test_time_iso_utc (void **state)
{
    (void) state;
    assert_int_equal (s_time_ok ("1970-01-01T00:00:00Z", 0), 0);
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00Z", 0),
                      s_utc (2026, 11, 26, 22, 0, 0) * SEC);
    assert_int_equal (s_time_ok ("2026-11-26t22:00:00z", 0),
                      s_utc (2026, 11, 26, 22, 0, 0) * SEC);
    assert_int_equal (s_time_ok ("2026-11-26 22:00:00Z", 0),
                      s_utc (2026, 11, 26, 22, 0, 0) * SEC);
    //  Seconds may be left out
    assert_int_equal (s_time_ok ("2026-11-26T22:07Z", 0),
                      s_utc (2026, 11, 26, 22, 7, 0) * SEC);
    //  A date alone is midnight UTC
    assert_int_equal (s_time_ok ("2026-11-26", 0), s_utc (2026, 11, 26, 0, 0, 0) * SEC);
    //  Leap day, century rules, before the epoch
    assert_int_equal (s_time_ok ("2024-02-29T12:00:00Z", 0),
                      s_utc (2024, 2, 29, 12, 0, 0) * SEC);
    assert_int_equal (s_time_ok ("2000-03-01T00:00:00Z", 0),
                      s_utc (2000, 3, 1, 0, 0, 0) * SEC);
    assert_int_equal (s_time_ok ("1900-03-01T00:00:00Z", 0),
                      s_utc (1900, 3, 1, 0, 0, 0) * SEC);
    assert_int_equal (s_time_ok ("1969-12-31T23:59:59Z", 0), -SEC);
}

static void
test_time_iso_fractions (void **state)
{
    (void) state;
    int64_t base = s_utc (2026, 11, 26, 22, 0, 0) * SEC;
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00.5Z", 0), base + 500000);
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00,5Z", 0), base + 500000);
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00.123456Z", 0), base + 123456);
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00.000001Z", 0), base + 1);
    //  Digits past microseconds are dropped
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00.1234567Z", 0), base + 123456);
    //  A fraction before the epoch still counts forward in time
    assert_int_equal (s_time_ok ("1969-12-31T23:59:59.5Z", 0), -500000);
}

static void
test_time_iso_offsets (void **state)
{
    (void) state;
    int64_t utc = s_utc (2026, 11, 26, 21, 0, 0) * SEC;
    //  22:00 at +01:00 is 21:00 UTC
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00+01:00", 0), utc);
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00+0100", 0), utc);
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00+01", 0), utc);
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00.5+01:00", 0), utc + 500000);
    //  22:00 at -05:30 is 03:30 UTC the next day
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00-05:30", 0),
                      s_utc (2026, 11, 27, 3, 30, 0) * SEC);
    assert_int_equal (s_time_ok ("2026-11-26T22:00:00+00:00", 0),
                      s_time_ok ("2026-11-26T22:00:00Z", 0));
}

static void
test_time_relative_and_now (void **state)
{
    (void) state;
    int64_t now = s_utc (2026, 11, 26, 22, 0, 0) * SEC + 123;
    assert_int_equal (s_time_ok ("now", now), now);
    assert_int_equal (s_time_ok ("+30s", now), now + 30 * SEC);
    assert_int_equal (s_time_ok ("-1h", now), now - 3600 * SEC);
    assert_int_equal (s_time_ok ("+1.5m", now), now + 90 * SEC);
    assert_int_equal (s_time_ok ("+250ms", now), now + 250000);
    assert_int_equal (s_time_ok ("+0", now), now);
}

static void
test_time_bad_input_refused (void **state)
{
    (void) state;
    const char *bad [] = {
        "", "garbage", "tomorrow", "NOW", "+", "-", "+x", "+30 s",
        "2026-11-26T22:00:00",          //  a time of day needs Z or an offset
        "2026-11-26T22:00",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-11-32T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-26T24:00:00Z", "2026-11-26T22:60:00Z",
        "2026-11-26T22:00:00.Z", "2026-11-26T22:00:00Zjunk",
        "2026-11-26T22:00:00+1", "2026-11-26T22:00:00+01:00x",
        "2026-11-26T22Z", "T22:00:00Z", "26-11-2026", "2026/11/26",
        "2026-11-26T", "2026-11-26x", "2026-11-26T22:00:00 Z", NULL
    };
    for (int i = 0; bad [i]; i++) {
        int64_t when = 0;
        if (async_parse_time (bad [i], 0, &when) != -1)
            fail_msg ("time '%s' was accepted as %lld", bad [i], (long long) when);
    }
    int64_t when = 0;
    assert_int_equal (async_parse_time (NULL, 0, &when), -1);
}

static void
test_time_outside_years_0_to_9999_refused (void **state)
{
    (void) state;
    int64_t now = s_utc (2026, 11, 26, 22, 0, 0) * SEC, when = 77;
    assert_int_equal (s_time_ok ("9999-12-31T23:59:59.999999Z", now), ASYNC_TIME_MAX_US);
    assert_int_equal (s_time_ok ("0000-01-01T00:00:00Z", now), ASYNC_TIME_MIN_US);
    //  Relative: now plus up to 10^12 s, but not past the year 9999
    assert_int_equal (async_parse_time ("+1e12s", now, &when), -1);
    assert_int_equal (async_parse_time ("-1e12s", now, &when), -1);
    assert_int_equal (async_parse_time ("+104000000d", now, &when), -1);
    assert_int_equal (async_parse_time ("+1s", ASYNC_TIME_MAX_US, &when), -1);
    assert_int_equal (async_parse_time ("+1s", INT64_MAX, &when), -1);
    assert_int_equal (async_parse_time ("-1s", INT64_MIN, &when), -1);
    //  A negative year (read as a relative time: malformed)
    assert_int_equal (async_parse_time ("-999-01-01", now, &when), -1);
    assert_int_equal (when, 77);
    assert_int_equal (s_time_ok ("+2000d", now),
                      now + 2000 * 86400 * SEC);
}

static void
test_time_impossible_dates_refused (void **state)
{
    (void) state;
    //  Days past the end of their month are typos, not the next month
    const char *bad [] = {
        "2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "1900-02-29T00:00:00Z", NULL
    };
    for (int i = 0; bad [i]; i++) {
        int64_t when = 0;
        if (async_parse_time (bad [i], 0, &when) != -1)
            fail_msg ("impossible date '%s' was accepted", bad [i]);
    }
}

static void
test_time_format_known_values (void **state)
{
    (void) state;
    char buf [40];
    assert_string_equal (async_format_time (0, buf, sizeof buf),
                         "1970-01-01T00:00:00.000000Z");
    assert_string_equal (async_format_time (-1, buf, sizeof buf),
                         "1969-12-31T23:59:59.999999Z");
    assert_string_equal (async_format_time (s_utc (2026, 11, 26, 22, 0, 0) * SEC + 42,
                                            buf, sizeof buf),
                         "2026-11-26T22:00:00.000042Z");
    //  Returns its buffer; 32 bytes are enough
    char small [32];
    assert_ptr_equal (async_format_time (1, small, sizeof small), small);
    assert_string_equal (small, "1970-01-01T00:00:00.000001Z");
}

static void
test_time_format_parse_round_trip (void **state)
{
    (void) state;
    int64_t fixed [] = {
        0, 1, 999999, 1000000, -1, -999999, -1000000, -1000001,
        s_utc (2026, 11, 26, 22, 0, 0) * SEC + 123456,
        s_utc (2000, 2, 29, 23, 59, 59) * SEC + 999999,
        s_utc (1900, 1, 1, 0, 0, 0) * SEC,
        s_utc (9999, 12, 31, 23, 59, 59) * SEC + 999999,
        s_utc (1, 1, 1, 0, 0, 0) * SEC,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed [0]; i++) {
        char buf [40];
        async_format_time (fixed [i], buf, sizeof buf);
        int64_t back = s_time_ok (buf, 0);
        if (back != fixed [i])
            fail_msg ("%lld formatted as %s parsed back as %lld",
                      (long long) fixed [i], buf, (long long) back);
    }
    //  A seeded sweep over 1800..2300
    uint64_t rng = 0x9e3779b97f4a7c15u;
    int64_t lo = s_utc (1800, 1, 1, 0, 0, 0) * SEC;
    int64_t hi = s_utc (2300, 1, 1, 0, 0, 0) * SEC;
    for (int i = 0; i < 5000; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int64_t when = lo + (int64_t) (rng % (uint64_t) (hi - lo));
        char buf [40];
        async_format_time (when, buf, sizeof buf);
        int64_t back = s_time_ok (buf, 0);
        if (back != when)
            fail_msg ("%lld formatted as %s parsed back as %lld",
                      (long long) when, buf, (long long) back);
    }
}

static void
test_clocks_advance (void **state)
{
    (void) state;
    //  The wall clock is near time (); the monotonic clock never goes back
    int64_t now = async_now_us ();
    int64_t wall = (int64_t) time (NULL) * SEC;
    assert_true (now > wall - 5 * SEC && now < wall + 5 * SEC);
    int64_t a = async_mono_us ();
    int64_t b = async_mono_us ();
    assert_true (b >= a);
}

//  ---------------------------------------------------------------------
//  Globs, ids, task names

//  async_filter_check takes what HELLO takes, and nothing a config file
//  cannot hold: '!' alone, ',' and a 201-byte glob made a node exit
static int
s_filter_ok (const char *filter)
{
    char why [200] = "";
    int rc = async_filter_check (filter, strlen (filter), why, sizeof why);
    assert_true (rc == 0 ? *why == 0 : *why != 0);
    return rc;
}

static void
test_filter_check (void **state)
{
    (void) state;
    assert_int_equal (s_filter_ok ("pi.*"), 0);
    assert_int_equal (s_filter_ok ("pi.*,!pi.slow,[ab]?.x"), 0);
    assert_int_equal (s_filter_ok ("!pi.slow"), 0);
    const char *bad [] = { "",     "!",    ",",    "a,",    ",a",     "a,,b", "a,!",
                           "a\"b", "a\nb", "a\tb", "a\x7f", "x@bulk", NULL };
    for (const char **b = bad; *b; b++)
        assert_int_equal (s_filter_ok (*b), -1);
    char glob [ASYNC_FILTER_GLOB + 3];
    memset (glob, 'a', sizeof glob - 1);
    glob [sizeof glob - 1] = 0;
    glob [0] = '!';
    glob [ASYNC_FILTER_GLOB + 1] = 0;  //  '!' and 200 bytes
    assert_int_equal (s_filter_ok (glob), 0);
    assert_int_equal (s_filter_ok (glob + 1), 0);
    glob [ASYNC_FILTER_GLOB + 1] = 'a';  //  201 bytes
    assert_int_equal (s_filter_ok (glob), -1);
    assert_int_equal (s_filter_ok (glob + 1), -1);
    //  64 globs of each kind, not 65; not over ASYNC_FILTER_MAX bytes
    char many [ASYNC_FILTER_MAX + 8] = "";
    for (int i = 0; i < ASYNC_FILTER_GLOBS; i++)
        strcat (many, i ? ",a" : "a");
    assert_int_equal (s_filter_ok (many), 0);
    strcat (many, ",!b");
    assert_int_equal (s_filter_ok (many), 0);
    strcat (many, ",a");
    assert_int_equal (s_filter_ok (many), -1);
    memset (many, 'a', ASYNC_FILTER_MAX + 1);
    for (int i = 100; i < ASYNC_FILTER_MAX; i += 100)
        many [i] = ',';
    many [ASYNC_FILTER_MAX + 1] = 0;
    assert_int_equal (s_filter_ok (many), -1);
    many [ASYNC_FILTER_MAX] = 0;
    assert_int_equal (s_filter_ok (many), 0);
    //  The length given is the filter: a NUL inside it is a control byte
    char why [200];
    assert_int_equal (async_filter_check ("a\0b", 3, why, sizeof why), -1);
}

static void
test_glob_match (void **state)
{
    (void) state;
    assert_true (async_glob_match ("pi.*", "pi.generate_sample"));
    assert_true (async_glob_match ("*", "pi.generate_sample"));
    assert_true (async_glob_match ("pi.generate_sample", "pi.generate_sample"));
    assert_true (async_glob_match ("pi.generate_?ample", "pi.generate_sample"));
    assert_true (async_glob_match ("pi.[gp]*", "pi.process_samples"));
    assert_true (async_glob_match ("*sample", "pi.generate_sample"));
    assert_true (async_glob_match ("*.*", "a.b"));

    assert_false (async_glob_match ("pi.*", "pix.generate"));
    assert_false (async_glob_match ("pi.*", "testing.noop"));
    assert_false (async_glob_match ("pi", "pi.generate_sample"));
    assert_false (async_glob_match ("pi.generate", "pi.generate_sample"));
    assert_false (async_glob_match ("PI.*", "pi.generate_sample"));
    assert_false (async_glob_match ("pi.[!g]*", "pi.generate_sample"));
    assert_false (async_glob_match ("pi.generate_?", "pi.generate_sample"));
}

static void
test_id_new_is_valid_and_unique (void **state)
{
    (void) state;
    char a [37], b [37];
    memset (a, 'x', sizeof a);
    async_id_new (a);
    async_id_new (b);
    assert_int_equal (strlen (a), 36);
    assert_true (async_id_valid (a));
    assert_true (async_id_valid (b));
    assert_string_not_equal (a, b);
}

static int
s_id_compare (const void *a, const void *b)
{
    return memcmp (a, b, 37);
}

//  Ids come from a pool of random bytes: 10,000 (several refills) are all
//  version 4, RFC 4122 variant, and distinct; a forked child does not
//  repeat the ids its parent draws next
static void
test_id_new_pool_and_fork (void **state)
{
    (void) state;
    enum { N = 10000 };
    char (*ids) [37] = calloc (N, 37);
    assert_non_null (ids);
    for (int i = 0; i < N; i++) {
        async_id_new (ids [i]);
        assert_true (async_id_valid (ids [i]));
        assert_int_equal (ids [i][14], '4');
        assert_non_null (strchr ("89ab", ids [i][19]));
    }
    qsort (ids, N, 37, s_id_compare);
    for (int i = 1; i < N; i++)
        assert_true (memcmp (ids [i - 1], ids [i], 37) != 0);
    free (ids);
    char first [37];
    async_id_new (first);           //  the pool holds unused bytes now
    int pipefd [2];
    assert_int_equal (pipe (pipefd), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        char child [37];
        async_id_new (child);
        ssize_t rc = write (pipefd [1], child, 37);
        _exit (rc == 37 ? 0 : 1);
    }
    char parent [37], child [37];
    async_id_new (parent);
    assert_int_equal (read (pipefd [0], child, 37), 37);
    int status;
    waitpid (pid, &status, 0);
    close (pipefd [0]);
    close (pipefd [1]);
    assert_true (async_id_valid (child));
    assert_string_not_equal (parent, child);
}

//  Job ids are time-ordered: version 7, RFC variant, each greater than the
//  one before (also past 4,096 in one millisecond), their time the clock's
static void
test_id_new_ordered (void **state)
{
    (void) state;
    enum { N = 20000 };
    char (*ids) [37] = calloc (N, 37);
    assert_non_null (ids);
    int64_t before_ms = async_now_us () / 1000;
    for (int i = 0; i < N; i++) {
        async_id_new_ordered (ids [i]);
        assert_true (async_id_valid (ids [i]));
        assert_int_equal (ids [i][14], '7');
        assert_non_null (strchr ("89ab", ids [i][19]));
        if (i)
            assert_true (strcmp (ids [i - 1], ids [i]) < 0);
    }
    //  The first 48 bits: Unix time in ms, at or after the start
    char hex [13];
    memcpy (hex, ids [0], 8);
    memcpy (hex + 8, ids [0] + 9, 4);
    hex [12] = 0;
    int64_t ms = (int64_t) strtoll (hex, NULL, 16);
    assert_true (ms >= before_ms && ms < before_ms + 60000);
    free (ids);
}

//  Reverse of async_log_quote, for the round trip below
static size_t
s_unquote (const char *text, char *out)
{
    size_t len = 0;
    for (const char *c = text; *c; c++) {
        if (*c != '\\') {
            out [len++] = *c;
            continue;
        }
        c++;
        if (*c == 'n')
            out [len++] = '\n';
        else if (*c == 't')
            out [len++] = '\t';
        else if (*c == 'x') {
            char hex [3] = { c [1], c [2], 0 };
            out [len++] = (char) strtol (hex, NULL, 16);
            c += 2;
        }
        else
            out [len++] = *c;
    }
    out [len] = 0;
    return len;
}

//  async_log_quote: one line, escapes that round-trip, cut with "..." on a
//  whole escape
static void
test_log_quote (void **state)
{
    (void) state;
    char buf [64];
    assert_string_equal (async_log_quote ("a\"b\nc\001d", buf, sizeof buf), "a\\\"b\\nc\\x01d");
    assert_string_equal (async_log_quote ("back\\slash\ttab\r\x7f", buf, sizeof buf),
                         "back\\\\slash\\ttab\\x0d\\x7f");
    assert_string_equal (async_log_quote ("it's \xc3\xa9t\xc3\xa9", buf, sizeof buf),
                         "it's \xc3\xa9t\xc3\xa9");
    assert_string_equal (async_log_quote (NULL, buf, sizeof buf), "");
    assert_string_equal (async_log_quote ("0123456789", buf, 8), "0123...");
    assert_string_equal (async_log_quote ("abc", buf, 8), "abc");
    assert_string_equal (async_log_quote ("abcdefg", buf, 8), "abcdefg");
    //  A cut never splits an escape
    assert_string_equal (async_log_quote ("abc\x01xyzw", buf, 8), "abc...");
    assert_string_equal (async_log_quote ("ab\"cdefgh", buf, 8), "ab\\\"...");
    assert_string_equal (async_log_quote ("abc\"defgh", buf, 8), "abc...");
    assert_string_equal (async_log_quote ("\x01\x02\x03", buf, 6), "...");
    //  Every byte round-trips when nothing is cut
    char all [256], back [256];
    for (int i = 1; i < 256; i++)
        all [i - 1] = (char) i;
    all [255] = 0;
    char quoted [1200];
    async_log_quote (all, quoted, sizeof quoted);
    assert_null (strchr (quoted, '\n'));
    for (const char *c = quoted; *c; c++)
        assert_true (*c != '"' || (c > quoted && c [-1] == '\\'));
    assert_int_equal (s_unquote (quoted, back), 255);
    assert_memory_equal (back, all, 256);
}

static void
test_id_validation (void **state)
{
    (void) state;
    assert_true (async_id_valid ("123e4567-e89b-12d3-a456-426614174000"));
    assert_true (async_id_valid ("00000000-0000-0000-0000-000000000000"));
    assert_true (async_id_valid ("ffffffff-ffff-ffff-ffff-ffffffffffff"));

    const char *bad [] = {
        "",
        "123E4567-e89b-12d3-a456-426614174000",     //  uppercase
        "123e4567e89b-12d3-a456-4266141740001",     //  dash missing
        "123e4567-e89b-12d3-a456-42661417400",      //  35 chars
        "123e4567-e89b-12d3-a456-4266141740000",    //  37 chars
        "123e4567-e89b-12d3-a456-42661417400g",     //  not hex
        "123e456-7e89b-12d3-a456-426614174000",     //  dash misplaced
        "123e4567-e89b-12d3-a456-426614174000\n",
        "../../../../../../../../../etc/passwd",
        NULL
    };
    for (int i = 0; bad [i]; i++)
        if (async_id_valid (bad [i]))
            fail_msg ("id '%s' was accepted", bad [i]);
    assert_false (async_id_valid (NULL));
}

static void
test_task_name_validation (void **state)
{
    (void) state;
    assert_true (async_task_name_valid ("pi.generate_sample"));
    assert_true (async_task_name_valid ("a.b"));
    assert_true (async_task_name_valid ("mod-1.fn_2"));
    assert_true (async_task_name_valid ("pkg.mod.fn"));
    assert_true (async_task_name_valid ("Time.Time9"));

    const char *bad [] = {
        "", "ab", "abc", "time", ".ab", "ab.", ".", "..", "a b.c", "a/b.c",
        "pi.gen*", "pi.gen?", "pi.x\n", "p\xc3\xafx.y", "a.b;rm", NULL
    };
    for (int i = 0; bad [i]; i++)
        if (async_task_name_valid (bad [i]))
            fail_msg ("task name '%s' was accepted", bad [i]);
    assert_false (async_task_name_valid (NULL));

    //  At most 200 bytes
    char name [260];
    memset (name, 'a', sizeof name);
    name [1] = '.';
    name [200] = 0;
    assert_true (async_task_name_valid (name));
    name [200] = 'a';
    name [201] = 0;
    assert_false (async_task_name_valid (name));

    //  Which rule a name breaks
    char why [200];
    assert_false (async_task_name_check ("a b.c", why, sizeof why));
    assert_string_equal (why,
                         "it has ' ' at byte 2: only letters, digits, '_', '-' "
                         "and '.' are allowed");
    assert_false (async_task_name_check ("abc", why, sizeof why));
    assert_string_equal (why, "it has no '.': name it module.function");
    assert_false (async_task_name_check ("pi.x\n", why, sizeof why));
    assert_string_equal (why,
                         "it has the byte 0x0a at byte 5: only letters, digits, "
                         "'_', '-' and '.' are allowed");
    assert_false (async_task_name_check ("ab.", why, sizeof why));
    assert_string_equal (why, "it ends with '.'");
    assert_false (async_task_name_check (name, why, sizeof why));
    assert_string_equal (why, "it is 201 bytes long, over 200");
    assert_true (async_task_name_check ("a.b", why, sizeof why));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_duration_units),
        cmocka_unit_test (test_duration_plain_number_is_seconds),
        cmocka_unit_test (test_duration_fractions),
        cmocka_unit_test (test_duration_sign_only_when_allowed),
        cmocka_unit_test (test_duration_bad_input_refused),
        cmocka_unit_test (test_duration_limit_is_1e12_seconds),
        cmocka_unit_test (test_seconds_to_us_refuses_nan_inf_and_range),
        cmocka_unit_test (test_checked_arithmetic),
        cmocka_unit_test (test_parse_int_range),
        cmocka_unit_test (test_time_iso_utc),
        cmocka_unit_test (test_time_iso_fractions),
        cmocka_unit_test (test_time_iso_offsets),
        cmocka_unit_test (test_time_relative_and_now),
        cmocka_unit_test (test_time_bad_input_refused),
        cmocka_unit_test (test_time_outside_years_0_to_9999_refused),
        cmocka_unit_test (test_time_impossible_dates_refused),
        cmocka_unit_test (test_time_format_known_values),
        cmocka_unit_test (test_time_format_parse_round_trip),
        cmocka_unit_test (test_clocks_advance),
        cmocka_unit_test (test_glob_match),
        cmocka_unit_test (test_filter_check),
        cmocka_unit_test (test_id_new_is_valid_and_unique),
        cmocka_unit_test (test_id_new_pool_and_fork),
        cmocka_unit_test (test_id_new_ordered),
        cmocka_unit_test (test_log_quote),
        cmocka_unit_test (test_id_validation),
        cmocka_unit_test (test_task_name_validation),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
