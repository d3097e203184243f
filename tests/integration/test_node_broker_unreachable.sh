#!/usr/bin/env bash
#   A node whose broker does not answer says so: 5 s after its first HELLO
#   without a WELCOME it logs `broker.unreachable` at warning, with the
#   endpoint, then at most once a minute while it lasts (docs/monitoring.md,
#   Logs). Before, it logged node.started and then nothing, forever. When
#   the broker comes, the node is welcomed and the lines stop.
source "$(dirname "$0")/../helpers/lib.sh"

mkdir -p "$AM_TMP/node1"
(cd "$AM_TMP/node1" && exec "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" \
    --module "$AM_TESTING_SO") >>"$AM_TMP/node1.log" 2>&1 &
node=$!
AM_PIDS+=("$node")
AM_NODE_PID[node1]=$node                #   the broker must take this port

am_check "no broker at $AM_ENDPOINT: broker.unreachable at warning, 5 s after the start"
am_wait_for "broker.unreachable in node1.log" 30 grep -q "broker.unreachable" "$AM_TMP/node1.log"
line=$(grep "broker.unreachable" "$AM_TMP/node1.log")
am_say "ok: $line"
[[ $line == *" warning node broker.unreachable "* ]] || am_fail "not a warning of the node: $line"
[[ $line == *" broker=$AM_ENDPOINT "* ]] || am_fail "the line does not name $AM_ENDPOINT: $line"
[[ $line == *"nothing heard; is asyncbroker running"* ]] || am_fail "the line gives no hint: $line"
started=$(am_iso_to_s "$(grep -m1 "node.started" "$AM_TMP/node1.log" | cut -d' ' -f1)")
logged=$(am_iso_to_s "$(cut -d' ' -f1 <<<"$line")")
waited=$(am_calc 'b - a' a="$started" b="$logged")
am_cond 'w >= 4.9' w="$waited" || am_fail "logged ${waited}s after node.started, before 5 s"
am_say "ok: logged ${waited}s after node.started"

am_check "the broker comes: the node is welcomed, no more broker.unreachable"
am_broker_start
am_wait_for "node.welcomed in node1.log" 15 grep -q "node.welcomed" "$AM_TMP/node1.log"
am_assert_eq "result of testing.mul" 42 "$(am_ctl submit --wait --wait-timeout 30s testing.mul 6 7)"
am_assert_eq "broker.unreachable lines (once a minute at most)" 1 \
    "$(grep -c "broker.unreachable" "$AM_TMP/node1.log")"
am_say "PASS"
