/*  =========================================================================
    asyncnode - a worker process

    asyncnode --broker tcp://127.0.0.1:9999 --module build/modules/pi.so
    =========================================================================
*/
#include "node.h"
#include "job.h"
#include "builtin.h"
#include "python.h"
#include "async_cli.h"
#include "async_keys.h"
#include "async_notify.h"
#include "async_util.h"
#include "asyncmesh/client.h"
#include "asyncmesh/error.h"
#include "asyncmesh/version.h"
#include "asyncmesh/log.h"
#include "async_alloc.h"
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile int s_stop = 0;

static volatile int s_reopen = 0;

static void
s_on_signal (int signum)
{
    if (signum == SIGHUP)
        s_reopen = 1;           //  logrotate moved the log file
    else
        s_stop = s_stop ? 2 : 1;    //  the second: stop draining
}

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: asyncnode [OPTIONS]\n"
"  --broker ENDPOINT    the broker (default $ASYNC_BROKER, else tcp://127.0.0.1:9999)\n"
"  --module PATH        load a task module (repeatable; default none); a\n"
"                       relative PATH is the working directory's, a bare name\n"
"                       not there is searched for in the library path\n"
"  --python-module NAME  import Python module NAME and run each function of it\n"
"                       decorated with @asyncmesh.task as task NAME.function\n"
"                       (repeatable), each job in a child process of its own;\n"
"                       exit 2 if it does not import\n"
"  --python-path DIR    put DIR first on the Python module path (repeatable)\n"
"  --agent SPEC         NAME:SIZE[:FILTER][@QUEUE,...] (repeatable; default main:3)\n"
"                       FILTER: comma-separated globs, !glob excludes\n"
"  --isolation MODE     thread|process: how the agents run their jobs (default\n"
"                       thread). process: each job in a forked child, so that a\n"
"                       task that crashes fails only its own job (CrashedError).\n"
"                       Applies to the --agent agents (else to the config file's\n"
"                       agents, over their `isolation` key, or the default agent)\n"
"  --heartbeat DUR      ping the broker this often (default 1s)\n"
"  --dead-after DUR     the broker is silent after this (default 5s)\n"
"  --drain-timeout DUR  on SIGTERM or SIGINT, take no more work and let the\n"
"                       running jobs finish this long at most, then interrupt\n"
"                       them; a second signal interrupts them at once (default\n"
"                       30s; 0 = interrupt at once; at most 1d)\n"
"  --curve-key FILE     talk CurveZMQ with this key pair: a _secret file of\n"
"                       'asyncctl keygen --role node', mode 0600 (default\n"
"                       $ASYNC_CURVE_KEY, else node/curve-key, else none:\n"
"                       no CURVE); needs --broker-public-key\n"
"  --broker-public-key FILE  the broker's public key file (default\n"
"                       $ASYNC_BROKER_PUBLIC_KEY, else\n"
"                       node/broker-public-key, else none)\n"
"  --config FILE        ZPL config file (see conf/asyncnode.cfg; default none)\n"
"  --log-level LEVEL    error|warning|info|debug|trace (default info)\n"
"  --log-file FILE      log to FILE, reopened on SIGHUP (default stderr)\n"
"  --help               this text\n"
"  --version            print the version\n"
"The instance UUID and its key are read from the file named by $ASYNC_UUID,\n"
"else uuid.txt in the working directory (mode 0600); it is created when\n"
"missing, and a key is added to a file that has none.\n"
"exit codes: 0 stopped cleanly, 2 usage or configuration error (also: the\n"
"uuid lock file in /dev/shm is another user's), 6 refused:\n"
"another asyncnode runs with this instance UUID (on this machine, or live at\n"
"the broker from another machine; give each node its own uuid.txt), the\n"
"broker has bound this UUID to another key (a copied uuid.txt: delete it),\n"
"or the broker refused this node's HELLO as over its limits (too many tasks,\n"
"queues...)\n");
}

//  Whether two of the agents have the same name (the broker knows an agent
//  by its name: AGENT-SET would check one and change another). 0, or -1
//  with a line on stderr
static int
s_agents_unique (const node_config_t *cfg, const char *where)
{
    for (int i = 0; i < cfg->nagents; i++)
        for (int j = 0; j < i; j++)
            if (streq (cfg->agents [i].name, cfg->agents [j].name)) {
                fprintf (stderr, "asyncnode: two agents named '%.200s' %s; give each "
                         "agent a name of its own\n", cfg->agents [i].name, where);
                return -1;
            }
    return 0;
}

//  Agents from the config file's `agents` section
static int
s_config_agents (zconfig_t *config, node_config_t *cfg)
{
    zconfig_t *agents = zconfig_locate (config, "agents");
    zconfig_t *item = agents ? zconfig_child (agents) : NULL;
    for (; item && cfg->nagents < NODE_MAX_AGENTS; item = zconfig_next (item)) {
        const char *tasks = zconfig_get (item, "tasks", "");
        const char *exclude = zconfig_get (item, "exclude", "");
        const char *queues = zconfig_get (item, "queues", "");
        //  The filter as --agent's FILTER: tasks, then each excluded glob
        //  with a '!'; one byte over ASYNC_FILTER_MAX is enough to refuse
        char filter [ASYNC_FILTER_MAX + 2] = "";
        size_t len = (size_t) snprintf (filter, sizeof filter, "%s", tasks);
        char *copy = async_xstrdup (exclude);
        char *save = NULL;
        for (char *g = strtok_r (copy, ", ", &save); g && len < sizeof filter;
             g = strtok_r (NULL, ", ", &save))
            len += (size_t) snprintf (filter + len, sizeof filter - len, "%s!%s",
                                      len ? "," : "", g);
        free (copy);
        if (len > ASYNC_FILTER_MAX) {
            fprintf (stderr, "asyncnode: agent '%.200s' in the config: its tasks and "
                     "exclude make a filter over %d bytes\n", zconfig_name (item),
                     ASYNC_FILTER_MAX);
            return -1;
        }
        char *spec = zsys_sprintf ("%s:%s%s%s%s%s", zconfig_name (item),
                                   zconfig_get (item, "size", "3"), *filter ? ":" : "",
                                   filter, *queues ? "@" : "", queues);
        char err [600];
        int rc = node_agent_parse (spec, &cfg->agents [cfg->nagents], err, sizeof err);
        zstr_free (&spec);
        if (rc) {
            fprintf (stderr, "asyncnode: agent '%.200s' in the config: %s\n",
                     zconfig_name (item), err);
            return -1;
        }
        const char *isolation = zconfig_get (item, "isolation", "thread");
        if (node_isolation_parse (isolation, &cfg->agents [cfg->nagents].isolation)) {
            fprintf (stderr, "asyncnode: agent '%s' in the config: isolation '%s' is "
                     "neither thread nor process\n", zconfig_name (item), isolation);
            node_agent_free (&cfg->agents [cfg->nagents]);
            return -1;
        }
        cfg->nagents++;
    }
    return s_agents_unique (cfg, "in the config");
}

//  Every section and key a config file may hold (conf/asyncnode.cfg)
static const char *const s_config_keys [] = {
    "node", "node/broker", "node/heartbeat", "node/dead-after", "node/curve-key",
    "node/broker-public-key", "node/log-level", "node/log-file", "node/drain-timeout",
    "modules", "modules/*", "python", "python/path", "python/modules",
    "agents", "agents/*", "agents/*/size", "agents/*/tasks", "agents/*/exclude",
    "agents/*/queues", "agents/*/isolation", NULL
};

//  What SIGHUP re-reads: the config file's agents, unless the agents came
//  from --agent (then there is nothing to re-read); and what AGENT-SET
//  changes (asyncctl agent set), and with --save writes back
typedef struct {
    const char *path;           //  --config, or NULL
    const char *isolation;      //  --isolation, or NULL
    bool from_flags;            //  the agents came from --agent
    node_config_t *cfg;         //  its agents are the node's
    node_agent_t read [NODE_MAX_AGENTS];    //  the file's agents, as last
    int nread;                  //  read or saved (a deep copy)
} s_reload_t;

//  Remember `agents` (copied) as the config file's, as last read or saved
static void
s_reload_read (s_reload_t *reload, const node_agent_t *agents, int nagents)
{
    for (int i = 0; i < reload->nread; i++)
        node_agent_free (&reload->read [i]);
    for (int i = 0; i < nagents; i++)
        node_agent_copy (&agents [i], &reload->read [i]);
    reload->nread = nagents;
}

static bool
s_strv_same (char **a, char **b)
{
    for (; a && *a && b && *b; a++, b++)
        if (strcmp (*a, *b))
            return false;
    return !(a && *a) && !(b && *b);
}

static bool
s_agents_same (const node_agent_t *a, int na, const node_agent_t *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (strcmp (a [i].name, b [i].name) || a [i].size != b [i].size
        ||  a [i].isolation != b [i].isolation || !s_strv_same (a [i].queues, b [i].queues)
        ||  !s_strv_same (a [i].include, b [i].include)
        ||  !s_strv_same (a [i].exclude, b [i].exclude))
            return false;
    return true;
}

static int
    s_agents_apply (node_t *node, s_reload_t *reload, node_config_t *fresh,
                    const char *source, char *err, size_t err_size);

//  The agents of config file `path` as the node takes them: its `agents`
//  section (else main:3), --isolation over their own. 0, or -1 with the
//  reason in err (and the details on stderr)
static int
s_config_read (const char *path, const char *isolation_flag, node_config_t *fresh, char *err,
               size_t err_size)
{
    zconfig_t *config = NULL;
    memset (fresh, 0, sizeof *fresh);
    if (async_cli_config ("asyncnode", path, s_config_keys, &config) || !config)
        snprintf (err, err_size, "cannot read %s (see the line above)", path);
    else
    if (s_config_agents (config, fresh))
        snprintf (err, err_size, "a bad agent in %s (see the line above)", path);
    zconfig_destroy (&config);
    if (*err) {
        for (int i = 0; i < fresh->nagents; i++)
            node_agent_free (&fresh->agents [i]);
        fresh->nagents = 0;
        return -1;
    }
    if (fresh->nagents == 0)
        node_agent_parse ("main:3", &fresh->agents [fresh->nagents++], err, err_size);
    node_isolation_t isolation;
    if (isolation_flag && node_isolation_parse (isolation_flag, &isolation) == 0)
        for (int i = 0; i < fresh->nagents; i++)
            fresh->agents [i].isolation = isolation;
    return 0;
}

//  SIGHUP: read the config file's agents again; when they changed, give
//  them to the node (which tells the broker). A bad file changes nothing
static void
s_reload (node_t *node, void *arg)
{
    s_reload_t *reload = (s_reload_t *) arg;
    node_config_t fresh;
    char err [600] = "";
    if (s_config_read (reload->path, reload->isolation, &fresh, err, sizeof err)) {
        async_log_warning ("node", "agents.unchanged", "config=%s reason=\"%s\"",
                           reload->path, err);
        return;
    }
    node_config_t *cfg = reload->cfg;
    bool unchanged = s_agents_same (fresh.agents, fresh.nagents, reload->read, reload->nread);
    if (unchanged || s_agents_same (fresh.agents, fresh.nagents, cfg->agents, cfg->nagents)) {
        //  (SIGHUP from logrotate.) The file as last read or saved: the
        //  agents changed since by AGENT-SET without --save stay
        if (unchanged && !s_agents_same (fresh.agents, fresh.nagents, cfg->agents,
                                         cfg->nagents))
            async_log_info ("node", "agents.kept", "config=%s reason=\"the file did not "
                            "change; the agents changed by agent set stay\"", reload->path);
        s_reload_read (reload, fresh.agents, fresh.nagents);
        for (int i = 0; i < fresh.nagents; i++)
            node_agent_free (&fresh.agents [i]);
        return;
    }
    node_agent_t read [NODE_MAX_AGENTS];
    int nread = fresh.nagents;
    for (int i = 0; i < nread; i++)
        node_agent_copy (&fresh.agents [i], &read [i]);
    if (s_agents_apply (node, reload, &fresh, reload->path, err, sizeof err) == 0)
        s_reload_read (reload, read, nread);
    for (int i = 0; i < nread; i++)
        node_agent_free (&read [i]);
}

//  Give the node the agents of `fresh` (taken: the node's now, or freed),
//  as SIGHUP and AGENT-SET do. 0, or -1 with the reason in err
static int
s_agents_apply (node_t *node, s_reload_t *reload, node_config_t *fresh, const char *source,
                char *err, size_t err_size)
{
    node_config_t *cfg = reload->cfg;
    if (node_set_agents (node, fresh->agents, fresh->nagents, err, err_size) == 0) {
        for (int i = 0; i < cfg->nagents; i++)
            node_agent_free (&cfg->agents [i]);
        memcpy (cfg->agents, fresh->agents, sizeof fresh->agents);
        cfg->nagents = fresh->nagents;
        async_log_info ("node", "agents.changed", "config=%s agents=%d", source,
                        cfg->nagents);
        return 0;
    }
    for (int i = 0; i < fresh->nagents; i++)
        node_agent_free (&fresh->agents [i]);
    async_log_warning ("node", "agents.unchanged", "config=%s reason=\"%s\"", source, err);
    return -1;
}

//  Globs joined with commas into a new string
static char *
s_globs_join (char **globs)
{
    size_t length = 1;
    for (char **g = globs; g && *g; g++)
        length += strlen (*g) + 1;
    char *text = async_xcalloc (1, length);
    for (char **g = globs; g && *g; g++) {
        if (g != globs)
            strcat (text, ",");
        strcat (text, *g);
    }
    return text;
}

//  Write `text` to a new file beside `real` (mkstemp: a name of its own,
//  never a file that is there, nor through a symlink), with the mode of
//  `real`, synced. Its name goes in temp. 0, or -1 with errno set
static int
s_temp_write (const char *real, const char *text, char *temp, size_t temp_size)
{
    struct stat st;
    if (stat (real, &st))
        return -1;
    if ((size_t) snprintf (temp, temp_size, "%s.XXXXXX", real) >= temp_size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp (temp);
    if (fd == -1)
        return -1;
    size_t length = strlen (text), done = 0;
    int rc = fchmod (fd, st.st_mode & 07777);
    while (rc == 0 && done < length) {
        ssize_t n = write (fd, text + done, length - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = -1;
        else
            done += (size_t) n;
    }
    if (rc == 0)
        rc = fsync (fd);
    int saved = errno;
    close (fd);
    if (rc)
        unlink (temp);
    errno = saved;
    return rc;
}

//  Write the agent's size and filter into the config file's `agents`
//  section: the file a symlink names (its realpath, resolved once), a
//  temp file beside it with its mode, fsync, the saved text read back to
//  the node's agents, rename, fsync of the directory. Anything amiss
//  leaves the file as it was. 0, or -1 with the reason in err
static int
s_config_save_agent (s_reload_t *reload, const node_agent_t *agent, char *err,
                     size_t err_size)
{
    char real [PATH_MAX], temp [PATH_MAX];
    if (!realpath (reload->path, real)) {
        snprintf (err, err_size, "cannot find %s: %s", reload->path, strerror (errno));
        return -1;
    }
    zconfig_t *config = zconfig_load (real);
    if (!config) {
        snprintf (err, err_size, "cannot read %s to save the change", real);
        return -1;
    }
    char key [300], value [16];
    snprintf (value, sizeof value, "%d", agent->size);
    snprintf (key, sizeof key, "agents/%s/size", agent->name);
    zconfig_put (config, key, value);
    char *tasks = s_globs_join (agent->include);
    char *exclude = s_globs_join (agent->exclude);
    snprintf (key, sizeof key, "agents/%s/tasks", agent->name);
    zconfig_put (config, key, tasks);
    snprintf (key, sizeof key, "agents/%s/exclude", agent->name);
    zconfig_put (config, key, exclude);
    free (tasks);
    free (exclude);
    char *text = zconfig_str_save (config);
    zconfig_destroy (&config);
    int rc = text ? s_temp_write (real, text, temp, sizeof temp) : -1;
    free (text);
    if (rc) {
        snprintf (err, err_size, "cannot write beside %s: %s", real, strerror (errno));
        return -1;
    }
    //  What a restart would read: a file the node takes, with this agent
    //  as the node has it (other agents may differ: changes not saved, or
    //  edits not yet read on SIGHUP, both kept), else the file stays
    node_config_t back;
    char why [600] = "";
    if (s_config_read (temp, reload->isolation, &back, why, sizeof why) == 0) {
        const node_agent_t *saved = NULL;
        for (int i = 0; i < back.nagents; i++)
            if (streq (back.agents [i].name, agent->name))
                saved = &back.agents [i];
        if (!saved || saved->size != agent->size
        ||  !s_strv_same (saved->include, agent->include)
        ||  !s_strv_same (saved->exclude, agent->exclude))
            snprintf (why, sizeof why, "the saved file would not read back with agent "
                      "'%.200s' as the node has it", agent->name);
    }
    if (*why || rename (temp, real)) {
        if (!*why)
            snprintf (why, sizeof why, "cannot rename its temp file over it: %s",
                      strerror (errno));
        unlink (temp);
        for (int i = 0; i < back.nagents; i++)
            node_agent_free (&back.agents [i]);
        snprintf (err, err_size, "%s left as it was: %s", real, why);
        return -1;
    }
    //  The file's agents now: what a SIGHUP that finds it so keeps
    s_reload_read (reload, back.agents, back.nagents);
    for (int i = 0; i < back.nagents; i++)
        node_agent_free (&back.agents [i]);
    //  The rename itself, durable
    char *slash = strrchr (real, '/');
    if (slash)
        *(slash == real ? slash + 1 : slash) = 0;
    int dir = open (slash ? real : ".", O_RDONLY | O_DIRECTORY);
    if (dir == -1 || fsync (dir)) {
        snprintf (err, err_size, "saved, but cannot sync its directory %s: %s",
                  slash ? real : ".", strerror (errno));
        if (dir != -1)
            close (dir);
        return -1;
    }
    close (dir);
    return 0;
}

//  AGENT-SET: agent `name` gets `size` slots and, when given, `filter`;
//  with `save`, the config file says so too
static int
s_agent_set (node_t *node, void *arg, const char *name, int size, const char *filter,
             bool save, char *err, size_t err_size)
{
    s_reload_t *reload = (s_reload_t *) arg;
    node_config_t *cfg = reload->cfg;
    if (save && (!reload->path || reload->from_flags)) {
        snprintf (err, err_size, "--save rewrites the node's config file, and this node %s",
                  reload->path ? "took its agents from --agent, not from its --config file"
                               : "started without --config");
        return -1;
    }
    int index = -1;
    for (int i = 0; i < cfg->nagents; i++)
        if (streq (cfg->agents [i].name, name))
            index = i;
    if (index < 0) {
        snprintf (err, err_size, "no agent named '%.64s'", name);
        return -1;
    }
    if (filter && strchr (filter, '@')) {
        snprintf (err, err_size, "the filter '%.200s' names queues ('@'); give task globs "
                  "only, comma-separated, '!' excluding", filter);
        return -1;
    }
    //  The agent as --agent would give it: its size and filter changed,
    //  its queues and isolation kept
    node_agent_t changed;
    char spec [2400];
    snprintf (spec, sizeof spec, "%s:%d%s%s", name, size, filter ? ":" : "", filter ? filter : "");
    if (strlen (spec) >= sizeof spec - 1 || node_agent_parse (spec, &changed, err, err_size))
        return -1;
    node_config_t fresh;
    memset (&fresh, 0, sizeof fresh);
    for (int i = 0; i < cfg->nagents; i++)
        node_agent_copy (&cfg->agents [i], &fresh.agents [i]);
    fresh.nagents = cfg->nagents;
    node_agent_t *agent = &fresh.agents [index];
    agent->size = changed.size;
    if (filter) {
        char **swap = agent->include;
        agent->include = changed.include;
        changed.include = swap;
        swap = agent->exclude;
        agent->exclude = changed.exclude;
        changed.exclude = swap;
    }
    node_agent_free (&changed);
    if (s_agents_apply (node, reload, &fresh, "agent-set", err, err_size))
        return -1;
    if (save && s_config_save_agent (reload, &cfg->agents [index], err, err_size))
        return 1;               //  made, not saved: err says why
    return 0;
}

int
main (int argc, char *argv [])
{
    async_alloc_abort_on_failure ();         //  async_alloc.h: the policy
    const char *opt_broker = NULL, *opt_hb = NULL, *opt_dead = NULL, *opt_config = NULL;
    const char *opt_level = NULL, *opt_logfile = NULL, *opt_isolation = NULL;
    const char *opt_key = NULL, *opt_broker_key = NULL, *opt_drain = NULL;
    const char *modules [64];
    int nmodules = 0;
    const char *py_modules [64], *py_paths [64];
    int npy_modules = 0, npy_paths = 0;
    const char *agent_specs [NODE_MAX_AGENTS];
    int nagent_specs = 0;
    static struct option options [] = {
        { "broker", required_argument, 0, 'b' },
        { "module", required_argument, 0, 'm' },
        { "agent", required_argument, 0, 'a' },
        { "python-module", required_argument, 0, 'y' },
        { "python-path", required_argument, 0, 'Y' },
        { "isolation", required_argument, 0, 'I' },
        { "heartbeat", required_argument, 0, 'H' },
        { "dead-after", required_argument, 0, 'D' },
        { "drain-timeout", required_argument, 0, 'T' },
        { "curve-key", required_argument, 0, 'K' },
        { "broker-public-key", required_argument, 0, 'P' },
        { "config", required_argument, 0, 'c' },
        { "log-level", required_argument, 0, 'l' },
        { "log-file", required_argument, 0, 'L' },
        { "help", no_argument, 0, 'h' },
        { "version", no_argument, 0, 'V' },
        { 0, 0, 0, 0 }
    };
    opterr = 0;
    if (async_cli_exact_options ("asyncnode", argc, argv, options))
        return ASYNC_EUSAGE;
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'b': opt_broker = optarg; break;
            case 'm':
                if (nmodules < 64)
                    modules [nmodules++] = optarg;
                break;
            case 'y':
            case 'Y':
                if ((opt == 'y' ? npy_modules : npy_paths) == 64) {
                    fprintf (stderr, "asyncnode: at most 64 --python-%s flags\n",
                             opt == 'y' ? "module" : "path");
                    return ASYNC_EUSAGE;
                }
                if (opt == 'y')
                    py_modules [npy_modules++] = optarg;
                else
                    py_paths [npy_paths++] = optarg;
                break;
            case 'a':
                if (nagent_specs < NODE_MAX_AGENTS)
                    agent_specs [nagent_specs++] = optarg;
                break;
            case 'I': opt_isolation = optarg; break;
            case 'H': opt_hb = optarg; break;
            case 'D': opt_dead = optarg; break;
            case 'T': opt_drain = optarg; break;
            case 'K': opt_key = optarg; break;
            case 'P': opt_broker_key = optarg; break;
            case 'c': opt_config = optarg; break;
            case 'l': opt_level = optarg; break;
            case 'L': opt_logfile = optarg; break;
            case 'h': s_usage (stdout); return 0;
            case 'V': printf ("asyncnode %s\n", ASYNC_VERSION_STRING); return 0;
            default:
                return async_cli_bad_option ("asyncnode", argv [optind - 1]);
        }
    }
    if (optind < argc)
        return async_cli_bad_option ("asyncnode", argv [optind]);
    zsys_init ();
    zsys_handler_set (NULL);
    zconfig_t *config = NULL;
    if (async_cli_config ("asyncnode", opt_config, s_config_keys, &config))
        return ASYNC_EUSAGE;
#define S_CONF(flag, path, def) async_cli_get (config, flag, path, def)
    node_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    const char *env_broker = getenv ("ASYNC_BROKER");
    cfg.broker = S_CONF (opt_broker, "node/broker",
                         env_broker && *env_broker ? env_broker : ASYNC_DEFAULT_ENDPOINT);
    if (!opt_broker && env_broker && *env_broker)
        cfg.broker = env_broker;
    const char *level = S_CONF (opt_level, "node/log-level", "info");
    const char *logfile = S_CONF (opt_logfile, "node/log-file", NULL);
    const char *hb = S_CONF (opt_hb, "node/heartbeat", "1s");
    const char *dead = S_CONF (opt_dead, "node/dead-after", "5s");
    const char *drain = S_CONF (opt_drain, "node/drain-timeout", "30s");
    //  CURVE: flag, then environment, then file (as --broker)
    const char *env_key = getenv ("ASYNC_CURVE_KEY");
    const char *env_broker_key = getenv ("ASYNC_BROKER_PUBLIC_KEY");
    const char *key = opt_key ? opt_key : env_key && *env_key ? env_key
                    : S_CONF (NULL, "node/curve-key", NULL);
    const char *broker_key = opt_broker_key ? opt_broker_key
                           : env_broker_key && *env_broker_key ? env_broker_key
                           : S_CONF (NULL, "node/broker-public-key", NULL);
    int rc = 0;
    if (async_cli_log ("asyncnode", level, logfile))
        rc = ASYNC_EUSAGE;
    if (rc == 0)
        rc = async_keys_check_pair ("asyncnode", "--curve-key", key,
                                    "--broker-public-key", broker_key, "give both (as "
                                    "flags, as $ASYNC_CURVE_KEY and "
                                    "$ASYNC_BROKER_PUBLIC_KEY, or in --config), or "
                                    "neither for no CURVE");
    zcert_t *curve_key = NULL, *broker_cert = NULL;
    if (rc == 0 && key && *key
    &&  (async_keys_load_secret ("asyncnode", "--curve-key", key, &curve_key)
      || async_keys_load_public ("asyncnode", "--broker-public-key", broker_key,
                                 &broker_cert)))
        rc = ASYNC_EUSAGE;
    cfg.curve_key = curve_key;
    cfg.broker_public_key = broker_cert ? zcert_public_txt (broker_cert) : NULL;
    if (rc == 0 && (async_cli_duration_ms ("asyncnode", "--heartbeat", hb, &cfg.heartbeat_ms)
                ||  async_cli_duration_ms ("asyncnode", "--dead-after", dead, &cfg.dead_ms)))
        rc = ASYNC_EUSAGE;
    int64_t drain_us = 0;
    if (rc == 0 && (async_parse_duration (drain, false, &drain_us)
                ||  drain_us > 86400LL * 1000000)) {
        fprintf (stderr, "asyncnode: --drain-timeout '%s' is not a duration from 0 to "
                 "1d; write e.g. 30s, or 0 to interrupt the jobs at once\n", drain);
        rc = ASYNC_EUSAGE;
    }
    cfg.drain_ms = (int) ((drain_us + 999) / 1000);
    if (rc == 0 && cfg.dead_ms / 2 < cfg.heartbeat_ms) {
        fprintf (stderr, "asyncnode: --dead-after %s is under two heartbeats (--heartbeat "
                 "%s); make it at least twice the heartbeat\n", dead, hb);
        rc = ASYNC_EUSAGE;
    }
    //  Agents: flags win over the config file; default main:3
    char err [600];
    for (int i = 0; rc == 0 && i < nagent_specs; i++)
        if (node_agent_parse (agent_specs [i], &cfg.agents [cfg.nagents++], err, sizeof err)) {
            fprintf (stderr, "asyncnode: %s\n", err);
            rc = ASYNC_EUSAGE;
        }
    if (rc == 0 && s_agents_unique (&cfg, "in --agent"))
        rc = ASYNC_EUSAGE;
    if (rc == 0 && cfg.nagents == 0 && config && s_config_agents (config, &cfg))
        rc = ASYNC_EUSAGE;
    if (rc == 0 && cfg.nagents == 0)
        node_agent_parse ("main:3", &cfg.agents [cfg.nagents++], err, sizeof err);
    //  --isolation: every agent of the command line, else every agent
    node_isolation_t isolation;
    if (rc == 0 && opt_isolation) {
        if (node_isolation_parse (opt_isolation, &isolation)) {
            fprintf (stderr, "asyncnode: --isolation '%s' is neither thread nor process\n",
                     opt_isolation);
            rc = ASYNC_EUSAGE;
        }
        for (int i = 0; rc == 0 && i < cfg.nagents; i++)
            cfg.agents [i].isolation = isolation;
    }
    //  Tasks
    async_registry_t *registry = registry_new ();
    async_builtin_register (registry);
    if (config && nmodules == 0) {
        zconfig_t *section = zconfig_locate (config, "modules");
        for (zconfig_t *item = section ? zconfig_child (section) : NULL;
             item && nmodules < 64; item = zconfig_next (item))
            modules [nmodules++] = zconfig_value (item);
    }
    for (int i = 0; rc == 0 && i < nmodules; i++)
        if (registry_load (registry, modules [i], err, sizeof err)) {
            fprintf (stderr, "asyncnode: %s\n", err);
            rc = ASYNC_EUSAGE;
        }
    //  Python tasks: flags win over the config file's python/modules and
    //  python/path (comma- and colon-separated lists)
    char *py_conf [2] = { NULL, NULL };
    for (int k = 0; k < 2 && rc == 0 && config; k++) {
        int *count = k ? &npy_paths : &npy_modules;
        const char **items = k ? py_paths : py_modules;
        const char *conf_key = k ? "python/path" : "python/modules";
        const char *list = *count ? NULL : zconfig_get (config, conf_key, NULL);
        py_conf [k] = list ? async_xstrdup (list) : NULL;
        char *save = NULL;
        const char *separators = k ? ":" : ", ";
        for (char *item = py_conf [k] ? strtok_r (py_conf [k], separators, &save) : NULL;
             item && rc == 0; item = strtok_r (NULL, separators, &save)) {
            if (*count == 64) {
                fprintf (stderr, "asyncnode: %s in the config names more than 64\n",
                         conf_key);
                rc = ASYNC_EUSAGE;
            }
            else
                items [(*count)++] = item;
        }
    }
    if (rc == 0 && npy_paths && !npy_modules) {
        fprintf (stderr, "asyncnode: --python-path without --python-module: name the "
                 "modules to import\n");
        rc = ASYNC_EUSAGE;
    }
    if (rc == 0 && npy_modules
    &&  node_python_load (registry, py_paths, npy_paths, py_modules, npy_modules, err,
                          sizeof err)) {
        fprintf (stderr, "asyncnode: %s\n", err);
        rc = ASYNC_EUSAGE;
    }
    //  Identity
    char uuid [ASYNC_ID_LEN], uuid_key [NODE_KEY_HEX + 1] = "";
    const char *uuid_file = getenv ("ASYNC_UUID");
    if (!uuid_file || !*uuid_file)
        uuid_file = "uuid.txt";
    if (rc == 0 && node_uuid_load (uuid_file, uuid, uuid_key, err, sizeof err)) {
        fprintf (stderr, "asyncnode: %s\n", err);
        rc = ASYNC_EUSAGE;
    }
    //  Process isolation: its fork server, while this process has one thread
    bool isolating = npy_modules > 0;       //  Python tasks run in children
    for (int i = 0; i < cfg.nagents; i++)
        isolating |= cfg.agents [i].isolation == NODE_ISOLATION_PROCESS;
    if (rc == 0 && isolating && node_zygote_start (registry, &cfg.zygote, err, sizeof err)) {
        fprintf (stderr, "asyncnode: %s\n", err);
        rc = ASYNC_EUSAGE;
    }
    //  One process per uuid on this machine: its lock, held until we exit
    //  (taken after the fork server started, which must not inherit it)
    int lock_fd = -1;
    char lock [64] = "";
    if (rc == 0 && (rc = node_uuid_lock (uuid, uuid_file, &lock_fd, lock, sizeof lock,
                                         err, sizeof err)))
        fprintf (stderr, "asyncnode: %s\n", err);
    //  A uuid file of an older node gets its key, under the lock
    if (rc == 0 && !*uuid_key && node_uuid_key_add (uuid_file, uuid, uuid_key, err,
                                                    sizeof err)) {
        fprintf (stderr, "asyncnode: %s\n", err);
        rc = ASYNC_EUSAGE;
    }
    cfg.uuid_file = uuid_file;
    cfg.uuid_key = uuid_key;
    cfg.lock = *lock ? lock : NULL;
    node_t *node = NULL;
    if (rc == 0 && (rc = node_new (&cfg, registry, uuid, &node))) {
        if (rc == ASYNC_EUSAGE)
            fprintf (stderr, "asyncnode: cannot connect to '%s'; write the broker endpoint "
                     "as tcp://HOST:PORT\n", cfg.broker);
        else {
            //  A limit of the machine or the process: a configuration
            //  error like the others (exit 2), not a code of its own
            fprintf (stderr, "asyncnode: cannot start the worker threads (%s); lower the "
                     "agents' sizes or raise the process limits\n", strerror (errno));
            rc = ASYNC_EUSAGE;
        }
    }
    if (rc == 0) {
        struct sigaction action = { .sa_handler = s_on_signal };
        sigaction (SIGINT, &action, NULL);
        sigaction (SIGHUP, &action, NULL);
        sigaction (SIGTERM, &action, NULL);
        signal (SIGPIPE, SIG_IGN);
        int isolated = 0;
        for (int i = 0; i < cfg.nagents; i++)
            isolated += cfg.agents [i].isolation == NODE_ISOLATION_PROCESS;
        async_log_info ("node", "node.started", "node=%s broker=%s agents=%d "
                        "process_isolated=%d modules=%d curve=%s", uuid, cfg.broker,
                        cfg.nagents, isolated, nmodules, curve_key ? "on" : "off");
        //  Modules loaded, workers up: ready (Type=notify), whether the
        //  broker is up yet or not (the node waits for it on its own)
        if (async_notify ("READY=1"))
            async_log_warning ("node", "notify.failed", "state=READY error=\"%s\"",
                               strerror (errno));
        s_reload_t reload = { .path = opt_config, .isolation = opt_isolation,
                              .from_flags = nagent_specs > 0, .cfg = &cfg };
        if (opt_config && nagent_specs == 0) {
            s_reload_read (&reload, cfg.agents, cfg.nagents);
            node_set_reload (node, s_reload, &reload);
        }
        node_set_agent_setter (node, s_agent_set, &reload);
        rc = node_run (node, &s_stop, &s_reopen);
        node_destroy (&node);
        for (int i = 0; i < reload.nread; i++)
            node_agent_free (&reload.read [i]);
    }
    if (lock_fd != -1)
        close (lock_fd);
    node_zygote_destroy (&cfg.zygote);
    registry_destroy (&registry);
    for (int i = 0; i < cfg.nagents; i++)
        node_agent_free (&cfg.agents [i]);
    zcert_destroy (&curve_key);
    zcert_destroy (&broker_cert);
    zconfig_destroy (&config);
    free (py_conf [0]);
    free (py_conf [1]);
    return rc;
}
