#!/usr/bin/env bash
#   tests/helpers/lib.sh - shared helpers for the integration tests
#
#   Sourced by each tests/integration/test_<behaviour>.sh. Runs the real
#   asyncbroker, asyncnode and asyncctl binaries, each test in its own temp
#   dir with its own loopback port, and kills everything it started on exit.
#
#   ASYNC_BUILD     the build tree (default: ../../build next to this file)
#   KEEP=1          keep the temp dir (its path is printed on exit)
#
#   Conventions: the test script runs with `set -eEuo pipefail`; any command
#   that fails unexpectedly fails the test through am_fail (with the logs).
#   To look at an exit code on purpose, write `rc=0; cmd || rc=$?`.

set -eEuo pipefail

AM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AM_BUILD=$(cd "${ASYNC_BUILD:-$AM_TOP/build}" && pwd)
AM_BIN=$AM_BUILD/bin
AM_MODULES=$AM_BUILD/modules
AM_PI_SO=$AM_MODULES/pi.so
AM_TESTING_SO=$AM_MODULES/testing.so
AM_TEST=$(basename "$0" .sh)
AM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncmesh-$AM_TEST.XXXXXX")

AM_PIDS=()                      #   every process we started
AM_BROKER_PID=
AM_BROKER_FLAGS=()
AM_BROKER_STARTS=0
declare -A AM_NODE_PID=()       #   node name -> pid
declare -A AM_NODE_UUID=()      #   node name -> instance uuid

for tool in jq ss; do
    command -v "$tool" >/dev/null || {
        echo "$AM_TEST: FAIL: '$tool' is not installed (apt-get install jq iproute2)" >&2
        exit 1
    }
done
for bin in asyncbroker asyncnode asyncctl; do
    [ -x "$AM_BIN/$bin" ] || {
        echo "$AM_TEST: FAIL: $AM_BIN/$bin is missing; build first (cmake --build build)" >&2
        exit 1
    }
done

#   ---------------------------------------------------------------------
#   Messages and failing

am_say () { printf '%s: %s\n' "$AM_TEST" "$*"; }

#   A check: print what is checked, before it is checked
am_check () { printf '%s: CHECK %s\n' "$AM_TEST" "$*"; }

#   Print the message, the last 30 lines of every log, and exit 1
am_fail () {
    trap - ERR
    printf '%s: FAIL: %s\n' "$AM_TEST" "$*" >&2
    #   In a subshell ($(...)), the parent fails in turn and dumps the logs
    [ "$BASH_SUBSHELL" = 0 ] || exit 1
    local log
    while IFS= read -r log; do
        printf '\n----- %s (last 30 lines)\n' "${log#"$AM_TMP"/}" >&2
        tail -n 30 "$log" >&2
    done < <(find "$AM_TMP" -maxdepth 1 -name '*.log' -type f 2>/dev/null | sort)
    exit 1
}

#   An unexpected non-zero status in the test script fails the test
s_am_on_err () {
    local rc=$? line=${BASH_LINENO[0]} cmd=$BASH_COMMAND
    [ "$BASH_SUBSHELL" = 0 ] || exit $rc
    am_fail "unexpected exit status $rc at line $line: $cmd"
}
trap s_am_on_err ERR

#   A test that cannot run here (not root, no namespaces): ctest reports it
#   as skipped (SKIP_RETURN_CODE 77 in tests/CMakeLists.txt), never passed
am_skip () {
    printf '%s: SKIPPED: %s\n' "$AM_TEST" "$*"
    exit 77
}

am_assert_eq () {      #   am_assert_eq WHAT EXPECTED GOT
    [ "$2" = "$3" ] || am_fail "$1: expected '$2', got '$3'"
    am_say "ok: $1 = '$3'"
}

#   ---------------------------------------------------------------------
#   Cleanup

s_am_cleanup () {
    local rc=$? pid i alive
    trap - ERR
    #   Twice: a node's first SIGTERM drains its running jobs, the second
    #   interrupts them at once (docs/spec.md section 3)
    for pid in "${AM_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${AM_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for i in $(seq 60); do          #   up to 3 s for a clean stop
        alive=0
        for pid in "${AM_PIDS[@]}"; do am_pid_gone "$pid" || alive=1; done
        [ $alive = 0 ] && break
        sleep 0.05
    done
    for pid in "${AM_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${AM_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    #   A race ThreadSanitizer found in a process while it stopped (after
    #   the checks) fails the test too (the TSan suite of tests/run)
    if [ $rc = 0 ] && grep -qs "WARNING: ThreadSanitizer" "$AM_TMP"/*.log; then
        printf '%s: FAIL: ThreadSanitizer reported a race:\n' "$AM_TEST" >&2
        grep -h -A40 "WARNING: ThreadSanitizer" "$AM_TMP"/*.log | head -n 80 >&2
        rc=1
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "$AM_TEST: kept $AM_TMP" >&2
    else
        rm -rf "$AM_TMP"
    fi
    exit $rc
}
trap s_am_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

#   ---------------------------------------------------------------------
#   Raw peers' identities

#   A fresh uuid (a node's, or a HELLO's session nonce)
am_uuid () { cat /proc/sys/kernel/random/uuid; }

#   A fresh uuid key: 64 hex digits (32 random bytes), as HELLO uuid_key
am_hex_key () { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

#   am_hello_body UUID KEY HOST: a HELLO body with one agent of one slot and
#   no tasks (it is given no work), a fresh session nonce and pid 1
am_hello_body () {
    printf '{"uuid": "%s", "uuid_key": "%s", "session": "%s", "host": "%s", "pid": 1, "agents": [{"name": "main", "size": 1}], "tasks": []}' \
        "$1" "$2" "$(am_uuid)" "$3"
}

#   ---------------------------------------------------------------------
#   Time and polling

#   Seconds since the epoch, with microseconds
am_now () { echo "$EPOCHREALTIME"; }

#   Milliseconds since the epoch, an integer (for elapsed times: t0=$(am_ms))
am_ms () { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }
s_am_ms () { am_ms; }           #   its former name, for tests not yet moved

#   am_wait_for DESCRIPTION TIMEOUT_S COMMAND...
#   Run COMMAND every 50 ms until it succeeds; fail the test after TIMEOUT_S.
am_wait_for () {
    local what=$1 timeout=$2; shift 2
    local deadline=$(( $(am_ms) + ${timeout%.*} * 1000 ))
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        [ "$(am_ms)" -lt $deadline ] || am_fail "timed out after ${timeout}s waiting for: $what"
        sleep 0.05
    done
}

#   ISO-8601 UTC time stamp -> seconds since the epoch (with fraction)
am_iso_to_s () {
    local iso=$1 sec frac
    [ -n "$iso" ] && [ "$iso" != null ] || { echo ""; return 1; }
    sec=$(date -u -d "${iso%%.*}Z" +%s) || return 1
    frac=0
    case $iso in *.*) frac=${iso#*.}; frac=${frac%Z}; frac=${frac%%[+-]*};; esac
    echo "$sec.$frac"
}

#   awk arithmetic: am_calc 'a - b' a=1 b=2 ; am_cond 'a < b' a=1 b=2
am_calc () {
    local expr=$1; shift
    local vars=() v
    for v in "$@"; do vars+=(-v "$v"); done
    awk "${vars[@]}" "BEGIN { printf \"%.6f\n\", $expr }"
}
am_cond () {
    local expr=$1; shift
    local vars=() v
    for v in "$@"; do vars+=(-v "$v"); done
    awk "${vars[@]}" "BEGIN { exit !($expr) }"
}

#   ---------------------------------------------------------------------
#   Ports

s_am_port_free () {
    local listening
    listening=$(ss -Htln "sport = :$1" 2>/dev/null) || return 1
    [ -z "$listening" ]
}

#   A free loopback TCP port in 20000-60000, outside the kernel's ephemeral
#   range when possible (a client's source port there may take it any time)
am_free_port () {
    local port i lo=0 hi=0
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    for i in $(seq 500); do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
        if [ $i -le 400 ] && [ "$port" -ge "$lo" ] && [ "$port" -le "$hi" ]; then
            continue
        fi
        if s_am_port_free "$port"; then echo "$port"; return 0; fi
    done
    am_fail "found no free port in 20000-60000"
}

#   ---------------------------------------------------------------------
#   asyncctl

#   asyncctl against this test's broker
am_ctl () { "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" "$@"; }

#   One field of job ID, through a jq filter (raw output)
am_job_field () { am_ctl job "$1" | jq -er "$2"; }

#   JSON on stdin, a jq filter -> raw value; fails when the filter yields
#   false/null (use jq directly to read a null)
am_json () { jq -er "$1"; }

#   The status and attempts of job ID as one line "STATUS ATTEMPTS"
#   (e.g. "pending 1": failed once, waiting out its backoff)
am_job_state () { am_ctl job "$1" | jq -r '.status + " " + (.attempts | tostring)'; }

#   am_job_is ID STATUS [ATTEMPTS]: true when job ID has status STATUS (and,
#   if given, ATTEMPTS attempts so far). For am_wait_for
am_job_is () {
    if [ $# -ge 3 ]; then
        [ "$(am_job_state "$1")" = "$2 $3" ]
    else
        [ "$(am_ctl job "$1" | jq -r .status)" = "$2" ]
    fi
}

#   am_assert_ran_once ID RESULT UUID: job ID ends with RESULT (its JSON,
#   waited for up to 10 s) after one attempt, never interrupted, on node
#   UUID
am_assert_ran_once () {
    am_assert_eq "result" "$2" "$(am_ctl wait "$1" --timeout 10s)"
    local job
    job=$(am_ctl job "$1")
    am_assert_eq "attempts" 1 "$(jq -r .attempts <<<"$job")"
    am_assert_eq "interruptions" 0 "$(jq -r .interruptions <<<"$job")"
    am_assert_eq "node" "$3" "$(jq -r .node <<<"$job")"
}

#   am_job_on ID UUID [STATUS]: true when job ID is on node UUID with status
#   STATUS, or with any status but pending when STATUS is not given (the
#   node took it). For am_wait_for after a node was killed or cut off
am_job_on () {
    local job
    job=$(am_ctl job "$1") || return 1
    [ "$(jq -r .node <<<"$job")" = "$2" ] || return 1
    if [ $# -ge 3 ]; then
        [ "$(jq -r .status <<<"$job")" = "$3" ]
    else
        [ "$(jq -r .status <<<"$job")" != pending ]
    fi
}

#   am_jobs_ran_on UUID ID...: prints how many of the jobs ID... name node
#   UUID as theirs (the node that ran their last attempt)
am_jobs_ran_on () {
    local uuid=$1 n=0 j; shift
    for j in "$@"; do
        if [ "$(am_job_field "$j" .node)" = "$uuid" ]; then n=$(( n + 1 )); fi
    done
    echo "$n"
}

#   am_wait_exits ID RC [TIMEOUT]: `asyncctl wait ID --timeout TIMEOUT`
#   (default 30s) exits RC, or the test fails; what it printed (the result,
#   or the failure as JSON) is in $AM_OUT
AM_OUT=
am_wait_exits () {
    local rc=0
    AM_OUT=$(am_ctl wait "$1" --timeout "${3:-30s}") || rc=$?
    [ "$rc" = "$2" ] || am_fail "wait $1 exited $rc, expected $2 (output '$AM_OUT')"
}

#   True when `count STATUS` prints N
am_count_is () { [ "$(am_ctl count "$1")" = "$2" ]; }

#   ---------------------------------------------------------------------
#   The broker

AM_PORT=$(am_free_port)
AM_ENDPOINT=tcp://127.0.0.1:$AM_PORT
AM_DATA=$AM_TMP/broker-data

s_am_broker_spawn () {
    AM_BROKER_STARTS=$(( AM_BROKER_STARTS + 1 ))
    "$AM_BIN/asyncbroker" --data "$AM_DATA" --bind "$AM_ENDPOINT" \
        "${AM_BROKER_FLAGS[@]}" >>"$AM_TMP/broker.log" 2>&1 &
    AM_BROKER_PID=$!
    AM_PIDS+=("$AM_BROKER_PID")
    echo "===== start $AM_BROKER_STARTS: pid $AM_BROKER_PID" >>"$AM_TMP/broker.log"
}

#   Up: the process runs and `asyncctl status` answers
s_am_broker_up () {
    am_pid_gone "$AM_BROKER_PID" && return 2
    "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" --timeout 500ms status >/dev/null 2>&1
}

#   AM_BROKER_START_S: how long a start may take (15 s; a test that starts
#   on a store of hundreds of thousands of jobs gives more: a sanitized
#   broker on a loaded machine recovers one in tens of seconds)
AM_BROKER_START_S=${AM_BROKER_START_S:-15}
s_am_broker_wait_up () {
    local deadline=$(( $(am_ms) + AM_BROKER_START_S * 1000 )) rc
    while :; do
        rc=0; s_am_broker_up || rc=$?
        [ $rc = 0 ] && return 0
        [ $rc = 2 ] && return 2                 #   the broker exited
        [ "$(am_ms)" -lt $deadline ] \
            || am_fail "the broker did not answer on $AM_ENDPOINT within $AM_BROKER_START_S s"
        sleep 0.05
    done
}

#   am_broker_start [BROKER FLAGS...]: start the broker on this test's port
#   and data dir, wait until it answers. If the port was taken meanwhile (a
#   parallel test), picks another one, before any node knows the port.
am_broker_start () {
    AM_BROKER_FLAGS=("$@")
    local try rc
    for try in 1 2 3; do
        s_am_broker_spawn
        if s_am_broker_wait_up; then
            am_say "broker pid $AM_BROKER_PID on $AM_ENDPOINT (data $AM_DATA)"
            return 0
        fi
        rc=0; wait "$AM_BROKER_PID" 2>/dev/null || rc=$?
        [ ${#AM_NODE_PID[@]} = 0 ] || break
        am_say "broker exited at start with status $rc (port $AM_PORT taken?); trying another port"
        AM_PORT=$(am_free_port)
        AM_ENDPOINT=tcp://127.0.0.1:$AM_PORT
    done
    am_fail "the broker exited at start"
}

#   SIGKILL the broker and reap it
am_broker_kill () {
    kill -KILL "$AM_BROKER_PID" 2>/dev/null || am_fail "the broker (pid $AM_BROKER_PID) was not running"
    wait "$AM_BROKER_PID" 2>/dev/null || true
    am_say "broker pid $AM_BROKER_PID killed with SIGKILL"
}

#   Start the broker again: same port, data dir and flags
am_broker_restart () {
    s_am_broker_spawn
    if ! s_am_broker_wait_up; then
        local rc=0; wait "$AM_BROKER_PID" 2>/dev/null || rc=$?
        am_fail "the restarted broker exited with status $rc"
    fi
    am_say "broker restarted: pid $AM_BROKER_PID on $AM_ENDPOINT"
}

#   am_hold_writer_try LOG [COMMAND BODY]...: with the disk made slow
#   (ASYNC_TEST_SLOW_SYNC), a synced write that holds the store's writer
#   thread, so that what the broker writes next waits behind it: a submit
#   to a queue nobody serves, then the requests given (written in the same
#   batch), then a PING, sent in one go by tests/rawreq in the background
#   (its replies in LOG), so that the broker hands the batch to its writer
#   instead of writing a lone request itself. Returns 0 once the PONG came.
#   On a loaded machine the broker may read the submit alone in a loop turn
#   and write it itself (its ACCEPTED comes before the PONG): then rawreq
#   is stopped and it returns 1 (the requests given may have been handled)
am_hold_writer_try () {
    local log=$1 pid order; shift
    "$AM_BUILD/tests/rawreq" -t 70000 "$AM_ENDPOINT" \
        SUBMIT '{"spec": {"task": "testing.noop", "queue": "nobody"}}' "$@" PING '{}' \
        >"$log" 2>&1 &
    pid=$!
    AM_PIDS+=("$pid")
    am_wait_for "the broker's PONG (the submit is being written)" 10 grep -q PONG "$log"
    order=$(grep -o -m2 -E '"(ACCEPTED|PONG)"' "$log" | head -1)
    [ "$order" = '"ACCEPTED"' ] || return 0
    am_say "the broker read the submit alone and wrote it itself"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    #   Reaped: its pid may be another process's soon
    local kept=() p
    for p in "${AM_PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
    AM_PIDS=("${kept[@]}")
    return 1
}

#   am_hold_writer LOG: am_hold_writer_try LOG, five times at most
am_hold_writer () {
    local try
    for try in 1 2 3 4 5; do
        am_hold_writer_try "$1" && return 0
    done
    am_fail "am_hold_writer: the broker never handed the submit to its writer"
}

#   am_with_shim NAME=VALUE... -- COMMAND...: run COMMAND in this shell
#   (am_broker_start, am_broker_restart) with tests/faultshim.so preloaded
#   and the NAME=VALUE settings of the shim exported (ASYNC_TEST_CLOCK_FILE,
#   ASYNC_TEST_SLOW_SYNC: see tests/integration/faultshim.c), then unset
#   them, so that only the processes COMMAND starts run with the shim. The
#   sanitizers' runtime accepts a library loaded before it only when told
#   to (verify_asan_link_order=0)
am_with_shim () {
    local asan=${ASAN_OPTIONS-} names=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        names+=("${1%%=*}")
        export "${1?}"
        shift
    done
    [ $# -gt 1 ] || am_fail "am_with_shim: no '-- COMMAND'"
    shift
    [ -f "$AM_BUILD/tests/faultshim.so" ] || am_fail "$AM_BUILD/tests/faultshim.so is missing; build first"
    export LD_PRELOAD=$AM_BUILD/tests/faultshim.so
    export ASAN_OPTIONS="${asan:+$asan:}verify_asan_link_order=0"
    "$@"
    unset LD_PRELOAD "${names[@]}"
    export ASAN_OPTIONS=$asan
}

#   ---------------------------------------------------------------------
#   Nodes

#   True when `asyncctl nodes` lists UUID as alive
am_node_listed () {
    local nodes
    nodes=$(am_ctl nodes) || return 1
    [ -n "$(jq -r --arg u "$1" 'select(.uuid == $u and .dead != true) | .uuid' <<<"$nodes")" ]
}

#   am_node_start NAME [NODE FLAGS...]: start asyncnode in $AM_TMP/NAME
#   (its working directory: uuid.txt and relative task paths live there),
#   logging to $AM_TMP/NAME.log; wait until the broker lists its uuid.
#   Sets AM_NODE_PID[NAME] and AM_NODE_UUID[NAME].
am_node_start () {
    local name=$1; shift
    local dir=$AM_TMP/$name pid uuid
    mkdir -p "$dir"
    (cd "$dir" && exec "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" "$@") \
        >>"$AM_TMP/$name.log" 2>&1 &
    pid=$!
    AM_PIDS+=("$pid")
    AM_NODE_PID[$name]=$pid
    am_wait_for "node $name to write $dir/uuid.txt" 10 test -s "$dir/uuid.txt"
    uuid=$(head -n 1 "$dir/uuid.txt" | tr -d '[:space:]')
    [ -n "$uuid" ] || am_fail "node $name: empty first line in uuid.txt"
    AM_NODE_UUID[$name]=$uuid
    am_wait_for "node $name ($uuid) to be listed by 'asyncctl nodes'" 15 am_node_listed "$uuid"
    kill -0 "$pid" 2>/dev/null || am_fail "node $name exited"
    am_say "node $name pid $pid uuid $uuid ($*)"
}

#   am_node_running UUID N: true when `asyncctl nodes` lists node UUID with N
#   jobs assigned or active there (N=1 on a node of one slot: it is busy)
am_node_running () {
    am_ctl nodes | jq -se --arg u "$1" --argjson n "$2" \
        'any (.[]; .uuid == $u and .running == $n)' >/dev/null
}

#   The node name whose uuid is UUID
am_node_name () {
    local n
    for n in "${!AM_NODE_UUID[@]}"; do
        [ "${AM_NODE_UUID[$n]}" = "$1" ] && { echo "$n"; return 0; }
    done
    return 1
}

#   ---------------------------------------------------------------------
#   A browser (the dashboard's tests)

#   am_chromium: set CHROMIUM (the browser to drive) and ARTIFACTS (where
#   screenshots go: AM_ARTIFACTS, default build/test-artifacts, made);
#   fail the test when chromium is not installed
am_chromium () {
    CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
    [ -n "$CHROMIUM" ] || am_fail "chromium is not installed (apt-get install chromium)"
    ARTIFACTS=${AM_ARTIFACTS:-$AM_BUILD/test-artifacts}
    mkdir -p "$ARTIFACTS"
}

#   am_cdp NAME: run the steps on stdin in chromium (tests/helpers/cdp.py,
#   after am_chromium); its output in $AM_TMP/NAME.out
am_cdp () {
    python3 "$AM_TOP/tests/helpers/cdp.py" --chromium "$CHROMIUM" \
        --profile "$AM_TMP/chromium" --artifacts "$ARTIFACTS" >"$AM_TMP/$1.out" 2>&1 \
        || am_fail "in chromium: $(tail -1 "$AM_TMP/$1.out") (see $1.out)"
}

#   True when the programs are built with a sanitizer (ASan, UBSan, TSan):
#   a test judges what such a build finds, not how fast it runs
#   (ldd's output is read whole: `ldd | grep -q` fails under pipefail when
#   grep stops reading first)
am_sanitized () {
    local libs
    libs=$(ldd "$AM_BIN/asyncbroker" 2>/dev/null) || true
    [[ $libs =~ lib(a|ub|t)san ]]
}

#   am_prioritize PID...: where allowed (root), run every thread of each
#   process at nice -10, above the test's other processes and whatever
#   else shares the machine: for a test that times the broker's answers,
#   not how busy the machine is. Every thread: renice -p moves one thread
#   only, and the broker's replies leave through ZeroMQ's I/O thread
am_prioritize () {
    local pid task
    for pid in "$@"; do
        for task in /proc/"$pid"/task/*; do
            renice -n -10 -p "${task##*/}" >/dev/null 2>&1 || true
        done
    done
}

#   am_pinger_start OUT STOPFILE: tests/pinger times PING/PONG round trips
#   with the broker into the file OUT until the file STOPFILE exists (one
#   line, "pings=N max_us=M p99_us=P over_50ms=K", then the slow ones);
#   its pid in $AM_PINGER, prioritized with the broker's (am_prioritize)
am_pinger_start () {
    rm -f "$2"
    "$AM_BUILD/tests/pinger" "$AM_ENDPOINT" "$2" >"$1" 2>&1 &
    AM_PINGER=$!
    AM_PIDS+=("$AM_PINGER")
    am_prioritize "$AM_BROKER_PID" "$AM_PINGER"
}

#   True when the process PID has exited (a zombie not yet reaped counts)
am_pid_gone () {
    local state
    kill -0 "$1" 2>/dev/null || return 0
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
    case $state in Z*) return 0;; esac
    return 1
}
