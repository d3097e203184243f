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

//  Parse a duration: a number with an optional unit ms, s, m, h, d (plain
//  = seconds); fractions allowed ("1.5s"). A leading sign is allowed when
//  allow_sign. 0 on success, -1 if malformed.
int
    async_parse_duration (const char *text, bool allow_sign, int64_t *usecs);

//  Parse a point in time: ISO-8601 with Z or an offset
//  ("2026-11-26T22:00:00Z", "2026-11-26T22:00:00.5+01:00"), or relative
//  to `now_us` ("+30s", "-1h"), or "now". 0 on success, -1 if malformed.
int
    async_parse_time (const char *text, int64_t now_us, int64_t *when_us);

//  Format microseconds since the epoch as "2026-11-26T22:00:00.000000Z"
//  into buf (at least 32 bytes). Returns buf.
char *
    async_format_time (int64_t when_us, char *buf, size_t size);

//  Shell-style glob match (*, ?, [...]) of a task name.
bool
    async_glob_match (const char *pattern, const char *name);

//  True when `name` is a well-formed task name: "module.function", made
//  of [A-Za-z0-9_.-], at most 200 bytes.
bool
    async_task_name_valid (const char *name);

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
