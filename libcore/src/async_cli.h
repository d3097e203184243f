/*  =========================================================================
    async_cli - what every asyncmesh program does with its command line:
    config file, flag-over-file lookups, log setup, durations. Each call
    that fails prints one line "PROG: what is wrong; what to do" to stderr
    and returns ASYNC_EUSAGE. (Private; not installed.)
    =========================================================================
*/
#ifndef ASYNC_CLI_H_INCLUDED
#define ASYNC_CLI_H_INCLUDED

#include <czmq.h>

//  Load the ZPL file `path` (NULL: no file, *config = NULL) and check its
//  sections and keys against `known` (async_cli_config_check).
int
    async_cli_config (const char *prog, const char *path, const char *const *known,
                      zconfig_t **config);

//  Check that every section and key of the ZPL file `path` (one zconfig
//  read) is one of `known`, a NULL-terminated list of paths: "broker",
//  "broker/bind", "agents/*/size" ('*' is any one name). Else prints
//  "PROG: FILE:LINE: unknown key 'broker/bnid'; did you mean bind?" (the
//  closest known name at that place, by edit distance) and returns
//  ASYNC_EUSAGE.
int
    async_cli_config_check (const char *prog, const char *path,
                            const char *const *known);

//  The flag's value if given, else the file's value at `path`, else `def`.
const char *
    async_cli_get (zconfig_t *config, const char *flag, const char *path, const char *def);

//  Set the log level ("error".."trace") and, if `file` is set, the log file.
int
    async_cli_log (const char *prog, const char *level, const char *file);

//  A duration between 1 ms and 1 day, in milliseconds.
int
    async_cli_duration_ms (const char *prog, const char *what, const char *text, int *ms);

//  A file holding a secret (a token, a CURVE secret key) must be private
//  to its owner: 0 when `path` exists and no group or other permission bit
//  is set; else prints "PROG: FLAG FILE is readable by others (mode 0644);
//  chmod 600 FILE" (or why it cannot be read) and returns ASYNC_EUSAGE.
int
    async_cli_private_file_ok (const char *program, const char *flag, const char *path);

//  Edit distance of a and b: insertions, deletions, substitutions and
//  swaps of two neighbours, each 1 (names up to 64 characters).
size_t
    async_cli_distance (const char *a, const char *b);

//  Refuse what getopt_long would take as an abbreviation ("--modul" for
//  --module) and any other unknown long option before getopt_long runs:
//  every "--NAME" or "--NAME=..." of argv (up to "--") must name one of
//  `options` exactly. Else prints "PROG: unknown option --modul (did you
//  mean --module?); run PROG --help" and returns ASYNC_EUSAGE.
struct option;
int
    async_cli_exact_options (const char *prog, int argc, char *argv [],
                             const struct option *options);

//  Report an unknown option or argument (getopt's optind, argv) and return
//  ASYNC_EUSAGE.
int
    async_cli_bad_option (const char *prog, const char *word);

#endif
