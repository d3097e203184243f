/*  =========================================================================
    async_cron - cron expressions: parse five fields, find the next tick

    See async_cron.h. Dates are computed here, from days since the epoch
    (proleptic Gregorian, as timegm), without the C library's time zone
    state: the broker's loop never looks at TZ.
    =========================================================================
*/
#include "async_cron.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;  //  for errors
    int min, max;
    const char *const *names;  //  3-letter names for min.., or NULL
} s_field_t;

static const char *const s_month_names [] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
                                              "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const s_day_names [] = { "sun", "mon", "tue", "wed",
                                            "thu", "fri", "sat", NULL };
static const s_field_t s_fields [5] = {
    { "minute", 0, 59, NULL },
    { "hour", 0, 23, NULL },
    { "day of month", 1, 31, NULL },
    { "month", 1, 12, s_month_names },
    { "day of week", 0, 7, s_day_names },
};

//  One value of a field at *at (a number or a name); advances *at.
//  0, or -1 if there is none or it is out of the field's range
static int
s_value (const s_field_t *field, const char **at, int *value)
{
    const char *c = *at;
    if (isdigit ((unsigned char) *c)) {
        int number = 0, digits = 0;
        for (; isdigit ((unsigned char) *c); c++)
            if (++digits > 2)
                return -1;
            else
                number = number * 10 + (*c - '0');
        *at = c;
        *value = number;
        return number < field->min || number > field->max ? -1 : 0;
    }
    for (int i = 0; field->names && field->names [i]; i++)
        if (strncasecmp (c, field->names [i], 3) == 0 && !isalpha ((unsigned char) c [3])) {
            *at = c + 3;
            *value = field->min + i;
            return 0;
        }
    return -1;
}

//  Parse one field (NUL-terminated) into bits. 0, or -1
static int
s_field (const s_field_t *field, const char *text, uint64_t *bits)
{
    *bits = 0;
    const char *at = text;
    while (true) {
        int low, high, step = 1;
        if (*at == '*') {
            low = field->min;
            high = field->max;
            at++;
        }
        else {
            if (s_value (field, &at, &low))
                return -1;
            high = low;
            if (*at == '-') {
                at++;
                if (s_value (field, &at, &high) || high < low)
                    return -1;
            }
            else if (*at == '/')
                high = field->max;  //  N/STEP: N to the last, by STEP
        }
        if (*at == '/') {
            at++;
            if (!isdigit ((unsigned char) *at))
                return -1;
            step = 0;
            for (int digits = 0; isdigit ((unsigned char) *at); at++)
                if (++digits > 2)
                    return -1;
                else
                    step = step * 10 + (*at - '0');
            if (step < 1 || step > field->max)
                return -1;
        }
        for (int value = low; value <= high; value += step)
            *bits |= 1ULL << value;
        if (*at == 0)
            return 0;
        if (*at != ',' || at [1] == 0)
            return -1;
        at++;
    }
}

int
async_cron_parse (const char *text, async_cron_t *cron, char *err, size_t err_size)
{
    memset (cron, 0, sizeof *cron);
    if (!text || strlen (text) > ASYNC_CRON_MAX) {
        snprintf (err, err_size, "a cron expression is at most %d bytes", ASYNC_CRON_MAX);
        return -1;
    }
    char copy [ASYNC_CRON_MAX + 1];
    snprintf (copy, sizeof copy, "%s", text);
    char *words [6];
    int count = 0;
    char *save = NULL;
    for (char *word = strtok_r (copy, " \t", &save); word && count < 6;
         word = strtok_r (NULL, " \t", &save))
        words [count++] = word;
    if (count != 5) {
        snprintf (err, err_size,
                  "a cron expression has 5 fields (minute hour "
                  "day-of-month month day-of-week), like '*/5 * * * *'");
        return -1;
    }
    uint64_t bits [5];
    for (int i = 0; i < 5; i++)
        if (s_field (&s_fields [i], words [i], &bits [i])) {
            char shown [32];
            size_t len = 0;
            for (const char *c = words [i]; *c && len < sizeof shown - 1; c++)
                shown [len++] = isprint ((unsigned char) *c) && *c != '\'' ? *c : '?';
            shown [len] = 0;
            snprintf (err, err_size,
                      "cron field %d (%s) '%s' is not *, N, N-M, a list of "
                      "them or any of them with /STEP, with values %d to %d%s",
                      i + 1, s_fields [i].name, shown, s_fields [i].min, s_fields [i].max,
                      s_fields [i].names ? " or names" : "");
            return -1;
        }
    cron->minutes = bits [0];
    cron->hours = (uint32_t) bits [1];
    cron->days = (uint32_t) bits [2];
    cron->months = (uint16_t) bits [3];
    cron->weekdays = (uint8_t) ((bits [4] | bits [4] >> 7) & 0x7f);  //  7 is Sunday
    cron->days_star = words [2][0] == '*';
    cron->weekdays_star = words [4][0] == '*';
    if (async_cron_next (cron, 0, NULL) < 0) {
        snprintf (err, err_size, "cron expression '%.64s' never matches a date", text);
        return -1;
    }
    return 0;
}

//  The first whole minute after `local` (seconds of local time) that
//  matches, in local seconds; -1 if there is none within about 11 years
static int64_t
s_next_local (const async_cron_t *cron, int64_t local)
{
    int64_t t = (async_tz_floor_div (local, 60) + 1) * 60;
    int64_t limit = t + 11LL * 366 * 86400;
    while (t < limit) {
        int64_t days = async_tz_floor_div (t, 86400);
        int64_t secs = t - days * 86400;
        int64_t year;
        int month, day;
        async_tz_civil (days, &year, &month, &day);
        if (!(cron->months & (1U << month))) {
            t = (month == 12 ? async_tz_days (year + 1, 1, 1) : async_tz_days (year, month + 1, 1)) * 86400;
            continue;
        }
        int weekday = (int) (days + 4 - async_tz_floor_div (days + 4, 7) * 7);  //  0 = Sunday
        bool day_ok = cron->days & (1U << day);
        bool weekday_ok = cron->weekdays & (1U << weekday);
        if (!cron->days_star && !cron->weekdays_star ? !(day_ok || weekday_ok)
                                                     : !(day_ok && weekday_ok)) {
            t = (days + 1) * 86400;
            continue;
        }
        int hour = (int) (secs / 3600);
        if (!(cron->hours & (1U << hour))) {
            t = days * 86400 + (hour + 1) * 3600;
            continue;
        }
        int minute = (int) (secs % 3600 / 60);
        if (!(cron->minutes & (1ULL << minute))) {
            t += 60;
            continue;
        }
        return t;
    }
    return -1;
}

static int32_t
s_offset (const async_tz_t *tz, int64_t utc_s)
{
    return tz ? async_tz_offset (tz, utc_s) : 0;
}

int64_t
async_cron_next (const async_cron_t *cron, int64_t after_us, const async_tz_t *tz)
{
    //  Past 9999 there is nothing to schedule (and no overflow below)
    if (after_us < 0 || after_us > 253402300799LL * 1000000)
        return -1;
    int64_t after = after_us / 1000000;
    //  A cursor on the local clock, moving forward only: a local time that
    //  the clock skipped (spring forward) has no instant and is passed
    //  over; one that it repeats (fall back) is taken at its first instant
    //  after `after` only, as the next search starts from its local time
    int64_t local = after + s_offset (tz, after);
    for (int skipped = 0; skipped < 10000; skipped++) {
        int64_t candidate = s_next_local (cron, local);
        if (candidate < 0)
            return -1;
        //  The instants whose local time is the candidate: the offsets a
        //  day around it (a zone changes its offset at most once a day)
        int64_t best = -1;
        int64_t around [3] = { candidate - 86400, candidate, candidate + 86400 };
        for (int i = 0; i < 3; i++) {
            int32_t offset = s_offset (tz, around [i]);
            int64_t utc = candidate - offset;
            if (s_offset (tz, utc) == offset && utc > after && (best < 0 || utc < best))
                best = utc;
        }
        if (best >= 0)
            return best > 253402300799LL ? -1 : best * 1000000;
        local = candidate;
    }
    return -1;
}
