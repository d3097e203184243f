/*  =========================================================================
    async_cron - cron expressions: parse five fields, find the next tick

    "MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK", as crontab(5):
    - each field a comma-separated list of items: `*`, `N`, `N-M`, each
      with an optional `/STEP` (`*` then `/5`: every 5; `N/STEP` is
      `N-LAST/STEP`);
    - minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec,
      day of week 0-7 (0 and 7 are Sunday) or sun-sat; names in any case;
    - when both day fields are restricted (neither starts with `*`), a
      day matches either of them; else it must match both.
    Times are whole minutes of the clock of a time zone (async_tz.h): UTC,
    a fixed offset, or a named zone of the tz database.

    (internal to asyncmesh)
    =========================================================================
*/
#ifndef ASYNC_CRON_H_INCLUDED
#define ASYNC_CRON_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "async_tz.h"

//  A cron expression takes at most this many bytes
#define ASYNC_CRON_MAX 200

typedef struct {
    uint64_t minutes;    //  bit n: minute n
    uint32_t hours;      //  bit n: hour n
    uint32_t days;       //  bit n: day of month n (1-31)
    uint16_t months;     //  bit n: month n (1-12)
    uint8_t weekdays;    //  bit n: day of week n (0 = Sunday)
    bool days_star;      //  the day-of-month field starts with *
    bool weekdays_star;  //  the day-of-week field starts with *
} async_cron_t;

//  Parse `text`. 0, or -1 with a one-line reason in err (an expression that
//  never matches a date, e.g. "0 0 30 2 *", is refused too).
int async_cron_parse (const char *text, async_cron_t *cron, char *err, size_t err_size);

//  The first tick strictly after `after_us` (wall clock, us since the
//  epoch, >= 0) on the clock of zone `tz` (NULL: UTC), in us; -1 if there
//  is none within about 10 years (or it is out of range). In a zone with
//  daylight saving time, a local time that the clock skips is skipped,
//  and one that it repeats runs once (at its first instant).
int64_t async_cron_next (const async_cron_t *cron, int64_t after_us, const async_tz_t *tz);

#endif
