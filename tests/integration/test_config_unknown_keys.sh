#!/usr/bin/env bash
#   An unknown key or section in a config file is an error in all three
#   programs (docs/spec.md section 1): exit 2 and one line naming the file,
#   the line, the key and the closest known key. Before, `bnid = ...` in
#   asyncbroker's file was ignored and the broker started on the default
#   endpoint; asyncnode ran without the agent size it was given. The files
#   in conf/ are still accepted.
source "$(dirname "$0")/../helpers/lib.sh"

#   s_refused PROG WANT FILE-TEXT [FLAGS...]: PROG --config FILE exits 2
#   at once, and its stderr is the one line WANT (FILE is the file's path)
s_refused () {
    local prog=$1 want=$2 text=$3 rc=0 cfg err; shift 3
    cfg=$AM_TMP/$prog-$RANDOM.cfg
    printf '%b' "$text" >"$cfg"
    want=${want//FILE/$cfg}
    am_check "$prog: $want"
    (cd "$AM_TMP" && timeout 10 "$AM_BIN/$prog" --config "$cfg" "$@") \
        >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    err=$(cat "$AM_TMP/err")
    [ "$rc" = 2 ] || am_fail "$prog --config with an unknown key exited $rc, expected 2 (stderr: $err)"
    am_assert_eq "$prog's error" "$want" "$err"
}

port=$(am_free_port)
s_refused asyncbroker "asyncbroker: FILE:3: unknown key 'broker/bnid'; did you mean bind?" \
    "broker\n    data = $AM_TMP/b1\n    bnid = tcp://127.0.0.1:$port\n"
s_refused asyncbroker "asyncbroker: FILE:1: unknown section 'brokr'; did you mean broker?" \
    "brokr\n    bind = tcp://127.0.0.1:$port\n" --data "$AM_TMP/b2"
s_refused asyncbroker "asyncbroker: FILE:4: unknown key 'broker/retension'; did you mean retention?" \
    "# a comment\nbroker\n    sync = off\n    retension = 1d\n" --data "$AM_TMP/b3" \
    --bind "tcp://127.0.0.1:$port"
s_refused asyncnode "asyncnode: FILE:2: unknown key 'node/brokr'; did you mean broker?" \
    "node\n    brokr = tcp://127.0.0.1:$port\n"
s_refused asyncnode "asyncnode: FILE:5: unknown key 'agents/main/sise'; did you mean size?" \
    "node\n    broker = tcp://127.0.0.1:$port\nagents\n    main\n        sise = 1\n"
s_refused asyncnode "asyncnode: FILE:3: unknown key 'modules/pi/path'; 'pi' has no keys below it" \
    "modules\n    pi\n        path = $AM_TESTING_SO\n" --broker "tcp://127.0.0.1:$port"
s_refused asyncnode "asyncnode: FILE:1: unknown section 'module'; did you mean modules?" \
    "module\n    t = $AM_TESTING_SO\n" --broker "tcp://127.0.0.1:$port"
s_refused asyncctl "asyncctl: FILE:2: unknown key 'client/timout'; did you mean timeout?" \
    "client\n    timout = 1s\n" --broker "tcp://127.0.0.1:$port" status
s_refused asyncctl "asyncctl: FILE:1: unknown section 'broker'; did you mean client?" \
    "broker\n    bind = tcp://127.0.0.1:$port\n" status

am_check "the example files in conf/ are accepted"
am_broker_start --config "$AM_TOP/conf/asyncbroker.cfg"
am_node_start node1 --config "$AM_TOP/conf/asyncnode.cfg" --module "$AM_TESTING_SO"
am_node_start node2 --config "$AM_TOP/conf/pi-node.cfg" --module "$AM_TESTING_SO"
printf 'client\n    broker = %s\n    timeout = 5s\n    log-level = warning\n' \
    "$AM_ENDPOINT" >"$AM_TMP/client.cfg"
"$AM_BIN/asyncctl" --config "$AM_TMP/client.cfg" status >/dev/null \
    || am_fail "asyncctl refused a config file of known keys"
am_say "PASS"
