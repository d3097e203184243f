/*  =========================================================================
    async_tz - time zones for cron schedules: UTC, fixed offsets, and named
    zones read from the system's tz database (TZif files)

    A named zone ("Europe/Paris") is read once, from its TZif file under
    /usr/share/zoneinfo (version 2 or later: 64-bit transition times, and
    the POSIX TZ rule of its footer for times after the last transition).
    Its offset at an instant is then a lookup: no TZ environment variable,
    no localtime_r, nothing global, so that the broker's loop may call it.

    (internal to asyncmesh)
    =========================================================================
*/
#ifndef ASYNC_TZ_H_INCLUDED
#define ASYNC_TZ_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  A zone's text: "UTC", an offset or a name, at most this many bytes
#define ASYNC_TZ_NAME_MAX   64
//  Offsets are within this many seconds of UTC (-18:00..+18:00)
#define ASYNC_TZ_OFFSET_MAX (18 * 3600)
//  Where named zones are read
#define ASYNC_TZ_DIR        "/usr/share/zoneinfo"

typedef struct _async_tz_t async_tz_t;

//  The zone `text`: "UTC" (or "Z"), a fixed offset "+HH:MM", "-HH:MM",
//  "+HH", "+HHMM" (at most 18:00), or a name of the tz database such as
//  "Europe/Paris" (letters, digits, "/", "_", "-", "+"; no "..").
//  NULL, with a one-line reason in err, if it is none of these, or the
//  zone's file is missing or malformed.
async_tz_t *async_tz_new (const char *text, char *err, size_t err_size);

void async_tz_destroy (async_tz_t **self_p);

//  The zone as given, canonical for offsets ("UTC", "+05:30",
//  "Europe/Paris").
const char *async_tz_text (const async_tz_t *self);

//  Seconds east of UTC at the instant `utc_s` (seconds since the epoch).
int32_t async_tz_offset (const async_tz_t *self, int64_t utc_s);

//  Dates of the proleptic Gregorian calendar as days since 1970-01-01 and
//  back (H. Hinnant's algorithms), for any day within +-2^50 days
//  a / b rounded toward minus infinity (b > 0)
int64_t async_tz_floor_div (int64_t a, int64_t b);
//  The day number of year-month-day (month 1-12, day 1-31)
int64_t async_tz_days (int64_t year, int month, int day);
//  The date of a day number
void async_tz_civil (int64_t days, int64_t *year, int *month, int *day);

#endif
