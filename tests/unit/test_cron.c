/*  =========================================================================
    test_cron - cron expressions (libcore/src/async_cron.c): parsing, the
    next tick, fixed-offset time zones, checked against a minute-by-minute
    scan with gmtime_r
    =========================================================================
*/
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "async_cron.h"

#define SEC 1000000LL

//  us of a UTC date
static int64_t
s_us (int year, int month, int day, int hour, int minute, int second)
{
    struct tm tm = { .tm_year = year - 1900,
                     .tm_mon = month - 1,
                     .tm_mday = day,
                     .tm_hour = hour,
                     .tm_min = minute,
                     .tm_sec = second };
    return (int64_t) timegm (&tm) * SEC;
}

static void
s_parse_ok (const char *text, async_cron_t *cron)
{
    char err [300] = "";
    if (async_cron_parse (text, cron, err, sizeof err))
        fail_msg ("cron '%s' refused: %s", text, err);
}

//  The next tick of `text` after `after`, on a clock offset_s east of UTC
static int64_t
s_next (const char *text, int64_t after, int32_t offset_s)
{
    async_cron_t cron;
    s_parse_ok (text, &cron);
    return async_cron_next (&cron, after, offset_s);
}

static void
test_cron_fields (void **state)
{
    (void) state;
    async_cron_t cron;
    s_parse_ok ("*/5 * * * *", &cron);
    for (int minute = 0; minute < 60; minute++)
        assert_int_equal (!!(cron.minutes & (1ULL << minute)), minute % 5 == 0);
    assert_int_equal (cron.hours, 0xffffff);
    assert_true (cron.days_star && cron.weekdays_star);
    s_parse_ok ("0,30 9-17/2 1,15 jan-MAR,Dec Mon-fri", &cron);
    assert_true (cron.minutes == (1ULL | 1ULL << 30));
    assert_int_equal (cron.hours, (1 << 9) | (1 << 11) | (1 << 13) | (1 << 15) | (1 << 17));
    assert_int_equal (cron.days, (1 << 1) | (1 << 15));
    assert_int_equal (cron.months, (1 << 1) | (1 << 2) | (1 << 3) | (1 << 12));
    assert_int_equal (cron.weekdays, 0x3e);
    assert_false (cron.days_star || cron.weekdays_star);
    //  7 is Sunday, as 0; N/STEP runs to the end
    s_parse_ok ("10/20 * * * 5-7", &cron);
    assert_true (cron.minutes == (1ULL << 10 | 1ULL << 30 | 1ULL << 50));
    assert_int_equal (cron.weekdays, (1 << 0) | (1 << 5) | (1 << 6));
    s_parse_ok ("  0\t0  *  *  sun ", &cron);
    assert_int_equal (cron.weekdays, 1);
}

static void
test_cron_refused (void **state)
{
    (void) state;
    const char *bad [] = { "",
                           "* * * *",
                           "* * * * * *",
                           "60 * * * *",
                           "* 24 * * *",
                           "* * 0 * *",
                           "* * 32 * *",
                           "* * * 0 *",
                           "* * * 13 *",
                           "* * * * 8",
                           "*/0 * * * *",
                           "*/60 * * * *",
                           "5-1 * * * *",
                           "1,,2 * * * *",
                           "1, * * * *",
                           ",1 * * * *",
                           "x * * * *",
                           "- * * * *",
                           "1- * * * *",
                           "*/ * * * *",
                           "** * * * *",
                           "*-5 * * * *",
                           "001 * * * *",
                           "1/100 * * * *",
                           "* * * janu *",
                           "* * * * mo",
                           "jan * * * *",
                           "* * 30 feb *",
                           "* * 31 apr,jun *",
                           "-1 * * * *",
                           "1.5 * * * *",
                           NULL };
    for (int i = 0; bad [i]; i++) {
        async_cron_t cron;
        char err [300] = "";
        if (async_cron_parse (bad [i], &cron, err, sizeof err) != -1)
            fail_msg ("cron '%s' was accepted", bad [i]);
        if (!*err || strchr (err, '\n'))
            fail_msg ("cron '%s' refused without a one-line reason", bad [i]);
    }
    char long_text [400];
    memset (long_text, '1', sizeof long_text - 1);
    long_text [sizeof long_text - 1] = 0;
    async_cron_t cron;
    char err [300];
    assert_int_equal (async_cron_parse (long_text, &cron, err, sizeof err), -1);
    assert_int_equal (async_cron_parse (NULL, &cron, err, sizeof err), -1);
}

static void
test_cron_next (void **state)
{
    (void) state;
    int64_t now = s_us (2026, 12, 7, 15, 5, 30);
    assert_true (s_next ("*/5 * * * *", now, 0) == s_us (2026, 12, 7, 15, 10, 0));
    //  Strictly after: a tick time itself gives the next one
    assert_true (s_next ("*/5 * * * *", s_us (2026, 12, 7, 15, 10, 0), 0)
                 == s_us (2026, 12, 7, 15, 15, 0));
    assert_true (s_next ("* * * * *", s_us (2026, 12, 7, 15, 10, 0) - 1, 0)
                 == s_us (2026, 12, 7, 15, 10, 0));
    //  Over the end of a day, a month, a year
    assert_true (s_next ("0 0 * * *", s_us (2026, 12, 31, 23, 59, 59), 0)
                 == s_us (2027, 1, 1, 0, 0, 0));
    assert_true (s_next ("0 12 1 * *", s_us (2026, 1, 31, 13, 0, 0), 0)
                 == s_us (2026, 2, 1, 12, 0, 0));
    //  29 February: the next leap year (2100 is not one)
    assert_true (s_next ("0 0 29 2 *", s_us (2026, 3, 1, 0, 0, 0), 0)
                 == s_us (2028, 2, 29, 0, 0, 0));
    assert_true (s_next ("0 0 29 2 *", s_us (2096, 3, 1, 0, 0, 0), 0)
                 == s_us (2104, 2, 29, 0, 0, 0));
    //  Both day fields restricted: either matches (13th or a Friday)
    assert_true (s_next ("0 0 13 * fri", s_us (2026, 12, 7, 0, 0, 0), 0)
                 == s_us (2026, 12, 11, 0, 0, 0));  //  Friday 11th
    assert_true (s_next ("0 0 13 * fri", s_us (2026, 12, 11, 0, 0, 0), 0)
                 == s_us (2026, 12, 13, 0, 0, 0));  //  Sunday 13th
    //  One restricted: both must match (a Friday the 13th)
    assert_true (s_next ("0 0 13 * *", s_us (2026, 12, 7, 0, 0, 0), 0)
                 == s_us (2026, 12, 13, 0, 0, 0));
    //  "*/31" starts with *: both must match, a 1st that is a Friday
    assert_true (s_next ("0 0 */31 * fri", s_us (2026, 12, 7, 0, 0, 0), 0)
                 == s_us (2027, 1, 1, 0, 0, 0));
    //  Weekdays: Monday to Friday at 09:00
    assert_true (s_next ("0 9 * * mon-fri", s_us (2026, 12, 11, 10, 0, 0), 0)
                 == s_us (2026, 12, 14, 9, 0, 0));
    //  Out of range
    async_cron_t cron;
    s_parse_ok ("* * * * *", &cron);
    assert_true (async_cron_next (&cron, -1, 0) == -1);
    assert_true (async_cron_next (&cron, INT64_MAX, 0) == -1);
    assert_true (async_cron_next (&cron, 0, ASYNC_CRON_OFFSET_MAX + 1) == -1);
}

static void
test_cron_tz (void **state)
{
    (void) state;
    int32_t offset;
    char err [300], buf [16];
    const char *good [] = { "UTC",   "Z",   "utc",    "+00:00", "+05:30", "-05:00",
                            "+0530", "-03", "+18:00", "-18:00", NULL };
    const int32_t want [] = { 0, 0, 0, 0, 19800, -18000, 19800, -10800, 64800, -64800 };
    for (int i = 0; good [i]; i++) {
        if (async_cron_tz_parse (good [i], &offset, err, sizeof err))
            fail_msg ("tz '%s' refused: %s", good [i], err);
        assert_int_equal (offset, want [i]);
    }
    const char *bad [] = { "",    "Europe/Paris", "+1:00",     "+01:",   "+01:60", "+18:01",
                           "+25", "05:30",        "+05:30:00", "+0530x", "GMT",    NULL };
    for (int i = 0; bad [i]; i++) {
        err [0] = 0;
        if (async_cron_tz_parse (bad [i], &offset, err, sizeof err) != -1)
            fail_msg ("tz '%s' was accepted", bad [i]);
        assert_true (*err && !strchr (err, '\n'));
    }
    assert_int_equal (async_cron_tz_parse (NULL, &offset, err, sizeof err), -1);
    assert_string_equal (async_cron_tz_format (0, buf, sizeof buf), "UTC");
    assert_string_equal (async_cron_tz_format (19800, buf, sizeof buf), "+05:30");
    assert_string_equal (async_cron_tz_format (-18000, buf, sizeof buf), "-05:00");
    //  02:30 at +05:30 is 21:00 UTC the day before; midnight at -05:00 is 05:00 UTC
    int64_t now = s_us (2026, 12, 7, 0, 0, 0);
    assert_true (s_next ("30 2 * * *", now, 19800) == s_us (2026, 12, 7, 21, 0, 0));
    assert_true (s_next ("0 0 * * *", now, -18000) == s_us (2026, 12, 7, 5, 0, 0));
    //  The local date decides the day: Monday 00:30 at +01:00 is Sunday 23:30 UTC
    assert_true (s_next ("30 0 * * mon", s_us (2026, 12, 12, 0, 0, 0), 3600)
                 == s_us (2026, 12, 13, 23, 30, 0));
}

//  The minute-by-minute answer, with gmtime_r on the local time
static int64_t
s_scan (const async_cron_t *cron, int64_t after, int32_t offset_s, int minutes)
{
    int64_t t = (after / SEC + offset_s) / 60 * 60 + 60;
    for (int i = 0; i < minutes; i++, t += 60) {
        time_t local = (time_t) t;
        struct tm tm;
        gmtime_r (&local, &tm);
        bool day = cron->days & (1U << tm.tm_mday);
        bool weekday = cron->weekdays & (1U << tm.tm_wday);
        if ((cron->minutes & (1ULL << tm.tm_min)) && (cron->hours & (1U << tm.tm_hour))
            && (cron->months & (1U << (tm.tm_mon + 1)))
            && (!cron->days_star && !cron->weekdays_star ? day || weekday : day && weekday))
            return (t - offset_s) * SEC;
    }
    return -2;  //  not within the scan
}

static void
test_cron_against_scan (void **state)
{
    (void) state;
    const char *exprs [] = { "* * * * *",
                             "*/7 * * * *",
                             "13 */5 * * *",
                             "0 0 * * *",
                             "15 3 * * 1-5",
                             "0 0 1,15 * *",
                             "0 12 * * sat,sun",
                             "5-10/2 4 * * *",
                             "0 0 13 * 5",
                             "0 6 */3 * mon",
                             "59 23 31 * *",
                             "0 0 * feb *",
                             NULL };
    const int32_t offsets [] = { 0, 3600, -16200, 50400 };
    srandom (42);
    for (int i = 0; exprs [i]; i++) {
        async_cron_t cron;
        s_parse_ok (exprs [i], &cron);
        for (int round = 0; round < 40; round++) {
            int64_t after = s_us (2024, 1, 1, 0, 0, 0)
                + (int64_t) (random () % (3 * 366 * 86400)) * SEC + random () % SEC;
            int32_t offset = offsets [round % 4];
            int64_t want = s_scan (&cron, after, offset, 62 * 24 * 60);
            if (want == -2)
                continue;  //  past the scan: not compared
            int64_t got = async_cron_next (&cron, after, offset);
            if (got != want)
                fail_msg ("'%s' after %lld at %d s: %lld, the scan says %lld", exprs [i],
                          (long long) after, (int) offset, (long long) got, (long long) want);
        }
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_cron_fields),       cmocka_unit_test (test_cron_refused),
        cmocka_unit_test (test_cron_next),         cmocka_unit_test (test_cron_tz),
        cmocka_unit_test (test_cron_against_scan),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
