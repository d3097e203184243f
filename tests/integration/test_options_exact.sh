#!/usr/bin/env bash
#   All three programs refuse an abbreviated or unknown long option the
#   same way (docs/spec.md section 1): exit 2 and "unknown option --modul
#   (did you mean --module?)". Before, asyncnode and asyncbroker took
#   `--modul` as `--module` (getopt_long's prefix matching) while
#   asyncctl refused it.
source "$(dirname "$0")/../helpers/lib.sh"

closed=tcp://127.0.0.1:$(am_free_port)

#   s_refused WANT PROG ARGS...: PROG ARGS exits 2 at once, its stderr
#   starting with WANT
s_refused () {
    local want=$1 prog=$2 rc=0 err; shift 2
    am_check "$prog $*: $want"
    (cd "$AM_TMP" && timeout 10 "$AM_BIN/$prog" "$@") >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    err=$(cat "$AM_TMP/err")
    [ "$rc" = 2 ] || am_fail "$prog $* exited $rc, expected 2 (stderr: $err)"
    [[ $err == "$want"* ]] || am_fail "$prog $*: stderr is '$err', expected '$want...'"
    [ "$(wc -l <"$AM_TMP/err")" = 1 ] || am_fail "$prog $*: more than one line: $err"
    am_say "ok: $err"
}

s_refused "asyncnode: unknown option --modul (did you mean --module?)" \
    asyncnode --broker "$closed" --modul "$AM_TESTING_SO"
s_refused "asyncnode: unknown option --brok (did you mean --broker?)" \
    asyncnode --brok="$closed" --module "$AM_TESTING_SO"
s_refused "asyncnode: unknown option --agen (did you mean --agent?)" \
    asyncnode --broker "$closed" --agen main:1
s_refused "asyncbroker: unknown option --bin (did you mean --bind?)" \
    asyncbroker --data "$AM_TMP/data" --bin "$closed"
s_refused "asyncbroker: unknown option --dat (did you mean --data?)" \
    asyncbroker --dat "$AM_TMP/data" --bind "$closed"
s_refused "asyncbroker: unknown option --no-such-flag" asyncbroker --no-such-flag
s_refused "asyncctl: unknown option --brok (did you mean --broker?)" \
    asyncctl --brok "$closed" status
s_refused "asyncctl: unknown option --queu of 'submit' (did you mean --queue?)" \
    asyncctl --broker "$closed" submit --queu q testing.noop

am_check "whole names still work, also as --NAME=VALUE, and a value may start with --"
rc=0
(cd "$AM_TMP" && timeout 10 "$AM_BIN/asyncnode" --broker="$closed" --module="$AM_TMP/--nope.so") \
    2>"$AM_TMP/err" || rc=$?
am_assert_eq "exit of a node whose module is missing" 2 "$rc"
grep -q "cannot load module" "$AM_TMP/err" || am_fail "not a module error: $(cat "$AM_TMP/err")"
am_broker_start --log-level=info --spin 0
am_node_start node1 --module="$AM_TESTING_SO" --agent main:1
am_say "PASS"
