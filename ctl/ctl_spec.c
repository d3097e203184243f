/*  =========================================================================
    ctl_spec - job specs from command-line words (docs/spec.md section 5)
    =========================================================================
*/
#include "ctl.h"
#include "async_util.h"
#include "async_alloc.h"
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const ctl_option_t ctl_job_options [] = {
    { "--queue", "Q", CTL_OPT_QUEUE,
      "the queue to put the job in (default: default)" },
    { "--priority", "N", CTL_OPT_PRIORITY,
      "integer; higher runs first within the queue (default: 0)" },
    { "--begin-after", "WHEN", CTL_OPT_BEGIN_AFTER,
      "not before this time: ISO-8601 with Z or offset, or +30s (default: now)" },
    { "--begin-by", "DUR", CTL_OPT_BEGIN_BY,
      "fail with TimeoutError if not started this long after begin-after "
      "(default: none)" },
    { "--timeout", "DUR", CTL_OPT_TIMEOUT,
      "run-time limit of the job (default: none)" },
    { "--retry", "POLICY", CTL_OPT_RETRY,
      "default, forever, never or attempts=N,backoff=1s..60s,factor=2,interruptions=M "
      "(a linear backoff: backoff=5s+5s..60s; default: default)" },
    { "--quota", "NAME", CTL_OPT_QUOTA,
      "count the job against this broker quota (repeatable; default: none)" },
    { "--key", "KEY", CTL_OPT_KEY,
      "idempotency key: submitting again with it returns the same job "
      "(default: none)" },
    { "--callback", "'TASK ARG...'", CTL_OPT_CALLBACK,
      "run this job when the job completes, with its result (repeatable; "
      "default: none)" },
    { "--on-success", "'TASK ARG...'", CTL_OPT_ON_SUCCESS,
      "run this job when the job succeeds, with its result (repeatable; "
      "default: none)" },
    { "--on-failure", "'TASK ARG...'", CTL_OPT_ON_FAILURE,
      "run this job when the job fails, with the failure object (repeatable; "
      "default: none)" },
    { "--annotate", "NAME=VALUE", CTL_OPT_ANNOTATE,
      "set an annotation; VALUE is parsed like an argument (repeatable; "
      "default: none)" },
    { NULL, NULL, 0, NULL }
};

static int
s_fail (char *err, size_t err_size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (char *err, size_t err_size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (err, err_size, format, args);
    va_end (args);
    return -1;
}

json_t *
ctl_value_parse (const char *text)
{
    json_t *value = json_loads (text, JSON_DECODE_ANY, NULL);
    return value ? value : json_string (text);
}

//  Length of NAME when word is NAME=VALUE with NAME an identifier, else 0
static size_t
s_kwarg_name_len (const char *word)
{
    if (!isalpha ((unsigned char) *word) && *word != '_')
        return 0;
    size_t len = 1;
    while (isalnum ((unsigned char) word [len]) || word [len] == '_')
        len++;
    return word [len] == '=' ? len : 0;
}

char **
ctl_words_split (const char *text, char *err, size_t err_size)
{
    size_t limit = strlen (text) / 2 + 2;       //  the most words there can be
    char **words = async_xcalloc (limit, sizeof (char *));
    char *word = async_xmalloc (strlen (text) + 1);
    const char *problem = NULL;
    const char *p = text;
    size_t count = 0;
    while (!problem) {
        while (isspace ((unsigned char) *p))
            p++;
        if (!*p)
            break;
        size_t size = 0;
        while (*p && !isspace ((unsigned char) *p) && !problem) {
            if (*p == '\'') {
                const char *close = strchr (p + 1, '\'');
                if (!close) {
                    problem = "a single quote is not closed";
                    break;
                }
                memcpy (word + size, p + 1, close - p - 1);
                size += close - p - 1;
                p = close + 1;
            }
            else
            if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                    //  In double quotes a backslash escapes only \ " $ `
                    if (*p == '\\' && p [1] && strchr ("\\\"$`", p [1]))
                        p++;
                    word [size++] = *p;
                }
                if (!*p)
                    problem = "a double quote is not closed";
                else
                    p++;
            }
            else
            if (*p == '\\') {
                if (!p [1])
                    problem = "a backslash ends the text";
                else {
                    word [size++] = p [1];
                    p += 2;
                }
            }
            else
                word [size++] = *p++;
        }
        word [size] = 0;
        if (!problem)
            words [count++] = async_xstrdup (word);
    }
    free (word);
    if (problem) {
        s_fail (err, err_size, "cannot split '%s' into words: %s", text, problem);
        ctl_words_destroy (&words);
    }
    return words;
}

void
ctl_words_destroy (char ***words_p)
{
    if (!*words_p)
        return;
    for (char **word = *words_p; *word; word++)
        free (*word);
    free (*words_p);
    *words_p = NULL;
}

json_t *
ctl_spec_from_words (char **words, int count, char *err, size_t err_size)
{
    if (count < 1) {
        s_fail (err, err_size, "a task name is missing, like time.time or "
                "pi.generate_sample");
        return NULL;
    }
    if (!async_task_name_valid (words [0])) {
        s_fail (err, err_size, "'%s' is not a task name; name it like module.function",
                words [0]);
        return NULL;
    }
    json_t *args = json_array ();
    json_t *kwargs = json_object ();
    json_t *spec = json_pack ("{s:s, s:o, s:o}", "task", words [0],
                              "args", args, "kwargs", kwargs);
    if (!spec) {
        s_fail (err, err_size, "out of memory");
        return NULL;
    }
    for (int index = 1; index < count; index++) {
        const char *word = words [index];
        size_t name_len = s_kwarg_name_len (word);
        char *name = name_len ? async_xstrndup (word, name_len) : NULL;
        json_t *value = ctl_value_parse (name_len ? word + name_len + 1 : word);
        const char *problem = NULL;
        if (!value)
            problem = "is not UTF-8 text";
        else
        if (name && json_object_get (kwargs, name))
            problem = "names a keyword argument again";
        if (problem) {
            s_fail (err, err_size, "argument '%s' of %s %s", word, words [0], problem);
            json_decref (value);
            free (name);
            json_decref (spec);
            return NULL;
        }
        if (name)
            json_object_set_new (kwargs, name, value);
        else
            json_array_append_new (args, value);
        free (name);
    }
    return spec;
}

json_t *
ctl_spec_from_text (const char *text, char *err, size_t err_size)
{
    char **words = ctl_words_split (text, err, err_size);
    if (!words)
        return NULL;
    int count = 0;
    while (words [count])
        count++;
    json_t *spec = ctl_spec_from_words (words, count, err, err_size);
    ctl_words_destroy (&words);
    return spec;
}

//  The member `name` of spec, created empty when missing, of `type`
//  (JSON_ARRAY or JSON_OBJECT). NULL when spec holds something else there.
static json_t *
s_member (json_t *spec, const char *name, json_type type)
{
    json_t *member = json_object_get (spec, name);
    if (!member) {
        member = type == JSON_ARRAY ? json_array () : json_object ();
        json_object_set_new (spec, name, member);
    }
    return member && json_typeof (member) == type ? member : NULL;
}

//  Light check of a retry policy; the broker checks the numbers
static bool
s_retry_valid (const char *text)
{
    if (strcmp (text, "default") == 0 || strcmp (text, "forever") == 0
    ||  strcmp (text, "never") == 0)
        return true;
    static const char *keys [] = { "attempts=", "backoff=", "factor=", "interruptions=" };
    const char *item = text;
    while (true) {
        size_t len = strcspn (item, ",");
        bool known = false;
        for (size_t index = 0; index < sizeof keys / sizeof keys [0]; index++) {
            size_t key_len = strlen (keys [index]);
            if (len > key_len && strncmp (item, keys [index], key_len) == 0)
                known = true;
        }
        if (!known)
            return false;
        if (!item [len])
            return true;
        item += len + 1;
    }
}

//  What is wrong with the value of a job option flag (how to say it after
//  "--flag 'value'"), or NULL when nothing is
static const char *
s_value_problem (int id, const char *value)
{
    int64_t number;
    const char *equals;
    switch (id) {
        case CTL_OPT_PRIORITY:
            return async_parse_int (value, INT32_MIN, INT32_MAX, &number)
                 ? "is not a 32-bit integer; give a number like 10 or -5" : NULL;
        case CTL_OPT_BEGIN_AFTER:
            return async_parse_time (value, async_now_us (), &number)
                 ? "is not a time; give ISO-8601 with Z or an offset "
                   "(2026-11-26T22:00:00Z) or a relative time like +30s" : NULL;
        case CTL_OPT_BEGIN_BY:
        case CTL_OPT_TIMEOUT:
            return async_parse_duration (value, false, &number)
                 ? "is not a duration; " CTL_DURATION_HINT : NULL;
        case CTL_OPT_RETRY:
            return s_retry_valid (value) ? NULL
                 : "is not a retry policy; give default, forever, never or "
                   "attempts=N,backoff=1s..60s,factor=2,interruptions=M "
                   "(or a linear backoff=5s+5s..60s)";
        case CTL_OPT_ANNOTATE:
            equals = strchr (value, '=');
            return equals && equals != value ? NULL
                 : "is not NAME=VALUE; give a name, =, and a value, like a=1";
        case CTL_OPT_CALLBACK:
        case CTL_OPT_ON_SUCCESS:
        case CTL_OPT_ON_FAILURE:
            return NULL;                //  checked as it is parsed
        default:
            return *value ? NULL : "is empty; give a name";
    }
}

//  A callback entry {"on", "task", "args", "kwargs"} from 'TASK ARG...'
static json_t *
s_callback (const ctl_option_t *option, const char *text, char *err, size_t err_size)
{
    char why [512];
    json_t *callback = ctl_spec_from_text (text, why, sizeof why);
    if (!callback) {
        s_fail (err, err_size, "%s: %s", option->name, why);
        return NULL;
    }
    int id = option->id;
    json_t *entry = json_pack ("{s:s}", "on", id == CTL_OPT_ON_SUCCESS ? "success"
                                            : id == CTL_OPT_ON_FAILURE ? "failure"
                                            : "always");
    json_object_update (entry, callback);
    json_decref (callback);
    return entry;
}

int
ctl_spec_option (json_t *spec, const ctl_option_t *option, const char *value,
                 char *err, size_t err_size)
{
    const char *problem = s_value_problem (option->id, value);
    if (problem)
        return s_fail (err, err_size, "%s '%s' %s", option->name, value, problem);

    //  The spec's option name is the flag's, with _ for -; the repeatable
    //  flags add to a list instead
    char name [32];
    snprintf (name, sizeof name, "%s", option->name + 2);
    for (char *c = name; *c; c++)
        if (*c == '-')
            *c = '_';
    const char *list_name = NULL;
    char *key = NULL;               //  of an annotation
    json_t *item;
    int64_t number = 0;         //  checked before (s_value_problem)

    switch (option->id) {
        case CTL_OPT_PRIORITY:
            async_parse_int (value, INT32_MIN, INT32_MAX, &number);
            item = json_integer (number);
            break;
        case CTL_OPT_QUOTA:
            list_name = "quotas";
            item = json_string (value);
            break;
        case CTL_OPT_CALLBACK:
        case CTL_OPT_ON_SUCCESS:
        case CTL_OPT_ON_FAILURE:
            list_name = "callbacks";
            if (!(item = s_callback (option, value, err, err_size)))
                return -1;
            break;
        case CTL_OPT_ANNOTATE:
            list_name = "annotations";
            key = async_xstrndup (value, strcspn (value, "="));
            item = ctl_value_parse (strchr (value, '=') + 1);
            break;
        default:
            assert (option->id <= CTL_OPT_JOB_LAST);
            item = json_string (value);
            break;
    }
    if (!item) {
        free (key);
        return s_fail (err, err_size, "%s '%s' is not UTF-8 text", option->name, value);
    }
    if (!list_name) {
        json_object_set_new (spec, name, item);
        return 0;
    }
    bool is_object = option->id == CTL_OPT_ANNOTATE;
    json_t *list = s_member (spec, list_name, is_object ? JSON_OBJECT : JSON_ARRAY);
    if (!list || (is_object && !key)) {
        json_decref (item);
        free (key);
        return s_fail (err, err_size, "\"%s\" of the spec is not an %s", list_name,
                       is_object ? "object" : "array");
    }
    if (is_object) {
        json_object_set_new (list, key, item);
        free (key);
    }
    else
        json_array_append_new (list, item);
    return 0;
}
