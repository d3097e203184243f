/*  =========================================================================
    async_util - time, durations, globs and small helpers shared by the
    broker, node and asyncctl (private to asyncmesh; not installed)
    =========================================================================
*/
#ifndef ASYNC_UTIL_H_INCLUDED
#define ASYNC_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Wall clock, microseconds since the epoch.
int64_t
    async_now_us (void);

//  Monotonic clock, microseconds.
int64_t
    async_mono_us (void);

//  Limits of the numbers taken from the wire or a command line, chosen so
//  that a point in time plus a duration never overflows int64
//  microseconds: a duration is at most ASYNC_DURATION_MAX_US (10^18 us,
//  10^12 s, about 31,700 years); a point in time lies in the years 0000
//  to 9999.
#define ASYNC_DURATION_MAX_US   1000000000000000000LL
#define ASYNC_DURATION_MAX_S    1e12
#define ASYNC_TIME_MIN_US       (-62167219200LL * 1000000)
#define ASYNC_TIME_MAX_US       (253402300800LL * 1000000 - 1)

//  A rate limit for log lines of one kind: at most `per_second` a second
//  go out, the others are counted (`quiet`), for the next line that goes
//  out or a line of its own to say how many were left out.
//  Zero-initialized.
typedef struct {
    int64_t window;             //  monotonic us: the start of this second
    uint32_t lines;             //  logged in it
    uint64_t quiet;             //  left out since the last line logged
} async_rate_t;

//  Whether a line may be logged now (else it is counted)
bool
    async_rate_allow (async_rate_t *self, uint32_t per_second);

//  How many lines were left out since the last call; the count starts again
uint64_t
    async_rate_quiet (async_rate_t *self);

//  Parse a duration: a number with an optional unit ms, s, m, h, d (plain
//  = seconds); fractions allowed ("1.5s"). A leading sign is allowed when
//  allow_sign. 0 on success, -1 if malformed or longer than
//  ASYNC_DURATION_MAX_US.
int
    async_parse_duration (const char *text, bool allow_sign, int64_t *usecs);

//  Parse a point in time: ISO-8601 with Z or an offset
//  ("2026-11-26T22:00:00Z", "2026-11-26T22:00:00.5+01:00"), or relative
//  to `now_us` ("+30s", "-1h"), or "now". 0 on success, -1 if malformed
//  or outside the years 0000 to 9999.
int
    async_parse_time (const char *text, int64_t now_us, int64_t *when_us);

//  Seconds, as a double from the wire or a command line, to microseconds
//  (rounded to the nearest): 0 when `seconds` is a finite number from
//  min_s to max_s, else -1 (NaN, infinite, out of range) and *usecs is
//  untouched. A double outside int64's range converted to an integer is
//  undefined behaviour: convert only through this. max_s is at most
//  ASYNC_DURATION_MAX_S (asserted).
int
    async_seconds_to_us (double seconds, double min_s, double max_s, int64_t *usecs);

//  a * b and a + b on int64: 0 and *result, or -1 (*result untouched)
//  when the result would overflow (which C leaves undefined).
int
    async_mul_i64 (int64_t a, int64_t b, int64_t *result);
int
    async_add_i64 (int64_t a, int64_t b, int64_t *result);

//  Parse a whole decimal number ("12", "-5"; no spaces, no unit) from
//  min to max: 0, or -1 if malformed or out of range.
int
    async_parse_int (const char *text, int64_t min, int64_t max, int64_t *value);

//  Format microseconds since the epoch as "2026-11-26T22:00:00.000000Z"
//  into buf (at least 32 bytes). Returns buf.
char *
    async_format_time (int64_t when_us, char *buf, size_t size);

//  Shell-style glob match (*, ?, [...]) of a task name.
bool
    async_glob_match (const char *pattern, const char *name);

//  An agent's task filter: globs joined with commas, '!' before a glob
//  excluding. The limits are those of HELLO (docs/protocol.md), so that a
//  filter that passes the check is one a node can say HELLO with: the
//  whole text at most ASYNC_FILTER_MAX bytes, each glob (without its '!')
//  1 to ASYNC_FILTER_GLOB bytes (ASYNC_MAX_NAME), at most
//  ASYNC_FILTER_GLOBS included and as many excluded.
#define ASYNC_FILTER_MAX        1024
#define ASYNC_FILTER_GLOB       200
#define ASYNC_FILTER_GLOBS      64

//  Whether the `length` bytes at `filter` are a task filter that HELLO
//  takes and a config file holds as written: no empty glob, at least one
//  glob, no control character, '"' or '@' (queues are not a filter's).
//  0, or -1 with the reason in `why` (one line, no byte of the filter).
int
    async_filter_check (const char *filter, size_t length, char *why, size_t why_size);

//  True when `name` is a well-formed task name: "module.function", made
//  of [A-Za-z0-9_.-], at most 200 bytes.
bool
    async_task_name_valid (const char *name);

//  The same, saying in `why` (may be NULL) which rule a malformed name
//  breaks: "it has ' ' at byte 3: only letters, digits, '_', '-' and '.'
//  are allowed", "it has no '.': name it module.function", ...
bool
    async_task_name_check (const char *name, char *why, size_t why_size);

//  True when `id` is a canonical 36-char UUID (lowercase hex).
bool
    async_id_valid (const char *id);

//  Write a fresh random UUID (36 chars + NUL) into buf.
void
    async_id_new (char *buf);

//  A new time-ordered id (UUID version 7): ids made by one thread ascend
void
    async_id_new_ordered (char *buf);

#ifdef __cplusplus
}
#endif
#endif
