#!/usr/bin/env bash
#   CurveZMQ (docs/spec.md section 8): with --curve-secret and --curve-clients
#   the broker lets in only the keys in the directory. An allowed client key
#   submits and a node key runs the job; no key, a key not in the
#   directory and a key revoked (file removed, SIGHUP) fail fast with exit
#   4 and a clear line; a client key cannot act as a node, nor a node key
#   change a node's agents, retry or delete a job, pause a queue; a refused node
#   keeps trying and gets in once its key is allowed; the broker serves the
#   others throughout; an action is logged with the name of its key.
source "$(dirname "$0")/../helpers/lib.sh"

K=$AM_TMP/keys
mkdir -p "$K/clients"
for key in broker client1 client2 stranger revoked; do
    "$AM_BIN/asyncctl" keygen "$K/$key"
done
for key in node1 node_revoked node_late; do
    "$AM_BIN/asyncctl" keygen --role node "$K/$key"
done
cp "$K/client1" "$K/client2" "$K/revoked" "$K/node1" "$K/node_revoked" "$K/clients/"
am_assert_eq "role in the node key's public file" node \
    "$(sed -n 's/^ *role = "\(.*\)"/\1/p' "$K/node1")"
am_assert_eq "mode of a secret key file" 600 "$(stat -c %a "$K/client1_secret")"

#   Every asyncctl and asyncnode of this test uses client1's key unless told
export ASYNC_CURVE_KEY=$K/client1_secret ASYNC_BROKER_PUBLIC_KEY=$K/broker
am_broker_start --curve-secret "$K/broker_secret" --curve-clients "$K/clients"
am_check "the broker logs that CURVE is on with 5 allowed keys"
grep -q 'auth.curve curve=on keys=5' "$AM_TMP/broker.log" \
    || am_fail "no 'auth.curve curve=on keys=5' line in the broker log"

#   s_ctl_as KEY ARGS...: asyncctl with key KEY ("" = none), default
#   timeout; exit code in $rc, stderr in $err, seconds taken in $took
s_ctl_as () {
    local key=$1; shift
    local t0
    t0=$(am_now)
    rc=0
    if [ -n "$key" ]; then
        ASYNC_CURVE_KEY=$K/${key}_secret "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" "$@" \
            >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    else
        env -u ASYNC_CURVE_KEY -u ASYNC_BROKER_PUBLIC_KEY \
            "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" "$@" \
            >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    fi
    took=$(am_calc 'b - a' a="$t0" b="$(am_now)")
    err=$(cat "$AM_TMP/err")
}

#   s_refused WHAT KEY PATTERN: asyncctl status as KEY exits 4 within 2 s
#   (the request timeout is 5 s) with one line matching PATTERN
s_refused () {
    am_check "$1: exit 4, fast, saying '$3'"
    s_ctl_as "$2" status
    [ "$rc" = 4 ] || am_fail "$1: asyncctl exited $rc, expected 4 (stderr: $err)"
    am_cond 't < 2' t="$took" || am_fail "$1: took ${took}s to give up (a timeout, not a refusal)"
    grep -q -- "$3" <<<"$err" || am_fail "$1: stderr '$err' does not say '$3'"
    am_assert_eq "$1: lines on stderr" 1 "$(wc -l <"$AM_TMP/err")"
    am_say "ok: exit 4 after ${took}s: $err"
}

#   s_served: an allowed client still gets answers
s_served () {
    am_check "the broker still serves allowed clients ($1)"
    s_ctl_as client2 status
    [ "$rc" = 0 ] || am_fail "client2 was not served ($1): exit $rc: $err"
}

#   ---- end to end: a client key submits, a node key runs the job
am_node_start node1 --module "$AM_TESTING_SO" --curve-key "$K/node1_secret"
am_check "a job submitted with client1's key runs on the node and returns its result"
result=$(am_ctl submit --wait --wait-timeout 30s testing.mul 6 7)
am_assert_eq "result of testing.mul 6 7" 42 "$result"

#   ---- refusals
s_refused "no key" "" "requires CURVE; pass --curve-key and --broker-public-key"
s_refused "a key not in the directory" stranger "refused our CURVE key (not in its allowed keys)"
s_served "after the refusals"

#   ---- a client key acting as a node is refused, and its jobs are not run
am_check "asyncnode with a client key is refused as a node"
mkdir -p "$AM_TMP/impostor"
(cd "$AM_TMP/impostor" && exec "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" \
    --module "$AM_TESTING_SO" --agent main:3@impostor_q --curve-key "$K/client2_secret") \
    >>"$AM_TMP/impostor.log" 2>&1 &
AM_PIDS+=("$!")
impostor_pid=$!
s_not_node_count () { grep -c 'auth.not_node' "$AM_TMP/broker.log" || true; }
s_not_node_at_least () { [ "$(s_not_node_count)" -ge "$1" ]; }
am_wait_for "the broker to log auth.not_node" 10 grep -q 'auth.not_node.*command=HELLO' "$AM_TMP/broker.log"
id=$(am_ctl submit --queue impostor_q testing.noop)
seen=$(s_not_node_count)
am_wait_for "the impostor to say HELLO twice more" 15 s_not_node_at_least $(( seen + 2 ))
am_assert_eq "status of a job only the impostor's agent serves" pending "$(am_job_field "$id" .status)"
impostor_uuid=$(head -n 1 "$AM_TMP/impostor/uuid.txt" | tr -d '[:space:]')
am_check "the impostor has no session"
am_node_listed "$impostor_uuid" && am_fail "the broker lists the impostor $impostor_uuid"
grep -q 'may not act as a node' "$AM_TMP/impostor.log" \
    || am_fail "the impostor's log does not say it may not act as a node"
kill -0 "$impostor_pid" || am_fail "the impostor node exited; it should keep trying"
s_served "while the impostor knocks"

#   ---- a node without a key says why, and keeps running
am_check "asyncnode without a key logs that the broker requires CURVE"
mkdir -p "$AM_TMP/keyless"
(cd "$AM_TMP/keyless" && exec env -u ASYNC_CURVE_KEY -u ASYNC_BROKER_PUBLIC_KEY \
    "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" --module "$AM_TESTING_SO") \
    >>"$AM_TMP/keyless.log" 2>&1 &
AM_PIDS+=("$!")
am_wait_for "the keyless node to log auth.refused" 10 \
    grep -q 'auth.refused.*requires CURVE' "$AM_TMP/keyless.log"

#   ---- a node whose key is not allowed yet gets in once it is (SIGHUP)
am_check "a node with a key not in the directory is refused, then let in after SIGHUP"
mkdir -p "$AM_TMP/late"
(cd "$AM_TMP/late" && exec "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" \
    --module "$AM_TESTING_SO" --curve-key "$K/node_late_secret") \
    >>"$AM_TMP/late.log" 2>&1 &
AM_PIDS+=("$!")
am_wait_for "the late node to log auth.refused" 10 \
    grep -q 'auth.refused.*refused our CURVE key' "$AM_TMP/late.log"
am_wait_for "the late node to write its uuid" 10 test -s "$AM_TMP/late/uuid.txt"
late_uuid=$(head -n 1 "$AM_TMP/late/uuid.txt" | tr -d '[:space:]')
am_node_listed "$late_uuid" && am_fail "the broker lists the refused node $late_uuid"
cp "$K/node_late" "$K/clients/"
kill -HUP "$AM_BROKER_PID"
am_wait_for "auth.reloaded keys=6 in the broker log" 10 \
    grep -q 'auth.reloaded keys=6' "$AM_TMP/broker.log"
am_wait_for "the late node to be listed" 15 am_node_listed "$late_uuid"

#   ---- only a client key changes a node's agents, retries or deletes a job,
#   pauses or resumes a queue (not a node, so not a task)
am_check "agent set, retry, delete, queue pause/resume with a node's key: exit 6; with a client key: done"
s_ctl_as node1 agent set "$late_uuid" main --size 2
[ "$rc" = 6 ] || am_fail "agent set with a node key: exit $rc, not 6 (stderr: $err)"
grep -q "may not send AGENT-SET" <<<"$err" || am_fail "agent set with a node key: stderr '$err'"
grep -q 'auth.not_client.*command=AGENT-SET' "$AM_TMP/broker.log" \
    || am_fail "no auth.not_client line for AGENT-SET in the broker log"
for command in "retry 00000000-0000-4000-8000-000000000000" \
               "delete 00000000-0000-4000-8000-000000000000" \
               "queue pause q1" "queue resume q1" "quota set gpu 1" "quota delete gpu"; do
    # shellcheck disable=SC2086
    s_ctl_as node1 $command
    [ "$rc" = 6 ] || am_fail "$command with a node key: exit $rc, not 6 (stderr: $err)"
    grep -q "may not send" <<<"$err" || am_fail "$command with a node key: stderr '$err'"
done
s_ctl_as client1 queue pause q1
[ "$rc" = 0 ] || am_fail "queue pause with a client key: exit $rc (stderr: $err)"
s_ctl_as client1 agent set "$late_uuid" main --size 2
[ "$rc" = 0 ] || am_fail "agent set with a client key: exit $rc (stderr: $err)"

#   ---- revocation: remove the files, SIGHUP
am_node_start node_r --module "$AM_TESTING_SO" --curve-key "$K/node_revoked_secret"
am_check "the key to revoke works before"
s_ctl_as revoked status
[ "$rc" = 0 ] || am_fail "the key to revoke was refused before it was revoked: $err"
rm "$K/clients/revoked" "$K/clients/node_revoked"
kill -HUP "$AM_BROKER_PID"
am_wait_for "auth.reloaded keys=4 in the broker log" 10 \
    grep -q 'auth.reloaded keys=4' "$AM_TMP/broker.log"
s_refused "a revoked key" revoked "refused our CURVE key (not in its allowed keys)"
s_served "after the revocation"
am_check "the node with the revoked key loses its session"
s_node_gone () { ! am_node_listed "$1"; }
am_wait_for "the broker to drop node_r" 10 s_node_gone "${AM_NODE_UUID[node_r]}"
grep -q "auth.revoked.*command=" "$AM_TMP/broker.log" \
    || am_fail "no auth.revoked line in the broker log"

#   ---- the broker served throughout
am_check "a second job end to end after all that"
result=$(am_ctl submit --wait --wait-timeout 30s testing.ret '"still here"')
am_assert_eq "result after the refusals" '"still here"' "$result"
am_check "an action is logged with the name of the key that did it (its file in --curve-clients)"
s_ctl_as client2 queue pause q9
[ "$rc" = 0 ] || am_fail "queue pause with client2's key exited $rc: $err"
grep -q 'queue.paused queue=q9 .*by=client2' "$AM_TMP/broker.log" \
    || am_fail "no 'queue.paused queue=q9 ... by=client2' line in the broker log"
am_check "a key file whose name would forge a log field is logged with '_' for the odd characters"
"$AM_BIN/asyncctl" keygen "$K/odd"
cp "$K/odd" "$K/clients/odd by=root"
kill -HUP "$AM_BROKER_PID"
am_wait_for "the broker to reload its keys" 10 grep -q 'auth.reloaded keys=5' "$AM_TMP/broker.log"
s_ctl_as odd queue pause q10
[ "$rc" = 0 ] || am_fail "queue pause with the odd key exited $rc: $err"
grep -q 'queue.paused queue=q10 .*by=odd_by_root$' "$AM_TMP/broker.log" \
    || am_fail "no 'queue.paused queue=q10 ... by=odd_by_root' line in the broker log"
am_say "PASS"
