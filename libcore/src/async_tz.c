/*  =========================================================================
    async_tz - time zones for cron schedules: UTC, fixed offsets, and named
    zones read from the system's tz database (TZif files)

    See async_tz.h. The TZif format is RFC 8536: the version 2+ data block
    (64-bit times) after the version 1 one, then a footer holding a POSIX
    TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3") for the times after the last
    transition. Only the "Mm.w.d" form of rules is read (every zone of the
    tz database uses it); a zone whose footer is another is refused.
    =========================================================================
*/
#include "async_tz.h"
#include "async_alloc.h"
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FILE_MAX  (1024 * 1024)  //  a TZif file, at most
#define S_TIMES_MAX 10000          //  transitions, at most

//  A POSIX TZ rule's day: month m, week w (5: the last), weekday d, at
//  `time` seconds of local time
typedef struct {
    int month, week, weekday;
    int32_t time;
} s_rule_day_t;

struct _async_tz_t {
    char text [ASYNC_TZ_NAME_MAX + 1];
    int32_t fixed;                   //  the offset, when there are no transitions
    size_t count;                    //  transitions
    int64_t *times;                  //  UTC, ascending
    int32_t *offsets;                //  the offset from each transition on
    int32_t before;                  //  the offset before the first transition
    bool has_rule;                   //  the footer's rule, for after the last
    int32_t std_offset, dst_offset;  //  east of UTC
    bool has_dst;
    s_rule_day_t start, end;  //  to daylight time, back to standard time
};

//  ---------------------------------------------------------------------
//  Dates (proleptic Gregorian; H. Hinnant's algorithms)

int64_t
async_tz_floor_div (int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t
async_tz_days (int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = async_tz_floor_div (year, 400);
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void
async_tz_civil (int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = async_tz_floor_div (days, 146097);
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *day = (int) (doy - (153 * mp + 2) / 5 + 1);
    *month = (int) (mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

//  The year of a day number
static int64_t
s_year_of_days (int64_t days)
{
    int64_t year;
    int month, day;
    async_tz_civil (days, &year, &month, &day);
    return year;
}

//  Days since the epoch of a rule's day in `year`
static int64_t
s_rule_days (const s_rule_day_t *rule, int64_t year)
{
    int64_t first = async_tz_days (year, rule->month, 1);
    int64_t next = rule->month == 12 ? async_tz_days (year + 1, 1, 1)
                                     : async_tz_days (year, rule->month + 1, 1);
    int first_weekday = (int) (first + 4 - async_tz_floor_div (first + 4, 7) * 7);  //  0 = Sunday
    int64_t day = first + (rule->weekday - first_weekday + 7) % 7 + 7 * (rule->week - 1);
    while (day >= next)
        day -= 7;
    return day;
}

//  ---------------------------------------------------------------------
//  Parsing

//  A fixed offset "+HH:MM", "-HH", "+HHMM" into seconds east of UTC. 0 or -1
static int
s_fixed (const char *text, int32_t *offset)
{
    if ((text [0] != '+' && text [0] != '-') || !isdigit ((unsigned char) text [1])
        || !isdigit ((unsigned char) text [2]))
        return -1;
    int hours = (text [1] - '0') * 10 + (text [2] - '0'), minutes = 0;
    const char *rest = text + 3;
    if (*rest == ':') {
        rest++;
        if (!*rest)
            return -1;
    }
    if (*rest) {
        if (!isdigit ((unsigned char) rest [0]) || !isdigit ((unsigned char) rest [1])
            || rest [2])
            return -1;
        minutes = (rest [0] - '0') * 10 + (rest [1] - '0');
    }
    int32_t seconds = hours * 3600 + minutes * 60;
    if (minutes > 59 || seconds > ASYNC_TZ_OFFSET_MAX)
        return -1;
    *offset = text [0] == '-' ? -seconds : seconds;
    return 0;
}

//  A POSIX TZ time "[+-]h[h][:mm[:ss]]" at *at (hours up to 167); seconds
static int
s_posix_time (const char **at, int32_t *seconds)
{
    const char *c = *at;
    int sign = 1;
    if (*c == '+' || *c == '-')
        sign = *c++ == '-' ? -1 : 1;
    int32_t parts [3] = { 0, 0, 0 };
    for (int part = 0; part < 3; part++) {
        if (!isdigit ((unsigned char) *c))
            return -1;
        int digits = 0;
        for (; isdigit ((unsigned char) *c); c++)
            if (++digits > 3)
                return -1;
            else
                parts [part] = parts [part] * 10 + (*c - '0');
        if (*c != ':' || part == 2)
            break;
        c++;
    }
    if (parts [0] > 167 || parts [1] > 59 || parts [2] > 59)
        return -1;
    *seconds = sign * (parts [0] * 3600 + parts [1] * 60 + parts [2]);
    *at = c;
    return 0;
}

//  A POSIX TZ zone name ("CET" or "<+03>") at *at
static int
s_posix_name (const char **at)
{
    const char *c = *at;
    if (*c == '<') {
        while (*c && *c != '>')
            c++;
        if (*c != '>')
            return -1;
        c++;
    }
    else {
        while (isalpha ((unsigned char) *c))
            c++;
        if (c - *at < 3)
            return -1;
    }
    *at = c;
    return 0;
}

//  ",Mm.w.d[/time]" at *at
static int
s_posix_rule_day (const char **at, s_rule_day_t *day)
{
    const char *c = *at;
    if (*c++ != ',' || *c++ != 'M')
        return -1;
    int values [3];
    for (int i = 0; i < 3; i++) {
        if (!isdigit ((unsigned char) *c))
            return -1;
        values [i] = 0;
        for (int digits = 0; isdigit ((unsigned char) *c); c++)
            if (++digits > 2)
                return -1;
            else
                values [i] = values [i] * 10 + (*c - '0');
        if (i < 2 && *c++ != '.')
            return -1;
    }
    day->month = values [0];
    day->week = values [1];
    day->weekday = values [2];
    if (day->month < 1 || day->month > 12 || day->week < 1 || day->week > 5 || day->weekday > 6)
        return -1;
    day->time = 7200;
    if (*c == '/') {
        c++;
        if (s_posix_time (&c, &day->time))
            return -1;
    }
    *at = c;
    return 0;
}

//  The footer's rule. 0, or -1 if it is not one we read
static int
s_posix (async_tz_t *self, const char *text)
{
    const char *c = text;
    int32_t west;
    if (s_posix_name (&c) || s_posix_time (&c, &west))
        return -1;
    self->std_offset = -west;
    self->dst_offset = self->std_offset + 3600;
    self->has_dst = false;
    if (*c) {
        if (s_posix_name (&c))
            return -1;
        self->has_dst = true;
        if (*c && *c != ',') {
            if (s_posix_time (&c, &west))
                return -1;
            self->dst_offset = -west;
        }
        if (s_posix_rule_day (&c, &self->start) || s_posix_rule_day (&c, &self->end))
            return -1;
    }
    if (*c)
        return -1;
    self->has_rule = true;
    return 0;
}

static uint32_t
s_be32 (const unsigned char *p)
{
    return (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16 | (uint32_t) p [2] << 8 | p [3];
}

static int64_t
s_be64 (const unsigned char *p)
{
    return (int64_t) ((uint64_t) s_be32 (p) << 32 | s_be32 (p + 4));
}

//  The counts of a TZif header at p (44 bytes): isut, isstd, leap, time,
//  type, char
static void
s_counts (const unsigned char *p, uint32_t counts [6])
{
    for (int i = 0; i < 6; i++)
        counts [i] = s_be32 (p + 20 + 4 * i);
}

//  Read a TZif file's data. 0, or -1 with the reason in *why
static int
s_tzif (async_tz_t *self, const unsigned char *data, size_t size, const char **why)
{
    uint32_t counts [6];
    *why = "not a TZif file of version 2 or later";
    if (size < 44 || memcmp (data, "TZif", 4) || data [4] < '2')
        return -1;
    s_counts (data, counts);
    for (int i = 0; i < 6; i++)
        if (counts [i] > S_TIMES_MAX)
            return -1;
    size_t skip = 44 + (size_t) counts [3] * 5 + (size_t) counts [4] * 6 + counts [5]
        + (size_t) counts [2] * 8 + counts [1] + counts [0];
    if (size < skip + 44 || memcmp (data + skip, "TZif", 4))
        return -1;
    const unsigned char *head = data + skip;
    s_counts (head, counts);
    for (int i = 0; i < 6; i++)
        if (counts [i] > S_TIMES_MAX)
            return -1;
    uint32_t times = counts [3], types = counts [4];
    size_t body = (size_t) times * 9 + (size_t) types * 6 + counts [5]
        + (size_t) counts [2] * 12 + counts [1] + counts [0];
    const unsigned char *p = head + 44;
    if (types == 0 || (size_t) (data + size - p) < body)
        return -1;
    const unsigned char *indexes = p + (size_t) times * 8;
    const unsigned char *infos = indexes + times;
    *why = "a TZif file with an offset out of range";
    for (uint32_t i = 0; i < types; i++) {
        int32_t offset = (int32_t) s_be32 (infos + 6 * i);
        if (offset < -ASYNC_TZ_OFFSET_MAX - 3600 || offset > ASYNC_TZ_OFFSET_MAX + 3600)
            return -1;
    }
    self->count = times;
    self->times = (int64_t *) async_xcalloc (times ? times : 1, sizeof (int64_t));
    self->offsets = (int32_t *) async_xcalloc (times ? times : 1, sizeof (int32_t));
    self->before = (int32_t) s_be32 (infos);
    *why = "a TZif file with transitions out of order or of no type";
    for (uint32_t i = 0; i < times; i++) {
        self->times [i] = s_be64 (p + 8 * i);
        if (indexes [i] >= types || (i && self->times [i] <= self->times [i - 1]))
            return -1;
        self->offsets [i] = (int32_t) s_be32 (infos + 6 * indexes [i]);
    }
    self->fixed = times ? self->offsets [times - 1] : self->before;
    //  The footer: "\n" rule "\n"
    const unsigned char *footer = p + body;
    size_t left = (size_t) (data + size - footer);
    if (left >= 2 && footer [0] == '\n') {
        const unsigned char *end = memchr (footer + 1, '\n', left - 1);
        char rule [128];
        size_t len = end ? (size_t) (end - footer - 1) : 0;
        if (end && len > 0 && len < sizeof rule) {
            memcpy (rule, footer + 1, len);
            rule [len] = 0;
            *why = "a TZif file whose footer rule is not of the Mm.w.d form";
            if (s_posix (self, rule))
                return -1;
        }
    }
    return 0;
}

//  At most 40 bytes of `text` for an error, what is not printable as '?'
static const char *
s_shown (const char *text, char *buf, size_t size)
{
    size_t len = 0;
    for (; text [len] && len < 40 && len + 1 < size; len++)
        buf [len] = isprint ((unsigned char) text [len]) ? text [len] : '?';
    buf [len] = 0;
    return buf;
}

async_tz_t *
async_tz_new (const char *text, char *err, size_t err_size)
{
    char shown [48];
    if (!text || !*text || strlen (text) > ASYNC_TZ_NAME_MAX) {
        snprintf (err, err_size,
                  "a time zone is UTC, a fixed offset like +01:00 or "
                  "a name like Europe/Paris (at most %d bytes)",
                  ASYNC_TZ_NAME_MAX);
        return NULL;
    }
    async_tz_t *self = (async_tz_t *) async_xcalloc (1, sizeof (async_tz_t));
    if (strcmp (text, "UTC") == 0 || strcmp (text, "Z") == 0) {
        snprintf (self->text, sizeof self->text, "UTC");
        return self;
    }
    if (text [0] == '+' || text [0] == '-') {
        if (s_fixed (text, &self->fixed)) {
            snprintf (err, err_size,
                      "time zone '%s' is not a fixed offset like "
                      "+01:00 or -05:30 (at most 18:00)",
                      s_shown (text, shown, sizeof shown));
            async_tz_destroy (&self);
            return NULL;
        }
        int32_t magnitude = self->fixed < 0 ? -self->fixed : self->fixed;
        if (self->fixed == 0)
            snprintf (self->text, sizeof self->text, "UTC");
        else
            snprintf (self->text, sizeof self->text, "%c%02d:%02d", self->fixed < 0 ? '-' : '+',
                      (int) (magnitude / 3600), (int) (magnitude % 3600 / 60));
        return self;
    }
    //  A name: what the tz database's names are made of, no way up
    bool valid = isalpha ((unsigned char) text [0]) && !strstr (text, "..")
        && !strstr (text, "//") && text [strlen (text) - 1] != '/';
    for (const char *c = text; valid && *c; c++)
        valid = isalnum ((unsigned char) *c) || strchr ("/_-+", *c);
    if (!valid) {
        snprintf (err, err_size,
                  "time zone '%s' is not UTC, a fixed offset like "
                  "+01:00 or a name like Europe/Paris",
                  s_shown (text, shown, sizeof shown));
        async_tz_destroy (&self);
        return NULL;
    }
    snprintf (self->text, sizeof self->text, "%s", text);
    char path [sizeof ASYNC_TZ_DIR + ASYNC_TZ_NAME_MAX + 2];
    snprintf (path, sizeof path, "%s/%s", ASYNC_TZ_DIR, text);
    FILE *file = fopen (path, "rb");
    unsigned char *data = file ? (unsigned char *) async_xmalloc (S_FILE_MAX) : NULL;
    size_t size = data ? fread (data, 1, S_FILE_MAX, file) : 0;
    int reading = file && ferror (file) ? EIO : errno;
    if (file)
        fclose (file);
    const char *why = NULL;
    if (!data || size == 0) {
        snprintf (err, err_size, "time zone '%s': cannot read %s: %s", text, path,
                  data ? "empty or unreadable" : strerror (reading));
        free (data);
        async_tz_destroy (&self);
        return NULL;
    }
    if (s_tzif (self, data, size, &why)) {
        snprintf (err, err_size, "time zone '%s': %s is %s", text, path, why);
        free (data);
        async_tz_destroy (&self);
        return NULL;
    }
    free (data);
    return self;
}

void
async_tz_destroy (async_tz_t **self_p)
{
    async_tz_t *self = *self_p;
    if (!self)
        return;
    free (self->times);
    free (self->offsets);
    free (self);
    *self_p = NULL;
}

const char *
async_tz_text (const async_tz_t *self)
{
    return self->text;
}

int32_t
async_tz_offset (const async_tz_t *self, int64_t utc_s)
{
    if (self->count && utc_s < self->times [0])
        return self->before;
    if (self->has_rule && (self->count == 0 || utc_s >= self->times [self->count - 1])) {
        if (!self->has_dst)
            return self->std_offset;
        int64_t year = s_year_of_days (async_tz_floor_div (utc_s + self->std_offset, 86400));
        int64_t start = s_rule_days (&self->start, year) * 86400 + self->start.time
            - self->std_offset;
        int64_t end = s_rule_days (&self->end, year) * 86400 + self->end.time
            - self->dst_offset;
        bool dst = start < end ? utc_s >= start && utc_s < end : utc_s >= start || utc_s < end;
        return dst ? self->dst_offset : self->std_offset;
    }
    if (self->count == 0)
        return self->fixed;
    //  The last transition at or before utc_s
    size_t low = 0, high = self->count;
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (self->times [middle] <= utc_s)
            low = middle;
        else
            high = middle;
    }
    return self->offsets [low];
}
