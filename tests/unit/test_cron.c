/*  =========================================================================
    test_cron - cron expressions (libcore/src/async_cron.c): parsing, the
    next tick, fixed-offset time zones, checked against a minute-by-minute
    scan with gmtime_r; named zones (TZif files) against localtime_r
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
#include <unistd.h>
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

static async_tz_t *
s_tz (const char *text)
{
    char err [300] = "";
    async_tz_t *tz = async_tz_new (text, err, sizeof err);
    if (!tz)
        fail_msg ("tz '%s' refused: %s", text, err);
    return tz;
}

//  The next tick of `text` after `after`, in zone `zone`
static int64_t
s_next_in (const char *text, int64_t after, const char *zone)
{
    async_cron_t cron;
    s_parse_ok (text, &cron);
    async_tz_t *tz = s_tz (zone);
    int64_t next = async_cron_next (&cron, after, tz);
    async_tz_destroy (&tz);
    return next;
}

static int64_t
s_next (const char *text, int64_t after, int offset_s)
{
    (void) offset_s;  //  UTC
    return s_next_in (text, after, "UTC");
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
    assert_true (async_cron_next (&cron, -1, NULL) == -1);
    assert_true (async_cron_next (&cron, INT64_MAX, NULL) == -1);
    assert_true (async_cron_next (&cron, s_us (9999, 12, 31, 23, 59, 0), NULL) == -1);
}

static void
test_cron_tz (void **state)
{
    (void) state;
    char err [300];
    const char *good [] = { "UTC",   "Z",   "+00:00", "+05:30", "-05:00",
                            "+0530", "-03", "+18:00", "-18:00", NULL };
    const char *text [] = { "UTC",    "UTC",    "UTC",    "+05:30", "-05:00",
                            "+05:30", "-03:00", "+18:00", "-18:00" };
    const int32_t want [] = { 0, 0, 0, 19800, -18000, 19800, -10800, 64800, -64800 };
    for (int i = 0; good [i]; i++) {
        async_tz_t *tz = s_tz (good [i]);
        assert_int_equal (async_tz_offset (tz, 0), want [i]);
        assert_int_equal (async_tz_offset (tz, 4000000000LL), want [i]);
        assert_string_equal (async_tz_text (tz), text [i]);
        async_tz_destroy (&tz);
    }
    const char *bad [] = { "",
                           "+1:00",
                           "+01:",
                           "+01:60",
                           "+18:01",
                           "+25",
                           "05:30",
                           "+05:30:00",
                           "+0530x",
                           "../etc/passwd",
                           "Europe/../../etc/passwd",
                           "/etc/localtime",
                           "Europe/",
                           "Europe//Paris",
                           "No/Such_Zone",
                           "Europe/Paris\n",
                           "utc",
                           NULL };
    for (int i = 0; bad [i]; i++) {
        err [0] = 0;
        async_tz_t *tz = async_tz_new (bad [i], err, sizeof err);
        if (tz)
            fail_msg ("tz '%s' was accepted", bad [i]);
        assert_true (*err && !strchr (err, '\n'));
    }
    assert_null (async_tz_new (NULL, err, sizeof err));
    //  02:30 at +05:30 is 21:00 UTC the day before; midnight at -05:00 is 05:00 UTC
    int64_t now = s_us (2026, 12, 7, 0, 0, 0);
    assert_true (s_next_in ("30 2 * * *", now, "+05:30") == s_us (2026, 12, 7, 21, 0, 0));
    assert_true (s_next_in ("0 0 * * *", now, "-05:00") == s_us (2026, 12, 7, 5, 0, 0));
    //  The local date decides the day: Monday 00:30 at +01:00 is Sunday 23:30 UTC
    assert_true (s_next_in ("30 0 * * mon", s_us (2026, 12, 12, 0, 0, 0), "+01:00")
                 == s_us (2026, 12, 13, 23, 30, 0));
}

//  A named zone's offsets are those of the C library's localtime_r (with
//  TZ set in this test only), before and after its last transition (the
//  footer's rule), north and south of the equator
static void
test_tz_named_offsets (void **state)
{
    (void) state;
    if (access (ASYNC_TZ_DIR "/Europe/Paris", R_OK))
        skip ();
    const char *zones [] = { "Europe/Paris",
                             "America/New_York",
                             "Australia/Sydney",
                             "Asia/Kolkata",
                             "America/Sao_Paulo",
                             "Pacific/Chatham",
                             "Etc/GMT+5",
                             "UTC",
                             NULL };
    srandom (7);
    for (int z = 0; zones [z]; z++) {
        async_tz_t *tz = s_tz (zones [z]);
        assert_string_equal (async_tz_text (tz), zones [z]);
        setenv ("TZ", zones [z], 1);
        tzset ();
        for (int i = 0; i < 20000; i++) {
            //  1900 to 2100, and densely around 2037 (the end of the
            //  transitions of the files Debian ships)
            int64_t t = i % 2 ? (int64_t) (random () % 6311433600LL) - 2208988800LL
                              : 2114380800LL + (int64_t) (random () % (10 * 31622400LL));
            time_t when = (time_t) t;
            struct tm tm;
            localtime_r (&when, &tm);
            if (async_tz_offset (tz, t) != (int32_t) tm.tm_gmtoff)
                fail_msg ("%s at %lld: %d s, localtime_r says %ld s", zones [z], (long long) t,
                          (int) async_tz_offset (tz, t), tm.tm_gmtoff);
        }
        async_tz_destroy (&tz);
    }
    unsetenv ("TZ");
    tzset ();
}

//  Daylight saving time: a local time that the clock skips is skipped,
//  one that it repeats runs once
static void
test_cron_dst (void **state)
{
    (void) state;
    if (access (ASYNC_TZ_DIR "/Europe/Paris", R_OK))
        skip ();
    //  Paris in winter (+01:00) and summer (+02:00)
    assert_true (s_next_in ("0 12 * * *", s_us (2026, 12, 7, 0, 0, 0), "Europe/Paris")
                 == s_us (2026, 12, 7, 11, 0, 0));
    assert_true (s_next_in ("0 12 * * *", s_us (2026, 7, 7, 0, 0, 0), "Europe/Paris")
                 == s_us (2026, 7, 7, 10, 0, 0));
    //  29 March 2026, 02:00 CET -> 03:00 CEST: 02:30 does not exist that day
    assert_true (s_next_in ("30 2 * * *", s_us (2026, 3, 28, 12, 0, 0), "Europe/Paris")
                 == s_us (2026, 3, 30, 0, 30, 0));
    assert_true (s_next_in ("30 3 * * *", s_us (2026, 3, 28, 12, 0, 0), "Europe/Paris")
                 == s_us (2026, 3, 29, 1, 30, 0));
    //  25 October 2026, 03:00 CEST -> 02:00 CET: 02:30 comes twice, runs once
    int64_t first = s_us (2026, 10, 25, 0, 30, 0);
    assert_true (s_next_in ("30 2 * * *", s_us (2026, 10, 24, 12, 0, 0), "Europe/Paris")
                 == first);
    assert_true (s_next_in ("30 2 * * *", first, "Europe/Paris")
                 == s_us (2026, 10, 26, 1, 30, 0));
    //  Every 10 minutes over the fall back: each local time once, and the
    //  ticks keep going after the repeated hour
    async_cron_t cron;
    s_parse_ok ("*/10 * * * *", &cron);
    async_tz_t *tz = s_tz ("Europe/Paris");
    int64_t tick = s_us (2026, 10, 24, 23, 55, 0);
    int count = 0;
    while ((tick = async_cron_next (&cron, tick, tz)) < s_us (2026, 10, 25, 2, 0, 0))
        count++;
    //  00:00 to 01:50 UTC is 02:00 to 02:50 CEST then 02:00 to 02:50 CET:
    //  the first 6 run, the repeated 6 do not
    assert_int_equal (count, 6);
    assert_true (tick == s_us (2026, 10, 25, 2, 0, 0));  //  03:00 CET
    async_tz_destroy (&tz);
    //  Sydney: 5 October 2026, 02:00 AEST -> 03:00 AEDT; the year turns in DST
    assert_true (s_next_in ("0 9 1 1 *", s_us (2026, 12, 7, 0, 0, 0), "Australia/Sydney")
                 == s_us (2026, 12, 31, 22, 0, 0));
    //  Past the transitions the files list (2037): the footer's rule
    assert_true (s_next_in ("0 12 1 7 *", s_us (2050, 1, 1, 0, 0, 0), "Europe/Paris")
                 == s_us (2050, 7, 1, 10, 0, 0));
    assert_true (s_next_in ("0 12 1 12 *", s_us (2050, 1, 1, 0, 0, 0), "Europe/Paris")
                 == s_us (2050, 12, 1, 11, 0, 0));
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
    const char *zones [] = { "UTC", "+01:00", "-04:30", "+14:00" };
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
            async_tz_t *tz = s_tz (zones [round % 4]);
            int64_t got = async_cron_next (&cron, after, tz);
            async_tz_destroy (&tz);
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
        cmocka_unit_test (test_tz_named_offsets),  cmocka_unit_test (test_cron_dst),
        cmocka_unit_test (test_cron_against_scan),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
