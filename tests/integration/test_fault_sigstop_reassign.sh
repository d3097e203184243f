#!/usr/bin/env bash
#   A node wrongly declared dead (docs/spec.md sections 3 and 4): node1 runs
#   testing.sleep 4 (with a callback that records each of its runs) and is
#   stopped with SIGSTOP past the broker's --dead-after 1s. The job goes to
#   node2. node1 gets SIGCONT while node2 still runs it: node1's late result
#   is rejected (broker: job.reassigned ... type=ReassignedError), only one
#   result counts (completed once, attempts 2, interruptions 1), the callback
#   runs once, and node1 then takes new work.
source "$(dirname "$0")/../helpers/lib.sh"

#   Heartbeats well inside the 1 s death timeout on both sides
am_broker_start --dead-after 1s --heartbeat 200ms
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1 --heartbeat 200ms

CB=$AM_TMP/callback.txt
id=$(am_ctl submit --callback "testing.record $CB cb" testing.sleep 4)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_assert_eq "node of the job" "${AM_NODE_UUID[node1]}" "$(am_job_field "$id" .node)"
am_node_start node2 --module "$AM_TESTING_SO" --agent main:1 --heartbeat 200ms
pid1=${AM_NODE_PID[node1]}

am_check "SIGSTOP node1: within 1 s + 2 heartbeats + slack the job is running on node2"
t0=$(am_now)
kill -STOP "$pid1"
am_wait_for "job $id to be active on node2" 4 am_job_on "$id" "${AM_NODE_UUID[node2]}" active
am_say "reassigned $(am_calc 'b - a' a="$t0" b="$(am_now)") s after the SIGSTOP"
grep -q "node.dead node=${AM_NODE_UUID[node1]}" "$AM_TMP/broker.log" \
    || am_fail "no node.dead line for node1 in the broker log"

am_check "SIGCONT node1 while node2 runs the job: node1's late result is rejected"
kill -CONT "$pid1"
s_rejected () {
    grep -q "job.reassigned job=$id node=${AM_NODE_UUID[node1]} type=ReassignedError" \
        "$AM_TMP/broker.log"
}
am_wait_for "the broker to log job.reassigned for node1's result" 10 s_rejected
am_say "late result rejected $(am_calc 'b - a' a="$t0" b="$(am_now)") s after the SIGSTOP"
grep -q "job.reassigned job=$id" "$AM_TMP/node1.log" \
    || am_fail "node1 did not log job.reassigned for its rejected result"
am_node_listed "${AM_NODE_UUID[node1]}" || am_wait_for "node1 to be listed again" 5 \
    am_node_listed "${AM_NODE_UUID[node1]}"

am_check "one result counts: completed on node2, attempts 2, interruptions 1"
result=$(am_ctl wait "$id" --timeout 10s)
am_assert_eq "result" 4 "$result"
job=$(am_ctl job "$id")
am_assert_eq "node" "${AM_NODE_UUID[node2]}" "$(jq -r .node <<<"$job")"
am_assert_eq "attempts" 2 "$(jq -r .attempts <<<"$job")"
am_assert_eq "interruptions" 1 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "callbacks" 1 "$(jq -r '.callbacks | length' <<<"$job")"
cb=$(jq -r '.callbacks[0]' <<<"$job")
am_ctl wait "$cb" --timeout 10s >/dev/null || am_fail "callback $cb did not complete"
am_assert_eq "callback status" completed "$(am_job_field "$cb" .status)"
am_assert_eq "callback runs (lines in callback.txt)" 1 "$(wc -l <"$CB")"
rejected=$(grep -c "job.reassigned job=$id" "$AM_TMP/broker.log")
am_say "results of node1 rejected by the broker: $rejected"

am_check "node1 takes new work: of 4 testing.sleep 1 jobs (agents of size 1), some run on node1"
ids=()
for i in 1 2 3 4; do ids+=("$(am_ctl submit testing.sleep 1)"); done
for j in "${ids[@]}"; do am_ctl wait "$j" --timeout 20s >/dev/null; done
on1=$(am_jobs_ran_on "${AM_NODE_UUID[node1]}" "${ids[@]}")
am_say "$on1 of 4 new jobs ran on node1"
[ $on1 -ge 1 ] || am_fail "node1 took no new work after SIGCONT"
am_say "PASS"
