/*  =========================================================================
    asyncmesh/log.h - structured log lines

    One line per event: `time level component event key=value...`, e.g.

        2026-11-26T22:00:00.123456Z info broker job.completed job=… node=…

    Lines go to stderr, or to the file set with async_log_set_file (reopened
    by async_log_reopen, for logrotate). Thread-safe.
    =========================================================================
*/
#ifndef ASYNCMESH_LOG_H_INCLUDED
#define ASYNCMESH_LOG_H_INCLUDED

#include "export.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ASYNC_LOG_ERROR = 0,
    ASYNC_LOG_WARNING,
    ASYNC_LOG_INFO,
    ASYNC_LOG_DEBUG,
    ASYNC_LOG_TRACE
} async_log_level_t;

//  Parse "error|warning|info|debug|trace"; -1 if unknown.
ASYNC_EXPORT int
    async_log_level_parse (const char *name);

ASYNC_EXPORT void
    async_log_set_level (async_log_level_t level);

ASYNC_EXPORT bool
    async_log_enabled (async_log_level_t level);

//  Log to `path` (appending) instead of stderr. 0 or -1 (errno set).
ASYNC_EXPORT int
    async_log_set_file (const char *path);

//  Reopen the log file (after logrotate moved it).
ASYNC_EXPORT void
    async_log_reopen (void);

//  Write one line: `component` is "broker", "node", "store"...; `event` is
//  a dotted name; fmt gives the key=value pairs (may be NULL).
ASYNC_EXPORT void
    async_log (async_log_level_t level, const char *component, const char *event,
               const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

//  Text made fit for a key="value" field of one line, reversibly: " and
//  \ become \" and \\, a newline \n, a tab \t, other control bytes (and
//  DEL) \xHH; other bytes (UTF-8 included) as they are. Cut to size - 1
//  bytes, on a whole escape, ending in "..." when cut. Returns buf.
ASYNC_EXPORT const char *
    async_log_quote (const char *text, char *buf, size_t size);

#define async_log_error(c, e, ...)   async_log (ASYNC_LOG_ERROR, c, e, __VA_ARGS__)
#define async_log_warning(c, e, ...) async_log (ASYNC_LOG_WARNING, c, e, __VA_ARGS__)
#define async_log_info(c, e, ...) \
    do { if (async_log_enabled (ASYNC_LOG_INFO)) async_log (ASYNC_LOG_INFO, c, e, __VA_ARGS__); } while (0)
#define async_log_debug(c, e, ...) \
    do { if (async_log_enabled (ASYNC_LOG_DEBUG)) async_log (ASYNC_LOG_DEBUG, c, e, __VA_ARGS__); } while (0)
#define async_log_trace(c, e, ...) \
    do { if (async_log_enabled (ASYNC_LOG_TRACE)) async_log (ASYNC_LOG_TRACE, c, e, __VA_ARGS__); } while (0)

#ifdef __cplusplus
}
#endif
#endif
