#!/usr/bin/env bash
#   Identity (docs/spec.md section 3): a node running testing.block F is killed
#   with SIGKILL and restarted at once in the same directory, so with the same
#   uuid.txt. The broker's death timeout is 30 s, yet the new process'
#   HELLO supersedes the old session at once: the broker logs node.gone
#   reason=superseded, the job is interrupted (interruptions = 1) and runs
#   again on the new process within a few seconds, and completes (42) once
#   F exists.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 30s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
uuid=${AM_NODE_UUID[node1]}
old_pid=${AM_NODE_PID[node1]}

id=$(am_ctl submit testing.block F)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_assert_eq "attempts before the kill" 1 "$(am_job_field "$id" .attempts)"

am_check "SIGKILL and an immediate restart in the same dir: superseded, not dead"
t0=$(am_now)
kill -KILL "$old_pid"
wait "$old_pid" 2>/dev/null || true
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
new_pid=${AM_NODE_PID[node1]}
am_assert_eq "uuid of the restarted node" "$uuid" "$(head -n 1 "$AM_TMP/node1/uuid.txt")"
s_listed_with_new_pid () {
    am_ctl nodes | jq -e --arg u "$uuid" --argjson p "$new_pid" \
        'select(.uuid == $u and .pid == $p)' >/dev/null
}
am_wait_for "the broker to list $uuid with the new pid $new_pid" 5 s_listed_with_new_pid
am_assert_eq "sessions listed for $uuid" 1 "$(am_ctl nodes | jq -r --arg u "$uuid" 'select(.uuid == $u) | .uuid' | wc -l)"

am_wait_for "job $id to run again (active, attempts 2)" 5 am_job_is "$id" active 2
rerun=$(am_calc 'b - a' a="$t0" b="$(am_now)")
am_say "job running again $rerun s after the SIGKILL (dead-after is 30 s)"
grep -q "node.gone node=$uuid reason=superseded" "$AM_TMP/broker.log" \
    || am_fail "the broker log has no 'node.gone node=$uuid reason=superseded' line"
if grep -q "node.dead node=$uuid" "$AM_TMP/broker.log"; then
    am_fail "the node was declared dead; it should have been superseded"
fi
job=$(am_ctl job "$id")
am_assert_eq "interruptions" 1 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "node" "$uuid" "$(jq -r .node <<<"$job")"

am_check "the job completes with 42 once F exists"
touch "$AM_TMP/node1/F"
result=$(am_ctl wait "$id" --timeout 10s)
am_assert_eq "result" 42 "$result"
job=$(am_ctl job "$id")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "interruptions" 1 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "attempts" 2 "$(jq -r .attempts <<<"$job")"
am_say "PASS"
