#!/usr/bin/env bash
#   Stop without draining: a node with --drain-timeout 0 running a long job
#   gets SIGTERM, exits cleanly within 3 s, and its job is interrupted at
#   once (without waiting for the broker's death timeout, set to 30 s
#   here): it goes to the other node, completes there, with interruptions
#   = 1. (A drain, the default, is test_node_drain.)
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 30s
am_node_start node1 --module "$AM_TESTING_SO" --drain-timeout 0

id=$(am_ctl submit testing.sleep 10)
am_wait_for "job $id to be active on node1" 10 am_job_is "$id" active
am_assert_eq "node of the job" "${AM_NODE_UUID[node1]}" "$(am_job_field "$id" .node)"
am_node_start node2 --module "$AM_TESTING_SO"

am_check "node1 exits within 3 s of SIGTERM, with status 0"
pid=${AM_NODE_PID[node1]}
t0=$(am_now)
kill -TERM "$pid"
am_wait_for "node1 (pid $pid) to exit after SIGTERM" 3 am_pid_gone "$pid"
rc=0; wait "$pid" || rc=$?
am_say "node1 exited after $(am_calc 'b - a' a="$t0" b="$(am_now)") s"
am_assert_eq "exit status of node1" 0 "$rc"

am_check "the job is taken by node2 within 4 s of the SIGTERM (death timeout is 30 s)"
am_wait_for "job $id to be active on node2" 4 am_job_on "$id" "${AM_NODE_UUID[node2]}" active
am_say "ok: active on node2 $(am_calc 'b - a' a="$t0" b="$(am_now)") s after the SIGTERM"

am_check "it completes on node2 with result 10, attempts 2, interruptions 1"
result=$(am_ctl wait "$id" --timeout 30s)
job=$(am_ctl job "$id")
am_assert_eq "result" 10 "$result"
am_assert_eq "node" "${AM_NODE_UUID[node2]}" "$(jq -r .node <<<"$job")"
am_assert_eq "interruptions" 1 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "attempts" 2 "$(jq -r .attempts <<<"$job")"
am_say "PASS"
