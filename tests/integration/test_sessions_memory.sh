#!/usr/bin/env bash
#   The broker-wide budgets of node sessions (docs/protocol.md section 9):
#   400 raw peers (tests/integration/hello_flood.c) say, one after the
#   other, the largest HELLO within every per-HELLO budget (about 1.8 MB of
#   sessions each; 400 took a broker without the budget past 700 MB). With
#   the default --sessions-memory of 256M, the HELLOs past it are refused
#   with ERROR 6, reason sessions_full, in a rate-limited sessions.full
#   warning; the broker's RSS stays under 450 MB, PING answers under 50 ms,
#   and the node that was there runs jobs throughout. Then, restarted with
#   --sessions-max 50, the broker takes 50 sessions and refuses the rest.
source "$(dirname "$0")/../helpers/lib.sh"

FLOOD=$AM_BUILD/tests/hello_flood
[ -x "$FLOOD" ] || am_fail "$FLOOD is missing; build first (cmake --build build)"
command -v curl >/dev/null || am_skip "needs curl"
#   Under AddressSanitizer, freed memory waits in a quarantine (256 MB) and
#   RSS says nothing about the broker: no quarantine for this test
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
ulimit -n 4096 2>/dev/null || am_skip "needs 'ulimit -n 4096' for 400 connections"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --dead-after 120s --http "$HTTP"
am_node_start node1 --module "$AM_TESTING_SO"
s_rss_kb () { awk '/^VmRSS:/ { print $2 }' "/proc/$AM_BROKER_PID/status"; }
s_metric () { curl -sS "http://$HTTP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

am_check "400 sessions at the largest HELLO: refused past 256 MiB, RSS bounded, PING fast"
am_assert_eq "testing.mul before" 42 "$(am_ctl submit --wait testing.mul 6 7)"
rss0=$(s_rss_kb)
#   The helper gives up past 1 GB more, so that a broker without the budget
#   fails the test without eating the machine
rc=0; out=$("$FLOOD" "$AM_ENDPOINT" heavy 400 "$AM_BROKER_PID" $(( rss0 + 1048576 ))) || rc=$?
am_say "$(tr '\n' ' ' <<<"$out")"
grep -q '^rss_over' <<<"$out" && am_fail "the broker's RSS passed $rss0 kB + 1 GB"
[ $rc = 0 ] || am_fail "the heavy peers did not get every answer (exit $rc)"
read -r _ answers _ welcome _ error < <(grep '^answers' <<<"$out")
am_say "$welcome sessions welcomed, $error refused"
am_cond 'e > 0 && w >= 100' e="$error" w="$welcome" \
    || am_fail "expected at least 100 sessions and some refused, got $welcome and $error"
grep -q "^ERROR 6 sessions_full HELLO refused: this session would cost [0-9]* bytes and the node sessions hold [0-9]* of 268435456 (--sessions-memory); try again later" \
    <<<"$out" || am_fail "no ERROR 6 sessions_full naming --sessions-memory: $out"
rss1=$(s_rss_kb)
am_say "broker VmRSS $rss0 kB before, $rss1 kB after"
am_cond 'b - a < 450 * 1024' a="$rss0" b="$rss1" \
    || am_fail "the broker's RSS grew by $(( rss1 - rss0 )) kB (450 MB or more)"
bytes=$(s_metric asyncmesh_sessions_bytes)
am_cond 'b <= 268435456 && b > 200 * 1048576' b="$bytes" \
    || am_fail "asyncmesh_sessions_bytes is $bytes, not within 200 MiB .. 256 MiB"
am_assert_eq "asyncmesh_sessions" $(( welcome + 1 )) "$(s_metric asyncmesh_sessions)"
ping_ms=$(awk '/^ping_ms/ { print $2 }' <<<"$out")
am_cond 'p >= 0 && p < 50' p="$ping_ms" || am_fail "PING took $ping_ms ms (median of 20)"
lines=$(grep -c 'sessions.full' "$AM_TMP/broker.log" || true)
am_say "$lines sessions.full lines for $error refusals"
am_cond 'l >= 1 && l <= 30 && l < e' l="$lines" e="$error" \
    || am_fail "$lines sessions.full lines for $error refusals (one a second at most)"
am_assert_eq "testing.mul after" 42 "$(am_ctl submit --wait testing.mul 6 7)"

am_check "STATUS and NODES over these sessions are bounded and do not hold PING"
#   Each session packs to about 130 KiB in NODES (64 agents with long
#   filters): listing them all made replies of 20 MB that held the loop
#   for hundreds of ms
stop=$AM_TMP/stop
"$AM_BUILD/tests/pinger" "$AM_ENDPOINT" "$stop" >"$AM_TMP/pings" 2>&1 &
pinger=$!
AM_PIDS+=("$pinger")
for _ in 1 2 3 4 5; do
    am_ctl status >"$AM_TMP/status.json" || am_fail "asyncctl status failed"
    curl -sS -o /dev/null "http://$HTTP/metrics" || am_fail "/metrics failed"
done
am_ctl nodes --json >"$AM_TMP/nodes.json" || am_fail "asyncctl nodes failed"
touch "$stop"
wait "$pinger" || am_fail "the pinger got no PONG: $(cat "$AM_TMP/pings")"
am_say "$(head -1 "$AM_TMP/pings"); STATUS $(stat -c %s "$AM_TMP/status.json") bytes"
[ "$(stat -c %s "$AM_TMP/status.json")" -lt $(( 12 * 1048576 )) ] \
    || am_fail "the STATUS reply is $(stat -c %s "$AM_TMP/status.json") bytes"
more=$(jq -r .nodes_more "$AM_TMP/status.json")
listed=$(jq -r '.nodes | length' "$AM_TMP/status.json")
am_say "STATUS lists $listed nodes, nodes_more $more"
am_cond 'm > 0 && l + m == w + 1' m="$more" l="$listed" w="$welcome" \
    || am_fail "STATUS lists $listed nodes and $more more, for $(( welcome + 1 )) sessions"
max=$(sed -n 's/.*max_us=\([0-9]*\).*/\1/p' "$AM_TMP/pings" | head -1)
if ! am_sanitized; then
    am_cond 'm < 200000' m="$max" || am_fail "a PING waited $max us while STATUS ran"
fi

am_check "--sessions-max 50: 50 sessions, the rest refused"
am_broker_kill
am_broker_start --dead-after 10s --http "$HTTP" --sessions-max 50
am_wait_for "node1 back" 20 am_node_listed "${AM_NODE_UUID[node1]}"
out=$("$FLOOD" "$AM_ENDPOINT" sessions 60) || am_fail "no answer to every HELLO: $out"
am_say "$(tr '\n' ' ' <<<"$out")"
am_assert_eq "answers" "answers 60 welcome 49 error 11" "$(grep '^answers' <<<"$out")"
grep -q "^ERROR 6 sessions_full HELLO refused: the broker has 50 node sessions (at most 50, --sessions-max)" \
    <<<"$out" || am_fail "no ERROR naming --sessions-max: $out"
am_assert_eq "asyncmesh_sessions" 50 "$(s_metric asyncmesh_sessions)"
am_assert_eq "testing.mul at the end" 42 "$(am_ctl submit --wait testing.mul 6 7)"
am_say "PASS"
