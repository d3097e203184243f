#!/usr/bin/env bash
#   Bad input (docs/spec.md section 7, docs/protocol.md section 10): a raw
#   DEALER (tests/integration/garbage.c) sends the broker thousands of bad
#   frames: random bytes, valid messages cut short or with bytes flipped, wrong
#   versions, huge declared counts (dd ff ff ff ff ...), 40-deep nesting,
#   unknown commands, node commands without a session, multi-frame
#   messages and a 17 MiB frame. Meanwhile and afterwards, asyncctl
#   submit/wait keeps working, a node keeps running jobs, the broker stays
#   up and answers the garbage peer's own PING; unknown commands got ERROR
#   code 6; the broker logged message.dropped, at most 10 lines a second,
#   each saying how many were left out before it (`unlogged=`): one line
#   per bad frame let a peer write 65,000 lines a second into the log.
source "$(dirname "$0")/../helpers/lib.sh"

GARBAGE=$AM_BUILD/tests/garbage
[ -x "$GARBAGE" ] || am_fail "$GARBAGE is missing; build first (cmake --build build)"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO"
broker_pid=$AM_BROKER_PID

am_check "submit/wait works while the garbage is sent"
t0=$(am_ms)
seed=$RANDOM
"$GARBAGE" "$AM_ENDPOINT" 300 "$seed" 2>"$AM_TMP/garbage.log" &
gpid=$!
AM_PIDS+=("$gpid")
rounds=0
while ! am_pid_gone "$gpid"; do
    result=$(am_ctl submit --wait --wait-timeout 15s testing.mul 6 7) \
        || am_fail "submit --wait failed while the garbage was sent"
    am_assert_eq "result of testing.mul 6 7 (round $rounds)" 42 "$result" >/dev/null
    rounds=$(( rounds + 1 ))
done
rc=0; wait "$gpid" || rc=$?
am_say "$(tail -n 1 "$AM_TMP/garbage.log")"
am_say "$rounds submit/wait rounds during the garbage (seed $seed)"
[ $rc = 0 ] || am_fail "garbage exited with $rc: $(tail -n 3 "$AM_TMP/garbage.log" | tr '\n' ' ')"
[ $rounds -ge 1 ] || am_fail "no submit/wait round ran during the garbage"

am_check "afterwards: the broker is the same process, answers, runs jobs"
am_pid_gone "$broker_pid" && am_fail "the broker exited"
am_assert_eq "broker starts" 1 "$AM_BROKER_STARTS"
am_ctl status >/dev/null || am_fail "asyncctl status failed after the garbage"
ids=()
for i in $(seq 10); do ids+=("$(am_ctl submit testing.mul "$i" 2)"); done
for i in $(seq 10); do
    am_assert_eq "result of job $i" $(( i * 2 )) "$(am_ctl wait "${ids[$((i - 1))]}" --timeout 10s)" >/dev/null
done
am_say "ok: 10 jobs submitted and completed after the garbage"
am_pid_gone "${AM_NODE_PID[node1]}" && am_fail "node1 exited"
am_node_listed "${AM_NODE_UUID[node1]}" || am_fail "node1 is no longer listed"
#   One more unknown command, in a later second, says how many were left
#   out at the end of the garbage
before=$(grep -c "message.dropped" "$AM_TMP/broker.log" || true)
s_counted () {
    "$AM_BUILD/tests/rawreq" "$AM_ENDPOINT" NOPE '{}' >/dev/null 2>&1
    [ "$(grep -c "message.dropped" "$AM_TMP/broker.log")" -gt "$before" ]
}
am_wait_for "a message.dropped line after the garbage" 10 s_counted
seconds=$(( ($(am_ms) - t0) / 1000 + 1 ))
dropped=$(grep -c "message.dropped" "$AM_TMP/broker.log" || true)
unlogged=$(grep -o "message.dropped.* unlogged=[0-9]*" "$AM_TMP/broker.log" \
           | sed 's/.*unlogged=//' | awk '{ s += $1 } END { print s + 0 }')
am_say "broker.log: $dropped message.dropped lines in ${seconds}s, $unlogged more counted"
[ "$dropped" -le $(( 10 * (seconds + 1) )) ] \
    || am_fail "$dropped message.dropped lines in ${seconds}s: more than 10 a second"
[ $(( dropped + unlogged )) -ge 1000 ] \
    || am_fail "expected at least 1000 dropped messages logged or counted, got $(( dropped + unlogged ))"
#   (which reasons the first lines of each second name is the garbage's
#   order; the last line is the unknown command sent above)
tail -n 50 "$AM_TMP/broker.log" | grep -q 'message.dropped.*reason="unknown command"' \
    || am_fail "no 'unknown command' drop in broker.log"
am_say "PASS"
