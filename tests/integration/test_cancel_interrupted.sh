#!/usr/bin/env bash
#   A cancel is durable intent: a job cancelled while its node is frozen
#   (SIGSTOP) is interrupted when the node is declared dead, and then
#   completes with CancelledError; it does not go back to its queue, so
#   a second node never runs it, although its retry policy is `forever`.
#   And a cancel made while the broker restarted and the job's node was
#   away reaches the task once the node says HELLO again.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 2s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
id=$(am_ctl submit --retry forever testing.block F)
am_wait_for "job $id to be active on node1" 10 am_job_is "$id" active

am_check "SIGSTOP node1, start node2, cancel the job"
kill -STOP "${AM_NODE_PID[node1]}"
am_node_start node2 --module "$AM_TESTING_SO" --agent main:1
touch "$AM_TMP/node2/F"         #   on node2 the task would return 42 at once
am_ctl cancel "$id"

am_check "node1 is declared dead: the job completes with CancelledError"
rc=0
out=$(am_ctl wait "$id" --timeout 15s) || rc=$?
am_assert_eq "wait's exit code" 1 "$rc"
am_assert_eq "failure type" CancelledError "$(jq -r .type <<<"$out")"
job=$(am_ctl job "$id")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "attempts (node1's only)" 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq "node (never node2)" "${AM_NODE_UUID[node1]}" "$(jq -r .node <<<"$job")"
grep -q "node.dead node=${AM_NODE_UUID[node1]}" "$AM_TMP/broker.log" \
    || am_fail "node1 was not declared dead"

am_check "the job stays cancelled: node2 takes other work, not this job"
marker=$(am_ctl submit testing.ret after)
am_assert_eq "a later job's result on node2" '"after"' "$(am_ctl wait "$marker" --timeout 10s)"
am_assert_eq "attempts after the later job" 1 "$(am_job_field "$id" .attempts)"
kill -CONT "${AM_NODE_PID[node1]}"

am_check "a cancel made while the broker restarted and the node was away reaches the task"
am_wait_for "node1 to be back" 15 am_node_listed "${AM_NODE_UUID[node1]}"
kill -TERM "${AM_NODE_PID[node2]}"
j=$(am_ctl submit testing.block G)
am_wait_for "job $j to be active" 10 am_job_is "$j" active
am_assert_eq "node of $j" "${AM_NODE_UUID[node1]}" "$(am_job_field "$j" .node)"
kill -STOP "${AM_NODE_PID[node1]}"
am_broker_kill
am_broker_restart
am_ctl cancel "$j"
kill -CONT "${AM_NODE_PID[node1]}"
rc=0
out=$(am_ctl wait "$j" --timeout 15s) || rc=$?
am_assert_eq "wait's exit code" 1 "$rc"
am_assert_eq "failure type" CancelledError "$(jq -r .type <<<"$out")"
#   The task's own message: it saw the cancel (not the broker's, after the
#   grace period)
am_assert_eq "failure message" "testing.block: cancelled" "$(jq -r .message <<<"$out")"
am_say "PASS"
