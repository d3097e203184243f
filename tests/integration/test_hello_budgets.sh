#!/usr/bin/env bash
#   HELLO budgets (docs/protocol.md section 9): a raw peer
#   (tests/integration/hello_flood.c) says HELLOs over each budget (agents,
#   tasks, queues, include, exclude, name length, host length, slots): each
#   gets ERROR 6, reason hello_limit, with a one-line message naming the
#   budget; of a HELLO holding 25,000 jobs it reads 10,000 and counts the
#   rest in one node.held_refused warning. Then 40 peers at once say the
#   HELLO of 64 agents x 100,000 tasks x 256 queues/globs (about 3 MB): all
#   are refused, the broker's RSS (VmRSS) stays within 50 MB of where it
#   was, and PING answers under 50 ms afterwards. Sessions at the largest accepted HELLO cost the broker
#   little each (the task list is shared by the node's agents); one peer
#   address gets at most 1024 node sessions; a real node runs jobs
#   throughout.
source "$(dirname "$0")/../helpers/lib.sh"

FLOOD=$AM_BUILD/tests/hello_flood
[ -x "$FLOOD" ] || am_fail "$FLOOD is missing; build first (cmake --build build)"

#   Under AddressSanitizer, freed memory waits in a quarantine (256 MB) and
#   RSS says nothing about the broker: no quarantine for this test
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
am_broker_start --dead-after 60s
am_node_start node1 --module "$AM_TESTING_SO"
s_rss_kb () { awk '/^VmRSS:/ { print $2 }' "/proc/$AM_BROKER_PID/status"; }

am_check "a HELLO over each budget is refused with ERROR 6, one line"
for kind in agents tasks queues include exclude name host size; do
    out=$("$FLOOD" "$AM_ENDPOINT" probe "$kind") || am_fail "no answer to the $kind probe"
    am_say "$kind: $out"
    [ "$(wc -l <<<"$out")" = 1 ] || am_fail "the answer to the $kind probe is not one line"
    case $out in
        "ERROR 6 hello_limit "*) ;;
        *) am_fail "the $kind probe was not refused with ERROR 6 hello_limit: $out" ;;
    esac
done
grep -q "node.refused .*reason=\"HELLO refused: tasks has 10001 entries (at most 10000)\"" \
    "$AM_TMP/broker.log" || am_fail "the broker did not log the refused tasks probe"
out=$("$FLOOD" "$AM_ENDPOINT" probe ok) || am_fail "no answer to the HELLO within budgets"
am_assert_eq "answer to the largest HELLO within the budgets" WELCOME "$out"
out=$("$FLOOD" "$AM_ENDPOINT" probe held) || am_fail "no answer to the HELLO holding 25,000 jobs"
am_assert_eq "answer to a HELLO holding 25,000 jobs" WELCOME "$out"
grep -q "node.held_refused node=.* refused=15000 " "$AM_TMP/broker.log" \
    || am_fail "the broker did not log 'node.held_refused ... refused=15000' (10,000 read)"

am_check "a flood of 40 HELLOs of 3 MB: refused, RSS within 50 MB, PING under 50 ms (median of 20)"
am_assert_eq "testing.mul before the flood" 42 "$(am_ctl submit --wait testing.mul 6 7)"
rss0=$(s_rss_kb)
#   While the 40 messages are in flight the broker holds them (110 MB): the
#   helper gives up only past 1 GB more, so that a broker without budgets
#   (725 MB per such HELLO) fails the test without eating the machine
rc=0; out=$("$FLOOD" "$AM_ENDPOINT" flood 40 "$AM_BROKER_PID" $(( rss0 + 1048576 ))) || rc=$?
am_say "$(tr '\n' ' ' <<<"$out")"
grep -q '^rss_over' <<<"$out" && am_fail "the broker's RSS passed $rss0 kB + 1 GB during the flood"
[ $rc = 0 ] || am_fail "the flood did not get every answer (exit $rc)"
am_assert_eq "answers to the flood" "answers 40 welcome 0 error 40" "$(grep '^answers' <<<"$out")"
rss1=$(s_rss_kb)
am_say "broker VmRSS $rss0 kB before, $rss1 kB after"
am_cond 'b - a <= 51200' a="$rss0" b="$rss1" \
    || am_fail "the broker's RSS grew by $(( rss1 - rss0 )) kB (more than 50 MB)"
ping_ms=$(awk '/^ping_ms/ { print $2 }' <<<"$out")
am_cond 'p >= 0 && p < 50' p="$ping_ms" || am_fail "PING took $ping_ms ms (median of 20) after the flood"
am_assert_eq "testing.mul after the flood" 42 "$(am_ctl submit --wait testing.mul 6 7)"

am_check "10 sessions at the largest accepted HELLO cost under 4 MB each"
rss0=$(s_rss_kb)
for i in $(seq 10); do
    am_assert_eq "largest HELLO $i" WELCOME "$("$FLOOD" "$AM_ENDPOINT" probe ok)" >/dev/null
done
rss1=$(s_rss_kb)
am_say "broker VmRSS $rss0 kB before, $rss1 kB after 10 sessions"
am_cond 'b - a < 10 * 4096' a="$rss0" b="$rss1" \
    || am_fail "10 sessions cost $(( rss1 - rss0 )) kB (4 MB each or more)"
am_assert_eq "testing.mul after the sessions" 42 "$(am_ctl submit --wait testing.mul 6 7)"

am_check "at most 1024 node sessions per peer address"
#   1050 peers and the broker's 1050 connections need file descriptors
ulimit -n 8192 2>/dev/null || am_skip "needs 'ulimit -n 8192' for 1050 connections"
before=$(am_ctl nodes | jq -s 'map(select(.dead != true)) | length')
out=$("$FLOOD" "$AM_ENDPOINT" sessions 1050) \
    || am_fail "the sessions peers did not get every answer: $(tr '\n' ' ' <<<"$out")"
am_say "$before sessions before; $(tr '\n' ' ' <<<"$out")"
am_assert_eq "answers to 1050 HELLOs from one address" \
    "answers 1050 welcome $(( 1024 - before )) error $(( 1050 - 1024 + before ))" \
    "$(grep '^answers' <<<"$out")"
grep -q "^ERROR 6 - HELLO refused: 1024 node sessions from address 127.0.0.1 already (at most 1024)" \
    <<<"$out" || am_fail "no ERROR naming the budget of sessions per address: $out"
am_assert_eq "testing.mul at the end" 42 "$(am_ctl submit --wait testing.mul 6 7)"
am_say "PASS"
