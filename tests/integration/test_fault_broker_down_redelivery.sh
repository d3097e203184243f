#!/usr/bin/env bash
#   Result delivery across a broker crash (docs/spec.md section 7): a job runs
#   on a node (subprocess.call of a 2 s shell script that appends "start" and
#   "end" to runs.txt in the node's dir); the broker is killed with SIGKILL
#   while it runs; the job finishes while the broker is down; the broker is
#   restarted only after that. The node keeps the result, says HELLO with it
#   held, and delivers it: the job completes with result 0 without running
#   again (attempts 1, interruptions 0, one "start" line in runs.txt), well
#   before the broker's --dead-after 10s would have given it up.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 10s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1 --log-level trace

id=$(am_ctl submit subprocess.call '["sh", "-c", "echo start >>runs.txt; sleep 2; echo end >>runs.txt"]')
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_wait_for "the script to start (runs.txt)" 5 grep -q start "$AM_TMP/node1/runs.txt"

am_check "the broker is killed while the job runs; the job finishes while it is down"
am_broker_kill
t0=$(am_now)
am_wait_for "the script to finish (end in runs.txt)" 10 grep -q end "$AM_TMP/node1/runs.txt"
#   The node logs job.done (trace) when the task returned and its RESULT is
#   built: only then is the broker restarted
am_wait_for "node1 to log job.done for $id" 5 grep -q "job.done job=$id" "$AM_TMP/node1.log"
am_say "job finished on node1 $(am_calc 'b - a' a="$t0" b="$(am_now)") s after the kill"
kill -0 "${AM_NODE_PID[node1]}" || am_fail "node1 exited while the broker was down"

am_check "after the restart the held result is accepted: no second run"
am_broker_restart
t1=$(am_now)
result=$(am_ctl wait "$id" --timeout 8s) \
    || am_fail "job $id did not complete within 8 s of the restart (dead-after is 10 s)"
am_say "completed $(am_calc 'b - a' a="$t1" b="$(am_now)") s after the restart"
job=$(am_ctl job "$id")
am_assert_eq "result" 0 "$result"
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "attempts" 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq "interruptions" 0 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "runs of the script (start lines)" 1 "$(grep -c start "$AM_TMP/node1/runs.txt")"
am_assert_eq "ends of the script (end lines)" 1 "$(grep -c end "$AM_TMP/node1/runs.txt")"
am_assert_eq "job.started lines in node1.log" 1 "$(grep -c "job.started job=$id" "$AM_TMP/node1.log")"
if grep -q "job.reassigned job=$id" "$AM_TMP/broker.log"; then
    am_fail "the broker rejected the node's result (job.reassigned in broker.log)"
fi
am_say "PASS"
