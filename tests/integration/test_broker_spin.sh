#!/usr/bin/env bash
#   The broker's --spin (async_spin.h): while one job at a time comes and
#   goes, its loop catches messages while it polls instead of sleeping;
#   idle, it stops polling and its CPU stays near zero; --spin 0 never
#   polls; a --spin out of range is refused with exit code 2.
source "$(dirname "$0")/../helpers/lib.sh"
SUBMIT_WAIT=$AM_BUILD/tests/submit_wait

#   s_metric NAME: its value in /metrics
s_metric () {
    curl -sS "http://$HTTP/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

#   s_cpu_ticks: the broker's user + system CPU so far, in clock ticks
s_cpu_ticks () {
    awk '{ print $14 + $15 }' "/proc/$AM_BROKER_PID/stat"
}

am_check "a --spin out of range is refused with exit code 2 and a one-line error"
rc=0
out=$("$AM_BIN/asyncbroker" --data "$AM_TMP/refused" --bind "tcp://127.0.0.1:$(am_free_port)" \
      --spin 20ms 2>&1) || rc=$?
am_assert_eq "exit code" 2 "$rc"
am_assert_eq "lines of the error" 1 "$(printf '%s\n' "$out" | wc -l)"
grep -q -- "--spin '20ms'" <<<"$out" || am_fail "the error does not name the value: $out"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP" --spin 10ms
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4

am_check "one job at a time: the broker catches messages while it polls"
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.noop"}' 500) \
    || am_fail "submit_wait failed: $out"
am_assert_eq "submit_wait" "rc=0 rounds=500" "$out"
caught=$(s_metric asyncmesh_broker_spin_caught_total)
am_say "waits caught while polling: $caught of about 1000"
am_cond 'c >= 100' c="${caught:-0}" \
    || am_fail "the broker caught ${caught:-no} waits while polling (expected most of 1000)"

am_check "idle with a node connected, the broker stops polling: under 10% of a core over 3 s"
sleep 1                         #   the window shrinks at the first long waits
before=$(s_cpu_ticks); spun_before=$(s_metric asyncmesh_broker_spin_seconds_total)
sleep 3
after=$(s_cpu_ticks); spun_after=$(s_metric asyncmesh_broker_spin_seconds_total)
ticks=$(( after - before )); hz=$(getconf CLK_TCK)
am_say "broker CPU over 3 s idle: $ticks ticks of 1/$hz s; polled $(am_calc "$spun_after - $spun_before") s"
am_cond 't < h * 3 / 10' t="$ticks" h="$hz" \
    || am_fail "the idle broker used $ticks ticks of 1/$hz s in 3 s"
am_cond 's < 0.1' s="$(am_calc "$spun_after - $spun_before")" \
    || am_fail "the idle broker polled $(am_calc "$spun_after - $spun_before") s in 3 s"

am_check "--spin 0: the broker never polls"
kill -TERM "$AM_BROKER_PID"; wait "$AM_BROKER_PID" 2>/dev/null || true
AM_BROKER_FLAGS=(--http "$HTTP" --spin 0)
am_broker_restart
am_wait_for "node1 to be listed again" 15 am_node_listed "${AM_NODE_UUID[node1]}"
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.noop"}' 200) \
    || am_fail "submit_wait failed: $out"
am_assert_eq "submit_wait" "rc=0 rounds=200" "$out"
am_assert_eq "waits caught while polling" 0 "$(s_metric asyncmesh_broker_spin_caught_total)"
am_assert_eq "time polled" 0.000000 "$(s_metric asyncmesh_broker_spin_seconds_total)"
am_say "PASS"
