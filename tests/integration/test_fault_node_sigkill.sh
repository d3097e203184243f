#!/usr/bin/env bash
#   A node killed with SIGKILL mid-job (docs/spec.md sections 3 and 4):
#   testing.sleep 3 runs on node1 (node2 starts only once the job is active
#   there); node1 gets SIGKILL; the broker declares it dead after --dead-after
#   2s, the job is interrupted and runs again on node2, completing within
#   dead-after + 2 s + the sleep of the kill, with interruptions = 1 and
#   attempts = 2.
source "$(dirname "$0")/../helpers/lib.sh"

DEAD=2
SLEEP=3
am_broker_start --dead-after ${DEAD}s --heartbeat 500ms
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1

id=$(am_ctl submit testing.sleep $SLEEP)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_assert_eq "node of the job" "${AM_NODE_UUID[node1]}" "$(am_job_field "$id" .node)"
am_node_start node2 --module "$AM_TESTING_SO" --agent main:1

am_check "after SIGKILL of node1 the job completes on node2 within $DEAD + 2 + $SLEEP s"
pid=${AM_NODE_PID[node1]}
t0=$(am_now)
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
am_wait_for "job $id to move to node2" $(( DEAD + 2 )) am_job_on "$id" "${AM_NODE_UUID[node2]}"
failover=$(am_calc 'b - a' a="$t0" b="$(am_now)")
am_say "failover: the job was on node2 $failover s after the SIGKILL"
result=$(am_ctl wait "$id" --timeout $(( DEAD + 2 + SLEEP ))s) \
    || am_fail "job $id did not complete within $(( DEAD + 2 + SLEEP )) s of the SIGKILL"
total=$(am_calc 'b - a' a="$t0" b="$(am_now)")
am_say "completed $total s after the SIGKILL"
am_cond 't <= lim' t="$total" lim=$(( DEAD + 2 + SLEEP )) \
    || am_fail "completed $total s after the SIGKILL, more than $(( DEAD + 2 + SLEEP )) s"
job=$(am_ctl job "$id")
am_assert_eq "result" $SLEEP "$result"
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "node" "${AM_NODE_UUID[node2]}" "$(jq -r .node <<<"$job")"
am_assert_eq "interruptions" 1 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "attempts" 2 "$(jq -r .attempts <<<"$job")"
grep -q "node.dead node=${AM_NODE_UUID[node1]}" "$AM_TMP/broker.log" \
    || am_fail "the broker log has no node.dead line for node1"
am_say "PASS"
