#!/usr/bin/env bash
#   SIGTERM drains a node (docs/spec.md section 3, "Graceful stop"): it
#   takes no more work at once, lets its running job finish (no
#   interruption, one attempt; in a child process too), has its result
#   acknowledged, then exits 0.
#   A second SIGTERM interrupts at once; --drain-timeout bounds the wait;
#   --drain-timeout 0 interrupts at once. Before, SIGTERM always
#   interrupted the running jobs.
source "$(dirname "$0")/../helpers/lib.sh"

am_check "--drain-timeout out of range or not a duration: exit 2"
for bad in 2d -1s soon; do
    rc=0
    "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" --drain-timeout "$bad" 2>"$AM_TMP/err" || rc=$?
    am_assert_eq "exit of asyncnode --drain-timeout $bad" 2 "$rc"
    grep -q "drain-timeout '$bad' is not a duration from 0 to 1d" "$AM_TMP/err" \
        || am_fail "no clear error for --drain-timeout $bad: $(cat "$AM_TMP/err")"
done

am_broker_start --dead-after 30s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2

am_check "SIGTERM: node1 keeps running its job, takes no new one, exits 0 when it is done"
a=$(am_ctl submit testing.sleep 3)
am_wait_for "job $a to be active on node1" 10 am_job_on "$a" "${AM_NODE_UUID[node1]}" active
pid=${AM_NODE_PID[node1]}
kill -TERM "$pid"
s_draining_or_gone () { grep -q "node.draining" "$AM_TMP/$1.log" || am_pid_gone "$2"; }
am_wait_for "node1 to drain (or exit)" 10 s_draining_or_gone node1 "$pid"
b=$(am_ctl submit testing.mul 6 7)
am_node_listed "${AM_NODE_UUID[node1]}" || am_fail "node1 is not listed while it drains"
am_job_is "$a" active || am_fail "job $a is not active while node1 drains: $(am_job_state "$a")"
am_wait_for "node1 (pid $pid) to exit after its job" 30 am_pid_gone "$pid"
rc=0; wait "$pid" || rc=$?
am_assert_eq "exit status of node1" 0 "$rc"
job=$(am_ctl job "$a")
am_assert_eq "status of job $a" completed "$(jq -r .status <<<"$job")"
am_assert_eq "failure of job $a" null "$(jq -c .failure <<<"$job")"
am_assert_eq "attempts of job $a" 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq "interruptions of job $a" 0 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "status of job $b, submitted while node1 drained" pending \
    "$(am_job_field "$b" .status)"
grep -q "node.drained" "$AM_TMP/node1.log" || am_fail "no node.drained in node1.log"
am_node_start node2 --module "$AM_TESTING_SO"
am_assert_eq "result of job $b on node2" 42 "$(am_ctl wait "$b" --timeout 30s)"

am_check "a second SIGTERM interrupts the running job at once"
c=$(am_ctl submit testing.sleep 60)
am_wait_for "job $c to be active on node2" 10 am_job_on "$c" "${AM_NODE_UUID[node2]}" active
pid=${AM_NODE_PID[node2]}
kill -TERM "$pid"
am_wait_for "node.draining in node2.log" 10 grep -q "node.draining" "$AM_TMP/node2.log"
kill -TERM "$pid"
am_wait_for "node2 (pid $pid) to exit after the second SIGTERM" 5 am_pid_gone "$pid"
rc=0; wait "$pid" || rc=$?
am_assert_eq "exit status of node2" 0 "$rc"
am_wait_for "job $c to be pending again" 10 am_job_is "$c" pending
am_assert_eq "interruptions of job $c" 1 "$(am_job_field "$c" .interruptions)"

am_check "--drain-timeout 1s: the job is interrupted after 1 s"
am_node_start node3 --module "$AM_TESTING_SO" --drain-timeout 1s
am_wait_for "job $c to be active on node3" 10 am_job_on "$c" "${AM_NODE_UUID[node3]}" active
pid=${AM_NODE_PID[node3]}
t0=$(am_now)
kill -TERM "$pid"
am_wait_for "node3 (pid $pid) to exit after its drain timeout" 10 am_pid_gone "$pid"
took=$(am_calc 'b - a' a="$t0" b="$(am_now)")
am_cond 't >= 0.9' t="$took" || am_fail "node3 exited ${took}s after SIGTERM, before its 1 s"
grep -q "node.drain_timeout" "$AM_TMP/node3.log" || am_fail "no node.drain_timeout in node3.log"
am_wait_for "job $c to be pending again" 10 am_job_is "$c" pending
am_assert_eq "interruptions of job $c" 2 "$(am_job_field "$c" .interruptions)"

am_check "--drain-timeout 0: interrupted at once, as before"
am_node_start node4 --module "$AM_TESTING_SO" --drain-timeout 0
am_wait_for "job $c to be active on node4" 10 am_job_on "$c" "${AM_NODE_UUID[node4]}" active
pid=${AM_NODE_PID[node4]}
kill -TERM "$pid"
am_wait_for "node4 (pid $pid) to exit at once" 5 am_pid_gone "$pid"
grep -q "node.draining" "$AM_TMP/node4.log" && am_fail "node4 drained with --drain-timeout 0"
am_wait_for "job $c to be pending again" 10 am_job_is "$c" pending

am_check "--isolation process: the job in its child process finishes too"
am_ctl cancel "$c" >/dev/null
am_node_start node5 --module "$AM_TESTING_SO" --isolation process
d=$(am_ctl submit testing.sleep 2)
am_wait_for "job $d to be active on node5" 10 am_job_on "$d" "${AM_NODE_UUID[node5]}" active
pid=${AM_NODE_PID[node5]}
kill -TERM "$pid"
am_wait_for "node5 (pid $pid) to exit after its job" 30 am_pid_gone "$pid"
rc=0; wait "$pid" || rc=$?
am_assert_eq "exit status of node5" 0 "$rc"
am_assert_eq "job $d: status, failure, interruptions" "completed null 0" \
    "$(am_ctl job "$d" | jq -r '[.status, (.failure | tojson), .interruptions] | join(" ")')"
am_say "PASS"
