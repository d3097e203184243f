#!/usr/bin/env bash
#   CURVE settings at start (docs/spec.md section 8): a secret key file others
#   may read is refused (exit 2) by asyncctl, asyncnode and asyncbroker; one
#   key setting without the other is a usage error; without CURVE the
#   broker refuses to bind beyond loopback unless --insecure-bind, and with
#   CURVE it binds there.
source "$(dirname "$0")/../helpers/lib.sh"

K=$AM_TMP/keys
mkdir -p "$K/clients"
for key in broker client1; do
    "$AM_BIN/asyncctl" keygen "$K/$key"
done
cp "$K/client1" "$K/clients/"
cp "$K/client1_secret" "$K/loose_secret"
chmod 644 "$K/loose_secret"
cp "$K/broker_secret" "$K/loose_broker_secret"
chmod 640 "$K/loose_broker_secret"

#   s_run CODE WHAT PATTERN PROGRAM ARGS...: PROGRAM exits CODE, and its
#   stderr says PATTERN in one line
s_run () {
    local code=$1 what=$2 pattern=$3; shift 3
    am_check "$what: exit $code, saying '$pattern'"
    local rc=0
    timeout 20 "$@" >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    local err
    err=$(cat "$AM_TMP/err")
    [ "$rc" = "$code" ] || am_fail "$what: exited $rc, expected $code (stderr: $err)"
    grep -q -- "$pattern" <<<"$err" || am_fail "$what: stderr '$err' does not say '$pattern'"
    am_assert_eq "$what: lines on stderr" 1 "$(wc -l <"$AM_TMP/err")"
}

#   ---- key files others may read
s_run 2 "asyncctl with a 0644 secret key" "others may read it (mode 0644); run chmod 600" \
    "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" --curve-key "$K/loose_secret" \
    --broker-public-key "$K/broker" status
s_run 2 "asyncctl with a 0644 secret key from the environment" "others may read it" \
    env ASYNC_CURVE_KEY="$K/loose_secret" ASYNC_BROKER_PUBLIC_KEY="$K/broker" \
    "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" status
s_run 2 "asyncnode with a 0644 secret key" "others may read it (mode 0644)" \
    "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" --curve-key "$K/loose_secret" \
    --broker-public-key "$K/broker"
s_run 2 "asyncbroker with a 0640 secret key" "others may read it (mode 0640)" \
    "$AM_BIN/asyncbroker" --data "$AM_TMP/d1" --bind "$AM_ENDPOINT" \
    --curve-secret "$K/loose_broker_secret" --curve-clients "$K/clients"
s_run 2 "asyncctl with a public file as its key" "is a public certificate" \
    "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" --curve-key "$K/client1" \
    --broker-public-key "$K/broker" status

#   ---- both or neither
s_run 2 "asyncctl --curve-key alone" "--curve-key needs --broker-public-key" \
    "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" --curve-key "$K/client1_secret" status
s_run 2 "asyncnode --broker-public-key alone" "--curve-key needs --broker-public-key\|--broker-public-key needs --curve-key" \
    "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" --broker-public-key "$K/broker"
s_run 2 "asyncbroker --curve-secret alone" "--curve-secret needs --curve-clients" \
    "$AM_BIN/asyncbroker" --data "$AM_TMP/d2" --bind "$AM_ENDPOINT" \
    --curve-secret "$K/broker_secret"
s_run 2 "asyncbroker --curve-clients not a directory" "is not a directory" \
    "$AM_BIN/asyncbroker" --data "$AM_TMP/d3" --bind "$AM_ENDPOINT" \
    --curve-secret "$K/broker_secret" --curve-clients "$K/missing"

#   ---- binding beyond loopback
s_run 2 "asyncbroker on 0.0.0.0 without CURVE or --insecure-bind" \
    "refusing to bind tcp://0.0.0.0:$AM_PORT beyond loopback without CURVE" \
    "$AM_BIN/asyncbroker" --data "$AM_TMP/d4" --bind "tcp://0.0.0.0:$AM_PORT"
[ ! -e "$AM_TMP/d4" ] || am_fail "the refused broker created its data directory"

am_check "with CURVE, the broker binds to 0.0.0.0 and serves an allowed key"
AM_ENDPOINT=tcp://0.0.0.0:$AM_PORT
export ASYNC_CURVE_KEY=$K/client1_secret ASYNC_BROKER_PUBLIC_KEY=$K/broker
"$AM_BIN/asyncbroker" --data "$AM_DATA" --bind "tcp://0.0.0.0:$AM_PORT" \
    --curve-secret "$K/broker_secret" --curve-clients "$K/clients" \
    >>"$AM_TMP/broker.log" 2>&1 &
AM_BROKER_PID=$!
AM_PIDS+=("$AM_BROKER_PID")
AM_ENDPOINT=tcp://127.0.0.1:$AM_PORT
s_status_ok () { "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" --timeout 500ms status; }
am_wait_for "the CURVE broker on 0.0.0.0:$AM_PORT to answer" 15 s_status_ok
am_pid_gone "$AM_BROKER_PID" && am_fail "the CURVE broker on 0.0.0.0 exited"
grep -q 'bind.insecure' "$AM_TMP/broker.log" \
    && am_fail "the CURVE broker warned about an insecure bind"
am_say "PASS"
