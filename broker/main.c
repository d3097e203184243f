/*  =========================================================================
    asyncbroker - the durable job broker

    asyncbroker --data DIR --bind tcp://127.0.0.1:9999
    =========================================================================
*/
#include "broker.h"
#include "http.h"
#include "async_cli.h"
#include "async_keys.h"
#include "async_notify.h"
#include "async_util.h"
#include "asyncmesh/error.h"
#include "asyncmesh/version.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>

static volatile int s_stop = 0;
static volatile int s_reopen = 0;

static void
s_on_signal (int signum)
{
    if (signum == SIGHUP)
        s_reopen = 1;
    else
        s_stop = 1;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: asyncbroker [OPTIONS]\n"
"  --data DIR           RocksDB data directory (default var/broker)\n"
"  --bind ENDPOINT      ZeroMQ endpoint for nodes and clients\n"
"                       (default tcp://127.0.0.1:9999)\n"
"  --sync on|off        sync the WAL before acknowledging (default on)\n"
"  --heartbeat DUR      ping nodes this often (default 1s)\n"
"  --dead-after DUR     a silent node is dead after this (default 5s)\n"
"  --retention DUR      keep completed jobs this long (default 7d)\n"
"  --min-free SIZE      refuse writes of clients (submits, schedules) and new\n"
"                       nodes while the data disk has less free space (bytes,\n"
"                       or with K, M, G; default 64M)\n"
"  --curve-secret FILE  require CurveZMQ: the broker's key pair, a _secret file\n"
"                       of 'asyncctl keygen' with mode 0600 (default: none,\n"
"                       no CURVE); needs --curve-clients\n"
"  --curve-clients DIR  with CURVE: the public key files of the clients and\n"
"                       nodes let in (keygen --role client|node); read again\n"
"                       on SIGHUP (default: none)\n"
"  --insecure-bind      allow binding beyond loopback without CURVE (default off)\n"
"  --salvage            start even if the store's write-ahead log is damaged:\n"
"                       cut it at the damage, dropping the damaged record and\n"
"                       all after it (logged at warning, the log as it was\n"
"                       kept in DIR/salvaged-TIME); without it such a store\n"
"                       is refused, exit 6 (default off; copy the data dir\n"
"                       first, give it for one start; a damaged table file,\n"
"                       *.sst, is refused even so: restore a backup)\n"
"  --pending-window N   pending jobs per queue held in memory; the rest wait\n"
"                       in the store and are read back as the queue drains\n"
"                       (default 16384)\n"
"  --sessions-memory SIZE  refuse a node's HELLO when all node sessions would\n"
"                       cost more memory than this (bytes, or with K, M, G;\n"
"                       default 256M; 1M to 1024G)\n"
"  --sessions-max N     refuse a node's HELLO when there are this many node\n"
"                       sessions already (default 10000; 1 to 1000000)\n"
"  --spin DUR           while jobs come and go quickly, poll for news this long\n"
"                       at most before sleeping (adapts; 0 = never; default\n"
"                       0.5ms; range 0 to 10ms)\n"
"  --http ADDR:PORT     serve /metrics, /api/... and the dashboard there\n"
"                       (default: off; e.g. 127.0.0.1:9998)\n"
"  --http-token FILE    require \"Authorization: Bearer TOKEN\" on HTTP, TOKEN\n"
"                       being FILE's first line, or LABEL:TOKEN (LABEL names\n"
"                       who acts over HTTP in the log; default http); FILE\n"
"                       must be mode 600 (default: none; required beyond\n"
"                       loopback and for the actions of the HTTP API)\n"
"  --config FILE        ZPL config file (see conf/asyncbroker.cfg; default none)\n"
"  --log-level LEVEL    error|warning|info|debug|trace (default info)\n"
"  --log-file FILE      log to FILE, reopened on SIGHUP (default stderr)\n"
"  --help               this text\n"
"  --version            print the version\n"
"exit codes: 0 stopped cleanly, 2 usage error, 6 could not start (store, bind;\n"
"            a damaged store: see the store.corrupt line)\n");
}

//  "64M", "1G", "4096": bytes
static int
s_parse_size (const char *text, uint64_t *bytes)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (end == text || errno || *text == '-')
        return -1;
    int shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20
              : *end == 'G' || *end == 'g' ? 30 : *end == 0 ? 0 : -1;
    if (shift < 0 || (*end && end [1]) || value > (1ULL << (63 - shift)))
        return -1;
    *bytes = (uint64_t) value << shift;
    return 0;
}

//  Whether the endpoint binds to loopback only: what its host resolves to,
//  not how it is spelt ("tcp://127.example.org:9999" may be anything). A
//  host that does not resolve (an interface name) is not loopback
static bool
s_loopback (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        return true;
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    if (strncmp (endpoint, "tcp://", 6) != 0 || !colon || colon == host)
        return false;
    char address [300];
    if (snprintf (address, sizeof address, "%.*s:%s", (int) (colon - host), host,
                  streq (colon + 1, "*") ? "0" : colon + 1) >= (int) sizeof address)
        return false;
    bool loopback = false;
    return http_address_check (address, &loopback) == 0 && loopback;
}

//  Check --http and read the --http-token file: a private file whose first
//  line is the token. Beyond loopback a token is required. 0 or
//  ASYNC_EUSAGE (said on stderr).
static int
s_http_settle (const char *http, const char *token_file, char **token)
{
    bool loopback;
    if (http_address_check (http, &loopback)) {
        fprintf (stderr, "asyncbroker: --http '%s' is not ADDR:PORT; give e.g. "
                 "127.0.0.1:9998\n", http);
        return ASYNC_EUSAGE;
    }
    if (!token_file) {
        if (loopback)
            return 0;
        fprintf (stderr, "asyncbroker: --http %s is beyond loopback and needs "
                 "--http-token FILE; give a token file (mode 600) or bind "
                 "127.0.0.1:PORT\n", http);
        return ASYNC_EUSAGE;
    }
    if (async_cli_private_file_ok ("asyncbroker", "--http-token", token_file))
        return ASYNC_EUSAGE;
    FILE *file = fopen (token_file, "r");
    char line [1024] = "";
    if (!file || !fgets (line, sizeof line, file)) {
        fprintf (stderr, "asyncbroker: --http-token %s cannot be read (%s); check "
                 "the file\n", token_file, file ? "empty" : strerror (errno));
        if (file)
            fclose (file);
        return ASYNC_EUSAGE;
    }
    fclose (file);
    line [strcspn (line, "\r\n")] = 0;
    char label [HTTP_LABEL_MAX + 1];
    if (strlen (http_token_parse (line, label)) < 16) {
        explicit_bzero (line, sizeof line);
        fprintf (stderr, "asyncbroker: --http-token %s holds a token under 16 "
                 "characters; write a long random one, e.g. with "
                 "'openssl rand -hex 32'\n", token_file);
        return ASYNC_EUSAGE;
    }
    *token = async_xstrdup (line);
    explicit_bzero (line, sizeof line);
    return 0;
}

//  Every section and key a config file may hold (conf/asyncbroker.cfg)
static const char *const s_config_keys [] = {
    "broker", "broker/data", "broker/bind", "broker/sync", "broker/heartbeat",
    "broker/dead-after", "broker/retention", "broker/min-free",
    "broker/pending-window", "broker/sessions-memory", "broker/sessions-max",
    "broker/spin", "broker/curve-secret", "broker/curve-clients",
    "broker/insecure-bind", "broker/http", "broker/http-token", "broker/salvage",
    "broker/log-level", "broker/log-file", NULL
};

int
main (int argc, char *argv [])
{
    async_alloc_abort_on_failure ();         //  async_alloc.h: the policy
    const char *opt_data = NULL, *opt_bind = NULL, *opt_sync = NULL, *opt_hb = NULL;
    const char *opt_dead = NULL, *opt_ret = NULL, *opt_config = NULL, *opt_level = NULL;
    const char *opt_logfile = NULL, *opt_free = NULL, *opt_window = NULL, *opt_spin = NULL;
    const char *opt_secret = NULL, *opt_clients = NULL, *opt_http = NULL, *opt_token = NULL;
    const char *opt_smem = NULL, *opt_smax = NULL;
    bool insecure = false, salvage = false;
    static struct option options [] = {
        { "data", required_argument, 0, 'd' },
        { "bind", required_argument, 0, 'b' },
        { "sync", required_argument, 0, 's' },
        { "heartbeat", required_argument, 0, 'H' },
        { "dead-after", required_argument, 0, 'D' },
        { "retention", required_argument, 0, 'R' },
        { "min-free", required_argument, 0, 'F' },
        { "insecure-bind", no_argument, 0, 'I' },
        { "salvage", no_argument, 0, 'G' },
        { "pending-window", required_argument, 0, 'W' },
        { "spin", required_argument, 0, 'p' },
        { "sessions-memory", required_argument, 0, 'M' },
        { "sessions-max", required_argument, 0, 'N' },
        { "curve-secret", required_argument, 0, 'S' },
        { "curve-clients", required_argument, 0, 'C' },
        { "http", required_argument, 0, 'P' },
        { "http-token", required_argument, 0, 'T' },
        { "config", required_argument, 0, 'c' },
        { "log-level", required_argument, 0, 'l' },
        { "log-file", required_argument, 0, 'L' },
        { "help", no_argument, 0, 'h' },
        { "version", no_argument, 0, 'V' },
        { 0, 0, 0, 0 }
    };
    opterr = 0;
    if (async_cli_exact_options ("asyncbroker", argc, argv, options))
        return ASYNC_EUSAGE;
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'd': opt_data = optarg; break;
            case 'b': opt_bind = optarg; break;
            case 's': opt_sync = optarg; break;
            case 'H': opt_hb = optarg; break;
            case 'D': opt_dead = optarg; break;
            case 'R': opt_ret = optarg; break;
            case 'F': opt_free = optarg; break;
            case 'I': insecure = true; break;
            case 'G': salvage = true; break;
            case 'W': opt_window = optarg; break;
            case 'p': opt_spin = optarg; break;
            case 'M': opt_smem = optarg; break;
            case 'N': opt_smax = optarg; break;
            case 'S': opt_secret = optarg; break;
            case 'C': opt_clients = optarg; break;
            case 'P': opt_http = optarg; break;
            case 'T': opt_token = optarg; break;
            case 'c': opt_config = optarg; break;
            case 'l': opt_level = optarg; break;
            case 'L': opt_logfile = optarg; break;
            case 'h': s_usage (stdout); return 0;
            case 'V': printf ("asyncbroker %s\n", ASYNC_VERSION_STRING); return 0;
            default:
                return async_cli_bad_option ("asyncbroker", argv [optind - 1]);
        }
    }
    if (optind < argc)
        return async_cli_bad_option ("asyncbroker", argv [optind]);
    zsys_init ();
    zsys_handler_set (NULL);
    zconfig_t *config = NULL;
    if (async_cli_config ("asyncbroker", opt_config, s_config_keys, &config))
        return ASYNC_EUSAGE;
#define S_CONF(flag, path, def) async_cli_get (config, flag, path, def)
    broker_config_t cfg;
    broker_config_defaults (&cfg);
    cfg.data_dir = S_CONF (opt_data, "broker/data", cfg.data_dir);
    cfg.endpoint = S_CONF (opt_bind, "broker/bind", cfg.endpoint);
    const char *sync = S_CONF (opt_sync, "broker/sync", "on");
    const char *level = S_CONF (opt_level, "broker/log-level", "info");
    const char *logfile = S_CONF (opt_logfile, "broker/log-file", NULL);
    const char *hb = S_CONF (opt_hb, "broker/heartbeat", "1s");
    const char *dead = S_CONF (opt_dead, "broker/dead-after", "5s");
    const char *ret = S_CONF (opt_ret, "broker/retention", "7d");
    const char *min_free = S_CONF (opt_free, "broker/min-free", "64M");
    const char *window = S_CONF (opt_window, "broker/pending-window", "16384");
    const char *spin = S_CONF (opt_spin, "broker/spin", "0.5ms");
    const char *smem = S_CONF (opt_smem, "broker/sessions-memory", "256M");
    const char *smax = S_CONF (opt_smax, "broker/sessions-max", "10000");
    cfg.curve_secret = S_CONF (opt_secret, "broker/curve-secret", NULL);
    cfg.curve_clients = S_CONF (opt_clients, "broker/curve-clients", NULL);
    if (cfg.curve_secret && !*cfg.curve_secret)
        cfg.curve_secret = NULL;
    if (cfg.curve_clients && !*cfg.curve_clients)
        cfg.curve_clients = NULL;
    const char *http = S_CONF (opt_http, "broker/http", NULL);
    const char *token_file = S_CONF (opt_token, "broker/http-token", NULL);
    if (config && streq (zconfig_get (config, "broker/insecure-bind", "0"), "1"))
        insecure = true;
    int rc = 0;
    if (async_cli_log ("asyncbroker", level, logfile))
        rc = ASYNC_EUSAGE;
    const char *salvage_key = config ? zconfig_get (config, "broker/salvage", "0") : "0";
    if (rc == 0 && !streq (salvage_key, "0") && !streq (salvage_key, "1")) {
        fprintf (stderr, "asyncbroker: broker/salvage takes 0 or 1, not '%s'\n",
                 salvage_key);
        rc = ASYNC_EUSAGE;
    }
    cfg.salvage = salvage || streq (salvage_key, "1");
    if (rc == 0 && strcmp (sync, "on") && strcmp (sync, "off")) {
        fprintf (stderr, "asyncbroker: --sync takes on or off, not '%s'\n", sync);
        rc = ASYNC_EUSAGE;
    }
    cfg.sync = streq (sync, "on");
    int64_t retention;
    if (rc == 0 && (async_cli_duration_ms ("asyncbroker", "--heartbeat", hb, &cfg.heartbeat_ms)
                ||  async_cli_duration_ms ("asyncbroker", "--dead-after", dead, &cfg.dead_ms)))
        rc = ASYNC_EUSAGE;
    if (rc == 0 && cfg.dead_ms / 2 < cfg.heartbeat_ms) {
        //  A node is heard at every heartbeat; the broker's own stalls are
        //  credited past two of them (broker.stalled): a shorter dead time
        //  declares live nodes dead
        fprintf (stderr, "asyncbroker: --dead-after %s is under two heartbeats (--heartbeat "
                 "%s); make it at least twice the heartbeat\n", dead, hb);
        rc = ASYNC_EUSAGE;
    }
    if (rc == 0 && async_parse_duration (ret, false, &retention)) {
        fprintf (stderr, "asyncbroker: --retention '%s' is not a duration like 7d "
                 "(at most 1e12 s)\n", ret);
        rc = ASYNC_EUSAGE;
    }
    cfg.retention_us = retention;
    if (rc == 0 && s_parse_size (min_free, &cfg.min_free)) {
        fprintf (stderr, "asyncbroker: --min-free '%s' is not a size like 64M or 1G\n",
                 min_free);
        rc = ASYNC_EUSAGE;
    }
    if (rc == 0) {
        char *end;
        errno = 0;
        long long value = strtoll (window, &end, 10);
        if (end == window || *end || errno || value < 16 || value > 100000000) {
            fprintf (stderr, "asyncbroker: --pending-window '%s' is not a number of jobs "
                     "from 16 to 100000000\n", window);
            rc = ASYNC_EUSAGE;
        }
        else
            cfg.window = (size_t) value;
    }
    if (rc == 0 && (s_parse_size (smem, &cfg.sessions_memory)
                ||  cfg.sessions_memory < (1ULL << 20) || cfg.sessions_memory > (1ULL << 40))) {
        fprintf (stderr, "asyncbroker: --sessions-memory '%s' is not a size from 1M to "
                 "1024G; write e.g. 256M\n", smem);
        rc = ASYNC_EUSAGE;
    }
    if (rc == 0) {
        char *end;
        errno = 0;
        long long value = strtoll (smax, &end, 10);
        if (end == smax || *end || errno || value < 1 || value > 1000000) {
            fprintf (stderr, "asyncbroker: --sessions-max '%s' is not a number of node "
                     "sessions from 1 to 1000000\n", smax);
            rc = ASYNC_EUSAGE;
        }
        else
            cfg.sessions_max = (size_t) value;
    }
    int64_t spin_us = 0;
    if (rc == 0 && (async_parse_duration (spin, false, &spin_us) || spin_us > 10000)) {
        fprintf (stderr, "asyncbroker: --spin '%s' is not a duration from 0 to 10ms; "
                 "write e.g. 0.5ms, or 0 to never poll\n", spin);
        rc = ASYNC_EUSAGE;
    }
    else
        cfg.spin_us = (int) spin_us;
    if (rc == 0)
        rc = async_keys_check_pair ("asyncbroker", "--curve-secret", cfg.curve_secret,
                                    "--curve-clients", cfg.curve_clients,
                                    "give both (or broker/curve-secret and "
                                    "broker/curve-clients in --config), or neither");
    bool curve = rc == 0 && cfg.curve_secret;
    if (curve) {
        zcert_t *cert = NULL;
        rc = async_keys_load_secret ("asyncbroker", "--curve-secret", cfg.curve_secret,
                                     &cert);
        zcert_destroy (&cert);
    }
    struct stat dir;
    if (curve && rc == 0 && (stat (cfg.curve_clients, &dir) || !S_ISDIR (dir.st_mode))) {
        fprintf (stderr, "asyncbroker: --curve-clients '%s' is not a directory; give "
                 "the directory of the allowed public key files\n", cfg.curve_clients);
        rc = ASYNC_EUSAGE;
    }
    if (rc == 0 && !curve && !insecure && !s_loopback (cfg.endpoint)) {
        fprintf (stderr, "asyncbroker: refusing to bind %s beyond loopback without CURVE; "
                 "give --curve-secret and --curve-clients, bind to tcp://127.0.0.1:PORT, "
                 "or pass --insecure-bind\n", cfg.endpoint);
        rc = ASYNC_EUSAGE;
    }
    char *token = NULL;
    if (rc == 0 && http && *http)
        rc = s_http_settle (http, token_file, &token);
    cfg.http = http && *http ? http : NULL;
    cfg.http_token = token;
    if (rc == 0 && !curve && insecure && !s_loopback (cfg.endpoint))
        async_log_warning ("broker", "bind.insecure", "endpoint=%s reason=\"no CURVE: "
                           "anyone who reaches this port may submit and run jobs\"",
                           cfg.endpoint);
    broker_t *broker = NULL;
    if (rc == 0) {
        rc = broker_new (&cfg, &broker);
        if (rc) {
            fprintf (stderr, "asyncbroker: could not start (%s); see the log line above\n",
                     async_strerror (rc));
            rc = ASYNC_EREFUSED;
        }
    }
    if (rc == 0) {
        struct sigaction action = { .sa_handler = s_on_signal };
        sigaction (SIGINT, &action, NULL);
        sigaction (SIGTERM, &action, NULL);
        sigaction (SIGHUP, &action, NULL);
        signal (SIGPIPE, SIG_IGN);
        //  Bound, recovered: serving from now on (Type=notify)
        if (async_notify ("READY=1"))
            async_log_warning ("broker", "notify.failed", "state=READY error=\"%s\"",
                               strerror (errno));
        if (broker_run (broker, &s_stop, &s_reopen))
            rc = ASYNC_EREFUSED;
        async_notify ("STOPPING=1");
        broker_destroy (&broker);
    }
    if (token) {
        explicit_bzero (token, strlen (token));
        free (token);
    }
    zconfig_destroy (&config);
    return rc;
}
