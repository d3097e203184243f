/*  =========================================================================
    ctl_top - asyncctl top: a live terminal view of the broker

    Every second: the queues by status, the nodes and their agents, the
    throughput (completed jobs per second, from the difference of the
    broker's totals between two refreshes) and the running jobs, as many
    as fit. Drawn on the terminal's alternate screen, in place; the
    terminal is in cbreak mode (no echo, no line buffering) and is
    restored on every way out, SIGINT and SIGTERM included. 'q' quits.
    =========================================================================
*/
#include "ctl.h"
#include "async_util.h"
#include "async_alloc.h"
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define S_REFRESH_MS    1000

static volatile sig_atomic_t s_signal = 0;

static void
s_on_signal (int signum)
{
    s_signal = signum;
}

//  The screen being drawn: lines cut to the terminal's width, no more
//  lines than it has
typedef struct {
    char *text;
    size_t size;
    size_t used;
    int cols;
    int rows;
    int line;
} s_screen_t;

static void
s_append (s_screen_t *screen, const char *data, size_t size)
{
    if (screen->used + size > screen->size) {
        screen->size = (screen->used + size) * 2;
        screen->text = (char *) async_xrealloc (screen->text, screen->size);
        assert (screen->text);
    }
    memcpy (screen->text + screen->used, data, size);
    screen->used += size;
}

static void
s_line (s_screen_t *screen, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_line (s_screen_t *screen, const char *format, ...)
{
    if (screen->line >= screen->rows)
        return;
    char line [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    if ((int) strlen (line) > screen->cols)
        line [screen->cols] = 0;
    s_append (screen, line, strlen (line));
    //  Then erase the rest of the line, and a new line but after the last
    const char *end = ++screen->line < screen->rows ? "\033[K\r\n" : "\033[K";
    s_append (screen, end, strlen (end));
}

//  "2026-11-27T03:09:10.076333Z" -> seconds ago, or -1
static double
s_seconds_since (const char *iso)
{
    int64_t when;
    if (!iso || async_parse_time (iso, async_now_us (), &when))
        return -1;
    return (async_now_us () - when) / 1e6;
}

static const char *
s_duration (double seconds, char *buf, size_t size)
{
    if (seconds < 0)
        snprintf (buf, size, "-");
    else
    if (seconds < 60)
        snprintf (buf, size, "%.1fs", seconds);
    else
    if (seconds < 3600)
        snprintf (buf, size, "%.1fm", seconds / 60);
    else
    if (seconds < 86400)
        snprintf (buf, size, "%.1fh", seconds / 3600);
    else
        snprintf (buf, size, "%.1fd", seconds / 86400);
    return buf;
}

static int64_t
s_int (json_t *object, const char *key)
{
    return (int64_t) json_integer_value (json_object_get (object, key));
}

static const char *
s_str (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

//  The throughput between two samples of the broker's totals
typedef struct {
    int64_t at;                 //  monotonic us, 0 = no sample yet
    int64_t completed;
    int64_t failed;
} s_sample_t;

static void
s_draw (s_screen_t *screen, const char *endpoint, json_t *status, json_t *running,
        s_sample_t *last)
{
    char when [32], age [32];
    json_t *jobs = json_object_get (status, "jobs");
    int64_t now = async_mono_us ();
    int64_t completed = s_int (jobs, "completed"), failed = s_int (jobs, "failed");
    double rate = 0, fail_rate = 0;
    if (last->at && now > last->at) {
        double dt = (now - last->at) / 1e6;
        rate = (completed - last->completed) / dt;
        fail_rate = (failed - last->failed) / dt;
    }
    *last = (s_sample_t) { now, completed, failed };

    s_line (screen, "asyncmesh top - %s - asyncbroker %s, up %s  (q quits)", endpoint,
            s_str (status, "version"),
            s_duration (json_real_value (json_object_get (status, "uptime")), when,
                        sizeof when));
    s_line (screen, "throughput: %.1f jobs/s completed, %.1f/s failed; since start: "
            "%" PRId64 " jobs submitted, %" PRId64 " completed, %" PRId64 " of them failed "
            "(children and callbacks included)",
            rate, fail_rate, s_int (jobs, "submitted"), completed, failed);
    s_line (screen, "%s", "");

    json_t *queues = json_object_get (status, "queues");
    s_line (screen, "%-24s %9s %9s %9s %9s", "QUEUE", "PENDING", "SCHEDULED", "ASSIGNED",
            "ACTIVE");
    const char *name;
    json_t *counts;
    json_object_foreach (queues, name, counts)
        s_line (screen, "%-24s %9" PRId64 " %9" PRId64 " %9" PRId64 " %9" PRId64, name,
                s_int (counts, "pending"), s_int (counts, "scheduled"),
                s_int (counts, "assigned"), s_int (counts, "active"));
    if (json_object_size (queues) == 0)
        s_line (screen, "(no jobs queued or running)");
    if (s_int (status, "queues_more") > 0)
        s_line (screen, "(and %" PRId64 " smaller queues)", s_int (status, "queues_more"));
    s_line (screen, "%s", "");

    json_t *nodes = json_object_get (status, "nodes");
    s_line (screen, "%-36s  %-16s %-5s %9s  %s", "NODE", "ADDRESS", "STATE", "RUNNING",
            "HEARTBEAT");
    size_t index, each;
    json_t *node, *agent;
    json_array_foreach (nodes, index, node) {
        int64_t size = 0;
        json_array_foreach (json_object_get (node, "agents"), each, agent)
            size += s_int (agent, "size");
        char slots [32];
        snprintf (slots, sizeof slots, "%" PRId64 "/%" PRId64, s_int (node, "running"), size);
        s_line (screen, "%-36s  %-16s %-5s %9s  %s ago", s_str (node, "uuid"),
                s_str (node, "address"),
                json_is_true (json_object_get (node, "dead")) ? "DEAD" : "alive", slots,
                s_duration (s_seconds_since (s_str (node, "last_heartbeat")), age,
                            sizeof age));
        json_array_foreach (json_object_get (node, "agents"), each, agent)
            s_line (screen, "    agent %-12s %" PRId64 "/%" PRId64 "  pending %" PRId64
                    "  tasks %s  queues %s",
                    s_str (agent, "name"), s_int (agent, "running"), s_int (agent, "size"),
                    s_int (agent, "pending"),
                    *s_str (agent, "filter") ? s_str (agent, "filter") : "*",
                    *s_str (agent, "queues") ? s_str (agent, "queues") : "default");
    }
    if (json_array_size (nodes) == 0)
        s_line (screen, "(no nodes)");
    s_line (screen, "%s", "");

    s_line (screen, "RUNNING JOBS (%zu shown)", json_array_size (running));
    s_line (screen, "%-36s  %-28s %-12s %-8s %8s", "ID", "TASK", "QUEUE", "NODE", "FOR");
    json_t *job;
    json_array_foreach (running, index, job) {
        s_line (screen, "%-36s  %-28.28s %-12.12s %-8.8s %8s", s_str (job, "id"),
                s_str (job, "task"), s_str (job, "queue"), s_str (job, "node"),
                s_duration (s_seconds_since (s_str (job, "active_start")), age,
                            sizeof age));
    }
}

//  Ask the broker; 0 or the client's error code
static int
s_fetch (async_client_t *client, int limit, json_t **status, json_t **running)
{
    char *text = NULL;
    int rc = async_status_json (client, &text);
    if (rc == 0) {
        *status = json_loads (text, 0, NULL);
        free (text);
        char query [80];
        snprintf (query, sizeof query, "{\"status\": [\"active\"], \"limit\": %d}",
                  limit > 1 ? limit : 1);
        rc = async_jobs_json (client, query, &text);
    }
    if (rc == 0) {
        *running = json_loads (text, 0, NULL);
        free (text);
    }
    if (rc == 0 && (!json_is_object (*status) || !json_is_array (*running)))
        rc = ASYNC_EPROTO;
    return rc;
}

static void
s_size (int *cols, int *rows)
{
    struct winsize size;
    *cols = 80;
    *rows = 24;
    if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col && size.ws_row) {
        *cols = size.ws_col;
        *rows = size.ws_row;
    }
}

static void
s_write (const char *text, size_t size)
{
    while (size) {
        ssize_t done = write (STDOUT_FILENO, text, size);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return;
        text += done;
        size -= (size_t) done;
    }
}

int
ctl_top (async_client_t *client, const char *endpoint)
{
    int cols, rows;
    s_size (&cols, &rows);
    //  First ask, on the normal screen: an error stays readable
    json_t *status = NULL, *running = NULL;
    int rc = s_fetch (client, rows, &status, &running);
    if (rc) {
        json_decref (status);
        json_decref (running);
        return rc;
    }
    struct termios saved, cbreak;
    bool tty_in = tcgetattr (STDIN_FILENO, &saved) == 0;
    if (tty_in) {
        cbreak = saved;
        cbreak.c_lflag &= ~(ICANON | ECHO);
        cbreak.c_cc [VMIN] = 0;
        cbreak.c_cc [VTIME] = 0;
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &cbreak);
    }
    struct sigaction action = { .sa_handler = s_on_signal }, old_int, old_term;
    sigaction (SIGINT, &action, &old_int);
    sigaction (SIGTERM, &action, &old_term);
    const char *enter = "\033[?1049h\033[?25l";       //  alternate screen, no cursor
    s_write (enter, strlen (enter));

    s_sample_t last = { 0, 0, 0 };
    s_screen_t screen = { NULL, 0, 0, 0, 0, 0 };
    bool quit = false;
    while (!quit && !s_signal) {
        s_size (&cols, &rows);
        screen.used = 0;
        screen.line = 0;
        screen.cols = cols;
        screen.rows = rows;
        s_append (&screen, "\033[H", 3);              //  home, draw, erase below
        s_draw (&screen, endpoint, status, running, &last);
        s_append (&screen, "\033[J", 3);
        s_write (screen.text, screen.used);
        json_decref (status);
        json_decref (running);
        status = running = NULL;
        //  Wait for a key until the next refresh
        int64_t deadline = async_mono_us () + S_REFRESH_MS * 1000;
        while (!quit && !s_signal) {
            int64_t wait_ms = (deadline - async_mono_us ()) / 1000;
            if (wait_ms <= 0)
                break;
            struct pollfd input = { STDIN_FILENO, POLLIN, 0 };
            if (poll (&input, 1, (int) wait_ms) > 0) {
                char key;
                ssize_t got = read (STDIN_FILENO, &key, 1);
                if (got == 1 && (key == 'q' || key == 'Q'))
                    quit = true;
                else
                if (got == 0)
                    usleep (10000);         //  stdin closed: wait, do not spin
            }
        }
        if (!quit && !s_signal && (rc = s_fetch (client, rows, &status, &running)))
            break;
    }
    json_decref (status);
    json_decref (running);
    free (screen.text);
    const char *leave = "\033[?25h\033[?1049l";
    s_write (leave, strlen (leave));
    if (tty_in)
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);
    sigaction (SIGINT, &old_int, NULL);
    sigaction (SIGTERM, &old_term, NULL);
    if (s_signal && !quit) {
        //  Die of the signal, as without the handler, now that the
        //  terminal is back as it was
        int signum = s_signal;
        s_signal = 0;
        raise (signum);
    }
    return rc;
}
