/*  =========================================================================
    ctl - private declarations shared by the files of asyncctl

    ctl_spec.c  turns command-line words into job specs (docs/spec.md
                section 5): values, 'TASK ARG...' words, job options as
                flags. Meant to be reused by every command that takes a
                task (submit, parallel, serial, add-callback, every).
    ctl_print.c prints JSON: one compact line, a readable tree, a table.
    ctl_top.c   asyncctl top: the live terminal view.
    asyncctl.c  the program: options, commands, errors.
    =========================================================================
*/
#ifndef CTL_H_INCLUDED
#define CTL_H_INCLUDED

#include <asyncmesh/client.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

//  One command-line flag. `arg` names its value ("DUR"), NULL for a flag
//  without value. A NULL `help` hides the flag from --help (an alias).
typedef struct {
    const char *name;
    const char *arg;
    int id;
    const char *help;
} ctl_option_t;

//  The ids of every asyncctl flag
typedef enum {
    CTL_OPT_NONE = 0,
    //  Job options (docs/spec.md section 2): apply them with ctl_spec_option ()
    CTL_OPT_QUEUE,
    CTL_OPT_PRIORITY,
    CTL_OPT_BEGIN_AFTER,
    CTL_OPT_BEGIN_BY,
    CTL_OPT_TIMEOUT,
    CTL_OPT_RETRY,
    CTL_OPT_QUOTA,
    CTL_OPT_KEY,
    CTL_OPT_CALLBACK,
    CTL_OPT_ON_SUCCESS,
    CTL_OPT_ON_FAILURE,
    CTL_OPT_ANNOTATE,
    CTL_OPT_JOB_LAST = CTL_OPT_ANNOTATE,
    //  Global options
    CTL_OPT_BROKER,
    CTL_OPT_CONFIG,
    CTL_OPT_BROKER_TIMEOUT,
    CTL_OPT_JSON,
    CTL_OPT_LOG_LEVEL,
    CTL_OPT_CURVE_KEY,
    CTL_OPT_BROKER_PUBLIC_KEY,
    CTL_OPT_HELP,
    CTL_OPT_VERSION,
    //  Options of single commands
    CTL_OPT_SPEC,
    CTL_OPT_POSTPROCESS,
    CTL_OPT_WAIT,
    CTL_OPT_WAIT_TIMEOUT,
    CTL_OPT_PROGRESS,
    CTL_OPT_FILTER_QUEUE,
    CTL_OPT_FILTER_TASK,
    CTL_OPT_FILTER_NODE,
    CTL_OPT_FILTER_PARENT,
    CTL_OPT_LIMIT,
    CTL_OPT_SINCE,
    CTL_OPT_TOTAL,
    CTL_OPT_ON,
    CTL_OPT_ROLE,
    CTL_OPT_CRON,
    CTL_OPT_TZ,
    CTL_OPT_FAILED,
    CTL_OPT_STUCK,
    CTL_OPT_OVER,
    CTL_OPT_ALL_FAILED,
    CTL_OPT_SIZE,
    CTL_OPT_FILTER,
    CTL_OPT_SAVE
} ctl_option_id_t;

//  What to do about a malformed duration (DUR)
#define CTL_DURATION_HINT \
    "give a number with an optional unit ms, s, m, h or d, like 30s, " \
    "at most 1e12 s"

//  ---------------------------------------------------------------------
//  ctl_spec: job specs from command-line words. Functions that can fail
//  return NULL or -1 and write a one-line reason (what is wrong, no
//  "asyncctl:" prefix) into err.

//  The job options of docs/spec.md section 2 as flags (--queue ... --annotate),
//  terminated by a NULL name.
extern const ctl_option_t ctl_job_options [];

//  Parse one word as a value: JSON when it is valid JSON ("5", "[1,2]",
//  "null"), else the word as a string. Returns a new reference.
json_t *
    ctl_value_parse (const char *text);

//  Split text into words like a POSIX shell does: blanks separate words,
//  '...' and "..." quote, a backslash escapes the next character. Returns
//  a NULL-terminated array (free with ctl_words_destroy), or NULL.
char **
    ctl_words_split (const char *text, char *err, size_t err_size);

//  Free the words and set *words_p to NULL.
void
    ctl_words_destroy (char ***words_p);

//  Build {"task", "args", "kwargs"} from TASK [ARG...] [NAME=VALUE...]:
//  NAME=VALUE with NAME an identifier makes a keyword argument; every
//  other word is a positional argument. Values as ctl_value_parse.
json_t *
    ctl_spec_from_words (char **words, int count, char *err, size_t err_size);

//  The same from one 'TASK ARG...' text, split with ctl_words_split.
json_t *
    ctl_spec_from_text (const char *text, char *err, size_t err_size);

//  Apply one job option flag (an entry of ctl_job_options) and its value
//  to the spec object: checks the value locally, then sets the option, or
//  adds to "quotas", "callbacks" and "annotations". 0 or -1.
int
    ctl_spec_option (json_t *spec, const ctl_option_t *option, const char *value,
                     char *err, size_t err_size);

//  ---------------------------------------------------------------------
//  ctl_print: output

//  The value as compact JSON text on one line (reals as short as they can
//  be while still reading back exactly). Caller frees; NULL if no memory.
char *
    ctl_json_dumps (json_t *value);

//  Print the value as one line of compact JSON. 0 or -1.
int
    ctl_print_json (FILE *out, json_t *value);

//  Print an object or array as readable indented "key: value" lines.
void
    ctl_print_tree (FILE *out, json_t *value, int indent);

//  Print the strings of an array as words, two spaces apart, in lines of
//  at most `width` columns (a longer word alone on its line), each line
//  starting at `indent`. Items that are not strings are left out.
void
    ctl_print_words (FILE *out, json_t *words, int indent, int width);

//  Print an array of objects as a table with the given columns (a NULL
//  terminated list of keys), one row per object, with a header line.
void
    ctl_print_table (FILE *out, json_t *rows, const char *const *columns);

//  ---------------------------------------------------------------------
//  ctl_top: asyncctl top

//  Show the live view of the broker on the terminal (stdout must be one)
//  until 'q' is pressed: 0. Returns the client's error code when a call
//  fails (the first one before the screen changes), for the caller to
//  report. Dies of SIGINT or SIGTERM after restoring the terminal.
int
    ctl_top (async_client_t *client, const char *endpoint);

#endif
