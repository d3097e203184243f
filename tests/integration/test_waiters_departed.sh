#!/usr/bin/env bash
#   Waits of clients that leave (docs/protocol.md, WAIT and section 9): 20
#   raw clients (tests/integration/waiter_flood.c) each wait once, never
#   re-sending WAIT, for the same 2,000 pending jobs: /metrics counts
#   40,000 waits. While the clients stay, the broker probes each of them
#   (a PING) and keeps every wait: a job cancelled then is pushed to all
#   20. When they exit without a word, their waits are freed
#   (asyncmesh_waits back to 0, asyncmesh_waiting_peers to 0) within 30 s.
#   A client's wait past 100,000 is refused with ERROR 6, nothing else of
#   it is lost, and a live client's submit --wait gets its result
#   throughout.
source "$(dirname "$0")/../helpers/lib.sh"

FLOOD=$AM_BUILD/tests/waiter_flood
[ -x "$FLOOD" ] || am_fail "$FLOOD is missing; build first (cmake --build build)"
command -v curl >/dev/null || am_skip "needs curl"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP"
am_node_start node1 --module "$AM_TESTING_SO"

#   The value of one sample of /metrics; empty if absent
s_metric () { curl -sS "http://$HTTP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
s_metric_is () { [ "$(s_metric "$1")" = "$2" ]; }

am_check "20 clients wait for the same 2,000 jobs: 40,000 waits counted"
mkdir "$AM_TMP/flood"
"$FLOOD" "$AM_ENDPOINT" 20 2000 "$AM_TMP/flood" >"$AM_TMP/flood.out" 2>&1 &
flood=$!
AM_PIDS+=("$flood")
am_wait_for "the 40,000 WAITs answered" 120 test -e "$AM_TMP/flood/ready"
am_say "$(tr '\n' ' ' <"$AM_TMP/flood.out")"
am_assert_eq "answers to the WAITs" "waits 40000 errors 0" "$(head -1 "$AM_TMP/flood.out")"
am_assert_eq "asyncmesh_waits" 40000 "$(s_metric asyncmesh_waits)"
am_assert_eq "asyncmesh_waiting_peers" 20 "$(s_metric asyncmesh_waiting_peers)"

am_check "probed while they stay, every wait is kept; a job that completes is pushed to all"
am_wait_for "a probe (PING) to each of the 20 clients" 30 test -e "$AM_TMP/flood/probed"
am_assert_eq "asyncmesh_waits after the probes" 40000 "$(s_metric asyncmesh_waits)"
first=$(head -1 "$AM_TMP/flood/ids")
am_ctl cancel "$first" >/dev/null
am_wait_for "the cancelled job's waits answered" 20 s_metric_is asyncmesh_waits 39980
am_assert_eq "testing.mul while they wait" 42 "$(am_ctl submit --wait testing.mul 6 7)"

am_check "the clients exit without a word: their waits are freed within 30 s"
touch "$AM_TMP/flood/stop"
rc=0; wait "$flood" || rc=$?
am_assert_eq "exit status of the clients" 0 "$rc"
am_assert_eq "JOBs pushed to the 20 clients" "pushed 20" "$(tail -1 "$AM_TMP/flood.out")"
t0=$(am_ms)
am_wait_for "asyncmesh_waits back to 0" 30 s_metric_is asyncmesh_waits 0
am_say "waits freed $(( $(am_ms) - t0 )) ms after the clients exited"
#   A peer whose waits all ended (the asyncctl client just above) stays
#   listed until its next probe time, up to 5 s, then goes without a PING
am_wait_for "asyncmesh_waiting_peers back to 0" 30 s_metric_is asyncmesh_waiting_peers 0
am_assert_eq "testing.mul after they left" 42 "$(am_ctl submit --wait testing.mul 6 7)"

am_check "one client's wait past 100,000 is refused with ERROR 6; the rest are kept"
mkdir "$AM_TMP/cap"
"$FLOOD" "$AM_ENDPOINT" 1 100001 "$AM_TMP/cap" >"$AM_TMP/cap.out" 2>&1 &
cap=$!
AM_PIDS+=("$cap")
am_wait_for "the 100,001 WAITs answered" 150 test -e "$AM_TMP/cap/ready"
am_say "$(tr '\n' ' ' <"$AM_TMP/cap.out")"
am_assert_eq "answers to the WAITs" "waits 100000 errors 1" "$(grep '^waits' "$AM_TMP/cap.out")"
grep -q "^error this client waits for 100000 jobs already (at most 100000 waits per connection)" \
    "$AM_TMP/cap.out" || am_fail "no ERROR naming the budget of waits: $(cat "$AM_TMP/cap.out")"
am_assert_eq "asyncmesh_waits" 100000 "$(s_metric asyncmesh_waits)"
am_assert_eq "testing.mul beside them" 42 "$(am_ctl submit --wait testing.mul 6 7)"
touch "$AM_TMP/cap/stop"
wait "$cap" || true
am_wait_for "asyncmesh_waits back to 0" 30 s_metric_is asyncmesh_waits 0
am_say "PASS"
