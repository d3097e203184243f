/*  =========================================================================
    async_cli - command line, config file and log setup of the programs
    =========================================================================
*/
#include "async_cli.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/log.h"
#include <sys/stat.h>

int
async_cli_config (const char *prog, const char *path, zconfig_t **config)
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
    return 0;
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
