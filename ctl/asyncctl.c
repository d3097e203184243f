/*  =========================================================================
    asyncctl - the command-line client and admin tool (docs/spec.md section 5)

    Built on the public client API only (asyncmesh/client.h). Exit codes
    are those of asyncmesh/error.h; errors are one line on stderr saying
    what is wrong and what to do.
    =========================================================================
*/
#include "ctl.h"
#include "async_cli.h"
#include "async_cron.h"
#include "async_keys.h"
#include "async_util.h"
#include "async_alloc.h"
#include <asyncmesh/log.h>
#include <asyncmesh/version.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define CTL_VERSION ASYNC_VERSION_STRING

#define S_DEFAULT_TIMEOUT_MS    5000
#define S_DEFAULT_LOG_LEVEL     ASYNC_LOG_WARNING
#define S_HELP_COLUMN           32      //  where option help starts
#define S_HELP_WIDTH            79

typedef struct _ctl_t ctl_t;

//  One command: its help, its flags and what runs it
typedef struct {
    const char *name;
    const char *synopsis;               //  after "asyncctl "; \n between forms
    const char *help;                   //  what it does
    const ctl_option_t *options [4];    //  its flag tables, NULL-terminated
    bool task_words;                    //  its first word starts TASK ARG...:
                                        //  every word after it is an argument
    int min_words;                      //  how many positional words it takes
    int max_words;
    const char *words;                  //  ... in words: "one job ID"
    bool needs_broker;
    int (*run) (ctl_t *ctl);            //  NULL: not available in this version
} s_command_t;

//  A flag of the command, as given
typedef struct {
    const ctl_option_t *option;
    const char *value;                  //  "" for a flag without value
} s_given_t;

struct _ctl_t {
    const s_command_t *command;
    const char **words;                 //  the command's positional words
    int nwords;
    s_given_t *given;                   //  the command's flags, in order
    int ngiven;
    //  Global options as given (NULL: not given)
    const char *broker;
    const char *config;
    const char *timeout;
    const char *log_level;
    const char *curve_key;
    const char *broker_public_key;
    bool json;
    bool help;
    bool version;
    //  Settled from flags, config file, environment and defaults
    char *endpoint;
    int timeout_ms;
    async_client_t *client;
};

static const ctl_option_t s_global_options [] = {
    { "--broker", "ENDPOINT", CTL_OPT_BROKER,
      "the broker to talk to (default: $ASYNC_BROKER, else " ASYNC_DEFAULT_ENDPOINT ")" },
    { "--config", "FILE", CTL_OPT_CONFIG,
      "read client/broker, client/timeout, client/log-level, "
      "client/curve-key and client/broker-public-key from this ZPL file "
      "(any other key is an error); flags and the environment override it "
      "(default: none)" },
    { "--timeout", "DUR", CTL_OPT_BROKER_TIMEOUT,
      "how long to wait for the broker to answer a request (default: 5s)" },
    { "--json", NULL, CTL_OPT_JSON,
      "print JSON even on a terminal (default: JSON unless stdout is a "
      "terminal)" },
    { "--log-level", "LEVEL", CTL_OPT_LOG_LEVEL,
      "error, warning, info, debug or trace (default: warning)" },
    { "--curve-key", "FILE", CTL_OPT_CURVE_KEY,
      "talk CurveZMQ with this key pair: a _secret file of 'asyncctl keygen', "
      "mode 0600 (default: $ASYNC_CURVE_KEY, else client/curve-key in "
      "--config, else none: no CURVE); needs --broker-public-key" },
    { "--broker-public-key", "FILE", CTL_OPT_BROKER_PUBLIC_KEY,
      "the broker's public key file (default: $ASYNC_BROKER_PUBLIC_KEY, else "
      "client/broker-public-key in --config, else none)" },
    { "--help", NULL, CTL_OPT_HELP,
      "print this help; after a command, that command's help" },
    { "-h", NULL, CTL_OPT_HELP, NULL },
    { "--version", NULL, CTL_OPT_VERSION,
      "print the version" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_submit_options [] = {
    { "--spec", "FILE", CTL_OPT_SPEC,
      "submit the job spec in this JSON file (- = stdin) instead of TASK ARG...; "
      "flags given too are added to it (default: none, TASK ARG...)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_group_options [] = {
    { "--postprocess", "'TASK ARG...'", CTL_OPT_POSTPROCESS,
      "when every child completed, run this with one {id, status, result or "
      "failure} argument per child; its result is the parent's (default: the "
      "array of the children's results)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_submit_wait_options [] = {
    { "--wait", NULL, CTL_OPT_WAIT,
      "wait for the job and print its result, as 'wait' does, instead of its "
      "id (default: print the id)" },
    { "--wait-timeout", "DUR", CTL_OPT_WAIT_TIMEOUT,
      "with --wait: give up after DUR and exit 3 (default: wait forever)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_wait_options [] = {
    { "--timeout", "DUR", CTL_OPT_WAIT_TIMEOUT,
      "give up after DUR and exit 3 (default: wait forever)" },
    { "--progress", NULL, CTL_OPT_PROGRESS,
      "on a terminal, draw a progress bar on stderr: children done of all, or "
      "the progress the task reports (default: no bar)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_filter_options [] = {
    { "--queue", "Q", CTL_OPT_FILTER_QUEUE,
      "only jobs in this queue (default: any queue)" },
    { "--task", "GLOB", CTL_OPT_FILTER_TASK,
      "only jobs whose task matches, like 'pi.*' (default: any task)" },
    { "--node", "UUID", CTL_OPT_FILTER_NODE,
      "only jobs of this node (default: any node)" },
    { "--parent", "ID", CTL_OPT_FILTER_PARENT,
      "only the children of job ID, in their order (default: any job)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_limit_options [] = {
    { "--limit", "N", CTL_OPT_LIMIT, "print at most N jobs (default 1000; 0: all)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_stuck_options [] = {
    { "--stuck", NULL, CTL_OPT_STUCK,
      "only running jobs that look stuck: running longer than --over, or on "
      "a node silent for over half the broker's dead time (default: every job)" },
    { "--over", "DUR", CTL_OPT_OVER,
      "with --stuck: running longer than DUR (default: the job's timeout if "
      "it has one, else 10m)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_last_options [] = {
    { "--failed", NULL, CTL_OPT_FAILED,
      "only jobs completed with a failure (default: every completed job)" },
    { "--limit", "N", CTL_OPT_LIMIT, "print at most N jobs (default 10; 0: all)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_retry_options [] = {
    { "--all-failed", NULL, CTL_OPT_ALL_FAILED,
      "instead of one ID: every job that completed with a failure and can be "
      "retried, with the filters below" },
    { "--queue", "Q", CTL_OPT_FILTER_QUEUE,
      "with --all-failed: only jobs in this queue (default: any queue)" },
    { "--task", "GLOB", CTL_OPT_FILTER_TASK,
      "with --all-failed: only jobs whose task matches, like 'pi.*' (default: any task)" },
    { "--limit", "N", CTL_OPT_LIMIT,
      "with --all-failed: retry at most N jobs (default 10000; 0: all)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_since_options [] = {
    { "--since", "DUR", CTL_OPT_SINCE,
      "only completed jobs that completed within DUR (default: all)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_total_options [] = {
    { "--total", NULL, CTL_OPT_TOTAL,
      "print one number: the jobs that have any of the statuses (default: "
      "with more than one status, one count each)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_every_options [] = {
    { "--cron", "EXPR", CTL_OPT_CRON,
      "tick on a cron expression, 'MINUTE HOUR DAY MONTH WEEKDAY' like '*/5 * * * *', "
      "instead of every DUR (default: DUR)" },
    { "--tz", "TZ", CTL_OPT_TZ,
      "the --cron expression's time zone: UTC, a fixed offset like +01:00, or a "
      "name like Europe/Paris, read by the broker from its tz database "
      "(default: UTC)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_callback_options [] = {
    { "--on", "always|success|failure", CTL_OPT_ON,
      "run the callback when the job completes (default: always), only when "
      "it succeeds, or only when it fails" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_agent_options [] = {
    { "--size", "N", CTL_OPT_SIZE,
      "the agent's number of slots, 1 to 10000; the node's worker threads "
      "bound the sum over its agents (no default: required)" },
    { "--filter", "EXPR", CTL_OPT_FILTER,
      "the agent's task filter: globs, comma-separated, '!' excluding, as "
      "in asyncnode --agent (default: the filter it has)" },
    { "--save", NULL, CTL_OPT_SAVE,
      "the node also rewrites its config file's entry for the agent, which "
      "it must have started with (default: the change lasts until the node "
      "restarts, or a SIGHUP finds its config file edited; logrotate's "
      "SIGHUP of an unchanged file keeps it)" },
    { NULL, NULL, 0, NULL }
};

static const ctl_option_t s_keygen_options [] = {
    { "--role", "client|node", CTL_OPT_ROLE,
      "what the key may do at a broker that lists it in --curve-clients: "
      "client (submit and read jobs) or node (take and run jobs) (default: "
      "client)" },
    { NULL, NULL, 0, NULL }
};

//  Every section and key a --config file may hold
static const char *const s_config_keys [] = {
    "client", "client/broker", "client/timeout", "client/log-level",
    "client/curve-key", "client/broker-public-key", NULL
};

static const char *s_statuses [] = {
    "pending", "assigned", "active", "callbacks", "completed",
    "succeeded", "failed", "scheduled", NULL
};

//  ---------------------------------------------------------------------
//  Errors: one line, "asyncctl: what is wrong; what to do"

static int
s_error (int code, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_error (int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "asyncctl: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    return code;
}

//  A usage error: what is wrong, then what to do (by default: read the
//  help). Returns 2.
static int
s_usage (ctl_t *ctl, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_usage (ctl_t *ctl, const char *format, ...)
{
    char what [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (what, sizeof what, format, args);
    va_end (args);
    if (strchr (what, ';'))         //  it says what to do already
        return s_error (ASYNC_EUSAGE, "%s", what);
    if (ctl->command)
        return s_error (ASYNC_EUSAGE, "%s; see 'asyncctl %s --help'",
                        what, ctl->command->name);
    return s_error (ASYNC_EUSAGE, "%s; run 'asyncctl --help'", what);
}

//  A call of the client API failed with rc. `id` is the job it was about,
//  or NULL. Says what is wrong (the client's message when it has one)
//  and, unless that message says it already, what to do. Returns the
//  exit code.
static int
s_client_fail (ctl_t *ctl, int rc, const char *id)
{
    const char *error = async_client_error (ctl->client);
    if (!error)
        error = "";
    char what [1024];
    snprintf (what, sizeof what, "%s", *error ? error : async_strerror (rc));
    char hint [256];
    if (rc == ASYNC_EUNREACH) {
        if (!*error)
            snprintf (what, sizeof what, "cannot reach the broker at %s", ctl->endpoint);
        snprintf (hint, sizeof hint,
                  "is asyncbroker running? (set --broker or ASYNC_BROKER)");
    }
    else
    if (rc == ASYNC_ENOJOB && id) {
        if (!*error)
            snprintf (what, sizeof what, "no job %s at the broker", id);
        else
        if (!strstr (error, id))
            snprintf (what, sizeof what, "%s: %s", error, id);
        snprintf (hint, sizeof hint, "check the id ('asyncctl jobs' lists the jobs)");
    }
    else
    if (rc == ASYNC_ETIMEOUT && id) {
        if (!*error)
            snprintf (what, sizeof what, "job %s has not completed yet", id);
        snprintf (hint, sizeof hint, "wait again with 'asyncctl wait %s'", id);
    }
    else
    if (rc == ASYNC_EREFUSED) {
        if (*error)
            snprintf (what, sizeof what, "the broker refused: %s", error);
        snprintf (hint, sizeof hint, "correct the request and try again");
    }
    else
    if (rc == ASYNC_EUNSAVED)
        snprintf (hint, sizeof hint, "the node runs with the change; its config file "
                  "still has the old agent");
    else
    if (async_exit_code (rc) == ASYNC_EUSAGE)
        snprintf (hint, sizeof hint, "see 'asyncctl %s --help'", ctl->command->name);
    else {
        size_t len = strlen (what);
        snprintf (what + len, sizeof what - len, " (%s)", async_errname (rc));
        snprintf (hint, sizeof hint, "check that asyncctl and asyncbroker are the "
                  "same version, and the broker's log");
    }
    if (strchr (what, ';'))
        s_error (rc, "%s", what);
    else
        s_error (rc, "%s; %s", what, hint);
    return async_exit_code (rc);
}

//  Take the JSON text the client API returned (frees it). NULL after
//  reporting when it is not JSON.
static json_t *
s_reply (char *text)
{
    json_error_t error;
    json_t *value = text ? json_loads (text, JSON_DECODE_ANY, &error) : NULL;
    if (!value)
        s_error (ASYNC_EPROTO, "the broker's answer is not JSON (%s); check that "
                 "asyncctl and asyncbroker are the same version",
                 text ? error.text : "empty");
    free (text);
    return value;
}

//  Exit code after s_reply () returned NULL
#define S_REPLY_FAILED  async_exit_code (ASYNC_EPROTO)

//  ---------------------------------------------------------------------
//  Options and words

static const ctl_option_t *
s_find_option (const ctl_option_t *option, const char *arg, const char **value)
{
    for (; option->name; option++) {
        size_t len = strlen (option->name);
        if (strncmp (arg, option->name, len) == 0
        &&  (arg [len] == 0 || arg [len] == '=')) {
            *value = arg [len] == '=' ? arg + len + 1 : NULL;
            return option;
        }
    }
    return NULL;
}

static void
s_set_global (ctl_t *ctl, const ctl_option_t *option, const char *value)
{
    switch (option->id) {
        case CTL_OPT_BROKER:         ctl->broker = value; break;
        case CTL_OPT_CONFIG:         ctl->config = value; break;
        case CTL_OPT_BROKER_TIMEOUT: ctl->timeout = value; break;
        case CTL_OPT_LOG_LEVEL:      ctl->log_level = value; break;
        case CTL_OPT_CURVE_KEY:      ctl->curve_key = value; break;
        case CTL_OPT_BROKER_PUBLIC_KEY: ctl->broker_public_key = value; break;
        case CTL_OPT_JSON:           ctl->json = true; break;
        case CTL_OPT_HELP:           ctl->help = true; break;
        case CTL_OPT_VERSION:        ctl->version = true; break;
        default:                     assert (false);
    }
}

//  An option neither of the command nor global: "unknown option --brok
//  (did you mean --broker?)", the closest name by edit distance. Returns 2.
static int
s_unknown_option (ctl_t *ctl, const char *arg)
{
    char word [128];
    snprintf (word, sizeof word, "%.*s", (int) strcspn (arg, "="), arg);
    const char *closest = NULL;
    size_t best = SIZE_MAX;
    const ctl_option_t *tables [6] = { s_global_options };
    for (int table = 0; ctl->command && table < 4 && ctl->command->options [table]; table++)
        tables [table + 1] = ctl->command->options [table];
    for (int table = 0; tables [table]; table++)
        for (const ctl_option_t *option = tables [table]; option->name; option++) {
            size_t distance = async_cli_distance (word, option->name);
            if (option->help && distance < best) {
                best = distance;
                closest = option->name;
            }
        }
    char hint [160] = "";
    if (closest && best <= (strlen (word) + 2) / 3 + 1)
        snprintf (hint, sizeof hint, " (did you mean %s?)", closest);
    if (ctl->command)
        return s_usage (ctl, "unknown option %s of '%s'%s", word, ctl->command->name, hint);
    return s_usage (ctl, "unknown option %s%s", word, hint);
}

//  Take the option at argv [*index] (and its value, which may be the next
//  word). The command's flags come first, then the global ones. 0 or 2.
static int
s_take_option (ctl_t *ctl, int argc, char **argv, int *index)
{
    const char *arg = argv [*index];
    const char *value = NULL;
    const ctl_option_t *option = NULL;
    for (int table = 0; ctl->command && !option && ctl->command->options [table]; table++)
        option = s_find_option (ctl->command->options [table], arg, &value);
    bool global = !option;
    if (global)
        option = s_find_option (s_global_options, arg, &value);
    if (!option)
        return s_unknown_option (ctl, arg);
    if (option->arg && !value) {
        if (*index + 1 >= argc)
            return s_usage (ctl, "%s needs a value (%s)", option->name, option->arg);
        value = argv [++*index];
    }
    else
    if (!option->arg && value)
        return s_usage (ctl, "%s takes no value", option->name);
    if (!option->arg)
        value = "";

    if (global)
        s_set_global (ctl, option, value);
    else
        ctl->given [ctl->ngiven++] = (s_given_t) { option, value };
    return 0;
}

static bool
s_is_option (const char *arg)
{
    return arg [0] == '-' && arg [1] != 0;      //  "-" alone is stdin
}

//  The last time the command's flag `id` was given, or NULL
static const s_given_t *
s_given (ctl_t *ctl, int id)
{
    for (int index = ctl->ngiven - 1; index >= 0; index--)
        if (ctl->given [index].option->id == id)
            return &ctl->given [index];
    return NULL;
}

//  Check the number of positional words of the command, or with `form`,
//  of its form named by words [0] ("quota set": the words after "set").
//  `what` says what it takes ("one job ID"). 0 or 2.
static int
s_expect_words (ctl_t *ctl, bool form, int min, int max, const char *what)
{
    char name [64];
    snprintf (name, sizeof name, "%s%s%s", ctl->command->name, form ? " " : "",
              form ? ctl->words [0] : "");
    int first = form ? 1 : 0;
    const char **words = ctl->words + first;
    int nwords = ctl->nwords - first;
    if (nwords < min)
        return s_usage (ctl, "'%s' needs %s", name, what);
    if (nwords > max)
        return s_usage (ctl, "'%s' takes %s, not '%s'", name, what, words [max]);
    return 0;
}

//  A duration in microseconds, for a flag, word or config key named
//  `source`. 0 or 2.
static int
s_duration_us (ctl_t *ctl, const char *source, const char *text, int64_t *usecs)
{
    if (async_parse_duration (text, false, usecs))
        return s_usage (ctl, "%s '%s' is not a duration; " CTL_DURATION_HINT,
                        source, text);
    return 0;
}

//  The same in milliseconds, at most INT_MAX
static int
s_duration_ms (ctl_t *ctl, const char *source, const char *text, int *msecs)
{
    int64_t usecs;
    int rc = s_duration_us (ctl, source, text, &usecs);
    if (rc == 0)
        *msecs = usecs / 1000 > INT_MAX ? INT_MAX : (int) (usecs / 1000);
    return rc;
}

//  The wait timeout (--timeout of wait, --wait-timeout of submit), -1 when
//  not given: wait forever. 0 or 2.
static int
s_wait_timeout (ctl_t *ctl, int *msecs)
{
    const s_given_t *given = s_given (ctl, CTL_OPT_WAIT_TIMEOUT);
    *msecs = -1;
    return given ? s_duration_ms (ctl, given->option->name, given->value, msecs) : 0;
}

//  Whether to print for people rather than JSON for programs
static bool
s_readable (ctl_t *ctl)
{
    return !ctl->json && isatty (STDOUT_FILENO);
}

//  A global setting: the flag's value when given, else the config file's
//  `key` (NULL when neither). `source` says where it came from.
static const char *
s_setting (ctl_t *ctl, zconfig_t *config, const char *value, const char *flag,
           const char *key, char *source, size_t source_size)
{
    snprintf (source, source_size, "%s", flag);
    if (value || !config)
        return value;
    snprintf (source, source_size, "%s in %s", key, ctl->config);
    return zconfig_get (config, key, NULL);
}

//  The same with an environment variable between the flag and the file
static const char *
s_setting_env (ctl_t *ctl, zconfig_t *config, const char *value, const char *flag,
               const char *env, const char *key, char *source, size_t source_size)
{
    const char *from_env = getenv (env);
    if (!value && from_env && *from_env) {
        snprintf (source, source_size, "$%s", env);
        return from_env;
    }
    return s_setting (ctl, config, value, flag, key, source, source_size);
}

//  Settle the global options: flags, then the config file, then the
//  environment, then the defaults. Connects when the command needs the
//  broker (the first request waits for it, not this). 0 or an exit code.
static int
s_settle (ctl_t *ctl)
{
    zconfig_t *config = NULL;
    if (ctl->config && !(config = zconfig_load (ctl->config)))
        return s_usage (ctl, "cannot read the config file '%s'; check that it "
                        "exists and is ZPL", ctl->config);
    if (config && async_cli_config_check ("asyncctl", ctl->config, s_config_keys)) {
        zconfig_destroy (&config);
        return ASYNC_EUSAGE;
    }
    char source [512];
    //  The broker: --broker, then $ASYNC_BROKER, then the file (as asyncnode)
    const char *env = getenv ("ASYNC_BROKER");
    const char *broker = ctl->broker || !env || !*env
                       ? s_setting (ctl, config, ctl->broker, "--broker", "client/broker",
                                    source, sizeof source)
                       : env;
    if (!broker || !*broker)
        broker = ASYNC_DEFAULT_ENDPOINT;
    ctl->endpoint = async_xstrdup (broker);

    int rc = 0;
    const char *timeout = s_setting (ctl, config, ctl->timeout, "--timeout",
                                     "client/timeout", source, sizeof source);
    ctl->timeout_ms = S_DEFAULT_TIMEOUT_MS;
    if (timeout && (rc = s_duration_ms (ctl, source, timeout, &ctl->timeout_ms)) == 0
    &&  ctl->timeout_ms <= 0)
        rc = s_usage (ctl, "%s must be 1ms or more", source);

    const char *log_level = s_setting (ctl, config, ctl->log_level, "--log-level",
                                       "client/log-level", source, sizeof source);
    int level = log_level ? async_log_level_parse (log_level) : S_DEFAULT_LOG_LEVEL;
    if (level >= 0)
        async_log_set_level ((async_log_level_t) level);
    else
    if (rc == 0)
        rc = s_usage (ctl, "%s '%s' is not a log level; give error, warning, info, "
                      "debug or trace", source, log_level);
    //  CURVE: flag, then environment, then file (as the broker endpoint)
    char key_source [512], public_source [512];
    const char *key = s_setting_env (ctl, config, ctl->curve_key, "--curve-key",
                                     "ASYNC_CURVE_KEY", "client/curve-key",
                                     key_source, sizeof key_source);
    const char *broker_public = s_setting_env (ctl, config, ctl->broker_public_key,
                                               "--broker-public-key",
                                               "ASYNC_BROKER_PUBLIC_KEY",
                                               "client/broker-public-key",
                                               public_source, sizeof public_source);
    if (rc == 0)
        rc = async_keys_check_pair ("asyncctl", "--curve-key", key, "--broker-public-key",
                                    broker_public, "give both (as flags, as "
                                    "$ASYNC_CURVE_KEY and $ASYNC_BROKER_PUBLIC_KEY, "
                                    "or in --config), or neither for no CURVE");
    bool curve = rc == 0 && key && *key;
    if (rc == 0 && curve && ctl->command->needs_broker) {
        zcert_t *cert = NULL, *server = NULL;
        rc = async_keys_load_secret ("asyncctl", key_source, key, &cert);
        if (rc == 0)
            rc = async_keys_load_public ("asyncctl", public_source, broker_public,
                                         &server);
        zcert_destroy (&cert);
        zcert_destroy (&server);
    }
    char *key_file = curve ? async_xstrdup (key) : NULL;
    char *public_file = curve ? async_xstrdup (broker_public) : NULL;
    zconfig_destroy (&config);
    if (rc || !ctl->command->needs_broker) {
        free (key_file);
        free (public_file);
        return rc;
    }

    ctl->client = async_client_new (ctl->endpoint);
    if (!ctl->client) {
        int error = errno;
        return s_error (error == EINVAL ? ASYNC_EUSAGE : ASYNC_EUNREACH,
                        "cannot use the broker endpoint '%s' (%s); give one like "
                        "%s with --broker or ASYNC_BROKER", ctl->endpoint,
                        strerror (error), ASYNC_DEFAULT_ENDPOINT);
    }
    async_client_set_timeout (ctl->client, ctl->timeout_ms);
    if (key_file && async_client_set_curve (ctl->client, key_file, public_file))
        rc = s_error (ASYNC_EUSAGE, "%s; check --curve-key and --broker-public-key",
                      async_client_error (ctl->client));
    free (key_file);
    free (public_file);
    return rc;
}

//  ---------------------------------------------------------------------
//  Submitting and waiting

//  Wait for job id and print its result (exit 0) or failure (exit 1)
//  One line: [#########...........]  9/20  45%. done and total come from
//  the task, through the broker: any int64, so the fraction is taken in
//  double (done * 100 overflows for done past 2^63 / 100)
static void
s_draw_progress (void *arg, int64_t done, int64_t total)
{
    if (total <= 0)
        return;
    if (done < 0)
        done = 0;
    if (done > total)
        done = total;
    const int width = 30;
    double fraction = (double) done / (double) total;      //  0 to 1
    int filled = (int) (fraction * width);
    char bar [64];
    for (int i = 0; i < width; i++)
        bar [i] = i < filled ? '#' : '.';
    bar [width] = 0;
    fprintf (stderr, "\r[%s] %" PRId64 "/%" PRId64 " %3d%%", bar, done, total,
             (int) (fraction * 100));
    fflush (stderr);
}

static int
s_wait_print (ctl_t *ctl, const char *id, int timeout_ms)
{
    //  --progress on a terminal: a bar on stderr, redrawn as the broker
    //  pushes progress; nothing when stderr is not a terminal
    bool bar = s_given (ctl, CTL_OPT_PROGRESS) && isatty (STDERR_FILENO);
    char *text = NULL;
    int rc = async_wait_progress_json (ctl->client, id, timeout_ms,
                                       bar ? s_draw_progress : NULL, NULL, &text);
    if (bar)
        fprintf (stderr, "\r\033[K");

    if (rc && !(rc == ASYNC_EFAILED && text)) {
        free (text);
        return s_client_fail (ctl, rc, id);
    }
    json_t *job = s_reply (text);
    if (!job)
        return S_REPLY_FAILED;
    json_t *failure = json_object_get (job, "failure");
    if (failure && !json_is_null (failure))
        rc = ASYNC_EFAILED;
    else {
        failure = NULL;
        rc = 0;
    }
    json_t *result = json_object_get (job, "result");
    json_t *null = json_null ();
    ctl_print_json (stdout, failure ? failure : result ? result : null);
    json_decref (null);
    json_decref (job);
    return rc;
}

//  Add the job options given as flags to spec (takes it) and write it as
//  JSON text into *text_out (caller frees). 0 or an exit code.
static int
s_spec_text (ctl_t *ctl, json_t *spec, char **text_out)
{
    char err [1024];
    int rc = 0;
    for (int index = 0; index < ctl->ngiven && rc == 0; index++) {
        const ctl_option_t *option = ctl->given [index].option;
        if (option->id <= CTL_OPT_JOB_LAST
        &&  ctl_spec_option (spec, option, ctl->given [index].value, err, sizeof err))
            rc = s_usage (ctl, "%s", err);
    }
    *text_out = rc ? NULL : ctl_json_dumps (spec);
    json_decref (spec);
    if (rc == 0 && !*text_out)
        async_out_of_memory (0);
    return rc;
}

//  The same for a job given as one 'TASK ARG...' word, `what` in errors
//  ("the callback")
static int
s_task_spec_text (ctl_t *ctl, const char *word, const char *what, char **text_out)
{
    char err [1024];
    json_t *spec = ctl_spec_from_text (word, err, sizeof err);
    if (!spec)
        return s_usage (ctl, "%s: %s", what, err);
    return s_spec_text (ctl, spec, text_out);
}

//  Warn on stderr when no live node offered to take jobs just submitted
//  (they wait for one; the submit still succeeded)
static void
s_warn_unservable (ctl_t *ctl, const char *text)
{
    size_t unservable = async_client_unservable (ctl->client);
    if (!unservable)
        return;
    json_t *spec = json_loads (text, 0, NULL);
    const char *task = json_string_value (json_object_get (spec, "task"));
    const char *queue = json_string_value (json_object_get (spec, "queue"));
    if (task && unservable == 1)
        fprintf (stderr, "asyncctl: warning: no live node offers %s%s%s; the job "
                 "waits for one\n", task, queue ? " in queue " : "", queue ? queue : "");
    else
        fprintf (stderr, "asyncctl: warning: no live node offers the tasks of %zu of "
                 "the jobs; they wait for one\n", unservable);
    json_decref (spec);
}

//  Add the job options given as flags to spec, submit it (takes spec),
//  then print the id, or wait and print the result with --wait.
static int
s_submit (ctl_t *ctl, json_t *spec)
{
    char *text;
    int timeout_ms;
    int rc = s_spec_text (ctl, spec, &text);
    if (rc == 0 && (rc = s_wait_timeout (ctl, &timeout_ms)))
        free (text);
    if (rc)
        return rc;
    bool wait = s_given (ctl, CTL_OPT_WAIT) || s_given (ctl, CTL_OPT_WAIT_TIMEOUT);

    async_log_debug ("ctl", "job.submit", "broker=%s spec=%s", ctl->endpoint, text);
    char id [ASYNC_ID_LEN];
    rc = async_submit_json (ctl->client, text, id);
    if (rc == 0)
        s_warn_unservable (ctl, text);
    free (text);
    if (rc)
        return s_client_fail (ctl, rc, NULL);
    async_log_info ("ctl", "job.submitted", "job=%s broker=%s", id, ctl->endpoint);
    if (wait)
        return s_wait_print (ctl, id, timeout_ms);
    printf ("%s\n", id);
    return 0;
}

//  Read a job spec from a file or stdin ("-"). NULL with a reason in err.
static json_t *
s_spec_load (const char *path, char *err, size_t err_size)
{
    json_error_t error;
    bool is_stdin = streq (path, "-");
    json_t *spec = is_stdin ? json_loadf (stdin, 0, &error)
                           : json_load_file (path, 0, &error);
    const char *source = is_stdin ? "stdin" : path;
    if (!spec) {
        if (error.line > 0)
            snprintf (err, err_size, "the job spec in %s is not JSON: %s at line %d, "
                      "column %d", source, error.text, error.line, error.column);
        else
            snprintf (err, err_size, "cannot read the job spec: %s", error.text);
    }
    else
    if (!json_is_object (spec) || !(json_object_get (spec, "task")
                                    || json_object_get (spec, "parallel")
                                    || json_object_get (spec, "serial"))) {
        snprintf (err, err_size, "the job spec in %s is not a JSON object with "
                  "\"task\", \"parallel\" or \"serial\"", source);
        json_decref (spec);
        spec = NULL;
    }
    return spec;
}

static int
s_cmd_submit (ctl_t *ctl)
{
    char err [1024];
    json_t *spec;
    const s_given_t *spec_file = s_given (ctl, CTL_OPT_SPEC);
    if (spec_file) {
        if (ctl->nwords)
            return s_usage (ctl, "give either --spec FILE or TASK [ARG...], not both");
        spec = s_spec_load (spec_file->value, err, sizeof err);
    }
    else {
        if (!ctl->nwords)
            return s_usage (ctl, "'submit' needs a task name (like 'asyncctl submit "
                            "time.time') or --spec FILE");
        //  Options go before TASK; a flag after it is the task's argument,
        //  which is rarely what was meant: say so
        for (int i = 1; i < ctl->nwords; i++)
            if (strncmp (ctl->words [i], "--", 2) == 0 && ctl->words [i][2])
                fprintf (stderr, "asyncctl: warning: '%s' comes after the task name, "
                         "so it is passed to %s as an argument; put options before "
                         "TASK\n", ctl->words [i], ctl->words [0]);
        spec = ctl_spec_from_words ((char **) ctl->words, ctl->nwords, err, sizeof err);
    }
    if (!spec)
        return s_usage (ctl, "%s", err);
    return s_submit (ctl, spec);
}

//  parallel and serial: one child per 'TASK ARG...' word
static int
s_cmd_group (ctl_t *ctl)
{
    const char *kind = ctl->command->name;
    if (!ctl->nwords)
        return s_usage (ctl, "'%s' needs at least one child job, each one quoted "
                        "'TASK ARG...' word", kind);
    char err [1024];
    json_t *children = json_array ();
    json_t *spec = json_pack ("{s:o}", kind, children);
    for (int index = 0; index < ctl->nwords; index++) {
        json_t *child = ctl_spec_from_text (ctl->words [index], err, sizeof err);
        if (!child) {
            json_decref (spec);
            return s_usage (ctl, "child %d: %s", index + 1, err);
        }
        json_array_append_new (children, child);
    }
    const s_given_t *post = s_given (ctl, CTL_OPT_POSTPROCESS);
    if (post) {
        json_t *postprocess = ctl_spec_from_text (post->value, err, sizeof err);
        if (!postprocess) {
            json_decref (spec);
            return s_usage (ctl, "--postprocess: %s", err);
        }
        json_object_set_new (spec, "postprocess", postprocess);
    }
    return s_submit (ctl, spec);
}

static int
s_cmd_wait (ctl_t *ctl)
{
    int timeout_ms;
    int rc = s_wait_timeout (ctl, &timeout_ms);
    return rc ? rc : s_wait_print (ctl, ctl->words [0], timeout_ms);
}

static int
s_cmd_cancel (ctl_t *ctl)
{
    int rc = async_cancel (ctl->client, ctl->words [0]);
    return rc ? s_client_fail (ctl, rc, ctl->words [0]) : 0;
}

static int
s_cmd_delete (ctl_t *ctl)
{
    int rc = async_delete (ctl->client, ctl->words [0]);
    return rc ? s_client_fail (ctl, rc, ctl->words [0]) : 0;
}

//  How many failed jobs retry --all-failed retries when not told
#define S_RETRY_ALL_LIMIT 10000
//  How many of its refusals it prints (the rest are counted)
#define S_RETRY_ALL_SHOWN 10

static json_t *s_query (ctl_t *ctl);

//  The jobs that `query` (a LIST body: taken) names, every page, as the
//  JSON text of an array into *jobs_out (the caller frees it). 0 or the
//  client's error
static int
s_jobs_of (ctl_t *ctl, json_t *query, char **jobs_out)
{
    char *text = ctl_json_dumps (query);
    json_decref (query);
    if (!text)
        async_out_of_memory (0);
    *jobs_out = NULL;
    int rc = async_jobs_json (ctl->client, text, jobs_out);
    free (text);
    return rc;
}

//  retry --all-failed: list the failed jobs (page by page, at most
//  --limit), retry each one that is a task submitted as such, and print
//  {"listed", "retried", "skipped", "refused"}
static int
s_retry_all (ctl_t *ctl)
{
    if (ctl->nwords)
        return s_usage (ctl, "'retry --all-failed' takes no ID, not '%s'", ctl->words [0]);
    json_t *query = s_query (ctl);
    if (!query)
        return ASYNC_EUSAGE;
    json_int_t limit = json_object_get (query, "limit")
                     ? json_integer_value (json_object_get (query, "limit"))
                     : S_RETRY_ALL_LIMIT;
    json_object_set_new (query, "status", json_pack ("[s]", "failed"));
    json_object_set_new (query, "limit", json_integer (limit));
    char *jobs_text;
    int rc = s_jobs_of (ctl, query, &jobs_text);
    if (rc) {
        free (jobs_text);
        return s_client_fail (ctl, rc, NULL);
    }
    json_t *jobs = s_reply (jobs_text);
    if (!json_is_array (jobs)) {
        json_decref (jobs);
        return S_REPLY_FAILED;
    }
    size_t retried = 0, skipped = 0, refused = 0, index;
    json_t *job;
    json_array_foreach (jobs, index, job) {
        const char *id = json_string_value (json_object_get (job, "id"));
        //  Children, callbacks, postprocesses and parents are not retried
        if (!id || json_is_string (json_object_get (job, "parent"))
        ||  json_object_get (job, "kind")) {
            skipped++;
            continue;
        }
        rc = async_retry (ctl->client, id);
        if (rc == ASYNC_EREFUSED || rc == ASYNC_ENOJOB) {
            //  Retried, deleted or purged meanwhile, or handed off
            if (refused++ < S_RETRY_ALL_SHOWN)
                s_error (rc, "job %s not retried: %s", id,
                         async_client_error (ctl->client) ? async_client_error (ctl->client)
                                                          : async_strerror (rc));
            rc = 0;
        }
        else
        if (rc)
            break;
        else
            retried++;
    }
    if (rc) {
        json_decref (jobs);
        return s_client_fail (ctl, rc, NULL);
    }
    printf ("{\"listed\": %zu, \"retried\": %zu, \"skipped\": %zu, \"refused\": %zu}\n",
            json_array_size (jobs), retried, skipped, refused);
    json_decref (jobs);
    return 0;
}

static int
s_cmd_retry (ctl_t *ctl)
{
    if (s_given (ctl, CTL_OPT_ALL_FAILED))
        return s_retry_all (ctl);
    for (int index = 0; index < ctl->ngiven; index++) {
        int id = ctl->given [index].option->id;
        if (id == CTL_OPT_FILTER_QUEUE || id == CTL_OPT_FILTER_TASK || id == CTL_OPT_LIMIT
        ||  id == CTL_OPT_SINCE)
            return s_usage (ctl, "%s goes with --all-failed",
                            ctl->given [index].option->name);
    }
    int rc = s_expect_words (ctl, false, 1, 1, "one job ID (or --all-failed)");
    if (rc == 0 && (rc = async_retry (ctl->client, ctl->words [0])))
        rc = s_client_fail (ctl, rc, ctl->words [0]);
    return rc;
}

//  ---------------------------------------------------------------------
//  Inspecting

//  Print what an inspecting call returned (rc, text): readable lines on a
//  terminal, else one line of JSON. `id`: the job asked about, or NULL.
static int
s_show (ctl_t *ctl, int rc, char *text, const char *id)
{
    if (rc) {
        free (text);
        return s_client_fail (ctl, rc, id);
    }
    json_t *value = s_reply (text);
    if (!value)
        return S_REPLY_FAILED;
    //  An empty object as a tree would be no lines at all
    if (s_readable (ctl) && json_object_size (value) + json_array_size (value) > 0)
        ctl_print_tree (stdout, value, 0);
    else
        ctl_print_json (stdout, value);
    json_decref (value);
    return 0;
}

//  Print a list an inspecting call returned: one JSON object per line, or
//  a table of `columns` on a terminal (when columns is not NULL).
static int
s_show_list (ctl_t *ctl, int rc, char *text, const char *const *columns)
{
    if (rc) {
        free (text);
        return s_client_fail (ctl, rc, NULL);
    }
    json_t *list = s_reply (text);
    if (!list)
        return S_REPLY_FAILED;
    if (!json_is_array (list))
        ctl_print_json (stdout, list);
    else
    if (columns && s_readable (ctl))
        ctl_print_table (stdout, list, columns);
    else {
        size_t index;
        json_t *item;
        json_array_foreach (list, index, item)
            ctl_print_json (stdout, item);
    }
    json_decref (list);
    return 0;
}

//  The query of jobs and count from the words (statuses) and the filter
//  flags; NULL after reporting a usage error.
static json_t *
s_query (ctl_t *ctl)
{
    json_t *query = json_object ();
    json_t *statuses = json_array ();
    for (int index = 0; index < ctl->nwords; index++) {
        const char *status = ctl->words [index];
        bool known = false;
        for (const char **each = s_statuses; *each; each++)
            known = known || streq (*each, status);
        if (!known) {
            s_usage (ctl, "'%s' is not a status; give pending, assigned, active, "
                     "callbacks, completed, succeeded or failed", status);
            json_decref (statuses);
            json_decref (query);
            return NULL;
        }
        json_array_append_new (statuses, json_string (status));
    }
    if (json_array_size (statuses))
        json_object_set (query, "status", statuses);
    json_decref (statuses);

    int rc = 0;
    for (int index = 0; index < ctl->ngiven && rc == 0; index++) {
        const char *value = ctl->given [index].value;
        const char *flag = ctl->given [index].option->name;
        int64_t number;
        switch (ctl->given [index].option->id) {
            case CTL_OPT_FILTER_QUEUE:
                json_object_set_new (query, "queue", json_string (value));
                break;
            case CTL_OPT_FILTER_TASK:
                json_object_set_new (query, "task", json_string (value));
                break;
            case CTL_OPT_FILTER_NODE:
                json_object_set_new (query, "node", json_string (value));
                break;
            case CTL_OPT_FILTER_PARENT:
                json_object_set_new (query, "parent", json_string (value));
                break;
            case CTL_OPT_LIMIT:
                if (async_parse_int (value, 0, INT64_MAX, &number))
                    rc = s_usage (ctl, "%s '%s' is not a number of jobs; give a "
                                  "whole number (0: all)", flag, value);
                else
                    json_object_set_new (query, "limit", json_integer (number));
                break;
            case CTL_OPT_SINCE:
                if ((rc = s_duration_us (ctl, flag, value, &number)) == 0)
                    json_object_set_new (query, "since", json_real (number / 1e6));
                break;
            default:
                break;
        }
    }
    if (rc)
        json_decref (query);
    return rc ? NULL : query;
}

//  Run an inspecting call that takes the query of jobs and count
static int
s_query_call (ctl_t *ctl, char **query_text)
{
    json_t *query = s_query (ctl);
    if (!query)
        return ASYNC_EUSAGE;
    *query_text = ctl_json_dumps (query);
    json_decref (query);
    if (!*query_text)
        async_out_of_memory (0);
    return 0;
}

//  The longest failure message a jobs table shows (then "...")
#define S_ERROR_CELL 80

//  The most columns of a jobs table, before `error`
#define S_JOBS_COLUMNS 8

//  A failed job's cell in the `error` column: "TYPE: message", its first
//  line, clipped. Caller frees
static char *
s_error_cell (json_t *failure)
{
    const char *type = json_string_value (json_object_get (failure, "type"));
    const char *message = json_string_value (json_object_get (failure, "message"));
    if (!message)
        message = "";
    size_t length = strcspn (message, "\r\n");
    bool clipped = length > S_ERROR_CELL;
    if (clipped)
        length = S_ERROR_CELL;
    size_t size = strlen (type ? type : "Error") + length + 8;
    char *cell = (char *) async_xmalloc (size);
    snprintf (cell, size, "%s%s%.*s%s", type ? type : "Error", length ? ": " : "",
              (int) length, message, clipped ? "..." : "");
    return cell;
}

//  Jobs as people read them: a failed job's status says `failed`, and
//  its failure type and message fill an `error` column (the JSON, for
//  scripts, stays the job JSON)
static int
s_show_jobs (ctl_t *ctl, int rc, char *text, const char *const *columns)
{
    if (rc || !s_readable (ctl))
        return s_show_list (ctl, rc, text, columns);
    json_t *list = s_reply (text);
    if (!list)
        return S_REPLY_FAILED;
    if (!json_is_array (list)) {
        ctl_print_json (stdout, list);
        json_decref (list);
        return 0;
    }
    bool failures = false;
    size_t index;
    json_t *row;
    json_array_foreach (list, index, row) {
        json_t *failure = json_object_get (row, "failure");
        if (json_is_object (failure)) {
            char *cell = s_error_cell (failure);
            json_object_set_new (row, "status", json_string ("failed"));
            json_object_set_new (row, "error", json_string (cell));
            free (cell);
            failures = true;
        }
    }
    //  The columns asked for, and `error` when a job listed failed
    const char *with_error [S_JOBS_COLUMNS + 2];
    size_t count = 0;
    while (count < S_JOBS_COLUMNS && columns [count]) {
        with_error [count] = columns [count];
        count++;
    }
    with_error [count++] = failures ? "error" : NULL;
    with_error [count] = NULL;
    ctl_print_table (stdout, list, with_error);
    json_decref (list);
    return 0;
}

//  How long a job without a timeout runs before `jobs --stuck` shows it
#define S_STUCK_US (600 * 1000000LL)

//  A time stamp of the broker's JSON, in µs; 0 when absent or malformed
static int64_t
s_json_time (json_t *object, const char *key)
{
    const char *text = json_string_value (json_object_get (object, key));
    int64_t when = 0;
    if (!text || async_parse_time (text, 0, &when))
        return 0;
    return when;
}

//  Why a running job looks stuck, into `why`; false when it does not.
//  `over` is --over in µs (-1: not given); `nodes` maps a live node's
//  uuid to its status JSON
static bool
s_stuck_why (json_t *job, int64_t now, int64_t over, json_t *nodes, double dead_after,
             char *why, size_t size)
{
    if (json_object_get (job, "handoff"))
        return false;           //  it waits for another job, on no node
    int64_t start = s_json_time (job, "active_start");
    const char *status = json_string_value (json_object_get (job, "status"));
    if (start && status && streq (status, "active")) {
        int64_t limit = over;
        json_t *timeout = json_object_get (job, "timeout");
        if (limit < 0 && json_is_number (timeout) && json_number_value (timeout) > 0)
            limit = (int64_t) (json_number_value (timeout) * 1e6);
        if (limit < 0)
            limit = S_STUCK_US;
        if (now - start > limit) {
            snprintf (why, size, "running for %.1fs, over %.1fs", (now - start) / 1e6,
                      limit / 1e6);
            return true;
        }
    }
    const char *uuid = json_string_value (json_object_get (job, "node"));
    json_t *node = uuid ? json_object_get (nodes, uuid) : NULL;
    int64_t heard = node ? s_json_time (node, "last_heartbeat") : 0;
    if (heard && now - heard > dead_after * 1e6 / 2) {
        snprintf (why, size, "its node silent for %.1fs, dead after %.1fs",
                  (now - heard) / 1e6, dead_after);
        return true;
    }
    return false;
}

//  `jobs --stuck`: the running jobs (assigned or active) that look stuck,
//  each with `stuck` saying why, judged by the broker's clock and dead
//  time (STATUS); the nodes are those STATUS lists
static int
s_cmd_jobs_stuck (ctl_t *ctl, json_t *query)
{
    static const char *columns [] = {
        "id", "status", "task", "node", "active_start", "stuck", NULL
    };
    int64_t over = -1;
    const s_given_t *given = s_given (ctl, CTL_OPT_OVER);
    int rc = given ? s_duration_us (ctl, "--over", given->value, &over) : 0;
    if (rc == 0 && ctl->nwords)
        rc = s_usage (ctl, "--stuck lists running jobs: give no STATUS ('%s')",
                      ctl->words [0]);
    json_int_t limit = json_integer_value (json_object_get (query, "limit"));
    if (!json_object_get (query, "limit"))
        limit = 1000;
    if (rc) {
        json_decref (query);
        return rc;
    }
    char *text = NULL;
    rc = async_status_json (ctl->client, &text);
    if (rc) {
        json_decref (query);
        free (text);
        return s_client_fail (ctl, rc, NULL);
    }
    json_t *status = s_reply (text);
    int64_t now = status ? s_json_time (status, "now") : 0;
    json_t *dead_after = status ? json_object_get (status, "dead_after") : NULL;
    if (!now || !json_is_number (dead_after)) {
        json_decref (status);
        json_decref (query);
        return s_error (ASYNC_EPROTO, "the broker's status has no `now` and `dead_after`; "
                        "check that asyncctl and asyncbroker are the same version");
    }
    json_t *nodes = json_object ();
    size_t index;
    json_t *node;
    json_array_foreach (json_object_get (status, "nodes"), index, node) {
        const char *uuid = json_string_value (json_object_get (node, "uuid"));
        if (uuid && !json_is_true (json_object_get (node, "dead")))
            json_object_set (nodes, uuid, node);
    }
    //  Every running job, filtered here; --limit counts those shown
    json_object_set_new (query, "status", json_pack ("[ss]", "assigned", "active"));
    json_object_set_new (query, "limit", json_integer (0));
    char *jobs_text;
    rc = s_jobs_of (ctl, query, &jobs_text);
    json_t *jobs = rc ? NULL : s_reply (jobs_text);
    if (rc)
        free (jobs_text);
    json_t *stuck = json_array ();
    json_t *job;
    json_array_foreach (json_is_array (jobs) ? jobs : NULL, index, job) {
        char why [200];
        if ((limit == 0 || (json_int_t) json_array_size (stuck) < limit)
        &&  s_stuck_why (job, now, over, nodes, json_number_value (dead_after), why,
                         sizeof why)) {
            json_object_set_new (job, "stuck", json_string (why));
            json_array_append (stuck, job);
        }
    }
    bool replied = rc || jobs;
    json_decref (jobs);
    json_decref (nodes);
    json_decref (status);
    if (rc) {
        json_decref (stuck);
        return s_client_fail (ctl, rc, NULL);
    }
    if (!replied) {
        json_decref (stuck);
        return S_REPLY_FAILED;
    }
    text = ctl_json_dumps (stuck);
    json_decref (stuck);
    if (!text)
        async_out_of_memory (0);
    return s_show_jobs (ctl, 0, text, columns);
}

static int
s_cmd_jobs (ctl_t *ctl)
{
    static const char *columns [] = {
        "id", "status", "task", "queue", "attempts", "node", NULL
    };
    if (s_given (ctl, CTL_OPT_STUCK)) {
        json_t *query = s_query (ctl);
        return query ? s_cmd_jobs_stuck (ctl, query) : ASYNC_EUSAGE;
    }
    if (s_given (ctl, CTL_OPT_OVER))
        return s_usage (ctl, "--over goes with --stuck");
    char *query;
    char *text = NULL;
    int rc = s_query_call (ctl, &query);
    if (rc)
        return rc;
    rc = async_jobs_json (ctl->client, query, &text);
    free (query);
    return s_show_jobs (ctl, rc, text, columns);
}

//  How many jobs `last` prints when not told
#define S_LAST_LIMIT 10

//  The last completed jobs (--failed: those that failed), the most recent
//  first: LIST of `completed` (or `failed`) walks the broker's completion
//  index from its newest end
static int
s_cmd_last (ctl_t *ctl)
{
    static const char *columns [] = {
        "id", "status", "task", "queue", "completed_at", "node", NULL
    };
    json_t *query = s_query (ctl);
    if (!query)
        return ASYNC_EUSAGE;
    bool failed = s_given (ctl, CTL_OPT_FAILED) != NULL;
    json_object_set_new (query, "status", json_pack ("[s]", failed ? "failed" : "completed"));
    if (!json_object_get (query, "limit"))
        json_object_set_new (query, "limit", json_integer (S_LAST_LIMIT));
    char *jobs;
    int rc = s_jobs_of (ctl, query, &jobs);
    return s_show_jobs (ctl, rc, jobs, columns);
}

//  One status, or --total: one number (the jobs of any of the statuses,
//  each once). More: one count each, printed as {"succeeded": N,
//  "failed": M}, in the order given
static int
s_cmd_count (ctl_t *ctl)
{
    json_t *query = s_query (ctl);
    if (!query)
        return ASYNC_EUSAGE;
    json_t *statuses = json_incref (json_object_get (query, "status"));
    size_t nstatuses = s_given (ctl, CTL_OPT_TOTAL) ? 1 : json_array_size (statuses);
    json_t *counts = json_object ();
    int rc = 0;
    for (size_t index = 0; rc == 0 && index < (nstatuses > 1 ? nstatuses : 1); index++) {
        if (nstatuses > 1)
            json_object_set_new (query, "status",
                                 json_pack ("[O]", json_array_get (statuses, index)));
        char *text = ctl_json_dumps (query);
        if (!text)
            async_out_of_memory (0);
        int64_t count = 0;
        rc = async_count (ctl->client, text, &count);
        free (text);
        if (rc == 0 && nstatuses > 1)
            json_object_set_new (counts, json_string_value (json_array_get (statuses, index)),
                                 json_integer (count));
        else
        if (rc == 0)
            printf ("%" PRId64 "\n", count);
    }
    if (rc == 0 && nstatuses > 1)
        ctl_print_json (stdout, counts);
    json_decref (counts);
    json_decref (statuses);
    json_decref (query);
    return rc ? s_client_fail (ctl, rc, NULL) : 0;
}

//  A call of the client API that returns JSON about one job
typedef int (s_job_call_fn) (async_client_t *client, const char *id, char **json_out);

//  Print what `call` returns about the job words [0]
static int
s_show_job_call (ctl_t *ctl, s_job_call_fn *call)
{
    char *text = NULL;
    int rc = call (ctl->client, ctl->words [0], &text);
    return s_show (ctl, rc, text, ctl->words [0]);
}

//  A call of the client API that returns a JSON array
typedef int (s_list_call_fn) (async_client_t *client, char **json_out);

//  Print the list `call` returns, as s_show_list does
static int
s_show_list_call (ctl_t *ctl, s_list_call_fn *call, const char *const *columns)
{
    char *text = NULL;
    int rc = call (ctl->client, &text);
    return s_show_list (ctl, rc, text, columns);
}

static int
s_cmd_job (ctl_t *ctl)
{
    return s_show_job_call (ctl, async_job_json);
}

static int
s_cmd_status (ctl_t *ctl)
{
    char *text = NULL;
    int rc = async_status_json (ctl->client, &text);
    return s_show (ctl, rc, text, NULL);
}

static int
s_cmd_history (ctl_t *ctl)
{
    const char *range = ctl->nwords ? ctl->words [0] : "hour";
    if (!streq (range, "hour") && !streq (range, "day") && !streq (range, "week"))
        return s_usage (ctl, "'%s' is not a range; give hour, day or week", range);
    char *text = NULL;
    int rc = async_history_json (ctl->client, range, &text);
    return s_show (ctl, rc, text, NULL);
}

static int
s_cmd_nodes (ctl_t *ctl)
{
    return s_show_list_call (ctl, async_nodes_json, NULL);
}

static int
s_strcmp_p (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  The strings of an array, sorted, as a new array; NULL if not an array
static json_t *
s_sorted_words (json_t *array)
{
    if (!json_is_array (array))
        return NULL;
    size_t count = json_array_size (array);
    const char **words = async_xcalloc (count + 1, sizeof (char *));
    size_t size = 0;
    for (size_t index = 0; index < count; index++)
        if (json_is_string (json_array_get (array, index)))
            words [size++] = json_string_value (json_array_get (array, index));
    qsort (words, size, sizeof (char *), s_strcmp_p);
    json_t *sorted = json_array ();
    for (size_t index = 0; index < size; index++)
        json_array_append_new (sorted, json_string (words [index]));
    free (words);
    return sorted;
}

//  One node in detail: its agents, running jobs, tasks, heartbeat times
static int
s_cmd_node (ctl_t *ctl)
{
    const char *uuid = ctl->words [0];
    if (!async_id_valid (uuid))
        return s_usage (ctl, "'%s' is not a node uuid ('asyncctl nodes' lists them)", uuid);
    char *text = NULL;
    int rc = async_node_json (ctl->client, uuid, &text);
    if (rc || !s_readable (ctl))
        return s_show (ctl, rc, text, NULL);
    json_t *node = s_reply (text);
    if (!node)
        return S_REPLY_FAILED;
    //  On a terminal the tasks, maybe hundreds, go last as words in
    //  lines, not as one JSON array on one line
    json_t *tasks = s_sorted_words (json_object_get (node, "tasks"));
    json_object_del (node, "tasks");
    ctl_print_tree (stdout, node, 0);
    if (tasks) {
        printf ("tasks (%zu):\n", json_array_size (tasks));
        ctl_print_words (stdout, tasks, 2, 80);
    }
    else
        printf ("tasks: any (the node did not list its tasks)\n");
    json_decref (tasks);
    json_decref (node);
    return 0;
}

static int
s_cmd_top (ctl_t *ctl)
{
    if (!isatty (STDOUT_FILENO))
        return s_error (ASYNC_EUSAGE, "top needs a terminal on stdout; for scripts "
                        "use 'asyncctl status' or 'asyncctl jobs'");
    int rc = ctl_top (ctl->client, ctl->endpoint);
    return rc ? s_client_fail (ctl, rc, NULL) : 0;
}

//  ---------------------------------------------------------------------
//  Callbacks and annotations of a job

static int
s_cmd_add_callback (ctl_t *ctl)
{
    const s_given_t *given = s_given (ctl, CTL_OPT_ON);
    const char *on = given ? given->value : "always";
    if (!streq (on, "always") && !streq (on, "success") && !streq (on, "failure"))
        return s_usage (ctl, "--on '%s' is not when a callback runs; give always, "
                        "success or failure", on);
    char *spec;
    int rc = s_task_spec_text (ctl, ctl->words [1], "the callback", &spec);
    if (rc)
        return rc;
    char id [ASYNC_ID_LEN];
    rc = async_add_callback_json (ctl->client, ctl->words [0], on, spec, id);
    free (spec);
    if (rc)
        return s_client_fail (ctl, rc, ctl->words [0]);
    async_log_info ("ctl", "job.callback_added", "job=%s callback=%s on=%s broker=%s",
                    ctl->words [0], id, on, ctl->endpoint);
    printf ("%s\n", id);
    return 0;
}

static int
s_cmd_annotate (ctl_t *ctl)
{
    const char *name = ctl->words [1];
    const char *word = ctl->words [2];
    if (!*name)
        return s_usage (ctl, "the annotation NAME is empty; give a name, like note");
    json_t *value = ctl_value_parse (word);
    char *text = value ? ctl_json_dumps (value) : NULL;
    json_decref (value);
    if (!text)
        return s_usage (ctl, "VALUE '%s' is not UTF-8 text", word);
    int rc = async_annotate (ctl->client, ctl->words [0], name, text);
    free (text);
    return rc ? s_client_fail (ctl, rc, ctl->words [0]) : 0;
}

static int
s_cmd_annotations (ctl_t *ctl)
{
    return s_show_job_call (ctl, async_annotations_json);
}

//  ---------------------------------------------------------------------
//  Things the broker keeps by name: quotas and schedules

typedef struct {
    s_list_call_fn *list_call;
    int (*delete_call) (async_client_t *client, const char *name);
    const char *const *columns;         //  of the list on a terminal
} s_named_t;

static const char *s_quota_columns [] = { "name", "size", "running", NULL };
static const s_named_t s_quotas = {
    async_quota_list_json, async_quota_delete, s_quota_columns
};

static const char *s_every_columns [] = {
    "name", "interval", "cron", "tz", "next", "last_job", "ticks", "last_error", NULL
};
static const s_named_t s_schedules = {
    async_every_list_json, async_every_delete, s_every_columns
};

//  True when words [0] is the list or delete form of the command
static bool
s_named_form (ctl_t *ctl)
{
    return streq (ctl->words [0], "list") || streq (ctl->words [0], "delete");
}

//  Run the list or delete form of the command
static int
s_named (ctl_t *ctl, const s_named_t *named)
{
    bool list = streq (ctl->words [0], "list");
    int rc = list ? s_expect_words (ctl, true, 0, 0, "no arguments")
                  : s_expect_words (ctl, true, 1, 1, "one NAME");
    if (rc == 0 && ctl->ngiven)
        rc = s_usage (ctl, "'%s %s' takes no options, not %s", ctl->command->name,
                      ctl->words [0], ctl->given [0].option->name);
    if (rc)
        return rc;
    if (list)
        return s_show_list_call (ctl, named->list_call, named->columns);
    rc = named->delete_call (ctl->client, ctl->words [1]);
    return rc ? s_client_fail (ctl, rc, NULL) : 0;
}

static int
s_cmd_quota (ctl_t *ctl)
{
    if (s_named_form (ctl))
        return s_named (ctl, &s_quotas);
    if (!streq (ctl->words [0], "set"))
        return s_usage (ctl, "'%s' is not a form of 'quota'; give set, list or delete",
                        ctl->words [0]);
    int rc = s_expect_words (ctl, true, 2, 2, "NAME and SIZE");
    if (rc)
        return rc;
    int64_t size;
    if (async_parse_int (ctl->words [2], 1, INT64_MAX, &size))
        return s_usage (ctl, "SIZE '%s' is not a quota size; give a whole number "
                        "of jobs, 1 or more", ctl->words [2]);
    rc = async_quota_set (ctl->client, ctl->words [1], size);
    return rc ? s_client_fail (ctl, rc, NULL) : 0;
}

//  agent set NODE AGENT --size N [--filter EXPR] [--save]
static int
s_cmd_agent (ctl_t *ctl)
{
    if (!streq (ctl->words [0], "set"))
        return s_usage (ctl, "'%s' is not a form of 'agent'; give set", ctl->words [0]);
    int rc = s_expect_words (ctl, true, 2, 2, "NODE and AGENT");
    if (rc)
        return rc;
    const char *node = ctl->words [1];
    const char *agent = ctl->words [2];
    if (!async_id_valid (node))
        return s_usage (ctl, "NODE '%s' is not a node uuid ('asyncctl nodes' lists them)",
                        node);
    const s_given_t *size_given = s_given (ctl, CTL_OPT_SIZE);
    int64_t size;
    if (!size_given)
        return s_usage (ctl, "'agent set' needs --size N, the agent's number of slots");
    if (async_parse_int (size_given->value, 1, 10000, &size))
        return s_usage (ctl, "--size '%s' is not an agent size; give a whole number of "
                        "slots from 1 to 10000", size_given->value);
    const s_given_t *filter = s_given (ctl, CTL_OPT_FILTER);
    char why [200];
    if (filter && async_filter_check (filter->value, strlen (filter->value), why, sizeof why))
        return s_usage (ctl, "--filter is not a task filter (%s); give globs, "
                        "comma-separated, '!' excluding, like 'pi.*,!pi.slow' (no "
                        "'@': the agent's queues stay)", why);
    rc = async_agent_set (ctl->client, node, agent, size, filter ? filter->value : NULL,
                          s_given (ctl, CTL_OPT_SAVE) != NULL);
    if (rc)
        return s_client_fail (ctl, rc, NULL);
    async_log_info ("ctl", "agent.set", "node=%s agent=%s size=%" PRId64 " broker=%s",
                    node, agent, size, ctl->endpoint);
    return 0;
}

static int
s_strcmp (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  The queues of STATUS, each with whether it is paused: a JSON array of
//  {name, paused, pending, scheduled, assigned, active} in name order
static int
s_queue_list_json (async_client_t *client, char **json_out)
{
    char *text = NULL;
    int rc = async_status_json (client, &text);
    json_t *status = rc ? NULL : s_reply (text);
    if (rc || !status) {
        if (!rc)
            text = NULL;            //  s_reply took it
        *json_out = text;
        return rc ? rc : ASYNC_EPROTO;
    }
    json_t *queues = json_object_get (status, "queues");
    json_t *paused = json_object_get (status, "paused");
    json_t *rows = json_object ();
    const char *name;
    json_t *counts;
    json_object_foreach (queues, name, counts) {
        json_t *row = json_pack ("{s:s, s:b}", "name", name, "paused", 0);
        json_object_update (row, counts);
        json_object_set_new (rows, name, row);
    }
    size_t index;
    json_t *queue;
    json_array_foreach (paused, index, queue) {
        name = json_string_value (queue);
        if (!name)
            continue;
        json_t *row = json_object_get (rows, name);
        if (row)
            json_object_set_new (row, "paused", json_true ());
        else
            json_object_set_new (rows, name, json_pack ("{s:s, s:b, s:i, s:i, s:i, s:i}",
                                 "name", name, "paused", 1, "pending", 0, "scheduled", 0,
                                 "assigned", 0, "active", 0));
    }
    //  jansson keeps an object's keys in insertion order: sort them
    const char **names = async_xcalloc (json_object_size (rows) + 1, sizeof (char *));
    size_t count = 0;
    json_object_foreach (rows, name, counts)
        names [count++] = name;
    qsort (names, count, sizeof (char *), s_strcmp);
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append (list, json_object_get (rows, names [i]));
    free (names);
    *json_out = ctl_json_dumps (list);
    json_decref (list);
    json_decref (rows);
    json_decref (status);
    return 0;
}

static const char *s_queue_columns [] = {
    "name", "paused", "pending", "scheduled", "assigned", "active", NULL
};

static int
s_cmd_queue (ctl_t *ctl)
{
    const char *form = ctl->words [0];
    bool list = streq (form, "list");
    if (!list && !streq (form, "pause") && !streq (form, "resume"))
        return s_usage (ctl, "'%s' is not a form of 'queue'; give pause, resume or list",
                        form);
    int rc = list ? s_expect_words (ctl, true, 0, 0, "no arguments")
                  : s_expect_words (ctl, true, 1, 1, "one queue NAME");
    if (rc)
        return rc;
    if (list)
        return s_show_list_call (ctl, s_queue_list_json, s_queue_columns);
    rc = streq (form, "pause") ? async_queue_pause (ctl->client, ctl->words [1])
                               : async_queue_resume (ctl->client, ctl->words [1]);
    return rc ? s_client_fail (ctl, rc, NULL) : 0;
}

static int
s_cmd_every (ctl_t *ctl)
{
    if (s_named_form (ctl))
        return s_named (ctl, &s_schedules);
    const s_given_t *cron = s_given (ctl, CTL_OPT_CRON);
    const s_given_t *tz = s_given (ctl, CTL_OPT_TZ);
    if (tz && !cron)
        return s_usage (ctl, "--tz goes with --cron");
    int rc = cron ? s_expect_words (ctl, false, 2, 2, "NAME and one quoted 'TASK ARG...' "
                                    "word (with --cron, no DUR)")
                  : s_expect_words (ctl, false, 3, 3, "NAME, DUR and one quoted "
                                    "'TASK ARG...' word");
    int64_t usecs = 0;
    if (rc == 0 && !cron)
        rc = s_duration_us (ctl, "DUR", ctl->words [1], &usecs);
    if (rc == 0 && !cron && usecs < 1000)
        rc = s_usage (ctl, "DUR '%s' is less than 1ms; give a duration like 30s",
                      ctl->words [1]);
    //  The expression here; the zone at the broker, which reads its file
    char why [300];
    async_cron_t parsed;
    if (rc == 0 && cron && async_cron_parse (cron->value, &parsed, why, sizeof why))
        rc = s_usage (ctl, "--cron: %s", why);
    char *spec;
    if (rc || (rc = s_task_spec_text (ctl, ctl->words [cron ? 1 : 2], "the job", &spec)))
        return rc;
    if (cron)
        rc = async_every_set_cron_json (ctl->client, ctl->words [0], cron->value,
                                        tz ? tz->value : NULL, spec);
    else
        rc = async_every_set_json (ctl->client, ctl->words [0], usecs / 1000, spec);
    free (spec);
    return rc ? s_client_fail (ctl, rc, NULL) : 0;
}

//  ---------------------------------------------------------------------
//  keygen: a CURVE key pair as zcert_save writes it (docs/spec.md section 8)

static int
s_cmd_keygen (ctl_t *ctl)
{
    const char *path = ctl->words [0];
    const s_given_t *given = s_given (ctl, CTL_OPT_ROLE);
    const char *role = given ? given->value : ASYNC_ROLE_CLIENT;
    if (strcmp (role, ASYNC_ROLE_CLIENT) && strcmp (role, ASYNC_ROLE_NODE))
        return s_usage (ctl, "--role takes client or node, not '%s'", role);
    if (!zsys_has_curve ())
        return s_error (ASYNC_EUSAGE, "this czmq has no CURVE support; install "
                        "a libczmq built with libsodium");
    char secret [PATH_MAX];
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (access (path, F_OK) == 0 || access (secret, F_OK) == 0)
        return s_error (ASYNC_EUSAGE, "'%s' or '%s' exists already; remove it "
                        "first or give another FILE", path, secret);
    zcert_t *cert = zcert_new ();
    if (!cert)
        return s_error (ASYNC_EUSAGE, "cannot make a key pair; check that "
                        "libczmq and libsodium work");
    zcert_set_meta (cert, "created-by", "asyncctl %s", CTL_VERSION);
    //  In both files: the broker reads it from the public one it allows
    zcert_set_meta (cert, "role", "%s", role);
    mode_t mask = umask (077);          //  the secret file is born 0600
    int rc = zcert_save (cert, path);
    int error = errno;
    umask (mask);
    zcert_destroy (&cert);
    if (rc)
        return s_error (ASYNC_EUSAGE, "cannot write '%s' (%s); check that its "
                        "directory exists and is writable", path, strerror (error));
    chmod (path, 0644 & ~mask);         //  the public one readable as usual
    return 0;
}

//  ---------------------------------------------------------------------
//  The commands. A NULL run: named by docs/spec.md, not available yet.

static const s_command_t s_commands [] = {
    { .name = "submit",
      .synopsis = "submit [OPTIONS] TASK [ARG...] [NAME=VALUE...]\n"
                  "submit [OPTIONS] --spec FILE",
      .help = "Submit a job and print its id. Options go before TASK: every "
              "word after it is an argument. --timeout here is the job's "
              "run-time limit.",
      .options = { s_submit_options, ctl_job_options, s_submit_wait_options },
      .task_words = true, .max_words = INT_MAX,
      .needs_broker = true, .run = s_cmd_submit },
    { .name = "parallel",
      .synopsis = "parallel [OPTIONS] [--postprocess 'TASK ARG...'] 'TASK ARG...' ...",
      .help = "Submit a parent job whose children, one per quoted 'TASK ARG...' "
              "word, all start at once; print the parent's id. The options "
              "apply to the parent; the children run in its queue.",
      .options = { s_group_options, ctl_job_options, s_submit_wait_options },
      .max_words = INT_MAX, .needs_broker = true, .run = s_cmd_group },
    { .name = "serial",
      .synopsis = "serial [OPTIONS] [--postprocess 'TASK ARG...'] 'TASK ARG...' ...",
      .help = "Like parallel, but each child starts only after the one before "
              "it completed (with a result or a failure).",
      .options = { s_group_options, ctl_job_options, s_submit_wait_options },
      .max_words = INT_MAX, .needs_broker = true, .run = s_cmd_group },
    { .name = "wait",
      .synopsis = "wait ID [--timeout DUR] [--progress]",
      .help = "Wait until the job completes, then print its result as JSON and "
              "exit 0, or print its failure object and exit 1.",
      .options = { s_wait_options },
      .min_words = 1, .max_words = 1, .words = "one job ID",
      .needs_broker = true, .run = s_cmd_wait },
    { .name = "job",
      .synopsis = "job ID",
      .help = "Print the job as JSON (readable lines on a terminal): status, "
              "result or failure, times, attempts, children, callbacks, "
              "annotations.",
      .min_words = 1, .max_words = 1, .words = "one job ID",
      .needs_broker = true, .run = s_cmd_job },
    { .name = "jobs",
      .synopsis = "jobs [STATUS...] [--queue Q] [--task GLOB] [--node UUID] [--parent ID] [--limit N] "
                  "[--stuck [--over DUR]]",
      .help = "Print the jobs with these statuses (default: any), one JSON "
              "object per line (a table on a terminal).",
      .options = { s_filter_options, s_limit_options, s_stuck_options },
      .max_words = INT_MAX, .needs_broker = true, .run = s_cmd_jobs },
    { .name = "last",
      .synopsis = "last [--failed] [--limit N]",
      .help = "Print the last jobs completed (--failed: completed with a "
              "failure), the most recent first, one JSON object per line "
              "(a table on a terminal).",
      .options = { s_last_options },
      .max_words = 0, .needs_broker = true, .run = s_cmd_last },
    { .name = "count",
      .synopsis = "count STATUS... [--task GLOB] [--queue Q] [--node UUID] [--parent ID] [--since DUR] "
                  "[--total]",
      .help = "Print how many jobs have this status; given more than one, "
              "how many have each, as a JSON object: {\"succeeded\": 5, "
              "\"failed\": 1}; with --total, one number for them all.",
      .options = { s_filter_options, s_since_options, s_total_options },
      .min_words = 1, .max_words = INT_MAX, .words = "one STATUS or more",
      .needs_broker = true, .run = s_cmd_count },
    { .name = "cancel",
      .synopsis = "cancel ID",
      .help = "Cancel the job: a pending one completes with CancelledError; an "
              "active one is asked to stop, and interrupted after a grace "
              "period.",
      .min_words = 1, .max_words = 1, .words = "one job ID",
      .needs_broker = true, .run = s_cmd_cancel },
    { .name = "retry",
      .synopsis = "retry ID\nretry --all-failed [--task GLOB] [--queue Q] [--since DUR] "
                  "[--limit N]",
      .help = "Run again a job that completed with a failure: it goes back to "
              "pending in its queue for one more attempt (a transient failure of "
              "it is retried as its policy allows: attempts count on); its "
              "failure is kept in its annotation asyncmesh.retries. A job that "
              "succeeded or has not completed, a child, callback or "
              "postprocess, or a parallel or serial job is refused (exit 6). "
              "--all-failed retries every failed job that can be (the newest "
              "first, at most --limit) and prints {\"listed\", \"retried\", "
              "\"skipped\", \"refused\"}.",
      .options = { s_retry_options, s_since_options },
      .max_words = 1, .words = "one job ID (or --all-failed)",
      .needs_broker = true, .run = s_cmd_retry },
    { .name = "delete",
      .synopsis = "delete ID",
      .help = "Forget a completed job now rather than at the broker's retention "
              "purge: its record and its idempotency key. A job that has not "
              "completed, a child, callback or postprocess, or a parallel or "
              "serial job is refused (exit 6).",
      .min_words = 1, .max_words = 1, .words = "one job ID",
      .needs_broker = true, .run = s_cmd_delete },
    { .name = "add-callback",
      .synopsis = "add-callback ID [--on always|success|failure] [OPTIONS] 'TASK ARG...'",
      .help = "Add a callback to the job, in any status, and print the "
              "callback's id. It runs when the job completes, with the job's "
              "result (or failure object) as its last argument; on a completed "
              "job it runs at once. The job options apply to the callback; "
              "--timeout here is its run-time limit.",
      .options = { s_callback_options, ctl_job_options },
      .min_words = 2, .max_words = 2,
      .words = "a job ID and one quoted 'TASK ARG...' word",
      .needs_broker = true, .run = s_cmd_add_callback },
    { .name = "annotate",
      .synopsis = "annotate ID NAME VALUE",
      .help = "Set the job's annotation NAME to VALUE, parsed like an argument "
              "(JSON when it parses as JSON, else a string).",
      .min_words = 3, .max_words = 3, .words = "a job ID, a NAME and a VALUE",
      .needs_broker = true, .run = s_cmd_annotate },
    { .name = "annotations",
      .synopsis = "annotations ID",
      .help = "Print the job's annotations as a JSON object (readable lines on "
              "a terminal).",
      .min_words = 1, .max_words = 1, .words = "one job ID",
      .needs_broker = true, .run = s_cmd_annotations },
    { .name = "every",
      .synopsis = "every NAME DUR [OPTIONS] 'TASK ARG...'\n"
                  "every NAME --cron EXPR [--tz TZ] [OPTIONS] 'TASK ARG...'\n"
                  "every list\nevery delete NAME",
      .help = "Keep a recurring schedule at the broker: every DUR (or at each "
              "minute that the --cron expression matches) it submits "
              "the job, exactly once per tick, across broker restarts; setting "
              "a NAME again replaces its schedule (NAME cannot be list or "
              "delete). The job options apply to each job; "
              "--timeout here is its run-time limit. 'every list' prints the "
              "schedules, one JSON object per line (a table on a terminal); "
              "'every delete' stops one.",
      .options = { ctl_job_options, s_every_options },
      .min_words = 1, .max_words = INT_MAX,
      .words = "NAME DUR 'TASK ARG...', list, or delete NAME",
      .needs_broker = true, .run = s_cmd_every },
    { .name = "quota",
      .synopsis = "quota set NAME SIZE\nquota list\nquota delete NAME",
      .help = "Cluster quotas, kept by the broker: at most SIZE jobs naming "
              "the quota (submit --quota NAME) are assigned or active at once, "
              "across all nodes. 'quota list' prints {name, size, running}, one "
              "JSON object per line (a table on a terminal). A job naming a "
              "quota that does not exist is refused.",
      .min_words = 1, .max_words = INT_MAX,
      .words = "set NAME SIZE, list, or delete NAME",
      .needs_broker = true, .run = s_cmd_quota },
    { .name = "queue",
      .synopsis = "queue pause NAME\nqueue resume NAME\nqueue list",
      .help = "Pause a queue: the broker hands out none of its pending jobs "
              "(jobs running go on; submits are still accepted) until it is "
              "resumed, across broker restarts. 'queue list' prints the queues "
              "{name, paused, pending, scheduled, assigned, active}, one JSON "
              "object per line (a table on a terminal).",
      .min_words = 1, .max_words = 2,
      .words = "pause NAME, resume NAME, or list",
      .needs_broker = true, .run = s_cmd_queue },
    { .name = "agent",
      .synopsis = "agent set NODE AGENT --size N [--filter EXPR] [--save]",
      .help = "Change an agent of a live node while it runs: its number of "
              "slots and, with --filter, the tasks it takes. The node applies "
              "it as it applies agents changed on SIGHUP (a new session, the "
              "running jobs kept) and this returns once it did: exit 5 for "
              "no such node or agent, 6 when the broker or the node refused "
              "(the reason on stderr), 7 when the node applied it but --save "
              "failed (the reason on stderr), 3 when the node did not answer "
              "in 3 s.",
      .options = { s_agent_options },
      .min_words = 1, .max_words = INT_MAX,
      .words = "set NODE AGENT",
      .needs_broker = true, .run = s_cmd_agent },
    { .name = "status",
      .synopsis = "status",
      .help = "Print the broker's status: uptime, version, queues, nodes and "
              "agents.",
      .words = "no arguments", .needs_broker = true, .run = s_cmd_status },
    { .name = "history",
      .synopsis = "history [hour|day|week]",
      .help = "Print how many jobs completed, succeeded and failed, in the last "
              "hour (default), day or week, step by step (a minute, 5 minutes, an "
              "hour) and by queue, as JSON: what the broker keeps for 7 days, "
              "across restarts.",
      .max_words = 1, .words = "hour, day or week",
      .needs_broker = true, .run = s_cmd_history },
    { .name = "nodes",
      .synopsis = "nodes",
      .help = "Print the nodes, one JSON object per line; each agent shows "
              "its size, running and pending (the pending jobs only it takes).",
      .words = "no arguments", .needs_broker = true, .run = s_cmd_nodes },
    { .name = "node",
      .synopsis = "node UUID",
      .help = "Print one node as JSON (readable lines on a terminal): its agents "
              "(size, running, pending: the pending jobs only that agent takes, "
              "filter, queues), its running jobs with their run time, its tasks "
              "(sorted, last, on a terminal), the heartbeat interval and the dead "
              "time.",
      .min_words = 1, .max_words = 1, .words = "one node UUID",
      .needs_broker = true, .run = s_cmd_node },
    { .name = "keygen",
      .synopsis = "keygen [--role client|node] FILE",
      .help = "Write a CURVE key pair: the public certificate to FILE, the "
              "secret one to FILE_secret (mode 0600). Put FILE in the broker's "
              "--curve-clients directory to let the key in; give FILE_secret "
              "to the client (--curve-key) or node that uses it.",
      .options = { s_keygen_options },
      .min_words = 1, .max_words = 1, .words = "one FILE name",
      .run = s_cmd_keygen },
    { .name = "top",
      .synopsis = "top",
      .help = "A live view of the broker on the terminal, refreshed every "
              "second: queues by status, nodes and their agents, throughput "
              "(completed jobs per second) and the running jobs. q quits. "
              "Needs a terminal (exit 2 otherwise).",
      .words = "no arguments", .needs_broker = true, .run = s_cmd_top },
    { .name = NULL }
};

//  ---------------------------------------------------------------------
//  Help

//  Print text from column `column` on, wrapped, continuing at `indent`
static void
s_wrap (FILE *out, int indent, int column, const char *text)
{
    bool first = true;
    while (*text) {
        int len = (int) strcspn (text, " ");
        if (!first && column + 1 + len > S_HELP_WIDTH) {
            fprintf (out, "\n%*s", indent, "");
            column = indent;
            first = true;
        }
        if (!first) {
            fputc (' ', out);
            column++;
        }
        fprintf (out, "%.*s", len, text);
        column += len;
        first = false;
        text += len;
        while (*text == ' ')
            text++;
    }
    fputc ('\n', out);
}

static void
s_print_options (FILE *out, const ctl_option_t *option)
{
    for (; option->name; option++) {
        if (!option->help)
            continue;
        char flag [64];
        snprintf (flag, sizeof flag, "%s%s%s", option->name,
                  option->arg ? " " : "", option->arg ? option->arg : "");
        int column = fprintf (out, "      %s", flag);
        if (column >= S_HELP_COLUMN - 1) {
            fputc ('\n', out);
            column = 0;
        }
        fprintf (out, "%*s", S_HELP_COLUMN - column, "");
        s_wrap (out, S_HELP_COLUMN, S_HELP_COLUMN, option->help);
    }
}

//  A command's synopsis, help and flags; `brief` leaves the job options
//  out (the whole help lists them once)
static void
s_print_command (FILE *out, const s_command_t *command, bool brief)
{
    const char *synopsis = command->synopsis;
    while (*synopsis) {
        int len = (int) strcspn (synopsis, "\n");
        fprintf (out, "  %.*s\n", len, synopsis);
        synopsis += len + (synopsis [len] == '\n');
    }
    fprintf (out, "      ");
    s_wrap (out, 6, 6, command->run ? command->help : "(not available in this version)");
    for (int table = 0; command->options [table]; table++) {
        if (brief && command->options [table] == ctl_job_options)
            fprintf (out, "      %-*sthe job options below%s\n", S_HELP_COLUMN - 6,
                     "OPTIONS", command->options [table + 1] ? ", and:" : "");
        else
            s_print_options (out, command->options [table]);
    }
}

//  The whole help, or one command's
static void
s_print_help (FILE *out, const s_command_t *command)
{
    fprintf (out, "asyncctl %s - submit, wait for and inspect asyncmesh jobs\n\n",
             CTL_VERSION);
    if (command) {
        fprintf (out, "Usage (after the global options):\n");
        s_print_command (out, command, false);
    }
    else {
        fprintf (out, "Usage: asyncctl [GLOBAL OPTIONS] COMMAND [ARGUMENTS]\n\n");
        s_wrap (out, 0, 0,
            "Words after a task name are arguments: JSON when they parse as "
            "JSON (5, \"five\", [1,2], {\"a\":1}, true, null), else strings. "
            "NAME=VALUE makes a keyword argument (to pass such a word as a "
            "string, write it as JSON: '\"a=1\"'). A 'TASK ARG...' word is one "
            "shell word, split again like a shell splits a command line. DUR "
            "is a number with an optional unit ms, s, m, h or d (plain = "
            "seconds). STATUS is pending, assigned, active, callbacks, "
            "completed, succeeded or failed.");
        fprintf (out, "\nCommands:\n");
        for (const s_command_t *each = s_commands; each->name; each++)
            s_print_command (out, each, true);
        //  "Job options (of submit, parallel, ...):", from the table
        char heading [256] = "Job options (of";
        const char *separator = " ";
        for (const s_command_t *each = s_commands; each->name; each++)
            for (int table = 0; each->options [table]; table++)
                if (each->options [table] == ctl_job_options) {
                    size_t len = strlen (heading);
                    snprintf (heading + len, sizeof heading - len, "%s%s",
                              separator, each->name);
                    separator = ", ";
                }
        fprintf (out, "\n%s):\n", heading);
        s_print_options (out, ctl_job_options);
    }
    fprintf (out, "\nGlobal options (before the command, or after it when the "
             "command has no\nflag of that name):\n");
    s_print_options (out, s_global_options);
    fprintf (out, "\n");
    s_wrap (out, 0, 0,
        "Exit codes: 0 success, 1 the job completed with a failure (the "
        "failure JSON on stdout), 2 usage error, 3 timed out waiting, 4 cannot "
        "reach the broker, 5 no such job, 6 refused by the broker.");
}

//  ---------------------------------------------------------------------
//  The command line

//  Parse the command line into ctl. 0 or 2.
static int
s_parse (ctl_t *ctl, int argc, char **argv)
{
    int rc;
    int index = 1;
    while (index < argc && s_is_option (argv [index])) {
        if (streq (argv [index], "--")) {
            index++;
            break;
        }
        if ((rc = s_take_option (ctl, argc, argv, &index)))
            return rc;
        index++;
    }
    if (index == argc)
        return ctl->help || ctl->version ? 0 : s_usage (ctl, "no command given");

    const char *name = argv [index++];
    for (const s_command_t *command = s_commands; command->name; command++)
        if (streq (command->name, name))
            ctl->command = command;
    if (!ctl->command)
        return s_usage (ctl, "'%s' is not a command", name);
    if (!ctl->command->run)
        return 0;               //  its arguments do not matter

    bool words_only = false;
    for (; index < argc; index++) {
        const char *arg = argv [index];
        if (!words_only && streq (arg, "--"))
            words_only = true;
        else
        if (!words_only && s_is_option (arg)) {
            if ((rc = s_take_option (ctl, argc, argv, &index)))
                return rc;
        }
        else {
            ctl->words [ctl->nwords++] = arg;
            if (ctl->command->task_words)
                words_only = true;
        }
    }
    return 0;
}

static int
s_run (ctl_t *ctl)
{
    if (ctl->help) {
        s_print_help (stdout, ctl->command);
        return 0;
    }
    if (ctl->version) {
        printf ("asyncctl %s\n", CTL_VERSION);
        return 0;
    }
    if (!ctl->command->run)
        return s_error (ASYNC_EUSAGE, "'%s' is not available in this version; "
                        "run 'asyncctl --help' for the commands it has",
                        ctl->command->name);
    const s_command_t *command = ctl->command;
    int rc = s_expect_words (ctl, false, command->min_words, command->max_words,
                             command->words);
    if (rc == 0)
        rc = s_settle (ctl);
    return rc ? rc : command->run (ctl);
}

int
main (int argc, char *argv [])
{
    async_alloc_abort_on_failure ();         //  async_alloc.h: the policy
    ctl_t ctl = { .timeout_ms = S_DEFAULT_TIMEOUT_MS };
    ctl.words = async_xcalloc (argc, sizeof (char *));
    ctl.given = async_xcalloc (argc, sizeof (s_given_t));
    int rc = s_parse (&ctl, argc, argv);
    if (rc == 0)
        rc = s_run (&ctl);
    if (ctl.client)
        async_client_destroy (&ctl.client);
    free (ctl.endpoint);
    free (ctl.words);
    free (ctl.given);
    return rc;
}
