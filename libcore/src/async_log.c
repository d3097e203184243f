/*  =========================================================================
    async_log - structured log lines
    =========================================================================
*/
#include "asyncmesh/log.h"
#include "async_util.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_level_names [] = { "error", "warning", "info", "debug", "trace" };
static int s_level = ASYNC_LOG_INFO;
static pthread_mutex_t s_mutex = PTHREAD_MUTEX_INITIALIZER;
static FILE *s_file = NULL;
static char *s_path = NULL;

int
async_log_level_parse (const char *name)
{
    for (int i = 0; name && i <= ASYNC_LOG_TRACE; i++)
        if (strcmp (name, s_level_names [i]) == 0)
            return i;
    return -1;
}

void
async_log_set_level (async_log_level_t level)
{
    s_level = level;
}

bool
async_log_enabled (async_log_level_t level)
{
    return (int) level <= s_level;
}

int
async_log_set_file (const char *path)
{
    FILE *file = fopen (path, "a");
    if (!file)
        return -1;
    setvbuf (file, NULL, _IOLBF, 0);
    pthread_mutex_lock (&s_mutex);
    if (s_file)
        fclose (s_file);
    s_file = file;
    free (s_path);
    s_path = strdup (path);
    pthread_mutex_unlock (&s_mutex);
    return 0;
}

void
async_log_reopen (void)
{
    pthread_mutex_lock (&s_mutex);
    if (s_path) {
        FILE *file = fopen (s_path, "a");
        if (file) {
            setvbuf (file, NULL, _IOLBF, 0);
            fclose (s_file);
            s_file = file;
        }
    }
    pthread_mutex_unlock (&s_mutex);
}

void
async_log (async_log_level_t level, const char *component, const char *event,
           const char *fmt, ...)
{
    if ((int) level > s_level)
        return;
    char line [4096];
    char stamp [40];
    async_format_time (async_now_us (), stamp, sizeof stamp);
    int len = snprintf (line, sizeof line, "%s %s %s %s", stamp,
                        s_level_names [level], component, event);
    if (fmt && len > 0 && len < (int) sizeof line - 2) {
        line [len++] = ' ';
        va_list args;
        va_start (args, fmt);
        int more = vsnprintf (line + len, sizeof line - len, fmt, args);
        va_end (args);
        if (more > 0)
            len += more;
    }
    if (len >= (int) sizeof line - 1)
        len = sizeof line - 2;
    //  One event is one line: fold any newline a value carried
    for (int i = 0; i < len; i++)
        if (line [i] == '\n' || line [i] == '\r')
            line [i] = ' ';
    line [len++] = '\n';
    pthread_mutex_lock (&s_mutex);
    fwrite (line, 1, len, s_file ? s_file : stderr);
    pthread_mutex_unlock (&s_mutex);
}

const char *
async_log_quote (const char *text, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    size_t at = 0;
    const unsigned char *c = (const unsigned char *) (text ? text : "");
    for (; *c; c++) {
        char esc [5];
        size_t len = 0;
        if (*c == '"' || *c == '\\') {
            esc [len++] = '\\';
            esc [len++] = (char) *c;
        }
        else
        if (*c == '\n' || *c == '\t') {
            esc [len++] = '\\';
            esc [len++] = *c == '\n' ? 'n' : 't';
        }
        else
        if (*c < 0x20 || *c == 0x7f)
            len = (size_t) snprintf (esc, sizeof esc, "\\x%02x", *c);
        else
            esc [len++] = (char) *c;
        if (at + len >= size)
            break;              //  never half an escape
        memcpy (buf + at, esc, len);
        at += len;
    }
    buf [at] = 0;
    if (*c && size > 4) {       //  cut: say so, on a whole escape
        size_t end = at + 4 <= size ? at : size - 4;
        //  Back off to the start of an escape that the "..." would cut
        size_t start = 0;
        while (start < end) {
            size_t step = buf [start] != '\\' ? 1
                        : buf [start + 1] == 'x' ? 4 : 2;
            if (start + step > end)
                break;
            start += step;
        }
        memcpy (buf + start, "...", 4);
    }
    return buf;
}
