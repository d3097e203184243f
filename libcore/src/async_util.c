/*  =========================================================================
    async_util - time, durations, globs and small helpers
    =========================================================================
*/
#include "async_util.h"
#include "asyncmesh/id.h"
#include <assert.h>
#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <uuid/uuid.h>

int64_t
async_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
async_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool
async_rate_allow (async_rate_t *self, uint32_t per_second)
{
    int64_t mono = async_mono_us ();
    if (mono - self->window >= 1000000) {
        self->window = mono;
        self->lines = 0;
    }
    if (self->lines >= per_second) {
        self->quiet++;
        return false;
    }
    self->lines++;
    return true;
}

uint64_t
async_rate_quiet (async_rate_t *self)
{
    uint64_t quiet = self->quiet;
    self->quiet = 0;
    return quiet;
}

int
async_parse_duration (const char *text, bool allow_sign, int64_t *usecs)
{
    if (!text || !*text)
        return -1;
    const char *p = text;
    int sign = 1;
    if (*p == '+' || *p == '-') {
        if (!allow_sign)
            return -1;
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    if (!isdigit ((unsigned char) *p) && *p != '.')
        return -1;
    char *end;
    double value = strtod (p, &end);
    if (end == p || !isfinite (value) || value < 0)
        return -1;
    double unit = 1e6;
    if (*end == '\0' || strcmp (end, "s") == 0)
        unit = 1e6;
    else
    if (strcmp (end, "ms") == 0)
        unit = 1e3;
    else
    if (strcmp (end, "m") == 0)
        unit = 60e6;
    else
    if (strcmp (end, "h") == 0)
        unit = 3600e6;
    else
    if (strcmp (end, "d") == 0)
        unit = 86400e6;
    else
        return -1;
    double total = value * unit;
    if (total > (double) ASYNC_DURATION_MAX_US)
        return -1;
    *usecs = sign * (int64_t) llround (total);
    return 0;
}

int
async_seconds_to_us (double seconds, double min_s, double max_s, int64_t *usecs)
{
    assert (min_s <= max_s);
    assert (min_s >= -ASYNC_DURATION_MAX_S && max_s <= ASYNC_DURATION_MAX_S);
    //  NaN fails every comparison: written so that it is refused
    if (!(seconds >= min_s && seconds <= max_s))
        return -1;
    *usecs = (int64_t) llround (seconds * 1e6);
    return 0;
}

int
async_mul_i64 (int64_t a, int64_t b, int64_t *result)
{
    int64_t product;
    if (__builtin_mul_overflow (a, b, &product))
        return -1;
    *result = product;
    return 0;
}

int
async_add_i64 (int64_t a, int64_t b, int64_t *result)
{
    int64_t sum;
    if (__builtin_add_overflow (a, b, &sum))
        return -1;
    *result = sum;
    return 0;
}

int
async_parse_int (const char *text, int64_t min, int64_t max, int64_t *value)
{
    if (!text || !(isdigit ((unsigned char) *text)
                   || ((*text == '-' || *text == '+')
                       && isdigit ((unsigned char) text [1]))))
        return -1;
    char *end;
    errno = 0;
    long long number = strtoll (text, &end, 10);
    if (*end || errno || number < min || number > max)
        return -1;
    *value = number;
    return 0;
}

//  Days from 1970-01-01 to y-m-d (proleptic Gregorian), no timezone games
static int64_t
s_days_from_civil (int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned) (y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

int
async_parse_time (const char *text, int64_t now_us, int64_t *when_us)
{
    if (!text || !*text)
        return -1;
    if (strcmp (text, "now") == 0) {
        *when_us = now_us;
        return 0;
    }
    if (*text == '+' || *text == '-') {
        int64_t delta, when;
        if (async_parse_duration (text, true, &delta)
        ||  async_add_i64 (now_us, delta, &when)
        ||  when < ASYNC_TIME_MIN_US || when > ASYNC_TIME_MAX_US)
            return -1;
        *when_us = when;
        return 0;
    }
    int year, month, day, hour = 0, minute = 0, second = 0, consumed = 0;
    if (sscanf (text, "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3
    ||  consumed != 10)
        return -1;
    const char *p = text + consumed;
    int64_t frac_us = 0;
    int64_t offset_s = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (sscanf (p, "%2d:%2d%n", &hour, &minute, &consumed) != 2 || consumed != 5)
            return -1;
        p += consumed;
        if (*p == ':') {
            if (sscanf (p, ":%2d%n", &second, &consumed) != 1 || consumed != 3)
                return -1;
            p += consumed;
            if (*p == '.' || *p == ',') {
                p++;
                int64_t scale = 100000;
                if (!isdigit ((unsigned char) *p))
                    return -1;
                while (isdigit ((unsigned char) *p)) {
                    frac_us += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (*p == 'Z' || *p == 'z')
            p++;
        else
        if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            int oh, om = 0;
            p++;
            if (sscanf (p, "%2d:%2d%n", &oh, &om, &consumed) == 2 && consumed == 5)
                p += 5;
            else
            if (sscanf (p, "%2d%2d%n", &oh, &om, &consumed) == 2 && consumed == 4)
                p += 4;
            else
            if (sscanf (p, "%2d%n", &oh, &consumed) == 1 && consumed == 2)
                p += 2;
            else
                return -1;
            //  Offsets in use run from -12:00 to +14:00; "+99:99" is a typo
            if (oh < 0 || oh > 14 || om < 0 || om > 59)
                return -1;
            offset_s = sign * (oh * 3600 + om * 60);
        }
        else
            return -1;          //  a time of day needs Z or an offset
    }
    if (*p)
        return -1;
    static const int days_in [] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (year < 0 || year > 9999 || month < 1 || month > 12 || day < 1
    ||  day > days_in [month - 1] || hour < 0 || hour > 23 || minute < 0 || minute > 59
    ||  second < 0 || second > 60)
        return -1;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap)
        return -1;
    int64_t days = s_days_from_civil (year, (unsigned) month, (unsigned) day);
    int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
    int64_t when = secs * 1000000 + frac_us;
    if (when < ASYNC_TIME_MIN_US || when > ASYNC_TIME_MAX_US)
        return -1;              //  a year before 0000 ("-999-01-01")
    *when_us = when;
    return 0;
}

char *
async_format_time (int64_t when_us, char *buf, size_t size)
{
    time_t secs = (time_t) (when_us / 1000000);
    int64_t usec = when_us % 1000000;
    if (usec < 0) {
        usec += 1000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r (&secs, &tm);
    snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
              tm.tm_hour, tm.tm_min, tm.tm_sec, (int) usec);
    return buf;
}

int
async_filter_check (const char *filter, size_t length, char *why, size_t why_size)
{
    if (length == 0 || length > ASYNC_FILTER_MAX) {
        snprintf (why, why_size, "a task filter is 1 to %d bytes, not %zu", ASYNC_FILTER_MAX,
                  length);
        return -1;
    }
    size_t included = 0, excluded = 0, glob = 0;
    for (size_t i = 0, start = 0; i <= length; i++) {
        if (i == length || filter [i] == ',') {
            bool exclude = i > start && filter [start] == '!';
            size_t size = i - start - (exclude ? 1 : 0);
            if (size == 0 || size > ASYNC_FILTER_GLOB) {
                snprintf (why, why_size, "glob %zu of the task filter is %zu bytes%s; "
                          "each is 1 to %d, '!' aside", glob + 1, size,
                          exclude ? " after its '!'" : "", ASYNC_FILTER_GLOB);
                return -1;
            }
            if (exclude ? ++excluded > ASYNC_FILTER_GLOBS : ++included > ASYNC_FILTER_GLOBS) {
                snprintf (why, why_size, "the task filter has over %d %s globs",
                          ASYNC_FILTER_GLOBS, exclude ? "excluding" : "included");
                return -1;
            }
            glob++;
            start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char) filter [i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '@') {
            snprintf (why, why_size, "the task filter has %s at byte %zu: globs take no "
                      "control character, '\"' or '@'",
                      c == '"' ? "'\"'" : c == '@' ? "'@'" : "a control character", i + 1);
            return -1;
        }
    }
    return 0;
}

bool
async_glob_match (const char *pattern, const char *name)
{
    return fnmatch (pattern, name, 0) == 0;
}

bool
async_task_name_check (const char *name, char *why, size_t why_size)
{
    char ignored [8];
    if (!why) {
        why = ignored;
        why_size = sizeof ignored;
    }
    if (!name) {
        snprintf (why, why_size, "it is NULL");
        return false;
    }
    size_t len = strlen (name);
    if (len < 3) {
        snprintf (why, why_size, "it is %zu bytes long, under 3", len);
        return false;
    }
    if (len > 200) {
        snprintf (why, why_size, "it is %zu bytes long, over 200", len);
        return false;
    }
    if (name [0] == '.' || name [len - 1] == '.') {
        snprintf (why, why_size, "it %s with '.'", name [0] == '.' ? "starts" : "ends");
        return false;
    }
    bool dot = false;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char) *p;
        if (c == '.')
            dot = true;
        else
        if (!isalnum (c) && c != '_' && c != '-') {
            if (isprint (c))
                snprintf (why, why_size, "it has '%c' at byte %zu: only letters, digits, "
                          "'_', '-' and '.' are allowed", c, (size_t) (p - name) + 1);
            else
                snprintf (why, why_size, "it has the byte 0x%02x at byte %zu: only "
                          "letters, digits, '_', '-' and '.' are allowed", c,
                          (size_t) (p - name) + 1);
            return false;
        }
    }
    if (!dot) {
        snprintf (why, why_size, "it has no '.': name it module.function");
        return false;
    }
    return true;
}

bool
async_task_name_valid (const char *name)
{
    return async_task_name_check (name, NULL, 0);
}

bool
async_id_valid (const char *id)
{
    if (!id || strlen (id) != ASYNC_ID_CHARS)
        return false;
    for (int i = 0; i < ASYNC_ID_CHARS; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id [i] != '-')
                return false;
        }
        else
        if (!isxdigit ((unsigned char) id [i]) || isupper ((unsigned char) id [i]))
            return false;
    }
    return true;
}

static __thread uint8_t s_id_pool [4096];
static __thread size_t s_id_used = sizeof s_id_pool;

static void
s_id_pool_empty (void)
{
    s_id_used = sizeof s_id_pool;
}

static void
s_id_pool_atfork (void)
{
    pthread_atfork (NULL, NULL, s_id_pool_empty);
}

//  16 bytes from a pool of the kernel's random bytes, read 4 KiB at a time
//  (a getrandom per id was a syscall per job). A forked child must not
//  reuse its parent's bytes: fork empties the pool. false: no getrandom
static bool
s_id_random (uint8_t *bytes)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once (&once, s_id_pool_atfork);
    if (s_id_used + 16 > sizeof s_id_pool) {
        size_t got = 0;
        while (got < sizeof s_id_pool) {
            ssize_t rc = getrandom (s_id_pool + got, sizeof s_id_pool - got, 0);
            if (rc > 0)
                got += (size_t) rc;
            else
            if (errno != EINTR)
                break;
        }
        if (got < sizeof s_id_pool) {
            uuid_t uu;          //  libuuid's own way
            uuid_generate_random (uu);
            memcpy (bytes, uu, 16);
            return false;
        }
        s_id_used = 0;
    }
    memcpy (bytes, s_id_pool + s_id_used, 16);
    memset (s_id_pool + s_id_used, 0, 16);
    s_id_used += 16;
    return true;
}

void
async_id_new (char *buf)
{
    //  A version 4 UUID
    uuid_t uu;
    s_id_random (uu);
    uu [6] = (uint8_t) ((uu [6] & 0x0f) | 0x40);       //  version 4
    uu [8] = (uint8_t) ((uu [8] & 0x3f) | 0x80);       //  RFC 4122 variant
    uuid_unparse_lower (uu, buf);
}

void
async_id_new_ordered (char *buf)
{
    //  A version 7 UUID (RFC 9562): 48 bits of Unix time in ms, a 12-bit
    //  counter within the ms (its overflow borrows the next ms), 62
    //  random bits. Ids from one thread ascend, so the keys made of them
    //  land next to each other in the store
    static __thread uint64_t last_ms;
    static __thread uint32_t counter;
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    if (ms > last_ms) {
        last_ms = ms;
        counter = 0;
    }
    else
    if (++counter > 0xfff) {
        last_ms++;
        counter = 0;
    }
    uuid_t uu;
    s_id_random (uu);
    for (int i = 0; i < 6; i++)
        uu [i] = (uint8_t) (last_ms >> (40 - 8 * i));
    uu [6] = (uint8_t) (0x70 | (counter >> 8));      //  version 7
    uu [7] = (uint8_t) counter;
    uu [8] = (uint8_t) ((uu [8] & 0x3f) | 0x80);       //  RFC 9562 variant
    uuid_unparse_lower (uu, buf);
}
