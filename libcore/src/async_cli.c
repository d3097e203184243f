/*  =========================================================================
    async_cli - command line, config file and log setup of the programs
    =========================================================================
*/
#include "async_cli.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <getopt.h>
#include <sys/stat.h>

int
async_cli_config (const char *prog, const char *path, const char *const *known,
                  zconfig_t **config)
{
    *config = NULL;
    if (!path)
        return 0;
    *config = zconfig_load (path);
    if (!*config) {
        fprintf (stderr, "%s: cannot read config file '%s'; check the path and its "
                 "ZPL syntax (see conf/)\n", prog, path);
        return ASYNC_EUSAGE;
    }
    if (async_cli_config_check (prog, path, known)) {
        zconfig_destroy (config);
        return ASYNC_EUSAGE;
    }
    return 0;
}

//  Edit distance of a and b: insertions, deletions, substitutions and
//  swaps of two neighbours ("bnid" is one from "bind"), each 1
size_t
async_cli_distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 64 || lb > 64)
        return la > lb ? la : lb;
    size_t d [65][65];
    for (size_t i = 0; i <= la; i++)
        d [i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d [0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a [i - 1] != b [j - 1];
            size_t best = d [i - 1][j] + 1;
            if (d [i][j - 1] + 1 < best)
                best = d [i][j - 1] + 1;
            if (d [i - 1][j - 1] + cost < best)
                best = d [i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a [i - 1] == b [j - 2] && a [i - 2] == b [j - 1]
            &&  d [i - 2][j - 2] + 1 < best)
                best = d [i - 2][j - 2] + 1;
            d [i][j] = best;
        }
    return d [la][lb];
}

#define S_CONFIG_DEPTH  8

//  Whether the names [0..depth) match `pattern` ("agents/*/size") in their
//  first `depth` segments; with `last`, the pattern has exactly depth + 1
//  segments, the last one returned through it
static bool
s_pattern_match (const char *pattern, char names [][128], int depth, const char **last)
{
    const char *p = pattern;
    for (int i = 0; i < depth; i++) {
        size_t len = strcspn (p, "/");
        if (!(len == 1 && *p == '*')
        &&  (strlen (names [i]) != len || strncmp (p, names [i], len)))
            return false;
        if (p [len] != '/')
            return false;
        p += len + 1;
    }
    if (strchr (p, '/'))
        return false;
    *last = p;
    return true;
}

int
async_cli_config_check (const char *prog, const char *path, const char *const *known)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fprintf (stderr, "%s: cannot read config file '%s': %s; check the path\n",
                 prog, path, strerror (errno));
        return ASYNC_EUSAGE;
    }
    //  zconfig read the file: a name per line, 4 spaces of indent a level
    char names [S_CONFIG_DEPTH][128];
    char *line = NULL;
    size_t size = 0;
    int number = 0, rc = 0;
    while (rc == 0 && getline (&line, &size, file) != -1) {
        number++;
        size_t indent = strspn (line, " ");
        const char *name = line + indent;
        size_t len = strcspn (name, " \t=#\r\n");
        if (len == 0)
            continue;               //  blank, a comment
        int depth = (int) (indent / 4);
        if (depth >= S_CONFIG_DEPTH || len >= sizeof names [0]) {
            fprintf (stderr, "%s: %s:%d: '%.*s' is nested too deep or too long; no "
                     "such key exists\n", prog, path, number, (int) len, name);
            rc = ASYNC_EUSAGE;
            break;
        }
        memcpy (names [depth], name, len);
        names [depth][len] = 0;
        const char *last = NULL, *closest = NULL;
        size_t best = SIZE_MAX;
        bool found = false;
        for (const char *const *pattern = known; *pattern && !found; pattern++) {
            if (!s_pattern_match (*pattern, names, depth, &last))
                continue;
            if (streq (last, "*") || streq (last, names [depth]))
                found = true;
            else {
                size_t distance = async_cli_distance (names [depth], last);
                if (distance < best) {
                    best = distance;
                    closest = last;
                }
            }
        }
        if (found)
            continue;
        char key [S_CONFIG_DEPTH * 128 + 8] = "";
        for (int i = 0; i <= depth; i++) {
            size_t at = strlen (key);
            snprintf (key + at, sizeof key - at, "%s%s", i ? "/" : "", names [i]);
        }
        if (closest)
            fprintf (stderr, "%s: %s:%d: unknown %s '%s'; did you mean %s?\n", prog, path,
                     number, depth ? "key" : "section", key, closest);
        else
            fprintf (stderr, "%s: %s:%d: unknown %s '%s'; '%s' has no keys below it\n",
                     prog, path, number, depth ? "key" : "section", key, names [depth - 1]);
        rc = ASYNC_EUSAGE;
    }
    free (line);
    fclose (file);
    return rc;
}

const char *
async_cli_get (zconfig_t *config, const char *flag, const char *path, const char *def)
{
    if (flag)
        return flag;
    return config ? zconfig_get (config, path, def) : def;
}

int
async_cli_log (const char *prog, const char *level, const char *file)
{
    int parsed = async_log_level_parse (level);
    if (parsed < 0) {
        fprintf (stderr, "%s: log level '%s' is not one of "
                 "error|warning|info|debug|trace\n", prog, level);
        return ASYNC_EUSAGE;
    }
    async_log_set_level ((async_log_level_t) parsed);
    if (file && async_log_set_file (file)) {
        fprintf (stderr, "%s: cannot open log file '%s': %s; check the directory "
                 "exists and is writable\n", prog, file, strerror (errno));
        return ASYNC_EUSAGE;
    }
    return 0;
}

int
async_cli_duration_ms (const char *prog, const char *what, const char *text, int *ms)
{
    int64_t us;
    if (async_parse_duration (text, false, &us) || us < 1000 || us > 86400LL * 1000000) {
        fprintf (stderr, "%s: %s '%s' is not a duration between 1ms and 1d; "
                 "write e.g. 1s or 500ms\n", prog, what, text);
        return ASYNC_EUSAGE;
    }
    *ms = (int) (us / 1000);
    return 0;
}

int
async_cli_private_file_ok (const char *program, const char *flag, const char *path)
{
    struct stat st;
    if (stat (path, &st)) {
        fprintf (stderr, "%s: %s %s cannot be read (%s); check the path\n",
                 program, flag, path, strerror (errno));
        return ASYNC_EUSAGE;
    }
    if (st.st_mode & 077) {
        fprintf (stderr, "%s: %s %s is readable by others (mode %04o); chmod 600 %s\n",
                 program, flag, path, (unsigned) (st.st_mode & 07777), path);
        return ASYNC_EUSAGE;
    }
    return 0;
}

int
async_cli_bad_option (const char *prog, const char *word)
{
    fprintf (stderr, "%s: unknown or incomplete option or argument '%s'; run %s --help\n",
             prog, word, prog);
    return ASYNC_EUSAGE;
}

int
async_cli_exact_options (const char *prog, int argc, char *argv [],
                         const struct option *options)
{
    for (int index = 1; index < argc; index++) {
        const char *arg = argv [index];
        if (streq (arg, "--"))
            break;
        if (strncmp (arg, "--", 2) != 0)
            continue;                   //  a word, or a short option
        const char *name = arg + 2;
        size_t len = strcspn (name, "=");
        const struct option *option = options;
        while (option->name && (strlen (option->name) != len
                            ||  strncmp (option->name, name, len)))
            option++;
        if (option->name) {
            if (option->has_arg == required_argument && name [len] == 0)
                index++;                //  its value, whatever it looks like
            continue;
        }
        char word [128];
        snprintf (word, sizeof word, "%.*s", (int) (len < 100 ? len : 100), name);
        const char *closest = NULL;
        size_t best = SIZE_MAX;
        for (option = options; option->name; option++) {
            size_t distance = async_cli_distance (word, option->name);
            if (distance < best) {
                best = distance;
                closest = option->name;
            }
        }
        if (closest && best <= (strlen (word) + 2) / 3 + 1)
            fprintf (stderr, "%s: unknown option --%s (did you mean --%s?); run %s "
                     "--help\n", prog, word, closest, prog);
        else
            fprintf (stderr, "%s: unknown option --%s; run %s --help\n", prog, word, prog);
        return ASYNC_EUSAGE;
    }
    return 0;
}
