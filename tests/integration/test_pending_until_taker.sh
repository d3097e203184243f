#!/usr/bin/env bash
#   A job for a task that no connected node has stays pending (not failed,
#   not assigned) until a node that has the task connects; then it runs.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start without --module "$AM_PI_SO"      #   no testing.so

am_check "testing.noop stays pending, with node null, for 2 s while only a node without testing.so is up"
id=$(am_ctl submit testing.noop)
am_say "job $id"
deadline=$(( ${EPOCHREALTIME/./} / 1000 + 2000 ))
polls=0
while [ $(( ${EPOCHREALTIME/./} / 1000 )) -lt $deadline ]; do
    job=$(am_ctl job "$id")
    status=$(jq -r .status <<<"$job")
    [ "$status" = pending ] || am_fail "job is '$status', not pending: $job"
    [ "$(jq -c .node <<<"$job")" = null ] || am_fail "job has a node: $job"
    polls=$(( polls + 1 ))
    sleep 0.05
done
am_say "ok: pending in all $polls polls over 2 s"
am_assert_eq "count pending" 1 "$(am_ctl count pending)"
am_node_listed "${AM_NODE_UUID[without]}" || am_fail "the node without testing.so is gone"

am_check "a node with testing.so connects and the job completes there"
am_node_start with --module "$AM_TESTING_SO"
am_wait_for "job $id to complete" 15 am_job_is "$id" completed
job=$(am_ctl job "$id")
am_assert_eq "node of the job" "${AM_NODE_UUID[with]}" "$(jq -r .node <<<"$job")"
am_assert_eq "result" null "$(jq -c .result <<<"$job")"
am_assert_eq "failure" null "$(jq -c .failure <<<"$job")"
am_assert_eq "attempts" 1 "$(jq -c .attempts <<<"$job")"
am_say "PASS"
